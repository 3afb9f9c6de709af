// SPDX-License-Identifier: GPL-2.0
/* Counts the frames that a tc_ebpf listener's XDP layer sent on and a device then dropped.
 *
 * Redirected frames. bpf_redirect_map only queues a frame: the devmap sends the queue at the end of the receive poll, and the egress
 * driver may take fewer frames than it was given (a veth whose peer has neither XDP nor GRO, or is down, takes
 * none; a frame longer than the peer's MTU, or a full ring, ends the batch). The kernel frees the rest and reports
 * them only in the tracepoint xdp:xdp_devmap_xmit, once per batch, with the devices it came from and went to. This
 * program, attached there while the layer runs, adds the batch's drops to the layer's TRANSMIT_FAILED counter when
 * the batch came in on the listener's interface (index and network namespace, fanout_xmit_watch) and left through
 * an egress of the layer's devmap. The kernel does not say which program redirected the frames: two XDP layers of
 * one interface that send to the same egress each count the other's drops too.
 *
 * Frames sent back out of the listener's interface (XDP_TX) bypass the devmap. A driver that cannot queue one
 * reports it in xdp:xdp_exception with the action XDP_TX (NIC drivers with a full TX ring, veth with no room), and
 * veth, which queues them per receive poll and hands them to its peer at its end, reports what the peer refused in
 * xdp:xdp_bulk_tx. Two more programs count those for the listener's interface; the same caveat applies to two
 * layers of one interface. A NIC driver that drops queued frames later, in its own TX completion, reports that only
 * in its own statistics (ethtool -S). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "include/fanout_shared.h"
#include "include/fanout_tc_xdp_maps.h"

/* The kernel's structs, only the fields read here: libbpf relocates their offsets against the running kernel's BTF
 * (CO-RE), so no kernel headers are needed and a kernel whose layout differs still gets the right ones. */
struct net {
	__u64 net_cookie;
} __attribute__((preserve_access_index));

typedef struct {
	struct net *net;
} __attribute__((preserve_access_index)) possible_net_t;

struct net_device {
	int ifindex;
	possible_net_t nd_net;
} __attribute__((preserve_access_index));

/* Only passed along by xdp:xdp_exception, never read. */
struct bpf_prog;

/* Filled in by the daemon before load. */
const volatile struct fanout_xmit_watch watch = {};

/* The listener's interface, in the listener's network namespace (an index alone names another device elsewhere). */
static __always_inline int watched(const struct net_device *dev)
{
	return dev->ifindex == watch.ifindex && dev->nd_net.net->net_cookie == watch.netns_cookie;
}

static __always_inline void count_failed(int frames)
{
	__u32 stat = FANOUT_TC_XDP_TRANSMIT_FAILED;
	struct fanout_counter *failed = bpf_map_lookup_elem(&tc_xdp_stats, &stat);
	if (failed)
		failed->packets += frames;
}

SEC("tp_btf/xdp_devmap_xmit")
int BPF_PROG(tc_fanout_xmit, const struct net_device *from_dev, const struct net_device *to_dev, int sent, int drops,
	     int err)
{
	if (drops <= 0 || !watched(from_dev))
		return 0;
	__u32 egress = to_dev->ifindex;
	if (bpf_map_lookup_elem(&xdp_egress, &egress))
		count_failed(drops);
	return 0;
}

SEC("tp_btf/xdp_bulk_tx")
int BPF_PROG(tc_fanout_bulk_tx, const struct net_device *dev, int sent, int drops, int err)
{
	if (drops > 0 && watched(dev))
		count_failed(drops);
	return 0;
}

SEC("tp_btf/xdp_exception")
int BPF_PROG(tc_fanout_tx_exception, const struct net_device *dev, const struct bpf_prog *xdp, __u32 act)
{
	if (act == XDP_TX && watched(dev))
		count_failed(1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

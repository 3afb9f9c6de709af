// SPDX-License-Identifier: GPL-2.0
/* Counts the frames that a tc_ebpf listener's XDP layer redirected and the egress device then dropped.
 *
 * bpf_redirect_map only queues a frame: the devmap sends the queue at the end of the receive poll, and the egress
 * driver may take fewer frames than it was given (a veth whose peer has neither XDP nor GRO, or is down, takes
 * none; a frame longer than the peer's MTU, or a full ring, ends the batch). The kernel frees the rest and reports
 * them only in the tracepoint xdp:xdp_devmap_xmit, once per batch, with the devices it came from and went to. This
 * program, attached there while the layer runs, adds the batch's drops to the layer's TRANSMIT_FAILED counter when
 * the batch came in on the listener's interface (index and network namespace, fanout_xmit_watch) and left through
 * an egress of the layer's devmap. The kernel does not say which program redirected the frames: two XDP layers of
 * one interface that send to the same egress each count the other's drops too. */
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

/* Filled in by the daemon before load. */
const volatile struct fanout_xmit_watch watch = {};

SEC("tp_btf/xdp_devmap_xmit")
int BPF_PROG(tc_fanout_xmit, const struct net_device *from_dev, const struct net_device *to_dev, int sent, int drops,
	     int err)
{
	if (drops <= 0 || from_dev->ifindex != watch.ifindex || from_dev->nd_net.net->net_cookie != watch.netns_cookie)
		return 0;
	__u32 egress = to_dev->ifindex;
	if (!bpf_map_lookup_elem(&xdp_egress, &egress))
		return 0;
	__u32 stat = FANOUT_TC_XDP_TRANSMIT_FAILED;
	struct fanout_counter *failed = bpf_map_lookup_elem(&tc_xdp_stats, &stat);
	if (failed)
		failed->packets += drops;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";

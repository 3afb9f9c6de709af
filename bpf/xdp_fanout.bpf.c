// SPDX-License-Identifier: GPL-2.0
/* The af_xdp mode's steering program, attached at XDP on the listener's interface.
 *
 * IPv4 UDP to the listener's address and port goes to the AF_XDP socket of the queue it arrived on, where the
 * daemon's forwarder for that queue reads it from UMEM. It runs in a slot of the interface's XDP chain
 * (include/fanout_xdp_chain.h): what is not its listener's goes on to the later listeners' programs there, and
 * then returns XDP_PASS untouched: ARP (so MetalLB L2 keeps answering for a VIP on this interface), ICMP, TCP,
 * other UDP ports, IPv6, and IP fragments, which the stack reassembles for the daemon's fallback socket. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "include/fanout_consts.h"
#include "include/fanout_shared.h"
#include "include/fanout_xdp_maps.h"
#include "include/fanout_parse.h"
#include "include/fanout_xdp_chain.h"

/* Filled in by the daemon before load. */
const volatile struct fanout_listener listener = {};

static __always_inline void count(__u32 stat, __u64 bytes)
{
	struct fanout_counter *c = bpf_map_lookup_elem(&xdp_stats, &stat);
	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

SEC("xdp")
int xdp_fanout(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct udp4_packet pkt = {};

	/* Not this listener's: the interface's later listener programs, then the stack. */
	if (!parse_eth_ipv4(data, data_end, &pkt) || !parse_udp(data, data_end, &pkt))
		return xdp_chain_from(ctx, listener.xdp_chain_slot + 1);
	if (pkt.udp->dest != listener.port || (listener.addr != 0 && pkt.ip->daddr != listener.addr))
		return xdp_chain_from(ctx, listener.xdp_chain_slot + 1);
	__u64 bytes = data_end - data;
	if (is_fragment(pkt.ip)) {
		count(FANOUT_XDP_PASS_FRAGMENT, bytes);
		return XDP_PASS;
	}
	/* XDP_PASS as the fallback action: a queue without a socket still delivers to the stack. */
	long verdict = bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
	count(verdict == XDP_REDIRECT ? FANOUT_XDP_REDIRECTED : FANOUT_XDP_NO_SOCKET, bytes);
	return verdict;
}

char LICENSE[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
/* The af_xdp mode's steering program, attached at XDP on the listener's interface.
 *
 * IPv4 and IPv6 UDP to the listener's address and port goes to the AF_XDP socket of the queue it arrived on,
 * where the daemon's forwarder for that queue reads it from UMEM. It runs in a slot of the interface's XDP chain
 * (include/fanout_xdp_chain.h): what is not its listener's goes on to the later listeners' programs there, and
 * then returns XDP_PASS untouched: ARP and IPv6 neighbour discovery (ICMPv6, so MetalLB L2 keeps answering for a
 * VIP on this interface), ICMP, TCP, other UDP ports. The listener's IP fragments pass to the stack, which
 * reassembles them for the daemon's fallback socket, and so do its IPv6 datagrams with extension headers. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "include/fanout_consts.h"
#include "include/fanout_shared.h"
#include "include/fanout_xdp_maps.h"
#include "include/fanout_parse.h"
#include "include/fanout_parse6.h"
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

/* Not this listener's: the interface's later listener programs, then the stack. */
static __always_inline int not_ours(struct xdp_md *ctx)
{
	return xdp_chain_from(ctx, listener.xdp_chain_slot + 1);
}

/* XDP_PASS as the fallback action: a queue without a socket still delivers to the stack. */
static __always_inline int to_socket(struct xdp_md *ctx, __u64 bytes)
{
	long verdict = bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
	count(verdict == XDP_REDIRECT ? FANOUT_XDP_REDIRECTED : FANOUT_XDP_NO_SOCKET, bytes);
	return verdict;
}

static __always_inline int steer_ipv4(struct xdp_md *ctx, void *data, void *data_end, __u32 ip_off)
{
	struct udp4_packet pkt = {};

	if (!parse_ipv4_header(data, data_end, ip_off, &pkt) || !ipv4_version_and_ihl_valid(pkt.ip) ||
	    !parse_udp(data, data_end, &pkt))
		return not_ours(ctx);
	if (pkt.udp->dest != listener.port || (listener.addr != 0 && pkt.ip->daddr != listener.addr))
		return not_ours(ctx);
	__u64 bytes = data_end - data;
	if (is_fragment(pkt.ip)) {
		count(FANOUT_XDP_PASS_FRAGMENT, bytes);
		return XDP_PASS;
	}
	return to_socket(ctx, bytes);
}

/* Neighbour discovery is ICMPv6, never UDP: it passes with everything else that is not the listener's. */
static __always_inline int steer_ipv6(struct xdp_md *ctx, void *data, void *data_end, __u32 ip_off)
{
	struct udp6_packet pkt = {};

	if (!parse_ipv6_header(data, data_end, ip_off, &pkt) || !parse_udp6(data, data_end, &pkt))
		return not_ours(ctx);
	if (pkt.udp->dest != listener.port || !ipv6_destination_matches(pkt.ip, listener.addr6))
		return not_ours(ctx);
	__u64 bytes = data_end - data;
	if (pkt.fragment || pkt.extension_headers) {
		count(pkt.fragment ? FANOUT_XDP_PASS_FRAGMENT : FANOUT_XDP_PASS_EXTENSION_HEADER, bytes);
		return XDP_PASS;
	}
	return to_socket(ctx, bytes);
}

SEC("xdp")
int xdp_fanout(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__be16 proto;
	__u32 ip_off;

	if (!parse_eth(data, data_end, &proto, &ip_off))
		return not_ours(ctx);
	if (proto == ETH_P_IP_BE && (listener.families & FANOUT_LISTEN_IPV4))
		return steer_ipv4(ctx, data, data_end, ip_off);
	if (proto == ETH_P_IPV6_BE && (listener.families & FANOUT_LISTEN_IPV6))
		return steer_ipv6(ctx, data, data_end, ip_off);
	return not_ours(ctx);
}

char LICENSE[] SEC("license") = "GPL";

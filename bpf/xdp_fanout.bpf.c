// SPDX-License-Identifier: GPL-2.0
/* The af_xdp mode's steering program, attached at XDP on the listener's interface.
 *
 * IPv4 and IPv6 UDP to the listener's address and port goes to the AF_XDP socket of the queue it arrived on,
 * where the daemon's forwarder for that queue reads it from UMEM. Everything else returns XDP_PASS untouched: ARP
 * and IPv6 neighbour discovery (ICMPv6, so MetalLB L2 keeps answering for a VIP on this interface), ICMP, TCP,
 * other UDP ports, IP fragments, which the stack reassembles for the daemon's fallback socket, and IPv6 datagrams
 * with extension headers, which the fallback socket receives as well. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "include/fanout_consts.h"
#include "include/fanout_shared.h"
#include "include/fanout_xdp_maps.h"
#include "include/fanout_parse.h"
#include "include/fanout_parse6.h"

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
		return XDP_PASS;
	if (pkt.udp->dest != listener.port || (listener.addr != 0 && pkt.ip->daddr != listener.addr))
		return XDP_PASS;
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
		return XDP_PASS;
	if (pkt.udp->dest != listener.port || !ipv6_destination_matches(pkt.ip, listener.addr6))
		return XDP_PASS;
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
		return XDP_PASS;
	if (proto == ETH_P_IP_BE && (listener.families & FANOUT_LISTEN_IPV4))
		return steer_ipv4(ctx, data, data_end, ip_off);
	if (proto == ETH_P_IPV6_BE && (listener.families & FANOUT_LISTEN_IPV6))
		return steer_ipv6(ctx, data, data_end, ip_off);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
/* The XDP layer of a tc_ebpf listener: the tc program's forwarding, done before the kernel builds an skb.
 *
 * It runs in a slot of the interface's XDP chain (include/fanout_xdp_chain.h) and shares the tc program's maps:
 * the same downstream sets (so one swap serves both), the same per-CPU round-robin position and the same
 * per-downstream counters. For an IPv4 or IPv6 UDP datagram to the listener it chooses a downstream of the
 * datagram's family as the tc program does, looks up the route, and only when the lookup resolved the next hop's
 * neighbour and the egress interface can transmit XDP frames (the daemon lists those in xdp_egress) rewrites
 * destination address and port, TTL or hop limit and MAC addresses and sends the frame on (XDP_TX when the egress
 * is the interface it came in on). The client's source address and port stay. Every other datagram of the
 * listener passes unchanged, counted by reason, and meets the tc program exactly as without this layer:
 * fragments, IPv6 extension headers, VLAN-tagged frames, expiring TTLs and hop limits, bad headers, an empty set,
 * unresolved neighbours, routes the tc program handles through the stack. Other traffic (ARP, and ICMPv6 with
 * neighbour discovery) goes on to the interface's later XDP programs and then the stack, untouched. Only the
 * families the listener receives (listener.families) match here. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "include/fanout_consts.h"
#include "include/fanout_shared.h"
#include "include/fanout_maps.h"
#include "include/fanout_tc_xdp_maps.h"
#include "include/fanout_xdp_chain.h"
#include "include/fanout_parse.h"
#include "include/fanout_parse6.h"
#include "include/fanout_csum.h"
#include "include/fanout_csum6.h"
#include "include/fanout_choose.h"
#include "include/fanout_fib.h"
#include "include/fanout_route_cache.h"

/* What the family's forward returns for a datagram that is not the listener's: the chain's later slots get it. */
#define NOT_THE_LISTENERS (-1)

/* Filled in by the daemon before load, as the tc program's. */
const volatile struct fanout_listener listener = {};

static __always_inline void count(__u32 stat, __u64 bytes)
{
	struct fanout_counter *c = bpf_map_lookup_elem(&tc_xdp_stats, &stat);
	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

static __always_inline int pass(__u32 stat, __u64 bytes)
{
	count(stat, bytes);
	return XDP_PASS;
}

/* udp_csum_valid as a global function: the verifier checks it once, on its own, instead of once per path into it
 * times once per exit from its loop, which is past its limit. It finds the header again from its offset; pseudo is
 * the pseudo-header's sum in the datagram's family. */
__attribute__((noinline)) int udp_csum_valid_at(struct xdp_md *ctx, __u32 udp_off, __u64 pseudo)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct udphdr *udp = data + (udp_off & 0xff);

	if ((void *)(udp + 1) > data_end)
		return 0;
	return udp_csum_valid(udp, pseudo, data_end);
}

/* The listener's IPv4 datagrams that the tc program would refuse or leave to the stack, by the same checks. */
static __always_inline __u32 unforwardable4(struct xdp_md *ctx, const struct udp4_packet *pkt, void *data, void *data_end)
{
	if (!ipv4_version_and_ihl_valid(pkt->ip) || !ipv4_lengths_valid(pkt, data_end - data) ||
	    !ipv4_csum_valid(pkt->ip, data_end))
		return FANOUT_TC_XDP_PASS_BAD_HEADER;
	if (is_fragment(pkt->ip))
		return FANOUT_TC_XDP_PASS_FRAGMENT;
	if (pkt->ip->ttl <= 1)
		return FANOUT_TC_XDP_PASS_TTL;
	/* The tc program meets the frame with its tag taken aside; rewriting it here would keep the tag. */
	if (pkt->ip_off != ETH_HLEN_BYTES)
		return FANOUT_TC_XDP_PASS_VLAN;
	/* A zero checksum is none in IPv4, and stays zero. */
	if (pkt->udp->check != 0 &&
	    !udp_csum_valid_at(ctx, pkt->udp_off, udp4_pseudo_sum(pkt->ip->saddr, pkt->ip->daddr, pkt->udp)))
		return FANOUT_TC_XDP_PASS_UDP_CHECKSUM;
	return FANOUT_TC_XDP_FORWARDED;
}

/* The same for IPv6, in the tc program's order: what ipv6_rcv and the UDP layer refuse (a zero UDP checksum
 * included), then what the tc program drops or leaves to the stack. */
static __always_inline __u32 unforwardable6(struct xdp_md *ctx, const struct udp6_packet *pkt, void *data, void *data_end)
{
	if (pkt->ip->version != 6 || !ipv6_lengths_valid(pkt, data_end - data) || pkt->udp->check == 0)
		return FANOUT_TC_XDP_PASS_BAD_HEADER;
	if (pkt->ip->hop_limit <= 1)
		return FANOUT_TC_XDP_PASS_TTL;
	if (pkt->fragment)
		return FANOUT_TC_XDP_PASS_FRAGMENT;
	if (pkt->extension_headers)
		return FANOUT_TC_XDP_PASS_EXTENSION_HEADER;
	if (pkt->ip_off != ETH_HLEN_BYTES)
		return FANOUT_TC_XDP_PASS_VLAN;
	if (!udp_csum_valid_at(ctx, pkt->udp_off, udp6_pseudo_sum(pkt->ip, pkt->udp)))
		return FANOUT_TC_XDP_PASS_UDP_CHECKSUM;
	return FANOUT_TC_XDP_FORWARDED;
}

/* Chooses the datagram's downstream from its family's set into *target, with this CPU's position in *position; a
 * pass reason when there is none. The position moves on only once the frame is sent: a datagram passed from here
 * on meets the tc program at the same position, so the weighted order is walked once per datagram whoever sends it. */
static __always_inline __u32 choose(__u32 family, __u32 hash_slot, __u64 **position, struct fanout_downstream *target)
{
	struct fanout_downstream_set *set = current_set(family);
	if (!set_usable(set))
		return FANOUT_TC_XDP_PASS_NO_DOWNSTREAM;
	*position = cpu_position();
	__u32 index = choose_downstream(set, listener.balance, hash_slot, position_of(*position));
	if (index >= FANOUT_MAX_DOWNSTREAMS)
		return FANOUT_TC_XDP_PASS_NO_DOWNSTREAM;
	*target = set->downstreams[index];
	return FANOUT_TC_XDP_FORWARDED;
}

/* Looks up the route that fib asks for and how the frame leaves: *verdict XDP_TX back out of the interface it came
 * in on, or XDP_REDIRECT over the devmap; a pass reason unless the neighbour is resolved and the egress can take
 * XDP frames. Before any rewrite, so a frame passed from here goes on unchanged. */
static __always_inline __u32 route(struct xdp_md *ctx, __u32 family, const struct fanout_downstream *target,
				   struct bpf_fib_lookup *fib, long *verdict)
{
	/* The lookup the kernel's forwarding makes, policy rules and the local table included, answered from the route
	 * cache where it can be: for IPv6 the lookup is most of the layer's cost over IPv4 (BPF_PROG_TEST_RUN, Linux
	 * 6.18: the whole program 550 ns against 340, without the lookup 150 against 145). */
	long rc = fanout_fib_lookup(ctx, family, target, fib);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return rc == BPF_FIB_LKUP_RET_NO_NEIGH ? FANOUT_TC_XDP_PASS_NO_NEIGH : FANOUT_TC_XDP_PASS_FIB;
	__u32 egress = fib->ifindex;
	if (!bpf_map_lookup_elem(&xdp_egress, &egress))
		return FANOUT_TC_XDP_PASS_EGRESS;
	*verdict = XDP_TX;
	if (egress != ctx->ingress_ifindex) {
		*verdict = bpf_redirect_map(&xdp_egress, egress, 0);
		if (*verdict != XDP_REDIRECT)
			return FANOUT_TC_XDP_REDIRECT_FAILED;
	}
	return FANOUT_TC_XDP_FORWARDED;
}

/* The frame, rewritten above the link layer, leaves with the MACs of the route: counted, and the position moves on. */
static __always_inline int transmit(struct ethhdr *eth, const struct bpf_fib_lookup *fib, __u64 *position,
				    const struct fanout_downstream *target, __u64 payload, long verdict)
{
	__builtin_memcpy(eth->h_dest, fib->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib->smac, ETH_ALEN);
	advance(position);
	count(FANOUT_TC_XDP_FORWARDED, payload);
	count_downstream(target->slot, payload);
	return verdict;
}

static __always_inline int forward_ipv4(struct xdp_md *ctx, void *data, void *data_end, __u32 ip_off)
{
	struct udp4_packet pkt = {};

	if (!parse_ipv4_header(data, data_end, ip_off, &pkt) || !parse_udp(data, data_end, &pkt) ||
	    pkt.udp->dest != listener.port || (listener.addr != 0 && pkt.ip->daddr != listener.addr))
		return NOT_THE_LISTENERS;
	__u32 reason = unforwardable4(ctx, &pkt, data, data_end);
	if (reason != FANOUT_TC_XDP_FORWARDED)
		return pass(reason, 0);
	__u64 payload = bpf_ntohs(pkt.ip->tot_len) - pkt.ip->ihl * 4 - UDP_HLEN_BYTES;

	struct fanout_downstream target;
	__u64 *position = NULL;
	__u32 hash_slot = listener.balance == FANOUT_BALANCE_SOURCE_HASH ?
		fanout_source_slot(pkt.ip->saddr, pkt.udp->source, listener.hash_key) : 0;
	reason = choose(FANOUT_FAMILY_IPV4, hash_slot, &position, &target);
	if (reason != FANOUT_TC_XDP_FORWARDED)
		return pass(reason, payload);
	struct bpf_fib_lookup fib = {};
	fib4_query(&fib, pkt.ip, target.addr[0], ctx->ingress_ifindex);
	long verdict = XDP_PASS;
	reason = route(ctx, FANOUT_FAMILY_IPV4, &target, &fib, &verdict);
	if (reason != FANOUT_TC_XDP_FORWARDED)
		return pass(reason, payload);

	__u32 addr_change = csum_change32(pkt.ip->daddr, target.addr[0]);
	rewrite_ipv4(pkt.ip, target.addr[0]);
	rewrite_udp_dest(pkt.udp, addr_change, target.port);
	return transmit(data, &fib, position, &target, payload, verdict);
}

static __always_inline int forward_ipv6(struct xdp_md *ctx, void *data, void *data_end, __u32 ip_off)
{
	struct udp6_packet pkt = {};

	if (!parse_ipv6_header(data, data_end, ip_off, &pkt) || !parse_udp6(data, data_end, &pkt) ||
	    pkt.udp->dest != listener.port || !ipv6_destination_matches(pkt.ip, listener.addr6))
		return NOT_THE_LISTENERS;
	__u32 reason = unforwardable6(ctx, &pkt, data, data_end);
	if (reason != FANOUT_TC_XDP_FORWARDED)
		return pass(reason, 0);
	__u64 payload = ipv6_udp_payload(&pkt);

	struct fanout_downstream target;
	__u64 *position = NULL;
	__u32 hash_slot = listener.balance == FANOUT_BALANCE_SOURCE_HASH ?
		fanout_source6_slot((const __be32 *)&pkt.ip->saddr, pkt.udp->source, listener.hash_key) : 0;
	reason = choose(FANOUT_FAMILY_IPV6, hash_slot, &position, &target);
	if (reason != FANOUT_TC_XDP_FORWARDED)
		return pass(reason, payload);
	struct bpf_fib_lookup fib = {};
	fib6_query(&fib, pkt.ip, target.addr, ctx->ingress_ifindex);
	long verdict = XDP_PASS;
	reason = route(ctx, FANOUT_FAMILY_IPV6, &target, &fib, &verdict);
	if (reason != FANOUT_TC_XDP_FORWARDED)
		return pass(reason, payload);

	__u32 addr_change = csum_change128((const __be32 *)&pkt.ip->daddr, target.addr);
	rewrite_ipv6(pkt.ip, target.addr);
	rewrite_udp_dest(pkt.udp, addr_change, target.port);
	return transmit(data, &fib, position, &target, payload, verdict);
}

SEC("xdp")
int tc_fanout_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	int verdict = NOT_THE_LISTENERS;
	__be16 proto;
	__u32 ip_off;

	/* The family comes first: an IPv6-only listener's addr is 0, which would match any IPv4 destination. */
	if (parse_eth(data, data_end, &proto, &ip_off)) {
		if (proto == ETH_P_IP_BE && (listener.families & FANOUT_LISTEN_IPV4))
			verdict = forward_ipv4(ctx, data, data_end, ip_off);
		else if (proto == ETH_P_IPV6_BE && (listener.families & FANOUT_LISTEN_IPV6))
			verdict = forward_ipv6(ctx, data, data_end, ip_off);
	}
	return verdict == NOT_THE_LISTENERS ? xdp_chain_from(ctx, listener.xdp_chain_slot + 1) : verdict;
}

char LICENSE[] SEC("license") = "GPL";

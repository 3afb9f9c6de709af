// SPDX-License-Identifier: GPL-2.0
/* The XDP layer of a tc_ebpf listener: the tc program's forwarding, done before the kernel builds an skb.
 *
 * It runs in a slot of the interface's XDP chain (include/fanout_xdp_chain.h) and shares the tc program's maps:
 * the same downstream set (so one swap serves both), the same per-CPU round-robin position and the same
 * per-downstream counters. For an IPv4 UDP datagram to the listener it chooses the downstream as the tc program
 * does, looks up the route, and only when the lookup resolved the next hop's neighbour and the egress interface
 * can transmit XDP frames (the daemon lists those in xdp_egress) rewrites destination address and port, TTL and
 * MAC addresses and sends the frame on (XDP_TX when the egress is the interface it came in on). The client's
 * source address and port stay. Every other datagram of the listener passes unchanged, counted by reason, and
 * meets the tc program exactly as without this layer: fragments, VLAN-tagged frames, expiring TTLs, bad headers,
 * an empty set, unresolved neighbours, routes the tc program handles through the stack. Other traffic goes on to
 * the interface's later XDP programs and then the stack, untouched. Only a listener that receives IPv4
 * (listener.families) matches here. IPv6 passes to the tc program, which forwards it: it goes on through the
 * chain as not this layer's, untouched. */
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
#include "include/fanout_csum.h"
#include "include/fanout_choose.h"

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

/* udp4_csum_valid as a global function: the verifier checks it once, on its own, instead of once per path into it
 * times once per exit from its loop, which is past its limit. It finds the headers again from the offsets. */
__attribute__((noinline)) int udp4_csum_valid_at(struct xdp_md *ctx, __u32 ip_off, __u32 udp_off)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + (ip_off & 0xff);
	struct udphdr *udp = data + (udp_off & 0xff);

	if ((void *)(ip + 1) > data_end || (void *)(udp + 1) > data_end)
		return 0;
	return udp4_csum_valid(udp, ip->saddr, ip->daddr, data_end);
}

/* The listener's datagrams that the tc program would refuse or leave to the stack, by the same checks. */
static __always_inline __u32 unforwardable(struct xdp_md *ctx, const struct udp4_packet *pkt, void *data, void *data_end)
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
	if (!udp4_csum_valid_at(ctx, pkt->ip_off, pkt->udp_off))
		return FANOUT_TC_XDP_PASS_UDP_CHECKSUM;
	return FANOUT_TC_XDP_FORWARDED;
}

/* The route to the downstream, as the tc program looks it up: a pass reason unless the neighbour is resolved. */
static __always_inline __u32 route(struct xdp_md *ctx, const struct iphdr *ip, __be32 daddr, struct bpf_fib_lookup *fib)
{
	fib->family = AF_INET_NUM;
	fib->l4_protocol = IPPROTO_UDP_NUM;
	fib->tot_len = bpf_ntohs(ip->tot_len);
	fib->tos = ip->tos;
	fib->ipv4_src = ip->saddr;
	fib->ipv4_dst = daddr;
	fib->ifindex = ctx->ingress_ifindex;
	long rc = bpf_fib_lookup(ctx, fib, sizeof(*fib), 0);
	if (rc == BPF_FIB_LKUP_RET_SUCCESS)
		return FANOUT_TC_XDP_FORWARDED;
	return rc == BPF_FIB_LKUP_RET_NO_NEIGH ? FANOUT_TC_XDP_PASS_NO_NEIGH : FANOUT_TC_XDP_PASS_FIB;
}

SEC("xdp")
int tc_fanout_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct udp4_packet pkt = {};
	__be16 proto;
	__u32 ip_off;

	/* An IPv6-only listener's addr is 0, which would match any IPv4 destination: the family comes first. */
	if (!(listener.families & FANOUT_LISTEN_IPV4) || !parse_eth(data, data_end, &proto, &ip_off) ||
	    proto != ETH_P_IP_BE || !parse_ipv4_header(data, data_end, ip_off, &pkt) ||
	    !parse_udp(data, data_end, &pkt) || pkt.udp->dest != listener.port ||
	    (listener.addr != 0 && pkt.ip->daddr != listener.addr))
		return xdp_chain_from(ctx, listener.xdp_chain_slot + 1);

	__u32 reason = unforwardable(ctx, &pkt, data, data_end);
	if (reason != FANOUT_TC_XDP_FORWARDED)
		return pass(reason, 0);
	__u64 payload = bpf_ntohs(pkt.ip->tot_len) - pkt.ip->ihl * 4 - UDP_HLEN_BYTES;

	struct fanout_downstream_set *set = current_set(FANOUT_FAMILY_IPV4);
	if (!set_usable(set))
		return pass(FANOUT_TC_XDP_PASS_NO_DOWNSTREAM, payload);
	/* The position moves on only below, once the frame is sent: a datagram passed from here on meets the tc
	 * program at the same position, so the weighted order is walked once per datagram whoever sends it. */
	__u64 *position = cpu_position();
	__u32 hash_slot = listener.balance == FANOUT_BALANCE_SOURCE_HASH ?
		fanout_source_slot(pkt.ip->saddr, pkt.udp->source, listener.hash_key) : 0;
	__u32 index = choose_downstream(set, listener.balance, hash_slot, position_of(position));
	if (index >= FANOUT_MAX_DOWNSTREAMS)
		return pass(FANOUT_TC_XDP_PASS_NO_DOWNSTREAM, payload);
	struct fanout_downstream target = set->downstreams[index];

	struct bpf_fib_lookup fib = {};
	reason = route(ctx, pkt.ip, target.addr[0], &fib);
	if (reason != FANOUT_TC_XDP_FORWARDED)
		return pass(reason, payload);
	__u32 egress = fib.ifindex;
	if (!bpf_map_lookup_elem(&xdp_egress, &egress))
		return pass(FANOUT_TC_XDP_PASS_EGRESS, payload);
	long verdict = XDP_TX;
	if (egress != ctx->ingress_ifindex) {
		/* Before any rewrite, so a refusal passes the frame unchanged. */
		verdict = bpf_redirect_map(&xdp_egress, egress, 0);
		if (verdict != XDP_REDIRECT)
			return pass(FANOUT_TC_XDP_REDIRECT_FAILED, payload);
	}

	struct ethhdr *eth = data;
	__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
	__be32 old_addr = pkt.ip->daddr;
	rewrite_ipv4(pkt.ip, target.addr[0]);
	rewrite_udp_dest(pkt.udp, old_addr, target.addr[0], target.port);

	advance(position);
	count(FANOUT_TC_XDP_FORWARDED, payload);
	count_downstream(target.slot, payload);
	return verdict;
}

char LICENSE[] SEC("license") = "GPL";

// SPDX-License-Identifier: GPL-2.0
/* The tc_ebpf mode's data path, attached at the clsact ingress of the listener's interface.
 *
 * For an IPv4 or IPv6 UDP datagram to the listener's address and port it picks a downstream of the datagram's
 * family (the next of a per-CPU walk of the family set's weighted round-robin order, or by the source's hash in
 * the family set's Maglev table), rewrites
 * the destination address and port with checksum updates, decrements the TTL or hop limit as a router
 * would (so a routing loop through the proxy ends), looks up the route with bpf_fib_lookup and hands the packet
 * to bpf_redirect_neigh, which resolves a missing neighbour instead of dropping. The route comes from the route
 * cache (include/fanout_route_cache.h) while the daemon says that it depends on the destination alone. The
 * client's source address and port are kept. Everything else goes on untouched, to the next filter on the hook and
 * then the stack: other listeners of the interface have a filter each, and other tools may have theirs.
 *
 * What the program cannot rewrite goes to the stack unchanged and reaches the daemon's fallback socket bound
 * to the listener's address: fragments (reassembled by the kernel), IPv6 datagrams with extension headers,
 * datagrams larger than the egress MTU (the fallback's send fragments them), datagrams of a family that has no
 * downstream while the other family has (the fallback sends them to one of those), and everything while
 * forwarding is disabled on the ingress device (net.ipv4.conf.<if>.forwarding=0, net.ipv6.conf.<if>.forwarding=0;
 * the daemon warns about it at start). Datagrams whose TTL would expire are
 * dropped as a router would drop them: the fallback would send them on with a fresh TTL, and a loop through the
 * proxy would never end. The program runs before the kernel has validated the IP header: a header the kernel
 * would refuse goes to the stack unchanged (which drops it), counted, and is never forwarded. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "include/fanout_consts.h"
#include "include/fanout_shared.h"
#include "include/fanout_maps.h"
#include "include/fanout_parse.h"
#include "include/fanout_parse6.h"
#include "include/fanout_csum.h"
#include "include/fanout_csum6.h"
#include "include/fanout_choose.h"
#include "include/fanout_fib.h"
#include "include/fanout_route_cache.h"

/* Filled in by the daemon before load. */
const volatile struct fanout_listener listener = {};

static __always_inline void count(__u32 stat, __u64 bytes)
{
	struct fanout_counter *c = bpf_map_lookup_elem(&stats, &stat);
	if (c) {
		c->packets++;
		c->bytes += bytes;
	}
}

static __always_inline int pass(__u32 stat, __u64 bytes)
{
	count(stat, bytes);
	return TC_ACT_UNSPEC;
}

static __always_inline int drop(__u32 stat, __u64 bytes)
{
	count(stat, bytes);
	return TC_ACT_SHOT;
}

/* A datagram the program does not forward: the PASS_ stats go on to the stack and the fallback, the rest drop. */
static __always_inline int refuse(__u32 stat, __u64 bytes)
{
	if (stat == FANOUT_TC_PASS_FRAG_NEEDED || stat == FANOUT_TC_PASS_FORWARDING_DISABLED ||
	    stat == FANOUT_TC_PASS_OTHER_FAMILY)
		return pass(stat, bytes);
	return drop(stat, bytes);
}

/* Direct packet access sees only the skb's linear part. Senders that build skbs from pages leave everything
 * past the Ethernet header in fragments: PF_PACKET with a TX ring (trafgen, the benchmark's generator) and
 * drivers that receive into pages without pulling the headers. Pull the headers in, or every such datagram would
 * miss the program and take the slow fallback path. Costs nothing when they are linear already. */
static __always_inline bool linear_headers(struct __sk_buff *skb)
{
	__u32 want = skb->len < MAX_HEADERS_BYTES ? skb->len : MAX_HEADERS_BYTES;
	if ((void *)(long)skb->data + want <= (void *)(long)skb->data_end)
		return true;
	return bpf_skb_pull_data(skb, want) == 0;
}

/* Why a datagram finds no downstream of its family: the other family has some (the fallback sends it there),
 * none is configured, or health checks took every one out. */
static __always_inline __u32 no_downstream_stat(const struct fanout_downstream_set *set)
{
	if (set && (set->flags & FANOUT_SET_OTHER_FAMILY))
		return FANOUT_TC_PASS_OTHER_FAMILY;
	return set && (set->flags & FANOUT_SET_ALL_UNHEALTHY) ? FANOUT_TC_NO_HEALTHY_DOWNSTREAM : FANOUT_TC_NO_DOWNSTREAM;
}

/* Picks the datagram's downstream from its family's set into *target and returns FANOUT_TC_FORWARDED, or returns
 * the stat it is refused with. hash_slot is the source's Maglev slot, read under balance: source_hash only. */
static __always_inline __u32 pick_downstream(__u32 family, __u32 hash_slot, struct fanout_downstream *target)
{
	struct fanout_downstream_set *set = current_set(family);
	if (!set_usable(set))
		return no_downstream_stat(set);
	__u64 *position = cpu_position();
	__u32 index = choose_downstream(set, listener.balance, hash_slot, position_of(position));
	advance(position);
	if (index >= FANOUT_MAX_DOWNSTREAMS)
		return FANOUT_TC_NO_DOWNSTREAM;
	*target = set->downstreams[index];
	return FANOUT_TC_FORWARDED;
}

/* What bpf_fib_lookup's answer means: FANOUT_TC_FORWARDED when the datagram can be redirected (with its next hop
 * resolved or not), or the stat it is refused with. A forwarding lookup from the ingress device needs forwarding
 * enabled on that device. */
static __always_inline __u32 route_stat(long rc)
{
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED)
		return FANOUT_TC_PASS_FRAG_NEEDED;
	if (rc == BPF_FIB_LKUP_RET_FWD_DISABLED)
		return FANOUT_TC_PASS_FORWARDING_DISABLED;
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return FANOUT_TC_NO_ROUTE;
	return FANOUT_TC_FORWARDED;
}

/* Hands the rewritten packet to the next hop that bpf_fib_lookup found, and counts it. */
static __always_inline int redirect(const struct bpf_fib_lookup *fib, long rc, __u32 slot, __u64 payload)
{
	struct bpf_redir_neigh next_hop = { .nh_family = fib->family };
	if (fib->family == AF_INET_NUM)
		next_hop.ipv4_nh = fib->ipv4_dst;
	else
		__builtin_memcpy(next_hop.ipv6_nh, fib->ipv6_dst, sizeof(next_hop.ipv6_nh));
	/* With NO_NEIGH the kernel resolves the neighbour and sends once it answers instead of dropping. */
	long verdict = bpf_redirect_neigh(fib->ifindex, rc == BPF_FIB_LKUP_RET_SUCCESS ? &next_hop : NULL,
					  rc == BPF_FIB_LKUP_RET_SUCCESS ? sizeof(next_hop) : 0, 0);
	if (verdict == TC_ACT_SHOT)
		return drop(FANOUT_TC_REDIRECT_FAILED, payload);

	count(FANOUT_TC_FORWARDED, payload);
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		count(FANOUT_TC_FORWARDED_UNRESOLVED, payload);
	count_downstream(slot, payload);
	return verdict;
}

static __always_inline int forward_ipv4(struct __sk_buff *skb, void *data, void *data_end, __u32 ip_off)
{
	struct udp4_packet pkt = {};

	if (!parse_ipv4_header(data, data_end, ip_off, &pkt) || !parse_udp(data, data_end, &pkt))
		return TC_ACT_UNSPEC;
	if (pkt.udp->dest != listener.port || (listener.addr != 0 && pkt.ip->daddr != listener.addr))
		return TC_ACT_UNSPEC;
	/* What ip_rcv_core would refuse; checked only for the listener's datagrams, so other traffic pays nothing. */
	if (!ipv4_version_and_ihl_valid(pkt.ip) || !ipv4_lengths_valid(&pkt, skb->len) ||
	    !ipv4_csum_valid(pkt.ip, data_end))
		return pass(FANOUT_TC_PASS_BAD_HEADER, 0);

	__u64 payload = bpf_ntohs(pkt.ip->tot_len) - pkt.ip->ihl * 4 - UDP_HLEN_BYTES;
	/* Before the fragment check: a first fragment with an expiring TTL must not be reassembled and sent on with a
	 * fresh one; its later fragments then time out in reassembly. A later fragment only looks like the listener's
	 * (its payload where a port would be), so it goes on untouched: it may belong to another local socket. */
	if (pkt.ip->ttl <= 1 && !is_later_fragment(pkt.ip))
		return drop(FANOUT_TC_TTL_EXPIRED, payload);
	if (is_fragment(pkt.ip))
		return pass(FANOUT_TC_PASS_FRAGMENT, payload);

	struct fanout_downstream target;
	__u32 hash_slot = listener.balance == FANOUT_BALANCE_SOURCE_HASH ?
		fanout_source_slot(pkt.ip->saddr, pkt.udp->source, listener.hash_key) : 0;
	__u32 stat = pick_downstream(FANOUT_FAMILY_IPV4, hash_slot, &target);
	if (stat != FANOUT_TC_FORWARDED)
		return refuse(stat, payload);

	/* Route first, so a datagram with nowhere to go is counted and dropped unchanged. */
	struct bpf_fib_lookup fib = {};
	fib4_query(&fib, pkt.ip, target.addr[0], skb->ingress_ifindex);
	long rc = fanout_fib_lookup(skb, FANOUT_FAMILY_IPV4, &target, &fib);
	stat = route_stat(rc);
	if (stat != FANOUT_TC_FORWARDED)
		return refuse(stat, payload);

	__be32 old_addr = pkt.ip->daddr;
	__be16 old_port = pkt.udp->dest;
	rewrite_ipv4(pkt.ip, target.addr[0]);
	pkt.udp->dest = target.port;
	/* The helpers below may move the packet: no pointer into it is used after this point. */
	if (update_udp_csum(skb, pkt.udp_off, old_addr, target.addr[0], old_port, target.port))
		return drop(FANOUT_TC_REDIRECT_FAILED, payload);
	return redirect(&fib, rc, target.slot, payload);
}

static __always_inline int forward_ipv6(struct __sk_buff *skb, void *data, void *data_end, __u32 ip_off)
{
	struct udp6_packet pkt = {};

	if (!parse_ipv6_header(data, data_end, ip_off, &pkt) || !parse_udp6(data, data_end, &pkt))
		return TC_ACT_UNSPEC;
	if (pkt.udp->dest != listener.port || !ipv6_destination_matches(pkt.ip, listener.addr6))
		return TC_ACT_UNSPEC;
	/* What ipv6_rcv and the UDP layer would refuse, a zero UDP checksum included (invalid in IPv6): the stack
	 * drops it, the program never forwards it. */
	if (pkt.ip->version != 6 || !ipv6_lengths_valid(&pkt, skb->len) || pkt.udp->check == 0)
		return pass(FANOUT_TC_PASS_BAD_HEADER, 0);

	__u64 payload = ipv6_udp_payload(&pkt);
	/* As for IPv4, before the fragment check; later fragments carry no UDP header and never got this far. */
	if (pkt.ip->hop_limit <= 1)
		return drop(FANOUT_TC_TTL_EXPIRED, payload);
	if (pkt.fragment)
		return pass(FANOUT_TC_PASS_FRAGMENT, payload);
	if (pkt.extension_headers)
		return pass(FANOUT_TC_PASS_EXTENSION_HEADER, payload);

	struct fanout_downstream target;
	__u32 hash_slot = listener.balance == FANOUT_BALANCE_SOURCE_HASH ?
		fanout_source6_slot((const __be32 *)&pkt.ip->saddr, pkt.udp->source, listener.hash_key) : 0;
	__u32 stat = pick_downstream(FANOUT_FAMILY_IPV6, hash_slot, &target);
	if (stat != FANOUT_TC_FORWARDED)
		return refuse(stat, payload);

	struct bpf_fib_lookup fib = {};
	fib6_query(&fib, pkt.ip, target.addr, skb->ingress_ifindex);
	long rc = fanout_fib_lookup(skb, FANOUT_FAMILY_IPV6, &target, &fib);
	stat = route_stat(rc);
	if (stat != FANOUT_TC_FORWARDED)
		return refuse(stat, payload);

	__be32 old_addr[4];
	__builtin_memcpy(old_addr, &pkt.ip->daddr, sizeof(old_addr));
	__be16 old_port = pkt.udp->dest;
	rewrite_ipv6(pkt.ip, target.addr);
	pkt.udp->dest = target.port;
	/* The helpers below may move the packet: no pointer into it is used after this point. */
	if (update_udp6_csum(skb, pkt.udp_off, old_addr, target.addr, old_port, target.port))
		return drop(FANOUT_TC_REDIRECT_FAILED, payload);
	return redirect(&fib, rc, target.slot, payload);
}

SEC("tc")
int tc_fanout(struct __sk_buff *skb)
{
	__be16 proto;
	__u32 ip_off;

	if (!linear_headers(skb))
		return TC_ACT_UNSPEC;
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	if (!parse_eth(data, data_end, &proto, &ip_off))
		return TC_ACT_UNSPEC;
	if (proto == ETH_P_IP_BE && (listener.families & FANOUT_LISTEN_IPV4))
		return forward_ipv4(skb, data, data_end, ip_off);
	if (proto == ETH_P_IPV6_BE && (listener.families & FANOUT_LISTEN_IPV6))
		return forward_ipv6(skb, data, data_end, ip_off);
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "GPL";

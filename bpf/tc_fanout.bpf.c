// SPDX-License-Identifier: GPL-2.0
/* The tc_ebpf mode's data path, attached at the clsact ingress of the listener's interface.
 *
 * For an IPv4 UDP datagram to the listener's address and port it picks a downstream (the next of a per-CPU walk of
 * the set's weighted round-robin order, or by the source's hash in the set's Maglev table), rewrites the
 * destination address and port with checksum updates, decrements the TTL as a router would (so a routing loop through the proxy ends), looks up the route with bpf_fib_lookup and hands the packet
 * to bpf_redirect_neigh, which resolves a missing neighbour instead of dropping. The client's source address
 * and port are kept. Everything else goes on untouched, to the next filter on the hook and then the stack: other
 * listeners of the interface have a filter each, and other tools may have theirs.
 *
 * What the program cannot rewrite goes to the stack unchanged and reaches the daemon's fallback socket bound
 * to the listener's address: fragments (reassembled by the kernel), datagrams larger than the egress MTU (the
 * fallback's send fragments them), and everything while forwarding is disabled on the ingress device
 * (net.ipv4.conf.<if>.forwarding=0; the daemon warns about it at start). Datagrams whose TTL would expire are
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
#include "include/fanout_csum.h"
#include "include/fanout_choose.h"

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

/* Why a datagram finds no downstream: none configured, or every one taken out by health checks. */
static __always_inline __u32 no_downstream_stat(const struct fanout_downstream_set *set)
{
	return set && (set->flags & FANOUT_SET_ALL_UNHEALTHY) ? FANOUT_TC_NO_HEALTHY_DOWNSTREAM : FANOUT_TC_NO_DOWNSTREAM;
}

SEC("tc")
int tc_fanout(struct __sk_buff *skb)
{
	struct udp4_packet pkt = {};

	if (!linear_headers(skb))
		return TC_ACT_UNSPEC;
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	if (!parse_eth_ipv4_header(data, data_end, &pkt) || !parse_udp(data, data_end, &pkt))
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

	struct fanout_downstream_set *set = current_set();
	if (!set_usable(set))
		return drop(no_downstream_stat(set), payload);
	__u64 *position = cpu_position();
	__u32 index = choose_downstream(set, listener.balance, listener.hash_key, pkt.ip->saddr, pkt.udp->source,
					position_of(position));
	advance(position);
	if (index >= FANOUT_MAX_DOWNSTREAMS)
		return drop(FANOUT_TC_NO_DOWNSTREAM, payload);
	struct fanout_downstream target = set->downstreams[index];

	/* Route first, so a datagram with nowhere to go is counted and dropped unchanged. */
	struct bpf_fib_lookup fib = {
		.family = AF_INET_NUM,
		.l4_protocol = IPPROTO_UDP_NUM,
		.tot_len = bpf_ntohs(pkt.ip->tot_len),
		.tos = pkt.ip->tos,
		.ipv4_src = pkt.ip->saddr,
		.ipv4_dst = target.addr,
		.ifindex = skb->ingress_ifindex,
	};
	/* A forwarding lookup from the ingress device: it needs forwarding enabled on that device. */
	long rc = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED)
		return pass(FANOUT_TC_PASS_FRAG_NEEDED, payload);
	if (rc == BPF_FIB_LKUP_RET_FWD_DISABLED)
		return pass(FANOUT_TC_PASS_FORWARDING_DISABLED, payload);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return drop(FANOUT_TC_NO_ROUTE, payload);

	__be32 old_addr = pkt.ip->daddr;
	__be16 old_port = pkt.udp->dest;
	rewrite_ipv4(pkt.ip, target.addr);
	pkt.udp->dest = target.port;
	/* The helpers below may move the packet: no pointer into it is used after this point. */
	if (update_udp_csum(skb, pkt.udp_off, old_addr, target.addr, old_port, target.port))
		return drop(FANOUT_TC_REDIRECT_FAILED, payload);

	struct bpf_redir_neigh next_hop = { .nh_family = AF_INET_NUM, .ipv4_nh = fib.ipv4_dst };
	/* With NO_NEIGH the kernel resolves the neighbour and sends once it answers instead of dropping. */
	long verdict = bpf_redirect_neigh(fib.ifindex, rc == BPF_FIB_LKUP_RET_SUCCESS ? &next_hop : NULL,
					  rc == BPF_FIB_LKUP_RET_SUCCESS ? sizeof(next_hop) : 0, 0);
	if (verdict == TC_ACT_SHOT)
		return drop(FANOUT_TC_REDIRECT_FAILED, payload);

	count(FANOUT_TC_FORWARDED, payload);
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		count(FANOUT_TC_FORWARDED_UNRESOLVED, payload);
	count_downstream(target.slot, payload);
	return verdict;
}

char LICENSE[] SEC("license") = "GPL";

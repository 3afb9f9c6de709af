/* This file contains the route cache of the tc program and its XDP layer: bpf_fib_lookup's answer for each
 * downstream, kept per CPU and used while the daemon says that nothing it depends on has changed.
 *
 * Why: the lookup is most of what a datagram costs the programs, and an IPv6 one about twice an IPv4 one (Linux
 * 6.18, BPF_PROG_TEST_RUN: ~400 ns against ~195 ns, the programs' own work ~150 ns either way). With the default
 * policy rules only, no multipath route, no TOS (IPv4) or source (IPv6) route, its answer for a datagram depends on
 * the destination, the ingress device and the datagram's length alone. The daemon watches for those conditions and
 * for every change the kernel reports (routes, rules, links, forwarding settings, neighbours) and moves the
 * family's epoch on (route_epochs); an entry of an older epoch is looked up again. Between a change and the epoch's
 * move (the time the daemon takes to read the notification) datagrams may still follow the old answer; the daemon
 * also moves the epoch on every second, which bounds how long a change the kernel does not report (a path MTU
 * learnt from ICMP, say) goes unseen. */
#ifndef UDP_FANOUT_ROUTE_CACHE_H
#define UDP_FANOUT_ROUTE_CACHE_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "fanout_consts.h"
#include "fanout_shared.h"
#include "fanout_maps.h"

static __always_inline bool same_address(const __be32 a[4], const __be32 b[4])
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3];
}

/* Looks up query's route into route, stamped with epoch; false (and route unusable) unless a route was found.
 * tot_len 1 makes the kernel check the MTU and, as one byte never exceeds it, report it in mtu_result (a union with
 * tot_len) on success. The kernel reports no MTU when the next hop's neighbour is missing, so that case is asked
 * again without the neighbour (BPF_FIB_LOOKUP_SKIP_NEIGH, Linux 6.3; an older kernel refuses the flag, and such
 * routes are then looked up per datagram). */
static __always_inline bool fill_route(void *ctx, struct fanout_route *route, const struct bpf_fib_lookup *query,
				       const struct fanout_downstream *target, __u64 epoch)
{
	struct bpf_fib_lookup fib = *query;

	route->epoch = 0;
	fib.tot_len = 1;
	long rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	route->resolved = rc == BPF_FIB_LKUP_RET_SUCCESS;
	if (rc == BPF_FIB_LKUP_RET_NO_NEIGH) {
		fib = *query;
		fib.tot_len = 1;
		rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), BPF_FIB_LOOKUP_SKIP_NEIGH);
	}
	if (rc != BPF_FIB_LKUP_RET_SUCCESS)
		return false;

	__builtin_memcpy(route->daddr, target->addr, sizeof(route->daddr));
	__builtin_memset(route->next_hop, 0, sizeof(route->next_hop));
	if (fib.family == AF_INET_NUM)
		route->next_hop[0] = fib.ipv4_dst;
	else
		__builtin_memcpy(route->next_hop, fib.ipv6_dst, sizeof(route->next_hop));
	route->ingress_ifindex = query->ifindex;
	route->ifindex = fib.ifindex;
	route->mtu = fib.mtu_result;
	route->nh_family = fib.family;
	__builtin_memcpy(route->dmac, fib.dmac, sizeof(route->dmac));
	__builtin_memcpy(route->smac, fib.smac, sizeof(route->smac));
	route->epoch = epoch;
	return true;
}

/* The cached route to target for the datagram's lookup query, looked up now if the cache's is of an older epoch;
 * NULL when the family is not cached or no route was found. */
static __always_inline const struct fanout_route *cached_route(void *ctx, __u32 family, const struct fanout_downstream *target,
							       const struct bpf_fib_lookup *query)
{
	__u64 *current = bpf_map_lookup_elem(&route_epochs, &family);
	if (!current || *current == 0)
		return NULL;
	__u64 epoch = *current;
	__u32 slot = target->slot;
	struct fanout_route *route = bpf_map_lookup_elem(&route_cache, &slot);
	if (!route)
		return NULL;
	if (route->epoch == epoch && route->ingress_ifindex == query->ifindex && same_address(route->daddr, target->addr))
		return route;
	return fill_route(ctx, route, query, target, epoch) ? route : NULL;
}

/* bpf_fib_lookup(ctx, fib, sizeof(*fib), 0) for the datagram to target (fib filled by fib4_query or fib6_query):
 * the same result code and output fields, from the cache when it holds the route. */
static __always_inline long fanout_fib_lookup(void *ctx, __u32 family, const struct fanout_downstream *target,
					      struct bpf_fib_lookup *fib)
{
	const struct fanout_route *route = cached_route(ctx, family, target, fib);
	if (!route)
		return bpf_fib_lookup(ctx, fib, sizeof(*fib), 0);
	/* The kernel's order: a route found, then the MTU, then the neighbour. */
	if (fib->tot_len > route->mtu) {
		fib->mtu_result = route->mtu;
		return BPF_FIB_LKUP_RET_FRAG_NEEDED;
	}
	fib->family = route->nh_family;
	fib->ifindex = route->ifindex;
	if (route->nh_family == AF_INET_NUM)
		fib->ipv4_dst = route->next_hop[0];
	else
		__builtin_memcpy(fib->ipv6_dst, route->next_hop, sizeof(fib->ipv6_dst));
	fib->mtu_result = route->mtu;
	__builtin_memcpy(fib->dmac, route->dmac, sizeof(fib->dmac));
	__builtin_memcpy(fib->smac, route->smac, sizeof(fib->smac));
	return route->resolved ? BPF_FIB_LKUP_RET_SUCCESS : BPF_FIB_LKUP_RET_NO_NEIGH;
}

#endif

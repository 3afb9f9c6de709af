/* This file contains how the tc_ebpf programs (tc_fanout.bpf.c and its XDP layer, tc_fanout_xdp.bpf.c) choose a
 * downstream: the current set of the datagram's family from the swapped inner map, then the listener's policy, the
 * per-CPU round-robin position walking that set's weighted order or the source's slot in its Maglev table. Both
 * programs read the same maps (the XDP layer's are the tc program's, shared before load), so they share the sets,
 * their orders and one position per CPU. */
#ifndef UDP_FANOUT_CHOOSE_H
#define UDP_FANOUT_CHOOSE_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "fanout_shared.h"
#include "fanout_maps.h"
#include "fanout_hash.h"

/* The current set of one family (FANOUT_FAMILY_*). */
static __always_inline struct fanout_downstream_set *current_set(__u32 family)
{
	__u32 zero = 0;
	void *inner = bpf_map_lookup_elem(&downstream_sets, &zero);
	if (!inner)
		return NULL;
	return bpf_map_lookup_elem(inner, &family);
}

/* A set the programs can forward to: present, not empty, within bounds. */
static __always_inline bool set_usable(const struct fanout_downstream_set *set)
{
	return set && set->count > 0 && set->count <= FANOUT_MAX_DOWNSTREAMS;
}

/* This CPU's round-robin position. A program moves it on only once it has sent the datagram: the XDP layer passes
 * some of what it chose to the tc program, which then takes the same position and so the same downstream. */
static __always_inline __u64 *cpu_position(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&rr_position, &zero);
}

static __always_inline __u32 position_of(const __u64 *position)
{
	return position ? (__u32)*position : 0;
}

static __always_inline void advance(__u64 *position)
{
	if (position)
		(*position)++;
}

/* An entry of the set's table, or FANOUT_MAX_DOWNSTREAMS when the slot is out of bounds. */
static __always_inline __u32 table_entry(const struct fanout_downstream_set *set, __u32 slot)
{
	/* clang knows a remainder is below its divisor and would drop this check, but the verifier does not
	 * know it: the empty asm hides the value from clang, so the bound the verifier needs stays. */
	asm volatile("" : "+r"(slot));
	if (slot >= FANOUT_MAGLEV_TABLE_SIZE)
		return FANOUT_MAX_DOWNSTREAMS;
	return set->table[slot];
}

/* The position's entry of the weighted order; plain position % count for a set without one. */
static __always_inline __u32 round_robin_index(const struct fanout_downstream_set *set, __u32 position)
{
	__u32 len = set->order_len;
	if (len == 0 || len > FANOUT_MAGLEV_TABLE_SIZE)
		return position % set->count;
	return table_entry(set, position % len);
}

/* The index in a usable set of the datagram's downstream; FANOUT_MAX_DOWNSTREAMS or more if none (a daemon bug:
 * the tables are built for their very set, so an index past its end is never followed). hash_slot is the source's
 * Maglev slot (fanout_source_slot or fanout_source6_slot, by the datagram's family), read under source_hash only. */
static __always_inline __u32 choose_downstream(const struct fanout_downstream_set *set, __u8 balance, __u32 hash_slot,
					       __u32 position)
{
	__u32 index;
	if (balance == FANOUT_BALANCE_SOURCE_HASH)
		index = table_entry(set, hash_slot);
	else
		index = round_robin_index(set, position);
	return index < set->count ? index : FANOUT_MAX_DOWNSTREAMS;
}

/* Counts a datagram sent to a downstream in its counter slot, whichever program sent it. */
static __always_inline void count_downstream(__u16 slot, __u64 payload)
{
	__u32 key = slot;
	struct fanout_counter *per_downstream = bpf_map_lookup_elem(&slot_stats, &key);
	if (per_downstream) {
		per_downstream->packets++;
		per_downstream->bytes += payload;
	}
}

#endif

/* This file contains every map of the tc program, each with a one-line purpose; its XDP layer shares them (the
 * daemon hands it the tc program's maps before load). */
#ifndef UDP_FANOUT_MAPS_H
#define UDP_FANOUT_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "fanout_shared.h"

/* Template of the inner map: one fanout_downstream_set per family, keyed FANOUT_FAMILY_*. The daemon creates a
 * filled copy per update. */
struct downstream_set_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FANOUT_FAMILY_COUNT);
	/* Sizes, not types: clang emits the struct only as a forward declaration in this position. */
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(struct fanout_downstream_set));
};

/* Slot 0 holds the current downstream sets; replacing it waits for running programs (synchronize_rcu). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct downstream_set_map);
} downstream_sets SEC(".maps");

/* Round-robin position, one per CPU so no two CPUs contend on it. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} rr_position SEC(".maps");

/* Per-verdict counters, indexed by enum fanout_tc_stat. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FANOUT_TC_STAT_COUNT);
	__type(key, __u32);
	__type(value, struct fanout_counter);
} stats SEC(".maps");

/* Forwarded counters per downstream slot. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FANOUT_MAX_SLOTS);
	__type(key, __u32);
	__type(value, struct fanout_counter);
} slot_stats SEC(".maps");

/* The route cache's epoch per family, keyed FANOUT_FAMILY_*: the daemon moves it on whenever the kernel reports a
 * change that a cached route may depend on, and sets it to 0 (no cache: every datagram is looked up) while a route
 * may depend on more than the destination (policy rules, multipath, TOS or source routes). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FANOUT_FAMILY_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} route_epochs SEC(".maps");

/* bpf_fib_lookup's answer per downstream slot, per CPU, so that no CPU reads an entry another one is writing. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FANOUT_MAX_SLOTS);
	__type(key, __u32);
	__type(value, struct fanout_route);
} route_cache SEC(".maps");

#endif

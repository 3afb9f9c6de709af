/* This file contains the maps of the tc_ebpf listener's XDP layer that the tc program does not have; the set,
 * position and per-downstream maps it shares with the tc program are in fanout_maps.h. The layer's tracepoint
 * program (tc_fanout_xmit.bpf.c) shares these two with it. */
#ifndef UDP_FANOUT_TC_XDP_MAPS_H
#define UDP_FANOUT_TC_XDP_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "fanout_shared.h"

/* The interfaces that can transmit XDP frames now, by ifindex; the daemon keeps it current. A route out of an
 * interface that is not here goes to the tc program, which sends through the stack. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u32);
} xdp_egress SEC(".maps");

/* Per-verdict counters, indexed by enum fanout_tc_xdp_stat; TRANSMIT_FAILED is the tracepoint program's. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FANOUT_TC_XDP_STAT_COUNT);
	__type(key, __u32);
	__type(value, struct fanout_counter);
} tc_xdp_stats SEC(".maps");

#endif

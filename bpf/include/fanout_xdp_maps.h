/* This file contains every map of the XDP program, each with a one-line purpose. */
#ifndef UDP_FANOUT_XDP_MAPS_H
#define UDP_FANOUT_XDP_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "fanout_shared.h"

/* The AF_XDP socket of each RX queue, filled by the daemon's forwarders; sized to the interface's queues at load. */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, FANOUT_MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

/* Per-verdict counters, indexed by enum fanout_xdp_stat. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FANOUT_XDP_STAT_COUNT);
	__type(key, __u32);
	__type(value, struct fanout_counter);
} xdp_stats SEC(".maps");

#endif

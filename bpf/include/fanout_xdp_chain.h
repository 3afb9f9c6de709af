/* This file contains the chain that lets several listeners share an interface's one XDP slot.
 *
 * The daemon attaches xdp_chain.bpf.c to the interface through a BPF link and puts each listener's XDP program
 * (af_xdp steering, a tc_ebpf listener's XDP layer) in a slot of its prog array. The root tail-calls the first
 * filled slot; a listener's program acts on its own listener's datagrams and sends everything else on to the
 * next filled slot after its own, and the last one lets it pass to the stack. A missing slot is skipped (a failed
 * tail call returns), so listeners come and go without relinking the others. */
#ifndef UDP_FANOUT_XDP_CHAIN_H
#define UDP_FANOUT_XDP_CHAIN_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "fanout_shared.h"

/* The interface's listener programs by slot; one map per interface, created with the root and shared before load. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, FANOUT_XDP_CHAIN_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} xdp_chain SEC(".maps");

/* Runs the first listener program in a slot from `first` on; XDP_PASS when there is none. */
static __always_inline int xdp_chain_from(struct xdp_md *ctx, __u32 first)
{
	for (__u32 slot = first; slot < FANOUT_XDP_CHAIN_SLOTS; slot++)
		bpf_tail_call(ctx, &xdp_chain, slot);
	return XDP_PASS;
}

#endif

// SPDX-License-Identifier: GPL-2.0
/* The root of an interface's XDP chain (include/fanout_xdp_chain.h): the one program in the interface's XDP slot,
 * attached through a BPF link, which runs the listener programs of the interface in slot order. With no listener
 * program in the chain everything passes to the stack. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "include/fanout_xdp_chain.h"

SEC("xdp")
int xdp_chain_root(struct xdp_md *ctx)
{
	return xdp_chain_from(ctx, 0);
}

char LICENSE[] SEC("license") = "GPL";

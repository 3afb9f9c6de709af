/* This file contains the structs and enums shared between the BPF programs and the daemon's C# side
 * (src/UdpFanout/Forwarding/TcEbpf/). Their layouts are checked by tests against the C# definitions. */
#ifndef UDP_FANOUT_SHARED_H
#define UDP_FANOUT_SHARED_H

#include <linux/types.h>

/* The most downstreams one listener can have, and the number of per-downstream counter slots. */
#define FANOUT_MAX_DOWNSTREAMS 256

/* What the listener matches; set before load as a const volatile global (.rodata). */
struct fanout_listener {
	__be32 addr; /* 0 = any destination address */
	__be16 port;
	__u16 pad;
};

struct fanout_downstream {
	__be32 addr;
	__be16 port;
	__u16 slot; /* index into slot_stats, stable for the downstream's lifetime */
};

/* The whole downstream set, swapped as one inner map so a program sees either the old or the new set. */
struct fanout_downstream_set {
	__u32 count;
	__u32 pad;
	struct fanout_downstream downstreams[FANOUT_MAX_DOWNSTREAMS];
};

struct fanout_counter {
	__u64 packets;
	__u64 bytes; /* UDP payload bytes */
};

/* Per-verdict counters of the tc program, indexed by this enum (mirrored by TcStat in C#). */
enum fanout_tc_stat {
	FANOUT_TC_FORWARDED = 0,
	FANOUT_TC_NO_DOWNSTREAM = 1,     /* dropped: the set is empty */
	FANOUT_TC_NO_ROUTE = 2,          /* dropped: bpf_fib_lookup found no way to the downstream */
	FANOUT_TC_REDIRECT_FAILED = 3,   /* dropped: bpf_redirect_neigh refused */
	FANOUT_TC_PASS_FRAGMENT = 4,     /* to the stack: reassembled there, forwarded by the fallback socket */
	FANOUT_TC_PASS_TTL = 5,          /* to the stack: TTL would expire on the next hop */
	FANOUT_TC_PASS_FRAG_NEEDED = 6,  /* to the stack: larger than the egress MTU; the fallback fragments it */
	FANOUT_TC_PASS_FORWARDING_DISABLED = 7, /* to the stack: the ingress device does not forward */
	/* Also counted as forwarded: redirected while the next hop's neighbour was unresolved. The kernel holds
	 * these until the neighbour answers and drops them if it never does, past what the program can see. */
	FANOUT_TC_FORWARDED_UNRESOLVED = 8,
	FANOUT_TC_STAT_COUNT = 9,
};

/* Per-verdict counters of the XDP program, indexed by this enum (mirrored by XdpStat in C#). */
enum fanout_xdp_stat {
	FANOUT_XDP_REDIRECTED = 0,      /* to the AF_XDP socket of the receiving queue */
	FANOUT_XDP_NO_SOCKET = 1,       /* the queue has no socket: passed to the stack, the fallback forwards it */
	FANOUT_XDP_PASS_FRAGMENT = 2,   /* to the stack: reassembled there, forwarded by the fallback socket */
	FANOUT_XDP_STAT_COUNT = 3,
};

/* The most RX queues the af_xdp mode serves on one interface. */
#define FANOUT_MAX_QUEUES 64

#endif

/* This file contains everything the BPF programs share with the daemon's C# side: constants, structs and enums.
 * Its one C# copy is src/UdpFanout/Interop/Fanout/Interop.FanoutShared.cs; the contract tests
 * (tests/UdpFanout.Tests/Interop/) compile this header and prove that every constant, enum member and struct
 * layout is the same on both sides, and that the map and program names the daemon looks up are the objects'. */
#ifndef UDP_FANOUT_SHARED_H
#define UDP_FANOUT_SHARED_H

#include <linux/types.h>

/* The most downstreams one listener can have. */
#define FANOUT_MAX_DOWNSTREAMS 256
/* Per-downstream counter slots: twice the set, so a set can be replaced whole at the limit. The slots of the
 * downstreams that leave are still in use by programs running on the old set until the swap returns. */
#define FANOUT_MAX_SLOTS (2 * FANOUT_MAX_DOWNSTREAMS)

/* Slots of the Maglev table of balance: source_hash; a prime, so every downstream's walk reaches every slot. */
#define FANOUT_MAGLEV_TABLE_SIZE 65537

/* Listener programs one interface's XDP slot can chain (xdp_chain.bpf.c tail-calls them in slot order). */
#define FANOUT_XDP_CHAIN_SLOTS 16

/* The XSKMAP's size as compiled. The daemon resizes the map to the interface's RX queue count before load
 * (bpf_map__set_max_entries), so this does not bound how many queues the af_xdp mode serves. */
#define FANOUT_MAX_QUEUES 64

/* fanout_downstream_set.flags: the set is empty because health checks took every downstream out, not because
 * none is configured; the program then drops with FANOUT_TC_NO_HEALTHY_DOWNSTREAM. */
#define FANOUT_SET_ALL_UNHEALTHY 1
/* fanout_downstream_set.flags: this family's set is empty but the other family's is not; the program passes the
 * datagram to the fallback socket (FANOUT_TC_PASS_OTHER_FAMILY), which can send it to a downstream of either. */
#define FANOUT_SET_OTHER_FAMILY 2

/* The key of each family's set in the inner map: a datagram goes in the kernel only to a downstream of its own
 * family (the program cannot turn IPv4 into IPv6), so each family has its own set and Maglev table, and the two
 * travel in one inner map, swapped together. */
#define FANOUT_FAMILY_IPV4 0
#define FANOUT_FAMILY_IPV6 1
#define FANOUT_FAMILY_COUNT 2

/* fanout_listener.families: which address families the listener receives. */
#define FANOUT_LISTEN_IPV4 1
#define FANOUT_LISTEN_IPV6 2

/* fanout_listener.balance: round robin (per-CPU position), or the Maglev table of the set by source hash. */
#define FANOUT_BALANCE_ROUND_ROBIN 0
#define FANOUT_BALANCE_SOURCE_HASH 1
/* fanout_listener.hash_key: what FANOUT_BALANCE_SOURCE_HASH hashes. */
#define FANOUT_HASH_SOURCE_IP 0
#define FANOUT_HASH_SOURCE_IP_PORT 1

/* What the listener matches and how it balances; set before load as a const volatile global (.rodata). */
struct fanout_listener {
	__be32 addr; /* IPv4 destination; 0 = any */
	__be16 port;
	__u8 balance;  /* FANOUT_BALANCE_* */
	__u8 hash_key; /* FANOUT_HASH_* */
	__be32 addr6[4]; /* IPv6 destination; all zero (::) = any */
	__u8 families;   /* FANOUT_LISTEN_*: a listener on :: receives both, as a dual-stack socket does */
	__u8 pad[3];
	/* The program's slot in its interface's XDP chain: what is not its listener's goes on to the later slots. */
	__u32 xdp_chain_slot;
};

/* One address field for both families rather than a second array for IPv6: a set holds one family only (its key
 * in the inner map says which), so a union-like field keeps one struct, one layout and one copy of the set code. */
struct fanout_downstream {
	__be32 addr[4]; /* IPv4: addr[0], the rest zero; IPv6: all 16 bytes */
	__be16 port;
	__u16 slot; /* index into slot_stats, stable for the downstream's lifetime */
};

/* One family's downstream set. Both families' sets are the two entries of one inner map, swapped as a whole, so a
 * program sees either the old or the new sets. */
struct fanout_downstream_set {
	__u32 count;
	__u32 flags; /* FANOUT_SET_* */
	/* FANOUT_BALANCE_ROUND_ROBIN: how many entries of table hold the weighted order (0 = plain position % count). */
	__u32 order_len;
	struct fanout_downstream downstreams[FANOUT_MAX_DOWNSTREAMS];
	/* An index in downstreams per entry (256 fit a byte), so the policy's state travels and swaps with its set.
	 * FANOUT_BALANCE_SOURCE_HASH: the Maglev table, slot to index (Balancing/MaglevTable.cs).
	 * FANOUT_BALANCE_ROUND_ROBIN: the first order_len entries are one cycle of the smooth weighted order
	 * (Balancing/RoundRobinPolicy.cs), walked by the per-CPU position. */
	__u8 table[FANOUT_MAGLEV_TABLE_SIZE];
};

/* What bpf_fib_lookup answered for one downstream, kept in the route cache of a tc_ebpf listener (fanout_maps.h:
 * route_cache, one per counter slot and CPU) and used only while its epoch is its family's current one
 * (route_epochs). Only a route that was found is kept: no route, forwarding disabled and the like are looked up
 * for every datagram, as without a cache. */
struct fanout_route {
	__u64 epoch;           /* route_epochs[family] when it was looked up; never 0 */
	__be32 daddr[4];       /* the downstream it answers for (IPv4: daddr[0]), as the slot may be given to another */
	__be32 next_hop[4];    /* the gateway, or the downstream itself; IPv4: next_hop[0] */
	__u32 ingress_ifindex; /* the device the lookup was made from */
	__u32 ifindex;         /* the egress device */
	__u16 mtu;             /* the route's MTU, which a datagram's IP length must not exceed */
	__u8 nh_family;        /* AF_INET or AF_INET6: an IPv4 route may have an IPv6 gateway */
	__u8 resolved;         /* 1: the next hop's neighbour was valid and dmac holds its address */
	__u8 dmac[6];
	__u8 smac[6];          /* the egress device's address */
};

struct fanout_counter {
	__u64 packets;
	__u64 bytes; /* UDP payload bytes */
};

/* Per-verdict counters of the tc program, indexed by this enum. */
enum fanout_tc_stat {
	FANOUT_TC_FORWARDED = 0,
	FANOUT_TC_NO_DOWNSTREAM = 1,     /* dropped: no downstream is configured */
	FANOUT_TC_NO_ROUTE = 2,          /* dropped: bpf_fib_lookup found no way to the downstream */
	FANOUT_TC_REDIRECT_FAILED = 3,   /* dropped: bpf_redirect_neigh refused */
	FANOUT_TC_PASS_FRAGMENT = 4,     /* to the stack: reassembled there, forwarded by the fallback socket (IPv4, IPv6) */
	FANOUT_TC_TTL_EXPIRED = 5,       /* dropped: TTL or hop limit would expire on the next hop, as a router drops it */
	FANOUT_TC_PASS_FRAG_NEEDED = 6,  /* to the stack: larger than the egress MTU; the fallback fragments it */
	FANOUT_TC_PASS_FORWARDING_DISABLED = 7, /* to the stack: the ingress device does not forward */
	FANOUT_TC_NO_HEALTHY_DOWNSTREAM = 8,    /* dropped: health checks took every downstream out */
	FANOUT_TC_PASS_BAD_HEADER = 9,   /* to the stack, which drops it: an IP header (or IPv6 UDP zero checksum) the kernel refuses */
	/* Also counted as forwarded: redirected while the next hop's neighbour was unresolved. The kernel holds
	 * these until the neighbour answers and drops them if it never does, past what the program can see. */
	FANOUT_TC_FORWARDED_UNRESOLVED = 10,
	FANOUT_TC_PASS_EXTENSION_HEADER = 11, /* to the stack: IPv6 with an extension header before UDP */
	FANOUT_TC_PASS_OTHER_FAMILY = 12, /* to the stack: no downstream of the datagram's family, the fallback sends it */
	FANOUT_TC_STAT_COUNT = 13,
};

/* Per-verdict counters of the tc_ebpf listener's XDP layer (tc_fanout_xdp.bpf.c), indexed by this enum. Only
 * FORWARDED ends a datagram there; every other verdict of the layer passes it on unchanged to the tc program, which
 * counts it again as received, so only FORWARDED joins the listener's received and forwarded. TRANSMIT_FAILED is
 * the tracepoint program's (tc_fanout_xmit.bpf.c): frames counted FORWARDED that the egress device then dropped. */
enum fanout_tc_xdp_stat {
	FANOUT_TC_XDP_FORWARDED = 0,          /* rewritten and sent at XDP (redirect or XDP_TX) */
	FANOUT_TC_XDP_PASS_FRAGMENT = 1,      /* to tc: a fragment (IPv4, or IPv6 with a fragment header) */
	FANOUT_TC_XDP_PASS_BAD_HEADER = 2,    /* to tc: an IP header (or IPv6 zero UDP checksum) the kernel would refuse */
	FANOUT_TC_XDP_PASS_TTL = 3,           /* to tc, which drops it: the TTL or hop limit would expire */
	FANOUT_TC_XDP_PASS_NO_DOWNSTREAM = 4, /* to tc: the datagram's family's set is empty; tc drops it or passes it on */
	FANOUT_TC_XDP_PASS_VLAN = 5,          /* to tc: a VLAN-tagged frame (tc sees it untagged, with the tag aside) */
	FANOUT_TC_XDP_PASS_NO_NEIGH = 6,      /* to tc: the next hop's neighbour is unresolved, bpf_redirect_neigh resolves it */
	FANOUT_TC_XDP_PASS_FIB = 7,           /* to tc: the route lookup said frag needed, forwarding disabled or no route */
	FANOUT_TC_XDP_PASS_EGRESS = 8,        /* to tc: the egress interface cannot take XDP frames now */
	FANOUT_TC_XDP_REDIRECT_FAILED = 9,    /* to tc: bpf_redirect_map refused the egress */
	FANOUT_TC_XDP_PASS_UDP_CHECKSUM = 10, /* to tc: a UDP checksum that does not verify, e.g. a local sender's offload seed */
	FANOUT_TC_XDP_PASS_EXTENSION_HEADER = 11, /* to tc: IPv6 with an extension header before UDP */
	FANOUT_TC_XDP_TRANSMIT_FAILED = 12,   /* counted FORWARDED, then dropped by the egress device (xdp:xdp_devmap_xmit) */
	FANOUT_TC_XDP_STAT_COUNT = 13,
};

/* Which redirects the tracepoint program of a tc_ebpf listener's XDP layer (tc_fanout_xmit.bpf.c) counts: those
 * from the listener's interface, named by its index and its network namespace's cookie (SO_NETNS_COOKIE), since
 * the tracepoint reports every namespace's devices and an index is unique only within one. Set before load as a
 * const volatile global (.rodata). */
struct fanout_xmit_watch {
	__u64 netns_cookie;
	__u32 ifindex;
	__u32 pad;
};

/* Per-verdict counters of the XDP program, indexed by this enum. */
enum fanout_xdp_stat {
	FANOUT_XDP_REDIRECTED = 0,      /* to the AF_XDP socket of the receiving queue */
	FANOUT_XDP_NO_SOCKET = 1,       /* the queue has no socket: passed to the stack, the fallback forwards it */
	FANOUT_XDP_PASS_FRAGMENT = 2,   /* to the stack: reassembled there, forwarded by the fallback socket */
	FANOUT_XDP_PASS_EXTENSION_HEADER = 3, /* to the stack: IPv6 with an extension header, for the fallback socket */
	FANOUT_XDP_STAT_COUNT = 4,
};

#endif

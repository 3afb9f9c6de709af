/* This file contains the source hash of balance: source_hash. It must equal src/UdpFanout/Balancing/SourceHash.cs
 * bit for bit: a test runs the tc program through BPF_PROG_TEST_RUN for 100,000 random sources of each family and compares its
 * choice with the C# one, so every mode, and every proxy, sends a source to the same downstream. */
#ifndef UDP_FANOUT_HASH_H
#define UDP_FANOUT_HASH_H

#include <linux/types.h>
#include <bpf/bpf_endian.h>
#include "fanout_shared.h"

/* MurmurHash3's 64-bit finalizer: every input bit moves every output bit, a few instructions in BPF. */
static __always_inline __u64 fanout_mix(__u64 k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdULL;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ULL;
	k ^= k >> 33;
	return k;
}

/* The Maglev table slot of a source: its address (host order) above its port, the port left out for
 * FANOUT_HASH_SOURCE_IP. */
static __always_inline __u32 fanout_source_slot(__be32 saddr, __be16 sport, __u8 hash_key)
{
	__u64 key = (__u64)bpf_ntohl(saddr) << 16;
	if (hash_key == FANOUT_HASH_SOURCE_IP_PORT)
		key |= bpf_ntohs(sport);
	return (__u32)(fanout_mix(key) % FANOUT_MAGLEV_TABLE_SIZE);
}

/* The Maglev table slot of an IPv6 source: the address as four big-endian words w0..w3, a = w0:w1 and b = w2:w3,
 * hashed as mix(a ^ mix(b ^ mix(port))), the port 0 for FANOUT_HASH_SOURCE_IP (mix(0) is 0). The inner mix keeps
 * the two halves from cancelling each other out, as a ^ b would for fd00::1 and ::fd00:0:0:0:1; the port's keeps the
 * address's low bits and the port from cancelling, as b ^ port would for fd00::1 port 40001 and fd00::2 port 40002. */
static __always_inline __u32 fanout_source6_slot(const __be32 saddr[4], __be16 sport, __u8 hash_key)
{
	__u64 a = (__u64)bpf_ntohl(saddr[0]) << 32 | bpf_ntohl(saddr[1]);
	__u64 b = (__u64)bpf_ntohl(saddr[2]) << 32 | bpf_ntohl(saddr[3]);
	__u64 port = hash_key == FANOUT_HASH_SOURCE_IP_PORT ? bpf_ntohs(sport) : 0;
	return (__u32)(fanout_mix(a ^ fanout_mix(b ^ fanout_mix(port))) % FANOUT_MAGLEV_TABLE_SIZE);
}

#endif

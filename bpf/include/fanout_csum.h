/* This file contains the checksum-preserving header rewrites of the tc program. The kernel helpers update
 * the IPv4 and UDP checksums incrementally; for skbs with CHECKSUM_PARTIAL (from local senders) they adjust
 * the pseudo-header seed instead, and BPF_F_MARK_MANGLED_0 leaves a zero UDP checksum (none) at zero. */
#ifndef UDP_FANOUT_CSUM_H
#define UDP_FANOUT_CSUM_H

#include <linux/bpf.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <stddef.h>
#include <bpf/bpf_helpers.h>

/* Rewrites the destination address; it is part of both the IPv4 header and the UDP pseudo-header. */
static __always_inline int rewrite_daddr(struct __sk_buff *skb, __u32 ip_off, __u32 udp_off, __be32 old_addr, __be32 new_addr)
{
	int err;

	err = bpf_l4_csum_replace(skb, udp_off + offsetof(struct udphdr, check), old_addr, new_addr,
				  BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | sizeof(new_addr));
	if (err)
		return err;
	err = bpf_l3_csum_replace(skb, ip_off + offsetof(struct iphdr, check), old_addr, new_addr, sizeof(new_addr));
	if (err)
		return err;
	return bpf_skb_store_bytes(skb, ip_off + offsetof(struct iphdr, daddr), &new_addr, sizeof(new_addr), 0);
}

static __always_inline int rewrite_dport(struct __sk_buff *skb, __u32 udp_off, __be16 old_port, __be16 new_port)
{
	int err;

	err = bpf_l4_csum_replace(skb, udp_off + offsetof(struct udphdr, check), old_port, new_port,
				  BPF_F_MARK_MANGLED_0 | sizeof(new_port));
	if (err)
		return err;
	return bpf_skb_store_bytes(skb, udp_off + offsetof(struct udphdr, dest), &new_port, sizeof(new_port), 0);
}

/* TTL shares a 16-bit checksum word with the protocol byte; only the IPv4 checksum covers it. */
static __always_inline int decrement_ttl(struct __sk_buff *skb, __u32 ip_off, __u8 ttl, __u8 protocol)
{
	__be16 old_word = bpf_htons(((__u16)ttl << 8) | protocol);
	__be16 new_word = bpf_htons(((__u16)(ttl - 1) << 8) | protocol);
	__u8 new_ttl = ttl - 1;
	int err;

	err = bpf_l3_csum_replace(skb, ip_off + offsetof(struct iphdr, check), old_word, new_word, sizeof(new_word));
	if (err)
		return err;
	return bpf_skb_store_bytes(skb, ip_off + offsetof(struct iphdr, ttl), &new_ttl, sizeof(new_ttl), 0);
}

#endif

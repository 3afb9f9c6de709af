/* This file contains the checksum-preserving header rewrites of the tc program and its XDP layer.
 *
 * The IPv4 header is rewritten in place and its checksum updated incrementally here (RFC 1624): it is always
 * complete, whoever sent the packet, and direct writes are much cheaper than a helper call per field.
 * The UDP checksum goes through bpf_l4_csum_replace, because only the kernel knows whether the skb carries a
 * complete checksum or a CHECKSUM_PARTIAL seed from a local sender (then only the pseudo-header part, the
 * address, may change it); BPF_F_MARK_MANGLED_0 leaves a zero UDP checksum (none) at zero. */
#ifndef UDP_FANOUT_CSUM_H
#define UDP_FANOUT_CSUM_H

#include <linux/bpf.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <stddef.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>
#include "fanout_consts.h"

static __always_inline __u16 csum_fold32(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/* True when the IPv4 header, options included, sums to all ones (RFC 1071), the check ip_rcv_core makes. The
 * words are summed in whatever byte order they load in: a one's complement sum is the same in either, and all
 * ones reads the same both ways. The caller checked that the IHL is at least 5 and that the fixed 20 bytes are in
 * bounds, so the usual header costs five loads and no further check; options are bounds-checked word by word. */
static __always_inline bool ipv4_csum_valid(const struct iphdr *ip, void *data_end)
{
	const __u32 *word = (const __u32 *)ip;
	__u64 sum = (__u64)word[0] + word[1] + word[2] + word[3] + word[4];

#pragma unroll
	for (int i = IPV4_MIN_HLEN / 4; i < IPV4_MAX_HLEN / 4; i++) {
		if (i >= ip->ihl)
			break;
		if ((void *)(word + i + 1) > data_end)
			return false;
		sum += word[i];
	}
	sum = (sum & 0xffffffff) + (sum >> 32);
	return csum_fold32((__u32)sum + (__u32)(sum >> 32)) == 0xffff;
}

/* One's complement sum of the change from old to new, for 32 bits given as two 16-bit words. */
static __always_inline __u32 csum_change32(__be32 old_value, __be32 new_value)
{
	return (__u16)~(old_value & 0xffff) + (__u16)~(old_value >> 16) + (new_value & 0xffff) + (new_value >> 16);
}

/* Sends the packet to new_addr as a router would: destination rewritten, TTL decremented (it shares a 16-bit
 * checksum word with the protocol byte), header checksum updated. The caller checked that ip is in bounds. */
static __always_inline void rewrite_ipv4(struct iphdr *ip, __be32 new_addr)
{
	__be16 *ttl_word = (__be16 *)&ip->ttl;
	__be16 old_ttl_word = *ttl_word;
	__u32 sum = (__u16)~ip->check + csum_change32(ip->daddr, new_addr);

	ip->daddr = new_addr;
	ip->ttl--;
	sum += (__u16)~old_ttl_word + *ttl_word;
	ip->check = (__sum16)~csum_fold32(sum);
}

/* Updates the UDP checksum for a new destination address (pseudo-header) and port; the port itself is written by
 * the caller. These helpers may move the packet: no pointer into it is valid afterwards. */
static __always_inline int update_udp_csum(struct __sk_buff *skb, __u32 udp_off, __be32 old_addr, __be32 new_addr,
					   __be16 old_port, __be16 new_port)
{
	__u32 check = udp_off + offsetof(struct udphdr, check);
	int err;

	err = bpf_l4_csum_replace(skb, check, old_addr, new_addr, BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | sizeof(new_addr));
	if (err)
		return err;
	return bpf_l4_csum_replace(skb, check, old_port, new_port, BPF_F_MARK_MANGLED_0 | sizeof(new_port));
}

/* The most UDP bytes (header and payload) whose checksum the XDP layer checks, those of a 1,500-byte MTU frame: the
 * verifier refuses a loop much longer. Longer datagrams go to the tc program. */
#define UDP_CSUM_MAX_WORDS (1480 / 4)

/* The one's complement sum of IPv4's pseudo-header for a UDP datagram, as udp_csum_valid takes it: the words as
 * they load, in whatever byte order, since the sum is the same in either. */
static __always_inline __u64 udp4_pseudo_sum(__be32 saddr, __be32 daddr, const struct udphdr *udp)
{
	return (__u64)saddr + daddr + (__u16)bpf_htons(IPPROTO_UDP_NUM) + udp->len;
}

/* Whether the UDP checksum covers the datagram as it stands, given its pseudo-header's sum (udp4_pseudo_sum,
 * udp6_pseudo_sum); the caller deals with a zero checksum, which is none in IPv4 and invalid in IPv6. A frame off
 * the wire carries a complete checksum, but one that a local sender put on a veth may carry only checksum
 * offload's pseudo-header seed (CHECKSUM_PARTIAL), which XDP cannot see: updated incrementally and sent on as an
 * XDP frame it would arrive with a wrong checksum. The tc program gets those, where the kernel knows which kind it
 * is. As in ipv4_csum_valid, words are summed as they load: the one's complement sum is the same in either byte
 * order. */
static __always_inline bool udp_csum_valid(const struct udphdr *udp, __u64 sum, void *data_end)
{
	__u32 len = bpf_ntohs(udp->len);
	const __u32 *word = (const __u32 *)udp;

	for (__u32 i = 0; i < UDP_CSUM_MAX_WORDS; i++) {
		if (i * 4 + 4 > len)
			break;
		if ((void *)(word + i + 1) > data_end)
			return false;
		sum += word[i];
	}
	if (len > UDP_CSUM_MAX_WORDS * 4)
		return false;
	const __u8 *tail = (const __u8 *)udp + (len & ~3u);
	if (len & 2) {
		if ((void *)(tail + 2) > data_end)
			return false;
		sum += *(const __u16 *)tail;
		tail += 2;
	}
	if (len & 1) {
		if ((void *)(tail + 1) > data_end)
			return false;
		sum += *tail; /* the odd byte, padded with a zero byte after it */
	}
	sum = (sum & 0xffffffff) + (sum >> 32);
	return csum_fold32((__u32)sum + (__u32)(sum >> 32)) == 0xffff;
}

/* The XDP layer's UDP update, written directly: a frame at XDP came off the wire with a complete checksum (or, in
 * IPv4, none: 0, which stays 0). addr_change is the pseudo-header's change (csum_change32 of the IPv4 address,
 * csum_change128 of the IPv6 one). The new sum of 0 is sent as all ones, its other form: 0 means no checksum in
 * IPv4 and is invalid in IPv6. */
static __always_inline void rewrite_udp_dest(struct udphdr *udp, __u32 addr_change, __be16 new_port)
{
	__be16 old_port = udp->dest;

	udp->dest = new_port;
	if (udp->check == 0)
		return;
	__u32 sum = (__u16)~udp->check + addr_change + (__u16)~old_port + new_port;
	__u16 check = ~csum_fold32(sum);
	udp->check = check ? check : 0xffff;
}

#endif

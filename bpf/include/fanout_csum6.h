/* This file contains the IPv6 header rewrite of the tc program and its XDP layer, and their UDP checksum work.
 *
 * IPv6 has no header checksum: the destination and hop limit are written directly. The UDP checksum covers the
 * destination address through the pseudo-header. The tc program updates it through bpf_l4_csum_replace as in
 * fanout_csum.h, with the 16-byte address change given as its one's complement sum (csum_change128); the XDP layer checks it and writes it
 * directly (fanout_csum.h's udp_csum_valid and rewrite_udp_dest, with the sums below). A zero UDP checksum is
 * invalid in IPv6 (RFC 8200 section 8.1): both programs pass such datagrams on to the stack, which drops them, and
 * a computed zero is written as 0xffff (BPF_F_MARK_MANGLED_0 in tc, rewrite_udp_dest at XDP), so the rewrite never
 * produces one. */
#ifndef UDP_FANOUT_CSUM6_H
#define UDP_FANOUT_CSUM6_H

#include <linux/bpf.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <linux/errno.h>
#include <stddef.h>
#include <bpf/bpf_helpers.h>
#include "fanout_consts.h"
#include "fanout_csum.h"

/* Sends the packet to new_addr as a router would: destination rewritten, hop limit decremented. The caller
 * checked that ip is in bounds. */
static __always_inline void rewrite_ipv6(struct ipv6hdr *ip, const __be32 new_addr[4])
{
	__be32 *daddr = (__be32 *)&ip->daddr;

	daddr[0] = new_addr[0];
	daddr[1] = new_addr[1];
	daddr[2] = new_addr[2];
	daddr[3] = new_addr[3];
	ip->hop_limit--;
}

/* One's complement sum of the change from old to new, for a 16-byte address (rewrite_udp_dest's addr_change). */
static __always_inline __u32 csum_change128(const __be32 old_value[4], const __be32 new_value[4])
{
	return csum_change32(old_value[0], new_value[0]) + csum_change32(old_value[1], new_value[1]) +
	       csum_change32(old_value[2], new_value[2]) + csum_change32(old_value[3], new_value[3]);
}

/* Updates the UDP checksum for a new destination address (pseudo-header) and port; the port itself is written by
 * the caller. BPF_F_IPV6 (Linux 6.16) tells the helper that the address it sees changing is not under a header
 * checksum, so a CHECKSUM_COMPLETE skb keeps a right skb->csum; older kernels refuse the flag with EINVAL before
 * touching anything, and get the call without it. These helpers may move the packet: no pointer into it is valid
 * afterwards. */
static __always_inline int update_udp6_csum(struct __sk_buff *skb, __u32 udp_off, __be32 old_addr[4], __be32 new_addr[4],
					    __be16 old_port, __be16 new_port)
{
	__u32 check = udp_off + offsetof(struct udphdr, check);
	/* Summed here rather than by bpf_csum_diff: one helper call less per datagram. */
	__u32 diff = csum_change128(old_addr, new_addr);
	int err;

	err = bpf_l4_csum_replace(skb, check, 0, diff, BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | BPF_F_IPV6);
	if (err == -EINVAL)
		err = bpf_l4_csum_replace(skb, check, 0, diff, BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0);
	if (err)
		return err;
	return bpf_l4_csum_replace(skb, check, old_port, new_port, BPF_F_MARK_MANGLED_0 | sizeof(new_port));
}

/* The one's complement sum of IPv6's pseudo-header for a UDP datagram without extension headers, as udp_csum_valid
 * takes it: both addresses, the upper-layer length (the UDP length) and the next header, as the words load. */
static __always_inline __u64 udp6_pseudo_sum(const struct ipv6hdr *ip, const struct udphdr *udp)
{
	const __u32 *saddr = (const __u32 *)&ip->saddr;
	const __u32 *daddr = (const __u32 *)&ip->daddr;

	return (__u64)saddr[0] + saddr[1] + saddr[2] + saddr[3] + daddr[0] + daddr[1] + daddr[2] + daddr[3] +
	       (__u16)bpf_htons(IPPROTO_UDP_NUM) + udp->len;
}

#endif

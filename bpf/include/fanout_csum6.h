/* This file contains the tc program's IPv6 header rewrite and its UDP checksum update.
 *
 * IPv6 has no header checksum: the destination and hop limit are written directly. The UDP checksum covers the
 * destination address through the pseudo-header, so its update goes through bpf_l4_csum_replace as in
 * fanout_csum.h, with the 16-byte address change given as a bpf_csum_diff. A zero UDP checksum is invalid in IPv6
 * (RFC 8200 section 8.1): the program passes such datagrams on to the stack, which drops them, and
 * BPF_F_MARK_MANGLED_0 writes a computed zero as 0xffff, so the rewrite never produces one. */
#ifndef UDP_FANOUT_CSUM6_H
#define UDP_FANOUT_CSUM6_H

#include <linux/bpf.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <linux/errno.h>
#include <stddef.h>
#include <bpf/bpf_helpers.h>
#include "fanout_consts.h"

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

/* Updates the UDP checksum for a new destination address (pseudo-header) and port; the port itself is written by
 * the caller. BPF_F_IPV6 (Linux 6.16) tells the helper that the address it sees changing is not under a header
 * checksum, so a CHECKSUM_COMPLETE skb keeps a right skb->csum; older kernels refuse the flag with EINVAL before
 * touching anything, and get the call without it. These helpers may move the packet: no pointer into it is valid
 * afterwards. */
static __always_inline int update_udp6_csum(struct __sk_buff *skb, __u32 udp_off, __be32 old_addr[4], __be32 new_addr[4],
					    __be16 old_port, __be16 new_port)
{
	__u32 check = udp_off + offsetof(struct udphdr, check);
	__s64 diff = bpf_csum_diff(old_addr, 16, new_addr, 16, 0);
	int err;

	if (diff < 0)
		return (int)diff;
	err = bpf_l4_csum_replace(skb, check, 0, diff, BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0 | BPF_F_IPV6);
	if (err == -EINVAL)
		err = bpf_l4_csum_replace(skb, check, 0, diff, BPF_F_PSEUDO_HDR | BPF_F_MARK_MANGLED_0);
	if (err)
		return err;
	return bpf_l4_csum_replace(skb, check, old_port, new_port, BPF_F_MARK_MANGLED_0 | sizeof(new_port));
}

#endif

/* This file contains the route query of the tc program and its XDP layer: the bpf_fib_lookup parameters for a
 * datagram to its downstream, in either family, filled as the kernel's own forwarding lookup fills them. */
#ifndef UDP_FANOUT_FIB_H
#define UDP_FANOUT_FIB_H

#include <linux/bpf.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_endian.h>
#include "fanout_consts.h"

/* The route from the client's address to daddr for the IPv4 datagram ip, as it came in on ifindex; fib is zeroed. */
static __always_inline void fib4_query(struct bpf_fib_lookup *fib, const struct iphdr *ip, __be32 daddr, __u32 ifindex)
{
	fib->family = AF_INET_NUM;
	fib->l4_protocol = IPPROTO_UDP_NUM;
	fib->tot_len = bpf_ntohs(ip->tot_len);
	fib->tos = ip->tos;
	fib->ipv4_src = ip->saddr;
	fib->ipv4_dst = daddr;
	fib->ifindex = ifindex;
}

/* The same for the IPv6 datagram ip to daddr; fib is zeroed. */
static __always_inline void fib6_query(struct bpf_fib_lookup *fib, const struct ipv6hdr *ip, const __be32 daddr[4], __u32 ifindex)
{
	fib->family = AF_INET6_NUM;
	fib->l4_protocol = IPPROTO_UDP_NUM;
	fib->tot_len = IPV6_HLEN + bpf_ntohs(ip->payload_len);
	/* Traffic class and flow label, as the kernel's own forwarding lookup takes them. */
	fib->flowinfo = *(const __be32 *)ip & bpf_htonl(0x0FFFFFFF);
	__builtin_memcpy(fib->ipv6_src, &ip->saddr, sizeof(fib->ipv6_src));
	__builtin_memcpy(fib->ipv6_dst, daddr, sizeof(fib->ipv6_dst));
	fib->ifindex = ifindex;
}

#endif

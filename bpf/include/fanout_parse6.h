/* This file contains the IPv6 parsing helpers: the fixed header, the extension headers between it and UDP, and
 * the length checks the kernel makes, each bounds-checked against the packet's end before any field is read.
 * fanout_parse.h finds the network header behind Ethernet for both families. */
#ifndef UDP_FANOUT_PARSE6_H
#define UDP_FANOUT_PARSE6_H

#include <stdbool.h>
#include <linux/types.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include "fanout_consts.h"

/* Where the headers of an IPv6 UDP packet are, as offsets from the start of the frame, and what lies between. */
struct udp6_packet {
	__u32 ip_off;
	__u32 udp_off;
	struct ipv6hdr *ip;
	struct udphdr *udp;
	bool extension_headers; /* one or more extension headers precede UDP */
	bool fragment;          /* one of them is a fragment header (offset 0: later fragments have no UDP header) */
};

/* The IPv6 fragment header (RFC 8200 section 4.5); the uapi headers do not declare it. */
struct ipv6_fragment_header {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off; /* offset in 8-byte units above three flag bits, the lowest being more-fragments */
	__be32 identification;
};

/* Finds the IPv6 header at ip_off with its fixed 40 bytes in bounds; whether it is valid is for the checks below. */
static __always_inline bool parse_ipv6_header(void *data, void *data_end, __u32 ip_off, struct udp6_packet *pkt)
{
	pkt->ip_off = ip_off;
	pkt->ip = data + ip_off;
	return (void *)(pkt->ip + 1) <= data_end;
}

/* Finds the UDP header behind the fixed header and at most IPV6_MAX_EXT_HEADERS extension headers; false for
 * other protocols, a cut header, a later fragment (no UDP header in it), or what cannot be walked (ESP). The
 * walk reads what is in the linear part: an extension header beyond it ends the walk, and the datagram goes on
 * to the stack as any other that is not the listener's, where the fallback socket gets it all the same. */
static __always_inline bool parse_udp6(void *data, void *data_end, struct udp6_packet *pkt)
{
	__u8 next = pkt->ip->nexthdr;
	__u32 off = pkt->ip_off + IPV6_HLEN;

#pragma unroll
	for (int i = 0; i < IPV6_MAX_EXT_HEADERS; i++) {
		if (next == IPPROTO_UDP_NUM)
			break;
		if (next == IPV6_NEXTHDR_FRAGMENT) {
			struct ipv6_fragment_header *frag = data + off;
			if ((void *)(frag + 1) > data_end || (frag->frag_off & IPV6_FRAG_OFFSET_BE) != 0)
				return false;
			pkt->fragment = true;
			next = frag->nexthdr;
			off += sizeof(*frag);
		} else if (next == IPV6_NEXTHDR_HOP || next == IPV6_NEXTHDR_ROUTING || next == IPV6_NEXTHDR_DEST ||
			   next == IPV6_NEXTHDR_AUTH) {
			struct ipv6_opt_hdr *opt = data + off;
			if ((void *)(opt + 1) > data_end)
				return false;
			/* AH counts its length in 4-byte units less 2, the others in 8-byte units less 1. */
			off += next == IPV6_NEXTHDR_AUTH ? ((__u32)opt->hdrlen + 2) * 4 : ((__u32)opt->hdrlen + 1) * 8;
			next = opt->nexthdr;
		} else {
			return false;
		}
		pkt->extension_headers = true;
		/* Keeps the offset's bound small for the verifier: no frame is longer than this. */
		off &= 0x3fff;
	}
	if (next != IPPROTO_UDP_NUM)
		return false;
	pkt->udp_off = off;
	pkt->udp = data + off;
	return (void *)(pkt->udp + 1) <= data_end;
}

/* The lengths ipv6_rcv checks, with room for the UDP header behind the extension headers: a payload length that
 * covers them and does not claim more than the frame holds. Bytes past it are link padding. */
static __always_inline bool ipv6_lengths_valid(const struct udp6_packet *pkt, __u32 frame_len)
{
	__u32 end = pkt->ip_off + IPV6_HLEN + bpf_ntohs(pkt->ip->payload_len);
	return pkt->udp_off + UDP_HLEN_BYTES <= end && end <= frame_len;
}

/* The UDP payload bytes of a datagram whose lengths are valid. */
static __always_inline __u32 ipv6_udp_payload(const struct udp6_packet *pkt)
{
	return pkt->ip_off + IPV6_HLEN + bpf_ntohs(pkt->ip->payload_len) - pkt->udp_off - UDP_HLEN_BYTES;
}

/* The listener's IPv6 address, or any when it is ::. */
static __always_inline bool ipv6_destination_matches(const struct ipv6hdr *ip, const volatile __be32 *want)
{
	const __be32 *daddr = (const __be32 *)&ip->daddr;
	if ((want[0] | want[1] | want[2] | want[3]) == 0)
		return true;
	return daddr[0] == want[0] && daddr[1] == want[1] && daddr[2] == want[2] && daddr[3] == want[3];
}

#endif

/* This file contains the packet parsing helpers: Ethernet (with one VLAN tag), IPv4 and UDP, each
 * bounds-checked against the packet's end before any field is read. IPv6 is fanout_parse6.h's. */
#ifndef UDP_FANOUT_PARSE_H
#define UDP_FANOUT_PARSE_H

#include <stdbool.h>
#include <linux/types.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include "fanout_consts.h"

/* Where the headers of an IPv4 UDP packet are, as offsets from the start of the frame. */
struct udp4_packet {
	__u32 ip_off;
	__u32 udp_off;
	struct iphdr *ip;
	struct udphdr *udp;
};

/* Finds the network header behind Ethernet and at most one 802.1Q/802.1ad tag: its EtherType and offset. */
static __always_inline bool parse_eth(void *data, void *data_end, __be16 *proto, __u32 *off)
{
	struct ethhdr *eth = data;

	*off = ETH_HLEN_BYTES;
	if ((void *)(eth + 1) > data_end)
		return false;
	*proto = eth->h_proto;
	if (*proto == ETH_P_8021Q_BE || *proto == ETH_P_8021AD_BE) {
		__be16 *inner = data + ETH_HLEN_BYTES + 2;
		if ((void *)(inner + 1) > data_end)
			return false;
		*proto = *inner;
		*off += VLAN_HLEN_BYTES;
	}
	return true;
}

/* Finds the IPv4 header at ip_off with its fixed 20 bytes in bounds; whether it is valid is for the checks below. */
static __always_inline bool parse_ipv4_header(void *data, void *data_end, __u32 ip_off, struct udp4_packet *pkt)
{
	pkt->ip_off = ip_off;
	pkt->ip = data + ip_off;
	return (void *)(pkt->ip + 1) <= data_end;
}

/* Version 4 and a header length of at least the fixed header, as the kernel requires. */
static __always_inline bool ipv4_version_and_ihl_valid(const struct iphdr *ip)
{
	return ip->version == 4 && ip->ihl >= 5;
}

/* Finds the UDP header of an IPv4 packet; false for other protocols or a cut header. An IHL below the minimum,
 * which the kernel refuses, is taken as the minimum, so such a datagram can still be told apart by its port. */
static __always_inline bool parse_udp(void *data, void *data_end, struct udp4_packet *pkt)
{
	if (pkt->ip->protocol != IPPROTO_UDP_NUM)
		return false;
	pkt->udp_off = pkt->ip_off + (pkt->ip->ihl < 5 ? IPV4_MIN_HLEN : pkt->ip->ihl * 4);
	pkt->udp = data + pkt->udp_off;
	return (void *)(pkt->udp + 1) <= data_end;
}

/* The lengths ip_rcv_core checks before the kernel routes or delivers a packet, with room for a UDP header:
 * a total length that covers the headers and does not claim more than the frame holds. frame_len counts from
 * the start of the frame, as skb->len does at tc ingress; bytes past the total length are link padding. */
static __always_inline bool ipv4_lengths_valid(const struct udp4_packet *pkt, __u32 frame_len)
{
	__u32 total = bpf_ntohs(pkt->ip->tot_len);
	return total >= pkt->ip->ihl * 4 + UDP_HLEN_BYTES && pkt->ip_off + total <= frame_len;
}

static __always_inline bool is_fragment(const struct iphdr *ip)
{
	return (ip->frag_off & (IP_MF_BE | IP_OFFSET_BE)) != 0;
}

/* A fragment other than the first: no UDP header, so what the parser took for one is payload. */
static __always_inline bool is_later_fragment(const struct iphdr *ip)
{
	return (ip->frag_off & IP_OFFSET_BE) != 0;
}

#endif

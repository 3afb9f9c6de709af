/* This file contains the packet parsing helpers: Ethernet (with one VLAN tag), IPv4 and UDP, each
 * bounds-checked against the packet's end before any field is read. */
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

/* Finds the IPv4 header behind Ethernet and at most one 802.1Q/802.1ad tag. */
static __always_inline bool parse_eth_ipv4(void *data, void *data_end, struct udp4_packet *pkt)
{
	struct ethhdr *eth = data;
	__u32 off = ETH_HLEN_BYTES;
	__be16 proto;

	if ((void *)(eth + 1) > data_end)
		return false;
	proto = eth->h_proto;
	if (proto == ETH_P_8021Q_BE || proto == ETH_P_8021AD_BE) {
		__be16 *inner = data + off + 2;
		if ((void *)(inner + 1) > data_end)
			return false;
		proto = *inner;
		off += VLAN_HLEN_BYTES;
	}
	if (proto != ETH_P_IP_BE)
		return false;
	pkt->ip_off = off;
	pkt->ip = data + off;
	if ((void *)(pkt->ip + 1) > data_end)
		return false;
	return pkt->ip->version == 4 && pkt->ip->ihl >= 5;
}

/* Finds the UDP header of a parsed IPv4 packet; false for other protocols or a cut header. */
static __always_inline bool parse_udp(void *data, void *data_end, struct udp4_packet *pkt)
{
	if (pkt->ip->protocol != IPPROTO_UDP_NUM)
		return false;
	pkt->udp_off = pkt->ip_off + pkt->ip->ihl * 4;
	pkt->udp = data + pkt->udp_off;
	return (void *)(pkt->udp + 1) <= data_end;
}

static __always_inline bool is_fragment(const struct iphdr *ip)
{
	return (ip->frag_off & (IP_MF_BE | IP_OFFSET_BE)) != 0;
}

#endif

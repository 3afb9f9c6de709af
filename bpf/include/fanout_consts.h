/* This file contains the protocol constants the udp-fanout BPF programs compare against, in the byte order
 * they are compared in. */
#ifndef UDP_FANOUT_CONSTS_H
#define UDP_FANOUT_CONSTS_H

#include <linux/types.h>
#include <bpf/bpf_endian.h>

#define ETH_HLEN_BYTES 14
#define VLAN_HLEN_BYTES 4
#define IPV4_MIN_HLEN 20
#define UDP_HLEN_BYTES 8
#define IPV4_MAX_HLEN 60
#define IPV6_HLEN 40
/* The most header bytes the parser reads: Ethernet, one VLAN tag, IPv4 with options, UDP. IPv6's fixed header and
 * UDP take fewer (66); extension headers past this are walked only where they are in the linear part already. */
#define MAX_HEADERS_BYTES (ETH_HLEN_BYTES + VLAN_HLEN_BYTES + IPV4_MAX_HLEN + UDP_HLEN_BYTES)

/* EtherTypes in network byte order, so the parser compares without swapping per packet. */
#define ETH_P_IP_BE bpf_htons(0x0800)
#define ETH_P_IPV6_BE bpf_htons(0x86DD)
#define ETH_P_8021Q_BE bpf_htons(0x8100)
#define ETH_P_8021AD_BE bpf_htons(0x88A8)

#define IPPROTO_UDP_NUM 17

/* IPv6 extension headers the parser walks to find UDP behind them (RFC 8200 section 4), and how many at most. */
#define IPV6_NEXTHDR_HOP 0
#define IPV6_NEXTHDR_ROUTING 43
#define IPV6_NEXTHDR_FRAGMENT 44
#define IPV6_NEXTHDR_AUTH 51
#define IPV6_NEXTHDR_DEST 60
#define IPV6_MAX_EXT_HEADERS 6
/* The fragment header's offset field (its low three bits are flags), in network byte order. */
#define IPV6_FRAG_OFFSET_BE bpf_htons(0xFFF8)

/* IPv4 frag_off bits in network byte order: more-fragments flag and the offset field. */
#define IP_MF_BE bpf_htons(0x2000)
#define IP_OFFSET_BE bpf_htons(0x1FFF)

#define AF_INET_NUM 2
#define AF_INET6_NUM 10

/* TC verdicts (linux/pkt_cls.h), spelled out so the program needs no uapi header beyond linux/bpf.h.
 * TC_ACT_UNSPEC lets the next filter on the hook run (and the stack take the packet after the last one):
 * TC_ACT_OK would end classification there, so other listeners' filters and other tools' would never see it. */
#define TC_ACT_UNSPEC (-1)
#define TC_ACT_SHOT 2

#endif

/* Packet parsing and header helpers shared by the hxdp examples. */
#ifndef HXDP_EXAMPLES_COMMON_H
#define HXDP_EXAMPLES_COMMON_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <linux/tcp.h>

#include <hxdp/bpf_helpers.h>

#define VLAN_MAX_DEPTH 2

/* ICMP header (linux/icmp.h pulls in libc headers, so it is spelled out here). */
struct icmp_hdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be16 unused;
	__be16 mtu;
};

#define ICMP_DEST_UNREACH 3
#define ICMP_FRAG_NEEDED 4

struct vlan_hdr {
	__be16 tci;
	__be16 encapsulated_proto;
};

/* Cursor over a packet: every read first checks it against data_end. */
struct cursor {
	void *pos;
	void *end;
};

/* Skip Ethernet and up to two VLAN tags; returns the ethertype in network order,
 * or 0 when the packet is too short. */
static __always_inline __be16 parse_ethernet(struct cursor *c, struct ethhdr **eth_out)
{
	struct ethhdr *eth = c->pos;
	if ((void *)(eth + 1) > c->end)
		return 0;
	*eth_out = eth;
	c->pos = eth + 1;
	__be16 proto = eth->h_proto;
#pragma unroll
	for (int i = 0; i < VLAN_MAX_DEPTH; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		struct vlan_hdr *vlan = c->pos;
		if ((void *)(vlan + 1) > c->end)
			return 0;
		proto = vlan->encapsulated_proto;
		c->pos = vlan + 1;
	}
	return proto;
}

/* An IPv4 header without options, or NULL. */
static __always_inline struct iphdr *parse_ipv4(struct cursor *c)
{
	struct iphdr *iph = c->pos;
	if ((void *)(iph + 1) > c->end || iph->ihl != 5)
		return 0;
	c->pos = iph + 1;
	return iph;
}

/* The IP protocol (IPv4) or next header (IPv6) of the packet at the cursor,
 * or 0 when it is neither or is cut short. */
static __always_inline __u32 ip_protocol(struct cursor *c)
{
	struct ethhdr *eth;
	__be16 proto = parse_ethernet(c, &eth);

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = c->pos;
		if ((void *)(iph + 1) > c->end)
			return 0;
		return iph->protocol;
	}
	if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6h = c->pos;
		if ((void *)(ip6h + 1) > c->end)
			return 0;
		return ip6h->nexthdr;
	}
	return 0;
}

static __always_inline void swap_macs(struct ethhdr *eth)
{
	__u8 tmp[ETH_ALEN];
	__builtin_memcpy(tmp, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, tmp, ETH_ALEN);
}

static __always_inline __u16 csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* Checksum of an option-less IPv4 header (its check field must be zero). */
static __always_inline __u16 ipv4_checksum(struct iphdr *iph)
{
	__u16 *words = (__u16 *)iph;
	__u32 sum = 0;
#pragma unroll
	for (int i = 0; i < (int)sizeof(*iph) / 2; i++)
		sum += words[i];
	return csum_fold(sum);
}

/* Write a fresh option-less IPv4 header (TTL 64, no fragmentation fields)
 * with its checksum. */
static __always_inline void ipv4_fill(struct iphdr *iph, __u16 tot_len, __u8 protocol,
				      __be32 saddr, __be32 daddr)
{
	iph->version = 4;
	iph->ihl = 5;
	iph->tos = 0;
	iph->tot_len = bpf_htons(tot_len);
	iph->id = 0;
	iph->frag_off = 0;
	iph->ttl = 64;
	iph->protocol = protocol;
	iph->check = 0;
	iph->saddr = saddr;
	iph->daddr = daddr;
	iph->check = ipv4_checksum(iph);
}

/* Ports of a TCP or UDP header at the cursor (0 for other protocols);
 * false when the header is cut short. */
static __always_inline int parse_ports(struct cursor *c, __u8 proto, __be16 *sport, __be16 *dport)
{
	*sport = 0;
	*dport = 0;
	if (proto == IPPROTO_TCP) {
		struct tcphdr *tcp = c->pos;
		if ((void *)(tcp + 1) > c->end)
			return 0;
		*sport = tcp->source;
		*dport = tcp->dest;
	} else if (proto == IPPROTO_UDP) {
		struct udphdr *udp = c->pos;
		if ((void *)(udp + 1) > c->end)
			return 0;
		*sport = udp->source;
		*dport = udp->dest;
	}
	return 1;
}

/* Put an outer IPv4 header (IP-in-IP) and a new Ethernet header in front of the
 * packet's IPv4 header. The packet must start with an untagged Ethernet header. */
static __always_inline int encap_ipv4(struct xdp_md *ctx, __be32 saddr, __be32 daddr,
				      const __u8 *dmac)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *old_eth = data;
	struct iphdr *inner = data + sizeof(*old_eth);
	if ((void *)(inner + 1) > data_end)
		return -1;
	__u16 inner_len = bpf_ntohs(inner->tot_len);
	__u8 old_dmac[ETH_ALEN];
	__builtin_memcpy(old_dmac, old_eth->h_dest, ETH_ALEN);

	if (bpf_xdp_adjust_head(ctx, 0 - (int)sizeof(struct iphdr)))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *outer = data + sizeof(*eth);
	if ((void *)(outer + 1) > data_end)
		return -1;
	__builtin_memcpy(eth->h_dest, dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, old_dmac, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IP);

	ipv4_fill(outer, inner_len + sizeof(struct iphdr), IPPROTO_IPIP, saddr, daddr);
	return 0;
}

#endif

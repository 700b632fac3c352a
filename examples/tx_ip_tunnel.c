/* IP tunnel in the style of the kernel's xdp_tx_iptunnel sample.
 *
 * TCP/UDP packets whose (destination address, port, protocol) is listed in
 * `vip2tnl` are encapsulated toward that entry's tunnel endpoint and sent
 * back out (XDP_TX): IPv4 in IPv4 (IP protocol 4) or IPv6 in IPv6 (next
 * header 41), with the entry's outer addresses, its next-hop MAC as
 * destination and the MAC the packet was sent to as source. Other packets
 * pass; VLAN-tagged ones too. `rxcnt` counts tunnelled packets per IP
 * protocol of the inner packet.
 */
#include "common.h"

#define MAX_VIPS 256
#define OUTER_TTL 64

union ip_addr {
	__be32 v4;
	__be32 v6[4];
};

struct vip {
	union ip_addr daddr;
	__be16 dport;
	__u8 protocol;
	__u8 family;	/* 4 or 6 */
};

struct tunnel {
	union ip_addr saddr;
	union ip_addr daddr;
	__u8 dmac[ETH_ALEN];
	__u8 pad[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_VIPS);
	__type(key, struct vip);
	__type(value, struct tunnel);
} vip2tnl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} rxcnt SEC(".maps");

/* Put an outer IPv6 header and a new Ethernet header in front of the
 * packet's IPv6 header. The packet must start with an untagged Ethernet header. */
static __always_inline int encap_ipv6(struct xdp_md *ctx, const struct tunnel *t)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *old_eth = data;
	struct ipv6hdr *inner = data + sizeof(*old_eth);
	if ((void *)(inner + 1) > data_end)
		return -1;
	__u16 inner_len = bpf_ntohs(inner->payload_len) + sizeof(struct ipv6hdr);
	__u8 old_dmac[ETH_ALEN];
	__builtin_memcpy(old_dmac, old_eth->h_dest, ETH_ALEN);

	if (bpf_xdp_adjust_head(ctx, 0 - (int)sizeof(struct ipv6hdr)))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct ipv6hdr *outer = data + sizeof(*eth);
	if ((void *)(outer + 1) > data_end)
		return -1;
	__builtin_memcpy(eth->h_dest, t->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, old_dmac, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IPV6);

	outer->version = 6;
	outer->priority = 0;
	__builtin_memset(outer->flow_lbl, 0, sizeof(outer->flow_lbl));
	outer->payload_len = bpf_htons(inner_len);
	outer->nexthdr = IPPROTO_IPV6;
	outer->hop_limit = OUTER_TTL;
	__builtin_memcpy(&outer->saddr, t->saddr.v6, sizeof(outer->saddr));
	__builtin_memcpy(&outer->daddr, t->daddr.v6, sizeof(outer->daddr));
	return 0;
}

/* The tunnel of the packet at the cursor (just past an untagged Ethernet
 * header), or NULL; *drop is set when its TCP/UDP header is cut short. */
static __always_inline struct tunnel *find_tunnel(struct cursor *c, __be16 ethertype,
						  struct vip *key, int *drop)
{
	__be16 sport;

	if (ethertype == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = parse_ipv4(c);
		if (!iph)
			return 0;
		key->family = 4;
		key->protocol = iph->protocol;
		key->daddr.v4 = iph->daddr;
	} else if (ethertype == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6h = c->pos;
		if ((void *)(ip6h + 1) > c->end)
			return 0;
		c->pos = ip6h + 1;
		key->family = 6;
		key->protocol = ip6h->nexthdr;
		__builtin_memcpy(key->daddr.v6, &ip6h->daddr, sizeof(key->daddr.v6));
	} else {
		return 0;
	}
	if (key->protocol != IPPROTO_TCP && key->protocol != IPPROTO_UDP)
		return 0;
	if (!parse_ports(c, key->protocol, &sport, &key->dport)) {
		*drop = 1;
		return 0;
	}
	return bpf_map_lookup_elem(&vip2tnl, key);
}

SEC("xdp")
int tx_ip_tunnel(struct xdp_md *ctx)
{
	struct cursor c = { (void *)(long)ctx->data, (void *)(long)ctx->data_end };
	struct ethhdr *eth;
	__be16 ethertype = parse_ethernet(&c, &eth);

	if (!ethertype || c.pos != (void *)(eth + 1))
		return XDP_PASS;
	struct vip key = {};
	int drop = 0;
	struct tunnel *tnl = find_tunnel(&c, ethertype, &key, &drop);
	if (!tnl)
		return drop ? XDP_DROP : XDP_PASS;

	__u32 proto = key.protocol;
	__u64 *count = bpf_map_lookup_elem(&rxcnt, &proto);
	if (count)
		*count += 1;
	struct tunnel t = *tnl;
	int failed = key.family == 4 ? encap_ipv4(ctx, t.saddr.v4, t.daddr.v4, t.dmac) : encap_ipv6(ctx, &t);
	return failed ? XDP_DROP : XDP_TX;
}

char _license[] SEC("license") = "GPL";

/* IP tunnel in the style of the kernel's xdp_tx_iptunnel sample.
 *
 * IPv4 TCP/UDP packets to a (destination, port, protocol) listed in
 * `vip2tnl` are encapsulated IP-in-IP with that entry's outer addresses and
 * next-hop MAC and sent back out (XDP_TX); other packets pass. `rxcnt`
 * counts the tunnelled packets per IP protocol.
 */
#include "common.h"

#define MAX_VIPS 256

struct vip {
	__be32 daddr;
	__be16 dport;
	__u8 protocol;
	__u8 pad;
};

struct tunnel {
	__be32 saddr;
	__be32 daddr;
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

SEC("xdp")
int tx_ip_tunnel(struct xdp_md *ctx)
{
	struct cursor c = { (void *)(long)ctx->data, (void *)(long)ctx->data_end };
	struct ethhdr *eth;

	if (parse_ethernet(&c, &eth) != bpf_htons(ETH_P_IP) || c.pos != (void *)(eth + 1))
		return XDP_PASS;
	struct iphdr *iph = parse_ipv4(&c);
	if (!iph)
		return XDP_PASS;
	struct vip key = { .daddr = iph->daddr, .protocol = iph->protocol };
	__be16 sport;
	if (!parse_ports(&c, key.protocol, &sport, &key.dport))
		return XDP_DROP;
	struct tunnel *tnl = bpf_map_lookup_elem(&vip2tnl, &key);
	if (!tnl)
		return XDP_PASS;

	__u32 proto = key.protocol;
	__u64 *count = bpf_map_lookup_elem(&rxcnt, &proto);
	if (count)
		*count += 1;
	struct tunnel t = *tnl;
	if (encap_ipv4(ctx, t.saddr, t.daddr, t.dmac))
		return XDP_DROP;
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";

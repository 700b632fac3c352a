/* Count packets per IP protocol (IPv4 and IPv6, behind up to two VLAN tags)
 * in a per-CPU array, swap the MACs and send them back out (XDP_TX). */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} rxcnt SEC(".maps");

/* The IP protocol of the packet, or 0 when it is neither IPv4 nor IPv6. */
static __always_inline __u32 ip_protocol(struct xdp_md *ctx)
{
	struct cursor c = { (void *)(long)ctx->data, (void *)(long)ctx->data_end };
	struct ethhdr *eth;
	__be16 proto = parse_ethernet(&c, &eth);

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *iph = c.pos;
		if ((void *)(iph + 1) > c.end)
			return 0;
		return iph->protocol;
	}
	if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6h = c.pos;
		if ((void *)(ip6h + 1) > c.end)
			return 0;
		return ip6h->nexthdr;
	}
	return 0;
}

SEC("xdp")
int xdp2(struct xdp_md *ctx)
{
	__u32 key = ip_protocol(ctx);
	__u64 *count = bpf_map_lookup_elem(&rxcnt, &key);

	if (count)
		*count += 1;

	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > (void *)(long)ctx->data_end)
		return XDP_DROP;
	swap_macs(eth);
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";

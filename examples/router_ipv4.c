/* IPv4 router.
 *
 * The destination address is looked up in the longest-prefix-match table
 * `routes`; the packet leaves through the route's port (a devmap entry)
 * with the route's MAC addresses, its TTL decremented and its header
 * checksum updated incrementally; a route whose port has no device in
 * `tx_ports` aborts the packet. Packets with TTL <= 1 or no route are
 * dropped; non-IPv4 traffic, IPv4 headers with options and cut-short
 * headers pass to the host stack. `route_stats` counts packets per route,
 * `drops` counts the two reasons to drop.
 */
#include "common.h"

#define MAX_ROUTES 256
#define MAX_PORTS 8

struct route_key {
	__u32 prefixlen;
	__be32 addr;
};

struct route {
	__u32 id;	/* index into route_stats */
	__u32 port;	/* key in tx_ports */
	__u8 dmac[ETH_ALEN];
	__u8 smac[ETH_ALEN];
};

enum drop_reason {
	DROP_TTL = 0,
	DROP_NO_ROUTE = 1,
	DROP_REASONS = 2,
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, MAX_ROUTES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct route_key);
	__type(value, struct route);
} routes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, MAX_PORTS);
	__type(key, __u32);
	__type(value, __u32);
} tx_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_ROUTES);
	__type(key, __u32);
	__type(value, __u64);
} route_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, DROP_REASONS);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

static __always_inline int drop(__u32 reason)
{
	__u64 *count = bpf_map_lookup_elem(&drops, &reason);
	if (count)
		__sync_fetch_and_add(count, 1);	/* shared by every CPU */
	return XDP_DROP;
}

SEC("xdp")
int router_ipv4(struct xdp_md *ctx)
{
	struct cursor c = { (void *)(long)ctx->data, (void *)(long)ctx->data_end };
	struct ethhdr *eth;

	if (parse_ethernet(&c, &eth) != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	struct iphdr *iph = parse_ipv4(&c);
	if (!iph)
		return XDP_PASS;
	if (iph->ttl <= 1)
		return drop(DROP_TTL);

	struct route_key key = { .prefixlen = 32, .addr = iph->daddr };
	struct route *rt = bpf_map_lookup_elem(&routes, &key);
	if (!rt)
		return drop(DROP_NO_ROUTE);

	/* TTL - 1: the checksum word holding the TTL goes down by 0x0100. */
	__u32 check = iph->check;
	check += bpf_htons(0x0100);
	iph->check = (__u16)(check + (check >= 0xffff));
	iph->ttl--;

	__builtin_memcpy(eth->h_dest, rt->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, rt->smac, ETH_ALEN);
	__u32 id = rt->id;
	__u64 *count = bpf_map_lookup_elem(&route_stats, &id);
	if (count)
		__sync_fetch_and_add(count, 1);	/* shared by every CPU */
	return bpf_redirect_map(&tx_ports, rt->port, 0);
}

char _license[] SEC("license") = "GPL";

/* Count packets per IP protocol (IPv4 and IPv6, behind up to two VLAN tags)
 * in a per-CPU array, swap the MACs and send them back out (XDP_TX). */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} rxcnt SEC(".maps");

SEC("xdp")
int xdp2(struct xdp_md *ctx)
{
	struct cursor c = { (void *)(long)ctx->data, (void *)(long)ctx->data_end };
	struct ethhdr *eth = c.pos;
	__u32 key = ip_protocol(&c);
	__u64 *count = bpf_map_lookup_elem(&rxcnt, &key);

	if (count)
		*count += 1;
	if ((void *)(eth + 1) > c.end)
		return XDP_DROP;
	swap_macs(eth);
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";

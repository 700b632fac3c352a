/* Count packets per IP protocol (IPv4 and IPv6, behind up to two VLAN tags)
 * in a per-CPU array, then drop them. Non-IP and truncated packets count
 * under protocol 0. */
#include "common.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} rxcnt SEC(".maps");

SEC("xdp")
int xdp1(struct xdp_md *ctx)
{
	struct cursor c = { (void *)(long)ctx->data, (void *)(long)ctx->data_end };
	__u32 key = ip_protocol(&c);
	__u64 *count = bpf_map_lookup_elem(&rxcnt, &key);

	if (count)
		*count += 1;
	return XDP_DROP;
}

char _license[] SEC("license") = "GPL";

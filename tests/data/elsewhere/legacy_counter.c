/* The old samples/bpf layout: a legacy map definition in SEC("maps"), the
 * kernel's UAPI headers, the program in SEC("xdp_prog"). Counts bytes per
 * ingress interface; interfaces with a budget (in `budget`) drop a packet
 * that would take them over it. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

struct bpf_map_def SEC("maps") bytes_in = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 8,
};

struct bpf_map_def SEC("maps") budget = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = sizeof(__u32),
	.value_size = sizeof(__u64),
	.max_entries = 8,
};

SEC("xdp_prog")
int xdp_budget(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u32 ifindex = ctx->ingress_ifindex;
	__u64 len = end - data;
	__u64 *seen = bpf_map_lookup_elem(&bytes_in, &ifindex);
	__u64 *limit = bpf_map_lookup_elem(&budget, &ifindex);

	if (!seen)
		return XDP_ABORTED;
	if (limit && *seen + len > *limit)
		return XDP_DROP;
	__sync_fetch_and_add(seen, len);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";

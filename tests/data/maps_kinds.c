/* Map definitions of every kind the loader reads, and two programs sharing a
 * .text subprogram and global data. */
#include <linux/bpf.h>
#include <hxdp/bpf_helpers.h>

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner);
} outer SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, __u32);
} prefixes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__uint(key_size, 4);
	__uint(value_size, 4);
} jumps SEC(".maps");

struct bpf_map_def SEC("maps") legacy = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = 8,
	.value_size = 16,
	.max_entries = 32,
};

__u32 hits = 3;			/* .data */
const volatile __u32 limit = 9;	/* .rodata */
__u64 scratch;			/* .bss */

static __noinline int bump(__u32 by)
{
	hits += by;
	return hits < limit ? XDP_PASS : XDP_DROP;
}

SEC("xdp")
int first(struct xdp_md *ctx)
{
	__u32 key = 0;
	void *inner = bpf_map_lookup_elem(&outer, &key);
	if (inner)
		scratch = 1;
	bpf_tail_call(ctx, &jumps, 1);
	return bump(1);
}

SEC("xdp/second")
int second(struct xdp_md *ctx)
{
	__u64 key = 0;
	__u32 *v = bpf_map_lookup_elem(&legacy, &key);
	if (v)
		return XDP_TX;
	return bump(2);
}

char _license[] SEC("license") = "Dual BSD/GPL";

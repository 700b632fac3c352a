/* Queue and stack maps: each packet's first byte of payload (after the
 * Ethernet header) is pushed on both; a packet whose byte is 0 pops one of
 * each instead and writes what came off into the packet; every packet peeks. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 4);
	__type(value, __u32);
} fifo SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(max_entries, 4);
	__type(value, __u32);
} lifo SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __s64);
} results SEC(".maps");

static __always_inline void note(__u32 what, __s64 value)
{
	__s64 *slot = bpf_map_lookup_elem(&results, &what);
	if (slot)
		*slot = value;
}

SEC("xdp")
int queues(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u8 *p = data + 14;
	__u32 v, first, last;

	if ((void *)(p + 8) > end)
		return XDP_DROP;
	v = p[0];
	if (v) {
		note(0, bpf_map_push_elem(&fifo, &v, p[1] ? BPF_EXIST : 0));
		note(1, bpf_map_push_elem(&lifo, &v, p[1] ? BPF_EXIST : 0));
		if (bpf_map_peek_elem(&fifo, &first) == 0 && bpf_map_peek_elem(&lifo, &last) == 0)
			note(2, first << 8 | last);
		return XDP_PASS;
	}
	note(3, bpf_map_pop_elem(&fifo, &first));
	if (bpf_map_pop_elem(&lifo, &last))
		return XDP_DROP;
	p[2] = first;
	p[3] = last;
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";

/* Counters every core adds to at once: an atomic add to a shared array
 * value, a per-CPU count, and a hash map keyed by the UDP source port
 * whose entries the first packet of a flow inserts (on whichever core
 * takes it). A per-CPU hash map keyed by the source port too holds a
 * flow's key from its first packet to its second, from its third to its
 * fourth, and so on. Passes every packet. */
#include <linux/bpf.h>
#include <hxdp/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} total SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} per_core SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 512);
	__type(key, __u16);
	__type(value, __u64);
} by_port SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 64);
	__type(key, __u16);
	__type(value, __u64);
} seen SEC(".maps");

SEC("xdp")
int shared_counters(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	__u64 one = 1, *value;
	__u16 port;

	if (data + 36 > end)
		return XDP_PASS;
	port = *(__u16 *)(data + 34);
	value = bpf_map_lookup_elem(&total, &zero);
	if (value)
		__sync_fetch_and_add(value, 1);
	value = bpf_map_lookup_elem(&per_core, &zero);
	if (value)
		*value += 1;
	value = bpf_map_lookup_elem(&by_port, &port);
	if (value)
		__sync_fetch_and_add(value, 1);
	else
		bpf_map_update_elem(&by_port, &port, &one, BPF_NOEXIST);
	value = bpf_map_lookup_elem(&seen, &port);
	if (value)
		bpf_map_delete_elem(&seen, &port);
	else
		bpf_map_update_elem(&seen, &port, &one, BPF_NOEXIST);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";

/* A per-CPU hash map smaller than the traffic's flows: a flow's entry is
 * deleted at its second packet and inserted again at its third, so keys
 * come and go and a new key often takes a slot that a key of another core
 * left. That core's copy of the new key's value must read zero. Inserts
 * that find the map full are counted. Passes every packet. */
#include <linux/bpf.h>
#include <hxdp/bpf_helpers.h>

struct flow {
	__u32 packets;
	__u32 bytes;
	__u32 mark;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4);
	__type(key, __u16);
	__type(value, struct flow);
} by_flow SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} full SEC(".maps");

SEC("xdp")
int per_cpu_slots(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct flow *flow;
	__u32 zero = 0;
	__u64 *count;
	__u16 port;

	if (data + 36 > end)
		return XDP_PASS;
	port = *(__u16 *)(data + 34);
	flow = bpf_map_lookup_elem(&by_flow, &port);
	if (flow) {
		flow->packets += 1;
		flow->bytes += end - data;
		bpf_map_delete_elem(&by_flow, &port);
	} else {
		struct flow first = { 1, end - data, 0x5a5a5a5a };

		if (bpf_map_update_elem(&by_flow, &port, &first, BPF_NOEXIST)) {
			count = bpf_map_lookup_elem(&full, &zero);
			if (count)
				__sync_fetch_and_add(count, 1);
		}
	}
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";

/* Per-receive-queue statistics, in the style of the kernel's xdp_rxq_info
 * sample: every packet is counted per CPU and per rx queue, then handled by
 * the action in `config` (XDP_PASS, XDP_DROP, or XDP_TX with the MACs
 * swapped). Queue numbers beyond MAX_RXQ are counted as issues.
 */
#include "common.h"

#define MAX_RXQ 64

struct config {
	__u32 action;
	__u32 ifindex;	/* only count packets from this port; 0 = any */
};

struct counters {
	__u64 processed;
	__u64 issue;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct config);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct counters);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_RXQ + 1);
	__type(key, __u32);
	__type(value, struct counters);
} rx_queues SEC(".maps");

SEC("xdp")
int rxq_info(struct xdp_md *ctx)
{
	__u32 zero = 0;
	struct config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!cfg)
		return XDP_ABORTED;
	if (cfg->ifindex && cfg->ifindex != ctx->ingress_ifindex)
		return XDP_PASS;

	struct counters *total = bpf_map_lookup_elem(&stats, &zero);
	if (!total)
		return XDP_ABORTED;
	total->processed++;

	__u32 queue = ctx->rx_queue_index;
	if (queue > MAX_RXQ) {
		queue = MAX_RXQ;
		total->issue++;
	}
	struct counters *per_queue = bpf_map_lookup_elem(&rx_queues, &queue);
	if (!per_queue)
		return XDP_ABORTED;
	per_queue->processed++;
	if (queue == MAX_RXQ)
		per_queue->issue++;

	if (cfg->action == XDP_TX) {
		void *data = (void *)(long)ctx->data;
		struct ethhdr *eth = data;
		if ((void *)(eth + 1) > (void *)(long)ctx->data_end)
			return XDP_DROP;
		swap_macs(eth);
	}
	return cfg->action;
}

char _license[] SEC("license") = "GPL";

/* Per-receive-queue statistics, in the style of the kernel's xdp_rxq_info
 * sample.
 *
 * Every packet is counted per CPU, in total (`stats`) and per receive queue
 * (`rx_queues`, indexed by xdp_md.rx_queue_index); queues numbered MAX_RXQ
 * and above share the last slot and are counted as issues. The action comes
 * from `config`, keyed by the ingress ifindex, with key 0 as the default for
 * ports that have no entry: XDP_PASS, XDP_DROP, or XDP_TX with the MACs
 * swapped. Any other configured action is an issue and aborts the packet;
 * so does a missing default.
 */
#include "common.h"

#define MAX_RXQ 64
#define MAX_PORTS 64
#define DEFAULT_PORT 0

struct counters {
	__u64 processed;
	__u64 issue;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_PORTS);
	__type(key, __u32);
	__type(value, __u32);
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
	struct counters *total = bpf_map_lookup_elem(&stats, &zero);
	if (!total)
		return XDP_ABORTED;
	total->processed++;

	__u32 queue = ctx->rx_queue_index;
	if (queue >= MAX_RXQ) {
		queue = MAX_RXQ;
		total->issue++;
	}
	struct counters *per_queue = bpf_map_lookup_elem(&rx_queues, &queue);
	if (!per_queue)
		return XDP_ABORTED;
	per_queue->processed++;
	if (queue == MAX_RXQ)
		per_queue->issue++;

	__u32 port = ctx->ingress_ifindex;
	__u32 *action = bpf_map_lookup_elem(&config, &port);
	if (!action) {
		port = DEFAULT_PORT;
		action = bpf_map_lookup_elem(&config, &port);
	}
	if (!action) {
		total->issue++;
		return XDP_ABORTED;
	}
	switch (*action) {
	case XDP_PASS:
	case XDP_DROP:
		return *action;
	case XDP_TX: {
		void *data = (void *)(long)ctx->data;
		struct ethhdr *eth = data;
		if ((void *)(eth + 1) > (void *)(long)ctx->data_end)
			return XDP_DROP;
		swap_macs(eth);
		return XDP_TX;
	}
	default:
		total->issue++;
		return XDP_ABORTED;
	}
}

char _license[] SEC("license") = "GPL";

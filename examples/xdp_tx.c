/* Send every Ethernet frame back out of the port it came in on, MACs swapped. */
#include "common.h"

SEC("xdp")
int xdp_tx(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	swap_macs(eth);
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";

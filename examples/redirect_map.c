/* Forward every packet to another port through a devmap, in the style of
 * the kernel's xdp_redirect_map sample: `egress` maps the ingress ifindex to
 * a port (a key of `tx_ports`), the MACs are swapped, and the packet is
 * redirected there. Packets from ports without an entry are dropped.
 * `rxcnt` counts redirected packets per CPU.
 */
#include "common.h"

#define MAX_PORTS 64

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, MAX_PORTS);
	__type(key, __u32);
	__type(value, __u32);
} tx_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_PORTS);
	__type(key, __u32);
	__type(value, __u32);
} egress SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} rxcnt SEC(".maps");

SEC("xdp")
int redirect_map(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > (void *)(long)ctx->data_end)
		return XDP_DROP;

	__u32 ingress = ctx->ingress_ifindex;
	__u32 *port = bpf_map_lookup_elem(&egress, &ingress);
	if (!port)
		return XDP_DROP;

	__u32 zero = 0;
	__u64 *count = bpf_map_lookup_elem(&rxcnt, &zero);
	if (count)
		*count += 1;
	swap_macs(eth);
	return bpf_redirect_map(&tx_ports, *port, XDP_DROP);
}

char _license[] SEC("license") = "GPL";

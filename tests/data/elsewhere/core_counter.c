/* Counts packets by IP protocol, in the style of a CO-RE program: kernel
 * types from a vmlinux.h, libbpf's headers, a static subprogram and a
 * bounded loop skipping up to four VLAN tags. Packets of a protocol listed
 * in `drop_protos` drop. */
#include "vmlinux_xdp.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define ETH_P_IP 0x0800
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define MAX_VLANS 4

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u64);
} protos SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u8);
	__type(value, __u8);
} drop_protos SEC(".maps");

static __noinline int verdict(__u32 proto)
{
	__u8 p = proto;
	__u64 *count = bpf_map_lookup_elem(&protos, &proto);

	if (count)
		*count += 1;
	return bpf_map_lookup_elem(&drop_protos, &p) ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int core_counter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	void *at = eth + 1;
	__be16 proto;
	int i;

	if (at > end)
		return XDP_ABORTED;
	proto = eth->h_proto;
	for (i = 0; i < MAX_VLANS; i++) {
		struct vlan_hdr *vlan = at;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(vlan + 1) > end)
			return XDP_ABORTED;
		proto = vlan->h_vlan_encapsulated_proto;
		at = vlan + 1;
	}
	if (proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	struct iphdr *ip = at;
	if ((void *)(ip + 1) > end)
		return XDP_ABORTED;
	return verdict(ip->protocol);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";

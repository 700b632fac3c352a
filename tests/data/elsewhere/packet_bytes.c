/* The packet-bytes helpers: read the IPv4 addresses with bpf_xdp_load_bytes
 * (the verifier need not see a bounds check), swap them with
 * bpf_xdp_store_bytes, send the packet back; record the packet's length from
 * bpf_xdp_get_buff_len and what a read past the end returns. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __s64);
} seen SEC(".maps");

static __always_inline void note(__u32 what, __s64 value)
{
	__s64 *slot = bpf_map_lookup_elem(&seen, &what);
	if (slot)
		*slot = value;
}

SEC("xdp")
int packet_bytes(struct xdp_md *ctx)
{
	__u32 addrs[2];
	__u8 tail[8];
	__u64 len = bpf_xdp_get_buff_len(ctx);

	note(0, len);
	note(1, bpf_xdp_load_bytes(ctx, len - 4, tail, 8));	/* past the end: -EINVAL */
	if (bpf_xdp_load_bytes(ctx, 26, addrs, sizeof(addrs)))
		return XDP_PASS;
	note(2, addrs[0] ^ addrs[1]);
	__u32 swapped[2] = { addrs[1], addrs[0] };
	if (bpf_xdp_store_bytes(ctx, 26, swapped, sizeof(swapped)))
		return XDP_ABORTED;
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";

/* Ring buffer output: each IPv4 packet's addresses and length go to
 * `events`; a packet from 10.0.0.9 also sends three 1500-byte alerts (from
 * a map value) to `alerts`, whose 4096 bytes hold two; the status of every
 * output is kept, so the full ring shows. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>

struct event {
	__be32 saddr;
	__be32 daddr;
	__u32 len;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} alerts SEC(".maps");

struct alert {
	struct event e;
	__u8 pad[1488];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct alert);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __s64);
} status SEC(".maps");

static __always_inline void note(__u32 what, __s64 value)
{
	__s64 *slot = bpf_map_lookup_elem(&status, &what);
	if (slot)
		*slot = value;
}

SEC("xdp")
int events_prog(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	struct event e;
	__u32 zero = 0;

	if ((void *)(ip + 1) > end)
		return XDP_PASS;
	e.saddr = ip->saddr;
	e.daddr = ip->daddr;
	e.len = end - data;
	note(0, bpf_ringbuf_output(&events, &e, sizeof(e), 0));
	if (ip->saddr == __builtin_bswap32(0x0a000009)) {
		struct alert *a = bpf_map_lookup_elem(&scratch, &zero);
		if (!a)
			return XDP_ABORTED;
		a->e = e;
		a->pad[0] = 0x5a;
		note(1, bpf_ringbuf_output(&alerts, a, sizeof(*a), 0));
		note(2, bpf_ringbuf_output(&alerts, a, sizeof(*a), 0));
		note(3, bpf_ringbuf_output(&alerts, a, sizeof(*a), 0));
	}
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";

/* Per-source packet and byte counts in a hash map whose values hold a
 * bpf_spin_lock, taken around each update as a multi-CPU program must. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct stats {
	struct bpf_spin_lock lock;
	__u32 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __be32);
	__type(value, struct stats);
} by_source SEC(".maps");

SEC("xdp")
int flow_stats(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	struct stats fresh = {}, *s;
	__be32 source;

	if ((void *)(ip + 1) > end)
		return XDP_PASS;
	source = ip->saddr;
	s = bpf_map_lookup_elem(&by_source, &source);
	if (!s) {
		bpf_map_update_elem(&by_source, &source, &fresh, BPF_NOEXIST);
		s = bpf_map_lookup_elem(&by_source, &source);
		if (!s)
			return XDP_ABORTED;
	}
	bpf_spin_lock(&s->lock);
	s->packets++;
	s->bytes += end - data;
	bpf_spin_unlock(&s->lock);
	return XDP_PASS;
}

char _license[] SEC("license") = "GPL";

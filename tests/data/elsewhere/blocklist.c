/* A blocklist written the way libbpf projects write XDP programs: its
 * loader sets the .rodata constants before load (as a skeleton's rodata)
 * and fills the maps: addresses to act on, keyed by __be32, each with an
 * action (an enum) and flags in bitfields; the interface MAC to answer
 * from. Counters per action, per CPU. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>

enum action { ALLOW = 0, BLOCK = 1, BOUNCE = 2, ACTIONS = 3 };

struct rule {
	enum action action;
	__u32 log : 1, only_udp : 1, ttl_min : 6, reserved : 24;
};

struct iface {
	unsigned char mac[ETH_ALEN];
	char name[10];
};

const volatile __u16 max_len = 1514;	/* longer frames drop */
const volatile __u8 default_block = 0;	/* no rule: block if set */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__type(key, __be32);
	__type(value, struct rule);
} rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct iface);
} self SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ACTIONS);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

static __always_inline int count(__u32 what, int verdict)
{
	__u64 *n = bpf_map_lookup_elem(&counts, &what);
	if (n)
		*n += 1;
	return verdict;
}

SEC("xdp")
int blocklist(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	__u32 zero = 0;

	if (end - data > max_len)
		return XDP_DROP;
	if ((void *)(ip + 1) > end || eth->h_proto != __constant_htons(ETH_P_IP))
		return XDP_PASS;
	struct rule *r = bpf_map_lookup_elem(&rules, &ip->saddr);
	if (!r)
		return default_block ? count(BLOCK, XDP_DROP) : count(ALLOW, XDP_PASS);
	if (r->only_udp && ip->protocol != IPPROTO_UDP)
		return count(ALLOW, XDP_PASS);
	if (ip->ttl < r->ttl_min || r->action == BLOCK)
		return count(BLOCK, XDP_DROP);
	if (r->action == BOUNCE) {
		struct iface *me = bpf_map_lookup_elem(&self, &zero);
		if (!me)
			return XDP_ABORTED;
		__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
		__builtin_memcpy(eth->h_source, me->mac, ETH_ALEN);
		return count(BOUNCE, XDP_TX);
	}
	return count(ALLOW, XDP_PASS);
}

char _license[] SEC("license") = "GPL";

/* L4 load balancer in the style of Katran.
 *
 * A packet whose (destination address, port, protocol) is a virtual IP in
 * `vips` is sent to one of that VIP's real servers: known flows stick to
 * their server through the LRU connection table `conns`; new flows pick a
 * server from the VIP's consistent-hashing ring (RING_SIZE slots of `ring`,
 * filled by the control plane, e.g. with Maglev's permutations) by a hash
 * of the 5-tuple, and are recorded in `conns`. The packet is encapsulated
 * IP-in-IP towards the real server (outer source `lb_config.source`, next
 * hop MAC `lb_config.gateway_mac`) and sent back out (XDP_TX). Per-VIP
 * packet and byte counts are kept in `vip_stats`.
 *
 * Only untagged, unfragmented IPv4 TCP/UDP without IP options is balanced;
 * everything else passes, except TCP/UDP headers cut short, which drop.
 */
#include "common.h"

#define MAX_VIPS 16
#define RING_SIZE 67	/* prime: Maglev fills the ring from per-server permutations */
#define MAX_REALS 64
#define MAX_CONNS 1024		/* the engine's 64 KiB map memory holds 1024 flows with the rest */

struct vip_key {
	__be32 addr;
	__be16 port;
	__u8 proto;
	__u8 pad;
};

struct vip_meta {
	__u32 vip_num;
	__u32 flags;
};

struct real {
	__be32 addr;
};

struct flow_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

struct lb_config {
	__be32 source;
	__u8 gateway_mac[ETH_ALEN];
	__u8 pad[2];
};

struct vip_counters {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_VIPS);
	__type(key, struct vip_key);
	__type(value, struct vip_meta);
} vips SEC(".maps");

/* vip_num * RING_SIZE + position -> index into reals */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_VIPS * RING_SIZE);
	__type(key, __u32);
	__type(value, __u32);
} ring SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_REALS);
	__type(key, __u32);
	__type(value, struct real);
} reals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_CONNS);
	__type(key, struct flow_key);
	__type(value, __u32);
} conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lb_config);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_VIPS);
	__type(key, __u32);
	__type(value, struct vip_counters);
} vip_stats SEC(".maps");

/* A 32-bit mix of the 5-tuple; examples/load_balancer.py computes the same. */
static __always_inline __u32 flow_hash(const struct flow_key *f)
{
	__u32 h = f->saddr * 0x9e3779b1u;
	h ^= f->daddr + 0x7f4a7c15u + (h << 6) + (h >> 2);
	h ^= (((__u32)f->sport << 16) | f->dport) + 0x7f4a7c15u + (h << 6) + (h >> 2);
	h ^= f->proto;
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	return h;
}

SEC("xdp")
int load_balancer(struct xdp_md *ctx)
{
	struct cursor c = { (void *)(long)ctx->data, (void *)(long)ctx->data_end };
	__u64 bytes = c.end - c.pos;
	struct ethhdr *eth;

	if (parse_ethernet(&c, &eth) != bpf_htons(ETH_P_IP) || c.pos != (void *)(eth + 1))
		return XDP_PASS;
	struct iphdr *iph = parse_ipv4(&c);
	if (!iph || iph->frag_off & bpf_htons(0x3fff))
		return XDP_PASS;

	struct flow_key flow = {};
	flow.proto = iph->protocol;
	if (flow.proto != IPPROTO_TCP && flow.proto != IPPROTO_UDP)
		return XDP_PASS;
	if (!parse_ports(&c, flow.proto, &flow.sport, &flow.dport))
		return XDP_DROP;
	flow.saddr = iph->saddr;
	flow.daddr = iph->daddr;

	struct vip_key vip = { .addr = iph->daddr, .port = flow.dport, .proto = flow.proto };
	struct vip_meta *meta = bpf_map_lookup_elem(&vips, &vip);
	if (!meta)
		return XDP_PASS;
	__u32 vip_num = meta->vip_num;

	__u32 real_index;
	__u32 *known = bpf_map_lookup_elem(&conns, &flow);
	if (known) {
		real_index = *known;
	} else {
		__u32 slot = vip_num * RING_SIZE + flow_hash(&flow) % RING_SIZE;
		__u32 *chosen = bpf_map_lookup_elem(&ring, &slot);
		if (!chosen)
			return XDP_DROP;
		real_index = *chosen;
		bpf_map_update_elem(&conns, &flow, &real_index, BPF_ANY);
	}
	struct real *dst = bpf_map_lookup_elem(&reals, &real_index);
	__u32 zero = 0;
	struct lb_config *cfg = bpf_map_lookup_elem(&config, &zero);
	if (!dst || !cfg)
		return XDP_DROP;

	struct vip_counters *counters = bpf_map_lookup_elem(&vip_stats, &vip_num);
	if (counters) {		/* shared by every CPU: atomic adds */
		__sync_fetch_and_add(&counters->packets, 1);
		__sync_fetch_and_add(&counters->bytes, bytes);
	}
	if (encap_ipv4(ctx, cfg->source, dst->addr, cfg->gateway_mac))
		return XDP_DROP;
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";

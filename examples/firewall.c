/* Stateful firewall.
 *
 * Packets arriving on the trusted port (ingress ifindex TRUSTED_IFINDEX) open
 * a flow: their 5-tuple is recorded and they pass. Packets from any other
 * port pass only when they belong to a flow opened from the trusted side
 * (the reverse 5-tuple is known); all else is dropped, IPv4 headers with
 * options or cut short too. Ports count as 0 for protocols other than TCP
 * and UDP. Non-IPv4 traffic passes. Allowed packets pass to the host stack,
 * which forwards them. Verdicts are counted in `stats`, packets and bytes
 * (whole frames) per flow in `flows`.
 */
#include "common.h"

#define TRUSTED_IFINDEX 1
#define MAX_FLOWS 1024

enum verdict_counter {
	OPENED = 0,	/* trusted side, flow recorded */
	ESTABLISHED = 1,	/* untrusted side, reply of a known flow */
	BLOCKED = 2,	/* untrusted side, no flow */
	OTHER = 3,	/* not IPv4: passed untouched */
	COUNTERS = 4,
};

struct flow_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

struct flow_stats {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_FLOWS);
	__type(key, struct flow_key);
	__type(value, struct flow_stats);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, COUNTERS);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* Every CPU counts into the same array: an atomic add loses no count. */
static __always_inline int count(__u32 counter, int action)
{
	__u64 *value = bpf_map_lookup_elem(&stats, &counter);
	if (value)
		__sync_fetch_and_add(value, 1);
	return action;
}

SEC("xdp")
int firewall(struct xdp_md *ctx)
{
	struct cursor c = { (void *)(long)ctx->data, (void *)(long)ctx->data_end };
	__u64 bytes = c.end - c.pos;
	struct ethhdr *eth;

	if (parse_ethernet(&c, &eth) != bpf_htons(ETH_P_IP))
		return count(OTHER, XDP_PASS);
	struct iphdr *iph = parse_ipv4(&c);
	if (!iph)
		return count(BLOCKED, XDP_DROP);

	struct flow_key key = {};
	key.proto = iph->protocol;
	if (!parse_ports(&c, key.proto, &key.sport, &key.dport))
		return count(BLOCKED, XDP_DROP);

	if (ctx->ingress_ifindex == TRUSTED_IFINDEX) {
		key.saddr = iph->saddr;
		key.daddr = iph->daddr;
		struct flow_stats *flow = bpf_map_lookup_elem(&flows, &key);
		if (flow) {
			flow->packets += 1;
			flow->bytes += bytes;
		} else {
			struct flow_stats fresh = { 1, bytes };
			bpf_map_update_elem(&flows, &key, &fresh, BPF_NOEXIST);
		}
		return count(OPENED, XDP_PASS);
	}

	/* The reply direction: look the flow up as the trusted side opened it. */
	__be16 port = key.sport;
	key.sport = key.dport;
	key.dport = port;
	key.saddr = iph->daddr;
	key.daddr = iph->saddr;
	struct flow_stats *flow = bpf_map_lookup_elem(&flows, &key);
	if (!flow)
		return count(BLOCKED, XDP_DROP);
	flow->packets += 1;
	flow->bytes += bytes;
	return count(ESTABLISHED, XDP_PASS);
}

char _license[] SEC("license") = "GPL";

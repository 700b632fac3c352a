/* Answer IPv4 packets that are too big with ICMP "fragmentation needed",
 * in the style of the kernel's xdp_adjust_tail sample.
 *
 * An IPv4 packet longer than MAX_PACKET bytes (Ethernet frame) is turned in
 * place into the ICMP reply: the frame is cut to the Ethernet header plus
 * the first QUOTED bytes of the offending IP packet (bpf_xdp_adjust_tail),
 * room for a new IP and ICMP header is made in front (bpf_xdp_adjust_head),
 * and the reply goes back to the sender (XDP_TX) announcing MTU
 * MAX_PACKET - 14. Shorter packets pass. `icmp_sent` counts the replies.
 */
#include "common.h"

#define MAX_PACKET 600
#define QUOTED 48	/* IP header and 28 bytes of its payload */
#define ICMP_LEN (sizeof(struct icmp_hdr) + QUOTED)
#define REPLY_HEADROOM (sizeof(struct iphdr) + sizeof(struct icmp_hdr))

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} icmp_sent SEC(".maps");

static __always_inline __u16 icmp_checksum(struct icmp_hdr *icmp)
{
	__u16 *words = (__u16 *)icmp;
	__u32 sum = 0;
#pragma unroll
	for (int i = 0; i < (int)ICMP_LEN / 2; i++)
		sum += words[i];
	return csum_fold(sum);
}

SEC("xdp")
int adjust_tail(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *iph = data + sizeof(*eth);

	if ((void *)(iph + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	if (data_end - data <= MAX_PACKET)
		return XDP_PASS;

	struct ethhdr orig_eth = *eth;
	__be32 orig_saddr = iph->saddr;
	__be32 orig_daddr = iph->daddr;

	int length = data_end - data;
	if (bpf_xdp_adjust_tail(ctx, (int)(sizeof(*eth) + QUOTED) - length))
		return XDP_DROP;
	if (bpf_xdp_adjust_head(ctx, 0 - (int)REPLY_HEADROOM))
		return XDP_DROP;

	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	iph = data + sizeof(*eth);
	struct icmp_hdr *icmp = (void *)(iph + 1);
	if ((void *)icmp + ICMP_LEN > data_end)
		return XDP_DROP;

	__builtin_memcpy(eth->h_dest, orig_eth.h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, orig_eth.h_dest, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IP);

	icmp->type = ICMP_DEST_UNREACH;
	icmp->code = ICMP_FRAG_NEEDED;
	icmp->checksum = 0;
	icmp->unused = 0;
	icmp->mtu = bpf_htons(MAX_PACKET - sizeof(*eth));
	icmp->checksum = icmp_checksum(icmp);

	ipv4_fill(iph, sizeof(*iph) + ICMP_LEN, IPPROTO_ICMP, orig_daddr, orig_saddr);

	__u32 zero = 0;
	__u64 *sent = bpf_map_lookup_elem(&icmp_sent, &zero);
	if (sent)
		__sync_fetch_and_add(sent, 1);	/* shared by every CPU */
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";

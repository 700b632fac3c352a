/* A dispatcher that tail-calls a handler per EtherType through a prog array
 * its loader fills (here, from tail_calls.json): IPv4 to one program, IPv6
 * to another; an EtherType without a handler passes. Each handler counts. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

enum { HANDLE_IPV4 = 0, HANDLE_IPV6 = 1, HANDLERS = 2 };

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, HANDLERS);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} handlers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, HANDLERS);
	__type(key, __u32);
	__type(value, __u64);
} handled SEC(".maps");

static __always_inline int count(__u32 which, int verdict)
{
	__u64 *n = bpf_map_lookup_elem(&handled, &which);
	if (n)
		*n += 1;
	return verdict;
}

SEC("xdp")
int dispatch(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > end)
		return XDP_DROP;
	if (eth->h_proto == bpf_htons(ETH_P_IP))
		bpf_tail_call(ctx, &handlers, HANDLE_IPV4);
	else if (eth->h_proto == bpf_htons(ETH_P_IPV6))
		bpf_tail_call(ctx, &handlers, HANDLE_IPV6);
	return XDP_PASS;
}

SEC("xdp")
int handle_ipv4(struct xdp_md *ctx)
{
	return count(HANDLE_IPV4, XDP_TX);
}

SEC("xdp")
int handle_ipv6(struct xdp_md *ctx)
{
	return count(HANDLE_IPV6, XDP_DROP);
}

char _license[] SEC("license") = "GPL";

/* Drop every packet: the lower bound of any XDP engine's cost. */
#include <linux/bpf.h>
#include <hxdp/bpf_helpers.h>

SEC("xdp")
int xdp_drop(struct xdp_md *ctx)
{
	return XDP_DROP;
}

char _license[] SEC("license") = "GPL";

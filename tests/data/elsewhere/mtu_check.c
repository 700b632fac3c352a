/* bpf_check_mtu, as a program deciding whether an encapsulation fits:
 * the payload's first bytes say the L3 length to check (x100, 0: the
 * packet's own), the growth (signed, x1000) and the interface (0: the one
 * the packet came in on); the answer and the MTU go back in the packet. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int mtu_check(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u8 *p = data + sizeof(struct ethhdr);
	__u32 mtu;
	long rc;

	if ((void *)(p + 12) > end)
		return XDP_DROP;
	mtu = p[0] * 100;
	rc = bpf_check_mtu(ctx, p[2] == 0xff ? 999 : p[2], &mtu, (__s8)p[1] * 1000, 0);
	p[3] = rc;
	__builtin_memcpy(p + 4, &mtu, sizeof(mtu));
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";

/* bpf_loop: a callback sums the first bytes of the payload (the count
 * from the packet's first payload byte, at most 32) and stops at a 0xff
 * byte; the sum and the iterations bpf_loop reports go into the packet. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_helpers.h>

struct walk {
	__u8 *bytes;
	void *end;
	__u32 sum;
};

static int add_byte(__u32 index, void *data)
{
	struct walk *w = data;
	__u8 *p = w->bytes + (index & 31);

	if ((void *)(p + 1) > w->end)
		return 1;
	if (*p == 0xff)
		return 1;
	w->sum += *p;
	return 0;
}

SEC("xdp")
int loop_sum(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u8 *payload = data + sizeof(struct ethhdr);
	struct walk w = { payload + 8, end, 0 };
	__u32 *out;
	long done;

	if ((void *)(payload + 8) > end)
		return XDP_DROP;
	done = bpf_loop(payload[0] & 63, add_byte, &w, 0);
	out = (void *)(payload + 1);
	out[0] = w.sum;
	payload[5] = done;
	return XDP_TX;
}

char _license[] SEC("license") = "GPL";

/* Calls a helper hxdp does not provide (bpf_get_current_pid_tgid, id 14). */
#include <linux/bpf.h>
#include <hxdp/bpf_helpers.h>

static __u64 (*get_current_pid_tgid)(void) = (void *)14;

SEC("xdp")
int bad(struct xdp_md *ctx)
{
	return get_current_pid_tgid() & 3;
}

char _license[] SEC("license") = "GPL";

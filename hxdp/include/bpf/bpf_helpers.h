/* The helper header programs written for libbpf include, <bpf/bpf_helpers.h>:
 * section and map-definition macros, and the prototypes of the kernel helper
 * functions hxdp provides, each bound to its kernel helper id. Like libbpf's,
 * it declares no kernel types: include <linux/bpf.h> (or a vmlinux.h) first.
 */
#ifndef __BPF_HELPERS__
#define __BPF_HELPERS__

#define SEC(name) __attribute__((section(name), used))
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#ifndef __noinline
#define __noinline __attribute__((noinline))
#endif
#ifndef __weak
#define __weak __attribute__((weak))
#endif

/* BTF-defined maps: each field becomes a member whose BTF type carries the value. */
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define __array(name, val) typeof(val) *name[]

/* Legacy map definitions, in SEC("maps"). */
struct bpf_map_def {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct xdp_md;
struct bpf_fib_lookup;
struct bpf_spin_lock;

/* Helper functions, bound to their kernel ids. */
#define HXDP_HELPER(ret, name, id, ...) static ret (*name)(__VA_ARGS__) = (void *)id

HXDP_HELPER(void *, bpf_map_lookup_elem, 1, void *map, const void *key);
HXDP_HELPER(long, bpf_map_update_elem, 2, void *map, const void *key, const void *value, __u64 flags);
HXDP_HELPER(long, bpf_map_delete_elem, 3, void *map, const void *key);
HXDP_HELPER(__u64, bpf_ktime_get_ns, 5, void);
HXDP_HELPER(long, bpf_trace_printk, 6, const char *fmt, __u32 fmt_size, ...);
HXDP_HELPER(__u32, bpf_get_prandom_u32, 7, void);
HXDP_HELPER(__u32, bpf_get_smp_processor_id, 8, void);
HXDP_HELPER(long, bpf_tail_call, 12, void *ctx, void *prog_array_map, __u32 index);
HXDP_HELPER(long, bpf_redirect, 23, __u32 ifindex, __u64 flags);
HXDP_HELPER(__s64, bpf_csum_diff, 28, __be32 *from, __u32 from_size, __be32 *to, __u32 to_size, __wsum seed);
HXDP_HELPER(long, bpf_get_numa_node_id, 42, void);
HXDP_HELPER(long, bpf_xdp_adjust_head, 44, struct xdp_md *xdp_md, int delta);
HXDP_HELPER(long, bpf_redirect_map, 51, void *map, __u64 key, __u64 flags);
HXDP_HELPER(long, bpf_xdp_adjust_meta, 54, struct xdp_md *xdp_md, int delta);
HXDP_HELPER(long, bpf_xdp_adjust_tail, 65, struct xdp_md *xdp_md, int delta);
HXDP_HELPER(long, bpf_fib_lookup, 69, void *ctx, struct bpf_fib_lookup *params, int plen, __u32 flags);
HXDP_HELPER(long, bpf_map_push_elem, 87, void *map, const void *value, __u64 flags);
HXDP_HELPER(long, bpf_map_pop_elem, 88, void *map, void *value);
HXDP_HELPER(long, bpf_map_peek_elem, 89, void *map, void *value);
HXDP_HELPER(long, bpf_spin_lock, 93, struct bpf_spin_lock *lock);
HXDP_HELPER(long, bpf_spin_unlock, 94, struct bpf_spin_lock *lock);
HXDP_HELPER(__u64, bpf_jiffies64, 118, void);
HXDP_HELPER(__u64, bpf_ktime_get_boot_ns, 125, void);
HXDP_HELPER(long, bpf_ringbuf_output, 130, void *ringbuf, void *data, __u64 size, __u64 flags);
HXDP_HELPER(long, bpf_check_mtu, 163, void *ctx, __u32 ifindex, __u32 *mtu_len, __s32 len_diff, __u64 flags);
HXDP_HELPER(long, bpf_loop, 181, __u32 nr_loops, void *callback_fn, void *callback_ctx, __u64 flags);
HXDP_HELPER(__u64, bpf_xdp_get_buff_len, 188, struct xdp_md *xdp_md);
HXDP_HELPER(long, bpf_xdp_load_bytes, 189, struct xdp_md *xdp_md, __u32 offset, void *buf, __u32 len);
HXDP_HELPER(long, bpf_xdp_store_bytes, 190, struct xdp_md *xdp_md, __u32 offset, void *buf, __u32 len);

/* printk into the trace output: hxdp shows the lines with each packet. */
#define bpf_printk(fmt, ...)                                              \
	({                                                                \
		static const char ____fmt[] = fmt;                        \
		bpf_trace_printk(____fmt, sizeof(____fmt), ##__VA_ARGS__); \
	})

#endif

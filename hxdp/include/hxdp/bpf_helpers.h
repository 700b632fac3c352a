/* hxdp's helper header for XDP programs: the kernel's UAPI types, libbpf's
 * helper and byte-order headers (hxdp's own, <bpf/bpf_helpers.h> and
 * <bpf/bpf_endian.h>), in one include.
 */
#ifndef HXDP_BPF_HELPERS_H
#define HXDP_BPF_HELPERS_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#endif

/* Byte order as libbpf's <bpf/bpf_endian.h> names it: the BPF target here is
 * little endian; constants fold at compile time. */
#ifndef __BPF_ENDIAN__
#define __BPF_ENDIAN__

#define bpf_htons(x) ((__be16)__builtin_bswap16(x))
#define bpf_ntohs(x) ((__u16)__builtin_bswap16(x))
#define bpf_htonl(x) ((__be32)__builtin_bswap32(x))
#define bpf_ntohl(x) ((__u32)__builtin_bswap32(x))
#define bpf_cpu_to_be64(x) ((__be64)__builtin_bswap64(x))
#define bpf_be64_to_cpu(x) ((__u64)__builtin_bswap64(x))

#define __bpf_constant_htons(x) bpf_htons(x)
#define __bpf_constant_ntohs(x) bpf_ntohs(x)
#define __bpf_constant_htonl(x) bpf_htonl(x)
#define __bpf_constant_ntohl(x) bpf_ntohl(x)

#endif

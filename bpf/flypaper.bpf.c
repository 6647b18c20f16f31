// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * flypaper's XDP program: drop frames from flies before they cost userspace
 * a cycle, hand everything else to the port's AF_XDP socket.
 *
 *   parse Ethernet, up to two VLAN tags (802.1Q / 802.1ad), the IPv4 or
 *   IPv6 source address (bounds-checked; anything odd goes to userspace,
 *   whose filter drops it with a named reason);
 *   source in `flies` with an expiry in the future -> XDP_DROP;
 *   else bpf_redirect_map(&xsks, port slot * FP_MAX_QUEUES + rx queue,
 *   XDP_PASS): a queue without a socket passes to the kernel stack (where
 *   an AF_PACKET backend still sees it).
 *
 * The maps are the contract with userspace: see flypaper.h.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>

#include "flypaper.h"

/*
 * The few pieces of libbpf's bpf_helpers.h / bpf_endian.h this program
 * uses, so that building it needs only clang and the kernel's UAPI headers
 * (linux-libc-dev). Helper numbers are stable kernel ABI.
 */
#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int(*name)[val]
#define __type(name, val) typeof(val) *name
#undef __always_inline
#define __always_inline inline __attribute__((always_inline))
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define bpf_htons(x) ((__be16)__builtin_bswap16(x))
#else
#define bpf_htons(x) ((__be16)(x))
#endif
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)BPF_FUNC_map_lookup_elem;
static __u64 (*bpf_ktime_get_ns)(void) = (void *)BPF_FUNC_ktime_get_ns;
static long (*bpf_redirect_map)(void *map, __u64 key, __u64 flags) = (void *)BPF_FUNC_redirect_map;

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fp_addr);
	__type(value, struct fp_fly);
	__uint(max_entries, 1024); /* set by userspace before load */
} flies SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, FP_MAX_PORTS);
} ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__type(key, __u32);
	__type(value, __u32);
	__uint(max_entries, FP_XSKS_ENTRIES);
} xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, __u32);
	__type(value, __u64);
	__uint(max_entries, FP_CTR_MAX);
} counters SEC(".maps");

/* 802.1Q / 802.1ad tag after the MAC addresses. */
struct vlan_hdr {
	__be16 tci;
	__be16 encapsulated_proto;
};

static __always_inline void count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &idx);

	if (c)
		*c += 1; /* per-CPU: no atomics needed */
}

static __always_inline int is_vlan(__be16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD);
}

static __always_inline int to_socket(struct xdp_md *ctx)
{
	__u32 ifindex = ctx->ingress_ifindex;
	__u32 queue = ctx->rx_queue_index;
	__u32 *slot = bpf_map_lookup_elem(&ports, &ifindex);
	long ret;

	if (!slot || *slot >= FP_MAX_PORTS) {
		count(FP_CTR_NO_PORT);
		return XDP_PASS;
	}
	if (queue >= FP_MAX_QUEUES) {
		count(FP_CTR_NO_SOCKET);
		return XDP_PASS;
	}
	ret = bpf_redirect_map(&xsks, *slot * FP_MAX_QUEUES + queue, XDP_PASS);
	count(ret == XDP_REDIRECT ? FP_CTR_REDIRECTED : FP_CTR_NO_SOCKET);
	return (int)ret;
}

SEC("xdp")
int flypaper_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct vlan_hdr *vlan;
	struct fp_addr key = {};
	struct fp_fly *fly;
	void *l3;
	__be16 proto;

	if ((void *)(eth + 1) > data_end)
		goto malformed;
	proto = eth->h_proto;
	l3 = eth + 1;

	/* Up to two tags (QinQ), unrolled by hand: constant offsets. */
	if (is_vlan(proto)) {
		vlan = l3;
		if ((void *)(vlan + 1) > data_end)
			goto malformed;
		proto = vlan->encapsulated_proto;
		l3 = vlan + 1;
		if (is_vlan(proto)) {
			vlan = l3;
			if ((void *)(vlan + 1) > data_end)
				goto malformed;
			proto = vlan->encapsulated_proto;
			l3 = vlan + 1;
		}
	}

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;

		if ((void *)(ip + 1) > data_end || ip->version != 4)
			goto malformed;
		key.addr[10] = 0xff;
		key.addr[11] = 0xff;
		__builtin_memcpy(&key.addr[12], &ip->saddr, 4);
		count(FP_CTR_IPV4);
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;

		if ((void *)(ip6 + 1) > data_end || ip6->version != 6)
			goto malformed;
		__builtin_memcpy(key.addr, &ip6->saddr, 16);
		count(FP_CTR_IPV6);
	} else {
		count(FP_CTR_NON_IP);
		return to_socket(ctx);
	}

	fly = bpf_map_lookup_elem(&flies, &key);
	if (fly) {
		if (bpf_ktime_get_ns() < fly->expires_ns) {
			count(FP_CTR_FLY_DROPS);
			return XDP_DROP;
		}
		count(FP_CTR_FLY_EXPIRED);
	}
	return to_socket(ctx);

malformed:
	count(FP_CTR_MALFORMED);
	return to_socket(ctx);
}

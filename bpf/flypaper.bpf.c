// SPDX-License-Identifier: MIT OR Apache-2.0
/*
 * flypaper's XDP program: drop frames from flies before they cost userspace
 * a cycle, hand everything else to the port's AF_XDP socket.
 *
 *   parse, bounds-checked, the source address behind what a fly could wrap
 *   its frames in:
 *     Ethernet, up to FP_MAX_VLAN_TAGS tags (TPID 0x8100, 0x88a8 or
 *     0x9100, in any mix), then
 *       IPv4 / IPv6, or
 *       a PPPoE session (0x8864) carrying PPP IPv4 (0x0021) / IPv6 (0x0057), or
 *       MPLS (0x8847, 0x8848): up to FP_MAX_MPLS_LABELS labels, then IPv4 /
 *       IPv6 by the version nibble;
 *     and one tunnel level inside that IP header: IP-in-IP (4), 6in4 /
 *     6in6 (41) or GRE (47; version 0, optional checksum, key and sequence
 *     number; IPv4 or IPv6 inside), behind IPv4 (with options) or directly
 *     behind the fixed IPv6 header (extension headers are not walked);
 *   the outer source, then the inner one, masked to its prefix (the
 *   family's mask in `config`), in `flies` with an expiry in the future
 *   -> XDP_DROP;
 *   else bpf_redirect_map(&xsks, port slot * FP_MAX_QUEUES + rx queue,
 *   XDP_PASS): a queue without a socket passes to the kernel stack (where
 *   an AF_PACKET backend still sees it).
 *
 * Anything odd (truncated, too deep, wrong version) goes to userspace,
 * whose filter drops it with a named reason; non-IP frames (ARP, PPPoE
 * discovery and LCP/IPCP, ...) go there too. The maps are the contract
 * with userspace: see flypaper.h.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
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
#define bpf_ntohs(x) ((__u16)__builtin_bswap16(x))
#define bpf_htonl(x) ((__be32)__builtin_bswap32(x))
#else
#define bpf_htons(x) ((__be16)(x))
#define bpf_ntohs(x) ((__u16)(x))
#define bpf_htonl(x) ((__be32)(x))
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

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, __u32);
	__type(value, struct fp_config);
	__uint(max_entries, 1);
} config SEC(".maps");

/*
 * A source address as the flies map's key, and as words to test and mask
 * it by (8-byte aligned: the verifier wants aligned stack accesses).
 */
union src_key {
	struct fp_addr addr;
	__u32 w32[4];
	__u64 w64[2];
};

/* A VLAN tag after the MAC addresses (or after another tag). */
struct vlan_hdr {
	__be16 tci;
	__be16 encapsulated_proto;
};

/* A PPPoE session header (RFC 2516) and the PPP protocol after it. */
struct pppoe_hdr {
	__u8 ver_type; /* 0x11 */
	__u8 code;     /* 0x00 in session frames */
	__be16 session;
	__be16 length;
	__be16 ppp_proto;
};

#define PPP_IPV4 0x0021
#define PPP_IPV6 0x0057

/* The fixed part of a GRE header (RFC 2784, RFC 2890). */
struct gre_hdr {
	__be16 flags; /* C R K S ... version */
	__be16 proto; /* an EtherType */
};

#define GRE_CSUM 0x8000    /* 4 bytes: checksum and reserved */
#define GRE_ROUTING 0x4000 /* obsolete source routing */
#define GRE_KEY 0x2000     /* 4 bytes */
#define GRE_SEQ 0x1000     /* 4 bytes */
#define GRE_VERSION 0x0007

/* The IPv4 fragment offset bits of frag_off (host order). */
#define IP_FRAG_OFFSET 0x1fff

/* parse_ip's "no header of the carried protocol starts here". */
#define NO_PAYLOAD 256

static __always_inline void count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &idx);

	if (c)
		*c += 1; /* per-CPU: no atomics needed */
}

static __always_inline int is_vlan(__be16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD) ||
	       proto == bpf_htons(ETH_P_QINQ1);
}

/*
 * The link layer: Ethernet, VLAN tags, then PPPoE or MPLS if there. Sets
 * *l3 to the network header and *encap to what it was found behind
 * (FP_CTR_PPPOE, FP_CTR_MPLS, or FP_CTR_MAX for neither). Returns what the
 * network header is: FP_CTR_IPV4, FP_CTR_IPV6, FP_CTR_NON_IP or
 * FP_CTR_MALFORMED. Loops are unrolled: every offset is a constant.
 */
static __always_inline __u32 parse_link(void *data, void *data_end, void **l3, __u32 *encap)
{
	struct ethhdr *eth = data;
	void *pos = eth + 1;
	__be16 proto;
	int i;

	*encap = FP_CTR_MAX;
	if (pos > data_end)
		return FP_CTR_MALFORMED;
	proto = eth->h_proto;

#pragma unroll
	for (i = 0; i < FP_MAX_VLAN_TAGS && is_vlan(proto); i++) {
		struct vlan_hdr *vlan = pos;

		if ((void *)(vlan + 1) > data_end)
			return FP_CTR_MALFORMED;
		proto = vlan->encapsulated_proto;
		pos = vlan + 1;
	}
	if (is_vlan(proto))
		return FP_CTR_MALFORMED; /* a deeper stack: userspace drops it */

	if (proto == bpf_htons(ETH_P_PPP_SES)) {
		struct pppoe_hdr *ppp = pos;

		if ((void *)(ppp + 1) > data_end || ppp->ver_type != 0x11 || ppp->code != 0)
			return FP_CTR_MALFORMED;
		*l3 = ppp + 1;
		*encap = FP_CTR_PPPOE;
		if (ppp->ppp_proto == bpf_htons(PPP_IPV4))
			return FP_CTR_IPV4;
		if (ppp->ppp_proto == bpf_htons(PPP_IPV6))
			return FP_CTR_IPV6;
		return FP_CTR_NON_IP; /* LCP, IPCP, IPV6CP, ... */
	}

	if (proto == bpf_htons(ETH_P_MPLS_UC) || proto == bpf_htons(ETH_P_MPLS_MC)) {
		__u8 *label = pos;
		int bottom = 0;

#pragma unroll
		for (i = 0; i < FP_MAX_MPLS_LABELS; i++) {
			if ((void *)(label + 4) > data_end)
				return FP_CTR_MALFORMED;
			bottom = label[2] & 0x01; /* bottom of stack: 0x100 of the entry */
			label += 4;
			if (bottom)
				break;
		}
		if (!bottom || (void *)(label + 1) > data_end)
			return FP_CTR_MALFORMED; /* too deep, or nothing below it */
		*l3 = label;
		*encap = FP_CTR_MPLS;
		switch (label[0] >> 4) { /* no EtherType here: the IP version says */
		case 4:
			return FP_CTR_IPV4;
		case 6:
			return FP_CTR_IPV6;
		default:
			return FP_CTR_NON_IP; /* a pseudowire */
		}
	}

	*l3 = pos;
	if (proto == bpf_htons(ETH_P_IP))
		return FP_CTR_IPV4;
	if (proto == bpf_htons(ETH_P_IPV6))
		return FP_CTR_IPV6;
	return FP_CTR_NON_IP;
}

/*
 * The IP header at l3, of kind FP_CTR_IPV4 or FP_CTR_IPV6: copies its
 * source into *key (IPv4 mapped) and sets *payload to where the protocol
 * it carries starts. Returns that protocol (IPv4 protocol, or the IPv6
 * next header: extension headers are not walked), NO_PAYLOAD for an IPv4
 * fragment after the first, or -1 when the header is truncated or
 * inconsistent.
 */
static __always_inline int parse_ip(void *l3, void *data_end, __u32 kind, struct fp_addr *key,
				    void **payload)
{
	if (kind == FP_CTR_IPV4) {
		struct iphdr *ip = l3;

		if ((void *)(ip + 1) > data_end || ip->version != 4 || ip->ihl < 5)
			return -1;
		key->addr[10] = 0xff;
		key->addr[11] = 0xff;
		__builtin_memcpy(&key->addr[12], &ip->saddr, 4);
		/* ihl is 4 bits: options add at most 40 bytes, a bounded offset. */
		*payload = l3 + ip->ihl * 4;
		if (ip->frag_off & bpf_htons(IP_FRAG_OFFSET))
			return NO_PAYLOAD;
		return ip->protocol;
	} else {
		struct ipv6hdr *ip6 = l3;

		if ((void *)(ip6 + 1) > data_end || ip6->version != 6)
			return -1;
		__builtin_memcpy(key->addr, &ip6->saddr, 16);
		*payload = ip6 + 1;
		return ip6->nexthdr;
	}
}

/*
 * The tunnel, if any, that an IP header carrying protocol `next` at
 * `payload` is: sets *inner to the inner IP header and returns its kind
 * (FP_CTR_IPV4 or FP_CTR_IPV6); FP_CTR_MAX when there is no tunnel to look
 * into; FP_CTR_MALFORMED when the GRE header is truncated.
 */
static __always_inline __u32 parse_tunnel(int next, void *payload, void *data_end, void **inner)
{
	struct gre_hdr *gre = payload;
	__u16 flags;

	*inner = payload;
	if (next == IPPROTO_IPIP)
		return FP_CTR_IPV4;
	if (next == IPPROTO_IPV6)
		return FP_CTR_IPV6;
	if (next != IPPROTO_GRE)
		return FP_CTR_MAX;

	if ((void *)(gre + 1) > data_end)
		return FP_CTR_MALFORMED;
	flags = bpf_ntohs(gre->flags);
	/* Like the kernel's GRE: version 1 (PPTP) and source routing are not decapsulated. */
	if (flags & (GRE_ROUTING | GRE_VERSION))
		return FP_CTR_MAX;
	/* Each optional field is 4 bytes: a bounded offset of at most 12. */
	*inner = (void *)(gre + 1) + (flags & GRE_CSUM ? 4 : 0) + (flags & GRE_KEY ? 4 : 0) +
		 (flags & GRE_SEQ ? 4 : 0);
	if (gre->proto == bpf_htons(ETH_P_IP))
		return FP_CTR_IPV4;
	if (gre->proto == bpf_htons(ETH_P_IPV6))
		return FP_CTR_IPV6;
	return FP_CTR_MAX; /* Ethernet (gretap), ERSPAN, ...: outer source only */
}

/*
 * Clears the bits of `key` after its prefix: an IPv4-mapped address
 * (::ffff:a.b.c.d, whatever header it came in) takes the IPv4 mask, any
 * other the IPv6 one. Without a config (never: userspace writes it at
 * load) the address is looked up whole.
 */
static __always_inline void mask_key(union src_key *key, const struct fp_config *cfg)
{
	const __u64 *mask;

	if (!cfg)
		return;
	if (key->w64[0] == 0 && key->w32[2] == bpf_htonl(0xffff))
		mask = cfg->mask_v4;
	else
		mask = cfg->mask_v6;
	key->w64[0] &= mask[0];
	key->w64[1] &= mask[1];
}

/* True when the prefix of `key` (masked in place) is a fly now. */
static __always_inline int is_fly(union src_key *key, const struct fp_config *cfg)
{
	struct fp_fly *fly;

	mask_key(key, cfg);
	fly = bpf_map_lookup_elem(&flies, &key->addr);

	if (!fly)
		return 0;
	if (bpf_ktime_get_ns() < fly->expires_ns) {
		__sync_fetch_and_add(&fly->hits, 1);
		return 1;
	}
	count(FP_CTR_FLY_EXPIRED);
	return 0;
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
	union src_key outer = {}, inner = {};
	void *l3 = data, *payload = data, *inner_l3 = data;
	__u32 kind, encap, inner_kind, zero = 0;
	struct fp_config *cfg;
	int next;

	kind = parse_link(data, data_end, &l3, &encap);
	if (kind != FP_CTR_IPV4 && kind != FP_CTR_IPV6) {
		count(kind); /* NON_IP or MALFORMED: never a fly here */
		return to_socket(ctx);
	}
	next = parse_ip(l3, data_end, kind, &outer.addr, &payload);
	if (next < 0) {
		count(FP_CTR_MALFORMED);
		return to_socket(ctx);
	}

	/* One tunnel level. A fault inside it still leaves the outer source. */
	inner_kind = parse_tunnel(next, payload, data_end, &inner_l3);
	if (inner_kind == FP_CTR_IPV4 || inner_kind == FP_CTR_IPV6) {
		if (parse_ip(inner_l3, data_end, inner_kind, &inner.addr, &payload) < 0)
			inner_kind = FP_CTR_MALFORMED;
	}

	/* What it was (once per frame), and where its address was found. */
	if (inner_kind == FP_CTR_MALFORMED) {
		count(FP_CTR_MALFORMED);
	} else {
		count(kind);
		if (encap != FP_CTR_MAX)
			count(encap);
		if (inner_kind != FP_CTR_MAX)
			count(FP_CTR_TUNNEL);
	}

	cfg = bpf_map_lookup_elem(&config, &zero);
	if (is_fly(&outer, cfg) ||
	    ((inner_kind == FP_CTR_IPV4 || inner_kind == FP_CTR_IPV6) && is_fly(&inner, cfg))) {
		count(FP_CTR_FLY_DROPS);
		return XDP_DROP;
	}
	return to_socket(ctx);
}

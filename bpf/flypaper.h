/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * The ABI between flypaper's XDP program (flypaper.bpf.c) and userspace
 * (src/sys/xdp.rs, which mirrors every struct and constant below with
 * #[repr(C)] types and checks them in its tests and again at load time).
 *
 * Maps (names are what userspace looks them up by):
 *   flies     HASH          key struct fp_addr (a prefix: an address
 *                           masked as below), value struct fp_fly. A
 *                           prefix whose expiry lies in the future
 *                           (CLOCK_MONOTONIC ns, bpf_ktime_get_ns) is a
 *                           fly: frames from its sources are dropped here.
 *                           max_entries is set by userspace before load.
 *   ports     HASH          key __u32 ifindex, value __u32 port slot
 *                           (0..FP_MAX_PORTS), written by userspace when
 *                           it attaches the program to an interface.
 *   xsks      XSKMAP        key slot * FP_MAX_QUEUES + rx_queue_index,
 *                           value an AF_XDP socket fd.
 *   counters  PERCPU_ARRAY  index enum fp_counter, value __u64.
 *   config    ARRAY         one entry (key 0), value struct fp_config: the
 *                           prefix lengths flies are keyed by. Written by
 *                           userspace right after load (IPv4 /32, IPv6
 *                           /64) and whenever the lengths change; the
 *                           program only reads it.
 *
 * A fly is a prefix: the program masks each source it looks up with its
 * family's mask from `config`, and userspace keys `flies` by sources
 * masked the same way (flypaper::Addr::masked). The family is the
 * address's, not the header's: an IPv4-mapped source (::ffff:a.b.c.d) in
 * an IPv6 header is IPv4, as in userspace.
 */
#ifndef FLYPAPER_H
#define FLYPAPER_H

#include <linux/types.h>

/* Interfaces one loaded program can serve (WAN, LAN and spares). */
#define FP_MAX_PORTS 8
/* RX queues per interface that can have an AF_XDP socket. */
#define FP_MAX_QUEUES 64
/* Entries of the xsks map. */
#define FP_XSKS_ENTRIES (FP_MAX_PORTS * FP_MAX_QUEUES)

/*
 * A source address, exactly like flypaper::Addr: 16 bytes in network byte
 * order; IPv4 is IPv4-mapped (::ffff:a.b.c.d).
 */
struct fp_addr {
	__u8 addr[16];
};

/* What the flies map holds for one fly. */
struct fp_fly {
	__u64 expires_ns; /* CLOCK_MONOTONIC; the fly is dropped while now < expires_ns */
	__u64 hits;       /* frames of it the program dropped (atomic add); userspace writes 0 */
};

/*
 * The prefix lengths flies are keyed by, and their masks, precomputed by
 * userspace so that the program ANDs two words per source instead of
 * shifting by a variable. Each mask is a 16-byte mask of an address as in
 * struct fp_addr (network byte order, read as two __u64 words);
 * mask_v4 covers the 96 bits of the IPv4 mapping plus prefix_v4 bits.
 * prefix_v4 and prefix_v6 say what the masks are (for operators and
 * userspace); the program reads only the masks.
 */
struct fp_config {
	__u8 prefix_v4;   /* 8..=32 */
	__u8 prefix_v6;   /* 32..=128 */
	__u8 pad[6];      /* zero */
	__u64 mask_v4[2]; /* network byte order */
	__u64 mask_v6[2]; /* network byte order */
};

/*
 * How deep the program looks for a source address. Deeper VLAN stacks and
 * MPLS stacks without a bottom-of-stack label within the bound are counted
 * MALFORMED and handed to userspace, whose filter drops them.
 */
#define FP_MAX_VLAN_TAGS 3   /* TPIDs 0x8100, 0x88a8, 0x9100, in any mix */
#define FP_MAX_MPLS_LABELS 8 /* 4-byte label stack entries */

/*
 * Per-CPU counters. Two families, each summing to the frames seen:
 * - what happened: REDIRECTED + FLY_DROPS + NO_SOCKET + NO_PORT;
 * - what it was: IPV4 + IPV6 + NON_IP + MALFORMED, where IPV4 / IPV6 is
 *   the outer IP header, and a frame any of whose headers (a tunnel's
 *   inner one included) is truncated or inconsistent is MALFORMED.
 * Where the address was found, for frames counted IPV4 or IPV6 only:
 * PPPOE + MPLS <= IPV4 + IPV6 (a frame is behind one or neither), and
 * TUNNEL <= IPV4 + IPV6.
 * FLY_EXPIRED counts lookups that found an expired entry (not a fly).
 */
enum fp_counter {
	FP_CTR_REDIRECTED = 0, /* handed to the AF_XDP socket of (port, queue) */
	FP_CTR_FLY_DROPS = 1,  /* a source (outer or inner) is a fly: XDP_DROP */
	FP_CTR_NO_SOCKET = 2,  /* no socket registered for (port, queue): XDP_PASS */
	FP_CTR_NO_PORT = 3,    /* ingress interface not registered: XDP_PASS */
	FP_CTR_IPV4 = 4,
	FP_CTR_IPV6 = 5,
	FP_CTR_NON_IP = 6,      /* ARP, STP, LLDP, PPPoE LCP, ...: never a fly */
	FP_CTR_MALFORMED = 7,   /* headers truncated, bad IP version, too deep: userspace decides */
	FP_CTR_FLY_EXPIRED = 8, /* found in flies but expired: not a fly */
	FP_CTR_PPPOE = 9,       /* IP found in a PPPoE session frame */
	FP_CTR_MPLS = 10,       /* IP found below an MPLS label stack */
	FP_CTR_TUNNEL = 11,     /* an inner source found too (IPIP, 6in4, GRE, 4in6, 6in6) */
	FP_CTR_MAX = 12,
};

#endif /* FLYPAPER_H */

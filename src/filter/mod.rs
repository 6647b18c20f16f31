//! The decision engine: `process(now, direction, frame) -> Verdict`.
//!
//! # Contract
//!
//! The filter is deterministic and sans-IO. It makes no syscalls, reads no
//! clock (`now` is passed in), and allocates nothing per frame: every table
//! is sized when the filter is built and never grows. Given the same policy,
//! seed, frames and times, it returns the same verdicts. The data path calls
//! it with a monotonic clock; `replay` with a capture's timestamps; tests
//! with a virtual clock.
//!
//! One `Filter` per worker thread. Per-source buckets and the flow table
//! belong to the worker; the blacklist of flies is shared by every worker
//! (an `Arc<Blacklist>`, lock-free for readers).
//!
//! # Order of the rules
//!
//! 1. Frames longer than [`MAX_FRAME`] are `oversize` (the live path
//!    cannot carry them; replay agrees). Parse: up to three VLAN tags
//!    (0x8100, 0x88a8, 0x9100), a PPPoE session, an MPLS label stack, IPv4
//!    (header checksum and options checked) or IPv6 (extension headers
//!    walked), and one level of tunnel (IP in IP, IPv6 in IPv4, GRE
//!    carrying IP, 4in6, 6in6). Malformed frames are dropped (`malformed`,
//!    counted by kind; a first fragment too short for its transport header
//!    is `frag-tiny`).
//! 2. ARP, PPPoE discovery and the PPP control protocols pass; MPLS not
//!    followed by IP from the WAN is `mpls` (policy); other non-IP frames
//!    pass unless `drop_non_ip`.
//! 3. A tunnel from the WAN is inspected (`filter.tunnels`): its outer
//!    header meets the address and header rules, and the inner packet is
//!    the one judged below; a tunnel in a tunnel, or a fragmented one, is
//!    `tunnel`. A tunnel leaving the LAN is tracked by its inner packet,
//!    whose addresses are not checked.
//! 4. A fly's frames are dropped (`fly`), from either port, whether the fly
//!    is the packet's source or a tunnel's outer source.
//! 5. Address rules. From the WAN: bogon sources (`bogon-src`; IPv6
//!    link-local sources only toward link-local or multicast destinations;
//!    `::` only for duplicate address detection and MLD), bogus
//!    destinations (`bogus-dst`; DHCP replies to the broadcast address
//!    excepted), LAN sources (`spoofed`). From the LAN: sources outside the
//!    LAN prefixes (`spoofed`; DHCP discovery from 0.0.0.0, `::` and
//!    link-local excepted). Anti-spoof applies per family only when the
//!    config names LAN prefixes of that family. Then, both ways: TTL or hop
//!    limit 0 (`ttl-zero`), IPv4 source routes and IPv6 routing header type
//!    0 (`source-route`), bogus TCP flags (`tcp-flags`).
//! 6. Strict mode: an inspected tunnel from the WAN needs an allow rule
//!    for its protocol or a flow the LAN opened (`not-allowed`, makes a
//!    fly).
//! 7. TCP: a new attempt from the WAN (SYN without ACK) to a trap port
//!    makes a fly (`trap`); in strict mode one that no allow rule matches
//!    makes a fly (`not-allowed`); every attempt counts against the
//!    source's SYN limit (`syn-rate`; a sliding window by default, as
//!    iptables' `recent`). Then connection state (`invalid`); an RST from
//!    the WAN is rate limited per source (`rst-rate`) and, if accepted,
//!    delayed (`Verdict::Delay`).
//! 8. UDP: from the WAN a datagram that belongs to no flow and goes to a
//!    trap port makes a fly; DHCP and DHCPv6 pass; in strict mode a
//!    datagram from the WAN that belongs to no flow and matches no allow
//!    rule makes a fly.
//! 9. ICMP from the WAN: types the policy drops (`icmp-type`: redirect,
//!    timestamp and address-mask requests by default); echo requests to a
//!    LAN prefix's directed broadcast or an IPv6 multicast group (`smurf`);
//!    in strict mode an echo request without an allow rule makes a fly;
//!    everything is rate limited per source (`icmp-rate`). Neighbour
//!    discovery, both ways, only with hop limit 255, router advertisements
//!    and redirects only from link-local sources (`nd-invalid`), rate
//!    limited per source from the WAN (`nd-rate`).
//! 10. Other protocols (GRE, ESP, SCTP, UDP-Lite, ...) in strict mode: from
//!     the WAN they need an allow rule for their number or a flow the LAN
//!     opened (`not-allowed`, makes a fly).
//! 11. A later fragment follows its datagram's first fragment (whose
//!     verdict a bounded table remembers): `frag-after-drop` if that was
//!     dropped; `frag-orphan` if it was never seen (dropped at once, never a
//!     fly); `frag-overlap` at TCP offset 8 or over the first fragment's
//!     transport header; `frag-too-big` past 65535 bytes.
//!
//! A never-block source is dropped by these rules like any other, but it
//! never becomes a fly.

pub mod blacklist;
pub mod bucket;
pub mod cookie;
pub mod delay;
pub mod flows;
pub mod frags;
pub mod hash;
pub mod lpm;
pub mod policy;
pub mod sources;
pub mod table;
pub mod tcpflags;
pub mod trust;
pub mod verdict;

use std::sync::Arc;

use arrayvec::ArrayVec;

pub use blacklist::{Blacklist, Class, FlyEntry, FlyPrefix, Insert};
pub use policy::{Policy, Proof, Proto};
pub use verdict::{Direction, Nanos, Reason, Verdict};

use crate::addr::Addr;
use crate::wire::{self, icmp, IpProtocol, L3, L4};
use bucket::{Bucket, SharedBucket};
use cookie::{CookieKey, Tuple};
use delay::{DelayQueue, Refused};
use flows::{tcp_step, FlowKey, FlowTable, State, TcpStep};
use frags::{FragCheck, FragInfo, FragKey, FragTable, Remembered};
use hash::SeededHash;
use policy::{Pickup, LINK_LOCAL_V4, LINK_LOCAL_V6, MULTICAST_V6};
use policy::{SynMode, TunnelMode};
use sources::SourceTable;
use trust::Trust;
use trust::{Key as TrustKey, Kind as TrustKind};
use wire::reply::REPLY_MAX;

/// Events queued per worker between two drains.
pub const EVENT_QUEUE: usize = 256;

/// Frames `process_batch` prepares together.
pub const BATCH: usize = 32;

/// Frames the filter may have waiting for `poll_transmit` (SYN-ACKs): one
/// batch's worth.
pub const TX_QUEUE: usize = BATCH;

/// How long an address seen as a source on the LAN stays known as a LAN
/// address (refreshed by its frames).
pub const LAN_LEARN_SECS: u32 = 3600;

/// Per-source SYN-ACK limiters per worker (direct-mapped by the source
/// key's hash: two sources that share one are limited together, never
/// less).
const REPLY_LIMITERS: usize = 4096;

/// Entries of the per-worker memo of sources vouched for this minute.
const VOUCH_MEMO: usize = 4096;

/// What kind of frame it is, as far as the rules care.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Kind {
    #[default]
    Malformed,
    /// Larger than [`MAX_FRAME`].
    Oversize,
    Arp,
    /// Not IP and not ARP.
    NonIp,
    /// PPPoE discovery and the PPP control protocols.
    LinkControl,
    /// MPLS not followed by IP.
    MplsOther,
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    /// IP carrying another protocol (or ICMP of the other family, or a
    /// tunnel judged by its outer header).
    OtherIp,
    /// A non-first fragment: no L4 header.
    Fragment,
}

/// What the first stage learns about a frame. Flat (no nested enums), so
/// that the stages pass one small record per frame along the batch.
#[derive(Clone, Copy, Debug, Default)]
struct Pre {
    src: Addr,
    /// The source's fly key: its address masked to the fly prefix.
    src_key: Addr,
    /// The packet is a tunnel's inner packet.
    inner: bool,
    dst: Addr,
    /// The hash of the source's fly key (its address masked to the fly
    /// prefix): its blacklist bucket, its rate-limit entry, its trust
    /// line.
    src_hash: u64,
    /// The flow's hash, when `flow`.
    flow_hash: u64,
    sport: u16,
    dport: u16,
    kind: Kind,
    /// TCP flags, or the ICMP type.
    flags: u8,
    ttl: u8,
    /// The IP protocol (for a later fragment, the datagram's).
    proto: u8,
    v6: bool,
    /// The rules will need the source's rate-limit entry.
    need_src: bool,
    /// The frame belongs to a tracked flow (TCP; UDP in strict mode or with
    /// UDP traps; other protocols in strict mode).
    flow: bool,
    /// The blacklist bitmap has the source key's bit.
    maybe_fly: bool,
    /// TCP sequence and acknowledgment numbers (SYN cookies).
    seq: u32,
    ack: u32,
    /// `ParseError::index` of a malformed frame.
    perr: u8,
    /// What the rules that read only the frame say: the address rules
    /// (bogons, bogus destinations, anti-spoof), TTL 0, source routes,
    /// tunnels the policy drops, then bogus TCP flags. Worked out in the
    /// first stage, applied in rule order.
    stateless_drop: Option<Reason>,
    /// The packet's fragment fields (see `wire::IpSummary`).
    frag: wire::Frag,
    frag_more: bool,
    l4_hdr: u16,
    frag_offset: u16,
    frag_len: u16,
    frag_id: u32,
}

/// An inspected tunnel's outer header: source, destination and protocol
/// (the frame is judged by its inner packet). Kept beside the batch's
/// `Pre` records rather than in them: tunnels are rare, and the records
/// stay small.
type Outer = Option<(Addr, Addr, u8)>;

impl Pre {
    #[inline(always)]
    fn is_ip(&self) -> bool {
        !matches!(
            self.kind,
            Kind::Malformed
                | Kind::Oversize
                | Kind::Arp
                | Kind::NonIp
                | Kind::LinkControl
                | Kind::MplsOther
        )
    }

    /// The frame's flow key, from its sender. Protocols without ports are
    /// keyed by their number (`other_flow_key`).
    #[inline(always)]
    fn flow_key(&self) -> FlowKey {
        match self.kind {
            Kind::Tcp => self.ported_key(IpProtocol::TCP),
            Kind::Udp => self.ported_key(IpProtocol::UDP),
            _ => other_flow_key(self.proto, self.src, self.dst, self.v6),
        }
    }

    #[inline(always)]
    fn ported_key(&self, proto: u8) -> FlowKey {
        FlowKey::of_family(proto, self.src, self.sport, self.dst, self.dport, self.v6)
    }

    /// The connection's four-tuple, from the sender (SYN cookies).
    fn tuple(&self) -> Tuple {
        Tuple {
            src: self.src,
            dst: self.dst,
            sport: self.sport,
            dport: self.dport,
        }
    }

    /// Mark the frame malformed, of kind `e`.
    #[cold]
    fn malformed(&mut self, e: wire::ParseError) {
        self.kind = Kind::Malformed;
        self.perr = e.index() as u8;
    }

    /// The datagram's reassembly key: IPv4 reassembles by (source,
    /// destination, id, protocol); IPv6 by (source, destination, id) only
    /// (RFC 8200 section 4.5), and a later fragment's "protocol" would be
    /// the fragment header's next header, not the first fragment's upper
    /// layer, when extension headers follow the fragment header.
    fn frag_key(&self) -> FragKey {
        FragKey {
            src: self.src,
            dst: self.dst,
            id: self.frag_id,
            proto: if self.v6 { 0 } else { self.proto },
            v6: self.v6,
        }
    }
}

/// The flow of a protocol without ports (GRE, ESP, SCTP as a whole, ...):
/// both "ports" are the protocol number in the top port range, the same
/// both ways so that a reply finds the flow.
#[inline(always)]
fn other_flow_key(proto: u8, src: Addr, dst: Addr, v6: bool) -> FlowKey {
    let port = 0xff00 | u16::from(proto);
    FlowKey::of_family(proto, src, port, dst, port, v6)
}

/// The largest frame the data path carries: an AF_XDP frame holds 1792
/// bytes after its headroom (a 1500-byte MTU with tags and PPPoE fits).
/// Larger frames are `oversize` in every driver, replay included.
pub const MAX_FRAME: usize = 1792;

/// Something the control plane must hear about (log, persist).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A new fly.
    Lockout(FlyEntry),
    /// A fly evicted from the full blacklist to make room for a new one.
    Evicted(FlyEntry),
    /// A trap hit or strict-mode miss from a source that is vouched for
    /// (a live two-way conversation) or a LAN address: dropped, not locked
    /// out. `addr` is the source, `proto`/`port` what it tried.
    Suspect { addr: Addr, proto: Proto, port: u16 },
}

/// A frame the filter wants sent (a SYN-ACK carrying a SYN cookie).
#[derive(Clone)]
pub struct Transmit {
    /// The port it leaves by: the one the SYN came in on.
    pub port: Direction,
    len: usize,
    buf: [u8; REPLY_MAX],
}

impl Transmit {
    pub fn frame(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl std::fmt::Debug for Transmit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Transmit({:?}, {} bytes)", self.port, self.len)
    }
}

/// What every worker's filter shares: the flies, the trust table, the
/// cookie key and the global SYN-ACK limit.
pub struct Shared {
    pub blacklist: Blacklist,
    pub trust: Trust,
    pub cookies: CookieKey,
    /// The global limit on SYN-ACKs (`trap.synack_global`).
    pub replies: SharedBucket,
}

impl Shared {
    /// The shared state for `policy`; `seed` keys the blacklist's hash and
    /// the cookies (pass a random one in the data path).
    pub fn new(policy: &Policy, seed: u64) -> Shared {
        let k = hash::SeededHash::new(seed ^ 0x636f_6f6b_6965);
        Shared {
            blacklist: Blacklist::with_prefix(policy.tables.flies, seed, policy.fly_prefix),
            trust: Trust::new(policy.tables.trust),
            cookies: CookieKey::new(k.hash128(1), k.hash128(2)),
            replies: SharedBucket::default(),
        }
    }
}

/// Counters of one worker. Readers sum the workers' copies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub frames_wan: u64,
    pub frames_lan: u64,
    /// Bytes of those frames (as they entered).
    pub bytes_wan: u64,
    pub bytes_lan: u64,
    pub forwarded: u64,
    pub delayed: u64,
    /// Drops per reason, from both ports.
    pub drops: [u64; Reason::COUNT],
    /// The part of `drops` that entered from the LAN (the rest entered
    /// from the WAN: [`Stats::drop_count_from`]).
    pub drops_lan: [u64; Reason::COUNT],
    /// New flies this worker made.
    pub flies_added: u64,
    /// Flies refused because the blacklist was full.
    pub flies_refused: u64,
    /// Events not queued because the event queue was full.
    pub events_lost: u64,
    /// Live per-source entries evicted by new sources.
    pub source_evictions: u64,
    /// Live flows evicted by new flows.
    pub flow_evictions: u64,
    /// Malformed frames by kind ([`wire::ParseError::ALL`] order).
    pub malformed: [u64; wire::ParseError::COUNT],
    /// Live first-fragment verdicts evicted by new datagrams.
    pub fragment_evictions: u64,
    /// Flies evicted from the full blacklist by new ones.
    pub flies_evicted: u64,
    /// Flies that proved their address (returned a SYN cookie).
    pub flies_proven: u64,
    /// SYN-ACKs with a cookie queued for sending.
    pub synacks: u64,
    /// SYN-ACKs not sent: over the per-source or global limit, or the SYN
    /// could not be answered (MPLS, a tunnel).
    pub synacks_limited: u64,
    /// SYN-ACKs lost because `poll_transmit` was not called in time.
    pub synacks_lost: u64,
}

impl Stats {
    pub fn drop_count(&self, r: Reason) -> u64 {
        self.drops[r as usize]
    }

    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// Drops for `r` of frames that entered from `dir`.
    pub fn drop_count_from(&self, dir: Direction, r: Reason) -> u64 {
        let lan = self.drops_lan[r as usize];
        match dir {
            Direction::Lan => lan,
            Direction::Wan => self.drops[r as usize] - lan,
        }
    }

    #[inline(always)]
    fn count_drop(&mut self, dir: Direction, r: Reason, n: u64) {
        self.drops[r as usize] += n;
        if dir == Direction::Lan {
            self.drops_lan[r as usize] += n;
        }
    }

    /// Add another worker's counters.
    pub fn merge(&mut self, o: &Stats) {
        self.frames_wan += o.frames_wan;
        self.frames_lan += o.frames_lan;
        self.bytes_wan += o.bytes_wan;
        self.bytes_lan += o.bytes_lan;
        self.forwarded += o.forwarded;
        self.delayed += o.delayed;
        for (a, b) in self.drops.iter_mut().zip(o.drops.iter()) {
            *a += b;
        }
        for (a, b) in self.drops_lan.iter_mut().zip(o.drops_lan.iter()) {
            *a += b;
        }
        self.flies_added += o.flies_added;
        self.flies_refused += o.flies_refused;
        self.events_lost += o.events_lost;
        self.source_evictions += o.source_evictions;
        self.flow_evictions += o.flow_evictions;
        for (a, b) in self.malformed.iter_mut().zip(o.malformed.iter()) {
            *a += b;
        }
        self.fragment_evictions += o.fragment_evictions;
        self.flies_evicted += o.flies_evicted;
        self.flies_proven += o.flies_proven;
        self.synacks += o.synacks;
        self.synacks_limited += o.synacks_limited;
        self.synacks_lost += o.synacks_lost;
    }
}

/// The engine of one worker.
pub struct Filter {
    policy: Arc<Policy>,
    shared: Arc<Shared>,
    /// The fly prefix lengths (a copy of the blacklist's), and as masks.
    prefix: FlyPrefix,
    mask: blacklist::KeyMask,
    /// Mixes flow keys (seeded per worker).
    hash: SeededHash,
    /// Hashes addresses: the blacklist's hasher, so that one hash of a
    /// frame's source serves the blacklist and the per-source table.
    addr_hash: SeededHash,
    sources: SourceTable,
    flows: FlowTable,
    frags: FragTable,
    stats: Stats,
    /// Track UDP flows: strict mode, or UDP traps (only datagrams of no
    /// flow hit a trap).
    track_udp: bool,
    /// Directed-broadcast (and network) addresses of the IPv4 LAN
    /// prefixes: echo requests to them from the WAN are `smurf`.
    smurf_v4: Vec<Addr>,
    events: ArrayVec<Event, EVENT_QUEUE>,
    /// The RST delay queue's bookkeeping (the driver holds the frames).
    delay: DelayQueue,
    /// Per-source SYN-ACK limits.
    reply_limits: Box<[Bucket]>,
    /// Sources this worker vouched for this minute (direct-mapped by
    /// hash): spares the shared table a look per frame.
    vouch_memo: Box<[u64]>,
    /// The SYN cookie the frame being decided is to be answered with.
    pending_reply: Option<u32>,
    tx: ArrayVec<Transmit, TX_QUEUE>,
    lan_v4: bool,
    lan_v6: bool,
    /// The policy's prefix sets, compiled for the hot path.
    bogon_src: policy::AddrMatcher,
    bogus_dst: policy::AddrMatcher,
    lan: policy::AddrMatcher,
    never_block: policy::AddrMatcher,
    allow: policy::AllowMatcher,
}

const DHCP_SERVER: u16 = 67;
const DHCP_CLIENT: u16 = 68;
const DHCP6_CLIENT: u16 = 546;
const DHCP6_SERVER: u16 = 547;

impl Filter {
    /// A filter for one worker. `seed` keys the table hashes: pass a random
    /// one in the data path ([`hash::random_seed`]) and a fixed one for
    /// reproducible replays and tests.
    pub fn new(policy: Arc<Policy>, shared: Arc<Shared>, seed: u64) -> Filter {
        let Compiled {
            lan_v4,
            lan_v6,
            smurf_v4,
            track_udp,
            bogon_src,
            bogus_dst,
            lan,
            never_block,
            allow,
        } = Compiled::of(&policy);
        Filter {
            sources: SourceTable::new(policy.tables.sources),
            flows: FlowTable::new(policy.tables.flows),
            frags: FragTable::new(
                policy.tables.fragments,
                seed ^ 0x6672_6167,
                policy.conntrack.fragment_timeout,
            ),
            track_udp,
            smurf_v4,
            hash: SeededHash::new(seed),
            addr_hash: shared.blacklist.hasher(),
            prefix: shared.blacklist.prefix(),
            mask: shared.blacklist.key_mask(),
            stats: Stats::default(),
            events: ArrayVec::new(),
            delay: DelayQueue::new(policy.tables.rst_queue, policy.tables.rst_share),
            reply_limits: vec![Bucket::default(); REPLY_LIMITERS].into_boxed_slice(),
            pending_reply: None,
            vouch_memo: vec![0; VOUCH_MEMO].into_boxed_slice(),
            tx: ArrayVec::new(),
            bogon_src,
            bogus_dst,
            lan,
            never_block,
            allow,
            policy,
            shared,
            lan_v4,
            lan_v6,
        }
    }

    /// Apply a new policy without losing state: flows, per-source limits,
    /// fragments, the RST queue and the flies all carry over, so no
    /// connection notices. Refused (and nothing changed) when the new
    /// policy sizes the tables differently or keys flies by other prefixes:
    /// those need a restart.
    pub fn reload(&mut self, policy: Arc<Policy>) -> Result<(), String> {
        reload_compatible(&self.policy, &policy)?;
        let c = Compiled::of(&policy);
        self.lan_v4 = c.lan_v4;
        self.lan_v6 = c.lan_v6;
        self.smurf_v4 = c.smurf_v4;
        self.track_udp = c.track_udp;
        self.bogon_src = c.bogon_src;
        self.bogus_dst = c.bogus_dst;
        self.lan = c.lan;
        self.never_block = c.never_block;
        self.allow = c.allow;
        self.frags.set_timeout(policy.conntrack.fragment_timeout);
        self.policy = policy;
        Ok(())
    }

    /// A filter with its own shared state (replay, tests, benches).
    pub fn standalone(policy: Policy, seed: u64) -> Filter {
        let shared = Arc::new(Shared::new(&policy, seed));
        Filter::new(Arc::new(policy), shared, seed)
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn blacklist(&self) -> &Blacklist {
        &self.shared.blacklist
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The next frame the filter wants sent (quinn-proto's
    /// `poll_transmit`): call after each batch until it returns `None`.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if self.tx.is_empty() {
            None
        } else {
            Some(self.tx.remove(0))
        }
    }

    /// When the filter next has something due: the first held RST's
    /// release (the driver sends it then).
    pub fn poll_timeout(&self) -> Option<Nanos> {
        self.delay.next_due()
    }

    /// RSTs held in the delay queue now.
    pub fn delayed_len(&self) -> usize {
        self.delay.len()
    }

    /// The driver sent the held RSTs that were due at `now`: keep the
    /// books (the next delay would do it too; this keeps `delayed_len`
    /// true in between).
    pub fn released(&mut self, now: Nanos) {
        self.delay.release(now);
    }

    /// This worker's counters.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats.clone();
        s.source_evictions = self.sources.evictions();
        s.flow_evictions = self.flows.evictions();
        s.fragment_evictions = self.frags.evictions();
        s
    }

    /// Entries in use in the per-source table and the flow table.
    pub fn table_usage(&self) -> (usize, usize) {
        (self.sources.len(), self.flows.len())
    }

    /// Capacities of the per-source table and the flow table.
    pub fn table_capacity(&self) -> (usize, usize) {
        (self.sources.capacity(), self.flows.capacity())
    }

    /// Take the queued events (new flies). Call after each batch.
    pub fn drain_events(&mut self) -> impl Iterator<Item = Event> + '_ {
        self.events.drain(..)
    }

    /// The caller could not carry out `v` for a frame that entered from
    /// `dir` (the RST delay queue was full, the frame did not fit a
    /// buffer): count it as a drop for `reason` instead.
    pub fn overrule(&mut self, dir: Direction, v: Verdict, reason: Reason) {
        match v {
            Verdict::Forward => self.stats.forwarded -= 1,
            Verdict::Delay(_) => self.stats.delayed -= 1,
            Verdict::Drop(r) => {
                self.stats.drops[r as usize] -= 1;
                if dir == Direction::Lan {
                    self.stats.drops_lan[r as usize] -= 1;
                }
            }
        }
        self.stats.count_drop(dir, reason, 1);
    }

    /// Count `n` frames the data path dropped before the filter saw them.
    pub fn count_drops(&mut self, dir: Direction, reason: Reason, n: u64) {
        self.count_frames(dir, n);
        self.stats.count_drop(dir, reason, n);
    }

    /// Housekeeping: forget expired flows and idle sources. Not needed for
    /// correctness (lookups ignore expired state); it keeps `table_usage`
    /// honest. Costs a pass over both tables: call it every few seconds.
    pub fn expire(&mut self, now: Nanos) {
        self.flows.expire(now);
        self.sources.expire(now);
        self.frags.expire(now);
    }

    /// Decide what to do with one frame.
    #[inline]
    pub fn process(&mut self, now: Nanos, dir: Direction, frame: &[u8]) -> Verdict {
        let mut pre = Pre::default();
        let mut outer = None;
        self.prepare(dir, frame, &mut pre, &mut outer);
        self.warm(&mut pre);
        self.count_frames(dir, 1);
        self.count_bytes(dir, frame.len() as u64);
        let v = self.finish(now, dir, &pre, &outer, false);
        self.answer(dir, frame);
        v
    }

    /// Decide a batch of frames that entered from the same port, writing
    /// `out[i]` for `frames[i]` (`out` must be at least as long).
    ///
    /// Same verdicts as calling `process` on each frame in order; faster,
    /// because the table lookups are pipelined over the batch: every
    /// frame's table lines are prefetched before any frame is decided, so
    /// the cache misses of different frames overlap.
    pub fn process_batch(
        &mut self,
        now: Nanos,
        dir: Direction,
        frames: &[&[u8]],
        out: &mut [Verdict],
    ) {
        assert!(out.len() >= frames.len(), "one verdict per frame");
        let mut pre = [Pre::default(); BATCH];
        let mut outer: [Outer; BATCH] = [None; BATCH];
        for (chunk, out) in frames.chunks(BATCH).zip(out.chunks_mut(BATCH)) {
            // Stage zero: start loading every frame's headers (the first
            // 128 bytes hold Ethernet, VLAN, IP and L4 headers).
            for f in chunk {
                crate::sys::prefetch::prefetch(f.as_ptr());
                // The second line only if the frame's first 128 bytes
                // reach it: a small frame's next line is cold memory that
                // no stage reads.
                if (f.as_ptr() as usize % 64) + f.len().min(128) > 64 {
                    crate::sys::prefetch::prefetch(f.as_ptr().wrapping_add(64));
                }
            }
            let pre = &mut pre[..chunk.len()];
            for ((f, p), o) in chunk.iter().zip(pre.iter_mut()).zip(outer.iter_mut()) {
                self.prepare(dir, f, p, o);
            }
            for p in pre.iter_mut() {
                self.warm(p);
            }
            // A fly made by an earlier frame of this chunk was not in the
            // bitmap when the chunk was prepared: look sources up fully then.
            self.count_frames(dir, chunk.len() as u64);
            self.count_bytes(dir, chunk.iter().map(|f| f.len() as u64).sum());
            let flies_before = self.stats.flies_added;
            for (((p, o), v), f) in pre.iter().zip(outer.iter()).zip(out.iter_mut()).zip(chunk) {
                let recheck = self.stats.flies_added != flies_before;
                *v = self.finish(now, dir, p, o, recheck);
                self.answer(dir, f);
            }
        }
    }

    /// Queue the SYN-ACK the last frame is to be answered with, if any.
    #[inline(always)]
    fn answer(&mut self, dir: Direction, frame: &[u8]) {
        if let Some(cookie) = self.pending_reply.take() {
            self.queue_syn_ack(dir, frame, cookie);
        }
    }

    #[cold]
    #[inline(never)]
    fn queue_syn_ack(&mut self, dir: Direction, frame: &[u8], cookie: u32) {
        let mut buf = [0u8; REPLY_MAX];
        let Some(len) = wire::reply::syn_ack(frame, cookie, &mut buf) else {
            self.stats.synacks_limited += 1;
            return;
        };
        let t = Transmit {
            port: dir,
            len,
            buf,
        };
        if self.tx.try_push(t).is_ok() {
            self.stats.synacks += 1;
        } else {
            self.stats.synacks_lost += 1;
        }
    }

    #[inline(always)]
    fn count_frames(&mut self, dir: Direction, n: u64) {
        match dir {
            Direction::Wan => self.stats.frames_wan += n,
            Direction::Lan => self.stats.frames_lan += n,
        }
    }

    #[inline(always)]
    fn count_bytes(&mut self, dir: Direction, n: u64) {
        match dir {
            Direction::Wan => self.stats.bytes_wan += n,
            Direction::Lan => self.stats.bytes_lan += n,
        }
    }

    /// Stage one: parse, hash, and prefetch the lines of the blacklist
    /// bitmap and the tags of the flow and source tables. No state changes.
    #[inline(always)]
    fn prepare(&self, dir: Direction, frame: &[u8], pre: &mut Pre, outer_of: &mut Outer) {
        *outer_of = None;
        if frame.len() > MAX_FRAME {
            pre.kind = Kind::Oversize;
            return;
        }
        let s = match wire::parse(frame) {
            Ok(s) => s,
            Err(e) => return pre.malformed(e),
        };
        let outer = match &s.l3 {
            L3::Ip(ip) => ip,
            L3::Arp => {
                pre.kind = Kind::Arp;
                return;
            }
            L3::Other => {
                pre.kind = Kind::NonIp;
                return;
            }
            L3::LinkControl => {
                pre.kind = Kind::LinkControl;
                return;
            }
            L3::MplsOther => {
                pre.kind = Kind::MplsOther;
                return;
            }
        };
        let wan = dir == Direction::Wan;
        let mut ip = outer;
        let mut drop = None;
        // The inner packet of a tunnel leaving the LAN: tracked (so that the
        // replies, which are inspected, belong to a flow), but its addresses
        // are the tunnel's business, not the LAN's.
        let mut lan_inner = false;
        let inner;
        if outer.l4 == L4::Tunnel {
            let t = match self.tunnel(dir, frame, outer) {
                Ok(t) => t,
                Err(e) => return pre.malformed(e),
            };
            drop = t.drop;
            inner = t.inner;
            if let Some(i) = &inner {
                lan_inner = !wan;
                *outer_of = Some((outer.src, outer.dst, outer.proto));
                ip = i;
            }
        }
        let (kind, sport, dport, flags) = match ip.l4 {
            L4::Tcp(t) => (Kind::Tcp, t.sport, t.dport, t.flags),
            L4::Udp { sport, dport } => (Kind::Udp, sport, dport, 0),
            L4::Icmp { ty, .. } => (Kind::Icmp, 0, 0, ty),
            L4::Icmpv6 { ty, .. } => (Kind::Icmpv6, 0, 0, ty),
            L4::Other | L4::Tunnel => (Kind::OtherIp, 0, 0, 0),
            L4::Fragment => (Kind::Fragment, 0, 0, 0),
        };
        // Sequence numbers matter only to SYN cookies.
        let (seq, ack) = if kind == Kind::Tcp && self.policy.proof == policy::Proof::Handshake {
            let at = usize::from(ip.l4_offset);
            (wire::read_u32(frame, at + 4), wire::read_u32(frame, at + 8))
        } else {
            (0, 0)
        };
        // One hash of the source's fly key serves the blacklist, the
        // per-source limits and the trust table.
        let src_key = self.mask.key(ip.src);
        let src_hash = self.addr_hash.hash128(src_key.0);
        self.shared.blacklist.prefetch(src_hash);
        if dir == Direction::Wan {
            self.shared.trust.prefetch_lan_bit(src_hash, ip.src);
        }
        let need_src = match kind {
            Kind::Tcp => wan && flags & (tcpflags::SYN | tcpflags::RST) != 0,
            Kind::Icmp | Kind::Icmpv6 => wan,
            _ => false,
        };
        let flow = match kind {
            Kind::Tcp => true,
            Kind::Udp => self.track_udp,
            Kind::OtherIp => self.policy.strict,
            _ => false,
        };
        *pre = Pre {
            src: ip.src,
            src_key,
            inner: outer_of.is_some(),
            dst: ip.dst,
            src_hash,
            flow_hash: 0,
            sport,
            dport,
            kind,
            flags,
            ttl: ip.ttl,
            proto: ip.proto,
            v6: ip.version == 6,
            need_src,
            flow,
            maybe_fly: false,
            seq,
            ack,
            perr: 0,
            stateless_drop: None,
            frag: ip.frag,
            frag_more: ip.frag_more,
            l4_hdr: ip.l4_header_len,
            frag_offset: ip.frag_offset,
            frag_len: ip.frag_len,
            frag_id: ip.frag_id,
        };
        pre.stateless_drop = drop.or_else(|| {
            if lan_inner {
                options_drop(ip)
            } else {
                self.header_drop(dir, ip, kind, sport, dport)
            }
        });
        if kind == Kind::Tcp && pre.stateless_drop.is_none() && tcpflags::is_bogus(flags) {
            pre.stateless_drop = Some(Reason::TcpFlags);
        }
        // A frame those rules drop needs no table entry: skip its prefetches.
        if pre.stateless_drop.is_some() {
            pre.need_src = false;
            pre.flow = false;
        }
        if pre.need_src {
            self.sources.prefetch(src_hash, pre.v6);
        }
        if pre.flow {
            // Keyed like the source, so that both directions hash alike.
            let h_dst = self.addr_hash.hash128(self.mask.key(ip.dst).0);
            pre.flow_hash = pre.flow_key().hash_hashed(src_hash, h_dst, &self.hash);
            self.flows.prefetch(pre.flow_hash, pre.v6);
        }
    }

    /// What to judge of a tunnel packet (`outer.l4` is `L4::Tunnel`): from
    /// the WAN, by `filter.tunnels`; from the LAN, its inner packet when
    /// inspecting (for connection tracking).
    #[cold]
    #[inline(never)]
    fn tunnel(
        &self,
        dir: Direction,
        frame: &[u8],
        outer: &wire::IpSummary,
    ) -> Result<TunnelView, wire::ParseError> {
        let none = TunnelView {
            drop: None,
            inner: None,
        };
        let inspect = self.policy.tunnels == TunnelMode::Inspect;
        // A malformed inner packet is a malformed frame, when it is looked at.
        let inner = if inspect {
            wire::tunnel_inner(frame, outer)?.filter(|i| i.l4 != L4::Tunnel)
        } else {
            None
        };
        Ok(match (dir, self.policy.tunnels) {
            (_, TunnelMode::Pass) => none,
            (Direction::Lan, TunnelMode::Drop) => none,
            (Direction::Wan, TunnelMode::Drop) => TunnelView {
                drop: Some(Reason::Tunnel),
                inner: None,
            },
            (_, TunnelMode::Inspect) => match inner {
                Some(i) => TunnelView {
                    drop: self.header_drop(dir, outer, Kind::OtherIp, 0, 0),
                    inner: Some(i),
                },
                // A tunnel leaving the LAN that cannot be looked into is
                // judged by its outer header.
                None if dir == Direction::Lan => none,
                // A tunnel in the tunnel, or a fragmented tunnel packet
                // whose inner headers cannot all be seen.
                None => TunnelView {
                    drop: Some(Reason::Tunnel),
                    inner: None,
                },
            },
        })
    }

    /// The rules that read one IP header: bogons, bogus destinations and
    /// anti-spoof by direction, then TTL 0 and source routes.
    #[inline(always)]
    fn header_drop(
        &self,
        dir: Direction,
        ip: &wire::IpSummary,
        kind: Kind,
        sport: u16,
        dport: u16,
    ) -> Option<Reason> {
        let nd_or_mld =
            kind == Kind::Icmpv6 && matches!(ip.l4, L4::Icmpv6 { ty, .. } if is_nd_or_mld(ty));
        self.check_addresses(
            dir,
            ip.src,
            ip.dst,
            ip.version == 6,
            kind,
            sport,
            dport,
            nd_or_mld,
        )
        .or_else(|| options_drop(ip))
    }

    /// Stage two: read the (now cached) tags and bitmap word, and prefetch
    /// the matching table entries.
    #[inline(always)]
    fn warm(&self, pre: &mut Pre) {
        if !pre.is_ip() {
            return;
        }
        pre.maybe_fly = self.shared.blacklist.maybe_fly_hashed(pre.src_hash);
        if pre.maybe_fly {
            self.shared.blacklist.prefetch_entry(pre.src_hash);
            // Most likely a fly, whose frame needs nothing else.
            return;
        }
        if pre.flow {
            self.flows.prefetch_entry(pre.flow_hash, pre.v6);
        }
        if pre.need_src {
            self.sources.prefetch_entry(pre.src_hash, pre.v6);
        }
    }

    /// Phase two: decide and count.
    #[inline(always)]
    fn finish(
        &mut self,
        now: Nanos,
        dir: Direction,
        pre: &Pre,
        outer: &Outer,
        recheck_fly: bool,
    ) -> Verdict {
        let v = self.decide(now, dir, pre, outer, recheck_fly);
        match v {
            Verdict::Forward => self.stats.forwarded += 1,
            Verdict::Delay(_) => self.stats.delayed += 1,
            Verdict::Drop(r) => self.stats.count_drop(dir, r, 1),
        }
        if pre.frag == wire::Frag::First && pre.is_ip() {
            self.remember_first_fragment(now, pre, v);
        }
        v
    }

    /// Later fragments of this datagram will follow `v`.
    #[cold]
    #[inline(never)]
    fn remember_first_fragment(&mut self, now: Nanos, pre: &Pre, v: Verdict) {
        let r = match v {
            Verdict::Drop(_) => Remembered::Drop,
            _ => Remembered::Pass,
        };
        let _ = self.frags.first(now, &pre.frag_key(), r, pre.l4_hdr);
    }

    #[inline(always)]
    fn decide(
        &mut self,
        now: Nanos,
        dir: Direction,
        pre: &Pre,
        outer: &Outer,
        recheck_fly: bool,
    ) -> Verdict {
        let wan = dir == Direction::Wan;
        match pre.kind {
            Kind::Malformed => {
                self.stats.malformed[usize::from(pre.perr)] += 1;
                return if usize::from(pre.perr) == wire::ParseError::TinyFragment.index() {
                    Verdict::Drop(Reason::FragTiny)
                } else {
                    Verdict::Drop(Reason::Malformed)
                };
            }
            Kind::Oversize => return Verdict::Drop(Reason::Oversize),
            Kind::Arp | Kind::LinkControl => return Verdict::Forward,
            Kind::MplsOther if wan && self.policy.mpls_drop_non_ip => {
                return Verdict::Drop(Reason::Mpls)
            }
            Kind::MplsOther | Kind::NonIp if self.policy.drop_non_ip => {
                return Verdict::Drop(Reason::NonIp)
            }
            Kind::MplsOther => return Verdict::Forward,
            Kind::NonIp => return Verdict::Forward,
            _ => {}
        }
        let bl = &self.shared.blacklist;
        let fly = if recheck_fly {
            bl.fly_class(pre.src, now)
        } else if pre.maybe_fly {
            bl.hit_class(pre.src_key, pre.src_hash, now)
        } else {
            None
        };
        if let Some(class) = fly {
            if wan && class != Class::Unproven {
                return Verdict::Drop(Reason::Fly);
            }
            if let Some(v) = self.fly_frame(now, dir, pre, class) {
                return v;
            }
        }
        if let Some((outer_src, _, _)) = *outer {
            if self.shared.blacklist.is_fly(outer_src, now) {
                return Verdict::Drop(Reason::Fly);
            }
        }
        if let Some(r) = pre.stateless_drop {
            return Verdict::Drop(r);
        }
        // A LAN host's own address arriving from the WAN is forged, whether
        // or not the config names the LAN's prefixes.
        if wan
            && self
                .shared
                .trust
                .is_lan_address(&TrustKey::new(pre.src_hash, pre.src), now)
        {
            return Verdict::Drop(Reason::Spoofed);
        }
        if let Some(outer) = *outer {
            if let Some(v) = self.tunnel_gate(now, wan, outer) {
                return v;
            }
        }
        match pre.kind {
            Kind::Tcp => self.tcp(now, dir, pre),
            Kind::Udp => self.udp(now, dir, pre),
            Kind::Icmp => self.icmp(now, dir, pre, false),
            Kind::Icmpv6 => self.icmp(now, dir, pre, true),
            Kind::OtherIp => self.other_ip(now, dir, pre),
            Kind::Fragment => self.later_fragment(now, pre),
            _ => Verdict::Forward,
        }
    }

    /// Strict mode: an inspected tunnel from the WAN must itself be
    /// admitted (an allow rule for its protocol, or a flow the LAN opened
    /// with that protocol) before its inner packet is judged; a tunnel
    /// leaving the LAN opens that flow.
    #[cold]
    #[inline(never)]
    fn tunnel_gate(&mut self, now: Nanos, wan: bool, outer: (Addr, Addr, u8)) -> Option<Verdict> {
        if !self.policy.strict {
            return None;
        }
        let (src, dst, proto) = outer;
        let v6 = !src.is_v4();
        let key = other_flow_key(proto, src, dst, v6);
        let h = |a: Addr| self.addr_hash.hash128(self.mask.key(a).0);
        let (h_src, h_dst) = (h(src), h(dst));
        let h = key.hash_hashed(h_src, h_dst, &self.hash);
        match self.portless_flow(now, wan, (src, dst, proto, v6), h) {
            Verdict::Forward => None,
            v => Some(v),
        }
    }

    /// Bogons, bogus destinations and anti-spoof by direction.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn check_addresses(
        &self,
        dir: Direction,
        src: Addr,
        dst: Addr,
        v6: bool,
        kind: Kind,
        sport: u16,
        dport: u16,
        nd_or_mld: bool,
    ) -> Option<Reason> {
        let lan_checked = if v6 { self.lan_v6 } else { self.lan_v4 };
        match dir {
            Direction::Wan => {
                // Duplicate address detection and MLD come from `::`.
                let unspecified_nd = v6 && src.0 == 0 && nd_or_mld && MULTICAST_V6.contains(dst);
                if (self.bogon_src.contains_of(src, v6) && !unspecified_nd) || (v6 && src.is_v4()) {
                    return Some(Reason::BogonSrc);
                }
                if v6
                    && LINK_LOCAL_V6.contains(src)
                    && !(LINK_LOCAL_V6.contains(dst) || MULTICAST_V6.contains(dst))
                {
                    return Some(Reason::BogonSrc);
                }
                if self.bogus_dst.contains_of(dst, v6)
                    && !(kind == Kind::Udp && (sport, dport) == (DHCP_SERVER, DHCP_CLIENT))
                {
                    return Some(Reason::BogusDst);
                }
                if lan_checked && self.lan.contains_of(src, v6) {
                    return Some(Reason::Spoofed);
                }
            }
            Direction::Lan => {
                if lan_checked
                    && !self.lan.contains_of(src, v6)
                    && !lan_source_exempt(src, v6, kind, sport, dport)
                {
                    return Some(Reason::Spoofed);
                }
            }
        }
        None
    }

    fn allowed(&self, proto: Proto, dport: u16, dst: Addr) -> bool {
        self.allow.allows(proto, dport, dst)
    }

    /// A frame from a fly (its source key is listed). A proven fly and
    /// an operator's block lose every frame. An unproven fly keeps two
    /// ways out: the ACK that returns its SYN cookie (it becomes a proven
    /// fly), and replies on flows the LAN opened to it (the LAN chose to
    /// talk to it; a forged trap hit must not cut the LAN off from a
    /// server it uses). `None`: judge the frame like any other.
    #[cold]
    #[inline(never)]
    fn fly_frame(
        &mut self,
        now: Nanos,
        dir: Direction,
        pre: &Pre,
        class: Class,
    ) -> Option<Verdict> {
        if dir == Direction::Lan {
            // A trap locks out WAN sources: a frame from the LAN port
            // carrying a fly's address is the LAN host's own (no WAN frame
            // can make a LAN address a fly, even one the filter has not
            // learned). Only an operator's block stops LAN frames.
            return (class == Class::Operator).then_some(Verdict::Drop(Reason::Fly));
        }
        if class != Class::Unproven || pre.stateless_drop.is_some() {
            return Some(Verdict::Drop(Reason::Fly));
        }
        if pre.kind == Kind::Tcp {
            if let Some(v) = self.cookie_returned(now, pre) {
                return Some(v);
            }
        }
        if pre.flow {
            let found = self.flows.lookup(pre.flow_hash, &pre.flow_key(), now);
            if matches!(found, Some((_, _, false))) {
                return None;
            }
        }
        Some(Verdict::Drop(Reason::Fly))
    }

    /// A trap hit or strict-mode miss by `src`, which tried `proto` and
    /// `port`: lock it out, unless it is never to be (never-block, link
    /// local, unspecified), or it is a LAN address or vouched for by a
    /// live conversation (then the frame is dropped as `vouched` and the
    /// control plane hears of a suspected forgery). The frame is dropped
    /// with `reason` either way.
    #[cold]
    #[inline(never)]
    fn unproven_hit(
        &mut self,
        now: Nanos,
        src: Addr,
        reason: Reason,
        proto: Proto,
        port: u16,
    ) -> Verdict {
        if self.never_block.contains(src) || never_a_fly(src) {
            return Verdict::Drop(reason);
        }
        let h = self.addr_hash.hash128(self.mask.key(src).0);
        let look = self.shared.trust.look(&TrustKey::new(h, src));
        // Nor may a hit lock out a prefix that holds a LAN host.
        if look.lan_address(now) || look.lan_prefix(now) || look.vouched(now) {
            self.event(Event::Suspect {
                addr: src,
                proto,
                port,
            });
            return Verdict::Drop(Reason::Vouched);
        }
        let lockout = match self.policy.proof {
            policy::Proof::None => self.policy.lockout,
            policy::Proof::Handshake => self.policy.unproven_lockout,
        };
        self.list_fly(now, src, reason, proto, port, false, lockout);
        Verdict::Drop(reason)
    }

    /// Put `src`'s fly key on the blacklist.
    #[allow(clippy::too_many_arguments)]
    fn list_fly(
        &mut self,
        now: Nanos,
        src: Addr,
        reason: Reason,
        proto: Proto,
        port: u16,
        proven: bool,
        lockout: Nanos,
    ) {
        let e = FlyEntry {
            addr: self.mask.key(src),
            prefix: self.prefix.len_of(src),
            reason,
            proto: Some(proto),
            port,
            proven,
            first_seen: now,
            expires: now + lockout,
        };
        let added = match self.shared.blacklist.insert(e, now) {
            Insert::Added => true,
            Insert::Evicted(old) => {
                self.stats.flies_evicted += 1;
                self.event(Event::Evicted(old));
                true
            }
            Insert::Updated => {
                // A proof raises a listed unproven fly: log it as the new
                // lock-out it is.
                if proven {
                    self.event(Event::Lockout(e));
                }
                false
            }
            Insert::Full => {
                self.stats.flies_refused += 1;
                false
            }
        };
        if added {
            self.stats.flies_added += 1;
            self.event(Event::Lockout(e));
        }
    }

    fn event(&mut self, e: Event) {
        if self.events.try_push(e).is_err() {
            self.stats.events_lost += 1;
        }
    }

    /// A new connection attempt (a SYN) to a trap port, or in strict mode
    /// to a port no rule allows. With `trap.proof = "handshake"`, answer
    /// it with a SYN cookie (within the SYN-ACK limits) before the
    /// unproven lock-out: a source that returns the cookie becomes a
    /// proven fly.
    #[cold]
    #[inline(never)]
    fn trap_syn(&mut self, now: Nanos, ip: &Pre, reason: Reason) -> Verdict {
        if self.policy.proof == policy::Proof::Handshake
            && !self.never_block.contains(ip.src)
            && !never_a_fly(ip.src)
        {
            self.offer_cookie(now, ip);
        }
        self.unproven_hit(now, ip.src, reason, Proto::Tcp, ip.dport)
    }

    /// Arrange for the SYN being decided to be answered with a SYN-ACK
    /// whose sequence number is its cookie, if the source's and the global
    /// SYN-ACK limits allow: flypaper must never become a reflector.
    fn offer_cookie(&mut self, now: Nanos, ip: &Pre) {
        let slot = (ip.src_hash.rotate_right(11) as usize) % REPLY_LIMITERS;
        let per_source = match &self.policy.synack_limit {
            Some(l) => self.reply_limits[slot].take(l, now),
            None => true,
        };
        let global = per_source
            && match &self.policy.synack_global {
                Some(l) => self.shared.replies.take(l, now),
                None => true,
            };
        if !global {
            self.stats.synacks_limited += 1;
            return;
        }
        self.pending_reply = Some(self.shared.cookies.make(now, &ip.tuple(), ip.seq));
    }

    /// An ACK from the WAN that belongs to no flow, to a trap port (or in
    /// strict mode a port no rule allows): if it returns a valid SYN
    /// cookie, its source owns its address: a proven fly, whatever vouched
    /// for it. `None`: not a returned cookie.
    fn cookie_returned(&mut self, now: Nanos, ip: &Pre) -> Option<Verdict> {
        if self.policy.proof != policy::Proof::Handshake
            || ip.flags & (tcpflags::SYN | tcpflags::ACK | tcpflags::RST) != tcpflags::ACK
        {
            return None;
        }
        let reason = if self.policy.trap_tcp.contains(ip.dport) {
            Reason::Trap
        } else if self.policy.strict && !self.allowed(Proto::Tcp, ip.dport, ip.dst) {
            Reason::NotAllowed
        } else {
            return None;
        };
        if !self.shared.cookies.check(now, &ip.tuple(), ip.seq, ip.ack) {
            return None;
        }
        if self.never_block.contains(ip.src) || never_a_fly(ip.src) {
            return Some(Verdict::Drop(reason));
        }
        let tk = TrustKey::new(ip.src_hash, ip.src);
        if self.shared.trust.look(&tk).lan_prefix(now) {
            // The prover's prefix holds a LAN host (the WAN side may hold
            // addresses of the LAN's own /64 on a bridge): locking it out
            // would cut the LAN host off.
            return Some(Verdict::Drop(reason));
        }
        self.stats.flies_proven += 1;
        self.shared.trust.forget_vouch(&tk);
        let lockout = self.policy.lockout;
        self.list_fly(now, ip.src, reason, Proto::Tcp, ip.dport, true, lockout);
        Some(Verdict::Drop(reason))
    }

    /// A frame from the LAN opens a flow: its source is a LAN address, and
    /// its prefix holds one. Learned when flows open (every host opens
    /// some: DNS, connections), not per frame. Not the inner sources of
    /// tunnels the LAN sends (those are the tunnel's business).
    #[cold]
    #[inline(never)]
    fn learn_lan(&self, now: Nanos, ip: &Pre) {
        if is_unspecified(ip.src) || ip.inner {
            return;
        }
        let tk = TrustKey::new(ip.src_hash, ip.src);
        let t = &self.shared.trust;
        let look = t.look(&tk);
        t.remember(&tk, TrustKind::LanAddress, now, LAN_LEARN_SECS, &look);
        t.remember(&tk, TrustKind::LanPrefix, now, LAN_LEARN_SECS, &look);
    }

    /// Two-way traffic from the WAN peer `ip.src`: vouch for it (at most
    /// one write a minute per peer).
    #[inline]
    fn vouch(&mut self, now: Nanos, ip: &Pre) {
        if self.policy.vouch_secs == 0 {
            return;
        }
        // This worker vouched for the source this minute already: nothing
        // to refresh (the shared entry moves by at most a minute anyway).
        let memo = (ip.src_hash & !0xffff_ffff) | ((now.as_secs() / 60) & 0xffff_ffff);
        let slot = &mut self.vouch_memo[(ip.src_hash >> 20) as usize % VOUCH_MEMO];
        if *slot == memo {
            return;
        }
        *slot = memo;
        self.refresh_vouch(now, ip);
    }

    #[cold]
    #[inline(never)]
    fn refresh_vouch(&self, now: Nanos, ip: &Pre) {
        let tk = TrustKey::new(ip.src_hash, ip.src);
        let t = &self.shared.trust;
        let look = t.look(&tk);
        t.remember(&tk, TrustKind::Vouched, now, self.policy.vouch_secs, &look);
    }

    /// Charge a new connection attempt from the WAN to its source's SYN
    /// limit: false when the source is over it.
    #[inline]
    fn syn_allowed(&mut self, now: Nanos, ip: &Pre) -> bool {
        let Some(l) = self.policy.syn_limit else {
            return true;
        };
        let mode = self.policy.syn_mode;
        let s = &mut self.sources.get(now, ip.src_key, ip.src_hash, ip.v6).syn;
        match mode {
            SynMode::Window => s.take_window(&l, now),
            SynMode::Bucket => s.take_bucket(&l, now),
        }
    }

    #[inline(always)]
    fn tcp(&mut self, now: Nanos, dir: Direction, ip: &Pre) -> Verdict {
        let flags = ip.flags;
        let dport = ip.dport;
        let src_hash = ip.src_hash;
        let wan = dir == Direction::Wan;
        // A new connection attempt: SYN without ACK. Only attempts hit a
        // trap (a reply to a LAN client that used a trap port as its
        // source port is not one), need an allow rule in strict mode, and
        // count against the SYN limit, retransmitted ones included.
        if wan && flags & (tcpflags::SYN | tcpflags::ACK) == tcpflags::SYN {
            if self.policy.trap_tcp.contains(dport) {
                return self.trap_syn(now, ip, Reason::Trap);
            }
            if self.policy.strict && !self.allowed(Proto::Tcp, dport, ip.dst) {
                return self.trap_syn(now, ip, Reason::NotAllowed);
            }
            if !self.syn_allowed(now, ip) {
                return Verdict::Drop(Reason::SynRate);
            }
        }
        let key = ip.flow_key();
        let h = ip.flow_hash;
        let found = self.flows.lookup(h, &key, now);
        let from_orig = found.is_none_or(|(_, _, o)| o);
        match tcp_step(found.map(|(_, s, _)| s), from_orig, flags) {
            TcpStep::New => {
                if !wan {
                    self.learn_lan(now, ip);
                }
                let ct = &self.policy.conntrack;
                self.flows.insert(h, key, now, ct, State::SynSent);
                Verdict::Forward
            }
            TcpStep::Invalid => {
                if found.is_none() && wan {
                    if let Some(v) = self.cookie_returned(now, ip) {
                        return v;
                    }
                }
                let ct = &self.policy.conntrack;
                let pickup = match ct.pickup {
                    Pickup::None => false,
                    Pickup::Lan => !wan,
                    Pickup::Both => true,
                };
                let ack_only = flags & (tcpflags::ACK | tcpflags::RST) == tcpflags::ACK;
                if found.is_none() && pickup && ack_only {
                    if !wan {
                        self.learn_lan(now, ip);
                    }
                    // A connection that was open before flypaper started:
                    // its originator is unknown; call it the receiver.
                    self.flows
                        .insert(h, key.reversed(), now, ct, State::Established);
                    Verdict::Forward
                } else {
                    Verdict::Drop(Reason::Invalid)
                }
            }
            TcpStep::To(state) => {
                if wan && flags & tcpflags::RST != 0 {
                    if let Some(l) = self.policy.rst_limit {
                        if !self
                            .sources
                            .get(now, ip.src_key, src_hash, ip.v6)
                            .rst
                            .take(&l, now)
                        {
                            return Verdict::Drop(Reason::RstRate);
                        }
                    }
                    if self.policy.rst_delay.0 > 0 {
                        let at = now + self.policy.rst_delay;
                        match self.delay.hold(now, at, src_hash) {
                            Ok(()) => {
                                self.advance(found, now, state);
                                return Verdict::Delay(at);
                            }
                            Err(Refused::Full) => return Verdict::Drop(Reason::RstQueueFull),
                            Err(Refused::Share) => return Verdict::Drop(Reason::RstShare),
                        }
                    }
                    self.advance(found, now, state);
                    return Verdict::Forward;
                }
                if wan && state == State::Established && found.is_some() {
                    self.vouch(now, ip);
                }
                self.advance(found, now, state);
                Verdict::Forward
            }
        }
    }

    /// A valid step of a flow that `lookup` found (one lookup per frame).
    #[inline]
    fn advance(&mut self, found: Option<(usize, State, bool)>, now: Nanos, state: State) {
        if let Some((i, _, _)) = found {
            self.flows.update(i, now, &self.policy.conntrack, state);
        }
    }

    fn udp(&mut self, now: Nanos, dir: Direction, ip: &Pre) -> Verdict {
        let (sport, dport) = (ip.sport, ip.dport);
        let wan = dir == Direction::Wan;
        // UDP flows matter to strict mode and to UDP traps (replies to the
        // LAN's own datagrams are not "new inbound traffic"); without
        // either, tracking them would only churn the flow table.
        let found = if ip.flow {
            let key = ip.flow_key();
            self.flows.lookup(ip.flow_hash, &key, now)
        } else {
            None
        };
        if found.is_none() && wan && self.policy.trap_udp.contains(dport) {
            return self.unproven_hit(now, ip.src, Reason::Trap, Proto::Udp, dport);
        }
        if matches!(
            (sport, dport),
            (DHCP_CLIENT, DHCP_SERVER)
                | (DHCP_SERVER, DHCP_CLIENT)
                | (DHCP6_CLIENT, DHCP6_SERVER)
                | (DHCP6_SERVER, DHCP6_CLIENT)
        ) {
            return Verdict::Forward;
        }
        if !ip.flow {
            return Verdict::Forward;
        }
        let next = match found {
            Some((_, s, true)) => s,
            Some(_) => State::UdpStream,
            None => {
                if wan && self.policy.strict && !self.allowed(Proto::Udp, dport, ip.dst) {
                    return self.unproven_hit(now, ip.src, Reason::NotAllowed, Proto::Udp, dport);
                }
                if wan && !self.policy.strict {
                    // Tracked only for the traps: a WAN datagram needs no entry.
                    return Verdict::Forward;
                }
                if !wan {
                    self.learn_lan(now, ip);
                }
                let ct = &self.policy.conntrack;
                self.flows
                    .insert(ip.flow_hash, ip.flow_key(), now, ct, State::UdpUnreplied);
                return Verdict::Forward;
            }
        };
        if wan && next == State::UdpStream {
            self.vouch(now, ip);
        }
        self.advance(found, now, next);
        Verdict::Forward
    }

    /// IP protocols without a rule of their own (GRE, ESP, SCTP, UDP-Lite,
    /// tunnels passed uninspected, ...): in strict mode, what the WAN
    /// starts needs an allow rule for the protocol, and what the LAN starts
    /// opens a flow its peer may answer on.
    fn other_ip(&mut self, now: Nanos, dir: Direction, ip: &Pre) -> Verdict {
        if !ip.flow {
            return Verdict::Forward;
        }
        let packet = (ip.src, ip.dst, ip.proto, ip.v6);
        self.portless_flow(now, dir == Direction::Wan, packet, ip.flow_hash)
    }

    /// A packet (source, destination, protocol, IPv6) of a protocol without
    /// ports in strict mode, `h` the hash of its `other_flow_key`: a flow
    /// either side is in passes (and is refreshed); from the LAN it opens
    /// one; from the WAN it needs an allow rule for its protocol, or its
    /// source becomes a fly.
    fn portless_flow(
        &mut self,
        now: Nanos,
        wan: bool,
        (src, dst, proto, v6): (Addr, Addr, u8, bool),
        h: u64,
    ) -> Verdict {
        let key = other_flow_key(proto, src, dst, v6);
        let found = self.flows.lookup(h, &key, now);
        match found {
            Some((_, s, from_orig)) => {
                let next = if from_orig { s } else { State::UdpStream };
                self.advance(found, now, next);
                Verdict::Forward
            }
            None if wan => {
                let proto = Proto::Other(proto);
                if self.allowed(proto, 0, dst) {
                    Verdict::Forward
                } else {
                    self.unproven_hit(now, src, Reason::NotAllowed, proto, 0)
                }
            }
            None => {
                let ct = &self.policy.conntrack;
                self.flows.insert(h, key, now, ct, State::UdpUnreplied);
                Verdict::Forward
            }
        }
    }

    /// A non-first fragment follows its datagram's first fragment.
    fn later_fragment(&mut self, now: Nanos, ip: &Pre) -> Verdict {
        let key = ip.frag_key();
        let info = FragInfo {
            offset: u32::from(ip.frag_offset),
            len: u32::from(ip.frag_len),
            more: ip.frag_more,
        };
        let check = match FragTable::check(&key, &info) {
            FragCheck::Ok => match self.frags.later(now, &key, &info) {
                Ok(Remembered::Pass) => return Verdict::Forward,
                Ok(Remembered::Drop) => return Verdict::Drop(Reason::FragAfterDrop),
                Err(c) => c,
            },
            c => c,
        };
        Verdict::Drop(match check {
            FragCheck::TooBig => Reason::FragTooBig,
            FragCheck::OffsetOne | FragCheck::Overlap => Reason::FragOverlap,
            FragCheck::Orphan | FragCheck::Ok => Reason::FragOrphan,
        })
    }

    fn icmp(&mut self, now: Nanos, dir: Direction, ip: &Pre, v6: bool) -> Verdict {
        let ty = ip.flags;
        let src_hash = ip.src_hash;
        let wan = dir == Direction::Wan;
        if v6 && is_nd_or_mld(ty) {
            return self.neighbour_discovery(now, wan, ip);
        }
        if !wan {
            if ty == icmp::v4::ECHO_REQUEST && !v6 || ty == icmp::v6::ECHO_REQUEST && v6 {
                self.learn_lan(now, ip);
            }
            return Verdict::Forward;
        }
        let p = &*self.policy;
        let (drop, echo_request) = if v6 {
            (p.icmpv6_drop[ty as usize], ty == icmp::v6::ECHO_REQUEST)
        } else {
            (p.icmp_drop[ty as usize], ty == icmp::v4::ECHO_REQUEST)
        };
        if drop {
            return Verdict::Drop(Reason::IcmpType);
        }
        if echo_request
            && (if v6 {
                MULTICAST_V6.contains(ip.dst)
            } else {
                self.smurf_v4.contains(&ip.dst)
            })
        {
            return Verdict::Drop(Reason::Smurf);
        }
        if echo_request && p.strict && !self.allowed(Proto::Icmp, 0, ip.dst) {
            return self.unproven_hit(now, ip.src, Reason::NotAllowed, Proto::Icmp, ty as u16);
        }
        if let Some(l) = p.icmp_limit {
            if !self
                .sources
                .get(now, ip.src_key, src_hash, ip.v6)
                .icmp
                .take(&l, now)
            {
                return Verdict::Drop(Reason::IcmpRate);
            }
        }
        Verdict::Forward
    }

    /// Neighbour discovery (RFC 4861) and multicast listener discovery,
    /// after the address rules: ND only with hop limit 255 (it cannot have
    /// crossed a router); router advertisements and redirects only from
    /// link-local sources; a neighbour advertisement never from `::`; from
    /// the WAN, rate limited per source (`icmp.nd_limit`, sharing the
    /// source's ICMP state). MLD only with hop limit 1 from `::` or a
    /// link-local source to a multicast group.
    #[cold]
    #[inline(never)]
    fn neighbour_discovery(&mut self, now: Nanos, wan: bool, ip: &Pre) -> Verdict {
        let ty = ip.flags;
        let link_local = LINK_LOCAL_V6.contains(ip.src);
        if is_mld(ty) {
            let ok = ip.ttl == 1 && (ip.src.0 == 0 || link_local) && MULTICAST_V6.contains(ip.dst);
            return if ok {
                Verdict::Forward
            } else {
                Verdict::Drop(Reason::NdInvalid)
            };
        }
        let bad = ip.ttl != 255
            || (matches!(ty, icmp::v6::ROUTER_ADVERT | icmp::v6::REDIRECT) && !link_local)
            || (ty == icmp::v6::NEIGHBOR_ADVERT && ip.src.0 == 0);
        if bad {
            return Verdict::Drop(Reason::NdInvalid);
        }
        if wan {
            if let Some(l) = self.policy.nd_limit {
                if !self
                    .sources
                    .get(now, ip.src_key, ip.src_hash, true)
                    .icmp
                    .take(&l, now)
                {
                    return Verdict::Drop(Reason::NdRate);
                }
            }
        }
        Verdict::Forward
    }
}

/// What `Filter::tunnel` decided.
struct TunnelView {
    drop: Option<Reason>,
    /// The packet to judge instead of the outer one.
    inner: Option<wire::IpSummary>,
}

/// TTL 0 and source routes.
#[inline(always)]
fn options_drop(ip: &wire::IpSummary) -> Option<Reason> {
    if ip.ttl == 0 {
        Some(Reason::TtlZero)
    } else if ip.source_route {
        Some(Reason::SourceRoute)
    } else {
        None
    }
}

/// ICMPv6 neighbour discovery (133..=137) and multicast listener discovery
/// (130..=132, 143).
#[inline(always)]
fn is_nd_or_mld(ty: u8) -> bool {
    is_mld(ty) || (icmp::v6::ROUTER_SOLICIT..=icmp::v6::REDIRECT).contains(&ty)
}

/// ICMPv6 multicast listener discovery: query, report, done, MLDv2 report.
#[inline(always)]
fn is_mld(ty: u8) -> bool {
    use icmp::v6::{MLDV2_REPORT, MLD_DONE, MLD_QUERY, MLD_REPORT};
    matches!(ty, MLD_QUERY | MLD_REPORT | MLD_DONE | MLDV2_REPORT)
}

/// Sources the LAN may use outside its prefixes: DHCP discovery from
/// 0.0.0.0, IPv6 duplicate address detection from `::`, and link-local.
fn lan_source_exempt(src: Addr, v6: bool, kind: Kind, sport: u16, dport: u16) -> bool {
    if v6 {
        src.0 == 0 || LINK_LOCAL_V6.contains(src)
    } else {
        src == Addr::from_v4(0) && kind == Kind::Udp && (sport, dport) == (DHCP_CLIENT, DHCP_SERVER)
    }
}

/// Addresses that are never made flies: `::` and 0.0.0.0 (duplicate
/// address detection, DHCP discovery), and link-local addresses (IPv6
/// fe80::/10, IPv4 169.254/16): one forged frame with the upstream
/// router's link-local address must not cut the LAN off from its router
/// advertisements.
fn never_a_fly(a: Addr) -> bool {
    is_unspecified(a) || LINK_LOCAL_V6.contains(a) || LINK_LOCAL_V4.contains(a)
}

fn is_unspecified(a: Addr) -> bool {
    a.0 == 0 || a == Addr::from_v4(0)
}

/// What a filter compiles from its policy for the hot path.
struct Compiled {
    lan_v4: bool,
    lan_v6: bool,
    smurf_v4: Vec<Addr>,
    track_udp: bool,
    bogon_src: policy::AddrMatcher,
    bogus_dst: policy::AddrMatcher,
    lan: policy::AddrMatcher,
    never_block: policy::AddrMatcher,
    allow: policy::AllowMatcher,
}

impl Compiled {
    fn of(policy: &Policy) -> Compiled {
        Compiled {
            lan_v4: policy.lan.0.iter().any(|p| p.is_v4()),
            lan_v6: policy.lan.0.iter().any(|p| !p.is_v4()),
            // Directed-broadcast and network addresses of the IPv4 LAN
            // prefixes.
            smurf_v4: policy
                .lan
                .0
                .iter()
                .filter(|p| p.is_v4() && p.len128() <= 96 + 30)
                .flat_map(|p| {
                    let host_bits = !(u128::MAX << (128 - u32::from(p.len128())));
                    [p.addr(), Addr(p.addr().0 | host_bits)]
                })
                .collect(),
            // UDP flows matter to strict mode, to UDP traps (only datagrams
            // of no flow hit one) and to vouching (a WAN peer that answers
            // the LAN is not made a fly by a forged trap hit): whenever a
            // fly can be made.
            track_udp: policy.strict || !policy.trap_udp.is_empty() || !policy.trap_tcp.is_empty(),
            bogon_src: policy::AddrMatcher::new(&policy.bogon_src),
            bogus_dst: policy::AddrMatcher::new(&policy.bogus_dst),
            lan: policy::AddrMatcher::new(&policy.lan),
            never_block: policy::AddrMatcher::new(&policy.never_block),
            allow: policy::AllowMatcher::new(&policy.allow),
        }
    }
}

/// Can a running filter (and the blacklist it shares) take `new` in place
/// of `old`? The tables are sized and the flies keyed at start.
pub fn reload_compatible(old: &Policy, new: &Policy) -> Result<(), String> {
    if old.tables != new.tables {
        return Err(format!(
            "[tables] changed ({:?} -> {:?}): table sizes are fixed at start; restart to apply them",
            old.tables, new.tables
        ));
    }
    if old.fly_prefix != new.fly_prefix {
        return Err(format!(
            "trap.prefix_v4/prefix_v6 changed (/{}, /{} -> /{}, /{}): flies are keyed by them; restart to apply them",
            old.fly_prefix.v4, old.fly_prefix.v6, new.fly_prefix.v4, new.fly_prefix.v6
        ));
    }
    Ok(())
}

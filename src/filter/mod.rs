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
//! 1. Parse; malformed frames are dropped (`malformed`).
//! 2. ARP passes; other non-IP frames pass unless `drop_non_ip`.
//! 3. A fly's frames are dropped (`fly`), from either port.
//! 4. ICMPv6 neighbour discovery with hop limit 255 (RFC 4861: it cannot
//!    have crossed a router) passes; with a lower hop limit it is `spoofed`.
//!    Multicast listener discovery with hop limit 1 from `::` or a
//!    link-local source to a multicast group passes too.
//! 5. From the WAN: bogon sources (`bogon-src`; IPv6 link-local sources only
//!    toward link-local or multicast destinations), bogus destinations
//!    (`bogus-dst`; DHCP replies to the broadcast address excepted), LAN
//!    sources (`spoofed`). From the LAN: sources outside the LAN prefixes
//!    (`spoofed`; DHCP discovery from 0.0.0.0, `::` and link-local excepted).
//!    Anti-spoof applies per family only when the config names LAN prefixes
//!    of that family.
//! 6. TCP: bogus flags (`tcp-flags`, both directions); from the WAN a trap
//!    port makes a fly (`trap`); connection state (`invalid`); a new
//!    connection from the WAN must match an allow rule in strict mode
//!    (`not-allowed`, makes a fly) and is rate limited per source
//!    (`syn-rate`); an RST from the WAN is rate limited per source
//!    (`rst-rate`) and, if accepted, delayed (`Verdict::Delay`).
//! 7. UDP: from the WAN a trap port makes a fly; in strict mode a datagram
//!    from the WAN that belongs to no flow and matches no allow rule makes a
//!    fly. DHCP and DHCPv6 always pass.
//! 8. ICMP from the WAN: address-mask and timestamp requests are dropped
//!    (`icmp-type`); in strict mode an echo request without an allow rule
//!    makes a fly; everything is rate limited per source (`icmp-rate`).
//!
//! A never-block source is dropped by these rules like any other, but it
//! never becomes a fly.

pub mod blacklist;
pub mod bucket;
pub mod flows;
pub mod frags;
pub mod hash;
pub mod policy;
pub mod sources;
pub mod table;
pub mod tcpflags;
pub mod verdict;

use std::sync::Arc;

use arrayvec::ArrayVec;

pub use blacklist::{Blacklist, FlyEntry, Insert};
pub use policy::{Policy, Proto};
pub use verdict::{Direction, Nanos, Reason, Verdict};

use crate::addr::Addr;
use crate::wire::{self, L3, L4};
use flows::{tcp_step, FlowKey, FlowTable, State, TcpStep};
use hash::SeededHash;
use policy::{Pickup, LINK_LOCAL_V6, MULTICAST_V6};
use sources::SourceTable;

/// Events queued per worker between two drains.
pub const EVENT_QUEUE: usize = 256;

/// Frames `process_batch` prepares together.
pub const BATCH: usize = 32;

/// What kind of frame it is, as far as the rules care.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Kind {
    #[default]
    Malformed,
    Arp,
    /// Not IP and not ARP.
    NonIp,
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    /// IP carrying another protocol (or ICMP of the other family).
    OtherIp,
    /// A non-first fragment: no L4 header.
    Fragment,
}

/// What the first stage learns about a frame. Flat (no nested enums), so
/// that the stages pass one small record per frame along the batch.
#[derive(Clone, Copy, Debug, Default)]
struct Pre {
    src: Addr,
    dst: Addr,
    /// The source's address hash: its blacklist bucket and its rate-limit
    /// entry.
    src_hash: u64,
    /// The flow's hash, when `flow`.
    flow_hash: u64,
    sport: u16,
    dport: u16,
    kind: Kind,
    /// TCP flags, or the ICMP type.
    flags: u8,
    ttl: u8,
    v6: bool,
    /// The rules will need the source's rate-limit entry.
    need_src: bool,
    /// The frame belongs to a tracked flow (TCP; UDP in strict mode).
    flow: bool,
    /// The blacklist bitmap has the source's bit.
    maybe_fly: bool,
    /// What the rules that read only the frame say: the address rules
    /// (bogons, bogus destinations, anti-spoof), then bogus TCP flags.
    /// Worked out in the first stage, applied in rule order.
    stateless_drop: Option<Reason>,
}

impl Pre {
    #[inline(always)]
    fn is_ip(&self) -> bool {
        !matches!(self.kind, Kind::Malformed | Kind::Arp | Kind::NonIp)
    }

    /// The frame's flow key, from its sender.
    #[inline(always)]
    fn flow_key(&self) -> FlowKey {
        let proto = if self.kind == Kind::Tcp { 6 } else { 17 };
        FlowKey::of_family(proto, self.src, self.sport, self.dst, self.dport, self.v6)
    }
}

/// Something the control plane must hear about (log, persist).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A new fly.
    Lockout(FlyEntry),
}

/// Counters of one worker. Readers sum the workers' copies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub frames_wan: u64,
    pub frames_lan: u64,
    pub forwarded: u64,
    pub delayed: u64,
    pub drops: [u64; Reason::COUNT],
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
}

impl Stats {
    pub fn drop_count(&self, r: Reason) -> u64 {
        self.drops[r as usize]
    }

    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// Add another worker's counters.
    pub fn merge(&mut self, o: &Stats) {
        self.frames_wan += o.frames_wan;
        self.frames_lan += o.frames_lan;
        self.forwarded += o.forwarded;
        self.delayed += o.delayed;
        for (a, b) in self.drops.iter_mut().zip(o.drops.iter()) {
            *a += b;
        }
        self.flies_added += o.flies_added;
        self.flies_refused += o.flies_refused;
        self.events_lost += o.events_lost;
        self.source_evictions += o.source_evictions;
        self.flow_evictions += o.flow_evictions;
    }
}

/// The engine of one worker.
pub struct Filter {
    policy: Arc<Policy>,
    blacklist: Arc<Blacklist>,
    /// Mixes flow keys (seeded per worker).
    hash: SeededHash,
    /// Hashes addresses: the blacklist's hasher, so that one hash of a
    /// frame's source serves the blacklist and the per-source table.
    addr_hash: SeededHash,
    sources: SourceTable,
    flows: FlowTable,
    stats: Stats,
    events: ArrayVec<Event, EVENT_QUEUE>,
    lan_v4: bool,
    lan_v6: bool,
    /// The policy's prefix sets, compiled for the hot path.
    bogon_src: policy::AddrMatcher,
    bogus_dst: policy::AddrMatcher,
    lan: policy::AddrMatcher,
}

const DHCP_SERVER: u16 = 67;
const DHCP_CLIENT: u16 = 68;
const DHCP6_CLIENT: u16 = 546;
const DHCP6_SERVER: u16 = 547;

impl Filter {
    /// A filter for one worker. `seed` keys the table hashes: pass a random
    /// one in the data path ([`hash::random_seed`]) and a fixed one for
    /// reproducible replays and tests.
    pub fn new(policy: Arc<Policy>, blacklist: Arc<Blacklist>, seed: u64) -> Filter {
        let lan_v4 = policy.lan.0.iter().any(|p| p.is_v4());
        let lan_v6 = policy.lan.0.iter().any(|p| !p.is_v4());
        Filter {
            sources: SourceTable::new(policy.tables.sources),
            flows: FlowTable::new(policy.tables.flows),
            hash: SeededHash::new(seed),
            addr_hash: blacklist.hasher(),
            stats: Stats::default(),
            events: ArrayVec::new(),
            bogon_src: policy::AddrMatcher::new(&policy.bogon_src),
            bogus_dst: policy::AddrMatcher::new(&policy.bogus_dst),
            lan: policy::AddrMatcher::new(&policy.lan),
            policy,
            blacklist,
            lan_v4,
            lan_v6,
        }
    }

    /// A filter with its own blacklist (replay, tests, benches).
    pub fn standalone(policy: Policy, seed: u64) -> Filter {
        let bl = Arc::new(Blacklist::new(policy.tables.flies, seed));
        Filter::new(Arc::new(policy), bl, seed)
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn blacklist(&self) -> &Arc<Blacklist> {
        &self.blacklist
    }

    /// This worker's counters.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats.clone();
        s.source_evictions = self.sources.evictions();
        s.flow_evictions = self.flows.evictions();
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

    /// The caller could not carry out `v` (the RST delay queue was full, the
    /// frame did not fit a buffer): count it as a drop for `reason` instead.
    pub fn overrule(&mut self, v: Verdict, reason: Reason) {
        match v {
            Verdict::Forward => self.stats.forwarded -= 1,
            Verdict::Delay(_) => self.stats.delayed -= 1,
            Verdict::Drop(r) => self.stats.drops[r as usize] -= 1,
        }
        self.stats.drops[reason as usize] += 1;
    }

    /// Count `n` frames the data path dropped before the filter saw them.
    pub fn count_drops(&mut self, dir: Direction, reason: Reason, n: u64) {
        self.count_frames(dir, n);
        self.stats.drops[reason as usize] += n;
    }

    /// Housekeeping: forget expired flows and idle sources. Not needed for
    /// correctness (lookups ignore expired state); it keeps `table_usage`
    /// honest. Costs a pass over both tables: call it every few seconds.
    pub fn expire(&mut self, now: Nanos) {
        self.flows.expire(now);
        self.sources.expire(now);
    }

    /// Decide what to do with one frame.
    #[inline]
    pub fn process(&mut self, now: Nanos, dir: Direction, frame: &[u8]) -> Verdict {
        let mut pre = Pre::default();
        self.prepare(dir, frame, &mut pre);
        self.warm(&mut pre);
        self.count_frames(dir, 1);
        self.finish(now, dir, &pre, false)
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
            for (f, p) in chunk.iter().zip(pre.iter_mut()) {
                self.prepare(dir, f, p);
            }
            for p in pre.iter_mut() {
                self.warm(p);
            }
            // A fly made by an earlier frame of this chunk was not in the
            // bitmap when the chunk was prepared: look sources up fully then.
            self.count_frames(dir, chunk.len() as u64);
            let flies_before = self.stats.flies_added;
            for (p, v) in pre.iter().zip(out.iter_mut()) {
                let recheck = self.stats.flies_added != flies_before;
                *v = self.finish(now, dir, p, recheck);
            }
        }
    }

    #[inline(always)]
    fn count_frames(&mut self, dir: Direction, n: u64) {
        match dir {
            Direction::Wan => self.stats.frames_wan += n,
            Direction::Lan => self.stats.frames_lan += n,
        }
    }

    /// Stage one: parse, hash, and prefetch the lines of the blacklist
    /// bitmap and the tags of the flow and source tables. No state changes.
    #[inline(always)]
    fn prepare(&self, dir: Direction, frame: &[u8], pre: &mut Pre) {
        let ip = match wire::parse(frame) {
            Ok(wire::Summary { l3: L3::Ip(ip), .. }) => ip,
            Ok(wire::Summary { l3: L3::Arp, .. }) => {
                pre.kind = Kind::Arp;
                return;
            }
            Ok(wire::Summary { l3: L3::Other, .. }) => {
                pre.kind = Kind::NonIp;
                return;
            }
            Err(_) => {
                pre.kind = Kind::Malformed;
                return;
            }
        };
        let (kind, sport, dport, flags) = match ip.l4 {
            L4::Tcp(t) => (Kind::Tcp, t.sport, t.dport, t.flags),
            L4::Udp { sport, dport } => (Kind::Udp, sport, dport, 0),
            L4::Icmp { ty, .. } => (Kind::Icmp, 0, 0, ty),
            L4::Icmpv6 { ty, .. } => (Kind::Icmpv6, 0, 0, ty),
            L4::Other => (Kind::OtherIp, 0, 0, 0),
            L4::Fragment => (Kind::Fragment, 0, 0, 0),
        };
        let src_hash = self.addr_hash.hash128(ip.src.0);
        self.blacklist.prefetch(src_hash);
        let wan = dir == Direction::Wan;
        let need_src = match kind {
            Kind::Tcp => wan && flags & (tcpflags::SYN | tcpflags::RST) != 0,
            Kind::Icmp | Kind::Icmpv6 => wan,
            _ => false,
        };
        let flow = kind == Kind::Tcp || (kind == Kind::Udp && self.policy.strict);
        *pre = Pre {
            src: ip.src,
            dst: ip.dst,
            src_hash,
            flow_hash: 0,
            sport,
            dport,
            kind,
            flags,
            ttl: ip.ttl,
            v6: ip.version == 6,
            need_src,
            flow,
            maybe_fly: false,
            stateless_drop: None,
        };
        pre.stateless_drop = self.check_addresses(dir, pre);
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
            let h_dst = self.addr_hash.hash128(ip.dst.0);
            pre.flow_hash = pre.flow_key().hash_hashed(src_hash, h_dst, &self.hash);
            self.flows.prefetch(pre.flow_hash, pre.v6);
        }
    }

    /// Stage two: read the (now cached) tags and bitmap word, and prefetch
    /// the matching table entries.
    #[inline(always)]
    fn warm(&self, pre: &mut Pre) {
        if !pre.is_ip() {
            return;
        }
        pre.maybe_fly = self.blacklist.maybe_fly_hashed(pre.src_hash);
        if pre.maybe_fly {
            self.blacklist.prefetch_entry(pre.src_hash);
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
    fn finish(&mut self, now: Nanos, dir: Direction, pre: &Pre, recheck_fly: bool) -> Verdict {
        let v = self.decide(now, dir, pre, recheck_fly);
        match v {
            Verdict::Forward => self.stats.forwarded += 1,
            Verdict::Delay(_) => self.stats.delayed += 1,
            Verdict::Drop(r) => self.stats.drops[r as usize] += 1,
        }
        v
    }

    #[inline(always)]
    fn decide(&mut self, now: Nanos, dir: Direction, pre: &Pre, recheck_fly: bool) -> Verdict {
        match pre.kind {
            Kind::Malformed => return Verdict::Drop(Reason::Malformed),
            Kind::Arp => return Verdict::Forward,
            Kind::NonIp if self.policy.drop_non_ip => return Verdict::Drop(Reason::NonIp),
            Kind::NonIp => return Verdict::Forward,
            _ => {}
        }
        let fly = if recheck_fly {
            self.blacklist.is_fly(pre.src, now)
        } else {
            pre.maybe_fly && self.blacklist.is_listed_fly(pre.src, pre.src_hash, now)
        };
        if fly {
            return Verdict::Drop(Reason::Fly);
        }
        if pre.kind == Kind::Icmpv6 {
            match pre.flags {
                133..=137 => {
                    return if pre.ttl == 255 {
                        Verdict::Forward
                    } else {
                        Verdict::Drop(Reason::Spoofed)
                    };
                }
                // Multicast listener discovery (MLD query, report, done,
                // MLDv2 report): link-local by construction (hop limit 1,
                // from a link-local address or, while the address is
                // tentative, from `::` as RFC 3590 allows, to a multicast
                // group).
                130..=132 | 143
                    if pre.ttl == 1
                        && (pre.src.0 == 0 || LINK_LOCAL_V6.contains(pre.src))
                        && MULTICAST_V6.contains(pre.dst) =>
                {
                    return Verdict::Forward;
                }
                _ => {}
            }
        }
        if let Some(r) = pre.stateless_drop {
            return Verdict::Drop(r);
        }
        match pre.kind {
            Kind::Tcp => self.tcp(now, dir, pre),
            Kind::Udp => self.udp(now, dir, pre),
            Kind::Icmp => self.icmp(now, dir, pre, false),
            Kind::Icmpv6 => self.icmp(now, dir, pre, true),
            _ => Verdict::Forward,
        }
    }

    /// Bogons, bogus destinations and anti-spoof by direction.
    #[inline]
    fn check_addresses(&self, dir: Direction, ip: &Pre) -> Option<Reason> {
        let v6 = ip.v6;
        let lan_checked = if v6 { self.lan_v6 } else { self.lan_v4 };
        match dir {
            Direction::Wan => {
                if self.bogon_src.contains_of(ip.src, v6) || (v6 && ip.src.is_v4()) {
                    return Some(Reason::BogonSrc);
                }
                if v6
                    && LINK_LOCAL_V6.contains(ip.src)
                    && !(LINK_LOCAL_V6.contains(ip.dst) || MULTICAST_V6.contains(ip.dst))
                {
                    return Some(Reason::BogonSrc);
                }
                if self.bogus_dst.contains_of(ip.dst, v6)
                    && !(ip.kind == Kind::Udp && (ip.sport, ip.dport) == (DHCP_SERVER, DHCP_CLIENT))
                {
                    return Some(Reason::BogusDst);
                }
                if lan_checked && self.lan.contains_of(ip.src, v6) {
                    return Some(Reason::Spoofed);
                }
            }
            Direction::Lan => {
                if lan_checked && !self.lan.contains_of(ip.src, v6) && !lan_source_exempt(ip) {
                    return Some(Reason::Spoofed);
                }
            }
        }
        None
    }

    fn allowed(&self, proto: Proto, dport: u16, dst: Addr) -> bool {
        self.policy
            .allow
            .iter()
            .any(|r| r.matches(proto, dport, dst))
    }

    /// Lock `src` out and drop the frame with `reason`.
    #[cold]
    #[inline(never)]
    fn make_fly(
        &mut self,
        now: Nanos,
        src: Addr,
        reason: Reason,
        proto: Proto,
        port: u16,
    ) -> Verdict {
        if self.policy.never_block.contains(src) {
            return Verdict::Drop(reason);
        }
        let e = FlyEntry {
            addr: src,
            reason,
            proto: Some(proto),
            port,
            first_seen: now,
            expires: now + self.policy.lockout,
        };
        match self.blacklist.insert(e, now) {
            Insert::Added => {
                self.stats.flies_added += 1;
                if self.events.try_push(Event::Lockout(e)).is_err() {
                    self.stats.events_lost += 1;
                }
            }
            Insert::Updated => {}
            Insert::Full => self.stats.flies_refused += 1,
        }
        Verdict::Drop(reason)
    }

    #[inline(always)]
    fn tcp(&mut self, now: Nanos, dir: Direction, ip: &Pre) -> Verdict {
        let flags = ip.flags;
        let dport = ip.dport;
        let src_hash = ip.src_hash;
        let wan = dir == Direction::Wan;
        if wan && self.policy.trap_tcp.contains(dport) {
            return self.make_fly(now, ip.src, Reason::Trap, Proto::Tcp, dport);
        }
        let key = ip.flow_key();
        let h = ip.flow_hash;
        let found = self.flows.lookup(h, &key, now);
        let from_orig = found.is_none_or(|(_, _, o)| o);
        match tcp_step(found.map(|(_, s, _)| s), from_orig, flags) {
            TcpStep::New => {
                if wan {
                    if self.policy.strict && !self.allowed(Proto::Tcp, dport, ip.dst) {
                        return self.make_fly(now, ip.src, Reason::NotAllowed, Proto::Tcp, dport);
                    }
                    if let Some(l) = self.policy.syn_limit {
                        if !self
                            .sources
                            .get(now, ip.src, src_hash, ip.v6)
                            .syn
                            .take(&l, now)
                        {
                            return Verdict::Drop(Reason::SynRate);
                        }
                    }
                }
                let ct = &self.policy.conntrack;
                self.flows.insert(h, key, now, ct, State::SynSent);
                Verdict::Forward
            }
            TcpStep::Invalid => {
                let ct = &self.policy.conntrack;
                let pickup = match ct.pickup {
                    Pickup::None => false,
                    Pickup::Lan => !wan,
                    Pickup::Both => true,
                };
                let ack_only = flags & (tcpflags::ACK | tcpflags::RST) == tcpflags::ACK;
                if found.is_none() && pickup && ack_only {
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
                            .get(now, ip.src, src_hash, ip.v6)
                            .rst
                            .take(&l, now)
                        {
                            return Verdict::Drop(Reason::RstRate);
                        }
                    }
                    self.advance(found, now, state);
                    if self.policy.rst_delay.0 > 0 {
                        return Verdict::Delay(now + self.policy.rst_delay);
                    }
                    return Verdict::Forward;
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
        if wan && self.policy.trap_udp.contains(dport) {
            return self.make_fly(now, ip.src, Reason::Trap, Proto::Udp, dport);
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
        // UDP flows only matter to strict mode (replies to the LAN's own
        // datagrams are not "new inbound traffic"); without it, tracking
        // them would only churn the flow table.
        if !ip.flow {
            // Not strict: no flow.
            return Verdict::Forward;
        }
        let key = ip.flow_key();
        let h = ip.flow_hash;
        let found = self.flows.lookup(h, &key, now);
        let next = match found {
            Some((_, s, true)) => s,
            Some(_) => State::UdpStream,
            None => {
                if wan && !self.allowed(Proto::Udp, dport, ip.dst) {
                    return self.make_fly(now, ip.src, Reason::NotAllowed, Proto::Udp, dport);
                }
                let ct = &self.policy.conntrack;
                self.flows.insert(h, key, now, ct, State::UdpUnreplied);
                return Verdict::Forward;
            }
        };
        self.advance(found, now, next);
        Verdict::Forward
    }

    fn icmp(&mut self, now: Nanos, dir: Direction, ip: &Pre, v6: bool) -> Verdict {
        let ty = ip.flags;
        let src_hash = ip.src_hash;
        if dir == Direction::Lan {
            return Verdict::Forward;
        }
        let p = &*self.policy;
        let (drop, echo_request) = if v6 {
            (p.icmpv6_drop[ty as usize], ty == 128)
        } else {
            (p.icmp_drop[ty as usize], ty == 8)
        };
        if drop {
            return Verdict::Drop(Reason::IcmpType);
        }
        if echo_request && p.strict && !self.allowed(Proto::Icmp, 0, ip.dst) {
            return self.make_fly(now, ip.src, Reason::NotAllowed, Proto::Icmp, ty as u16);
        }
        if let Some(l) = p.icmp_limit {
            if !self
                .sources
                .get(now, ip.src, src_hash, ip.v6)
                .icmp
                .take(&l, now)
            {
                return Verdict::Drop(Reason::IcmpRate);
            }
        }
        Verdict::Forward
    }
}

/// Sources the LAN may use outside its prefixes: DHCP discovery from
/// 0.0.0.0, IPv6 duplicate address detection from `::`, and link-local.
fn lan_source_exempt(ip: &Pre) -> bool {
    if ip.v6 {
        ip.src.0 == 0 || LINK_LOCAL_V6.contains(ip.src)
    } else {
        ip.src == Addr::from_v4(0)
            && ip.kind == Kind::Udp
            && (ip.sport, ip.dport) == (DHCP_CLIENT, DHCP_SERVER)
    }
}

//! The blacklist of flies: shared by every worker, lock-free for readers.
//!
//! Every frame from every port is checked against it, on every core, so a
//! lookup takes no lock, allocates nothing and touches one or two cache
//! lines. Writes (a trap fires, an operator frees a fly, expiry) are rare
//! and serialized by one mutex.
//!
//! Layout: open addressing with linear probing over `2 * capacity` slots
//! (rounded up to a power of two), so the table is at most half full. Each
//! slot is 32 bytes, two to a cache line: a 32-bit tag (0 = never used,
//! 1 = tombstone, else a fingerprint of the key's seeded hash with the top
//! bit set) that lets a probe skip the slot, a sequence lock, the address
//! and the expiry. An entry always lives within `WINDOW` slots of its home
//! slot; a reader stops at the first empty tag or at the end of the window.
//! The slot is published under its sequence lock, so a reader that races a
//! writer re-reads instead of seeing a torn address. The first-seen time
//! and trigger, which only listing reads, live in a parallel array under
//! the same lock. A batched lookup prefetches the home slot's line and the
//! next, which hold nearly every entry at half load.
//!
//! In front of the table sits a membership bitmap of about eight bits per
//! fly (1 MiB for a million flies, small enough to stay in L2), used as a
//! blocked Bloom filter: each fly sets three bits of one 64-bit word, and a
//! frame whose source misses any of them is "not a fly" without touching
//! the table, which is the answer for nearly every frame. With the bitmap
//! full, about 3% of other sources pass to the table lookup (one bit per
//! fly would send 12%). Bits are set on insert and not cleared on removal
//! (a stale bit only sends a lookup to the table); `sweep` rebuilds the
//! bitmap when stale bits pile up, storing each word as a subset of the old
//! one that still holds every live fly's bits, so readers never miss a fly.
//!
//! Capacity is a hard bound, and a full blacklist evicts rather than
//! refuses: a new fly takes the room of the fly of the lowest class that
//! expires soonest. Classes, lowest first: *unproven* (a trap hit or a
//! strict-mode miss whose source address nobody proved), *proven* (the
//! source answered a SYN cookie, so it owns its address), *operator* (a
//! block an operator made). A fly only evicts flies of its own class or
//! lower, so a flood of forged trap hits churns unproven flies and never
//! evicts a proven fly or an operator's block; when nothing may be evicted
//! the new fly is refused (and counted by the caller). The order is kept by
//! one min-heap of (expiry, slot) per class under the writer mutex; the
//! same heaps let `sweep` free expired flies without scanning the table.
//!
//! Flies are keyed by prefix: an address is masked to its family's fly
//! prefix ([`FlyPrefix`], by default /32 for IPv4 and /64 for IPv6, where
//! one host holds a whole /64 and can rotate its interface identifier at
//! will) before it is hashed, stored or looked up.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{fence, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use crossbeam::utils::Backoff;

use crate::addr::Addr;
use crate::filter::hash::SeededHash;
use crate::filter::policy::Proto;
use crate::filter::verdict::{Nanos, Reason};
use crate::sys::mem::huge_slice_with;

const EMPTY: u32 = 0;
const TOMB: u32 = 1;
/// Where a used tag keeps its fly's class, so that a lookup learns it
/// from the line it probes (the listing fields live in colder memory).
const CLASS_SHIFT: u32 = 29;
const CLASS_BITS: u32 = 3 << CLASS_SHIFT;
/// Bits the membership bitmap sets per fly, all in one 64-bit word.
const BLOOM_BITS: usize = 3;
/// How far from its home slot an entry may live.
pub const WINDOW: usize = 64;

/// How much of a source address makes a fly: the prefix lengths per family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlyPrefix {
    /// IPv4 prefix length (8..=32).
    pub v4: u8,
    /// IPv6 prefix length (32..=128).
    pub v6: u8,
}

impl Default for FlyPrefix {
    /// /32 for IPv4 (one address), /64 for IPv6 (one host's subnet: the
    /// interface identifier is the host's to choose).
    fn default() -> FlyPrefix {
        FlyPrefix { v4: 32, v6: 64 }
    }
}

impl FlyPrefix {
    /// The prefix length of a fly of `a`'s family, within the family.
    #[inline(always)]
    pub const fn len_of(self, a: Addr) -> u8 {
        if a.is_v4() {
            self.v4
        } else {
            self.v6
        }
    }

    /// `a` with every bit after its family's prefix cleared: the key of the
    /// fly (and of the per-source limits) that `a` belongs to.
    /// An IPv6 link-local address is its own key: every host on a link
    /// has an address in fe80::/64, so the prefix says nothing about who
    /// sent it.
    #[inline(always)]
    pub fn key(self, a: Addr) -> Addr {
        KeyMask::new(self).key(a)
    }
}

/// A [`FlyPrefix`] as the two masks the hot path applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyMask {
    v4: u128,
    v6: u128,
}

impl KeyMask {
    pub const fn new(p: FlyPrefix) -> KeyMask {
        KeyMask {
            v4: Addr::v4_mask(p.v4),
            v6: Addr::v6_mask(p.v6),
        }
    }

    /// The fly key of `a` (see [`FlyPrefix::key`]).
    #[inline(always)]
    pub fn key(&self, a: Addr) -> Addr {
        let link_local = a.0 >> 118 == 0xfe80 >> 6;
        let m = if a.is_v4() {
            self.v4
        } else if link_local {
            u128::MAX
        } else {
            self.v6
        };
        Addr(a.0 & m)
    }
}

/// What a fly's lock-out rests on; a fly evicts only flies of its own class
/// or a lower one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// A trap hit or strict-mode miss whose source address nobody proved.
    Unproven = 0,
    /// The source completed a handshake with a SYN cookie: it owns its
    /// address.
    Proven = 1,
    /// An operator's block.
    Operator = 2,
}

impl Class {
    pub const ALL: [Class; 3] = [Class::Unproven, Class::Proven, Class::Operator];

    fn of_tag(t: u32) -> Class {
        match (t & CLASS_BITS) >> CLASS_SHIFT {
            0 => Class::Unproven,
            1 => Class::Proven,
            _ => Class::Operator,
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Class::Unproven => "unproven",
            Class::Proven => "proven",
            Class::Operator => "operator",
        }
    }
}

/// One fly, as the control plane lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlyEntry {
    /// The source address, masked to `prefix` bits (its [`FlyPrefix`] key).
    pub addr: Addr,
    /// The prefix length within the address's family (IPv4 0..=32, IPv6
    /// 0..=128).
    pub prefix: u8,
    /// What made it a fly: `Trap`, `NotAllowed`, or an operator's block.
    pub reason: Reason,
    /// The protocol and destination port (ICMP: type) it tried; `None` for
    /// an operator's block.
    pub proto: Option<Proto>,
    pub port: u16,
    /// The source proved that it owns its address (a SYN cookie came back).
    pub proven: bool,
    pub first_seen: Nanos,
    pub expires: Nanos,
}

impl FlyEntry {
    /// The fly's prefix length out of 128 bits (IPv4 counts the mapping).
    pub fn len128(&self) -> u8 {
        if self.addr.is_v4() {
            96 + self.prefix
        } else {
            self.prefix
        }
    }

    pub fn class(&self) -> Class {
        match (self.proto, self.proven) {
            (None, _) => Class::Operator,
            (_, true) => Class::Proven,
            (_, false) => Class::Unproven,
        }
    }

    /// The address, with its prefix length when the fly is more than one
    /// address (`2001:db8:1:2::/64`).
    pub fn target(&self) -> String {
        let full = if self.addr.is_v4() { 32 } else { 128 };
        if self.prefix >= full {
            self.addr.to_string()
        } else {
            format!("{}/{}", self.addr, self.prefix)
        }
    }

    /// The log line for a new fly, as the seed's daemon wrote it:
    /// `lockout 69.0.231.79, who tried TCP-port 20000`; an unproven fly is
    /// marked as such.
    pub fn lockout_line(&self) -> String {
        let who = self.target();
        let mut line = match self.proto {
            Some(_) => format!(
                "lockout {who}, who tried {}",
                trigger(self.proto, self.port)
            ),
            None => format!("lockout {who}, blocked by the operator"),
        };
        if self.class() == Class::Unproven {
            line.push_str(" (unproven)");
        }
        line
    }
}

/// What a fly tried, as its log lines and `list` say it: `TCP-port 139`,
/// `ICMP-type 8`, `IP-protocol 47`; `-` for an operator's block.
pub fn trigger(proto: Option<Proto>, port: u16) -> String {
    match proto {
        Some(Proto::Icmp) => format!("ICMP-type {port}"),
        Some(Proto::Other(n)) => format!("IP-protocol {n}"),
        Some(p) => format!("{}-port {port}", p.as_str()),
        None => "-".into(),
    }
}

fn pack_meta(e: &FlyEntry) -> u64 {
    let proto = match e.proto {
        None => 0u64,
        Some(Proto::Tcp) => 1,
        Some(Proto::Udp) => 2,
        Some(Proto::Icmp) => 3,
        // The protocol number rides in the port's place (it has none).
        Some(Proto::Other(_)) => 4,
    };
    let port = match e.proto {
        Some(Proto::Other(n)) => u64::from(n),
        _ => u64::from(e.port),
    };
    (e.reason as u64)
        | (proto << 8)
        | (port << 16)
        | (u64::from(e.proven) << 32)
        | (u64::from(e.prefix) << 40)
}

/// Reason, protocol, port, proven, prefix length.
fn unpack_meta(m: u64) -> (Reason, Option<Proto>, u16, bool, u8) {
    let reason = Reason::ALL
        .get((m & 0xff) as usize)
        .copied()
        .unwrap_or(Reason::Fly);
    let proto = match (m >> 8) & 0xff {
        1 => Some(Proto::Tcp),
        2 => Some(Proto::Udp),
        3 => Some(Proto::Icmp),
        4 => Some(Proto::Other((m >> 16) as u8)),
        _ => None,
    };
    (
        reason,
        proto,
        (m >> 16) as u16,
        (m >> 32) & 1 == 1,
        (m >> 40) as u8,
    )
}

/// The part of a slot every lookup reads: 32 bytes, two to a cache line.
#[derive(Default)]
#[repr(align(32))]
struct Slot {
    /// Sequence lock over this slot and its `Info`: odd while a writer is
    /// inside.
    seq: AtomicU32,
    /// `EMPTY`, `TOMB`, or a fingerprint of the key's hash: a probe skips
    /// the slot without reading the rest. Kept in the slot (it fills the
    /// padding before the address), so a lookup's probe and its read share
    /// a cache line.
    tag: AtomicU32,
    hi: AtomicU64,
    lo: AtomicU64,
    expires: AtomicU64,
}

/// The part of a slot only listing reads (first seen, trigger), kept apart
/// so that lookups touch half the memory.
#[derive(Default)]
struct Info {
    first_seen: AtomicU64,
    meta: AtomicU64,
    /// Frames of this fly the filter dropped (`list` shows them).
    hits: AtomicU64,
}

/// A consistent copy of a slot.
#[derive(Clone, Copy)]
struct SlotData {
    addr: u128,
    expires: u64,
    first_seen: u64,
    meta: u64,
}

impl SlotData {
    fn of(e: &FlyEntry) -> SlotData {
        SlotData {
            addr: e.addr.0,
            expires: e.expires.0,
            first_seen: e.first_seen.0,
            meta: pack_meta(e),
        }
    }
}

/// What `insert` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Insert {
    /// A new fly.
    Added,
    /// A new fly, which took the room of this one (the blacklist was full).
    Evicted(FlyEntry),
    /// Already listed (live or expired): merged (the later expiry and the
    /// higher class win).
    Updated,
    /// Nothing may make room for it (every fly is of a higher class):
    /// refused.
    Full,
}

/// The eviction and expiry order, kept under the writer mutex: per class,
/// a min-heap of `expiry second << 32 | slot`. Entries go stale when a slot
/// changes; a stale entry is recognised (the slot no longer holds a fly of
/// that class and expiry) and skipped when it surfaces.
#[derive(Default)]
struct Index {
    heaps: [BinaryHeap<Reverse<u64>>; 3],
}

/// The second at or after `t`: a heap entry surfaces no earlier than its
/// fly expires.
fn ceil_secs(t: u64) -> u64 {
    t.div_ceil(1_000_000_000).min(u64::from(u32::MAX))
}

pub struct Blacklist {
    /// One bit per hash bucket: set if some fly may hash there.
    bits: Box<[AtomicU64]>,
    bit_mask: usize,
    /// Bits set (including stale ones), for the rebuild decision.
    bits_set: AtomicUsize,
    slots: Box<[Slot]>,
    info: Box<[Info]>,
    mask: usize,
    capacity: usize,
    hash: SeededHash,
    prefix: FlyPrefix,
    key_mask: KeyMask,
    /// Occupied slots (live or expired, not tombstones).
    occupied: AtomicUsize,
    /// Bumped by every write that changed the flies (see `generation`).
    generation: AtomicU64,
    writer: Mutex<Index>,
}

impl Blacklist {
    /// A blacklist of one address per fly in IPv4 and a /64 in IPv6.
    pub fn new(capacity: usize, seed: u64) -> Blacklist {
        Blacklist::with_prefix(capacity, seed, FlyPrefix::default())
    }

    pub fn with_prefix(capacity: usize, seed: u64, prefix: FlyPrefix) -> Blacklist {
        let capacity = capacity.max(1);
        let n = (capacity * 2).next_power_of_two().max(WINDOW);
        let nbits = (capacity * 8).next_power_of_two().max(64);
        Blacklist {
            bits: huge_slice_with(nbits / 64, || AtomicU64::new(0)),
            bit_mask: nbits - 1,
            bits_set: AtomicUsize::new(0),
            slots: huge_slice_with(n, Slot::default),
            info: huge_slice_with(n, Info::default),
            mask: n - 1,
            capacity,
            hash: SeededHash::new(seed ^ 0x626c_6163_6b6c_6973),
            prefix,
            key_mask: KeyMask::new(prefix),
            occupied: AtomicUsize::new(0),
            generation: AtomicU64::new(0),
            writer: Mutex::new(Index::default()),
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The prefix lengths flies are keyed by.
    pub fn prefix(&self) -> FlyPrefix {
        self.prefix
    }

    /// The key `addr` is listed under (its fly prefix).
    #[inline(always)]
    pub fn key(&self, addr: Addr) -> Addr {
        self.key_mask.key(addr)
    }

    /// The masks `key` applies.
    pub fn key_mask(&self) -> KeyMask {
        self.key_mask
    }

    /// Entries held, including expired ones not yet swept.
    pub fn len(&self) -> usize {
        self.occupied.load(Ordering::Relaxed)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A change counter: it moves whenever an insert, remove, clear or
    /// sweep changed the flies, and only then, so the control thread can
    /// tell cheaply whether the flies need saving again.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::Release);
    }

    #[inline]
    fn home_and_tag(&self, key: Addr) -> (usize, u32) {
        self.home_and_tag_of(self.hash.hash128(key.0))
    }

    #[inline(always)]
    fn home_and_tag_of(&self, h: u64) -> (usize, u32) {
        (
            h as usize & self.mask,
            ((h >> 32) as u32 & !CLASS_BITS) | 0x8000_0000,
        )
    }

    /// The bitmap word and bit for a key.
    #[inline(always)]
    fn bit(&self, key: Addr) -> (usize, u64) {
        self.bit_of(self.hash.hash128(key.0))
    }

    /// The bitmap word and the `BLOOM_BITS` bits in it for a hash: a
    /// blocked Bloom filter, one word per lookup.
    #[inline(always)]
    fn bit_of(&self, h: u64) -> (usize, u64) {
        let w = (h.rotate_right(17) as usize & self.bit_mask) / 64;
        let m =
            (1u64 << ((h >> 40) & 63)) | (1u64 << ((h >> 46) & 63)) | (1u64 << ((h >> 52) & 63));
        (w, m)
    }

    /// The keyed address hash this blacklist uses: workers hash a frame's
    /// source key once, with it, for the blacklist and their own tables.
    pub fn hasher(&self) -> SeededHash {
        self.hash
    }

    /// The keyed hash of a key (an address masked by [`Blacklist::key`])
    /// that the batched lookups below take, so that a frame's stages
    /// compute it once.
    #[inline(always)]
    pub fn hash_of(&self, key: Addr) -> u64 {
        self.hash.hash128(key.0)
    }

    /// Start loading the bitmap word for a hash from `hash_of`.
    #[inline(always)]
    pub fn prefetch(&self, h: u64) {
        let (w, _) = self.bit_of(h);
        crate::sys::prefetch::prefetch(&self.bits[w]);
    }

    /// The first, cheap half of `is_fly`, for a hash from `hash_of`: false
    /// means the address is certainly not a fly; true means look it up. One
    /// load from a small bitmap.
    #[inline(always)]
    pub fn maybe_fly_hashed(&self, h: u64) -> bool {
        let (w, m) = self.bit_of(h);
        self.bits[w].load(Ordering::Acquire) & m == m
    }

    /// Start loading the table lines where a key would be listed (batched
    /// lookups, after `maybe_fly_hashed` said yes).
    #[inline(always)]
    pub fn prefetch_entry(&self, h: u64) {
        let (home, _) = self.home_and_tag_of(h);
        // The home slot's line and the next: an entry displaced by up to
        // two slots (most are, at half load) is then in cache too.
        crate::sys::prefetch::prefetch(&self.slots[home]);
        crate::sys::prefetch::prefetch(&self.slots[(home + 2) & self.mask]);
    }

    /// Set a key's bits; callers hold the writer mutex.
    fn set_bit(&self, key: Addr) {
        let (w, m) = self.bit(key);
        let old = self.bits[w].fetch_or(m, Ordering::Release);
        self.bits_set
            .fetch_add((m & !old).count_ones() as usize, Ordering::Relaxed);
    }

    fn is_used(&self, i: usize) -> bool {
        let t = self.slots[i].tag.load(Ordering::Relaxed);
        t != EMPTY && t != TOMB
    }

    /// Rebuild the bitmap from the live entries; callers hold the writer
    /// mutex. Each word is stored once, as a subset of the old word that
    /// still has every live fly's bit, so concurrent readers stay correct.
    fn rebuild_bits(&self) {
        let mut fresh = vec![0u64; self.bits.len()];
        for i in (0..self.slots.len()).filter(|&i| self.is_used(i)) {
            let (w, m) = self.bit(Addr(self.read_slot(i, true).addr));
            fresh[w] |= m;
        }
        let mut set = 0;
        for (word, new) in self.bits.iter().zip(fresh) {
            word.store(new, Ordering::Release);
            set += new.count_ones() as usize;
        }
        self.bits_set.store(set, Ordering::Relaxed);
    }

    /// Find the slot holding `key` (live or expired). Lock-free.
    #[inline]
    fn find(&self, key: Addr) -> Option<(usize, SlotData, Class)> {
        self.find_in(key, self.hash.hash128(key.0), true)
    }

    /// Seqlock read of slot `i`: retry while a writer is inside. With
    /// `full`, the listing fields too (else they read as 0).
    #[inline]
    fn read_slot(&self, i: usize, full: bool) -> SlotData {
        let slot = &self.slots[i];
        let backoff = Backoff::new();
        loop {
            let s1 = slot.seq.load(Ordering::Acquire);
            if s1 & 1 == 0 {
                let mut d = SlotData {
                    addr: ((slot.hi.load(Ordering::Relaxed) as u128) << 64)
                        | slot.lo.load(Ordering::Relaxed) as u128,
                    expires: slot.expires.load(Ordering::Relaxed),
                    first_seen: 0,
                    meta: 0,
                };
                if full {
                    d.first_seen = self.info[i].first_seen.load(Ordering::Relaxed);
                    d.meta = self.info[i].meta.load(Ordering::Relaxed);
                }
                fence(Ordering::Acquire);
                if slot.seq.load(Ordering::Relaxed) == s1 {
                    return d;
                }
            }
            backoff.snooze();
        }
    }

    /// Seqlock write of slot `i`; callers hold the writer mutex.
    fn write_slot(&self, i: usize, d: SlotData) {
        let slot = &self.slots[i];
        let s = slot.seq.load(Ordering::Relaxed);
        slot.seq.store(s.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        slot.hi.store((d.addr >> 64) as u64, Ordering::Relaxed);
        slot.lo.store(d.addr as u64, Ordering::Relaxed);
        slot.expires.store(d.expires, Ordering::Relaxed);
        self.info[i]
            .first_seen
            .store(d.first_seen, Ordering::Relaxed);
        self.info[i].meta.store(d.meta, Ordering::Relaxed);
        slot.seq.store(s.wrapping_add(2), Ordering::Release);
    }

    /// Where `key` (with its hash from `hash_of`) is listed, if it is;
    /// without `full`, the listing fields read as 0.
    #[inline]
    fn find_in(&self, key: Addr, h: u64, full: bool) -> Option<(usize, SlotData, Class)> {
        let (mut i, tag) = self.home_and_tag_of(h);
        for _ in 0..WINDOW {
            let t = self.slots[i].tag.load(Ordering::Acquire);
            if t == EMPTY {
                return None;
            }
            if t & !CLASS_BITS == tag {
                let d = self.read_slot(i, full);
                if d.addr == key.0 {
                    return Some((i, d, Class::of_tag(t)));
                }
            }
            i = (i + 1) & self.mask;
        }
        None
    }

    /// Is `addr` (any address: it is masked here) a fly at `now`?
    /// Lock-free.
    #[inline]
    pub fn is_fly(&self, addr: Addr, now: Nanos) -> bool {
        self.fly_class(addr, now).is_some()
    }

    /// The second half of `is_fly`, the table lookup, for a key and its
    /// hash from `hash_of`.
    #[inline]
    pub fn is_listed_fly(&self, key: Addr, h: u64, now: Nanos) -> bool {
        self.listed_class(key, h, now).is_some()
    }

    /// As `is_listed_fly`, with the fly's class.
    #[inline]
    pub fn listed_class(&self, key: Addr, h: u64, now: Nanos) -> Option<Class> {
        match self.find_in(key, h, false) {
            Some((_, d, c)) if d.expires > now.0 => Some(c),
            _ => None,
        }
    }

    /// As `listed_class`, counting a hit on the fly (a frame of it that
    /// the filter drops).
    #[inline]
    pub fn hit_class(&self, key: Addr, h: u64, now: Nanos) -> Option<Class> {
        match self.find_in(key, h, false) {
            Some((i, d, c)) if d.expires > now.0 => {
                self.info[i].hits.fetch_add(1, Ordering::Relaxed);
                Some(c)
            }
            _ => None,
        }
    }

    /// Every live fly at `now` with the frames of it the filter dropped.
    pub fn list_hits(&self, now: Nanos) -> Vec<(FlyEntry, u64)> {
        (0..self.slots.len())
            .filter(|&i| self.is_used(i))
            .map(|i| {
                let e = to_entry(self.read_slot(i, true));
                (e, self.info[i].hits.load(Ordering::Relaxed))
            })
            .filter(|(e, _)| e.expires > now && e.addr.0 != 0)
            .collect()
    }

    /// The class of the fly `addr` (any address) belongs to, if it is one.
    #[inline]
    pub fn fly_class(&self, addr: Addr, now: Nanos) -> Option<Class> {
        let key = self.key(addr);
        let h = self.hash_of(key);
        if self.maybe_fly_hashed(h) {
            self.listed_class(key, h, now)
        } else {
            None
        }
    }

    /// The entry `addr` (any address: it is masked here) belongs to, if it
    /// is a fly at `now`.
    pub fn get(&self, addr: Addr, now: Nanos) -> Option<FlyEntry> {
        self.find(self.key(addr))
            .map(|(_, d, _)| to_entry(d))
            .filter(|e| e.expires > now)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        // A writer that panicked left no half-written slot (the seqlock
        // write cannot panic), and a heap entry is checked against its
        // slot before it is used, so a poisoned lock is safe to take.
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Record slot `i`'s entry in the order; callers hold the writer mutex.
    fn index(&self, ix: &mut Index, i: usize, e: &FlyEntry) {
        let heap = &mut ix.heaps[e.class() as usize];
        heap.push(Reverse(ceil_secs(e.expires.0) << 32 | i as u64));
        let total: usize = ix.heaps.iter().map(BinaryHeap::len).sum();
        if total > 2 * self.len() + 1024 {
            self.reindex(ix);
        }
    }

    /// Rebuild the heaps from the table, dropping stale entries.
    fn reindex(&self, ix: &mut Index) {
        for h in ix.heaps.iter_mut() {
            h.clear();
        }
        for i in (0..self.slots.len()).filter(|&i| self.is_used(i)) {
            let e = to_entry(self.read_slot(i, true));
            ix.heaps[e.class() as usize].push(Reverse(ceil_secs(e.expires.0) << 32 | i as u64));
        }
    }

    /// Does heap entry `v` still describe slot `i`'s fly, of `class`?
    fn current(&self, v: u64, class: Class) -> Option<(usize, FlyEntry)> {
        let i = (v & 0xffff_ffff) as usize;
        if i >= self.slots.len() || !self.is_used(i) {
            return None;
        }
        let e = to_entry(self.read_slot(i, true));
        (e.class() == class && ceil_secs(e.expires.0) == v >> 32).then_some((i, e))
    }

    /// The fly of the lowest class up to `up_to` that expires soonest:
    /// the one a new fly of class `up_to` may evict.
    fn victim(&self, ix: &mut Index, up_to: Class) -> Option<(usize, FlyEntry)> {
        for class in Class::ALL.into_iter().filter(|c| *c <= up_to) {
            let heap = &mut ix.heaps[class as usize];
            while let Some(&Reverse(v)) = heap.peek() {
                if let Some(found) = self.current(v, class) {
                    return Some(found);
                }
                heap.pop();
            }
        }
        None
    }

    /// Make `e.addr` (a key: masked to its prefix) a fly until
    /// `e.expires`. A listed fly merges: the later expiry and the higher
    /// class win, and a live fly keeps its first-seen time (and its
    /// trigger, unless the class rises). When the blacklist is full, the
    /// new fly evicts the fly of the lowest class (no higher than its own)
    /// that expires soonest.
    pub fn insert(&self, e: FlyEntry, now: Nanos) -> Insert {
        let mut ix = self.lock();
        self.insert_locked(&mut ix, e, now)
    }

    /// `insert` for many flies under one lock, reporting each outcome:
    /// for restoring a saved blacklist at start-up. The table lines of the
    /// flies a few places ahead are prefetched, so that the random
    /// accesses of a large restore overlap.
    pub fn insert_many(
        &self,
        entries: &[FlyEntry],
        now: Nanos,
        mut each: impl FnMut(&FlyEntry, Insert),
    ) {
        const AHEAD: usize = 8;
        let mut ix = self.lock();
        for h in ix.heaps.iter_mut() {
            h.reserve(entries.len().min(self.capacity));
        }
        for (i, e) in entries.iter().enumerate() {
            if let Some(next) = entries.get(i + AHEAD) {
                let h = self.hash_of(next.addr);
                self.prefetch_entry(h);
                self.prefetch(h);
            }
            let r = self.insert_locked(&mut ix, *e, now);
            each(e, r);
        }
    }

    /// `insert`, with the writer mutex held.
    fn insert_locked(&self, ix: &mut Index, e: FlyEntry, now: Nanos) -> Insert {
        let (home, tag) = self.home_and_tag(e.addr);
        let mut free: Option<usize> = None;
        let mut i = home;
        for _ in 0..WINDOW {
            let t = self.slots[i].tag.load(Ordering::Relaxed);
            if t == EMPTY {
                free.get_or_insert(i);
                break;
            }
            if t == TOMB {
                free.get_or_insert(i);
            } else {
                let d = self.read_slot(i, true);
                if t & !CLASS_BITS == tag && d.addr == e.addr.0 {
                    let old = to_entry(d);
                    let merged = merge(old, e, now);
                    if merged == old {
                        return Insert::Updated;
                    }
                    self.set_bit(e.addr);
                    self.write_slot(i, SlotData::of(&merged));
                    self.slots[i]
                        .tag
                        .store(with_class(tag, merged.class()), Ordering::Release);
                    self.index(ix, i, &merged);
                    self.changed();
                    return Insert::Updated;
                }
                if d.expires <= now.0 {
                    // An expired fly of another address: reclaim its slot.
                    free.get_or_insert(i);
                }
            }
            i = (i + 1) & self.mask;
        }
        let mut evicted = None;
        let i = match free {
            Some(i) if self.is_used(i) => i, // reclaiming an expired fly
            Some(i) if self.len() < self.capacity => i,
            Some(i) => match self.victim(ix, e.class()) {
                Some((v, old)) => {
                    self.free_slot(v);
                    evicted = Some(old);
                    i
                }
                None => return Insert::Full,
            },
            None => {
                // Every slot of the window holds a live fly: the key's
                // window is full (rare below half load). Evict within it.
                let best = (0..WINDOW)
                    .map(|k| (home + k) & self.mask)
                    .map(|j| (j, to_entry(self.read_slot(j, true))))
                    .filter(|(_, old)| old.class() <= e.class())
                    .min_by_key(|(_, old)| (old.class(), old.expires));
                match best {
                    Some((j, old)) => {
                        self.free_slot(j);
                        evicted = Some(old);
                        j
                    }
                    None => return Insert::Full,
                }
            }
        };
        let reclaim = self.is_used(i);
        self.set_bit(e.addr);
        self.write_slot(i, SlotData::of(&e));
        self.info[i].hits.store(0, Ordering::Relaxed);
        // Publish the tag after the slot: a reader that sees the tag sees the slot.
        self.slots[i]
            .tag
            .store(with_class(tag, e.class()), Ordering::Release);
        if !reclaim {
            self.occupied.fetch_add(1, Ordering::Relaxed);
        }
        self.index(ix, i, &e);
        self.changed();
        match evicted {
            Some(old) => Insert::Evicted(old),
            None => Insert::Added,
        }
    }

    /// Free the fly `addr` belongs to (operator `free`). Returns the entry
    /// if it was listed.
    pub fn remove(&self, addr: Addr) -> Option<FlyEntry> {
        let _w = self.lock();
        let (i, d, _) = self.find(self.key(addr))?;
        self.free_slot(i);
        self.changed();
        Some(to_entry(d))
    }

    /// Turn slot `i` into a tombstone, then turn trailing tombstones back
    /// into empty slots where no probe chain can pass through them. Callers
    /// hold the writer mutex.
    fn free_slot(&self, i: usize) {
        self.write_slot(
            i,
            SlotData {
                addr: 0,
                expires: 0,
                first_seen: 0,
                meta: 0,
            },
        );
        self.slots[i].tag.store(TOMB, Ordering::Release);
        self.occupied.fetch_sub(1, Ordering::Relaxed);
        // A tombstone followed by an empty slot ends every chain through it.
        let mut j = i;
        while self.slots[j].tag.load(Ordering::Relaxed) == TOMB
            && self.slots[(j + 1) & self.mask].tag.load(Ordering::Relaxed) == EMPTY
        {
            self.slots[j].tag.store(EMPTY, Ordering::Release);
            j = j.wrapping_sub(1) & self.mask;
        }
    }

    /// Free every fly (operator `flush`). Returns how many were listed.
    pub fn clear(&self) -> usize {
        let mut ix = self.lock();
        let n = (0..self.slots.len()).filter(|&i| self.is_used(i)).count();
        for t in self.slots.iter().map(|s| &s.tag) {
            t.store(EMPTY, Ordering::Release);
        }
        for w in self.bits.iter() {
            w.store(0, Ordering::Release);
        }
        for h in ix.heaps.iter_mut() {
            h.clear();
        }
        self.bits_set.store(0, Ordering::Relaxed);
        self.occupied.store(0, Ordering::Relaxed);
        if n > 0 {
            self.changed();
        }
        n
    }

    /// Free every fly whose lock-out has expired at `now`, reporting each
    /// after the writer lock is released (the report may log or make a
    /// syscall; a worker that makes a fly must not wait for it). Walks the
    /// expiry order, not the table: the cost is the expired flies', not
    /// the capacity's.
    pub fn sweep(&self, now: Nanos, mut expired: impl FnMut(FlyEntry)) -> usize {
        let mut gone = Vec::new();
        {
            let mut ix = self.lock();
            let now_secs = now.0 / 1_000_000_000;
            for class in Class::ALL {
                while let Some(&Reverse(v)) = ix.heaps[class as usize].peek() {
                    if v >> 32 > now_secs {
                        break;
                    }
                    ix.heaps[class as usize].pop();
                    if let Some((i, e)) = self.current(v, class) {
                        if e.expires <= now {
                            self.free_slot(i);
                            gone.push(e);
                        }
                    }
                }
            }
            if self.bits_set.load(Ordering::Relaxed)
                > 2 * BLOOM_BITS * self.occupied.load(Ordering::Relaxed) + 64
            {
                self.rebuild_bits();
            }
        }
        let n = gone.len();
        if n > 0 {
            self.changed();
        }
        gone.into_iter().for_each(&mut expired);
        n
    }

    /// Every live fly at `now` (unordered).
    pub fn list(&self, now: Nanos) -> Vec<FlyEntry> {
        (0..self.slots.len())
            .filter(|&i| self.is_used(i))
            .map(|i| to_entry(self.read_slot(i, true)))
            .filter(|e| e.expires > now && e.addr.0 != 0)
            .collect()
    }
}

fn with_class(tag: u32, c: Class) -> u32 {
    tag | (c as u32) << CLASS_SHIFT
}

/// `new` arriving for a key already listed as `old`. An expired `old` is
/// replaced. Otherwise the higher class wins (with its trigger), and the
/// later expiry: a shorter lock-out never cuts a longer one short.
fn merge(old: FlyEntry, new: FlyEntry, now: Nanos) -> FlyEntry {
    if old.expires <= now {
        return new;
    }
    let mut m = if new.class() > old.class() { new } else { old };
    m.first_seen = old.first_seen;
    m.expires = old.expires.max(new.expires);
    m
}

fn to_entry(d: SlotData) -> FlyEntry {
    let (reason, proto, port, proven, prefix) = unpack_meta(d.meta);
    FlyEntry {
        addr: Addr(d.addr),
        prefix,
        reason,
        proto,
        port,
        proven,
        first_seen: Nanos(d.first_seen),
        expires: Nanos(d.expires),
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use std::sync::Arc;

    fn fly(a: Addr, now: u64, secs: u64) -> FlyEntry {
        FlyEntry {
            addr: a,
            prefix: 32,
            reason: Reason::Trap,
            proto: Some(Proto::Tcp),
            port: 139,
            proven: false,
            first_seen: Nanos::from_secs(now),
            expires: Nanos::from_secs(now + secs),
        }
    }

    fn v4(i: u32) -> Addr {
        Addr::from_v4(0xcb00_7100u32.wrapping_add(i))
    }

    #[test]
    fn insert_lookup_expire_remove() {
        let b = Blacklist::new(16, 1);
        let a: Addr = "69.0.231.79".parse().unwrap();
        assert!(!b.is_fly(a, Nanos::from_secs(1)));
        assert_eq!(
            b.insert(fly(a, 10, 86_400), Nanos::from_secs(10)),
            Insert::Added
        );
        assert!(b.is_fly(a, Nanos::from_secs(10)));
        assert!(b.is_fly(a, Nanos::from_secs(86_409)));
        assert!(
            !b.is_fly(a, Nanos::from_secs(86_410)),
            "expires after 86400 s"
        );
        assert_eq!(b.get(a, Nanos::from_secs(11)).unwrap().port, 139);
        assert_eq!(b.remove(a).map(|e| e.addr), Some(a));
        assert!(!b.is_fly(a, Nanos::from_secs(11)));
        assert_eq!(b.remove(a), None);
        assert_eq!(b.len(), 0);
    }

    #[test]
    fn lockout_line_matches_the_seed() {
        let e = FlyEntry {
            addr: "69.0.231.79".parse().unwrap(),
            prefix: 32,
            reason: Reason::NotAllowed,
            proto: Some(Proto::Tcp),
            port: 20000,
            proven: true,
            first_seen: Nanos::ZERO,
            expires: Nanos::from_secs(1),
        };
        assert_eq!(
            e.lockout_line(),
            "lockout 69.0.231.79, who tried TCP-port 20000"
        );
        let u = FlyEntry {
            proto: Some(Proto::Udp),
            port: 53,
            ..e
        };
        assert_eq!(
            u.lockout_line(),
            "lockout 69.0.231.79, who tried UDP-port 53"
        );
    }

    #[test]
    fn update_keeps_first_seen_of_a_live_fly() {
        let b = Blacklist::new(16, 2);
        let a = v4(1);
        b.insert(fly(a, 10, 100), Nanos::from_secs(10));
        assert_eq!(
            b.insert(fly(a, 50, 100), Nanos::from_secs(50)),
            Insert::Updated
        );
        let e = b.get(a, Nanos::from_secs(50)).unwrap();
        assert_eq!(e.first_seen, Nanos::from_secs(10));
        assert_eq!(e.expires, Nanos::from_secs(150));
        assert_eq!(b.len(), 1);
    }

    fn with_class(mut e: FlyEntry, c: Class) -> FlyEntry {
        match c {
            Class::Unproven => e.proven = false,
            Class::Proven => e.proven = true,
            Class::Operator => e.proto = None,
        }
        e
    }

    #[test]
    fn capacity_is_a_hard_bound_and_a_full_list_evicts_the_soonest_unproven() {
        let b = Blacklist::new(1000, 3);
        let now = Nanos::from_secs(1);
        // Fly i expires at 3600 + i: the lower i, the sooner.
        for i in 0..1000 {
            assert_eq!(
                b.insert(fly(v4(i), 1, 3600 + u64::from(i)), now),
                Insert::Added
            );
        }
        for i in 1000..5000 {
            match b.insert(fly(v4(i), 1, 3600 + u64::from(i)), now) {
                Insert::Evicted(old) => assert_eq!(old.addr, v4(i - 1000), "soonest first"),
                other => panic!("{other:?}"),
            }
            assert_eq!(b.len(), 1000);
        }
        assert!((4000..5000).all(|i| b.is_fly(v4(i), now)));
        assert!((0..4000).all(|i| !b.is_fly(v4(i), now)));
    }

    #[test]
    fn a_flood_of_unproven_flies_never_evicts_a_proven_fly_or_a_block() {
        let b = Blacklist::new(100, 10);
        let now = Nanos::from_secs(1);
        for i in 0..30 {
            b.insert(with_class(fly(v4(i), 1, 60), Class::Proven), now);
        }
        for i in 30..50 {
            b.insert(with_class(fly(v4(i), 1, 60), Class::Operator), now);
        }
        let mut evicted = 0;
        for i in 1000..301_000 {
            match b.insert(fly(v4(i), 1, 86_400), now) {
                Insert::Evicted(old) => {
                    assert_eq!(old.class(), Class::Unproven);
                    evicted += 1;
                }
                Insert::Added => {}
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(evicted, 300_000 - 50);
        assert!(
            (0..50).all(|i| b.is_fly(v4(i), now)),
            "proven and blocked flies stay"
        );
        // A scanner after the flood is caught.
        assert!(matches!(
            b.insert(fly(v4(7_000_000), 1, 86_400), now),
            Insert::Evicted(_)
        ));
        assert!(b.is_fly(v4(7_000_000), now));
        // Nothing unproven left to evict for another proven fly's room but
        // unproven ones: a proven fly evicts the soonest unproven.
        let p = with_class(fly(v4(8_000_000), 1, 10), Class::Proven);
        assert!(matches!(b.insert(p, now), Insert::Evicted(o) if o.class() == Class::Unproven));
    }

    #[test]
    fn unproven_flies_are_refused_when_only_higher_classes_are_listed() {
        let b = Blacklist::new(64, 11);
        let now = Nanos::from_secs(1);
        for i in 0..64 {
            b.insert(
                with_class(fly(v4(i), 1, 60 + u64::from(i)), Class::Proven),
                now,
            );
        }
        assert_eq!(b.insert(fly(v4(100), 1, 86_400), now), Insert::Full);
        // A proven fly evicts the proven fly that expires soonest; a block
        // evicts one too; a proven fly never evicts a block.
        let p = with_class(fly(v4(101), 1, 600), Class::Proven);
        assert!(matches!(b.insert(p, now), Insert::Evicted(o) if o.addr == v4(0)));
        for i in 200..264 {
            let o = with_class(fly(v4(i), 1, 600), Class::Operator);
            assert!(matches!(b.insert(o, now), Insert::Evicted(_)));
        }
        let p = with_class(fly(v4(300), 1, 600), Class::Proven);
        assert_eq!(b.insert(p, now), Insert::Full);
    }

    #[test]
    fn merges_keep_the_later_expiry_and_the_higher_class() {
        let b = Blacklist::new(16, 12);
        let a = v4(1);
        let now = Nanos::from_secs(10);
        b.insert(with_class(fly(a, 10, 1000), Class::Proven), now);
        // A shorter unproven hit changes nothing.
        assert_eq!(b.insert(fly(a, 20, 60), now), Insert::Updated);
        let e = b.get(a, now).unwrap();
        assert_eq!(
            (e.class(), e.expires),
            (Class::Proven, Nanos::from_secs(1010))
        );
        // A block of the same address raises the class and keeps the later end.
        let mut o = with_class(fly(a, 30, 5), Class::Operator);
        o.reason = Reason::Fly;
        b.insert(o, now);
        let e = b.get(a, now).unwrap();
        assert_eq!(
            (e.class(), e.expires),
            (Class::Operator, Nanos::from_secs(1010))
        );
        assert_eq!(e.first_seen, Nanos::from_secs(10));
        // The lookup learns the class from the tag it probes.
        assert_eq!(b.fly_class(a, now), Some(Class::Operator));
        assert_eq!(b.fly_class(v4(2), now), None);
        b.insert(fly(v4(2), 10, 100), now);
        assert_eq!(b.fly_class(v4(2), now), Some(Class::Unproven));
        b.insert(with_class(fly(v4(2), 10, 100), Class::Proven), now);
        assert_eq!(b.fly_class(v4(2), now), Some(Class::Proven));
        assert_eq!(b.fly_class(v4(2), Nanos::from_secs(111)), None, "expired");
    }

    #[test]
    fn ipv6_flies_are_keyed_by_their_64() {
        let b = Blacklist::new(16, 13);
        let now = Nanos::from_secs(1);
        let a: Addr = "2001:db8:1:2::99".parse().unwrap();
        let key = b.key(a);
        assert_eq!(key, "2001:db8:1:2::".parse().unwrap());
        b.insert(
            FlyEntry {
                addr: key,
                prefix: 64,
                ..fly(key, 1, 60)
            },
            now,
        );
        assert!(b.is_fly("2001:db8:1:2:ffff:1:2:3".parse().unwrap(), now));
        assert!(!b.is_fly("2001:db8:1:3::99".parse().unwrap(), now));
        let e = b.get(a, now).unwrap();
        assert_eq!(e.target(), "2001:db8:1:2::/64");
        assert!(e
            .lockout_line()
            .starts_with("lockout 2001:db8:1:2::/64, who tried TCP-port 139"));
        // IPv4 keeps one address per fly by default; /24 when asked.
        let p = FlyPrefix { v4: 24, v6: 48 };
        assert_eq!(
            p.key("192.0.2.200".parse().unwrap()),
            "192.0.2.0".parse().unwrap()
        );
        assert_eq!(
            FlyPrefix::default().key("192.0.2.200".parse().unwrap()),
            "192.0.2.200".parse().unwrap()
        );
        assert_eq!(
            p.key("2001:db8:1:ffff::1".parse().unwrap()),
            "2001:db8:1::".parse().unwrap()
        );
        assert_eq!(FlyPrefix { v4: 32, v6: 128 }.key(a), a);
        let ll: Addr = "fe80::1:2".parse().unwrap();
        assert_eq!(
            FlyPrefix::default().key(ll),
            ll,
            "link-local: the whole address"
        );
    }

    #[test]
    fn hits_count_the_frames_of_a_fly_from_when_it_became_one() {
        let b = Blacklist::new(16, 21);
        let now = Nanos::from_secs(1);
        let a = v4(3);
        b.insert(fly(a, 1, 60), now);
        let (key, h) = (b.key(a), b.hash_of(b.key(a)));
        for _ in 0..5 {
            assert_eq!(b.hit_class(key, h, now), Some(Class::Unproven));
        }
        assert_eq!(b.listed_class(key, h, now), Some(Class::Unproven), "no hit");
        assert_eq!(b.list_hits(now), vec![(b.get(a, now).unwrap(), 5)]);
        // A merge keeps them; a new fly in the freed slot starts at 0.
        b.insert(with_class(fly(a, 1, 90), Class::Proven), now);
        assert_eq!(b.list_hits(now)[0].1, 5);
        b.remove(a);
        b.insert(fly(a, 2, 60), now);
        assert_eq!(b.list_hits(now)[0].1, 0);
    }

    #[test]
    fn sweep_follows_the_expiry_order_through_updates() {
        let b = Blacklist::new(64, 14);
        let now = Nanos::from_secs(1);
        for i in 0..10 {
            b.insert(fly(v4(i), 1, 10), now);
        }
        // Five of them are extended: their old heap entries go stale.
        for i in 0..5 {
            b.insert(with_class(fly(v4(i), 1, 100), Class::Proven), now);
        }
        let mut freed = Vec::new();
        assert_eq!(b.sweep(Nanos::from_secs(11), |e| freed.push(e.addr)), 5);
        freed.sort();
        assert_eq!(freed, (5..10).map(v4).collect::<Vec<_>>());
        assert_eq!(b.sweep(Nanos::from_secs(101), |_| {}), 5);
        assert!(b.is_empty());
    }

    #[test]
    fn expired_flies_are_swept_and_their_room_reused() {
        let b = Blacklist::new(100, 4);
        for i in 0..100 {
            b.insert(fly(v4(i), 0, 10), Nanos::ZERO);
        }
        assert!(matches!(
            b.insert(fly(v4(500), 5, 10), Nanos::from_secs(5)),
            Insert::Evicted(_)
        ));
        let mut freed = Vec::new();
        assert_eq!(b.sweep(Nanos::from_secs(10), |e| freed.push(e.addr)), 99);
        assert_eq!(freed.len(), 99);
        assert_eq!(b.len(), 1, "the newcomer (until 15 s) stays");
        assert_eq!(
            b.insert(fly(v4(501), 11, 10), Nanos::from_secs(11)),
            Insert::Added
        );
        assert_eq!(b.list(Nanos::from_secs(11)).len(), 2);
    }

    #[test]
    fn churn_keeps_lookups_correct() {
        // Insert and remove many times; tombstones must never hide a fly.
        let b = Blacklist::new(256, 5);
        let now = Nanos::from_secs(1);
        for round in 0..50u32 {
            for i in 0..200 {
                b.insert(fly(v4(round * 1000 + i), 1, 3600), now);
            }
            for i in (0..200).step_by(2) {
                assert!(b.remove(v4(round * 1000 + i)).is_some());
            }
            for i in 0..200 {
                assert_eq!(
                    b.is_fly(v4(round * 1000 + i), now),
                    i % 2 == 1,
                    "round {round} i {i}"
                );
            }
            for i in (1..200).step_by(2) {
                b.remove(v4(round * 1000 + i));
            }
            assert_eq!(b.len(), 0);
        }
    }

    #[test]
    fn bitmap_sends_few_other_sources_to_the_table() {
        // A full blacklist: capacity flies, so eight bitmap bits per fly.
        let b = Blacklist::new(4096, 9);
        for i in 0..4096 {
            assert_eq!(b.insert(fly(v4(i), 0, 3600), Nanos::ZERO), Insert::Added);
        }
        assert!((0..4096).all(|i| b.maybe_fly_hashed(b.hash_of(v4(i)))));
        let others = 100_000;
        let passed = (1_000_000..1_000_000 + others)
            .filter(|i| b.maybe_fly_hashed(b.hash_of(v4(*i))))
            .count();
        // Three bits per fly in one word: about 3-4%; one bit would be 12%.
        let rate = passed as f64 / others as f64;
        assert!(rate < 0.06, "false positive rate {rate}");
    }

    #[test]
    fn sweep_rebuilds_the_bitmap_without_losing_flies() {
        let b = Blacklist::new(1024, 8);
        // 600 short lock-outs and 10 long ones.
        for i in 0..600 {
            b.insert(fly(v4(i), 0, 10), Nanos::ZERO);
        }
        for i in 1000..1010 {
            b.insert(fly(v4(i), 0, 3600), Nanos::ZERO);
        }
        let before = b.bits_set.load(Ordering::Relaxed);
        assert!(before >= 500, "{before}");
        assert_eq!(b.sweep(Nanos::from_secs(10), |_| {}), 600);
        assert!(
            b.bits_set.load(Ordering::Relaxed) <= 10 * BLOOM_BITS,
            "stale bits were dropped"
        );
        assert!((1000..1010).all(|i| b.is_fly(v4(i), Nanos::from_secs(10))));
        assert!((0..600).all(|i| !b.is_fly(v4(i), Nanos::from_secs(10))));
    }

    #[test]
    fn flush_frees_everything() {
        let b = Blacklist::new(64, 6);
        for i in 0..50 {
            b.insert(fly(v4(i), 0, 10), Nanos::ZERO);
        }
        assert_eq!(b.clear(), 50);
        assert!(b.list(Nanos::ZERO).is_empty());
        assert!((0..50).all(|i| !b.is_fly(v4(i), Nanos::ZERO)));
    }

    #[test]
    fn the_generation_moves_only_when_the_flies_change() {
        let b = Blacklist::new(64, 15);
        let now = Nanos::from_secs(1);
        let g = |b: &Blacklist| b.generation();
        let g0 = g(&b);
        b.insert(fly(v4(1), 1, 10), now);
        let g1 = g(&b);
        assert!(g1 > g0, "a new fly");
        // The same hit again, and a shorter one: nothing changes.
        assert_eq!(b.insert(fly(v4(1), 1, 10), now), Insert::Updated);
        assert_eq!(b.insert(fly(v4(1), 1, 5), now), Insert::Updated);
        assert_eq!(g(&b), g1);
        // A longer lock-out, a raised class: changes.
        b.insert(fly(v4(1), 1, 20), now);
        let g2 = g(&b);
        assert!(g2 > g1);
        b.insert(with_class(fly(v4(1), 1, 20), Class::Proven), now);
        let g3 = g(&b);
        assert!(g3 > g2);
        // Removing nothing, sweeping nothing, clearing nothing: no change.
        assert_eq!(b.remove(v4(2)), None);
        assert_eq!(b.sweep(now, |_| {}), 0);
        assert_eq!(g(&b), g3);
        b.insert(fly(v4(2), 1, 10), now);
        let g4 = g(&b);
        assert!(b.remove(v4(2)).is_some());
        let g5 = g(&b);
        assert!(g5 > g4);
        assert_eq!(b.sweep(Nanos::from_secs(100), |_| {}), 1);
        let g6 = g(&b);
        assert!(g6 > g5);
        assert_eq!(b.clear(), 0);
        assert_eq!(g(&b), g6);
        b.insert(fly(v4(3), 1, 10), now);
        let g7 = g(&b);
        assert_eq!(b.clear(), 1);
        assert!(g(&b) > g7);
    }

    #[test]
    fn insert_many_is_insert_for_each() {
        let now = Nanos::from_secs(1);
        let entries: Vec<FlyEntry> = (0..300)
            .map(|i| {
                let c = [Class::Unproven, Class::Proven, Class::Operator][i as usize % 3];
                with_class(fly(v4(i), 1, 100 + u64::from(i)), c)
            })
            .collect();
        // 256 room for 300: the same evictions as one insert at a time.
        let (one, many) = (Blacklist::new(256, 16), Blacklist::new(256, 16));
        let singly: Vec<Insert> = entries.iter().map(|e| one.insert(*e, now)).collect();
        let mut bulk = Vec::new();
        many.insert_many(&entries, now, |e, r| bulk.push((e.addr, r)));
        assert_eq!(bulk.len(), entries.len());
        assert!(bulk.iter().zip(&entries).all(|((a, _), e)| *a == e.addr));
        assert_eq!(bulk.iter().map(|(_, r)| *r).collect::<Vec<_>>(), singly);
        let sorted = |b: &Blacklist| {
            let mut l = b.list(now);
            l.sort_by_key(|e| e.addr);
            l
        };
        assert_eq!(sorted(&one), sorted(&many));
        assert_eq!(many.len(), 256);
        assert!(many.generation() > 0);
    }

    #[test]
    fn readers_on_other_threads_see_consistent_entries() {
        // Writers churn a set of flies while readers check that a permanently
        // listed fly is always seen and a never-listed address never is.
        let b = Arc::new(Blacklist::new(4096, 7));
        let now = Nanos::from_secs(1);
        let keep = v4(0xffff);
        b.insert(fly(keep, 1, 3600), now);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reads: Arc<[AtomicU64; 2]> = Arc::new(Default::default());
        let readers: Vec<_> = (0..2)
            .map(|r| {
                let b = Arc::clone(&b);
                let stop = Arc::clone(&stop);
                let reads = Arc::clone(&reads);
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        assert!(b.is_fly(keep, now));
                        assert!(!b.is_fly(v4(0x7fff_0000), now));
                        reads[r].fetch_add(1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        // At least 200 rounds of churn, and until both readers have read
        // during it (a reader thread may start late on a busy machine).
        let mut round = 0u32;
        while round < 200 || reads.iter().any(|n| n.load(Ordering::Relaxed) < 1000) {
            for i in 0..100 {
                b.insert(fly(v4(round % 200 * 100 + i), 1, 3600), now);
            }
            for i in 0..100 {
                b.remove(v4(round % 200 * 100 + i));
            }
            round += 1;
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            r.join().expect("a reader saw an inconsistent blacklist");
        }
    }
}

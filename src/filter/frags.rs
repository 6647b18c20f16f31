//! IP fragments: a bounded table of first-fragment verdicts.
//!
//! Only a datagram's first fragment (offset 0) carries the transport header,
//! so only it can be judged by the rules. The filter records its verdict
//! here, keyed by the datagram (source, destination, IP id, protocol,
//! family); later fragments look the datagram up and follow that verdict.
//! This table does not reassemble anything and holds no frames.
//!
//! # Rules for a later fragment (`FragTable::later`)
//!
//! In this order:
//!
//! 1. `TooBig`: `offset + len` above 65535, the most a reassembled datagram
//!    can hold (the "ping of death": offset 65528 and 16 bytes). Checked on
//!    the fragment payload, so an IPv4 datagram whose header makes it a few
//!    bytes too long still passes this check; the receiver discards that.
//! 2. `OffsetOne`: an IPv4 TCP fragment at offset 8 bytes (one unit), which
//!    can only exist to rewrite the TCP ports or flags of the first
//!    fragment. RFC 1858 section 3.2 and RFC 3128 drop it whether or not the
//!    first fragment was seen. (IPv6 has no such rule of its own; there an
//!    offset of 8 under a TCP header is an `Overlap`.)
//! 3. `Orphan`: no live entry for the datagram. **Orphans are dropped at
//!    once**, never held until their first fragment turns up: a bridge
//!    rarely sees fragments reordered (the sender emits the first one
//!    first), and holding frames would cost UMEM frames an attacker could
//!    exhaust. A datagram whose first fragment was evicted, refused or
//!    expired loses its later fragments: the table fails closed.
//! 4. `Overlap`: an offset below the end of the transport header the first
//!    fragment carried (RFC 1858, RFC 3128: a fragment that overwrites the
//!    TCP header after the filter judged it). An offset of 0 in a later
//!    fragment is an overlap whatever the protocol.
//! 5. Otherwise the remembered verdict: `Ok(Pass)` or `Ok(Drop)`.
//!
//! A fragment that fails 1, 2 or 4 also turns its datagram's entry (if
//! live) into `Drop`: the rest of a datagram that carried an attack
//! fragment is dropped too. (A spoofer who knows a datagram's key gains
//! nothing by this: it could as well send the receiver an overlapping
//! fragment, which makes Linux discard the whole datagram.)
//!
//! # First fragments (`FragTable::first`)
//!
//! `hdr_end` is where the transport header ends, in bytes from the start
//! of the fragmented payload: for IPv4 the transport header's length (TCP
//! data offset * 4, UDP 8, ICMP 8, 0 for a protocol the filter does not
//! parse); for IPv6 also the extension headers that follow the Fragment
//! header, since IPv6 offsets count from there. The caller has already
//! dropped a first fragment too short to hold the whole header (RFC 1858's
//! tiny fragment, RFC 7112).
//!
//! A `Drop` is sticky while the entry lives: another first fragment of the
//! same datagram (a retransmission, or an overlapping first fragment with
//! other ports or flags) cannot turn it into `Pass`. `first` returns the
//! verdict in force so that the caller drops such a fragment as well. A
//! second `Pass` keeps the larger header end. The cost: a sender that
//! reuses an IPv4 id within the timeout, after a datagram with that id was
//! dropped, has the new datagram dropped too.
//!
//! # Expiry
//!
//! An entry lives `timeout` from its (latest) first fragment (RFC 791 and
//! RFC 8200 reassembly timers are 15 to 60 s; 30 s by default). Later
//! fragments do not extend it: a datagram's state is bounded in time by
//! its first fragment, like a receiver's reassembly timer, and a stale
//! entry is less likely to meet a new datagram that reuses its 16-bit IPv4
//! id (RFC 4963).
//!
//! # Memory and eviction
//!
//! The table is allocated once for a fixed number of entries and never
//! grows. A datagram's key hashes, with the worker's secret seed, to one
//! set of `WAYS` entries, so a sender cannot aim its datagrams at a
//! victim's set. A new datagram takes, in this order: a free entry of its
//! set, an expired one, the live `Drop` entry that expires first (the
//! oldest), and only then the live `Pass` entry that expires first,
//! counting an eviction. Forgetting a `Drop` entry changes no verdict (its
//! later fragments become orphans and are dropped anyway, only under
//! another reason); forgetting a `Pass` entry loses a legitimate datagram.
//! For the same reason a `Drop` first fragment never evicts a `Pass`
//! entry: when its set holds only live `Pass` entries it is not stored
//! (`refused`). So a flood of first fragments the filter drops cannot
//! evict any datagram that passed; a flood of ones it passes (from random
//! spoofed sources) can, and the later fragments of an evicted datagram
//! are then dropped as orphans: fail closed.

use crate::addr::Addr;
use crate::filter::hash::SeededHash;
use crate::filter::table::{scaled_set, sets_for};
use crate::filter::Nanos;
use crate::sys::mem::huge_slice;

/// Entries per set.
pub const WAYS: usize = 4;

/// A default lifetime for an entry, within RFC 791/8200's 15-60 s.
pub const DEFAULT_TIMEOUT: Nanos = Nanos::from_secs(30);

/// The largest `offset + len` of a fragment: a datagram's 16-bit length.
pub const MAX_DATAGRAM: u32 = 65_535;

/// Key of one datagram: (source, destination, IP id, protocol, family).
/// IPv4 ids are 16 bits, IPv6 fragment ids 32 bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FragKey {
    pub src: Addr,
    pub dst: Addr,
    pub id: u32,
    /// The protocol: IPv4's protocol field, or the IPv6 Fragment header's
    /// next header.
    pub proto: u8,
    /// An IPv6 datagram, even with IPv4-mapped addresses: the families'
    /// ids are separate spaces.
    pub v6: bool,
}

/// What a fragment is, as the parser reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FragInfo {
    /// Offset of this fragment's payload in the datagram, in bytes.
    pub offset: u32,
    /// Payload bytes of this fragment.
    pub len: u32,
    /// More fragments follow (the MF / M flag).
    pub more: bool,
}

/// The verdict class remembered for a datagram.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Remembered {
    Pass,
    #[default]
    Drop,
}

/// What the fragment checks found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FragCheck {
    /// Nothing wrong (only `FragTable::check` returns this).
    Ok,
    /// `offset + len` above 65535.
    TooBig,
    /// An IPv4 TCP fragment at offset 8 (RFC 1858 tiny-fragment overlap).
    OffsetOne,
    /// A later fragment overlapping the first fragment's transport header.
    Overlap,
    /// No live first fragment for the datagram.
    Orphan,
}

/// A tag of 0 marks a free way; a used way's tag is the low half of its
/// key's hash with bit 0 set.
const FREE: u32 = 0;

#[inline(always)]
fn tag_of(hash: u64) -> u32 {
    hash as u32 | 1
}

/// The head of a set, one cache line: everything a lookup needs before it
/// compares keys, and everything an insertion needs to pick its way.
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Head {
    tags: [u32; WAYS],
    /// The way's expiry in ns (live while above `now`).
    expires: [u64; WAYS],
    /// End of the first fragment's transport header, in payload bytes.
    hdr_end: [u16; WAYS],
    verdict: [Remembered; WAYS],
}

/// A key in a line of its own: a hit reads the head and one key.
#[derive(Clone, Copy, Default)]
#[repr(align(64))]
struct KeySlot(FragKey);

/// The fragment table of one worker. See the module doc.
pub struct FragTable {
    heads: Box<[Head]>,
    keys: Box<[KeySlot]>,
    hash: SeededHash,
    timeout: Nanos,
    len: usize,
    evictions: u64,
    refused: u64,
}

impl FragTable {
    /// A table of `capacity` entries (rounded up to a whole set of
    /// `WAYS`), each living `timeout`, keyed with `seed`. All memory is
    /// allocated here.
    pub fn new(capacity: usize, seed: u64, timeout: Nanos) -> FragTable {
        let sets = sets_for(capacity, WAYS);
        FragTable {
            heads: huge_slice(sets, Head::default()),
            keys: huge_slice(sets * WAYS, KeySlot::default()),
            hash: SeededHash::new(seed),
            timeout,
            len: 0,
            evictions: 0,
            refused: 0,
        }
    }

    /// Entries the table can hold.
    pub fn capacity(&self) -> usize {
        self.keys.len()
    }

    /// Entries in use (including expired ones not yet reclaimed).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Live entries evicted to make room for new datagrams.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    /// `Drop` first fragments not stored because their set held only live
    /// `Pass` entries.
    pub fn refused(&self) -> u64 {
        self.refused
    }

    /// The keyed hash of a datagram: its set (high half) and tag (low).
    #[inline]
    fn hash_of(&self, k: &FragKey) -> u64 {
        let a = self.hash.hash128(k.src.0);
        let b = self.hash.hash128(k.dst.0);
        let rest = u64::from(k.id) << 16 | u64::from(k.proto) << 8 | u64::from(k.v6);
        self.hash
            .hash128(u128::from(a) << 64 | u128::from(b ^ rest))
    }

    /// The set and way holding `key`, live or not.
    #[inline]
    fn find(&self, key: &FragKey) -> (usize, u32, Option<usize>) {
        let h = self.hash_of(key);
        let set = scaled_set(h, self.heads.len());
        let tag = tag_of(h);
        let head = &self.heads[set];
        let way = (0..WAYS).find(|&w| head.tags[w] == tag && self.keys[set * WAYS + w].0 == *key);
        (set, tag, way)
    }

    /// The set and way of `key`'s live entry.
    #[inline]
    fn live(&self, now: Nanos, key: &FragKey) -> Option<(usize, usize)> {
        let (set, _, way) = self.find(key);
        let w = way?;
        (self.heads[set].expires[w] > now.0).then_some((set, w))
    }

    /// Stateless checks for any fragment: `TooBig`, then `OffsetOne`.
    pub fn check(key: &FragKey, info: &FragInfo) -> FragCheck {
        if u64::from(info.offset) + u64::from(info.len) > u64::from(MAX_DATAGRAM) {
            FragCheck::TooBig
        } else if !key.v6 && key.proto == 6 && info.offset == 8 {
            FragCheck::OffsetOne
        } else {
            FragCheck::Ok
        }
    }

    /// Remember the verdict of a datagram's first fragment, whose transport
    /// header ends `hdr_end` bytes into the payload (see the module doc).
    /// Returns the verdict now in force: `Drop` if the datagram was already
    /// dropped (sticky), else `verdict`. Never fails: it reuses or evicts
    /// an entry, or (a `Drop` facing only live `Pass` entries) stores
    /// nothing.
    pub fn first(
        &mut self,
        now: Nanos,
        key: &FragKey,
        verdict: Remembered,
        hdr_end: u16,
    ) -> Remembered {
        let expires = (now + self.timeout).0;
        let (set, tag, way) = self.find(key);
        let head = &mut self.heads[set];
        if let Some(w) = way {
            if head.expires[w] > now.0 {
                if head.verdict[w] == Remembered::Drop {
                    head.expires[w] = expires;
                    return Remembered::Drop;
                }
                head.hdr_end[w] = head.hdr_end[w].max(hdr_end);
            } else {
                head.hdr_end[w] = hdr_end;
            }
            head.verdict[w] = verdict;
            head.expires[w] = expires;
            return verdict;
        }
        let Some(w) = self.claim(set, now, verdict) else {
            self.refused += 1;
            return verdict;
        };
        let head = &mut self.heads[set];
        head.tags[w] = tag;
        head.expires[w] = expires;
        head.hdr_end[w] = hdr_end;
        head.verdict[w] = verdict;
        self.keys[set * WAYS + w] = KeySlot(*key);
        verdict
    }

    /// The way of `set` a new entry with `verdict` takes: free, expired,
    /// oldest `Drop`, oldest `Pass` (an eviction); `None` if a `Drop` would
    /// have to evict a `Pass`.
    fn claim(&mut self, set: usize, now: Nanos, verdict: Remembered) -> Option<usize> {
        let head = &self.heads[set];
        let mut victim = 0;
        let mut victim_rank = u64::MAX;
        for w in 0..WAYS {
            if head.tags[w] == FREE {
                self.len += 1;
                return Some(w);
            }
            if head.expires[w] <= now.0 {
                return Some(w);
            }
            let rank = match head.verdict[w] {
                Remembered::Drop => head.expires[w] >> 1,
                Remembered::Pass => 1 << 63 | head.expires[w] >> 1,
            };
            if rank < victim_rank {
                victim = w;
                victim_rank = rank;
            }
        }
        if verdict == Remembered::Drop && head.verdict[victim] == Remembered::Pass {
            return None;
        }
        self.evictions += 1;
        Some(victim)
    }

    /// Judge a later fragment (offset above 0): the remembered verdict, or
    /// the check it failed (never `FragCheck::Ok`). A failed check other
    /// than `Orphan` turns the datagram's entry into `Drop`. The entry's
    /// expiry is not extended.
    pub fn later(
        &mut self,
        now: Nanos,
        key: &FragKey,
        info: &FragInfo,
    ) -> Result<Remembered, FragCheck> {
        let stateless = FragTable::check(key, info);
        let found = self.live(now, key);
        if stateless != FragCheck::Ok {
            if let Some((set, w)) = found {
                self.heads[set].verdict[w] = Remembered::Drop;
            }
            return Err(stateless);
        }
        let (set, w) = found.ok_or(FragCheck::Orphan)?;
        let head = &mut self.heads[set];
        if info.offset < u32::from(head.hdr_end[w]).max(1) {
            head.verdict[w] = Remembered::Drop;
            return Err(FragCheck::Overlap);
        }
        Ok(head.verdict[w])
    }

    /// Free every expired entry (housekeeping: lookups ignore them and
    /// insertions reuse them anyway).
    pub fn expire(&mut self, now: Nanos) {
        for head in self.heads.iter_mut() {
            for w in 0..WAYS {
                if head.tags[w] != FREE && head.expires[w] <= now.0 {
                    head.tags[w] = FREE;
                    self.len -= 1;
                }
            }
        }
    }
}


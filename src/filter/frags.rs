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

    /// Entries remembered from now on live `timeout` (a reloaded policy).
    pub fn set_timeout(&mut self, timeout: Nanos) {
        self.timeout = timeout;
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

#[cfg(test)]
mod test {
    use super::*;
    use Remembered::{Drop, Pass};

    const TCP: u8 = 6;
    const UDP: u8 = 17;
    const TIMEOUT: Nanos = DEFAULT_TIMEOUT;

    fn v4(proto: u8, id: u32) -> FragKey {
        FragKey {
            src: "198.51.100.20".parse().unwrap(),
            dst: "203.0.113.10".parse().unwrap(),
            id,
            proto,
            v6: false,
        }
    }

    fn v6(proto: u8, id: u32) -> FragKey {
        FragKey {
            src: "2001:db8::20".parse().unwrap(),
            dst: "2001:db8:1::10".parse().unwrap(),
            id,
            proto,
            v6: true,
        }
    }

    fn frag(offset: u32, len: u32, more: bool) -> FragInfo {
        FragInfo { offset, len, more }
    }

    fn table(capacity: usize) -> FragTable {
        FragTable::new(capacity, 0x5eed, TIMEOUT)
    }

    #[test]
    fn a_set_head_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<Head>(), 64);
        assert_eq!(std::mem::size_of::<KeySlot>(), 64);
    }

    #[test]
    fn later_fragments_follow_a_pass() {
        let mut t = table(64);
        let now = Nanos::from_secs(10);
        let k = v4(TCP, 0x1234);
        assert_eq!(t.first(now, &k, Pass, 20), Pass);
        assert_eq!(t.len(), 1);
        let at = now + Nanos::from_millis(1);
        assert_eq!(t.later(at, &k, &frag(1480, 1480, true)), Ok(Pass));
        assert_eq!(t.later(at, &k, &frag(2960, 100, false)), Ok(Pass));
    }

    #[test]
    fn later_fragments_follow_a_drop() {
        let mut t = table(64);
        let now = Nanos::from_secs(10);
        let k = v4(UDP, 7);
        assert_eq!(t.first(now, &k, Drop, 8), Drop);
        assert_eq!(t.later(now, &k, &frag(1480, 1480, true)), Ok(Drop));
        assert_eq!(t.later(now, &k, &frag(2960, 8, false)), Ok(Drop));
    }

    #[test]
    fn a_drop_is_sticky_and_a_second_pass_keeps_the_larger_header() {
        let mut t = table(64);
        let now = Nanos::from_secs(10);
        let k = v4(TCP, 9);
        t.first(now, &k, Drop, 20);
        // Another first fragment of the dropped datagram cannot pass it.
        assert_eq!(t.first(now, &k, Pass, 20), Drop);
        assert_eq!(t.later(now, &k, &frag(24, 8, false)), Ok(Drop));
        // Once the entry has expired, the key is a new datagram.
        let after = now + TIMEOUT;
        assert_eq!(t.first(after, &k, Pass, 20), Pass);
        assert_eq!(t.later(after, &k, &frag(24, 8, false)), Ok(Pass));
        // A second Pass with a longer header widens the protected bytes.
        assert_eq!(t.first(after, &k, Pass, 40), Pass);
        assert_eq!(t.first(after, &k, Pass, 20), Pass);
        assert_eq!(
            t.later(after, &k, &frag(32, 8, false)),
            Err(FragCheck::Overlap)
        );
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn an_orphan_is_dropped() {
        let mut t = table(64);
        let now = Nanos::from_secs(10);
        let k = v4(UDP, 1);
        assert_eq!(
            t.later(now, &k, &frag(1480, 100, false)),
            Err(FragCheck::Orphan)
        );
        // Its first fragment arriving afterwards does not adopt it: only
        // fragments after it follow.
        t.first(now, &k, Pass, 8);
        assert_eq!(t.later(now, &k, &frag(1480, 100, false)), Ok(Pass));
        let other = v4(UDP, 2);
        assert_eq!(
            t.later(now, &other, &frag(1480, 100, false)),
            Err(FragCheck::Orphan)
        );
    }

    #[test]
    fn a_fragment_over_the_tcp_header_is_an_overlap_and_drops_the_rest() {
        let mut t = table(64);
        let now = Nanos::from_secs(10);
        let k = v4(TCP, 3);
        t.first(now, &k, Pass, 20);
        // Offset 16 rewrites bytes 16-19 of the 20-byte header.
        assert_eq!(
            t.later(now, &k, &frag(16, 64, true)),
            Err(FragCheck::Overlap)
        );
        // The rest of the datagram now follows a Drop.
        assert_eq!(t.later(now, &k, &frag(80, 64, false)), Ok(Drop));

        // With options the header is 60 bytes: offset 56 overlaps, 64 not.
        let k2 = v4(TCP, 4);
        t.first(now, &k2, Pass, 60);
        assert_eq!(t.later(now, &k2, &frag(64, 8, true)), Ok(Pass));
        assert_eq!(
            t.later(now, &k2, &frag(56, 8, true)),
            Err(FragCheck::Overlap)
        );

        // IPv6 has no offset-one rule: offset 8 under TCP is an overlap.
        let k6 = v6(TCP, 5);
        t.first(now, &k6, Pass, 20);
        assert_eq!(
            t.later(now, &k6, &frag(8, 64, true)),
            Err(FragCheck::Overlap)
        );

        // A protocol the filter does not parse (header end 0): any offset
        // above 0 follows, offset 0 again is an overlap.
        let gre = v4(47, 6);
        t.first(now, &gre, Pass, 0);
        assert_eq!(t.later(now, &gre, &frag(8, 64, true)), Ok(Pass));
        assert_eq!(
            t.later(now, &gre, &frag(0, 64, true)),
            Err(FragCheck::Overlap)
        );
    }

    #[test]
    fn ipv4_tcp_at_offset_one_unit_is_refused_before_the_overlap_check() {
        let mut t = table(64);
        let now = Nanos::from_secs(10);
        let k = v4(TCP, 8);
        // Stateless: even with no first fragment (not an orphan).
        assert_eq!(
            FragTable::check(&k, &frag(8, 32, false)),
            FragCheck::OffsetOne
        );
        assert_eq!(
            t.later(now, &k, &frag(8, 32, false)),
            Err(FragCheck::OffsetOne)
        );
        // With the first fragment seen: OffsetOne, not Overlap, and the
        // datagram is dropped from then on.
        t.first(now, &k, Pass, 20);
        assert_eq!(
            t.later(now, &k, &frag(8, 32, true)),
            Err(FragCheck::OffsetOne)
        );
        assert_eq!(t.later(now, &k, &frag(40, 32, false)), Ok(Drop));
        // Not TCP, or not IPv4, or another offset: not the rule.
        assert_eq!(
            FragTable::check(&v4(UDP, 8), &frag(8, 32, false)),
            FragCheck::Ok
        );
        assert_eq!(
            FragTable::check(&v6(TCP, 8), &frag(8, 32, false)),
            FragCheck::Ok
        );
        assert_eq!(FragTable::check(&k, &frag(16, 32, false)), FragCheck::Ok);
        let u = v4(UDP, 9);
        t.first(now, &u, Pass, 8);
        assert_eq!(t.later(now, &u, &frag(8, 32, false)), Ok(Pass));
    }

    #[test]
    fn a_datagram_past_65535_bytes_is_too_big() {
        let mut t = table(64);
        let now = Nanos::from_secs(10);
        let k = v4(17, 11);
        t.first(now, &k, Pass, 8);
        assert_eq!(
            FragTable::check(&k, &frag(65528, 16, false)),
            FragCheck::TooBig
        );
        assert_eq!(
            t.later(now, &k, &frag(65528, 16, false)),
            Err(FragCheck::TooBig)
        );
        // The datagram is dropped from then on.
        assert_eq!(t.later(now, &k, &frag(1480, 8, true)), Ok(Drop));
        // One byte past the limit is too big, up to it is fine; no
        // overflow near u32::MAX.
        assert_eq!(
            FragTable::check(&k, &frag(65528, 8, false)),
            FragCheck::TooBig
        );
        assert_eq!(FragTable::check(&k, &frag(65528, 7, false)), FragCheck::Ok);
        assert_eq!(
            FragTable::check(&k, &frag(u32::MAX - 7, 16, false)),
            FragCheck::TooBig
        );
        // Checked before anything else: a too-big orphan is TooBig.
        assert_eq!(
            t.later(now, &v4(17, 12), &frag(65528, 16, false)),
            Err(FragCheck::TooBig)
        );
    }

    #[test]
    fn entries_expire_after_the_timeout_from_the_first_fragment() {
        let mut t = table(64);
        let now = Nanos::from_secs(100);
        let k = v4(UDP, 21);
        let k2 = v4(UDP, 22);
        t.first(now, &k, Pass, 8);
        t.first(now + Nanos::from_secs(10), &k2, Pass, 8);
        // Later fragments do not extend the lifetime.
        let last = Nanos((now + TIMEOUT).0 - 1);
        assert_eq!(t.later(last, &k, &frag(8, 8, true)), Ok(Pass));
        assert_eq!(
            t.later(now + TIMEOUT, &k, &frag(16, 8, false)),
            Err(FragCheck::Orphan)
        );
        assert_eq!(t.len(), 2, "expired but not yet reclaimed");
        t.expire(now + TIMEOUT);
        assert_eq!(t.len(), 1);
        assert_eq!(t.later(now + TIMEOUT, &k2, &frag(8, 8, true)), Ok(Pass));
        t.expire(now + TIMEOUT + Nanos::from_secs(10));
        assert!(t.is_empty());
    }

    /// xorshift64*: random keys without a dependency.
    fn rng(state: &mut u64) -> u64 {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    #[test]
    fn a_flood_of_first_fragments_never_grows_the_table() {
        let mut t = table(1000);
        let cap = t.capacity();
        assert!((1000..1000 + WAYS).contains(&cap));
        let victim = v4(TCP, 77);
        let start = Nanos::from_secs(1);
        t.first(start, &victim, Pass, 20);
        let mut s = 0x1234_5678_9abc_def0;
        let n = 10 * cap as u64;
        for i in 0..n {
            let now = start + Nanos(i * 1_000);
            let r = rng(&mut s);
            let key = FragKey {
                src: Addr::from_v4(r as u32),
                dst: Addr::from_v4((r >> 32) as u32),
                id: (rng(&mut s) & 0xffff) as u32,
                proto: UDP,
                v6: false,
            };
            assert_eq!(t.first(now, &key, Pass, 8), Pass);
            assert!(t.len() <= cap);
        }
        assert_eq!(t.len(), cap);
        // Each insertion (no key repeats; none expires within the flood's
        // 0.1 s) took a free way or evicted a live entry...
        assert_eq!(t.evictions(), n + 1 - cap as u64);
        // ...among them the victim, the oldest in its set once that set
        // had filled: its later fragments are now orphans.
        let end = start + Nanos(n * 1_000);
        assert_eq!(
            t.later(end, &victim, &frag(24, 8, false)),
            Err(FragCheck::Orphan)
        );
    }

    #[test]
    fn eviction_takes_expired_then_oldest_drop_then_oldest_pass() {
        let mut t = table(WAYS); // one set
        assert_eq!(t.capacity(), WAYS);
        let now = Nanos::from_secs(100);
        let at = |s: u64| now + Nanos::from_secs(s);
        let k = |id: u32| v4(UDP, id);
        t.first(at(0), &k(0), Pass, 8);
        t.first(at(1), &k(1), Drop, 8);
        t.first(at(2), &k(2), Pass, 8);
        t.first(at(3), &k(3), Drop, 8);
        assert_eq!((t.len(), t.evictions()), (4, 0));
        let alive = |t: &mut FragTable, when: Nanos, id: u32| {
            t.later(when, &k(id), &frag(8, 8, true)).is_ok()
        };

        // At 0 + 30 s, k(0) has expired: reused, no eviction, though it
        // is a Pass and there are Drops.
        t.first(at(30), &k(4), Pass, 8);
        assert_eq!((t.len(), t.evictions()), (4, 0));
        assert!(!alive(&mut t, at(30), 0));
        assert!([1, 2, 3, 4].iter().all(|&id| alive(&mut t, at(30), id)));

        // Full of live entries: the oldest Drop (k(1)) goes, not the
        // older Pass (k(2)).
        t.first(at(30), &k(5), Pass, 8);
        assert_eq!(t.evictions(), 1);
        assert!(!alive(&mut t, at(30), 1));
        assert!([2, 3, 4, 5].iter().all(|&id| alive(&mut t, at(30), id)));
        // Then the other Drop (k(3)).
        t.first(at(31), &k(6), Pass, 8);
        assert_eq!(t.evictions(), 2);
        assert!(!alive(&mut t, at(31), 3));

        // Only Passes left: a Drop is refused, evicting nothing.
        assert_eq!(t.first(at(31), &k(7), Drop, 8), Drop);
        assert_eq!((t.evictions(), t.refused()), (2, 1));
        assert_eq!(
            t.later(at(31), &k(7), &frag(8, 8, true)),
            Err(FragCheck::Orphan)
        );
        assert!([2, 4, 5, 6].iter().all(|&id| alive(&mut t, at(31), id)));
        // A Pass evicts the oldest Pass (k(2)).
        t.first(at(31), &k(8), Pass, 8);
        assert_eq!(t.evictions(), 3);
        assert!(!alive(&mut t, at(31), 2));
        assert!([4, 5, 6, 8].iter().all(|&id| alive(&mut t, at(31), id)));
        assert_eq!(t.len(), 4);
    }

    #[test]
    fn keys_differing_in_one_field_are_different_datagrams() {
        let base = v4(TCP, 0x0102);
        let mut variants = vec![
            FragKey {
                src: "198.51.100.21".parse().unwrap(),
                ..base
            },
            FragKey {
                dst: "203.0.113.11".parse().unwrap(),
                ..base
            },
            FragKey { id: 0x0103, ..base },
            FragKey { proto: UDP, ..base },
            FragKey { v6: true, ..base },
        ];
        // Source and destination swapped.
        variants.push(FragKey {
            src: base.dst,
            dst: base.src,
            ..base
        });
        let mut t = table(64);
        let now = Nanos::from_secs(10);
        t.first(now, &base, Pass, 20);
        let hash = t.hash_of(&base);
        for v in &variants {
            assert_ne!(t.hash_of(v), hash, "{v:?}");
            assert_eq!(
                t.later(now, v, &frag(24, 8, false)),
                Err(FragCheck::Orphan),
                "{v:?}"
            );
            assert_eq!(t.first(now, v, Drop, 20), Drop);
        }
        assert_eq!(t.len(), 1 + variants.len());
        assert_eq!(t.later(now, &base, &frag(24, 8, false)), Ok(Pass));
        for v in &variants {
            assert_eq!(t.later(now, v, &frag(24, 8, false)), Ok(Drop), "{v:?}");
        }
    }

    #[test]
    fn ipv6_ids_use_all_32_bits() {
        let mut t = table(64);
        let now = Nanos::from_secs(10);
        let k = v6(UDP, 0x1234_5678);
        t.first(now, &k, Pass, 8);
        // Same low 16 bits, other high bits: other datagrams.
        for id in [0x0000_5678, 0x1235_5678, 0x9234_5678] {
            assert_eq!(
                t.later(now, &v6(UDP, id), &frag(1232, 8, false)),
                Err(FragCheck::Orphan),
                "{id:#x}"
            );
        }
        assert_eq!(t.later(now, &k, &frag(1232, 8, false)), Ok(Pass));
        let top = v6(UDP, u32::MAX);
        t.first(now, &top, Drop, 8);
        assert_eq!(t.later(now, &top, &frag(1232, 8, false)), Ok(Drop));
        assert_eq!(t.later(now, &k, &frag(2464, 8, false)), Ok(Pass));
    }

    #[test]
    fn the_seed_changes_where_datagrams_land() {
        let a = FragTable::new(1 << 12, 1, TIMEOUT);
        let b = FragTable::new(1 << 12, 2, TIMEOUT);
        let sets = a.heads.len();
        let same = (0..1000u32)
            .filter(|&id| {
                let k = v4(UDP, id);
                scaled_set(a.hash_of(&k), sets) == scaled_set(b.hash_of(&k), sets)
            })
            .count();
        // 1000 keys over 1024 sets: about one lands alike by chance.
        assert!(same < 10, "{same}");
    }
}

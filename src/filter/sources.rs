//! Per-source rate-limit state: a bounded table of token buckets.
//!
//! A source's entry holds its SYN, ICMP and RST buckets. Eviction under
//! pressure (a flood of spoofed sources) reuses an idle entry first (every
//! bucket full again: forgetting it changes nothing), else evicts the entry
//! that will be full soonest, which loses the least: a source that sent one
//! packet a moment ago goes before one that is spending its burst.
//! Evicting a source makes its limits *more* permissive (a fresh bucket is
//! full), never less, so a spoofed flood cannot lock anyone out.
//!
//! IPv4 sources live four to a 128-byte set (two adjacent cache lines,
//! loaded together): a lookup or an insertion reads that set and nothing
//! else. IPv6 sources use the tagged `BoundedTable`.

use crate::addr::Addr;
use crate::filter::bucket::{Bucket, SynState};
use crate::filter::table::{claim, scaled_set, sets_for, BoundedTable, Found};
use crate::filter::Nanos;
use crate::sys::mem::huge_slice;

/// Rate-limit state of one source.
#[derive(Clone, Copy, Debug, Default)]
pub struct Source {
    pub syn: SynState,
    pub icmp: Bucket,
    pub rst: Bucket,
}

impl Source {
    /// When every bucket is full again.
    #[inline(always)]
    fn full_at(&self, now: Nanos) -> u64 {
        self.syn
            .full_at(now)
            .0
            .max(self.icmp.full_at().0)
            .max(self.rst.full_at().0)
    }
}

/// Eviction rank (lowest goes first); `None`: idle, reuse freely.
#[inline(always)]
fn rank(s: &Source, now: Nanos) -> Option<u64> {
    let full = s.full_at(now);
    (full > now.0).then_some(full)
}

const V4_WAYS: usize = 4;

/// Four IPv4 sources in two cache lines.
#[derive(Clone, Copy, Default)]
#[repr(C, align(128))]
struct V4Set {
    addr: [u32; V4_WAYS],
    /// Bit `i`: way `i` holds a source.
    used: u8,
    srcs: [Source; V4_WAYS],
}

/// The per-source tables of one worker: IPv4 and IPv6, each bounded by
/// `capacity`.
pub struct SourceTable {
    v4: Box<[V4Set]>,
    v4_len: usize,
    v4_evictions: u64,
    v6: BoundedTable<Addr, Source>,
}

impl SourceTable {
    pub fn new(capacity: usize) -> SourceTable {
        SourceTable {
            v4: huge_slice(sets_for(capacity, V4_WAYS), V4Set::default()),
            v4_len: 0,
            v4_evictions: 0,
            v6: BoundedTable::new(capacity),
        }
    }

    pub fn capacity(&self) -> usize {
        self.v4.len() * V4_WAYS + self.v6.capacity()
    }

    /// Entries in use (including idle ones not yet reclaimed).
    pub fn len(&self) -> usize {
        self.v4_len + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Live entries evicted to make room for new sources.
    pub fn evictions(&self) -> u64 {
        self.v4_evictions + self.v6.evictions()
    }

    #[inline(always)]
    fn set(&self, hash: u64) -> usize {
        scaled_set(hash, self.v4.len())
    }

    /// Batched lookup, stage one: an IPv4 source's set (both lines), or an
    /// IPv6 source's tags. `hash` is the address's keyed hash.
    #[inline(always)]
    pub fn prefetch(&self, hash: u64, v6: bool) {
        if v6 {
            self.v6.prefetch_tags(hash);
        } else {
            let set: *const V4Set = &self.v4[self.set(hash)];
            crate::sys::prefetch::prefetch(set);
            crate::sys::prefetch::prefetch(set.cast::<u8>().wrapping_add(64));
        }
    }

    /// Batched lookup, stage two: an IPv6 source's entry; an IPv4 source
    /// needs nothing more.
    #[inline(always)]
    pub fn prefetch_entry(&self, hash: u64, v6: bool) {
        if v6 {
            self.v6.prefetch_entry(hash);
        }
    }

    /// The state of `src` (whose keyed hash is `hash`, from a frame of IP
    /// version 6 if `v6`: its table, as for `prefetch`), created on first
    /// sight.
    #[inline]
    pub fn get(&mut self, now: Nanos, src: Addr, hash: u64, v6: bool) -> &mut Source {
        if v6 {
            return match self.v6.entry(hash, src, |s| rank(s, now)) {
                Found::Hit(s) | Found::Inserted(s) => s,
            };
        }
        let set = self.set(hash);
        let a = src.0 as u32;
        let s = &self.v4[set];
        let hit = (0..V4_WAYS).find(|&w| s.used & (1 << w) != 0 && s.addr[w] == a);
        let w = match hit {
            Some(w) => w,
            None => self.insert_v4(set, a, now),
        };
        &mut self.v4[set].srcs[w]
    }

    #[inline(never)]
    fn insert_v4(&mut self, set: usize, a: u32, now: Nanos) -> usize {
        let s = &self.v4[set];
        let w = claim(
            V4_WAYS,
            |w| (s.used & (1 << w) != 0).then(|| rank(&s.srcs[w], now)),
            &mut self.v4_len,
            &mut self.v4_evictions,
        );
        let s = &mut self.v4[set];
        s.used |= 1 << w;
        s.addr[w] = a;
        s.srcs[w] = Source::default();
        w
    }

    /// Forget sources whose buckets are all full again (housekeeping).
    pub fn expire(&mut self, now: Nanos) {
        for s in self.v4.iter_mut() {
            for w in 0..V4_WAYS {
                if s.used & (1 << w) != 0 && rank(&s.srcs[w], now).is_none() {
                    s.used &= !(1 << w);
                    self.v4_len -= 1;
                }
            }
        }
        self.v6.retain(|_, s| rank(s, now).is_some());
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::filter::hash::SeededHash;
    use crate::filter::policy::Limit;

    #[test]
    fn a_set_is_two_cache_lines() {
        assert_eq!(std::mem::size_of::<V4Set>(), 128);
        assert_eq!(std::mem::align_of::<V4Set>(), 128);
    }

    /// One set (capacity 4) of either family: sources `addr(1..=4)`, then
    /// a fifth.
    fn eviction(addr: impl Fn(u32) -> Addr) {
        let v6 = !addr(1).is_v4();
        let h = SeededHash::new(2);
        let mut t = SourceTable::new(4);
        let l = Limit::per_sec(1, 5);
        let now = Nanos::from_secs(10);
        // Source 1 spends its whole burst; 2..=4 send one packet each, 2
        // first (its bucket is full again soonest).
        for _ in 0..5 {
            assert!(t
                .get(now, addr(1), h.hash128(addr(1).0), v6)
                .icmp
                .take(&l, now));
        }
        for i in 2..=4 {
            let at = now + Nanos::from_millis(u64::from(i));
            assert!(t
                .get(at, addr(i), h.hash128(addr(i).0), v6)
                .icmp
                .take(&l, at));
        }
        assert_eq!((t.len(), t.evictions()), (4, 0));
        // A fifth source evicts 2, not the one over its limit.
        let at = now + Nanos::from_millis(10);
        t.get(at, addr(5), h.hash128(addr(5).0), v6);
        assert_eq!((t.len(), t.evictions()), (4, 1));
        let s1 = t.get(at, addr(1), h.hash128(addr(1).0), v6);
        assert!(!s1.icmp.take(&l, at), "source 1 kept its empty bucket");
        assert_eq!(t.evictions(), 1, "source 1 was still there");
        // Once the other buckets are full again, their entries are reused
        // without an eviction; source 1 (full 5 s later) stays.
        let later = now + Nanos::from_secs(2);
        t.get(later, addr(6), h.hash128(addr(6).0), v6);
        assert_eq!((t.len(), t.evictions()), (4, 1));
        let s1 = t.get(later, addr(1), h.hash128(addr(1).0), v6);
        assert!(s1.icmp.take(&l, later));
        assert!(s1.icmp.take(&l, later));
        assert!(!s1.icmp.take(&l, later), "2 s refilled two tokens, no more");
        t.expire(now + Nanos::from_secs(60));
        assert!(t.is_empty());
    }

    #[test]
    fn eviction_order_v4() {
        eviction(|i| Addr::from_v4(0xcb00_7100 + i));
    }

    #[test]
    fn eviction_order_v6() {
        eviction(|i| Addr(0x2001_0db8 << 96 | u128::from(i)));
    }

    #[test]
    fn families_are_apart_and_zero_is_an_address() {
        let h = SeededHash::new(4);
        let mut t = SourceTable::new(64);
        let l = Limit::per_sec(1, 1);
        let now = Nanos::from_secs(1);
        let v4 = Addr::from_v4(0);
        let v6 = Addr(0);
        assert!(t
            .get(now, v4, h.hash128(v4.0), false)
            .syn
            .take_bucket(&l, now));
        assert!(t
            .get(now, v6, h.hash128(v6.0), true)
            .syn
            .take_bucket(&l, now));
        assert!(!t
            .get(now, v4, h.hash128(v4.0), false)
            .syn
            .take_bucket(&l, now));
        assert_eq!(t.len(), 2);
    }
}

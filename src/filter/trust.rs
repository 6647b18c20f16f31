//! Addresses that must not become flies on an unproven hit: the LAN's own
//! (learned from frames entering from the LAN) and WAN peers that are in a
//! live two-way conversation with the LAN ("vouched for").
//!
//! Shared by every worker (a frame from the LAN and a forged one from the
//! WAN may land on different workers) and lock-free: a set-associative
//! table of 64-byte lines, eight one-word entries to a line, indexed by the
//! blacklist's keyed hash of the source's fly key (its prefix), so that one
//! hash per frame serves the blacklist, the per-source limits and this
//! table, and a frame reads one line that its first stage prefetched.
//!
//! Three kinds of entry share a line:
//! - *vouched*: a WAN prefix with two-way traffic;
//! - *LAN address*: one exact address seen as a source on the LAN port; a
//!   WAN frame carrying it is spoofed. Exact, not by prefix: on a bridge
//!   the WAN side (the ISP's router) may hold an address in the LAN's own
//!   IPv6 /64;
//! - *LAN prefix*: a fly prefix that holds a LAN address: no unproven hit
//!   may make it a fly (that would cut the LAN host off).
//!
//! An entry is `fingerprint << 33 | kind << 31 | expiry`: 31 bits of
//! fingerprint (of the prefix hash, or for a LAN address of the address
//! itself mixed with it), the kind, and the expiry in whole seconds of the
//! filter's clock (31 bits). A new entry replaces the line's entry that
//! expires first. Writers race benignly: the worst case is a lost refresh,
//! which the next frame of that address makes good. Entries are refreshed
//! at most once a minute, so the lines stay shared in every core's cache.
//!
//! Bounded (`tables.trust` entries); a LAN host that forges many sources
//! can churn the LAN entries, but only the LAN can write them, and the WAN
//! can write vouched entries only by holding a two-way conversation.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::filter::Nanos;
use crate::sys::mem::huge_slice_with;

const WAYS: usize = 8;
const SECS_MASK: u64 = (1 << 31) - 1;
const KIND_SHIFT: u32 = 31;
const FP_SHIFT: u32 = 33;
/// An entry is rewritten only when its expiry would move by more than this.
const REFRESH_SECS: u32 = 60;

/// What an entry says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Kind {
    Vouched = 0,
    LanAddress = 1,
    LanPrefix = 2,
}

#[repr(C, align(64))]
struct Line([AtomicU64; WAYS]);

/// What the table holds for one source: until when (seconds) each kind of
/// entry lasts; 0: none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Look {
    pub vouched_until: u32,
    pub lan_address_until: u32,
    pub lan_prefix_until: u32,
}

impl Look {
    pub fn vouched(&self, now: Nanos) -> bool {
        u64::from(self.vouched_until) > secs(now)
    }

    /// The source address itself was seen on the LAN.
    pub fn lan_address(&self, now: Nanos) -> bool {
        u64::from(self.lan_address_until) > secs(now)
    }

    /// The source's fly prefix holds an address seen on the LAN.
    pub fn lan_prefix(&self, now: Nanos) -> bool {
        u64::from(self.lan_prefix_until) > secs(now)
    }

    fn until(&self, kind: Kind) -> u32 {
        match kind {
            Kind::Vouched => self.vouched_until,
            Kind::LanAddress => self.lan_address_until,
            Kind::LanPrefix => self.lan_prefix_until,
        }
    }
}

/// The filter's clock in whole seconds, as entries hold it.
#[inline(always)]
pub fn secs(now: Nanos) -> u64 {
    (now.0 / 1_000_000_000) & SECS_MASK
}

/// A source: the keyed hash of its fly prefix (`h`, what the blacklist
/// and the rate limits use) and a fingerprint of the address itself.
#[derive(Clone, Copy, Debug)]
pub struct Key {
    pub h: u64,
    exact: u64,
}

impl Key {
    #[inline(always)]
    pub fn new(h: u64, addr: crate::addr::Addr) -> Key {
        let x = (addr.0 as u64) ^ ((addr.0 >> 64) as u64).rotate_left(29);
        Key {
            h,
            exact: x.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ h,
        }
    }

    #[inline(always)]
    fn fp(&self, kind: Kind) -> u64 {
        let f = match kind {
            Kind::LanAddress => self.exact,
            _ => self.h,
        };
        ((f >> 7) & ((1 << 31) - 1) | 1) << FP_SHIFT | (kind as u64) << KIND_SHIFT
    }
}

pub struct Trust {
    lines: Box<[Line]>,
    mask: usize,
    /// One bit per bucket of exact addresses, set when a LAN address is
    /// learned (never cleared: a stale bit only costs a look at the line).
    /// A WAN frame whose bit is clear is no LAN address, which is the
    /// answer for nearly every WAN frame, read from 8 KiB that stay in L1.
    lan_bits: Box<[AtomicU64]>,
}

const LAN_BITS: usize = 1 << 16;

impl Trust {
    /// A table of at least `capacity` entries.
    pub fn new(capacity: usize) -> Trust {
        let n = capacity.div_ceil(WAYS).next_power_of_two().max(1);
        Trust {
            lines: huge_slice_with(n, || Line(Default::default())),
            mask: n - 1,
            lan_bits: (0..LAN_BITS / 64).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    pub fn capacity(&self) -> usize {
        self.lines.len() * WAYS
    }

    #[inline(always)]
    fn line(&self, h: u64) -> &Line {
        &self.lines[h.rotate_right(29) as usize & self.mask]
    }

    /// Start loading the LAN bitmap word of a source.
    #[inline(always)]
    pub fn prefetch_lan_bit(&self, h: u64, addr: crate::addr::Addr) {
        let (w, _) = Trust::lan_bit(&Key::new(h, addr));
        crate::sys::prefetch::prefetch(&self.lan_bits[w]);
    }

    /// What the table holds for a source.
    #[inline(always)]
    pub fn look(&self, k: &Key) -> Look {
        let line = self.line(k.h);
        let tags = [
            k.fp(Kind::Vouched),
            k.fp(Kind::LanAddress),
            k.fp(Kind::LanPrefix),
        ];
        let mut l = Look::default();
        for w in &line.0 {
            let v = w.load(Ordering::Relaxed);
            let tag = v & !SECS_MASK;
            let until = (v & SECS_MASK) as u32;
            if tag == tags[0] {
                l.vouched_until = until;
            } else if tag == tags[1] {
                l.lan_address_until = until;
            } else if tag == tags[2] {
                l.lan_prefix_until = until;
            }
        }
        l
    }

    #[inline(always)]
    fn lan_bit(k: &Key) -> (usize, u64) {
        let b = (k.exact >> 40) as usize & (LAN_BITS - 1);
        (b / 64, 1 << (b % 64))
    }

    /// Is the source's address (exactly) a LAN address at `now`? A bitmap
    /// test, and for the few sources whose bit is set, a look at the line.
    #[inline(always)]
    pub fn is_lan_address(&self, k: &Key, now: Nanos) -> bool {
        let (w, m) = Trust::lan_bit(k);
        self.lan_bits[w].load(Ordering::Relaxed) & m != 0 && self.look(k).lan_address(now)
    }

    /// Remember `kind` for a source until `now + ttl_secs`; `known` is what
    /// `look` said (the write is skipped when it would move the expiry by
    /// less than a minute).
    #[inline]
    pub fn remember(&self, k: &Key, kind: Kind, now: Nanos, ttl_secs: u32, known: &Look) {
        let until = (secs(now) + u64::from(ttl_secs)).min(SECS_MASK);
        if u64::from(known.until(kind)) + u64::from(REFRESH_SECS) >= until {
            return;
        }
        self.write(k, kind, until);
    }

    #[cold]
    #[inline(never)]
    fn write(&self, k: &Key, kind: Kind, until: u64) {
        if kind == Kind::LanAddress {
            let (w, m) = Trust::lan_bit(k);
            self.lan_bits[w].fetch_or(m, Ordering::Relaxed);
        }
        let line = self.line(k.h);
        let tag = k.fp(kind);
        let entry = tag | until;
        let mut victim = 0;
        let mut victim_until = u64::MAX;
        for (i, w) in line.0.iter().enumerate() {
            let v = w.load(Ordering::Relaxed);
            if v & !SECS_MASK == tag {
                w.store(entry, Ordering::Relaxed);
                return;
            }
            let u = if v == 0 { 0 } else { v & SECS_MASK };
            if u < victim_until {
                (victim, victim_until) = (i, u);
            }
        }
        line.0[victim].store(entry, Ordering::Relaxed);
    }

    /// Forget a source's vouched entry (it was made a proven fly).
    pub fn forget_vouch(&self, k: &Key) {
        let tag = k.fp(Kind::Vouched);
        for w in &self.line(k.h).0 {
            if w.load(Ordering::Relaxed) & !SECS_MASK == tag {
                w.store(0, Ordering::Relaxed);
            }
        }
    }

    /// Live entries at `now`: (LAN addresses, vouched prefixes).
    pub fn counts(&self, now: Nanos) -> (usize, usize) {
        let now_s = secs(now);
        let (mut lan, mut vouched) = (0, 0);
        for w in self.lines.iter().flat_map(|l| l.0.iter()) {
            let v = w.load(Ordering::Relaxed);
            if v != 0 && v & SECS_MASK > now_s {
                match (v >> KIND_SHIFT) & 3 {
                    0 => vouched += 1,
                    1 => lan += 1,
                    _ => {}
                }
            }
        }
        (lan, vouched)
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::addr::Addr;
    use crate::filter::hash::SeededHash;

    fn k(i: u128) -> Key {
        Key::new(SeededHash::new(7).hash128(i), Addr(i))
    }

    #[test]
    fn learns_lan_hosts_and_vouched_peers_apart_and_forgets_them_in_time() {
        let t = Trust::new(1024);
        let now = Nanos::from_secs(1000);
        assert_eq!(t.look(&k(1)), Look::default());
        t.remember(&k(1), Kind::LanAddress, now, 3600, &Look::default());
        t.remember(&k(2), Kind::Vouched, now, 600, &Look::default());
        let l1 = t.look(&k(1));
        assert!(l1.lan_address(now) && !l1.vouched(now) && !l1.lan_prefix(now));
        let l2 = t.look(&k(2));
        assert!(!l2.lan_address(now) && l2.vouched(now));
        assert!(t.look(&k(2)).vouched(Nanos::from_secs(1599)));
        assert!(!t.look(&k(2)).vouched(Nanos::from_secs(1600)));
        assert!(!t.look(&k(1)).lan_address(Nanos::from_secs(4600)));
        assert_eq!(t.counts(now), (1, 1));
        t.forget_vouch(&k(2));
        assert!(!t.look(&k(2)).vouched(now));
    }

    #[test]
    fn a_lan_address_is_exact_and_its_prefix_is_marked_apart() {
        let t = Trust::new(1024);
        let now = Nanos::from_secs(10);
        let h = SeededHash::new(3).hash128(0x2001_0db8_0001_0000 << 64);
        let host = Key::new(h, Addr((0x2001_0db8_0001_0000 << 64) | 0x10));
        let router = Key::new(h, Addr((0x2001_0db8_0001_0000 << 64) | 0x1));
        t.remember(&host, Kind::LanAddress, now, 3600, &Look::default());
        t.remember(&host, Kind::LanPrefix, now, 3600, &Look::default());
        let r = t.look(&router);
        assert!(
            !r.lan_address(now),
            "another address of the /64 is not the LAN host"
        );
        assert!(r.lan_prefix(now), "but its /64 holds a LAN host");
        assert!(t.look(&host).lan_address(now));
        assert!(t.is_lan_address(&host, now) && !t.is_lan_address(&router, now));
        assert!(!t.is_lan_address(&host, Nanos::from_secs(3610)));
    }

    #[test]
    fn refreshes_at_most_once_a_minute_and_extends() {
        let t = Trust::new(64);
        let now = Nanos::from_secs(100);
        t.remember(&k(5), Kind::Vouched, now, 600, &Look::default());
        let l = t.look(&k(5));
        assert_eq!(l.vouched_until, 700);
        // 30 s later: within the refresh slack, not rewritten.
        let later = Nanos::from_secs(130);
        t.remember(&k(5), Kind::Vouched, later, 600, &l);
        assert_eq!(t.look(&k(5)).vouched_until, 700);
        let later = Nanos::from_secs(200);
        t.remember(&k(5), Kind::Vouched, later, 600, &l);
        assert_eq!(t.look(&k(5)).vouched_until, 800);
    }

    #[test]
    fn bounded_a_flood_replaces_the_soonest_to_expire() {
        let t = Trust::new(64);
        let now = Nanos::from_secs(10);
        // A long-lived LAN entry, then a flood of short vouched ones.
        t.remember(&k(0), Kind::LanAddress, now, 3600, &Look::default());
        for i in 1..100_000u128 {
            t.remember(&k(i), Kind::Vouched, now, 60, &Look::default());
        }
        assert!(
            t.look(&k(0)).lan_address(now),
            "a flood of shorter entries never evicts it"
        );
        let (lan, vouched) = t.counts(now);
        assert_eq!(lan, 1);
        assert!(vouched < t.capacity());
    }
}

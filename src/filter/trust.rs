//! Addresses that must not become flies on an unproven hit: the LAN's own
//! (learned from frames entering from the LAN) and WAN peers that are in a
//! live two-way conversation with the LAN ("vouched for").
//!
//! Shared by every worker (a frame from the LAN and a forged one from the
//! WAN may land on different workers) and lock-free: a set-associative
//! table of 64-byte lines, eight one-word entries to a line, indexed by the
//! blacklist's keyed hash of the source's fly key, so that one hash per
//! frame serves the blacklist, the per-source limits and this table, and
//! a frame reads one line that its first stage prefetched.
//!
//! An entry is `fingerprint << 32 | kind << 31 | expiry`, where the
//! fingerprint is 31 bits of the keyed hash (nonzero), the kind says LAN or
//! vouched, and the expiry is in whole seconds of the filter's clock (31
//! bits). A new entry replaces the line's entry that expires first. Writers
//! race benignly: the worst case is a lost refresh, which the next frame of
//! that address makes good. Entries are refreshed at most once a minute,
//! so the lines stay shared in every core's cache.
//!
//! Bounded (`tables.trust` entries); a LAN host that forges many sources
//! can churn the LAN entries, but only the LAN can write them, and the WAN
//! can write vouched entries only by holding a two-way conversation.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::filter::Nanos;
use crate::sys::mem::huge_slice_with;

const WAYS: usize = 8;
const KIND_LAN: u64 = 1 << 31;
const SECS_MASK: u64 = (1 << 31) - 1;
/// An entry is rewritten only when its expiry would move by more than this.
const REFRESH_SECS: u32 = 60;

#[repr(C, align(64))]
struct Line([AtomicU64; WAYS]);

/// What the table says about one source.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Look {
    /// Learned on the LAN, live.
    pub lan: bool,
    /// Until when (seconds) the source is vouched for; 0: not vouched.
    pub vouched_until: u32,
    /// When its LAN entry expires (seconds); 0: none.
    pub lan_until: u32,
}

impl Look {
    pub fn vouched(&self, now: Nanos) -> bool {
        u64::from(self.vouched_until) > secs(now)
    }
}

/// The filter's clock in whole seconds, as entries hold it.
#[inline(always)]
pub fn secs(now: Nanos) -> u64 {
    (now.0 / 1_000_000_000) & SECS_MASK
}

pub struct Trust {
    lines: Box<[Line]>,
    mask: usize,
}

impl Trust {
    /// A table of at least `capacity` entries.
    pub fn new(capacity: usize) -> Trust {
        let n = capacity.div_ceil(WAYS).next_power_of_two().max(1);
        Trust {
            lines: huge_slice_with(n, || Line(Default::default())),
            mask: n - 1,
        }
    }

    pub fn capacity(&self) -> usize {
        self.lines.len() * WAYS
    }

    #[inline(always)]
    fn line_and_fp(&self, h: u64) -> (&Line, u64) {
        let line = &self.lines[h.rotate_right(29) as usize & self.mask];
        (line, u64::from((h >> 1) as u32 | 1) << 32)
    }

    /// Start loading the line of a source hash.
    #[inline(always)]
    pub fn prefetch(&self, h: u64) {
        crate::sys::prefetch::prefetch(self.line_and_fp(h).0);
    }

    /// What the table holds for a source (its fly key's hash `h`) at `now`.
    #[inline(always)]
    pub fn look(&self, h: u64, now: Nanos) -> Look {
        let (line, fp) = self.line_and_fp(h);
        let now_s = secs(now);
        let mut l = Look::default();
        for w in &line.0 {
            let v = w.load(Ordering::Relaxed);
            if v & !(KIND_LAN | SECS_MASK) == fp {
                let until = v & SECS_MASK;
                if v & KIND_LAN != 0 {
                    l.lan_until = until as u32;
                    l.lan = until > now_s;
                } else {
                    l.vouched_until = until as u32;
                }
            }
        }
        l
    }

    /// Remember a source as a LAN host (`lan`) or a vouched WAN peer until
    /// `now + ttl_secs`; `known_until` is what `look` said (the write is
    /// skipped when it would move the expiry by less than a minute).
    #[inline]
    pub fn remember(&self, h: u64, lan: bool, now: Nanos, ttl_secs: u32, known_until: u32) {
        let until = (secs(now) + u64::from(ttl_secs)).min(SECS_MASK);
        if u64::from(known_until) + u64::from(REFRESH_SECS) >= until {
            return;
        }
        self.write(h, lan, until);
    }

    #[cold]
    #[inline(never)]
    fn write(&self, h: u64, lan: bool, until: u64) {
        let (line, fp) = self.line_and_fp(h);
        let kind = if lan { KIND_LAN } else { 0 };
        let entry = fp | kind | until;
        let mut victim = 0;
        let mut victim_until = u64::MAX;
        for (i, w) in line.0.iter().enumerate() {
            let v = w.load(Ordering::Relaxed);
            if v & !SECS_MASK == fp | kind {
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

    /// Forget a vouched entry (the peer was made a proven fly).
    pub fn forget_vouch(&self, h: u64) {
        let (line, fp) = self.line_and_fp(h);
        for w in &line.0 {
            if w.load(Ordering::Relaxed) & !SECS_MASK == fp {
                w.store(0, Ordering::Relaxed);
            }
        }
    }

    /// Live entries at `now`: (LAN, vouched).
    pub fn counts(&self, now: Nanos) -> (usize, usize) {
        let now_s = secs(now);
        let (mut lan, mut vouched) = (0, 0);
        for w in self.lines.iter().flat_map(|l| l.0.iter()) {
            let v = w.load(Ordering::Relaxed);
            if v != 0 && v & SECS_MASK > now_s {
                if v & KIND_LAN != 0 {
                    lan += 1;
                } else {
                    vouched += 1;
                }
            }
        }
        (lan, vouched)
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::filter::hash::SeededHash;

    fn h(i: u128) -> u64 {
        SeededHash::new(7).hash128(i)
    }

    #[test]
    fn learns_lan_hosts_and_vouched_peers_apart_and_forgets_them_in_time() {
        let t = Trust::new(1024);
        let now = Nanos::from_secs(1000);
        assert_eq!(t.look(h(1), now), Look::default());
        t.remember(h(1), true, now, 3600, 0);
        t.remember(h(2), false, now, 600, 0);
        let l1 = t.look(h(1), now);
        assert!(l1.lan && !l1.vouched(now));
        let l2 = t.look(h(2), now);
        assert!(!l2.lan && l2.vouched(now));
        assert!(t
            .look(h(2), Nanos::from_secs(1599))
            .vouched(Nanos::from_secs(1599)));
        assert!(!t
            .look(h(2), Nanos::from_secs(1600))
            .vouched(Nanos::from_secs(1600)));
        assert!(!t.look(h(1), Nanos::from_secs(4600)).lan);
        assert_eq!(t.counts(now), (1, 1));
        t.forget_vouch(h(2));
        assert!(!t.look(h(2), now).vouched(now));
    }

    #[test]
    fn refreshes_at_most_once_a_minute_and_extends() {
        let t = Trust::new(64);
        let now = Nanos::from_secs(100);
        t.remember(h(5), false, now, 600, 0);
        let l = t.look(h(5), now);
        assert_eq!(l.vouched_until, 700);
        // 30 s later: within the refresh slack, not rewritten.
        let later = Nanos::from_secs(130);
        t.remember(h(5), false, later, 600, l.vouched_until);
        assert_eq!(t.look(h(5), later).vouched_until, 700);
        let later = Nanos::from_secs(200);
        t.remember(h(5), false, later, 600, l.vouched_until);
        assert_eq!(t.look(h(5), later).vouched_until, 800);
    }

    #[test]
    fn bounded_a_flood_replaces_the_soonest_to_expire() {
        let t = Trust::new(64);
        let now = Nanos::from_secs(10);
        // A long-lived LAN entry, then a flood of short vouched ones.
        t.remember(h(0), true, now, 3600, 0);
        for i in 1..100_000u128 {
            t.remember(h(i), false, now, 60, 0);
        }
        assert!(
            t.look(h(0), now).lan,
            "a flood of shorter entries never evicts it"
        );
        let (lan, vouched) = t.counts(now);
        assert_eq!(lan, 1);
        assert!(vouched < t.capacity());
    }
}

//! Token buckets in the style of the kernel's `nft_limit`, kept as one
//! number per bucket.
//!
//! A bucket of depth `burst * cost` nanoseconds lets a packet through when
//! it holds at least `cost` (`1e9 / rate`) nanoseconds of credit; time adds
//! credit one for one up to the depth. Instead of the credit and the time
//! of the last packet, a bucket stores when it will be full again (`tat`,
//! the theoretical arrival time of the generic cell rate algorithm): the
//! credit at `now` is `depth - (tat - now)`. The two are the same bucket;
//! one word is half the memory per source. The costs are computed when the
//! config is loaded ([`Limit::new`] checks for overflow), so the hot path
//! is a max, an addition and a compare: no division, no floating point.

use crate::filter::policy::Limit;
use crate::filter::Nanos;

/// The state of one bucket. A fresh bucket (`tat == 0`) is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bucket {
    /// When the bucket is full again.
    tat: u64,
}

impl Bucket {
    /// Take one packet's worth of credit at `now`. Returns false when the
    /// source is over its limit (nothing is taken then). A clock that goes
    /// backwards (replay of a merged capture) grants nothing.
    #[inline]
    pub fn take(&mut self, limit: &Limit, now: Nanos) -> bool {
        let next = self.tat.max(now.0).saturating_add(limit.cost);
        if next <= now.0.saturating_add(limit.depth) {
            self.tat = next;
            true
        } else {
            false
        }
    }

    /// When this bucket will be full again (it is as good as new then).
    pub fn full_at(&self) -> Nanos {
        Nanos(self.tat)
    }
}

/// A source's SYN limiter: a token bucket (`tcp.syn_mode = "bucket"`) or
/// the sliding window of iptables' `recent` match (`"window"`, the
/// default), in one word either way so that a source entry keeps its size.
///
/// The window counts every attempt in the last `per_secs` seconds, the
/// refused ones too, as `recent --set` followed by `recent --update
/// --seconds S --hitcount N -j DROP` does: an attempt passes while fewer
/// than `N` attempts (itself included) fell in the window, so a source
/// that keeps flooding stays refused for as long as it floods. The window
/// slides as two fixed windows, the previous one weighted by how much of
/// it still overlaps (the estimate nginx and Cloudflare use for rate
/// limits): exact for a steady sender, and one word of state instead of
/// `N` timestamps.
///
/// Window encoding: bit 63 set; bits 32..63 when the state is idle again
/// (the current window's start plus two windows) in units of 2^20 ns,
/// wrapping; bits 16..32 attempts in the current window; bits 0..16 in
/// the previous one. A bucket's word is its `tat`, which never has bit 63
/// set (2^63 ns is 292 years).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SynState(u64);

const WINDOW: u64 = 1 << 63;
const UNIT_SHIFT: u32 = 20;
const IDLE_MASK: u32 = 0x7fff_ffff;

/// Window length of `l` in units of 2^20 ns, rounded up (at least 1).
#[inline]
fn window_units(l: &Limit) -> u32 {
    let ns = u64::from(l.per_secs) * 1_000_000_000;
    (ns.div_ceil(1 << UNIT_SHIFT)).clamp(1, u64::from(IDLE_MASK / 4)) as u32
}

/// `a - b` for 31-bit wrapping unit counts, as a signed distance.
#[inline(always)]
fn diff31(a: u32, b: u32) -> i32 {
    (a.wrapping_sub(b) << 1) as i32 >> 1
}

impl SynState {
    /// Token bucket: as [`Bucket::take`].
    #[inline]
    pub fn take_bucket(&mut self, limit: &Limit, now: Nanos) -> bool {
        let mut b = Bucket {
            tat: if self.0 & WINDOW != 0 { 0 } else { self.0 },
        };
        let ok = b.take(limit, now);
        self.0 = b.tat & !WINDOW;
        ok
    }

    /// Sliding window of `limit.per_secs` seconds and a hit count of
    /// `limit.rate`: count this attempt, and pass it if fewer than `rate`
    /// attempts fell in the window.
    #[inline]
    pub fn take_window(&mut self, limit: &Limit, now: Nanos) -> bool {
        let w = window_units(limit);
        let now_u = ((now.0 >> UNIT_SHIFT) as u32) & IDLE_MASK;
        let (mut start, mut cur, mut prev) = if self.0 & WINDOW == 0 {
            (now_u, 0u16, 0u16)
        } else {
            let idle = ((self.0 >> 32) as u32) & IDLE_MASK;
            (
                idle.wrapping_sub(2 * w) & IDLE_MASK,
                (self.0 >> 16) as u16,
                self.0 as u16,
            )
        };
        let mut el = diff31(now_u, start);
        if el < 0 || el >= 2 * w as i32 {
            // Idle for two windows (or the clock went back): start over.
            (start, cur, prev, el) = (now_u, 0, 0, 0);
        } else if el >= w as i32 {
            (start, prev, cur, el) = ((start.wrapping_add(w)) & IDLE_MASK, cur, 0, el - w as i32);
        }
        // The previous window's share that still overlaps the sliding one.
        let left = u64::from(w - el as u32);
        let weighted = u64::from(prev) * left / u64::from(w);
        let hits = weighted + u64::from(cur) + 1;
        cur = cur.saturating_add(1);
        let idle = start.wrapping_add(2 * w) & IDLE_MASK;
        self.0 = WINDOW | u64::from(idle) << 32 | u64::from(cur) << 16 | u64::from(prev);
        hits < u64::from(limit.rate)
    }

    /// When forgetting this state changes nothing (the bucket is full, or
    /// the window has been idle for two windows).
    #[inline]
    pub fn full_at(&self, now: Nanos) -> Nanos {
        if self.0 & WINDOW == 0 {
            return Nanos(self.0);
        }
        let idle = ((self.0 >> 32) as u32) & IDLE_MASK;
        let now_u = ((now.0 >> UNIT_SHIFT) as u32) & IDLE_MASK;
        let ahead = diff31(idle, now_u);
        if ahead <= 0 {
            Nanos::ZERO
        } else {
            Nanos(now.0 + ((ahead as u64) << UNIT_SHIFT))
        }
    }
}

/// A token bucket shared by every worker (one atomic word): the global
/// limit on SYN-ACKs the appliance sends. Same arithmetic as [`Bucket`].
#[derive(Debug, Default)]
pub struct SharedBucket {
    tat: std::sync::atomic::AtomicU64,
}

impl SharedBucket {
    /// As [`Bucket::take`], lock-free.
    pub fn take(&self, limit: &Limit, now: Nanos) -> bool {
        use std::sync::atomic::Ordering;
        let mut cur = self.tat.load(Ordering::Relaxed);
        loop {
            let next = cur.max(now.0).saturating_add(limit.cost);
            if next > now.0.saturating_add(limit.depth) {
                return false;
            }
            match self
                .tat
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(seen) => cur = seen,
            }
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn passes(b: &mut Bucket, l: &Limit, now: Nanos, n: usize) -> usize {
        (0..n).filter(|_| b.take(l, now)).count()
    }

    #[test]
    fn burst_then_rate() {
        // ICMP: 1/s, burst 5.
        let l = Limit::per_sec(1, 5);
        let mut b = Bucket::default();
        let t0 = Nanos::from_secs(100);
        assert_eq!(passes(&mut b, &l, t0, 10), 5, "the burst");
        assert!(!b.take(&l, t0 + Nanos::from_millis(999)));
        assert!(b.take(&l, t0 + Nanos::from_secs(1)), "one token per second");
        assert!(!b.take(&l, t0 + Nanos::from_millis(1500)));
    }

    #[test]
    fn refill_is_capped_at_the_burst() {
        let l = Limit::per_sec(2, 2);
        let mut b = Bucket::default();
        let t0 = Nanos::from_secs(1);
        assert_eq!(passes(&mut b, &l, t0, 5), 2);
        // After an hour idle, still only the burst of 2.
        assert_eq!(passes(&mut b, &l, t0 + Nanos::from_secs(3600), 5), 2);
        // Half a second later one more (2/s).
        assert_eq!(passes(&mut b, &l, t0 + Nanos::from_millis(3_600_500), 5), 1);
    }

    #[test]
    fn sixty_per_second_over_a_second_of_flood() {
        // 1500 SYNs spread evenly over one second: the burst of 60 plus the
        // refill earned during that second (about 60).
        let l = Limit::per_sec(60, 60);
        let mut b = Bucket::default();
        let passed = (0..1500u64)
            .filter(|i| b.take(&l, Nanos(10_000_000_000 + i * 1_000_000_000 / 1500)))
            .count();
        assert!((118..=121).contains(&passed), "{passed}");
    }

    #[test]
    fn time_going_backwards_grants_nothing() {
        let l = Limit::per_sec(1, 1);
        let mut b = Bucket::default();
        assert!(b.take(&l, Nanos::from_secs(10)));
        assert!(!b.take(&l, Nanos::from_secs(5)));
        assert!(!b.take(&l, Nanos::from_millis(10_500)));
        assert!(b.take(&l, Nanos::from_secs(11)));
    }

    #[test]
    fn full_at() {
        let l = Limit::per_sec(1, 2);
        let mut b = Bucket::default();
        assert_eq!(b.full_at(), Nanos::ZERO);
        b.take(&l, Nanos::from_secs(10));
        assert_eq!(b.full_at(), Nanos::from_secs(11));
    }

    fn window_passes(s: &mut SynState, l: &Limit, t0: u64, n: u64, per_sec: u64) -> usize {
        (0..n)
            .filter(|i| s.take_window(l, Nanos(t0 + i * 1_000_000_000 / per_sec)))
            .count()
    }

    #[test]
    fn window_lets_59_of_a_steady_flood_through() {
        // recent --seconds 1 --hitcount 60: 500 SYN/s for 3 s.
        let l = Limit::per_sec(60, 60);
        let mut s = SynState::default();
        let passed = window_passes(&mut s, &l, 10_000_000_000, 1500, 500);
        assert_eq!(passed, 59);
    }

    #[test]
    fn window_counts_refused_attempts_and_forgets_after_idle() {
        let l = Limit::per_sec(3, 3);
        let mut s = SynState::default();
        let t0 = 5_000_000_000u64;
        assert_eq!(window_passes(&mut s, &l, t0, 10, 100), 2);
        // Half a second after the last refusal: still inside the window.
        assert!(!s.take_window(&l, Nanos(t0 + 600_000_000)));
        // Two idle windows later the source is new again.
        assert_eq!(window_passes(&mut s, &l, t0 + 4_000_000_000, 3, 100), 2);
        // A slow sender (one per second) is never refused.
        let mut slow = SynState::default();
        assert_eq!(window_passes(&mut slow, &l, t0, 20, 1), 20);
    }

    #[test]
    fn window_full_at_and_bucket_share_the_word() {
        let l = Limit::per_sec(60, 60);
        let mut s = SynState::default();
        let t0 = Nanos::from_secs(100);
        assert_eq!(s.full_at(t0), Nanos::ZERO);
        assert!(s.take_window(&l, t0));
        let idle = s.full_at(t0);
        assert!(idle > t0 + Nanos::from_millis(1900) && idle < t0 + Nanos::from_millis(2100));
        assert_eq!(s.full_at(t0 + Nanos::from_secs(3)), Nanos::ZERO);
        // Bucket mode on the same type.
        let mut b = SynState::default();
        assert!(b.take_bucket(&l, t0));
        assert_eq!(b.full_at(t0), Nanos(t0.0 + l.cost));
    }
}

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
}

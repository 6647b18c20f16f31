//! The RST delay queue's bookkeeping: how many resets are held, and how
//! many of them each source holds.
//!
//! The filter decides whether an accepted RST may be delayed; the driver
//! holds the frame (in a timer wheel of the same capacity) and sends it
//! when it is due. Every RST is held for the same `rst_delay`, so the
//! filter knows when each one leaves without being told: a FIFO of
//! (release time, source) mirrors the driver's queue exactly when the
//! driver releases what is due before it hands the filter a batch at the
//! same clock reading (the worker loop, replay and the fuzz harness do).
//!
//! A source (its fly prefix, by hash) may hold at most `share` of the
//! queue, so one sender cannot fill it: the genuine peer's RST still finds
//! room and is delayed, not dropped.

use std::collections::VecDeque;

use hashbrown::HashMap;

use crate::filter::Nanos;

/// Why an RST could not be delayed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The queue is full.
    Full,
    /// The source holds its share already.
    Share,
}

pub struct DelayQueue {
    capacity: usize,
    share: u32,
    held: VecDeque<(Nanos, u64)>,
    per_source: HashMap<u64, u32>,
}

impl DelayQueue {
    /// A queue of `capacity` frames, `share` of them per source. Allocated
    /// once: neither collection grows past `capacity`.
    pub fn new(capacity: usize, share: usize) -> DelayQueue {
        DelayQueue {
            capacity,
            share: share.clamp(1, u32::MAX as usize) as u32,
            held: VecDeque::with_capacity(capacity),
            per_source: HashMap::with_capacity(capacity),
        }
    }

    pub fn len(&self) -> usize {
        self.held.len()
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Forget the resets that are due at `now` (the driver sends them).
    #[inline]
    pub fn release(&mut self, now: Nanos) {
        while let Some(&(at, src)) = self.held.front() {
            if at > now {
                break;
            }
            self.held.pop_front();
            if let hashbrown::hash_map::Entry::Occupied(mut e) = self.per_source.entry(src) {
                *e.get_mut() -= 1;
                if *e.get() == 0 {
                    e.remove();
                }
            }
        }
    }

    /// Hold a reset of source `src` (a hash of its fly key) until `at`.
    pub fn hold(&mut self, now: Nanos, at: Nanos, src: u64) -> Result<(), Refused> {
        self.release(now);
        if self.held.len() >= self.capacity {
            return Err(Refused::Full);
        }
        let n = self.per_source.entry(src).or_insert(0);
        if *n >= self.share {
            return Err(Refused::Share);
        }
        *n += 1;
        self.held.push_back((at, src));
        Ok(())
    }

    /// When the next held reset is due.
    pub fn next_due(&self) -> Option<Nanos> {
        self.held.front().map(|&(at, _)| at)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn one_source_cannot_fill_the_queue() {
        let mut q = DelayQueue::new(100, 10);
        let now = Nanos::from_secs(1);
        let at = Nanos::from_millis(1500);
        for _ in 0..10 {
            assert_eq!(q.hold(now, at, 7), Ok(()));
        }
        for _ in 0..1000 {
            assert_eq!(q.hold(now, at, 7), Err(Refused::Share));
        }
        assert_eq!(q.hold(now, at, 8), Ok(()), "another source still has room");
        assert_eq!(q.len(), 11);
        // Released at their time, the share is free again.
        q.release(at);
        assert!(q.is_empty());
        assert_eq!(q.hold(at, Nanos::from_secs(2), 7), Ok(()));
    }

    #[test]
    fn many_sources_fill_it_to_capacity_only() {
        let mut q = DelayQueue::new(50, 10);
        let now = Nanos::from_secs(1);
        for s in 0..50 {
            assert_eq!(q.hold(now, Nanos::from_secs(2), s), Ok(()));
        }
        assert_eq!(q.hold(now, Nanos::from_secs(2), 99), Err(Refused::Full));
        assert_eq!(q.next_due(), Some(Nanos::from_secs(2)));
        q.release(Nanos::from_secs(2));
        assert!(q.is_empty() && q.per_source.is_empty());
    }
}

//! The RST delay queue: a hashed timer wheel of frame descriptors.
//!
//! Accepted inbound RSTs are held for `rst_delay` (500 ms by default) so that
//! the genuine next segment of a connection reaches the host before a forged
//! reset. The wheel holds *descriptors* (in the data path a UMEM frame
//! address; in `replay` a frame index), never copies of frames, and it holds
//! at most `capacity` of them: the frames it holds are taken out of the
//! receive pool, so it must be bounded. When it is full, `insert` gives the
//! descriptor back and the caller drops the frame (`rst-queue-full`).
//!
//! All storage is allocated in `new`; `insert` and `poll` never allocate.
//! Items are delivered in deadline order, FIFO among equal deadlines, as long
//! as deadlines lie within one revolution (`tick * slots`) of the insertion
//! time; items beyond that are still delivered on time, just not ordered
//! against items of earlier revolutions.

use crate::filter::Nanos;

const NIL: u32 = u32::MAX;

struct Node<T> {
    deadline: u64,
    next: u32,
    item: Option<T>,
}

/// A bounded hashed timer wheel.
pub struct TimerWheel<T> {
    tick_ns: u64,
    mask: u64,
    /// (head, tail) of each slot's list.
    slots: Box<[(u32, u32)]>,
    nodes: Box<[Node<T>]>,
    free: u32,
    len: usize,
    /// The next tick not yet fully processed.
    current: u64,
}

impl<T> TimerWheel<T> {
    /// A wheel holding at most `capacity` items, with `slots` buckets of
    /// `tick` each (`slots` is rounded up to a power of two).
    pub fn new(capacity: usize, tick: Nanos, slots: usize) -> TimerWheel<T> {
        assert!(tick.0 > 0, "tick must be positive");
        assert!(capacity < NIL as usize, "capacity too large");
        let slots = slots.max(1).next_power_of_two();
        let nodes: Box<[Node<T>]> = (0..capacity)
            .map(|i| Node {
                deadline: 0,
                next: if i + 1 < capacity { i as u32 + 1 } else { NIL },
                item: None,
            })
            .collect();
        TimerWheel {
            tick_ns: tick.0,
            mask: slots as u64 - 1,
            slots: vec![(NIL, NIL); slots].into_boxed_slice(),
            nodes,
            free: if capacity > 0 { 0 } else { NIL },
            len: 0,
            current: 0,
        }
    }

    /// The wheel flypaper uses for RST delay: 1 ms ticks, 16384 slots
    /// (one revolution is 16.4 s, longer than the largest allowed delay).
    pub fn for_rst_delay(capacity: usize) -> TimerWheel<T> {
        TimerWheel::new(capacity, Nanos::from_millis(1), 16_384)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.nodes.len()
    }

    /// Hold `item` until `deadline`. When the wheel is full the item is
    /// returned and nothing changes.
    pub fn insert(&mut self, deadline: Nanos, item: T) -> Result<(), T> {
        if self.free == NIL {
            return Err(item);
        }
        let idx = self.free;
        let node = &mut self.nodes[idx as usize];
        self.free = node.next;
        node.deadline = deadline.0;
        node.next = NIL;
        node.item = Some(item);
        // An already-due deadline goes into the slot processed next.
        let tick = (deadline.0 / self.tick_ns).max(self.current);
        let slot = &mut self.slots[(tick & self.mask) as usize];
        if slot.1 == NIL {
            *slot = (idx, idx);
        } else {
            let tail = slot.1;
            self.nodes[tail as usize].next = idx;
            slot.1 = idx;
        }
        self.len += 1;
        Ok(())
    }

    /// Deliver every item whose deadline is at or before `now`, in deadline
    /// order, to `deliver(deadline, item)`.
    pub fn poll(&mut self, now: Nanos, mut deliver: impl FnMut(Nanos, T)) {
        let target = now.0 / self.tick_ns;
        if self.len == 0 {
            self.current = self.current.max(target);
            return;
        }
        // Visiting more than one revolution finds nothing new.
        let last = target.min(self.current + self.mask);
        let mut tick = self.current;
        while tick <= last && self.len > 0 {
            self.drain_slot(tick, now.0, &mut deliver);
            tick += 1;
        }
        // The target tick may still hold items due later within it.
        self.current = self.current.max(target);
    }

    fn drain_slot(&mut self, tick: u64, now: u64, deliver: &mut impl FnMut(Nanos, T)) {
        let s = (tick & self.mask) as usize;
        let (mut cur, _) = self.slots[s];
        let mut prev = NIL;
        while cur != NIL {
            let next = self.nodes[cur as usize].next;
            if self.nodes[cur as usize].deadline <= now {
                // Unlink `cur`.
                if prev == NIL {
                    self.slots[s].0 = next;
                } else {
                    self.nodes[prev as usize].next = next;
                }
                if self.slots[s].1 == cur {
                    self.slots[s].1 = prev;
                }
                let node = &mut self.nodes[cur as usize];
                let deadline = node.deadline;
                let item = node.item.take();
                node.next = self.free;
                self.free = cur;
                self.len -= 1;
                if let Some(item) = item {
                    deliver(Nanos(deadline), item);
                }
            } else {
                prev = cur;
            }
            cur = next;
        }
    }

    /// Remove and deliver every item regardless of deadline (shutdown).
    pub fn drain_all(&mut self, mut deliver: impl FnMut(Nanos, T)) {
        self.poll(Nanos(u64::MAX), &mut deliver);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn ms(v: u64) -> Nanos {
        Nanos::from_millis(v)
    }

    fn due(w: &mut TimerWheel<u32>, now: Nanos) -> Vec<u32> {
        let mut out = Vec::new();
        w.poll(now, |_, i| out.push(i));
        out
    }

    #[test]
    fn delivers_at_deadline_not_before() {
        let mut w = TimerWheel::for_rst_delay(8);
        w.insert(ms(500), 1).unwrap();
        w.insert(Nanos(ms(500).0 + 1), 2).unwrap();
        assert!(due(&mut w, ms(499)).is_empty());
        assert!(due(&mut w, Nanos(ms(500).0 - 1)).is_empty());
        assert_eq!(due(&mut w, ms(500)), vec![1]);
        assert_eq!(due(&mut w, Nanos(ms(500).0 + 1)), vec![2]);
        assert!(w.is_empty());
    }

    #[test]
    fn delivers_in_deadline_order_fifo_on_ties() {
        let mut w = TimerWheel::for_rst_delay(16);
        for (i, d) in [(1, 700), (2, 500), (3, 500), (4, 600), (5, 2_000)] {
            w.insert(ms(d), i).unwrap();
        }
        assert_eq!(due(&mut w, ms(1_000)), vec![2, 3, 4, 1]);
        assert_eq!(due(&mut w, ms(5_000)), vec![5]);
    }

    #[test]
    fn full_wheel_returns_the_item_and_frees_on_delivery() {
        let mut w = TimerWheel::for_rst_delay(2);
        w.insert(ms(1), 1).unwrap();
        w.insert(ms(1), 2).unwrap();
        assert_eq!(w.insert(ms(1), 3), Err(3));
        assert_eq!(w.len(), 2);
        assert_eq!(due(&mut w, ms(1)), vec![1, 2]);
        w.insert(ms(2), 4).unwrap();
        assert_eq!(due(&mut w, ms(2)), vec![4]);
    }

    #[test]
    fn past_deadlines_and_long_gaps() {
        let mut w = TimerWheel::new(8, ms(1), 4);
        assert!(due(&mut w, ms(100)).is_empty());
        w.insert(ms(50), 1).unwrap(); // already due
        w.insert(ms(103), 2).unwrap();
        w.insert(ms(110), 3).unwrap(); // beyond one revolution (4 ms)
        assert_eq!(due(&mut w, ms(100)), vec![1]);
        assert_eq!(due(&mut w, ms(104)), vec![2]);
        assert!(due(&mut w, ms(109)).is_empty());
        // A gap of many revolutions still delivers.
        assert_eq!(due(&mut w, ms(1_000_000)), vec![3]);
    }

    #[test]
    fn zero_capacity_rejects_everything() {
        let mut w: TimerWheel<u32> = TimerWheel::for_rst_delay(0);
        assert_eq!(w.insert(ms(1), 7), Err(7));
    }

    #[test]
    fn drain_all_empties() {
        let mut w = TimerWheel::for_rst_delay(4);
        w.insert(ms(10), 1).unwrap();
        w.insert(ms(9_000), 2).unwrap();
        let mut out = Vec::new();
        w.drain_all(|_, i| out.push(i));
        assert_eq!(out, vec![1, 2]);
        assert!(w.is_empty());
    }
}

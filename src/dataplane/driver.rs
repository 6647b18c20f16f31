//! The one driver of a filter and its RST delay queue, shared by the
//! worker loop (frames in a UMEM or a buffer pool), `replay` (frames from
//! a capture) and the fuzz harness (frame numbers).
//!
//! The filter is sans-IO: it decides, counts, keeps the delay queue's books
//! and queues the frames it wants sent. The driver carries the verdicts
//! out: forwarded frames go out of the other port, dropped ones back to
//! their owner, delayed ones into a timer wheel of the same capacity as
//! the filter's books (released when due, before the next batch), and the
//! filter's own frames (`poll_transmit`) out of the port they name. What
//! "out of a port" means is the [`Sink`]'s business.

use crate::filter::{Filter, Nanos, Reason, Verdict, BATCH};
use crate::timer_wheel::TimerWheel;
use crate::Direction;

/// Where a driver's frames go. Port 0 is the WAN, 1 the LAN.
pub trait Sink<T> {
    /// Send `frame` out of `port`; `at` is when (now, or a delayed frame's
    /// release time).
    fn forward(&mut self, port: usize, at: Nanos, frame: T);
    /// `frame` was dropped.
    fn drop(&mut self, frame: T, reason: Reason);
    /// Send a frame the filter made (a SYN-ACK) out of `port`.
    fn send(&mut self, port: usize, at: Nanos, bytes: &[u8]);
    /// The filter's verdict on `frame`, which entered from `port`, before
    /// it is carried out (in monitor mode a drop is not carried out): for
    /// the drop capture.
    fn decided(&mut self, _frame: &T, _port: usize, _now: Nanos, _v: Verdict) {}
}

/// The port index of a direction.
pub fn port_of(d: Direction) -> usize {
    match d {
        Direction::Wan => 0,
        Direction::Lan => 1,
    }
}

/// A filter, its held frames, and the verdicts of the batch in hand.
pub struct Driver<T> {
    filter: Filter,
    wheel: TimerWheel<(usize, T)>,
    verdicts: [Verdict; BATCH],
    decided: usize,
}

impl<T> Driver<T> {
    /// A driver whose delay queue holds what the filter's books allow.
    pub fn new(filter: Filter) -> Driver<T> {
        let wheel = TimerWheel::for_rst_delay(filter.policy().tables.rst_queue);
        Driver::with_wheel(filter, wheel)
    }

    /// A driver with this wheel (the fuzz harness builds a small one per
    /// input); its capacity must be the filter's `tables.rst_queue`.
    pub fn with_wheel(filter: Filter, wheel: TimerWheel<(usize, T)>) -> Driver<T> {
        assert_eq!(
            wheel.capacity(),
            filter.policy().tables.rst_queue,
            "the wheel holds what the filter's books count"
        );
        Driver {
            filter,
            wheel,
            verdicts: [Verdict::Forward; BATCH],
            decided: 0,
        }
    }

    pub fn filter(&self) -> &Filter {
        &self.filter
    }

    pub fn filter_mut(&mut self) -> &mut Filter {
        &mut self.filter
    }

    /// Frames held for the RST delay.
    pub fn held(&self) -> usize {
        self.wheel.len()
    }

    /// Send the held frames that are due at `now`. Call before each batch
    /// with the batch's clock reading: the filter's books count a frame
    /// free from its release time on.
    pub fn release(&mut self, now: Nanos, sink: &mut impl Sink<T>) {
        self.wheel
            .poll(now, |at, (port, f)| sink.forward(port, at, f));
        self.filter.released(now);
    }

    /// Decide up to [`BATCH`] frames that entered from `dir` at `now`
    /// (their bytes); [`Driver::dispatch`] then carries the verdicts out.
    pub fn classify(&mut self, now: Nanos, dir: Direction, data: &[&[u8]]) -> &[Verdict] {
        assert!(data.len() <= BATCH, "at most one batch");
        self.decided = data.len();
        self.filter
            .process_batch(now, dir, data, &mut self.verdicts[..data.len()]);
        &self.verdicts[..data.len()]
    }

    /// Carry out the verdicts of the last [`Driver::classify`] for
    /// `frames` (the same frames, in order), then send what the filter
    /// asked to send.
    pub fn dispatch(
        &mut self,
        now: Nanos,
        dir: Direction,
        frames: impl IntoIterator<Item = T>,
        sink: &mut impl Sink<T>,
    ) {
        let port = port_of(dir);
        let out = 1 - port;
        // Monitor mode: every verdict counted, every frame forwarded.
        let mode = self.filter.policy().mode;
        let mut n = 0;
        for (f, v) in frames.into_iter().zip(self.verdicts[..self.decided].iter()) {
            n += 1;
            sink.decided(&f, port, now, *v);
            match mode.enact(*v) {
                Verdict::Forward => sink.forward(out, now, f),
                Verdict::Drop(r) => sink.drop(f, r),
                Verdict::Delay(at) => {
                    // The filter keeps the queue's books with the same
                    // capacity, so this fails only if they disagree.
                    if let Err((_, f)) = self.wheel.insert(at, (out, f)) {
                        debug_assert!(false, "RST wheel and filter disagree");
                        self.filter.overrule(dir, *v, Reason::RstQueueFull);
                        sink.drop(f, Reason::RstQueueFull);
                    }
                }
            }
        }
        assert_eq!(n, self.decided, "one frame per verdict");
        self.decided = 0;
        while let Some(t) = self.filter.poll_transmit() {
            // In monitor mode the appliance sends nothing of its own.
            if mode.enforces() {
                sink.send(port_of(t.port), now, t.frame());
            }
        }
    }

    /// Send every held frame at its release time (the frames were
    /// accepted): at stop, or at the end of a capture.
    pub fn finish(&mut self, sink: &mut impl Sink<T>) {
        self.wheel
            .drain_all(|at, (port, f)| sink.forward(port, at, f));
    }
}

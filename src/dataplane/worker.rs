//! One worker's loop: frames from both ports through its filter, the RST
//! delay queue, and the frames the filter asks to send.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use arrayvec::ArrayVec;
use crossbeam::channel;

use super::{Backend, DropTap, FrameRef, DIRS};
use crate::filter::{Event, Filter, Nanos, Reason, Stats, Verdict, BATCH};
use crate::timer_wheel::TimerWheel;
use crate::Direction;

/// What a worker reports to the control thread.
#[derive(Clone, Debug, Default)]
pub struct WorkerReport {
    pub stats: Stats,
    pub tx_errors: u64,
    /// Frames the kernel dropped before they reached the worker.
    pub kernel_drops: u64,
    /// RSTs held in the delay queue.
    pub rst_queue: usize,
    /// Per-source table: entries in use (idle ones not yet reclaimed
    /// count), capacity.
    pub sources: (usize, usize),
    /// Flow table: entries in use (expired ones not yet reclaimed count),
    /// capacity.
    pub flows: (usize, usize),
}

impl WorkerReport {
    /// Add another worker's report.
    pub fn merge(&mut self, o: &WorkerReport) {
        self.stats.merge(&o.stats);
        self.tx_errors += o.tx_errors;
        self.kernel_drops += o.kernel_drops;
        self.rst_queue += o.rst_queue;
        self.sources = (self.sources.0 + o.sources.0, self.sources.1 + o.sources.1);
        self.flows = (self.flows.0 + o.flows.0, self.flows.1 + o.flows.1);
    }
}

/// One worker's loop. Returns when `stop` is set; frames still held for the
/// RST delay are sent on the way out (they were accepted). Dropped frames
/// are offered to `tap` (`--capture-drops`). In monitor mode
/// (`filter.mode`) every frame is forwarded at once, whatever its verdict,
/// and the filter's SYN-ACKs are not sent.
pub fn worker_loop<B: Backend + ?Sized>(
    backend: &mut B,
    filter: &mut Filter,
    stop: &AtomicBool,
    events: &channel::Sender<Event>,
    report: &Mutex<WorkerReport>,
    busy_poll: bool,
    tap: Option<&DropTap>,
) -> io::Result<()> {
    let mode = filter.policy().mode;
    let mut wheel: TimerWheel<(usize, FrameRef)> =
        TimerWheel::for_rst_delay(filter.policy().tables.rst_queue);
    let mut verdicts = [Verdict::Forward; BATCH];
    let mut tx_errors = 0u64;
    let mut last_report = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let now = Nanos(crate::sys::monotonic_ns());
        wheel.poll(now, |_, (port, f)| backend.transmit(port, f));
        let mut got = 0;
        for (port, dir) in DIRS.iter().enumerate() {
            let mut frames: ArrayVec<FrameRef, BATCH> = ArrayVec::new();
            backend.recv(port, &mut frames)?;
            if frames.is_empty() {
                continue;
            }
            got += frames.len();
            {
                let data: ArrayVec<&[u8], BATCH> = frames.iter().map(|f| backend.data(f)).collect();
                filter.process_batch(now, *dir, &data, &mut verdicts);
            }
            let out = 1 - port;
            for (f, v) in frames.into_iter().zip(verdicts) {
                if let (Verdict::Drop(r), Some(tap)) = (v, tap) {
                    tap.offer(port, now, r, backend.data(&f));
                }
                match mode.enact(v) {
                    Verdict::Forward => backend.transmit(out, f),
                    Verdict::Drop(_) => backend.release(f),
                    Verdict::Delay(at) => {
                        // The filter keeps the queue's books with the same
                        // capacity, so this only fails if they disagree.
                        if let Err((_, f)) = wheel.insert(at, (out, f)) {
                            debug_assert!(false, "RST wheel and filter disagree");
                            filter.overrule(*dir, v, Reason::RstQueueFull);
                            backend.release(f);
                        }
                    }
                }
            }
            // SYN-ACKs leave by the port their SYN came in on.
            while let Some(t) = filter.poll_transmit() {
                if !mode.enforces() {
                    continue;
                }
                let port = match t.port {
                    Direction::Wan => 0,
                    Direction::Lan => 1,
                };
                if !backend.send(port, t.frame()) {
                    tx_errors += 1;
                }
            }
        }
        backend.flush()?;
        for (port, n) in backend.take_oversize().into_iter().enumerate() {
            filter.count_drops(DIRS[port], Reason::Oversize, n);
        }
        tx_errors += backend.take_tx_errors();
        for e in filter.drain_events() {
            // The control thread only logs; if it lags, the flies are in
            // the blacklist all the same.
            let _ = events.try_send(e);
        }
        if now.0 >= last_report + 100_000_000 {
            last_report = now.0;
            publish(report, filter, tx_errors, backend.kernel_drops());
        }
        if got == 0 {
            if busy_poll {
                // Keep the core: no wake-up latency, at the price of a core
                // that is always busy.
                std::hint::spin_loop();
            } else {
                // Sleep until traffic, or until the next delayed frame is due.
                backend.wait(if wheel.is_empty() { 50 } else { 1 })?;
            }
        }
    }
    wheel.drain_all(|_, (port, f)| backend.transmit(port, f));
    backend.flush()?;
    publish(report, filter, tx_errors, backend.kernel_drops());
    Ok(())
}

fn publish(report: &Mutex<WorkerReport>, filter: &Filter, tx_errors: u64, kernel_drops: u64) {
    let mut r = report.lock().unwrap_or_else(|e| e.into_inner());
    r.stats = filter.stats();
    r.tx_errors = tx_errors;
    r.kernel_drops = kernel_drops;
    r.rst_queue = filter.delayed_len();
    let (sources, flows) = filter.table_usage();
    let (sources_cap, flows_cap) = filter.table_capacity();
    r.sources = (sources, sources_cap);
    r.flows = (flows, flows_cap);
}

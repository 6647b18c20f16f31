//! One worker's loop: frames from both ports through its filter, the RST
//! delay queue, and the frames the filter asks to send.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use arrayvec::ArrayVec;
use crossbeam::channel;

use super::driver::{Driver, Sink};
use super::{Backend, DropTap, FrameRef, DIRS};
use crate::filter::{Event, Filter, Nanos, Policy, Reason, Stats, Verdict, BATCH};

/// What ties a worker to the control thread.
#[derive(Clone, Copy)]
pub struct Links<'a> {
    /// Set when the worker is to stop.
    pub stop: &'a AtomicBool,
    /// New flies and suspected forgeries, for the log and the XDP map.
    pub events: &'a channel::Sender<Event>,
    /// Reloads.
    pub commands: &'a channel::Receiver<WorkerCmd>,
    /// The worker's counters, published every 100 ms.
    pub report: &'a Mutex<WorkerReport>,
    /// `--capture-drops`.
    pub tap: Option<&'a DropTap>,
}

/// What the control thread asks of a worker.
pub enum WorkerCmd {
    /// Take this policy (between two batches), and say whether it did.
    Reload(Arc<Policy>, channel::Sender<Result<(), String>>),
}

/// What a worker reports to the control thread.
#[derive(Clone, Debug, Default)]
pub struct WorkerReport {
    pub stats: Stats,
    pub tx_errors: u64,
    /// Frames the kernel dropped before they reached the worker.
    pub kernel_drops: u64,
    /// RSTs held in the delay queue.
    pub rst_queue: usize,
    /// Events (new flies, suspects) the control thread's queue had no
    /// room for.
    pub events_unsent: u64,
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
        self.events_unsent += o.events_unsent;
        self.sources = (self.sources.0 + o.sources.0, self.sources.1 + o.sources.1);
        self.flows = (self.flows.0 + o.flows.0, self.flows.1 + o.flows.1);
    }
}

/// A backend as a driver's sink: forwarding transmits, dropping releases
/// the buffer, the filter's own frames are copied into a free buffer.
struct BackendSink<'a, B: ?Sized> {
    backend: &'a mut B,
    tx_errors: &'a mut u64,
    /// `--capture-drops`.
    tap: Option<&'a DropTap>,
}

impl<B: Backend + ?Sized> Sink<FrameRef> for BackendSink<'_, B> {
    fn forward(&mut self, port: usize, _at: Nanos, f: FrameRef) {
        self.backend.transmit(port, f);
    }

    fn drop(&mut self, f: FrameRef, _reason: Reason) {
        self.backend.release(f);
    }

    fn send(&mut self, port: usize, _at: Nanos, bytes: &[u8]) {
        if !self.backend.send(port, bytes) {
            *self.tx_errors += 1;
        }
    }

    fn decided(&mut self, f: &FrameRef, port: usize, now: Nanos, v: Verdict) {
        if let (Verdict::Drop(r), Some(tap)) = (v, self.tap) {
            tap.offer(port, now, r, self.backend.data(f));
        }
    }
}

/// One worker's loop. Returns when `stop` is set; frames still held for the
/// RST delay are sent on the way out (they were accepted). Dropped frames
/// are offered to `tap` (`--capture-drops`). In monitor mode
/// (`filter.mode`) every frame is forwarded at once, whatever its verdict,
/// and the filter's SYN-ACKs are not sent.
pub fn worker_loop<B: Backend + ?Sized>(
    backend: &mut B,
    driver: &mut Driver<FrameRef>,
    links: &Links<'_>,
    busy_poll: bool,
) -> io::Result<()> {
    let Links {
        stop,
        events,
        commands,
        report,
        tap,
    } = *links;
    let mut tx_errors = 0u64;
    let mut events_unsent = 0u64;
    let mut last_report = 0u64;
    while !stop.load(Ordering::Relaxed) {
        // Between batches: a policy swap never splits one.
        while let Ok(cmd) = commands.try_recv() {
            match cmd {
                WorkerCmd::Reload(policy, reply) => {
                    let _ = reply.send(driver.filter_mut().reload(policy));
                }
            }
        }
        let now = Nanos(crate::sys::monotonic_ns());
        driver.release(
            now,
            &mut BackendSink {
                backend: &mut *backend,
                tx_errors: &mut tx_errors,
                tap,
            },
        );
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
                driver.classify(now, *dir, &data);
            }
            let mut sink = BackendSink {
                backend: &mut *backend,
                tx_errors: &mut tx_errors,
                tap,
            };
            driver.dispatch(now, *dir, frames, &mut sink);
        }
        backend.flush()?;
        for (port, n) in backend.take_oversize().into_iter().enumerate() {
            driver
                .filter_mut()
                .count_drops(DIRS[port], Reason::Oversize, n);
        }
        tx_errors += backend.take_tx_errors();
        for e in driver.filter_mut().drain_events() {
            // Logs and the XDP map's fast path; the fly store reconciles
            // the map with the blacklist, so an event that does not fit
            // costs a few seconds, not a fly. Counted, never silent.
            if events.try_send(e).is_err() {
                events_unsent += 1;
            }
        }
        if now.0 >= last_report + 100_000_000 {
            last_report = now.0;
            publish(
                report,
                driver.filter(),
                (tx_errors, events_unsent),
                backend.kernel_drops(),
            );
        }
        if got == 0 {
            if busy_poll {
                // Keep the core: no wake-up latency, at the price of a core
                // that is always busy.
                std::hint::spin_loop();
            } else {
                // Sleep until traffic, or until the next delayed frame is due.
                backend.wait(if driver.held() == 0 { 50 } else { 1 })?;
            }
        }
    }
    driver.finish(&mut BackendSink {
        backend: &mut *backend,
        tx_errors: &mut tx_errors,
        tap,
    });
    backend.flush()?;
    publish(
        report,
        driver.filter(),
        (tx_errors, events_unsent),
        backend.kernel_drops(),
    );
    Ok(())
}

fn publish(
    report: &Mutex<WorkerReport>,
    filter: &Filter,
    (tx_errors, events_unsent): (u64, u64),
    kernel_drops: u64,
) {
    let mut r = report.lock().unwrap_or_else(|e| e.into_inner());
    r.stats = filter.stats();
    r.tx_errors = tx_errors;
    r.events_unsent = events_unsent;
    r.kernel_drops = kernel_drops;
    r.rst_queue = filter.delayed_len();
    let (sources, flows) = filter.table_usage();
    let (sources_cap, flows_cap) = filter.table_capacity();
    r.sources = (sources, sources_cap);
    r.flows = (flows, flows_cap);
}

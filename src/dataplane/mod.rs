//! The data path: worker threads that move frames between the two ports
//! through the filter. Each backend lives in its own file (`afxdp`,
//! `afpacket`); `worker` is the loop they share.
//!
//! Each worker owns a `Filter` (its per-source buckets and flows), a timer
//! wheel for delayed RSTs, and a backend that gives it frames from both
//! ports. The loop: read the clock once per round; release the delayed
//! frames that are due; for each port read a batch, decide it with
//! `process_batch`, and forward, drop or hold each frame; flush; hand new
//! flies to the control thread; sleep in `poll` only when there was nothing
//! to do. The control thread (the caller of [`run`]) logs lock-outs, expires
//! flies, sums the workers' counters and writes the stats file.

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrayvec::ArrayVec;
use crossbeam::channel;

use crate::eventlog::{EventLog, Kind as LogKind};
use crate::filter::{hash, Class, Event, Filter, FlyEntry, Nanos, Policy, Shared, Stats, BATCH};
use crate::sys::afpacket::set_gro;
use crate::sys::{signal, xdp};
use crate::Direction;

mod afpacket;
mod afxdp;
mod worker;

use crate::daemon::stats::{stats_json, write_atomically};
pub use afpacket::{AfPacket, SLOT};
use afxdp::open_afxdp;
pub use afxdp::AfXdp;
pub use worker::{worker_loop, WorkerReport};

/// A frame held by a backend: an opaque id (a buffer slot, a UMEM address)
/// and its length. Owned: it goes back to the backend exactly once, by
/// `transmit` or `release`.
#[derive(Debug, PartialEq, Eq)]
pub struct FrameRef {
    pub id: u64,
    pub len: u32,
}

/// Where frames come from and go to. Port 0 is the WAN, port 1 the LAN.
pub trait Backend {
    /// Receive up to `BATCH - out.len()` frames from `port`.
    fn recv(&mut self, port: usize, out: &mut ArrayVec<FrameRef, BATCH>) -> io::Result<()>;
    /// The bytes of a held frame.
    fn data(&self, f: &FrameRef) -> &[u8];
    /// Send `f` out of `port` (returns the frame's resources to the backend).
    fn transmit(&mut self, port: usize, f: FrameRef);
    /// Drop `f`.
    fn release(&mut self, f: FrameRef);
    /// Send a copy of `bytes` (a frame the filter made) out of `port`.
    /// False when no buffer is free.
    fn send(&mut self, port: usize, bytes: &[u8]) -> bool;
    /// Push out queued transmissions and recycle completed buffers.
    fn flush(&mut self) -> io::Result<()>;
    /// Block until a port has frames or `timeout_ms` passes.
    fn wait(&mut self, timeout_ms: i32) -> io::Result<()>;
    /// Frames too large for a buffer, per port, since the last call.
    fn take_oversize(&mut self) -> [u64; 2];
    /// Frames that could not be transmitted (queue full), since the last call.
    fn take_tx_errors(&mut self) -> u64;
    /// Frames the kernel dropped before they reached the worker (receive
    /// queue or ring full, no free buffer, too large for a buffer), in all.
    /// A syscall: call it now and then, not per batch.
    fn kernel_drops(&mut self) -> u64;
}

pub(crate) const DIRS: [Direction; 2] = [Direction::Wan, Direction::Lan];

/// Which backend `run` uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    /// AF_XDP where it binds, else AF_PACKET.
    Auto,
    AfXdp,
    AfPacket,
}

pub struct RunConfig {
    pub wan: String,
    pub lan: String,
    pub policy: Policy,
    pub workers: usize,
    pub backend: BackendKind,
    pub stats_file: Option<PathBuf>,
    /// Workers spin on their rings instead of sleeping when idle.
    pub busy_poll: bool,
    /// Pin the XDP program's maps in this directory (AF_XDP only).
    pub pin_maps: Option<PathBuf>,
}

/// Bridge two interfaces until SIGINT or SIGTERM.
///
/// The worker thread owns the backend and the filter; this (control)
/// thread logs lock-outs, copies new flies into the XDP program's map (so
/// a fly's frames are dropped in the kernel from then on), expires flies,
/// and writes the stats file. On exit the worker stops first (closing its
/// sockets), then the XDP program is detached: its attachments are
/// bpf_links owned by this process, so a SIGKILL detaches them too.
pub fn run(cfg: RunConfig) -> io::Result<()> {
    signal::install()?;
    let policy = Arc::new(cfg.policy.clone());
    let seed = hash::random_seed();
    let shared = Arc::new(Shared::new(&policy, seed));
    let blacklist = &shared.blacklist;
    let cores = core_affinity::get_core_ids().unwrap_or_default();

    let mut prog: Option<xdp::XdpProgram> = None;
    let mut backends: Vec<Box<dyn Backend + Send>> = Vec::new();
    let want_xdp = match cfg.backend {
        BackendKind::AfXdp | BackendKind::Auto => true,
        BackendKind::AfPacket => false,
    };
    if cfg.pin_maps.is_some() && !want_xdp {
        return Err(io::Error::other(
            "--pin-maps pins the XDP program's maps: it needs the AF_XDP backend",
        ));
    }
    if want_xdp {
        match open_afxdp(&cfg, &policy) {
            Ok((mut p, b)) => {
                if let Some(dir) = &cfg.pin_maps {
                    p.pin_maps(dir)
                        .map_err(|e| io::Error::other(format!("--pin-maps: {e}")))?;
                    println!(
                        "XDP maps pinned in {}: {}",
                        dir.display(),
                        xdp::PINNED_MAPS.join(", ")
                    );
                }
                prog = Some(p);
                backends.push(Box::new(b));
                if cfg.workers > 1 {
                    println!(
                        "note: AF_XDP runs one worker per port queue and binds queue 0 only: --workers {} would need symmetric RSS over several queues (both directions of a flow on the same queue number), which this build does not set up",
                        cfg.workers
                    );
                }
            }
            Err(e) if cfg.backend == BackendKind::AfXdp => return Err(io::Error::other(e)),
            Err(e) if cfg.pin_maps.is_some() => {
                return Err(io::Error::other(format!(
                    "AF_XDP unavailable ({e}), and --pin-maps needs it"
                )))
            }
            Err(e) => println!("backend auto: AF_XDP unavailable ({e}); falling back to AF_PACKET"),
        }
    }

    // A packet socket reads frames after GRO: turn it off so that every
    // frame read is a wire frame that can be sent out again.
    let mut restore_gro = Vec::new();
    if backends.is_empty() {
        for name in [&cfg.wan, &cfg.lan] {
            match set_gro(name, false) {
                Ok(true) => restore_gro.push(name.clone()),
                Ok(false) => {}
                Err(e) => println!(
                    "{name}: cannot turn GRO off ({e}); merged frames will be dropped as oversize"
                ),
            }
        }
        let workers = cfg.workers.max(1);
        let buffers = 2 * BATCH + policy.tables.rst_queue + 16;
        // Fanout group ids are per network namespace: derive them from the pid.
        let base = (std::process::id() as u16 & 0x7fff) << 1;
        let fanout = (workers > 1).then_some([base, base | 1]);
        for _ in 0..workers {
            backends.push(Box::new(AfPacket::open(
                &cfg.wan, &cfg.lan, buffers, fanout,
            )?));
        }
        println!(
            "backend afpacket: wan {}, lan {}; {workers} worker(s){}, {buffers} frame buffers each",
            cfg.wan,
            cfg.lan,
            if fanout.is_some() {
                " sharing each port by flow hash (PACKET_FANOUT_HASH)"
            } else {
                ""
            }
        );
    }

    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = channel::bounded::<Event>(4096);
    let busy_poll = cfg.busy_poll;
    let mut workers = Vec::new();
    let mut reports = Vec::new();
    for (i, mut backend) in backends.into_iter().enumerate() {
        let report = Arc::new(Mutex::new(WorkerReport::default()));
        reports.push(Arc::clone(&report));
        let stop = Arc::clone(&stop);
        let tx = tx.clone();
        let core = cores.get(i % cores.len().max(1)).copied();
        let mut filter = Filter::new(Arc::clone(&policy), Arc::clone(&shared), seed ^ i as u64);
        workers.push(
            std::thread::Builder::new()
                .name(format!("flypaper-worker-{i}"))
                .spawn(move || {
                    match core {
                        Some(c) if core_affinity::set_for_current(c) => {}
                        _ => println!("worker {i}: not pinned to a core"),
                    }
                    worker_loop(&mut *backend, &mut filter, &stop, &tx, &report, busy_poll)
                })?,
        );
        println!(
            "worker {i} on core {}{}",
            core.map_or(-1, |c| c.id as i64),
            if busy_poll { ", busy polling" } else { "" }
        );
    }
    drop(tx);
    println!("ready");

    let mut log = EventLog::new(|line: &str| println!("{line}"));
    // Proven flies and operators' blocks are dropped in the XDP program
    // too; unproven ones only in userspace, where a reply on a flow the
    // LAN opened can still be let through.
    let in_kernel = |e: &FlyEntry| e.class() != Class::Unproven;
    let on_event = |e: Event, log: &mut EventLog<_>| {
        let now = Nanos(crate::sys::monotonic_ns());
        match e {
            Event::Lockout(e) => {
                log.log(now, LogKind::Lockout, || e.lockout_line());
                if let (Some(p), true) = (&prog, in_kernel(&e)) {
                    if let Err(err) = p.set_fly(e.addr.0, e.expires.0) {
                        println!(
                            "{}: not copied to the XDP program ({err}); userspace still drops it",
                            e.target()
                        );
                    }
                }
            }
            Event::Evicted(e) => {
                if let (Some(p), true) = (&prog, in_kernel(&e)) {
                    let _ = p.remove_fly(e.addr.0);
                }
            }
            Event::Suspect { addr, proto, port } => {
                log.log(now, LogKind::Suspect, || {
                    format!(
                        "suspect {addr}, who tried {}-port {port}: vouched for by a live conversation or a LAN address, not locked out (a forged packet?)",
                        proto.as_str()
                    )
                });
            }
        }
    };
    let write_stats = |final_line: bool| -> io::Result<()> {
        let mut st = Stats::default();
        let (mut tx_errors, mut kernel_drops, mut rst_queue) = (0, 0, 0);
        for r in &reports {
            let r = r.lock().unwrap_or_else(|e| e.into_inner());
            st.merge(&r.stats);
            tx_errors += r.tx_errors;
            kernel_drops += r.kernel_drops;
            rst_queue += r.rst_queue;
        }
        let now = Nanos(crate::sys::monotonic_ns());
        let counters = prog.as_ref().and_then(|p| p.counters().ok());
        let json = stats_json(
            &st,
            (tx_errors, kernel_drops, rst_queue),
            &blacklist.list(now),
            now,
            counters.as_ref(),
        );
        if let Some(p) = &cfg.stats_file {
            write_atomically(p, &json)?;
        }
        if final_line {
            println!("stats {json}");
        }
        Ok(())
    };
    let mut last_sweep = 0u64;
    while !signal::stop_requested() && !workers.iter().any(|w| w.is_finished()) {
        // Wait up to 200 ms for a lock-out, then take what else is queued
        // (bounded, so a storm of lock-outs cannot starve stats or stop).
        if let Ok(e) = rx.recv_timeout(Duration::from_millis(200)) {
            on_event(e, &mut log);
            for e in rx.try_iter().take(4096) {
                on_event(e, &mut log);
            }
        }
        let now = crate::sys::monotonic_ns();
        log.tick(Nanos(now));
        if now >= last_sweep + 1_000_000_000 {
            last_sweep = now;
            blacklist.sweep(Nanos(now), |e| {
                log.log(Nanos(now), LogKind::Release, || {
                    format!("release {}, lock-out expired", e.target())
                });
                if let (Some(p), true) = (&prog, in_kernel(&e)) {
                    let _ = p.remove_fly(e.addr.0);
                }
            });
        }
        write_stats(false)?;
    }
    stop.store(true, Ordering::SeqCst);
    let mut result = Ok(());
    for w in workers {
        let r = w.join().map_err(|_| io::Error::other("worker panicked"))?;
        if result.is_ok() {
            result = r;
        }
    }
    for e in rx.try_iter() {
        on_event(e, &mut log);
    }
    log.finish();
    for name in &restore_gro {
        let _ = set_gro(name, true);
    }
    write_stats(true)?;
    drop(prog);
    result
}

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
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use arrayvec::ArrayVec;
use crossbeam::channel;

use crate::filter::{hash, Event, Filter, Policy, Shared, BATCH};
use crate::sys::afpacket::set_gro;
use crate::sys::{signal, xdp};
use crate::Direction;

mod afpacket;
mod afxdp;
pub mod driver;
pub mod dropcap;
pub mod mem;
mod worker;

use crate::daemon::{persist, Daemon, PortInfo, RunInfo};
pub use afpacket::{AfPacket, SLOT};
use afxdp::open_afxdp;
pub use afxdp::AfXdp;
pub use dropcap::{DropCapConfig, DropCapture, DropTap};
pub use worker::{worker_loop, Links, WorkerCmd, WorkerReport};

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
    /// The policy file and the SHA-256 of its bytes (`status`).
    pub config_file: Option<PathBuf>,
    pub config_sha256: Option<String>,
    /// The control socket to listen on (`None`: no verbs).
    pub socket: Option<PathBuf>,
    /// Serve the metrics (Prometheus text format) over HTTP here.
    pub metrics: Option<std::net::SocketAddr>,
    /// Write the dropped frames to a pcapng file.
    pub capture_drops: Option<DropCapConfig>,
    /// Where the flies are saved and restored from (`None`: nowhere).
    pub state_dir: Option<PathBuf>,
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
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    // Before any interface is touched: a file that cannot be created fails here.
    let (drop_capture, taps) = match &cfg.capture_drops {
        Some(c) => {
            let (cap, taps) = DropCapture::start(c, cfg.workers)?;
            println!(
                "capture-drops: {} (at most {} frames/s, {} bytes)",
                c.path.display(),
                c.rate,
                c.max_bytes
            );
            (Some(cap), taps)
        }
        None => (None, Vec::new()),
    };
    let mut taps = taps.into_iter();
    if !policy.mode.enforces() {
        println!(
            "mode monitor: every verdict is counted, every frame is forwarded at once; no fly is copied into the XDP program"
        );
    }

    let mut prog: Option<xdp::XdpProgram> = None;
    let mut ports = Vec::new();
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
            Ok((mut p, b, port_info)) => {
                ports = port_info;
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
        ports = [("wan", &cfg.wan), ("lan", &cfg.lan)]
            .into_iter()
            .map(|(role, name)| PortInfo {
                role,
                name: name.clone(),
                xdp: None,
                socket: "AF_PACKET".into(),
            })
            .collect();
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

    // The saved flies, before any worker looks at the blacklist.
    let state = match &cfg.state_dir {
        Some(dir) => {
            persist::restore_at_start(dir, &shared.blacklist, prog.as_ref());
            Some(persist::Saver::start(
                dir.clone(),
                shared.blacklist.generation(),
            )?)
        }
        None => None,
    };

    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = channel::bounded::<Event>(4096);
    let busy_poll = cfg.busy_poll;
    let mut workers = Vec::new();
    let mut reports = Vec::new();
    let mut commands = Vec::new();
    for (i, mut backend) in backends.into_iter().enumerate() {
        let (cmd_tx, cmd_rx) = channel::bounded::<WorkerCmd>(4);
        commands.push(cmd_tx);
        let report = Arc::new(Mutex::new(WorkerReport::default()));
        reports.push(Arc::clone(&report));
        let stop = Arc::clone(&stop);
        let tx = tx.clone();
        let core = cores.get(i % cores.len().max(1)).copied();
        let filter = Filter::new(Arc::clone(&policy), Arc::clone(&shared), seed ^ i as u64);
        let mut driver = driver::Driver::new(filter);
        let tap = taps.next();
        workers.push(
            std::thread::Builder::new()
                .name(format!("flypaper-worker-{i}"))
                .spawn(move || {
                    match core {
                        Some(c) if core_affinity::set_for_current(c) => {}
                        _ => println!("worker {i}: not pinned to a core"),
                    }
                    worker_loop(
                        &mut *backend,
                        &mut driver,
                        &Links {
                            stop: &stop,
                            events: &tx,
                            commands: &cmd_rx,
                            report: &report,
                            tap: tap.as_ref(),
                        },
                        busy_poll,
                    )
                })?,
        );
        println!(
            "worker {i} on core {}{}",
            core.map_or(-1, |c| c.id as i64),
            if busy_poll { ", busy polling" } else { "" }
        );
    }
    drop(tx);
    // Taps no worker took (AF_XDP runs one): the writer ends with the workers.
    drop(taps);

    let info = RunInfo {
        backend: if prog.is_some() { "afxdp" } else { "afpacket" },
        ports,
        config: cfg.config_file.clone(),
        config_sha256: cfg.config_sha256.clone(),
    };
    let daemon = Daemon {
        policy: Arc::clone(&policy),
        shared,
        prog,
        workers,
        reports,
        commands,
        events: rx,
        stats_file: cfg.stats_file.clone(),
        socket: cfg.socket.clone(),
        info,
        metrics: cfg.metrics,
        drop_capture,
        state,
    };
    let result = daemon.run(&stop);
    for name in &restore_gro {
        let _ = set_gro(name, true);
    }
    result
}

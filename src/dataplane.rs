//! The data path: worker threads that move frames between the two ports
//! through the filter.
//!
//! Each worker owns a `Filter` (its per-source buckets and flows), a timer
//! wheel for delayed RSTs, and a backend that gives it frames from both
//! ports. The loop: read the clock once per round; release the delayed
//! frames that are due; for each port read a batch, decide it with
//! `process_batch`, and forward, drop or hold each frame; flush; hand new
//! flies to the control thread; sleep in `poll` only when there was nothing
//! to do. The control thread (the caller of [`run`]) logs lock-outs, expires
//! flies, sums the workers' counters and writes the stats file.

use std::collections::BTreeMap;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrayvec::ArrayVec;
use crossbeam::channel;

use crate::eventlog::{EventLog, Kind as LogKind};
use crate::filter::{
    hash, Class, Event, Filter, FlyEntry, Nanos, Policy, Reason, Shared, Stats, Verdict, BATCH,
};
use crate::sys::{afpacket, signal, xdp, xsk};
use crate::timer_wheel::TimerWheel;
use crate::Direction;

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

const DIRS: [Direction; 2] = [Direction::Wan, Direction::Lan];

/// Frame buffers of the AF_PACKET backend: 2 KiB slots (1500-byte MTU,
/// VLAN tags and headroom for a reinserted tag); larger frames are dropped
/// as `oversize`.
pub const SLOT: usize = 2048;

/// The AF_PACKET backend of one worker: a socket per port and a fixed pool
/// of buffers (frames are copied in and out).
pub struct AfPacket {
    socks: [afpacket::PacketSocket; 2],
    pool: Vec<u8>,
    free: Vec<u32>,
    oversize: [u64; 2],
    tx_errors: u64,
    kernel_drops: u64,
}

impl AfPacket {
    /// Open both ports; `buffers` bounds the frames held at once (a batch
    /// per port plus the RST delay queue).
    pub fn open(
        wan: &str,
        lan: &str,
        buffers: usize,
        fanout: Option<[u16; 2]>,
    ) -> io::Result<AfPacket> {
        let socks = [
            afpacket::PacketSocket::open(wan)?,
            afpacket::PacketSocket::open(lan)?,
        ];
        if let Some(groups) = fanout {
            for (s, g) in socks.iter().zip(groups) {
                s.join_fanout(g)?;
            }
        }
        Ok(AfPacket {
            socks,
            pool: vec![0u8; buffers * SLOT],
            free: (0..buffers as u32).rev().collect(),
            oversize: [0; 2],
            tx_errors: 0,
            kernel_drops: 0,
        })
    }

    fn slot(&self, id: u64) -> &[u8] {
        let s = id as usize * SLOT;
        &self.pool[s..s + SLOT]
    }
}

impl Backend for AfPacket {
    fn recv(&mut self, port: usize, out: &mut ArrayVec<FrameRef, BATCH>) -> io::Result<()> {
        while !out.is_full() {
            let Some(id) = self.free.pop() else { break };
            let s = id as usize * SLOT;
            match self.socks[port].recv(&mut self.pool[s..s + SLOT])? {
                afpacket::Recv::Frame(n) => out.push(FrameRef {
                    id: id as u64,
                    len: n as u32,
                }),
                afpacket::Recv::Oversize(_) => {
                    self.oversize[port] += 1;
                    self.free.push(id);
                }
                afpacket::Recv::Empty => {
                    self.free.push(id);
                    break;
                }
            }
        }
        Ok(())
    }

    fn data(&self, f: &FrameRef) -> &[u8] {
        &self.slot(f.id)[..f.len as usize]
    }

    fn transmit(&mut self, port: usize, f: FrameRef) {
        match self.socks[port].send(self.data(&f)) {
            Ok(true) => {}
            Ok(false) | Err(_) => self.tx_errors += 1,
        }
        self.release(f);
    }

    fn release(&mut self, f: FrameRef) {
        self.free.push(f.id as u32);
    }

    fn send(&mut self, port: usize, bytes: &[u8]) -> bool {
        let Some(id) = self.free.pop() else {
            return false;
        };
        let s = id as usize * SLOT;
        let len = bytes.len().min(SLOT);
        self.pool[s..s + len].copy_from_slice(&bytes[..len]);
        self.transmit(
            port,
            FrameRef {
                id: u64::from(id),
                len: len as u32,
            },
        );
        true
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn wait(&mut self, timeout_ms: i32) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        afpacket::poll_readable(
            [self.socks[0].as_raw_fd(), self.socks[1].as_raw_fd()],
            timeout_ms,
        )
        .map(|_| ())
    }

    fn take_oversize(&mut self) -> [u64; 2] {
        std::mem::take(&mut self.oversize)
    }

    fn take_tx_errors(&mut self) -> u64 {
        std::mem::take(&mut self.tx_errors)
    }

    fn kernel_drops(&mut self) -> u64 {
        for s in &self.socks {
            self.kernel_drops += s.take_drops().unwrap_or(0);
        }
        self.kernel_drops
    }
}

/// Headroom before a frame's data in a UMEM frame.
const XSK_HEADROOM: u64 = 256;

/// The AF_XDP backend of one worker: one socket per port on queue 0, both
/// on one UMEM, so forwarding puts the received descriptor on the other
/// port's TX ring and no byte is copied.
pub struct AfXdp {
    umem: xsk::Umem,
    socks: [xsk::Xsk; 2],
    /// Frames the worker owns and has not given to the kernel.
    free: Vec<u64>,
    descs: [xsk::Desc; BATCH],
    done: Vec<u64>,
    tx_errors: u64,
}

impl AfXdp {
    /// Bind both ports. Frames: both fill, RX and TX rings full, plus the
    /// RST delay queue and a batch per port. Received data starts 256 bytes
    /// into a 2048-byte frame, so the largest frame is 1792 bytes (a
    /// 1500-byte MTU with two VLAN tags fits); the kernel drops larger ones.
    pub fn open(wan_ifindex: u32, lan_ifindex: u32, rst_queue: usize) -> io::Result<AfXdp> {
        let cfg = xsk::XskConfig::default();
        let frames =
            2 * (cfg.fill_size + cfg.rx_size + cfg.tx_size) + rst_queue as u32 + 2 * BATCH as u32;
        let umem = xsk::Umem::new(frames, 2048)?;
        let wan = xsk::Xsk::bind(&umem, wan_ifindex, 0, &cfg, None)?;
        let lan = xsk::Xsk::bind(&umem, lan_ifindex, 0, &cfg, Some(&wan))?;
        let free: Vec<u64> = umem.frame_addrs().collect();
        let mut b = AfXdp {
            umem,
            socks: [wan, lan],
            free,
            descs: [xsk::Desc { addr: 0, len: 0 }; BATCH],
            done: vec![0; cfg.comp_size as usize],
            tx_errors: 0,
        };
        b.refill();
        Ok(b)
    }

    /// Give free frames to both fill rings, half each.
    fn refill(&mut self) {
        for port in 0..2 {
            let room = self.socks[port].fill_free() as usize;
            let give = room.min(self.free.len() / (2 - port));
            if give > 0 {
                let from = self.free.len() - give;
                let n = self.socks[port].fill(&self.free[from..]);
                self.free.truncate(self.free.len() - n);
            }
        }
    }

    pub fn modes(&self) -> [xsk::BindMode; 2] {
        [self.socks[0].mode(), self.socks[1].mode()]
    }

    pub fn fds(&self) -> [std::os::fd::RawFd; 2] {
        [self.socks[0].fd(), self.socks[1].fd()]
    }
}

impl Backend for AfXdp {
    fn recv(&mut self, port: usize, out: &mut ArrayVec<FrameRef, BATCH>) -> io::Result<()> {
        let room = out.remaining_capacity();
        let n = self.socks[port].rx(&mut self.descs[..room]);
        for d in &self.descs[..n] {
            out.push(FrameRef {
                id: d.addr,
                len: d.len,
            });
        }
        Ok(())
    }

    fn data(&self, f: &FrameRef) -> &[u8] {
        self.umem.frame(f.id, f.len as usize)
    }

    fn transmit(&mut self, port: usize, f: FrameRef) {
        if self.socks[port].tx(&[xsk::Desc {
            addr: f.id,
            len: f.len,
        }]) == 0
        {
            self.tx_errors += 1;
            self.release(f);
        }
    }

    fn release(&mut self, f: FrameRef) {
        self.free.push(self.umem.frame_base(f.id));
    }

    fn send(&mut self, port: usize, bytes: &[u8]) -> bool {
        let Some(base) = self.free.pop() else {
            return false;
        };
        // Where the kernel would have put a received frame.
        let addr = base + XSK_HEADROOM;
        self.umem
            .frame_mut(addr, bytes.len())
            .copy_from_slice(bytes);
        self.transmit(
            port,
            FrameRef {
                id: addr,
                len: bytes.len() as u32,
            },
        );
        true
    }

    fn flush(&mut self) -> io::Result<()> {
        for port in 0..2 {
            // Copy mode sends at most 32 descriptors per kick: kick
            // whenever anything is outstanding, not only after a submit.
            if self.socks[port].tx_outstanding() > 0 {
                self.socks[port].kick_tx()?;
            }
            let n = self.socks[port].completed(&mut self.done);
            for &a in &self.done[..n] {
                self.free.push(self.umem.frame_base(a));
            }
        }
        self.refill();
        for s in &self.socks {
            if s.rx_needs_wakeup() {
                s.wake_rx()?;
            }
        }
        Ok(())
    }

    fn wait(&mut self, timeout_ms: i32) -> io::Result<()> {
        xsk::poll(&[&self.socks[0], &self.socks[1]], timeout_ms).map(|_| ())
    }

    fn take_oversize(&mut self) -> [u64; 2] {
        // The UMEM frame is the MTU's limit: the kernel drops larger frames
        // before they reach the ring (counted in the socket's stats).
        [0; 2]
    }

    fn take_tx_errors(&mut self) -> u64 {
        std::mem::take(&mut self.tx_errors)
    }

    fn kernel_drops(&mut self) -> u64 {
        self.socks
            .iter()
            .filter_map(|s| s.stats().ok())
            .map(|st| st.rx_dropped + st.rx_ring_full)
            .sum()
    }
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
}

/// One worker's loop. Returns when `stop` is set; frames still held for the
/// RST delay are sent on the way out (they were accepted).
pub fn worker_loop<B: Backend + ?Sized>(
    backend: &mut B,
    filter: &mut Filter,
    stop: &AtomicBool,
    events: &channel::Sender<Event>,
    report: &Mutex<WorkerReport>,
    busy_poll: bool,
) -> io::Result<()> {
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
                match v {
                    Verdict::Forward => backend.transmit(out, f),
                    Verdict::Drop(_) => backend.release(f),
                    Verdict::Delay(at) => {
                        // The filter keeps the queue's books with the same
                        // capacity, so this only fails if they disagree.
                        if let Err((_, f)) = wheel.insert(at, (out, f)) {
                            debug_assert!(false, "RST wheel and filter disagree");
                            filter.overrule(v, Reason::RstQueueFull);
                            backend.release(f);
                        }
                    }
                }
            }
            // SYN-ACKs leave by the port their SYN came in on.
            while let Some(t) = filter.poll_transmit() {
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
}

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

/// One fly as the stats file lists it.
#[derive(serde::Serialize)]
struct FlyJson {
    /// Address, or prefix when the fly is more than one address.
    addr: String,
    reason: &'static str,
    /// "tcp", "udp", "icmp", "ip" or "operator".
    proto: &'static str,
    port: u16,
    class: &'static str,
    proven: bool,
    expires_in_s: u64,
}

/// The stats file: every counter the filter keeps, the RST queue, the
/// flies, and the XDP program's counters.
#[derive(serde::Serialize)]
struct StatsJson<'a> {
    frames_wan: u64,
    frames_lan: u64,
    forwarded: u64,
    delayed: u64,
    tx_errors: u64,
    kernel_drops: u64,
    drops: BTreeMap<&'static str, u64>,
    malformed: BTreeMap<&'static str, u64>,
    fragment_evictions: u64,
    source_evictions: u64,
    flow_evictions: u64,
    events_lost: u64,
    flies_added: u64,
    flies_refused: u64,
    flies_evicted: u64,
    flies_proven: u64,
    synacks: u64,
    synacks_limited: u64,
    synacks_lost: u64,
    rst_queue: usize,
    flies: usize,
    /// Addresses (or prefixes) of the flies.
    fly_list: Vec<String>,
    fly_detail: Vec<FlyJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    xdp: Option<&'a xdp::XdpCounters>,
}

/// Everything the control thread knows, as the stats file's JSON.
pub fn stats_json(
    st: &Stats,
    (tx_errors, kernel_drops, rst_queue): (u64, u64, usize),
    flies: &[FlyEntry],
    now: Nanos,
    xdp: Option<&xdp::XdpCounters>,
) -> String {
    let fly_detail = flies
        .iter()
        .map(|f| FlyJson {
            addr: f.target(),
            reason: f.reason.as_str(),
            proto: f.proto.map_or("operator", |p| match p {
                crate::filter::Proto::Tcp => "tcp",
                crate::filter::Proto::Udp => "udp",
                crate::filter::Proto::Icmp => "icmp",
                crate::filter::Proto::Other(_) => "ip",
            }),
            port: match f.proto {
                Some(crate::filter::Proto::Other(n)) => u16::from(n),
                _ => f.port,
            },
            class: f.class().as_str(),
            proven: f.proven,
            expires_in_s: f.expires.saturating_sub(now).as_secs(),
        })
        .collect();
    let j = StatsJson {
        frames_wan: st.frames_wan,
        frames_lan: st.frames_lan,
        forwarded: st.forwarded,
        delayed: st.delayed,
        tx_errors,
        kernel_drops,
        drops: Reason::ALL
            .iter()
            .map(|r| (r.as_str(), st.drop_count(*r)))
            .collect(),
        malformed: crate::wire::ParseError::ALL
            .iter()
            .map(|e| e.as_str())
            .zip(st.malformed)
            .collect(),
        fragment_evictions: st.fragment_evictions,
        source_evictions: st.source_evictions,
        flow_evictions: st.flow_evictions,
        events_lost: st.events_lost,
        flies_added: st.flies_added,
        flies_refused: st.flies_refused,
        flies_evicted: st.flies_evicted,
        flies_proven: st.flies_proven,
        synacks: st.synacks,
        synacks_limited: st.synacks_limited,
        synacks_lost: st.synacks_lost,
        rst_queue,
        flies: flies.len(),
        fly_list: flies.iter().map(FlyEntry::target).collect(),
        fly_detail,
        xdp,
    };
    serde_json::to_string(&j).expect("the stats serialise")
}

fn write_atomically(path: &std::path::Path, text: &str) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// The XDP program attached to both ports and the two AF_XDP sockets.
fn open_afxdp(cfg: &RunConfig, policy: &Policy) -> Result<(xdp::XdpProgram, AfXdp), String> {
    let wan = xdp::ifindex(&cfg.wan).map_err(|e| e.to_string())?;
    let lan = xdp::ifindex(&cfg.lan).map_err(|e| e.to_string())?;
    let flies = u32::try_from(policy.tables.flies).unwrap_or(u32::MAX);
    let mut prog =
        xdp::XdpProgram::load(flies).map_err(|e| format!("loading the XDP program: {e}"))?;
    let p = policy.fly_prefix;
    prog.set_prefixes(p.v4, p.v6)
        .map_err(|e| format!("setting the fly prefixes /{} and /{}: {e}", p.v4, p.v6))?;
    let mut modes = Vec::new();
    for (name, idx) in [(&cfg.wan, wan), (&cfg.lan, lan)] {
        let mode = prog
            .attach(idx, true)
            .map_err(|e| format!("attaching XDP to {name}: {e}"))?;
        modes.push(mode);
    }
    let backend = AfXdp::open(wan, lan, policy.tables.rst_queue)
        .map_err(|e| format!("binding AF_XDP sockets: {e}"))?;
    let fds = backend.fds();
    for (idx, fd) in [(wan, fds[0]), (lan, fds[1])] {
        prog.register_xsk(idx, 0, fd)
            .map_err(|e| format!("registering the AF_XDP socket: {e}"))?;
    }
    let bind = backend.modes();
    println!(
        "backend afxdp: wan {} (ifindex {wan}): XDP {}, socket {}; lan {} (ifindex {lan}): XDP {}, socket {}; one UMEM shared by both",
        cfg.wan, modes[0], bind[0], cfg.lan, modes[1], bind[1]
    );
    Ok((prog, backend))
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
            match afpacket::set_gro(name, false) {
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
        let _ = afpacket::set_gro(name, true);
    }
    write_stats(true)?;
    drop(prog);
    result
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn stats_json_has_every_reason_and_the_flies() {
        let mut st = Stats::default();
        st.drops[Reason::Trap as usize] = 3;
        st.forwarded = 7;
        st.malformed[crate::wire::ParseError::BadPppoe.index()] = 6;
        let fly = FlyEntry {
            addr: "198.51.100.66".parse().unwrap(),
            prefix: 32,
            reason: Reason::Trap,
            proto: Some(crate::filter::Proto::Tcp),
            port: 139,
            proven: true,
            first_seen: Nanos::ZERO,
            expires: Nanos::from_secs(100),
        };
        let j = stats_json(&st, (2, 5, 3), &[fly], Nanos::from_secs(40), None);
        assert!(j.contains("\"kernel_drops\":5"));
        assert!(!j.contains("\"xdp\""));
        let x = xdp::XdpCounters {
            fly_drops: 9,
            tunnel: 4,
            ..Default::default()
        };
        let jx = stats_json(&st, (0, 0, 0), &[], Nanos::ZERO, Some(&x));
        let vx: serde_json::Value = serde_json::from_str(&jx).expect("valid JSON");
        assert_eq!(
            (
                vx["xdp"]["fly_drops"].as_u64(),
                vx["xdp"]["tunnel"].as_u64()
            ),
            (Some(9), Some(4))
        );
        assert!(j.contains("\"forwarded\":7"));
        assert!(j.contains("\"trap\":3"));
        assert!(j.contains("\"tx_errors\":2"));
        assert!(j.contains("\"fly_list\":[\"198.51.100.66\"]"));
        for r in Reason::ALL {
            assert!(j.contains(&format!("\"{}\":", r.as_str())), "{r}");
        }
        assert!(j.starts_with('{') && j.ends_with('}'));
        let v: serde_json::Value = serde_json::from_str(&j).expect("valid JSON");
        assert_eq!(v["drops"]["trap"], 3);
        assert_eq!(v["malformed"]["bad-pppoe"], 6);
        assert_eq!(v["malformed"]["truncated"], 0);
        assert_eq!(v["rst_queue"], 3);
        assert_eq!(v["fly_detail"][0]["class"], "proven");
        assert_eq!(v["fly_detail"][0]["proto"], "tcp");
        assert_eq!(v["fly_detail"][0]["expires_in_s"], 60);
        assert_eq!(
            v["malformed"].as_object().map(|o| o.len()),
            Some(crate::wire::ParseError::COUNT)
        );
    }
}

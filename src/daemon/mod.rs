//! The daemon side of `flypaper run`: everything but the data path.
//!
//! The control thread (`Daemon::run`) logs lock-outs and suspected
//! forgeries (rate limited), keeps the fly store (the blacklist and the XDP
//! map) in step, expires flies, writes the stats file, and answers the CLI
//! verbs that arrive on the control socket (`control`). It never touches a
//! frame: the workers own the data path, and the blacklist they read is
//! lock-free.

pub mod control;
pub mod metrics;
pub mod persist;
pub mod stats;
pub mod store;

use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crossbeam::channel;
use serde::Serialize;

use crate::dataplane::{DropCapture, WorkerCmd, WorkerReport};
use crate::eventlog::{EventLog, Kind as LogKind};
use crate::filter::blacklist::trigger;
use crate::filter::{Event, FlyEntry, Nanos, Policy, Shared};
use crate::sys::{monotonic_ns, signal, xdp};
use control::{Command, Request, Response};
use stats::{stats_json, write_atomically};
use store::FlyStore;

/// How often the XDP map is reconciled with the blacklist.
const RECONCILE: Duration = Duration::from_secs(5);

/// The stats file is rewritten at most this often.
const STATS_PERIOD: Duration = Duration::from_millis(200);

/// One port as `status` reports it.
#[derive(Clone, Debug, Serialize)]
pub struct PortInfo {
    pub role: &'static str,
    pub name: String,
    /// "native" or "generic" when the XDP program is attached.
    pub xdp: Option<String>,
    /// The AF_XDP socket's mode ("zero-copy" or "copy"), or "afpacket".
    pub socket: String,
}

/// What the daemon knows about how it was started.
#[derive(Clone, Debug, Serialize)]
pub struct RunInfo {
    pub backend: &'static str,
    pub ports: Vec<PortInfo>,
    /// The policy file, or none for the built-in policy.
    pub config: Option<PathBuf>,
    /// SHA-256 of the policy file's bytes.
    pub config_sha256: Option<String>,
}

/// The control thread's state.
pub struct Daemon {
    pub policy: Arc<Policy>,
    pub shared: Arc<Shared>,
    pub prog: Option<xdp::XdpProgram>,
    pub workers: Vec<JoinHandle<io::Result<()>>>,
    pub reports: Vec<Arc<Mutex<WorkerReport>>>,
    /// Each worker's command queue.
    pub commands: Vec<channel::Sender<WorkerCmd>>,
    pub events: channel::Receiver<Event>,
    pub stats_file: Option<PathBuf>,
    pub socket: Option<PathBuf>,
    pub info: RunInfo,
    /// Serve the metrics over HTTP here (`--metrics`).
    pub metrics: Option<std::net::SocketAddr>,
    /// The dropped frames' pcapng writer (`--capture-drops`).
    pub drop_capture: Option<DropCapture>,
    /// Saves the flies to the state directory (`persist`).
    pub state: Option<persist::Saver>,
}

impl Daemon {
    /// Serve until a signal, `flypaper stop`, or a worker's end; then stop
    /// the workers (`stop`) and return the first worker error.
    pub fn run(mut self, stop: &AtomicBool) -> io::Result<()> {
        let started = Instant::now();
        let (cmd_tx, cmd_rx) = channel::bounded::<Command>(16);
        let server = match &self.socket {
            Some(p) => {
                let s = control::Server::start(p, cmd_tx).map_err(|e| {
                    io::Error::other(format!("control socket {}: {e}", p.display()))
                })?;
                println!("control socket {}", p.display());
                Some(s)
            }
            None => None,
        };
        // Scrapes from the metrics server (kept open when there is none).
        let (scrape_tx, scrape_rx) = channel::bounded::<metrics::Scrape>(4);
        let metrics_server = match self.metrics {
            Some(a) => {
                let s = metrics::Server::start(a, scrape_tx.clone())?;
                println!("metrics on http://{}/metrics", s.addr().unwrap_or(a));
                Some(s)
            }
            None => None,
        };
        let mut log = EventLog::new(|line: &str| println!("{line}"));
        let mut last_sweep = 0u64;
        let mut last_reconcile = Instant::now();
        let mut last_stats: Option<Instant> = None;
        println!("ready");
        while !signal::stop_requested() && !self.workers.iter().any(|w| w.is_finished()) {
            // Wait up to 200 ms for an event or a command, then take what
            // else is queued (bounded, so a storm of lock-outs cannot
            // starve stats, verbs or stop).
            channel::select! {
                recv(self.events) -> e => if let Ok(e) = e {
                    self.on_event(e, &mut log);
                    for e in self.events.try_iter().take(4096) {
                        self.on_event(e, &mut log);
                    }
                },
                recv(cmd_rx) -> c => if let Ok((req, reply)) = c {
                    let r = self.answer(req, started);
                    let _ = reply.send(r);
                },
                recv(scrape_rx) -> s => if let Ok(reply) = s {
                    let _ = reply.send(metrics::encode(&self.snapshot()));
                },
                default(Duration::from_millis(200)) => {}
            }
            if signal::take_reload() {
                match self.reload() {
                    Ok(m) => println!("SIGHUP: {m}"),
                    Err(m) => println!("SIGHUP: reload refused, the running policy stays: {m}"),
                }
            }
            let now = monotonic_ns();
            log.tick(Nanos(now));
            if now >= last_sweep + 1_000_000_000 {
                last_sweep = now;
                let st = self.store();
                self.shared.blacklist.sweep(Nanos(now), |e| {
                    log.log(Nanos(now), LogKind::Release, || {
                        format!("release {}, lock-out expired", e.target())
                    });
                    st.removed(&e);
                });
            }
            if last_reconcile.elapsed() >= RECONCILE {
                last_reconcile = Instant::now();
                let (added, removed) = self.store().reconcile(Nanos(now));
                if added + removed > 0 {
                    println!("XDP map reconciled: {added} flies added, {removed} removed");
                }
            }
            if let Some(s) = &mut self.state {
                s.tick(&self.shared.blacklist);
            }
            self.write_stats(false, &mut last_stats)?;
        }
        drop(server);
        drop(metrics_server);
        drop(scrape_tx);
        stop.store(true, Ordering::SeqCst);
        let mut result = Ok(());
        for w in std::mem::take(&mut self.workers) {
            let r = w.join().map_err(|_| io::Error::other("worker panicked"))?;
            if result.is_ok() {
                result = r;
            }
        }
        let rest: Vec<Event> = self.events.try_iter().collect();
        for e in rest {
            self.on_event(e, &mut log);
        }
        if let Some(s) = self.state.take() {
            s.finish(&self.shared.blacklist);
        }
        log.finish();
        // The workers are gone, and their taps: the writer finishes.
        if let Some(c) = self.drop_capture.as_mut() {
            if let Err(e) = c.finish() {
                println!("capture-drops: {e}");
            }
        }
        self.write_stats(true, &mut None)?;
        result
    }

    /// Read the policy file again, check it whole, and hand it to every
    /// worker, which takes it between two batches. On any error nothing
    /// changes: the running policy stays.
    fn reload(&mut self) -> Result<String, String> {
        let path = self
            .info
            .config
            .clone()
            .ok_or("started with the built-in policy (no --config): nothing to reload")?;
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let text = String::from_utf8(bytes.clone())
            .map_err(|_| format!("{}: not UTF-8", path.display()))?;
        let policy = crate::config::parse_str(&text, Some(&path.display().to_string()))
            .map_err(|e| e.to_string())?;
        crate::filter::reload_compatible(&self.policy, &policy)?;
        let policy = Arc::new(policy);
        let (tx, rx) = channel::bounded(self.commands.len().max(1));
        let mut asked = 0;
        for c in &self.commands {
            if c.send(WorkerCmd::Reload(Arc::clone(&policy), tx.clone()))
                .is_ok()
            {
                asked += 1;
            }
        }
        for _ in 0..asked {
            match rx.recv_timeout(Duration::from_secs(5)) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => return Err("a worker did not take the policy in 5 s".into()),
            }
        }
        self.policy = policy;
        let sha = sha256_hex(&bytes);
        self.info.config_sha256 = Some(sha.clone());
        Ok(format!(
            "{} applied by {asked} worker(s), sha256 {sha}",
            path.display()
        ))
    }

    /// In monitor mode the store keeps the XDP map out of it: the kernel
    /// must drop nothing.
    fn store(&self) -> FlyStore<'_> {
        FlyStore {
            shared: &self.shared,
            prog: self.prog.as_ref().filter(|_| self.policy.mode.enforces()),
        }
    }

    fn on_event<F: FnMut(&str)>(&self, e: Event, log: &mut EventLog<F>) {
        let now = Nanos(monotonic_ns());
        match e {
            Event::Lockout(e) => {
                log.log(now, LogKind::Lockout, || e.lockout_line());
                if let Err(m) = self.store().added(&e) {
                    println!("{m}; userspace still drops it");
                }
            }
            Event::Evicted(e) => self.store().removed(&e),
            Event::Suspect { addr, proto, port } => {
                log.log(now, LogKind::Suspect, || {
                    format!(
                        "suspect {addr}, who tried {}: vouched for by a live conversation or a LAN address, not locked out (a forged packet?)",
                        trigger(Some(proto), port)
                    )
                });
            }
        }
    }

    /// The workers' reports summed: counters, transmit and kernel
    /// figures, the RST queue, the tables.
    fn totals(&self) -> WorkerReport {
        let mut t = WorkerReport::default();
        for r in &self.reports {
            t.merge(&r.lock().unwrap_or_else(|e| e.into_inner()));
        }
        t
    }

    fn stats_text(&self) -> String {
        let t = self.totals();
        let now = Nanos(monotonic_ns());
        let counters = self.prog.as_ref().and_then(|p| p.counters().ok());
        let capture = self.drop_capture.as_ref().map(DropCapture::counts);
        let bl = &self.shared.blacklist;
        let tables = stats::Tables {
            sources: t.sources,
            flows: t.flows,
            flies: (bl.len(), bl.capacity()),
        };
        stats_json(
            &t.stats,
            (t.tx_errors, t.kernel_drops, t.rst_queue, t.events_unsent),
            tables,
            &bl.list(now),
            now,
            counters.as_ref(),
            capture.as_ref(),
        )
    }

    /// What a metrics scrape shows.
    fn snapshot(&self) -> metrics::Snapshot {
        let now = Nanos(monotonic_ns());
        let mut flies = [0u64; 3];
        for e in self.shared.blacklist.list(now) {
            flies[e.class() as usize] += 1;
        }
        metrics::Snapshot {
            totals: self.totals(),
            flies,
            blacklist_capacity: self.shared.blacklist.capacity(),
            xdp: self.prog.as_ref().and_then(|p| p.counters().ok()),
            capture: self.drop_capture.as_ref().map(DropCapture::counts),
        }
    }

    /// Rewrite the stats file (only with `--stats-file`, and at most every
    /// [`STATS_PERIOD`]: events and verbs wake the loop sooner), and print
    /// the final `stats` line.
    fn write_stats(&self, final_line: bool, last: &mut Option<Instant>) -> io::Result<()> {
        if !final_line && (self.stats_file.is_none() || !stats_due(last, Instant::now())) {
            return Ok(());
        }
        let json = self.stats_text();
        if let Some(p) = &self.stats_file {
            write_atomically(p, &json)?;
        }
        if final_line {
            println!("stats {json}");
        }
        Ok(())
    }

    /// Carry out one CLI verb.
    fn answer(&mut self, req: Request, started: Instant) -> Response {
        let now = Nanos(monotonic_ns());
        let wall_now = SystemTime::now();
        match req {
            Request::Status => Response::ok(self.status(started)),
            Request::List => {
                let mut flies = self.shared.blacklist.list_hits(now);
                flies.sort_by_key(|(e, _)| (e.first_seen, e.addr));
                let list: Vec<FlyJson> = flies
                    .iter()
                    .map(|(e, hits)| {
                        // A fly in the XDP map is mostly dropped there.
                        let kernel = self
                            .prog
                            .as_ref()
                            .filter(|_| store::in_kernel(e))
                            .and_then(|p| p.fly_value(e.addr.0).ok().flatten())
                            .map_or(0, |v| v.hits);
                        let mut j = FlyJson::of(e, now, wall_now);
                        j.hits = hits + kernel;
                        j
                    })
                    .collect();
                Response::ok(serde_json::json!({ "flies": list }))
            }
            Request::Free { target } => match self.store().free(&target, now) {
                Ok(freed) => {
                    for e in &freed {
                        println!("free {}, by the operator", e.target());
                    }
                    let list: Vec<FlyJson> = freed
                        .iter()
                        .map(|e| FlyJson::of(e, now, wall_now))
                        .collect();
                    Response::ok(serde_json::json!({ "freed": list }))
                }
                Err(e) => Response::err(e),
            },
            Request::Block { target, for_s } => {
                let lockout = for_s.map_or(self.policy.lockout, Nanos::from_secs);
                match self.store().block(&target, lockout, now) {
                    Ok(flies) => {
                        let e = flies[0];
                        if flies.len() == 1 {
                            println!("{}", e.lockout_line());
                        } else {
                            println!(
                                "lockout {target} ({} flies), blocked by the operator",
                                flies.len()
                            );
                        }
                        Response::ok(serde_json::json!({
                            "blocked": FlyJson::of(&e, now, wall_now),
                            "target": target,
                            "flies": flies.len(),
                        }))
                    }
                    Err(e) => Response::err(e),
                }
            }
            Request::Flush => {
                let n = self.store().flush();
                println!(
                    "flush: {n} fl{} freed by the operator",
                    if n == 1 { "y" } else { "ies" }
                );
                Response::ok(serde_json::json!({ "freed": n }))
            }
            Request::Stats => match serde_json::from_str(&self.stats_text()) {
                Ok(v) => Response::ok(v),
                Err(e) => Response::err(format!("stats: {e}")),
            },
            Request::Reload => match self.reload() {
                Ok(m) => {
                    println!("reload: {m}");
                    Response::ok(serde_json::json!({ "reloaded": m }))
                }
                Err(m) => {
                    let m = format!("reload refused, the running policy stays: {m}");
                    println!("{m}");
                    Response::err(m)
                }
            },
            Request::Stop => {
                println!("stop, by the operator");
                signal::request_stop();
                Response::ok(serde_json::Value::Null)
            }
        }
    }

    /// One line per health check.
    fn status(&self, started: Instant) -> serde_json::Value {
        let mut checks = Vec::new();
        let mut check = |name: String, ok: bool, detail: String| {
            checks.push(serde_json::json!({ "check": name, "ok": ok, "detail": detail }));
        };
        check("backend".into(), true, self.info.backend.to_string());
        let attached = self.prog.as_ref().map(|p| p.attached()).unwrap_or_default();
        for port in &self.info.ports {
            if let Some(mode) = &port.xdp {
                let idx = xdp::ifindex(&port.name).ok();
                let still = attached.iter().any(|(i, _)| Some(*i) == idx);
                check(
                    format!("xdp {} ({})", port.role, port.name),
                    still,
                    if still {
                        format!("attached, {mode}")
                    } else {
                        "not attached".into()
                    },
                );
            }
            check(
                format!("socket {} ({})", port.role, port.name),
                true,
                port.socket.clone(),
            );
        }
        for (i, w) in self.workers.iter().enumerate() {
            let alive = !w.is_finished();
            check(
                format!("worker {i}"),
                alive,
                if alive { "running" } else { "stopped" }.into(),
            );
        }
        let now = Nanos(monotonic_ns());
        let flies = self.shared.blacklist.list(now);
        let proven = flies.iter().filter(|e| e.proven).count();
        check(
            "flies".into(),
            true,
            format!(
                "{} of {} ({} proven)",
                flies.len(),
                self.shared.blacklist.capacity(),
                proven
            ),
        );
        if let Some(s) = &self.state {
            let (ok, detail) = s.status();
            check("state".into(), ok, detail);
        }
        check(
            "uptime".into(),
            true,
            humantime::format_duration(Duration::from_secs(started.elapsed().as_secs()))
                .to_string(),
        );
        check(
            "config".into(),
            true,
            match (&self.info.config, &self.info.config_sha256) {
                (Some(p), Some(h)) => format!("{} sha256 {h}", p.display()),
                _ => "built-in default policy".into(),
            },
        );
        serde_json::json!({ "checks": checks })
    }
}

/// Whether the stats file is due at `now`, having been written at `last`
/// (never: `None`); records `now` when it is.
fn stats_due(last: &mut Option<Instant>, now: Instant) -> bool {
    if last.is_some_and(|t| now.duration_since(t) < STATS_PERIOD) {
        return false;
    }
    *last = Some(now);
    true
}

/// One fly, as `list` shows it (wall-clock times, RFC 3339).
#[derive(Serialize)]
pub struct FlyJson {
    pub addr: String,
    pub reason: &'static str,
    pub trigger: String,
    pub class: &'static str,
    pub proven: bool,
    pub first_seen: String,
    /// Frames of it dropped since it became a fly (by the filter, and by
    /// the XDP program for flies in its map).
    pub hits: u64,
    pub expires: String,
}

impl FlyJson {
    pub fn of(e: &FlyEntry, now: Nanos, wall_now: SystemTime) -> FlyJson {
        let t =
            |n: Nanos| humantime::format_rfc3339_seconds(store::wall(n, now, wall_now)).to_string();
        FlyJson {
            addr: e.target(),
            reason: if e.proto.is_none() {
                "operator"
            } else {
                e.reason.as_str()
            },
            trigger: trigger(e.proto, e.port),
            class: e.class().as_str(),
            proven: e.proven,
            first_seen: t(e.first_seen),
            hits: 0,
            expires: t(e.expires),
        }
    }
}

/// The SHA-256 of `bytes`, in hex (`status` shows the config file's).
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

#[cfg(test)]
mod test {
    use super::*;

    fn daemon(stats_file: Option<PathBuf>) -> Daemon {
        let policy = Arc::new(Policy::default());
        let shared = Arc::new(Shared::new(&policy, 1));
        Daemon {
            policy,
            shared,
            prog: None,
            workers: Vec::new(),
            reports: vec![Arc::new(Mutex::new(WorkerReport::default()))],
            commands: Vec::new(),
            events: channel::never(),
            stats_file,
            socket: None,
            info: RunInfo {
                backend: "afpacket",
                ports: Vec::new(),
                config: None,
                config_sha256: None,
            },
            metrics: None,
            drop_capture: None,
            state: None,
        }
    }

    #[test]
    fn stats_are_due_at_most_every_period() {
        let t0 = Instant::now();
        let mut last = None;
        assert!(stats_due(&mut last, t0), "the first time");
        assert!(!stats_due(&mut last, t0));
        assert!(!stats_due(
            &mut last,
            t0 + STATS_PERIOD - Duration::from_millis(1)
        ));
        assert!(stats_due(&mut last, t0 + STATS_PERIOD));
        assert_eq!(last, Some(t0 + STATS_PERIOD));
    }

    #[test]
    fn the_stats_file_is_written_only_when_asked_for_and_not_too_often() {
        let path = std::env::temp_dir().join(format!("flypaper-stats-{}.json", std::process::id()));
        let _ = std::fs::remove_file(&path);
        // Without --stats-file nothing is written (and no period starts).
        let mut last = None;
        daemon(None).write_stats(false, &mut last).unwrap();
        assert_eq!(last, None);
        // With it: now, then not again within the period, however often
        // the loop wakes (events, verbs).
        let d = daemon(Some(path.clone()));
        d.write_stats(false, &mut last).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["forwarded"], 0);
        std::fs::remove_file(&path).unwrap();
        for _ in 0..10 {
            d.write_stats(false, &mut last).unwrap();
        }
        assert!(!path.exists(), "rewritten within {STATS_PERIOD:?}");
        // Once the period has passed, it is written again.
        last = last.map(|t| t - STATS_PERIOD);
        d.write_stats(false, &mut last).unwrap();
        assert!(path.exists());
        std::fs::remove_file(&path).unwrap();
    }
}

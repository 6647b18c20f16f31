//! The daemon side of `flypaper run`: everything but the data path.
//!
//! The control thread (`Daemon::run`) logs lock-outs and suspected
//! forgeries (rate limited), keeps the fly store (the blacklist and the XDP
//! map) in step, expires flies, writes the stats file, and answers the CLI
//! verbs that arrive on the control socket (`control`). It never touches a
//! frame: the workers own the data path, and the blacklist they read is
//! lock-free.

pub mod control;
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

use crate::dataplane::WorkerReport;
use crate::eventlog::{EventLog, Kind as LogKind};
use crate::filter::{Event, FlyEntry, Nanos, Policy, Proto, Shared, Stats};
use crate::sys::{monotonic_ns, signal, xdp};
use control::{Command, Request, Response};
use stats::{stats_json, write_atomically};
use store::FlyStore;

/// How often the XDP map is reconciled with the blacklist.
const RECONCILE: Duration = Duration::from_secs(5);

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
    pub events: channel::Receiver<Event>,
    pub stats_file: Option<PathBuf>,
    pub socket: Option<PathBuf>,
    pub info: RunInfo,
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
        let mut log = EventLog::new(|line: &str| println!("{line}"));
        let mut last_sweep = 0u64;
        let mut last_reconcile = Instant::now();
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
                default(Duration::from_millis(200)) => {}
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
            self.write_stats(false)?;
        }
        drop(server);
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
        self.write_stats(true)?;
        result
    }

    fn store(&self) -> FlyStore<'_> {
        FlyStore {
            shared: &self.shared,
            prog: self.prog.as_ref(),
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

    /// The workers' counters summed, and the transmit and kernel figures.
    fn totals(&self) -> (Stats, (u64, u64, usize)) {
        let mut st = Stats::default();
        let (mut tx_errors, mut kernel_drops, mut rst_queue) = (0, 0, 0);
        for r in &self.reports {
            let r = r.lock().unwrap_or_else(|e| e.into_inner());
            st.merge(&r.stats);
            tx_errors += r.tx_errors;
            kernel_drops += r.kernel_drops;
            rst_queue += r.rst_queue;
        }
        (st, (tx_errors, kernel_drops, rst_queue))
    }

    fn stats_text(&self) -> String {
        let (st, extra) = self.totals();
        let now = Nanos(monotonic_ns());
        let counters = self.prog.as_ref().and_then(|p| p.counters().ok());
        stats_json(
            &st,
            extra,
            &self.shared.blacklist.list(now),
            now,
            counters.as_ref(),
        )
    }

    fn write_stats(&self, final_line: bool) -> io::Result<()> {
        if self.stats_file.is_none() && !final_line {
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
    fn answer(&self, req: Request, started: Instant) -> Response {
        let now = Nanos(monotonic_ns());
        let wall_now = SystemTime::now();
        match req {
            Request::Status => Response::ok(self.status(started)),
            Request::List => {
                let mut flies = self.shared.blacklist.list(now);
                flies.sort_by_key(|e| (e.first_seen, e.addr));
                let list: Vec<FlyJson> = flies
                    .iter()
                    .map(|e| FlyJson::of(e, now, wall_now))
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
                    Ok(e) => {
                        println!("{}", e.lockout_line());
                        Response::ok(
                            serde_json::json!({ "blocked": FlyJson::of(&e, now, wall_now) }),
                        )
                    }
                    Err(e) => Response::err(e),
                }
            }
            Request::Flush => {
                let n = self.store().flush();
                println!("flush: {n} flies freed by the operator");
                Response::ok(serde_json::json!({ "freed": n }))
            }
            Request::Stats => match serde_json::from_str(&self.stats_text()) {
                Ok(v) => Response::ok(v),
                Err(e) => Response::err(format!("stats: {e}")),
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

/// "TCP-port 139", "ICMP-type 8", "IP-protocol 47".
pub fn trigger(proto: Option<Proto>, port: u16) -> String {
    match proto {
        Some(Proto::Icmp) => format!("ICMP-type {port}"),
        Some(Proto::Other(n)) => format!("IP-protocol {n}"),
        Some(p) => format!("{}-port {port}", p.as_str()),
        None => "-".into(),
    }
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
            expires: t(e.expires),
        }
    }
}

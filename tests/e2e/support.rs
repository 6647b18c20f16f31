//! Support for the end-to-end tests: the network-namespace lab
//! (`appliance/lab.sh`), commands run inside its namespaces with a time
//! bound, background processes (servers, captures, the appliance) that are
//! always stopped, and the appliance's stats file.
//!
//! Every guard cleans up in `Drop`, so a failing assertion (a panic) still
//! stops the appliance and removes the lab. Labs are serialized, within one
//! test binary and across test processes: the machine has two cores, and
//! the rate-limit tests measure real time, so two floods side by side would
//! make each other flaky.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The wan host's address (its `eth0`).
pub const WAN_IP: &str = "198.51.100.1";
/// A second address that tests may add to the wan host's `eth0`.
pub const WAN_IP2: &str = "198.51.100.2";
/// The lan host's address.
pub const LAN_IP: &str = "198.51.100.130";
/// The protected prefix (anti-spoofing by direction).
pub const LAN_PREFIX: &str = "198.51.100.128/25";

/// Default bound of a command run in a namespace.
pub const CMD_TIMEOUT: u64 = 20;

/// Debian's scapy lives in this interpreter (the first `python3` on PATH
/// may be another one).
pub const PYTHON: &str = "/usr/bin/python3";

const TOOLS: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("ethtool", "ethtool"),
    ("timeout", "coreutils"),
    ("ping", "iputils-ping"),
    ("nc", "netcat-openbsd"),
    ("tcpdump", "tcpdump"),
    ("hping3", "hping3"),
    ("nmap", "nmap"),
    ("iperf3", "iperf3"),
    ("setpriv", "util-linux"),
];

// ---------------------------------------------------------------------------
// Preflight

/// Whether the e2e tests run. They need root (network namespaces); when
/// not root they fail, loudly, unless `FLYPAPER_SKIP_E2E=1` says to skip
/// them: a silent skip would hide a broken data path in CI.
pub fn e2e_enabled() -> bool {
    if env_flag("FLYPAPER_SKIP_E2E") == Some(true) {
        eprintln!("e2e: skipped (FLYPAPER_SKIP_E2E=1)");
        return false;
    }
    static CHECKED: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(e) = CHECKED.get_or_init(preflight) {
        panic!("{e}");
    }
    true
}

/// `Some(true)` for 1/true/yes, `Some(false)` for 0/false/no, `None` if
/// unset or empty.
pub fn env_flag(name: &str) -> Option<bool> {
    let v = std::env::var(name).ok()?;
    match v.trim().to_ascii_lowercase().as_str() {
        "" => None,
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        other => panic!("{name}={other}: expected 1 or 0"),
    }
}

fn preflight() -> Result<(), String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?");
    if euid != "0" {
        return Err(format!(
            "the end-to-end tests need root (they build network namespaces); \
             effective uid is {euid}. Run them as root, or set FLYPAPER_SKIP_E2E=1 to skip them"
        ));
    }
    let mut missing = Vec::new();
    for (tool, pkg) in TOOLS {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !found {
            missing.push(*pkg);
        }
    }
    let scapy = Command::new(PYTHON)
        .args(["-c", "import scapy.all"])
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !scapy {
        missing.push("python3-scapy");
    }
    if !missing.is_empty() {
        return Err(format!(
            "the end-to-end tests need: apt-get install -y {}",
            missing.join(" ")
        ));
    }
    Ok(())
}

/// The data-path backend under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    AfPacket,
    AfXdp,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::AfPacket => "afpacket",
            Backend::AfXdp => "afxdp",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Backend::AfPacket => "p",
            Backend::AfXdp => "x",
        }
    }
}

/// Whether the AF_XDP variants run when `FLYPAPER_E2E_AFXDP` is unset
/// (`=1` turns them on, `=0` off).
pub const AFXDP_BY_DEFAULT: bool = true;

/// Each test once per backend: `name::afpacket` and `name::afxdp`.
#[allow(unused_macros)]
macro_rules! per_backend {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            use super::*;

            #[test]
            fn afpacket() {
                if backend_enabled(Backend::AfPacket) {
                    super::$name(Backend::AfPacket);
                }
            }

            #[test]
            fn afxdp() {
                if backend_enabled(Backend::AfXdp) {
                    super::$name(Backend::AfXdp);
                }
            }
        }
    )*};
}
#[allow(unused_imports)]
pub(crate) use per_backend;

/// A lab name for a test run on backend `b`: `base` and the backend's
/// letter, so that the two runs of one test never share a lab.
pub fn lab_name(base: &str, b: Backend) -> String {
    format!(
        "{base}{}",
        match b {
            Backend::AfPacket => "p",
            Backend::AfXdp => "x",
        }
    )
}

/// Whether a test of `backend` runs (prints why not).
pub fn backend_enabled(backend: Backend) -> bool {
    if !e2e_enabled() {
        return false;
    }
    if backend == Backend::AfXdp && !env_flag("FLYPAPER_E2E_AFXDP").unwrap_or(AFXDP_BY_DEFAULT) {
        eprintln!("e2e: afxdp variant skipped (FLYPAPER_E2E_AFXDP=1 runs it)");
        return false;
    }
    true
}

// ---------------------------------------------------------------------------
// Commands

/// A lab namespace, by role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host {
    Wan,
    Fw,
    Lan,
}

/// A finished command: its status and output.
pub struct Out {
    pub cmd: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(&self) -> bool {
        self.status.success()
    }

    /// Panics (with the whole output) unless the command succeeded.
    #[track_caller]
    pub fn check(self) -> Out {
        assert!(self.ok(), "command failed: {self}");
        self
    }
}

impl fmt::Display for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` -> {}\n--- stdout\n{}--- stderr\n{}",
            self.cmd, self.status, self.stdout, self.stderr
        )
    }
}

/// Run a command in the root namespace (bounded by `timeout`).
pub fn run_root(secs: u64, args: &[&str]) -> Out {
    let mut full = vec!["timeout", "-k", "2"];
    let s = secs.to_string();
    full.push(&s);
    full.extend_from_slice(args);
    run_argv(&full)
}

fn run_argv(argv: &[&str]) -> Out {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {argv:?}: {e}"));
    Out {
        cmd: argv.join(" "),
        status: out.status,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn lab_sh() -> String {
    repo_root()
        .join("appliance/lab.sh")
        .to_string_lossy()
        .into_owned()
}

// ---------------------------------------------------------------------------
// Background processes

#[derive(Default)]
struct Lines {
    stdout: Vec<String>,
    stderr: Vec<String>,
    /// Readers that reached end of file (0..=2).
    closed: u32,
}

/// A background process with its output collected line by line. Stopped
/// (SIGTERM, then SIGKILL) when dropped.
pub struct Bg {
    name: String,
    child: Child,
    lines: Arc<(Mutex<Lines>, Condvar)>,
    exited: Option<ExitStatus>,
}

impl Bg {
    /// Spawn `argv` (as is: no timeout wrapper is added here).
    pub fn spawn(name: &str, argv: &[String]) -> Bg {
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({argv:?}): {e}"));
        let lines = Arc::new((Mutex::new(Lines::default()), Condvar::new()));
        let out = child.stdout.take().expect("piped stdout");
        let err = child.stderr.take().expect("piped stderr");
        reader(out, lines.clone(), false);
        reader(err, lines.clone(), true);
        Bg {
            name: name.to_string(),
            child,
            lines,
            exited: None,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stdout(&self) -> Vec<String> {
        self.lines.0.lock().unwrap().stdout.clone()
    }

    pub fn stderr(&self) -> Vec<String> {
        self.lines.0.lock().unwrap().stderr.clone()
    }

    /// Wait until a line of stdout (or stderr) satisfies `pred`. False on
    /// timeout or when the process closed its output first.
    pub fn wait_line(
        &mut self,
        stderr: bool,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> bool {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.lines;
        let mut g = lock.lock().unwrap();
        loop {
            let v = if stderr { &g.stderr } else { &g.stdout };
            if v.iter().any(|l| pred(l)) {
                return true;
            }
            if g.closed == 2 {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            g = cv.wait_timeout(g, deadline - now).unwrap().0;
        }
    }

    /// The exit status if the process has exited.
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().ok().flatten();
        }
        self.exited
    }

    pub fn signal(&self, sig: &str) {
        // `kill` by pid: only ever the process this guard started.
        let _ = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
    }

    /// Wait (bounded) for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_wait() {
                return Some(s);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Wait (bounded) until both output streams are closed, so the lines
    /// collected are complete.
    fn wait_output(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.lines;
        let mut g = lock.lock().unwrap();
        while g.closed < 2 {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            g = cv.wait_timeout(g, deadline - now).unwrap().0;
        }
    }

    /// Send `sig`, wait up to `grace` for an exit, then SIGKILL. Returns
    /// the exit status and whether SIGKILL was needed.
    pub fn stop(&mut self, sig: &str, grace: Duration) -> (ExitStatus, bool) {
        if let Some(s) = self.try_wait() {
            self.wait_output(Duration::from_secs(2));
            return (s, false);
        }
        self.signal(sig);
        if let Some(s) = self.wait_exit(grace) {
            self.wait_output(Duration::from_secs(2));
            return (s, false);
        }
        let _ = self.child.kill();
        let s = self.child.wait().expect("wait after SIGKILL");
        self.exited = Some(s);
        self.wait_output(Duration::from_secs(2));
        (s, true)
    }

    /// Everything it printed, for failure messages.
    pub fn transcript(&self) -> String {
        let g = self.lines.0.lock().unwrap();
        let mut s = format!("--- {} stdout\n", self.name);
        for l in &g.stdout {
            s.push_str(l);
            s.push('\n');
        }
        s.push_str(&format!("--- {} stderr\n", self.name));
        for l in &g.stderr {
            s.push_str(l);
            s.push('\n');
        }
        s
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        if self.try_wait().is_none() {
            self.stop("TERM", Duration::from_secs(5));
        }
    }
}

fn reader<R: Read + Send + 'static>(r: R, lines: Arc<(Mutex<Lines>, Condvar)>, stderr: bool) {
    thread::spawn(move || {
        let mut r = BufReader::new(r);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let l = String::from_utf8_lossy(&buf).trim_end().to_string();
                    let (lock, cv) = &*lines;
                    let mut g = lock.lock().unwrap();
                    if stderr {
                        g.stderr.push(l);
                    } else {
                        g.stdout.push(l);
                    }
                    cv.notify_all();
                }
            }
        }
        let (lock, cv) = &*lines;
        lock.lock().unwrap().closed += 1;
        cv.notify_all();
    });
}

// ---------------------------------------------------------------------------
// The lab

/// The labs of these tests are `e2e-NAME-PID-{wan,fw,lan}`.
const LAB_PREFIX_TAG: &str = "e2e-";

/// Remove the labs of earlier test runs that were killed before their
/// guards could run (the pid in the name is gone). Only names of exactly
/// this tests' form are touched.
fn remove_stale_labs() {
    let Ok(dir) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for e in dir.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = n
            .strip_prefix(LAB_PREFIX_TAG)
            .and_then(|r| r.strip_suffix("-fw"))
        else {
            continue;
        };
        let Some((name, pid)) = rest.split_once('-') else {
            continue;
        };
        let well_formed = !name.is_empty()
            && name.chars().all(|c| c.is_ascii_alphanumeric())
            && !pid.is_empty()
            && pid.chars().all(|c| c.is_ascii_digit());
        if well_formed && !Path::new(&format!("/proc/{pid}")).exists() {
            let prefix = format!("{LAB_PREFIX_TAG}{name}-{pid}-");
            eprintln!("e2e: removing the stale lab {prefix}");
            run_root(60, &[&lab_sh(), "down", &prefix]);
        }
    }
}

/// One lab at a time per test binary (see the module doc).
static SERIAL: Mutex<()> = Mutex::new(());

/// One lab at a time on the machine, across test processes too (two
/// checkouts testing at once): an abstract Unix socket name is bound by one
/// process at a time and released by the kernel when the process dies, so
/// a killed run never leaves the lock behind.
pub fn machine_lock() -> UnixListener {
    let addr = SocketAddr::from_abstract_name(b"flypaper-e2e-lab").expect("abstract name");
    let t0 = Instant::now();
    let mut told = false;
    loop {
        match UnixListener::bind_addr(&addr) {
            Ok(l) => return l,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                if !told {
                    eprintln!("e2e: another test process has a lab up; waiting for it");
                    told = true;
                }
                assert!(
                    t0.elapsed() < Duration::from_secs(600),
                    "e2e: waited 10 minutes for another test process's lab"
                );
                thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("e2e: lab lock: {e}"),
        }
    }
}

/// A lab built by `appliance/lab.sh up PREFIX` and removed by `down` when
/// dropped (also when the test panics), with a scratch directory for
/// configs, stats files and transfer data.
pub struct Lab {
    pub prefix: String,
    pub dir: PathBuf,
    _machine: UnixListener,
    _serial: MutexGuard<'static, ()>,
}

impl Lab {
    /// Build a lab named after the test (`name`: a few letters, unique
    /// among the tests of this binary).
    pub fn up(name: &str) -> Lab {
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let machine = machine_lock();
        assert!(
            name.len() <= 12 && name.chars().all(|c| c.is_ascii_alphanumeric()),
            "lab name {name:?}: at most 12 letters or digits"
        );
        static STALE: OnceLock<()> = OnceLock::new();
        STALE.get_or_init(remove_stale_labs);
        let prefix = format!("{LAB_PREFIX_TAG}{name}-{}-", std::process::id());
        // A lab left over by a killed run of the same pid (unlikely) would
        // make `up` fail: remove it first.
        run_root(60, &[&lab_sh(), "down", &prefix]);
        let dir = std::env::temp_dir().join(format!("flypaper-e2e-{prefix}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let out = run_root(60, &[&lab_sh(), "up", &prefix]);
        let lab = Lab {
            prefix,
            dir,
            _machine: machine,
            _serial: serial,
        };
        assert!(out.ok(), "lab.sh up failed: {out}");
        lab
    }

    pub fn ns(&self, host: Host) -> String {
        let role = match host {
            Host::Wan => "wan",
            Host::Fw => "fw",
            Host::Lan => "lan",
        };
        format!("{}{}", self.prefix, role)
    }

    fn ns_argv(&self, host: Host, secs: u64, args: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = vec![
            "ip".into(),
            "netns".into(),
            "exec".into(),
            self.ns(host),
            "timeout".into(),
            "-k".into(),
            "2".into(),
            secs.to_string(),
        ];
        v.extend(args.iter().map(|s| s.to_string()));
        v
    }

    /// Run a command in a namespace, bounded by `secs`.
    pub fn run_t(&self, host: Host, secs: u64, args: &[&str]) -> Out {
        let argv = self.ns_argv(host, secs, args);
        let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
        let mut out = run_argv(&refs);
        out.cmd = format!("[{:?}] {}", host, args.join(" "));
        out
    }

    /// Run a command in a namespace, bounded by [`CMD_TIMEOUT`].
    pub fn run(&self, host: Host, args: &[&str]) -> Out {
        self.run_t(host, CMD_TIMEOUT, args)
    }

    /// Run a shell command line in a namespace (bounded by `secs`).
    pub fn sh(&self, host: Host, secs: u64, script: &str) -> Out {
        self.run_t(host, secs, &["sh", "-c", script])
    }

    /// Start a background process in a namespace, killed after `secs` at
    /// the latest (and when the guard is dropped).
    pub fn spawn(&self, host: Host, secs: u64, args: &[&str]) -> Bg {
        let argv = self.ns_argv(host, secs, args);
        Bg::spawn(&format!("[{:?}] {}", host, args.join(" ")), &argv)
    }

    /// Put the Linux bridge stand-in over the appliance's ports.
    pub fn bridge(&self) {
        run_root(30, &[&lab_sh(), "bridge", &self.prefix]).check();
    }

    pub fn unbridge(&self) {
        run_root(30, &[&lab_sh(), "unbridge", &self.prefix]).check();
    }

    /// Forget the hosts' neighbour entries, so that a ping after a change
    /// of the link does not trip over an entry that failed before it.
    pub fn flush_neigh(&self) {
        for h in [Host::Wan, Host::Lan] {
            self.run(h, &["ip", "neigh", "flush", "dev", "eth0"]);
        }
    }

    /// The MAC address of a host's `eth0`.
    pub fn mac(&self, host: Host) -> String {
        let out = self
            .run(host, &["cat", "/sys/class/net/eth0/address"])
            .check();
        out.stdout.trim().to_string()
    }

    /// Add an address to the wan host's `eth0` (e.g. [`WAN_IP2`]).
    pub fn add_wan_addr(&self, ip: &str) {
        self.run(
            Host::Wan,
            &[
                "ip",
                "addr",
                "add",
                &format!("{ip}/24"),
                "dev",
                "eth0",
                "nodad",
            ],
        )
        .check();
    }

    /// `ping` from a host: (transmitted, received).
    pub fn ping(&self, from: Host, to: &str, count: u32, interval: &str) -> Ping {
        let c = count.to_string();
        let secs = (count as u64) * 2 + 5;
        let out = self.run_t(
            from,
            secs,
            &["ping", "-n", "-c", &c, "-i", interval, "-W", "1", to],
        );
        Ping::parse(&out.stdout).unwrap_or_else(|| panic!("no ping summary: {out}"))
    }

    /// Ping from `from`, with an explicit source address.
    pub fn ping_from(&self, from: Host, src: &str, to: &str, count: u32, interval: &str) -> Ping {
        let c = count.to_string();
        let secs = (count as u64) * 2 + 5;
        let out = self.run_t(
            from,
            secs,
            &[
                "ping", "-n", "-I", src, "-c", &c, "-i", interval, "-W", "1", to,
            ],
        );
        Ping::parse(&out.stdout).unwrap_or_else(|| panic!("no ping summary: {out}"))
    }

    /// Whether an XDP program is attached to a port of the appliance.
    pub fn xdp_attached(&self, port: &str) -> bool {
        let out = self
            .run(Host::Fw, &["ip", "-d", "link", "show", port])
            .check();
        out.stdout.contains("xdp")
    }

    /// Start capturing what arrives at a host's `eth0` (see [`Capture`]).
    pub fn capture(&self, host: Host, filter: &str) -> Capture {
        self.capture_opts(host, &[], filter)
    }

    /// A capture with more tcpdump options (e.g. `-e` for link headers:
    /// VLAN tags and frame lengths; the lines then fit `Captured::lines`
    /// searches, not `count_from`).
    pub fn capture_opts(&self, host: Host, opts: &[&str], filter: &str) -> Capture {
        let mut args = vec![
            "tcpdump",
            "-i",
            "eth0",
            "-n",
            "-l",
            "--immediate-mode",
            "-Q",
            "in",
        ];
        args.extend_from_slice(opts);
        args.extend(filter.split_whitespace());
        let mut bg = self.spawn(host, 120, &args);
        let listening = bg.wait_line(true, Duration::from_secs(10), |l| {
            l.contains("listening on")
        });
        assert!(listening, "tcpdump did not start\n{}", bg.transcript());
        Capture { bg }
    }

    /// Start writing what arrives at a host's `eth0` (inbound frames only)
    /// to a pcap file in the lab's scratch directory, whole frames, each
    /// flushed as it arrives (see [`PcapCapture`]).
    pub fn capture_pcap(&self, host: Host, name: &str) -> PcapCapture {
        let path = self.path(name);
        let _ = std::fs::remove_file(&path);
        let file = path.to_string_lossy().into_owned();
        let args = [
            "tcpdump",
            "-i",
            "eth0",
            "-n",
            "-U",
            "--immediate-mode",
            "-Q",
            "in",
            "-s",
            "0",
            "-w",
            &file,
        ];
        let mut bg = self.spawn(host, 120, &args);
        let listening = bg.wait_line(true, Duration::from_secs(10), |l| {
            l.contains("listening on")
        });
        assert!(listening, "tcpdump did not start\n{}", bg.transcript());
        PcapCapture { bg, path }
    }

    /// Run a scapy script (Debian's python) in a host; `scapy.all` is
    /// imported as `*`.
    pub fn scapy(&self, host: Host, script: &str) -> Out {
        let full = format!("from scapy.all import *\nconf.verb = 0\n{script}\n");
        self.run_t(host, 60, &[PYTHON, "-c", &full]).check()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, contents).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        p
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let out = run_root(60, &[&lab_sh(), "down", &self.prefix]);
        if !out.ok() {
            eprintln!("lab.sh down {} failed: {out}", self.prefix);
        }
        if env_flag("FLYPAPER_E2E_KEEP") == Some(true) {
            eprintln!("e2e: kept {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The summary of a `ping` run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ping {
    pub transmitted: u32,
    pub received: u32,
}

impl Ping {
    pub fn parse(stdout: &str) -> Option<Ping> {
        // "3 packets transmitted, 3 received, 0% packet loss, time 402ms"
        let l = stdout.lines().find(|l| l.contains("packets transmitted"))?;
        let mut it = l.split(',');
        let tx = it.next()?.split_whitespace().next()?.parse().ok()?;
        let rx = it.next()?.split_whitespace().next()?.parse().ok()?;
        Some(Ping {
            transmitted: tx,
            received: rx,
        })
    }

    pub fn all(&self) -> bool {
        self.transmitted > 0 && self.received == self.transmitted
    }
}

// ---------------------------------------------------------------------------
// Captures

/// A tcpdump on a host's `eth0` (inbound frames only), one line per packet.
pub struct Capture {
    bg: Bg,
}

impl Capture {
    /// Stop the capture; the lines it printed (complete: tcpdump flushes
    /// each line, and the output is read to its end).
    pub fn stop(mut self) -> Captured {
        // Frames still in flight through the appliance get a moment.
        thread::sleep(Duration::from_millis(300));
        self.bg.stop("TERM", Duration::from_secs(5));
        Captured {
            lines: self.bg.stdout(),
        }
    }
}

/// A tcpdump writing whole frames to a pcap file.
pub struct PcapCapture {
    bg: Bg,
    path: PathBuf,
}

impl PcapCapture {
    /// Stop the capture and read the frames it wrote, byte for byte.
    pub fn stop(mut self) -> Vec<Vec<u8>> {
        thread::sleep(Duration::from_millis(300));
        self.bg.stop("TERM", Duration::from_secs(5));
        let mut r = flypaper::capture::Reader::open(&self.path).unwrap_or_else(|e| {
            panic!(
                "reading {}: {e}\n{}",
                self.path.display(),
                self.bg.transcript()
            )
        });
        r.read_all()
            .unwrap_or_else(|e| panic!("reading {}: {e}", self.path.display()))
            .into_iter()
            .map(|p| p.data)
            .collect()
    }
}

/// The packets a [`Capture`] saw.
pub struct Captured {
    pub lines: Vec<String>,
}

impl Captured {
    /// The source address of a tcpdump `-n` line ("... IP 1.2.3.4.80 > ...").
    pub fn src_of(line: &str) -> Option<String> {
        let mut it = line.split_whitespace();
        it.find(|t| *t == "IP")?;
        let tok = it.next()?;
        let parts: Vec<&str> = tok.split('.').collect();
        (parts.len() >= 4).then(|| parts[..4].join("."))
    }

    /// Packets from `src`.
    pub fn count_from(&self, src: &str) -> usize {
        self.lines
            .iter()
            .filter(|l| Self::src_of(l).as_deref() == Some(src))
            .count()
    }

    /// Packets from `src` whose line contains `needle` (e.g. "Flags [S]").
    pub fn count_from_with(&self, src: &str, needle: &str) -> usize {
        self.lines
            .iter()
            .filter(|l| Self::src_of(l).as_deref() == Some(src) && l.contains(needle))
            .count()
    }

    /// Packets per source, for failure messages.
    pub fn by_source(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for l in &self.lines {
            if let Some(s) = Self::src_of(l) {
                *m.entry(s).or_insert(0) += 1;
            }
        }
        m
    }
}

// ---------------------------------------------------------------------------
// The appliance

/// `flypaper run` inside the lab's fw namespace, started and waited for
/// (`ready`); stopped with SIGTERM (then SIGKILL) when dropped.
pub struct Appliance {
    pub backend: Backend,
    pub stats_path: PathBuf,
    /// The daemon's control socket (in the lab's scratch directory, so that
    /// labs never share one).
    pub socket: PathBuf,
    bg: Bg,
}

/// How the appliance ended.
pub struct Exit {
    pub status: ExitStatus,
    pub killed: bool,
    pub stdout: Vec<String>,
    pub stderr: Vec<String>,
}

impl Exit {
    /// The JSON of the final `stats {...}` line.
    pub fn final_stats(&self) -> Option<Stats> {
        let l = self.stdout.iter().rev().find(|l| l.starts_with("stats "))?;
        serde_json::from_str(&l["stats ".len()..]).ok().map(Stats)
    }
}

impl Appliance {
    /// Start the appliance with `config` (TOML, written to the lab's
    /// scratch directory) and wait until it prints `ready`.
    pub fn start(lab: &Lab, backend: Backend, config: &str) -> Appliance {
        Self::start_with(lab, backend, config, &[])
    }

    pub fn start_with(lab: &Lab, backend: Backend, config: &str, extra: &[&str]) -> Appliance {
        let cfg = lab.write("flypaper.toml", config);
        let stats_path = lab.path("stats.json");
        let _ = std::fs::remove_file(&stats_path);
        // No `timeout` wrapper: `ip netns exec` execs the appliance, so the
        // pid is the appliance's own and signals reach it directly.
        let mut argv: Vec<String> = vec![
            "ip".into(),
            "netns".into(),
            "exec".into(),
            lab.ns(Host::Fw),
            env!("CARGO_BIN_EXE_flypaper").into(),
            "run".into(),
            "--wan".into(),
            "wan0".into(),
            "--lan".into(),
            "lan0".into(),
            "--backend".into(),
            backend.as_str().into(),
            "--config".into(),
            cfg.to_string_lossy().into_owned(),
            "--stats-file".into(),
            stats_path.to_string_lossy().into_owned(),
        ];
        let socket = lab.path("control.sock");
        if !extra.contains(&"--socket") {
            argv.push("--socket".into());
            argv.push(socket.to_string_lossy().into_owned());
        }
        // Flies are saved in the lab's scratch directory, not where a real
        // appliance keeps them: one test's flies must not reach the next.
        if !extra.contains(&"--state-dir") {
            argv.push("--state-dir".into());
            argv.push(lab.path("state").to_string_lossy().into_owned());
        }
        argv.extend(extra.iter().map(|s| s.to_string()));
        let mut bg = Bg::spawn("flypaper", &argv);
        // The word, not the letters: "already bound" is not ready.
        let ready = bg.wait_line(false, Duration::from_secs(20), |l| {
            l.split(|c: char| !c.is_ascii_alphanumeric())
                .any(|w| w == "ready")
        });
        if !ready {
            let (status, _) = bg.stop("TERM", Duration::from_secs(5));
            panic!(
                "flypaper run --backend {} did not print `ready` (exit: {status})\n{}",
                backend.as_str(),
                bg.transcript()
            );
        }
        let a = Appliance {
            backend,
            stats_path,
            socket,
            bg,
        };
        // The first stats file follows `ready` within a period.
        a.wait_stats(Duration::from_secs(5), |_| true);
        a
    }

    pub fn pid(&self) -> u32 {
        self.bg.pid()
    }

    /// Run a CLI verb (`flypaper list --json`, ...) against this daemon's
    /// control socket, from the root namespace (the socket is a path).
    pub fn verb(&self, args: &[&str]) -> Out {
        let sock = self.socket.to_string_lossy().into_owned();
        let mut argv = vec![env!("CARGO_BIN_EXE_flypaper")];
        argv.extend_from_slice(args);
        argv.extend_from_slice(&["--socket", &sock]);
        run_root(20, &argv)
    }

    pub fn stdout(&self) -> Vec<String> {
        self.bg.stdout()
    }

    pub fn transcript(&self) -> String {
        self.bg.transcript()
    }

    /// Wait until stdout has a line satisfying `pred`.
    pub fn wait_stdout(&mut self, timeout: Duration, pred: impl Fn(&str) -> bool) -> bool {
        self.bg.wait_line(false, timeout, pred)
    }

    /// The current stats file. Panics if it is missing or not JSON.
    pub fn stats(&self) -> Stats {
        let s = std::fs::read_to_string(&self.stats_path).unwrap_or_else(|e| {
            panic!(
                "stats file {}: {e}\n{}",
                self.stats_path.display(),
                self.transcript()
            )
        });
        let v: Value = serde_json::from_str(&s)
            .unwrap_or_else(|e| panic!("stats file is not JSON ({e}): {s:?}"));
        Stats(v)
    }

    /// Poll the stats file (it is rewritten every ~200 ms) until `pred`
    /// holds or `timeout` passes; returns the last stats read either way,
    /// so the caller's assertion shows what was there.
    pub fn wait_stats(&self, timeout: Duration, pred: impl Fn(&Stats) -> bool) -> Stats {
        let deadline = Instant::now() + timeout;
        loop {
            let s = if self.stats_path.exists() {
                Some(self.stats())
            } else {
                None
            };
            if let Some(s) = s {
                if pred(&s) || Instant::now() >= deadline {
                    return s;
                }
            } else if Instant::now() >= deadline {
                panic!(
                    "no stats file {} after {timeout:?}\n{}",
                    self.stats_path.display(),
                    self.transcript()
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stats once the counters have settled: three stats periods with no
    /// change.
    pub fn settled_stats(&self) -> Stats {
        self.settled_on(&[])
    }

    /// Stats once the drop counters, the flies and the XDP counters have
    /// settled (frames and `forwarded` may still move: a background ping).
    pub fn settled_drops(&self) -> Stats {
        self.settled_on(&["drops", "flies", "fly_list", "xdp"])
    }

    /// Stats once `keys` (all keys if empty) have not changed for three
    /// stats periods (bounded: 5 s).
    pub fn settled_on(&self, keys: &[&str]) -> Stats {
        let view = |s: &Stats| -> Value {
            if keys.is_empty() {
                return s.0.clone();
            }
            keys.iter()
                .map(|k| s.0.get(*k).cloned().unwrap_or(Value::Null))
                .collect()
        };
        let mut last = self.stats();
        let mut same = 0;
        let deadline = Instant::now() + Duration::from_secs(5);
        while same < 3 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(200));
            let s = self.stats();
            if view(&s) == view(&last) {
                same += 1;
            } else {
                same = 0;
            }
            last = s;
        }
        last
    }

    /// Stop with SIGTERM (bounded; SIGKILL if it does not exit).
    pub fn terminate(mut self) -> Exit {
        let (status, killed) = self.bg.stop("TERM", Duration::from_secs(10));
        self.exit(status, killed)
    }

    /// Stop with SIGTERM and assert that it exited cleanly.
    #[track_caller]
    pub fn terminate_ok(self) -> Exit {
        let exit = self.terminate();
        assert!(exit.status.success(), "exit {}", exit.status);
        exit
    }

    /// Stop with SIGINT (bounded; SIGKILL if it does not exit).
    pub fn interrupt(mut self) -> Exit {
        let (status, killed) = self.bg.stop("INT", Duration::from_secs(10));
        self.exit(status, killed)
    }

    /// Frames of flies dropped, wherever: in userspace (`drops.fly`) and,
    /// with the afxdp backend, in the XDP program (`xdp.fly_drops`).
    pub fn fly_drops(&self, s: &Stats) -> u64 {
        s.drop("fly")
            + match self.backend {
                Backend::AfXdp => s.xdp("fly_drops"),
                Backend::AfPacket => 0,
            }
    }

    /// Kill with SIGKILL.
    pub fn kill(mut self) -> Exit {
        self.bg.signal("KILL");
        let status = self
            .bg
            .wait_exit(Duration::from_secs(10))
            .expect("flypaper did not die on SIGKILL");
        self.bg.wait_output(Duration::from_secs(2));
        self.exit(status, true)
    }

    fn exit(&self, status: ExitStatus, killed: bool) -> Exit {
        Exit {
            status,
            killed,
            stdout: self.bg.stdout(),
            stderr: self.bg.stderr(),
        }
    }
}

impl Drop for Appliance {
    fn drop(&mut self) {
        if self.bg.try_wait().is_none() {
            let (status, killed) = self.bg.stop("TERM", Duration::from_secs(10));
            if killed || !status.success() {
                eprintln!("flypaper did not stop cleanly on SIGTERM ({status}, killed: {killed})");
            }
        }
        // Shown by the test harness when the test fails.
        eprintln!("{}", self.bg.transcript());
    }
}

/// The stats file's JSON.
#[derive(Clone, Debug)]
pub struct Stats(pub Value);

impl Stats {
    /// A top-level counter; panics if the key is missing (the contract
    /// lists every key, and a typo must not read as 0).
    pub fn get(&self, key: &str) -> u64 {
        self.0
            .get(key)
            .and_then(Value::as_u64)
            .unwrap_or_else(|| panic!("stats have no counter `{key}`: {}", self.0))
    }

    /// `drops.<reason>`; panics if the reason is missing.
    pub fn drop(&self, reason: &str) -> u64 {
        self.0
            .get("drops")
            .and_then(|d| d.get(reason))
            .and_then(Value::as_u64)
            .unwrap_or_else(|| panic!("stats have no `drops.{reason}`: {}", self.0))
    }

    /// The sum of every drop reason.
    pub fn drops_total(&self) -> u64 {
        self.0
            .get("drops")
            .and_then(Value::as_object)
            .map(|m| m.values().filter_map(Value::as_u64).sum())
            .unwrap_or_else(|| panic!("stats have no `drops`: {}", self.0))
    }

    /// The non-zero drop reasons, for messages.
    pub fn nonzero_drops(&self) -> BTreeMap<String, u64> {
        self.0
            .get("drops")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_u64()?)))
                    .filter(|(_, v)| *v > 0)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// `xdp.<key>` (afxdp backend only); panics if missing.
    pub fn xdp(&self, key: &str) -> u64 {
        self.0
            .get("xdp")
            .and_then(|d| d.get(key))
            .and_then(Value::as_u64)
            .unwrap_or_else(|| panic!("stats have no `xdp.{key}`: {}", self.0))
    }

    /// A top-level array; panics if it is missing.
    fn array(&self, key: &str) -> &[Value] {
        self.0
            .get(key)
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("stats have no `{key}`: {}", self.0))
    }

    pub fn fly_list(&self) -> Vec<String> {
        self.array("fly_list")
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    }

    /// `fly_detail`: one object per fly.
    pub fn fly_detail(&self) -> Vec<Value> {
        self.array("fly_detail").to_vec()
    }

    /// The class ("unproven", "proven", "operator") of the fly `addr` (an
    /// address or a prefix, as `fly_list` writes it), if it is one.
    pub fn fly_class(&self, addr: &str) -> Option<String> {
        self.fly_detail()
            .iter()
            .find(|f| f.get("addr").and_then(Value::as_str) == Some(addr))
            .map(|f| {
                f.get("class")
                    .and_then(Value::as_str)
                    .unwrap_or_else(|| panic!("a fly without a class: {f}"))
                    .to_string()
            })
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The configuration every test starts from: the default policy with the
/// lab's LAN prefix (anti-spoofing on).
pub fn base_config() -> String {
    format!("[filter]\nlan = [\"{LAN_PREFIX}\"]\n")
}

/// [`base_config`] with `trap.proof = "handshake"`: a SYN to a trap port
/// is answered with a SYN cookie, and a source that returns it is a
/// proven fly.
pub fn handshake_config() -> String {
    format!("{}[trap]\nproof = \"handshake\"\n", base_config())
}

/// Read a file fully (for comparing transfers).
pub fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

//! The lab bench: flypaper side by side with the kernel's own answer, on one
//! network-namespace lab (`appliance/lab.sh`), in one run.
//!
//! `cargo bench --bench lab` (as root) builds a lab with a unique prefix and,
//! for each configuration in turn,
//!
//! 1. `bridge`: a Linux bridge over the appliance's ports (`lab.sh bridge`,
//!    br_netfilter off);
//! 2. `bridge+iptables`: the same bridge with br_netfilter on and the seed's
//!    rules ([`SEED_RULES`], "Neat tricks with iptables") in FORWARD;
//! 3. `flypaper afpacket` and 4. `flypaper afxdp`: `flypaper run` in the fw
//!    namespace with the default policy plus `lan = ["198.51.100.128/25"]`
//!    (a backend that does not start is skipped with a note);
//! 5. `flypaper afxdp --busy-poll`: the same, with the worker spinning on its
//!    rings instead of sleeping when idle;
//! 6. `bridge, RPS to core 0` (a control): the plain bridge with its
//!    forwarding steered to the appliance's core by RPS on both ports, so
//!    that it pays the same cross-core hops as flypaper does,
//!
//! measures, in this order (the flood last, so that its state does not
//! weigh on the others):
//!
//! - latency: UDP echo round trips wan -> lan -> wan (a Rust probe in the
//!   wan namespace and a Rust echo server in the lan namespace: this very
//!   binary, re-executed with `__udp-probe` / `__udp-echo`), paced at
//!   1000/s after a warm-up, into an hdrhistogram: p50, p99, p99.9;
//! - TCP: `iperf3` wan -> lan for 5 s;
//! - packets per second: `trafgen` floods 64-byte frames (60 bytes plus the
//!   FCS the veth never carries) of UDP 198.51.100.1 -> 198.51.100.130 with
//!   random source ports from the wan host for 5 s after a 1 s warm-up; the
//!   rate is the lan host's `eth0` rx packet delta over the window, and the
//!   offered rate the wan host's `eth0` tx delta.
//!
//! Pinning: every host-side tool (trafgen, iperf3, the probe and the echo
//! server) runs on core 1, flypaper on core 0 (its worker pins itself there;
//! `taskset -c 0` keeps its control thread there too). The Linux bridge has
//! no process to pin: it forwards in the softirq of the sending core.
//!
//! Bounds: every command runs under `timeout`, the flood is bounded by count
//! and time, and the lab is torn down on every exit path (a guard's `Drop`);
//! if the bench is interrupted, `appliance/lab.sh down PREFIX` (printed at
//! start) removes it.
//!
//! `cargo test --benches` (and `cargo test --all-targets`) runs this binary
//! without `--bench`: it then only prints a line.
//!
//! Environment: FLYPAPER_LAB_CONFIGS (comma list of `bridge`,
//! `bridge+iptables`, `afpacket`, `afxdp`, `bridge-rps0`; default all), FLYPAPER_LAB_FLOOD_S
//! (default 5), FLYPAPER_LAB_TCP_S (default 5), FLYPAPER_LAB_PROBES (default
//! 5000), FLYPAPER_LAB_PROBE_RATE (per second, default 1000).

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::Value;

const WAN_IP: &str = "198.51.100.1";
const LAN_IP: &str = "198.51.100.130";
const ECHO_PORT: u16 = 7777;
const IPERF_PORT: u16 = 5201;
/// The core of everything host-side; flypaper's worker pins itself to 0.
const HOST_CPU: &str = "1";
const APPLIANCE_CPU: &str = "0";

/// The policy of both flypaper rows: the defaults plus the protected prefix.
const FLYPAPER_TOML: &str = "[filter]\nlan = [\"198.51.100.128/25\"]\n";

/// The seed's rules ("Neat tricks with iptables", ../shared/seeds/000_*),
/// in the article's order, for the FORWARD chain of a bridge with
/// br_netfilter on. The article's ICMP and RST limits ACCEPT and leave the
/// rest to a DROP policy; a bridge's FORWARD policy is ACCEPT, so each limit
/// is followed by its explicit DROP.
const SEED_RULES: &[&str] = &[
    // Address spoofing: bogon sources and bogus destinations.
    "-A FORWARD -s 10.0.0.0/8 -j DROP",
    "-A FORWARD -s 169.254.0.0/16 -j DROP",
    "-A FORWARD -s 172.16.0.0/12 -j DROP",
    "-A FORWARD -s 127.0.0.0/8 -j DROP",
    "-A FORWARD -s 192.168.0.0/16 -j DROP",
    "-A FORWARD -s 224.0.0.0/4 -j DROP",
    "-A FORWARD -d 224.0.0.0/4 -j DROP",
    "-A FORWARD -s 240.0.0.0/5 -j DROP",
    "-A FORWARD -d 240.0.0.0/5 -j DROP",
    "-A FORWARD -s 0.0.0.0/8 -j DROP",
    "-A FORWARD -d 0.0.0.0/8 -j DROP",
    "-A FORWARD -d 239.255.255.0/24 -j DROP",
    "-A FORWARD -d 255.255.255.255 -j DROP",
    // Smurf: address-mask (17) and timestamp (13) requests, then 1/s.
    "-A FORWARD -p icmp -m icmp --icmp-type address-mask-request -j DROP",
    "-A FORWARD -p icmp -m icmp --icmp-type timestamp-request -j DROP",
    "-A FORWARD -p icmp -m limit --limit 1/second --limit-burst 5 -j ACCEPT",
    "-A FORWARD -p icmp -j DROP",
    // Bogus packets.
    "-A FORWARD -m state --state INVALID -j DROP",
    "-A FORWARD -p tcp -m tcp --tcp-flags SYN,FIN SYN,FIN -j DROP",
    "-A FORWARD -p tcp -m tcp --tcp-flags SYN,RST SYN,RST -j DROP",
    // TCP reset attacks: 2 RSTs per second.
    "-A FORWARD -p tcp -m tcp --tcp-flags RST RST -m limit --limit 2/second --limit-burst 2 -j ACCEPT",
    "-A FORWARD -p tcp -m tcp --tcp-flags RST RST -j DROP",
    // SYN flooding: 60 new connections per second per source.
    "-A FORWARD -m state --state NEW -p tcp -m tcp --syn -m recent --name synflood --set",
    "-A FORWARD -m state --state NEW -p tcp -m tcp --syn -m recent --name synflood --update --seconds 1 --hitcount 60 -j DROP",
    // Port scanning: the port-139 sand-trap, a day's lock-out.
    "-A FORWARD -m recent --name portscan --rcheck --seconds 86400 -j DROP",
    "-A FORWARD -m recent --name portscan --remove",
    "-A FORWARD -p tcp -m tcp --dport 139 -m recent --name portscan --set -j LOG --log-prefix Portscan:",
    "-A FORWARD -p tcp -m tcp --dport 139 -m recent --name portscan --set -j DROP",
];

/// Tools and the Debian package that has each.
const TOOLS: &[(&str, &str)] = &[
    ("ip", "iproute2"),
    ("ethtool", "ethtool"),
    ("sysctl", "procps"),
    ("timeout", "coreutils"),
    ("kill", "procps"),
    ("taskset", "util-linux"),
    ("trafgen", "netsniff-ng"),
    ("iperf3", "iperf3"),
    ("iptables", "iptables"),
];

const CONFIGS: [&str; 6] = [
    "bridge",
    "bridge+iptables",
    "afpacket",
    "afxdp",
    "afxdp-busy",
    "bridge-rps0",
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("__udp-echo") => std::process::exit(udp_echo(&args[2..])),
        Some("__udp-probe") => std::process::exit(udp_probe(&args[2..])),
        _ => {}
    }
    if !args.iter().any(|a| a == "--bench") {
        println!(
            "lab bench: not run without --bench (it needs root and builds a namespace lab): \
             cargo bench --bench lab"
        );
        return;
    }
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("lab bench: {e}");
            std::process::exit(2);
        }
    };
    if let Err(missing) = preflight() {
        eprintln!("lab bench: cannot run:");
        for m in &missing {
            eprintln!("  - {m}");
        }
        std::process::exit(1);
    }
    if let Err(e) = run(&settings) {
        eprintln!("lab bench: {e}");
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------
// Settings and preconditions

struct Settings {
    configs: Vec<&'static str>,
    flood_s: u64,
    tcp_s: u64,
    probes: u64,
    probe_rate: u64,
}

impl Settings {
    fn from_env() -> Result<Settings, String> {
        fn num(name: &str, default: u64, max: u64) -> Result<u64, String> {
            match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => match v.trim().parse::<u64>() {
                    Ok(n) if (1..=max).contains(&n) => Ok(n),
                    _ => Err(format!("{name}={v}: expected a number in 1..={max}")),
                },
                _ => Ok(default),
            }
        }
        let configs = match std::env::var("FLYPAPER_LAB_CONFIGS") {
            Ok(v) if !v.trim().is_empty() => {
                let mut out = Vec::new();
                for w in v.split(',').map(str::trim).filter(|w| !w.is_empty()) {
                    match CONFIGS.iter().find(|c| **c == w) {
                        Some(c) => out.push(*c),
                        None => {
                            return Err(format!(
                                "FLYPAPER_LAB_CONFIGS: unknown `{w}` (known: {})",
                                CONFIGS.join(", ")
                            ))
                        }
                    }
                }
                out
            }
            _ => CONFIGS.to_vec(),
        };
        Ok(Settings {
            configs,
            flood_s: num("FLYPAPER_LAB_FLOOD_S", 5, 60)?,
            tcp_s: num("FLYPAPER_LAB_TCP_S", 5, 60)?,
            probes: num("FLYPAPER_LAB_PROBES", 5000, 100_000)?,
            probe_rate: num("FLYPAPER_LAB_PROBE_RATE", 1000, 100_000)?,
        })
    }
}

fn on_path(tool: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .any(|d| d.join(tool).is_file())
}

fn lab_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("appliance/lab.sh")
}

/// Everything that is missing, each with how to get it.
fn preflight() -> Result<(), Vec<String>> {
    let mut missing = Vec::new();
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if uid.as_deref() != Some("0") {
        missing.push("root (network namespaces, iptables): run as root".to_string());
    }
    let mut pkgs = Vec::new();
    for (tool, pkg) in TOOLS {
        if !on_path(tool) {
            missing.push(format!("tool `{tool}` (Debian package {pkg})"));
            if !pkgs.contains(pkg) {
                pkgs.push(*pkg);
            }
        }
    }
    if !pkgs.is_empty() {
        missing.push(format!(
            "install with: apt-get install -y {}",
            pkgs.join(" ")
        ));
    }
    if !lab_script().is_file() {
        missing.push(format!("the lab script {}", lab_script().display()));
    }
    let cpus = thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        missing.push(format!(
            "two cores (sender on core 1, appliance on core 0); this machine has {cpus}"
        ));
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(missing)
    }
}

// ---------------------------------------------------------------------------
// Commands, bounded

fn bounded(timeout_s: u64, args: &[&str]) -> Command {
    let mut c = Command::new("timeout");
    c.args(["-k", "2", &timeout_s.to_string()]).args(args);
    c
}

/// Run `args` inside namespace `ns`, bounded; stdout, or an error with the
/// command and its stderr.
fn ns_run(ns: &str, timeout_s: u64, args: &[&str]) -> Result<String, String> {
    let mut full = vec!["ip", "netns", "exec", ns];
    full.extend_from_slice(args);
    run_cmd(timeout_s, &full)
}

fn run_cmd(timeout_s: u64, args: &[&str]) -> Result<String, String> {
    let out = bounded(timeout_s, args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{}` failed ({}): {}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        ))
    }
}

/// A background process (in a namespace, under `timeout`), stopped by pid
/// when dropped: the signal first, SIGKILL if it does not exit.
struct Bg {
    child: Child,
    what: String,
    log: PathBuf,
}

impl Bg {
    /// Start `args` inside `ns` under `timeout -s SIG limit_s`; stdout and
    /// stderr go to `log`.
    fn spawn(ns: &str, limit_s: u64, sig: &str, args: &[&str], log: &Path) -> Result<Bg, String> {
        let what = args.join(" ");
        let out = fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out
            .try_clone()
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let child = Command::new("ip")
            .args(["netns", "exec", ns, "timeout", "-k", "2", "-s", sig])
            .arg(limit_s.to_string())
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("{what}: {e}"))?;
        Ok(Bg {
            child,
            what,
            log: log.to_path_buf(),
        })
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    fn output(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last lines of the output, for an error message.
    fn tail(&self) -> String {
        let out = self.output();
        let lines: Vec<&str> = out.lines().collect();
        lines[lines.len().saturating_sub(6)..].join(" | ")
    }

    /// Send `sig` (to the `timeout` process, which passes it on) and wait up
    /// to `grace`; then SIGKILL. Returns the exit status.
    fn stop(&mut self, sig: &str, grace: Duration) -> Option<ExitStatus> {
        if let Some(st) = self.exited() {
            return Some(st);
        }
        // `kill` by pid: only ever the process this guard started.
        let _ = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let until = Instant::now() + grace;
        while Instant::now() < until {
            if let Some(st) = self.exited() {
                return Some(st);
            }
            thread::sleep(Duration::from_millis(20));
        }
        eprintln!(
            "lab bench: `{}` did not stop on SIG{sig}; killing it",
            self.what
        );
        let _ = self.child.kill();
        self.child.wait().ok()
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        self.stop("TERM", Duration::from_secs(3));
    }
}

// ---------------------------------------------------------------------------
// The lab

/// The namespace lab; torn down when dropped.
struct Lab {
    prefix: String,
    wan: String,
    fw: String,
    lan: String,
}

impl Lab {
    fn up(prefix: &str) -> Result<Lab, String> {
        let lab = Lab {
            prefix: prefix.to_string(),
            wan: format!("{prefix}wan"),
            fw: format!("{prefix}fw"),
            lan: format!("{prefix}lan"),
        };
        // The guard exists before `up`: a half-built lab is removed too.
        lab.script("up")?;
        Ok(lab)
    }

    fn script(&self, verb: &str) -> Result<String, String> {
        let script = lab_script();
        run_cmd(
            60,
            &[script.to_str().unwrap_or("lab.sh"), verb, &self.prefix],
        )
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        match self.script("down") {
            Ok(_) => println!("lab {} removed", self.prefix),
            Err(e) => eprintln!("lab bench: tearing down the lab: {e}"),
        }
    }
}

fn link_json(ns: &str, dev: &str, stats: bool) -> Result<Value, String> {
    let mut args = vec!["ip", "-n", ns, "-j"];
    if stats {
        args.push("-s");
    }
    args.extend_from_slice(&["link", "show", dev]);
    let out = run_cmd(10, &args)?;
    let v: Value = serde_json::from_str(&out).map_err(|e| format!("ip -j link: {e}"))?;
    v.get(0)
        .cloned()
        .ok_or_else(|| format!("no {dev} in namespace {ns}"))
}

fn mac(ns: &str, dev: &str) -> Result<String, String> {
    link_json(ns, dev, false)?["address"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("{ns}/{dev}: no address"))
}

/// (rx packets, tx packets) of a device.
fn packets(ns: &str, dev: &str) -> Result<(u64, u64), String> {
    let v = link_json(ns, dev, true)?;
    let get = |dir: &str| {
        v["stats64"][dir]["packets"]
            .as_u64()
            .ok_or_else(|| format!("{ns}/{dev}: no {dir} packet counter"))
    };
    Ok((get("rx")?, get("tx")?))
}

/// Every process below `root` (by the `PPid` of each /proc entry).
fn descendants(root: u32) -> Vec<u32> {
    let mut parent = Vec::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let status = fs::read_to_string(e.path().join("status")).unwrap_or_default();
        if let Some(pp) = status
            .lines()
            .find_map(|l| l.strip_prefix("PPid:"))
            .and_then(|v| v.trim().parse::<u32>().ok())
        {
            parent.push((pid, pp));
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        out.extend(parent.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    out.remove(0);
    out
}

fn cpus_allowed(pid: u32) -> Option<String> {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .map(|v| v.trim().to_string())
}

/// Busy and total jiffies per CPU, from /proc/stat.
fn cpu_times() -> Vec<(u64, u64)> {
    let text = fs::read_to_string("/proc/stat").unwrap_or_default();
    text.lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .map(|l| {
            let f: Vec<u64> = l
                .split_whitespace()
                .skip(1)
                .filter_map(|x| x.parse().ok())
                .collect();
            let total: u64 = f.iter().take(8).sum();
            let idle = f.get(3).copied().unwrap_or(0) + f.get(4).copied().unwrap_or(0);
            (total - idle, total)
        })
        .collect()
}

fn busy_percent(a: &[(u64, u64)], b: &[(u64, u64)]) -> Vec<f64> {
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let total = y.1.saturating_sub(x.1).max(1);
            100.0 * y.0.saturating_sub(x.0) as f64 / total as f64
        })
        .collect()
}

// ---------------------------------------------------------------------------
// The three measurements

struct Flood {
    offered_pps: f64,
    received_pps: f64,
    busy: Vec<f64>,
}

/// 64-byte UDP frames from the wan host for `secs` after a 1 s warm-up.
fn flood(lab: &Lab, dir: &Path, secs: u64) -> Result<Flood, String> {
    let cfg = dir.join("udp64.trafgen");
    // 14 + 20 + 8 + 18 = 60 bytes: 64 on a wire with the FCS.
    let text = format!(
        "{{\n  eth(da={}, sa={}, type=0x0800),\n  ipv4(saddr={WAN_IP}, daddr={LAN_IP}, ttl=64),\n  \
         udp(sp=drnd(), dp=9),\n  fill(0x00, 18)\n}}\n",
        mac(&lab.lan, "eth0")?,
        mac(&lab.wan, "eth0")?
    );
    fs::write(&cfg, text).map_err(|e| format!("{}: {e}", cfg.display()))?;
    let cfg_s = cfg.to_string_lossy().into_owned();
    // Bounded by time (SIGINT after secs + 3) and by count (2 Mpps for
    // that long would still stop it).
    let count = ((secs + 3) * 2_000_000).to_string();
    let mut tg = Bg::spawn(
        &lab.wan,
        secs + 3,
        "INT",
        &[
            "taskset",
            "-c",
            HOST_CPU,
            "trafgen",
            "--dev",
            "eth0",
            "--conf",
            &cfg_s,
            "--no-sock-mem",
            "-S",
            "256KiB",
            "-P1",
            "-Q",
            "-n",
            &count,
        ],
        &dir.join("trafgen.log"),
    )?;
    // trafgen forks its sender and pins it to CPU 0 itself (-P1 means "CPU
    // 0"), overriding taskset: once it runs, move every process of it to
    // the host core, and check.
    thread::sleep(Duration::from_millis(300));
    if let Some(st) = tg.exited() {
        return Err(format!("trafgen exited early ({st}): {}", tg.tail()));
    }
    let pids = descendants(tg.child.id());
    for pid in &pids {
        run_cmd(
            5,
            &["taskset", "-a", "-p", "-c", HOST_CPU, &pid.to_string()],
        )?;
    }
    for pid in &pids {
        let allowed = cpus_allowed(*pid);
        if allowed.as_deref().is_some_and(|a| a != HOST_CPU) {
            return Err(format!(
                "trafgen process {pid} runs on CPUs {allowed:?}, not {HOST_CPU}"
            ));
        }
    }
    thread::sleep(Duration::from_millis(700));
    if let Some(st) = tg.exited() {
        return Err(format!("trafgen exited early ({st}): {}", tg.tail()));
    }
    // Each counter with its own time (the middle of the `ip` call that read
    // it): the two reads are some milliseconds apart.
    let at = |ns: &str, rx: bool| -> Result<(u64, Instant), String> {
        let before = Instant::now();
        let (r, t) = packets(ns, "eth0")?;
        Ok((if rx { r } else { t }, before + before.elapsed() / 2))
    };
    let c0 = cpu_times();
    let (rx0, rx_t0) = at(&lab.lan, true)?;
    let (tx0, tx_t0) = at(&lab.wan, false)?;
    thread::sleep(Duration::from_secs(secs));
    let (rx1, rx_t1) = at(&lab.lan, true)?;
    let (tx1, tx_t1) = at(&lab.wan, false)?;
    let c1 = cpu_times();
    let still_running = tg.exited().is_none();
    tg.stop("INT", Duration::from_secs(3));
    if !still_running {
        return Err(format!("trafgen stopped during the window: {}", tg.tail()));
    }
    // Let the queues drain before the next measurement.
    thread::sleep(Duration::from_millis(500));
    Ok(Flood {
        offered_pps: tx1.saturating_sub(tx0) as f64 / (tx_t1 - tx_t0).as_secs_f64(),
        received_pps: rx1.saturating_sub(rx0) as f64 / (rx_t1 - rx_t0).as_secs_f64(),
        busy: busy_percent(&c0, &c1),
    })
}

struct Tcp {
    gbps: f64,
    retransmits: u64,
}

/// iperf3 wan -> lan for `secs`.
fn tcp(lab: &Lab, dir: &Path, secs: u64) -> Result<Tcp, String> {
    let port = IPERF_PORT.to_string();
    let mut server = Bg::spawn(
        &lab.lan,
        secs + 20,
        "TERM",
        &["taskset", "-c", HOST_CPU, "iperf3", "-s", "-1", "-p", &port],
        &dir.join("iperf3-server.log"),
    )?;
    thread::sleep(Duration::from_millis(300));
    if let Some(st) = server.exited() {
        return Err(format!("iperf3 server exited ({st}): {}", server.tail()));
    }
    let mut args = vec!["ip", "netns", "exec", &lab.wan];
    let t = secs.to_string();
    args.extend_from_slice(&[
        "taskset", "-c", HOST_CPU, "iperf3", "-c", LAN_IP, "-p", &port, "-t", &t, "-J",
    ]);
    // iperf3 -J prints its JSON (with an "error" key) on failure too.
    let out = bounded(secs + 15, &args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("iperf3: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(&stdout).map_err(|_| {
        format!(
            "iperf3 client ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )
    })?;
    server.stop("TERM", Duration::from_secs(2));
    if let Some(e) = v.get("error").and_then(Value::as_str) {
        return Err(format!("iperf3: {e}"));
    }
    let bps = v["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .ok_or("iperf3: no end.sum_received.bits_per_second")?;
    Ok(Tcp {
        gbps: bps / 1e9,
        retransmits: v["end"]["sum_sent"]["retransmits"].as_u64().unwrap_or(0),
    })
}

#[derive(Clone, Copy)]
struct Latency {
    got: u64,
    sent: u64,
    p50_ns: u64,
    p99_ns: u64,
    p999_ns: u64,
    max_ns: u64,
}

/// UDP echo round trips wan -> lan -> wan.
fn latency(lab: &Lab, dir: &Path, s: &Settings) -> Result<Latency, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let exe = exe.to_string_lossy().into_owned();
    let warmup = 200u64;
    let run_s = (s.probes + warmup) / s.probe_rate + 2;
    let listen = format!("0.0.0.0:{ECHO_PORT}");
    let life = (run_s + 5).to_string();
    let mut server = Bg::spawn(
        &lab.lan,
        run_s + 10,
        "TERM",
        &[
            "taskset",
            "-c",
            HOST_CPU,
            &exe,
            "__udp-echo",
            &listen,
            &life,
        ],
        &dir.join("echo.log"),
    )?;
    thread::sleep(Duration::from_millis(200));
    if let Some(st) = server.exited() {
        return Err(format!("echo server exited ({st}): {}", server.tail()));
    }
    let target = format!("{LAN_IP}:{ECHO_PORT}");
    let out = ns_run(
        &lab.wan,
        run_s + 10,
        &[
            "taskset",
            "-c",
            HOST_CPU,
            &exe,
            "__udp-probe",
            &target,
            &s.probes.to_string(),
            &warmup.to_string(),
            &s.probe_rate.to_string(),
        ],
    )?;
    server.stop("TERM", Duration::from_secs(2));
    let line = out
        .lines()
        .find(|l| l.starts_with("probe "))
        .ok_or_else(|| format!("probe printed no result: {out}"))?;
    let field = |k: &str| -> Result<u64, String> {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(k)?.strip_prefix('=')?.parse().ok())
            .ok_or_else(|| format!("probe result without {k}: {line}"))
    };
    Ok(Latency {
        sent: field("sent")?,
        got: field("got")?,
        p50_ns: field("p50_ns")?,
        p99_ns: field("p99_ns")?,
        p999_ns: field("p999_ns")?,
        max_ns: field("max_ns")?,
    })
}

// ---------------------------------------------------------------------------
// The configurations

#[derive(Default)]
struct Row {
    name: String,
    skipped: Option<String>,
    flood: Option<Result<Flood, String>>,
    tcp: Option<Result<Tcp, String>>,
    lat: Option<Result<Latency, String>>,
    note: Option<String>,
}

/// The three measurements on whatever forwards between the ports now.
fn measure(row: &mut Row, lab: &Lab, dir: &Path, s: &Settings) {
    let lat = latency(lab, dir, s);
    let connected = matches!(&lat, Ok(l) if l.got > 0);
    row.lat = Some(lat);
    if !connected {
        row.note = Some("no echo came back: TCP and flood not measured".into());
        return;
    }
    row.tcp = Some(tcp(lab, dir, s.tcp_s));
    row.flood = Some(flood(lab, dir, s.flood_s));
}

fn fw_sysctl(lab: &Lab, kv: &str) -> Result<String, String> {
    ns_run(&lab.fw, 10, &["sysctl", "-q", "-w", kv])
}

/// RPS mask of the appliance's core (core 0).
const APPLIANCE_RPS_MASK: &str = "1";

/// Steer the receive processing of both fw ports to the CPUs in `mask`.
fn fw_rps(lab: &Lab, mask: &str) -> Result<String, String> {
    let script = format!(
        "for d in wan0 lan0; do echo {mask} > /sys/class/net/$d/queues/rx-0/rps_cpus; done"
    );
    ns_run(&lab.fw, 10, &["sh", "-c", &script])
}

fn run_bridge(row: &mut Row, lab: &Lab, dir: &Path, s: &Settings, seed_rules: bool, rps: bool) {
    let setup = || -> Result<(), String> {
        lab.script("bridge")?;
        if rps {
            fw_rps(lab, APPLIANCE_RPS_MASK)?;
        }
        if seed_rules {
            fw_sysctl(lab, "net.bridge.bridge-nf-call-iptables=1")?;
            for rule in SEED_RULES {
                let mut args = vec!["iptables"];
                args.extend(rule.split_whitespace());
                ns_run(&lab.fw, 10, &args)?;
            }
        }
        Ok(())
    };
    match setup() {
        Ok(()) => {
            if seed_rules {
                row.note = Some(format!(
                    "{} rules in FORWARD, br_netfilter on",
                    SEED_RULES.len()
                ));
            }
            if rps {
                row.note = Some(format!(
                    "rps_cpus={APPLIANCE_RPS_MASK} on wan0 and lan0: the bridge forwards on core 0"
                ));
            }
            measure(row, lab, dir, s);
            if seed_rules {
                // What the rules let through and dropped, for the record.
                if let Ok(out) = ns_run(
                    &lab.fw,
                    10,
                    &["iptables", "-L", "FORWARD", "-v", "-n", "-x"],
                ) {
                    let _ = fs::write(dir.join("iptables-counters.txt"), out);
                }
            }
        }
        Err(e) => row.skipped = Some(format!("setup failed: {e}")),
    }
    // Back to the bare lab, whatever happened.
    if seed_rules {
        let _ = ns_run(&lab.fw, 10, &["iptables", "-F", "FORWARD"]);
    }
    let _ = fw_sysctl(lab, "net.bridge.bridge-nf-call-iptables=0");
    if rps {
        let _ = fw_rps(lab, "0");
    }
    let _ = lab.script("unbridge");
}

fn run_flypaper(
    row: &mut Row,
    lab: &Lab,
    dir: &Path,
    s: &Settings,
    backend: &str,
    busy_poll: bool,
) {
    let cfg = dir.join("flypaper.toml");
    let stats = dir.join(format!("stats-{backend}.json"));
    if let Err(e) = fs::write(&cfg, FLYPAPER_TOML) {
        row.skipped = Some(format!("{}: {e}", cfg.display()));
        return;
    }
    // Each run starts with no flies: a state directory of its own.
    let state = dir.join(format!("state-{backend}"));
    let _ = fs::remove_dir_all(&state);
    let (cfg_s, stats_s, state_s) = (
        cfg.to_string_lossy().into_owned(),
        stats.to_string_lossy().into_owned(),
        state.to_string_lossy().into_owned(),
    );
    let fp = env!("CARGO_BIN_EXE_flypaper");
    let mut app = match Bg::spawn(
        &lab.fw,
        120,
        "TERM",
        &[
            "taskset",
            "-c",
            APPLIANCE_CPU,
            fp,
            "run",
            "--wan",
            "wan0",
            "--lan",
            "lan0",
            "--backend",
            backend,
            "--config",
            &cfg_s,
            "--stats-file",
            &stats_s,
            "--state-dir",
            &state_s,
            if busy_poll {
                "--busy-poll"
            } else {
                "--workers=1"
            },
        ],
        &dir.join(format!("flypaper-{backend}.log")),
    ) {
        Ok(a) => a,
        Err(e) => {
            row.skipped = Some(e);
            return;
        }
    };
    // `ready` as a word: "already bound" is not ready.
    let until = Instant::now() + Duration::from_secs(20);
    let ready = loop {
        if app.output().lines().any(|l| {
            l.split(|c: char| !c.is_ascii_alphanumeric())
                .any(|w| w == "ready")
        }) {
            break true;
        }
        if app.exited().is_some() || Instant::now() >= until {
            break false;
        }
        thread::sleep(Duration::from_millis(50));
    };
    if !ready {
        let st = app.stop("TERM", Duration::from_secs(5));
        row.skipped = Some(format!(
            "`flypaper run --backend {backend}` did not start (exit: {}): {}",
            st.map_or("none".into(), |s| s.to_string()),
            app.tail()
        ));
        return;
    }
    let mode = app
        .output()
        .lines()
        .filter(|l| l.starts_with("backend") || l.contains("mode"))
        .collect::<Vec<_>>()
        .join("; ");
    measure(row, lab, dir, s);
    let st = app.stop("TERM", Duration::from_secs(10));
    // The final counters, to show where frames went.
    let out = app.output();
    let summary = out
        .lines()
        .find_map(|l| l.strip_prefix("stats "))
        .and_then(|j| serde_json::from_str::<Value>(j).ok())
        .map(|v| {
            let mut s = format!(
                "frames_wan {}, forwarded {}, tx_errors {}",
                v["frames_wan"], v["forwarded"], v["tx_errors"]
            );
            if let Some(d) = v["drops"].as_object() {
                for (k, n) in d.iter().filter(|(_, n)| n.as_u64().unwrap_or(0) > 0) {
                    let _ = write!(s, ", {k} {n}");
                }
            }
            s
        })
        .unwrap_or_else(|| format!("no final stats line (exit: {st:?})"));
    row.note = Some(format!("{mode}; {summary}"));
}

// ---------------------------------------------------------------------------
// The run and the table

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn run(s: &Settings) -> Result<(), String> {
    let started = Instant::now();
    let prefix = format!("fpb{}-", std::process::id());
    let dir =
        TempDir(std::env::temp_dir().join(format!("flypaper-lab-bench-{}", std::process::id())));
    fs::create_dir_all(&dir.0).map_err(|e| format!("{}: {e}", dir.0.display()))?;
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "lab bench: kernel {}, {} cores, load average {}",
        kernel.trim(),
        thread::available_parallelism().map_or(1, |n| n.get()),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    if load
        .split_whitespace()
        .next()
        .and_then(|l| l.parse::<f64>().ok())
        .is_some_and(|l| l > 0.5)
    {
        println!("lab bench: warning: the machine is busy; other processes share these two cores");
    }
    // What else runs on these two cores: everything here is measured
    // against it.
    let c0 = cpu_times();
    thread::sleep(Duration::from_secs(1));
    let idle_busy = busy_percent(&c0, &cpu_times());
    let foreign = run_cmd(10, &["ip", "netns", "list"])
        .unwrap_or_default()
        .lines()
        .count();
    println!(
        "lab bench: before the run, cores 0/1 busy {} % over 1 s; {foreign} network namespaces exist",
        fmt_busy(&idle_busy)
    );
    if idle_busy.iter().any(|b| *b > 10.0) {
        println!(
            "lab bench: warning: something else is using these cores; the numbers carry its noise"
        );
    }
    println!(
        "lab bench: lab {prefix} (if interrupted: {} down {prefix})",
        lab_script().display()
    );
    let lab = Lab::up(&prefix)?;

    let mut rows = Vec::new();
    for name in &s.configs {
        let mut row = Row {
            name: match *name {
                "afpacket" | "afxdp" => format!("flypaper {name}"),
                "afxdp-busy" => "flypaper afxdp --busy-poll".to_string(),
                "bridge-rps0" => "bridge, RPS to core 0 (control)".to_string(),
                n => n.to_string(),
            },
            ..Row::default()
        };
        println!("lab bench: {} ...", row.name);
        match *name {
            "bridge" => run_bridge(&mut row, &lab, &dir.0, s, false, false),
            "bridge+iptables" => run_bridge(&mut row, &lab, &dir.0, s, true, false),
            "bridge-rps0" => run_bridge(&mut row, &lab, &dir.0, s, false, true),
            "afxdp-busy" => run_flypaper(&mut row, &lab, &dir.0, s, "afxdp", true),
            backend => run_flypaper(&mut row, &lab, &dir.0, s, backend, false),
        }
        print_progress(&row);
        rows.push(row);
    }
    drop(lab);

    print_table(&rows, s);
    println!(
        "\n(whole bench: {:.0} s, including the lab's setup and teardown)",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn print_progress(row: &Row) {
    if let Some(why) = &row.skipped {
        println!("  skipped: {why}");
        return;
    }
    for (what, r) in [
        ("latency", row.lat.as_ref().map(|r| r.as_ref().err())),
        ("tcp", row.tcp.as_ref().map(|r| r.as_ref().err())),
        ("flood", row.flood.as_ref().map(|r| r.as_ref().err())),
    ] {
        if let Some(Some(e)) = r {
            println!("  {what} failed: {e}");
        }
    }
    if let Some(Ok(f)) = &row.flood {
        println!(
            "  flood: offered {:.0} kpps, received {:.0} kpps, cores busy {}",
            f.offered_pps / 1e3,
            f.received_pps / 1e3,
            fmt_busy(&f.busy)
        );
    }
    if let Some(Ok(l)) = &row.lat {
        println!(
            "  latency: {}/{} echoes, max {:.1} us",
            l.got,
            l.sent,
            l.max_ns as f64 / 1e3
        );
    }
    if let Some(n) = &row.note {
        println!("  {n}");
    }
}

fn fmt_busy(b: &[f64]) -> String {
    b.iter()
        .map(|p| format!("{p:.0}"))
        .collect::<Vec<_>>()
        .join("/")
}

fn us(ns: u64) -> String {
    format!("{:.1}", ns as f64 / 1e3)
}

fn print_table(rows: &[Row], s: &Settings) {
    let base_pps = rows
        .iter()
        .find(|r| r.name == "bridge")
        .and_then(|r| r.flood.as_ref()?.as_ref().ok())
        .map(|f| f.received_pps);
    let base_lat = rows
        .iter()
        .find(|r| r.name == "bridge")
        .and_then(|r| r.lat.as_ref()?.as_ref().ok().copied());
    println!();
    println!(
        "Command: `cargo bench --bench lab` (as root; release profile){}",
        env_note()
    );
    println!();
    println!(
        "| configuration | 64 B UDP offered (kpps) | 64 B UDP forwarded (kpps) | vs bridge | cores 0/1 busy (%) | TCP wan->lan (Gbit/s) | UDP RTT p50 / p99 / p99.9 (us) | added p50 / p99 vs bridge (us) |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        if let Some(why) = &r.skipped {
            println!(
                "| {} | skipped: {} | | | | | | |",
                r.name,
                why.replace('|', "/")
            );
            continue;
        }
        let (offered, fwd, ratio, busy) = match &r.flood {
            Some(Ok(f)) => (
                format!("{:.0}", f.offered_pps / 1e3),
                format!("{:.0}", f.received_pps / 1e3),
                base_pps.map_or("-".into(), |b| format!("{:.2}", f.received_pps / b)),
                fmt_busy(&f.busy),
            ),
            Some(Err(_)) => ("failed".into(), "-".into(), "-".into(), "-".into()),
            None => ("-".into(), "-".into(), "-".into(), "-".into()),
        };
        let tcp = match &r.tcp {
            Some(Ok(t)) => format!("{:.2} ({} retr.)", t.gbps, t.retransmits),
            Some(Err(_)) => "failed".into(),
            None => "-".into(),
        };
        let (lat, added) = match &r.lat {
            Some(Ok(l)) if l.got > 0 => (
                format!(
                    "{} / {} / {}{}",
                    us(l.p50_ns),
                    us(l.p99_ns),
                    us(l.p999_ns),
                    if l.got < l.sent {
                        format!(" ({} lost)", l.sent - l.got)
                    } else {
                        String::new()
                    }
                ),
                match base_lat {
                    Some(b) if r.name != "bridge" => format!(
                        "{:+.1} / {:+.1}",
                        (l.p50_ns as f64 - b.p50_ns as f64) / 1e3,
                        (l.p99_ns as f64 - b.p99_ns as f64) / 1e3
                    ),
                    _ => "-".into(),
                },
            ),
            Some(Ok(_)) => ("no echo".into(), "-".into()),
            Some(Err(_)) => ("failed".into(), "-".into()),
            None => ("-".into(), "-".into()),
        };
        println!(
            "| {} | {offered} | {fwd} | {ratio} | {busy} | {tcp} | {lat} | {added} |",
            r.name
        );
    }
    println!();
    println!(
        "Flood: trafgen on core 1, {} s window after 1 s warm-up, 60-byte frames (64 with FCS), UDP {WAN_IP} -> {LAN_IP} with random source ports; forwarded = lan host eth0 rx packets / s; offered = wan host eth0 tx packets / s. TCP: iperf3 {} s, both ends on core 1. RTT: {} UDP echoes at {}/s (after 200 warm-up), probe and echo server on core 1, hdrhistogram. flypaper runs on core 0 (taskset; its worker pins itself there); the Linux bridge forwards in the softirq of the sending core (core 1), except in the RPS control row, where it forwards on core 0 like flypaper.",
        s.flood_s, s.tcp_s, s.probes, s.probe_rate
    );
    for r in rows {
        if let Some(n) = &r.note {
            println!("- {}: {}", r.name, n);
        }
    }
}

fn env_note() -> String {
    let mut v = Vec::new();
    for name in [
        "FLYPAPER_LAB_CONFIGS",
        "FLYPAPER_LAB_FLOOD_S",
        "FLYPAPER_LAB_TCP_S",
        "FLYPAPER_LAB_PROBES",
        "FLYPAPER_LAB_PROBE_RATE",
    ] {
        if let Ok(x) = std::env::var(name) {
            if !x.trim().is_empty() {
                v.push(format!("{name}={x}"));
            }
        }
    }
    if v.is_empty() {
        String::new()
    } else {
        format!(", with {}", v.join(" "))
    }
}

// ---------------------------------------------------------------------------
// The two helpers this binary becomes inside the namespaces

/// `__udp-echo ADDR LIFETIME_S`: send every datagram back, for at most
/// LIFETIME_S seconds.
fn udp_echo(args: &[String]) -> i32 {
    let (Some(addr), Some(life)) = (
        args.first(),
        args.get(1).and_then(|s| s.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: __udp-echo ADDR LIFETIME_S");
        return 2;
    };
    let sock = match UdpSocket::bind(addr.as_str()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("udp echo: bind {addr}: {e}");
            return 1;
        }
    };
    let _ = sock.set_read_timeout(Some(Duration::from_millis(200)));
    let until = Instant::now() + Duration::from_secs(life);
    let mut buf = [0u8; 2048];
    while Instant::now() < until {
        match sock.recv_from(&mut buf) {
            Ok((n, from)) => {
                let _ = sock.send_to(&buf[..n], from);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => {
                eprintln!("udp echo: {e}");
                return 1;
            }
        }
    }
    0
}

/// `__udp-probe ADDR COUNT WARMUP RATE`: COUNT + WARMUP echo round trips,
/// one every 1/RATE s; the first WARMUP are not recorded (ARP, first
/// flows). Prints `probe sent=.. got=.. p50_ns=.. p99_ns=.. p999_ns=.. max_ns=..`.
fn udp_probe(args: &[String]) -> i32 {
    let parsed = (|| -> Option<(SocketAddr, u64, u64, u64)> {
        Some((
            args.first()?.parse().ok()?,
            args.get(1)?.parse().ok()?,
            args.get(2)?.parse().ok()?,
            args.get(3)?.parse().ok().filter(|r| *r > 0)?,
        ))
    })();
    let Some((target, count, warmup, rate)) = parsed else {
        eprintln!("usage: __udp-probe ADDR COUNT WARMUP RATE");
        return 2;
    };
    // Unconnected: an ICMP error (no server yet) is not reported to it.
    let sock = match UdpSocket::bind("0.0.0.0:0") {
        Ok(s) => s,
        Err(e) => {
            eprintln!("udp probe: bind: {e}");
            return 1;
        }
    };
    let wait = Duration::from_millis(100);
    let _ = sock.set_read_timeout(Some(wait));
    let mut hist = match Histogram::<u64>::new_with_bounds(100, 10_000_000_000, 3) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("udp probe: histogram: {e}");
            return 1;
        }
    };
    let period = Duration::from_nanos(1_000_000_000 / rate);
    let start = Instant::now();
    let mut got = 0u64;
    let mut payload = [0u8; 32];
    let mut buf = [0u8; 2048];
    for i in 0..warmup + count {
        let due = start + period * i as u32;
        let now = Instant::now();
        if due > now {
            thread::sleep(due - now);
        }
        payload[..8].copy_from_slice(&i.to_le_bytes());
        let t0 = Instant::now();
        if sock.send_to(&payload, target).is_err() {
            continue;
        }
        loop {
            match sock.recv_from(&mut buf) {
                Ok((n, _)) if n >= 8 && buf[..8] == payload[..8] => {
                    let rtt = t0.elapsed();
                    if i >= warmup {
                        got += 1;
                        let _ = hist.record((rtt.as_nanos() as u64).max(100));
                    }
                    break;
                }
                // A late echo of an earlier probe: keep waiting for ours.
                Ok(_) if t0.elapsed() < wait => continue,
                _ => break,
            }
        }
    }
    println!(
        "probe sent={count} got={got} p50_ns={} p99_ns={} p999_ns={} max_ns={}",
        hist.value_at_quantile(0.5),
        hist.value_at_quantile(0.99),
        hist.value_at_quantile(0.999),
        hist.max()
    );
    0
}

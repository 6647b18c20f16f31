//! `flypaper demo`: the appliance between two network namespaces, with
//! legitimate traffic and the seed's attacks sent by real tools.
//!
//! It builds the lab (`appliance/lab.sh`, embedded in the binary), runs
//! `flypaper run` in the appliance's namespace with the seed policy plus
//! strict flypaper mode for the LAN host's services, sends ping, a TCP
//! transfer and a DNS-like UDP exchange, then bogon-spoofed sources, SYN+FIN,
//! an ICMP timestamp request, a SYN flood, an ICMP flood and a port scan
//! that touches the trap port. Then it runs the operator's verbs against the
//! appliance's control socket (in the demo's scratch directory): `status`,
//! `list`, and `free` of the scanner, whose pings are dropped before the free
//! and answered after it. It prints what passed, the drops per reason and
//! the flies. The lab is torn down however the demo ends. Every command
//! runs under `timeout`, and all traffic stays inside the lab's namespaces.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const LAB_SH: &str = include_str!("../appliance/lab.sh");
const WAN_HOST: &str = "198.51.100.1";
const LAN_HOST: &str = "198.51.100.130";
/// The source of the port scan: the fly the demo frees again.
const SCANNER: &str = "198.51.100.5";

/// The policy the demo runs: the seed defaults, anti-spoof for the lab's
/// LAN half, and strict flypaper mode with the LAN host's services allowed.
pub const DEMO_POLICY: &str = r#"[filter]
lan = ["198.51.100.128/25"]

[flypaper]
mode = "strict"

[[flypaper.allow]]
proto = "tcp"
ports = 8080

[[flypaper.allow]]
proto = "udp"
ports = 5353

[[flypaper.allow]]
proto = "icmp"
"#;

struct Lab {
    prefix: String,
    script: PathBuf,
    dir: PathBuf,
}

impl Lab {
    fn up(dir: &Path) -> Result<Lab, String> {
        let prefix = format!("fpd{}-", std::process::id() % 100_000);
        let script = dir.join("lab.sh");
        std::fs::write(&script, LAB_SH).map_err(|e| format!("{}: {e}", script.display()))?;
        let lab = Lab {
            prefix,
            script,
            dir: dir.to_path_buf(),
        };
        let out = Command::new("bash")
            .arg(&lab.script)
            .args(["up", &lab.prefix])
            .output()
            .map_err(|e| format!("bash: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "lab.sh up failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(lab)
    }

    fn ns(&self, host: &str) -> String {
        format!("{}{host}", self.prefix)
    }

    /// `args` run in a namespace, bounded by `secs`.
    fn command(&self, host: &str, secs: u32, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args([
            "netns",
            "exec",
            &self.ns(host),
            "timeout",
            &secs.to_string(),
        ])
        .args(args);
        c
    }

    /// Run a command in a namespace, bounded by `secs`.
    fn exec(&self, host: &str, secs: u32, args: &[&str]) -> (bool, String) {
        match self.command(host, secs, args).output() {
            Ok(o) => (
                o.status.success(),
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                ),
            ),
            Err(e) => (false, e.to_string()),
        }
    }

    fn spawn(&self, host: &str, secs: u32, args: &[&str]) -> std::io::Result<Child> {
        self.command(host, secs, args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(&self.script)
            .args(["down", &self.prefix])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Appliance {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Appliance {
    fn start(
        lab: &Lab,
        exe: &Path,
        config: &Path,
        stats: &Path,
        socket: &Path,
    ) -> Result<Appliance, String> {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &lab.ns("fw")])
            .arg(exe)
            .args(["run", "--wan", "wan0", "--lan", "lan0", "--config"])
            .arg(config)
            .arg("--stats-file")
            .arg(stats)
            .arg("--socket")
            .arg(socket)
            // The demo's flies are its own: not saved where a real
            // appliance keeps its state, and gone with the lab.
            .arg("--state-dir")
            .arg(lab.dir.join("state"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("starting the appliance: {e}"))?;
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut a = Appliance {
            child,
            lines: rx,
            seen: Vec::new(),
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            match a.lines.recv_timeout(Duration::from_millis(100)) {
                Ok(l) => {
                    println!("  appliance: {l}");
                    let ready = l.contains("ready");
                    a.seen.push(l);
                    if ready {
                        return Ok(a);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(st)) = a.child.try_wait() {
                        return Err(format!("the appliance exited before it was ready ({st})"));
                    }
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err("the appliance exited before it was ready".into());
                }
            }
        }
        Err("the appliance did not become ready within 15 s".into())
    }

    /// SIGTERM, wait, and return everything it printed.
    fn stop(mut self) -> Vec<String> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(300)) {
            self.seen.push(l);
        }
        std::mem::take(&mut self.seen)
    }
}

impl Drop for Appliance {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn need_tools() -> Result<(), String> {
    let mut missing = Vec::new();
    for (tool, pkg) in [
        ("ip", "iproute2"),
        ("ping", "iputils-ping"),
        ("iperf3", "iperf3"),
        ("hping3", "hping3"),
        ("nmap", "nmap"),
        ("ethtool", "ethtool"),
        ("timeout", "coreutils"),
    ] {
        let found = std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
            .unwrap_or(false);
        if !found {
            missing.push(pkg);
        }
    }
    let scapy = Command::new("/usr/bin/python3")
        .args(["-c", "import scapy"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !scapy {
        missing.push("python3-scapy");
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the demo needs: apt-get install {}",
            missing.join(" ")
        ))
    }
}

/// Run `flypaper VERB ARGS --socket SOCKET` as an operator would, and print
/// the command and its answer.
fn operator(exe: &Path, socket: &Path, args: &[&str]) {
    println!("  $ flypaper {}", args.join(" "));
    let out = Command::new("timeout")
        .arg("20")
        .arg(exe)
        .args(args)
        .arg("--socket")
        .arg(socket)
        .output();
    match out {
        Ok(o) => {
            for l in String::from_utf8_lossy(&o.stdout)
                .lines()
                .chain(String::from_utf8_lossy(&o.stderr).lines())
            {
                println!("    {l}");
            }
            if !o.status.success() {
                println!("    (exit status {})", o.status.code().unwrap_or(-1));
            }
        }
        Err(e) => println!("    {e}"),
    }
}

/// Two pings from the scanner's address to the lan host: ping's summary.
fn scanner_ping(lab: &Lab) -> String {
    let (_, out) = lab.exec(
        "wan",
        10,
        &[
            "ping", "-c", "2", "-i", "0.3", "-W", "1", "-I", SCANNER, LAN_HOST,
        ],
    );
    out.lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or("no summary from ping")
        .to_string()
}

fn scapy(lab: &Lab, code: &str) -> (bool, String) {
    let script = format!("from scapy.all import *\nconf.verb = 0\n{code}\n");
    lab.exec("wan", 30, &["/usr/bin/python3", "-c", &script])
}

/// Run the demo. `exe` is the flypaper binary to run as the appliance.
pub fn run(exe: &Path) -> Result<(), String> {
    // The lab needs root (CAP_NET_ADMIN and network namespaces).
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| e.to_string())?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err("the demo builds network namespaces: run it as root".into());
    }
    need_tools()?;
    let dir = std::env::temp_dir().join(format!("flypaper-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    println!("== building the lab: wan host {WAN_HOST} -- [appliance] -- lan host {LAN_HOST}");
    let lab = Lab::up(&dir)?;
    let config = dir.join("demo.toml");
    let stats = dir.join("stats.json");
    let socket = dir.join("control.sock");
    std::fs::write(&config, DEMO_POLICY).map_err(|e| e.to_string())?;
    println!("== policy: the seed rules, anti-spoof for 198.51.100.128/25, strict flypaper mode");
    println!("   allowing tcp/8080, udp/5353 and ping toward the lan host");
    let app = Appliance::start(&lab, exe, &config, &stats, &socket)?;

    println!("\n== legitimate traffic");
    let (_, out) = lab.exec(
        "wan",
        10,
        &["ping", "-c", "3", "-i", "0.3", "-W", "1", LAN_HOST],
    );
    let ping = out
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or("no answer")
        .to_string();
    println!("  ping wan -> lan:             {ping}");
    let server = lab.spawn("lan", 30, &["iperf3", "-s", "-1", "-p", "8080"]);
    std::thread::sleep(Duration::from_millis(500));
    let (ok, out) = lab.exec(
        "wan",
        25,
        &["iperf3", "-c", LAN_HOST, "-p", "8080", "-n", "20M"],
    );
    let rate = out
        .lines()
        .find(|l| l.contains("receiver"))
        .and_then(|l| {
            let mut w = l
                .split_whitespace()
                .skip_while(|w| !w.ends_with("Bytes"))
                .skip(1);
            Some(format!("{} {}", w.next()?, w.next()?))
        })
        .unwrap_or_else(|| if ok { "done".into() } else { "FAILED".into() });
    println!("  TCP 20 MB wan -> lan:8080:   {rate}");
    if let Ok(mut s) = server {
        let _ = s.wait();
    }
    let udp_server = lab.spawn(
        "lan",
        10,
        &[
            "/usr/bin/python3",
            "-c",
            "import socket\ns=socket.socket(2,2)\ns.bind(('0.0.0.0',5353))\ns.settimeout(8)\nd,a=s.recvfrom(512)\ns.sendto(b'answer for '+d,a)",
        ],
    );
    std::thread::sleep(Duration::from_millis(300));
    let (_, out) = lab.exec(
        "wan",
        6,
        &[
            "/usr/bin/python3",
            "-c",
            "import socket\ns=socket.socket(2,2)\ns.settimeout(3)\ns.sendto(b'example.org A?',('198.51.100.130',5353))\nprint(s.recvfrom(512)[0].decode())",
        ],
    );
    println!(
        "  UDP query wan -> lan:5353:   {}",
        out.lines().next().unwrap_or("no answer").trim()
    );
    if let Ok(mut s) = udp_server {
        let _ = s.wait();
    }

    println!("\n== attacks from the wan side");
    let _ = scapy(
        &lab,
        "send([IP(src=s, dst='198.51.100.130')/ICMP() for s in ('10.0.0.1','192.168.1.1','127.0.0.1','172.16.5.5')], iface='eth0')",
    );
    println!("  bogon-spoofed sources 10.0.0.1, 192.168.1.1, 127.0.0.1, 172.16.5.5");
    let _ = lab.exec(
        "wan",
        10,
        &[
            "hping3", "-I", "eth0", "-S", "-F", "-p", "8080", "-c", "3", "-i", "u10000", LAN_HOST,
        ],
    );
    println!("  SYN+FIN x3 (hping3 -SF)");
    let _ = scapy(
        &lab,
        "send(IP(dst='198.51.100.130')/ICMP(type=13), iface='eth0')",
    );
    println!("  ICMP timestamp request");
    let _ = lab.exec(
        "wan",
        20,
        &[
            "hping3",
            "-I",
            "eth0",
            "-S",
            "-p",
            "8080",
            "-i",
            "u500",
            "-c",
            "1000",
            "-a",
            "198.51.100.3",
            LAN_HOST,
        ],
    );
    println!("  SYN flood: 1000 SYNs from 198.51.100.3 to port 8080 in ~0.5 s");
    let _ = lab.exec(
        "wan",
        20,
        &[
            "hping3",
            "-I",
            "eth0",
            "-1",
            "-i",
            "u1000",
            "-c",
            "200",
            "-a",
            "198.51.100.4",
            LAN_HOST,
        ],
    );
    println!("  ICMP flood: 200 echo requests from 198.51.100.4 in ~0.2 s");
    // nmap routes from a source address only when the host has it.
    let _ = lab.exec(
        "wan",
        5,
        &["ip", "addr", "add", &format!("{SCANNER}/24"), "dev", "eth0"],
    );
    let _ = lab.exec(
        "wan",
        10,
        &[
            "hping3", "-I", "eth0", "-S", "-p", "139", "-c", "1", "-a", SCANNER, LAN_HOST,
        ],
    );
    let (_, nmap) = lab.exec(
        "wan",
        60,
        &[
            "nmap",
            "-sS",
            "-Pn",
            "-n",
            "-e",
            "eth0",
            "-S",
            SCANNER,
            "--max-retries",
            "0",
            "-p",
            "21,22,80,443,8080",
            LAN_HOST,
        ],
    );
    let open: Vec<&str> = nmap
        .lines()
        .filter(|l| l.contains("/tcp") && l.contains(" open"))
        .collect();
    println!(
        "  port scan from {SCANNER}: SYN to the trap port 139, then nmap -sS -p 21,22,80,443,8080"
    );
    println!(
        "    nmap found {} open port(s){}",
        open.len(),
        if open.is_empty() { "" } else { ": " }
    );
    for l in open {
        println!("      {l}");
    }
    std::thread::sleep(Duration::from_millis(400));

    println!(
        "\n== the operator's verbs, on the control socket {}",
        socket.display()
    );
    operator(exe, &socket, &["status"]);
    operator(exe, &socket, &["list"]);
    println!(
        "  ping from the scanner {SCANNER}, a fly:   {}",
        scanner_ping(&lab)
    );
    operator(exe, &socket, &["free", SCANNER]);
    println!(
        "  ping from the scanner {SCANNER}, freed:   {}",
        scanner_ping(&lab)
    );

    println!("\n== stopping the appliance (SIGTERM)");
    let lines = app.stop();
    let stats_line = lines
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("stats "))
        .ok_or("the appliance printed no final stats")?;
    let st: serde_json::Value =
        serde_json::from_str(stats_line).map_err(|e| format!("stats: {e}"))?;
    println!(
        "  frames: {} from wan, {} from lan; forwarded {}, delayed {}",
        st["frames_wan"], st["frames_lan"], st["forwarded"], st["delayed"]
    );
    println!("\n== drops by reason");
    if let Some(drops) = st["drops"].as_object() {
        let mut d: Vec<(&String, u64)> = drops
            .iter()
            .filter_map(|(k, v)| v.as_u64().filter(|n| *n > 0).map(|n| (k, n)))
            .collect();
        d.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        for (k, n) in d {
            println!("  {k:<16} {n:>8}");
        }
    }
    if let Some(x) = st.get("xdp") {
        println!(
            "  {:<16} {:>8}   (dropped in the XDP program, before userspace)",
            "fly (xdp)",
            x["fly_drops"].as_u64().unwrap_or(0)
        );
    }
    println!(
        "  {:<16} {:>8}   (dropped by the kernel before flypaper: full queues)",
        "kernel",
        st["kernel_drops"].as_u64().unwrap_or(0)
    );
    println!("\n== flies");
    let lockouts: Vec<&String> = lines.iter().filter(|l| l.starts_with("lockout ")).collect();
    if lockouts.is_empty() {
        println!("  none");
    }
    for l in lockouts {
        println!("  {l}");
    }
    println!("\n== tearing the lab down");
    drop(lab);
    Ok(())
}

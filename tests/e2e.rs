//! End-to-end tests: the real `flypaper run` binary bridging the lab's two
//! hosts (`appliance/lab.sh`), with real traffic tools (ping, nc, hping3,
//! nmap, scapy, tcpdump) inside network namespaces that each test creates
//! and removes. Every test asserts on what the appliance's stats file says
//! and on what actually arrives at the lan host, not only on exit codes.
//!
//! Needs root; without it the tests fail unless `FLYPAPER_SKIP_E2E=1`.
//! `FLYPAPER_E2E_AFXDP=0` leaves out the AF_XDP variants (see
//! `support::AFXDP_BY_DEFAULT`); `FLYPAPER_E2E_KEEP=1` keeps each lab's
//! scratch directory. Tools: iproute2 ethtool iputils-ping netcat-openbsd
//! tcpdump hping3 nmap iperf3 python3-scapy.
//!
//! All traffic stays inside the lab: the hosts' addresses are
//! 198.51.100.0/24, and spoofed sources are only ever sent toward the lab's
//! own lan host.

#[path = "e2e/support.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use support::*;

per_backend!(
    ping_and_transfer,
    workers_keep_flows,
    seed_attacks,
    trap_locks_out_scanner,
    tags_non_ip_and_rst_delay,
    encapsulated_attacks,
    signals_and_restart,
    connect_scan_makes_a_proven_fly,
    forged_trap_flood_makes_no_proven_fly,
    forged_hit_on_a_talking_host_does_not_lock_it_out,
    syn_scan_finds_no_open_port,
    lan_address_from_the_wan_is_spoofed
);

// ---------------------------------------------------------------------------
// Traffic helpers

/// Pseudo-random bytes (xorshift): incompressible enough, and reproducible.
fn random_file(lab: &Lab, name: &str, len: usize) -> std::path::PathBuf {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15 ^ len as u64;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    let p = lab.path(name);
    std::fs::write(&p, &v).expect("write transfer data");
    p
}

/// Wait until something listens on TCP `port` in `host`.
fn wait_listen(lab: &Lab, host: Host, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let filter = format!("sport = :{port}");
    while Instant::now() < deadline {
        let out = lab.run(host, &["ss", "-Hltn", &filter]);
        if out.ok() && !out.stdout.trim().is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on {host:?} port {port}");
}

/// Send `src` (a file) with nc from `from` to `to_ip` (where `to` listens),
/// check the bytes that arrived, and return the transfer's duration.
fn transfer(lab: &Lab, from: Host, to: Host, to_ip: &str, src: &std::path::Path) -> Duration {
    let port = 5001;
    let dst = lab.path(&format!("received-{to:?}"));
    let _ = std::fs::remove_file(&dst);
    let server = format!("nc -l {port} > {}", dst.display());
    let mut srv = lab.spawn(to, 90, &["sh", "-c", &server]);
    wait_listen(lab, to, port);
    let t0 = Instant::now();
    let client = format!("nc -N -w 10 {to_ip} {port} < {}", src.display());
    let out = lab.sh(from, 90, &client);
    let st = srv.wait_exit(Duration::from_secs(30));
    let took = t0.elapsed();
    assert!(out.ok(), "nc client {from:?} -> {to:?} failed: {out}");
    assert!(
        st.is_some_and(|s| s.success()),
        "nc server in {to:?} did not finish cleanly ({st:?})\n{}",
        srv.transcript()
    );
    let (sent, got) = (read(src), read(&dst));
    assert_eq!(
        got.len(),
        sent.len(),
        "{from:?} -> {to:?}: {} of {} bytes arrived",
        got.len(),
        sent.len()
    );
    assert!(
        got == sent,
        "{from:?} -> {to:?}: the data arrived corrupted"
    );
    took
}

/// Start a background ping (one per second, the ICMP limit's sustained
/// rate) from the wan host's main address to the lan host.
fn start_pinger(lab: &Lab) -> Bg {
    lab.spawn(
        Host::Wan,
        150,
        &["ping", "-n", "-i", "1", "-W", "1", LAN_IP],
    )
}

/// Stop it (SIGINT makes ping print its summary).
fn stop_pinger(mut p: Bg) -> Ping {
    p.stop("INT", Duration::from_secs(5));
    let out = p.stdout().join("\n");
    Ping::parse(&out).unwrap_or_else(|| panic!("no ping summary\n{}", p.transcript()))
}

/// hping3 from the wan host (`-I eth0`) toward the lan host, quiet,
/// bounded; `args` split at spaces.
fn hping(lab: &Lab, args: &str) -> Out {
    let mut v = vec!["hping3", "-I", "eth0", "-q"];
    v.extend(args.split_whitespace());
    v.push(LAN_IP);
    // hping3 exits non-zero when nothing answers, which is the point here.
    lab.run_t(Host::Wan, 30, &v)
}

/// nmap SYN scan from the wan host, from `src` (an address of its `eth0`:
/// nmap cannot route from any other); grepable output. One retry per port and
/// a minimum rate keep a scan of 1024 filtered ports to a few seconds
/// (nmap alone slows down to ~50 probes/s when nothing answers).
fn nmap(lab: &Lab, src: &str, ports: &str) -> Out {
    nmap_scan(lab, &["-sS", "--max-retries", "1", "-S", src], ports)
}

/// nmap from the wan host toward the lan host with `opts` (the scan type
/// and whatever else), bounded like [`nmap`]; grepable output.
fn nmap_scan(lab: &Lab, opts: &[&str], ports: &str) -> Out {
    let mut v = vec!["nmap", "-Pn", "-n", "-T4", "--min-rate", "1000"];
    v.extend_from_slice(opts);
    v.extend_from_slice(&[
        "-e",
        "eth0",
        "-p",
        ports,
        "--host-timeout",
        "100s",
        "-oG",
        "-",
        LAN_IP,
    ]);
    lab.run_t(Host::Wan, 120, &v)
}

/// A TCP connection from the wan host's address `src` to the lan host's
/// trap port 139, made by the wan host's own stack. With
/// `trap.proof = "handshake"` the appliance answers with a SYN cookie and
/// the stack returns it: `src` becomes a proven fly.
fn connect_trap(lab: &Lab, src: &str) {
    lab.run_t(
        Host::Wan,
        15,
        &["nc", "-z", "-n", "-w", "3", "-s", src, LAN_IP, "139"],
    )
    .check();
}

/// The open ports in nmap's grepable output.
fn open_ports(out: &Out) -> Vec<String> {
    out.stdout
        .lines()
        .filter_map(|l| l.split("Ports: ").nth(1))
        .flat_map(|p| p.split(", "))
        .filter(|p| p.contains("/open/"))
        .map(|p| p.split('/').next().unwrap_or("").trim().to_string())
        .collect()
}

const BOGONS: [&str; 3] = ["10.0.0.1", "192.168.1.1", "127.0.0.1"];
const BOGON_COUNT: u64 = 5;

/// Echo requests from bogon sources toward the lan host, as raw frames.
fn send_bogons(lab: &Lab) {
    let mac = lab.mac(Host::Lan);
    lab.scapy(
        Host::Wan,
        &format!(
            "for s in {BOGONS:?}:\n    sendp(Ether(dst='{mac}')/IP(src=s, dst='{LAN_IP}')/ICMP(), iface='eth0', count={BOGON_COUNT}, inter=0.01)"
        ),
    );
}

/// ICMP timestamp (13) and address-mask (17) requests from `src`.
fn send_icmp_types(lab: &Lab, src: &str, each: u32) {
    let mac = lab.mac(Host::Lan);
    lab.scapy(
        Host::Wan,
        &format!(
            "for t in (13, 17):\n    sendp(Ether(dst='{mac}')/IP(src='{src}', dst='{LAN_IP}')/ICMP(type=t), iface='eth0', count={each}, inter=0.01)"
        ),
    );
}

/// A minimal web server on the lan host (port 22: inside nmap's 1-1024).
fn start_service(lab: &Lab) -> Bg {
    start_service_on(lab, 22)
}

/// A minimal web server on the lan host's TCP `port`.
fn start_service_on(lab: &Lab, port: u16) -> Bg {
    let p = port.to_string();
    let srv = lab.spawn(
        Host::Lan,
        150,
        &[PYTHON, "-m", "http.server", &p, "--bind", LAN_IP],
    );
    wait_listen(lab, Host::Lan, port);
    srv
}

/// Fetch `/` from the lan host's service with source `src`.
fn fetch(lab: &Lab, src: &str) -> Out {
    lab.sh(
        Host::Wan,
        15,
        &format!("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -s {src} -w 5 {LAN_IP} 22"),
    )
}

// ---------------------------------------------------------------------------
// The lab itself, with the Linux bridge stand-in

/// The lab and the traffic tools, without flypaper: through a plain Linux
/// bridge everything arrives (so the assertions below that attacks do *not*
/// arrive can fail), and with nothing in the fw namespace nothing passes.
#[test]
fn lab_with_linux_bridge() {
    if !e2e_enabled() {
        return;
    }
    let lab = Lab::up("br");
    // Nothing in fw: the hosts cannot reach each other.
    let p = lab.ping(Host::Wan, LAN_IP, 2, "0.2");
    assert_eq!(p.received, 0, "the link passes with nothing in fw: {p:?}");

    lab.bridge();
    lab.flush_neigh();
    let p = lab.ping(Host::Wan, LAN_IP, 3, "0.2");
    assert!(p.all(), "wan -> lan through the bridge: {p:?}");
    let p = lab.ping(Host::Lan, WAN_IP, 3, "0.2");
    assert!(p.all(), "lan -> wan through the bridge: {p:?}");

    let data = random_file(&lab, "data", 5 << 20);
    transfer(&lab, Host::Wan, Host::Lan, LAN_IP, &data);
    transfer(&lab, Host::Lan, Host::Wan, WAN_IP, &data);

    // The attack senders and the capture at the lan host see each other.
    let cap = lab.capture(Host::Lan, "");
    send_bogons(&lab);
    hping(&lab, "-a 198.51.100.70 -S -F -p 80 -c 5 -i u10000");
    hping(&lab, "-a 198.51.100.80 -S -p 8080 -c 300 -i u100");
    send_icmp_types(&lab, "198.51.100.95", 2);
    let got = cap.stop();
    for b in BOGONS {
        assert_eq!(
            got.count_from(b),
            BOGON_COUNT as usize,
            "bogon {b}: {:?}",
            got.by_source()
        );
    }
    assert_eq!(
        got.count_from_with("198.51.100.70", "Flags [FS]"),
        5,
        "{:?}",
        got.by_source()
    );
    assert!(
        got.count_from("198.51.100.80") >= 290,
        "{:?}",
        got.by_source()
    );
    assert_eq!(got.count_from("198.51.100.95"), 4, "{:?}", got.by_source());

    // nmap finds the service.
    let _srv = start_service(&lab);
    lab.add_wan_addr(WAN_IP2);
    let out = nmap(&lab, WAN_IP2, "20-25");
    assert_eq!(open_ports(&out), ["22"], "{out}");
    let out = fetch(&lab, WAN_IP2);
    assert!(out.stdout.contains("200 OK"), "{out}");

    lab.unbridge();
    lab.flush_neigh();
    let p = lab.ping(Host::Wan, LAN_IP, 2, "0.2");
    assert_eq!(
        p.received, 0,
        "the link passes after the bridge is gone: {p:?}"
    );
}

// ---------------------------------------------------------------------------
// 1. Legitimate traffic

/// Ping both ways and 50 MB each way over TCP, byte for byte; the default
/// policy drops none of it.
fn ping_and_transfer(b: Backend) {
    let lab = Lab::up(&lab_name("pt", b));
    let a = Appliance::start(&lab, b, &base_config());

    // Three each way at 2/s: within the wan host's ICMP burst (5), which its
    // echo replies to the lan host's pings also draw on.
    let p = lab.ping(Host::Wan, LAN_IP, 3, "0.5");
    assert!(p.all(), "ping wan -> lan: {p:?}; stats {}", a.stats());
    let p = lab.ping(Host::Lan, WAN_IP, 3, "0.5");
    assert!(p.all(), "ping lan -> wan: {p:?}; stats {}", a.stats());

    let data = random_file(&lab, "data", 50 << 20);
    let t = transfer(&lab, Host::Wan, Host::Lan, LAN_IP, &data);
    eprintln!(
        "50 MB wan -> lan in {t:?} ({:.0} Mbit/s)",
        400.0 / t.as_secs_f64()
    );
    let t = transfer(&lab, Host::Lan, Host::Wan, WAN_IP, &data);
    eprintln!(
        "50 MB lan -> wan in {t:?} ({:.0} Mbit/s)",
        400.0 / t.as_secs_f64()
    );

    let s = a.settled_stats();
    // 50 MB is at least ~34k full frames each way.
    assert!(
        s.get("frames_wan") > 34_000 && s.get("frames_lan") > 34_000,
        "frames seen: {s}"
    );
    assert!(s.get("forwarded") > 68_000, "forwarded: {s}");
    assert_eq!(
        s.drops_total(),
        0,
        "legitimate traffic was dropped: {:?}",
        s.nonzero_drops()
    );
    a.terminate_ok();
}

/// With two workers, both directions of every connection meet the same
/// worker's flow table: sixteen short TCP connections (new source ports,
/// spread over the workers), alternating directions, arrive intact and
/// nothing is dropped (a connection split across workers would lose its
/// SYN-ACK or its first ACKs as `invalid`).
fn workers_keep_flows(b: Backend) {
    let lab = Lab::up(&lab_name("wk", b));
    let a = Appliance::start_with(&lab, b, &base_config(), &["--workers", "2"]);
    let data = random_file(&lab, "data", 1 << 20);
    for i in 0..16 {
        let (from, to, to_ip) = if i % 2 == 0 {
            (Host::Wan, Host::Lan, LAN_IP)
        } else {
            (Host::Lan, Host::Wan, WAN_IP)
        };
        transfer(&lab, from, to, to_ip, &data);
    }
    let s = a.settled_stats();
    assert_eq!(
        s.drops_total(),
        0,
        "connections were dropped with two workers: {:?}",
        s.nonzero_drops()
    );
    a.terminate_ok();
}

// ---------------------------------------------------------------------------
// 2. The seed attacks

/// Each seed attack from the wan host is dropped with its reason (and only
/// that reason), nothing of it reaches the lan host, and a legitimate ping
/// alongside keeps passing.
fn seed_attacks(b: Backend) {
    let lab = Lab::up(&lab_name("sa", b));
    let a = Appliance::start(&lab, b, &base_config());
    let cap = lab.capture(Host::Lan, "");
    let pinger = start_pinger(&lab);
    let t = Duration::from_secs(5);

    // Run `send`, then wait until the drops as `reasons` rose by at least
    // `min`; every drop in between must be of those reasons.
    let last = std::cell::RefCell::new(a.settled_drops());
    let step = |what: &str, reasons: &[&str], min: u64, send: &dyn Fn()| {
        let before = last.borrow().clone();
        send();
        let sum = |s: &Stats| reasons.iter().map(|r| s.drop(r)).sum::<u64>();
        a.wait_stats(t, |s| sum(s) >= sum(&before) + min);
        let after = a.settled_drops();
        let (got, total) = (
            sum(&after) - sum(&before),
            after.drops_total() - before.drops_total(),
        );
        eprintln!("{what}: {reasons:?} +{got}");
        assert!(
            got >= min,
            "{what}: expected at least {min} drops as {reasons:?}, got {got}; drops now {:?}",
            after.nonzero_drops()
        );
        assert_eq!(
            total,
            got,
            "{what}: other drops than {reasons:?}: before {:?}, after {:?}",
            before.nonzero_drops(),
            after.nonzero_drops()
        );
        *last.borrow_mut() = after.clone();
        after
    };

    step("bogon sources", &["bogon-src"], 3 * BOGON_COUNT, &|| {
        send_bogons(&lab)
    });
    step("SYN+FIN", &["tcp-flags"], 5, &|| {
        hping(&lab, "-a 198.51.100.70 -S -F -p 80 -c 5 -i u10000");
    });
    step("XMAS", &["tcp-flags"], 5, &|| {
        hping(&lab, "-a 198.51.100.71 -F -P -U -p 80 -c 5 -i u10000");
    });
    step("NULL", &["tcp-flags"], 5, &|| {
        hping(&lab, "-a 198.51.100.72 -p 80 -c 5 -i u10000");
    });
    let s = step("SYN flood", &["syn-rate"], 1, &|| {
        hping(&lab, "-a 198.51.100.80 -S -p 8080 -c 1500 -i u100");
    });
    eprintln!("SYN flood: syn-rate {}", s.drop("syn-rate"));
    step("ICMP flood", &["icmp-rate"], 1, &|| {
        hping(&lab, "-1 -a 198.51.100.90 -c 200 -i u1000");
    });
    step(
        "ICMP timestamp and address mask",
        &["icmp-type"],
        6,
        &|| {
            send_icmp_types(&lab, "198.51.100.95", 3);
        },
    );
    let scanner = "198.51.100.99";
    lab.add_wan_addr(scanner);
    let s = step("port scan touching the trap", &["trap", "fly"], 1, &|| {
        nmap(&lab, scanner, "139,21,22,80");
    });
    assert!(s.drop("trap") >= 1, "trap: {s}");
    let s = a.wait_stats(t, |s| s.fly_list().iter().any(|f| f == scanner));
    assert!(s.fly_list().iter().any(|f| f == scanner), "fly_list: {s}");

    let ping = stop_pinger(pinger);
    let got = cap.stop();
    let seen = got.by_source();
    eprintln!("arrived at the lan host, per source: {seen:?}");

    // The legitimate ping kept passing (the last one may be in flight).
    assert!(
        ping.transmitted >= 5 && ping.received + 1 >= ping.transmitted,
        "legitimate ping alongside the attacks: {ping:?}; stats {}",
        a.stats()
    );
    assert!(
        got.count_from(WAN_IP) >= 5,
        "the lan host saw no legitimate ping: {seen:?}"
    );
    for src in BOGONS.iter().copied().chain([
        "198.51.100.70",
        "198.51.100.71",
        "198.51.100.72",
        "198.51.100.95",
    ]) {
        assert_eq!(
            got.count_from(src),
            0,
            "frames from {src} reached the lan host: {seen:?}"
        );
    }
    let syns = got.count_from_with("198.51.100.80", "Flags [S]");
    assert!(
        (30..130).contains(&syns),
        "SYN flood: {syns} of 1500 SYNs reached the lan host (60/s, burst 60: expected ~60-70)"
    );
    let echoes = got.count_from_with("198.51.100.90", "echo request");
    assert!(
        (1..=10).contains(&echoes),
        "ICMP flood: {echoes} of 200 echo requests reached the lan host (1/s, burst 5)"
    );
    // The scan's probes after the trap was touched are dropped: at most the
    // three other ports can have arrived, and never the trap port.
    assert_eq!(
        got.count_from_with(scanner, ".139:"),
        0,
        "the trap port was reached: {seen:?}"
    );
    assert!(got.count_from(scanner) <= 3, "scanner: {seen:?}");

    let mut a = a;
    let line = format!("lockout {scanner}, who tried TCP-port 139");
    assert!(
        a.wait_stdout(t, |l| l.contains(&line)),
        "no `{line}` on stdout\n{}",
        a.transcript()
    );
    a.terminate_ok();
}

// ---------------------------------------------------------------------------
// 3. The trap, in strict flypaper mode

/// A source that touches the trap port finds nothing open afterwards, while
/// a second, clean source still reaches the allowed service.
fn trap_locks_out_scanner(b: Backend) {
    let lab = Lab::up(&lab_name("tr", b));
    let config = format!(
        "{}[flypaper]\nmode = \"strict\"\n[[flypaper.allow]]\nproto = \"tcp\"\nports = 22\n",
        base_config()
    );
    let mut a = Appliance::start(&lab, b, &config);
    let _srv = start_service(&lab);
    lab.add_wan_addr(WAN_IP2);

    // Before the trap, the first source sees the service too.
    let out = nmap(&lab, WAN_IP, "22");
    assert_eq!(
        open_ports(&out),
        ["22"],
        "before the trap: {out}\nstats {}",
        a.stats()
    );

    // It touches the trap port.
    let out = nmap(&lab, WAN_IP, "139");
    assert!(out.ok(), "{out}");
    let line = format!("lockout {WAN_IP}, who tried TCP-port 139");
    assert!(
        a.wait_stdout(Duration::from_secs(5), |l| l.contains(&line)),
        "no `{line}` on stdout\n{}",
        a.transcript()
    );
    let s = a.wait_stats(Duration::from_secs(5), |s| {
        s.fly_list().iter().any(|f| f == WAN_IP)
    });
    assert!(s.fly_list().iter().any(|f| f == WAN_IP), "fly_list: {s}");
    assert_eq!(s.drop("trap"), 1, "{s}");

    // Now a full scan from it finds nothing, and none of it arrives.
    let before = a.settled_stats();
    let cap = lab.capture(Host::Lan, "tcp");
    let t0 = Instant::now();
    let out = nmap(&lab, WAN_IP, "1-1024");
    eprintln!("nmap 1-1024 from the fly: {:?}", t0.elapsed());
    assert!(out.ok(), "{out}");
    assert!(
        open_ports(&out).is_empty(),
        "the fly found open ports: {out}"
    );
    assert!(
        out.stdout.contains("filtered"),
        "nmap did not report the ports filtered: {out}"
    );

    // The clean source still reaches the service.
    let out = nmap(&lab, WAN_IP2, "22");
    assert_eq!(open_ports(&out), ["22"], "clean source: {out}");
    let out = fetch(&lab, WAN_IP2);
    assert!(out.stdout.contains("200 OK"), "clean source fetch: {out}");
    let got = cap.stop();
    assert_eq!(
        got.count_from(WAN_IP),
        0,
        "frames from the fly reached the lan host: {:?}",
        got.by_source()
    );
    assert!(got.count_from(WAN_IP2) > 0, "{:?}", got.by_source());

    let s = a.settled_stats();
    let fly = a.fly_drops(&s) - a.fly_drops(&before);
    assert!(
        fly >= 1024,
        "only {fly} frames of the fly dropped for a 1024-port scan: {s}"
    );
    assert_eq!(s.fly_list(), [WAN_IP], "{s}");
    assert_eq!(s.drop("not-allowed"), 0, "{s}");
    a.terminate_ok();
}

// ---------------------------------------------------------------------------
// Beyond IPv4 in untagged frames

/// 802.1Q and QinQ frames cross with their tags (a full 1500-byte IP
/// packet in a tagged 1518-byte frame too, both ways), the filter still
/// applies inside a tag, non-IP frames are bridged, and an inbound RST is
/// held ~500 ms (`delayed`) before it is forwarded.
fn tags_non_ip_and_rst_delay(b: Backend) {
    let lab = Lab::up(&lab_name("tg", b));
    let a = Appliance::start(&lab, b, &base_config());
    let (wmac, lmac) = (lab.mac(Host::Wan), lab.mac(Host::Lan));
    let before = a.settled_stats();

    let at_lan = lab.capture_opts(Host::Lan, &["-e"], "");
    let at_wan = lab.capture_opts(Host::Wan, &["-e"], "not arp");
    lab.scapy(
        Host::Wan,
        &format!(
            "m = '{lmac}'\n\
             sendp(Ether(dst=m)/Dot1Q(vlan=10)/IP(src='{WAN_IP}', dst='{LAN_IP}')/ICMP(id=1), iface='eth0')\n\
             sendp(Ether(dst=m)/Dot1AD(vlan=20)/Dot1Q(vlan=11)/IP(src='{WAN_IP}', dst='{LAN_IP}')/ICMP(id=2), iface='eth0')\n\
             sendp(Ether(dst=m)/Dot1Q(vlan=12)/IP(src='{WAN_IP}', dst='{LAN_IP}')/ICMP(id=3)/Raw(b'x' * 1472), iface='eth0')\n\
             sendp(Ether(dst=m)/Dot1Q(vlan=13)/IP(src='10.1.1.1', dst='{LAN_IP}')/ICMP(id=4), iface='eth0')\n\
             sendp(Ether(src='{wmac}', dst=m, type=0x88b5)/Raw(b'flypaper-non-ip' * 4), iface='eth0')"
        ),
    );
    lab.scapy(
        Host::Lan,
        &format!(
            "sendp(Ether(dst='{wmac}')/Dot1Q(vlan=14)/IP(src='{LAN_IP}', dst='{WAN_IP}')/UDP(sport=4000, dport=9)/Raw(b'z' * 1472), iface='eth0')"
        ),
    );
    // The lan host sends SYNs to a closed port of the wan host, whose RSTs
    // come back through the appliance.
    let out = lab.run_t(
        Host::Lan,
        15,
        &["hping3", "-I", "eth0", "-S", "-p", "9", "-c", "3", WAN_IP],
    );
    let lan = at_lan.stop();
    let wan = at_wan.stop();
    let has = |c: &Captured, needles: &[&str]| {
        c.lines
            .iter()
            .any(|l| needles.iter().all(|n| l.contains(n)))
    };
    let shown = |c: &Captured| c.lines.join("\n");
    assert!(
        has(
            &lan,
            &[
                "vlan 10,",
                "198.51.100.1 > 198.51.100.130: ICMP echo request, id 1,"
            ]
        ),
        "802.1Q frame: {}",
        shown(&lan)
    );
    assert!(
        has(&lan, &["vlan 20,", "vlan 11,", "ICMP echo request, id 2,"]),
        "QinQ frame: {}",
        shown(&lan)
    );
    assert!(
        has(
            &lan,
            &["length 1518:", "vlan 12,", "ICMP echo request, id 3,"]
        ),
        "full-size tagged frame wan -> lan: {}",
        shown(&lan)
    );
    assert!(
        has(
            &wan,
            &[
                "length 1518:",
                "vlan 14,",
                "198.51.100.130.4000 > 198.51.100.1.9:"
            ]
        ),
        "full-size tagged frame lan -> wan: {}",
        shown(&wan)
    );
    assert!(
        !has(&lan, &["10.1.1.1"]),
        "a bogon source crossed inside a VLAN tag: {}",
        shown(&lan)
    );
    assert!(
        has(&lan, &["ethertype Unknown (0x88b5)"]),
        "non-IP frame: {}",
        shown(&lan)
    );

    // hping3: "len=40 ip=198.51.100.1 ... flags=RA seq=0 win=0 rtt=501.7 ms"
    let rtts: Vec<f64> = out
        .stdout
        .lines()
        .filter(|l| l.contains("flags=RA"))
        .filter_map(|l| {
            l.split("rtt=")
                .nth(1)?
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect();
    assert_eq!(rtts.len(), 3, "RSTs back from the wan host: {out}");
    assert!(
        rtts.iter().all(|r| (450.0..1500.0).contains(r)),
        "the RSTs were not held ~500 ms: rtt {rtts:?} ms"
    );

    let s = a.settled_stats();
    assert_eq!(
        s.drop("bogon-src") - before.drop("bogon-src"),
        1,
        "the tagged bogon: {s}"
    );
    assert_eq!(
        s.get("delayed") - before.get("delayed"),
        3,
        "delayed RSTs: {s}"
    );
    assert_eq!(
        s.drops_total() - before.drops_total(),
        1,
        "drops: {:?}",
        s.nonzero_drops()
    );
    a.terminate_ok();
}

// ---------------------------------------------------------------------------
// Encapsulations: PPPoE, stacked tags, MPLS and tunnels

/// Python for the scapy scripts below: frames as bytes, wrapped in an
/// encapsulation, sent raw from `eth0` and printed in hex (one line each),
/// so the test knows exactly what left the host.
const ENCAP_PY: &str = r#"
import struct, sys, time
def mac(m): return bytes.fromhex(m.replace(':', ''))
def pad(b): return b + b'\0' * max(0, 60 - len(b))
def eth(dst, src, et, payload): return pad(mac(dst) + mac(src) + struct.pack('!H', et) + payload)
def ip4(src, dst, l4): return bytes(IP(src=src, dst=dst) / l4)
def ip6(src, dst, l4): return bytes(IPv6(src=src, dst=dst) / l4)
def pppoe_ip(ip):
    ppp = struct.pack('!H', 0x0021 if ip[0] >> 4 == 4 else 0x0057) + ip
    return 0x8864, struct.pack('!BBHH', 0x11, 0, 0x1234, len(ppp)) + ppp
def vlan3(ip):
    et = 0x0800 if ip[0] >> 4 == 4 else 0x86dd
    return 0x88a8, struct.pack('!HHHHHH', 100, 0x8100, 110, 0x8100, 120, et) + ip
def mpls(ip): return 0x8847, struct.pack('!II', (100 << 12) | 64, (200 << 12) | (1 << 8) | 64) + ip
def enc(kind, ip, outer_src, outer_dst):
    if kind == 'bare': return (0x0800 if ip[0] >> 4 == 4 else 0x86dd), ip
    if kind == 'pppoe': return pppoe_ip(ip)
    if kind == 'vlan3': return vlan3(ip)
    if kind == 'mpls': return mpls(ip)
    if kind == 'ipip': return 0x0800, bytes(IP(src=outer_src, dst=outer_dst, proto=4 if ip[0] >> 4 == 4 else 41) / Raw(ip))
    if kind == 'gre':
        g = struct.pack('!HH', 0, 0x0800 if ip[0] >> 4 == 4 else 0x86dd) + ip
        return 0x0800, bytes(IP(src=outer_src, dst=outer_dst, proto=47) / Raw(g))
    raise ValueError(kind)
def out(frames, inter=0.002):
    for f in frames:
        print(f.hex())
    sys.stdout.flush()
    sendp([Raw(f) for f in frames], iface='eth0', inter=inter)
"#;

/// The frames a scapy script sent (its hex lines).
fn sent_frames(out: &Out) -> Vec<Vec<u8>> {
    out.stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let l = l.trim();
            (0..l.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&l[i..i + 2], 16).expect("hex"))
                .collect()
        })
        .collect()
}

/// Drops since `before`, per reason, with the fly drops of both places
/// (userspace and, on AF_XDP, the XDP program) counted as `fly`.
fn drop_deltas(a: &Appliance, before: &Stats, after: &Stats) -> BTreeMap<String, u64> {
    let mut m: BTreeMap<String, u64> = after
        .nonzero_drops()
        .into_iter()
        .map(|(k, v)| {
            let was = before.nonzero_drops().get(&k).copied().unwrap_or(0);
            (k, v - was)
        })
        .filter(|(k, v)| *v > 0 && k != "fly")
        .collect();
    let fly = a.fly_drops(after) - a.fly_drops(before);
    if fly > 0 {
        m.insert("fly".into(), fly);
    }
    m
}

/// Legitimate PPPoE session frames (IPv4 and IPv6, both ways) cross
/// byte for byte, and so do frames in three stacked tags, MPLS, IPIP and
/// GRE; the seed's attacks (a bogon source, SYN+FIN, a SYN to the trap
/// port and then a SYN from the new fly) inside each encapsulation are
/// dropped with exactly the reasons the bare frames get, and none of them
/// arrives. A source trapped behind PPPoE (an unproven fly: nobody proved
/// the forged hit) then loses every frame in userspace on both backends;
/// on AF_XDP the XDP program passes them up, since unproven flies stay out
/// of its map (`xdp_drops_flies` has a proven one).
fn encapsulated_attacks(b: Backend) {
    let lab = Lab::up(&lab_name("en", b));
    let config = format!("[filter]\nlan = [\"{LAN_PREFIX}\", \"2001:db8:1::/48\"]\n");
    let a = Appliance::start(&lab, b, &config);
    let (wmac, lmac) = (lab.mac(Host::Wan), lab.mac(Host::Lan));
    let (w6, l6) = ("2001:db8::1", "2001:db8:1::130");
    let at_lan = lab.capture_pcap(Host::Lan, "at-lan.pcap");
    let at_wan = lab.capture_pcap(Host::Wan, "at-wan.pcap");
    let t = Duration::from_secs(5);
    let before = a.settled_drops();

    // Legitimate traffic, both ways.
    let legit_wan = sent_frames(&lab.scapy(
        Host::Wan,
        &format!(
            "{ENCAP_PY}\n\
             W, L = '{wmac}', '{lmac}'\n\
             fr = []\n\
             fr.append(eth(L, W, 0x8863, struct.pack('!BBHHHH', 0x11, 0x07, 0, 4, 0x0101, 0)))\n\
             fr.append(eth(L, W, 0x8864, struct.pack('!BBHHHBBHBBH', 0x11, 0, 0x1234, 10, 0xc021, 1, 1, 8, 1, 4, 1492)))\n\
             for i, k in enumerate(['pppoe', 'vlan3', 'mpls', 'ipip', 'gre']):\n\
             \x20   fr.append(eth(L, W, *enc(k, ip4('{WAN_IP}', '{LAN_IP}', UDP(sport=41000 + i, dport=9) / Raw(b'legit ' + k.encode())), '{WAN_IP}', '{LAN_IP}')))\n\
             \x20   fr.append(eth(L, W, *enc(k, ip6('{w6}', '{l6}', UDP(sport=41100 + i, dport=9) / Raw(b'legit6 ' + k.encode())), '{WAN_IP}', '{LAN_IP}')))\n\
             fr.append(eth(L, W, *enc('pppoe', ip4('{WAN_IP}', '{LAN_IP}', TCP(sport=41200, dport=22, flags='S')), '', '')))\n\
             fr.append(eth(L, W, *enc('pppoe', ip6('{w6}', '{l6}', TCP(sport=41201, dport=22, flags='S')), '', '')))\n\
             out(fr)"
        ),
    ));
    let legit_lan = sent_frames(&lab.scapy(
        Host::Lan,
        &format!(
            "{ENCAP_PY}\n\
             W, L = '{wmac}', '{lmac}'\n\
             fr = []\n\
             fr.append(eth('ff:ff:ff:ff:ff:ff', L, 0x8863, struct.pack('!BBHHHH', 0x11, 0x09, 0, 4, 0x0101, 0)))\n\
             for i, k in enumerate(['pppoe', 'vlan3', 'mpls', 'ipip', 'gre']):\n\
             \x20   fr.append(eth(W, L, *enc(k, ip4('{LAN_IP}', '{WAN_IP}', UDP(sport=42000 + i, dport=9) / Raw(b'legit ' + k.encode())), '{LAN_IP}', '{WAN_IP}')))\n\
             \x20   fr.append(eth(W, L, *enc(k, ip6('{l6}', '{w6}', UDP(sport=42100 + i, dport=9) / Raw(b'legit6 ' + k.encode())), '{LAN_IP}', '{WAN_IP}')))\n\
             out(fr)"
        ),
    ));
    assert_eq!((legit_wan.len(), legit_lan.len()), (14, 11));
    let s = a.settled_drops();
    assert_eq!(
        drop_deltas(&a, &before, &s),
        BTreeMap::new(),
        "legitimate encapsulated frames were dropped"
    );

    // The seed's attacks, bare and in each encapsulation, each round with
    // its own sources: two SYNs from a bogon, two SYN+FINs, a SYN to the
    // trap port, and 0.3 s later a SYN from the new fly.
    let mut attacks: Vec<Vec<u8>> = Vec::new();
    let mut reference: Option<BTreeMap<String, u64>> = None;
    let mut trapped = Vec::new();
    for (i, kind) in ["bare", "pppoe", "vlan3", "mpls", "ipip", "gre"]
        .iter()
        .enumerate()
    {
        let before = a.settled_drops();
        let (bogon, synfin, trap) = (
            format!("10.0.{i}.1"),
            format!("198.51.100.{}", 70 + i),
            format!("198.51.100.{}", 60 + i),
        );
        let frames = sent_frames(&lab.scapy(
            Host::Wan,
            &format!(
                "{ENCAP_PY}\n\
                 W, L = '{wmac}', '{lmac}'\n\
                 e = lambda ip: eth(L, W, *enc('{kind}', ip, '{WAN_IP}', '{LAN_IP}'))\n\
                 out([e(ip4('{bogon}', '{LAN_IP}', TCP(sport=43000 + j, dport=80, flags='S'))) for j in range(2)]\n\
                 \x20   + [e(ip4('{synfin}', '{LAN_IP}', TCP(sport=43010 + j, dport=80, flags='SF'))) for j in range(2)]\n\
                 \x20   + [e(ip4('{trap}', '{LAN_IP}', TCP(sport=43020, dport=139, flags='S')))])\n\
                 time.sleep(0.3)\n\
                 out([e(ip4('{trap}', '{LAN_IP}', TCP(sport=43021, dport=22, flags='S')))])"
            ),
        ));
        assert_eq!(frames.len(), 6, "{kind}");
        attacks.extend(frames);
        a.wait_stats(t, |s| {
            drop_deltas(&a, &before, s).values().sum::<u64>() >= 6 && s.fly_list().contains(&trap)
        });
        let after = a.settled_drops();
        let got = drop_deltas(&a, &before, &after);
        eprintln!("{kind}: {got:?}");
        match &reference {
            None => {
                let want: BTreeMap<String, u64> =
                    [("bogon-src", 2), ("tcp-flags", 2), ("trap", 1), ("fly", 1)]
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect();
                assert_eq!(got, want, "bare attacks; stats {after}");
                reference = Some(got);
            }
            Some(r) => assert_eq!(
                &got, r,
                "{kind}: the drops differ from the bare attacks'; stats {after}"
            ),
        }
        assert!(
            after.fly_list().contains(&trap),
            "{kind}: {trap} is no fly: {after}"
        );
        trapped.push(trap);
    }
    // The tunnels' outer source is the wan host itself: never a fly.
    let s = a.settled_drops();
    assert!(
        !s.fly_list().iter().any(|f| f == WAN_IP),
        "the tunnel endpoint {WAN_IP} became a fly: {s}"
    );

    // A burst from the fly trapped behind PPPoE, still in PPPoE.
    let fly = &trapped[1];
    std::thread::sleep(Duration::from_millis(500));
    let before = a.settled_drops();
    let burst = sent_frames(&lab.scapy(
        Host::Wan,
        &format!(
            "{ENCAP_PY}\n\
             W, L = '{wmac}', '{lmac}'\n\
             out([eth(L, W, *pppoe_ip(ip4('{fly}', '{LAN_IP}', TCP(sport=44000 + j, dport=80, flags='S')))) for j in range(200)], inter=0.001)"
        ),
    ));
    assert_eq!(burst.len(), 200);
    a.wait_stats(t, |s| a.fly_drops(s) >= a.fly_drops(&before) + 200);
    let after = a.settled_drops();
    assert_eq!(
        after.drop("fly") - before.drop("fly"),
        200,
        "drops.fly for 200 PPPoE frames of an unproven fly: {after}"
    );
    assert_eq!(after.fly_class(fly).as_deref(), Some("unproven"), "{after}");
    if b == Backend::AfXdp {
        assert_eq!(
            after.xdp("fly_drops"),
            before.xdp("fly_drops"),
            "the XDP program dropped frames of an unproven fly: {after}"
        );
    }
    attacks.extend(burst);

    let lan_got = at_lan.stop();
    let wan_got = at_wan.stop();
    let hex = |f: &[u8]| f.iter().map(|b| format!("{b:02x}")).collect::<String>();
    for f in &legit_wan {
        assert!(
            lan_got.contains(f),
            "a legitimate frame from the wan host did not arrive intact: {}\n{} frames arrived",
            hex(f),
            lan_got.len()
        );
    }
    for f in &legit_lan {
        assert!(
            wan_got.contains(f),
            "a legitimate frame from the lan host did not arrive intact: {}",
            hex(f)
        );
    }
    for f in &attacks {
        assert!(
            !lan_got.contains(f),
            "an attack frame reached the lan host: {}",
            hex(f)
        );
    }
    a.terminate_ok();
}

// ---------------------------------------------------------------------------
// 4. Flies are dropped in XDP

/// A proven fly (it returned the SYN cookie of a handshake on the trap
/// port) is dropped in the XDP program: its frames never reach userspace,
/// and the pinned `flies` map holds it. An unproven one (a forged trap
/// hit) stays out of the map.
#[test]
fn xdp_drops_flies() {
    if !backend_enabled(Backend::AfXdp) {
        return;
    }
    let lab = Lab::up("xf");
    // The maps pinned where the test (outside the appliance's `ip netns
    // exec` mount namespace) can read them: a BPF filesystem mounted here
    // before the appliance starts is the same instance inside.
    let pins = BpfMount::new(lab.path("bpf"));
    let a = Appliance::start_with(
        &lab,
        Backend::AfXdp,
        &handshake_config(),
        &["--pin-maps", pins.0.to_str().unwrap()],
    );
    let (fly, unproven) = ("198.51.100.66", "198.51.100.67");
    lab.add_wan_addr(fly);
    // The wan host's own TCP stack returns the cookie.
    connect_trap(&lab, fly);
    hping(&lab, &format!("-a {unproven} -S -p 139 -c 1"));
    let s = a.wait_stats(Duration::from_secs(5), |s| {
        s.fly_class(fly).as_deref() == Some("proven") && s.fly_class(unproven).is_some()
    });
    assert_eq!(s.fly_class(fly).as_deref(), Some("proven"), "{s}");
    assert_eq!(s.fly_class(unproven).as_deref(), Some("unproven"), "{s}");
    // The fly map is updated by userspace; give it a moment.
    std::thread::sleep(Duration::from_millis(500));
    let before = a.settled_drops();

    let cap = lab.capture(Host::Lan, "");
    hping(&lab, &format!("-a {fly} -S -p 80 -c 200 -i u1000"));
    let after = a.wait_stats(Duration::from_secs(5), |s| {
        s.xdp("fly_drops") >= before.xdp("fly_drops") + 200
    });
    let after2 = a.settled_drops();
    let got = cap.stop();
    assert!(
        after.xdp("fly_drops") >= before.xdp("fly_drops") + 200,
        "xdp.fly_drops rose by {} for 200 frames: {after}",
        after.xdp("fly_drops") - before.xdp("fly_drops")
    );
    assert_eq!(
        after2.drop("fly"),
        before.drop("fly"),
        "the fly's frames reached userspace: {after2}"
    );
    assert_eq!(got.count_from(fly), 0, "{:?}", got.by_source());
    eprintln!(
        "fly: xdp.fly_drops +{}, drops.fly +{}",
        after2.xdp("fly_drops") - before.xdp("fly_drops"),
        after2.drop("fly") - before.drop("fly")
    );

    // An operator's view: the proven fly is in the pinned map, with an
    // expiry; the unproven one is not.
    let key =
        |ip: &str| flypaper::sys::xdp::FlyKey::new(ip.parse::<flypaper::Addr>().unwrap().0).addr;
    let flies = libbpf_rs::MapHandle::from_pinned_path(pins.0.join("flies"))
        .unwrap_or_else(|e| panic!("opening the pinned flies map: {e}"));
    let lookup =
        |ip: &str| libbpf_rs::MapCore::lookup(&flies, &key(ip), libbpf_rs::MapFlags::ANY).unwrap();
    let v = lookup(fly).expect("the proven fly is in the pinned map");
    assert!(u64::from_ne_bytes(v[..8].try_into().unwrap()) > 0);
    assert!(
        lookup(unproven).is_none(),
        "the unproven fly {unproven} is in the XDP program's map"
    );
    drop(flies);
    // A clean stop removes the pins.
    let exit = a.terminate();
    assert!(exit.status.success(), "{:?}", exit.stderr);
    for name in flypaper::sys::xdp::PINNED_MAPS {
        assert!(
            !pins.0.join(name).exists(),
            "{name} still pinned after exit"
        );
    }
}

/// A BPF filesystem mounted for a test, unmounted even when it fails.
struct BpfMount(std::path::PathBuf);

impl BpfMount {
    fn new(dir: std::path::PathBuf) -> BpfMount {
        std::fs::create_dir_all(&dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "bpf", "bpf"])
            .arg(&dir)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "mount -t bpf on {}", dir.display());
        BpfMount(dir)
    }
}

impl Drop for BpfMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

// ---------------------------------------------------------------------------
// 5. Signals: the link is cut, never black-holed by a leftover program

fn no_xdp_left(lab: &Lab) {
    let deadline = Instant::now() + Duration::from_secs(3);
    while (lab.xdp_attached("wan0") || lab.xdp_attached("lan0")) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    for port in ["wan0", "lan0"] {
        assert!(
            !lab.xdp_attached(port),
            "an XDP program is still attached to {port}: {}",
            lab.run(Host::Fw, &["ip", "-d", "link", "show", port])
        );
    }
}

fn passes(lab: &Lab, a: &Appliance, when: &str) {
    lab.flush_neigh();
    let p = lab.ping(Host::Wan, LAN_IP, 2, "0.3");
    assert!(
        p.all(),
        "{when}: ping wan -> lan {p:?}; stats {}",
        a.stats()
    );
    let p = lab.ping(Host::Lan, WAN_IP, 2, "0.3");
    assert!(
        p.all(),
        "{when}: ping lan -> wan {p:?}; stats {}",
        a.stats()
    );
}

fn cut(lab: &Lab, when: &str) {
    let p = lab.ping(Host::Wan, LAN_IP, 2, "0.3");
    assert_eq!(p.received, 0, "{when}: the link still passes: {p:?}");
}

/// SIGTERM: exit 0, a final `stats` line that matches the stats file, no
/// XDP program left, the link cut. SIGKILL: the same link state and a
/// stats file that is still whole. A restart works after each; SIGINT
/// stops it like SIGTERM.
fn signals_and_restart(b: Backend) {
    let lab = Lab::up(&lab_name("sg", b));
    let a = Appliance::start(&lab, b, &base_config());
    passes(&lab, &a, "first start");
    if b == Backend::AfXdp {
        // The control for the "no program left" checks below.
        for port in ["wan0", "lan0"] {
            assert!(
                lab.xdp_attached(port),
                "no XDP program on {port} while running"
            );
        }
    }
    let stats_path = a.stats_path.clone();

    let exit = a.terminate();
    assert!(
        exit.status.success() && !exit.killed,
        "SIGTERM: exit {} (killed: {})\n{:?}",
        exit.status,
        exit.killed,
        exit.stderr
    );
    let fin = exit
        .final_stats()
        .unwrap_or_else(|| panic!("no final `stats {{...}}` line: {:?}", exit.stdout));
    assert!(fin.get("forwarded") >= 8, "final stats: {fin}");
    let file: serde_json::Value =
        serde_json::from_slice(&read(&stats_path)).expect("stats file after SIGTERM");
    assert_eq!(
        file, fin.0,
        "the stats file's last write and the final line differ"
    );
    no_xdp_left(&lab);
    cut(&lab, "after SIGTERM");

    let a = Appliance::start(&lab, b, &base_config());
    passes(&lab, &a, "restart after SIGTERM");
    let exit = a.kill();
    assert!(exit.killed);
    serde_json::from_slice::<serde_json::Value>(&read(&stats_path))
        .expect("the stats file is whole after SIGKILL");
    no_xdp_left(&lab);
    cut(&lab, "after SIGKILL");

    let a = Appliance::start(&lab, b, &base_config());
    passes(&lab, &a, "restart after SIGKILL");
    let exit = a.interrupt();
    assert!(
        exit.status.success() && !exit.killed,
        "SIGINT: exit {} (killed: {})",
        exit.status,
        exit.killed
    );
    assert!(
        exit.final_stats().is_some(),
        "SIGINT: no final stats line: {:?}",
        exit.stdout
    );
    no_xdp_left(&lab);
    cut(&lab, "after SIGINT");
}

// ---------------------------------------------------------------------------
// 6. Flies that cannot be turned against the network

/// An iperf3 run from the wan host to the lan host, started in the
/// background: its one-off server on the lan host and its client.
struct Iperf {
    srv: Bg,
    client: Bg,
}

/// What an iperf3 run reported.
#[derive(Debug)]
struct IperfResult {
    /// Bytes the receiver got.
    bytes: u64,
    /// The receiver's throughput, bits per second.
    bps: f64,
    /// TCP retransmissions the sender made.
    retransmits: u64,
}

/// Start `secs` of iperf3 (TCP) from the wan host to the lan host.
fn start_iperf(lab: &Lab, secs: u64) -> Iperf {
    let srv = lab.spawn(
        Host::Lan,
        secs + 30,
        &["iperf3", "-s", "-1", "-B", LAN_IP, "-p", "5201"],
    );
    wait_listen(lab, Host::Lan, 5201);
    let t = secs.to_string();
    let client = lab.spawn(
        Host::Wan,
        secs + 20,
        &["iperf3", "-c", LAN_IP, "-p", "5201", "-t", &t, "-J"],
    );
    Iperf { srv, client }
}

impl Iperf {
    /// Wait for the run to end; panics unless it completed.
    fn finish(mut self, timeout: Duration) -> IperfResult {
        let st = self.client.wait_exit(timeout);
        // Its output read to the end (it has exited: no signal is sent).
        self.client.stop("TERM", Duration::from_secs(1));
        let out = self.client.stdout().join("\n");
        assert!(
            st.is_some_and(|s| s.success()),
            "iperf3 did not complete ({st:?})\n{}\n{}",
            self.client.transcript(),
            self.srv.transcript()
        );
        self.srv.wait_exit(Duration::from_secs(5));
        let j: serde_json::Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("iperf3 -J output is not JSON ({e}): {out}"));
        let end = &j["end"];
        let num = |v: &serde_json::Value| {
            v.as_f64()
                .unwrap_or_else(|| panic!("iperf3 -J: no number where expected: {end}"))
        };
        IperfResult {
            bytes: num(&end["sum_received"]["bytes"]) as u64,
            bps: num(&end["sum_received"]["bits_per_second"]),
            retransmits: num(&end["sum_sent"]["retransmits"]) as u64,
        }
    }
}

/// An nmap connect scan (the wan host's own TCP stack, so it completes
/// the handshakes it is offered) over the trap port, with
/// `trap.proof = "handshake"`: the appliance answers the SYN to 139 with
/// a SYN cookie, the scanner's stack returns it, and the scanner is a
/// proven fly. Its frames are then all dropped, in the XDP program on
/// AF_XDP (proven flies are in its map).
fn connect_scan_makes_a_proven_fly(b: Backend) {
    let lab = Lab::up(&lab_name("cs", b));
    let mut a = Appliance::start(&lab, b, &handshake_config());
    let t = Duration::from_secs(5);
    // The control: before the scan the wan host gets through.
    let p = lab.ping(Host::Wan, LAN_IP, 2, "0.5");
    assert!(p.all(), "before the scan: {p:?}; stats {}", a.stats());

    let out = nmap_scan(&lab, &["-sT", "--max-retries", "0"], "22,139,445");
    assert!(out.ok(), "{out}");
    eprintln!(
        "connect scan: {}",
        out.stdout
            .lines()
            .find(|l| l.contains("Ports: "))
            .unwrap_or("")
    );
    // The fly list is the shared blacklist's; the counters follow within
    // a report period.
    a.wait_stats(t, |s| {
        s.fly_class(WAN_IP).as_deref() == Some("proven")
            && s.get("flies_proven") >= 1
            && s.get("synacks") >= 1
    });
    let s = a.settled_stats();
    assert_eq!(
        s.fly_class(WAN_IP).as_deref(),
        Some("proven"),
        "the connect scanner is no proven fly: {s}"
    );
    assert!(s.get("flies_proven") >= 1, "{s}");
    assert!(s.get("synacks") >= 1, "{s}");
    assert!(s.drop("trap") >= 1, "{s}");
    let line = format!("lockout {WAN_IP}, who tried TCP-port 139");
    assert!(
        a.wait_stdout(t, |l| l.starts_with(&line) && !l.contains("unproven")),
        "no proven `{line}` on stdout\n{}",
        a.transcript()
    );

    // Afterwards nothing of it passes: not a ping, not a TCP connection.
    // (The fly map is written by userspace: give it a moment.)
    std::thread::sleep(Duration::from_millis(500));
    let before = a.settled_drops();
    let cap = lab.capture(Host::Lan, "");
    let p = lab.ping(Host::Wan, LAN_IP, 3, "0.3");
    assert_eq!(p.received, 0, "the proven fly's pings passed: {p:?}");
    let out = lab.run_t(Host::Wan, 10, &["nc", "-z", "-n", "-w", "2", LAN_IP, "22"]);
    assert!(!out.ok(), "the proven fly connected: {out}");
    let after = a.wait_stats(t, |s| a.fly_drops(s) >= a.fly_drops(&before) + 4);
    let got = cap.stop();
    assert_eq!(
        got.count_from(WAN_IP),
        0,
        "frames of the proven fly reached the lan host: {:?}",
        got.by_source()
    );
    let fly = a.fly_drops(&after) - a.fly_drops(&before);
    assert!(
        fly >= 4,
        "3 pings and a SYN of the proven fly, {fly} fly drops: {after}"
    );
    if b == Backend::AfXdp {
        let after = a.settled_drops();
        let xdp = after.xdp("fly_drops") - before.xdp("fly_drops");
        assert!(
            xdp >= 4,
            "xdp.fly_drops rose by {xdp} for 3 pings and a SYN of a proven fly: {after}"
        );
        assert_eq!(
            after.drop("fly"),
            before.drop("fly"),
            "the proven fly's frames reached userspace: {after}"
        );
    }
    a.terminate_ok();
}

/// A flood of SYNs to the trap port from random (forged) sources, in
/// handshake mode, alongside an iperf3 transfer: nobody can return the
/// cookies, so no fly is proven; the blacklist stays within
/// `tables.flies` by evicting unproven flies; the SYN-ACKs stay within the
/// global limit; the lock-out log is rate limited; the transfer completes
/// and none of it is dropped. Throughput with and without the flood is
/// printed, never asserted.
fn forged_trap_flood_makes_no_proven_fly(b: Backend) {
    let lab = Lab::up(&lab_name("ff", b));
    let config = format!("{}[tables]\nflies = 1024\n", handshake_config());
    let a = Appliance::start(&lab, b, &config);

    let quiet = start_iperf(&lab, 5).finish(Duration::from_secs(30));
    assert!(quiet.bytes > 0, "{quiet:?}");

    let run = start_iperf(&lab, 12);
    // Into the run, so the flood meets an established transfer.
    std::thread::sleep(Duration::from_secs(1));
    let t0 = Instant::now();
    // At most 50 000 SYNs (one per 200 µs), for at most 10 s.
    let flood = lab.run_t(
        Host::Wan,
        10,
        &[
            "hping3",
            "-I",
            "eth0",
            "-q",
            "--rand-source",
            "-S",
            "-p",
            "139",
            "-i",
            "u200",
            "-c",
            "50000",
            LAN_IP,
        ],
    );
    let flood_secs = t0.elapsed().as_secs_f64();
    let busy = run.finish(Duration::from_secs(40));
    let s = a.settled_stats();
    let flood_for = t0.elapsed().as_secs_f64();
    eprintln!(
        "iperf3 wan -> lan: {:.0} Mbit/s alone ({} retransmits), {:.0} Mbit/s during the flood ({} retransmits)",
        quiet.bps / 1e6,
        quiet.retransmits,
        busy.bps / 1e6,
        busy.retransmits
    );
    eprintln!(
        "flood: {:.1} s ({}), trap {}, flies_added {}, flies_evicted {}, synacks {}, synacks_limited {}, events_lost {}",
        flood_secs,
        flood.status,
        s.drop("trap"),
        s.get("flies_added"),
        s.get("flies_evicted"),
        s.get("synacks"),
        s.get("synacks_limited"),
        s.get("events_lost")
    );
    assert!(busy.bytes > 0 && busy.bps > 0.0, "{busy:?}");

    // Nobody returned a cookie.
    assert_eq!(s.get("flies_proven"), 0, "{s}");
    let proven: Vec<_> = s
        .fly_detail()
        .into_iter()
        .filter(|f| f["class"] != "unproven")
        .collect();
    assert!(proven.is_empty(), "flies other than unproven: {proven:?}");
    // The table held, by evicting.
    let hits = s.drop("trap");
    assert!(
        hits > 1024,
        "only {hits} trap hits: the flood fell short; {s}"
    );
    assert!(s.get("flies") <= 1024, "{s}");
    assert!(
        s.get("flies_evicted") > 0,
        "{hits} hits and nothing evicted: {s}"
    );
    assert_eq!(s.get("flies_refused"), 0, "{s}");
    // The SYN-ACKs stayed within the global limit: 200/s after a burst of
    // 200, while the flood lasted (the appliance is not a reflector).
    let synacks = s.get("synacks");
    let bound = (200.0 * flood_for) as u64 + 200;
    assert!(
        synacks >= 1 && synacks <= bound,
        "{synacks} SYN-ACKs for a {flood_for:.1} s flood (at most {bound}): {s}"
    );
    assert!(s.get("synacks_limited") > 0, "{s}");
    // The two hosts are no flies, and none of the transfer was dropped.
    for h in [WAN_IP, LAN_IP] {
        assert!(s.fly_class(h).is_none(), "{h} is a fly: {s}");
    }
    for r in ["vouched", "invalid", "syn-rate"] {
        assert_eq!(s.drop(r), 0, "drops.{r}: {s}");
    }

    // The lock-out log: at most 20 lines per 10 s, the rest summarised.
    let exit = a.terminate_ok();
    let lockouts = exit
        .stdout
        .iter()
        .filter(|l| l.starts_with("lockout "))
        .count();
    let windows = (flood_for / 10.0).ceil() as usize + 1;
    assert!(
        lockouts <= 20 * windows,
        "{lockouts} lockout lines in {flood_for:.1} s"
    );
    assert!(
        exit.stdout
            .iter()
            .any(|l| l.starts_with("... and ") && l.ends_with(" more lockouts in the last 10 s")),
        "no summary of the lockouts left out of the log: {:?}",
        exit.stdout
    );
}

/// A forged trap hit that carries the address of a wan peer in a live
/// conversation with the lan host is dropped as `vouched`, the peer is no
/// fly, the appliance logs a `suspect` line, and the conversation goes
/// on. The same forgery from a silent address makes a fly (the control).
fn forged_hit_on_a_talking_host_does_not_lock_it_out(b: Backend) {
    let lab = Lab::up(&lab_name("fh", b));
    let mut a = Appliance::start(&lab, b, &base_config());
    let t = Duration::from_secs(5);
    let (talker, silent) = ("198.51.100.3", "198.51.100.4");
    lab.add_wan_addr(talker);
    let lmac = lab.mac(Host::Lan);

    // One echo server on the lan host, one long conversation from the
    // talker: an exchange every 100 ms until `go` appears, then five more.
    let port = 7007;
    let server = format!(
        "import socket\n\
         s = socket.create_server(('{LAN_IP}', {port}))\n\
         c, _ = s.accept()\n\
         while True:\n\
         \x20   d = c.recv(100)\n\
         \x20   if not d: break\n\
         \x20   c.sendall(d)\n"
    );
    let srv = lab.spawn(Host::Lan, 60, &[PYTHON, "-c", &server]);
    wait_listen(&lab, Host::Lan, port);
    let go = lab.path("go");
    let client = format!(
        "import os, socket, time\n\
         c = socket.create_connection(('{LAN_IP}', {port}), timeout=3, source_address=('{talker}', 0))\n\
         def ex(i):\n\
         \x20   c.sendall(b'%05d' % i)\n\
         \x20   assert c.recv(100) == b'%05d' % i\n\
         \x20   print('exchange', i, flush=True)\n\
         i = 0\n\
         while not os.path.exists('{}'):\n\
         \x20   ex(i); i += 1; time.sleep(0.1)\n\
         for _ in range(5):\n\
         \x20   ex(i); i += 1; time.sleep(0.1)\n\
         print('after the forgery', flush=True)\n",
        go.display()
    );
    let mut cli = lab.spawn(Host::Wan, 60, &[PYTHON, "-c", &client]);
    assert!(
        cli.wait_line(false, Duration::from_secs(10), |l| l == "exchange 5"),
        "the conversation did not start\n{}\n{}",
        cli.transcript(),
        srv.transcript()
    );

    let before = a.settled_drops();
    let cap = lab.capture(Host::Lan, "tcp port 139");
    lab.scapy(
        Host::Wan,
        &format!(
            "for s in ('{talker}', '{silent}'):\n\
             \x20   sendp(Ether(dst='{lmac}')/IP(src=s, dst='{LAN_IP}')/TCP(sport=40139, dport=139, flags='S'), iface='eth0')"
        ),
    );
    a.wait_stats(t, |s| {
        s.drop("vouched") > before.drop("vouched") && s.fly_class(silent).is_some()
    });
    let s = a.settled_drops();
    std::fs::write(&go, b"").unwrap();

    assert_eq!(
        s.drop("vouched") - before.drop("vouched"),
        1,
        "the forged hit on the talker: {s}"
    );
    assert!(
        !s.fly_list().iter().any(|f| f == talker),
        "the talker {talker} became a fly: {s}"
    );
    assert_eq!(
        s.fly_class(silent).as_deref(),
        Some("unproven"),
        "the same forgery from a silent address: {s}"
    );
    assert_eq!(s.drop("trap") - before.drop("trap"), 1, "{s}");
    let line = format!("suspect {talker}, who tried TCP-port 139");
    assert!(
        a.wait_stdout(t, |l| l.starts_with(&line)),
        "no `{line}` on stdout\n{}",
        a.transcript()
    );

    // The conversation goes on.
    assert!(
        cli.wait_line(false, Duration::from_secs(10), |l| l == "after the forgery"),
        "the conversation broke after the forgery\n{}\n{}\nstats {}",
        cli.transcript(),
        srv.transcript(),
        a.stats()
    );
    assert!(
        cli.wait_exit(Duration::from_secs(5))
            .is_some_and(|s| s.success()),
        "{}",
        cli.transcript()
    );
    let got = cap.stop();
    assert_eq!(
        got.by_source(),
        BTreeMap::new(),
        "forged SYNs reached the lan host"
    );
    let s = a.settled_drops();
    assert!(!s.fly_list().iter().any(|f| f == talker), "{s}");
    a.terminate_ok();
}

/// A SYN scan, in port order, that touches the trap port (139) before the
/// lan host's listening port (8080) finds no open port: the scanner is an
/// unproven fly from 139 on. A clean source still finds the port open.
fn syn_scan_finds_no_open_port(b: Backend) {
    let lab = Lab::up(&lab_name("ss", b));
    let mut a = Appliance::start(&lab, b, &base_config());
    let _srv = start_service_on(&lab, 8080);
    lab.add_wan_addr(WAN_IP2);
    let cap = lab.capture(Host::Lan, "tcp");

    let t0 = Instant::now();
    let scan = ["-sS", "--max-retries", "1", "-S", WAN_IP, "-r"];
    let out = nmap_scan(&lab, &scan, "1-1024,8080");
    eprintln!("nmap -r 1-1024,8080: {:?}", t0.elapsed());
    assert!(out.ok(), "{out}");
    assert!(
        open_ports(&out).is_empty(),
        "the scan found open ports: {out}"
    );
    let line = format!("lockout {WAN_IP}, who tried TCP-port 139 (unproven)");
    assert!(
        a.wait_stdout(Duration::from_secs(5), |l| l == line),
        "no `{line}` on stdout\n{}",
        a.transcript()
    );
    let s = a.settled_drops();
    assert_eq!(s.fly_class(WAN_IP).as_deref(), Some("unproven"), "{s}");
    assert_eq!(s.drop("trap"), 1, "{s}");

    // The control: a clean source finds the port open.
    let out = nmap(&lab, WAN_IP2, "8080");
    assert_eq!(open_ports(&out), ["8080"], "clean source: {out}");
    let got = cap.stop();
    for port in [".139:", ".8080:"] {
        assert_eq!(
            got.count_from_with(WAN_IP, port),
            0,
            "the scan reached {port}: {:?}",
            got.by_source()
        );
    }
    assert!(got.count_from(WAN_IP2) > 0, "{:?}", got.by_source());
    a.terminate_ok();
}

/// Without `filter.lan`, the lan host's address is learned from its own
/// frames: a SYN from the wan port to the trap port forged with that
/// address is dropped as `spoofed`, makes no fly, and the lan host keeps
/// its link.
fn lan_address_from_the_wan_is_spoofed(b: Backend) {
    let lab = Lab::up(&lab_name("ls", b));
    let a = Appliance::start(&lab, b, "");
    let p = lab.ping(Host::Lan, WAN_IP, 2, "0.5");
    assert!(p.all(), "lan -> wan: {p:?}; stats {}", a.stats());

    let before = a.settled_drops();
    let cap = lab.capture(Host::Lan, &format!("src host {LAN_IP}"));
    let lmac = lab.mac(Host::Lan);
    lab.scapy(
        Host::Wan,
        &format!(
            "sendp(Ether(dst='{lmac}')/IP(src='{LAN_IP}', dst='{LAN_IP}')/TCP(sport=40139, dport=139, flags='S'), iface='eth0')"
        ),
    );
    let s = a.wait_stats(Duration::from_secs(5), |s| {
        s.drops_total() > before.drops_total()
    });
    let s = if s.drops_total() > before.drops_total() {
        a.settled_drops()
    } else {
        s
    };
    let got = cap.stop();
    assert_eq!(
        s.drop("spoofed") - before.drop("spoofed"),
        1,
        "the forged SYN: {:?}",
        s.nonzero_drops()
    );
    assert_eq!(
        s.drops_total() - before.drops_total(),
        1,
        "{:?}",
        s.nonzero_drops()
    );
    assert!(s.fly_list().is_empty(), "{s}");
    assert_eq!(got.by_source(), BTreeMap::new(), "the forged SYN arrived");

    let p = lab.ping(Host::Lan, WAN_IP, 3, "0.5");
    assert!(
        p.all(),
        "lan -> wan after the forgery: {p:?}; stats {}",
        a.stats()
    );
    a.terminate_ok();
}

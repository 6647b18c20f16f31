//! End-to-end tests of the operator's verbs against the real daemon in the
//! namespace lab: `status`, `list`, `free`, `block`, `flush`, `stats`,
//! `reload`, `stop`, the control socket's refusal of anyone but root, and
//! what a verb says when no daemon runs. Needs root (see tests/e2e.rs).

#[path = "e2e/support.rs"]
mod support;

use std::time::Duration;

use serde_json::Value;
use support::*;

per_backend!(
    free_block_and_flush,
    reload_keeps_or_applies,
    status_and_stop
);

const CONFIG: &str = "[filter]\nlan = [\"198.51.100.128/25\"]\n";

fn json(out: &Out) -> Value {
    assert!(out.ok(), "{out}");
    serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn flies(a: &Appliance) -> Vec<Value> {
    json(&a.verb(&["list", "--json"]))["flies"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// One ping from the wan host to the lan host: did it come back?
fn ping_ok(lab: &Lab) -> bool {
    lab.run_t(Host::Wan, 10, &["ping", "-c", "1", "-W", "2", LAN_IP])
        .ok()
}

/// A trap makes a fly that `list` shows; `free` lets its traffic pass again
/// at once (in the XDP program too); `block` locks an address out (in the
/// XDP program on AF_XDP) until `flush`.
fn free_block_and_flush(b: Backend) {
    let lab = Lab::up(&lab_name("vfree", b));
    let a = Appliance::start(&lab, b, CONFIG);
    assert!(ping_ok(&lab), "the lab passes traffic\n{}", a.transcript());
    assert_eq!(
        json(&a.verb(&["list", "--json"]))["flies"],
        Value::Array(vec![])
    );

    // A SYN to the trap port from the wan host.
    let out = lab.scapy(
        Host::Wan,
        &format!(
            "send(IP(src='{WAN_IP}', dst='{LAN_IP}')/TCP(sport=40000, dport=139, flags='S'), verbose=0)"
        ),
    );
    assert!(out.ok(), "{out}");
    let s = a.wait_stats(Duration::from_secs(5), |s| {
        s.fly_list().contains(&WAN_IP.to_string())
    });
    assert!(s.fly_list().contains(&WAN_IP.to_string()), "{s}");
    let list = flies(&a);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["addr"], WAN_IP);
    assert_eq!(list[0]["reason"], "trap");
    assert_eq!(list[0]["trigger"], "TCP-port 139");
    assert_eq!(list[0]["class"], "unproven");
    assert!(
        list[0]["expires"].as_str().unwrap().ends_with('Z'),
        "{list:?}"
    );
    let text = a.verb(&["list"]);
    assert!(
        text.ok() && text.stdout.contains(WAN_IP) && text.stdout.contains("TCP-port 139"),
        "{text}"
    );
    assert!(!ping_ok(&lab), "the fly's ping is dropped");
    let hits = flies(&a)[0]["hits"].as_u64().unwrap();
    assert!(hits >= 1, "the dropped ping is a hit: {hits}");

    // free: its traffic passes again at once.
    let out = a.verb(&["free", WAN_IP]);
    assert!(out.ok() && out.stdout.contains(WAN_IP), "{out}");
    assert!(
        ping_ok(&lab),
        "freed, the wan host's ping passes\n{}",
        a.transcript()
    );
    assert!(flies(&a).is_empty());
    let out = a.verb(&["free", WAN_IP]);
    assert!(!out.ok() && out.stderr.contains("is not a fly"), "{out}");
    let out = a.verb(&["unblock", "not-an-address"]);
    assert!(
        !out.ok() && out.stderr.contains("not an IPv4 or IPv6"),
        "{out}"
    );

    // block: an operator's fly, dropped in the XDP program on AF_XDP.
    let before = a.settled_stats();
    let out = a.verb(&["block", WAN_IP, "--for", "10m"]);
    assert!(out.ok() && out.stdout.contains("blocked"), "{out}");
    let list = flies(&a);
    assert_eq!(
        (list[0]["class"].as_str(), list[0]["reason"].as_str()),
        (Some("operator"), Some("operator"))
    );
    assert!(!ping_ok(&lab), "a blocked host's ping is dropped");
    assert!(
        flies(&a)[0]["hits"].as_u64().unwrap() >= 1,
        "counted where it was dropped (the XDP map on AF_XDP)"
    );
    // free lets its traffic through at once, in the XDP program too.
    assert!(a.verb(&["free", WAN_IP]).ok());
    assert!(ping_ok(&lab), "freed from the kernel map, the ping passes");
    assert!(a.verb(&["block", WAN_IP, "--for", "10m"]).ok());
    let after = a.settled_stats();
    if b == Backend::AfXdp {
        assert!(
            after.xdp("fly_drops") > before.xdp("fly_drops"),
            "the block is in the XDP map: {after}"
        );
    } else {
        assert!(after.drop("fly") > before.drop("fly"), "{after}");
    }
    let out = a.verb(&["block", "198.51.100.0/23"]);
    assert!(
        !out.ok() && out.stderr.contains("at most 256 flies"),
        "{out}"
    );

    // flush: everything free again, in the kernel too.
    let out = a.verb(&["flush"]);
    assert!(out.ok() && out.stdout.contains("freed 1 fly"), "{out}");
    assert!(
        ping_ok(&lab),
        "flushed, the ping passes\n{}",
        a.transcript()
    );
    assert!(flies(&a).is_empty());

    // A prefix: a fly per address inside it; free of the prefix frees all.
    let out = a.verb(&["block", "198.51.100.0/30", "--for", "10m"]);
    assert!(out.ok() && out.stdout.contains("(4 flies)"), "{out}");
    assert_eq!(flies(&a).len(), 4);
    assert!(!ping_ok(&lab), "the wan host is inside the blocked /30");
    let out = a.verb(&["free", "198.51.100.0/30"]);
    assert!(out.ok(), "{out}");
    assert!(ping_ok(&lab), "freed, the ping passes\n{}", a.transcript());
    assert!(flies(&a).is_empty());
    let st = json(&a.verb(&["stats", "--json"]));
    assert!(st["forwarded"].as_u64().unwrap() > 0, "{st}");
    assert!(st["drops"]["trap"].as_u64() == Some(1), "{st}");
}

/// `reload` with a bad file keeps the running policy and says why; with a
/// good one applies it while a transfer runs, without a drop.
fn reload_keeps_or_applies(b: Backend) {
    let lab = Lab::up(&lab_name("vrel", b));
    let a = Appliance::start(&lab, b, CONFIG);
    let cfg = lab.path("flypaper.toml");

    // A file that does not parse: refused, the old policy stays.
    std::fs::write(&cfg, format!("{CONFIG}[trap]\ntcp_ports = [70000]\n")).unwrap();
    let out = a.verb(&["reload"]);
    assert!(!out.ok(), "{out}");
    assert!(
        out.stderr.contains("the running policy stays") && out.stderr.contains("70000"),
        "{out}"
    );
    // So is one that resizes the tables.
    std::fs::write(&cfg, format!("{CONFIG}[tables]\nflows = 1024\n")).unwrap();
    let out = a.verb(&["reload"]);
    assert!(!out.ok() && out.stderr.contains("restart"), "{out}");

    // A good file (the trap moves from 139 to 2222) during a transfer.
    let srv = lab.spawn(Host::Lan, 60, &["iperf3", "-s", "-1", "-B", LAN_IP]);
    std::thread::sleep(Duration::from_millis(500));
    let client = lab.spawn(Host::Wan, 60, &["iperf3", "-c", LAN_IP, "-t", "4", "-J"]);
    std::thread::sleep(Duration::from_millis(1500));
    let before = a.settled_stats();
    std::fs::write(&cfg, format!("{CONFIG}[trap]\ntcp_ports = [2222]\n")).unwrap();
    let out = a.verb(&["reload"]);
    assert!(out.ok() && out.stdout.contains("applied by"), "{out}");
    let mut client = client;
    let done = client.wait_exit(Duration::from_secs(20));
    assert!(
        done.is_some_and(|s| s.success()),
        "iperf3 failed\n{}",
        client.transcript()
    );
    drop(srv);
    let after = a.settled_stats();
    assert_eq!(
        after.drops_total(),
        before.drops_total(),
        "no frame dropped across the swap: {:?}",
        after.nonzero_drops()
    );
    // The new trap port traps; the old one does not.
    for port in [139, 2222] {
        let out = lab.scapy(
            Host::Wan,
            &format!(
                "send(IP(src='{WAN_IP2}', dst='{LAN_IP}')/TCP(sport=41000, dport={port}, flags='S'), verbose=0)"
            ),
        );
        assert!(out.ok(), "{out}");
    }
    let s = a.wait_stats(Duration::from_secs(5), |s| s.drop("trap") > 0);
    assert_eq!(s.drop("trap"), 1, "{s}");
    let list = flies(&a);
    assert_eq!(list[0]["trigger"], "TCP-port 2222", "{list:?}");
    let status = a.verb(&["status"]);
    let sha = status
        .stdout
        .lines()
        .find(|l| l.contains("config"))
        .unwrap_or_default()
        .to_string();
    assert!(sha.contains("sha256"), "{status}");
}

/// `status` reports every check; non-root peers are refused; `stop` stops
/// the daemon; afterwards a verb says no daemon runs and exits 2.
fn status_and_stop(b: Backend) {
    let lab = Lab::up(&lab_name("vstat", b));
    let mut a = Appliance::start(&lab, b, CONFIG);
    let out = a.verb(&["status"]);
    assert!(out.ok(), "{out}");
    for want in ["backend", "worker 0", "flies", "uptime", "config"] {
        assert!(out.stdout.contains(want), "no `{want}` check: {out}");
    }
    if b == Backend::AfXdp {
        assert!(
            out.stdout.contains("xdp wan (wan0)") && out.stdout.contains("attached"),
            "{out}"
        );
        assert!(out.stdout.contains("AF_XDP"), "{out}");
    } else {
        assert!(out.stdout.contains("AF_PACKET"), "{out}");
    }
    let j = json(&a.verb(&["status", "--json"]));
    assert!(
        j["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["ok"] == true),
        "{j}"
    );

    // A peer that is not root is refused (by the socket's mode, and by
    // SO_PEERCRED if it got through).
    let sock = a.socket.to_string_lossy().into_owned();
    let out = run_root(
        20,
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_flypaper"),
            "list",
            "--socket",
            &sock,
        ],
    );
    assert!(!out.ok() && out.stderr.contains("root only"), "{out}");

    let out = a.verb(&["stop"]);
    assert!(out.ok(), "{out}");
    assert!(
        a.wait_stdout(Duration::from_secs(10), |l| l.starts_with("stats ")),
        "the daemon did not stop\n{}",
        a.transcript()
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(!a.socket.exists(), "the socket file is removed on stop");
    let out = a.verb(&["list"]);
    assert_eq!(out.status.code(), Some(2), "{out}");
    assert!(
        out.stderr.contains("no flypaper daemon is running"),
        "{out}"
    );
}

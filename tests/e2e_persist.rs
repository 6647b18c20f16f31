//! End-to-end: flies survive a SIGKILL of the daemon and a restart with
//! the same state directory, and a damaged state file neither stops the
//! daemon nor is lost. The lab, the appliance and the rules of these tests
//! are those of `tests/e2e.rs` (see there: root, the tools, the
//! environment switches).

#[path = "e2e/support.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use flypaper::daemon::persist;
use flypaper::filter::Nanos;
use serde_json::Value;
use support::*;

per_backend!(flies_survive_kill_and_restart);

/// A CLI verb against the daemon's control socket (from the root
/// namespace: the socket is a file in the lab's scratch directory).
fn verb(sock: &Path, args: &[&str]) -> Out {
    let mut v = vec![env!("CARGO_BIN_EXE_flypaper")];
    v.extend_from_slice(args);
    v.extend_from_slice(&["--socket", sock.to_str().unwrap(), "--json"]);
    run_root(20, &v)
}

/// `flypaper list --json`: each fly by address.
fn list(sock: &Path) -> BTreeMap<String, Value> {
    let out = verb(sock, &["list"]).check();
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out}"));
    v["flies"]
        .as_array()
        .unwrap_or_else(|| panic!("no flies array: {out}"))
        .iter()
        .map(|f| (f["addr"].as_str().unwrap().to_string(), f.clone()))
        .collect()
}

/// The stats' `expires_in_s` of each fly.
fn expires_in(s: &Stats) -> BTreeMap<String, u64> {
    s.0["fly_detail"]
        .as_array()
        .unwrap_or_else(|| panic!("no fly_detail: {s}"))
        .iter()
        .map(|f| {
            (
                f["addr"].as_str().unwrap().to_string(),
                f["expires_in_s"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn rfc3339(v: &Value) -> SystemTime {
    humantime::parse_rfc3339(v.as_str().unwrap()).unwrap_or_else(|e| panic!("{v}: {e}"))
}

/// `a` and `b` at most `secs` apart.
fn near(a: SystemTime, b: SystemTime, secs: u64) -> bool {
    let d = a
        .duration_since(b)
        .or_else(|_| b.duration_since(a))
        .unwrap();
    d <= Duration::from_secs(secs)
}

/// A fly left by the trap (an unproven trap hit, userspace) and an
/// operator's block (in the XDP map on AF_XDP) are saved within a second;
/// after `kill -9` a restart with the same `--state-dir` lists both with
/// the lifetime they had left, and the wan host's frames from both
/// addresses are still dropped. A clean stop saves too; a damaged state
/// file is reported, moved aside whole, and the daemon starts without it.
fn flies_survive_kill_and_restart(b: Backend) {
    let lab = Lab::up(&format!(
        "ps{}",
        match b {
            Backend::AfPacket => "p",
            Backend::AfXdp => "x",
        }
    ));
    let state = lab.path("state");
    let sock = lab.path("control.sock");
    let file = state.join(persist::FILE);
    let extra = [
        "--state-dir",
        state.to_str().unwrap(),
        "--socket",
        sock.to_str().unwrap(),
    ];
    let a = Appliance::start_with(&lab, b, &base_config(), &extra);
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&state).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700, "the state directory is private");
    }
    assert!(
        a.stdout()
            .iter()
            .any(|l| l.contains("starting with no flies")),
        "{}",
        a.transcript()
    );
    lab.add_wan_addr(WAN_IP2);

    // The trap: one SYN to port 139 from the wan host's own address.
    let trapped_at = Instant::now();
    let out = lab.run_t(
        Host::Wan,
        30,
        &[
            "hping3", "-I", "eth0", "-q", "-S", "-p", "139", "-c", "1", LAN_IP,
        ],
    );
    let s = a.wait_stats(Duration::from_secs(5), |s| {
        s.fly_list().iter().any(|f| f == WAN_IP)
    });
    assert!(s.fly_list().iter().any(|f| f == WAN_IP), "{out}\n{s}");
    // The operator's block of its second address, for an hour.
    let blocked_at = Instant::now();
    let out = verb(&sock, &["block", WAN_IP2, "--for", "1h"]).check();
    assert!(out.stdout.contains(WAN_IP2), "{out}");

    // Saved within a second or so: the file (read as the daemon reads it)
    // holds both.
    let deadline = Instant::now() + Duration::from_secs(5);
    let saved = loop {
        let l = persist::load(
            &state,
            SystemTime::now(),
            Nanos(flypaper::sys::monotonic_ns()),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        if l.entries.len() == 2 || Instant::now() >= deadline {
            break l;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(saved.entries.len(), 2, "{saved:?}\n{}", a.transcript());
    let status: Value = serde_json::from_str(&verb(&sock, &["status"]).stdout).unwrap();
    let check = status["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "state")
        .cloned()
        .unwrap_or_else(|| panic!("no state check: {status}"));
    assert!(
        check["ok"] == true && check["detail"].as_str().unwrap().contains("2 flies saved"),
        "{check}"
    );
    let before = list(&sock);

    // kill -9, then the same state directory again.
    let exit = a.kill();
    assert!(exit.killed);
    let mut a = Appliance::start_with(&lab, b, &base_config(), &extra);
    let restored = format!(
        "restored 2 flies (0 expired dropped) from {}",
        file.display()
    );
    assert!(
        a.wait_stdout(Duration::from_secs(1), |l| l.starts_with(&restored)
            && l.ends_with(" ms")),
        "no `{restored} in N ms`\n{}",
        a.transcript()
    );
    let after = list(&sock);
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        [WAN_IP, WAN_IP2],
        "{after:?}"
    );
    let (trap, block) = (&after[WAN_IP], &after[WAN_IP2]);
    assert_eq!(
        (&trap["class"], &trap["reason"], &trap["trigger"]),
        (&"unproven".into(), &"trap".into(), &"TCP-port 139".into()),
        "{trap}"
    );
    assert_eq!(
        (&block["class"], &block["reason"]),
        (&"operator".into(), &"operator".into()),
        "{block}"
    );
    for (addr, f) in &after {
        for key in ["expires", "first_seen"] {
            assert!(
                near(rfc3339(&f[key]), rfc3339(&before[addr][key]), 2),
                "{addr} {key}: {} before the kill, {} after",
                before[addr][key],
                f[key]
            );
        }
    }
    // The lifetime left, by the test's own clock.
    let left = expires_in(&a.stats());
    let want = |lockout: u64, since: Instant| lockout - since.elapsed().as_secs();
    for (addr, lockout, since) in [(WAN_IP, 86_400, trapped_at), (WAN_IP2, 3600, blocked_at)] {
        let (got, want) = (left[addr], want(lockout, since));
        assert!(
            got.abs_diff(want) <= 3,
            "{addr}: expires in {got} s, {want} s expected"
        );
    }

    // Still dropped: the block in XDP on AF_XDP, the trap fly in userspace.
    let s0 = a.settled_drops();
    let p = lab.ping_from(Host::Wan, WAN_IP2, LAN_IP, 3, "0.2");
    assert_eq!(p.received, 0, "the block was lifted: {p:?}");
    let s1 = a.settled_drops();
    match b {
        Backend::AfXdp => {
            assert!(
                s1.xdp("fly_drops") >= s0.xdp("fly_drops") + 3,
                "the block is not in the XDP map: {s1}"
            );
            assert_eq!(s1.drop("fly"), s0.drop("fly"), "{s1}");
        }
        Backend::AfPacket => assert!(s1.drop("fly") >= s0.drop("fly") + 3, "{s1}"),
    }
    let p = lab.ping(Host::Wan, LAN_IP, 3, "0.2");
    assert_eq!(p.received, 0, "the trap fly was freed: {p:?}");
    let s2 = a.settled_drops();
    assert!(s2.drop("fly") >= s1.drop("fly") + 3, "{s2}");

    // A clean stop saves them too.
    let exit = a.terminate();
    assert!(exit.status.success(), "exit {}", exit.status);
    assert!(
        exit.stdout
            .iter()
            .any(|l| l.starts_with("saved 2 flies to") && l.contains(persist::FILE)),
        "{:?}",
        exit.stdout
    );

    // A damaged file: reported, moved aside whole, the daemon starts
    // without its flies.
    let mut bytes = read(&file);
    bytes[40] ^= 0xff;
    std::fs::write(&file, &bytes).unwrap();
    let a = Appliance::start_with(&lab, b, &base_config(), &extra);
    let said = a
        .stdout()
        .into_iter()
        .find(|l| l.contains("corrupt"))
        .unwrap_or_else(|| panic!("nothing said of the damage\n{}", a.transcript()));
    assert!(
        said.contains("checksum") && said.contains("moved aside to"),
        "{said}"
    );
    let aside: Vec<_> = std::fs::read_dir(&state)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(persist::CORRUPT)
        })
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(read(&aside[0]), bytes, "moved aside whole");
    assert!(said.contains(&aside[0].display().to_string()), "{said}");
    assert!(list(&sock).is_empty());
    lab.flush_neigh();
    let p = lab.ping(Host::Wan, LAN_IP, 2, "0.3");
    assert!(p.all(), "no flies, yet: {p:?}; stats {}", a.stats());
    let exit = a.terminate();
    assert!(exit.status.success(), "exit {}", exit.status);
}

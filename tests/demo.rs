//! `flypaper demo` end to end: the lab, the traffic and the attacks, and
//! the operator's verbs on the demo appliance's control socket (the
//! scanner's pings dropped while it is a fly, answered once `free` lets it
//! go). Needs root like the e2e tests (fails without it unless
//! `FLYPAPER_SKIP_E2E=1`), and takes the machine's lab lock so it never runs
//! beside another lab.

#[path = "e2e/support.rs"]
mod support;

use std::process::Command;

/// The line of `out` that starts with `prefix` (after indentation).
#[track_caller]
fn line<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines()
        .map(str::trim_start)
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{out}"))
}

/// The number of replies in a ping summary line ("2 packets transmitted, 0
/// received, ...").
#[track_caller]
fn received(summary: &str) -> u32 {
    summary
        .split(", ")
        .find_map(|p| p.strip_suffix(" received"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no reply count in {summary:?}"))
}

#[test]
fn the_demo_runs_and_shows_the_verbs() {
    if !support::e2e_enabled() {
        return;
    }
    let _lock = support::machine_lock();
    let o = Command::new("timeout")
        .args(["300", env!("CARGO_BIN_EXE_flypaper"), "demo"])
        .output()
        .expect("flypaper demo");
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success(),
        "flypaper demo: {}\n{out}\n{err}",
        o.status
    );

    // The traffic and the attacks.
    assert_eq!(received(line(&out, "ping wan -> lan:")), 3, "{out}");
    assert!(
        line(&out, "UDP query wan -> lan:5353:").contains("answer for"),
        "{out}"
    );
    assert!(line(&out, "nmap found").contains("found 0 open"), "{out}");
    assert!(
        out.contains("lockout 198.51.100.5, who tried TCP-port 139"),
        "{out}"
    );

    // The verbs, on the demo's own socket.
    let verbs = out
        .split_once("== the operator's verbs, on the control socket ")
        .map(|(_, v)| v.split("\n== ").next().unwrap_or(""))
        .unwrap_or_else(|| panic!("no verbs section in:\n{out}"));
    // The demo's own socket, in its scratch directory: never the default
    // one of an installed daemon.
    let socket = verbs.lines().next().unwrap_or("");
    assert!(
        socket.ends_with("/control.sock") && !socket.starts_with("/run/flypaper"),
        "{socket}"
    );
    assert!(verbs.contains("$ flypaper status"), "{verbs}");
    assert!(line(verbs, "ok   backend").len() > 4, "{verbs}");
    assert!(!verbs.contains("FAIL"), "a status check failed:\n{verbs}");
    assert!(verbs.contains("$ flypaper list"), "{verbs}");
    let fly = line(verbs, "198.51.100.5 ");
    assert!(
        fly.contains("trap") && fly.contains("TCP-port 139"),
        "{fly}"
    );
    assert!(verbs.contains("$ flypaper free 198.51.100.5"), "{verbs}");
    assert_eq!(line(verbs, "freed "), "freed 198.51.100.5", "{verbs}");
    let before = line(verbs, "ping from the scanner 198.51.100.5, a fly:");
    let after = line(verbs, "ping from the scanner 198.51.100.5, freed:");
    assert_eq!(received(before), 0, "a fly's pings pass:\n{verbs}");
    assert!(
        received(after) >= 1,
        "the freed scanner's pings are dropped:\n{verbs}"
    );
    assert!(!verbs.contains("(exit status"), "a verb failed:\n{verbs}");
}

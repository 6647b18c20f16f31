//! End-to-end tests of what an operator observes: the metrics endpoint
//! (`run --metrics`), the capture of dropped frames (`run --capture-drops`)
//! and monitor mode (`filter.mode = "monitor"`), each with the real
//! `flypaper run` between the lab's hosts (`appliance/lab.sh`).
//!
//! Same conditions as tests/e2e.rs (root, `FLYPAPER_SKIP_E2E=1` to skip,
//! `FLYPAPER_E2E_AFXDP=0` to leave out the AF_XDP variants); also needs
//! curl and tshark. Traffic stays inside the lab (198.51.100.0/24, and
//! spoofed sources sent only toward the lab's own lan host).

#[path = "e2e/support.rs"]
mod support;

use std::time::Duration;

use support::*;

per_backend!(
    metrics_match_the_stats,
    dropped_frames_are_captured_with_their_reason,
    monitor_mode_forwards_what_it_would_drop
);

/// Where the appliance serves its metrics, inside the fw namespace.
const METRICS: &str = "127.0.0.1:9184";

/// A bogon source (10/8): dropped as `bogon-src` from the WAN.
const BOGON: &str = "10.9.8.7";

/// A source outside the LAN prefix, sent from the lan host: `spoofed`.
const OFF_LAN: &str = "203.0.113.77";

/// The tools these tests need beyond tests/e2e.rs's.
fn need(tool: &str, pkg: &str) {
    let found = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(found, "these tests need {tool}: apt-get install -y {pkg}");
}

/// One SYN from the wan host to the lan host's trap port 139.
fn trap_syn(lab: &Lab) {
    let out = lab.run_t(
        Host::Wan,
        15,
        &[
            "hping3", "-I", "eth0", "-q", "-S", "-p", "139", "-c", "1", LAN_IP,
        ],
    );
    // hping3 exits non-zero when nothing answers: that is the point.
    assert!(out.stderr.contains("hping") || out.ok(), "{out}");
}

/// `count` echo requests from a bogon source to the lan host (raw frames).
fn bogons(lab: &Lab, count: u32, inter: &str) {
    let mac = lab.mac(Host::Lan);
    lab.scapy(
        Host::Wan,
        &format!(
            "sendp(Ether(dst='{mac}')/IP(src='{BOGON}', dst='{LAN_IP}')/ICMP(), iface='eth0', count={count}, inter={inter})"
        ),
    );
}

/// One UDP datagram from the lan host with a source outside the LAN.
fn spoofed_from_lan(lab: &Lab) {
    let mac = lab.mac(Host::Wan);
    lab.scapy(
        Host::Lan,
        &format!(
            "sendp(Ether(dst='{mac}')/IP(src='{OFF_LAN}', dst='{WAN_IP}')/UDP(sport=4000, dport=9), iface='eth0')"
        ),
    );
}

/// GET a path of the metrics endpoint from inside the fw namespace:
/// (HTTP status, headers and body).
fn curl(lab: &Lab, path: &str) -> (u32, String) {
    let url = format!("http://{METRICS}{path}");
    let out = lab.run(
        Host::Fw,
        &[
            "curl",
            "-s",
            "-i",
            "-m",
            "5",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            &url,
        ],
    );
    assert!(out.ok(), "{out}");
    let (body, code) = out.stdout.trim_end().rsplit_once('\n').expect("a status");
    (
        code.trim().parse().expect("an HTTP status"),
        body.to_string(),
    )
}

/// The value of the sample `series` (name and labels) in a scrape.
fn sample(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no `{series}` in the scrape:\n{text}"))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("`{series}`: {e}"))
}

fn drops_series(reason: &str, port: &str) -> String {
    format!(r#"flypaper_drops_total{{reason="{reason}",port="{port}"}}"#)
}

// ---------------------------------------------------------------------------

/// The endpoint serves the Prometheus text format while the appliance
/// runs, and its drop counters are the stats file's, split by port.
fn metrics_match_the_stats(b: Backend) {
    need("curl", "curl");
    let lab = Lab::up(&lab_name("om", b));
    let sock = lab.path("ctl.sock");
    let a = Appliance::start_with(
        &lab,
        b,
        &base_config(),
        &["--metrics", METRICS, "--socket", &sock.to_string_lossy()],
    );
    assert!(
        a.stdout()
            .iter()
            .any(|l| l == &format!("metrics on http://{METRICS}/metrics")),
        "{}",
        a.transcript()
    );
    let ping = lab.ping(Host::Wan, LAN_IP, 2, "0.2");
    assert!(ping.all(), "{ping:?}");
    trap_syn(&lab);
    bogons(&lab, 3, "0.01");
    spoofed_from_lan(&lab);
    a.wait_stats(Duration::from_secs(5), |s| {
        s.drop("trap") == 1 && s.drop("bogon-src") == 3 && s.drop("spoofed") == 1
    });
    let s = a.settled_drops();

    let (code, text) = curl(&lab, "/metrics");
    assert_eq!(code, 200, "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{text}"
    );
    assert!(
        text.contains("# TYPE flypaper_drops_total counter"),
        "{text}"
    );
    for (reason, port, want) in [
        ("trap", "wan", s.drop("trap")),
        ("trap", "lan", 0),
        ("bogon-src", "wan", s.drop("bogon-src")),
        ("spoofed", "lan", s.drop("spoofed")),
        ("spoofed", "wan", 0),
    ] {
        assert_eq!(
            sample(&text, &drops_series(reason, port)),
            want,
            "{reason} from {port}; stats {s}"
        );
    }
    assert_eq!(
        (s.drop("trap"), s.drop("bogon-src"), s.drop("spoofed")),
        (1, 3, 1),
        "{s}"
    );
    // Every reason of the stats file, summed over both ports.
    let total: u64 = text
        .lines()
        .filter(|l| l.starts_with("flypaper_drops_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(total, s.drops_total(), "{s}");
    // Frames only grow: at least what the stats file had.
    assert!(sample(&text, r#"flypaper_frames_total{port="wan"}"#) >= s.get("frames_wan"));
    // The gauges.
    assert_eq!(sample(&text, r#"flypaper_flies{class="unproven"}"#), 1);
    assert_eq!(sample(&text, "flypaper_blacklist_entries"), 1);
    assert!(sample(&text, "flypaper_blacklist_capacity") > 1);
    assert!(sample(&text, r#"flypaper_table_capacity{table="flows"}"#) > 0);
    assert!(sample(&text, r#"flypaper_table_entries{table="sources"}"#) > 0);
    assert_eq!(sample(&text, "flypaper_rst_queue"), 0);
    match b {
        Backend::AfXdp => assert!(
            sample(&text, r#"flypaper_xdp_frames_total{action="redirected"}"#) > 0,
            "{text}"
        ),
        Backend::AfPacket => assert!(!text.contains("flypaper_xdp_"), "{text}"),
    }
    let (code, _) = curl(&lab, "/");
    assert_eq!(code, 404);
    let exit = a.terminate();
    assert!(exit.status.success(), "exit {}", exit.status);
}

/// Dropped frames land in the pcapng file on the port they came in on,
/// with their reason as the comment, as tshark reads them; the counts of
/// written and skipped frames are in the stats.
fn dropped_frames_are_captured_with_their_reason(b: Backend) {
    need("tshark", "tshark");
    let lab = Lab::up(&lab_name("oc", b));
    let file = lab.path("drops.pcapng");
    let sock = lab.path("ctl.sock");
    let a = Appliance::start_with(
        &lab,
        b,
        &base_config(),
        &[
            "--capture-drops",
            &file.to_string_lossy(),
            "--capture-drops-rate",
            "20",
            "--socket",
            &sock.to_string_lossy(),
        ],
    );
    trap_syn(&lab);
    bogons(&lab, 2, "0.01");
    spoofed_from_lan(&lab);
    // The writer's counts are live, the workers' are published every
    // 100 ms: wait for both.
    let s = a.wait_stats(Duration::from_secs(5), |s| {
        s.0["capture_drops"]["written"].as_u64() == Some(4) && s.drops_total() == 4
    });
    assert_eq!(s.0["capture_drops"]["written"], 4, "{s}");
    assert_eq!(s.drops_total(), 4, "{s}");

    // A flood of dropped frames: written at the rate, the rest counted.
    bogons(&lab, 300, "0");
    let s = a.wait_stats(Duration::from_secs(5), |s| s.drop("bogon-src") == 302);
    let s2 = a.settled_stats();
    let c = &s2.0["capture_drops"];
    let n = |k: &str| c[k].as_u64().unwrap_or_else(|| panic!("no {k}: {s2}"));
    assert_eq!(s.drop("bogon-src"), 302, "{s}");
    assert!(n("skipped_rate") > 0, "{s2}");
    assert_eq!(
        n("written") + n("skipped_rate") + n("skipped_size") + n("skipped_queue"),
        s2.drops_total(),
        "every dropped frame is written or counted as skipped: {s2}"
    );
    // 20 per second with a second's burst: the flood took at most a few
    // seconds, so far fewer than 300 were written.
    assert!(n("written") < 4 + 20 * 10, "{s2}");
    assert_eq!(n("bytes"), std::fs::metadata(&file).unwrap().len(), "{s2}");

    let exit = a.terminate();
    assert!(exit.status.success(), "exit {}", exit.status);
    let fin = exit.final_stats().expect("a final stats line");
    let written = fin.0["capture_drops"]["written"].as_u64().unwrap();

    let file_s = file.to_string_lossy();
    let out = run_root(
        30,
        &[
            "tshark",
            "-r",
            &file_s,
            "-T",
            "fields",
            "-e",
            "frame.interface_name",
            "-e",
            "frame.comment",
            "-e",
            "ip.src",
        ],
    );
    assert!(out.ok(), "{out}");
    let rows: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(rows.len() as u64, written, "{}", out.stdout);
    assert_eq!(rows[0], ["wan", "trap", WAN_IP], "{}", out.stdout);
    assert_eq!(rows[1], ["wan", "bogon-src", BOGON], "{}", out.stdout);
    assert_eq!(rows[2], ["wan", "bogon-src", BOGON], "{}", out.stdout);
    assert_eq!(rows[3], ["lan", "spoofed", OFF_LAN], "{}", out.stdout);
    assert!(
        rows[4..].iter().all(|r| r[..2] == ["wan", "bogon-src"]),
        "{}",
        out.stdout
    );
}

/// In monitor mode a trap SYN reaches the lan host while the stats count
/// it as `trap` and its source is listed as a fly; an operator's block is
/// not copied into the XDP program, so the fly's pings still pass.
fn monitor_mode_forwards_what_it_would_drop(b: Backend) {
    let lab = Lab::up(&lab_name("mo", b));
    let sock = lab.path("ctl.sock");
    let sock_s = sock.to_string_lossy().into_owned();
    let config = format!("{}mode = \"monitor\"\n", base_config());
    let mut a = Appliance::start_with(&lab, b, &config, &["--socket", &sock_s]);
    assert!(
        a.stdout().iter().any(|l| l.starts_with("mode monitor")),
        "{}",
        a.transcript()
    );

    let cap = lab.capture(Host::Lan, "tcp dst port 139");
    trap_syn(&lab);
    let line = format!("lockout {WAN_IP}, who tried TCP-port 139");
    assert!(
        a.wait_stdout(Duration::from_secs(5), |l| l.contains(&line)),
        "no `{line}` on stdout\n{}",
        a.transcript()
    );
    let got = cap.stop();
    assert_eq!(
        got.count_from_with(WAN_IP, "Flags [S]"),
        1,
        "the trap SYN did not reach the lan host: {:?}",
        got.lines
    );
    let s = a.wait_stats(Duration::from_secs(5), |s| s.drop("trap") == 1);
    assert_eq!(s.drop("trap"), 1, "{s}");
    assert_eq!(s.fly_list(), [WAN_IP], "{s}");

    // The fly is listed by the control verb.
    let bin = env!("CARGO_BIN_EXE_flypaper");
    let list = run_root(10, &[bin, "list", "--socket", &sock_s, "--json"]);
    assert!(list.ok(), "{list}");
    assert!(
        list.stdout.contains(&format!("\"addr\":\"{WAN_IP}\"")),
        "{list}"
    );

    // An operator's block would go into the XDP map: not in monitor mode.
    let block = run_root(10, &[bin, "block", WAN_IP, "--socket", &sock_s]);
    assert!(block.ok(), "{block}");
    let before = a.settled_drops();
    let ping = lab.ping(Host::Wan, LAN_IP, 3, "0.2");
    assert!(
        ping.all(),
        "the fly's pings were dropped in monitor mode: {ping:?}"
    );
    let s = a.wait_stats(Duration::from_secs(5), |s| {
        s.drop("fly") >= before.drop("fly") + 3
    });
    assert!(
        s.drop("fly") >= before.drop("fly") + 3,
        "counted as fly: {s}"
    );
    if b == Backend::AfXdp {
        assert_eq!(s.xdp("fly_drops"), 0, "the XDP program dropped: {s}");
    }
    let exit = a.terminate();
    assert!(exit.status.success(), "exit {}", exit.status);
}

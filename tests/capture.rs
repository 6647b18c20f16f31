//! The committed captures in `appliance/captures/`: the Rust reader reads
//! them as generated, the seed-attack expectations are consistent with the
//! capture, and the generator (`appliance/gen-captures.py`, scapy) is
//! deterministic and produced exactly the committed bytes.
//!
//! The generator check needs Debian's python3-scapy in /usr/bin/python3 and
//! fails when it is missing (CI installs it), unless `FLYPAPER_SKIP_SCAPY=1`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use flypaper::capture::{Format, OwnedPacket, Reader, LINKTYPE_ETHERNET};
use flypaper::Reason;

/// 2023-11-14 22:13:20 UTC, where every generated capture starts.
const BASE_NS: u64 = 1_700_000_000_000_000_000;
const MS: u64 = 1_000_000;
const US: u64 = 1_000;
const PYTHON: &str = "/usr/bin/python3";

fn captures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("appliance/captures")
}

fn read(name: &str) -> (Reader<'static>, Vec<OwnedPacket>) {
    let path = captures_dir().join(name);
    let mut r = Reader::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let pkts = r
        .read_all()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (r, pkts)
}

fn ethertype(p: &OwnedPacket) -> u16 {
    u16::from_be_bytes([p.data[12], p.data[13]])
}

fn assert_common(name: &str, pkts: &[OwnedPacket]) {
    for (i, p) in pkts.iter().enumerate() {
        assert_eq!(p.link_type, LINKTYPE_ETHERNET, "{name} frame {}", i + 1);
        assert_eq!(
            p.data.len() as u32,
            p.orig_len,
            "{name} frame {}: not truncated",
            i + 1
        );
        assert!(p.ts_ns >= BASE_NS, "{name} frame {}", i + 1);
    }
    assert!(
        pkts.windows(2).all(|w| w[0].ts_ns <= w[1].ts_ns),
        "{name}: timestamps go backwards"
    );
}

#[test]
fn demo_capture_reads_as_generated() {
    let (r, pkts) = read("demo.pcapng");
    assert_eq!(r.format(), Format::PcapNg);
    assert_eq!(r.interface_count(), 2);
    assert_eq!(r.link_type(0), Some(LINKTYPE_ETHERNET));
    assert_eq!(r.link_type(1), Some(LINKTYPE_ETHERNET));
    assert_eq!(pkts.len(), 315);
    assert_common("demo", &pkts);
    let wan = pkts.iter().filter(|p| p.interface == 0).count();
    let lan = pkts.iter().filter(|p| p.interface == 1).count();
    assert_eq!((wan, lan), (295, 20));
    // Spot checks: the first frame is the LAN client's ARP request at the
    // base time, the ARP reply comes 300 us later from the WAN, the last
    // frame is the IPv6 handshake's ACK at +2.958 s.
    assert_eq!(
        (pkts[0].ts_ns, pkts[0].interface, ethertype(&pkts[0])),
        (BASE_NS, 1, 0x0806)
    );
    assert_eq!(
        (pkts[1].ts_ns, pkts[1].interface, ethertype(&pkts[1])),
        (BASE_NS + 300 * US, 0, 0x0806)
    );
    let last = pkts.last().unwrap();
    assert_eq!(
        (last.ts_ns, last.interface, ethertype(last)),
        (BASE_NS + 2958 * MS, 0, 0x86dd)
    );
    // 200 SYN-flood frames from 203.0.113.66, 5 ms apart.
    let flood: Vec<_> = pkts
        .iter()
        .filter(|p| ethertype(p) == 0x0800 && p.data[26..30] == [203, 0, 113, 66])
        .collect();
    assert_eq!(flood.len(), 200);
    assert_eq!(flood[0].ts_ns, BASE_NS + 1500 * MS);
    assert_eq!(flood[199].ts_ns - flood[0].ts_ns, 199 * 5 * MS);
    assert!(
        pkts.iter().all(|p| p.data.len() >= 60),
        "every demo frame is padded to 60 bytes"
    );
}

#[test]
fn lan_egress_capture_reads_as_generated() {
    let (r, pkts) = read("lan-egress.pcap");
    assert_eq!(r.format(), Format::Pcap);
    assert_eq!(r.link_type(0), Some(LINKTYPE_ETHERNET));
    assert_common("lan-egress", &pkts);
    let ts: Vec<u64> = pkts.iter().map(|p| (p.ts_ns - BASE_NS) / MS).collect();
    assert_eq!(ts, [0, 1, 20, 40, 60, 80, 100]);
    assert!(pkts.iter().all(|p| p.interface == 0));
    let types: Vec<u16> = pkts.iter().map(ethertype).collect();
    assert_eq!(
        types,
        [0x0806, 0x0800, 0x0800, 0x0800, 0x86dd, 0x0800, 0x0800]
    );
    // The two egress spoofs: 203.0.113.200 and 10.9.9.9.
    assert_eq!(pkts[5].data[26..30], [203, 0, 113, 200]);
    assert_eq!(pkts[6].data[26..30], [10, 9, 9, 9]);
}

/// One line of `seed-attacks.expect.json`.
#[derive(Debug)]
struct Expect {
    frame: usize,
    block: String,
    dir: String,
    ts_ns: u64,
    verdict: String,
    reason: Option<String>,
    deadline_ns: Option<u64>,
}

fn load_expectations() -> (serde_json::Value, Vec<Expect>) {
    let path = captures_dir().join("seed-attacks.expect.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc: serde_json::Value = serde_json::from_str(&text).expect("expectations are JSON");
    let frames = doc["frames"]
        .as_array()
        .expect("frames array")
        .iter()
        .map(|f| Expect {
            frame: f["frame"].as_u64().expect("frame") as usize,
            block: f["block"].as_str().expect("block").to_string(),
            dir: f["dir"].as_str().expect("dir").to_string(),
            ts_ns: f["ts_ns"].as_u64().expect("ts_ns"),
            verdict: f["verdict"].as_str().expect("verdict").to_string(),
            reason: f.get("reason").and_then(|r| r.as_str()).map(String::from),
            deadline_ns: f.get("deadline_ns").and_then(|d| d.as_u64()),
        })
        .collect();
    (doc, frames)
}

#[test]
fn seed_attacks_capture_matches_its_expectations() {
    let (r, pkts) = read("seed-attacks.pcapng");
    assert_eq!(r.format(), Format::PcapNg);
    assert_eq!(r.interface_count(), 2);
    assert_common("seed-attacks", &pkts);
    let (doc, expect) = load_expectations();
    assert_eq!(
        doc["lan"],
        serde_json::json!(["198.51.100.0/24", "2001:db8:1::/48"])
    );
    assert_eq!(doc["interfaces"], serde_json::json!(["wan", "lan"]));
    assert_eq!(pkts.len(), 161);
    assert_eq!(expect.len(), pkts.len(), "one expectation per frame");
    for (i, (p, e)) in pkts.iter().zip(&expect).enumerate() {
        let ctx = format!("frame {}: {e:?}", i + 1);
        assert_eq!(e.frame, i + 1, "{ctx}");
        assert_eq!(e.ts_ns, p.ts_ns, "{ctx}");
        let dir = match p.interface {
            0 => "wan",
            1 => "lan",
            other => panic!("{ctx}: interface {other}"),
        };
        assert_eq!(e.dir, dir, "{ctx}");
        match e.verdict.as_str() {
            "forward" => assert!(e.reason.is_none() && e.deadline_ns.is_none(), "{ctx}"),
            "drop" => {
                let name = e.reason.as_deref().expect("a drop names its reason");
                assert!(
                    Reason::from_name(name).is_some(),
                    "{ctx}: unknown reason {name}"
                );
            }
            "delay" => assert_eq!(e.deadline_ns, Some(e.ts_ns + 500 * MS), "{ctx}"),
            other => panic!("{ctx}: unknown verdict {other}"),
        }
    }
    // The blocks, in their documented order, 2 s apart.
    let mut blocks: Vec<&str> = expect.iter().map(|e| e.block.as_str()).collect();
    blocks.dedup();
    assert_eq!(
        blocks,
        [
            "baseline",
            "malformed",
            "bogon-src",
            "bogus-dst",
            "spoofed",
            "icmp-type",
            "icmp-rate",
            "tcp-flags",
            "invalid",
            "rst",
            "syn-rate",
            "trap",
            "non-ip"
        ]
    );
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    for e in &expect {
        let key = match &e.reason {
            Some(r) => r.clone(),
            None => e.verdict.clone(),
        };
        *tally.entry(key).or_default() += 1;
    }
    let want: BTreeMap<String, usize> = [
        ("forward", 106),
        ("delay", 3),
        ("malformed", 5),
        ("bogon-src", 9),
        ("bogus-dst", 6),
        ("spoofed", 5),
        ("icmp-type", 2),
        ("icmp-rate", 2),
        ("tcp-flags", 5),
        ("invalid", 3),
        ("rst-rate", 1),
        ("syn-rate", 5),
        ("trap", 2),
        ("fly", 7),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(tally, want);
    // Spot checks on raw bytes: the runt is 20 bytes, the IHL-3 header says so.
    let runt = &pkts[28];
    assert_eq!((runt.data.len(), ethertype(runt)), (20, 0x0800));
    assert_eq!(pkts[25].data[14], 0x43);
    // The SYN flood: 64 SYNs 100 us apart, the 60th is the first refused
    // (fewer than 60 attempts in the last second pass).
    let syn: Vec<_> = expect.iter().filter(|e| e.block == "syn-rate").collect();
    assert_eq!(syn.len(), 64);
    assert_eq!(syn[59].reason.as_deref(), Some("syn-rate"));
    assert_eq!(syn[58].verdict, "forward");
    assert_eq!(syn[63].ts_ns - syn[0].ts_ns, 63 * 100 * US);
}

fn scapy_available() -> Result<(), String> {
    match Command::new(PYTHON).args(["-c", "import scapy"]).output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(format!(
            "`{PYTHON} -c \"import scapy\"` failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("cannot run {PYTHON}: {e}")),
    }
}

fn list(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn generator_is_deterministic_and_produced_the_committed_captures() {
    if let Err(why) = scapy_available() {
        if std::env::var("FLYPAPER_SKIP_SCAPY").as_deref() == Ok("1") {
            eprintln!("skipping the capture generator check (FLYPAPER_SKIP_SCAPY=1): {why}");
            return;
        }
        panic!(
            "the capture generator needs scapy in {PYTHON}: {why}\n\
             install it with `apt-get install -y python3-scapy`, \
             or set FLYPAPER_SKIP_SCAPY=1 to skip this check"
        );
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("appliance/gen-captures.py");
    let unique = format!(
        "flypaper-gen-captures-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    );
    let out = std::env::temp_dir().join(unique);
    let run = Command::new(PYTHON)
        .arg(&script)
        .arg(&out)
        .output()
        .expect("run the generator");
    let result = std::panic::catch_unwind(|| {
        assert!(
            run.status.success(),
            "{} failed: {}",
            script.display(),
            String::from_utf8_lossy(&run.stderr)
        );
        let committed = captures_dir();
        assert_eq!(
            list(&out),
            list(&committed),
            "appliance/captures/ holds exactly the generator's files"
        );
        for name in list(&out) {
            let fresh = std::fs::read(out.join(&name)).unwrap();
            let old = std::fs::read(committed.join(&name)).unwrap();
            if fresh != old {
                let at = fresh.iter().zip(&old).position(|(a, b)| a != b);
                panic!(
                    "appliance/captures/{name} differs from the generator's output \
                     (sizes {} vs {}, first difference at byte {:?}); \
                     regenerate with `{PYTHON} appliance/gen-captures.py appliance/captures`",
                    old.len(),
                    fresh.len(),
                    at.unwrap_or(fresh.len().min(old.len()))
                );
            }
        }
    });
    let _ = std::fs::remove_dir_all(&out);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// The `encap-*` captures: pcapng with both interfaces, one expectation per
/// frame in file order with the frame's time and port, a policy that the
/// expectations carry, blocks in time order, and the structural facts the
/// replay tests rely on.
#[test]
fn encap_captures_match_their_expectations() {
    let sizes = [
        ("encap-attacks", 480),
        ("encap-tunnels-drop", 8),
        ("encap-tunnels-pass", 12),
        ("encap-strict", 22),
        ("encap-syn-bucket", 75),
        ("encap-udp-trap", 10),
    ];
    for (name, frames) in sizes {
        let (r, pkts) = read(&format!("{name}.pcapng"));
        assert_eq!(r.format(), Format::PcapNg, "{name}");
        assert_eq!(r.interface_count(), 2, "{name}");
        assert_common(name, &pkts);
        let path = captures_dir().join(format!("{name}.expect.json"));
        let doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(doc["capture"], format!("{name}.pcapng"));
        assert!(
            doc["config"]
                .as_str()
                .is_some_and(|c| c.contains("[filter]")),
            "{name}: config"
        );
        let expect = doc["frames"].as_array().unwrap();
        assert_eq!((pkts.len(), expect.len()), (frames, frames), "{name}");
        for (i, (p, e)) in pkts.iter().zip(expect).enumerate() {
            let ctx = format!("{name} frame {}: {e}", i + 1);
            assert_eq!(e["frame"].as_u64(), Some(i as u64 + 1), "{ctx}");
            assert_eq!(e["ts_ns"].as_u64(), Some(p.ts_ns), "{ctx}");
            assert_eq!(
                e["dir"].as_str(),
                Some(["wan", "lan"][p.interface as usize]),
                "{ctx}"
            );
            match e["verdict"].as_str() {
                Some("forward") => assert!(e.get("reason").is_none(), "{ctx}"),
                Some("drop") => assert!(e["reason"].as_str().is_some(), "{ctx}"),
                other => panic!("{ctx}: verdict {other:?}"),
            }
            if let Some(also) = e.get("also") {
                assert_eq!(e["verdict"], "forward", "{ctx}");
                assert_eq!(also["verdict"], "drop", "{ctx}");
            }
            assert!(p.data.len() >= 60, "{ctx}: padded");
        }
    }
    // encap-attacks: its blocks in order, 2 s apart.
    let doc: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(captures_dir().join("encap-attacks.expect.json")).unwrap(),
    )
    .unwrap();
    let frames = doc["frames"].as_array().unwrap();
    let mut blocks: Vec<(&str, u64)> = Vec::new();
    for f in frames {
        let b = f["block"].as_str().unwrap();
        if blocks.last().map(|l| l.0) != Some(b) {
            blocks.push((b, f["ts_ns"].as_u64().unwrap()));
        }
    }
    let names: Vec<&str> = blocks.iter().map(|b| b.0).collect();
    assert_eq!(
        names,
        [
            "vlan",
            "pppoe",
            "mpls",
            "tunnel",
            "fragment",
            "fragment6",
            "ip-header",
            "icmp",
            "nd",
            "nd-rate",
            "syn-window",
            "syn-tuple",
            "trap-new",
            "oversize"
        ]
    );
    for (i, (_, ts)) in blocks.iter().enumerate() {
        assert_eq!(*ts, BASE_NS + 2_000 * MS * i as u64);
    }
    // Spot checks on raw bytes.
    let (_, pkts) = read("encap-attacks.pcapng");
    // Frame 3: three tags 0x9100, 0x88a8, 0x8100, then IPv4.
    let f = &pkts[2].data;
    assert_eq!(
        [&f[12..14], &f[16..18], &f[20..22], &f[24..26]],
        [[0x91, 0x00], [0x88, 0xa8], [0x81, 0x00], [0x08, 0x00]]
    );
    // A PPPoE session frame: ver/type 0x11, code 0, session 0x1234, and
    // the PPPoE length covers the PPP protocol and the IP packet.
    let s = pkts
        .iter()
        .find(|p| ethertype(p) == 0x8864 && p.data[20..22] == [0x00, 0x21])
        .expect("a PPPoE IPv4 frame");
    assert_eq!(s.data[14..18], [0x11, 0x00, 0x12, 0x34]);
    let len = u16::from_be_bytes([s.data[18], s.data[19]]) as usize;
    let ip_len = u16::from_be_bytes([s.data[24], s.data[25]]) as usize;
    assert_eq!(len, 2 + ip_len);
    // The jumbo frames are 9000 bytes.
    assert_eq!(pkts.iter().filter(|p| p.data.len() == 9000).count(), 3);
    // The SYN flood: 1500 SYNs from one source, 2 ms apart.
    let (r, flood) = read("syn-flood.pcap");
    assert_eq!(r.format(), Format::Pcap);
    assert_common("syn-flood", &flood);
    assert_eq!(flood.len(), 1500);
    assert!(flood.iter().all(|p| p.data[26..30] == [203, 0, 113, 250]));
    assert_eq!(flood[1499].ts_ns - flood[0].ts_ns, 1499 * 2 * MS);
}

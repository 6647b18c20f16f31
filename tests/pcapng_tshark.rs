//! Wireshark reads what `PcapNgWriter` writes: interfaces and their names,
//! nanosecond timestamps, frames and packet comments, as `tshark` sees them.
//!
//! Needs `tshark` on the PATH (Debian's `tshark`, installed by
//! `appliance/deps.sh`) and fails when it is missing: it never skips.
//! The comment field is `frame.comment` (checked with tshark 4.0).

use std::path::PathBuf;
use std::process::Command;

use flypaper::capture::PcapNgWriter;

/// An Ethernet header from `src_last` (last byte of a locally administered
/// source address) to broadcast, with `ethertype`, and a few bytes of payload.
fn frame(src_last: u8, ethertype: u16, payload_len: usize) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend([0x02, 0, 0, 0, 0, src_last]);
    f.extend(ethertype.to_be_bytes());
    f.extend((0..payload_len).map(|i| i as u8));
    f
}

fn tmp_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("flypaper-pcapng-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir.join(name)
}

/// `tshark -r file -T fields -e …`, one line per packet, fields split on tabs.
fn tshark_fields(file: &PathBuf, fields: &[&str]) -> Vec<Vec<String>> {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(file).args(["-T", "fields"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = match cmd.output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "tshark is not installed, and this test needs it (it does not skip): \
             install it with `DEBIAN_FRONTEND=noninteractive apt-get install -y tshark` \
             (appliance/deps.sh does)"
        ),
        Err(e) => panic!("cannot run tshark: {e}"),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "tshark failed ({}) on {}: {stderr}",
        out.status,
        file.display()
    );
    String::from_utf8(out.stdout)
        .expect("tshark prints UTF-8")
        .lines()
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect()
}

#[test]
fn tshark_reads_interfaces_timestamps_frames_and_comments() {
    let frames: Vec<(u32, u64, Vec<u8>, Option<&str>)> = vec![
        (
            0,
            1_700_000_000_123_456_789,
            frame(1, 0x0800, 46),
            Some("first on lan0"),
        ),
        (1, 1_700_000_000_123_456_790, frame(2, 0x0806, 28), None),
        (
            1,
            1_700_000_001_000_000_001,
            frame(3, 0x86dd, 100),
            Some("ünïcødé ✓ 三"),
        ),
        (
            0,
            1_700_000_002_999_999_999,
            frame(4, 0x88cc, 1500),
            Some(""),
        ),
        (0, 1_700_000_003_000_000_000, frame(5, 0x0800, 3), Some("x")),
    ];
    let path = tmp_file("two-interfaces.pcapng");
    let file = std::fs::File::create(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut w = PcapNgWriter::new(file, &["lan0", "wan0"]).unwrap();
    for (iface, ts, data, comment) in &frames {
        w.write(*iface, *ts, data, *comment).unwrap();
    }
    let written = w.bytes_written();
    w.finish().unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), written);

    let got = tshark_fields(
        &path,
        &[
            "frame.interface_id",
            "frame.interface_name",
            "frame.time_epoch",
            "frame.len",
            "frame.cap_len",
            "eth.src",
            "eth.type",
            "frame.comment",
        ],
    );
    let names = ["lan0", "wan0"];
    let want: Vec<Vec<String>> = frames
        .iter()
        .map(|(iface, ts, data, comment)| {
            vec![
                iface.to_string(),
                names[*iface as usize].to_string(),
                format!("{}.{:09}", ts / 1_000_000_000, ts % 1_000_000_000),
                data.len().to_string(),
                data.len().to_string(),
                format!("02:00:00:00:00:{:02x}", data[11]),
                format!("0x{:04x}", u16::from_be_bytes([data[12], data[13]])),
                comment.unwrap_or("").to_string(),
            ]
        })
        .collect();
    assert_eq!(got.len(), want.len(), "tshark saw {got:?}");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "packet {}", i + 1);
    }
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

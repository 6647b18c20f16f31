//! The stats file: every counter the program keeps, as JSON (serde).

use std::collections::BTreeMap;
use std::io;

use crate::dataplane::dropcap::DropCapCounts;
use crate::filter::{FlyEntry, Nanos, Reason, Stats};
use crate::sys::xdp;

/// One fly as the stats file lists it.
#[derive(serde::Serialize)]
struct FlyJson {
    /// Address, or prefix when the fly is more than one address.
    addr: String,
    reason: &'static str,
    /// "tcp", "udp", "icmp", "ip" or "operator".
    proto: &'static str,
    port: u16,
    class: &'static str,
    proven: bool,
    expires_in_s: u64,
}

/// Entries in use and capacity of each bounded table (the per-source
/// and flow tables summed over the workers; entries not yet reclaimed
/// count as in use).
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Tables {
    pub sources: (usize, usize),
    pub flows: (usize, usize),
    pub flies: (usize, usize),
}

/// The stats file: every counter the filter keeps, the RST queue, the
/// flies, and the XDP program's counters.
#[derive(serde::Serialize)]
struct StatsJson<'a> {
    frames_wan: u64,
    frames_lan: u64,
    bytes_wan: u64,
    bytes_lan: u64,
    forwarded: u64,
    delayed: u64,
    tx_errors: u64,
    kernel_drops: u64,
    drops: BTreeMap<&'static str, u64>,
    malformed: BTreeMap<&'static str, u64>,
    fragment_evictions: u64,
    source_evictions: u64,
    flow_evictions: u64,
    events_lost: u64,
    /// Events the control thread's queue had no room for.
    events_unsent: u64,
    flies_added: u64,
    flies_refused: u64,
    flies_evicted: u64,
    flies_proven: u64,
    synacks: u64,
    synacks_limited: u64,
    synacks_lost: u64,
    rst_queue: usize,
    /// Each bounded table: entries in use and capacity.
    tables: Tables,
    flies: usize,
    /// Addresses (or prefixes) of the flies.
    fly_list: Vec<String>,
    fly_detail: Vec<FlyJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    xdp: Option<&'a xdp::XdpCounters>,
    /// `--capture-drops`: frames written and skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    capture_drops: Option<&'a DropCapCounts>,
}

/// Everything the control thread knows, as the stats file's JSON.
pub fn stats_json(
    st: &Stats,
    (tx_errors, kernel_drops, rst_queue, events_unsent): (u64, u64, usize, u64),
    tables: Tables,
    flies: &[FlyEntry],
    now: Nanos,
    xdp: Option<&xdp::XdpCounters>,
    capture_drops: Option<&DropCapCounts>,
) -> String {
    let fly_detail = flies
        .iter()
        .map(|f| FlyJson {
            addr: f.target(),
            reason: if f.proto.is_none() {
                "operator"
            } else {
                f.reason.as_str()
            },
            proto: f.proto.map_or("operator", |p| match p {
                crate::filter::Proto::Tcp => "tcp",
                crate::filter::Proto::Udp => "udp",
                crate::filter::Proto::Icmp => "icmp",
                crate::filter::Proto::Other(_) => "ip",
            }),
            port: match f.proto {
                Some(crate::filter::Proto::Other(n)) => u16::from(n),
                _ => f.port,
            },
            class: f.class().as_str(),
            proven: f.proven,
            expires_in_s: f.expires.saturating_sub(now).as_secs(),
        })
        .collect();
    let j = StatsJson {
        frames_wan: st.frames_wan,
        frames_lan: st.frames_lan,
        bytes_wan: st.bytes_wan,
        bytes_lan: st.bytes_lan,
        forwarded: st.forwarded,
        delayed: st.delayed,
        tx_errors,
        kernel_drops,
        drops: Reason::ALL
            .iter()
            .map(|r| (r.as_str(), st.drop_count(*r)))
            .collect(),
        malformed: crate::wire::ParseError::ALL
            .iter()
            .map(|e| e.as_str())
            .zip(st.malformed)
            .collect(),
        fragment_evictions: st.fragment_evictions,
        source_evictions: st.source_evictions,
        flow_evictions: st.flow_evictions,
        events_lost: st.events_lost,
        events_unsent,
        flies_added: st.flies_added,
        flies_refused: st.flies_refused,
        flies_evicted: st.flies_evicted,
        flies_proven: st.flies_proven,
        synacks: st.synacks,
        synacks_limited: st.synacks_limited,
        synacks_lost: st.synacks_lost,
        rst_queue,
        tables,
        flies: flies.len(),
        fly_list: flies.iter().map(FlyEntry::target).collect(),
        fly_detail,
        xdp,
        capture_drops,
    };
    serde_json::to_string(&j).expect("the stats serialise")
}

pub fn write_atomically(path: &std::path::Path, text: &str) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn stats_json_has_every_reason_and_the_flies() {
        let mut st = Stats::default();
        st.drops[Reason::Trap as usize] = 3;
        st.forwarded = 7;
        st.malformed[crate::wire::ParseError::BadPppoe.index()] = 6;
        let fly = FlyEntry {
            addr: "198.51.100.66".parse().unwrap(),
            prefix: 32,
            reason: Reason::Trap,
            proto: Some(crate::filter::Proto::Tcp),
            port: 139,
            proven: true,
            first_seen: Nanos::ZERO,
            expires: Nanos::from_secs(100),
        };
        let tables = Tables {
            sources: (7, 64),
            flows: (9, 128),
            flies: (1, 256),
        };
        let j = stats_json(
            &st,
            (2, 5, 3, 4),
            tables,
            &[fly],
            Nanos::from_secs(40),
            None,
            None,
        );
        assert!(j.contains("\"kernel_drops\":5"));
        assert!(!j.contains("\"xdp\""));
        let x = xdp::XdpCounters {
            fly_drops: 9,
            tunnel: 4,
            ..Default::default()
        };
        let c = DropCapCounts {
            written: 4,
            skipped_queue: 1,
            ..Default::default()
        };
        let jx = stats_json(
            &st,
            (0, 0, 0, 0),
            Tables::default(),
            &[],
            Nanos::ZERO,
            Some(&x),
            Some(&c),
        );
        let vx: serde_json::Value = serde_json::from_str(&jx).expect("valid JSON");
        assert_eq!(
            (
                vx["xdp"]["fly_drops"].as_u64(),
                vx["xdp"]["tunnel"].as_u64()
            ),
            (Some(9), Some(4))
        );
        assert_eq!(vx["capture_drops"]["written"], 4);
        assert_eq!(vx["capture_drops"]["skipped_queue"], 1);
        assert!(!j.contains("capture_drops"));
        assert!(j.contains("\"forwarded\":7"));
        assert!(j.contains("\"trap\":3"));
        assert!(j.contains("\"tx_errors\":2"));
        assert!(j.contains("\"fly_list\":[\"198.51.100.66\"]"));
        for r in Reason::ALL {
            assert!(j.contains(&format!("\"{}\":", r.as_str())), "{r}");
        }
        assert!(j.starts_with('{') && j.ends_with('}'));
        let v: serde_json::Value = serde_json::from_str(&j).expect("valid JSON");
        assert_eq!(v["events_unsent"], 4);
        assert_eq!(v["tables"]["flows"], serde_json::json!([9, 128]));
        assert_eq!(v["tables"]["flies"], serde_json::json!([1, 256]));
        assert_eq!(v["drops"]["trap"], 3);
        assert_eq!(v["malformed"]["bad-pppoe"], 6);
        assert_eq!(v["malformed"]["truncated"], 0);
        assert_eq!(v["rst_queue"], 3);
        assert_eq!(v["fly_detail"][0]["class"], "proven");
        assert_eq!(v["fly_detail"][0]["proto"], "tcp");
        assert_eq!(v["fly_detail"][0]["expires_in_s"], 60);
        assert_eq!(
            v["malformed"].as_object().map(|o| o.len()),
            Some(crate::wire::ParseError::COUNT)
        );
    }
}

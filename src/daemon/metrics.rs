//! `run --metrics ADDR:PORT`: the counters in the Prometheus text format
//! (0.0.4), served over HTTP at `/metrics`.
//!
//! The encoding is `prometheus-client`'s: a [`Snapshot`] of the figures the
//! control thread sums (the workers' reports, the blacklist, the XDP
//! program's counters, the drop capture's) is a `Collector` of constant
//! metrics. The HTTP side is `tiny_http` on a thread of its own; for each
//! scrape it asks the control thread for the text over a channel (the
//! control thread owns the figures) and waits a bounded time for it.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam::channel;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::dataplane::dropcap::DropCapCounts;
use crate::dataplane::WorkerReport;
use crate::filter::{Class, Direction, Reason};
use crate::sys::xdp::XdpCounters;
use crate::wire::ParseError;

pub use prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Everything one scrape shows.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// The workers' reports, summed.
    pub totals: WorkerReport,
    /// Flies now, by class ([`Class::ALL`] order).
    pub flies: [u64; 3],
    pub blacklist_capacity: usize,
    pub xdp: Option<XdpCounters>,
    pub capture: Option<DropCapCounts>,
}

const PORTS: [Direction; 2] = [Direction::Wan, Direction::Lan];

/// A metric without labels: name, help, type, value.
type Plain = (&'static str, &'static str, MetricType, u64);

/// A metric with one label: name, help, type, the label's name, and the
/// label's values with theirs.
type Labelled = (
    &'static str,
    &'static str,
    MetricType,
    &'static str,
    Vec<(&'static str, u64)>,
);

/// One metric with a value per label set.
fn family<L: EncodeLabelSet>(
    e: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    rows: impl IntoIterator<Item = (L, u64)>,
) -> fmt::Result {
    let mut m = e.encode_descriptor(name, help, None, kind)?;
    for (labels, v) in rows {
        encode_value(m.encode_family(&labels)?, kind, v)?;
    }
    Ok(())
}

fn encode_value(m: MetricEncoder, kind: MetricType, v: u64) -> fmt::Result {
    match kind {
        MetricType::Counter => ConstCounter::new(v).encode(m),
        _ => ConstGauge::new(v).encode(m),
    }
}

impl Snapshot {
    fn plain(&self) -> Vec<Plain> {
        use MetricType::{Counter, Gauge};
        let t = &self.totals;
        let st = &t.stats;
        let mut v: Vec<Plain> = vec![
            ("forwarded", "Frames forwarded.", Counter, st.forwarded),
            (
                "delayed",
                "RSTs accepted and held for tcp.rst_delay_ms.",
                Counter,
                st.delayed,
            ),
            (
                "tx_errors",
                "Frames that could not be transmitted.",
                Counter,
                t.tx_errors,
            ),
            (
                "kernel_drops",
                "Frames the kernel dropped before a worker read them.",
                Counter,
                t.kernel_drops,
            ),
            ("flies_added", "New flies.", Counter, st.flies_added),
            (
                "flies_refused",
                "Flies refused: the blacklist was full.",
                Counter,
                st.flies_refused,
            ),
            (
                "flies_proven",
                "Flies that proved their address with a SYN cookie.",
                Counter,
                st.flies_proven,
            ),
            (
                "events_lost",
                "Events (new flies, suspects) a worker's per-batch queue had no room for.",
                Counter,
                st.events_lost,
            ),
            (
                "events_unsent",
                "Events the control thread's queue had no room for (the fly store reconciles the XDP map).",
                Counter,
                t.events_unsent,
            ),
            (
                "blacklist_entries",
                "Flies in the blacklist.",
                Gauge,
                self.flies.iter().sum(),
            ),
            (
                "blacklist_capacity",
                "The blacklist's capacity (tables.flies).",
                Gauge,
                self.blacklist_capacity as u64,
            ),
            (
                "rst_queue",
                "RSTs held in the delay queue.",
                Gauge,
                t.rst_queue as u64,
            ),
        ];
        if let Some(c) = &self.capture {
            v.push((
                "capture_drops_written",
                "Dropped frames written to the --capture-drops file.",
                Counter,
                c.written,
            ));
            v.push((
                "capture_drops_bytes",
                "The --capture-drops file's size.",
                Gauge,
                c.bytes,
            ));
        }
        v
    }

    fn labelled(&self) -> Vec<Labelled> {
        use MetricType::{Counter, Gauge};
        let t = &self.totals;
        let st = &t.stats;
        let mut v: Vec<Labelled> = vec![
            (
                "frames",
                "Frames that entered the appliance, by the port they came in on.",
                Counter,
                "port",
                vec![("wan", st.frames_wan), ("lan", st.frames_lan)],
            ),
            (
                "bytes",
                "Bytes of the frames that entered the appliance, by port.",
                Counter,
                "port",
                vec![("wan", st.bytes_wan), ("lan", st.bytes_lan)],
            ),
            (
                "malformed",
                "Malformed frames, by what was wrong.",
                Counter,
                "kind",
                ParseError::ALL
                    .iter()
                    .map(|k| k.as_str())
                    .zip(st.malformed)
                    .collect(),
            ),
            (
                "evictions",
                "Live entries evicted from a full table by new ones.",
                Counter,
                "table",
                vec![
                    ("sources", st.source_evictions),
                    ("flows", st.flow_evictions),
                    ("fragments", st.fragment_evictions),
                    ("flies", st.flies_evicted),
                ],
            ),
            (
                "synacks",
                "SYN-ACK cookies: queued for sending, limited, lost.",
                Counter,
                "outcome",
                vec![
                    ("queued", st.synacks),
                    ("limited", st.synacks_limited),
                    ("lost", st.synacks_lost),
                ],
            ),
            (
                "table_entries",
                "Entries in use in the per-source and flow tables, summed over workers (expired entries count until reclaimed).",
                Gauge,
                "table",
                vec![("sources", t.sources.0 as u64), ("flows", t.flows.0 as u64)],
            ),
            (
                "table_capacity",
                "Capacity of the per-source and flow tables, summed over workers.",
                Gauge,
                "table",
                vec![("sources", t.sources.1 as u64), ("flows", t.flows.1 as u64)],
            ),
            (
                "flies",
                "Flies now, by class: unproven, proven (returned a SYN cookie), operator (blocked by the operator).",
                Gauge,
                "class",
                Class::ALL.iter().map(|c| c.as_str()).zip(self.flies).collect(),
            ),
        ];
        if let Some(x) = &self.xdp {
            v.push((
                "xdp_frames",
                "Frames the XDP program saw, by what it did with them.",
                Counter,
                "action",
                vec![
                    ("redirected", x.redirected),
                    ("fly_drop", x.fly_drops),
                    ("no_socket", x.no_socket),
                    ("no_port", x.no_port),
                ],
            ));
            v.push((
                "xdp_seen",
                "What the XDP program found in the frames it parsed.",
                Counter,
                "kind",
                vec![
                    ("ipv4", x.ipv4),
                    ("ipv6", x.ipv6),
                    ("non_ip", x.non_ip),
                    ("malformed", x.malformed),
                    ("fly_expired", x.fly_expired),
                    ("pppoe", x.pppoe),
                    ("mpls", x.mpls),
                    ("tunnel", x.tunnel),
                ],
            ));
        }
        if let Some(c) = &self.capture {
            v.push((
                "capture_drops_skipped",
                "Dropped frames not written to the --capture-drops file, by why: over the rate, the file full, the writer's queue full.",
                Counter,
                "why",
                vec![
                    ("rate", c.skipped_rate),
                    ("size", c.skipped_size),
                    ("queue", c.skipped_queue),
                ],
            ));
        }
        v
    }
}

impl Collector for Snapshot {
    fn encode(&self, mut e: DescriptorEncoder) -> fmt::Result {
        let st = &self.totals.stats;
        // Drops: by reason and by the port the frame came in on.
        let drops = Reason::ALL.iter().flat_map(|&r| {
            PORTS.map(|p| {
                (
                    [("reason", r.as_str()), ("port", p.as_str())],
                    st.drop_count_from(p, r),
                )
            })
        });
        family(
            &mut e,
            "drops",
            "Frames the filter dropped (in monitor mode: would have dropped), by reason and by the port they came in on.",
            MetricType::Counter,
            drops,
        )?;
        for (name, help, kind, key, rows) in self.labelled() {
            let rows = rows.into_iter().map(|(v, n)| ([(key, v)], n));
            family(&mut e, name, help, kind, rows)?;
        }
        for (name, help, kind, v) in self.plain() {
            encode_value(e.encode_descriptor(name, help, None, kind)?, kind, v)?;
        }
        Ok(())
    }
}

/// The snapshot in the Prometheus text format, every name prefixed with
/// `flypaper_`.
pub fn encode(s: &Snapshot) -> String {
    let mut reg = Registry::with_prefix("flypaper");
    reg.register_collector(Box::new(s.clone()));
    let mut out = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut out, &reg)
        .expect("writing to a String cannot fail");
    out
}

/// A scrape: the channel the control thread answers on.
pub type Scrape = channel::Sender<String>;

/// How long a scrape waits for the control thread.
const ANSWER: Duration = Duration::from_secs(2);

/// The HTTP server's thread; stopped when dropped.
pub struct Server {
    http: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Listen on `addr`; each `GET /metrics` sends a [`Scrape`] to
    /// `scrapes` and serves the answer.
    pub fn start(addr: SocketAddr, scrapes: channel::Sender<Scrape>) -> io::Result<Server> {
        let http = Arc::new(
            tiny_http::Server::http(addr)
                .map_err(|e| io::Error::other(format!("--metrics {addr}: {e}")))?,
        );
        let h = Arc::clone(&http);
        let thread = std::thread::Builder::new()
            .name("flypaper-metrics".into())
            .spawn(move || {
                for rq in h.incoming_requests() {
                    let _ = respond(rq, &scrapes);
                }
            })?;
        Ok(Server {
            http,
            thread: Some(thread),
        })
    }

    /// Where it listens (the port the kernel picked for port 0).
    pub fn addr(&self) -> Option<SocketAddr> {
        self.http.server_addr().to_ip()
    }
}

fn respond(rq: tiny_http::Request, scrapes: &channel::Sender<Scrape>) -> io::Result<()> {
    let path = rq.url().split('?').next().unwrap_or("");
    let get = matches!(
        rq.method(),
        tiny_http::Method::Get | tiny_http::Method::Head
    );
    if path != "/metrics" {
        return rq.respond(
            tiny_http::Response::from_string("not found; try /metrics\n").with_status_code(404),
        );
    }
    if !get {
        return rq.respond(tiny_http::Response::from_string("GET only\n").with_status_code(405));
    }
    let (tx, rx) = channel::bounded(1);
    let text = scrapes
        .send_timeout(tx, ANSWER)
        .ok()
        .and_then(|()| rx.recv_timeout(ANSWER).ok());
    match text {
        Some(t) => {
            let ct = tiny_http::Header::from_bytes("Content-Type", CONTENT_TYPE)
                .expect("a valid header");
            rq.respond(tiny_http::Response::from_string(t).with_header(ct))
        }
        None => rq.respond(
            tiny_http::Response::from_string("the control thread did not answer\n")
                .with_status_code(503),
        ),
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.http.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn sample() -> Snapshot {
        let mut s = Snapshot::default();
        let st = &mut s.totals.stats;
        st.frames_wan = 10;
        st.frames_lan = 4;
        st.forwarded = 9;
        st.drops[Reason::Trap as usize] = 3;
        st.drops[Reason::Spoofed as usize] = 2;
        st.drops_lan[Reason::Spoofed as usize] = 2;
        st.malformed[ParseError::BadPppoe.index()] = 6;
        st.synacks = 1;
        s.totals.rst_queue = 5;
        s.totals.sources = (7, 1024);
        s.totals.flows = (8, 4096);
        s.flies = [2, 1, 0];
        s.blacklist_capacity = 64;
        s
    }

    /// The value of the sample line that starts with `series ` (name and labels).
    fn value(text: &str, series: &str) -> Option<String> {
        text.lines().find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')
                .map(str::to_string)
        })
    }

    #[test]
    fn counters_by_reason_and_port_and_the_gauges() {
        let t = encode(&sample());
        let v = |s: &str| value(&t, s).unwrap_or_else(|| panic!("no `{s}` in\n{t}"));
        assert_eq!(v(r#"flypaper_drops_total{reason="trap",port="wan"}"#), "3");
        assert_eq!(v(r#"flypaper_drops_total{reason="trap",port="lan"}"#), "0");
        assert_eq!(
            v(r#"flypaper_drops_total{reason="spoofed",port="lan"}"#),
            "2"
        );
        assert_eq!(
            v(r#"flypaper_drops_total{reason="spoofed",port="wan"}"#),
            "0"
        );
        assert_eq!(v(r#"flypaper_frames_total{port="wan"}"#), "10");
        assert_eq!(v(r#"flypaper_frames_total{port="lan"}"#), "4");
        assert_eq!(v("flypaper_forwarded_total"), "9");
        assert_eq!(v(r#"flypaper_malformed_total{kind="bad-pppoe"}"#), "6");
        assert_eq!(v(r#"flypaper_synacks_total{outcome="queued"}"#), "1");
        assert_eq!(v("flypaper_rst_queue"), "5");
        assert_eq!(v(r#"flypaper_table_entries{table="flows"}"#), "8");
        assert_eq!(v(r#"flypaper_table_capacity{table="sources"}"#), "1024");
        assert_eq!(v("flypaper_blacklist_entries"), "3");
        assert_eq!(v("flypaper_blacklist_capacity"), "64");
        assert_eq!(v(r#"flypaper_flies{class="unproven"}"#), "2");
        assert_eq!(v(r#"flypaper_flies{class="proven"}"#), "1");
        assert_eq!(v(r#"flypaper_flies{class="operator"}"#), "0");
        // Every reason, from both ports.
        let drops = t
            .lines()
            .filter(|l| l.starts_with("flypaper_drops_total{"))
            .count();
        assert_eq!(drops, 2 * Reason::COUNT);
        // Types and help, as Prometheus reads them.
        assert!(t.contains("# TYPE flypaper_drops_total counter\n"), "{t}");
        assert!(t.contains("# TYPE flypaper_rst_queue gauge\n"), "{t}");
        assert!(t.contains("# HELP flypaper_drops_total Frames the filter dropped"));
        // No XDP or capture figures unless there are some.
        assert!(!t.contains("xdp") && !t.contains("capture"));
        // The 0.0.4 text format has no OpenMetrics end marker.
        assert!(!t.contains("# EOF"));
    }

    #[test]
    fn xdp_and_capture_figures_when_present() {
        let mut s = sample();
        s.xdp = Some(XdpCounters {
            fly_drops: 9,
            tunnel: 4,
            ..Default::default()
        });
        s.capture = Some(DropCapCounts {
            written: 3,
            bytes: 500,
            skipped_rate: 7,
            skipped_size: 1,
            skipped_queue: 2,
        });
        let t = encode(&s);
        let v = |s: &str| value(&t, s).unwrap_or_else(|| panic!("no `{s}` in\n{t}"));
        assert_eq!(v(r#"flypaper_xdp_frames_total{action="fly_drop"}"#), "9");
        assert_eq!(v(r#"flypaper_xdp_seen_total{kind="tunnel"}"#), "4");
        assert_eq!(v("flypaper_capture_drops_written_total"), "3");
        assert_eq!(
            v(r#"flypaper_capture_drops_skipped_total{why="rate"}"#),
            "7"
        );
        assert_eq!(
            v(r#"flypaper_capture_drops_skipped_total{why="queue"}"#),
            "2"
        );
        assert_eq!(v("flypaper_capture_drops_bytes"), "500");
    }

    #[test]
    fn served_over_http_with_the_control_threads_answer() {
        let (tx, rx) = channel::bounded::<Scrape>(4);
        let server = Server::start("127.0.0.1:0".parse().unwrap(), tx).unwrap();
        let addr = server.addr().unwrap();
        let answer = std::thread::spawn(move || {
            let reply = rx.recv().unwrap();
            reply.send(encode(&sample())).unwrap();
            rx
        });
        let get = |path: &str| -> String {
            use std::io::{Read, Write};
            let mut c = std::net::TcpStream::connect(addr).unwrap();
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            write!(c, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
            let mut s = String::new();
            c.read_to_string(&mut s).unwrap();
            s
        };
        let r = get("/metrics");
        assert!(
            r.starts_with("HTTP/1.0 200") || r.starts_with("HTTP/1.1 200"),
            "{r}"
        );
        assert!(r.contains(CONTENT_TYPE), "{r}");
        assert!(r.contains(r#"flypaper_drops_total{reason="trap",port="wan"} 3"#));
        let _rx = answer.join().unwrap();
        let r = get("/other");
        assert!(r.contains(" 404 "), "{r}");
        drop(server);
    }
}

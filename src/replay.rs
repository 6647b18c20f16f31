//! Offline replay: a capture through the filter, the capture's timestamps
//! as the clock.
//!
//! This is the third backend of the data path: instead of rings, frames
//! come from a pcap or pcapng file. It lets an operator test a policy
//! against a capture before deploying it, and it makes every rule testable
//! deterministically. Frames with the `Delay` verdict go through the same
//! bounded timer wheel as in the data path and are written to `--pass` at
//! their release time. `--pass` is pcapng with two interfaces, `wan` (0)
//! and `lan` (1): each frame is written on the port it leaves by (a
//! forwarded frame by the other port; a SYN-ACK the filter answers a trap
//! SYN with, by the port the SYN came in on).
//!
//! In monitor mode (`filter.mode = "monitor"`) the verdicts are the same,
//! but `--pass` holds every frame, at its arrival (what the data path
//! forwards then), and no SYN-ACK.

use std::fmt;
use std::io::{self, BufWriter, Read, Write};

use hashbrown::HashMap;

use crate::capture::{self, PcapNgWriter, Reader};
use crate::dataplane::driver::{Driver, Sink};
use crate::filter::blacklist::trigger;
use crate::filter::{Event, Filter, FlyEntry, Nanos, Policy, Reason, Stats, Verdict};
use crate::Direction;

/// The seed replay uses unless told otherwise: replays are reproducible.
pub const DEFAULT_SEED: u64 = 0x666c_7970_6170_6572;

pub struct Options {
    /// Direction of every frame; `None`: pcapng interface 0 = WAN,
    /// 1 = LAN; classic pcap = WAN.
    pub from: Option<Direction>,
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            from: None,
            seed: DEFAULT_SEED,
        }
    }
}

/// What happened to one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameVerdict {
    /// 1-based frame number in the capture.
    pub frame: u64,
    pub dir: Direction,
    pub verdict: Verdict,
}

impl FrameVerdict {
    /// One JSON object: `{"frame":N,"dir":"wan","verdict":"drop","reason":"trap"}`;
    /// `reason` only for drops, `until_ns` only for delays.
    pub fn to_json(&self) -> String {
        #[derive(serde::Serialize)]
        struct Line {
            frame: u64,
            dir: &'static str,
            verdict: &'static str,
            #[serde(skip_serializing_if = "Option::is_none")]
            reason: Option<&'static str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            until_ns: Option<u64>,
        }
        let (reason, until_ns) = match self.verdict {
            Verdict::Drop(r) => (Some(r.as_str()), None),
            Verdict::Delay(t) => (None, Some(t.0)),
            Verdict::Forward => (None, None),
        };
        serde_json::to_string(&Line {
            frame: self.frame,
            dir: self.dir.as_str(),
            verdict: self.verdict.as_str(),
            reason,
            until_ns,
        })
        .expect("a verdict line serialises")
    }
}

#[derive(Debug)]
pub enum ReplayError {
    Capture(capture::CaptureError),
    Io(io::Error),
    /// The capture is not Ethernet, or names an interface other than 0 and 1.
    Unsupported(String),
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::Capture(e) => write!(f, "capture: {e}"),
            ReplayError::Io(e) => write!(f, "{e}"),
            ReplayError::Unsupported(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ReplayError {}

impl From<io::Error> for ReplayError {
    fn from(e: io::Error) -> Self {
        ReplayError::Io(e)
    }
}

impl From<capture::CaptureError> for ReplayError {
    fn from(e: capture::CaptureError) -> Self {
        ReplayError::Capture(e)
    }
}

/// The outcome of a replay.
pub struct Report {
    pub frames: u64,
    pub stats: Stats,
    /// Frames per verdict: forward, delay, drop per reason.
    pub by_verdict: Vec<(String, u64)>,
    /// Lock-out lines in the order the flies were made.
    pub lockouts: Vec<String>,
    /// The flies at the end of the capture.
    pub flies: Vec<FlyEntry>,
    /// The time of the last frame.
    pub end: Nanos,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} frames ({} from wan, {} from lan)",
            self.frames, self.stats.frames_wan, self.stats.frames_lan
        )?;
        writeln!(f)?;
        writeln!(f, "{:<28} {:>10}", "verdict", "frames")?;
        for (k, n) in &self.by_verdict {
            writeln!(f, "{k:<28} {n:>10}")?;
        }
        if self.stats.malformed.iter().any(|n| *n > 0) {
            writeln!(f)?;
            writeln!(f, "{:<28} {:>10}", "malformed by kind", "frames")?;
            for (e, n) in crate::wire::ParseError::ALL
                .iter()
                .zip(self.stats.malformed)
            {
                if n > 0 {
                    writeln!(f, "{:<28} {n:>10}", e.as_str())?;
                }
            }
        }
        writeln!(f)?;
        if !self.lockouts.is_empty() {
            writeln!(f, "log:")?;
            for l in &self.lockouts {
                writeln!(f, "  {l}")?;
            }
            writeln!(f)?;
        }
        if self.flies.is_empty() {
            writeln!(f, "no flies")?;
        } else {
            writeln!(f, "{} flies at the end:", self.flies.len())?;
            writeln!(
                f,
                "  {:<28} {:<12} {:<12} {:<9} {:>10}",
                "address", "reason", "tried", "class", "left (s)"
            )?;
            for e in &self.flies {
                let tried = match e.proto {
                    None => "-".to_string(),
                    Some(crate::filter::Proto::Other(n)) => format!("ip/{n}"),
                    Some(p) => format!("{}/{}", p.as_str(), e.port),
                };
                writeln!(
                    f,
                    "  {:<28} {:<12} {:<12} {:<9} {:>10}",
                    e.target(),
                    e.reason.as_str(),
                    tried,
                    e.class().as_str(),
                    e.expires.saturating_sub(self.end).as_secs()
                )?;
            }
        }
        if self.stats.flies_refused > 0 {
            writeln!(
                f,
                "{} flies refused: blacklist full",
                self.stats.flies_refused
            )?;
        }
        Ok(())
    }
}

/// Replay `input` through a filter built from `policy`. Each frame's
/// verdict goes to `on_verdict`; frames that pass are written, at the time
/// they leave the appliance, to `pass` if given.
pub fn replay<R: Read, W: Write>(
    input: R,
    policy: Policy,
    opts: &Options,
    pass: Option<W>,
    mut on_verdict: impl FnMut(&FrameVerdict) -> io::Result<()>,
) -> Result<Report, ReplayError> {
    let mut reader = Reader::new(input)?;
    // The data path's driver; replay has no UMEM, so a held frame is a
    // copy of its bytes, and the queue is as bounded (in frames).
    let mut driver: Driver<Vec<u8>> = Driver::new(Filter::standalone(policy, opts.seed));
    let mut sink = PassSink {
        pass: match pass {
            Some(w) => Some(PcapNgWriter::new(BufWriter::new(w), &["wan", "lan"])?),
            None => None,
        },
        error: None,
        dropped: None,
    };
    let mut by_verdict: HashMap<String, u64> = HashMap::new();
    let mut lockouts = Vec::new();
    let mut frame_no = 0u64;
    let mut now = Nanos::ZERO;

    while let Some(pkt) = reader.next_packet()? {
        frame_no += 1;
        if pkt.link_type != capture::LINKTYPE_ETHERNET {
            return Err(ReplayError::Unsupported(format!(
                "frame {frame_no}: interface {} has link type {}; only Ethernet (1) can be replayed",
                pkt.interface, pkt.link_type
            )));
        }
        let dir = match (opts.from, pkt.interface) {
            (Some(d), _) => d,
            (None, 0) => Direction::Wan,
            (None, 1) => Direction::Lan,
            (None, i) => {
                return Err(ReplayError::Unsupported(format!(
                    "frame {frame_no}: interface {i}: pcapng interface 0 is the WAN and 1 the LAN; use --from to replay other captures"
                )))
            }
        };
        now = Nanos(pkt.ts_ns);
        driver.release(now, &mut sink);
        let mut verdict = driver.classify(now, dir, &[pkt.data])[0];
        sink.dropped = None;
        driver.dispatch(now, dir, [pkt.data.to_vec()], &mut sink);
        if let (Verdict::Delay(_), Some(r)) = (verdict, sink.dropped) {
            // The queue could not hold it after all (the driver counted it).
            verdict = Verdict::Drop(r);
        }
        if let Some(e) = sink.error.take() {
            return Err(e.into());
        }
        let key = match verdict {
            Verdict::Drop(r) => format!("drop {}", r.as_str()),
            v => v.as_str().to_string(),
        };
        *by_verdict.entry(key).or_insert(0) += 1;
        for e in driver.filter_mut().drain_events() {
            match e {
                Event::Lockout(e) => lockouts.push(e.lockout_line()),
                Event::Evicted(_) => {}
                Event::Suspect { addr, proto, port } => lockouts.push(format!(
                    "suspect {addr}, who tried {}: vouched for, not locked out",
                    trigger(Some(proto), port)
                )),
            }
        }
        on_verdict(&FrameVerdict {
            frame: frame_no,
            dir,
            verdict,
        })?;
    }
    // Frames still held are released at their deadlines.
    driver.finish(&mut sink);
    if let Some(e) = sink.error.take() {
        return Err(e.into());
    }
    if let Some(p) = sink.pass {
        p.finish()?.flush()?;
    }

    let mut by_verdict: Vec<(String, u64)> = by_verdict.into_iter().collect();
    by_verdict.sort_by(|a, b| {
        verdict_order(&a.0)
            .cmp(&verdict_order(&b.0))
            .then(a.0.cmp(&b.0))
    });
    let mut flies = driver.filter().blacklist().list(now);
    flies.sort_by_key(|e| (e.first_seen, e.addr));
    Ok(Report {
        frames: frame_no,
        stats: driver.filter().stats(),
        by_verdict,
        lockouts,
        flies,
        end: now,
    })
}

fn verdict_order(k: &str) -> u8 {
    match k {
        "forward" => 0,
        "delay" => 1,
        _ => 2,
    }
}

/// `--pass` as the driver's sink: every frame that leaves the appliance,
/// at the time it leaves, on the port it leaves by (pcapng interface 0 the
/// WAN, 1 the LAN).
struct PassSink<W: Write> {
    pass: Option<PcapNgWriter<BufWriter<W>>>,
    /// The first write error (the sink cannot return one).
    error: Option<io::Error>,
    /// The reason the last frame was dropped by the driver, if it was.
    dropped: Option<Reason>,
}

impl<W: Write> PassSink<W> {
    fn write(&mut self, port: usize, at: Nanos, bytes: &[u8]) {
        if let (Some(p), None) = (self.pass.as_mut(), &self.error) {
            if let Err(e) = p.write(port as u32, at.0, bytes, None) {
                self.error = Some(e);
            }
        }
    }
}

impl<W: Write> Sink<Vec<u8>> for PassSink<W> {
    fn forward(&mut self, port: usize, at: Nanos, frame: Vec<u8>) {
        self.write(port, at, &frame);
    }

    fn drop(&mut self, _frame: Vec<u8>, reason: Reason) {
        self.dropped = Some(reason);
    }

    fn send(&mut self, port: usize, at: Nanos, bytes: &[u8]) {
        self.write(port, at, bytes);
    }
}

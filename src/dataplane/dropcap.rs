//! `run --capture-drops FILE.pcapng`: the frames the filter drops, written
//! with their reason as each packet's comment (`opt_comment`), on interface
//! `wan` or `lan`: the port the frame came in on.
//!
//! A flood of dropped frames must neither slow the workers nor fill the
//! disk. So a worker never writes: its [`DropTap`] takes a token from a
//! bucket all workers share (`--capture-drops-rate` frames per second, a
//! second's worth of burst), copies the frame and hands it to a bounded
//! channel with `try_send`; what does not fit is counted, not waited for.
//! One writer thread writes the file, and stops writing (for good) before a
//! frame would take it past `--capture-drops-max` bytes; the workers see
//! that and stop copying. Frames skipped for each of the three reasons
//! (rate, size, queue full) are counted and shown in the stats.
//!
//! Frames dropped before the filter saw them are not in the file: the XDP
//! program's fly drops (in the kernel) and `oversize` frames (never read
//! whole). In monitor mode (`filter.mode`) the file holds the frames that
//! would have been dropped: they were forwarded.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::SystemTime;

use crossbeam::channel;

use crate::capture::PcapNgWriter;
use crate::filter::bucket::SharedBucket;
use crate::filter::policy::Limit;
use crate::filter::{Nanos, Reason};

/// Frames that may wait for the writer.
const QUEUE: usize = 1024;

/// Where and how much.
#[derive(Clone, Debug)]
pub struct DropCapConfig {
    pub path: PathBuf,
    /// Frames per second written at most (1 ..= 1,000,000).
    pub rate: u32,
    /// The file's size at most, in bytes (headers included).
    pub max_bytes: u64,
}

/// What the capture did, as the stats show it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DropCapCounts {
    /// Frames written to the file.
    pub written: u64,
    /// The file's size.
    pub bytes: u64,
    /// Frames skipped: over `--capture-drops-rate`.
    pub skipped_rate: u64,
    /// Frames skipped: the file reached `--capture-drops-max` (or could
    /// not be written).
    pub skipped_size: u64,
    /// Frames skipped: the writer's queue was full.
    pub skipped_queue: u64,
}

/// One dropped frame on its way to the writer.
struct Dropped {
    port: u8,
    at: Nanos,
    reason: Reason,
    data: Vec<u8>,
}

/// What the taps and the writer share.
struct Common {
    limit: Limit,
    bucket: SharedBucket,
    /// The file takes no more frames.
    full: AtomicBool,
    written: AtomicU64,
    bytes: AtomicU64,
    /// Frames the writer skipped because the file was full.
    skipped_size: AtomicU64,
}

/// One tap's skip counters, written by its worker only.
#[derive(Default)]
struct TapCounts {
    rate: AtomicU64,
    size: AtomicU64,
    queue: AtomicU64,
}

/// A worker's end: hands dropped frames to the writer without blocking.
pub struct DropTap {
    tx: channel::Sender<Dropped>,
    common: Arc<Common>,
    counts: Arc<TapCounts>,
}

/// One writer of a counter: a load and a store, no locked instruction.
fn bump(c: &AtomicU64) {
    c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

impl DropTap {
    /// A frame that entered from `port` (0 WAN, 1 LAN) at `now` was
    /// dropped for `reason`: queue a copy for the file, or count why not.
    pub fn offer(&self, port: usize, now: Nanos, reason: Reason, data: &[u8]) {
        let c = &self.common;
        if c.full.load(Ordering::Relaxed) {
            return bump(&self.counts.size);
        }
        if !c.bucket.take(&c.limit, now) {
            return bump(&self.counts.rate);
        }
        let d = Dropped {
            port: port as u8,
            at: now,
            reason,
            data: data.to_vec(),
        };
        if self.tx.try_send(d).is_err() {
            bump(&self.counts.queue);
        }
    }
}

/// The writer thread and the counters.
pub struct DropCapture {
    path: PathBuf,
    common: Arc<Common>,
    taps: Vec<Arc<TapCounts>>,
    writer: Option<JoinHandle<io::Result<()>>>,
}

impl DropCapture {
    /// Create the file (its header written at once, so a bad path fails
    /// here) and start the writer; one tap per worker. The writer ends
    /// when every tap is dropped.
    pub fn start(cfg: &DropCapConfig, workers: usize) -> io::Result<(DropCapture, Vec<DropTap>)> {
        let limit = Limit::new(cfg.rate, 1, cfg.rate).ok_or_else(|| {
            io::Error::other(format!(
                "--capture-drops-rate {}: not a usable rate",
                cfg.rate
            ))
        })?;
        let file = File::create(&cfg.path).map_err(|e| with_path(&cfg.path, e))?;
        let mut w = PcapNgWriter::new(BufWriter::new(file), &["wan", "lan"])?;
        w.flush().map_err(|e| with_path(&cfg.path, e))?;
        let common = Arc::new(Common {
            limit,
            bucket: SharedBucket::default(),
            full: AtomicBool::new(w.bytes_written() >= cfg.max_bytes),
            written: AtomicU64::new(0),
            bytes: AtomicU64::new(w.bytes_written()),
            skipped_size: AtomicU64::new(0),
        });
        let (tx, rx) = channel::bounded::<Dropped>(QUEUE);
        let mut taps = Vec::new();
        let mut counts = Vec::new();
        for _ in 0..workers.max(1) {
            let c = Arc::new(TapCounts::default());
            counts.push(Arc::clone(&c));
            taps.push(DropTap {
                tx: tx.clone(),
                common: Arc::clone(&common),
                counts: c,
            });
        }
        drop(tx);
        let clock = Clock::now();
        let (c, max, path) = (Arc::clone(&common), cfg.max_bytes, cfg.path.clone());
        let writer = std::thread::Builder::new()
            .name("flypaper-capture-drops".into())
            .spawn(move || write_loop(rx, w, &c, max, clock, &path))?;
        Ok((
            DropCapture {
                path: cfg.path.clone(),
                common,
                taps: counts,
                writer: Some(writer),
            },
            taps,
        ))
    }

    /// The counters now.
    pub fn counts(&self) -> DropCapCounts {
        let c = &self.common;
        let sum = |f: fn(&TapCounts) -> &AtomicU64| -> u64 {
            self.taps.iter().map(|t| f(t).load(Ordering::Relaxed)).sum()
        };
        DropCapCounts {
            written: c.written.load(Ordering::Relaxed),
            bytes: c.bytes.load(Ordering::Relaxed),
            skipped_rate: sum(|t| &t.rate),
            skipped_size: sum(|t| &t.size) + c.skipped_size.load(Ordering::Relaxed),
            skipped_queue: sum(|t| &t.queue),
        }
    }

    /// Wait for the writer to write what is queued and close the file
    /// (call it once the taps are dropped: the workers have ended).
    pub fn finish(&mut self) -> io::Result<DropCapCounts> {
        if let Some(w) = self.writer.take() {
            w.join()
                .map_err(|_| io::Error::other("the capture-drops writer panicked"))?
                .map_err(|e| with_path(&self.path, e))?;
        }
        Ok(self.counts())
    }
}

fn with_path(p: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", p.display()))
}

/// Turns the workers' monotonic clock into the wall clock of pcapng.
#[derive(Clone, Copy)]
struct Clock {
    mono: u64,
    wall: u64,
}

impl Clock {
    fn now() -> Clock {
        let wall = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Clock {
            mono: crate::sys::monotonic_ns(),
            wall,
        }
    }

    fn wall_ns(&self, at: Nanos) -> u64 {
        if at.0 >= self.mono {
            self.wall.saturating_add(at.0 - self.mono)
        } else {
            self.wall.saturating_sub(self.mono - at.0)
        }
    }
}

fn write_loop<W: io::Write>(
    rx: channel::Receiver<Dropped>,
    mut w: PcapNgWriter<W>,
    c: &Common,
    max: u64,
    clock: Clock,
    path: &Path,
) -> io::Result<()> {
    while let Ok(d) = rx.recv() {
        let comment = d.reason.as_str();
        let need = PcapNgWriter::<W>::packet_block_len(d.data.len(), Some(comment.len()));
        if c.full.load(Ordering::Relaxed) || w.bytes_written() + need > max {
            if !c.full.swap(true, Ordering::Relaxed) {
                println!(
                    "capture-drops: {} reached {} bytes (--capture-drops-max); no more frames written",
                    path.display(),
                    w.bytes_written()
                );
            }
            c.skipped_size.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let written = w
            .write(
                u32::from(d.port),
                clock.wall_ns(d.at),
                &d.data,
                Some(comment),
            )
            .and_then(|()| if rx.is_empty() { w.flush() } else { Ok(()) });
        if let Err(e) = written {
            // A full disk: stop writing, keep counting.
            println!(
                "capture-drops: {}: {e}; no more frames written",
                path.display()
            );
            c.full.store(true, Ordering::Relaxed);
            c.skipped_size.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        c.written.fetch_add(1, Ordering::Relaxed);
        c.bytes.store(w.bytes_written(), Ordering::Relaxed);
    }
    w.finish().map(drop)
}

#[cfg(test)]
mod test {
    use super::*;

    fn frame(len: usize, b: u8) -> Vec<u8> {
        vec![b; len]
    }

    /// A capture to a scratch file `name`.
    fn config(name: &str, rate: u32, max_bytes: u64) -> DropCapConfig {
        DropCapConfig {
            path: std::env::temp_dir()
                .join(format!("flypaper-dropcap-{}-{name}", std::process::id())),
            rate,
            max_bytes,
        }
    }

    #[test]
    fn dropped_frames_carry_their_reason_and_port() {
        let cfg = config("reasons.pcapng", 1000, 1 << 20);
        let path = cfg.path.clone();
        let (mut cap, taps) = DropCapture::start(&cfg, 1).unwrap();
        let t0 = Nanos(crate::sys::monotonic_ns());
        taps[0].offer(0, t0, Reason::Trap, &frame(60, 1));
        taps[0].offer(1, t0, Reason::Spoofed, &frame(61, 2));
        drop(taps);
        let n = cap.finish().unwrap();
        assert_eq!((n.written, n.skipped_rate, n.skipped_queue), (2, 0, 0));
        let mut r = crate::capture::Reader::open(&path).unwrap();
        let pkts = r.read_all().unwrap();
        assert_eq!(r.interface_name(0), Some("wan"));
        assert_eq!(r.interface_name(1), Some("lan"));
        assert_eq!(pkts.len(), 2);
        assert_eq!((pkts[0].interface, pkts[0].data.len()), (0, 60));
        assert_eq!((pkts[1].interface, pkts[1].data.len()), (1, 61));
        assert_eq!(n.bytes, std::fs::metadata(&path).unwrap().len());
        // Wall-clock timestamps: within a minute of now.
        let wall = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        assert!(pkts[0].ts_ns.abs_diff(wall) < 60_000_000_000);
        assert_eq!(pkts[0].comment.as_deref(), Some("trap"));
        assert_eq!(pkts[1].comment.as_deref(), Some("spoofed"));
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn the_rate_and_the_size_are_capped_and_skips_counted() {
        // 10 frames per second (a burst of 10); room for the header and
        // five frames of 100 bytes with the comment "trap".
        let block = PcapNgWriter::<Vec<u8>>::packet_block_len(100, Some(4));
        let header = PcapNgWriter::new(Vec::new(), &["wan", "lan"])
            .unwrap()
            .bytes_written();
        let cfg = config("caps.pcapng", 10, header + 5 * block);
        let path = cfg.path.clone();
        let (mut cap, taps) = DropCapture::start(&cfg, 2).unwrap();
        let t0 = Nanos::from_secs(1000);
        for i in 0..25 {
            // 25 frames at once: 10 pass the rate (the burst), 15 do not.
            taps[i % 2].offer(0, t0, Reason::Trap, &frame(100, i as u8));
        }
        drop(taps);
        let n = cap.finish().unwrap();
        assert_eq!(n.skipped_rate, 15, "{n:?}");
        assert_eq!(n.written, 5, "{n:?}");
        assert_eq!(n.skipped_size + n.skipped_queue, 5, "{n:?}");
        let len = std::fs::metadata(&path).unwrap().len();
        assert_eq!(len, header + 5 * block, "the file is exactly full");
        assert!(len <= cfg.max_bytes);
        assert_eq!(n.bytes, len);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn a_full_queue_is_counted_not_waited_for() {
        let cfg = config("queue.pcapng", 1_000_000, u64::MAX);
        let path = cfg.path.clone();
        let (mut cap, taps) = DropCapture::start(&cfg, 1).unwrap();
        // More frames than the queue holds, offered faster than a file is
        // written: some may not fit; none is lost from the books.
        let n_frames = 3 * QUEUE as u64;
        let t0 = Nanos::from_secs(1000);
        for i in 0..n_frames {
            taps[0].offer(1, t0 + Nanos(i * 1000), Reason::Invalid, &frame(1500, 7));
        }
        drop(taps);
        let n = cap.finish().unwrap();
        assert_eq!(n.skipped_rate, 0, "{n:?}");
        assert_eq!(n.written + n.skipped_queue, n_frames, "{n:?}");
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn the_block_length_is_what_the_writer_writes() {
        for (len, comment) in [(60, Some(4)), (61, Some(7)), (1514, None), (0, Some(0))] {
            let mut w = PcapNgWriter::new(Vec::new(), &["wan"]).unwrap();
            let before = w.bytes_written();
            let c = comment.map(|n| "x".repeat(n));
            w.write(0, 1, &vec![0u8; len], c.as_deref()).unwrap();
            assert_eq!(
                w.bytes_written() - before,
                PcapNgWriter::<Vec<u8>>::packet_block_len(len, comment),
                "{len} {comment:?}"
            );
        }
    }

    #[test]
    fn a_bad_path_fails_at_start() {
        let mut cfg = config("unused", 10, 1000);
        cfg.path = "/nonexistent-dir/x.pcapng".into();
        let e = DropCapture::start(&cfg, 1).err().expect("refused");
        assert!(e.to_string().contains("/nonexistent-dir/x.pcapng"), "{e}");
    }
}

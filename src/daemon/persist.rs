//! The flies on disk: they survive a restart, a crash and a power loss.
//!
//! The control thread hands a snapshot of the blacklist to a writer thread
//! ([`Saver`]) at most once a second when the blacklist changed, and saves
//! once more at stop, after the workers stopped. A save writes a temporary
//! file in the state directory, fsyncs it, renames it over `flies.state`
//! and fsyncs the directory: after a crash or a power cut the file is the
//! old one or the new one, whole. At start, before the workers run, the
//! file is loaded ([`load`]), each fly keeps the lifetime it had left, and
//! the flies that expired meanwhile are dropped ([`restore`]). A file that
//! is damaged or unreadable is reported and moved aside to
//! `flies.state.corrupt-<unix time>`: it is never loaded in part, and the
//! next save cannot overwrite it.
//!
//! # The format
//!
//! A fixed header, fixed-size records, a checksum; everything little
//! endian but the address:
//!
//! ```text
//! header (32 bytes)
//!    0  8  magic "FLYSTATE"
//!    8  4  version (1)
//!   12  4  record size (40)
//!   16  8  count of records
//!   24  8  written at (Unix ns)
//! record (40 bytes), count times
//!    0 16  address: the fly's key (masked to its prefix), 128 bits big
//!          endian (IPv4 as ::ffff:a.b.c.d), the byte order of the XDP key
//!   16  8  first seen (Unix ns)
//!   24  8  expires (Unix ns; u64::MAX: never)
//!   32  1  reason, by its stable code (`REASONS`)
//!   33  1  protocol: 0 none (an operator's block), 1 TCP, 2 UDP, 3 ICMP,
//!          4 another IP protocol
//!   34  1  that protocol's number (4 only), else 0
//!   35  1  prefix length within the family
//!   36  2  port (ICMP: type)
//!   38  1  flags: bit 0 proven; the others 0
//!   39  1  0
//! trailer (4 bytes)
//!          CRC-32 (IEEE) of every byte before it
//! ```
//!
//! Why this shape: a million flies are 40 MB that are written with a few
//! large writes and read with one read, and a record is decoded with a few
//! loads (a text format would take seconds to parse at that size, and a
//! generic serializer would tie the file to a crate's encoding). The
//! length is known from the header, so a truncated or extended file is
//! caught before any record is read, and the checksum catches a damaged
//! one: the file is taken whole or not at all. Times are wall-clock
//! (Unix ns) because the monotonic clock the blacklist and the XDP program
//! use starts again at every boot; a fly keeps its remaining lifetime by
//! the wall clock. Reasons are stored by a stable code rather than by
//! their counter order, which may change.
//!
//! Limits: a first-seen time earlier than the current boot cannot be held
//! by the monotonic clock; such a fly is listed as first seen at boot. One
//! daemon per state directory: two daemons sharing one would overwrite
//! each other's flies.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam::channel;

use crate::addr::Addr;
use crate::filter::blacklist::Blacklist;
use crate::filter::{FlyEntry, Insert, Nanos, Proto, Reason};
use crate::sys::monotonic_ns;
use crate::sys::xdp::XdpProgram;

use super::store::in_kernel;

/// Where `flypaper run` keeps its state by default.
pub const DEFAULT_DIR: &str = "/var/lib/flypaper";
/// The state file's name in the state directory.
pub const FILE: &str = "flies.state";
/// The temporary file a save writes before it renames it over `FILE`.
const TMP: &str = ".flies.state.tmp";
/// What a damaged file is renamed to, followed by the Unix time.
pub const CORRUPT: &str = "flies.state.corrupt-";

const MAGIC: [u8; 8] = *b"FLYSTATE";
const VERSION: u32 = 1;
const HEADER: usize = 32;
const RECORD: usize = 40;
const TRAILER: usize = 4;
/// Records encoded per write.
const CHUNK: usize = 1 << 12;

/// How often, at most, the flies are saved while they change.
pub const SAVE_EVERY: Duration = Duration::from_secs(1);

/// Reasons by stable code (the index): append new reasons, never reorder.
const REASONS: [&str; 30] = [
    "malformed",
    "fly",
    "bogon-src",
    "bogus-dst",
    "spoofed",
    "non-ip",
    "icmp-type",
    "icmp-rate",
    "tcp-flags",
    "invalid",
    "rst-rate",
    "rst-queue-full",
    "syn-rate",
    "trap",
    "not-allowed",
    "oversize",
    "mpls",
    "tunnel",
    "frag-tiny",
    "frag-overlap",
    "frag-too-big",
    "frag-orphan",
    "frag-after-drop",
    "source-route",
    "ttl-zero",
    "smurf",
    "nd-invalid",
    "nd-rate",
    "vouched",
    "rst-share",
];

/// The stable code of every reason, by the reason's index.
fn reason_codes() -> [u8; Reason::COUNT] {
    let mut codes = [0u8; Reason::COUNT];
    for r in Reason::ALL {
        let code = REASONS.iter().position(|n| *n == r.as_str());
        // A reason missing from REASONS is caught by a unit test.
        codes[*r as usize] = code.map_or(u8::MAX, |c| c as u8);
    }
    codes
}

fn unix_ns(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// The Unix time (ns) of monotonic instant `t`, given both clocks now;
/// `u64::MAX` (never) stays never.
fn to_wall(t: Nanos, mono_now: Nanos, wall_now: u64) -> u64 {
    if t.0 == u64::MAX {
        u64::MAX
    } else if t >= mono_now {
        wall_now.saturating_add(t.0 - mono_now.0)
    } else {
        wall_now.saturating_sub(mono_now.0 - t.0)
    }
}

/// The monotonic instant of Unix time `w` (ns), given both clocks now;
/// times before the monotonic clock's start are its start, and never
/// stays never.
fn to_mono(w: u64, mono_now: Nanos, wall_now: u64) -> Nanos {
    if w == u64::MAX {
        Nanos(u64::MAX)
    } else if w >= wall_now {
        Nanos(mono_now.0.saturating_add(w - wall_now))
    } else {
        Nanos(mono_now.0.saturating_sub(wall_now - w))
    }
}

fn encode(e: &FlyEntry, codes: &[u8; Reason::COUNT], mono: Nanos, wall: u64, out: &mut Vec<u8>) {
    let (proto, number) = match e.proto {
        None => (0, 0),
        Some(Proto::Tcp) => (1, 0),
        Some(Proto::Udp) => (2, 0),
        Some(Proto::Icmp) => (3, 0),
        Some(Proto::Other(n)) => (4, n),
    };
    out.extend_from_slice(&e.addr.0.to_be_bytes());
    out.extend_from_slice(&to_wall(e.first_seen, mono, wall).to_le_bytes());
    out.extend_from_slice(&to_wall(e.expires, mono, wall).to_le_bytes());
    out.extend_from_slice(&[codes[e.reason as usize], proto, number, e.prefix]);
    out.extend_from_slice(&e.port.to_le_bytes());
    out.extend_from_slice(&[u8::from(e.proven), 0]);
}

/// A record's fields, times still wall-clock; `Err` says what is wrong.
struct Record {
    entry: FlyEntry,
    first_seen: u64,
    expires: u64,
}

fn decode(r: &[u8]) -> Result<Record, String> {
    let u64_at = |i: usize| u64::from_le_bytes(r[i..i + 8].try_into().expect("8 bytes"));
    let addr = Addr(u128::from_be_bytes(r[..16].try_into().expect("16 bytes")));
    let reason = REASONS
        .get(usize::from(r[32]))
        .and_then(|n| Reason::from_name(n))
        .ok_or_else(|| format!("unknown reason code {}", r[32]))?;
    let proto = match (r[33], r[34]) {
        (0, 0) => None,
        (1, 0) => Some(Proto::Tcp),
        (2, 0) => Some(Proto::Udp),
        (3, 0) => Some(Proto::Icmp),
        (4, n) => Some(Proto::Other(n)),
        (p, n) => return Err(format!("unknown protocol {p}/{n}")),
    };
    let prefix = r[35];
    if prefix > if addr.is_v4() { 32 } else { 128 } {
        return Err(format!("prefix length {prefix} for {addr}"));
    }
    if r[38] > 1 || r[39] != 0 {
        return Err(format!("unknown flags {:#04x} {:#04x}", r[38], r[39]));
    }
    Ok(Record {
        entry: FlyEntry {
            addr,
            prefix,
            reason,
            proto,
            port: u16::from_le_bytes([r[36], r[37]]),
            proven: r[38] == 1,
            first_seen: Nanos::ZERO,
            expires: Nanos::ZERO,
        },
        first_seen: u64_at(16),
        expires: u64_at(24),
    })
}

/// Save `entries` (monotonic times, converted with the two clocks' `now`)
/// to `dir/flies.state`, atomically and durably.
pub fn save(
    dir: &Path,
    entries: &[FlyEntry],
    wall_now: SystemTime,
    mono_now: Nanos,
) -> io::Result<()> {
    let tmp = dir.join(TMP);
    let path = dir.join(FILE);
    let r = write_file(&tmp, entries, unix_ns(wall_now), mono_now)
        .and_then(|()| fs::rename(&tmp, &path))
        .and_then(|()| File::open(dir)?.sync_all());
    r.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io::Error::new(e.kind(), format!("saving {}: {e}", path.display()))
    })
}

fn write_file(tmp: &Path, entries: &[FlyEntry], wall: u64, mono: Nanos) -> io::Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(tmp)?;
    let mut crc = crc32fast::Hasher::new();
    let mut buf = Vec::with_capacity(HEADER + CHUNK.min(entries.len()) * RECORD + TRAILER);
    buf.extend_from_slice(&MAGIC);
    buf.extend_from_slice(&VERSION.to_le_bytes());
    buf.extend_from_slice(&(RECORD as u32).to_le_bytes());
    buf.extend_from_slice(&(entries.len() as u64).to_le_bytes());
    buf.extend_from_slice(&wall.to_le_bytes());
    let codes = reason_codes();
    for chunk in entries.chunks(CHUNK) {
        for e in chunk {
            encode(e, &codes, mono, wall, &mut buf);
        }
        crc.update(&buf);
        f.write_all(&buf)?;
        buf.clear();
    }
    if entries.is_empty() {
        crc.update(&buf);
        f.write_all(&buf)?;
    }
    f.write_all(&crc.finalize().to_le_bytes())?;
    f.sync_all()
}

/// What [`load`] found.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The flies still live, with monotonic times.
    pub entries: Vec<FlyEntry>,
    /// Flies whose lock-out ran out while the daemon was away.
    pub expired: usize,
    /// When the file was written (none: there was no file).
    pub saved_at: Option<SystemTime>,
}

/// A state file that could not be taken: damaged or unreadable. It was
/// moved aside (or says why it could not be).
#[derive(Debug)]
pub struct LoadError {
    pub path: PathBuf,
    /// What is wrong with it.
    pub why: String,
    /// Where it went.
    pub moved_to: Result<PathBuf, String>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}; ", self.path.display(), self.why)?;
        match &self.moved_to {
            Ok(p) => write!(f, "moved aside to {}", p.display())?,
            Err(e) => write!(f, "could not be moved aside ({e})")?,
        }
        write!(f, "; starting without its flies")
    }
}

impl std::error::Error for LoadError {}

/// Load `dir/flies.state`, turning its times into the monotonic clock
/// with the two clocks' `now` and dropping the flies that expired. No
/// directory or no file: no flies. A damaged or unreadable file is moved
/// aside and reported; none of it is loaded.
pub fn load(dir: &Path, wall_now: SystemTime, mono_now: Nanos) -> Result<Loaded, LoadError> {
    let path = dir.join(FILE);
    let bytes = match read(&path) {
        Ok(Some(b)) => b,
        Ok(None) => return Ok(Loaded::default()),
        Err(e) => return Err(set_aside(dir, path, format!("unreadable ({e})"), wall_now)),
    };
    match parse(&bytes, unix_ns(wall_now), mono_now) {
        Ok(l) => Ok(l),
        Err(why) => Err(set_aside(dir, path, format!("corrupt ({why})"), wall_now)),
    }
}

fn read(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let len = f.metadata().map_or(0, |m| m.len() as usize);
    let mut bytes = Vec::with_capacity(len + 1);
    f.read_to_end(&mut bytes)?;
    Ok(Some(bytes))
}

fn parse(b: &[u8], wall: u64, mono: Nanos) -> Result<Loaded, String> {
    if b.len() < HEADER + TRAILER {
        return Err(format!("{} bytes, shorter than a header", b.len()));
    }
    if b[..8] != MAGIC {
        return Err("not a flypaper state file (bad magic)".into());
    }
    let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().expect("4 bytes"));
    let u64_at = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
    let version = u32_at(8);
    if version != VERSION {
        return Err(format!(
            "version {version}, this flypaper reads version {VERSION}"
        ));
    }
    let record = u32_at(12) as usize;
    if record != RECORD {
        return Err(format!("record size {record}, expected {RECORD}"));
    }
    let count = u64_at(16);
    let want = usize::try_from(count)
        .ok()
        .and_then(|n| n.checked_mul(RECORD))
        .and_then(|n| n.checked_add(HEADER + TRAILER));
    if want != Some(b.len()) {
        return Err(format!(
            "{} bytes for {count} flies (truncated or extended)",
            b.len()
        ));
    }
    let (body, trailer) = b.split_at(b.len() - TRAILER);
    let stored = u32::from_le_bytes(trailer.try_into().expect("4 bytes"));
    let computed = crc32fast::hash(body);
    if stored != computed {
        return Err(format!(
            "checksum {stored:08x}, the contents give {computed:08x}"
        ));
    }
    let mut out = Loaded {
        entries: Vec::with_capacity(count as usize),
        expired: 0,
        saved_at: Some(UNIX_EPOCH + Duration::from_nanos(u64_at(24))),
    };
    for (i, r) in body[HEADER..].chunks_exact(RECORD).enumerate() {
        let rec = decode(r).map_err(|e| format!("fly {i}: {e}"))?;
        if rec.expires <= wall {
            out.expired += 1;
            continue;
        }
        let mut e = rec.entry;
        e.first_seen = to_mono(rec.first_seen.min(wall), mono, wall);
        e.expires = to_mono(rec.expires, mono, wall);
        out.entries.push(e);
    }
    Ok(out)
}

/// Rename a bad state file out of the way, to a name no other file has.
fn set_aside(dir: &Path, path: PathBuf, why: String, wall_now: SystemTime) -> LoadError {
    let secs = unix_ns(wall_now) / 1_000_000_000;
    let mut to = dir.join(format!("{CORRUPT}{secs}"));
    let mut n = 1;
    while to.exists() {
        to = dir.join(format!("{CORRUPT}{secs}.{n}"));
        n += 1;
    }
    let moved_to = fs::rename(&path, &to)
        .map(|()| to)
        .map_err(|e| e.to_string());
    LoadError {
        path,
        why,
        moved_to,
    }
}

/// Create the state directory (mode 0700) if it is missing.
pub fn prepare_dir(dir: &Path) -> io::Result<()> {
    if !dir.exists() {
        fs::create_dir_all(dir)?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// What [`restore`] did with the flies loaded.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Restored {
    /// Flies listed in the blacklist.
    pub flies: usize,
    /// Of them, flies copied into the XDP map.
    pub in_kernel: usize,
    /// Flies keyed by a longer prefix than the policy's fly prefix now:
    /// re-keyed by the shorter one (merged where they now share a key).
    pub rekeyed: usize,
    /// Flies keyed by a shorter prefix than the policy's fly prefix now:
    /// which address of it was the fly is not known, so they were dropped.
    pub dropped: usize,
    /// Flies that did not fit (`tables.flies` is smaller than the file).
    pub evicted: usize,
}

/// Put loaded flies into the blacklist and the in-kernel ones into the
/// XDP map (batched updates).
pub fn restore(
    bl: &Blacklist,
    prog: Option<&XdpProgram>,
    mut entries: Vec<FlyEntry>,
    now: Nanos,
) -> Result<Restored, String> {
    let p = bl.prefix();
    let mut r = Restored::default();
    entries.retain_mut(|e| {
        let len = p.len_of(e.addr);
        if e.prefix < len {
            r.dropped += 1;
            return false;
        }
        if e.prefix > len {
            e.addr = bl.key(e.addr);
            e.prefix = len;
            r.rekeyed += 1;
        }
        true
    });
    let mut all_added = true;
    bl.insert_many(&entries, now, |_, outcome| match outcome {
        Insert::Added => {}
        Insert::Updated => all_added = false,
        Insert::Evicted(_) | Insert::Full => {
            all_added = false;
            r.evicted += 1;
        }
    });
    // Every fly new and none evicted: the blacklist holds exactly the
    // flies loaded, and listing its table again (the cost of a scan of
    // the whole table) would only find them.
    let kernel: Vec<(u128, u64)> = if all_added {
        entries
            .iter()
            .filter(|e| in_kernel(e))
            .map(|e| (e.addr.0, e.expires.0))
            .collect()
    } else {
        bl.list(now)
            .iter()
            .filter(|e| in_kernel(e))
            .map(|e| (e.addr.0, e.expires.0))
            .collect()
    };
    r.in_kernel = kernel.len();
    r.flies = bl.len();
    if let Some(p) = prog {
        p.set_flies(&kernel)
            .map_err(|e| format!("copying restored flies to the XDP program: {e}"))?;
    }
    Ok(r)
}

/// At start: load the state file, restore its flies, and say what
/// happened (one line, or the error).
pub fn restore_at_start(dir: &Path, bl: &Blacklist, prog: Option<&XdpProgram>) {
    let t0 = Instant::now();
    let path = dir.join(FILE);
    if let Err(e) = prepare_dir(dir) {
        println!(
            "state directory {}: {e}; flies will not survive a restart",
            dir.display()
        );
    }
    let mono = Nanos(monotonic_ns());
    let loaded = match load(dir, SystemTime::now(), mono) {
        Ok(l) => l,
        Err(e) => {
            println!("state: {e}");
            return;
        }
    };
    if loaded.saved_at.is_none() {
        println!("state: no {}: starting with no flies", path.display());
        return;
    }
    let expired = loaded.expired;
    match restore(bl, prog, loaded.entries, mono) {
        Ok(r) => {
            println!(
                "restored {} flies ({expired} expired dropped) from {} in {} ms",
                r.flies,
                path.display(),
                t0.elapsed().as_millis()
            );
            if r.rekeyed + r.dropped > 0 {
                println!(
                    "state: the fly prefix changed: {} flies re-keyed by the shorter prefix, {} dropped (keyed by a shorter prefix than now)",
                    r.rekeyed, r.dropped
                );
            }
            if r.evicted > 0 {
                println!(
                    "state: {} restored flies did not fit in tables.flies ({})",
                    r.evicted,
                    bl.capacity()
                );
            }
        }
        Err(e) => println!("state: {e}; userspace still drops them"),
    }
}

/// A snapshot for the writer thread.
struct Snapshot {
    flies: Vec<FlyEntry>,
    wall: SystemTime,
    mono: Nanos,
}

/// How saving went, for `status`.
#[derive(Clone, Debug, Default)]
struct Outcome {
    /// Flies in the last save that worked, and when it was.
    saved: Option<(usize, SystemTime)>,
    /// The last save's error, until a save works again.
    error: Option<String>,
}

impl Outcome {
    /// Record a save's result; print when saving starts or stops failing.
    fn record(&mut self, r: io::Result<()>, flies: usize, path: &Path) {
        match r {
            Ok(()) => {
                if self.error.take().is_some() {
                    println!("state: the flies are saved again to {}", path.display());
                }
                self.saved = Some((flies, SystemTime::now()));
            }
            Err(e) => {
                if self.error.is_none() {
                    println!("state: {e}; the flies will not survive a restart until a save works");
                }
                self.error = Some(e.to_string());
            }
        }
    }
}

/// Saves the flies in the background while they change: the control
/// thread takes a snapshot (a blacklist listing) at most once per
/// [`SAVE_EVERY`], and a writer thread writes and fsyncs it, so a slow
/// disk never holds up the control loop. A snapshot offered while the
/// writer is still busy with two is not taken; the next tick offers a
/// newer one.
pub struct Saver {
    dir: PathBuf,
    tx: Option<channel::Sender<Snapshot>>,
    thread: Option<JoinHandle<()>>,
    outcome: Arc<Mutex<Outcome>>,
    /// The blacklist generation of the last snapshot taken.
    taken: u64,
    last: Option<Instant>,
}

impl Saver {
    /// Start the writer for `dir`; `generation` is the blacklist's now
    /// (what the state file already holds).
    pub fn start(dir: PathBuf, generation: u64) -> io::Result<Saver> {
        let (tx, rx) = channel::bounded::<Snapshot>(1);
        let outcome = Arc::new(Mutex::new(Outcome::default()));
        let (d, o) = (dir.clone(), Arc::clone(&outcome));
        let thread = std::thread::Builder::new()
            .name("flypaper-state".into())
            .spawn(move || {
                for s in rx {
                    let r = save(&d, &s.flies, s.wall, s.mono);
                    lock(&o).record(r, s.flies.len(), &d.join(FILE));
                }
            })?;
        Ok(Saver {
            dir,
            tx: Some(tx),
            thread: Some(thread),
            outcome,
            taken: generation,
            last: None,
        })
    }

    /// Called by the control loop: offer a snapshot to the writer if the
    /// blacklist changed and the last one is old enough.
    pub fn tick(&mut self, bl: &Blacklist) {
        let g = bl.generation();
        if g == self.taken || self.last.is_some_and(|t| t.elapsed() < SAVE_EVERY) {
            return;
        }
        let Some(tx) = &self.tx else { return };
        if tx.is_full() {
            return;
        }
        let mono = Nanos(monotonic_ns());
        let wall = SystemTime::now();
        let flies = bl.list(mono);
        if tx.send(Snapshot { flies, wall, mono }).is_ok() {
            self.taken = g;
            self.last = Some(Instant::now());
        }
    }

    /// At stop (the workers stopped): let the writer finish, then save the
    /// flies as they are now, in this thread.
    pub fn finish(mut self, bl: &Blacklist) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let mono = Nanos(monotonic_ns());
        let flies = bl.list(mono);
        let path = self.dir.join(FILE);
        let r = save(&self.dir, &flies, SystemTime::now(), mono);
        if r.is_ok() {
            println!("saved {} flies to {}", flies.len(), path.display());
        }
        lock(&self.outcome).record(r, flies.len(), &path);
    }

    /// For `status`: whether the last save worked, and what it saved.
    pub fn status(&self) -> (bool, String) {
        let o = lock(&self.outcome).clone();
        let path = self.dir.join(FILE);
        match (o.error, o.saved) {
            (Some(e), _) => (false, e),
            (None, Some((n, at))) => (
                true,
                format!(
                    "{}: {n} flies saved at {}",
                    path.display(),
                    humantime::format_rfc3339_seconds(at)
                ),
            ),
            (None, None) => (
                true,
                format!("{}: no change to save since start", path.display()),
            ),
        }
    }
}

impl Drop for Saver {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn lock(o: &Mutex<Outcome>) -> std::sync::MutexGuard<'_, Outcome> {
    o.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::filter::blacklist::{Class, FlyPrefix};

    const SEC: u64 = 1_000_000_000;

    /// A fresh directory under the system's temporary directory.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let p = std::env::temp_dir()
                .join(format!("flypaper-persist-{name}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn wall(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    /// A directory with `flies` saved at monotonic 1000 s, Unix time
    /// 1,700,000,000 s.
    fn saved(name: &str) -> (TempDir, Nanos, Vec<FlyEntry>) {
        let d = TempDir::new(name);
        let now = Nanos(1000 * SEC);
        let all = flies(now);
        save(&d.0, &all, wall(1_700_000_000), now).unwrap();
        (d, now, all)
    }

    /// One fly of each kind: an unproven trap hit, a proven one over IPv6,
    /// an operator's block, ICMP and another protocol, a fly that never
    /// expires, and one expiring soon.
    fn flies(now: Nanos) -> Vec<FlyEntry> {
        let base = FlyEntry {
            addr: "203.0.113.7".parse().unwrap(),
            prefix: 32,
            reason: Reason::Trap,
            proto: Some(Proto::Tcp),
            port: 139,
            proven: false,
            first_seen: Nanos(now.0 - 30 * SEC),
            expires: Nanos(now.0 + 3600 * SEC),
        };
        vec![
            base,
            FlyEntry {
                addr: "2001:db8:1:2::".parse().unwrap(),
                prefix: 64,
                proven: true,
                reason: Reason::NotAllowed,
                proto: Some(Proto::Udp),
                port: 5060,
                ..base
            },
            FlyEntry {
                addr: "198.51.100.9".parse().unwrap(),
                reason: Reason::Fly,
                proto: None,
                port: 0,
                ..base
            },
            FlyEntry {
                addr: "198.51.100.10".parse().unwrap(),
                proto: Some(Proto::Icmp),
                port: 13,
                ..base
            },
            FlyEntry {
                addr: "198.51.100.11".parse().unwrap(),
                proto: Some(Proto::Other(47)),
                port: 47,
                ..base
            },
            FlyEntry {
                addr: "198.51.100.12".parse().unwrap(),
                expires: Nanos(u64::MAX),
                ..base
            },
            FlyEntry {
                addr: "198.51.100.13".parse().unwrap(),
                expires: Nanos(now.0 + 10 * SEC),
                ..base
            },
        ]
    }

    #[test]
    fn every_reason_has_a_stable_code() {
        let codes = reason_codes();
        for r in Reason::ALL {
            assert_ne!(
                codes[*r as usize],
                u8::MAX,
                "{} is missing from REASONS: append it",
                r.as_str()
            );
        }
    }

    #[test]
    fn round_trip_keeps_every_field_and_the_remaining_lifetime() {
        let (d, now, all) = saved("rt");
        assert_eq!(
            fs::metadata(d.0.join(FILE)).unwrap().len() as usize,
            HEADER + all.len() * RECORD + TRAILER
        );
        assert!(!d.0.join(TMP).exists());
        // Loaded 5 s later by the wall clock, after a reboot: the
        // monotonic clock reads 20 s.
        let later = Nanos(20 * SEC);
        let l = load(&d.0, wall(1_700_000_005), later).unwrap();
        assert_eq!(l.expired, 0);
        assert_eq!(l.saved_at, Some(wall(1_700_000_000)));
        assert_eq!(l.entries.len(), all.len());
        for (got, was) in l.entries.iter().zip(&all) {
            let want_expires = if was.expires.0 == u64::MAX {
                Nanos(u64::MAX)
            } else {
                Nanos(later.0 + (was.expires.0 - now.0) - 5 * SEC)
            };
            assert_eq!(
                *got,
                FlyEntry {
                    // First seen 35 s ago: before this boot, so at boot.
                    first_seen: Nanos::ZERO,
                    expires: want_expires,
                    ..*was
                }
            );
        }
        // Restarted without a reboot (the same clocks): exactly as saved.
        let l = load(&d.0, wall(1_700_000_000), now).unwrap();
        assert_eq!(l.entries, all);
    }

    #[test]
    fn expired_flies_are_dropped_and_counted() {
        let (d, _, all) = saved("exp");
        // 20 s later the 10 s fly is gone; an hour later all but the
        // endless one.
        let l = load(&d.0, wall(1_700_000_020), Nanos(1020 * SEC)).unwrap();
        assert_eq!((l.entries.len(), l.expired), (all.len() - 1, 1));
        assert!(l.entries.iter().all(|e| e.addr != all[6].addr));
        let l = load(&d.0, wall(1_700_003_600), Nanos(4600 * SEC)).unwrap();
        assert_eq!((l.entries.len(), l.expired), (1, all.len() - 1));
        assert_eq!(l.entries[0].addr, all[5].addr);
    }

    #[test]
    fn no_directory_no_file_and_an_empty_save_mean_no_flies() {
        let d = TempDir::new("empty");
        let now = Nanos(5 * SEC);
        let l = load(&d.0.join("missing"), wall(1_700_000_000), now).unwrap();
        assert!(l.entries.is_empty() && l.saved_at.is_none());
        let l = load(&d.0, wall(1_700_000_000), now).unwrap();
        assert!(l.entries.is_empty() && l.saved_at.is_none());
        save(&d.0, &[], wall(1_700_000_000), now).unwrap();
        let l = load(&d.0, wall(1_700_000_000), now).unwrap();
        assert_eq!((l.entries.len(), l.expired), (0, 0));
        assert!(l.saved_at.is_some());
    }

    /// Damage a good file with `f`; load must refuse all of it, say `why`,
    /// and leave it under a corrupt- name with its bytes.
    fn refused(name: &str, f: impl FnOnce(&mut Vec<u8>), why: &str) {
        let (d, now, _) = saved(name);
        let path = d.0.join(FILE);
        let mut b = fs::read(&path).unwrap();
        f(&mut b);
        fs::write(&path, &b).unwrap();
        let e = load(&d.0, wall(1_700_000_001), now).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains(why), "{name}: {msg}");
        assert!(msg.contains("moved aside to"), "{msg}");
        let aside = e.moved_to.as_ref().unwrap();
        assert_eq!(
            aside.file_name().unwrap().to_string_lossy(),
            format!("{CORRUPT}1700000001")
        );
        assert_eq!(fs::read(aside).unwrap(), b, "moved whole");
        assert!(!path.exists());
        // The next start finds no file: no flies, and a second damaged
        // file in the same second does not overwrite the first.
        assert!(load(&d.0, wall(1_700_000_001), now)
            .unwrap()
            .entries
            .is_empty());
        fs::write(&path, b"junk").unwrap();
        let e2 = load(&d.0, wall(1_700_000_001), now).unwrap_err();
        assert_ne!(e2.moved_to.unwrap(), *aside);
    }

    #[test]
    fn a_bad_magic_is_moved_aside() {
        refused("magic", |b| b[0] = b'X', "bad magic");
    }

    #[test]
    fn another_version_is_moved_aside() {
        refused("version", |b| b[8] = 2, "version 2");
        refused("recsize", |b| b[12] = 41, "record size 41");
    }

    #[test]
    fn a_truncated_or_extended_file_is_moved_aside() {
        refused("trunc", |b| b.truncate(b.len() - 10), "truncated");
        refused("short", |b| b.truncate(10), "shorter than a header");
        refused("long", |b| b.extend_from_slice(&[0; 40]), "extended");
        refused("count", |b| b[16..24].fill(0xff), "truncated");
    }

    #[test]
    fn a_flipped_bit_is_moved_aside() {
        refused("crc", |b| b[HEADER + RECORD + 3] ^= 0x10, "checksum");
        refused(
            "trailer",
            |b| {
                let n = b.len();
                b[n - 1] ^= 1
            },
            "checksum",
        );
    }

    #[test]
    fn a_record_with_a_sound_checksum_but_impossible_fields_is_moved_aside() {
        refused(
            "fields",
            |b| {
                b[HEADER + 33] = 9;
                let n = b.len() - TRAILER;
                let crc = crc32fast::hash(&b[..n]);
                b[n..].copy_from_slice(&crc.to_le_bytes());
            },
            "fly 0: unknown protocol 9",
        );
    }

    #[test]
    fn an_unreadable_file_is_moved_aside() {
        let d = TempDir::new("unread");
        // A directory where the file should be: it cannot be read.
        fs::create_dir(d.0.join(FILE)).unwrap();
        let e = load(&d.0, wall(1_700_000_000), Nanos(SEC)).unwrap_err();
        assert!(e.to_string().contains("unreadable"), "{e}");
        assert!(e.moved_to.unwrap().is_dir());
    }

    #[test]
    fn an_unwritable_directory_is_reported() {
        let (d, now, all) = saved("ro");
        let e = save(&d.0.join("no").join("such"), &all, wall(1), now).unwrap_err();
        assert!(e.to_string().contains("saving"), "{e}");
        assert!(e.to_string().contains(FILE), "{e}");
        // Nor a file where the directory should be.
        let file = d.0.join("plain");
        fs::write(&file, b"").unwrap();
        assert!(save(&file, &[], wall(1), now).is_err());
        // A failed save leaves the last good file as it was.
        fs::create_dir(d.0.join(TMP)).unwrap();
        assert!(save(&d.0, &[], wall(1_700_000_001), now).is_err());
        let l = load(&d.0, wall(1_700_000_000), now).unwrap();
        assert_eq!(l.entries.len(), all.len());
    }

    #[test]
    fn prepare_dir_creates_it_private() {
        let d = TempDir::new("prep");
        let s = d.0.join("state");
        prepare_dir(&s).unwrap();
        assert_eq!(
            fs::metadata(&s).unwrap().permissions().mode() & 0o777,
            0o700
        );
        prepare_dir(&s).unwrap();
    }

    #[test]
    fn restore_lists_the_flies_and_rekeys_a_changed_prefix() {
        let now = Nanos(1000 * SEC);
        let all = flies(now);
        let bl = Blacklist::new(64, 1);
        let r = restore(&bl, None, all.clone(), now).unwrap();
        assert_eq!(r.flies, all.len());
        assert_eq!(r.in_kernel, 2, "the proven fly and the block");
        let mut listed = bl.list(now);
        listed.sort_by_key(|e| e.addr);
        let mut want = all.clone();
        want.sort_by_key(|e| e.addr);
        assert_eq!(listed, want);
        assert!(bl.is_fly("203.0.113.7".parse().unwrap(), now));
        assert_eq!(
            bl.fly_class("198.51.100.9".parse().unwrap(), now),
            Some(Class::Operator)
        );

        // IPv4 flies keyed by /24 now: the /32 flies are re-keyed (the
        // four in 198.51.100.0/24 become one); the IPv6 /64 is kept under
        // a /64 policy, and dropped under /96 (which /96 was it?).
        let p = FlyPrefix { v4: 24, v6: 96 };
        let bl = Blacklist::with_prefix(64, 2, p);
        let r = restore(&bl, None, all.clone(), now).unwrap();
        assert_eq!((r.rekeyed, r.dropped, r.flies), (6, 1, 2));
        let e = bl.get("198.51.100.200".parse().unwrap(), now).unwrap();
        assert_eq!((e.class(), e.expires), (Class::Operator, Nanos(u64::MAX)));
        assert_eq!(e.target(), "198.51.100.0/24");

        // A smaller blacklist than the file: the extra flies are counted.
        let bl = Blacklist::new(2, 3);
        let r = restore(&bl, None, all, now).unwrap();
        assert_eq!(r.flies, 2);
        assert!(r.evicted >= 5, "{r:?}");
    }

    #[test]
    fn the_saver_saves_changes_at_most_once_a_second_and_at_the_end() {
        let d = TempDir::new("saver");
        let bl = Blacklist::new(64, 4);
        let mono = Nanos(monotonic_ns());
        let mut s = Saver::start(d.0.clone(), bl.generation()).unwrap();
        s.tick(&bl);
        assert!(s.last.is_none(), "nothing changed: nothing saved");
        let all = flies(mono);
        bl.insert(all[0], mono);
        s.tick(&bl);
        bl.insert(all[1], mono);
        s.tick(&bl);
        // The writer thread saves the first snapshot, with one fly; the
        // second change waits for its second.
        let deadline = Instant::now() + Duration::from_secs(5);
        while s.status().1.contains("no change") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let (ok, detail) = s.status();
        assert!(ok && detail.contains("1 flies saved"), "{detail}");
        let now = Nanos(monotonic_ns());
        let l = load(&d.0, SystemTime::now(), now).unwrap();
        assert_eq!(l.entries.len(), 1);
        s.finish(&bl);
        let l = load(&d.0, SystemTime::now(), Nanos(monotonic_ns())).unwrap();
        assert_eq!(l.entries.len(), 2);
    }

    #[test]
    fn the_saver_reports_a_failing_save_in_status() {
        let d = TempDir::new("saverr");
        let bl = Blacklist::new(64, 5);
        let mut s = Saver::start(d.0.join("gone"), 0).unwrap();
        let mono = Nanos(monotonic_ns());
        bl.insert(flies(mono)[0], mono);
        s.tick(&bl);
        let deadline = Instant::now() + Duration::from_secs(5);
        while s.status().0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let (ok, detail) = s.status();
        assert!(!ok && detail.contains("saving"), "{detail}");
    }
}

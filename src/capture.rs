//! Reading and writing packet captures: classic pcap and pcapng.
//!
//! [`Reader`] opens any [`std::io::Read`], detects the format from the magic
//! number and hands out one packet at a time. It is written for untrusted
//! input:
//!
//! - it never panics, whatever the bytes;
//! - it never allocates more than the record or block length it has just
//!   validated (pcap records at most [`MAX_RECORD_LEN`], pcapng blocks at most
//!   [`MAX_BLOCK_LEN`]), and it grows its buffer only as bytes actually
//!   arrive, so a 30-byte file that claims a 16 MiB block costs no 16 MiB;
//! - every error names the byte offset where the bad record or block starts
//!   and the number of the packet being read (1-based), see [`CaptureError`].
//!
//! Supported:
//! - pcap: both byte orders, microsecond (`0xa1b2c3d4`) and nanosecond
//!   (`0xa1b23c4d`) magics, version 2.x;
//! - pcapng (version 1.x): Section Header Block (either byte order, several
//!   sections in one file, each with its own byte order and interfaces),
//!   Interface Description Block (link type, snap length, `if_tsresol` as
//!   10^-n or 2^-n, `if_tsoffset`), Enhanced Packet Block, Simple Packet Block
//!   (interface 0; it carries no timestamp, so it gets the previous packet's),
//!   and the obsolete Packet Block. Every other block type is skipped by its
//!   length. A packet's first `opt_comment` is [`Packet::comment`] and an
//!   interface's `if_name` is [`Reader::interface_name`]; other options are
//!   skipped, and malformed packet options are ignored (the packet is still
//!   returned, without a comment).
//!
//! Timestamps are converted to nanoseconds since the Unix epoch (`u64`). The
//! reader reports each interface's link type ([`Packet::link_type`],
//! [`Reader::link_type`]); it does not judge it. Replay accepts only
//! [`LINKTYPE_ETHERNET`].
//!
//! [`PcapWriter`] writes classic pcap with the nanosecond magic and
//! `LINKTYPE_ETHERNET`, in little-endian byte order. [`PcapNgWriter`] writes
//! little-endian pcapng: named Ethernet interfaces with nanosecond
//! timestamps, and packets with optional comments.

use std::fmt;
use std::io::{self, Cursor, Read, Write};
use std::path::Path;

/// `LINKTYPE_ETHERNET`: IEEE 802.3 Ethernet frames (the only link type replay accepts).
pub const LINKTYPE_ETHERNET: u16 = 1;
/// Largest pcap record (`incl_len`) the reader accepts: 256 KiB.
pub const MAX_RECORD_LEN: u32 = 256 * 1024;
/// Largest pcapng block the reader accepts: 16 MiB.
pub const MAX_BLOCK_LEN: u32 = 16 * 1024 * 1024;

const PCAP_MAGIC_US: u32 = 0xa1b2_c3d4;
const PCAP_MAGIC_NS: u32 = 0xa1b2_3c4d;
const PCAP_HEADER_LEN: usize = 24;
const PCAP_RECORD_HEADER_LEN: usize = 16;

/// Section Header Block type; a palindrome, so it reads the same in both byte orders.
const BT_SHB: u32 = 0x0a0d_0d0a;
const BT_IDB: u32 = 0x0000_0001;
const BT_OPB: u32 = 0x0000_0002;
const BT_SPB: u32 = 0x0000_0003;
const BT_EPB: u32 = 0x0000_0006;
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
/// Smallest legal Section Header Block: 12 bytes of framing, BOM, version, section length.
const MIN_SHB_LEN: u32 = 28;
const OPT_ENDOFOPT: u16 = 0;
const OPT_COMMENT: u16 = 1;
const OPT_IF_NAME: u16 = 2;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;

/// The buffer grows in steps of at most this much before the input has proven
/// that it really holds the bytes a header claims.
const FIRST_READ: usize = 64 * 1024;

/// The two capture file formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// Classic libpcap format.
    Pcap,
    /// pcapng (PCAP Next Generation).
    PcapNg,
}

impl Format {
    pub const fn as_str(self) -> &'static str {
        match self {
            Format::Pcap => "pcap",
            Format::PcapNg => "pcapng",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One captured packet, borrowed from the [`Reader`]'s buffer.
///
/// The data is valid until the next call to [`Reader::next_packet`]; use
/// [`Packet::into_owned`] to keep it longer. The link type is carried in the
/// packet so that a caller need not call back into the (mutably borrowed)
/// reader while it holds the packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Capture time in nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// Interface index within the current pcapng section (always 0 for pcap).
    pub interface: u32,
    /// Link type of that interface (see [`LINKTYPE_ETHERNET`]).
    pub link_type: u16,
    /// The captured bytes (possibly fewer than `orig_len`).
    pub data: &'a [u8],
    /// Length of the packet on the wire.
    pub orig_len: u32,
    /// The packet's first `opt_comment` (pcapng Enhanced and obsolete Packet
    /// Blocks); `None` when there is none, when it is not UTF-8, or for pcap.
    pub comment: Option<&'a str>,
}

impl Packet<'_> {
    /// A copy that owns its bytes.
    pub fn into_owned(self) -> OwnedPacket {
        OwnedPacket {
            ts_ns: self.ts_ns,
            interface: self.interface,
            link_type: self.link_type,
            data: self.data.to_vec(),
            orig_len: self.orig_len,
            comment: self.comment.map(str::to_owned),
        }
    }

    /// True when the capture holds fewer bytes than were on the wire.
    pub fn is_truncated(&self) -> bool {
        (self.data.len() as u64) < u64::from(self.orig_len)
    }
}

/// A [`Packet`] that owns its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnedPacket {
    pub ts_ns: u64,
    pub interface: u32,
    pub link_type: u16,
    pub data: Vec<u8>,
    pub orig_len: u32,
    pub comment: Option<String>,
}

/// Why a capture could not be read.
///
/// The message names the format, the byte offset at which the offending
/// header, record or block starts, and (while packets are being read) the
/// 1-based number of the packet being read.
#[derive(Debug)]
pub struct CaptureError {
    format: Option<Format>,
    offset: u64,
    packet: Option<u64>,
    message: String,
    source: Option<io::Error>,
}

impl CaptureError {
    /// What went wrong, without the position.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// Byte offset in the input where the offending header, record or block starts.
    pub fn offset(&self) -> u64 {
        self.offset
    }
    /// 1-based number of the packet being read when the error happened.
    pub fn packet(&self) -> Option<u64> {
        self.packet
    }
    /// The format, when it was recognised.
    pub fn format(&self) -> Option<Format> {
        self.format
    }
    /// True when the underlying reader failed (as opposed to bad content).
    pub fn is_io(&self) -> bool {
        self.source.is_some()
    }
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.format {
            Some(format) => write!(f, "{format}: ")?,
            None => f.write_str("capture: ")?,
        }
        if let Some(n) = self.packet {
            write!(f, "packet {n}, ")?;
        }
        write!(f, "byte offset {}: {}", self.offset, self.message)?;
        if let Some(e) = &self.source {
            write!(f, ": {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CaptureError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Endian {
    Little,
    Big,
}

impl Endian {
    fn u16(self, b: [u8; 2]) -> u16 {
        match self {
            Endian::Little => u16::from_le_bytes(b),
            Endian::Big => u16::from_be_bytes(b),
        }
    }
    fn u32(self, b: [u8; 4]) -> u32 {
        match self {
            Endian::Little => u32::from_le_bytes(b),
            Endian::Big => u32::from_be_bytes(b),
        }
    }
    fn i64(self, b: [u8; 8]) -> i64 {
        match self {
            Endian::Little => i64::from_le_bytes(b),
            Endian::Big => i64::from_be_bytes(b),
        }
    }
}

fn get<const N: usize>(buf: &[u8], off: usize) -> Option<[u8; N]> {
    buf.get(off..off.checked_add(N)?)?.try_into().ok()
}
fn get_u16(e: Endian, buf: &[u8], off: usize) -> Option<u16> {
    get::<2>(buf, off).map(|b| e.u16(b))
}
fn get_u32(e: Endian, buf: &[u8], off: usize) -> Option<u32> {
    get::<4>(buf, off).map(|b| e.u32(b))
}

/// Why an option could not be read from a pcapng block body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OptionError {
    /// The body ends inside the option's code and length.
    CutOff,
    /// The option's value runs past the end of the body.
    Overrun { code: u16, len: usize },
}

/// The option that starts at `pos` of a block body: its code and value.
fn option_at(e: Endian, body: &[u8], pos: usize) -> Result<(u16, &[u8]), OptionError> {
    let (Some(code), Some(len)) = (get_u16(e, body, pos), get_u16(e, body, pos + 2)) else {
        return Err(OptionError::CutOff);
    };
    let len = usize::from(len);
    match body.get(pos + 4..pos + 4 + len) {
        Some(value) => Ok((code, value)),
        None => Err(OptionError::Overrun { code, len }),
    }
}

/// Where the option after the one at `pos` (with a value of `len` bytes)
/// starts: values are padded to 32 bits.
fn option_end(pos: usize, len: usize) -> usize {
    pos + 4 + len.div_ceil(4) * 4
}

/// Timestamp resolution of a pcapng interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TsResol {
    /// Units of 10^-n seconds.
    Pow10(u8),
    /// Units of 2^-n seconds.
    Pow2(u8),
}

impl TsResol {
    fn from_option(b: u8) -> TsResol {
        if b & 0x80 != 0 {
            TsResol::Pow2(b & 0x7f)
        } else {
            TsResol::Pow10(b)
        }
    }

    /// `ticks` in this resolution as nanoseconds, `None` on overflow.
    fn to_ns(self, ticks: u64) -> Option<u64> {
        let t = u128::from(ticks);
        let ns = match self {
            TsResol::Pow10(n) if n <= 9 => t * 10u128.pow(u32::from(9 - n)),
            TsResol::Pow10(n) => match 10u128.checked_pow(u32::from(n - 9)) {
                Some(div) => t / div,
                None => 0,
            },
            // ticks < 2^64 and 1e9 < 2^30, so the product fits; n <= 127.
            TsResol::Pow2(n) => (t * 1_000_000_000) >> n,
        };
        u64::try_from(ns).ok()
    }
}

#[derive(Clone, Copy, Debug)]
struct Interface {
    link_type: u16,
    snaplen: u32,
    resol: TsResol,
    /// `if_tsoffset`: seconds added to every timestamp.
    offset_secs: i64,
}

impl Interface {
    fn ts_ns(&self, ticks: u64) -> Option<u64> {
        let ns = self.resol.to_ns(ticks)?;
        if self.offset_secs == 0 {
            return Some(ns);
        }
        let total = i128::from(ns) + i128::from(self.offset_secs) * 1_000_000_000;
        u64::try_from(total).ok()
    }
}

#[derive(Debug)]
struct PcapState {
    endian: Endian,
    nanos: bool,
    snaplen: u32,
    link_type: u16,
}

#[derive(Debug)]
struct NgState {
    endian: Endian,
    interfaces: Vec<Interface>,
    /// `if_name` of each interface in `interfaces`, when present and UTF-8.
    names: Vec<Option<String>>,
    /// Timestamp of the previous packet (Simple Packet Blocks reuse it).
    last_ts: u64,
}

#[derive(Debug)]
enum State {
    Pcap(PcapState),
    PcapNg(NgState),
}

/// Where the next packet lies in the reader's buffer.
#[derive(Clone, Copy, Debug)]
struct Meta {
    ts_ns: u64,
    interface: u32,
    link_type: u16,
    start: usize,
    end: usize,
    orig_len: u32,
    /// Where the packet's comment lies in the buffer.
    comment: Option<(usize, usize)>,
}

/// Reads pcap or pcapng from any [`Read`], one packet at a time.
///
/// The input is read through an internal buffer, so an unbuffered `File` is
/// fine. For pcapng, [`Reader::new`] reads ahead to the first packet, so the
/// interfaces that precede it (and their link types) are known at once.
pub struct Reader<'r> {
    input: Box<dyn Read + 'r>,
    format: Format,
    state: State,
    /// Bytes consumed from the input so far.
    offset: u64,
    /// Packets returned so far.
    packets: u64,
    buf: Vec<u8>,
    pending: Option<Meta>,
    failed: bool,
}

impl fmt::Debug for Reader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reader")
            .field("format", &self.format)
            .field("state", &self.state)
            .field("offset", &self.offset)
            .field("packets", &self.packets)
            .finish_non_exhaustive()
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(input: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

impl Reader<'static> {
    /// Opens a capture file.
    pub fn open(path: impl AsRef<Path>) -> Result<Reader<'static>, CaptureError> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|e| CaptureError {
            format: None,
            offset: 0,
            packet: None,
            message: format!("cannot open {}", path.display()),
            source: Some(e),
        })?;
        Reader::new(file)
    }
}

impl<'r> Reader<'r> {
    /// Detects the format from the magic number and reads the file header
    /// (pcap) or everything up to the first packet (pcapng).
    pub fn new<R: Read + 'r>(input: R) -> Result<Reader<'r>, CaptureError> {
        let mut input = io::BufReader::with_capacity(64 * 1024, input);
        let mut magic = [0u8; 4];
        let got = read_full(&mut input, &mut magic).map_err(|e| CaptureError {
            format: None,
            offset: 0,
            packet: None,
            message: "cannot read the magic number".into(),
            source: Some(e),
        })?;
        let bad = |message: String| CaptureError {
            format: None,
            offset: 0,
            packet: None,
            message,
            source: None,
        };
        if got < 4 {
            return Err(bad(format!(
                "input is {got} bytes long, too short for a pcap or pcapng file"
            )));
        }
        let le = u32::from_le_bytes(magic);
        let format = match le {
            BT_SHB => Format::PcapNg,
            _ if [PCAP_MAGIC_US, PCAP_MAGIC_NS].contains(&le)
                || [PCAP_MAGIC_US, PCAP_MAGIC_NS].contains(&u32::from_be_bytes(magic)) =>
            {
                Format::Pcap
            }
            _ => {
                return Err(bad(format!(
                    "not a pcap or pcapng file (magic bytes {:02x} {:02x} {:02x} {:02x})",
                    magic[0], magic[1], magic[2], magic[3]
                )))
            }
        };
        // Put the magic back in front so that every header is parsed from its start.
        let input: Box<dyn Read + 'r> = Box::new(Cursor::new(magic).chain(input));
        let mut reader = Reader {
            input,
            format,
            state: State::Pcap(PcapState {
                endian: Endian::Little,
                nanos: false,
                snaplen: 0,
                link_type: 0,
            }),
            offset: 0,
            packets: 0,
            buf: Vec::new(),
            pending: None,
            failed: false,
        };
        match format {
            Format::Pcap => reader.read_pcap_header()?,
            Format::PcapNg => {
                reader.state = State::PcapNg(NgState {
                    endian: Endian::Little,
                    interfaces: Vec::new(),
                    names: Vec::new(),
                    last_ts: 0,
                });
                reader.pending = reader.next_ng_block()?;
            }
        }
        Ok(reader)
    }

    /// The format detected from the magic number.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The link type of an interface (for pcap: interface 0 only; for pcapng:
    /// the interfaces of the current section seen so far).
    pub fn link_type(&self, interface: u32) -> Option<u16> {
        match &self.state {
            State::Pcap(p) => (interface == 0).then_some(p.link_type),
            State::PcapNg(ng) => ng.interfaces.get(interface as usize).map(|i| i.link_type),
        }
    }

    /// The `if_name` of an interface of the current section, when it has one
    /// that is UTF-8 (always `None` for pcap).
    pub fn interface_name(&self, interface: u32) -> Option<&str> {
        match &self.state {
            State::Pcap(_) => None,
            State::PcapNg(ng) => ng.names.get(interface as usize)?.as_deref(),
        }
    }

    /// Number of interfaces known in the current section (1 for pcap).
    pub fn interface_count(&self) -> u32 {
        match &self.state {
            State::Pcap(_) => 1,
            State::PcapNg(ng) => u32::try_from(ng.interfaces.len()).unwrap_or(u32::MAX),
        }
    }

    /// Number of packets returned so far.
    pub fn packets_read(&self) -> u64 {
        self.packets
    }

    /// The next packet, `Ok(None)` at a clean end of file.
    ///
    /// After an error the reader stays failed: every later call returns an error.
    pub fn next_packet(&mut self) -> Result<Option<Packet<'_>>, CaptureError> {
        if self.failed {
            return Err(self.error(self.offset, "the reader stopped at an earlier error".into()));
        }
        let meta = match self.pending.take() {
            Some(m) => Some(m),
            None => {
                let r = match self.format {
                    Format::Pcap => self.next_pcap_record(),
                    Format::PcapNg => self.next_ng_block(),
                };
                match r {
                    Ok(m) => m,
                    Err(e) => {
                        self.failed = true;
                        return Err(e);
                    }
                }
            }
        };
        let Some(m) = meta else { return Ok(None) };
        let Some(data) = self.buf.get(m.start..m.end) else {
            // Unreachable: ranges are checked against the buffer when parsed.
            self.failed = true;
            return Err(self.error(self.offset, "internal error: packet range".into()));
        };
        let comment = m
            .comment
            .and_then(|(start, end)| self.buf.get(start..end))
            .and_then(|b| std::str::from_utf8(b).ok());
        self.packets += 1;
        Ok(Some(Packet {
            ts_ns: m.ts_ns,
            interface: m.interface,
            link_type: m.link_type,
            data,
            orig_len: m.orig_len,
            comment,
        }))
    }

    /// Reads every remaining packet into owned copies.
    pub fn read_all(&mut self) -> Result<Vec<OwnedPacket>, CaptureError> {
        let mut all = Vec::new();
        while let Some(p) = self.next_packet()? {
            all.push(p.into_owned());
        }
        Ok(all)
    }

    fn error(&self, offset: u64, message: String) -> CaptureError {
        CaptureError {
            format: Some(self.format),
            offset,
            packet: Some(self.packets + 1),
            message,
            source: None,
        }
    }

    fn io_error(&self, offset: u64, message: String, e: io::Error) -> CaptureError {
        CaptureError {
            source: Some(e),
            ..self.error(offset, message)
        }
    }

    /// Reads exactly `out.len()` bytes; `Ok(n < len)` when the input ends first.
    fn read_some(&mut self, out: &mut [u8], at: u64, what: &str) -> Result<usize, CaptureError> {
        match read_full(&mut self.input, out) {
            Ok(n) => {
                self.offset += n as u64;
                Ok(n)
            }
            Err(e) => Err(self.io_error(at, format!("cannot read {what}"), e)),
        }
    }

    /// Appends up to `n` bytes from the input to `buf`, growing it only as
    /// bytes arrive (never beyond `n`); returns the bytes appended.
    fn append(&mut self, n: usize, at: u64, what: &str) -> Result<usize, CaptureError> {
        let base = self.buf.len();
        let mut got = 0;
        let mut step = n.min(FIRST_READ);
        while got < n {
            let want = step.min(n - got);
            let old = self.buf.len();
            self.buf.reserve_exact(want);
            self.buf.resize(old + want, 0);
            let r = read_full(&mut self.input, &mut self.buf[old..]);
            let k = match r {
                Ok(k) => k,
                Err(e) => {
                    self.buf.truncate(old);
                    return Err(self.io_error(at, format!("cannot read {what}"), e));
                }
            };
            self.buf.truncate(old + k);
            self.offset += k as u64;
            got += k;
            if k < want {
                break;
            }
            step = step.saturating_mul(2);
        }
        debug_assert_eq!(self.buf.len(), base + got);
        Ok(got)
    }

    fn read_pcap_header(&mut self) -> Result<(), CaptureError> {
        let mut h = [0u8; PCAP_HEADER_LEN];
        let got = self.read_some(&mut h, 0, "the pcap file header")?;
        let header_error = |message: String| CaptureError {
            format: Some(Format::Pcap),
            offset: 0,
            packet: None,
            message,
            source: None,
        };
        if got < PCAP_HEADER_LEN {
            return Err(header_error(format!(
                "truncated file header: {got} of {PCAP_HEADER_LEN} bytes"
            )));
        }
        let magic = [h[0], h[1], h[2], h[3]];
        let (endian, nanos) = match (u32::from_le_bytes(magic), u32::from_be_bytes(magic)) {
            (PCAP_MAGIC_US, _) => (Endian::Little, false),
            (PCAP_MAGIC_NS, _) => (Endian::Little, true),
            (_, PCAP_MAGIC_US) => (Endian::Big, false),
            (_, PCAP_MAGIC_NS) => (Endian::Big, true),
            _ => return Err(header_error("bad magic".into())),
        };
        let major = endian.u16([h[4], h[5]]);
        let minor = endian.u16([h[6], h[7]]);
        if major != 2 {
            return Err(header_error(format!(
                "unsupported pcap version {major}.{minor} (expected 2.x)"
            )));
        }
        let snaplen = endian.u32([h[16], h[17], h[18], h[19]]);
        // The upper bits of the link-type field carry FCS information.
        let link_type = endian.u32([h[20], h[21], h[22], h[23]]) as u16;
        self.state = State::Pcap(PcapState {
            endian,
            nanos,
            snaplen,
            link_type,
        });
        Ok(())
    }

    fn next_pcap_record(&mut self) -> Result<Option<Meta>, CaptureError> {
        let State::Pcap(st) = &self.state else {
            return Err(self.error(self.offset, "internal error: not pcap".into()));
        };
        let (endian, nanos, snaplen, link_type) = (st.endian, st.nanos, st.snaplen, st.link_type);
        let at = self.offset;
        let mut h = [0u8; PCAP_RECORD_HEADER_LEN];
        let got = self.read_some(&mut h, at, "a record header")?;
        if got == 0 {
            return Ok(None);
        }
        if got < PCAP_RECORD_HEADER_LEN {
            return Err(self.error(
                at,
                format!(
                    "truncated record header: the file ends after {got} of {PCAP_RECORD_HEADER_LEN} bytes"
                ),
            ));
        }
        let sec = endian.u32([h[0], h[1], h[2], h[3]]);
        let frac = endian.u32([h[4], h[5], h[6], h[7]]);
        let incl_len = endian.u32([h[8], h[9], h[10], h[11]]);
        let orig_len = endian.u32([h[12], h[13], h[14], h[15]]);
        // A snap length of 0 (written by some tools) means "no limit" here.
        let limit = if snaplen == 0 {
            MAX_RECORD_LEN
        } else {
            snaplen.min(MAX_RECORD_LEN)
        };
        if incl_len > limit {
            return Err(self.error(
                at,
                if incl_len > MAX_RECORD_LEN {
                    format!("record length {incl_len} exceeds the {MAX_RECORD_LEN}-byte limit")
                } else {
                    format!("record length {incl_len} exceeds the snap length {snaplen}")
                },
            ));
        }
        let frac_ns = if nanos {
            u64::from(frac)
        } else {
            u64::from(frac) * 1000
        };
        // u32 seconds * 1e9 + u32 * 1000 fits in u64.
        let ts_ns = u64::from(sec) * 1_000_000_000 + frac_ns;
        let n = incl_len as usize;
        self.buf.clear();
        let got = self.append(n, at, "record data")?;
        if got < n {
            return Err(self.error(
                at,
                format!("truncated record: {n} bytes of packet data announced, the file ends after {got}"),
            ));
        }
        Ok(Some(Meta {
            ts_ns,
            interface: 0,
            link_type,
            start: 0,
            end: n,
            orig_len,
            comment: None,
        }))
    }

    /// Reads pcapng blocks until a packet block (returned) or the end of file.
    fn next_ng_block(&mut self) -> Result<Option<Meta>, CaptureError> {
        loop {
            let at = self.offset;
            let mut head = [0u8; 8];
            let got = self.read_some(&mut head, at, "a block header")?;
            if got == 0 {
                return Ok(None);
            }
            if got < 8 {
                return Err(self.error(
                    at,
                    format!("truncated block header: the file ends after {got} of 8 bytes"),
                ));
            }
            let raw_type = [head[0], head[1], head[2], head[3]];
            self.buf.clear();
            let (btype, endian) = if u32::from_le_bytes(raw_type) == BT_SHB {
                let mut bom = [0u8; 4];
                let got = self.read_some(&mut bom, at, "a section header")?;
                if got < 4 {
                    return Err(self.error(at, "truncated section header block".into()));
                }
                let endian = if u32::from_le_bytes(bom) == BYTE_ORDER_MAGIC {
                    Endian::Little
                } else if u32::from_be_bytes(bom) == BYTE_ORDER_MAGIC {
                    Endian::Big
                } else {
                    return Err(self.error(
                        at,
                        format!(
                            "section header has a bad byte-order magic {:02x}{:02x}{:02x}{:02x}",
                            bom[0], bom[1], bom[2], bom[3]
                        ),
                    ));
                };
                self.buf.extend_from_slice(&bom);
                (BT_SHB, endian)
            } else {
                match &self.state {
                    State::PcapNg(ng) => (ng.endian.u32(raw_type), ng.endian),
                    State::Pcap(_) => {
                        return Err(self.error(at, "internal error: not pcapng".into()))
                    }
                }
            };
            let len = endian.u32([head[4], head[5], head[6], head[7]]);
            let min = if btype == BT_SHB { MIN_SHB_LEN } else { 12 };
            if len < min || len % 4 != 0 || len > MAX_BLOCK_LEN {
                return Err(self.error(
                    at,
                    format!(
                        "block type 0x{btype:08x} has an invalid length {len} (must be a multiple of 4 between {min} and {MAX_BLOCK_LEN})"
                    ),
                ));
            }
            let len = len as usize;
            // Body and trailing length; the buffer may already hold the BOM.
            let rest = len - 8 - self.buf.len();
            let got = self.append(rest, at, "a block")?;
            if got < rest {
                return Err(self.error(
                    at,
                    format!(
                        "truncated block: type 0x{btype:08x} announces {len} bytes, the file ends after {}",
                        8 + self.buf.len()
                    ),
                ));
            }
            let body_len = len - 12;
            let trailer = get_u32(endian, &self.buf, body_len);
            if trailer != Some(len as u32) {
                return Err(self.error(
                    at,
                    format!(
                        "block type 0x{btype:08x}: trailing length {} does not match the leading length {len}",
                        trailer.unwrap_or(0)
                    ),
                ));
            }
            match btype {
                BT_SHB => self.section_header(at, endian, body_len)?,
                BT_IDB => self.interface_description(at, body_len)?,
                BT_EPB | BT_OPB => return self.packet_block(at, btype, body_len).map(Some),
                BT_SPB => return self.simple_packet_block(at, body_len).map(Some),
                _ => {} // unknown or uninteresting block: skipped by its length
            }
        }
    }

    fn ng_endian(&self) -> Endian {
        match &self.state {
            State::PcapNg(ng) => ng.endian,
            State::Pcap(p) => p.endian,
        }
    }

    fn ng_state(&mut self) -> Option<&mut NgState> {
        match &mut self.state {
            State::PcapNg(ng) => Some(ng),
            State::Pcap(_) => None,
        }
    }

    fn section_header(
        &mut self,
        at: u64,
        endian: Endian,
        body_len: usize,
    ) -> Result<(), CaptureError> {
        let major = get_u16(endian, &self.buf, 4);
        let minor = get_u16(endian, &self.buf, 6);
        let (Some(major), Some(minor)) = (major, minor) else {
            return Err(self.error(at, format!("section header too short ({body_len} bytes)")));
        };
        if major != 1 {
            return Err(self.error(
                at,
                format!("unsupported pcapng version {major}.{minor} (expected 1.x)"),
            ));
        }
        // A new section: new byte order, no interfaces yet.
        let Some(ng) = self.ng_state() else {
            return Err(self.error(at, "internal error: not pcapng".into()));
        };
        ng.endian = endian;
        ng.interfaces.clear();
        ng.names.clear();
        Ok(())
    }

    fn interface_description(&mut self, at: u64, body_len: usize) -> Result<(), CaptureError> {
        let e = self.ng_endian();
        let body = self.buf.get(..body_len).unwrap_or(&[]);
        let (Some(link_type), Some(snaplen)) = (get_u16(e, body, 0), get_u32(e, body, 4)) else {
            return Err(self.error(
                at,
                format!("interface description block too short ({body_len} bytes)"),
            ));
        };
        let mut iface = Interface {
            link_type,
            snaplen,
            resol: TsResol::Pow10(6),
            offset_secs: 0,
        };
        let mut name = None;
        let mut pos = 8;
        while pos < body_len {
            let (code, value) = match option_at(e, body, pos) {
                Ok(opt) => opt,
                Err(OptionError::CutOff) => {
                    return Err(self.error(
                        at,
                        format!("interface option at block byte {} is cut off", pos + 8),
                    ))
                }
                Err(OptionError::Overrun { code, len }) => {
                    return Err(self.error(
                        at,
                        format!("interface option {code} ({len} bytes) overruns its block"),
                    ))
                }
            };
            match code {
                OPT_ENDOFOPT => break,
                OPT_IF_NAME => {
                    name = std::str::from_utf8(value).ok().map(str::to_owned);
                }
                OPT_IF_TSRESOL => {
                    if let Some(&b) = value.first() {
                        iface.resol = TsResol::from_option(b);
                    }
                }
                OPT_IF_TSOFFSET => {
                    if let Some(b) = get::<8>(value, 0) {
                        iface.offset_secs = e.i64(b);
                    }
                }
                _ => {}
            }
            pos = option_end(pos, value.len());
        }
        let Some(ng) = self.ng_state() else {
            return Err(self.error(at, "internal error: not pcapng".into()));
        };
        ng.interfaces.push(iface);
        ng.names.push(name);
        Ok(())
    }

    fn interface(&self, at: u64, id: u32) -> Result<Interface, CaptureError> {
        let State::PcapNg(ng) = &self.state else {
            return Err(self.error(at, "internal error: not pcapng".into()));
        };
        match ng.interfaces.get(id as usize) {
            Some(i) => Ok(*i),
            None => Err(self.error(
                at,
                format!(
                    "packet names interface {id}, but the section has described {} interface(s)",
                    ng.interfaces.len()
                ),
            )),
        }
    }

    /// Enhanced Packet Block, or the obsolete Packet Block (same layout with
    /// a 16-bit interface id followed by a 16-bit drop count).
    fn packet_block(&mut self, at: u64, btype: u32, body_len: usize) -> Result<Meta, CaptureError> {
        const HEADER: usize = 20;
        let e = self.ng_endian();
        let body = self.buf.get(..body_len).unwrap_or(&[]);
        let id = if btype == BT_EPB {
            get_u32(e, body, 0)
        } else {
            get_u16(e, body, 0).map(u32::from)
        };
        let fields = (
            id,
            get_u32(e, body, 4),
            get_u32(e, body, 8),
            get_u32(e, body, 12),
            get_u32(e, body, 16),
        );
        let (Some(id), Some(hi), Some(lo), Some(cap_len), Some(orig_len)) = fields else {
            return Err(self.error(at, format!("packet block too short ({body_len} bytes)")));
        };
        let iface = self.interface(at, id)?;
        let cap = cap_len as usize;
        if cap > body_len - HEADER {
            return Err(self.error(
                at,
                format!(
                    "packet block captured length {cap_len} overruns its block ({} bytes of data room)",
                    body_len - HEADER
                ),
            ));
        }
        // Options follow the padded data. They are optional extras: a packet
        // whose options are malformed is still returned, without a comment.
        let mut comment = None;
        let mut pos = HEADER + cap.div_ceil(4) * 4;
        while pos < body_len {
            let Ok((code, value)) = option_at(e, body, pos) else {
                break;
            };
            match code {
                OPT_ENDOFOPT => break,
                OPT_COMMENT => {
                    comment = Some((pos + 4, pos + 4 + value.len()));
                    break;
                }
                _ => {}
            }
            pos = option_end(pos, value.len());
        }
        let ticks = (u64::from(hi) << 32) | u64::from(lo);
        let Some(ts_ns) = iface.ts_ns(ticks) else {
            return Err(self.error(
                at,
                format!("timestamp {ticks} overflows 64-bit nanoseconds"),
            ));
        };
        if let Some(ng) = self.ng_state() {
            ng.last_ts = ts_ns;
        }
        Ok(Meta {
            ts_ns,
            interface: id,
            link_type: iface.link_type,
            start: HEADER,
            end: HEADER + cap,
            orig_len,
            comment,
        })
    }

    fn simple_packet_block(&mut self, at: u64, body_len: usize) -> Result<Meta, CaptureError> {
        let e = self.ng_endian();
        let body = self.buf.get(..body_len).unwrap_or(&[]);
        let Some(orig_len) = get_u32(e, body, 0) else {
            return Err(self.error(
                at,
                format!("simple packet block too short ({body_len} bytes)"),
            ));
        };
        let iface = self.interface(at, 0)?;
        let mut cap = (orig_len as usize).min(body_len - 4);
        if iface.snaplen != 0 {
            cap = cap.min(iface.snaplen as usize);
        }
        let ts_ns = match &self.state {
            State::PcapNg(ng) => ng.last_ts,
            State::Pcap(_) => 0,
        };
        Ok(Meta {
            ts_ns,
            interface: 0,
            link_type: iface.link_type,
            start: 4,
            end: 4 + cap,
            orig_len,
            comment: None,
        })
    }
}

/// Writes classic pcap: nanosecond magic (`0xa1b23c4d`), little-endian,
/// `LINKTYPE_ETHERNET`, snap length [`PcapWriter::SNAPLEN`].
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
}

impl<W: Write> PcapWriter<W> {
    /// Snap length written in the header; longer packets are refused.
    pub const SNAPLEN: u32 = MAX_RECORD_LEN;

    /// Writes the file header.
    pub fn new(mut out: W) -> io::Result<Self> {
        let mut h = [0u8; PCAP_HEADER_LEN];
        h[0..4].copy_from_slice(&PCAP_MAGIC_NS.to_le_bytes());
        h[4..6].copy_from_slice(&2u16.to_le_bytes());
        h[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone and sigfigs stay 0.
        h[16..20].copy_from_slice(&Self::SNAPLEN.to_le_bytes());
        h[20..24].copy_from_slice(&u32::from(LINKTYPE_ETHERNET).to_le_bytes());
        out.write_all(&h)?;
        Ok(PcapWriter { out })
    }

    /// Appends one packet captured in full at `ts_ns` (nanoseconds since the
    /// Unix epoch; the seconds must fit in 32 bits, i.e. before 2106).
    pub fn write(&mut self, ts_ns: u64, data: &[u8]) -> io::Result<()> {
        let secs = u32::try_from(ts_ns / 1_000_000_000).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("timestamp {ts_ns} ns is beyond what pcap can hold"),
            )
        })?;
        let nanos = (ts_ns % 1_000_000_000) as u32;
        let len = frame_len(data, Self::SNAPLEN)?;
        let mut h = [0u8; PCAP_RECORD_HEADER_LEN];
        h[0..4].copy_from_slice(&secs.to_le_bytes());
        h[4..8].copy_from_slice(&nanos.to_le_bytes());
        h[8..12].copy_from_slice(&len.to_le_bytes());
        h[12..16].copy_from_slice(&len.to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(data)
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes pcapng: a section header, one interface description block per
/// named interface (`LINKTYPE_ETHERNET`, nanosecond timestamps via
/// `if_tsresol` = 9, an `if_name` option, snap length
/// [`PcapNgWriter::SNAPLEN`]), then enhanced packet blocks, each optionally
/// with an `opt_comment`. Little-endian.
#[derive(Debug)]
pub struct PcapNgWriter<W: Write> {
    out: W,
    interfaces: u32,
    written: u64,
    /// Reused for each block, which is written whole.
    block: Vec<u8>,
}

impl<W: Write> PcapNgWriter<W> {
    /// Snap length written for every interface; longer packets are refused.
    pub const SNAPLEN: u32 = MAX_RECORD_LEN;

    /// Writes the section header and one interface description block per
    /// name; packets name an interface by its index in `interfaces`. A name
    /// longer than 65535 bytes is refused.
    pub fn new(out: W, interfaces: &[&str]) -> io::Result<Self> {
        let count = u32::try_from(interfaces.len())
            .map_err(|_| invalid(format!("{} interfaces are too many", interfaces.len())))?;
        let mut w = PcapNgWriter {
            out,
            interfaces: count,
            written: 0,
            block: Vec::new(),
        };
        w.write_block(BT_SHB, |b| {
            b.extend(BYTE_ORDER_MAGIC.to_le_bytes());
            b.extend(1u16.to_le_bytes());
            b.extend(0u16.to_le_bytes());
            b.extend((-1i64).to_le_bytes()); // section length not given
            Ok(())
        })?;
        for name in interfaces {
            w.write_block(BT_IDB, |b| {
                b.extend(LINKTYPE_ETHERNET.to_le_bytes());
                b.extend(0u16.to_le_bytes());
                b.extend(Self::SNAPLEN.to_le_bytes());
                push_option(b, OPT_IF_NAME, name.as_bytes(), "interface name")?;
                push_option(b, OPT_IF_TSRESOL, &[9], "if_tsresol")?;
                push_option(b, OPT_ENDOFOPT, &[], "end of options")
            })?;
        }
        Ok(w)
    }

    /// Appends one frame captured in full on `interface` (an index into the
    /// names given to [`PcapNgWriter::new`]) at `ts_ns` (nanoseconds since
    /// the Unix epoch), with an optional comment written as `opt_comment`.
    ///
    /// An unknown interface, a frame longer than [`PcapNgWriter::SNAPLEN`]
    /// and a comment longer than 65535 bytes are refused
    /// ([`io::ErrorKind::InvalidInput`]) and nothing is written.
    pub fn write(
        &mut self,
        interface: u32,
        ts_ns: u64,
        data: &[u8],
        comment: Option<&str>,
    ) -> io::Result<()> {
        if interface >= self.interfaces {
            return Err(invalid(format!(
                "interface {interface} is not one of the {} described",
                self.interfaces
            )));
        }
        let len = frame_len(data, Self::SNAPLEN)?;
        self.write_block(BT_EPB, |b| {
            b.extend(interface.to_le_bytes());
            b.extend(((ts_ns >> 32) as u32).to_le_bytes());
            b.extend((ts_ns as u32).to_le_bytes());
            b.extend(len.to_le_bytes());
            b.extend(len.to_le_bytes());
            b.extend_from_slice(data);
            pad32(b);
            if let Some(c) = comment {
                push_option(b, OPT_COMMENT, c.as_bytes(), "comment")?;
                push_option(b, OPT_ENDOFOPT, &[], "end of options")?;
            }
            Ok(())
        })
    }

    /// Bytes written so far, headers included (callers cap file sizes with it).
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// The bytes [`PcapNgWriter::write`] adds for a frame of `len` bytes
    /// with a comment of `comment_len` bytes (if any): what a caller that
    /// caps the file's size checks before writing.
    pub const fn packet_block_len(len: usize, comment_len: Option<usize>) -> u64 {
        const fn pad4(n: usize) -> u64 {
            n.div_ceil(4) as u64 * 4
        }
        // Block type and length, interface, timestamp, two lengths, the
        // data, the trailing length.
        let base = 8 + 20 + pad4(len) + 4;
        match comment_len {
            // opt_comment's header and value, then opt_endofopt.
            Some(c) => base + 4 + pad4(c) + 4,
            None => base,
        }
    }

    /// Pushes the blocks written so far through the underlying writer (a
    /// buffered file), so that readers see them.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    /// Flushes and returns the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }

    /// Builds a block of type `btype` whose body `body` appends, then writes
    /// it in one piece; when `body` fails, nothing is written.
    fn write_block(
        &mut self,
        btype: u32,
        body: impl FnOnce(&mut Vec<u8>) -> io::Result<()>,
    ) -> io::Result<()> {
        let b = &mut self.block;
        b.clear();
        b.extend(btype.to_le_bytes());
        b.extend(0u32.to_le_bytes()); // length, filled in below
        body(b)?;
        pad32(b);
        // A frame of at most SNAPLEN and options of at most 64 KiB each stay
        // far below MAX_BLOCK_LEN, so the reader accepts every block.
        let len = u32::try_from(b.len() + 4)
            .ok()
            .filter(|&l| l <= MAX_BLOCK_LEN)
            .ok_or_else(|| invalid(format!("block of {} bytes is too long", b.len() + 4)))?;
        b[4..8].copy_from_slice(&len.to_le_bytes());
        b.extend(len.to_le_bytes());
        self.out.write_all(b)?;
        self.written += u64::from(len);
        Ok(())
    }
}

/// The length of a frame to be written in full, refused beyond `snaplen`.
fn frame_len(data: &[u8], snaplen: u32) -> io::Result<u32> {
    match u32::try_from(data.len()) {
        Ok(l) if l <= snaplen => Ok(l),
        _ => Err(invalid(format!(
            "packet of {} bytes exceeds the snap length {snaplen}",
            data.len()
        ))),
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// Pads `b` with zeros to a multiple of 32 bits.
fn pad32(b: &mut Vec<u8>) {
    b.resize(b.len().div_ceil(4) * 4, 0);
}

/// Appends a little-endian pcapng option, its value padded to 32 bits;
/// refuses a value longer than the 16-bit length field can say.
fn push_option(b: &mut Vec<u8>, code: u16, value: &[u8], what: &str) -> io::Result<()> {
    let len = u16::try_from(value.len()).map_err(|_| {
        invalid(format!(
            "{what} of {} bytes exceeds the {}-byte option limit",
            value.len(),
            u16::MAX
        ))
    })?;
    b.extend(code.to_le_bytes());
    b.extend(len.to_le_bytes());
    b.extend_from_slice(value);
    pad32(b);
    Ok(())
}

#[cfg(test)]
mod test {
    use super::*;

    const FRAME_A: [u8; 14] = [0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02, 0x08, 0x00];
    const FRAME_B: [u8; 17] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0, 0, 0, 0, 0x03, 0x08, 0x06, 0xde, 0xad, 0xbe,
    ];

    fn read(bytes: &[u8]) -> Result<(Format, Vec<OwnedPacket>), CaptureError> {
        let mut r = Reader::new(bytes)?;
        let all = r.read_all()?;
        Ok((r.format(), all))
    }

    // ---- hand-built pcap ----

    fn pcap_file(e: Endian, nanos: bool, snaplen: u32, recs: &[(u32, u32, &[u8])]) -> Vec<u8> {
        let w32 = |v: u32| match e {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        };
        let w16 = |v: u16| match e {
            Endian::Little => v.to_le_bytes(),
            Endian::Big => v.to_be_bytes(),
        };
        let mut f = Vec::new();
        f.extend(w32(if nanos { PCAP_MAGIC_NS } else { PCAP_MAGIC_US }));
        f.extend(w16(2));
        f.extend(w16(4));
        f.extend(w32(0));
        f.extend(w32(0));
        f.extend(w32(snaplen));
        f.extend(w32(1));
        for (sec, frac, data) in recs {
            f.extend(w32(*sec));
            f.extend(w32(*frac));
            f.extend(w32(data.len() as u32));
            f.extend(w32(data.len() as u32 + 4));
            f.extend_from_slice(data);
        }
        f
    }

    #[test]
    fn pcap_little_endian_microseconds_real_bytes() {
        #[rustfmt::skip]
        let file: Vec<u8> = [
            &[0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0,
              0xff, 0xff, 0, 0, 1, 0, 0, 0][..],
            // ts 1700000000.123456, incl 14, orig 60
            &[0x00, 0xf1, 0x53, 0x65, 0x40, 0xe2, 0x01, 0x00, 14, 0, 0, 0, 60, 0, 0, 0],
            &FRAME_A,
        ]
        .concat();
        let (format, pkts) = read(&file).unwrap();
        assert_eq!(format, Format::Pcap);
        assert_eq!(pkts.len(), 1);
        let p = &pkts[0];
        assert_eq!(p.ts_ns, 1_700_000_000_123_456_000);
        assert_eq!(
            (p.interface, p.link_type, p.orig_len),
            (0, LINKTYPE_ETHERNET, 60)
        );
        assert_eq!(p.data, FRAME_A);
    }

    #[test]
    fn pcap_both_byte_orders_and_resolutions() {
        for e in [Endian::Little, Endian::Big] {
            for nanos in [false, true] {
                let file = pcap_file(e, nanos, 65535, &[(10, 999, &FRAME_A), (11, 5, &FRAME_B)]);
                let mut r = Reader::new(&file[..]).unwrap();
                assert_eq!(r.format(), Format::Pcap);
                assert_eq!(r.link_type(0), Some(1));
                assert_eq!(r.link_type(1), None);
                let mul = if nanos { 1 } else { 1000 };
                let p = r.next_packet().unwrap().unwrap();
                assert_eq!(p.ts_ns, 10_000_000_000 + 999 * mul, "{e:?} nanos={nanos}");
                assert_eq!(p.data, FRAME_A);
                assert_eq!(p.orig_len, 18);
                assert!(p.is_truncated());
                let p = r.next_packet().unwrap().unwrap();
                assert_eq!(p.ts_ns, 11_000_000_000 + 5 * mul);
                assert_eq!(p.data, FRAME_B);
                assert!(r.next_packet().unwrap().is_none());
                assert_eq!(r.packets_read(), 2);
            }
        }
    }

    #[test]
    fn pcap_record_limits_are_errors_not_allocations() {
        // incl_len beyond the snap length
        let file = pcap_file(
            Endian::Little,
            true,
            16,
            &[(1, 0, &FRAME_A), (2, 0, &FRAME_B)],
        );
        let mut r = Reader::new(&file[..]).unwrap();
        assert!(r.next_packet().unwrap().is_some());
        let e = r.next_packet().unwrap_err();
        assert_eq!(e.packet(), Some(2));
        assert_eq!(e.offset(), 24 + 16 + 14);
        assert!(e.to_string().contains("snap length"), "{e}");
        // incl_len beyond 256 KiB, with a snap length that would allow it
        let mut file = pcap_file(Endian::Big, false, u32::MAX, &[(1, 0, &FRAME_A)]);
        file[24 + 8..24 + 12].copy_from_slice(&0x7fff_ffffu32.to_be_bytes());
        let e = read(&file).unwrap_err();
        assert!(e.to_string().contains("262144-byte limit"), "{e}");
        assert_eq!(e.packet(), Some(1));
        // the reader stays failed
        let mut r = Reader::new(&file[..]).unwrap();
        assert!(r.next_packet().is_err());
        assert!(r.next_packet().is_err());
    }

    #[test]
    fn pcap_truncated_record_names_the_packet() {
        let file = pcap_file(
            Endian::Little,
            false,
            65535,
            &[(1, 0, &FRAME_A), (2, 0, &FRAME_B)],
        );
        let cut = &file[..file.len() - 3];
        let mut r = Reader::new(cut).unwrap();
        assert!(r.next_packet().unwrap().is_some());
        let e = r.next_packet().unwrap_err();
        assert_eq!(e.packet(), Some(2));
        let msg = e.to_string();
        assert!(
            msg.starts_with("pcap: packet 2, byte offset 54: truncated record"),
            "{msg}"
        );
        let cut = &file[..24 + 16 + 14 + 7];
        let mut r = Reader::new(cut).unwrap();
        assert!(r.next_packet().unwrap().is_some());
        let msg = r.next_packet().unwrap_err().to_string();
        assert!(msg.contains("truncated record header"), "{msg}");
        let e = read(&file[..20]).unwrap_err();
        assert!(e.to_string().contains("truncated file header"), "{e}");
    }

    #[test]
    fn pcap_bad_version_is_an_error() {
        let mut file = pcap_file(Endian::Little, false, 65535, &[]);
        file[4] = 3;
        assert!(read(&file).unwrap_err().to_string().contains("version 3.4"));
    }

    // ---- hand-built pcapng ----

    struct Ng {
        e: Endian,
        out: Vec<u8>,
    }

    impl Ng {
        fn new(e: Endian) -> Ng {
            Ng { e, out: Vec::new() }
        }
        fn u16(&self, v: u16) -> [u8; 2] {
            match self.e {
                Endian::Little => v.to_le_bytes(),
                Endian::Big => v.to_be_bytes(),
            }
        }
        fn u32(&self, v: u32) -> [u8; 4] {
            match self.e {
                Endian::Little => v.to_le_bytes(),
                Endian::Big => v.to_be_bytes(),
            }
        }
        fn block(&mut self, btype: u32, body: &[u8]) -> &mut Ng {
            let mut body = body.to_vec();
            while body.len() % 4 != 0 {
                body.push(0);
            }
            let len = body.len() as u32 + 12;
            let (t, l) = (self.u32(btype), self.u32(len));
            self.out.extend(t);
            self.out.extend(l);
            self.out.extend(body);
            self.out.extend(l);
            self
        }
        fn opt(&self, code: u16, value: &[u8]) -> Vec<u8> {
            let mut o = Vec::new();
            o.extend(self.u16(code));
            o.extend(self.u16(value.len() as u16));
            o.extend_from_slice(value);
            while o.len() % 4 != 0 {
                o.push(0);
            }
            o
        }
        fn shb(&mut self) -> &mut Ng {
            let mut b = Vec::new();
            b.extend(self.u32(BYTE_ORDER_MAGIC));
            b.extend(self.u16(1));
            b.extend(self.u16(0));
            b.extend([0xff; 8]); // section length unknown (-1)
            b.extend(self.opt(4, b"flypaper test"));
            b.extend(self.opt(0, b""));
            self.block(BT_SHB, &b)
        }
        fn idb(&mut self, link: u16, tsresol: Option<u8>) -> &mut Ng {
            let mut b = Vec::new();
            b.extend(self.u16(link));
            b.extend(self.u16(0));
            b.extend(self.u32(65535));
            b.extend(self.opt(2, b"eth0"));
            if let Some(r) = tsresol {
                b.extend(self.opt(OPT_IF_TSRESOL, &[r]));
            }
            b.extend(self.opt(0, b""));
            self.block(BT_IDB, &b)
        }
        fn epb(&mut self, iface: u32, ticks: u64, data: &[u8]) -> &mut Ng {
            let mut b = Vec::new();
            b.extend(self.u32(iface));
            b.extend(self.u32((ticks >> 32) as u32));
            b.extend(self.u32(ticks as u32));
            b.extend(self.u32(data.len() as u32));
            b.extend(self.u32(data.len() as u32));
            b.extend_from_slice(data);
            while b.len() % 4 != 0 {
                b.push(0);
            }
            b.extend(self.opt(1, b"a comment"));
            b.extend(self.opt(0, b""));
            self.block(BT_EPB, &b)
        }
        fn spb(&mut self, data: &[u8]) -> &mut Ng {
            let mut b = Vec::new();
            b.extend(self.u32(data.len() as u32));
            b.extend_from_slice(data);
            self.block(BT_SPB, &b)
        }
    }

    /// A two-interface section with default (µs) and ns resolution, an
    /// unknown block, a name resolution block and a statistics block.
    fn ng_sample(e: Endian) -> Vec<u8> {
        let mut ng = Ng::new(e);
        ng.shb()
            .idb(1, None)
            .idb(1, Some(9))
            .block(0x0000_0bad, b"custom block to skip")
            .epb(0, 1_700_000_000_000_001, &FRAME_A)
            .epb(1, 1_700_000_000_000_000_002, &FRAME_B)
            .block(0x0000_0004, &[0, 0, 0, 0]) // name resolution block, empty
            .spb(&FRAME_B)
            .block(0x0000_0005, &[0; 20]); // interface statistics block
        ng.out
    }

    #[test]
    fn pcapng_little_endian_real_bytes() {
        #[rustfmt::skip]
        let file: Vec<u8> = vec![
            // SHB, 28 bytes, LE, version 1.0, section length -1
            0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 28, 0, 0, 0,
            // IDB, 32 bytes, Ethernet, snaplen 0, if_tsresol = 9, end of options
            1, 0, 0, 0, 32, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
            9, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0, 0,
            // EPB, 48 bytes, interface 0, ts 0x00000001_00000002 ns, 14 of 60 bytes
            6, 0, 0, 0, 48, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0,
            14, 0, 0, 0, 60, 0, 0, 0,
            0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02, 0x08, 0x00, 0, 0,
            48, 0, 0, 0,
        ];
        let (format, pkts) = read(&file).unwrap();
        assert_eq!(format, Format::PcapNg);
        assert_eq!(
            pkts,
            vec![OwnedPacket {
                ts_ns: (1 << 32) + 2,
                interface: 0,
                link_type: 1,
                data: FRAME_A.to_vec(),
                orig_len: 60,
                comment: None,
            }]
        );
    }

    #[test]
    fn pcapng_both_byte_orders() {
        for e in [Endian::Little, Endian::Big] {
            let file = ng_sample(e);
            let mut r = Reader::new(&file[..]).unwrap();
            assert_eq!(r.format(), Format::PcapNg);
            // new() read ahead to the first packet: both interfaces are known.
            assert_eq!(r.interface_count(), 2);
            assert_eq!(
                (r.link_type(0), r.link_type(1), r.link_type(2)),
                (Some(1), Some(1), None)
            );
            let pkts = r.read_all().unwrap();
            let got: Vec<_> = pkts
                .iter()
                .map(|p| (p.ts_ns, p.interface, p.data.clone()))
                .collect();
            assert_eq!(
                got,
                vec![
                    (1_700_000_000_000_001_000, 0, FRAME_A.to_vec()),
                    (1_700_000_000_000_000_002, 1, FRAME_B.to_vec()),
                    // SPB: interface 0, previous timestamp
                    (1_700_000_000_000_000_002, 0, FRAME_B.to_vec()),
                ],
                "{e:?}"
            );
        }
    }

    #[test]
    fn pcapng_comments_and_interface_names() {
        for e in [Endian::Little, Endian::Big] {
            let file = ng_sample(e);
            let mut r = Reader::new(&file[..]).unwrap();
            assert_eq!(
                (
                    r.interface_name(0),
                    r.interface_name(1),
                    r.interface_name(2)
                ),
                (Some("eth0"), Some("eth0"), None)
            );
            let comments: Vec<_> = r
                .read_all()
                .unwrap()
                .into_iter()
                .map(|p| p.comment)
                .collect();
            // the Simple Packet Block has no options
            let c = Some("a comment".to_string());
            assert_eq!(comments, vec![c.clone(), c, None], "{e:?}");
        }
        // pcap has neither
        let file = pcap_file(Endian::Little, true, 65535, &[(1, 2, &FRAME_A)]);
        let mut r = Reader::new(&file[..]).unwrap();
        assert_eq!(r.interface_name(0), None);
        assert_eq!(r.next_packet().unwrap().unwrap().comment, None);

        // An EPB by hand: data, then `opts`, then the end of options.
        let epb = |opts: &[u8]| {
            let mut ng = Ng::new(Endian::Little);
            ng.shb().idb(1, Some(9));
            let mut b = Vec::new();
            for v in [0, 0, 7, 3, 3] {
                b.extend(ng.u32(v));
            }
            b.extend([1, 2, 3, 0]); // 3 bytes of data, padded
            b.extend_from_slice(opts);
            ng.block(BT_EPB, &b);
            let (_, pkts) = read(&ng.out).unwrap();
            assert_eq!((pkts[0].ts_ns, &pkts[0].data[..]), (7, &[1, 2, 3][..]));
            pkts[0].comment.clone()
        };
        let ng = Ng::new(Endian::Little);
        // the first comment wins, after other options
        let opts = [
            ng.opt(0x8001, b"custom"),
            ng.opt(OPT_COMMENT, "première".as_bytes()),
            ng.opt(OPT_COMMENT, b"second"),
        ]
        .concat();
        assert_eq!(epb(&opts).as_deref(), Some("première"));
        // an empty comment is a comment
        assert_eq!(epb(&ng.opt(OPT_COMMENT, b"")).as_deref(), Some(""));
        // a comment after the end of options is not one
        let opts = [ng.opt(OPT_ENDOFOPT, b""), ng.opt(OPT_COMMENT, b"late")].concat();
        assert_eq!(epb(&opts), None);
        // not UTF-8
        assert_eq!(epb(&ng.opt(OPT_COMMENT, b"\xff\xfe")), None);
        // malformed options: the packet still reads, without a comment
        let mut overrun = ng.opt(OPT_COMMENT, b"abcd");
        overrun[2] = 200;
        assert_eq!(epb(&overrun), None);
        let mut overrun = ng.opt(0x8001, b"abcd");
        overrun[2] = 200;
        overrun.extend(ng.opt(OPT_COMMENT, b"hidden"));
        assert_eq!(epb(&overrun), None);
    }

    #[test]
    fn pcapng_timestamp_resolutions() {
        assert_eq!(TsResol::Pow10(6).to_ns(7), Some(7000));
        assert_eq!(TsResol::Pow10(0).to_ns(3), Some(3_000_000_000));
        assert_eq!(TsResol::Pow10(12).to_ns(5000), Some(5));
        assert_eq!(TsResol::Pow10(127).to_ns(u64::MAX), Some(0));
        assert_eq!(TsResol::Pow2(10).to_ns(1024 + 512), Some(1_500_000_000));
        assert_eq!(TsResol::Pow2(0).to_ns(2), Some(2_000_000_000));
        assert_eq!(TsResol::Pow2(127).to_ns(u64::MAX), Some(0));
        assert_eq!(TsResol::Pow10(0).to_ns(u64::MAX), None);
        assert_eq!(TsResol::from_option(0x8a), TsResol::Pow2(10));
        assert_eq!(TsResol::from_option(3), TsResol::Pow10(3));

        // 2^-10 through a real block, with if_tsoffset of 100 s
        let mut ng = Ng::new(Endian::Big);
        ng.shb();
        let mut b = Vec::new();
        b.extend(ng.u16(1));
        b.extend(ng.u16(0));
        b.extend(ng.u32(0));
        b.extend(ng.opt(OPT_IF_TSRESOL, &[0x80 | 10]));
        b.extend(ng.opt(OPT_IF_TSOFFSET, &100i64.to_be_bytes()));
        b.extend(ng.opt(0, b""));
        ng.block(BT_IDB, &b).epb(0, 2048 + 256, &FRAME_A);
        let (_, pkts) = read(&ng.out).unwrap();
        assert_eq!(pkts[0].ts_ns, 102_250_000_000);

        // a timestamp that overflows is an error
        let mut ng = Ng::new(Endian::Little);
        ng.shb().idb(1, Some(0)).epb(0, u64::MAX, &FRAME_A);
        let e = read(&ng.out).unwrap_err();
        assert!(e.to_string().contains("overflows"), "{e}");
    }

    #[test]
    fn pcapng_multiple_sections_reset_interfaces_and_byte_order() {
        let mut file = Ng::new(Endian::Little);
        file.shb()
            .idb(1, Some(9))
            .idb(1, Some(9))
            .epb(1, 5, &FRAME_A);
        let mut second = Ng::new(Endian::Big);
        second
            .shb()
            .idb(105, Some(9))
            .epb(0, 6, &FRAME_B)
            .epb(1, 7, &FRAME_B);
        let bytes = [file.out.clone(), second.out.clone()].concat();
        let mut r = Reader::new(&bytes[..]).unwrap();
        let p = r.next_packet().unwrap().unwrap();
        assert_eq!((p.ts_ns, p.interface, p.link_type), (5, 1, 1));
        let p = r.next_packet().unwrap().unwrap();
        assert_eq!((p.ts_ns, p.interface, p.link_type), (6, 0, 105));
        assert_eq!(r.interface_count(), 1);
        assert_eq!(r.link_type(0), Some(105));
        // interface 1 was not described in the second section
        let e = r.next_packet().unwrap_err();
        assert_eq!(e.packet(), Some(3));
        assert!(e.to_string().contains("interface 1"), "{e}");
    }

    #[test]
    fn pcapng_bad_block_lengths() {
        let good = ng_sample(Endian::Little);
        let shb_len = u32::from_le_bytes(good[4..8].try_into().unwrap()) as usize;
        let set_len = |f: &mut Vec<u8>, at: usize, v: u32| {
            f[at + 4..at + 8].copy_from_slice(&v.to_le_bytes())
        };
        for bad in [0u32, 8, 13, 14, 15, MAX_BLOCK_LEN + 4, u32::MAX] {
            let mut f = good.clone();
            set_len(&mut f, shb_len, bad);
            let e = read(&f).unwrap_err();
            assert_eq!(e.offset(), shb_len as u64);
            assert!(e.to_string().contains("invalid length"), "{bad}: {e}");
        }
        // SHB shorter than its minimum
        let mut f = good.clone();
        set_len(&mut f, 0, 24);
        assert!(read(&f).unwrap_err().to_string().contains("invalid length"));
        // trailing length mismatch
        let mut f = good.clone();
        let idb_len = u32::from_le_bytes(f[shb_len + 4..shb_len + 8].try_into().unwrap()) as usize;
        let trailer = shb_len + idb_len - 4;
        f[trailer] ^= 4;
        let e = read(&f).unwrap_err();
        assert!(e.to_string().contains("does not match"), "{e}");
        // a legal length that is larger than the file
        let mut f = good.clone();
        set_len(&mut f, shb_len, MAX_BLOCK_LEN);
        let e = read(&f).unwrap_err();
        assert!(e.to_string().contains("truncated block"), "{e}");
        // bad byte-order magic
        let mut f = good.clone();
        f[8] = 0;
        assert!(read(&f)
            .unwrap_err()
            .to_string()
            .contains("byte-order magic"));
        // EPB whose captured length overruns its block
        let mut ng = Ng::new(Endian::Little);
        ng.shb().idb(1, None);
        let epb_at = ng.out.len();
        ng.epb(0, 1, &FRAME_A);
        ng.out[epb_at + 20..epb_at + 24].copy_from_slice(&1000u32.to_le_bytes());
        let e = read(&ng.out).unwrap_err();
        assert!(e.to_string().contains("overruns"), "{e}");
        assert_eq!(e.packet(), Some(1));
        // EPB before any interface
        let mut ng = Ng::new(Endian::Little);
        ng.shb().epb(0, 1, &FRAME_A);
        assert!(read(&ng.out)
            .unwrap_err()
            .to_string()
            .contains("0 interface(s)"));
        // unsupported version
        let mut f = good;
        f[12] = 2;
        assert!(read(&f).unwrap_err().to_string().contains("version 2.0"));
    }

    #[test]
    fn huge_claimed_block_does_not_allocate_it() {
        let mut ng = Ng::new(Endian::Little);
        ng.shb();
        ng.out.extend(0xbadu32.to_le_bytes());
        ng.out.extend(MAX_BLOCK_LEN.to_le_bytes());
        ng.out.extend([0u8; 100]);
        let bytes = ng.out;
        let e = Reader::new(&bytes[..]).unwrap_err();
        assert!(e.to_string().contains("truncated block"), "{e}");
        // The buffer grows only as bytes arrive: check the capacity directly.
        let mut ng = Ng::new(Endian::Little);
        ng.shb().idb(1, None).epb(0, 0, &FRAME_A);
        let mut bytes = ng.out;
        bytes.extend(0xbadu32.to_le_bytes());
        bytes.extend(MAX_BLOCK_LEN.to_le_bytes());
        bytes.extend([0u8; 1000]);
        let mut r = Reader::new(&bytes[..]).unwrap();
        assert!(r.next_packet().unwrap().is_some());
        assert!(r.next_packet().is_err());
        assert!(
            r.buf.capacity() <= FIRST_READ,
            "capacity {}",
            r.buf.capacity()
        );
    }

    // ---- writer ----

    #[test]
    fn writer_round_trip() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        let frames: Vec<(u64, Vec<u8>)> = (0..20u64)
            .map(|i| {
                (
                    1_700_000_000_000_000_000 + i * 999_999_937,
                    vec![i as u8; 14 + i as usize * 7],
                )
            })
            .collect();
        for (ts, d) in &frames {
            w.write(*ts, d).unwrap();
        }
        assert!(w.write(1 << 63, &FRAME_A).is_err(), "seconds beyond u32");
        assert!(w.write(0, &vec![0; MAX_RECORD_LEN as usize + 1]).is_err());
        let bytes = w.finish().unwrap();
        assert_eq!(&bytes[..4], &[0x4d, 0x3c, 0xb2, 0xa1]);
        let mut r = Reader::new(&bytes[..]).unwrap();
        assert_eq!(r.format(), Format::Pcap);
        assert_eq!(r.link_type(0), Some(LINKTYPE_ETHERNET));
        let got = r.read_all().unwrap();
        assert_eq!(got.len(), frames.len());
        for (p, (ts, d)) in got.iter().zip(&frames) {
            assert_eq!((p.ts_ns, &p.data, p.orig_len as usize), (*ts, d, d.len()));
        }
    }

    #[test]
    fn pcapng_writer_round_trip() {
        let big_comment = "c".repeat(usize::from(u16::MAX));
        let big_frame = vec![0xab; PcapNgWriter::<Vec<u8>>::SNAPLEN as usize];
        let frames: Vec<(u32, u64, Vec<u8>, Option<&str>)> = vec![
            (
                0,
                1_700_000_000_123_456_789,
                FRAME_A.to_vec(),
                Some("first"),
            ),
            (1, 1_700_000_000_123_456_790, FRAME_B.to_vec(), None),
            (1, 5, vec![], Some("")),
            (0, u64::MAX, vec![7; 61], Some("ünïcødé ✓ 三")),
            (1, 0, big_frame, Some(&big_comment)),
            (0, 1 << 32, FRAME_B.to_vec(), Some("abc")),
        ];
        let mut w = PcapNgWriter::new(Vec::new(), &["lan0", "wan-uplink"]).unwrap();
        let mut total = w.bytes_written();
        assert!(total > 0);
        for (iface, ts, data, comment) in &frames {
            w.write(*iface, *ts, data, *comment).unwrap();
            assert!(w.bytes_written() > total + data.len() as u64);
            total = w.bytes_written();
        }
        let bytes = w.finish().unwrap();
        assert_eq!(total, bytes.len() as u64);
        let mut r = Reader::new(&bytes[..]).unwrap();
        assert_eq!(r.format(), Format::PcapNg);
        assert_eq!(r.interface_count(), 2);
        assert_eq!(
            (r.link_type(0), r.link_type(1)),
            (Some(LINKTYPE_ETHERNET), Some(LINKTYPE_ETHERNET))
        );
        assert_eq!(
            (r.interface_name(0), r.interface_name(1)),
            (Some("lan0"), Some("wan-uplink"))
        );
        let got = r.read_all().unwrap();
        let want: Vec<OwnedPacket> = frames
            .iter()
            .map(|(iface, ts, data, comment)| OwnedPacket {
                ts_ns: *ts,
                interface: *iface,
                link_type: LINKTYPE_ETHERNET,
                data: data.clone(),
                orig_len: data.len() as u32,
                comment: comment.map(str::to_owned),
            })
            .collect();
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!(g == w, "packet {i}: {g:?} != {w:?}");
        }
    }

    #[test]
    fn pcapng_writer_real_bytes() {
        let mut w = PcapNgWriter::new(Vec::new(), &["br0"]).unwrap();
        w.write(0, (1 << 32) + 2, &FRAME_A, Some("hello")).unwrap();
        w.write(0, 3, &[0xee], None).unwrap();
        #[rustfmt::skip]
        let want: Vec<u8> = vec![
            // SHB, 28 bytes, LE, version 1.0, section length -1
            0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a, 1, 0, 0, 0,
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 28, 0, 0, 0,
            // IDB, 40 bytes, Ethernet, snaplen 256 KiB, if_name "br0", if_tsresol 9
            1, 0, 0, 0, 40, 0, 0, 0, 1, 0, 0, 0, 0, 0, 4, 0,
            2, 0, 3, 0, b'b', b'r', b'0', 0, 9, 0, 1, 0, 9, 0, 0, 0,
            0, 0, 0, 0, 40, 0, 0, 0,
            // EPB, 64 bytes, interface 0, ts 0x00000001_00000002, 14 bytes,
            // opt_comment "hello", end of options
            6, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0,
            14, 0, 0, 0, 14, 0, 0, 0,
            0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02, 0x08, 0x00, 0, 0,
            1, 0, 5, 0, b'h', b'e', b'l', b'l', b'o', 0, 0, 0, 0, 0, 0, 0,
            64, 0, 0, 0,
            // EPB, 36 bytes, no options
            6, 0, 0, 0, 36, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0,
            1, 0, 0, 0, 1, 0, 0, 0, 0xee, 0, 0, 0, 36, 0, 0, 0,
        ];
        assert_eq!(w.bytes_written(), want.len() as u64);
        assert_eq!(w.finish().unwrap(), want);
    }

    #[test]
    fn pcapng_writer_refusals_write_nothing() {
        let refused = |r: io::Result<()>, what: &str| {
            let e = r.expect_err(what);
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{what}: {e}");
            e.to_string()
        };
        let mut w = PcapNgWriter::new(Vec::new(), &["a", "b"]).unwrap();
        w.write(1, 10, &FRAME_A, Some("kept")).unwrap();
        let before = w.bytes_written();
        let e = refused(w.write(2, 11, &FRAME_A, None), "interface 2");
        assert!(e.contains("interface 2"), "{e}");
        refused(w.write(u32::MAX, 11, &FRAME_A, None), "interface u32::MAX");
        let over = vec![0; MAX_RECORD_LEN as usize + 1];
        let e = refused(w.write(0, 12, &over, None), "oversize frame");
        assert!(e.contains("snap length"), "{e}");
        let long = "x".repeat(usize::from(u16::MAX) + 1);
        let e = refused(w.write(0, 13, &FRAME_A, Some(&long)), "oversize comment");
        assert!(e.contains("65536 bytes"), "{e}");
        assert_eq!(w.bytes_written(), before);
        // The writer is still usable and its output still reads cleanly.
        w.write(0, 14, &FRAME_B, None).unwrap();
        let bytes = w.finish().unwrap();
        let (_, pkts) = read(&bytes).unwrap();
        let got: Vec<_> = pkts.iter().map(|p| (p.interface, p.ts_ns)).collect();
        assert_eq!(got, vec![(1, 10), (0, 14)]);

        // no interfaces: every packet is refused
        let mut w = PcapNgWriter::new(Vec::new(), &[]).unwrap();
        refused(w.write(0, 1, &FRAME_A, None), "no interfaces");
        // an interface name longer than an option can hold
        let e = PcapNgWriter::new(Vec::new(), &["ok", &long]).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert!(e.to_string().contains("interface name"), "{e}");
    }

    // ---- robustness ----

    /// Every prefix of a valid file reads as an error or as a prefix of its packets.
    fn check_truncations(file: &[u8]) {
        let full = read(file).unwrap().1;
        for n in 0..file.len() {
            let Ok(mut r) = Reader::new(&file[..n]) else {
                continue;
            };
            let mut i = 0;
            loop {
                match r.next_packet() {
                    Ok(Some(p)) => {
                        assert!(i < full.len(), "cut at {n}: too many packets");
                        assert_eq!(p.into_owned(), full[i], "cut at {n}: packet {i}");
                        i += 1;
                    }
                    Ok(None) => break,
                    Err(e) => {
                        assert!(!e.to_string().is_empty());
                        break;
                    }
                }
            }
            assert!(i <= full.len());
        }
    }

    #[test]
    fn every_truncation_is_an_error_or_fewer_packets() {
        check_truncations(&ng_sample(Endian::Little));
        check_truncations(&ng_sample(Endian::Big));
        for e in [Endian::Little, Endian::Big] {
            check_truncations(&pcap_file(
                e,
                true,
                65535,
                &[(1, 2, &FRAME_A), (3, 4, &FRAME_B)],
            ));
        }
        // a truncated pcap never yields the packet that was cut
        let f = pcap_file(
            Endian::Little,
            true,
            65535,
            &[(1, 2, &FRAME_A), (3, 4, &FRAME_B)],
        );
        let mut r = Reader::new(&f[..f.len() - 1]).unwrap();
        assert!(r.next_packet().unwrap().is_some());
        assert!(r.next_packet().is_err());
    }

    struct XorShift(u64);
    impl XorShift {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    fn drain(bytes: &[u8]) -> Result<usize, CaptureError> {
        let mut r = Reader::new(bytes)?;
        let mut n = 0;
        while r.next_packet()?.is_some() {
            n += 1;
        }
        Ok(n)
    }

    #[test]
    fn garbage_is_an_error_and_never_a_panic() {
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        assert!(read(b"").is_err());
        assert!(read(b"\xd4\xc3").is_err());
        assert!(read(b"GET / HTTP/1.1\r\n\r\n").is_err());
        for _ in 0..2000 {
            let len = (rng.next() % 200) as usize;
            let mut g: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            if g.len() >= 4 && u32::from_le_bytes(g[..4].try_into().unwrap()) == BT_SHB {
                g[0] = 0;
            }
            let magic_ok = g.len() >= 4
                && [PCAP_MAGIC_NS, PCAP_MAGIC_US]
                    .iter()
                    .any(|m| g[..4] == m.to_le_bytes() || g[..4] == m.to_be_bytes());
            if !magic_ok {
                assert!(read(&g).is_err(), "garbage accepted: {g:02x?}");
            }
        }
        // Garbage behind a valid magic goes deeper into the parsers.
        let heads: [&[u8]; 4] = [
            &PCAP_MAGIC_NS.to_le_bytes(),
            &PCAP_MAGIC_US.to_be_bytes(),
            &[
                0x0a, 0x0d, 0x0d, 0x0a, 0x1c, 0, 0, 0, 0x4d, 0x3c, 0x2b, 0x1a,
            ],
            &[
                0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0x1c, 0x1a, 0x2b, 0x3c, 0x4d,
            ],
        ];
        for head in heads {
            for _ in 0..2000 {
                let len = (rng.next() % 300) as usize;
                let mut g = head.to_vec();
                g.extend((0..len).map(|_| rng.next() as u8));
                let _ = drain(&g);
            }
        }
        // Bit flips and byte overwrites in valid files.
        let samples = [
            ng_sample(Endian::Little),
            ng_sample(Endian::Big),
            pcap_file(
                Endian::Big,
                false,
                65535,
                &[(1, 2, &FRAME_A), (3, 4, &FRAME_B)],
            ),
        ];
        for s in &samples {
            for _ in 0..3000 {
                let mut f = s.clone();
                for _ in 0..1 + rng.next() % 3 {
                    let i = (rng.next() % f.len() as u64) as usize;
                    if rng.next() % 2 == 0 {
                        f[i] ^= 1 << (rng.next() % 8);
                    } else {
                        f[i] = [0, 0xff, 0x7f, 0x80, 4, 12][(rng.next() % 6) as usize];
                    }
                }
                let _ = drain(&f);
            }
        }
    }

    #[test]
    fn io_errors_are_reported_as_io() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        let e = Reader::new(Failing).unwrap_err();
        assert!(e.is_io());
        assert!(e.to_string().contains("disk on fire"), "{e}");
        assert!(std::error::Error::source(&e).is_some());
        let e = Reader::open("/nonexistent/flypaper.pcap").unwrap_err();
        assert!(
            e.is_io() && e.to_string().contains("/nonexistent/flypaper.pcap"),
            "{e}"
        );
    }
}

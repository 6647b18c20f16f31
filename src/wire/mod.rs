//! Zero-copy packet views and the one-pass frame parser. Pure: no I/O, no
//! allocation, no clock.
//!
//! Two layers, used for different jobs:
//!
//! - **Typed views** in the style of smoltcp's `wire`: [`ethernet::Frame`],
//!   [`ethernet::VlanTag`], [`arp::Packet`], [`ipv4::Packet`],
//!   [`ipv6::Packet`] (and its extension-header views), [`tcp::Packet`],
//!   [`udp::Packet`], [`icmp::Packet`]. Each wraps a `T: AsRef<[u8]>`;
//!   `new_checked` validates the lengths once so that every accessor is
//!   infallible afterwards, and the setters on `T: AsMut<[u8]>` build packets
//!   (the checksum setters are `fill_checksum`). Use them to look deeper into a
//!   frame than the parser does, and to construct reply frames
//!   ([`reply::syn_ack`] builds the SYN-ACK that answers a SYN).
//! - **[`parse`]**: the hot path. One pass over the frame, from the Ethernet
//!   header to the first bytes of the L4 header, into a small `Copy`
//!   [`Summary`] that the filter decides on. It never panics, whatever the
//!   input, and reads every field with one bounds check per header.
//!
//! Lengths are trusted in one direction only: the IP length bounds everything
//! after it (bytes beyond it are Ethernet padding), and every length field is
//! checked against the bytes that are actually there before it is used.

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod gre;
pub mod icmp;
pub mod ipv4;
pub mod ipv6;
pub mod mpls;
pub mod pppoe;
pub mod reply;
pub mod tcp;
pub mod udp;

#[cfg(test)]
mod testdata;

use core::fmt;
use core::ops::{Range, RangeFrom};

use crate::addr::Addr;

/// A fixed byte range of a header (`mod field` in each view).
pub(crate) type Field = Range<usize>;
/// The bytes from an offset to the end of a header or packet.
pub(crate) type Rest = RangeFrom<usize>;

/// Big-endian `u16` at `at`. The caller has checked the length.
#[inline(always)]
pub(crate) fn read_u16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Big-endian `u32` at `at`. The caller has checked the length.
#[inline(always)]
pub(crate) fn read_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline(always)]
pub(crate) fn write_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline(always)]
pub(crate) fn write_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// Why a frame or packet could not be parsed. One variant per kind of
/// malformation, so that a counter per kind can tell an operator what is
/// arriving.
///
/// The rule between the two families of variants: `Truncated` (and
/// `TinyFragment`) mean the bytes end before a header or a length says they
/// should; the `Bad*` variants mean a field is out of range or two headers
/// disagree.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ParseError {
    /// The frame ends inside a header, or before the length an IP header
    /// declares (including a frame shorter than the 14-byte Ethernet header).
    Truncated,
    /// More than [`MAX_VLAN_TAGS`] 802.1Q/802.1ad/0x9100 tags.
    TooManyVlanTags,
    /// A PPPoE session header of another version or type, a code other
    /// than 0, a length beyond the frame, or an invalid PPP protocol.
    BadPppoe,
    /// More than [`mpls::MAX_LABELS`] MPLS labels.
    TooManyMplsLabels,
    /// The IP version nibble disagrees with the EtherType.
    BadVersion,
    /// IPv4 header length (IHL) below 5 words.
    BadIhl,
    /// IPv4 total length smaller than the header length.
    BadTotalLength,
    /// IPv4 header checksum wrong.
    BadChecksum,
    /// An IPv4 option whose length is below 2 or runs past the header.
    BadIpOptions,
    /// IPv6 payload length 0: a jumbogram, which a bridge never carries.
    Jumbogram,
    /// More than [`ipv6::MAX_EXTENSION_HEADERS`] IPv6 extension headers.
    TooManyExtensionHeaders,
    /// An IPv6 hop-by-hop header anywhere but first (RFC 8200 section 4.1).
    MisplacedHopByHop,
    /// A second IPv6 fragment header in one packet.
    DuplicateFragmentHeader,
    /// A first fragment too short to hold the L4 header (or the rest of the
    /// IPv6 header chain): the classic tiny-fragment evasion, RFC 1858.
    TinyFragment,
    /// TCP data offset below 5 words, or beyond the end of the segment.
    BadDataOffset,
    /// UDP length field below 8 or beyond the end of the IP payload.
    BadUdpLength,
    /// ARP for Ethernet/IPv4 whose address lengths are not 6 and 4.
    BadArp,
}

impl ParseError {
    /// Every variant, in declaration order (for counter arrays and tests).
    pub const ALL: &'static [ParseError] = &[
        ParseError::Truncated,
        ParseError::TooManyVlanTags,
        ParseError::BadPppoe,
        ParseError::TooManyMplsLabels,
        ParseError::BadVersion,
        ParseError::BadIhl,
        ParseError::BadTotalLength,
        ParseError::BadChecksum,
        ParseError::BadIpOptions,
        ParseError::Jumbogram,
        ParseError::TooManyExtensionHeaders,
        ParseError::MisplacedHopByHop,
        ParseError::DuplicateFragmentHeader,
        ParseError::TinyFragment,
        ParseError::BadDataOffset,
        ParseError::BadUdpLength,
        ParseError::BadArp,
    ];

    /// Number of variants (size of a counter array).
    pub const COUNT: usize = ParseError::ALL.len();

    /// Position in [`ParseError::ALL`] (a counter index): the variant's
    /// discriminant, since `ALL` lists them in declaration order.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// A stable name for stats and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            ParseError::Truncated => "truncated",
            ParseError::TooManyVlanTags => "too-many-vlan-tags",
            ParseError::BadPppoe => "bad-pppoe",
            ParseError::TooManyMplsLabels => "too-many-mpls-labels",
            ParseError::BadVersion => "bad-version",
            ParseError::BadIhl => "bad-ihl",
            ParseError::BadTotalLength => "bad-total-length",
            ParseError::BadChecksum => "bad-checksum",
            ParseError::BadIpOptions => "bad-ip-options",
            ParseError::Jumbogram => "jumbogram",
            ParseError::TooManyExtensionHeaders => "too-many-extension-headers",
            ParseError::MisplacedHopByHop => "misplaced-hop-by-hop",
            ParseError::DuplicateFragmentHeader => "duplicate-fragment-header",
            ParseError::TinyFragment => "tiny-fragment",
            ParseError::BadDataOffset => "bad-data-offset",
            ParseError::BadUdpLength => "bad-udp-length",
            ParseError::BadArp => "bad-arp",
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for ParseError {}

/// IP protocol numbers (IPv4 protocol, IPv6 next header) that flypaper names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IpProtocol {
    HopByHop,
    Icmp,
    Tcp,
    Udp,
    Ipv6Route,
    Ipv6Frag,
    Esp,
    Ah,
    Icmpv6,
    Ipv6NoNxt,
    Ipv6Opts,
    Unknown(u8),
}

impl IpProtocol {
    pub const HOP_BY_HOP: u8 = 0;
    pub const ICMP: u8 = 1;
    /// IPv4 in IP (IP-in-IP, 4in6).
    pub const IPIP: u8 = 4;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
    /// IPv6 in IP (6in4, 6in6).
    pub const IPV6_ENCAP: u8 = 41;
    pub const GRE: u8 = 47;
    pub const SCTP: u8 = 132;
    pub const UDPLITE: u8 = 136;
    pub const IPV6_ROUTE: u8 = 43;
    pub const IPV6_FRAG: u8 = 44;
    pub const ESP: u8 = 50;
    pub const AH: u8 = 51;
    pub const ICMPV6: u8 = 58;
    pub const IPV6_NO_NXT: u8 = 59;
    pub const IPV6_OPTS: u8 = 60;
}

impl From<u8> for IpProtocol {
    #[inline]
    fn from(v: u8) -> IpProtocol {
        match v {
            IpProtocol::HOP_BY_HOP => IpProtocol::HopByHop,
            IpProtocol::ICMP => IpProtocol::Icmp,
            IpProtocol::TCP => IpProtocol::Tcp,
            IpProtocol::UDP => IpProtocol::Udp,
            IpProtocol::IPV6_ROUTE => IpProtocol::Ipv6Route,
            IpProtocol::IPV6_FRAG => IpProtocol::Ipv6Frag,
            IpProtocol::ESP => IpProtocol::Esp,
            IpProtocol::AH => IpProtocol::Ah,
            IpProtocol::ICMPV6 => IpProtocol::Icmpv6,
            IpProtocol::IPV6_NO_NXT => IpProtocol::Ipv6NoNxt,
            IpProtocol::IPV6_OPTS => IpProtocol::Ipv6Opts,
            other => IpProtocol::Unknown(other),
        }
    }
}

impl From<IpProtocol> for u8 {
    #[inline]
    fn from(p: IpProtocol) -> u8 {
        match p {
            IpProtocol::HopByHop => IpProtocol::HOP_BY_HOP,
            IpProtocol::Icmp => IpProtocol::ICMP,
            IpProtocol::Tcp => IpProtocol::TCP,
            IpProtocol::Udp => IpProtocol::UDP,
            IpProtocol::Ipv6Route => IpProtocol::IPV6_ROUTE,
            IpProtocol::Ipv6Frag => IpProtocol::IPV6_FRAG,
            IpProtocol::Esp => IpProtocol::ESP,
            IpProtocol::Ah => IpProtocol::AH,
            IpProtocol::Icmpv6 => IpProtocol::ICMPV6,
            IpProtocol::Ipv6NoNxt => IpProtocol::IPV6_NO_NXT,
            IpProtocol::Ipv6Opts => IpProtocol::IPV6_OPTS,
            IpProtocol::Unknown(v) => v,
        }
    }
}

/// What [`parse`] found in one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Number of 802.1Q/802.1ad/0x9100 tags skipped (at most
    /// [`MAX_VLAN_TAGS`]).
    pub vlan_tags: u8,
    /// The EtherType after the tags (for an 802.3 frame, its length field).
    pub ethertype: u16,
    /// What the IP packet (if any) was carried in between the tags and the
    /// IP header.
    pub encap: Encap,
    /// For a tunnel (IP in IP, IPv6 in IPv4, GRE carrying IP, IPv4 or IPv6
    /// in IPv6), the outer packet, whose `l4` is [`L4::Tunnel`]:
    /// [`tunnel_inner`] parses the inner one.
    pub l3: L3,
}

/// The layer between the Ethernet header (and its tags) and IP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encap {
    None,
    /// A PPPoE session header and the PPP protocol field.
    Pppoe,
    /// An MPLS label stack of this many labels.
    Mpls(u8),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L3 {
    Arp,
    /// Any EtherType but IPv4, IPv6, ARP, PPPoE and MPLS, including 802.3
    /// frames whose type field is a length below 0x0600 (STP, LLC); a
    /// PPPoE session carrying a network protocol other than IP.
    Other,
    /// What a PPPoE link needs to come up: discovery frames (0x8863) and
    /// the PPP control protocols in session frames (LCP, PAP, CHAP, IPCP,
    /// IPV6CP, ...).
    LinkControl,
    /// An MPLS label stack followed by something that is not IP.
    MplsOther,
    Ip(IpSummary),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpSummary {
    /// 4 or 6.
    pub version: u8,
    /// IPv4 addresses are stored IPv4-mapped.
    pub src: Addr,
    pub dst: Addr,
    /// IPv4 protocol, or the IPv6 next header after the extension headers.
    pub proto: u8,
    /// TTL or hop limit.
    pub ttl: u8,
    pub frag: Frag,
    /// The IPv4 source-routing options (LSRR, SSRR) or an IPv6 routing
    /// header of type 0.
    pub source_route: bool,
    /// Offset of the IP header in the frame.
    pub l3_offset: u16,
    /// Offset of the L4 header in the frame (after IPv4 options or the IPv6
    /// extension headers). For a non-first fragment, where the fragment data
    /// starts.
    pub l4_offset: u16,
    /// For fragments: the identification (16 bits in IPv4, 32 in IPv6),
    /// the fragment's offset in bytes, and the bytes of data it carries
    /// (from `l4_offset` to the end of the packet).
    pub frag_id: u32,
    pub frag_offset: u16,
    pub frag_len: u16,
    /// More fragments follow (IPv4 MF, the IPv6 fragment header's M).
    pub frag_more: bool,
    /// Where the transport header ends, counted as fragment offsets are:
    /// from the end of the IPv4 header, or from the end of the IPv6
    /// fragment header (so the extension headers after it count too). TCP's
    /// data offset, 8 for UDP and ICMP, 0 for other protocols and non-first
    /// fragments: what a later fragment must not overlap.
    pub l4_header_len: u16,
    pub l4: L4,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Frag {
    /// Not a fragment (an IPv6 atomic fragment, offset 0 without
    /// more-fragments, counts as not a fragment: RFC 6946).
    #[default]
    None,
    /// Offset 0 with more-fragments: holds the L4 header.
    First,
    /// Offset above 0: holds no L4 header.
    Later,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L4 {
    Tcp(TcpSummary),
    Udp {
        sport: u16,
        dport: u16,
    },
    /// ICMPv4.
    Icmp {
        ty: u8,
        code: u8,
    },
    Icmpv6 {
        ty: u8,
        code: u8,
    },
    /// An IP tunnel: IPv4 (4) or IPv6 (41) in IP, or plain GRE (version 0)
    /// carrying IPv4 or IPv6.
    Tunnel,
    /// Another protocol (GRE carrying something else, ESP, SCTP, ...), or
    /// ICMP of the other IP family.
    Other,
    /// A non-first fragment, whatever its protocol: no L4 header present.
    Fragment,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpSummary {
    pub sport: u16,
    pub dport: u16,
    /// The flags byte: [`tcp::flags`].
    pub flags: u8,
}

const ETH_HEADER_LEN: usize = 14;
const VLAN_TAG_LEN: usize = 4;
/// Tags (802.1Q, 802.1ad, 0x9100, in any mix) the parser looks through;
/// a deeper stack is `TooManyVlanTags`.
pub const MAX_VLAN_TAGS: u8 = 3;

/// IPv4 option types (RFC 791).
mod ipv4_option {
    pub const END: u8 = 0;
    pub const NOP: u8 = 1;
    /// Loose and strict source and record route.
    pub const LSRR: u8 = 131;
    pub const SSRR: u8 = 137;
}

/// Parse one Ethernet frame (from the destination MAC; no FCS). Never panics
/// on any input; no allocation.
#[inline(always)]
pub fn parse(frame: &[u8]) -> Result<Summary, ParseError> {
    if frame.len() < ETH_HEADER_LEN {
        return Err(ParseError::Truncated);
    }
    let mut ethertype = read_u16(frame, 12);
    let mut off = ETH_HEADER_LEN;
    let mut vlan_tags = 0u8;
    while ethernet::EtherType::is_tag(ethertype) {
        if vlan_tags == MAX_VLAN_TAGS {
            return Err(ParseError::TooManyVlanTags);
        }
        if frame.len() < off + VLAN_TAG_LEN {
            return Err(ParseError::Truncated);
        }
        ethertype = read_u16(frame, off + 2);
        off += VLAN_TAG_LEN;
        vlan_tags += 1;
    }
    let mut encap = Encap::None;
    let l3 = match ethertype {
        ethernet::EtherType::IPV4 => L3::Ip(parse_ipv4(frame, off)?),
        ethernet::EtherType::IPV6 => L3::Ip(parse_ipv6(frame, off)?),
        ethernet::EtherType::ARP => parse_arp(&frame[off..])?,
        ethernet::EtherType::PPPOE_DISCOVERY => L3::LinkControl,
        ethernet::EtherType::PPPOE_SESSION => {
            encap = Encap::Pppoe;
            let h = pppoe::Header::new_checked(&frame[off..])?;
            if h.code() != pppoe::CODE_SESSION {
                return Err(ParseError::BadPppoe);
            }
            let (payload, len) = pppoe::ppp_protocol(h.payload())?;
            // The PPPoE length bounds the packet like an IP length does.
            let end = off + pppoe::HEADER_LEN + usize::from(h.length());
            let ip = off + pppoe::HEADER_LEN + len;
            match payload {
                pppoe::PppPayload::Ipv4 => L3::Ip(parse_ipv4(&frame[..end], ip)?),
                pppoe::PppPayload::Ipv6 => L3::Ip(parse_ipv6(&frame[..end], ip)?),
                pppoe::PppPayload::Control => L3::LinkControl,
                pppoe::PppPayload::Other(_) => L3::Other,
            }
        }
        ethernet::EtherType::MPLS_UNICAST | ethernet::EtherType::MPLS_MULTICAST => {
            let stack = mpls::stack_len(&frame[off..])?;
            encap = Encap::Mpls((stack / mpls::ENTRY_LEN) as u8);
            let ip = off + stack;
            match frame.get(ip).map(|b| b >> 4) {
                Some(4) => L3::Ip(parse_ipv4(frame, ip)?),
                Some(6) => L3::Ip(parse_ipv6(frame, ip)?),
                _ => L3::MplsOther,
            }
        }
        _ => L3::Other,
    };
    Ok(Summary {
        vlan_tags,
        ethertype,
        encap,
        l3,
    })
}

#[inline]
fn parse_arp(arp: &[u8]) -> Result<L3, ParseError> {
    if arp.len() < arp::MIN_LEN {
        return Err(ParseError::Truncated);
    }
    if read_u16(arp, 0) == arp::Hardware::ETHERNET && read_u16(arp, 2) == ethernet::EtherType::IPV4
    {
        if arp[4] != 6 || arp[5] != 4 {
            return Err(ParseError::BadArp);
        }
        if arp.len() < arp::ETHERNET_IPV4_LEN {
            return Err(ParseError::Truncated);
        }
    }
    Ok(L3::Arp)
}

/// Walk IPv4 options (`opts`: header bytes 20 to the header length).
/// True when they hold a source route; `BadIpOptions` when an option's
/// length is below 2 or runs past the header.
#[inline(always)]
fn ipv4_source_route(opts: &[u8]) -> Result<bool, ParseError> {
    let mut i = 0;
    let mut route = false;
    while i < opts.len() {
        match opts[i] {
            ipv4_option::END => break,
            ipv4_option::NOP => {
                i += 1;
                continue;
            }
            t => {
                let Some(&len) = opts.get(i + 1) else {
                    return Err(ParseError::BadIpOptions);
                };
                let len = usize::from(len);
                if len < 2 || i + len > opts.len() {
                    return Err(ParseError::BadIpOptions);
                }
                route |= t == ipv4_option::LSRR || t == ipv4_option::SSRR;
                i += len;
            }
        }
    }
    Ok(route)
}

/// Parse an IPv4 packet at `off` (`frame` ends where whatever carries the
/// packet ends).
#[inline(always)]
fn parse_ipv4(frame: &[u8], off: usize) -> Result<IpSummary, ParseError> {
    let ip = &frame[off.min(frame.len())..];
    if ip.len() < ipv4::HEADER_LEN {
        return Err(ParseError::Truncated);
    }
    let ver_ihl = ip[0];
    if ver_ihl >> 4 != 4 {
        return Err(ParseError::BadVersion);
    }
    let header_len = usize::from(ver_ihl & 0x0f) * 4;
    if header_len < ipv4::HEADER_LEN {
        return Err(ParseError::BadIhl);
    }
    let total_len = usize::from(read_u16(ip, 2));
    if total_len < header_len {
        return Err(ParseError::BadTotalLength);
    }
    if total_len > ip.len() {
        return Err(ParseError::Truncated);
    }
    if !checksum::ipv4_header_ok(&ip[..header_len]) {
        return Err(ParseError::BadChecksum);
    }
    let source_route =
        header_len > ipv4::HEADER_LEN && ipv4_source_route(&ip[ipv4::HEADER_LEN..header_len])?;
    let flg_off = read_u16(ip, 6);
    let frag_offset = (flg_off & 0x1fff) << 3;
    let frag = if frag_offset != 0 {
        Frag::Later
    } else if flg_off & 0x2000 != 0 {
        Frag::First
    } else {
        Frag::None
    };
    let proto = ip[9];
    let seg = &ip[header_len..total_len];
    let (l4, l4_header_len) = parse_l4(proto, seg, frag, false)?;
    let l4_header_len = u16::from(l4_header_len);
    let l4_offset = off + header_len;
    Ok(IpSummary {
        version: 4,
        src: Addr::from_v4_bytes([ip[12], ip[13], ip[14], ip[15]]),
        dst: Addr::from_v4_bytes([ip[16], ip[17], ip[18], ip[19]]),
        proto,
        ttl: ip[8],
        frag,
        source_route,
        // Frame offsets fit: frames are far below 64 KiB.
        l3_offset: off as u16,
        l4_offset: l4_offset as u16,
        frag_id: u32::from(read_u16(ip, 4)),
        frag_offset,
        frag_len: seg.len() as u16,
        frag_more: flg_off & 0x2000 != 0,
        l4_header_len,
        l4,
    })
}

#[inline(always)]
fn parse_ipv6(frame: &[u8], off: usize) -> Result<IpSummary, ParseError> {
    let ip = &frame[off.min(frame.len())..];
    if ip.len() < ipv6::HEADER_LEN {
        return Err(ParseError::Truncated);
    }
    if ip[0] >> 4 != 6 {
        return Err(ParseError::BadVersion);
    }
    let payload_len = usize::from(read_u16(ip, 4));
    if payload_len == 0 {
        return Err(ParseError::Jumbogram);
    }
    let end = ipv6::HEADER_LEN + payload_len;
    if end > ip.len() {
        return Err(ParseError::Truncated);
    }
    let payload = &ip[ipv6::HEADER_LEN..end];
    let chain = ipv6::walk_extension_headers(ip[6], payload)?;
    let seg = &payload[chain.l4_offset..];
    let (l4, l4_header_len) = parse_l4(chain.next_header, seg, chain.frag, true)?;
    // At most 8 extension headers of at most 2048 bytes: fits a u16.
    let l4_header_len = (chain.l4_offset.saturating_sub(chain.frag_end)
        * usize::from(chain.frag == Frag::First)) as u16
        + u16::from(l4_header_len);
    // The chain is at most 8 headers of at most 2048 bytes each, so the
    // offset fits in a u16.
    let l4_offset = off + ipv6::HEADER_LEN + chain.l4_offset;
    let mut src = [0u8; 16];
    src.copy_from_slice(&ip[8..24]);
    let mut dst = [0u8; 16];
    dst.copy_from_slice(&ip[24..40]);
    Ok(IpSummary {
        version: 6,
        src: Addr::from_v6_bytes(src),
        dst: Addr::from_v6_bytes(dst),
        proto: chain.next_header,
        ttl: ip[7],
        frag: chain.frag,
        source_route: chain.rh0,
        l3_offset: off as u16,
        l4_offset: l4_offset as u16,
        frag_id: chain.frag_id,
        frag_offset: chain.frag_offset,
        frag_len: seg.len() as u16,
        frag_more: chain.frag_more,
        l4_header_len,
        l4,
    })
}

/// The inner packet of a tunnel: `outer` is what [`parse`] found in
/// `frame`, with `l4` [`L4::Tunnel`]. `None` when `outer` is not a tunnel
/// or is a fragment (its inner headers may not all be there). The inner
/// packet's own tunnels are reported (its `l4` is `L4::Tunnel`), not
/// entered: one level.
#[inline(never)]
pub fn tunnel_inner(frame: &[u8], outer: &IpSummary) -> Result<Option<IpSummary>, ParseError> {
    if outer.l4 != L4::Tunnel || outer.frag != Frag::None {
        return Ok(None);
    }
    let l3 = usize::from(outer.l3_offset);
    if frame.len() < l3 + ipv6::HEADER_LEN.min(ipv4::HEADER_LEN) {
        return Err(ParseError::Truncated);
    }
    // The outer packet's end, as its parse checked it.
    let end = if outer.version == 4 {
        l3 + usize::from(read_u16(frame, l3 + 2))
    } else {
        l3 + ipv6::HEADER_LEN + usize::from(read_u16(frame, l3 + 4))
    };
    let frame = &frame[..end.min(frame.len())];
    parse_tunnel(frame, usize::from(outer.l4_offset), outer.proto).map(Some)
}

#[inline(never)]
fn parse_tunnel(frame: &[u8], at: usize, proto: u8) -> Result<IpSummary, ParseError> {
    let (at, v6) = match proto {
        IpProtocol::IPIP => (at, false),
        IpProtocol::IPV6_ENCAP => (at, true),
        _ => {
            // `parse_l4` saw a plain GRE header carrying IPv4 or IPv6.
            let g = gre::Header::new_checked(&frame[at..])?;
            (
                at + g.header_len(),
                g.protocol() == ethernet::EtherType::IPV6,
            )
        }
    };
    if v6 {
        parse_ipv6(frame, at)
    } else {
        parse_ipv4(frame, at)
    }
}

/// The L4 header of an IP packet and the bytes of it present. `seg` is
/// bounded by the IP length.
#[inline(always)]
fn parse_l4(proto: u8, seg: &[u8], frag: Frag, v6: bool) -> Result<(L4, u8), ParseError> {
    if frag == Frag::Later {
        return Ok((L4::Fragment, 0));
    }
    let short = if frag == Frag::First {
        ParseError::TinyFragment
    } else {
        ParseError::Truncated
    };
    match proto {
        IpProtocol::TCP => {
            if seg.len() < tcp::HEADER_LEN {
                return Err(short);
            }
            let header_len = usize::from(seg[12] >> 4) * 4;
            if header_len < tcp::HEADER_LEN {
                return Err(ParseError::BadDataOffset);
            }
            if header_len > seg.len() {
                // In a first fragment the options run into the next fragment.
                return Err(if frag == Frag::First {
                    ParseError::TinyFragment
                } else {
                    ParseError::BadDataOffset
                });
            }
            let t = L4::Tcp(TcpSummary {
                sport: read_u16(seg, 0),
                dport: read_u16(seg, 2),
                flags: seg[13],
            });
            Ok((t, header_len as u8))
        }
        IpProtocol::UDP => {
            if seg.len() < udp::HEADER_LEN {
                return Err(short);
            }
            let len = usize::from(read_u16(seg, 4));
            // A first fragment holds only part of the datagram the length
            // field counts.
            if len < udp::HEADER_LEN || (frag == Frag::None && len > seg.len()) {
                return Err(ParseError::BadUdpLength);
            }
            let u = L4::Udp {
                sport: read_u16(seg, 0),
                dport: read_u16(seg, 2),
            };
            Ok((u, udp::HEADER_LEN as u8))
        }
        IpProtocol::ICMP if !v6 => {
            if seg.len() < icmp::MIN_LEN {
                return Err(short);
            }
            let i = L4::Icmp {
                ty: seg[0],
                code: seg[1],
            };
            Ok((i, icmp::MIN_LEN as u8))
        }
        IpProtocol::ICMPV6 if v6 => {
            if seg.len() < icmp::MIN_LEN {
                return Err(short);
            }
            let i = L4::Icmpv6 {
                ty: seg[0],
                code: seg[1],
            };
            Ok((i, icmp::MIN_LEN as u8))
        }
        IpProtocol::IPIP | IpProtocol::IPV6_ENCAP => Ok((L4::Tunnel, 0)),
        IpProtocol::GRE => {
            if seg.len() < gre::HEADER_LEN {
                return Err(short);
            }
            let g = gre::Header::new_unchecked(seg);
            let ip = matches!(
                g.protocol(),
                ethernet::EtherType::IPV4 | ethernet::EtherType::IPV6
            );
            if g.is_plain() && ip {
                if seg.len() < g.header_len() {
                    return Err(short);
                }
                Ok((L4::Tunnel, g.header_len() as u8))
            } else {
                Ok((L4::Other, 0))
            }
        }
        _ => Ok((L4::Other, 0)),
    }
}

#[cfg(test)]
mod test {
    use super::testdata::*;
    use super::*;

    fn a(s: &str) -> Addr {
        s.parse().unwrap()
    }

    fn ip(frame: &[u8]) -> IpSummary {
        match parse(frame) {
            Ok(Summary { l3: L3::Ip(ip), .. }) => ip,
            other => panic!("not IP: {other:?}"),
        }
    }

    #[test]
    fn ipv4_tcp_syn() {
        let s = parse(&TCP4_SYN).unwrap();
        assert_eq!(
            s,
            Summary {
                vlan_tags: 0,
                ethertype: 0x0800,
                encap: Encap::None,
                l3: L3::Ip(IpSummary {
                    version: 4,
                    src: a("198.51.100.1"),
                    dst: a("198.51.100.2"),
                    proto: 6,
                    ttl: 64,
                    frag: Frag::None,
                    source_route: false,
                    l3_offset: 14,
                    l4_offset: 34,
                    frag_id: u32::from(read_u16(&TCP4_SYN, 18)),
                    frag_offset: 0,
                    frag_len: 40,
                    frag_more: false,
                    l4_header_len: 40,
                    l4: L4::Tcp(TcpSummary {
                        sport: 60724,
                        dport: 80,
                        flags: tcp::flags::SYN,
                    }),
                }),
            }
        );
        let s = ip(&TCP4_SYNACK);
        match s.l4 {
            L4::Tcp(t) => {
                assert_eq!(t.flags, tcp::flags::SYN | tcp::flags::ACK);
                // Sequence numbers and window live in the TCP view.
                let seg =
                    tcp::Packet::new_checked(&TCP4_SYNACK[usize::from(s.l4_offset)..]).unwrap();
                assert_eq!(
                    (seg.seq_number(), seg.ack_number(), seg.window_len()),
                    (3_804_373_683, 662_979_422, 65160)
                );
            }
            other => panic!("{other:?}"),
        }
        // http.cap: TTL 128, data offset 7.
        let s = ip(&HTTP_CAP_SYN);
        assert_eq!(
            (s.src, s.dst, s.ttl),
            (a("145.254.160.237"), a("65.208.228.223"), 128)
        );
        assert!(matches!(
            s.l4,
            L4::Tcp(TcpSummary {
                sport: 3372,
                dport: 80,
                ..
            })
        ));
    }

    #[test]
    fn tcp_header_is_bounded_by_ip_length_not_padding() {
        // The SYN's 40-byte TCP header (data offset 10) with the IP total
        // length cut to 20 + 24: the frame still holds every byte (as
        // Ethernet padding), but the header runs past the IP packet.
        let mut f = TCP4_SYN.to_vec();
        assert_eq!(f[14 + 20 + 12] >> 4, 10);
        f[16] = 0;
        f[17] = 44;
        fix4(&mut f, 14);
        assert_eq!(parse(&f), Err(ParseError::BadDataOffset));
        // With the full length it parses.
        f[17] = 60;
        fix4(&mut f, 14);
        assert!(matches!(ip(&f).l4, L4::Tcp(_)));
    }

    #[test]
    fn ipv4_udp_dns_query() {
        let s = ip(&UDP4_DNS_QUERY);
        assert_eq!((s.version, s.proto, s.frag), (4, 17, Frag::None));
        assert_eq!((s.l3_offset, s.l4_offset), (14, 34));
        assert_eq!(
            s.l4,
            L4::Udp {
                sport: 40000,
                dport: 53
            }
        );
    }

    #[test]
    fn icmp_echo_and_errors() {
        let s = ip(&ICMP4_ECHO_REQUEST);
        assert_eq!(
            s.l4,
            L4::Icmp {
                ty: icmp::v4::ECHO_REQUEST,
                code: 0
            }
        );
        assert_eq!(
            ip(&ICMP4_ECHO_REPLY).l4,
            L4::Icmp {
                ty: icmp::v4::ECHO_REPLY,
                code: 0
            }
        );
        assert_eq!(
            ip(&ICMP4_PORT_UNREACHABLE).l4,
            L4::Icmp {
                ty: icmp::v4::DEST_UNREACHABLE,
                code: 3
            }
        );
        // 40 bytes of IPv4 options move the L4 header to offset 74.
        let s = ip(&ICMP4_ECHO_IP_OPTIONS);
        assert_eq!((s.l3_offset, s.l4_offset), (14, 74));
        assert_eq!(
            s.l4,
            L4::Icmp {
                ty: icmp::v4::ECHO_REQUEST,
                code: 0
            }
        );
    }

    #[test]
    fn ipv6_tcp() {
        let s = ip(&TCP6_SYN);
        assert_eq!(s.version, 6);
        assert_eq!((s.src, s.dst), (a("2001:db8::1"), a("2001:db8::2")));
        assert_eq!((s.proto, s.ttl, s.frag), (6, 64, Frag::None));
        assert_eq!((s.l3_offset, s.l4_offset), (14, 54));
        assert_eq!(
            s.l4,
            L4::Tcp(TcpSummary {
                sport: 41192,
                dport: 443,
                flags: tcp::flags::SYN,
            })
        );
    }

    #[test]
    fn ipv6_hop_by_hop_and_fragment() {
        let s = ip(&ip6_hbh_frag_first());
        assert_eq!((s.proto, s.frag), (17, Frag::First));
        assert_eq!(s.l4_offset, 14 + 40 + 8 + 8);
        assert_eq!(
            s.l4,
            L4::Udp {
                sport: 40001,
                dport: 9
            }
        );
        let s = ip(&IP6_HBH_FRAG_LAST);
        assert_eq!((s.proto, s.frag, s.l4), (17, Frag::Later, L4::Fragment));
        assert_eq!(s.l4_offset, 70);
    }

    #[test]
    fn icmpv6_neighbour_discovery() {
        let s = ip(&NEIGHBOR_SOLICITATION);
        assert_eq!((s.proto, s.ttl), (58, 255));
        assert_eq!(s.dst, a("ff02::1:ff00:2"));
        assert_eq!(
            s.l4,
            L4::Icmpv6 {
                ty: icmp::v6::NEIGHBOR_SOLICIT,
                code: 0
            }
        );
        let s = ip(&ROUTER_SOLICITATION);
        assert_eq!(s.src, a("fe80::ff:fe00:b"));
        assert_eq!(
            s.l4,
            L4::Icmpv6 {
                ty: icmp::v6::ROUTER_SOLICIT,
                code: 0
            }
        );
        assert_eq!(
            ip(&ICMP6_ECHO_REQUEST).l4,
            L4::Icmpv6 {
                ty: icmp::v6::ECHO_REQUEST,
                code: 0
            }
        );
    }

    #[test]
    fn vlan_tags() {
        let untagged = ip(&TCP4_SYN);
        let f = tagged(&TCP4_SYN, &[(0x8100, 100)]);
        let s = parse(&f).unwrap();
        assert_eq!((s.vlan_tags, s.ethertype), (1, 0x0800));
        let L3::Ip(t) = s.l3 else { panic!() };
        assert_eq!((t.l3_offset, t.l4_offset), (18, 38));
        assert_eq!(t.l4, untagged.l4);

        let f = tagged(&TCP6_SYN, &[(0x88a8, 200), (0x8100, 300)]);
        let s = parse(&f).unwrap();
        assert_eq!((s.vlan_tags, s.ethertype), (2, 0x86dd));
        let L3::Ip(t) = s.l3 else { panic!() };
        assert_eq!((t.l3_offset, t.l4_offset), (22, 62));
        assert_eq!(t.l4, ip(&TCP6_SYN).l4);

        let f = tagged(&ARP_REQUEST, &[(0x8100, 1), (0x8100, 2)]);
        assert_eq!(parse(&f).unwrap().l3, L3::Arp);

        // Three tags of every TPID are seen through; a fourth is too many.
        let f = tagged(&TCP4_SYN, &[(0x9100, 1), (0x88a8, 2), (0x8100, 3)]);
        let s = parse(&f).unwrap();
        assert_eq!(s.vlan_tags, 3);
        assert_eq!(
            s.l3,
            L3::Ip(IpSummary {
                l3_offset: 26,
                l4_offset: 46,
                ..untagged
            })
        );
        let f = tagged(
            &TCP4_SYN,
            &[(0x88a8, 1), (0x9100, 2), (0x8100, 3), (0x8100, 4)],
        );
        assert_eq!(parse(&f), Err(ParseError::TooManyVlanTags));
        // A tag cut short.
        let f = tagged(&TCP4_SYN, &[(0x8100, 100)]);
        for len in 14..18 {
            assert_eq!(parse(&f[..len]), Err(ParseError::Truncated));
        }
    }

    #[test]
    fn arp() {
        for f in [&ARP_REQUEST[..], &ARP_REPLY[..], &ARP_REQUEST_PADDED[..]] {
            assert_eq!(
                parse(f),
                Ok(Summary {
                    vlan_tags: 0,
                    ethertype: 0x0806,
                    encap: Encap::None,
                    l3: L3::Arp,
                })
            );
        }
        for len in 0..ARP_REQUEST.len() {
            assert_eq!(
                parse(&ARP_REQUEST[..len]),
                Err(ParseError::Truncated),
                "len {len}"
            );
        }
        let mut bad = ARP_REQUEST;
        bad[18] = 5; // hardware length 5 for Ethernet
        assert_eq!(parse(&bad), Err(ParseError::BadArp));
        // Another hardware type: only the 8-byte fixed part is required.
        let mut other = ARP_REQUEST;
        other[15] = 6; // IEEE 802
        assert_eq!(parse(&other[..22]).unwrap().l3, L3::Arp);
        assert_eq!(parse(&other[..21]), Err(ParseError::Truncated));
    }

    #[test]
    fn non_ip() {
        let s = parse(&STP_CONFIG_BPDU).unwrap();
        assert_eq!((s.vlan_tags, s.ethertype, s.l3), (0, 0x0026, L3::Other));
        // LLDP, an EtherType flypaper does not parse.
        let mut lldp = STP_CONFIG_BPDU;
        lldp[12..14].copy_from_slice(&[0x88, 0xcc]);
        assert_eq!(parse(&lldp).unwrap().l3, L3::Other);
        // Just the Ethernet header.
        assert_eq!(parse(&STP_CONFIG_BPDU[..14]).unwrap().l3, L3::Other);
    }

    #[test]
    fn ipv4_fragment_pair() {
        let s = ip(&IP4_FRAG_FIRST);
        assert_eq!((s.proto, s.frag), (1, Frag::First));
        assert_eq!(s.l4, L4::Icmp { ty: 8, code: 0 });
        let s = ip(&IP4_FRAG_LAST);
        assert_eq!((s.proto, s.frag, s.l4), (1, Frag::Later, L4::Fragment));
        assert_eq!(s.l4_offset, 34);
        // Ethernet padding after a short fragment is ignored.
        let mut padded = IP4_FRAG_LAST.to_vec();
        padded.extend([0; 6]);
        assert_eq!(ip(&padded), s);
        // Any protocol's later fragment is a Fragment; TCP included.
        let mut tcp_later = IP4_FRAG_LAST;
        tcp_later[23] = 6;
        fix4(&mut tcp_later, 14);
        assert_eq!(ip(&tcp_later).l4, L4::Fragment);
    }

    /// A first fragment of `proto` whose IP payload is the first `n` bytes of
    /// `l4`, built from IP4_FRAG_FIRST's header.
    fn first_fragment(proto: u8, l4: &[u8], n: usize, more: bool) -> Vec<u8> {
        let mut f = IP4_FRAG_FIRST[..34].to_vec();
        f[16..18].copy_from_slice(&(20 + n as u16).to_be_bytes());
        f[20] = if more { 0x20 } else { 0 };
        f[23] = proto;
        fix4(&mut f, 14);
        f.extend(&l4[..n]);
        f
    }

    #[test]
    fn tiny_fragments() {
        let tcp = &TCP4_SYN[34..];
        for n in 0..20 {
            assert_eq!(
                parse(&first_fragment(6, tcp, n, true)),
                Err(ParseError::TinyFragment)
            );
            assert_eq!(
                parse(&first_fragment(6, tcp, n, false)),
                Err(ParseError::Truncated)
            );
        }
        // The options run into the next fragment (RFC 1858 style).
        for n in 20..40 {
            assert_eq!(
                parse(&first_fragment(6, tcp, n, true)),
                Err(ParseError::TinyFragment)
            );
            assert_eq!(
                parse(&first_fragment(6, tcp, n, false)),
                Err(ParseError::BadDataOffset)
            );
        }
        let udp = &UDP4_DNS_QUERY[34..];
        for n in 0..8 {
            assert_eq!(
                parse(&first_fragment(17, udp, n, true)),
                Err(ParseError::TinyFragment)
            );
            assert_eq!(
                parse(&first_fragment(17, udp, n, false)),
                Err(ParseError::Truncated)
            );
        }
        // A UDP first fragment holds less than its length field counts.
        assert_eq!(
            ip(&first_fragment(17, udp, 16, true)).l4,
            L4::Udp {
                sport: 40000,
                dport: 53
            }
        );
        let icmp = &ICMP4_ECHO_REQUEST[34..];
        for n in 0..4 {
            assert_eq!(
                parse(&first_fragment(1, icmp, n, true)),
                Err(ParseError::TinyFragment)
            );
            assert_eq!(
                parse(&first_fragment(1, icmp, n, false)),
                Err(ParseError::Truncated)
            );
        }
        assert_eq!(
            ip(&first_fragment(1, icmp, 4, false)).l4,
            L4::Icmp { ty: 8, code: 0 }
        );

        // IPv6: the first fragment cut inside the UDP header.
        for n in 0..8u16 {
            let mut f = ip6_hbh_frag_first();
            f.truncate(70 + usize::from(n));
            f[18..20].copy_from_slice(&(16 + n).to_be_bytes());
            assert_eq!(parse(&f), Err(ParseError::TinyFragment), "n {n}");
        }
    }

    #[test]
    fn ipv4_malformations() {
        let mut f = TCP4_SYN;
        for ihl in 0..5 {
            f[14] = 0x40 | ihl;
            assert_eq!(parse(&f), Err(ParseError::BadIhl));
        }
        f[14] = 0x65; // version 6 in an IPv4 EtherType
        assert_eq!(parse(&f), Err(ParseError::BadVersion));

        let mut f = TCP4_SYN;
        f[16..18].copy_from_slice(&61u16.to_be_bytes()); // beyond the frame
        assert_eq!(parse(&f), Err(ParseError::Truncated));
        f[16..18].copy_from_slice(&19u16.to_be_bytes()); // below the header
        assert_eq!(parse(&f), Err(ParseError::BadTotalLength));
        f[14] = 0x4f; // 60-byte header, total length 59
        f[16..18].copy_from_slice(&59u16.to_be_bytes());
        assert_eq!(parse(&f), Err(ParseError::BadTotalLength));

        let mut f = TCP4_SYN;
        for off in 0..5u8 {
            f[46] = off << 4;
            assert_eq!(parse(&f), Err(ParseError::BadDataOffset));
        }
        f[46] = 0xb0; // 44-byte header in a 40-byte segment
        assert_eq!(parse(&f), Err(ParseError::BadDataOffset));

        let mut f = UDP4_DNS_QUERY;
        for len in [0u16, 7, 38, 0xffff] {
            f[38..40].copy_from_slice(&len.to_be_bytes());
            assert_eq!(parse(&f), Err(ParseError::BadUdpLength), "udp length {len}");
        }
        // UDP length shorter than the IP payload is allowed (trailing bytes).
        f[38..40].copy_from_slice(&8u16.to_be_bytes());
        assert!(parse(&f).is_ok());

        // ICMPv6 inside IPv4 and an unknown protocol are just Other.
        let mut f = ICMP4_ECHO_REQUEST;
        f[23] = 58;
        fix4(&mut f, 14);
        assert_eq!(ip(&f).l4, L4::Other);
        f[23] = 47; // GRE whose flags word (0x0800) is not plain GRE
        fix4(&mut f, 14);
        assert_eq!(ip(&f).l4, L4::Other);
        // A wrong header checksum is malformed.
        f[22] ^= 1;
        assert_eq!(parse(&f), Err(ParseError::BadChecksum));
    }

    #[test]
    fn ipv6_malformations() {
        let mut f = TCP6_SYN;
        f[14] = 0x40;
        assert_eq!(parse(&f), Err(ParseError::BadVersion));

        let mut f = TCP6_SYN;
        f[18..20].copy_from_slice(&0u16.to_be_bytes());
        assert_eq!(parse(&f), Err(ParseError::Jumbogram));
        f[18..20].copy_from_slice(&41u16.to_be_bytes());
        assert_eq!(parse(&f), Err(ParseError::Truncated));

        let mut f = TCP6_SYN;
        f[66] = 0x40;
        assert_eq!(parse(&f), Err(ParseError::BadDataOffset));

        // Nine destination-options headers.
        let mut f = TCP6_SYN[..54].to_vec();
        f[20] = 60;
        for _ in 0..9 {
            f.extend([60, 0, 0, 0, 0, 0, 0, 0]);
        }
        let n = f.len() - 54;
        f[18..20].copy_from_slice(&(n as u16).to_be_bytes());
        assert_eq!(parse(&f), Err(ParseError::TooManyExtensionHeaders));

        // Hop-by-hop after a destination options header.
        let mut f = TCP6_SYN[..54].to_vec();
        f[20] = 60;
        f.extend([0, 0, 0, 0, 0, 0, 0, 0, 59, 0, 0, 0, 0, 0, 0, 0]);
        f[18..20].copy_from_slice(&16u16.to_be_bytes());
        assert_eq!(parse(&f), Err(ParseError::MisplacedHopByHop));

        // ESP ends the walk: L4 Other with proto 50.
        let mut f = TCP6_SYN;
        f[20] = 50;
        let s = ip(&f);
        assert_eq!((s.proto, s.l4, s.l4_offset), (50, L4::Other, 54));
        // ICMPv4 inside IPv6 is not ICMP.
        f[20] = 1;
        assert_eq!(ip(&f).l4, L4::Other);
    }

    #[test]
    fn every_truncation_of_every_frame_is_an_error() {
        for (name, f) in all_frames() {
            // Where the headers parse() reads end: ARP 28 bytes; the IP length
            // bounds everything else; an 802.3 frame needs only its header.
            let need = match name {
                "ARP_REQUEST" | "ARP_REPLY" | "ARP_REQUEST_PADDED" => 42,
                "STP_CONFIG_BPDU" => 14,
                _ => f.len(),
            };
            assert!(parse(&f).is_ok(), "{name}");
            for len in 0..need {
                assert!(parse(&f[..len]).is_err(), "{name} cut to {len}");
            }
            for len in need..=f.len() {
                assert!(parse(&f[..len]).is_ok(), "{name} cut to {len}");
            }
        }
        assert_eq!(parse(&[]), Err(ParseError::Truncated));
    }

    /// xorshift64: a tiny deterministic PRNG for the property tests.
    struct XorShift(u64);

    impl XorShift {
        fn next(&mut self) -> u64 {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            x
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }

        fn bytes(&mut self, n: usize) -> Vec<u8> {
            (0..n).map(|_| self.next() as u8).collect()
        }
    }

    /// What every `Ok` from `parse` must satisfy.
    fn check_invariants(frame: &[u8], s: &Summary) {
        assert!(s.vlan_tags <= 2);
        if let L3::Ip(ip) = s.l3 {
            assert!(ip.version == 4 || ip.version == 6);
            assert_eq!(usize::from(ip.l3_offset), 14 + 4 * usize::from(s.vlan_tags));
            assert!(ip.l3_offset < ip.l4_offset);
            assert!(usize::from(ip.l4_offset) <= frame.len());
            if let L4::Tcp(_) = ip.l4 {
                assert!(usize::from(ip.l4_offset) + 20 <= frame.len());
            }
            assert_eq!(ip.frag == Frag::Later, ip.l4 == L4::Fragment);
        }
    }

    #[test]
    fn parse_never_panics_on_random_input() {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let frames = all_frames();
        let prefixes: [&[u8]; 6] = [
            &[0x08, 0x00, 0x45],
            &[0x08, 0x00, 0x4f],
            &[0x86, 0xdd, 0x60],
            &[0x08, 0x06],
            &[0x81, 0x00, 0x00, 0x01, 0x86, 0xdd, 0x60],
            &[
                0x88, 0xa8, 0x00, 0x01, 0x81, 0x00, 0x00, 0x02, 0x08, 0x00, 0x45,
            ],
        ];
        let mut ok = 0usize;
        for i in 0..300_000 {
            let f = match i % 3 {
                // Pure noise.
                0 => {
                    let n = rng.below(160);
                    rng.bytes(n)
                }
                // Noise after a plausible EtherType and version.
                1 => {
                    let p = prefixes[rng.below(prefixes.len())];
                    let mut f = rng.bytes(12);
                    f.extend(p);
                    let n = rng.below(140);
                    f.extend(rng.bytes(n));
                    f
                }
                // A real frame with a few bytes changed, then maybe cut.
                _ => {
                    let mut f = frames[rng.below(frames.len())].1.clone();
                    for _ in 0..1 + rng.below(4) {
                        let at = rng.below(f.len().min(120));
                        f[at] = rng.next() as u8;
                    }
                    let keep = f.len() - rng.below(8).min(f.len());
                    f.truncate(keep);
                    f
                }
            };
            if let Ok(s) = parse(&f) {
                check_invariants(&f, &s);
                ok += 1;
            }
        }
        // The mutated real frames must reach the deep paths, not all fail early.
        assert!(ok > 10_000, "only {ok} random frames parsed");
    }

    /// `new_checked` validates once so that no accessor can panic afterwards.
    #[test]
    fn views_never_panic_after_new_checked() {
        let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
        let mut checked = 0usize;
        for _ in 0..100_000 {
            let n = rng.below(96);
            let mut b = rng.bytes(n);
            // Make plausible lengths likely.
            if n > 5 {
                b[0] = 0x45 + (rng.next() as u8 % 11);
                b[4] = rng.next() as u8 % 8;
                b[5] = rng.next() as u8 % 8;
            }
            if n > 12 {
                b[2] = 0;
                b[3] = rng.below(n + 8) as u8;
                b[12] = (rng.next() as u8 % 16) << 4;
            }
            if let Ok(p) = ethernet::Frame::new_checked(&b[..]) {
                let _ = (p.dst_addr(), p.src_addr(), p.ethertype(), p.payload());
            }
            if let Ok(p) = ethernet::VlanTag::new_checked(&b[..]) {
                let _ = (p.pcp(), p.dei(), p.vlan_id(), p.ethertype(), p.payload());
            }
            if let Ok(p) = arp::Packet::new_checked(&b[..]) {
                checked += 1;
                let _ = (p.hardware_type(), p.protocol_type(), p.operation());
                let _ = (p.source_hardware_addr(), p.source_protocol_addr());
                let _ = (p.target_hardware_addr(), p.target_protocol_addr());
            }
            if let Ok(p) = ipv4::Packet::new_checked(&b[..]) {
                checked += 1;
                let _ = (p.version(), p.header_len(), p.total_len(), p.frag_offset());
                let _ = (p.src_addr(), p.dst_addr(), p.options(), p.payload());
                let _ = p.verify_checksum();
            }
            if let Ok(p) = ipv6::Packet::new_checked(&b[..]) {
                let _ = (p.flow_label(), p.src_addr(), p.dst_addr(), p.payload());
            }
            if let Ok(p) = ipv6::ExtHeader::new_checked(&b[..]) {
                let _ = (p.next_header(), p.data());
            }
            if let Ok(p) = ipv6::AuthHeader::new_checked(&b[..]) {
                let _ = (p.spi(), p.sequence_number(), p.icv());
            }
            if let Ok(p) = ipv6::FragmentHeader::new_checked(&b[..]) {
                let _ = (p.frag_offset(), p.more_frags(), p.ident());
            }
            let _ = ipv6::walk_extension_headers(b.first().copied().unwrap_or(0), &b);
            if let Ok(p) = tcp::Packet::new_checked(&b[..]) {
                checked += 1;
                let _ = (p.flags(), p.options(), p.payload());
                let _ = p.verify_checksum(a("192.0.2.1"), a("192.0.2.2"));
            }
            if let Ok(p) = udp::Packet::new_checked(&b[..]) {
                let _ = p.payload();
                let _ = p.verify_checksum(a("2001:db8::1"), a("2001:db8::2"));
            }
            if let Ok(p) = icmp::Packet::new_checked(&b[..]) {
                let _ = (p.rest_of_header(), p.data(), p.verify_checksum_v4());
            }
        }
        assert!(checked > 1000, "only {checked} buffers passed a check");
    }

    #[test]
    fn parse_error_names_are_unique_and_indices_follow_all() {
        let mut seen = std::collections::HashSet::new();
        for (i, e) in ParseError::ALL.iter().enumerate() {
            assert!(seen.insert(e.as_str()), "{e}");
            assert_eq!(e.to_string(), e.as_str());
            assert_eq!(e.index(), i, "ALL lists {e} out of declaration order");
        }
        assert_eq!(ParseError::COUNT, ParseError::BadArp.index() + 1);
    }

    #[test]
    fn ip_protocol_round_trips() {
        for v in 0..=255u8 {
            assert_eq!(u8::from(IpProtocol::from(v)), v);
        }
        assert_eq!(IpProtocol::from(6), IpProtocol::Tcp);
        assert_eq!(IpProtocol::from(47), IpProtocol::Unknown(47));
    }
}

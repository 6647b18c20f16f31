//! IPv6 (RFC 8200): the fixed header, the extension headers, and the walk
//! along the extension-header chain to the upper-layer header.

use std::net::Ipv6Addr;

use super::{read_u16, read_u32, write_u16, write_u32, Frag, IpProtocol, ParseError};

mod field {
    use crate::wire::Field;

    pub const VER_TC_FLOW: Field = 0..4;
    pub const LENGTH: Field = 4..6;
    pub const NXT_HDR: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC_ADDR: Field = 8..24;
    pub const DST_ADDR: Field = 24..40;
}

/// The version field of every IPv6 header.
pub const VERSION: u8 = 6;
/// Length of the fixed header.
pub const HEADER_LEN: usize = field::DST_ADDR.end;

/// The longest extension-header chain [`walk_extension_headers`] follows.
pub const MAX_EXTENSION_HEADERS: usize = 8;

/// A view of an IPv6 packet's fixed header and payload.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<Packet<T>, ParseError> {
        let p = Packet::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Truncated` when the buffer is shorter than the fixed header plus the
    /// payload length. Bytes beyond that (padding) are allowed. The version
    /// is not checked, and neither is a payload length of 0 (a jumbogram,
    /// which [`parse`](crate::wire::parse) rejects).
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        let d = self.buffer.as_ref();
        if d.len() < HEADER_LEN || d.len() < HEADER_LEN + usize::from(self.payload_len()) {
            return Err(ParseError::Truncated);
        }
        Ok(())
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    fn ver_tc_flow(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::VER_TC_FLOW.start)
    }

    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }

    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (self.ver_tc_flow() >> 20) as u8
    }

    /// The 20-bit flow label.
    #[inline]
    pub fn flow_label(&self) -> u32 {
        self.ver_tc_flow() & 0x000f_ffff
    }

    /// Bytes after the fixed header, extension headers included.
    #[inline]
    pub fn payload_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[field::NXT_HDR])
    }

    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::SRC_ADDR]);
        Ipv6Addr::from(a)
    }

    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::DST_ADDR]);
        Ipv6Addr::from(a)
    }

    /// The payload (extension headers and upper layer), bounded by the
    /// payload length.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        &self.buffer.as_ref()[HEADER_LEN..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    fn set_ver_tc_flow(&mut self, v: u32) {
        write_u32(self.buffer.as_mut(), field::VER_TC_FLOW.start, v);
    }

    #[inline]
    pub fn set_version(&mut self, v: u8) {
        let w = (self.ver_tc_flow() & 0x0fff_ffff) | (u32::from(v) << 28);
        self.set_ver_tc_flow(w);
    }

    #[inline]
    pub fn set_traffic_class(&mut self, tc: u8) {
        let w = (self.ver_tc_flow() & 0xf00f_ffff) | (u32::from(tc) << 20);
        self.set_ver_tc_flow(w);
    }

    #[inline]
    pub fn set_flow_label(&mut self, label: u32) {
        let w = (self.ver_tc_flow() & 0xfff0_0000) | (label & 0x000f_ffff);
        self.set_ver_tc_flow(w);
    }

    #[inline]
    pub fn set_payload_len(&mut self, len: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH.start, len);
    }

    #[inline]
    pub fn set_next_header(&mut self, p: IpProtocol) {
        self.buffer.as_mut()[field::NXT_HDR] = p.into();
    }

    #[inline]
    pub fn set_hop_limit(&mut self, h: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = h;
    }

    #[inline]
    pub fn set_src_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&a.octets());
    }

    #[inline]
    pub fn set_dst_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&a.octets());
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

mod ext_field {
    pub const NXT_HDR: usize = 0;
    pub const LENGTH: usize = 1;
    pub const DATA: usize = 2;
}

/// A view of a hop-by-hop, routing or destination-options header: next
/// header, length in 8-byte units not counting the first 8, then data (TLV
/// options, or the routing type, segments left and addresses).
#[derive(Debug, Clone)]
pub struct ExtHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ExtHeader<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> ExtHeader<T> {
        ExtHeader { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<ExtHeader<T>, ParseError> {
        let h = ExtHeader::new_unchecked(buffer);
        h.check_len()?;
        Ok(h)
    }

    /// `Truncated` when the buffer is shorter than the header's length.
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        let d = self.buffer.as_ref();
        if d.len() < 2 || d.len() < self.header_len() {
            return Err(ParseError::Truncated);
        }
        Ok(())
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[ext_field::NXT_HDR])
    }

    /// The whole header's length in bytes: (length field + 1) * 8.
    #[inline]
    pub fn header_len(&self) -> usize {
        (usize::from(self.buffer.as_ref()[ext_field::LENGTH]) + 1) * 8
    }

    /// The bytes after next header and length, to the end of the header.
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[ext_field::DATA..self.header_len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ExtHeader<T> {
    #[inline]
    pub fn set_next_header(&mut self, p: IpProtocol) {
        self.buffer.as_mut()[ext_field::NXT_HDR] = p.into();
    }

    /// Header length in bytes, a multiple of 8 from 8 to 2048.
    #[inline]
    pub fn set_header_len(&mut self, len: usize) {
        self.buffer.as_mut()[ext_field::LENGTH] = (len / 8).saturating_sub(1) as u8;
    }

    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[ext_field::DATA..end]
    }
}

mod frag_field {
    use crate::wire::Field;

    pub const NXT_HDR: usize = 0;
    pub const OFF_M: Field = 2..4;
    pub const IDENT: Field = 4..8;
}

/// Length of the fragment header.
pub const FRAG_HEADER_LEN: usize = 8;

/// A view of a fragment header.
#[derive(Debug, Clone)]
pub struct FragmentHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> FragmentHeader<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> FragmentHeader<T> {
        FragmentHeader { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<FragmentHeader<T>, ParseError> {
        let h = FragmentHeader::new_unchecked(buffer);
        h.check_len()?;
        Ok(h)
    }

    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        if self.buffer.as_ref().len() < FRAG_HEADER_LEN {
            return Err(ParseError::Truncated);
        }
        Ok(())
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[frag_field::NXT_HDR])
    }

    /// Fragment offset in bytes.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        read_u16(self.buffer.as_ref(), frag_field::OFF_M.start) & 0xfff8
    }

    #[inline]
    pub fn more_frags(&self) -> bool {
        read_u16(self.buffer.as_ref(), frag_field::OFF_M.start) & 0x0001 != 0
    }

    #[inline]
    pub fn ident(&self) -> u32 {
        read_u32(self.buffer.as_ref(), frag_field::IDENT.start)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> FragmentHeader<T> {
    #[inline]
    pub fn set_next_header(&mut self, p: IpProtocol) {
        self.buffer.as_mut()[frag_field::NXT_HDR] = p.into();
        self.buffer.as_mut()[1] = 0; // reserved
    }

    /// Fragment offset in bytes (a multiple of 8).
    #[inline]
    pub fn set_frag_offset(&mut self, offset: u16) {
        let d = self.buffer.as_mut();
        let v = (read_u16(d, frag_field::OFF_M.start) & 0x0007) | (offset & 0xfff8);
        write_u16(d, frag_field::OFF_M.start, v);
    }

    #[inline]
    pub fn set_more_frags(&mut self, more: bool) {
        let d = self.buffer.as_mut();
        let v = (read_u16(d, frag_field::OFF_M.start) & 0xfff8) | u16::from(more);
        write_u16(d, frag_field::OFF_M.start, v);
    }

    #[inline]
    pub fn set_ident(&mut self, id: u32) {
        write_u32(self.buffer.as_mut(), frag_field::IDENT.start, id);
    }
}

mod ah_field {
    use crate::wire::Field;

    pub const NXT_HDR: usize = 0;
    pub const LENGTH: usize = 1;
    pub const SPI: Field = 4..8;
    pub const SEQ: Field = 8..12;
}

/// The shortest authentication header: next header, length, reserved, SPI,
/// sequence number.
pub const AH_MIN_LEN: usize = ah_field::SEQ.end;

/// A view of an IPsec authentication header (RFC 4302): its length field
/// counts 4-byte units, less 2.
#[derive(Debug, Clone)]
pub struct AuthHeader<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> AuthHeader<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> AuthHeader<T> {
        AuthHeader { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<AuthHeader<T>, ParseError> {
        let h = AuthHeader::new_unchecked(buffer);
        h.check_len()?;
        Ok(h)
    }

    /// `Truncated` when the buffer is shorter than 12 bytes or than the
    /// header's length.
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        let d = self.buffer.as_ref();
        if d.len() < AH_MIN_LEN || d.len() < self.header_len() {
            return Err(ParseError::Truncated);
        }
        Ok(())
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[ah_field::NXT_HDR])
    }

    /// The whole header's length in bytes: (length field + 2) * 4.
    #[inline]
    pub fn header_len(&self) -> usize {
        (usize::from(self.buffer.as_ref()[ah_field::LENGTH]) + 2) * 4
    }

    #[inline]
    pub fn spi(&self) -> u32 {
        read_u32(self.buffer.as_ref(), ah_field::SPI.start)
    }

    #[inline]
    pub fn sequence_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), ah_field::SEQ.start)
    }

    /// The integrity check value: from byte 12 to the header's end
    /// (empty when the length field claims less than 12 bytes).
    #[inline]
    pub fn icv(&self) -> &[u8] {
        let end = self.header_len().max(AH_MIN_LEN);
        &self.buffer.as_ref()[AH_MIN_LEN..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> AuthHeader<T> {
    #[inline]
    pub fn set_next_header(&mut self, p: IpProtocol) {
        self.buffer.as_mut()[ah_field::NXT_HDR] = p.into();
    }

    /// Header length in bytes, a multiple of 4 from 12.
    #[inline]
    pub fn set_header_len(&mut self, len: usize) {
        self.buffer.as_mut()[ah_field::LENGTH] = (len / 4).saturating_sub(2) as u8;
    }

    #[inline]
    pub fn set_spi(&mut self, spi: u32) {
        write_u32(self.buffer.as_mut(), ah_field::SPI.start, spi);
    }

    #[inline]
    pub fn set_sequence_number(&mut self, seq: u32) {
        write_u32(self.buffer.as_mut(), ah_field::SEQ.start, seq);
    }
}

/// Where the extension-header chain of a packet ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chain {
    /// The upper-layer protocol: TCP, UDP, ICMPv6, ESP (50), no next header
    /// (59), anything that is not an extension header; for a non-first
    /// fragment, the fragment header's next header.
    pub next_header: u8,
    /// Offset of the upper-layer header (or, for a non-first fragment, of the
    /// fragment data) from the start of the IPv6 payload.
    pub l4_offset: usize,
    /// What the fragment header, if any, says.
    pub frag: Frag,
    /// Number of extension headers walked.
    pub headers: u8,
    /// The fragment header's offset in bytes, identification and
    /// more-fragments flag (zero and false without one).
    pub frag_offset: u16,
    pub frag_id: u32,
    pub frag_more: bool,
    /// A routing header of type 0 (source routing, deprecated by RFC 5095).
    pub rh0: bool,
    /// Offset from the start of the IPv6 payload to the end of the
    /// fragment header (where fragment offsets count from); 0 without one.
    pub frag_end: usize,
}

/// Walk the extension headers: hop-by-hop (0, only first), routing (43),
/// fragment (44), destination options (60), authentication (51). ESP (50),
/// no next header (59) and every other value end the walk. `payload` is the
/// IPv6 payload, bounded by the payload length.
///
/// Errors: more than [`MAX_EXTENSION_HEADERS`] headers, a hop-by-hop header
/// that is not first, a second fragment header, a header that runs past the
/// payload (`TinyFragment` in a first fragment, whose first fragment must
/// hold the whole chain (RFC 7112); `Truncated` otherwise). A non-first
/// fragment ends the walk at its fragment header: what follows is fragment
/// data.
#[inline]
pub fn walk_extension_headers(first: u8, payload: &[u8]) -> Result<Chain, ParseError> {
    let mut next_header = first;
    let mut pos = 0usize;
    let mut frag = Frag::None;
    let mut seen_frag = false;
    let mut headers = 0u8;
    let (mut frag_offset, mut frag_id, mut frag_more, mut rh0) = (0u16, 0u32, false, false);
    let mut frag_end = 0;
    loop {
        if !matches!(
            next_header,
            IpProtocol::HOP_BY_HOP
                | IpProtocol::IPV6_ROUTE
                | IpProtocol::IPV6_FRAG
                | IpProtocol::IPV6_OPTS
                | IpProtocol::AH
        ) {
            break;
        }
        if usize::from(headers) == MAX_EXTENSION_HEADERS {
            return Err(ParseError::TooManyExtensionHeaders);
        }
        if next_header == IpProtocol::HOP_BY_HOP && headers != 0 {
            return Err(ParseError::MisplacedHopByHop);
        }
        let short = if frag == Frag::First {
            ParseError::TinyFragment
        } else {
            ParseError::Truncated
        };
        // Every extension header is at least 8 bytes.
        if payload.len() < pos + 8 {
            return Err(short);
        }
        let this = next_header;
        next_header = payload[pos];
        let header_len = match this {
            IpProtocol::IPV6_FRAG => FRAG_HEADER_LEN,
            IpProtocol::AH => (usize::from(payload[pos + 1]) + 2) * 4,
            _ => (usize::from(payload[pos + 1]) + 1) * 8,
        };
        if payload.len() < pos + header_len {
            return Err(short);
        }
        headers += 1;
        if this == IpProtocol::IPV6_ROUTE && payload[pos + 2] == ROUTING_TYPE_0 {
            rh0 = true;
        }
        if this == IpProtocol::IPV6_FRAG {
            if seen_frag {
                return Err(ParseError::DuplicateFragmentHeader);
            }
            seen_frag = true;
            let off_m = read_u16(payload, pos + 2);
            frag_offset = off_m & 0xfff8;
            frag_more = off_m & 0x0001 != 0;
            frag_id = read_u32(payload, pos + 4);
            pos += FRAG_HEADER_LEN;
            frag_end = pos;
            if off_m & 0xfff8 != 0 {
                frag = Frag::Later;
                break;
            }
            if off_m & 0x0001 != 0 {
                frag = Frag::First;
            }
            continue;
        }
        pos += header_len;
    }
    Ok(Chain {
        next_header,
        l4_offset: pos,
        frag,
        headers,
        frag_offset,
        frag_id,
        frag_more,
        rh0,
        frag_end,
    })
}

/// Routing header type 0: source routing (RFC 5095 deprecates it).
pub const ROUTING_TYPE_0: u8 = 0;

#[cfg(test)]
mod test {
    use super::*;
    use crate::wire::testdata::*;

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&TCP6_SYN[14..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0);
        assert_eq!(p.flow_label(), 0x65ff4);
        assert_eq!(p.payload_len(), 40);
        assert_eq!(p.next_header(), IpProtocol::Tcp);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.src_addr(), v6("2001:db8::1"));
        assert_eq!(p.dst_addr(), v6("2001:db8::2"));
        assert_eq!(p.payload(), &TCP6_SYN[54..]);
        let chain = walk_extension_headers(u8::from(p.next_header()), p.payload()).unwrap();
        assert_eq!(
            chain,
            Chain {
                next_header: 6,
                l4_offset: 0,
                frag: Frag::None,
                headers: 0,
                frag_offset: 0,
                frag_id: 0,
                frag_more: false,
                rh0: false,
                frag_end: 0,
            }
        );

        let p = Packet::new_checked(&NEIGHBOR_SOLICITATION[14..]).unwrap();
        assert_eq!(p.next_header(), IpProtocol::Icmpv6);
        assert_eq!(p.hop_limit(), 255);
        assert_eq!(p.dst_addr(), v6("ff02::1:ff00:2"));
        assert_eq!(p.payload_len(), 32);
    }

    #[test]
    fn deconstruct_hop_by_hop_and_fragment() {
        let first = ip6_hbh_frag_first();
        let p = Packet::new_checked(&first[14..]).unwrap();
        assert_eq!(p.flow_label(), 0x5b6fb);
        assert_eq!(p.payload_len(), 1456);
        assert_eq!(p.next_header(), IpProtocol::HopByHop);
        let hbh = ExtHeader::new_checked(p.payload()).unwrap();
        assert_eq!(hbh.next_header(), IpProtocol::Ipv6Frag);
        assert_eq!(hbh.header_len(), 8);
        // Router alert (type 5, length 2, value 0: MLD), then PadN of length 0.
        assert_eq!(hbh.data(), &[0x05, 0x02, 0x00, 0x00, 0x01, 0x00]);
        let fh = FragmentHeader::new_checked(&p.payload()[8..]).unwrap();
        assert_eq!(fh.next_header(), IpProtocol::Udp);
        assert_eq!(fh.frag_offset(), 0);
        assert!(fh.more_frags());
        assert_eq!(fh.ident(), 0x606d_1f02);
        let chain = walk_extension_headers(0, p.payload()).unwrap();
        assert_eq!(
            chain,
            Chain {
                next_header: 17,
                l4_offset: 16,
                frag: Frag::First,
                headers: 2,
                frag_offset: 0,
                frag_id: 0x606d_1f02,
                frag_more: true,
                rh0: false,
                frag_end: 16,
            }
        );

        let p = Packet::new_checked(&IP6_HBH_FRAG_LAST[14..]).unwrap();
        assert_eq!(p.payload_len(), 184);
        let fh = FragmentHeader::new_checked(&p.payload()[8..]).unwrap();
        assert_eq!(fh.frag_offset(), 1440);
        assert!(!fh.more_frags());
        assert_eq!(fh.ident(), 0x606d_1f02);
        let chain = walk_extension_headers(0, p.payload()).unwrap();
        assert_eq!(
            chain,
            Chain {
                next_header: 17,
                l4_offset: 16,
                frag: Frag::Later,
                headers: 2,
                frag_offset: 1440,
                frag_id: 0x606d_1f02,
                frag_more: false,
                rh0: false,
                frag_end: 16,
            }
        );
    }

    #[test]
    fn construct() {
        let mut buf = [0u8; 94];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_version(6);
        p.set_traffic_class(0);
        p.set_flow_label(0x876f7);
        p.set_payload_len(40);
        p.set_next_header(IpProtocol::Tcp);
        p.set_hop_limit(64);
        p.set_src_addr(v6("2001:db8::2"));
        p.set_dst_addr(v6("2001:db8::1"));
        p.payload_mut().copy_from_slice(&TCP6_SYNACK[54..]);
        assert_eq!(&buf[..40], &TCP6_SYNACK[14..54]);
        assert_eq!(&buf[..80], &TCP6_SYNACK[14..]);

        // The last fragment: fixed header, hop-by-hop, fragment header.
        let want = &IP6_HBH_FRAG_LAST[14..];
        let mut buf = vec![0u8; want.len()];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_version(6);
        p.set_flow_label(0x5b6fb);
        p.set_payload_len(184);
        p.set_next_header(IpProtocol::HopByHop);
        p.set_hop_limit(64);
        p.set_src_addr(v6("2001:db8::1"));
        p.set_dst_addr(v6("2001:db8::2"));
        let payload = p.payload_mut();
        let mut hbh = ExtHeader::new_unchecked(&mut payload[..8]);
        hbh.set_next_header(IpProtocol::Ipv6Frag);
        hbh.set_header_len(8);
        hbh.data_mut()
            .copy_from_slice(&[0x05, 0x02, 0x00, 0x00, 0x01, 0x00]);
        let mut fh = FragmentHeader::new_unchecked(&mut payload[8..16]);
        fh.set_next_header(IpProtocol::Udp);
        fh.set_frag_offset(1440);
        fh.set_more_frags(false);
        fh.set_ident(0x606d_1f02);
        payload[16..].copy_from_slice(&want[56..]);
        assert_eq!(&buf[..], want);
    }

    #[test]
    fn auth_header() {
        // AH with a 12-byte ICV (HMAC-SHA1-96): length field 4 -> 24 bytes.
        let mut ah = [0u8; 24];
        let mut h = AuthHeader::new_unchecked(&mut ah[..]);
        h.set_next_header(IpProtocol::Tcp);
        h.set_header_len(24);
        h.set_spi(0x1000);
        h.set_sequence_number(7);
        assert_eq!(&ah[..12], &[6, 4, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 7]);
        let h = AuthHeader::new_checked(&ah[..]).unwrap();
        assert_eq!(h.next_header(), IpProtocol::Tcp);
        assert_eq!(h.header_len(), 24);
        assert_eq!(h.spi(), 0x1000);
        assert_eq!(h.sequence_number(), 7);
        assert_eq!(h.icv().len(), 12);
        for len in 0..24 {
            assert_eq!(
                AuthHeader::new_checked(&ah[..len]).unwrap_err(),
                ParseError::Truncated
            );
        }
        // Walked: AH then TCP at offset 24.
        let chain = walk_extension_headers(IpProtocol::AH, &ah).unwrap();
        assert_eq!(
            (chain.next_header, chain.l4_offset, chain.headers),
            (6, 24, 1)
        );
    }

    #[test]
    fn truncated() {
        let ip = &TCP6_SYN[14..];
        for len in 0..ip.len() {
            assert_eq!(
                Packet::new_checked(&ip[..len]).unwrap_err(),
                ParseError::Truncated,
                "len {len}"
            );
        }
        let payload = &IP6_HBH_FRAG_LAST[54..];
        for len in 0..8 {
            assert_eq!(
                ExtHeader::new_checked(&payload[..len]).unwrap_err(),
                ParseError::Truncated
            );
            assert_eq!(
                FragmentHeader::new_checked(&payload[8..8 + len]).unwrap_err(),
                ParseError::Truncated
            );
        }
        // The chain cut inside the hop-by-hop or the fragment header.
        for len in 0..16 {
            assert_eq!(
                walk_extension_headers(0, &payload[..len]).unwrap_err(),
                ParseError::Truncated,
                "len {len}"
            );
        }
    }

    #[test]
    fn walk_rules() {
        // Destination options, routing, destination options, then TCP.
        let mut chain = Vec::new();
        chain.extend([43, 0, 0, 0, 0, 0, 0, 0]); // dest opts, 8 bytes, next routing
        chain.extend([60, 1, 0, 0, 0, 0, 0, 0]); // routing, 16 bytes, next dest opts
        chain.extend([0; 8]);
        chain.extend([6, 0, 0, 0, 0, 0, 0, 0]); // dest opts, next TCP
        chain.extend([0; 20]);
        let c = walk_extension_headers(60, &chain).unwrap();
        assert_eq!((c.next_header, c.l4_offset, c.headers), (6, 32, 3));

        // ESP and no-next-header end the walk.
        let c = walk_extension_headers(50, &[0; 16]).unwrap();
        assert_eq!((c.next_header, c.l4_offset, c.headers), (50, 0, 0));
        let c = walk_extension_headers(60, &[59, 0, 0, 0, 0, 0, 0, 0]).unwrap();
        assert_eq!((c.next_header, c.l4_offset, c.headers), (59, 8, 1));

        // Eight headers are fine, nine are not.
        let mut many = Vec::new();
        for _ in 0..8 {
            many.extend([60, 0, 0, 0, 0, 0, 0, 0]);
        }
        many[56] = 17;
        many.extend([0; 8]);
        let c = walk_extension_headers(60, &many).unwrap();
        assert_eq!((c.next_header, c.l4_offset, c.headers), (17, 64, 8));
        many[56] = 60;
        many.extend([17, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            walk_extension_headers(60, &many).unwrap_err(),
            ParseError::TooManyExtensionHeaders
        );

        // Hop-by-hop only first.
        let bad = [0u8, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            walk_extension_headers(60, &bad).unwrap_err(),
            ParseError::MisplacedHopByHop
        );

        // Two fragment headers.
        let two = [44u8, 0, 0, 1, 0, 0, 0, 1, 17, 0, 0, 1, 0, 0, 0, 1];
        assert_eq!(
            walk_extension_headers(44, &two).unwrap_err(),
            ParseError::DuplicateFragmentHeader
        );

        // A first fragment cut inside the chain after its fragment header.
        let tiny = [60u8, 0, 0, 1, 0, 0, 0, 1, 6, 1, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            walk_extension_headers(44, &tiny).unwrap_err(),
            ParseError::TinyFragment
        );

        // An atomic fragment (offset 0, M 0) is not a fragment.
        let atomic = [6u8, 0, 0, 0, 0, 0, 0, 9];
        let c = walk_extension_headers(44, &atomic).unwrap();
        assert_eq!((c.next_header, c.frag, c.l4_offset), (6, Frag::None, 8));
    }
}

//! IPv4 headers (RFC 791), options included.

use std::net::Ipv4Addr;

use super::{checksum, read_u16, write_u16, IpProtocol, ParseError};

mod field {
    use crate::wire::Field;

    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLG_OFF: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC_ADDR: Field = 12..16;
    pub const DST_ADDR: Field = 16..20;
}

/// The version field of every IPv4 header.
pub const VERSION: u8 = 4;
/// Length of the header without options.
pub const HEADER_LEN: usize = field::DST_ADDR.end;
/// Length of the header with the most options (IHL 15).
pub const MAX_HEADER_LEN: usize = 60;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// A view of an IPv4 packet.
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

    /// Checks, in this order: 20 bytes present (`Truncated`), IHL at least 5
    /// (`BadIhl`), total length at least the header length
    /// (`BadTotalLength`), total length within the buffer (`Truncated`).
    /// Bytes beyond the total length (Ethernet padding) are allowed and
    /// ignored by [`payload`](Self::payload). The version is not checked.
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        let d = self.buffer.as_ref();
        if d.len() < HEADER_LEN {
            return Err(ParseError::Truncated);
        }
        let header_len = usize::from(self.header_len());
        if header_len < HEADER_LEN {
            return Err(ParseError::BadIhl);
        }
        let total_len = usize::from(self.total_len());
        if total_len < header_len {
            return Err(ParseError::BadTotalLength);
        }
        if total_len > d.len() {
            return Err(ParseError::Truncated);
        }
        Ok(())
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes (IHL * 4).
    #[inline]
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    #[inline]
    pub fn dscp(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] >> 2
    }

    #[inline]
    pub fn ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN] & 0x03
    }

    /// Header plus payload, in bytes.
    #[inline]
    pub fn total_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    #[inline]
    pub fn ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::IDENT.start)
    }

    #[inline]
    fn flg_off(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::FLG_OFF.start)
    }

    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.flg_off() & FLAG_DF != 0
    }

    #[inline]
    pub fn more_frags(&self) -> bool {
        self.flg_off() & FLAG_MF != 0
    }

    /// Fragment offset in bytes.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (self.flg_off() & OFFSET_MASK) << 3
    }

    /// True for any fragment: more-fragments set or an offset above 0.
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.flg_off() & (FLAG_MF | OFFSET_MASK) != 0
    }

    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    #[inline]
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[field::PROTOCOL])
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        let d = self.buffer.as_ref();
        Ipv4Addr::new(d[12], d[13], d[14], d[15])
    }

    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        let d = self.buffer.as_ref();
        Ipv4Addr::new(d[16], d[17], d[18], d[19])
    }

    /// The options (and their padding): header bytes 20 to the header length.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.header_len())]
    }

    /// The payload, bounded by the total length (padding excluded).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let range = usize::from(self.header_len())..usize::from(self.total_len());
        &self.buffer.as_ref()[range]
    }

    /// True when the header checksum is right.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::ipv4_header_ok(&self.buffer.as_ref()[..usize::from(self.header_len())])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    pub fn set_version(&mut self, v: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0x0f) | (v << 4);
    }

    /// Header length in bytes, a multiple of 4 (20 to 60).
    #[inline]
    pub fn set_header_len(&mut self, len: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0xf0) | ((len / 4) & 0x0f);
    }

    #[inline]
    pub fn set_dscp(&mut self, dscp: u8) {
        let b = &mut self.buffer.as_mut()[field::DSCP_ECN];
        *b = (*b & 0x03) | (dscp << 2);
    }

    #[inline]
    pub fn set_ecn(&mut self, ecn: u8) {
        let b = &mut self.buffer.as_mut()[field::DSCP_ECN];
        *b = (*b & 0xfc) | (ecn & 0x03);
    }

    #[inline]
    pub fn set_total_len(&mut self, len: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH.start, len);
    }

    #[inline]
    pub fn set_ident(&mut self, id: u16) {
        write_u16(self.buffer.as_mut(), field::IDENT.start, id);
    }

    #[inline]
    fn set_flg_off(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::FLG_OFF.start, v);
    }

    /// Clear the flags (reserved, DF, MF) and keep the offset.
    #[inline]
    pub fn clear_flags(&mut self) {
        let v = self.flg_off() & OFFSET_MASK;
        self.set_flg_off(v);
    }

    #[inline]
    pub fn set_dont_frag(&mut self, df: bool) {
        let v = (self.flg_off() & !FLAG_DF) | if df { FLAG_DF } else { 0 };
        self.set_flg_off(v);
    }

    #[inline]
    pub fn set_more_frags(&mut self, mf: bool) {
        let v = (self.flg_off() & !FLAG_MF) | if mf { FLAG_MF } else { 0 };
        self.set_flg_off(v);
    }

    /// Fragment offset in bytes (a multiple of 8).
    #[inline]
    pub fn set_frag_offset(&mut self, offset: u16) {
        let v = (self.flg_off() & !OFFSET_MASK) | ((offset >> 3) & OFFSET_MASK);
        self.set_flg_off(v);
    }

    #[inline]
    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[field::TTL] = ttl;
    }

    #[inline]
    pub fn set_protocol(&mut self, p: IpProtocol) {
        self.buffer.as_mut()[field::PROTOCOL] = p.into();
    }

    #[inline]
    pub fn set_checksum(&mut self, c: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM.start, c);
    }

    #[inline]
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&a.octets());
    }

    #[inline]
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&a.octets());
    }

    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.header_len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = usize::from(self.header_len())..usize::from(self.total_len());
        &mut self.buffer.as_mut()[range]
    }

    /// Compute and set the header checksum (set every other header field,
    /// options included, first).
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = {
            let header = &self.buffer.as_ref()[..usize::from(self.header_len())];
            checksum::checksum(header)
        };
        self.set_checksum(sum);
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::wire::testdata::*;

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&TCP4_SYN[14..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.dscp(), 0);
        assert_eq!(p.ecn(), 0);
        assert_eq!(p.total_len(), 60);
        assert_eq!(p.ident(), 0x68e2);
        assert!(p.dont_frag());
        assert!(!p.more_frags());
        assert_eq!(p.frag_offset(), 0);
        assert!(!p.is_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), IpProtocol::Tcp);
        assert_eq!(p.checksum(), 0x7d6f);
        assert_eq!(p.src_addr(), Ipv4Addr::new(198, 51, 100, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(198, 51, 100, 2));
        assert_eq!(p.options(), &[] as &[u8]);
        assert_eq!(p.payload(), &TCP4_SYN[34..]);
        assert!(p.verify_checksum());

        // Wireshark's http.cap: TTL 128 from Windows XP.
        let p = Packet::new_checked(&HTTP_CAP_SYN[14..]).unwrap();
        assert_eq!(p.ident(), 0x0f41);
        assert_eq!(p.ttl(), 128);
        assert_eq!(p.src_addr(), Ipv4Addr::new(145, 254, 160, 237));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(65, 208, 228, 223));
        assert!(p.verify_checksum());
    }

    #[test]
    fn deconstruct_options() {
        let p = Packet::new_checked(&ICMP4_ECHO_IP_OPTIONS[14..]).unwrap();
        assert_eq!(p.header_len(), 60);
        assert_eq!(p.total_len(), 124);
        assert_eq!(p.protocol(), IpProtocol::Icmp);
        let opts = p.options();
        assert_eq!(opts.len(), 40);
        // Timestamp option: type 0x44, length 40, pointer 9 (one stamp), flags 0.
        assert_eq!(&opts[..4], &[0x44, 40, 9, 0]);
        assert_eq!(p.payload().len(), 64);
        assert_eq!(p.payload()[0], 8, "ICMP echo request after the options");
        assert!(p.verify_checksum());
    }

    #[test]
    fn deconstruct_fragments() {
        let first = Packet::new_checked(&IP4_FRAG_FIRST[14..]).unwrap();
        assert_eq!(first.ident(), 0x1c9a);
        assert!(first.more_frags() && !first.dont_frag());
        assert_eq!(first.frag_offset(), 0);
        assert!(first.is_fragment());
        assert_eq!(first.payload().len(), 48);
        assert!(first.verify_checksum());
        let last = Packet::new_checked(&IP4_FRAG_LAST[14..]).unwrap();
        assert_eq!(last.ident(), 0x1c9a);
        assert!(!last.more_frags());
        assert_eq!(last.frag_offset(), 48);
        assert!(last.is_fragment());
        assert_eq!(last.payload().len(), 20);
        assert!(last.verify_checksum());
    }

    #[test]
    fn payload_ignores_ethernet_padding() {
        let mut padded = IP4_FRAG_LAST[14..].to_vec();
        padded.extend([0u8; 6]); // to the 60-byte Ethernet minimum
        let p = Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(p.payload(), &IP4_FRAG_LAST[34..]);
        assert!(p.verify_checksum());
    }

    #[test]
    fn verify_checksum_detects_corruption() {
        let mut bytes = TCP4_SYN[14..34].to_vec();
        bytes[8] -= 1; // TTL
        assert!(!Packet::new_unchecked(&bytes[..]).verify_checksum());
    }

    #[test]
    fn construct() {
        // The SYN-ACK header as Linux sends it: id 0, DF, TTL 64.
        let mut buf = [0u8; 60];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_version(4);
        p.set_header_len(20);
        p.set_dscp(0);
        p.set_ecn(0);
        p.set_total_len(60);
        p.set_ident(0);
        p.clear_flags();
        p.set_dont_frag(true);
        p.set_frag_offset(0);
        p.set_ttl(64);
        p.set_protocol(IpProtocol::Tcp);
        p.set_src_addr(Ipv4Addr::new(198, 51, 100, 2));
        p.set_dst_addr(Ipv4Addr::new(198, 51, 100, 1));
        p.payload_mut().copy_from_slice(&TCP4_SYNACK[34..]);
        p.fill_checksum();
        assert_eq!(p.checksum(), 0xe651);
        assert_eq!(&buf[..], &TCP4_SYNACK[14..]);

        // A fragment with options.
        let want = &ICMP4_ECHO_IP_OPTIONS[14..];
        let mut buf = vec![0u8; want.len()];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_version(4);
        p.set_header_len(60);
        p.set_total_len(124);
        p.set_ident(0x1bef);
        p.set_dont_frag(true);
        p.set_ttl(64);
        p.set_protocol(IpProtocol::Icmp);
        p.set_src_addr(Ipv4Addr::new(198, 51, 100, 1));
        p.set_dst_addr(Ipv4Addr::new(198, 51, 100, 2));
        p.options_mut().copy_from_slice(&want[20..60]);
        p.payload_mut().copy_from_slice(&want[60..]);
        p.fill_checksum();
        assert_eq!(&buf[..], want);

        let want = &IP4_FRAG_LAST[14..];
        let mut buf = vec![0u8; want.len()];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_version(4);
        p.set_header_len(20);
        p.set_total_len(40);
        p.set_ident(0x1c9a);
        p.set_more_frags(false);
        p.set_frag_offset(48);
        p.set_ttl(64);
        p.set_protocol(IpProtocol::Icmp);
        p.set_src_addr(Ipv4Addr::new(198, 51, 100, 1));
        p.set_dst_addr(Ipv4Addr::new(198, 51, 100, 2));
        p.payload_mut().copy_from_slice(&want[20..]);
        p.fill_checksum();
        assert_eq!(&buf[..], want);
    }

    #[test]
    fn truncated() {
        let ip = &TCP4_SYN[14..];
        for len in 0..ip.len() {
            let err = Packet::new_checked(&ip[..len]).unwrap_err();
            assert_eq!(err, ParseError::Truncated, "len {len}");
        }
        let ip = &ICMP4_ECHO_IP_OPTIONS[14..];
        for len in 0..ip.len() {
            assert!(Packet::new_checked(&ip[..len]).is_err(), "len {len}");
        }
    }

    #[test]
    fn malformed_lengths() {
        let mut ip = TCP4_SYN[14..].to_vec();
        for ihl in 0..5 {
            ip[0] = 0x40 | ihl;
            assert_eq!(
                Packet::new_checked(&ip[..]).unwrap_err(),
                ParseError::BadIhl
            );
        }
        ip[0] = 0x46; // 24-byte header
        ip[2..4].copy_from_slice(&23u16.to_be_bytes());
        assert_eq!(
            Packet::new_checked(&ip[..]).unwrap_err(),
            ParseError::BadTotalLength
        );
        ip[2..4].copy_from_slice(&24u16.to_be_bytes());
        assert!(Packet::new_checked(&ip[..]).is_ok());
        ip[2..4].copy_from_slice(&61u16.to_be_bytes());
        assert_eq!(
            Packet::new_checked(&ip[..]).unwrap_err(),
            ParseError::Truncated
        );
    }
}

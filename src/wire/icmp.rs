//! ICMPv4 (RFC 792) and ICMPv6 (RFC 4443): both start with type, code and
//! checksum, then four bytes whose meaning depends on the type (identifier and
//! sequence number for echo). ICMPv4's checksum covers the message alone;
//! ICMPv6's also covers the IPv6 pseudo-header.

use crate::addr::Addr;

use super::{checksum, read_u16, write_u16, IpProtocol, ParseError};

/// ICMPv4 message types.
pub mod v4 {
    pub const ECHO_REPLY: u8 = 0;
    pub const DEST_UNREACHABLE: u8 = 3;
    pub const REDIRECT: u8 = 5;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
    pub const PARAM_PROBLEM: u8 = 12;
    pub const TIMESTAMP_REQUEST: u8 = 13;
    pub const TIMESTAMP_REPLY: u8 = 14;
    pub const ADDRESS_MASK_REQUEST: u8 = 17;
    pub const ADDRESS_MASK_REPLY: u8 = 18;
}

/// ICMPv6 message types.
pub mod v6 {
    pub const DEST_UNREACHABLE: u8 = 1;
    pub const PACKET_TOO_BIG: u8 = 2;
    pub const TIME_EXCEEDED: u8 = 3;
    pub const PARAM_PROBLEM: u8 = 4;
    pub const ECHO_REQUEST: u8 = 128;
    pub const ECHO_REPLY: u8 = 129;
    /// Multicast listener discovery (RFC 2710, RFC 3810).
    pub const MLD_QUERY: u8 = 130;
    pub const MLD_REPORT: u8 = 131;
    pub const MLD_DONE: u8 = 132;
    pub const MLDV2_REPORT: u8 = 143;
    pub const ROUTER_SOLICIT: u8 = 133;
    pub const ROUTER_ADVERT: u8 = 134;
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    pub const NEIGHBOR_ADVERT: u8 = 136;
    pub const REDIRECT: u8 = 137;
}

mod field {
    use crate::wire::{Field, Rest};

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Field = 2..4;
    pub const ECHO_IDENT: Field = 4..6;
    pub const ECHO_SEQNO: Field = 6..8;
    pub const DATA: Rest = 8..;
}

/// Type, code and checksum: all that [`parse`](crate::wire::parse) requires.
pub const MIN_LEN: usize = field::CHECKSUM.end;
/// Type, code, checksum and the four type-specific bytes: what the view
/// requires. Every ICMPv4 and ICMPv6 message has them.
pub const HEADER_LEN: usize = field::DATA.start;

/// A view of an ICMPv4 or ICMPv6 message. The buffer must be exactly the
/// message (the IP payload), since the checksum covers all of it.
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

    /// `Truncated` below the 8-byte header.
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(ParseError::Truncated);
        }
        Ok(())
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    #[inline]
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// Echo identifier (meaningful for echo request and reply).
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ECHO_IDENT.start)
    }

    /// Echo sequence number (meaningful for echo request and reply).
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::ECHO_SEQNO.start)
    }

    /// The four type-specific bytes after the checksum.
    #[inline]
    pub fn rest_of_header(&self) -> [u8; 4] {
        let d = self.buffer.as_ref();
        [d[4], d[5], d[6], d[7]]
    }

    /// Everything after the 8-byte header (echo data, the quoted packet of
    /// an error, the target address and options of neighbour discovery).
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::DATA]
    }

    /// ICMPv4: true when the checksum over the message is right.
    #[inline]
    pub fn verify_checksum_v4(&self) -> bool {
        checksum::data(self.buffer.as_ref()) == 0xffff
    }

    /// ICMPv6: true when the checksum over the pseudo-header and the message
    /// is right.
    #[inline]
    pub fn verify_checksum_v6(&self, src: Addr, dst: Addr) -> bool {
        checksum::upper_layer(src, dst, IpProtocol::ICMPV6, self.buffer.as_ref()) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    pub fn set_msg_type(&mut self, t: u8) {
        self.buffer.as_mut()[field::TYPE] = t;
    }

    #[inline]
    pub fn set_msg_code(&mut self, c: u8) {
        self.buffer.as_mut()[field::CODE] = c;
    }

    #[inline]
    pub fn set_checksum(&mut self, c: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM.start, c);
    }

    #[inline]
    pub fn set_echo_ident(&mut self, id: u16) {
        write_u16(self.buffer.as_mut(), field::ECHO_IDENT.start, id);
    }

    #[inline]
    pub fn set_echo_seq_no(&mut self, seq: u16) {
        write_u16(self.buffer.as_mut(), field::ECHO_SEQNO.start, seq);
    }

    #[inline]
    pub fn set_rest_of_header(&mut self, rest: [u8; 4]) {
        self.buffer.as_mut()[4..8].copy_from_slice(&rest);
    }

    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA]
    }

    /// ICMPv4: compute and set the checksum over the message.
    #[inline]
    pub fn fill_checksum_v4(&mut self) {
        self.set_checksum(0);
        let sum = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(sum);
    }

    /// ICMPv6: compute and set the checksum over pseudo-header and message.
    #[inline]
    pub fn fill_checksum_v6(&mut self, src: Addr, dst: Addr) {
        self.set_checksum(0);
        let sum = !checksum::upper_layer(src, dst, IpProtocol::ICMPV6, self.buffer.as_ref());
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

    fn a(s: &str) -> Addr {
        s.parse().unwrap()
    }

    #[test]
    fn deconstruct_v4() {
        let p = Packet::new_checked(&ICMP4_ECHO_REQUEST[34..]).unwrap();
        assert_eq!(p.msg_type(), v4::ECHO_REQUEST);
        assert_eq!(p.msg_code(), 0);
        assert_eq!(p.echo_ident(), 6844);
        assert_eq!(p.echo_seq_no(), 1);
        assert_eq!(p.data().len(), 56);
        assert_eq!(&p.data()[16..20], &[0x10, 0x11, 0x12, 0x13]);
        assert!(p.verify_checksum_v4());

        let p = Packet::new_checked(&ICMP4_ECHO_REPLY[34..]).unwrap();
        assert_eq!(p.msg_type(), v4::ECHO_REPLY);
        assert_eq!(p.echo_ident(), 6844);
        assert!(p.verify_checksum_v4());

        let p = Packet::new_checked(&ICMP4_PORT_UNREACHABLE[34..]).unwrap();
        assert_eq!(p.msg_type(), v4::DEST_UNREACHABLE);
        assert_eq!(p.msg_code(), 3);
        assert_eq!(p.rest_of_header(), [0; 4]);
        // The quoted datagram: the IP header and UDP header of the query.
        assert_eq!(&p.data()[..28], &UDP4_DNS_QUERY[14..42]);
        assert!(p.verify_checksum_v4());
    }

    #[test]
    fn deconstruct_v6() {
        let (src, dst) = (a("2001:db8::1"), a("ff02::1:ff00:2"));
        let p = Packet::new_checked(&NEIGHBOR_SOLICITATION[54..]).unwrap();
        assert_eq!(p.msg_type(), v6::NEIGHBOR_SOLICIT);
        assert_eq!(p.msg_code(), 0);
        assert_eq!(p.checksum(), 0x1c1e);
        assert_eq!(p.rest_of_header(), [0; 4]);
        // Target 2001:db8::2, then the source link-layer address option.
        assert_eq!(&p.data()[..16], &a("2001:db8::2").0.to_be_bytes());
        assert_eq!(&p.data()[16..], &[1, 1, 2, 0, 0, 0, 0, 0x0a]);
        assert!(p.verify_checksum_v6(src, dst));
        assert!(!p.verify_checksum_v6(src, a("ff02::1:ff00:3")));

        let p = Packet::new_checked(&ICMP6_ECHO_REQUEST[54..]).unwrap();
        assert_eq!(p.msg_type(), v6::ECHO_REQUEST);
        assert_eq!((p.echo_ident(), p.echo_seq_no()), (6890, 1));
        assert!(p.verify_checksum_v6(a("2001:db8::1"), a("2001:db8::2")));

        let p = Packet::new_checked(&ROUTER_SOLICITATION[54..]).unwrap();
        assert_eq!(p.msg_type(), v6::ROUTER_SOLICIT);
        assert!(p.verify_checksum_v6(a("fe80::ff:fe00:b"), a("ff02::2")));
    }

    #[test]
    fn construct_v4() {
        let want = &ICMP4_ECHO_REPLY[34..];
        let mut buf = vec![0u8; want.len()];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_msg_type(v4::ECHO_REPLY);
        p.set_msg_code(0);
        p.set_echo_ident(6844);
        p.set_echo_seq_no(1);
        p.data_mut().copy_from_slice(&ICMP4_ECHO_REQUEST[42..]);
        p.fill_checksum_v4();
        assert_eq!(&buf[..], want);
    }

    #[test]
    fn construct_v6() {
        let want = &NEIGHBOR_SOLICITATION[54..];
        let mut buf = vec![0u8; want.len()];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_msg_type(v6::NEIGHBOR_SOLICIT);
        p.set_msg_code(0);
        p.set_rest_of_header([0; 4]);
        let data = p.data_mut();
        data[..16].copy_from_slice(&a("2001:db8::2").0.to_be_bytes());
        data[16..].copy_from_slice(&[1, 1, 2, 0, 0, 0, 0, 0x0a]);
        p.fill_checksum_v6(a("2001:db8::1"), a("ff02::1:ff00:2"));
        assert_eq!(&buf[..], want);
    }

    #[test]
    fn truncated() {
        let m = &ICMP4_ECHO_REQUEST[34..];
        for len in 0..HEADER_LEN {
            assert_eq!(
                Packet::new_checked(&m[..len]).unwrap_err(),
                ParseError::Truncated
            );
        }
        assert!(Packet::new_checked(&m[..HEADER_LEN]).is_ok());
    }
}

//! UDP datagrams (RFC 768).

use crate::addr::Addr;

use super::{checksum, read_u16, write_u16, IpProtocol, ParseError};

mod field {
    use crate::wire::Field;

    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const LENGTH: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
}

/// Length of the header.
pub const HEADER_LEN: usize = field::CHECKSUM.end;

/// A view of a UDP datagram.
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

    /// `Truncated` below 8 bytes; `BadUdpLength` when the length field is
    /// below 8 or beyond the buffer.
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        let d = self.buffer.as_ref();
        if d.len() < HEADER_LEN {
            return Err(ParseError::Truncated);
        }
        let len = usize::from(self.len());
        if len < HEADER_LEN || len > d.len() {
            return Err(ParseError::BadUdpLength);
        }
        Ok(())
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SRC_PORT.start)
    }

    #[inline]
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::DST_PORT.start)
    }

    /// Header plus payload, in bytes.
    #[inline]
    pub fn len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// True when the length field says there is no payload.
    #[inline]
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= HEADER_LEN
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// The payload, bounded by the length field.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.len())]
    }

    /// True when the checksum is right. Over IPv4 a zero checksum means "not
    /// computed" and passes; over IPv6 it is mandatory (RFC 8200 section 8.1).
    #[inline]
    pub fn verify_checksum(&self, src: Addr, dst: Addr) -> bool {
        if self.checksum() == 0 {
            return src.is_v4() && dst.is_v4();
        }
        let d = &self.buffer.as_ref()[..usize::from(self.len())];
        checksum::upper_layer(src, dst, IpProtocol::UDP, d) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    pub fn set_src_port(&mut self, port: u16) {
        write_u16(self.buffer.as_mut(), field::SRC_PORT.start, port);
    }

    #[inline]
    pub fn set_dst_port(&mut self, port: u16) {
        write_u16(self.buffer.as_mut(), field::DST_PORT.start, port);
    }

    #[inline]
    pub fn set_len(&mut self, len: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH.start, len);
    }

    #[inline]
    pub fn set_checksum(&mut self, c: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM.start, c);
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }

    /// Compute and set the checksum (a computed 0 is sent as 0xffff, RFC 768).
    /// Set the length and payload first.
    #[inline]
    pub fn fill_checksum(&mut self, src: Addr, dst: Addr) {
        self.set_checksum(0);
        let sum = {
            let d = &self.buffer.as_ref()[..usize::from(self.len())];
            match !checksum::upper_layer(src, dst, IpProtocol::UDP, d) {
                0 => 0xffff,
                c => c,
            }
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

    fn a(s: &str) -> Addr {
        s.parse().unwrap()
    }

    /// DNS query for example.com A IN, id 0x1d6b, recursion desired.
    const DNS_EXAMPLE_COM: [u8; 29] = [
        0x1d, 0x6b, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // header
        0x07, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 0x03, b'c', b'o', b'm', 0x00, // name
        0x00, 0x01, 0x00, 0x01, // type A, class IN
    ];

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&UDP4_DNS_QUERY[34..]).unwrap();
        assert_eq!(p.src_port(), 40000);
        assert_eq!(p.dst_port(), 53);
        assert_eq!(p.len(), 37);
        assert!(!p.is_empty());
        assert_eq!(p.checksum(), 0x21eb);
        assert_eq!(p.payload(), &DNS_EXAMPLE_COM);
        assert!(p.verify_checksum(a("198.51.100.1"), a("198.51.100.2")));
        assert!(!p.verify_checksum(a("198.51.100.1"), a("198.51.100.9")));

        // The IPv6 datagram of the hop-by-hop + fragment capture, reassembled.
        let d = ip6_hbh_frag_datagram();
        let p = Packet::new_checked(&d[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port()), (40001, 9));
        assert_eq!(p.len(), 1608);
        assert_eq!(p.checksum(), 0x7a20);
        assert!(p.verify_checksum(a("2001:db8::1"), a("2001:db8::2")));
    }

    #[test]
    fn zero_checksum() {
        let mut d = UDP4_DNS_QUERY[34..].to_vec();
        d[6] = 0;
        d[7] = 0;
        let p = Packet::new_checked(&d[..]).unwrap();
        assert!(p.verify_checksum(a("198.51.100.1"), a("198.51.100.2")));
        assert!(!p.verify_checksum(a("2001:db8::1"), a("2001:db8::2")));
    }

    #[test]
    fn construct() {
        let mut buf = [0u8; 37];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_src_port(40000);
        p.set_dst_port(53);
        p.set_len(37);
        p.payload_mut().copy_from_slice(&DNS_EXAMPLE_COM);
        p.fill_checksum(a("198.51.100.1"), a("198.51.100.2"));
        assert_eq!(&buf[..], &UDP4_DNS_QUERY[34..]);

        let want = ip6_hbh_frag_datagram();
        let mut buf = vec![0u8; want.len()];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_src_port(40001);
        p.set_dst_port(9);
        p.set_len(1608);
        p.payload_mut().copy_from_slice(&want[8..]);
        p.fill_checksum(a("2001:db8::1"), a("2001:db8::2"));
        assert_eq!(buf, want);
    }

    #[test]
    fn truncated() {
        let d = &UDP4_DNS_QUERY[34..];
        for len in 0..HEADER_LEN {
            assert_eq!(
                Packet::new_checked(&d[..len]).unwrap_err(),
                ParseError::Truncated
            );
        }
        // The header is there, the length field points past the end.
        for len in HEADER_LEN..d.len() {
            assert_eq!(
                Packet::new_checked(&d[..len]).unwrap_err(),
                ParseError::BadUdpLength
            );
        }
    }

    #[test]
    fn bad_length_field() {
        let mut d = UDP4_DNS_QUERY[34..].to_vec();
        for len in 0..8u16 {
            d[4..6].copy_from_slice(&len.to_be_bytes());
            assert_eq!(
                Packet::new_checked(&d[..]).unwrap_err(),
                ParseError::BadUdpLength
            );
        }
        d[4..6].copy_from_slice(&8u16.to_be_bytes());
        let p = Packet::new_checked(&d[..]).unwrap();
        assert!(p.is_empty() && p.payload().is_empty());
    }
}

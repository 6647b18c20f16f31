//! ARP (RFC 826). The view reads any hardware and protocol address lengths;
//! the constructors and the parser care about Ethernet/IPv4.

use super::ethernet::EtherType;
use super::{read_u16, write_u16, ParseError};

/// ARP hardware type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hardware {
    Ethernet,
    Unknown(u16),
}

impl Hardware {
    pub const ETHERNET: u16 = 1;
}

impl From<u16> for Hardware {
    #[inline]
    fn from(v: u16) -> Hardware {
        match v {
            Hardware::ETHERNET => Hardware::Ethernet,
            other => Hardware::Unknown(other),
        }
    }
}

impl From<Hardware> for u16 {
    #[inline]
    fn from(h: Hardware) -> u16 {
        match h {
            Hardware::Ethernet => Hardware::ETHERNET,
            Hardware::Unknown(v) => v,
        }
    }
}

/// ARP operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Operation {
    Request,
    Reply,
    Unknown(u16),
}

impl Operation {
    pub const REQUEST: u16 = 1;
    pub const REPLY: u16 = 2;
}

impl From<u16> for Operation {
    #[inline]
    fn from(v: u16) -> Operation {
        match v {
            Operation::REQUEST => Operation::Request,
            Operation::REPLY => Operation::Reply,
            other => Operation::Unknown(other),
        }
    }
}

impl From<Operation> for u16 {
    #[inline]
    fn from(o: Operation) -> u16 {
        match o {
            Operation::Request => Operation::REQUEST,
            Operation::Reply => Operation::REPLY,
            Operation::Unknown(v) => v,
        }
    }
}

mod field {
    use crate::wire::Field;

    pub const HTYPE: Field = 0..2;
    pub const PTYPE: Field = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Field = 6..8;

    // The address fields follow at offsets set by HLEN and PLEN.
    #[inline]
    pub const fn sha(hlen: u8, _plen: u8) -> Field {
        let start = OPER.end;
        start..start + hlen as usize
    }
    #[inline]
    pub const fn spa(hlen: u8, plen: u8) -> Field {
        let start = sha(hlen, plen).end;
        start..start + plen as usize
    }
    #[inline]
    pub const fn tha(hlen: u8, plen: u8) -> Field {
        let start = spa(hlen, plen).end;
        start..start + hlen as usize
    }
    #[inline]
    pub const fn tpa(hlen: u8, plen: u8) -> Field {
        let start = tha(hlen, plen).end;
        start..start + plen as usize
    }
}

/// The fixed part: hardware and protocol types, their lengths, operation.
pub const MIN_LEN: usize = field::OPER.end;
/// An Ethernet/IPv4 ARP packet: 8 + 2 * (6 + 4) bytes.
pub const ETHERNET_IPV4_LEN: usize = 28;

/// A view of an ARP packet.
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

    /// `Truncated` when the buffer is shorter than the fixed part or than the
    /// four addresses its length fields announce.
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        let d = self.buffer.as_ref();
        if d.len() < MIN_LEN {
            return Err(ParseError::Truncated);
        }
        if d.len() < field::tpa(d[field::HLEN], d[field::PLEN]).end {
            return Err(ParseError::Truncated);
        }
        Ok(())
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub fn hardware_type(&self) -> Hardware {
        Hardware::from(read_u16(self.buffer.as_ref(), field::HTYPE.start))
    }

    #[inline]
    pub fn protocol_type(&self) -> EtherType {
        EtherType::from(read_u16(self.buffer.as_ref(), field::PTYPE.start))
    }

    #[inline]
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    #[inline]
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    #[inline]
    pub fn operation(&self) -> Operation {
        Operation::from(read_u16(self.buffer.as_ref(), field::OPER.start))
    }

    #[inline]
    pub fn source_hardware_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[field::sha(self.hardware_len(), self.protocol_len())]
    }

    #[inline]
    pub fn source_protocol_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[field::spa(self.hardware_len(), self.protocol_len())]
    }

    #[inline]
    pub fn target_hardware_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[field::tha(self.hardware_len(), self.protocol_len())]
    }

    #[inline]
    pub fn target_protocol_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[field::tpa(self.hardware_len(), self.protocol_len())]
    }

    /// True for Ethernet hardware, IPv4 protocol, lengths 6 and 4.
    #[inline]
    pub fn is_ethernet_ipv4(&self) -> bool {
        self.hardware_type() == Hardware::Ethernet
            && self.protocol_type() == EtherType::Ipv4
            && self.hardware_len() == 6
            && self.protocol_len() == 4
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    #[inline]
    pub fn set_hardware_type(&mut self, h: Hardware) {
        write_u16(self.buffer.as_mut(), field::HTYPE.start, h.into());
    }

    #[inline]
    pub fn set_protocol_type(&mut self, p: EtherType) {
        write_u16(self.buffer.as_mut(), field::PTYPE.start, p.into());
    }

    #[inline]
    pub fn set_hardware_len(&mut self, len: u8) {
        self.buffer.as_mut()[field::HLEN] = len;
    }

    #[inline]
    pub fn set_protocol_len(&mut self, len: u8) {
        self.buffer.as_mut()[field::PLEN] = len;
    }

    #[inline]
    pub fn set_operation(&mut self, op: Operation) {
        write_u16(self.buffer.as_mut(), field::OPER.start, op.into());
    }

    /// Set after the lengths; `addr` must be `hardware_len()` bytes.
    #[inline]
    pub fn set_source_hardware_addr(&mut self, addr: &[u8]) {
        let f = field::sha(self.hardware_len(), self.protocol_len());
        self.buffer.as_mut()[f].copy_from_slice(addr);
    }

    /// Set after the lengths; `addr` must be `protocol_len()` bytes.
    #[inline]
    pub fn set_source_protocol_addr(&mut self, addr: &[u8]) {
        let f = field::spa(self.hardware_len(), self.protocol_len());
        self.buffer.as_mut()[f].copy_from_slice(addr);
    }

    #[inline]
    pub fn set_target_hardware_addr(&mut self, addr: &[u8]) {
        let f = field::tha(self.hardware_len(), self.protocol_len());
        self.buffer.as_mut()[f].copy_from_slice(addr);
    }

    #[inline]
    pub fn set_target_protocol_addr(&mut self, addr: &[u8]) {
        let f = field::tpa(self.hardware_len(), self.protocol_len());
        self.buffer.as_mut()[f].copy_from_slice(addr);
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::wire::testdata::*;

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&ARP_REQUEST[14..]).unwrap();
        assert_eq!(p.hardware_type(), Hardware::Ethernet);
        assert_eq!(p.protocol_type(), EtherType::Ipv4);
        assert_eq!(p.hardware_len(), 6);
        assert_eq!(p.protocol_len(), 4);
        assert!(p.is_ethernet_ipv4());
        assert_eq!(p.operation(), Operation::Request);
        assert_eq!(p.source_hardware_addr(), &[2, 0, 0, 0, 0, 0x0a]);
        assert_eq!(p.source_protocol_addr(), &[198, 51, 100, 1]);
        assert_eq!(p.target_hardware_addr(), &[0; 6]);
        assert_eq!(p.target_protocol_addr(), &[198, 51, 100, 2]);

        let p = Packet::new_checked(&ARP_REPLY[14..]).unwrap();
        assert_eq!(p.operation(), Operation::Reply);
        assert_eq!(p.source_hardware_addr(), &[2, 0, 0, 0, 0, 0x0b]);
        assert_eq!(p.source_protocol_addr(), &[198, 51, 100, 2]);
        assert_eq!(p.target_hardware_addr(), &[2, 0, 0, 0, 0, 0x0a]);
        assert_eq!(p.target_protocol_addr(), &[198, 51, 100, 1]);

        // With Ethernet padding after the 28 bytes.
        let p = Packet::new_checked(&ARP_REQUEST_PADDED[14..]).unwrap();
        assert_eq!(p.source_protocol_addr(), &[172, 16, 1, 101]);
        assert_eq!(p.target_protocol_addr(), &[172, 16, 1, 50]);
    }

    #[test]
    fn construct() {
        let mut buf = [0u8; ETHERNET_IPV4_LEN];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_hardware_type(Hardware::Ethernet);
        p.set_protocol_type(EtherType::Ipv4);
        p.set_hardware_len(6);
        p.set_protocol_len(4);
        p.set_operation(Operation::Reply);
        p.set_source_hardware_addr(&[2, 0, 0, 0, 0, 0x0b]);
        p.set_source_protocol_addr(&[198, 51, 100, 2]);
        p.set_target_hardware_addr(&[2, 0, 0, 0, 0, 0x0a]);
        p.set_target_protocol_addr(&[198, 51, 100, 1]);
        assert_eq!(&buf[..], &ARP_REPLY[14..]);
    }

    #[test]
    fn truncated() {
        let arp = &ARP_REQUEST[14..];
        for len in 0..ETHERNET_IPV4_LEN {
            assert_eq!(
                Packet::new_checked(&arp[..len]).unwrap_err(),
                ParseError::Truncated,
                "len {len}"
            );
        }
        // Lengths that announce more address bytes than there are.
        let mut big = arp.to_vec();
        big[4] = 255;
        assert_eq!(
            Packet::new_checked(&big[..]).unwrap_err(),
            ParseError::Truncated
        );
    }

    #[test]
    fn enums_round_trip() {
        for v in [0, 1, 2, 3, 6, 0xffff] {
            assert_eq!(u16::from(Hardware::from(v)), v);
            assert_eq!(u16::from(Operation::from(v)), v);
        }
    }
}

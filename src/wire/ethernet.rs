//! Ethernet II frames and 802.1Q / 802.1ad VLAN tags.
//!
//! A tagged frame is read one layer at a time: the frame's EtherType is the
//! tag protocol identifier (0x8100 or 0x88a8), its payload starts with the
//! tag, and [`VlanTag::payload`] is what follows the tag:
//!
//! ```text
//! dst(6) src(6) | TPID(2) | TCI(2) inner-type(2) | payload
//! Frame::ethertype()      | VlanTag over Frame::payload()
//! ```

use core::fmt;

use super::{read_u16, write_u16, ParseError};

/// An EtherType (or, below 0x0600, an 802.3 length field).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EtherType {
    Ipv4,
    Arp,
    Ipv6,
    /// 802.1Q customer VLAN tag (0x8100).
    Vlan,
    /// 802.1ad service VLAN tag, the outer tag of QinQ (0x88a8).
    QinQ,
    Unknown(u16),
}

impl EtherType {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const IPV6: u16 = 0x86dd;
    pub const VLAN: u16 = 0x8100;
    pub const QINQ: u16 = 0x88a8;
    /// The outer tag of QinQ before 802.1ad was assigned 0x88a8, still sent
    /// by some switches.
    pub const QINQ_OLD: u16 = 0x9100;
    pub const PPPOE_DISCOVERY: u16 = 0x8863;
    pub const PPPOE_SESSION: u16 = 0x8864;
    pub const MPLS_UNICAST: u16 = 0x8847;
    pub const MPLS_MULTICAST: u16 = 0x8848;
    /// Values below this are 802.3 length fields, not EtherTypes.
    pub const MIN_ETHERTYPE: u16 = 0x0600;

    /// True when the field is an 802.3 length (an LLC frame such as STP).
    #[inline]
    pub fn is_length(self) -> bool {
        u16::from(self) < EtherType::MIN_ETHERTYPE
    }

    /// True for the VLAN tag protocol identifiers (0x8100, 0x88a8, 0x9100).
    #[inline]
    pub fn is_vlan_tag(self) -> bool {
        matches!(self, EtherType::Vlan | EtherType::QinQ) || u16::from(self) == EtherType::QINQ_OLD
    }

    /// `is_vlan_tag` for a raw EtherType.
    #[inline(always)]
    pub const fn is_tag(v: u16) -> bool {
        v == EtherType::VLAN || v == EtherType::QINQ || v == EtherType::QINQ_OLD
    }
}

impl From<u16> for EtherType {
    #[inline]
    fn from(v: u16) -> EtherType {
        match v {
            EtherType::IPV4 => EtherType::Ipv4,
            EtherType::ARP => EtherType::Arp,
            EtherType::IPV6 => EtherType::Ipv6,
            EtherType::VLAN => EtherType::Vlan,
            EtherType::QINQ => EtherType::QinQ,
            other => EtherType::Unknown(other),
        }
    }
}

impl From<EtherType> for u16 {
    #[inline]
    fn from(t: EtherType) -> u16 {
        match t {
            EtherType::Ipv4 => EtherType::IPV4,
            EtherType::Arp => EtherType::ARP,
            EtherType::Ipv6 => EtherType::IPV6,
            EtherType::Vlan => EtherType::VLAN,
            EtherType::QinQ => EtherType::QINQ,
            EtherType::Unknown(v) => v,
        }
    }
}

/// A MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Address(pub [u8; 6]);

impl Address {
    pub const BROADCAST: Address = Address([0xff; 6]);

    /// From the first six bytes of `b`; `None` when there are fewer.
    #[inline]
    pub fn from_bytes(b: &[u8]) -> Option<Address> {
        let a: [u8; 6] = b.get(..6)?.try_into().ok()?;
        Some(Address(a))
    }

    #[inline]
    pub const fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }

    #[inline]
    pub fn is_broadcast(&self) -> bool {
        *self == Address::BROADCAST
    }

    /// Group bit set (broadcast included).
    #[inline]
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    #[inline]
    pub fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

mod field {
    use crate::wire::{Field, Rest};

    pub const DESTINATION: Field = 0..6;
    pub const SOURCE: Field = 6..12;
    pub const ETHERTYPE: Field = 12..14;
    pub const PAYLOAD: Rest = 14..;
}

/// Length of the Ethernet II header.
pub const HEADER_LEN: usize = field::PAYLOAD.start;
/// The shortest frame Ethernet carries, without its 4-byte FCS: a shorter
/// frame is padded with zeros to this length.
pub const MIN_FRAME_LEN: usize = 60;

/// A view of an Ethernet II frame (no FCS).
#[derive(Debug, Clone)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wrap a buffer without checking its length.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Frame<T> {
        Frame { buffer }
    }

    /// Wrap a buffer after [`check_len`](Self::check_len).
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Frame<T>, ParseError> {
        let f = Frame::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
    }

    /// `Truncated` when the buffer is shorter than the 14-byte header.
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(ParseError::Truncated)
        } else {
            Ok(())
        }
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    #[inline]
    pub const fn header_len() -> usize {
        HEADER_LEN
    }

    /// Header length plus `payload_len`.
    #[inline]
    pub const fn buffer_len(payload_len: usize) -> usize {
        HEADER_LEN + payload_len
    }

    #[inline]
    pub fn dst_addr(&self) -> Address {
        let d = self.buffer.as_ref();
        Address([d[0], d[1], d[2], d[3], d[4], d[5]])
    }

    #[inline]
    pub fn src_addr(&self) -> Address {
        let d = self.buffer.as_ref();
        Address([d[6], d[7], d[8], d[9], d[10], d[11]])
    }

    #[inline]
    pub fn ethertype(&self) -> EtherType {
        EtherType::from(read_u16(self.buffer.as_ref(), field::ETHERTYPE.start))
    }

    /// Everything after the header (a VLAN tag when the frame is tagged).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    #[inline]
    pub fn set_dst_addr(&mut self, a: Address) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&a.0);
    }

    #[inline]
    pub fn set_src_addr(&mut self, a: Address) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&a.0);
    }

    #[inline]
    pub fn set_ethertype(&mut self, t: EtherType) {
        write_u16(self.buffer.as_mut(), field::ETHERTYPE.start, t.into());
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Frame<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

mod tag_field {
    use crate::wire::{Field, Rest};

    pub const TCI: Field = 0..2;
    pub const ETHERTYPE: Field = 2..4;
    pub const PAYLOAD: Rest = 4..;
}

/// Length of a VLAN tag after its TPID: TCI and the inner EtherType.
pub const VLAN_TAG_LEN: usize = tag_field::PAYLOAD.start;

/// A view of an 802.1Q / 802.1ad tag: the four bytes that follow the TPID
/// (the tag's TCI, then the EtherType of what it encloses), and the rest.
#[derive(Debug, Clone)]
pub struct VlanTag<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VlanTag<T> {
    #[inline]
    pub const fn new_unchecked(buffer: T) -> VlanTag<T> {
        VlanTag { buffer }
    }

    #[inline]
    pub fn new_checked(buffer: T) -> Result<VlanTag<T>, ParseError> {
        let t = VlanTag::new_unchecked(buffer);
        t.check_len()?;
        Ok(t)
    }

    /// `Truncated` when the buffer is shorter than 4 bytes.
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        if self.buffer.as_ref().len() < VLAN_TAG_LEN {
            Err(ParseError::Truncated)
        } else {
            Ok(())
        }
    }

    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole tag control information field.
    #[inline]
    pub fn tci(&self) -> u16 {
        read_u16(self.buffer.as_ref(), tag_field::TCI.start)
    }

    /// Priority code point (3 bits).
    #[inline]
    pub fn pcp(&self) -> u8 {
        (self.tci() >> 13) as u8
    }

    /// Drop eligible indicator.
    #[inline]
    pub fn dei(&self) -> bool {
        self.tci() & 0x1000 != 0
    }

    /// VLAN identifier (12 bits).
    #[inline]
    pub fn vlan_id(&self) -> u16 {
        self.tci() & 0x0fff
    }

    /// The EtherType of what the tag encloses (another tag for QinQ).
    #[inline]
    pub fn ethertype(&self) -> EtherType {
        EtherType::from(read_u16(self.buffer.as_ref(), tag_field::ETHERTYPE.start))
    }

    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[tag_field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VlanTag<T> {
    #[inline]
    pub fn set_tci(&mut self, tci: u16) {
        write_u16(self.buffer.as_mut(), tag_field::TCI.start, tci);
    }

    #[inline]
    pub fn set_pcp(&mut self, pcp: u8) {
        let tci = (self.tci() & 0x1fff) | (u16::from(pcp & 0x07) << 13);
        self.set_tci(tci);
    }

    #[inline]
    pub fn set_dei(&mut self, dei: bool) {
        let tci = (self.tci() & !0x1000) | if dei { 0x1000 } else { 0 };
        self.set_tci(tci);
    }

    #[inline]
    pub fn set_vlan_id(&mut self, id: u16) {
        let tci = (self.tci() & 0xf000) | (id & 0x0fff);
        self.set_tci(tci);
    }

    #[inline]
    pub fn set_ethertype(&mut self, t: EtherType) {
        write_u16(self.buffer.as_mut(), tag_field::ETHERTYPE.start, t.into());
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[tag_field::PAYLOAD]
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::wire::testdata::*;

    /// QinQ version of `ICMP4_ECHO_REQUEST`: the tags are written in by hand
    /// (service tag 0x88a8 VID 200 PCP 3, then customer tag 0x8100 VID 300
    /// with DEI set) between the source address and the IPv4 EtherType.
    fn qinq_echo() -> Vec<u8> {
        let mut f = ICMP4_ECHO_REQUEST[..12].to_vec();
        f.extend([0x88, 0xa8, 0x60, 0xc8]); // TPID 88a8, PCP 3, VID 200
        f.extend([0x81, 0x00, 0x11, 0x2c]); // TPID 8100, DEI, VID 300
        f.extend(&ICMP4_ECHO_REQUEST[12..]);
        f
    }

    #[test]
    fn deconstruct_untagged() {
        let f = Frame::new_checked(&TCP4_SYN[..]).unwrap();
        assert_eq!(f.dst_addr(), Address([2, 0, 0, 0, 0, 0x0b]));
        assert_eq!(f.src_addr(), Address([2, 0, 0, 0, 0, 0x0a]));
        assert_eq!(f.src_addr().to_string(), "02:00:00:00:00:0a");
        assert!(f.dst_addr().is_unicast());
        assert_eq!(f.ethertype(), EtherType::Ipv4);
        assert_eq!(f.payload(), &TCP4_SYN[14..]);

        let f = Frame::new_checked(&ARP_REQUEST[..]).unwrap();
        assert!(f.dst_addr().is_broadcast() && f.dst_addr().is_multicast());
        assert_eq!(f.ethertype(), EtherType::Arp);

        let f = Frame::new_checked(&NEIGHBOR_SOLICITATION[..]).unwrap();
        assert_eq!(f.dst_addr(), Address([0x33, 0x33, 0xff, 0, 0, 2]));
        assert!(f.dst_addr().is_multicast() && !f.dst_addr().is_broadcast());
        assert_eq!(f.ethertype(), EtherType::Ipv6);

        // An 802.3 frame: the type field is a length.
        let f = Frame::new_checked(&STP_CONFIG_BPDU[..]).unwrap();
        assert_eq!(f.ethertype(), EtherType::Unknown(0x0026));
        assert!(f.ethertype().is_length());
        assert_eq!(f.payload().len(), 0x26);
        assert_eq!(&f.payload()[..3], &[0x42, 0x42, 0x03]);
    }

    #[test]
    fn deconstruct_qinq() {
        let bytes = qinq_echo();
        let f = Frame::new_checked(&bytes[..]).unwrap();
        assert_eq!(f.ethertype(), EtherType::QinQ);
        assert!(f.ethertype().is_vlan_tag());
        let outer = VlanTag::new_checked(f.payload()).unwrap();
        assert_eq!(outer.pcp(), 3);
        assert!(!outer.dei());
        assert_eq!(outer.vlan_id(), 200);
        assert_eq!(outer.ethertype(), EtherType::Vlan);
        let inner = VlanTag::new_checked(outer.payload()).unwrap();
        assert_eq!(inner.pcp(), 0);
        assert!(inner.dei());
        assert_eq!(inner.vlan_id(), 300);
        assert_eq!(inner.ethertype(), EtherType::Ipv4);
        assert_eq!(inner.payload(), &ICMP4_ECHO_REQUEST[14..]);
    }

    #[test]
    fn construct() {
        let mut buf = [0u8; 42];
        let mut f = Frame::new_unchecked(&mut buf[..]);
        f.set_dst_addr(Address::BROADCAST);
        f.set_src_addr(Address([2, 0, 0, 0, 0, 0x0a]));
        f.set_ethertype(EtherType::Arp);
        f.payload_mut().copy_from_slice(&ARP_REQUEST[14..]);
        assert_eq!(buf, ARP_REQUEST);

        let want = qinq_echo();
        let mut buf = vec![0u8; want.len()];
        let mut f = Frame::new_unchecked(&mut buf[..]);
        f.set_dst_addr(Address([2, 0, 0, 0, 0, 0x0b]));
        f.set_src_addr(Address([2, 0, 0, 0, 0, 0x0a]));
        f.set_ethertype(EtherType::QinQ);
        let mut outer = VlanTag::new_unchecked(f.payload_mut());
        outer.set_pcp(3);
        outer.set_vlan_id(200);
        outer.set_ethertype(EtherType::Vlan);
        let mut inner = VlanTag::new_unchecked(outer.payload_mut());
        inner.set_dei(true);
        inner.set_vlan_id(300);
        inner.set_ethertype(EtherType::Ipv4);
        inner
            .payload_mut()
            .copy_from_slice(&ICMP4_ECHO_REQUEST[14..]);
        assert_eq!(buf, want);
    }

    #[test]
    fn truncated() {
        for len in 0..HEADER_LEN {
            assert_eq!(
                Frame::new_checked(&TCP4_SYN[..len]).unwrap_err(),
                ParseError::Truncated
            );
        }
        assert!(Frame::new_checked(&TCP4_SYN[..HEADER_LEN]).is_ok());
        for len in 0..VLAN_TAG_LEN {
            assert_eq!(
                VlanTag::new_checked(&[0x00, 0x64, 0x08, 0x00][..len]).unwrap_err(),
                ParseError::Truncated
            );
        }
    }

    #[test]
    fn ethertype_round_trips() {
        for v in [
            0x0026, 0x0800, 0x0806, 0x86dd, 0x8100, 0x88a8, 0x88cc, 0xffff,
        ] {
            assert_eq!(u16::from(EtherType::from(v)), v);
        }
        assert!(!EtherType::Ipv4.is_length());
        assert_eq!(Address::from_bytes(&[1, 2, 3, 4, 5]), None);
        assert_eq!(
            Address::from_bytes(&[1, 2, 3, 4, 5, 6, 7]),
            Some(Address([1, 2, 3, 4, 5, 6]))
        );
    }
}

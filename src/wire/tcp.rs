//! TCP segments (RFC 9293). Options are exposed as bytes, not parsed.

use crate::addr::Addr;

use super::{checksum, read_u16, read_u32, write_u16, write_u32, IpProtocol, ParseError};

/// The flag bits of byte 13, as [`Packet::flags`] and
/// [`TcpSummary::flags`](crate::wire::TcpSummary::flags) return them.
pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}

/// TCP option kinds (RFC 9293 section 3.2) and lengths that flypaper writes.
pub mod option {
    /// Maximum segment size: kind, length, then the 16-bit MSS.
    pub const MSS: u8 = 2;
    /// Length of the MSS option.
    pub const MSS_LEN: u8 = 4;
}

mod field {
    use crate::wire::Field;

    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const SEQ_NUM: Field = 4..8;
    pub const ACK_NUM: Field = 8..12;
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WIN_SIZE: Field = 14..16;
    pub const CHECKSUM: Field = 16..18;
    pub const URGENT: Field = 18..20;
}

/// Length of the header without options.
pub const HEADER_LEN: usize = field::URGENT.end;
/// Length of the header with the most options (data offset 15).
pub const MAX_HEADER_LEN: usize = 60;

/// A view of a TCP segment. The buffer must be exactly the segment (the IP
/// payload), since the checksum covers all of it.
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

    /// `Truncated` below 20 bytes; `BadDataOffset` when the data offset is
    /// below 5 words or the header would run past the segment.
    #[inline]
    pub fn check_len(&self) -> Result<(), ParseError> {
        let d = self.buffer.as_ref();
        if d.len() < HEADER_LEN {
            return Err(ParseError::Truncated);
        }
        let header_len = usize::from(self.header_len());
        if header_len < HEADER_LEN || header_len > d.len() {
            return Err(ParseError::BadDataOffset);
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

    #[inline]
    pub fn seq_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::SEQ_NUM.start)
    }

    #[inline]
    pub fn ack_number(&self) -> u32 {
        read_u32(self.buffer.as_ref(), field::ACK_NUM.start)
    }

    /// Header length in bytes (data offset * 4).
    #[inline]
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::DATA_OFF] >> 4) * 4
    }

    /// The flags byte (CWR ECE URG ACK PSH RST SYN FIN): see [`flags`].
    #[inline]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    #[inline]
    pub fn fin(&self) -> bool {
        self.flags() & flags::FIN != 0
    }

    #[inline]
    pub fn syn(&self) -> bool {
        self.flags() & flags::SYN != 0
    }

    #[inline]
    pub fn rst(&self) -> bool {
        self.flags() & flags::RST != 0
    }

    #[inline]
    pub fn psh(&self) -> bool {
        self.flags() & flags::PSH != 0
    }

    #[inline]
    pub fn ack(&self) -> bool {
        self.flags() & flags::ACK != 0
    }

    #[inline]
    pub fn urg(&self) -> bool {
        self.flags() & flags::URG != 0
    }

    #[inline]
    pub fn ece(&self) -> bool {
        self.flags() & flags::ECE != 0
    }

    #[inline]
    pub fn cwr(&self) -> bool {
        self.flags() & flags::CWR != 0
    }

    #[inline]
    pub fn window_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::WIN_SIZE.start)
    }

    #[inline]
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    #[inline]
    pub fn urgent_at(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::URGENT.start)
    }

    /// The option bytes (unparsed): header bytes 20 to the header length.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.header_len())]
    }

    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[usize::from(self.header_len())..]
    }

    /// True when the checksum over the pseudo-header and the whole segment is
    /// right. `src` and `dst` are the IP addresses (IPv4 as IPv4-mapped).
    #[inline]
    pub fn verify_checksum(&self, src: Addr, dst: Addr) -> bool {
        checksum::upper_layer(src, dst, IpProtocol::TCP, self.buffer.as_ref()) == 0xffff
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
    pub fn set_seq_number(&mut self, seq: u32) {
        write_u32(self.buffer.as_mut(), field::SEQ_NUM.start, seq);
    }

    #[inline]
    pub fn set_ack_number(&mut self, ack: u32) {
        write_u32(self.buffer.as_mut(), field::ACK_NUM.start, ack);
    }

    /// Header length in bytes, a multiple of 4 (20 to 60). Keeps the low
    /// nibble of byte 12 (reserved bits and the old NS bit).
    #[inline]
    pub fn set_header_len(&mut self, len: u8) {
        let b = &mut self.buffer.as_mut()[field::DATA_OFF];
        *b = (*b & 0x0f) | ((len / 4) << 4);
    }

    #[inline]
    pub fn set_flags(&mut self, f: u8) {
        self.buffer.as_mut()[field::FLAGS] = f;
    }

    #[inline]
    pub fn set_window_len(&mut self, w: u16) {
        write_u16(self.buffer.as_mut(), field::WIN_SIZE.start, w);
    }

    #[inline]
    pub fn set_checksum(&mut self, c: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM.start, c);
    }

    #[inline]
    pub fn set_urgent_at(&mut self, u: u16) {
        write_u16(self.buffer.as_mut(), field::URGENT.start, u);
    }

    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.header_len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }

    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = usize::from(self.header_len());
        &mut self.buffer.as_mut()[start..]
    }

    /// Compute and set the checksum over the pseudo-header and the whole
    /// segment. Set every other field, options and payload first.
    #[inline]
    pub fn fill_checksum(&mut self, src: Addr, dst: Addr) {
        self.set_checksum(0);
        let sum = !checksum::upper_layer(src, dst, IpProtocol::TCP, self.buffer.as_ref());
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
    fn deconstruct() {
        let p = Packet::new_checked(&TCP4_SYN[34..]).unwrap();
        assert_eq!(p.src_port(), 60724);
        assert_eq!(p.dst_port(), 80);
        assert_eq!(p.seq_number(), 662_979_421);
        assert_eq!(p.ack_number(), 0);
        assert_eq!(p.header_len(), 40);
        assert_eq!(p.flags(), flags::SYN);
        assert!(p.syn() && !p.ack() && !p.fin() && !p.rst());
        assert!(!p.psh() && !p.urg() && !p.ece() && !p.cwr());
        assert_eq!(p.window_len(), 64240);
        assert_eq!(p.checksum(), 0x857a);
        assert_eq!(p.urgent_at(), 0);
        // mss 1460, sackOK, timestamps (val 3729210489, ecr 0), nop, wscale 10.
        assert_eq!(
            p.options(),
            &[
                0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0xde, 0x47, 0x3c, 0x79, 0x00, 0x00,
                0x00, 0x00, 0x01, 0x03, 0x03, 0x0a
            ]
        );
        assert_eq!(p.payload(), &[] as &[u8]);
        assert!(p.verify_checksum(a("198.51.100.1"), a("198.51.100.2")));
        assert!(!p.verify_checksum(a("198.51.100.1"), a("198.51.100.3")));

        let p = Packet::new_checked(&TCP4_SYNACK[34..]).unwrap();
        assert_eq!(p.flags(), flags::SYN | flags::ACK);
        assert_eq!(p.seq_number(), 3_804_373_683);
        assert_eq!(p.ack_number(), 662_979_422);
        assert_eq!(p.window_len(), 65160);
        assert!(p.verify_checksum(a("198.51.100.2"), a("198.51.100.1")));

        let p = Packet::new_checked(&TCP6_SYN[54..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port()), (41192, 443));
        assert_eq!(p.seq_number(), 2_444_295_722);
        assert_eq!(p.flags(), flags::SYN);
        assert!(p.verify_checksum(a("2001:db8::1"), a("2001:db8::2")));

        // Wireshark's http.cap SYN: data offset 7.
        let p = Packet::new_checked(&HTTP_CAP_SYN[34..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port()), (3372, 80));
        assert_eq!(p.seq_number(), 951_057_939);
        assert_eq!(p.header_len(), 28);
        assert_eq!(p.window_len(), 8760);
        assert!(p.verify_checksum(a("145.254.160.237"), a("65.208.228.223")));
    }

    /// The SYN-ACK a later issue builds (a SYN cookie answer): built here
    /// field by field into zeroes, it must come out as the kernel's bytes.
    #[test]
    fn construct_syn_ack_v4() {
        let mut buf = [0u8; 40];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_src_port(80);
        p.set_dst_port(60724);
        p.set_seq_number(3_804_373_683);
        p.set_ack_number(662_979_422);
        p.set_header_len(40);
        p.set_flags(flags::SYN | flags::ACK);
        p.set_window_len(65160);
        p.set_urgent_at(0);
        p.options_mut().copy_from_slice(&TCP4_SYNACK[54..74]);
        p.fill_checksum(a("198.51.100.2"), a("198.51.100.1"));
        assert_eq!(p.checksum(), 0xa0fd);
        assert_eq!(&buf[..], &TCP4_SYNACK[34..]);
    }

    #[test]
    fn construct_syn_ack_v6() {
        let mut buf = [0u8; 40];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        p.set_src_port(443);
        p.set_dst_port(41192);
        p.set_seq_number(2_792_014_130);
        p.set_ack_number(2_444_295_723);
        p.set_header_len(40);
        p.set_flags(flags::SYN | flags::ACK);
        p.set_window_len(64260);
        p.options_mut().copy_from_slice(&TCP6_SYNACK[74..94]);
        p.fill_checksum(a("2001:db8::2"), a("2001:db8::1"));
        assert_eq!(p.checksum(), 0x7cce);
        assert_eq!(&buf[..], &TCP6_SYNACK[54..]);
    }

    #[test]
    fn truncated() {
        let seg = &TCP4_SYN[34..];
        for len in 0..HEADER_LEN {
            assert_eq!(
                Packet::new_checked(&seg[..len]).unwrap_err(),
                ParseError::Truncated
            );
        }
        // 20 to 39 bytes: the options run past the end.
        for len in HEADER_LEN..seg.len() {
            assert_eq!(
                Packet::new_checked(&seg[..len]).unwrap_err(),
                ParseError::BadDataOffset
            );
        }
        assert!(Packet::new_checked(seg).is_ok());
    }

    #[test]
    fn data_offset_below_five() {
        let mut seg = TCP4_SYN[34..].to_vec();
        for off in 0..5u8 {
            seg[12] = off << 4;
            assert_eq!(
                Packet::new_checked(&seg[..]).unwrap_err(),
                ParseError::BadDataOffset
            );
        }
    }

    #[test]
    fn checksum_covers_payload() {
        // A data segment, rebuilt from the SYN with a payload added.
        let mut seg = TCP4_SYN[34..].to_vec();
        seg.extend(b"hello");
        let (s, d) = (a("198.51.100.1"), a("198.51.100.2"));
        let mut p = Packet::new_unchecked(&mut seg[..]);
        p.set_flags(flags::PSH | flags::ACK);
        p.fill_checksum(s, d);
        assert!(p.verify_checksum(s, d));
        assert_eq!(p.payload(), b"hello");
        p.payload_mut()[0] = b'j';
        assert!(!p.verify_checksum(s, d));
    }
}

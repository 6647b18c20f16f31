//! GRE headers (RFC 2784, with the key and sequence fields of RFC 2890).
//!
//! ```text
//! C(1) R(1) K(1) S(1) s(1) recur(3) flags(5) ver(3) | protocol(16)
//! [checksum(16) reserved(16)] [key(32)] [sequence(32)] | payload
//! ```
//!
//! Only version 0 without the obsolete routing fields (RFC 1701's R bit,
//! strict source route, recursion control) is a tunnel the parser looks
//! into, as Linux's own GRE receiver does; anything else (PPTP's version 1,
//! routing) is reported as not a tunnel and judged as plain GRE.

use super::{read_u16, write_u16, ParseError};

mod field {
    use crate::wire::Field;

    pub const FLAGS_VERSION: Field = 0..2;
    pub const PROTOCOL: Field = 2..4;
}

/// Length of the base header.
pub const HEADER_LEN: usize = field::PROTOCOL.end;

pub mod flags {
    pub const CHECKSUM: u16 = 0x8000;
    pub const ROUTING: u16 = 0x4000;
    pub const KEY: u16 = 0x2000;
    pub const SEQUENCE: u16 = 0x1000;
    /// Strict source route, recursion control, reserved flags.
    pub const OBSOLETE: u16 = 0x0ff8;
    pub const VERSION: u16 = 0x0007;
}

/// A view of a GRE header.
#[derive(Debug, Clone)]
pub struct Header<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Header<T> {
    pub const fn new_unchecked(buffer: T) -> Header<T> {
        Header { buffer }
    }

    /// `Truncated` when the buffer ends inside the header its flags declare.
    pub fn new_checked(buffer: T) -> Result<Header<T>, ParseError> {
        let h = Header::new_unchecked(buffer);
        if h.buffer.as_ref().len() < HEADER_LEN || h.buffer.as_ref().len() < h.header_len() {
            return Err(ParseError::Truncated);
        }
        Ok(h)
    }

    pub fn flags_version(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::FLAGS_VERSION.start)
    }

    pub fn version(&self) -> u8 {
        (self.flags_version() & flags::VERSION) as u8
    }

    /// Version 0 with no routing or obsolete flags: a tunnel whose payload
    /// starts at `header_len`.
    pub fn is_plain(&self) -> bool {
        self.flags_version() & (flags::ROUTING | flags::OBSOLETE | flags::VERSION) == 0
    }

    /// The payload's EtherType.
    pub fn protocol(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::PROTOCOL.start)
    }

    /// Base header plus the optional checksum, key and sequence fields.
    pub fn header_len(&self) -> usize {
        header_len(self.flags_version())
    }

    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Header<T> {
    pub fn set_flags_version(&mut self, v: u16) {
        write_u16(self.buffer.as_mut(), field::FLAGS_VERSION.start, v);
    }
    pub fn set_protocol(&mut self, p: u16) {
        write_u16(self.buffer.as_mut(), field::PROTOCOL.start, p);
    }
}

/// Header length for the given flags word.
#[inline]
pub fn header_len(flags_version: u16) -> usize {
    let f = flags_version;
    HEADER_LEN
        + if f & flags::CHECKSUM != 0 { 4 } else { 0 }
        + if f & flags::KEY != 0 { 4 } else { 0 }
        + if f & flags::SEQUENCE != 0 { 4 } else { 0 }
}

#[cfg(test)]
mod test {
    use super::*;

    /// GRE with checksum and key (0xb000), IPv4 payload, checksum 0x1234,
    /// key 0x0000002a, then the first payload byte.
    const CK_KEY: [u8; 13] = [
        0xa0, 0x00, 0x08, 0x00, 0x12, 0x34, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, 0x45,
    ];

    #[test]
    fn deconstruct() {
        let h = Header::new_checked(&CK_KEY[..]).unwrap();
        assert_eq!((h.version(), h.protocol(), h.header_len()), (0, 0x0800, 12));
        assert!(h.is_plain());
        assert_eq!(h.payload(), &[0x45]);
    }

    #[test]
    fn construct() {
        let mut b = [0u8; 8];
        let mut h = Header::new_unchecked(&mut b[..]);
        h.set_flags_version(flags::SEQUENCE);
        h.set_protocol(0x86dd);
        let h = Header::new_checked(&b[..]).unwrap();
        assert_eq!((h.protocol(), h.header_len()), (0x86dd, 8));
    }

    #[test]
    fn truncated_and_not_plain() {
        assert_eq!(
            Header::new_checked(&CK_KEY[..3]).err(),
            Some(ParseError::Truncated)
        );
        // Checksum and key declared, only 8 bytes there.
        assert_eq!(
            Header::new_checked(&CK_KEY[..8]).err(),
            Some(ParseError::Truncated)
        );
        // PPTP's enhanced GRE: version 1.
        let pptp = [0x30, 0x01, 0x88, 0x0b, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(!Header::new_checked(&pptp[..]).unwrap().is_plain());
        // RFC 1701 routing present.
        let routing = [0x40, 0x00, 0x08, 0x00];
        assert!(!Header::new_checked(&routing[..]).unwrap().is_plain());
    }
}

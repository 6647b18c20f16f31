//! PPPoE (RFC 2516) session and discovery headers, and the PPP protocol
//! field that follows a session header.
//!
//! ```text
//! ver(4) type(4) | code(8) | session id(16) | length(16) | PPP protocol(16) | payload
//! ```
//!
//! Session frames (EtherType 0x8864) carry PPP: IPv4 (0x0021), IPv6
//! (0x0057), or the link's control protocols (LCP, authentication, IPCP,
//! IPV6CP: every protocol number from 0x8000 up). A PPP peer may compress
//! the protocol field to one byte (RFC 1661, protocol-field compression):
//! a first byte with its low bit set is the whole field. The parser honours
//! that, so a compressed IPv4 packet cannot slip past the rules.

use super::{read_u16, write_u16, ParseError};

mod field {
    use crate::wire::Field;

    pub const VER_TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const SESSION_ID: Field = 2..4;
    pub const LENGTH: Field = 4..6;
    pub const PAYLOAD: crate::wire::Rest = 6..;
}

/// Length of the PPPoE header (without the PPP protocol field).
pub const HEADER_LEN: usize = field::PAYLOAD.start;
/// Length of the uncompressed PPP protocol field (a compressed one is 1).
pub const PPP_PROTOCOL_LEN: usize = 2;
/// The only version and type RFC 2516 defines: both 1.
pub const VER_TYPE: u8 = 0x11;
/// The code of every session frame.
pub const CODE_SESSION: u8 = 0x00;

/// PPP protocol numbers (RFC 1661, IANA "PPP DLL protocol numbers").
pub mod ppp {
    pub const IPV4: u16 = 0x0021;
    pub const IPV6: u16 = 0x0057;
    pub const LCP: u16 = 0xc021;
    pub const PAP: u16 = 0xc023;
    pub const CHAP: u16 = 0xc223;
    pub const IPCP: u16 = 0x8021;
    pub const IPV6CP: u16 = 0x8057;
    /// Protocol numbers from here up are control protocols (network
    /// control 0x8000..0xbfff, link control 0xc000..): they bring the link
    /// up and carry no network traffic.
    pub const CONTROL_MIN: u16 = 0x8000;
}

/// What a session frame's PPP protocol field says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PppPayload {
    Ipv4,
    Ipv6,
    /// LCP, PAP, CHAP, IPCP, IPV6CP, ...
    Control,
    /// Another network-layer protocol (MPLS over PPP, IPX, ...).
    Other(u16),
}

/// Read the PPP protocol field at the start of `b`: the protocol and the
/// field's length (1 when compressed, 2 otherwise).
#[inline]
pub fn ppp_protocol(b: &[u8]) -> Result<(PppPayload, usize), ParseError> {
    let Some(&first) = b.first() else {
        return Err(ParseError::Truncated);
    };
    let (proto, len) = if first & 1 == 1 {
        (u16::from(first), 1)
    } else {
        if b.len() < 2 {
            return Err(ParseError::Truncated);
        }
        let p = read_u16(b, 0);
        // The last byte of a protocol number is odd (RFC 1661 section 2).
        if p & 0x0001 == 0 {
            return Err(ParseError::BadPppoe);
        }
        (p, 2)
    };
    let kind = match proto {
        ppp::IPV4 => PppPayload::Ipv4,
        ppp::IPV6 => PppPayload::Ipv6,
        p if p >= ppp::CONTROL_MIN => PppPayload::Control,
        p => PppPayload::Other(p),
    };
    Ok((kind, len))
}

/// A view of a PPPoE header (discovery or session).
#[derive(Debug, Clone)]
pub struct Header<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Header<T> {
    pub const fn new_unchecked(buffer: T) -> Header<T> {
        Header { buffer }
    }

    /// `Truncated` below 6 bytes; `BadPppoe` for a version or type other
    /// than 1, or a length field beyond the buffer.
    pub fn new_checked(buffer: T) -> Result<Header<T>, ParseError> {
        let h = Header::new_unchecked(buffer);
        h.check_len()?;
        Ok(h)
    }

    pub fn check_len(&self) -> Result<(), ParseError> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(ParseError::Truncated);
        }
        if b[field::VER_TYPE] != VER_TYPE || usize::from(self.length()) > b.len() - HEADER_LEN {
            return Err(ParseError::BadPppoe);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    pub fn session_id(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SESSION_ID.start)
    }

    /// Bytes of payload (for a session frame: the PPP protocol field and
    /// the PPP payload).
    pub fn length(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// The payload the length field covers.
    pub fn payload(&self) -> &[u8] {
        let end = HEADER_LEN + usize::from(self.length());
        &self.buffer.as_ref()[HEADER_LEN..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Header<T> {
    /// Write a session header (version and type 1, code 0).
    pub fn set_session(&mut self, session_id: u16, length: u16) {
        let b = self.buffer.as_mut();
        b[field::VER_TYPE] = VER_TYPE;
        b[field::CODE] = CODE_SESSION;
        write_u16(b, field::SESSION_ID.start, session_id);
        write_u16(b, field::LENGTH.start, length);
    }

    /// Rewrite the length field alone (session id and code kept).
    pub fn set_length(&mut self, length: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH.start, length);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    /// A PPPoE session header (session 0x1234) and PPP IPv4, then the first
    /// bytes of an IPv4 header; length 6 = 2 (protocol) + 4 bytes shown.
    const SESSION_IPV4: [u8; 12] = [
        0x11, 0x00, 0x12, 0x34, 0x00, 0x06, 0x00, 0x21, 0x45, 0x00, 0x00, 0x54,
    ];
    /// A PADI (discovery, code 0x09), no tags.
    const PADI: [u8; 6] = [0x11, 0x09, 0x00, 0x00, 0x00, 0x00];

    #[test]
    fn deconstruct() {
        let h = Header::new_checked(&SESSION_IPV4[..]).unwrap();
        assert_eq!((h.code(), h.session_id(), h.length()), (0, 0x1234, 6));
        assert_eq!(
            ppp_protocol(h.payload()).unwrap(),
            (PppPayload::Ipv4, 2),
            "PPP IPv4"
        );
        let d = Header::new_checked(&PADI[..]).unwrap();
        assert_eq!((d.code(), d.length()), (0x09, 0));
    }

    #[test]
    fn construct() {
        let mut b = [0u8; 8];
        Header::new_unchecked(&mut b[..]).set_session(0x1234, 2);
        b[6..8].copy_from_slice(&ppp::IPV6.to_be_bytes());
        let h = Header::new_checked(&b[..]).unwrap();
        assert_eq!((h.session_id(), h.length()), (0x1234, 2));
        assert_eq!(ppp_protocol(h.payload()).unwrap().0, PppPayload::Ipv6);
        // A length rewritten alone keeps the session id.
        let mut b = SESSION_IPV4;
        Header::new_unchecked(&mut b[..]).set_length(2);
        let h = Header::new_checked(&b[..]).unwrap();
        assert_eq!((h.code(), h.session_id(), h.length()), (0, 0x1234, 2));
    }

    #[test]
    fn protocols() {
        assert_eq!(ppp_protocol(&[0x21]).unwrap(), (PppPayload::Ipv4, 1));
        assert_eq!(ppp_protocol(&[0x57]).unwrap(), (PppPayload::Ipv6, 1));
        for p in [ppp::LCP, ppp::PAP, ppp::CHAP, ppp::IPCP, ppp::IPV6CP] {
            assert_eq!(
                ppp_protocol(&p.to_be_bytes()).unwrap().0,
                PppPayload::Control
            );
        }
        assert_eq!(
            ppp_protocol(&[0x02, 0x81]).unwrap().0,
            PppPayload::Other(0x0281),
            "MPLS over PPP"
        );
        assert_eq!(ppp_protocol(&[0x00, 0x20]), Err(ParseError::BadPppoe));
    }

    #[test]
    fn truncated_and_bad() {
        assert_eq!(
            Header::new_checked(&SESSION_IPV4[..5]).err(),
            Some(ParseError::Truncated)
        );
        let mut v2 = SESSION_IPV4;
        v2[0] = 0x21;
        assert_eq!(
            Header::new_checked(&v2[..]).err(),
            Some(ParseError::BadPppoe)
        );
        // The length field claims more than the buffer holds.
        assert_eq!(
            Header::new_checked(&SESSION_IPV4[..11]).err(),
            Some(ParseError::BadPppoe)
        );
        assert_eq!(ppp_protocol(&[]), Err(ParseError::Truncated));
        assert_eq!(ppp_protocol(&[0x00]), Err(ParseError::Truncated));
    }
}

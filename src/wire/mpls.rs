//! MPLS label stack entries (RFC 3032), EtherTypes 0x8847 (unicast) and
//! 0x8848 (multicast).
//!
//! ```text
//! label(20) | traffic class(3) | bottom of stack(1) | TTL(8)
//! ```
//!
//! Nothing in the stack says what follows the bottom label; like every
//! router that looks past it, the parser reads the first nibble: 4 is
//! IPv4, 6 is IPv6, anything else (a pseudowire control word starts with
//! 0) is not IP.

use super::{read_u32, write_u32, ParseError};

/// Length of one label stack entry.
pub const ENTRY_LEN: usize = 4;
/// Labels the parser walks before it gives up (`TooManyMplsLabels`).
pub const MAX_LABELS: usize = 8;

const BOTTOM: u32 = 0x100;

/// A view of one label stack entry.
#[derive(Debug, Clone)]
pub struct Entry<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Entry<T> {
    pub const fn new_unchecked(buffer: T) -> Entry<T> {
        Entry { buffer }
    }

    pub fn new_checked(buffer: T) -> Result<Entry<T>, ParseError> {
        if buffer.as_ref().len() < ENTRY_LEN {
            return Err(ParseError::Truncated);
        }
        Ok(Entry { buffer })
    }

    fn word(&self) -> u32 {
        read_u32(self.buffer.as_ref(), 0)
    }

    pub fn label(&self) -> u32 {
        self.word() >> 12
    }

    pub fn traffic_class(&self) -> u8 {
        ((self.word() >> 9) & 7) as u8
    }

    pub fn bottom_of_stack(&self) -> bool {
        self.word() & BOTTOM != 0
    }

    pub fn ttl(&self) -> u8 {
        self.word() as u8
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Entry<T> {
    pub fn set(&mut self, label: u32, tc: u8, bottom: bool, ttl: u8) {
        let w = (label & 0xf_ffff) << 12
            | u32::from(tc & 7) << 9
            | if bottom { BOTTOM } else { 0 }
            | u32::from(ttl);
        write_u32(self.buffer.as_mut(), 0, w);
    }
}

/// Walk the label stack at the start of `b`: the number of bytes it takes.
/// `TooManyMplsLabels` past [`MAX_LABELS`], `Truncated` when the bytes end
/// before the bottom label.
#[inline]
pub fn stack_len(b: &[u8]) -> Result<usize, ParseError> {
    let mut off = 0;
    for _ in 0..MAX_LABELS {
        if b.len() < off + ENTRY_LEN {
            return Err(ParseError::Truncated);
        }
        let bottom = b[off + 2] & 1 != 0;
        off += ENTRY_LEN;
        if bottom {
            return Ok(off);
        }
    }
    Err(ParseError::TooManyMplsLabels)
}

#[cfg(test)]
mod test {
    use super::*;

    /// Label 16, TC 0, not bottom, TTL 64; then label 2 (IPv6 explicit
    /// null), bottom, TTL 63.
    const TWO: [u8; 8] = [0x00, 0x01, 0x00, 0x40, 0x00, 0x00, 0x21, 0x3f];

    #[test]
    fn deconstruct() {
        let e = Entry::new_checked(&TWO[..4]).unwrap();
        assert_eq!(
            (e.label(), e.traffic_class(), e.bottom_of_stack(), e.ttl()),
            (16, 0, false, 64)
        );
        let e = Entry::new_checked(&TWO[4..]).unwrap();
        assert_eq!((e.label(), e.bottom_of_stack(), e.ttl()), (2, true, 63));
        assert_eq!(stack_len(&TWO), Ok(8));
    }

    #[test]
    fn construct() {
        let mut b = [0u8; 4];
        Entry::new_unchecked(&mut b[..]).set(0xabcde, 5, true, 7);
        let e = Entry::new_checked(&b[..]).unwrap();
        assert_eq!(
            (e.label(), e.traffic_class(), e.bottom_of_stack(), e.ttl()),
            (0xabcde, 5, true, 7)
        );
    }

    #[test]
    fn truncated_and_too_deep() {
        assert_eq!(
            Entry::new_checked(&TWO[..3]).err(),
            Some(ParseError::Truncated)
        );
        // The bottom label is missing.
        assert_eq!(stack_len(&TWO[..4]), Err(ParseError::Truncated));
        let deep = [0x00, 0x01, 0x00, 0x40].repeat(MAX_LABELS + 1);
        assert_eq!(stack_len(&deep), Err(ParseError::TooManyMplsLabels));
        // Exactly MAX_LABELS with the last at the bottom is fine.
        let mut ok = [0x00, 0x01, 0x00, 0x40].repeat(MAX_LABELS);
        ok[(MAX_LABELS - 1) * 4 + 2] |= 1;
        assert_eq!(stack_len(&ok), Ok(MAX_LABELS * 4));
    }
}

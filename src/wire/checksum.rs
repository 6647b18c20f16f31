//! The Internet checksum (RFC 1071) and the IPv4 / IPv6 pseudo-headers
//! (RFC 793 section 3.1, RFC 8200 section 8.1).
//!
//! The functions return the folded one's-complement *sum*, not its
//! complement, so that sums of parts can be combined; a checksum field holds
//! `!combine(&[...])`, and a received packet is valid when the sum over it
//! (checksum field included) is `0xffff`.

use crate::addr::Addr;

/// Fold a wide one's-complement accumulator to 16 bits (end-around carry).
#[inline(always)]
pub(crate) fn fold(mut acc: u64) -> u16 {
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// One's-complement sum of `data` as big-endian 16-bit words; an odd last
/// byte is padded with a zero byte. Sums 32-bit words into a 64-bit
/// accumulator: `2^16 = 1 (mod 2^16 - 1)`, so the fold gives the same result
/// as summing 16-bit words, with half the additions.
#[inline]
pub fn data(data: &[u8]) -> u16 {
    let mut words = data.chunks_exact(4);
    let mut acc = sum_words(&mut words);
    match *words.remainder() {
        [a] => acc += u64::from(a) << 8,
        [a, b] => acc += u64::from(u16::from_be_bytes([a, b])),
        [a, b, c] => acc += u64::from(u16::from_be_bytes([a, b])) + (u64::from(c) << 8),
        _ => {}
    }
    fold(acc)
}

/// The 32-bit words of `words`, summed into a 64-bit accumulator.
#[inline(always)]
fn sum_words(words: &mut core::slice::ChunksExact<'_, u8>) -> u64 {
    let mut acc = 0u64;
    for w in words {
        acc += u64::from(u32::from_be_bytes([w[0], w[1], w[2], w[3]]));
    }
    acc
}

/// True when an IPv4 header (20 to 60 bytes: whole 32-bit words) sums to
/// all ones, i.e. its checksum is right. `data` without the odd-length
/// tail, for the parser's hot path; a length that is not a multiple of 4
/// is never right.
#[inline(always)]
pub fn ipv4_header_ok(header: &[u8]) -> bool {
    let mut words = header.chunks_exact(4);
    let acc = sum_words(&mut words);
    words.remainder().is_empty() && fold(acc) == 0xffff
}

/// One's-complement sum of partial sums.
#[inline]
pub fn combine(sums: &[u16]) -> u16 {
    fold(sums.iter().map(|&s| u64::from(s)).sum())
}

/// Sum of the IPv4 pseudo-header: source, destination, zero, protocol,
/// upper-layer length.
#[inline]
pub fn pseudo_header_v4(src: [u8; 4], dst: [u8; 4], proto: u8, len: u16) -> u16 {
    let acc = u64::from(u32::from_be_bytes(src))
        + u64::from(u32::from_be_bytes(dst))
        + u64::from(proto)
        + u64::from(len);
    fold(acc)
}

/// Sum of the IPv6 pseudo-header: source, destination, 32-bit upper-layer
/// length, three zero bytes, next header.
#[inline]
pub fn pseudo_header_v6(src: [u8; 16], dst: [u8; 16], proto: u8, len: u32) -> u16 {
    let s = u128::from_be_bytes(src);
    let d = u128::from_be_bytes(dst);
    let acc = u64::from(fold_u128(s)) + u64::from(fold_u128(d)) + u64::from(len) + u64::from(proto);
    fold(acc)
}

#[inline]
fn fold_u128(v: u128) -> u16 {
    let acc = u64::from(v as u32)
        + u64::from((v >> 32) as u32)
        + u64::from((v >> 64) as u32)
        + u64::from((v >> 96) as u32);
    fold(acc)
}

/// The pseudo-header for flypaper's address type: the IPv4 form when both
/// addresses are IPv4(-mapped), the IPv6 form otherwise. (The two forms give
/// the same sum for IPv4-mapped addresses anyway: the `0xffff` word of the
/// mapped prefix is a one's-complement zero.)
#[inline]
pub fn pseudo_header(src: Addr, dst: Addr, proto: u8, len: u32) -> u16 {
    match (src.v4(), dst.v4()) {
        // u32 words fold like pairs of u16 words (2^16 = 1 mod 2^16 - 1).
        (Some(s), Some(d)) => fold(u64::from(s) + u64::from(d) + u64::from(proto) + u64::from(len)),
        _ => pseudo_header_v6(src.0.to_be_bytes(), dst.0.to_be_bytes(), proto, len),
    }
}

/// The one's-complement sum of an upper-layer segment (TCP, UDP, ICMPv6)
/// with its pseudo-header, not inverted: `0xffff` when the segment's
/// checksum field is right; `!upper_layer(..)` (with the field zeroed) is
/// the value to put there.
#[inline]
pub fn upper_layer(src: Addr, dst: Addr, proto: u8, segment: &[u8]) -> u16 {
    combine(&[
        pseudo_header(src, dst, proto, segment.len() as u32),
        data(segment),
    ])
}

/// The checksum field value for `data` (a header with its checksum field
/// zeroed), with no pseudo-header: the IPv4 header and ICMPv4.
#[inline]
pub fn checksum(bytes: &[u8]) -> u16 {
    !data(bytes)
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::wire::testdata::*;

    #[test]
    fn ipv4_header_ok_agrees_with_data() {
        let h = &TCP4_SYN[14..34];
        assert!(ipv4_header_ok(h));
        assert_eq!(data(h), 0xffff);
        for i in 0..h.len() {
            let mut bad = h.to_vec();
            bad[i] ^= 0x01;
            assert_eq!(ipv4_header_ok(&bad), data(&bad) == 0xffff, "byte {i}");
            assert!(!ipv4_header_ok(&bad), "byte {i}");
        }
        // Not whole words: never a header.
        let mut odd = h.to_vec();
        odd.push(0);
        odd.push(0);
        assert_eq!(data(&odd), 0xffff);
        assert!(!ipv4_header_ok(&odd));
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
        assert_eq!(
            data(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0xddf2
        );
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            !0xddf2
        );
    }

    #[test]
    fn odd_lengths_pad_with_zero() {
        for len in 0..=9 {
            let bytes: Vec<u8> = (1..=len as u8).collect();
            let mut padded = bytes.clone();
            padded.push(0);
            assert_eq!(data(&bytes), data(&padded[..len + len % 2]), "len {len}");
            // The same as the obvious 16-bit-word loop.
            let mut acc = 0u64;
            for w in padded[..len + len % 2].chunks(2) {
                acc += u64::from(u16::from_be_bytes([w[0], w[1]]));
            }
            assert_eq!(data(&bytes), fold(acc), "len {len}");
        }
    }

    #[test]
    fn wikipedia_ipv4_header_example() {
        // The header worked through on Wikipedia's "IPv4 header checksum"
        // page: 192.168.0.1 -> 192.168.0.199, UDP, checksum b861.
        let hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(data(&hdr), 0xffff);
        let mut zeroed = hdr;
        zeroed[10] = 0;
        zeroed[11] = 0;
        assert_eq!(checksum(&zeroed), 0xb861);
    }

    #[test]
    fn pseudo_headers_verify_real_segments() {
        // IPv4 TCP SYN (captured): the sum over pseudo-header and segment is 0xffff.
        let ip = &TCP4_SYN[14..34];
        let seg = &TCP4_SYN[34..];
        let ph = pseudo_header_v4(
            [ip[12], ip[13], ip[14], ip[15]],
            [ip[16], ip[17], ip[18], ip[19]],
            6,
            seg.len() as u16,
        );
        assert_eq!(combine(&[ph, data(seg)]), 0xffff);
        let src = Addr::from_v4_bytes([ip[12], ip[13], ip[14], ip[15]]);
        let dst = Addr::from_v4_bytes([ip[16], ip[17], ip[18], ip[19]]);
        assert_eq!(pseudo_header(src, dst, 6, seg.len() as u32), ph);
        // The IPv6 form with IPv4-mapped addresses gives the same sum.
        assert_eq!(
            pseudo_header_v6(
                src.0.to_be_bytes(),
                dst.0.to_be_bytes(),
                6,
                seg.len() as u32
            ),
            ph
        );

        // IPv6 TCP SYN (captured).
        let ip = &TCP6_SYN[14..54];
        let seg = &TCP6_SYN[54..];
        let mut s = [0u8; 16];
        s.copy_from_slice(&ip[8..24]);
        let mut d = [0u8; 16];
        d.copy_from_slice(&ip[24..40]);
        let ph = pseudo_header_v6(s, d, 6, seg.len() as u32);
        assert_eq!(combine(&[ph, data(seg)]), 0xffff);
        assert_eq!(
            pseudo_header(
                Addr::from_v6_bytes(s),
                Addr::from_v6_bytes(d),
                6,
                seg.len() as u32
            ),
            ph
        );
    }

    #[test]
    fn combine_is_associative_over_splits() {
        let seg = &TCP6_SYN[54..];
        for cut in (0..seg.len()).step_by(2) {
            assert_eq!(combine(&[data(&seg[..cut]), data(&seg[cut..])]), data(seg));
        }
    }
}

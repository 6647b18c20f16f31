//! Bogus TCP flag combinations: one 256-entry lookup table.
//!
//! The valid combinations are the ones the kernel's connection tracker
//! accepts (`tcp_valid_flags` in nf_conntrack_proto_tcp), with PSH, ECE and
//! CWR ignored: SYN, SYN+URG, SYN+ACK, RST, RST+ACK, FIN+ACK, FIN+ACK+URG,
//! ACK, ACK+URG. Everything else (SYN+FIN, SYN+RST, the null scan, the
//! "xmas" FIN+PSH+URG, FIN without ACK, ...) is invalid.

pub use crate::wire::tcp::flags::*;

const fn build() -> [bool; 256] {
    let valid = [
        SYN,
        SYN | URG,
        SYN | ACK,
        RST,
        RST | ACK,
        FIN | ACK,
        FIN | ACK | URG,
        ACK,
        ACK | URG,
    ];
    let mut t = [true; 256];
    let mut f = 0;
    while f < 256 {
        let core = (f as u8) & !(PSH | ECE | CWR);
        let mut i = 0;
        while i < valid.len() {
            if core == valid[i] {
                t[f] = false;
            }
            i += 1;
        }
        f += 1;
    }
    t
}

/// `BOGUS[flags]` is true for a combination that makes no sense.
pub static BOGUS: [bool; 256] = build();

#[inline(always)]
pub fn is_bogus(flags: u8) -> bool {
    BOGUS[flags as usize]
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn the_seed_combinations_are_bogus() {
        for (name, f) in [
            ("SYN+FIN", SYN | FIN),
            ("SYN+RST", SYN | RST),
            ("null", 0),
            ("xmas", FIN | PSH | URG),
            ("FIN without ACK", FIN),
            ("everything", 0xff),
            ("SYN+FIN+ACK", SYN | FIN | ACK),
            ("RST+FIN+ACK", RST | FIN | ACK),
        ] {
            assert!(is_bogus(f), "{name} must be bogus");
        }
    }

    #[test]
    fn normal_segments_are_fine() {
        for f in [
            SYN,
            SYN | ECE | CWR,
            SYN | ACK,
            SYN | ACK | ECE,
            ACK,
            ACK | PSH,
            FIN | ACK,
            FIN | ACK | PSH,
            RST,
            RST | ACK,
            ACK | URG | PSH,
        ] {
            assert!(!is_bogus(f), "{f:#04x} is a normal segment");
        }
        assert_eq!(BOGUS.iter().filter(|b| !**b).count(), 9 * 8);
    }
}

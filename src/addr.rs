//! One address type for both IP families.
//!
//! Every table in flypaper (blacklist, per-source buckets, flows) keys on a
//! 128-bit address. IPv4 addresses are stored IPv4-mapped (`::ffff:a.b.c.d`,
//! RFC 4291 section 2.5.5.2) so that one code path serves both families.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IPv4 or IPv6 address as 128 bits (IPv4 is IPv4-mapped).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Addr(pub u128);

const V4_MAPPED: u128 = 0xffff_0000_0000;

impl Addr {
    /// The IPv4 address `a.b.c.d` given as a big-endian `u32`.
    #[inline]
    pub const fn from_v4(v4: u32) -> Addr {
        Addr(V4_MAPPED | v4 as u128)
    }

    /// An IPv6 address given as a big-endian `u128`.
    #[inline]
    pub const fn from_v6(v6: u128) -> Addr {
        Addr(v6)
    }

    /// From the 4 bytes of an IPv4 header field.
    #[inline]
    pub fn from_v4_bytes(b: [u8; 4]) -> Addr {
        Addr::from_v4(u32::from_be_bytes(b))
    }

    /// From the 16 bytes of an IPv6 header field.
    #[inline]
    pub fn from_v6_bytes(b: [u8; 16]) -> Addr {
        Addr(u128::from_be_bytes(b))
    }

    /// True when this is an IPv4(-mapped) address.
    #[inline]
    pub const fn is_v4(self) -> bool {
        self.0 >> 32 == 0xffff
    }

    /// The IPv4 address, if this is one.
    #[inline]
    pub const fn v4(self) -> Option<u32> {
        if self.is_v4() {
            Some(self.0 as u32)
        } else {
            None
        }
    }

    /// The network bits of an IPv4 prefix of length `prefix_v4` (capped
    /// at 32) as a mask of an IPv4-mapped address: the 96 bits of the
    /// mapping, then `prefix_v4` ones.
    #[inline]
    pub const fn v4_mask(prefix_v4: u8) -> u128 {
        let p = if prefix_v4 > 32 { 32 } else { prefix_v4 };
        u128::MAX << (32 - p as u32)
    }

    /// The network bits of an IPv6 prefix of length `prefix_v6` (capped at
    /// 128) as a mask: `prefix_v6` leading ones.
    #[inline]
    pub const fn v6_mask(prefix_v6: u8) -> u128 {
        match prefix_v6 {
            0 => 0,
            p if p >= 128 => u128::MAX,
            p => u128::MAX << (128 - p as u32),
        }
    }

    /// The prefix this address belongs to: every bit after the first
    /// `prefix_v4` bits of an IPv4 address (counted within its 32 bits),
    /// or after the first `prefix_v6` of an IPv6 address, cleared. An
    /// IPv4-mapped address is IPv4 and takes `prefix_v4`. The key of a fly.
    #[inline]
    pub const fn masked(self, prefix_v4: u8, prefix_v6: u8) -> Addr {
        let mask = if self.is_v4() {
            Addr::v4_mask(prefix_v4)
        } else {
            Addr::v6_mask(prefix_v6)
        };
        Addr(self.0 & mask)
    }

    pub fn to_ip(self) -> IpAddr {
        match self.v4() {
            Some(v4) => IpAddr::V4(Ipv4Addr::from(v4)),
            None => IpAddr::V6(Ipv6Addr::from(self.0)),
        }
    }
}

impl From<IpAddr> for Addr {
    fn from(ip: IpAddr) -> Addr {
        match ip {
            IpAddr::V4(v4) => Addr::from_v4(u32::from(v4)),
            IpAddr::V6(v6) => Addr(u128::from(v6)),
        }
    }
}

impl From<Ipv4Addr> for Addr {
    fn from(ip: Ipv4Addr) -> Addr {
        Addr::from_v4(u32::from(ip))
    }
}

impl From<Ipv6Addr> for Addr {
    fn from(ip: Ipv6Addr) -> Addr {
        Addr(u128::from(ip))
    }
}

impl FromStr for Addr {
    type Err = std::net::AddrParseError;
    fn from_str(s: &str) -> Result<Addr, Self::Err> {
        s.parse::<IpAddr>().map(Addr::from)
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.to_ip().fmt(f)
    }
}

impl fmt::Debug for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.to_ip().fmt(f)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn v4_round_trip() {
        let a: Addr = "69.0.231.79".parse().unwrap();
        assert!(a.is_v4());
        assert_eq!(a.v4(), Some(0x4500_e74f));
        assert_eq!(a.to_string(), "69.0.231.79");
        assert_eq!(Addr::from_v4_bytes([69, 0, 231, 79]), a);
    }

    #[test]
    fn v6_is_not_v4() {
        let a: Addr = "2001:db8::1".parse().unwrap();
        assert!(!a.is_v4());
        assert_eq!(a.v4(), None);
        assert_eq!(a.to_string(), "2001:db8::1");
        let mapped: Addr = "::ffff:10.0.0.1".parse().unwrap();
        // An IPv4-mapped IPv6 address on the wire is the same key as the IPv4 address.
        assert_eq!(mapped, "10.0.0.1".parse::<Addr>().unwrap());
    }

    fn masked(a: &str, v4: u8, v6: u8) -> String {
        a.parse::<Addr>().unwrap().masked(v4, v6).to_string()
    }

    #[test]
    fn masked_v4_counts_within_its_32_bits() {
        assert_eq!(masked("192.0.2.7", 32, 64), "192.0.2.7", "/32 is identity");
        assert_eq!(masked("192.0.2.200", 24, 64), "192.0.2.0");
        assert_eq!(masked("192.0.2.200", 8, 128), "192.0.0.0");
        assert_eq!(masked("255.255.255.255", 0, 128), "0.0.0.0");
        // Still IPv4-mapped: the mapping is never masked away.
        assert!("192.0.2.200".parse::<Addr>().unwrap().masked(8, 32).is_v4());
        assert_eq!(masked("192.0.2.200", 33, 64), "192.0.2.200", "capped at 32");
    }

    #[test]
    fn masked_v6_clears_the_interface_bits() {
        assert_eq!(masked("2001:db8:1:2:ffff::1", 32, 64), "2001:db8:1:2::");
        assert_eq!(
            masked("2001:db8:1:2::99", 24, 128),
            "2001:db8:1:2::99",
            "/128 is identity"
        );
        assert_eq!(masked("2001:db8:1:ffff::1", 32, 48), "2001:db8:1::");
        assert_eq!(masked("2001:db8:1:2::3", 32, 0), "::");
        assert_eq!(
            masked("2001:db8:1:2::3", 32, 200),
            "2001:db8:1:2::3",
            "capped at 128"
        );
    }

    #[test]
    fn masked_v4_mapped_takes_the_v4_length() {
        // ::ffff:a.b.c.d from an IPv6 header is the IPv4 address: its /64
        // would be ::, every IPv4 address at once.
        assert_eq!(masked("::ffff:192.0.2.200", 24, 64), "192.0.2.0");
        assert_eq!(masked("::ffff:192.0.2.200", 32, 64), "192.0.2.200");
        assert_eq!(Addr::v4_mask(24), !0xff);
        assert_eq!(Addr::v6_mask(64), !0 << 64);
        assert_eq!(Addr::v6_mask(128), !0);
    }
}

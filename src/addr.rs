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
}

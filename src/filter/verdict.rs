//! What the filter decides about one frame, and why.

use std::fmt;
use std::ops::Add;

/// A point in time or a duration in nanoseconds.
///
/// The filter never reads a clock: the caller passes `now` in. The data path
/// uses a monotonic clock, `replay` uses the capture's timestamps, and tests
/// use a virtual clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Nanos(pub u64);

impl Nanos {
    pub const ZERO: Nanos = Nanos(0);
    pub const fn from_secs(s: u64) -> Nanos {
        Nanos(s.saturating_mul(1_000_000_000))
    }
    pub const fn from_millis(ms: u64) -> Nanos {
        Nanos(ms.saturating_mul(1_000_000))
    }
    pub const fn saturating_sub(self, other: Nanos) -> Nanos {
        Nanos(self.0.saturating_sub(other.0))
    }
    pub const fn as_secs(self) -> u64 {
        self.0 / 1_000_000_000
    }
}

impl Add for Nanos {
    type Output = Nanos;
    #[inline]
    fn add(self, rhs: Nanos) -> Nanos {
        Nanos(self.0.saturating_add(rhs.0))
    }
}

/// The port a frame entered the appliance from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Entered from the WAN (internet, modem) side: inbound.
    Wan,
    /// Entered from the LAN (protected) side: outbound.
    Lan,
}

impl Direction {
    pub const fn as_str(self) -> &'static str {
        match self {
            Direction::Wan => "wan",
            Direction::Lan => "lan",
        }
    }
}

/// The filter's decision for one frame.
#[must_use = "a verdict says what to do with the frame: forward, drop or hold it"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Transmit the frame out of the other port now.
    Forward,
    /// Drop the frame; the reason has been counted.
    Drop(Reason),
    /// Hold the frame and transmit it at the given time (RST delay).
    Delay(Nanos),
}

impl Verdict {
    pub const fn as_str(self) -> &'static str {
        match self {
            Verdict::Forward => "forward",
            Verdict::Drop(_) => "drop",
            Verdict::Delay(_) => "delay",
        }
    }
}

macro_rules! reasons {
    ($($variant:ident => $name:literal : $doc:literal,)*) => {
        /// Why a frame was dropped. Every reason has a counter.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Reason {
            $(#[doc = $doc] $variant,)*
        }

        impl Reason {
            /// Every reason, in counter order.
            pub const ALL: &'static [Reason] = &[$(Reason::$variant,)*];
            /// Number of reasons (size of a counter array).
            pub const COUNT: usize = Reason::ALL.len();

            /// The stable name used in stats, logs and `--verdicts` output.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Reason::$variant => $name,)*
                }
            }

            /// Parse a stable name back into a reason.
            pub fn from_name(s: &str) -> Option<Reason> {
                match s {
                    $($name => Some(Reason::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

reasons! {
    Malformed => "malformed": "truncated or inconsistent headers",
    Fly => "fly": "source is a fly (locked out on the blacklist)",
    BogonSrc => "bogon-src": "source address is reserved or unroutable (bogon)",
    BogusDst => "bogus-dst": "destination address is reserved, broadcast or multicast",
    Spoofed => "spoofed": "source address is impossible for the port it entered from",
    NonIp => "non-ip": "frame is not IP and the policy drops non-IP frames",
    IcmpType => "icmp-type": "ICMP type the policy drops (address mask, timestamp request)",
    IcmpRate => "icmp-rate": "ICMP from this source beyond its rate limit",
    TcpFlags => "tcp-flags": "TCP flag combination that makes no sense",
    Invalid => "invalid": "packet belongs to no valid connection state",
    RstRate => "rst-rate": "RST from this source beyond its rate limit",
    RstQueueFull => "rst-queue-full": "RST delay queue is full",
    SynRate => "syn-rate": "new TCP connections from this source beyond its rate limit",
    Trap => "trap": "touched a trap port; source is now a fly",
    NotAllowed => "not-allowed": "strict mode: inbound traffic that no allow rule matches; source is now a fly",
    Oversize => "oversize": "frame larger than the data path's frame size",
    Mpls => "mpls": "MPLS from the WAN whose labels are not followed by IP (filter.mpls = drop)",
    Tunnel => "tunnel": "tunnel from the WAN the policy drops, nested deeper than one level, or fragmented so it cannot be inspected",
    FragTiny => "frag-tiny": "first fragment too short to hold the transport header (RFC 1858)",
    FragOverlap => "frag-overlap": "fragment at offset 8 (TCP) or overlapping the first fragment's transport header",
    FragTooBig => "frag-too-big": "fragment whose offset plus length passes 65535",
    FragOrphan => "frag-orphan": "later fragment whose first fragment was not seen (dropped at once)",
    FragAfterDrop => "frag-after-drop": "later fragment of a datagram whose first fragment was dropped",
    SourceRoute => "source-route": "IPv4 loose or strict source route, or IPv6 routing header type 0",
    TtlZero => "ttl-zero": "IPv4 TTL or IPv6 hop limit 0",
    Smurf => "smurf": "echo request from the WAN to a directed broadcast or a multicast group",
    NdInvalid => "nd-invalid": "neighbour discovery with a hop limit below 255 or a source RFC 4861 forbids",
    NdRate => "nd-rate": "neighbour discovery from this source beyond its rate limit",
    Vouched => "vouched": "trap hit or strict-mode miss from a source vouched for by a live two-way conversation: dropped, but no fly (a suspected forgery)",
    RstShare => "rst-share": "RST from a source that already holds its share of the RST delay queue",
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn reason_names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for (i, r) in Reason::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "counter index of {r}");
            assert_eq!(Reason::from_name(r.as_str()), Some(*r));
            assert!(seen.insert(r.as_str()));
        }
        assert_eq!(Reason::from_name("nope"), None);
    }

    #[test]
    fn nanos_arithmetic_saturates() {
        assert_eq!(Nanos(u64::MAX) + Nanos(1), Nanos(u64::MAX));
        assert_eq!(Nanos(1).saturating_sub(Nanos(2)), Nanos::ZERO);
        assert_eq!(Nanos::from_secs(86400).as_secs(), 86400);
        assert_eq!(Nanos::from_millis(500), Nanos(500_000_000));
    }
}

//! The compiled policy: what the engine consults on every frame.
//!
//! `config.rs` turns a TOML file into a `Policy` and validates it as a whole;
//! `Policy::default()` is the seed rule set. Everything here is precomputed
//! (prefix masks, port bitmaps, token costs) so the hot path does no
//! division and no parsing.

use crate::addr::Addr;
use crate::filter::blacklist::FlyPrefix;
use crate::filter::lpm::PrefixMatcher;
use crate::filter::verdict::{Nanos, Verdict};

/// An address prefix (IPv4 prefixes are stored IPv4-mapped, length + 96).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prefix {
    addr: u128,
    mask: u128,
    len: u8,
}

impl Prefix {
    /// `len` counts bits of the 128-bit form (IPv4 /8 is 104). Host bits are cleared.
    pub const fn new(addr: Addr, len: u8) -> Prefix {
        let len = if len > 128 { 128 } else { len };
        let mask = if len == 0 {
            0
        } else {
            u128::MAX << (128 - len as u32)
        };
        Prefix {
            addr: addr.0 & mask,
            mask,
            len,
        }
    }

    /// An IPv4 prefix `a.b.c.d/len` (len 0..=32).
    pub const fn v4(a: [u8; 4], len: u8) -> Prefix {
        let len = if len > 32 { 32 } else { len };
        Prefix::new(Addr::from_v4(u32::from_be_bytes(a)), 96 + len)
    }

    /// An IPv6 prefix given as a `u128` and length.
    pub const fn v6(a: u128, len: u8) -> Prefix {
        Prefix::new(Addr(a), len)
    }

    #[inline]
    pub const fn contains(&self, a: Addr) -> bool {
        (a.0 & self.mask) == self.addr
    }

    pub const fn addr(&self) -> Addr {
        Addr(self.addr)
    }

    /// Length in the 128-bit form.
    pub const fn len128(&self) -> u8 {
        self.len
    }

    pub fn is_v4(&self) -> bool {
        self.len >= 96 && Addr(self.addr).is_v4()
    }
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_v4() {
            write!(f, "{}/{}", Addr(self.addr), self.len - 96)
        } else {
            write!(f, "{}/{}", Addr(self.addr), self.len)
        }
    }
}

impl std::str::FromStr for Prefix {
    type Err = String;
    /// `192.0.2.0/24`, `2001:db8::/32`, or a bare address (host prefix).
    fn from_str(s: &str) -> Result<Prefix, String> {
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let ip: std::net::IpAddr = a
            .trim()
            .parse()
            .map_err(|_| format!("`{s}` is not an address or prefix"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let len = match l {
            None => max,
            Some(l) => l
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|l| *l <= max)
                .ok_or_else(|| format!("`{s}`: prefix length must be 0..={max}"))?,
        };
        let addr = Addr::from(ip);
        Ok(if ip.is_ipv4() {
            Prefix::new(addr, 96 + len)
        } else {
            Prefix::new(addr, len)
        })
    }
}

/// A set of prefixes as the config lists them. `contains` scans them
/// linearly (for tests and cold paths); the filter compiles each set into an
/// [`AddrMatcher`], whose lookups cost the same for ten prefixes as for a
/// full bogon list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrefixSet(pub Vec<Prefix>);

impl PrefixSet {
    #[inline]
    pub fn contains(&self, a: Addr) -> bool {
        self.0.iter().any(|p| p.contains(a))
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A `PrefixSet` compiled for the hot path: a trie per address family
/// ([`PrefixMatcher`]), so a lookup is a table read and a few 24-byte nodes
/// however many prefixes the set holds. It answers what
/// [`PrefixSet::contains`] answers.
#[derive(Clone, Debug)]
pub struct AddrMatcher {
    trie: PrefixMatcher,
    empty: bool,
}

impl AddrMatcher {
    pub fn new(set: &PrefixSet) -> AddrMatcher {
        AddrMatcher {
            trie: PrefixMatcher::new(&set.0),
            empty: set.is_empty(),
        }
    }

    #[inline]
    pub fn contains(&self, a: Addr) -> bool {
        self.trie.contains(a)
    }

    /// `contains` for an address of an IPv4 header (so IPv4-mapped: the
    /// caller knows, and the check is skipped).
    #[inline(always)]
    pub fn contains_of(&self, a: Addr, v6_header: bool) -> bool {
        if v6_header {
            self.contains(a)
        } else {
            self.trie.contains_v4(a.0 as u32)
        }
    }

    pub fn is_empty(&self) -> bool {
        self.empty
    }

    /// Bytes of heap memory the compiled set holds.
    pub fn memory_bytes(&self) -> usize {
        self.trie.memory_bytes()
    }
}

/// A set of ports as a 65536-bit bitmap.
#[derive(Clone, PartialEq, Eq)]
pub struct PortSet(Box<[u64; 1024]>);

impl PortSet {
    pub fn new() -> PortSet {
        PortSet(Box::new([0; 1024]))
    }
    pub fn from_ports(ports: &[u16]) -> PortSet {
        let mut s = PortSet::new();
        for &p in ports {
            s.insert(p);
        }
        s
    }
    pub fn insert(&mut self, p: u16) {
        self.0[(p >> 6) as usize] |= 1 << (p & 63);
    }
    #[inline]
    pub fn contains(&self, p: u16) -> bool {
        self.0[(p >> 6) as usize] & (1 << (p & 63)) != 0
    }
    pub fn iter(&self) -> impl Iterator<Item = u16> + '_ {
        (0..=u16::MAX).filter(|p| self.contains(*p))
    }
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }
}

impl Default for PortSet {
    fn default() -> PortSet {
        PortSet::new()
    }
}

impl std::fmt::Debug for PortSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

/// A per-source token-bucket limit in the style of the kernel's `nft_limit`:
/// tokens are nanoseconds, a packet costs `cost` of them, the bucket holds at
/// most `burst * cost`. Computed once when the config is loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    /// Nanoseconds of credit one packet costs (`1e9 * per / rate`).
    pub cost: u64,
    /// Bucket depth in nanoseconds (`cost * burst`).
    pub depth: u64,
    /// The configured rate, for display: packets per `per_secs` seconds.
    pub rate: u32,
    pub per_secs: u32,
    pub burst: u32,
}

impl Limit {
    /// `rate` packets per `per_secs` seconds with the given burst.
    /// Returns `None` when the numbers are zero or would overflow.
    pub const fn new(rate: u32, per_secs: u32, burst: u32) -> Option<Limit> {
        if rate == 0 || per_secs == 0 || burst == 0 {
            return None;
        }
        let cost = (per_secs as u64 * 1_000_000_000) / rate as u64;
        if cost == 0 {
            return None;
        }
        match cost.checked_mul(burst as u64) {
            Some(depth) => Some(Limit {
                cost,
                depth,
                rate,
                per_secs,
                burst,
            }),
            None => None,
        }
    }
    /// Per-second limit.
    pub const fn per_sec(rate: u32, burst: u32) -> Limit {
        match Limit::new(rate, 1, burst) {
            Some(l) => l,
            None => panic!("invalid built-in limit"),
        }
    }
}

/// IP protocol an allow rule or trap matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Proto {
    Tcp,
    Udp,
    /// ICMP echo request (IPv4) or ICMPv6 echo request.
    Icmp,
    /// Any other IP protocol by number (SCTP 132, GRE 47, ESP 50, UDP-Lite
    /// 136, IP-in-IP 4, IPv6-in-IP 41, ...): no ports.
    Other(u8),
}

impl Proto {
    pub const fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "TCP",
            Proto::Udp => "UDP",
            Proto::Icmp => "ICMP",
            Proto::Other(_) => "IP",
        }
    }
}

/// What the filter does with an IP tunnel arriving from the WAN (IP in IP,
/// IPv6 in IPv4, GRE carrying IP, IPv4 or IPv6 in IPv6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunnelMode {
    /// The inner packet meets the same rules as a bare one (one level; a
    /// tunnel in a tunnel is dropped as `tunnel`). Default.
    Inspect,
    /// Every tunnel from the WAN is dropped as `tunnel`.
    Drop,
    /// Tunnels pass; only the outer header is judged.
    Pass,
}

/// Whether the data path carries out the verdicts (`filter.mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// Drops are dropped and accepted RSTs are held. Default.
    #[default]
    Enforce,
    /// Every verdict is computed and counted as in `Enforce`, and flies
    /// are recorded, but every frame is forwarded at once: a frame that
    /// would be dropped passes, an RST that would be held passes without
    /// its delay. The appliance sends none of its own frames (the SYN-ACK
    /// cookies of `trap.proof = "handshake"` are counted, not sent), and
    /// no fly is copied into the XDP program's map, so the kernel drops
    /// nothing either. For trying a policy on live traffic.
    Monitor,
}

impl Mode {
    /// What the data path does with a frame the filter gave verdict `v`.
    #[inline(always)]
    pub fn enact(self, v: Verdict) -> Verdict {
        match self {
            Mode::Enforce => v,
            Mode::Monitor => Verdict::Forward,
        }
    }

    /// Whether the data path sends the frames the filter makes (SYN-ACKs)
    /// and the XDP program drops flies.
    pub fn enforces(self) -> bool {
        self == Mode::Enforce
    }
}

/// What a trap hit from a source that has not proved its address does
/// (`trap.proof`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proof {
    /// Every hit makes a fly for `trap.lockout_s` (the article's daemon).
    None,
    /// A TCP hit is answered with a SYN-ACK carrying a SYN cookie; the
    /// source becomes a proven fly (full lock-out) only when it returns
    /// the cookie. Until then, and for every other hit, an unproven fly
    /// for `trap.unproven_lockout_s`.
    Handshake,
}

/// How the per-source SYN limit counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SynMode {
    /// iptables `recent --update --seconds S --hitcount N`: every attempt
    /// counts, refused ones too (default).
    Window,
    /// A token bucket with a burst: refused attempts cost nothing.
    Bucket,
}

/// An inbound service the strict flypaper mode allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowRule {
    pub proto: Proto,
    /// Inclusive destination port range (ignored for ICMP).
    pub ports: (u16, u16),
    /// Destination restriction; empty means any destination.
    pub dst: PrefixSet,
}

impl AllowRule {
    #[inline]
    pub fn matches(&self, proto: Proto, dport: u16, dst: Addr) -> bool {
        self.proto == proto
            && port_allowed(proto, self.ports, dport)
            && (self.dst.is_empty() || self.dst.contains(dst))
    }
}

/// `dport` is in an allow rule's `ports`, for a protocol that has ports
/// (ICMP rules and rules for other protocols match any).
#[inline(always)]
fn port_allowed(proto: Proto, (lo, hi): (u16, u16), dport: u16) -> bool {
    matches!(proto, Proto::Icmp | Proto::Other(_)) || (lo <= dport && dport <= hi)
}

/// The allow rules compiled for the hot path: each rule's `dst` as an
/// [`AddrMatcher`]. Answers what [`AllowRule::matches`] answers for some rule.
#[derive(Clone, Debug)]
pub struct AllowMatcher {
    rules: Vec<(Proto, (u16, u16), Option<AddrMatcher>)>,
}

impl AllowMatcher {
    pub fn new(rules: &[AllowRule]) -> AllowMatcher {
        let rules = rules
            .iter()
            .map(|r| {
                let dst = (!r.dst.is_empty()).then(|| AddrMatcher::new(&r.dst));
                (r.proto, r.ports, dst)
            })
            .collect();
        AllowMatcher { rules }
    }

    /// Does any rule allow `proto` to `dst`, port `dport`?
    #[inline]
    pub fn allows(&self, proto: Proto, dport: u16, dst: Addr) -> bool {
        self.rules.iter().any(|(p, ports, m)| {
            *p == proto
                && port_allowed(proto, *ports, dport)
                && m.as_ref().is_none_or(|m| m.contains(dst))
        })
    }
}

/// Which frames may create a flow entry for a TCP connection that was
/// already open before the appliance started (mid-stream pickup).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pickup {
    /// Only SYNs open flows; everything mid-stream is `invalid`.
    None,
    /// A mid-stream segment with ACK set from the LAN side opens an
    /// established flow (the protected host vouches for it). Default.
    Lan,
    /// Mid-stream segments from either side open established flows.
    Both,
}

/// Connection-tracking timeouts and behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conntrack {
    pub pickup: Pickup,
    /// Half-open TCP (SYN seen, handshake not finished).
    pub syn_timeout: Nanos,
    pub established_timeout: Nanos,
    /// After FIN or RST.
    pub close_timeout: Nanos,
    /// UDP flow seen in one direction only.
    pub udp_timeout: Nanos,
    /// UDP flow seen in both directions.
    pub udp_stream_timeout: Nanos,
    /// How long the verdict of a datagram's first fragment is remembered
    /// for its later fragments.
    pub fragment_timeout: Nanos,
}

impl Default for Conntrack {
    fn default() -> Conntrack {
        Conntrack {
            pickup: Pickup::Lan,
            syn_timeout: Nanos::from_secs(30),
            established_timeout: Nanos::from_secs(86_400),
            close_timeout: Nanos::from_secs(30),
            udp_timeout: Nanos::from_secs(30),
            udp_stream_timeout: Nanos::from_secs(180),
            fragment_timeout: Nanos::from_secs(30),
        }
    }
}

/// Sizes of every bounded table (entries, fixed at start-up).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tables {
    /// Per-source rate-limit entries per worker.
    pub sources: usize,
    /// Flow-table entries per worker.
    pub flows: usize,
    /// Blacklist capacity (flies), shared by all workers.
    pub flies: usize,
    /// Frames the RST delay queue may hold per worker.
    pub rst_queue: usize,
    /// Of those, how many one source (fly prefix) may hold.
    pub rst_share: usize,
    /// Learned LAN addresses and vouched WAN peers, shared by all workers.
    pub trust: usize,
    /// Datagrams whose first fragment's verdict is remembered, per worker.
    pub fragments: usize,
}

impl Default for Tables {
    fn default() -> Tables {
        Tables {
            sources: 65_536,
            flows: 262_144,
            flies: 262_144,
            rst_queue: 4096,
            rst_share: 64,
            trust: 65_536,
            fragments: 16_384,
        }
    }
}

/// The whole compiled policy.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Sources dropped when entering from the WAN.
    pub bogon_src: PrefixSet,
    /// Destinations dropped when entering from the WAN.
    pub bogus_dst: PrefixSet,
    /// LAN prefixes; when non-empty, anti-spoof by direction is on.
    pub lan: PrefixSet,
    /// ICMP (v4) types dropped outright, as a 256-bit map.
    pub icmp_drop: [bool; 256],
    /// ICMPv6 types dropped outright.
    pub icmpv6_drop: [bool; 256],
    pub icmp_limit: Option<Limit>,
    pub rst_limit: Option<Limit>,
    pub syn_limit: Option<Limit>,
    pub syn_mode: SynMode,
    /// Neighbour discovery per source from the WAN (it shares the source's
    /// ICMP state, at its own, more generous rate).
    pub nd_limit: Option<Limit>,
    /// Accepted inbound RSTs are held this long (zero: no delay).
    pub rst_delay: Nanos,
    pub trap_tcp: PortSet,
    pub trap_udp: PortSet,
    /// How long a fly stays locked out.
    pub lockout: Nanos,
    /// What proves a trap hit's source (`trap.proof`).
    pub proof: Proof,
    /// With `Proof::Handshake`, how long an unproven fly stays locked out.
    pub unproven_lockout: Nanos,
    /// How much of a source address a fly and the per-source limits cover.
    pub fly_prefix: FlyPrefix,
    /// How long (seconds) a WAN peer stays vouched for after its last
    /// two-way traffic.
    pub vouch_secs: u32,
    /// SYN-ACKs (SYN cookies) per source prefix.
    pub synack_limit: Option<Limit>,
    /// SYN-ACKs in all, across workers.
    pub synack_global: Option<Limit>,
    /// Strict flypaper mode: inbound new traffic that no allow rule matches makes a fly.
    pub strict: bool,
    pub allow: Vec<AllowRule>,
    /// Addresses no rule may turn into a fly.
    pub never_block: PrefixSet,
    /// Drop frames that are neither IPv4, IPv6 nor ARP.
    pub drop_non_ip: bool,
    pub tunnels: TunnelMode,
    /// Drop MPLS frames from the WAN whose label stack is not followed by
    /// IPv4 or IPv6 (`filter.mpls = "drop"`, default).
    pub mpls_drop_non_ip: bool,
    /// Carry the verdicts out, or only count them (`filter.mode`).
    pub mode: Mode,
    pub conntrack: Conntrack,
    pub tables: Tables,
}

/// IPv4 bogon sources from the seed: 0/8, 10/8, 127/8, 169.254/16,
/// 172.16/12, 192.168/16, 224/4, 240/5 and the limited broadcast.
pub fn default_bogon_src_v4() -> Vec<Prefix> {
    vec![
        Prefix::v4([0, 0, 0, 0], 8),
        Prefix::v4([10, 0, 0, 0], 8),
        Prefix::v4([127, 0, 0, 0], 8),
        Prefix::v4([169, 254, 0, 0], 16),
        Prefix::v4([172, 16, 0, 0], 12),
        Prefix::v4([192, 168, 0, 0], 16),
        Prefix::v4([224, 0, 0, 0], 4),
        Prefix::v4([240, 0, 0, 0], 5),
        Prefix::v4([255, 255, 255, 255], 32),
    ]
}

/// IPv6 sources that cannot come from the internet: unspecified, loopback,
/// unique-local (fc00::/7), multicast (ff00::/8), the
/// discard-only block (100::/64), site-local (fec0::/10, deprecated).
/// Link-local (fe80::/10) is handled separately, and so are IPv4-mapped
/// sources in an IPv6 header (the engine drops them: flypaper stores IPv4
/// addresses in that block, so a prefix for it would match every IPv4 source).
pub fn default_bogon_src_v6() -> Vec<Prefix> {
    vec![
        Prefix::v6(0, 128),
        Prefix::v6(1, 128),
        Prefix::v6(0xfc00 << 112, 7),
        Prefix::v6(0xff00 << 112, 8),
        Prefix::v6(0x0100 << 112, 64),
        Prefix::v6(0xfec0 << 112, 10),
    ]
}

/// IPv4 bogus destinations from the seed: 0/8, 240/5, 239.255.255.0/24,
/// 255.255.255.255 and 224/4.
pub fn default_bogus_dst_v4() -> Vec<Prefix> {
    vec![
        Prefix::v4([0, 0, 0, 0], 8),
        Prefix::v4([240, 0, 0, 0], 5),
        Prefix::v4([239, 255, 255, 0], 24),
        Prefix::v4([255, 255, 255, 255], 32),
        Prefix::v4([224, 0, 0, 0], 4),
    ]
}

/// IPv6 bogus destinations: unspecified and loopback. Multicast stays legal
/// (neighbour discovery, router advertisements and DHCPv6 need it).
pub fn default_bogus_dst_v6() -> Vec<Prefix> {
    vec![Prefix::v6(0, 128), Prefix::v6(1, 128)]
}

/// The IPv6 link-local block fe80::/10.
pub const LINK_LOCAL_V6: Prefix = Prefix::v6(0xfe80 << 112, 10);
/// IPv4 link-local (RFC 3927), as IPv4-mapped.
pub const LINK_LOCAL_V4: Prefix = Prefix::v6(0xffff_a9fe_0000, 96 + 16);
/// The IPv6 multicast block ff00::/8.
pub const MULTICAST_V6: Prefix = Prefix::v6(0xff00 << 112, 8);

impl Default for Policy {
    fn default() -> Policy {
        let mut bogon_src = default_bogon_src_v4();
        bogon_src.extend(default_bogon_src_v6());
        let mut bogus_dst = default_bogus_dst_v4();
        bogus_dst.extend(default_bogus_dst_v6());
        let mut icmp_drop = [false; 256];
        icmp_drop[5] = true; // redirect
        icmp_drop[13] = true; // timestamp request
        icmp_drop[17] = true; // address mask request
        Policy {
            bogon_src: PrefixSet(bogon_src),
            bogus_dst: PrefixSet(bogus_dst),
            lan: PrefixSet::default(),
            icmp_drop,
            icmpv6_drop: [false; 256],
            icmp_limit: Some(Limit::per_sec(1, 5)),
            rst_limit: Some(Limit::per_sec(2, 2)),
            syn_limit: Some(Limit::per_sec(60, 60)),
            syn_mode: SynMode::Window,
            nd_limit: Some(Limit::per_sec(50, 100)),
            rst_delay: Nanos::from_millis(500),
            trap_tcp: PortSet::from_ports(&[139]),
            trap_udp: PortSet::new(),
            lockout: Nanos::from_secs(86_400),
            proof: Proof::None,
            unproven_lockout: Nanos::from_secs(600),
            fly_prefix: FlyPrefix::default(),
            vouch_secs: 600,
            synack_limit: Some(Limit::per_sec(1, 3)),
            synack_global: Some(Limit::per_sec(200, 200)),
            strict: false,
            allow: Vec::new(),
            never_block: PrefixSet::default(),
            drop_non_ip: false,
            tunnels: TunnelMode::Inspect,
            mpls_drop_non_ip: true,
            mode: Mode::Enforce,
            conntrack: Conntrack::default(),
            tables: Tables::default(),
        }
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn monitor_mode_forwards_every_verdict_at_once() {
        use crate::filter::Reason;
        let verdicts = [
            Verdict::Forward,
            Verdict::Drop(Reason::Trap),
            Verdict::Delay(Nanos::from_millis(500)),
        ];
        for v in verdicts {
            assert_eq!(Mode::Enforce.enact(v), v);
            assert_eq!(Mode::Monitor.enact(v), Verdict::Forward, "{v:?}");
        }
        assert!(Mode::default().enforces());
        assert!(!Mode::Monitor.enforces());
        assert_eq!(Policy::default().mode, Mode::Enforce);
    }

    fn a(s: &str) -> Addr {
        s.parse().unwrap()
    }

    #[test]
    fn prefix_contains_v4_and_v6() {
        let p: Prefix = "172.16.0.0/12".parse().unwrap();
        assert!(p.contains(a("172.31.255.255")));
        assert!(!p.contains(a("172.32.0.0")));
        assert!(!p.contains(a("2001:db8::1")));
        assert_eq!(p.to_string(), "172.16.0.0/12");
        let p6: Prefix = "fc00::/7".parse().unwrap();
        assert!(p6.contains(a("fd12::1")));
        assert!(!p6.contains(a("fe80::1")));
        assert_eq!(p6.to_string(), "fc00::/7");
        let host: Prefix = "198.51.100.1".parse().unwrap();
        assert!(host.contains(a("198.51.100.1")) && !host.contains(a("198.51.100.2")));
        assert!("1.2.3.4/33".parse::<Prefix>().is_err());
        assert!("nonsense/8".parse::<Prefix>().is_err());
        let all: Prefix = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(a("8.8.8.8")) && !all.contains(a("::1")));
    }

    #[test]
    fn default_bogons_match_the_seed() {
        let p = Policy::default();
        for s in [
            "0.1.2.3",
            "10.0.0.1",
            "127.0.0.1",
            "169.254.1.1",
            "172.16.0.1",
            "192.168.1.1",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fd00::1",
            "ff02::1",
        ] {
            assert!(p.bogon_src.contains(a(s)), "{s} should be a bogon source");
        }
        for s in ["198.51.100.7", "8.8.8.8", "2001:db8::1", "fe80::1"] {
            assert!(!p.bogon_src.contains(a(s)), "{s} is not a bogon source");
        }
        for s in [
            "0.0.0.1",
            "240.1.1.1",
            "239.255.255.7",
            "255.255.255.255",
            "224.0.0.251",
        ] {
            assert!(
                p.bogus_dst.contains(a(s)),
                "{s} should be a bogus destination"
            );
        }
        assert!(!p.bogus_dst.contains(a("ff02::1")));
    }

    #[test]
    fn the_compiled_matcher_agrees_with_the_prefix_scan() {
        let mut sets = vec![
            Policy::default().bogon_src,
            Policy::default().bogus_dst,
            PrefixSet(vec![
                "198.51.100.128/25".parse().unwrap(),
                "2001:db8:1::/48".parse().unwrap(),
            ]),
            PrefixSet(vec!["0.0.0.0/0".parse().unwrap()]),
            PrefixSet(vec![
                "10.0.0.0/7".parse().unwrap(),
                "10.1.2.3".parse().unwrap(),
            ]),
            PrefixSet::default(),
        ];
        sets.push(PrefixSet(vec![
            "128.0.0.0/1".parse().unwrap(),
            "1.2.3.0/24".parse().unwrap(),
        ]));
        let mut x: u64 = 0x1234_5678_9abc_def1;
        for set in &sets {
            let m = AddrMatcher::new(set);
            for i in 0..20_000u32 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                // Mostly IPv4 (random and near the interesting prefixes), some IPv6.
                let a = match i % 4 {
                    0 => Addr::from_v4(x as u32),
                    1 => Addr::from_v4((x as u32 & 0x00ff_ffff) | ((i % 256) << 24)),
                    2 => Addr::from_v4(0xc633_6400 | (x as u32 & 0xff)),
                    _ => Addr(((x as u128) << 64 | x as u128) ^ ((i as u128) << 120)),
                };
                assert_eq!(m.contains(a), set.contains(a), "{a} in {set:?}");
            }
            for a in [
                "255.255.255.255",
                "0.0.0.0",
                "127.0.0.1",
                "::1",
                "fe80::1",
                "ff02::1",
                "::",
            ] {
                let a: Addr = a.parse().unwrap();
                assert_eq!(m.contains(a), set.contains(a), "{a} in {set:?}");
            }
            assert_eq!(m.is_empty(), set.is_empty());
        }
    }

    #[test]
    fn the_compiled_allow_rules_agree_with_the_rules() {
        let rule = |proto, ports, dst: &[&str]| AllowRule {
            proto,
            ports,
            dst: PrefixSet(dst.iter().map(|s| s.parse().unwrap()).collect()),
        };
        let rules = vec![
            rule(Proto::Tcp, (22, 22), &["198.51.100.10", "2001:db8::/64"]),
            rule(Proto::Udp, (6000, 6010), &[]),
            rule(Proto::Icmp, (0, u16::MAX), &["198.51.100.0/25"]),
            // Protocols without ports match whatever port is asked for.
            rule(Proto::Other(47), (5, 5), &["198.51.100.0/25"]),
        ];
        let m = AllowMatcher::new(&rules);
        let addrs = [
            "198.51.100.10",
            "198.51.100.11",
            "198.51.100.200",
            "2001:db8::1",
            "2001:db8:1::1",
            "8.8.8.8",
        ];
        for proto in [Proto::Tcp, Proto::Udp, Proto::Icmp, Proto::Other(47)] {
            for port in [0, 21, 22, 23, 5999, 6000, 6010, 6011] {
                for s in addrs {
                    let dst = a(s);
                    let want = rules.iter().any(|r| r.matches(proto, port, dst));
                    assert_eq!(m.allows(proto, port, dst), want, "{proto:?} {port} {s}");
                }
            }
        }
        assert!(!AllowMatcher::new(&[]).allows(Proto::Icmp, 0, a("1.2.3.4")));
    }

    #[test]
    fn port_set_bitmap() {
        let s = PortSet::from_ports(&[0, 139, 65535]);
        assert!(s.contains(0) && s.contains(139) && s.contains(65535));
        assert!(!s.contains(138) && !s.contains(140));
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![0, 139, 65535]);
    }

    #[test]
    fn limit_costs_are_precomputed_and_overflow_checked() {
        let l = Limit::per_sec(60, 60);
        assert_eq!(l.cost, 16_666_666);
        assert_eq!(l.depth, 16_666_666 * 60);
        assert!(Limit::new(0, 1, 1).is_none());
        assert!(Limit::new(1, 1, 0).is_none());
        assert!(Limit::new(u32::MAX, 1, 1).is_none(), "cost rounds to 0 ns");
        assert!(
            Limit::new(1, u32::MAX, u32::MAX).is_none(),
            "depth overflows"
        );
    }
}

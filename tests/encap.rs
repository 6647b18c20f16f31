//! Scenario tests for what the filter must see through: tag stacks, PPPoE,
//! MPLS, tunnels, fragments, IP options, ICMP/ICMPv6 rules, every protocol
//! in strict mode, and oversize frames. Real frame bytes, a virtual clock.
//!
//! Every attack is also sent bare first, so that each test shows the
//! encapsulated frame meets the same rule (and reason) as the bare one.

#![allow(clippy::field_reassign_with_default)]

mod common;

use common::*;
use flypaper::filter::policy::{AllowRule, PrefixSet, Proto, TunnelMode};
use flypaper::filter::{Filter, Nanos, Policy, Reason, Verdict, MAX_FRAME};
use flypaper::wire::ParseError;
use flypaper::Direction;

const LAN_SERVER: &str = "198.51.100.10";
const LAN_CLIENT: &str = "198.51.100.20";
const WAN_HOST: &str = "203.0.113.10";
const SCANNER: &str = "203.0.113.99";

#[allow(non_snake_case)]
fn DROP(r: Reason) -> Verdict {
    Verdict::Drop(r)
}

struct Lab {
    f: Filter,
    now: Nanos,
}

impl Lab {
    fn new(p: Policy) -> Lab {
        Lab {
            f: Filter::standalone(p, 7),
            now: Nanos::from_secs(1_000),
        }
    }
    fn default() -> Lab {
        let mut p = Policy::default();
        p.lan = prefixes(&["198.51.100.0/24", "2001:db8:1::/48"]);
        Lab::new(p)
    }
    fn wan(&mut self, frame: &[u8]) -> Verdict {
        self.f.process(self.now, Direction::Wan, frame)
    }
    fn lan(&mut self, frame: &[u8]) -> Verdict {
        self.f.process(self.now, Direction::Lan, frame)
    }
    fn is_fly(&self, a: &str) -> bool {
        self.f.blacklist().is_fly(a.parse().unwrap(), self.now)
    }
}

fn prefixes(p: &[&str]) -> PrefixSet {
    PrefixSet(p.iter().map(|s| s.parse().unwrap()).collect())
}

fn csum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Refresh the checksum of the IPv4 header at `l3`.
fn fix4(f: &mut [u8], l3: usize) {
    let hl = usize::from(f[l3] & 0x0f) * 4;
    f[l3 + 10..l3 + 12].copy_from_slice(&[0, 0]);
    let c = csum(&f[l3..l3 + hl]);
    f[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
}

/// A bare IPv4 frame with `n` zero bytes appended to its IP packet (total
/// length and header checksum refreshed).
fn padded4(mut f: Vec<u8>, n: usize) -> Vec<u8> {
    f.extend(std::iter::repeat_n(0u8, n));
    let total = (f.len() - 14) as u16;
    f[16..18].copy_from_slice(&total.to_be_bytes());
    fix4(&mut f, 14);
    f
}

/// A bare IPv4 frame with 8 bytes of IPv4 options (IHL 7) inserted after
/// its fixed header.
fn with_options4(mut f: Vec<u8>, opts: [u8; 8]) -> Vec<u8> {
    f.splice(34..34, opts);
    f[14] = 0x47;
    let total = (f.len() - 14) as u16;
    f[16..18].copy_from_slice(&total.to_be_bytes());
    fix4(&mut f, 14);
    f
}

/// Replace the EtherType (bytes 12..14) and everything after it.
fn with_l2(frame: &[u8], l2: &[u8], ip: &[u8]) -> Vec<u8> {
    let mut f = frame[..12].to_vec();
    f.extend_from_slice(l2);
    f.extend_from_slice(ip);
    f
}

/// The IP packet of a bare frame (after the 14-byte Ethernet header).
fn ip_of(frame: &[u8]) -> &[u8] {
    &frame[14..]
}

fn is_v6(frame: &[u8]) -> bool {
    frame[12..14] == [0x86, 0xdd]
}

/// Tags with the given TPIDs (outermost first), then the frame's EtherType.
fn tagged(frame: &[u8], tpids: &[u16]) -> Vec<u8> {
    let mut f = frame[..12].to_vec();
    for (i, t) in tpids.iter().enumerate() {
        f.extend_from_slice(&t.to_be_bytes());
        f.extend_from_slice(&(100 + i as u16).to_be_bytes());
    }
    f.extend_from_slice(&frame[12..]);
    f
}

/// A PPPoE session frame carrying the bare frame's IP packet.
fn pppoe(frame: &[u8]) -> Vec<u8> {
    let ip = ip_of(frame);
    let proto: u16 = if is_v6(frame) { 0x0057 } else { 0x0021 };
    let mut l2 = vec![0x88, 0x64, 0x11, 0x00, 0x12, 0x34];
    l2.extend_from_slice(&((ip.len() + 2) as u16).to_be_bytes());
    l2.extend_from_slice(&proto.to_be_bytes());
    with_l2(frame, &l2, ip)
}

/// A PPPoE session frame with a PPP control protocol payload.
fn pppoe_control(proto: u16) -> Vec<u8> {
    let body = [0x01, 0x01, 0x00, 0x04];
    let mut l2 = vec![0x88, 0x64, 0x11, 0x00, 0x12, 0x34];
    l2.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
    l2.extend_from_slice(&proto.to_be_bytes());
    let mut f = with_l2(&tcp(WAN_HOST, 1, LAN_SERVER, 2, SYN), &l2, &body);
    f.resize(60, 0);
    f
}

/// An MPLS frame with `labels` labels in front of the bare frame's IP packet.
fn mpls(frame: &[u8], labels: usize) -> Vec<u8> {
    let mut l2 = vec![0x88, 0x47];
    for i in 0..labels {
        let bottom = if i + 1 == labels { 1 } else { 0 };
        l2.extend_from_slice(&[0x00, 0x10 + i as u8, bottom, 64]);
    }
    with_l2(frame, &l2, ip_of(frame))
}

/// `inner`'s IP packet carried in an IPv4 or IPv6 packet of `proto` from
/// `src` to `dst` (with `gre` bytes of GRE header in between, if any).
fn tunnel(src: &str, dst: &str, proto: u8, gre: &[u8], inner: &[u8]) -> Vec<u8> {
    let mut payload = gre.to_vec();
    payload.extend_from_slice(ip_of(inner));
    let v6 = src.contains(':');
    let mut f = tcp(
        if v6 { "2001:db8::1" } else { WAN_HOST },
        1,
        if v6 { "2001:db8:1::1" } else { LAN_SERVER },
        2,
        SYN,
    )[..12]
        .to_vec();
    let (s, d): (std::net::IpAddr, std::net::IpAddr) = (src.parse().unwrap(), dst.parse().unwrap());
    match (s, d) {
        (std::net::IpAddr::V4(s), std::net::IpAddr::V4(d)) => {
            f.extend_from_slice(&[0x08, 0x00]);
            let mut h = vec![0x45, 0, 0, 0, 0x55, 0x66, 0x40, 0, 64, proto, 0, 0];
            h[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
            h.extend_from_slice(&s.octets());
            h.extend_from_slice(&d.octets());
            let c = csum(&h);
            h[10..12].copy_from_slice(&c.to_be_bytes());
            f.extend_from_slice(&h);
        }
        (std::net::IpAddr::V6(s), std::net::IpAddr::V6(d)) => {
            f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
            f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
            f.extend_from_slice(&[proto, 64]);
            f.extend_from_slice(&s.octets());
            f.extend_from_slice(&d.octets());
        }
        _ => panic!("mixed families"),
    }
    f.extend_from_slice(&payload);
    f
}

/// GRE version 0 with key and sequence fields, carrying `inner`'s family.
fn gre_header(inner: &[u8]) -> Vec<u8> {
    let proto: u16 = if is_v6(inner) { 0x86dd } else { 0x0800 };
    let mut g = vec![0x30, 0x00];
    g.extend_from_slice(&proto.to_be_bytes());
    g.extend_from_slice(&[0, 0, 0, 42, 0, 0, 0, 1]);
    g
}

/// Every way this suite wraps a frame from the WAN, by name.
fn wrappings(bare: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let v6 = is_v6(bare);
    let mut w = vec![
        ("bare", bare.to_vec()),
        ("802.1Q", tagged(bare, &[0x8100])),
        (
            "0x9100+802.1ad+802.1Q",
            tagged(bare, &[0x9100, 0x88a8, 0x8100]),
        ),
        ("PPPoE", pppoe(bare)),
        ("tagged PPPoE", tagged(&pppoe(bare), &[0x8100])),
        ("MPLS x1", mpls(bare, 1)),
        ("MPLS x3", mpls(bare, 3)),
    ];
    let (ip_proto, gre) = (if v6 { 41 } else { 4 }, gre_header(bare));
    w.push((
        "IP tunnel in IPv4",
        tunnel("203.0.113.7", LAN_SERVER, ip_proto, &[], bare),
    ));
    w.push((
        "GRE in IPv4",
        tunnel("203.0.113.7", LAN_SERVER, 47, &gre, bare),
    ));
    w.push((
        "IP tunnel in IPv6",
        tunnel("2001:db8::7", "2001:db8:1::10", ip_proto, &[], bare),
    ));
    w.push((
        "GRE in IPv6",
        tunnel("2001:db8::7", "2001:db8:1::10", 47, &gre, bare),
    ));
    w.push((
        "GRE in PPPoE",
        pppoe(&tunnel("203.0.113.7", LAN_SERVER, 47, &gre, bare)),
    ));
    w
}

#[test]
fn the_seed_attacks_meet_the_same_rule_inside_every_encapsulation() {
    let attacks: Vec<(&str, Vec<u8>, Reason)> = vec![
        (
            "bogon source",
            tcp("10.1.2.3", 1000, LAN_SERVER, 80, SYN),
            Reason::BogonSrc,
        ),
        (
            "SYN+FIN",
            tcp(WAN_HOST, 1001, LAN_SERVER, 80, SYN | FIN),
            Reason::TcpFlags,
        ),
        (
            "XMAS",
            tcp(WAN_HOST, 1002, LAN_SERVER, 80, FIN | PSH | URG),
            Reason::TcpFlags,
        ),
        (
            "LAN source from the WAN",
            tcp(LAN_CLIENT, 1003, LAN_SERVER, 80, SYN),
            Reason::Spoofed,
        ),
        (
            "bogus destination",
            udp(WAN_HOST, 1004, "255.255.255.255", 9, b"x"),
            Reason::BogusDst,
        ),
        (
            "timestamp request",
            icmp(WAN_HOST, LAN_SERVER, 13),
            Reason::IcmpType,
        ),
        (
            "IPv6 unique-local source",
            tcp("fd00::1", 1005, "2001:db8:1::10", 80, SYN),
            Reason::BogonSrc,
        ),
        (
            "IPv6 SYN+RST",
            tcp("2001:db8::5", 1006, "2001:db8:1::10", 80, SYN | RST),
            Reason::TcpFlags,
        ),
        (
            "mid-stream ACK",
            tcp(WAN_HOST, 1007, LAN_SERVER, 80, ACK),
            Reason::Invalid,
        ),
    ];
    for (what, bare, reason) in &attacks {
        for (how, frame) in wrappings(bare) {
            let mut l = Lab::default();
            assert_eq!(l.wan(&frame), DROP(*reason), "{what} in {how}");
        }
    }
}

#[test]
fn legitimate_traffic_passes_inside_every_encapsulation_and_both_ways() {
    let mut l = Lab::default();
    for (how, frame) in wrappings(&tcp(WAN_HOST, 2000, LAN_SERVER, 22, SYN)) {
        assert_eq!(l.wan(&frame), Verdict::Forward, "inbound SYN in {how}");
    }
    let v6 = tcp("2001:db8::5", 2001, "2001:db8:1::10", 22, SYN);
    for (how, frame) in wrappings(&v6) {
        assert_eq!(l.wan(&frame), Verdict::Forward, "IPv6 SYN in {how}");
    }
    for f in [
        pppoe(&tcp(LAN_CLIENT, 3000, WAN_HOST, 443, SYN)),
        pppoe(&tcp("2001:db8:1::20", 3001, "2001:db8::5", 443, SYN)),
        tagged(
            &pppoe(&udp(LAN_CLIENT, 3002, WAN_HOST, 53, b"q")),
            &[0x8100],
        ),
        mpls(&tcp(LAN_CLIENT, 3003, WAN_HOST, 443, SYN), 2),
    ] {
        assert_eq!(l.lan(&f), Verdict::Forward);
    }
    // The replies to the LAN's connection inside PPPoE.
    assert_eq!(
        l.wan(&pppoe(&tcp(WAN_HOST, 443, LAN_CLIENT, 3000, SYN | ACK))),
        Verdict::Forward
    );
    assert_eq!(l.f.stats().drops.iter().sum::<u64>(), 0);
}

#[test]
fn a_trap_behind_any_encapsulation_makes_the_inner_source_a_fly() {
    for (i, (how, frame)) in wrappings(&tcp(SCANNER, 4000, LAN_SERVER, 139, SYN))
        .into_iter()
        .enumerate()
    {
        let mut l = Lab::default();
        assert_eq!(l.wan(&frame), DROP(Reason::Trap), "{how}");
        assert!(l.is_fly(SCANNER), "{how} (#{i})");
        // Its next frames, bare or wrapped, are dropped as a fly's.
        assert_eq!(
            l.wan(&pppoe(&tcp(SCANNER, 4001, LAN_SERVER, 22, SYN))),
            DROP(Reason::Fly),
            "{how}"
        );
        assert_eq!(
            l.wan(&tcp(SCANNER, 4002, LAN_SERVER, 22, SYN)),
            DROP(Reason::Fly),
            "{how}"
        );
    }
    // A fly as the outer source of a tunnel is dropped too.
    let mut l = Lab::default();
    assert_eq!(
        l.wan(&tcp("203.0.113.7", 1, LAN_SERVER, 139, SYN)),
        DROP(Reason::Trap)
    );
    let inner = tcp(WAN_HOST, 4003, LAN_SERVER, 22, SYN);
    let t = tunnel("203.0.113.7", LAN_SERVER, 4, &[], &inner);
    assert_eq!(l.wan(&t), DROP(Reason::Fly));
}

#[test]
fn tag_stacks_deeper_than_three_and_mpls_deeper_than_eight_are_malformed() {
    let mut l = Lab::default();
    let bare = tcp(WAN_HOST, 5000, LAN_SERVER, 22, SYN);
    assert_eq!(
        l.wan(&tagged(&bare, &[0x88a8, 0x9100, 0x8100])),
        Verdict::Forward
    );
    assert_eq!(
        l.wan(&tagged(&bare, &[0x88a8, 0x9100, 0x8100, 0x8100])),
        DROP(Reason::Malformed)
    );
    assert_eq!(l.wan(&mpls(&bare, 8)), Verdict::Forward);
    assert_eq!(l.wan(&mpls(&bare, 9)), DROP(Reason::Malformed));
    let s = l.f.stats();
    assert_eq!(s.malformed[ParseError::TooManyVlanTags.index()], 1);
    assert_eq!(s.malformed[ParseError::TooManyMplsLabels.index()], 1);
}

#[test]
fn pppoe_link_control_passes_and_a_broken_session_header_is_malformed() {
    let mut l = Lab::default();
    for proto in [0xc021u16, 0xc023, 0xc223, 0x8021, 0x8057] {
        assert_eq!(l.wan(&pppoe_control(proto)), Verdict::Forward, "{proto:#x}");
        assert_eq!(l.lan(&pppoe_control(proto)), Verdict::Forward, "{proto:#x}");
    }
    // Discovery (PADI) passes even when non-IP frames are dropped.
    let mut p = Policy::default();
    p.drop_non_ip = true;
    let mut strict_l2 = Lab::new(p);
    let mut padi = tcp(WAN_HOST, 1, LAN_SERVER, 2, SYN)[..12].to_vec();
    padi.extend_from_slice(&[0x88, 0x63, 0x11, 0x09, 0, 0, 0, 0]);
    padi.resize(60, 0);
    assert_eq!(strict_l2.wan(&padi), Verdict::Forward);
    assert_eq!(strict_l2.wan(&pppoe_control(0xc021)), Verdict::Forward);
    // A PPP protocol field compressed to one byte still carries IPv4.
    let bare = tcp("10.9.9.9", 1, LAN_SERVER, 80, SYN);
    let mut compressed = pppoe(&bare);
    compressed.remove(20);
    let len = u16::from_be_bytes([compressed[18], compressed[19]]) - 1;
    compressed[18..20].copy_from_slice(&len.to_be_bytes());
    assert_eq!(l.wan(&compressed), DROP(Reason::BogonSrc));
    // Version 2, or a length beyond the frame: malformed.
    let mut v2 = pppoe(&bare);
    v2[14] = 0x21;
    assert_eq!(l.wan(&v2), DROP(Reason::Malformed));
    let mut long = pppoe(&bare);
    long[18..20].copy_from_slice(&1500u16.to_be_bytes());
    assert_eq!(l.wan(&long), DROP(Reason::Malformed));
    assert_eq!(l.f.stats().malformed[ParseError::BadPppoe.index()], 2);
}

#[test]
fn mpls_without_ip_is_dropped_from_the_wan_unless_the_policy_passes_it() {
    // An Ethernet pseudowire with a control word (first nibble 0).
    let mut pw = tcp(WAN_HOST, 1, LAN_SERVER, 2, SYN)[..12].to_vec();
    pw.extend_from_slice(&[0x88, 0x47, 0x00, 0x10, 0x01, 64, 0, 0, 0, 0]);
    pw.extend_from_slice(&[0x02; 40]);
    let mut l = Lab::default();
    assert_eq!(l.wan(&pw), DROP(Reason::Mpls));
    assert_eq!(l.lan(&pw), Verdict::Forward);
    let mut p = Policy::default();
    p.mpls_drop_non_ip = false;
    let mut l = Lab::new(p.clone());
    assert_eq!(l.wan(&pw), Verdict::Forward);
    // It is not IP: a policy that drops non-IP frames drops it both ways.
    p.drop_non_ip = true;
    let mut l = Lab::new(p);
    assert_eq!(l.wan(&pw), DROP(Reason::NonIp));
    assert_eq!(l.lan(&pw), DROP(Reason::NonIp));
}

#[test]
fn tunnels_in_tunnels_are_dropped_and_the_policy_chooses_drop_or_pass() {
    let bogon = tcp("10.1.1.1", 1, LAN_SERVER, 80, SYN);
    let ipip = tunnel("203.0.113.7", LAN_SERVER, 4, &[], &bogon);
    let nested = tunnel("203.0.113.8", LAN_SERVER, 4, &[], &ipip);
    let mut l = Lab::default();
    assert_eq!(l.wan(&ipip), DROP(Reason::BogonSrc));
    assert_eq!(l.wan(&nested), DROP(Reason::Tunnel));
    // Tunnels leaving the LAN are not looked into.
    let out = tunnel(
        LAN_CLIENT,
        WAN_HOST,
        41,
        &[],
        &tcp("2001:db8:77::1", 1, "2001:db8::1", 80, SYN),
    );
    assert_eq!(l.lan(&out), Verdict::Forward);
    // An outer header with a bogon source is dropped before the inner.
    let outer_bogon = tunnel(
        "192.168.1.1",
        LAN_SERVER,
        4,
        &[],
        &tcp(WAN_HOST, 1, LAN_SERVER, 22, SYN),
    );
    assert_eq!(l.wan(&outer_bogon), DROP(Reason::BogonSrc));

    // A fragmented tunnel packet cannot be inspected: its first fragment is
    // dropped, and its later fragments follow.
    let hidden = padded4(tcp(SCANNER, 1, LAN_SERVER, 139, SYN), 40);
    let ipip_big = tunnel("203.0.113.9", LAN_SERVER, 4, &[], &hidden);
    let parts = fragments4(&ipip_big, 21, &[(0, 48), (48, 56)]);
    assert_eq!(l.wan(&parts[0]), DROP(Reason::Tunnel));
    assert_eq!(l.wan(&parts[1]), DROP(Reason::FragAfterDrop));
    assert!(!l.is_fly(SCANNER) && !l.is_fly("203.0.113.9"));
    // An inner packet with a bad header checksum is malformed, and its
    // trap SYN makes no fly.
    let mut bad_inner = tcp(SCANNER, 2, LAN_SERVER, 139, SYN);
    bad_inner[24] ^= 0xff;
    assert_eq!(
        l.wan(&tunnel("203.0.113.9", LAN_SERVER, 4, &[], &bad_inner)),
        DROP(Reason::Malformed)
    );
    assert!(!l.is_fly(SCANNER));
    assert_eq!(l.f.stats().malformed[ParseError::BadChecksum.index()], 1);

    let mut p = Policy::default();
    p.tunnels = TunnelMode::Drop;
    let mut l = Lab::new(p);
    assert_eq!(l.wan(&ipip), DROP(Reason::Tunnel));
    let good = tunnel(
        "203.0.113.7",
        LAN_SERVER,
        47,
        &gre_header(&bogon),
        &tcp(WAN_HOST, 1, LAN_SERVER, 22, SYN),
    );
    assert_eq!(l.wan(&good), DROP(Reason::Tunnel));

    let mut p = Policy::default();
    p.tunnels = TunnelMode::Pass;
    let mut l = Lab::new(p);
    assert_eq!(
        l.wan(&ipip),
        Verdict::Forward,
        "only the outer header is judged"
    );
    assert_eq!(l.wan(&nested), Verdict::Forward);
}

#[test]
fn strict_mode_gates_tunnels_and_every_protocol() {
    let mut p = Policy::default();
    p.strict = true;
    p.allow = vec![
        AllowRule {
            proto: Proto::Tcp,
            ports: (22, 22),
            dst: PrefixSet::default(),
        },
        AllowRule {
            proto: Proto::Other(50),
            ports: (0, u16::MAX),
            dst: PrefixSet::default(),
        },
    ];
    let mut l = Lab::new(p.clone());
    // ESP is allowed; SCTP and GRE are not, and make flies.
    let esp = raw_ip("203.0.113.30", LAN_SERVER, 50, &[0u8; 24]);
    assert_eq!(l.wan(&esp), Verdict::Forward);
    let sctp = raw_ip("203.0.113.31", LAN_SERVER, 132, &[0u8; 28]);
    assert_eq!(l.wan(&sctp), DROP(Reason::NotAllowed));
    assert!(l.is_fly("203.0.113.31"));
    let e =
        l.f.blacklist()
            .get("203.0.113.31".parse().unwrap(), l.now)
            .expect("listed");
    assert_eq!(e.proto, Some(Proto::Other(132)));
    assert_eq!(
        e.lockout_line(),
        "lockout 203.0.113.31, who tried IP-protocol 132 (unproven)"
    );
    let udplite = raw_ip("203.0.113.32", LAN_SERVER, 136, &[0u8; 12]);
    assert_eq!(l.wan(&udplite), DROP(Reason::NotAllowed));
    let gre_eth = raw_ip(
        "203.0.113.33",
        LAN_SERVER,
        47,
        &[0x20, 0x00, 0x65, 0x58, 0, 0, 0, 1],
    );
    assert_eq!(l.wan(&gre_eth), DROP(Reason::NotAllowed));
    // A tunnel needs an allow rule too, even when its inner packet is fine.
    let inner = tcp(WAN_HOST, 1, LAN_SERVER, 22, SYN);
    let ipip = tunnel("203.0.113.34", LAN_SERVER, 4, &[], &inner);
    assert_eq!(l.wan(&ipip), DROP(Reason::NotAllowed));
    assert!(l.is_fly("203.0.113.34"));
    // What the LAN starts may be answered.
    let out = raw_ip(LAN_CLIENT, "203.0.113.40", 132, &[0u8; 28]);
    assert_eq!(l.lan(&out), Verdict::Forward);
    let back = raw_ip("203.0.113.40", LAN_CLIENT, 132, &[0u8; 28]);
    assert_eq!(l.wan(&back), Verdict::Forward);
    assert!(!l.is_fly("203.0.113.40"));
    let out = tunnel(
        LAN_CLIENT,
        "203.0.113.41",
        4,
        &[],
        &tcp("198.51.100.20", 5, "203.0.113.41", 22, SYN),
    );
    assert_eq!(l.lan(&out), Verdict::Forward);
    let back = tunnel(
        "203.0.113.41",
        LAN_CLIENT,
        4,
        &[],
        &tcp("203.0.113.41", 22, LAN_CLIENT, 5, SYN | ACK),
    );
    assert_eq!(l.wan(&back), Verdict::Forward);
    // With an allow rule for IP-in-IP, the inner packet meets strict mode.
    p.allow.push(AllowRule {
        proto: Proto::Other(4),
        ports: (0, u16::MAX),
        dst: PrefixSet::default(),
    });
    let mut l = Lab::new(p);
    assert_eq!(l.wan(&ipip), Verdict::Forward);
    let inner_bad = tunnel(
        "203.0.113.35",
        LAN_SERVER,
        4,
        &[],
        &tcp("203.0.113.36", 1, LAN_SERVER, 23, SYN),
    );
    assert_eq!(l.wan(&inner_bad), DROP(Reason::NotAllowed));
    assert!(l.is_fly("203.0.113.36") && !l.is_fly("203.0.113.35"));
}

/// An IPv4 packet of `proto` with `payload`, from `src` to `dst`.
fn raw_ip(src: &str, dst: &str, proto: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = tcp(WAN_HOST, 1, LAN_SERVER, 2, SYN)[..14].to_vec();
    let (s, d): (std::net::Ipv4Addr, std::net::Ipv4Addr) =
        (src.parse().unwrap(), dst.parse().unwrap());
    let mut h = vec![0x45, 0, 0, 0, 0x77, 0x88, 0, 0, 64, proto, 0, 0];
    h[2..4].copy_from_slice(&((20 + payload.len()) as u16).to_be_bytes());
    h.extend_from_slice(&s.octets());
    h.extend_from_slice(&d.octets());
    let c = csum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&h);
    f.extend_from_slice(payload);
    f
}

/// Split a bare IPv4 frame's payload into fragments at the given byte
/// offsets (multiples of 8): (offset, bytes) of payload each.
fn fragments4(frame: &[u8], id: u16, cuts: &[(usize, usize)]) -> Vec<Vec<u8>> {
    let payload = &frame[34..];
    cuts.iter()
        .map(|&(off, len)| {
            let end = (off + len).min(payload.len());
            let more = end < payload.len() || off + len < payload.len();
            let mut f = frame[..34].to_vec();
            f.extend_from_slice(&payload[off.min(payload.len())..end]);
            let total = (f.len() - 14) as u16;
            f[16..18].copy_from_slice(&total.to_be_bytes());
            f[18..20].copy_from_slice(&id.to_be_bytes());
            let fo = ((off / 8) as u16) | if more { 0x2000 } else { 0 };
            f[20..22].copy_from_slice(&fo.to_be_bytes());
            fix4(&mut f, 14);
            f
        })
        .collect()
}

/// A later IPv4 fragment of `len` bytes at byte `off` (any payload).
fn later4(src: &str, id: u16, proto: u8, off: usize, len: usize, more: bool) -> Vec<u8> {
    let mut f = raw_ip(src, LAN_SERVER, proto, &vec![0x41; len]);
    f[18..20].copy_from_slice(&id.to_be_bytes());
    let fo = ((off / 8) as u16) | if more { 0x2000 } else { 0 };
    f[20..22].copy_from_slice(&fo.to_be_bytes());
    fix4(&mut f, 14);
    f
}

#[test]
fn later_fragments_follow_their_first_fragment() {
    let mut l = Lab::default();
    let dns = udp(WAN_HOST, 53, LAN_SERVER, 5353, &[0x55; 40]);
    let parts = fragments4(&dns, 7, &[(0, 24), (24, 24)]);
    assert_eq!(l.wan(&parts[0]), Verdict::Forward);
    assert_eq!(l.wan(&parts[1]), Verdict::Forward);
    // A first fragment that is dropped takes its later fragments along.
    let bad = tcp(WAN_HOST, 1, LAN_SERVER, 80, SYN | FIN);
    let big = padded4(bad.clone(), 32);
    let parts = fragments4(&big, 8, &[(0, 24), (24, 32)]);
    assert_eq!(l.wan(&parts[0]), DROP(Reason::TcpFlags));
    assert_eq!(l.wan(&parts[1]), DROP(Reason::FragAfterDrop));
    // A later fragment whose first was never seen is dropped at once.
    assert_eq!(
        l.wan(&later4(WAN_HOST, 9, 17, 24, 16, false)),
        DROP(Reason::FragOrphan)
    );
    // Later fragments of a trap's SYN are a fly's.
    let trap = padded4(tcp(SCANNER, 1, LAN_SERVER, 139, SYN), 32);
    let parts = fragments4(&trap, 10, &[(0, 24), (24, 32)]);
    assert_eq!(l.wan(&parts[0]), DROP(Reason::Trap));
    assert_eq!(l.wan(&parts[1]), DROP(Reason::Fly));
}

#[test]
fn fragment_attacks_have_named_reasons() {
    let mut l = Lab::default();
    // RFC 1858 tiny fragment: a TCP first fragment of 8 bytes.
    let syn = tcp(WAN_HOST, 1, LAN_SERVER, 22, SYN);
    let parts = fragments4(&syn, 11, &[(0, 8), (8, 12)]);
    assert_eq!(l.wan(&parts[0]), DROP(Reason::FragTiny));
    assert_eq!(l.wan(&parts[1]), DROP(Reason::FragOverlap), "offset 1");
    // A later fragment that overlaps a passed first fragment's TCP header
    // (to rewrite the flags or ports).
    let big = padded4(tcp(WAN_HOST, 2, LAN_SERVER, 22, SYN), 40);
    let parts = fragments4(&big, 12, &[(0, 32), (16, 44)]);
    assert_eq!(l.wan(&parts[0]), Verdict::Forward);
    assert_eq!(l.wan(&parts[1]), DROP(Reason::FragOverlap));
    // Offset plus length beyond 65535.
    assert_eq!(
        l.wan(&later4(WAN_HOST, 13, 17, 65528, 16, false)),
        DROP(Reason::FragTooBig)
    );
    // IPv6: a later fragment with no first one.
    let mut v6 = udp("2001:db8::5", 1, "2001:db8:1::10", 2, &[0u8; 16]);
    let frag_hdr = [17u8, 0, 0x00, 0x18, 0, 0, 0, 99];
    v6[20] = 44;
    v6.splice(54..54, frag_hdr);
    let plen = u16::from_be_bytes([v6[18], v6[19]]) + 8;
    v6[18..20].copy_from_slice(&plen.to_be_bytes());
    assert_eq!(l.wan(&v6), DROP(Reason::FragOrphan));
}

/// An IPv6 fragment of `frame`'s packet: a fragment header (next header
/// `next`, byte offset `off`, more-fragments `more`, id 77) and then `body`
/// in place of the original payload.
fn fragment6(frame: &[u8], next: u8, off: u16, more: bool, body: &[u8]) -> Vec<u8> {
    let mut f = frame[..54].to_vec();
    f[20] = 44;
    let mut fh = vec![next, 0];
    fh.extend_from_slice(&(off | u16::from(more)).to_be_bytes());
    fh.extend_from_slice(&77u32.to_be_bytes());
    f.extend_from_slice(&fh);
    f.extend_from_slice(body);
    let plen = (f.len() - 54) as u16;
    f[18..20].copy_from_slice(&plen.to_be_bytes());
    f
}

#[test]
fn ipv6_fragments_with_extension_headers_after_the_fragment_header() {
    let mut l = Lab::default();
    let syn = tcp("2001:db8::5", 7, "2001:db8:1::10", 22, SYN);
    // First fragment: destination options (8 bytes), then the TCP header:
    // the transport header ends 28 bytes after the fragment header.
    let mut body = vec![6u8, 0, 1, 4, 0, 0, 0, 0];
    body.extend_from_slice(&syn[54..]);
    let first = fragment6(&syn, 60, 0, true, &body);
    assert_eq!(l.wan(&first), Verdict::Forward);
    // A fragment at offset 32 is past the header, and follows the first.
    let later = fragment6(&syn, 60, 32, false, &[0u8; 8]);
    assert_eq!(l.wan(&later), Verdict::Forward);
    // One at offset 24 would rewrite TCP bytes 16..20; after it, the
    // datagram is poisoned: its other fragments are dropped too.
    let later = fragment6(&syn, 60, 24, false, &[0u8; 8]);
    assert_eq!(l.wan(&later), DROP(Reason::FragOverlap));
    let later = fragment6(&syn, 60, 40, false, &[0u8; 8]);
    assert_eq!(l.wan(&later), DROP(Reason::FragAfterDrop));
    // A first fragment whose header chain ends before TCP's header does is
    // tiny (RFC 7112).
    let tiny = fragment6(&syn, 60, 0, true, &body[..20]);
    assert_eq!(l.wan(&tiny), DROP(Reason::FragTiny));
}

#[test]
fn ip_header_rules_source_routes_ttl_zero_rh0_and_checksums() {
    let mut l = Lab::default();
    // LSRR and SSRR options.
    for opt in [131u8, 137] {
        for (src, dst, from_wan) in [(WAN_HOST, LAN_SERVER, true), (LAN_CLIENT, WAN_HOST, false)] {
            let f = with_options4(tcp(src, 1, dst, 22, SYN), [opt, 7, 4, 203, 0, 113, 1, 0]);
            let v = if from_wan { l.wan(&f) } else { l.lan(&f) };
            assert_eq!(v, DROP(Reason::SourceRoute), "option {opt} from {src}");
        }
    }
    // A record-route option is fine; a zero-length option is malformed.
    let mut f = with_options4(
        tcp(WAN_HOST, 3, LAN_SERVER, 22, SYN),
        [7, 7, 4, 0, 0, 0, 0, 0],
    );
    assert_eq!(l.wan(&f), Verdict::Forward);
    f[35] = 0;
    fix4(&mut f, 14);
    assert_eq!(l.wan(&f), DROP(Reason::Malformed));
    // TTL 0 and hop limit 0.
    let mut f = tcp(WAN_HOST, 4, LAN_SERVER, 22, SYN);
    f[22] = 0;
    fix4(&mut f, 14);
    assert_eq!(l.wan(&f), DROP(Reason::TtlZero));
    let mut f6 = tcp("2001:db8::5", 4, "2001:db8:1::10", 22, SYN);
    f6[21] = 0;
    assert_eq!(l.wan(&f6), DROP(Reason::TtlZero));
    // IPv6 routing header type 0.
    let mut rh0 = tcp("2001:db8::5", 5, "2001:db8:1::10", 22, SYN);
    let mut rh = vec![6u8, 2, 0, 1, 0, 0, 0, 0];
    rh.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]);
    rh0[20] = 43;
    let n = rh.len() as u16;
    rh0.splice(54..54, rh);
    let plen = u16::from_be_bytes([rh0[18], rh0[19]]) + n;
    rh0[18..20].copy_from_slice(&plen.to_be_bytes());
    assert_eq!(l.wan(&rh0), DROP(Reason::SourceRoute));
    // A trap SYN with a bad header checksum is malformed and makes no fly.
    let mut f = tcp(SCANNER, 6, LAN_SERVER, 139, SYN);
    f[24] ^= 0xff;
    assert_eq!(l.wan(&f), DROP(Reason::Malformed));
    assert!(!l.is_fly(SCANNER));
    assert_eq!(
        l.wan(&tcp(SCANNER, 7, LAN_SERVER, 22, SYN)),
        Verdict::Forward
    );
    assert_eq!(l.f.stats().malformed[ParseError::BadChecksum.index()], 1);
}

#[test]
fn icmp_redirects_smurf_echoes_and_neighbour_discovery() {
    let mut l = Lab::default();
    assert_eq!(
        l.wan(&icmp(WAN_HOST, LAN_SERVER, 5)),
        DROP(Reason::IcmpType),
        "redirect"
    );
    assert_eq!(
        l.wan(&icmp(WAN_HOST, "198.51.100.255", 8)),
        DROP(Reason::Smurf)
    );
    assert_eq!(
        l.wan(&icmp(WAN_HOST, "198.51.100.0", 8)),
        DROP(Reason::Smurf)
    );
    assert_eq!(
        l.wan(&icmp("203.0.113.11", LAN_SERVER, 8)),
        Verdict::Forward
    );
    assert_eq!(
        l.wan(&icmp6("2001:db8::5", "ff02::1", 128, 64)),
        DROP(Reason::Smurf)
    );
    assert_eq!(
        l.wan(&icmp6("2001:db8::5", "ff05::1", 128, 64)),
        DROP(Reason::Smurf)
    );
    assert_eq!(
        l.wan(&icmp6("2001:db8::6", "2001:db8:1::10", 128, 64)),
        Verdict::Forward
    );
    // ND: after the address rules, hop limit 255, RA only link-local.
    assert_eq!(
        l.wan(&icmp6("fe80::1", "ff02::1", 134, 255)),
        Verdict::Forward
    );
    assert_eq!(
        l.wan(&icmp6("2001:db8::1", "ff02::1", 134, 255)),
        DROP(Reason::NdInvalid)
    );
    assert_eq!(
        l.wan(&icmp6("fe80::1", "ff02::1", 134, 254)),
        DROP(Reason::NdInvalid)
    );
    assert_eq!(
        l.wan(&icmp6("2001:db8:1::5", "ff02::1:ff00:10", 135, 255)),
        DROP(Reason::Spoofed)
    );
    assert_eq!(
        l.wan(&icmp6("fd00::5", "ff02::1:ff00:10", 135, 255)),
        DROP(Reason::BogonSrc)
    );
    assert_eq!(
        l.wan(&icmp6("::", "ff02::1:ff00:10", 135, 255)),
        Verdict::Forward,
        "DAD"
    );
    assert_eq!(
        l.wan(&icmp6("::", "ff02::1", 136, 255)),
        DROP(Reason::NdInvalid)
    );
    assert_eq!(
        l.wan(&icmp6("2001:db8::9", "2001:db8:1::10", 135, 255)),
        Verdict::Forward
    );
    assert_eq!(
        l.wan(&icmp6("2001:db8::9", "2001:db8:1::10", 137, 255)),
        DROP(Reason::NdInvalid)
    );
    // ND is rate limited per source: a burst of 100, then 50/s (a
    // link-local source is keyed by its whole address, not fe80::/64).
    let passed = (0..300)
        .filter(|_| l.wan(&icmp6("fe80::77", "ff02::1:ff00:10", 135, 255)) == Verdict::Forward)
        .count();
    assert_eq!(passed, 100);
    assert_eq!(l.f.stats().drop_count(Reason::NdRate), 200);
    // From the LAN, ND is not rate limited.
    for _ in 0..300 {
        assert_eq!(
            l.lan(&icmp6("fe80::78", "ff02::1:ff00:1", 135, 255)),
            Verdict::Forward
        );
    }
}

#[test]
fn oversize_frames_are_dropped_by_the_filter_itself() {
    let mut l = Lab::default();
    let mut f = udp(WAN_HOST, 1, LAN_SERVER, 9, &vec![0u8; MAX_FRAME - 42]);
    assert_eq!(f.len(), MAX_FRAME);
    assert_eq!(l.wan(&f), Verdict::Forward);
    f = udp(WAN_HOST, 1, LAN_SERVER, 9, &vec![0u8; MAX_FRAME - 41]);
    assert_eq!(l.wan(&f), DROP(Reason::Oversize));
    assert_eq!(l.f.stats().drop_count(Reason::Oversize), 1);
}

//! Scenario tests: every rule of the default policy, driven with real frame
//! bytes and a virtual clock. No sleeps: time is a number we pass in.

// Each scenario starts from the seed policy and changes one thing: that reads
// best as field assignments.
#![allow(clippy::field_reassign_with_default)]

mod common;

use common::*;
use flypaper::filter::policy::{AllowRule, Pickup, PortSet, Prefix, PrefixSet, Proto};
use flypaper::filter::{flows, Event, Filter, Nanos, Policy, Reason, Verdict};
use flypaper::{Addr, Direction};

const LAN_SERVER: &str = "198.51.100.10";
const LAN_CLIENT: &str = "198.51.100.20";
const WAN_HOST: &str = "203.0.113.10";
const SCANNER: &str = "203.0.113.99";

struct Lab {
    f: Filter,
    now: Nanos,
}

impl Lab {
    fn new(p: Policy) -> Lab {
        Lab {
            f: Filter::standalone(p, 42),
            now: Nanos::from_secs(1_000),
        }
    }
    fn default() -> Lab {
        Lab::new(Policy::default())
    }
    fn with_lan() -> Lab {
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
    fn advance_ms(&mut self, ms: u64) {
        self.now = self.now + Nanos::from_millis(ms);
    }
    fn is_fly(&self, a: &str) -> bool {
        self.f.blacklist().is_fly(a.parse().unwrap(), self.now)
    }
    /// Open a TCP connection from the LAN client to a WAN server.
    fn connect_out(&mut self, sport: u16, server: &str, dport: u16) {
        assert_eq!(
            self.lan(&tcp(LAN_CLIENT, sport, server, dport, SYN)),
            Verdict::Forward
        );
        assert_eq!(
            self.wan(&tcp(server, dport, LAN_CLIENT, sport, SYN | ACK)),
            Verdict::Forward
        );
        assert_eq!(
            self.lan(&tcp(LAN_CLIENT, sport, server, dport, ACK)),
            Verdict::Forward
        );
    }
}

fn prefixes(list: &[&str]) -> PrefixSet {
    PrefixSet(list.iter().map(|s| s.parse::<Prefix>().unwrap()).collect())
}

const DROP: fn(Reason) -> Verdict = Verdict::Drop;

#[test]
fn bogon_sources_from_the_wan_are_dropped() {
    let mut l = Lab::default();
    for src in [
        "0.0.0.1",
        "10.1.2.3",
        "127.0.0.1",
        "169.254.9.9",
        "172.16.0.1",
        "172.31.255.254",
        "192.168.1.1",
        "224.0.0.5",
        "239.1.1.1",
        "240.0.0.1",
        "247.255.255.255",
        "255.255.255.255",
    ] {
        assert_eq!(
            l.wan(&udp(src, 1234, LAN_SERVER, 53, b"q")),
            DROP(Reason::BogonSrc),
            "{src}"
        );
        // The seed's rules are for inbound frames: the LAN may use these.
        assert_eq!(
            l.lan(&udp(src, 1234, WAN_HOST, 53, b"q")),
            Verdict::Forward,
            "{src} from LAN"
        );
    }
    for src in ["172.32.0.1", "192.169.0.1", "11.0.0.1", WAN_HOST] {
        assert_eq!(
            l.wan(&udp(src, 1234, LAN_SERVER, 53, b"q")),
            Verdict::Forward,
            "{src}"
        );
    }
    assert_eq!(l.f.stats().drop_count(Reason::BogonSrc), 12);
}

#[test]
fn bogus_destinations_from_the_wan_are_dropped_but_dhcp_offers_pass() {
    let mut l = Lab::default();
    for dst in [
        "0.0.0.0",
        "240.1.2.3",
        "239.255.255.250",
        "255.255.255.255",
        "224.0.0.1",
    ] {
        assert_eq!(
            l.wan(&udp(WAN_HOST, 1234, dst, 1900, b"x")),
            DROP(Reason::BogusDst),
            "{dst}"
        );
    }
    // A DHCP offer from the ISP's server to the broadcast address is legitimate.
    assert_eq!(
        l.wan(&udp(WAN_HOST, 67, "255.255.255.255", 68, b"offer")),
        Verdict::Forward
    );
    // But port 67 -> 68 is the only exception.
    assert_eq!(
        l.wan(&udp(WAN_HOST, 68, "255.255.255.255", 67, b"x")),
        DROP(Reason::BogusDst)
    );
}

#[test]
fn ipv6_bogons_link_local_and_neighbour_discovery() {
    let mut l = Lab::default();
    let dst = "2001:db8:1::10";
    for src in [
        "::",
        "::1",
        "fc00::1",
        "fdff::1",
        "ff02::1",
        "fec0::1",
        "::ffff:203.0.113.10",
    ] {
        assert_eq!(
            l.wan(&udp(src, 1234, dst, 53, b"q")),
            DROP(Reason::BogonSrc),
            "{src}"
        );
    }
    assert_eq!(
        l.wan(&udp("2001:db8::10", 1234, dst, 53, b"q")),
        Verdict::Forward
    );
    // Link-local sources only toward link-local or multicast destinations.
    assert_eq!(
        l.wan(&udp("fe80::1", 547, dst, 546, b"x")),
        DROP(Reason::BogonSrc)
    );
    assert_eq!(
        l.wan(&udp("fe80::1", 547, "fe80::2", 546, b"x")),
        Verdict::Forward
    );
    assert_eq!(
        l.wan(&icmp6("fe80::1", "ff02::16", 143, 1)),
        Verdict::Forward,
        "MLDv2 report"
    );
    // Router advertisement and neighbour solicitation always pass on-link (hop limit 255)...
    assert_eq!(
        l.wan(&icmp6("fe80::1", "ff02::1", 134, 255)),
        Verdict::Forward
    );
    assert_eq!(
        l.wan(&icmp6("::", "ff02::1:ff00:10", 135, 255)),
        Verdict::Forward,
        "DAD"
    );
    // ...and never if they crossed a router.
    assert_eq!(
        l.wan(&icmp6("fe80::1", "ff02::1", 134, 64)),
        DROP(Reason::NdInvalid)
    );
    // MLD reports: link-local, hop limit 1, from `::` while the address is
    // tentative (RFC 3590) or from a link-local address.
    assert_eq!(
        l.wan(&icmp6("::", "ff02::16", 143, 1)),
        Verdict::Forward,
        "MLDv2 report from ::"
    );
    assert_eq!(
        l.wan(&icmp6("fe80::1", "ff02::16", 143, 1)),
        Verdict::Forward
    );
    // Not from ::, not with a hop limit above 1, not to a unicast address.
    assert_eq!(
        l.wan(&icmp6("::", "ff02::16", 143, 2)),
        DROP(Reason::NdInvalid)
    );
    assert_eq!(
        l.wan(&icmp6("::", "2001:db8:1::10", 143, 1)),
        DROP(Reason::BogonSrc)
    );
    assert_eq!(
        l.wan(&icmp6("fd00::1", "ff02::16", 143, 1)),
        DROP(Reason::BogonSrc)
    );
    // A bogus IPv6 destination.
    assert_eq!(
        l.wan(&udp("2001:db8::10", 1, "::1", 53, b"q")),
        DROP(Reason::BogusDst)
    );
}

#[test]
fn anti_spoof_by_direction() {
    let mut l = Lab::with_lan();
    // A frame entering from the WAN may not claim a LAN address.
    assert_eq!(
        l.wan(&udp("198.51.100.77", 1, LAN_SERVER, 53, b"q")),
        DROP(Reason::Spoofed)
    );
    assert_eq!(
        l.wan(&udp("2001:db8:1::5", 1, "2001:db8:1::10", 53, b"q")),
        DROP(Reason::Spoofed)
    );
    // Egress: a LAN frame must carry a LAN source.
    assert_eq!(
        l.lan(&udp("203.0.113.5", 1, WAN_HOST, 53, b"q")),
        DROP(Reason::Spoofed)
    );
    assert_eq!(
        l.lan(&udp("10.9.9.9", 1, WAN_HOST, 53, b"q")),
        DROP(Reason::Spoofed)
    );
    assert_eq!(
        l.lan(&udp(LAN_CLIENT, 1, WAN_HOST, 53, b"q")),
        Verdict::Forward
    );
    // DHCP discovery, DAD and link-local are legitimate from the LAN.
    assert_eq!(
        l.lan(&udp("0.0.0.0", 68, "255.255.255.255", 67, b"discover")),
        Verdict::Forward
    );
    assert_eq!(
        l.lan(&udp("0.0.0.0", 1234, WAN_HOST, 53, b"q")),
        DROP(Reason::Spoofed)
    );
    assert_eq!(
        l.lan(&udp("fe80::5", 546, "ff02::1:2", 547, b"solicit")),
        Verdict::Forward
    );
    assert_eq!(l.f.stats().drop_count(Reason::Spoofed), 5);
}

#[test]
fn anti_spoof_is_per_family() {
    // Only IPv4 LAN prefixes named: IPv6 from the LAN is not egress-filtered.
    let mut p = Policy::default();
    p.lan = prefixes(&["198.51.100.0/24"]);
    let mut l = Lab::new(p);
    assert_eq!(
        l.lan(&udp("2001:db8:9::1", 1, "2001:db8::10", 53, b"q")),
        Verdict::Forward
    );
    assert_eq!(
        l.lan(&udp("203.0.113.5", 1, WAN_HOST, 53, b"q")),
        DROP(Reason::Spoofed)
    );
    // Without any LAN prefixes there is no anti-spoof at all.
    let mut l = Lab::default();
    assert_eq!(
        l.lan(&udp("203.0.113.5", 1, WAN_HOST, 53, b"q")),
        Verdict::Forward
    );
}

#[test]
fn icmp_mask_and_timestamp_requests_are_dropped() {
    let mut l = Lab::default();
    assert_eq!(
        l.wan(&icmp(WAN_HOST, LAN_SERVER, 13)),
        DROP(Reason::IcmpType)
    );
    assert_eq!(
        l.wan(&icmp(WAN_HOST, LAN_SERVER, 17)),
        DROP(Reason::IcmpType)
    );
    assert_eq!(l.wan(&icmp(WAN_HOST, LAN_SERVER, 8)), Verdict::Forward);
    assert_eq!(l.wan(&icmp(WAN_HOST, LAN_SERVER, 0)), Verdict::Forward);
}

#[test]
fn icmp_is_limited_per_source_one_per_second_burst_five() {
    let mut l = Lab::default();
    let verdicts: Vec<_> = (0..8)
        .map(|_| l.wan(&icmp(WAN_HOST, LAN_SERVER, 8)))
        .collect();
    assert_eq!(&verdicts[..5], &[Verdict::Forward; 5]);
    assert_eq!(&verdicts[5..], &[DROP(Reason::IcmpRate); 3]);
    // Another source has its own bucket.
    assert_eq!(
        l.wan(&icmp("203.0.113.11", LAN_SERVER, 8)),
        Verdict::Forward
    );
    // The bucket refills at one per second.
    l.advance_ms(999);
    assert_eq!(
        l.wan(&icmp(WAN_HOST, LAN_SERVER, 8)),
        DROP(Reason::IcmpRate)
    );
    l.advance_ms(1);
    assert_eq!(l.wan(&icmp(WAN_HOST, LAN_SERVER, 8)), Verdict::Forward);
    assert_eq!(
        l.wan(&icmp(WAN_HOST, LAN_SERVER, 8)),
        DROP(Reason::IcmpRate)
    );
    // After a long pause the full burst is back, and no more.
    l.advance_ms(60_000);
    let passed = (0..10)
        .filter(|_| l.wan(&icmp(WAN_HOST, LAN_SERVER, 8)) == Verdict::Forward)
        .count();
    assert_eq!(passed, 5);
    // ICMPv6 shares the limit; neighbour discovery is never limited.
    for _ in 0..20 {
        assert_eq!(
            l.wan(&icmp6("fe80::1", "ff02::1", 134, 255)),
            Verdict::Forward
        );
    }
    // LAN-side ICMP is not limited.
    for _ in 0..20 {
        assert_eq!(l.lan(&icmp(LAN_CLIENT, WAN_HOST, 8)), Verdict::Forward);
    }
}

#[test]
fn bogus_tcp_flags_are_dropped_in_both_directions() {
    let mut l = Lab::default();
    for (name, flags) in [
        ("SYN+FIN", SYN | FIN),
        ("SYN+RST", SYN | RST),
        ("null", 0),
        ("xmas", FIN | PSH | URG),
        ("FIN without ACK", FIN),
        ("SYN+FIN+PSH+URG", SYN | FIN | PSH | URG),
    ] {
        assert_eq!(
            l.wan(&tcp(WAN_HOST, 4000, LAN_SERVER, 80, flags)),
            DROP(Reason::TcpFlags),
            "{name}"
        );
        assert_eq!(
            l.lan(&tcp(LAN_CLIENT, 4000, WAN_HOST, 80, flags)),
            DROP(Reason::TcpFlags),
            "{name}"
        );
    }
}

#[test]
fn connection_state_invalid_packets_are_dropped() {
    let mut l = Lab::default();
    // Mid-stream from the WAN with no connection.
    assert_eq!(
        l.wan(&tcp(WAN_HOST, 80, LAN_CLIENT, 40000, ACK)),
        DROP(Reason::Invalid)
    );
    assert_eq!(
        l.wan(&tcp(WAN_HOST, 80, LAN_CLIENT, 40000, ACK | PSH)),
        DROP(Reason::Invalid)
    );
    // A SYN-ACK nobody asked for (reflection), an RST for no connection.
    assert_eq!(
        l.wan(&tcp(WAN_HOST, 80, LAN_CLIENT, 40001, SYN | ACK)),
        DROP(Reason::Invalid)
    );
    assert_eq!(
        l.wan(&tcp(WAN_HOST, 80, LAN_CLIENT, 40002, RST)),
        DROP(Reason::Invalid)
    );
    // A real connection passes, both ways, through teardown.
    l.connect_out(40003, WAN_HOST, 80);
    assert_eq!(
        l.wan(&tcp(WAN_HOST, 80, LAN_CLIENT, 40003, ACK | PSH)),
        Verdict::Forward
    );
    assert_eq!(
        l.lan(&tcp(LAN_CLIENT, 40003, WAN_HOST, 80, FIN | ACK)),
        Verdict::Forward
    );
    assert_eq!(
        l.wan(&tcp(WAN_HOST, 80, LAN_CLIENT, 40003, FIN | ACK)),
        Verdict::Forward
    );
    assert_eq!(
        l.lan(&tcp(LAN_CLIENT, 40003, WAN_HOST, 80, ACK)),
        Verdict::Forward
    );
    // A SYN inside an established connection is invalid.
    l.connect_out(40004, WAN_HOST, 80);
    assert_eq!(
        l.wan(&tcp(WAN_HOST, 80, LAN_CLIENT, 40004, SYN)),
        DROP(Reason::Invalid)
    );
    // An inbound connection to the LAN server.
    assert_eq!(
        l.wan(&tcp(WAN_HOST, 5555, LAN_SERVER, 22, SYN)),
        Verdict::Forward
    );
    assert_eq!(
        l.lan(&tcp(LAN_SERVER, 22, WAN_HOST, 5555, SYN | ACK)),
        Verdict::Forward
    );
    assert_eq!(
        l.wan(&tcp(WAN_HOST, 5555, LAN_SERVER, 22, ACK)),
        Verdict::Forward
    );
}

#[test]
fn connections_open_before_start_resume_when_the_lan_side_speaks() {
    // Default pickup = lan: a mid-stream LAN segment opens the flow.
    let mut l = Lab::default();
    assert_eq!(
        l.wan(&tcp(WAN_HOST, 443, LAN_CLIENT, 50000, ACK)),
        DROP(Reason::Invalid)
    );
    assert_eq!(
        l.lan(&tcp(LAN_CLIENT, 50000, WAN_HOST, 443, ACK)),
        Verdict::Forward
    );
    assert_eq!(
        l.wan(&tcp(WAN_HOST, 443, LAN_CLIENT, 50000, ACK | PSH)),
        Verdict::Forward
    );
    // A LAN-side RST never opens a flow.
    assert_eq!(
        l.lan(&tcp(LAN_CLIENT, 50001, WAN_HOST, 443, RST | ACK)),
        DROP(Reason::Invalid)
    );
    // pickup = none: nothing mid-stream passes.
    let mut p = Policy::default();
    p.conntrack.pickup = Pickup::None;
    let mut l = Lab::new(p);
    assert_eq!(
        l.lan(&tcp(LAN_CLIENT, 50000, WAN_HOST, 443, ACK)),
        DROP(Reason::Invalid)
    );
    // pickup = both: the WAN side may resume too.
    let mut p = Policy::default();
    p.conntrack.pickup = Pickup::Both;
    let mut l = Lab::new(p);
    assert_eq!(
        l.wan(&tcp(WAN_HOST, 443, LAN_CLIENT, 50000, ACK)),
        Verdict::Forward
    );
}

#[test]
fn half_open_connections_expire() {
    let mut l = Lab::default();
    for port in [40010, 40011] {
        assert_eq!(
            l.lan(&tcp(LAN_CLIENT, port, WAN_HOST, 80, SYN)),
            Verdict::Forward
        );
    }
    // Still half-open just before the 30 s SYN timeout...
    l.advance_ms(29_999);
    assert_eq!(
        l.wan(&tcp(WAN_HOST, 80, LAN_CLIENT, 40010, SYN | ACK)),
        Verdict::Forward
    );
    // ...and gone once it and the flow table's clock tick have passed.
    l.now = l.now + Nanos::from_millis(1) + flows::EXPIRY_UNIT;
    assert_eq!(
        l.wan(&tcp(WAN_HOST, 80, LAN_CLIENT, 40011, SYN | ACK)),
        DROP(Reason::Invalid)
    );
}

#[test]
fn rst_from_the_wan_is_delayed_500ms_and_limited_two_per_second() {
    let mut l = Lab::default();
    for p in 0..4 {
        l.connect_out(41000 + p, WAN_HOST, 80);
    }
    let t0 = l.now;
    let deadline = Verdict::Delay(t0 + Nanos::from_millis(500));
    assert_eq!(l.wan(&tcp(WAN_HOST, 80, LAN_CLIENT, 41000, RST)), deadline);
    assert_eq!(
        l.wan(&tcp(WAN_HOST, 80, LAN_CLIENT, 41001, RST | ACK)),
        deadline
    );
    assert_eq!(
        l.wan(&tcp(WAN_HOST, 80, LAN_CLIENT, 41002, RST)),
        DROP(Reason::RstRate)
    );
    // Refill: 2/s means one token every 500 ms.
    l.advance_ms(500);
    assert_eq!(
        l.wan(&tcp(WAN_HOST, 80, LAN_CLIENT, 41002, RST)),
        Verdict::Delay(l.now + Nanos::from_millis(500))
    );
    assert_eq!(
        l.wan(&tcp(WAN_HOST, 80, LAN_CLIENT, 41003, RST)),
        DROP(Reason::RstRate)
    );
    // The genuine segment after a (possibly forged) RST still passes.
    assert_eq!(
        l.wan(&tcp(WAN_HOST, 80, LAN_CLIENT, 41000, ACK | PSH)),
        Verdict::Forward
    );
    // LAN-side RSTs are not delayed.
    l.connect_out(41010, WAN_HOST, 80);
    assert_eq!(
        l.lan(&tcp(LAN_CLIENT, 41010, WAN_HOST, 80, RST)),
        Verdict::Forward
    );
    assert_eq!(l.f.stats().delayed, 3);
}

#[test]
fn rst_delay_zero_forwards_at_once() {
    let mut p = Policy::default();
    p.rst_delay = Nanos::ZERO;
    let mut l = Lab::new(p);
    l.connect_out(41000, WAN_HOST, 80);
    assert_eq!(
        l.wan(&tcp(WAN_HOST, 80, LAN_CLIENT, 41000, RST)),
        Verdict::Forward
    );
}

#[test]
fn new_connections_are_limited_to_sixty_per_second_per_source() {
    // The default counts like iptables' `recent --seconds 1 --hitcount 60`:
    // 59 attempts pass, then every attempt (refused ones too) keeps the
    // source refused while it floods.
    let mut l = Lab::default();
    let mut results = Vec::new();
    for i in 0..100u16 {
        results.push(l.wan(&tcp(WAN_HOST, 10_000 + i, LAN_SERVER, 80, SYN)));
    }
    assert!(results[..59].iter().all(|v| *v == Verdict::Forward));
    assert!(results[59..].iter().all(|v| *v == DROP(Reason::SynRate)));
    // A repeated SYN on an accepted connection's ports is an attempt too.
    assert_eq!(
        l.wan(&tcp(WAN_HOST, 10_000, LAN_SERVER, 80, SYN)),
        DROP(Reason::SynRate)
    );
    // Other sources are unaffected.
    assert_eq!(
        l.wan(&tcp("203.0.113.12", 10_000, LAN_SERVER, 80, SYN)),
        Verdict::Forward
    );
    // A source that keeps flooding (500/s for 3 s) stays refused.
    let flood_passed = (0..1500u32)
        .filter(|i| {
            l.advance_ms(2);
            l.wan(&tcp(
                WAN_HOST,
                20_000 + (*i % 40_000) as u16,
                LAN_SERVER,
                80,
                SYN,
            )) == Verdict::Forward
        })
        .count();
    assert!(flood_passed <= 2, "{flood_passed} of the flood passed");
    // Two quiet seconds later the window is empty again: 59 more.
    l.advance_ms(2_000);
    let passed = (0..100u16)
        .filter(|i| l.wan(&tcp(WAN_HOST, 50_000 + i, LAN_SERVER, 80, SYN)) == Verdict::Forward)
        .count();
    assert_eq!(passed, 59);
    // Outbound connections from the LAN are not limited.
    for i in 0..100u16 {
        assert_eq!(
            l.lan(&tcp(LAN_CLIENT, 30_000 + i, WAN_HOST, 80, SYN)),
            Verdict::Forward
        );
    }
    let refused = 41 + 1 + (1500 - flood_passed as u64) + 41;
    assert_eq!(l.f.stats().drop_count(Reason::SynRate), refused);
}

#[test]
fn the_bucket_syn_mode_keeps_a_burst_and_refills() {
    let mut p = Policy::default();
    p.syn_mode = flypaper::filter::policy::SynMode::Bucket;
    let mut l = Lab::new(p);
    let passed = (0..100u16)
        .filter(|i| l.wan(&tcp(WAN_HOST, 10_000 + i, LAN_SERVER, 80, SYN)) == Verdict::Forward)
        .count();
    assert_eq!(passed, 60, "the burst");
    // One second later: 60 more (a refused attempt costs nothing).
    l.advance_ms(1_000);
    let passed = (0..100u16)
        .filter(|i| l.wan(&tcp(WAN_HOST, 20_000 + i, LAN_SERVER, 80, SYN)) == Verdict::Forward)
        .count();
    assert_eq!(passed, 60);
}

#[test]
fn the_sand_trap_makes_a_fly_for_a_day() {
    let mut l = Lab::default();
    assert_eq!(
        l.wan(&tcp(SCANNER, 5000, LAN_SERVER, 139, SYN)),
        DROP(Reason::Trap)
    );
    assert!(l.is_fly(SCANNER));
    let events: Vec<_> = l.f.drain_events().collect();
    assert_eq!(events.len(), 1);
    let Event::Lockout(e) = events[0] else {
        panic!("{:?}", events[0]);
    };
    assert_eq!(
        e.lockout_line(),
        "lockout 203.0.113.99, who tried TCP-port 139 (unproven)"
    );
    assert_eq!(e.expires, l.now + Nanos::from_secs(86_400));
    // Every frame from the fly is dropped, even ones that would pass.
    for frame in [
        tcp(SCANNER, 5001, LAN_SERVER, 22, SYN),
        tcp(SCANNER, 5001, LAN_SERVER, 80, SYN),
        icmp(SCANNER, LAN_SERVER, 8),
        udp(SCANNER, 5001, LAN_SERVER, 53, b"q"),
    ] {
        assert_eq!(l.wan(&frame), DROP(Reason::Fly));
    }
    // Other sources still reach the server.
    assert_eq!(
        l.wan(&tcp(WAN_HOST, 5001, LAN_SERVER, 22, SYN)),
        Verdict::Forward
    );
    // One second before expiry: still a fly. At expiry: free.
    l.advance_ms(86_399_000);
    assert_eq!(
        l.wan(&tcp(SCANNER, 5002, LAN_SERVER, 22, SYN)),
        DROP(Reason::Fly)
    );
    l.advance_ms(1_000);
    assert!(!l.is_fly(SCANNER));
    assert_eq!(
        l.wan(&tcp(SCANNER, 5003, LAN_SERVER, 22, SYN)),
        Verdict::Forward
    );
    assert_eq!(l.f.stats().flies_added, 1);
}

#[test]
fn new_attempts_to_a_trap_port_trap_and_udp_traps_work() {
    let mut p = Policy::default();
    p.trap_udp = PortSet::from_ports(&[1900]);
    p.trap_tcp = PortSet::from_ports(&[139, 445]);
    let mut l = Lab::new(p);
    // An ACK to a trap port is no connection attempt: invalid, no fly.
    assert_eq!(
        l.wan(&tcp("203.0.113.49", 1, LAN_SERVER, 445, ACK)),
        DROP(Reason::Invalid),
        "ACK scan"
    );
    assert!(!l.is_fly("203.0.113.49"));
    assert_eq!(
        l.wan(&tcp("203.0.113.50", 1, LAN_SERVER, 445, SYN)),
        DROP(Reason::Trap),
    );
    assert_eq!(
        l.wan(&udp("203.0.113.51", 1, LAN_SERVER, 1900, b"M-SEARCH")),
        DROP(Reason::Trap)
    );
    assert!(l.is_fly("203.0.113.50") && l.is_fly("203.0.113.51"));
    let lines: Vec<_> =
        l.f.drain_events()
            .map(|e| match e {
                Event::Lockout(e) => e.lockout_line(),
                other => panic!("{other:?}"),
            })
            .collect();
    assert_eq!(
        lines,
        [
            "lockout 203.0.113.50, who tried TCP-port 445 (unproven)",
            "lockout 203.0.113.51, who tried UDP-port 1900 (unproven)"
        ]
    );
    // A LAN host talking to a WAN service on port 139 is not a fly.
    assert_eq!(
        l.lan(&tcp(LAN_CLIENT, 40000, WAN_HOST, 139, SYN)),
        Verdict::Forward
    );
    assert!(!l.is_fly(LAN_CLIENT));
    // A LAN client that happens to use a trap port as its source port:
    // the server's answers are replies, not attempts.
    assert_eq!(
        l.lan(&tcp(LAN_CLIENT, 139, WAN_HOST, 80, SYN)),
        Verdict::Forward
    );
    assert_eq!(
        l.wan(&tcp(WAN_HOST, 80, LAN_CLIENT, 139, SYN | ACK)),
        Verdict::Forward
    );
    assert_eq!(
        l.wan(&tcp(WAN_HOST, 80, LAN_CLIENT, 139, ACK)),
        Verdict::Forward
    );
    assert_eq!(
        l.lan(&udp(LAN_CLIENT, 1900, WAN_HOST, 53, b"query")),
        Verdict::Forward
    );
    assert_eq!(
        l.wan(&udp(WAN_HOST, 53, LAN_CLIENT, 1900, b"answer")),
        Verdict::Forward
    );
    assert!(!l.is_fly(WAN_HOST));
}

#[test]
fn operators_can_free_a_fly_and_flush_all() {
    let mut l = Lab::default();
    for s in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        assert_eq!(l.wan(&tcp(s, 1, LAN_SERVER, 139, SYN)), DROP(Reason::Trap));
    }
    let shared = std::sync::Arc::clone(l.f.shared());
    let bl = &shared.blacklist;
    assert_eq!(bl.list(l.now).len(), 3);
    let freed = bl.remove("203.0.113.2".parse().unwrap()).unwrap();
    assert_eq!(freed.port, 139);
    assert_eq!(
        l.wan(&tcp("203.0.113.2", 2, LAN_SERVER, 22, SYN)),
        Verdict::Forward
    );
    assert_eq!(
        l.wan(&tcp("203.0.113.1", 2, LAN_SERVER, 22, SYN)),
        DROP(Reason::Fly)
    );
    assert_eq!(bl.clear(), 2);
    assert_eq!(
        l.wan(&tcp("203.0.113.1", 3, LAN_SERVER, 22, SYN)),
        Verdict::Forward
    );
}

fn strict_policy() -> Policy {
    let mut p = Policy::default();
    p.strict = true;
    p.allow = vec![
        AllowRule {
            proto: Proto::Tcp,
            ports: (22, 22),
            dst: PrefixSet::default(),
        },
        AllowRule {
            proto: Proto::Udp,
            ports: (53, 53),
            dst: prefixes(&[LAN_SERVER]),
        },
    ];
    p
}

#[test]
fn strict_mode_makes_a_fly_of_anything_not_allowed() {
    let mut l = Lab::new(strict_policy());
    assert_eq!(
        l.wan(&tcp(WAN_HOST, 5000, LAN_SERVER, 22, SYN)),
        Verdict::Forward
    );
    assert_eq!(
        l.wan(&udp(WAN_HOST, 5000, LAN_SERVER, 53, b"q")),
        Verdict::Forward
    );
    // Port 23 is not allowed: the source becomes a fly.
    assert_eq!(
        l.wan(&tcp("203.0.113.70", 5000, LAN_SERVER, 23, SYN)),
        DROP(Reason::NotAllowed)
    );
    assert!(l.is_fly("203.0.113.70"));
    let Some(Event::Lockout(e)) = l.f.drain_events().last() else {
        panic!("no lockout event")
    };
    assert_eq!(
        e.lockout_line(),
        "lockout 203.0.113.70, who tried TCP-port 23 (unproven)"
    );
    // UDP 53 is allowed only toward the server.
    assert_eq!(
        l.wan(&udp("203.0.113.71", 5000, LAN_CLIENT, 53, b"q")),
        DROP(Reason::NotAllowed)
    );
    // ICMP echo is not allowed either.
    assert_eq!(
        l.wan(&icmp("203.0.113.72", LAN_SERVER, 8)),
        DROP(Reason::NotAllowed)
    );
    for s in ["203.0.113.71", "203.0.113.72"] {
        assert!(l.is_fly(s), "{s}");
    }
    // Replies to the LAN's own traffic are not "new inbound traffic".
    assert_eq!(
        l.lan(&udp(LAN_CLIENT, 33000, "203.0.113.53", 53, b"q")),
        Verdict::Forward
    );
    assert_eq!(
        l.wan(&udp("203.0.113.53", 53, LAN_CLIENT, 33000, b"a")),
        Verdict::Forward
    );
    l.connect_out(40000, "203.0.113.80", 443);
    assert_eq!(
        l.wan(&tcp("203.0.113.80", 443, LAN_CLIENT, 40000, ACK | PSH)),
        Verdict::Forward
    );
    assert!(!l.is_fly("203.0.113.53") && !l.is_fly("203.0.113.80"));
    // An ICMP echo reply to the LAN's ping passes.
    assert_eq!(
        l.wan(&icmp("203.0.113.81", LAN_CLIENT, 0)),
        Verdict::Forward
    );
}

#[test]
fn never_block_hosts_are_dropped_but_never_become_flies() {
    let mut p = strict_policy();
    p.never_block = prefixes(&["203.0.113.1"]);
    let mut l = Lab::new(p);
    assert_eq!(
        l.wan(&tcp("203.0.113.1", 1, LAN_SERVER, 139, SYN)),
        DROP(Reason::Trap)
    );
    assert_eq!(
        l.wan(&tcp("203.0.113.1", 1, LAN_SERVER, 23, SYN)),
        DROP(Reason::NotAllowed)
    );
    assert!(!l.is_fly("203.0.113.1"));
    assert_eq!(
        l.wan(&tcp("203.0.113.1", 2, LAN_SERVER, 22, SYN)),
        Verdict::Forward
    );
    assert_eq!(l.f.drain_events().count(), 0);
}

#[test]
fn non_ip_frames_pass_unless_the_policy_drops_them() {
    let mut l = Lab::default();
    assert_eq!(l.wan(&arp_request()), Verdict::Forward);
    assert_eq!(l.wan(&stp_bpdu()), Verdict::Forward);
    let mut p = Policy::default();
    p.drop_non_ip = true;
    let mut l = Lab::new(p);
    assert_eq!(l.wan(&stp_bpdu()), DROP(Reason::NonIp));
    assert_eq!(l.wan(&arp_request()), Verdict::Forward, "ARP is IP's own");
}

#[test]
fn vlan_tagged_frames_get_the_same_rules() {
    let mut l = Lab::default();
    assert_eq!(
        l.wan(&vlan(udp("10.0.0.1", 1, LAN_SERVER, 53, b"q"), 7)),
        DROP(Reason::BogonSrc)
    );
    assert_eq!(
        l.wan(&vlan(tcp(SCANNER, 1, LAN_SERVER, 139, SYN), 7)),
        DROP(Reason::Trap)
    );
    assert_eq!(
        l.wan(&vlan(vlan(tcp(SCANNER, 1, LAN_SERVER, 22, SYN), 7), 100)),
        DROP(Reason::Fly)
    );
    assert_eq!(
        l.wan(&vlan(udp(WAN_HOST, 1, LAN_SERVER, 53, b"q"), 7)),
        Verdict::Forward
    );
}

#[test]
fn malformed_frames_are_dropped() {
    let mut l = Lab::default();
    let good = tcp(WAN_HOST, 1, LAN_SERVER, 22, SYN);
    let mut ihl3 = good.clone();
    ihl3[14] = 0x43;
    let mut doff2 = good.clone();
    doff2[14 + 20 + 12] = 2 << 4;
    let mut too_long = good.clone();
    too_long[16..18].copy_from_slice(&1500u16.to_be_bytes());
    for (name, f) in [
        ("IHL 3", ihl3),
        ("TCP data offset 2", doff2),
        ("total length beyond the frame", too_long),
        ("cut in the TCP header", good[..40].to_vec()),
        ("cut in the IP header", good[..20].to_vec()),
        ("runt", good[..10].to_vec()),
        ("empty", vec![]),
    ] {
        assert_eq!(l.wan(&f), DROP(Reason::Malformed), "{name}");
    }
    // Every truncation of a good frame is either malformed or (never) a panic.
    for n in 0..good.len() {
        assert_eq!(l.wan(&good[..n]), DROP(Reason::Malformed), "cut at {n}");
    }
}

#[test]
fn a_flood_of_spoofed_sources_keeps_tables_bounded_and_flies_in_place() {
    let mut p = Policy::default();
    p.tables.sources = 1024;
    p.tables.flows = 1024;
    p.tables.flies = 256;
    let mut l = Lab::new(p);
    // Some flies and one established inbound connection before the flood.
    for i in 1..=10 {
        let s = format!("203.0.113.{i}");
        assert_eq!(l.wan(&tcp(&s, 1, LAN_SERVER, 139, SYN)), DROP(Reason::Trap));
    }
    l.connect_out(45000, "203.0.113.200", 443);
    let (src_cap, flow_cap) = l.f.table_capacity();
    // 200k SYNs from random public sources (xorshift), 1 µs apart.
    let mut x: u32 = 0x1234_5678;
    for i in 0..200_000u32 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let a = std::net::Ipv4Addr::from(0x2d00_0000 | (x & 0x00ff_ffff)); // 45.x.x.x
        let v = l.wan(&tcp(
            &a.to_string(),
            (i % 60000) as u16 + 1024,
            LAN_SERVER,
            80,
            SYN,
        ));
        assert_ne!(v, DROP(Reason::Malformed));
        l.now = l.now + Nanos(1_000);
    }
    let (srcs, flows) = l.f.table_usage();
    assert!(
        srcs <= src_cap && flows <= flow_cap,
        "{srcs}/{src_cap} {flows}/{flow_cap}"
    );
    // Each family has a table of `tables.sources` entries: the flood
    // (IPv4) filled its own and evicted.
    assert_eq!(srcs, 1024, "the flood filled the IPv4 source table");
    assert!(l.f.stats().source_evictions > 100_000);
    // Flies survive the flood, and the established connection too (half-open
    // flows are evicted first).
    for i in 1..=10 {
        assert!(l.is_fly(&format!("203.0.113.{i}")));
    }
    assert_eq!(
        l.wan(&tcp("203.0.113.200", 443, LAN_CLIENT, 45000, ACK | PSH)),
        Verdict::Forward
    );
}

#[test]
fn a_full_blacklist_evicts_the_fly_that_expires_first() {
    let mut p = Policy::default();
    p.tables.flies = 64;
    let mut l = Lab::new(p);
    let mut evicted = 0;
    for i in 0..200u32 {
        let s = std::net::Ipv4Addr::from(0xcb00_7100 + i).to_string();
        assert_eq!(l.wan(&tcp(&s, 1, LAN_SERVER, 139, SYN)), DROP(Reason::Trap));
        l.advance_ms(1);
        evicted +=
            l.f.drain_events()
                .filter(|e| matches!(e, Event::Evicted(_)))
                .count();
    }
    let st = l.f.stats();
    assert_eq!(st.flies_added, 200);
    assert_eq!((st.flies_evicted, st.flies_refused), (136, 0));
    assert_eq!(l.f.blacklist().len(), 64);
    // The last 64 are flies; the first, which expired soonest, made room.
    assert!(l.is_fly("203.0.113.199") && l.is_fly("203.0.113.136"));
    assert!(!l.is_fly("203.0.113.0") && !l.is_fly("203.0.113.135"));
    assert_eq!(evicted, 136);
}

#[test]
fn lost_events_are_counted_not_blocking() {
    let mut l = Lab::default();
    let n = flypaper::filter::EVENT_QUEUE as u32 + 10;
    for i in 0..n {
        let s = std::net::Ipv4Addr::from(0xcb00_7100 + i).to_string();
        let _ = l.wan(&tcp(&s, 1, LAN_SERVER, 139, SYN));
    }
    assert_eq!(l.f.stats().events_lost, 10);
    assert_eq!(l.f.drain_events().count(), flypaper::filter::EVENT_QUEUE);
    assert_eq!(
        l.f.blacklist().len(),
        n as usize,
        "the flies themselves are all there"
    );
}

#[test]
fn every_verdict_is_counted_and_replays_are_deterministic() {
    fn run() -> (Vec<Verdict>, flypaper::filter::Stats) {
        let mut l = Lab::with_lan();
        let mut out = Vec::new();
        let frames: Vec<(bool, Vec<u8>)> = vec![
            (true, tcp("10.0.0.1", 1, LAN_SERVER, 80, SYN)),
            (true, udp(WAN_HOST, 1, "240.0.0.1", 53, b"q")),
            (true, udp("198.51.100.9", 1, LAN_SERVER, 53, b"q")),
            (true, icmp(WAN_HOST, LAN_SERVER, 13)),
            (true, tcp(WAN_HOST, 1, LAN_SERVER, 80, SYN | FIN)),
            (true, tcp(WAN_HOST, 1, LAN_SERVER, 80, ACK)),
            (true, tcp(SCANNER, 1, LAN_SERVER, 139, SYN)),
            (true, tcp(SCANNER, 1, LAN_SERVER, 80, SYN)),
            (true, vec![0u8; 5]),
            (false, tcp(LAN_CLIENT, 1, WAN_HOST, 80, SYN)),
        ];
        for (wan, f) in &frames {
            out.push(if *wan { l.wan(f) } else { l.lan(f) });
            l.advance_ms(1);
        }
        (out, l.f.stats())
    }
    let (v1, s1) = run();
    let (v2, s2) = run();
    assert_eq!(v1, v2);
    assert_eq!(s1, s2);
    for r in [
        Reason::BogonSrc,
        Reason::BogusDst,
        Reason::Spoofed,
        Reason::IcmpType,
        Reason::TcpFlags,
        Reason::Invalid,
        Reason::Trap,
        Reason::Fly,
        Reason::Malformed,
    ] {
        assert_eq!(s1.drop_count(r), 1, "{r}");
    }
    assert_eq!(s1.total_drops(), 9);
    assert_eq!(s1.forwarded, 1);
    assert_eq!(s1.frames_wan + s1.frames_lan, 10);
    let _ = Addr::default();
}

#[test]
fn a_batch_decides_exactly_like_frame_by_frame() {
    // Mixed frames including a trap hit followed, in the same batch, by
    // frames from the new fly: the batch must see the fly at once.
    let frames: Vec<Vec<u8>> = vec![
        tcp(WAN_HOST, 5000, LAN_SERVER, 22, SYN),
        tcp(SCANNER, 5000, LAN_SERVER, 139, SYN),
        tcp(SCANNER, 5001, LAN_SERVER, 22, SYN),
        icmp(SCANNER, LAN_SERVER, 8),
        udp("10.0.0.1", 1, LAN_SERVER, 53, b"q"),
        tcp(WAN_HOST, 5000, LAN_SERVER, 22, SYN | FIN),
        vec![0u8; 3],
        icmp(WAN_HOST, LAN_SERVER, 8),
        tcp(WAN_HOST, 80, LAN_CLIENT, 40000, ACK),
    ];
    let mut one = Lab::default();
    let expected: Vec<Verdict> = frames.iter().map(|f| one.wan(f)).collect();
    assert_eq!(expected[2], DROP(Reason::Fly));
    let mut batched = Lab::default();
    let refs: Vec<&[u8]> = frames.iter().map(|f| f.as_slice()).collect();
    // 80 frames: several chunks of BATCH.
    let many: Vec<&[u8]> = refs.iter().cycle().take(80).copied().collect();
    let mut out = vec![Verdict::Forward; many.len()];
    batched
        .f
        .process_batch(batched.now, Direction::Wan, &many, &mut out);
    let mut again = Lab::default();
    let want: Vec<Verdict> = many.iter().map(|f| again.wan(f)).collect();
    assert_eq!(out, want);
    assert_eq!(&out[..frames.len()], &expected[..]);
    assert_eq!(batched.f.stats(), again.f.stats());
}

#[test]
fn a_reloaded_policy_keeps_connections_flies_and_limits() {
    let mut l = Lab::default();
    l.connect_out(40000, WAN_HOST, 443);
    assert_eq!(
        l.wan(&tcp(SCANNER, 1, LAN_SERVER, 139, SYN)),
        DROP(Reason::Trap)
    );
    // The new policy traps 445 instead of 139 and turns strict mode on.
    let mut p = Policy::default();
    p.trap_tcp = PortSet::from_ports(&[445]);
    p.strict = true;
    p.allow = vec![AllowRule {
        proto: Proto::Tcp,
        ports: (22, 22),
        dst: PrefixSet::default(),
    }];
    l.f.reload(std::sync::Arc::new(p)).unwrap();
    // The connection opened before the swap goes on, both ways.
    assert_eq!(
        l.wan(&tcp(WAN_HOST, 443, LAN_CLIENT, 40000, ACK | PSH)),
        Verdict::Forward
    );
    assert_eq!(
        l.lan(&tcp(LAN_CLIENT, 40000, WAN_HOST, 443, ACK)),
        Verdict::Forward
    );
    // The fly stays a fly; the new rules apply.
    assert!(l.is_fly(SCANNER));
    assert_eq!(
        l.wan(&tcp("203.0.113.5", 1, LAN_SERVER, 139, SYN)),
        DROP(Reason::NotAllowed)
    );
    assert_eq!(
        l.wan(&tcp("203.0.113.6", 1, LAN_SERVER, 445, SYN)),
        DROP(Reason::Trap)
    );
    assert_eq!(
        l.wan(&tcp("203.0.113.7", 1, LAN_SERVER, 22, SYN)),
        Verdict::Forward
    );
    // Table sizes and fly prefixes are fixed at start: refused, nothing
    // changed.
    let mut bigger = l.f.policy().clone();
    bigger.tables.flows *= 2;
    let e = l.f.reload(std::sync::Arc::new(bigger)).unwrap_err();
    assert!(e.contains("restart"), "{e}");
    let mut wider = l.f.policy().clone();
    wider.fly_prefix.v6 = 48;
    assert!(l.f.reload(std::sync::Arc::new(wider)).is_err());
    assert!(l.f.policy().strict && l.f.policy().tables.flows == Policy::default().tables.flows);
}

#[test]
fn monitor_mode_decides_counts_and_records_flies_but_forwards() {
    use flypaper::filter::policy::Mode;
    let mut p = Policy::default();
    p.mode = Mode::Monitor;
    p.lan = prefixes(&["198.51.100.0/24"]);
    let mut l = Lab::new(p);
    // The trap SYN: the verdict and the counters are enforce mode's ...
    let v = l.wan(&tcp(SCANNER, 5000, LAN_SERVER, 139, SYN));
    assert_eq!(v, DROP(Reason::Trap));
    assert!(l.is_fly(SCANNER), "the fly is recorded");
    assert!(l
        .f
        .drain_events()
        .any(|e| matches!(e, Event::Lockout(e) if e.addr == SCANNER.parse::<Addr>().unwrap())));
    let v2 = l.wan(&tcp(SCANNER, 5001, LAN_SERVER, 22, SYN));
    assert_eq!(v2, DROP(Reason::Fly));
    // ... a spoofed frame from the LAN is counted on the LAN's side ...
    let v3 = l.lan(&tcp("203.0.113.5", 1, WAN_HOST, 80, SYN));
    assert_eq!(v3, DROP(Reason::Spoofed));
    let st = l.f.stats();
    assert_eq!(st.drop_count(Reason::Trap), 1);
    assert_eq!(st.drop_count(Reason::Fly), 1);
    assert_eq!(st.drop_count_from(Direction::Lan, Reason::Spoofed), 1);
    assert_eq!(st.drop_count_from(Direction::Wan, Reason::Spoofed), 0);
    assert_eq!(st.drop_count_from(Direction::Wan, Reason::Trap), 1);
    // ... and the data path forwards every one of them at once.
    let mode = l.f.policy().mode;
    for v in [v, v2, v3] {
        assert_eq!(mode.enact(v), Verdict::Forward);
    }
    assert!(!mode.enforces(), "no SYN-ACK is sent, no fly reaches XDP");
}

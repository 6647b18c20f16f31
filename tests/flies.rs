//! The trap cannot be turned against the network it protects: every attack
//! that made the appliance lock out an innocent address (or stop locking
//! out guilty ones), played against the default policy with a virtual
//! clock, and the SYN-cookie proof of `trap.proof = "handshake"`.

#![allow(clippy::field_reassign_with_default)]

mod common;

use common::*;
use flypaper::filter::policy::{Limit, PortSet, Proof};
use flypaper::filter::{Class, Event, Filter, Nanos, Policy, Reason, Verdict};
use flypaper::wire::{self, L3, L4};
use flypaper::{Addr, Direction};

const LAN_SERVER: &str = "198.51.100.10";
const LAN_CLIENT: &str = "198.51.100.20";
const RESOLVER: &str = "203.0.113.53";
const SCANNER: &str = "203.0.113.99";
const DROP: fn(Reason) -> Verdict = Verdict::Drop;

struct Lab {
    f: Filter,
    now: Nanos,
}

impl Lab {
    fn new(p: Policy) -> Lab {
        Lab {
            f: Filter::standalone(p, 42),
            now: Nanos::from_secs(100_000),
        }
    }
    fn handshake() -> Lab {
        let mut p = Policy::default();
        p.proof = Proof::Handshake;
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
    fn fly(&self, a: &str) -> Option<flypaper::filter::FlyEntry> {
        self.f.blacklist().get(a.parse().unwrap(), self.now)
    }
    fn is_fly(&self, a: &str) -> bool {
        self.fly(a).is_some()
    }
    fn events(&mut self) -> Vec<Event> {
        self.f.drain_events().collect()
    }
    /// Every frame the filter wants sent, with the port it leaves by.
    fn sent(&mut self) -> Vec<(Direction, Vec<u8>)> {
        std::iter::from_fn(|| self.f.poll_transmit())
            .map(|t| (t.port, t.frame().to_vec()))
            .collect()
    }
}

/// Source, destination, ports, flags, seq, ack of a TCP frame.
fn tcp_fields(frame: &[u8]) -> (Addr, Addr, u16, u16, u8, u32, u32) {
    let s = wire::parse(frame).expect("parses");
    let L3::Ip(ip) = s.l3 else { panic!("not IP") };
    let L4::Tcp(t) = ip.l4 else { panic!("not TCP") };
    let seg = wire::tcp::Packet::new_checked(&frame[usize::from(ip.l4_offset)..]).unwrap();
    (
        ip.src,
        ip.dst,
        t.sport,
        t.dport,
        t.flags,
        seg.seq_number(),
        seg.ack_number(),
    )
}

/// A deterministic stream of public-looking IPv4 sources (203.0.0.0/8 and
/// friends, never the lab's own 198.51.100.0/24).
fn forged_sources(n: usize, seed: u64) -> impl Iterator<Item = String> {
    let mut x = seed;
    (0..n).map(move |_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let b = (x >> 8) as u32;
        format!(
            "{}.{}.{}.{}",
            11 + (b >> 24) % 100,
            (b >> 16) & 255,
            (b >> 8) & 255,
            (b & 254) + 1
        )
    })
}

// ---------------------------------------------------------------------
// The attacks, against the default policy.

#[test]
fn a_forged_syn_with_the_resolvers_address_does_not_lock_it_out() {
    let mut l = Lab::new(Policy::default());
    // The LAN asks the resolver, which answers: a two-way conversation.
    assert_eq!(
        l.lan(&udp(LAN_CLIENT, 40000, RESOLVER, 53, b"q")),
        Verdict::Forward
    );
    assert_eq!(
        l.wan(&udp(RESOLVER, 53, LAN_CLIENT, 40000, b"a")),
        Verdict::Forward
    );
    l.events();
    // One forged SYN to the trap port with the resolver's address.
    l.advance_ms(1000);
    assert_eq!(
        l.wan(&tcp(RESOLVER, 4444, LAN_SERVER, 139, SYN)),
        DROP(Reason::Vouched)
    );
    assert!(!l.is_fly(RESOLVER));
    assert_eq!(l.f.stats().drop_count(Reason::Vouched), 1);
    assert!(matches!(l.events()[..], [Event::Suspect { port: 139, .. }]));
    // Its next answer reaches the LAN.
    assert_eq!(
        l.lan(&udp(LAN_CLIENT, 40001, RESOLVER, 53, b"q")),
        Verdict::Forward
    );
    assert_eq!(
        l.wan(&udp(RESOLVER, 53, LAN_CLIENT, 40001, b"a")),
        Verdict::Forward
    );
    // A TCP peer is vouched for by its established connection too.
    let web = "203.0.113.80";
    assert_eq!(
        l.lan(&tcp(LAN_CLIENT, 50000, web, 443, SYN)),
        Verdict::Forward
    );
    assert_eq!(
        l.wan(&tcp(web, 443, LAN_CLIENT, 50000, SYN | ACK)),
        Verdict::Forward
    );
    assert_eq!(
        l.lan(&tcp(LAN_CLIENT, 50000, web, 443, ACK)),
        Verdict::Forward
    );
    assert_eq!(
        l.wan(&tcp(web, 443, LAN_CLIENT, 50000, ACK | PSH)),
        Verdict::Forward
    );
    assert_eq!(
        l.wan(&tcp(web, 5, LAN_SERVER, 139, SYN)),
        DROP(Reason::Vouched)
    );
    assert!(!l.is_fly(web));
    // The vouch lasts trap.vouch_s (600 s) after the last two-way traffic.
    l.advance_ms(601_000);
    assert_eq!(
        l.wan(&tcp(web, 6, LAN_SERVER, 139, SYN)),
        DROP(Reason::Trap)
    );
    assert!(l.is_fly(web));
}

#[test]
fn a_forged_syn_with_a_lan_hosts_own_address_is_spoofed_even_without_lan_set() {
    let mut l = Lab::new(Policy::default());
    assert!(l.f.policy().lan.0.is_empty());
    assert_eq!(
        l.lan(&icmp(LAN_SERVER, "203.0.113.10", 8)),
        Verdict::Forward
    );
    assert_eq!(
        l.wan(&tcp(LAN_SERVER, 1, LAN_CLIENT, 139, SYN)),
        DROP(Reason::Spoofed)
    );
    assert!(!l.is_fly(LAN_SERVER));
    // IPv6: the LAN host's address is learned exactly (on a bridge, the
    // ISP's router on the WAN side may hold an address of the same /64),
    // and no hit may make a fly of the /64 that holds it.
    assert_eq!(
        l.lan(&icmp6("2001:db8:1::10", "2001:db8::1", 128, 64)),
        Verdict::Forward
    );
    assert_eq!(
        l.wan(&tcp("2001:db8:1::10", 1, "2001:db8:1::20", 139, SYN)),
        DROP(Reason::Spoofed)
    );
    assert_eq!(
        l.wan(&tcp("2001:db8:1::beef", 1, "2001:db8:1::10", 139, SYN)),
        DROP(Reason::Vouched)
    );
    assert!(!l.is_fly("2001:db8:1::10"));
    // The router in the LAN's /64, on the WAN side, is not spoofed.
    assert_eq!(
        l.wan(&icmp6("2001:db8:1::1", "2001:db8:1::10", 128, 64)),
        Verdict::Forward
    );
    // An address never seen on the LAN is still trapped.
    assert_eq!(
        l.wan(&tcp(SCANNER, 1, LAN_SERVER, 139, SYN)),
        DROP(Reason::Trap)
    );
    assert!(l.is_fly(SCANNER));
}

#[test]
fn link_local_and_unspecified_sources_never_become_flies() {
    let mut l = Lab::new(Policy::default());
    // The upstream router's link-local address, forged toward a LAN host's
    // link-local address and the trap port.
    assert_eq!(
        l.wan(&tcp("fe80::1", 1, "fe80::10", 139, SYN)),
        DROP(Reason::Trap)
    );
    assert!(!l.is_fly("fe80::1"));
    assert_eq!(l.f.stats().flies_added, 0);
    // Its router advertisements still reach the LAN.
    assert_eq!(
        l.wan(&icmp6("fe80::1", "ff02::1", 134, 255)),
        Verdict::Forward
    );
    // With builtin_bogons off, 169.254/16 and 0.0.0.0 reach the trap rule.
    let mut p = Policy::default();
    p.bogon_src = Default::default();
    let mut l = Lab::new(p);
    for src in ["169.254.1.1", "0.0.0.0"] {
        assert_eq!(
            l.wan(&tcp(src, 1, LAN_SERVER, 139, SYN)),
            DROP(Reason::Trap),
            "{src}"
        );
        assert!(!l.is_fly(src), "{src}");
    }
}

#[test]
fn a_server_answering_from_a_trap_port_is_not_locked_out() {
    let mut l = Lab::new(Policy::default());
    let server = "203.0.113.139";
    assert_eq!(
        l.lan(&tcp(LAN_CLIENT, 139, server, 80, SYN)),
        Verdict::Forward
    );
    assert_eq!(
        l.wan(&tcp(server, 80, LAN_CLIENT, 139, SYN | ACK)),
        Verdict::Forward
    );
    assert!(!l.is_fly(server));
}

#[test]
fn a_flood_of_forged_hits_churns_unproven_flies_and_a_real_scanner_is_still_caught() {
    let mut p = Policy::default();
    p.tables.flies = 1024;
    let mut l = Lab::new(p);
    // An operator-grade fly made before the flood: proven by handshake.
    let mut hp = Policy::default();
    hp.tables.flies = 1024;
    hp.proof = Proof::Handshake;
    let mut h = Lab::new(hp);
    let proven = prove(&mut h, "203.0.113.7");
    for (i, src) in forged_sources(300_000, 7).enumerate() {
        let frame = tcp(&src, 1024 + (i % 60000) as u16, LAN_SERVER, 139, SYN);
        let v = l.wan(&frame);
        assert!(
            matches!(v, Verdict::Drop(Reason::Trap) | Verdict::Drop(Reason::Fly)),
            "{src}: {v:?}"
        );
        let _ = h.wan(&frame);
        if i % 1000 == 0 {
            l.advance_ms(1);
            h.advance_ms(1);
            l.events();
            h.events();
            h.sent();
        }
    }
    let st = l.f.stats();
    assert_eq!(st.flies_refused, 0, "nothing is refused");
    assert!(st.flies_evicted > 290_000, "{st:?}");
    assert!(l.f.blacklist().len() <= 1024);
    // A real scanner after the flood is caught.
    assert_eq!(
        l.wan(&tcp(SCANNER, 1, LAN_SERVER, 139, SYN)),
        DROP(Reason::Trap)
    );
    assert!(l.is_fly(SCANNER));
    assert_eq!(
        l.wan(&tcp(SCANNER, 2, LAN_SERVER, 22, SYN)),
        DROP(Reason::Fly)
    );
    // In handshake mode the proven fly outlived the flood.
    let e = h.fly(proven).expect("the proven fly stays");
    assert_eq!(e.class(), Class::Proven);
    assert_eq!(h.f.stats().flies_proven, 1);
    assert!(h.f.stats().flies_evicted > 290_000);
}

#[test]
fn six_thousand_forged_rsts_from_one_sender_do_not_fill_the_delay_queue() {
    let mut p = Policy::default();
    // The sender's own connections, and no per-source RST rate: only the
    // queue's share stands in the way.
    p.rst_limit = None;
    let mut l = Lab::new(p);
    let attacker = "203.0.113.66";
    let server = "203.0.113.80";
    for port in 0..6300u16 {
        assert_eq!(
            l.lan(&tcp(LAN_CLIENT, 10000 + port, attacker, 80, SYN)),
            Verdict::Forward
        );
    }
    assert_eq!(
        l.lan(&tcp(LAN_CLIENT, 9000, server, 443, SYN)),
        Verdict::Forward
    );
    assert_eq!(
        l.wan(&tcp(server, 443, LAN_CLIENT, 9000, SYN | ACK)),
        Verdict::Forward
    );
    assert_eq!(
        l.lan(&tcp(LAN_CLIENT, 9000, server, 443, ACK)),
        Verdict::Forward
    );
    let mut delayed = 0;
    for port in 0..6300u16 {
        match l.wan(&tcp(attacker, 80, LAN_CLIENT, 10000 + port, RST | ACK)) {
            Verdict::Delay(_) => delayed += 1,
            Verdict::Drop(Reason::RstShare) => {}
            v => panic!("{v:?}"),
        }
    }
    let share = l.f.policy().tables.rst_share;
    assert_eq!(delayed, share);
    assert_eq!(
        l.f.stats().drop_count(Reason::RstShare),
        6300 - share as u64
    );
    assert_eq!(l.f.stats().drop_count(Reason::RstQueueFull), 0);
    // The genuine server's RST is delayed, not dropped.
    assert!(matches!(
        l.wan(&tcp(server, 443, LAN_CLIENT, 9000, RST | ACK)),
        Verdict::Delay(_)
    ));
    assert_eq!(l.f.delayed_len(), share + 1);
    assert!(l.f.poll_timeout().is_some());
    // When the delay is over the share is free again.
    l.advance_ms(501);
    assert!(matches!(
        l.wan(&tcp(attacker, 80, LAN_CLIENT, 10000, RST | ACK)),
        Verdict::Delay(_) | Verdict::Drop(Reason::Invalid)
    ));
    assert!(l.f.delayed_len() <= 1);
}

#[test]
fn an_ipv6_scanner_rotating_inside_its_64_stays_locked_out_and_limited() {
    let mut l = Lab::new(Policy::default());
    assert_eq!(
        l.wan(&tcp("2001:db8:0:5::1", 1, "2001:db8:1::10", 139, SYN)),
        DROP(Reason::Trap)
    );
    let e = l.fly("2001:db8:0:5::1").unwrap();
    assert_eq!(e.target(), "2001:db8:0:5::/64");
    for i in 2..200u32 {
        let src = format!("2001:db8:0:5:{:x}::{:x}", i, i * 7);
        assert_eq!(
            l.wan(&tcp(&src, 1, "2001:db8:1::10", 22, SYN)),
            DROP(Reason::Fly),
            "{src}"
        );
    }
    assert!(!l.is_fly("2001:db8:0:6::1"));
    // The per-source SYN limit counts the /64 as one source: 60 attempts
    // in a second, however many interface identifiers they come from.
    let passed = (0..200u32)
        .filter(|i| {
            let src = format!("2001:db8:0:7::{:x}", i + 1);
            l.wan(&tcp(&src, 1000 + *i as u16, "2001:db8:1::10", 22, SYN)) == Verdict::Forward
        })
        .count();
    assert_eq!(passed, 59);
    // ICMP too: a burst of 5.
    let passed = (0..50u32)
        .filter(|i| {
            l.wan(&icmp6(
                &format!("2001:db8:0:8::{:x}", i + 1),
                "2001:db8:1::10",
                128,
                64,
            )) == Verdict::Forward
        })
        .count();
    assert_eq!(passed, 5);
}

#[test]
fn replies_on_flows_the_lan_opened_to_an_unproven_fly_pass() {
    let mut l = Lab::new(Policy::default());
    let site = "203.0.113.44";
    // A forged hit makes the site an (unproven) fly before anyone used it.
    assert_eq!(
        l.wan(&tcp(site, 1, LAN_SERVER, 139, SYN)),
        DROP(Reason::Trap)
    );
    assert_eq!(l.fly(site).unwrap().class(), Class::Unproven);
    // The LAN opens a connection to it: the replies pass.
    assert_eq!(
        l.lan(&tcp(LAN_CLIENT, 50000, site, 443, SYN)),
        Verdict::Forward
    );
    assert_eq!(
        l.wan(&tcp(site, 443, LAN_CLIENT, 50000, SYN | ACK)),
        Verdict::Forward
    );
    assert_eq!(
        l.lan(&tcp(LAN_CLIENT, 50000, site, 443, ACK)),
        Verdict::Forward
    );
    assert_eq!(
        l.wan(&tcp(site, 443, LAN_CLIENT, 50000, ACK | PSH)),
        Verdict::Forward
    );
    // UDP too.
    assert_eq!(
        l.lan(&udp(LAN_CLIENT, 40000, site, 53, b"q")),
        Verdict::Forward
    );
    assert_eq!(
        l.wan(&udp(site, 53, LAN_CLIENT, 40000, b"a")),
        Verdict::Forward
    );
    // Anything it starts is still dropped.
    assert_eq!(l.wan(&tcp(site, 2, LAN_SERVER, 22, SYN)), DROP(Reason::Fly));
    assert_eq!(
        l.wan(&udp(site, 53, LAN_CLIENT, 40009, b"a")),
        DROP(Reason::Fly)
    );
    assert_eq!(
        l.wan(&tcp(site, 443, LAN_CLIENT, 50001, ACK)),
        DROP(Reason::Fly)
    );
}

// ---------------------------------------------------------------------
// Proof by handshake.

/// `src` sends a SYN to the trap port, gets the SYN-ACK and returns the
/// cookie: it becomes a proven fly. Returns `src`.
fn prove<'a>(l: &mut Lab, src: &'a str) -> &'a str {
    assert_eq!(
        l.wan(&tcp_seq(src, 33000, LAN_SERVER, 139, SYN, 7777, 0)),
        DROP(Reason::Trap)
    );
    let sent = l.sent();
    assert_eq!(sent.len(), 1, "one SYN-ACK");
    let (port, synack) = &sent[0];
    assert_eq!(
        *port,
        Direction::Wan,
        "it leaves by the port the SYN came in on"
    );
    let (s, d, sp, dp, flags, seq, ack) = tcp_fields(synack);
    assert_eq!(
        (s, d, sp, dp),
        (
            LAN_SERVER.parse().unwrap(),
            src.parse().unwrap(),
            139,
            33000
        )
    );
    assert_eq!((flags, ack), (SYN | ACK, 7778));
    assert_eq!(l.fly(src).unwrap().class(), Class::Unproven);
    l.advance_ms(20);
    assert_eq!(
        l.wan(&tcp_seq(
            src,
            33000,
            LAN_SERVER,
            139,
            ACK,
            7778,
            seq.wrapping_add(1)
        )),
        DROP(Reason::Trap)
    );
    src
}

#[test]
fn a_real_handshake_makes_exactly_one_proven_fly() {
    let mut l = Lab::handshake();
    l.events();
    prove(&mut l, SCANNER);
    let e = l.fly(SCANNER).unwrap();
    assert_eq!(
        (e.class(), e.proven, e.reason),
        (Class::Proven, true, Reason::Trap)
    );
    assert_eq!(e.expires, l.now + Nanos::from_secs(86_400));
    let st = l.f.stats();
    assert_eq!((st.flies_proven, st.synacks), (1, 1));
    let lines: Vec<String> = l
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Lockout(e) => Some(e.lockout_line()),
            _ => None,
        })
        .collect();
    assert_eq!(
        lines,
        [
            "lockout 203.0.113.99, who tried TCP-port 139 (unproven)",
            "lockout 203.0.113.99, who tried TCP-port 139"
        ]
    );
    // Everything from it is dropped now, and returning the cookie again
    // changes nothing.
    assert_eq!(
        l.wan(&tcp(SCANNER, 2, LAN_SERVER, 22, SYN)),
        DROP(Reason::Fly)
    );
    assert_eq!(l.f.stats().flies_proven, 1);
}

#[test]
fn an_unproven_hit_in_handshake_mode_locks_out_briefly_and_is_not_extended() {
    let mut l = Lab::handshake();
    assert_eq!(
        l.wan(&tcp(SCANNER, 1, LAN_SERVER, 139, SYN)),
        DROP(Reason::Trap)
    );
    let e = l.fly(SCANNER).unwrap();
    assert_eq!(e.expires, l.now + Nanos::from_secs(600));
    // Further hits while it is a fly are dropped as such; they extend
    // nothing.
    for _ in 0..100 {
        l.advance_ms(5_000);
        assert_eq!(
            l.wan(&tcp(SCANNER, 1, LAN_SERVER, 139, SYN)),
            DROP(Reason::Fly)
        );
    }
    assert_eq!(l.fly(SCANNER).unwrap().expires, e.expires);
    l.advance_ms(100_001);
    assert!(!l.is_fly(SCANNER));
}

#[test]
fn cookies_from_an_old_window_or_another_key_are_refused() {
    let mut l = Lab::handshake();
    assert_eq!(
        l.wan(&tcp_seq(SCANNER, 33000, LAN_SERVER, 139, SYN, 1, 0)),
        DROP(Reason::Trap)
    );
    let (_, synack) = l.sent().pop().unwrap();
    let cookie = tcp_fields(&synack).5;
    let ack = tcp_seq(
        SCANNER,
        33000,
        LAN_SERVER,
        139,
        ACK,
        2,
        cookie.wrapping_add(1),
    );
    // Another appliance (another key) made a cookie for the same SYN.
    let mut other = Filter::standalone(
        {
            let mut p = Policy::default();
            p.proof = Proof::Handshake;
            p
        },
        4242,
    );
    let _ = other.process(
        l.now,
        Direction::Wan,
        &tcp_seq(SCANNER, 33000, LAN_SERVER, 139, SYN, 1, 0),
    );
    let foreign = tcp_fields(other.poll_transmit().unwrap().frame()).5;
    assert_ne!(foreign, cookie);
    // Free the unproven fly so that the ACKs reach the cookie check the way
    // a vouched source's would.
    l.f.blacklist().remove(SCANNER.parse().unwrap());
    let foreign_ack = tcp_seq(
        SCANNER,
        33000,
        LAN_SERVER,
        139,
        ACK,
        2,
        foreign.wrapping_add(1),
    );
    assert_eq!(l.wan(&foreign_ack), DROP(Reason::Invalid));
    // 129 s later the cookie's window and the next have passed.
    l.advance_ms(129_000);
    assert_eq!(l.wan(&ack), DROP(Reason::Invalid));
    assert!(!l.is_fly(SCANNER));
    assert_eq!(l.f.stats().flies_proven, 0);
}

#[test]
fn ten_thousand_forged_hits_and_guessed_cookies_make_no_proven_fly() {
    let mut l = Lab::handshake();
    let proven = prove(&mut l, "203.0.113.7");
    for (i, src) in forged_sources(10_000, 99).enumerate() {
        let sport = 2000 + (i % 50_000) as u16;
        let _ = l.wan(&tcp_seq(&src, sport, LAN_SERVER, 139, SYN, i as u32, 0));
        // A blind attacker guesses the cookie.
        let guess = (i as u32).wrapping_mul(2_654_435_761);
        let _ = l.wan(&tcp_seq(
            &src,
            sport,
            LAN_SERVER,
            139,
            ACK,
            i as u32 + 1,
            guess,
        ));
        if i % 100 == 0 {
            l.advance_ms(10);
            l.sent();
            l.events();
        }
    }
    assert_eq!(l.f.stats().flies_proven, 1);
    let proven_flies: Vec<_> =
        l.f.blacklist()
            .list(l.now)
            .into_iter()
            .filter(|e| e.class() == Class::Proven)
            .collect();
    assert_eq!(proven_flies.len(), 1);
    assert_eq!(proven_flies[0].addr, proven.parse().unwrap());
}

#[test]
fn synacks_stay_under_their_limits_during_a_flood() {
    let mut l = Lab::handshake();
    // 50,000 SYNs from random sources in one second.
    let mut sent = 0;
    for (i, src) in forged_sources(50_000, 3).enumerate() {
        let _ = l.wan(&tcp(&src, 1000 + (i % 60_000) as u16, LAN_SERVER, 139, SYN));
        sent += l.sent().len();
        if i % 50 == 0 {
            l.advance_ms(1);
        }
    }
    // The global limit: 200/s with a burst of 200.
    assert!((200..=401).contains(&sent), "{sent} SYN-ACKs in one second");
    assert_eq!(l.f.stats().synacks as usize, sent);
    // One source (rotating its port) gets its burst of 3, then 1/s.
    let mut l = Lab::handshake();
    let mut sent = 0;
    for i in 0..1000u16 {
        let _ = l.wan(&tcp(SCANNER, 1000 + i, LAN_SERVER, 139, SYN));
        // Stay a non-fly: free it each time (an operator who keeps freeing).
        l.f.blacklist().remove(SCANNER.parse().unwrap());
        sent += l.sent().len();
        l.advance_ms(2);
    }
    assert!(
        (3..=5).contains(&sent),
        "{sent} SYN-ACKs to one source in 2 s"
    );
    // With the global limit off, the per-source one still holds.
    let mut p = Policy::default();
    p.proof = Proof::Handshake;
    p.synack_global = None;
    p.synack_limit = Some(Limit::per_sec(1, 1));
    let mut l = Lab::new(p);
    let _ = l.wan(&tcp(SCANNER, 1, LAN_SERVER, 139, SYN));
    l.f.blacklist().remove(SCANNER.parse().unwrap());
    let _ = l.wan(&tcp(SCANNER, 2, LAN_SERVER, 139, SYN));
    assert_eq!(l.sent().len(), 1);
    assert_eq!(l.f.stats().synacks_limited, 1);
}

#[test]
fn a_vouched_scanner_that_completes_the_handshake_is_proven_all_the_same() {
    let mut l = Lab::handshake();
    let web = "203.0.113.80";
    assert_eq!(
        l.lan(&tcp(LAN_CLIENT, 50000, web, 443, SYN)),
        Verdict::Forward
    );
    assert_eq!(
        l.wan(&tcp(web, 443, LAN_CLIENT, 50000, SYN | ACK)),
        Verdict::Forward
    );
    assert_eq!(
        l.lan(&tcp(LAN_CLIENT, 50000, web, 443, ACK)),
        Verdict::Forward
    );
    assert_eq!(
        l.wan(&tcp(web, 443, LAN_CLIENT, 50000, ACK)),
        Verdict::Forward
    );
    // A SYN to the trap: vouched, so no fly, but the cookie is offered.
    assert_eq!(
        l.wan(&tcp_seq(web, 33000, LAN_SERVER, 139, SYN, 5, 0)),
        DROP(Reason::Vouched)
    );
    assert!(!l.is_fly(web));
    let (_, synack) = l.sent().pop().expect("a SYN-ACK");
    let cookie = tcp_fields(&synack).5;
    assert_eq!(
        l.wan(&tcp_seq(
            web,
            33000,
            LAN_SERVER,
            139,
            ACK,
            6,
            cookie.wrapping_add(1)
        )),
        DROP(Reason::Trap)
    );
    assert_eq!(l.fly(web).unwrap().class(), Class::Proven);
}

#[test]
fn a_proven_flys_replies_are_dropped_even_on_lan_opened_flows() {
    let mut l = Lab::handshake();
    prove(&mut l, SCANNER);
    assert_eq!(
        l.lan(&tcp(LAN_CLIENT, 50000, SCANNER, 443, SYN)),
        Verdict::Forward
    );
    assert_eq!(
        l.wan(&tcp(SCANNER, 443, LAN_CLIENT, 50000, SYN | ACK)),
        DROP(Reason::Fly)
    );
}

#[test]
fn udp_traps_make_unproven_flies_and_respect_vouching() {
    let mut p = Policy::default();
    p.trap_udp = PortSet::from_ports(&[1900]);
    let mut l = Lab::new(p);
    assert_eq!(
        l.lan(&udp(LAN_CLIENT, 5353, RESOLVER, 53, b"q")),
        Verdict::Forward
    );
    assert_eq!(
        l.wan(&udp(RESOLVER, 53, LAN_CLIENT, 5353, b"a")),
        Verdict::Forward
    );
    assert_eq!(
        l.wan(&udp(RESOLVER, 1, LAN_SERVER, 1900, b"x")),
        DROP(Reason::Vouched)
    );
    assert_eq!(
        l.wan(&udp(SCANNER, 1, LAN_SERVER, 1900, b"x")),
        DROP(Reason::Trap)
    );
    assert_eq!(l.fly(SCANNER).unwrap().class(), Class::Unproven);
}

/// The defences hold behind a tag stack too: a forged hit with a vouched
/// address inside two VLAN tags is `vouched`, a LAN address inside one is
/// `spoofed`, and a real SYN inside a tag gets its SYN-ACK in the same tag.
#[test]
fn the_defences_hold_inside_vlan_tags() {
    let mut l = Lab::handshake();
    assert_eq!(
        l.lan(&vlan(udp(LAN_CLIENT, 40000, RESOLVER, 53, b"q"), 7)),
        Verdict::Forward
    );
    assert_eq!(
        l.wan(&vlan(udp(RESOLVER, 53, LAN_CLIENT, 40000, b"a"), 7)),
        Verdict::Forward
    );
    let forged = vlan(vlan(tcp(RESOLVER, 4444, LAN_SERVER, 139, SYN), 7), 100);
    assert_eq!(l.wan(&forged), DROP(Reason::Vouched));
    assert!(!l.is_fly(RESOLVER));
    assert_eq!(
        l.wan(&vlan(tcp(LAN_CLIENT, 1, LAN_SERVER, 139, SYN), 7)),
        DROP(Reason::Spoofed)
    );
    assert!(!l.is_fly(LAN_CLIENT));
    l.sent();
    assert_eq!(
        l.wan(&vlan(
            tcp_seq(SCANNER, 33000, LAN_SERVER, 139, SYN, 9, 0),
            7
        )),
        DROP(Reason::Trap)
    );
    let sent = l.sent();
    assert_eq!(sent.len(), 1);
    let s = wire::parse(&sent[0].1).unwrap();
    assert_eq!(s.vlan_tags, 1, "the SYN-ACK keeps the SYN's tag");
    assert_eq!(&sent[0].1[12..16], &[0x81, 0x00, 0x00, 0x07]);
}

//! The body of the cargo-fuzz target, in the library so that the corpus is
//! also replayed by `cargo test` (tests/fuzz_corpus.rs) on every CI run.
//!
//! An input is a sequence of frames for one fresh filter with small tables
//! (so that eviction paths are reached): each frame is
//! `[flags, len_hi, len_lo, bytes...]`; bit 0 of `flags` is the direction,
//! bits 1..7 advance the virtual clock by that many 50 ms steps. Inputs that
//! end early simply end the sequence. Every frame is parsed and processed;
//! the checks are the invariants the filter promises.

use crate::filter::policy::{PortSet, Prefix, PrefixSet};
use crate::filter::{Direction, Filter, Nanos, Policy, Verdict};
use crate::timer_wheel::TimerWheel;

fn policy() -> Policy {
    let d = Policy::default();
    Policy {
        lan: PrefixSet(vec![
            Prefix::v4([198, 51, 100, 0], 24),
            "2001:db8:1::/48".parse().expect("prefix"),
        ]),
        trap_udp: PortSet::from_ports(&[1900]),
        tables: crate::filter::policy::Tables {
            sources: 64,
            flows: 64,
            flies: 64,
            rst_queue: 8,
            rst_share: 4,
            trust: 64,
            fragments: 64,
        },
        ..d
    }
}

/// Run one fuzz input. Panics if an invariant breaks.
///
/// Two filters with the same policy and seed see the same frames: one
/// frame by frame (`process`), the other in batches of consecutive frames
/// from the same port at the same time (`process_batch`). Their verdicts
/// and counters must be identical.
pub fn run(mut data: &[u8]) {
    let strict = data.first().is_some_and(|b| b & 0x80 != 0);
    let handshake = data.first().is_some_and(|b| b & 0x40 != 0);
    let mut p = policy();
    if handshake {
        p.proof = crate::filter::Proof::Handshake;
    }
    if strict {
        p.strict = true;
        p.allow = vec![crate::filter::policy::AllowRule {
            proto: crate::filter::Proto::Tcp,
            ports: (22, 22),
            dst: PrefixSet::default(),
        }];
    }
    let mut f = Filter::standalone(p.clone(), 1);
    let mut batched = Filter::standalone(p, 1);
    // 1024 slots of 1 ms: small enough to build per input.
    let mut wheel: TimerWheel<u32> = TimerWheel::new(8, Nanos::from_millis(1), 1024);
    let mut now = Nanos::from_secs(1);
    let mut frames = 0u64;
    // Drops per reason of the frames that entered from the LAN.
    let mut lan_drops = [0u64; crate::filter::Reason::COUNT];
    // The pending batch: frames from one port at one time.
    let mut batch: Vec<&[u8]> = Vec::new();
    let mut batch_dir = Direction::Wan;
    let mut expected: Vec<Verdict> = Vec::new();
    // The frames each filter asked to send (SYN-ACKs), in order.
    let mut sent: Vec<(Direction, Vec<u8>)> = Vec::new();
    let mut sent_batched: Vec<(Direction, Vec<u8>)> = Vec::new();
    let flush = |b: &mut Filter,
                 batch: &mut Vec<&[u8]>,
                 dir,
                 now,
                 expected: &mut Vec<Verdict>,
                 sent: &mut Vec<(Direction, Vec<u8>)>| {
        let mut out = vec![Verdict::Forward; batch.len()];
        b.process_batch(now, dir, batch, &mut out);
        assert_eq!(&out, expected, "process_batch differs from process");
        batch.clear();
        expected.clear();
        drain_transmits(b, sent);
    };
    while data.len() >= 3 {
        let flags = data[0];
        let len = (u16::from_be_bytes([data[1], data[2]]) as usize).min(data.len() - 3);
        let frame = &data[3..3 + len];
        data = &data[3 + len..];
        let dir = if flags & 1 == 0 {
            Direction::Wan
        } else {
            Direction::Lan
        };
        let step = (flags >> 1) as u64;
        if !batch.is_empty() && (step != 0 || dir != batch_dir) {
            flush(
                &mut batched,
                &mut batch,
                batch_dir,
                now,
                &mut expected,
                &mut sent_batched,
            );
        }
        now = now + Nanos::from_millis(50 * step);
        // The driver releases what is due before it hands over frames.
        wheel.poll(now, |t, _| assert!(t <= now));

        let parsed = crate::wire::parse(frame);
        views(frame);
        let v = f.process(now, dir, frame);
        drain_transmits(&mut f, &mut sent);
        frames += 1;
        if let (Verdict::Drop(r), Direction::Lan) = (v, dir) {
            lan_drops[r as usize] += 1;
        }
        if frame.len() > crate::filter::MAX_FRAME {
            assert_eq!(v, Verdict::Drop(crate::filter::Reason::Oversize));
        } else if let Err(e) = parsed {
            let want = if e == crate::wire::ParseError::TinyFragment {
                crate::filter::Reason::FragTiny
            } else {
                crate::filter::Reason::Malformed
            };
            assert_eq!(v, Verdict::Drop(want), "{e}");
        }
        batch.push(frame);
        batch_dir = dir;
        expected.push(v);
        if let Verdict::Delay(t) = v {
            assert!(t > now, "a delay is in the future");
            // The filter keeps the queue's books: a delay it grants always
            // finds room in a queue of the same capacity.
            assert!(
                wheel.insert(t, frames as u32).is_ok(),
                "the filter delayed an RST the queue has no room for"
            );
            assert_eq!(f.delayed_len(), wheel.len());
        }
        let _ = f.drain_events().count();
    }
    if !batch.is_empty() {
        flush(
            &mut batched,
            &mut batch,
            batch_dir,
            now,
            &mut expected,
            &mut sent_batched,
        );
    }
    assert_eq!(
        sent, sent_batched,
        "both filters ask to send the same frames"
    );
    for (_, frame) in &sent {
        let s = crate::wire::parse(frame).expect("a SYN-ACK the filter built parses");
        let crate::wire::L3::Ip(ip) = s.l3 else {
            panic!("not IP")
        };
        assert!(
            matches!(ip.l4, crate::wire::L4::Tcp(t) if t.flags == 0x12),
            "a SYN-ACK"
        );
    }
    let st_sent = f.stats().synacks as usize;
    assert_eq!(st_sent, sent.len(), "every SYN-ACK queued was counted");
    let st = f.stats();
    assert_eq!(st, batched.stats(), "counters of the batched filter");
    assert_eq!(st.frames_wan + st.frames_lan, frames);
    assert_eq!(st.forwarded + st.delayed + st.total_drops(), frames);
    assert_eq!(st.drops_lan, lan_drops, "drops are counted by port");
    for &r in crate::filter::Reason::ALL.iter() {
        assert_eq!(
            st.drop_count_from(Direction::Wan, r) + st.drop_count_from(Direction::Lan, r),
            st.drop_count(r)
        );
    }
    let (s, fl) = f.table_usage();
    let (sc, fc) = f.table_capacity();
    assert!(s <= sc && fl <= fc, "tables stay bounded");
    assert!(f.blacklist().len() <= f.blacklist().capacity());
    assert_eq!(
        st.malformed.iter().sum::<u64>(),
        st.drop_count(crate::filter::Reason::Malformed)
            + st.drop_count(crate::filter::Reason::FragTiny),
        "every malformed frame is counted by kind"
    );
}

/// The header views the parser uses, read at every offset a tag, PPPoE or
/// MPLS header could put them: none may panic on any input.
fn views(frame: &[u8]) {
    use crate::wire::{gre, mpls, pppoe};
    for off in [14usize, 18, 22, 26, 34, 54] {
        let Some(b) = frame.get(off..) else { break };
        if let Ok(h) = pppoe::Header::new_checked(b) {
            let _ = (h.code(), h.session_id(), pppoe::ppp_protocol(h.payload()));
        }
        let _ = mpls::stack_len(b);
        if let Ok(e) = mpls::Entry::new_checked(b) {
            let _ = (e.label(), e.bottom_of_stack(), e.ttl(), e.traffic_class());
        }
        if let Ok(g) = gre::Header::new_checked(b) {
            let _ = (g.is_plain(), g.protocol(), g.payload().len());
        }
    }
}

fn drain_transmits(f: &mut Filter, sent: &mut Vec<(Direction, Vec<u8>)>) {
    while let Some(t) = f.poll_transmit() {
        sent.push((t.port, t.frame().to_vec()));
    }
}

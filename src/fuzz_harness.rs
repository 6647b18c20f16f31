//! The body of the cargo-fuzz target, in the library so that the corpus is
//! also replayed by `cargo test` (tests/fuzz_corpus.rs) on every CI run.
//!
//! An input is a sequence of frames for one fresh filter with small tables
//! (so that eviction paths are reached): each frame is
//! `[flags, len_hi, len_lo, bytes...]`; bit 0 of `flags` is the direction,
//! bits 1..7 advance the virtual clock by that many 50 ms steps. Inputs that
//! end early simply end the sequence. Every frame is parsed and processed;
//! the checks are the invariants the filter promises.

use crate::dataplane::driver::{Driver, Sink};
use crate::filter::policy::{PortSet, Prefix, PrefixSet};
use crate::filter::{Direction, Filter, Nanos, Policy, Verdict, BATCH};
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
    // One driver fed frame by frame, one fed the same frames in batches
    // (consecutive frames from one port at one time): the data path's
    // driver both ways, with a small wheel (1024 slots of 1 ms) so that it
    // is cheap to build per input.
    let mut single: Driver<u32> = Driver::with_wheel(Filter::standalone(p.clone(), 1), wheel());
    let mut batched: Driver<u32> = Driver::with_wheel(Filter::standalone(p, 1), wheel());
    let mut out_single = Record::default();
    let mut out_batched = Record::default();
    let mut now = Nanos::from_secs(1);
    let mut frames = 0u32;
    // Drops per reason of the frames that entered from the LAN.
    let mut lan_drops = [0u64; crate::filter::Reason::COUNT];
    // The pending batch: frames from one port at one time, with their ids.
    let mut batch: Vec<(u32, &[u8])> = Vec::new();
    let mut batch_dir = Direction::Wan;
    let mut expected: Vec<Verdict> = Vec::new();
    let flush = |b: &mut Driver<u32>,
                 batch: &mut Vec<(u32, &[u8])>,
                 dir,
                 now,
                 expected: &mut Vec<Verdict>,
                 out: &mut Record| {
        b.release(now, out);
        let data: Vec<&[u8]> = batch.iter().map(|(_, d)| *d).collect();
        assert_eq!(
            b.classify(now, dir, &data),
            &expected[..],
            "process_batch differs from process"
        );
        b.dispatch(now, dir, batch.iter().map(|(id, _)| *id), out);
        batch.clear();
        expected.clear();
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
        if !batch.is_empty() && (step != 0 || dir != batch_dir || batch.len() == BATCH) {
            flush(
                &mut batched,
                &mut batch,
                batch_dir,
                now,
                &mut expected,
                &mut out_batched,
            );
        }
        now = now + Nanos::from_millis(50 * step);

        let parsed = crate::wire::parse(frame);
        views(frame);
        // The driver releases what is due before it hands over frames.
        single.release(now, &mut out_single);
        let v = single.classify(now, dir, &[frame])[0];
        single.dispatch(now, dir, [frames], &mut out_single);
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
        if let Verdict::Delay(t) = v {
            assert!(t > now, "a delay is in the future");
            // The filter keeps the queue's books: a delay it grants always
            // finds room in a queue of the same capacity.
            assert!(
                out_single
                    .dropped
                    .last()
                    .is_none_or(|(id, _)| *id != frames),
                "the filter delayed an RST the queue has no room for"
            );
            assert_eq!(single.filter().delayed_len(), single.held());
        }
        batch.push((frames, frame));
        batch_dir = dir;
        expected.push(v);
        frames += 1;
        let _ = single.filter_mut().drain_events().count();
    }
    if !batch.is_empty() {
        flush(
            &mut batched,
            &mut batch,
            batch_dir,
            now,
            &mut expected,
            &mut out_batched,
        );
    }
    single.finish(&mut out_single);
    batched.finish(&mut out_batched);
    assert_eq!(
        out_single.forwarded, out_batched.forwarded,
        "both drivers forward the same frames, out of the same ports, at the same times"
    );
    assert_eq!(
        out_single.dropped, out_batched.dropped,
        "both drivers drop the same frames"
    );
    assert_eq!(
        out_single.sent, out_batched.sent,
        "both filters ask to send the same frames"
    );
    for (_, _, frame) in &out_single.sent {
        let s = crate::wire::parse(frame).expect("a SYN-ACK the filter built parses");
        let crate::wire::L3::Ip(ip) = s.l3 else {
            panic!("not IP")
        };
        assert!(
            matches!(ip.l4, crate::wire::L4::Tcp(t) if t.flags == 0x12),
            "a SYN-ACK"
        );
    }
    let f = single.filter();
    let frames = u64::from(frames);
    assert_eq!(
        f.stats().synacks as usize,
        out_single.sent.len(),
        "every SYN-ACK queued was counted"
    );
    let st = f.stats();
    assert_eq!(
        st,
        batched.filter().stats(),
        "counters of the batched filter"
    );
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

fn wheel() -> TimerWheel<(usize, u32)> {
    TimerWheel::new(8, Nanos::from_millis(1), 1024)
}

/// What a driver did with each frame, by kind, in order: forwarded (port,
/// time, frame id), dropped (frame id, reason), sent (port, time, bytes).
#[derive(Default, Debug, PartialEq, Eq)]
struct Record {
    forwarded: Vec<(usize, Nanos, u32)>,
    dropped: Vec<(u32, crate::filter::Reason)>,
    sent: Vec<(usize, Nanos, Vec<u8>)>,
}

impl Sink<u32> for Record {
    fn forward(&mut self, port: usize, at: Nanos, id: u32) {
        self.forwarded.push((port, at, id));
    }

    fn drop(&mut self, id: u32, reason: crate::filter::Reason) {
        self.dropped.push((id, reason));
    }

    fn send(&mut self, port: usize, at: Nanos, bytes: &[u8]) {
        self.sent.push((port, at, bytes.to_vec()));
    }
}

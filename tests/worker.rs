//! The real worker loop and driver over the in-memory backend: frames in
//! on one port come out of the other, RSTs after their delay, SYN-ACKs out
//! of the port their SYN came in on, dropped frames nowhere; the counters
//! and the control thread's queues as the daemon sees them.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use crossbeam::channel;
use flypaper::dataplane::driver::Driver;
use flypaper::dataplane::mem::{MemBackend, Wire};
use flypaper::dataplane::{worker_loop, Links, WorkerCmd, WorkerReport};
use flypaper::filter::{Event, Filter, Policy, Proof, Reason};
use flypaper::wire::{self, L3, L4};

const LAN_CLIENT: &str = "198.51.100.20";
const SERVER: &str = "203.0.113.80";
const SCANNER: &str = "203.0.113.99";

fn flags_of(frame: &[u8]) -> u8 {
    let s = wire::parse(frame).unwrap();
    let L3::Ip(ip) = s.l3 else { panic!() };
    let L4::Tcp(t) = ip.l4 else { panic!() };
    t.flags
}

#[test]
fn the_worker_forwards_delays_answers_and_drops_through_the_driver() {
    let p = Policy {
        proof: Proof::Handshake,
        ..Policy::default()
    };
    let filter = Filter::standalone(p.clone(), 3);
    let wire_state = Arc::new(Mutex::new(Wire::default()));
    {
        let mut w = wire_state.lock().unwrap();
        // A connection from the LAN, then the server's RST, a trap SYN and
        // a bogon.
        w.incoming[1].push_back(tcp(LAN_CLIENT, 40000, SERVER, 443, SYN));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (ev_tx, ev_rx) = channel::bounded::<Event>(64);
    let (cmd_tx, cmd_rx) = channel::bounded::<WorkerCmd>(4);
    let report = Arc::new(Mutex::new(WorkerReport::default()));
    let worker = {
        let (wire_state, stop, report) = (
            Arc::clone(&wire_state),
            Arc::clone(&stop),
            Arc::clone(&report),
        );
        std::thread::spawn(move || {
            let mut backend = MemBackend::new(wire_state);
            let mut driver = Driver::new(filter);
            let links = Links {
                stop: &stop,
                events: &ev_tx,
                commands: &cmd_rx,
                report: &report,
                tap: None,
            };
            worker_loop(&mut backend, &mut driver, &links, false)
        })
    };
    let wait = |what: &str, f: &dyn Fn(&Wire) -> bool| {
        let t0 = Instant::now();
        while !f(&wire_state.lock().unwrap()) {
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "timed out waiting for {what}: {:?}",
                wire_state.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    };
    wait("the SYN", &|w| w.sent[0].len() == 1);
    wire_state.lock().unwrap().incoming[0].push_back(tcp(
        SERVER,
        443,
        LAN_CLIENT,
        40000,
        SYN | ACK,
    ));
    wait("the SYN-ACK", &|w| w.sent[1].len() == 1);
    {
        let mut w = wire_state.lock().unwrap();
        w.incoming[1].push_back(tcp(LAN_CLIENT, 40000, SERVER, 443, ACK));
        w.incoming[0].push_back(tcp(SERVER, 443, LAN_CLIENT, 40000, RST | ACK));
        w.incoming[0].push_back(tcp_seq(SCANNER, 33000, "198.51.100.10", 139, SYN, 77, 0));
        w.incoming[0].push_back(tcp("10.0.0.1", 1, "198.51.100.10", 80, SYN));
    }
    let sent_at = Instant::now();
    // The SYN-ACK answering the trap leaves by the WAN port, at once.
    wait("the SYN-ACK", &|w| w.sent[0].len() == 3);
    // The RST is held 500 ms, then sent on to the LAN.
    wait("the delayed RST", &|w| w.sent[1].len() == 2);
    assert!(
        sent_at.elapsed() >= Duration::from_millis(450),
        "{:?}",
        sent_at.elapsed()
    );
    // A reload between batches, acknowledged.
    let (tx, rx) = channel::bounded(1);
    cmd_tx.send(WorkerCmd::Reload(Arc::new(p), tx)).unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), Ok(()));
    stop.store(true, Ordering::SeqCst);
    worker.join().unwrap().unwrap();

    let w = wire_state.lock().unwrap();
    assert_eq!(
        flags_of(&w.sent[0][0]),
        SYN,
        "the LAN's SYN went out of the WAN port"
    );
    assert_eq!(flags_of(&w.sent[1][0]), SYN | ACK);
    // The LAN's ACK and the SYN cookie, in the order the ports were read.
    let mut rest: Vec<u8> = w.sent[0][1..].iter().map(|f| flags_of(f)).collect();
    rest.sort();
    assert_eq!(rest, [ACK, SYN | ACK], "the LAN's ACK and the SYN cookie");
    assert_eq!(flags_of(&w.sent[1][1]), RST | ACK, "the RST, delayed");
    assert_eq!(w.released, 2, "the trap SYN and the bogon");
    let r = report.lock().unwrap();
    assert_eq!(r.stats.drop_count(Reason::Trap), 1);
    assert_eq!(r.stats.drop_count(Reason::BogonSrc), 1);
    assert_eq!((r.stats.delayed, r.stats.synacks, r.rst_queue), (1, 1, 0));
    // Bytes by the port they came in on: 2 LAN frames, 4 WAN frames.
    let len = |f: Vec<u8>| f.len() as u64;
    let lan = len(tcp(LAN_CLIENT, 40000, SERVER, 443, SYN))
        + len(tcp(LAN_CLIENT, 40000, SERVER, 443, ACK));
    let wan = len(tcp(SERVER, 443, LAN_CLIENT, 40000, SYN | ACK))
        + len(tcp(SERVER, 443, LAN_CLIENT, 40000, RST | ACK))
        + len(tcp_seq(SCANNER, 33000, "198.51.100.10", 139, SYN, 77, 0))
        + len(tcp("10.0.0.1", 1, "198.51.100.10", 80, SYN));
    assert_eq!((r.stats.bytes_lan, r.stats.bytes_wan), (lan, wan));
    assert!(
        matches!(ev_rx.try_recv(), Ok(Event::Lockout(e)) if e.addr == SCANNER.parse().unwrap())
    );
}

/// An event the control thread's queue has no room for is counted, never
/// dropped silently (the fly is in the blacklist all the same).
#[test]
fn events_the_control_queue_cannot_take_are_counted() {
    let filter = Filter::standalone(Policy::default(), 4);
    let wire_state = Arc::new(Mutex::new(Wire::default()));
    wire_state.lock().unwrap().incoming[0].push_back(tcp(SCANNER, 1, "198.51.100.10", 139, SYN));
    let stop = Arc::new(AtomicBool::new(false));
    // A queue of no room at all: every event is refused.
    let (ev_tx, _ev_rx) = channel::bounded::<Event>(0);
    let (_cmd_tx, cmd_rx) = channel::bounded::<WorkerCmd>(1);
    let report = Arc::new(Mutex::new(WorkerReport::default()));
    let worker = {
        let (wire_state, stop, report) = (
            Arc::clone(&wire_state),
            Arc::clone(&stop),
            Arc::clone(&report),
        );
        std::thread::spawn(move || {
            let mut backend = MemBackend::new(wire_state);
            let mut driver = Driver::new(filter);
            let links = Links {
                stop: &stop,
                events: &ev_tx,
                commands: &cmd_rx,
                report: &report,
                tap: None,
            };
            let r = worker_loop(&mut backend, &mut driver, &links, false);
            (r, driver.filter().blacklist().len())
        })
    };
    let t0 = Instant::now();
    while wire_state.lock().unwrap().released < 1 {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "the trap SYN was not decided"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    stop.store(true, Ordering::SeqCst);
    let (r, flies) = worker.join().unwrap();
    r.unwrap();
    assert_eq!(flies, 1, "the fly is listed");
    assert_eq!(report.lock().unwrap().events_unsent, 1);
}

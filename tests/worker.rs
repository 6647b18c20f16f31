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

/// The real worker loop on its own thread over an in-memory wire, with
/// the control thread's ends of its queues.
struct Running {
    wire: Arc<Mutex<Wire>>,
    stop: Arc<AtomicBool>,
    report: Arc<Mutex<WorkerReport>>,
    events: channel::Receiver<Event>,
    commands: channel::Sender<WorkerCmd>,
    /// The loop's result and the flies listed when it ended.
    thread: std::thread::JoinHandle<(std::io::Result<()>, usize)>,
}

impl Running {
    /// Start a worker on `filter`; `event_room` is the control thread's
    /// event queue (0: no room at all).
    fn start(filter: Filter, event_room: usize) -> Running {
        let wire = Arc::new(Mutex::new(Wire::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let report = Arc::new(Mutex::new(WorkerReport::default()));
        let (ev_tx, events) = channel::bounded::<Event>(event_room);
        let (commands, cmd_rx) = channel::bounded::<WorkerCmd>(4);
        let thread = {
            let (wire, stop, report) = (Arc::clone(&wire), Arc::clone(&stop), Arc::clone(&report));
            std::thread::spawn(move || {
                let mut backend = MemBackend::new(wire);
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
        Running {
            wire,
            stop,
            report,
            events,
            commands,
            thread,
        }
    }

    /// Hand `frame` to the worker on `port`.
    fn arrive(&self, port: usize, frame: Vec<u8>) {
        self.wire.lock().unwrap().incoming[port].push_back(frame);
    }

    /// Wait (5 s at most) until the wire shows `what`.
    fn wait(&self, what: &str, f: &dyn Fn(&Wire) -> bool) {
        let t0 = Instant::now();
        while !f(&self.wire.lock().unwrap()) {
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "timed out waiting for {what}: {:?}",
                self.wire.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Stop the worker; the flies listed when it ended.
    fn stop(self) -> (Arc<Mutex<Wire>>, Arc<Mutex<WorkerReport>>, usize) {
        self.stop.store(true, Ordering::SeqCst);
        let (r, flies) = self.thread.join().unwrap();
        r.unwrap();
        (self.wire, self.report, flies)
    }
}

#[test]
fn the_worker_forwards_delays_answers_and_drops_through_the_driver() {
    let p = Policy {
        proof: Proof::Handshake,
        ..Policy::default()
    };
    let w = Running::start(Filter::standalone(p.clone(), 3), 64);
    // A connection from the LAN, then the server's RST, a trap SYN and a
    // bogon.
    w.arrive(1, tcp(LAN_CLIENT, 40000, SERVER, 443, SYN));
    w.wait("the SYN", &|w| w.sent[0].len() == 1);
    w.arrive(0, tcp(SERVER, 443, LAN_CLIENT, 40000, SYN | ACK));
    w.wait("the SYN-ACK", &|w| w.sent[1].len() == 1);
    w.arrive(1, tcp(LAN_CLIENT, 40000, SERVER, 443, ACK));
    w.arrive(0, tcp(SERVER, 443, LAN_CLIENT, 40000, RST | ACK));
    w.arrive(0, tcp_seq(SCANNER, 33000, "198.51.100.10", 139, SYN, 77, 0));
    w.arrive(0, tcp("10.0.0.1", 1, "198.51.100.10", 80, SYN));
    let sent_at = Instant::now();
    // The SYN-ACK answering the trap leaves by the WAN port, at once.
    w.wait("the SYN-ACK", &|w| w.sent[0].len() == 3);
    // The RST is held 500 ms, then sent on to the LAN.
    w.wait("the delayed RST", &|w| w.sent[1].len() == 2);
    assert!(
        sent_at.elapsed() >= Duration::from_millis(450),
        "{:?}",
        sent_at.elapsed()
    );
    // A reload between batches, acknowledged.
    let (tx, rx) = channel::bounded(1);
    w.commands.send(WorkerCmd::Reload(Arc::new(p), tx)).unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), Ok(()));
    let events = w.events.clone();
    let (wire, report, _) = w.stop();

    let w = wire.lock().unwrap();
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
        matches!(events.try_recv(), Ok(Event::Lockout(e)) if e.addr == SCANNER.parse().unwrap())
    );
}

/// An event the control thread's queue has no room for is counted, never
/// dropped silently (the fly is in the blacklist all the same).
#[test]
fn events_the_control_queue_cannot_take_are_counted() {
    // A queue of no room at all: every event is refused.
    let w = Running::start(Filter::standalone(Policy::default(), 4), 0);
    w.arrive(0, tcp(SCANNER, 1, "198.51.100.10", 139, SYN));
    w.wait("the trap SYN's drop", &|w| w.released == 1);
    let (_, report, flies) = w.stop();
    assert_eq!(flies, 1, "the fly is listed");
    assert_eq!(report.lock().unwrap().events_unsent, 1);
}

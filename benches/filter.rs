//! Filter decisions per second per core, and ns per frame percentiles.
//!
//! `cargo bench --bench filter` runs a mixed trace through one `Filter` on
//! one core: legitimate TCP in both directions, DNS-like UDP, ICMP, and
//! attacks (bogon sources, bogus flags, a random-source SYN flood, frames
//! from flies), from 100k distinct WAN sources, with 1M flies in the
//! blacklist. Measurements:
//! - throughput as the data path sees it: before each batch the bench
//!   copies the batch's frames into a UMEM-like ring of 2048-byte frames,
//!   as the kernel does before a worker reads them, and times only the
//!   `process_batch` call (a timer pair per batch, its cost subtracted);
//! - throughput with cold frames: the whole trace read in place from a
//!   128 MB buffer, timed as one block, so every frame's bytes also come
//!   from DRAM;
//! - latency: each batch and each frame timed with `Instant` pairs into an
//!   hdrhistogram; the cost of the timer pair itself is measured first and
//!   subtracted.
//!
//! - prefix lookups: the same lookups and the same trace's decisions with
//!   10 bogon prefixes, with 65,536 IPv4 prefixes, and with 100,000 IPv6
//!   plus 5,000 IPv4 prefixes (`AddrMatcher` lookups per second and ns per
//!   lookup percentiles, each timed in blocks of 64; decisions per second
//!   with the set as `bogon_src`). `-- --prefixes` runs only this part,
//!   FLYPAPER_BENCH_PREFIXES=0 all but this part.
//!
//! - forged trap floods: `-- --traps` runs only this part: SYNs to the
//!   trap port from random sources into a full blacklist (every one makes
//!   a fly that evicts the soonest-expiring unproven one), with
//!   `trap.proof = "none"` and `"handshake"` (SYN cookie, SYN-ACK built
//!   and drained with `poll_transmit`): hits per second.
//!
//! Environment: FLYPAPER_BENCH_FRAMES (trace length, default 1_000_000),
//! FLYPAPER_BENCH_ROUNDS (default 5), FLYPAPER_BENCH_FLIES (default
//! 1_048_576), FLYPAPER_BENCH_CONNS (established connections, default
//! 50_000), FLYPAPER_BENCH_SOURCES (distinct WAN sources, default 100_000),
//! FLYPAPER_BENCH_ENCAP (`pppoe`, `qinq` or `mpls`: every frame of the
//! trace in that encapsulation; default bare).

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

use common::*;
use flypaper::filter::policy::{
    default_bogon_src_v4, default_bogon_src_v6, AddrMatcher, Prefix, PrefixSet,
};
use flypaper::filter::{FlyEntry, Nanos, Policy, Proof, Proto, Reason, Verdict};
use flypaper::{Addr, Direction, Filter};
use hdrhistogram::Histogram;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const LAN_NET: u32 = 0xc633_6400; // 198.51.100.0
const FLY_BASE: u32 = 0x2e00_0000; // 46.0.0.0: the flies
const SRC_BASE: u32 = 0x2d00_0000; // 45.0.0.0: 100k WAN sources

fn a(v: u32) -> String {
    Ipv4Addr::from(v).to_string()
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A connection of the trace's legitimate traffic: (WAN server, LAN client, client port).
type Conn = (String, String, u16);

fn build_trace(
    n: usize,
    flies: u32,
    conns: usize,
    sources: u64,
    rng: &mut Rng,
) -> (Vec<Conn>, Vec<(Direction, Vec<u8>)>) {
    let server = a(LAN_NET + 10);
    let conns: Vec<Conn> = (0..conns)
        .map(|i| {
            let src = a(SRC_BASE + (rng.below(sources) as u32) * 7);
            (
                src,
                a(LAN_NET + 20 + rng.below(200) as u32),
                1024 + (i % 60_000) as u16,
            )
        })
        .collect();
    let mut t = Vec::with_capacity(n);
    while t.len() < n {
        let src = a(SRC_BASE + (rng.below(sources) as u32) * 7);
        let client = a(LAN_NET + 20 + rng.below(200) as u32);
        let port = 1024 + rng.below(60_000) as u16;
        let (cs, cc, cp) = &conns[rng.below(conns.len() as u64) as usize];
        match rng.below(100) {
            // 40%: established TCP data both ways.
            0..=19 => t.push((Direction::Wan, tcp(cs, 443, cc, *cp, ACK | PSH))),
            20..=39 => t.push((Direction::Lan, tcp(cc, *cp, cs, 443, ACK))),
            // 10%: new inbound connections.
            40..=49 => t.push((Direction::Wan, tcp(&src, port, &server, 22, SYN))),
            // 15%: DNS-like UDP.
            50..=57 => t.push((Direction::Lan, udp(&client, port, &src, 53, b"query....."))),
            58..=64 => t.push((Direction::Wan, udp(&src, 53, &client, port, b"answer...."))),
            // 5%: ICMP echo.
            65..=69 => t.push((Direction::Wan, icmp(&src, &server, 8))),
            // 30%: attacks: bogon sources, bogus flags, a random-source SYN
            // flood, frames from flies.
            70..=74 => t.push((
                Direction::Wan,
                tcp(
                    &a(0x0a00_0000 + rng.below(1 << 24) as u32),
                    port,
                    &server,
                    80,
                    SYN,
                ),
            )),
            75..=79 => t.push((Direction::Wan, tcp(&src, port, &server, 80, SYN | FIN))),
            80..=89 => t.push((
                Direction::Wan,
                tcp(
                    &a(0x2f00_0000 + rng.below(1 << 24) as u32),
                    port,
                    &server,
                    80,
                    SYN,
                ),
            )),
            _ => t.push((
                Direction::Wan,
                tcp(
                    &a(FLY_BASE + rng.below(flies as u64) as u32 * 3),
                    port,
                    &server,
                    22,
                    SYN,
                ),
            )),
        }
    }
    let encap = std::env::var("FLYPAPER_BENCH_ENCAP").unwrap_or_default();
    for (_, f) in &mut t {
        *f = wrap(&encap, f);
    }
    (conns, t)
}

/// The trace's frames inside an encapsulation (FLYPAPER_BENCH_ENCAP):
/// `pppoe` (a PPPoE session header and PPP protocol), `qinq` (802.1ad and
/// 802.1Q tags), `mpls` (two labels); anything else leaves them bare.
fn wrap(encap: &str, f: &[u8]) -> Vec<u8> {
    let v6 = f[12..14] == [0x86, 0xdd];
    let mut out = f[..12].to_vec();
    match encap {
        "pppoe" => {
            out.extend_from_slice(&[0x88, 0x64, 0x11, 0x00, 0x00, 0x01]);
            out.extend_from_slice(&((f.len() - 14 + 2) as u16).to_be_bytes());
            out.extend_from_slice(if v6 { &[0x00, 0x57] } else { &[0x00, 0x21] });
        }
        "qinq" => {
            out.extend_from_slice(&[0x88, 0xa8, 0x00, 0x64, 0x81, 0x00, 0x00, 0x0a]);
            out.extend_from_slice(&f[12..14]);
        }
        "mpls" => out.extend_from_slice(&[0x88, 0x47, 0x00, 0x10, 0x00, 64, 0x00, 0x20, 0x01, 64]),
        _ => return f.to_vec(),
    }
    out.extend_from_slice(&f[14..]);
    out
}

fn setup(flies: u32) -> Filter {
    let mut p = Policy::default();
    p.tables.flies = 1 << 20;
    p.tables.sources = 131_072;
    p.tables.flows = 262_144;
    let f = Filter::standalone(p, 7);
    let bl = f.blacklist();
    for i in 0..flies {
        let e = FlyEntry {
            addr: Addr::from_v4(FLY_BASE + i * 3),
            prefix: 32,
            reason: Reason::Trap,
            proto: Some(Proto::Tcp),
            port: 139,
            proven: true,
            first_seen: Nanos::ZERO,
            expires: Nanos::from_secs(1 << 30),
        };
        bl.insert(e, Nanos::ZERO);
    }
    assert_eq!(bl.len(), flies as usize, "every fly is listed");
    f
}

/// The trace packed like a receive ring: every frame in its own 128-byte
/// slot of one buffer, read in order (frames from separate heap
/// allocations would add cache misses no data path has).
struct Ring {
    buf: Vec<u8>,
    frames: Vec<(Direction, usize, usize)>,
}

impl Ring {
    fn new(trace: &[(Direction, Vec<u8>)]) -> Ring {
        let mut buf = vec![0u8; trace.len() * 128];
        let mut frames = Vec::with_capacity(trace.len());
        for (i, (d, f)) in trace.iter().enumerate() {
            assert!(f.len() <= 128);
            buf[i * 128..i * 128 + f.len()].copy_from_slice(f);
            frames.push((*d, i * 128, f.len()));
        }
        Ring { buf, frames }
    }

    /// The trace as the data path sees it: per 64 frames, a batch from the
    /// WAN port then a batch from the LAN port.
    fn batches(&self) -> Vec<(Direction, Vec<&[u8]>)> {
        let mut out = Vec::new();
        for chunk in self.frames.chunks(64) {
            for dir in [Direction::Wan, Direction::Lan] {
                let b: Vec<&[u8]> = chunk
                    .iter()
                    .filter(|(d, _, _)| *d == dir)
                    .map(|(_, o, l)| &self.buf[*o..*o + *l])
                    .collect();
                if !b.is_empty() {
                    out.push((dir, b));
                }
            }
        }
        out
    }
}

/// Receive frames of the data path's UMEM: 2048 bytes each, reused round
/// robin, so a frame is in cache when the filter reads it, as it is after
/// the kernel's copy into UMEM.
const UMEM_FRAMES: usize = 4096;
const UMEM_FRAME: usize = 2048;

/// Copy `batch` into the next UMEM frames; the lengths go to `lens`.
fn stage(umem: &mut [u8], next: &mut usize, batch: &[&[u8]], lens: &mut Vec<(usize, usize)>) {
    lens.clear();
    for f in batch {
        let at = *next * UMEM_FRAME;
        umem[at..at + f.len()].copy_from_slice(f);
        lens.push((at, f.len()));
        *next = (*next + 1) % UMEM_FRAMES;
    }
}

fn main() {
    // `cargo test --benches` runs benches with --bench absent: do a tiny run.
    let quick = !std::env::args().any(|a| a == "--bench");
    let prefixes_only = std::env::args().any(|a| a == "--prefixes");
    if std::env::args().any(|a| a == "--traps") {
        trap_bench(quick);
        return;
    }
    let n = if quick {
        20_000
    } else {
        env("FLYPAPER_BENCH_FRAMES", 1_000_000)
    };
    let rounds = if quick {
        1
    } else {
        env("FLYPAPER_BENCH_ROUNDS", 5)
    };
    let flies = if quick {
        4096
    } else {
        env("FLYPAPER_BENCH_FLIES", 1 << 20) as u32
    };
    let nconns = env("FLYPAPER_BENCH_CONNS", 50_000);
    let sources = env("FLYPAPER_BENCH_SOURCES", 100_000) as u64;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let t0 = Instant::now();
    let mut f = setup(flies);
    let (conns, trace) = build_trace(n, flies, nconns, sources, &mut rng);
    let ring = Ring::new(&trace);
    drop(trace);
    let batches = ring.batches();
    eprintln!(
        "setup: {flies} flies + {n} frames in {:.1}s",
        t0.elapsed().as_secs_f64()
    );

    // The LAN side opens the legitimate connections mid-stream (pickup =
    // lan, as after a restart); then one warm-up pass over the trace.
    let mut now = Nanos::from_secs(10);
    for (cs, cc, cp) in &conns {
        let _ = f.process(now, Direction::Lan, &tcp(cc, *cp, cs, 443, ACK));
    }
    let mut out = vec![Verdict::Forward; 64];
    for (d, b) in &batches {
        f.process_batch(now, *d, b, &mut out);
        now = now + Nanos(50 * b.len() as u64);
    }

    let mut overhead = u64::MAX;
    for _ in 0..10_000 {
        let s = Instant::now();
        let e = black_box(Instant::now());
        overhead = overhead.min((e - s).as_nanos() as u64);
    }
    if prefixes_only {
        prefix_bench(&f, &conns, &batches, n, rounds, sources, overhead, quick);
        return;
    }

    // Throughput of process_batch, as the data path calls it: frames fresh
    // in UMEM, only the filter timed.
    let mut umem = vec![0u8; UMEM_FRAMES * UMEM_FRAME];
    let mut next = 0;
    let mut lens = Vec::with_capacity(64);
    let mut best_ns = u64::MAX;
    let mut counts = [0u64; 3];
    for _ in 0..rounds {
        let mut total = 0u64;
        for (d, b) in &batches {
            stage(&mut umem, &mut next, b, &mut lens);
            let staged: Vec<&[u8]> = lens.iter().map(|&(o, l)| &umem[o..o + l]).collect();
            let s = Instant::now();
            f.process_batch(now, *d, black_box(&staged), &mut out);
            total += (s.elapsed().as_nanos() as u64).saturating_sub(overhead);
            for v in &out[..b.len()] {
                counts[match v {
                    Verdict::Forward => 0,
                    Verdict::Delay(_) => 1,
                    Verdict::Drop(_) => 2,
                }] += 1;
            }
            now = now + Nanos(50 * b.len() as u64);
        }
        best_ns = best_ns.min(total);
    }
    let mps = n as f64 / (best_ns as f64 / 1e9) / 1e6;

    // The same with cold frames: the trace read in place, one block timed.
    let mut best = f64::MAX;
    for _ in 0..rounds {
        let start = Instant::now();
        for (d, b) in &batches {
            f.process_batch(now, *d, black_box(b), &mut out);
            now = now + Nanos(50 * b.len() as u64);
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    let cold_mps = n as f64 / best / 1e6;

    // Latency: per batch (divided by its size), and per single process() call.
    let mut hb = Histogram::<u64>::new_with_bounds(1, 10_000_000, 3).unwrap();
    for (d, b) in &batches {
        let s = Instant::now();
        f.process_batch(now, *d, black_box(b), &mut out);
        let ns = (s.elapsed().as_nanos() as u64).saturating_sub(overhead);
        hb.record((ns / b.len() as u64).clamp(1, 10_000_000))
            .unwrap();
        now = now + Nanos(50 * b.len() as u64);
    }
    let mut h = Histogram::<u64>::new_with_bounds(1, 10_000_000, 3).unwrap();
    let start = Instant::now();
    for (d, o, l) in &ring.frames {
        let s = Instant::now();
        let v = black_box(f.process(now, *d, black_box(&ring.buf[*o..*o + *l])));
        let ns = (s.elapsed().as_nanos() as u64)
            .saturating_sub(overhead)
            .max(1);
        let _ = v;
        h.record(ns.min(10_000_000)).unwrap();
        now = now + Nanos(50);
    }
    let _ = start;
    let start = Instant::now();
    for (d, o, l) in &ring.frames {
        let _ = black_box(f.process(now, *d, black_box(&ring.buf[*o..*o + *l])));
        now = now + Nanos(50);
    }
    let single_mps = n as f64 / start.elapsed().as_secs_f64() / 1e6;

    // Parsing alone, for comparison.
    let start = Instant::now();
    for (_, o, l) in &ring.frames {
        black_box(flypaper::wire::parse(black_box(&ring.buf[*o..*o + *l])).is_ok());
    }
    let parse_mps = n as f64 / start.elapsed().as_secs_f64() / 1e6;

    let st = f.stats();
    let total = (counts[0] + counts[1] + counts[2]).max(1) as f64;
    println!(
        "flypaper filter bench: {n} frames, {rounds} rounds, {sources} WAN sources, {nconns} connections, {} flies",
        f.blacklist().len()
    );
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| decisions/s, one core, process_batch, frames fresh in UMEM (best round) | {mps:.1} M |"
    );
    println!("| decisions/s, one core, process_batch, frames cold in DRAM (best round) | {cold_mps:.1} M |");
    println!(
        "| ns/frame per batch p50 / p99 / p99.9 | {} / {} / {} |",
        hb.value_at_quantile(0.50),
        hb.value_at_quantile(0.99),
        hb.value_at_quantile(0.999)
    );
    println!("| decisions/s, one core, process one frame at a time | {single_mps:.1} M |");
    println!(
        "| ns/frame single process() p50 / p99 / p99.9 | {} / {} / {} |",
        h.value_at_quantile(0.50),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999)
    );
    println!("| timer overhead subtracted | {overhead} ns |");
    println!("| parse only | {parse_mps:.1} M frames/s |");
    println!(
        "| verdict mix | {:.0}% forward, {:.0}% delay, {:.0}% drop |",
        100.0 * counts[0] as f64 / total,
        100.0 * counts[1] as f64 / total,
        100.0 * counts[2] as f64 / total
    );
    let (srcs, flows) = f.table_usage();
    println!(
        "| tables at the end | {srcs} sources, {flows} flows, {} source evictions |",
        st.source_evictions
    );
    let mut reasons: Vec<_> = Reason::ALL
        .iter()
        .filter(|r| st.drop_count(**r) > 0)
        .collect();
    reasons.sort_by_key(|r| std::cmp::Reverse(st.drop_count(**r)));
    let top: Vec<String> = reasons
        .iter()
        .map(|r| format!("{r} {}", st.drop_count(**r)))
        .collect();
    println!("| drops by reason (all passes) | {} |", top.join(", "));
    if env("FLYPAPER_BENCH_PREFIXES", 1) != 0 {
        prefix_bench(&f, &conns, &batches, n, rounds, sources, overhead, quick);
    }
}

/// The three prefix sets of the prefix figure: 10 of the built-in bogons;
/// those and 65,536 IPv4 prefixes; those and 100,000 IPv6 and 5,000 IPv4
/// prefixes. Half of the
/// IPv4 prefixes are host routes interleaved with the trace's WAN sources
/// (never one of them), so that looking a source up walks the trie to its
/// bottom; the rest are random /12../32 outside the trace's /8s. The IPv6
/// prefixes are random /19../64 in 2000::/3, where real bogon lists put
/// theirs.
fn prefix_sets(sources: u64) -> Vec<(&'static str, Vec<Prefix>)> {
    let mut rng = Rng(0x1f0e_2d3c_4b5a_6978);
    let v4 = |rng: &mut Rng, n: usize| -> Vec<Prefix> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n / 2 {
            let k = rng.below(sources) as u32;
            out.push(Prefix::v4((SRC_BASE + k * 7 + 3).to_be_bytes(), 32));
        }
        while out.len() < n {
            let a = rng.next() as u32;
            if [10, 45, 46, 47, 198].contains(&(a >> 24)) {
                continue;
            }
            out.push(Prefix::v4(a.to_be_bytes(), 12 + rng.below(21) as u8));
        }
        out
    };
    let mut ten = default_bogon_src_v4()[..5].to_vec();
    ten.extend_from_slice(&default_bogon_src_v6()[..5]);
    let mut big4 = ten.clone();
    big4.extend(v4(&mut rng, 65_536));
    let mut big6 = ten.clone();
    big6.extend((0..100_000).map(|_| {
        let a =
            (0x2000u128 << 112) | ((u128::from(rng.next()) << 64 | u128::from(rng.next())) >> 3);
        Prefix::v6(a, 19 + rng.below(46) as u8)
    }));
    big6.extend(v4(&mut rng, 5_000));
    vec![
        ("10 prefixes (5 IPv4 + 5 IPv6 bogons)", ten),
        ("the 10 + 65,536 IPv4 prefixes", big4),
        ("the 10 + 100,000 IPv6 + 5,000 IPv4 prefixes", big6),
    ]
}

#[allow(clippy::too_many_arguments)]
fn prefix_bench(
    f: &Filter,
    conns: &[Conn],
    batches: &[(Direction, Vec<&[u8]>)],
    n: usize,
    rounds: usize,
    sources: u64,
    overhead: u64,
    quick: bool,
) {
    let sets = prefix_sets(sources);
    // The same probes for every set: half IPv4 (the trace's sources and
    // random addresses), half IPv6 (in and near the big IPv6 set's prefixes,
    // and random in 2000::/3).
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    let probes_n = if quick { 1 << 14 } else { 1 << 20 };
    let big6 = &sets[2].1;
    let v4: Vec<Addr> = (0..probes_n)
        .map(|i| {
            if i % 2 == 0 {
                Addr::from_v4(SRC_BASE + rng.below(sources) as u32 * 7)
            } else {
                Addr::from_v4(rng.next() as u32)
            }
        })
        .collect();
    let v6: Vec<Addr> = (0..probes_n)
        .map(|i| {
            let r = (u128::from(rng.next()) << 64) | u128::from(rng.next());
            if i % 2 == 0 {
                let p = big6[10 + rng.below(100_000) as usize];
                let host = u128::MAX.checked_shr(u32::from(p.len128())).unwrap_or(0);
                Addr(p.addr().0 | (r & host))
            } else {
                Addr((0x2000u128 << 112) | (r >> 3))
            }
        })
        .collect();

    println!();
    println!("prefix lookups ({probes_n} probes per family, best of {rounds} rounds; ns/lookup timed per block of 64):");
    println!(
        "| prefix set | build | memory | family | lookups/s | ns/lookup p50 / p99 / p99.9 | hits |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut matchers = Vec::new();
    for (name, ps) in &sets {
        let set = PrefixSet(ps.clone());
        let t0 = Instant::now();
        let m = AddrMatcher::new(&set);
        let build = t0.elapsed();
        for (family, probes) in [("IPv4", &v4), ("IPv6", &v6)] {
            let mut best = f64::MAX;
            let mut hits = 0;
            for _ in 0..rounds {
                let start = Instant::now();
                hits = probes.iter().filter(|a| m.contains(black_box(**a))).count();
                best = best.min(start.elapsed().as_secs_f64());
            }
            let mut h = Histogram::<u64>::new_with_bounds(1, 10_000_000, 3).unwrap();
            for block in probes.chunks(64) {
                let s = Instant::now();
                for a in block {
                    black_box(m.contains(black_box(*a)));
                }
                let ns = (s.elapsed().as_nanos() as u64).saturating_sub(overhead);
                // Tenths of a nanosecond, so short lookups keep a digit.
                h.record((ns * 10 / block.len() as u64).clamp(1, 10_000_000))
                    .unwrap();
            }
            let q = |x: f64| h.value_at_quantile(x) as f64 / 10.0;
            println!(
                "| {name} | {:.1} ms | {:.1} MB | {family} | {:.1} M | {:.1} / {:.1} / {:.1} | {:.0}% |",
                build.as_secs_f64() * 1e3,
                m.memory_bytes() as f64 / 1e6,
                probes.len() as f64 / best / 1e6,
                q(0.50),
                q(0.99),
                q(0.999),
                100.0 * hits as f64 / probes.len() as f64
            );
        }
        matchers.push(m);
    }
    drop(matchers);

    // The trace's decisions with each set as the bogon sources (the rest of
    // the policy as above), same blacklist, connections picked up as above.
    println!();
    println!("decisions with each set as bogon_src ({n} frames, process_batch, frames cold in DRAM, best of {rounds} rounds):");
    println!(
        "| bogon_src | decisions/s, one core | ns/frame per batch p50 / p99 / p99.9 | drops |"
    );
    println!("|---|---|---|---|");
    for (name, ps) in &sets {
        let mut p = f.policy().clone();
        p.bogon_src = PrefixSet(ps.clone());
        let mut g = Filter::new(Arc::new(p), Arc::clone(f.shared()), 7);
        let mut now = Nanos::from_secs(10_000);
        for (cs, cc, cp) in conns {
            let _ = g.process(now, Direction::Lan, &tcp(cc, *cp, cs, 443, ACK));
        }
        let mut out = vec![Verdict::Forward; 64];
        for (d, b) in batches {
            g.process_batch(now, *d, b, &mut out);
            now = now + Nanos(50 * b.len() as u64);
        }
        let mut best = f64::MAX;
        let mut drops = 0u64;
        for _ in 0..rounds {
            drops = 0;
            let start = Instant::now();
            for (d, b) in batches {
                g.process_batch(now, *d, black_box(b), &mut out);
                drops += out[..b.len()]
                    .iter()
                    .filter(|v| matches!(v, Verdict::Drop(_)))
                    .count() as u64;
                now = now + Nanos(50 * b.len() as u64);
            }
            best = best.min(start.elapsed().as_secs_f64());
        }
        let mut h = Histogram::<u64>::new_with_bounds(1, 10_000_000, 3).unwrap();
        for (d, b) in batches {
            let s = Instant::now();
            g.process_batch(now, *d, black_box(b), &mut out);
            let ns = (s.elapsed().as_nanos() as u64).saturating_sub(overhead);
            h.record((ns / b.len() as u64).clamp(1, 10_000_000))
                .unwrap();
            now = now + Nanos(50 * b.len() as u64);
        }
        println!(
            "| {name} | {:.1} M | {} / {} / {} | {:.0}% |",
            n as f64 / best / 1e6,
            h.value_at_quantile(0.50),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            100.0 * drops as f64 / n as f64
        );
    }
}

/// Forged trap hits per second into a full blacklist, both proof modes.
fn trap_bench(quick: bool) {
    let hits = if quick {
        20_000
    } else {
        env("FLYPAPER_BENCH_FRAMES", 1_000_000)
    };
    let rounds = if quick {
        1
    } else {
        env("FLYPAPER_BENCH_ROUNDS", 5)
    };
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let frames: Vec<Vec<u8>> = (0..hits)
        .map(|_| {
            let a = Ipv4Addr::from(0x0b00_0000 + rng.below(0x6000_0000) as u32).to_string();
            tcp(
                &a,
                1024 + rng.below(60_000) as u16,
                "198.51.100.10",
                139,
                SYN,
            )
        })
        .collect();
    println!("forged trap hits ({hits} SYNs to port 139 from random sources, blacklist of 262,144 full, best of {rounds} rounds):");
    println!("| trap.proof | hits/s, one core | flies evicted | SYN-ACKs sent |");
    println!("|---|---|---|---|");
    // "handshake, no limits": every hit answered, the cost of building
    // the SYN-ACKs; the default limits send at most 200 a second.
    for (proof, limited) in [
        (Proof::None, true),
        (Proof::Handshake, true),
        (Proof::Handshake, false),
    ] {
        let mut best = f64::MAX;
        let mut last = (0, 0);
        for _ in 0..rounds {
            let mut p = Policy {
                proof,
                ..Policy::default()
            };
            if !limited {
                (p.synack_limit, p.synack_global) = (None, None);
            }
            let mut f = Filter::standalone(p, 9);
            // Fill the blacklist first (the flood's first 262,144 hits), so
            // that every timed hit evicts.
            let mut now = Nanos::from_secs(10);
            let mut out = vec![Verdict::Forward; 32];
            let cap = f.blacklist().capacity();
            let mut i = 0u32;
            while f.blacklist().len() < cap {
                let a = Ipv4Addr::from(0xc000_0000 | i).to_string();
                let _ = f.process(now, Direction::Wan, &tcp(&a, 1, "198.51.100.10", 139, SYN));
                while f.poll_transmit().is_some() {}
                let _ = f.drain_events().count();
                i += 1;
            }
            let before = f.stats();
            let s = Instant::now();
            for chunk in frames.chunks(32) {
                let b: Vec<&[u8]> = chunk.iter().map(|f| f.as_slice()).collect();
                f.process_batch(now, Direction::Wan, &b, &mut out);
                while let Some(t) = f.poll_transmit() {
                    black_box(t.frame());
                }
                let _ = f.drain_events().count();
                now = now + Nanos(1_000);
            }
            let secs = s.elapsed().as_secs_f64();
            best = best.min(secs);
            let st = f.stats();
            last = (
                st.flies_evicted - before.flies_evicted,
                st.synacks - before.synacks,
            );
        }
        println!(
            "| {} | {:.2} M | {} | {} |",
            match (proof, limited) {
                (Proof::None, _) => "none",
                (_, true) => "handshake",
                (_, false) => "handshake, no SYN-ACK limits",
            },
            hits as f64 / best / 1e6,
            last.0,
            last.1
        );
    }
}

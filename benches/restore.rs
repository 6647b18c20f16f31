//! Restoring saved flies at start-up: how long until a million flies are
//! back in the blacklist and the in-kernel ones in the XDP map.
//!
//! `cargo bench --bench restore` saves 1,000,000 flies (half IPv4, half
//! IPv6 /64s; 60% unproven trap hits, 30% proven, 10% operators' blocks)
//! with `persist::save`, then does what `flypaper run` does at start:
//! `persist::load` (read, checksum, decode, back to the monotonic clock)
//! and `persist::restore` into a blacklist sized for them (one locked bulk
//! insert and, as root where the XDP program loads, one batched
//! `set_flies` of the proven flies and blocks). It prints each step's time
//! and the total, each round, and what `set_flies` alone takes. Run without `--bench` (as
//! `cargo test --benches` does) it does a tiny run. FLYPAPER_BENCH_FLIES
//! sets the count, FLYPAPER_BENCH_ROUNDS the rounds (default 3).

use std::time::{Duration, Instant, SystemTime};

use flypaper::daemon::persist;
use flypaper::filter::blacklist::Blacklist;
use flypaper::filter::{Class, FlyEntry, Nanos, Proto, Reason};
use flypaper::sys::monotonic_ns;
use flypaper::sys::xdp::XdpProgram;
use flypaper::Addr;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `n` distinct flies, keyed as the daemon keys them.
fn flies(n: usize, now: Nanos) -> Vec<FlyEntry> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // An odd multiplier keeps the addresses distinct.
            let k = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15 | 1);
            let (addr, prefix) = if i % 2 == 0 {
                (Addr::from_v4(k as u32), 32)
            } else {
                let hi = (0x2001_0db8u128 << 96) | (u128::from(k >> 32) << 64);
                (Addr(hi), 64)
            };
            let class = match x % 10 {
                0..=5 => Class::Unproven,
                6..=8 => Class::Proven,
                _ => Class::Operator,
            };
            FlyEntry {
                addr,
                prefix,
                reason: if class == Class::Operator {
                    Reason::Fly
                } else {
                    Reason::Trap
                },
                proto: (class != Class::Operator).then_some(Proto::Tcp),
                port: if class == Class::Operator { 0 } else { 139 },
                proven: class == Class::Proven,
                first_seen: Nanos(now.0.saturating_sub(x % 3600 * 1_000_000_000)),
                expires: now + Nanos::from_secs(3600 + x % 86_400),
            }
        })
        .collect()
}

fn settle(quick: bool) {
    if !quick {
        std::thread::sleep(Duration::from_secs(2));
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let n = if quick {
        2_000
    } else {
        env("FLYPAPER_BENCH_FLIES", 1_000_000)
    };
    let rounds = if quick {
        1
    } else {
        env("FLYPAPER_BENCH_ROUNDS", 3)
    };
    let dir = std::env::temp_dir().join(format!("flypaper-bench-restore-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("bench directory");

    let now = Nanos(monotonic_ns());
    let all = flies(n, now);
    let in_kernel = all.iter().filter(|e| e.class() != Class::Unproven).count();
    let t = Instant::now();
    persist::save(&dir, &all, SystemTime::now(), now).expect("save");
    let save = t.elapsed();
    let size = std::fs::metadata(dir.join(persist::FILE))
        .map(|m| m.len())
        .unwrap_or(0);
    drop(all);
    println!(
        "restore: {n} flies (half IPv4, half IPv6 /64; {in_kernel} proven or blocked, for the XDP map); state file {:.1} MB, saved (write, fsync, rename, directory fsync) in {}",
        size as f64 / 1e6,
        ms(save)
    );

    for round in 0..rounds {
        // The daemon builds these before it restores: not timed.
        let bl = Blacklist::new(n, 42 + round as u64);
        let prog = match XdpProgram::load(n as u32) {
            Ok(p) => Some(p),
            Err(e) => {
                if round == 0 {
                    println!("restore: no XDP program ({e}): the blacklist only");
                }
                None
            }
        };

        settle(quick);
        let t0 = Instant::now();
        let mono = Nanos(monotonic_ns());
        let loaded = persist::load(&dir, SystemTime::now(), mono).expect("load");
        let t_load = t0.elapsed();
        assert_eq!((loaded.entries.len(), loaded.expired), (n, 0));
        let kernel: Vec<(u128, u64)> = loaded
            .entries
            .iter()
            .filter(|e| e.class() != Class::Unproven)
            .map(|e| (e.addr.0, e.expires.0))
            .collect();
        let t1 = Instant::now();
        let r = persist::restore(&bl, prog.as_ref(), loaded.entries, mono).expect("restore");
        let t_restore = t1.elapsed();
        let total = t_load + t_restore;
        assert_eq!((r.flies, r.in_kernel, r.evicted), (n, in_kernel, 0));
        if let Some(p) = &prog {
            assert_eq!(p.fly_count(), in_kernel);
        }
        drop((bl, prog));
        // The kernel frees a large map in the background: let it finish
        // before the next measurement, as a starting daemon would find it.
        settle(quick);
        // The XDP map's share: the same batched update into a fresh map.
        let xdp = XdpProgram::load(n as u32).ok().map(|p| {
            let t = Instant::now();
            p.set_flies(&kernel).expect("set_flies");
            t.elapsed()
        });
        settle(quick);
        println!(
            "round {round}: load {} + restore {} ({}) = {}{}",
            ms(t_load),
            ms(t_restore),
            match xdp {
                Some(d) => format!(
                    "the blacklist's bulk insert, then set_flies of {in_kernel} flies: that alone, into a fresh map, {}",
                    ms(d)
                ),
                None => "the blacklist's bulk insert; no XDP map".into(),
            },
            ms(total),
            if total < Duration::from_secs(1) {
                ""
            } else {
                "  (over one second)"
            }
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

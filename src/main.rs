//! The `flypaper` command.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::builder::NonEmptyStringValueParser;
use clap::{Parser, Subcommand, ValueEnum};

use flypaper::config;
use flypaper::daemon::control::{self, Request};
use flypaper::daemon::persist;
use flypaper::replay::{self, FrameVerdict};
use flypaper::Direction;

#[derive(Parser)]
#[command(
    name = "flypaper",
    version,
    about = "Inline bridge firewall appliance: a transparent bump in the wire"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum Port {
    Wan,
    Lan,
}

#[derive(Clone, Copy, ValueEnum)]
enum BackendArg {
    Auto,
    Afxdp,
    Afpacket,
}

/// What every verb takes.
#[derive(clap::Args, Clone)]
struct Verb {
    /// The daemon's control socket.
    #[arg(long, value_name = "PATH", default_value = control::DEFAULT_SOCKET)]
    socket: PathBuf,
    /// Print the daemon's answer as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Bridge two interfaces through the filter until SIGINT or SIGTERM.
    ///
    /// The interfaces carry no IP addresses: flypaper is a transparent bump
    /// in the wire. Lock-outs are printed as they happen; on exit the final
    /// counters are printed as one `stats {json}` line.
    Run {
        /// The internet-side (modem) interface.
        #[arg(long, value_parser = NonEmptyStringValueParser::new())]
        wan: String,
        /// The protected-side interface.
        #[arg(long, value_parser = NonEmptyStringValueParser::new())]
        lan: String,
        /// Policy file (TOML); default: the built-in seed policy.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Worker threads (default: one).
        #[arg(long, default_value_t = 1)]
        workers: usize,
        #[arg(long, value_enum, default_value_t = BackendArg::Auto)]
        backend: BackendArg,
        /// Rewrite this file (atomically) with the counters as JSON every 200 ms.
        #[arg(long)]
        stats_file: Option<PathBuf>,
        /// Workers spin on their rings instead of sleeping when idle: lowest
        /// latency, one core always busy per worker.
        #[arg(long)]
        busy_poll: bool,
        /// Pin the XDP maps (flies, counters, ports, xsks, config) in this directory
        /// of a BPF filesystem for operators' tools (`bpftool map dump
        /// pinned DIR/flies`); mounted there if it is an empty directory
        /// that is not on one. Removed on exit. AF_XDP backend only.
        #[arg(long, value_name = "DIR")]
        pin_maps: Option<PathBuf>,
        /// The control socket the verbs (status, list, free, block, flush,
        /// stats, stop) talk to; root only.
        #[arg(long, value_name = "PATH", default_value = control::DEFAULT_SOCKET)]
        socket: PathBuf,
        /// Serve the counters in the Prometheus text format over HTTP at
        /// /metrics on this address, e.g. 127.0.0.1:9184 (keep it on
        /// loopback or a management network: there is no authentication).
        /// Off by default.
        #[arg(long, value_name = "ADDR:PORT")]
        metrics: Option<std::net::SocketAddr>,
        /// Write the frames the filter drops to this pcapng file, each with
        /// its reason as the packet comment, on interface wan or lan (the
        /// port it came in on). Capped by --capture-drops-rate and
        /// --capture-drops-max; skipped frames are counted in the stats.
        #[arg(long, value_name = "FILE.pcapng")]
        capture_drops: Option<PathBuf>,
        /// Dropped frames written per second at most.
        #[arg(long, value_name = "FRAMES", default_value_t = 1000,
              value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        capture_drops_rate: u32,
        /// The --capture-drops file's size at most, in MB (10^6 bytes).
        #[arg(long, value_name = "MB", default_value_t = 100,
              value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        capture_drops_max: u64,
        /// Where the flies are saved (DIR/flies.state, within a second of a
        /// change and at stop) and restored from at start, so that they
        /// survive a restart, a crash and a power loss; created 0700 if
        /// missing.
        #[arg(long, value_name = "DIR", default_value = persist::DEFAULT_DIR)]
        state_dir: PathBuf,
    },
    /// Health checks of the running daemon, one line each (exit 1 if any fails).
    Status(Verb),
    /// The flies: address or prefix, reason, trigger, class, first seen, expiry.
    List(Verb),
    /// Free the fly an address belongs to, or every fly in a prefix.
    #[command(alias = "unblock")]
    Free {
        /// An address ("203.0.113.9", "2001:db8::5") or a prefix ("2001:db8:0:5::/64").
        target: String,
        #[command(flatten)]
        verb: Verb,
    },
    /// Lock out an address (an IPv6 one by its /64) as the operator.
    Block {
        target: String,
        /// How long ("90s", "10m", "2h", "1day"); default: trap.lockout_s.
        #[arg(long = "for", value_name = "DURATION", value_parser = humantime::parse_duration)]
        duration: Option<std::time::Duration>,
        #[command(flatten)]
        verb: Verb,
    },
    /// Free every fly.
    Flush(Verb),
    /// The daemon's counters: frames and drops per reason, tables, flies.
    Stats {
        /// Print frames per second and drops every second until interrupted.
        #[arg(long)]
        watch: bool,
        #[command(flatten)]
        verb: Verb,
    },
    /// Read the policy file again and apply it (as SIGHUP does): checked
    /// whole first; on any error the running policy stays and the error
    /// is printed. Flows, limits and flies carry over.
    Reload(Verb),
    /// Stop the daemon.
    Stop(Verb),
    /// Replay a pcap or pcapng capture through the filter offline.
    ///
    /// pcapng interface 0 is the WAN side and 1 the LAN side; classic pcap
    /// frames come from the WAN unless --from says otherwise. The capture's
    /// timestamps are the clock.
    Replay {
        /// The capture (pcap or pcapng, Ethernet).
        capture: PathBuf,
        /// Policy file (TOML); default: the built-in seed policy.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Treat every frame as entering from this port.
        #[arg(long, value_enum)]
        from: Option<Port>,
        /// Write the frames that would leave the appliance, as pcapng on two
        /// interfaces (wan, lan: the port each leaves by): forwarded ones,
        /// delayed ones at their release time, and the SYN-ACKs of
        /// trap.proof = "handshake".
        #[arg(long, value_name = "OUT.pcapng")]
        pass: Option<PathBuf>,
        /// Write one JSON object per frame with its verdict.
        #[arg(long, value_name = "OUT.jsonl")]
        verdicts: Option<PathBuf>,
        /// Seed for the table hashes (replays are reproducible by default).
        #[arg(long, default_value_t = replay::DEFAULT_SEED)]
        seed: u64,
    },
    /// The demo lab: the appliance between two network namespaces, legitimate
    /// traffic and the seed's attacks, then its counters and flies (root).
    Demo,
    /// Check a policy file; print the first error with its key and line.
    CheckConfig { file: PathBuf },
    /// Print the default policy file (every key, with comments).
    DefaultConfig,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Run {
            wan,
            lan,
            config,
            workers,
            backend,
            stats_file,
            busy_poll,
            pin_maps,
            socket,
            metrics,
            capture_drops,
            capture_drops_rate,
            capture_drops_max,
            state_dir,
        } => {
            let policy = match load_policy(config.as_deref()) {
                Ok(p) => p,
                Err(code) => return code,
            };
            let config_sha256 = config
                .as_deref()
                .and_then(|p| std::fs::read(p).ok())
                .map(|b| {
                    use sha2::Digest;
                    sha2::Sha256::digest(&b)
                        .iter()
                        .map(|x| format!("{x:02x}"))
                        .collect::<String>()
                });
            let cfg = flypaper::dataplane::RunConfig {
                wan,
                lan,
                policy,
                workers,
                backend: match backend {
                    BackendArg::Auto => flypaper::dataplane::BackendKind::Auto,
                    BackendArg::Afxdp => flypaper::dataplane::BackendKind::AfXdp,
                    BackendArg::Afpacket => flypaper::dataplane::BackendKind::AfPacket,
                },
                stats_file,
                busy_poll,
                pin_maps,
                config_file: config,
                config_sha256,
                socket: Some(socket),
                metrics,
                capture_drops: capture_drops.map(|path| flypaper::dataplane::DropCapConfig {
                    path,
                    rate: capture_drops_rate,
                    max_bytes: capture_drops_max * 1_000_000,
                }),
                state_dir: Some(state_dir),
            };
            match flypaper::dataplane::run(cfg) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("flypaper run: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::Replay {
            capture,
            config,
            from,
            pass,
            verdicts,
            seed,
        } => run_replay(
            &capture,
            config.as_deref(),
            from,
            pass.as_deref(),
            verdicts.as_deref(),
            seed,
        ),
        Cmd::CheckConfig { file } => match config::load_file(&file) {
            Ok(p) => {
                println!(
                    "{}: ok ({} LAN prefixes, {} allow rules, flypaper mode {})",
                    file.display(),
                    p.lan.0.len(),
                    p.allow.len(),
                    if p.strict { "strict" } else { "off" }
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        },
        Cmd::Demo => {
            let exe = match std::env::current_exe() {
                Ok(e) => e,
                Err(e) => {
                    eprintln!("flypaper demo: cannot find my own binary: {e}");
                    return ExitCode::FAILURE;
                }
            };
            match flypaper::demo::run(&exe) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("flypaper demo: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::DefaultConfig => {
            print!("{}", config::DEFAULT_TOML);
            ExitCode::SUCCESS
        }
        Cmd::Status(v) => verb(&v, &Request::Status),
        Cmd::List(v) => verb(&v, &Request::List),
        Cmd::Free { target, verb: v } => verb(&v, &Request::Free { target }),
        Cmd::Block {
            target,
            duration,
            verb: v,
        } => verb(
            &v,
            &Request::Block {
                target,
                for_s: duration.map(|d| d.as_secs().max(1)),
            },
        ),
        Cmd::Flush(v) => verb(&v, &Request::Flush),
        Cmd::Stats {
            watch: false,
            verb: v,
        } => verb(&v, &Request::Stats),
        Cmd::Stats {
            watch: true,
            verb: v,
        } => watch_stats(&v),
        Cmd::Reload(v) => verb(&v, &Request::Reload),
        Cmd::Stop(v) => verb(&v, &Request::Stop),
    }
}

/// Send a verb to the daemon and print its answer: JSON with `--json`,
/// else text. Exit 1 when the daemon says no (or a status check fails), 2
/// when no daemon answers.
fn verb(v: &Verb, req: &Request) -> ExitCode {
    let r = match control::request(&v.socket, req) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("flypaper: {e}");
            return ExitCode::from(2);
        }
    };
    if !r.ok {
        eprintln!(
            "flypaper: {}",
            r.error.as_deref().unwrap_or("the daemon refused")
        );
        return ExitCode::FAILURE;
    }
    let d = &r.data;
    if v.json {
        println!("{d}");
    } else {
        print_text(req, d);
    }
    let failed = matches!(req, Request::Status)
        && d["checks"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["ok"] == false));
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn print_text(req: &Request, d: &serde_json::Value) {
    let s = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    let fly_line = |f: &serde_json::Value| {
        format!(
            "{:<28} {:<11} {:<16} {:<9} {:<21} {:>8} {}",
            s(&f["addr"]),
            s(&f["reason"]),
            s(&f["trigger"]),
            s(&f["class"]),
            s(&f["first_seen"]),
            f["hits"].as_u64().unwrap_or(0),
            s(&f["expires"])
        )
    };
    match req {
        Request::Status => {
            for c in d["checks"].as_array().into_iter().flatten() {
                let ok = if c["ok"] == true { "ok  " } else { "FAIL" };
                println!("{ok} {:<24} {}", s(&c["check"]), s(&c["detail"]));
            }
        }
        Request::List => {
            let flies = d["flies"].as_array().cloned().unwrap_or_default();
            if flies.is_empty() {
                println!("no flies");
                return;
            }
            println!(
                "{:<28} {:<11} {:<16} {:<9} {:<21} {:>8} expires",
                "address", "reason", "tried", "class", "first seen", "hits"
            );
            for f in &flies {
                println!("{}", fly_line(f));
            }
        }
        Request::Free { .. } => {
            for f in d["freed"].as_array().into_iter().flatten() {
                println!("freed {}", s(&f["addr"]));
            }
        }
        Request::Block { .. } => {
            let b = &d["blocked"];
            match d["flies"].as_u64() {
                Some(n) if n > 1 => println!(
                    "blocked {} ({n} flies) until {}",
                    s(&d["target"]),
                    s(&b["expires"])
                ),
                _ => println!("blocked {} until {}", s(&b["addr"]), s(&b["expires"])),
            }
        }
        Request::Flush => match d["freed"].as_u64() {
            Some(1) => println!("freed 1 fly"),
            n => println!("freed {} flies", n.unwrap_or(0)),
        },
        Request::Stats => {
            let n = |k: &str| d[k].as_u64().unwrap_or(0);
            println!(
                "frames wan {} ({} bytes) lan {} ({} bytes), forwarded {}, delayed {}, flies {} (added {}, evicted {}, proven {}), rst queue {}",
                n("frames_wan"),
                n("bytes_wan"),
                n("frames_lan"),
                n("bytes_lan"),
                n("forwarded"),
                n("delayed"),
                n("flies"),
                n("flies_added"),
                n("flies_evicted"),
                n("flies_proven"),
                n("rst_queue")
            );
            let t = |k: &str| {
                let v = &d["tables"][k];
                format!("{}/{}", v[0], v[1])
            };
            println!(
                "  tables: sources {}, flows {}, flies {}; evictions: sources {}, flows {}, fragments {}, flies {}; events lost {}, unsent {}",
                t("sources"),
                t("flows"),
                t("flies"),
                n("source_evictions"),
                n("flow_evictions"),
                n("fragment_evictions"),
                n("flies_evicted"),
                n("events_lost"),
                n("events_unsent")
            );
            if let Some(drops) = d["drops"].as_object() {
                for (k, v) in drops.iter().filter(|(_, v)| v.as_u64() != Some(0)) {
                    println!("  drop {k:<20} {v}");
                }
            }
        }
        Request::Reload => println!("{}", s(&d["reloaded"])),
        Request::Stop => println!("stopping"),
    }
}

/// `stats --watch`: frames per second and the drops that moved, every
/// second, until interrupted.
fn watch_stats(v: &Verb) -> ExitCode {
    let mut last: Option<serde_json::Value> = None;
    loop {
        let r = match control::request(&v.socket, &Request::Stats) {
            Ok(r) if r.ok => r.data,
            Ok(r) => {
                eprintln!("flypaper: {}", r.error.unwrap_or_default());
                return ExitCode::FAILURE;
            }
            Err(e) => {
                eprintln!("flypaper: {e}");
                return ExitCode::from(2);
            }
        };
        if let Some(prev) = &last {
            let d = |k: &str| {
                r[k].as_u64().unwrap_or(0)
                    - prev[k]
                        .as_u64()
                        .unwrap_or(0)
                        .min(r[k].as_u64().unwrap_or(0))
            };
            if v.json {
                println!(
                    "{}",
                    serde_json::json!({"wan_fps": d("frames_wan"), "lan_fps": d("frames_lan"), "forwarded_fps": d("forwarded"), "stats": r})
                );
            } else {
                println!(
                    "wan {} fps, lan {} fps, forwarded {} fps, flies {}",
                    d("frames_wan"),
                    d("frames_lan"),
                    d("forwarded"),
                    r["flies"]
                );
            }
        }
        last = Some(r);
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

/// The policy in `file`, or the built-in seed policy; a bad file is
/// reported (with its line and key) and is exit status 2.
fn load_policy(file: Option<&Path>) -> Result<flypaper::Policy, ExitCode> {
    match file.map(config::load_file).transpose() {
        Ok(p) => Ok(p.unwrap_or_default()),
        Err(e) => {
            eprintln!("{e}");
            Err(ExitCode::from(2))
        }
    }
}

fn run_replay(
    capture: &Path,
    config_file: Option<&Path>,
    from: Option<Port>,
    pass: Option<&Path>,
    verdicts: Option<&Path>,
    seed: u64,
) -> ExitCode {
    let policy = match load_policy(config_file) {
        Ok(p) => p,
        Err(code) => return code,
    };
    let input = match File::open(capture) {
        Ok(f) => io::BufReader::new(f),
        Err(e) => {
            eprintln!("{}: {e}", capture.display());
            return ExitCode::from(2);
        }
    };
    let create = |p: &Path| File::create(p).map_err(|e| format!("{}: {e}", p.display()));
    let pass_out = match pass.map(create).transpose() {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut verdicts_out = match verdicts.map(create).transpose() {
        Ok(f) => f.map(BufWriter::new),
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let opts = replay::Options {
        from: from.map(|p| match p {
            Port::Wan => Direction::Wan,
            Port::Lan => Direction::Lan,
        }),
        seed,
    };
    let result =
        replay::replay(
            input,
            policy,
            &opts,
            pass_out,
            |v: &FrameVerdict| match verdicts_out.as_mut() {
                Some(w) => writeln!(w, "{}", v.to_json()),
                None => Ok(()),
            },
        );
    let flushed = verdicts_out.as_mut().map_or(Ok(()), |w| w.flush());
    match (result, flushed) {
        (Ok(report), Ok(())) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        (Err(e), _) => {
            eprintln!("{}: {e}", capture.display());
            ExitCode::FAILURE
        }
        (_, Err(e)) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

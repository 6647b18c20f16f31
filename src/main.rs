//! The `flypaper` command.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use flypaper::config;
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

#[derive(Subcommand)]
enum Cmd {
    /// Bridge two interfaces through the filter until SIGINT or SIGTERM.
    ///
    /// The interfaces carry no IP addresses: flypaper is a transparent bump
    /// in the wire. Lock-outs are printed as they happen; on exit the final
    /// counters are printed as one `stats {json}` line.
    Run {
        /// The internet-side (modem) interface.
        #[arg(long)]
        wan: String,
        /// The protected-side interface.
        #[arg(long)]
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
    },
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
        } => {
            let policy = match load_policy(config.as_deref()) {
                Ok(p) => p,
                Err(code) => return code,
            };
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

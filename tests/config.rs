//! The TOML policy: defaults, a full custom config, and every kind of error
//! with the line and key it must name.

use flypaper::config::{self, ConfigError, DEFAULT_TOML};
use flypaper::filter::policy::{
    Limit, Mode, Pickup, PortSet, Prefix, PrefixSet, Proof, Proto, SynMode, TunnelMode,
};
use flypaper::{Addr, Nanos, Policy};

const FILE: &str = "flypaper.toml";

/// The lines joined into a file; line N of the file is `lines[N - 1]`.
fn file(lines: &[&str]) -> String {
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

fn parse(lines: &[&str]) -> Policy {
    let text = file(lines);
    config::parse_str(&text, Some(FILE)).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn parse_err(lines: &[&str]) -> ConfigError {
    let text = file(lines);
    match config::parse_str(&text, Some(FILE)) {
        Ok(p) => panic!("accepted a bad config:\n{text}\n{p:?}"),
        Err(e) => e,
    }
}

/// The error names `line` and `key`, and its message contains `text`.
#[track_caller]
fn assert_err(lines: &[&str], line: usize, key: &str, text: &str) -> ConfigError {
    let e = parse_err(lines);
    assert_eq!(e.file(), Some(FILE), "{e}");
    assert_eq!(e.line(), Some(line), "{e}");
    assert_eq!(e.key(), Some(key), "{e}");
    assert!(e.message().contains(text), "`{text}` not in: {e}");
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!("{FILE}:{line}: `{key}`: ")),
        "{shown}"
    );
    e
}

fn a(s: &str) -> Addr {
    s.parse().unwrap()
}

fn prefixes(list: &[&str]) -> PrefixSet {
    PrefixSet(list.iter().map(|s| s.parse::<Prefix>().unwrap()).collect())
}

fn types(list: &[usize]) -> [bool; 256] {
    let mut m = [false; 256];
    for t in list {
        m[*t] = true;
    }
    m
}

/// Every field of two policies is equal (Policy has no PartialEq).
#[track_caller]
fn assert_same(got: &Policy, want: &Policy) {
    macro_rules! fields {
        ($($f:ident),* $(,)?) => {
            // Destructuring makes this fail to compile when a field is added.
            let Policy { $($f: _),* } = want;
            $(assert_eq!(
                format!("{:?}", got.$f),
                format!("{:?}", want.$f),
                "field `{}`",
                stringify!($f)
            );)*
        };
    }
    fields!(
        bogon_src,
        bogus_dst,
        lan,
        icmp_drop,
        icmpv6_drop,
        icmp_limit,
        rst_limit,
        syn_limit,
        syn_mode,
        nd_limit,
        rst_delay,
        trap_tcp,
        trap_udp,
        lockout,
        proof,
        unproven_lockout,
        fly_prefix,
        vouch_secs,
        synack_limit,
        synack_global,
        strict,
        allow,
        never_block,
        drop_non_ip,
        tunnels,
        mpls_drop_non_ip,
        mode,
        conntrack,
        tables,
    );
}

// ---------------------------------------------------------------------------
// Defaults.

#[test]
fn default_toml_is_the_seed_policy() {
    let p = config::parse_str(DEFAULT_TOML, Some("appliance/flypaper.toml")).unwrap();
    assert_same(&p, &Policy::default());
    assert_eq!(format!("{p:?}"), format!("{:?}", Policy::default()));
}

#[test]
fn empty_or_comment_only_text_is_the_seed_policy() {
    for text in ["", "\n\n", "# nothing here\n", "[tcp]\n[trap]\n"] {
        let p = config::parse_str(text, None).unwrap();
        assert_same(&p, &Policy::default());
    }
}

#[test]
fn default_toml_comments_every_key() {
    let lines: Vec<&str> = DEFAULT_TOML.lines().collect();
    let mut keys = 0;
    for (i, line) in lines.iter().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('[') {
            continue;
        }
        keys += 1;
        let before = lines[..i].iter().rev().map(|l| l.trim()).next();
        assert!(
            before.is_some_and(|l| l.starts_with('#')),
            "line {}: `{line}` has no comment right above it",
            i + 1
        );
    }
    assert_eq!(keys, 47, "every key of the schema is in the reference");
    assert!(DEFAULT_TOML.contains("# [[flypaper.allow]]"));
}

#[test]
fn default_toml_lists_every_key_the_full_config_uses() {
    fn keys(v: &toml::Value, prefix: &str, out: &mut Vec<String>) {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    out.push(path.clone());
                    keys(v, &path, out);
                }
            }
            toml::Value::Array(items) => {
                for item in items {
                    keys(item, prefix, out);
                }
            }
            _ => {}
        }
    }
    let mut documented = Vec::new();
    keys(
        &DEFAULT_TOML.parse::<toml::Table>().unwrap().into(),
        "",
        &mut documented,
    );
    let mut used = Vec::new();
    keys(
        &file(FULL).parse::<toml::Table>().unwrap().into(),
        "",
        &mut used,
    );
    for k in used {
        // Allow rules can only be shown commented out (none is the default).
        if !k.starts_with("flypaper.allow") {
            assert!(documented.contains(&k), "`{k}` is not in DEFAULT_TOML");
        }
    }
    for k in ["proto", "ports", "dst"] {
        assert!(DEFAULT_TOML.contains(&format!("#   {k} ")), "allow key {k}");
    }
}

#[test]
fn default_toml_allow_example_works_when_uncommented() {
    let example: String = DEFAULT_TOML
        .lines()
        .skip_while(|l| !l.starts_with("# [[flypaper.allow]]"))
        .take_while(|l| l.starts_with('#'))
        .map(|l| format!("{}\n", l.trim_start_matches('#').trim_start()))
        .collect();
    assert_eq!(
        example.matches("[[flypaper.allow]]").count(),
        3,
        "{example}"
    );
    let text = DEFAULT_TOML.replace("mode = \"off\"", "mode = \"strict\"") + &example;
    let p = config::parse_str(&text, None).unwrap_or_else(|e| panic!("{e}\n{example}"));
    assert!(p.strict);
    assert_eq!(p.allow.len(), 3);
    assert!(p.allow[0].matches(Proto::Tcp, 22, a("198.51.100.10")));
    assert!(!p.allow[0].matches(Proto::Tcp, 22, a("198.51.100.11")));
    assert!(p.allow[1].matches(Proto::Udp, 60500, a("192.0.2.1")));
    assert!(p.allow[2].matches(Proto::Icmp, 0, a("192.0.2.1")));
}

// ---------------------------------------------------------------------------
// A full custom config.

const FULL: &[&str] = &[
    "[filter]",
    "drop_non_ip = true",
    r#"lan = ["198.51.100.0/25", "2001:db8:1::/48"]"#,
    r#"never_block = ["198.51.100.1", "203.0.113.53/32"]"#,
    "builtin_bogons = false",
    r#"bogon_src_extra = ["100.64.0.0/10", "2001:db8:dead::/48"]"#,
    r#"bogus_dst_extra = ["192.0.2.0/24"]"#,
    r#"tunnels = "pass""#,
    r#"mpls = "pass""#,
    r#"mode = "monitor""#,
    "",
    "[icmp]",
    "drop_types = [5, 13]",
    "drop_types_v6 = [128, 139]",
    r#"limit = "10/min""#,
    "burst = 3",
    r#"nd_limit = "20/s""#,
    "nd_burst = 30",
    "",
    "[tcp]",
    r#"syn_limit = "100/s""#,
    "syn_burst = 200",
    r#"syn_mode = "bucket""#,
    r#"rst_limit = "off""#,
    "rst_burst = 4",
    "rst_delay_ms = 0",
    "",
    "[trap]",
    r#"tcp_ports = [23, "6000-6002", 65535]"#,
    r#"udp_ports = ["0-1", 161]"#,
    "lockout_s = 3600",
    r#"proof = "handshake""#,
    "unproven_lockout_s = 120",
    "prefix_v4 = 24",
    "prefix_v6 = 56",
    "vouch_s = 0",
    r#"synack_limit = "5/min""#,
    "synack_burst = 2",
    r#"synack_global = "50/s""#,
    "",
    "[flypaper]",
    r#"mode = "strict""#,
    "[[flypaper.allow]]",
    r#"proto = "tcp""#,
    "ports = 22",
    r#"dst = ["198.51.100.10"]"#,
    "[[flypaper.allow]]",
    r#"proto = "udp""#,
    r#"ports = "60000-61000""#,
    "[[flypaper.allow]]",
    r#"proto = "icmp""#,
    "[[flypaper.allow]]",
    r#"proto = "sctp""#,
    "[[flypaper.allow]]",
    r#"proto = "50""#,
    "",
    "[conntrack]",
    r#"pickup = "both""#,
    "syn_timeout_s = 5",
    "established_timeout_s = 7200",
    "close_timeout_s = 10",
    "udp_timeout_s = 20",
    "udp_stream_timeout_s = 120",
    "fragment_timeout_s = 7",
    "",
    "[tables]",
    "sources = 64",
    "flows = 16777216",
    "flies = 1000",
    "rst_queue = 1",
    "rst_share = 1",
    "trust = 64",
    "fragments = 128",
];

#[test]
fn full_custom_config_sets_every_field() {
    let p = parse(FULL);
    assert!(p.drop_non_ip);
    assert_eq!(p.lan, prefixes(&["198.51.100.0/25", "2001:db8:1::/48"]));
    assert_eq!(
        p.never_block,
        prefixes(&["198.51.100.1/32", "203.0.113.53"])
    );
    // builtin_bogons = false: only the extras.
    assert_eq!(
        p.bogon_src,
        prefixes(&["100.64.0.0/10", "2001:db8:dead::/48"])
    );
    assert_eq!(p.bogus_dst, prefixes(&["192.0.2.0/24"]));
    assert!(!p.bogon_src.contains(a("10.0.0.1")));

    assert_eq!(p.icmp_drop, types(&[5, 13]));
    assert_eq!(p.icmpv6_drop, types(&[128, 139]));
    assert_eq!(p.icmp_limit, Limit::new(10, 60, 3));
    assert_eq!(p.icmp_limit.unwrap().cost, 6_000_000_000);

    assert_eq!(p.nd_limit, Some(Limit::per_sec(20, 30)));
    assert_eq!(p.tunnels, TunnelMode::Pass);
    assert!(!p.mpls_drop_non_ip);
    assert_eq!(p.mode, Mode::Monitor);
    assert_eq!(p.syn_limit, Some(Limit::per_sec(100, 200)));
    assert_eq!(p.syn_mode, SynMode::Bucket);
    assert_eq!(p.rst_limit, None, "\"off\"");
    assert_eq!(p.rst_delay, Nanos::ZERO);

    assert_eq!(
        p.trap_tcp,
        PortSet::from_ports(&[23, 6000, 6001, 6002, 65535])
    );
    assert_eq!(p.trap_udp, PortSet::from_ports(&[0, 1, 161]));
    assert_eq!(p.lockout, Nanos::from_secs(3600));
    assert_eq!(p.proof, Proof::Handshake);
    assert_eq!(p.unproven_lockout, Nanos::from_secs(120));
    assert_eq!((p.fly_prefix.v4, p.fly_prefix.v6), (24, 56));
    assert_eq!(p.vouch_secs, 0);
    assert_eq!(p.synack_limit, Limit::new(5, 60, 2));
    assert_eq!(p.synack_global, Some(Limit::per_sec(50, 50)));

    assert!(p.strict);
    assert_eq!(p.allow.len(), 5);
    assert_eq!(p.allow[3].proto, Proto::Other(132));
    assert_eq!(p.allow[4].proto, Proto::Other(50));
    assert!(p.allow[3].matches(Proto::Other(132), 0, a("198.51.100.9")));
    assert!(!p.allow[3].matches(Proto::Other(133), 0, a("198.51.100.9")));
    assert_eq!(p.allow[0].proto, Proto::Tcp);
    assert_eq!(p.allow[0].ports, (22, 22));
    assert_eq!(p.allow[0].dst, prefixes(&["198.51.100.10"]));
    assert_eq!(p.allow[1].proto, Proto::Udp);
    assert_eq!(p.allow[1].ports, (60000, 61000));
    assert!(p.allow[1].dst.is_empty());
    assert_eq!(p.allow[2].proto, Proto::Icmp);

    let c = p.conntrack;
    assert_eq!(c.pickup, Pickup::Both);
    assert_eq!(c.syn_timeout, Nanos::from_secs(5));
    assert_eq!(c.established_timeout, Nanos::from_secs(7200));
    assert_eq!(c.close_timeout, Nanos::from_secs(10));
    assert_eq!(c.udp_timeout, Nanos::from_secs(20));
    assert_eq!(c.udp_stream_timeout, Nanos::from_secs(120));
    assert_eq!(c.fragment_timeout, Nanos::from_secs(7));

    let t = p.tables;
    assert_eq!(
        (t.sources, t.flows, t.flies, t.rst_queue, t.fragments),
        (64, 16_777_216, 1000, 1, 128)
    );
    assert_eq!((t.rst_share, t.trust), (1, 64));
}

#[test]
fn bad_trap_proof_prefixes_and_shares() {
    assert_err(
        &["[trap]", r#"proof = "cookie""#],
        2,
        "trap.proof",
        "unknown value `cookie`; expected \"none\" or \"handshake\"",
    );
    assert_err(
        &["[trap]", "prefix_v4 = 7"],
        2,
        "trap.prefix_v4",
        "7 is out of range 8..=32",
    );
    assert_err(
        &["[trap]", "prefix_v6 = 129"],
        2,
        "trap.prefix_v6",
        "129 is out of range 32..=128",
    );
    assert_err(
        &["[trap]", "prefix_v6 = 31"],
        2,
        "trap.prefix_v6",
        "out of range 32..=128",
    );
    assert_err(
        &["[trap]", "unproven_lockout_s = 0"],
        2,
        "trap.unproven_lockout_s",
        "out of range",
    );
    assert_err(
        &["[trap]", "vouch_s = 604801"],
        2,
        "trap.vouch_s",
        "out of range 0..=604800",
    );
    assert_err(
        &["[trap]", r#"synack_global = "fast""#],
        2,
        "trap.synack_global",
        "",
    );
    // A source's share of the RST queue is at most the queue.
    assert_err(
        &["[tables]", "rst_queue = 10", "rst_share = 11"],
        3,
        "tables.rst_share",
        "11 is out of range 1..=10",
    );
    assert_err(
        &["[tables]", "trust = 63"],
        2,
        "tables.trust",
        "out of range",
    );
    // A smaller queue than the default share takes the queue as the share.
    let p = parse(&["[tables]", "rst_queue = 10"]);
    assert_eq!((p.tables.rst_queue, p.tables.rst_share), (10, 10));
}

#[test]
fn missing_keys_keep_their_defaults() {
    let p = parse(&["[tcp]", "syn_burst = 10", "[trap]", "udp_ports = [53]"]);
    let d = Policy::default();
    // Only the burst changes; the rate stays 60/s.
    assert_eq!(p.syn_limit, Some(Limit::per_sec(60, 10)));
    assert_eq!(p.rst_limit, d.rst_limit);
    assert_eq!(p.trap_tcp, d.trap_tcp, "tcp_ports untouched");
    assert_eq!(p.trap_udp, PortSet::from_ports(&[53]));
    // Built-in bogons plus an extra.
    let p = parse(&["[filter]", r#"bogon_src_extra = ["100.64.0.0/10"]"#]);
    assert_eq!(p.bogon_src.0.len(), d.bogon_src.0.len() + 1);
    assert!(p.bogon_src.contains(a("10.1.2.3")) && p.bogon_src.contains(a("100.64.0.1")));
    assert_eq!(p.bogus_dst, d.bogus_dst);
    // An empty list clears a default list.
    let p = parse(&["[icmp]", "drop_types = []", "[trap]", "tcp_ports = []"]);
    assert_eq!(p.icmp_drop, [false; 256]);
    assert!(p.trap_tcp.is_empty());
}

#[test]
fn strict_mode_with_allow_rules() {
    let p = parse(&[
        "[flypaper]",
        r#"mode = "strict""#,
        "",
        "[[flypaper.allow]]",
        r#"proto = "tcp""#,
        r#"ports = "443-8443""#,
        r#"dst = ["198.51.100.0/28", "2001:db8:1::80"]"#,
        "",
        "[[flypaper.allow]]",
        r#"proto = "icmp""#,
    ]);
    assert!(p.strict);
    assert_eq!(p.allow.len(), 2);
    let web = &p.allow[0];
    assert!(web.matches(Proto::Tcp, 443, a("198.51.100.5")));
    assert!(web.matches(Proto::Tcp, 8443, a("2001:db8:1::80")));
    assert!(!web.matches(Proto::Tcp, 8444, a("198.51.100.5")));
    assert!(!web.matches(Proto::Tcp, 80, a("198.51.100.5")));
    assert!(!web.matches(Proto::Udp, 443, a("198.51.100.5")));
    assert!(!web.matches(Proto::Tcp, 443, a("198.51.100.16")));
    assert!(p.allow[1].matches(Proto::Icmp, 0, a("192.0.2.1")));
    // The default trap (TCP 139) stays: no rule covers it.
    assert!(p.trap_tcp.contains(139));
}

#[test]
fn dotted_keys_and_inline_tables_work_too() {
    let p = parse(&[
        r#"tcp.syn_limit = "5/h""#,
        r#"flypaper = { mode = "strict", allow = [{ proto = "udp", ports = 53 }] }"#,
    ]);
    assert_eq!(p.syn_limit, Limit::new(5, 3600, 60));
    assert!(p.strict);
    assert_eq!(p.allow[0].ports, (53, 53));
}

// ---------------------------------------------------------------------------
// Errors from the shape of the file: unknown keys, wrong types, syntax.

#[test]
fn unknown_key_names_its_line() {
    let e = assert_err(
        &["[tcp]", "syn_burst = 5", "syn_brust = 6"],
        3,
        "tcp.syn_brust",
        "unknown field `syn_brust`",
    );
    assert!(
        e.message().contains("`syn_burst`"),
        "lists the known keys: {e}"
    );
}

#[test]
fn unknown_section_names_its_line() {
    assert_err(
        &["[tcp]", "syn_burst = 5", "", "[firewall]", "x = 1"],
        4,
        "firewall",
        "unknown field `firewall`",
    );
    assert_err(
        &["[tcp.extra]", "x = 1"],
        1,
        "tcp.extra",
        "unknown field `extra`",
    );
}

#[test]
fn unknown_key_in_an_allow_rule_names_the_rule() {
    assert_err(
        &[
            "[[flypaper.allow]]",
            r#"proto = "tcp""#,
            "ports = 22",
            "[[flypaper.allow]]",
            r#"proto = "udp""#,
            "port = 53",
        ],
        6,
        "flypaper.allow[1].port",
        "unknown field `port`",
    );
}

#[test]
fn wrong_types_name_their_line() {
    assert_err(
        &["[tcp]", "", r#"syn_burst = "60""#],
        3,
        "tcp.syn_burst",
        "invalid type: string \"60\", expected an integer",
    );
    assert_err(
        &["[icmp]", "limit = 5"],
        2,
        "icmp.limit",
        "expected a string",
    );
    assert_err(
        &["[filter]", r#"drop_non_ip = "yes""#],
        2,
        "filter.drop_non_ip",
        "expected a boolean",
    );
    assert_err(
        &["[trap]", "tcp_ports = 139"],
        2,
        "trap.tcp_ports",
        "expected an array",
    );
    assert_err(
        &["[trap]", "tcp_ports = [139, true]"],
        2,
        "trap.tcp_ports",
        "expected a port number or an \"A-B\" port range string",
    );
    assert_err(
        &["[conntrack]", "syn_timeout_s = 1.5"],
        2,
        "conntrack.syn_timeout_s",
        "expected an integer",
    );
    assert_err(&["tcp = 5"], 1, "tcp", "expected a [tcp] table");
    assert_err(
        &["[[trap]]", "lockout_s = 5"],
        1,
        "trap",
        "invalid type: array, expected a [trap] table",
    );
    assert_err(
        &["[flypaper]", "allow = { proto = \"tcp\", ports = 22 }"],
        2,
        "flypaper.allow",
        "invalid type: table, expected an array",
    );
    // A date-time is no number (the key cannot be recovered, the line can).
    let e = parse_err(&["[trap]", "lockout_s = 2024-01-01"]);
    assert_eq!(e.line(), Some(2), "{e}");
    assert!(
        e.message()
            .contains("invalid type: date-time, expected an integer"),
        "{e}"
    );
    assert_err(
        &["[filter]", "lan = [", r#"  "10.0.0.0/8","#, "  10,", "]"],
        4,
        "filter.lan",
        "expected a string",
    );
}

#[test]
fn syntax_errors_and_duplicate_keys_name_their_line() {
    assert_err(
        &["[tcp]", "syn_burst = 5", "syn_burst = 6"],
        3,
        "tcp.syn_burst",
        "duplicate key",
    );
    // Broken TOML names the key its line (or multi-line value) belongs to.
    let e = assert_err(
        &["[tcp]", "syn_burst = 5", "rst_burst = "],
        3,
        "tcp.rst_burst",
        "",
    );
    assert!(!e.to_string().contains('\n'), "one line: {e}");
    assert_err(&["[tcp]", "syn_burst = -0x10"], 2, "tcp.syn_burst", "");
    assert_err(
        &["[trap]", "tcp_ports = [139,", "  140 140]"],
        3,
        "trap.tcp_ports",
        "",
    );
    assert_err(
        &["[filter]", "lan = []", "[filter]"],
        3,
        "filter",
        "duplicate key `filter`",
    );
    assert_err(
        &[
            "[[flypaper.allow]]",
            r#"proto = "icmp""#,
            "[[flypaper.allow]]",
            "proto = = 1",
        ],
        4,
        "flypaper.allow[1].proto",
        "",
    );
    // A line that belongs to no key names its table.
    assert_err(&["[tcp]", "syn_burst = 5", "what is this"], 3, "tcp", "");
    // A date-time where a number belongs.
    assert_err(
        &["[tcp]", "syn_burst = 1979-05-27"],
        2,
        "tcp.syn_burst",
        "invalid type: date-time, expected an integer",
    );
}

#[test]
fn integers_beyond_64_bits_name_their_key() {
    assert_err(
        &["[trap]", "lockout_s = 99999999999999999999999"],
        2,
        "trap.lockout_s",
        "`99999999999999999999999` is too large: TOML integers are 64-bit",
    );
    assert_err(
        &[
            "[trap]",
            "tcp_ports = [",
            "  139,",
            "  18446744073709551616,",
            "]",
        ],
        4,
        "trap.tcp_ports",
        "too large",
    );
    assert_err(
        &["[icmp]", "drop_types = [13, 9_999_999_999_999_999_999]"],
        2,
        "icmp.drop_types",
        "too large",
    );
    assert_err(
        &["[tables]", "flows = 1", "flies = 99999999999999999999"],
        3,
        "tables.flies",
        "too large",
    );
    assert_err(
        &[
            "[[flypaper.allow]]",
            r#"proto = "icmp""#,
            "[[flypaper.allow]]",
            r#"proto = "tcp""#,
            "ports = -99999999999999999999",
        ],
        5,
        "flypaper.allow[1].ports",
        "too small: TOML integers are 64-bit",
    );
    // Just inside 64 bits: the key's own range.
    assert_err(
        &["[trap]", "lockout_s = 9223372036854775807"],
        2,
        "trap.lockout_s",
        "out of range 1..=31536000",
    );
}

#[test]
fn deep_nesting_names_its_key() {
    let arrays = format!("lan = {}{}", "[".repeat(300), "]".repeat(300));
    assert_err(&["[filter]", &arrays], 2, "filter.lan", "nested too deeply");
    let tables = format!("syn_burst = {}1{}", "{a = ".repeat(300), "}".repeat(300));
    assert_err(
        &["[tcp]", "rst_burst = 2", &tables],
        3,
        "tcp.syn_burst",
        "nested too deeply",
    );
    let mixed = format!("dst = {}{}", "[{a = ".repeat(100), "}]".repeat(100));
    assert_err(
        &["[[flypaper.allow]]", r#"proto = "icmp""#, &mixed],
        3,
        "flypaper.allow[0].dst",
        "nested too deeply",
    );
}

// ---------------------------------------------------------------------------
// Errors from the meaning of values.

#[test]
fn out_of_range_port_matches_the_documented_message() {
    let mut lines = vec!["# comment"; 10];
    lines.push("[trap]");
    lines.push("tcp_ports = [139, 70000]");
    let e = parse_err(&lines);
    assert_eq!(
        e.to_string(),
        "flypaper.toml:12: `trap.tcp_ports`: port 70000 is out of range 0..=65535"
    );
}

#[test]
fn bad_ports_and_ranges() {
    assert_err(
        &["[trap]", "udp_ports = [-1]"],
        2,
        "trap.udp_ports",
        "port -1 is out of range 0..=65535",
    );
    assert_err(
        &[
            "[trap]",
            r#"tcp_ports = ["6000-6010","#,
            r#"  "6010-6000"]"#,
        ],
        3,
        "trap.tcp_ports",
        "range 6010-6000 is backwards",
    );
    assert_err(
        &["[trap]", r#"tcp_ports = ["6000-70000"]"#],
        2,
        "trap.tcp_ports",
        "port 70000 is out of range",
    );
    assert_err(
        &["[trap]", r#"tcp_ports = ["netbios"]"#],
        2,
        "trap.tcp_ports",
        "`netbios` is not a port",
    );
    assert_err(
        &[
            "[[flypaper.allow]]",
            r#"proto = "tcp""#,
            r#"ports = "443-80""#,
        ],
        3,
        "flypaper.allow[0].ports",
        "backwards",
    );
}

#[test]
fn bad_prefixes() {
    assert_err(
        &["[filter]", r#"lan = ["198.51.100.0/33"]"#],
        2,
        "filter.lan",
        "prefix length must be 0..=32",
    );
    assert_err(
        &[
            "[filter]",
            "never_block = [",
            r#"  "192.0.2.1","#,
            r#"  "gateway","#,
            "]",
        ],
        4,
        "filter.never_block",
        "`gateway` is not an address or prefix",
    );
    assert_err(
        &["[filter]", r#"bogus_dst_extra = ["2001:db8::/129"]"#],
        2,
        "filter.bogus_dst_extra",
        "0..=128",
    );
    // An IPv6 prefix over the IPv4-mapped block would match all IPv4.
    assert_err(
        &["[filter]", r#"bogon_src_extra = ["::/8"]"#],
        2,
        "filter.bogon_src_extra",
        "would match every IPv4 address",
    );
    assert_err(
        &[
            "[[flypaper.allow]]",
            r#"proto = "tcp""#,
            "ports = 22",
            r#"dst = ["198.51.100.300"]"#,
        ],
        4,
        "flypaper.allow[0].dst",
        "not an address",
    );
}

#[test]
fn prefixes_with_host_bits_are_refused_in_every_prefix_key() {
    for key in ["lan", "never_block", "bogon_src_extra", "bogus_dst_extra"] {
        let line = format!(r#"{key} = ["192.0.2.0/24", "198.51.100.5/24"]"#);
        assert_err(
            &["[filter]", "", &line],
            3,
            &format!("filter.{key}"),
            "`198.51.100.5/24` has host bits set after the prefix length; write the network \
             `198.51.100.0/24`, or `198.51.100.5` for the one host",
        );
        let line = format!(r#"{key} = ["2001:db8::1/32"]"#);
        assert_err(
            &["[filter]", &line],
            2,
            &format!("filter.{key}"),
            "write the network `2001:db8::/32`",
        );
    }
    assert_err(
        &[
            "[[flypaper.allow]]",
            r#"proto = "tcp""#,
            "ports = 22",
            r#"dst = ["198.51.100.11/31"]"#,
        ],
        4,
        "flypaper.allow[0].dst",
        "host bits set",
    );
    // Bare addresses are host prefixes, and networks written as networks pass.
    let p = parse(&[
        "[filter]",
        r#"lan = ["198.51.100.5", "198.51.100.0/24", "2001:db8::1", "2001:db8::/32"]"#,
        r#"never_block = ["198.51.100.7/32", "0.0.0.0/1"]"#,
    ]);
    assert_eq!(
        p.lan,
        prefixes(&[
            "198.51.100.5/32",
            "198.51.100.0/24",
            "2001:db8::1/128",
            "2001:db8::/32"
        ])
    );
    assert!(p.never_block.contains(a("198.51.100.7")));
}

#[test]
fn lan_or_never_block_covering_everything_is_refused() {
    for all in [
        "0.0.0.0/0",
        "::ffff:0:0/96",
        "::/0",
        "1.2.3.4/0",
        "2001:db8::/0",
    ] {
        let line = format!(r#"lan = ["198.51.100.0/25", "{all}"]"#);
        let e = assert_err(&["[filter]", &line], 2, "filter.lan", "covers every");
        assert!(e.message().contains("dropped as spoofed"), "{e}");
        let line = format!(r#"never_block = ["{all}"]"#);
        let e = assert_err(
            &["[filter]", "", &line],
            3,
            "filter.never_block",
            "covers every",
        );
        assert!(e.message().contains("could ever become a fly"), "{e}");
    }
    let e = assert_err(&["[filter]", r#"lan = ["::/0"]"#], 2, "filter.lan", "");
    assert!(e.message().contains("IPv6 and IPv4 alike"), "{e}");
}

#[test]
fn rates_allow_whitespace_around_the_value_and_the_slash_only() {
    for (section, key, burst) in [
        ("icmp", "limit", "burst"),
        ("tcp", "syn_limit", "syn_burst"),
        ("tcp", "rst_limit", "rst_burst"),
    ] {
        let want = Limit::new(60, 1, 7).unwrap();
        for rate in [
            " 60 / s ",
            "60/s ",
            "\\t60/s",
            "60 /s",
            "60/ s",
            "\\n60\\t/\\ts\\r\\n",
        ] {
            let header = format!("[{section}]");
            let line = format!(r#"{key} = "{rate}""#);
            let burst = format!("{burst} = 7");
            let p = parse(&[&header, &line, &burst]);
            let got = match key {
                "limit" => p.icmp_limit,
                "syn_limit" => p.syn_limit,
                _ => p.rst_limit,
            };
            assert_eq!(got, Some(want), "{section}.{key} = {rate:?}");
            let line = format!(r#"{key} = " off ""#);
            let p = parse(&[&header, &line]);
            let off = match key {
                "limit" => p.icmp_limit,
                "syn_limit" => p.syn_limit,
                _ => p.rst_limit,
            };
            assert_eq!(off, None, "{section}.{key} = \" off \"");
        }
        for (rate, why) in [
            ("6 0/s", "is not a rate"),
            ("60/m in", "unknown rate unit `m in`"),
            // (TOML's escape for a no-break space.)
            ("60/s\\u00a0", "unknown rate unit"),
            ("\\u00a060/s", "is not a rate"),
            ("o ff", "is not a rate"),
        ] {
            let header = format!("[{section}]");
            let line = format!(r#"{key} = "{rate}""#);
            assert_err(&[&header, &line], 2, &format!("{section}.{key}"), why);
        }
    }
}

#[test]
fn bad_rates_and_bursts() {
    assert_err(
        &["[icmp]", r#"limit = "1/day""#],
        2,
        "icmp.limit",
        "unknown rate unit `day`",
    );
    assert_err(
        &["[tcp]", r#"syn_limit = "0/s""#],
        2,
        "tcp.syn_limit",
        "is zero; write \"off\"",
    );
    assert_err(
        &["[tcp]", r#"rst_limit = "4294967296/s""#],
        2,
        "tcp.rst_limit",
        "too large",
    );
    assert_err(
        &["[tcp]", r#"syn_limit = "2000000000/s""#],
        2,
        "tcp.syn_limit",
        "faster than one packet per nanosecond",
    );
    assert_err(
        &["[tcp]", "syn_burst = 0"],
        2,
        "tcp.syn_burst",
        "0 is out of range 1..=4294967295",
    );
    assert_err(
        &["[icmp]", r#"limit = "off""#, "burst = -3"],
        3,
        "icmp.burst",
        "out of range",
    );
    assert_err(
        &["[icmp]", r#"limit = "1/h""#, "burst = 4000000000"],
        3,
        "icmp.burst",
        "deeper than 2^64 ns",
    );
}

#[test]
fn bad_icmp_types() {
    assert_err(
        &["[icmp]", "drop_types = [13, 256]"],
        2,
        "icmp.drop_types",
        "256 is out of range 0..=255",
    );
    assert_err(
        &["[icmp]", "drop_types_v6 = [128,", "  135]"],
        3,
        "icmp.drop_types_v6",
        "neighbour discovery",
    );
    // The same numbers are fine for ICMPv4.
    let p = parse(&["[icmp]", "drop_types = [133, 137]"]);
    assert_eq!(p.icmp_drop, types(&[133, 137]));
}

#[test]
fn bad_numbers_out_of_range() {
    assert_err(
        &["[tcp]", "rst_delay_ms = 10001"],
        2,
        "tcp.rst_delay_ms",
        "10001 is out of range 0..=10000",
    );
    assert_err(
        &["[trap]", "lockout_s = 0"],
        2,
        "trap.lockout_s",
        "0 is out of range 1..=31536000",
    );
    assert_err(
        &["[trap]", "lockout_s = 31536001"],
        2,
        "trap.lockout_s",
        "out of range",
    );
    for key in [
        "syn_timeout_s",
        "established_timeout_s",
        "close_timeout_s",
        "udp_timeout_s",
        "udp_stream_timeout_s",
    ] {
        let line = format!("{key} = 0");
        assert_err(
            &["[conntrack]", "", &line],
            3,
            &format!("conntrack.{key}"),
            "0 is out of range 1..=",
        );
        // The flow table holds expiries up to 50 days ahead.
        let line = format!("{key} = 4320001");
        assert_err(
            &["[conntrack]", &line],
            2,
            &format!("conntrack.{key}"),
            "4320001 is out of range 1..=4320000",
        );
    }
    for (key, bad) in [
        ("sources", "63"),
        ("flows", "16777217"),
        ("flies", "0"),
        ("rst_queue", "0"),
        ("rst_queue", "1048577"),
    ] {
        let line = format!("{key} = {bad}");
        assert_err(
            &["[tables]", &line],
            2,
            &format!("tables.{key}"),
            "out of range",
        );
    }
}

#[test]
fn bad_choices() {
    assert_err(
        &["[flypaper]", r#"mode = "on""#],
        2,
        "flypaper.mode",
        "unknown value `on`; expected \"off\" or \"strict\"",
    );
    assert_err(
        &["[conntrack]", r#"pickup = "wan""#],
        2,
        "conntrack.pickup",
        "expected \"none\", \"lan\" or \"both\"",
    );
    assert_err(
        &["[[flypaper.allow]]", r#"proto = "sctpx""#, "ports = 1"],
        2,
        "flypaper.allow[0].proto",
        "unknown protocol `sctpx`; expected \"tcp\", \"udp\", \"icmp\"",
    );
    assert_err(
        &["[[flypaper.allow]]", r#"proto = "256""#],
        2,
        "flypaper.allow[0].proto",
        "or a protocol number 0..=255",
    );
    // Protocols without ports take none.
    assert_err(
        &["[[flypaper.allow]]", r#"proto = "sctp""#, "ports = 1"],
        3,
        "flypaper.allow[0].ports",
        "a rule for IP protocol 132 takes no ports",
    );
    assert_err(
        &["[filter]", r#"tunnels = "peek""#],
        2,
        "filter.tunnels",
        "expected \"inspect\", \"drop\" or \"pass\"",
    );
    assert_err(
        &["[filter]", r#"mpls = "maybe""#],
        2,
        "filter.mpls",
        "expected \"drop\" or \"pass\"",
    );
    assert_err(
        &["[filter]", r#"mode = "dry-run""#],
        2,
        "filter.mode",
        "expected \"enforce\" or \"monitor\"",
    );
    assert_err(
        &["[tcp]", r#"syn_mode = "recent""#],
        2,
        "tcp.syn_mode",
        "expected \"window\" or \"bucket\"",
    );
}

#[test]
fn incomplete_allow_rules() {
    assert_err(
        &[
            "[[flypaper.allow]]",
            r#"proto = "icmp""#,
            "",
            "[[flypaper.allow]]",
            "ports = 22",
        ],
        4,
        "flypaper.allow[1]",
        "missing `proto`",
    );
    assert_err(
        &["[[flypaper.allow]]", r#"proto = "udp""#],
        1,
        "flypaper.allow[0]",
        "a UDP rule needs `ports`",
    );
    assert_err(
        &["[[flypaper.allow]]", r#"proto = "icmp""#, "ports = 8"],
        3,
        "flypaper.allow[0].ports",
        "ICMP rules take no ports",
    );
}

#[test]
fn strict_mode_without_allow_rules_is_refused() {
    assert_err(
        &["[flypaper]", "", r#"mode = "strict""#],
        3,
        "flypaper.allow",
        "every inbound source would become a fly",
    );
    assert_err(
        &["[flypaper]", r#"mode = "strict""#, "allow = []"],
        2,
        "flypaper.allow",
        "at least one",
    );
    // Rules without strict mode are fine (they are just not used).
    let p = parse(&["[[flypaper.allow]]", r#"proto = "icmp""#]);
    assert!(!p.strict && p.allow.len() == 1);
}

#[test]
fn trap_port_that_is_also_allowed_is_a_contradiction() {
    assert_err(
        &[
            "[trap]",
            r#"tcp_ports = [139, "20-25"]"#,
            "[flypaper]",
            r#"mode = "strict""#,
            "[[flypaper.allow]]",
            r#"proto = "tcp""#,
            "ports = 22",
        ],
        2,
        "trap.tcp_ports",
        "TCP port 22 is a trap but flypaper.allow[0] (line 5) allows it",
    );
    assert_err(
        &[
            "[[flypaper.allow]]",
            r#"proto = "udp""#,
            r#"ports = "100-200""#,
            "[trap]",
            "udp_ports = [",
            "  53,",
            r#"  "150-160","#,
            "]",
        ],
        7,
        "trap.udp_ports",
        "UDP port 150 is a trap but flypaper.allow[0] (line 1)",
    );
    // The default trap (TCP 139) against a rule: the rule is named.
    assert_err(
        &[
            "[[flypaper.allow]]",
            r#"proto = "tcp""#,
            r#"ports = "1-1024""#,
        ],
        3,
        "flypaper.allow[0].ports",
        "TCP port 139 is a trap by default",
    );
    // Same port, other protocol: no contradiction.
    let p = parse(&[
        "[trap]",
        "udp_ports = [22]",
        "[[flypaper.allow]]",
        r#"proto = "tcp""#,
        "ports = 22",
    ]);
    assert!(p.trap_udp.contains(22) && p.allow[0].ports == (22, 22));
}

// ---------------------------------------------------------------------------
// The file is taken as a whole.

#[test]
fn nothing_is_half_applied() {
    let good_then_bad = [
        "[tcp]",
        r#"syn_limit = "5/s""#,
        "syn_burst = 5",
        "",
        "[trap]",
        "tcp_ports = [70000]",
    ];
    let e = assert_err(&good_then_bad, 6, "trap.tcp_ports", "port 70000");
    // The error is all there is: no policy, not even a partial one.
    let text = file(&good_then_bad);
    assert!(config::parse_str(&text, None).is_err());
    assert!(e.to_string().ends_with("out of range 0..=65535"));

    let bad_then_good = [
        "[icmp]",
        "burst = 0",
        "",
        "[filter]",
        r#"lan = ["198.51.100.0/24"]"#,
    ];
    assert_err(&bad_then_good, 2, "icmp.burst", "out of range");
    // A shape error late in the file rejects the good sections before it.
    assert_err(
        &["[tcp]", "syn_burst = 5", "[tables]", "size = 1"],
        4,
        "tables.size",
        "unknown field",
    );
}

#[test]
fn the_first_error_in_the_file_is_reported() {
    // Validation runs section by section; the report is the topmost problem.
    assert_err(
        &["[tables]", "flows = 1", "[filter]", r#"lan = ["nope"]"#],
        2,
        "tables.flows",
        "out of range",
    );
}

// ---------------------------------------------------------------------------
// Files and messages.

fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "flypaper-config-test-{}-{name}",
        std::process::id()
    ))
}

#[test]
fn load_file_reads_and_names_the_file() {
    let path = temp_path("good.toml");
    std::fs::write(&path, "[trap]\nlockout_s = 60\n").unwrap();
    let p = config::load_file(&path).unwrap();
    assert_eq!(p.lockout, Nanos::from_secs(60));

    std::fs::write(&path, "[trap]\n\nlockout_s = 0\n").unwrap();
    let e = config::load_file(&path).unwrap_err();
    let name = path.display().to_string();
    assert_eq!(e.file(), Some(name.as_str()));
    assert_eq!(
        e.to_string(),
        format!("{name}:3: `trap.lockout_s`: 0 is out of range 1..=31536000")
    );
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn unreadable_file_is_a_config_error() {
    let path = temp_path("missing.toml");
    let e = config::load_file(&path).unwrap_err();
    assert_eq!(e.file(), Some(path.display().to_string().as_str()));
    assert_eq!((e.line(), e.key()), (None, None));
    assert!(e.to_string().contains("cannot read the config"), "{e}");
    let _: &dyn std::error::Error = &e;
}

#[test]
fn display_leaves_out_what_is_unknown() {
    let e = config::parse_str("[tcp]\nsyn_burst = 0\n", None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 2: `tcp.syn_burst`: 0 is out of range 1..=4294967295"
    );
}

/// An allow rule may name an IP protocol by a bare TOML number
/// (`proto = 115`), as well as by name or by a number in a string.
#[test]
fn allow_rule_takes_a_bare_protocol_number() {
    let rule = |proto: &str| {
        parse(&[
            "[flypaper]",
            r#"mode = "strict""#,
            "[[flypaper.allow]]",
            &format!("proto = {proto}"),
        ])
    };
    assert_same(&rule("115"), &rule(r#""115""#));
    assert_same(&rule("50"), &rule(r#""esp""#));
}

//! The TOML policy, validated as a whole into a [`Policy`].
//!
//! A config file is read in two steps, and only a file that passes both
//! becomes a policy: nothing is ever half-applied.
//!
//! 1. **Shape.** The text is deserialized into a private mirror of the schema
//!    with `deny_unknown_fields` everywhere, so an unknown section, an unknown
//!    key or a value of the wrong type is an error that names its line and
//!    key. Text that is not TOML at all (a syntax error, an integer beyond
//!    64 bits, nesting beyond the parser's recursion limit) names its line
//!    and the key read off the lines around it.
//! 2. **Meaning.** Every value is then checked (prefixes parse, ports and
//!    sizes are in range, rates make a usable token bucket, strict mode has
//!    allow rules, no port is both a trap and an allowed service). Values are
//!    kept as [`toml::Spanned`] so these errors name their line too. All
//!    problems are collected and the one nearest the top of the file is
//!    reported, so an operator can fix a file from the top down.
//!
//! Every key is optional; a missing key keeps its value from
//! [`Policy::default()`], the seed rule set, and an empty file *is* the seed.
//! [`DEFAULT_TOML`] is that default spelled out with a comment on every key,
//! and doubles as the config reference (`appliance/flypaper.toml`).

use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;
use std::path::Path;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use toml::Spanned;

use crate::filter::policy::{
    AllowRule, Limit, Mode, Pickup, PortSet, Prefix, PrefixSet, Proof, Proto, SynMode, TunnelMode,
};
use crate::filter::{Nanos, Policy};
use crate::wire::IpProtocol;

/// The default config, with a comment on every key. Parsing it gives
/// `Policy::default()`.
pub const DEFAULT_TOML: &str = include_str!("../appliance/flypaper.toml");

/// Why a config was rejected: where (file, line), which key, and what is wrong.
///
/// Displays as `FILE:LINE: `key.path`: message`, leaving out what is unknown
/// (`line 12: ...` when there is no file name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    file: Option<String>,
    line: Option<usize>,
    key: Option<String>,
    message: String,
}

impl ConfigError {
    /// The file name, when the config came from a file.
    pub fn file(&self) -> Option<&str> {
        self.file.as_deref()
    }

    /// The 1-based line the problem is on, when known.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// The dotted key path (`tcp.syn_limit`, `flypaper.allow[1].ports`), when known.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// What is wrong, without the location.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{file}:{line}: ")?,
            (Some(file), None) => write!(f, "{file}: ")?,
            (None, Some(line)) => write!(f, "line {line}: ")?,
            (None, None) => {}
        }
        if let Some(key) = &self.key {
            write!(f, "`{key}`: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Parse and validate a whole config. `file` is only used in error messages.
/// An empty text gives `Policy::default()`.
pub fn parse_str(text: &str, file: Option<&str>) -> Result<Policy, ConfigError> {
    let raw: Raw = toml::from_str(text).map_err(|e| shape_error(text, file, &e))?;
    let mut cx = Ctx {
        text,
        file,
        errs: Vec::new(),
    };
    let policy = compile(&raw, &mut cx);
    match cx.errs.into_iter().min_by_key(|(offset, _)| *offset) {
        Some((_, e)) => Err(e),
        None => Ok(policy),
    }
}

/// Read, parse and validate a config file. A file that cannot be read is a
/// `ConfigError` too.
pub fn load_file(path: &Path) -> Result<Policy, ConfigError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: Some(name.clone()),
        line: None,
        key: None,
        message: format!("cannot read the config: {e}"),
    })?;
    parse_str(&text, Some(&name))
}

// ---------------------------------------------------------------------------
// The schema as written in the file.

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default, expecting = "a flypaper config")]
struct Raw {
    filter: Table<RawFilter>,
    icmp: Table<RawIcmp>,
    tcp: Table<RawTcp>,
    trap: Table<RawTrap>,
    flypaper: Table<RawFlypaper>,
    conntrack: Table<RawConntrack>,
    tables: Table<RawTables>,
}

type Strings = Option<List<Spanned<String>>>;
type Number = Option<Spanned<Int>>;
type Text = Option<Spanned<String>>;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawFilter {
    drop_non_ip: Option<bool>,
    lan: Strings,
    never_block: Strings,
    builtin_bogons: Option<bool>,
    bogon_src_extra: Strings,
    bogus_dst_extra: Strings,
    tunnels: Text,
    mpls: Text,
    mode: Text,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawIcmp {
    drop_types: Option<List<Spanned<Int>>>,
    drop_types_v6: Option<List<Spanned<Int>>>,
    limit: Text,
    burst: Number,
    nd_limit: Text,
    nd_burst: Number,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawTcp {
    syn_limit: Text,
    syn_burst: Number,
    syn_mode: Text,
    rst_limit: Text,
    rst_burst: Number,
    rst_delay_ms: Number,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawTrap {
    tcp_ports: Option<List<Spanned<PortSpec>>>,
    udp_ports: Option<List<Spanned<PortSpec>>>,
    lockout_s: Number,
    proof: Text,
    unproven_lockout_s: Number,
    prefix_v4: Number,
    prefix_v6: Number,
    vouch_s: Number,
    synack_limit: Text,
    synack_burst: Number,
    synack_global: Text,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawFlypaper {
    mode: Text,
    allow: Option<List<Spanned<Table<RawAllow>>>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawAllow {
    proto: Option<Spanned<ProtoSpec>>,
    ports: Option<Spanned<PortSpec>>,
    dst: Strings,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawConntrack {
    pickup: Text,
    syn_timeout_s: Number,
    established_timeout_s: Number,
    close_timeout_s: Number,
    udp_timeout_s: Number,
    udp_stream_timeout_s: Number,
    fragment_timeout_s: Number,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawTables {
    sources: Number,
    flows: Number,
    flies: Number,
    rst_queue: Number,
    rst_share: Number,
    trust: Number,
    fragments: Number,
}

/// What a table is called in "expected ..." messages.
trait Described {
    const WHAT: &'static str;
}

macro_rules! described {
    ($($t:ty => $what:literal,)*) => {
        $(impl Described for $t {
            const WHAT: &'static str = $what;
        })*
    };
}

described! {
    RawFilter => "a [filter] table",
    RawIcmp => "an [icmp] table",
    RawTcp => "a [tcp] table",
    RawTrap => "a [trap] table",
    RawFlypaper => "a [flypaper] table",
    RawAllow => "an allow rule table",
    RawConntrack => "a [conntrack] table",
    RawTables => "a [tables] table",
}

/// A table and only a table: serde's derived structs would also take an
/// array (`[[tcp]]`) and fill the fields by position.
#[derive(Default)]
struct Table<T>(T);

impl<'de, T: Deserialize<'de> + Described> Deserialize<'de> for Table<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Table<T>, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de> + Described> Visitor<'de> for V<T> {
            type Value = Table<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(T::WHAT)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Table<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map)).map(Table)
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

/// A TOML integer, range-checked later (so the error can say what the range is).
struct Int(i64);

impl<'de> Deserialize<'de> for Int {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Int, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Int;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int, E> {
                Ok(Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int, E> {
                i64::try_from(v)
                    .map(Int)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
        }
        d.deserialize_i64(V)
    }
}

/// A TOML array (its own type so that the error says "expected an array").
struct List<T>(Vec<T>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<List<T>, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = List<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<List<T>, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(List(items))
            }
        }
        d.deserialize_seq(V(PhantomData))
    }
}

/// A TOML value that may be written as a number or as a string (checked
/// later): a deserializer that takes either.
macro_rules! num_or_text {
    ($(#[$doc:meta])* $name:ident, $expecting:literal) => {
        $(#[$doc])*
        enum $name {
            Num(i64),
            Text(String),
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                struct V;
                impl Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str($expecting)
                    }
                    fn visit_i64<E: de::Error>(self, v: i64) -> Result<$name, E> {
                        Ok($name::Num(v))
                    }
                    fn visit_u64<E: de::Error>(self, v: u64) -> Result<$name, E> {
                        Ok($name::Num(i64::try_from(v).unwrap_or(i64::MAX)))
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<$name, E> {
                        Ok($name::Text(v.to_owned()))
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

num_or_text!(
    /// A port as written: `139` or `"6000-6010"` (checked later).
    PortSpec,
    "a port number or an \"A-B\" port range string"
);

num_or_text!(
    /// An allow rule's protocol as written: `"gre"` or `47`.
    ProtoSpec,
    "a protocol name or number"
);

// ---------------------------------------------------------------------------
// Validation and compilation.

const PORT_RANGE: &str = "0..=65535";
/// Upper bound for lockouts: one year.
const MAX_SECS: i64 = 31_536_000;
/// Upper bound for conntrack timeouts: what the IPv4 flow table's expiry
/// field holds (50 days).
const MAX_FLOW_SECS: i64 = crate::filter::flows::MAX_TIMEOUT.as_secs() as i64;
const MAX_TABLE: i64 = 1 << 24;
const ND_TYPES: std::ops::RangeInclusive<i64> = 133..=137;

/// Collects every semantic error with its byte offset.
struct Ctx<'a> {
    text: &'a str,
    file: Option<&'a str>,
    errs: Vec<(usize, ConfigError)>,
}

impl Ctx<'_> {
    fn err(&mut self, key: &str, span: Range<usize>, message: String) {
        let e = ConfigError {
            file: self.file.map(str::to_owned),
            line: Some(line_of(self.text, span.start)),
            key: Some(key.to_owned()),
            message,
        };
        self.errs.push((span.start, e));
    }

    /// An integer in `lo..=hi`; `None` (error recorded) otherwise.
    fn int(&mut self, key: &str, v: &Spanned<Int>, lo: i64, hi: i64) -> Option<i64> {
        let n = v.get_ref().0;
        if (lo..=hi).contains(&n) {
            Some(n)
        } else {
            self.err(key, v.span(), format!("{n} is out of range {lo}..={hi}"));
            None
        }
    }

    /// An optional integer in `lo..=hi`, or `default` when absent or invalid.
    fn int_or(&mut self, key: &str, v: &Number, lo: i64, hi: i64, default: i64) -> i64 {
        v.as_ref()
            .and_then(|v| self.int(key, v, lo, hi))
            .unwrap_or(default)
    }

    /// A list of prefixes; `None` when the key is absent. With `everything`,
    /// a prefix of length 0 (all of IPv4 or of IPv6) is refused, and
    /// `everything` says what it would do.
    fn prefixes(
        &mut self,
        key: &str,
        list: &Strings,
        everything: Option<&str>,
    ) -> Option<Vec<Prefix>> {
        let list = list.as_ref()?;
        let mut out = Vec::with_capacity(list.0.len());
        for s in &list.0 {
            match parse_prefix(s.get_ref(), everything) {
                Ok(p) => out.push(p),
                Err(m) => self.err(key, s.span(), m),
            }
        }
        Some(out)
    }

    /// A port or port range.
    fn port_spec(&mut self, key: &str, v: &Spanned<PortSpec>) -> Option<(u16, u16)> {
        let r = match v.get_ref() {
            PortSpec::Num(n) => port_number(*n).map(|p| (p, p)),
            PortSpec::Text(s) => parse_port_range(s),
        };
        r.map_err(|m| self.err(key, v.span(), m)).ok()
    }

    /// A list of ports and ranges, each with its span; `None` when absent.
    fn port_list(
        &mut self,
        key: &str,
        list: &Option<List<Spanned<PortSpec>>>,
    ) -> Option<Vec<(u16, u16, Range<usize>)>> {
        let list = list.as_ref()?;
        Some(
            list.0
                .iter()
                .filter_map(|v| self.port_spec(key, v).map(|(a, b)| (a, b, v.span())))
                .collect(),
        )
    }

    /// ICMP types to drop; `None` when absent. `v6` forbids neighbour discovery.
    fn icmp_types(
        &mut self,
        key: &str,
        list: &Option<List<Spanned<Int>>>,
        v6: bool,
    ) -> Option<[bool; 256]> {
        let list = list.as_ref()?;
        let mut map = [false; 256];
        for v in &list.0 {
            let Some(t) = self.int(key, v, 0, 255) else {
                continue;
            };
            if v6 && ND_TYPES.contains(&t) {
                self.err(
                    key,
                    v.span(),
                    format!(
                        "type {t} is neighbour discovery (133..=137), which always passes: \
                         IPv6 cannot work without it"
                    ),
                );
                continue;
            }
            map[t as usize] = true;
        }
        Some(map)
    }

    /// A rate limit from a rate key and a burst key. Either may be absent and
    /// then keeps its part of `default`.
    fn limit(
        &mut self,
        section: &str,
        (rate_key, rate): (&str, &Text),
        (burst_key, burst): (&str, &Number),
        default: Option<Limit>,
    ) -> Option<Limit> {
        let rate_path = format!("{section}.{rate_key}");
        let burst_path = format!("{section}.{burst_key}");
        // Check both keys before giving up, so each error is reported.
        let r = match rate {
            None => Ok(default.map(|l| (l.rate, l.per_secs))),
            Some(s) => parse_rate(s.get_ref()).map_err(|m| self.err(&rate_path, s.span(), m)),
        };
        let b = match burst {
            None => Ok(default.map_or(1, |l| l.burst)),
            Some(b) => self
                .int(&burst_path, b, 1, i64::from(u32::MAX))
                .map(|b| b as u32)
                .ok_or(()),
        };
        let (Ok(r), Ok(b)) = (r, b) else {
            return default;
        };
        let (n, per) = r?;
        if let Some(l) = Limit::new(n, per, b) {
            return Some(l);
        }
        let shown = rate.as_ref().map_or_else(
            || format!("{n}/{}", unit_name(per)),
            |s| rate_trim(s.get_ref()).to_owned(),
        );
        if u64::from(per) * 1_000_000_000 / u64::from(n) == 0 {
            let span = rate.as_ref().map_or(0..0, |s| s.span());
            self.err(
                &rate_path,
                span,
                format!("{shown} is faster than one packet per nanosecond"),
            );
        } else {
            // The bucket overflows: name the burst (or the rate, if the
            // burst is not in the file).
            let span = burst
                .as_ref()
                .map_or_else(|| rate.as_ref().map_or(0..0, |s| s.span()), |b| b.span());
            self.err(
                &burst_path,
                span,
                format!("burst {b} at {shown} makes a token bucket deeper than 2^64 ns"),
            );
        }
        default
    }

    /// An optional enumerated key: its value, or `current` when the key is
    /// absent or its value is not one of `options` (error recorded).
    fn choice_or<T: Copy>(&mut self, key: &str, v: &Text, options: &[(&str, T)], current: T) -> T {
        v.as_ref()
            .and_then(|v| self.choice(key, v, options))
            .unwrap_or(current)
    }

    /// An enumerated string value; `None` (error recorded) when not one of `options`.
    fn choice<T: Copy>(
        &mut self,
        key: &str,
        v: &Spanned<String>,
        options: &[(&str, T)],
    ) -> Option<T> {
        let s = v.get_ref();
        if let Some((_, t)) = options.iter().find(|(name, _)| *name == s) {
            return Some(*t);
        }
        let names: Vec<String> = options.iter().map(|(n, _)| format!("\"{n}\"")).collect();
        self.err(
            key,
            v.span(),
            format!("unknown value `{s}`; expected {}", or_list(&names)),
        );
        None
    }

    /// A duration in whole seconds, `1..=max`.
    fn secs(&mut self, key: &str, v: &Number, max: i64, default: Nanos) -> Nanos {
        Nanos::from_secs(self.int_or(key, v, 1, max, default.as_secs() as i64) as u64)
    }

    fn table(&mut self, key: &str, v: &Number, lo: i64, hi: i64, default: usize) -> usize {
        self.int_or(key, v, lo, hi, default as i64) as usize
    }
}

/// An allow rule with where it came from, for error messages.
struct PlacedRule {
    rule: AllowRule,
    index: usize,
    line: usize,
    /// Where `ports` is written (the rule itself for ICMP).
    ports_span: Range<usize>,
}

fn compile(raw: &Raw, cx: &mut Ctx<'_>) -> Policy {
    let mut p = Policy::default();

    // [filter]
    let f = &raw.filter.0;
    if let Some(b) = f.drop_non_ip {
        p.drop_non_ip = b;
    }
    let lan_all = "every frame entering from the WAN would carry a LAN source and be dropped \
                   as spoofed; list only the protected network's own prefixes";
    if let Some(v) = cx.prefixes("filter.lan", &f.lan, Some(lan_all)) {
        p.lan = PrefixSet(v);
    }
    let never_all = "no source could ever become a fly: traps and strict mode would lock \
                     nobody out; list only the hosts that must stay reachable";
    if let Some(v) = cx.prefixes("filter.never_block", &f.never_block, Some(never_all)) {
        p.never_block = PrefixSet(v);
    }
    if f.builtin_bogons == Some(false) {
        p.bogon_src.0.clear();
        p.bogus_dst.0.clear();
    }
    if let Some(v) = cx.prefixes("filter.bogon_src_extra", &f.bogon_src_extra, None) {
        p.bogon_src.0.extend(v);
    }
    if let Some(v) = cx.prefixes("filter.bogus_dst_extra", &f.bogus_dst_extra, None) {
        p.bogus_dst.0.extend(v);
    }
    let tunnels = [
        ("inspect", TunnelMode::Inspect),
        ("drop", TunnelMode::Drop),
        ("pass", TunnelMode::Pass),
    ];
    p.tunnels = cx.choice_or("filter.tunnels", &f.tunnels, &tunnels, p.tunnels);
    let mpls = [("drop", true), ("pass", false)];
    p.mpls_drop_non_ip = cx.choice_or("filter.mpls", &f.mpls, &mpls, p.mpls_drop_non_ip);
    let modes = [("enforce", Mode::Enforce), ("monitor", Mode::Monitor)];
    p.mode = cx.choice_or("filter.mode", &f.mode, &modes, p.mode);

    // [icmp]
    let i = &raw.icmp.0;
    if let Some(m) = cx.icmp_types("icmp.drop_types", &i.drop_types, false) {
        p.icmp_drop = m;
    }
    if let Some(m) = cx.icmp_types("icmp.drop_types_v6", &i.drop_types_v6, true) {
        p.icmpv6_drop = m;
    }
    p.icmp_limit = cx.limit(
        "icmp",
        ("limit", &i.limit),
        ("burst", &i.burst),
        p.icmp_limit,
    );
    p.nd_limit = cx.limit(
        "icmp",
        ("nd_limit", &i.nd_limit),
        ("nd_burst", &i.nd_burst),
        p.nd_limit,
    );

    // [tcp]
    let t = &raw.tcp.0;
    p.syn_limit = cx.limit(
        "tcp",
        ("syn_limit", &t.syn_limit),
        ("syn_burst", &t.syn_burst),
        p.syn_limit,
    );
    let syn_modes = [("window", SynMode::Window), ("bucket", SynMode::Bucket)];
    p.syn_mode = cx.choice_or("tcp.syn_mode", &t.syn_mode, &syn_modes, p.syn_mode);
    p.rst_limit = cx.limit(
        "tcp",
        ("rst_limit", &t.rst_limit),
        ("rst_burst", &t.rst_burst),
        p.rst_limit,
    );
    let delay_ms = p.rst_delay.0 / 1_000_000;
    p.rst_delay = Nanos::from_millis(cx.int_or(
        "tcp.rst_delay_ms",
        &t.rst_delay_ms,
        0,
        10_000,
        delay_ms as i64,
    ) as u64);

    // [trap]
    let tr = &raw.trap.0;
    let trap_tcp = cx.port_list("trap.tcp_ports", &tr.tcp_ports);
    let trap_udp = cx.port_list("trap.udp_ports", &tr.udp_ports);
    if let Some(v) = &trap_tcp {
        p.trap_tcp = port_set(v);
    }
    if let Some(v) = &trap_udp {
        p.trap_udp = port_set(v);
    }
    p.lockout = cx.secs("trap.lockout_s", &tr.lockout_s, MAX_SECS, p.lockout);
    let proofs = [("none", Proof::None), ("handshake", Proof::Handshake)];
    p.proof = cx.choice_or("trap.proof", &tr.proof, &proofs, p.proof);
    p.unproven_lockout = cx.secs(
        "trap.unproven_lockout_s",
        &tr.unproven_lockout_s,
        MAX_SECS,
        p.unproven_lockout,
    );
    p.fly_prefix.v4 = cx.int_or("trap.prefix_v4", &tr.prefix_v4, 8, 32, 32) as u8;
    p.fly_prefix.v6 = cx.int_or("trap.prefix_v6", &tr.prefix_v6, 32, 128, 64) as u8;
    p.vouch_secs = cx.int_or(
        "trap.vouch_s",
        &tr.vouch_s,
        0,
        604_800,
        i64::from(p.vouch_secs),
    ) as u32;
    p.synack_limit = cx.limit(
        "trap",
        ("synack_limit", &tr.synack_limit),
        ("synack_burst", &tr.synack_burst),
        p.synack_limit,
    );
    // The global limit's burst is one second's worth of its rate.
    p.synack_global = cx
        .limit(
            "trap",
            ("synack_global", &tr.synack_global),
            ("synack_global", &None),
            p.synack_global,
        )
        .and_then(|l| Limit::new(l.rate, l.per_secs, l.rate.div_ceil(l.per_secs).max(1)));

    // [flypaper]
    let fp = &raw.flypaper.0;
    if let Some(m) = &fp.mode {
        if let Some(strict) = cx.choice("flypaper.mode", m, &[("off", false), ("strict", true)]) {
            p.strict = strict;
            let rules = fp.allow.as_ref().map_or(0, |a| a.0.len());
            if strict && rules == 0 {
                cx.err(
                    "flypaper.allow",
                    m.span(),
                    "strict mode needs at least one [[flypaper.allow]] rule: without one, \
                     every inbound source would become a fly"
                        .to_owned(),
                );
            }
        }
    }
    let mut rules = Vec::new();
    for (index, a) in fp.allow.iter().flat_map(|l| l.0.iter()).enumerate() {
        if let Some(rule) = allow_rule(cx, index, a) {
            rules.push(PlacedRule {
                rule,
                index,
                line: line_of(cx.text, a.span().start),
                ports_span: a.get_ref().0.ports.as_ref().map_or(a.span(), |p| p.span()),
            });
        }
    }
    // A trap on an allowed service would make every legitimate client a fly.
    for (key, proto, traps, set) in [
        ("trap.tcp_ports", Proto::Tcp, &trap_tcp, &p.trap_tcp),
        ("trap.udp_ports", Proto::Udp, &trap_udp, &p.trap_udp),
    ] {
        for r in rules.iter().filter(|r| r.rule.proto == proto) {
            let (a, b) = r.rule.ports;
            match traps {
                // Trap ports written in the file: name the trap entry.
                Some(traps) => {
                    for (lo, hi, span) in traps {
                        if a.max(*lo) <= b.min(*hi) {
                            cx.err(
                                key,
                                span.clone(),
                                format!(
                                    "{} port {} is a trap but flypaper.allow[{}] (line {}) \
                                     allows it; a port cannot be both",
                                    proto.as_str(),
                                    a.max(*lo),
                                    r.index,
                                    r.line
                                ),
                            );
                        }
                    }
                }
                // Default trap ports: name the rule.
                None => {
                    if let Some(port) = (a..=b).find(|port| set.contains(*port)) {
                        cx.err(
                            &format!("flypaper.allow[{}].ports", r.index),
                            r.ports_span.clone(),
                            format!(
                                "{} port {port} is a trap by default (`{key}`); a port cannot be \
                                 both a trap and allowed: set `{key}` without it or narrow this \
                                 rule",
                                proto.as_str()
                            ),
                        );
                    }
                }
            }
        }
    }
    p.allow = rules.into_iter().map(|r| r.rule).collect();

    // [conntrack]
    let c = &raw.conntrack.0;
    let ct = &mut p.conntrack;
    let pickups = [
        ("none", Pickup::None),
        ("lan", Pickup::Lan),
        ("both", Pickup::Both),
    ];
    ct.pickup = cx.choice_or("conntrack.pickup", &c.pickup, &pickups, ct.pickup);
    // Conntrack timeouts are capped at what an IPv4 flow's expiry word holds.
    let mut timeout = |key: &str, v: &Number, d: Nanos| cx.secs(key, v, MAX_FLOW_SECS, d);
    ct.syn_timeout = timeout("conntrack.syn_timeout_s", &c.syn_timeout_s, ct.syn_timeout);
    ct.established_timeout = timeout(
        "conntrack.established_timeout_s",
        &c.established_timeout_s,
        ct.established_timeout,
    );
    ct.close_timeout = timeout(
        "conntrack.close_timeout_s",
        &c.close_timeout_s,
        ct.close_timeout,
    );
    ct.udp_timeout = timeout("conntrack.udp_timeout_s", &c.udp_timeout_s, ct.udp_timeout);
    ct.udp_stream_timeout = timeout(
        "conntrack.udp_stream_timeout_s",
        &c.udp_stream_timeout_s,
        ct.udp_stream_timeout,
    );
    ct.fragment_timeout = cx.secs(
        "conntrack.fragment_timeout_s",
        &c.fragment_timeout_s,
        120,
        ct.fragment_timeout,
    );

    // [tables]
    let tb = &raw.tables.0;
    let ts = &mut p.tables;
    ts.sources = cx.table("tables.sources", &tb.sources, 64, MAX_TABLE, ts.sources);
    ts.flows = cx.table("tables.flows", &tb.flows, 64, MAX_TABLE, ts.flows);
    ts.flies = cx.table("tables.flies", &tb.flies, 64, MAX_TABLE, ts.flies);
    ts.rst_queue = cx.table("tables.rst_queue", &tb.rst_queue, 1, 1 << 20, ts.rst_queue);
    let share_max = ts.rst_queue.max(1) as i64;
    let share_default = ts.rst_share.min(ts.rst_queue);
    ts.rst_share = cx.table(
        "tables.rst_share",
        &tb.rst_share,
        1,
        share_max,
        share_default,
    );
    ts.trust = cx.table("tables.trust", &tb.trust, 64, MAX_TABLE, ts.trust);
    ts.fragments = cx.table(
        "tables.fragments",
        &tb.fragments,
        64,
        MAX_TABLE,
        ts.fragments,
    );

    p
}

fn allow_rule(cx: &mut Ctx<'_>, index: usize, a: &Spanned<Table<RawAllow>>) -> Option<AllowRule> {
    let key = format!("flypaper.allow[{index}]");
    let span = a.span();
    let a = &a.get_ref().0;
    let dst = cx
        .prefixes(&format!("{key}.dst"), &a.dst, None)
        .unwrap_or_default();
    let Some(proto) = &a.proto else {
        cx.err(
            &key,
            span,
            "missing `proto` (\"tcp\", \"udp\", \"icmp\", another protocol's name or \
             its number)"
                .to_owned(),
        );
        return None;
    };
    let text = match proto.get_ref() {
        ProtoSpec::Text(t) => t.clone(),
        ProtoSpec::Num(n) => n.to_string(),
    };
    let proto = match proto_by_name_or_number(&text) {
        Some(p) => p,
        None => {
            let options = PROTO_NAMES
                .iter()
                .map(|(n, _)| format!("\"{n}\""))
                .collect::<Vec<_>>();
            cx.err(
                &format!("{key}.proto"),
                proto.span(),
                format!(
                    "unknown protocol `{}`; expected {} or a protocol number 0..=255",
                    text,
                    options.join(", ")
                ),
            );
            return None;
        }
    };
    let ports = match (proto, &a.ports) {
        (Proto::Other(n), Some(p)) => {
            cx.err(
                &format!("{key}.ports"),
                p.span(),
                format!(
                    "a rule for IP protocol {n} takes no ports (flypaper matches it by protocol)"
                ),
            );
            return None;
        }
        (Proto::Other(_), None) => (0, u16::MAX),
        (Proto::Icmp, None) => (0, u16::MAX),
        (Proto::Icmp, Some(p)) => {
            cx.err(
                &format!("{key}.ports"),
                p.span(),
                "ICMP rules take no ports (they allow echo requests)".to_owned(),
            );
            return None;
        }
        (_, None) => {
            cx.err(
                &key,
                span,
                format!(
                    "a {} rule needs `ports` (a port or an \"A-B\" range)",
                    proto.as_str()
                ),
            );
            return None;
        }
        (_, Some(p)) => cx.port_spec(&format!("{key}.ports"), p)?,
    };
    Some(AllowRule {
        proto,
        ports,
        dst: PrefixSet(dst),
    })
}

/// Protocol names an allow rule may use besides a number.
const PROTO_NAMES: &[(&str, Proto)] = &[
    ("tcp", Proto::Tcp),
    ("udp", Proto::Udp),
    ("icmp", Proto::Icmp),
    ("ipip", Proto::Other(IpProtocol::IPIP)),
    ("ipv6", Proto::Other(IpProtocol::IPV6_ENCAP)),
    ("gre", Proto::Other(IpProtocol::GRE)),
    ("esp", Proto::Other(IpProtocol::ESP)),
    ("ah", Proto::Other(IpProtocol::AH)),
    ("sctp", Proto::Other(IpProtocol::SCTP)),
    ("udplite", Proto::Other(IpProtocol::UDPLITE)),
];

/// `"gre"`, or a number as text (`"132"`); 6, 17, 1 and 58 are TCP, UDP
/// and ICMP, which keep their own rules (ports, echo requests).
fn proto_by_name_or_number(s: &str) -> Option<Proto> {
    let s = s.trim();
    if let Some((_, p)) = PROTO_NAMES.iter().find(|(n, _)| n.eq_ignore_ascii_case(s)) {
        return Some(*p);
    }
    let n: u8 = s.parse().ok()?;
    Some(match n {
        IpProtocol::TCP => Proto::Tcp,
        IpProtocol::UDP => Proto::Udp,
        IpProtocol::ICMP | IpProtocol::ICMPV6 => Proto::Icmp,
        n => Proto::Other(n),
    })
}

fn port_set(entries: &[(u16, u16, Range<usize>)]) -> PortSet {
    let mut s = PortSet::new();
    for (lo, hi, _) in entries {
        for port in *lo..=*hi {
            s.insert(port);
        }
    }
    s
}

fn port_number(n: i64) -> Result<u16, String> {
    u16::try_from(n).map_err(|_| format!("port {n} is out of range {PORT_RANGE}"))
}

/// `"6000-6010"` or `"22"`.
fn parse_port_range(s: &str) -> Result<(u16, u16), String> {
    let bad = || format!("`{s}` is not a port or an \"A-B\" port range");
    let num = |t: &str| -> Result<u16, String> {
        let t = t.trim();
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        match t.parse::<u64>() {
            Ok(n) if n <= 65_535 => Ok(n as u16),
            _ => Err(format!("port {t} is out of range {PORT_RANGE}")),
        }
    };
    match s.split_once('-') {
        None => num(s).map(|p| (p, p)),
        Some((a, b)) => {
            let (a, b) = (num(a)?, num(b)?);
            if a > b {
                Err(format!(
                    "range {a}-{b} is backwards: the first port must not be above the second"
                ))
            } else {
                Ok((a, b))
            }
        }
    }
}

/// A prefix as written in the config. Refused: host bits set after the
/// length (`198.51.100.5/24`: a typo for a host or for the network, so say
/// which); with `everything` (why), a prefix of length 0; IPv6 prefixes
/// shorter than /96 that cover `::ffff:0:0/96`, the block where flypaper
/// keeps IPv4 addresses, since they would silently match every IPv4 address
/// too.
fn parse_prefix(s: &str, everything: Option<&str>) -> Result<Prefix, String> {
    let p: Prefix = s.parse()?;
    if let Some(why) = everything {
        if p.len128() == 0 || (p.is_v4() && p.len128() == 96) {
            let what = if p.is_v4() {
                "every IPv4 address"
            } else {
                "every address, IPv6 and IPv4 alike"
            };
            return Err(format!("`{s}` covers {what}: {why}"));
        }
    }
    let written: std::net::IpAddr = s
        .split_once('/')
        .map_or(s, |(a, _)| a)
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not an address or prefix"))?;
    if crate::Addr::from(written) != p.addr() {
        let host = written;
        return Err(format!(
            "`{s}` has host bits set after the prefix length; write the network `{p}`, or \
             `{host}` for the one host"
        ));
    }
    if p.len128() < 96 && p.contains(crate::Addr::from_v4(0)) {
        return Err(format!(
            "`{s}` also covers ::ffff:0:0/96, where flypaper keeps IPv4 addresses, so it would \
             match every IPv4 address; use a longer IPv6 prefix and write IPv4 prefixes in \
             dotted form"
        ));
    }
    Ok(p)
}

/// Whitespace a rate may have around it and around its `/`: ASCII spaces,
/// tabs and line breaks (`" 60 / s "` is `"60/s"`). None inside the number
/// or the unit, and no other white space (a no-break space is refused).
fn rate_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii_whitespace())
}

/// `"N/s"`, `"N/min"`, `"N/h"` -> `Some((N, seconds))`; `"off"` -> `None`.
/// The same rule for every rate key: [`rate_trim`] whitespace is ignored.
fn parse_rate(s: &str) -> Result<Option<(u32, u32)>, String> {
    let s = rate_trim(s);
    if s == "off" {
        return Ok(None);
    }
    let expected = "expected \"N/s\", \"N/min\", \"N/h\" or \"off\"";
    let Some((n, unit)) = s.split_once('/') else {
        return Err(format!("`{s}` is not a rate; {expected}"));
    };
    let per = match rate_trim(unit) {
        "s" => 1,
        "min" => 60,
        "h" => 3600,
        u => return Err(format!("unknown rate unit `{u}` in `{s}`; {expected}")),
    };
    let n = rate_trim(n);
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("`{s}` is not a rate; {expected}"));
    }
    match n.parse::<u32>() {
        Ok(0) => Err(format!(
            "rate `{s}` is zero; write \"off\" to turn the limit off"
        )),
        Ok(n) => Ok(Some((n, per))),
        Err(_) => Err(format!(
            "rate `{s}` is too large (at most {}/{})",
            u32::MAX,
            rate_trim(unit)
        )),
    }
}

fn unit_name(per_secs: u32) -> String {
    match per_secs {
        1 => "s".to_owned(),
        60 => "min".to_owned(),
        3600 => "h".to_owned(),
        n => format!("{n}s"),
    }
}

fn or_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

// ---------------------------------------------------------------------------
// Errors from the shape step, with the key path recovered from the span.

fn shape_error(text: &str, file: Option<&str>, e: &toml::de::Error) -> ConfigError {
    let offset = e.span().map(|s| s.start);
    let mut message = e
        .message()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    // Say it in TOML's words: serde calls arrays sequences, and sees tables
    // and date-times as maps.
    if let Some(rest) = message.strip_prefix("invalid type: sequence,") {
        message = format!("invalid type: array,{rest}");
    }
    // (A map starting with a digit is a date-time.)
    if let Some(rest) = message.strip_prefix("invalid type: map,") {
        let at = offset.and_then(|o| text.get(o..)).unwrap_or("");
        let what = if at.starts_with(|c: char| c.is_ascii_digit()) {
            "date-time"
        } else {
            "table"
        };
        message = format!("invalid type: {what},{rest}");
    }
    // The parser's words for an integer beyond 64 bits and for nesting
    // beyond its recursion limit, said with the value and the reason.
    let literal = || {
        let at = offset.and_then(|o| text.get(o..)).unwrap_or("");
        let end = at
            .find(|c: char| !(c.is_ascii_alphanumeric() || "_+-.".contains(c)))
            .unwrap_or(at.len());
        at[..end].to_owned()
    };
    if message.starts_with("number too large to fit in target type") {
        message = format!(
            "`{}` is too large: TOML integers are 64-bit (at most {})",
            literal(),
            i64::MAX
        );
    } else if message.starts_with("number too small to fit in target type") {
        message = format!(
            "`{}` is too small: TOML integers are 64-bit (at least {})",
            literal(),
            i64::MIN
        );
    } else if message.starts_with("recursion limit exceeded") {
        message = "arrays or tables nested too deeply for the TOML parser (its recursion \
                   limit); no flypaper value nests more than an array of tables"
            .to_owned();
    }
    ConfigError {
        file: file.map(str::to_owned),
        line: offset.map(|o| line_of(text, o)),
        key: offset.and_then(|o| key_path_at(text, o).or_else(|| key_path_scanned(text, o))),
        message,
    }
}

/// How a key part is shown in a key path: bare when TOML allows it, quoted
/// otherwise.
fn key_part(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        name.to_owned()
    } else {
        format!("{name:?}")
    }
}

/// A dotted key at the start of `s` (`a.b`, `"x y".c`, `'lit'`), and the
/// rest of `s` after it.
fn dotted_key(s: &str) -> Option<(String, &str)> {
    let mut parts = Vec::new();
    let mut rest = s.trim_start();
    loop {
        let (part, after) = if let Some(r) = rest.strip_prefix('"') {
            let mut end = None;
            let mut escaped = false;
            for (i, c) in r.char_indices() {
                match c {
                    '\\' if !escaped => escaped = true,
                    '"' if !escaped => {
                        end = Some(i);
                        break;
                    }
                    _ => escaped = false,
                }
            }
            let end = end?;
            (&r[..end], &r[end + 1..])
        } else if let Some(r) = rest.strip_prefix('\'') {
            let end = r.find('\'')?;
            (&r[..end], &r[end + 1..])
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(rest.len());
            if end == 0 {
                return None;
            }
            (&rest[..end], &rest[end..])
        };
        parts.push(key_part(part));
        rest = after.trim_start();
        match rest.strip_prefix('.') {
            Some(r) => rest = r.trim_start(),
            None => return Some((parts.join("."), rest)),
        }
    }
}

/// How much deeper in arrays and inline tables a line leaves its value
/// (brackets in strings and comments do not count).
fn nesting_change(line: &str) -> i32 {
    let mut depth = 0;
    let mut quote = None;
    let mut escaped = false;
    for c in line.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' && q == '"' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                '"' | '\'' => quote = Some(c),
                '[' | '{' => depth += 1,
                ']' | '}' => depth -= 1,
                '#' => break,
                _ => {}
            },
        }
    }
    depth
}

/// The key path of an error at `offset` in text that does not parse (a
/// syntax error, an integer beyond 64 bits, nesting beyond the parser's
/// limit), read from the lines themselves: the table header above the
/// error, and the key of the error's line or of the multi-line value the
/// line is in (the header's own path when the error is on a header, the
/// table's when the line belongs to no key).
fn key_path_scanned(text: &str, offset: usize) -> Option<String> {
    let error_line = line_of(text, offset);
    let mut table = String::new();
    let mut arrays: Vec<(String, usize)> = Vec::new();
    // The key whose value is still open after the lines so far, and how deep.
    let mut key: Option<String> = None;
    let mut depth = 0;
    for (n, line) in text.split('\n').enumerate().take(error_line) {
        let t = line.trim_start();
        let header = t.strip_prefix("[[").map_or_else(
            || {
                t.strip_prefix('[')
                    .and_then(dotted_key)
                    .filter(|(_, rest)| rest.starts_with(']'))
                    .map(|(k, _)| k)
            },
            |r| {
                dotted_key(r)
                    .filter(|(_, rest)| rest.starts_with("]]"))
                    .map(|(k, _)| {
                        let i = match arrays.iter_mut().find(|(name, _)| *name == k) {
                            Some((_, count)) => {
                                *count += 1;
                                *count - 1
                            }
                            None => {
                                arrays.push((k.clone(), 1));
                                0
                            }
                        };
                        format!("{k}[{i}]")
                    })
            },
        );
        let key_line = dotted_key(t).filter(|(_, rest)| rest.starts_with('='));
        if let (Some(h), None) = (header, &key) {
            table = h;
            if n + 1 == error_line {
                return Some(table);
            }
        } else if let Some((k, rest)) = key_line {
            depth = nesting_change(rest);
            key = Some(k);
        } else if key.is_some() {
            depth += nesting_change(t);
        }
        if n + 1 < error_line && depth <= 0 {
            key = None;
        }
    }
    match key {
        Some(k) if table.is_empty() => Some(k),
        Some(k) => Some(format!("{table}.{k}")),
        None if table.is_empty() => None,
        None => Some(table),
    }
}

/// Any TOML value, keeping only what is needed to name a key: every key's
/// position. (Tables cannot be `Spanned` reliably, keys can.)
enum Node {
    Table(Vec<(Spanned<String>, Node)>),
    Array(Vec<Node>),
    Leaf,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Node;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any TOML value")
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Node, E> {
                Ok(Node::Leaf)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Node::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(k) = map.next_key::<Spanned<String>>()? {
                    entries.push((k, map.next_value()?));
                }
                Ok(Node::Table(entries))
            }
        }
        d.deserialize_any(V)
    }
}

fn collect_keys(node: &Node, prefix: &str, out: &mut Vec<(usize, String)>) {
    match node {
        Node::Table(entries) => {
            for (k, v) in entries {
                let name = key_part(k.get_ref());
                let path = if prefix.is_empty() {
                    name
                } else {
                    format!("{prefix}.{name}")
                };
                out.push((k.span().start, path.clone()));
                collect_keys(v, &path, out);
            }
        }
        Node::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                match v {
                    Node::Table(_) => collect_keys(v, &format!("{prefix}[{i}]"), out),
                    _ => collect_keys(v, prefix, out),
                }
            }
        }
        Node::Leaf => {}
    }
}

/// The dotted path of the key an error at `offset` belongs to: the last key
/// that starts at or before it (an error is always at a key or in the value
/// after one). At a `[table]` header, the last key inside the header.
fn key_path_at(text: &str, offset: usize) -> Option<String> {
    let root: Node = toml::from_str(text).ok()?;
    let mut keys = Vec::new();
    collect_keys(&root, "", &mut keys);
    keys.sort_by_key(|(start, _)| *start);
    if text.get(offset..)?.starts_with('[') {
        let line_end = text[offset..].find('\n').map_or(text.len(), |n| offset + n);
        if let Some((_, path)) = keys
            .iter()
            .rev()
            .find(|(s, _)| (offset..line_end).contains(s))
        {
            return Some(path.clone());
        }
    }
    let n = keys.partition_point(|(start, _)| *start <= offset);
    n.checked_sub(1).map(|i| keys[i].1.clone())
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!(parse_rate("1/s"), Ok(Some((1, 1))));
        assert_eq!(parse_rate("60/s"), Ok(Some((60, 1))));
        assert_eq!(parse_rate(" 10 / min "), Ok(Some((10, 60))));
        assert_eq!(parse_rate("3/h"), Ok(Some((3, 3600))));
        assert_eq!(parse_rate("off"), Ok(None));
        assert_eq!(parse_rate("4294967295/s"), Ok(Some((u32::MAX, 1))));
    }

    #[test]
    fn bad_rates_are_refused_with_a_reason() {
        for (s, why) in [
            ("0/s", "zero"),
            ("4294967296/s", "too large"),
            ("99999999999999999999/s", "too large"),
            ("5/d", "unknown rate unit `d`"),
            ("5/sec", "unknown rate unit `sec`"),
            ("5", "not a rate"),
            ("/s", "not a rate"),
            ("-1/s", "not a rate"),
            ("+1/s", "not a rate"),
            ("1.5/s", "not a rate"),
            ("Off", "not a rate"),
            ("", "not a rate"),
        ] {
            let e = parse_rate(s).expect_err(s);
            assert!(e.contains(why), "{s:?}: {e}");
        }
    }

    #[test]
    fn rates_that_make_no_bucket_are_refused() {
        let e = parse_str("[tcp]\nsyn_limit = \"2000000000/s\"\n", None).unwrap_err();
        assert_eq!(e.key(), Some("tcp.syn_limit"));
        assert!(e
            .message()
            .contains("faster than one packet per nanosecond"));
        let e = parse_str("[icmp]\nlimit = \"1/h\"\nburst = 4000000000\n", None).unwrap_err();
        assert_eq!((e.key(), e.line()), (Some("icmp.burst"), Some(3)));
        assert!(e.message().contains("deeper than 2^64 ns"), "{e}");
    }

    #[test]
    fn port_ranges_parse() {
        assert_eq!(parse_port_range("6000-6010"), Ok((6000, 6010)));
        assert_eq!(parse_port_range(" 1 - 2 "), Ok((1, 2)));
        assert_eq!(parse_port_range("22"), Ok((22, 22)));
        assert_eq!(parse_port_range("0-65535"), Ok((0, 65535)));
        assert!(parse_port_range("10-9").unwrap_err().contains("backwards"));
        assert!(parse_port_range("1-70000")
            .unwrap_err()
            .contains("port 70000 is out of range"));
        assert!(parse_port_range("ssh").unwrap_err().contains("not a port"));
        assert!(parse_port_range("1-2-3")
            .unwrap_err()
            .contains("not a port"));
    }

    #[test]
    fn key_paths_from_offsets() {
        let text = "[tcp]\nsyn_burst = 5\n[[flypaper.allow]]\nproto = \"tcp\"\n\
                    [[flypaper.allow]]\nports = [1,\n 2]\n";
        let at = |needle: &str| key_path_at(text, text.rfind(needle).unwrap());
        assert_eq!(at("5").as_deref(), Some("tcp.syn_burst"));
        assert_eq!(at("\"tcp\"").as_deref(), Some("flypaper.allow[0].proto"));
        assert_eq!(at(" 2]").as_deref(), Some("flypaper.allow[1].ports"));
        assert_eq!(key_path_at("a = ", 3), None, "no path in broken TOML");
    }
}

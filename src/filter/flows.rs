//! Connection state: a bounded flow table and the TCP/UDP state machine.
//!
//! This is what makes "packets that belong to no valid connection state"
//! (the seed's conntrack `INVALID`) decidable. The tracker follows the
//! handshake and teardown by flags only; it does not check sequence windows.
//!
//! Eviction under pressure (a spoofed SYN flood) takes, in this order, an
//! expired flow, the half-open or unreplied flow closest to expiring, and
//! only then the established flow closest to expiring.

use crate::addr::Addr;
use crate::filter::hash::SeededHash;
use crate::filter::policy::Conntrack;
use crate::filter::table::{claim, scaled_set, sets_for, BoundedTable};
use crate::filter::tcpflags::{ACK, FIN, RST, SYN};
use crate::filter::Nanos;
use crate::sys::mem::huge_slice;

/// A flow key as one frame sees it: from `(a, pa)` to `(b, pb)`. The table
/// stores each flow under its originator's key (side `a` opened it); a
/// frame matches it in either orientation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowKey {
    a: u128,
    b: u128,
    /// `pa << 16 | pb`: reversing the key rotates it by 16.
    ports: u32,
    proto: u8,
    /// IPv6 (the flow lives in the IPv6 table), even when both addresses
    /// look like IPv4-mapped ones.
    v6: bool,
}

impl FlowKey {
    /// The key of a packet from `(src, sport)` to `(dst, dport)`.
    #[inline(always)]
    pub fn new(proto: u8, src: Addr, sport: u16, dst: Addr, dport: u16) -> FlowKey {
        let v6 = !(src.is_v4() && dst.is_v4());
        FlowKey::of_family(proto, src, sport, dst, dport, v6)
    }

    /// The key of a packet of an IP version the caller knows (an IPv6
    /// packet may carry IPv4-mapped addresses; its flow is still IPv6).
    #[inline(always)]
    pub fn of_family(proto: u8, src: Addr, sport: u16, dst: Addr, dport: u16, v6: bool) -> FlowKey {
        FlowKey {
            a: src.0,
            b: dst.0,
            ports: u32::from(sport) << 16 | u32::from(dport),
            proto,
            v6,
        }
    }

    /// The same flow seen from the other end.
    #[inline(always)]
    pub fn reversed(&self) -> FlowKey {
        FlowKey {
            a: self.b,
            b: self.a,
            ports: self.ports.rotate_left(16),
            proto: self.proto,
            v6: self.v6,
        }
    }

    /// Whether `self` and `other` are the same flow, and if so whether in
    /// the same orientation (`Some(true)`) or reversed (`Some(false)`).
    #[inline(always)]
    pub fn orientation(&self, other: &FlowKey) -> Option<bool> {
        // Differences folded with OR, so each test is one branch.
        let proto = u128::from(self.proto ^ other.proto);
        let same = (self.a ^ other.a) | (self.b ^ other.b) | u128::from(self.ports ^ other.ports);
        if same | proto == 0 {
            return Some(true);
        }
        let rev = (self.a ^ other.b)
            | (self.b ^ other.a)
            | u128::from(self.ports ^ other.ports.rotate_left(16));
        (rev | proto == 0).then_some(false)
    }

    /// A hash that is the same in both orientations.
    #[inline]
    pub fn hash(&self, h: &SeededHash) -> u64 {
        self.hash_hashed(h.hash128(self.a), h.hash128(self.b), h)
    }

    /// The same hash as `hash` with the addresses' `hash128` given (`ha`
    /// for side a): a frame's stages hash each address once.
    #[inline(always)]
    pub fn hash_hashed(&self, ha: u64, hb: u64, h: &SeededHash) -> u64 {
        h.flow_of(
            ha,
            (self.ports >> 16) as u16,
            hb,
            self.ports as u16,
            self.proto,
        )
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum State {
    /// SYN seen from the originator.
    #[default]
    SynSent,
    /// SYN+ACK seen from the responder.
    SynRecv,
    Established,
    /// A FIN was seen.
    Closing,
    /// An RST was seen. Later segments are still valid (the RST may be the
    /// forgery the RST delay is there to defeat) and revive the flow.
    Closed,
    /// UDP seen from the originator only.
    UdpUnreplied,
    /// UDP seen both ways.
    UdpStream,
}

impl State {
    const ALL: [State; 7] = [
        State::SynSent,
        State::SynRecv,
        State::Established,
        State::Closing,
        State::Closed,
        State::UdpUnreplied,
        State::UdpStream,
    ];
}

/// A flow's state: 16 bytes, so that an IPv6 key and its value fill one
/// cache line.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flow {
    pub expires: u64,
    pub state: State,
}

/// What a TCP segment does to a flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpStep {
    /// Belongs to no valid state: drop as `invalid`.
    Invalid,
    /// A new connection attempt (a SYN that may open or reopen a flow).
    New,
    /// Valid; the flow moves to this state.
    To(State),
}

/// The TCP state machine. `cur` is the live flow's state (None: no flow),
/// `from_orig` whether the segment comes from the originator. `flags` has
/// already passed the bogus-flags table.
pub fn tcp_step(cur: Option<State>, from_orig: bool, flags: u8) -> TcpStep {
    use State::*;
    let syn = flags & SYN != 0;
    let ack = flags & ACK != 0;
    let fin = flags & FIN != 0;
    let Some(s) = cur else {
        return if syn && !ack {
            TcpStep::New
        } else {
            TcpStep::Invalid
        };
    };
    if flags & RST != 0 {
        return TcpStep::To(Closed);
    }
    match (syn, ack) {
        (true, false) => match s {
            SynSent => TcpStep::To(SynSent),
            Closing | Closed => TcpStep::New,
            _ => TcpStep::Invalid,
        },
        (true, true) => match s {
            SynSent | SynRecv if !from_orig => TcpStep::To(SynRecv),
            Established if !from_orig => TcpStep::To(Established),
            _ => TcpStep::Invalid,
        },
        (false, true) => match s {
            SynSent => TcpStep::Invalid,
            SynRecv if !from_orig => TcpStep::To(SynRecv),
            SynRecv | Established | Closed => TcpStep::To(if fin { Closing } else { Established }),
            Closing => TcpStep::To(Closing),
            UdpUnreplied | UdpStream => TcpStep::Invalid,
        },
        (false, false) => TcpStep::Invalid,
    }
}

fn timeout(ct: &Conntrack, s: State) -> Nanos {
    match s {
        State::SynSent | State::SynRecv => ct.syn_timeout,
        State::Established => ct.established_timeout,
        State::Closing | State::Closed => ct.close_timeout,
        State::UdpUnreplied => ct.udp_timeout,
        State::UdpStream => ct.udp_stream_timeout,
    }
}

/// Eviction rank of a live flow (lowest goes first) in `state` with `left`
/// (time to expiry, or the expiry itself, below 2^63): half-open or
/// unreplied before established; within each, the one closest to expiring.
#[inline(always)]
fn class_rank(state: State, left: u64) -> u64 {
    if matches!(state, State::Established | State::UdpStream) {
        1 << 63 | left
    } else {
        left
    }
}

/// `class_rank` of an IPv6 flow; `None`: expired, free to reuse.
#[inline]
fn rank(f: &Flow, now: Nanos) -> Option<u64> {
    (f.expires > now.0).then(|| class_rank(f.state, f.expires >> 1))
}

/// IPv4 flows per set: four fill one cache line.
const V4_WAYS: usize = 4;

/// An IPv4 flow's expiry is kept in units of 2^25 ns (about 33.6 ms),
/// rounded up: a flow may outlive its timeout by up to one unit, never
/// expire early.
pub const EXPIRY_UNIT: Nanos = Nanos(1 << EXPIRY_SHIFT);
const EXPIRY_SHIFT: u32 = 25;

/// The longest conntrack timeout the IPv4 table can hold: expiries are 28
/// bits of `EXPIRY_UNIT`, compared with wrapping arithmetic, so they must
/// lie less than 2^27 units (about 52 days) ahead. The config allows up to
/// 50 days.
pub const MAX_TIMEOUT: Nanos = Nanos::from_secs(50 * 86_400);

/// One set of IPv4 flows, in one cache line: a lookup or an insertion
/// reads this line and nothing else (no tag array in front, no entry
/// behind).
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct V4Set {
    a: [u32; V4_WAYS],
    b: [u32; V4_WAYS],
    /// As `FlowKey::ports`.
    ports: [u32; V4_WAYS],
    /// 0: never used; else the expiry (28 bits of `EXPIRY_UNIT`, the high
    /// ones), `UDP` for a UDP flow, and the state's index plus one (the
    /// low three bits).
    meta: [u32; V4_WAYS],
}

const UDP: u32 = 0x8;

/// `UDP` if `key` is a UDP flow.
#[inline(always)]
fn udp_bit(key: &FlowKey) -> u32 {
    if key.proto == 17 {
        UDP
    } else {
        0
    }
}

/// `now` in expiry units (rounded down).
#[inline(always)]
fn units(now: Nanos) -> u32 {
    (now.0 >> EXPIRY_SHIFT) as u32
}

/// How many expiry units `meta` lies ahead of `now_units` (not positive:
/// expired).
#[inline(always)]
fn ahead(meta: u32, now_units: u32) -> i32 {
    ((meta >> 4).wrapping_sub(now_units) << 4) as i32 >> 4
}

#[inline(always)]
fn state_of(meta: u32) -> State {
    State::ALL[(meta & 7) as usize - 1]
}

/// `FlowTable`'s index of a flow in the IPv6 table has this bit set;
/// an IPv4 flow's index is `set * V4_WAYS + way`.
const V6_INDEX: usize = 1 << (usize::BITS - 1);

/// The IPv4 flows: a set-associative array of `V4Set` lines, bounded like
/// `BoundedTable` (same eviction order).
struct V4Table {
    sets: Box<[V4Set]>,
    len: usize,
    evictions: u64,
}

impl V4Table {
    fn new(capacity: usize) -> V4Table {
        // Any number of sets, so the table holds `capacity` flows rounded
        // up to a whole set.
        V4Table {
            sets: huge_slice(sets_for(capacity, V4_WAYS), V4Set::default()),
            len: 0,
            evictions: 0,
        }
    }

    #[inline(always)]
    fn set(&self, hash: u64) -> usize {
        scaled_set(hash, self.sets.len())
    }

    /// The way of `set` holding `key`'s flow in either orientation, and
    /// whether it is the same orientation.
    #[inline(always)]
    fn position(&self, set: usize, key: &FlowKey) -> Option<(usize, bool)> {
        let s = &self.sets[set];
        let (ka, kb, kp) = (key.a as u32, key.b as u32, key.ports);
        let kr = kp.rotate_left(16);
        let udp = udp_bit(key);
        (0..V4_WAYS).find_map(|i| {
            if s.meta[i] == 0 || s.meta[i] & UDP != udp {
                return None;
            }
            if (s.a[i] ^ ka) | (s.b[i] ^ kb) | (s.ports[i] ^ kp) == 0 {
                return Some((i, true));
            }
            ((s.a[i] ^ kb) | (s.b[i] ^ ka) | (s.ports[i] ^ kr) == 0).then_some((i, false))
        })
    }

    /// The meta word of a flow that lives until `expires` in `state`.
    #[inline(always)]
    fn meta(expires: Nanos, state: State, udp: u32) -> u32 {
        let units = (expires.0 + (EXPIRY_UNIT.0 - 1)) >> EXPIRY_SHIFT;
        (units as u32) << 4 | udp | (state as u32 + 1)
    }

    #[inline]
    fn write(&mut self, set: usize, way: usize, key: &FlowKey, expires: Nanos, state: State) {
        let s = &mut self.sets[set];
        s.a[way] = key.a as u32;
        s.b[way] = key.b as u32;
        s.ports[way] = key.ports;
        s.meta[way] = V4Table::meta(expires, state, udp_bit(key));
    }

    #[inline]
    fn update(&mut self, index: usize, expires: Nanos, state: State) {
        let m = &mut self.sets[index / V4_WAYS].meta[index % V4_WAYS];
        *m = V4Table::meta(expires, state, *m & UDP);
    }

    #[inline]
    fn insert(&mut self, hash: u64, key: &FlowKey, expires: Nanos, state: State, now: Nanos) {
        let set = self.set(hash);
        if let Some((w, _)) = self.position(set, key) {
            self.write(set, w, key, expires, state);
            return;
        }
        let now_units = units(now);
        let s = &self.sets[set];
        let w = claim(
            V4_WAYS,
            |w| {
                let m = s.meta[w];
                (m != 0).then(|| {
                    let left = ahead(m, now_units);
                    (left > 0).then(|| class_rank(state_of(m), left as u64))
                })
            },
            &mut self.len,
            &mut self.evictions,
        );
        self.write(set, w, key, expires, state);
    }

    fn expire(&mut self, now: Nanos) {
        let now_units = units(now);
        for s in self.sets.iter_mut() {
            for m in s.meta.iter_mut() {
                if *m != 0 && ahead(*m, now_units) <= 0 {
                    *m = 0;
                    self.len -= 1;
                }
            }
        }
    }
}

/// The bounded flow tables of one worker: IPv4 flows four to a cache
/// line, IPv6 flows (48-byte keys) one to a line behind a tag array. Each
/// family holds up to `capacity` flows.
pub struct FlowTable {
    v4: V4Table,
    v6: BoundedTable<FlowKey, Flow>,
}

impl FlowTable {
    pub fn new(capacity: usize) -> FlowTable {
        FlowTable {
            v4: V4Table::new(capacity),
            v6: BoundedTable::new(capacity),
        }
    }

    pub fn capacity(&self) -> usize {
        self.v4.sets.len() * V4_WAYS + self.v6.capacity()
    }

    pub fn len(&self) -> usize {
        self.v4.len + self.v6.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn evictions(&self) -> u64 {
        self.v4.evictions + self.v6.evictions()
    }

    /// Batched lookup, stage one: start loading the line of an IPv4 flow's
    /// set, or the tags of an IPv6 flow's set.
    #[inline(always)]
    pub fn prefetch(&self, hash: u64, v6: bool) {
        if v6 {
            self.v6.prefetch_tags(hash)
        } else {
            crate::sys::prefetch::prefetch(&self.v4.sets[self.v4.set(hash)]);
        }
    }

    /// Batched lookup, stage two: an IPv6 flow's entry (see
    /// `BoundedTable::prefetch_entry`); an IPv4 flow needs nothing more.
    #[inline(always)]
    pub fn prefetch_entry(&self, hash: u64, v6: bool) {
        if v6 {
            self.v6.prefetch_entry(hash)
        }
    }

    /// The state of the live flow of a frame with key `key`, where it is
    /// (for `update`), and whether the frame comes from its originator.
    /// One lookup per frame.
    #[inline(always)]
    pub fn lookup(&self, hash: u64, key: &FlowKey, now: Nanos) -> Option<(usize, State, bool)> {
        if key.v6 {
            let (i, from_orig) = self.v6.position(hash, |k| k.orientation(key))?;
            let f = self.v6.at(i);
            return (f.expires > now.0).then_some((i | V6_INDEX, f.state, from_orig));
        }
        let set = self.v4.set(hash);
        let (w, from_orig) = self.v4.position(set, key)?;
        let m = self.v4.sets[set].meta[w];
        (ahead(m, units(now)) > 0).then_some((set * V4_WAYS + w, state_of(m), from_orig))
    }

    /// Move the flow `lookup` found to `state`, refreshing its expiry,
    /// without looking it up again.
    #[inline]
    pub fn update(&mut self, index: usize, now: Nanos, ct: &Conntrack, state: State) {
        let expires = now + timeout(ct, state);
        if index & V6_INDEX != 0 {
            *self.v6.at_mut(index & !V6_INDEX) = Flow {
                expires: expires.0,
                state,
            };
        } else {
            self.v4.update(index, expires, state);
        }
    }

    /// Start a flow in `state` whose originator sent `key` (replacing the
    /// same flow in either orientation, as when a SYN reopens a closed
    /// connection).
    #[inline]
    pub fn insert(&mut self, hash: u64, key: FlowKey, now: Nanos, ct: &Conntrack, state: State) {
        let expires = now + timeout(ct, state);
        if !key.v6 {
            self.v4.insert(hash, &key, expires, state, now);
            return;
        }
        let flow = Flow {
            expires: expires.0,
            state,
        };
        if let Some((i, _)) = self.v6.position(hash, |k| k.orientation(&key)) {
            self.v6.replace(i, key, flow);
            return;
        }
        // `position` just looked: the key is absent.
        *self.v6.insert_absent(hash, key, |f| rank(f, now)) = flow;
    }

    /// Drop expired flows (housekeeping; lookups ignore them anyway).
    pub fn expire(&mut self, now: Nanos) {
        self.v4.expire(now);
        self.v6.retain(|_, f| f.expires > now.0);
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::filter::tcpflags::PSH;
    use State::*;

    #[test]
    fn key_is_symmetric() {
        let c: Addr = "198.51.100.20".parse().unwrap();
        let s: Addr = "203.0.113.10".parse().unwrap();
        let k1 = FlowKey::new(6, c, 40000, s, 80);
        let k2 = FlowKey::new(6, s, 80, c, 40000);
        assert_eq!(k1.reversed(), k2);
        assert_eq!(k1.orientation(&k1), Some(true));
        assert_eq!(k1.orientation(&k2), Some(false));
        let h = SeededHash::new(1);
        assert_eq!(k1.hash(&h), k2.hash(&h));
        let k3 = FlowKey::new(17, c, 40000, s, 80);
        assert_eq!(k1.orientation(&k3), None);
        // Ports belong to their address: swapping only the ports is
        // another flow.
        let k4 = FlowKey::new(6, c, 80, s, 40000);
        assert_eq!(k1.orientation(&k4), None);
        assert_ne!(k1.hash(&h), k4.hash(&h));
    }

    #[test]
    fn handshake_data_teardown() {
        assert_eq!(tcp_step(None, true, SYN), TcpStep::New);
        assert_eq!(
            tcp_step(Some(SynSent), true, SYN),
            TcpStep::To(SynSent),
            "SYN retransmit"
        );
        assert_eq!(
            tcp_step(Some(SynSent), false, SYN | ACK),
            TcpStep::To(SynRecv)
        );
        assert_eq!(
            tcp_step(Some(SynRecv), false, SYN | ACK),
            TcpStep::To(SynRecv)
        );
        assert_eq!(tcp_step(Some(SynRecv), true, ACK), TcpStep::To(Established));
        assert_eq!(
            tcp_step(Some(Established), false, ACK | PSH),
            TcpStep::To(Established)
        );
        assert_eq!(
            tcp_step(Some(Established), true, FIN | ACK),
            TcpStep::To(Closing)
        );
        assert_eq!(
            tcp_step(Some(Closing), false, FIN | ACK),
            TcpStep::To(Closing)
        );
        assert_eq!(tcp_step(Some(Closing), true, ACK), TcpStep::To(Closing));
        assert_eq!(
            tcp_step(Some(Closing), true, SYN),
            TcpStep::New,
            "port reuse"
        );
    }

    #[test]
    fn invalid_states() {
        assert_eq!(
            tcp_step(None, true, ACK),
            TcpStep::Invalid,
            "mid-stream ACK"
        );
        assert_eq!(
            tcp_step(None, false, SYN | ACK),
            TcpStep::Invalid,
            "SYN-ACK without SYN"
        );
        assert_eq!(
            tcp_step(None, true, RST),
            TcpStep::Invalid,
            "RST without flow"
        );
        assert_eq!(tcp_step(None, true, RST | ACK), TcpStep::Invalid);
        assert_eq!(
            tcp_step(Some(SynSent), true, ACK),
            TcpStep::Invalid,
            "ACK before SYN-ACK"
        );
        assert_eq!(
            tcp_step(Some(SynSent), true, SYN | ACK),
            TcpStep::Invalid,
            "SYN-ACK from the originator"
        );
        assert_eq!(
            tcp_step(Some(Established), true, SYN),
            TcpStep::Invalid,
            "SYN inside a connection"
        );
        assert_eq!(tcp_step(Some(UdpStream), true, ACK), TcpStep::Invalid);
    }

    #[test]
    fn rst_closes_but_does_not_kill_the_flow() {
        assert_eq!(tcp_step(Some(Established), false, RST), TcpStep::To(Closed));
        assert_eq!(
            tcp_step(Some(SynSent), false, RST | ACK),
            TcpStep::To(Closed),
            "port closed"
        );
        // The genuine segment after a forged RST still passes and revives the flow.
        assert_eq!(
            tcp_step(Some(Closed), true, ACK | PSH),
            TcpStep::To(Established)
        );
        assert_eq!(tcp_step(Some(Closed), true, SYN), TcpStep::New);
    }

    #[test]
    fn either_end_finds_the_flow_and_a_reopen_takes_the_new_originator() {
        let ct = Conntrack::default();
        let h = SeededHash::new(8);
        let mut t = FlowTable::new(64);
        let c: Addr = "198.51.100.20".parse().unwrap();
        let s: Addr = "203.0.113.10".parse().unwrap();
        let now = Nanos::from_secs(50);
        let from_c = FlowKey::new(6, c, 40000, s, 80);
        let from_s = FlowKey::new(6, s, 80, c, 40000);
        t.insert(from_c.hash(&h), from_c, now, &ct, SynSent);
        let (i, state, orig) = t.lookup(from_s.hash(&h), &from_s, now).unwrap();
        assert_eq!(
            (state, orig),
            (SynSent, false),
            "the reply is not from the originator"
        );
        assert!(t.lookup(from_c.hash(&h), &from_c, now).unwrap().2);
        t.update(i, now, &ct, Closed);
        // The server end opens the same 4-tuple anew: one entry, now with
        // the server as originator.
        t.insert(from_s.hash(&h), from_s, now, &ct, SynSent);
        assert_eq!(t.len(), 1);
        assert!(t.lookup(from_s.hash(&h), &from_s, now).unwrap().2);
        assert!(!t.lookup(from_c.hash(&h), &from_c, now).unwrap().2);
    }

    /// Flows of one set of 4 (capacity 4 is one set in either family's
    /// table): `a` on port 80 to `b` port `p`.
    fn eviction_preference(a: Addr, b: Addr) {
        let ct = Conntrack::default();
        let h = SeededHash::new(5);
        let mut t = FlowTable::new(4);
        let now = Nanos::from_secs(100);
        let key = |p: u16| FlowKey::new(6, a, p, b, 80);
        // One established flow, then half-open ones.
        t.insert(key(1).hash(&h), key(1), now, &ct, Established);
        for p in 2..=4 {
            let at = now + Nanos::from_secs(p as u64);
            t.insert(key(p).hash(&h), key(p), at, &ct, SynSent);
        }
        assert_eq!((t.len(), t.evictions()), (4, 0));
        // A new flow evicts the half-open one closest to expiring (port
        // 2), not the established one.
        let at = now + Nanos::from_secs(10);
        t.insert(key(5).hash(&h), key(5), at, &ct, SynSent);
        assert!(t.lookup(key(1).hash(&h), &key(1), at).is_some());
        assert!(t.lookup(key(2).hash(&h), &key(2), at).is_none());
        assert!(t.lookup(key(3).hash(&h), &key(3), at).is_some());
        assert_eq!((t.len(), t.evictions()), (4, 1));
        // Half-open flows expire after the SYN timeout (30 s): port 3's at
        // 133 s; an expired flow is reused without an eviction.
        let later = now + Nanos::from_millis(33_500);
        assert!(t.lookup(key(3).hash(&h), &key(3), later).is_none());
        assert!(t.lookup(key(4).hash(&h), &key(4), later).is_some());
        assert!(t.lookup(key(1).hash(&h), &key(1), later).is_some());
        t.insert(key(6).hash(&h), key(6), later, &ct, SynSent);
        assert_eq!((t.len(), t.evictions()), (4, 1));
        t.expire(now + Nanos::from_secs(70));
        assert_eq!(t.len(), 1, "only the established flow is left");
        assert_eq!(
            t.lookup(key(1).hash(&h), &key(1), later).unwrap().1,
            Established
        );
    }

    #[test]
    fn table_expiry_and_eviction_preference_v4() {
        eviction_preference(
            "198.51.100.20".parse().unwrap(),
            "203.0.113.10".parse().unwrap(),
        );
    }

    #[test]
    fn table_expiry_and_eviction_preference_v6() {
        eviction_preference(
            "2001:db8::20".parse().unwrap(),
            "2001:db8:1::10".parse().unwrap(),
        );
    }

    #[test]
    fn v4_expiry_is_never_early_and_at_most_one_unit_late() {
        let ct = Conntrack::default();
        let h = SeededHash::new(9);
        let mut t = FlowTable::new(64);
        let c: Addr = "198.51.100.20".parse().unwrap();
        let s: Addr = "203.0.113.10".parse().unwrap();
        let k = FlowKey::new(6, c, 40000, s, 80);
        // Start times on and off a unit boundary, and one where the 28-bit
        // expiry wraps around between insertion and expiry.
        let wrap = Nanos((1u64 << (28 + EXPIRY_SHIFT)) - Nanos::from_secs(10).0);
        for start in [Nanos::from_secs(7), Nanos(123_456_789_012), wrap] {
            t.insert(k.hash(&h), k, start, &ct, SynSent);
            let exact = start + ct.syn_timeout;
            let last = Nanos(exact.0 - 1);
            assert!(
                t.lookup(k.hash(&h), &k, last).is_some(),
                "early at {start:?}"
            );
            let late = exact + EXPIRY_UNIT;
            assert!(
                t.lookup(k.hash(&h), &k, late).is_none(),
                "late at {start:?}"
            );
        }
        // The longest timeout the config allows still counts as ahead.
        let long = Conntrack {
            established_timeout: MAX_TIMEOUT,
            ..ct
        };
        t.insert(k.hash(&h), k, wrap, &long, Established);
        let almost = Nanos((wrap + MAX_TIMEOUT).0 - 1);
        assert!(t.lookup(k.hash(&h), &k, almost).is_some());
        assert!(t
            .lookup(k.hash(&h), &k, wrap + MAX_TIMEOUT + EXPIRY_UNIT)
            .is_none());
    }

    #[test]
    fn families_and_protocols_do_not_share_flows() {
        let ct = Conntrack::default();
        let h = SeededHash::new(3);
        let mut t = FlowTable::new(64);
        let now = Nanos::from_secs(1);
        let c: Addr = "198.51.100.20".parse().unwrap();
        let s: Addr = "203.0.113.10".parse().unwrap();
        let tcp = FlowKey::new(6, c, 40000, s, 53);
        t.insert(tcp.hash(&h), tcp, now, &ct, SynSent);
        // The same addresses and ports over UDP: another flow.
        let udp = FlowKey::new(17, c, 40000, s, 53);
        assert!(t.lookup(udp.hash(&h), &udp, now).is_none());
        t.insert(udp.hash(&h), udp, now, &ct, UdpUnreplied);
        assert_eq!(t.lookup(udp.hash(&h), &udp, now).unwrap().1, UdpUnreplied);
        assert_eq!(t.lookup(tcp.hash(&h), &tcp, now).unwrap().1, SynSent);
        // An IPv6 packet carrying IPv4-mapped addresses is an IPv6 flow.
        let mapped = FlowKey::of_family(6, c, 40000, s, 53, true);
        assert!(t.lookup(mapped.hash(&h), &mapped, now).is_none());
        t.insert(mapped.hash(&h), mapped, now, &ct, Established);
        assert_eq!(t.len(), 3);
        assert_eq!(t.lookup(tcp.hash(&h), &tcp, now).unwrap().1, SynSent);
    }
}

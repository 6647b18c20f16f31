//! Connection state: a bounded flow table and the TCP/UDP state machine.
//!
//! This is what makes "packets that belong to no valid connection state"
//! (the seed's conntrack `INVALID`) decidable. The tracker follows the
//! handshake and teardown by flags only; it does not check sequence windows.
//!
//! Eviction under pressure (a spoofed SYN flood) takes, in this order, an
//! expired flow, the half-open or unreplied flow closest to expiring, and
//! only then the established flow closest to expiring (for flows in one
//! state, the least recently seen).

use crate::addr::Addr;
use crate::filter::hash::SeededHash;
use crate::filter::policy::Conntrack;
use crate::filter::table::BoundedTable;
use crate::filter::tcpflags::{ACK, FIN, RST, SYN};
use crate::filter::Nanos;

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
}

impl FlowKey {
    /// The key of a packet from `(src, sport)` to `(dst, dport)`.
    #[inline(always)]
    pub fn new(proto: u8, src: Addr, sport: u16, dst: Addr, dport: u16) -> FlowKey {
        FlowKey {
            a: src.0,
            b: dst.0,
            ports: u32::from(sport) << 16 | u32::from(dport),
            proto,
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

/// A flow's state: 16 bytes, so that key and value fill one cache line.
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

/// The bounded flow table of one worker.
pub struct FlowTable {
    table: BoundedTable<FlowKey, Flow>,
}

impl FlowTable {
    pub fn new(capacity: usize) -> FlowTable {
        FlowTable {
            table: BoundedTable::new(capacity),
        }
    }

    pub fn capacity(&self) -> usize {
        self.table.capacity()
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    pub fn evictions(&self) -> u64 {
        self.table.evictions()
    }

    /// Batched lookup, stage one (see `BoundedTable::prefetch_tags`).
    #[inline(always)]
    pub fn prefetch_tags(&self, hash: u64) {
        self.table.prefetch_tags(hash)
    }

    /// Batched lookup, stage two (see `BoundedTable::prefetch_entry`).
    #[inline(always)]
    pub fn prefetch_entry(&self, hash: u64) {
        self.table.prefetch_entry(hash)
    }

    /// The live flow of a frame with key `key`, where it is (for
    /// `update`), and whether the frame comes from its originator. One
    /// lookup per frame.
    #[inline(always)]
    pub fn lookup(&self, hash: u64, key: &FlowKey, now: Nanos) -> Option<(usize, Flow, bool)> {
        let (i, from_orig) = self.table.position(hash, |k| k.orientation(key))?;
        let f = *self.table.at(i);
        (f.expires > now.0).then_some((i, f, from_orig))
    }

    /// Move the flow `lookup` found to `state`, refreshing its expiry,
    /// without looking it up again.
    #[inline]
    pub fn update(&mut self, index: usize, now: Nanos, ct: &Conntrack, state: State) {
        let f = self.table.at_mut(index);
        f.state = state;
        f.expires = (now + timeout(ct, state)).0;
    }

    /// Start a flow in `state` whose originator sent `key` (replacing the
    /// same flow in either orientation, as when a SYN reopens a closed
    /// connection).
    #[inline]
    pub fn insert(&mut self, hash: u64, key: FlowKey, now: Nanos, ct: &Conntrack, state: State) {
        let flow = Flow {
            expires: (now + timeout(ct, state)).0,
            state,
        };
        if let Some((i, _)) = self.table.position(hash, |k| k.orientation(&key)) {
            self.table.replace(i, key, flow);
            return;
        }
        // Eviction order: expired, then half-open or unreplied, then
        // established; within each, the one closest to expiring.
        let rank = |f: &Flow| {
            if f.expires <= now.0 {
                None
            } else if matches!(f.state, State::Established | State::UdpStream) {
                Some((1 << 63) | f.expires >> 1)
            } else {
                Some(f.expires >> 1)
            }
        };
        // `position` just looked: the key is absent.
        *self.table.insert_absent(hash, key, rank) = flow;
    }

    /// Drop expired flows (housekeeping; lookups ignore them anyway).
    pub fn expire(&mut self, now: Nanos) {
        self.table.retain(|_, f| f.expires > now.0);
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
        let (i, f, orig) = t.lookup(from_s.hash(&h), &from_s, now).unwrap();
        assert_eq!(
            (f.state, orig),
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

    #[test]
    fn table_expiry_and_eviction_preference() {
        let ct = Conntrack::default();
        let h = SeededHash::new(5);
        let mut t = FlowTable::new(4); // a single set of 4
        let a: Addr = "198.51.100.20".parse().unwrap();
        let now = Nanos::from_secs(100);
        let key = |p: u16| FlowKey::new(6, a, p, "203.0.113.10".parse().unwrap(), 80);
        // One established flow, then half-open ones.
        t.insert(key(1).hash(&h), key(1), now, &ct, Established);
        for p in 2..=4 {
            t.insert(key(p).hash(&h), key(p), now + Nanos(p as u64), &ct, SynSent);
        }
        // A new flow evicts the oldest half-open (port 2), not the established one.
        t.insert(key(5).hash(&h), key(5), now + Nanos(10), &ct, SynSent);
        assert!(t.lookup(key(1).hash(&h), &key(1), now).is_some());
        assert!(t.lookup(key(2).hash(&h), &key(2), now).is_none());
        assert_eq!(t.evictions(), 1);
        // Half-open flows expire after the SYN timeout (30 s).
        let later = now + Nanos::from_secs(31);
        assert!(t.lookup(key(3).hash(&h), &key(3), later).is_none());
        assert!(t.lookup(key(1).hash(&h), &key(1), later).is_some());
        t.expire(later);
        assert_eq!(t.len(), 1);
    }
}

//! SYN cookies: proof that a source owns its address, with no memory per
//! SYN.
//!
//! With `trap.proof = "handshake"`, a SYN that would make a fly is answered
//! with a SYN-ACK whose sequence number is a cookie: a keyed MAC
//! (SipHash-1-3, the kernel's choice for its own syncookies) of the
//! connection's addresses and ports, the SYN's sequence number and the
//! current time window. Only a host that receives the SYN-ACK, which goes
//! to the SYN's source address, can send back the ACK that acknowledges
//! cookie + 1; an attacker who forges the source never sees the cookie
//! and has one chance in 2^32 per guess. A cookie is accepted in its own
//! window and the next (64 to 128 seconds), and only under the key that
//! made it: every start of the appliance picks a new random key.

use siphasher::sip::SipHasher13;
use std::hash::Hasher;

use crate::addr::Addr;
use crate::filter::Nanos;

/// Length of a cookie's time window, in seconds.
pub const WINDOW_SECS: u64 = 64;

/// The four-tuple of the SYN, from the SYN's sender's point of view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tuple {
    pub src: Addr,
    pub dst: Addr,
    pub sport: u16,
    pub dport: u16,
}

/// The secret key of the cookies.
#[derive(Clone, Copy)]
pub struct CookieKey {
    k0: u64,
    k1: u64,
}

impl std::fmt::Debug for CookieKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CookieKey(..)")
    }
}

impl CookieKey {
    pub const fn new(k0: u64, k1: u64) -> CookieKey {
        CookieKey { k0, k1 }
    }

    fn mac(&self, window: u64, t: &Tuple, isn: u32) -> u32 {
        let mut h = SipHasher13::new_with_keys(self.k0, self.k1);
        h.write_u128(t.src.0);
        h.write_u128(t.dst.0);
        h.write_u16(t.sport);
        h.write_u16(t.dport);
        h.write_u32(isn);
        h.write_u64(window);
        h.finish() as u32
    }

    /// The cookie for a SYN with sequence number `isn`, at `now`.
    pub fn make(&self, now: Nanos, t: &Tuple, isn: u32) -> u32 {
        self.mac(now.as_secs() / WINDOW_SECS, t, isn)
    }

    /// Does an ACK (of `t`, with sequence number `seq` and acknowledgment
    /// number `ack`) return a cookie made under this key in this window or
    /// the one before?
    pub fn check(&self, now: Nanos, t: &Tuple, seq: u32, ack: u32) -> bool {
        let isn = seq.wrapping_sub(1);
        let cookie = ack.wrapping_sub(1);
        let w = now.as_secs() / WINDOW_SECS;
        self.mac(w, t, isn) == cookie || (w > 0 && self.mac(w - 1, t, isn) == cookie)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn t() -> Tuple {
        Tuple {
            src: "203.0.113.9".parse().unwrap(),
            dst: "198.51.100.10".parse().unwrap(),
            sport: 40000,
            dport: 139,
        }
    }

    #[test]
    fn a_returned_cookie_checks_in_its_window_and_the_next_only() {
        let k = CookieKey::new(1, 2);
        let now = Nanos::from_secs(6400);
        let c = k.make(now, &t(), 1000);
        assert!(k.check(now, &t(), 1001, c.wrapping_add(1)));
        assert!(k.check(Nanos::from_secs(6400 + 127), &t(), 1001, c.wrapping_add(1)));
        assert!(!k.check(Nanos::from_secs(6400 + 128), &t(), 1001, c.wrapping_add(1)));
        // Another key, another tuple, another ISN, another cookie: refused.
        assert!(!CookieKey::new(1, 3).check(now, &t(), 1001, c.wrapping_add(1)));
        let other = Tuple {
            sport: 40001,
            ..t()
        };
        assert!(!k.check(now, &other, 1001, c.wrapping_add(1)));
        assert!(!k.check(now, &t(), 1002, c.wrapping_add(1)));
        assert!(!k.check(now, &t(), 1001, c.wrapping_add(2)));
    }

    #[test]
    fn cookies_spread_over_32_bits() {
        let k = CookieKey::new(9, 9);
        let now = Nanos::from_secs(1);
        let mut seen = std::collections::HashSet::new();
        for i in 0..10_000u32 {
            seen.insert(k.make(now, &t(), i));
        }
        assert!(seen.len() > 9_990);
    }
}

//! One fly store: the blacklist every worker reads, and the XDP program's
//! map, changed together through this one path.
//!
//! Proven flies and operators' blocks are dropped in the kernel too, so
//! they are copied into the `flies` map; unproven flies stay in userspace,
//! where a reply on a flow the LAN opened can still pass. The workers'
//! events (a new fly, an eviction) copy changes into the map at once; since
//! their channel is bounded and may lose an event under a storm, the store
//! also reconciles the map with the blacklist's state every few seconds,
//! so a fly never stays missing from the kernel (or freed but still
//! dropped there). Expiries live in the blacklist in the monotonic clock
//! the workers use; the store turns them into wall-clock times for people
//! (`list`) and for the state file.

use std::time::{Duration, SystemTime};

use crate::addr::Addr;
use crate::filter::policy::Prefix;
use crate::filter::{Class, FlyEntry, Insert, Nanos, Reason, Shared};
use crate::sys::xdp::XdpProgram;

/// The most flies one `block` of a prefix makes.
pub const MAX_BLOCK: u64 = 256;

/// A fly in the kernel map?
pub fn in_kernel(e: &FlyEntry) -> bool {
    e.class() != Class::Unproven
}

/// The blacklist and the XDP map, as one.
pub struct FlyStore<'a> {
    pub shared: &'a Shared,
    pub prog: Option<&'a XdpProgram>,
}

/// The wall-clock time of a monotonic instant `t`, given both clocks now.
pub fn wall(t: Nanos, now: Nanos, wall_now: SystemTime) -> SystemTime {
    if t >= now {
        wall_now + Duration::from_nanos(t.0 - now.0)
    } else {
        wall_now - Duration::from_nanos(now.0 - t.0)
    }
}

impl FlyStore<'_> {
    /// A fly was made or changed: copy what the blacklist holds for it now
    /// into the map (if it belongs there). The blacklist's state, not the
    /// event, decides: an event that arrives after the operator freed the
    /// fly re-adds nothing, and a shorter lock-out never overwrites a
    /// longer one.
    pub fn added(&self, e: &FlyEntry) -> Result<(), String> {
        let Some(p) = self.prog else { return Ok(()) };
        let now = Nanos(crate::sys::monotonic_ns());
        match self.shared.blacklist.get(e.addr, now) {
            Some(cur) if in_kernel(&cur) => p
                .set_fly(cur.addr.0, cur.expires.0)
                .map_err(|err| format!("{}: not copied to the XDP program ({err})", cur.target())),
            _ => Ok(()),
        }
    }

    /// A fly left the blacklist (evicted, expired, freed): take it out of
    /// the map, unless the blacklist holds that key again by now (then the
    /// map gets what it holds).
    pub fn removed(&self, e: &FlyEntry) {
        if self.prog.is_none() {
            return;
        }
        let now = Nanos(crate::sys::monotonic_ns());
        match self.shared.blacklist.get(e.addr, now) {
            Some(cur) if in_kernel(&cur) => {
                let _ = self.added(&cur);
            }
            _ => {
                if let Some(p) = self.prog {
                    let _ = p.remove_fly(e.addr.0);
                }
            }
        }
    }

    /// Make the map hold exactly the in-kernel flies of the blacklist.
    /// Returns (added, removed).
    pub fn reconcile(&self, now: Nanos) -> (usize, usize) {
        let Some(p) = self.prog else { return (0, 0) };
        let want: std::collections::HashMap<u128, u64> = self
            .shared
            .blacklist
            .list(now)
            .into_iter()
            .filter(in_kernel)
            .map(|e| (e.addr.0, e.expires.0))
            .collect();
        let have = p.fly_keys();
        let mut removed = 0;
        for k in &have {
            if !want.contains_key(k) && p.remove_fly(*k).is_ok() {
                removed += 1;
            }
        }
        let have: std::collections::HashSet<u128> = have.into_iter().collect();
        let missing: Vec<(u128, u64)> = want
            .iter()
            .filter(|(k, _)| !have.contains(k))
            .map(|(k, v)| (*k, *v))
            .collect();
        let added = if p.set_flies(&missing).is_ok() {
            missing.len()
        } else {
            0
        };
        (added, removed)
    }

    /// Free the fly `target` (an address, or a prefix: every fly inside
    /// it) belongs to. Returns the flies freed.
    pub fn free(&self, target: &str, now: Nanos) -> Result<Vec<FlyEntry>, String> {
        let bl = &self.shared.blacklist;
        let freed: Vec<FlyEntry> = match parse_target(target)? {
            Target::Addr(a) => bl.remove(a).into_iter().collect(),
            Target::Prefix(p) => bl
                .list(now)
                .into_iter()
                .filter(|e| p.contains(e.addr) && p.len128() <= e.len128())
                .filter_map(|e| bl.remove(e.addr))
                .collect(),
        };
        for e in &freed {
            self.removed(e);
        }
        if freed.is_empty() {
            return Err(format!("{target} is not a fly"));
        }
        Ok(freed)
    }

    /// An operator's block of `target` for `lockout`: an address (its fly
    /// prefix: an IPv6 address blocks its /64), or a prefix, which is one
    /// fly per fly prefix inside it (at most [`MAX_BLOCK`] of them: a
    /// /24 of IPv4, a /52 of IPv6 with the default prefixes). Returns the
    /// flies, the first with the prefix's start.
    pub fn block(&self, target: &str, lockout: Nanos, now: Nanos) -> Result<Vec<FlyEntry>, String> {
        let bl = &self.shared.blacklist;
        let p = bl.prefix();
        let (start, count) = match parse_target(target)? {
            Target::Addr(a) => (bl.key(a), 1u64),
            Target::Prefix(pr) => {
                let fly = p.len_of(pr.addr());
                let len = if pr.addr().is_v4() {
                    pr.len128() - 96
                } else {
                    pr.len128()
                };
                let bits = u32::from(fly.saturating_sub(len));
                if bits > MAX_BLOCK.trailing_zeros() {
                    return Err(format!(
                        "{target}: a block takes at most {MAX_BLOCK} flies of /{fly} (trap.prefix_v4/v6); for a wider range use filter.bogon_src_extra and reload"
                    ));
                }
                (bl.key(pr.addr()), 1u64 << bits)
            }
        };
        let full = if start.is_v4() {
            128 - 96 - u32::from(p.v4)
        } else {
            128 - u32::from(p.v6)
        };
        let mut blocked = Vec::new();
        for i in 0..count {
            let key = Addr(start.0 + (u128::from(i) << full));
            let e = FlyEntry {
                addr: key,
                prefix: p.len_of(key),
                reason: Reason::Fly,
                proto: None,
                port: 0,
                proven: false,
                first_seen: now,
                expires: now + lockout,
            };
            let stored = match bl.insert(e, now) {
                Insert::Full => return Err("the blacklist is full of blocks".into()),
                Insert::Evicted(old) => {
                    self.removed(&old);
                    e
                }
                Insert::Added => e,
                Insert::Updated => bl.get(key, now).unwrap_or(e),
            };
            self.added(&stored)?;
            blocked.push(stored);
        }
        Ok(blocked)
    }

    /// Free every fly. Returns how many there were.
    pub fn flush(&self) -> usize {
        let n = self.shared.blacklist.clear();
        if let Some(p) = self.prog {
            let _ = p.clear_flies();
        }
        n
    }
}

enum Target {
    Addr(Addr),
    Prefix(Prefix),
}

fn parse_target(s: &str) -> Result<Target, String> {
    if s.contains('/') {
        s.parse::<Prefix>()
            .map(Target::Prefix)
            .map_err(|e| format!("{s}: {e}"))
    } else {
        s.parse::<Addr>()
            .map(Target::Addr)
            .map_err(|_| format!("{s}: not an IPv4 or IPv6 address or prefix"))
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::filter::{Policy, Proto};

    fn shared() -> Shared {
        let mut p = Policy::default();
        p.tables.flies = 1024;
        Shared::new(&p, 1)
    }

    fn fly(a: &str, now: Nanos) -> FlyEntry {
        FlyEntry {
            addr: a.parse().unwrap(),
            prefix: 32,
            reason: Reason::Trap,
            proto: Some(Proto::Tcp),
            port: 139,
            proven: false,
            first_seen: now,
            expires: now + Nanos::from_secs(100),
        }
    }

    #[test]
    fn free_block_and_flush_in_the_blacklist() {
        let s = shared();
        let st = FlyStore {
            shared: &s,
            prog: None,
        };
        let now = Nanos::from_secs(10);
        s.blacklist.insert(fly("203.0.113.1", now), now);
        s.blacklist.insert(fly("203.0.113.2", now), now);
        s.blacklist.insert(fly("198.51.100.7", now), now);
        let freed = st.free("203.0.113.1", now).unwrap();
        assert_eq!(freed.len(), 1);
        assert!(st
            .free("203.0.113.1", now)
            .unwrap_err()
            .contains("is not a fly"));
        let freed = st.free("203.0.113.0/24", now).unwrap();
        assert_eq!(freed[0].addr, "203.0.113.2".parse().unwrap());
        assert!(st.free("bogus", now).is_err());
        // Blocks: an address, an IPv6 address (its /64), not a wide prefix.
        let b = st.block("203.0.113.9", Nanos::from_secs(60), now).unwrap()[0];
        assert_eq!(
            (b.class(), b.expires),
            (Class::Operator, Nanos::from_secs(70))
        );
        let b6 = st
            .block("2001:db8:0:7::5", Nanos::from_secs(60), now)
            .unwrap()[0];
        assert_eq!(b6.target(), "2001:db8:0:7::/64");
        assert!(s.blacklist.is_fly("2001:db8:0:7::99".parse().unwrap(), now));
        // A prefix: one fly per fly prefix inside it, up to 256.
        let all = st
            .block("198.51.100.0/24", Nanos::from_secs(60), now)
            .unwrap();
        assert_eq!(all.len(), 256);
        assert_eq!(all[0].addr, "198.51.100.0".parse().unwrap());
        assert_eq!(all[255].addr, "198.51.100.255".parse().unwrap());
        assert!(s.blacklist.is_fly("198.51.100.77".parse().unwrap(), now));
        assert!(!s.blacklist.is_fly("198.51.101.1".parse().unwrap(), now));
        let v6 = st
            .block("2001:db8:0:100::/56", Nanos::from_secs(60), now)
            .unwrap();
        assert_eq!(v6.len(), 256);
        assert_eq!(v6[1].target(), "2001:db8:0:101::/64");
        assert!(s
            .blacklist
            .is_fly("2001:db8:0:1ff::1".parse().unwrap(), now));
        assert!(st
            .block("203.0.112.0/23", Nanos::from_secs(60), now)
            .unwrap_err()
            .contains("at most 256 flies"));
        assert_eq!(
            st.block("2001:db8:0:8::/64", Nanos::from_secs(60), now)
                .unwrap()
                .len(),
            1
        );
        // free of the prefix frees them all.
        assert_eq!(st.free("198.51.100.0/24", now).unwrap().len(), 256);
        assert_eq!(st.flush(), 3 + 256);
        assert!(s.blacklist.list(now).is_empty());
    }

    #[test]
    fn wall_clock_of_monotonic_instants() {
        let w = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let now = Nanos::from_secs(500);
        assert_eq!(
            wall(Nanos::from_secs(560), now, w),
            w + Duration::from_secs(60)
        );
        assert_eq!(
            wall(Nanos::from_secs(440), now, w),
            w - Duration::from_secs(60)
        );
    }
}

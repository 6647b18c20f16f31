//! A keyed hash for addresses and flow keys.
//!
//! Every per-source table is indexed by this hash. It is keyed with a secret
//! seed so that an attacker who chooses source addresses cannot choose which
//! set or slot they land in (and so cannot aim evictions at one victim).
//! The mixing is the folded 64x64->128 multiply used by fast keyed hashes;
//! it is not a MAC, but without the key the set index is unpredictable.

/// A seeded hasher for 128-bit keys.
#[derive(Clone, Copy, Debug)]
pub struct SeededHash {
    k0: u64,
    k1: u64,
    k2: u64,
}

#[inline(always)]
const fn fold_mul(a: u64, b: u64) -> u64 {
    let r = (a as u128).wrapping_mul(b as u128);
    (r as u64) ^ ((r >> 64) as u64)
}

/// splitmix64: expands one seed into independent key words.
const fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl SeededHash {
    pub const fn new(seed: u64) -> SeededHash {
        let k0 = splitmix(seed);
        let k1 = splitmix(k0);
        let k2 = splitmix(k1);
        // Odd multipliers keep the multiply a bijection on each half.
        SeededHash {
            k0: k0 | 1,
            k1: k1 | 1,
            k2,
        }
    }

    /// Hash a 128-bit key (an address).
    #[inline(always)]
    pub fn hash128(&self, x: u128) -> u64 {
        let lo = x as u64;
        let hi = (x >> 64) as u64;
        let h = fold_mul(lo ^ self.k2, self.k0) ^ fold_mul(hi ^ self.k2.rotate_left(32), self.k1);
        fold_mul(h, 0x9e37_79b9_7f4a_7c15)
    }

    /// The hash of a flow between `(a, pa)` and `(b, pb)` from its two
    /// addresses' hashes (`hash128`, possibly of another keyed hasher), so
    /// that a frame hashes each address once for the blacklist, its
    /// source's state and its flow. Symmetric: swapping the endpoints gives
    /// the same hash, so both directions find one entry. Each port is mixed
    /// into its own address's hash first.
    #[inline(always)]
    pub fn flow_of(&self, ha: u64, pa: u16, hb: u64, pb: u16, proto: u8) -> u64 {
        let ea = ha ^ (u64::from(pa) + 1).wrapping_mul(self.k0);
        let eb = hb ^ (u64::from(pb) + 1).wrapping_mul(self.k0);
        let h = ea.wrapping_add(eb) ^ (u64::from(proto) << 56) ^ self.k2;
        fold_mul(h, 0xff51_afd7_ed55_8ccd)
    }
}

/// A seed from the operating system's randomness (via std's randomly keyed
/// SipHash), for the data path; replay and tests pass a fixed seed.
pub fn random_seed() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(0x666c_7970_6170_6572_u64)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn seed_changes_every_hash() {
        let a = SeededHash::new(1);
        let b = SeededHash::new(2);
        let differ = (0u128..1000)
            .filter(|x| a.hash128(*x) != b.hash128(*x))
            .count();
        assert_eq!(differ, 1000);
        assert_eq!(
            a.hash128(42),
            SeededHash::new(1).hash128(42),
            "deterministic per seed"
        );
    }

    #[test]
    fn sequential_addresses_spread_over_sets() {
        // 4096 consecutive IPv4 addresses into 256 buckets: no bucket may be
        // badly overloaded (expected 16 each).
        let h = SeededHash::new(7);
        let mut buckets = [0u32; 256];
        for i in 0..4096u128 {
            buckets[(h.hash128(0xffff_c633_6400 + i) & 255) as usize] += 1;
        }
        assert!(buckets.iter().all(|&n| n < 40), "{buckets:?}");
    }

    #[test]
    fn random_seeds_differ() {
        assert_ne!(random_seed(), random_seed());
    }
}

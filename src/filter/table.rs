//! A bounded, set-associative table for per-source and per-flow state
//! (the IPv6 tables; IPv4 flows and sources have one-line sets of their
//! own, `flows.rs` and `sources.rs`).
//!
//! Memory is allocated once, at start-up, for exactly `sets * WAYS` entries,
//! and never grows: a flood of new keys (spoofed random sources) evicts
//! instead. A key hashes (with the seeded hash) to one set of `WAYS` entries;
//! lookup scans that set. On a miss, the new key takes a free entry of the
//! set, else an entry the caller says is dead (expired), else the entry with
//! the lowest eviction rank the caller gives (for example: half-open flows
//! before established ones, then the one closest to expiring), like
//! `xt_recent` evicting its oldest entry.
//!
//! hashbrown's map was the first candidate; it cannot serve here without a
//! side structure: it grows on insert, and finding an entry to evict when it
//! is full needs an LRU list beside it. A set-associative array gives both
//! bounds (memory and work per frame) by construction.

use crate::sys::mem::huge_slice;

/// Entries per set.
pub const WAYS: usize = 4;

/// A tag of 0 marks a free entry; live entries carry the low half of their
/// hash with bit 0 set, so a lookup compares 16 bytes of tags (one cache
/// line holds four sets' worth) and touches only the entry that matches.
const FREE: u32 = 0;

#[inline(always)]
fn tag_of(hash: u64) -> u32 {
    hash as u32 | 1
}

/// One entry, aligned to a cache line: an entry of up to 64 bytes (a flow,
/// a source) costs one line to read, never two.
#[derive(Clone, Copy, Default)]
#[repr(align(64))]
struct Slot<K, V>(K, V);

pub struct BoundedTable<K, V> {
    tags: Box<[[u32; WAYS]]>,
    slots: Box<[Slot<K, V>]>,
    set_mask: usize,
    len: usize,
    evictions: u64,
}

/// What `entry` found.
pub enum Found<'a, V> {
    /// The key was present.
    Hit(&'a mut V),
    /// The key was absent; this is a free (or reclaimed) entry now holding it.
    Inserted(&'a mut V),
}

impl<K: Copy + Eq + Default, V: Copy + Default> BoundedTable<K, V> {
    /// A table of at least `capacity` entries (rounded up to a power of two
    /// number of sets of `WAYS` entries).
    pub fn new(capacity: usize) -> BoundedTable<K, V> {
        let sets = capacity.div_ceil(WAYS).max(1).next_power_of_two();
        BoundedTable {
            tags: huge_slice(sets, [FREE; WAYS]),
            slots: huge_slice(sets * WAYS, Slot(K::default(), V::default())),
            set_mask: sets - 1,
            len: 0,
            evictions: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Entries in use (including ones that have expired but not been reclaimed).
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Live entries evicted to make room for new keys.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }

    #[inline(always)]
    fn set(&self, hash: u64) -> usize {
        // The high half picks the set; the low half is the tag.
        (hash >> 32) as usize & self.set_mask
    }

    #[inline(always)]
    fn find(&self, set: usize, tag: u32, key: &K) -> Option<usize> {
        let tags = &self.tags[set];
        (0..WAYS).find(|&i| tags[i] == tag && self.slots[set * WAYS + i].0 == *key)
    }

    /// Stage one of a batched lookup: start loading the set's tags.
    #[inline(always)]
    pub fn prefetch_tags(&self, hash: u64) {
        crate::sys::prefetch::prefetch(&self.tags[self.set(hash)]);
    }

    /// Stage two: read the (now cached) tags and start loading the entry
    /// whose tag matches, if any; on a miss, the whole set, which an
    /// insertion ranks.
    #[inline(always)]
    pub fn prefetch_entry(&self, hash: u64) {
        let set = self.set(hash);
        let tag = tag_of(hash);
        match self.tags[set].iter().position(|t| *t == tag) {
            Some(i) => prefetch_slot(&self.slots[set * WAYS + i]),
            None => {
                for slot in &self.slots[set * WAYS..set * WAYS + WAYS] {
                    prefetch_slot(slot);
                }
            }
        }
    }

    /// The first entry of `hash`'s set whose key `matches` accepts, with
    /// what it said.
    #[inline(always)]
    pub fn position<R>(&self, hash: u64, matches: impl Fn(&K) -> Option<R>) -> Option<(usize, R)> {
        let set = self.set(hash);
        let tag = tag_of(hash);
        let tags = &self.tags[set];
        (0..WAYS).find_map(|i| {
            if tags[i] != tag {
                return None;
            }
            let at = set * WAYS + i;
            matches(&self.slots[at].0).map(|r| (at, r))
        })
    }

    /// Overwrite the key and value at an index `position` returned for the
    /// same hash.
    #[inline]
    pub fn replace(&mut self, index: usize, key: K, value: V) {
        self.slots[index] = Slot(key, value);
    }

    /// The value at an index `position` gave (read-only); valid
    /// until the next insertion or removal.
    #[inline]
    pub fn at(&self, index: usize) -> &V {
        &self.slots[index].1
    }

    /// The value at an index `position` gave.
    #[inline]
    pub fn at_mut(&mut self, index: usize) -> &mut V {
        &mut self.slots[index].1
    }

    /// Look a key up.
    #[inline]
    pub fn get_mut(&mut self, hash: u64, key: &K) -> Option<&mut V> {
        let set = self.set(hash);
        let i = self.find(set, tag_of(hash), key)?;
        Some(&mut self.slots[set * WAYS + i].1)
    }

    /// Look a key up, inserting it with `V::default()` if absent.
    ///
    /// `rank(v)` orders eviction candidates when the set is full: `None`
    /// means the entry is dead and may be reused without counting an
    /// eviction; otherwise the lowest rank is evicted.
    #[inline]
    pub fn entry(&mut self, hash: u64, key: K, rank: impl Fn(&V) -> Option<u64>) -> Found<'_, V> {
        let set = self.set(hash);
        let tag = tag_of(hash);
        if let Some(i) = self.find(set, tag, &key) {
            return Found::Hit(&mut self.slots[set * WAYS + i].1);
        }
        Found::Inserted(self.insert_cold(set, tag, key, rank))
    }

    /// Insert a key the caller has just failed to find (with `position`),
    /// without the lookup `entry` would repeat; `rank` as for `entry`.
    #[inline]
    pub fn insert_absent(&mut self, hash: u64, key: K, rank: impl Fn(&V) -> Option<u64>) -> &mut V {
        self.insert_cold(self.set(hash), tag_of(hash), key, rank)
    }

    #[inline(never)]
    fn insert_cold(
        &mut self,
        set: usize,
        tag: u32,
        key: K,
        rank: impl Fn(&V) -> Option<u64>,
    ) -> &mut V {
        let base = set * WAYS;
        let i = claim(
            WAYS,
            |i| (self.tags[set][i] != FREE).then(|| rank(&self.slots[base + i].1)),
            &mut self.len,
            &mut self.evictions,
        );
        self.tags[set][i] = tag;
        self.slots[base + i] = Slot(key, V::default());
        &mut self.slots[base + i].1
    }

    /// Remove a key; returns whether it was present.
    pub fn remove(&mut self, hash: u64, key: &K) -> bool {
        let set = self.set(hash);
        match self.find(set, tag_of(hash), key) {
            Some(i) => {
                self.tags[set][i] = FREE;
                self.len -= 1;
                true
            }
            None => false,
        }
    }

    /// Keep only the entries `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) {
        for (set, tags) in self.tags.iter_mut().enumerate() {
            for (i, t) in tags.iter_mut().enumerate() {
                let Slot(k, v) = &self.slots[set * WAYS + i];
                if *t != FREE && !keep(k, v) {
                    *t = FREE;
                    self.len -= 1;
                }
            }
        }
    }

    pub fn clear(&mut self) {
        for t in self.tags.iter_mut() {
            *t = [FREE; WAYS];
        }
        self.len = 0;
    }

    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.tags
            .iter()
            .flat_map(|t| t.iter())
            .zip(self.slots.iter())
            .filter(|(t, _)| **t != FREE)
            .map(|(_, Slot(k, v))| (k, v))
    }
}

/// How many sets of `ways` hold `capacity` entries, for tables whose set
/// count need not be a power of two (`scaled_set` picks one).
pub(crate) fn sets_for(capacity: usize, ways: usize) -> usize {
    capacity.div_ceil(ways).clamp(1, u32::MAX as usize)
}

/// The set of `sets` a hash picks: its high half scaled by multiply-shift
/// (the low half is the tag in `BoundedTable`).
#[inline(always)]
pub(crate) fn scaled_set(hash: u64, sets: usize) -> usize {
    (((hash >> 32) * sets as u64) >> 32) as usize
}

/// The way of a set of `ways` that an insertion takes. `way(i)` says what
/// way `i` holds: `None` if it is free, `Some(None)` if its entry is dead
/// (reuse it without an eviction), `Some(Some(rank))` if it is live. The
/// first free or dead way is taken, else the live one of lowest rank (the
/// first of equals), counting an eviction. `len` counts a way that was free.
#[inline]
pub(crate) fn claim(
    ways: usize,
    way: impl Fn(usize) -> Option<Option<u64>>,
    len: &mut usize,
    evictions: &mut u64,
) -> usize {
    let mut victim = 0;
    let mut victim_rank = u64::MAX;
    for i in 0..ways {
        match way(i) {
            None => {
                *len += 1;
                return i;
            }
            Some(None) => return i,
            Some(Some(r)) if r < victim_rank => {
                victim = i;
                victim_rank = r;
            }
            Some(Some(_)) => {}
        }
    }
    *evictions += 1;
    victim
}

/// Start loading every line of a slot (one, for entries up to 64 bytes).
#[inline(always)]
fn prefetch_slot<T>(slot: &T) {
    let start = (slot as *const T).cast::<u8>();
    let mut off = 0;
    while off < std::mem::size_of::<T>() {
        crate::sys::prefetch::prefetch(start.wrapping_add(off));
        off += 64;
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::filter::hash::SeededHash;

    fn put(t: &mut BoundedTable<u64, u64>, h: &SeededHash, k: u64, v: u64) {
        match t.entry(h.hash128(k as u128), k, |v| Some(*v)) {
            Found::Hit(x) | Found::Inserted(x) => *x = v,
        }
    }

    #[test]
    fn insert_lookup_remove() {
        let h = SeededHash::new(3);
        let mut t: BoundedTable<u64, u64> = BoundedTable::new(64);
        put(&mut t, &h, 5, 50);
        assert_eq!(t.get_mut(h.hash128(5), &5).copied(), Some(50));
        assert!(matches!(
            t.entry(h.hash128(5), 5, |_| Some(0)),
            Found::Hit(_)
        ));
        assert_eq!(t.len(), 1);
        assert!(t.remove(h.hash128(5), &5));
        assert!(!t.remove(h.hash128(5), &5));
        assert_eq!(t.get_mut(h.hash128(5), &5), None);
        assert!(t.is_empty());
    }

    #[test]
    fn a_flood_never_grows_the_table() {
        let h = SeededHash::new(9);
        let mut t: BoundedTable<u64, u64> = BoundedTable::new(1024);
        let cap = t.capacity();
        for k in 0..100_000u64 {
            put(&mut t, &h, k, k);
            assert!(t.len() <= cap);
        }
        assert_eq!(t.len(), cap);
        assert!(t.evictions() >= 100_000 - cap as u64);
        // The most recent keys survive, evicted in rank (= value) order.
        assert_eq!(t.get_mut(h.hash128(99_999), &99_999).copied(), Some(99_999));
    }

    #[test]
    fn eviction_takes_the_lowest_rank_and_reuses_dead_entries_first() {
        let h = SeededHash::new(1);
        let mut t: BoundedTable<u64, u64> = BoundedTable::new(WAYS); // one set
        for k in 0..WAYS as u64 {
            put(&mut t, &h, k, 10 + k);
        }
        // Key 0 has the lowest rank (10): it goes first.
        put(&mut t, &h, 100, 100);
        assert_eq!(t.get_mut(h.hash128(0), &0), None);
        assert_eq!(t.evictions(), 1);
        // A dead entry (rank None) is reused without an eviction.
        match t.entry(
            h.hash128(200),
            200,
            |v| if *v == 12 { None } else { Some(*v) },
        ) {
            Found::Inserted(v) => *v = 200,
            Found::Hit(_) => panic!("200 was not present"),
        }
        assert_eq!(t.get_mut(h.hash128(2), &2), None);
        assert_eq!(t.evictions(), 1);
        assert_eq!(t.len(), WAYS);
    }

    #[test]
    fn retain_and_clear() {
        let h = SeededHash::new(1);
        let mut t: BoundedTable<u64, u64> = BoundedTable::new(256);
        for k in 0..100 {
            put(&mut t, &h, k, k);
        }
        let before = t.len();
        t.retain(|_, v| v % 2 == 0);
        assert_eq!(t.iter().count(), t.len());
        assert!(t.iter().all(|(k, v)| v % 2 == 0 && k == v));
        assert!(t.len() < before);
        t.clear();
        assert_eq!(t.iter().count(), 0);
    }
}

//! Prefix lookups that cost the same for ten prefixes as for a full bogon
//! list: a poptrie (Asai and Ohara, "Poptrie: A Compressed Trie with
//! Population Count for Fast and Scalable Software IP Routing Table Lookup",
//! SIGCOMM 2015) per address family.
//!
//! **Shape.** The prefixes are first cut into disjoint, sorted address
//! ranges, each labelled with the longest prefix that covers it (or with
//! "none"). The trie indexes those ranges: a direct table on the first 8 or
//! 16 bits (8 for small sets, so that ten prefixes cost one 1 KiB table),
//! then nodes of stride 6. A node is two 64-bit maps and two offsets: bit
//! *j* of `vector` says that slot *j* is another node, bit *j* of `leafvec`
//! that a new run of equal labels starts at slot *j*; the child or label is
//! found at the node's offset plus the population count of the bits below
//! *j*. A slot whose whole address range carries one label is a leaf, so a
//! lookup stops at the first level where its range no longer splits.
//!
//! A node whose block holds all its boundaries in one much smaller aligned
//! sub-block (a long prefix alone in a wide block) is a *skip* instead: one
//! compare of the key's leading bits with the sub-block's, then on at the
//! sub-block's depth, rather than a chain of one-child nodes.
//!
//! **Cost.** A lookup is one top-table read and then one 24-byte node (or
//! 64-byte skip) per 6 bits until the address's range stops splitting: IPv4
//! at most 3 nodes after a 16-bit top table (bits 16..32), IPv6 at most a few
//! levels where the prefixes branch, the lone stretches between them
//! skipped. No search, no loop over prefixes.
//!
//! **Memory.** The top table is 1 KiB (8 bits) or 256 KiB (16 bits, used from
//! [`WIDE_TOP`] ranges up) per family. Below it, each range boundary (at
//! most two per prefix) lies in one block per level, so there are at most
//! `2 * prefixes * levels` nodes and skips (levels: 3 for IPv4, 19 for
//! IPv6), and a node stores a label only where the labels change, at most
//! one more than the boundaries and children in its block. Measured with
//! `memory_bytes` in the filter bench (`cargo bench --bench filter --
//! --prefixes`, release build): 10 prefixes take 2 KiB and no time to
//! build; 65,546 IPv4 prefixes (half of them /32s) 1.9 MB, built in
//! 13-20 ms; 100,010 IPv6 (random /19../64 in 2000::/3) plus 5,000 IPv4
//! prefixes 8.7 MB, built in 43-90 ms (on a loaded 2-core VM).
//!
//! **IPv4.** Addresses are 128-bit with IPv4 stored IPv4-mapped
//! (`::ffff:a.b.c.d`), and a lookup answers exactly what
//! [`Prefix::contains`] answers on that 128-bit form. IPv4-mapped addresses
//! are looked up in the IPv4 trie (32-bit keys); every other address in the
//! IPv6 trie. A prefix shorter than /96 either covers the whole mapped block
//! (`::/0`, `::/80`) and then also covers every IPv4 address, or misses it
//! entirely; a prefix of /96 or longer inside the block is an IPv4 prefix.

use crate::addr::Addr;
use crate::filter::policy::Prefix;

/// Ranges from which the top table indexes 16 bits instead of 8.
pub const WIDE_TOP: usize = 256;

/// Label of a range no prefix covers.
const NONE: u32 = u32::MAX >> 1;
/// Top-table entries with this bit set are node indices, others labels.
const IS_NODE: u32 = 1 << 31;
const STRIDE: u32 = 6;

/// The IPv4-mapped block `::ffff:0:0/96`.
const MAPPED: u128 = 0xffff_0000_0000;

#[derive(Clone, Copy, Debug, Default)]
struct Node {
    /// Bit j: slot j is a child node (at `base1` + rank among set bits).
    vector: u64,
    /// Bit j: slot j is a leaf whose label differs from the previous leaf's
    /// (stored at `base0` + rank among set bits).
    leafvec: u64,
    base0: u32,
    base1: u32,
}

/// A node whose block holds all its range boundaries in one much smaller
/// aligned sub-block (a long prefix alone in a wide block): instead of a
/// chain of nodes with one child each, compare the key's first `depth` bits
/// with the sub-block's once. Stored as a `Node` with both maps zero (no real
/// node has that) whose `base0` indexes `Trie::skips`.
#[derive(Clone, Copy, Debug)]
struct Skip {
    /// The sub-block's first address.
    pattern: u128,
    /// Its depth: the node `child` continues at this bit.
    depth: u32,
    /// Labels of the block's addresses before and after the sub-block.
    below: u32,
    above: u32,
    /// The node of the sub-block (kept here: one load less).
    child: Node,
}

/// Rank of bit `j` among the set bits of `map` at or below it, minus one.
#[inline(always)]
fn rank(map: u64, j: u32) -> u32 {
    let upto = (2u64 << j).wrapping_sub(1); // bits 0..=j (all for j = 63)
    (map & upto).count_ones() - 1
}

/// One family's trie over 128-bit, left-aligned keys (an IPv4 key is the
/// address shifted up by 96).
#[derive(Clone, Debug)]
struct Trie {
    top_bits: u32,
    top: Box<[u32]>,
    nodes: Vec<Node>,
    leaves: Vec<u32>,
    skips: Vec<Skip>,
}

impl Trie {
    /// From disjoint ranges: `starts` sorted ascending with `starts[0] == 0`,
    /// range `i` is `starts[i]..starts[i + 1]` and carries `labels[i]`.
    fn build(starts: &[u128], labels: &[u32]) -> Trie {
        debug_assert!(starts.first() == Some(&0) && starts.len() == labels.len());
        let top_bits = if starts.len() >= WIDE_TOP { 16 } else { 8 };
        let mut t = Trie {
            top_bits,
            top: vec![0; 1 << top_bits].into_boxed_slice(),
            nodes: Vec::new(),
            leaves: Vec::new(),
            skips: Vec::new(),
        };
        let width = 128 - top_bits;
        let mut i = 0;
        let mut pending = Vec::new();
        for j in 0..1u128 << top_bits {
            let lo = j << width;
            let hi = lo | ((1u128 << width) - 1);
            while i + 1 < starts.len() && starts[i + 1] <= lo {
                i += 1;
            }
            if i + 1 < starts.len() && starts[i + 1] <= hi {
                t.top[j as usize] = IS_NODE | t.nodes.len() as u32;
                t.nodes.push(Node::default());
                pending.push((t.nodes.len() - 1, lo, i));
            } else {
                t.top[j as usize] = labels[i];
            }
        }
        for (at, lo, i) in pending {
            t.nodes[at] = t.node(starts, labels, top_bits, lo, i);
        }
        t.nodes.shrink_to_fit();
        t.leaves.shrink_to_fit();
        t.skips.shrink_to_fit();
        t
    }

    /// The node for the block of `2^(128 - depth)` addresses from `base`,
    /// where range `i` contains `base`. Allocates its children contiguously,
    /// then fills them.
    fn node(&mut self, starts: &[u128], labels: &[u32], depth: u32, base: u128, i: usize) -> Node {
        // The block's boundaries are `starts[i + 1..=k]`: between the address
        // before the first and the last, the two differ first at bit `sub`.
        let block_hi = base | (u128::MAX >> depth);
        let k = starts.partition_point(|s| *s <= block_hi) - 1;
        let (x, y) = (starts[i + 1] - 1, starts[k]);
        let sub = (x ^ y).leading_zeros();
        if sub >= depth + STRIDE {
            // Every boundary is in the sub-block of depth `sub` holding x and
            // y: skip the levels down to it.
            let pattern = x & !(u128::MAX >> sub);
            let mut c = i;
            while starts[c + 1] <= pattern {
                c += 1;
            }
            let child = self.node(starts, labels, sub, pattern, c);
            self.skips.push(Skip {
                pattern,
                depth: sub,
                below: labels[i],
                above: labels[k],
                child,
            });
            return Node {
                base0: self.skips.len() as u32 - 1,
                ..Node::default()
            };
        }
        let stride = STRIDE.min(128 - depth);
        let width = 128 - depth - stride;
        let size = if width == 128 { 0 } else { 1u128 << width };
        let mut n = Node {
            base0: self.leaves.len() as u32,
            base1: 0,
            ..Node::default()
        };
        let mut children = Vec::new();
        let mut last = None;
        let mut i = i;
        for j in 0..1u32 << stride {
            let lo = base + u128::from(j) * size;
            let hi = lo + (size - 1);
            while i + 1 < starts.len() && starts[i + 1] <= lo {
                i += 1;
            }
            if i + 1 < starts.len() && starts[i + 1] <= hi {
                n.vector |= 1 << j;
                children.push((lo, i));
            } else if last != Some(labels[i]) {
                n.leafvec |= 1 << j;
                self.leaves.push(labels[i]);
                last = Some(labels[i]);
            }
        }
        n.base1 = self.nodes.len() as u32;
        self.nodes
            .resize(self.nodes.len() + children.len(), Node::default());
        for (k, (lo, i)) in children.into_iter().enumerate() {
            let child = self.node(starts, labels, depth + stride, lo, i);
            self.nodes[n.base1 as usize + k] = child;
        }
        n
    }

    /// The label of the range holding `key` (left-aligned): `top` is its
    /// top-table index, `slot(depth, stride)` extracts `stride` bits of it
    /// from bit `depth` on.
    #[inline(always)]
    fn lookup(&self, key: u128, top: usize, slot: impl Fn(u32, u32) -> u32) -> u32 {
        let t = self.top[top];
        if t & IS_NODE == 0 {
            return t;
        }
        let mut n = self.nodes[(t & !IS_NODE) as usize];
        let mut depth = self.top_bits;
        loop {
            if n.vector | n.leafvec == 0 {
                let s = &self.skips[n.base0 as usize];
                let k = key & !(u128::MAX >> s.depth);
                if k != s.pattern {
                    return if k < s.pattern { s.below } else { s.above };
                }
                n = s.child;
                depth = s.depth;
            }
            let stride = STRIDE.min(128 - depth);
            let j = slot(depth, stride);
            if n.vector & (1 << j) != 0 {
                n = self.nodes[(n.base1 + rank(n.vector, j)) as usize];
                depth += stride;
            } else {
                return self.leaves[(n.base0 + rank(n.leafvec, j)) as usize];
            }
        }
    }

    #[inline(always)]
    fn lookup_v4(&self, a: u32) -> u32 {
        let top = (a >> (32 - self.top_bits)) as usize;
        // Nodes below bit 32 are never built for IPv4 keys (every range
        // boundary is a multiple of 2^96), so `depth` stays below 32.
        self.lookup(u128::from(a) << 96, top, |depth, stride| {
            ((u64::from(a) << (32 + depth)) >> (64 - stride)) as u32 & 63
        })
    }

    #[inline(always)]
    fn lookup_v6(&self, a: u128) -> u32 {
        let top = (a >> (128 - self.top_bits)) as usize;
        self.lookup(a, top, |depth, stride| {
            ((a << depth) >> (128 - stride)) as u32
        })
    }

    fn memory_bytes(&self) -> usize {
        self.top.len() * 4
            + self.nodes.capacity() * std::mem::size_of::<Node>()
            + self.leaves.capacity() * 4
            + self.skips.capacity() * std::mem::size_of::<Skip>()
    }
}

/// A prefix placed in one family's key space.
struct Placed {
    start: u128,
    end: u128,
    len128: u8,
    label: u32,
}

/// Split `prefixes` (with their labels) between the IPv4 and the IPv6 key
/// space, as `Prefix::contains` on 128-bit addresses would match them.
fn place(prefixes: impl Iterator<Item = (Prefix, u32)>) -> (Vec<Placed>, Vec<Placed>) {
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for (p, label) in prefixes {
        let len = p.len128();
        let addr = p.addr().0;
        // The host part of a prefix `len` bits long.
        let span = |len: u8| u128::MAX.checked_shr(u32::from(len)).unwrap_or(0);
        if len >= 96 && addr >> 32 == MAPPED >> 32 {
            // An IPv4 prefix: only IPv4-mapped addresses match it.
            let start = addr << 96;
            v4.push(Placed {
                start,
                end: start | span(len - 96),
                len128: len,
                label,
            });
            continue;
        }
        if len < 96 && p.contains(Addr(MAPPED)) {
            // Covers the whole mapped block, so every IPv4 address.
            v4.push(Placed {
                start: 0,
                end: u128::MAX,
                len128: len,
                label,
            });
        }
        v6.push(Placed {
            start: addr,
            end: addr | span(len),
            len128: len,
            label,
        });
    }
    (v4, v6)
}

/// Cut nested or overlapping prefixes into disjoint ranges labelled with the
/// longest covering prefix's label (`NONE` where none covers). Of equal
/// prefixes, the first one given wins.
fn ranges(mut ps: Vec<Placed>, relabel: impl Fn(u32) -> u32) -> (Vec<u128>, Vec<u32>) {
    // Outer prefixes before the ones they contain; equal ones keep their order.
    ps.sort_by(|a, b| {
        a.start
            .cmp(&b.start)
            .then(b.end.cmp(&a.end))
            .then(a.len128.cmp(&b.len128))
    });
    let mut starts = vec![0u128];
    let mut labels = vec![NONE];
    let mut emit = |start: u128, label: u32| {
        let n = starts.len();
        if starts[n - 1] == start {
            labels[n - 1] = label;
            if n >= 2 && labels[n - 2] == label {
                starts.pop();
                labels.pop();
            }
        } else if labels[n - 1] != label {
            starts.push(start);
            labels.push(label);
        }
    };
    let mut stack: Vec<(u128, u32)> = Vec::new(); // (end, label)
    let mut prev: Option<(u128, u128, u8)> = None;
    for p in &ps {
        if prev == Some((p.start, p.end, p.len128)) {
            continue; // a duplicate: the first one stays
        }
        prev = Some((p.start, p.end, p.len128));
        while let Some(&(end, _)) = stack.last() {
            if end >= p.start {
                break;
            }
            stack.pop();
            emit(end + 1, stack.last().map_or(NONE, |s| s.1));
        }
        let label = relabel(p.label);
        emit(p.start, label);
        stack.push((p.end, label));
    }
    while let Some((end, _)) = stack.pop() {
        if end != u128::MAX {
            emit(end + 1, stack.last().map_or(NONE, |s| s.1));
        }
    }
    (starts, labels)
}

/// Both families' tries.
#[derive(Clone, Debug)]
struct Tries {
    v4: Trie,
    v6: Trie,
}

impl Tries {
    fn build(prefixes: impl Iterator<Item = (Prefix, u32)>, relabel: impl Fn(u32) -> u32) -> Tries {
        let (v4, v6) = place(prefixes);
        let (s4, l4) = ranges(v4, &relabel);
        let (s6, l6) = ranges(v6, &relabel);
        Tries {
            v4: Trie::build(&s4, &l4),
            v6: Trie::build(&s6, &l6),
        }
    }

    #[inline(always)]
    fn label(&self, a: Addr) -> u32 {
        match a.v4() {
            Some(v4) => self.v4.lookup_v4(v4),
            None => self.v6.lookup_v6(a.0),
        }
    }

    fn memory_bytes(&self) -> usize {
        self.v4.memory_bytes() + self.v6.memory_bytes()
    }
}

/// Prefix membership: is an address in any of the prefixes?
#[derive(Clone, Debug)]
pub struct PrefixMatcher {
    tries: Tries,
}

impl PrefixMatcher {
    pub fn new<'a>(prefixes: impl IntoIterator<Item = &'a Prefix>) -> PrefixMatcher {
        let tries = Tries::build(prefixes.into_iter().map(|p| (*p, 0)), |_| 1);
        PrefixMatcher { tries }
    }

    #[inline]
    pub fn contains(&self, a: Addr) -> bool {
        self.tries.label(a) != NONE
    }

    /// `contains` for the address of an IPv4 header, given as the `u32`.
    #[inline]
    pub fn contains_v4(&self, v4: u32) -> bool {
        self.tries.v4.lookup_v4(v4) != NONE
    }

    /// Bytes of heap memory held.
    pub fn memory_bytes(&self) -> usize {
        self.tries.memory_bytes()
    }
}

/// Longest-prefix match: the most specific prefix holding an address, and
/// the value stored with it.
#[derive(Clone, Debug)]
pub struct PrefixTable<V> {
    entries: Vec<(Prefix, V)>,
    tries: Tries,
}

impl<V> PrefixTable<V> {
    /// Of prefixes given twice, the first one's value is kept.
    pub fn new(entries: impl IntoIterator<Item = (Prefix, V)>) -> PrefixTable<V> {
        let entries: Vec<(Prefix, V)> = entries.into_iter().collect();
        assert!(entries.len() < NONE as usize, "too many prefixes");
        let tries = Tries::build(
            entries.iter().enumerate().map(|(i, (p, _))| (*p, i as u32)),
            |l| l,
        );
        PrefixTable { entries, tries }
    }

    #[inline]
    pub fn longest_match(&self, a: Addr) -> Option<(Prefix, &V)> {
        let l = self.tries.label(a);
        self.entries
            .get(l as usize)
            .map(|(p, v)| (*p, v))
            .filter(|_| l != NONE)
    }

    #[inline]
    pub fn contains(&self, a: Addr) -> bool {
        self.tries.label(a) != NONE
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes of heap memory held by the tries (not counting the values).
    pub fn memory_bytes(&self) -> usize {
        self.tries.memory_bytes()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn u128(&mut self) -> u128 {
            (u128::from(self.next()) << 64) | u128::from(self.next())
        }
    }

    /// The naive answer: the longest prefix containing `a`, first one on ties.
    fn naive(ps: &[Prefix], a: Addr) -> Option<usize> {
        let mut best: Option<usize> = None;
        for (i, p) in ps.iter().enumerate() {
            if p.contains(a) && best.is_none_or(|b| p.len128() > ps[b].len128()) {
                best = Some(i);
            }
        }
        best
    }

    /// Prefixes of every kind: random, nested inside earlier ones, exact
    /// duplicates, and the edges.
    fn random_prefixes(rng: &mut Rng, n: usize) -> Vec<Prefix> {
        let mut ps: Vec<Prefix> = Vec::with_capacity(n);
        while ps.len() < n {
            let p = match rng.below(10) {
                0..=3 => Prefix::v4((rng.next() as u32).to_be_bytes(), rng.below(33) as u8),
                4..=6 => Prefix::v6(rng.u128(), rng.below(129) as u8),
                // Nested in (or equal to) an earlier prefix.
                7 | 8 if !ps.is_empty() => {
                    let q = ps[rng.below(ps.len() as u64) as usize];
                    let len = q.len128() + rng.below(u64::from(129 - q.len128()).min(12)) as u8;
                    let host = rng.u128()
                        & !(u128::MAX
                            .checked_shl(128 - u32::from(q.len128()))
                            .unwrap_or(0));
                    Prefix::new(Addr(q.addr().0 | host), len)
                }
                // Short IPv6 prefixes near the mapped block.
                _ => Prefix::v6(MAPPED << rng.below(3) as u32, rng.below(97) as u8),
            };
            ps.push(p);
        }
        ps
    }

    /// Addresses in, at the edges of and just outside the prefixes, and random.
    fn probes(rng: &mut Rng, ps: &[Prefix], n: usize) -> Vec<Addr> {
        let mut out = vec![
            Addr(0),
            Addr(u128::MAX),
            Addr(MAPPED),
            Addr(MAPPED - 1),
            Addr(MAPPED | 0xffff_ffff),
            Addr(MAPPED + (1 << 32)),
            Addr::from_v4(0x7f00_0001),
            Addr(1),
        ];
        for _ in 0..n {
            let a = match rng.below(6) {
                0 => Addr::from_v4(rng.next() as u32),
                1 => Addr(rng.u128()),
                _ if ps.is_empty() => Addr(rng.u128()),
                k => {
                    let p = ps[rng.below(ps.len() as u64) as usize];
                    let host = u128::MAX.checked_shr(u32::from(p.len128())).unwrap_or(0);
                    match k {
                        2 => Addr(p.addr().0),
                        3 => Addr(p.addr().0 | host),
                        4 => Addr((p.addr().0 | host).wrapping_add(1)),
                        _ => Addr(p.addr().0 | (rng.u128() & host)),
                    }
                }
            };
            out.push(a);
        }
        out
    }

    fn check(ps: &[Prefix], probes: &[Addr]) {
        let m = PrefixMatcher::new(ps);
        let t = PrefixTable::new(ps.iter().enumerate().map(|(i, p)| (*p, i)));
        for &a in probes {
            let want = naive(ps, a);
            assert_eq!(
                m.contains(a),
                want.is_some(),
                "{a} in {} prefixes",
                ps.len()
            );
            if let Some(v4) = a.v4() {
                assert_eq!(m.contains_v4(v4), want.is_some(), "{a}");
            }
            let got = t.longest_match(a).map(|(p, i)| (p, *i));
            assert_eq!(got, want.map(|i| (ps[i], i)), "{a} in {ps:?}");
        }
    }

    #[test]
    fn agrees_with_a_linear_scan_on_random_prefixes() {
        let mut rng = Rng(0x5eed_1234_abcd_0001);
        for round in 0..300 {
            let n = match round % 5 {
                0 => 1,
                1 => 3,
                2 => 10,
                3 => 60,
                _ => 400,
            };
            let ps = random_prefixes(&mut rng, n);
            let probes = probes(&mut rng, &ps, 400);
            check(&ps, &probes);
        }
    }

    #[test]
    fn agrees_with_a_linear_scan_on_a_large_clustered_set() {
        // Enough ranges for the 16-bit top table, clustered like real lists.
        let mut rng = Rng(0x5eed_0000_0000_0002);
        let mut ps = Vec::new();
        for _ in 0..3000 {
            let base = 0x2a00_0000u128 << 96;
            let a = base | (u128::from(rng.below(1 << 16)) << 96) | (rng.u128() >> 40);
            ps.push(Prefix::v6(a, 24 + rng.below(40) as u8));
            let v4 = 0x0a00_0000 | (rng.next() as u32 & 0x00ff_ffff);
            ps.push(Prefix::v4(v4.to_be_bytes(), 16 + rng.below(17) as u8));
        }
        ps.extend(random_prefixes(&mut rng, 500));
        let probes = probes(&mut rng, &ps, 20_000);
        check(&ps, &probes);
    }

    #[test]
    fn edges() {
        let all4 = Prefix::v4([0, 0, 0, 0], 0);
        let all6 = Prefix::v6(0, 0);
        let host4 = Prefix::v4([192, 0, 2, 1], 32);
        let host6 = Prefix::v6(0x2001_0db8 << 96 | 1, 128);
        let top6 = Prefix::v6(u128::MAX, 128);
        let mapped = Prefix::v6(MAPPED, 96);
        let probes = [
            Addr::from_v4(0),
            Addr::from_v4(u32::MAX),
            Addr::from_v4(0xc000_0201),
            Addr::from_v4(0xc000_0202),
            Addr(0),
            Addr(1),
            Addr(u128::MAX),
            Addr(u128::MAX - 1),
            Addr(0x2001_0db8 << 96 | 1),
            Addr(0x2001_0db8 << 96),
            Addr(MAPPED - 1),
            Addr(MAPPED + (1 << 32)),
        ];
        for set in [
            vec![],
            vec![all4],
            vec![all6],
            vec![all4, host4],
            vec![host4, all4],
            vec![all6, host6, top6],
            vec![mapped],
            vec![mapped, all4, host4, all6],
            vec![host4, host6, top6],
            vec![Prefix::v6(0, 80), host4],
            vec![Prefix::v6(1 << 127, 1), Prefix::v4([128, 0, 0, 0], 1)],
        ] {
            check(&set, &probes);
        }
        // ::/0 covers every IPv4 address too, 0.0.0.0/0 no IPv6 address.
        let m = PrefixMatcher::new(&[all6]);
        assert!(m.contains(Addr::from_v4(0x0808_0808)) && m.contains_v4(0x0808_0808));
        let m = PrefixMatcher::new(&[all4]);
        assert!(m.contains(Addr::from_v4(1)) && !m.contains(Addr(1)));
        assert!(!PrefixMatcher::new(&[]).contains(Addr(0)));
    }

    #[test]
    fn builds_a_hundred_thousand_prefixes_quickly_and_compactly() {
        let mut rng = Rng(0x5eed_0000_0000_0003);
        let mut ps: Vec<Prefix> = (0..100_000)
            .map(|_| {
                Prefix::v6(
                    (0x2000u128 << 112) | (rng.u128() >> 3),
                    19 + rng.below(46) as u8,
                )
            })
            .collect();
        ps.extend(
            (0..5_000)
                .map(|_| Prefix::v4((rng.next() as u32).to_be_bytes(), 8 + rng.below(25) as u8)),
        );
        let t0 = std::time::Instant::now();
        let m = PrefixMatcher::new(&ps);
        let took = t0.elapsed();
        // Generous: a debug build, on a shared machine.
        assert!(took.as_secs_f64() < 5.0, "{took:?}");
        assert!(m.memory_bytes() < 64 << 20, "{} bytes", m.memory_bytes());
        let probes = probes(&mut rng, &ps, 2_000);
        for a in probes {
            assert_eq!(m.contains(a), ps.iter().any(|p| p.contains(a)), "{a}");
        }
    }
}

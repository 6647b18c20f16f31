//! Memory for the filter's big tables.
//!
//! The blacklist, the flow table and the per-source table are read at
//! random, one line per lookup, over tens of MiB. In 4 KiB pages nearly
//! every such read also misses the TLB and waits for a page walk (`perf
//! annotate` showed the filter stalled on its prefetches of blacklist
//! slots); in 2 MiB pages a million flies' slots need 32 TLB entries. So
//! the tables ask for transparent huge pages (`MADV_HUGEPAGE`, which works
//! when the system's THP mode is `madvise` or `always`) before their memory
//! is first touched. Where the kernel has no huge page to give, it falls
//! back to small pages: nothing fails.

use std::mem::size_of;

const HUGE: usize = 2 << 20;

/// Below this a table gains nothing from huge pages.
const MIN_BYTES: usize = 2 * HUGE;

/// `n` values made by `make`, in a boxed slice backed by transparent huge
/// pages where the kernel provides them.
pub fn huge_slice_with<T>(n: usize, mut make: impl FnMut() -> T) -> Box<[T]> {
    let mut v: Vec<T> = Vec::with_capacity(n);
    advise_huge(&v, n);
    v.extend((0..n).map(|_| make()));
    v.into_boxed_slice()
}

/// `n` copies of `value`, like [`huge_slice_with`].
pub fn huge_slice<T: Clone>(n: usize, value: T) -> Box<[T]> {
    huge_slice_with(n, || value.clone())
}

/// Advise huge pages for the whole 2 MiB pages inside `v`'s (untouched)
/// room for `n` values.
fn advise_huge<T>(v: &Vec<T>, n: usize) {
    let bytes = n.saturating_mul(size_of::<T>());
    if bytes < MIN_BYTES || v.capacity() < n {
        return;
    }
    let start = v.as_ptr() as usize;
    let lo = start.next_multiple_of(HUGE);
    let hi = (start + bytes) / HUGE * HUGE;
    if hi <= lo {
        return;
    }
    // SAFETY: [lo, hi) lies inside the allocation `v` owns (its capacity
    // covers `bytes` from `start`); MADV_HUGEPAGE changes only how the
    // kernel backs those pages, never their contents or mapping, and no
    // reference into the range exists yet. Failure (no THP) is harmless.
    unsafe {
        libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_HUGEPAGE);
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn slices_hold_what_was_asked() {
        let a = huge_slice(10, 7u32);
        assert_eq!(&a[..], &[7u32; 10]);
        let mut k = 0u64;
        let b = huge_slice_with(3 << 20, || {
            k += 1;
            k
        });
        assert_eq!(b.len(), 3 << 20);
        assert_eq!((b[0], b[b.len() - 1]), (1, 3 << 20));
    }
}

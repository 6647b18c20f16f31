//! Software prefetch: ask the CPU to start loading a cache line now so that
//! a later access finds it in cache. `Filter::process_batch` prefetches the
//! table lines of a whole batch before deciding any frame, so the misses of
//! different frames overlap instead of being paid one after another.

/// Start loading the cache line holding `*p` into all cache levels.
#[inline(always)]
pub fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: PREFETCHT0 is a hint: it never faults (not even for an invalid
    // or unmapped address), reads nothing into registers and changes no
    // architectural state. SSE, which provides it, is part of the x86_64
    // baseline, so the target feature is always present.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast())
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod test {
    #[test]
    fn prefetch_of_any_address_is_harmless() {
        let v = [1u64; 64];
        super::prefetch(v.as_ptr());
        super::prefetch(std::ptr::null::<u8>());
        super::prefetch(usize::MAX as *const u8);
        assert_eq!(v.iter().sum::<u64>(), 64);
    }
}

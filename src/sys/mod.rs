//! The only place flypaper uses `unsafe`: CPU hints here, and (with the
//! data path) UMEM, rings, sockets and BPF loading. Every block carries a
//! `// SAFETY:` line saying why it is sound.

pub mod afpacket;
pub mod mem;
pub mod peercred;
pub mod prefetch;
pub mod signal;
pub mod xdp;
pub mod xsk;

use std::ffi::CString;
use std::io;

/// CLOCK_MONOTONIC in nanoseconds: the data path's `now`, and the same
/// clock as the XDP program's `bpf_ktime_get_ns()` (fly expiries use it).
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always
    // exists on Linux, so the call cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// The index of interface `name` in the calling thread's network namespace.
pub fn ifindex(name: &str) -> io::Result<u32> {
    let c = CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name has a NUL"))?;
    // SAFETY: `c` is a valid NUL-terminated string that outlives the call.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no interface named `{name}`"),
        ))
    } else {
        Ok(i)
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn loopback_has_an_index_and_unknown_names_fail() {
        assert!(ifindex("lo").unwrap() > 0);
        let e = ifindex("no-such-if0").unwrap_err();
        assert!(e.to_string().contains("no-such-if0"));
        assert!(ifindex("a\0b").is_err());
    }

    #[test]
    fn monotonic_clock_moves_forward() {
        let a = monotonic_ns();
        let b = monotonic_ns();
        assert!(b >= a && a > 0);
    }
}

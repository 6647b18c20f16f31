//! AF_XDP sockets on `libc`: one UMEM, the four rings, shared UMEM across
//! devices, copy / zero-copy bind.
//!
//! A [`Umem`] is a page-aligned area of `frame_count` frames of
//! `frame_size` bytes. Frames are named by their byte address in it
//! (`u64`), as the kernel's descriptors name them. An [`Xsk`] is one
//! socket bound to (interface, queue) with its RX and TX rings and the fill
//! and completion rings of its (device, queue): the first socket registers
//! the UMEM; a second one passes `shared_with` and binds with
//! `XDP_SHARED_UMEM`, so that a frame received on one port can be put on
//! the other port's TX ring as is (forwarding moves a descriptor, never
//! bytes).
//!
//! # Frame ownership (the caller's contract)
//!
//! Every frame is, at any time, owned by exactly one side:
//! - **the caller** owns a frame it got from [`Xsk::rx`] or
//!   [`Xsk::completed`], or that it never gave away; it may read and
//!   write it through [`Umem::frame`] / [`Umem::frame_mut`];
//! - **the kernel** owns a frame from the moment it is given to
//!   [`Xsk::fill`] (until it comes back from `rx` on the same socket) or
//!   to [`Xsk::tx`] (until it comes back from `completed` on the same
//!   socket).
//!
//! A frame given to the kernel must not be given again before it comes
//! back, and must not be read or written meanwhile (the kernel writes
//! received frames and reads frames being sent). Breaking this corrupts
//! frames, not memory: the UMEM stays mapped for as long as any socket
//! uses it, and every address is bounds-checked against the area (the
//! kernel checks the descriptors it is given, too).
//!
//! # Driving it (one worker, two ports sharing one UMEM)
//!
//! ```text
//! loop {
//!     n = wan.rx(&mut descs)                  // frames from the WAN port
//!     for each: filter; forward -> lan.tx(&[d]) or recycle -> wan.fill(&[d.addr])
//!     lan.kick_tx()                           // whenever TX is outstanding (copy mode: 32 per kick)
//!     m = lan.completed(&mut addrs)           // sent frames come back on the TX socket...
//!     wan.fill(&addrs[..m])                   // ...and go back to whichever port needs frames
//!     if wan.rx_needs_wakeup() { wan.wake_rx() }
//!     ... and the same with the ports swapped; poll() when idle.
//! }
//! ```
//!
//! Frames are not tied to a port: any free frame may be given to either
//! socket's fill ring. Size the UMEM for both fill rings full plus both TX
//! rings full plus what the caller holds (the RST delay queue).

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A received frame, or one to transmit: where it is in the UMEM and how
/// long it is. `addr` may point past the start of its frame (the kernel
/// leaves headroom in front of received data).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Desc {
    pub addr: u64,
    pub len: u32,
}

/// How a socket is bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindMode {
    /// The driver DMAs straight into the UMEM.
    ZeroCopy,
    /// The kernel copies between its buffers and the UMEM (any driver; the
    /// only mode on veth and with generic XDP).
    Copy,
}

impl std::fmt::Display for BindMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BindMode::ZeroCopy => "zero-copy",
            BindMode::Copy => "copy",
        })
    }
}

/// Socket statistics (`XDP_STATISTICS`), counted by the kernel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XskStats {
    /// Frames dropped for lack of a fill-ring frame (copy mode) or other
    /// reasons.
    pub rx_dropped: u64,
    pub rx_invalid_descs: u64,
    pub tx_invalid_descs: u64,
    /// Frames dropped because the RX ring was full.
    pub rx_ring_full: u64,
    /// Times the fill ring was found empty (zero-copy drivers).
    pub rx_fill_ring_empty_descs: u64,
    pub tx_ring_empty_descs: u64,
}

/// Ring sizes and bind options. Sizes are entries, powers of two.
#[derive(Clone, Debug)]
pub struct XskConfig {
    pub rx_size: u32,
    pub tx_size: u32,
    pub fill_size: u32,
    pub comp_size: u32,
    /// `Some(true)`: zero-copy or fail; `Some(false)`: copy; `None`: try
    /// zero-copy, fall back to copy when the driver says EOPNOTSUPP.
    /// Ignored for a socket that shares a UMEM: it inherits the mode of
    /// the socket that registered the UMEM.
    pub zero_copy: Option<bool>,
    /// `XDP_USE_NEED_WAKEUP`: the kernel says when it needs a syscall.
    pub need_wakeup: bool,
    /// How long to retry a bind that fails with EBUSY (the queue is still
    /// held by a socket that is being torn down, e.g. right after a
    /// previous process exited).
    pub busy_retry: Duration,
}

impl Default for XskConfig {
    fn default() -> XskConfig {
        XskConfig {
            rx_size: 2048,
            tx_size: 2048,
            fill_size: 2048,
            comp_size: 2048,
            zero_copy: None,
            need_wakeup: true,
            busy_retry: Duration::from_secs(3),
        }
    }
}

/// The mapped area; freed when the last [`Umem`] or [`Xsk`] using it goes.
#[derive(Debug)]
struct Area {
    ptr: NonNull<u8>,
    len: usize,
    frame_size: u32,
    frame_count: u32,
}

// SAFETY: the area is plain memory owned by this value; it is only accessed
// through `Umem` (with Rust borrows) or by the kernel.
unsafe impl Send for Area {}
// SAFETY: `Area` itself hands out no references; shared access goes through
// `Umem`, which needs `&mut` to write.
unsafe impl Sync for Area {}

impl Drop for Area {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly the mapping made in `Umem::new`,
        // and this is its last user (sockets hold an `Arc` to it and are
        // closed before they drop it).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// The packet memory shared by the kernel and the caller.
///
/// Not `Clone`: the one `Umem` value is the caller's handle for reading and
/// writing frames; the sockets bound to it keep the memory alive.
#[derive(Debug)]
pub struct Umem {
    area: Arc<Area>,
}

impl Umem {
    /// Maps `frame_count` frames of `frame_size` bytes (a power of two from
    /// 2048 to the page size, 4096 here). The memory is pinned by the
    /// kernel when the first socket registers it (root, or CAP_IPC_LOCK, or
    /// enough RLIMIT_MEMLOCK).
    pub fn new(frame_count: u32, frame_size: u32) -> io::Result<Umem> {
        // SAFETY: sysconf has no memory-safety preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u32;
        if !frame_size.is_power_of_two() || frame_size < 2048 || frame_size > page {
            return Err(invalid(format!(
                "frame size {frame_size}: must be a power of two in 2048..={page}"
            )));
        }
        let len = (frame_count as usize)
            .checked_mul(frame_size as usize)
            .filter(|l| *l > 0)
            .ok_or_else(|| invalid(format!("{frame_count} frames of {frame_size} bytes")))?;
        // SAFETY: an anonymous private mapping: no file, no address hint;
        // the result is checked below.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::other("mmap gave NULL"))?;
        Ok(Umem {
            area: Arc::new(Area {
                ptr,
                len,
                frame_size,
                frame_count,
            }),
        })
    }

    pub fn frame_size(&self) -> u32 {
        self.area.frame_size
    }

    pub fn frame_count(&self) -> u32 {
        self.area.frame_count
    }

    /// The address of frame number `index` (its first byte).
    pub fn frame_addr(&self, index: u32) -> u64 {
        u64::from(index) * u64::from(self.area.frame_size)
    }

    /// Every frame's address, in order: the initial free list.
    pub fn frame_addrs(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.frame_count()).map(move |i| self.frame_addr(i))
    }

    /// The first byte of the frame that contains `addr`.
    pub fn frame_base(&self, addr: u64) -> u64 {
        addr - addr % u64::from(self.area.frame_size)
    }

    fn range(&self, addr: u64, len: usize) -> Option<usize> {
        let fs = u64::from(self.area.frame_size);
        let off = addr % fs;
        if addr >= self.area.len as u64 || off + len as u64 > fs {
            return None;
        }
        Some(addr as usize)
    }

    /// `len` bytes at `addr`, or `None` if they are outside the UMEM or
    /// cross the end of their frame.
    pub fn try_frame(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let start = self.range(addr, len)?;
        // SAFETY: `range` checked that [start, start+len) lies inside the
        // mapping, which lives as long as `self.area`; the bytes are plain
        // memory (the caller's ownership contract keeps the kernel from
        // writing a frame the caller holds).
        Some(unsafe { std::slice::from_raw_parts(self.area.ptr.as_ptr().add(start), len) })
    }

    /// Like [`try_frame`](Self::try_frame), writable.
    pub fn try_frame_mut(&mut self, addr: u64, len: usize) -> Option<&mut [u8]> {
        let start = self.range(addr, len)?;
        // SAFETY: as in `try_frame`; `&mut self` makes this the only Rust
        // reference into the area (sockets never create any).
        Some(unsafe { std::slice::from_raw_parts_mut(self.area.ptr.as_ptr().add(start), len) })
    }

    /// The frame bytes of a descriptor. Panics if `addr`/`len` do not lie
    /// inside one frame (descriptors from the kernel always do).
    pub fn frame(&self, addr: u64, len: usize) -> &[u8] {
        match self.try_frame(addr, len) {
            Some(f) => f,
            None => bad_frame(addr, len),
        }
    }

    /// Writable frame bytes. Panics like [`frame`](Self::frame).
    pub fn frame_mut(&mut self, addr: u64, len: usize) -> &mut [u8] {
        match self.try_frame_mut(addr, len) {
            Some(f) => f,
            None => bad_frame(addr, len),
        }
    }
}

#[cold]
#[inline(never)]
fn bad_frame(addr: u64, len: usize) -> ! {
    panic!("UMEM access out of range: addr {addr:#x} len {len}")
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// One mmap'd ring: producer and consumer indices, flags and entries.
struct Ring<T> {
    producer: NonNull<AtomicU32>,
    consumer: NonNull<AtomicU32>,
    flags: NonNull<AtomicU32>,
    entries: NonNull<T>,
    mask: u32,
    size: u32,
    /// Our copy of the index we advance (producer for fill/tx, consumer for
    /// rx/completion) and the last value seen of the other one.
    cached_prod: u32,
    cached_cons: u32,
    map: NonNull<libc::c_void>,
    map_len: usize,
}

impl<T> Ring<T> {
    /// Maps the ring at `pgoff` of socket `fd`, laid out by `off`.
    fn map(fd: RawFd, size: u32, off: &libc::xdp_ring_offset, pgoff: u64) -> io::Result<Ring<T>> {
        let map_len = off.desc as usize + size as usize * mem::size_of::<T>();
        // SAFETY: mapping a ring of an AF_XDP socket at the page offset the
        // kernel defines for it; the result is checked below.
        let p = unsafe {
            libc::mmap(
                ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                pgoff as libc::off_t,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = p.cast::<u8>();
        // SAFETY: the kernel's offsets lie inside the mapping of `map_len`
        // bytes (producer, consumer and flags are u32 fields of the ring
        // header, entries follow at `desc`), so every pointer is in bounds
        // and suitably aligned for its type.
        let at = |o: u64| unsafe { NonNull::new_unchecked(base.add(o as usize)) };
        let ring = Ring {
            producer: at(off.producer).cast(),
            consumer: at(off.consumer).cast(),
            flags: at(off.flags).cast(),
            entries: at(off.desc).cast(),
            mask: size - 1,
            size,
            cached_prod: 0,
            cached_cons: 0,
            // SAFETY: mmap succeeded, so `p` is not null.
            map: unsafe { NonNull::new_unchecked(p) },
            map_len,
        };
        Ok(ring)
    }

    fn producer(&self) -> &AtomicU32 {
        // SAFETY: points into the ring mapping, which lives as long as
        // `self`; the kernel accesses it atomically too.
        unsafe { self.producer.as_ref() }
    }

    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { self.consumer.as_ref() }
    }

    fn flags(&self) -> u32 {
        // SAFETY: as for `producer`.
        unsafe { self.flags.as_ref() }.load(Ordering::Relaxed)
    }

    fn init_cached(&mut self) {
        self.cached_prod = self.producer().load(Ordering::Acquire);
        self.cached_cons = self.consumer().load(Ordering::Acquire);
    }

    // ---- we produce (fill, tx) ----

    /// Free entries, re-reading the kernel's consumer index only when the
    /// cached value says fewer than `want` are free.
    fn prod_free(&mut self, want: u32) -> u32 {
        let free = self.size - self.cached_prod.wrapping_sub(self.cached_cons);
        if free >= want {
            return free;
        }
        self.cached_cons = self.consumer().load(Ordering::Acquire);
        self.size - self.cached_prod.wrapping_sub(self.cached_cons)
    }

    /// Writes `items` (at most `prod_free()` of them) and publishes them.
    fn produce(&mut self, items: impl ExactSizeIterator<Item = T>) -> usize {
        let n = items.len().min(self.prod_free(items.len() as u32) as usize);
        if n == 0 {
            return 0;
        }
        for (i, item) in items.take(n).enumerate() {
            let idx = (self.cached_prod.wrapping_add(i as u32) & self.mask) as usize;
            // SAFETY: idx <= mask < size entries of the mapping; the slot
            // is free (between the kernel's consumer and our producer), so
            // the kernel does not read it until we publish.
            unsafe { self.entries.as_ptr().add(idx).write(item) };
        }
        self.cached_prod = self.cached_prod.wrapping_add(n as u32);
        // Release: the entries are written before the kernel sees the index.
        self.producer().store(self.cached_prod, Ordering::Release);
        n
    }

    /// Entries published but not yet consumed by the kernel.
    fn prod_outstanding(&self) -> u32 {
        self.cached_prod
            .wrapping_sub(self.consumer().load(Ordering::Acquire))
    }

    // ---- we consume (rx, completion) ----

    fn cons_available(&mut self, want: u32) -> u32 {
        let avail = self.cached_prod.wrapping_sub(self.cached_cons);
        if avail >= want {
            return avail;
        }
        self.cached_prod = self.producer().load(Ordering::Acquire);
        self.cached_prod.wrapping_sub(self.cached_cons)
    }

    /// Reads up to `out.len()` entries through `f` and releases them.
    fn consume<U>(&mut self, out: &mut [U], f: impl Fn(&T) -> U) -> usize {
        let n = out
            .len()
            .min(self.cons_available(out.len() as u32) as usize);
        if n == 0 {
            return 0;
        }
        for (i, o) in out[..n].iter_mut().enumerate() {
            let idx = (self.cached_cons.wrapping_add(i as u32) & self.mask) as usize;
            // SAFETY: idx < size; the entry lies between our consumer and
            // the kernel's producer (read with Acquire), so it is written
            // and the kernel does not touch it until we release it.
            *o = f(unsafe { &*self.entries.as_ptr().add(idx) });
        }
        self.cached_cons = self.cached_cons.wrapping_add(n as u32);
        // Release: we are done reading the entries before the kernel may
        // reuse them.
        self.consumer().store(self.cached_cons, Ordering::Release);
        n
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping made in `Ring::map`; no reference
        // into it outlives `self`.
        unsafe { libc::munmap(self.map.as_ptr(), self.map_len) };
    }
}

/// One AF_XDP socket bound to (interface, queue).
///
/// `Send` (a worker thread may own it), not `Sync`. Dropping it unmaps the
/// rings and closes the socket; the kernel removes it from XSKMAPs. The
/// UMEM stays mapped while any socket uses it.
pub struct Xsk {
    // Field order is drop order: rings, then the socket, then the area.
    rx: Ring<libc::xdp_desc>,
    tx: Ring<libc::xdp_desc>,
    fill: Ring<u64>,
    comp: Ring<u64>,
    fd: OwnedFd,
    area: Arc<Area>,
    mode: BindMode,
    need_wakeup: bool,
    ifindex: u32,
    queue: u32,
    bind_retries: u32,
}

// SAFETY: the ring pointers point into mappings owned by this value; the
// kernel is the only other party and synchronises through the atomics.
unsafe impl Send for Xsk {}

impl std::fmt::Debug for Xsk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Xsk")
            .field("fd", &self.fd.as_raw_fd())
            .field("ifindex", &self.ifindex)
            .field("queue", &self.queue)
            .field("mode", &self.mode)
            .finish()
    }
}

fn setsockopt<T>(fd: RawFd, opt: libc::c_int, val: &T) -> io::Result<()> {
    // SAFETY: `val` points to a live, initialised T of the size we pass.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_XDP,
            opt,
            (val as *const T).cast(),
            mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// getsockopt of a plain-integer struct; returns it and the length the
/// kernel wrote.
fn getsockopt<T: Plain>(fd: RawFd, opt: libc::c_int) -> io::Result<(T, usize)> {
    // SAFETY: `Plain` types are made of integers: all-zero is valid.
    let mut val: T = unsafe { mem::zeroed() };
    let mut len = mem::size_of::<T>() as libc::socklen_t;
    // SAFETY: `val` is a writable T and `len` its size; the kernel writes at
    // most `len` bytes and stores the written length in `len`.
    let r = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_XDP,
            opt,
            (&mut val as *mut T).cast(),
            &mut len,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((val, len as usize))
}

fn check_size(what: &str, n: u32) -> io::Result<()> {
    if n == 0 || !n.is_power_of_two() {
        return Err(invalid(format!(
            "{what} ring size {n}: must be a power of two"
        )));
    }
    Ok(())
}

/// Kernel structs read with getsockopt: integers only, so all-zero is a
/// valid value.
trait Plain: Copy {}
impl Plain for libc::xdp_mmap_offsets {}
impl Plain for libc::xdp_options {}
impl Plain for libc::xdp_statistics {}

impl Xsk {
    /// Creates a socket and binds it to (`ifindex`, `queue`).
    ///
    /// Without `shared_with` the socket registers `umem` (the UMEM's first
    /// socket). With `shared_with`, the socket shares that socket's UMEM
    /// (which must be `umem`), has its own fill and completion rings, and
    /// must be on another (interface, queue); its copy/zero-copy mode and
    /// need_wakeup are those of the first socket.
    ///
    /// A bind that fails with EBUSY is retried for `cfg.busy_retry`.
    pub fn bind(
        umem: &Umem,
        ifindex: u32,
        queue: u32,
        cfg: &XskConfig,
        shared_with: Option<&Xsk>,
    ) -> io::Result<Xsk> {
        check_size("rx", cfg.rx_size)?;
        check_size("tx", cfg.tx_size)?;
        check_size("fill", cfg.fill_size)?;
        check_size("completion", cfg.comp_size)?;
        if let Some(first) = shared_with {
            if !Arc::ptr_eq(&first.area, &umem.area) {
                return Err(invalid("shared_with is bound to another UMEM".into()));
            }
            if first.ifindex == ifindex && first.queue == queue {
                return Err(invalid(format!(
                    "ifindex {ifindex} queue {queue} already has this UMEM's socket"
                )));
            }
        }

        // SAFETY: plain socket(2); the result is checked.
        let raw = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let sfd = fd.as_raw_fd();

        if shared_with.is_none() {
            let reg = libc::xdp_umem_reg {
                addr: umem.area.ptr.as_ptr() as u64,
                len: umem.area.len as u64,
                chunk_size: umem.area.frame_size,
                headroom: 0,
                flags: 0,
                tx_metadata_len: 0,
            };
            setsockopt(sfd, libc::XDP_UMEM_REG, &reg)?;
        }
        // Every socket here has its own fill and completion rings (the
        // second socket of a shared UMEM needs them because it is on
        // another device or queue).
        setsockopt(sfd, libc::XDP_UMEM_FILL_RING, &cfg.fill_size)?;
        setsockopt(sfd, libc::XDP_UMEM_COMPLETION_RING, &cfg.comp_size)?;
        setsockopt(sfd, libc::XDP_RX_RING, &cfg.rx_size)?;
        setsockopt(sfd, libc::XDP_TX_RING, &cfg.tx_size)?;

        let (off, len) = getsockopt::<libc::xdp_mmap_offsets>(sfd, libc::XDP_MMAP_OFFSETS)?;
        if len != mem::size_of::<libc::xdp_mmap_offsets>() {
            return Err(io::Error::other(
                "kernel without ring flags (need_wakeup): Linux 5.4 or later is needed",
            ));
        }
        // Rings must be mapped before bind (the kernel refuses mmap after).
        let mut rx = Ring::map(sfd, cfg.rx_size, &off.rx, libc::XDP_PGOFF_RX_RING as u64)?;
        let mut tx = Ring::map(sfd, cfg.tx_size, &off.tx, libc::XDP_PGOFF_TX_RING as u64)?;
        let mut fill = Ring::map(sfd, cfg.fill_size, &off.fr, libc::XDP_UMEM_PGOFF_FILL_RING)?;
        let mut comp = Ring::map(
            sfd,
            cfg.comp_size,
            &off.cr,
            libc::XDP_UMEM_PGOFF_COMPLETION_RING,
        )?;

        let wakeup = if cfg.need_wakeup {
            libc::XDP_USE_NEED_WAKEUP
        } else {
            0
        };
        let mut retries = 0;
        let (mode, need_wakeup) = match shared_with {
            Some(first) => {
                let flags = libc::XDP_SHARED_UMEM;
                bind_retry(
                    sfd,
                    flags,
                    ifindex,
                    queue,
                    first.fd.as_raw_fd() as u32,
                    cfg.busy_retry,
                    &mut retries,
                )?;
                (first.mode, first.need_wakeup)
            }
            None => {
                let zc = libc::XDP_ZEROCOPY | wakeup;
                let copy = libc::XDP_COPY | wakeup;
                let b = |flags, retries: &mut u32| {
                    bind_retry(sfd, flags, ifindex, queue, 0, cfg.busy_retry, retries)
                };
                match cfg.zero_copy {
                    Some(true) => b(zc, &mut retries)?,
                    Some(false) => b(copy, &mut retries)?,
                    None => match b(zc, &mut retries) {
                        Ok(()) => {}
                        Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                            b(copy, &mut retries)?
                        }
                        Err(e) => return Err(e),
                    },
                }
                (BindMode::Copy, cfg.need_wakeup) // corrected below from XDP_OPTIONS
            }
        };
        // Ask the kernel what it did (a shared socket inherits the mode).
        let mode = match getsockopt::<libc::xdp_options>(sfd, libc::XDP_OPTIONS) {
            Ok((o, _)) if o.flags & libc::XDP_OPTIONS_ZEROCOPY != 0 => BindMode::ZeroCopy,
            Ok(_) => BindMode::Copy,
            Err(_) => mode,
        };
        rx.init_cached();
        tx.init_cached();
        fill.init_cached();
        comp.init_cached();
        Ok(Xsk {
            rx,
            tx,
            fill,
            comp,
            fd,
            area: Arc::clone(&umem.area),
            mode,
            need_wakeup,
            ifindex,
            queue,
            bind_retries: retries,
        })
    }

    /// The socket's descriptor, for [`crate::sys::xdp::XdpProgram::register_xsk`]
    /// and `poll`.
    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub fn mode(&self) -> BindMode {
        self.mode
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// How many times bind was retried after EBUSY (0 normally).
    pub fn bind_retries(&self) -> u32 {
        self.bind_retries
    }

    /// Takes up to `out.len()` received frames. The caller now owns them.
    #[inline]
    pub fn rx(&mut self, out: &mut [Desc]) -> usize {
        self.rx.consume(out, |d| Desc {
            addr: d.addr,
            len: d.len,
        })
    }

    /// Frames waiting in the RX ring (re-reads the kernel's index).
    pub fn rx_available(&mut self) -> u32 {
        self.rx.cons_available(u32::MAX)
    }

    /// Queues frames for transmit on this socket's interface; returns how
    /// many fit (the rest stay the caller's). The kernel owns the queued
    /// frames until [`completed`](Self::completed) returns them. Nothing
    /// is sent before [`kick_tx`](Self::kick_tx).
    #[inline]
    pub fn tx(&mut self, descs: &[Desc]) -> usize {
        self.tx.produce(descs.iter().map(|d| libc::xdp_desc {
            addr: d.addr,
            len: d.len,
            options: 0,
        }))
    }

    /// Free TX ring entries.
    pub fn tx_free(&mut self) -> u32 {
        self.tx.prod_free(self.tx.size)
    }

    /// Descriptors queued on TX that the kernel has not taken yet.
    pub fn tx_outstanding(&self) -> u32 {
        self.tx.prod_outstanding()
    }

    /// True when the kernel wants a syscall to process the TX ring (always
    /// in copy mode; zero-copy drivers clear the flag while they poll).
    pub fn tx_needs_wakeup(&self) -> bool {
        !self.need_wakeup || self.tx.flags() & libc::XDP_RING_NEED_WAKEUP != 0
    }

    /// Makes the kernel send what is queued on TX, if anything is and the
    /// kernel needs to be told. Cheap to call every loop iteration: without
    /// outstanding TX it makes no syscall.
    ///
    /// In copy mode one call sends at most 32 frames (the kernel's
    /// TX_BATCH_SIZE), so call it whenever TX work is outstanding, not just
    /// after queueing. EAGAIN / EBUSY / ENOBUFS (more work left, the ring
    /// is being processed, completion ring or device queue full) are not
    /// errors: drain [`completed`](Self::completed) and call again.
    #[inline]
    pub fn kick_tx(&self) -> io::Result<()> {
        if self.tx_outstanding() == 0 || !self.tx_needs_wakeup() {
            return Ok(());
        }
        self.kick_tx_now()
    }

    #[cold]
    fn kick_tx_now(&self) -> io::Result<()> {
        // SAFETY: sendto with no buffer and no address is the AF_XDP
        // "process the TX ring" call; the fd is ours and open.
        let r = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                ptr::null(),
                0,
            )
        };
        if r >= 0 {
            return Ok(());
        }
        transient_ok(io::Error::last_os_error())
    }

    /// Gives free frames (their addresses; any address inside a frame
    /// names that frame) to the kernel for receiving on this socket's
    /// (device, queue). Returns how many fit.
    #[inline]
    pub fn fill(&mut self, addrs: &[u64]) -> usize {
        self.fill.produce(addrs.iter().copied())
    }

    /// Free fill ring entries.
    pub fn fill_free(&mut self) -> u32 {
        self.fill.prod_free(self.fill.size)
    }

    /// Takes up to `out.len()` addresses of frames whose transmit on this
    /// socket finished (the address given to `tx`). The caller owns them
    /// again.
    #[inline]
    pub fn completed(&mut self, out: &mut [u64]) -> usize {
        self.comp.consume(out, |a| *a)
    }

    /// True when the kernel needs a syscall to look at the fill ring again
    /// (it ran dry; zero-copy drivers set it). Check it after filling.
    pub fn rx_needs_wakeup(&self) -> bool {
        self.need_wakeup && self.fill.flags() & libc::XDP_RING_NEED_WAKEUP != 0
    }

    /// The syscall that [`rx_needs_wakeup`](Self::rx_needs_wakeup) asks for.
    pub fn wake_rx(&self) -> io::Result<()> {
        // SAFETY: recvfrom with no buffer is the AF_XDP wakeup call; the
        // fd is ours and open.
        let r = unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                ptr::null_mut(),
                0,
                libc::MSG_DONTWAIT,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        if r >= 0 {
            return Ok(());
        }
        transient_ok(io::Error::last_os_error())
    }

    /// The kernel's counters for this socket.
    pub fn stats(&self) -> io::Result<XskStats> {
        let (s, _) = getsockopt::<libc::xdp_statistics>(self.fd.as_raw_fd(), libc::XDP_STATISTICS)?;
        Ok(XskStats {
            rx_dropped: s.rx_dropped,
            rx_invalid_descs: s.rx_invalid_descs,
            tx_invalid_descs: s.tx_invalid_descs,
            rx_ring_full: s.rx_ring_full,
            rx_fill_ring_empty_descs: s.rx_fill_ring_empty_descs,
            tx_ring_empty_descs: s.tx_ring_empty_descs,
        })
    }
}

fn transient_ok(e: io::Error) -> io::Result<()> {
    match e.raw_os_error() {
        Some(libc::EAGAIN) | Some(libc::EBUSY) | Some(libc::ENOBUFS) | Some(libc::EINTR) => Ok(()),
        _ => Err(e),
    }
}

fn bind_retry(
    fd: RawFd,
    flags: u16,
    ifindex: u32,
    queue: u32,
    shared_fd: u32,
    busy_retry: Duration,
    retries: &mut u32,
) -> io::Result<()> {
    let sa = libc::sockaddr_xdp {
        sxdp_family: libc::AF_XDP as u16,
        sxdp_flags: flags,
        sxdp_ifindex: ifindex,
        sxdp_queue_id: queue,
        sxdp_shared_umem_fd: shared_fd,
    };
    let start = Instant::now();
    loop {
        // SAFETY: `sa` is a valid sockaddr_xdp and we pass its size.
        let r = unsafe {
            libc::bind(
                fd,
                (&sa as *const libc::sockaddr_xdp).cast(),
                mem::size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
            )
        };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EBUSY) || start.elapsed() >= busy_retry {
            return Err(e);
        }
        *retries += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until one of `socks` has received frames (POLLIN) or
/// `timeout_ms` passes (-1: forever). Returns how many are readable. For a
/// worker with nothing to do; in copy mode poll also processes TX.
pub fn poll(socks: &[&Xsk], timeout_ms: i32) -> io::Result<usize> {
    const MAX: usize = 16;
    if socks.len() > MAX {
        return Err(invalid(format!("poll: at most {MAX} sockets")));
    }
    let mut fds = [libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    }; MAX];
    for (p, s) in fds.iter_mut().zip(socks) {
        p.fd = s.fd();
        p.events = libc::POLLIN;
    }
    // SAFETY: `fds[..len]` are initialised pollfds that outlive the call.
    let r = unsafe { libc::poll(fds.as_mut_ptr(), socks.len() as libc::nfds_t, timeout_ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EINTR) {
            return Ok(0);
        }
        return Err(e);
    }
    Ok(r as usize)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn umem_frames_and_bounds() {
        let mut u = Umem::new(8, 2048).unwrap();
        assert_eq!(u.frame_size(), 2048);
        assert_eq!(u.frame_count(), 8);
        assert_eq!(u.frame_addr(3), 6144);
        assert_eq!(u.frame_base(6144 + 300), 6144);
        assert_eq!(u.frame_addrs().count(), 8);
        u.frame_mut(4096 + 256, 4).copy_from_slice(b"abcd");
        assert_eq!(u.frame(4096 + 256, 4), b"abcd");
        assert!(u.try_frame(7 * 2048, 2048).is_some());
        assert!(u.try_frame(7 * 2048 + 1, 2048).is_none()); // crosses the frame end
        assert!(u.try_frame(8 * 2048, 1).is_none()); // past the area
        assert!(u.try_frame(u64::MAX, 1).is_none());
        assert!(u.try_frame_mut(2047, 2).is_none());
    }

    #[test]
    fn umem_rejects_bad_sizes() {
        assert!(Umem::new(8, 1000).is_err());
        assert!(Umem::new(8, 1024).is_err());
        assert!(Umem::new(8, 8192).is_err());
        assert!(Umem::new(0, 2048).is_err());
    }

    #[test]
    #[should_panic(expected = "UMEM access out of range")]
    fn frame_out_of_range_panics() {
        let u = Umem::new(2, 2048).unwrap();
        let _ = u.frame(4096, 1);
    }

    #[test]
    fn config_validation() {
        let u = Umem::new(4, 4096).unwrap();
        let cfg = XskConfig {
            rx_size: 1000,
            ..XskConfig::default()
        };
        let e = Xsk::bind(&u, 1, 0, &cfg, None).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }
}

//! The XDP program (`bpf/flypaper.bpf.c`): load it, attach it to the
//! bridge's interfaces, and keep its maps in step with userspace.
//!
//! The program drops frames whose source's prefix is in the `flies` map
//! (before they cost userspace a cycle), looking behind VLAN tags, PPPoE,
//! MPLS and one tunnel level (whose inner source is looked up too;
//! `bpf/README.md` says exactly what it parses), and redirects every other frame to the AF_XDP
//! socket registered for its (interface, RX queue); a queue without a socket
//! passes the frame to the kernel stack. The maps are the ABI, defined in
//! `bpf/flypaper.h` and mirrored here by `#[repr(C)]` types that are checked
//! against the loaded object's map sizes at [`XdpProgram::load`].
//!
//! A fly is a prefix: the program masks every source it looks up to the
//! prefix length of its family (IPv4 /32 and IPv6 /64 unless
//! [`XdpProgram::set_prefixes`] says otherwise), so the keys given to
//! [`XdpProgram::set_fly`] and its siblings are sources masked the same
//! way, with [`crate::Addr::masked`].
//!
//! Fail-open by construction: every attachment is a `bpf_link` whose only
//! file descriptor this process owns. When the process exits for any reason,
//! SIGKILL included, the kernel closes the descriptor, the link is released
//! and the interface is left without a program: the link is not black-holed
//! (frames then reach the kernel stack, which on a bridge port without
//! addresses means they are not forwarded until the appliance is back).
//! The maps can be pinned in a BPF filesystem ([`XdpProgram::pin_maps`],
//! `flypaper run --pin-maps DIR`) so that operators can read them with
//! `bpftool map dump pinned DIR/flies`; the program itself never is, so the
//! fail-open property holds either way. Pinning is optional because the
//! lab's hosts mount no bpffs and `ip netns exec` remounts `/sys`.
//!
//! ```no_run
//! use flypaper::sys::xdp::{self, ifindex, monotonic_ns, XdpProgram};
//! let mut prog = XdpProgram::load(262_144)?;
//! let wan = ifindex("eth0")?;
//! let mode = prog.attach(wan, true)?; // Native, or Generic as a fallback
//! println!("XDP on eth0: {mode}");
//! // prog.register_xsk(wan, 0, xsk.fd())?;
//! let (v4, v6) = (xdp::DEFAULT_PREFIX_V4, xdp::DEFAULT_PREFIX_V6);
//! let fly = "2001:db8:1:2::99".parse::<flypaper::Addr>().unwrap().masked(v4, v6);
//! prog.set_fly(fly.0, monotonic_ns() + 86_400_000_000_000)?; // 2001:db8:1:2::/64
//! # Ok::<(), flypaper::sys::xdp::Error>(())
//! ```

use std::ffi::CString;
use std::fmt;
use std::io;
use std::mem;
use std::ops::RangeInclusive;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use libbpf_rs::libbpf_sys;
use libbpf_rs::{MapCore, MapFlags, MapHandle, ObjectBuilder};

/// Interfaces one loaded program can serve (`FP_MAX_PORTS`).
pub const MAX_PORTS: u32 = 8;
/// RX queues per interface that can have an AF_XDP socket (`FP_MAX_QUEUES`).
pub const MAX_QUEUES: u32 = 64;
/// Entries of the `xsks` map (`FP_XSKS_ENTRIES`).
pub const XSKS_ENTRIES: u32 = MAX_PORTS * MAX_QUEUES;
/// VLAN tags (TPID 0x8100, 0x88a8, 0x9100) the program looks behind
/// (`FP_MAX_VLAN_TAGS`); a deeper stack is counted malformed.
pub const MAX_VLAN_TAGS: u32 = 3;
/// MPLS labels the program walks to the bottom of the stack
/// (`FP_MAX_MPLS_LABELS`); a deeper stack is counted malformed.
pub const MAX_MPLS_LABELS: u32 = 8;

/// Key of the `flies` map (`struct fp_addr`): a fly's prefix (a source
/// address masked with [`crate::Addr::masked`]) as 16 bytes in network byte
/// order, IPv4 mapped, exactly like [`crate::Addr`].
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlyKey {
    pub addr: [u8; 16],
}

impl FlyKey {
    /// The key of a [`crate::Addr`] value (`Addr.0`).
    pub fn new(addr: u128) -> FlyKey {
        FlyKey {
            addr: addr.to_be_bytes(),
        }
    }
}

/// Value of the `flies` map (`struct fp_fly`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlyValue {
    /// CLOCK_MONOTONIC ns; the source is a fly while `now < expires_ns`.
    pub expires_ns: u64,
    /// Frames of the fly the program dropped (it adds atomically).
    pub hits: u64,
}

/// The prefix length an IPv4 fly has until [`XdpProgram::set_prefixes`]:
/// one address.
pub const DEFAULT_PREFIX_V4: u8 = 32;
/// The prefix length an IPv6 fly has until [`XdpProgram::set_prefixes`]:
/// one subnet, what a single host is usually given.
pub const DEFAULT_PREFIX_V6: u8 = 64;
/// The IPv4 prefix lengths [`XdpProgram::set_prefixes`] accepts.
pub const PREFIX_V4_RANGE: RangeInclusive<u8> = 8..=32;
/// The IPv6 prefix lengths [`XdpProgram::set_prefixes`] accepts.
pub const PREFIX_V6_RANGE: RangeInclusive<u8> = 32..=128;

/// The one value of the `config` array (`struct fp_config`): the prefix
/// lengths flies are keyed by, and the masks the program applies.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PrefixConfig {
    pub prefix_v4: u8,
    pub prefix_v6: u8,
    pub pad: [u8; 6],
    /// [`crate::Addr::v4_mask`] of `prefix_v4`, as the two 8-byte words
    /// of its network-order bytes.
    pub mask_v4: [u64; 2],
    /// [`crate::Addr::v6_mask`] of `prefix_v6`, likewise.
    pub mask_v6: [u64; 2],
}

impl PrefixConfig {
    /// The config for these lengths (not range-checked here).
    pub fn new(prefix_v4: u8, prefix_v6: u8) -> PrefixConfig {
        // In memory, the first word holds the mask's first 8 bytes in
        // network order.
        let words = |mask: u128| [((mask >> 64) as u64).to_be(), (mask as u64).to_be()];
        PrefixConfig {
            prefix_v4,
            prefix_v6,
            pad: [0; 6],
            mask_v4: words(crate::Addr::v4_mask(prefix_v4)),
            mask_v6: words(crate::Addr::v6_mask(prefix_v6)),
        }
    }
}

/// Indices of the per-CPU `counters` array (`enum fp_counter`).
pub mod counter {
    pub const REDIRECTED: u32 = 0;
    pub const FLY_DROPS: u32 = 1;
    pub const NO_SOCKET: u32 = 2;
    pub const NO_PORT: u32 = 3;
    pub const IPV4: u32 = 4;
    pub const IPV6: u32 = 5;
    pub const NON_IP: u32 = 6;
    pub const MALFORMED: u32 = 7;
    pub const FLY_EXPIRED: u32 = 8;
    pub const PPPOE: u32 = 9;
    pub const MPLS: u32 = 10;
    pub const TUNNEL: u32 = 11;
    /// Number of counters (`FP_CTR_MAX`).
    pub const MAX: u32 = 12;
}

/// The XDP program's counters, summed over CPUs.
///
/// `redirected + fly_drops + no_socket + no_port` and
/// `ipv4 + ipv6 + non_ip + malformed` both count every frame seen;
/// `pppoe + mpls` and `tunnel` are each at most `ipv4 + ipv6`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct XdpCounters {
    /// Handed to the AF_XDP socket of the frame's (interface, queue). A
    /// frame the socket then had no room for is counted by the socket
    /// ([`crate::sys::xsk::Xsk::stats`]), not here.
    pub redirected: u64,
    /// Dropped in XDP because the source is a fly.
    pub fly_drops: u64,
    /// Passed to the kernel stack: no socket registered for the queue.
    pub no_socket: u64,
    /// Passed to the kernel stack: the interface has no port slot.
    pub no_port: u64,
    /// The outer IP header is IPv4 (behind whatever encapsulation).
    pub ipv4: u64,
    /// The outer IP header is IPv6.
    pub ipv6: u64,
    /// ARP, STP, LLDP, PPPoE discovery and LCP, ...: never looked up in
    /// `flies`.
    pub non_ip: u64,
    /// Headers truncated, a wrong IP version, more VLAN tags or MPLS
    /// labels than the program walks, a tunnel's inner header cut short:
    /// redirected, the userspace filter drops it with a named reason. An
    /// outer source found before the fault is still looked up.
    pub malformed: u64,
    /// A lookup found a source in `flies` with an expiry in the past (not
    /// a fly).
    pub fly_expired: u64,
    /// The IP header was found in a PPPoE session frame.
    pub pppoe: u64,
    /// The IP header was found below an MPLS label stack.
    pub mpls: u64,
    /// A tunnel (IPIP, 6in4, 4in6, 6in6, GRE) was seen through: the inner
    /// source was looked up as well as the outer one.
    pub tunnel: u64,
}

impl XdpCounters {
    /// Every frame the program saw.
    pub fn total(&self) -> u64 {
        self.redirected + self.fly_drops + self.no_socket + self.no_port
    }
}

/// How the program ended up attached to an interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttachMode {
    /// In the driver (`XDP_FLAGS_DRV_MODE`).
    Native,
    /// In the generic skb path (`XDP_FLAGS_SKB_MODE`): works on any device,
    /// slower, and AF_XDP sockets then run in copy mode.
    Generic,
}

impl fmt::Display for AttachMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AttachMode::Native => "native",
            AttachMode::Generic => "generic",
        })
    }
}

/// An error of the loader: what was being done, and the OS error.
#[derive(Debug)]
pub struct Error {
    context: String,
    source: io::Error,
}

impl Error {
    fn new(context: impl Into<String>, source: io::Error) -> Error {
        Error {
            context: context.into(),
            source,
        }
    }

    fn bpf(context: impl Into<String>, e: libbpf_rs::Error) -> Error {
        use libbpf_rs::ErrorKind as K;
        // libbpf-rs keeps the errno inside its own error type: recover
        // the ones a caller may act on, keep libbpf's text as context.
        let errno = match e.kind() {
            K::NotFound => Some(libc::ENOENT),
            K::PermissionDenied => Some(libc::EPERM),
            K::AlreadyExists => Some(libc::EEXIST),
            K::WouldBlock => Some(libc::EAGAIN),
            K::InvalidInput => Some(libc::EINVAL),
            K::Unsupported => Some(libc::EOPNOTSUPP),
            K::OutOfMemory => Some(libc::ENOMEM),
            K::TooBig => Some(libc::E2BIG),
            _ => None,
        };
        let source = match errno {
            Some(n) => io::Error::from_raw_os_error(n),
            None => io::Error::other(e.to_string()),
        };
        let context = match errno {
            Some(_) => format!("{} ({e})", context.into()),
            None => context.into(),
        };
        Error { context, source }
    }

    /// True when a fly could not be added because the `flies` map holds
    /// its capacity (E2BIG).
    pub fn is_map_full(&self) -> bool {
        self.source.raw_os_error() == Some(libc::E2BIG)
    }

    /// The errno, when the failing call reported one.
    pub fn raw_os_error(&self) -> Option<i32> {
        self.source.raw_os_error()
    }

    pub fn kind(&self) -> io::ErrorKind {
        self.source.kind()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.context, self.source)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        io::Error::new(e.source.kind(), e.to_string())
    }
}

/// The compiled program, aligned for libelf.
#[repr(C, align(8))]
struct Aligned<B: ?Sized>(B);

static OBJECT: &Aligned<[u8]> =
    &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/flypaper.bpf.o")));

/// The bytes of the compiled XDP program (an ELF object for `-target bpf`).
pub fn object_bytes() -> &'static [u8] {
    &OBJECT.0
}

struct Attachment {
    ifindex: u32,
    slot: u32,
    mode: AttachMode,
    /// Why driver mode was refused, when the attachment is generic.
    native_refused: Option<io::Error>,
    /// The bpf_link: dropping it detaches the program.
    _link: Link,
}

/// An XDP `bpf_link` owned by this process. Dropping it detaches the
/// program at once with `BPF_LINK_DETACH`, then closes the descriptor.
/// Closing alone is not enough: a child forked by another thread shares
/// the descriptor until its `exec` closes it (link descriptors are
/// close-on-exec), and the link, still attached, would make the next
/// attach to that interface fail with EEXIST. A crash closes the
/// descriptor without the explicit detach; the link then goes with the
/// last process holding it.
struct Link(OwnedFd);

impl Drop for Link {
    fn drop(&mut self) {
        // SAFETY: plain FFI call on a link descriptor this value owns and
        // that stays open for the duration of the call.
        let r = unsafe { libbpf_sys::bpf_link_detach(self.0.as_raw_fd()) };
        if r < 0 && r != -libc::ENOLINK {
            // The close that follows still detaches it, once no other
            // process holds the descriptor.
            eprintln!(
                "flypaper: detaching an XDP link: {}",
                io::Error::from_raw_os_error(-r)
            );
        }
    }
}

/// The loaded XDP program, its maps, and one `bpf_link` per interface.
///
/// Dropping it detaches the program from every interface (each link is
/// detached, then closed); so does the process exiting in any way. Methods
/// take `&self` where the kernel does the synchronisation (map updates are
/// atomic per element), so the control plane can share it behind an `Arc`.
pub struct XdpProgram {
    // Declared first so that the links close (and the program detaches)
    // before the program and map descriptors are dropped.
    links: Vec<Attachment>,
    prog: OwnedFd,
    flies: MapHandle,
    ports: MapHandle,
    xsks: MapHandle,
    counters: MapHandle,
    config: MapHandle,
    flies_capacity: u32,
    pins: Option<Pins>,
}

/// Where the maps are pinned, and whether flypaper mounted the BPF
/// filesystem there.
#[derive(Debug)]
struct Pins {
    dir: PathBuf,
    mounted: bool,
}

/// The names of the pinned maps under the pin directory.
pub const PINNED_MAPS: [&str; 5] = ["flies", "counters", "ports", "xsks", "config"];

/// The magic number of a BPF filesystem (`BPF_FS_MAGIC`).
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

impl fmt::Debug for XdpProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XdpProgram")
            .field("prog_fd", &self.prog.as_fd().as_raw_fd())
            .field("flies_capacity", &self.flies_capacity)
            .field(
                "attached",
                &self
                    .links
                    .iter()
                    .map(|a| (a.ifindex, a.mode))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

const PROG_NAME: &str = "flypaper_xdp";

impl XdpProgram {
    /// Loads the program into the kernel with room for `flies_capacity`
    /// flies (the blacklist capacity; entries are allocated on insert, so
    /// a large capacity costs no memory until it is used), keyed by the
    /// default prefixes ([`DEFAULT_PREFIX_V4`], [`DEFAULT_PREFIX_V6`]).
    /// Attaches nothing.
    pub fn load(flies_capacity: u32) -> Result<XdpProgram, Error> {
        if flies_capacity == 0 {
            return Err(Error::new(
                "loading the XDP program",
                io::Error::new(io::ErrorKind::InvalidInput, "flies capacity must be > 0"),
            ));
        }
        let mut open = ObjectBuilder::default()
            .open_memory(object_bytes())
            .map_err(|e| Error::bpf("opening the XDP object", e))?;
        let mut sized = false;
        for mut map in open.maps_mut() {
            if map.name() == "flies" {
                map.set_max_entries(flies_capacity)
                    .map_err(|e| Error::bpf("sizing the flies map", e))?;
                sized = true;
            }
        }
        if !sized {
            return Err(abi_error("the object has no `flies` map"));
        }
        let obj = open
            .load()
            .map_err(|e| Error::bpf("loading the XDP program (needs root/CAP_BPF)", e))?;

        let map = |name: &str| -> Result<MapHandle, Error> {
            let m = obj
                .maps()
                .find(|m| m.name() == name)
                .ok_or_else(|| abi_error(&format!("the object has no `{name}` map")))?;
            MapHandle::try_from(&m).map_err(|e| Error::bpf(format!("map `{name}`"), e))
        };
        let flies = map("flies")?;
        let ports = map("ports")?;
        let xsks = map("xsks")?;
        let counters = map("counters")?;
        let config = map("config")?;
        let prog = obj
            .progs()
            .find(|p| p.name() == PROG_NAME)
            .ok_or_else(|| abi_error("the object has no `flypaper_xdp` program"))?;
        let prog = prog
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| Error::new("duplicating the program fd", e))?;

        // The header and the Rust mirrors must agree, or every lookup
        // would silently miss.
        check_map(
            &flies,
            mem::size_of::<FlyKey>(),
            mem::size_of::<FlyValue>(),
            None,
        )?;
        check_map(&ports, 4, 4, Some(MAX_PORTS))?;
        check_map(&xsks, 4, 4, Some(XSKS_ENTRIES))?;
        check_map(&counters, 4, 8, Some(counter::MAX))?;
        check_map(&config, 4, mem::size_of::<PrefixConfig>(), Some(1))?;

        // The handles hold their own descriptors: the object can go.
        drop(obj);
        let prog = XdpProgram {
            links: Vec::new(),
            prog,
            flies,
            ports,
            xsks,
            counters,
            config,
            flies_capacity,
            pins: None,
        };
        // An array starts zeroed: masks that would key every source as ::.
        prog.set_prefixes(DEFAULT_PREFIX_V4, DEFAULT_PREFIX_V6)?;
        Ok(prog)
    }

    /// Keys flies by IPv4 /`v4` and IPv6 /`v6` prefixes from now on: the
    /// program masks every source it looks up with these lengths (an
    /// IPv4-mapped source with `v4`). `v4` must lie in
    /// [`PREFIX_V4_RANGE`] and `v6` in [`PREFIX_V6_RANGE`].
    ///
    /// The flies already in the map keep their keys: after a change, clear
    /// them and add them again masked with the new lengths. The config is
    /// one map value written at once, but not atomically for a frame being
    /// looked up on another CPU, which may see the old masks or, once, a
    /// mix: set the lengths before attaching.
    pub fn set_prefixes(&self, v4: u8, v6: u8) -> Result<(), Error> {
        for (family, len, range) in [("IPv4", v4, PREFIX_V4_RANGE), ("IPv6", v6, PREFIX_V6_RANGE)] {
            if !range.contains(&len) {
                return Err(Error::new(
                    "setting the XDP program's prefix lengths",
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!(
                            "an {family} prefix of /{len} is not in /{}../{}",
                            range.start(),
                            range.end()
                        ),
                    ),
                ));
            }
        }
        let value = PrefixConfig::new(v4, v6);
        self.config
            .update(&0u32.to_ne_bytes(), as_bytes(&value), MapFlags::ANY)
            .map_err(|e| Error::bpf("writing the XDP program's prefix lengths", e))
    }

    /// The prefix lengths (IPv4, IPv6) the program keys flies by, as its
    /// `config` map holds them.
    pub fn prefixes(&self) -> Result<(u8, u8), Error> {
        let mut value = [0u8; mem::size_of::<PrefixConfig>()];
        match self
            .config
            .lookup_into(&0u32.to_ne_bytes(), &mut value, MapFlags::ANY)
        {
            Ok(true) => Ok((value[0], value[1])),
            Ok(false) => Err(abi_error("the `config` map has no entry 0")),
            Err(e) => Err(Error::bpf("reading the XDP program's prefix lengths", e)),
        }
    }

    /// Pin every map under `dir` (as `PINNED_MAPS`), for operators' tools.
    ///
    /// `dir` must be on a BPF filesystem, or be a directory that is not
    /// (then one is mounted on it, and unmounted again by `unpin_maps`), or
    /// not exist in a directory that is (then it is created). Pins of the
    /// same names left by a killed run are replaced. On an error nothing
    /// stays pinned or mounted. Pins outlive the process until
    /// [`unpin_maps`](Self::unpin_maps), which dropping the program calls.
    pub fn pin_maps(&mut self, dir: &Path) -> Result<(), Error> {
        self.unpin_maps()?;
        let mounted = ensure_bpffs(dir)?;
        let mut done: Vec<PathBuf> = Vec::new();
        let result = (|| {
            for (name, map) in PINNED_MAPS.iter().zip([
                &mut self.flies,
                &mut self.counters,
                &mut self.ports,
                &mut self.xsks,
                &mut self.config,
            ]) {
                let path = dir.join(name);
                remove_pin(&path).map_err(|e| {
                    Error::new(format!("removing the old pin {}", path.display()), e)
                })?;
                map.pin(&path).map_err(|e| {
                    Error::bpf(format!("pinning map `{name}` at {}", path.display()), e)
                })?;
                done.push(path);
            }
            Ok(())
        })();
        if let Err(e) = result {
            for p in &done {
                let _ = std::fs::remove_file(p);
            }
            if mounted {
                let _ = unmount(dir);
            }
            return Err(e);
        }
        self.pins = Some(Pins {
            dir: dir.to_path_buf(),
            mounted,
        });
        Ok(())
    }

    /// Where the maps are pinned, if they are.
    pub fn pinned_at(&self) -> Option<&Path> {
        self.pins.as_ref().map(|p| p.dir.as_path())
    }

    /// Remove the pins (and unmount the BPF filesystem if `pin_maps`
    /// mounted it). Does nothing when nothing is pinned.
    pub fn unpin_maps(&mut self) -> Result<(), Error> {
        let Some(pins) = self.pins.take() else {
            return Ok(());
        };
        for name in PINNED_MAPS {
            let path = pins.dir.join(name);
            remove_pin(&path)
                .map_err(|e| Error::new(format!("unpinning {}", path.display()), e))?;
        }
        if pins.mounted {
            unmount(&pins.dir)?;
        }
        Ok(())
    }

    /// The `max_entries` of the `flies` map.
    pub fn flies_capacity(&self) -> u32 {
        self.flies_capacity
    }

    /// Attaches the program to `ifindex` through a `bpf_link` (detached when
    /// this value is dropped or the process dies). With `prefer_native` it
    /// tries the driver first and falls back to generic mode; otherwise it
    /// goes straight to generic. Returns the mode that took.
    ///
    /// Fails with `EBUSY` when another XDP program is attached to the
    /// interface (e.g. by `ip link set ... xdp`): flypaper does not replace
    /// programs it does not own.
    pub fn attach(&mut self, ifindex: u32, prefer_native: bool) -> Result<AttachMode, Error> {
        if self.links.iter().any(|a| a.ifindex == ifindex) {
            return Err(Error::new(
                format!("attaching XDP to ifindex {ifindex}"),
                io::Error::new(io::ErrorKind::AlreadyExists, "already attached"),
            ));
        }
        let slot = (0..MAX_PORTS)
            .find(|s| self.links.iter().all(|a| a.slot != *s))
            .ok_or_else(|| {
                Error::new(
                    format!("attaching XDP to ifindex {ifindex}"),
                    io::Error::other(format!("at most {MAX_PORTS} interfaces")),
                )
            })?;
        // The port slot first, so that the first frame finds it.
        self.ports
            .update(&ifindex.to_ne_bytes(), &slot.to_ne_bytes(), MapFlags::ANY)
            .map_err(|e| Error::bpf("registering the port", e))?;

        let mut native_err = None;
        if prefer_native {
            match self.link_create(ifindex, libbpf_sys::XDP_FLAGS_DRV_MODE) {
                Ok(link) => {
                    self.links.push(Attachment {
                        ifindex,
                        slot,
                        mode: AttachMode::Native,
                        native_refused: None,
                        _link: link,
                    });
                    return Ok(AttachMode::Native);
                }
                Err(e) => native_err = Some(e),
            }
        }
        match self.link_create(ifindex, libbpf_sys::XDP_FLAGS_SKB_MODE) {
            Ok(link) => {
                self.links.push(Attachment {
                    ifindex,
                    slot,
                    mode: AttachMode::Generic,
                    native_refused: native_err,
                    _link: link,
                });
                Ok(AttachMode::Generic)
            }
            Err(generic) => {
                let _ = self.ports.delete(&ifindex.to_ne_bytes());
                let context = match &native_err {
                    Some(native) => {
                        format!("attaching XDP to ifindex {ifindex} (native: {native}; generic)")
                    }
                    None => format!("attaching XDP to ifindex {ifindex} (generic)"),
                };
                Err(Error::new(context, generic))
            }
        }
    }

    fn link_create(&self, ifindex: u32, flags: u32) -> io::Result<Link> {
        let opts = libbpf_sys::bpf_link_create_opts {
            sz: mem::size_of::<libbpf_sys::bpf_link_create_opts>() as _,
            flags,
            ..Default::default()
        };
        let target = i32::try_from(ifindex)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "ifindex out of range"))?;
        // SAFETY: plain FFI call: the program fd is valid for the duration
        // (owned by `self.prog`), `opts` is a fully initialised struct whose
        // `sz` tells libbpf its size, and libbpf does not keep the pointer.
        let fd = unsafe {
            libbpf_sys::bpf_link_create(
                self.prog.as_fd().as_raw_fd(),
                target,
                libbpf_sys::BPF_XDP,
                &opts,
            )
        };
        if fd < 0 {
            // libbpf returns -errno (and sets errno).
            return Err(io::Error::from_raw_os_error(-fd));
        }
        // SAFETY: `fd` is a new link descriptor that nothing else owns.
        Ok(Link(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Detaches the program from `ifindex` (detaches and closes its link)
    /// and forgets its port slot. Sockets registered for it must be
    /// re-registered after a new [`attach`](Self::attach).
    pub fn detach(&mut self, ifindex: u32) -> Result<(), Error> {
        let i = self
            .links
            .iter()
            .position(|a| a.ifindex == ifindex)
            .ok_or_else(|| {
                Error::new(
                    format!("detaching XDP from ifindex {ifindex}"),
                    io::Error::new(io::ErrorKind::NotFound, "not attached"),
                )
            })?;
        let a = self.links.remove(i);
        for q in 0..MAX_QUEUES {
            let _ = self.xsks.delete(&(a.slot * MAX_QUEUES + q).to_ne_bytes());
        }
        let _ = self.ports.delete(&ifindex.to_ne_bytes());
        Ok(())
    }

    /// The interfaces the program is attached to, with their modes.
    pub fn attached(&self) -> Vec<(u32, AttachMode)> {
        self.links.iter().map(|a| (a.ifindex, a.mode)).collect()
    }

    /// Why the driver refused native mode on `ifindex`, when
    /// [`attach`](Self::attach) fell back to generic (for the start-up
    /// report: on veth, ERANGE means the peer's MTU is too large, ENOSPC
    /// that the peer has more TX queues than this device has RX queues).
    pub fn native_refusal(&self, ifindex: u32) -> Option<&io::Error> {
        self.links
            .iter()
            .find(|a| a.ifindex == ifindex)
            .and_then(|a| a.native_refused.as_ref())
    }

    fn slot(&self, ifindex: u32) -> Result<u32, Error> {
        self.links
            .iter()
            .find(|a| a.ifindex == ifindex)
            .map(|a| a.slot)
            .ok_or_else(|| {
                Error::new(
                    format!("ifindex {ifindex}"),
                    io::Error::new(io::ErrorKind::NotFound, "XDP program not attached to it"),
                )
            })
    }

    /// Sends the frames of (`ifindex`, `queue`) to the AF_XDP socket `xsk_fd`
    /// (a socket already bound to that interface and queue). The program
    /// must be attached to `ifindex` first.
    pub fn register_xsk(&self, ifindex: u32, queue: u32, xsk_fd: RawFd) -> Result<(), Error> {
        let key = self.xsk_key(ifindex, queue)?;
        self.xsks
            .update(&key.to_ne_bytes(), &xsk_fd.to_ne_bytes(), MapFlags::ANY)
            .map_err(|e| Error::bpf(format!("registering the socket of queue {queue}"), e))
    }

    /// Stops redirecting (`ifindex`, `queue`): its frames pass to the stack.
    pub fn unregister_xsk(&self, ifindex: u32, queue: u32) -> Result<(), Error> {
        let key = self.xsk_key(ifindex, queue)?;
        match self.xsks.delete(&key.to_ne_bytes()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == libbpf_rs::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::bpf("unregistering a socket", e)),
        }
    }

    fn xsk_key(&self, ifindex: u32, queue: u32) -> Result<u32, Error> {
        if queue >= MAX_QUEUES {
            return Err(Error::new(
                format!("queue {queue}"),
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("the XDP program serves queues 0..{MAX_QUEUES}"),
                ),
            ));
        }
        Ok(self.slot(ifindex)? * MAX_QUEUES + queue)
    }

    /// Makes the prefix `addr` a fly until `expires_monotonic_ns`
    /// ([`monotonic_ns`] clock), or updates its expiry. Fails with `E2BIG`
    /// when the map is full.
    ///
    /// `addr` is a [`crate::Addr`]'s `u128` already masked to its prefix
    /// ([`crate::Addr::masked`] with the lengths of
    /// [`set_prefixes`](Self::set_prefixes)), as are the keys of
    /// [`set_flies`](Self::set_flies), [`fly`](Self::fly) and
    /// [`remove_fly`](Self::remove_fly): the program looks up masked
    /// sources, so a key with host bits set never matches.
    pub fn set_fly(&self, addr: u128, expires_monotonic_ns: u64) -> Result<(), Error> {
        let key = FlyKey::new(addr);
        // An update keeps the drops the program counted so far.
        let hits = self.fly_value(addr)?.map_or(0, |v| v.hits);
        let value = FlyValue {
            expires_ns: expires_monotonic_ns,
            hits,
        };
        self.flies
            .update(as_bytes(&key), as_bytes(&value), MapFlags::ANY)
            .map_err(|e| Error::bpf("adding a fly", e))
    }

    /// Adds or updates many flies (masked prefixes, as for
    /// [`set_fly`](Self::set_fly)) at once (one syscall per batch): for
    /// restoring the blacklist at start-up.
    pub fn set_flies(&self, flies: &[(u128, u64)]) -> Result<(), Error> {
        const BATCH: usize = 4096;
        let mut keys = Vec::with_capacity(BATCH * 16);
        let mut values = Vec::with_capacity(BATCH * std::mem::size_of::<FlyValue>());
        for chunk in flies.chunks(BATCH) {
            keys.clear();
            values.clear();
            for &(addr, exp) in chunk {
                keys.extend_from_slice(&addr.to_be_bytes());
                values.extend_from_slice(as_bytes(&FlyValue {
                    expires_ns: exp,
                    hits: 0,
                }));
            }
            self.flies
                .update_batch(
                    &keys,
                    &values,
                    chunk.len() as u32,
                    MapFlags::ANY,
                    MapFlags::ANY,
                )
                .map_err(|e| Error::bpf("adding flies", e))?;
        }
        Ok(())
    }

    /// The expiry of the prefix `addr` (masked, as for
    /// [`set_fly`](Self::set_fly)) if it is in the map (expired or not).
    pub fn fly(&self, addr: u128) -> Result<Option<u64>, Error> {
        Ok(self.fly_value(addr)?.map(|v| v.expires_ns))
    }

    /// The map's entry for the prefix `addr`: its expiry and the frames of
    /// it the program dropped.
    pub fn fly_value(&self, addr: u128) -> Result<Option<FlyValue>, Error> {
        let key = FlyKey::new(addr);
        let mut value = [0u8; std::mem::size_of::<FlyValue>()];
        match self
            .flies
            .lookup_into(as_bytes(&key), &mut value, MapFlags::ANY)
        {
            Ok(true) => Ok(Some(FlyValue {
                expires_ns: u64::from_ne_bytes(value[0..8].try_into().expect("8 bytes")),
                hits: u64::from_ne_bytes(value[8..16].try_into().expect("8 bytes")),
            })),
            Ok(false) => Ok(None),
            Err(e) => Err(Error::bpf("looking up a fly", e)),
        }
    }

    /// Removes the prefix `addr` (masked, as for [`set_fly`](Self::set_fly))
    /// from the map; not being there is not an error.
    pub fn remove_fly(&self, addr: u128) -> Result<(), Error> {
        let key = FlyKey::new(addr);
        match self.flies.delete(as_bytes(&key)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == libbpf_rs::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::bpf("removing a fly", e)),
        }
    }

    /// Removes every fly. Returns how many entries were removed.
    pub fn clear_flies(&self) -> Result<usize, Error> {
        let mut removed = 0;
        // Collect, then delete: deleting while walking a hash map with
        // get_next_key can restart the walk. Entries added concurrently are
        // caught by the next round; bounded so a racing writer cannot
        // keep us here.
        for _ in 0..16 {
            let keys: Vec<Vec<u8>> = self.flies.keys().collect();
            if keys.is_empty() {
                return Ok(removed);
            }
            for k in keys {
                match self.flies.delete(&k) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == libbpf_rs::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::bpf("clearing flies", e)),
                }
            }
        }
        Ok(removed)
    }

    /// The keys of every entry in the `flies` map (expired ones included);
    /// walks the map, so it is for the control plane.
    pub fn fly_keys(&self) -> Vec<u128> {
        self.flies
            .keys()
            .filter_map(|k| <[u8; 16]>::try_from(k.as_slice()).ok())
            .map(u128::from_be_bytes)
            .collect()
    }

    /// How many entries the `flies` map holds (expired ones included); walks
    /// the map, so it is for the control plane, not the data path.
    pub fn fly_count(&self) -> usize {
        self.flies.keys().count()
    }

    /// Runs the program once on `frame` in the kernel (`BPF_PROG_TEST_RUN`)
    /// and returns its action (`libbpf_sys::XDP_DROP`, `XDP_PASS`, ...).
    /// The frame arrives as on the loopback device of the calling thread's
    /// network namespace, which has no port slot: a frame that is not
    /// dropped passes, counted `no_port`. The counters count it like any
    /// other frame. For tests: real bytes through the loaded program,
    /// without interfaces or sockets.
    pub fn test_run(&self, frame: &[u8]) -> Result<u32, Error> {
        let ctx = "test run of the XDP program";
        let len = u32::try_from(frame.len())
            .map_err(|_| Error::new(ctx, io::ErrorKind::InvalidInput.into()))?;
        let mut opts = libbpf_sys::bpf_test_run_opts {
            sz: mem::size_of::<libbpf_sys::bpf_test_run_opts>() as _,
            data_in: frame.as_ptr().cast(),
            data_size_in: len,
            repeat: 1,
            ..Default::default()
        };
        // SAFETY: plain FFI call: the program fd is valid for the duration
        // (owned by `self.prog`); `opts` is fully initialised, its `sz`
        // tells libbpf its size, `data_in` points at `len` readable bytes
        // that outlive the call, and every output pointer is null (the
        // kernel then copies nothing out). libbpf keeps no pointer.
        let r =
            unsafe { libbpf_sys::bpf_prog_test_run_opts(self.prog.as_fd().as_raw_fd(), &mut opts) };
        if r < 0 {
            return Err(Error::new(ctx, io::Error::from_raw_os_error(-r)));
        }
        Ok(opts.retval)
    }

    /// The program's counters, summed over CPUs.
    pub fn counters(&self) -> Result<XdpCounters, Error> {
        let mut sums = [0u64; counter::MAX as usize];
        for (i, sum) in sums.iter_mut().enumerate() {
            let per_cpu = self
                .counters
                .lookup_percpu(&(i as u32).to_ne_bytes(), MapFlags::ANY)
                .map_err(|e| Error::bpf("reading XDP counters", e))?
                .unwrap_or_default();
            *sum = per_cpu
                .iter()
                .filter_map(|v| v.get(..8))
                .map(|b| u64::from_ne_bytes(b.try_into().unwrap_or([0; 8])))
                .fold(0u64, u64::wrapping_add);
        }
        Ok(XdpCounters {
            redirected: sums[counter::REDIRECTED as usize],
            fly_drops: sums[counter::FLY_DROPS as usize],
            no_socket: sums[counter::NO_SOCKET as usize],
            no_port: sums[counter::NO_PORT as usize],
            ipv4: sums[counter::IPV4 as usize],
            ipv6: sums[counter::IPV6 as usize],
            non_ip: sums[counter::NON_IP as usize],
            malformed: sums[counter::MALFORMED as usize],
            fly_expired: sums[counter::FLY_EXPIRED as usize],
            pppoe: sums[counter::PPPOE as usize],
            mpls: sums[counter::MPLS as usize],
            tunnel: sums[counter::TUNNEL as usize],
        })
    }
}

impl Drop for XdpProgram {
    fn drop(&mut self) {
        // The fields drop after this: the links close first, as declared.
        if let Err(e) = self.unpin_maps() {
            eprintln!("flypaper: {e}");
        }
    }
}

/// Remove a pin; one that is not there is no error.
fn remove_pin(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn c_path(path: &Path) -> Result<CString, Error> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        Error::new(
            format!("path {}", path.display()),
            io::Error::new(io::ErrorKind::InvalidInput, "contains a NUL byte"),
        )
    })
}

/// Whether `path` (which exists) is on a BPF filesystem.
fn on_bpffs(path: &Path) -> Result<bool, Error> {
    let c = c_path(path)?;
    let mut st = mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: `c` is a NUL-terminated path that outlives the call, and
    // `st` is a writable statfs buffer of the right size.
    let rc = unsafe { libc::statfs(c.as_ptr(), st.as_mut_ptr()) };
    if rc != 0 {
        return Err(Error::new(
            format!("statfs {}", path.display()),
            io::Error::last_os_error(),
        ));
    }
    // SAFETY: statfs returned 0, so it filled the buffer.
    let st = unsafe { st.assume_init() };
    #[allow(clippy::unnecessary_cast)] // f_type's width differs between targets
    Ok(st.f_type as i64 == BPF_FS_MAGIC)
}

/// Make `dir` a directory on a BPF filesystem: use it if it is one, create
/// it in a parent that is one, or mount one on it. True when a filesystem
/// was mounted.
fn ensure_bpffs(dir: &Path) -> Result<bool, Error> {
    let ctx = |what: &str| format!("{what} {} for pinned maps", dir.display());
    if !dir.exists() {
        let parent = dir.parent().filter(|p| !p.as_os_str().is_empty());
        match parent {
            Some(p) if p.is_dir() && on_bpffs(p)? => {
                std::fs::create_dir(dir).map_err(|e| Error::new(ctx("creating"), e))?;
                return Ok(false);
            }
            _ => {
                return Err(Error::new(
                    ctx("using"),
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        "it does not exist, and its parent is not on a BPF filesystem",
                    ),
                ))
            }
        }
    }
    if !dir.is_dir() {
        return Err(Error::new(
            ctx("using"),
            io::Error::new(io::ErrorKind::InvalidInput, "not a directory"),
        ));
    }
    if on_bpffs(dir)? {
        return Ok(false);
    }
    let target = c_path(dir)?;
    let fstype = c"bpf";
    // SAFETY: every pointer is a NUL-terminated string that outlives the
    // call; no data argument is passed.
    let rc = unsafe {
        libc::mount(
            fstype.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(Error::new(
            ctx("mounting a BPF filesystem on"),
            io::Error::last_os_error(),
        ));
    }
    Ok(true)
}

fn unmount(dir: &Path) -> Result<(), Error> {
    let c = c_path(dir)?;
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    let rc = unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    if rc != 0 {
        return Err(Error::new(
            format!("unmounting {}", dir.display()),
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

fn abi_error(msg: &str) -> Error {
    Error::new(
        "the XDP object does not match bpf/flypaper.h",
        io::Error::new(io::ErrorKind::InvalidData, msg.to_string()),
    )
}

fn check_map(map: &MapHandle, key: usize, value: usize, entries: Option<u32>) -> Result<(), Error> {
    let name = map.name().to_string_lossy().into_owned();
    if map.key_size() as usize != key || map.value_size() as usize != value {
        return Err(abi_error(&format!(
            "map `{name}`: key/value {}/{} bytes, Rust expects {key}/{value}",
            map.key_size(),
            map.value_size()
        )));
    }
    if let Some(n) = entries {
        let info = map
            .info()
            .map_err(|e| Error::bpf(format!("map `{name}` info"), e))?;
        if info.info.max_entries != n {
            return Err(abi_error(&format!(
                "map `{name}`: {} entries, Rust expects {n}",
                info.info.max_entries
            )));
        }
    }
    Ok(())
}

/// The bytes of a `#[repr(C)]` ABI struct without padding.
fn as_bytes<T: AbiPod>(v: &T) -> &[u8] {
    // SAFETY: `AbiPod` is implemented only for #[repr(C)] types made of
    // integers with no padding (checked by the layout tests), so every
    // byte of `*v` is initialised; the slice borrows `v`.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), mem::size_of::<T>()) }
}

trait AbiPod: Copy {}
impl AbiPod for FlyKey {}
impl AbiPod for FlyValue {}
impl AbiPod for PrefixConfig {}

/// What a device says it can do with XDP (`NETDEV_XDP_ACT_*`, as reported
/// by `bpf_xdp_query`; kernels before 6.3 report nothing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpFeatures {
    pub raw: u64,
}

impl XdpFeatures {
    /// Native XDP with XDP_PASS / XDP_DROP / XDP_TX (`NETDEV_XDP_ACT_BASIC`).
    pub fn native(&self) -> bool {
        self.raw & 1 != 0
    }
    /// Native XDP_REDIRECT (`NETDEV_XDP_ACT_REDIRECT`).
    pub fn redirect(&self) -> bool {
        self.raw & 2 != 0
    }
    /// Can be the target of a redirect (`NETDEV_XDP_ACT_NDO_XMIT`).
    pub fn ndo_xmit(&self) -> bool {
        self.raw & 4 != 0
    }
    /// AF_XDP zero-copy (`NETDEV_XDP_ACT_XSK_ZEROCOPY`).
    pub fn xsk_zerocopy(&self) -> bool {
        self.raw & 8 != 0
    }
}

/// The XDP state of an interface, as the kernel reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct XdpQuery {
    /// Program attached in the driver, 0 when none.
    pub drv_prog_id: u32,
    /// Program attached in generic mode, 0 when none.
    pub skb_prog_id: u32,
    pub features: XdpFeatures,
}

impl XdpQuery {
    /// True when any XDP program is attached.
    pub fn attached(&self) -> bool {
        self.drv_prog_id != 0 || self.skb_prog_id != 0
    }
}

/// Asks the kernel (netlink, in the calling thread's network namespace)
/// which XDP programs are attached to `ifindex` and what it supports.
pub fn query(ifindex: u32) -> Result<XdpQuery, Error> {
    let mut opts = libbpf_sys::bpf_xdp_query_opts {
        sz: mem::size_of::<libbpf_sys::bpf_xdp_query_opts>() as _,
        ..Default::default()
    };
    let target = i32::try_from(ifindex)
        .map_err(|_| Error::new("XDP query", io::ErrorKind::InvalidInput.into()))?;
    // SAFETY: plain FFI call with a fully initialised, correctly sized
    // options struct that outlives the call; libbpf keeps no pointer.
    let r = unsafe { libbpf_sys::bpf_xdp_query(target, 0, &mut opts) };
    if r < 0 {
        return Err(Error::new(
            format!("XDP query of ifindex {ifindex}"),
            io::Error::from_raw_os_error(-r),
        ));
    }
    Ok(XdpQuery {
        drv_prog_id: opts.drv_prog_id,
        skb_prog_id: opts.skb_prog_id,
        features: XdpFeatures {
            raw: opts.feature_flags,
        },
    })
}

pub use super::monotonic_ns;

/// [`super::ifindex`] with this module's error type.
pub fn ifindex(name: &str) -> Result<u32, Error> {
    super::ifindex(name).map_err(|e| Error::new(format!("interface {name:?}"), e))
}

/// Moves the calling thread (only it) into the network namespace `ns`: a
/// name made by `ip netns add` (under `/run/netns`) or a path such as
/// `/proc/PID/ns/net`. Interface indexes, XDP attachment, netlink queries
/// and sockets created afterwards by this thread belong to that namespace;
/// sockets keep their namespace when used from other threads. For the lab
/// and tests: run it on a thread of its own.
pub fn enter_netns(ns: &str) -> Result<(), Error> {
    let path = if ns.starts_with('/') {
        ns.to_string()
    } else {
        format!("/run/netns/{ns}")
    };
    let f = std::fs::File::open(&path)
        .map_err(|e| Error::new(format!("opening network namespace {path}"), e))?;
    // SAFETY: `f` is an open namespace file for the duration of the call;
    // setns(CLONE_NEWNET) only changes the calling thread's namespace.
    let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    if r != 0 {
        return Err(Error::new(
            format!("entering network namespace {path}"),
            io::Error::last_os_error(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod test {
    use super::*;
    use std::mem::{align_of, offset_of, size_of};

    /// Detaching does not wait for every holder of the link descriptor to
    /// close it: a forked child still holding a copy (here, a second
    /// descriptor of this process) must not keep the program attached, or
    /// the next attach to that interface fails with EEXIST. Needs root (CI
    /// runs as root): XDP in generic mode on the loopback device of a
    /// network namespace made for the test.
    #[test]
    fn detach_does_not_wait_for_other_holders_of_the_link() {
        let root = std::fs::read_to_string("/proc/self/status")
            .map(|s| s.lines().any(|l| l.starts_with("Uid:\t0\t")))
            .unwrap_or(false);
        if !root {
            eprintln!("SKIPPED: needs root (CI runs it as root)");
            return;
        }
        struct Netns(String);
        impl Drop for Netns {
            fn drop(&mut self) {
                let _ = std::process::Command::new("ip")
                    .args(["netns", "del", &self.0])
                    .status();
            }
        }
        let ns = Netns(format!("fpx-link-{}", std::process::id()));
        let added = std::process::Command::new("ip")
            .args(["netns", "add", &ns.0])
            .status()
            .expect("ip (iproute2) runs");
        assert!(added.success(), "ip netns add {}", ns.0);
        let ns_name = ns.0.clone();
        std::thread::spawn(move || {
            enter_netns(&ns_name).unwrap();
            let lo = ifindex("lo").unwrap();
            let mut prog = XdpProgram::load(16).unwrap();
            assert_eq!(prog.attach(lo, false).unwrap(), AttachMode::Generic);
            let other_holder = prog.links[0]._link.0.try_clone().unwrap();
            prog.detach(lo).unwrap();
            let q = query(lo).unwrap();
            assert!(!q.attached(), "still attached after detach: {q:?}");
            assert_eq!(prog.attach(lo, false).unwrap(), AttachMode::Generic);
            drop(other_holder);
            drop(prog);
            assert!(!query(lo).unwrap().attached(), "attached after drop");
        })
        .join()
        .expect("the namespace thread passed");
    }

    #[test]
    fn abi_layout() {
        assert_eq!(size_of::<FlyKey>(), 16);
        assert_eq!(align_of::<FlyKey>(), 1);
        assert_eq!(offset_of!(FlyKey, addr), 0);
        assert_eq!(size_of::<FlyValue>(), 16);
        assert_eq!(offset_of!(FlyValue, expires_ns), 0);
        assert_eq!(offset_of!(FlyValue, hits), 8);
        assert_eq!(size_of::<PrefixConfig>(), 40);
        assert_eq!(align_of::<PrefixConfig>(), 8);
        assert_eq!(offset_of!(PrefixConfig, prefix_v4), 0);
        assert_eq!(offset_of!(PrefixConfig, prefix_v6), 1);
        assert_eq!(offset_of!(PrefixConfig, pad), 2);
        assert_eq!(offset_of!(PrefixConfig, mask_v4), 8);
        assert_eq!(offset_of!(PrefixConfig, mask_v6), 24);
    }

    /// The masks are the bytes of `Addr::v4_mask` / `v6_mask` in network
    /// order, the way the program ANDs them onto an `fp_addr`.
    #[test]
    fn prefix_config_masks_are_network_order_bytes() {
        let c = PrefixConfig::new(24, 48);
        let bytes = as_bytes(&c);
        assert_eq!(bytes[..8], [24, 48, 0, 0, 0, 0, 0, 0]);
        let mut v4 = [0xffu8; 16];
        v4[15] = 0;
        assert_eq!(bytes[8..24], v4);
        let mut v6 = [0u8; 16];
        v6[..6].fill(0xff);
        assert_eq!(bytes[24..40], v6);
        let d = PrefixConfig::new(DEFAULT_PREFIX_V4, DEFAULT_PREFIX_V6);
        assert_eq!(as_bytes(&d)[8..24], [0xff; 16]);
        assert_eq!(as_bytes(&d)[24..40], [[0xff; 8], [0; 8]].concat());
    }

    #[test]
    fn key_is_addr_in_network_order() {
        let a: crate::Addr = "69.0.231.79".parse().unwrap();
        let k = FlyKey::new(a.0);
        assert_eq!(
            k.addr,
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 69, 0, 231, 79]
        );
        let b: crate::Addr = "2001:db8::1".parse().unwrap();
        assert_eq!(FlyKey::new(b.0).addr[..4], [0x20, 0x01, 0x0d, 0xb8]);
        assert_eq!(as_bytes(&k), &k.addr[..]);
    }

    /// The constants of bpf/flypaper.h, read from the header itself.
    #[test]
    fn header_matches_rust() {
        let h = include_str!("../../bpf/flypaper.h");
        let value = |name: &str| -> u32 {
            for line in h.lines() {
                let t = line.trim();
                let rest = if let Some(r) = t.strip_prefix("#define ") {
                    r
                } else {
                    t
                };
                if let Some(r) = rest.strip_prefix(name) {
                    let r = r.trim_start().trim_start_matches('=').trim_start();
                    let n: String = r.chars().take_while(|c| c.is_ascii_digit()).collect();
                    if !n.is_empty() && (r.starts_with(&n)) {
                        return n.parse().unwrap();
                    }
                }
            }
            panic!("{name} not found in bpf/flypaper.h");
        };
        assert_eq!(value("FP_MAX_PORTS"), MAX_PORTS);
        assert_eq!(value("FP_MAX_QUEUES"), MAX_QUEUES);
        assert_eq!(value("FP_CTR_REDIRECTED"), counter::REDIRECTED);
        assert_eq!(value("FP_CTR_FLY_DROPS"), counter::FLY_DROPS);
        assert_eq!(value("FP_CTR_NO_SOCKET"), counter::NO_SOCKET);
        assert_eq!(value("FP_CTR_NO_PORT"), counter::NO_PORT);
        assert_eq!(value("FP_CTR_IPV4"), counter::IPV4);
        assert_eq!(value("FP_CTR_IPV6"), counter::IPV6);
        assert_eq!(value("FP_CTR_NON_IP"), counter::NON_IP);
        assert_eq!(value("FP_CTR_MALFORMED"), counter::MALFORMED);
        assert_eq!(value("FP_CTR_FLY_EXPIRED"), counter::FLY_EXPIRED);
        assert_eq!(value("FP_CTR_PPPOE"), counter::PPPOE);
        assert_eq!(value("FP_CTR_MPLS"), counter::MPLS);
        assert_eq!(value("FP_CTR_TUNNEL"), counter::TUNNEL);
        assert_eq!(value("FP_CTR_MAX"), counter::MAX);
        assert_eq!(value("FP_MAX_VLAN_TAGS"), MAX_VLAN_TAGS);
        assert_eq!(value("FP_MAX_MPLS_LABELS"), MAX_MPLS_LABELS);
        assert!(h.contains("struct fp_addr {\n\t__u8 addr[16];\n};"));
        assert!(h.contains("struct fp_fly {\n\t__u64 expires_ns;"));
        assert!(h.contains("\t__u64 hits;"));
        let config: Vec<&str> = h
            .split("struct fp_config {\n")
            .nth(1)
            .and_then(|r| r.split("};").next())
            .expect("struct fp_config in bpf/flypaper.h")
            .lines()
            .map(|l| l.split(';').next().unwrap_or("").trim())
            .collect();
        assert_eq!(
            config,
            [
                "__u8 prefix_v4",
                "__u8 prefix_v6",
                "__u8 pad[6]",
                "__u64 mask_v4[2]",
                "__u64 mask_v6[2]"
            ]
        );
    }

    #[test]
    fn object_is_bpf_elf() {
        let o = object_bytes();
        assert_eq!(&o[..4], b"\x7fELF");
        // e_machine EM_BPF (247), little endian.
        assert_eq!(u16::from_le_bytes([o[18], o[19]]), 247);
        assert_eq!(o.as_ptr() as usize % 8, 0);
    }

    #[test]
    fn handles_are_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<XdpProgram>();
        check::<Error>();
    }

    #[test]
    fn loopback_has_an_index() {
        assert!(ifindex("lo").unwrap() >= 1);
        assert!(ifindex("no-such-if0").is_err());
    }
}

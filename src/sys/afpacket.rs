//! Raw AF_PACKET sockets: the fallback backend of the data path.
//!
//! One socket per port, bound to the interface with `ETH_P_ALL`,
//! promiscuous, non-blocking, and with `PACKET_IGNORE_OUTGOING` so that the
//! frames flypaper transmits are not read back. The kernel strips 802.1Q
//! tags into metadata on receive; `PACKET_AUXDATA` hands the tag back and
//! `recv` reinserts it, so a tagged frame leaves the appliance tagged.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::ifindex;

/// `PACKET_AUXDATA` (linux/if_packet.h).
const PACKET_AUXDATA: libc::c_int = 8;
/// `SIOCETHTOOL` and the GRO get/set commands (linux/ethtool.h).
const SIOCETHTOOL: libc::c_ulong = 0x8946;
const ETHTOOL_GGRO: u32 = 0x2b;
const ETHTOOL_SGRO: u32 = 0x2c;

fn last_err(what: &str) -> io::Error {
    let e = io::Error::last_os_error();
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

fn ethtool_gro(name: &str, set: Option<bool>) -> io::Result<bool> {
    if name.len() >= libc::IFNAMSIZ {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "interface name too long",
        ));
    }
    // SAFETY: a plain datagram socket for the ioctl; checked below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(last_err("socket for ethtool"));
    }
    // SAFETY: `fd` is a socket we just opened and now own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut val = EthtoolValue {
        cmd: if set.is_some() {
            ETHTOOL_SGRO
        } else {
            ETHTOOL_GGRO
        },
        data: set.map_or(0, u32::from),
    };
    // SAFETY: ifreq is plain data; all-zero is a valid value.
    let mut ifr: libc::ifreq = unsafe { mem::zeroed() };
    for (d, s) in ifr.ifr_name.iter_mut().zip(name.bytes()) {
        *d = s as libc::c_char;
    }
    ifr.ifr_ifru.ifru_data = (&mut val as *mut EthtoolValue).cast();
    // SAFETY: SIOCETHTOOL reads the command from and writes the result to
    // `val`, which outlives the call; `ifr` names the interface.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), SIOCETHTOOL, &mut ifr) };
    if r < 0 {
        return Err(last_err(&format!("ethtool GRO on {name}")));
    }
    Ok(val.data != 0)
}

/// Turn generic receive offload on or off on an interface; returns whether
/// it was on before. A packet socket sees frames after GRO, so with GRO on
/// it would read merged super-frames that cannot be sent out again.
pub fn set_gro(name: &str, on: bool) -> io::Result<bool> {
    let was = ethtool_gro(name, None)?;
    if was != on {
        ethtool_gro(name, Some(on))?;
    }
    Ok(was)
}

/// A raw packet socket bound to one interface.
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: u32,
}

/// What `recv` read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recv {
    /// A frame of this many bytes (VLAN tag reinserted) is in the buffer.
    Frame(usize),
    /// A frame larger than the buffer arrived and was discarded.
    Oversize(usize),
    /// Nothing to read now.
    Empty,
}

impl PacketSocket {
    /// Open a socket on `name`: all protocols, promiscuous, outgoing frames
    /// ignored, VLAN tags reported.
    pub fn open(name: &str) -> io::Result<PacketSocket> {
        let ifindex = ifindex(name)?;
        let proto = (libc::ETH_P_ALL as u16).to_be();
        // SAFETY: plain socket(2) call; the result is checked.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                proto as libc::c_int,
            )
        };
        if fd < 0 {
            return Err(last_err(&format!("AF_PACKET socket for {name}")));
        }
        // SAFETY: `fd` is a socket we just opened and now own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let s = PacketSocket { fd, ifindex };
        // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
        let mut sll: libc::sockaddr_ll = unsafe { mem::zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto;
        sll.sll_ifindex = ifindex as i32;
        // SAFETY: `sll` is a valid sockaddr_ll and the length matches it.
        let r = unsafe {
            libc::bind(
                s.fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if r < 0 {
            return Err(last_err(&format!("bind AF_PACKET to {name}")));
        }
        // SAFETY: packet_mreq is plain data; all-zero is a valid value.
        let mut mr: libc::packet_mreq = unsafe { mem::zeroed() };
        mr.mr_ifindex = ifindex as i32;
        mr.mr_type = libc::PACKET_MR_PROMISC as u16;
        s.setsockopt(libc::PACKET_ADD_MEMBERSHIP, &mr, "promiscuous mode")?;
        s.setsockopt(
            libc::PACKET_IGNORE_OUTGOING,
            &1i32,
            "PACKET_IGNORE_OUTGOING",
        )?;
        s.setsockopt(PACKET_AUXDATA, &1i32, "PACKET_AUXDATA")?;
        // Room for bursts between two reads (a 1 Gbit/s burst fills the
        // default ~200 KiB in under 2 ms). The FORCE variants need
        // CAP_NET_ADMIN; without it the default stays.
        for opt in [libc::SO_RCVBUFFORCE, libc::SO_SNDBUFFORCE] {
            let _ = s.sockopt(libc::SOL_SOCKET, opt, &(4i32 << 20), "socket buffer");
        }
        Ok(s)
    }

    fn setsockopt<T>(&self, opt: libc::c_int, val: &T, what: &str) -> io::Result<()> {
        self.sockopt(libc::SOL_PACKET, opt, val, what)
    }

    fn sockopt<T>(
        &self,
        level: libc::c_int,
        opt: libc::c_int,
        val: &T,
        what: &str,
    ) -> io::Result<()> {
        // SAFETY: `val` points to a live T and the length is its size.
        let r = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                level,
                opt,
                (val as *const T).cast(),
                mem::size_of::<T>() as u32,
            )
        };
        if r < 0 {
            Err(last_err(what))
        } else {
            Ok(())
        }
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Join fanout group `group` (one per port): the kernel then gives each
    /// frame to one socket of the group, chosen by the flow hash. That hash
    /// does not depend on the direction, so with the same number of sockets
    /// in each port's group both directions of a connection reach the same
    /// worker (and its flow table).
    pub fn join_fanout(&self, group: u16) -> io::Result<()> {
        let arg: i32 = group as i32 | ((libc::PACKET_FANOUT_HASH as i32) << 16);
        self.setsockopt(libc::PACKET_FANOUT, &arg, "PACKET_FANOUT")
    }

    /// Read one frame into `buf` (non-blocking). `buf` must have 4 bytes of
    /// room beyond the largest frame for a reinserted VLAN tag.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Recv> {
        if buf.len() < 18 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "receive buffer too small",
            ));
        }
        let room = buf.len() - 4;
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: room,
        };
        // Room for one cmsg carrying tpacket_auxdata.
        let mut control = [0u64; 8];
        // SAFETY: msghdr is plain data; all-zero is a valid value.
        let mut msg: libc::msghdr = unsafe { mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = mem::size_of_val(&control);
        // SAFETY: `msg` describes `buf` (at most `room` bytes) and `control`,
        // both alive and exclusively borrowed for the call.
        let n = unsafe {
            libc::recvmsg(
                self.fd.as_raw_fd(),
                &mut msg,
                libc::MSG_DONTWAIT | libc::MSG_TRUNC,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(Recv::Empty),
                _ => Err(e),
            };
        }
        let n = n as usize;
        if n > room {
            return Ok(Recv::Oversize(n));
        }
        // Find the VLAN tag the kernel took out, if any.
        let mut tci: Option<(u16, u16)> = None;
        // SAFETY: CMSG_FIRSTHDR/NXTHDR walk the control buffer the kernel
        // filled, bounded by msg_controllen; each header is checked before
        // its data is read (read_unaligned: the data may be unaligned).
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_PACKET
                    && (*c).cmsg_type == PACKET_AUXDATA
                    && (*c).cmsg_len as usize
                        >= libc::CMSG_LEN(mem::size_of::<libc::tpacket_auxdata>() as u32) as usize
                {
                    let aux: libc::tpacket_auxdata =
                        std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                    if aux.tp_status & libc::TP_STATUS_VLAN_VALID != 0 {
                        let tpid = if aux.tp_status & libc::TP_STATUS_VLAN_TPID_VALID != 0 {
                            aux.tp_vlan_tpid
                        } else {
                            0x8100
                        };
                        tci = Some((tpid, aux.tp_vlan_tci));
                    }
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        match tci {
            Some((tpid, tci)) if n >= 12 => {
                buf.copy_within(12..n, 16);
                buf[12..14].copy_from_slice(&tpid.to_be_bytes());
                buf[14..16].copy_from_slice(&tci.to_be_bytes());
                Ok(Recv::Frame(n + 4))
            }
            _ => Ok(Recv::Frame(n)),
        }
    }

    /// Frames the kernel dropped on this socket (its receive queue was
    /// full) since the last call: PACKET_STATISTICS resets on read.
    pub fn take_drops(&self) -> io::Result<u64> {
        let mut st = libc::tpacket_stats {
            tp_packets: 0,
            tp_drops: 0,
        };
        let mut len = mem::size_of::<libc::tpacket_stats>() as libc::socklen_t;
        // SAFETY: `st` is a writable tpacket_stats and `len` its size.
        let r = unsafe {
            libc::getsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_PACKET,
                libc::PACKET_STATISTICS,
                (&mut st as *mut libc::tpacket_stats).cast(),
                &mut len,
            )
        };
        if r < 0 {
            return Err(last_err("PACKET_STATISTICS"));
        }
        Ok(st.tp_drops as u64)
    }

    /// Transmit one frame (non-blocking). Returns false when the socket's
    /// queue is full (the caller counts the frame as dropped).
    pub fn send(&self, frame: &[u8]) -> io::Result<bool> {
        // SAFETY: `frame` is a live byte slice of the given length.
        let n = unsafe {
            libc::send(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::ENOBUFS) | Some(libc::EINTR) => Ok(false),
                _ => Err(e),
            };
        }
        Ok(true)
    }
}

impl AsRawFd for PacketSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Wait until one of `fds` is readable or `timeout_ms` passes. Returns the
/// readiness of each.
pub fn poll_readable<const N: usize>(fds: [RawFd; N], timeout_ms: i32) -> io::Result<[bool; N]> {
    let mut p = fds.map(|fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    });
    // SAFETY: `p` is an array of N valid pollfd structs.
    let r = unsafe { libc::poll(p.as_mut_ptr(), N as libc::nfds_t, timeout_ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok([false; N]);
        }
        return Err(e);
    }
    Ok(p.map(|p| p.revents & libc::POLLIN != 0))
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn poll_with_nothing_ready_times_out() {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe(2) writes.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        assert_eq!(poll_readable([fds[0]], 10).unwrap(), [false]);
        // SAFETY: writing one byte from a live buffer to our pipe.
        assert_eq!(unsafe { libc::write(fds[1], [1u8].as_ptr().cast(), 1) }, 1);
        assert_eq!(poll_readable([fds[0]], 10).unwrap(), [true]);
        for fd in fds {
            // SAFETY: closing the pipe we opened.
            unsafe { libc::close(fd) };
        }
    }
}

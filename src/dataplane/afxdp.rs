//! The AF_XDP backend: one socket per port on queue 0, both on one UMEM,
//! and the XDP program that feeds them.

use std::io;

use arrayvec::ArrayVec;

use super::{Backend, FrameRef, RunConfig};
use crate::daemon::PortInfo;
use crate::filter::{Policy, BATCH};
use crate::sys::{xdp, xsk};

/// Headroom before a frame's data in a UMEM frame.
const XSK_HEADROOM: u64 = 256;

/// The AF_XDP backend of one worker: one socket per port on queue 0, both
/// on one UMEM, so forwarding puts the received descriptor on the other
/// port's TX ring and no byte is copied.
pub struct AfXdp {
    umem: xsk::Umem,
    socks: [xsk::Xsk; 2],
    /// Frames the worker owns and has not given to the kernel.
    free: Vec<u64>,
    descs: [xsk::Desc; BATCH],
    done: Vec<u64>,
    tx_errors: u64,
}

impl AfXdp {
    /// Bind both ports. Frames: both fill, RX and TX rings full, plus the
    /// RST delay queue and a batch per port. Received data starts 256 bytes
    /// into a 2048-byte frame, so the largest frame is 1792 bytes (a
    /// 1500-byte MTU with two VLAN tags fits); the kernel drops larger ones.
    pub fn open(wan_ifindex: u32, lan_ifindex: u32, rst_queue: usize) -> io::Result<AfXdp> {
        let cfg = xsk::XskConfig::default();
        let frames =
            2 * (cfg.fill_size + cfg.rx_size + cfg.tx_size) + rst_queue as u32 + 2 * BATCH as u32;
        let umem = xsk::Umem::new(frames, 2048)?;
        let wan = xsk::Xsk::bind(&umem, wan_ifindex, 0, &cfg, None)?;
        let lan = xsk::Xsk::bind(&umem, lan_ifindex, 0, &cfg, Some(&wan))?;
        let free: Vec<u64> = umem.frame_addrs().collect();
        let mut b = AfXdp {
            umem,
            socks: [wan, lan],
            free,
            descs: [xsk::Desc { addr: 0, len: 0 }; BATCH],
            done: vec![0; cfg.comp_size as usize],
            tx_errors: 0,
        };
        b.refill();
        Ok(b)
    }

    /// Give free frames to both fill rings, half each.
    fn refill(&mut self) {
        for port in 0..2 {
            let room = self.socks[port].fill_free() as usize;
            let give = room.min(self.free.len() / (2 - port));
            if give > 0 {
                let from = self.free.len() - give;
                let n = self.socks[port].fill(&self.free[from..]);
                self.free.truncate(self.free.len() - n);
            }
        }
    }

    pub fn modes(&self) -> [xsk::BindMode; 2] {
        [self.socks[0].mode(), self.socks[1].mode()]
    }

    pub fn fds(&self) -> [std::os::fd::RawFd; 2] {
        [self.socks[0].fd(), self.socks[1].fd()]
    }
}

impl Backend for AfXdp {
    fn recv(&mut self, port: usize, out: &mut ArrayVec<FrameRef, BATCH>) -> io::Result<()> {
        let room = out.remaining_capacity();
        let n = self.socks[port].rx(&mut self.descs[..room]);
        for d in &self.descs[..n] {
            out.push(FrameRef {
                id: d.addr,
                len: d.len,
            });
        }
        Ok(())
    }

    fn data(&self, f: &FrameRef) -> &[u8] {
        self.umem.frame(f.id, f.len as usize)
    }

    fn transmit(&mut self, port: usize, f: FrameRef) {
        if self.socks[port].tx(&[xsk::Desc {
            addr: f.id,
            len: f.len,
        }]) == 0
        {
            self.tx_errors += 1;
            self.release(f);
        }
    }

    fn release(&mut self, f: FrameRef) {
        self.free.push(self.umem.frame_base(f.id));
    }

    fn send(&mut self, port: usize, bytes: &[u8]) -> bool {
        let Some(base) = self.free.pop() else {
            return false;
        };
        // Where the kernel would have put a received frame.
        let addr = base + XSK_HEADROOM;
        self.umem
            .frame_mut(addr, bytes.len())
            .copy_from_slice(bytes);
        self.transmit(
            port,
            FrameRef {
                id: addr,
                len: bytes.len() as u32,
            },
        );
        true
    }

    fn flush(&mut self) -> io::Result<()> {
        for port in 0..2 {
            // Copy mode sends at most 32 descriptors per kick: kick
            // whenever anything is outstanding, not only after a submit.
            if self.socks[port].tx_outstanding() > 0 {
                self.socks[port].kick_tx()?;
            }
            let n = self.socks[port].completed(&mut self.done);
            for &a in &self.done[..n] {
                self.free.push(self.umem.frame_base(a));
            }
        }
        self.refill();
        for s in &self.socks {
            if s.rx_needs_wakeup() {
                s.wake_rx()?;
            }
        }
        Ok(())
    }

    fn wait(&mut self, timeout_ms: i32) -> io::Result<()> {
        xsk::poll(&[&self.socks[0], &self.socks[1]], timeout_ms).map(|_| ())
    }

    fn take_oversize(&mut self) -> [u64; 2] {
        // The UMEM frame is the MTU's limit: the kernel drops larger frames
        // before they reach the ring (counted in the socket's stats).
        [0; 2]
    }

    fn take_tx_errors(&mut self) -> u64 {
        std::mem::take(&mut self.tx_errors)
    }

    fn kernel_drops(&mut self) -> u64 {
        self.socks
            .iter()
            .filter_map(|s| s.stats().ok())
            .map(|st| st.rx_dropped + st.rx_ring_full)
            .sum()
    }
}

/// The XDP program attached to both ports and the two AF_XDP sockets.
pub(super) fn open_afxdp(
    cfg: &RunConfig,
    policy: &Policy,
) -> Result<(xdp::XdpProgram, AfXdp, Vec<PortInfo>), String> {
    let wan = xdp::ifindex(&cfg.wan).map_err(|e| e.to_string())?;
    let lan = xdp::ifindex(&cfg.lan).map_err(|e| e.to_string())?;
    let flies = u32::try_from(policy.tables.flies).unwrap_or(u32::MAX);
    let mut prog =
        xdp::XdpProgram::load(flies).map_err(|e| format!("loading the XDP program: {e}"))?;
    let p = policy.fly_prefix;
    prog.set_prefixes(p.v4, p.v6)
        .map_err(|e| format!("setting the fly prefixes /{} and /{}: {e}", p.v4, p.v6))?;
    let mut modes = Vec::new();
    for (name, idx) in [(&cfg.wan, wan), (&cfg.lan, lan)] {
        let mode = prog
            .attach(idx, true)
            .map_err(|e| format!("attaching XDP to {name}: {e}"))?;
        modes.push(mode);
    }
    let backend = AfXdp::open(wan, lan, policy.tables.rst_queue)
        .map_err(|e| format!("binding AF_XDP sockets: {e}"))?;
    let fds = backend.fds();
    for (idx, fd) in [(wan, fds[0]), (lan, fds[1])] {
        prog.register_xsk(idx, 0, fd)
            .map_err(|e| format!("registering the AF_XDP socket: {e}"))?;
    }
    let bind = backend.modes();
    println!(
        "backend afxdp: wan {} (ifindex {wan}): XDP {}, socket {}; lan {} (ifindex {lan}): XDP {}, socket {}; one UMEM shared by both",
        cfg.wan, modes[0], bind[0], cfg.lan, modes[1], bind[1]
    );
    let ports = [("wan", &cfg.wan), ("lan", &cfg.lan)]
        .into_iter()
        .zip(modes.iter().zip(bind))
        .map(|((role, name), (m, b))| PortInfo {
            role,
            name: name.clone(),
            xdp: Some(m.to_string()),
            socket: format!("AF_XDP {b}"),
        })
        .collect();
    Ok((prog, backend, ports))
}

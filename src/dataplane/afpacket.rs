//! The AF_PACKET backend: a raw packet socket per port and a fixed pool of
//! buffers; frames are copied in and out. The fallback where AF_XDP does
//! not bind.

use std::io;

use arrayvec::ArrayVec;

use super::{Backend, FrameRef};
use crate::filter::BATCH;
use crate::sys::afpacket;

/// Frame buffers of the AF_PACKET backend: 2 KiB slots (1500-byte MTU,
/// VLAN tags and headroom for a reinserted tag); larger frames are dropped
/// as `oversize`.
pub const SLOT: usize = 2048;

/// The AF_PACKET backend of one worker: a socket per port and a fixed pool
/// of buffers (frames are copied in and out).
pub struct AfPacket {
    socks: [afpacket::PacketSocket; 2],
    pool: Vec<u8>,
    free: Vec<u32>,
    oversize: [u64; 2],
    tx_errors: u64,
    kernel_drops: u64,
}

impl AfPacket {
    /// Open both ports; `buffers` bounds the frames held at once (a batch
    /// per port plus the RST delay queue).
    pub fn open(
        wan: &str,
        lan: &str,
        buffers: usize,
        fanout: Option<[u16; 2]>,
    ) -> io::Result<AfPacket> {
        let socks = [
            afpacket::PacketSocket::open(wan)?,
            afpacket::PacketSocket::open(lan)?,
        ];
        if let Some(groups) = fanout {
            for (s, g) in socks.iter().zip(groups) {
                s.join_fanout(g)?;
            }
        }
        Ok(AfPacket {
            socks,
            pool: vec![0u8; buffers * SLOT],
            free: (0..buffers as u32).rev().collect(),
            oversize: [0; 2],
            tx_errors: 0,
            kernel_drops: 0,
        })
    }

    fn slot(&self, id: u64) -> &[u8] {
        let s = id as usize * SLOT;
        &self.pool[s..s + SLOT]
    }
}

impl Backend for AfPacket {
    fn recv(&mut self, port: usize, out: &mut ArrayVec<FrameRef, BATCH>) -> io::Result<()> {
        while !out.is_full() {
            let Some(id) = self.free.pop() else { break };
            let s = id as usize * SLOT;
            match self.socks[port].recv(&mut self.pool[s..s + SLOT])? {
                afpacket::Recv::Frame(n) => out.push(FrameRef {
                    id: id as u64,
                    len: n as u32,
                }),
                afpacket::Recv::Oversize(_) => {
                    self.oversize[port] += 1;
                    self.free.push(id);
                }
                afpacket::Recv::Empty => {
                    self.free.push(id);
                    break;
                }
            }
        }
        Ok(())
    }

    fn data(&self, f: &FrameRef) -> &[u8] {
        &self.slot(f.id)[..f.len as usize]
    }

    fn transmit(&mut self, port: usize, f: FrameRef) {
        match self.socks[port].send(self.data(&f)) {
            Ok(true) => {}
            Ok(false) | Err(_) => self.tx_errors += 1,
        }
        self.release(f);
    }

    fn release(&mut self, f: FrameRef) {
        self.free.push(f.id as u32);
    }

    fn send(&mut self, port: usize, bytes: &[u8]) -> bool {
        let Some(id) = self.free.pop() else {
            return false;
        };
        let s = id as usize * SLOT;
        let len = bytes.len().min(SLOT);
        self.pool[s..s + len].copy_from_slice(&bytes[..len]);
        self.transmit(
            port,
            FrameRef {
                id: u64::from(id),
                len: len as u32,
            },
        );
        true
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn wait(&mut self, timeout_ms: i32) -> io::Result<()> {
        use std::os::fd::AsRawFd;
        afpacket::poll_readable(
            [self.socks[0].as_raw_fd(), self.socks[1].as_raw_fd()],
            timeout_ms,
        )
        .map(|_| ())
    }

    fn take_oversize(&mut self) -> [u64; 2] {
        std::mem::take(&mut self.oversize)
    }

    fn take_tx_errors(&mut self) -> u64 {
        std::mem::take(&mut self.tx_errors)
    }

    fn kernel_drops(&mut self) -> u64 {
        for s in &self.socks {
            self.kernel_drops += s.take_drops().unwrap_or(0);
        }
        self.kernel_drops
    }
}

//! An in-memory backend: frames handed in by a test, frames sent out
//! recorded. It runs the real worker loop (and so the real driver) without
//! sockets, rings or privileges.

use std::collections::VecDeque;
use std::io;
use std::sync::{Arc, Mutex};

use arrayvec::ArrayVec;

use super::{Backend, FrameRef};
use crate::filter::BATCH;

/// The frames waiting on each port and the frames sent out of each.
#[derive(Default, Debug)]
pub struct Wire {
    /// Frames that will arrive on port 0 (WAN) and 1 (LAN).
    pub incoming: [VecDeque<Vec<u8>>; 2],
    /// Frames sent out of port 0 and 1, in order.
    pub sent: [Vec<Vec<u8>>; 2],
    /// Frames the worker released (dropped).
    pub released: usize,
}

/// A backend over a shared [`Wire`]: the test keeps one handle, the worker
/// the other.
pub struct MemBackend {
    wire: Arc<Mutex<Wire>>,
    held: Vec<Option<Vec<u8>>>,
}

impl MemBackend {
    pub fn new(wire: Arc<Mutex<Wire>>) -> MemBackend {
        MemBackend {
            wire,
            held: Vec::new(),
        }
    }

    fn take(&mut self, f: &FrameRef) -> Vec<u8> {
        self.held[f.id as usize]
            .take()
            .expect("a frame goes back once")
    }

    fn wire(&self) -> std::sync::MutexGuard<'_, Wire> {
        self.wire.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Backend for MemBackend {
    fn recv(&mut self, port: usize, out: &mut ArrayVec<FrameRef, BATCH>) -> io::Result<()> {
        while !out.is_full() {
            let Some(frame) = self.wire().incoming[port].pop_front() else {
                break;
            };
            let id = match self.held.iter().position(Option::is_none) {
                Some(i) => i,
                None => {
                    self.held.push(None);
                    self.held.len() - 1
                }
            };
            out.push(FrameRef {
                id: id as u64,
                len: frame.len() as u32,
            });
            self.held[id] = Some(frame);
        }
        Ok(())
    }

    fn data(&self, f: &FrameRef) -> &[u8] {
        self.held[f.id as usize].as_deref().expect("a held frame")
    }

    fn transmit(&mut self, port: usize, f: FrameRef) {
        let frame = self.take(&f);
        self.wire().sent[port].push(frame);
    }

    fn release(&mut self, f: FrameRef) {
        self.take(&f);
        self.wire().released += 1;
    }

    fn send(&mut self, port: usize, bytes: &[u8]) -> bool {
        self.wire().sent[port].push(bytes.to_vec());
        true
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn wait(&mut self, _timeout_ms: i32) -> io::Result<()> {
        std::thread::sleep(std::time::Duration::from_millis(1));
        Ok(())
    }

    fn take_oversize(&mut self) -> [u64; 2] {
        [0; 2]
    }

    fn take_tx_errors(&mut self) -> u64 {
        0
    }

    fn kernel_drops(&mut self) -> u64 {
        0
    }
}

//! The only place flypaper uses `unsafe`: CPU hints here, and (with the
//! data path) UMEM, rings, sockets and BPF loading. Every block carries a
//! `// SAFETY:` line saying why it is sound.

pub mod afpacket;
pub mod prefetch;
pub mod signal;
pub mod xdp;
pub mod xsk;

//! The daemon side of `flypaper run`: the control thread's work (lock-out
//! log, fly expiry and the XDP map, stats), apart from the data path.

pub mod stats;

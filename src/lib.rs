//! flypaper: an inline bridge firewall appliance.
//!
//! The crate is split the way the appliance is:
//! - [`wire`]: zero-copy packet views and the one-pass frame parser (pure);
//! - [`filter`]: the decision engine, `process(now, direction, frame) -> Verdict`.
//!   It is deterministic and sans-IO: no syscalls, no clock reads, no
//!   allocation per frame. Time is a value the caller passes in;
//! - [`timer_wheel`]: the RST delay queue (holds frame descriptors, bounded);
//! - [`config`]: the TOML policy, validated as a whole into a [`filter::Policy`];
//! - [`capture`] and [`replay`]: offline replay of pcap/pcapng captures
//!   through the filter, with the capture's timestamps as the clock.

pub mod addr;
pub mod capture;
pub mod config;
pub mod daemon;
pub mod dataplane;
pub mod demo;
pub mod eventlog;
pub mod filter;
#[doc(hidden)]
pub mod fuzz_harness;
pub mod replay;
#[allow(unsafe_code)]
pub mod sys;
pub mod timer_wheel;
pub mod wire;

pub use addr::Addr;
pub use filter::{Direction, Filter, Nanos, Policy, Reason, Verdict};

//! The decision engine (being written).
pub mod policy;
pub mod verdict;
pub use policy::Policy;
pub use verdict::{Direction, Nanos, Reason, Verdict};
pub struct Filter;

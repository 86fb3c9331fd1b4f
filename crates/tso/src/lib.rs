//! keel-tso: keel's timestamps.
//!
//! * [`Timestamp`]: a hybrid-logical-clock value in one `u64`, 48 bits of
//!   physical milliseconds since the Unix epoch over 16 bits of logical
//!   counter, so raw order is time order.
//! * [`HybridClock`]: a lock-free hybrid logical clock over a
//!   [`PhysicalClock`] ([`SystemClock`], or [`ManualClock`] in tests):
//!   strictly increasing timestamps close to real time, whatever the wall
//!   clock does.
//! * [`TimestampOracle`] and [`LocalOracle`]: a hybrid clock whose
//!   timestamps never repeat or go backwards across crashes, because a
//!   high-water mark is persisted ahead of them (the file format is in
//!   [`high_water_mark`]).
//!
//! ```
//! use keel_io::SimVfs;
//! use keel_tso::{LocalOracle, OracleOptions, TimestampOracle};
//! use std::path::Path;
//! use std::sync::Arc;
//!
//! let oracle = LocalOracle::open(Arc::new(SimVfs::new(1)), Path::new("/timestamps"), OracleOptions::default())?;
//! let read = oracle.next()?;
//! let commits = oracle.next_batch(3)?;
//! assert!(read < commits.first());
//! # Ok::<(), keel_tso::Error>(())
//! ```

mod clock;
mod error;
pub mod high_water_mark;
mod local_oracle;
mod oracle;
mod sync;
mod timestamp;
mod timestamp_range;

pub use clock::{DEFAULT_MAX_OFFSET_MS, HybridClock, ManualClock, PhysicalClock, SystemClock};
pub use error::{Error, Result};
pub use high_water_mark::{DecodeError, HighWaterMark, SlotProblem, decode_high_water_mark};
pub use local_oracle::{DEFAULT_WINDOW_MS, LocalOracle, OracleOptions};
pub use oracle::TimestampOracle;
pub use timestamp::{
    LOGICAL_BITS, LOGICAL_MASK, LOGICAL_MAX, PHYSICAL_BITS, PHYSICAL_MAX_MS, Timestamp,
};
pub use timestamp_range::TimestampRange;

//! The one error type of keel-tso.

use std::path::PathBuf;

use crate::high_water_mark::DecodeError;
use crate::timestamp::{PHYSICAL_BITS, PHYSICAL_MAX_MS, Timestamp};

/// Everything that can go wrong in keel-tso.
///
/// `Error` is `Clone` so that a [`LocalOracle`](crate::LocalOracle) whose
/// persistence failed can hand the original I/O error to every later caller.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A physical time does not fit in the 48 bits a timestamp gives it
    /// (it would be after the year 10889).
    #[error(
        "physical time {physical_ms} ms does not fit in the {PHYSICAL_BITS} bits of a timestamp (maximum {PHYSICAL_MAX_MS} ms)"
    )]
    PhysicalOutOfRange {
        /// The rejected physical time, in milliseconds since the Unix epoch.
        physical_ms: u64,
    },

    /// A `SystemTime` before the Unix epoch cannot be a timestamp.
    #[error("{before_epoch_ms} ms before the Unix epoch cannot be a timestamp")]
    BeforeUnixEpoch {
        /// How far before the epoch the time was.
        before_epoch_ms: u128,
    },

    /// A timestamp received from elsewhere is further ahead of the local wall
    /// clock than the configured maximum offset; the clock was not changed.
    #[error(
        "clock skew: remote timestamp {remote} is more than {max_offset_ms} ms ahead of the local wall clock ({local_wall_ms} ms since the Unix epoch)"
    )]
    ClockSkew {
        /// The rejected timestamp.
        remote: Timestamp,
        /// The local wall clock when it was rejected, in milliseconds since
        /// the Unix epoch.
        local_wall_ms: u64,
        /// The configured maximum offset.
        max_offset_ms: u64,
    },

    /// No `count` more timestamps exist after `last` (the clock has reached
    /// the year 10889, or was advanced there).
    #[error("timestamps exhausted: {count} more wanted after {last}")]
    Exhausted {
        /// The last timestamp issued.
        last: Timestamp,
        /// How many timestamps were wanted.
        count: u64,
    },

    /// A batch of zero timestamps was requested.
    #[error("a batch of timestamps must hold at least one timestamp")]
    EmptyBatch,

    /// An option is out of its valid range.
    #[error("invalid option {option}: {reason}")]
    InvalidOptions {
        /// The field of the options.
        option: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The high-water-mark file holds no usable mark. The oracle refuses to
    /// start from zero, which could issue a timestamp twice.
    #[error("high-water-mark file {} is corrupt: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: DecodeError,
    },

    /// Reading or persisting the high-water mark failed. After a failed
    /// write or sync the oracle returns this same error to every call that
    /// needs a new mark, until it is reopened.
    #[error(transparent)]
    Io(#[from] keel_io::Error),
}

/// The result type of keel-tso.
pub type Result<T, E = Error> = std::result::Result<T, E>;

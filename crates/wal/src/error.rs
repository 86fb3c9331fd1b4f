//! The one error type of keel-wal.

use std::path::PathBuf;

use crate::lsn::Lsn;
use crate::record::RecordError;
use crate::segment::HeaderProblem;

/// What is wrong at a corrupt place of the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Damage {
    /// The segment header does not hold.
    #[error("bad segment header ({0})")]
    SegmentHeader(HeaderProblem),
    /// The header's first lsn disagrees with the file name.
    #[error("the header says the segment starts at record {found}, the file name says {named}")]
    MisnamedSegment {
        /// From the file name.
        named: Lsn,
        /// From the header.
        found: Lsn,
    },
    /// Records are missing: the next segment starts elsewhere.
    #[error("the log breaks off here and resumes at record {found} in the next segment")]
    Gap {
        /// Where the next segment starts.
        found: Lsn,
    },
    /// A damaged fragment, followed by a valid one that proves the damaged
    /// place had been durable: not a torn tail.
    #[error("a damaged fragment, followed by record {found} written after this place was durable")]
    DamagedDurableRecord {
        /// The later, valid record.
        found: Lsn,
    },
    /// The segment is shorter than it was preallocated to: its end was cut
    /// off (segments are created whole and never shrunk).
    #[error(
        "the segment is {size} bytes, shorter than the {preallocated} bytes it was created with"
    )]
    ShortSegment {
        /// Its size now.
        size: u64,
        /// The size its header says it was preallocated to.
        preallocated: u64,
    },
    /// The segment is sealed (it was closed after the next segment was
    /// created), but no segment follows it.
    #[error("the segment is sealed, but the next segment (from record {next}) is missing")]
    MissingSegment {
        /// Where the missing segment starts.
        next: Lsn,
    },
    /// The log ends here, but a checkpoint recorded that every record
    /// before `durable_end` was durable: records are missing.
    #[error(
        "the log ends here, but a checkpoint recorded every record before {durable_end} as durable"
    )]
    EndsBeforeDurable {
        /// Every record before it was durable.
        durable_end: Lsn,
    },
    /// Valid fragments that add up to more than the record size limit.
    #[error("a record longer than the limit of {limit} bytes")]
    RecordTooLarge {
        /// The limit.
        limit: usize,
    },
}

/// A failure of the write-ahead log.
///
/// `Clone`, so that a log latched failed by an I/O error returns the very
/// same error to every later caller.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error (which, on the write path, has latched the log failed).
    #[error(transparent)]
    Io(#[from] keel_io::Error),
    /// The log is damaged at a named place (and it is not a torn tail).
    #[error("corrupt write-ahead log {}: {damage} at offset {offset} (next record expected: {expected_lsn})", segment.display())]
    Corruption {
        /// The segment file.
        segment: PathBuf,
        /// The byte offset in it.
        offset: u64,
        /// The record that was expected there.
        expected_lsn: Lsn,
        /// What is wrong.
        damage: Damage,
    },
    /// A record's checksum held but its contents do not decode.
    #[error("record {lsn} in {}: {source}", segment.display())]
    MalformedRecord {
        /// The segment file holding the record's last fragment.
        segment: PathBuf,
        /// The record.
        lsn: Lsn,
        /// What is wrong.
        #[source]
        source: RecordError,
    },
    /// Records before `first_available` were truncated away.
    #[error("record {requested} was truncated away; the log starts at record {first_available}")]
    Truncated {
        /// What was asked for.
        requested: Lsn,
        /// The oldest record still in the log.
        first_available: Lsn,
    },
    /// A record larger than `WalOptions::record_bytes_max`.
    #[error("a record of {bytes} bytes is larger than the limit of {limit} bytes")]
    RecordTooLarge {
        /// The record's encoded size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// An option out of its range.
    #[error("invalid write-ahead log option {option}: {reason}")]
    InvalidOptions {
        /// The option.
        option: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The log was closed.
    #[error("the write-ahead log is closed")]
    Closed,
}

/// The result type of keel-wal.
pub type Result<T> = std::result::Result<T, Error>;

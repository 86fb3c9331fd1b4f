//! keel-wal: the write-ahead log — the durable, ordered log of committed
//! write sets. Record order is append order (the engine appends in commit
//! timestamp order), and a commit is acknowledged only once its record is
//! durable under its [`Durability`].
//!
//! * [`Wal`]: append, group commit ([`Wal::wait_durable`]), durability
//!   modes, recovery on open.
//! * [`Reader`]: records in order across segments; a clean end, a torn
//!   tail, or corruption naming segment and offset.
//! * [`Record`]: what the log holds (write sets, two-phase-commit
//!   decisions, checkpoint markers) and its encoding.
//! * Formats: `segment.rs` (segment files), `fragment.rs` (CRC32C framing),
//!   `record.rs` (payloads); byte maps in docs/FORMAT.md.

pub mod archive;
mod error;
pub mod fragment;
#[doc(hidden)]
pub mod fuzz_support;
pub mod gather;
pub mod group_commit;
mod lsn;
mod options;
mod reader;
pub mod record;
mod recovery;
mod recycling;
pub mod segment;
mod segment_size;
mod stats;
mod sync;
mod tail_image;
mod wal;

pub use error::{Damage, Error, Result};
pub use lsn::Lsn;
pub use options::{
    BUFFER_BYTES_MAX_DEFAULT, Durability, PERIODIC_INTERVAL_DEFAULT, RECORD_BYTES_MAX_DEFAULT,
    RECYCLED_IDLE_INTERVAL_DEFAULT, RECYCLED_SEGMENTS_MAX_DEFAULT, RecoveryMode,
    SEGMENT_BYTES_DEFAULT, SEGMENT_BYTES_MIN, SEGMENT_BYTES_MIN_DEFAULT,
    SEGMENT_FILL_INTERVAL_DEFAULT, WalOptions,
};
pub use reader::{ReadEnd, Reader};
pub use record::{
    BorrowedWriteSet, Change, Encode, Entry, EntryRef, Part, Prepare, ReadBound, ReadKey,
    ReadRange, ReadSet, Record, RecordError, WriteSet,
};
pub use recovery::Recovery;
pub use stats::{HISTOGRAM_BUCKETS, Histogram, WalStats};
pub use wal::{Truncation, Wal};

//! Options, durability modes and recovery modes.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::lsn::Lsn;

/// How durable an appended record must be before its commit is
/// acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Durability {
    /// Acknowledged once fsynced (group-committed with concurrent appends).
    #[default]
    Sync,
    /// Fsynced by a background flush every `WalOptions::periodic_interval`
    /// (Redis's `appendfsync everysec`): a crash loses at most about one
    /// interval of acknowledged records.
    Periodic,
    /// Written to the OS; made durable whenever something else syncs the
    /// log (or the OS writes it back).
    None,
}

/// What the reader does at corruption that is not a torn tail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RecoveryMode {
    /// Report it as an error naming the segment and offset.
    #[default]
    Strict,
    /// Stop there as if the log ended: recover to the last intact record
    /// before the damage. Opening in this mode sets the damaged rest of the
    /// log aside (renamed `*.wal.discarded`) so that new records follow the
    /// last intact one.
    PointInTime,
}

/// The default largest segment size (`WalOptions::segment_bytes`).
pub const SEGMENT_BYTES_DEFAULT: u64 = 64 << 20;
/// The default smallest segment size (`WalOptions::segment_bytes_min`): a
/// log's first segment after open, and the one a closed log keeps.
pub const SEGMENT_BYTES_MIN_DEFAULT: u64 = 1 << 20;
/// The smallest segment size accepted, for either bound.
pub const SEGMENT_BYTES_MIN: u64 = 64 << 10;
/// The default `WalOptions::segment_fill_interval`.
pub const SEGMENT_FILL_INTERVAL_DEFAULT: Duration = Duration::from_secs(2);
/// The default `WalOptions::recycled_segments_max`.
pub const RECYCLED_SEGMENTS_MAX_DEFAULT: usize = 1;
/// The default `WalOptions::recycled_idle_interval`.
pub const RECYCLED_IDLE_INTERVAL_DEFAULT: Duration = Duration::from_secs(10);
/// The default bound on appended bytes not yet written to the file.
pub const BUFFER_BYTES_MAX_DEFAULT: usize = 16 << 20;
/// The default largest record.
pub const RECORD_BYTES_MAX_DEFAULT: usize = 1 << 30;
/// The default interval of the `Periodic` flush.
pub const PERIODIC_INTERVAL_DEFAULT: Duration = Duration::from_secs(1);

/// Options of a write-ahead log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalOptions {
    /// The largest size a segment is preallocated to; a full segment is
    /// closed and a new one started. Segments start at `segment_bytes_min`
    /// and follow the write rate up to this. Default 64 MiB, at least 64 KiB,
    /// a multiple of 4 KiB.
    pub segment_bytes: u64,
    /// The smallest segment size: the first segment after open, and the one
    /// a closed log keeps (capped at `segment_bytes`). Default 1 MiB, at
    /// least 64 KiB, a multiple of 4 KiB.
    pub segment_bytes_min: u64,
    /// How long a segment should take to fill. The next segment is sized
    /// to fill in twice this at the rate the last one saw: after one that
    /// filled faster than this, that size but at least twice the last (up
    /// to `segment_bytes`); after one open for more than four times this,
    /// that size (down to `segment_bytes_min`). Default 2 s.
    pub segment_fill_interval: Duration,
    /// Closed segments truncation keeps (renamed `*.wal.free`) to be reused
    /// as new segments instead of creating files; more are deleted. A kept
    /// file is disk the log holds beyond its records until it is reused:
    /// zero keeps none. Default 1.
    pub recycled_segments_max: usize,
    /// The kept segments are deleted once none has been reused (or kept)
    /// for this long, and at close; and once nothing was appended for this
    /// long, an open segment larger than `segment_bytes_min` is sealed, cut
    /// after its seal and followed by one of that size ([`crate::Wal::shrink`]),
    /// so an idle log holds no large preallocation. Default 10 s.
    pub recycled_idle_interval: Duration,
    /// Appended bytes waiting to be written, at most. An append that finds
    /// the buffer full waits (or writes it out itself) rather than failing
    /// or growing it. Default 16 MiB.
    pub buffer_bytes_max: usize,
    /// The largest record accepted. Default 1 GiB.
    pub record_bytes_max: usize,
    /// How long a group-commit leader waits for more records to join its
    /// flush. Default zero: a lone committer pays one fsync and no timer.
    pub max_batch_delay: Duration,
    /// The interval of the background flush for `Durability::Periodic`.
    pub periodic_interval: Duration,
    /// What reading does at corruption.
    pub recovery_mode: RecoveryMode,
    /// Where closed segments are copied (durably) before they are removed;
    /// `None`: removed without a copy.
    pub archive_dir: Option<PathBuf>,
    /// Bytes of the most recent closed segments that truncation keeps.
    pub keep_bytes: u64,
    /// Close the open segment once it has been open this long with records
    /// in it, so that archives stay fresh. `None`: only when full.
    pub archive_timeout: Option<std::time::Duration>,
    /// Every record before this lsn was durable when the caller last relied
    /// on the log (the engine: its newest checkpoint's synced-through
    /// position). A log that ends earlier is damage, refused in
    /// [`RecoveryMode::Strict`]. Default `Lsn::ZERO`: nothing is known.
    pub durable_end_min: Lsn,
    /// The caller knows every byte of the log is durable: the process
    /// that last wrote it synced it all and closed it (the engine keeps a
    /// mark of that beside the log). Opening then syncs no segment. Default
    /// false: a killed process may have left records in the page cache
    /// only, and opening syncs them before anything is built on them.
    pub known_durable: bool,
    /// Whether [`crate::Wal::open`] starts the background thread (the
    /// periodic flush, archiving, deleting idle kept files, shrinking an
    /// idle log). `false`: the caller starts it with
    /// [`crate::Wal::start_background`] — from a thread of its own, so that
    /// an open does not wait for a thread's creation (the engine starts it
    /// from its maintenance thread). Default true.
    pub start_background: bool,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_bytes: SEGMENT_BYTES_DEFAULT,
            segment_bytes_min: SEGMENT_BYTES_MIN_DEFAULT,
            segment_fill_interval: SEGMENT_FILL_INTERVAL_DEFAULT,
            recycled_segments_max: RECYCLED_SEGMENTS_MAX_DEFAULT,
            recycled_idle_interval: RECYCLED_IDLE_INTERVAL_DEFAULT,
            buffer_bytes_max: BUFFER_BYTES_MAX_DEFAULT,
            record_bytes_max: RECORD_BYTES_MAX_DEFAULT,
            max_batch_delay: Duration::ZERO,
            periodic_interval: PERIODIC_INTERVAL_DEFAULT,
            recovery_mode: RecoveryMode::Strict,
            archive_dir: None,
            keep_bytes: 0,
            archive_timeout: None,
            durable_end_min: Lsn::ZERO,
            known_durable: false,
            start_background: true,
        }
    }
}

impl WalOptions {
    /// The smallest segment size in effect: `segment_bytes_min`, capped at
    /// `segment_bytes`.
    pub fn segment_bytes_floor(&self) -> u64 {
        self.segment_bytes_min.min(self.segment_bytes)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let invalid = |option, reason| Err(Error::InvalidOptions { option, reason });
        if self.segment_bytes < SEGMENT_BYTES_MIN {
            return invalid("segment_bytes", "must be at least 64 KiB");
        }
        if !self.segment_bytes.is_multiple_of(4096) {
            return invalid("segment_bytes", "must be a multiple of 4096");
        }
        if self.segment_bytes_min < SEGMENT_BYTES_MIN {
            return invalid("segment_bytes_min", "must be at least 64 KiB");
        }
        if !self.segment_bytes_min.is_multiple_of(4096) {
            return invalid("segment_bytes_min", "must be a multiple of 4096");
        }
        if self.segment_fill_interval.is_zero() {
            return invalid("segment_fill_interval", "must be positive");
        }
        if self.buffer_bytes_max == 0 {
            return invalid("buffer_bytes_max", "must be positive");
        }
        if self.record_bytes_max == 0 {
            return invalid("record_bytes_max", "must be positive");
        }
        if self.periodic_interval.is_zero() {
            return invalid("periodic_interval", "must be positive");
        }
        Ok(())
    }
}

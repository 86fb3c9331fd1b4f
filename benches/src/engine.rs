//! The one interface every engine is driven through, so that each workload
//! is written once: open, a durable write transaction, a read-only
//! snapshot, compaction where the engine has it, close.
//!
//! Readers hand values to a callback instead of returning them, so the
//! engines that read in place (LMDB, redb) are not charged for a copy.

use std::path::Path;

use anyhow::Result;

/// What every engine is given at open.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Bytes of cache for engines with their own cache (keel's buffer
    /// pool, redb, RocksDB's block cache, sled, fjall). LMDB reads through
    /// the OS page cache.
    pub cache_bytes: u64,
    /// keel reads pages missing from its pool through a memory map of its
    /// page file (`Options::mmap_reads`) instead of `pread`.
    pub keel_mmap_reads: bool,
}

/// An engine under test.
pub trait Engine: Sized + Sync {
    /// Its name in tables and charts.
    const NAME: &'static str;

    /// Opens the database in `dir` (an empty directory the first time),
    /// configured for durable commits.
    fn open(dir: &Path, settings: &Settings) -> Result<Self>;

    /// How the engine is configured, one line for the report.
    fn configuration(settings: &Settings) -> String;

    /// Runs `transaction` in one write transaction and commits it durably
    /// (fsynced before this returns).
    fn write<T>(&self, transaction: impl FnOnce(&mut dyn Writer) -> Result<T>) -> Result<T>;

    /// Runs `transaction` in one read-only snapshot.
    fn read<T>(&self, transaction: impl FnOnce(&mut dyn Reader) -> Result<T>) -> Result<T>;

    /// Compacts the database, reopening it if the engine must. Returns the
    /// engine and whether it has compaction at all.
    fn compact(self) -> Result<(Self, bool)> {
        Ok((self, false))
    }

    /// Closes the database; everything committed is on disk afterwards.
    fn close(self) -> Result<()>;

    /// The engine's own count of log records appended and log fsyncs since
    /// it opened, where it reports them (keel does): a workload's records
    /// per fsync is the difference of two readings.
    fn log_counters(&self) -> Option<LogCounters> {
        None
    }
}

/// Log records appended and log fsyncs, as the engine counts them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogCounters {
    /// Records appended to the log.
    pub records: u64,
    /// fsyncs of the log (data syncs of its files).
    pub fsyncs: u64,
}

impl LogCounters {
    /// Records per fsync between an earlier reading and this one; `None`
    /// when nothing was synced in between.
    pub fn records_per_fsync_since(&self, earlier: &LogCounters) -> Option<f64> {
        let fsyncs = self.fsyncs.checked_sub(earlier.fsyncs)?;
        let records = self.records.checked_sub(earlier.records)?;
        (fsyncs > 0).then(|| records as f64 / fsyncs as f64)
    }
}

/// The writes of one transaction.
pub trait Writer {
    /// Sets `key` to `value`.
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()>;
    /// Removes `key` (present or not).
    fn remove(&mut self, key: &[u8]) -> Result<()>;
}

/// The reads of one snapshot.
pub trait Reader {
    /// Calls `visit` with the value of `key` and returns true, or returns
    /// false when the key is absent.
    fn get(&mut self, key: &[u8], visit: &mut dyn FnMut(&[u8])) -> Result<bool>;

    /// Calls `visit` with the entries from `start` on in key order, at most
    /// `limit` of them, and returns how many it visited.
    fn range(
        &mut self,
        start: &[u8],
        limit: usize,
        visit: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<usize>;
}

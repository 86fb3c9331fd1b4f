//! [`LocalOracle`]: a hybrid clock whose timestamps survive crashes, by a
//! high-water mark persisted ahead of them.
//!
//! Invariant: every timestamp handed out is below the durable high-water
//! mark, and the mark in memory is only raised after the write that holds it
//! is synced. After a crash, the oracle reads the mark H (every timestamp
//! issued before the crash is < H) and issues only timestamps > H.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use keel_io::{FileHandle, OpenMode, Vfs};
use parking_lot::Mutex;

use crate::clock::{DEFAULT_MAX_OFFSET_MS, HybridClock, PhysicalClock, SystemClock};
use crate::error::{Error, Result};
use crate::high_water_mark::{DecodeError, FILE_BYTES, HighWaterMarkFile, decode_high_water_mark};
use crate::oracle::TimestampOracle;
use crate::sync::{AtomicU64, Ordering};
use crate::timestamp::{PHYSICAL_MAX_MS, Timestamp};
use crate::timestamp_range::TimestampRange;

/// How far ahead of the timestamps in use the high-water mark is persisted,
/// unless configured otherwise: one write and sync per 3 s of timestamps.
/// A restart within the window resumes up to this far ahead of real time.
pub const DEFAULT_WINDOW_MS: u64 = 3_000;

/// Options of [`LocalOracle::open`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OracleOptions {
    /// How far (in physical milliseconds) beyond the timestamp that needs it
    /// a new high-water mark is set. Larger: fewer syncs; smaller: a smaller
    /// jump ahead of real time after a restart. At least 1.
    pub window_ms: u64,
    /// The maximum offset of [`LocalOracle::update`]'s skew check.
    pub max_offset_ms: u64,
}

impl Default for OracleOptions {
    fn default() -> Self {
        OracleOptions {
            window_ms: DEFAULT_WINDOW_MS,
            max_offset_ms: DEFAULT_MAX_OFFSET_MS,
        }
    }
}

impl OracleOptions {
    fn validate(&self) -> Result<()> {
        if self.window_ms == 0 {
            return Err(Error::InvalidOptions {
                option: "window_ms",
                reason: "the high-water-mark window must be at least 1 ms",
            });
        }
        Ok(())
    }
}

/// A value alone on its cache lines (two 64-byte lines, as adjacent-line
/// prefetchers fetch pairs). Every call reads the durable mark while the
/// clock's word next to it is written by every call; sharing a line, the
/// reads missed the cache under contention (benches/clock.rs, 2 threads:
/// 125 ns per `next` against 47 ns for the bare clock; 46 ns padded).
#[derive(Debug)]
#[repr(align(128))]
struct OwnCacheLines<T>(T);

/// The persistence half of the oracle, behind a mutex: only the thread that
/// finds its timestamp at or above the durable mark takes it.
#[derive(Debug)]
struct Persistence {
    file: HighWaterMarkFile,
    /// Syncs the file's directory with the first mark written, then `None`.
    directory_to_sync: Option<(Arc<dyn Vfs>, PathBuf)>,
    /// The first failed write or sync. The file's state is unknown after it
    /// and a failed sync is never retried, so every later extension returns
    /// it.
    failure: Option<keel_io::Error>,
}

impl Persistence {
    /// Writes and syncs `mark`; the first time, syncs the file's directory
    /// too (the file may have been created by this open, or by a process
    /// killed before it synced the name).
    fn write(&mut self, mark: Timestamp) -> keel_io::Result<()> {
        self.file.write(mark)?;
        if let Some((vfs, directory)) = &self.directory_to_sync {
            vfs.sync_dir(directory)?;
            self.directory_to_sync = None;
        }
        Ok(())
    }
}

/// A [`TimestampOracle`] for one node: a [`HybridClock`] plus a high-water
/// mark persisted through a [`Vfs`] ahead of the timestamps handed out, so
/// that no timestamp is issued twice or goes backwards across crashes.
///
/// Handing out a timestamp is lock-free while it is below the durable mark;
/// about once per [`OracleOptions::window_ms`] one caller takes a mutex and
/// writes and syncs a new mark before returning.
///
/// ```
/// use keel_io::SimVfs;
/// use keel_tso::{LocalOracle, OracleOptions, TimestampOracle};
/// use std::path::Path;
/// use std::sync::Arc;
///
/// let vfs = Arc::new(SimVfs::new(1));
/// let path = Path::new("/timestamps");
/// let oracle = LocalOracle::open(vfs.clone(), path, OracleOptions::default())?;
/// let before = oracle.next()?;
/// drop(oracle);
/// vfs.crash(keel_io::CrashMode::LoseUnsynced);
/// let oracle = LocalOracle::open(vfs, path, OracleOptions::default())?;
/// assert!(oracle.next()? > before);
/// # Ok::<(), keel_tso::Error>(())
/// ```
pub struct LocalOracle<C: PhysicalClock = SystemClock> {
    clock: HybridClock<C>,
    /// The raw value of the durable high-water mark. Raised only under the
    /// `persistence` mutex, after the sync that makes it durable.
    durable_mark: OwnCacheLines<AtomicU64>,
    persistence: Mutex<Persistence>,
    window_ms: u64,
    path: PathBuf,
}

impl LocalOracle<SystemClock> {
    /// Opens (or creates) the oracle whose high-water mark is the file at
    /// `path`, on the system wall clock. The file's directory must exist.
    ///
    /// The file is locked for as long as the oracle lives: two oracles over
    /// one file would hand out the same timestamps.
    pub fn open(vfs: Arc<dyn Vfs>, path: &Path, options: OracleOptions) -> Result<Self> {
        LocalOracle::open_with_clock(vfs, path, options, SystemClock)
    }

    /// [`LocalOracle::open`] of the file at `path` that the caller opened
    /// (perhaps having asked the OS to read it ahead): one open of the
    /// file instead of two.
    pub fn open_file(
        vfs: Arc<dyn Vfs>,
        path: &Path,
        file: FileHandle,
        options: OracleOptions,
    ) -> Result<Self> {
        LocalOracle::open_file_with_clock(vfs, path, file, options, SystemClock)
    }
}

impl<C: PhysicalClock> LocalOracle<C> {
    /// [`LocalOracle::open`] with another wall clock (a
    /// [`ManualClock`](crate::ManualClock) in tests).
    ///
    /// Opening reads the newest valid mark H (none for a missing, empty or
    /// all-zero file) and advances the clock past H. It writes nothing: the
    /// first timestamp handed out persists a new mark ahead of H and syncs
    /// the file's directory before it is returned, since a process killed
    /// earlier may have left the file's name or contents only in the page
    /// cache, and timestamps must not rest on them. (An open that writes
    /// cost a database open two syncs even when it only read.)
    ///
    /// Fails with [`Error::Corrupt`] if the file exists but holds no valid
    /// mark; starting from zero instead could reissue timestamps.
    pub fn open_with_clock(
        vfs: Arc<dyn Vfs>,
        path: &Path,
        options: OracleOptions,
        physical_clock: C,
    ) -> Result<Self> {
        options.validate()?;
        let file = vfs.open(path, OpenMode::CreateOrOpen)?;
        LocalOracle::open_file_with_clock(vfs, path, file, options, physical_clock)
    }

    /// [`LocalOracle::open_with_clock`] of the file at `path` that the
    /// caller opened.
    pub fn open_file_with_clock(
        vfs: Arc<dyn Vfs>,
        path: &Path,
        file: FileHandle,
        options: OracleOptions,
        physical_clock: C,
    ) -> Result<Self> {
        options.validate()?;
        let clock = HybridClock::new(physical_clock, options.max_offset_ms);
        file.try_lock()?;
        let length_bytes = file.size()?;
        let corrupt = |reason| Error::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        if length_bytes > FILE_BYTES as u64 {
            // Report it without reading a file of any size into memory.
            return Err(corrupt(DecodeError::FileTooLong { length_bytes }));
        }
        // The length just taken, not asked for again (`read_to_end`).
        let mut bytes = vec![0u8; length_bytes as usize];
        file.read_exact_at(&mut bytes, 0)?;
        let newest = decode_high_water_mark(&bytes).map_err(corrupt)?;
        let recovered = newest.map_or(Timestamp::ZERO, |mark| mark.timestamp);
        clock.advance_to(recovered);

        let high_water_mark_file = HighWaterMarkFile::new(file, newest.as_ref());
        let directory = parent_directory(path).to_path_buf();

        Ok(LocalOracle {
            clock,
            // Nothing is known durable: the first timestamp writes a mark.
            durable_mark: OwnCacheLines(AtomicU64::new(0)),
            persistence: Mutex::new(Persistence {
                file: high_water_mark_file,
                directory_to_sync: Some((vfs, directory)),
                failure: None,
            }),
            window_ms: options.window_ms,
            path: path.to_path_buf(),
        })
    }

    /// Takes in a timestamp received from another node, as
    /// [`HybridClock::update`] does (same skew check), and returns a new
    /// timestamp greater than it, covered by the durable mark.
    pub fn update(&self, remote: Timestamp) -> Result<Timestamp> {
        let timestamp = self.clock.update(remote)?;
        self.cover(timestamp)?;
        Ok(timestamp)
    }

    /// The durable high-water mark: every timestamp handed out is below it.
    pub fn durable_mark(&self) -> Timestamp {
        Timestamp::from_u64(self.durable_mark.0.load(Ordering::Acquire))
    }

    /// The path of the high-water-mark file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Returns once `last` (and so every timestamp up to it) is below the
    /// durable mark.
    #[inline]
    fn cover(&self, last: Timestamp) -> Result<()> {
        // The mark only grows, so a timestamp below a mark once read stays
        // covered.
        if last.as_u64() < self.durable_mark.0.load(Ordering::Acquire) {
            return Ok(());
        }
        self.extend_mark(last)
    }

    #[cold]
    fn extend_mark(&self, needed: Timestamp) -> Result<()> {
        let mut persistence = self.persistence.lock();
        // Another thread may have extended the mark while this one waited.
        if needed.as_u64() < self.durable_mark.0.load(Ordering::Acquire) {
            return Ok(());
        }
        if let Some(failure) = &persistence.failure {
            return Err(Error::Io(failure.clone()));
        }
        // Cover what other threads have taken meanwhile too, so that they
        // find the new mark instead of queueing for another sync.
        let mark = mark_covering(needed.max(self.clock.last()), self.window_ms)?;
        if let Err(error) = persistence.write(mark) {
            persistence.failure = Some(error.clone());
            return Err(Error::Io(error));
        }
        self.durable_mark.0.store(mark.as_u64(), Ordering::Release);
        Ok(())
    }
}

/// The mark `window_ms` of physical time beyond `needed`, logical 0:
/// strictly greater than `needed`, or [`Error::Exhausted`].
fn mark_covering(needed: Timestamp, window_ms: u64) -> Result<Timestamp> {
    debug_assert!(window_ms >= 1);
    let physical_ms = needed.physical_ms().saturating_add(window_ms);
    let mark = if physical_ms > PHYSICAL_MAX_MS {
        Timestamp::MAX
    } else {
        Timestamp::from_parts(physical_ms, 0)
    };
    if mark <= needed {
        return Err(Error::Exhausted {
            last: needed,
            count: 1,
        });
    }
    Ok(mark)
}

/// The directory holding `path`, whose entry must be synced to make the
/// file's name durable.
fn parent_directory(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        // A bare file name lives in the working directory.
        _ => Path::new("."),
    }
}

impl<C: PhysicalClock> TimestampOracle for LocalOracle<C> {
    fn next(&self) -> Result<Timestamp> {
        let timestamp = self.clock.try_now()?;
        self.cover(timestamp)?;
        Ok(timestamp)
    }

    fn next_batch(&self, count: u32) -> Result<TimestampRange> {
        let range = self.clock.reserve(count)?;
        self.cover(range.last())?;
        Ok(range)
    }

    /// Needs no new mark: the next timestamp handed out extends it if it
    /// must.
    fn advance_to(&self, timestamp: Timestamp) -> Result<()> {
        self.clock.advance_to(timestamp);
        Ok(())
    }

    /// May include timestamps taken from the clock by calls that then failed
    /// to persist a mark and returned an error.
    fn last_issued(&self) -> Timestamp {
        self.clock.last()
    }
}

impl<C: PhysicalClock> fmt::Debug for LocalOracle<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalOracle")
            .field("path", &self.path)
            .field("clock", &self.clock)
            .field("durable_mark", &self.durable_mark())
            .field("window_ms", &self.window_ms)
            .field("failed", &self.persistence.lock().failure.is_some())
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use keel_io::{CrashMode, SimVfs};

    const WALL_MS: u64 = 1_795_345_560_123;

    fn options(window_ms: u64) -> OracleOptions {
        OracleOptions {
            window_ms,
            ..OracleOptions::default()
        }
    }

    #[test]
    fn mark_covering_adds_the_window_and_clamps() {
        let needed = Timestamp::new(1_000, 7).unwrap();
        assert_eq!(
            mark_covering(needed, 5).unwrap(),
            Timestamp::new(1_005, 0).unwrap()
        );
        let near_end = Timestamp::new(PHYSICAL_MAX_MS, 3).unwrap();
        assert_eq!(mark_covering(near_end, 5).unwrap(), Timestamp::MAX);
        assert!(matches!(
            mark_covering(Timestamp::MAX, 5),
            Err(Error::Exhausted { .. })
        ));
    }

    #[test]
    fn parent_of_a_bare_name_is_the_working_directory() {
        assert_eq!(parent_directory(Path::new("marks")), Path::new("."));
        assert_eq!(
            parent_directory(Path::new("/data/marks")),
            Path::new("/data")
        );
        assert_eq!(parent_directory(Path::new("/marks")), Path::new("/"));
    }

    #[test]
    fn zero_window_is_rejected() {
        let vfs = Arc::new(SimVfs::new(0));
        let error = LocalOracle::open(vfs, Path::new("/marks"), options(0)).unwrap_err();
        assert!(matches!(
            error,
            Error::InvalidOptions {
                option: "window_ms",
                ..
            }
        ));
    }

    #[test]
    fn the_mark_is_extended_only_when_a_timestamp_reaches_it() {
        let vfs = Arc::new(SimVfs::new(0));
        let wall = Arc::new(ManualClock::new(WALL_MS));
        let oracle = LocalOracle::open_with_clock(
            vfs.clone(),
            Path::new("/marks"),
            options(10),
            wall.clone(),
        )
        .unwrap();
        assert_eq!(
            oracle.durable_mark(),
            Timestamp::ZERO,
            "an open writes no mark"
        );
        let operations = vfs.operations();
        assert!(oracle.next().unwrap() < Timestamp::new(WALL_MS + 1, 0).unwrap());
        assert_eq!(
            vfs.operations(),
            operations + 3,
            "the first timestamp writes a mark and syncs it and the directory"
        );
        let first_mark = oracle.durable_mark();
        assert_eq!(first_mark, Timestamp::new(WALL_MS + 10, 0).unwrap());
        let operations = vfs.operations();
        for step in 0..9 {
            wall.set_ms(WALL_MS + step);
            assert!(oracle.next().unwrap() < first_mark);
        }
        assert_eq!(vfs.operations(), operations, "no I/O below the mark");
        wall.set_ms(WALL_MS + 10);
        let reaching = oracle.next().unwrap();
        assert_eq!(vfs.operations(), operations + 2, "one write and one sync");
        assert_eq!(
            oracle.durable_mark(),
            Timestamp::new(WALL_MS + 20, 0).unwrap()
        );
        assert!(reaching < oracle.durable_mark());
    }

    #[test]
    fn reopening_resumes_above_the_mark_even_with_the_wall_clock_behind() {
        let vfs = Arc::new(SimVfs::new(0));
        let path = Path::new("/marks");
        let wall = Arc::new(ManualClock::new(WALL_MS));
        let oracle =
            LocalOracle::open_with_clock(vfs.clone(), path, options(10), wall.clone()).unwrap();
        let batch = oracle.next_batch(100_000).unwrap();
        let mark = oracle.durable_mark();
        assert!(batch.last() < mark);
        drop(oracle);
        vfs.crash(CrashMode::LoseUnsynced);
        wall.set_ms(WALL_MS - 60_000);
        let oracle = LocalOracle::open_with_clock(vfs, path, options(10), wall).unwrap();
        let next = oracle.next().unwrap();
        assert!(next > mark, "{next} > {mark}");
        assert_eq!(oracle.last_issued(), next);
    }

    #[test]
    fn a_second_oracle_on_the_same_file_is_refused() {
        let vfs = Arc::new(SimVfs::new(0));
        let path = Path::new("/marks");
        let _oracle = LocalOracle::open(vfs.clone(), path, OracleOptions::default()).unwrap();
        let error = LocalOracle::open(vfs, path, OracleOptions::default()).unwrap_err();
        assert!(matches!(error, Error::Io(keel_io::Error::Locked { .. })));
    }

    #[test]
    fn a_corrupt_file_is_reported_with_its_path() {
        let vfs = Arc::new(SimVfs::new(0));
        let path = Path::new("/marks");
        let oracle = LocalOracle::open(vfs.clone(), path, OracleOptions::default()).unwrap();
        oracle.next().unwrap();
        drop(oracle);
        // Slot 0 is the only one written; break its CRC.
        assert!(vfs.corrupt(path, 20, 0x01));
        let error = LocalOracle::open(vfs, path, OracleOptions::default()).unwrap_err();
        match &error {
            Error::Corrupt { path: reported, .. } => assert_eq!(reported, path),
            other => panic!("expected corruption, got {other:?}"),
        }
        assert!(error.to_string().contains("/marks"), "{error}");
    }

    #[test]
    fn a_file_longer_than_two_slots_is_reported_without_reading_it() {
        let vfs = Arc::new(SimVfs::new(0));
        let path = Path::new("/marks");
        let file = vfs.open(path, OpenMode::CreateNew).unwrap();
        file.write_all_at(&[1; FILE_BYTES + 1], 0).unwrap();
        drop(file);
        let error = LocalOracle::open(vfs, path, OracleOptions::default()).unwrap_err();
        assert!(matches!(
            error,
            Error::Corrupt {
                reason: DecodeError::FileTooLong { length_bytes: 1025 },
                ..
            }
        ));
    }

    #[test]
    fn update_is_covered_by_the_mark() {
        let vfs = Arc::new(SimVfs::new(0));
        let wall = Arc::new(ManualClock::new(WALL_MS));
        let oracle =
            LocalOracle::open_with_clock(vfs, Path::new("/marks"), options(10), wall).unwrap();
        let remote = Timestamp::new(WALL_MS + 400, 9).unwrap();
        let updated = oracle.update(remote).unwrap();
        assert!(updated > remote);
        assert!(updated < oracle.durable_mark());
        let too_far = Timestamp::new(WALL_MS + 501, 0).unwrap();
        assert!(matches!(
            oracle.update(too_far),
            Err(Error::ClockSkew { .. })
        ));
    }
}

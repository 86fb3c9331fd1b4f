//! Recovery: what opening a database reads, in which order, what it
//! trusts and what it reports. The durability argument it rests on is in
//! docs/ARCHITECTURE.md ("Durability").
//!
//! 1. The lock (a second process would write the same files).
//! 2. The page file's newest meta slot whose checksum holds: the base as
//!    of its fold timestamp S, the log position replay starts at, and the
//!    log position every record before which was durable at that
//!    checkpoint (`log_end`).
//! 3. The log: it must reach `log_end` (a shorter log, a shortened or
//!    missing segment, is damage); a torn tail after it is a crash.
//! 4. Every commit after the replay position with a timestamp above S is
//!    replayed into the delta; a decided prepared transaction is replayed
//!    as a commit, an undecided one restored with its global id, writes and
//!    read set (the replay position is never after the prepare record of a
//!    transaction undecided at the checkpoint, nor after the prepare
//!    record of a commit above S).
//! 5. The oracle resumes above every timestamp seen; the catalog is read.
//!
//! A read-only open does all of it in memory: no file is created, changed
//! or removed (no checkpoint, no new log segment, no oracle mark).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use keel_btree::BTree;
use keel_io::{FileHandle, OpenMode, Vfs};
use keel_mvcc::{MvccOptions, TransactionManager, WriteSet, WriteSetBuilder};
use keel_pager::{Pager, PagerOptions};
use keel_tso::{
    HybridClock, LocalOracle, OracleOptions, Timestamp, TimestampOracle, TimestampRange,
};
use keel_wal::segment::Listing;
use keel_wal::{Lsn, Reader, Record, Wal, WalOptions};

use crate::error::{Error, Location, Result};
use crate::keyspace::Catalog;
use crate::log::{WalLog, mvcc_entry, mvcc_read_set};
use crate::options::{Options, RecoveryMode};
use crate::stats::RecoveryReport;
use crate::storage::{Base, Payload};

pub(crate) const LOCK_FILE: &str = "LOCK";
pub(crate) const PAGE_FILE: &str = "pages";
pub(crate) const WAL_DIR: &str = "wal";
pub(crate) const ORACLE_FILE: &str = "timestamps";

/// Whether an open may change files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    ReadWrite,
    ReadOnly,
}

/// What recovery built: everything the database shares.
pub(crate) struct Recovered {
    pub(crate) pager: Arc<Pager>,
    pub(crate) tree: Arc<BTree>,
    pub(crate) wal: Option<Arc<Wal>>,
    pub(crate) log: Arc<WalLog>,
    pub(crate) manager: TransactionManager,
    pub(crate) catalog: Catalog,
    pub(crate) report: RecoveryReport,
    pub(crate) lock: Option<FileHandle>,
}

/// Recovers the database in `dir`.
pub(crate) fn recover(
    vfs: Arc<dyn Vfs>,
    dir: &Path,
    options: &Options,
    access: Access,
    database: u64,
) -> Result<Recovered> {
    let started = Instant::now();
    // The meta slots are asked for first: the lock, the other read-ahead
    // hints and opening the pages file come while the device reads them.
    let page_file_handle = match vfs.open(&dir.join(PAGE_FILE), OpenMode::Existing) {
        Ok(file) => {
            let _ = file.advise(keel_io::Advice::WillNeed, 0, keel_pager::FIRST_READ_BYTES);
            Some(file)
        }
        Err(error) if error.is_not_found() => None,
        Err(error) => return Err(error.into()),
    };
    let exists = page_file_handle.is_some();
    if !exists && (access == Access::ReadOnly || !options.create_if_missing) {
        return Err(Error::NotFound {
            path: dir.to_path_buf(),
        });
    }
    let lock = lock(vfs.as_ref(), dir, access, exists)?;
    let closed_cleanly = match (&lock, access) {
        (Some(lock), Access::ReadWrite) => take_clean_close_mark(lock)?,
        _ => false,
    };
    let prefetched = prefetch(vfs.as_ref(), dir);
    let (page_file, payload) = page_file(&vfs, dir, options, access, page_file_handle)?;
    // The log is judged before anything is written: an open it refuses
    // leaves every file as it found it. Opening it (and the oracle)
    // overlaps the reads the meta slot asked for.
    let (wal, wal_end, segments) = log(
        &vfs,
        dir,
        options,
        access,
        &payload,
        closed_cleanly,
        prefetched.listing,
    )?;
    let oracle = oracle(&vfs, dir, access, prefetched.oracle_file)?;
    let pager = page_file.finish()?;
    let tree = Arc::new(BTree::open(pager.clone(), payload.root)?);
    let log = Arc::new(WalLog::new(
        wal.clone(),
        options.durability,
        options.wal_part_bytes,
    ));

    let mvcc_options = MvccOptions {
        delta_bytes_max: options.delta_bytes_max,
        batch_commit_bytes_min: options.batch_commit_bytes_min,
        transaction_age_warning: options.transaction_age_warning,
        transaction_age_max: options.transaction_age_max,
        transaction_write_bytes_max: options.transaction_write_bytes_max,
        transaction_memory_bytes_max: options.transaction_memory_bytes_max,
        spill_dir: spill_dir(options, dir),
        key_bytes_max: tree.key_bytes_max(),
        value_bytes_max: options.value_bytes_max.min(keel_btree::VALUE_BYTES_MAX - 9),
        ..MvccOptions::default()
    };
    let base = Arc::new(Base { tree: tree.clone() });
    let mut recovery = TransactionManager::recover(
        base,
        log.clone(),
        oracle,
        mvcc_options,
        payload.fold_timestamp,
    );
    let mut report = RecoveryReport {
        checkpoint_id: pager.checkpoint_id(),
        fold_timestamp: payload.fold_timestamp,
        ..RecoveryReport::default()
    };
    let wal_dir = dir.join(WAL_DIR);
    let log_end = if access == Access::ReadOnly && !vfs.exists(&wal_dir)? {
        missing_log(&wal_dir, &payload, options.recovery_mode)?
    } else {
        let from = Lsn(payload.replay_lsn);
        let mode = wal_recovery_mode(options.recovery_mode);
        let reader = match segments {
            Some((segments, tail)) => {
                Reader::open_segments_with(vfs.clone(), &wal_dir, segments, from, mode, Some(tail))?
            }
            None => Reader::open(vfs.clone(), &wal_dir, from, mode)?,
        }
        .expect_durable_end(Lsn(payload.log_end));
        replay(reader, wal_end, &mut recovery, &log, &pager, &mut report)?
    };
    report.torn_tail = matches!(log_end, keel_wal::ReadEnd::TornTail { .. });
    report.log_damage_skipped = matches!(log_end, keel_wal::ReadEnd::Corrupted { .. });
    let manager = recovery.finish()?;
    let catalog = Catalog::load(&manager, database, access == Access::ReadWrite)?;
    report.duration = started.elapsed();
    Ok(Recovered {
        pager,
        tree,
        wal,
        log,
        manager,
        catalog,
        report,
        lock,
    })
}

/// Asks the OS to start reading what an open reads first besides the
/// page file's meta slots (asked for before) — the timestamps file and
/// the head of the last log segment — so that the three reads are under
/// way at once, instead of one device round trip after another on a cold
/// cache. (The meta slot then names the blocks of the page map and tree
/// an open reads, which the pager asks for at once too.) A hint only:
/// whatever fails here, the open reads (and reports) as it would have.
///
/// Returns what it opened, which the open then uses instead of opening
/// it again.
fn prefetch(vfs: &dyn Vfs, dir: &Path) -> Prefetched {
    let advise = |path: &Path, bytes: u64| {
        let file = vfs.open(path, OpenMode::Existing).ok()?;
        let _ = file.advise(keel_io::Advice::WillNeed, 0, bytes);
        Some(file)
    };
    let oracle_file = advise(&dir.join(ORACLE_FILE), 4096);
    let Ok(listing) = Listing::read(vfs, &dir.join(WAL_DIR)) else {
        return Prefetched {
            oracle_file,
            listing: None,
        };
    };
    // Its header and the log reader's first window.
    let last_segment = listing
        .segments
        .last()
        .and_then(|(_, last)| advise(last, keel_wal::segment::FIRST_READ_BYTES));
    Prefetched {
        oracle_file,
        listing: Some((listing, last_segment)),
    }
}

/// What [`prefetch`] opened.
struct Prefetched {
    /// The timestamps file, if it exists.
    oracle_file: Option<FileHandle>,
    /// The log directory's listing (`None` if it could not be listed) and
    /// its last segment's file, if it could be opened.
    listing: Option<(Listing, Option<FileHandle>)>,
}

/// The length of the lock file after a clean close ([`mark_clean_close`]);
/// an open database's lock file is empty.
const CLEAN_CLOSE_MARK_BYTES: u64 = 1;

/// Whether the process that last had the database open closed it cleanly
/// (every file it wrote synced), taking the mark away before this open
/// writes anything. The mark is the lock file's length, never synced:
/// it lives in the page cache beside what it speaks of. A process killed
/// after this open leaves the lock file empty, so the next open syncs
/// what that process may have left unsynced; after a power loss nothing
/// is left in the page cache to sync, whatever the length says. (A
/// read-only open neither reads nor takes it.)
fn take_clean_close_mark(lock: &FileHandle) -> Result<bool> {
    let clean = lock.size()? == CLEAN_CLOSE_MARK_BYTES;
    if clean {
        lock.set_len(0)?;
    }
    Ok(clean)
}

/// Marks a clean close in the lock file (see [`take_clean_close_mark`]),
/// once everything the database wrote is synced.
pub(crate) fn mark_clean_close(lock: &FileHandle) -> Result<()> {
    Ok(lock.set_len(CLEAN_CLOSE_MARK_BYTES)?)
}

/// Takes the database's lock. A read-only open takes it too (a live
/// writer may be half way through a checkpoint), but creates no file.
/// The directory is created unless the page file exists in it.
fn lock(
    vfs: &dyn Vfs,
    dir: &Path,
    access: Access,
    page_file_exists: bool,
) -> Result<Option<FileHandle>> {
    let path = dir.join(LOCK_FILE);
    let lock = match access {
        Access::ReadWrite => {
            if !page_file_exists {
                keel_io::create_dir_all_durable(vfs, dir)?;
            }
            vfs.open(&path, OpenMode::CreateOrOpen)?
        }
        Access::ReadOnly if vfs.exists(&path)? => vfs.open(&path, OpenMode::Existing)?,
        Access::ReadOnly => return Ok(None),
    };
    lock.try_lock().map_err(|error| match error {
        keel_io::Error::Locked { .. } => Error::Locked { path: path.clone() },
        other => Error::Io(other),
    })?;
    Ok(Some(lock))
}

/// The timestamp oracle: over `file` (the timestamps file, if the open
/// found it) when it may write, else a snapshot clock.
fn oracle(
    vfs: &Arc<dyn Vfs>,
    dir: &Path,
    access: Access,
    file: Option<FileHandle>,
) -> Result<Arc<dyn TimestampOracle>> {
    let path = dir.join(ORACLE_FILE);
    let options = OracleOptions::default();
    Ok(match (access, file) {
        (Access::ReadWrite, Some(file)) => {
            Arc::new(LocalOracle::open_file(vfs.clone(), &path, file, options)?)
        }
        (Access::ReadWrite, None) => Arc::new(LocalOracle::open(vfs.clone(), &path, options)?),
        (Access::ReadOnly, _) => Arc::new(SnapshotOracle(HybridClock::system())),
    })
}

/// The page file, opened or half opened.
enum PageFile {
    /// Its meta slot read, the blocks it names for the open being read.
    Opening(keel_pager::OpeningPager),
    /// Created by this open, with its first checkpoint.
    Created(Arc<Pager>),
}

impl PageFile {
    fn finish(self) -> Result<Arc<Pager>> {
        Ok(match self {
            PageFile::Opening(opening) => Arc::new(opening.finish()?),
            PageFile::Created(pager) => pager,
        })
    }
}

/// The page file (`file`, if it exists: opened by the caller) and its
/// newest checkpoint's payload: half opened ([`Pager::start_open`]), so the reads its meta slot asks for overlap
/// what the open does next. A new page file (or one that crashed before
/// its first checkpoint) gets an empty tree and checkpoint 1 — only when
/// it may be written.
fn page_file(
    vfs: &Arc<dyn Vfs>,
    dir: &Path,
    options: &Options,
    access: Access,
    file: Option<FileHandle>,
) -> Result<(PageFile, Payload)> {
    let pager_options = PagerOptions {
        page_size: options.page_size,
        pool_bytes: options.pool_bytes,
        create: access == Access::ReadWrite,
        readahead_bytes: options.readahead_bytes,
        mmap_reads: options.mmap_reads,
        ..PagerOptions::default()
    };
    let path = dir.join(PAGE_FILE);
    let opening = match file {
        Some(file) => Pager::start_open_file(path, file, pager_options)?,
        None => Pager::start_open(vfs.clone(), path, pager_options)?,
    };
    if opening.checkpoint_id() != 0 {
        let payload = Payload::decode(opening.payload())?;
        return Ok((PageFile::Opening(opening), payload));
    }
    if access == Access::ReadOnly {
        // Creation never finished: there is nothing to read.
        return Err(Error::NotFound {
            path: dir.to_path_buf(),
        });
    }
    let pager = Arc::new(opening.finish()?);
    let tree = BTree::create(pager.clone())?;
    let payload = Payload {
        fold_timestamp: Timestamp::ZERO,
        replay_lsn: Lsn::FIRST.0,
        root: tree.root(),
        log_end: Lsn::FIRST.0,
    };
    pager.checkpoint(&payload.encode())?;
    Ok((PageFile::Created(pager), payload))
}

fn wal_recovery_mode(mode: RecoveryMode) -> keel_wal::RecoveryMode {
    match mode {
        RecoveryMode::Strict => keel_wal::RecoveryMode::Strict,
        RecoveryMode::PointInTime => keel_wal::RecoveryMode::PointInTime,
    }
}

/// Opens the log for writing, finding its end (which must reach the
/// checkpoint's `log_end`); read-only, it opens nothing.
fn log(
    vfs: &Arc<dyn Vfs>,
    dir: &Path,
    options: &Options,
    access: Access,
    payload: &Payload,
    known_durable: bool,
    listing: Option<(Listing, Option<FileHandle>)>,
) -> Result<OpenedLog> {
    let wal_dir = dir.join(WAL_DIR);
    let wal_options = WalOptions {
        segment_bytes: options.wal_segment_bytes,
        periodic_interval: options.sync_interval,
        recovery_mode: wal_recovery_mode(options.recovery_mode),
        archive_dir: options.archive_dir.clone(),
        durable_end_min: Lsn(payload.log_end),
        known_durable,
        // The maintenance thread starts the log's thread, if there is
        // one: the open does not wait for a second thread's creation.
        start_background: !options.background_maintenance,
        ..WalOptions::default()
    };
    if access == Access::ReadWrite {
        let (wal, recovery) = match listing {
            Some((listing, last_segment)) => {
                Wal::open_listed_with(vfs.clone(), &wal_dir, wal_options, listing, last_segment)?
            }
            None => Wal::open(vfs.clone(), &wal_dir, wal_options)?,
        };
        return Ok((
            Some(Arc::new(wal)),
            Some(recovery.end),
            Some((recovery.segments, recovery.tail)),
        ));
    }
    // Read-only: the replay finds the end, changing nothing.
    Ok((None, None, None))
}

/// The log opened for writing (`None` read-only), where opening it found
/// its end, and its segments after the open with the file of the one
/// appended to (for the replay's reader).
type OpenedLog = (
    Option<Arc<Wal>>,
    Option<keel_wal::ReadEnd>,
    Option<(Vec<(Lsn, PathBuf)>, (Lsn, FileHandle))>,
);

/// A read-only open of a database whose log directory is missing: damage
/// if the checkpoint recorded log records as durable.
fn missing_log(wal_dir: &Path, payload: &Payload, mode: RecoveryMode) -> Result<keel_wal::ReadEnd> {
    if payload.log_end > Lsn::FIRST.0 && mode == RecoveryMode::Strict {
        let problem = format!(
            "the log directory is missing, but the checkpoint recorded every record before {} as durable",
            payload.log_end
        );
        return Err(Error::corruption(wal_dir, Location::File, problem));
    }
    Ok(keel_wal::ReadEnd::Clean {
        next_lsn: Lsn::FIRST,
    })
}

/// Replays the log from `reader`: commits above the fold point into the
/// delta, prepared transactions by their decision. Stops at `known_end`
/// (where opening the log for writing found its end) or, read-only, where
/// the reader finds it. Returns how the log ends.
fn replay(
    mut reader: Reader,
    known_end: Option<keel_wal::ReadEnd>,
    recovery: &mut keel_mvcc::Recovery,
    log: &WalLog,
    pager: &Pager,
    report: &mut RecoveryReport,
) -> Result<keel_wal::ReadEnd> {
    let stop = known_end
        .as_ref()
        .map_or(Lsn(u64::MAX), keel_wal::ReadEnd::next_lsn);
    // The prepared transactions not decided so far, with the lsn of their
    // prepare record.
    let mut prepared: HashMap<u64, (Lsn, keel_wal::Prepare, WriteSet)> = HashMap::new();
    let mut parts = Parts::new(recovery.options());
    for item in reader.by_ref() {
        let (lsn, record) = item?;
        if lsn >= stop {
            break;
        }
        report.records_scanned += 1;
        // The commit to replay, and the first record holding its write set
        // (its first part, if it has parts).
        let commit = match record {
            Record::Part(set) => {
                // Noted, so that no transaction after this recovery takes
                // the id of parts whose record never came: a later
                // recovery would join them to its record.
                recovery.note_transaction_id(set.transaction_id);
                parts.add(lsn, &set)?;
                None
            }
            Record::Commit(set) => {
                let (writes, first) = parts.complete(&set, lsn)?;
                Some((set.transaction_id, set.timestamp, writes, first))
            }
            Record::Prepare(mut prepare) => {
                let (writes, first) = parts.complete(&prepare.write_set, lsn)?;
                // Held once, in mvcc's terms.
                prepare.write_set.entries = Vec::new();
                let transaction_id = prepare.write_set.transaction_id;
                recovery.note_transaction_id(transaction_id);
                prepared.insert(transaction_id, (first, prepare, writes));
                None
            }
            Record::CommitPrepared {
                transaction_id,
                commit_timestamp,
            } => {
                let Some((prepare_lsn, _, writes)) = prepared.remove(&transaction_id) else {
                    // Replay may start after the prepare record of a
                    // commit the base already holds (the position is kept
                    // back only for commits above the fold point).
                    if Timestamp::from_u64(commit_timestamp) <= recovery.fold_point() {
                        recovery.note_transaction_id(transaction_id);
                        continue;
                    }
                    let problem = format!(
                        "transaction {transaction_id} commits above the checkpoint, but its prepare record is not in the log"
                    );
                    return Err(Error::corruption("wal", Location::Record(lsn.0), problem));
                };
                Some((transaction_id, commit_timestamp, writes, prepare_lsn))
            }
            Record::AbortPrepared { transaction_id } => {
                recovery.note_transaction_id(transaction_id);
                prepared.remove(&transaction_id);
                None
            }
            Record::Checkpoint { checkpoint_id, .. } => {
                if checkpoint_id > pager.checkpoint_id() {
                    // The log saw a newer checkpoint than the page file
                    // holds: its meta slot was lost, and the log before it
                    // may be gone. Refuse rather than lose data.
                    let problem = format!(
                        "the log records checkpoint {checkpoint_id}, but the newest valid meta slot holds checkpoint {}",
                        pager.checkpoint_id()
                    );
                    return Err(Error::corruption(
                        pager.path(),
                        Location::MetaSlots,
                        problem,
                    ));
                }
                None
            }
        };
        if let Some((transaction_id, timestamp, writes, write_set_lsn)) = commit {
            let timestamp = Timestamp::from_u64(timestamp);
            let bytes = writes.bytes();
            if recovery.replay_commit(transaction_id, timestamp, writes)? {
                log.note_replayed(timestamp, write_set_lsn);
                report.commits_replayed += 1;
                report.bytes_replayed += bytes;
            }
        }
    }
    // Undecided: held again as they were, until decided. Their prepare
    // records keep the log from being truncated past them.
    for (transaction_id, (lsn, prepare, writes)) in prepared {
        recovery.restore_prepared(
            transaction_id,
            Timestamp::from_u64(prepare.write_set.timestamp),
            prepare.global_id,
            writes,
            mvcc_read_set(&prepare.reads),
        )?;
        log.note_undecided(transaction_id, lsn);
        report.prepared_restored += 1;
    }
    let found_end = reader.end().cloned();
    known_end
        .or(found_end)
        .ok_or_else(|| Error::Internal("the log reader stopped without an end".into()))
}

/// The [`Record::Part`]s read so far of write sets whose own record has
/// not come yet, by transaction, gathered into write sets (spilled past
/// the transactions' memory budget, as their commits were). Those still
/// here at the end of the log belong to no committed or prepared
/// transaction and are dropped.
struct Parts {
    building: HashMap<u64, (Lsn, WriteSetBuilder)>,
    memory_bytes_max: u64,
    spill_dir: Option<PathBuf>,
}

impl Parts {
    fn new(options: &MvccOptions) -> Parts {
        Parts {
            building: HashMap::new(),
            memory_bytes_max: options.transaction_memory_bytes_max,
            spill_dir: options.spill_dir.clone(),
        }
    }

    fn builder(&mut self, transaction_id: u64, lsn: Lsn) -> &mut (Lsn, WriteSetBuilder) {
        self.building.entry(transaction_id).or_insert_with(|| {
            let builder = WriteSetBuilder::new(
                transaction_id,
                self.memory_bytes_max,
                self.spill_dir.as_ref(),
            );
            (lsn, builder)
        })
    }

    fn add(&mut self, lsn: Lsn, set: &keel_wal::WriteSet) -> Result<()> {
        let (_, builder) = self.builder(set.transaction_id, lsn);
        for entry in &set.entries {
            builder.push(mvcc_entry(entry))?;
        }
        Ok(())
    }

    /// `set` (its record at `lsn`) with the entries of its parts before its
    /// own, as a write set, and the lsn of its first part (`lsn` if it has
    /// none).
    fn complete(&mut self, set: &keel_wal::WriteSet, lsn: Lsn) -> Result<(WriteSet, Lsn)> {
        self.add(lsn, set)?;
        let (first, builder) = self
            .building
            .remove(&set.transaction_id)
            .ok_or_else(|| Error::Internal("a write set's builder went missing".into()))?;
        Ok((builder.finish()?, first))
    }
}

/// Where a transaction's writes spill: the chosen directory, else the
/// database's own when it is a real directory (the disk that holds the
/// data), else the system's temporary directory.
fn spill_dir(options: &Options, dir: &Path) -> Option<PathBuf> {
    options.spill_dir.clone().or_else(|| {
        std::fs::metadata(dir)
            .is_ok_and(|meta| meta.is_dir())
            .then(|| dir.to_path_buf())
    })
}

/// The oracle of a read-only database: timestamps for snapshots only,
/// never persisted, since nothing is committed with them.
struct SnapshotOracle(HybridClock);

impl TimestampOracle for SnapshotOracle {
    fn next(&self) -> keel_tso::Result<Timestamp> {
        Ok(self.0.now())
    }

    fn next_batch(&self, count: u32) -> keel_tso::Result<TimestampRange> {
        self.0.reserve(count)
    }

    fn advance_to(&self, timestamp: Timestamp) -> keel_tso::Result<()> {
        self.0.advance_to(timestamp);
        Ok(())
    }

    fn last_issued(&self) -> Timestamp {
        self.0.last()
    }
}

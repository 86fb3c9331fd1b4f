//! The background thread: folds the delta into the B+tree, checkpoints,
//! and deletes (or archives) the log behind the durable checkpoint. It is
//! the B+tree's only writer; on-demand checkpoints take the same lock.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use keel_tso::Timestamp;
use keel_wal::{Durability, Record, WalStats};

use crate::database::{Shared, now_ms};
use crate::error::{Error, Result};
use crate::stats::Counters;
use crate::storage::{Payload, Sink};

/// How long the thread sleeps when there is nothing to do.
const IDLE_WAIT: Duration = Duration::from_millis(50);

/// What the thread is asked to do.
#[derive(Debug, Default)]
pub(crate) struct Signal {
    stop: bool,
}

/// What a checkpoint did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckpointInfo {
    /// The checkpoint's id (1 for the first after creation).
    pub checkpoint_id: u64,
    /// The commit timestamp whose state the checkpoint holds.
    pub fold_timestamp: u64,
    /// Pages written.
    pub pages_written: u64,
    /// Bytes written to the page file.
    pub bytes_written: u64,
    /// Leaf pages freed by packing half-empty leaves into fewer before
    /// the pages were written.
    pub leaves_packed: u64,
    /// Log segment files deleted (or archived) behind it.
    pub log_segments_removed: u64,
    /// How long it took.
    pub duration: Duration,
}

/// Starts the background thread now if the open left it work (commits
/// replayed into the delta, prepared transactions restored), else before
/// the first record is appended to the log: until then it has nothing to
/// fold or checkpoint, and an open that is only read from does not wait
/// for a thread's creation (30-50 µs of a cold open's ~0.4 ms).
/// Snapshots judge expiry without it (`begin` moves an idle watermark).
pub(crate) fn start_when_needed(shared: &Arc<Shared>) -> Result<()> {
    let recovered = &shared.recovery;
    if recovered.commits_replayed > 0 || recovered.prepared_restored > 0 {
        return start(shared);
    }
    let weak = Arc::downgrade(shared);
    shared
        .log
        .on_first_append(Box::new(move || match weak.upgrade() {
            Some(shared) => start(&shared),
            None => Ok(()),
        }));
    Ok(())
}

/// Starts the background thread unless it runs or the database is closed.
fn start(shared: &Arc<Shared>) -> Result<()> {
    let mut background = shared.background.lock();
    // Under the handle's lock: a close sets `closed` before it takes the
    // handle, so it either joins the thread started here or this sees
    // `closed` and starts none.
    if background.is_some() || shared.closed.load(Ordering::Acquire) {
        return Ok(());
    }
    let thread = shared.clone();
    let handle = std::thread::Builder::new()
        .name("keel-maintenance".into())
        .spawn(move || run(&thread))
        .map_err(|error| {
            Error::Internal(format!("cannot start the maintenance thread: {error}"))
        })?;
    *background = Some(handle);
    Ok(())
}

pub(crate) fn stop(shared: &Shared) {
    let (lock, condvar) = &shared.signal;
    lock.lock().stop = true;
    condvar.notify_all();
}

fn run(shared: &Shared) {
    let Some(wal) = shared.wal.as_ref() else {
        return;
    };
    // The log's thread, started here rather than by the open (which then
    // waits for one thread's creation, not two). A failure is logged and
    // latched by the log, which then refuses writes with it.
    let _ = wal.start_background();
    let mut last_fold = Instant::now();
    let mut last_checkpoint = Instant::now();
    loop {
        {
            let (lock, condvar) = &shared.signal;
            let mut signal = lock.lock();
            if signal.stop {
                return;
            }
            condvar.wait_for(&mut signal, IDLE_WAIT);
            if signal.stop {
                return;
            }
        }
        if shared.manager.poisoned().is_some() {
            continue;
        }
        // New snapshots judge expiry now, and the safe point moves on.
        let _ = shared.manager.advance_watermark();
        let stats = shared.manager.stats();
        let wal_bytes = WalStats::get(&wal.stats().appended_bytes)
            .saturating_sub(shared.wal_bytes_at_checkpoint.load(Ordering::Relaxed));
        let dirty_bytes = shared
            .counters
            .folded_bytes_since_checkpoint
            .load(Ordering::Relaxed);
        let checkpoint_due = wal_bytes >= shared.options.checkpoint_wal_bytes
            || dirty_bytes >= shared.options.checkpoint_dirty_bytes
            || (wal_bytes > 0 && last_checkpoint.elapsed() >= shared.options.checkpoint_interval);
        if checkpoint_due {
            {
                let _maintenance = shared.maintenance.lock();
                if let Err(error) = relocate_some(shared) {
                    tracing::error!(%error, "background relocation failed");
                }
            }
            match checkpoint_unchecked(shared) {
                Ok(_) => last_checkpoint = Instant::now(),
                Err(error) => tracing::error!(%error, "background checkpoint failed"),
            }
            last_fold = Instant::now();
            continue;
        }
        let fold_due = stats.delta_bytes >= shared.options.fold_delta_bytes
            || (stats.delta_versions > 0 && last_fold.elapsed() >= shared.options.fold_interval);
        if fold_due {
            let _maintenance = shared.maintenance.lock();
            if let Err(error) = fold(shared) {
                tracing::error!(%error, "background fold failed");
            }
            last_fold = Instant::now();
        }
    }
}

/// Folds every change up to the safe point into the B+tree. The caller
/// holds the maintenance lock.
pub(crate) fn fold(shared: &Shared) -> Result<Timestamp> {
    if !shared.orphans_swept.load(Ordering::Acquire) {
        let removed = crate::load::sweep_orphans(shared)?;
        Counters::add(&shared.counters.orphans_removed, removed);
        shared.orphans_swept.store(true, Ordering::Release);
    }
    let safe_point = shared.manager.safe_point();
    if safe_point <= shared.manager.fold_point() {
        // Nothing new to fold; old versions may still be collectable.
        let _ = shared.manager.collect_garbage();
        return Ok(shared.manager.fold_point());
    }
    // Taken after the safe point: a keyspace created since has no folded
    // commits yet (its handle exists only after its creation committed).
    let mut sink = Sink {
        tree: &shared.tree,
        expired_before_ms: safe_point.physical_ms().min(now_ms()),
        expired: 0,
        bytes_changed: 0,
        live_ids: crate::load::live_ids(shared),
        last_id: None,
    };
    let report = shared.manager.fold(safe_point, &mut sink)?;
    Counters::add(&shared.counters.folds, 1);
    Counters::add(&shared.counters.keys_folded, report.keys_folded);
    Counters::add(&shared.counters.expired_removed, sink.expired);
    Counters::add(
        &shared.counters.folded_bytes_since_checkpoint,
        sink.bytes_changed,
    );
    Ok(report.fold_point)
}

/// What a compaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompactionInfo {
    /// The page file's bytes before.
    pub file_bytes_before: u64,
    /// The page file's bytes after.
    pub file_bytes_after: u64,
    /// B+tree pages freed by packing leaves and inner pages full.
    pub pages_merged: u64,
    /// Pages moved out of the file's tail.
    pub pages_moved: u64,
    /// How long it took.
    pub duration: Duration,
}

/// Gives the page file's free space back: a checkpoint (everything folded,
/// the durable checkpoint equal to the state), neighbouring leaves that
/// fit in one page merged (deletes leave leaves down to a quarter full),
/// then every page and map
/// node past the smallest boundary that holds them all is moved below it
/// by a checkpoint, a second one frees their old blocks, and the file is
/// cut after the last block in use. Crash-safe at every step: only
/// checkpoints write, copy-on-write, and the cut spares every block the
/// durable checkpoint needs.
pub(crate) fn compact(shared: &Shared) -> Result<CompactionInfo> {
    if let Some(error) = shared.manager.poisoned() {
        return Err(Error::Poisoned(error.to_string()));
    }
    let started = Instant::now();
    let page_bytes = shared.pager.page_size() as u64;
    let file_bytes_before = shared.pager.stats().file_blocks * page_bytes;
    checkpoint_unchecked(shared)?;
    let pages_merged = {
        let _maintenance = shared.maintenance.lock();
        shared.tree.defragment()?
    };
    if pages_merged > 0 {
        // The merged pages' blocks become free once no durable checkpoint
        // needs them: relocation then counts on them.
        checkpoint_unchecked(shared)?;
    }
    let relocation = {
        let _maintenance = shared.maintenance.lock();
        shared.pager.relocate_tail(u64::MAX)?
    };
    // The log's open segment may be a large preallocated one (after a
    // burst of writes): go on in a small one, so that the checkpoints
    // below delete the large one, cut after its last record.
    if let Some(wal) = &shared.wal {
        wal.shrink()?;
    }
    checkpoint_unchecked(shared)?;
    checkpoint_unchecked(shared)?;
    // Those checkpoints' truncation kept the large segment for reuse:
    // compaction gives it back too.
    if let Some(wal) = &shared.wal {
        wal.shrink()?;
    }
    let file_bytes_after = {
        let _maintenance = shared.maintenance.lock();
        shared.pager.shrink_to_fit()?
    };
    Counters::add(&shared.counters.compactions, 1);
    Ok(CompactionInfo {
        file_bytes_before,
        file_bytes_after,
        pages_merged,
        pages_moved: relocation.pages,
        duration: started.elapsed(),
    })
}

/// Before a background checkpoint: when free blocks pass
/// `compact_free_ratio` of the page file, moves up to
/// [`BACKGROUND_RELOCATION_PAGES`] pages out of its tail, so the file
/// shrinks over the following checkpoints. The caller holds the
/// maintenance lock.
fn relocate_some(shared: &Shared) -> Result<()> {
    let stats = shared.pager.stats();
    let free_ratio = stats.free_blocks as f64 / stats.file_blocks.max(1) as f64;
    if free_ratio > shared.options.compact_free_ratio {
        shared.pager.relocate_tail(BACKGROUND_RELOCATION_PAGES)?;
    }
    Ok(())
}

/// Pages the background thread moves out of the tail per checkpoint.
pub const BACKGROUND_RELOCATION_PAGES: u64 = 4096;

/// An on-demand checkpoint.
pub(crate) fn checkpoint(shared: &Shared) -> Result<CheckpointInfo> {
    if let Some(error) = shared.manager.poisoned() {
        return Err(Error::Poisoned(error.to_string()));
    }
    checkpoint_unchecked(shared)
}

/// `Shared::checkpointed_end` when the newest checkpoint may have left
/// records to replay (or an open replayed some): no log position equals
/// it, so a close checkpoints.
pub(crate) const CHECKPOINT_AGAIN: u64 = u64::MAX;

/// Folds, then writes a checkpoint of the B+tree with the fold point and
/// the log position replay must start from; then records the checkpoint
/// in the log and removes the log behind it.
pub(crate) fn checkpoint_unchecked(shared: &Shared) -> Result<CheckpointInfo> {
    let Some(wal) = shared.wal.as_ref() else {
        return Err(Error::ReadOnly);
    };
    let _maintenance = shared.maintenance.lock();
    let started = Instant::now();
    let wal_bytes_before = WalStats::get(&wal.stats().appended_bytes);
    let fold_point = fold(shared)?;
    // Half-empty leaves the fold's splits and deletes left go into fewer
    // pages before they are written.
    let leaves_packed = shared.tree.pack()?;
    Counters::add(&shared.counters.leaves_packed, leaves_packed);
    let dirty_bytes = shared
        .counters
        .folded_bytes_since_checkpoint
        .load(Ordering::Relaxed);
    let replay_lsn = shared.log.replay_start(fold_point);
    // Log before data: every record the checkpoint leaves to replay, and
    // every one before the log's end now, is durable before the meta slot
    // says so, so that a log found shorter than `log_end` is damage.
    let log_end = wal.next_lsn();
    wal.sync()?;
    let payload = Payload {
        fold_timestamp: fold_point,
        replay_lsn: replay_lsn.0,
        root: shared.tree.root(),
        log_end: log_end.0,
    };
    // An open reads the catalog (keyspace 0: the tree's first keys) before
    // anything else; the meta slot names the blocks of that descent.
    if let Ok(path) = shared.tree.first_path() {
        shared.pager.set_open_pages(&path);
    }
    let report = shared.pager.checkpoint(&payload.encode())?;
    // The marker starts a new segment if the open one is large, so that
    // the truncation below can take the records the checkpoint folded.
    wal.rotate_if_large();
    // The marker lets recovery notice a lost newest meta slot (see
    // `Database::open`); it is durable before any segment is removed.
    let marker = wal.commit(
        &Record::Checkpoint {
            checkpoint_id: report.checkpoint_id,
            fold_timestamp: fold_point.as_u64(),
        },
        Durability::Sync,
    )?;
    // A close after this checkpoint, with nothing logged since, need not
    // take another only if this one left nothing to replay: one that a
    // reader's snapshot or a commit still landing held short of the log's
    // end (a large commit's records outgrow the log's checkpoint trigger
    // while it is written) must be followed by one at close.
    let end = if replay_lsn == log_end {
        marker.next().0
    } else {
        CHECKPOINT_AGAIN
    };
    shared.checkpointed_end.store(end, Ordering::Release);
    let truncation = wal.truncate_before(replay_lsn)?;
    shared
        .wal_bytes_at_checkpoint
        .store(wal_bytes_before, Ordering::Relaxed);
    // Folds run only under the maintenance lock, held here: nothing was
    // added since `dirty_bytes` was read.
    shared
        .counters
        .folded_bytes_since_checkpoint
        .fetch_sub(dirty_bytes, Ordering::Relaxed);
    let info = CheckpointInfo {
        checkpoint_id: report.checkpoint_id,
        fold_timestamp: fold_point.as_u64(),
        pages_written: report.pages_written,
        bytes_written: report.bytes_written,
        leaves_packed,
        log_segments_removed: truncation.removed.len() as u64,
        duration: started.elapsed(),
    };
    Counters::add(&shared.counters.checkpoints, 1);
    shared.counters.record_checkpoint(&info);
    tracing::debug!(?info, "checkpoint");
    Ok(info)
}

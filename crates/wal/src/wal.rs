//! The log writer: append, group commit, durability modes, recovery on
//! open, truncation and archiving.
//!
//! Group commit: `append` frames a record into an in-memory buffer under
//! one short lock and returns its lsn. `wait_durable` returns once the
//! record is synced: the first waiter to find no flush running becomes the
//! leader, writes everything buffered and syncs once; the waiters its flush
//! covers return with it, the others wait for the next leader. An idle log
//! has no timer: a lone committer pays one fsync.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use keel_io::{FileHandle, OpenMode, Vfs};
use parking_lot::{Condvar, Mutex};

use crate::error::{Error, Result};
use crate::fragment::{
    FRAGMENT_PAYLOAD_BYTES_MAX, FragmentKind, SEAL_SPAN_BYTES, encode_fragment, encode_seal,
    fragment_span, segment_salt,
};
use crate::group_commit::{Flusher, GroupCommit};
use crate::lsn::Lsn;
use crate::options::{Durability, WalOptions};
use crate::record::Record;
use crate::recovery::{self, Recovery};
use crate::segment::{SEGMENT_HEADER_BYTES, create_segment, list_segments};
use crate::stats::WalStats;

/// What [`Wal::truncate_before`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Truncation {
    /// Segments removed from the log directory.
    pub removed: Vec<PathBuf>,
    /// Archive copies made (or found) before removal.
    pub archived: Vec<PathBuf>,
}

/// Buffered bytes bound for one place of one segment.
struct Chunk {
    segment_first: Lsn,
    /// The segment must be created before this chunk is written.
    new_segment: bool,
    /// With `new_segment`: the seal of the segment before it (offset and
    /// bytes), written once the new segment exists.
    seal_previous: Option<(u64, Vec<u8>)>,
    offset: u64,
    bytes: Vec<u8>,
}

/// Where the next fragment goes.
struct OpenSegment {
    first_lsn: Lsn,
    salt: u32,
    offset: u64,
    opened_at: Instant,
    /// Not created on disk yet: the next chunk creates it.
    pending_creation: bool,
}

/// The log's side of the group-commit tail: what is buffered and where it
/// goes.
struct Pending {
    /// Every `Periodic` record is before this.
    periodic_end: Lsn,
    chunks: Vec<Chunk>,
    chunk_bytes: usize,
    segment: OpenSegment,
    rotate_requested: bool,
    closed: bool,
}

type Tail = crate::group_commit::Tail<Pending, Error>;

struct Io {
    current: Option<(Lsn, FileHandle)>,
    /// Every record before this was durable after the last synced flush.
    durable_end: Lsn,
    /// Files written since they were last synced.
    unsynced: Vec<FileHandle>,
}

struct Shared {
    vfs: Arc<dyn Vfs>,
    dir: PathBuf,
    options: WalOptions,
    /// The tail and the group-commit protocol over it.
    commit: GroupCommit<Pending, Error>,
    io: Mutex<Io>,
    stats: WalStats,
    stop: Mutex<bool>,
    stop_signal: Condvar,
    /// Held while archiving or removing segments (truncation and the
    /// background archiver).
    archiving: Mutex<()>,
}

/// A write-ahead log in one directory.
pub struct Wal {
    shared: Arc<Shared>,
    background: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Wal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tail = self.shared.commit.lock();
        f.debug_struct("Wal")
            .field("dir", &self.shared.dir)
            .field("next_lsn", &tail.next_lsn)
            .field("durable_end", &tail.durable_end)
            .finish()
    }
}

impl Wal {
    /// Opens (or creates) the log in `dir`: finds its end, cuts a torn tail
    /// off, makes what it kept durable, and starts a new segment for the
    /// records appended from now on.
    ///
    /// Errors: [`Error::Corruption`] (in [`RecoveryMode::Strict`]) naming
    /// the segment and offset; I/O errors naming the path.
    pub fn open(vfs: Arc<dyn Vfs>, dir: &Path, options: WalOptions) -> Result<(Wal, Recovery)> {
        options.validate()?;
        let started = Instant::now();
        keel_io::create_dir_all_durable(vfs.as_ref(), dir)?;
        let scan = recovery::find_end(&vfs, dir, &options)?;
        let next_lsn = scan.end.next_lsn();
        let (handle, discarded) = recovery::prepare_appends(vfs.as_ref(), dir, &options, &scan)?;

        let pending = Pending {
            periodic_end: Lsn::ZERO,
            chunks: Vec::new(),
            chunk_bytes: 0,
            segment: OpenSegment {
                first_lsn: next_lsn,
                salt: segment_salt(next_lsn),
                offset: SEGMENT_HEADER_BYTES,
                opened_at: Instant::now(),
                pending_creation: false,
            },
            rotate_requested: false,
            closed: false,
        };
        let shared = Arc::new(Shared {
            vfs,
            dir: dir.to_path_buf(),
            options,
            commit: GroupCommit::new(pending, next_lsn),
            io: Mutex::new(Io {
                current: Some((next_lsn, handle)),
                durable_end: next_lsn,
                unsynced: Vec::new(),
            }),
            stats: WalStats::default(),
            stop: Mutex::new(false),
            stop_signal: Condvar::new(),
            archiving: Mutex::new(()),
        });
        let background = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("keel-wal-flush".into())
                .spawn(move || shared.background())
                .map_err(|e| keel_io::Error::io(keel_io::Op::Write, dir, e))?
        };
        let recovery = Recovery {
            records_scanned: scan.records_scanned,
            segments: scan.segments_found,
            segments_discarded: discarded,
            end: scan.end,
            elapsed: started.elapsed(),
        };
        Ok((
            Wal {
                shared,
                background: Mutex::new(Some(background)),
            },
            recovery,
        ))
    }

    /// Appends a record and returns its lsn. Cheap: the record is framed
    /// into memory; with [`Durability::Sync`] the caller then waits with
    /// [`Wal::wait_durable`]. Waits (never fails) while the buffer is full.
    ///
    /// Errors: [`Error::RecordTooLarge`]; the original I/O error once the
    /// log has failed; [`Error::Closed`].
    pub fn append(&self, record: &Record, durability: Durability) -> Result<Lsn> {
        let payload = record.encode();
        let limit = self.shared.options.record_bytes_max;
        if payload.len() > limit {
            return Err(Error::RecordTooLarge {
                bytes: payload.len(),
                limit,
            });
        }
        let mut tail = self.shared.commit.lock();
        loop {
            if let Some(error) = &tail.failed {
                return Err(error.clone());
            }
            if tail.buffer.closed {
                return Err(Error::Closed);
            }
            let buffered = tail.buffer.chunk_bytes;
            if buffered == 0 || buffered + payload.len() <= self.shared.options.buffer_bytes_max {
                break;
            }
            tail = if tail.flushing {
                self.shared.commit.wait(tail)
            } else {
                self.shared
                    .commit
                    .lead(self.shared.as_ref(), tail, false, Duration::ZERO)
            };
        }
        let lsn = tail.next_lsn;
        tail.next_lsn = lsn.next();
        let added = self.shared.frame(&mut tail, lsn, &payload);
        if durability == Durability::Periodic {
            tail.buffer.periodic_end = tail.next_lsn;
        }
        drop(tail);
        WalStats::add(&self.shared.stats.appends, 1);
        WalStats::add(&self.shared.stats.appended_bytes, added as u64);
        Ok(lsn)
    }

    /// Blocks until the record at `lsn` (and every one before it) is
    /// durable. Errors: the original I/O error once the log has failed.
    pub fn wait_durable(&self, lsn: Lsn) -> Result<()> {
        self.shared.flush_through(lsn.next(), true)
    }

    /// Appends and, for [`Durability::Sync`], waits until durable.
    pub fn commit(&self, record: &Record, durability: Durability) -> Result<Lsn> {
        let lsn = self.append(record, durability)?;
        if durability == Durability::Sync {
            self.wait_durable(lsn)?;
        }
        Ok(lsn)
    }

    /// Makes every record appended so far durable.
    pub fn sync(&self) -> Result<()> {
        let end = self.shared.commit.lock().next_lsn;
        self.shared.flush_through(end, true)
    }

    /// Removes the segments all of whose records are before `lsn` (the
    /// engine calls it once a durable checkpoint holds them). The segment
    /// being appended to is never removed; the newest closed segments are
    /// kept while they add up to less than `WalOptions::keep_bytes`; with an
    /// archive directory, each segment is durably copied there first.
    pub fn truncate_before(&self, lsn: Lsn) -> Result<Truncation> {
        let shared = &self.shared;
        let _archiving = shared.archiving.lock();
        let mut truncation = Truncation::default();
        let mut removable = Vec::new();
        for (_, next_first, path) in shared.closed_segments()? {
            // Records never span segments: this one holds [first, next_first).
            if next_first <= lsn {
                let size = shared.vfs.open(&path, OpenMode::Existing)?.size()?;
                removable.push((path, size));
            }
        }
        let mut kept_bytes = 0u64;
        while let Some((_, size)) = removable.last() {
            if kept_bytes >= shared.options.keep_bytes {
                break;
            }
            kept_bytes += size;
            removable.pop();
        }
        for (path, _) in removable {
            if let Some(archive_dir) = &shared.options.archive_dir {
                let copy =
                    crate::archive::archive_segment(shared.vfs.as_ref(), &path, archive_dir)?;
                truncation.archived.push(copy);
            }
            shared.vfs.remove(&path)?;
            truncation.removed.push(path);
        }
        if !truncation.removed.is_empty() {
            shared.vfs.sync_dir(&shared.dir)?;
        }
        Ok(truncation)
    }

    /// The lsn the next append gets.
    pub fn next_lsn(&self) -> Lsn {
        self.shared.commit.lock().next_lsn
    }

    /// Every record before this lsn is durable.
    pub fn durable_end(&self) -> Lsn {
        self.shared.commit.lock().durable_end
    }

    /// The counters.
    pub fn stats(&self) -> &WalStats {
        &self.shared.stats
    }

    /// The directory of the log.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Syncs everything appended, stops the background flush, and refuses
    /// later appends. Returns the latched error if the log had failed.
    pub fn close(&self) -> Result<()> {
        self.stop_background();
        let result = self.sync();
        self.shared.commit.lock().buffer.closed = true;
        result
    }

    fn stop_background(&self) {
        *self.shared.stop.lock() = true;
        self.shared.stop_signal.notify_all();
        if let Some(handle) = self.background.lock().take() {
            let _ = handle.join();
        }
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

impl Flusher for Shared {
    type Buffer = Pending;
    type Batch = Vec<Chunk>;
    type Error = Error;

    fn take(&self, buffer: &mut Pending) -> Vec<Chunk> {
        buffer.chunk_bytes = 0;
        std::mem::take(&mut buffer.chunks)
    }

    fn write(&self, chunks: Vec<Chunk>, sync: bool, end: Lsn) -> Result<()> {
        let started = Instant::now();
        let result = self.write_chunks(chunks, sync, end);
        if let Err(error) = &result {
            tracing::error!(%error, "write-ahead log failed; it accepts no more writes");
        }
        if sync && result.is_ok() {
            self.stats
                .flush_latency_us
                .record(started.elapsed().as_micros() as u64);
        }
        result
    }
}

impl Shared {
    /// The segments on disk that are closed (appends go elsewhere), oldest
    /// first, each with the first lsn of the segment after it.
    fn closed_segments(&self) -> Result<Vec<(Lsn, Lsn, PathBuf)>> {
        // The segment flushes write to, not the one appends are framed
        // into: a segment the framer has left may still be waiting for its
        // last records (and its seal), and must not be archived or removed
        // before they are written.
        let open_first = self
            .io
            .lock()
            .current
            .as_ref()
            .map_or(Lsn::ZERO, |(first, _)| *first);
        let segments = list_segments(self.vfs.as_ref(), &self.dir)?;
        let mut closed = Vec::new();
        for (index, (first, path)) in segments.iter().enumerate() {
            if *first >= open_first {
                break;
            }
            let next_first = segments
                .get(index + 1)
                .map_or(open_first, |(next, _)| *next)
                .min(open_first);
            closed.push((*first, next_first, path.clone()));
        }
        Ok(closed)
    }

    /// Archives every closed segment not archived yet.
    fn archive_closed(&self) -> Result<()> {
        let Some(archive_dir) = &self.options.archive_dir else {
            return Ok(());
        };
        let _archiving = self.archiving.lock();
        for (_, _, path) in self.closed_segments()? {
            crate::archive::archive_segment(self.vfs.as_ref(), &path, archive_dir)?;
        }
        Ok(())
    }

    /// Frames `payload` as record `lsn` into the buffer, starting new
    /// segments as they fill. Returns the bytes added.
    fn frame(&self, tail: &mut Tail, lsn: Lsn, payload: &[u8]) -> usize {
        let segment_bytes = self.options.segment_bytes;
        let durable_before = tail.durable_end;
        let tail = &mut tail.buffer;
        // A record never spans segments, so every segment starts with a
        // whole record and is named by it: one that does not fit starts a
        // new segment, and one larger than a segment gets a segment of its
        // own that grows past its preallocation.
        let record_span: u64 = payload
            .chunks(FRAGMENT_PAYLOAD_BYTES_MAX)
            .map(|piece| fragment_span(piece.len()) as u64)
            .sum();
        // A segment keeps room for its seal.
        let segment_used = tail.segment.offset > SEGMENT_HEADER_BYTES;
        let fits = tail.segment.offset + record_span + SEAL_SPAN_BYTES as u64 <= segment_bytes;
        let mut seal_previous = None;
        if tail.rotate_requested || (segment_used && !fits) {
            tail.rotate_requested = false;
            let seal = encode_seal(tail.segment.salt, lsn, durable_before);
            seal_previous = Some((tail.segment.offset, seal));
            tail.segment = OpenSegment {
                first_lsn: lsn,
                salt: segment_salt(lsn),
                offset: SEGMENT_HEADER_BYTES,
                opened_at: Instant::now(),
                pending_creation: true,
            };
        }
        let mut rest = payload;
        let mut first = true;
        let mut added = 0;
        loop {
            let take = rest.len().min(FRAGMENT_PAYLOAD_BYTES_MAX);
            let last = take == rest.len();
            let kind = match (first, last) {
                (true, true) => FragmentKind::Full,
                (true, false) => FragmentKind::First,
                (false, false) => FragmentKind::Middle,
                (false, true) => FragmentKind::Last,
            };
            let segment_first = tail.segment.first_lsn;
            let offset = tail.segment.offset;
            let new_segment = std::mem::take(&mut tail.segment.pending_creation);
            let contiguous = tail.chunks.last().is_some_and(|chunk| {
                chunk.segment_first == segment_first
                    && chunk.offset + chunk.bytes.len() as u64 == offset
            });
            if !contiguous {
                tail.chunks.push(Chunk {
                    segment_first,
                    new_segment,
                    seal_previous: seal_previous.take(),
                    offset,
                    bytes: Vec::new(),
                });
            }
            let salt = tail.segment.salt;
            let Some(chunk) = tail.chunks.last_mut() else {
                unreachable!("a chunk was just ensured");
            };
            let before = chunk.bytes.len();
            encode_fragment(
                &mut chunk.bytes,
                salt,
                kind,
                lsn,
                durable_before,
                &rest[..take],
            );
            let span = chunk.bytes.len() - before;
            tail.segment.offset += span as u64;
            tail.chunk_bytes += span;
            added += span;
            rest = &rest[take..];
            first = false;
            if last {
                return added;
            }
        }
    }

    /// Makes every record before `end` written (and, if `sync`, durable),
    /// leading a flush or waiting for one.
    fn flush_through(&self, end: Lsn, sync: bool) -> Result<()> {
        let delay = if sync {
            self.options.max_batch_delay
        } else {
            Duration::ZERO
        };
        self.commit.flush_through(self, end, sync, delay)
    }

    fn write_chunks(&self, chunks: Vec<Chunk>, sync: bool, end: Lsn) -> Result<()> {
        let mut io = self.io.lock();
        WalStats::add(&self.stats.flushes, 1);
        for chunk in chunks {
            if chunk.new_segment {
                // The closing segment is synced before the next exists, so
                // a later segment implies every earlier one is complete: a
                // gap between segments can only be damage, never a crash.
                self.sync_unsynced(&mut io)?;
                let handle = self.create_segment(chunk.segment_first)?;
                // Then the closing segment is sealed: a seal says the next
                // segment exists (synced by the flush that makes any of the
                // next segment's records durable).
                if let (Some((_, closing)), Some((offset, seal))) =
                    (io.current.take(), &chunk.seal_previous)
                {
                    closing.write_all_at(seal, *offset)?;
                    io.unsynced.push(closing);
                }
                io.current = Some((chunk.segment_first, handle));
            }
            let Some((first, handle)) = io.current.clone() else {
                unreachable!("the first chunk of a log creates its segment");
            };
            assert_eq!(first, chunk.segment_first, "chunks follow the segments");
            handle.write_all_at(&chunk.bytes, chunk.offset)?;
            if !io.unsynced.iter().any(|f| Arc::ptr_eq(f, &handle)) {
                io.unsynced.push(handle);
            }
        }
        if sync {
            self.sync_unsynced(&mut io)?;
            self.stats
                .records_per_fsync
                .record(end.0 - io.durable_end.0);
            io.durable_end = end;
        }
        Ok(())
    }

    /// Syncs every file written since its last sync, oldest first.
    fn sync_unsynced(&self, io: &mut Io) -> Result<()> {
        while let Some(handle) = io.unsynced.first().cloned() {
            handle.sync_data()?;
            WalStats::add(&self.stats.fsyncs, 1);
            io.unsynced.remove(0);
        }
        Ok(())
    }

    /// Creates, preallocates and durably names a new segment.
    fn create_segment(&self, first_lsn: Lsn) -> Result<FileHandle> {
        let handle = create_segment(
            self.vfs.as_ref(),
            &self.dir,
            first_lsn,
            self.options.segment_bytes,
        )?;
        WalStats::add(&self.stats.segments_created, 1);
        WalStats::add(&self.stats.fsyncs, 1);
        Ok(handle)
    }

    /// The background flush: `Periodic` records are synced every interval,
    /// `None` records written to the OS, and an old segment closed.
    fn background(&self) {
        let interval = self.options.periodic_interval;
        loop {
            {
                let mut stop = self.stop.lock();
                if *stop {
                    return;
                }
                self.stop_signal.wait_for(&mut stop, interval);
                if *stop {
                    return;
                }
            }
            let (periodic_end, next_lsn) = {
                let mut tail = self.commit.lock();
                if let Some(timeout) = self.options.archive_timeout
                    && tail.buffer.segment.opened_at.elapsed() >= timeout
                    && tail.buffer.segment.offset > SEGMENT_HEADER_BYTES
                {
                    tail.buffer.rotate_requested = true;
                }
                (tail.buffer.periodic_end, tail.next_lsn)
            };
            // Errors are latched in the tail; appenders see them.
            let _ = self.flush_through(periodic_end, true);
            let _ = self.flush_through(next_lsn, false);
            if let Err(error) = self.archive_closed() {
                // Not latched: truncation archives again before removing.
                tracing::warn!(%error, "archiving a closed write-ahead log segment failed");
            }
        }
    }
}

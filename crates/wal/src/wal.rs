//! The log writer: append, group commit, durability modes, recovery on
//! open, truncation and archiving.
//!
//! Group commit: `append` encodes a record straight into an in-memory
//! buffer (framed in place) under one short lock and returns its lsn.
//! `wait_durable` returns once the record is synced: the first waiter to
//! find no flush running becomes the leader, writes everything buffered and
//! syncs once; the waiters its flush covers return with it, the others
//! wait for the next leader. An idle log has no timer: a lone committer
//! pays one fsync.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use keel_io::{FileHandle, OpenMode, Vfs};
use parking_lot::{Condvar, Mutex};

use crate::error::{Error, Result};
use crate::fragment::{
    FRAGMENT_HEADER_BYTES, FRAGMENT_PAYLOAD_BYTES_MAX, FragmentFields, FragmentKind,
    SEAL_SPAN_BYTES, encode_fragment_with, encode_seal, fragment_header, fragment_span,
};
use crate::gather::{self, Gather};
use crate::group_commit::{Flusher, GroupCommit};
use crate::lsn::Lsn;
use crate::options::{Durability, WalOptions};
use crate::record::Encode;
use crate::recovery::{self, Recovery};
use crate::recycling::{self, NewSegment, Pool};
use crate::segment::{
    ALLOCATION_STEP_BYTES, Listing, SEGMENT_HEADER_BYTES, list_segments, trim_segment,
};
use crate::segment_size::next_segment_bytes;
use crate::stats::WalStats;
use crate::tail_image::{TailImage, WHOLE_BLOCK_BYTES_MAX};

/// Counts a segment created (or recycled) and its header's fsync.
fn count_creation(stats: &WalStats, segment: &NewSegment) {
    WalStats::add(&stats.segments_created, 1);
    if segment.free.is_some() {
        WalStats::add(&stats.segments_recycled, 1);
    }
    WalStats::add(&stats.fsyncs, 1);
}

/// What [`Wal::truncate_before`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Truncation {
    /// Segments taken out of the log (deleted, or kept for reuse).
    pub removed: Vec<PathBuf>,
    /// Of those, the ones kept for reuse, under their new names
    /// (`<segment>.free`).
    pub recycled: Vec<PathBuf>,
    /// Archive copies made (or found) before removal.
    pub archived: Vec<PathBuf>,
}

/// A zeroed fragment header written after every write: the end of the
/// written data reads as zeros even in a recycled segment, whose bytes
/// further on are stale. The next write starts on it; a segment keeps room
/// for it as for a seal.
const TERMINATOR: [u8; SEAL_SPAN_BYTES] = [0; SEAL_SPAN_BYTES];

/// Flushes [`Wal::shrink`] leads at most while appends keep coming.
const SHRINK_FLUSHES_MAX: u32 = 16;

/// A record's payload on its way into the buffer.
enum Payload<'a> {
    /// Of one fragment, encoded in place: the record and its length.
    InPlace(&'a dyn Encode, usize),
    /// Of several fragments, encoded beforehand as shared pieces (large
    /// values referenced, not copied) and their length.
    Gathered(Vec<Bytes>, usize),
}

impl Payload<'_> {
    fn len(&self) -> usize {
        match self {
            Payload::InPlace(_, bytes) | Payload::Gathered(_, bytes) => *bytes,
        }
    }
}

/// A piece of a fragment's payload at least this long is written from
/// the record's own bytes; shorter ones are copied into the buffer.
const SHARED_PIECE_BYTES_MIN: usize = 16 << 10;

/// A segment to create before a chunk is written to it.
struct Creation {
    segment: NewSegment,
    /// The seal of the segment before it (offset and bytes), written once
    /// the new segment exists.
    seal_previous: Option<(u64, Vec<u8>)>,
}

/// Buffered bytes bound for one place of one segment.
struct Chunk {
    segment_first: Lsn,
    /// The segment to create before this chunk is written.
    create: Option<Creation>,
    offset: u64,
    /// The bytes, in order: copied into the buffer, or large pieces of a
    /// record's values shared with the record's owner.
    parts: Vec<ChunkPart>,
    len: usize,
}

enum ChunkPart {
    Copied(Vec<u8>),
    Shared(Bytes),
}

impl ChunkPart {
    fn bytes(&self) -> &[u8] {
        match self {
            ChunkPart::Copied(bytes) => bytes,
            ChunkPart::Shared(bytes) => bytes,
        }
    }
}

impl Chunk {
    /// The vector copied bytes are appended to: the last part if it is one.
    fn copied(&mut self) -> &mut Vec<u8> {
        if !matches!(self.parts.last(), Some(ChunkPart::Copied(_))) {
            self.parts.push(ChunkPart::Copied(Vec::new()));
        }
        match self.parts.last_mut() {
            Some(ChunkPart::Copied(bytes)) => bytes,
            _ => unreachable!("a copied part was just ensured"),
        }
    }
}

/// Where the next fragment goes.
struct OpenSegment {
    first_lsn: Lsn,
    salt: u32,
    /// The size it is (or will be) preallocated to.
    segment_bytes: u64,
    offset: u64,
    opened_at: Instant,
    /// Not created on disk yet: the next chunk creates it.
    creation: Option<Creation>,
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

impl Pending {
    /// Appends one fragment at the open segment's offset, with `encode`,
    /// to the last chunk if it ends there (else to a new chunk). Returns
    /// the bytes added.
    fn append_fragment(&mut self, encode: impl FnOnce(&mut Vec<u8>)) -> usize {
        let chunk = self.chunk_at_offset();
        let bytes = chunk.copied();
        let before = bytes.len();
        encode(bytes);
        let span = bytes.len() - before;
        self.advance(span)
    }

    /// Appends one fragment whose payload is `pieces`: its header and the
    /// short pieces copied, the long ones shared. Returns the bytes added.
    fn append_shared_fragment(&mut self, fields: FragmentFields, pieces: &[Bytes]) -> usize {
        let slices: Vec<&[u8]> = pieces.iter().map(|piece| &piece[..]).collect();
        let header = fragment_header(fields, &slices);
        let payload_bytes: usize = pieces.iter().map(Bytes::len).sum();
        let span = fragment_span(payload_bytes);
        let chunk = self.chunk_at_offset();
        chunk.copied().extend_from_slice(&header);
        for piece in pieces {
            if piece.len() >= SHARED_PIECE_BYTES_MIN {
                chunk.parts.push(ChunkPart::Shared(piece.clone()));
            } else {
                chunk.copied().extend_from_slice(piece);
            }
        }
        let padding = span - FRAGMENT_HEADER_BYTES - payload_bytes;
        let copied = chunk.copied();
        copied.resize(copied.len() + padding, 0);
        self.advance(span)
    }

    /// The chunk that ends at the open segment's offset: the last one, or
    /// a new one.
    fn chunk_at_offset(&mut self) -> &mut Chunk {
        let segment_first = self.segment.first_lsn;
        let offset = self.segment.offset;
        let contiguous = self.chunks.last().is_some_and(|chunk| {
            chunk.segment_first == segment_first && chunk.offset + chunk.len as u64 == offset
        });
        if !contiguous {
            self.chunks.push(Chunk {
                segment_first,
                create: self.segment.creation.take(),
                offset,
                parts: Vec::new(),
                len: 0,
            });
        }
        match self.chunks.last_mut() {
            Some(chunk) => chunk,
            None => unreachable!("a chunk was just ensured"),
        }
    }

    /// Counts `span` bytes just appended to the last chunk.
    fn advance(&mut self, span: usize) -> usize {
        if let Some(chunk) = self.chunks.last_mut() {
            chunk.len += span;
        }
        self.segment.offset += span as u64;
        self.chunk_bytes += span;
        span
    }
}

struct Io {
    current: Option<(Lsn, FileHandle)>,
    /// How far the current segment is allocated on disk, as far as this
    /// log knows (0 at each new segment: the first write allocates, a
    /// no-op where creation did).
    allocated_end: u64,
    /// The current segment's size (allocation stops there, unless a record
    /// larger than the rest of the segment goes past it).
    segment_bytes: u64,
    /// Every record before this was durable after the last synced flush.
    durable_end: Lsn,
    /// Files written since they were last synced.
    unsynced: Vec<FileHandle>,
    /// The current segment's last partly written block.
    image: TailImage,
}

impl Io {
    /// Makes the segment starting at `first` in `handle`, of
    /// `segment_bytes`, the one writes go to (its allocation known from
    /// nothing: the first write allocates).
    fn switch_to(&mut self, first: Lsn, handle: FileHandle, segment_bytes: u64) {
        self.current = Some((first, handle));
        self.allocated_end = 0;
        self.segment_bytes = segment_bytes;
    }

    /// Allocates the current segment (`handle`) up to `end` and a step
    /// ([`ALLOCATION_STEP_BYTES`]) beyond, within its size, before a write
    /// that reaches `end`: a write into unallocated space would leave the
    /// block allocation for the next fdatasync to commit.
    fn allocate_ahead(&mut self, handle: &dyn keel_io::File, end: u64) -> Result<()> {
        if end <= self.allocated_end {
            return Ok(());
        }
        let to = end
            .next_multiple_of(ALLOCATION_STEP_BYTES)
            .min(self.segment_bytes.max(end));
        handle.allocate(self.allocated_end, to - self.allocated_end)?;
        self.allocated_end = to;
        Ok(())
    }
}

struct Shared {
    vfs: Arc<dyn Vfs>,
    dir: PathBuf,
    options: WalOptions,
    /// The tail and the group-commit protocol over it.
    commit: GroupCommit<Pending, Error>,
    io: Mutex<Io>,
    stats: WalStats,
    /// Closed segments kept for reuse (taken under the tail lock when
    /// appends reach a new segment; kept and deleted under `archiving`).
    pool: Mutex<Pool>,
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
    /// Opens (or creates) the log in `dir`: finds its end, makes what it
    /// kept durable, and readies appends — at the end of the last segment
    /// if the log ended cleanly, else in a new segment after a torn or cut
    /// tail.
    ///
    /// Errors: [`Error::Corruption`] (in [`RecoveryMode::Strict`]) naming
    /// the segment and offset; I/O errors naming the path.
    pub fn open(vfs: Arc<dyn Vfs>, dir: &Path, options: WalOptions) -> Result<(Wal, Recovery)> {
        options.validate()?;
        // One listing serves the whole open; the directory is created
        // (durably) only when it is missing.
        let listing = match Listing::read(vfs.as_ref(), dir) {
            Ok(listing) => listing,
            Err(error) if error.is_not_found() => {
                keel_io::create_dir_all_durable(vfs.as_ref(), dir)?;
                Listing::default()
            }
            Err(error) => return Err(error.into()),
        };
        Wal::open_listed(vfs, dir, options, listing)
    }

    /// [`Wal::open`] of a directory the caller has just listed
    /// ([`Listing::read`]: it exists), for a caller that needed the
    /// listing before (the engine asks the OS to read the last segment's
    /// head ahead). Nothing may have changed the directory since.
    ///
    /// Errors: as [`Wal::open`].
    pub fn open_listed(
        vfs: Arc<dyn Vfs>,
        dir: &Path,
        options: WalOptions,
        listing: Listing,
    ) -> Result<(Wal, Recovery)> {
        Wal::open_listed_with(vfs, dir, options, listing, None)
    }

    /// [`Wal::open_listed`] with the file of the listing's last segment
    /// opened already (`last_segment`; the engine opened it to ask the OS
    /// to read its head ahead): one open of it fewer.
    ///
    /// Errors: as [`Wal::open`].
    pub fn open_listed_with(
        vfs: Arc<dyn Vfs>,
        dir: &Path,
        options: WalOptions,
        mut listing: Listing,
        last_segment: Option<FileHandle>,
    ) -> Result<(Wal, Recovery)> {
        options.validate()?;
        let started = Instant::now();
        let scan = recovery::find_end(&vfs, dir, &options, &mut listing, last_segment)?;
        let next_lsn = scan.end.next_lsn();
        let mut pool = Pool::adopt_listed(
            vfs.as_ref(),
            dir,
            &listing.free,
            options.recycled_segments_max,
        )?;
        let opened = recovery::prepare_appends(vfs.as_ref(), dir, &options, &scan, &mut pool)?;
        // Going on in the segment the log ended in changes no segment;
        // anything else (a new segment, damage set aside) is listed anew.
        let segments = if opened.created.is_none() && opened.discarded == scan.creations_removed {
            listing.segments
        } else {
            list_segments(vfs.as_ref(), dir)?
        };
        let stats = WalStats::default();
        if let Some(created) = &opened.created {
            count_creation(&stats, created);
        }
        let handle = opened.handle;
        let tail = (opened.first_lsn, handle.clone());

        let pending = Pending {
            periodic_end: Lsn::ZERO,
            chunks: Vec::new(),
            chunk_bytes: 0,
            segment: OpenSegment {
                first_lsn: opened.first_lsn,
                salt: opened.salt,
                segment_bytes: opened.segment_bytes,
                offset: opened.offset,
                opened_at: Instant::now(),
                creation: None,
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
                current: Some((opened.first_lsn, handle)),
                allocated_end: 0,
                segment_bytes: opened.segment_bytes,
                durable_end: next_lsn,
                unsynced: Vec::new(),
                image: TailImage::default(),
            }),
            stats,
            pool: Mutex::new(pool),
            stop: Mutex::new(false),
            stop_signal: Condvar::new(),
            archiving: Mutex::new(()),
        });
        let wal = Wal {
            shared,
            background: Mutex::new(None),
        };
        if wal.shared.options.start_background {
            wal.start_background()?;
        }
        let recovery = Recovery {
            records_scanned: scan.records_scanned,
            segments_found: scan.segments_found,
            segments_discarded: opened.discarded,
            end: scan.end,
            elapsed: started.elapsed(),
            segments,
            tail,
        };
        Ok((wal, recovery))
    }

    /// Starts the background thread (the periodic flush, archiving,
    /// deleting idle kept files, shrinking an idle log) if it is not
    /// running, unless the log is closed: what [`Wal::open`] does unless
    /// [`WalOptions::start_background`] is false.
    ///
    /// Errors: the thread could not be created; the log then latches that
    /// error and refuses writes with it, as after a failed write.
    pub fn start_background(&self) -> Result<()> {
        let mut background = self.background.lock();
        // Under the handle's lock: a close sets `stop` before it takes the
        // handle, so it either joins the thread started here or this sees
        // `stop` and starts none.
        if background.is_some() || *self.shared.stop.lock() {
            return Ok(());
        }
        let shared = Arc::clone(&self.shared);
        let spawned = std::thread::Builder::new()
            .name("keel-wal-flush".into())
            .spawn(move || shared.background());
        match spawned {
            Ok(handle) => {
                *background = Some(handle);
                Ok(())
            }
            Err(error) => {
                // Without the thread nothing flushes periodic records: the
                // log latches the failure, so writes are refused with it
                // rather than left undurable.
                let error = Error::from(keel_io::Error::io(
                    keel_io::Op::Write,
                    &self.shared.dir,
                    error,
                ));
                tracing::error!(%error, "write-ahead log cannot start its background thread");
                self.shared
                    .commit
                    .lock()
                    .failed
                    .get_or_insert(error.clone());
                Err(error)
            }
        }
    }

    /// Appends a record and returns its lsn. Cheap: the record is framed
    /// into memory; with [`Durability::Sync`] the caller then waits with
    /// [`Wal::wait_durable`]. Waits (never fails) while the buffer is full.
    ///
    /// Errors: [`Error::RecordTooLarge`]; the original I/O error once the
    /// log has failed; [`Error::Closed`].
    pub fn append(&self, record: &dyn Encode, durability: Durability) -> Result<Lsn> {
        let payload_bytes = record.encoded_len();
        let limit = self.shared.options.record_bytes_max;
        if payload_bytes > limit {
            return Err(Error::RecordTooLarge {
                bytes: payload_bytes,
                limit,
            });
        }
        // A record of one fragment is encoded straight into the buffer
        // under the lock; a larger one is encoded first and cut up there.
        let payload = if payload_bytes > FRAGMENT_PAYLOAD_BYTES_MAX {
            let mut gathered = Gather::default();
            record.encode_gather(&mut gathered);
            Payload::Gathered(gathered.finish(), payload_bytes)
        } else {
            Payload::InPlace(record, payload_bytes)
        };
        let mut tail = self.shared.commit.lock();
        loop {
            if let Some(error) = &tail.failed {
                return Err(error.clone());
            }
            if tail.buffer.closed {
                return Err(Error::Closed);
            }
            let buffered = tail.buffer.chunk_bytes;
            if buffered == 0 || buffered + payload_bytes <= self.shared.options.buffer_bytes_max {
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
        self.shared.commit.appended(&tail);
        let added = self.shared.frame(&mut tail, lsn, &payload);
        drop(payload);
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
    pub fn commit(&self, record: &dyn Encode, durability: Durability) -> Result<Lsn> {
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
    /// archive directory, each segment is durably copied there first. Up to
    /// `WalOptions::recycled_segments_max` removed segments are kept (as
    /// `<segment>.free`) to become later segments.
    ///
    /// No [`Reader`](crate::Reader) may be reading the removed segments: a
    /// reused file gets new contents.
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
        let room = shared.pool.lock().room();
        let mut kept = Vec::new();
        for (path, _) in removable {
            if let Some(archive_dir) = &shared.options.archive_dir {
                let copy =
                    crate::archive::archive_segment(shared.vfs.as_ref(), &path, archive_dir)?;
                truncation.archived.push(copy);
            }
            // The archiving lock serialises keeping: only this truncation
            // adds to the pool, so the room counted above is still there.
            let free = if kept.len() < room {
                recycling::keep(shared.vfs.as_ref(), &path)?
            } else {
                None
            };
            match free {
                Some(free) => {
                    truncation.recycled.push(free.path.clone());
                    kept.push(free);
                }
                None => shared.vfs.remove(&path)?,
            }
            truncation.removed.push(path);
        }
        if !truncation.removed.is_empty() {
            shared.vfs.sync_dir(&shared.dir)?;
        }
        // Only once the free names are durable is a kept file changed or
        // handed to a new segment: before, a crash could bring back a
        // segment's name on a file that no longer holds that segment.
        for free in kept {
            let free = recycling::settle_kept(shared.vfs.as_ref(), free)?;
            shared.pool.lock().push(free);
        }
        Ok(truncation)
    }

    /// The lsn the next append gets.
    pub fn next_lsn(&self) -> Lsn {
        self.shared.commit.lock().next_lsn
    }

    /// Every record before this lsn is durable (as the last flush
    /// published it: read without the lock appenders take).
    pub fn durable_end(&self) -> Lsn {
        self.shared.commit.durable_end()
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
    /// later appends. A closed log keeps no preallocation beyond one segment
    /// of the floor size (`WalOptions::segment_bytes_min`): a larger open
    /// segment is sealed, cut after its seal and followed by an empty
    /// segment of that size, and the files kept for reuse are deleted.
    /// Returns the latched error if the log had failed.
    pub fn close(&self) -> Result<()> {
        self.stop_background();
        let result = self.sync().and_then(|()| self.shared.park());
        self.shared.commit.lock().buffer.closed = true;
        result
    }

    /// Gives the log's preallocated disk back: makes every record durable,
    /// seals the open segment and cuts it after its seal if it is larger
    /// than the floor size (`WalOptions::segment_bytes_min`), goes on in a
    /// new segment of the floor size, and deletes the files kept for reuse.
    /// The sealed segment goes at the next [`Wal::truncate_before`] past
    /// it. Appends wait meanwhile (an fsync or three); should they keep the
    /// log from catching up for 16 flushes, it keeps its segment. A
    /// failure latches the log, as a failed write does.
    pub fn shrink(&self) -> Result<()> {
        self.shared.settle_on_floor_segment(false, false)
    }

    /// Has the next record start a new segment if the open one holds more
    /// than [`ALLOCATION_STEP_BYTES`] of records. A checkpoint asks before
    /// it writes its marker: the truncation after it takes only whole
    /// segments, and without this the segment holding what the checkpoint
    /// folded (after a bulk load, up to a full 64 MiB) stayed on disk until
    /// it filled.
    pub fn rotate_if_large(&self) {
        let mut tail = self.shared.commit.lock();
        let segment = &tail.buffer.segment;
        if segment.creation.is_none()
            && segment.offset - SEGMENT_HEADER_BYTES > ALLOCATION_STEP_BYTES
        {
            tail.buffer.rotate_requested = true;
        }
    }

    /// As [`Wal::shrink`], and goes on in a new segment of the floor size
    /// whenever the open one holds a record, whatever its size. Before a
    /// checkpoint that leaves nothing to replay (the one a close takes),
    /// this puts the replay start at the start of a segment: truncation
    /// then removes every older one, and the next open reads no record
    /// from before the checkpoint (a reader reaches a place in a segment
    /// only by reading the segment from its start).
    pub fn start_new_segment(&self) -> Result<()> {
        self.shared.settle_on_floor_segment(false, true)
    }

    fn stop_background(&self) {
        *self.shared.stop.lock() = true;
        self.shared.stop_signal.notify_all();
        if let Some(handle) = self.background.lock().take() {
            let _ = handle.join();
        }
    }
}

/// What the background thread last saw of the appends, and since when.
struct IdleWatch {
    appends: u64,
    since: Instant,
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
    fn frame(&self, tail: &mut Tail, lsn: Lsn, payload: &Payload<'_>) -> usize {
        let durable_before = tail.durable_end;
        let pending = &mut tail.buffer;
        let payload_bytes = payload.len();
        let record_span: u64 = if payload_bytes <= FRAGMENT_PAYLOAD_BYTES_MAX {
            fragment_span(payload_bytes) as u64
        } else {
            let whole = payload_bytes / FRAGMENT_PAYLOAD_BYTES_MAX;
            let rest = payload_bytes % FRAGMENT_PAYLOAD_BYTES_MAX;
            whole as u64 * fragment_span(FRAGMENT_PAYLOAD_BYTES_MAX) as u64
                + if rest > 0 {
                    fragment_span(rest) as u64
                } else {
                    0
                }
        };
        self.place(pending, lsn, durable_before, record_span);
        let salt = pending.segment.salt;
        let fields = |kind| FragmentFields {
            salt,
            kind,
            lsn,
            durable_before,
        };
        let added = match payload {
            Payload::InPlace(record, bytes) => {
                let fields = fields(FragmentKind::Full);
                pending.append_fragment(|chunk| {
                    encode_fragment_with(chunk, fields, *bytes, |out| record.encode_into(out));
                })
            }
            Payload::Gathered(pieces, bytes) => {
                let windows = gather::windows(pieces, *bytes, FRAGMENT_PAYLOAD_BYTES_MAX);
                let last = windows.len() - 1;
                let mut added = 0;
                for (index, window) in windows.iter().enumerate() {
                    let kind = match (index == 0, index == last) {
                        (true, true) => FragmentKind::Full,
                        (true, false) => FragmentKind::First,
                        (false, false) => FragmentKind::Middle,
                        (false, true) => FragmentKind::Last,
                    };
                    added += pending.append_shared_fragment(fields(kind), window);
                }
                added
            }
        };
        assert_eq!(added as u64, record_span, "a record takes the span planned");
        added
    }

    /// Makes room for a record of `record_span` bytes: a record never spans
    /// segments, so every segment starts with a whole record and is named
    /// by it: one that does not fit starts a new segment, and one larger
    /// than a segment gets a segment of its own that grows past its
    /// preallocation.
    fn place(&self, pending: &mut Pending, lsn: Lsn, durable_before: Lsn, record_span: u64) {
        // A segment keeps room for its seal. One holding no record is never
        // left: a rotation asked for before it replaced the segment that
        // held records is done.
        if pending.segment.offset <= SEGMENT_HEADER_BYTES {
            pending.rotate_requested = false;
            return;
        }
        let fits = pending.segment.offset + record_span + SEAL_SPAN_BYTES as u64
            <= pending.segment.segment_bytes;
        if !pending.rotate_requested && fits {
            return;
        }
        pending.rotate_requested = false;
        let seal = encode_seal(pending.segment.salt, lsn, durable_before);
        let closing = &pending.segment;
        let mut segment_bytes = next_segment_bytes(
            &self.options,
            closing.segment_bytes,
            closing.offset - SEGMENT_HEADER_BYTES,
            closing.opened_at.elapsed(),
            !fits,
        );
        // A record larger than that gets a segment its size if the
        // ceiling allows (else one that grows past its preallocation).
        let record_bytes = SEGMENT_HEADER_BYTES + record_span + SEAL_SPAN_BYTES as u64;
        if record_bytes > segment_bytes {
            segment_bytes = record_bytes
                .next_multiple_of(4096)
                .min(self.options.segment_bytes)
                .max(segment_bytes);
        }
        let free = self.pool.lock().take(segment_bytes);
        let segment = NewSegment::plan(lsn, segment_bytes, free);
        pending.segment = OpenSegment {
            first_lsn: lsn,
            salt: segment.salt,
            segment_bytes,
            offset: SEGMENT_HEADER_BYTES,
            opened_at: Instant::now(),
            creation: Some(Creation {
                segment,
                seal_previous: Some((pending.segment.offset, seal)),
            }),
        };
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
        if !(sync && self.write_whole_blocks(&mut io, &chunks)?) {
            self.write_buffered(&mut io, chunks)?;
            if sync {
                self.sync_unsynced(&mut io)?;
            }
        }
        if sync {
            self.stats
                .records_per_fsync
                .record(end.0 - io.durable_end.0);
            io.durable_end = end;
        }
        Ok(())
    }

    /// Writes `chunks` through the OS cache, creating the segments they
    /// start, and notes the files written as unsynced.
    fn write_buffered(&self, io: &mut Io, chunks: Vec<Chunk>) -> Result<()> {
        for chunk in chunks {
            if let Some(creation) = &chunk.create {
                // The closing segment is synced before the next exists, so
                // a later segment implies every earlier one is complete: a
                // gap between segments can only be damage, never a crash.
                self.sync_unsynced(io)?;
                assert_eq!(creation.segment.first_lsn, chunk.segment_first);
                let handle = self.create_segment(&creation.segment)?;
                // Then the closing segment is sealed: a seal says the next
                // segment exists (synced by the flush that makes any of the
                // next segment's records durable).
                if let (Some((_, closing)), Some((offset, seal))) =
                    (io.current.take(), &creation.seal_previous)
                {
                    closing.write_all_at(seal, *offset)?;
                    io.unsynced.push(closing);
                }
                io.switch_to(chunk.segment_first, handle, creation.segment.segment_bytes);
            }
            let Some((first, handle)) = io.current.clone() else {
                unreachable!("the first chunk of a log creates its segment");
            };
            assert_eq!(first, chunk.segment_first, "chunks follow the segments");
            let end = chunk.offset + (chunk.len + TERMINATOR.len()) as u64;
            io.allocate_ahead(handle.as_ref(), end)?;
            let mut slices: Vec<&[u8]> = chunk.parts.iter().map(ChunkPart::bytes).collect();
            slices.push(&TERMINATOR);
            handle.write_vectored_at(&slices, chunk.offset)?;
            io.image.note(
                chunk.segment_first,
                chunk.offset,
                &slices[..slices.len() - 1],
            );
            if !io.unsynced.iter().any(|f| Arc::ptr_eq(f, &handle)) {
                io.unsynced.push(handle);
            }
        }
        Ok(())
    }

    /// Writes a synced flush as one durable write of whole blocks
    /// ([`TailImage`]) where it can: one chunk of the current segment,
    /// small, continuing the known tail block, with nothing else
    /// unsynced. Returns whether it did.
    fn write_whole_blocks(&self, io: &mut Io, chunks: &[Chunk]) -> Result<bool> {
        let [chunk] = chunks else {
            return Ok(false);
        };
        let current = match &io.current {
            Some((first, handle)) if *first == chunk.segment_first => Arc::clone(handle),
            _ => return Ok(false),
        };
        let fits = chunk.create.is_none()
            && io.unsynced.is_empty()
            && chunk.len <= WHOLE_BLOCK_BYTES_MAX
            && io.image.continues(chunk.segment_first, chunk.offset);
        if !fits {
            return Ok(false);
        }
        // A continued image is placed, so it has an end.
        let Some(padded_end) = io.image.padded_end(chunk.len + TERMINATOR.len()) else {
            return Ok(false);
        };
        io.allocate_ahead(current.as_ref(), padded_end)?;
        let slices: Vec<&[u8]> = chunk.parts.iter().map(ChunkPart::bytes).collect();
        io.image.write_durable(
            current.as_ref(),
            chunk.segment_first,
            chunk.offset,
            &slices,
            &TERMINATOR,
        )?;
        WalStats::add(&self.stats.fsyncs, 1);
        Ok(true)
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

    /// Creates (or recycles), preallocates and durably names a new segment.
    fn create_segment(&self, segment: &NewSegment) -> Result<FileHandle> {
        let handle = segment.create(self.vfs.as_ref(), &self.dir)?;
        count_creation(&self.stats, segment);
        Ok(handle)
    }

    /// At close: flushes what was appended since the caller's sync, then,
    /// if the open segment is larger than the floor size, starts an empty
    /// one of that size after it, seals the old one and cuts it after its
    /// seal; deletes the kept files. A failure latches the log.
    fn park(&self) -> Result<()> {
        self.settle_on_floor_segment(true, false)
    }

    /// Makes every record appended so far durable and, holding the tail
    /// (appends wait; with `closing`, they are refused for good), switches
    /// to a segment of the floor size (with `always`, even from a segment
    /// of that size that holds a record) and deletes the kept files.
    fn settle_on_floor_segment(&self, closing: bool, always: bool) -> Result<()> {
        let mut tail = self.commit.lock();
        if closing {
            tail.buffer.closed = true;
        }
        let mut rounds = 0;
        loop {
            if let Some(error) = &tail.failed {
                return Err(error.clone());
            }
            if tail.flushing {
                tail = self.commit.wait(tail);
            } else if tail.durable_end < tail.next_lsn || !tail.buffer.chunks.is_empty() {
                // Appends go on while a flush runs: an open log that never
                // catches up keeps its segment (shrinking is a courtesy; a
                // closing log refuses appends, so it always catches up).
                rounds += 1;
                if !closing && rounds > SHRINK_FLUSHES_MAX {
                    return Ok(());
                }
                tail = self.commit.lead(self, tail, true, Duration::ZERO);
            } else {
                break;
            }
        }
        // Everything is durable, nothing is buffered, no flush runs and
        // none can start (appends are refused, or wait for the tail we
        // hold): the segment can be switched.
        let result = self.switch_to_floor_segment(&mut tail, always);
        if let Err(error) = &result {
            tracing::error!(%error, "write-ahead log failed switching to a small segment");
            tail.failed.get_or_insert(error.clone());
        }
        drop(tail);
        result?;
        let _archiving = self.archiving.lock();
        let free = self.pool.lock().drain();
        recycling::delete(self.vfs.as_ref(), &self.dir, free)?;
        Ok(())
    }

    fn switch_to_floor_segment(&self, tail: &mut Tail, always: bool) -> Result<()> {
        let floor = self.options.segment_bytes_floor();
        let open = &tail.buffer.segment;
        let holds_records = open.first_lsn < tail.next_lsn;
        let small = open.segment_bytes <= floor && !(always && holds_records);
        if small || open.creation.is_some() {
            return Ok(());
        }
        let next_lsn = tail.next_lsn;
        let mut io = self.io.lock();
        let free = self.pool.lock().take(floor);
        let segment = NewSegment::plan(next_lsn, floor, free);
        // The open segment is synced (all of it is durable): the next may
        // exist. If it holds no record, the new one replaces it.
        let handle = self.create_segment(&segment)?;
        if let Some((first, closing)) = io.current.take()
            && first < next_lsn
        {
            let seal = encode_seal(open.salt, next_lsn, next_lsn);
            closing.write_all_at(&seal, open.offset)?;
            closing.sync_data()?;
            WalStats::add(&self.stats.fsyncs, 1);
            if trim_segment(closing.as_ref(), open.offset)? {
                closing.sync_data()?;
                WalStats::add(&self.stats.fsyncs, 1);
            }
        }
        io.switch_to(next_lsn, handle, floor);
        tail.buffer.segment = OpenSegment {
            first_lsn: next_lsn,
            salt: segment.salt,
            segment_bytes: floor,
            offset: SEGMENT_HEADER_BYTES,
            opened_at: Instant::now(),
            creation: None,
        };
        Ok(())
    }

    /// Deletes the kept files once none has been used for
    /// `WalOptions::recycled_idle_interval`.
    fn delete_idle_kept_files(&self) -> Result<()> {
        let _archiving = self.archiving.lock();
        let free = {
            let mut pool = self.pool.lock();
            if pool.len() == 0 || pool.idle_for() < self.options.recycled_idle_interval {
                return Ok(());
            }
            pool.drain()
        };
        recycling::delete(self.vfs.as_ref(), &self.dir, free)?;
        Ok(())
    }

    /// Cuts an idle log's large open segment back to the floor size (as
    /// [`Wal::shrink`]) once nothing was appended for
    /// `WalOptions::recycled_idle_interval`: a burst grows segments to
    /// `segment_bytes`, and without this the last one would hold its
    /// preallocation until it filled, at whatever rate came after.
    fn shrink_if_idle(&self, watch: &mut IdleWatch) -> Result<()> {
        let appends = WalStats::get(&self.stats.appends);
        if appends != watch.appends {
            *watch = IdleWatch {
                appends,
                since: Instant::now(),
            };
            return Ok(());
        }
        if watch.since.elapsed() < self.options.recycled_idle_interval {
            return Ok(());
        }
        let large = {
            let tail = self.commit.lock();
            tail.buffer.segment.segment_bytes > self.options.segment_bytes_floor()
        };
        if large {
            self.settle_on_floor_segment(false, false)?;
        }
        Ok(())
    }

    /// The background flush: `Periodic` records are synced every interval,
    /// `None` records written to the OS, an old segment closed, and an idle
    /// log's disk given back.
    fn background(&self) {
        let interval = self.options.periodic_interval;
        let mut idle = IdleWatch {
            appends: WalStats::get(&self.stats.appends),
            since: Instant::now(),
        };
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
            if let Err(error) = self.delete_idle_kept_files() {
                // Not latched: the files are deleted at close, or adopted
                // by the next open.
                tracing::warn!(%error, "deleting kept write-ahead log segments failed");
            }
            // A failure is latched in the tail (appenders see it).
            let _ = self.shrink_if_idle(&mut idle);
        }
    }
}

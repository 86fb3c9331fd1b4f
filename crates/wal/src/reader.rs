//! Reading the log in order, across segments, and telling how it ends: a
//! clean end, a torn tail (records that were never acknowledged as durable,
//! cut short by a crash), or corruption.
//!
//! A damaged or missing fragment in the last segment is a torn tail unless
//! a later valid fragment in that segment says, in its `durable_before`
//! field, that the damaged place had already been durable when it was
//! written: then it is corruption. A damaged place anywhere else is a torn
//! tail only if the next segment starts exactly where the damage is (the
//! rest of the segment was abandoned); otherwise records are missing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use keel_io::{FileHandle, OpenMode, Vfs};

use crate::error::{Damage, Error, Result};
use crate::fragment::{
    FRAGMENT_ALIGN_BYTES, FRAGMENT_HEADER_BYTES, FragmentHeader, FragmentKind, HeaderBytes,
    checksum_holds, decode_header, fragment_span,
};
use crate::lsn::Lsn;
use crate::options::RecoveryMode;
use crate::record::Record;
use crate::segment::{SEGMENT_HEADER_BYTES, SegmentHeader, ends_with_seal, list_segments};

/// Bytes read from a segment at a time, at most.
const READ_WINDOW_BYTES: usize = 1 << 20;
/// Bytes of a segment's first read after its header: together they are
/// its first [`crate::segment::FIRST_READ_BYTES`]. A log that ends a few
/// records in (every open after a clean close) is read without copying a
/// whole preallocated segment of zeros. Each further read doubles, up to
/// [`READ_WINDOW_BYTES`].
const FIRST_WINDOW_BYTES: usize =
    (crate::segment::FIRST_READ_BYTES - SEGMENT_HEADER_BYTES) as usize;

/// How the log ended, once the reader has returned its last record.
#[derive(Debug, Clone)]
pub enum ReadEnd {
    /// The log ends cleanly; the next record appended gets `next_lsn`.
    Clean {
        /// The lsn after the last record.
        next_lsn: Lsn,
    },
    /// The log ends in a torn record or torn space at `offset` of
    /// `segment`: a crash cut short records that were never durable.
    TornTail {
        /// The segment holding the torn place.
        segment: PathBuf,
        /// Where the intact log ends.
        offset: u64,
        /// The lsn after the last intact record.
        next_lsn: Lsn,
    },
    /// [`RecoveryMode::PointInTime`] only: the reader stopped at this
    /// corruption, as if the log ended there.
    Corrupted {
        /// The corruption, as it would have been reported.
        error: Error,
        /// The lsn after the last intact record.
        next_lsn: Lsn,
    },
}

impl ReadEnd {
    /// The lsn after the last intact record.
    pub fn next_lsn(&self) -> Lsn {
        match self {
            ReadEnd::Clean { next_lsn }
            | ReadEnd::TornTail { next_lsn, .. }
            | ReadEnd::Corrupted { next_lsn, .. } => *next_lsn,
        }
    }
}

/// Where the intact log ends, in segment terms (for truncation on open).
#[derive(Debug, Clone)]
pub(crate) struct EndPosition {
    /// Index into the segment list.
    pub segment_index: usize,
    /// Byte offset in that segment.
    pub offset: u64,
}

/// A segment file being read, through a window of its bytes.
struct SegmentFile {
    handle: FileHandle,
    size: u64,
    /// Its header, as checked when the file was opened.
    header: SegmentHeader,
    salt: u32,
    window: Vec<u8>,
    window_start: u64,
    /// The bytes the next read asks for (see [`FIRST_WINDOW_BYTES`]).
    window_bytes: usize,
    /// Point-in-time mode reads a segment shorter than its preallocation
    /// up to where it ends, then stops with this corruption.
    short: Option<Error>,
}

impl SegmentFile {
    /// `len` bytes at `offset`, or `None` if the file ends first.
    fn bytes(&mut self, offset: u64, len: usize) -> Result<Option<&[u8]>> {
        if offset + len as u64 > self.size {
            return Ok(None);
        }
        let window_end = self.window_start + self.window.len() as u64;
        if offset < self.window_start || offset + len as u64 > window_end {
            let want = len.max(self.window_bytes) as u64;
            self.window_bytes = (self.window_bytes * 2).min(READ_WINDOW_BYTES);
            let read = want.min(self.size - offset) as usize;
            self.window.resize(read, 0);
            self.handle.read_exact_at(&mut self.window, offset)?;
            self.window_start = offset;
        }
        let start = (offset - self.window_start) as usize;
        Ok(Some(&self.window[start..start + len]))
    }

    /// The fragment at `offset`, its checksum verified (not its order).
    fn fragment_at(&mut self, offset: u64) -> Result<FragmentAt<'_>> {
        let Some(bytes) = self.bytes(offset, FRAGMENT_HEADER_BYTES)? else {
            return Ok(FragmentAt::End);
        };
        let mut header_bytes = [0u8; FRAGMENT_HEADER_BYTES];
        header_bytes.copy_from_slice(bytes);
        let header = match decode_header(&header_bytes) {
            HeaderBytes::Zero => return Ok(FragmentAt::Zero),
            HeaderBytes::Invalid => return Ok(FragmentAt::Damaged),
            HeaderBytes::Header(header) => header,
        };
        let salt = self.salt;
        let payload_offset = offset + FRAGMENT_HEADER_BYTES as u64;
        let Some(payload) = self.bytes(payload_offset, header.payload_bytes)? else {
            return Ok(FragmentAt::Damaged);
        };
        if !checksum_holds(salt, &header_bytes, header.checksum, payload) {
            return Ok(FragmentAt::Damaged);
        }
        Ok(FragmentAt::Valid(header, payload))
    }
}

/// What lies at one place of a segment.
enum FragmentAt<'a> {
    /// The file ends before a whole header.
    End,
    /// Zeroed (unwritten) space.
    Zero,
    /// Not a valid fragment.
    Damaged,
    /// A fragment whose checksum holds, and its payload.
    Valid(FragmentHeader, &'a [u8]),
}

enum Fragment {
    Valid(FragmentHeader, Vec<u8>),
    /// The segment's seal: the log goes on at this lsn in the next one.
    Seal(Lsn),
    /// Zeroed space or the end of the file: no more data here.
    NoData,
    /// Something that is not a valid fragment.
    Damaged,
}

/// What one step of the reader produced.
enum Step {
    /// Consumed a fragment or moved on; nothing to return yet.
    Continue,
    /// The iterator's next item (`None`: the end).
    Done(Option<Result<(Lsn, Record)>>),
}

/// A record being reassembled from fragments.
struct Partial {
    lsn: Lsn,
    segment_index: usize,
    offset: u64,
    payload: Vec<u8>,
}

/// Reads records in lsn order from a log directory.
///
/// ```
/// use keel_io::SimVfs;
/// use keel_wal::{Durability, Lsn, Reader, Record, RecoveryMode, Wal, WalOptions};
/// use std::{path::Path, sync::Arc};
///
/// let vfs = Arc::new(SimVfs::new(1));
/// let (wal, _) = Wal::open(vfs.clone(), Path::new("/wal"), WalOptions::default())?;
/// let record = Record::AbortPrepared { transaction_id: 9 };
/// let lsn = wal.append(&record, Durability::Sync)?;
/// wal.wait_durable(lsn)?;
/// let mut reader = Reader::open(vfs, Path::new("/wal"), Lsn::FIRST, RecoveryMode::Strict)?;
/// assert_eq!(reader.next().transpose()?, Some((lsn, record)));
/// assert_eq!(reader.next().transpose()?, None);
/// assert_eq!(reader.end().map(|end| end.next_lsn()), Some(lsn.next()));
/// # Ok::<(), keel_wal::Error>(())
/// ```
pub struct Reader {
    vfs: Arc<dyn Vfs>,
    dir: PathBuf,
    segments: Vec<(Lsn, PathBuf)>,
    segment_index: usize,
    file: Option<SegmentFile>,
    offset: u64,
    /// The lsn of the next record to start.
    expected: Lsn,
    /// Records before this are read but not returned.
    from: Lsn,
    /// The record being assembled; it always has lsn `expected`.
    partial: Option<Partial>,
    mode: RecoveryMode,
    record_bytes_max: usize,
    end: Option<ReadEnd>,
    end_position: Option<EndPosition>,
    /// Every record before this was durable (the caller knows it, e.g. from
    /// a checkpoint): a log that ends earlier is damage, not a crash.
    durable_end_min: Lsn,
    /// Reading an archive: a seal whose next segment is not there (still
    /// in the live log) ends the read cleanly.
    archive: bool,
    failed: bool,
    /// A segment's file the caller opened already (by first lsn), used
    /// instead of opening it again.
    opened: Option<(Lsn, FileHandle)>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("segment_index", &self.segment_index)
            .field("offset", &self.offset)
            .field("expected", &self.expected)
            .field("end", &self.end)
            .finish()
    }
}

impl Reader {
    /// A reader of the records with lsn `from` and later in `dir`;
    /// `Lsn::ZERO` reads from the oldest record still there.
    ///
    /// Errors: [`Error::Truncated`] if `from` is older than every record
    /// left; [`Error::Corruption`] for a damaged first segment header.
    pub fn open(vfs: Arc<dyn Vfs>, dir: &Path, from: Lsn, mode: RecoveryMode) -> Result<Reader> {
        Self::open_with_limit(
            vfs,
            dir,
            from,
            mode,
            crate::options::RECORD_BYTES_MAX_DEFAULT,
        )
    }

    /// [`Reader::open`] over the segments of `dir` a listing found (by
    /// first lsn, as [`crate::Recovery::segments`] gives them after an
    /// open of the log), instead of listing the directory again.
    ///
    /// # Errors
    /// As [`Reader::open`].
    pub fn open_segments(
        vfs: Arc<dyn Vfs>,
        dir: &Path,
        segments: Vec<(Lsn, PathBuf)>,
        from: Lsn,
        mode: RecoveryMode,
    ) -> Result<Reader> {
        Self::open_segments_with(vfs, dir, segments, from, mode, None)
    }

    /// [`Reader::open_segments`] with the file of one of the segments
    /// (named by its first lsn) opened already, such as
    /// [`crate::Recovery::tail`]: one open of it fewer.
    ///
    /// # Errors
    /// As [`Reader::open`].
    pub fn open_segments_with(
        vfs: Arc<dyn Vfs>,
        dir: &Path,
        segments: Vec<(Lsn, PathBuf)>,
        from: Lsn,
        mode: RecoveryMode,
        opened: Option<(Lsn, FileHandle)>,
    ) -> Result<Reader> {
        Self::open_listed(
            vfs,
            dir,
            segments,
            from,
            mode,
            crate::options::RECORD_BYTES_MAX_DEFAULT,
            opened,
        )
    }

    pub(crate) fn open_with_limit(
        vfs: Arc<dyn Vfs>,
        dir: &Path,
        from: Lsn,
        mode: RecoveryMode,
        record_bytes_max: usize,
    ) -> Result<Reader> {
        let segments = list_segments(vfs.as_ref(), dir)?;
        Self::open_listed(vfs, dir, segments, from, mode, record_bytes_max, None)
    }

    pub(crate) fn open_listed(
        vfs: Arc<dyn Vfs>,
        dir: &Path,
        segments: Vec<(Lsn, PathBuf)>,
        from: Lsn,
        mode: RecoveryMode,
        record_bytes_max: usize,
        opened: Option<(Lsn, FileHandle)>,
    ) -> Result<Reader> {
        let mut reader = Reader {
            vfs,
            dir: dir.to_path_buf(),
            segment_index: 0,
            file: None,
            offset: SEGMENT_HEADER_BYTES,
            expected: from.max(Lsn::FIRST),
            from,
            partial: None,
            mode,
            record_bytes_max,
            end: None,
            end_position: None,
            durable_end_min: Lsn::ZERO,
            archive: false,
            failed: false,
            segments,
            opened,
        };
        // An empty log ends at once (the first step finds no data).
        let Some(&(first_available, _)) = reader.segments.first() else {
            return Ok(reader);
        };
        if from > Lsn::ZERO && from < first_available {
            return Err(Error::Truncated {
                requested: from,
                first_available,
            });
        }
        // Records never span segments, so the last segment starting at or
        // before `from` holds it, starting with a whole record.
        let index = reader
            .segments
            .iter()
            .rposition(|(first, _)| *first <= from)
            .unwrap_or(0);
        reader.expected = reader.segments[index].0;
        match reader.open_segment(index) {
            Ok(()) => {}
            Err(error @ Error::Corruption { .. }) if mode == RecoveryMode::PointInTime => {
                // Nothing of this segment can be read: the log ends where
                // it would have started.
                reader.segment_index = index;
                reader.offset = 0;
                let _ = reader.stop_at_corruption(error);
            }
            Err(error) => return Err(error),
        }
        Ok(reader)
    }

    /// Declares that every record before `lsn` was durable (a checkpoint
    /// recorded it): a log ending before `lsn` — shortened, or missing
    /// segments — is then corruption, not a torn tail.
    pub fn expect_durable_end(mut self, lsn: Lsn) -> Reader {
        self.durable_end_min = lsn;
        self
    }

    /// Reads an archive directory (`WalOptions::archive_dir`): copies of
    /// the log's closed segments, the last of which is sealed towards a
    /// segment still in the live log. Such a seal ends the read cleanly
    /// instead of being a missing segment.
    pub fn of_archive(mut self) -> Reader {
        self.archive = true;
        self
    }

    /// How the log ended; `None` until the reader has returned its last
    /// record (or an error).
    pub fn end(&self) -> Option<&ReadEnd> {
        self.end.as_ref()
    }

    pub(crate) fn end_position(&self) -> Option<&EndPosition> {
        self.end_position.as_ref()
    }

    pub(crate) fn segments(&self) -> &[(Lsn, PathBuf)] {
        &self.segments
    }

    fn open_segment(&mut self, index: usize) -> Result<()> {
        self.file = Some(self.load_segment(index)?);
        self.segment_index = index;
        self.offset = SEGMENT_HEADER_BYTES;
        Ok(())
    }

    /// Segment `index`, its header checked against its name and its size
    /// against its preallocation.
    fn load_segment(&self, index: usize) -> Result<SegmentFile> {
        let (named, path) = self.segments[index].clone();
        let handle = match &self.opened {
            Some((first_lsn, handle)) if *first_lsn == named => handle.clone(),
            _ => self.vfs.open(&path, OpenMode::Existing)?,
        };
        let size = handle.size()?;
        let mut header = vec![0u8; SEGMENT_HEADER_BYTES.min(size) as usize];
        handle.read_exact_at(&mut header, 0)?;
        let corruption = |damage| Error::Corruption {
            segment: path.clone(),
            offset: 0,
            expected_lsn: named,
            damage,
        };
        let header = SegmentHeader::decode(&header)
            .map_err(|problem| corruption(Damage::SegmentHeader(problem)))?;
        if header.first_lsn != named {
            return Err(corruption(Damage::MisnamedSegment {
                named,
                found: header.first_lsn,
            }));
        }
        // Segments are preallocated before they are named and shrink only
        // to end right after their seal (trimmed): a shorter one lost its
        // end to something other than a crash.
        let trimmed = size < header.segment_bytes
            && header.may_be_trimmed()
            && ends_with_seal(handle.as_ref(), size, header.salt)?;
        let short = (size < header.segment_bytes && !trimmed).then(|| Error::Corruption {
            segment: path.clone(),
            offset: size,
            expected_lsn: named,
            damage: Damage::ShortSegment {
                size,
                preallocated: header.segment_bytes,
            },
        });
        if let Some(error) = short.clone()
            && self.mode == RecoveryMode::Strict
        {
            return Err(error);
        }
        Ok(SegmentFile {
            handle,
            size,
            header,
            salt: header.salt,
            window: Vec::new(),
            window_start: 0,
            window_bytes: FIRST_WINDOW_BYTES,
            short,
        })
    }

    /// The handle of segment `index` (of [`Reader::segments`]), if the
    /// reader has it open.
    pub(crate) fn open_handle(&self, index: usize) -> Option<FileHandle> {
        if self.segment_index != index {
            return None;
        }
        self.file.as_ref().map(|file| file.handle.clone())
    }

    /// The header of segment `index`, as checked when the reader opened
    /// it, if the reader has it open.
    pub(crate) fn open_header(&self, index: usize) -> Option<SegmentHeader> {
        if self.segment_index != index {
            return None;
        }
        self.file.as_ref().map(|file| file.header)
    }

    /// Reads the fragment at the current offset, checking its checksum and
    /// that it is the one expected next.
    fn read_fragment(&mut self) -> Result<Fragment> {
        let Some(file) = self.file.as_mut() else {
            return Ok(Fragment::NoData);
        };
        let (header, payload) = match file.fragment_at(self.offset)? {
            FragmentAt::End | FragmentAt::Zero => return Ok(Fragment::NoData),
            FragmentAt::Damaged => return Ok(Fragment::Damaged),
            FragmentAt::Valid(header, payload) => (header, payload.to_vec()),
        };
        if header.kind == FragmentKind::Seal {
            let in_order = header.lsn == self.expected && self.partial.is_none();
            return Ok(if in_order {
                Fragment::Seal(header.lsn)
            } else {
                Fragment::Damaged
            });
        }
        // The record being assembled continues, or the next one starts.
        let in_order =
            header.lsn == self.expected && header.kind.starts_record() == self.partial.is_none();
        if !in_order {
            return Ok(Fragment::Damaged);
        }
        Ok(Fragment::Valid(header, payload))
    }

    /// Where the intact log ends: the start of a partial record, or here.
    fn intact_end(&self) -> EndPosition {
        match &self.partial {
            Some(partial) => EndPosition {
                segment_index: partial.segment_index,
                offset: partial.offset,
            },
            None => EndPosition {
                segment_index: self.segment_index,
                offset: self.offset,
            },
        }
    }

    /// The segment being read, or the directory of an empty log.
    fn current_path(&self) -> PathBuf {
        self.segments
            .get(self.segment_index)
            .map_or_else(|| self.dir.clone(), |(_, path)| path.clone())
    }

    fn corruption(&self, damage: Damage) -> Error {
        Error::Corruption {
            segment: self.current_path(),
            offset: self.offset,
            expected_lsn: self.expected,
            damage,
        }
    }

    /// Finishes with a corruption: an error, or in point-in-time mode, an
    /// end at the last intact record.
    fn stop_at_corruption(&mut self, error: Error) -> Option<Result<(Lsn, Record)>> {
        match self.mode {
            RecoveryMode::Strict => {
                self.failed = true;
                Some(Err(error))
            }
            RecoveryMode::PointInTime => {
                self.end_position = Some(self.intact_end());
                self.end = Some(ReadEnd::Corrupted {
                    error,
                    next_lsn: self.expected,
                });
                self.partial = None;
                None
            }
        }
    }

    /// Looks past a damaged place in the last segment for a valid fragment
    /// proving the damaged place was durable.
    fn durable_evidence_after(&mut self) -> Result<Option<Lsn>> {
        let awaited = self.expected;
        let Some(file) = self.file.as_mut() else {
            return Ok(None);
        };
        let mut offset = self.offset + FRAGMENT_ALIGN_BYTES as u64;
        loop {
            match file.fragment_at(offset)? {
                FragmentAt::End => break,
                FragmentAt::Valid(header, _) if header.durable_before > awaited => {
                    return Ok(Some(header.lsn));
                }
                FragmentAt::Zero | FragmentAt::Damaged | FragmentAt::Valid(..) => {}
            }
            offset += FRAGMENT_ALIGN_BYTES as u64;
        }
        Ok(None)
    }

    /// At the segment's seal: the next segment must exist (the seal was
    /// written after it was created) and start at `next`.
    fn at_seal(&mut self, next: Lsn) -> Result<Step> {
        if self.segments.get(self.segment_index + 1).is_none() && !self.archive {
            let error = self.corruption(Damage::MissingSegment { next });
            return Ok(Step::Done(self.stop_at_corruption(error)));
        }
        self.at_boundary(false)
    }

    /// At a place with no (valid) fragment: move to the next segment, end,
    /// or report corruption.
    fn at_boundary(&mut self, damaged: bool) -> Result<Step> {
        if let Some(error) = self.file.as_mut().and_then(|file| file.short.take()) {
            // Point-in-time: the records before the cut are read; the
            // cut is where the log ends.
            return Ok(Step::Done(self.stop_at_corruption(error)));
        }
        if let Some(&(next_first, _)) = self.segments.get(self.segment_index + 1) {
            if next_first != self.expected {
                let error = self.corruption(Damage::Gap { found: next_first });
                return Ok(Step::Done(self.stop_at_corruption(error)));
            }
            let next = match self.load_segment(self.segment_index + 1) {
                Ok(next) => next,
                Err(error @ Error::Corruption { .. }) => {
                    return Ok(Step::Done(self.stop_at_corruption(error)));
                }
                Err(error) => return Err(error),
            };
            // The rest of this segment was abandoned; so is a record cut
            // short in it, since records never span segments.
            self.partial = None;
            self.file = Some(next);
            self.segment_index += 1;
            self.offset = SEGMENT_HEADER_BYTES;
            return Ok(Step::Continue);
        }
        if damaged && let Some(found) = self.durable_evidence_after()? {
            let error = self.corruption(Damage::DamagedDurableRecord { found });
            return Ok(Step::Done(self.stop_at_corruption(error)));
        }
        if self.expected < self.durable_end_min {
            let damage = Damage::EndsBeforeDurable {
                durable_end: self.durable_end_min,
            };
            let error = self.corruption(damage);
            return Ok(Step::Done(self.stop_at_corruption(error)));
        }
        let position = self.intact_end();
        let torn = damaged || self.partial.is_some();
        self.end = Some(if torn {
            ReadEnd::TornTail {
                segment: self.segments[position.segment_index].1.clone(),
                offset: position.offset,
                next_lsn: self.expected,
            }
        } else {
            ReadEnd::Clean {
                next_lsn: self.expected,
            }
        });
        self.end_position = Some(position);
        self.partial = None;
        Ok(Step::Done(None))
    }

    fn step(&mut self) -> Result<Step> {
        let (header, payload) = match self.read_fragment()? {
            Fragment::Valid(header, payload) => (header, payload),
            Fragment::NoData => return self.at_boundary(false),
            Fragment::Damaged => return self.at_boundary(true),
            Fragment::Seal(next) => return self.at_seal(next),
        };
        let fragment_offset = self.offset;
        self.offset += fragment_span(header.payload_bytes) as u64;
        if header.kind.starts_record() {
            self.partial = Some(Partial {
                lsn: header.lsn,
                segment_index: self.segment_index,
                offset: fragment_offset,
                payload: Vec::new(),
            });
        }
        let Some(partial) = self.partial.as_mut() else {
            return Ok(Step::Continue);
        };
        if partial.payload.len() + payload.len() > self.record_bytes_max {
            let limit = self.record_bytes_max;
            let error = self.corruption(Damage::RecordTooLarge { limit });
            return Ok(Step::Done(self.stop_at_corruption(error)));
        }
        if partial.payload.is_empty() {
            partial.payload = payload;
        } else {
            partial.payload.extend_from_slice(&payload);
        }
        if !header.kind.ends_record() {
            return Ok(Step::Continue);
        }
        let Some(partial) = self.partial.take() else {
            return Ok(Step::Continue);
        };
        self.expected = partial.lsn.next();
        if partial.lsn < self.from {
            return Ok(Step::Continue);
        }
        let record = match Record::decode(Bytes::from(partial.payload)) {
            Ok(record) => record,
            Err(source) => {
                let error = Error::MalformedRecord {
                    segment: self.segments[self.segment_index].1.clone(),
                    lsn: partial.lsn,
                    source,
                };
                return Ok(Step::Done(self.stop_at_corruption(error)));
            }
        };
        Ok(Step::Done(Some(Ok((partial.lsn, record)))))
    }
}

impl Iterator for Reader {
    type Item = Result<(Lsn, Record)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.end.is_some() || self.failed {
            return None;
        }
        // Every step consumes a fragment or moves to a later segment, so
        // this ends.
        loop {
            match self.step() {
                Ok(Step::Continue) => continue,
                Ok(Step::Done(item)) => return item,
                Err(error) => {
                    self.failed = true;
                    return Some(Err(error));
                }
            }
        }
    }
}

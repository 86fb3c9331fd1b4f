//! Opening the log: finding where it ends (and whether that end is a
//! crash or damage), then readying it for appends — setting damage aside
//! in point-in-time mode, syncing what a killed process left in the page
//! cache, and going on at the end of a cleanly ended log or else creating
//! the segment appends go to (floor-sized, in a kept file if there is one)
//! and sealing the one before and cutting it after its seal.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use keel_io::{FileHandle, OpenMode, Vfs};

use crate::error::{Damage, Error, Result};
use crate::fragment::encode_seal;
use crate::lsn::Lsn;
use crate::options::WalOptions;
use crate::reader::{EndPosition, ReadEnd, Reader};
use crate::recycling::{NewSegment, Pool};
use crate::segment::{
    Listing, SEGMENT_FORMAT_VERSION, SEGMENT_HEADER_BYTES, SegmentHeader, open_creating,
    read_header, remove_listed_creating, trim_segment,
};

/// What opening the log found and did.
#[derive(Debug, Clone)]
pub struct Recovery {
    /// Records read to find the end of the log.
    pub records_scanned: u64,
    /// How the log ended.
    pub end: ReadEnd,
    /// Segment files found.
    pub segments_found: usize,
    /// Segment files removed or set aside (a header never written, pieces of
    /// a torn record, or damage skipped in point-in-time mode).
    pub segments_discarded: usize,
    /// How long it took.
    pub elapsed: Duration,
    /// The segments after the open, by first lsn: a reader of the log can
    /// start from them ([`crate::Reader::open_segments`]) instead of
    /// listing the directory again.
    pub segments: Vec<(Lsn, PathBuf)>,
    /// The segment appends go to (its first lsn) and its file, which a
    /// reader of the log can use instead of opening it again
    /// ([`crate::Reader::open_segments_with`]).
    pub tail: (Lsn, FileHandle),
}

/// Where the log ends, as [`find_end`] read it.
pub(crate) struct Scan {
    /// The reader, at the end (its segments and end position).
    pub(crate) reader: Reader,
    /// How the log ends.
    pub(crate) end: ReadEnd,
    /// Records read.
    pub(crate) records_scanned: u64,
    /// Segment files found.
    pub(crate) segments_found: usize,
    /// Leftovers of segment creations removed.
    pub(crate) creations_removed: usize,
}

/// Reads the last segment to its end (records never span segments, so the
/// end is there), refusing in Strict mode an end before
/// `options.durable_end_min`, a shortened segment or a missing one.
pub(crate) fn find_end(
    vfs: &Arc<dyn Vfs>,
    dir: &Path,
    options: &WalOptions,
    listing: &mut Listing,
    last_segment: Option<FileHandle>,
) -> Result<Scan> {
    // A segment whose creation a crash cut short held nothing.
    let creations_removed = remove_listed_creating(vfs.as_ref(), dir, listing)?;
    let segments = listing.segments.clone();
    let start = segments.last().map_or(Lsn::ZERO, |(first, _)| *first);
    let segments_found = segments.len();
    let opened = last_segment.map(|handle| (start, handle));
    let mut reader = Reader::open_listed(
        vfs.clone(),
        dir,
        segments,
        start,
        options.recovery_mode,
        options.record_bytes_max,
        opened,
    )?
    .expect_durable_end(options.durable_end_min);
    let mut records_scanned = 0;
    for item in reader.by_ref() {
        item?;
        records_scanned += 1;
    }
    let end = reader.end().cloned().unwrap_or(ReadEnd::Clean {
        next_lsn: Lsn::FIRST,
    });
    Ok(Scan {
        reader,
        end,
        records_scanned,
        segments_found,
        creations_removed,
    })
}

/// The segment appends go to after open.
pub(crate) struct Opened {
    /// Its file.
    pub(crate) handle: FileHandle,
    /// Its first lsn.
    pub(crate) first_lsn: Lsn,
    /// The size it is preallocated to.
    pub(crate) segment_bytes: u64,
    /// The seed of its fragment checksums.
    pub(crate) salt: u32,
    /// Where the next fragment goes.
    pub(crate) offset: u64,
    /// Created by this open (`None`: the segment the log ended in, which
    /// appends go on in).
    pub(crate) created: Option<NewSegment>,
    /// Files removed or set aside.
    pub(crate) discarded: usize,
}

/// Readies the log for appends after [`find_end`]. A log that ended
/// cleanly goes on in the segment it ended in (see [`continue_clean`]).
/// Otherwise the segment appends go to is created at the floor size (in a
/// kept file from `pool` if there is one), and the segment the log ended
/// in is sealed and trimmed.
pub(crate) fn prepare_appends(
    vfs: &dyn Vfs,
    dir: &Path,
    options: &WalOptions,
    scan: &Scan,
    pool: &mut Pool,
) -> Result<Opened> {
    let next_lsn = scan.end.next_lsn();
    let reader = &scan.reader;
    let mut discarded = scan.creations_removed;
    if let (ReadEnd::Corrupted { .. }, Some(position)) = (&scan.end, reader.end_position()) {
        discarded += set_aside_after(vfs, reader.segments(), position)?;
    }
    // A killed process may have left records in the page cache only: make
    // them durable before anything is built on them (and before a later
    // segment exists, which says every earlier one is whole). A torn tail
    // stays as it is: the reader stops there, and the new segment starts
    // at the record it awaited.
    if !options.known_durable {
        for (first, path) in reader.segments() {
            if *first < next_lsn {
                vfs.open(path, OpenMode::Existing)?.sync_data()?;
            }
        }
    }
    if let Some(opened) = continue_clean(vfs, scan, discarded)? {
        return Ok(opened);
    }
    // The segment appends go to exists from now on, so the log on disk
    // always names its next lsn (a segment holding no intact record is
    // replaced by it). Nothing is known of the write rate yet: it starts
    // small.
    let segment_bytes = options.segment_bytes_floor();
    let segment = NewSegment::plan(next_lsn, segment_bytes, pool.take(segment_bytes));
    let handle = segment.create(vfs, dir)?;
    // The segment the log ended in is sealed now that the next exists (a
    // seal without its next segment is damage), then cut after its seal.
    if let Some(position) = reader.end_position()
        && let Some((first, path)) = reader.segments().get(position.segment_index)
        && *first < next_lsn
        && position.offset > SEGMENT_HEADER_BYTES
        && vfs.exists(path)?
    {
        seal_segment(vfs, path, position.offset, next_lsn)?;
    }
    Ok(Opened {
        handle,
        first_lsn: next_lsn,
        segment_bytes,
        salt: segment.salt,
        offset: SEGMENT_HEADER_BYTES,
        created: Some(segment),
        discarded,
    })
}

/// The segment a cleanly ended log ended in, for appends to go on at its
/// end — what the process that wrote it would have done next. After a
/// clean end the bytes there are the zeroed terminator every write leaves
/// behind it, so the disk is as a running log leaves it between two
/// flushes, and a crash from here on is one a running log survives. A
/// torn or damaged end never continues: bytes past it may hold pieces of
/// records never made durable. `None` when there is no such segment (an
/// empty log), or it is of an older format version (a new segment of the
/// current one takes over).
fn continue_clean(vfs: &dyn Vfs, scan: &Scan, discarded: usize) -> Result<Option<Opened>> {
    let reader = &scan.reader;
    let (ReadEnd::Clean { next_lsn }, Some(position)) = (&scan.end, reader.end_position()) else {
        return Ok(None);
    };
    let segments = reader.segments();
    if position.segment_index + 1 != segments.len() {
        return Ok(None);
    }
    let (first_lsn, path) = &segments[position.segment_index];
    // The reader ended in it: its handle is open already.
    let handle = match reader.open_handle(position.segment_index) {
        Some(handle) => handle,
        None => vfs.open(path, OpenMode::Existing)?,
    };
    // As the reader checked it when it opened the file, else read.
    let header = match reader.open_header(position.segment_index) {
        Some(header) => header,
        None => match read_header(handle.as_ref())? {
            Ok(header) => header,
            Err(_) => return Ok(None),
        },
    };
    if header.format_version != SEGMENT_FORMAT_VERSION || header.first_lsn != *first_lsn {
        return Ok(None);
    }
    debug_assert!(*first_lsn <= *next_lsn);
    Ok(Some(Opened {
        handle,
        first_lsn: *first_lsn,
        segment_bytes: header.segment_bytes,
        salt: header.salt,
        offset: position.offset,
        created: None,
        discarded,
    }))
}

/// Point-in-time recovery stopped at damage at `position`: sets the log
/// from there on aside, never deleting it. Every later segment is renamed
/// to `*.wal.discarded`; the damaged one too, after its intact part is
/// copied into a new segment of its name (created whole, then renamed in).
/// Returns the segments set aside.
fn set_aside_after(
    vfs: &dyn Vfs,
    segments: &[(Lsn, PathBuf)],
    position: &EndPosition,
) -> Result<usize> {
    let Some((_, damaged)) = segments.get(position.segment_index) else {
        return Ok(0);
    };
    let Some(dir) = damaged.parent() else {
        return Ok(0);
    };
    for (_, later) in segments[position.segment_index..].iter().rev() {
        vfs.rename(later, &discarded_name(later))?;
    }
    if position.offset > SEGMENT_HEADER_BYTES {
        let source = vfs.open(&discarded_name(damaged), OpenMode::Existing)?;
        let (copy, creating) = open_creating(vfs, damaged)?;
        // Preallocated as the original was, even if its end was cut.
        let mut header = [0u8; SEGMENT_HEADER_BYTES as usize];
        source.read_exact_at(&mut header, 0)?;
        let preallocated = SegmentHeader::decode(&header).map_or(0, |header| header.segment_bytes);
        copy.allocate(0, source.size()?.max(preallocated))?;
        keel_io::copy_prefix(source.as_ref(), copy.as_ref(), position.offset)?;
        copy.sync_data()?;
        vfs.rename(&creating, damaged)?;
    }
    vfs.sync_dir(dir)?;
    Ok(segments.len() - position.segment_index)
}

/// Writes and syncs the seal of the segment at `path` at `offset` (the log
/// goes on at `next_lsn` in the next segment), then, if its format allows,
/// cuts it right after the seal: nothing after a seal is part of the log,
/// and the unused preallocation goes back.
fn seal_segment(vfs: &dyn Vfs, path: &Path, offset: u64, next_lsn: Lsn) -> Result<()> {
    let file = vfs.open(path, OpenMode::Existing)?;
    let header = read_header(file.as_ref())?.map_err(|problem| Error::Corruption {
        segment: path.to_path_buf(),
        offset: 0,
        expected_lsn: next_lsn,
        damage: Damage::SegmentHeader(problem),
    })?;
    let seal = encode_seal(header.salt, next_lsn, next_lsn);
    file.write_all_at(&seal, offset)?;
    file.sync_data()?;
    if header.may_be_trimmed() && trim_segment(file.as_ref(), offset)? {
        file.sync_data()?;
    }
    Ok(())
}

fn discarded_name(path: &Path) -> PathBuf {
    let mut aside = path.as_os_str().to_owned();
    aside.push(".discarded");
    PathBuf::from(aside)
}

//! Segment files: `wal/<first lsn, 20 digits>.wal`, preallocated to their
//! size, starting with a one-sector header.
//!
//! ```text
//! offset size field (format version 2; version 1 ends at byte 28 and
//!                    derives the salt from the first lsn)
//!      0    4 magic "KWAL"
//!      4    2 format version: u16, 2
//!      6    2 reserved: u16, 0
//!      8    8 first_lsn: the lsn of the segment's first fragment
//!     16    8 segment_bytes: the preallocated size
//!     24    4 CRC32C of bytes 0..24 (where version 1 has its checksum, so
//!             that a version-1 reader reports the version, not damage)
//!     28    4 salt: the seed of every fragment checksum in the segment
//!     32    4 CRC32C of bytes 0..32
//!     36  476 zero
//!    512      fragments, each at a multiple of 8
//! ```
//!
//! A segment file may have held an earlier segment (it was recycled): its
//! salt then differs from every salt the file had before, so no fragment
//! left from an earlier life has a checksum that holds (see
//! [`recycle_segment`]).

use std::path::{Path, PathBuf};

use keel_io::Vfs;

use crate::fragment::{
    FRAGMENT_HEADER_BYTES, FragmentKind, HeaderBytes, SEAL_SPAN_BYTES, checksum_holds,
    decode_header, segment_salt,
};
use crate::lsn::Lsn;

/// The magic at the start of every segment.
pub const SEGMENT_MAGIC: [u8; 4] = *b"KWAL";
/// The segment format version this code writes.
pub const SEGMENT_FORMAT_VERSION: u16 = 2;
/// The oldest segment format version this code reads: version 1 segments
/// (no salt field, never recycled or trimmed) are read as they are.
pub const SEGMENT_FORMAT_VERSION_MIN: u16 = 1;
/// Bytes of the segment header: one sector, so that it is written whole.
pub const SEGMENT_HEADER_BYTES: u64 = 512;

/// The bytes of a segment a reader reads first: its header, then a first
/// window of records. Small, because that read is on a cold open's path:
/// after a clean close the last segment holds a few records, and a cold
/// read of 64 KiB took ~250 us longer than one of 8 KiB on the virtual
/// disk keel-benches ran on (a caller asking the OS to read a segment's
/// head ahead asks for this much).
pub const FIRST_READ_BYTES: u64 = 8 << 10;
const _: () = assert!(FIRST_READ_BYTES > SEGMENT_HEADER_BYTES);
/// The file name extension of segments.
pub const SEGMENT_EXTENSION: &str = "wal";

const VERSION_1_USED_BYTES: usize = 28;
const SALT_OFFSET: usize = 28;
const CHECKSUM_OFFSET: usize = SALT_OFFSET + 4;
const HEADER_USED_BYTES: usize = CHECKSUM_OFFSET + 4;
const _: () = assert!(SEGMENT_HEADER_BYTES == keel_io::SECTOR_BYTES);
const _: () = assert!(HEADER_USED_BYTES <= SEGMENT_HEADER_BYTES as usize);
const _: () = assert!(VERSION_1_USED_BYTES == SALT_OFFSET);

/// The fields of a segment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The format version it is written in (see [`SEGMENT_FORMAT_VERSION`]).
    pub format_version: u16,
    /// The lsn of the segment's first fragment.
    pub first_lsn: Lsn,
    /// The size the segment was preallocated to.
    pub segment_bytes: u64,
    /// The seed of every fragment checksum in the segment. Version 1:
    /// always `segment_salt(first_lsn)`.
    pub salt: u32,
}

/// Why a segment header was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HeaderProblem {
    /// The file is shorter than a header.
    #[error("the file is shorter than a segment header")]
    Truncated,
    /// The header was never written (all zeros).
    #[error("the header was never written")]
    NeverWritten,
    /// Not a keel segment.
    #[error("bad magic {found:02x?}")]
    BadMagic {
        /// The bytes found.
        found: [u8; 4],
    },
    /// The checksum does not hold.
    #[error("header checksum {stored:#010x} does not match {computed:#010x}")]
    ChecksumMismatch {
        /// Stored in the header.
        stored: u32,
        /// Computed over it.
        computed: u32,
    },
    /// Written by a newer keel.
    #[error(
        "unsupported segment format version {version} (this keel reads versions {}..={})",
        SEGMENT_FORMAT_VERSION_MIN,
        SEGMENT_FORMAT_VERSION
    )]
    UnsupportedVersion {
        /// The version found.
        version: u16,
    },
}

impl SegmentHeader {
    /// The header of a new segment, in the current format.
    pub fn new(first_lsn: Lsn, segment_bytes: u64, salt: u32) -> SegmentHeader {
        SegmentHeader {
            format_version: SEGMENT_FORMAT_VERSION,
            first_lsn,
            segment_bytes,
            salt,
        }
    }

    /// The header's bytes, in its format version (1 is written only to test
    /// that old logs stay readable).
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_BYTES as usize] {
        assert!(
            (SEGMENT_FORMAT_VERSION_MIN..=SEGMENT_FORMAT_VERSION).contains(&self.format_version),
            "a known format version"
        );
        let mut bytes = [0u8; SEGMENT_HEADER_BYTES as usize];
        bytes[0..4].copy_from_slice(&SEGMENT_MAGIC);
        bytes[4..6].copy_from_slice(&self.format_version.to_le_bytes());
        bytes[8..16].copy_from_slice(&self.first_lsn.0.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.segment_bytes.to_le_bytes());
        let checksum = crc32c::crc32c(&bytes[..24]);
        bytes[24..28].copy_from_slice(&checksum.to_le_bytes());
        if self.format_version == 1 {
            assert_eq!(self.salt, segment_salt(self.first_lsn), "version 1 salts");
            return bytes;
        }
        bytes[SALT_OFFSET..CHECKSUM_OFFSET].copy_from_slice(&self.salt.to_le_bytes());
        let checksum = crc32c::crc32c(&bytes[..CHECKSUM_OFFSET]);
        bytes[CHECKSUM_OFFSET..HEADER_USED_BYTES].copy_from_slice(&checksum.to_le_bytes());
        bytes
    }

    /// Reads a header of any version this code reads.
    pub fn decode(bytes: &[u8]) -> Result<SegmentHeader, HeaderProblem> {
        let Some(version_1) = bytes.get(..VERSION_1_USED_BYTES) else {
            return Err(HeaderProblem::Truncated);
        };
        if version_1.iter().all(|&b| b == 0) {
            return Err(HeaderProblem::NeverWritten);
        }
        let field = |range: std::ops::Range<usize>| {
            let mut raw = [0u8; 8];
            raw[..range.len()].copy_from_slice(&bytes[range]);
            u64::from_le_bytes(raw)
        };
        let mut found = [0u8; 4];
        found.copy_from_slice(&bytes[0..4]);
        if found != SEGMENT_MAGIC {
            return Err(HeaderProblem::BadMagic { found });
        }
        let checksum_holds = |end: usize| {
            let stored = field(end..end + 4) as u32;
            let computed = crc32c::crc32c(&bytes[..end]);
            if stored == computed {
                Ok(())
            } else {
                Err(HeaderProblem::ChecksumMismatch { stored, computed })
            }
        };
        checksum_holds(24)?;
        let version = field(4..6) as u16;
        if field(6..8) != 0 {
            return Err(HeaderProblem::UnsupportedVersion { version });
        }
        let first_lsn = Lsn(field(8..16));
        let salt = match version {
            1 => segment_salt(first_lsn),
            2 => {
                if bytes.len() < HEADER_USED_BYTES {
                    return Err(HeaderProblem::Truncated);
                }
                checksum_holds(CHECKSUM_OFFSET)?;
                field(SALT_OFFSET..CHECKSUM_OFFSET) as u32
            }
            _ => return Err(HeaderProblem::UnsupportedVersion { version }),
        };
        Ok(SegmentHeader {
            format_version: version,
            first_lsn,
            segment_bytes: field(16..24),
            salt,
        })
    }

    /// Whether a segment of this header may be shorter than its
    /// preallocation: from version 2 on, a segment may be trimmed to end
    /// right after its seal (nothing after a seal is ever part of the log).
    pub fn may_be_trimmed(&self) -> bool {
        self.format_version >= 2
    }
}

/// Reads the header of the segment file `handle`.
pub fn read_header(
    handle: &dyn keel_io::File,
) -> keel_io::Result<Result<SegmentHeader, HeaderProblem>> {
    let size = handle.size()?;
    let mut header = vec![0u8; SEGMENT_HEADER_BYTES.min(size) as usize];
    handle.read_exact_at(&mut header, 0)?;
    Ok(SegmentHeader::decode(&header))
}

/// Whether the `size` bytes of a segment with checksum seed `salt` end with
/// a valid seal: a segment trimmed after it was sealed.
pub fn ends_with_seal(handle: &dyn keel_io::File, size: u64, salt: u32) -> keel_io::Result<bool> {
    let seal_bytes = SEAL_SPAN_BYTES as u64;
    if size < SEGMENT_HEADER_BYTES + seal_bytes || !size.is_multiple_of(8) {
        return Ok(false);
    }
    let mut seal = [0u8; SEAL_SPAN_BYTES];
    handle.read_exact_at(&mut seal, size - seal_bytes)?;
    let mut header = [0u8; FRAGMENT_HEADER_BYTES];
    header.copy_from_slice(&seal[..FRAGMENT_HEADER_BYTES]);
    Ok(match decode_header(&header) {
        HeaderBytes::Header(fragment) => {
            fragment.kind == FragmentKind::Seal
                && checksum_holds(salt, &header, fragment.checksum, &[])
        }
        HeaderBytes::Zero | HeaderBytes::Invalid => false,
    })
}

/// The file name of the segment starting at `first_lsn`.
pub fn segment_file_name(first_lsn: Lsn) -> String {
    format!("{:020}.{SEGMENT_EXTENSION}", first_lsn.0)
}

/// The first lsn a segment file name stands for, if it is one.
pub fn parse_segment_file_name(path: &Path) -> Option<Lsn> {
    if path.extension()? != SEGMENT_EXTENSION {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok().map(Lsn)
}

/// The extension of a segment being created: preallocated and given its
/// header under this name, then renamed, so that a file with a segment's
/// name is always whole.
pub const CREATING_EXTENSION: &str = "creating";

/// Bytes of a segment allocated on disk ahead of its writes, at a time: a
/// segment is sized to its full length at creation but allocated only as
/// far as the writes go, a step ahead, so that a large segment holding a
/// few records takes a few MiB of disk, not its whole size (a 64 MiB
/// segment left open after a burst was a quarter of a database's disk
/// use), while an fdatasync still seldom has block allocation to commit.
pub const ALLOCATION_STEP_BYTES: u64 = 4 << 20;

/// Creates the segment starting at `first_lsn` in `dir` in a new file:
/// sized to `segment_bytes` (its first [`ALLOCATION_STEP_BYTES`] allocated,
/// the rest as the writes reach it), its header written and synced under a
/// temporary name, then renamed into place (replacing a segment of that
/// name, which holds nothing the log keeps) and the directory synced. After
/// any crash the segment's name is absent or names a whole segment (holes
/// read as zeros, as unwritten preallocation does). Its salt is `segment_salt(first_lsn)`.
pub fn create_segment(
    vfs: &dyn Vfs,
    dir: &Path,
    first_lsn: Lsn,
    segment_bytes: u64,
) -> keel_io::Result<keel_io::FileHandle> {
    let path = dir.join(segment_file_name(first_lsn));
    let (handle, creating) = open_creating(vfs, &path)?;
    handle.set_len(segment_bytes)?;
    handle.allocate(0, segment_bytes.min(ALLOCATION_STEP_BYTES))?;
    let header = SegmentHeader::new(first_lsn, segment_bytes, segment_salt(first_lsn));
    handle.write_all_at(&header.encode(), 0)?;
    handle.sync_data()?;
    vfs.rename(&creating, &path)?;
    vfs.sync_dir(dir)?;
    Ok(handle)
}

/// The salt of the next life of a file whose last segment had
/// `previous_salt`. Every life of a file gets the salt after the one
/// before, so the lives of one file have distinct salts (for fewer than
/// 2^32 recycles of it); and a CRC32C with a different seed over the same
/// bytes always differs (the seed enters the remainder through an
/// invertible multiplication), so no fragment of an earlier life ever has
/// a checksum that holds in the new one.
pub fn recycled_salt(previous_salt: u32) -> u32 {
    previous_salt.wrapping_add(1)
}

/// Makes the free file `free` (a closed segment truncation gave up, see
/// [`free_file_name`]) the segment starting at `first_lsn`, under the same
/// discipline as [`create_segment`]: renamed to the temporary name, sized
/// to `segment_bytes` (cut, or extended and preallocated), given the header
/// of its new life (salt [`recycled_salt`] of `previous_salt`, the salt in
/// its header) and synced, then renamed into place and the directory
/// synced. Its bytes after the header are left as they were — stale
/// fragments whose checksums fail under the new salt, ended by the zeroed
/// header every write puts after itself — except the first: a zeroed
/// header follows the new header, so a segment recycled and closed before
/// any record reads as a clean end (not as a torn one, which would make the
/// next open start another segment).
pub fn recycle_segment(
    vfs: &dyn Vfs,
    dir: &Path,
    free: &Path,
    previous_salt: u32,
    first_lsn: Lsn,
    segment_bytes: u64,
) -> keel_io::Result<keel_io::FileHandle> {
    let path = dir.join(segment_file_name(first_lsn));
    let creating = path.with_extension(CREATING_EXTENSION);
    if vfs.exists(&creating)? {
        vfs.remove(&creating)?;
    }
    vfs.rename(free, &creating)?;
    // Durable before the file changes: a crash must not bring the free
    // name (or, through it, an older segment's name) back on a file that
    // holds this segment's header.
    vfs.sync_dir(dir)?;
    let handle = vfs.open(&creating, keel_io::OpenMode::Existing)?;
    let size = handle.size()?;
    if size > segment_bytes {
        handle.set_len(segment_bytes)?;
    } else if size < segment_bytes {
        // Sized, not allocated: the writes allocate ahead of themselves.
        handle.set_len(segment_bytes)?;
    }
    let salt = recycled_salt(previous_salt);
    let header = SegmentHeader::new(first_lsn, segment_bytes, salt);
    let mut start = header.encode().to_vec();
    start.resize(start.len() + SEAL_SPAN_BYTES, 0);
    handle.write_all_at(&start, 0)?;
    handle.sync_data()?;
    vfs.rename(&creating, &path)?;
    vfs.sync_dir(dir)?;
    Ok(handle)
}

/// Cuts a sealed segment right after its seal at `seal_offset` (the seal
/// already durable), giving back its unused preallocation; only for
/// segments whose header [allows it](SegmentHeader::may_be_trimmed). Not
/// synced here: either length is a valid segment.
pub fn trim_segment(handle: &dyn keel_io::File, seal_offset: u64) -> keel_io::Result<bool> {
    let end = seal_offset + SEAL_SPAN_BYTES as u64;
    if handle.size()? <= end {
        return Ok(false);
    }
    handle.set_len(end)?;
    Ok(true)
}

/// The extension of a free file: a closed segment that truncation took out
/// of the log and kept for [`recycle_segment`]. Not a segment name, so
/// readers never see it.
pub const FREE_EXTENSION: &str = "free";

/// The name a segment gets when truncation keeps its file for reuse:
/// `<segment name>.free`.
pub fn free_file_name(segment: &Path) -> PathBuf {
    let mut name = segment.as_os_str().to_owned();
    name.push(".");
    name.push(FREE_EXTENSION);
    PathBuf::from(name)
}

/// The free files in `dir`, by name.
pub fn list_free(vfs: &dyn Vfs, dir: &Path) -> keel_io::Result<Vec<PathBuf>> {
    Ok(Listing::read(vfs, dir)?.free)
}

/// A new, empty file under `path`'s temporary name (`*.creating`, what a
/// crash left there removed), for a segment to be renamed to `path` once
/// whole. Returns the handle and the temporary name.
pub fn open_creating(
    vfs: &dyn Vfs,
    path: &Path,
) -> keel_io::Result<(keel_io::FileHandle, PathBuf)> {
    let creating = path.with_extension(CREATING_EXTENSION);
    if vfs.exists(&creating)? {
        vfs.remove(&creating)?;
    }
    let handle = vfs.open(&creating, keel_io::OpenMode::CreateNew)?;
    Ok((handle, creating))
}

/// Removes what a crash left of segments being created.
pub fn remove_creating(vfs: &dyn Vfs, dir: &Path) -> keel_io::Result<usize> {
    remove_listed_creating(vfs, dir, &mut Listing::read(vfs, dir)?)
}

/// Removes the leftovers of segment creations `listing` found (and takes
/// them out of it).
pub(crate) fn remove_listed_creating(
    vfs: &dyn Vfs,
    dir: &Path,
    listing: &mut Listing,
) -> keel_io::Result<usize> {
    let removed = listing.creating.len();
    for path in listing.creating.drain(..) {
        vfs.remove(&path)?;
    }
    if removed > 0 {
        vfs.sync_dir(dir)?;
    }
    Ok(removed)
}

/// The segments in `dir`, by first lsn.
pub fn list_segments(vfs: &dyn Vfs, dir: &Path) -> keel_io::Result<Vec<(Lsn, PathBuf)>> {
    Ok(Listing::read(vfs, dir)?.segments)
}

/// What the log directory holds, from one listing of it: an open lists
/// the directory once (each listing is five system calls) and hands the
/// result on — to the reader that finds the log's end, to the kept files'
/// adoption and, through [`crate::Recovery::segments`], to the caller's
/// replay.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// The segments, by first lsn.
    pub segments: Vec<(Lsn, PathBuf)>,
    /// Files of segments whose creation a crash cut short (`*.creating`).
    pub creating: Vec<PathBuf>,
    /// Files kept for reuse (`*.free`), by name.
    pub free: Vec<PathBuf>,
}

impl Listing {
    /// Lists `dir`.
    ///
    /// # Errors
    /// The listing's I/O error (not found, if `dir` does not exist).
    pub fn read(vfs: &dyn Vfs, dir: &Path) -> keel_io::Result<Listing> {
        let mut listing = Listing::default();
        for path in vfs.list(dir)? {
            if let Some(lsn) = parse_segment_file_name(&path) {
                listing.segments.push((lsn, path));
            } else if path
                .extension()
                .is_some_and(|ext| ext == CREATING_EXTENSION)
            {
                listing.creating.push(path);
            } else if path.extension().is_some_and(|ext| ext == FREE_EXTENSION) {
                listing.free.push(path);
            }
        }
        listing.segments.sort();
        listing.free.sort();
        Ok(listing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_damage_is_named() {
        let header = SegmentHeader::new(Lsn(123), 64 << 20, 0xDEAD_BEEF);
        let bytes = header.encode();
        assert_eq!(SegmentHeader::decode(&bytes), Ok(header));
        assert!(header.may_be_trimmed());
        assert_eq!(
            SegmentHeader::decode(&bytes[..10]),
            Err(HeaderProblem::Truncated)
        );
        assert_eq!(
            SegmentHeader::decode(&bytes[..30]),
            Err(HeaderProblem::Truncated)
        );
        assert_eq!(
            SegmentHeader::decode(&[0; 512]),
            Err(HeaderProblem::NeverWritten)
        );
        for byte in 0..HEADER_USED_BYTES {
            let mut damaged = bytes;
            damaged[byte] ^= 0x40;
            assert!(SegmentHeader::decode(&damaged).is_err(), "byte {byte}");
        }
    }

    /// Logs written before format 2 stay readable: a version-1 header
    /// (checksum at 24, no salt field) decodes with the salt derived from
    /// its first lsn, and is never trimmed.
    #[test]
    fn version_1_headers_are_read() {
        let mut bytes = [0u8; 512];
        bytes[0..4].copy_from_slice(b"KWAL");
        bytes[4..6].copy_from_slice(&1u16.to_le_bytes());
        bytes[8..16].copy_from_slice(&77u64.to_le_bytes());
        bytes[16..24].copy_from_slice(&(64u64 << 20).to_le_bytes());
        let checksum = crc32c::crc32c(&bytes[..24]);
        bytes[24..28].copy_from_slice(&checksum.to_le_bytes());
        let header = SegmentHeader::decode(&bytes).unwrap();
        assert_eq!(
            header,
            SegmentHeader {
                format_version: 1,
                first_lsn: Lsn(77),
                segment_bytes: 64 << 20,
                salt: segment_salt(Lsn(77)),
            }
        );
        assert!(!header.may_be_trimmed());
        assert_eq!(header.encode(), bytes, "version 1 is encoded as it was");
    }

    /// A header of an unknown version is refused, naming the version found
    /// and the ones this code reads; a version-1 reader (checksum over
    /// bytes 0..24 at 24, then the version) reports a version-2 header as
    /// an unsupported version too, not as damage.
    #[test]
    fn unknown_versions_are_named() {
        let mut bytes = SegmentHeader::new(Lsn(5), 1 << 20, 9).encode();
        let v1_checksum = u32::from_le_bytes(bytes[24..28].try_into().unwrap());
        assert_eq!(v1_checksum, crc32c::crc32c(&bytes[..24]));
        assert_eq!(u16::from_le_bytes([bytes[4], bytes[5]]), 2);
        bytes[4..6].copy_from_slice(&3u16.to_le_bytes());
        let checksum = crc32c::crc32c(&bytes[..24]);
        bytes[24..28].copy_from_slice(&checksum.to_le_bytes());
        let problem = SegmentHeader::decode(&bytes).unwrap_err();
        assert_eq!(problem, HeaderProblem::UnsupportedVersion { version: 3 });
        assert_eq!(
            problem.to_string(),
            "unsupported segment format version 3 (this keel reads versions 1..=2)"
        );
    }

    /// Recycling: the file keeps its bytes after the header, gets the next
    /// salt and the new size, and no fragment of its earlier life has a
    /// checksum that holds under the new salt.
    #[test]
    fn a_recycled_segment_gets_a_new_salt_and_size() {
        use crate::fragment::{encode_fragment, encode_seal};
        use keel_io::{OpenMode, SimVfs};
        let vfs = SimVfs::new(1);
        let dir = Path::new("/wal");
        vfs.create_dir_all(dir).unwrap();
        let old = create_segment(&vfs, dir, Lsn(10), 256 << 10).unwrap();
        let old_salt = segment_salt(Lsn(10));
        let mut bytes = Vec::new();
        for lsn in 10..20 {
            encode_fragment(
                &mut bytes,
                old_salt,
                FragmentKind::Full,
                Lsn(lsn),
                Lsn(lsn),
                &[lsn as u8; 100],
            );
        }
        old.write_all_at(&bytes, SEGMENT_HEADER_BYTES).unwrap();
        drop(old);
        let segment = dir.join(segment_file_name(Lsn(10)));
        let free = free_file_name(&segment);
        vfs.rename(&segment, &free).unwrap();
        assert_eq!(list_free(&vfs, dir).unwrap(), vec![free.clone()]);
        assert!(list_segments(&vfs, dir).unwrap().is_empty());

        let handle = recycle_segment(&vfs, dir, &free, old_salt, Lsn(15), 128 << 10).unwrap();
        assert_eq!(handle.size().unwrap(), 128 << 10);
        let header = read_header(handle.as_ref()).unwrap().unwrap();
        assert_eq!(header, SegmentHeader::new(Lsn(15), 128 << 10, old_salt + 1));
        assert!(list_free(&vfs, dir).unwrap().is_empty());
        let mut stale = vec![0u8; bytes.len()];
        handle
            .read_exact_at(&mut stale, SEGMENT_HEADER_BYTES)
            .unwrap();
        assert!(
            stale[..SEAL_SPAN_BYTES].iter().all(|&byte| byte == 0),
            "a zeroed header follows the new header"
        );
        assert_eq!(
            stale[SEAL_SPAN_BYTES..],
            bytes[SEAL_SPAN_BYTES..],
            "the other old bytes are still there"
        );
        // What the stale fragments would say under the new salt.
        stale[..SEAL_SPAN_BYTES].copy_from_slice(&bytes[..SEAL_SPAN_BYTES]);
        let mut offset = 0;
        while offset < stale.len() {
            let header: [u8; FRAGMENT_HEADER_BYTES] = stale[offset..offset + FRAGMENT_HEADER_BYTES]
                .try_into()
                .unwrap();
            let HeaderBytes::Header(fragment) = decode_header(&header) else {
                panic!("an old fragment header");
            };
            let payload = &stale[offset + FRAGMENT_HEADER_BYTES..][..fragment.payload_bytes];
            assert!(checksum_holds(
                old_salt,
                &header,
                fragment.checksum,
                payload
            ));
            assert!(!checksum_holds(
                header_salt(&handle),
                &header,
                fragment.checksum,
                payload
            ));
            offset += crate::fragment::fragment_span(fragment.payload_bytes);
        }

        // Trimmed after its seal, it is still a whole segment.
        let seal = encode_seal(old_salt + 1, Lsn(16), Lsn(16));
        handle.write_all_at(&seal, 4096).unwrap();
        assert!(trim_segment(handle.as_ref(), 4096).unwrap());
        assert!(!trim_segment(handle.as_ref(), 4096).unwrap());
        let size = handle.size().unwrap();
        assert_eq!(size, 4096 + SEAL_SPAN_BYTES as u64);
        assert!(ends_with_seal(handle.as_ref(), size, old_salt + 1).unwrap());
        assert!(!ends_with_seal(handle.as_ref(), size, old_salt).unwrap());
        let reopened = vfs
            .open(&dir.join(segment_file_name(Lsn(15))), OpenMode::Existing)
            .unwrap();
        assert!(!ends_with_seal(reopened.as_ref(), 4096, old_salt + 1).unwrap());
    }

    fn header_salt(handle: &keel_io::FileHandle) -> u32 {
        read_header(handle.as_ref()).unwrap().unwrap().salt
    }

    #[test]
    fn file_names_sort_by_lsn() {
        let name = segment_file_name(Lsn(42));
        assert_eq!(name, "00000000000000000042.wal");
        assert_eq!(parse_segment_file_name(Path::new(&name)), Some(Lsn(42)));
        assert_eq!(parse_segment_file_name(Path::new("42.wal")), None);
        assert_eq!(
            parse_segment_file_name(Path::new("00000000000000000042.tmp")),
            None
        );
        assert!(segment_file_name(Lsn(9)) < segment_file_name(Lsn(10)));
    }
}

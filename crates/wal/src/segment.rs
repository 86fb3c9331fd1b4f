//! Segment files: `wal/<first lsn, 20 digits>.wal`, preallocated to the
//! segment size, starting with a one-sector header.
//!
//! ```text
//! offset size field
//!      0    4 magic "KWAL"
//!      4    2 format version: u16, 1
//!      6    2 reserved: u16, 0
//!      8    8 first_lsn: the lsn of the segment's first fragment
//!     16    8 segment_bytes: the preallocated size
//!     24    4 CRC32C of bytes 0..24
//!     28  484 zero
//!    512      fragments, each at a multiple of 8
//! ```

use std::path::{Path, PathBuf};

use keel_io::Vfs;

use crate::lsn::Lsn;

/// The magic at the start of every segment.
pub const SEGMENT_MAGIC: [u8; 4] = *b"KWAL";
/// The segment format version this code writes and reads.
pub const SEGMENT_FORMAT_VERSION: u16 = 1;
/// Bytes of the segment header: one sector, so that it is written whole.
pub const SEGMENT_HEADER_BYTES: u64 = 512;
/// The file name extension of segments.
pub const SEGMENT_EXTENSION: &str = "wal";

const HEADER_USED_BYTES: usize = 28;
const _: () = assert!(SEGMENT_HEADER_BYTES == keel_io::SECTOR_BYTES);
const _: () = assert!(HEADER_USED_BYTES <= SEGMENT_HEADER_BYTES as usize);

/// The fields of a segment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The lsn of the segment's first fragment.
    pub first_lsn: Lsn,
    /// The size the segment was preallocated to.
    pub segment_bytes: u64,
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
    #[error("unsupported segment format version {version}")]
    UnsupportedVersion {
        /// The version found.
        version: u16,
    },
}

impl SegmentHeader {
    /// The header's bytes.
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_BYTES as usize] {
        let mut bytes = [0u8; SEGMENT_HEADER_BYTES as usize];
        bytes[0..4].copy_from_slice(&SEGMENT_MAGIC);
        bytes[4..6].copy_from_slice(&SEGMENT_FORMAT_VERSION.to_le_bytes());
        bytes[8..16].copy_from_slice(&self.first_lsn.0.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.segment_bytes.to_le_bytes());
        let checksum = crc32c::crc32c(&bytes[..24]);
        bytes[24..28].copy_from_slice(&checksum.to_le_bytes());
        bytes
    }

    /// Reads a header.
    pub fn decode(bytes: &[u8]) -> Result<SegmentHeader, HeaderProblem> {
        let Some(bytes) = bytes.get(..HEADER_USED_BYTES) else {
            return Err(HeaderProblem::Truncated);
        };
        if bytes.iter().all(|&b| b == 0) {
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
        let stored = field(24..28) as u32;
        let computed = crc32c::crc32c(&bytes[..24]);
        if stored != computed {
            return Err(HeaderProblem::ChecksumMismatch { stored, computed });
        }
        let version = field(4..6) as u16;
        if version != SEGMENT_FORMAT_VERSION || field(6..8) != 0 {
            return Err(HeaderProblem::UnsupportedVersion { version });
        }
        Ok(SegmentHeader {
            first_lsn: Lsn(field(8..16)),
            segment_bytes: field(16..24),
        })
    }
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

/// Creates the segment starting at `first_lsn` in `dir`: preallocated to
/// `segment_bytes`, its header written and synced under a temporary name,
/// then renamed into place (replacing a segment of that name, which holds
/// nothing the log keeps) and the directory synced. After any crash the
/// segment's name is absent or names a whole, preallocated segment.
pub fn create_segment(
    vfs: &dyn Vfs,
    dir: &Path,
    first_lsn: Lsn,
    segment_bytes: u64,
) -> keel_io::Result<keel_io::FileHandle> {
    let path = dir.join(segment_file_name(first_lsn));
    let (handle, creating) = open_creating(vfs, &path)?;
    handle.allocate(0, segment_bytes)?;
    let header = SegmentHeader {
        first_lsn,
        segment_bytes,
    };
    handle.write_all_at(&header.encode(), 0)?;
    handle.sync_data()?;
    vfs.rename(&creating, &path)?;
    vfs.sync_dir(dir)?;
    Ok(handle)
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
    let mut removed = 0;
    for path in vfs.list(dir)? {
        if path
            .extension()
            .is_some_and(|ext| ext == CREATING_EXTENSION)
        {
            vfs.remove(&path)?;
            removed += 1;
        }
    }
    if removed > 0 {
        vfs.sync_dir(dir)?;
    }
    Ok(removed)
}

/// The segments in `dir`, by first lsn.
pub fn list_segments(vfs: &dyn Vfs, dir: &Path) -> keel_io::Result<Vec<(Lsn, PathBuf)>> {
    let mut segments: Vec<(Lsn, PathBuf)> = vfs
        .list(dir)?
        .into_iter()
        .filter_map(|path| parse_segment_file_name(&path).map(|lsn| (lsn, path)))
        .collect();
    segments.sort();
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_damage_is_named() {
        let header = SegmentHeader {
            first_lsn: Lsn(123),
            segment_bytes: 64 << 20,
        };
        let bytes = header.encode();
        assert_eq!(SegmentHeader::decode(&bytes), Ok(header));
        assert_eq!(
            SegmentHeader::decode(&bytes[..10]),
            Err(HeaderProblem::Truncated)
        );
        assert_eq!(
            SegmentHeader::decode(&[0; 512]),
            Err(HeaderProblem::NeverWritten)
        );
        for byte in 0..28 {
            let mut damaged = bytes;
            damaged[byte] ^= 0x40;
            assert!(SegmentHeader::decode(&damaged).is_err(), "byte {byte}");
        }
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

//! Copying closed segments to the archive directory, durably.

use std::path::{Path, PathBuf};

use keel_io::{OpenMode, Vfs};

use crate::error::Result;

/// Bytes copied per read/write when archiving.
pub const ARCHIVE_COPY_BYTES: usize = 1 << 20;

/// The suffix of an archive copy in progress.
const PARTIAL_SUFFIX: &str = ".partial";

/// Copies `segment` into `archive_dir` under the same name, durably: the
/// copy is written under a temporary name, synced, renamed and its
/// directory synced, so the final name only ever holds a complete copy.
/// A segment already archived is not copied again. Returns the copy's path.
pub fn archive_segment(vfs: &dyn Vfs, segment: &Path, archive_dir: &Path) -> Result<PathBuf> {
    let Some(name) = segment.file_name() else {
        return Err(keel_io::Error::io(
            keel_io::Op::Open,
            segment,
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a segment path has a file name",
            ),
        )
        .into());
    };
    let target = archive_dir.join(name);
    if vfs.exists(&target)? {
        return Ok(target);
    }
    keel_io::create_dir_all_durable(vfs, archive_dir)?;
    let mut partial_name = name.to_owned();
    partial_name.push(PARTIAL_SUFFIX);
    let partial = archive_dir.join(partial_name);

    let source = vfs.open(segment, OpenMode::Existing)?;
    let copy = vfs.open(&partial, OpenMode::CreateOrOpen)?;
    copy.set_len(0)?;
    let size = source.size()?;
    let mut buffer = vec![0u8; ARCHIVE_COPY_BYTES];
    let mut offset = 0;
    while offset < size {
        let count = ARCHIVE_COPY_BYTES.min((size - offset) as usize);
        source.read_exact_at(&mut buffer[..count], offset)?;
        copy.write_all_at(&buffer[..count], offset)?;
        offset += count as u64;
    }
    copy.sync_data()?;
    vfs.rename(&partial, &target)?;
    vfs.sync_dir(archive_dir)?;
    Ok(target)
}

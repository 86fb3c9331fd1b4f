//! Copying closed segments to the archive directory, durably.

use std::path::{Path, PathBuf};

use keel_io::{OpenMode, Vfs};

use crate::error::Result;

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
    keel_io::copy_prefix(source.as_ref(), copy.as_ref(), source.size()?)?;
    copy.sync_data()?;
    vfs.rename(&partial, &target)?;
    vfs.sync_dir(archive_dir)?;
    Ok(target)
}

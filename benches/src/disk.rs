//! What an engine has on disk, and making its next reads come from disk.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use anyhow::{Context, Result};
use nix::fcntl::{PosixFadviseAdvice, posix_fadvise};

/// Bytes allocated on disk under `dir` (what `du` reports: sparse and
/// preallocated-but-unwritten ranges do not count twice, holes not at all).
pub fn allocated_bytes(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        let metadata = entry.metadata()?;
        if metadata.is_dir() {
            total += allocated_bytes(&entry.path())?;
        } else {
            // st_blocks counts 512-byte units whatever the block size.
            total += metadata.blocks() * 512;
        }
    }
    Ok(total)
}

/// Drops the files under `dir` from the OS page cache (after syncing
/// them, since only clean pages can be dropped), so that a closed engine
/// reopened afterwards reads from disk. Affects only these files.
pub fn drop_from_page_cache(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        let path = entry.path();
        if entry.metadata()?.is_dir() {
            drop_from_page_cache(&path)?;
            continue;
        }
        let file = File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
        file.sync_data()
            .with_context(|| format!("cannot sync {}", path.display()))?;
        posix_fadvise(&file, 0, 0, PosixFadviseAdvice::POSIX_FADV_DONTNEED)
            .with_context(|| format!("cannot drop {} from the page cache", path.display()))?;
    }
    Ok(())
}

//! Recycling segment files: a closed segment truncation takes out of the
//! log is kept, renamed `<segment>.free`, and later becomes a new segment
//! ([`crate::segment::recycle_segment`]) instead of a file being created
//! and preallocated — its blocks are already allocated and written, so
//! writes and `fdatasync` into it change no file system metadata. At most
//! `WalOptions::recycled_segments_max` are kept; they are deleted when
//! none has been used for `WalOptions::recycled_idle_interval`, and at
//! close.
//!
//! A free file is not a segment (its name is not one), so readers never
//! see it; its header still holds the salt of its last life, which the
//! next life's salt follows.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use keel_io::{FileHandle, OpenMode, Vfs};

use crate::error::Result;
use crate::fragment::segment_salt;
use crate::lsn::Lsn;
use crate::segment::{
    ALLOCATION_STEP_BYTES, create_segment, free_file_name, read_header, recycle_segment,
    recycled_salt,
};

/// A segment to be created: decided when appends reach it (its salt seeds
/// their checksums), created on disk by the flush that first writes to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NewSegment {
    /// Its first lsn.
    pub(crate) first_lsn: Lsn,
    /// The size it is preallocated to.
    pub(crate) segment_bytes: u64,
    /// The seed of its fragment checksums.
    pub(crate) salt: u32,
    /// The kept file it reuses; `None`: a new file.
    pub(crate) free: Option<FreeSegment>,
}

impl NewSegment {
    /// The segment starting at `first_lsn`, in `free` if given.
    pub(crate) fn plan(first_lsn: Lsn, segment_bytes: u64, free: Option<FreeSegment>) -> Self {
        match free {
            Some(free) => NewSegment {
                first_lsn,
                segment_bytes,
                salt: recycled_salt(free.salt),
                free: Some(free),
            },
            None => NewSegment {
                first_lsn,
                segment_bytes,
                salt: segment_salt(first_lsn),
                free: None,
            },
        }
    }

    /// Creates it in `dir`, whole (see [`create_segment`] and
    /// [`recycle_segment`]).
    pub(crate) fn create(&self, vfs: &dyn Vfs, dir: &Path) -> keel_io::Result<FileHandle> {
        let handle = match &self.free {
            Some(free) => recycle_segment(
                vfs,
                dir,
                &free.path,
                free.salt,
                self.first_lsn,
                self.segment_bytes,
            )?,
            None => create_segment(vfs, dir, self.first_lsn, self.segment_bytes)?,
        };
        Ok(handle)
    }
}

/// A kept file, ready to become a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FreeSegment {
    /// Its name (`<segment>.free`).
    pub(crate) path: PathBuf,
    /// Its size.
    pub(crate) bytes: u64,
    /// The salt of its last life.
    pub(crate) salt: u32,
}

/// The kept files.
#[derive(Debug)]
pub(crate) struct Pool {
    free: Vec<FreeSegment>,
    capacity: usize,
    /// When a file was last kept or taken.
    last_used: Instant,
}

impl Pool {
    /// The free files a crash left in `dir`, up to `capacity` (the others,
    /// and any whose header does not hold, deleted).
    #[cfg(test)]
    pub(crate) fn adopt(vfs: &dyn Vfs, dir: &Path, capacity: usize) -> Result<Pool> {
        Pool::adopt_listed(vfs, dir, &crate::segment::list_free(vfs, dir)?, capacity)
    }

    /// [`Pool::adopt`] of the kept files a listing of `dir` found.
    pub(crate) fn adopt_listed(
        vfs: &dyn Vfs,
        dir: &Path,
        free_files: &[PathBuf],
        capacity: usize,
    ) -> Result<Pool> {
        let mut pool = Pool {
            free: Vec::new(),
            capacity,
            last_used: Instant::now(),
        };
        let mut deleted = 0;
        for path in free_files {
            let path = path.as_path();
            match describe(vfs, path)? {
                Some(free) if pool.free.len() < capacity => pool.free.push(free),
                _ => {
                    vfs.remove(path)?;
                    deleted += 1;
                }
            }
        }
        if deleted > 0 {
            vfs.sync_dir(dir)?;
        }
        Ok(pool)
    }

    /// How many more files may be kept.
    pub(crate) fn room(&self) -> usize {
        self.capacity.saturating_sub(self.free.len())
    }

    /// Adds a file [`keep`] renamed.
    pub(crate) fn push(&mut self, free: FreeSegment) {
        self.free.push(free);
        self.last_used = Instant::now();
    }

    /// Takes the kept file closest to `bytes`: the smallest at least that
    /// large, else the largest (extended when reused).
    pub(crate) fn take(&mut self, bytes: u64) -> Option<FreeSegment> {
        let index = self
            .free
            .iter()
            .enumerate()
            .filter(|(_, free)| free.bytes >= bytes)
            .min_by_key(|(_, free)| free.bytes)
            .or_else(|| {
                self.free
                    .iter()
                    .enumerate()
                    .max_by_key(|(_, free)| free.bytes)
            })
            .map(|(index, _)| index)?;
        self.last_used = Instant::now();
        Some(self.free.swap_remove(index))
    }

    /// How long since a file was last kept or taken.
    pub(crate) fn idle_for(&self) -> Duration {
        self.last_used.elapsed()
    }

    /// How many files are kept.
    pub(crate) fn len(&self) -> usize {
        self.free.len()
    }

    /// Takes every kept file out (to be deleted with [`delete`]).
    pub(crate) fn drain(&mut self) -> Vec<FreeSegment> {
        std::mem::take(&mut self.free)
    }
}

/// Keeps `segment` (a closed segment truncation takes out of the log) for
/// reuse if its header holds: renames it to its free name. `None`: the
/// caller removes it. The file is not changed and not handed out before
/// the caller's directory sync made the rename durable
/// ([`settle_kept`]): until then a crash may bring its old name back, and
/// the file must still be the segment that name says.
pub(crate) fn keep(vfs: &dyn Vfs, segment: &Path) -> Result<Option<FreeSegment>> {
    let Some(mut free) = describe(vfs, segment)? else {
        return Ok(None);
    };
    free.path = free_file_name(segment);
    vfs.rename(segment, &free.path)?;
    Ok(Some(free))
}

/// A kept file once its free name is durable: cut to its first
/// allocation step, not a large segment's whole size (reuse extends it,
/// see `recycle_segment`), so the disk the log holds beyond its records
/// stays small.
pub(crate) fn settle_kept(vfs: &dyn Vfs, mut free: FreeSegment) -> Result<FreeSegment> {
    if free.bytes > ALLOCATION_STEP_BYTES {
        vfs.open(&free.path, OpenMode::Existing)?
            .set_len(ALLOCATION_STEP_BYTES)?;
        free.bytes = ALLOCATION_STEP_BYTES;
    }
    Ok(free)
}

/// Deletes kept files taken out of the pool, then syncs `dir`.
pub(crate) fn delete(vfs: &dyn Vfs, dir: &Path, free: Vec<FreeSegment>) -> Result<usize> {
    let deleted = free.len();
    for free in free {
        vfs.remove(&free.path)?;
    }
    if deleted > 0 {
        vfs.sync_dir(dir)?;
    }
    Ok(deleted)
}

/// The size and last salt of the file at `path`; `None` if its header
/// does not hold (it is not reused).
fn describe(vfs: &dyn Vfs, path: &Path) -> Result<Option<FreeSegment>> {
    let handle = vfs.open(path, OpenMode::Existing)?;
    let Ok(header) = read_header(handle.as_ref())? else {
        return Ok(None);
    };
    Ok(Some(FreeSegment {
        path: path.to_path_buf(),
        bytes: handle.size()?,
        salt: header.salt,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lsn::Lsn;
    use crate::segment::list_free;
    use crate::segment::{create_segment, list_segments, segment_file_name};
    use keel_io::SimVfs;

    #[test]
    fn the_pool_keeps_at_most_its_capacity_and_takes_the_closest_size() {
        let vfs = SimVfs::new(1);
        let dir = Path::new("/wal");
        vfs.create_dir_all(dir).unwrap();
        let sizes = [(Lsn(1), 256 << 10), (Lsn(5), 64 << 10), (Lsn(9), 128 << 10)];
        for (first, bytes) in sizes {
            create_segment(&vfs, dir, first, bytes).unwrap();
        }
        let mut pool = Pool::adopt(&vfs, dir, 2).unwrap();
        assert_eq!(pool.len(), 0);
        let path = |lsn| dir.join(segment_file_name(lsn));
        for lsn in [Lsn(1), Lsn(5)] {
            assert!(pool.room() > 0);
            pool.push(settle_kept(&vfs, keep(&vfs, &path(lsn)).unwrap().unwrap()).unwrap());
        }
        assert_eq!(pool.room(), 0, "full");
        assert_eq!(list_segments(&vfs, dir).unwrap().len(), 1);
        assert_eq!(list_free(&vfs, dir).unwrap().len(), 2);

        // Adopted again after a restart: the same two files.
        let mut pool = Pool::adopt(&vfs, dir, 2).unwrap();
        assert_eq!(pool.len(), 2);
        let taken = pool.take(100 << 10).unwrap();
        assert_eq!(
            (taken.bytes, taken.salt),
            (256 << 10, crate::fragment::segment_salt(Lsn(1)))
        );
        let taken = pool.take(1 << 20).unwrap();
        assert_eq!(
            taken.bytes,
            64 << 10,
            "the largest when none is large enough"
        );
        assert_eq!(pool.take(1), None);

        // A smaller capacity deletes the files beyond it.
        let mut pool = Pool::adopt(&vfs, dir, 2).unwrap();
        assert_eq!(pool.len(), 2);
        let pool_of_one = Pool::adopt(&vfs, dir, 1).unwrap();
        assert_eq!(pool_of_one.len(), 1);
        assert_eq!(list_free(&vfs, dir).unwrap().len(), 1);
        pool.free.retain(|free| vfs.exists(&free.path).unwrap());
        assert_eq!(delete(&vfs, dir, pool.drain()).unwrap(), 1);
        assert!(list_free(&vfs, dir).unwrap().is_empty());
    }

    #[test]
    fn a_free_file_whose_header_does_not_hold_is_deleted() {
        let vfs = SimVfs::new(2);
        let dir = Path::new("/wal");
        vfs.create_dir_all(dir).unwrap();
        let handle = create_segment(&vfs, dir, Lsn(3), 64 << 10).unwrap();
        handle.write_all_at(&[0xFF; 8], 8).unwrap();
        let segment = dir.join(segment_file_name(Lsn(3)));
        assert_eq!(keep(&vfs, &segment).unwrap(), None);
        vfs.rename(&segment, &free_file_name(&segment)).unwrap();
        let pool = Pool::adopt(&vfs, dir, 2).unwrap();
        assert_eq!(pool.len(), 0);
        assert!(list_free(&vfs, dir).unwrap().is_empty());
    }
}

//! The disks a run can use: the honest simulated disk, or one that lies
//! about `fsync` — the simulator's self-test, since a run on it must find
//! lost commits.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use keel_io::{Advice, File, FileHandle, OpenMode, SimVfs, Vfs};

/// Which disk a run's database sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Disk {
    /// [`SimVfs`] as it is.
    #[default]
    Honest,
    /// [`SimVfs`] whose files acknowledge `sync_data` without syncing
    /// anything (a drive that lies about its cache flushes). Crashes then
    /// lose acknowledged commits; a simulator that did not notice would be
    /// checking nothing.
    IgnoresFsync,
}

impl Disk {
    /// The file system the database is opened on.
    pub fn over(self, vfs: &SimVfs) -> Arc<dyn Vfs> {
        match self {
            Disk::Honest => Arc::new(vfs.clone()),
            Disk::IgnoresFsync => Arc::new(IgnoresFsync { inner: vfs.clone() }),
        }
    }
}

/// A [`SimVfs`] whose file syncs do nothing; see [`Disk::IgnoresFsync`].
#[derive(Debug, Clone)]
struct IgnoresFsync {
    inner: SimVfs,
}

impl Vfs for IgnoresFsync {
    fn open(&self, path: &Path, mode: OpenMode) -> keel_io::Result<FileHandle> {
        let inner = self.inner.open(path, mode)?;
        Ok(Arc::new(UnsyncedFile { inner }))
    }

    fn remove(&self, path: &Path) -> keel_io::Result<()> {
        self.inner.remove(path)
    }

    fn rename(&self, from: &Path, to: &Path) -> keel_io::Result<()> {
        self.inner.rename(from, to)
    }

    fn list(&self, dir: &Path) -> keel_io::Result<Vec<PathBuf>> {
        self.inner.list(dir)
    }

    fn create_dir_all(&self, dir: &Path) -> keel_io::Result<()> {
        self.inner.create_dir_all(dir)
    }

    fn sync_dir(&self, dir: &Path) -> keel_io::Result<()> {
        self.inner.sync_dir(dir)
    }

    fn exists(&self, path: &Path) -> keel_io::Result<bool> {
        self.inner.exists(path)
    }
}

/// A file whose `sync_data` reports success and does nothing.
#[derive(Debug)]
struct UnsyncedFile {
    inner: FileHandle,
}

impl File for UnsyncedFile {
    fn path(&self) -> &Path {
        self.inner.path()
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> keel_io::Result<usize> {
        self.inner.read_at(buf, offset)
    }

    fn write_all_at(&self, data: &[u8], offset: u64) -> keel_io::Result<()> {
        self.inner.write_all_at(data, offset)
    }

    fn sync_data(&self) -> keel_io::Result<()> {
        Ok(())
    }

    fn size(&self) -> keel_io::Result<u64> {
        self.inner.size()
    }

    fn set_len(&self, size: u64) -> keel_io::Result<()> {
        self.inner.set_len(size)
    }

    fn allocate(&self, offset: u64, len: u64) -> keel_io::Result<()> {
        self.inner.allocate(offset, len)
    }

    fn try_lock(&self) -> keel_io::Result<()> {
        self.inner.try_lock()
    }

    fn advise(&self, advice: Advice, offset: u64, len: u64) -> keel_io::Result<()> {
        self.inner.advise(advice, offset, len)
    }
}

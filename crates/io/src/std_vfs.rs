//! `StdVfs`: the real file system through std and nix.

use std::fs;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Op, Result};
use crate::vfs::{Advice, File, FileHandle, OpenMode, Vfs};

/// The operating system's file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdVfs;

impl StdVfs {
    /// A handle to the real file system.
    pub fn new() -> Self {
        StdVfs
    }

    /// Opens a `std::fs::File` the way every keel file is opened.
    pub(crate) fn open_std(path: &Path, mode: OpenMode) -> Result<fs::File> {
        let mut options = fs::OpenOptions::new();
        options.read(true).write(true);
        match mode {
            OpenMode::Existing => {}
            OpenMode::CreateNew => {
                options.create_new(true);
            }
            OpenMode::CreateOrOpen => {
                options.create(true);
            }
        }
        options.open(path).map_err(|e| Error::io(Op::Open, path, e))
    }
}

impl Vfs for StdVfs {
    fn open(&self, path: &Path, mode: OpenMode) -> Result<FileHandle> {
        let file = Self::open_std(path, mode)?;
        Ok(Arc::new(StdFile {
            file,
            path: path.to_path_buf(),
        }))
    }

    fn remove(&self, path: &Path) -> Result<()> {
        fs::remove_file(path).map_err(|e| Error::io(Op::Remove, path, e))
    }

    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        fs::rename(from, to).map_err(|e| Error::io(Op::Rename, from, e))
    }

    fn list(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let mut paths = Vec::new();
        for entry in fs::read_dir(dir).map_err(|e| Error::io(Op::List, dir, e))? {
            paths.push(entry.map_err(|e| Error::io(Op::List, dir, e))?.path());
        }
        paths.sort();
        Ok(paths)
    }

    fn create_dir_all(&self, dir: &Path) -> Result<()> {
        fs::create_dir_all(dir).map_err(|e| Error::io(Op::CreateDir, dir, e))
    }

    fn sync_dir(&self, dir: &Path) -> Result<()> {
        let handle = fs::File::open(dir).map_err(|e| Error::io(Op::SyncDir, dir, e))?;
        handle
            .sync_all()
            .map_err(|e| Error::io(Op::SyncDir, dir, e))
    }

    fn exists(&self, path: &Path) -> Result<bool> {
        path.try_exists()
            .map_err(|e| Error::io(Op::Exists, path, e))
    }
}

/// A file of the real file system.
#[derive(Debug)]
pub struct StdFile {
    pub(crate) file: fs::File,
    pub(crate) path: PathBuf,
}

impl StdFile {
    fn error(&self, op: Op, source: io::Error) -> Error {
        Error::io(op, &self.path, source)
    }
}

impl File for StdFile {
    fn path(&self) -> &Path {
        &self.path
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        loop {
            match self.file.read_at(buf, offset) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                result => return result.map_err(|e| self.error(Op::Read, e)),
            }
        }
    }

    fn write_all_at(&self, data: &[u8], offset: u64) -> Result<()> {
        self.file
            .write_all_at(data, offset)
            .map_err(|e| self.error(Op::Write, e))
    }

    fn sync_data(&self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|e| self.error(Op::SyncData, e))
    }

    fn size(&self) -> Result<u64> {
        Ok(self
            .file
            .metadata()
            .map_err(|e| self.error(Op::Size, e))?
            .len())
    }

    fn set_len(&self, size: u64) -> Result<()> {
        self.file
            .set_len(size)
            .map_err(|e| self.error(Op::SetLen, e))
    }

    fn allocate(&self, offset: u64, len: u64) -> Result<()> {
        if len == 0 {
            return Ok(());
        }
        #[cfg(target_os = "linux")]
        {
            use nix::fcntl::{FallocateFlags, fallocate};
            let start =
                i64::try_from(offset).map_err(|e| self.error(Op::Allocate, io::Error::other(e)))?;
            let length =
                i64::try_from(len).map_err(|e| self.error(Op::Allocate, io::Error::other(e)))?;
            match fallocate(&self.file, FallocateFlags::empty(), start, length) {
                Ok(()) => return Ok(()),
                // File systems without fallocate: fall back to extending.
                Err(nix::errno::Errno::EOPNOTSUPP) => {}
                Err(errno) => return Err(self.error(Op::Allocate, io::Error::from(errno))),
            }
        }
        let end = offset + len;
        if self.size()? < end {
            self.file
                .set_len(end)
                .map_err(|e| self.error(Op::Allocate, e))?;
        }
        Ok(())
    }

    fn try_lock(&self) -> Result<()> {
        match self.file.try_lock() {
            Ok(()) => Ok(()),
            Err(fs::TryLockError::WouldBlock) => Err(Error::Locked {
                path: self.path.clone(),
            }),
            Err(fs::TryLockError::Error(e)) => Err(self.error(Op::Lock, e)),
        }
    }

    fn advise(&self, advice: Advice, offset: u64, len: u64) -> Result<()> {
        #[cfg(target_os = "linux")]
        {
            use nix::fcntl::{PosixFadviseAdvice, posix_fadvise};
            let advice = match advice {
                Advice::Sequential => PosixFadviseAdvice::POSIX_FADV_SEQUENTIAL,
                Advice::Random => PosixFadviseAdvice::POSIX_FADV_RANDOM,
                Advice::WillNeed => PosixFadviseAdvice::POSIX_FADV_WILLNEED,
                Advice::DontNeed => PosixFadviseAdvice::POSIX_FADV_DONTNEED,
            };
            let start = i64::try_from(offset).unwrap_or(i64::MAX);
            let length = i64::try_from(len).unwrap_or(0);
            posix_fadvise(&self.file, start, length, advice)
                .map_err(|errno| self.error(Op::Advise, io::Error::from(errno)))?;
        }
        #[cfg(not(target_os = "linux"))]
        let _ = (advice, offset, len);
        Ok(())
    }
}

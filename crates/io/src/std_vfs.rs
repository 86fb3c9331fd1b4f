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
        Ok(Arc::new(StdFile::new(file, path.to_path_buf())))
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
    /// `preadv2(RWF_NOWAIT)` failed as unsupported: don't try again.
    pub(crate) nowait_unsupported: std::sync::atomic::AtomicBool,
    /// The `O_DIRECT` descriptor of durable writes (see direct_write.rs).
    pub(crate) direct: crate::direct_write::Direct,
}

impl StdFile {
    /// `sync_file_range` over the range with `flags`: a hint about the
    /// range's write-back, never a durability point.
    #[cfg(target_os = "linux")]
    fn sync_file_range(&self, offset: u64, len: u64, flags: u32) -> Result<()> {
        use std::os::fd::AsRawFd;
        let start = i64::try_from(offset).unwrap_or(i64::MAX);
        let length = i64::try_from(len).unwrap_or(i64::MAX);
        // SAFETY: a plain system call on a descriptor this handle owns
        // (open for its lifetime); it reads no memory of ours.
        let result =
            unsafe { nix::libc::sync_file_range(self.file.as_raw_fd(), start, length, flags) };
        if result != 0 {
            return Err(self.error(Op::Advise, io::Error::last_os_error()));
        }
        Ok(())
    }

    pub(crate) fn new(file: fs::File, path: PathBuf) -> StdFile {
        StdFile {
            file,
            path,
            nowait_unsupported: std::sync::atomic::AtomicBool::new(false),
            direct: crate::direct_write::Direct::default(),
        }
    }
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

    fn write_vectored_at(&self, bufs: &[&[u8]], offset: u64) -> Result<()> {
        #[cfg(target_os = "linux")]
        {
            write_vectored_all(bufs, offset, |slices, position| {
                let position = i64::try_from(position).map_err(io::Error::other)?;
                nix::sys::uio::pwritev(&self.file, slices, position).map_err(io::Error::from)
            })
            .map_err(|e| self.error(Op::Write, e))
        }
        #[cfg(not(target_os = "linux"))]
        {
            let mut position = offset;
            for buf in bufs {
                self.write_all_at(buf, position)?;
                position += buf.len() as u64;
            }
            Ok(())
        }
    }

    fn map_for_reads(&self, len: u64) -> Result<Option<crate::Mapping>> {
        if len == 0 {
            return Ok(None);
        }
        let len = usize::try_from(len)
            .map_err(|_| self.error(Op::Read, io::Error::other("file too large to map")))?;
        // SAFETY: the map is read-only and other writers may change the
        // file under it (so its bytes may change while read, which the
        // caller's checksums catch, never UB for plain bytes); the caller
        // reads only below the file's length (see `File::map_for_reads`).
        let map = unsafe { memmap2::MmapOptions::new().len(len).map(&self.file) }
            .map_err(|e| self.error(Op::Read, e))?;
        Ok(Some(crate::Mapping::new(map)))
    }

    fn read_cached_at(&self, buf: &mut [u8], offset: u64) -> Result<bool> {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            use std::sync::atomic::Ordering;
            if self.nowait_unsupported.load(Ordering::Relaxed) {
                return Ok(false);
            }
            let Ok(position) = i64::try_from(offset) else {
                return Ok(false);
            };
            let iovec = nix::libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            };
            // SAFETY: one iovec over `buf`, which is valid for writes of
            // its length for the whole call; the descriptor is this
            // handle's own, open for its lifetime.
            let read = unsafe {
                nix::libc::preadv2(
                    self.file.as_raw_fd(),
                    &iovec,
                    1,
                    position,
                    nix::libc::RWF_NOWAIT,
                )
            };
            if read >= 0 {
                return Ok(read as usize == buf.len());
            }
            let error = io::Error::last_os_error();
            match error.raw_os_error() {
                Some(nix::libc::EAGAIN | nix::libc::EINTR) => Ok(false),
                // A kernel or file system without RWF_NOWAIT for reads.
                Some(nix::libc::EOPNOTSUPP | nix::libc::EINVAL | nix::libc::ENOSYS) => {
                    self.nowait_unsupported.store(true, Ordering::Relaxed);
                    Ok(false)
                }
                _ => Err(self.error(Op::Read, error)),
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (buf, offset);
            Ok(false)
        }
    }

    fn start_writeback(&self, offset: u64, len: u64) -> Result<()> {
        #[cfg(target_os = "linux")]
        return self.sync_file_range(offset, len, nix::libc::SYNC_FILE_RANGE_WRITE);
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (offset, len);
            Ok(())
        }
    }

    fn wait_writeback(&self, offset: u64, len: u64) -> Result<()> {
        #[cfg(target_os = "linux")]
        return self.sync_file_range(
            offset,
            len,
            nix::libc::SYNC_FILE_RANGE_WAIT_BEFORE
                | nix::libc::SYNC_FILE_RANGE_WRITE
                | nix::libc::SYNC_FILE_RANGE_WAIT_AFTER,
        );
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (offset, len);
            Ok(())
        }
    }

    fn sync_data(&self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|e| self.error(Op::SyncData, e))
    }

    fn write_durable_at(&self, data: &[u8], offset: u64) -> Result<()> {
        self.write_durable(data, offset)
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

    fn readahead_bytes(&self) -> Option<u64> {
        crate::device_readahead::of(&self.file)
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

/// The most buffers one `pwritev` takes (Linux's `UIO_MAXIOV`; more fail
/// with `EINVAL`).
pub(crate) const IOV_MAX: usize = 1024;

/// Writes the concatenation of `bufs` at `offset` through `pwritev`, a
/// vectored positional write that may write less than asked (a short
/// write: it returns how many bytes it wrote) or be interrupted. Calls it
/// again for whatever is left, at most [`IOV_MAX`] buffers at a time,
/// until everything is written.
pub(crate) fn write_vectored_all(
    bufs: &[&[u8]],
    offset: u64,
    mut pwritev: impl FnMut(&[io::IoSlice<'_>], u64) -> io::Result<usize>,
) -> io::Result<()> {
    // The first buffer not wholly written, and how much of it was.
    let mut index = 0;
    let mut done_in_buffer = 0;
    let mut position = offset;
    let mut slices: Vec<io::IoSlice<'_>> = Vec::with_capacity(bufs.len().min(IOV_MAX));
    loop {
        while index < bufs.len() && done_in_buffer == bufs[index].len() {
            index += 1;
            done_in_buffer = 0;
        }
        if index == bufs.len() {
            return Ok(());
        }
        slices.clear();
        slices.push(io::IoSlice::new(&bufs[index][done_in_buffer..]));
        slices.extend(
            bufs[index + 1..]
                .iter()
                .filter(|buf| !buf.is_empty())
                .take(IOV_MAX - 1)
                .map(|buf| io::IoSlice::new(buf)),
        );
        let mut written = match pwritev(&slices, position) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(written) => written,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let asked: usize = slices.iter().map(|slice| slice.len()).sum();
        if written > asked {
            return Err(io::Error::other(format!(
                "pwritev wrote {written} bytes of {asked}"
            )));
        }
        position += written as u64;
        while written > 0 {
            let left = bufs[index].len() - done_in_buffer;
            if written < left {
                done_in_buffer += written;
                written = 0;
            } else {
                written -= left;
                index += 1;
                done_in_buffer = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A read of cached bytes hands them over whole; a read that runs
    /// past the file's end is never whole, so never reported as such.
    #[test]
    fn cached_reads_are_whole_or_not_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = StdVfs.open(&path, OpenMode::CreateNew).unwrap();
        let data: Vec<u8> = (0..8192u32).map(|i| (i % 251) as u8).collect();
        file.write_all_at(&data, 0).unwrap();
        file.sync_data().unwrap();
        let mut buf = vec![0u8; 4096];
        if file.read_cached_at(&mut buf, 4096).unwrap() {
            assert_eq!(buf, data[4096..]);
        }
        let mut past = vec![0u8; 4096];
        assert!(!file.read_cached_at(&mut past, 6000).unwrap());
        assert!(!file.read_cached_at(&mut past, 1 << 40).unwrap());
    }

    /// Runs `write_vectored_all` into a vector through a fake `pwritev`
    /// that writes at most `step` bytes per call (a short write) and is
    /// interrupted every third call; returns the bytes and the calls.
    fn through_fake(bufs: &[&[u8]], offset: u64, step: usize) -> (Vec<u8>, usize) {
        let mut file = Vec::new();
        let mut calls = 0;
        write_vectored_all(bufs, offset, |slices, position| {
            calls += 1;
            assert!(slices.len() <= IOV_MAX, "{} buffers", slices.len());
            assert!(slices.iter().all(|slice| !slice.is_empty()));
            if calls % 3 == 0 {
                return Err(io::Error::from(io::ErrorKind::Interrupted));
            }
            let mut written = 0;
            for slice in slices {
                let take = slice.len().min(step - written);
                let start = position as usize + written;
                if file.len() < start + take {
                    file.resize(start + take, 0);
                }
                file[start..start + take].copy_from_slice(&slice[..take]);
                written += take;
                if written == step {
                    break;
                }
            }
            Ok(written)
        })
        .expect("the fake never fails for good");
        (file, calls)
    }

    #[test]
    fn short_and_interrupted_writes_are_continued() {
        let bufs: Vec<Vec<u8>> = (0..7u8).map(|i| vec![i; 5 + i as usize * 3]).collect();
        let mut bufs: Vec<&[u8]> = bufs.iter().map(Vec::as_slice).collect();
        bufs.insert(2, &[]);
        let expected: Vec<u8> = bufs.concat();
        for step in [1, 2, 4, 7, 13, 1000] {
            let (file, _) = through_fake(&bufs, 3, step);
            assert_eq!(&file[3..], &expected[..], "step {step}");
            assert_eq!(file[..3], [0, 0, 0]);
        }
    }

    #[test]
    fn more_buffers_than_iov_max_take_several_calls() {
        let bytes: Vec<u8> = (0..IOV_MAX * 2 + 5).map(|i| i as u8).collect();
        let bufs: Vec<&[u8]> = bytes.chunks(1).collect();
        let (file, calls) = through_fake(&bufs, 0, usize::MAX);
        assert_eq!(file, bytes);
        // Three full calls, and the one interrupted on the way.
        assert_eq!(calls, 4);
    }

    #[test]
    fn a_write_of_nothing_is_an_error_not_a_loop() {
        let error = write_vectored_all(&[b"abc"], 0, |_, _| Ok(0)).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::WriteZero);
        write_vectored_all(&[&[], &[]], 0, |_, _| panic!("nothing to write"))
            .expect("empty buffers need no call");
    }
}

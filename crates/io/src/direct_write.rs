//! `StdFile`'s one-step durable write ([`File::write_durable_at`]): on
//! Linux, whole aligned blocks go out through a second descriptor of the
//! same file opened with `O_DIRECT`, by `pwritev2(RWF_DSYNC)` — one device
//! request (a write with FUA, or a write and a flush the block layer
//! issues together) instead of a buffered write, then `fdatasync`'s
//! write-back and cache flush. Measured on this project's VM (virtio
//! disk without FUA, ext4), appending 230-byte records durably: p50
//! 101-105 us against 108-115 us for `pwrite` + `fdatasync`, alternated
//! runs; keel's single-writer durable commits, 20 alternated runs of 400:
//! median p50 80.8 against 83.0 us, faster in 18 of the 20.
//!
//! The second descriptor reopens `/proc/self/fd/N`, so it is the same
//! file even after a rename. A file system that refuses `O_DIRECT`
//! (tmpfs), a missing `/proc`, or an `EINVAL` from the write (alignment
//! the device does not take) turns the direct path off for the handle:
//! it falls back to `write_all_at` + `sync_data`, which is always correct.
//! The kernel writes back and drops cached pages of the range a direct
//! write covers, so buffered reads after it see its bytes.

use std::fs;
use std::io;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Op, Result};
use crate::std_vfs::StdFile;
use crate::vfs::{DURABLE_BLOCK_BYTES, File};

/// The direct descriptor of a `StdFile`, opened on first use (`None`: the
/// system gave none), and whether a write refused it since.
#[derive(Debug, Default)]
pub(crate) struct Direct {
    file: OnceLock<Option<fs::File>>,
    off: AtomicBool,
}

impl StdFile {
    /// See [`File::write_durable_at`].
    pub(crate) fn write_durable(&self, data: &[u8], offset: u64) -> Result<()> {
        if let Some(direct) = self.direct_for(data, offset) {
            match write_dsync(direct, data, offset) {
                Ok(()) => return Ok(()),
                Err(error) if error.raw_os_error() == Some(nix::libc::EINVAL) => {
                    self.direct.disable();
                }
                Err(error) => return Err(crate::Error::io(Op::Write, &self.path, error)),
            }
        }
        self.write_all_at(data, offset)?;
        self.sync_data()
    }

    /// The direct descriptor, if `data` at `offset` is aligned for it and
    /// the file has one.
    fn direct_for(&self, data: &[u8], offset: u64) -> Option<&fs::File> {
        let block = DURABLE_BLOCK_BYTES;
        let aligned = !data.is_empty()
            && data.len().is_multiple_of(block)
            && offset.is_multiple_of(block as u64)
            && (data.as_ptr() as usize).is_multiple_of(block);
        if !aligned {
            return None;
        }
        self.direct.get(&self.file)
    }
}

impl Direct {
    fn get(&self, file: &fs::File) -> Option<&fs::File> {
        if self.off.load(Ordering::Relaxed) {
            return None;
        }
        self.file.get_or_init(|| reopen_direct(file)).as_ref()
    }

    /// Turns the direct path off (a write refused it).
    fn disable(&self) {
        self.off.store(true, Ordering::Relaxed);
    }
}

/// A second descriptor of `file` with `O_DIRECT`, if the system gives one.
#[cfg(target_os = "linux")]
fn reopen_direct(file: &fs::File) -> Option<fs::File> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    let path = format!("/proc/self/fd/{}", file.as_raw_fd());
    fs::OpenOptions::new()
        .write(true)
        .custom_flags(nix::libc::O_DIRECT)
        .open(path)
        .ok()
}

#[cfg(not(target_os = "linux"))]
fn reopen_direct(_file: &fs::File) -> Option<fs::File> {
    None
}

/// Writes all of `data` at `offset` through `direct` with `RWF_DSYNC`.
#[cfg(target_os = "linux")]
fn write_dsync(direct: &fs::File, data: &[u8], offset: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut written = 0;
    while written < data.len() {
        let rest = &data[written..];
        let iovec = nix::libc::iovec {
            iov_base: rest.as_ptr().cast_mut().cast(),
            iov_len: rest.len(),
        };
        let position = i64::try_from(offset + written as u64).map_err(io::Error::other)?;
        // SAFETY: one iovec over `rest`, valid for reads of its length for
        // the whole call (the kernel only reads it); the descriptor is
        // open for the call.
        let result = unsafe {
            nix::libc::pwritev2(
                direct.as_raw_fd(),
                &iovec,
                1,
                position,
                nix::libc::RWF_DSYNC,
            )
        };
        match result {
            -1 => {
                let error = io::Error::last_os_error();
                if error.kind() != io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
            0 => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            // A short direct write ends on a block boundary: the rest is
            // still aligned.
            n => written += n as usize,
        }
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn write_dsync(_direct: &fs::File, _data: &[u8], _offset: u64) -> io::Result<()> {
    Err(io::Error::from_raw_os_error(nix::libc::EINVAL))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

    use super::*;
    use crate::{OpenMode, StdVfs, Vfs};

    /// A page-aligned buffer of `blocks` blocks filled with `byte`.
    fn aligned(blocks: usize, byte: u8) -> memmap2::MmapMut {
        let mut map = memmap2::MmapMut::map_anon(blocks * DURABLE_BLOCK_BYTES).unwrap();
        map.fill(byte);
        map
    }

    #[test]
    fn an_aligned_durable_write_lands_and_reads_back_through_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = StdFile::new(StdVfs::open_std(&path, OpenMode::CreateNew).unwrap(), path);
        file.write_all_at(&[7u8; 16_384], 0).unwrap();
        // Cached by the buffered write, then overwritten directly.
        let mut read = vec![0u8; 16_384];
        file.read_at(&mut read, 0).unwrap();
        let data = aligned(2, 9);
        file.write_durable_at(&data, 4096).unwrap();
        file.read_at(&mut read, 0).unwrap();
        assert!(read[..4096].iter().all(|&b| b == 7));
        assert!(read[4096..4096 * 3].iter().all(|&b| b == 9));
        assert!(read[4096 * 3..].iter().all(|&b| b == 7));
        // It went the direct way where the file system takes O_DIRECT (a
        // temporary directory on tmpfs takes the fallback instead).
        if reopen_direct(&file.file).is_some() {
            assert!(
                matches!(file.direct.file.get(), Some(Some(_))),
                "the direct descriptor is open"
            );
            assert!(
                !file.direct.off.load(Ordering::Relaxed),
                "and was not refused"
            );
        }
    }

    #[test]
    fn an_unaligned_durable_write_takes_the_buffered_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = StdVfs.open(&path, OpenMode::CreateNew).unwrap();
        file.write_durable_at(b"hello", 3).unwrap();
        let mut read = vec![0u8; 8];
        assert_eq!(file.read_at(&mut read, 0).unwrap(), 8);
        assert_eq!(&read, b"\0\0\0hello");
    }

    #[test]
    fn a_renamed_file_is_still_the_one_written() {
        let dir = tempfile::tempdir().unwrap();
        let (first, second) = (dir.path().join("a"), dir.path().join("b"));
        let file = StdVfs.open(&first, OpenMode::CreateNew).unwrap();
        StdVfs.rename(&first, &second).unwrap();
        // A new file under the old name must not receive the write.
        let other = StdVfs.open(&first, OpenMode::CreateNew).unwrap();
        file.write_durable_at(&aligned(1, 5), 0).unwrap();
        assert_eq!(file.size().unwrap(), 4096);
        assert_eq!(other.size().unwrap(), 0);
        let mut read = vec![0u8; 4096];
        StdVfs
            .open(&second, OpenMode::Existing)
            .unwrap()
            .read_at(&mut read, 0)
            .unwrap();
        assert!(read.iter().all(|&b| b == 5));
    }
}

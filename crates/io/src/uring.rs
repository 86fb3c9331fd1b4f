//! `UringVfs`: the real file system with batched writes + fsync submitted
//! through io_uring in one system call (Linux, feature `io-uring`).
//!
//! Everything but [`File::write_batch`] is the [`StdVfs`] path. A ring is
//! created per file on its first batch; if the kernel refuses io_uring, or a
//! ring ever fails to submit, that file falls back to the std path for good.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use io_uring::{IoUring, Probe, opcode, squeue, types};
use parking_lot::Mutex;

use crate::error::{Error, Op, Result};
use crate::std_vfs::{StdFile, StdVfs};
use crate::vfs::{Advice, File, FileHandle, OpenMode, Vfs, WriteAt};

/// Submission entries per ring: a batch larger than this is submitted in
/// chunks. The completion queue is twice as large, so it never overflows.
pub const RING_ENTRIES: u32 = 64;

/// The largest single write submitted through the ring; larger ones take
/// the std path (the kernel's length field is 32 bits).
pub const RING_WRITE_BYTES_MAX: usize = 1 << 30;

const FSYNC_USER_DATA: u64 = u64::MAX;

/// Submission errors after which the same call may simply be repeated.
fn is_transient(error: &std::io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(nix::libc::EINTR | nix::libc::EAGAIN)
    )
}

/// The real file system with io_uring batched writes.
#[derive(Debug, Clone, Copy)]
pub struct UringVfs {
    std: StdVfs,
}

impl UringVfs {
    /// `Some` if this kernel accepts io_uring and supports the write and
    /// fsync operations; `None` means: use [`StdVfs`].
    pub fn new() -> Option<Self> {
        let ring = IoUring::new(RING_ENTRIES).ok()?;
        let mut probe = Probe::new();
        ring.submitter().register_probe(&mut probe).ok()?;
        if probe.is_supported(opcode::Write::CODE) && probe.is_supported(opcode::Fsync::CODE) {
            Some(UringVfs { std: StdVfs })
        } else {
            None
        }
    }
}

impl Vfs for UringVfs {
    fn open(&self, path: &Path, mode: OpenMode) -> Result<FileHandle> {
        let file = StdVfs::open_std(path, mode)?;
        Ok(Arc::new(UringFile {
            std: StdFile::new(file, path.to_path_buf()),
            ring: Mutex::new(RingState::Unopened),
        }))
    }
    fn remove(&self, path: &Path) -> Result<()> {
        self.std.remove(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> Result<()> {
        self.std.rename(from, to)
    }
    fn list(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        self.std.list(dir)
    }
    fn create_dir_all(&self, dir: &Path) -> Result<()> {
        self.std.create_dir_all(dir)
    }
    fn sync_dir(&self, dir: &Path) -> Result<()> {
        self.std.sync_dir(dir)
    }
    fn exists(&self, path: &Path) -> Result<bool> {
        self.std.exists(path)
    }
}

enum RingState {
    Unopened,
    Open(Box<IoUring>),
    /// The kernel refused a ring, or one failed: use the std path.
    Unavailable,
}

/// A file whose batches go through io_uring.
pub struct UringFile {
    std: StdFile,
    ring: Mutex<RingState>,
}

impl std::fmt::Debug for UringFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UringFile")
            .field("path", &self.std.path)
            .finish()
    }
}

impl UringFile {
    fn std_batch(&self, writes: &[WriteAt<'_>], sync: bool) -> Result<()> {
        for write in writes {
            self.std.write_all_at(write.data, write.offset)?;
        }
        if sync {
            self.std.sync_data()?;
        }
        Ok(())
    }

    fn os_error(&self, op: Op, errno: i32) -> Error {
        Error::io(op, &self.std.path, std::io::Error::from_raw_os_error(errno))
    }

    /// Submits one chunk (and the fsync if `sync`) and waits for all of it.
    /// Returns `Ok(false)` if the ring could not submit anything: the caller
    /// falls back to the std path.
    fn submit_chunk(&self, ring: &mut IoUring, chunk: &[WriteAt<'_>], sync: bool) -> Result<bool> {
        let fd = types::Fd(self.std.file.as_raw_fd());
        let mut pushed = 0usize;
        for (index, write) in chunk.iter().enumerate() {
            let entry = opcode::Write::new(fd, write.data.as_ptr(), write.data.len() as u32)
                .offset(write.offset)
                .build()
                // Linked so that the fsync at the end of the chain starts
                // after every write (measured faster than IO_DRAIN).
                .flags(if sync {
                    squeue::Flags::IO_LINK
                } else {
                    squeue::Flags::empty()
                })
                .user_data(index as u64);
            // SAFETY: the entry points into `write.data`, which is borrowed
            // for this whole call, and this function does not return until
            // every submitted entry has completed (or nothing was submitted
            // and the ring is dropped, so the kernel never reads it).
            if unsafe { ring.submission().push(&entry) }.is_err() {
                break;
            }
            pushed += 1;
        }
        debug_assert_eq!(pushed, chunk.len(), "chunks are sized to the ring");
        if sync {
            let entry = opcode::Fsync::new(fd)
                .flags(types::FsyncFlags::DATASYNC)
                .build()
                .user_data(FSYNC_USER_DATA);
            // SAFETY: an fsync entry references no memory.
            if unsafe { ring.submission().push(&entry) }.is_ok() {
                pushed += 1;
            }
        }

        let mut submitted = 0usize;
        while submitted < pushed {
            match ring.submit() {
                Ok(count) => submitted += count,
                Err(e) if is_transient(&e) => {}
                Err(_) if submitted == 0 => return Ok(false),
                // Some entries are in flight: reap those, then give up the ring.
                Err(_) => break,
            }
        }

        // A short write breaks the chain: the entries after it complete
        // with ECANCELED and are finished on the std path, then synced.
        let mut finish_on_std = false;
        let mut first_error = None;
        let mut reaped = 0usize;
        while reaped < submitted {
            if ring.completion().is_empty() {
                match ring.submit_and_wait(1) {
                    Ok(_) => {}
                    Err(e) if is_transient(&e) => continue,
                    Err(e) => {
                        first_error.get_or_insert(Error::io(Op::Write, &self.std.path, e));
                        continue;
                    }
                }
            }
            for completion in ring.completion() {
                reaped += 1;
                let result = completion.result();
                if completion.user_data() == FSYNC_USER_DATA {
                    if result == -nix::libc::ECANCELED {
                        finish_on_std = true;
                    } else if result < 0 {
                        first_error.get_or_insert(self.os_error(Op::SyncData, -result));
                    }
                    continue;
                }
                let Some(write) = chunk.get(completion.user_data() as usize) else {
                    continue;
                };
                let done = if result == -nix::libc::ECANCELED {
                    0
                } else if result < 0 {
                    first_error.get_or_insert(self.os_error(Op::Write, -result));
                    continue;
                } else {
                    result as usize
                };
                if done < write.data.len() {
                    finish_on_std = true;
                    if let Err(e) = self
                        .std
                        .write_all_at(&write.data[done..], write.offset + done as u64)
                    {
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        if let Some(error) = first_error {
            return Err(error);
        }
        if submitted < pushed {
            // Not everything went in: finish this chunk on the std path.
            self.std_batch(chunk, sync)?;
            return Ok(false);
        }
        if finish_on_std && sync {
            self.std.sync_data()?;
        }
        Ok(true)
    }
}

impl File for UringFile {
    fn path(&self) -> &Path {
        self.std.path()
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        self.std.read_at(buf, offset)
    }
    fn write_all_at(&self, data: &[u8], offset: u64) -> Result<()> {
        self.std.write_all_at(data, offset)
    }
    fn write_vectored_at(&self, bufs: &[&[u8]], offset: u64) -> Result<()> {
        self.std.write_vectored_at(bufs, offset)
    }
    fn start_writeback(&self, offset: u64, len: u64) -> Result<()> {
        self.std.start_writeback(offset, len)
    }
    fn wait_writeback(&self, offset: u64, len: u64) -> Result<()> {
        self.std.wait_writeback(offset, len)
    }
    fn sync_data(&self) -> Result<()> {
        self.std.sync_data()
    }
    fn size(&self) -> Result<u64> {
        self.std.size()
    }
    fn set_len(&self, size: u64) -> Result<()> {
        self.std.set_len(size)
    }
    fn allocate(&self, offset: u64, len: u64) -> Result<()> {
        self.std.allocate(offset, len)
    }
    fn try_lock(&self) -> Result<()> {
        self.std.try_lock()
    }

    fn read_cached_at(&self, buf: &mut [u8], offset: u64) -> Result<bool> {
        self.std.read_cached_at(buf, offset)
    }

    fn readahead_bytes(&self) -> Option<u64> {
        self.std.readahead_bytes()
    }

    fn advise(&self, advice: Advice, offset: u64, len: u64) -> Result<()> {
        self.std.advise(advice, offset, len)
    }

    fn write_batch(&self, writes: &[WriteAt<'_>], sync: bool) -> Result<()> {
        if writes
            .iter()
            .any(|write| write.data.len() > RING_WRITE_BYTES_MAX)
        {
            return self.std_batch(writes, sync);
        }
        let mut state = self.ring.lock();
        if matches!(*state, RingState::Unopened) {
            *state = match IoUring::new(RING_ENTRIES) {
                Ok(ring) => RingState::Open(Box::new(ring)),
                Err(_) => RingState::Unavailable,
            };
        }
        let RingState::Open(ring) = &mut *state else {
            return self.std_batch(writes, sync);
        };
        // One entry of the last chunk is kept for the fsync.
        let chunk_entries = RING_ENTRIES as usize - 1;
        let chunk_count = writes.len().div_ceil(chunk_entries).max(1);
        for (index, chunk) in writes.chunks(chunk_entries).enumerate() {
            let last = index + 1 == chunk_count;
            if !self.submit_chunk(ring, chunk, sync && last)? {
                *state = RingState::Unavailable;
                let rest = &writes[index * chunk_entries..];
                return self.std_batch(rest, sync);
            }
        }
        if writes.is_empty() && sync {
            self.std.sync_data()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On a kernel that accepts io_uring, a batch must really go through the
    /// ring (a silent fallback would make the benchmark compare std to std).
    #[test]
    fn batches_use_the_ring_when_the_kernel_has_one() {
        let Some(vfs) = UringVfs::new() else {
            eprintln!("io_uring refused by this kernel: fallback path only");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let handle = vfs
            .open(&dir.path().join("f"), OpenMode::CreateNew)
            .unwrap();
        let data = [5u8; 4096];
        let writes: Vec<WriteAt<'_>> = (0..200)
            .map(|i| WriteAt {
                offset: i * 4096,
                data: &data,
            })
            .collect();
        handle.write_batch(&writes, true).unwrap();
        let path = handle.path().to_path_buf();
        drop(handle);
        let file = StdVfs::open_std(&path, OpenMode::Existing).unwrap();
        assert_eq!(file.metadata().unwrap().len(), 200 * 4096);

        let direct = UringFile {
            std: StdFile::new(file, path),
            ring: Mutex::new(RingState::Unopened),
        };
        direct.write_batch(&writes[..3], true).unwrap();
        assert!(matches!(*direct.ring.lock(), RingState::Open(_)));
    }
}

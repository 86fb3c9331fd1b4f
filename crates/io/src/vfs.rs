//! The `Vfs` and `File` traits: everything keel stores goes through them.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};

/// A shared handle to an open file. Files are used from several threads at
/// once (a WAL writer and its readers, the pager's readers), so handles are
/// reference counted and every method takes `&self`.
pub type FileHandle = Arc<dyn File>;

/// How [`Vfs::open`] treats a missing or existing file. Files are always
/// opened for reading and writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// The file must exist.
    Existing,
    /// The file must not exist; it is created empty.
    CreateNew,
    /// Open the file, creating it empty if it is missing.
    CreateOrOpen,
}

/// An access-pattern hint for [`File::advise`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advice {
    /// The range will be read sequentially (larger read-ahead).
    Sequential,
    /// The range will be read randomly (no read-ahead).
    Random,
    /// The range will be needed soon (start reading it now).
    WillNeed,
    /// The range will not be needed again soon (drop it from the cache).
    DontNeed,
}

/// A read-only memory map of a file (see [`File::map_for_reads`]).
#[derive(Debug)]
pub struct Mapping {
    map: memmap2::Mmap,
}

impl Mapping {
    /// Wraps a map made by a backend.
    pub fn new(map: memmap2::Mmap) -> Mapping {
        Mapping { map }
    }

    /// The mapped bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }
}

/// One positional write of a batch, see [`File::write_batch`].
#[derive(Debug, Clone, Copy)]
pub struct WriteAt<'a> {
    /// Byte offset in the file.
    pub offset: u64,
    /// The bytes to write there.
    pub data: &'a [u8],
}

/// A file system: the real one ([`StdVfs`](crate::StdVfs)) or a simulated
/// disk ([`SimVfs`](crate::SimVfs)).
///
/// Durability contract (the one [`SimVfs`](crate::SimVfs) enforces): file
/// contents are durable only after [`File::sync_data`]; a created, removed or
/// renamed directory entry is durable only after [`Vfs::sync_dir`] on the
/// directory that holds it (for a rename, either directory).
pub trait Vfs: Send + Sync + fmt::Debug {
    /// Opens `path` for reading and writing.
    fn open(&self, path: &Path, mode: OpenMode) -> Result<FileHandle>;
    /// Removes a file.
    fn remove(&self, path: &Path) -> Result<()>;
    /// Atomically renames `from` to `to`, replacing `to` if it exists.
    fn rename(&self, from: &Path, to: &Path) -> Result<()>;
    /// The entries of a directory as full paths, sorted by name.
    fn list(&self, dir: &Path) -> Result<Vec<PathBuf>>;
    /// Creates a directory and any missing parents; existing ones are fine.
    fn create_dir_all(&self, dir: &Path) -> Result<()>;
    /// Makes the entries of `dir` (creations, removals, renames) durable.
    fn sync_dir(&self, dir: &Path) -> Result<()>;
    /// Whether a file or directory exists at `path`.
    fn exists(&self, path: &Path) -> Result<bool>;
}

/// An open file. Reads and writes are positional, so one handle serves
/// many threads without a shared cursor.
pub trait File: Send + Sync + fmt::Debug {
    /// The path the file was opened with (used in error messages).
    fn path(&self) -> &Path;

    /// Reads up to `buf.len()` bytes at `offset`; returns how many were
    /// read, 0 at the end of the file.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize>;

    /// Writes all of `data` at `offset`, extending the file if needed.
    fn write_all_at(&self, data: &[u8], offset: u64) -> Result<()>;

    /// Makes the file's contents and size durable (`fdatasync`).
    fn sync_data(&self) -> Result<()>;

    /// The current size of the file in bytes.
    fn size(&self) -> Result<u64>;

    /// Truncates or extends (with zeros) the file to `size` bytes.
    fn set_len(&self, size: u64) -> Result<()>;

    /// Reserves space for `len` bytes at `offset` so that later writes there
    /// need no allocation; the file size grows to at least `offset + len`
    /// and the new space reads as zeros.
    fn allocate(&self, offset: u64, len: u64) -> Result<()>;

    /// Takes an exclusive advisory lock on the file, held until the last
    /// clone of this handle is dropped. Fails with [`Error::Locked`] if
    /// another handle or process holds it.
    fn try_lock(&self) -> Result<()>;

    /// A read-only memory map of the file's first `len` bytes, where the
    /// backend has one (`StdVfs`); `None` (the default) where it has not.
    /// Reading the map past the file's end, or where the device fails,
    /// raises `SIGBUS` instead of an error: the caller must never read
    /// past what the file holds.
    fn map_for_reads(&self, len: u64) -> Result<Option<Mapping>> {
        let _ = len;
        Ok(None)
    }

    /// How many bytes the OS reads around a page fault of a memory-mapped
    /// file on this file's device (Linux: the device's `read_ahead_kb`):
    /// the window a reader that emulates a mapped file's read-around with
    /// [`Advice::WillNeed`] asks for. `None` where the OS does not tell
    /// (the default).
    fn readahead_bytes(&self) -> Option<u64> {
        None
    }

    /// Hints how a range will be accessed; a no-op where unsupported.
    fn advise(&self, advice: Advice, offset: u64, len: u64) -> Result<()> {
        let _ = (advice, offset, len);
        Ok(())
    }

    /// Starts writing the range's dirty data to the device, without
    /// waiting and without making anything durable: a hint that lets the
    /// device work while the caller prepares more, so that a later
    /// [`File::sync_data`] has less left to wait for (`sync_file_range`
    /// with `SYNC_FILE_RANGE_WRITE` on Linux). A no-op where unsupported,
    /// and on [`SimVfs`](crate::SimVfs): durability is unchanged, so are
    /// the crash semantics. A failure is not a write failure (a failed
    /// write-back still fails the next `sync_data`).
    fn start_writeback(&self, offset: u64, len: u64) -> Result<()> {
        let _ = (offset, len);
        Ok(())
    }

    /// Waits until the range's write-back, started earlier with
    /// [`File::start_writeback`], has reached the device (it starts any
    /// not started yet): a bound on how much a caller's writes queue ahead
    /// of other writers' — a log sync queued behind a checkpoint's
    /// megabytes waits for all of them. Not a durability point: nothing is
    /// flushed from the device's cache and no metadata is written; only
    /// [`File::sync_data`] makes anything durable (`sync_file_range` with
    /// `WAIT_BEFORE | WRITE | WAIT_AFTER` on Linux). A no-op where
    /// unsupported, and on [`SimVfs`](crate::SimVfs).
    fn wait_writeback(&self, offset: u64, len: u64) -> Result<()> {
        let _ = (offset, len);
        Ok(())
    }

    /// Reads exactly `buf.len()` bytes at `offset` if the OS has all of
    /// them in its cache, without waiting for the device: `Ok(true)`.
    /// `Ok(false)` when some are not cached (nothing is waited for; `buf`
    /// may be partly written) or the backend cannot tell (the default):
    /// then read with [`File::read_exact_at`]. Lets a caller ask the OS to
    /// read ahead only when the device will really be read.
    fn read_cached_at(&self, buf: &mut [u8], offset: u64) -> Result<bool> {
        let _ = (buf, offset);
        Ok(false)
    }

    /// Reads exactly `buf.len()` bytes at `offset`, or fails with
    /// [`Error::UnexpectedEof`] naming the offset and file size.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let mut done = 0;
        while done < buf.len() {
            let position = offset + done as u64;
            let read = self.read_at(&mut buf[done..], position)?;
            if read == 0 {
                return Err(Error::UnexpectedEof {
                    path: self.path().to_path_buf(),
                    offset,
                    wanted: buf.len(),
                    size: self.size()?,
                });
            }
            done += read;
        }
        Ok(())
    }

    /// Writes the concatenation of `bufs` at `offset`: `bufs[0]` at
    /// `offset`, `bufs[1]` right after it, and so on, extending the file if
    /// needed — one system call for many buffers where the backend has a
    /// vectored write (`pwritev` for [`StdVfs`](crate::StdVfs)), so that
    /// pages scattered in memory go out as one large write without being
    /// copied together first.
    ///
    /// It is exactly the sequence of `write_all_at(bufs[i], offset + the
    /// lengths before i)`, which is what the default does and how
    /// [`SimVfs`](crate::SimVfs) counts, crashes and tears it (one mutating
    /// operation per non-empty buffer). On error, any of the bytes may have
    /// been written, and none of them is durable.
    fn write_vectored_at(&self, bufs: &[&[u8]], offset: u64) -> Result<()> {
        let mut position = offset;
        for buf in bufs {
            if !buf.is_empty() {
                self.write_all_at(buf, position)?;
            }
            position += buf.len() as u64;
        }
        Ok(())
    }

    /// Writes `data` at `offset` and makes it durable before returning.
    /// The default is `write_all_at` then `sync_data` (so it also makes
    /// durable what was written to the file before); a backend may do it
    /// in one step when `data` is whole blocks of [`DURABLE_BLOCK_BYTES`]
    /// at a block-aligned offset and address (`StdVfs` on Linux: a direct
    /// write with `RWF_DSYNC`, one device request instead of a write and
    /// a cache flush), which makes only `data` durable. A caller that
    /// wants earlier writes durable too syncs them first. On error, any of
    /// the bytes may have been written, and none of them is durable.
    fn write_durable_at(&self, data: &[u8], offset: u64) -> Result<()> {
        self.write_all_at(data, offset)?;
        self.sync_data()
    }

    /// Writes every entry of `writes`, then, if `sync`, makes them durable.
    /// Backends may submit the whole batch at once (io_uring); the default
    /// writes one after the other. On error, any subset of the writes may
    /// have happened, and none of them is durable.
    fn write_batch(&self, writes: &[WriteAt<'_>], sync: bool) -> Result<()> {
        for write in writes {
            self.write_all_at(write.data, write.offset)?;
        }
        if sync {
            self.sync_data()?;
        }
        Ok(())
    }
}

/// The block a one-step durable write needs its data, offset and address
/// aligned to ([`File::write_durable_at`]): 4 KiB, a multiple of every
/// common device's logical block.
pub const DURABLE_BLOCK_BYTES: usize = 4096;

/// Reads a whole file into memory (for small files: metadata, tests).
pub fn read_to_end(file: &dyn File) -> Result<Vec<u8>> {
    let size = file.size()?;
    let size = usize::try_from(size).map_err(|_| {
        Error::io(
            crate::Op::Read,
            file.path(),
            std::io::Error::new(
                std::io::ErrorKind::OutOfMemory,
                "file too large to read whole",
            ),
        )
    })?;
    let mut buf = vec![0; size];
    file.read_exact_at(&mut buf, 0)?;
    Ok(buf)
}

/// Bytes [`copy_prefix`] moves per read and write.
pub const COPY_BUFFER_BYTES: usize = 1 << 20;

/// Copies bytes `0..len` of `source` to the same offsets of `target`,
/// [`COPY_BUFFER_BYTES`] at a time (nothing is synced).
pub fn copy_prefix(source: &dyn File, target: &dyn File, len: u64) -> Result<()> {
    let mut buffer = vec![0u8; COPY_BUFFER_BYTES];
    let mut offset = 0;
    while offset < len {
        let count = buffer.len().min((len - offset) as usize);
        source.read_exact_at(&mut buffer[..count], offset)?;
        target.write_all_at(&buffer[..count], offset)?;
        offset += count as u64;
    }
    Ok(())
}

/// Creates `dir` and any missing parents, and makes each new directory's
/// name durable by syncing its parent — `create_dir_all` alone leaves new
/// directories (and everything later put in them) to be lost in a crash.
pub fn create_dir_all_durable(vfs: &dyn Vfs, dir: &Path) -> Result<()> {
    let mut missing = Vec::new();
    for ancestor in dir.ancestors() {
        if ancestor.as_os_str().is_empty() || vfs.exists(ancestor)? {
            break;
        }
        missing.push(ancestor);
    }
    vfs.create_dir_all(dir)?;
    // Outermost first, so each synced entry hangs off a durable parent.
    for created in missing.iter().rev() {
        let parent = match created.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        vfs.sync_dir(parent)?;
    }
    Ok(())
}

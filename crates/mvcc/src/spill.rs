//! Spilled runs: a transaction's writes, sorted, in an unnamed temporary
//! file instead of memory, so that a transaction's size is bounded by disk.
//!
//! A [`SpillWriter`] takes entries in key order and writes two unnamed
//! files (`O_TMPFILE` where the system has it): the entries back to back,
//! and the offset of each (8 bytes, little-endian). [`SpillRun`] maps both
//! read-only: the `n`th entry is one offset load away, keys and values are
//! [`Bytes`] slices of the mapping (no copy), and a run costs no heap
//! memory per entry — the kernel pages it like any file. The files have no
//! name, so a crash leaves nothing behind: the log, not the run, is what
//! makes a commit durable.
//!
//! An entry: key length (u32), key, a tag (0 delete, 1 put, 2 put with an
//! expiry), the expiry (u64, tag 2 only), value length (u64) and value
//! (puts only); integers little-endian. The files are this process's own,
//! written and read by this module only; decoding still never indexes out
//! of bounds (a short entry decodes as empty).

use std::borrow::Borrow;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use memmap2::Mmap;

use crate::error::{Error, Result};
use crate::write_set::{Change, WriteEntry, WriteSet};

/// Buffer of each file's writer.
const WRITE_BUFFER_BYTES: usize = 1 << 20;

const TAG_DELETE: u8 = 0;
const TAG_PUT: u8 = 1;
const TAG_PUT_EXPIRING: u8 = 2;

/// Writes one run (see the module docs). Entries must come in strictly
/// increasing key order.
pub(crate) struct SpillWriter {
    data: BufWriter<File>,
    index: BufWriter<File>,
    offset: u64,
    count: usize,
    bytes: u64,
}

impl SpillWriter {
    /// Starts a run in `dir`.
    pub(crate) fn new(dir: &Path) -> io::Result<SpillWriter> {
        Ok(SpillWriter {
            data: BufWriter::with_capacity(WRITE_BUFFER_BYTES, tempfile::tempfile_in(dir)?),
            index: BufWriter::with_capacity(WRITE_BUFFER_BYTES / 8, tempfile::tempfile_in(dir)?),
            offset: 0,
            count: 0,
            bytes: 0,
        })
    }

    /// Appends the next entry.
    pub(crate) fn push(&mut self, key: &[u8], change: &Change) -> io::Result<()> {
        self.index.write_all(&self.offset.to_le_bytes())?;
        let key_length = u32::try_from(key.len()).map_err(|_| too_long("key"))?;
        self.data.write_all(&key_length.to_le_bytes())?;
        self.data.write_all(key)?;
        let mut written = 4 + key.len() as u64 + 1;
        match change {
            Change::Delete => self.data.write_all(&[TAG_DELETE])?,
            Change::Put {
                value,
                expires_at_ms,
            } => {
                if let Some(expires_at_ms) = expires_at_ms {
                    self.data.write_all(&[TAG_PUT_EXPIRING])?;
                    self.data.write_all(&expires_at_ms.to_le_bytes())?;
                    written += 8;
                } else {
                    self.data.write_all(&[TAG_PUT])?;
                }
                self.data.write_all(&(value.len() as u64).to_le_bytes())?;
                self.data.write_all(value)?;
                written += 8 + value.len() as u64;
            }
        }
        self.offset += written;
        self.count += 1;
        self.bytes += (key.len() + change.value_bytes()) as u64;
        Ok(())
    }

    /// Maps the finished run.
    pub(crate) fn finish(self) -> io::Result<SpillRun> {
        let data = self.data.into_inner().map_err(|error| error.into_error())?;
        let index = self
            .index
            .into_inner()
            .map_err(|error| error.into_error())?;
        Ok(SpillRun {
            data: map(&data)?,
            index: map(&index)?,
            len: self.count,
            bytes: self.bytes,
        })
    }
}

/// Writes `entries` (in strictly increasing key order) as a finished run
/// in `dir`.
pub(crate) fn write_run<K: AsRef<[u8]>, C: Borrow<Change>>(
    dir: &Path,
    entries: impl IntoIterator<Item = (K, C)>,
) -> io::Result<SpillRun> {
    let mut writer = SpillWriter::new(dir)?;
    for (key, change) in entries {
        writer.push(key.as_ref(), change.borrow())?;
    }
    writer.finish()
}

fn too_long(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("a {what} too long to spill"),
    )
}

/// A read-only map of `file` as shared bytes (empty for an empty file,
/// which cannot be mapped).
fn map(file: &File) -> io::Result<Bytes> {
    if file.metadata()?.len() == 0 {
        return Ok(Bytes::new());
    }
    // SAFETY: the file is an unnamed temporary this module created and no
    // longer writes (its writer was consumed); no other process can open
    // it by name, so the mapped bytes do not change under the map.
    let map = unsafe { Mmap::map(file)? };
    Ok(Bytes::from_owner(map))
}

/// A finished run, mapped (see the module docs).
pub(crate) struct SpillRun {
    data: Bytes,
    index: Bytes,
    len: usize,
    bytes: u64,
}

impl std::fmt::Debug for SpillRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpillRun")
            .field("len", &self.len)
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl SpillRun {
    /// Entries in the run.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes of keys and values.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes
    }

    fn offset(&self, position: usize) -> usize {
        read_u64(&self.index, position.saturating_mul(8)) as usize
    }

    /// The key of the entry at `position`.
    pub(crate) fn key(&self, position: usize) -> &[u8] {
        let offset = self.offset(position);
        let length = read_u32(&self.data, offset) as usize;
        slice(&self.data, offset.saturating_add(4), length)
    }

    /// The entry at `position`, its key and value slices of the map.
    pub(crate) fn entry(&self, position: usize) -> WriteEntry {
        let data = &self.data;
        let offset = self.offset(position);
        let key_length = read_u32(data, offset) as usize;
        let key_start = offset.saturating_add(4);
        let mut at = key_start.saturating_add(key_length);
        let tag = data.get(at).copied().unwrap_or(TAG_DELETE);
        at = at.saturating_add(1);
        let expires_at_ms = (tag == TAG_PUT_EXPIRING).then(|| {
            let expiry = read_u64(data, at);
            at = at.saturating_add(8);
            expiry
        });
        let change = if tag == TAG_DELETE {
            Change::Delete
        } else {
            let length = read_u64(data, at) as usize;
            Change::Put {
                value: share(data, at.saturating_add(8), length),
                expires_at_ms,
            }
        };
        WriteEntry {
            key: share(data, key_start, key_length),
            change,
        }
    }

    /// Where `key` is (`Ok`) or would be (`Err`).
    pub(crate) fn search(&self, key: &[u8]) -> Result<usize, usize> {
        let (mut low, mut high) = (0, self.len);
        while low < high {
            let middle = low + (high - low) / 2;
            match self.key(middle).cmp(key) {
                std::cmp::Ordering::Less => low = middle + 1,
                std::cmp::Ordering::Greater => high = middle,
                std::cmp::Ordering::Equal => return Ok(middle),
            }
        }
        Err(low)
    }
}

fn read_u32(data: &[u8], at: usize) -> u32 {
    data.get(at..at.saturating_add(4))
        .and_then(|bytes| bytes.try_into().ok())
        .map_or(0, u32::from_le_bytes)
}

fn read_u64(data: &[u8], at: usize) -> u64 {
    data.get(at..at.saturating_add(8))
        .and_then(|bytes| bytes.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

fn slice(data: &[u8], at: usize, length: usize) -> &[u8] {
    data.get(at..at.saturating_add(length)).unwrap_or_default()
}

fn share(data: &Bytes, at: usize, length: usize) -> Bytes {
    match at.checked_add(length) {
        Some(end) if end <= data.len() => data.slice(at..end),
        _ => Bytes::new(),
    }
}

/// Builds a [`WriteSet`] from entries in key order (a write set read back
/// from the log, part by part): in memory up to a budget, past it in a
/// spilled run, so that replaying a transaction larger than memory fits
/// as its commit did.
pub struct WriteSetBuilder {
    transaction_id: u64,
    entries: Vec<WriteEntry>,
    bytes: u64,
    memory_bytes_max: u64,
    dir: PathBuf,
    writer: Option<SpillWriter>,
    last_key: Option<bytes::Bytes>,
}

impl std::fmt::Debug for WriteSetBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteSetBuilder")
            .field("bytes", &self.bytes)
            .field("spilled", &self.writer.is_some())
            .finish()
    }
}

impl WriteSetBuilder {
    /// A builder of `transaction_id`'s write set holding up to
    /// `memory_bytes_max` bytes of keys and values in memory, spilling
    /// past it to `dir` (`None`: the system's temporary directory).
    pub fn new(
        transaction_id: u64,
        memory_bytes_max: u64,
        dir: Option<&PathBuf>,
    ) -> WriteSetBuilder {
        WriteSetBuilder {
            transaction_id,
            entries: Vec::new(),
            bytes: 0,
            memory_bytes_max,
            dir: spill_dir(dir),
            writer: None,
            last_key: None,
        }
    }

    /// Appends the next entry; fails with [`Error::DuplicateKey`] unless
    /// its key comes after the previous one's.
    pub fn push(&mut self, entry: WriteEntry) -> Result<()> {
        if self
            .last_key
            .as_ref()
            .is_some_and(|last| *last >= entry.key)
        {
            return Err(Error::DuplicateKey { key: entry.key });
        }
        self.last_key = Some(entry.key.clone());
        self.bytes += (entry.key.len() + entry.change.value_bytes()) as u64;
        if let Some(writer) = &mut self.writer {
            return writer
                .push(&entry.key, &entry.change)
                .map_err(|source| self.error(source));
        }
        self.entries.push(entry);
        if self.bytes > self.memory_bytes_max {
            let spilled = self.spill();
            spilled.map_err(|source| self.error(source))?;
        }
        Ok(())
    }

    fn spill(&mut self) -> io::Result<()> {
        let mut writer = SpillWriter::new(&self.dir)?;
        for entry in self.entries.drain(..) {
            writer.push(&entry.key, &entry.change)?;
        }
        self.writer = Some(writer);
        Ok(())
    }

    fn error(&self, source: io::Error) -> Error {
        Error::Spill {
            transaction_id: self.transaction_id,
            dir: self.dir.clone(),
            source,
        }
    }

    /// The write set.
    pub fn finish(mut self) -> Result<WriteSet> {
        match self.writer.take() {
            None => Ok(WriteSet::from_sorted(self.entries)),
            Some(writer) => match writer.finish() {
                Ok(run) => Ok(WriteSet::spilled(run)),
                Err(source) => Err(self.error(source)),
            },
        }
    }
}

/// Where spilled runs go: `dir`, or the system's temporary directory.
pub(crate) fn spill_dir(dir: Option<&PathBuf>) -> PathBuf {
    dir.cloned().unwrap_or_else(std::env::temp_dir)
}

//! The dump file format, version 1 (docs/FORMAT.md, "Dump files"):
//! a checksummed header, then checksummed blocks of records, the last
//! record of the last block an `end` record with the counts. Every
//! integer is little-endian.
//!
//! ```text
//! header   magic "KEELDUMP" (8) | version u32 | crc32c of the 12 bytes before (u32)
//! block    payload_bytes u32 | crc32c of the payload u32 | payload
//! record   0x01 keyspace  name_bytes u16 | name
//!          0x02 entry     key_bytes u32 | value_bytes u32 | expires_at_ms u64 (0: never) | key | value
//!          0x03 end       keyspaces u64 | entries u64
//! ```

use std::io::{Read, Write};

use anyhow::{Context, Result, bail, ensure};

/// The file's first 8 bytes.
pub const MAGIC: [u8; 8] = *b"KEELDUMP";
/// The format version this code writes and reads.
pub const VERSION: u32 = 1;
/// Bytes of the header: magic, version, checksum.
pub const HEADER_BYTES: usize = MAGIC.len() + 4 + 4;
/// Bytes before a block's payload: its length and checksum.
pub const BLOCK_HEADER_BYTES: usize = 4 + 4;
/// A block is written once its payload reaches this size.
pub const BLOCK_TARGET_BYTES: usize = 1 << 20;
/// The largest block payload a reader accepts (one block holds at least
/// one record; keel values are at most 16 MiB).
pub const BLOCK_PAYLOAD_BYTES_MAX: usize = 64 << 20;
/// Bytes of an entry record before its key and value.
pub const ENTRY_HEADER_BYTES: usize = 1 + 4 + 4 + 8;

const _: () = assert!(HEADER_BYTES == 16);
const _: () = assert!(ENTRY_HEADER_BYTES == 17);
const _: () = assert!(BLOCK_TARGET_BYTES < BLOCK_PAYLOAD_BYTES_MAX);

const TAG_KEYSPACE: u8 = 1;
const TAG_ENTRY: u8 = 2;
const TAG_END: u8 = 3;

/// One record of a dump.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// The entries that follow belong to this keyspace.
    Keyspace(String),
    /// A key, its value and its expiry (Unix milliseconds).
    Entry {
        /// The key.
        key: Vec<u8>,
        /// The value.
        value: Vec<u8>,
        /// When it expires; `None`: never.
        expires_at_ms: Option<u64>,
    },
}

/// The counts an `end` record holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Keyspace records.
    pub keyspaces: u64,
    /// Entry records.
    pub entries: u64,
}

/// Writes a dump.
#[derive(Debug)]
pub struct DumpWriter<W: Write> {
    out: W,
    payload: Vec<u8>,
    counts: Counts,
}

impl<W: Write> DumpWriter<W> {
    /// Writes the header.
    ///
    /// # Errors
    /// Write errors.
    pub fn new(mut out: W) -> Result<DumpWriter<W>> {
        let mut header = Vec::with_capacity(HEADER_BYTES);
        header.extend_from_slice(&MAGIC);
        header.extend_from_slice(&VERSION.to_le_bytes());
        header.extend_from_slice(&crc32c::crc32c(&header).to_le_bytes());
        debug_assert_eq!(header.len(), HEADER_BYTES);
        out.write_all(&header)?;
        Ok(DumpWriter {
            out,
            payload: Vec::with_capacity(BLOCK_TARGET_BYTES),
            counts: Counts::default(),
        })
    }

    /// Starts the entries of keyspace `name`.
    ///
    /// # Errors
    /// A name longer than 65535 bytes; write errors.
    pub fn keyspace(&mut self, name: &str) -> Result<()> {
        let length = u16::try_from(name.len())
            .with_context(|| format!("keyspace name of {} bytes", name.len()))?;
        self.payload.push(TAG_KEYSPACE);
        self.payload.extend_from_slice(&length.to_le_bytes());
        self.payload.extend_from_slice(name.as_bytes());
        self.counts.keyspaces += 1;
        self.maybe_flush()
    }

    /// Writes one entry of the current keyspace.
    ///
    /// # Errors
    /// A record larger than a block may be; write errors.
    pub fn entry(&mut self, key: &[u8], value: &[u8], expires_at_ms: Option<u64>) -> Result<()> {
        ensure!(self.counts.keyspaces > 0, "an entry before any keyspace");
        let record_bytes = ENTRY_HEADER_BYTES + key.len() + value.len();
        ensure!(
            record_bytes <= BLOCK_PAYLOAD_BYTES_MAX,
            "an entry of {record_bytes} bytes does not fit in a dump block"
        );
        if self.payload.len() + record_bytes > BLOCK_PAYLOAD_BYTES_MAX {
            self.flush_block()?;
        }
        self.payload.push(TAG_ENTRY);
        self.payload
            .extend_from_slice(&u32::try_from(key.len())?.to_le_bytes());
        self.payload
            .extend_from_slice(&u32::try_from(value.len())?.to_le_bytes());
        self.payload
            .extend_from_slice(&expires_at_ms.unwrap_or(0).to_le_bytes());
        self.payload.extend_from_slice(key);
        self.payload.extend_from_slice(value);
        self.counts.entries += 1;
        self.maybe_flush()
    }

    fn maybe_flush(&mut self) -> Result<()> {
        if self.payload.len() >= BLOCK_TARGET_BYTES {
            self.flush_block()?;
        }
        Ok(())
    }

    fn flush_block(&mut self) -> Result<()> {
        if self.payload.is_empty() {
            return Ok(());
        }
        let length = u32::try_from(self.payload.len())?;
        self.out.write_all(&length.to_le_bytes())?;
        self.out
            .write_all(&crc32c::crc32c(&self.payload).to_le_bytes())?;
        self.out.write_all(&self.payload)?;
        self.payload.clear();
        Ok(())
    }

    /// Writes the `end` record and the last block; returns the counts and
    /// the output.
    ///
    /// # Errors
    /// Write errors.
    pub fn finish(mut self) -> Result<(Counts, W)> {
        self.payload.push(TAG_END);
        self.payload
            .extend_from_slice(&self.counts.keyspaces.to_le_bytes());
        self.payload
            .extend_from_slice(&self.counts.entries.to_le_bytes());
        self.flush_block()?;
        self.out.flush()?;
        Ok((self.counts, self.out))
    }
}

/// Reads a dump, verifying every checksum; yields records, then checks
/// the `end` record's counts and that nothing follows it.
#[derive(Debug)]
pub struct DumpReader<R: Read> {
    input: R,
    /// Byte offset of the next block, for error messages.
    offset: u64,
    block: Vec<u8>,
    position: usize,
    counts: Counts,
    ended: bool,
}

fn take<'a>(block: &'a [u8], position: &mut usize, bytes: usize) -> Option<&'a [u8]> {
    let slice = block.get(*position..position.checked_add(bytes)?)?;
    *position += bytes;
    Some(slice)
}

fn read_u16(block: &[u8], position: &mut usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        take(block, position, 2)?.try_into().ok()?,
    ))
}

fn read_u32(block: &[u8], position: &mut usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        take(block, position, 4)?.try_into().ok()?,
    ))
}

fn read_u64(block: &[u8], position: &mut usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        take(block, position, 8)?.try_into().ok()?,
    ))
}

impl<R: Read> DumpReader<R> {
    /// Reads and checks the header.
    ///
    /// # Errors
    /// Not a dump, an unknown version, a bad checksum, read errors.
    pub fn new(mut input: R) -> Result<DumpReader<R>> {
        let mut header = [0u8; HEADER_BYTES];
        input
            .read_exact(&mut header)
            .context("the file is shorter than a dump header")?;
        ensure!(header[..8] == MAGIC, "not a keel dump file (bad magic)");
        let version = u32::from_le_bytes([header[8], header[9], header[10], header[11]]);
        let stored = u32::from_le_bytes([header[12], header[13], header[14], header[15]]);
        let computed = crc32c::crc32c(&header[..12]);
        ensure!(
            stored == computed,
            "header checksum mismatch at byte 12 (stored {stored:#010x}, computed {computed:#010x})"
        );
        ensure!(
            version == VERSION,
            "dump format version {version}; this keel reads version {VERSION}"
        );
        Ok(DumpReader {
            input,
            offset: HEADER_BYTES as u64,
            block: Vec::new(),
            position: 0,
            counts: Counts::default(),
            ended: false,
        })
    }

    /// Bytes consumed so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The counts, once [`DumpReader::next_record`] returned `None`.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    fn next_block(&mut self) -> Result<bool> {
        let mut header = [0u8; BLOCK_HEADER_BYTES];
        let mut filled = 0;
        while filled < header.len() {
            let read = self.input.read(&mut header[filled..])?;
            if read == 0 {
                if filled == 0 {
                    return Ok(false);
                }
                bail!("truncated block header at byte {}", self.offset);
            }
            filled += read;
        }
        let length = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let stored = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        ensure!(
            length > 0 && length <= BLOCK_PAYLOAD_BYTES_MAX,
            "block at byte {} claims {length} bytes (at most {BLOCK_PAYLOAD_BYTES_MAX})",
            self.offset
        );
        self.block.resize(length, 0);
        self.input
            .read_exact(&mut self.block)
            .with_context(|| format!("truncated block at byte {}", self.offset))?;
        let computed = crc32c::crc32c(&self.block);
        ensure!(
            stored == computed,
            "block at byte {} has a checksum mismatch (stored {stored:#010x}, computed {computed:#010x})",
            self.offset
        );
        self.offset += (BLOCK_HEADER_BYTES + length) as u64;
        self.position = 0;
        Ok(true)
    }

    /// The next record; `None` after the `end` record (whose counts were
    /// checked, with nothing after it).
    ///
    /// # Errors
    /// Damage (with the byte offset of its block), truncation, read errors.
    pub fn next_record(&mut self) -> Result<Option<Record>> {
        if self.ended {
            return Ok(None);
        }
        if self.position >= self.block.len() && !self.next_block()? {
            bail!(
                "the dump ends at byte {} without its end record (truncated)",
                self.offset
            );
        }
        let block_offset = self.offset - (BLOCK_HEADER_BYTES + self.block.len()) as u64;
        let malformed = || anyhow::anyhow!("malformed record in the block at byte {block_offset}");
        let block = &self.block;
        let position = &mut self.position;
        let tag = take(block, position, 1).ok_or_else(malformed)?[0];
        match tag {
            TAG_KEYSPACE => {
                let length = read_u16(block, position).ok_or_else(malformed)?;
                let name = take(block, position, usize::from(length)).ok_or_else(malformed)?;
                let name = String::from_utf8(name.to_vec()).map_err(|_| malformed())?;
                self.counts.keyspaces += 1;
                Ok(Some(Record::Keyspace(name)))
            }
            TAG_ENTRY => {
                ensure!(
                    self.counts.keyspaces > 0,
                    "an entry before any keyspace in the block at byte {block_offset}"
                );
                let key_bytes = read_u32(block, position).ok_or_else(malformed)? as usize;
                let value_bytes = read_u32(block, position).ok_or_else(malformed)? as usize;
                let expires_at_ms = read_u64(block, position).ok_or_else(malformed)?;
                let key = take(block, position, key_bytes)
                    .ok_or_else(malformed)?
                    .to_vec();
                let value = take(block, position, value_bytes)
                    .ok_or_else(malformed)?
                    .to_vec();
                self.counts.entries += 1;
                Ok(Some(Record::Entry {
                    key,
                    value,
                    expires_at_ms: (expires_at_ms != 0).then_some(expires_at_ms),
                }))
            }
            TAG_END => {
                let keyspaces = read_u64(block, position).ok_or_else(malformed)?;
                let entries = read_u64(block, position).ok_or_else(malformed)?;
                ensure!(
                    *position == block.len(),
                    "bytes after the end record in the block at byte {block_offset}"
                );
                let claimed = Counts { keyspaces, entries };
                ensure!(
                    claimed == self.counts,
                    "the end record counts {claimed:?} but the dump holds {:?}",
                    self.counts
                );
                let mut extra = [0u8; 1];
                ensure!(
                    self.input.read(&mut extra)? == 0,
                    "bytes after the end of the dump at byte {}",
                    self.offset
                );
                self.ended = true;
                Ok(None)
            }
            other => bail!("unknown record tag {other:#04x} in the block at byte {block_offset}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut writer = DumpWriter::new(Vec::new()).unwrap_or_else(|error| panic!("{error}"));
        let result: Result<()> = (|| {
            writer.keyspace("db0")?;
            writer.entry(b"a", b"1", None)?;
            writer.entry(b"b", &[7u8; 3000], Some(1_800_000_000_000))?;
            writer.keyspace("empty")?;
            writer.keyspace("db1")?;
            writer.entry(b"", b"", None)?;
            Ok(())
        })();
        result.unwrap_or_else(|error| panic!("{error}"));
        let (counts, bytes) = writer.finish().unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(
            counts,
            Counts {
                keyspaces: 3,
                entries: 3
            }
        );
        bytes
    }

    fn read_all(bytes: &[u8]) -> Result<Vec<Record>> {
        let mut reader = DumpReader::new(bytes)?;
        let mut records = Vec::new();
        while let Some(record) = reader.next_record()? {
            records.push(record);
        }
        Ok(records)
    }

    #[test]
    fn a_dump_reads_back_as_written() {
        let records = read_all(&sample()).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(records.len(), 6);
        assert_eq!(records[0], Record::Keyspace("db0".into()));
        assert_eq!(
            records[2],
            Record::Entry {
                key: b"b".to_vec(),
                value: vec![7; 3000],
                expires_at_ms: Some(1_800_000_000_000)
            }
        );
        assert_eq!(
            records[5],
            Record::Entry {
                key: Vec::new(),
                value: Vec::new(),
                expires_at_ms: None
            }
        );
    }

    #[test]
    fn every_flipped_byte_and_every_truncation_is_refused() {
        let bytes = sample();
        for index in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[index] ^= 0x40;
            assert!(read_all(&damaged).is_err(), "flip at {index} accepted");
        }
        for length in 0..bytes.len() {
            assert!(
                read_all(&bytes[..length]).is_err(),
                "truncation at {length} accepted"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(read_all(&longer).is_err(), "trailing bytes accepted");
    }

    #[test]
    fn large_dumps_span_blocks() {
        let mut writer = DumpWriter::new(Vec::new()).unwrap_or_else(|error| panic!("{error}"));
        let value = vec![1u8; 10_000];
        let result: Result<()> = (|| {
            writer.keyspace("big")?;
            for index in 0..300u32 {
                writer.entry(&index.to_be_bytes(), &value, None)?;
            }
            Ok(())
        })();
        result.unwrap_or_else(|error| panic!("{error}"));
        let (_, bytes) = writer.finish().unwrap_or_else(|error| panic!("{error}"));
        assert!(bytes.len() > 2 * BLOCK_TARGET_BYTES);
        let records = read_all(&bytes).unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(records.len(), 301);
    }
}

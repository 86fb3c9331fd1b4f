//! [`TailImage`]: the open segment's last partly written block, kept in
//! memory so that a synced flush can rewrite it whole and go out as one
//! durable write of aligned blocks ([`keel_io::File::write_durable_at`]:
//! on Linux a direct write with `RWF_DSYNC`, one device request instead
//! of a write and `fdatasync`'s flush).
//!
//! A whole-block write carries the bytes of its first block written
//! before (identical, so a torn write of them changes nothing) and zeros
//! after its terminator up to the block's end (where nothing was written:
//! a segment's unwritten space is zeros or a recycled segment's old bytes,
//! which salts already tell apart). The image is known once a write ends
//! past a block boundary; until then (a segment's first block, after an
//! open) flushes take the buffered path.

use keel_io::{DURABLE_BLOCK_BYTES, File};

use crate::error::Result;
use crate::lsn::Lsn;

const BLOCK: usize = DURABLE_BLOCK_BYTES;

/// Synced flushes of at most this many bytes are written whole-block;
/// larger ones (bulk loads) take the buffered path, which writes their
/// shared pieces without copying them.
pub(crate) const WHOLE_BLOCK_BYTES_MAX: usize = 256 << 10;

/// See the module docs.
#[derive(Debug, Default)]
pub(crate) struct TailImage {
    /// One block more than needed, for alignment: the image starts at
    /// `start`, a multiple of [`BLOCK`] in memory.
    buffer: Vec<u8>,
    start: usize,
    /// The segment (its first lsn) and the offset in it of the block the
    /// image holds the start of; `None` while unknown.
    at: Option<(Lsn, u64)>,
    /// Bytes of that block known, from its start.
    len: usize,
}

impl TailImage {
    /// Whether the image ends where a write at `offset` of `segment`
    /// starts (so the write can rewrite the block whole).
    pub(crate) fn continues(&self, segment: Lsn, offset: u64) -> bool {
        matches!(self.at, Some((at_segment, block))
            if at_segment == segment && block + self.len as u64 == offset)
    }

    /// Notes `pieces` written at `offset` of `segment` by another path.
    pub(crate) fn note(&mut self, segment: Lsn, offset: u64, pieces: &[&[u8]]) {
        let total: usize = pieces.iter().map(|piece| piece.len()).sum();
        let end = offset + total as u64;
        let end_block = end / BLOCK as u64 * BLOCK as u64;
        if end_block >= offset {
            // The last block begins inside this write: all of it is known.
            self.len = 0;
            self.reserve(BLOCK);
            let mut skip = (end_block - offset) as usize;
            for piece in pieces {
                let taken = skip.min(piece.len());
                skip -= taken;
                self.append(&piece[taken..]);
            }
            self.at = Some((segment, end_block));
        } else if self.continues(segment, offset) {
            // Within the image's block (the write crosses no boundary).
            self.reserve(self.len + total);
            for piece in pieces {
                self.append(piece);
            }
        } else {
            self.at = None;
        }
    }

    /// Copies `bytes` to the image's end (room reserved).
    fn append(&mut self, bytes: &[u8]) {
        let position = self.start + self.len;
        self.buffer[position..position + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    /// Writes `pieces` then `terminator` at `offset` of `segment` (which
    /// the image must continue) durably, as whole blocks from the image's
    /// block on, through `file`.
    pub(crate) fn write_durable(
        &mut self,
        file: &dyn File,
        segment: Lsn,
        offset: u64,
        pieces: &[&[u8]],
        terminator: &[u8],
    ) -> Result<()> {
        debug_assert!(
            self.continues(segment, offset),
            "the image ends at the write"
        );
        let Some((_, block)) = self.at else {
            unreachable!("a continued image is placed");
        };
        let total: usize = pieces.iter().map(|piece| piece.len()).sum();
        let padded = self.padded_len(total + terminator.len());
        self.reserve(padded);
        let kept = self.len;
        for piece in pieces.iter().chain([&terminator]) {
            self.append(piece);
        }
        self.buffer[self.start + self.len..self.start + padded].fill(0);
        let result = file.write_durable_at(&self.buffer[self.start..self.start + padded], block);
        // The terminator is not kept: the next write starts over it.
        self.len = kept + total;
        self.keep_last_block();
        result.map_err(Into::into)
    }

    /// The block end of the image: the offset a whole-block write of the
    /// next `bytes` bytes at the image's end reaches.
    pub(crate) fn padded_end(&self, bytes: usize) -> Option<u64> {
        let (_, block) = self.at?;
        Some(block + self.padded_len(bytes) as u64)
    }

    /// The length of a whole-block write of the image and `bytes` more.
    fn padded_len(&self, bytes: usize) -> usize {
        (self.len + bytes).next_multiple_of(BLOCK)
    }

    /// Keeps only the image's last (partly written) block.
    fn keep_last_block(&mut self) {
        let Some((segment, block)) = self.at else {
            return;
        };
        let whole = self.len / BLOCK * BLOCK;
        self.buffer
            .copy_within(self.start + whole..self.start + self.len, self.start);
        self.len -= whole;
        self.at = Some((segment, block + whole as u64));
    }

    /// Makes room for `bytes` from the image's start, keeping what it
    /// holds.
    fn reserve(&mut self, bytes: usize) {
        if self.buffer.len() >= self.start + bytes {
            return;
        }
        let capacity = bytes.next_multiple_of(BLOCK).max(4 * BLOCK);
        let mut buffer = vec![0u8; capacity + BLOCK];
        let start = buffer.as_ptr().align_offset(BLOCK);
        buffer[start..start + self.len]
            .copy_from_slice(&self.buffer[self.start..self.start + self.len]);
        self.buffer = buffer;
        self.start = start;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

    use super::*;
    use keel_io::{OpenMode, SimVfs, Vfs};

    /// The bytes `[0, len)` written by a log of `chunks` (offset, bytes)
    /// through a [`TailImage`]: synced chunks whole-block, others plainly.
    fn replay(chunks: &[(u64, Vec<u8>, bool)], len: usize) -> Vec<u8> {
        let vfs = SimVfs::new(7);
        let file = vfs.open("/f".as_ref(), OpenMode::CreateNew).unwrap();
        let mut image = TailImage::default();
        let segment = Lsn(1);
        for (offset, bytes, synced) in chunks {
            if *synced && image.continues(segment, *offset) {
                image
                    .write_durable(file.as_ref(), segment, *offset, &[bytes], &[0; 8])
                    .unwrap();
            } else {
                file.write_vectored_at(&[bytes, &[0; 8]], *offset).unwrap();
                image.note(segment, *offset, &[bytes]);
            }
        }
        let mut out = vec![0u8; len];
        file.read_at(&mut out, 0).unwrap();
        out
    }

    #[test]
    fn whole_block_writes_leave_the_bytes_plain_writes_would() {
        let mut offset = 512u64;
        let mut chunks = Vec::new();
        let mut expected = vec![0u8; 128 << 10];
        for round in 0..200u64 {
            let len = 1 + (round * 37 % 700) as usize;
            let bytes: Vec<u8> = (0..len).map(|i| (round as usize + i) as u8 | 1).collect();
            expected[offset as usize..offset as usize + len].copy_from_slice(&bytes);
            chunks.push((offset, bytes, round % 3 != 0));
            offset += len as u64;
        }
        let got = replay(&chunks, expected.len());
        assert_eq!(got[..offset as usize], expected[..offset as usize]);
        assert!(
            got[offset as usize..].iter().all(|&b| b == 0),
            "zeros after the end"
        );
    }

    #[test]
    fn the_image_is_unknown_until_a_write_crosses_a_block() {
        let mut image = TailImage::default();
        image.note(Lsn(1), 512, &[&[1u8; 100]]);
        assert!(
            !image.continues(Lsn(1), 612),
            "block 0's first bytes are unknown"
        );
        image.note(Lsn(1), 612, &[&[2u8; 4000]]);
        assert!(image.continues(Lsn(1), 4612));
        assert!(!image.continues(Lsn(2), 4612), "another segment");
        assert_eq!(image.padded_end(10), Some(8192));
    }
}

//! The one error type of keel-pager: every failure names what and where.

use std::path::PathBuf;

use crate::page_id::PageId;

/// Why a meta slot was not usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetaProblem {
    /// The file ends before the slot does.
    #[error("the file ends inside the slot")]
    Truncated,
    /// The slot does not start with the pager's magic bytes.
    #[error("no page file magic")]
    BadMagic,
    /// A format version this build cannot read.
    #[error("format version {0} (this build reads version 1)")]
    UnsupportedVersion(u32),
    /// The recorded page size is not a power of two in the allowed range.
    #[error("page size {0} is not a power of two from 4 KiB to 64 KiB")]
    BadPageSize(u32),
    /// The recorded page size disagrees with where the slot was found.
    #[error("page size {recorded} recorded in a slot found at offset {offset}")]
    MisplacedSlot {
        /// The page size in the slot.
        recorded: u32,
        /// Where the slot was read.
        offset: u64,
    },
    /// The payload length runs past the slot.
    #[error("payload length {0} does not fit the slot")]
    BadPayloadLength(u32),
    /// A reserved field is not zero or a field is out of its range.
    #[error("field {0} holds an impossible value")]
    BadField(&'static str),
    /// The CRC32C does not hold.
    #[error("checksum mismatch (stored {expected:#010x}, computed {found:#010x})")]
    Checksum {
        /// Stored in the slot.
        expected: u32,
        /// Computed over the slot.
        found: u32,
    },
}

/// What is wrong with the page map of the newest checkpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MapProblem {
    /// A map node's contents do not match the checksum its parent holds.
    #[error("map node checksum mismatch (expected {expected:#010x}, found {found:#010x})")]
    Checksum {
        /// Stored in the parent (or the meta slot).
        expected: u32,
        /// Computed over the node.
        found: u32,
    },
    /// A reference points outside the file's data blocks.
    #[error("reference to block {block}, outside data blocks 2..{file_blocks}")]
    BlockOutOfRange {
        /// The referenced block.
        block: u64,
        /// Blocks in the file.
        file_blocks: u64,
    },
    /// Two references name the same block.
    #[error("block {block} is referenced twice")]
    BlockReferencedTwice {
        /// The block.
        block: u64,
    },
    /// A reserved field of an entry is not zero.
    #[error("entry {entry} has a non-zero reserved field")]
    ReservedField {
        /// The entry's index in its node.
        entry: u64,
    },
    /// A page at or beyond the page id limit is mapped.
    #[error("page {page} is mapped but the page id limit is {limit}")]
    PageBeyondLimit {
        /// The page.
        page: PageId,
        /// The limit in the meta slot.
        limit: u64,
    },
    /// The number of mapped pages disagrees with the meta slot.
    #[error("{found} pages are mapped but the meta slot records {recorded}")]
    PageCount {
        /// In the meta slot.
        recorded: u64,
        /// Counted in the map.
        found: u64,
    },
    /// The map height cannot address the page id limit, or is too high.
    #[error("map height {height} does not fit page id limit {limit}")]
    Height {
        /// In the meta slot.
        height: u8,
        /// In the meta slot.
        limit: u64,
    },
}

/// A failure of the pager.
///
/// `Clone`, so that a pager latched failed by an I/O error hands the very
/// same error to every later writer.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O error.
    #[error(transparent)]
    Io(#[from] keel_io::Error),
    /// A page read from disk does not match the checksum its map entry holds.
    #[error("corrupt page {page} in {} at block {block}: checksum expected {expected:#010x}, found {found:#010x}", path.display())]
    Corruption {
        /// The page file.
        path: PathBuf,
        /// The logical page.
        page: PageId,
        /// The physical block it was read from.
        block: u64,
        /// The checksum in the page map.
        expected: u32,
        /// The checksum of what was read.
        found: u32,
    },
    /// Neither meta slot holds: the file is not a page file or both slots
    /// are damaged. Nothing is written to such a file.
    #[error("no valid meta slot in {}: slot 0: {slot0}; slot 1: {slot1}", path.display())]
    NoValidMeta {
        /// The page file.
        path: PathBuf,
        /// Why slot 0 was rejected.
        slot0: MetaProblem,
        /// Why slot 1 was rejected.
        slot1: MetaProblem,
    },
    /// The page map of the newest checkpoint is damaged.
    #[error("corrupt page map in {} (checkpoint {checkpoint_id}, level {level} node {node}, block {block}): {problem}", path.display())]
    MapCorruption {
        /// The page file.
        path: PathBuf,
        /// The checkpoint whose map it is.
        checkpoint_id: u64,
        /// The map level (0 = leaves).
        level: u8,
        /// The node's index in its level.
        node: u64,
        /// The node's block (0 for the meta slot's root reference).
        block: u64,
        /// What is wrong.
        problem: MapProblem,
    },
    /// An earlier write or sync failed; the pager accepts no further
    /// writes until reopened (never retry a failed fsync).
    #[error("the page file is failed after an earlier I/O error: {0}")]
    Poisoned(Box<Error>),
    /// The page was never allocated or has been freed.
    #[error("page {0} is not allocated")]
    PageNotAllocated(PageId),
    /// Every frame is latched or pinned: nothing can be evicted.
    #[error("all {frames} buffer pool frames are latched or pinned")]
    PoolExhausted {
        /// Frames in the pool.
        frames: usize,
    },
    /// The page id space is used up.
    #[error("no page ids left below {limit}")]
    PageIdsExhausted {
        /// The largest page id plus one.
        limit: u64,
    },
    /// A checkpoint payload larger than a meta slot can hold.
    #[error("checkpoint payload of {len} bytes exceeds the {max} bytes a meta slot holds")]
    PayloadTooLarge {
        /// The payload's length.
        len: usize,
        /// The limit for this page size.
        max: usize,
    },
    /// A page size that is not a power of two from 4 KiB to 64 KiB.
    #[error("page size {0} is not a power of two from 4 KiB to 64 KiB")]
    InvalidPageSize(u32),
    /// A reader's closure restarted even under a shared latch, where the
    /// page cannot change: the page's contents are inconsistent.
    #[error("page {page} is inconsistent: its reader restarts even under a shared latch")]
    PageInconsistent {
        /// The page.
        page: PageId,
    },
    /// The buffer pool's memory could not be mapped.
    #[error("cannot map {bytes} bytes of buffer pool memory")]
    OutOfMemory {
        /// The pool's size.
        bytes: u64,
    },
    /// The file does not exist and creation was not asked for.
    #[error("page file {} does not exist", path.display())]
    NotFound {
        /// The path.
        path: PathBuf,
    },
    /// A write latch was requested while a checkpoint runs, or a
    /// checkpoint while write latches are held: the one writer must pause
    /// for the checkpoint.
    #[error("writes and a checkpoint overlap: the writer must pause during a checkpoint")]
    WriterActive,
}

/// `Result` with the pager's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

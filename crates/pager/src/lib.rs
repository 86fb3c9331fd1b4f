//! keel-pager: the page file and the buffer pool over it.
//!
//! The pager owns every byte of the data file. To the B+tree above it
//! offers pages by logical [`PageId`], latched for many concurrent readers
//! and one writer, and [`Pager::checkpoint`], which makes the current page
//! state durable atomically without touching anything the previous
//! checkpoint needs (design brief §3, invariant 5).
//!
//! * Page file: two meta slots (`meta.rs`), a copy-on-write page map from
//!   page id to block and checksum (`page_map.rs`), block accounting
//!   (`blocks.rs`); byte maps in docs/FORMAT.md.
//! * Buffer pool (`pager.rs`): frames in one anonymous mapping, a page
//!   table indexed by page id (`page_table.rs`), a 64-bit latch word per
//!   frame (`latch.rs`) giving optimistic, shared and exclusive access
//!   (`guard.rs`), pins and CLOCK eviction (`residency.rs`).
//!
//! Every page read from disk is checked against the checksum in its map
//! entry; a mismatch is [`Error::Corruption`] naming page and block.

mod blocks;
pub mod checksum;
mod error;
#[doc(hidden)]
pub mod fuzz_support;
mod guard;
#[doc(hidden)]
pub mod latch;
pub mod meta;
mod page_id;
mod page_map;
#[doc(hidden)]
pub mod page_table;
mod pager;
#[doc(hidden)]
mod readahead;
pub mod residency;
mod stats;
mod sync;
mod zeroed;

pub use error::{Error, MapProblem, MetaProblem, Result};
pub use guard::{ExclusiveGuard, Fault, OptimisticGuard, PageView, PinGuard, Restart, SharedGuard};
pub use meta::{PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, PAGE_SIZE_MIN};
pub use page_id::PageId;
pub use page_map::MAP_ENTRY_BYTES;
pub use pager::{
    CHECKPOINT_BATCH_PAGES, CheckpointReport, EVICTION_SWEEPS_MAX, FIRST_READ_BYTES, FRAMES_MIN,
    GROWTH_BYTES_MAX_DEFAULT, GROWTH_BYTES_MIN_DEFAULT, OPTIMISTIC_ATTEMPTS_MAX, OpenReport,
    OpeningPager, POOL_BYTES_DEFAULT, Pager, PagerOptions, Relocation,
};
pub use readahead::{
    READAHEAD_BYTES_DEFAULT, READAHEAD_BYTES_FALLBACK, READAHEAD_BYTES_MAX, READAHEAD_DEVICE,
};
pub use stats::PagerStats;

//! keel-btree: the paged B+tree, keel's base store (design brief §2).
//!
//! A [`BTree`] lives in a [`keel_pager::Pager`]'s file and is named by its
//! root page, which never moves; many trees share one file. It has one
//! writer at a time and any number of readers, who never block the writer
//! and are never blocked by it: readers descend by optimistic lock coupling
//! on the pager's latch words, validating every page after finding the
//! next, and restart when something on their path changed. The tree knows
//! nothing of timestamps or transactions.
//!
//! * `node.rs`: the slotted page layout (byte map in docs/FORMAT.md), one
//!   search for optimistic views and latched pages alike.
//! * `tree.rs`: the tree, its writer's path and the helpers its changes
//!   share; `read.rs` point reads; `insert.rs` insert with splits (the
//!   root splits in place); `delete.rs` delete with merges and
//!   rebalancing (the root collapses in place).
//! * `range.rs`: forward and reverse range iterators that survive
//!   concurrent writes.
//! * `overflow.rs`: values too large for a leaf, and the rest of long
//!   keys past the prefix their cell holds, in page chains.
//! * `bulk.rs`: bottom-up bulk load from sorted input.
//! * `check.rs`: the structural check and its typed report.

mod bulk;
mod check;
mod defragment;
mod delete;
mod divide;
mod error;
#[doc(hidden)]
pub mod fuzz_support;
mod insert;
mod keys;
mod node;
mod overflow;
mod pack;
mod page_cells;
mod range;
mod read;
mod stats;
mod tree;

pub use bulk::BULK_FILL_DEFAULT;
pub use check::{CheckReport, Problem, check_pages_in_use};
pub use defragment::DEFRAGMENT_PASSES_MAX;
pub use error::{Error, Result};
pub use node::{KEY_BYTES_MAX, VALUE_BYTES_MAX};
pub use pack::PACK_FILL;
pub use range::{Entry, EntryRef, Range};
pub use stats::TreeStats;
pub use tree::{BTree, OPTIMISTIC_DESCENTS_MAX};

//! keel-btree's errors.

use keel_pager::PageId;

/// A failure of a B+tree operation.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The pager failed: I/O, a page checksum, an exhausted pool, a
    /// poisoned file.
    #[error(transparent)]
    Pager(#[from] keel_pager::Error),
    /// A key longer than the tree allows: [`crate::KEY_BYTES_MAX`] on every
    /// page size.
    #[error("key of {len} bytes exceeds the limit of {max} bytes")]
    KeyTooLarge {
        /// The key's length.
        len: usize,
        /// The limit ([`crate::BTree::key_bytes_max`]).
        max: usize,
    },
    /// A value longer than [`crate::VALUE_BYTES_MAX`].
    #[error("value of {len} bytes exceeds the limit of {max} bytes")]
    ValueTooLarge {
        /// The value's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A page of the tree does not hold what the tree expects: a bad kind
    /// byte, cells outside the page, a broken overflow chain.
    #[error("corrupt B+tree page {page}: {problem}")]
    Corrupt {
        /// The page.
        page: PageId,
        /// What is wrong.
        problem: &'static str,
    },
    /// [`crate::BTree::open`] of a page that is not a tree's root.
    #[error("page {page} is not the root of a B+tree")]
    NotATree {
        /// The page.
        page: PageId,
    },
    /// [`crate::BTree::bulk_load`] into a tree that is not empty.
    #[error("bulk load needs an empty tree; the tree at root {root} holds entries")]
    NotEmpty {
        /// The tree's root.
        root: PageId,
    },
    /// [`crate::BTree::bulk_load`] input not in strictly ascending key
    /// order.
    #[error("bulk load input is not strictly ascending at entry {index}")]
    Unsorted {
        /// The position of the first entry out of order (from 0).
        index: u64,
    },
    /// A fill factor outside (0.5, 1.0].
    #[error("fill factor {value} is outside (0.5, 1.0]")]
    FillFactor {
        /// The value given.
        value: f64,
    },
}

/// `Result` with keel-btree's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

//! Logical page ids.

use std::fmt;

/// A logical page id: the name the layers above use for a page, stable
/// while the page moves between physical blocks.
///
/// Id 0 is never allocated, so a layout above the pager may use it as
/// "no page" (a missing sibling link, an empty root).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PageId(u64);

impl PageId {
    /// The id the pager never allocates.
    pub const NONE: PageId = PageId(0);
    /// The first id the pager allocates.
    pub const FIRST: PageId = PageId(1);
    /// The largest page id the buffer pool can address (2^32 - 1: with
    /// 4 KiB pages, 16 TiB of pages).
    pub const MAX: PageId = PageId(u32::MAX as u64);

    /// A page id from its number.
    pub const fn new(id: u64) -> Self {
        PageId(id)
    }

    /// The id's number.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for PageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

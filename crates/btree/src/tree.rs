//! The tree: its handle, the paths the writer latches, and the rules of
//! optimistic lock coupling that readers (`read.rs`, `range.rs`) follow.
//! Stored keys and their chains are in `keys.rs`, page divisions in
//! `divide.rs`, the writer's insert and delete in `insert.rs`/`delete.rs`.
//!
//! Readers hold no latch: they read each page at a version and validate it
//! after looking up the child (lock coupling), restarting from the root
//! when anything on their path changed. After
//! [`OPTIMISTIC_DESCENTS_MAX`] restarts a reader couples shared latches
//! top-down instead, so it always finishes.
//!
//! The writer finds its path with shared latches (which do not disturb
//! optimistic readers), then latches exclusively, top-down, every page the
//! change touches, changes them and releases them together: a reader sees
//! the tree before or after a split or merge, never in between. Taking
//! latches only top-down (and a leaf's right neighbour after the leaf)
//! while latched readers also only couple top-down keeps the two free of
//! deadlock.

use std::sync::Arc;

use keel_pager::{ExclusiveGuard, PageId, Pager, Restart};
use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::node::{self, Geometry, Header, KEY_BYTES_MAX, KeyChain, Kind, ValueAt};
use crate::overflow::ChainFault;
use crate::stats::{Counters, TreeStats};

/// Optimistic descents a reader tries before coupling shared latches.
pub const OPTIMISTIC_DESCENTS_MAX: usize = 32;

/// Why an optimistic attempt ended early.
#[derive(Debug)]
pub(crate) enum Fault {
    /// A page changed: start over.
    Restart,
    /// A real error.
    Error(Error),
}

impl From<Restart> for Fault {
    fn from(_: Restart) -> Self {
        Fault::Restart
    }
}

impl From<Error> for Fault {
    fn from(error: Error) -> Self {
        Fault::Error(error)
    }
}

impl From<keel_pager::Error> for Fault {
    fn from(error: keel_pager::Error) -> Self {
        Fault::Error(Error::Pager(error))
    }
}

/// A paged B+tree in a [`Pager`]'s file, identified by its root page,
/// which never moves: a split of the root moves its contents down, a
/// merge into a lone child moves them back up. Record [`BTree::root`] to
/// find the tree again with [`BTree::open`].
///
/// Any number of threads may read; writes are serialised by the tree (one
/// writer at a time), and never block readers.
///
/// ```
/// use std::sync::Arc;
/// use keel_btree::BTree;
/// use keel_io::SimVfs;
/// use keel_pager::{Pager, PagerOptions};
///
/// let pager = Arc::new(Pager::open(Arc::new(SimVfs::new(7)), "/db/pages", PagerOptions::default())?);
/// let tree = BTree::create(pager.clone())?;
/// tree.insert(b"apple", b"red")?;
/// tree.insert(b"banana", b"yellow")?;
/// assert_eq!(tree.get(b"apple")?.as_deref(), Some(&b"red"[..]));
/// let keys: Vec<_> = tree.iter().map(|entry| entry.map(|(key, _)| key)).collect::<Result<_, _>>()?;
/// assert_eq!(keys, vec![b"apple".to_vec(), b"banana".to_vec()]);
/// let root = tree.root(); // recorded by the caller, e.g. in the checkpoint payload
/// # let _ = root;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct BTree {
    pub(crate) pager: Arc<Pager>,
    pub(crate) root: PageId,
    pub(crate) geometry: Geometry,
    pub(crate) writer: Mutex<Scratch>,
    pub(crate) counters: Counters,
}

/// The writer's reusable buffers.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    pub(crate) page: Vec<u8>,
    /// A copy of a page being split, whose cells move into its halves
    /// (one of which is the page itself).
    pub(crate) source: Vec<u8>,
    /// An inserted value joined from its parts, and its loose cell.
    pub(crate) value: Vec<u8>,
    pub(crate) cell: Vec<u8>,
    /// The path to the leaf the last insert went to, for the next insert
    /// in key order (a fold, a sorted import) to skip the descent. Every
    /// writer that may split, merge or free a page forgets it.
    pub(crate) leaf: Option<Vec<PathNode>>,
    /// Leaves split or thinned since the last [`BTree::pack`].
    pub(crate) touched: crate::pack::Touched,
}

/// Pages latched inline by [`BTree::latch_all`].
pub(crate) const LATCHED_INLINE: usize = 4;

/// The pages [`BTree::latch_all`] latched, top-down.
pub(crate) type Latched<'a> = smallvec::SmallVec<[ExclusiveGuard<'a>; LATCHED_INLINE]>;

/// One page on the writer's path from the root.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PathNode {
    pub(crate) page: PageId,
    /// The child position taken (inner pages).
    pub(crate) position: usize,
    pub(crate) header: Header,
}

/// What the writer found in the leaf for its key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Found {
    pub(crate) index: usize,
    pub(crate) cell_len: usize,
    /// The value's overflow chain.
    pub(crate) overflow: Option<(PageId, usize)>,
    /// The key's chain, if it is long.
    pub(crate) key_chain: Option<KeyChain>,
}

/// Where the writer's key is in its leaf: at a cell, or where it would go.
#[derive(Debug, Clone, Copy)]
pub(crate) enum InLeaf {
    Present(Found),
    /// `shared`: the bytes of the leaf's prefix the key shares.
    Absent {
        index: usize,
        shared: usize,
    },
}

impl BTree {
    /// Creates an empty tree: allocates its root page.
    ///
    /// # Errors
    /// Pager errors of the allocation.
    pub fn create(pager: Arc<Pager>) -> Result<BTree> {
        let root = {
            let mut guard = pager.allocate()?;
            node::build_empty_leaf(&mut guard);
            guard.page_id()
        };
        Ok(BTree::with_root(pager, root))
    }

    /// Opens the tree whose root is `root`.
    ///
    /// # Errors
    /// [`Error::NotATree`] if the page is not a leaf or inner page; pager
    /// errors reading it.
    pub fn open(pager: Arc<Pager>, root: PageId) -> Result<BTree> {
        let kind = pager.read(root, |view| node::kind(view))?;
        if !matches!(kind, Some(Kind::Leaf | Kind::Inner)) {
            return Err(Error::NotATree { page: root });
        }
        Ok(BTree::with_root(pager, root))
    }

    fn with_root(pager: Arc<Pager>, root: PageId) -> BTree {
        let geometry = Geometry {
            page_size: pager.page_size(),
        };
        BTree {
            pager,
            root,
            geometry,
            writer: Mutex::new(Scratch::default()),
            counters: Counters::default(),
        }
    }

    /// What the tree has done since it was opened.
    pub fn stats(&self) -> TreeStats {
        self.counters.snapshot()
    }

    /// The root page: the tree's identity in the file.
    pub fn root(&self) -> PageId {
        self.root
    }

    /// The pages a descent to the tree's first key reads, root first (an
    /// open's first reads when the first keys hold a catalog). Each page is
    /// read on its own, not coupled to its parent: under a concurrent
    /// split the path may be stale, which suits its use, a hint
    /// ([`Pager::set_open_pages`]).
    ///
    /// # Errors
    /// The pager's errors reading a page.
    pub fn first_path(&self) -> Result<Vec<PageId>> {
        let mut path = vec![self.root];
        while path.len() < PATH_DEPTH_MAX {
            let page = path[path.len() - 1];
            let child = self.pager.read(page, |view| match node::kind(view)? {
                Some(Kind::Inner) => node::child_at(view, 0).map(Some),
                _ => Ok(None),
            })?;
            match child {
                Some(child) if child != PageId::NONE => path.push(child),
                _ => break,
            }
        }
        Ok(path)
    }

    /// The pager the tree lives in.
    pub fn pager(&self) -> &Arc<Pager> {
        &self.pager
    }

    /// The longest key this tree accepts, [`KEY_BYTES_MAX`] (64 KiB and
    /// 64 bytes) on every page size. Keys longer than
    /// [`BTree::key_inline_max`] keep a prefix in their cell and the rest
    /// in an overflow chain.
    pub fn key_bytes_max(&self) -> usize {
        KEY_BYTES_MAX
    }

    /// The longest key stored whole in its leaf cell (1000 bytes on 4 KiB
    /// pages, a quarter page less a cell's overhead): keys up to it cost
    /// no overflow page.
    pub fn key_inline_max(&self) -> usize {
        self.geometry.key_inline_max()
    }

    pub(crate) fn check_key(&self, key: &[u8]) -> Result<()> {
        let max = self.key_bytes_max();
        if key.len() > max {
            return Err(Error::KeyTooLarge {
                len: key.len(),
                max,
            });
        }
        Ok(())
    }

    pub(crate) fn check_value(value: &[u8]) -> Result<()> {
        Self::check_value_len(value.len())
    }

    pub(crate) fn check_value_len(len: usize) -> Result<()> {
        if len > node::VALUE_BYTES_MAX {
            return Err(Error::ValueTooLarge {
                len,
                max: node::VALUE_BYTES_MAX,
            });
        }
        Ok(())
    }

    // ---- the writer's path ---------------------------------------------

    /// The path from the root to the leaf for `key`, read under shared
    /// latches one page at a time, and where `key` is in that leaf. Only the
    /// writer changes the tree, so both stay true while it holds its lock.
    pub(crate) fn path_to(&self, key: &[u8]) -> Result<(Vec<PathNode>, InLeaf)> {
        let mut path = Vec::new();
        let in_leaf = self.path_into(key, &mut path)?;
        Ok((path, in_leaf))
    }

    /// Whether the leaf the last insert reached (the end of `cached`, the
    /// writer's path to it) surely holds `key`'s place: it holds `key`, or
    /// `key` falls between two of its keys, or after its last key when the
    /// leaf is the tree's last (no right sibling). If so, what the leaf
    /// holds for `key`, with the leaf's header in `cached` read afresh; its
    /// ancestors are as the path that found it saw them (only splits change
    /// them, and a split forgets the path). One search of the leaf judges
    /// both (a fold's next key lands there most of the time).
    pub(crate) fn path_through_cached(
        &self,
        cached: &mut [PathNode],
        key: &[u8],
    ) -> Result<Option<InLeaf>> {
        let Some(leaf) = cached.last_mut() else {
            return Ok(None);
        };
        let page = leaf.page;
        let guard = self.pager.shared(page)?;
        let header = Header::read(&guard).map_err(|Restart| corrupt(page, "bad node header"))?;
        if !header.is_leaf() || header.count == 0 {
            return Ok(None);
        }
        let in_leaf = self.find_in_leaf(&guard, page, header, key)?;
        if !Self::leaf_holds(&header, &in_leaf) {
            return Ok(None);
        }
        leaf.header = header;
        Ok(Some(in_leaf))
    }

    /// Whether a leaf of `header` (holding at least one key) is the place
    /// of a key for which its search found `in_leaf`: not before its first
    /// key, and not after its last unless no leaf follows.
    fn leaf_holds(header: &Header, in_leaf: &InLeaf) -> bool {
        match *in_leaf {
            InLeaf::Present(_) => true,
            InLeaf::Absent { index, .. } => {
                index > 0 && (index < header.count || header.link_1 == PageId::NONE)
            }
        }
    }

    /// The writer's path for `key` from the root, into `path` (cleared
    /// first: the writer reuses one buffer), and what the leaf holds for
    /// `key`.
    pub(crate) fn path_into(&self, key: &[u8], path: &mut Vec<PathNode>) -> Result<InLeaf> {
        path.clear();
        let mut page = self.root;
        loop {
            let guard = self.pager.shared(page)?;
            let header =
                Header::read(&guard).map_err(|Restart| corrupt(page, "bad node header"))?;
            if header.is_leaf() {
                // Searched under the same latch as the path was read.
                let in_leaf = self.find_in_leaf(&guard, page, header, key)?;
                path.push(PathNode {
                    page,
                    position: 0,
                    header,
                });
                return Ok(in_leaf);
            }
            let (position, child) = self.child_latched(&guard, page, key)?;
            path.push(PathNode {
                page,
                position,
                header,
            });
            if path.len() > PATH_DEPTH_MAX {
                return Err(corrupt(self.root, "tree deeper than any valid tree"));
            }
            page = child;
        }
    }

    /// Latches `pages` exclusively, in the order given (top-down); inline
    /// for a path of up to [`LATCHED_INLINE`] pages (most inserts latch the
    /// leaf alone), no allocation.
    pub(crate) fn latch_all(&self, pages: impl IntoIterator<Item = PageId>) -> Result<Latched<'_>> {
        pages
            .into_iter()
            .map(|page| self.pager.exclusive(page).map_err(Error::from))
            .collect()
    }

    // ---- whole-tree operations -----------------------------------------

    /// Removes every entry, freeing every page but the root.
    ///
    /// # Errors
    /// Pager errors.
    pub fn clear(&self) -> Result<()> {
        let mut writer = self.writer.lock();
        writer.leaf = None;
        let pages = self.pages_below_root()?;
        {
            let mut root = self.pager.exclusive(self.root)?;
            node::build_empty_leaf(&mut root);
        }
        // The root no longer refers to them: readers that still hold an id
        // find it changed or freed and restart.
        for page in pages {
            self.pager.free(page)?;
        }
        Ok(())
    }

    /// Frees every page of the tree, its root included. The tree must not
    /// be used afterwards.
    ///
    /// # Errors
    /// Pager errors.
    pub fn destroy(self) -> Result<()> {
        self.clear()?;
        self.pager.free(self.root)?;
        Ok(())
    }

    /// Every page of the tree below the root (nodes and overflow chains).
    fn pages_below_root(&self) -> Result<Vec<PageId>> {
        let mut pages = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut stack = vec![self.root];
        while let Some(page) = stack.pop() {
            if !seen.insert(page) {
                return Err(corrupt(page, "page reached twice"));
            }
            let guard = self.pager.shared(page)?;
            let header =
                Header::read(&guard).map_err(|Restart| corrupt(page, "bad node header"))?;
            if page != self.root {
                pages.push(page);
            }
            let bad = |Restart| corrupt(page, "bad cell");
            let mut chain = |first: PageId| -> Result<()> {
                let mut next = first;
                while next != PageId::NONE {
                    pages.push(next);
                    next = self
                        .pager
                        .read(next, |view| node::overflow_header(view))?
                        .map(|(_, next)| next)
                        .ok_or(corrupt(next, "not an overflow page"))?;
                }
                Ok(())
            };
            for index in 0..header.count {
                if let Some(key) = node::key_at(&*guard, header.is_leaf(), index)
                    .map_err(bad)?
                    .chain
                {
                    chain(key.first)?;
                }
                if header.is_leaf()
                    && let ValueAt::Overflow { first, .. } =
                        node::value_at(&*guard, index).map_err(bad)?
                {
                    chain(first)?;
                }
            }
            if !header.is_leaf() {
                for position in 0..=header.count {
                    stack.push(node::child_at(&*guard, position).map_err(bad)?);
                }
            }
        }
        Ok(pages)
    }

    /// An estimate of the number of entries, from one path's fan-out: exact
    /// for a tree of one leaf, within the fill spread otherwise. Costs one
    /// descent.
    ///
    /// # Errors
    /// Pager errors.
    pub fn len_estimate(&self) -> Result<u64> {
        let mut estimate: u64 = 1;
        let mut page = self.root;
        for _ in 0..PATH_DEPTH_MAX {
            let (header, middle) = self.pager.read(page, |view| {
                let header = (node::kind(view)?, node::count(view)?);
                let middle = match header.0 {
                    Some(Kind::Inner) => node::child_at(view, header.1 / 2)?,
                    _ => PageId::NONE,
                };
                Ok((header, middle))
            })?;
            match header.0 {
                Some(Kind::Leaf) => return Ok(estimate.saturating_mul(header.1 as u64)),
                Some(Kind::Inner) => {
                    estimate = estimate.saturating_mul(header.1 as u64 + 1);
                    page = middle;
                }
                _ => return Err(corrupt(page, "bad node kind")),
            }
        }
        Err(corrupt(self.root, "tree deeper than any valid tree"))
    }

    /// Whether the tree holds no entry.
    ///
    /// # Errors
    /// Pager errors.
    pub fn is_empty(&self) -> Result<bool> {
        let (kind, count) = self.pager.read(self.root, |view| {
            Ok((node::kind(view)?, node::count(view)?))
        })?;
        Ok(kind == Some(Kind::Leaf) && count == 0)
    }
}

/// Deeper than any tree of 2^32 pages with four entries per node.
pub(crate) const PATH_DEPTH_MAX: usize = 32;

pub(crate) fn corrupt(page: PageId, problem: &'static str) -> Error {
    Error::Corrupt { page, problem }
}

pub(crate) fn chain_error(fault: ChainFault) -> Error {
    match fault {
        ChainFault::Broken(page, problem) => corrupt(page, problem),
        ChainFault::Pager(error) => error.into(),
    }
}

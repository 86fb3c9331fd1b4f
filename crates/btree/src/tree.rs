//! The tree: point reads by optimistic lock coupling, and the one writer's
//! insert and delete with splits, merges and rebalancing.
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

use std::borrow::Cow;
use std::cmp::Ordering;
use std::sync::Arc;

use keel_pager::{ExclusiveGuard, PageId, Pager, Restart};
use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::node::{
    self, Geometry, Header, KEY_BYTES_MAX, KeyChain, Kind, Probe, SLOT_BYTES, Search, StoredKey,
    ValueAt,
};
use crate::overflow::{self, ChainFault};
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
    /// The path to the leaf the last insert went to, for the next insert
    /// in key order (a fold, a sorted import) to skip the descent. Every
    /// writer that may split, merge or free a page forgets it.
    pub(crate) leaf: Option<Vec<PathNode>>,
}

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
    Absent { index: usize },
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
        if value.len() > node::VALUE_BYTES_MAX {
            return Err(Error::ValueTooLarge {
                len: value.len(),
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
        self.path_from_root(key)
    }

    /// The writer's path for `key` through the leaf the last insert
    /// reached, when that leaf surely holds `key`'s place: `key` lies
    /// between its first and last keys, or the leaf is the tree's last
    /// (no right sibling) and `key` is at or after its first key. The
    /// leaf's header is read afresh; its ancestors are as the path that
    /// found it saw them (only splits change them, and a split forgets
    /// the path).
    pub(crate) fn path_through_cached(
        &self,
        cached: &[PathNode],
        key: &[u8],
    ) -> Result<Option<(Vec<PathNode>, InLeaf)>> {
        let Some(leaf) = cached.last() else {
            return Ok(None);
        };
        let page = leaf.page;
        let guard = self.pager.shared(page)?;
        let bad = |Restart| corrupt(page, "bad cell");
        let header = Header::read(&guard).map_err(|Restart| corrupt(page, "bad node header"))?;
        if !header.is_leaf() || header.count == 0 {
            return Ok(None);
        }
        // The leaf's key at `index` against `key`.
        let order = |index: usize| -> Result<Ordering> {
            let at = node::key_at(&*guard, true, index).map_err(bad)?;
            match node::compare_key(&*guard, at, key).map_err(bad)? {
                Ok(ordering) => Ok(ordering),
                Err(chain) => self.compare_chain(chain, key),
            }
        };
        let after_first = order(0)? != Ordering::Greater;
        let holds = after_first
            && (header.link_1 == PageId::NONE || order(header.count - 1)? != Ordering::Less);
        if !holds {
            return Ok(None);
        }
        let in_leaf = self.find_in_leaf(&guard, page, header, key)?;
        let mut path = cached.to_vec();
        if let Some(last) = path.last_mut() {
            last.header = header;
        }
        Ok(Some((path, in_leaf)))
    }

    fn path_from_root(&self, key: &[u8]) -> Result<(Vec<PathNode>, InLeaf)> {
        let mut path = Vec::new();
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
                return Ok((path, in_leaf));
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

    /// Latches `pages` exclusively, in the order given (top-down).
    pub(crate) fn latch_all(
        &self,
        pages: impl IntoIterator<Item = PageId>,
    ) -> Result<Vec<ExclusiveGuard<'_>>> {
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

impl BTree {
    /// Where `key` is in the latched `leaf`.
    fn find_in_leaf(
        &self,
        leaf: &[u8],
        page: PageId,
        header: Header,
        key: &[u8],
    ) -> Result<InLeaf> {
        let bad = |Restart| corrupt(page, "bad cell");
        let index = match self.search_latched(leaf, page, true, header.count, key)? {
            Ok(index) => index,
            Err(index) => return Ok(InLeaf::Absent { index }),
        };
        let offset = node::cell_offset(leaf, index).map_err(bad)?;
        let cell_len = node::cell_len(leaf, true, offset).map_err(bad)?;
        let key_chain = node::key_in_cell(leaf, true, offset).map_err(bad)?.chain;
        let overflow = match node::value_at(leaf, index).map_err(bad)? {
            ValueAt::Overflow { first, len } => Some((first, len)),
            ValueAt::Inline { .. } => None,
        };
        Ok(InLeaf::Present(Found {
            index,
            cell_len,
            overflow,
            key_chain,
        }))
    }

    // ---- long keys -----------------------------------------------------

    /// Compares a long key whose prefix tied with `key` by its chain: the
    /// order of the long key against `key`. For a page the caller holds
    /// latched, or a chain only the writer (the caller) can free.
    pub(crate) fn compare_chain(&self, chain: KeyChain, key: &[u8]) -> Result<Ordering> {
        Counters::add(&self.counters.key_chain_compares);
        let rest = key.get(chain.local..).unwrap_or_default();
        overflow::compare(&self.pager, chain.first, chain.rest(), rest).map_err(chain_error)
    }

    /// Finishes `probe`, a search of `page` (latched, or a copy of one
    /// version of it) for `key`, comparing tied long keys by their chains.
    #[cold]
    #[inline(never)]
    pub(crate) fn settle_latched(
        &self,
        page: &[u8],
        id: PageId,
        leaf: bool,
        key: &[u8],
        mut probe: Probe,
    ) -> Result<Result<usize, usize>> {
        loop {
            match probe {
                Probe::Done(found) => return Ok(found),
                Probe::Tie(tie) => {
                    let ordering = self.compare_chain(tie.chain, key)?;
                    match tie.search.after(tie.index, ordering) {
                        Ok(index) => return Ok(Ok(index)),
                        Err(search) => {
                            probe = search
                                .run(page, leaf, key)
                                .map_err(|Restart| corrupt(id, "bad cell"))?;
                        }
                    }
                }
            }
        }
    }

    /// [`node::search`] of a latched page, ties settled.
    #[inline]
    pub(crate) fn search_latched(
        &self,
        page: &[u8],
        id: PageId,
        leaf: bool,
        count: usize,
        key: &[u8],
    ) -> Result<Result<usize, usize>> {
        let bad = |Restart| corrupt(id, "bad cell");
        match node::search(page, leaf, count, key).map_err(bad)? {
            Err(node::TIED) => {
                let probe = Search::new(count).run(page, leaf, key).map_err(bad)?;
                self.settle_latched(page, id, leaf, key, probe)
            }
            found => Ok(found),
        }
    }

    /// The child of a latched inner page whose range holds `key`, with its
    /// position.
    #[inline]
    pub(crate) fn child_latched(
        &self,
        page: &[u8],
        id: PageId,
        key: &[u8],
    ) -> Result<(usize, PageId)> {
        let bad = |Restart| corrupt(id, "bad cell");
        let count = node::count(page).map_err(bad)?;
        let position = node::child_position(self.search_latched(page, id, false, count, key)?);
        Ok((position, node::child_at(page, position).map_err(bad)?))
    }

    /// Writes the chain of `key` if it is long (past
    /// [`Geometry::key_inline_max`]): the bytes its cell does not hold.
    #[inline]
    pub(crate) fn write_key_chain(&self, key: &[u8]) -> Result<Option<KeyChain>> {
        if key.len() <= self.geometry.key_inline_max() {
            return Ok(None);
        }
        self.write_long_key_chain(key).map(Some)
    }

    #[cold]
    #[inline(never)]
    fn write_long_key_chain(&self, key: &[u8]) -> Result<KeyChain> {
        let local = self.geometry.key_local_len(key.len());
        let first = overflow::write(&self.pager, self.geometry, &key[local..])?;
        Ok(KeyChain {
            first,
            len: key.len(),
            local,
        })
    }

    /// Frees a long key's chain.
    pub(crate) fn free_key_chain(&self, chain: KeyChain) -> Result<()> {
        overflow::free(&self.pager, chain.first, chain.rest())
    }

    /// `key` as its cell stores it, with the chain [`BTree::write_key_chain`]
    /// wrote for it.
    #[inline]
    pub(crate) fn stored_key<'k>(key: &'k [u8], chain: Option<KeyChain>) -> StoredKey<'k> {
        match chain {
            None => StoredKey::Inline(key),
            Some(chain) => StoredKey::Long {
                prefix: &key[..chain.local],
                chain,
            },
        }
    }

    /// The whole of a stored key: its bytes, or a long key's prefix and
    /// chain (read as the writer, which alone frees chains).
    pub(crate) fn load_key<'k>(&self, key: StoredKey<'k>) -> Result<Cow<'k, [u8]>> {
        match key {
            StoredKey::Inline(bytes) => Ok(Cow::Borrowed(bytes)),
            StoredKey::Long { prefix, chain } => {
                let mut whole = Vec::with_capacity(chain.len);
                whole.extend_from_slice(prefix);
                overflow::read(&self.pager, chain.first, chain.rest(), &mut whole)
                    .map_err(chain_error)?;
                Ok(Cow::Owned(whole))
            }
        }
    }

    /// Compares two stored keys, reading chains only when the bytes in the
    /// cells do not decide.
    #[inline]
    pub(crate) fn compare_stored(&self, a: StoredKey<'_>, b: StoredKey<'_>) -> Result<Ordering> {
        if let (StoredKey::Inline(a), StoredKey::Inline(b)) = (a, b) {
            return Ok(a.cmp(b));
        }
        self.compare_long(a, b)
    }

    /// [`BTree::compare_stored`] when a key is long.
    #[cold]
    #[inline(never)]
    fn compare_long(&self, a: StoredKey<'_>, b: StoredKey<'_>) -> Result<Ordering> {
        let (local_a, local_b) = (a.local(), b.local());
        let common = local_a.len().min(local_b.len());
        let ordering = local_a[..common].cmp(&local_b[..common]);
        if ordering != Ordering::Equal {
            return Ok(ordering);
        }
        match (a.chain(), b.chain()) {
            (None, None) => Ok(local_a.len().cmp(&local_b.len())),
            // A whole key no longer than a long key's prefix, and equal to
            // its start, is below it.
            (None, Some(_)) if local_a.len() <= local_b.len() => Ok(Ordering::Less),
            (Some(_), None) if local_b.len() <= local_a.len() => Ok(Ordering::Greater),
            _ => {
                let (a, b) = (self.load_key(a)?, self.load_key(b)?);
                Ok(a.as_ref().cmp(b.as_ref()))
            }
        }
    }

    /// The shortest separator `s` with `left < s <= right` for two stored
    /// keys: from the bytes in their cells when those tell the keys apart
    /// (no chain read), else from the whole keys. `None` if `left` is not
    /// below `right`.
    pub(crate) fn separator_between(
        &self,
        left: StoredKey<'_>,
        right: StoredKey<'_>,
    ) -> Result<Option<Vec<u8>>> {
        if let Some(separator) = local_separator(left, right) {
            return Ok(separator);
        }
        let (left, right) = (self.load_key(left)?, self.load_key(right)?);
        Ok(node::separator(&left, &right))
    }

    /// Cuts `cells` in two, as `cut` says. A leaf's halves are divided by
    /// the shortest separator; an inner page's middle cell moves up. With
    /// `room` (the bytes the parent has for the separator's cell, when it
    /// cannot split), a cut whose separator does not fit moves to the
    /// nearest one whose separator does, if any. Cells of a damaged page
    /// may not divide: that is [`Error::Corrupt`].
    pub(crate) fn divide(
        &self,
        cells: &[Vec<u8>],
        leaf: bool,
        page: PageId,
        cut: Cut,
        room: Option<usize>,
    ) -> Result<Division> {
        let usable = self.geometry.usable();
        // Cells out of order come from a damaged page (the writer keeps
        // them in order; a page overwritten with bytes that pass its
        // checksum, or a long key's chain, may not): an error here, so that
        // the check of the halves after the division only catches the
        // writer's own mistakes.
        let mut previous = None;
        for cell in cells {
            let key = node::cell_key(cell, leaf);
            if let Some(previous) = previous
                && self.compare_stored(previous, key)? != Ordering::Less
            {
                return Err(corrupt(page, "keys out of order"));
            }
            previous = Some(key);
        }
        let division = if leaf {
            if cells.len() < 2 {
                return Err(corrupt(page, "a full leaf with fewer than two cells"));
            }
            let mut middle = match cut {
                Cut::Appended => cells.len() - 1,
                Cut::Even => split_point(cells),
                Cut::PackLeft { right_min } => pack_point(cells, usable, right_min),
            };
            let key = |index: usize| node::cell_key(&cells[index], true);
            let mut separator = self
                .separator_between(key(middle - 1), key(middle))?
                .ok_or(corrupt(page, "keys out of order"))?;
            // A separator too long for a cell: a nearby cut may give a
            // short one (a left side of a third to two thirds of the bytes
            // for an even cut; at least two thirds for an appended one).
            let window = match cut {
                Cut::Even => Some((1, 2)),
                Cut::Appended => Some((2, 3)),
                Cut::PackLeft { .. } => None,
            };
            if separator.len() > self.geometry.key_inline_max()
                && let Some(window) = window
                && let Some((shorter_middle, shorter)) = short_cut(cells, middle, usable, window)
            {
                (middle, separator) = (shorter_middle, shorter);
            }
            Division {
                low: 0..middle,
                high: middle..cells.len(),
                separator: Separator::Key(separator),
                right_first: PageId::NONE,
            }
        } else {
            if cells.len() < 3 {
                return Err(corrupt(
                    page,
                    "a full inner page with fewer than three cells",
                ));
            }
            let middle = if cut == Cut::Appended {
                cells.len() - 2
            } else {
                split_point(cells).clamp(1, cells.len() - 2)
            };
            Division {
                low: 0..middle,
                high: middle + 1..cells.len(),
                separator: Separator::Cell(cells[middle].clone()),
                right_first: node::cell_child(&cells[middle]),
            }
        };
        let fits = |range: &std::ops::Range<usize>| {
            node::cells_bytes(cells[range.clone()].iter().map(Vec::as_slice)) <= usable
        };
        if !fits(&division.low) || !fits(&division.high) {
            return Err(corrupt(page, "cells larger than two pages hold"));
        }
        if let Some(room) = room
            && self.separator_cell_len(&division.separator) > room
            && let Some(fitting) = self.division_within(cells, leaf, room, division.high.start)
        {
            return Ok(fitting);
        }
        Ok(division)
    }

    /// The division of `cells` nearest the one whose right part starts at
    /// `start` whose separator's cell takes at most `room` bytes and whose
    /// parts each fit a page (a leaf's separator taken only where the
    /// cells' own bytes give it). A long separator between keys sharing
    /// long prefixes may not fit a parent that cannot split, where a
    /// neighbouring one does: then the entries are still shared out, and
    /// no node is left to empty while its sibling stays full.
    fn division_within(
        &self,
        cells: &[Vec<u8>],
        leaf: bool,
        room: usize,
        start: usize,
    ) -> Option<Division> {
        let usable = self.geometry.usable();
        let sizes: Vec<usize> = cells.iter().map(|cell| cell.len() + SLOT_BYTES).collect();
        let total: usize = sizes.iter().sum();
        let mut before = Vec::with_capacity(cells.len() + 1);
        before.push(0);
        for size in &sizes {
            before.push(before.last().copied().unwrap_or(0) + size);
        }
        // A leaf's cut at `cut`: cells [0, cut) and [cut, len). An inner
        // page's: cells [0, cut), cell `cut` moves up, (cut, len).
        let candidate = |cut: usize| -> Option<Division> {
            if leaf {
                if cut == 0 || cut >= cells.len() {
                    return None;
                }
                let (left, right) = (before[cut], total - before[cut]);
                if left > usable || right > usable {
                    return None;
                }
                let separator = local_separator(
                    node::cell_key(&cells[cut - 1], true),
                    node::cell_key(&cells[cut], true),
                )??;
                let len =
                    node::INNER_CELL_HEADER_BYTES + self.geometry.key_field_len(separator.len());
                (len <= room).then_some(Division {
                    low: 0..cut,
                    high: cut..cells.len(),
                    separator: Separator::Key(separator),
                    right_first: PageId::NONE,
                })
            } else {
                if cut == 0 || cut + 1 >= cells.len() {
                    return None;
                }
                let (left, right) = (before[cut], total - before[cut + 1]);
                if left > usable || right > usable || cells[cut].len() > room {
                    return None;
                }
                Some(Division {
                    low: 0..cut,
                    high: cut + 1..cells.len(),
                    separator: Separator::Cell(cells[cut].clone()),
                    right_first: node::cell_child(&cells[cut]),
                })
            }
        };
        let middle = if leaf { start } else { start.saturating_sub(1) };
        (1..cells.len()).find_map(|distance| {
            [middle.checked_sub(distance), middle.checked_add(distance)]
                .into_iter()
                .flatten()
                .find_map(candidate)
        })
    }

    /// Bytes of the parent's cell for `separator`.
    pub(crate) fn separator_cell_len(&self, separator: &Separator) -> usize {
        match separator {
            Separator::Key(key) => {
                node::INNER_CELL_HEADER_BYTES + self.geometry.key_field_len(key.len())
            }
            Separator::Cell(cell) => cell.len(),
        }
    }

    /// The parent's cell for a division's right page `right`: a new
    /// separator encoded (a long one writes its chain, returned so that a
    /// change that fails afterwards can free it), or a cell moving up with
    /// its child replaced.
    pub(crate) fn separator_cell(
        &self,
        separator: &Separator,
        right: PageId,
    ) -> Result<(Vec<u8>, Option<KeyChain>)> {
        match separator {
            Separator::Key(key) => {
                let chain = self.write_key_chain(key)?;
                Ok((node::inner_cell(Self::stored_key(key, chain), right), chain))
            }
            Separator::Cell(cell) => Ok((node::with_child(cell, right), None)),
        }
    }

    /// [`assert_divided`] with the tree's comparison of stored keys.
    pub(crate) fn assert_divided(
        &self,
        left: &[u8],
        right: &[u8],
        separator: &[u8],
        leaf: bool,
    ) -> Result<()> {
        assert_divided(left, right, separator, leaf, |a, b| {
            self.compare_stored(a, b)
        })
    }
}

/// The separator of [`BTree::separator_between`] when the keys' bytes in
/// their cells decide it: `Some(None)` if `left` is not below `right`;
/// `None` when only the whole keys tell.
fn local_separator(left: StoredKey<'_>, right: StoredKey<'_>) -> Option<Option<Vec<u8>>> {
    let (left_local, right_local) = (left.local(), right.local());
    let common = left_local
        .iter()
        .zip(right_local)
        .take_while(|(a, b)| a == b)
        .count();
    // The keys differ at `common` inside both cells' bytes, or the left key
    // is whole and ends there (a prefix of the right one).
    let decided =
        common < right_local.len() && (common < left_local.len() || left.chain().is_none());
    decided.then(|| node::separator(left_local, &right_local[..common + 1]))
}

/// A cut near `middle` whose separator the cells' own bytes give, so it
/// is stored whole: the one closest to `middle` whose left side holds
/// between `low`/3 and `high`/3 of the bytes (and each side no more than
/// a page). A cut between two keys that share more than a cell holds
/// would put a long key into the parent; nearby, keys often part sooner
/// (PostgreSQL's nbtsplitloc likewise picks, among the split points near
/// the middle, the one whose truncated separator is shortest).
fn short_cut(
    cells: &[Vec<u8>],
    middle: usize,
    usable: usize,
    (low, high): (usize, usize),
) -> Option<(usize, Vec<u8>)> {
    let sizes: Vec<usize> = cells.iter().map(|cell| cell.len() + SLOT_BYTES).collect();
    let total: usize = sizes.iter().sum();
    let mut before = Vec::with_capacity(cells.len() + 1);
    before.push(0);
    for size in &sizes {
        before.push(before.last().copied().unwrap_or(0) + size);
    }
    let balanced = |cut: usize| {
        let left = before[cut];
        left * 3 >= total * low
            && left * 3 <= total * high
            && left <= usable
            && total - left <= usable
    };
    let key = |index: usize| node::cell_key(&cells[index], true);
    for distance in 1..cells.len() {
        let mut any = false;
        for cut in [middle.checked_sub(distance), middle.checked_add(distance)]
            .into_iter()
            .flatten()
        {
            if cut == 0 || cut >= cells.len() || !balanced(cut) {
                continue;
            }
            any = true;
            if let Some(Some(separator)) = local_separator(key(cut - 1), key(cut)) {
                return Some((cut, separator));
            }
        }
        if !any && distance > 1 {
            return None;
        }
    }
    None
}

pub(crate) fn collect_cells(page: &[u8], id: PageId, header: Header) -> Result<Vec<Vec<u8>>> {
    (0..header.count)
        .map(|index| node::cell_bytes(page, header.is_leaf(), index).map(<[u8]>::to_vec))
        .collect::<Result<_, _>>()
        .map_err(|Restart| corrupt(id, "bad cell"))
}

/// What the parent takes for the right page of a division.
#[derive(Debug)]
pub(crate) enum Separator {
    /// A leaf division's new separator, whole: encoded for the parent (a
    /// long one in a chain of its own).
    Key(Vec<u8>),
    /// An inner page's middle cell, which moves up with its key (and a long
    /// key's chain); its child becomes the right page.
    Cell(Vec<u8>),
}

/// How a run of cells too large for one page is cut in two.
pub(crate) struct Division {
    /// The cells of the left page.
    pub(crate) low: std::ops::Range<usize>,
    /// The cells of the right page.
    pub(crate) high: std::ops::Range<usize>,
    /// The key the parent takes for the right page.
    pub(crate) separator: Separator,
    /// Inner pages: the right page's first child (the child of the cell
    /// that moved up).
    pub(crate) right_first: PageId,
}

/// Where [`BTree::divide`] cuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cut {
    /// Halves of about equal bytes (a leaf's cut moves to a nearby one
    /// when that keeps a long key out of the parent).
    Even,
    /// The cell that overflowed the page was appended after every other
    /// one — ascending inserts: a load, keys growing with time — so the
    /// page keeps all it held and the new cell starts the right page, as
    /// SQLite's `balance_quick` and PostgreSQL's rightmost split do: an
    /// ascending run fills its pages instead of leaving each half empty.
    Appended,
    /// Defragmentation: a leaf's left page takes as many cells as fit
    /// while the right keeps at least `right_min` bytes of cells (else the
    /// halves are even); an inner page's halves are even.
    PackLeft {
        /// The least cell bytes the right page keeps.
        right_min: usize,
    },
}

/// Where to cut `cells` in two of about equal bytes: the first index of the
/// upper half, never 0 or `cells.len()`.
pub(crate) fn split_point(cells: &[Vec<u8>]) -> usize {
    let total: usize = cells.iter().map(|cell| cell.len() + SLOT_BYTES).sum();
    let mut running = 0;
    for (index, cell) in cells.iter().enumerate() {
        running += cell.len() + SLOT_BYTES;
        if running * 2 >= total {
            return (index + 1).clamp(1, cells.len() - 1);
        }
    }
    cells.len() - 1
}

/// The first index of the right part when the left takes as many of
/// `cells` as fit in `usable` bytes while the right keeps at least
/// `right_min`: never 0 or `cells.len()`; [`split_point`] if no cut does.
pub(crate) fn pack_point(cells: &[Vec<u8>], usable: usize, right_min: usize) -> usize {
    let total = node::cells_bytes(cells.iter().map(Vec::as_slice));
    let mut left = 0;
    let mut best = None;
    for (index, cell) in cells.iter().enumerate().take(cells.len() - 1) {
        left += node::cells_bytes([cell.as_slice()]);
        if left > usable {
            break;
        }
        if total - left >= right_min {
            best = Some(index + 1);
        }
    }
    best.unwrap_or_else(|| split_point(cells))
}

/// The writer's check after it divided cells between `left` and `right`
/// (a split, or entries shared out): each page parses and fits, keys
/// ascend inside each, and `separator` (the raw parent cell's key) lies
/// between them — above every left key, at or below the first right key
/// of a leaf (above it for an inner page, whose first key moved up).
/// `compare` orders stored keys (long ones by their chains). A failure is
/// a bug in the writer, caught before the pages can reach a checkpoint,
/// so it panics (TigerBeetle's discipline: assert what must hold, after
/// each change); an error is one of reading a chain.
pub(crate) fn assert_divided(
    left: &[u8],
    right: &[u8],
    separator: &[u8],
    leaf: bool,
    mut compare: impl FnMut(StoredKey<'_>, StoredKey<'_>) -> Result<Ordering>,
) -> Result<()> {
    fn keys<'p>(page: &'p [u8], side: &str, leaf: bool) -> Vec<StoredKey<'p>> {
        let header = Header::read(page)
            .unwrap_or_else(|Restart| panic!("{side} half of a division: bad node header"));
        assert!(
            header.heap_start >= node::HEADER_BYTES + header.count * SLOT_BYTES,
            "{side} half of a division overflows its page"
        );
        (0..header.count)
            .map(|index| {
                let cell = node::cell_bytes(page, leaf, index)
                    .unwrap_or_else(|Restart| panic!("{side} half of a division: bad cell"));
                node::cell_key(cell, leaf)
            })
            .collect()
    }
    let separator = node::cell_key(separator, false);
    let (low, high) = (keys(left, "left", leaf), keys(right, "right", leaf));
    for pair in low.windows(2).chain(high.windows(2)) {
        assert!(
            compare(pair[0], pair[1])? == Ordering::Less,
            "keys out of order in a half of a division"
        );
    }
    assert!(
        !low.is_empty() || !leaf,
        "a division left an empty left leaf"
    );
    assert!(
        !high.is_empty() || !leaf,
        "a division left an empty right leaf"
    );
    if let Some(last) = low.last() {
        assert!(
            compare(*last, separator)? == Ordering::Less,
            "separator not above the left half"
        );
    }
    if let Some(first) = high.first() {
        let ordering = compare(separator, *first)?;
        let placed = if leaf {
            ordering != Ordering::Greater
        } else {
            ordering == Ordering::Less
        };
        assert!(placed, "separator not below the right half");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(keys: &[&str]) -> Vec<u8> {
        let mut page = vec![0u8; 4096];
        let cells: Vec<Vec<u8>> = keys
            .iter()
            .map(|key| {
                node::leaf_cell(
                    StoredKey::Inline(key.as_bytes()),
                    node::StoredValue::Inline(b"v"),
                )
            })
            .collect();
        node::build(
            &mut page,
            Kind::Leaf,
            PageId::NONE,
            PageId::NONE,
            cells.iter().map(Vec::as_slice),
        );
        page
    }

    fn divided(left: &[&str], right: &[&str], separator: &str) {
        let separator = node::inner_cell(StoredKey::Inline(separator.as_bytes()), PageId::NONE);
        assert_divided(&leaf(left), &leaf(right), &separator, true, |a, b| {
            Ok(a.local().cmp(b.local()))
        })
        .unwrap();
    }

    #[test]
    fn a_sound_division_passes() {
        divided(&["a", "b"], &["c", "d"], "c");
        divided(&["a", "b"], &["ca", "d"], "c");
    }

    #[test]
    #[should_panic(expected = "separator not below the right half")]
    fn a_separator_past_the_right_half_is_caught() {
        divided(&["a", "b"], &["c", "d"], "cz");
    }

    #[test]
    #[should_panic(expected = "separator not above the left half")]
    fn a_separator_inside_the_left_half_is_caught() {
        divided(&["a", "b"], &["c", "d"], "b");
    }

    #[test]
    #[should_panic(expected = "keys out of order")]
    fn a_half_out_of_order_is_caught() {
        divided(&["b", "a"], &["c", "d"], "c");
    }
}

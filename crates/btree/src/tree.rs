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

use std::sync::Arc;

use keel_pager::{ExclusiveGuard, OptimisticGuard, PageId, Pager, Restart};
use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::node::{self, Geometry, Header, Kind, NodeBytes, SLOT_BYTES, StoredValue, ValueAt};
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
/// let keys: Vec<Vec<u8>> = tree.iter().map(|entry| entry.map(|(key, _)| key)).collect::<Result<_, _>>()?;
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
struct Found {
    index: usize,
    cell_len: usize,
    overflow: Option<(PageId, usize)>,
}

/// Where the writer's key is in its leaf: at a cell, or where it would go.
#[derive(Debug, Clone, Copy)]
enum InLeaf {
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

    /// The longest key this tree accepts: about a quarter of a page, so
    /// that every node holds at least four entries.
    pub fn key_bytes_max(&self) -> usize {
        self.geometry.key_bytes_max()
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

    // ---- reading -------------------------------------------------------

    /// The value of `key`, if present.
    ///
    /// # Errors
    /// Pager errors (I/O, checksums) and [`Error::Corrupt`].
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        for _ in 0..OPTIMISTIC_DESCENTS_MAX {
            match self.get_optimistic(key) {
                Ok(value) => return Ok(value),
                Err(Fault::Restart) => Counters::add(&self.counters.restarts),
                Err(Fault::Error(error)) => return Err(error),
            }
        }
        Counters::add(&self.counters.latched_reads);
        self.get_latched(key)
    }

    fn get_optimistic(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Fault> {
        let leaf =
            self.descend_optimistic(|view| node::child_for(view, key).map(|(_, child)| child))?;
        let found = leaf.read(|view| {
            if node::kind(view)? != Some(Kind::Leaf) {
                return Err(Restart);
            }
            let count = node::count(view)?;
            let Ok(index) = node::search(view, true, count, key)? else {
                return Ok(None);
            };
            Ok(Some(match node::value_at(view, index)? {
                ValueAt::Inline { offset, len } => {
                    let mut value = Vec::with_capacity(len);
                    view.append_to(offset, len, &mut value)?;
                    Ok(value)
                }
                ValueAt::Overflow { first, len } => Err((first, len)),
            }))
        })?;
        match found {
            None => Ok(None),
            Some(Ok(value)) => Ok(Some(value)),
            Some(Err((first, len))) => {
                let mut value = Vec::new();
                self.read_chain(&leaf, first, len, &mut value)?;
                Ok(Some(value))
            }
        }
    }

    /// Reads an overflow chain referred to by `leaf`, validating the leaf
    /// afterwards: a broken chain is a restart if the leaf changed, and
    /// corruption if it did not.
    pub(crate) fn read_chain(
        &self,
        leaf: &OptimisticGuard<'_>,
        first: PageId,
        len: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), Fault> {
        // Pinned, so that reading the chain cannot evict the leaf and make
        // its validation fail for no change.
        let pin = match self.pager.pin(leaf.page_id()) {
            Ok(pin) => pin,
            Err(error) => {
                leaf.validate()?;
                return Err(error.into());
            }
        };
        let result = overflow::read(&self.pager, first, len, out);
        leaf.validate()?;
        drop(pin);
        match result {
            Ok(()) => Ok(()),
            Err(ChainFault::Broken(page, problem)) => Err(Error::Corrupt { page, problem }.into()),
            Err(ChainFault::Pager(error)) => Err(error.into()),
        }
    }

    /// Descends from the root to a leaf by optimistic lock coupling:
    /// `choose` picks the child of each inner page. Returns the leaf's
    /// guard; every page above it was validated after its child was found.
    pub(crate) fn descend_optimistic(
        &self,
        mut choose: impl FnMut(&keel_pager::PageView<'_>) -> Result<PageId, Restart>,
    ) -> Result<OptimisticGuard<'_>, Fault> {
        let mut guard = self.pager.optimistic(self.root)?;
        for _ in 0..PATH_DEPTH_MAX {
            let child = guard.read(|view| match node::kind(view)? {
                Some(Kind::Leaf) => Ok(None),
                Some(Kind::Inner) => choose(view).map(Some),
                _ => Err(Restart),
            })?;
            let Some(child) = child else {
                return Ok(guard);
            };
            let next = match self.pager.optimistic(child) {
                Ok(next) => next,
                Err(error) => {
                    // A stale child id (freed meanwhile) is a restart.
                    guard.validate()?;
                    return Err(error.into());
                }
            };
            guard.validate()?;
            guard = next;
        }
        Err(corrupt(self.root, "tree deeper than any valid tree").into())
    }

    /// `get` with shared latches coupled top-down: the reader's way out
    /// when optimistic descents keep restarting.
    fn get_latched(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let mut guard = self.pager.shared(self.root)?;
        for _ in 0..PATH_DEPTH_MAX {
            let page = guard.page_id();
            let header =
                Header::read(&guard).map_err(|Restart| corrupt(page, "bad node header"))?;
            if header.is_leaf() {
                let found = node::search(&*guard, true, header.count, key)
                    .map_err(|Restart| corrupt(page, "bad cell"))?;
                let Ok(index) = found else {
                    return Ok(None);
                };
                return match node::value_at(&*guard, index)
                    .map_err(|Restart| corrupt(page, "bad cell"))?
                {
                    ValueAt::Inline { offset, len } => {
                        Ok(Some(guard[offset..offset + len].to_vec()))
                    }
                    ValueAt::Overflow { first, len } => {
                        // The shared latch on the leaf keeps the chain alive.
                        let mut value = Vec::new();
                        overflow::read(&self.pager, first, len, &mut value).map_err(chain_error)?;
                        Ok(Some(value))
                    }
                };
            }
            let (_, child) =
                node::child_for(&*guard, key).map_err(|Restart| corrupt(page, "bad cell"))?;
            guard = self.pager.shared(child)?;
        }
        Err(corrupt(self.root, "tree deeper than any valid tree"))
    }

    // ---- the writer's path ---------------------------------------------

    /// The path from the root to the leaf for `key`, read under shared
    /// latches one page at a time, and where `key` is in that leaf. Only the
    /// writer changes the tree, so both stay true while it holds its lock.
    fn path_to(&self, key: &[u8]) -> Result<(Vec<PathNode>, InLeaf)> {
        let mut path = Vec::new();
        let mut page = self.root;
        loop {
            let guard = self.pager.shared(page)?;
            let header =
                Header::read(&guard).map_err(|Restart| corrupt(page, "bad node header"))?;
            if header.is_leaf() {
                // Searched under the same latch as the path was read.
                let in_leaf = find_in_leaf(&guard, page, header, key)?;
                path.push(PathNode {
                    page,
                    position: 0,
                    header,
                });
                return Ok((path, in_leaf));
            }
            let (position, child) =
                node::child_for(&*guard, key).map_err(|Restart| corrupt(page, "bad cell"))?;
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

    // ---- insert --------------------------------------------------------

    /// Inserts `key` with `value`, replacing the value it had.
    ///
    /// # Errors
    /// [`Error::KeyTooLarge`], [`Error::ValueTooLarge`], pager errors
    /// (the tree is unchanged when one is returned).
    pub fn insert(&self, key: &[u8], value: &[u8]) -> Result<()> {
        self.check_key(key)?;
        Self::check_value(value)?;
        let mut scratch = self.writer.lock();
        let stored = if self.geometry.value_inline(key.len(), value.len()) {
            StoredValue::Inline(value)
        } else {
            StoredValue::Overflow {
                first: overflow::write(&self.pager, self.geometry, value)?,
                len: value.len(),
            }
        };
        let cell = node::leaf_cell(key, stored);
        match self.insert_cell(&mut scratch, key, &cell) {
            Ok(replaced) => {
                if let Some((first, len)) = replaced {
                    overflow::free(&self.pager, first, len)?;
                }
                Ok(())
            }
            Err(error) => {
                if let StoredValue::Overflow { first, len } = stored {
                    let _ = overflow::free(&self.pager, first, len);
                }
                Err(error)
            }
        }
    }

    /// Puts a leaf cell for `key`; returns the overflow chain of the value
    /// it replaced, for the caller to free once the latches are gone.
    fn insert_cell(
        &self,
        scratch: &mut Scratch,
        key: &[u8],
        cell: &[u8],
    ) -> Result<Option<(PageId, usize)>> {
        let (path, in_leaf) = self.path_to(key)?;
        let leaf_depth = path.len() - 1;
        let found = match in_leaf {
            InLeaf::Present(found) => Some(found),
            InLeaf::Absent { .. } => None,
        };
        let room =
            path[leaf_depth].header.free() + found.map_or(0, |found| found.cell_len + SLOT_BYTES);
        let splits = room < cell.len() + SLOT_BYTES;
        // The highest page the change reaches: the leaf, or for a split the
        // lowest ancestor sure to take a separator without splitting.
        let mut top = leaf_depth;
        if splits {
            while top > 0 {
                top -= 1;
                if path[top].header.free() >= self.geometry.cell_bytes_max() {
                    break;
                }
            }
        }
        let mut guards = self.latch_all(path[top..].iter().map(|node| node.page))?;
        let mut fresh = Vec::new();
        let mut neighbour = None;
        if splits {
            // Everything a split may need is taken before anything changes,
            // so an error leaves the tree as it was.
            let right = path[leaf_depth].header.link_1;
            if leaf_depth > 0 && right != PageId::NONE {
                if path.iter().any(|node| node.page == right) {
                    return Err(corrupt(right, "a sibling link into the leaf's own path"));
                }
                neighbour = Some(self.pager.exclusive(right)?);
            }
            for _ in 0..(path.len() - top + 1) {
                match self.pager.allocate() {
                    Ok(guard) => fresh.push(guard),
                    Err(error) => {
                        for unused in fresh {
                            unused.free()?;
                        }
                        return Err(error.into());
                    }
                }
            }
        }
        let leaf_guard = guards.last_mut().ok_or(corrupt(self.root, "empty path"))?;
        let leaf_page = path[leaf_depth].page;
        // Only this writer changes the tree: the leaf is as the path saw it.
        let position = match in_leaf {
            InLeaf::Present(found) => {
                node::remove_cell(leaf_guard, found.index)
                    .map_err(|Restart| corrupt(leaf_page, "bad cell"))?;
                found.index
            }
            InLeaf::Absent { index } => index,
        };
        let mut pending = self.put_cell(
            leaf_guard,
            leaf_page,
            position,
            cell,
            leaf_depth == 0,
            &mut fresh,
            neighbour.as_mut(),
            scratch,
        )?;
        let mut depth = leaf_depth;
        while let Some((separator, right)) = pending.take() {
            depth = depth
                .checked_sub(1)
                .ok_or(corrupt(self.root, "split above the root"))?;
            if depth < top {
                return Err(corrupt(
                    path[top].page,
                    "split reached past the latched pages",
                ));
            }
            let guard = &mut guards[depth - top];
            let inner = node::inner_cell(&separator, right);
            pending = self.put_cell(
                guard,
                path[depth].page,
                path[depth].position,
                &inner,
                depth == 0,
                &mut fresh,
                None,
                scratch,
            )?;
        }
        for unused in fresh {
            unused.free()?;
        }
        Ok(found.and_then(|found| found.overflow))
    }

    /// Puts `cell` at `index` of `page` (latched as `guard`), splitting the
    /// page when it does not fit. Returns the separator and new right page
    /// the parent must take, or `None` (it fit, or the root split in place).
    #[allow(clippy::too_many_arguments)]
    fn put_cell(
        &self,
        guard: &mut ExclusiveGuard<'_>,
        page: PageId,
        index: usize,
        cell: &[u8],
        is_root: bool,
        fresh: &mut Vec<ExclusiveGuard<'_>>,
        neighbour: Option<&mut ExclusiveGuard<'_>>,
        scratch: &mut Scratch,
    ) -> Result<Option<(Vec<u8>, PageId)>> {
        let bad = |Restart| corrupt(page, "bad cell");
        if node::insert_cell(guard, index, cell, &mut scratch.page).map_err(bad)? {
            return Ok(None);
        }
        let header = Header::read(guard).map_err(|Restart| corrupt(page, "bad node header"))?;
        let leaf = header.is_leaf();
        let mut cells: Vec<Vec<u8>> = (0..header.count)
            .map(|i| node::cell_bytes(guard, leaf, i).map(<[u8]>::to_vec))
            .collect::<Result<_, _>>()
            .map_err(bad)?;
        cells.insert(index, cell.to_vec());
        let mut take = || {
            fresh
                .pop()
                .ok_or(corrupt(page, "split needs more pages than planned"))
        };
        let Division {
            low,
            high,
            separator,
            right_first,
        } = divide(
            &cells,
            leaf,
            page,
            self.geometry.usable(),
            index + 1 == cells.len(),
        )?;
        let (low, high) = (&cells[low], &cells[high]);
        let kind = header.kind;
        // The links of the (left, right) halves: a leaf's siblings (the pages
        // around the split page, and each other); an inner page's first child.
        let links = |left_id: PageId, right_id: PageId, outer_left: PageId, outer_right: PageId| {
            if leaf {
                ((outer_left, right_id), (left_id, outer_right))
            } else {
                ((header.link_0, PageId::NONE), (right_first, PageId::NONE))
            }
        };
        Counters::add(&self.counters.splits);
        if is_root {
            // The root keeps its page: its halves move into two new pages.
            let mut left = take()?;
            let mut right = take()?;
            let (left_id, right_id) = (left.page_id(), right.page_id());
            let ((left_0, left_1), (right_0, right_1)) =
                links(left_id, right_id, PageId::NONE, PageId::NONE);
            node::build(
                &mut left,
                kind,
                left_0,
                left_1,
                low.iter().map(Vec::as_slice),
            );
            node::build(
                &mut right,
                kind,
                right_0,
                right_1,
                high.iter().map(Vec::as_slice),
            );
            let root_cell = node::inner_cell(&separator, right_id);
            node::build(
                guard,
                Kind::Inner,
                left_id,
                PageId::NONE,
                [root_cell.as_slice()],
            );
            Counters::add(&self.counters.root_splits);
            return Ok(None);
        }
        let mut right = take()?;
        let right_id = right.page_id();
        let ((left_0, left_1), (right_0, right_1)) =
            links(page, right_id, header.link_0, header.link_1);
        node::build(
            &mut right,
            kind,
            right_0,
            right_1,
            high.iter().map(Vec::as_slice),
        );
        node::build(guard, kind, left_0, left_1, low.iter().map(Vec::as_slice));
        if let Some(neighbour) = neighbour {
            node::set_left(neighbour, right_id);
        }
        Ok(Some((separator, right_id)))
    }

    // ---- delete --------------------------------------------------------

    /// Removes `key`; returns whether it was present.
    ///
    /// # Errors
    /// Pager errors; [`Error::Corrupt`].
    pub fn delete(&self, key: &[u8]) -> Result<bool> {
        if key.len() > self.key_bytes_max() {
            return Ok(false);
        }
        let mut scratch = self.writer.lock();
        let (path, in_leaf) = self.path_to(key)?;
        let leaf_depth = path.len() - 1;
        let leaf_page = path[leaf_depth].page;
        let InLeaf::Present(found) = in_leaf else {
            return Ok(false);
        };
        let used = {
            let mut guard = self.pager.exclusive(leaf_page)?;
            node::remove_cell(&mut guard, found.index)
                .map_err(|Restart| corrupt(leaf_page, "bad cell"))?;
            Header::read(&guard)
                .map_err(|Restart| corrupt(leaf_page, "bad node header"))?
                .used(self.geometry.page_size)
        };
        if let Some((first, len)) = found.overflow {
            overflow::free(&self.pager, first, len)?;
        }
        if leaf_depth > 0 && used < self.geometry.fill_bytes_min() {
            self.rebalance(&mut scratch, &path, leaf_depth)?;
        }
        Ok(true)
    }

    /// Fixes an underfull node at `path[depth]` by merging it with a
    /// sibling, or else moving entries over from it; repeats upwards while
    /// a merge leaves the parent underfull, and shrinks the tree when the
    /// root is left with one child.
    pub(crate) fn rebalance(
        &self,
        scratch: &mut Scratch,
        path: &[PathNode],
        mut depth: usize,
    ) -> Result<()> {
        while depth > 0 {
            let parent = path[depth - 1];
            let parent_id = parent.page;
            let count = parent.header.count;
            // The node merges with its right sibling, or the last child with
            // its left one: `left` is child `position`, `right` the next.
            let position = path[depth - 1].position;
            let left_position = if position < count {
                position
            } else {
                position.saturating_sub(1)
            };
            if count == 0 {
                return Ok(());
            }
            let mut parent_guard = self.pager.exclusive(parent_id)?;
            let bad_parent = |Restart| corrupt(parent_id, "bad cell");
            let left_id = node::child_at(&*parent_guard, left_position).map_err(bad_parent)?;
            let right_id = node::child_at(&*parent_guard, left_position + 1).map_err(bad_parent)?;
            let separator_cell = node::cell_bytes(&parent_guard, false, left_position)
                .map_err(bad_parent)?
                .to_vec();
            if left_id == right_id || left_id == parent_id || right_id == parent_id {
                return Err(corrupt(parent_id, "a child listed twice"));
            }
            let mut left = self.pager.exclusive(left_id)?;
            let mut right = self.pager.exclusive(right_id)?;
            let left_header =
                Header::read(&left).map_err(|Restart| corrupt(left_id, "bad node header"))?;
            let right_header =
                Header::read(&right).map_err(|Restart| corrupt(right_id, "bad node header"))?;
            if left_header.kind != right_header.kind {
                return Err(corrupt(parent_id, "children of different kinds"));
            }
            let leaf = left_header.is_leaf();
            let mut cells = collect_cells(&left, left_id, left_header)?;
            if !leaf {
                // The parent's separator comes down over the right node's
                // first child.
                cells.push(node::inner_cell(
                    node::cell_key(&separator_cell, false),
                    right_header.link_0,
                ));
            }
            cells.extend(collect_cells(&right, right_id, right_header)?);
            let usable = self.geometry.usable();
            if node::cells_bytes(cells.iter().map(Vec::as_slice)) <= usable {
                // Merge right into left.
                Counters::add(&self.counters.merges);
                let mut far = None;
                if leaf && right_header.link_1 != PageId::NONE {
                    if [left_id, right_id, parent_id].contains(&right_header.link_1) {
                        return Err(corrupt(right_id, "a sibling link that loops"));
                    }
                    far = Some(self.pager.exclusive(right_header.link_1)?);
                }
                node::build(
                    &mut left,
                    left_header.kind,
                    left_header.link_0,
                    if leaf {
                        right_header.link_1
                    } else {
                        PageId::NONE
                    },
                    cells.iter().map(Vec::as_slice),
                );
                if let Some(far) = far.as_mut() {
                    node::set_left(far, left_id);
                }
                drop(far);
                node::remove_cell(&mut parent_guard, left_position).map_err(bad_parent)?;
                right.free()?;
                drop(left);
                let parent_header = Header::read(&parent_guard)
                    .map_err(|Restart| corrupt(parent_id, "bad node header"))?;
                if depth - 1 == 0 {
                    if parent_header.count == 0 {
                        self.collapse_root(&mut parent_guard, left_id)?;
                    }
                    return Ok(());
                }
                if parent_header.used(self.geometry.page_size) >= self.geometry.fill_bytes_min() {
                    return Ok(());
                }
                drop(parent_guard);
                depth -= 1;
                continue;
            }
            // Too much for one page: share the entries out evenly.
            Counters::add(&self.counters.rebalances);
            let Division {
                low,
                high,
                separator: new_separator,
                right_first,
            } = divide(&cells, leaf, left_id, self.geometry.usable(), false)?;
            let (low, high) = (&cells[low], &cells[high]);
            let new_cell = node::inner_cell(&new_separator, right_id);
            let parent_header = Header::read(&parent_guard)
                .map_err(|Restart| corrupt(parent_id, "bad node header"))?;
            if parent_header.free() + separator_cell.len() < new_cell.len() {
                // The parent cannot take the new separator: leave the node
                // underfull (it is not empty, so the tree stays valid).
                return Ok(());
            }
            let (left_link_1, right_link_0) = if leaf {
                (right_id, left_id)
            } else {
                (PageId::NONE, right_first)
            };
            // The cells are copies: both pages are rebuilt in place.
            node::build(
                &mut left,
                left_header.kind,
                left_header.link_0,
                left_link_1,
                low.iter().map(Vec::as_slice),
            );
            node::build(
                &mut right,
                right_header.kind,
                right_link_0,
                right_header.link_1,
                high.iter().map(Vec::as_slice),
            );
            node::remove_cell(&mut parent_guard, left_position).map_err(bad_parent)?;
            if !node::insert_cell(
                &mut parent_guard,
                left_position,
                &new_cell,
                &mut scratch.page,
            )
            .map_err(bad_parent)?
            {
                return Err(corrupt(
                    parent_id,
                    "separator did not fit after room was checked",
                ));
            }
            return Ok(());
        }
        Ok(())
    }

    /// The root holds one child and no separator: the child's contents move
    /// up into the root and the child is freed (the tree shrinks a level).
    fn collapse_root(&self, root: &mut ExclusiveGuard<'_>, child: PageId) -> Result<()> {
        if child == self.root {
            return Err(corrupt(child, "the root is its own child"));
        }
        let child_guard = self.pager.exclusive(child)?;
        root.copy_from_slice(&child_guard);
        let header = Header::read(root).map_err(|Restart| corrupt(child, "bad node header"))?;
        if header.is_leaf() {
            node::set_left(root, PageId::NONE);
            node::set_right(root, PageId::NONE);
        }
        child_guard.free()?;
        Counters::add(&self.counters.root_collapses);
        Ok(())
    }

    // ---- whole-tree operations -----------------------------------------

    /// Removes every entry, freeing every page but the root.
    ///
    /// # Errors
    /// Pager errors.
    pub fn clear(&self) -> Result<()> {
        let _writer = self.writer.lock();
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
            if header.is_leaf() {
                for index in 0..header.count {
                    if let ValueAt::Overflow { first, .. } =
                        node::value_at(&*guard, index).map_err(bad)?
                    {
                        let mut next = first;
                        while next != PageId::NONE {
                            pages.push(next);
                            next = self
                                .pager
                                .read(next, |view| node::overflow_header(view))?
                                .map(|(_, next)| next)
                                .ok_or(corrupt(next, "not an overflow page"))?;
                        }
                    }
                }
            } else {
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

/// Where `key` is in the latched `leaf`.
fn find_in_leaf(leaf: &[u8], page: PageId, header: Header, key: &[u8]) -> Result<InLeaf> {
    let bad = |Restart| corrupt(page, "bad cell");
    let index = match node::search(leaf, true, header.count, key).map_err(bad)? {
        Ok(index) => index,
        Err(index) => return Ok(InLeaf::Absent { index }),
    };
    let offset = node::cell_offset(leaf, index).map_err(bad)?;
    let cell_len = node::cell_len(leaf, true, offset).map_err(bad)?;
    let overflow = match node::value_at(leaf, index).map_err(bad)? {
        ValueAt::Overflow { first, len } => Some((first, len)),
        ValueAt::Inline { .. } => None,
    };
    Ok(InLeaf::Present(Found {
        index,
        cell_len,
        overflow,
    }))
}

fn collect_cells(page: &[u8], id: PageId, header: Header) -> Result<Vec<Vec<u8>>> {
    (0..header.count)
        .map(|index| node::cell_bytes(page, header.is_leaf(), index).map(<[u8]>::to_vec))
        .collect::<Result<_, _>>()
        .map_err(|Restart| corrupt(id, "bad cell"))
}

/// How a run of cells too large for one page is cut in two.
struct Division {
    /// The cells of the left page.
    low: std::ops::Range<usize>,
    /// The cells of the right page.
    high: std::ops::Range<usize>,
    /// The key the parent takes for the right page.
    separator: Vec<u8>,
    /// Inner pages: the right page's first child (the child of the cell
    /// that moved up).
    right_first: PageId,
}

/// Cuts `cells` in two. A leaf's halves are divided by the shortest
/// separator; an inner page's middle cell moves up. Cells of a damaged page
/// may not divide: that is [`Error::Corrupt`].
///
/// Where the cell that overflowed the page was `appended` after every other
/// one — ascending inserts: a load, keys growing with time — the page keeps
/// all it held and the new cell starts the right page, as SQLite's
/// `balance_quick` and PostgreSQL's rightmost split do: an ascending run
/// fills its pages instead of leaving each half empty. Otherwise the halves
/// are of about equal bytes.
fn divide(
    cells: &[Vec<u8>],
    leaf: bool,
    page: PageId,
    usable: usize,
    appended: bool,
) -> Result<Division> {
    let division = if leaf {
        if cells.len() < 2 {
            return Err(corrupt(page, "a full leaf with fewer than two cells"));
        }
        let middle = if appended {
            cells.len() - 1
        } else {
            split_point(cells)
        };
        let separator = node::separator(
            node::cell_key(&cells[middle - 1], true),
            node::cell_key(&cells[middle], true),
        )
        .ok_or(corrupt(page, "keys out of order"))?;
        Division {
            low: 0..middle,
            high: middle..cells.len(),
            separator,
            right_first: PageId::NONE,
        }
    } else {
        if cells.len() < 3 {
            return Err(corrupt(
                page,
                "a full inner page with fewer than three cells",
            ));
        }
        let middle = if appended {
            cells.len() - 2
        } else {
            split_point(cells).clamp(1, cells.len() - 2)
        };
        Division {
            low: 0..middle,
            high: middle + 1..cells.len(),
            separator: node::cell_key(&cells[middle], false).to_vec(),
            right_first: node::cell_child(&cells[middle]),
        }
    };
    let fits = |range: &std::ops::Range<usize>| {
        node::cells_bytes(cells[range.clone()].iter().map(Vec::as_slice)) <= usable
    };
    if !fits(&division.low) || !fits(&division.high) {
        return Err(corrupt(page, "cells larger than two pages hold"));
    }
    Ok(division)
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

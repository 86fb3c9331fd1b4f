//! The page map: logical page id → physical block and checksum.
//!
//! In memory its entries live in the page table's slots, indexed by page id
//! ([`PageTable`], [`Slot::entry`](crate::page_table::Slot::entry)), where a
//! miss reads them without a lock; this type holds the rest, behind the
//! store's mutex: the id allocator, and which map nodes changed. On disk it
//! is a radix tree of map nodes, one block each, written out of place at
//! every checkpoint: only the leaves whose entries changed, and the path
//! from them to the root, are rewritten (byte map in docs/FORMAT.md). A
//! subtree with no allocated page is stored as an absent reference, not as
//! zeros.

use std::collections::BTreeSet;
use std::path::Path;

use keel_io::File;

use crate::blocks::Bitset;
use crate::checksum::map_node_checksum;
use crate::error::{Error, MapProblem, Result};
use crate::meta::{FIRST_DATA_BLOCK, Meta, NodeRef};
use crate::page_id::PageId;
use crate::page_table::{PageEntry, PageTable};

/// Bytes of one map entry: block (u64), checksum (u32), reserved (u32).
pub const MAP_ENTRY_BYTES: usize = 16;
const _: () = assert!(MAP_ENTRY_BYTES == size_of::<u64>() + 2 * size_of::<u32>());

/// The tallest map a valid file can have (a 4 KiB-page map of 2^32 pages
/// is 4 levels high; this bound stops a damaged meta slot early).
const MAP_HEIGHT_MAX: u8 = 8;

/// The in-memory page map of the current state, apart from its entries
/// (which are in the [`PageTable`] every method that needs them is given).
///
/// Every method that changes an entry is called with the store's mutex
/// held, so there is one writer of entries at a time.
#[derive(Debug)]
pub(crate) struct PageMap {
    /// Entries per map node.
    fanout: u64,
    /// Page ids below this have been handed out at some time.
    limit: u64,
    /// Leaves whose ids are in play: a leaf holding an allocated page at
    /// open, or one whose free ids were since added to `free_ids`. The ids
    /// of the other leaves below the limit are handed out only when no
    /// free id is left, so the ids in use stay dense.
    opened_leaves: Bitset,
    /// No unopened leaf below the page id limit lies below this one.
    unopened_from: u64,
    /// `levels[k][i]`: where node `i` of level `k` is on disk (0 = leaves).
    levels: Vec<Vec<NodeRef>>,
    /// Leaves whose entries changed since the last checkpoint.
    dirty_leaves: BTreeSet<u64>,
    /// Levels added since the last checkpoint (their roots must be written).
    grown: bool,
    /// Free ids inside chunks, reused lowest first so the id space stays
    /// dense.
    free_ids: BTreeSet<u64>,
    page_count: u64,
}

/// Where the map writer gets blocks for new nodes and returns the blocks of
/// the nodes they replace.
pub(crate) trait NodeBlocks {
    /// A free block.
    fn allocate(&mut self) -> Result<u64>;
    /// A block the current map no longer uses.
    fn release(&mut self, block: u64);
}

/// A map node to write at a checkpoint.
pub(crate) struct NodeWrite {
    pub(crate) block: u64,
    pub(crate) bytes: Vec<u8>,
}

/// Context for naming a damaged map node.
struct LoadContext<'a> {
    path: &'a Path,
    meta: &'a Meta,
    file_blocks: u64,
}

impl LoadContext<'_> {
    fn error(&self, level: u8, node: u64, block: u64, problem: MapProblem) -> Error {
        Error::MapCorruption {
            path: self.path.to_path_buf(),
            checkpoint_id: self.meta.checkpoint_id,
            level,
            node,
            block,
            problem,
        }
    }

    /// Refuses a `block` outside the data blocks.
    fn in_range(&self, level: u8, node: u64, block: u64) -> Result<()> {
        if block < FIRST_DATA_BLOCK || block >= self.file_blocks {
            return Err(self.error(
                level,
                node,
                block,
                MapProblem::BlockOutOfRange {
                    block,
                    file_blocks: self.file_blocks,
                },
            ));
        }
        Ok(())
    }

    /// Records `block` as referenced, refusing one outside the data blocks
    /// or referenced twice.
    fn claim(&self, used: &mut Bitset, level: u8, node: u64, block: u64) -> Result<()> {
        self.in_range(level, node, block)?;
        if !used.insert(block) {
            return Err(self.error(
                level,
                node,
                block,
                MapProblem::BlockReferencedTwice { block },
            ));
        }
        Ok(())
    }

    /// Reads map node `index` of `level` (at `node`) into `bytes` and
    /// checks its checksum.
    fn read_node(
        &self,
        file: &dyn File,
        level: u8,
        index: u64,
        node: NodeRef,
        bytes: &mut [u8],
    ) -> Result<()> {
        file.read_exact_at(bytes, node.block * bytes.len() as u64)?;
        let found = map_node_checksum(level, index, bytes);
        if found != node.checksum {
            return Err(self.error(
                level,
                index,
                node.block,
                MapProblem::Checksum {
                    expected: node.checksum,
                    found,
                },
            ));
        }
        Ok(())
    }

    /// Calls `visit(slot, block, checksum)` for each used entry of a node
    /// [`LoadContext::read_node`] read, refusing a set reserved field.
    fn entries(
        &self,
        level: u8,
        index: u64,
        node: NodeRef,
        bytes: &[u8],
        mut visit: impl FnMut(u64, u64, u32) -> Result<()>,
    ) -> Result<()> {
        for (slot, entry) in bytes.chunks_exact(MAP_ENTRY_BYTES).enumerate() {
            let (block, checksum, reserved) = decode_entry(entry);
            if reserved != 0 {
                return Err(self.error(
                    level,
                    index,
                    node.block,
                    MapProblem::ReservedField { entry: slot as u64 },
                ));
            }
            if block != 0 {
                visit(slot as u64, block, checksum)?;
            }
        }
        Ok(())
    }

    /// The page a leaf's entry names, refusing id 0 and ids past `limit`.
    fn leaf_page(&self, leaf: u64, node: NodeRef, child: u64, limit: u64) -> Result<PageId> {
        if child == 0 || child >= limit {
            return Err(self.error(
                0,
                leaf,
                node.block,
                MapProblem::PageBeyondLimit {
                    page: PageId::new(child),
                    limit,
                },
            ));
        }
        Ok(PageId::new(child))
    }
}

/// The height a map for `limit` page ids needs: the least `h` with
/// `fanout^(h+1) >= limit`.
fn height_for(fanout: u64, limit: u64) -> u8 {
    let mut height = 0u8;
    let mut span = fanout;
    while span < limit {
        span = span.saturating_mul(fanout);
        height += 1;
    }
    height
}

/// The entry of page `id`, if its slot exists.
fn entry(table: &PageTable, id: u64) -> Option<PageEntry> {
    table.get(PageId::new(id)).map(|slot| slot.entry())
}

/// Page ids covered by one node of `level`.
fn node_span(fanout: u64, level: usize) -> u64 {
    fanout.saturating_pow(level as u32 + 1)
}

fn encode_entry(out: &mut [u8], block: u64, checksum: u32) {
    out[..8].copy_from_slice(&block.to_le_bytes());
    out[8..12].copy_from_slice(&checksum.to_le_bytes());
    out[12..16].fill(0);
}

fn decode_entry(bytes: &[u8]) -> (u64, u32, u32) {
    let mut block = [0u8; 8];
    block.copy_from_slice(&bytes[..8]);
    let mut checksum = [0u8; 4];
    checksum.copy_from_slice(&bytes[8..12]);
    let mut reserved = [0u8; 4];
    reserved.copy_from_slice(&bytes[12..16]);
    (
        u64::from_le_bytes(block),
        u32::from_le_bytes(checksum),
        u32::from_le_bytes(reserved),
    )
}

impl PageMap {
    /// The map of a new, empty file.
    pub(crate) fn empty(page_size: usize) -> Self {
        let mut map = Self {
            fanout: (page_size / MAP_ENTRY_BYTES) as u64,
            limit: 1,
            opened_leaves: Bitset::default(),
            unopened_from: 0,
            levels: vec![vec![NodeRef::ABSENT]],
            dirty_leaves: BTreeSet::new(),
            grown: false,
            free_ids: BTreeSet::new(),
            page_count: 0,
        };
        map.fit_levels();
        map
    }

    /// Reads the map of `meta`'s checkpoint, its entries into `table`
    /// (which must be new); returns it and every block it references (pages
    /// and map nodes).
    pub(crate) fn load(
        file: &dyn File,
        path: &Path,
        meta: &Meta,
        file_blocks: u64,
        table: &PageTable,
    ) -> Result<(Self, Bitset)> {
        Self::read(file, path, meta, file_blocks, table, true)
    }

    /// The map of `meta`'s checkpoint without its leaves (unless the root
    /// is one): the nodes above them, whose references say where each
    /// leaf is, and the page count the meta slot recorded. A leaf's
    /// entries come into `table` with [`PageMap::load_leaf`] when a page
    /// of it is first read; [`PageMap::load`] reads the whole map (and
    /// checks it: blocks in range and used once, the page count) before
    /// anything changes.
    pub(crate) fn open_lazy(
        file: &dyn File,
        path: &Path,
        meta: &Meta,
        file_blocks: u64,
        table: &PageTable,
    ) -> Result<Self> {
        Self::read(file, path, meta, file_blocks, table, false).map(|(map, _)| map)
    }

    /// Reads `leaf`'s entries (as of the checkpoint the map was opened
    /// at) into `table`. Only for a map from [`PageMap::open_lazy`] that
    /// nothing has changed yet.
    pub(crate) fn load_leaf(
        &self,
        file: &dyn File,
        path: &Path,
        meta: &Meta,
        file_blocks: u64,
        leaf: u64,
        table: &PageTable,
    ) -> Result<()> {
        let Some(&node) = self.levels[0].get(leaf as usize) else {
            return Ok(());
        };
        if node.is_absent() {
            return Ok(());
        }
        let context = LoadContext {
            path,
            meta,
            file_blocks,
        };
        context.in_range(0, leaf, node.block)?;
        let mut bytes = vec![0u8; meta.page_size as usize];
        context.read_node(file, 0, leaf, node, &mut bytes)?;
        context.entries(0, leaf, node, &bytes, |slot, block, checksum| {
            let page = context.leaf_page(leaf, node, leaf * self.fanout + slot, self.limit)?;
            context.in_range(0, leaf, block)?;
            table.slot(page).set_entry(PageEntry {
                block,
                checksum,
                allocated: true,
            });
            Ok(())
        })
    }

    /// The number of leaves (whether present or absent).
    pub(crate) fn leaf_count(&self) -> u64 {
        self.levels[0].len() as u64
    }

    /// Reads the map; with `leaves` false, only the nodes above the leaves.
    fn read(
        file: &dyn File,
        path: &Path,
        meta: &Meta,
        file_blocks: u64,
        table: &PageTable,
        leaves: bool,
    ) -> Result<(Self, Bitset)> {
        let page_size = meta.page_size as usize;
        let context = LoadContext {
            path,
            meta,
            file_blocks,
        };
        let mut map = Self::empty(page_size);
        let limit = meta.page_id_limit;
        if limit > PageId::MAX.get() + 1
            || meta.map_height > MAP_HEIGHT_MAX
            || meta.map_height != height_for(map.fanout, limit)
        {
            return Err(context.error(
                meta.map_height,
                0,
                meta.map_root.block,
                MapProblem::Height {
                    height: meta.map_height,
                    limit,
                },
            ));
        }
        map.limit = limit;
        map.fit_levels();
        // The levels are those of the checkpoint, not new ones.
        map.grown = false;
        debug_assert_eq!(map.height(), meta.map_height);
        let mut used = Bitset::default();
        let height = meta.map_height;
        map.levels[height as usize][0] = meta.map_root;
        // Depth-first over present nodes: (level, index).
        let mut stack = vec![(height, 0u64)];
        let mut node_bytes = vec![0u8; page_size];
        let mut children = Vec::new();
        while let Some((level, index)) = stack.pop() {
            let node = map.levels[level as usize][index as usize];
            if node.is_absent() || (!leaves && level == 0 && height > 0) {
                continue;
            }
            context.claim(&mut used, level, index, node.block)?;
            context.read_node(file, level, index, node, &mut node_bytes)?;
            context.entries(level, index, node, &node_bytes, |slot, block, checksum| {
                let child = index * map.fanout + slot;
                if level == 0 {
                    let page = context.leaf_page(index, node, child, limit)?;
                    context.claim(&mut used, level, index, block)?;
                    table.slot(page).set_entry(PageEntry {
                        block,
                        checksum,
                        allocated: true,
                    });
                    map.opened_leaves.insert(index);
                    map.page_count += 1;
                } else {
                    let below = &mut map.levels[level as usize - 1];
                    if child >= below.len() as u64 {
                        return Err(context.error(
                            level,
                            index,
                            node.block,
                            MapProblem::PageBeyondLimit {
                                page: PageId::new(
                                    child.saturating_mul(node_span(map.fanout, level as usize - 1)),
                                ),
                                limit,
                            },
                        ));
                    }
                    below[child as usize] = NodeRef { block, checksum };
                    stack.push((level - 1, child));
                    if leaves || level > 1 {
                        children.push(block);
                    }
                }
                Ok(())
            })?;
            // Start every child's read now: the device reads them in
            // parallel while the loop takes them one by one (a cold open is
            // otherwise one seek per map node).
            crate::readahead::advise_runs(file, &children, page_size as u64);
            children.clear();
        }
        if !leaves && height > 0 {
            // Trusted until the whole map is read: it checks the count.
            map.page_count = meta.page_count;
            return Ok((map, used));
        }
        if map.page_count != meta.page_count {
            return Err(context.error(
                height,
                0,
                meta.map_root.block,
                MapProblem::PageCount {
                    recorded: meta.page_count,
                    found: map.page_count,
                },
            ));
        }
        // The free ids of the leaves that have pages; the other leaves are
        // opened later, lowest first.
        let mut free_ids = Vec::new();
        for leaf in map.opened_leaves() {
            free_ids.extend(
                map.leaf_ids(leaf)
                    .filter(|&id| !entry(table, id).is_some_and(|entry| entry.allocated)),
            );
        }
        map.free_ids.extend(free_ids);
        Ok((map, used))
    }

    /// Resizes the node levels to the page id limit, adding levels on top
    /// (the old root becomes child 0 of the new one).
    fn fit_levels(&mut self) {
        let limit = self.limit;
        let height = height_for(self.fanout, limit) as usize;
        while self.levels.len() < height + 1 {
            self.levels.push(vec![NodeRef::ABSENT]);
            self.grown = true;
        }
        for (level, nodes) in self.levels.iter_mut().enumerate() {
            let count = limit.div_ceil(node_span(self.fanout, level)).max(1) as usize;
            if nodes.len() < count {
                nodes.resize(count, NodeRef::ABSENT);
            }
        }
    }

    /// Levels above the leaves.
    pub(crate) fn height(&self) -> u8 {
        (self.levels.len() - 1) as u8
    }

    /// Page ids below this have been handed out.
    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    /// The leaves in `opened_leaves`, in order.
    fn opened_leaves(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.limit.div_ceil(self.fanout)).filter(|&leaf| self.opened_leaves.contains(leaf))
    }

    /// The ids of `leaf` that have been handed out at some time (below the
    /// limit; never id 0).
    fn leaf_ids(&self, leaf: u64) -> std::ops::Range<u64> {
        let first = leaf * self.fanout;
        first.max(1)..(first + self.fanout).min(self.limit)
    }

    pub(crate) fn page_count(&self) -> u64 {
        self.page_count
    }

    /// The root reference as of the last checkpoint's map write.
    pub(crate) fn root(&self) -> NodeRef {
        self.levels[self.levels.len() - 1][0]
    }

    /// Appends the blocks of the map nodes above the leaves, root first
    /// (as of the last map write): what an open reads of the map
    /// ([`PageMap::open_lazy`]). A map of height 1 has only its root
    /// there; each level below holds a 256th of the one below it at 4 KiB
    /// pages, so a few nodes at any size an open hint covers.
    pub(crate) fn upper_blocks(&self, out: &mut Vec<u64>) {
        for nodes in self.levels.iter().skip(1).rev() {
            out.extend(
                nodes
                    .iter()
                    .filter(|node| !node.is_absent())
                    .map(|node| node.block),
            );
        }
    }

    /// Appends the blocks an open reads to find `page`: the map nodes from
    /// the root down to its leaf, then the page's own block (as of the
    /// last map write; absent nodes end the path).
    pub(crate) fn path_blocks(&self, table: &PageTable, page: PageId, out: &mut Vec<u64>) {
        for (level, nodes) in self.levels.iter().enumerate().rev() {
            let index = page.get() / node_span(self.fanout, level);
            match nodes.get(index as usize) {
                Some(node) if !node.is_absent() => out.push(node.block),
                _ => return,
            }
        }
        if let Some(entry) = self.get(table, page) {
            out.push(entry.block);
        }
    }

    /// The entry of `page`, if it is allocated.
    pub(crate) fn get(&self, table: &PageTable, page: PageId) -> Option<PageEntry> {
        entry(table, page.get()).filter(|entry| entry.allocated)
    }

    /// Every allocated page id, in order.
    pub(crate) fn allocated<'a>(
        &'a self,
        table: &'a PageTable,
    ) -> impl Iterator<Item = PageId> + 'a {
        self.opened_leaves()
            .flat_map(|leaf| self.leaf_ids(leaf))
            .filter(move |&id| entry(table, id).is_some_and(|entry| entry.allocated))
            .map(PageId::new)
    }

    /// Hands out a page id (the lowest free one), not yet written.
    pub(crate) fn allocate(&mut self, table: &PageTable) -> Option<PageId> {
        if self.free_ids.is_empty() {
            self.open_leaf();
        }
        let id = match self.free_ids.pop_first() {
            Some(id) => id,
            None => {
                let id = self.limit;
                if id > PageId::MAX.get() {
                    return None;
                }
                self.limit += 1;
                self.fit_levels();
                self.opened_leaves.insert(id / self.fanout);
                id
            }
        };
        let slot = table.slot(PageId::new(id));
        debug_assert_eq!(slot.entry(), PageEntry::default());
        slot.set_entry(PageEntry {
            block: 0,
            checksum: 0,
            allocated: true,
        });
        self.page_count += 1;
        self.dirty_leaves.insert(id / self.fanout);
        Some(PageId::new(id))
    }

    /// Adds the ids of the lowest unopened leaf below the limit (if any) to
    /// the free ids.
    fn open_leaf(&mut self) {
        let leaves = self.limit.div_ceil(self.fanout);
        while self.unopened_from < leaves {
            let leaf = self.unopened_from;
            self.unopened_from += 1;
            if self.opened_leaves.insert(leaf) {
                let ids = self.leaf_ids(leaf);
                self.free_ids.extend(ids);
                if !self.free_ids.is_empty() {
                    return;
                }
            }
        }
    }

    /// Frees `page`; returns its block (0 if it was never written).
    pub(crate) fn free(&mut self, table: &PageTable, page: PageId) -> Option<u64> {
        let block = self.get(table, page)?.block;
        table.slot(page).set_entry(PageEntry::default());
        self.page_count -= 1;
        self.free_ids.insert(page.get());
        self.dirty_leaves.insert(page.get() / self.fanout);
        Some(block)
    }

    /// Records that `page` now lives in `block`; returns its previous block
    /// (0 if it had none).
    pub(crate) fn set_block(
        &mut self,
        table: &PageTable,
        page: PageId,
        block: u64,
        checksum: u32,
    ) -> u64 {
        let slot = table.slot(page);
        let entry = slot.entry();
        debug_assert!(entry.allocated, "block set for free page {page}");
        slot.set_entry(PageEntry {
            block,
            checksum,
            allocated: true,
        });
        let previous = entry.block;
        self.dirty_leaves.insert(page.get() / self.fanout);
        previous
    }

    /// Marks for the next checkpoint every map node stored at or beyond
    /// `boundary` (through a leaf below it: the rewrite of a leaf rewrites
    /// its path), so that it moves to a free block; returns how many.
    pub(crate) fn mark_nodes_from(&mut self, boundary: u64) -> u64 {
        let mut marked = 0;
        let mut leaves_below = 1u64;
        for level in &self.levels {
            for (index, node) in level.iter().enumerate() {
                if node.block >= boundary {
                    self.dirty_leaves.insert(index as u64 * leaves_below);
                    marked += 1;
                }
            }
            leaves_below = leaves_below.saturating_mul(self.fanout);
        }
        marked
    }

    /// Whether the map changed since the last checkpoint.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn is_dirty(&self) -> bool {
        self.grown || !self.dirty_leaves.is_empty()
    }

    /// Encodes every map node that changed since the last checkpoint, bottom
    /// up, each into a block from `blocks`, to which the blocks of the nodes
    /// they replace go back. Afterwards [`PageMap::root`] is the new root.
    ///
    /// Every allocated page must have a block (the checkpoint writes the
    /// pages first).
    pub(crate) fn write_changed_nodes(
        &mut self,
        table: &PageTable,
        page_size: usize,
        blocks: &mut dyn NodeBlocks,
    ) -> Result<Vec<NodeWrite>> {
        let mut writes = Vec::new();
        let mut dirty: BTreeSet<u64> = std::mem::take(&mut self.dirty_leaves);
        let height = self.levels.len() - 1;
        for level in 0..=height {
            if level == height && self.grown {
                dirty.insert(0);
            }
            let mut parents = BTreeSet::new();
            for &index in &dirty {
                let mut bytes = vec![0u8; page_size];
                let mut empty = true;
                for (slot, out) in bytes.chunks_exact_mut(MAP_ENTRY_BYTES).enumerate() {
                    let child = index * self.fanout + slot as u64;
                    let (block, checksum) = if level == 0 {
                        match entry(table, child) {
                            Some(entry) if entry.allocated => {
                                assert!(entry.block != 0, "page {child} was never written");
                                (entry.block, entry.checksum)
                            }
                            _ => (0, 0),
                        }
                    } else {
                        match self.levels[level - 1].get(child as usize) {
                            Some(node) => (node.block, node.checksum),
                            None => (0, 0),
                        }
                    };
                    if block != 0 {
                        empty = false;
                        encode_entry(out, block, checksum);
                    }
                }
                let old = self.levels[level][index as usize];
                let new = if empty {
                    NodeRef::ABSENT
                } else {
                    let block = blocks.allocate()?;
                    let checksum = map_node_checksum(level as u8, index, &bytes);
                    writes.push(NodeWrite { block, bytes });
                    NodeRef { block, checksum }
                };
                if !old.is_absent() {
                    blocks.release(old.block);
                }
                self.levels[level][index as usize] = new;
                parents.insert(index / self.fanout);
            }
            dirty = parents;
        }
        self.grown = false;
        Ok(writes)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn heights() {
        assert_eq!(height_for(256, 1), 0);
        assert_eq!(height_for(256, 256), 0);
        assert_eq!(height_for(256, 257), 1);
        assert_eq!(height_for(256, 65536), 1);
        assert_eq!(height_for(256, 65537), 2);
        assert_eq!(height_for(256, 1 << 32), 3);
        assert_eq!(height_for(256, (1 << 32) + 1), 4);
    }

    #[test]
    fn ids_are_reused_lowest_first_and_id_zero_never() {
        let table = PageTable::new();
        let mut map = PageMap::empty(4096);
        let ids: Vec<u64> = (0..5)
            .map(|_| map.allocate(&table).unwrap().get())
            .collect();
        assert_eq!(ids, [1, 2, 3, 4, 5]);
        map.free(&table, PageId::new(4));
        map.free(&table, PageId::new(2));
        assert!(map.get(&table, PageId::new(2)).is_none());
        assert_eq!(map.allocate(&table).unwrap().get(), 2);
        assert_eq!(map.allocate(&table).unwrap().get(), 4);
        assert_eq!(map.allocate(&table).unwrap().get(), 6);
        assert_eq!(map.page_count(), 6);
        assert!(map.free(&table, PageId::NONE).is_none());
        let allocated: Vec<u64> = map.allocated(&table).map(PageId::get).collect();
        assert_eq!(allocated, [1, 2, 3, 4, 5, 6]);
    }

    struct Counting {
        next: u64,
        released: Vec<u64>,
    }

    impl NodeBlocks for Counting {
        fn allocate(&mut self) -> Result<u64> {
            self.next += 1;
            Ok(self.next)
        }
        fn release(&mut self, block: u64) {
            self.released.push(block);
        }
    }

    #[test]
    fn only_changed_nodes_are_written() {
        let table = PageTable::new();
        let mut map = PageMap::empty(4096);
        let mut blocks = Counting {
            next: 10,
            released: Vec::new(),
        };
        for _ in 0..600 {
            let page = map.allocate(&table).unwrap();
            map.set_block(&table, page, 1000 + page.get(), 7);
        }
        assert_eq!(map.height(), 1);
        let writes = map.write_changed_nodes(&table, 4096, &mut blocks).unwrap();
        // Three leaves (ids 0..768) and the root.
        assert_eq!(writes.len(), 4);
        assert!(!map.is_dirty());
        map.set_block(&table, PageId::new(300), 5000, 1);
        let writes = map.write_changed_nodes(&table, 4096, &mut blocks).unwrap();
        assert_eq!(writes.len(), 2, "one leaf and the root");
        assert_eq!(blocks.released.len(), 2);
    }

    #[test]
    fn the_nodes_above_the_leaves_are_named_root_first() {
        let table = PageTable::new();
        let mut map = PageMap::empty(4096);
        let mut blocks = Counting {
            next: 10,
            released: Vec::new(),
        };
        // Ids past 256 * 256: a root, two nodes below it, then leaves.
        for _ in 0..70_000 {
            let page = map.allocate(&table).unwrap();
            map.set_block(&table, page, 1_000_000 + page.get(), 7);
        }
        assert_eq!(map.height(), 2);
        let writes = map.write_changed_nodes(&table, 4096, &mut blocks).unwrap();
        let mut upper = Vec::new();
        map.upper_blocks(&mut upper);
        assert_eq!(upper.len(), 3, "{upper:?}");
        assert_eq!(upper[0], map.root().block);
        // Each is a node written, none a leaf: the leaves' entries name
        // pages' blocks, the nodes above name nodes.
        let leaves = map.levels[0]
            .iter()
            .map(|node| node.block)
            .collect::<Vec<_>>();
        for block in &upper {
            assert!(writes.iter().any(|write| write.block == *block));
            assert!(!leaves.contains(block));
        }
    }
}

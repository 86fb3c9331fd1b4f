//! Bulk load: builds a tree bottom-up from sorted entries, a level at a
//! time, each page filled to a chosen fraction — far fewer page writes than
//! inserting one key at a time, and no splits.

use keel_pager::{ExclusiveGuard, PageId};

use crate::error::{Error, Result};
use crate::node::{self, Kind, SLOT_BYTES, StoredValue};
use crate::overflow;
use crate::tree::BTree;

/// The default fraction of each page a bulk load fills: room is left for
/// later inserts to land without splitting at once.
pub const BULK_FILL_DEFAULT: f64 = 0.9;

/// A node of an inner level, built in memory before it is written.
struct InnerNode {
    first_child: PageId,
    cells: Vec<Vec<u8>>,
    bytes: usize,
}

/// What the load has written so far, freed again if it fails.
#[derive(Default)]
struct Written {
    pages: Vec<PageId>,
    chains: Vec<(PageId, usize)>,
}

impl BTree {
    /// Loads `entries` — strictly ascending by key — into this tree, which
    /// must be empty, filling each page to `fill_factor` of its space
    /// (0.5 < f ≤ 1.0; [`BULK_FILL_DEFAULT`] is a good start). Returns the
    /// number of entries loaded.
    ///
    /// Readers see the tree empty until the load ends, then whole.
    ///
    /// # Errors
    /// [`Error::NotEmpty`], [`Error::Unsorted`], [`Error::FillFactor`],
    /// [`Error::KeyTooLarge`], [`Error::ValueTooLarge`], pager errors. On
    /// an error the tree is left empty and every page written is freed.
    pub fn bulk_load<I, K, V>(&self, entries: I, fill_factor: f64) -> Result<u64>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        if !(fill_factor > 0.5 && fill_factor <= 1.0) {
            return Err(Error::FillFactor { value: fill_factor });
        }
        let mut writer = self.writer.lock();
        writer.leaf = None;
        if !self.is_empty()? {
            return Err(Error::NotEmpty { root: self.root });
        }
        let mut written = Written::default();
        match self.load_levels(entries, fill_factor, &mut written) {
            Ok(count) => Ok(count),
            Err(error) => {
                for (first, len) in written.chains {
                    let _ = overflow::free(&self.pager, first, len);
                }
                for page in written.pages {
                    let _ = self.pager.free(page);
                }
                Err(error)
            }
        }
    }

    fn load_levels<I, K, V>(
        &self,
        entries: I,
        fill_factor: f64,
        written: &mut Written,
    ) -> Result<u64>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<[u8]>,
        V: AsRef<[u8]>,
    {
        let budget = ((self.geometry.usable() as f64) * fill_factor) as usize;
        // Leaves are written as they fill; `children` is the level above:
        // (separator from the previous leaf, leaf).
        let mut children: Vec<(Vec<u8>, PageId)> = Vec::new();
        let mut cells: Vec<Vec<u8>> = Vec::new();
        let mut bytes = 0;
        let mut previous: Option<ExclusiveGuard<'_>> = None;
        let mut previous_last_key: Option<Vec<u8>> = None;
        let mut last_key: Option<Vec<u8>> = None;
        let mut count: u64 = 0;
        for (key, value) in entries {
            let (key, value) = (key.as_ref(), value.as_ref());
            self.check_key(key)?;
            Self::check_value(value)?;
            if last_key.as_deref().is_some_and(|last| last >= key) {
                return Err(Error::Unsorted { index: count });
            }
            let stored = if self.geometry.value_inline(key.len(), value.len()) {
                StoredValue::Inline(value)
            } else {
                let first = overflow::write(&self.pager, self.geometry, value)?;
                written.chains.push((first, value.len()));
                StoredValue::Overflow {
                    first,
                    len: value.len(),
                }
            };
            let cell = node::leaf_cell(key, stored);
            if !cells.is_empty() && bytes + cell.len() + SLOT_BYTES > budget {
                self.flush_leaf(
                    &mut cells,
                    &mut previous,
                    &mut previous_last_key,
                    &mut children,
                    written,
                )?;
                bytes = 0;
            }
            bytes += cell.len() + SLOT_BYTES;
            cells.push(cell);
            last_key = Some(key.to_vec());
            count += 1;
        }
        if count == 0 {
            return Ok(0);
        }
        if children.is_empty() {
            // One leaf: it is the root.
            let mut root = self.pager.exclusive(self.root)?;
            node::build(
                &mut root,
                Kind::Leaf,
                PageId::NONE,
                PageId::NONE,
                cells.iter().map(Vec::as_slice),
            );
            return Ok(count);
        }
        self.flush_leaf(
            &mut cells,
            &mut previous,
            &mut previous_last_key,
            &mut children,
            written,
        )?;
        drop(previous);
        // Inner levels, each built in memory, until one node is left.
        loop {
            let mut nodes: Vec<InnerNode> = Vec::new();
            let mut separators: Vec<Vec<u8>> = Vec::new();
            for (separator, child) in children {
                let cell = node::inner_cell(&separator, child);
                match nodes.last_mut() {
                    Some(node) if node.bytes + cell.len() + SLOT_BYTES <= budget => {
                        node.bytes += cell.len() + SLOT_BYTES;
                        node.cells.push(cell);
                    }
                    _ => {
                        // The separator goes up a level; the child starts a node.
                        separators.push(separator);
                        nodes.push(InnerNode {
                            first_child: child,
                            cells: Vec::new(),
                            bytes: 0,
                        });
                    }
                }
            }
            if nodes.len() == 1 {
                let top = &nodes[0];
                let mut root = self.pager.exclusive(self.root)?;
                node::build(
                    &mut root,
                    Kind::Inner,
                    top.first_child,
                    PageId::NONE,
                    top.cells.iter().map(Vec::as_slice),
                );
                return Ok(count);
            }
            children = Vec::with_capacity(nodes.len());
            for (node_cells, separator) in nodes.into_iter().zip(separators) {
                let mut guard = self.pager.allocate()?;
                written.pages.push(guard.page_id());
                node::build(
                    &mut guard,
                    Kind::Inner,
                    node_cells.first_child,
                    PageId::NONE,
                    node_cells.cells.iter().map(Vec::as_slice),
                );
                children.push((separator, guard.page_id()));
            }
        }
    }

    /// Writes `cells` as the next leaf, linked after `previous`.
    fn flush_leaf<'a>(
        &'a self,
        cells: &mut Vec<Vec<u8>>,
        previous: &mut Option<ExclusiveGuard<'a>>,
        previous_last_key: &mut Option<Vec<u8>>,
        children: &mut Vec<(Vec<u8>, PageId)>,
        written: &mut Written,
    ) -> Result<()> {
        let mut guard = self.pager.allocate()?;
        let page = guard.page_id();
        written.pages.push(page);
        let left = previous
            .as_ref()
            .map_or(PageId::NONE, ExclusiveGuard::page_id);
        node::build(
            &mut guard,
            Kind::Leaf,
            left,
            PageId::NONE,
            cells.iter().map(Vec::as_slice),
        );
        if let Some(previous) = previous.as_mut() {
            node::set_right(previous, page);
        }
        let first_key = node::cell_key(&cells[0], true);
        let separator = match previous_last_key {
            // The input was checked to ascend.
            Some(last) => node::separator(last, first_key).unwrap_or_else(|| first_key.to_vec()),
            None => Vec::new(),
        };
        children.push((separator, page));
        *previous_last_key = cells.last().map(|cell| node::cell_key(cell, true).to_vec());
        *previous = Some(guard);
        cells.clear();
        Ok(())
    }
}

//! Bulk load: builds a tree bottom-up from sorted entries, a level at a
//! time, each page filled to a chosen fraction — far fewer page writes than
//! inserting one key at a time, and no splits.

use keel_pager::{ExclusiveGuard, PageId};

use crate::error::{Error, Result};
use crate::node::{self, Kind, Packing, StoredValue};
use crate::overflow;
use crate::tree::BTree;

/// The default fraction of each page a bulk load fills: room is left for
/// later inserts to land without splitting at once.
pub const BULK_FILL_DEFAULT: f64 = 0.9;

/// A node of an inner level, built in memory before it is written.
struct InnerNode {
    first_child: PageId,
    cells: Vec<Vec<u8>>,
    /// The bytes of `cells` in a page.
    bytes: Packing,
}

/// What the load has written so far, freed again if it fails.
#[derive(Default)]
struct Written {
    pages: Vec<PageId>,
    /// Values' and long keys' chains: first page and bytes.
    chains: Vec<(PageId, usize)>,
}

/// The level above the leaves being built: each child with the parent
/// cell for it (an inner cell whose child is set when it is placed; a
/// long separator's chain written once); the first child's is empty.
type Children = Vec<(Vec<u8>, PageId)>;

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
        let mut children: Children = Vec::new();
        let mut cells: Vec<Vec<u8>> = Vec::new();
        let mut bytes = Packing::default();
        let mut previous: Option<ExclusiveGuard<'_>> = None;
        // The last key of the previous leaf and the first of this one.
        let mut previous_last_key: Option<Vec<u8>> = None;
        let mut first_key: Vec<u8> = Vec::new();
        let mut last_key: Option<Vec<u8>> = None;
        let mut count: u64 = 0;
        for (key, value) in entries {
            let (key, value) = (key.as_ref(), value.as_ref());
            self.check_key(key)?;
            Self::check_value(value)?;
            if last_key.as_deref().is_some_and(|last| last >= key) {
                return Err(Error::Unsorted { index: count });
            }
            let key_field = self.geometry.key_field_len(key.len());
            let stored = if self.geometry.value_inline(key_field, value.len()) {
                StoredValue::Inline(value)
            } else {
                let first = overflow::write(&self.pager, self.geometry, value)?;
                written.chains.push((first, value.len()));
                StoredValue::Overflow {
                    first,
                    len: value.len(),
                }
            };
            let key_chain = self.write_key_chain(key)?;
            if let Some(chain) = key_chain {
                written.chains.push((chain.first, chain.rest()));
            }
            let cell = node::leaf_cell(Self::stored_key(key, key_chain), stored);
            if !cells.is_empty() && bytes.with(&cell, true) > budget {
                self.flush_leaf(
                    &mut cells,
                    &mut previous,
                    (&mut previous_last_key, &first_key, last_key.as_deref()),
                    &mut children,
                    written,
                )?;
                bytes = Packing::default();
            }
            if cells.is_empty() {
                first_key.clear();
                first_key.extend_from_slice(key);
            }
            bytes.push(&cell, true);
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
            (&mut previous_last_key, &first_key, last_key.as_deref()),
            &mut children,
            written,
        )?;
        drop(previous);
        // Inner levels, each built in memory, until one node is left.
        loop {
            let mut nodes: Vec<InnerNode> = Vec::new();
            let mut separators: Vec<Vec<u8>> = Vec::new();
            for (mut cell, child) in children {
                // The separator's cell takes the child (the first child's
                // cell is empty, and always starts a node).
                match nodes.last_mut() {
                    Some(node) if node.bytes.with(&cell, false) <= budget => {
                        node::set_cell_child(&mut cell, child);
                        node.bytes.push(&cell, false);
                        node.cells.push(cell);
                    }
                    _ => {
                        // The separator goes up a level; the child starts a node.
                        separators.push(cell);
                        nodes.push(InnerNode {
                            first_child: child,
                            cells: Vec::new(),
                            bytes: Packing::default(),
                        });
                    }
                }
            }
            self.balance_last(&mut nodes, &mut separators);
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

    /// A level's last node that holds only its first child (its separator
    /// did not fit the node before) would leave that child no sibling to
    /// merge or share entries with: it joins the node before when that
    /// page holds it, else takes that node's last entry.
    fn balance_last(&self, nodes: &mut Vec<InnerNode>, separators: &mut Vec<Vec<u8>>) {
        if nodes.len() < 2 || nodes.last().is_none_or(|last| !last.cells.is_empty()) {
            return;
        }
        let (Some(last), Some(mut separator)) = (nodes.pop(), separators.pop()) else {
            return;
        };
        node::set_cell_child(&mut separator, last.first_child);
        let Some(previous) = nodes.last_mut() else {
            return;
        };
        if previous.bytes.with(&separator, false) <= self.geometry.usable() {
            previous.bytes.push(&separator, false);
            previous.cells.push(separator);
            return;
        }
        // The previous node is nearly full of cells of at most a quarter
        // page: it keeps at least two.
        let Some(moved) = previous.cells.pop() else {
            return;
        };
        previous.bytes = Packing::of(previous.cells.iter().map(Vec::as_slice), false);
        nodes.push(InnerNode {
            first_child: node::cell_child(&moved),
            bytes: Packing::of([separator.as_slice()], false),
            cells: vec![separator],
        });
        separators.push(moved);
    }

    /// Writes `cells` as the next leaf, linked after `previous`; `keys` are
    /// the previous leaf's last key (which becomes this leaf's) and this
    /// leaf's first and last keys.
    fn flush_leaf<'a>(
        &'a self,
        cells: &mut Vec<Vec<u8>>,
        previous: &mut Option<ExclusiveGuard<'a>>,
        keys: (&mut Option<Vec<u8>>, &[u8], Option<&[u8]>),
        children: &mut Children,
        written: &mut Written,
    ) -> Result<()> {
        let (previous_last_key, first_key, last_key) = keys;
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
        let separator = match previous_last_key {
            // The input was checked to ascend.
            Some(last) => {
                let separator =
                    node::separator(last, first_key).unwrap_or_else(|| first_key.to_vec());
                let chain = self.write_key_chain(&separator)?;
                if let Some(chain) = chain {
                    written.chains.push((chain.first, chain.rest()));
                }
                node::inner_cell(Self::stored_key(&separator, chain), PageId::NONE)
            }
            None => Vec::new(),
        };
        children.push((separator, page));
        *previous_last_key = last_key.map(<[u8]>::to_vec);
        *previous = Some(guard);
        cells.clear();
        Ok(())
    }
}

//! Compaction: moving live pages out of the file's tail so that the file
//! can be cut. Pages and map nodes stored at or beyond a boundary are made
//! dirty; the next checkpoint writes them, copy-on-write, to the lowest
//! free blocks (below the boundary: it leaves room for them); the one after
//! it frees their old blocks, and [`Pager::shrink_to_fit`] cuts the file.

use super::*;

/// What [`Pager::relocate_tail`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Relocation {
    /// Blocks below which everything live is to end up.
    pub boundary: u64,
    /// Pages made dirty to move.
    pub pages: u64,
    /// Map nodes marked to move.
    pub map_nodes: u64,
}

impl Pager {
    /// Marks up to `pages_max` pages stored at or beyond the smallest
    /// boundary below which every live block fits (with a little room), and
    /// every map node there, to be written elsewhere by the next
    /// checkpoint. The one writer calls it between checkpoints.
    ///
    /// # Errors
    /// As [`Pager::exclusive`] (loading a page may evict a dirty one).
    pub fn relocate_tail(&self, pages_max: u64) -> Result<Relocation> {
        let (boundary, movers, map_nodes) = {
            let mut store = self.store()?;
            let store = &mut *store;
            let live = store.blocks.used().count();
            let boundary = FIRST_DATA_BLOCK + live + live / 64 + 16;
            if store.blocks.needed_blocks() <= boundary {
                return Ok(Relocation {
                    boundary,
                    ..Relocation::default()
                });
            }
            let movers: Vec<PageId> = store
                .map
                .allocated(&self.table)
                .filter(|&page| {
                    store
                        .map
                        .get(&self.table, page)
                        .is_some_and(|entry| entry.block >= boundary)
                })
                .take(usize::try_from(pages_max).unwrap_or(usize::MAX))
                .collect();
            let map_nodes = store.map.mark_nodes_from(boundary);
            (boundary, movers, map_nodes)
        };
        for &page in &movers {
            let mut guard = self.exclusive(page)?;
            guard.mark_dirty();
        }
        Ok(Relocation {
            boundary,
            pages: movers.len() as u64,
            map_nodes,
        })
    }

    /// Cuts the file right after the last block either the current state
    /// or the durable checkpoint uses. Returns the file's bytes after.
    ///
    /// # Errors
    /// The file's `set_len` (the file then stays as long as it was).
    pub fn shrink_to_fit(&self) -> Result<u64> {
        let mut store = self.store()?;
        let needed = store.blocks.needed_blocks();
        let page_bytes = self.page_size as u64;
        if needed < store.blocks.file_blocks() {
            self.cut_file(needed * page_bytes)?;
            store.blocks.shrink(needed);
        }
        Ok(store.blocks.file_blocks() * page_bytes)
    }
}

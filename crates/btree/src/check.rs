//! `check()`: every structural invariant of a tree, verified page by page,
//! with a typed report.

use std::collections::BTreeSet;
use std::fmt;

use keel_pager::{PageId, Pager, Restart};

use crate::error::Result;
use crate::node::{self, Header, KEY_BYTES_MAX, SLOT_BYTES, StoredKey, ValueAt};
use crate::tree::{BTree, PATH_DEPTH_MAX};

/// One broken invariant, with the page where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The page is not a leaf or inner page, or its slots and cells do not
    /// fit it.
    BadNode {
        /// The page.
        page: PageId,
    },
    /// Keys of a page not strictly ascending at cell `index`.
    KeysOutOfOrder {
        /// The page.
        page: PageId,
        /// The first cell out of order.
        index: usize,
    },
    /// A key outside the range its parent's separators give the page.
    KeyOutsideParentRange {
        /// The page.
        page: PageId,
        /// The cell.
        index: usize,
    },
    /// A cell larger than a quarter page, a key above the limit, or a long
    /// key's prefix longer than its cell may hold.
    CellTooLarge {
        /// The page.
        page: PageId,
        /// The cell.
        index: usize,
    },
    /// A slot's key head holds bytes other than zero past its key's
    /// remainder (the head pads a remainder shorter than four bytes with
    /// zeros): a search would misorder the key.
    KeyHead {
        /// The page.
        page: PageId,
        /// The cell.
        index: usize,
    },
    /// The header's free-space accounting (heap start and garbage bytes)
    /// disagrees with the slots, cells and prefix the page holds.
    FreeSpace {
        /// The page.
        page: PageId,
        /// Bytes of slots, cells and prefix the header accounts for.
        accounted: usize,
        /// Bytes of slots, cells and prefix found.
        found: usize,
    },
    /// A leaf at a depth other than the other leaves'.
    UnevenDepth {
        /// The leaf.
        page: PageId,
        /// Its depth.
        depth: usize,
        /// The depth of the first leaf.
        expected: usize,
    },
    /// A page that is not the root holds no entry.
    EmptyNode {
        /// The page.
        page: PageId,
    },
    /// A leaf's sibling link does not name its neighbour in key order.
    SiblingLink {
        /// The leaf.
        page: PageId,
        /// The link that should be there.
        expected: PageId,
        /// The link found.
        found: PageId,
        /// Whether it is the right link (else the left).
        right: bool,
    },
    /// An overflow chain that is broken or does not hold its value's length.
    OverflowChain {
        /// The leaf whose cell refers to it.
        leaf: PageId,
        /// The page where it broke.
        page: PageId,
    },
    /// A long key's chain that is broken or does not hold the rest of the
    /// key.
    KeyChain {
        /// The leaf or inner page whose cell refers to it.
        node: PageId,
        /// The cell.
        index: usize,
        /// The page where it broke.
        page: PageId,
    },
    /// A page reached twice (a cycle or a shared child).
    ReachedTwice {
        /// The page.
        page: PageId,
    },
    /// The tree is deeper than any valid tree.
    TooDeep {
        /// The page at the depth limit.
        page: PageId,
    },
    /// A page the pager holds allocated that no tree reaches.
    Unreachable {
        /// The page.
        page: PageId,
    },
    /// A page a tree reaches that the pager does not hold allocated.
    NotAllocated {
        /// The page.
        page: PageId,
    },
    /// The pager could not read the page.
    Unreadable {
        /// The page.
        page: PageId,
        /// The pager's error, as text.
        error: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self:?}")
    }
}

/// What [`BTree::check`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Entries in the tree.
    pub entries: u64,
    /// Levels (1 = the root is a leaf).
    pub height: usize,
    /// Leaf pages.
    pub leaves: u64,
    /// Inner pages.
    pub inner_nodes: u64,
    /// Overflow pages (values' and long keys' chains).
    pub overflow_pages: u64,
    /// Overflow pages of long keys' chains (of `overflow_pages`).
    pub key_overflow_pages: u64,
    /// Entries whose key is long (a prefix in the leaf, the rest in a
    /// chain).
    pub long_keys: u64,
    /// Separators in inner pages that are long keys.
    pub long_separators: u64,
    /// Pages other than the root holding less than the fill threshold
    /// (allowed: a node that can merge with neither sibling stays).
    pub underfull_nodes: u64,
    /// Bytes of slots and cells in leaf and inner pages.
    pub bytes_used: u64,
    /// Bytes of slots and cells in leaf pages (of `bytes_used`): over
    /// `leaves` times the usable page bytes, the leaves' mean fill.
    pub leaf_bytes_used: u64,
    /// Leaves by fill, in tenths of the usable page bytes: `[i]` counts
    /// the leaves holding at least `i`/10 and less than (`i` + 1)/10 of
    /// them (a full leaf counts in `[9]`).
    pub leaf_fill_tenths: [u64; 10],
    /// The bytes a node page has for slots and cells (the page less its
    /// header): the denominator of a fill.
    pub node_bytes_usable: u64,
    /// Every page the tree reaches, root and overflow pages included,
    /// ascending.
    pub pages: Vec<PageId>,
    /// The broken invariants; empty for a sound tree.
    pub problems: Vec<Problem>,
}

impl CheckReport {
    /// Whether no invariant is broken.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The leaves' mean fill: bytes of slots and cells over the usable
    /// bytes of the leaf pages, 0 to 1 (0 for a tree without leaves).
    pub fn leaf_fill(&self) -> f64 {
        fill(self.leaf_bytes_used, self.leaves, self.node_bytes_usable)
    }

    /// The inner pages' mean fill, as [`CheckReport::leaf_fill`] (0 for a
    /// tree without inner pages).
    pub fn inner_fill(&self) -> f64 {
        fill(
            self.bytes_used.saturating_sub(self.leaf_bytes_used),
            self.inner_nodes,
            self.node_bytes_usable,
        )
    }
}

fn fill(used: u64, pages: u64, usable: u64) -> f64 {
    if pages == 0 || usable == 0 {
        return 0.0;
    }
    used as f64 / (pages * usable) as f64
}

struct Walk<'a> {
    tree: &'a BTree,
    report: CheckReport,
    seen: BTreeSet<PageId>,
    leaf_depth: Option<usize>,
    /// Leaves in key order with their (left, right) links.
    leaves: Vec<(PageId, PageId, PageId)>,
}

impl BTree {
    /// Verifies every structural invariant: each page's layout, key order
    /// within pages and against the parent's separators, equal leaf depth,
    /// sibling links, non-empty nodes, cell sizes, overflow chains, and no
    /// page reached twice. Holds the writer off while it runs.
    ///
    /// # Errors
    /// None of its own: unreadable pages are reported as problems. The
    /// `Result` is kept for I/O the check may need in future.
    pub fn check(&self) -> Result<CheckReport> {
        let _writer = self.writer.lock();
        let mut walk = Walk {
            tree: self,
            report: CheckReport::default(),
            seen: BTreeSet::new(),
            leaf_depth: None,
            leaves: Vec::new(),
        };
        walk.node(self.root, 0, None, None);
        walk.links();
        let mut report = walk.report;
        report.pages = walk.seen.into_iter().collect();
        report.height = walk.leaf_depth.map_or(0, |depth| depth + 1);
        report.node_bytes_usable = self.geometry.usable() as u64;
        Ok(report)
    }
}

/// Checks that the pages `reports` reach, together with `other` pages the
/// caller owns, are exactly the pages `pager` holds allocated.
///
/// # Errors
/// The pager's errors reading (and checking) its whole page map.
pub fn check_pages_in_use(
    pager: &Pager,
    reports: &[&CheckReport],
    other: &[PageId],
) -> crate::Result<Vec<Problem>> {
    let reached: BTreeSet<PageId> = reports
        .iter()
        .flat_map(|report| report.pages.iter().copied())
        .chain(other.iter().copied())
        .collect();
    let allocated: BTreeSet<PageId> = pager.allocated_pages()?.into_iter().collect();
    let mut problems: Vec<Problem> = allocated
        .difference(&reached)
        .map(|&page| Problem::Unreachable { page })
        .collect();
    problems.extend(
        reached
            .difference(&allocated)
            .map(|&page| Problem::NotAllocated { page }),
    );
    Ok(problems)
}

impl Walk<'_> {
    fn problem(&mut self, problem: Problem) {
        self.report.problems.push(problem);
    }

    fn copy(&mut self, page: PageId) -> Option<Vec<u8>> {
        if !self.seen.insert(page) {
            self.problem(Problem::ReachedTwice { page });
            return None;
        }
        match self.tree.pager.shared(page) {
            Ok(guard) => Some(guard.to_vec()),
            Err(error) => {
                self.problem(Problem::Unreadable {
                    page,
                    error: error.to_string(),
                });
                None
            }
        }
    }

    fn node(&mut self, page: PageId, depth: usize, lower: Option<&[u8]>, upper: Option<&[u8]>) {
        if depth > PATH_DEPTH_MAX {
            self.problem(Problem::TooDeep { page });
            return;
        }
        let Some(bytes) = self.copy(page) else {
            return;
        };
        let Ok(header) = Header::read(&bytes) else {
            self.problem(Problem::BadNode { page });
            return;
        };
        let geometry = self.tree.geometry;
        let leaf = header.is_leaf();
        let mut keys: Vec<Vec<u8>> = Vec::with_capacity(header.count);
        let mut used = if header.count > 0 {
            header.prefix_len
        } else {
            0
        };
        for index in 0..header.count {
            let (Ok(cell), Ok(len)) = (
                node::cell_bytes(&bytes, leaf, index),
                node::cell_len(&bytes, leaf, index),
            ) else {
                self.problem(Problem::BadNode { page });
                return;
            };
            used += len + SLOT_BYTES;
            let stored = node::cell_key(&cell, leaf);
            let remainder = stored.local().get(header.prefix_len..).unwrap_or_default();
            if node::slot(bytes.as_slice(), index).map(|slot| slot.head)
                != Ok(node::head(remainder))
            {
                self.problem(Problem::KeyHead { page, index });
            }
            let too_long = match stored {
                StoredKey::Inline(key) => key.len() > geometry.key_inline_max(),
                StoredKey::Long { prefix, chain } => {
                    chain.len > KEY_BYTES_MAX || prefix.len() > geometry.key_local_max()
                }
            };
            if node::cell_cost(&cell, leaf) > geometry.cell_bytes_max() || too_long {
                self.problem(Problem::CellTooLarge { page, index });
            }
            let key = match stored {
                StoredKey::Inline(key) => key.to_vec(),
                StoredKey::Long { prefix, chain } => {
                    if leaf {
                        self.report.long_keys += 1;
                    } else {
                        self.report.long_separators += 1;
                    }
                    let mut key = Vec::with_capacity(chain.len);
                    key.extend_from_slice(prefix);
                    let pages = self.report.overflow_pages;
                    if let Err(broken) = self.chain(chain.first, chain.rest(), Some(&mut key)) {
                        self.problem(Problem::KeyChain {
                            node: page,
                            index,
                            page: broken,
                        });
                    }
                    self.report.key_overflow_pages += self.report.overflow_pages - pages;
                    key
                }
            };
            if keys.last().is_some_and(|last| *last >= key) {
                self.problem(Problem::KeysOutOfOrder { page, index });
            }
            if lower.is_some_and(|lower| key.as_slice() < lower)
                || upper.is_some_and(|upper| key.as_slice() >= upper)
            {
                self.problem(Problem::KeyOutsideParentRange { page, index });
            }
            keys.push(key);
        }
        let accounted = header.used(bytes.len());
        if accounted != used {
            self.problem(Problem::FreeSpace {
                page,
                accounted,
                found: used,
            });
        }
        self.report.bytes_used += used as u64;
        let is_root = page == self.tree.root;
        if !is_root {
            if header.count == 0 && leaf {
                self.problem(Problem::EmptyNode { page });
            }
            if used < geometry.fill_bytes_min() {
                self.report.underfull_nodes += 1;
            }
        }
        if leaf {
            self.report.leaves += 1;
            self.report.entries += header.count as u64;
            self.report.leaf_bytes_used += used as u64;
            let tenth = (used * 10 / geometry.usable().max(1)).min(9);
            self.report.leaf_fill_tenths[tenth] += 1;
            match self.leaf_depth {
                None => self.leaf_depth = Some(depth),
                Some(expected) if expected != depth => self.problem(Problem::UnevenDepth {
                    page,
                    depth,
                    expected,
                }),
                Some(_) => {}
            }
            self.leaves.push((page, header.link_0, header.link_1));
            for index in 0..header.count {
                if let Ok(ValueAt::Overflow { first, len }) =
                    node::value_at(bytes.as_slice(), index)
                    && let Err(broken) = self.chain(first, len, None)
                {
                    self.problem(Problem::OverflowChain {
                        leaf: page,
                        page: broken,
                    });
                }
            }
            return;
        }
        self.report.inner_nodes += 1;
        for position in 0..=header.count {
            let child = match node::child_at(bytes.as_slice(), position) {
                Ok(child) => child,
                Err(Restart) => {
                    self.problem(Problem::BadNode { page });
                    return;
                }
            };
            let child_lower = if position == 0 {
                lower
            } else {
                Some(keys[position - 1].as_slice())
            };
            let child_upper = if position == header.count {
                upper
            } else {
                Some(keys[position].as_slice())
            };
            self.node(child, depth + 1, child_lower, child_upper);
        }
    }

    /// Walks the overflow chain of `len` bytes from `first`, appending its
    /// bytes to `out` if given; `Err` of the page where it broke (a page
    /// reached twice or unreadable is reported as such, and ends it
    /// quietly).
    fn chain(
        &mut self,
        first: PageId,
        len: usize,
        mut out: Option<&mut Vec<u8>>,
    ) -> std::result::Result<(), PageId> {
        let mut page = first;
        let mut left = len;
        while page != PageId::NONE {
            let Some(bytes) = self.copy(page) else {
                return Ok(());
            };
            self.report.overflow_pages += 1;
            match node::overflow_header(bytes.as_slice()) {
                Ok(Some((used, next))) if used > 0 && used <= left => {
                    if let Some(out) = out.as_deref_mut() {
                        let start = node::OVERFLOW_HEADER_BYTES;
                        out.extend_from_slice(&bytes[start..start + used]);
                    }
                    left -= used;
                    page = next;
                }
                _ => return Err(page),
            }
        }
        if left != 0 {
            return Err(first);
        }
        Ok(())
    }

    fn links(&mut self) {
        let leaves = std::mem::take(&mut self.leaves);
        for (index, &(page, left, right)) in leaves.iter().enumerate() {
            let expected_left = if index == 0 {
                PageId::NONE
            } else {
                leaves[index - 1].0
            };
            let expected_right = leaves.get(index + 1).map_or(PageId::NONE, |next| next.0);
            if left != expected_left {
                self.problem(Problem::SiblingLink {
                    page,
                    expected: expected_left,
                    found: left,
                    right: false,
                });
            }
            if right != expected_right {
                self.problem(Problem::SiblingLink {
                    page,
                    expected: expected_right,
                    found: right,
                    right: true,
                });
            }
        }
    }
}

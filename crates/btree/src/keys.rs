//! Keys as the tree stores them: a long key's prefix and overflow chain
//! (written, freed, read back whole), comparisons of stored keys that read
//! a chain only when the prefixes tie, and the search of a latched leaf
//! that settles such ties.

use std::borrow::Cow;
use std::cmp::Ordering;

use keel_pager::{PageId, Restart};

use crate::error::Result;
use crate::node::{self, Header, KeyChain, Probe, Search, StoredKey, ValueAt};
use crate::overflow;
use crate::stats::Counters;
use crate::tree::{BTree, Found, InLeaf, chain_error, corrupt};

impl BTree {
    /// Where `key` is in the latched `leaf`.
    pub(crate) fn find_in_leaf(
        &self,
        leaf: &[u8],
        page: PageId,
        header: Header,
        key: &[u8],
    ) -> Result<InLeaf> {
        let bad = |Restart| corrupt(page, "bad cell");
        let index = match self.search_latched(leaf, page, true, header.count, key)? {
            Ok(index) => index,
            Err(index) => {
                let local = &key[..self.geometry.key_local_len(key.len())];
                let shared = node::prefix_shared(leaf, &header, local);
                return Ok(InLeaf::Absent { index, shared });
            }
        };
        let cell_len = node::cell_len(leaf, true, index).map_err(bad)?;
        let key_chain = node::key_at(leaf, true, index).map_err(bad)?.chain;
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
}

//! What the instruction-count examples share: a tree bulk loaded (at the
//! default fill) from sorted pairs, in a page file of a temporary
//! directory, with a pool large enough to hold it all.

use std::sync::Arc;

use keel_btree::{BTree, BULK_FILL_DEFAULT};
use keel_io::{StdVfs, Vfs};
use keel_pager::{Pager, PagerOptions};

/// The tree holding `pairs` (sorted, keys distinct) and the directory of
/// its page file, which must outlive it.
pub fn bulk_loaded<K: AsRef<[u8]>, V: AsRef<[u8]>>(
    pairs: impl IntoIterator<Item = (K, V)>,
) -> (tempfile::TempDir, BTree) {
    let dir = tempfile::tempdir().unwrap();
    let vfs: Arc<dyn Vfs> = Arc::new(StdVfs::new());
    let options = PagerOptions {
        pool_bytes: 1 << 30,
        ..PagerOptions::default()
    };
    let pager = Arc::new(Pager::open(vfs, dir.path().join("pages"), options).unwrap());
    let tree = BTree::create(pager).unwrap();
    tree.bulk_load(pairs, BULK_FILL_DEFAULT).unwrap();
    (dir, tree)
}

//! Support for the `btree_operations` fuzz target and its corpus replay
//! test: not part of the API.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use keel_io::{SimVfs, Vfs};
use keel_pager::{PageId, Pager, PagerOptions};

use crate::BTree;

const PATH: &str = "/fuzz/pages";
const FRAMES: u64 = 16;
const VALUE_LENGTHS: [usize; 6] = [0, 7, 150, 700, 1000, 5000];
const OPERATIONS_MAX: usize = 400;

/// The key of `id`: 1 to 271 bytes starting with the id, or for one id in
/// eight a long key (1,500 to 11,700 bytes) of `k`s ending with the id,
/// so long keys share prefixes longer than a cell keeps.
fn key(id: u8) -> Vec<u8> {
    if id % 8 == 7 {
        let mut key = vec![b'k'; 1500 + usize::from(id) * 40];
        key.push(id);
        return key;
    }
    let mut key = vec![id];
    key.resize(1 + usize::from(id % 4) * 90, b'k');
    key
}

fn value(id: u8, version: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|index| (index + version * 7 + usize::from(id)) as u8)
        .collect()
}

fn open(vfs: &Arc<SimVfs>) -> Arc<Pager> {
    let shared: Arc<dyn Vfs> = vfs.clone();
    let options = PagerOptions {
        pool_bytes: FRAMES * 4096,
        ..PagerOptions::default()
    };
    Arc::new(Pager::open(shared, Path::new(PATH), options).expect("a simulated disk opens"))
}

/// Runs the operations `bytes` encode against a tree and a `BTreeMap`
/// model and panics where they disagree — until an operation overwrites a
/// tree page with arbitrary bytes, after which every operation must give a
/// result or a typed error, never a panic. Returns the operations run.
pub fn run_operations(bytes: &[u8]) -> usize {
    let vfs = Arc::new(SimVfs::new(0));
    let mut pager = open(&vfs);
    let mut tree = BTree::create(pager.clone()).expect("create");
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut damaged = false;
    let mut input = bytes.iter().copied();
    let mut next = move || input.next();
    let mut operations = 0;
    while let Some(op) = next() {
        if operations == OPERATIONS_MAX {
            break;
        }
        operations += 1;
        let id = next().unwrap_or(0);
        match op % 10 {
            0..=2 => {
                let len = VALUE_LENGTHS[usize::from(next().unwrap_or(0)) % VALUE_LENGTHS.len()];
                let value = value(id, operations, len);
                let result = tree.insert(&key(id), &value);
                if !damaged {
                    result.expect("insert");
                    model.insert(key(id), value);
                }
            }
            3 => {
                let result = tree.delete(&key(id));
                if !damaged {
                    assert_eq!(result.expect("delete"), model.remove(&key(id)).is_some());
                }
            }
            4 => {
                let result = tree.get(&key(id));
                if !damaged {
                    assert_eq!(result.expect("get").as_ref(), model.get(&key(id)));
                }
            }
            5 => {
                let other = next().unwrap_or(255);
                let (low, high) = (key(id).min(key(other)), key(id).max(key(other)));
                let reverse = other % 2 == 1;
                let bounds = (
                    Bound::Included(low.as_slice()),
                    Bound::Excluded(high.as_slice()),
                );
                let range = tree.range::<&[u8]>(bounds);
                let found: Vec<_> = if reverse {
                    range.rev().take(8).collect()
                } else {
                    range.take(8).collect()
                };
                if !damaged {
                    let found: Vec<(Vec<u8>, Vec<u8>)> = found
                        .into_iter()
                        .map(|entry| entry.expect("range"))
                        .map(|(key, value)| (key.to_vec(), value.to_vec()))
                        .collect();
                    let expected = model.range::<[u8], _>(bounds);
                    let expected: Vec<(Vec<u8>, Vec<u8>)> = if reverse {
                        expected
                            .rev()
                            .take(8)
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect()
                    } else {
                        expected
                            .take(8)
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect()
                    };
                    assert!(found == expected, "range differs from the model");
                }
            }
            6 => {
                let count = next().unwrap_or(0);
                let result = tree.clear().and_then(|()| {
                    let mut ids: Vec<u8> = (0..count).collect();
                    ids.sort_by_key(|id| key(*id));
                    let entries: Vec<(Vec<u8>, Vec<u8>)> = ids
                        .iter()
                        .map(|&id| {
                            (
                                key(id),
                                value(id, operations, VALUE_LENGTHS[usize::from(id) % 6]),
                            )
                        })
                        .collect();
                    tree.bulk_load(
                        entries.iter().map(|(k, v)| (k, v)),
                        0.5 + f64::from(id % 50 + 1) / 100.0,
                    )
                    .map(|_| entries)
                });
                if !damaged {
                    model = result.expect("bulk load").into_iter().collect();
                }
            }
            7 => {
                // Checkpoint and reopen: the tree must come back whole.
                let root = tree.root();
                let result = pager.checkpoint(&root.get().to_le_bytes());
                if !damaged {
                    result.expect("checkpoint");
                    drop(tree);
                    drop(pager);
                    pager = open(&vfs);
                    tree = BTree::open(pager.clone(), root).expect("reopen");
                }
            }
            8 => {
                // A page that passes its checksum but holds arbitrary bytes.
                let pages = pager.allocated_pages().unwrap_or_default();
                if !pages.is_empty() {
                    let page: PageId = pages[usize::from(id) % pages.len()];
                    if let Ok(mut guard) = pager.exclusive(page) {
                        let offset = usize::from(next().unwrap_or(0)) * 16;
                        let len = usize::from(next().unwrap_or(0)) % 64;
                        for index in 0..len {
                            let at = (offset + index) % guard.len();
                            guard[at] = next().unwrap_or(0xff);
                        }
                        damaged = true;
                    }
                }
            }
            _ => {
                let report = tree.check().expect("check returns a report");
                if !damaged {
                    assert!(report.is_ok(), "check: {:?}", report.problems);
                    assert_eq!(report.entries, model.len() as u64);
                }
            }
        }
    }
    // Whatever happened, a full scan and a check end without a panic.
    let scanned: Vec<_> = tree.iter().collect();
    let report = tree.check().expect("check returns a report");
    if !damaged {
        let scanned: Vec<(Vec<u8>, Vec<u8>)> = scanned
            .into_iter()
            .map(|entry| entry.expect("scan"))
            .map(|(key, value)| (key.to_vec(), value.to_vec()))
            .collect();
        let expected: Vec<(Vec<u8>, Vec<u8>)> = model.into_iter().collect();
        assert!(scanned == expected, "the tree differs from the model");
        assert!(report.is_ok(), "check: {:?}", report.problems);
    }
    operations
}

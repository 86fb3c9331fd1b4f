#![allow(clippy::unwrap_used)] // Tests: a failed step should stop the test loudly.
//! Large writes: a transaction far past the old 64 MiB-style ceilings
//! commits as one frozen batch and survives reopen; small commits keep
//! committing while the delta is full and the fold is behind — slowed
//! down, never failed.

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use keel::{Database, Isolation, Options};

mod common;

fn key(index: u32) -> [u8; 8] {
    let mut key = [0u8; 8];
    key[..4].copy_from_slice(b"key-");
    key[4..].copy_from_slice(&index.to_be_bytes());
    key
}

/// Keys of the large transactions below.
const BIG_KEYS: u32 = 20_000;

/// The value the large transactions write at `index`.
fn big_value(index: u32) -> [u8; 100] {
    [index as u8; 100]
}

/// Writes the large transaction's keys, 0 to `BIG_KEYS`.
fn put_big(tx: &mut keel::Transaction, data: &keel::Keyspace) {
    for index in 0..BIG_KEYS {
        tx.put(data, key(index), big_value(index)).unwrap();
    }
}

#[test]
fn a_large_transaction_commits_as_a_batch_and_survives_a_kill() {
    let vfs = keel_io::SimVfs::new(7);
    let dir = std::path::Path::new("/db");
    let options = Options {
        batch_commit_bytes_min: 64 << 10,
        ..common::options()
    };
    let db = Database::open_with_vfs(Arc::new(vfs.clone()), dir, options.clone()).unwrap();
    let data = db.keyspace("data").unwrap();
    let mut tx = db.begin(Isolation::Serializable);
    put_big(&mut tx, &data);
    tx.commit().unwrap();
    assert_eq!(db.stats().delta_batches, 1);
    assert_eq!(
        db.begin_read().count(&data, ..).unwrap(),
        u64::from(BIG_KEYS)
    );
    // Killed before any fold: recovery replays the batch from the log,
    // as a batch again.
    common::kill(&vfs, db);
    let db = Database::open_with_vfs(Arc::new(vfs.clone()), dir, options).unwrap();
    assert_eq!(db.stats().delta_batches, 1);
    let data = db.keyspace("data").unwrap();
    let reader = db.begin_read();
    assert_eq!(reader.count(&data, ..).unwrap(), u64::from(BIG_KEYS));
    assert_eq!(
        reader.get(&data, key(19_999)).unwrap().as_deref(),
        Some(&big_value(19_999)[..])
    );
    drop(reader);
    db.checkpoint().unwrap();
    assert_eq!(db.stats().delta_batches, 0, "folded and collected");
    db.check().unwrap();
}

#[test]
fn commits_slow_down_but_never_fail_while_the_fold_is_behind() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        delta_bytes_max: 256 << 10,
        fold_delta_bytes: 1 << 30,
        fold_interval: Duration::from_millis(300),
        ..Options::default().with_durability(keel::Durability::None)
    };
    let db = Arc::new(Database::open(dir.path(), options).unwrap());
    let data = db.keyspace("data").unwrap();
    let writers: Vec<_> = (0..4u32)
        .map(|thread| {
            let db = Arc::clone(&db);
            let data = data.clone();
            thread::spawn(move || {
                for index in 0..1_500u32 {
                    let mut tx = db.begin(Isolation::Snapshot);
                    tx.put(&data, key(thread * 10_000 + index), vec![7u8; 200])
                        .unwrap();
                    tx.commit().unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().unwrap();
    }
    let stats = db.stats();
    // 6,000 commits of ~300 bytes each: several times the skiplist's limit,
    // with folds only every 300 ms.
    assert!(
        stats.delta_slowdowns + stats.delta_full_waits > 0,
        "{stats:?}"
    );
    assert_eq!(db.begin_read().count(&data, ..).unwrap(), 6_000);
}

#[test]
fn leaves_thinned_by_removals_are_packed_and_compaction_gives_the_file_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), Options::default()).unwrap();
    let data = db.keyspace("data").unwrap();
    let mut tx = db.begin(Isolation::Serializable);
    for index in 0..40_000u32 {
        tx.put(&data, key(index), vec![index as u8; 150]).unwrap();
    }
    tx.commit().unwrap();
    // Folded now: a fold of both commits together would write only the
    // surviving keys, densely.
    db.checkpoint().unwrap();
    let pages_loaded = db.stats().pages;
    // Every other key: each leaf is left half full, above the quarter at
    // which a delete merges it; the checkpoint's pack merges them.
    let mut tx = db.begin(Isolation::Serializable);
    for index in (0..40_000u32).step_by(2) {
        tx.delete(&data, key(index)).unwrap();
    }
    tx.commit().unwrap();
    let packed = db.checkpoint().unwrap().leaves_packed;
    let pages_before = db.stats().pages;
    assert!(packed > 0);
    assert!(db.stats().leaves_packed >= packed);
    assert!(
        pages_before * 10 < pages_loaded * 7,
        "{pages_loaded} -> {pages_before}"
    );
    let info = db.compact().unwrap();
    eprintln!("{info:?}");
    assert!(db.stats().pages <= pages_before);
    assert!(
        info.file_bytes_after * 10 < info.file_bytes_before * 7,
        "{info:?}"
    );
    assert!(db.check().unwrap().is_empty());
    let reader = db.begin_read();
    assert_eq!(reader.count(&data, ..).unwrap(), 20_000);
    assert_eq!(reader.get(&data, key(2)).unwrap(), None);
    assert!(reader.get(&data, key(39_999)).unwrap().is_some());
}

/// Random removals leave leaves between a quarter and three quarters
/// full, and two neighbours often do not fit in one page: compaction fills
/// each leaf from its neighbour, so the tree ends near its live bytes, and
/// the log's large preallocated segment goes too.
#[test]
fn compaction_packs_leaves_and_the_log_after_random_removals() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::SmallRng::seed_from_u64(11);
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), Options::default()).unwrap();
    let data = db.keyspace("data").unwrap();
    let keys = 40_000u32;
    let value_bytes = 150;
    let mut tx = db.begin(Isolation::Serializable);
    for index in 0..keys {
        tx.put(&data, key(index), vec![index as u8; value_bytes])
            .unwrap();
    }
    tx.commit().unwrap();
    db.checkpoint().unwrap();
    let mut tx = db.begin(Isolation::Serializable);
    let mut live = 0u64;
    for index in 0..keys {
        if rng.random_bool(0.5) {
            tx.delete(&data, key(index)).unwrap();
        } else {
            live += 1;
        }
    }
    tx.commit().unwrap();
    db.checkpoint().unwrap();
    let info = db.compact().unwrap();
    let stats = db.stats();
    // A leaf cell: key length, value word, keyspace id and key, the value
    // with its header byte; and its slot.
    let cell_bytes = (2 + 4 + 4 + 8 + 1 + value_bytes + 2) as u64;
    let tree_bytes = stats.pages * stats.page_bytes;
    assert!(
        tree_bytes * 100 < live * cell_bytes * 115,
        "{tree_bytes} bytes of pages for {live} live cells of {cell_bytes} bytes ({info:?})"
    );
    let log_bytes: u64 = std::fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .map(|entry| entry.unwrap().metadata().unwrap().len())
        .sum();
    assert!(
        log_bytes <= 4 << 20,
        "{log_bytes} bytes of log after compaction"
    );
    // No segment is kept for reuse: compaction gives the log's space back.
    let kept: Vec<String> = std::fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".free"))
        .collect();
    assert!(kept.is_empty(), "segments kept after compaction: {kept:?}");
    assert!(db.check().unwrap().is_empty());
    assert_eq!(db.begin_read().count(&data, ..).unwrap(), live);
}

#[test]
fn compaction_gives_the_space_of_removed_keys_back() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        compact_free_ratio: 2.0,
        ..Options::default()
    };
    let db = Database::open(dir.path(), options.clone()).unwrap();
    let data = db.keyspace("data").unwrap();
    for chunk in 0..10u32 {
        let mut tx = db.begin(Isolation::Serializable);
        for index in chunk * 5_000..(chunk + 1) * 5_000 {
            tx.put(&data, key(index), vec![index as u8; 200]).unwrap();
        }
        tx.commit().unwrap();
    }
    db.checkpoint().unwrap();
    // Remove the oldest 90%: the survivors sit at the end of the file.
    let mut tx = db.begin(Isolation::Serializable);
    for index in 0..45_000u32 {
        tx.delete(&data, key(index)).unwrap();
    }
    tx.commit().unwrap();
    db.checkpoint().unwrap();
    db.checkpoint().unwrap();
    let stats = db.stats();
    let before = stats.file_blocks * stats.page_bytes;
    assert!(stats.free_blocks * 2 > stats.file_blocks, "{stats:?}");
    let info = db.compact().unwrap();
    eprintln!("{info:?}");
    assert_eq!(info.file_bytes_before, before);
    assert!(info.pages_moved > 0, "{info:?}");
    assert!(info.file_bytes_after * 4 < before, "{info:?}");
    let on_disk = std::fs::metadata(dir.path().join("pages")).unwrap().len();
    assert_eq!(on_disk, info.file_bytes_after);
    assert!(db.check().unwrap().is_empty());
    drop(db);
    let db = Database::open(dir.path(), options).unwrap();
    let data = db.keyspace("data").unwrap();
    let reader = db.begin_read();
    assert_eq!(reader.count(&data, ..).unwrap(), 5_000);
    assert_eq!(
        reader.get(&data, key(49_999)).unwrap().as_deref(),
        Some(&[49_999u32 as u8; 200][..])
    );
}

/// A transaction far past its memory budget spills its writes to disk:
/// it reads them back, commits one batch logged in chunks and parts,
/// survives a kill (replay rebuilds it spilled) and folds into the tree.
/// A savepoint taken after the spills rolls back only what came after it.
#[test]
fn a_transaction_past_its_memory_budget_spills_commits_and_survives_a_kill() {
    let vfs = keel_io::SimVfs::new(9);
    let dir = std::path::Path::new("/db");
    let spill = tempfile::tempdir().unwrap();
    let options = Options {
        transaction_memory_bytes_max: 64 << 10,
        spill_dir: Some(spill.path().to_path_buf()),
        wal_part_bytes: 256 << 10,
        ..common::options()
    };
    let db = Database::open_with_vfs(Arc::new(vfs.clone()), dir, options.clone()).unwrap();
    let data = db.keyspace("data").unwrap();
    let mut tx = db.begin(Isolation::Serializable);
    put_big(&mut tx, &data);
    assert_eq!(
        tx.get(&data, key(3)).unwrap().as_deref(),
        Some(&big_value(3)[..])
    );
    let savepoint = tx.savepoint();
    tx.put(&data, key(3), b"undone").unwrap();
    tx.delete(&data, key(4)).unwrap();
    tx.rollback_to_savepoint(savepoint).unwrap();
    assert_eq!(
        tx.get(&data, key(4)).unwrap().as_deref(),
        Some(&big_value(4)[..])
    );
    assert_eq!(tx.count(&data, key(100)..key(200)).unwrap(), 100);
    tx.commit().unwrap();
    // ~2 MiB of writes in 64 KiB runs, and the commit's merged run.
    let spilled = db.stats().runs_spilled;
    assert!(spilled > 25, "{spilled} runs spilled");
    assert_eq!(db.stats().delta_batches, 1);
    assert_eq!(
        db.begin_read().count(&data, ..).unwrap(),
        u64::from(BIG_KEYS)
    );
    common::kill(&vfs, db);
    let db = Database::open_with_vfs(Arc::new(vfs.clone()), dir, options).unwrap();
    let data = db.keyspace("data").unwrap();
    let reader = db.begin_read();
    assert_eq!(reader.count(&data, ..).unwrap(), u64::from(BIG_KEYS));
    for index in [0, 3, 4, 9_999, 19_999u32] {
        assert_eq!(
            reader.get(&data, key(index)).unwrap().as_deref(),
            Some(&big_value(index)[..]),
            "key {index}"
        );
    }
    drop(reader);
    db.checkpoint().unwrap();
    assert_eq!(db.stats().delta_batches, 0, "folded and collected");
    assert_eq!(
        db.begin_read().count(&data, ..).unwrap(),
        u64::from(BIG_KEYS)
    );
    db.check().unwrap();
    // Unnamed files: nothing is left in the spill directory.
    assert_eq!(std::fs::read_dir(spill.path()).unwrap().count(), 0);
}

/// A spill that cannot be written (here: a spill directory that does not
/// exist; a full disk fails the same way) is an I/O error naming the
/// directory; the transaction rolls back and the database goes on.
#[test]
fn a_spill_that_fails_is_an_io_error_and_the_database_goes_on() {
    let vfs = keel_io::SimVfs::new(11);
    let dir = std::path::Path::new("/db");
    let missing = std::path::PathBuf::from("/nonexistent/keel-spill");
    let options = Options {
        transaction_memory_bytes_max: 1 << 10,
        spill_dir: Some(missing.clone()),
        ..common::options()
    };
    let db = Database::open_with_vfs(Arc::new(vfs), dir, options).unwrap();
    let data = db.keyspace("data").unwrap();
    let mut tx = db.begin(Isolation::Serializable);
    let failed = (0..100u32)
        .map(|index| tx.put(&data, key(index), vec![1u8; 100]))
        .find_map(Result::err)
        .expect("a spill past 1 KiB fails");
    match &failed {
        keel::Error::Io(keel_io::Error::Io { path, .. }) => assert_eq!(path, &missing),
        other => panic!("expected an I/O error naming the spill directory, got {other:?}"),
    }
    // Unusable from then on: the failed write was buffered, and committing
    // it after an error would surprise its caller.
    assert!(matches!(tx.get(&data, key(0)), Err(keel::Error::Io(_))));
    assert!(matches!(tx.commit(), Err(keel::Error::Io(_))));
    assert_eq!(db.begin_read().get(&data, key(0)).unwrap(), None);
    db.update(|tx| tx.put(&data, b"small", b"fits")).unwrap();
    assert_eq!(
        db.begin_read().get(&data, b"small").unwrap().as_deref(),
        Some(&b"fits"[..])
    );
}

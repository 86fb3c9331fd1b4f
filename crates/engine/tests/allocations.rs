#![allow(clippy::unwrap_used)] // Tests: a failed step should stop the test loudly.
//! Reads allocate what the caller asks for and nothing per entry: a
//! counting global allocator (counting only this test's thread, not the
//! background thread's folds) measures a scan of 10,000 entries, a range
//! of 10 and point reads.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;

use keel::{Database, Durability, Keyspace, Options};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded to the system allocator unchanged; the
// thread-local counter is const-initialised and has no destructor, so
// touching it never allocates or recurses.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        // SAFETY: the caller's contract is passed on as it is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(pointer, layout) }
    }
    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|count| count.set(count.get() + 1));
        // SAFETY: as above.
        unsafe { System.realloc(pointer, layout, size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_of(work: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(Cell::get);
    work();
    ALLOCATIONS.with(Cell::get) - before
}

/// Puts 10,000 keys of 150-byte values and checkpoints them into the base.
fn load_checkpointed(db: &Database, ks: &Keyspace) {
    db.update(|tx| {
        for index in 0..10_000u32 {
            tx.put(ks, format!("key{index:08}"), vec![7u8; 150])?;
        }
        Ok(())
    })
    .unwrap();
    db.checkpoint().unwrap();
}

#[test]
fn reads_allocate_nothing_per_entry() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(
        dir.path(),
        Options::default().with_durability(Durability::None),
    )
    .unwrap();
    let ks = db.default_keyspace();
    load_checkpointed(&db, &ks);

    let tx = db.begin_read();
    let scan = allocations_of(|| {
        let mut entries = 0;
        for entry in tx.range(&ks, ..).unwrap() {
            black_box(entry.unwrap());
            entries += 1;
        }
        assert_eq!(entries, 10_000);
    });
    // Opening the scan and its cursor's buffers: a handful, whatever the
    // number of entries (about 500 leaves here).
    assert!(
        scan <= 40,
        "a scan of 10,000 entries allocated {scan} times"
    );

    // Visited in place: the same bound, and every entry seen in order.
    let visited = allocations_of(|| {
        let mut entries = tx.range(&ks, ..).unwrap();
        let mut count = 0u32;
        while let Some(key_len) = entries.next_with(|key, value| {
            assert_eq!(value, &[7u8; 150][..]);
            key.len()
        }) {
            assert_eq!(key_len.unwrap(), 11);
            count += 1;
        }
        assert_eq!(count, 10_000);
    });
    assert!(
        visited <= 40,
        "a visiting scan of 10,000 entries allocated {visited} times"
    );

    let reverse = allocations_of(|| {
        assert_eq!(tx.range(&ks, ..).unwrap().rev().count(), 10_000);
    });
    assert!(reverse <= 40, "a reverse scan allocated {reverse} times");

    let range = allocations_of(|| {
        for entry in tx.range(&ks, "key00005000"..).unwrap().take(10) {
            black_box(entry.unwrap());
        }
    });
    assert!(range <= 20, "a range of 10 allocated {range} times");

    // Warm (a range before it left its cursor's buffers), under Snapshot
    // with nothing recent: the bounds are lent down, not allocated; the
    // one allocation is the base cursor's box.
    let short_range = || {
        let mut entries = tx.range(&ks, "key00005000"..).unwrap();
        for _ in 0..10 {
            black_box(entries.next_with(|key, value| key.len() + value.len()));
        }
    };
    short_range();
    let warm = allocations_of(short_range);
    assert!(warm <= 1, "a warm range of 10 allocated {warm} times");

    // Empty and inverted ranges open ended, and read nothing.
    let empty = allocations_of(|| {
        assert_eq!(
            tx.range(&ks, "key00000005".."key00000005").unwrap().count(),
            0
        );
        assert_eq!(
            tx.range(&ks, "key00000009"..="key00000001")
                .unwrap()
                .count(),
            0
        );
        assert_eq!(
            tx.range(&ks, "key00000005"..="key00000005")
                .unwrap()
                .count(),
            1
        );
    });
    assert!(empty <= 4, "empty ranges allocated {empty} times");

    let keys: Vec<String> = (0..10_000u32)
        .step_by(97)
        .map(|index| format!("key{index:08}"))
        .collect();
    let visits = allocations_of(|| {
        for key in &keys {
            let len = tx
                .get_with(&ks, key, |value| value.map(<[u8]>::len))
                .unwrap();
            assert_eq!(len, Some(150));
        }
    });
    assert_eq!(
        visits,
        0,
        "get_with allocated {visits} times for {} reads",
        keys.len()
    );
    let gets = allocations_of(|| {
        for key in &keys {
            assert_eq!(
                tx.get(&ks, key).unwrap().map(|value| value.len()),
                Some(150)
            );
        }
    });
    // The value `get` returns, and nothing else.
    assert!(
        gets <= keys.len() as u64,
        "get allocated {gets} times for {} reads",
        keys.len()
    );
}

/// A short range through a delta that holds recent versions, its last
/// entry a recent one: the skiplist's bounds are held inline, and the base
/// cursor's page copy goes back to the next range even though the merge
/// still holds the base's next entry, a view of it, when the range ends
/// (the merge's waiting items are dropped first). The one allocation is
/// the base cursor's box.
#[test]
fn a_range_through_a_busy_delta_allocates_only_its_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let mut options = Options::default().with_durability(Durability::None);
    // Recent versions stay in the delta for the test's length.
    options.fold_delta_bytes = u64::MAX / 4;
    options.fold_interval = std::time::Duration::from_secs(3600);
    options.checkpoint_interval = std::time::Duration::from_secs(3600);
    options.checkpoint_wal_bytes = u64::MAX / 4;
    options.checkpoint_dirty_bytes = u64::MAX / 4;
    let db = Database::open(dir.path(), options).unwrap();
    let ks = db.default_keyspace();
    load_checkpointed(&db, &ks);
    db.update(|tx| {
        tx.put(&ks, "key00005008x", vec![8u8; 150])?;
        tx.put(&ks, "key00009000x", vec![8u8; 150])
    })
    .unwrap();

    let tx = db.begin_read();
    let short_range = || {
        let mut entries = tx.range(&ks, "key00005000"..).unwrap();
        let mut recent = 0;
        for _ in 0..10 {
            let value = entries.next_with(|_, value| value[0]).unwrap().unwrap();
            recent += usize::from(value == 8);
        }
        assert_eq!(recent, 1, "the recent key inside the range is read");
    };
    short_range();
    let warm = allocations_of(short_range);
    assert!(
        warm <= 1,
        "a warm range of 10 through a busy delta allocated {warm} times"
    );
}

//! Loom models of the delta's point index (`src/point_index.rs`), the
//! real code on loom's atomics: a reader racing an insert (one that
//! starts a resize, one that moves slots of a resize under way, one that
//! ends it) and a removal (during a resize, too).
//!
//! Checked in every interleaving: a reader finds a key held throughout,
//! even while the table it probes is replaced and its slot moves from the
//! old table to the new one; a key being inserted or
//! removed is either found with its own value or not found, never with a
//! torn slot. A slot's key and value sit in a loom cell published by the
//! slot's hash, and a table by its pointer: with the hash's store or the
//! table's swap relaxed, the models report a causality violation.
//!
//! The reader runs in the spawned thread and the writer in the model's
//! own: loom runs the model's thread first, and explores the other order
//! of two accesses only when the second one meets a store as the first
//! thread's last access to that object (a reader spawned after a writer
//! that loads before it stores would be run in one order only).
#![cfg(loom)]
#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::sync::Arc;

use bytes::Bytes;
use keel_mvcc::point_index::{PointIndex, pin};
use loom::thread;

/// The keys and values an index points at, outliving it.
struct Held {
    keys: Vec<Bytes>,
    values: Vec<u64>,
}

impl Held {
    fn new(count: usize) -> Arc<Held> {
        Arc::new(Held {
            keys: (0..count).map(|i| Bytes::from(format!("key{i}"))).collect(),
            values: (0..count as u64).map(|i| 100 + i).collect(),
        })
    }

    fn insert(&self, index: &PointIndex<u64>, at: usize) {
        let (key, value) = (&self.keys[at], &self.values[at]);
        let guard = &pin();
        // SAFETY: `Held` outlives the index in every model.
        let held = unsafe {
            index.get_or_insert(guard, key, || (key as *const Bytes, value as *const u64))
        };
        assert_eq!(*held, *value);
    }
}

/// An index holding `keys` keys of `held`.
fn index_of(held: &Held, keys: usize) -> Arc<PointIndex<u64>> {
    let index = Arc::new(PointIndex::new());
    for at in 0..keys {
        held.insert(&index, at);
    }
    index
}

/// Spawns a reader of `key` in `index`.
fn reader(index: &Arc<PointIndex<u64>>, key: &'static [u8]) -> thread::JoinHandle<Option<u64>> {
    let index = Arc::clone(index);
    thread::spawn(move || index.get(&pin(), key).copied())
}

#[test]
fn insert_races_a_reader() {
    loom::model(|| {
        let held = Held::new(2);
        let index = index_of(&held, 1);
        let new = reader(&index, b"key1");
        let old = reader(&index, b"key0");
        held.insert(&index, 1);
        let found = new.join().unwrap();
        assert!(found.is_none() || found == Some(101), "{found:?}");
        assert_eq!(old.join().unwrap(), Some(100));
        assert_eq!(index.get(&pin(), b"key1").copied(), Some(101));
    });
}

/// Twelve keys fill the smallest table to three quarters: the
/// thirteenth's insert starts a resize (and moves the first four of the
/// 16 old slots) while the reader probes the old table or the new.
#[test]
fn a_resize_races_a_reader() {
    loom::model(|| {
        let held = Held::new(13);
        let index = index_of(&held, 12);
        let new = reader(&index, b"key12");
        let old = reader(&index, b"key5");
        held.insert(&index, 12);
        let found = new.join().unwrap();
        assert!(found.is_none() || found == Some(112), "{found:?}");
        assert_eq!(old.join().unwrap(), Some(105));
        assert_eq!(index.get(&pin(), b"key12").copied(), Some(112));
        assert_eq!(index.len(), 13);
    });
}

#[test]
fn removal_races_a_reader() {
    loom::model(|| {
        let held = Held::new(2);
        let index = index_of(&held, 2);
        let removed = reader(&index, b"key0");
        let kept = reader(&index, b"key1");
        assert!(index.remove(b"key0"));
        let found = removed.join().unwrap();
        assert!(found.is_none() || found == Some(100), "{found:?}");
        assert_eq!(kept.join().unwrap(), Some(101));
        assert_eq!(index.get(&pin(), b"key0").copied(), None);
        // Inserted again, into a fresh slot.
        held.insert(&index, 0);
        assert_eq!(index.get(&pin(), b"key0").copied(), Some(100));
    });
}

/// Spawns readers of the keys the next write of a resize moves (at most
/// two), with their values.
fn readers_of_unmoved(index: &Arc<PointIndex<u64>>) -> Vec<(thread::JoinHandle<Option<u64>>, u64)> {
    index
        .unmoved_keys()
        .into_iter()
        .take(2)
        .map(|key| {
            let value = std::str::from_utf8(&key[3..])
                .unwrap()
                .parse::<u64>()
                .unwrap()
                + 100;
            let index = Arc::clone(index);
            (
                thread::spawn(move || index.get(&pin(), &key).copied()),
                value,
            )
        })
        .collect()
}

/// Readers of keys whose slots the racing insert moves to the new table:
/// each is found, in the new table or still in the old one, in every
/// interleaving.
#[test]
fn moving_slots_races_a_reader() {
    loom::model(|| {
        let held = Held::new(14);
        // The thirteenth insert started a resize and moved four slots.
        let index = index_of(&held, 13);
        let readers = readers_of_unmoved(&index);
        assert!(!readers.is_empty());
        held.insert(&index, 13);
        for (reader, value) in readers {
            assert_eq!(reader.join().unwrap(), Some(value));
        }
        assert_eq!(index.get(&pin(), b"key13").copied(), Some(113));
    });
}

/// The insert that moves the last slots ends the resize: readers of the
/// keys it moves may find them in the new table once the old one is let
/// go. (Four writes of four slots each move the 16 old slots: the
/// sixteenth insert is the fourth write of the resize the thirteenth
/// started.)
#[test]
fn the_end_of_a_resize_races_a_reader() {
    loom::model(|| {
        let held = Held::new(17);
        let index = index_of(&held, 15);
        let readers = readers_of_unmoved(&index);
        assert!(!readers.is_empty());
        held.insert(&index, 15);
        assert!(index.unmoved_keys().is_empty(), "the resize is over");
        for (reader, value) in readers {
            assert_eq!(reader.join().unwrap(), Some(value));
        }
        held.insert(&index, 16);
        for at in 0..17u64 {
            let key = format!("key{at}");
            assert_eq!(index.get(&pin(), key.as_bytes()).copied(), Some(100 + at));
        }
    });
}

/// A key removed while a resize is under way is gone from both tables:
/// one whose slot has moved and one whose slot has not.
#[test]
fn removal_during_a_resize_races_a_reader() {
    loom::model(|| {
        let held = Held::new(13);
        // The thirteenth insert started a resize and moved four slots.
        let index = index_of(&held, 13);
        let unmoved = index.unmoved_keys();
        let moved = held
            .keys
            .iter()
            .find(|key| !unmoved.contains(key))
            .unwrap()
            .clone();
        for key in [moved, unmoved[0].clone()] {
            let racing = {
                let (index, key) = (Arc::clone(&index), key.clone());
                thread::spawn(move || index.get(&pin(), &key).copied())
            };
            assert!(index.remove(&key));
            let found = racing.join().unwrap();
            assert!(
                found.is_none() || found.is_some_and(|value| value >= 100),
                "{found:?}"
            );
            assert_eq!(index.get(&pin(), &key).copied(), None);
        }
        assert_eq!(index.len(), 11);
    });
}

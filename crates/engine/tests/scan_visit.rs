#![allow(clippy::unwrap_used)] // Tests: a failed step should stop the test loudly.
//! `Iter::next_with` (entries visited in place, borrowed from the
//! B+tree cursor's leaf copy where the base's entry comes before the next
//! recent version and own write) against a model: a folded base over many
//! leaves, recent commits and tombstones left in the delta, the scanning
//! transaction's own writes and deletes, random bounds, and `next_with`
//! interleaved at random with `next`.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::time::Duration;

use keel::{Database, Durability, Isolation, Options};
use proptest::prelude::*;

/// A write: key index, and a value tag or a delete.
type Write = (u16, Option<u8>);

const KEYS: u16 = 1500;

fn key(index: u16) -> String {
    format!("key{index:05}")
}

/// A value long enough that the base spans many leaves.
fn value(tag: &str, index: u16, version: u8) -> Vec<u8> {
    let mut value = format!("{tag}-{index}-{version}-").into_bytes();
    value.resize(120, b'.');
    value
}

fn bound(raw: (u8, u16)) -> Bound<String> {
    match raw.0 % 3 {
        0 => Bound::Unbounded,
        1 => Bound::Included(key(raw.1)),
        _ => Bound::Excluded(key(raw.1)),
    }
}

fn apply(
    model: &mut BTreeMap<String, Vec<u8>>,
    tx: &mut keel::Transaction,
    ks: &keel::Keyspace,
    writes: &[Write],
    tag: &str,
) {
    for (index, version) in writes {
        match version {
            Some(version) => {
                let value = value(tag, *index, *version);
                tx.put(ks, key(*index), &value).unwrap();
                model.insert(key(*index), value);
            }
            None => {
                tx.delete(ks, key(*index)).unwrap();
                model.remove(&key(*index));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn visiting_scans_match_the_model(
        base_step in 1u16..4,
        recent in proptest::collection::vec((0u16..KEYS, proptest::option::of(0u8..9)), 0..80),
        own in proptest::collection::vec((0u16..KEYS, proptest::option::of(0u8..9)), 0..40),
        lower in (0u8..3, 0u16..KEYS),
        upper in (0u8..3, 0u16..KEYS),
        pulls in proptest::collection::vec(any::<bool>(), 0..200),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut options = Options::default().with_durability(Durability::None);
        // Recent commits stay in the delta until the test folds.
        options.fold_delta_bytes = u64::MAX / 4;
        options.fold_interval = Duration::from_secs(3600);
        options.checkpoint_interval = Duration::from_secs(3600);
        options.checkpoint_wal_bytes = u64::MAX / 4;
        options.checkpoint_dirty_bytes = u64::MAX / 4;
        let db = Database::open(dir.path(), options).unwrap();
        let ks = db.default_keyspace();
        let mut model = BTreeMap::new();
        let base: Vec<Write> = (0..KEYS).step_by(usize::from(base_step)).map(|index| (index, Some(0))).collect();
        let mut tx = db.begin(Isolation::Serializable);
        apply(&mut model, &mut tx, &ks, &base, "base");
        tx.commit().unwrap();
        db.checkpoint().unwrap();
        let mut tx = db.begin(Isolation::Serializable);
        apply(&mut model, &mut tx, &ks, &recent, "recent");
        tx.commit().unwrap();
        let mut tx = db.begin(Isolation::Snapshot);
        apply(&mut model, &mut tx, &ks, &own, "own");

        let (lower, upper) = (bound(lower), bound(upper));
        let empty = match (&lower, &upper) {
            (Bound::Included(low), Bound::Included(high)) => low > high,
            (Bound::Included(low) | Bound::Excluded(low), Bound::Included(high) | Bound::Excluded(high)) => low >= high,
            _ => false,
        };
        let expected: Vec<(Vec<u8>, Vec<u8>)> = if empty {
            Vec::new()
        } else {
            model
                .range::<String, _>((lower.clone(), upper.clone()))
                .map(|(key, value)| (key.clone().into_bytes(), value.clone()))
                .collect()
        };
        let as_bytes = |bound: &Bound<String>| bound.as_ref().map(|key| key.as_bytes().to_vec());
        let mut entries = tx.range(&ks, (as_bytes(&lower), as_bytes(&upper))).unwrap();
        let mut found = Vec::new();
        let mut pulls = pulls.into_iter().chain(std::iter::repeat(true));
        loop {
            let entry = if pulls.next().unwrap() {
                entries.next_with(|key, value| (key.to_vec(), value.to_vec()))
            } else {
                entries.next().map(|entry| entry.map(|(key, value)| (key.to_vec(), value.to_vec())))
            };
            match entry {
                Some(entry) => found.push(entry.unwrap()),
                None => break,
            }
        }
        prop_assert!(found == expected, "found {} entries, the model {}", found.len(), expected.len());
    }
}

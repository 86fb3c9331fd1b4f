#![allow(clippy::unwrap_used)] // Tests: a failed step should stop the test loudly.
//! The scan's merge of own writes, the delta and the base, from both ends
//! at once, against a model: random base contents (folded), random
//! committed versions and tombstones left in the delta, random own writes
//! and deletes of the scanning transaction, random bounds, and a random
//! interleaving of `next`, `next_with` (visiting in place) and
//! `next_back`.

mod common;

use std::collections::BTreeMap;
use std::ops::Bound;

use common::{bytes, fixture_batched};
use keel_mvcc::{Direction, Isolation};
use proptest::prelude::*;

/// A write: key index, and a value or a delete.
type Write = (u8, Option<u8>);

fn key(index: u8) -> String {
    format!("k{index:03}")
}

fn apply(model: &mut BTreeMap<String, String>, writes: &[Write], tag: &str) {
    for (index, value) in writes {
        match value {
            Some(value) => model.insert(key(*index), format!("{tag}{value}")),
            None => model.remove(&key(*index)),
        };
    }
}

fn as_bytes(bound: &Bound<String>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(key) => Bound::Included(key.as_bytes()),
        Bound::Excluded(key) => Bound::Excluded(key.as_bytes()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn bound(raw: (u8, u8)) -> Bound<String> {
    match raw.0 % 3 {
        0 => Bound::Unbounded,
        1 => Bound::Included(key(raw.1)),
        _ => Bound::Excluded(key(raw.1)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn both_ends_merge_like_the_model(
        folded in proptest::collection::vec((0u8..40, proptest::option::of(0u8..9)), 0..40),
        recent in proptest::collection::vec((0u8..40, proptest::option::of(0u8..9)), 0..30),
        own in proptest::collection::vec((0u8..40, proptest::option::of(0u8..9)), 0..20),
        lower in (0u8..3, 0u8..40),
        upper in (0u8..3, 0u8..40),
        pulls in proptest::collection::vec(0u8..3, 0..60),
        serializable in any::<bool>(),
        batched in any::<bool>(),
    ) {
        // Batched: the recent commits (and the folded one) are frozen
        // batches, merged with the skiplist by the delta's cursor.
        let fixture = fixture_batched(if batched { 0 } else { u64::MAX });
        let mut model = BTreeMap::new();
        let commit = |writes: &[Write], tag: &str| {
            let mut transaction = fixture.manager.begin(Isolation::Serializable);
            for (index, value) in writes {
                let k = key(*index);
                match value {
                    Some(value) => transaction.put(k.as_bytes(), bytes(&format!("{tag}{value}"))).unwrap(),
                    None => transaction.delete(k.as_bytes()).unwrap(),
                }
            }
            transaction.commit().unwrap();
        };
        commit(&folded, "base");
        apply(&mut model, &folded, "base");
        fixture.manager.fold(fixture.manager.safe_point(), &mut fixture.base.sink()).unwrap();
        commit(&recent, "delta");
        apply(&mut model, &recent, "delta");
        let isolation = if serializable { Isolation::Serializable } else { Isolation::Snapshot };
        let mut transaction = fixture.manager.begin(isolation);
        for (index, value) in &own {
            let k = key(*index);
            match value {
                Some(value) => transaction.put(k.as_bytes(), bytes(&format!("own{value}"))).unwrap(),
                None => transaction.delete(k.as_bytes()).unwrap(),
            }
        }
        apply(&mut model, &own, "own");
        let (lower, upper) = (bound(lower), bound(upper));
        let empty = match (&lower, &upper) {
            (Bound::Included(low), Bound::Included(high)) => low > high,
            (Bound::Included(low) | Bound::Excluded(low), Bound::Included(high) | Bound::Excluded(high)) => low >= high,
            _ => false,
        };
        let mut expected: std::collections::VecDeque<(String, String)> = if empty {
            Default::default()
        } else {
            model.range::<String, _>((lower.clone(), upper.clone())).map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        let mut range = transaction
            .range::<[u8], _>((as_bytes(&lower), as_bytes(&upper)), Direction::Forward)
            .unwrap();
        let text = |item: Option<keel_mvcc::Result<(bytes::Bytes, bytes::Bytes)>>| {
            item.map(|item| {
                let (key, value) = item.unwrap();
                (String::from_utf8(key.to_vec()).unwrap(), String::from_utf8(value.to_vec()).unwrap())
            })
        };
        // 0: `next`, 1: `next_with` (the base visited in place where only
        // the base is left), 2: `next_back`.
        for pull in pulls.iter().copied().chain(std::iter::repeat_n(1, 25)).chain(std::iter::repeat_n(0, 25)) {
            let (found, wanted) = match pull {
                0 => (text(range.next()), expected.pop_front()),
                1 => {
                    let visited = range.next_with(|key, value| {
                        (String::from_utf8(key.to_vec()).unwrap(), String::from_utf8(value.to_vec()).unwrap())
                    });
                    (visited.map(Result::unwrap), expected.pop_front())
                }
                _ => (text(range.next_back()), expected.pop_back()),
            };
            prop_assert_eq!(found, wanted);
        }
    }
}

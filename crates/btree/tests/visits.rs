#![allow(clippy::unwrap_used)] // Tests: a failed step should stop the test loudly.
//! `Range::next_with` and `Range::next_ref` (entries visited or lent as
//! borrowed slices, and an entry left in place when its key does not come
//! before a bound) interleaved at random with `next` and `next_back` from
//! both ends, against a model, over short and long keys and inline and
//! overflow values.

mod common;

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;

use common::{VALUE_LENGTHS, long_key, value};
use keel_btree::BTree;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

type Entry = (Vec<u8>, Vec<u8>);

fn random_bound(rng: &mut SmallRng, ids: u16) -> Bound<Vec<u8>> {
    let key = long_key(rng.random_range(0..ids));
    match rng.random_range(0..3) {
        0 => Bound::Unbounded,
        1 => Bound::Included(key),
        _ => Bound::Excluded(key),
    }
}

/// One pull from a random end by a random method, checked against the
/// model's entries still in range (`expected`).
fn pull(
    rng: &mut SmallRng,
    range: &mut keel_btree::Range<'_>,
    expected: &mut VecDeque<Entry>,
    ids: u16,
) {
    let forward = rng.random_bool(0.7);
    let owned = |(key, value): (&[u8], &[u8])| (key.to_vec(), value.to_vec());
    match rng.random_range(0..3) {
        0 => {
            let found = if forward {
                range.next()
            } else {
                range.next_back()
            };
            let found = found.map(|entry| entry.map(|(key, value)| (key.to_vec(), value.to_vec())));
            let wanted = if forward {
                expected.pop_front()
            } else {
                expected.pop_back()
            };
            assert_eq!(found.transpose().unwrap(), wanted);
        }
        1 => {
            let found = range.next_with(forward, |key, value| owned((key, value)));
            let wanted = if forward {
                expected.pop_front()
            } else {
                expected.pop_back()
            };
            assert_eq!(found.transpose().unwrap(), wanted);
        }
        _ => {
            let before = long_key(rng.random_range(0..ids));
            let found = range
                .next_ref(forward, Some(before.as_slice()))
                .map(|entry| entry.map(|lent| lent.map(owned)));
            let next = if forward {
                expected.front()
            } else {
                expected.back()
            };
            match next {
                None => assert!(found.is_none(), "an entry past the range's end"),
                Some((key, _)) => {
                    let precedes = if forward {
                        *key < before
                    } else {
                        *key > before
                    };
                    let found = found.expect("an entry is left").unwrap();
                    if precedes {
                        let wanted = if forward {
                            expected.pop_front()
                        } else {
                            expected.pop_back()
                        };
                        assert_eq!(found, wanted);
                    } else {
                        assert_eq!(found, None, "visited an entry not before the bound");
                    }
                }
            }
        }
    }
}

#[test]
fn visits_interleave_with_the_iterator_like_the_model() {
    let ids = 700u16;
    let mut rng = SmallRng::seed_from_u64(17);
    let (_vfs, pager) = common::pager(5, 4096);
    let tree = BTree::create(pager).unwrap();
    let mut model = BTreeMap::new();
    for _ in 0..900 {
        let id = rng.random_range(0..ids);
        // Mostly short values (many entries per leaf), some in chains.
        let len = if rng.random_bool(0.85) {
            rng.random_range(0..40)
        } else {
            VALUE_LENGTHS[rng.random_range(0..VALUE_LENGTHS.len())]
        };
        let entry_value = value(id, 0, len);
        tree.insert(&long_key(id), &entry_value).unwrap();
        model.insert(long_key(id), entry_value);
    }
    for _ in 0..200 {
        let (lower, upper) = (random_bound(&mut rng, ids), random_bound(&mut rng, ids));
        let empty = match (&lower, &upper) {
            (Bound::Included(low), Bound::Included(high)) => low > high,
            (
                Bound::Included(low) | Bound::Excluded(low),
                Bound::Included(high) | Bound::Excluded(high),
            ) => low >= high,
            _ => false,
        };
        let mut expected: VecDeque<Entry> = if empty {
            VecDeque::new()
        } else {
            model
                .range((lower.clone(), upper.clone()))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect()
        };
        if empty {
            continue;
        }
        let mut range = tree.range((lower, upper));
        for _ in 0..expected.len() * 2 + 4 {
            pull(&mut rng, &mut range, &mut expected, ids);
        }
        // Whatever is left comes out in order.
        while let Some(wanted) = expected.pop_front() {
            let found = range.next_with(true, |key, value| (key.to_vec(), value.to_vec()));
            assert_eq!(found.transpose().unwrap(), Some(wanted));
        }
        assert!(range.next_with(true, |_, _| ()).is_none());
    }
}

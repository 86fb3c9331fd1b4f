#![allow(clippy::unwrap_used)] // Tests: a failed step should stop the test loudly.
//! Typed keyspaces: the order of encoded keys is the order of the values
//! (proptest over integers, signed integers, strings, byte strings,
//! options and tuples), ranges over typed keys return what a `BTreeMap`
//! of the values would, and a type mismatch is an error, not garbage.

use std::collections::BTreeMap;
use std::fmt::Debug;

use keel::{Database, Error, Key, KeyspaceDefinition, Options, TypedKeyspace};
use proptest::prelude::*;

fn encoded<K: Key>(key: &K) -> Vec<u8> {
    let mut bytes = Vec::new();
    key.encode_key(&mut bytes);
    bytes
}

/// The encodings of `a` and `b` compare as `a` and `b` do, and decode back.
fn same_order<K: Key + Ord + Debug>(a: &K, b: &K) -> Result<(), TestCaseError> {
    let (encoded_a, encoded_b) = (encoded(a), encoded(b));
    prop_assert_eq!(encoded_a.cmp(&encoded_b), a.cmp(b), "{:?} {:?}", a, b);
    let mut input = encoded_a.as_slice();
    prop_assert_eq!(&K::decode_key(&mut input).unwrap(), a);
    prop_assert!(input.is_empty());
    Ok(())
}

/// Strings rich in the bytes the escaping is about.
fn text() -> impl Strategy<Value = String> {
    "[\\x00\\x01a-c\\u{ff}\\u{100}]{0,6}"
}

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![Just(0u8), Just(0xff), Just(1), any::<u8>()],
        0..6,
    )
}

proptest! {
    #[test]
    fn unsigned_integers_keep_their_order(a: u64, b: u64, c: u8, d: u8, e: u128, f: u128) {
        same_order(&a, &b)?;
        same_order(&c, &d)?;
        same_order(&e, &f)?;
    }

    #[test]
    fn signed_integers_keep_their_order(a: i64, b: i64, c: i8, d: i8, e: i32, f: i32) {
        same_order(&a, &b)?;
        same_order(&c, &d)?;
        same_order(&e, &f)?;
        same_order(&a, &-a.saturating_abs())?;
    }

    #[test]
    fn strings_and_byte_strings_keep_their_order(a in text(), b in text(), c in bytes(), d in bytes()) {
        same_order(&a, &b)?;
        same_order(&c, &d)?;
        // A string and its own extensions: the shorter first.
        let longer = format!("{a}\0");
        same_order(&a, &longer)?;
    }

    #[test]
    fn tuples_keep_their_order(
        a in (any::<i16>(), text(), any::<u8>()),
        b in (any::<i16>(), text(), any::<u8>()),
        c in (bytes(), proptest::option::of(any::<i32>()), any::<bool>()),
        d in (bytes(), proptest::option::of(any::<i32>()), any::<bool>()),
    ) {
        same_order(&a, &b)?;
        same_order(&c, &d)?;
        // Sharing a first element makes the second decide.
        let shared = (a.0, b.1.clone(), b.2);
        same_order(&a, &shared)?;
    }

    #[test]
    fn sorting_encodings_sorts_the_values(mut values in prop::collection::vec((any::<i8>(), text()), 0..40)) {
        let mut by_encoding = values.clone();
        by_encoding.sort_by_key(encoded);
        values.sort();
        prop_assert_eq!(by_encoding, values);
    }
}

const EVENTS: KeyspaceDefinition<(i64, String), u32> = KeyspaceDefinition::new("events");

#[test]
fn typed_ranges_return_what_a_btreemap_of_the_values_would() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), Options::default()).unwrap();
    let events = db.typed_keyspace(EVENTS).unwrap();
    let mut model = BTreeMap::new();
    db.update(|tx| {
        for (index, time) in [-300i64, -2, -1, 0, 1, 2, 255, 256, 70_000]
            .iter()
            .enumerate()
        {
            for name in ["", "a", "a\0", "b"] {
                let value = u32::try_from(index).unwrap();
                events.put(tx, (*time, name), value)?;
                model.insert((*time, name.to_string()), value);
            }
        }
        Ok(())
    })
    .unwrap();
    let tx = db.begin_read();
    let all: Vec<((i64, String), u32)> =
        events.range(&tx, ..).unwrap().map(Result::unwrap).collect();
    let expected: Vec<_> = model.clone().into_iter().collect();
    assert_eq!(all, expected);
    let negative: Vec<_> = events
        .range(&tx, (i64::MIN, "")..(0, ""))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let expected: Vec<_> = model
        .range((i64::MIN, String::new())..(0, String::new()))
        .map(|(key, value)| (key.clone(), *value))
        .collect();
    assert_eq!(negative.len(), 12);
    assert_eq!(negative, expected);
    let backwards: Vec<_> = events
        .range(&tx, (1, "a")..=(256, "a\0"))
        .unwrap()
        .rev()
        .map(Result::unwrap)
        .collect();
    let mut expected: Vec<_> = model
        .range((1, "a".to_string())..=(256, "a\0".to_string()))
        .map(|(key, value)| (key.clone(), *value))
        .collect();
    expected.reverse();
    assert_eq!(backwards, expected);
    assert_eq!(events.get(&tx, (-1, "a\0")).unwrap(), Some(2));
    assert_eq!(events.get(&tx, (-1, "c")).unwrap(), None);
    assert_eq!(events.first(&tx).unwrap().unwrap().0, (-300, String::new()));
    assert_eq!(
        events.last(&tx).unwrap().unwrap().0,
        (70_000, "b".to_string())
    );
    assert_eq!(events.len(&tx).unwrap(), model.len() as u64);
}

#[test]
fn keys_and_values_in_borrowed_form_and_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), Options::default()).unwrap();
    let names: TypedKeyspace<String, String> =
        db.typed_keyspace(KeyspaceDefinition::new("names")).unwrap();
    let owned = String::from("carol");
    db.update(|tx| {
        names.put(tx, "alice", "admin")?;
        names.put(tx, &owned, owned.clone())?;
        names.put(tx, String::from("bob"), &owned)?;
        names.delete(tx, "bob")
    })
    .unwrap();
    let tx = db.begin_read();
    assert_eq!(names.get(&tx, "alice").unwrap().as_deref(), Some("admin"));
    assert!(!names.contains_key(&tx, "bob").unwrap());
    assert!(names.contains_key(&tx, &owned).unwrap());
    let keys: Vec<String> = names
        .range(&tx, "b"..)
        .unwrap()
        .map(|entry| entry.unwrap().0)
        .collect();
    assert_eq!(keys, ["carol"]);
}

#[test]
fn a_keyspace_read_with_the_wrong_types_is_a_decode_error() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), Options::default()).unwrap();
    let words: TypedKeyspace<String, String> =
        db.typed_keyspace(KeyspaceDefinition::new("words")).unwrap();
    db.update(|tx| words.put(tx, "hi", "there")).unwrap();
    let numbers: TypedKeyspace<u64, u64> =
        db.typed_keyspace(KeyspaceDefinition::new("words")).unwrap();
    let tx = db.begin_read();
    let error = numbers.range(&tx, ..).unwrap().next().unwrap().unwrap_err();
    assert!(
        matches!(&error, Error::Decode { keyspace, .. } if keyspace == "words"),
        "{error:?}"
    );
    let source = std::error::Error::source(&error).unwrap().to_string();
    assert!(!error.to_string().contains(&source), "{error}");
    let value_error = TypedKeyspace::<String, u64>::new(words.keyspace().clone())
        .get(&tx, "hi")
        .unwrap_err();
    assert!(
        matches!(value_error, Error::Decode { .. }),
        "{value_error:?}"
    );
}

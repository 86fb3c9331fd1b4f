//! Frozen batches: a commit of at least `batch_commit_bytes_min` bytes is
//! kept whole in the delta. It is seen by exactly the snapshots at or
//! above its timestamp, merged with the skiplist by reads and scans,
//! validated against like any version, folded in key order with the
//! skiplist (newest version of each key wins), and dropped after the
//! grace period.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use common::{bytes, fixture_batched, put_all, read, scan};
use keel_mvcc::{ConflictKind, Direction, Error, Isolation};

/// Big enough to be a batch; the single-key commits below are not.
const BATCH_MIN: u64 = 16;

fn big_commit(fixture: &common::Fixture, tag: &str) {
    let pairs: Vec<(String, String)> = ["a", "c", "e", "g"]
        .iter()
        .map(|key| (key.to_string(), format!("{tag}-{key}")))
        .collect();
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    put_all(&fixture.manager, &pairs);
}

#[test]
fn a_large_commit_is_one_batch_seen_only_by_newer_snapshots() {
    let fixture = fixture_batched(BATCH_MIN);
    put_all(&fixture.manager, &[("c", "old")]);
    let old = fixture.manager.begin(Isolation::Snapshot);
    big_commit(&fixture, "big");
    let stats = fixture.manager.stats();
    assert_eq!(stats.delta_batches, 1);
    assert!(stats.delta_batch_bytes > 0);
    assert_eq!(old.get(b"c").unwrap(), Some(bytes("old")));
    assert_eq!(old.get(b"a").unwrap(), None);
    assert_eq!(read(&fixture.manager, "c").as_deref(), Some("big-c"));
    // A small commit after the batch wins over it; before it, loses.
    put_all(&fixture.manager, &[("e", "small")]);
    let mut new = fixture.manager.begin(Isolation::Snapshot);
    let all = scan(&mut new, Direction::Forward);
    let expected: Vec<(String, String)> = [
        ("a", "big-a"),
        ("c", "big-c"),
        ("e", "small"),
        ("g", "big-g"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(all, expected);
    let mut reversed = scan(&mut new, Direction::Reverse);
    reversed.reverse();
    assert_eq!(reversed, expected);
    assert_eq!(
        scan(&mut { old }, Direction::Forward),
        [("c".to_string(), "old".to_string())]
    );
}

#[test]
fn reads_of_keys_a_batch_wrote_conflict() {
    let fixture = fixture_batched(BATCH_MIN);
    let reader = fixture.manager.begin(Isolation::Serializable);
    let mut writer = fixture.manager.begin(Isolation::Serializable);
    assert_eq!(writer.get(b"e").unwrap(), None);
    writer.put(b"z", bytes("1")).unwrap();
    let mut scanner = fixture.manager.begin(Isolation::Serializable);
    let seen: Vec<_> = scanner
        .range(b"b".as_slice()..b"d".as_slice(), Direction::Forward)
        .unwrap()
        .collect();
    assert!(seen.is_empty());
    scanner.put(b"y", bytes("1")).unwrap();
    drop(reader);
    big_commit(&fixture, "big");
    match writer.commit() {
        Err(Error::Conflict { kind, key, .. }) => {
            assert_eq!(kind, ConflictKind::ReadChanged);
            assert_eq!(key, bytes("e"));
        }
        other => panic!("expected a read conflict, got {other:?}"),
    }
    match scanner.commit() {
        Err(Error::Conflict { kind, key, .. }) => {
            assert_eq!(kind, ConflictKind::Phantom);
            assert_eq!(key, bytes("c"));
        }
        other => panic!("expected a phantom, got {other:?}"),
    }
}

#[test]
fn a_fold_merges_batches_with_the_skiplist_and_drops_them_after() {
    let fixture = fixture_batched(BATCH_MIN);
    put_all(&fixture.manager, &[("b", "small-b")]);
    big_commit(&fixture, "first");
    put_all(&fixture.manager, &[("c", "small-c")]);
    big_commit(&fixture, "second");
    put_all(&fixture.manager, &[("g", "small-g")]);
    assert_eq!(fixture.manager.stats().delta_batches, 2);
    let report = fixture
        .manager
        .fold(fixture.manager.safe_point(), &mut fixture.base.sink())
        .unwrap();
    assert_eq!(report.keys_folded, 5, "a, b, c, e, g once each");
    fixture.manager.collect_garbage();
    let stats = fixture.manager.stats();
    assert_eq!(
        (
            stats.delta_batches,
            stats.delta_versions,
            stats.delta_batch_bytes
        ),
        (0, 0, 0)
    );
    let mut transaction = fixture.manager.begin(Isolation::Snapshot);
    let all = scan(&mut transaction, Direction::Forward);
    let expected: Vec<(String, String)> = [
        ("a", "second-a"),
        ("b", "small-b"),
        ("c", "second-c"),
        ("e", "second-e"),
        ("g", "small-g"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(all, expected);
}

#[test]
fn a_reader_older_than_a_fold_keeps_the_batch_until_it_leaves() {
    let fixture = fixture_batched(BATCH_MIN);
    big_commit(&fixture, "big");
    let reader = fixture.manager.begin(Isolation::Snapshot);
    fixture
        .manager
        .fold(fixture.manager.safe_point(), &mut fixture.base.sink())
        .unwrap();
    fixture.manager.collect_garbage();
    assert_eq!(
        fixture.manager.stats().delta_batches,
        1,
        "in its grace period"
    );
    assert_eq!(reader.get(b"g").unwrap(), Some(bytes("big-g")));
    drop(reader);
    fixture.manager.collect_garbage();
    assert_eq!(fixture.manager.stats().delta_batches, 0);
    assert_eq!(read(&fixture.manager, "g").as_deref(), Some("big-g"));
}

//! Scenarios of single transactions and of the commit protocol: own writes,
//! range merges over writes, delta and base in both directions, expiry,
//! savepoints, limits, the age limit, and failures of the log and the base.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::{bytes, fixture, fixture_with, manual_fixture, put_all, read, scan};
use keel_mvcc::testing::{LoggedRecord, MemoryBase};
use keel_mvcc::{
    BaseOperation, Change, ConflictKind, Direction, Error, Isolation, LogOperation, MvccOptions,
};

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(key, value)| (key.to_string(), value.to_string()))
        .collect()
}

#[test]
fn own_writes_are_visible_and_private() {
    let fixture = fixture();
    let mut transaction = fixture.manager.begin(Isolation::Serializable);
    assert!(transaction.is_read_only());
    transaction.put(b"k", bytes("v1")).unwrap();
    assert_eq!(transaction.get(b"k").unwrap(), Some(bytes("v1")));
    transaction.put(b"k", bytes("v2")).unwrap();
    assert_eq!(transaction.get(b"k").unwrap(), Some(bytes("v2")));
    transaction.delete(b"k").unwrap();
    assert_eq!(transaction.get(b"k").unwrap(), None);
    transaction.put(b"k", bytes("v3")).unwrap();
    assert_eq!(read(&fixture.manager, "k"), None);
    let info = transaction.commit().unwrap();
    assert!(info.commit_timestamp.is_some());
    assert_eq!(read(&fixture.manager, "k").as_deref(), Some("v3"));
    // One record, with the final value only.
    let records = fixture.log.records();
    assert_eq!(records.len(), 1);
    let LoggedRecord::Commit {
        writes,
        commit_timestamp,
        ..
    } = &records[0]
    else {
        panic!("expected a commit record");
    };
    assert_eq!(writes.len(), 1);
    assert_eq!(
        writes.entries()[0].change,
        Change::Put {
            value: bytes("v3"),
            expires_at_ms: None
        }
    );
    assert_eq!(Some(*commit_timestamp), info.commit_timestamp);
    assert!(fixture.manager.visible_watermark() >= *commit_timestamp);
}

#[test]
fn values_are_shared_not_copied() {
    let fixture = fixture();
    let value = Bytes::from(vec![7u8; 4096]);
    let mut transaction = fixture.manager.begin(Isolation::Serializable);
    transaction.put(b"big", value.clone()).unwrap();
    transaction.commit().unwrap();
    let reader = fixture.manager.begin(Isolation::Serializable);
    let read_back = reader.get(b"big").unwrap().unwrap();
    assert_eq!(read_back.as_ptr(), value.as_ptr());
    let LoggedRecord::Commit { writes, .. } = &fixture.log.records()[0] else {
        panic!("expected a commit record");
    };
    let Change::Put { value: logged, .. } = &writes.entries()[0].change else {
        panic!("expected a put");
    };
    assert_eq!(logged.as_ptr(), value.as_ptr());
}

#[test]
fn rollback_and_drop_discard_writes() {
    let fixture = fixture();
    let mut transaction = fixture.manager.begin(Isolation::Serializable);
    transaction.put(b"a", bytes("1")).unwrap();
    transaction.rollback();
    {
        let mut dropped = fixture.manager.begin(Isolation::Snapshot);
        dropped.put(b"b", bytes("1")).unwrap();
    }
    assert_eq!(read(&fixture.manager, "a"), None);
    assert_eq!(read(&fixture.manager, "b"), None);
    assert!(fixture.log.records().is_empty());
    let stats = fixture.manager.stats();
    assert!(stats.rollbacks >= 2);
    assert_eq!(stats.commits, 0);
    assert_eq!(stats.active_transactions, 0);
}

#[test]
fn range_merges_own_writes_delta_and_base_both_ways() {
    let base = MemoryBase::with_entries([
        (b"a".as_slice(), b"base".as_slice()),
        (b"c", b"base"),
        (b"e", b"base"),
        (b"g", b"base"),
    ]);
    let fixture = fixture_with(base, MvccOptions::default());
    // Delta: overwrite c, delete e, add d.
    let mut setup = fixture.manager.begin(Isolation::Serializable);
    setup.put(b"c", bytes("delta")).unwrap();
    setup.delete(b"e").unwrap();
    setup.put(b"d", bytes("delta")).unwrap();
    setup.commit().unwrap();
    // Own writes: overwrite d, delete g, add b and h; resurrect e.
    let mut transaction = fixture.manager.begin(Isolation::Serializable);
    transaction.put(b"d", bytes("own")).unwrap();
    transaction.delete(b"g").unwrap();
    transaction.put(b"b", bytes("own")).unwrap();
    transaction.put(b"h", bytes("own")).unwrap();
    transaction.put(b"e", bytes("own")).unwrap();
    let expected = pairs(&[
        ("a", "base"),
        ("b", "own"),
        ("c", "delta"),
        ("d", "own"),
        ("e", "own"),
        ("h", "own"),
    ]);
    assert_eq!(scan(&mut transaction, Direction::Forward), expected);
    let mut reversed = expected.clone();
    reversed.reverse();
    assert_eq!(scan(&mut transaction, Direction::Reverse), reversed);
    // Bounded, exclusive and inclusive.
    let keys = |transaction: &mut keel_mvcc::Transaction, direction| -> Vec<Bytes> {
        transaction
            .range(b"b".as_slice()..b"e".as_slice(), direction)
            .unwrap()
            .map(|item| item.unwrap().0)
            .collect()
    };
    assert_eq!(
        keys(&mut transaction, Direction::Forward),
        [bytes("b"), bytes("c"), bytes("d")]
    );
    assert_eq!(
        keys(&mut transaction, Direction::Reverse),
        [bytes("d"), bytes("c"), bytes("b")]
    );
    let inclusive: Vec<Bytes> = transaction
        .range(b"c".as_slice()..=b"e".as_slice(), Direction::Forward)
        .unwrap()
        .map(|item| item.unwrap().0)
        .collect();
    assert_eq!(inclusive, [bytes("c"), bytes("d"), bytes("e")]);
}

#[test]
fn empty_and_inverted_ranges_yield_nothing_without_panicking() {
    let fixture = fixture();
    put_all(&fixture.manager, &[("a", "1"), ("b", "1")]);
    let mut transaction = fixture.manager.begin(Isolation::Serializable);
    transaction.put(b"c", bytes("1")).unwrap();
    for direction in [Direction::Forward, Direction::Reverse] {
        assert_eq!(
            transaction
                .range(b"z".as_slice()..b"a".as_slice(), direction)
                .unwrap()
                .count(),
            0
        );
        assert_eq!(
            transaction
                .range(b"b".as_slice()..b"b".as_slice(), direction)
                .unwrap()
                .count(),
            0
        );
        use std::ops::Bound;
        let both_excluded = (
            Bound::Excluded(b"b".as_slice()),
            Bound::Excluded(b"b".as_slice()),
        );
        assert_eq!(
            transaction
                .range::<[u8], _>(both_excluded, direction)
                .unwrap()
                .count(),
            0
        );
        assert_eq!(
            transaction
                .range(b"b".as_slice()..=b"b".as_slice(), direction)
                .unwrap()
                .count(),
            1
        );
    }
}

#[test]
fn snapshot_reads_ignore_later_commits_in_ranges() {
    let fixture = fixture();
    put_all(&fixture.manager, &[("a", "1"), ("b", "1")]);
    let mut reader = fixture.manager.begin(Isolation::Snapshot);
    put_all(&fixture.manager, &[("a", "2"), ("c", "2")]);
    let mut deleter = fixture.manager.begin(Isolation::Serializable);
    deleter.delete(b"b").unwrap();
    deleter.commit().unwrap();
    assert_eq!(
        scan(&mut reader, Direction::Forward),
        pairs(&[("a", "1"), ("b", "1")])
    );
    let mut fresh = fixture.manager.begin(Isolation::Snapshot);
    assert_eq!(
        scan(&mut fresh, Direction::Forward),
        pairs(&[("a", "2"), ("c", "2")])
    );
}

#[test]
fn expiry_is_judged_at_the_read_timestamp() {
    let (fixture, clock) = manual_fixture(1_000_000);
    let mut writer = fixture.manager.begin(Isolation::Serializable);
    writer
        .put_expiring(b"session", bytes("token"), 1_000_500)
        .unwrap();
    writer.put(b"forever", bytes("x")).unwrap();
    writer.commit().unwrap();
    let before = fixture.manager.begin(Isolation::Serializable);
    let entry = before.get_entry(b"session").unwrap().unwrap();
    assert_eq!(entry.expires_at_ms, Some(1_000_500));
    // Time passes: a transaction that began before still sees the value
    // (its snapshot never changes); one reading at a later timestamp not.
    clock.set_ms(1_000_600);
    put_all(&fixture.manager, &[("tick", "1")]);
    let mut after = fixture.manager.begin(Isolation::Serializable);
    assert!(after.read_timestamp().physical_ms() >= 1_000_600);
    assert_eq!(after.get(b"session").unwrap(), None);
    assert_eq!(
        scan(&mut after, Direction::Forward),
        pairs(&[("forever", "x"), ("tick", "1")])
    );
    assert_eq!(before.get(b"session").unwrap(), Some(bytes("token")));
    // Expired values in the base read as absent too, after a fold.
    let base = fixture.base.clone();
    drop((before, after));
    fixture
        .manager
        .fold(fixture.manager.safe_point(), &mut base.sink())
        .unwrap();
    assert_eq!(
        base.snapshot()[&bytes("session")].expires_at_ms,
        Some(1_000_500)
    );
    fixture.manager.collect_garbage();
    assert_eq!(read(&fixture.manager, "session"), None);
    assert_eq!(read(&fixture.manager, "forever").as_deref(), Some("x"));
}

/// A serializable transaction that read a value which expires before its
/// commit timestamp read something time has since changed, as a write
/// would have: its commit conflicts (`ReadExpired`), through a point read,
/// a visit in place or a scan, from the delta or the base. Reads of values
/// that outlive the commit, snapshot isolation and read-only transactions
/// commit.
#[test]
fn a_value_read_that_expires_before_the_commit_is_a_conflict() {
    type Read = fn(&keel_mvcc::Transaction);
    let reads: [(&str, Read); 3] = [
        ("get", |tx| assert!(tx.get(b"session").unwrap().is_some())),
        ("visit", |tx| {
            assert!(
                tx.get_entry_with(b"session", |entry| entry.is_some())
                    .unwrap()
            );
        }),
        ("scan", |tx| {
            let found = tx
                .range(b"s".as_slice()..b"t".as_slice(), Direction::Forward)
                .unwrap()
                .count();
            assert_eq!(found, 1);
        }),
    ];
    for folded in [false, true] {
        for (name, read_it) in reads {
            let (fixture, clock) = manual_fixture(1_000_000);
            let mut writer = fixture.manager.begin(Isolation::Serializable);
            writer
                .put_expiring(b"session", bytes("token"), 1_000_500)
                .unwrap();
            writer.commit().unwrap();
            if folded {
                let point = fixture.manager.safe_point();
                fixture
                    .manager
                    .fold(point, &mut fixture.base.sink())
                    .unwrap();
            }
            let context = format!("{name}, folded {folded}");
            // Expires after the commit: fine.
            let mut early = fixture.manager.begin(Isolation::Serializable);
            read_it(&early);
            early.put(b"other", bytes("1")).unwrap();
            early
                .commit()
                .unwrap_or_else(|error| panic!("{context}: {error}"));
            // Expires before it: a conflict naming the expired key.
            let mut late = fixture.manager.begin(Isolation::Serializable);
            read_it(&late);
            late.put(b"other", bytes("2")).unwrap();
            let mut snapshot = fixture.manager.begin(Isolation::Snapshot);
            read_it(&snapshot);
            snapshot.put(b"snapshot", bytes("3")).unwrap();
            let reader = fixture.manager.begin(Isolation::Serializable);
            read_it(&reader);
            clock.set_ms(1_000_500);
            let error = late.commit().unwrap_err();
            assert!(
                matches!(&error, Error::Conflict { kind: ConflictKind::ReadExpired, key, .. } if *key == bytes("session")),
                "{context}: {error}"
            );
            snapshot
                .commit()
                .unwrap_or_else(|error| panic!("{context}: {error}"));
            reader
                .commit()
                .unwrap_or_else(|error| panic!("{context}: {error}"));
            assert_eq!(read(&fixture.manager, "other").as_deref(), Some("1"));
        }
    }
}

/// Prepare judges the expiry of what was read at the prepare timestamp;
/// once prepared, the commit cannot fail (the coordinator may already
/// have decided), so a value expiring while it waits does not stop it.
#[test]
fn prepare_checks_read_expiry_and_a_prepared_commit_does_not() {
    let (fixture, clock) = manual_fixture(1_000_000);
    put_expiring(&fixture.manager, "session", 1_000_500);
    let mut late = fixture.manager.begin(Isolation::Serializable);
    late.get(b"session").unwrap();
    late.put(b"late", bytes("1")).unwrap();
    let mut early = fixture.manager.begin(Isolation::Serializable);
    early.get(b"session").unwrap();
    early.put(b"other", bytes("2")).unwrap();
    let prepared = early.prepare().unwrap();
    clock.set_ms(1_000_600);
    let error = late.prepare().unwrap_err();
    assert!(
        matches!(
            error,
            Error::Conflict {
                kind: ConflictKind::ReadExpired,
                ..
            }
        ),
        "{error}"
    );
    prepared.commit().unwrap();
    assert_eq!(read(&fixture.manager, "other").as_deref(), Some("2"));
}

fn put_expiring(manager: &keel_mvcc::TransactionManager, key: &str, expires_at_ms: u64) {
    let mut writer = manager.begin(Isolation::Serializable);
    writer
        .put_expiring(key.as_bytes(), bytes("v"), expires_at_ms)
        .unwrap();
    writer.commit().unwrap();
}

#[test]
fn savepoints_nest_and_roll_back_to_their_point() {
    let fixture = fixture();
    let mut transaction = fixture.manager.begin(Isolation::Serializable);
    transaction.put(b"a", bytes("1")).unwrap();
    let outer = transaction.savepoint();
    transaction.put(b"a", bytes("2")).unwrap();
    transaction.put(b"b", bytes("2")).unwrap();
    let inner = transaction.savepoint();
    transaction.delete(b"a").unwrap();
    transaction.put(b"c", bytes("3")).unwrap();
    transaction.rollback_to_savepoint(inner).unwrap();
    assert_eq!(transaction.get(b"a").unwrap(), Some(bytes("2")));
    assert_eq!(transaction.get(b"c").unwrap(), None);
    // The savepoint stays after a rollback to it.
    transaction.put(b"c", bytes("again")).unwrap();
    transaction.rollback_to_savepoint(inner).unwrap();
    assert_eq!(transaction.get(b"c").unwrap(), None);
    transaction.rollback_to_savepoint(outer).unwrap();
    assert_eq!(transaction.get(b"a").unwrap(), Some(bytes("1")));
    assert_eq!(transaction.get(b"b").unwrap(), None);
    // Rolling back to the outer one released the inner one.
    assert!(matches!(
        transaction.rollback_to_savepoint(inner),
        Err(Error::UnknownSavepoint { .. })
    ));
    let released = transaction.savepoint();
    transaction.put(b"d", bytes("kept")).unwrap();
    transaction.release_savepoint(released).unwrap();
    assert!(transaction.rollback_to_savepoint(released).is_err());
    transaction.commit().unwrap();
    let mut check = fixture.manager.begin(Isolation::Serializable);
    assert_eq!(
        scan(&mut check, Direction::Forward),
        pairs(&[("a", "1"), ("d", "kept")])
    );
    // A savepoint of another transaction is refused.
    let mut other = fixture.manager.begin(Isolation::Serializable);
    assert!(matches!(
        other.rollback_to_savepoint(outer),
        Err(Error::UnknownSavepoint { .. })
    ));
}

#[test]
fn write_limits_are_enforced() {
    let options = MvccOptions {
        key_bytes_max: 4,
        value_bytes_max: 8,
        transaction_write_bytes_max: 20,
        ..MvccOptions::default()
    };
    let fixture = fixture_with(MemoryBase::new(), options);
    let mut transaction = fixture.manager.begin(Isolation::Serializable);
    assert!(matches!(
        transaction.put(b"12345", bytes("v")),
        Err(Error::KeyTooLarge {
            key_bytes: 5,
            limit_bytes: 4
        })
    ));
    assert!(matches!(
        transaction.put(b"k", Bytes::from(vec![0; 9])),
        Err(Error::ValueTooLarge {
            value_bytes: 9,
            limit_bytes: 8,
            ..
        })
    ));
    transaction.put(b"k1", Bytes::from(vec![0; 8])).unwrap(); // 10 bytes
    transaction.put(b"k2", Bytes::from(vec![0; 8])).unwrap(); // 20 bytes
    // Overwriting replaces the old bytes; adding more does not fit.
    transaction.put(b"k2", Bytes::from(vec![0; 4])).unwrap(); // 16 bytes
    let error = transaction.put(b"k3", Bytes::from(vec![0; 4])).unwrap_err();
    assert!(matches!(
        error,
        Error::WriteSetTooLarge {
            write_bytes: 22,
            limit_bytes: 20,
            ..
        }
    ));
    // The refused write left nothing behind.
    assert_eq!(transaction.get(b"k3").unwrap(), None);
    transaction.commit().unwrap();
}

#[test]
fn read_set_limit_is_enforced() {
    let options = MvccOptions {
        transaction_read_bytes_max: 10,
        ..MvccOptions::default()
    };
    let fixture = fixture_with(MemoryBase::new(), options);
    let transaction = fixture.manager.begin(Isolation::Serializable);
    transaction.get(b"12345").unwrap();
    transaction.get(b"12345").unwrap();
    assert!(matches!(
        transaction.get(b"1"),
        Err(Error::ReadSetTooLarge {
            limit_bytes: 10,
            ..
        })
    ));
    // Snapshot transactions track nothing.
    let snapshot = fixture.manager.begin(Isolation::Snapshot);
    for _ in 0..10 {
        snapshot.get(b"12345").unwrap();
    }
    // A scan past the limit is still tracked, and the next operation fails.
    let scanner = fixture.manager.begin(Isolation::Serializable);
    scanner
        .range::<[u8], _>(.., Direction::Forward)
        .unwrap()
        .count();
    assert!(matches!(
        scanner.get(b"x"),
        Err(Error::ReadSetTooLarge { .. })
    ));
}

#[test]
fn age_limits_warn_and_refuse() {
    let options = MvccOptions {
        transaction_age_warning: Duration::ZERO,
        ..MvccOptions::default()
    };
    let fixture = fixture_with(MemoryBase::new(), options);
    let transaction = fixture.manager.begin(Isolation::Serializable);
    transaction.get(b"a").unwrap();
    transaction.get(b"b").unwrap();
    assert_eq!(fixture.manager.stats().transactions_aged, 1);

    let options = MvccOptions {
        transaction_age_max: Duration::ZERO,
        ..MvccOptions::default()
    };
    let fixture = fixture_with(MemoryBase::new(), options);
    let mut transaction = fixture.manager.begin(Isolation::Serializable);
    assert!(matches!(
        transaction.get(b"a"),
        Err(Error::TransactionTooOld { limit_ms: 0, .. })
    ));
    assert!(matches!(
        transaction.put(b"a", bytes("1")),
        Err(Error::TransactionTooOld { .. })
    ));
    assert!(matches!(
        transaction.commit(),
        Err(Error::TransactionTooOld { .. })
    ));
    assert_eq!(fixture.manager.stats().transactions_too_old, 1);
    assert_eq!(fixture.manager.stats().active_transactions, 0);
}

#[test]
fn append_failure_withdraws_the_commit_and_poisons_writes() {
    let fixture = fixture();
    put_all(&fixture.manager, &[("a", "1")]);
    let watermark = fixture.manager.visible_watermark();
    fixture.log.fail_appends_from(1);
    let mut transaction = fixture.manager.begin(Isolation::Serializable);
    transaction.put(b"a", bytes("2")).unwrap();
    transaction.put(b"b", bytes("2")).unwrap();
    let error = transaction.commit().unwrap_err();
    assert!(
        matches!(
            error,
            Error::Log {
                operation: LogOperation::Append,
                ..
            }
        ),
        "{error}"
    );
    // No hole: the watermark passed the withdrawn timestamp, and nothing
    // of the write set is visible.
    assert!(fixture.manager.visible_watermark() > watermark);
    assert_eq!(read(&fixture.manager, "a").as_deref(), Some("1"));
    assert_eq!(read(&fixture.manager, "b"), None);
    // Writes are poisoned; reads and read-only commits go on.
    let mut next = fixture.manager.begin(Isolation::Serializable);
    next.put(b"c", bytes("3")).unwrap();
    assert!(matches!(next.commit(), Err(Error::WritesPoisoned { .. })));
    let reader = fixture.manager.begin(Isolation::Serializable);
    assert_eq!(reader.get(b"a").unwrap(), Some(bytes("1")));
    reader.commit().unwrap();
    let stats = fixture.manager.stats();
    assert!(stats.writes_poisoned);
    assert_eq!(stats.log_failures, 1);
    assert!(fixture.manager.poisoned().is_some());
    assert!(fixture.manager.check().is_ok());
}

#[test]
fn durable_wait_failure_leaves_no_half_visible_write_set_and_no_hole() {
    let fixture = fixture();
    put_all(&fixture.manager, &[("a", "1")]);
    fixture.log.fail_waits_from(1);
    let mut transaction = fixture.manager.begin(Isolation::Serializable);
    transaction.put(b"a", bytes("2")).unwrap();
    transaction.put(b"b", bytes("2")).unwrap();
    let error = transaction.commit().unwrap_err();
    assert!(
        matches!(
            error,
            Error::Log {
                operation: LogOperation::WaitDurable,
                ..
            }
        ),
        "{error}"
    );
    // The withdrawn timestamp is finished: the watermark passed it, and the
    // versions at it are skipped.
    let LoggedRecord::Commit {
        commit_timestamp, ..
    } = fixture.log.records()[1].clone()
    else {
        panic!("expected a commit record");
    };
    assert_eq!(fixture.manager.visible_watermark(), commit_timestamp);
    let mut reader = fixture.manager.begin(Isolation::Serializable);
    // (At or above it: an idle `begin` may move the watermark on.)
    assert!(reader.read_timestamp() >= commit_timestamp);
    assert_eq!(reader.get(b"a").unwrap(), Some(bytes("1")));
    assert_eq!(reader.get(b"b").unwrap(), None);
    assert_eq!(scan(&mut reader, Direction::Forward), pairs(&[("a", "1")]));
    // The fold skips the aborted versions and drops them.
    drop(reader);
    let report = fixture
        .manager
        .fold(fixture.manager.safe_point(), &mut fixture.base.sink())
        .unwrap();
    assert_eq!(report.keys_folded, 1);
    assert_eq!(fixture.base.snapshot().len(), 1);
    assert_eq!(fixture.manager.stats().delta_versions, 0);
    assert!(fixture.manager.begin(Isolation::Snapshot).commit().is_ok());
}

#[test]
fn oracle_failure_takes_no_timestamp() {
    let (fixture, _clock) = manual_fixture(5_000);
    let oracle = keel_mvcc::testing::MemoryOracle::new(keel_tso::SystemClock);
    oracle.set_fail(true);
    let manager = keel_mvcc::TransactionManager::new(
        fixture.base.clone(),
        fixture.log.clone(),
        std::sync::Arc::new(oracle),
        MvccOptions::default(),
    )
    .unwrap();
    let mut transaction = manager.begin(Isolation::Serializable);
    transaction.put(b"a", bytes("1")).unwrap();
    assert!(matches!(transaction.commit(), Err(Error::Timestamp(_))));
    assert!(fixture.log.records().is_empty());
    assert!(manager.poisoned().is_none());
    assert_eq!(manager.stats().delta_versions, 0);
}

#[test]
fn base_failures_are_reported_and_leave_the_transaction_usable() {
    let fixture = fixture_with(
        MemoryBase::with_entries([(b"a".as_slice(), b"1".as_slice())]),
        MvccOptions::default(),
    );
    let transaction = fixture.manager.begin(Isolation::Serializable);
    fixture.base.set_fail_reads(true);
    assert!(matches!(
        transaction.get(b"a"),
        Err(Error::Base {
            operation: BaseOperation::Get,
            key: Some(key),
            ..
        }) if key == bytes("a")
    ));
    assert!(matches!(
        transaction.range::<[u8], _>(.., Direction::Forward),
        Err(Error::Base {
            operation: BaseOperation::Range,
            ..
        })
    ));
    fixture.base.set_fail_reads(false);
    let mut range = transaction
        .range::<[u8], _>(.., Direction::Forward)
        .unwrap();
    fixture.base.set_fail_reads(true);
    assert!(matches!(
        range.next(),
        Some(Err(Error::Base {
            operation: BaseOperation::RangeNext,
            ..
        }))
    ));
    assert!(range.next().is_none(), "a failed scan ends");
    drop(range);
    fixture.base.set_fail_reads(false);
    assert_eq!(transaction.get(b"a").unwrap(), Some(bytes("1")));
}

#[test]
fn write_sets_reject_duplicate_keys() {
    use keel_mvcc::{WriteEntry, WriteSet};
    let entry = |key: &str| WriteEntry {
        key: bytes(key),
        change: Change::Delete,
    };
    assert!(matches!(
        WriteSet::new(vec![entry("a"), entry("b"), entry("a")]),
        Err(Error::DuplicateKey { key }) if key == bytes("a")
    ));
    let set = WriteSet::new(vec![entry("b"), entry("a")]).unwrap();
    assert_eq!(set.entries()[0].key, bytes("a"));
    assert_eq!(set.bytes(), 2);
}

#[test]
fn stats_count_what_happened() {
    let fixture = fixture();
    put_all(&fixture.manager, &[("a", "1"), ("b", "2")]);
    let reader = fixture.manager.begin(Isolation::Serializable);
    fixture
        .manager
        .begin(Isolation::Serializable)
        .commit()
        .unwrap();
    let stats = fixture.manager.stats();
    assert_eq!(stats.commits, 1);
    assert_eq!(stats.read_only_commits, 1);
    assert_eq!(stats.delta_versions, 2);
    assert_eq!(stats.delta_keys, 2);
    assert!(stats.delta_bytes >= 4);
    assert_eq!(stats.active_transactions, 1);
    assert_eq!(
        stats.oldest_active_read_timestamp,
        Some(reader.read_timestamp())
    );
    assert!(stats.visible_watermark >= reader.read_timestamp());
    drop(reader);
    assert_eq!(fixture.manager.stats().oldest_active_read_timestamp, None);
}

/// Without commits the watermark still moves with the clock (here
/// explicitly; `begin` does it at most every millisecond), so values
/// expire for new transactions even when nothing is written.
#[test]
fn an_idle_watermark_follows_the_clock_for_expiry() {
    let (fixture, clock) = manual_fixture(2_000_000);
    let mut writer = fixture.manager.begin(Isolation::Serializable);
    writer
        .put_expiring(b"session", bytes("token"), 2_000_100)
        .unwrap();
    writer.commit().unwrap();
    let committed_at = fixture.manager.visible_watermark();
    clock.set_ms(2_000_200);
    let advanced = fixture.manager.advance_watermark().unwrap();
    assert!(advanced > committed_at);
    assert_eq!(advanced.physical_ms(), 2_000_200);
    let reader = fixture.manager.begin(Isolation::Serializable);
    assert!(reader.read_timestamp() >= advanced);
    assert_eq!(reader.get(b"session").unwrap(), None);
    // Nothing was logged for the advance.
    assert_eq!(fixture.log.records().len(), 1);
}

#[test]
fn the_idle_advance_can_be_turned_off() {
    let options = MvccOptions {
        watermark_idle_advance_interval: Duration::MAX,
        ..MvccOptions::default()
    };
    let fixture = fixture_with(MemoryBase::new(), options);
    for _ in 0..3 {
        let transaction = fixture.manager.begin(Isolation::Serializable);
        assert_eq!(transaction.read_timestamp(), keel_tso::Timestamp::ZERO);
    }
    assert!(fixture.manager.advance_watermark().unwrap() > keel_tso::Timestamp::ZERO);
}

/// A transaction past its memory budget spills its writes to an unnamed
/// file in `spill_dir`: it still reads them (point and range), its commit
/// logs and installs one spilled write set, and the fold moves it into the
/// base.
#[test]
fn a_transaction_past_its_memory_budget_spills_and_commits_whole() {
    let dir = tempfile::tempdir().unwrap();
    let options = MvccOptions {
        transaction_memory_bytes_max: 64,
        spill_dir: Some(dir.path().to_path_buf()),
        ..MvccOptions::default()
    };
    let fixture = fixture_with(MemoryBase::new(), options);
    let mut transaction = fixture.manager.begin(Isolation::Serializable);
    for index in 0..200u32 {
        let key = format!("k{index:04}");
        transaction
            .put(key.as_bytes(), bytes(&format!("v{index}")))
            .unwrap();
    }
    // Overwrites and deletes of spilled keys win over the runs.
    transaction.put(b"k0007", bytes("again")).unwrap();
    transaction.delete(b"k0008").unwrap();
    assert_eq!(transaction.get(b"k0007").unwrap(), Some(bytes("again")));
    assert_eq!(transaction.get(b"k0008").unwrap(), None);
    assert_eq!(transaction.get(b"k0150").unwrap(), Some(bytes("v150")));
    let in_range: Vec<_> = transaction
        .range(&b"k0006"[..]..&b"k0010"[..], Direction::Reverse)
        .unwrap()
        .map(|item| item.unwrap().0)
        .collect();
    assert_eq!(
        in_range,
        vec![bytes("k0009"), bytes("k0007"), bytes("k0006")]
    );
    // Unnamed files: nothing shows in the directory.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    transaction.commit().unwrap();
    let LoggedRecord::Commit { writes, .. } = &fixture.log.records()[0] else {
        panic!("expected a commit record");
    };
    assert!(writes.is_spilled());
    assert_eq!(writes.len(), 200);
    assert_eq!(read(&fixture.manager, "k0007").as_deref(), Some("again"));
    assert_eq!(read(&fixture.manager, "k0008"), None);
    assert_eq!(read(&fixture.manager, "k0199").as_deref(), Some("v199"));
    let report = fixture
        .manager
        .fold(fixture.manager.safe_point(), &mut fixture.base.sink())
        .unwrap();
    assert_eq!(report.keys_folded, 200);
    let base = fixture.base.snapshot();
    assert_eq!(base.len(), 199);
    assert_eq!(
        base.get(&bytes("k0007")).map(|entry| entry.value.clone()),
        Some(bytes("again"))
    );
}

#[test]
fn the_age_limit_is_read_from_the_clock_every_64_operations_and_at_commit() {
    let options = MvccOptions {
        transaction_age_max: Duration::from_millis(30),
        ..MvccOptions::default()
    };
    let fixture = fixture_with(MemoryBase::new(), options);
    let mut transaction = fixture.manager.begin(Isolation::Serializable);
    transaction.put(b"a", bytes("1")).unwrap();
    std::thread::sleep(Duration::from_millis(40));
    let failed_at = (0..64).find(|_| transaction.get(b"a").is_err());
    assert!(
        failed_at.is_some(),
        "64 operations read the clock at least once"
    );
    assert!(matches!(
        transaction.get(b"a"),
        Err(Error::TransactionTooOld { .. })
    ));
    assert!(matches!(
        transaction.commit(),
        Err(Error::TransactionTooOld { .. })
    ));

    // A commit reads the clock whatever the operations before it.
    let mut transaction = fixture.manager.begin(Isolation::Serializable);
    transaction.put(b"b", bytes("1")).unwrap();
    std::thread::sleep(Duration::from_millis(40));
    assert!(matches!(
        transaction.commit(),
        Err(Error::TransactionTooOld { .. })
    ));
    assert_eq!(fixture.manager.stats().transactions_too_old, 2);
}

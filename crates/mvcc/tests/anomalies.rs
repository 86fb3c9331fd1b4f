//! The classic isolation anomalies, each as a history that the level must
//! refuse (a commit fails with a conflict, or the read cannot observe the
//! anomaly). Each test fails if the level allows what it must not; the
//! Snapshot variants of write skew and the read-only anomaly check that
//! Snapshot does allow them (so the tests would notice if Serializable
//! validation were accidentally applied everywhere or nowhere).

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use common::{bytes, fixture, get_number, put_all, put_number, read, scan};
use keel_mvcc::{ConflictKind, Direction, Error, Isolation};

const LEVELS: [Isolation; 2] = [Isolation::Serializable, Isolation::Snapshot];

fn conflict_kind(error: Error) -> ConflictKind {
    match error {
        Error::Conflict { kind, .. } => kind,
        other => panic!("expected a conflict, got {other}"),
    }
}

/// G0/G1a: a transaction never sees another's uncommitted (or rolled back)
/// writes.
#[test]
fn dirty_read_is_impossible() {
    for level in LEVELS {
        let fixture = fixture();
        put_all(&fixture.manager, &[("x", "committed")]);
        let mut writer = fixture.manager.begin(level);
        writer.put(b"x", bytes("uncommitted")).unwrap();
        writer.put(b"y", bytes("uncommitted")).unwrap();
        let mut reader = fixture.manager.begin(level);
        assert_eq!(reader.get(b"x").unwrap(), Some(bytes("committed")));
        assert_eq!(reader.get(b"y").unwrap(), None);
        assert_eq!(scan(&mut reader, Direction::Forward).len(), 1);
        writer.rollback();
        assert_eq!(read(&fixture.manager, "x").as_deref(), Some("committed"));
        assert_eq!(read(&fixture.manager, "y"), None);
    }
}

/// P4: two read-modify-write increments of one counter; one must abort.
#[test]
fn lost_update_aborts_one_side() {
    for level in LEVELS {
        let fixture = fixture();
        put_all(&fixture.manager, &[("counter", "10")]);
        let mut first = fixture.manager.begin(level);
        let mut second = fixture.manager.begin(level);
        let a = get_number(&mut first, "counter");
        let b = get_number(&mut second, "counter");
        put_number(&mut first, "counter", a + 1);
        put_number(&mut second, "counter", b + 1);
        first.commit().unwrap();
        let error = second.commit().unwrap_err();
        let expected = match level {
            Isolation::Serializable => ConflictKind::ReadChanged,
            Isolation::Snapshot => ConflictKind::WriteWrite,
        };
        assert_eq!(conflict_kind(error), expected, "{level:?}");
        assert_eq!(read(&fixture.manager, "counter").as_deref(), Some("11"));
    }
}

/// The conflict names the key and both timestamps.
#[test]
fn conflict_names_the_key() {
    let fixture = fixture();
    put_all(&fixture.manager, &[("a", "1"), ("b", "1")]);
    let mut loser = fixture.manager.begin(Isolation::Serializable);
    loser.get(b"a").unwrap();
    loser.get(b"b").unwrap();
    loser.put(b"c", bytes("x")).unwrap();
    put_all(&fixture.manager, &[("b", "2")]);
    match loser.commit().unwrap_err() {
        Error::Conflict {
            key,
            kind,
            read_timestamp,
            conflicting_timestamp,
            ..
        } => {
            assert_eq!(key, bytes("b"));
            assert_eq!(kind, ConflictKind::ReadChanged);
            assert!(conflicting_timestamp.unwrap() > read_timestamp);
        }
        other => panic!("expected a conflict, got {other}"),
    }
    assert_eq!(fixture.manager.stats().conflicts, 1);
}

/// P2/G2-item: a value read twice in one transaction reads the same, even
/// if another transaction commits a change in between.
#[test]
fn non_repeatable_read_is_impossible() {
    for level in LEVELS {
        let fixture = fixture();
        put_all(&fixture.manager, &[("x", "1")]);
        let mut reader = fixture.manager.begin(level);
        assert_eq!(reader.get(b"x").unwrap(), Some(bytes("1")));
        put_all(&fixture.manager, &[("x", "2")]);
        fixture.manager.begin(level).delete(b"x").unwrap();
        assert_eq!(reader.get(b"x").unwrap(), Some(bytes("1")));
        assert_eq!(
            scan(&mut reader, Direction::Forward),
            [("x".to_string(), "1".to_string())]
        );
        // Read-only: commits without validation.
        assert_eq!(reader.commit().unwrap().commit_timestamp, None);
    }
}

/// A5A read skew: x + y = 100 always; a reader between two halves of a
/// transfer must not see a broken sum.
#[test]
fn read_skew_is_impossible() {
    for level in LEVELS {
        let fixture = fixture();
        put_all(&fixture.manager, &[("x", "50"), ("y", "50")]);
        let mut reader = fixture.manager.begin(level);
        let x = get_number(&mut reader, "x");
        let mut transfer = fixture.manager.begin(level);
        let tx = get_number(&mut transfer, "x");
        let ty = get_number(&mut transfer, "y");
        put_number(&mut transfer, "x", tx - 25);
        put_number(&mut transfer, "y", ty + 25);
        transfer.commit().unwrap();
        let y = get_number(&mut reader, "y");
        assert_eq!(x + y, 100, "{level:?}");
    }
}

/// A5B write skew: two doctors on call, each goes off call after checking
/// that the other is on. Serializable aborts one; Snapshot allows both
/// (and so breaks the invariant, which is what Snapshot means).
#[test]
fn write_skew_aborts_under_serializable_only() {
    for level in LEVELS {
        let fixture = fixture();
        put_all(&fixture.manager, &[("alice", "1"), ("bob", "1")]);
        let mut alice = fixture.manager.begin(level);
        let mut bob = fixture.manager.begin(level);
        let on_call_a = get_number(&mut alice, "alice") + get_number(&mut alice, "bob");
        let on_call_b = get_number(&mut bob, "alice") + get_number(&mut bob, "bob");
        assert_eq!((on_call_a, on_call_b), (2, 2));
        put_number(&mut alice, "alice", 0);
        put_number(&mut bob, "bob", 0);
        alice.commit().unwrap();
        let outcome = bob.commit();
        let mut check = fixture.manager.begin(level);
        let on_call = get_number(&mut check, "alice") + get_number(&mut check, "bob");
        match level {
            Isolation::Serializable => {
                assert_eq!(
                    conflict_kind(outcome.unwrap_err()),
                    ConflictKind::ReadChanged
                );
                assert_eq!(on_call, 1);
            }
            Isolation::Snapshot => {
                outcome.unwrap();
                assert_eq!(on_call, 0);
            }
        }
    }
}

/// Write skew over a predicate (a range): each inserts a booking after
/// seeing the range free. Serializable must abort one (a phantom).
#[test]
fn phantom_in_a_scanned_range_aborts_under_serializable() {
    let fixture = fixture();
    put_all(
        &fixture.manager,
        &[("room/0900", "taken"), ("zzz", "other")],
    );
    let mut first = fixture.manager.begin(Isolation::Serializable);
    let mut second = fixture.manager.begin(Isolation::Serializable);
    let bookings = |transaction: &mut keel_mvcc::Transaction| {
        transaction
            .range(
                b"room/1000".as_slice()..b"room/1100".as_slice(),
                Direction::Forward,
            )
            .unwrap()
            .count()
    };
    assert_eq!(bookings(&mut first), 0);
    assert_eq!(bookings(&mut second), 0);
    first.put(b"room/1030", bytes("first")).unwrap();
    second.put(b"room/1045", bytes("second")).unwrap();
    first.commit().unwrap();
    let error = second.commit().unwrap_err();
    assert_eq!(conflict_kind(error), ConflictKind::Phantom);
    let mut check = fixture.manager.begin(Isolation::Serializable);
    assert_eq!(bookings(&mut check), 1);
}

/// The phantom is caught in a reverse scan too, and only inside the part
/// of the range the scan covered: a reverse scan stopped after its first
/// key `f` covered `[f, +inf)`.
#[test]
fn phantom_tracking_covers_exactly_the_scanned_range() {
    for (insert, conflicts) in [("a", false), ("e", false), ("f", true), ("g", true)] {
        let fixture = fixture();
        put_all(&fixture.manager, &[("b", "1"), ("d", "1"), ("f", "1")]);
        let mut scanner = fixture.manager.begin(Isolation::Serializable);
        let first = scanner
            .range::<[u8], _>(.., Direction::Reverse)
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        assert_eq!(first.0, bytes("f"));
        scanner.put(b"other", bytes("1")).unwrap();
        put_all(&fixture.manager, &[(insert, "new")]);
        match scanner.commit() {
            Ok(_) => assert!(!conflicts, "insert of {insert} must conflict"),
            Err(error) => {
                assert!(conflicts, "insert of {insert} must not conflict");
                assert_eq!(conflict_kind(error), ConflictKind::Phantom);
            }
        }
    }
    // Under Snapshot, scans are not tracked: the same history commits.
    let fixture = fixture();
    put_all(&fixture.manager, &[("b", "1")]);
    let mut scanner = fixture.manager.begin(Isolation::Snapshot);
    assert_eq!(scan(&mut scanner, Direction::Forward).len(), 1);
    scanner.put(b"other", bytes("2")).unwrap();
    put_all(&fixture.manager, &[("c", "new")]);
    scanner.commit().unwrap();
}

/// A point read of an absent key conflicts with a later insert of it.
#[test]
fn reading_an_absent_key_conflicts_with_its_insert() {
    let fixture = fixture();
    let mut first = fixture.manager.begin(Isolation::Serializable);
    assert_eq!(first.get(b"k").unwrap(), None);
    first.put(b"marker", bytes("1")).unwrap();
    put_all(&fixture.manager, &[("k", "inserted")]);
    assert_eq!(
        conflict_kind(first.commit().unwrap_err()),
        ConflictKind::ReadChanged
    );
}

/// The read-only anomaly (Fekete, O'Neil, O'Neil 2004): a read-only
/// transaction observes a state no serial order produces. T2 reads x, y;
/// T3 writes y and commits; T1 (read-only) reads x, y; T2 writes x and
/// commits. Serializable aborts T2 (its read of y is stale); Snapshot lets
/// it commit, and the read-only T1 saw T3 without T2 although T2 must
/// precede T3.
#[test]
fn read_only_anomaly_aborts_under_serializable_only() {
    for level in LEVELS {
        let fixture = fixture();
        put_all(&fixture.manager, &[("checking", "0"), ("savings", "0")]);
        let mut withdraw = fixture.manager.begin(level);
        let checking = get_number(&mut withdraw, "checking");
        let savings = get_number(&mut withdraw, "savings");
        let mut deposit = fixture.manager.begin(level);
        let s = get_number(&mut deposit, "savings");
        put_number(&mut deposit, "savings", s + 20);
        deposit.commit().unwrap();
        let mut report = fixture.manager.begin(level);
        let seen = (
            get_number(&mut report, "checking"),
            get_number(&mut report, "savings"),
        );
        assert_eq!(seen, (0, 20));
        report.commit().unwrap();
        // Withdraw 10 with a 1 overdraft fee if the total goes negative.
        let fee = if checking + savings - 10 < 0 { 1 } else { 0 };
        put_number(&mut withdraw, "checking", checking - 10 - fee);
        let outcome = withdraw.commit();
        match level {
            Isolation::Serializable => {
                assert_eq!(
                    conflict_kind(outcome.unwrap_err()),
                    ConflictKind::ReadChanged
                );
            }
            Isolation::Snapshot => {
                outcome.unwrap();
                assert_eq!(read(&fixture.manager, "checking").as_deref(), Some("-11"));
            }
        }
    }
}

/// Dirty write (G0): two blind writers of the same keys; the final state
/// is one of them entirely, never a mix.
#[test]
fn blind_writes_never_interleave() {
    for level in LEVELS {
        let fixture = fixture();
        let mut first = fixture.manager.begin(level);
        let mut second = fixture.manager.begin(level);
        for key in ["x", "y"] {
            first.put(key.as_bytes(), bytes("first")).unwrap();
            second.put(key.as_bytes(), bytes("second")).unwrap();
        }
        first.commit().unwrap();
        let second_committed = second.commit().is_ok();
        let x = read(&fixture.manager, "x").unwrap();
        let y = read(&fixture.manager, "y").unwrap();
        assert_eq!(x, y, "{level:?}");
        // Snapshot: first committer wins; Serializable: blind writes commit
        // in timestamp order.
        assert_eq!(second_committed, level == Isolation::Serializable);
    }
}

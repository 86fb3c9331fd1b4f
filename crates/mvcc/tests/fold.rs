//! Folding and garbage collection: the sink gets each key's newest version
//! at or below the fold point in key order; the safe point never passes a
//! reader; folded versions stay in the delta while a reader that might
//! hold an older base iterator is active (BRIEF invariant 2); a failed
//! sink loses nothing; a full delta makes writers wait for a fold.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::{bytes, fixture, fixture_with, put_all, read, scan, spawn_folder};
use keel_mvcc::testing::MemoryBase;
use keel_mvcc::{
    BaseOperation, BoxError, Change, Direction, Error, FoldSink, Isolation, MvccOptions,
};
use keel_tso::Timestamp;

/// A sink that records what it is given.
#[derive(Default)]
struct RecordingSink {
    applied: Vec<(Bytes, Change)>,
    finished: Vec<Timestamp>,
}

impl FoldSink for RecordingSink {
    fn apply(&mut self, key: &Bytes, change: &Change) -> Result<(), BoxError> {
        self.applied.push((key.clone(), change.clone()));
        Ok(())
    }

    fn finish(&mut self, fold_point: Timestamp) -> Result<(), BoxError> {
        self.finished.push(fold_point);
        Ok(())
    }
}

fn put(value: &str) -> Change {
    Change::Put {
        value: bytes(value),
        expires_at_ms: None,
    }
}

#[test]
fn fold_hands_the_newest_version_per_key_in_key_order() {
    let fixture = fixture();
    put_all(&fixture.manager, &[("c", "1"), ("a", "1")]);
    put_all(&fixture.manager, &[("a", "2"), ("b", "2")]);
    let mut deleter = fixture.manager.begin(Isolation::Serializable);
    deleter.delete(b"c").unwrap();
    deleter.commit().unwrap();
    let safe_point = fixture.manager.safe_point();
    assert_eq!(safe_point, fixture.manager.visible_watermark());
    // A commit after the fold point is not folded.
    let mut sink = RecordingSink::default();
    let report = fixture.manager.fold(safe_point, &mut sink).unwrap();
    assert_eq!(
        sink.applied,
        [
            (bytes("a"), put("2")),
            (bytes("b"), put("2")),
            (bytes("c"), Change::Delete)
        ]
    );
    assert_eq!(sink.finished, [safe_point]);
    assert_eq!(report.keys_folded, 3);
    assert_eq!(report.fold_point, safe_point);
    assert_eq!(fixture.manager.fold_point(), safe_point);
    // No reader was active: every version went at once.
    let stats = fixture.manager.stats();
    assert_eq!(stats.delta_versions, 0);
    assert_eq!(stats.delta_keys, 0);
    assert_eq!(stats.delta_bytes, 0);
    assert_eq!(stats.folds, 1);
    // Folding again at the same point hands over nothing.
    let mut again = RecordingSink::default();
    let report = fixture.manager.fold(safe_point, &mut again).unwrap();
    assert!(again.applied.is_empty());
    assert_eq!(report.keys_folded, 0);
}

#[test]
fn fold_skips_versions_above_the_fold_point_and_already_folded_ones() {
    let fixture = fixture();
    put_all(&fixture.manager, &[("a", "1"), ("b", "1")]);
    let first_point = fixture.manager.visible_watermark();
    put_all(&fixture.manager, &[("b", "2")]);
    let mut sink = RecordingSink::default();
    fixture.manager.fold(first_point, &mut sink).unwrap();
    assert_eq!(
        sink.applied,
        [(bytes("a"), put("1")), (bytes("b"), put("1"))]
    );
    // b's newer version stays; the next fold hands only it over.
    assert_eq!(fixture.manager.stats().delta_versions, 1);
    let mut sink = RecordingSink::default();
    fixture
        .manager
        .fold(fixture.manager.safe_point(), &mut sink)
        .unwrap();
    assert_eq!(sink.applied, [(bytes("b"), put("2"))]);
}

#[test]
fn the_safe_point_never_passes_an_active_reader() {
    let fixture = fixture();
    put_all(&fixture.manager, &[("k", "1")]);
    let reader = fixture.manager.begin(Isolation::Snapshot);
    let read_at = reader.read_timestamp();
    put_all(&fixture.manager, &[("k", "2")]);
    put_all(&fixture.manager, &[("k", "3")]);
    assert_eq!(fixture.manager.safe_point(), read_at);
    let beyond = fixture.manager.visible_watermark();
    assert!(matches!(
        fixture.manager.fold(beyond, &mut fixture.base.sink()),
        Err(Error::SafePointAhead { requested, safe_point }) if requested == beyond && safe_point == read_at
    ));
    fixture
        .manager
        .fold(fixture.manager.safe_point(), &mut fixture.base.sink())
        .unwrap();
    // The reader still reads its snapshot; the newer versions are intact.
    assert_eq!(reader.get(b"k").unwrap(), Some(bytes("1")));
    assert_eq!(read(&fixture.manager, "k").as_deref(), Some("3"));
    drop(reader);
    assert_eq!(fixture.manager.safe_point(), beyond);
    fixture
        .manager
        .fold(beyond, &mut fixture.base.sink())
        .unwrap();
    assert_eq!(fixture.base.snapshot()[&bytes("k")].value, bytes("3"));
    assert_eq!(fixture.manager.stats().delta_versions, 0);
    assert_eq!(read(&fixture.manager, "k").as_deref(), Some("3"));
    assert!(fixture.manager.check().is_ok());
}

/// Invariant 2: a scan that opened its base iterator before a fold (so it
/// reads the older base) still finds every folded version in the delta,
/// because the versions stay until it ends.
#[test]
fn a_scan_across_a_fold_never_falls_through_to_a_stale_base() {
    let fixture = fixture_with(
        MemoryBase::with_entries([(b"a".as_slice(), b"old".as_slice()), (b"c", b"old")]),
        MvccOptions::default(),
    );
    put_all(&fixture.manager, &[("a", "new"), ("b", "new")]);
    let mut deleter = fixture.manager.begin(Isolation::Serializable);
    deleter.delete(b"c").unwrap();
    deleter.commit().unwrap();
    let mut reader = fixture.manager.begin(Isolation::Serializable);
    let expected = vec![
        ("a".to_string(), "new".to_string()),
        ("b".to_string(), "new".to_string()),
    ];
    {
        // The base iterator copies the old base now.
        let mut range = reader.range::<[u8], _>(.., Direction::Forward).unwrap();
        let report = fixture
            .manager
            .fold(fixture.manager.safe_point(), &mut fixture.base.sink())
            .unwrap();
        assert_eq!(report.keys_folded, 3);
        // The reader is active: the folded versions must stay.
        assert_eq!(report.collected.versions, 0);
        assert_eq!(fixture.manager.collect_garbage().versions, 0);
        assert_eq!(fixture.manager.stats().delta_versions, 3);
        let items: Vec<(String, String)> = range
            .by_ref()
            .map(|item| {
                let (key, value) = item.unwrap();
                (
                    String::from_utf8(key.to_vec()).unwrap(),
                    String::from_utf8(value.to_vec()).unwrap(),
                )
            })
            .collect();
        assert_eq!(items, expected);
    }
    // Point reads too, and a new scan over the new base.
    assert_eq!(reader.get(b"c").unwrap(), None);
    assert_eq!(scan(&mut reader, Direction::Reverse).len(), 2);
    drop(reader);
    let collected = fixture.manager.collect_garbage();
    assert_eq!(collected.versions, 3);
    assert_eq!(fixture.manager.stats().delta_keys, 0);
    let mut after = fixture.manager.begin(Isolation::Serializable);
    assert_eq!(scan(&mut after, Direction::Forward), expected);
}

/// A transaction that began after the sink finished reads the new base and
/// does not hold back the collection.
#[test]
fn transactions_beginning_after_a_fold_do_not_extend_its_grace_period() {
    let fixture = fixture();
    put_all(&fixture.manager, &[("a", "1")]);
    let early = fixture.manager.begin(Isolation::Serializable);
    fixture
        .manager
        .fold(fixture.manager.safe_point(), &mut fixture.base.sink())
        .unwrap();
    let late = fixture.manager.begin(Isolation::Serializable);
    assert_eq!(fixture.manager.collect_garbage().versions, 0);
    drop(early);
    assert_eq!(fixture.manager.collect_garbage().versions, 1);
    assert_eq!(late.get(b"a").unwrap(), Some(bytes("1")));
}

/// A committing transaction no longer reads, so it does not hold back a
/// collection that would make room for it.
#[test]
fn a_full_delta_makes_writers_wait_for_a_fold() {
    let options = MvccOptions {
        delta_bytes_max: 1,
        delta_full_wait_max: Duration::from_secs(30),
        ..MvccOptions::default()
    };
    let fixture = Arc::new(fixture_with(MemoryBase::new(), options));
    put_all(&fixture.manager, &[("a", "1")]);
    let mut writer = fixture.manager.begin(Isolation::Serializable);
    writer.put(b"b", bytes("2")).unwrap();
    let folder = {
        let fixture = Arc::clone(&fixture);
        std::thread::spawn(move || {
            // Fold until the waiting writer's commit lands.
            while fixture.manager.stats().commits < 2 {
                let safe_point = fixture.manager.safe_point();
                fixture
                    .manager
                    .fold(safe_point, &mut fixture.base.sink())
                    .unwrap();
                std::thread::yield_now();
            }
        })
    };
    writer.commit().unwrap();
    folder.join().unwrap();
    assert!(fixture.manager.stats().delta_full_waits >= 1);
    assert_eq!(read(&fixture.manager, "b").as_deref(), Some("2"));
    assert_eq!(read(&fixture.manager, "a").as_deref(), Some("1"));
}

/// The delta fills with versions newer than a committer's snapshot: the
/// fold may not pass a registered read timestamp, so a committer that kept
/// its own while waiting would wait for room only it can free (every
/// writer stuck until the wait times out). It validates first and waits
/// with its registration moved to what it validated.
#[test]
fn a_committer_whose_snapshot_predates_a_full_delta_does_not_block_its_fold() {
    let options = MvccOptions {
        delta_bytes_max: 1,
        delta_full_wait_max: Duration::from_secs(10),
        ..MvccOptions::default()
    };
    let fixture = Arc::new(fixture_with(MemoryBase::new(), options));
    let mut writer = fixture.manager.begin(Isolation::Serializable);
    writer.put(b"b", bytes("2")).unwrap();
    // Committed after the writer's snapshot: the delta is now full of
    // versions newer than it.
    put_all(&fixture.manager, &[("a", "1")]);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let folder = spawn_folder(&fixture, &stop);
    let committed = writer.commit();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    folder.join().unwrap();
    committed.unwrap();
    assert!(fixture.manager.stats().delta_full_waits >= 1);
    assert_eq!(read(&fixture.manager, "a").as_deref(), Some("1"));
    assert_eq!(read(&fixture.manager, "b").as_deref(), Some("2"));
}

/// The early validation of a waiting committer still catches what changed
/// under its snapshot: the conflict is reported at once, not after a wait
/// for a fold (none runs here).
#[test]
fn a_waiting_committer_is_still_validated_against_its_snapshot() {
    let options = MvccOptions {
        delta_bytes_max: 1,
        delta_full_wait_max: Duration::from_secs(10),
        ..MvccOptions::default()
    };
    let fixture = fixture_with(MemoryBase::new(), options);
    let mut writer = fixture.manager.begin(Isolation::Serializable);
    assert_eq!(writer.get(b"a").unwrap(), None);
    writer.put(b"b", bytes("2")).unwrap();
    // Changes what the writer read, and fills the delta.
    put_all(&fixture.manager, &[("a", "1")]);
    let started = std::time::Instant::now();
    let committed = writer.commit();
    assert!(
        matches!(committed, Err(ref error) if error.is_conflict()),
        "{committed:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "not after the wait"
    );
    assert_eq!(read(&fixture.manager, "b"), None);
    assert_eq!(read(&fixture.manager, "a").as_deref(), Some("1"));
}

#[test]
fn a_full_delta_without_a_fold_fails_after_the_wait() {
    let options = MvccOptions {
        delta_bytes_max: 1,
        delta_full_wait_max: Duration::ZERO,
        ..MvccOptions::default()
    };
    let fixture = fixture_with(MemoryBase::new(), options);
    put_all(&fixture.manager, &[("a", "1")]);
    let mut writer = fixture.manager.begin(Isolation::Serializable);
    writer.put(b"b", bytes("2")).unwrap();
    assert!(matches!(
        writer.commit(),
        Err(Error::DeltaFull { limit_bytes: 1, .. })
    ));
    assert_eq!(read(&fixture.manager, "b"), None);
}

#[test]
fn a_failed_sink_loses_nothing_and_the_fold_can_be_retried() {
    let fixture = fixture();
    put_all(&fixture.manager, &[("a", "1"), ("b", "1")]);
    put_all(&fixture.manager, &[("a", "2")]);
    let safe_point = fixture.manager.safe_point();
    fixture.base.set_fail_fold_applies(true);
    assert!(matches!(
        fixture.manager.fold(safe_point, &mut fixture.base.sink()),
        Err(Error::Base {
            operation: BaseOperation::FoldApply,
            ..
        })
    ));
    assert_eq!(fixture.manager.fold_point(), Timestamp::ZERO);
    assert_eq!(read(&fixture.manager, "a").as_deref(), Some("2"));
    assert_eq!(read(&fixture.manager, "b").as_deref(), Some("1"));
    fixture.base.set_fail_fold_applies(false);
    let report = fixture
        .manager
        .fold(safe_point, &mut fixture.base.sink())
        .unwrap();
    assert_eq!(report.keys_folded, 2);
    assert_eq!(fixture.base.snapshot()[&bytes("a")].value, bytes("2"));
    assert_eq!(fixture.manager.stats().delta_versions, 0);
}

#[test]
fn conflicts_are_still_detected_after_folds() {
    let fixture = fixture();
    put_all(&fixture.manager, &[("x", "1")]);
    let mut reader = fixture.manager.begin(Isolation::Serializable);
    assert_eq!(reader.get(b"x").unwrap(), Some(bytes("1")));
    reader.put(b"y", bytes("1")).unwrap();
    put_all(&fixture.manager, &[("x", "2")]);
    // The fold cannot pass the reader, so the conflicting version stays.
    fixture
        .manager
        .fold(fixture.manager.safe_point(), &mut fixture.base.sink())
        .unwrap();
    assert!(reader.commit().unwrap_err().is_conflict());
}

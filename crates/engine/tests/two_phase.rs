#![allow(clippy::unwrap_used)] // Tests: a failed step should stop the test loudly.
//! Two-phase commit on one database: prepare, list, commit and abort, by
//! handle and by global id; what a prepared transaction holds (its writes,
//! and its reads — also once restored after a crash, from the read set its
//! prepare record logs); prepared transactions across checkpoints, crashes
//! and clean reopens; the global id's rules; expiry re-checked at prepare.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::options;
use keel::{ConflictKind, Database, Durability, Error, Isolation, Options};
use keel_io::{CrashMode, SimVfs, Vfs};

const DIR: &str = "/db";

fn open_with(vfs: &SimVfs, options: Options) -> Database {
    let shared: Arc<dyn Vfs> = Arc::new(vfs.clone());
    Database::open_with_vfs(shared, Path::new(DIR), options).unwrap()
}

fn open(vfs: &SimVfs) -> Database {
    open_with(vfs, options())
}

/// Cuts the power now and restarts the disk in `mode`.
fn crash(vfs: &SimVfs, db: Database, mode: CrashMode) {
    vfs.set_crash_point(Some(vfs.operations()));
    drop(db);
    vfs.crash(mode);
}

fn get(db: &Database, keyspace: &str, key: &str) -> Option<String> {
    let keyspace = db.keyspace(keyspace).unwrap();
    db.view(|tx| tx.get(&keyspace, key))
        .unwrap()
        .map(|value| String::from_utf8(value.to_vec()).unwrap())
}

/// A snapshot transaction writing `key` (it validates its writes only, so
/// only a prepared transaction's hold can stop it).
fn write(db: &Database, keyspace: &str, key: &str) -> keel::Result<()> {
    let keyspace = db.keyspace(keyspace).unwrap();
    let mut tx = db.begin(Isolation::Snapshot);
    tx.put(&keyspace, key, "writer")?;
    tx.commit()
}

fn held(result: keel::Result<()>, keyspace: &str, key: &str) -> bool {
    matches!(
        result,
        Err(Error::Conflict { keyspace: ref name, key: ref found, kind: ConflictKind::HeldByPrepared { .. } })
            if name == keyspace && found.as_ref() == key.as_bytes()
    )
}

/// Prepares, in "accounts": reads "alice" and scans "m".."p", writes
/// "bob" = 10.
fn prepare_transfer(db: &Database, global_id: &str) -> keel::PreparedTransaction {
    let accounts = db.keyspace("accounts").unwrap();
    let mut tx = db.begin(Isolation::Serializable);
    assert_eq!(
        tx.get(&accounts, "alice").unwrap().as_deref(),
        Some(&b"100"[..])
    );
    assert_eq!(tx.count(&accounts, "m".."p").unwrap(), 1);
    tx.put(&accounts, "bob", "10").unwrap();
    tx.prepare(global_id).unwrap()
}

fn seed_accounts(db: &Database) {
    let accounts = db.keyspace("accounts").unwrap();
    db.update(|tx| {
        tx.put(&accounts, "alice", "100")?;
        tx.put(&accounts, "nina", "5")
    })
    .unwrap();
}

#[test]
fn prepare_list_commit_and_abort() {
    let vfs = SimVfs::new(1);
    let db = open(&vfs);
    seed_accounts(&db);
    let prepared = prepare_transfer(&db, "g1");
    assert_eq!(prepared.global_id(), b"g1");
    let listed = db.prepared();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].global_id.as_ref(), b"g1");
    assert_eq!((listed[0].writes, listed[0].in_use), (1, true));
    assert!(listed[0].prepared_at_ms > 0);
    // Invisible until committed; its writes and reads are held.
    assert_eq!(get(&db, "accounts", "bob"), None);
    for key in ["bob", "alice", "nina", "oscar"] {
        assert!(held(write(&db, "accounts", key), "accounts", key), "{key}");
    }
    write(&db, "accounts", "zed").unwrap();
    write(&db, "other", "bob").unwrap();
    // Decided by global id only once its handle is gone.
    assert!(matches!(
        db.commit_prepared("g1"),
        Err(Error::PreparedInUse { .. })
    ));
    prepared.commit().unwrap();
    assert_eq!(get(&db, "accounts", "bob").as_deref(), Some("10"));
    assert!(db.prepared().is_empty());
    write(&db, "accounts", "alice").unwrap();

    // Abort through the database, by global id, after the handle dropped.
    let accounts = db.keyspace("accounts").unwrap();
    let mut tx = db.begin(Isolation::Serializable);
    tx.put(&accounts, "carol", "1").unwrap();
    drop(tx.prepare("g2").unwrap());
    assert!(!db.prepared()[0].in_use);
    db.abort_prepared("g2").unwrap();
    assert_eq!(get(&db, "accounts", "carol"), None);
    write(&db, "accounts", "carol").unwrap();
    assert!(matches!(
        db.abort_prepared("g2"),
        Err(Error::PreparedNotFound { .. })
    ));
    let stats = db.stats();
    assert_eq!((stats.prepares, stats.prepared), (2, 0));
    assert!(db.check().unwrap().is_empty());
}

#[test]
fn global_ids_are_checked() {
    let vfs = SimVfs::new(2);
    let db = open(&vfs);
    let ks = db.keyspace("k").unwrap();
    let attempt = |global_id: &[u8]| {
        let mut tx = db.begin(Isolation::Serializable);
        tx.put(&ks, global_id, "v").unwrap();
        tx.prepare(global_id)
    };
    assert!(matches!(attempt(b""), Err(Error::InvalidGlobalId { .. })));
    let long = vec![b'x'; keel::GLOBAL_ID_BYTES_MAX + 1];
    let error = attempt(&long).unwrap_err();
    assert!(matches!(error, Error::InvalidGlobalId { .. }), "{error}");
    let longest = vec![b'y'; keel::GLOBAL_ID_BYTES_MAX];
    let first = attempt(&longest).unwrap();
    let error = attempt(&longest).unwrap_err();
    assert!(matches!(error, Error::GlobalIdInUse { .. }), "{error}");
    first.abort().unwrap();
    attempt(&longest).unwrap().commit().unwrap();
    // A read-only transaction does not vote.
    let error = db.begin_read().prepare("ro").unwrap_err();
    assert!(matches!(error, Error::ReadOnly), "{error}");
    assert!(matches!(
        db.commit_prepared("nothing"),
        Err(Error::PreparedNotFound { .. })
    ));
}

/// The heart of the matter: a prepared transaction restored after a crash
/// holds what it read (its read set is in the prepare record), so a
/// writer of a key it read — or of a key in a range it scanned — still
/// fails, and it commits or aborts by its global id.
#[test]
fn a_prepared_transaction_survives_a_crash_with_its_read_set() {
    for mode in CrashMode::ALL {
        for decision in ["commit", "abort"] {
            let vfs = SimVfs::new(3);
            let db = open(&vfs);
            seed_accounts(&db);
            let prepared = prepare_transfer(&db, "transfer-1");
            drop(prepared);
            crash(&vfs, db, mode);

            let db = open(&vfs);
            let context = format!("{mode:?}, {decision}");
            assert_eq!(db.stats().recovery.prepared_restored, 1, "{context}");
            let listed = db.prepared();
            assert_eq!(listed.len(), 1, "{context}");
            assert_eq!(listed[0].global_id.as_ref(), b"transfer-1");
            assert!(!listed[0].in_use);
            assert_eq!(get(&db, "accounts", "bob"), None, "{context}");
            // Read "alice" (a point read), "nina" and "oscar" (in the
            // scanned range), wrote "bob": all held.
            for key in ["alice", "nina", "oscar", "bob"] {
                assert!(
                    held(write(&db, "accounts", key), "accounts", key),
                    "{context}: {key}"
                );
            }
            write(&db, "accounts", "zed").unwrap();
            match decision {
                "commit" => db.commit_prepared("transfer-1").unwrap(),
                _ => db.abort_prepared("transfer-1").unwrap(),
            }
            let expected = (decision == "commit").then(|| "10".to_string());
            assert_eq!(get(&db, "accounts", "bob"), expected, "{context}");
            write(&db, "accounts", "alice").unwrap();
            assert!(db.check().unwrap().is_empty());
            // The decision is durable: a second crash keeps it.
            crash(&vfs, db, mode);
            let db = open(&vfs);
            assert!(db.prepared().is_empty(), "{context}");
            assert_eq!(get(&db, "accounts", "bob"), expected, "{context}");
        }
    }
}

/// A checkpoint does not lose a prepared transaction: the log is kept back
/// to its prepare record, so after checkpoints and a crash it is listed
/// and held again. Nor does it lose the write set of one committed but not
/// folded (its commit record alone does not hold the write set: replay
/// starts at its prepare record).
#[test]
fn a_checkpoint_keeps_prepared_transactions() {
    for mode in CrashMode::ALL {
        for decided_later in [false, true] {
            let context = format!("{mode:?}, decided after the checkpoint: {decided_later}");
            let vfs = SimVfs::new(4);
            let db = open(&vfs);
            seed_accounts(&db);
            let accounts = db.keyspace("accounts").unwrap();
            let prepared = prepare_transfer(&db, "transfer");
            // Later commits, then checkpoints that fold them all and would
            // truncate the log before the prepare record.
            for round in 0..20u32 {
                db.update(|tx| tx.put(&accounts, format!("filler-{round:02}"), "x"))
                    .unwrap();
            }
            db.checkpoint().unwrap();
            db.checkpoint().unwrap();
            if decided_later {
                // A reader older than the commit holds the fold back: the
                // next checkpoint leaves the commit to replay, from its
                // prepare record.
                let pin = db.begin_read();
                prepared.commit().unwrap();
                db.checkpoint().unwrap();
                drop(pin);
            } else {
                drop(prepared);
            }
            crash(&vfs, db, mode);

            let db = open(&vfs);
            assert_eq!(
                get(&db, "accounts", "filler-19").as_deref(),
                Some("x"),
                "{context}"
            );
            if decided_later {
                assert!(db.prepared().is_empty(), "{context}");
                assert_eq!(
                    get(&db, "accounts", "bob").as_deref(),
                    Some("10"),
                    "{context}"
                );
                assert!(db.check().unwrap().is_empty(), "{context}");
                continue;
            }
            let listed: Vec<_> = db
                .prepared()
                .into_iter()
                .map(|info| info.global_id)
                .collect();
            assert_eq!(listed, [&b"transfer"[..]], "{context}");
            assert!(
                held(write(&db, "accounts", "alice"), "accounts", "alice"),
                "{context}"
            );
            // Checkpoints after the restore keep it too; a clean close and
            // reopen as well.
            db.checkpoint().unwrap();
            crash(&vfs, db, mode);
            let db = open(&vfs);
            db.checkpoint().unwrap();
            db.close().unwrap();
            let db = open(&vfs);
            assert_eq!(db.prepared().len(), 1, "{context}");
            assert!(
                held(write(&db, "accounts", "nina"), "accounts", "nina"),
                "{context}"
            );
            db.commit_prepared("transfer").unwrap();
            db.checkpoint().unwrap();
            crash(&vfs, db, mode);
            let db = open(&vfs);
            assert!(db.prepared().is_empty(), "{context}");
            assert_eq!(
                get(&db, "accounts", "bob").as_deref(),
                Some("10"),
                "{context}"
            );
            assert!(db.check().unwrap().is_empty(), "{context}");
        }
    }
}

/// A prepare is synced even where commits are not: the vote must survive.
#[test]
fn a_prepare_is_durable_in_a_database_that_does_not_sync() {
    let unsynced = Options {
        durability: Durability::None,
        ..options()
    };
    let vfs = SimVfs::new(5);
    let db = open_with(&vfs, unsynced.clone());
    let ks = db.keyspace("k").unwrap();
    let mut tx = db.begin(Isolation::Serializable);
    tx.put(&ks, "key", "value").unwrap();
    drop(tx.prepare("vote").unwrap());
    crash(&vfs, db, CrashMode::LoseUnsynced);
    let db = open_with(&vfs, unsynced.clone());
    assert_eq!(db.prepared().len(), 1);
    db.commit_prepared("vote").unwrap();
    crash(&vfs, db, CrashMode::LoseUnsynced);
    let db = open_with(&vfs, unsynced);
    assert!(db.prepared().is_empty());
    assert_eq!(get(&db, "k", "key").as_deref(), Some("value"));
}

/// Conflicts and expiry are checked again at prepare: a key read and then
/// written by another commit, or a value read that has since expired,
/// refuses the vote (nothing is prepared).
#[test]
fn prepare_validates_conflicts_and_expiry() {
    let vfs = SimVfs::new(6);
    let db = open(&vfs);
    let ks = db.keyspace("k").unwrap();
    db.update(|tx| tx.put(&ks, "read", "0")).unwrap();
    let mut tx = db.begin(Isolation::Serializable);
    tx.get(&ks, "read").unwrap();
    tx.put(&ks, "written", "1").unwrap();
    db.update(|tx| tx.put(&ks, "read", "changed")).unwrap();
    let error = tx.prepare("conflicted").unwrap_err();
    assert!(
        matches!(
            error,
            Error::Conflict {
                kind: ConflictKind::ReadChanged,
                ..
            }
        ),
        "{error}"
    );
    // A value that expires between the read and the prepare.
    let soon = db.begin_read().read_time_ms() + 30;
    db.update(|tx| tx.put_expiring_at(&ks, "session", "token", soon))
        .unwrap();
    let mut tx = db.begin(Isolation::Serializable);
    assert!(tx.get(&ks, "session").unwrap().is_some());
    tx.put(&ks, "written", "2").unwrap();
    while db.begin_read().read_time_ms() < soon + 5 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let error = tx.prepare("expired").unwrap_err();
    assert!(
        matches!(error, Error::Conflict { kind: ConflictKind::ReadExpired, ref key, .. } if key.as_ref() == b"session"),
        "{error}"
    );
    assert!(db.prepared().is_empty());
}

/// A serializable prepare over a key (or a range) that a transaction
/// already prepared writes is refused: the prepared one may commit first,
/// above what the preparer read, and the preparer's commit is not
/// validated again — also after a crash restores the prepared writer.
#[test]
fn a_prepare_over_what_a_prepared_transaction_writes_is_refused() {
    let vfs = SimVfs::new(8);
    let db = open(&vfs);
    seed_accounts(&db);
    let writer = prepare_transfer(&db, "writer");
    drop(writer);
    crash(&vfs, db, CrashMode::LoseUnsynced);
    let db = open(&vfs);
    assert_eq!(db.prepared().len(), 1, "restored");
    let accounts = db.keyspace("accounts").unwrap();
    let mut by_key = db.begin(Isolation::Serializable);
    assert_eq!(by_key.get(&accounts, "bob").unwrap(), None);
    by_key.put(&accounts, "carol", "saw no bob").unwrap();
    assert!(held(by_key.prepare("by key").map(drop), "accounts", "bob"));
    let mut by_range = db.begin(Isolation::Serializable);
    assert_eq!(by_range.count(&accounts, "b".."c").unwrap(), 0);
    by_range.put(&accounts, "carol", "saw no b").unwrap();
    assert!(held(
        by_range.prepare("by range").map(drop),
        "accounts",
        "bob"
    ));
    // A plain commit over the same read goes first, as it may.
    let mut plain = db.begin(Isolation::Serializable);
    assert_eq!(plain.get(&accounts, "bob").unwrap(), None);
    plain.put(&accounts, "dave", "before the writer").unwrap();
    plain.commit().unwrap();
    db.commit_prepared("writer").unwrap();
    assert_eq!(get(&db, "accounts", "bob").as_deref(), Some("10"));
    assert!(db.prepared().is_empty());
}

/// A keyspace dropped while a prepared transaction holds keys of it (and
/// writes to it): the drop succeeds at once, leaving the keys it cannot
/// remove to the orphan sweep of a later open; the transaction may still
/// commit, also after a crash (its writes to the dropped keyspace vanish,
/// as any late write's), and no check finds anything amiss.
#[test]
fn a_keyspace_dropped_under_a_prepared_transaction() {
    let vfs = SimVfs::new(7);
    let db = open(&vfs);
    let doomed = db.keyspace("doomed").unwrap();
    let kept = db.keyspace("kept").unwrap();
    db.update(|tx| {
        for index in 0..10u32 {
            tx.put(&doomed, index.to_be_bytes(), "old")?;
        }
        Ok(())
    })
    .unwrap();
    db.checkpoint().unwrap(); // the old keys are in the B+tree
    let mut tx = db.begin(Isolation::Serializable);
    assert_eq!(tx.count(&doomed, ..).unwrap(), 10);
    tx.put(&doomed, "new", "value").unwrap();
    tx.put(&kept, "also", "value").unwrap();
    drop(tx.prepare("holder").unwrap());
    db.drop_keyspace("doomed").unwrap();
    assert!(!db.keyspaces().contains(&"doomed".to_string()));
    db.checkpoint().unwrap();
    assert!(db.check().unwrap().is_empty(), "{:?}", db.check());
    crash(&vfs, db, CrashMode::LoseUnsynced);

    let db = open(&vfs);
    assert_eq!(db.prepared().len(), 1);
    db.checkpoint().unwrap();
    assert_eq!(db.stats().orphans_removed, 10, "the old keys are swept");
    assert!(db.check().unwrap().is_empty(), "{:?}", db.check());
    db.commit_prepared("holder").unwrap();
    assert_eq!(get(&db, "kept", "also").as_deref(), Some("value"));
    db.checkpoint().unwrap();
    assert!(db.check().unwrap().is_empty(), "{:?}", db.check());
    db.close().unwrap();
    let db = open(&vfs);
    db.checkpoint().unwrap();
    assert_eq!(db.stats().orphans_removed, 0);
    assert!(db.check().unwrap().is_empty(), "{:?}", db.check());
    assert!(!db.keyspaces().contains(&"doomed".to_string()));
    assert_eq!(get(&db, "kept", "also").as_deref(), Some("value"));
}

/// Found by the simulator: a checkpoint keeps the log back to an undecided
/// prepare record, so replay may start between another transaction's
/// prepare record and its commit record — a commit the base already holds.
/// Recovery skips it (its write set is folded) rather than call the log
/// damaged.
#[test]
fn replay_may_start_between_a_folded_prepare_and_its_commit() {
    for mode in CrashMode::ALL {
        let vfs = SimVfs::new(8);
        let db = open(&vfs);
        let ks = db.keyspace("k").unwrap();
        let prepare = |key: &str, global_id: &str| {
            let mut tx = db.begin(Isolation::Serializable);
            tx.put(&ks, key, "value").unwrap();
            tx.prepare(global_id).unwrap()
        };
        let first = prepare("first", "first");
        let second = prepare("second", "second");
        first.commit().unwrap();
        drop(second);
        // Folds the first's commit; replay starts at the second's prepare,
        // after the first's, before the first's commit record.
        db.checkpoint().unwrap();
        crash(&vfs, db, mode);
        let db = open(&vfs);
        assert_eq!(get(&db, "k", "first").as_deref(), Some("value"), "{mode:?}");
        let listed: Vec<_> = db
            .prepared()
            .into_iter()
            .map(|info| info.global_id)
            .collect();
        assert_eq!(listed, [&b"second"[..]], "{mode:?}");
        db.commit_prepared("second").unwrap();
        assert_eq!(
            get(&db, "k", "second").as_deref(),
            Some("value"),
            "{mode:?}"
        );
        assert!(db.check().unwrap().is_empty());
    }
}

/// Found by the simulator (a model bug, not the engine's): a transaction
/// writes to keyspace "gamma", "gamma" is dropped, the transaction prepares
/// and "gamma" is created again, in a database that does not sync commits.
/// The synced prepare record makes the drop before it durable, so after a
/// crash "gamma" is never the creation the transaction wrote to; once the
/// transaction commits, its write under the dropped creation shows nowhere
/// (also after a checkpoint folds it and another crash), and its other
/// writes all stay.
#[test]
fn a_prepared_write_into_a_dropped_and_recreated_keyspace_stays_invisible() {
    let unsynced = Options {
        durability: Durability::None,
        ..options()
    };
    for mode in CrashMode::ALL {
        let vfs = SimVfs::new(9);
        let db = open_with(&vfs, unsynced.clone());
        let gamma = db.keyspace("gamma").unwrap();
        let kept = db.keyspace("kept").unwrap();
        db.checkpoint().unwrap();
        let mut tx = db.begin(Isolation::Snapshot);
        tx.put(&gamma, "k040", "prepared").unwrap();
        db.drop_keyspace("gamma").unwrap();
        tx.put(&kept, "k001", "prepared").unwrap();
        drop(tx.prepare("t1388").unwrap());
        db.keyspace("gamma").unwrap();
        crash(&vfs, db, mode);

        let db = open_with(&vfs, unsynced.clone());
        assert_eq!(db.prepared().len(), 1, "{mode:?}");
        if db.keyspaces().contains(&"gamma".to_string()) {
            assert_eq!(get(&db, "gamma", "k040"), None, "{mode:?}");
        }
        db.keyspace("gamma").unwrap();
        db.commit_prepared("t1388").unwrap();
        assert_eq!(get(&db, "gamma", "k040"), None, "{mode:?}");
        assert_eq!(
            get(&db, "kept", "k001").as_deref(),
            Some("prepared"),
            "{mode:?}"
        );
        db.checkpoint().unwrap();
        crash(&vfs, db, mode);

        let db = open_with(&vfs, unsynced.clone());
        assert!(db.prepared().is_empty(), "{mode:?}");
        assert_eq!(get(&db, "gamma", "k040"), None, "{mode:?}");
        assert_eq!(
            get(&db, "kept", "k001").as_deref(),
            Some("prepared"),
            "{mode:?}"
        );
        assert!(db.check().unwrap().is_empty(), "{mode:?}: {:?}", db.check());
    }
}

#![allow(clippy::unwrap_used)] // Tests: a failed step should stop the test loudly.
//! Crash tests on the simulated disk, the centre of keel's durability
//! claim. A workload of transactions (puts, deletes, expiring puts, in two
//! keyspaces) with `Sync` durability and checkpoints between rounds is cut
//! at every mutating I/O operation and crashed in every SimVfs crash mode.
//! Reopened, the database must hold every acknowledged commit and nothing
//! else — except that the one commit in flight at the crash may be there
//! or not, whole — pass `check()`, keep working, and give the same state
//! again after a second crash during its recovery.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{Model, contents, options, workload};
use keel::Database;
use keel_io::{CrashMode, SimVfs, Vfs};

const DIR: &str = "/db";

fn open(vfs: &SimVfs) -> keel::Result<Database> {
    let shared: Arc<dyn Vfs> = Arc::new(vfs.clone());
    Database::open_with_vfs(shared, Path::new(DIR), options())
}

fn verify(vfs: &SimVfs, acknowledged: &Model, in_flight: Option<&Model>, context: &str) -> Model {
    let db = open(vfs).unwrap_or_else(|error| panic!("{context}: reopen failed: {error}"));
    let found = contents(&db);
    let matches = found == *acknowledged || in_flight.is_some_and(|model| found == *model);
    assert!(
        matches,
        "{context}: recovered {} keys, acknowledged {} (in flight: {:?})",
        found.len(),
        acknowledged.len(),
        in_flight.map(|model| model.len())
    );
    let problems = db.check().unwrap();
    assert!(problems.is_empty(), "{context}: {problems:?}");
    drop(db);
    found
}

fn crash_everywhere(seed: u64) -> u64 {
    let clean = SimVfs::new(seed);
    let outcome = workload(&|| open(&clean), seed);
    assert!(outcome.completed, "the workload runs clean");
    let operations = clean.operations();
    assert!(
        operations > 100,
        "only {operations} operations: too little to test"
    );
    let mut images = 0;
    for crash_point in 0..=operations {
        for mode in CrashMode::ALL {
            let vfs = SimVfs::new(seed);
            vfs.set_crash_point(Some(crash_point));
            let outcome = workload(&|| open(&vfs), seed);
            vfs.crash(mode);
            let context = format!("seed {seed}, crash at {crash_point} of {operations}, {mode:?}");
            let recovered = verify(
                &vfs,
                &outcome.acknowledged,
                outcome.in_flight.as_ref(),
                &context,
            );
            images += 1;
            // A second crash, part way through the next recovery, changes
            // nothing.
            if crash_point % 5 == 0 {
                let before = vfs.operations();
                vfs.set_crash_point(Some(before + crash_point % 17));
                drop(open(&vfs));
                vfs.crash(mode);
                let again = verify(
                    &vfs,
                    &recovered,
                    None,
                    &format!("{context}, crashed again in recovery"),
                );
                assert!(again == recovered);
                images += 1;
            }
        }
    }
    images
}

#[test]
fn a_crash_at_every_operation_keeps_every_acknowledged_commit() {
    let mut images = 0;
    for seed in [1, 2] {
        images += crash_everywhere(seed);
    }
    eprintln!("engine crash images checked: {images}");
    assert!(images > 500);
}

#[test]
fn a_sync_commit_survives_a_crash_in_a_database_that_does_not_sync() {
    for mode in CrashMode::ALL {
        let vfs = SimVfs::new(9);
        let shared: Arc<dyn Vfs> = Arc::new(vfs.clone());
        let unsynced = keel::Options {
            durability: keel::Durability::None,
            ..options()
        };
        let db = Database::open_with_vfs(shared.clone(), Path::new(DIR), unsynced.clone()).unwrap();
        let ks = db.default_keyspace();
        for index in 0..10u32 {
            db.update(|tx| tx.put(&ks, &index.to_be_bytes(), "fast"))
                .unwrap();
        }
        let mut tx = db.begin(keel::Isolation::Serializable);
        tx.put(&ks, b"important", "durable").unwrap();
        tx.set_durability(keel::Durability::Sync);
        tx.commit().unwrap();
        // Cut the power before anything else is written.
        vfs.set_crash_point(Some(vfs.operations()));
        drop(db);
        vfs.crash(mode);
        let db = Database::open_with_vfs(shared, Path::new(DIR), unsynced).unwrap();
        let ks = db.default_keyspace();
        assert_eq!(
            db.view(|tx| tx.get(&ks, b"important")).unwrap().as_deref(),
            Some(&b"durable"[..]),
            "{mode:?}"
        );
        // The earlier unsynced commits precede it in the log: the sync made them durable too.
        for index in 0..10u32 {
            assert!(
                db.view(|tx| tx.get(&ks, &index.to_be_bytes()))
                    .unwrap()
                    .is_some(),
                "{mode:?}"
            );
        }
    }
}

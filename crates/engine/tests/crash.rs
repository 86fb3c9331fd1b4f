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

fn verify<'a>(vfs: &SimVfs, mut allowed: impl Iterator<Item = &'a Model>, context: &str) -> Model {
    let db = open(vfs).unwrap_or_else(|error| panic!("{context}: reopen failed: {error}"));
    let found = contents(&db);
    assert!(
        allowed.any(|model| *model == found),
        "{context}: recovered {} keys, a state no acknowledged prefix of the commits gives",
        found.len(),
    );
    let problems = db.check().unwrap();
    assert!(problems.is_empty(), "{context}: {problems:?}");
    drop(db);
    found
}

fn crash_everywhere(seed: u64, mixed_durability: bool) -> u64 {
    let clean = SimVfs::new(seed);
    let outcome = workload(&|| open(&clean), seed, mixed_durability);
    assert!(outcome.completed, "the workload runs clean");
    let operations = clean.operations();
    assert!(
        operations > 50,
        "only {operations} operations: too little to test"
    );
    let mut images = 0;
    for crash_point in 0..=operations {
        for mode in CrashMode::ALL {
            let vfs = SimVfs::new(seed);
            vfs.set_crash_point(Some(crash_point));
            let outcome = workload(&|| open(&vfs), seed, mixed_durability);
            vfs.crash(mode);
            let context = format!("seed {seed}, crash at {crash_point} of {operations}, {mode:?}");
            let recovered = verify(&vfs, outcome.allowed(), &context);
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
                    std::iter::once(&recovered),
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
    // Every commit Sync; then mixed Sync and None commits, where recovery
    // may lose the unsynced tail but never a commit before a synced one.
    images += crash_everywhere(1, false);
    images += crash_everywhere(2, true);
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

/// Concurrent writers, each on its own keys, committing with `Sync`
/// (group commit shares their fsyncs) while checkpoints run; the disk dies
/// at a random operation. Every thread's acknowledged commits survive, and
/// each thread's keys show a prefix of its commits (the one in flight may
/// be there or not).
#[test]
fn concurrent_commits_survive_crashes_at_random_points() {
    use rand::{Rng, SeedableRng};
    const THREADS: usize = 3;
    const COMMITS: u32 = 25;
    let mut rng = rand::rngs::SmallRng::seed_from_u64(77);
    let mut images = 0;
    for round in 0..24u64 {
        let vfs = SimVfs::new(round);
        let crash_point = rng.random_range(20..400);
        vfs.set_crash_point(Some(crash_point));
        let acknowledged: Vec<u32> = match open(&vfs) {
            Err(_) => vec![0; THREADS],
            Ok(db) => {
                let ks = db.default_keyspace();
                let counts: Vec<u32> = std::thread::scope(|scope| {
                    let workers: Vec<_> = (0..THREADS)
                        .map(|thread| {
                            let (db, ks) = (&db, &ks);
                            scope.spawn(move || {
                                let mut done = 0;
                                for commit in 0..COMMITS {
                                    let key = format!("t{thread}-{commit:03}");
                                    if db.update(|tx| tx.put(ks, key.as_bytes(), "v")).is_err() {
                                        break;
                                    }
                                    done += 1;
                                    if thread == 0 && commit % 10 == 9 && db.checkpoint().is_err() {
                                        break;
                                    }
                                }
                                done
                            })
                        })
                        .collect();
                    workers
                        .into_iter()
                        .map(|worker| worker.join().unwrap())
                        .collect()
                });
                drop(db);
                counts
            }
        };
        {
            let mode = CrashMode::ALL[round as usize % CrashMode::ALL.len()];
            vfs.crash(mode);
            let db = open(&vfs).unwrap_or_else(|error| panic!("round {round}, {mode:?}: {error}"));
            let ks = db.default_keyspace();
            for (thread, &done) in acknowledged.iter().enumerate() {
                let present: Vec<bool> = (0..COMMITS)
                    .map(|commit| {
                        let key = format!("t{thread}-{commit:03}");
                        db.view(|tx| tx.get(&ks, key.as_bytes())).unwrap().is_some()
                    })
                    .collect();
                let survived = present.iter().take_while(|present| **present).count() as u32;
                assert!(
                    survived >= done,
                    "round {round} {mode:?}: thread {thread} acknowledged {done}, {survived} survived"
                );
                assert!(
                    survived <= done + 1,
                    "round {round} {mode:?}: thread {thread}: more than the one in flight appeared"
                );
                assert!(
                    present[survived as usize..].iter().all(|present| !present),
                    "round {round} {mode:?}: a gap in thread {thread}'s commits"
                );
            }
            assert!(db.check().unwrap().is_empty());
            drop(db);
            images += 1;
        }
    }
    eprintln!("concurrent crash images checked: {images}");
    assert_eq!(images, 24);
}

#[test]
fn a_periodic_commit_is_synced_by_the_background_flush_in_a_database_that_does_not_sync() {
    let vfs = SimVfs::new(10);
    let shared: Arc<dyn Vfs> = Arc::new(vfs.clone());
    let unsynced = keel::Options {
        durability: keel::Durability::None,
        sync_interval: std::time::Duration::from_millis(5),
        ..options()
    };
    let db = Database::open_with_vfs(shared.clone(), Path::new(DIR), unsynced.clone()).unwrap();
    let ks = db.default_keyspace();
    let fsyncs = db.stats().log_fsyncs;
    let mut tx = db.begin(keel::Isolation::Serializable);
    tx.put(&ks, b"periodic", "synced soon").unwrap();
    tx.set_durability(keel::Durability::Periodic);
    tx.commit().unwrap();
    // The log's periodic flush syncs it within an interval or so.
    let started = std::time::Instant::now();
    while db.stats().log_fsyncs == fsyncs {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "no periodic sync"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    vfs.set_crash_point(Some(vfs.operations()));
    drop(db);
    vfs.crash(CrashMode::LoseUnsynced);
    let db = Database::open_with_vfs(shared, Path::new(DIR), unsynced).unwrap();
    let ks = db.default_keyspace();
    assert_eq!(
        db.view(|tx| tx.get(&ks, b"periodic")).unwrap().as_deref(),
        Some(&b"synced soon"[..])
    );
}

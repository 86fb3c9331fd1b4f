#![allow(clippy::unwrap_used)] // Tests: a failed step should stop the test loudly.
//! Crash tests on the simulated disk, the centre of keel's durability
//! claim. A workload of transactions (puts, deletes, expiring puts, in two
//! keyspaces) with `Sync` durability and checkpoints between rounds is cut
//! at every mutating I/O operation and crashed in every SimVfs crash mode.
//! Reopened, the database must hold every acknowledged commit and nothing
//! else — except that the one commit in flight at the crash may be there
//! or not, whole — pass `check()`, keep working, and give the same state
//! again after a second crash during its recovery. Concurrent committers
//! (their I/O order varies) are crashed at sampled points; a long run
//! samples more, on more disk seeds: `KEEL_CRASH_CONCURRENT_POINTS=500
//! KEEL_CRASH_CONCURRENT_SEEDS=50 cargo test --release -p keel --test crash
//! -- concurrent sync_commits`.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{Model, contents, options, workload};

use keel::{Database, Durability, UpdateOptions};
use keel_io::{CrashImage, CrashMode, CrashPoints, CrashSweep, SimVfs, Vfs};

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
    // What a full recovery found from the last image crashed once: the
    // same image crashed again part way through recovery comes right after
    // it, and must recover to the same state.
    let mut recovered: Option<(CrashImage, Model)> = None;
    let report = CrashSweep::new(seed, |vfs: &SimVfs| {
        workload(&|| open(vfs), seed, mixed_durability)
    })
    .modes(&CrashMode::ALL)
    .points(CrashPoints::Every)
    .crash_during_recovery(6, 16, |vfs| drop(open(vfs)))
    .run(|vfs, outcome, image| {
        let context = image.to_string();
        let found = verify(vfs, outcome.allowed(), &context);
        let first = CrashImage {
            recovery_point: None,
            ..*image
        };
        if image.recovery_point.is_none() {
            recovered = Some((first, found));
        } else if let Some((_, before)) = recovered.as_ref().filter(|(seen, _)| *seen == first)
            && *before != found
        {
            return Err(format!(
                "{context}: recovered {} keys, {} without the crash in recovery",
                found.len(),
                before.len()
            ));
        }
        Ok(())
    });
    assert!(report.is_clean(), "{report}");
    assert!(
        report.operations > 50,
        "only {} operations: too little to test",
        report.operations
    );
    println!(
        "engine crash sweep, seed {seed}: {} crash images",
        report.images
    );
    report.images
}

#[test]
fn a_crash_at_every_operation_keeps_every_acknowledged_commit() {
    let mut images = 0;
    // Every commit Sync; then mixed Sync and None commits, where recovery
    // may lose the unsynced tail but never a commit before a synced one.
    images += crash_everywhere(1, false);
    images += crash_everywhere(2, true);
    println!("engine crash images checked: {images}");
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
            db.update(|tx| tx.put(&ks, index.to_be_bytes(), "fast"))
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
                db.view(|tx| tx.get(&ks, index.to_be_bytes()))
                    .unwrap()
                    .is_some(),
                "{mode:?}"
            );
        }
    }
}

const THREADS: usize = 3;
const COMMITS: u32 = 25;

/// Concurrent writers, each on its own keys, committing with `Sync`
/// (group commit shares their fsyncs) while thread 0 checkpoints; returns
/// how many commits each thread had acknowledged. With `unsynced`, that
/// thread commits with `Durability::None`: its commits join the same
/// combined batches as the others' and must not excuse them their sync.
fn concurrent_workload(vfs: &SimVfs, unsynced: Option<usize>) -> Vec<u32> {
    let Ok(db) = open(vfs) else {
        return vec![0; THREADS];
    };
    let ks = db.default_keyspace();
    let counts: Vec<u32> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..THREADS)
            .map(|thread| {
                let (db, ks) = (&db, &ks);
                scope.spawn(move || {
                    let mut done = 0;
                    for commit in 0..COMMITS {
                        let key = format!("t{thread}-{commit:03}");
                        let durability = if unsynced == Some(thread) {
                            Durability::None
                        } else {
                            Durability::Sync
                        };
                        let options = UpdateOptions {
                            durability: Some(durability),
                            ..UpdateOptions::default()
                        };
                        let put = |tx: &mut keel::Transaction| tx.put(ks, key.as_bytes(), "v");
                        if db.update_with(&options, put).is_err() {
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

/// Every thread's acknowledged commits survive (but those of the
/// `unsynced` thread, which asked no sync), and each thread's keys show a
/// prefix of its commits (the one in flight may be there or not).
fn check_concurrent(
    vfs: &SimVfs,
    acknowledged: &[u32],
    unsynced: Option<usize>,
    context: &str,
) -> Result<(), String> {
    let db = open(vfs).map_err(|error| format!("{context}: {error}"))?;
    let ks = db.default_keyspace();
    for (thread, &done) in acknowledged.iter().enumerate() {
        let present: Vec<bool> = (0..COMMITS)
            .map(|commit| {
                let key = format!("t{thread}-{commit:03}");
                db.view(|tx| tx.get(&ks, key.as_bytes())).unwrap().is_some()
            })
            .collect();
        let survived = present.iter().take_while(|present| **present).count() as u32;
        if survived < done && unsynced != Some(thread) {
            let missing: Vec<u32> = (0..done).filter(|&c| !present[c as usize]).collect();
            return Err(format!(
                "{context}: thread {thread} acknowledged {done}, {survived} survived; missing {missing:?}; recovery {:?}; check {:?}",
                db.stats().recovery,
                db.check()
            ));
        }
        if survived > done + 1 {
            return Err(format!(
                "{context}: thread {thread}: more than the one in flight appeared"
            ));
        }
        if present[survived as usize..].iter().any(|present| *present) {
            return Err(format!("{context}: a gap in thread {thread}'s commits"));
        }
    }
    let problems = db.check().unwrap();
    if !problems.is_empty() {
        return Err(format!("{context}: {problems:?}"));
    }
    Ok(())
}

/// The threads' I/O order varies between runs (who leads a group commit
/// depends on the scheduler), so these sweeps are declared
/// `io_order_varies`: a crash point is a count of operations, not a fixed
/// operation, and a failure may not replay exactly. One sweep per crash
/// mode, each on its own disk seed, at a few sampled points; a long run
/// takes more seeds (`KEEL_CRASH_CONCURRENT_SEEDS` rounds of the modes).
fn concurrent_sweeps(unsynced: Option<usize>, points_per_mode: usize, first_seed: u64) -> u64 {
    let rounds = env_number("KEEL_CRASH_CONCURRENT_SEEDS", 1).max(1) as u64;
    let modes = (0..rounds).flat_map(|_| CrashMode::ALL);
    let mut images = 0;
    for (seed, mode) in (first_seed * rounds..).zip(modes) {
        let report = CrashSweep::new(seed, |vfs: &SimVfs| concurrent_workload(vfs, unsynced))
            .io_order_varies()
            .modes(&[mode])
            .points(CrashPoints::Sample(points_per_mode))
            .run(|vfs, acknowledged, image| {
                check_concurrent(vfs, acknowledged, unsynced, &image.to_string())
            });
        assert!(report.is_clean(), "{report}");
        let sampled = (points_per_mode as u64).min(report.operations + 1);
        assert_eq!(report.images, sampled, "every sampled point crashed once");
        images += report.images;
    }
    images
}

/// The number the environment variable `name` gives (a long run), else
/// `default`.
fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

/// Sampled crash points per mode of the concurrent sweeps: `default`, or
/// `KEEL_CRASH_CONCURRENT_POINTS` for a long run.
fn points_per_mode(default: usize) -> usize {
    env_number("KEEL_CRASH_CONCURRENT_POINTS", default)
}

#[test]
fn concurrent_commits_survive_crashes_at_random_points() {
    let points = points_per_mode(6);
    let images = concurrent_sweeps(None, points, 0);
    println!("concurrent crash sweeps: {images} crash images");
}

/// A `Sync` commit that another thread's combined batch ran beside an
/// unsynced commit (sequenced after it: the batch's last) was once
/// acknowledged on the unsynced commit's wait, which waits for nothing.
#[test]
fn sync_commits_batched_with_unsynced_ones_survive_crashes() {
    let points = points_per_mode(12);
    let images = concurrent_sweeps(Some(1), points, 100);
    println!("mixed-durability crash sweeps: {images} crash images");
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

/// A checkpoint taken while commits are being logged never puts its replay
/// start past a commit it did not fold. A commit used to note itself for
/// replay only after its log append: a checkpoint in between found nothing
/// pending, started replay at the log's end, and folded nothing of the
/// commit (still in flight), so a crash right after that checkpoint lost an
/// acknowledged commit (the concurrent sweep above saw it about once in a
/// hundred runs). Here each round crashes right after its last checkpoint,
/// while three writers keep committing.
#[test]
fn a_checkpoint_racing_commits_never_skips_an_unfolded_commit() {
    use std::sync::atomic::{AtomicBool, Ordering};
    const ROUNDS: u64 = 60;
    for round in 0..ROUNDS {
        let vfs = SimVfs::new(round);
        let db = open(&vfs).unwrap();
        let ks = db.default_keyspace();
        let crashed = AtomicBool::new(false);
        let acknowledged: Vec<u32> = std::thread::scope(|scope| {
            let writers: Vec<_> = (0..THREADS)
                .map(|thread| {
                    let (db, ks, crashed) = (&db, &ks, &crashed);
                    scope.spawn(move || {
                        let mut done = 0;
                        while !crashed.load(Ordering::Acquire) && done < 1_000 {
                            let key = format!("t{thread}-{done:04}");
                            if db.update(|tx| tx.put(ks, key.as_bytes(), "v")).is_err() {
                                break;
                            }
                            done += 1;
                        }
                        done
                    })
                })
                .collect();
            for _ in 0..=(round % 7) {
                db.checkpoint().unwrap();
            }
            // Crash right after the checkpoint: every commit acknowledged
            // from here on is the replay's to find (or the base's).
            vfs.set_crash_point(Some(vfs.operations()));
            crashed.store(true, Ordering::Release);
            writers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        drop(db);
        vfs.crash(CrashMode::ProcessKill);
        let db = open(&vfs).unwrap();
        let ks = db.default_keyspace();
        for (thread, &done) in acknowledged.iter().enumerate() {
            for commit in 0..done {
                let key = format!("t{thread}-{commit:04}");
                assert!(
                    db.view(|tx| tx.get(&ks, key.as_bytes())).unwrap().is_some(),
                    "round {round}: thread {thread}'s acknowledged commit {commit} of {done} was lost"
                );
            }
        }
    }
}

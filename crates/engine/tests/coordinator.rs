#![allow(clippy::unwrap_used)] // Tests: a failed step should stop the test loudly.
//! The coordinator without crashes: a global transaction commits on every
//! participant or on none (a conflict or the timeout on one aborts all),
//! one participant commits directly, conflicts are retried, the decision
//! log is emptied behind finished transactions, concurrent transfers keep
//! a total across two databases. Its crashes, at every step, are swept in
//! keel-torture (`tests/two_phase.rs`).

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::options;
use keel::{ConflictKind, Coordinator, CoordinatorOptions, Database, Error, Isolation};
use keel_io::{SimVfs, Vfs};

struct Fixture {
    vfs: SimVfs,
    a: Arc<Database>,
    b: Arc<Database>,
}

impl Fixture {
    fn new(seed: u64) -> Fixture {
        let vfs = SimVfs::new(seed);
        let open = |dir: &str| {
            let shared: Arc<dyn Vfs> = Arc::new(vfs.clone());
            Arc::new(Database::open_with_vfs(shared, Path::new(dir), options()).unwrap())
        };
        let (a, b) = (open("/a"), open("/b"));
        Fixture { vfs, a, b }
    }

    fn coordinator(&self, tune: impl FnOnce(&mut CoordinatorOptions)) -> keel::Result<Coordinator> {
        let mut coordinator_options = CoordinatorOptions {
            log: options(),
            ..CoordinatorOptions::default()
        };
        tune(&mut coordinator_options);
        let shared: Arc<dyn Vfs> = Arc::new(self.vfs.clone());
        Coordinator::open_with_vfs(
            shared,
            Path::new("/coordinator"),
            vec![self.a.clone(), self.b.clone()],
            coordinator_options,
        )
    }
}

fn get(db: &Database, key: &str) -> Option<String> {
    let ks = db.keyspace("k").unwrap();
    db.view(|tx| tx.get(&ks, key))
        .unwrap()
        .map(|value| String::from_utf8(value.to_vec()).unwrap())
}

fn put(db: &Database, key: &str, value: &str) {
    let ks = db.keyspace("k").unwrap();
    db.update(|tx| tx.put(&ks, key, value)).unwrap();
}

#[test]
fn a_global_transaction_commits_on_every_participant() {
    let fixture = Fixture::new(1);
    let coordinator = fixture.coordinator(|_| {}).unwrap();
    let (ka, kb) = (
        fixture.a.keyspace("k").unwrap(),
        fixture.b.keyspace("k").unwrap(),
    );
    let mut tx = coordinator.transaction();
    assert!(coordinator.owns(tx.global_id()));
    tx.participant(0).put(&ka, "x", "1").unwrap();
    tx.participant(1).put(&kb, "y", "2").unwrap();
    tx.commit().unwrap();
    assert_eq!(get(&fixture.a, "x").as_deref(), Some("1"));
    assert_eq!(get(&fixture.b, "y").as_deref(), Some("2"));
    // Both voted; nothing is left in doubt, and the decision is forgotten.
    assert_eq!(fixture.a.stats().prepares, 1);
    assert_eq!(fixture.b.stats().prepares, 1);
    assert!(fixture.a.prepared().is_empty() && fixture.b.prepared().is_empty());
    let report = coordinator.recover().unwrap();
    assert_eq!(
        (report.committed, report.aborted, report.decisions_forgotten),
        (0, 0, 0)
    );
    // Global ids never repeat, also across opens.
    let first = coordinator.transaction().global_id().to_vec();
    let second = coordinator.transaction().global_id().to_vec();
    assert_ne!(first, second);
    coordinator.close().unwrap();
    let reopened = fixture.coordinator(|_| {}).unwrap();
    let third = reopened.transaction().global_id().to_vec();
    assert!(third != first && third != second);
    assert!(reopened.owns(&first), "the same coordinator after a reopen");
}

#[test]
fn a_conflict_on_one_participant_aborts_every_one() {
    let fixture = Fixture::new(2);
    let coordinator = fixture.coordinator(|_| {}).unwrap();
    put(&fixture.b, "read", "0");
    let (ka, kb) = (
        fixture.a.keyspace("k").unwrap(),
        fixture.b.keyspace("k").unwrap(),
    );
    let mut tx = coordinator.transaction();
    tx.participant(0).put(&ka, "x", "1").unwrap();
    tx.participant(1).get(&kb, "read").unwrap();
    tx.participant(1).put(&kb, "y", "1").unwrap();
    put(&fixture.b, "read", "changed");
    let error = tx.commit().unwrap_err();
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
    // Participant 0 had prepared: its vote was withdrawn.
    assert_eq!(fixture.a.stats().prepares, 1);
    assert!(fixture.a.prepared().is_empty());
    assert_eq!(get(&fixture.a, "x"), None);
    assert_eq!(get(&fixture.b, "y"), None);
    put(&fixture.a, "x", "free");
}

#[test]
fn update_retries_conflicts_and_one_participant_commits_directly() {
    let fixture = Fixture::new(3);
    let coordinator = fixture.coordinator(|_| {}).unwrap();
    put(&fixture.a, "counter", "0");
    let ka = fixture.a.keyspace("k").unwrap();
    let kb = fixture.b.keyspace("k").unwrap();
    let mut attempts = 0;
    coordinator
        .update(|tx| {
            attempts += 1;
            let count: u32 = std::str::from_utf8(&tx.participant(0).get(&ka, "counter")?.unwrap())
                .unwrap()
                .parse()
                .unwrap();
            if attempts == 1 {
                // Another writer gets in between the read and the commit.
                put(&fixture.a, "counter", "10");
            }
            tx.participant(0)
                .put(&ka, "counter", (count + 1).to_string())?;
            tx.participant(1).put(&kb, "seen", count.to_string())?;
            Ok::<_, Error>(())
        })
        .unwrap();
    assert_eq!(attempts, 2);
    assert_eq!(get(&fixture.a, "counter").as_deref(), Some("11"));
    assert_eq!(get(&fixture.b, "seen").as_deref(), Some("10"));
    // One participant used: committed there at once, no vote.
    let prepares = fixture.a.stats().prepares;
    let mut tx = coordinator.transaction();
    tx.participant(0).put(&ka, "solo", "1").unwrap();
    tx.commit().unwrap();
    assert_eq!(fixture.a.stats().prepares, prepares);
    assert_eq!(get(&fixture.a, "solo").as_deref(), Some("1"));
    // None used: nothing to do.
    coordinator.transaction().commit().unwrap();
}

#[test]
fn the_timeout_aborts_instead_of_committing() {
    let fixture = Fixture::new(4);
    let coordinator = fixture
        .coordinator(|options| options.timeout = Duration::from_millis(20))
        .unwrap();
    let (ka, kb) = (
        fixture.a.keyspace("k").unwrap(),
        fixture.b.keyspace("k").unwrap(),
    );
    let mut tx = coordinator.transaction();
    tx.participant(0).put(&ka, "x", "1").unwrap();
    tx.participant(1).put(&kb, "y", "1").unwrap();
    std::thread::sleep(Duration::from_millis(40));
    let error = tx.commit().unwrap_err();
    assert!(matches!(error, Error::TransactionTooOld { .. }), "{error}");
    assert_eq!((get(&fixture.a, "x"), get(&fixture.b, "y")), (None, None));
    assert!(fixture.a.prepared().is_empty() && fixture.b.prepared().is_empty());
}

#[test]
fn the_participants_are_the_ones_the_log_was_made_for() {
    let fixture = Fixture::new(5);
    fixture.coordinator(|_| {}).unwrap().close().unwrap();
    let shared: Arc<dyn Vfs> = Arc::new(fixture.vfs.clone());
    let error = Coordinator::open_with_vfs(
        shared,
        Path::new("/coordinator"),
        vec![fixture.a.clone()],
        CoordinatorOptions {
            log: options(),
            ..CoordinatorOptions::default()
        },
    )
    .unwrap_err();
    assert!(
        matches!(
            error,
            Error::CoordinatorParticipants {
                recorded: 2,
                given: 1
            }
        ),
        "{error}"
    );
    let open_over = |participants: Vec<Arc<Database>>| {
        let shared: Arc<dyn Vfs> = Arc::new(fixture.vfs.clone());
        Coordinator::open_with_vfs(
            shared,
            Path::new("/coordinator"),
            participants,
            CoordinatorOptions {
                log: options(),
                ..CoordinatorOptions::default()
            },
        )
    };
    // Another database of the same count, or one given twice, is refused.
    let shared: Arc<dyn Vfs> = Arc::new(fixture.vfs.clone());
    let stranger = Arc::new(Database::open_with_vfs(shared, Path::new("/c"), options()).unwrap());
    for (participants, position, reason) in [
        (
            vec![fixture.a.clone(), stranger.clone()],
            1,
            "another database",
        ),
        (vec![fixture.b.clone(), fixture.b.clone()], 1, "given twice"),
    ] {
        let error = open_over(participants).unwrap_err();
        assert!(
            matches!(
                error,
                Error::CoordinatorStranger { position: p, reason: r } if p == position && r == reason
            ),
            "{error}"
        );
    }
    // The same databases in another order are the same participants.
    open_over(vec![fixture.b.clone(), fixture.a.clone()])
        .unwrap()
        .close()
        .unwrap();
}

/// A database's identity is drawn once and kept across reopens; two
/// databases have different ones.
#[test]
fn a_database_keeps_its_identity() {
    let vfs = SimVfs::new(9);
    let open = |dir: &str| {
        let shared: Arc<dyn Vfs> = Arc::new(vfs.clone());
        Database::open_with_vfs(shared, Path::new(dir), options()).unwrap()
    };
    let (a, b) = (open("/a"), open("/b"));
    let (id_a, id_b) = (a.id().unwrap(), b.id().unwrap());
    assert_ne!(id_a, id_b);
    assert_eq!(a.id().unwrap(), id_a);
    a.close().unwrap();
    let a = open("/a");
    assert_eq!(a.id().unwrap(), id_a);
    assert!(
        a.keyspaces().iter().all(|name| name == "default"),
        "{:?}",
        a.keyspaces()
    );
    assert!(a.check().unwrap().is_empty());
}

/// In-doubt transactions of this coordinator are finished by recovery —
/// committed if the decision is logged, aborted if not — while other
/// prepared transactions (not its global ids) are left alone.
#[test]
fn recovery_finishes_its_own_in_doubt_transactions_only() {
    let fixture = Fixture::new(6);
    let coordinator = fixture.coordinator(|_| {}).unwrap();
    let ka = fixture.a.keyspace("k").unwrap();
    // Someone else's prepared transaction on participant 0.
    let mut foreign = fixture.a.begin(Isolation::Serializable);
    foreign.put(&ka, "foreign", "1").unwrap();
    drop(foreign.prepare("someone-else").unwrap());
    // One of the coordinator's, abandoned after its vote with no decision
    // (as a coordinator crash between the phases leaves it).
    let global_id = coordinator.transaction().global_id().to_vec();
    let mut abandoned = fixture.a.begin(Isolation::Serializable);
    abandoned.put(&ka, "abandoned", "1").unwrap();
    drop(abandoned.prepare(&global_id).unwrap());
    let report = coordinator.recover().unwrap();
    assert_eq!((report.committed, report.aborted), (0, 1));
    assert!(report.unresolved.is_empty());
    let left: Vec<_> = fixture
        .a
        .prepared()
        .into_iter()
        .map(|info| info.global_id)
        .collect();
    assert_eq!(left, [&b"someone-else"[..]]);
    assert_eq!(get(&fixture.a, "abandoned"), None);
}

/// Transfers between accounts on two databases from several threads, each
/// a global transaction retried on conflict: the total never changes.
#[test]
fn concurrent_transfers_across_two_databases_keep_the_total() {
    const ACCOUNTS: u32 = 4;
    const THREADS: u32 = 3;
    const TRANSFERS: u32 = 40;
    let fixture = Fixture::new(7);
    let coordinator = fixture.coordinator(|_| {}).unwrap();
    let databases = [fixture.a.clone(), fixture.b.clone()];
    let keyspaces: Vec<_> = databases
        .iter()
        .map(|db| db.keyspace("accounts").unwrap())
        .collect();
    for (db, ks) in databases.iter().zip(&keyspaces) {
        db.update(|tx| {
            for account in 0..ACCOUNTS {
                tx.put(ks, account.to_be_bytes(), 100u64.to_be_bytes())?;
            }
            Ok(())
        })
        .unwrap();
    }
    let balance = |tx: &keel::Transaction, ks, account: u32| -> keel::Result<u64> {
        let value = tx.get(ks, account.to_be_bytes())?.unwrap();
        Ok(u64::from_be_bytes(value.as_ref().try_into().unwrap()))
    };
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let (coordinator, keyspaces) = (&coordinator, &keyspaces);
            scope.spawn(move || {
                for transfer in 0..TRANSFERS {
                    let seed = thread * 1000 + transfer;
                    let from = (seed % 2) as usize;
                    let to = 1 - from;
                    let (from_account, to_account) = (seed % ACCOUNTS, (seed / 2) % ACCOUNTS);
                    let amount = u64::from(seed % 7 + 1);
                    coordinator
                        .update(|tx| {
                            let [source, target] = tx.participants() else {
                                unreachable!("two participants")
                            };
                            let (source, target) = if from == 0 {
                                (source, target)
                            } else {
                                (target, source)
                            };
                            let have = balance(source, &keyspaces[from], from_account)?;
                            let taken = amount.min(have);
                            source.put(
                                &keyspaces[from],
                                from_account.to_be_bytes(),
                                (have - taken).to_be_bytes(),
                            )?;
                            let other = balance(target, &keyspaces[to], to_account)?;
                            target.put(
                                &keyspaces[to],
                                to_account.to_be_bytes(),
                                (other + taken).to_be_bytes(),
                            )?;
                            Ok::<_, Error>(())
                        })
                        .unwrap();
                }
            });
        }
    });
    let mut total = 0;
    for (db, ks) in databases.iter().zip(&keyspaces) {
        let tx = db.begin_read();
        for account in 0..ACCOUNTS {
            total += balance(&tx, ks, account).unwrap();
        }
        assert!(db.prepared().is_empty());
        assert!(db.check().unwrap().is_empty());
    }
    assert_eq!(total, u64::from(2 * ACCOUNTS * 100));
    assert!(fixture.a.stats().prepares >= u64::from(THREADS * TRANSFERS));
}

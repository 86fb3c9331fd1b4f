//! Crash sweeps of two-phase commit: a [`keel::Coordinator`] running bank
//! transfers between two keel databases, every crash point of the run
//! enumerated on keel-io's [`CrashSweep`] (the one crash harness), in every
//! crash mode, with the disk that dies holding a chosen part of the system
//! ([`Layout`]): everything, one participant, or the coordinator's decision
//! log — while the rest lives on and takes part in the recovery. Then the
//! databases and the coordinator are reopened (its recovery finishes what
//! the crash left in doubt), and the check: every global transaction is
//! committed on both participants or on neither, every acknowledged one on
//! both, every refused one on neither, nothing is left in doubt, the
//! balances are exactly what the committed transfers make them (so their
//! total is the initial one), `check()` finds nothing, and a new transfer
//! commits.
//!
//! [`concurrent_sweep`] is the same with several threads transferring at
//! once (their I/O order varies, so its crash points are sampled counts of
//! operations).
//!
//! The default configuration is CI's (short); the environment makes it
//! long ([`TwoPhaseConfig::from_env`]).

use std::cell::RefCell;
use std::path::Path;
use std::sync::{Arc, Mutex};

use keel::{Coordinator, CoordinatorOptions, Database, Durability, Error, Keyspace, Options};
use keel_io::{CrashMode, CrashPoints, CrashSweep, SimVfs, SweepReport, Vfs};

use crate::config::{ConfigError, read_number};

/// Participant A's directory.
pub const A_DIR: &str = "/a";
/// Participant B's directory.
pub const B_DIR: &str = "/b";
/// The coordinator's decision log.
pub const COORDINATOR_DIR: &str = "/coordinator";

/// Accounts per participant.
const ACCOUNTS: u32 = 3;
/// Every account's starting balance.
const INITIAL_BALANCE: u64 = 1_000_000;

/// The environment variable giving the transfers of one sweep's run.
pub const ENV_TRANSFERS: &str = "KEEL_TORTURE_2PC_TRANSFERS";
/// The environment variable giving how many seeds each sweep runs.
pub const ENV_SEEDS: &str = "KEEL_TORTURE_2PC_SEEDS";
/// The environment variable giving the sampled crash points per crash
/// mode of the concurrent sweep.
pub const ENV_CONCURRENT_POINTS: &str = "KEEL_TORTURE_2PC_CONCURRENT_POINTS";

/// Which part of the system lives on the disk the sweep crashes; the rest
/// lives on a second disk that never crashes (it is one process, the
/// others go on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Both participants and the coordinator: the whole system crashes.
    Shared,
    /// Participant A (index 0) alone.
    ParticipantA,
    /// Participant B (index 1) alone.
    ParticipantB,
    /// The coordinator's decision log alone.
    Coordinator,
}

impl Layout {
    /// Every layout.
    pub const ALL: [Layout; 4] = [
        Layout::Shared,
        Layout::ParticipantA,
        Layout::ParticipantB,
        Layout::Coordinator,
    ];

    /// Whether `component` lives on the crashed disk.
    fn crashes(self, component: Component) -> bool {
        matches!(
            (self, component),
            (Layout::Shared, _)
                | (Layout::ParticipantA, Component::A)
                | (Layout::ParticipantB, Component::B)
                | (Layout::Coordinator, Component::Coordinator)
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Component {
    A,
    B,
    Coordinator,
}

/// A sweep's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TwoPhaseConfig {
    /// The first seed (of the transfers' amounts and accounts, and the
    /// disks).
    pub seed: u64,
    /// Seeds to sweep, from `seed` on.
    pub seeds: u64,
    /// Global transactions in one run (the second is refused by a conflict
    /// on participant B after A voted).
    pub transfers: u32,
    /// Which operations to crash at.
    pub points: CrashPoints,
    /// The crash modes to try at each.
    pub modes: Vec<CrashMode>,
    /// In the [`Layout::Shared`] sweep, every this many images also crash
    /// again part way through the recovery (`None`: never).
    pub recovery_crash_every: Option<u64>,
    /// Sampled crash points per mode of [`concurrent_sweep`].
    pub concurrent_points: usize,
}

impl Default for TwoPhaseConfig {
    /// CI's: every crash point of three transfers, every mode.
    fn default() -> Self {
        TwoPhaseConfig {
            seed: 1,
            seeds: 1,
            transfers: 3,
            points: CrashPoints::Every,
            modes: CrashMode::ALL.to_vec(),
            recovery_crash_every: Some(5),
            concurrent_points: 4,
        }
    }
}

impl TwoPhaseConfig {
    /// `default` with what the environment sets: [`ENV_TRANSFERS`],
    /// [`ENV_SEEDS`], [`ENV_CONCURRENT_POINTS`] (and the simulator's
    /// `KEEL_TORTURE_SEED` for the first seed).
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] for a value that is not a number.
    pub fn from_env(default: TwoPhaseConfig) -> Result<TwoPhaseConfig, ConfigError> {
        let mut config = default;
        if let Some(seed) = read_number(crate::config::ENV_SEED)? {
            config.seed = seed;
        }
        if let Some(seeds) = read_number(ENV_SEEDS)? {
            config.seeds = seeds.max(1);
        }
        if let Some(transfers) = read_number(ENV_TRANSFERS)? {
            config.transfers = u32::try_from(transfers).unwrap_or(u32::MAX).max(1);
        }
        if let Some(points) = read_number(ENV_CONCURRENT_POINTS)? {
            config.concurrent_points = usize::try_from(points).unwrap_or(usize::MAX).max(1);
        }
        Ok(config)
    }
}

/// One transfer: `amount` from an account of participant `from` to an
/// account of the other.
#[derive(Debug, Clone, Copy)]
struct Transfer {
    from: usize,
    from_account: u32,
    to_account: u32,
    amount: u64,
}

impl Transfer {
    /// Transfer `index` of a run of `seed`.
    fn planned(seed: u64, index: u64) -> Transfer {
        let mix =
            (seed ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        Transfer {
            from: (mix & 1) as usize,
            from_account: ((mix >> 8) % u64::from(ACCOUNTS)) as u32,
            to_account: ((mix >> 16) % u64::from(ACCOUNTS)) as u32,
            amount: (mix >> 24) % 50 + 1,
        }
    }
}

/// What the caller of a transfer was told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// `commit` returned `Ok`: committed, on both participants.
    Committed,
    /// Refused before any decision: on neither.
    Aborted,
    /// In doubt, or cut by the crash: on both or on neither.
    Unknown,
}

/// What the check needs from a run: each transfer's outcome and the parts
/// of the system that did not crash (still open).
pub struct Run {
    outcomes: Vec<Outcome>,
    survivors: RefCell<[Option<Arc<Database>>; 2]>,
    survivor_disk: SimVfs,
}

/// The options of the databases: no background thread (deterministic
/// I/O), small segments and pool.
fn database_options() -> Options {
    Options {
        durability: Durability::Sync,
        pool_bytes: 32 * 4096,
        background_maintenance: false,
        wal_segment_bytes: 64 << 10,
        ..Options::default()
    }
}

fn coordinator_options() -> CoordinatorOptions {
    CoordinatorOptions {
        log: database_options(),
        ..CoordinatorOptions::default()
    }
}

fn open(disk: &SimVfs, dir: &str) -> keel::Result<Arc<Database>> {
    let shared: Arc<dyn Vfs> = Arc::new(disk.clone());
    Ok(Arc::new(Database::open_with_vfs(
        shared,
        Path::new(dir),
        database_options(),
    )?))
}

fn open_coordinator(disk: &SimVfs, participants: Vec<Arc<Database>>) -> keel::Result<Coordinator> {
    let shared: Arc<dyn Vfs> = Arc::new(disk.clone());
    Coordinator::open_with_vfs(
        shared,
        Path::new(COORDINATOR_DIR),
        participants,
        coordinator_options(),
    )
}

fn account_key(account: u32) -> [u8; 4] {
    account.to_be_bytes()
}

fn marker_key(transfer: u64) -> [u8; 8] {
    transfer.to_be_bytes()
}

fn balance(tx: &keel::Transaction, accounts: &Keyspace, account: u32) -> keel::Result<u64> {
    let value = tx
        .get(accounts, account_key(account))?
        .ok_or_else(|| Error::Internal(format!("account {account} is missing")))?;
    let raw: [u8; 8] = value
        .as_ref()
        .try_into()
        .map_err(|_| Error::Internal(format!("account {account} is not a balance")))?;
    Ok(u64::from_be_bytes(raw))
}

/// The databases' keyspaces: accounts, and the markers of the transfers
/// committed there.
#[derive(Clone)]
struct Keyspaces {
    accounts: Keyspace,
    transfers: Keyspace,
}

impl Keyspaces {
    fn of(db: &Database) -> keel::Result<Keyspaces> {
        Ok(Keyspaces {
            accounts: db.keyspace("accounts")?,
            transfers: db.keyspace("transfers")?,
        })
    }
}

/// Creates a participant with its accounts at their starting balance.
fn create_participant(disk: &SimVfs, dir: &str) -> keel::Result<Arc<Database>> {
    let db = open(disk, dir)?;
    let keyspaces = Keyspaces::of(&db)?;
    db.update(|tx| {
        for account in 0..ACCOUNTS {
            tx.put(
                &keyspaces.accounts,
                account_key(account),
                INITIAL_BALANCE.to_be_bytes(),
            )?;
        }
        Ok(())
    })?;
    Ok(db)
}

/// Writes transfer `index` into `tx` (the two participants' transactions):
/// the two balances and a marker in each participant.
fn write_transfer(
    participants: &mut [keel::Transaction],
    keyspaces: &[Keyspaces; 2],
    index: u64,
    transfer: Transfer,
) -> keel::Result<()> {
    let [first, second] = participants else {
        return Err(Error::Internal("two participants expected".into()));
    };
    let (source, target) = if transfer.from == 0 {
        (first, second)
    } else {
        (second, first)
    };
    let (from, to) = (&keyspaces[transfer.from], &keyspaces[1 - transfer.from]);
    let have = balance(source, &from.accounts, transfer.from_account)?;
    source.put(
        &from.accounts,
        account_key(transfer.from_account),
        (have - transfer.amount).to_be_bytes(),
    )?;
    let other = balance(target, &to.accounts, transfer.to_account)?;
    target.put(
        &to.accounts,
        account_key(transfer.to_account),
        (other + transfer.amount).to_be_bytes(),
    )?;
    source.put(&from.transfers, marker_key(index), "out")?;
    target.put(&to.transfers, marker_key(index), "in")
}

/// What a commit's result tells its caller.
fn outcome_of(result: keel::Result<()>) -> Outcome {
    match result {
        Ok(()) => Outcome::Committed,
        Err(Error::InDoubt { .. }) => Outcome::Unknown,
        Err(_) => Outcome::Aborted,
    }
}

/// Runs the transfers of a run; the one at index 1 is made to conflict on
/// participant B after its reads (B's vote fails once A voted).
fn run_transfers(
    coordinator: &Coordinator,
    participants: [&Database; 2],
    seed: u64,
    transfers: u32,
) -> Vec<Outcome> {
    let Ok(keyspaces) = participants
        .iter()
        .map(|db| Keyspaces::of(db))
        .collect::<keel::Result<Vec<_>>>()
    else {
        return vec![Outcome::Aborted; transfers as usize];
    };
    let keyspaces: [Keyspaces; 2] = [keyspaces[0].clone(), keyspaces[1].clone()];
    let mut outcomes = Vec::new();
    for index in 0..u64::from(transfers) {
        let transfer = Transfer::planned(seed, index);
        let mut tx = coordinator.transaction();
        if write_transfer(tx.participants(), &keyspaces, index, transfer).is_err() {
            outcomes.push(Outcome::Aborted);
            continue;
        }
        if index == 1 {
            // Another writer rewrites B's account (same balance) after the
            // global transaction read it: B refuses its vote.
            let account = if transfer.from == 1 {
                transfer.from_account
            } else {
                transfer.to_account
            };
            let accounts = &keyspaces[1].accounts;
            let _ = participants[1].update(|tx| {
                let same = balance(tx, accounts, account)?;
                tx.put(accounts, account_key(account), same.to_be_bytes())
            });
        }
        outcomes.push(outcome_of(tx.commit()));
    }
    outcomes
}

/// What the setup builds (never crashed): the participants and the
/// coordinator, on their disks.
struct System {
    a: Arc<Database>,
    b: Arc<Database>,
    coordinator: Coordinator,
    survivor_disk: SimVfs,
}

fn disk_for<'d>(
    layout: Layout,
    component: Component,
    swept: &'d SimVfs,
    survivor: &'d SimVfs,
) -> &'d SimVfs {
    if layout.crashes(component) {
        swept
    } else {
        survivor
    }
}

fn setup(swept: &SimVfs, layout: Layout, seed: u64) -> System {
    let survivor_disk = SimVfs::new(seed ^ 0x2bc0_5eed);
    let build = || -> keel::Result<System> {
        let a = create_participant(disk_for(layout, Component::A, swept, &survivor_disk), A_DIR)?;
        let b = create_participant(disk_for(layout, Component::B, swept, &survivor_disk), B_DIR)?;
        let coordinator = open_coordinator(
            disk_for(layout, Component::Coordinator, swept, &survivor_disk),
            vec![a.clone(), b.clone()],
        )?;
        Ok(System {
            a,
            b,
            coordinator,
            survivor_disk: survivor_disk.clone(),
        })
    };
    match build() {
        Ok(system) => system,
        Err(error) => panic!("the setup failed: {error}"),
    }
}

/// The run: the transfers, then a checkpoint of each participant (with
/// whatever is in doubt), then everything on the crashed disk is dropped
/// (a dead process's objects never touch the disk after its restart); the
/// parts that live on are kept for the check.
fn workload(layout: Layout, seed: u64, transfers: u32, system: System) -> Run {
    let System {
        a,
        b,
        coordinator,
        survivor_disk,
    } = system;
    let outcomes = run_transfers(&coordinator, [&a, &b], seed, transfers);
    let _ = a.checkpoint();
    let _ = b.checkpoint();
    drop(coordinator);
    let keep = |db: Arc<Database>, component| (!layout.crashes(component)).then_some(db);
    Run {
        outcomes,
        survivors: RefCell::new([keep(a, Component::A), keep(b, Component::B)]),
        survivor_disk,
    }
}

/// Reopens what crashed, takes what lived on, and reopens the coordinator
/// (its recovery runs).
fn recover(
    swept: &SimVfs,
    layout: Layout,
    run: &Run,
) -> Result<([Arc<Database>; 2], Coordinator), String> {
    let mut survivors = run.survivors.borrow_mut();
    let mut participant = |slot: usize, component, dir| -> Result<Arc<Database>, String> {
        match survivors[slot].take() {
            Some(db) => Ok(db),
            None => open(disk_for(layout, component, swept, &run.survivor_disk), dir)
                .map_err(|error| format!("reopening {dir}: {error}")),
        }
    };
    let a = participant(0, Component::A, A_DIR)?;
    let b = participant(1, Component::B, B_DIR)?;
    let coordinator = open_coordinator(
        disk_for(layout, Component::Coordinator, swept, &run.survivor_disk),
        vec![a.clone(), b.clone()],
    )
    .map_err(|error| format!("reopening the coordinator: {error}"))?;
    Ok(([a, b], coordinator))
}

/// The check of one crash image; see the module documentation.
fn verify(
    participants: &[Arc<Database>; 2],
    coordinator: &Coordinator,
    outcomes: &[(u64, Transfer, Outcome)],
) -> Result<(), String> {
    if let Some((index, global_id, error)) = coordinator.recovery().unresolved.first() {
        return Err(format!(
            "recovery left {global_id:?} in doubt on participant {index}: {error}"
        ));
    }
    let mut balances = [[INITIAL_BALANCE; ACCOUNTS as usize]; 2];
    let mut markers = [Vec::new(), Vec::new()];
    for (side, db) in participants.iter().enumerate() {
        let in_doubt: Vec<_> = db
            .prepared()
            .into_iter()
            .filter(|info| coordinator.owns(&info.global_id))
            .collect();
        if !in_doubt.is_empty() {
            return Err(format!(
                "participant {side} still has {} transactions in doubt",
                in_doubt.len()
            ));
        }
        let keyspaces = Keyspaces::of(db).map_err(|error| error.to_string())?;
        let (found, markers_found) = db
            .view(|tx| {
                let mut found = [0u64; ACCOUNTS as usize];
                for (account, slot) in (0..ACCOUNTS).zip(found.iter_mut()) {
                    *slot = balance(tx, &keyspaces.accounts, account)?;
                }
                let markers = tx
                    .keys(&keyspaces.transfers, ..)?
                    .map(|key| key.map(|key| key.to_vec()))
                    .collect::<keel::Result<Vec<_>>>()?;
                Ok((found, markers))
            })
            .map_err(|error| format!("reading participant {side}: {error}"))?;
        balances[side] = found;
        markers[side] = markers_found;
        let problems = db.check().map_err(|error| error.to_string())?;
        if !problems.is_empty() {
            return Err(format!("participant {side}: {problems:?}"));
        }
    }
    let mut expected = [[INITIAL_BALANCE; ACCOUNTS as usize]; 2];
    for &(index, transfer, outcome) in outcomes {
        let key = marker_key(index).to_vec();
        let present = [markers[0].contains(&key), markers[1].contains(&key)];
        match (present, outcome) {
            ([a, b], _) if a != b => {
                return Err(format!(
                    "transfer {index} ({outcome:?}) is committed on participant {} only",
                    if a { 0 } else { 1 }
                ));
            }
            ([false, _], Outcome::Committed) => {
                return Err(format!("transfer {index} was acknowledged and is lost"));
            }
            ([true, _], Outcome::Aborted) => {
                return Err(format!("transfer {index} was refused and is committed"));
            }
            ([true, _], _) => {
                let from = &mut expected[transfer.from][transfer.from_account as usize];
                *from -= transfer.amount;
                expected[1 - transfer.from][transfer.to_account as usize] += transfer.amount;
            }
            _ => {}
        }
    }
    let known = outcomes.len();
    let stray = markers.iter().flatten().filter(|key| {
        let index = u64::from_be_bytes(key.as_slice().try_into().unwrap_or([0xff; 8]));
        !outcomes.iter().any(|(known, _, _)| *known == index)
    });
    if let Some(key) = stray.into_iter().next() {
        return Err(format!("a marker {key:?} of no transfer ({known} known)"));
    }
    if balances != expected {
        return Err(format!(
            "balances {balances:?}, the committed transfers make {expected:?}"
        ));
    }
    let total: u64 = balances.iter().flatten().sum();
    if total != 2 * u64::from(ACCOUNTS) * INITIAL_BALANCE {
        return Err(format!("the total is {total}"));
    }
    Ok(())
}

/// After the check: the system works on (a new transfer commits on both).
fn works_on(participants: &[Arc<Database>; 2], coordinator: &Coordinator) -> Result<(), String> {
    let keyspaces = [
        Keyspaces::of(&participants[0]).map_err(|error| error.to_string())?,
        Keyspaces::of(&participants[1]).map_err(|error| error.to_string())?,
    ];
    let transfer = Transfer {
        from: 0,
        from_account: 0,
        to_account: 0,
        amount: 1,
    };
    coordinator
        .update(|tx| write_transfer(tx.participants(), &keyspaces, u64::MAX, transfer))
        .map_err(|error| format!("a transfer after recovery failed: {error}"))
}

/// Sweeps every crash point of one run of `config.transfers` global
/// transactions in `layout`, for each seed; returns each seed's report.
pub fn sweep(config: &TwoPhaseConfig, layout: Layout) -> Vec<SweepReport> {
    (0..config.seeds)
        .map(|offset| sweep_seed(config, layout, config.seed + offset))
        .collect()
}

fn sweep_seed(config: &TwoPhaseConfig, layout: Layout, seed: u64) -> SweepReport {
    let transfers = config.transfers;
    let mut sweep = CrashSweep::with_setup(
        seed,
        move |swept: &SimVfs| setup(swept, layout, seed),
        move |_swept: &SimVfs, system| workload(layout, seed, transfers, system),
    )
    .modes(&config.modes)
    .points(config.points);
    if let (Layout::Shared, Some(every)) = (layout, config.recovery_crash_every) {
        // A second crash part way through the recovery of everything (the
        // coordinator's included); the next recovery must finish the job.
        sweep = sweep.crash_during_recovery(every, 120, move |swept: &SimVfs| {
            if let (Ok(a), Ok(b)) = (open(swept, A_DIR), open(swept, B_DIR)) {
                drop(open_coordinator(swept, vec![a, b]));
            }
        });
    }
    sweep.run(move |swept, run, image| {
        check_image(swept, layout, run, seed, &format!("{layout:?}, {image}"))
    })
}

/// One crash image of a sweep of `seed`'s transfers: recovery, then every
/// transfer on both participants or neither (acknowledged ones committed,
/// the total kept), then both still take work. Errors name `context`.
fn check_image(
    swept: &SimVfs,
    layout: Layout,
    run: &Run,
    seed: u64,
    context: &str,
) -> Result<(), String> {
    let (participants, coordinator) =
        recover(swept, layout, run).map_err(|error| format!("{context}: {error}"))?;
    let outcomes: Vec<(u64, Transfer, Outcome)> = run
        .outcomes
        .iter()
        .enumerate()
        .map(|(index, outcome)| {
            let index = index as u64;
            (index, Transfer::planned(seed, index), *outcome)
        })
        .collect();
    verify(&participants, &coordinator, &outcomes)
        .and_then(|()| works_on(&participants, &coordinator))
        .map_err(|error| format!("{context}: {error}"))
}

/// Threads transferring at once in the concurrent sweep.
pub const CONCURRENT_THREADS: u64 = 3;
/// Transfers per thread in the concurrent sweep.
pub const CONCURRENT_TRANSFERS: u64 = 6;

/// The bank under concurrency and crashes: [`CONCURRENT_THREADS`] threads
/// each make [`CONCURRENT_TRANSFERS`] transfers through
/// [`Coordinator::update`] (conflicts retried) with everything on one disk,
/// crashed at sampled points in every mode; recovery must leave every
/// transfer on both participants or neither, every acknowledged one
/// committed, and the total unchanged.
pub fn concurrent_sweep(config: &TwoPhaseConfig) -> Vec<SweepReport> {
    let mut reports = Vec::new();
    for offset in 0..config.seeds {
        for (number, mode) in (0u64..).zip(CrashMode::ALL) {
            let seed = config.seed + offset * 16 + number;
            reports.push(concurrent_sweep_seed(config, seed, mode));
        }
    }
    reports
}

fn concurrent_sweep_seed(config: &TwoPhaseConfig, seed: u64, mode: CrashMode) -> SweepReport {
    CrashSweep::with_setup(
        seed,
        move |swept: &SimVfs| setup(swept, Layout::Shared, seed),
        move |_swept: &SimVfs, system| concurrent_workload(seed, system),
    )
    .io_order_varies()
    .modes(&[mode])
    .points(CrashPoints::Sample(config.concurrent_points))
    .run(move |swept, run, image| {
        check_image(
            swept,
            Layout::Shared,
            run,
            seed,
            &format!("concurrent, {image}"),
        )
    })
}

/// Transfer `thread * CONCURRENT_TRANSFERS + n` is thread `thread`'s n-th.
fn concurrent_workload(seed: u64, system: System) -> Run {
    let System {
        a,
        b,
        coordinator,
        survivor_disk,
    } = system;
    let total = (CONCURRENT_THREADS * CONCURRENT_TRANSFERS) as usize;
    let outcomes = Mutex::new(vec![Outcome::Aborted; total]);
    if let (Ok(first), Ok(second)) = (Keyspaces::of(&a), Keyspaces::of(&b)) {
        let keyspaces = [first, second];
        std::thread::scope(|scope| {
            for thread in 0..CONCURRENT_THREADS {
                let (coordinator, keyspaces, outcomes) = (&coordinator, &keyspaces, &outcomes);
                scope.spawn(move || {
                    for n in 0..CONCURRENT_TRANSFERS {
                        let index = thread * CONCURRENT_TRANSFERS + n;
                        let transfer = Transfer::planned(seed, index);
                        let slot = usize::try_from(index).unwrap_or(usize::MAX);
                        // Until it returns, the transfer is in flight.
                        set(outcomes, slot, Outcome::Unknown);
                        let result = coordinator.update(|tx| {
                            write_transfer(tx.participants(), keyspaces, index, transfer)
                        });
                        let outcome = outcome_of(result);
                        set(outcomes, slot, outcome);
                        if outcome != Outcome::Committed {
                            break;
                        }
                    }
                });
            }
        });
    }
    let _ = a.checkpoint();
    let _ = b.checkpoint();
    drop(coordinator);
    let outcomes = outcomes
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Run {
        outcomes,
        survivors: RefCell::new([None, None]),
        survivor_disk,
    }
}

fn set(outcomes: &Mutex<Vec<Outcome>>, slot: usize, outcome: Outcome) {
    let mut outcomes = outcomes
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(entry) = outcomes.get_mut(slot) {
        *entry = outcome;
    }
}

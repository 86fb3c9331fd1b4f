//! What the engine's tests share: options for deterministic runs on the
//! simulated disk, a workload with its model, and reading a database back.

#![allow(dead_code)]

use std::collections::BTreeMap;

use keel::{Database, Durability, Options};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// `(keyspace name, key)` → (value, expiry in ms since the Unix epoch).
pub type Model = BTreeMap<(String, Vec<u8>), (Vec<u8>, Option<u64>)>;

/// A fixed expiry a day ahead of any run, so expiring keys stay live.
pub const EXPIRES_AT_MS: u64 = 4_102_444_800_000;

pub const KEYSPACES: [&str; 2] = ["alpha", "beta"];

/// Small pool, `Sync` durability, no background thread (so the I/O of a
/// run is the workload's own).
pub fn options() -> Options {
    Options {
        durability: Durability::Sync,
        pool_bytes: 32 * 4096,
        background_maintenance: false,
        wal_segment_bytes: 64 << 10,
        ..Options::default()
    }
}

/// What a workload run saw before the disk failed.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The state after each acknowledged commit, in commit order
    /// (`states[0]` is the empty database).
    pub states: Vec<Model>,
    /// `states[durable]` is the state after the last commit acknowledged
    /// with `Sync` durability (or a checkpoint): every later commit was
    /// acknowledged without waiting for the disk.
    pub durable: usize,
    /// The state if the commit in flight at the failure made it.
    pub in_flight: Option<Model>,
    pub completed: bool,
}

impl Outcome {
    /// The states recovery may give: any state from the last durable one
    /// on (commits without `Sync` may be lost, but only from the end: log
    /// order is commit order), or the one in flight.
    pub fn allowed(&self) -> impl Iterator<Item = &Model> {
        self.states[self.durable..]
            .iter()
            .chain(self.in_flight.iter())
    }

    pub fn last(&self) -> &Model {
        self.states.last().expect("the empty state is always there")
    }
}

/// Three rounds of transactions with a checkpoint after each; stops at the
/// first error. Each commit is `Sync` or, with `mixed_durability`, `None`
/// at random.
pub fn workload(
    open: &dyn Fn() -> keel::Result<Database>,
    seed: u64,
    mixed_durability: bool,
) -> Outcome {
    let mut outcome = Outcome {
        states: vec![Model::new()],
        ..Outcome::default()
    };
    let Ok(db) = open() else {
        return outcome;
    };
    let mut rng = SmallRng::seed_from_u64(seed);
    for round in 0..3 {
        for _ in 0..12 {
            let mut next = outcome.last().clone();
            let sync = !mixed_durability || rng.random_bool(0.3);
            let result = (|| {
                let mut tx = db.begin(keel::Isolation::Serializable);
                if !sync {
                    tx.set_durability(Durability::None);
                }
                for _ in 0..rng.random_range(1..4) {
                    let name = KEYSPACES[rng.random_range(0..2)];
                    let keyspace = db.keyspace(name)?;
                    let key = format!("key{:03}", rng.random_range(0..40)).into_bytes();
                    if rng.random_bool(0.25) {
                        tx.delete(&keyspace, &key)?;
                        next.remove(&(name.to_string(), key));
                    } else {
                        let len = [1, 30, 300, 3000][rng.random_range(0..4)];
                        let value = vec![rng.random::<u8>(); len];
                        let expires = rng.random_bool(0.2).then_some(EXPIRES_AT_MS);
                        match expires {
                            Some(at) => tx.put_expiring_at(&keyspace, &key, value.clone(), at)?,
                            None => tx.put(&keyspace, &key, value.clone())?,
                        }
                        next.insert((name.to_string(), key), (value, expires));
                    }
                }
                tx.commit()
            })();
            match result {
                Ok(()) => {
                    outcome.states.push(next);
                    if sync {
                        outcome.durable = outcome.states.len() - 1;
                    }
                }
                Err(_) => {
                    outcome.in_flight = Some(next);
                    return outcome;
                }
            }
        }
        if round < 2 {
            if db.checkpoint().is_err() {
                return outcome;
            }
            // A checkpoint folds and makes durable everything before it.
            outcome.durable = outcome.states.len() - 1;
        }
    }
    outcome.completed = db.close().is_ok();
    if outcome.completed {
        outcome.durable = outcome.states.len() - 1;
    }
    outcome
}

/// Every key of the test keyspaces.
pub fn contents(db: &Database) -> Model {
    let mut model = Model::new();
    for name in KEYSPACES {
        let keyspace = db.keyspace(name).unwrap();
        db.view(|tx| {
            let keys: Vec<_> = tx
                .range(&keyspace, ..)?
                .map(|entry| entry.map(|(key, _)| key))
                .collect::<keel::Result<_>>()?;
            for key in keys {
                let (value, expires) = tx
                    .get_with_expiry(&keyspace, &key)?
                    .expect("a key the scan found");
                model.insert((name.to_string(), key.to_vec()), (value.to_vec(), expires));
            }
            Ok(())
        })
        .unwrap();
    }
    model
}

/// The process dies: nothing the database would do on close reaches the
/// disk, and what it wrote stays (the OS did not crash).
pub fn kill(vfs: &keel_io::SimVfs, db: Database) {
    vfs.set_crash_point(Some(vfs.operations()));
    drop(db);
    vfs.crash(keel_io::CrashMode::ProcessKill);
}

/// The key of commit `index` in the crash-sequence tests.
pub fn numbered_key(index: u32) -> Vec<u8> {
    format!("key{index:06}").into_bytes()
}

/// Whether each of `keys` is in the default keyspace with its value
/// (`index` as 4 little-endian bytes).
pub fn present(db: &Database, keys: std::ops::Range<u32>) -> Vec<bool> {
    let keyspace = db.default_keyspace();
    db.view(|tx| {
        keys.map(|index| {
            let value = tx.get(&keyspace, numbered_key(index))?;
            Ok(value.as_deref() == Some(&index.to_le_bytes()[..]))
        })
        .collect::<keel::Result<Vec<bool>>>()
    })
    .unwrap()
}

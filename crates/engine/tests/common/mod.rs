//! What the engine's tests share: options for deterministic runs on the
//! simulated disk, a workload with its model, and reading a database back.

#![allow(dead_code)]

use std::collections::BTreeMap;

use keel::{Database, Durability, Options};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// `(keyspace name, key)` → value.
pub type Model = BTreeMap<(String, Vec<u8>), Vec<u8>>;

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
    pub acknowledged: Model,
    /// The state if the commit in flight at the failure made it.
    pub in_flight: Option<Model>,
    pub completed: bool,
}

/// Three rounds of transactions with a checkpoint after each; stops at the
/// first error.
pub fn workload(open: &dyn Fn() -> keel::Result<Database>, seed: u64) -> Outcome {
    let mut outcome = Outcome::default();
    let Ok(db) = open() else {
        return outcome;
    };
    let mut rng = SmallRng::seed_from_u64(seed);
    for round in 0..3 {
        for _ in 0..12 {
            let mut next = outcome.acknowledged.clone();
            let result = (|| {
                let mut tx = db.begin(keel::Isolation::Serializable);
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
                        if rng.random_bool(0.2) {
                            tx.put_with_ttl(
                                &keyspace,
                                &key,
                                value.clone(),
                                std::time::Duration::from_secs(86_400),
                            )?;
                        } else {
                            tx.put(&keyspace, &key, value.clone())?;
                        }
                        next.insert((name.to_string(), key), value);
                    }
                }
                tx.commit()
            })();
            match result {
                Ok(()) => outcome.acknowledged = next,
                Err(_) => {
                    outcome.in_flight = Some(next);
                    return outcome;
                }
            }
        }
        if round < 2 && db.checkpoint().is_err() {
            return outcome;
        }
    }
    outcome.completed = db.close().is_ok();
    outcome
}

/// Every key of the test keyspaces.
pub fn contents(db: &Database) -> Model {
    let mut model = Model::new();
    for name in KEYSPACES {
        let keyspace = db.keyspace(name).unwrap();
        db.view(|tx| {
            for entry in tx.range::<[u8], _>(&keyspace, ..)? {
                let (key, value) = entry?;
                model.insert((name.to_string(), key.to_vec()), value.to_vec());
            }
            Ok(())
        })
        .unwrap();
    }
    model
}

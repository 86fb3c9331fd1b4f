//! The data every engine gets, identical across engines: redb's benchmark
//! shape, 24-byte random keys and 150-byte random values from a fixed seed.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Bytes of a key.
pub const KEY_BYTES: usize = 24;
/// Bytes of a value.
pub const VALUE_BYTES: usize = 150;
/// The seed of every random choice; a run is the same for every engine.
pub const SEED: u64 = 3;

/// A key.
pub type Key = [u8; KEY_BYTES];
/// A value.
pub type Value = [u8; VALUE_BYTES];

/// Pairs generated up front, so that generating them is never timed.
pub struct Dataset {
    /// The keys, in insertion order.
    pub keys: Vec<Key>,
    /// `values[i]` belongs to `keys[i]`.
    pub values: Vec<Value>,
}

impl Dataset {
    /// `count` random pairs from [`SEED`].
    pub fn generate(count: usize) -> Dataset {
        let mut rng = SmallRng::seed_from_u64(SEED);
        let mut keys = Vec::with_capacity(count);
        let mut values = Vec::with_capacity(count);
        for _ in 0..count {
            let mut key = [0u8; KEY_BYTES];
            let mut value = [0u8; VALUE_BYTES];
            rng.fill(&mut key[..]);
            rng.fill(&mut value[..]);
            keys.push(key);
            values.push(value);
        }
        Dataset { keys, values }
    }

    /// The pairs in `range` of the insertion order.
    pub fn pairs(&self, range: std::ops::Range<usize>) -> impl Iterator<Item = (&Key, &Value)> {
        self.keys[range.clone()].iter().zip(&self.values[range])
    }
}

/// A random number generator for a named stream of choices (reads,
/// ranges, a thread's operations): the same for every engine.
pub fn stream(name: &str, index: u64) -> SmallRng {
    let mut seed = SEED ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for byte in name.bytes() {
        seed = seed.rotate_left(5) ^ u64::from(byte);
    }
    SmallRng::seed_from_u64(seed)
}

/// A random key (not necessarily present).
pub fn random_key(rng: &mut SmallRng) -> Key {
    let mut key = [0u8; KEY_BYTES];
    rng.fill(&mut key[..]);
    key
}

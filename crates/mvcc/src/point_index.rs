//! The delta's point index: each key of the skiplist → its value there
//! (the key's version chain), by hash, so that a point read, a validation
//! lookup and an install into a key already held find the chain with one
//! hash and a probe or two instead of a skiplist search (some 30 key
//! comparisons at 50k keys).
//!
//! An open-addressing table with linear probing. One writer at a time (a
//! mutex inside; the delta's writer also holds the sequencer); readers
//! never wait: they pin the epoch, load the table and probe. A slot is
//! written once — key and value pointers first, then its hash with
//! release — and later only turned into a tombstone: a reader that saw a
//! slot's hash sees the pointers written before it, and they never change.
//! A table past three quarters full (tombstones included), or down to an
//! eighth full of live keys, is replaced by a new one holding the live
//! slots, built before it is published; the old one is freed after a
//! grace period. The hash (foldhash's folded
//! multiply, a few instructions per 16 bytes) is keyed with random seeds
//! per index, so that clients cannot easily choose keys that collide.
//!
//! The index does not own what it points to: whoever inserts a key keeps
//! the key and value allocated until a grace period after removing it
//! (the skiplist frees a node only after it was unlinked and every guard
//! pinned then has unpinned, and the delta removes a key from the index
//! before it removes it from the skiplist).
//!
//! Public so that the loom model (`tests/loom_point_index.rs`) exercises
//! this exact code; the engine does not use it directly.

#[cfg(not(loom))]
use std::hash::{BuildHasher, RandomState};

use bytes::Bytes;

use crate::sync::{AtomicPtr, AtomicU64, Mutex, Ordering, UnsafeCell, defer_free, lock};
pub use crate::sync::{Guard, pin};

/// A slot never written: a probe for a key stops here.
const EMPTY: u64 = 0;
/// A slot whose key was removed: a probe goes on past it.
const TOMBSTONE: u64 = 1;
/// Slots in the smallest table.
const SLOTS_MIN: usize = 16;

struct Slot<V> {
    /// `EMPTY`, `TOMBSTONE`, or the key's hash (never either of those).
    hash: AtomicU64,
    /// The key and its value: written once before the hash publishes them
    /// (through a cell that loom checks: a publication with too weak an
    /// ordering fails the models).
    entry: UnsafeCell<(*const Bytes, *const V)>,
}

impl<V> Slot<V> {
    /// Writes the key and value of an empty slot, then publishes them with
    /// the hash. Only the writer (one at a time).
    fn publish(&self, hash: u64, key: *const Bytes, value: *const V) {
        debug_assert_eq!(self.hash.load(Ordering::Relaxed), EMPTY);
        // SAFETY: an empty slot is read by nobody, and written only by the
        // writer, once.
        self.entry
            .with_mut(|entry| unsafe { *entry = (key, value) });
        self.hash.store(hash, Ordering::Release);
    }

    /// The key and value; only once the slot's hash was loaded (with
    /// acquire, by a reader) as the key's.
    fn entry(&self) -> (*const Bytes, *const V) {
        // SAFETY: written once, before the hash published it.
        self.entry.with(|entry| unsafe { *entry })
    }
}

struct Table<V> {
    slots: Box<[Slot<V>]>,
}

impl<V> Table<V> {
    fn new(slots: usize) -> Table<V> {
        debug_assert!(slots.is_power_of_two());
        let table = Table {
            slots: (0..slots)
                .map(|_| Slot {
                    hash: AtomicU64::new(EMPTY),
                    entry: UnsafeCell::new((std::ptr::null(), std::ptr::null())),
                })
                .collect(),
        };
        table.touch();
        table
    }

    /// Writes every slot's hash once, in order. A large table's zeros come
    /// from the OS untouched: the first probe of a page would map it to
    /// the shared zero page and the first fill then fault again, flushing
    /// every core's TLB entry for it (measured: a rebuild to 131,072 slots
    /// took 13–39 ms inside a commit, half of it those flushes). Written
    /// first, each page faults once, with no flush.
    fn touch(&self) {
        #[cfg(not(loom))]
        for slot in self.slots.iter() {
            slot.hash.store(EMPTY, Ordering::Relaxed);
        }
    }

    /// The slots a probe for `hash` visits, in order (every slot once).
    fn probe(&self, hash: u64) -> impl Iterator<Item = &Slot<V>> {
        let mask = self.slots.len() - 1;
        let start = hash as usize & mask;
        (0..self.slots.len()).map(move |step| &self.slots[(start + step) & mask])
    }

    /// Fills the first empty slot of `hash`'s probe (the table has one:
    /// it is never full).
    fn fill(&self, hash: u64, key: *const Bytes, value: *const V) {
        self.probe(hash)
            .find(|slot| slot.hash.load(Ordering::Relaxed) == EMPTY)
            .expect("a table is never full")
            .publish(hash, key, value);
    }
}

/// What only the writer touches.
struct Writer {
    /// Keys held.
    live: usize,
    /// Slots not empty: keys held and tombstones.
    used: usize,
}

/// A keyed hash of byte strings: foldhash's construction (a 64×64→128-bit
/// multiply folded to 64 bits mixes two words at a time).
struct KeyHasher {
    seeds: [u64; 4],
}

impl KeyHasher {
    #[cfg(not(loom))]
    fn new() -> KeyHasher {
        let random = RandomState::new();
        KeyHasher {
            seeds: [0u64, 1, 2, 3].map(|index| random.hash_one(index)),
        }
    }

    /// Under loom every run of a model must take the same steps: fixed
    /// seeds.
    #[cfg(loom)]
    fn new() -> KeyHasher {
        KeyHasher {
            seeds: [
                0x243f_6a88_85a3_08d3,
                0x1319_8a2e_0370_7344,
                0xa409_3822_299f_31d0,
                0x082e_fa98_ec4e_6c89,
            ],
        }
    }

    fn hash(&self, key: &[u8]) -> u64 {
        let [s0, s1, s2, s3] = self.seeds;
        let mut hash = s0 ^ key.len() as u64;
        let mut rest = key;
        while let Some((chunk, tail)) = rest.split_first_chunk::<16>() {
            let (a, b) = chunk.split_at(8);
            hash = fold(word(a) ^ s1, word(b) ^ hash);
            rest = tail;
        }
        // The last 0 to 16 bytes as two words, overlapping when fewer than
        // 16 (the length was hashed first).
        let (a, b) = match rest.len() {
            8.. => (word(&rest[..8]), word(&rest[rest.len() - 8..])),
            4.. => (half(&rest[..4]), half(&rest[rest.len() - 4..])),
            1.. => {
                let (first, middle, last) = (rest[0], rest[rest.len() / 2], rest[rest.len() - 1]);
                (
                    u64::from(first) | u64::from(middle) << 8 | u64::from(last) << 16,
                    0,
                )
            }
            0 => (0, 0),
        };
        fold(a ^ s2, b ^ hash ^ s3)
    }
}

/// The 128-bit product of `x` and `y`, its halves xored.
fn fold(x: u64, y: u64) -> u64 {
    let product = u128::from(x) * u128::from(y);
    product as u64 ^ (product >> 64) as u64
}

/// Eight bytes as a word.
fn word(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().expect("eight bytes"))
}

/// Four bytes as a word.
fn half(bytes: &[u8]) -> u64 {
    u64::from(u32::from_le_bytes(bytes.try_into().expect("four bytes")))
}

/// See the module documentation.
pub struct PointIndex<V> {
    table: AtomicPtr<Table<V>>,
    hasher: KeyHasher,
    writer: Mutex<Writer>,
}

impl<V> std::fmt::Debug for PointIndex<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PointIndex").finish_non_exhaustive()
    }
}

impl<V> Default for PointIndex<V> {
    fn default() -> PointIndex<V> {
        PointIndex::new()
    }
}

// SAFETY: the index hands out `&V` to any thread and holds `Bytes`
// pointers read from any thread: both need `Sync` (and `Send`, for a
// value dropped by the thread that removed it).
unsafe impl<V: Send + Sync> Send for PointIndex<V> {}
// SAFETY: as above.
unsafe impl<V: Send + Sync> Sync for PointIndex<V> {}

impl<V> PointIndex<V> {
    /// An empty index.
    pub fn new() -> PointIndex<V> {
        PointIndex {
            table: AtomicPtr::new(Box::into_raw(Box::new(Table::new(SLOTS_MIN)))),
            hasher: KeyHasher::new(),
            writer: Mutex::new(Writer { live: 0, used: 0 }),
        }
    }

    fn hash(&self, key: &[u8]) -> u64 {
        // Never `EMPTY` or `TOMBSTONE`.
        self.hasher.hash(key) | 2
    }

    fn table<'g>(&self, _guard: &'g Guard) -> &'g Table<V> {
        // SAFETY: a table is freed only a grace period after it was
        // replaced (or with the index), and the caller is pinned.
        unsafe { &*self.table.load(Ordering::Acquire) }
    }

    /// The slot holding `key`, in `table`, or else the empty slot where
    /// its probe ends.
    fn search<'t>(table: &'t Table<V>, hash: u64, key: &[u8]) -> Result<&'t Slot<V>, &'t Slot<V>> {
        for slot in table.probe(hash) {
            match slot.hash.load(Ordering::Acquire) {
                EMPTY => return Err(slot),
                // SAFETY: the key was published with the hash (acquired
                // here), never changes, and is kept allocated by the
                // inserter until a grace period after its removal, which
                // the caller's pin has not seen end.
                held if held == hash && unsafe { (*slot.entry().0).as_ref() } == key => {
                    return Ok(slot);
                }
                _ => {}
            }
        }
        unreachable!("a table is never full")
    }

    /// The value of `key`, valid while `guard` stays pinned.
    pub fn get<'g>(&self, guard: &'g Guard, key: &[u8]) -> Option<&'g V> {
        let slot = Self::search(self.table(guard), self.hash(key), key).ok()?;
        // SAFETY: as for the key in `find`.
        Some(unsafe { &*slot.entry().1 })
    }

    /// The value of `key`, valid while `guard` stays pinned; if `key` is
    /// not indexed, indexes the key and value `make` returns first.
    ///
    /// # Safety
    /// What `make` returns points at a `Bytes` equal to `key` and at a
    /// value, both allocated, and unchanged, until a grace period of the
    /// epoch after `key` is [removed](Self::remove), or until the index is
    /// dropped.
    pub unsafe fn get_or_insert<'g>(
        &self,
        guard: &'g Guard,
        key: &[u8],
        make: impl FnOnce() -> (*const Bytes, *const V),
    ) -> &'g V {
        let hash = self.hash(key);
        let mut writer = lock(&self.writer);
        let table = self.table(guard);
        let empty = match Self::search(table, hash, key) {
            // SAFETY: as in `get`.
            Ok(slot) => return unsafe { &*slot.entry().1 },
            Err(empty) => empty,
        };
        let (key_at, value) = make();
        // SAFETY: the caller guarantees it is allocated.
        debug_assert_eq!(unsafe { (*key_at).as_ref() }, key);
        if (writer.used + 1) * 4 > table.slots.len() * 3 {
            self.rebuild(guard, table, writer.live + 1)
                .fill(hash, key_at, value);
            writer.used = writer.live;
        } else {
            empty.publish(hash, key_at, value);
        }
        writer.live += 1;
        writer.used += 1;
        // SAFETY: the caller guarantees it stays allocated while indexed,
        // and `guard` holds off its freeing once removed.
        unsafe { &*value }
    }

    /// Removes `key`; returns whether it was indexed.
    pub fn remove(&self, key: &[u8]) -> bool {
        self.remove_all([key]) == 1
    }

    /// Removes each of `keys` (under one hold of the writer's lock);
    /// returns how many were indexed. A table left an eighth full or less
    /// (of live keys) shrinks: the memory of a burst of keys is not held
    /// once they are gone.
    pub fn remove_all<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>) -> usize {
        let mut writer = lock(&self.writer);
        let guard = &pin();
        let table = self.table(guard);
        let mut removed = 0;
        for key in keys {
            if let Ok(slot) = Self::search(table, self.hash(key), key) {
                slot.hash.store(TOMBSTONE, Ordering::Release);
                removed += 1;
            }
        }
        writer.live -= removed;
        if writer.live * 8 <= table.slots.len() && table.slots.len() > SLOTS_MIN {
            self.rebuild(guard, table, writer.live);
            writer.used = writer.live;
        }
        removed
    }

    /// Slots of the current table.
    #[cfg(all(test, not(loom)))]
    fn slots(&self) -> usize {
        self.table(&pin()).slots.len()
    }

    /// Replaces `table` with a new one holding its live slots, sized for
    /// `keys` keys at most half full; the new table.
    fn rebuild<'g>(&self, guard: &'g Guard, table: &Table<V>, keys: usize) -> &'g Table<V> {
        let rebuilt = Table::new((keys * 2).next_power_of_two().max(SLOTS_MIN));
        for slot in table.slots.iter() {
            let hash = slot.hash.load(Ordering::Relaxed);
            if hash != EMPTY && hash != TOMBSTONE {
                let (key, value) = slot.entry();
                rebuilt.fill(hash, key, value);
            }
        }
        let old = self
            .table
            .swap(Box::into_raw(Box::new(rebuilt)), Ordering::AcqRel);
        // SAFETY: `old` came from `Box::into_raw`, is unreachable for
        // readers that load the table from now on, and is retired once
        // (only the writer replaces the table).
        unsafe { defer_free(guard, old) };
        self.table(guard)
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        lock(&self.writer).live
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<V> Drop for PointIndex<V> {
    fn drop(&mut self) {
        // SAFETY: nothing can reach the index any more; the table came
        // from `Box::into_raw` and was never retired.
        drop(unsafe { Box::from_raw(self.table.load(Ordering::Relaxed)) });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::collections::HashMap;

    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    /// Random inserts and removes over few keys (so that tables fill with
    /// tombstones and are rebuilt, growing and shrinking) agree with a
    /// `HashMap` at every step.
    #[test]
    fn agrees_with_a_hash_map_through_rebuilds() {
        let keys: Vec<Bytes> = (0..300).map(|i| Bytes::from(format!("k{i}"))).collect();
        let values: Vec<u64> = (0..300).collect();
        let index = PointIndex::<u64>::new();
        let mut model = HashMap::new();
        let mut rng = SmallRng::seed_from_u64(7);
        for step in 0..20_000 {
            let at = rng.random_range(0..if step % 5000 < 2500 { 300 } else { 20 });
            let (key, value) = (&keys[at], &values[at]);
            if rng.random_bool(0.6) {
                let mut inserted = false;
                let guard = &pin();
                // SAFETY: `keys` and `values` outlive the index.
                let held = unsafe {
                    index.get_or_insert(guard, key, || {
                        inserted = true;
                        (key as *const Bytes, value as *const u64)
                    })
                };
                assert_eq!(held, value);
                assert_eq!(inserted, model.insert(key.clone(), *value).is_none());
            } else {
                assert_eq!(index.remove(key), model.remove(key).is_some());
            }
            assert_eq!(index.len(), model.len());
            let probe = &keys[rng.random_range(0..300)];
            let guard = &pin();
            assert_eq!(index.get(guard, probe), model.get(probe));
        }
        assert!(!index.is_empty());
    }

    /// Keys of every length up to 40 bytes hash apart (the tail's cases),
    /// and equal keys hash alike.
    #[test]
    fn hashes_tell_short_and_long_keys_apart() {
        let hasher = KeyHasher::new();
        let mut keys: Vec<Vec<u8>> = (0..=40usize)
            .flat_map(|len| [vec![0u8; len], vec![0xa5u8; len], (1..=len as u8).collect()])
            .collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 3 * 40 + 1);
        let mut hashes: Vec<u64> = keys.iter().map(|key| hasher.hash(key)).collect();
        assert_eq!(hasher.hash(&keys[7]), hasher.hash(&keys[7].clone()));
        hashes.sort_unstable();
        hashes.dedup();
        assert_eq!(hashes.len(), keys.len());
    }

    /// The table grows with the keys and shrinks once most are gone.
    #[test]
    fn the_table_grows_and_shrinks() {
        let keys: Vec<Bytes> = (0..1000).map(|i| Bytes::from(format!("k{i}"))).collect();
        let values: Vec<u64> = (0..1000).collect();
        let index = PointIndex::<u64>::new();
        for (key, value) in keys.iter().zip(&values) {
            let guard = &pin();
            // SAFETY: `keys` and `values` outlive the index.
            unsafe {
                index.get_or_insert(guard, key, || (key as *const Bytes, value as *const u64))
            };
        }
        assert_eq!(index.slots(), 2048, "at most three quarters full");
        for key in &keys[3..] {
            assert!(index.remove(key));
        }
        assert_eq!(index.slots(), SLOTS_MIN);
        let guard = &pin();
        for (key, value) in keys.iter().zip(&values).take(3) {
            assert_eq!(index.get(guard, key), Some(value));
        }
        assert_eq!(index.get(guard, &keys[3]), None);
    }

    #[test]
    fn an_empty_index_finds_nothing() {
        let index = PointIndex::<u64>::new();
        assert!(index.is_empty());
        assert_eq!(index.get(&pin(), b"absent"), None);
        assert!(!index.remove(b"absent"));
    }
}

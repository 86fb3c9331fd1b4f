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
//! eighth full of live keys, is replaced by an empty one sized for twice
//! the live keys, and each later write moves a few of the old table's
//! slots into it (Redis's incremental rehash), so that no write, and no
//! commit holding the sequencer, pays for a whole table: readers look in
//! the new table, then in the old one until the last slot has moved, when
//! the old one is freed after a grace period. A moved slot stays in the
//! old table too (a removal marks both), so a reader that looked in the
//! new table before the slot arrived finds it in the old one. A large
//! table's pages are written a few hundred slots per write before it is
//! needed, from five eighths used on. The hash (foldhash's folded
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
    /// A table of `slots` empty slots, every page written (see
    /// [`Table::touch`]).
    fn new(slots: usize) -> Table<V> {
        let table = Table::untouched(slots);
        table.touch(0..slots);
        table
    }

    /// A table of `slots` empty slots in zeroed memory, which the OS hands
    /// out without writing it: its pages may not be mapped yet, and
    /// making it costs nothing per slot.
    #[cfg(not(loom))]
    fn untouched(slots: usize) -> Table<V> {
        use std::alloc::{Layout, alloc_zeroed, handle_alloc_error};
        debug_assert!(slots.is_power_of_two());
        let layout = Layout::array::<Slot<V>>(slots).expect("a table fits the address space");
        // SAFETY: the layout is not empty (a table has at least
        // `SLOTS_MIN` slots of 24 bytes).
        let memory = unsafe { alloc_zeroed(layout) }.cast::<Slot<V>>();
        if memory.is_null() {
            handle_alloc_error(layout);
        }
        // SAFETY: `memory` holds `slots` slots, allocated by the global
        // allocator with their array layout, as a boxed slice is; zero
        // bytes are an empty slot (its hash `EMPTY` is 0, its entry two
        // null pointers).
        let slots = unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(memory, slots)) };
        Table { slots }
    }

    /// Under loom, atomics are loom's: built one by one.
    #[cfg(loom)]
    fn untouched(slots: usize) -> Table<V> {
        Table {
            slots: (0..slots)
                .map(|_| Slot {
                    hash: AtomicU64::new(EMPTY),
                    entry: UnsafeCell::new((std::ptr::null(), std::ptr::null())),
                })
                .collect(),
        }
    }

    /// Writes the hash of each slot in `range` once, in order, before the
    /// table is published. A large table's zeros come from the OS
    /// untouched: the first probe of a page would map it to the shared
    /// zero page and the first fill then fault again, flushing every
    /// core's TLB entry for it (measured: a rebuild to 131,072 slots took
    /// 13–39 ms inside a commit, half of it those flushes). Written first,
    /// each page faults once, with no flush.
    fn touch(&self, range: std::ops::Range<usize>) {
        #[cfg(not(loom))]
        for slot in &self.slots[range] {
            slot.hash.store(EMPTY, Ordering::Relaxed);
        }
        #[cfg(loom)]
        let _ = range;
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
struct Writer<V> {
    /// Keys held.
    live: usize,
    /// Slots of the current table not empty: keys held and tombstones.
    used: usize,
    /// While a resize is under way: the slots of the previous table
    /// already moved (from its first on).
    moved: usize,
    /// While a resize is under way: keys of the previous table not moved
    /// yet, which the current one must still make room for.
    pending: usize,
    /// The larger table the next growth will publish, readied (its pages
    /// written) a few slots per write once the current one is five eighths
    /// used, so that no write pays for a large table's pages at once.
    next: Option<Box<Table<V>>>,
    /// Slots of `next` written so far (from its first on).
    readied: usize,
    /// Slots written for resizes since a test last looked.
    #[cfg(all(test, not(loom)))]
    written: usize,
}

impl<V> Writer<V> {
    /// Counts `slots` written for a resize (moved, readied, or in a table
    /// built at once): the tests bound what one write does.
    fn wrote(&mut self, slots: usize) {
        #[cfg(all(test, not(loom)))]
        {
            self.written += slots;
        }
        let _ = slots;
    }
}

/// Slots of the previous table a write moves into the current one while a
/// resize is under way (per key removed, too). The current table is sized
/// for twice the live keys, so it takes at least half as many new keys
/// before it fills; the previous one has at most `8/3` slots per live key
/// — moved at 16 a write, it is gone well before. (Four under loom, so
/// that the models see a resize half done.)
#[cfg(not(loom))]
const SLOTS_MOVED_PER_WRITE: usize = 16;
#[cfg(loom)]
const SLOTS_MOVED_PER_WRITE: usize = 4;

/// Slots of the next table a write readies. A growth to `2n` slots is
/// readied from five eighths to three quarters of the current `n` used:
/// over at least `n / 8` inserts, at `2n / 256` slots each; a resize
/// that comes sooner (keys removed and inserted again) writes what is
/// left itself.
const SLOTS_READIED_PER_WRITE: usize = 256;

/// A growth to fewer slots than this builds its table at once (a few
/// hundred KiB at most): only larger ones are readied ahead.
const READIED_SLOTS_MIN: usize = 1 << 14;

/// Slots of a table for `keys` keys: at most half full.
fn slots_for(keys: usize) -> usize {
    (keys * 2).next_power_of_two().max(SLOTS_MIN)
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
    /// While a resize is under way, the table `table` replaced, whose live
    /// slots the writer moves into `table` a few at a time; null
    /// otherwise. Set before `table` is replaced, cleared once every live
    /// slot has been moved.
    previous: AtomicPtr<Table<V>>,
    hasher: KeyHasher,
    writer: Mutex<Writer<V>>,
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
            previous: AtomicPtr::new(std::ptr::null_mut()),
            hasher: KeyHasher::new(),
            writer: Mutex::new(Writer {
                live: 0,
                used: 0,
                moved: 0,
                pending: 0,
                next: None,
                readied: 0,
                #[cfg(all(test, not(loom)))]
                written: 0,
            }),
        }
    }

    fn hash(&self, key: &[u8]) -> u64 {
        // Never `EMPTY` or `TOMBSTONE`.
        self.hasher.hash(key) | 2
    }

    /// The current table and, while a resize is under way, the previous
    /// one: loaded in that order, so that a reader that sees the new table
    /// sees the previous one (stored before it) or, once the resize is
    /// done, every slot moved out of it.
    fn tables<'g>(&self, _guard: &'g Guard) -> (&'g Table<V>, Option<&'g Table<V>>) {
        let table = self.table.load(Ordering::Acquire);
        let previous = self.previous.load(Ordering::Acquire);
        // SAFETY: a table is freed only a grace period after it stopped
        // being reachable from `table` and `previous` (or with the index),
        // and the caller is pinned.
        unsafe { (&*table, previous.as_ref()) }
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

    /// The slot holding `key` in the current table, else in the previous
    /// one: a slot is copied into the current table before the previous
    /// one is let go, and never removed from the previous one but with its
    /// key.
    fn find<'g>(
        tables: (&'g Table<V>, Option<&'g Table<V>>),
        hash: u64,
        key: &[u8],
    ) -> Option<&'g Slot<V>> {
        let (table, previous) = tables;
        match (Self::search(table, hash, key), previous) {
            (Ok(slot), _) => Some(slot),
            (Err(_), Some(previous)) => Self::search(previous, hash, key).ok(),
            (Err(_), None) => None,
        }
    }

    /// The value of `key`, valid while `guard` stays pinned.
    pub fn get<'g>(&self, guard: &'g Guard, key: &[u8]) -> Option<&'g V> {
        let slot = Self::find(self.tables(guard), self.hash(key), key)?;
        // SAFETY: as for the key in `search`.
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
        let tables = self.tables(guard);
        if let Some(slot) = Self::find(tables, hash, key) {
            // SAFETY: as in `get`.
            return unsafe { &*slot.entry().1 };
        }
        let (key_at, value) = make();
        // SAFETY: the caller guarantees it is allocated.
        debug_assert_eq!(unsafe { (*key_at).as_ref() }, key);
        let (table, _) = tables;
        if (writer.used + writer.pending + 1) * 4 > table.slots.len() * 3 {
            let keys = writer.live + 1;
            self.resize(guard, &mut writer, keys);
        }
        self.tables(guard).0.fill(hash, key_at, value);
        writer.live += 1;
        writer.used += 1;
        self.move_slots(guard, &mut writer, SLOTS_MOVED_PER_WRITE);
        self.ready_next(guard, &mut writer);
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
        let (table, previous) = self.tables(guard);
        let mut removed = 0;
        for key in keys {
            let hash = self.hash(key);
            // In both tables: a key already moved is still in the previous
            // one, where a reader may look.
            let current = Self::search(table, hash, key).ok();
            let before = previous.and_then(|previous| Self::search(previous, hash, key).ok());
            for slot in current.iter().chain(&before) {
                slot.hash.store(TOMBSTONE, Ordering::Release);
            }
            if current.is_none() && before.is_some() {
                writer.pending -= 1;
            }
            removed += usize::from(current.is_some() || before.is_some());
        }
        writer.live -= removed;
        self.move_slots(guard, &mut writer, removed * SLOTS_MOVED_PER_WRITE);
        if writer.live * 8 <= table.slots.len() && table.slots.len() > SLOTS_MIN {
            let keys = writer.live;
            self.resize(guard, &mut writer, keys);
        }
        removed
    }

    /// Slots of the current table.
    #[cfg(all(test, not(loom)))]
    fn slots(&self) -> usize {
        self.tables(&pin()).0.slots.len()
    }

    /// Whether a resize is under way.
    #[cfg(all(test, not(loom)))]
    fn resizing(&self) -> bool {
        self.tables(&pin()).1.is_some()
    }

    /// The keys of the previous table not moved yet, in slot order: the
    /// loom models race readers of these against the writes that move
    /// them.
    #[cfg(loom)]
    pub fn unmoved_keys(&self) -> Vec<Bytes> {
        let writer = lock(&self.writer);
        let guard = &pin();
        let Some(previous) = self.tables(guard).1 else {
            return Vec::new();
        };
        previous.slots[writer.moved..]
            .iter()
            .filter(|slot| !matches!(slot.hash.load(Ordering::Relaxed), EMPTY | TOMBSTONE))
            // SAFETY: as in `search`; the caller keeps the keys allocated.
            .map(|slot| unsafe { (*slot.entry().0).clone() })
            .collect()
    }

    /// Slots written for resizes since the last call.
    #[cfg(all(test, not(loom)))]
    fn take_written(&self) -> usize {
        std::mem::take(&mut lock(&self.writer).written)
    }

    /// Starts replacing the current table with an empty one sized for
    /// `keys` keys at most half full, whose live slots later writes move
    /// over a few at a time (Redis's incremental rehash): no write pays for
    /// a whole table. A resize still under way is finished first.
    fn resize(&self, guard: &Guard, writer: &mut Writer<V>, keys: usize) {
        self.move_slots(guard, writer, usize::MAX);
        let slots = slots_for(keys);
        let resized = match writer.next.take() {
            Some(next) if next.slots.len() == slots => {
                next.touch(writer.readied..slots);
                writer.wrote(slots - writer.readied);
                next
            }
            _ => {
                writer.wrote(slots);
                Box::new(Table::new(slots))
            }
        };
        let resized = Box::into_raw(resized);
        let (table, _) = self.tables(guard);
        // The previous table first: a reader that sees the new one sees it.
        self.previous
            .store(std::ptr::from_ref(table).cast_mut(), Ordering::Release);
        self.table.store(resized, Ordering::Release);
        writer.used = 0;
        writer.moved = 0;
        writer.pending = writer.live;
    }

    /// Moves up to `count` slots of the previous table, in order, into the
    /// current one; once the last is moved, lets the previous table go.
    fn move_slots(&self, guard: &Guard, writer: &mut Writer<V>, count: usize) {
        let (table, Some(previous)) = self.tables(guard) else {
            return;
        };
        let end = previous.slots.len().min(writer.moved.saturating_add(count));
        for slot in &previous.slots[writer.moved..end] {
            let hash = slot.hash.load(Ordering::Relaxed);
            if hash != EMPTY && hash != TOMBSTONE {
                let (key, value) = slot.entry();
                table.fill(hash, key, value);
                writer.used += 1;
                writer.pending -= 1;
            }
        }
        writer.wrote(end - writer.moved);
        writer.moved = end;
        if end < previous.slots.len() {
            return;
        }
        // Every live slot is in the current table (published there with
        // release before this store): readers may stop looking back.
        self.previous.store(std::ptr::null_mut(), Ordering::Release);
        debug_assert_eq!(writer.pending, 0, "every key was moved");
        writer.moved = 0;
        // SAFETY: the previous table came from `Box::into_raw`, is now
        // unreachable for readers that load the tables from now on, and is
        // retired once (only the writer clears `previous`).
        unsafe { defer_free(guard, std::ptr::from_ref(previous).cast_mut()) };
    }

    /// Readies the table the next growth will want, a few slots per write,
    /// once the current table is five eighths used (and no resize is under
    /// way): the size is the one that growth will ask for if keys keep
    /// coming without removals.
    fn ready_next(&self, guard: &Guard, writer: &mut Writer<V>) {
        let (table, previous) = self.tables(guard);
        let len = table.slots.len();
        if previous.is_some() || writer.used * 8 < len * 5 {
            return;
        }
        if writer.next.is_none() {
            let keys = writer.live + (len * 3 / 4).saturating_sub(writer.used) + 1;
            if slots_for(keys) < READIED_SLOTS_MIN {
                return;
            }
            writer.next = Some(Box::new(Table::untouched(slots_for(keys))));
            writer.readied = 0;
        }
        if let Some(next) = &writer.next {
            let end = next
                .slots
                .len()
                .min(writer.readied + SLOTS_READIED_PER_WRITE);
            next.touch(writer.readied..end);
            let readied = end - writer.readied;
            writer.wrote(readied);
            writer.readied = end;
        }
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
        // SAFETY: nothing can reach the index any more; the tables came
        // from `Box::into_raw` and were never retired.
        drop(unsafe { Box::from_raw(self.table.load(Ordering::Relaxed)) });
        let previous = self.previous.load(Ordering::Relaxed);
        if !previous.is_null() {
            // SAFETY: as above.
            drop(unsafe { Box::from_raw(previous) });
        }
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

    /// Bursts of inserts and of batched removals over 20,000 keys (tables
    /// past the size readied ahead, resizes started while others are under
    /// way, shrinks) agree with a `HashMap` for every key, looked up every
    /// thousand steps.
    #[test]
    fn agrees_with_a_hash_map_through_large_resizes() {
        const KEYS: usize = 20_000;
        let keys: Vec<Bytes> = (0..KEYS).map(|i| Bytes::from(format!("key-{i}"))).collect();
        let values: Vec<u64> = (0..KEYS as u64).collect();
        let index = PointIndex::<u64>::new();
        let mut model = HashMap::new();
        let mut rng = SmallRng::seed_from_u64(11);
        for step in 0..40_000 {
            // Phases: fill, churn a tenth, drain, churn a few.
            let phase = (step / 3000) % 4;
            let range = [KEYS, KEYS / 10, KEYS, 50][phase];
            if rng.random_bool([0.9, 0.5, 0.1, 0.5][phase]) {
                let at = rng.random_range(0..range);
                let (key, value) = (&keys[at], &values[at]);
                let guard = &pin();
                // SAFETY: `keys` and `values` outlive the index.
                let held = unsafe {
                    index.get_or_insert(guard, key, || (key as *const Bytes, value as *const u64))
                };
                assert_eq!(held, value);
                model.insert(key.clone(), *value);
            } else {
                let mut batch: Vec<usize> = (0..rng.random_range(1..40))
                    .map(|_| rng.random_range(0..range))
                    .collect();
                batch.sort_unstable();
                batch.dedup();
                let removed = batch
                    .iter()
                    .filter(|&&at| model.remove(&keys[at]).is_some())
                    .count();
                let batch = batch.iter().map(|&at| keys[at].as_ref());
                assert_eq!(index.remove_all(batch), removed);
            }
            assert_eq!(index.len(), model.len());
            if step % 1000 == 0 {
                let guard = &pin();
                for key in &keys {
                    assert_eq!(index.get(guard, key), model.get(key), "step {step}");
                }
            }
        }
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

    /// 300,000 keys: tables grow to 512 Ki slots, none built or moved at
    /// once. No insert writes more than a few hundred slots for a resize,
    /// every key is found at every step (some while its slot has moved
    /// and some while it has not), and removing most of them shrinks the
    /// table the same way.
    #[test]
    fn no_write_pays_for_a_whole_table() {
        let count = 300_000;
        let keys: Vec<Bytes> = (0..count)
            .map(|i| Bytes::from(format!("key{i:08}")))
            .collect();
        let values: Vec<u64> = (0..count as u64).collect();
        let index = PointIndex::<u64>::new();
        let mut rng = SmallRng::seed_from_u64(11);
        let (mut most, mut resizing) = (0, 0);
        for (at, (key, value)) in keys.iter().zip(&values).enumerate() {
            let guard = &pin();
            // SAFETY: `keys` and `values` outlive the index.
            unsafe {
                index.get_or_insert(guard, key, || (key as *const Bytes, value as *const u64))
            };
            let written = index.take_written();
            // Tables up to `READIED_SLOTS_MIN` are still built at once.
            if index.slots() > READIED_SLOTS_MIN {
                most = most.max(written);
            }
            resizing += usize::from(index.resizing());
            let probe = rng.random_range(0..=at);
            assert_eq!(
                index.get(guard, &keys[probe]),
                Some(&values[probe]),
                "key {probe} after {at}"
            );
        }
        assert_eq!(index.slots(), 1 << 19);
        assert!(
            resizing > 1000,
            "resizes were under way for {resizing} inserts"
        );
        assert!(
            most <= SLOTS_MOVED_PER_WRITE + SLOTS_READIED_PER_WRITE,
            "an insert wrote {most} slots for a resize"
        );
        for key in &keys[1000..] {
            assert!(index.remove(key));
        }
        assert!(
            index.take_written() < count * 4,
            "shrinking moved each slot about once"
        );
        let guard = &pin();
        for (key, value) in keys.iter().zip(&values).take(1000) {
            assert_eq!(index.get(guard, key), Some(value));
        }
        assert_eq!(index.get(guard, &keys[1000]), None);
        assert_eq!(index.len(), 1000);
        assert!(index.slots() <= 4096);
    }

    #[test]
    fn an_empty_index_finds_nothing() {
        let index = PointIndex::<u64>::new();
        assert!(index.is_empty());
        assert_eq!(index.get(&pin(), b"absent"), None);
        assert!(!index.remove(b"absent"));
    }
}

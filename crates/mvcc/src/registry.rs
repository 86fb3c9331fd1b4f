//! The active-transaction registry: which read timestamps are in use (so
//! the safe point never passes a reader, BRIEF invariant 3) and which
//! transactions began before a given moment (so a fold's grace period can
//! wait for them, BRIEF invariant 2).
//!
//! Sharded by thread so that beginning and ending transactions on different
//! threads rarely meet on one lock. A transaction's read timestamp is read
//! from the watermark *under its shard's lock*, and the safe point reads the
//! watermark *before* locking the shards; so a transaction the safe point's
//! scan misses reads a watermark at least as new as the safe point's.
//!
//! Public so that the loom model (`tests/loom_fold.rs`) exercises this
//! exact code; the engine does not use it directly.

use crossbeam_utils::CachePadded;
use keel_tso::Timestamp;
use smallvec::SmallVec;

use crate::sync::{AtomicU64, AtomicUsize, Mutex, Ordering, lock};
use crate::watermark::Watermark;

/// Shards of the registry.
pub const REGISTRY_SHARDS: usize = 16;

/// Registered transactions a shard holds without allocating; beyond it the
/// shard spills to the heap (any number of transactions can register).
pub const SHARD_INLINE_TRANSACTIONS: usize = 8;

#[derive(Debug, Clone, Copy)]
struct Registered {
    sequence: u64,
    read_timestamp: Timestamp,
    /// Still in the grace set (it may be reading the base).
    in_grace_set: bool,
}

/// The transactions registered through one shard. Few per shard, so a
/// small unsorted vector (linear scans) beats a tree, and allocates
/// nothing while it stays small.
#[derive(Debug, Default)]
struct Shard {
    registered: SmallVec<[Registered; SHARD_INLINE_TRANSACTIONS]>,
}

impl Shard {
    fn position(&self, sequence: u64) -> usize {
        match self
            .registered
            .iter()
            .position(|registered| registered.sequence == sequence)
        {
            Some(position) => position,
            None => panic!("transaction {sequence} is not registered"),
        }
    }
}

/// A registered transaction.
#[derive(Debug)]
pub struct Registration {
    shard: usize,
    sequence: u64,
    read_timestamp: Timestamp,
    in_grace_set: bool,
}

impl Registration {
    /// The read timestamp handed out.
    pub fn read_timestamp(&self) -> Timestamp {
        self.read_timestamp
    }
}

/// The active-transaction registry (see the module documentation).
#[derive(Debug)]
pub struct Registry {
    shards: Box<[CachePadded<Mutex<Shard>>]>,
    next_sequence: AtomicU64,
    active: AtomicUsize,
}

#[cfg(not(loom))]
static NEXT_THREAD_SHARD: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[cfg(not(loom))]
thread_local! {
    static THREAD_SHARD: usize =
        NEXT_THREAD_SHARD.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % REGISTRY_SHARDS;
}

/// This thread's shard.
#[cfg(not(loom))]
fn thread_shard() -> usize {
    THREAD_SHARD.with(|shard| *shard)
}

/// Under loom every thread uses one shard (loom's threads are not OS
/// threads); the protocol does not depend on the choice.
#[cfg(loom)]
fn thread_shard() -> usize {
    0
}

impl Default for Registry {
    fn default() -> Registry {
        Registry::new()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry {
            shards: (0..REGISTRY_SHARDS)
                .map(|_| CachePadded::new(Mutex::new(Shard::default())))
                .collect(),
            next_sequence: AtomicU64::new(0),
            active: AtomicUsize::new(0),
        }
    }

    /// Registers a transaction and hands it its read timestamp, the visible
    /// watermark now.
    pub fn register(&self, watermark: &Watermark) -> Registration {
        let shard_index = thread_shard();
        let mut shard = lock(&self.shards[shard_index]);
        let sequence = self.next_sequence.fetch_add(1, Ordering::AcqRel);
        let read_timestamp = watermark.visible();
        shard.registered.push(Registered {
            sequence,
            read_timestamp,
            in_grace_set: true,
        });
        drop(shard);
        self.active.fetch_add(1, Ordering::Relaxed);
        Registration {
            shard: shard_index,
            sequence,
            read_timestamp,
            in_grace_set: true,
        }
    }

    /// The transaction reads no more (it is committing): a fold's grace
    /// period need not wait for it. Its read timestamp stays registered.
    pub fn leave_grace_set(&self, registration: &mut Registration) {
        if registration.in_grace_set {
            registration.in_grace_set = false;
            let mut shard = lock(&self.shards[registration.shard]);
            let position = shard.position(registration.sequence);
            shard.registered[position].in_grace_set = false;
        }
    }

    /// Raises the registered read timestamp of a transaction that left the
    /// grace set (it reads no more) to `to`, if that is newer, so that the
    /// safe point may pass what it had read: a committer waiting for the
    /// fold, validated through `to` (which may be above the visible
    /// watermark; the safe point never is). The transaction's own snapshot
    /// ([`Registration::read_timestamp`]) is unchanged.
    pub fn raise_read_timestamp(&self, registration: &Registration, to: Timestamp) {
        debug_assert!(!registration.in_grace_set, "a reader's snapshot must stay");
        let mut shard = lock(&self.shards[registration.shard]);
        let position = shard.position(registration.sequence);
        let registered = &mut shard.registered[position];
        registered.read_timestamp = registered.read_timestamp.max(to);
    }

    /// The transaction ended.
    pub fn unregister(&self, registration: Registration) {
        let mut shard = lock(&self.shards[registration.shard]);
        let position = shard.position(registration.sequence);
        shard.registered.swap_remove(position);
        drop(shard);
        self.active.fetch_sub(1, Ordering::Relaxed);
    }

    /// The highest timestamp a fold may use now: the older of the oldest
    /// registered read timestamp and the visible watermark. The watermark is
    /// read first, then the shards (see the module documentation).
    pub fn safe_point(&self, watermark: &Watermark) -> Timestamp {
        let visible = watermark.visible();
        match self.oldest_read_timestamp() {
            Some(oldest) => oldest.min(visible),
            None => visible,
        }
    }

    /// The oldest registered read timestamp.
    pub fn oldest_read_timestamp(&self) -> Option<Timestamp> {
        self.shards
            .iter()
            .filter_map(|shard| {
                lock(shard)
                    .registered
                    .iter()
                    .map(|registered| registered.read_timestamp)
                    .min()
            })
            .min()
    }

    /// The sequence number the next registration takes: every transaction
    /// registered before this call has a smaller one.
    ///
    /// A read-modify-write, not a load: registrations are read-modify-writes
    /// of the same counter, so either this one comes first in the counter's
    /// modification order and the registration acquires it (and with it
    /// every base write the caller made before), or the registration comes
    /// first and is counted below the fence. A plain load would allow both
    /// to miss each other (store buffering) — found by `tests/loom_fold.rs`.
    pub fn next_sequence(&self) -> u64 {
        self.next_sequence.fetch_add(0, Ordering::AcqRel)
    }

    /// Whether every transaction that registered before `fence` (a
    /// `next_sequence()` value) has left the grace set.
    pub fn all_left_before(&self, fence: u64) -> bool {
        self.shards.iter().all(|shard| {
            lock(shard)
                .registered
                .iter()
                .all(|registered| !registered.in_grace_set || registered.sequence >= fence)
        })
    }

    /// Transactions registered now.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn at(raw: u64) -> Timestamp {
        Timestamp::from_u64(raw)
    }

    #[test]
    fn tracks_the_oldest_read_timestamp_and_the_grace_set() {
        let watermark = Watermark::new(at(5));
        let registry = Registry::new();
        assert_eq!(registry.oldest_read_timestamp(), None);
        let first = registry.register(&watermark);
        watermark.begin(at(6));
        watermark.finish(at(6));
        let mut second = registry.register(&watermark);
        let also_second = registry.register(&watermark);
        assert_eq!(first.read_timestamp(), at(5));
        assert_eq!(second.read_timestamp(), at(6));
        assert_eq!(registry.active(), 3);
        assert_eq!(registry.oldest_read_timestamp(), Some(at(5)));
        let fence = registry.next_sequence();
        assert!(!registry.all_left_before(fence));
        registry.unregister(first);
        assert_eq!(registry.oldest_read_timestamp(), Some(at(6)));
        registry.leave_grace_set(&mut second);
        assert!(
            !registry.all_left_before(fence),
            "one registered before the fence is still in"
        );
        registry.unregister(also_second);
        assert!(registry.all_left_before(fence));
        // Leaving the grace set keeps the read timestamp registered.
        assert_eq!(registry.oldest_read_timestamp(), Some(at(6)));
        let late = registry.register(&watermark);
        assert!(
            registry.all_left_before(fence),
            "registered after the fence"
        );
        registry.unregister(second);
        registry.unregister(late);
        assert_eq!(registry.active(), 0);
        assert_eq!(registry.oldest_read_timestamp(), None);
    }
}

//! [`HybridClock`]: a lock-free hybrid logical clock, and the wall clocks it
//! reads ([`PhysicalClock`]: [`SystemClock`], [`ManualClock`]).
//!
//! Invariant: every timestamp the clock issues (from `now`, `update` or
//! `reserve`) is strictly greater than every timestamp it issued before and
//! than the last `advance_to` target, whatever the wall clock does.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::sync::{AtomicU64, Ordering};
use crate::timestamp::{PHYSICAL_MAX_MS, Timestamp};
use crate::timestamp_range::TimestampRange;

/// How far ahead of the local wall clock a remote timestamp may be before
/// [`HybridClock::update`] rejects it, unless configured otherwise. 500 ms is
/// the default maximum offset of CockroachDB, a well-tried HLC deployment.
pub const DEFAULT_MAX_OFFSET_MS: u64 = 500;

/// A wall clock: milliseconds since the Unix epoch. It may jump backwards
/// (an NTP step, a test); the hybrid clock stays monotonic anyway.
pub trait PhysicalClock: Send + Sync {
    /// Milliseconds since the Unix epoch, now.
    fn now_ms(&self) -> u64;
}

impl<C: PhysicalClock + ?Sized> PhysicalClock for Arc<C> {
    fn now_ms(&self) -> u64 {
        (**self).now_ms()
    }
}

impl<C: PhysicalClock + ?Sized> PhysicalClock for &C {
    fn now_ms(&self) -> u64 {
        (**self).now_ms()
    }
}

/// The operating system's wall clock (`SystemTime::now`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl PhysicalClock for SystemClock {
    fn now_ms(&self) -> u64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(since_epoch) => u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX),
            // A wall clock set before 1970 reads as the epoch; the logical
            // counter keeps timestamps increasing meanwhile.
            Err(_) => 0,
        }
    }
}

/// A wall clock that only moves when told to, forwards or backwards: for
/// tests and simulations.
///
/// ```
/// use keel_tso::{HybridClock, ManualClock, PhysicalClock};
/// use std::sync::Arc;
///
/// let wall = Arc::new(ManualClock::new(1_000));
/// let clock = HybridClock::new(wall.clone(), 500);
/// let before = clock.now();
/// wall.set_ms(900); // the wall clock goes backwards
/// assert!(clock.now() > before);
/// ```
#[derive(Debug)]
pub struct ManualClock {
    now_ms: AtomicU64,
}

impl ManualClock {
    /// A clock that reads `now_ms` until moved.
    pub fn new(now_ms: u64) -> ManualClock {
        ManualClock {
            now_ms: AtomicU64::new(now_ms),
        }
    }

    /// Sets the time, possibly backwards.
    pub fn set_ms(&self, now_ms: u64) {
        self.now_ms.store(now_ms, Ordering::SeqCst);
    }

    /// Moves the time forwards by `delta_ms` (saturating at `u64::MAX`).
    pub fn advance_ms(&self, delta_ms: u64) {
        let mut current = self.now_ms.load(Ordering::SeqCst);
        loop {
            let next = current.saturating_add(delta_ms);
            match self.now_ms.compare_exchange_weak(
                current,
                next,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return,
                Err(actual) => current = actual,
            }
        }
    }
}

impl PhysicalClock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.now_ms.load(Ordering::SeqCst)
    }
}

/// A hybrid logical clock: timestamps follow the wall clock when it moves
/// forwards and count logically when it stalls or goes backwards, so they
/// are strictly increasing, unique, and close to real time.
///
/// Lock-free: the whole state is the last issued timestamp in one
/// `AtomicU64`, advanced by compare-and-swap.
///
/// ```
/// use keel_tso::HybridClock;
///
/// let clock = HybridClock::system();
/// let first = clock.now();
/// let second = clock.now();
/// assert!(second > first);
/// let batch = clock.reserve(100)?;
/// assert!(batch.first() > second && batch.count() == 100);
/// # Ok::<(), keel_tso::Error>(())
/// ```
pub struct HybridClock<C: PhysicalClock = SystemClock> {
    physical_clock: C,
    /// The raw value of the last timestamp issued (or advanced to).
    last: AtomicU64,
    max_offset_ms: u64,
}

impl HybridClock<SystemClock> {
    /// A clock over the system wall clock, with [`DEFAULT_MAX_OFFSET_MS`].
    pub fn system() -> HybridClock<SystemClock> {
        HybridClock::new(SystemClock, DEFAULT_MAX_OFFSET_MS)
    }
}

impl Default for HybridClock<SystemClock> {
    fn default() -> Self {
        HybridClock::system()
    }
}

impl<C: PhysicalClock> HybridClock<C> {
    /// A clock over `physical_clock` that has issued nothing yet.
    /// [`HybridClock::update`] rejects remote timestamps more than
    /// `max_offset_ms` ahead of `physical_clock`.
    pub fn new(physical_clock: C, max_offset_ms: u64) -> HybridClock<C> {
        HybridClock {
            physical_clock,
            last: AtomicU64::new(Timestamp::ZERO.as_u64()),
            max_offset_ms,
        }
    }

    /// A new timestamp, strictly greater than every one issued before:
    /// `(wall clock, 0)` if the wall clock is ahead of the last timestamp's
    /// physical part, else the last timestamp's successor (which may carry
    /// the physical part past the wall clock; it comes back when the wall
    /// clock catches up).
    ///
    /// # Panics
    ///
    /// If [`Timestamp::MAX`] was issued already, which takes a wall clock or
    /// an [`HybridClock::advance_to`] in the year 10889.
    /// [`HybridClock::reserve`] reports that case as an error instead.
    #[inline]
    pub fn now(&self) -> Timestamp {
        match self.issue(Timestamp::ZERO, 1) {
            Ok(range) => range.first(),
            Err(error) => panic!("hybrid clock: {error}"),
        }
    }

    /// A new timestamp, as from [`HybridClock::now`], or
    /// [`Error::Exhausted`] after [`Timestamp::MAX`].
    pub(crate) fn try_now(&self) -> Result<Timestamp> {
        self.issue(Timestamp::ZERO, 1).map(|range| range.first())
    }

    /// Takes in a timestamp received from another node and returns a new
    /// timestamp strictly greater than it and than every timestamp issued
    /// before.
    ///
    /// Fails with [`Error::ClockSkew`], leaving the clock unchanged, if
    /// `remote`'s physical part is more than the maximum offset ahead of the
    /// local wall clock: accepting it would drag every later local timestamp
    /// that far into the future.
    pub fn update(&self, remote: Timestamp) -> Result<Timestamp> {
        let local_wall_ms = self.physical_clock.now_ms();
        if remote.physical_ms() > local_wall_ms.saturating_add(self.max_offset_ms) {
            return Err(Error::ClockSkew {
                remote,
                local_wall_ms,
                max_offset_ms: self.max_offset_ms,
            });
        }
        let issued = self.issue_at(remote, 1, local_wall_ms)?.first();
        debug_assert!(issued > remote);
        Ok(issued)
    }

    /// `count` consecutive timestamps (by raw value) in one compare-and-swap,
    /// all strictly greater than every timestamp issued before.
    ///
    /// Fails with [`Error::EmptyBatch`] for a `count` of zero and
    /// [`Error::Exhausted`] if fewer than `count` timestamps are left.
    pub fn reserve(&self, count: u32) -> Result<TimestampRange> {
        if count == 0 {
            return Err(Error::EmptyBatch);
        }
        self.issue(Timestamp::ZERO, count)
    }

    /// The last timestamp issued or advanced to, without issuing one.
    pub fn last(&self) -> Timestamp {
        Timestamp::from_u64(self.last.load(Ordering::Acquire))
    }

    /// Makes every timestamp issued from now on strictly greater than
    /// `timestamp`, without the skew check of [`HybridClock::update`]: for
    /// recovery, with timestamps this node persisted itself.
    pub fn advance_to(&self, timestamp: Timestamp) {
        self.last.fetch_max(timestamp.as_u64(), Ordering::AcqRel);
    }

    /// The maximum offset [`HybridClock::update`] accepts, in milliseconds.
    pub fn max_offset_ms(&self) -> u64 {
        self.max_offset_ms
    }

    /// The wall clock this clock reads.
    pub fn physical_clock(&self) -> &C {
        &self.physical_clock
    }

    /// Issues `count >= 1` consecutive timestamps, all greater than `floor`.
    #[inline]
    fn issue(&self, floor: Timestamp, count: u32) -> Result<TimestampRange> {
        self.issue_at(floor, count, self.physical_clock.now_ms())
    }

    /// The compare-and-swap loop behind every issuing method. The wall clock
    /// is read once, before the loop: after losing a race, a retry with that
    /// reading still issues above the new last value, which is all that
    /// correctness needs.
    #[inline]
    fn issue_at(&self, floor: Timestamp, count: u32, wall_ms: u64) -> Result<TimestampRange> {
        debug_assert!(count >= 1);
        let wall_ms = wall_ms.min(PHYSICAL_MAX_MS);
        let extra = u64::from(count) - 1;
        let exhausted = |previous: u64| Error::Exhausted {
            last: Timestamp::from_u64(previous),
            count: u64::from(count),
        };
        let mut last = self.last.load(Ordering::Acquire);
        loop {
            let previous = last.max(floor.as_u64());
            let first = if wall_ms > Timestamp::from_u64(previous).physical_ms() {
                Timestamp::from_parts(wall_ms, 0).as_u64()
            } else {
                previous.checked_add(1).ok_or_else(|| exhausted(previous))?
            };
            let end = first
                .checked_add(extra)
                .ok_or_else(|| exhausted(previous))?;
            match self
                .last
                .compare_exchange_weak(last, end, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    debug_assert!(first > previous && end >= first);
                    return Ok(TimestampRange::from_ordered(
                        Timestamp::from_u64(first),
                        Timestamp::from_u64(end),
                    ));
                }
                Err(actual) => last = actual,
            }
        }
    }
}

impl<C: PhysicalClock> fmt::Debug for HybridClock<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HybridClock")
            .field("last", &self.last())
            .field("max_offset_ms", &self.max_offset_ms)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::timestamp::LOGICAL_MAX;

    fn clock_at(wall_ms: u64) -> HybridClock<ManualClock> {
        HybridClock::new(ManualClock::new(wall_ms), 100)
    }

    #[test]
    fn follows_the_wall_clock_when_it_moves_forwards() {
        let clock = clock_at(1_000);
        assert_eq!(clock.now(), Timestamp::new(1_000, 0).unwrap());
        assert_eq!(clock.now(), Timestamp::new(1_000, 1).unwrap());
        clock.physical_clock().set_ms(1_005);
        assert_eq!(clock.now(), Timestamp::new(1_005, 0).unwrap());
    }

    #[test]
    fn counts_logically_when_the_wall_clock_goes_backwards() {
        let clock = clock_at(1_000);
        clock.now();
        clock.physical_clock().set_ms(10);
        assert_eq!(clock.now(), Timestamp::new(1_000, 1).unwrap());
        assert_eq!(clock.last(), Timestamp::new(1_000, 1).unwrap());
    }

    #[test]
    fn logical_overflow_advances_the_physical_part_past_the_wall_clock() {
        let clock = clock_at(1_000);
        let mut previous = clock.now();
        for _ in 0..u32::from(LOGICAL_MAX) + 10 {
            let next = clock.now();
            assert!(next > previous);
            previous = next;
        }
        // (1000, 0) plus 65 545 successors: a full millisecond of 65 536
        // logical values, then 9 into the next.
        assert_eq!((previous.physical_ms(), previous.logical()), (1_001, 9));
    }

    #[test]
    fn update_moves_past_the_remote_timestamp() {
        let clock = clock_at(1_000);
        let remote = Timestamp::new(1_050, 7).unwrap();
        assert_eq!(
            clock.update(remote).unwrap(),
            Timestamp::new(1_050, 8).unwrap()
        );
        // A remote timestamp behind the clock still yields a new local one.
        assert_eq!(
            clock.update(Timestamp::new(900, 0).unwrap()).unwrap(),
            Timestamp::new(1_050, 9).unwrap()
        );
    }

    #[test]
    fn update_rejects_skew_and_leaves_the_clock_unchanged() {
        let clock = clock_at(1_000);
        let before = clock.now();
        let remote = Timestamp::new(1_101, 0).unwrap();
        match clock.update(remote) {
            Err(Error::ClockSkew {
                remote: rejected,
                local_wall_ms,
                max_offset_ms,
            }) => {
                assert_eq!(
                    (rejected, local_wall_ms, max_offset_ms),
                    (remote, 1_000, 100)
                );
            }
            other => panic!("expected a skew error, got {other:?}"),
        }
        assert_eq!(clock.last(), before);
        // Exactly at the maximum offset is accepted.
        assert!(clock.update(Timestamp::new(1_100, 0).unwrap()).unwrap() > before);
    }

    #[test]
    fn reserve_hands_out_consecutive_raw_values() {
        let clock = clock_at(1_000);
        let single = clock.now();
        let range = clock.reserve(70_000).unwrap();
        assert_eq!(range.first(), single.successor().unwrap());
        assert_eq!(range.count(), 70_000);
        assert_eq!(clock.last(), range.last());
        assert!(clock.now() > range.last());
        assert!(matches!(clock.reserve(0), Err(Error::EmptyBatch)));
    }

    #[test]
    fn advance_to_bounds_every_later_timestamp() {
        let clock = clock_at(1_000);
        let target = Timestamp::new(5_000, 3).unwrap();
        clock.advance_to(target);
        assert_eq!(clock.now(), target.successor().unwrap());
        // Advancing backwards is a no-op.
        clock.advance_to(Timestamp::new(1, 0).unwrap());
        assert!(clock.now() > target);
    }

    #[test]
    fn exhaustion_is_an_error_for_reserve() {
        let clock = clock_at(1_000);
        clock.advance_to(Timestamp::from_u64(u64::MAX - 2));
        assert!(matches!(
            clock.reserve(3),
            Err(Error::Exhausted { count: 3, .. })
        ));
        assert_eq!(clock.reserve(2).unwrap().last(), Timestamp::MAX);
        assert!(matches!(clock.try_now(), Err(Error::Exhausted { .. })));
        assert!(matches!(
            clock.update(Timestamp::new(1_000, 0).unwrap()),
            Err(Error::Exhausted { .. })
        ));
    }

    #[test]
    fn a_wall_clock_beyond_the_physical_range_is_clamped() {
        let clock = clock_at(u64::MAX);
        let first = clock.now();
        assert_eq!(first, Timestamp::new(PHYSICAL_MAX_MS, 0).unwrap());
        assert!(clock.now() > first);
    }

    #[test]
    fn system_clock_is_after_2020() {
        // 2020-01-01T00:00:00Z; catches a unit mistake (seconds, micros).
        let now_ms = SystemClock.now_ms();
        assert!(now_ms > 1_577_836_800_000 && now_ms < PHYSICAL_MAX_MS);
    }
}

#![allow(clippy::unwrap_used)]
//! Property tests of the hybrid clock: a wall clock moved randomly forwards
//! and backwards, random interleavings of `now`, `update`, `reserve` and
//! `advance_to`, each result checked against the clock's contract and
//! against a model that computes the exact expected timestamp.

use std::sync::Arc;

use keel_tso::{Error, HybridClock, LOGICAL_MAX, ManualClock, PHYSICAL_MAX_MS, Timestamp};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

/// Around 2026, so that moves backwards never reach zero.
const START_MS: u64 = 1_795_345_560_123;
const MAX_OFFSET_MS: u64 = 250;

#[derive(Debug, Clone)]
enum Step {
    /// Moves the wall clock by this many milliseconds, either way.
    MoveWall(i64),
    Now,
    /// `update` with a remote timestamp `offset_ms` from the wall clock;
    /// offsets beyond `MAX_OFFSET_MS` must be rejected.
    Update {
        offset_ms: i64,
        logical: u16,
    },
    Reserve(u32),
    /// `advance_to` a timestamp `offset_ms` from the last one issued.
    AdvanceTo {
        offset_ms: i64,
        logical: u16,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (-3_000_i64..3_000).prop_map(Step::MoveWall),
        5 => Just(Step::Now),
        2 => (-1_000_i64..1_000, any::<u16>())
            .prop_map(|(offset_ms, logical)| Step::Update { offset_ms, logical }),
        // Up to three full milliseconds of logical values in one batch.
        2 => prop_oneof![1_u32..100, 60_000_u32..200_000].prop_map(Step::Reserve),
        1 => (-50_i64..50, any::<u16>())
            .prop_map(|(offset_ms, logical)| Step::AdvanceTo { offset_ms, logical }),
    ]
}

fn offset(base_ms: u64, offset_ms: i64) -> u64 {
    base_ms.saturating_add_signed(offset_ms)
}

/// The timestamp the clock must issue first after `previous` (the larger of
/// the last issued and the floor) at wall time `wall_ms`.
fn expected_next(previous: Timestamp, wall_ms: u64) -> Timestamp {
    if wall_ms > previous.physical_ms() {
        Timestamp::new(wall_ms, 0).unwrap()
    } else {
        previous.successor().unwrap()
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        // Failing inputs are saved beside this file, to be kept as regression cases.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_timestamp_is_greater_than_every_earlier_one(steps in proptest::collection::vec(step(), 1..120)) {
        let wall = Arc::new(ManualClock::new(START_MS));
        let clock = HybridClock::new(wall.clone(), MAX_OFFSET_MS);
        let mut wall_ms = START_MS;
        // Everything issued or advanced to so far; every new timestamp must
        // be above it.
        let mut bound = Timestamp::ZERO;
        for step in steps {
            match step {
                Step::MoveWall(delta_ms) => {
                    wall_ms = offset(wall_ms, delta_ms);
                    wall.set_ms(wall_ms);
                }
                Step::Now => {
                    let timestamp = clock.now();
                    prop_assert!(timestamp > bound, "{timestamp} > {bound}");
                    prop_assert!(timestamp.physical_ms() >= wall_ms);
                    prop_assert_eq!(timestamp, expected_next(bound, wall_ms));
                    bound = timestamp;
                }
                Step::Update { offset_ms, logical } => {
                    let remote = Timestamp::new(offset(wall_ms, offset_ms), logical).unwrap();
                    let result = clock.update(remote);
                    if remote.physical_ms() > wall_ms + MAX_OFFSET_MS {
                        let rejected = matches!(
                            result,
                            Err(Error::ClockSkew { remote: r, local_wall_ms, max_offset_ms })
                                if r == remote && local_wall_ms == wall_ms && max_offset_ms == MAX_OFFSET_MS
                        );
                        prop_assert!(rejected, "{result:?}");
                        prop_assert_eq!(clock.last(), bound, "a rejected update changed the clock");
                    } else {
                        let timestamp = result.unwrap();
                        prop_assert!(timestamp > remote && timestamp > bound);
                        prop_assert_eq!(timestamp, expected_next(bound.max(remote), wall_ms));
                        bound = timestamp;
                    }
                }
                Step::Reserve(count) => {
                    let range = clock.reserve(count).unwrap();
                    prop_assert!(range.first() > bound);
                    prop_assert_eq!(range.first(), expected_next(bound, wall_ms));
                    prop_assert_eq!(range.count(), u64::from(count));
                    prop_assert_eq!(range.last().as_u64() - range.first().as_u64(), u64::from(count) - 1);
                    bound = range.last();
                }
                Step::AdvanceTo { offset_ms, logical } => {
                    let target = Timestamp::new(offset(bound.physical_ms(), offset_ms), logical).unwrap();
                    clock.advance_to(target);
                    bound = bound.max(target);
                    prop_assert_eq!(clock.last(), bound);
                }
            }
            prop_assert_eq!(clock.last(), bound);
        }
    }

    /// 65 536 or more timestamps in one millisecond carry into the physical
    /// part, one millisecond per 65 536 timestamps, and stay increasing.
    #[test]
    fn logical_overflow_advances_the_physical_part(
        calls in 65_536_u32..200_000,
        wall_ms in 0..PHYSICAL_MAX_MS - 10,
    ) {
        let clock = HybridClock::new(ManualClock::new(wall_ms), MAX_OFFSET_MS);
        let first = clock.now();
        prop_assert_eq!(first, Timestamp::new(wall_ms, 0).unwrap());
        let mut previous = first;
        for _ in 1..calls {
            let next = clock.now();
            prop_assert!(next > previous);
            previous = next;
        }
        let per_millisecond = u64::from(LOGICAL_MAX) + 1;
        let issued = u64::from(calls);
        prop_assert_eq!(previous.physical_ms(), wall_ms + (issued - 1) / per_millisecond);
        prop_assert_eq!(u64::from(previous.logical()), (issued - 1) % per_millisecond);
        prop_assert!(previous.physical_ms() > wall_ms, "the physical part ran ahead of the stalled wall clock");
    }
}

#[test]
fn logical_overflow_interleaved_with_reserve_and_update() {
    let wall = Arc::new(ManualClock::new(START_MS));
    let clock = HybridClock::new(wall.clone(), MAX_OFFSET_MS);
    let mut previous = clock.now();
    // Exhaust the millisecond through a batch, then keep going one by one,
    // then from a remote timestamp near the end of its millisecond.
    let range = clock.reserve(u32::from(LOGICAL_MAX)).unwrap();
    assert_eq!(range.last(), Timestamp::new(START_MS, LOGICAL_MAX).unwrap());
    assert!(range.first() > previous);
    previous = range.last();
    let next = clock.now();
    assert_eq!(next, Timestamp::new(START_MS + 1, 0).unwrap());
    assert!(next > previous);
    let remote = Timestamp::new(START_MS + 2, LOGICAL_MAX).unwrap();
    let updated = clock.update(remote).unwrap();
    assert_eq!(updated, Timestamp::new(START_MS + 3, 0).unwrap());
    // The wall clock catching up takes over from the logical counter again.
    wall.set_ms(START_MS + 10);
    assert_eq!(clock.now(), Timestamp::new(START_MS + 10, 0).unwrap());
}

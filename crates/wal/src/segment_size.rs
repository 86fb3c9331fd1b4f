//! How big the next segment is: segments follow the write rate.
//!
//! A log starts (and a closed log ends) with a segment of the floor size,
//! `WalOptions::segment_bytes_min`. The size a segment should have is the
//! one that fills in two `segment_fill_interval`s at the rate the last one
//! saw. A segment that fills in less than one interval makes the next one
//! that size, but at least twice its own (a burst reaches the ceiling,
//! `WalOptions::segment_bytes`, in one step, a steady climb doubles); one
//! that stayed open for more than four intervals makes the next one that
//! size, down to the floor. In between the size stays, so a steady rate
//! settles on a size that fills in one to four intervals. Sizes are the
//! floor times a power of two, or the ceiling.

use std::time::Duration;

use crate::options::WalOptions;

/// Idle factor: a segment open longer than this many fill intervals makes
/// the next one smaller.
const IDLE_FILL_INTERVALS: u32 = 4;
/// The size a segment should have fills in this many intervals at the rate
/// the last one saw.
const TARGET_FILL_INTERVALS: u32 = 2;

/// The size of the segment after one of `current_bytes` that held
/// `used_bytes` when it closed after being open for `open_for`; `full`: it
/// closed because the next record did not fit.
pub(crate) fn next_segment_bytes(
    options: &WalOptions,
    current_bytes: u64,
    used_bytes: u64,
    open_for: Duration,
    full: bool,
) -> u64 {
    let floor = options.segment_bytes_floor();
    let ceiling = options.segment_bytes;
    let interval = options.segment_fill_interval;
    // The size that fills in the target time at the rate seen.
    let target = u128::from(used_bytes) * (interval * TARGET_FILL_INTERVALS).as_nanos()
        / open_for.as_nanos().max(1);
    let mut fitting = floor;
    while u128::from(fitting) < target && fitting < ceiling {
        fitting = fitting.saturating_mul(2);
    }
    let next = if open_for > interval * IDLE_FILL_INTERVALS {
        fitting.min(current_bytes)
    } else if full && open_for < interval {
        fitting.max(current_bytes.saturating_mul(2))
    } else {
        current_bytes
    };
    next.clamp(floor, ceiling)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> WalOptions {
        WalOptions {
            segment_bytes: 64 << 20,
            segment_bytes_min: 1 << 20,
            segment_fill_interval: Duration::from_secs(2),
            ..WalOptions::default()
        }
    }

    const FAST: Duration = Duration::from_millis(100);

    #[test]
    fn segments_that_fill_fast_grow_to_the_rate_up_to_the_ceiling() {
        let options = options();
        let mut size = options.segment_bytes_floor();
        let mut sizes = vec![size];
        // Each fills in 1.5 s: at that rate two intervals fill 2.7 times
        // its size; the next is the power of two above.
        let open_for = Duration::from_millis(1500);
        while size < options.segment_bytes {
            size = next_segment_bytes(&options, size, size, open_for, true);
            sizes.push(size);
        }
        assert_eq!(sizes, [1, 4, 16, 64].map(|mib: u64| mib << 20).to_vec());
        assert_eq!(
            next_segment_bytes(&options, size, size, FAST, true),
            64 << 20,
            "never past the ceiling"
        );
    }

    #[test]
    fn a_segment_that_just_fills_in_time_at_least_doubles() {
        let options = options();
        // 1.99 s: the rate asks for just over twice the size.
        let open_for = Duration::from_millis(1990);
        assert_eq!(
            next_segment_bytes(&options, 2 << 20, 2 << 20, open_for, true),
            8 << 20
        );
        // A partly used segment that fills fast still at least doubles.
        assert_eq!(
            next_segment_bytes(&options, 2 << 20, 100 << 10, FAST, true),
            4 << 20
        );
    }

    #[test]
    fn a_burst_reaches_the_rate_in_one_step() {
        let options = options();
        // 1 MiB in 100 ms: 10 MiB/s, 40 MiB in two intervals: 64 MiB.
        assert_eq!(
            next_segment_bytes(&options, 1 << 20, 1 << 20, FAST, true),
            64 << 20
        );
        // 1 MiB in 500 ms: 8 MiB in two intervals.
        assert_eq!(
            next_segment_bytes(&options, 1 << 20, 1 << 20, Duration::from_millis(500), true),
            8 << 20
        );
    }

    #[test]
    fn a_steady_rate_keeps_the_size() {
        let options = options();
        for open_for in [2, 3, 5, 8].map(Duration::from_secs) {
            assert_eq!(
                next_segment_bytes(&options, 8 << 20, 8 << 20, open_for, true),
                8 << 20,
                "{open_for:?}"
            );
        }
        // Closed early (rotation, close) but fast: no growth.
        assert_eq!(
            next_segment_bytes(&options, 8 << 20, 1 << 20, FAST, false),
            8 << 20
        );
    }

    #[test]
    fn an_idle_segment_makes_the_next_one_fit_the_rate() {
        let options = options();
        // 64 MiB over 64 s: 1 MiB/s, 4 MiB fill two intervals.
        assert_eq!(
            next_segment_bytes(&options, 64 << 20, 64 << 20, Duration::from_secs(64), true),
            4 << 20
        );
        // Almost nothing written for a minute: back to the floor.
        assert_eq!(
            next_segment_bytes(&options, 64 << 20, 4096, Duration::from_secs(60), false),
            1 << 20
        );
        // Never larger than the idle segment itself.
        assert_eq!(
            next_segment_bytes(&options, 2 << 20, 2 << 20, Duration::from_secs(9), true),
            1 << 20
        );
    }

    #[test]
    fn the_floor_is_capped_at_the_ceiling() {
        let options = WalOptions {
            segment_bytes: 64 << 10,
            ..options()
        };
        assert_eq!(options.segment_bytes_floor(), 64 << 10);
        for (open_for, full) in [(FAST, true), (Duration::from_secs(100), false)] {
            assert_eq!(
                next_segment_bytes(&options, 64 << 10, 64 << 10, open_for, full),
                64 << 10
            );
        }
    }
}

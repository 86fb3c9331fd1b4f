//! How big the next segment is: segments follow the write rate.
//!
//! A log starts (and a closed log ends) with a segment of the floor size,
//! `WalOptions::segment_bytes_min`. A segment that fills in less than
//! `segment_fill_interval` makes the next one twice its size, up to
//! `WalOptions::segment_bytes`; one that stayed open for more than four
//! fill intervals makes the next one the size that would have filled in two
//! intervals at the rate it saw, down to the floor. In between the size
//! stays, so a steady rate `r` settles on a size that fills in one to four
//! intervals. Sizes are the floor times a power of two, or the ceiling.

use std::time::Duration;

use crate::options::WalOptions;

/// Idle factor: a segment open longer than this many fill intervals makes
/// the next one smaller.
const IDLE_FILL_INTERVALS: u32 = 4;
/// The size after an idle segment fills in this many intervals at the rate
/// the idle one saw.
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
    let next = if open_for > interval * IDLE_FILL_INTERVALS {
        let target = u128::from(used_bytes) * (interval * TARGET_FILL_INTERVALS).as_nanos()
            / open_for.as_nanos().max(1);
        let mut size = floor;
        while u128::from(size) < target && size < ceiling {
            size = size.saturating_mul(2);
        }
        size.min(current_bytes)
    } else if full && open_for < interval {
        current_bytes.saturating_mul(2)
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
    fn segments_that_fill_fast_double_up_to_the_ceiling() {
        let options = options();
        let mut size = options.segment_bytes_floor();
        let mut sizes = vec![size];
        while size < options.segment_bytes {
            size = next_segment_bytes(&options, size, size, FAST, true);
            sizes.push(size);
        }
        assert_eq!(
            sizes,
            [1, 2, 4, 8, 16, 32, 64].map(|mib: u64| mib << 20).to_vec()
        );
        assert_eq!(
            next_segment_bytes(&options, size, size, FAST, true),
            64 << 20,
            "never past the ceiling"
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

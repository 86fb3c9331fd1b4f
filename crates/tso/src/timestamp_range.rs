//! [`TimestampRange`]: a batch of consecutive timestamps issued at once.

use std::fmt;
use std::iter::Map;
use std::ops::RangeInclusive;

use crate::timestamp::Timestamp;

/// A non-empty run of consecutive timestamps, `first..=last` by raw value,
/// as handed out by [`HybridClock::reserve`](crate::HybridClock::reserve)
/// and [`TimestampOracle::next_batch`](crate::TimestampOracle::next_batch).
///
/// ```
/// use keel_tso::{Timestamp, TimestampRange};
///
/// let range = TimestampRange::new(Timestamp::from_u64(10), Timestamp::from_u64(12)).unwrap();
/// assert_eq!(range.count(), 3);
/// let raw: Vec<u64> = range.into_iter().map(Timestamp::as_u64).collect();
/// assert_eq!(raw, [10, 11, 12]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimestampRange {
    first: Timestamp,
    last: Timestamp,
}

impl TimestampRange {
    /// The range `first..=last`; `None` if `first > last`.
    pub fn new(first: Timestamp, last: Timestamp) -> Option<TimestampRange> {
        (first <= last).then_some(TimestampRange { first, last })
    }

    /// The range `first..=last` for bounds known to be ordered.
    pub(crate) fn from_ordered(first: Timestamp, last: Timestamp) -> TimestampRange {
        debug_assert!(first <= last);
        TimestampRange { first, last }
    }

    /// The range holding only `timestamp`.
    pub fn single(timestamp: Timestamp) -> TimestampRange {
        TimestampRange {
            first: timestamp,
            last: timestamp,
        }
    }

    /// The smallest timestamp of the range.
    pub fn first(&self) -> Timestamp {
        self.first
    }

    /// The largest timestamp of the range.
    pub fn last(&self) -> Timestamp {
        self.last
    }

    /// How many timestamps the range holds (at least one; `u64::MAX` for
    /// the range of every timestamp, which holds one more).
    pub fn count(&self) -> u64 {
        (self.last.as_u64() - self.first.as_u64()).saturating_add(1)
    }

    /// Whether `timestamp` is in the range.
    pub fn contains(&self, timestamp: Timestamp) -> bool {
        self.first <= timestamp && timestamp <= self.last
    }
}

impl IntoIterator for TimestampRange {
    type Item = Timestamp;
    type IntoIter = Map<RangeInclusive<u64>, fn(u64) -> Timestamp>;

    fn into_iter(self) -> Self::IntoIter {
        (self.first.as_u64()..=self.last.as_u64()).map(Timestamp::from_u64 as fn(u64) -> Timestamp)
    }
}

impl fmt::Display for TimestampRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..={}", self.first, self.last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_bounds_count_and_iteration_agree() {
        let first = Timestamp::from_u64(65_534);
        let last = Timestamp::from_u64(65_538);
        let range = TimestampRange::new(first, last).unwrap();
        let all: Vec<Timestamp> = range.into_iter().collect();
        assert_eq!(all.len() as u64, range.count());
        assert_eq!(all.first(), Some(&first));
        assert_eq!(all.last(), Some(&last));
        assert!(all.iter().all(|timestamp| range.contains(*timestamp)));
        assert!(!range.contains(Timestamp::from_u64(65_533)));
        assert!(!range.contains(Timestamp::from_u64(65_539)));
        assert!(TimestampRange::new(last, first).is_none());
        assert_eq!(TimestampRange::single(first).count(), 1);
        assert_eq!(
            TimestampRange::new(Timestamp::ZERO, Timestamp::MAX)
                .unwrap()
                .count(),
            u64::MAX
        );
    }
}

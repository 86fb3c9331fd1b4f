//! A cursor's window as a batch of its leaf: the entries of a leaf past
//! the resume bound and inside the limit, cut to the cursor's budget. The
//! entries a batch leaves are kept ([`Rest`]) for the next fill, which
//! takes them from the same leaf without a search as long as the leaf is
//! unchanged. The first batches together take a first batch's worth (the
//! second what the first left of it), later ones as many entries as the
//! cursor returned so far ([`budget`]), so a short range decodes little
//! more than it reads, also when it crosses into a sibling, and a scan
//! soon takes whole leaves.

use std::ops::Bound;

use super::{Bounds, Cursor, Direction};

/// Entries the first batch of a cursor takes (a little more than a short
/// range reads, so that one batch serves it).
pub(super) const BATCH_FIRST_ENTRIES: usize = 12;
/// The budget stops doubling here (a leaf of 64 KiB holds fewer entries).
pub(super) const BATCH_MAX_ENTRIES: usize = 1 << 13;

/// Entries the next batch of a cursor that returned `returned` entries
/// takes: what is left of a first batch, until it returned one (a range
/// of 10 that crosses into a sibling after 6 decodes 6 more there, not
/// 12: 318 fewer instructions per range, of ~11.2k, on keel-benches'
/// shape at 4 KiB pages), then as many as it returned (doubling), up to
/// [`BATCH_MAX_ENTRIES`]. Never 0.
pub(super) fn budget(returned: usize) -> usize {
    match BATCH_FIRST_ENTRIES.checked_sub(returned) {
        Some(left) if left > 0 => left,
        _ => returned.min(BATCH_MAX_ENTRIES),
    }
}

/// The entries of a leaf a cursor has not taken yet: slot indexes
/// `low..high`, all inside the range's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Rest {
    pub(super) low: usize,
    pub(super) high: usize,
    /// The range's limit falls in this leaf: nothing lies past `low..high`.
    pub(super) reached_limit: bool,
}

/// Where a fill starts in its leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Start {
    /// At the resume bound, found by search (a leaf not read from yet).
    Seek,
    /// At the leaf's first entry in the cursor's direction: a sibling of
    /// the cursor's last leaf, copied while that leaf was unchanged (so
    /// every key of it lies past the resume bound).
    Edge,
    /// At the entries the last batch of this (unchanged) leaf left.
    Rest(Rest),
}

impl Rest {
    /// The first `budget` entries of these in `direction`, as the slot
    /// indexes `low..high` they take, and the entries left after them.
    pub(super) fn cut(self, direction: Direction, budget: usize) -> (Rest, Option<Rest>) {
        let taken = (self.high - self.low).min(budget);
        match direction {
            Direction::Forward => {
                let split = self.low + taken;
                let left = (split < self.high).then_some(Rest { low: split, ..self });
                (
                    Rest {
                        high: split,
                        ..self
                    },
                    left,
                )
            }
            Direction::Reverse => {
                let split = self.high - taken;
                let left = (split > self.low).then_some(Rest {
                    high: split,
                    ..self
                });
                (Rest { low: split, ..self }, left)
            }
        }
    }
}

impl Cursor<'_> {
    /// The entries of a leaf of `count` entries that lie past the resume
    /// bound (from the leaf's edge in the cursor's direction when
    /// `from_edge`: a sibling the cursor stepped to, all of whose keys lie
    /// past it) and inside the limit, and whether the limit falls in the
    /// leaf; `position` finds a key (`None`: a long key's prefix tied with
    /// it, and the caller cannot settle that).
    pub(super) fn leaf_entries<F>(
        &self,
        bounds: &Bounds,
        count: usize,
        from_edge: bool,
        mut position: impl FnMut(&[u8]) -> Result<Option<Result<usize, usize>>, F>,
    ) -> Result<Option<Rest>, F> {
        macro_rules! position {
            ($key:expr) => {
                match position($key)? {
                    Some(found) => found,
                    None => return Ok(None),
                }
            };
        }
        let forward = self.direction == Direction::Forward;
        let resume = if from_edge {
            Bound::Unbounded
        } else {
            self.resume_bound(bounds)
        };
        let (low, high) = if forward {
            let low = match resume {
                Bound::Unbounded => 0,
                Bound::Included(key) => position!(key).unwrap_or_else(|index| index),
                Bound::Excluded(key) => {
                    position!(key).map_or_else(|index| index, |index| index + 1)
                }
            };
            (low, count)
        } else {
            let high = match resume {
                Bound::Unbounded => count,
                Bound::Included(key) => {
                    position!(key).map_or_else(|index| index, |index| index + 1)
                }
                Bound::Excluded(key) => position!(key).unwrap_or_else(|index| index),
            };
            (0, high)
        };
        // The limit cuts the leaf once, by search, not by a comparison
        // per entry.
        let (low, high, reached_limit) = match (self.limit(bounds), forward) {
            (Bound::Unbounded, _) => (low, high, false),
            (Bound::Included(key), true) => {
                let end = position!(key).map_or_else(|index| index, |index| index + 1);
                (low, high.min(end), end < count)
            }
            (Bound::Excluded(key), true) => {
                let end = position!(key).unwrap_or_else(|index| index);
                (low, high.min(end), end < count)
            }
            (Bound::Included(key), false) => {
                let start = position!(key).unwrap_or_else(|index| index);
                (low.max(start), high, start > 0)
            }
            (Bound::Excluded(key), false) => {
                let start = position!(key).map_or_else(|index| index, |index| index + 1);
                (low.max(start), high, start > 0)
            }
        };
        Ok(Some(Rest {
            low,
            high: high.max(low),
            reached_limit,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_batches_take_a_first_batchs_worth_then_double() {
        assert_eq!(budget(0), BATCH_FIRST_ENTRIES);
        // A first batch cut short by its leaf's end: the rest of it.
        assert_eq!(budget(5), BATCH_FIRST_ENTRIES - 5);
        assert_eq!(budget(BATCH_FIRST_ENTRIES - 1), 1);
        // Then as many as returned, up to the cap.
        assert_eq!(budget(BATCH_FIRST_ENTRIES), BATCH_FIRST_ENTRIES);
        assert_eq!(budget(100), 100);
        assert_eq!(budget(BATCH_MAX_ENTRIES * 4), BATCH_MAX_ENTRIES);
        let mut returned = 0;
        for _ in 0..64 {
            let next = budget(returned);
            assert!(next > 0);
            returned += next;
        }
    }

    #[test]
    fn a_cut_takes_the_budget_from_the_cursors_end_and_leaves_the_rest() {
        let rest = Rest {
            low: 3,
            high: 10,
            reached_limit: true,
        };
        let (taken, left) = rest.cut(Direction::Forward, 4);
        assert_eq!((taken.low, taken.high), (3, 7));
        assert_eq!(left.map(|left| (left.low, left.high)), Some((7, 10)));
        assert!(left.is_some_and(|left| left.reached_limit));
        let (taken, left) = rest.cut(Direction::Reverse, 4);
        assert_eq!((taken.low, taken.high), (6, 10));
        assert_eq!(left.map(|left| (left.low, left.high)), Some((3, 6)));
        // A budget past the entries takes them all and leaves nothing.
        let (taken, left) = rest.cut(Direction::Forward, 100);
        assert_eq!((taken.low, taken.high, left), (3, 10, None));
        let (taken, left) = rest.cut(Direction::Reverse, 7);
        assert_eq!((taken.low, taken.high, left), (3, 10, None));
        let empty = Rest {
            low: 5,
            high: 5,
            reached_limit: false,
        };
        assert_eq!(empty.cut(Direction::Forward, 4), (empty, None));
    }
}

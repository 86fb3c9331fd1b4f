//! [`Range`]: a range scan merging the transaction's own writes, the delta
//! store (each key's newest version at the read timestamp) and the base, in
//! either direction. For each key the first source that has it wins — own
//! writes, then a delta version visible at the read timestamp, then the
//! base — and tombstones and expired values are skipped.

use std::collections::BTreeMap;
use std::collections::btree_map;
use std::ops::Bound;

use bytes::Bytes;
use keel_tso::Timestamp;

use crate::base::{BaseIterator, Direction, ValueEntry};
use crate::chain::Versioned;
use crate::delta::DeltaRange;
use crate::error::{BaseOperation, Error, Result};
use crate::manager::Inner;
use crate::read_set::{KeyRange, ReadSet};
use crate::write_set::{Change, is_live};

struct Sources<'a> {
    writes: btree_map::Range<'a, Bytes, Change>,
    delta: DeltaRange<'a>,
    base: BaseIterator<'a>,
    next_write: Option<(&'a Bytes, &'a Change)>,
    next_delta: Option<(Bytes, Versioned)>,
    next_base: Option<(Bytes, ValueEntry)>,
    base_done: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Scanning,
    Exhausted,
    Failed,
}

/// A range scan of a transaction; yields `(key, value)` or the base
/// store's error (after which it ends). Borrows the transaction mutably, so
/// its writes cannot change under the scan.
pub struct Range<'a> {
    sources: Option<Sources<'a>>,
    read_timestamp: Timestamp,
    direction: Direction,
    bounds: KeyRange,
    tracker: Option<&'a mut ReadSet>,
    read_bytes_max: u64,
    last_key: Option<Bytes>,
    state: State,
}

impl std::fmt::Debug for Range<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Range")
            .field("read_timestamp", &self.read_timestamp)
            .field("direction", &self.direction)
            .field("bounds", &self.bounds)
            .field("last_key", &self.last_key)
            .finish_non_exhaustive()
    }
}

impl<'a> Range<'a> {
    pub(crate) fn new(
        inner: &'a Inner,
        read_timestamp: Timestamp,
        writes: &'a BTreeMap<Bytes, Change>,
        tracker: Option<&'a mut ReadSet>,
        bounds: KeyRange,
        direction: Direction,
    ) -> Result<Range<'a>> {
        let read_bytes_max = inner.options.transaction_read_bytes_max;
        if bounds.is_empty() {
            // Nothing can be in it, so nothing needs tracking; and the
            // sources would refuse it (BTreeMap::range panics on it).
            return Ok(Range {
                sources: None,
                read_timestamp,
                direction,
                bounds,
                tracker: None,
                read_bytes_max,
                last_key: None,
                state: State::Exhausted,
            });
        }
        let borrowed = (
            bounds.lower.as_ref().map(Bytes::as_ref),
            bounds.upper.as_ref().map(Bytes::as_ref),
        );
        let base = inner
            .base
            .range(borrowed.0, borrowed.1, direction)
            .map_err(|source| Error::Base {
                operation: BaseOperation::Range,
                key: None,
                source,
            })?;
        let sources = Sources {
            writes: writes.range::<[u8], _>(borrowed),
            delta: inner
                .delta
                .range(bounds.lower.clone(), bounds.upper.clone()),
            base,
            next_write: None,
            next_delta: None,
            next_base: None,
            base_done: false,
        };
        Ok(Range {
            sources: Some(sources),
            read_timestamp,
            direction,
            bounds,
            tracker,
            read_bytes_max,
            last_key: None,
            state: State::Scanning,
        })
    }

    fn advance(&mut self) -> Option<Result<(Bytes, Bytes)>> {
        let forward = self.direction == Direction::Forward;
        let read_timestamp = self.read_timestamp;
        let read_physical_ms = read_timestamp.physical_ms();
        let sources = self.sources.as_mut()?;
        loop {
            if sources.next_write.is_none() {
                sources.next_write = if forward {
                    sources.writes.next()
                } else {
                    sources.writes.next_back()
                };
            }
            while sources.next_delta.is_none() {
                let entry = if forward {
                    sources.delta.next()
                } else {
                    sources.delta.next_back()
                };
                let Some(entry) = entry else { break };
                // A key with no version visible at the read timestamp is
                // not in the delta as far as this scan is concerned.
                if let Some(version) = entry.value().visible(read_timestamp) {
                    sources.next_delta = Some((entry.key().clone(), version));
                }
            }
            if sources.next_base.is_none() && !sources.base_done {
                match sources.base.next() {
                    Some(Ok(item)) => sources.next_base = Some(item),
                    Some(Err(source)) => {
                        self.state = State::Failed;
                        self.sources = None;
                        return Some(Err(Error::Base {
                            operation: BaseOperation::RangeNext,
                            // The last key the scan yielded.
                            key: self.last_key.clone(),
                            source,
                        }));
                    }
                    None => sources.base_done = true,
                }
            }
            let candidates = [
                sources.next_write.map(|(key, _)| key.as_ref()),
                sources.next_delta.as_ref().map(|(key, _)| key.as_ref()),
                sources.next_base.as_ref().map(|(key, _)| key.as_ref()),
            ];
            let chosen = candidates.into_iter().flatten().reduce(|best, key| {
                if (key < best) == forward && key != best {
                    key
                } else {
                    best
                }
            });
            let Some(chosen) = chosen else {
                self.state = State::Exhausted;
                self.sources = None;
                return None;
            };
            let key = Bytes::copy_from_slice(chosen);
            let write = sources
                .next_write
                .take_if(|(write_key, _)| **write_key == key)
                .map(|(_, change)| change);
            let delta = sources
                .next_delta
                .take_if(|(delta_key, _)| *delta_key == key)
                .map(|(_, version)| version);
            let base = sources
                .next_base
                .take_if(|(base_key, _)| *base_key == key)
                .map(|(_, entry)| entry);
            let value = match (write, delta, base) {
                (Some(change), _, _) => change.live_value(read_physical_ms).cloned(),
                (None, Some(version), _) => version.change.live_value(read_physical_ms).cloned(),
                (None, None, Some(entry)) => {
                    is_live(entry.expires_at_ms, read_physical_ms).then_some(entry.value)
                }
                (None, None, None) => None,
            };
            if let Some(value) = value {
                self.last_key = Some(key.clone());
                return Some(Ok((key, value)));
            }
        }
    }
}

impl Iterator for Range<'_> {
    type Item = Result<(Bytes, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.state != State::Scanning {
            return None;
        }
        self.advance()
    }
}

impl Drop for Range<'_> {
    fn drop(&mut self) {
        let Some(tracker) = self.tracker.take() else {
            return;
        };
        // Track what the scan covered: everything if it ran to the end (or
        // failed), else up to the last key it yielded.
        let covered = match (self.state, self.last_key.take()) {
            (State::Exhausted | State::Failed, _) => self.bounds.clone(),
            (State::Scanning, Some(last)) => match self.direction {
                Direction::Forward => KeyRange {
                    lower: self.bounds.lower.clone(),
                    upper: Bound::Included(last),
                },
                Direction::Reverse => KeyRange {
                    lower: Bound::Included(last),
                    upper: self.bounds.upper.clone(),
                },
            },
            (State::Scanning, None) => return,
        };
        tracker.add_range(covered, self.read_bytes_max);
    }
}

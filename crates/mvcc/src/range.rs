//! [`Range`]: a range scan merging the transaction's own writes, the delta
//! store (each key's newest version at the read timestamp) and the base,
//! from either end ([`DoubleEndedIterator`]). For each key the first source
//! that has it wins — own writes, then a delta version visible at the read
//! timestamp, then the base — and tombstones and expired values are
//! skipped. Keys and values are handed on as the sources hold them
//! (`Bytes`, no copy).

use std::cell::RefCell;
use std::ops::Bound;

use bytes::Bytes;
use keel_tso::Timestamp;

use crate::base::{BaseIterator, Direction, ValueEntry};
use crate::delta_range::DeltaCursor;
use crate::error::{BaseOperation, Error, Result};
use crate::manager::Inner;
use crate::own_writes::{OwnItem, OwnWrites};
use crate::read_set::{KeyRange, ReadSet, bounds_empty};
use crate::write_buffer::WriteBuffer;
use crate::write_set::{Change, is_live};

/// The next item of each source at one end of the scan.
#[derive(Default)]
struct Peeked<'a> {
    write: Option<OwnItem<'a>>,
    delta: Option<(Bytes, Change)>,
    base: Option<(Bytes, ValueEntry)>,
    /// The sources this end has run dry (the other end may still hold
    /// their last items in its own `Peeked`).
    writes_done: bool,
    delta_done: bool,
    base_done: bool,
}

struct Sources<'a> {
    /// Index 0: the front (ascending), 1: the back. Declared (and so
    /// dropped) before `base`: a base item waiting here holds a view of
    /// the base cursor's page copy, which the cursor keeps for the next
    /// scan only once nothing else holds it.
    ends: [Peeked<'a>; 2],
    writes: OwnWrites<'a>,
    delta: DeltaCursor<'a>,
    base: BaseIterator<'a>,
    /// Per end: [`Sources::base_only`] was seen true, and stays true (the
    /// writes and the delta, once run dry, yield nothing at either end).
    base_only: [bool; 2],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Scanning,
    Exhausted,
    Failed,
}

/// A range scan of a transaction; yields `(key, value)` or the base
/// store's error (after which it ends): `next` in the direction it was
/// opened with, `next_back` from the other end. It borrows the
/// transaction, whose writes therefore cannot change under it; several may
/// be open at once.
pub struct Range<'a> {
    sources: Option<Sources<'a>>,
    /// The end `next` takes from: 0 (the front) for
    /// [`Direction::Forward`], 1 for [`Direction::Reverse`].
    first_end: usize,
    read_timestamp: Timestamp,
    /// The bounds, copied only to be recorded (under Serializable, with
    /// `tracker`): the sources keep what they need of them.
    bounds: Option<KeyRange>,
    tracker: Option<&'a RefCell<ReadSet>>,
    read_bytes_max: u64,
    /// The last key yielded from each end (tracked only under
    /// Serializable).
    last: [Option<Bytes>; 2],
    /// The earliest expiry of a value yielded from the delta or the base,
    /// and its key (tracked only under Serializable).
    earliest_expiry: Option<(u64, Bytes)>,
    state: State,
}

impl std::fmt::Debug for Range<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Range")
            .field("read_timestamp", &self.read_timestamp)
            .field("bounds", &self.bounds)
            .field("last", &self.last)
            .finish_non_exhaustive()
    }
}

impl<'a> Range<'a> {
    /// A scan of the keys within `(lower, upper)`, which it copies only
    /// where it must keep them (the read set's range under Serializable,
    /// the base cursor's own bounds, a non-empty skiplist's range).
    #[inline]
    pub(crate) fn new(
        inner: &'a Inner,
        read_timestamp: Timestamp,
        writes: &'a WriteBuffer,
        tracker: Option<&'a RefCell<ReadSet>>,
        (lower, upper): (Bound<&[u8]>, Bound<&[u8]>),
        direction: Direction,
    ) -> Result<Range<'a>> {
        let read_bytes_max = inner.options.transaction_read_bytes_max;
        let first_end = usize::from(direction == Direction::Reverse);
        if bounds_empty(lower, upper) {
            // Nothing can be in it, so nothing needs tracking; and the
            // sources would refuse it (BTreeMap::range panics on it).
            return Ok(Range {
                sources: None,
                first_end,
                read_timestamp,
                bounds: None,
                tracker: None,
                read_bytes_max,
                last: [None, None],
                earliest_expiry: None,
                state: State::Exhausted,
            });
        }
        let base = inner
            .base
            .range(lower, upper)
            .map_err(|source| Error::Base {
                operation: BaseOperation::Range,
                key: None,
                source,
            })?;
        // Built in place, in one expression: the scan's state is large,
        // and each move of it is a copy.
        Ok(Range {
            sources: Some(Sources {
                ends: [Peeked::default(), Peeked::default()],
                writes: writes.range(lower, upper),
                delta: DeltaCursor::new(&inner.delta, lower, upper, read_timestamp),
                base,
                base_only: [false; 2],
            }),
            first_end,
            read_timestamp,
            bounds: tracker.map(|_| KeyRange::copied(lower, upper)),
            tracker,
            read_bytes_max,
            last: [None, None],
            earliest_expiry: None,
            state: State::Scanning,
        })
    }

    /// The next live entry from the front (`end` 0) or the back (1).
    fn advance(&mut self, end: usize) -> Option<Result<(Bytes, Bytes)>> {
        let read_physical_ms = self.read_timestamp.physical_ms();
        loop {
            let sources = self.sources.as_mut()?;
            if sources.base_only(end) {
                match sources.next_base(end) {
                    Some(Ok((key, entry))) => {
                        if is_live(entry.expires_at_ms, read_physical_ms) {
                            self.track(end, &key, entry.expires_at_ms);
                            return Some(Ok((key, entry.value)));
                        }
                        continue;
                    }
                    Some(Err(source)) => return Some(Err(self.fail(end, source))),
                    None => {
                        self.state = State::Exhausted;
                        self.sources = None;
                        return None;
                    }
                }
            }
            // Base entries before the next own write and the next delta
            // version pass through with one comparison each.
            sources.peek_changes(end);
            match sources.next_base(end) {
                Some(Ok((key, entry))) => {
                    if !sources.before_changes(end, &key) {
                        sources.ends[end].base = Some((key, entry));
                    } else if is_live(entry.expires_at_ms, read_physical_ms) {
                        self.track(end, &key, entry.expires_at_ms);
                        return Some(Ok((key, entry.value)));
                    } else {
                        continue;
                    }
                }
                Some(Err(source)) => return Some(Err(self.fail(end, source))),
                None => {}
            }
            let Some((key, value, expires_at_ms)) = sources.take(end, read_physical_ms) else {
                self.state = State::Exhausted;
                self.sources = None;
                return None;
            };
            if let Some(value) = value {
                self.track(end, &key, expires_at_ms);
                return Some(Ok((key, value)));
            }
        }
    }
}

impl Range<'_> {
    /// Calls `visit` with the next live entry in the direction the scan
    /// was opened with, and returns what it returns (`None` past the
    /// end, an error as [`Iterator::next`] gives it; the two interleave).
    /// Where the next entry is the base's (it comes before the next own
    /// write and the next delta version at this end) and no read set is
    /// kept, the key and value are borrowed from the base's cursor: no
    /// reference count per entry. Otherwise they come through the merge as
    /// `next` yields them.
    pub fn next_with<T>(&mut self, visit: impl FnOnce(&[u8], &[u8]) -> T) -> Option<Result<T>> {
        if self.state != State::Scanning {
            return None;
        }
        let end = self.first_end;
        let mut visit = Some(visit);
        if self.tracker.is_none()
            && let Some(sources) = self.sources.as_mut()
        {
            let read_physical_ms = self.read_timestamp.physical_ms();
            match sources.visit_base(end, read_physical_ms, &mut visit) {
                Visited::Entry(value) => return Some(Ok(value)),
                Visited::Failed(source) => return Some(Err(self.fail(end, source))),
                Visited::Merge => {}
            }
        }
        let visit = visit?;
        Some(match self.advance(end)? {
            Ok((key, value)) => Ok(visit(&key, &value)),
            Err(error) => Err(error),
        })
    }

    /// Under Serializable, notes a yielded key: the last from `end`, and
    /// the expiry of its value (if it came from the delta or the base).
    fn track(&mut self, end: usize, key: &Bytes, expires_at_ms: Option<u64>) {
        if self.tracker.is_none() {
            return;
        }
        self.last[end] = Some(key.clone());
        if let Some(expires_at_ms) = expires_at_ms
            && self
                .earliest_expiry
                .as_ref()
                .is_none_or(|(earliest, _)| expires_at_ms < *earliest)
        {
            self.earliest_expiry = Some((expires_at_ms, key.clone()));
        }
    }
}

impl Range<'_> {
    /// Ends the scan on a base error.
    fn fail(&mut self, end: usize, source: crate::BoxError) -> Error {
        self.state = State::Failed;
        self.sources = None;
        Error::Base {
            operation: BaseOperation::RangeNext,
            // The last key the scan yielded from this end.
            key: self.last[end].clone(),
            source,
        }
    }
}

/// What [`Sources::visit_base`] did.
enum Visited<T> {
    /// Visited a live base entry: what the visit returned.
    Entry(T),
    /// The base failed.
    Failed(crate::BoxError),
    /// The base's next entry is not before the other sources' next key, a
    /// base item waits in a peek slot, or the base ran dry: the merge
    /// takes the next entry.
    Merge,
}

impl<'a> Sources<'a> {
    /// Visits the base's next live entry at `end` in place, if it comes
    /// before every own write and delta version waiting at this end (then
    /// it is what the merge would yield) and no base item waits in a peek
    /// slot of this end.
    fn visit_base<T>(
        &mut self,
        end: usize,
        read_physical_ms: u64,
        visit: &mut Option<impl FnOnce(&[u8], &[u8]) -> T>,
    ) -> Visited<T> {
        let forward = end == 0;
        let base_only = self.base_only(end);
        if !base_only {
            self.peek_changes(end);
        }
        if self.ends[end].base.is_some() || self.ends[end].base_done {
            return Visited::Merge;
        }
        loop {
            let before = if base_only {
                None
            } else {
                let [front, back] = &self.ends;
                let (this, other) = if forward {
                    (front, back)
                } else {
                    (back, front)
                };
                let write = peeked(&this.write, this.writes_done, &other.write)
                    .map(|(key, _)| Bytes::as_ref(key));
                let delta =
                    peeked(&this.delta, this.delta_done, &other.delta).map(|(key, _)| key.as_ref());
                match (write, delta) {
                    (Some(write), Some(delta)) => Some(if (write < delta) == forward {
                        write
                    } else {
                        delta
                    }),
                    (write, delta) => write.or(delta),
                }
            };
            match self.base.next_ref(forward, before) {
                Some(Ok(Some((key, (value, expires_at_ms))))) => {
                    if is_live(expires_at_ms, read_physical_ms)
                        && let Some(visit) = visit.take()
                    {
                        return Visited::Entry(visit(key, value));
                    }
                }
                Some(Ok(None)) => return Visited::Merge,
                Some(Err(source)) => return Visited::Failed(source),
                None => {
                    self.ends[end].base_done = true;
                    return Visited::Merge;
                }
            }
        }
    }

    /// The base's next item at `end`, the one the other end peeked when
    /// this end ran the base dry.
    fn next_base(&mut self, end: usize) -> Option<Result<(Bytes, ValueEntry), crate::BoxError>> {
        if let Some(item) = self.ends[end].base.take() {
            return Some(Ok(item));
        }
        if !self.ends[end].base_done {
            let item = if end == 0 {
                self.base.next()
            } else {
                self.base.next_back()
            };
            match item {
                None => self.ends[end].base_done = true,
                some => return some,
            }
        }
        self.ends[1 - end].base.take().map(Ok)
    }

    /// Fills `end`'s empty own-write and delta peek slots, skipping delta
    /// keys with no version visible at the read timestamp.
    fn peek_changes(&mut self, end: usize) {
        let forward = end == 0;
        let peeked = &mut self.ends[end];
        if peeked.write.is_none() && !peeked.writes_done {
            let write = if forward {
                self.writes.next()
            } else {
                self.writes.next_back()
            };
            peeked.write = write;
            peeked.writes_done = peeked.write.is_none();
        }
        if peeked.delta.is_none() && !peeked.delta_done {
            peeked.delta = self.delta.next(end);
            peeked.delta_done = peeked.delta.is_none();
        }
    }

    /// The peek slots of `end` and of the other end.
    fn end_and_other(&mut self, end: usize) -> (&mut Peeked<'a>, &mut Peeked<'a>) {
        let [front, back] = &mut self.ends;
        if end == 0 {
            (front, back)
        } else {
            (back, front)
        }
    }

    /// Whether `key` comes before every own write and delta version still
    /// waiting at `end` (those this end ran dry of may wait at the other).
    fn before_changes(&mut self, end: usize, key: &[u8]) -> bool {
        let forward = end == 0;
        let (this, other) = self.end_and_other(end);
        let write = waiting(&mut this.write, this.writes_done, &mut other.write)
            .as_ref()
            .map(|(key, _)| Bytes::as_ref(key));
        let delta = waiting(&mut this.delta, this.delta_done, &mut other.delta)
            .as_ref()
            .map(|(key, _)| key.as_ref());
        let before = |change: Option<&[u8]>| {
            change.is_none_or(|change| if forward { key < change } else { key > change })
        };
        before(write) && before(delta)
    }

    /// Whether only the base has anything left for `end`: no own write
    /// and no delta version waits at either end. Then the merge is a
    /// pass-through of the base, with no comparison per entry.
    fn base_only(&mut self, end: usize) -> bool {
        if self.base_only[end] {
            return true;
        }
        let [this, other] = [&self.ends[end], &self.ends[1 - end]];
        self.base_only[end] = this.writes_done
            && this.delta_done
            && this.write.is_none()
            && this.delta.is_none()
            && other.write.is_none()
            && other.delta.is_none();
        self.base_only[end]
    }

    /// Takes the key nearest `end` among the peeked items (those of a
    /// source this end ran dry of may wait in the other end's slots) and
    /// what it reads as: `None` for a tombstone or an expired value; with
    /// the expiry of a live value from the delta or the base (not of an own
    /// write).
    fn take(
        &mut self,
        end: usize,
        read_physical_ms: u64,
    ) -> Option<(Bytes, Option<Bytes>, Option<u64>)> {
        let forward = end == 0;
        let (this, other) = self.end_and_other(end);
        let write_slot = waiting(&mut this.write, this.writes_done, &mut other.write);
        let delta_slot = waiting(&mut this.delta, this.delta_done, &mut other.delta);
        let base_slot = waiting(&mut this.base, this.base_done, &mut other.base);
        let candidates = [
            write_slot.as_ref().map(|(key, _)| Bytes::as_ref(key)),
            delta_slot.as_ref().map(|(key, _)| key.as_ref()),
            base_slot.as_ref().map(|(key, _)| key.as_ref()),
        ];
        let chosen: &[u8] = candidates.into_iter().flatten().reduce(|best, key| {
            if (key < best) == forward && key != best {
                key
            } else {
                best
            }
        })?;
        let matches = candidates.map(|key| key == Some(chosen));
        let write = write_slot.take_if(|_| matches[0]);
        let delta = delta_slot.take_if(|_| matches[1]);
        let base = base_slot.take_if(|_| matches[2]);
        Some(match (write, delta, base) {
            (Some((key, change)), _, _) => (
                key.into_owned(),
                change.live_value(read_physical_ms).cloned(),
                None,
            ),
            (None, Some((key, change)), _) => {
                let value = change.live_value(read_physical_ms).cloned();
                let expires_at_ms = match &change {
                    Change::Put { expires_at_ms, .. } => *expires_at_ms,
                    Change::Delete => None,
                };
                (key, value, expires_at_ms)
            }
            (None, None, Some((key, entry))) => {
                let value = is_live(entry.expires_at_ms, read_physical_ms).then_some(entry.value);
                (key, value, entry.expires_at_ms)
            }
            (None, None, None) => return None,
        })
    }
}

/// [`waiting`], read only: the item a source holds next for one end.
fn peeked<'s, T>(mine: &'s Option<T>, done: bool, theirs: &'s Option<T>) -> Option<&'s T> {
    if mine.is_none() && done {
        theirs.as_ref()
    } else {
        mine.as_ref()
    }
}

/// The slot where a source's next item for one end waits: that end's own,
/// or, once that end ran the source dry, the other end's (which may still
/// hold the source's last item).
fn waiting<'s, T>(
    mine: &'s mut Option<T>,
    done: bool,
    theirs: &'s mut Option<T>,
) -> &'s mut Option<T> {
    if mine.is_none() && done { theirs } else { mine }
}

impl Iterator for Range<'_> {
    type Item = Result<(Bytes, Bytes)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.state != State::Scanning {
            return None;
        }
        self.advance(self.first_end)
    }
}

impl DoubleEndedIterator for Range<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.state != State::Scanning {
            return None;
        }
        self.advance(1 - self.first_end)
    }
}

impl Drop for Range<'_> {
    fn drop(&mut self) {
        let (Some(tracker), Some(bounds)) = (self.tracker.take(), self.bounds.take()) else {
            return;
        };
        let mut tracker = tracker.borrow_mut();
        if let Some((expires_at_ms, key)) = self.earliest_expiry.take() {
            tracker.note_expiry(&key, expires_at_ms);
        }
        // Track what the scan covered: everything if it ran to the end (or
        // failed), else from each bound up to the last key yielded there.
        if self.state != State::Scanning {
            tracker.add_range(bounds, self.read_bytes_max);
            return;
        }
        let [front, back] = std::mem::take(&mut self.last);
        if let Some(last) = front {
            let covered = KeyRange {
                lower: bounds.lower.clone(),
                upper: Bound::Included(last),
            };
            tracker.add_range(covered, self.read_bytes_max);
        }
        if let Some(last) = back {
            let covered = KeyRange {
                lower: Bound::Included(last),
                upper: bounds.upper.clone(),
            };
            tracker.add_range(covered, self.read_bytes_max);
        }
    }
}

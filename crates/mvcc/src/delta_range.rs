//! [`DeltaCursor`]: the delta's side of a range scan — each key within the
//! bounds with its newest version visible at the read timestamp, from the
//! skiplist and the frozen batches merged, taken from either end.

use std::ops::{Bound, Range};
use std::sync::Arc;

use bytes::Bytes;
use keel_tso::Timestamp;

use crate::batch::Batch;
use crate::delta::{DeltaRange, DeltaStore};
use crate::write_set::Change;

/// A visible version: its key, timestamp and change.
type Item = (Bytes, Timestamp, Change);

pub(crate) struct DeltaCursor<'a> {
    delta: &'a DeltaStore,
    /// The skiplist's keys in the bounds; `None` when the skiplist was
    /// empty as the cursor began: every version visible at the read
    /// timestamp is then in the base (or a batch), and none can arrive
    /// (a commit is installed before its timestamp becomes readable).
    map: Option<DeltaRange<'a>>,
    read_timestamp: Timestamp,
    /// The skiplist's next visible item at each end (index 0: the front).
    peeked: [Option<Item>; 2],
    /// Per end: the skiplist ran dry there (the other end may still hold
    /// its last item in its slot).
    map_done: [bool; 2],
    /// The batches visible at the read timestamp, oldest first, each with
    /// the window of its entries not yet taken from either end.
    batches: Vec<(Arc<Batch>, Range<usize>)>,
}

impl<'a> DeltaCursor<'a> {
    pub(crate) fn new(
        delta: &'a DeltaStore,
        lower: Bound<Bytes>,
        upper: Bound<Bytes>,
        read_timestamp: Timestamp,
    ) -> DeltaCursor<'a> {
        let batches = delta
            .batches()
            .map(|batches| {
                batches
                    .iter()
                    .filter(|batch| batch.visible_at(read_timestamp))
                    .map(|batch| (Arc::clone(batch), batch.window(&lower, &upper)))
                    .filter(|(_, window)| window.start < window.end)
                    .collect()
            })
            .unwrap_or_default();
        // A skiplist seen empty now stays empty at this read timestamp:
        // what a fold removes is in the base, what a commit installs later
        // is newer (see `map`).
        let map = (!delta.is_map_empty()).then(|| delta.range(lower, upper));
        DeltaCursor {
            delta,
            map_done: [map.is_none(); 2],
            map,
            read_timestamp,
            peeked: [None, None],
            batches,
        }
    }

    /// The next key from `end` with its visible change above the delta's
    /// floor (the base answers for versions at or below it).
    pub(crate) fn next(&mut self, end: usize) -> Option<(Bytes, Change)> {
        loop {
            self.fill(end);
            // After the skiplist was read (see `DeltaStore::floor`).
            let floor = self.delta.floor();
            self.batches.retain(|(batch, _)| batch.timestamp > floor);
            for slot in &mut self.peeked {
                slot.take_if(|(_, timestamp, _)| *timestamp <= floor);
            }
            if self.peeked[end].is_none() && !self.map_done[end] {
                // The peeked version fell below the floor: the next key.
                continue;
            }
            if self.batches.is_empty() {
                let (key, _, change) = self.map_slot(end).take()?;
                return Some((key, change));
            }
            return self.next_merged(end);
        }
    }

    /// Fills `end`'s skiplist slot with the next key that has a version
    /// visible at the read timestamp.
    fn fill(&mut self, end: usize) {
        while self.peeked[end].is_none() && !self.map_done[end] {
            let Some(map) = self.map.as_mut() else {
                self.map_done[end] = true;
                return;
            };
            let read_timestamp = self.read_timestamp;
            let next = map.next_with(end, |key, chain| {
                let version = chain.visible(read_timestamp)?;
                Some((key.clone(), version.timestamp, version.change))
            });
            match next {
                None => self.map_done[end] = true,
                Some(visible) => self.peeked[end] = visible,
            }
        }
    }

    /// The slot where the skiplist's next item for `end` waits: its own,
    /// or the other end's once `end` ran the skiplist dry.
    fn map_slot(&mut self, end: usize) -> &mut Option<Item> {
        if self.peeked[end].is_none() && self.map_done[end] {
            &mut self.peeked[1 - end]
        } else {
            &mut self.peeked[end]
        }
    }

    /// The key nearest `end` among the skiplist and the batches, with the
    /// newest of their versions of it; every source holding it moves on.
    fn next_merged(&mut self, end: usize) -> Option<(Bytes, Change)> {
        let forward = end == 0;
        let nearer = |key: &[u8], best: &Bytes| {
            if forward {
                key < best.as_ref()
            } else {
                key > best.as_ref()
            }
        };
        let mut chosen: Option<Bytes> = self.map_slot(end).as_ref().map(|(key, ..)| key.clone());
        for (batch, window) in self
            .batches
            .iter()
            .filter(|(_, window)| window.start < window.end)
        {
            let key = edge_key(batch, window, forward);
            if chosen.as_ref().is_none_or(|best| nearer(key, best)) {
                chosen = Some(Bytes::copy_from_slice(key));
            }
        }
        let chosen = chosen?;
        let mut newest: Option<(Timestamp, Change)> = None;
        let slot = self.map_slot(end);
        if slot.as_ref().is_some_and(|(key, ..)| *key == chosen) {
            let (_, timestamp, change) = slot.take().expect("checked just now");
            newest = Some((timestamp, change));
        }
        for (batch, window) in &mut self.batches {
            if window.start == window.end || edge_key(batch, window, forward) != chosen {
                continue;
            }
            if newest
                .as_ref()
                .is_none_or(|(timestamp, _)| batch.timestamp > *timestamp)
            {
                let entry = batch.entry(edge_position(window, forward));
                newest = Some((batch.timestamp, entry.into_owned().change));
            }
            if forward {
                window.start += 1;
            } else {
                window.end -= 1;
            }
        }
        let (_, change) = newest?;
        Some((chosen, change))
    }
}

/// The position at the `forward` (or back) edge of a non-empty `window`.
fn edge_position(window: &Range<usize>, forward: bool) -> usize {
    if forward {
        window.start
    } else {
        window.end - 1
    }
}

/// The key of `batch` at the `forward` (or back) edge of a non-empty
/// `window`.
fn edge_key<'b>(batch: &'b Batch, window: &Range<usize>, forward: bool) -> &'b [u8] {
    batch.key(edge_position(window, forward))
}

//! [`DeltaCursor`]: the delta's side of a range scan — each key within the
//! bounds with its newest version visible at the read timestamp, from the
//! skiplist and the frozen batches merged, taken from either end.

use std::ops::{Bound, Range};
use std::sync::Arc;

use bytes::Bytes;
use keel_tso::Timestamp;
use smallvec::SmallVec;

use crate::batch::Batch;
use crate::delta::{BATCHES_MAX, DeltaRange, DeltaStore};
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
    #[inline]
    pub(crate) fn new(
        delta: &'a DeltaStore,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        read_timestamp: Timestamp,
    ) -> DeltaCursor<'a> {
        let batches = delta
            .batches()
            .map(|batches| {
                batches
                    .iter()
                    .filter(|batch| batch.visible_at(read_timestamp))
                    .map(|batch| (Arc::clone(batch), batch.window(lower, upper)))
                    .filter(|(_, window)| window.start < window.end)
                    .collect()
            })
            .unwrap_or_default();
        // A skiplist seen empty now stays empty at this read timestamp:
        // what a fold removes is in the base, what a commit installs later
        // is newer (see `map`). Only then are the bounds copied.
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
        let slot = self.map_slot_index(end);
        &mut self.peeked[slot]
    }

    /// [`DeltaCursor::map_slot`], to read.
    fn map_slot_ref(&self, end: usize) -> &Option<Item> {
        &self.peeked[self.map_slot_index(end)]
    }

    /// Which end's slot [`DeltaCursor::map_slot`] is.
    fn map_slot_index(&self, end: usize) -> usize {
        if self.peeked[end].is_none() && self.map_done[end] {
            1 - end
        } else {
            end
        }
    }

    /// The key nearest `end` among the skiplist and the batches, with the
    /// newest of their versions of it; every source holding it moves on.
    /// The key is handed on as a source holds it (the skiplist's, or the
    /// newest batch entry's `Bytes`): no copy.
    fn next_merged(&mut self, end: usize) -> Option<(Bytes, Change)> {
        let forward = end == 0;
        let nearer = |key: &[u8], best: &[u8]| if forward { key < best } else { key > best };
        // The nearest key: the skiplist's on a tie (its key is a `Bytes`
        // already), else the batch's that holds it first.
        let mut chosen_batch: Option<usize> = None;
        for (index, (batch, window)) in self.batches.iter().enumerate() {
            if window.start == window.end {
                continue;
            }
            let key = edge_key(batch, window, forward);
            if chosen_batch.is_none_or(|best| nearer(key, self.batch_edge(best, forward))) {
                chosen_batch = Some(index);
            }
        }
        let slot_key = self
            .map_slot_ref(end)
            .as_ref()
            .map(|(key, ..)| key.as_ref());
        let chosen: &[u8] = match (slot_key, chosen_batch) {
            (Some(slot), Some(best)) if nearer(self.batch_edge(best, forward), slot) => {
                self.batch_edge(best, forward)
            }
            (Some(slot), _) => slot,
            (None, Some(best)) => self.batch_edge(best, forward),
            (None, None) => return None,
        };
        // The batches holding it, and the newest.
        let from_slot = slot_key == Some(chosen);
        let mut holding: SmallVec<[usize; BATCHES_MAX]> = SmallVec::new();
        let mut newest_batch: Option<usize> = None;
        for (index, (batch, window)) in self.batches.iter().enumerate() {
            if window.start == window.end || edge_key(batch, window, forward) != chosen {
                continue;
            }
            holding.push(index);
            if newest_batch.is_none_or(|newest| batch.timestamp > self.batches[newest].0.timestamp)
            {
                newest_batch = Some(index);
            }
        }
        let slot = from_slot.then(|| self.map_slot(end).take()).flatten();
        let batch_entry = newest_batch
            .filter(|&index| {
                slot.as_ref()
                    .is_none_or(|(_, timestamp, _)| self.batches[index].0.timestamp > *timestamp)
            })
            .map(|index| {
                let (batch, window) = &self.batches[index];
                batch.entry(edge_position(window, forward)).into_owned()
            });
        for index in holding {
            let window = &mut self.batches[index].1;
            if forward {
                window.start += 1;
            } else {
                window.end -= 1;
            }
        }
        match (slot, batch_entry) {
            (Some((key, ..)), Some(entry)) => Some((key, entry.change)),
            (Some((key, _, change)), None) => Some((key, change)),
            (None, Some(entry)) => Some((entry.key, entry.change)),
            (None, None) => None,
        }
    }

    /// The key at the `forward` (or back) edge of batch `index`'s window
    /// (not empty).
    fn batch_edge(&self, index: usize, forward: bool) -> &[u8] {
        let (batch, window) = &self.batches[index];
        edge_key(batch, window, forward)
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

//! [`OwnWrites`]: a transaction's own writes within bounds, in key order
//! from either end — its in-memory map, merged with its spilled runs when
//! it has any (a key's change in memory wins over a run's, a newer run's
//! over an older's).

use std::borrow::Cow;
use std::collections::{BTreeMap, btree_map};
use std::ops::{Bound, Range};

use bytes::Bytes;

use crate::write_set::{BufferedKey, Change, WriteSet};

/// One own write: its key and change, borrowed from memory or read from a
/// run's map.
pub(crate) type OwnItem<'a> = (Cow<'a, Bytes>, Cow<'a, Change>);

/// See the module docs.
pub(crate) enum OwnWrites<'a> {
    /// Nothing spilled: the map's range as it is.
    Memory(btree_map::Range<'a, BufferedKey, Change>),
    /// Several sources, highest priority first.
    Merged(Vec<Source<'a>>),
}

/// A source of a merge, with the window of its positions not yet taken.
pub(crate) enum Source<'a> {
    Map(Vec<(&'a BufferedKey, &'a Change)>, Range<usize>),
    Set(&'a WriteSet, Range<usize>),
}

impl<'a> Source<'a> {
    fn window(&self) -> &Range<usize> {
        match self {
            Source::Map(_, window) | Source::Set(_, window) => window,
        }
    }

    fn window_mut(&mut self) -> &mut Range<usize> {
        match self {
            Source::Map(_, window) | Source::Set(_, window) => window,
        }
    }

    /// The position at the front (`forward`) or back edge, if any is left.
    fn edge(&self, forward: bool) -> Option<usize> {
        let window = self.window();
        (window.start < window.end).then(|| {
            if forward {
                window.start
            } else {
                window.end - 1
            }
        })
    }

    fn key(&self, position: usize) -> &[u8] {
        match self {
            Source::Map(entries, _) => entries[position].0.key(),
            Source::Set(set, _) => set.key(position),
        }
    }

    fn item(&self, position: usize) -> OwnItem<'a> {
        match self {
            Source::Map(entries, _) => {
                let (key, change) = entries[position];
                (Cow::Borrowed(key.key()), Cow::Borrowed(change))
            }
            Source::Set(set, _) => match set.entry(position) {
                Cow::Borrowed(entry) => (Cow::Borrowed(&entry.key), Cow::Borrowed(&entry.change)),
                Cow::Owned(entry) => (Cow::Owned(entry.key), Cow::Owned(entry.change)),
            },
        }
    }
}

impl<'a> OwnWrites<'a> {
    /// The writes of `memory` and `runs` (oldest first) within the bounds.
    pub(crate) fn new(
        memory: &'a BTreeMap<BufferedKey, Change>,
        runs: &'a [WriteSet],
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
    ) -> OwnWrites<'a> {
        let in_memory = memory.range::<[u8], _>((lower, upper));
        if runs.is_empty() {
            return OwnWrites::Memory(in_memory);
        }
        let entries: Vec<_> = in_memory.collect();
        let all = 0..entries.len();
        let mut sources = vec![Source::Map(entries, all)];
        for run in runs.iter().rev() {
            sources.push(Source::Set(run, run.window(lower, upper)));
        }
        OwnWrites::Merged(sources)
    }

    /// Every write of `memory` (the newest) and `runs` (oldest first).
    pub(crate) fn of_sets(memory: &'a WriteSet, runs: &'a [WriteSet]) -> OwnWrites<'a> {
        let sets = std::iter::once(memory).chain(runs.iter().rev());
        OwnWrites::Merged(sets.map(|set| Source::Set(set, 0..set.len())).collect())
    }

    /// The next write from the front (`forward`) or the back.
    fn take(&mut self, forward: bool) -> Option<OwnItem<'a>> {
        let sources = match self {
            OwnWrites::Memory(range) => {
                let (key, change) = if forward {
                    range.next()
                } else {
                    range.next_back()
                }?;
                return Some((Cow::Borrowed(key.key()), Cow::Borrowed(change)));
            }
            OwnWrites::Merged(sources) => sources,
        };
        let mut chosen: Option<(usize, usize)> = None;
        for (index, source) in sources.iter().enumerate() {
            let Some(position) = source.edge(forward) else {
                continue;
            };
            let nearer = chosen.is_none_or(|(best, at)| {
                let (key, best) = (source.key(position), sources[best].key(at));
                if forward { key < best } else { key > best }
            });
            if nearer {
                chosen = Some((index, position));
            }
        }
        let (index, position) = chosen?;
        let item = sources[index].item(position);
        // Every source holding the key moves past it; the first (highest
        // priority) one's change is the one chosen above, since ties keep
        // the earlier source.
        for source in sources.iter_mut() {
            if let Some(at) = source.edge(forward)
                && source.key(at) == item.0.as_ref().as_ref()
            {
                let window = source.window_mut();
                if forward {
                    window.start += 1;
                } else {
                    window.end -= 1;
                }
            }
        }
        Some(item)
    }
}

impl<'a> Iterator for OwnWrites<'a> {
    type Item = OwnItem<'a>;

    fn next(&mut self) -> Option<OwnItem<'a>> {
        self.take(true)
    }
}

impl DoubleEndedIterator for OwnWrites<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.take(false)
    }
}

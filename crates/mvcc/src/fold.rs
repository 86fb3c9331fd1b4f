//! Folding and garbage collection.
//!
//! `fold(S, sink)` hands the sink, in key order, every key's newest
//! committed version at or below S that is newer than the previous fold
//! point, then `finish`es the sink: the base now holds the state at S.
//! Versions older than each key's folded one are dropped at once (no reader
//! reads below S). The folded versions themselves stay in the delta until
//! every transaction that was registered when the sink finished has left:
//! such a transaction may hold a base iterator opened before the sink's
//! writes, and must still find the folded version in the delta (BRIEF
//! invariant 2). A later `fold` or `collect_garbage` drops them, and removes
//! keys left without versions (under the sequencer, so that no install
//! races into a removed chain).

use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use keel_tso::Timestamp;

use crate::base::FoldSink;
use crate::batch::Merged;
use crate::chain::{Collect, Detached};
use crate::delta::DeltaEntry;
use crate::error::{BaseOperation, Error, Result};
use crate::manager::{Inner, TransactionManager};
use crate::stats::Counters;
use crate::write_set::Change;

/// Keys removed from the skiplist per hold of the sequencer, at most, so
/// that garbage collection never stalls commits for long: those of one
/// group of a walk of the skiplist.
pub const KEY_REMOVALS_PER_SEQUENCER_HOLD: usize = crate::delta::KEYS_PER_PIN;

/// Folds waiting for their grace period, at most; beyond it the oldest
/// (whose versions a newer fold also covers) is merged away.
pub const PENDING_COLLECTIONS_MAX: usize = 64;

#[derive(Debug, Clone, Copy)]
struct PendingCollection {
    fold_point: Timestamp,
    /// The registry's next sequence number when the sink finished: the
    /// grace period ends once every transaction below it has left.
    fence: u64,
}

/// The folder's state (the fold lock).
#[derive(Debug, Default)]
pub(crate) struct FoldState {
    pending: VecDeque<PendingCollection>,
}

/// What a fold did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct FoldReport {
    /// The fold point after the fold.
    pub fold_point: Timestamp,
    /// Keys handed to the sink.
    pub keys_folded: u64,
    /// Versions dropped from the delta store during the call.
    pub collected: Detached,
}

/// See the module documentation.
pub(crate) fn fold(
    manager: &TransactionManager,
    fold_point: Timestamp,
    sink: &mut dyn FoldSink,
) -> Result<FoldReport> {
    let inner = &manager.inner;
    let mut state = inner.fold.lock();
    let safe_point = manager.safe_point();
    if fold_point > safe_point {
        return Err(Error::SafePointAhead {
            requested: fold_point,
            safe_point,
        });
    }
    let mut collected = collect_ready(inner, &mut state);
    let mut older_than_folded = Detached::default();
    let previous = inner.fold_point();
    if fold_point <= previous {
        return Ok(FoldReport {
            fold_point: previous,
            keys_folded: 0,
            collected,
        });
    }
    // Frozen batches above the last fold point and at or below this one,
    // merged with the skiplist in key order: each key once, newest wins.
    let batches = inner.delta.batches();
    let folding = batches
        .iter()
        .flat_map(|batches| batches.iter())
        .filter(|batch| batch.timestamp > previous && batch.visible_at(fold_point));
    let mut merged = Merged::new(folding.map(|batch| &**batch));
    let mut keys_folded = 0;
    let mut apply = |key: &Bytes, change: &Change| -> Result<()> {
        keys_folded += 1;
        sink.apply(key, change).map_err(|source| Error::Base {
            operation: BaseOperation::FoldApply,
            key: Some(key.clone()),
            source,
        })
    };
    let visit = |entry: &DeltaEntry<'_, '_>| -> Result<bool> {
        let key = entry.key();
        while let Some(batch_key) = merged.peek_key()
            && batch_key < key.as_ref()
        {
            let (_, entry) = merged.next().expect("a key was peeked");
            apply(&entry.key, &entry.change)?;
        }
        let chain = entry.value();
        let chained = chain
            .visible(fold_point)
            .filter(|version| version.timestamp > previous);
        match (chained, merged.take_key(key)) {
            (Some(version), Some((timestamp, _))) if version.timestamp > timestamp => {
                apply(key, &version.change)?;
            }
            (_, Some((_, entry))) => apply(key, &entry.change)?,
            (Some(version), None) => apply(key, &version.change)?,
            (None, None) => {}
        }
        // Nobody reads below `fold_point` any more (it is at most the
        // oldest read timestamp, and new readers read at the watermark).
        let detached = chain.collect(fold_point, Collect::OlderThanFolded);
        inner.delta.forget(key.len(), detached);
        older_than_folded += detached;
        Ok(false)
    };
    inner.delta.walk(visit, |_| {})?;
    for (_, entry) in merged {
        apply(&entry.key, &entry.change)?;
    }
    collected += older_than_folded;
    sink.finish(fold_point).map_err(|source| Error::Base {
        operation: BaseOperation::FoldFinish,
        key: None,
        source,
    })?;
    inner
        .fold_point
        .store(fold_point.as_u64(), Ordering::Release);
    if state.pending.len() == PENDING_COLLECTIONS_MAX {
        state.pending.pop_front();
    }
    state.pending.push_back(PendingCollection {
        fold_point,
        fence: inner.registry.next_sequence(),
    });
    collected += collect_ready(inner, &mut state);
    if older_than_folded.versions > 0 {
        inner.counters.room_freed.fetch_add(1, Ordering::Release);
        inner.room.1.notify_all();
    }
    Counters::bump(&inner.counters.folds);
    inner
        .counters
        .versions_folded
        .fetch_add(keys_folded, Ordering::Relaxed);
    inner
        .counters
        .versions_collected
        .fetch_add(older_than_folded.versions, Ordering::Relaxed);
    Ok(FoldReport {
        fold_point,
        keys_folded,
        collected,
    })
}

/// Drops the folded versions of every pending collection whose grace period
/// has ended.
pub(crate) fn collect_ready(inner: &Inner, state: &mut FoldState) -> Detached {
    let mut ready = None;
    while let Some(pending) = state.pending.front()
        && inner.registry.all_left_before(pending.fence)
    {
        ready = Some(pending.fold_point);
        state.pending.pop_front();
    }
    let Some(fold_point) = ready else {
        return Detached::default();
    };
    let detached = inner
        .delta
        .collect(fold_point, Collect::AllFolded, || inner.sequencer.lock());
    inner
        .counters
        .versions_collected
        .fetch_add(detached.versions, Ordering::Relaxed);
    if detached.versions > 0 {
        inner.counters.room_freed.fetch_add(1, Ordering::Release);
    }
    inner.room.1.notify_all();
    detached
}

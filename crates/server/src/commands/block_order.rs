//! The order in which blocked clients run again: Redis serves the clients
//! blocked on a key in the order they blocked, so that, of two BLPOPs
//! waiting on one list, the first gets the element one LPUSH adds. keel's
//! blocked clients run again on their own event loops whenever a write
//! commits (`blocking.rs`); without an order, the second could take the
//! element before the first tried (and the first, finding the list empty,
//! would wait on).
//!
//! Here every wait has a place — when its request was read, then a
//! sequence number —, its keys and the backend's
//! write epoch its last attempt saw. A waiting client may run again only
//! once every earlier one sharing a key has made an attempt that saw the
//! epoch it found when its own turn came (so the earlier one had its
//! chance at what was there then); until then it stays waiting, without
//! running. An attempt or an end of a wait that gives a later one its turn
//! says so, and the caller wakes the event loops.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Mutex;
use std::time::Instant;

use bytes::Bytes;

use crate::backend::DatabaseIndex;
use crate::state::lock;

/// A wait's place in the order: when its request was read (so that of
/// two clients sending at once to two event loops, the first to send is
/// first, whichever loop runs first), then the order of entry.
pub(crate) type Place = (Instant, u64);

/// The waits in order; see the module documentation.
#[derive(Debug, Default)]
pub(crate) struct BlockOrder {
    inner: Mutex<Waits>,
}

#[derive(Debug, Default)]
struct Waits {
    next: u64,
    waits: BTreeMap<Place, Wait>,
}

#[derive(Debug)]
struct Wait {
    database: DatabaseIndex,
    /// `None`: the command's keys are not at fixed positions (BLMPOP,
    /// XREAD …): it shares a key with every wait.
    keys: Option<Vec<Bytes>>,
    /// The write epoch its last attempt saw (read before it ran).
    attempted: u64,
    /// The write epoch when it found its turn not come, until it runs.
    turn: Option<u64>,
}

impl Wait {
    fn shares_a_key(&self, other: &Wait) -> bool {
        if self.database != other.database {
            return false;
        }
        match (&self.keys, &other.keys) {
            (Some(mine), Some(theirs)) => mine.iter().any(|key| theirs.contains(key)),
            _ => true,
        }
    }
}

impl BlockOrder {
    /// Enters a wait whose first attempt saw `epoch`: its sequence number.
    pub(crate) fn enter(
        &self,
        received: Instant,
        database: DatabaseIndex,
        keys: Option<Vec<Bytes>>,
        epoch: u64,
    ) -> Place {
        self.insert(
            received,
            Wait {
                database,
                keys,
                attempted: epoch,
                turn: None,
            },
        )
    }

    /// Enters a wait that has not tried yet, its turn come at `epoch`
    /// (a new blocking command behind an earlier wait, see
    /// [`BlockOrder::behind_earlier`]): its sequence number.
    pub(crate) fn enter_untried(
        &self,
        received: Instant,
        database: DatabaseIndex,
        keys: Option<Vec<Bytes>>,
        epoch: u64,
    ) -> Place {
        self.insert(
            received,
            Wait {
                database,
                keys,
                attempted: 0,
                turn: Some(epoch),
            },
        )
    }

    fn insert(&self, received: Instant, wait: Wait) -> Place {
        let mut inner = lock(&self.inner);
        let place = (received, inner.next);
        inner.next += 1;
        inner.waits.insert(place, wait);
        place
    }

    /// Whether a new blocking command on `keys` must wait its turn rather
    /// than try now, the write epoch being `epoch`: a wait sharing a key
    /// has not tried since (what a write just gave is the earlier
    /// waits' first, as in Redis, where they are served before the next
    /// command runs).
    pub(crate) fn behind_earlier(
        &self,
        received: Instant,
        database: DatabaseIndex,
        keys: Option<&[Bytes]>,
        epoch: u64,
    ) -> bool {
        let inner = lock(&self.inner);
        if inner.waits.is_empty() {
            return false;
        }
        let probe = Wait {
            database,
            keys: keys.map(<[Bytes]>::to_vec),
            attempted: epoch,
            turn: None,
        };
        // Only waits read before it: a later one it goes before.
        inner
            .waits
            .range(..(received, u64::MAX))
            .any(|(_, earlier)| earlier.attempted < epoch && earlier.shares_a_key(&probe))
    }

    /// Whether wait `sequence` may run again now, the write epoch being
    /// `epoch`: every earlier wait sharing a key attempted since its turn
    /// came.
    pub(crate) fn may_run(&self, sequence: Place, epoch: u64) -> bool {
        let mut inner = lock(&self.inner);
        let Some(wait) = inner.waits.get_mut(&sequence) else {
            return true;
        };
        let turn = *wait.turn.get_or_insert(epoch);
        let Some(wait) = inner.waits.get(&sequence) else {
            return true;
        };
        !inner
            .waits
            .range(..sequence)
            .any(|(_, earlier)| earlier.attempted < turn && earlier.shares_a_key(wait))
    }

    /// Notes that wait `sequence` ran again, having seen `epoch`, and
    /// waits on: whether that gives a later wait its turn (wake the event
    /// loops then).
    pub(crate) fn attempted(&self, sequence: Place, epoch: u64) -> bool {
        let mut inner = lock(&self.inner);
        let Some(wait) = inner.waits.get_mut(&sequence) else {
            return false;
        };
        let before = wait.attempted;
        wait.attempted = wait.attempted.max(epoch);
        wait.turn = None;
        let Some(wait) = inner.waits.get(&sequence) else {
            return false;
        };
        let attempted = wait.attempted;
        let after = (Bound::Excluded(sequence), Bound::Unbounded);
        inner.waits.range(after).any(|(_, later)| {
            later
                .turn
                .is_some_and(|turn| before < turn && turn <= attempted && later.shares_a_key(wait))
        })
    }

    /// Ends wait `sequence`: whether a later wait sharing a key waits for
    /// its turn (wake the event loops then).
    pub(crate) fn leave(&self, sequence: Place) -> bool {
        let mut inner = lock(&self.inner);
        let Some(wait) = inner.waits.remove(&sequence) else {
            return false;
        };
        inner
            .waits
            .range((Bound::Excluded(sequence), Bound::Unbounded))
            .any(|(_, later)| later.turn.is_some() && later.shares_a_key(&wait))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(milliseconds: u64) -> Instant {
        static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
        *START.get_or_init(Instant::now) + std::time::Duration::from_millis(milliseconds)
    }

    fn keys(names: &[&'static str]) -> Option<Vec<Bytes>> {
        Some(
            names
                .iter()
                .map(|name| Bytes::from_static(name.as_bytes()))
                .collect(),
        )
    }

    #[test]
    fn a_later_wait_runs_once_the_earlier_one_on_its_key_tried() {
        let order = BlockOrder::default();
        let first = order.enter(at(1), 0, keys(&["list"]), 5);
        let second = order.enter(at(2), 0, keys(&["list"]), 5);
        let elsewhere = order.enter(at(3), 0, keys(&["other"]), 5);
        let other_database = order.enter(at(4), 1, keys(&["list"]), 5);
        // A push moved the epoch to 6: the second waits for the first.
        assert!(!order.may_run(second, 6));
        assert!(order.may_run(elsewhere, 6), "no earlier wait on its key");
        assert!(order.may_run(other_database, 6), "another database");
        assert!(order.may_run(first, 6));
        assert!(order.attempted(first, 6), "the second's turn came");
        assert!(order.may_run(second, 7), "its turn came at 6");
        assert!(!order.attempted(second, 7), "no later wait on its key");
    }

    #[test]
    fn a_new_command_queues_behind_a_wait_that_has_not_tried_since_a_write() {
        let order = BlockOrder::default();
        let first = order.enter(at(5), 0, keys(&["list"]), 5);
        let list = [Bytes::from_static(b"list")];
        assert!(
            !order.behind_earlier(at(9), 0, Some(&list), 5),
            "nothing new"
        );
        assert!(
            order.behind_earlier(at(9), 0, Some(&list), 6),
            "a push since"
        );
        assert!(!order.behind_earlier(at(9), 0, Some(&[Bytes::from_static(b"x")]), 6));
        assert!(
            !order.behind_earlier(at(0), 0, Some(&list), 6),
            "read before the wait: it goes first"
        );
        let second = order.enter_untried(at(6), 0, keys(&["list"]), 6);
        assert!(!order.may_run(second, 6));
        assert!(order.attempted(first, 6), "its turn came");
        assert!(order.may_run(second, 6));
    }

    #[test]
    fn a_wait_read_earlier_is_earlier_whichever_entered_first() {
        let order = BlockOrder::default();
        let later = order.enter(at(20), 0, keys(&["list"]), 1);
        let earlier = order.enter(at(10), 0, keys(&["list"]), 1);
        assert!(!order.may_run(later, 2), "the one read first tries first");
        assert!(order.may_run(earlier, 2));
        assert!(order.attempted(earlier, 2));
        assert!(order.may_run(later, 2));
    }

    #[test]
    fn an_ended_wait_gives_the_next_its_turn_and_movable_keys_share_all() {
        let order = BlockOrder::default();
        let first = order.enter(at(7), 0, keys(&["a"]), 1);
        let movable = order.enter(at(8), 0, None, 1);
        assert!(!order.may_run(movable, 2));
        assert!(order.leave(first), "the movable one waited on it");
        assert!(order.may_run(movable, 3));
        assert!(!order.leave(movable));
        assert!(order.may_run(movable, 4), "an ended wait runs");
    }
}

//! The order in which blocked clients run again: Redis serves the clients
//! blocked on a key in the order they blocked, so that, of two BLPOPs
//! waiting on one list, the first gets the element one LPUSH adds. keel's
//! blocked clients run again on their own event loops whenever a write
//! commits (`blocking.rs`); without an order, the second could take the
//! element before the first tried (and the first, finding the list empty,
//! would wait on).
//!
//! Here every wait has a sequence number, its keys and the backend's
//! write epoch its last attempt saw. A waiting client may run again only
//! once every earlier one sharing a key has made an attempt that saw the
//! epoch it found when its own turn came (so the earlier one had its
//! chance at what was there then); until then it stays waiting, without
//! running. An attempt or an end of a wait that gives a later one its turn
//! says so, and the caller wakes the event loops.

use std::collections::BTreeMap;
use std::sync::Mutex;

use bytes::Bytes;

use crate::backend::DatabaseIndex;
use crate::state::lock;

/// The waits in order; see the module documentation.
#[derive(Debug, Default)]
pub(crate) struct BlockOrder {
    inner: Mutex<Waits>,
}

#[derive(Debug, Default)]
struct Waits {
    next: u64,
    waits: BTreeMap<u64, Wait>,
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
        database: DatabaseIndex,
        keys: Option<Vec<Bytes>>,
        epoch: u64,
    ) -> u64 {
        self.insert(Wait {
            database,
            keys,
            attempted: epoch,
            turn: None,
        })
    }

    /// Enters a wait that has not tried yet, its turn come at `epoch`
    /// (a new blocking command behind an earlier wait, see
    /// [`BlockOrder::behind_earlier`]): its sequence number.
    pub(crate) fn enter_untried(
        &self,
        database: DatabaseIndex,
        keys: Option<Vec<Bytes>>,
        epoch: u64,
    ) -> u64 {
        self.insert(Wait {
            database,
            keys,
            attempted: 0,
            turn: Some(epoch),
        })
    }

    fn insert(&self, wait: Wait) -> u64 {
        let mut inner = lock(&self.inner);
        let sequence = inner.next;
        inner.next += 1;
        inner.waits.insert(sequence, wait);
        sequence
    }

    /// Whether a new blocking command on `keys` must wait its turn rather
    /// than try now, the write epoch being `epoch`: a wait sharing a key
    /// has not tried since (what a write just gave is the earlier
    /// waits' first, as in Redis, where they are served before the next
    /// command runs).
    pub(crate) fn behind_earlier(
        &self,
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
        inner
            .waits
            .values()
            .any(|earlier| earlier.attempted < epoch && earlier.shares_a_key(&probe))
    }

    /// Whether wait `sequence` may run again now, the write epoch being
    /// `epoch`: every earlier wait sharing a key attempted since its turn
    /// came.
    pub(crate) fn may_run(&self, sequence: u64, epoch: u64) -> bool {
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
    pub(crate) fn attempted(&self, sequence: u64, epoch: u64) -> bool {
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
        let after = wait.attempted;
        inner.waits.range(sequence + 1..).any(|(_, later)| {
            later
                .turn
                .is_some_and(|turn| before < turn && turn <= after && later.shares_a_key(wait))
        })
    }

    /// Ends wait `sequence`: whether a later wait sharing a key waits for
    /// its turn (wake the event loops then).
    pub(crate) fn leave(&self, sequence: u64) -> bool {
        let mut inner = lock(&self.inner);
        let Some(wait) = inner.waits.remove(&sequence) else {
            return false;
        };
        inner
            .waits
            .range(sequence + 1..)
            .any(|(_, later)| later.turn.is_some() && later.shares_a_key(&wait))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let first = order.enter(0, keys(&["list"]), 5);
        let second = order.enter(0, keys(&["list"]), 5);
        let elsewhere = order.enter(0, keys(&["other"]), 5);
        let other_database = order.enter(1, keys(&["list"]), 5);
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
        let first = order.enter(0, keys(&["list"]), 5);
        let list = [Bytes::from_static(b"list")];
        assert!(!order.behind_earlier(0, Some(&list), 5), "nothing new");
        assert!(order.behind_earlier(0, Some(&list), 6), "a push since");
        assert!(!order.behind_earlier(0, Some(&[Bytes::from_static(b"x")]), 6));
        let second = order.enter_untried(0, keys(&["list"]), 6);
        assert!(!order.may_run(second, 6));
        assert!(order.attempted(first, 6), "its turn came");
        assert!(order.may_run(second, 6));
    }

    #[test]
    fn an_ended_wait_gives_the_next_its_turn_and_movable_keys_share_all() {
        let order = BlockOrder::default();
        let first = order.enter(0, keys(&["a"]), 1);
        let movable = order.enter(0, None, 1);
        assert!(!order.may_run(movable, 2));
        assert!(order.leave(first), "the movable one waited on it");
        assert!(order.may_run(movable, 3));
        assert!(!order.leave(movable));
        assert!(order.may_run(movable, 4), "an ended wait runs");
    }
}

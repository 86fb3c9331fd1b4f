//! The expiry watch: where keyspace `expired` events come from.
//!
//! The engine hides a key the moment its deadline passes and its folds
//! drop it later, silently: nothing in keel tells when a key expired. So
//! while `expired` events are on, the backend remembers the deadlines its
//! commits set (each key's latest, cleared by a write without one, a
//! deletion, a flush or a swap of its database), and the sweep thread,
//! every [`EXPIRY_CHECK_INTERVAL`], takes those that passed, confirms in
//! a snapshot that the key is gone, and publishes `expired` for it.
//!
//! Only deadlines set while `expired` events were on are watched, at most
//! [`WATCHED_DEADLINES_MAX`] of them (later ones are not watched); an
//! event comes up to one interval after the deadline, where Redis fires
//! it on the first access or its next active-expire cycle.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;

use super::backend::{Shared, lock, now_ms, read};
use crate::backend::DatabaseIndex;
use crate::commands::notify::{EventClasses, KeyspaceEvent};

/// How often the sweep thread looks for passed deadlines.
pub const EXPIRY_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// Deadlines watched at most; past it a new deadline is not watched.
pub const WATCHED_DEADLINES_MAX: usize = 1 << 20;

/// Expired keys confirmed per snapshot.
const EXPIRED_BATCH_MAX: usize = 1024;

/// A change a commit made to what the watch must know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DeadlineChange {
    /// The key's deadline now (`None`: none, or the key is gone).
    Key {
        database: DatabaseIndex,
        key: Bytes,
        deadline_ms: Option<i64>,
    },
    /// Every key of the database changed (FLUSHDB, SWAPDB).
    Database(DatabaseIndex),
}

/// The deadlines watched, by key and by time.
#[derive(Debug, Default)]
struct Deadlines {
    by_key: HashMap<(DatabaseIndex, Bytes), i64>,
    by_time: BTreeSet<(i64, DatabaseIndex, Bytes)>,
}

impl Deadlines {
    fn forget(&mut self, database: DatabaseIndex, key: &Bytes) {
        if let Some(deadline) = self.by_key.remove(&(database, key.clone())) {
            self.by_time.remove(&(deadline, database, key.clone()));
        }
    }

    fn watch(&mut self, database: DatabaseIndex, key: Bytes, deadline_ms: i64) {
        self.forget(database, &key);
        if self.by_key.len() >= WATCHED_DEADLINES_MAX {
            return;
        }
        self.by_key.insert((database, key.clone()), deadline_ms);
        self.by_time.insert((deadline_ms, database, key));
    }

    fn forget_database(&mut self, database: DatabaseIndex) {
        self.by_key.retain(|(index, _), _| *index != database);
        self.by_time.retain(|(_, index, _)| *index != database);
    }

    /// Takes up to `count_max` deadlines at or before `now_ms`.
    fn take_due(&mut self, now_ms: i64, count_max: usize) -> Vec<(i64, DatabaseIndex, Bytes)> {
        let mut due = Vec::new();
        while due.len() < count_max {
            let Some(first) = self.by_time.first() else {
                break;
            };
            if first.0 > now_ms {
                break;
            }
            if let Some((deadline, database, key)) = self.by_time.pop_first() {
                self.by_key.remove(&(database, key.clone()));
                due.push((deadline, database, key));
            }
        }
        due
    }
}

/// The watched deadlines.
#[derive(Debug, Default)]
pub(crate) struct ExpiryWatch {
    deadlines: Mutex<Deadlines>,
}

impl ExpiryWatch {
    /// Applies a commit's changes, in its order.
    pub(crate) fn apply(&self, changes: &[DeadlineChange]) {
        if changes.is_empty() {
            return;
        }
        let mut deadlines = lock(&self.deadlines);
        for change in changes {
            match change {
                DeadlineChange::Key {
                    database,
                    key,
                    deadline_ms: Some(deadline_ms),
                } => deadlines.watch(*database, key.clone(), *deadline_ms),
                DeadlineChange::Key {
                    database,
                    key,
                    deadline_ms: None,
                } => deadlines.forget(*database, key),
                DeadlineChange::Database(database) => deadlines.forget_database(*database),
            }
        }
    }

    /// Forgets every deadline (`expired` events were turned off).
    pub(crate) fn clear(&self) {
        *lock(&self.deadlines) = Deadlines::default();
    }

    /// How many deadlines are watched.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        lock(&self.deadlines).by_key.len()
    }
}

impl Shared {
    /// Publishes `expired` for every watched key whose deadline passed
    /// and which a snapshot confirms gone; a key still there (the
    /// engine's clock behind the wall clock's) is looked at next time.
    /// Returns how many events fired.
    pub(crate) fn fire_expired(&self) -> Result<usize, keel::Error> {
        let Some(events) = self.keyspace_events() else {
            return Ok(0);
        };
        if !events.classes().publishes(EventClasses::EXPIRED) {
            self.expiry_watch.clear();
            return Ok(0);
        }
        let mut fired = 0;
        loop {
            let due = lock(&self.expiry_watch.deadlines).take_due(now_ms(), EXPIRED_BATCH_MAX);
            if due.is_empty() {
                return Ok(fired);
            }
            let (expired, pending) = self.confirm_expired(due)?;
            self.expiry_watch.apply(&pending);
            fired += expired.len();
            events.publish(&expired);
            if !pending.is_empty() {
                return Ok(fired);
            }
        }
    }

    /// Splits due deadlines into the keys gone (their events) and those
    /// still there with that deadline (to watch again).
    fn confirm_expired(
        &self,
        due: Vec<(i64, DatabaseIndex, Bytes)>,
    ) -> Result<(Vec<KeyspaceEvent>, Vec<DeadlineChange>), keel::Error> {
        let slots: Vec<_> = self.slots.iter().map(read).collect();
        self.database.view(|transaction| {
            let mut expired = Vec::new();
            let mut pending = Vec::new();
            for (deadline_ms, database, key) in &due {
                let Some(slot) = usize::try_from(*database)
                    .ok()
                    .and_then(|index| slots.get(index))
                else {
                    continue;
                };
                match transaction.get_with_expiry(&slot.keyspace, key)? {
                    None => expired.push(KeyspaceEvent {
                        database: *database,
                        class: EventClasses::EXPIRED,
                        event: "expired",
                        key: key.clone(),
                    }),
                    Some((_, Some(at))) if i64::try_from(at).ok() == Some(*deadline_ms) => {
                        pending.push(DeadlineChange::Key {
                            database: *database,
                            key: key.clone(),
                            deadline_ms: Some(*deadline_ms),
                        });
                    }
                    // Written again since: its own deadline, if any, is
                    // watched on its own.
                    Some(_) => {}
                }
            }
            Ok((expired, pending))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watch_keeps_each_keys_latest_deadline_and_hands_out_passed_ones() {
        let watch = ExpiryWatch::default();
        let key = |name: &str| Bytes::copy_from_slice(name.as_bytes());
        let set = |database, name: &str, deadline_ms| DeadlineChange::Key {
            database,
            key: key(name),
            deadline_ms,
        };
        watch.apply(&[
            set(0, "a", Some(10)),
            set(0, "b", Some(20)),
            set(0, "a", Some(30)),
            set(1, "c", Some(5)),
            set(0, "b", None),
            set(2, "d", Some(1)),
            DeadlineChange::Database(2),
        ]);
        assert_eq!(watch.len(), 2);
        let mut deadlines = lock(&watch.deadlines);
        assert_eq!(deadlines.take_due(25, 10), vec![(5, 1, key("c"))]);
        assert_eq!(deadlines.take_due(30, 10), vec![(30, 0, key("a"))]);
        assert!(deadlines.take_due(i64::MAX, 10).is_empty());
        assert!(deadlines.by_key.is_empty());
    }
}

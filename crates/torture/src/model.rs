//! The model a run is checked against: the database's visible state, and
//! the commits since the last recovery in commit order.
//!
//! After a crash the recovered state must be the state after some prefix
//! `k` of those commits, with `k` at least the last commit acknowledged
//! durable (nothing acknowledged lost) and at most the commits attempted
//! (nothing resurrected: no write of an aborted, conflicted or rolled-back
//! transaction, nothing never written).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// A value and its expiry (milliseconds since the Unix epoch).
pub type Value = (Vec<u8>, Option<u64>);

/// The keyspace every database has.
pub const DEFAULT_KEYSPACE: &str = keel::DEFAULT_KEYSPACE;

/// One keyspace of the model: which creation of the name it is (a dropped
/// and recreated keyspace is a different one to a transaction holding the
/// old handle) and its live entries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyspaceState {
    /// Which creation of the name this is; unique within a run.
    pub incarnation: u64,
    /// Live entries (expired writes are absent).
    pub entries: BTreeMap<Vec<u8>, Value>,
}

/// The visible state of a database: keyspaces by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// Keyspaces by name.
    pub keyspaces: BTreeMap<String, KeyspaceState>,
}

impl Default for State {
    fn default() -> Self {
        let mut keyspaces = BTreeMap::new();
        keyspaces.insert(DEFAULT_KEYSPACE.to_string(), KeyspaceState::default());
        State { keyspaces }
    }
}

/// Where a write goes: a keyspace name and which creation of it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Target {
    /// The keyspace name.
    pub keyspace: String,
    /// The creation of the name the writer's handle refers to.
    pub incarnation: u64,
}

/// One visible change of a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Sets (`Some`) or removes (`None`, also an already-expired put) a key.
    Write {
        /// Where.
        target: Target,
        /// The key.
        key: Vec<u8>,
        /// The new value, or none.
        value: Option<Value>,
    },
    /// Creates an empty keyspace.
    CreateKeyspace(Target),
    /// Drops a keyspace and its keys.
    DropKeyspace(String),
    /// Replaces (or creates) a keyspace with bulk-loaded entries.
    LoadKeyspace {
        /// The new keyspace.
        target: Target,
        /// Its entries.
        entries: BTreeMap<Vec<u8>, Value>,
    },
}

impl State {
    /// Applies one effect. A write through a handle on a dropped (or
    /// replaced) keyspace changes nothing visible.
    pub fn apply(&mut self, effect: &Effect) {
        match effect {
            Effect::Write { target, key, value } => {
                let Some(keyspace) = self.keyspaces.get_mut(&target.keyspace) else {
                    return;
                };
                if keyspace.incarnation != target.incarnation {
                    return;
                }
                match value {
                    Some(value) => keyspace.entries.insert(key.clone(), value.clone()),
                    None => keyspace.entries.remove(key),
                };
            }
            Effect::CreateKeyspace(target) => {
                self.keyspaces.insert(
                    target.keyspace.clone(),
                    KeyspaceState {
                        incarnation: target.incarnation,
                        entries: BTreeMap::new(),
                    },
                );
            }
            Effect::DropKeyspace(name) => {
                self.keyspaces.remove(name);
            }
            Effect::LoadKeyspace { target, entries } => {
                self.keyspaces.insert(
                    target.keyspace.clone(),
                    KeyspaceState {
                        incarnation: target.incarnation,
                        entries: entries.clone(),
                    },
                );
            }
        }
    }

    /// The incarnation of keyspace `name`, if it exists.
    pub fn incarnation(&self, name: &str) -> Option<u64> {
        self.keyspaces
            .get(name)
            .map(|keyspace| keyspace.incarnation)
    }

    /// The entries of `target`, if that creation of the keyspace exists.
    pub fn entries(&self, target: &Target) -> Option<&BTreeMap<Vec<u8>, Value>> {
        self.keyspaces
            .get(&target.keyspace)
            .filter(|keyspace| keyspace.incarnation == target.incarnation)
            .map(|keyspace| &keyspace.entries)
    }

    /// Keys and values, without incarnations (what a database shows).
    pub fn contents(&self) -> BTreeMap<&str, &BTreeMap<Vec<u8>, Value>> {
        self.keyspaces
            .iter()
            .map(|(name, keyspace)| (name.as_str(), &keyspace.entries))
            .collect()
    }

    /// The first difference between `self` (expected) and `found`, if any.
    pub fn first_difference(&self, found: &State) -> Option<Difference> {
        let (expected, found) = (self.contents(), found.contents());
        for name in expected.keys().chain(found.keys()) {
            let (Some(mine), Some(theirs)) = (expected.get(name), found.get(name)) else {
                return Some(Difference {
                    keyspace: (*name).to_string(),
                    key: None,
                    expected: expected.contains_key(name).then(|| "present".into()),
                    found: found.contains_key(name).then(|| "present".into()),
                });
            };
            if let Some(difference) = first_entry_difference(name, mine, theirs) {
                return Some(difference);
            }
        }
        None
    }

    /// How many keyspaces and keys differ between the two states.
    pub fn distance(&self, found: &State) -> usize {
        let (expected, found) = (self.contents(), found.contents());
        let empty = BTreeMap::new();
        let mut names: Vec<&&str> = expected.keys().chain(found.keys()).collect();
        names.sort();
        names.dedup();
        names
            .into_iter()
            .map(|name| {
                let mine = expected.get(name).copied().unwrap_or(&empty);
                let theirs = found.get(name).copied().unwrap_or(&empty);
                let presence = usize::from(expected.contains_key(name) != found.contains_key(name));
                presence
                    + mine
                        .iter()
                        .filter(|(k, v)| theirs.get(*k) != Some(v))
                        .count()
                    + theirs.keys().filter(|k| !mine.contains_key(*k)).count()
            })
            .sum()
    }
}

fn first_entry_difference(
    name: &str,
    expected: &BTreeMap<Vec<u8>, Value>,
    found: &BTreeMap<Vec<u8>, Value>,
) -> Option<Difference> {
    let mut keys: Vec<&Vec<u8>> = expected.keys().chain(found.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter().find_map(|key| {
        let (mine, theirs) = (expected.get(key), found.get(key));
        (mine != theirs).then(|| Difference {
            keyspace: name.to_string(),
            key: Some(label(key)),
            expected: mine.map(describe),
            found: theirs.map(describe),
        })
    })
}

/// A key as a finding names it: whole when short, else its length and last
/// bytes (the torture's long keys differ only at their end).
pub fn label(key: &[u8]) -> String {
    if key.len() <= 32 {
        return String::from_utf8_lossy(key).into_owned();
    }
    let tail = String::from_utf8_lossy(&key[key.len() - 8..]);
    format!("…{tail} ({} bytes)", key.len())
}

/// A short description of a value: its length, its first bytes, its expiry.
pub fn describe(value: &Value) -> String {
    let head: String = String::from_utf8_lossy(&value.0[..value.0.len().min(16)]).into_owned();
    match value.1 {
        Some(at) => format!("{head:?}… ({} bytes, expires at {at} ms)", value.0.len()),
        None => format!("{head:?}… ({} bytes)", value.0.len()),
    }
}

/// Where an expected and a found state first differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The keyspace.
    pub keyspace: String,
    /// The key (lossy UTF-8); none when the keyspace itself differs.
    pub key: Option<String>,
    /// What the model expected there (none: absent).
    pub expected: Option<String>,
    /// What the database held (none: absent).
    pub found: Option<String>,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let absent = "absent".to_string();
        match &self.key {
            Some(key) => write!(f, "keyspace {:?}, key {key:?}", self.keyspace)?,
            None => write!(f, "keyspace {:?}", self.keyspace)?,
        }
        write!(
            f,
            ": expected {}, found {}",
            self.expected.as_ref().unwrap_or(&absent),
            self.found.as_ref().unwrap_or(&absent)
        )
    }
}

/// A commit the model knows of.
#[derive(Debug, Clone)]
pub struct Commit {
    /// What it changed.
    pub effects: Vec<Effect>,
    /// A short name for reports ("t17", "create alpha", "load beta").
    pub label: String,
}

/// What recovery may give, and what it gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// The prefix of the commits the recovered state equals, or the one it
    /// comes closest to (fewest differing keys; ties to the longest).
    pub closest: usize,
    /// Whether the recovered state equals the `closest` prefix exactly.
    pub exact: bool,
    /// The least prefix recovery may give (the acknowledged durable ones).
    pub durable: usize,
    /// The commits attempted (acknowledged or in doubt).
    pub attempted: usize,
}

/// The model: the state recovered last, the commits since in commit order,
/// and how many of them were acknowledged durable.
#[derive(Debug, Clone, Default)]
pub struct Model {
    base: State,
    commits: Vec<Commit>,
    durable: usize,
    /// A commit whose outcome is unknown (it failed with an I/O error); it
    /// is the last thing a round attempts.
    in_doubt: Option<Commit>,
    current: Arc<State>,
    incarnations: u64,
}

impl Model {
    /// The state after every acknowledged commit (what a new transaction
    /// sees); shared, so a snapshot costs a reference count.
    pub fn current(&self) -> Arc<State> {
        self.current.clone()
    }

    /// A fresh incarnation number for a keyspace about to be created.
    pub fn next_incarnation(&mut self) -> u64 {
        self.incarnations += 1;
        self.incarnations
    }

    /// Records an acknowledged commit; `durable`: acknowledged as durable
    /// (with it every commit before it is durable too, log order being
    /// commit order).
    pub fn acknowledge(&mut self, commit: Commit, durable: bool) {
        let state = Arc::make_mut(&mut self.current);
        for effect in &commit.effects {
            state.apply(effect);
        }
        self.commits.push(commit);
        if durable {
            self.durable = self.commits.len();
        }
    }

    /// Everything acknowledged so far is durable (a checkpoint or a clean
    /// close returned).
    pub fn all_durable(&mut self) {
        self.durable = self.commits.len();
    }

    /// Records a commit that failed with an I/O error: it may or may not
    /// survive.
    pub fn in_doubt(&mut self, commit: Commit) {
        self.in_doubt = Some(commit);
    }

    /// Commits acknowledged since the last recovery.
    pub fn acknowledged(&self) -> usize {
        self.commits.len()
    }

    /// Commits acknowledged durable since the last recovery.
    pub fn durable(&self) -> usize {
        self.durable
    }

    /// The label of the `index`-th commit since the last recovery.
    pub fn label(&self, index: usize) -> &str {
        self.commits
            .get(index)
            .or(self.in_doubt.as_ref())
            .map_or("?", |commit| commit.label.as_str())
    }

    /// The states recovery may give, as (prefix length, state), and the
    /// states it may not give below the durable prefix.
    fn prefixes(&self) -> Vec<(usize, State)> {
        let mut state = self.base.clone();
        let mut prefixes = vec![(0, state.clone())];
        for (index, commit) in self.commits.iter().chain(self.in_doubt.iter()).enumerate() {
            for effect in &commit.effects {
                state.apply(effect);
            }
            prefixes.push((index + 1, state.clone()));
        }
        prefixes
    }

    /// A value (or keyspace) in `found` that no commit considered ever
    /// wrote: a resurrection rather than a loss.
    pub fn never_written(&self, found: &State) -> Option<Difference> {
        let prefixes = self.prefixes();
        for (name, entries) in found.contents() {
            let written = |key: &Vec<u8>, value: &Value| {
                prefixes.iter().any(|(_, state)| {
                    state
                        .keyspaces
                        .get(name)
                        .and_then(|keyspace| keyspace.entries.get(key))
                        == Some(value)
                })
            };
            if !prefixes
                .iter()
                .any(|(_, state)| state.keyspaces.contains_key(name))
            {
                return Some(Difference {
                    keyspace: name.to_string(),
                    key: None,
                    expected: None,
                    found: Some("present".into()),
                });
            }
            if let Some((key, value)) = entries.iter().find(|(key, value)| !written(key, value)) {
                return Some(Difference {
                    keyspace: name.to_string(),
                    key: Some(label(key)),
                    expected: None,
                    found: Some(describe(value)),
                });
            }
        }
        None
    }

    /// Checks a recovered state. On success the model continues from it
    /// (the recovered state is durable: recovery syncs what it keeps).
    /// On failure, the verdict says which prefix came closest, with the
    /// first difference from the durable prefix (when the state is older
    /// than it) or from the closest prefix.
    pub fn recover(&mut self, found: &State) -> Result<Verdict, (Verdict, Box<Difference>)> {
        let prefixes = self.prefixes();
        let found_contents = found.contents();
        let allowed = prefixes[self.durable..]
            .iter()
            .find(|(_, state)| state.contents() == found_contents);
        if let Some((index, state)) = allowed {
            let verdict = Verdict {
                closest: *index,
                exact: true,
                durable: self.durable,
                attempted: prefixes.len() - 1,
            };
            self.base = state.clone();
            self.current = Arc::new(state.clone());
            self.commits.clear();
            self.in_doubt = None;
            self.durable = 0;
            return Ok(verdict);
        }
        // Closest by distance; ties go to the longest prefix.
        let (closest, state) = prefixes
            .iter()
            .rev()
            .min_by_key(|(_, state)| state.distance(found))
            .map(|(index, state)| (*index, state))
            .unwrap_or((0, &self.base));
        let verdict = Verdict {
            closest,
            exact: state.contents() == found_contents,
            durable: self.durable,
            attempted: prefixes.len() - 1,
        };
        let reference = if closest < self.durable {
            &prefixes[self.durable].1
        } else {
            state
        };
        let difference = reference
            .first_difference(found)
            .unwrap_or_else(|| Difference {
                keyspace: String::new(),
                key: None,
                expected: Some(format!("the state after {} commits", self.durable)),
                found: Some(format!("the state after {closest}")),
            });
        Err((verdict, Box::new(difference)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(key: &str, value: Option<&str>) -> Commit {
        Commit {
            effects: vec![Effect::Write {
                target: Target {
                    keyspace: DEFAULT_KEYSPACE.into(),
                    incarnation: 0,
                },
                key: key.as_bytes().to_vec(),
                value: value.map(|value| (value.as_bytes().to_vec(), None)),
            }],
            label: key.into(),
        }
    }

    fn state_of(commits: &[Commit]) -> State {
        let mut state = State::default();
        for commit in commits {
            for effect in &commit.effects {
                state.apply(effect);
            }
        }
        state
    }

    #[test]
    fn recovery_may_lose_only_what_was_not_acknowledged_durable() {
        let commits = [
            write("a", Some("1")),
            write("b", Some("2")),
            write("a", None),
        ];
        let mut model = Model::default();
        model.acknowledge(commits[0].clone(), false);
        model.acknowledge(commits[1].clone(), true);
        model.acknowledge(commits[2].clone(), false);
        // The durable prefix (2) and the whole history (3) are fine.
        assert_eq!(
            model
                .clone()
                .recover(&state_of(&commits[..2]))
                .map(|v| v.closest),
            Ok(2)
        );
        assert_eq!(
            model
                .clone()
                .recover(&state_of(&commits))
                .map(|v| v.closest),
            Ok(3)
        );
        // Losing the durable commit is not.
        let (verdict, difference) = model.clone().recover(&state_of(&commits[..1])).unwrap_err();
        assert_eq!((verdict.closest, verdict.exact), (1, true));
        assert_eq!(verdict.durable, 2);
        assert_eq!(difference.key.as_deref(), Some("b"));
        assert_eq!(difference.found, None);
    }

    #[test]
    fn a_write_no_commit_made_is_a_resurrection() {
        let mut model = Model::default();
        model.acknowledge(write("a", Some("1")), true);
        let mut found = state_of(&[write("a", Some("1"))]);
        found.apply(&write("ghost", Some("boo")).effects[0]);
        let ghost = model.never_written(&found).unwrap();
        assert_eq!(ghost.key.as_deref(), Some("ghost"));
        let (verdict, difference) = model.recover(&found).unwrap_err();
        assert!(!verdict.exact);
        assert_eq!(verdict.closest, 1);
        assert_eq!(difference.key.as_deref(), Some("ghost"));
        assert_eq!(difference.expected, None);
        // A state some prefix explains holds nothing never written.
        assert_eq!(
            model.never_written(&state_of(&[write("a", Some("1"))])),
            None
        );
    }

    #[test]
    fn the_commit_in_doubt_may_be_there_or_not_and_recovery_resets_the_history() {
        let mut model = Model::default();
        model.acknowledge(write("a", Some("1")), true);
        model.in_doubt(write("b", Some("2")));
        let with = state_of(&[write("a", Some("1")), write("b", Some("2"))]);
        assert_eq!(model.clone().recover(&with).map(|v| v.closest), Ok(2));
        assert_eq!(
            model
                .recover(&state_of(&[write("a", Some("1"))]))
                .map(|v| v.attempted),
            Ok(2)
        );
        // Continuing from the recovered state: it is the new base.
        assert_eq!(model.acknowledged(), 0);
        assert_eq!(
            model.current().contents(),
            state_of(&[write("a", Some("1"))]).contents()
        );
    }

    #[test]
    fn writes_through_a_handle_on_a_dropped_keyspace_change_nothing() {
        let mut state = State::default();
        let old = Target {
            keyspace: "alpha".into(),
            incarnation: 1,
        };
        state.apply(&Effect::CreateKeyspace(old.clone()));
        state.apply(&Effect::DropKeyspace("alpha".into()));
        state.apply(&Effect::CreateKeyspace(Target {
            incarnation: 2,
            ..old.clone()
        }));
        state.apply(&Effect::Write {
            target: old,
            key: b"k".to_vec(),
            value: Some((b"v".to_vec(), None)),
        });
        assert!(state.keyspaces["alpha"].entries.is_empty());
        assert_eq!(state.incarnation("alpha"), Some(2));
    }
}

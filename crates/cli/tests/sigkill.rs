//! `keel serve --appendfsync always` killed with SIGKILL back to back on
//! one data directory, many times, while clients write; after every
//! restart each acknowledged write is checked against a model.
//!
//! Six writers, each with its own keys in four databases (SELECT):
//! two send one command at a time, two pipeline (up to
//! `PIPELINE_UNITS_MAX` writes sent before any reply is read), two mostly
//! send MULTI/EXEC blocks (one plain, one pipelined). The writes are SET
//! (with and without EX), SETEX, PSETEX, SETNX, GETSET, APPEND, INCR,
//! INCRBY, DECR, DEL, EXPIRE, PERSIST and MSET; every value carries its
//! writer and a sequence number, so no two writes store the same value.
//!
//! The model: each writer owns groups of keys (one key, or a MULTI
//! block's keys); for each group it knows the state the last verification
//! found and the writes sent since, in order, and how many of them the
//! client saw acknowledged (replies arrive in order on one connection, so
//! that is a prefix). After a crash a group must hold the state after
//! `k` of its writes for some `k` at least the acknowledged count: an
//! acknowledged write is never lost, a MULTI block is there whole or not
//! at all, and nothing that was never sent appears (`KEYS *` in each
//! database lists only model keys). One counter all writers INCR holds,
//! after a crash, at least the acknowledged INCRs and at most the
//! attempted ones. While the server runs, every reply is checked too (an
//! INCR's value, a DEL's count, EXEC's array).
//!
//! The rounds follow `SCRIPT`: killed while writing (sometimes with a
//! SAVE or BGSAVE racing the writers), after writing and idling (a timed
//! checkpoint may run), right after a SAVE that follows the open (the
//! checkpoint-after-recovery path of issue 16), right after a BGSAVE
//! starts, right after start with nothing written, before it even listens
//! (during recovery). Server flags vary per start (small
//! `--checkpoint-wal-bytes`, `--checkpoint-interval 1`, `--io-threads`).
//!
//! CI runs `CI_KILLS` kills; `KEEL_LONG=1` runs `LONG_KILLS`, and
//! `KEEL_SIGKILL_KILLS=<n>` any number. `KEEL_SIGKILL_SEED=<n>` repeats a
//! run's choices (the timing still varies). The last line printed
//! (`--nocapture`) sums up kills, acknowledged writes checked and losses:
//!
//! ```text
//! KEEL_LONG=1 cargo test --release -p keel-cli --test sigkill -- --nocapture
//! ```

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::collections::BTreeSet;
use std::fmt::{self, Write as _};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::ServeProcess;
use common::resp::{self, Value};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Kills in CI (about 30 s in a debug build on 2 cores).
const CI_KILLS: u32 = 120;
/// Kills with `KEEL_LONG=1`.
const LONG_KILLS: u32 = 1000;
/// Concurrent writers (client connections), each with its own keys.
const WRITERS: usize = 6;
/// Databases the writers SELECT (each a keel keyspace).
const DATABASES: usize = 4;
/// Single keys per writer and database that every kind of string write
/// and EXPIRE/PERSIST reach.
const SINGLE_KEYS: usize = 4;
/// Keys per writer and database holding larger values (overwritten and
/// deleted in turn).
const SLOT_KEYS: usize = 48;
/// Data keys of a writer's MULTI block group, besides its counter.
const BLOCK_DATA_KEYS: usize = 3;
/// Most writes a pipelining writer sends before reading a reply.
const PIPELINE_UNITS_MAX: usize = 48;
/// Longest slot value.
const SLOT_VALUE_BYTES_MAX: usize = 2000;
/// Time to live given by SETEX, EXPIRE and friends: far beyond the test.
const TTL_SECONDS: u64 = 1_000_000;
/// How long a writer writes at most in one round (a safety net: the
/// server is killed or the writer stopped long before).
const WRITER_DEADLINE: Duration = Duration::from_secs(60);
/// The one key every writer increments (in database 0): after a crash it
/// holds at least its acknowledged INCRs and at most its attempted ones.
const SHARED_COUNTER: &str = "shared:counter";
/// Problems of one verification shown in full (the rest are counted).
const PROBLEMS_SHOWN_MAX: usize = 12;
/// Verifications with problems shown in the failure message.
const FINDINGS_SHOWN_MAX: usize = 4;

/// What happens between one start of the server and its SIGKILL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Round {
    /// Verify, write for a while, kill while the writers write.
    Write,
    /// As `Write`, with a SAVE or BGSAVE sent at a random moment.
    WriteWithSave,
    /// Verify, write, stop the writers, idle for up to 1.2 s, kill.
    WriteThenIdle,
    /// Verify, SAVE, then write and kill while writing.
    SaveThenWrite,
    /// Verify, SAVE, kill at once: a checkpoint right after the open
    /// with nothing written (issue 16 item 1's second step).
    SaveThenKill,
    /// Verify, BGSAVE, kill at once (during the checkpoint).
    BgsaveThenKill,
    /// Verify (reads only), kill.
    VerifyThenKill,
    /// Kill as soon as it listens: no connection at all.
    KillAtStart,
    /// Kill within 40 ms of the spawn, usually before it listens.
    KillDuringRecovery,
}

/// The rounds, in turn. Issue 16 item 1's sequence — writes; kill; open,
/// checkpoint, nothing written; kill; open, writes; kill; verify — is
/// `Write, SaveThenKill, Write` (and `SaveThenKill, SaveThenKill, …`);
/// every kind follows and precedes a round that writes.
const SCRIPT: &[Round] = &[
    Round::Write,
    Round::SaveThenKill,
    Round::Write,
    Round::WriteWithSave,
    Round::KillAtStart,
    Round::Write,
    Round::WriteThenIdle,
    Round::SaveThenKill,
    Round::SaveThenKill,
    Round::SaveThenWrite,
    Round::VerifyThenKill,
    Round::WriteThenIdle,
    Round::KillDuringRecovery,
    Round::Write,
    Round::BgsaveThenKill,
    Round::SaveThenWrite,
    Round::KillAtStart,
    Round::KillAtStart,
    Round::WriteWithSave,
    Round::KillDuringRecovery,
];

/// A key's state: its value and whether it has a time to live.
#[derive(Clone, PartialEq, Eq)]
struct Entry {
    value: String,
    expires: bool,
}

impl fmt::Debug for Entry {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        /// Characters of a value shown in a failure message.
        const SHOWN_CHARS_MAX: usize = 48;
        let shown: String = self.value.chars().take(SHOWN_CHARS_MAX).collect();
        write!(formatter, "{shown:?}")?;
        if shown.len() < self.value.len() {
            write!(formatter, "…({} bytes)", self.value.len())?;
        }
        if self.expires {
            write!(formatter, " with a TTL")?;
        }
        Ok(())
    }
}

type State = Option<Entry>;

/// One write's effect on one key.
#[derive(Clone, Debug)]
enum KeyWrite {
    Set { value: String, expires: bool },
    SetIfAbsent(String),
    Append(String),
    IncrementBy(i64),
    Delete,
    Persist,
    Expire,
}

impl KeyWrite {
    /// Applies the write; returns Redis's natural reply to it (the old
    /// value for a set, as GETSET answers).
    fn apply(&self, state: &mut State) -> Value {
        match self {
            KeyWrite::Set { value, expires } => {
                let old = state.replace(Entry {
                    value: value.clone(),
                    expires: *expires,
                });
                Value::Bulk(old.map(|entry| entry.value.into_bytes()))
            }
            KeyWrite::SetIfAbsent(value) => {
                if state.is_some() {
                    return Value::Integer(0);
                }
                *state = Some(Entry {
                    value: value.clone(),
                    expires: false,
                });
                Value::Integer(1)
            }
            KeyWrite::Append(token) => {
                let entry = state.get_or_insert_with(|| Entry {
                    value: String::new(),
                    expires: false,
                });
                entry.value.push_str(token);
                Value::Integer(entry.value.len() as i64)
            }
            KeyWrite::IncrementBy(delta) => {
                let entry = state.get_or_insert_with(|| Entry {
                    value: "0".to_owned(),
                    expires: false,
                });
                let number = entry.value.parse::<i64>().unwrap() + delta;
                entry.value = number.to_string();
                Value::Integer(number)
            }
            KeyWrite::Delete => Value::Integer(i64::from(state.take().is_some())),
            KeyWrite::Persist => match state {
                Some(entry) if entry.expires => {
                    entry.expires = false;
                    Value::Integer(1)
                }
                _ => Value::Integer(0),
            },
            KeyWrite::Expire => match state {
                Some(entry) => {
                    entry.expires = true;
                    Value::Integer(1)
                }
                None => Value::Integer(0),
            },
        }
    }
}

/// How a command's reply follows from its effects' natural replies.
#[derive(Clone, Copy, Debug)]
enum ReplyIs {
    /// `+OK`.
    Ok,
    /// The one effect's natural reply.
    Natural,
    /// The sum of the effects' integer replies (DEL of several keys).
    Sum,
}

/// One command of a write: its arguments, its effects on the group's
/// keys, and how its reply follows from them.
type Planned = (Vec<String>, Vec<(usize, KeyWrite)>, ReplyIs);

const NATURAL: ReplyIs = ReplyIs::Natural;

fn plan<const N: usize>(
    arguments: &[&str],
    effects: [(usize, KeyWrite); N],
    reply: ReplyIs,
) -> Planned {
    let arguments = arguments.iter().map(|argument| (*argument).to_owned());
    (arguments.collect(), effects.into(), reply)
}

/// Sets key `key` of a group to `value`, with or without a TTL.
fn set(key: usize, value: &str, expires: bool) -> (usize, KeyWrite) {
    let value = value.to_owned();
    (key, KeyWrite::Set { value, expires })
}

/// A kind of key group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum GroupKind {
    Single,
    Counter,
    AppendLog,
    Block,
    Slot,
}

/// Keys one writer owns in one database that only change together, and
/// what the model knows about them.
#[derive(Debug)]
struct Group {
    kind: GroupKind,
    database: usize,
    keys: Vec<String>,
    /// What the last verification found.
    verified: Vec<State>,
    /// Writes sent since (a MULTI block or MSET is one), in order: each a
    /// list of (key index, effect).
    pending: Vec<Vec<(usize, KeyWrite)>>,
    /// How many of `pending` the client saw acknowledged (a prefix).
    acknowledged: usize,
    /// `verified` with every pending write applied: what the server holds
    /// if none is lost (the replies are checked against it).
    current: Vec<State>,
}

/// How a group's state after a crash compares with the model.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The state after every acknowledged write and
    /// `unacknowledged_landed` of the unacknowledged ones that followed.
    Fine { unacknowledged_landed: usize },
    /// The state after only `matched` writes: acknowledged ones lost.
    Lost { matched: usize },
    /// No prefix of the writes gives this state: torn, or never sent.
    Unexplained,
}

impl Group {
    fn new(kind: GroupKind, database: usize, keys: Vec<String>) -> Group {
        let count = keys.len();
        Group {
            kind,
            database,
            keys,
            verified: vec![None; count],
            pending: Vec::new(),
            acknowledged: 0,
            current: vec![None; count],
        }
    }

    /// Compares `observed` with the state after each prefix of the
    /// pending writes (the longest match counts).
    fn compare(&self, observed: &[State]) -> Outcome {
        let mut state = self.verified.clone();
        let mut longest_match = (state == observed).then_some(0);
        for (index, write) in self.pending.iter().enumerate() {
            for (key, effect) in write {
                effect.apply(&mut state[*key]);
            }
            if state == observed {
                longest_match = Some(index + 1);
            }
        }
        match longest_match {
            Some(matched) if matched >= self.acknowledged => Outcome::Fine {
                unacknowledged_landed: matched - self.acknowledged,
            },
            Some(matched) => Outcome::Lost { matched },
            None => Outcome::Unexplained,
        }
    }

    /// Takes what a verification found as the new starting point.
    fn rebase(&mut self, observed: Vec<State>) {
        self.verified = observed.clone();
        self.current = observed;
        self.pending.clear();
        self.acknowledged = 0;
    }
}

/// Wire commands of one write (with the SELECT it needs), their expected
/// replies, and the group write the last reply acknowledges (`None`: an
/// INCR of the shared counter, whose reply depends on the other writers).
struct Unit {
    commands: Vec<(Vec<String>, Value)>,
    group: Option<usize>,
    pending_index: usize,
}

/// INCRs of [`SHARED_COUNTER`] since the last verification.
#[derive(Debug, Default)]
struct SharedCounter {
    attempted: AtomicU64,
    acknowledged: AtomicU64,
}

/// How a writer sends.
#[derive(Clone, Copy, Debug)]
struct Style {
    pipelined: bool,
    /// Percent of writes that are MULTI blocks or MSETs.
    block_percent: u32,
}

const fn style(pipelined: bool, block_percent: u32) -> Style {
    Style {
        pipelined,
        block_percent,
    }
}

/// Writer `i` sends as `STYLES[i]`.
const STYLES: [Style; WRITERS] = [
    style(false, 10),
    style(false, 10),
    style(true, 10),
    style(true, 10),
    style(false, 70),
    style(true, 70),
];

/// One client and the keys it owns.
struct Writer {
    id: usize,
    style: Style,
    groups: Vec<Group>,
    /// Makes every value unique, across rounds.
    sequence: u64,
    /// The database the next writes go to.
    selected: usize,
    /// The database the connection has selected once the writes built so
    /// far are sent.
    connection_database: usize,
    shared: Arc<SharedCounter>,
    /// The last value this writer's INCR of the shared counter returned
    /// in this round (the next must be higher).
    shared_seen: i64,
}

/// Groups per writer and database: singles, counter, append log, block,
/// slots.
const GROUPS_PER_DATABASE: usize = SINGLE_KEYS + 3 + SLOT_KEYS;

impl Writer {
    fn new(id: usize, shared: &Arc<SharedCounter>) -> Writer {
        let mut groups = Vec::new();
        for database in 0..DATABASES {
            for index in 0..SINGLE_KEYS {
                groups.push(Group::new(
                    GroupKind::Single,
                    database,
                    vec![format!("w{id}:s{index}")],
                ));
            }
            groups.push(Group::new(
                GroupKind::Counter,
                database,
                vec![format!("w{id}:counter")],
            ));
            groups.push(Group::new(
                GroupKind::AppendLog,
                database,
                vec![format!("w{id}:log")],
            ));
            let mut block_keys: Vec<String> = (0..BLOCK_DATA_KEYS)
                .map(|index| format!("w{id}:m{index}"))
                .collect();
            block_keys.push(format!("w{id}:blocks"));
            groups.push(Group::new(GroupKind::Block, database, block_keys));
            for index in 0..SLOT_KEYS {
                groups.push(Group::new(
                    GroupKind::Slot,
                    database,
                    vec![format!("w{id}:u{index}")],
                ));
            }
        }
        assert_eq!(groups.len(), DATABASES * GROUPS_PER_DATABASE);
        Writer {
            id,
            style: STYLES[id],
            groups,
            sequence: 0,
            selected: 0,
            connection_database: 0,
            shared: Arc::clone(shared),
            shared_seen: i64::MIN,
        }
    }

    fn next_value(&mut self) -> String {
        self.sequence += 1;
        format!("w{}.{}", self.id, self.sequence)
    }

    /// A slot value: unique prefix, then up to `SLOT_VALUE_BYTES_MAX`
    /// bytes that follow from the sequence number.
    fn next_slot_value(&mut self, rng: &mut SmallRng) -> String {
        let mut value = self.next_value();
        let length = rng.random_range(0..SLOT_VALUE_BYTES_MAX);
        let start = self.sequence as usize;
        value.extend((0..length).map(|index| char::from(b'a' + ((start + index) % 26) as u8)));
        value
    }

    /// Builds the next write (recording it as sent) and its wire commands.
    fn next_unit(&mut self, rng: &mut SmallRng) -> Unit {
        if rng.random_range(0..100) < 25 {
            self.selected = rng.random_range(0..DATABASES);
        }
        let database = self.selected;
        if rng.random_range(0..100) < 4 {
            self.shared.attempted.fetch_add(1, Ordering::SeqCst);
            let mut commands = self.select(0);
            // The reply is checked in `check_reply`: it depends on the
            // other writers.
            commands.push((
                vec!["INCR".to_owned(), SHARED_COUNTER.to_owned()],
                Value::Integer(0),
            ));
            return Unit {
                commands,
                group: None,
                pending_index: 0,
            };
        }
        let local = if rng.random_range(0..100) < self.style.block_percent {
            SINGLE_KEYS + 2
        } else {
            match rng.random_range(0..100) {
                0..30 => rng.random_range(0..SINGLE_KEYS),
                30..45 => SINGLE_KEYS,
                45..55 => SINGLE_KEYS + 1,
                _ => SINGLE_KEYS + 3 + rng.random_range(0..SLOT_KEYS),
            }
        };
        let group_index = database * GROUPS_PER_DATABASE + local;
        let kind = self.groups[group_index].kind;
        let keys = self.groups[group_index].keys.clone();
        let ttl = TTL_SECONDS.to_string();
        let ttl_ms = (TTL_SECONDS * 1000).to_string();
        let (ttl, ttl_ms) = (ttl.as_str(), ttl_ms.as_str());
        let mut transaction = false;
        let commands: Vec<Planned> = match kind {
            GroupKind::Single => {
                let (key, value) = (keys[0].as_str(), self.next_value());
                let value = value.as_str();
                let token = format!("+{value}");
                vec![match rng.random_range(0..11) {
                    0 | 1 => plan(&["SET", key, value], [set(0, value, false)], ReplyIs::Ok),
                    2 => plan(
                        &["SET", key, value, "EX", ttl],
                        [set(0, value, true)],
                        ReplyIs::Ok,
                    ),
                    3 => plan(
                        &["SETEX", key, ttl, value],
                        [set(0, value, true)],
                        ReplyIs::Ok,
                    ),
                    4 => plan(
                        &["PSETEX", key, ttl_ms, value],
                        [set(0, value, true)],
                        ReplyIs::Ok,
                    ),
                    5 => plan(&["GETSET", key, value], [set(0, value, false)], NATURAL),
                    6 => plan(
                        &["APPEND", key, &token],
                        [(0, KeyWrite::Append(token.clone()))],
                        NATURAL,
                    ),
                    7 => plan(&["DEL", key], [(0, KeyWrite::Delete)], NATURAL),
                    8 => plan(&["PERSIST", key], [(0, KeyWrite::Persist)], NATURAL),
                    9 => plan(&["EXPIRE", key, ttl], [(0, KeyWrite::Expire)], NATURAL),
                    _ => plan(
                        &["SETNX", key, value],
                        [(0, KeyWrite::SetIfAbsent(value.to_owned()))],
                        NATURAL,
                    ),
                }]
            }
            GroupKind::Counter => {
                let key = keys[0].as_str();
                let delta = rng.random_range(1..1000i64);
                vec![match rng.random_range(0..40) {
                    0 => plan(&["DEL", key], [(0, KeyWrite::Delete)], NATURAL),
                    1..20 => plan(&["INCR", key], [(0, KeyWrite::IncrementBy(1))], NATURAL),
                    20..30 => plan(
                        &["INCRBY", key, &delta.to_string()],
                        [(0, KeyWrite::IncrementBy(delta))],
                        NATURAL,
                    ),
                    _ => plan(&["DECR", key], [(0, KeyWrite::IncrementBy(-1))], NATURAL),
                }]
            }
            GroupKind::AppendLog => {
                let key = keys[0].as_str();
                let token = format!("{},", self.next_value());
                vec![if rng.random_range(0..50) == 0 {
                    plan(&["DEL", key], [(0, KeyWrite::Delete)], NATURAL)
                } else {
                    plan(
                        &["APPEND", key, &token],
                        [(0, KeyWrite::Append(token.clone()))],
                        NATURAL,
                    )
                }]
            }
            GroupKind::Block => {
                let value = self.next_value();
                let values: Vec<String> = (0..BLOCK_DATA_KEYS)
                    .map(|key| format!("{value}:{key}"))
                    .collect();
                let token = format!("+{value}");
                let [m0, m1, m2, counter] = [0, 1, 2, 3].map(|index| keys[index].as_str());
                let (v0, v1, v2) = (values[0].as_str(), values[1].as_str(), values[2].as_str());
                const COUNTER: usize = BLOCK_DATA_KEYS;
                match rng.random_range(0..4) {
                    // MSET: atomic without MULTI.
                    0 => vec![plan(
                        &["MSET", m0, v0, m1, v1, m2, v2],
                        [set(0, v0, false), set(1, v1, false), set(2, v2, false)],
                        ReplyIs::Ok,
                    )],
                    // Set every data key, extend one, count the block.
                    1 => {
                        transaction = true;
                        vec![
                            plan(&["SET", m0, v0], [set(0, v0, false)], ReplyIs::Ok),
                            plan(&["SETEX", m1, ttl, v1], [set(1, v1, true)], ReplyIs::Ok),
                            plan(
                                &["APPEND", m2, &token],
                                [(2, KeyWrite::Append(token.clone()))],
                                NATURAL,
                            ),
                            plan(
                                &["INCR", counter],
                                [(COUNTER, KeyWrite::IncrementBy(1))],
                                NATURAL,
                            ),
                        ]
                    }
                    // Delete two keys, set the third, count the block.
                    2 => {
                        transaction = true;
                        vec![
                            plan(
                                &["DEL", m0, m1],
                                [(0, KeyWrite::Delete), (1, KeyWrite::Delete)],
                                ReplyIs::Sum,
                            ),
                            plan(&["SET", m2, v2], [set(2, v2, false)], ReplyIs::Ok),
                            plan(
                                &["INCRBY", counter, "10"],
                                [(COUNTER, KeyWrite::IncrementBy(10))],
                                NATURAL,
                            ),
                        ]
                    }
                    // GETSET, PERSIST, SETNX and a count.
                    _ => {
                        transaction = true;
                        vec![
                            plan(&["GETSET", m1, v1], [set(1, v1, false)], NATURAL),
                            plan(&["PERSIST", m2], [(2, KeyWrite::Persist)], NATURAL),
                            plan(
                                &["SETNX", m0, v0],
                                [(0, KeyWrite::SetIfAbsent(v0.to_owned()))],
                                NATURAL,
                            ),
                            plan(
                                &["DECR", counter],
                                [(COUNTER, KeyWrite::IncrementBy(-1))],
                                NATURAL,
                            ),
                        ]
                    }
                }
            }
            GroupKind::Slot => {
                let key = keys[0].as_str();
                let value = self.next_slot_value(rng);
                let value = value.as_str();
                vec![match rng.random_range(0..8) {
                    0 => plan(&["DEL", key], [(0, KeyWrite::Delete)], NATURAL),
                    1 => plan(
                        &["SETEX", key, ttl, value],
                        [set(0, value, true)],
                        ReplyIs::Ok,
                    ),
                    _ => plan(&["SET", key, value], [set(0, value, false)], ReplyIs::Ok),
                }]
            }
        };
        let mut unit_commands = self.select(database);
        let group = &mut self.groups[group_index];
        let mut wire: Vec<Vec<String>> = Vec::new();
        let mut replies = Vec::new();
        let mut all_effects = Vec::new();
        for (arguments, effects, reply_is) in commands {
            let naturals: Vec<Value> = effects
                .iter()
                .map(|(key, effect)| effect.apply(&mut group.current[*key]))
                .collect();
            let reply = match reply_is {
                ReplyIs::Ok => Value::ok(),
                ReplyIs::Natural => {
                    assert_eq!(naturals.len(), 1);
                    naturals.into_iter().next().unwrap()
                }
                ReplyIs::Sum => Value::Integer(
                    naturals
                        .iter()
                        .map(|natural| match natural {
                            Value::Integer(number) => *number,
                            other => panic!("not a count: {other:?}"),
                        })
                        .sum(),
                ),
            };
            all_effects.extend(effects);
            wire.push(arguments);
            replies.push(reply);
        }
        if transaction {
            unit_commands.push((vec!["MULTI".to_owned()], Value::ok()));
            for arguments in wire {
                unit_commands.push((arguments, Value::Simple("QUEUED".to_owned())));
            }
            unit_commands.push((vec!["EXEC".to_owned()], Value::Array(Some(replies))));
        } else {
            unit_commands.extend(wire.into_iter().zip(replies));
        }
        group.pending.push(all_effects);
        Unit {
            commands: unit_commands,
            group: Some(group_index),
            pending_index: group.pending.len() - 1,
        }
    }

    /// A SELECT of `database` if the connection has another one.
    fn select(&mut self, database: usize) -> Vec<(Vec<String>, Value)> {
        if self.connection_database == database {
            return Vec::new();
        }
        self.connection_database = database;
        vec![(vec!["SELECT".to_owned(), database.to_string()], Value::ok())]
    }

    fn acknowledge(&mut self, unit: &Unit) {
        let Some(group) = unit.group else {
            self.shared.acknowledged.fetch_add(1, Ordering::SeqCst);
            return;
        };
        let group = &mut self.groups[group];
        assert_eq!(group.acknowledged, unit.pending_index, "replies in order");
        group.acknowledged = unit.pending_index + 1;
    }

    /// Writes until the connection breaks (the server was killed), `stop`
    /// is set, or `WRITER_DEADLINE` passes. Panics on a reply that is not
    /// the model's.
    fn run(&mut self, port: u16, stop: &AtomicBool, rng: &mut SmallRng) {
        let Ok(mut connection) = resp::Connection::open(port) else {
            return;
        };
        let deadline = Instant::now() + WRITER_DEADLINE;
        self.connection_database = 0;
        self.shared_seen = i64::MIN;
        while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
            if self.style.pipelined {
                let count = rng.random_range(1..=PIPELINE_UNITS_MAX);
                let units: Vec<Unit> = (0..count).map(|_| self.next_unit(rng)).collect();
                let mut bytes = Vec::new();
                for unit in &units {
                    for (arguments, _) in &unit.commands {
                        resp::encode(arguments, &mut bytes);
                    }
                }
                if connection.send_encoded(&bytes).is_err() {
                    return;
                }
                for unit in &units {
                    for (arguments, expected) in &unit.commands {
                        let Ok(reply) = connection.read() else {
                            return;
                        };
                        self.check_reply(arguments, expected, &reply);
                    }
                    self.acknowledge(unit);
                }
            } else {
                let unit = self.next_unit(rng);
                for (arguments, expected) in &unit.commands {
                    let Ok(reply) = connection.call(arguments) else {
                        return;
                    };
                    self.check_reply(arguments, expected, &reply);
                }
                self.acknowledge(&unit);
            }
        }
    }

    fn check_reply(&mut self, arguments: &[String], expected: &Value, reply: &Value) {
        if arguments[0] == "INCR" && arguments[1] == SHARED_COUNTER {
            let Value::Integer(value) = *reply else {
                panic!("writer {}: INCR {SHARED_COUNTER}: {reply:?}", self.id);
            };
            assert!(
                value > self.shared_seen,
                "writer {}: INCR {SHARED_COUNTER} gave {value} after {}",
                self.id,
                self.shared_seen
            );
            self.shared_seen = value;
            return;
        }
        assert_eq!(
            reply, expected,
            "writer {}: the reply to {arguments:?} is not the model's",
            self.id
        );
    }
}

/// The run's totals.
#[derive(Debug, Default)]
struct Totals {
    kills: u32,
    verifications: u32,
    acknowledged_checked: u64,
    blocks_checked: u64,
    unacknowledged_landed: u64,
    /// Acknowledged writes found missing.
    lost: u64,
    /// Groups in a state no prefix of their writes explains, stray keys,
    /// and keys whose GET, PTTL and KEYS disagree.
    unexplained: u64,
    /// Each verification that found something, with the rounds before it.
    findings: Vec<String>,
}

/// The shared counter's model.
struct SharedModel {
    counter: Arc<SharedCounter>,
    /// Its value at the last verification.
    verified: i64,
}

/// Reads every writer's keys in every database, compares them with the
/// model, counts, and takes what it found as the model's new start.
fn verify(
    server: &ServeProcess,
    writers: &mut [Writer],
    shared: &mut SharedModel,
    totals: &mut Totals,
    history: &[String],
) {
    let mut connection = server.resp();
    let mut problems = Vec::new();
    let mut lost = 0;
    let counter = match connection.call(&["GET", SHARED_COUNTER]).unwrap() {
        Value::Bulk(None) => 0,
        Value::Bulk(Some(bytes)) => String::from_utf8(bytes).unwrap().parse().unwrap(),
        other => panic!("GET {SHARED_COUNTER}: {other:?}"),
    };
    let acknowledged = shared.counter.acknowledged.swap(0, Ordering::SeqCst);
    let attempted = shared.counter.attempted.swap(0, Ordering::SeqCst);
    totals.acknowledged_checked += acknowledged;
    let low = shared.verified + acknowledged as i64;
    let high = shared.verified + attempted as i64;
    if counter < low {
        lost += (low - counter) as u64;
        problems.push(format!(
            "{SHARED_COUNTER}: LOST {} acknowledged INCRs: {counter}, verified before {}, \
             {acknowledged} INCRs acknowledged since, {attempted} attempted",
            low - counter,
            shared.verified
        ));
    } else if counter > high {
        totals.unexplained += 1;
        problems.push(format!(
            "{SHARED_COUNTER}: {counter}, more than the {attempted} INCRs attempted since {}",
            shared.verified
        ));
    } else {
        totals.unacknowledged_landed += (counter - low) as u64;
    }
    shared.verified = counter;
    for database in 0..DATABASES {
        let reply = connection.call(&["SELECT", &database.to_string()]).unwrap();
        assert_eq!(reply, Value::ok());
        let listed: BTreeSet<String> = match connection.call(&["KEYS", "*"]).unwrap() {
            Value::Array(Some(items)) => items.iter().map(|item| item.as_text().unwrap()).collect(),
            other => panic!("KEYS *: {other:?}"),
        };
        let mut known = BTreeSet::new();
        if database == 0 {
            known.insert(SHARED_COUNTER.to_owned());
        }
        for writer in writers.iter_mut() {
            let groups: Vec<&mut Group> = writer
                .groups
                .iter_mut()
                .filter(|group| group.database == database)
                .collect();
            let mut bytes = Vec::new();
            for group in &groups {
                for key in &group.keys {
                    resp::encode(&["GET", key], &mut bytes);
                    resp::encode(&["PTTL", key], &mut bytes);
                }
            }
            connection.send_encoded(&bytes).unwrap();
            for group in groups {
                let mut observed = Vec::new();
                for key in &group.keys {
                    let value = connection.read().unwrap();
                    let ttl = match connection.read().unwrap() {
                        Value::Integer(ttl) => ttl,
                        other => panic!("PTTL {key}: {other:?}"),
                    };
                    let state = value.as_text().map(|value| Entry {
                        value,
                        expires: ttl != -1,
                    });
                    if (state.is_some() != listed.contains(key)) || (state.is_none() && ttl != -2) {
                        totals.unexplained += 1;
                        problems.push(format!(
                            "db{database} {key}: GET {value:?}, PTTL {ttl}, in KEYS: {}",
                            listed.contains(key)
                        ));
                    }
                    known.insert(key.clone());
                    observed.push(state);
                }
                totals.acknowledged_checked += group.acknowledged as u64;
                if group.kind == GroupKind::Block {
                    totals.blocks_checked += group.acknowledged as u64;
                }
                match group.compare(&observed) {
                    Outcome::Fine {
                        unacknowledged_landed,
                    } => totals.unacknowledged_landed += unacknowledged_landed as u64,
                    Outcome::Lost { matched } => {
                        let missing = group.acknowledged - matched;
                        lost += missing as u64;
                        problems.push(format!(
                            "db{database} {:?}: LOST {missing} acknowledged writes: found the \
                             state after {matched} of {} writes sent, {} acknowledged; last \
                             acknowledged {:?}; found {observed:?}",
                            group.keys,
                            group.pending.len(),
                            group.acknowledged,
                            group.pending[group.acknowledged - 1],
                        ));
                    }
                    Outcome::Unexplained => {
                        totals.unexplained += 1;
                        problems.push(format!(
                            "db{database} {:?}: a state no prefix of the {} writes sent \
                             ({} acknowledged) explains (torn block or never sent): found \
                             {observed:?}, verified before {:?}, current {:?}",
                            group.keys,
                            group.pending.len(),
                            group.acknowledged,
                            group.verified,
                            group.current,
                        ));
                    }
                }
                group.rebase(observed);
            }
        }
        for stray in listed.difference(&known) {
            totals.unexplained += 1;
            problems.push(format!("db{database} {stray}: a key no writer wrote"));
        }
    }
    totals.verifications += 1;
    totals.lost += lost;
    if !problems.is_empty() {
        // The rarer kinds (torn, resurrected, stray) first, then losses.
        problems.sort_by_key(|problem| problem.contains(": LOST "));
        let shown = problems.len().min(PROBLEMS_SHOWN_MAX);
        let (current, before) = history.split_last().unwrap();
        let mut report = format!(
            "verification {} ({current}) found {} problems, {lost} acknowledged writes lost; \
             the rounds before it:\n",
            totals.verifications,
            problems.len()
        );
        for round in &before[before.len().saturating_sub(4)..] {
            writeln!(report, "    {round}").unwrap();
        }
        for problem in &problems[..shown] {
            writeln!(report, "  {problem}").unwrap();
        }
        if shown < problems.len() {
            writeln!(report, "  … and {} more", problems.len() - shown).unwrap();
        }
        eprintln!("{report}");
        totals.findings.push(report);
    }
}

/// Random server flags for one start (always `--appendfsync always`).
fn server_flags(rng: &mut SmallRng) -> Vec<&'static str> {
    let mut flags = vec!["--appendfsync", "always"];
    match rng.random_range(0..4) {
        0 => flags.extend(["--checkpoint-wal-bytes", "64kb"]),
        1 => flags.extend(["--checkpoint-interval", "1"]),
        2 => flags.extend([
            "--checkpoint-wal-bytes",
            "256kb",
            "--checkpoint-interval",
            "1",
        ]),
        _ => {}
    }
    match rng.random_range(0..3) {
        0 => flags.extend(["--io-threads", "1"]),
        1 => flags.extend(["--io-threads", "3"]),
        _ => {}
    }
    flags
}

/// Sends one command on a new connection; the reply, or why none came.
fn admin(port: u16, arguments: &[&str]) -> Result<Value, std::io::Error> {
    resp::Connection::open(port)?.call(arguments)
}

/// Runs the writers against `server` as `round` says, and kills it.
fn write_and_kill(
    server: ServeProcess,
    round: Round,
    writers: &mut Vec<Writer>,
    rng: &mut SmallRng,
    totals: &mut Totals,
) {
    let port = server.port;
    let stop = Arc::new(AtomicBool::new(false));
    let handles: Vec<JoinHandle<Writer>> = writers
        .drain(..)
        .map(|mut writer| {
            let stop = Arc::clone(&stop);
            let mut writer_rng = SmallRng::seed_from_u64(rng.random());
            std::thread::spawn(move || {
                writer.run(port, &stop, &mut writer_rng);
                writer
            })
        })
        .collect();
    let write_ms = rng.random_range(20..300);
    let save = (round == Round::WriteWithSave).then(|| {
        let after = Duration::from_millis(rng.random_range(0..write_ms));
        let command = if rng.random_bool(0.5) {
            "SAVE"
        } else {
            "BGSAVE"
        };
        std::thread::spawn(move || {
            std::thread::sleep(after);
            // Killed before it answers, or an answer: both are fine.
            let _ = admin(port, &[command]);
        })
    });
    std::thread::sleep(Duration::from_millis(write_ms));
    let join = |handles: Vec<JoinHandle<Writer>>, writers: &mut Vec<Writer>| {
        for handle in handles {
            match handle.join() {
                Ok(writer) => writers.push(writer),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
    };
    if round == Round::WriteThenIdle {
        stop.store(true, Ordering::Relaxed);
        join(handles, writers);
        std::thread::sleep(Duration::from_millis(rng.random_range(100..1200)));
        server.kill();
    } else {
        server.kill();
        join(handles, writers);
    }
    if let Some(save) = save {
        save.join().unwrap();
    }
    writers.sort_by_key(|writer| writer.id);
    totals.kills += 1;
}

fn kills_to_run() -> u32 {
    if let Ok(kills) = std::env::var("KEEL_SIGKILL_KILLS") {
        return kills
            .parse()
            .expect("KEEL_SIGKILL_KILLS: a number of kills");
    }
    match std::env::var("KEEL_LONG") {
        Ok(long) if !long.is_empty() && long != "0" => LONG_KILLS,
        _ => CI_KILLS,
    }
}

#[test]
fn acknowledged_writes_survive_sigkill_loops() {
    let kills = kills_to_run();
    let seed = match std::env::var("KEEL_SIGKILL_SEED") {
        Ok(seed) => seed.parse().expect("KEEL_SIGKILL_SEED: a number"),
        Err(_) => rand::random(),
    };
    let started = Instant::now();
    let mut rng = SmallRng::seed_from_u64(seed);
    let temporary = tempfile::tempdir().unwrap();
    let dir = temporary.path().join("data");
    let mut shared = SharedModel {
        counter: Arc::new(SharedCounter::default()),
        verified: 0,
    };
    let mut writers: Vec<Writer> = (0..WRITERS)
        .map(|id| Writer::new(id, &shared.counter))
        .collect();
    let mut totals = Totals::default();
    let mut history = Vec::new();
    for round_number in 0..kills {
        let round = SCRIPT[round_number as usize % SCRIPT.len()];
        let flags = server_flags(&mut rng);
        history.push(format!(
            "round {round_number}: {round:?} {}",
            flags.join(" ")
        ));
        match round {
            Round::KillDuringRecovery => {
                let server = ServeProcess::spawn(&dir, &flags);
                std::thread::sleep(Duration::from_millis(rng.random_range(0..40)));
                server.kill();
                totals.kills += 1;
            }
            Round::KillAtStart => {
                ServeProcess::start(&dir, &flags).kill();
                totals.kills += 1;
            }
            _ => {
                let server = ServeProcess::start(&dir, &flags);
                verify(&server, &mut writers, &mut shared, &mut totals, &history);
                match round {
                    Round::SaveThenKill | Round::BgsaveThenKill | Round::VerifyThenKill => {
                        if round != Round::VerifyThenKill {
                            let command = if round == Round::SaveThenKill {
                                "SAVE"
                            } else {
                                "BGSAVE"
                            };
                            let reply = server.resp().call(&[command]).unwrap();
                            assert!(!matches!(reply, Value::Error(_)), "{command}: {reply:?}");
                        }
                        server.kill();
                        totals.kills += 1;
                    }
                    _ => {
                        if round == Round::SaveThenWrite {
                            assert_eq!(server.resp().call(&["SAVE"]).unwrap(), Value::ok());
                        }
                        write_and_kill(server, round, &mut writers, &mut rng, &mut totals);
                    }
                }
            }
        }
    }
    // Verify the last kill, close cleanly, and verify the clean close.
    history.push("final: verify, SIGTERM".to_owned());
    let server = ServeProcess::start(&dir, &["--appendfsync", "always"]);
    verify(&server, &mut writers, &mut shared, &mut totals, &history);
    let (status, log) = server.terminate();
    assert!(status.success(), "{status}: {log}");
    history.push("after the clean close: verify, SIGTERM".to_owned());
    let server = ServeProcess::start(&dir, &["--appendfsync", "always"]);
    verify(&server, &mut writers, &mut shared, &mut totals, &history);
    let (status, log) = server.terminate();
    assert!(status.success(), "{status}: {log}");

    println!(
        "sigkill: {} kills, {} verifications, {} acknowledged writes checked ({} of them \
         MULTI/MSET blocks), {} unacknowledged writes found applied, lost = {}, unexplained = \
         {}, {:.1} s, seed {seed}",
        totals.kills,
        totals.verifications,
        totals.acknowledged_checked,
        totals.blocks_checked,
        totals.unacknowledged_landed,
        totals.lost,
        totals.unexplained,
        started.elapsed().as_secs_f64(),
    );
    assert_eq!(totals.kills, kills);
    assert!(
        totals.acknowledged_checked > u64::from(kills) * 10 && totals.blocks_checked > 0,
        "the writers wrote too little to mean anything: {totals:?}"
    );
    assert!(
        totals.findings.is_empty(),
        "{} of {} verifications found problems (seed {seed}); {} acknowledged writes lost; \
         the first ones:\n{}",
        totals.findings.len(),
        totals.verifications,
        totals.lost,
        totals.findings[..totals.findings.len().min(FINDINGS_SHOWN_MAX)].join("\n")
    );
}

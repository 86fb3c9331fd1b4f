//! The string and keyspace commands of issue 8, written once over a small
//! transactional key-value interface ([`KeyValueStore`]), so that the
//! engine's [`Session`](crate::Session) only has to offer reads and
//! writes inside a keel transaction, and tests can run every command
//! against a `BTreeMap`.
//!
//! Every call of [`execute`] is meant to run inside one transaction of
//! the store (one command, or one MULTI block): the command reads and
//! writes through the store and never sees another client's writes half
//! done. Expired keys are the store's business: `get` must not return a
//! key whose deadline is at or before [`KeyValueStore::now_ms`].
//!
//! Not here: SCAN (its cursor format is a design decision of issue 8),
//! INFO, CONFIG SET, SAVE, BGSAVE, LASTSAVE and SHUTDOWN (the engine's).

use bytes::{Bytes, BytesMut};

use crate::backend::DatabaseIndex;
use crate::command_arguments::{
    Expiry, SetCondition, check_string_length, increment, increment_float, integer_argument,
    negate_decrement, parse_expire, parse_getex, parse_offset, parse_set, parse_setex,
    substring_range, time_to_live,
};
use crate::command_table::{CommandSpec, wrong_arity};
use crate::glob::GlobPattern;
use crate::protocol::{Command, Limits};
use crate::reply::Reply;

/// Keys read per call of [`KeyValueStore::keys_after`] by KEYS.
pub const KEYS_BATCH_MAX: usize = 1024;

/// A value and when it expires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredValue {
    /// The string.
    pub value: Bytes,
    /// Unix milliseconds after which the key does not exist; `None`: never.
    pub deadline_ms: Option<i64>,
}

/// What the data commands need of a store, within one transaction.
pub trait KeyValueStore {
    /// A failure of the store (a conflict, an I/O error); replied as
    /// `ERR <error>`.
    type Error: std::fmt::Display;

    /// The time expiry is judged against: the physical time of the
    /// transaction's read timestamp, the same for every call.
    fn now_ms(&self) -> i64;

    /// The live value of `key`, if any.
    fn get(
        &mut self,
        database: DatabaseIndex,
        key: &[u8],
    ) -> Result<Option<StoredValue>, Self::Error>;

    /// Writes `key` (its deadline, if any, is after `now_ms`).
    fn put(
        &mut self,
        database: DatabaseIndex,
        key: &[u8],
        value: StoredValue,
    ) -> Result<(), Self::Error>;

    /// Deletes `key`; whether a live key was there.
    fn delete(&mut self, database: DatabaseIndex, key: &[u8]) -> Result<bool, Self::Error>;

    /// Up to `count_max` live keys in key order, after `after` (from the
    /// first key when `None`).
    fn keys_after(
        &mut self,
        database: DatabaseIndex,
        after: Option<&[u8]>,
        count_max: usize,
    ) -> Result<Vec<Bytes>, Self::Error>;

    /// The number of live keys.
    fn count(&mut self, database: DatabaseIndex) -> Result<u64, Self::Error>;

    /// Deletes every key of `database`, or of every database if `None`.
    fn flush(&mut self, database: Option<DatabaseIndex>) -> Result<(), Self::Error>;
}

/// Runs one data command and returns its reply. `spec` is the command's
/// table entry (arity already checked); commands this module does not
/// implement get an error reply naming them.
pub fn execute<S: KeyValueStore>(
    store: &mut S,
    database: DatabaseIndex,
    spec: &CommandSpec,
    command: &Command,
    limits: &Limits,
) -> Reply {
    let mut context = Context {
        store,
        database,
        limits,
    };
    match context.run(spec, command.arguments()) {
        Ok(reply) | Err(Failure::Reply(reply)) => reply,
        Err(Failure::Store(text)) => Reply::error(format!("ERR {text}")),
    }
}

/// Why a command stopped: an error reply of its own, or the store's.
enum Failure {
    Reply(Reply),
    Store(String),
}

impl From<Reply> for Failure {
    fn from(reply: Reply) -> Failure {
        Failure::Reply(reply)
    }
}

struct Context<'a, S: KeyValueStore> {
    store: &'a mut S,
    database: DatabaseIndex,
    limits: &'a Limits,
}

type Outcome = Result<Reply, Failure>;

fn count_reply(count: usize) -> Reply {
    Reply::Integer(i64::try_from(count).unwrap_or(i64::MAX))
}

impl<S: KeyValueStore> Context<'_, S> {
    fn get(&mut self, key: &[u8]) -> Result<Option<StoredValue>, Failure> {
        self.store
            .get(self.database, key)
            .map_err(|error| Failure::Store(error.to_string()))
    }

    fn value(&mut self, key: &[u8]) -> Result<Option<Bytes>, Failure> {
        Ok(self.get(key)?.map(|stored| stored.value))
    }

    /// Writes, or deletes when the deadline has already passed (as Redis
    /// does for SET with a past EXAT and for EXPIRE into the past).
    fn put(&mut self, key: &[u8], value: Bytes, deadline_ms: Option<i64>) -> Result<(), Failure> {
        if deadline_ms.is_some_and(|deadline| deadline <= self.store.now_ms()) {
            self.delete(key)?;
            return Ok(());
        }
        self.store
            .put(self.database, key, StoredValue { value, deadline_ms })
            .map_err(|error| Failure::Store(error.to_string()))
    }

    fn delete(&mut self, key: &[u8]) -> Result<bool, Failure> {
        self.store
            .delete(self.database, key)
            .map_err(|error| Failure::Store(error.to_string()))
    }

    fn run(&mut self, spec: &CommandSpec, arguments: &[Bytes]) -> Outcome {
        let now_ms = self.store.now_ms();
        let key = arguments.get(1).cloned().unwrap_or_default();
        match spec.name {
            "get" => Ok(self.value(&key)?.into()),
            "set" => self.set(arguments, now_ms),
            "setnx" => {
                if self.get(&key)?.is_some() {
                    return Ok(Reply::Integer(0));
                }
                self.put(&key, arguments[2].clone(), None)?;
                Ok(Reply::Integer(1))
            }
            "setex" | "psetex" => {
                let deadline = parse_setex(spec.name, &arguments[2], now_ms)?;
                self.put(&key, arguments[3].clone(), Some(deadline))?;
                Ok(Reply::ok())
            }
            "getset" => {
                let old = self.value(&key)?;
                self.put(&key, arguments[2].clone(), None)?;
                Ok(old.into())
            }
            "getdel" => {
                let old = self.value(&key)?;
                if old.is_some() {
                    self.delete(&key)?;
                }
                Ok(old.into())
            }
            "getex" => {
                let expiry = parse_getex(arguments, now_ms)?;
                let Some(stored) = self.get(&key)? else {
                    return Ok(Reply::NullBulk);
                };
                match expiry {
                    Expiry::Keep => {}
                    Expiry::Remove => self.put(&key, stored.value.clone(), None)?,
                    Expiry::At(deadline) => self.put(&key, stored.value.clone(), Some(deadline))?,
                }
                Ok(Reply::Bulk(stored.value))
            }
            "mget" => {
                let mut values = Vec::with_capacity(arguments.len() - 1);
                for key in &arguments[1..] {
                    values.push(self.value(key)?.into());
                }
                Ok(Reply::Array(values))
            }
            "mset" | "msetnx" => {
                if arguments.len().is_multiple_of(2) {
                    return Ok(wrong_arity(spec));
                }
                if spec.name == "msetnx" {
                    for pair in arguments[1..].chunks(2) {
                        if self.get(&pair[0])?.is_some() {
                            return Ok(Reply::Integer(0));
                        }
                    }
                }
                for pair in arguments[1..].chunks(2) {
                    self.put(&pair[0], pair[1].clone(), None)?;
                }
                Ok(if spec.name == "mset" {
                    Reply::ok()
                } else {
                    Reply::Integer(1)
                })
            }
            "append" => {
                let stored = self.get(&key)?;
                let (old, deadline) = stored.map_or((Bytes::new(), None), |stored| {
                    (stored.value, stored.deadline_ms)
                });
                let total = old.len() as u64 + arguments[2].len() as u64;
                check_string_length(total, self.limits.bulk_bytes_max)?;
                let mut value = BytesMut::with_capacity(old.len() + arguments[2].len());
                value.extend_from_slice(&old);
                value.extend_from_slice(&arguments[2]);
                self.put(&key, value.freeze(), deadline)?;
                Ok(Reply::Integer(i64::try_from(total).unwrap_or(i64::MAX)))
            }
            "strlen" => Ok(count_reply(
                self.value(&key)?.map_or(0, |value| value.len()),
            )),
            "getrange" => {
                let start = integer_argument(&arguments[2])?;
                let end = integer_argument(&arguments[3])?;
                let value = self.value(&key)?.unwrap_or_default();
                Ok(Reply::Bulk(value.slice(substring_range(
                    value.len(),
                    start,
                    end,
                ))))
            }
            "setrange" => self.set_range(&key, &arguments[2], &arguments[3]),
            "incr" | "decr" | "incrby" | "decrby" => {
                let step = match arguments.get(2) {
                    Some(step) => integer_argument(step)?,
                    None => 1,
                };
                let step = if spec.name.starts_with("decr") {
                    negate_decrement(step)?
                } else {
                    step
                };
                let stored = self.get(&key)?;
                let next = increment(stored.as_ref().map(|stored| &stored.value[..]), step)?;
                let deadline = stored.and_then(|stored| stored.deadline_ms);
                self.put(&key, Bytes::from(next.to_string()), deadline)?;
                Ok(Reply::Integer(next))
            }
            "incrbyfloat" => {
                let stored = self.get(&key)?;
                let (_, text) = increment_float(
                    stored.as_ref().map(|stored| &stored.value[..]),
                    &arguments[2],
                )?;
                let deadline = stored.and_then(|stored| stored.deadline_ms);
                self.put(&key, Bytes::from(text.clone()), deadline)?;
                Ok(Reply::bulk(text))
            }
            "del" | "unlink" => {
                let mut deleted = 0;
                for key in &arguments[1..] {
                    deleted += usize::from(self.delete(key)?);
                }
                Ok(count_reply(deleted))
            }
            "exists" => {
                let mut found = 0;
                for key in &arguments[1..] {
                    found += usize::from(self.get(key)?.is_some());
                }
                Ok(count_reply(found))
            }
            "type" => Ok(Reply::Simple(
                if self.get(&key)?.is_some() {
                    "string"
                } else {
                    "none"
                }
                .to_owned(),
            )),
            "rename" | "renamenx" => self.rename(spec.name == "renamenx", &key, &arguments[2]),
            "keys" => self.keys(&arguments[1]),
            "dbsize" => {
                let count = self
                    .store
                    .count(self.database)
                    .map_err(|error| Failure::Store(error.to_string()))?;
                Ok(Reply::Integer(i64::try_from(count).unwrap_or(i64::MAX)))
            }
            "flushdb" | "flushall" => {
                // FLUSHDB [ASYNC | SYNC]: keel flushes in the transaction either way.
                match &arguments[1..] {
                    [] => {}
                    [mode]
                        if mode.eq_ignore_ascii_case(b"ASYNC")
                            || mode.eq_ignore_ascii_case(b"SYNC") => {}
                    _ => return Ok(Reply::error("ERR syntax error")),
                }
                let scope = (spec.name == "flushdb").then_some(self.database);
                self.store
                    .flush(scope)
                    .map_err(|error| Failure::Store(error.to_string()))?;
                Ok(Reply::ok())
            }
            "expire" | "pexpire" | "expireat" | "pexpireat" => {
                let expire = parse_expire(spec.name, arguments, now_ms)?;
                let Some(stored) = self.get(&key)? else {
                    return Ok(Reply::Integer(0));
                };
                if !expire
                    .condition
                    .allows(stored.deadline_ms, expire.deadline_ms)
                {
                    return Ok(Reply::Integer(0));
                }
                self.put(&key, stored.value, Some(expire.deadline_ms))?;
                Ok(Reply::Integer(1))
            }
            "ttl" | "pttl" => Ok(Reply::Integer(match self.get(&key)? {
                None => -2,
                Some(stored) => time_to_live(stored.deadline_ms, now_ms, spec.name == "pttl"),
            })),
            "persist" => match self.get(&key)? {
                Some(StoredValue {
                    value,
                    deadline_ms: Some(_),
                }) => {
                    self.put(&key, value, None)?;
                    Ok(Reply::Integer(1))
                }
                _ => Ok(Reply::Integer(0)),
            },
            other => Ok(Reply::error(format!("ERR '{other}' is not a data command"))),
        }
    }

    fn set(&mut self, arguments: &[Bytes], now_ms: i64) -> Outcome {
        let set = parse_set(arguments, now_ms)?;
        let key = &arguments[1];
        // A plain SET is a blind write: reading the old value would only
        // add a read that concurrent SETs of the key conflict with.
        let needs_old =
            set.return_old || set.condition != SetCondition::Always || set.expiry == Expiry::Keep;
        let old = if needs_old { self.get(key)? } else { None };
        let allowed = match set.condition {
            SetCondition::Always => true,
            SetCondition::IfAbsent => old.is_none(),
            SetCondition::IfPresent => old.is_some(),
        };
        if allowed {
            let deadline = match set.expiry {
                Expiry::Remove => None,
                Expiry::Keep => old.as_ref().and_then(|old| old.deadline_ms),
                Expiry::At(deadline) => Some(deadline),
            };
            self.put(key, arguments[2].clone(), deadline)?;
        }
        Ok(match (set.return_old, allowed) {
            (true, _) => old.map(|old| old.value).into(),
            (false, true) => Reply::ok(),
            (false, false) => Reply::NullBulk,
        })
    }

    fn set_range(&mut self, key: &[u8], offset: &[u8], piece: &Bytes) -> Outcome {
        let offset = parse_offset(offset)?;
        let stored = self.get(key)?;
        if piece.is_empty() {
            // Nothing to write: the length as it is, and no key created.
            return Ok(count_reply(stored.map_or(0, |stored| stored.value.len())));
        }
        let end = offset.saturating_add(piece.len() as u64);
        check_string_length(end, self.limits.bulk_bytes_max)?;
        let (old, deadline) = stored.map_or((Bytes::new(), None), |stored| {
            (stored.value, stored.deadline_ms)
        });
        // `end` is within the bulk limit, so these fit in memory's index.
        let offset = usize::try_from(offset).unwrap_or(usize::MAX);
        let end = usize::try_from(end).unwrap_or(usize::MAX);
        let mut value = BytesMut::from(&old[..]);
        if value.len() < end {
            value.resize(end, 0);
        }
        value[offset..end].copy_from_slice(piece);
        let length = value.len();
        self.put(key, value.freeze(), deadline)?;
        Ok(count_reply(length))
    }

    fn rename(&mut self, only_if_new: bool, source: &[u8], target: &[u8]) -> Outcome {
        let Some(stored) = self.get(source)? else {
            return Ok(Reply::error("ERR no such key"));
        };
        if source == target {
            return Ok(if only_if_new {
                Reply::Integer(0)
            } else {
                Reply::ok()
            });
        }
        if only_if_new && self.get(target)?.is_some() {
            return Ok(Reply::Integer(0));
        }
        self.delete(source)?;
        self.put(target, stored.value, stored.deadline_ms)?;
        Ok(if only_if_new {
            Reply::Integer(1)
        } else {
            Reply::ok()
        })
    }

    fn keys(&mut self, pattern: &[u8]) -> Outcome {
        let pattern = GlobPattern::new(pattern, false);
        let mut matched = Vec::new();
        let mut after: Option<Bytes> = None;
        loop {
            let batch = self
                .store
                .keys_after(self.database, after.as_deref(), KEYS_BATCH_MAX)
                .map_err(|error| Failure::Store(error.to_string()))?;
            let done = batch.len() < KEYS_BATCH_MAX;
            after = batch.last().cloned();
            matched.extend(
                batch
                    .into_iter()
                    .filter(|key| pattern.matches_everything() || pattern.matches(key))
                    .map(Reply::Bulk),
            );
            if done || after.is_none() {
                return Ok(Reply::Array(matched));
            }
        }
    }
}

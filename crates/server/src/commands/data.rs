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
use crate::commands::arguments::{
    Expiry, SYNTAX_ERROR_TEXT, SetCondition, check_string_length, increment, increment_float,
    integer_argument, negate_decrement, parse_expire, parse_getex, parse_offset, parse_set,
    parse_setex, substring_range, time_to_live,
};
use crate::commands::glob::GlobPattern;
use crate::commands::lcs::{longest_common_subsequence, table_bytes};
use crate::commands::object_info::{
    Digest, EMPTY_DIGEST, Encoding, debug_object_line, memory_usage, value_digest,
};
use crate::commands::table::{CommandSpec, wrong_arity};
use crate::resp::Reply;
use crate::resp::parse_integer;
use crate::resp::{Command, Limits};

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

    /// The last live key in key order (RANDOMKEY). The default walks
    /// every key; stores should do better.
    fn last_key(&mut self, database: DatabaseIndex) -> Result<Option<Bytes>, Self::Error> {
        let mut last = None;
        loop {
            let batch = self.keys_after(database, last.as_deref(), KEYS_BATCH_MAX)?;
            let done = batch.len() < KEYS_BATCH_MAX;
            if let Some(key) = batch.last() {
                last = Some(key.clone());
            }
            if done {
                return Ok(last);
            }
        }
    }

    /// How many databases there are, `0..count` (COPY DB, MOVE and DEBUG
    /// DIGEST check and walk them).
    fn database_count(&self) -> DatabaseIndex {
        crate::engine::backend::DATABASES_DEFAULT
    }
}

/// Keys RANDOMKEY reads to choose among them uniformly; a database with
/// more picks a point between its first and last key and takes the next.
pub const RANDOMKEY_UNIFORM_KEYS_MAX: usize = 1024;

/// The commands that reach databases other than the selected one (the
/// engine gives them every database's keyspace).
pub fn touches_every_database(spec: &CommandSpec) -> bool {
    spec.container.is_none() && matches!(spec.name, "copy" | "move" | "debug")
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

/// An argument Redis reads as a C `int` (`getIntFromObjectOrReply`): an
/// integer, and within `int`'s range, each with its own error.
fn int_argument(argument: &[u8]) -> Result<i32, Reply> {
    let integer = integer_argument(argument)?;
    i32::try_from(integer).map_err(|_| {
        Reply::error("ERR value is out of range, value must between -2147483648 and 2147483647")
    })
}

/// A bit offset of SETBIT or GETBIT: non-negative, its byte within
/// `bulk_bytes_max`.
fn bit_offset(argument: &[u8], bulk_bytes_max: usize) -> Result<u64, Reply> {
    parse_integer(argument)
        .and_then(|offset| u64::try_from(offset).ok())
        .filter(|offset| offset >> 3 < bulk_bytes_max as u64)
        .ok_or_else(|| Reply::error("ERR bit offset is not an integer or out of range"))
}

fn popcount(bytes: &[u8]) -> usize {
    bytes.iter().map(|byte| byte.count_ones() as usize).sum()
}

/// A key's first 8 bytes, zero-padded, as a big-endian number.
fn leading_u64(key: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    let length = key.len().min(8);
    bytes[..length].copy_from_slice(&key[..length]);
    u64::from_be_bytes(bytes)
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
        if let Some(container) = spec.container {
            return self.run_subcommand(container, spec.name, arguments);
        }
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
                let expiry = parse_getex(arguments, now_ms);
                let Some(stored) = self.get(&key)? else {
                    // Redis checks the options' syntax, then looks the key
                    // up, and only then the time.
                    return match expiry {
                        Err(reply) if reply == Reply::error(SYNTAX_ERROR_TEXT) => Err(reply.into()),
                        _ => Ok(Reply::NullBulk),
                    };
                };
                let expiry = expiry?;
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
            "getrange" | "substr" => {
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
            // Redis rounds EXPIRETIME's seconds as TTL's.
            "expiretime" | "pexpiretime" => Ok(Reply::Integer(match self.get(&key)? {
                None => -2,
                Some(stored) => time_to_live(stored.deadline_ms, 0, spec.name == "pexpiretime"),
            })),
            "touch" => {
                let mut found = 0;
                for key in &arguments[1..] {
                    found += usize::from(self.get(key)?.is_some());
                }
                Ok(count_reply(found))
            }
            "randomkey" => self.random_key(),
            "copy" => self.copy(arguments),
            "move" => self.move_key(&key, &arguments[2]),
            "lcs" => self.lcs(arguments),
            "setbit" => self.set_bit(&key, &arguments[2], &arguments[3]),
            "getbit" => {
                let offset = bit_offset(&arguments[2], self.limits.bulk_bytes_max)?;
                let value = self.value(&key)?.unwrap_or_default();
                let byte = usize::try_from(offset >> 3)
                    .ok()
                    .and_then(|index| value.get(index).copied())
                    .unwrap_or(0);
                Ok(Reply::Integer(i64::from((byte >> (7 - (offset & 7))) & 1)))
            }
            "bitcount" => self.bit_count(&key, &arguments[2..]),
            "debug" => self.debug(arguments),
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

    /// OBJECT and MEMORY subcommands on one key.
    fn run_subcommand(&mut self, container: &str, name: &str, arguments: &[Bytes]) -> Outcome {
        let key = &arguments[2];
        match (container, name) {
            ("memory", "usage") => {
                match &arguments[3..] {
                    [] => {}
                    [option, count] if option.eq_ignore_ascii_case(b"SAMPLES") => {
                        integer_argument(count)?;
                    }
                    _ => return Ok(Reply::error("ERR syntax error")),
                }
                Ok(match self.get(key)? {
                    None => Reply::NullBulk,
                    Some(stored) => Reply::Integer(memory_usage(
                        key,
                        &stored.value,
                        stored.deadline_ms.is_some(),
                    )),
                })
            }
            ("object", "freq") => match self.get(key)? {
                None => Ok(Reply::NullBulk),
                // keel keeps no access counts, as Redis without an LFU
                // maxmemory-policy.
                Some(_) => Ok(Reply::error(
                    "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.",
                )),
            },
            ("object", subcommand) => Ok(match self.get(key)? {
                None => Reply::NullBulk,
                Some(stored) => {
                    let encoding = Encoding::of(&stored.value);
                    match subcommand {
                        "encoding" => Reply::bulk(encoding.name()),
                        "refcount" => Reply::Integer(encoding.reference_count()),
                        // keel does not track access times.
                        "idletime" => Reply::Integer(0),
                        other => {
                            Reply::error(format!("ERR 'object|{other}' is not a data command"))
                        }
                    }
                }
            }),
            (container, name) => Ok(Reply::error(format!(
                "ERR '{container}|{name}' is not a data command"
            ))),
        }
    }

    /// RANDOMKEY: uniform among up to [`RANDOMKEY_UNIFORM_KEYS_MAX`] keys;
    /// beyond, the key at or after a random point between the first and
    /// the last key's leading bytes.
    fn random_key(&mut self) -> Outcome {
        let store_error = |error: S::Error| Failure::Store(error.to_string());
        let first = self
            .store
            .keys_after(self.database, None, RANDOMKEY_UNIFORM_KEYS_MAX + 1)
            .map_err(store_error)?;
        if first.is_empty() {
            return Ok(Reply::NullBulk);
        }
        if first.len() <= RANDOMKEY_UNIFORM_KEYS_MAX {
            let index = rand::random_range(0..first.len());
            return Ok(Reply::Bulk(first[index].clone()));
        }
        let last = self
            .store
            .last_key(self.database)
            .map_err(store_error)?
            .unwrap_or_else(|| first[first.len() - 1].clone());
        let low = leading_u64(&first[0]);
        let high = leading_u64(&last).max(low);
        let point = rand::random_range(low..=high).to_be_bytes();
        // The first key at or after the point: after the point minus a
        // byte's worth, since `keys_after` excludes its bound.
        let picked = self
            .store
            .keys_after(self.database, Some(&point), 1)
            .map_err(store_error)?;
        Ok(Reply::Bulk(
            picked
                .into_iter()
                .next()
                .unwrap_or_else(|| first[0].clone()),
        ))
    }

    /// The database index argument of COPY's DB and MOVE.
    fn database_argument(&self, argument: &[u8]) -> Result<Option<DatabaseIndex>, Failure> {
        let index = int_argument(argument)?;
        Ok(DatabaseIndex::try_from(index)
            .ok()
            .filter(|&index| index < self.store.database_count()))
    }

    /// COPY source destination [DB destination-db] [REPLACE].
    fn copy(&mut self, arguments: &[Bytes]) -> Outcome {
        let (source, destination) = (&arguments[1], &arguments[2]);
        let mut replace = false;
        let mut target = Some(self.database);
        let mut index = 3;
        while index < arguments.len() {
            let option = &arguments[index];
            if option.eq_ignore_ascii_case(b"REPLACE") {
                replace = true;
            } else if option.eq_ignore_ascii_case(b"DB") && index + 1 < arguments.len() {
                target = self.database_argument(&arguments[index + 1])?;
                index += 1;
            } else {
                return Ok(Reply::error("ERR syntax error"));
            }
            index += 1;
        }
        if target == Some(self.database) && source == destination {
            return Ok(Reply::error(
                "ERR source and destination objects are the same",
            ));
        }
        let Some(target) = target else {
            return Ok(Reply::error("ERR DB index is out of range"));
        };
        let Some(stored) = self.get(source)? else {
            return Ok(Reply::Integer(0));
        };
        let store_error = |error: S::Error| Failure::Store(error.to_string());
        if !replace
            && self
                .store
                .get(target, destination)
                .map_err(store_error)?
                .is_some()
        {
            return Ok(Reply::Integer(0));
        }
        self.store
            .put(target, destination, stored)
            .map_err(store_error)?;
        Ok(Reply::Integer(1))
    }

    /// MOVE key db.
    fn move_key(&mut self, key: &[u8], database: &[u8]) -> Outcome {
        let Some(target) = self.database_argument(database)? else {
            return Ok(Reply::error("ERR DB index is out of range"));
        };
        if target == self.database {
            return Ok(Reply::error(
                "ERR source and destination objects are the same",
            ));
        }
        let Some(stored) = self.get(key)? else {
            return Ok(Reply::Integer(0));
        };
        let store_error = |error: S::Error| Failure::Store(error.to_string());
        if self.store.get(target, key).map_err(store_error)?.is_some() {
            return Ok(Reply::Integer(0));
        }
        self.store.put(target, key, stored).map_err(store_error)?;
        self.delete(key)?;
        Ok(Reply::Integer(1))
    }

    /// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN].
    fn lcs(&mut self, arguments: &[Bytes]) -> Outcome {
        let (mut length_only, mut indexes, mut with_match_length) = (false, false, false);
        let mut min_match_length = 0usize;
        let mut index = 3;
        while index < arguments.len() {
            let option = &arguments[index];
            if option.eq_ignore_ascii_case(b"IDX") {
                indexes = true;
            } else if option.eq_ignore_ascii_case(b"LEN") {
                length_only = true;
            } else if option.eq_ignore_ascii_case(b"WITHMATCHLEN") {
                with_match_length = true;
            } else if option.eq_ignore_ascii_case(b"MINMATCHLEN") && index + 1 < arguments.len() {
                let minimum = integer_argument(&arguments[index + 1])?;
                min_match_length = usize::try_from(minimum.max(0)).unwrap_or(usize::MAX);
                index += 1;
            } else {
                return Ok(Reply::error("ERR syntax error"));
            }
            index += 1;
        }
        let a = self.value(&arguments[1])?.unwrap_or_default();
        let b = self.value(&arguments[2])?.unwrap_or_default();
        if length_only && indexes {
            return Ok(Reply::error(
                "ERR If you want both the length and indexes, please just use IDX.",
            ));
        }
        if a.len() >= u32::MAX as usize - 1 || b.len() >= u32::MAX as usize - 1 {
            return Ok(Reply::error("ERR String too long for LCS"));
        }
        if table_bytes(a.len(), b.len()).is_none_or(|bytes| bytes > self.limits.bulk_bytes_max) {
            return Ok(Reply::error(
                "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
            ));
        }
        let lcs = longest_common_subsequence(&a, &b, min_match_length, indexes || !length_only);
        let length = count_reply(lcs.length);
        if indexes {
            let position = |value: usize| count_reply(value);
            let matches = lcs
                .matches
                .iter()
                .map(|found| {
                    let mut entry = vec![
                        Reply::Array(vec![position(found.first.0), position(found.first.1)]),
                        Reply::Array(vec![position(found.second.0), position(found.second.1)]),
                    ];
                    if with_match_length {
                        entry.push(count_reply(found.length));
                    }
                    Reply::Array(entry)
                })
                .collect();
            return Ok(Reply::Map(vec![
                (Reply::bulk("matches"), Reply::Array(matches)),
                (Reply::bulk("len"), length),
            ]));
        }
        if length_only {
            return Ok(length);
        }
        Ok(Reply::Bulk(Bytes::from(lcs.text)))
    }

    /// SETBIT key offset value: the bit's old value.
    fn set_bit(&mut self, key: &[u8], offset: &[u8], bit: &[u8]) -> Outcome {
        let offset = bit_offset(offset, self.limits.bulk_bytes_max)?;
        let bit = parse_integer(bit)
            .filter(|bit| *bit == 0 || *bit == 1)
            .ok_or_else(|| Reply::error("ERR bit is not an integer or out of range"))?;
        let stored = self.get(key)?;
        let (old, deadline) = stored.map_or((Bytes::new(), None), |stored| {
            (stored.value, stored.deadline_ms)
        });
        // `offset` is within the bulk limit, so its byte fits in memory.
        let byte_index = usize::try_from(offset >> 3).unwrap_or(usize::MAX);
        let mut value = BytesMut::from(&old[..]);
        if value.len() <= byte_index {
            value.resize(byte_index + 1, 0);
        }
        let mask = 1u8 << (7 - (offset & 7));
        let previous = i64::from(value[byte_index] & mask != 0);
        if bit == 1 {
            value[byte_index] |= mask;
        } else {
            value[byte_index] &= !mask;
        }
        self.put(key, value.freeze(), deadline)?;
        Ok(Reply::Integer(previous))
    }

    /// BITCOUNT key [start end [BYTE | BIT]].
    fn bit_count(&mut self, key: &[u8], range: &[Bytes]) -> Outcome {
        let bounds = match range {
            [] => None,
            [start, end] | [start, end, _] => {
                let start = integer_argument(start)?;
                let end = integer_argument(end)?;
                let in_bits = match range.get(2) {
                    None => false,
                    Some(unit) if unit.eq_ignore_ascii_case(b"BIT") => true,
                    Some(unit) if unit.eq_ignore_ascii_case(b"BYTE") => false,
                    Some(_) => return Ok(Reply::error("ERR syntax error")),
                };
                Some((start, end, in_bits))
            }
            _ => return Ok(Reply::error("ERR syntax error")),
        };
        let Some(value) = self.value(key)? else {
            return Ok(Reply::Integer(0));
        };
        let Some((start, end, in_bits)) = bounds else {
            return Ok(count_reply(popcount(&value)));
        };
        if start < 0 && end < 0 && start > end {
            return Ok(Reply::Integer(0));
        }
        let total = i64::try_from(value.len()).unwrap_or(i64::MAX);
        let total = if in_bits {
            total.saturating_mul(8)
        } else {
            total
        };
        let from_end = |index: i64| if index < 0 { total + index } else { index };
        let start = from_end(start).max(0);
        let end = from_end(end).max(0).min(total - 1);
        if start > end {
            return Ok(Reply::Integer(0));
        }
        // Both are within the string here.
        let (start, end) = (
            usize::try_from(start).unwrap_or(0),
            usize::try_from(end).unwrap_or(0),
        );
        if !in_bits {
            return Ok(count_reply(popcount(&value[start..=end])));
        }
        let (first_byte, last_byte) = (start >> 3, end >> 3);
        let mut count = popcount(&value[first_byte..=last_byte]);
        // Take off the bits of the edge bytes outside the range (a shift
        // by 8 keeps nothing).
        let shifted = |bits: usize| 0xffu8.checked_shr(u32::try_from(bits).unwrap_or(8));
        let before = value[first_byte] & !shifted(start & 7).unwrap_or(0);
        let after = value[last_byte] & shifted((end & 7) + 1).unwrap_or(0);
        count -= popcount(&[before, after]);
        Ok(count_reply(count))
    }

    /// DEBUG's subcommands that read data; the rest are the backend's or
    /// the connection's, and answer OK here (inside MULTI).
    fn debug(&mut self, arguments: &[Bytes]) -> Outcome {
        let subcommand = String::from_utf8_lossy(&arguments[1]).to_ascii_lowercase();
        match (subcommand.as_str(), arguments.len()) {
            ("object", 3) => Ok(match self.get(&arguments[2])? {
                None => Reply::error("ERR no such key"),
                Some(stored) => Reply::Simple(debug_object_line(&arguments[2], &stored.value)),
            }),
            ("digest-value", _) => {
                let mut digests = Vec::with_capacity(arguments.len() - 2);
                for key in &arguments[2..] {
                    digests.push(Reply::Simple(match self.get(key)? {
                        None => EMPTY_DIGEST.to_owned(),
                        Some(stored) => value_digest(&stored.value, stored.deadline_ms).hex(),
                    }));
                }
                Ok(Reply::Array(digests))
            }
            ("digest", 2) => self.dataset_digest(),
            _ => Ok(crate::commands::debug::reply_without_data(arguments)),
        }
    }

    /// DEBUG DIGEST: every database's keys, values and expiries, in order.
    fn dataset_digest(&mut self) -> Outcome {
        let store_error = |error: S::Error| Failure::Store(error.to_string());
        let mut digest = Digest::empty();
        for database in 0..self.store.database_count() {
            let mut after: Option<Bytes> = None;
            loop {
                let batch = self
                    .store
                    .keys_after(database, after.as_deref(), KEYS_BATCH_MAX)
                    .map_err(store_error)?;
                for key in &batch {
                    if let Some(stored) = self.store.get(database, key).map_err(store_error)? {
                        let mut entry = Digest::of_parts(&[&database.to_le_bytes(), key]);
                        entry.mix(&value_digest(&stored.value, stored.deadline_ms));
                        digest.mix(&entry);
                    }
                }
                if batch.len() < KEYS_BATCH_MAX {
                    break;
                }
                after = batch.last().cloned();
            }
        }
        Ok(Reply::Simple(digest.hex()))
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

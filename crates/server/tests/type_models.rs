//! Model tests of the data types (streams too): random command sequences run against
//! keel-server over a real keel database and against an in-memory model
//! of Redis's semantics (a `BTreeMap` per key), reply by reply. Keys and
//! members come from small alphabets so commands collide often, and one
//! key of each sequence is sometimes a string, so WRONGTYPE is exercised.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;
use keel_server::commands::table::resolve;
use keel_server::{
    AppendFsync, Backend, Command, EncodedReplies, KeelBackend, KeelBackendOptions,
    ProtocolVersion, Reply, Request, Session,
};
use proptest::prelude::*;

const WRONG_TYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

/// keel-server over a database in a temporary directory, one session.
struct Server {
    session: Box<dyn Session>,
    _backend: KeelBackend,
    _dir: tempfile::TempDir,
}

impl Server {
    fn new() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let backend = KeelBackend::open(
            dir.path(),
            keel::Options {
                pool_bytes: 8 << 20,
                ..keel::Options::default()
            },
            KeelBackendOptions {
                appendfsync: AppendFsync::No,
                ..KeelBackendOptions::default()
            },
        )
        .unwrap();
        Server {
            session: backend.open_session(1),
            _backend: backend,
            _dir: dir,
        }
    }

    fn call(&mut self, parts: &[String]) -> Reply {
        let command = Command::from_parts(parts);
        match resolve(&command) {
            Err(reply) => reply,
            Ok(spec) => self.session.execute(&Request {
                database: 0,
                spec,
                command,
                protocol: ProtocolVersion::Resp2,
            }),
        }
    }

    /// Runs `commands` as one pipelined group (one transaction), their
    /// replies encoded as RESP2.
    fn pipeline(&mut self, commands: &[Vec<String>]) -> Vec<Vec<u8>> {
        let requests: Vec<Request> = commands
            .iter()
            .map(|parts| {
                let command = Command::from_parts(parts);
                Request {
                    database: 0,
                    spec: resolve(&command).unwrap(),
                    command,
                    protocol: ProtocolVersion::Resp2,
                }
            })
            .collect();
        let mut replies = EncodedReplies::default();
        self.session.execute_pipeline(&requests, &mut replies);
        replies.iter().map(<[u8]>::to_vec).collect()
    }
}

/// Commands per pipelined group in [`check`]'s second run: groups end at
/// different points of the sequences.
const GROUP_COMMANDS: usize = 7;

fn bulk(text: &str) -> Reply {
    Reply::Bulk(Bytes::copy_from_slice(text.as_bytes()))
}

fn int(value: usize) -> Reply {
    Reply::Integer(value as i64)
}

fn array(items: impl IntoIterator<Item = String>) -> Reply {
    Reply::Array(items.into_iter().map(|item| bulk(&item)).collect())
}

fn wrong_type() -> Reply {
    Reply::Error(WRONG_TYPE.to_owned())
}

fn words(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|part| (*part).to_owned()).collect()
}

/// A key of a sequence: `k0` and `k1` hold the type under test, `s`
/// sometimes a string.
fn key() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["k0", "k1", "s"]).prop_map(str::to_owned)
}

fn member() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "b", "c", "d", "e"]).prop_map(str::to_owned)
}

/// The model's keys: a string, or a collection of the type under test.
#[derive(Clone, Debug)]
enum Value<T> {
    String,
    Collection(T),
}

/// Runs `commands` on a fresh server and on `model`, comparing replies;
/// then again on another fresh server in pipelined groups (several
/// commands, often on one collection, in one transaction), which must
/// answer the same.
fn check<M>(commands: &[Vec<String>], mut model: M, apply: impl Fn(&mut M, &[String]) -> Reply) {
    let mut server = Server::new();
    let mut expected_all = Vec::with_capacity(commands.len());
    for command in commands {
        let expected = apply(&mut model, command);
        let got = server.call(command);
        // Compared as RESP2 bytes: a map or set reply is an array there.
        let (got, expected) = (
            got.to_bytes(ProtocolVersion::Resp2),
            expected.to_bytes(ProtocolVersion::Resp2),
        );
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(&expected),
            "after {command:?} of {commands:?}"
        );
        expected_all.push(expected);
    }
    let mut grouped = Server::new();
    for (index, group) in commands.chunks(GROUP_COMMANDS).enumerate() {
        let replies = grouped.pipeline(group);
        let expected = &expected_all[index * GROUP_COMMANDS..][..group.len()];
        for ((got, expected), command) in replies.iter().zip(expected).zip(group) {
            assert_eq!(
                String::from_utf8_lossy(got),
                String::from_utf8_lossy(expected),
                "after {command:?} in group {group:?} of {commands:?}"
            );
        }
        assert_eq!(replies.len(), group.len());
    }
}

// Hashes.

type Hashes = BTreeMap<String, Value<BTreeMap<String, String>>>;

fn hash_command() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        (key(), member(), member()).prop_map(|(k, f, v)| words(&["HSET", &k, &f, &v])),
        (key(), member(), member()).prop_map(|(k, f, v)| words(&["HSETNX", &k, &f, &v])),
        (key(), member()).prop_map(|(k, f)| words(&["HDEL", &k, &f])),
        (key(), member()).prop_map(|(k, f)| words(&["HGET", &k, &f])),
        (key(), member()).prop_map(|(k, f)| words(&["HEXISTS", &k, &f])),
        (key(), member(), -3i64..4).prop_map(|(k, f, n)| words(&[
            "HINCRBY",
            &k,
            &f,
            &n.to_string()
        ])),
        key().prop_map(|k| words(&["HLEN", &k])),
        key().prop_map(|k| words(&["HGETALL", &k])),
        key().prop_map(|k| words(&["HKEYS", &k])),
        key().prop_map(|k| words(&["DEL", &k])),
        key().prop_map(|k| words(&["TYPE", &k])),
        key().prop_map(|k| words(&["SET", &k, "1"])),
    ]
}

fn hash_model(model: &mut Hashes, command: &[String]) -> Reply {
    let name = command[0].as_str();
    let key = command[1].clone();
    match name {
        "DEL" => return int(usize::from(model.remove(&key).is_some())),
        "SET" => {
            model.insert(key, Value::String);
            return Reply::ok();
        }
        "TYPE" => {
            return Reply::Simple(
                match model.get(&key) {
                    None => "none",
                    Some(Value::String) => "string",
                    Some(Value::Collection(_)) => "hash",
                }
                .to_owned(),
            );
        }
        _ => {}
    }
    let mut hash = match model.get(&key) {
        Some(Value::String) => return wrong_type(),
        Some(Value::Collection(hash)) => hash.clone(),
        None => BTreeMap::new(),
    };
    let reply = match name {
        "HSET" => int(usize::from(
            hash.insert(command[2].clone(), command[3].clone())
                .is_none(),
        )),
        "HSETNX" if hash.contains_key(&command[2]) => int(0),
        "HSETNX" => {
            hash.insert(command[2].clone(), command[3].clone());
            int(1)
        }
        "HDEL" => int(usize::from(hash.remove(&command[2]).is_some())),
        "HGET" => hash.get(&command[2]).map_or(Reply::NullBulk, |v| bulk(v)),
        "HEXISTS" => int(usize::from(hash.contains_key(&command[2]))),
        "HINCRBY" => {
            let current = hash.get(&command[2]).map_or(Ok(0), |v| v.parse::<i64>());
            match current {
                Err(_) => Reply::Error("ERR hash value is not an integer".to_owned()),
                Ok(current) => {
                    let next = current + command[3].parse::<i64>().unwrap();
                    hash.insert(command[2].clone(), next.to_string());
                    Reply::Integer(next)
                }
            }
        }
        "HLEN" => int(hash.len()),
        "HKEYS" => array(hash.keys().cloned()),
        _ => array(hash.iter().flat_map(|(f, v)| [f.clone(), v.clone()])),
    };
    if hash.is_empty() {
        model.remove(&key);
    } else {
        model.insert(key, Value::Collection(hash));
    }
    reply
}

// Sets.

type Sets = BTreeMap<String, Value<BTreeSet<String>>>;

fn set_command() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        (key(), member(), member()).prop_map(|(k, a, b)| words(&["SADD", &k, &a, &b])),
        (key(), member()).prop_map(|(k, m)| words(&["SREM", &k, &m])),
        (key(), member()).prop_map(|(k, m)| words(&["SISMEMBER", &k, &m])),
        key().prop_map(|k| words(&["SCARD", &k])),
        key().prop_map(|k| words(&["SMEMBERS", &k])),
        (key(), key()).prop_map(|(a, b)| words(&["SINTER", &a, &b])),
        (key(), key()).prop_map(|(a, b)| words(&["SUNION", &a, &b])),
        (key(), key()).prop_map(|(a, b)| words(&["SDIFF", &a, &b])),
        (key(), key(), key()).prop_map(|(d, a, b)| words(&["SUNIONSTORE", &d, &a, &b])),
        (key(), key(), member()).prop_map(|(a, b, m)| words(&["SMOVE", &a, &b, &m])),
        key().prop_map(|k| words(&["DEL", &k])),
        key().prop_map(|k| words(&["SET", &k, "1"])),
    ]
}

fn set_of(model: &Sets, key: &str) -> Result<BTreeSet<String>, Reply> {
    match model.get(key) {
        Some(Value::String) => Err(wrong_type()),
        Some(Value::Collection(set)) => Ok(set.clone()),
        None => Ok(BTreeSet::new()),
    }
}

fn store_set(model: &mut Sets, key: &str, set: BTreeSet<String>) {
    if set.is_empty() {
        model.remove(key);
    } else {
        model.insert(key.to_owned(), Value::Collection(set));
    }
}

fn set_model(model: &mut Sets, command: &[String]) -> Reply {
    let name = command[0].as_str();
    match name {
        "DEL" => return int(usize::from(model.remove(&command[1]).is_some())),
        "SET" => {
            model.insert(command[1].clone(), Value::String);
            return Reply::ok();
        }
        "SINTER" | "SUNION" | "SDIFF" | "SUNIONSTORE" => {
            let keys = if name == "SUNIONSTORE" {
                &command[2..]
            } else {
                &command[1..]
            };
            let (a, b) = match (set_of(model, &keys[0]), set_of(model, &keys[1])) {
                (Ok(a), Ok(b)) => (a, b),
                _ => return wrong_type(),
            };
            let result: BTreeSet<String> = match name {
                "SINTER" => a.intersection(&b).cloned().collect(),
                "SDIFF" => a.difference(&b).cloned().collect(),
                _ => a.union(&b).cloned().collect(),
            };
            if name == "SUNIONSTORE" {
                let count = result.len();
                store_set(model, &command[1], result);
                return int(count);
            }
            return array(result);
        }
        "SMOVE" if !model.contains_key(&command[1]) => return int(0),
        "SMOVE" => {
            let (mut source, mut target) =
                match (set_of(model, &command[1]), set_of(model, &command[2])) {
                    (Ok(a), Ok(b)) => (a, b),
                    _ => return wrong_type(),
                };
            if !source.remove(&command[3]) {
                return int(0);
            }
            if command[1] == command[2] {
                return int(1);
            }
            target.insert(command[3].clone());
            store_set(model, &command[1], source);
            store_set(model, &command[2], target);
            return int(1);
        }
        _ => {}
    }
    let mut set = match set_of(model, &command[1]) {
        Ok(set) => set,
        Err(reply) => return reply,
    };
    let reply = match name {
        "SADD" => int(command[2..]
            .iter()
            .filter(|m| set.insert((*m).clone()))
            .count()),
        "SREM" => int(usize::from(set.remove(&command[2]))),
        "SISMEMBER" => int(usize::from(set.contains(&command[2]))),
        "SCARD" => int(set.len()),
        _ => array(set.iter().cloned()),
    };
    store_set(model, &command[1], set);
    reply
}

// Lists.

type Lists = BTreeMap<String, Value<VecDeque<String>>>;

fn list_command() -> impl Strategy<Value = Vec<String>> {
    let index = || -4i64..5;
    prop_oneof![
        (key(), member(), member()).prop_map(|(k, a, b)| words(&["LPUSH", &k, &a, &b])),
        (key(), member()).prop_map(|(k, a)| words(&["RPUSH", &k, &a])),
        key().prop_map(|k| words(&["LPOP", &k])),
        (key(), 0i64..3).prop_map(|(k, n)| words(&["RPOP", &k, &n.to_string()])),
        (key(), index(), index()).prop_map(|(k, a, b)| words(&[
            "LRANGE",
            &k,
            &a.to_string(),
            &b.to_string()
        ])),
        (key(), index()).prop_map(|(k, i)| words(&["LINDEX", &k, &i.to_string()])),
        (key(), index(), member()).prop_map(|(k, i, m)| words(&["LSET", &k, &i.to_string(), &m])),
        (key(), member(), member(), any::<bool>()).prop_map(|(k, p, m, after)| {
            words(&[
                "LINSERT",
                &k,
                if after { "AFTER" } else { "BEFORE" },
                &p,
                &m,
            ])
        }),
        (key(), -2i64..3, member()).prop_map(|(k, n, m)| words(&["LREM", &k, &n.to_string(), &m])),
        (key(), index(), index()).prop_map(|(k, a, b)| words(&[
            "LTRIM",
            &k,
            &a.to_string(),
            &b.to_string()
        ])),
        key().prop_map(|k| words(&["LLEN", &k])),
        (key(), key()).prop_map(|(a, b)| words(&["LMOVE", &a, &b, "LEFT", "RIGHT"])),
        key().prop_map(|k| words(&["DEL", &k])),
        key().prop_map(|k| words(&["SET", &k, "1"])),
    ]
}

/// Redis's clamped inclusive range.
fn clamp(length: usize, start: i64, stop: i64) -> Option<(usize, usize)> {
    let length = length as i64;
    let start = if start < 0 { length + start } else { start }.max(0);
    let stop = if stop < 0 { length + stop } else { stop }.min(length - 1);
    (start <= stop && start < length).then_some((start as usize, stop as usize))
}

fn list_of(model: &Lists, key: &str) -> Result<Option<VecDeque<String>>, Reply> {
    match model.get(key) {
        Some(Value::String) => Err(wrong_type()),
        Some(Value::Collection(list)) => Ok(Some(list.clone())),
        None => Ok(None),
    }
}

fn store_list(model: &mut Lists, key: &str, list: VecDeque<String>) {
    if list.is_empty() {
        model.remove(key);
    } else {
        model.insert(key.to_owned(), Value::Collection(list));
    }
}

fn list_model(model: &mut Lists, command: &[String]) -> Reply {
    let name = command[0].as_str();
    let key = command[1].clone();
    let number = |index: usize| command[index].parse::<i64>().unwrap();
    match name {
        "DEL" => return int(usize::from(model.remove(&key).is_some())),
        "SET" => {
            model.insert(key, Value::String);
            return Reply::ok();
        }
        "LMOVE" => {
            let (source, target) = (list_of(model, &command[1]), list_of(model, &command[2]));
            let mut source = match source {
                Err(reply) => return reply,
                Ok(None) => return Reply::NullBulk,
                Ok(Some(source)) => source,
            };
            if target.is_err() {
                return wrong_type();
            }
            let item = source.pop_front().unwrap();
            store_list(model, &command[1], source);
            let mut target = list_of(model, &command[2]).unwrap().unwrap_or_default();
            target.push_back(item.clone());
            store_list(model, &command[2], target);
            return bulk(&item);
        }
        _ => {}
    }
    let existing = match list_of(model, &key) {
        Err(reply) => return reply,
        Ok(existing) => existing,
    };
    let missing = existing.is_none();
    let mut list = existing.unwrap_or_default();
    let reply = match name {
        "LPUSH" => {
            for item in &command[2..] {
                list.push_front(item.clone());
            }
            int(list.len())
        }
        "RPUSH" => {
            list.push_back(command[2].clone());
            int(list.len())
        }
        "LPOP" => list.pop_front().map_or(Reply::NullBulk, |item| bulk(&item)),
        "RPOP" if missing => Reply::NullArray,
        "RPOP" => {
            let count = number(2) as usize;
            array(
                (0..count)
                    .filter_map(|_| list.pop_back())
                    .collect::<Vec<_>>(),
            )
        }
        "LRANGE" => match clamp(list.len(), number(2), number(3)) {
            None => Reply::Array(Vec::new()),
            Some((a, b)) => array(list.range(a..=b).cloned()),
        },
        "LINDEX" => clamp(list.len(), number(2), number(2))
            .filter(|_| (-(list.len() as i64)..list.len() as i64).contains(&number(2)))
            .map_or(Reply::NullBulk, |(a, _)| bulk(&list[a])),
        "LSET" if missing => Reply::Error("ERR no such key".to_owned()),
        "LSET" => {
            let length = list.len() as i64;
            let index = number(2);
            let index = if index < 0 { length + index } else { index };
            if (0..length).contains(&index) {
                list[index as usize] = command[3].clone();
                Reply::ok()
            } else {
                Reply::Error("ERR index out of range".to_owned())
            }
        }
        "LINSERT" if missing => int(0),
        "LINSERT" => match list.iter().position(|item| *item == command[3]) {
            None => Reply::Integer(-1),
            Some(found) => {
                let at = found + usize::from(command[2] == "AFTER");
                list.insert(at, command[4].clone());
                int(list.len())
            }
        },
        "LREM" => {
            let count = number(2);
            let target = &command[3];
            let limit = if count == 0 {
                usize::MAX
            } else {
                count.unsigned_abs() as usize
            };
            let mut removed = 0;
            let mut kept: Vec<String> = Vec::new();
            let items: Vec<String> = if count < 0 {
                list.iter().rev().cloned().collect()
            } else {
                list.iter().cloned().collect()
            };
            for item in items {
                if item == *target && removed < limit {
                    removed += 1;
                } else {
                    kept.push(item);
                }
            }
            if count < 0 {
                kept.reverse();
            }
            list = kept.into();
            int(removed)
        }
        "LTRIM" => {
            list = match clamp(list.len(), number(2), number(3)) {
                None => VecDeque::new(),
                Some((a, b)) => list.range(a..=b).cloned().collect(),
            };
            Reply::ok()
        }
        _ => int(list.len()),
    };
    store_list(model, &key, list);
    reply
}

// Sorted sets (integer scores, so the model's arithmetic is exact).

type SortedSets = BTreeMap<String, Value<BTreeMap<String, i64>>>;

fn zset_command() -> impl Strategy<Value = Vec<String>> {
    let score = || -3i64..4;
    prop_oneof![
        (
            key(),
            score(),
            member(),
            prop::sample::select(vec!["", "NX", "XX", "GT", "LT", "CH"])
        )
            .prop_map(|(k, s, m, flag)| {
                let mut command = words(&["ZADD", &k]);
                if !flag.is_empty() {
                    command.push(flag.to_owned());
                }
                command.extend([s.to_string(), m]);
                command
            }),
        (key(), score(), member()).prop_map(|(k, s, m)| words(&[
            "ZINCRBY",
            &k,
            &s.to_string(),
            &m
        ])),
        (key(), member()).prop_map(|(k, m)| words(&["ZREM", &k, &m])),
        (key(), member()).prop_map(|(k, m)| words(&["ZSCORE", &k, &m])),
        (key(), member()).prop_map(|(k, m)| words(&["ZRANK", &k, &m])),
        key().prop_map(|k| words(&["ZCARD", &k])),
        (key(), -4i64..4, -4i64..4).prop_map(|(k, a, b)| words(&[
            "ZRANGE",
            &k,
            &a.to_string(),
            &b.to_string(),
            "WITHSCORES"
        ])),
        (key(), score(), score()).prop_map(|(k, a, b)| words(&[
            "ZRANGEBYSCORE",
            &k,
            &a.to_string(),
            &format!("({b}")
        ])),
        (key(), score(), score()).prop_map(|(k, a, b)| words(&[
            "ZCOUNT",
            &k,
            &a.to_string(),
            &b.to_string()
        ])),
        (key(), 0i64..3).prop_map(|(k, n)| words(&["ZPOPMIN", &k, &n.to_string()])),
        (key(), -3i64..3, -3i64..3).prop_map(|(k, a, b)| words(&[
            "ZREMRANGEBYRANK",
            &k,
            &a.to_string(),
            &b.to_string()
        ])),
        key().prop_map(|k| words(&["DEL", &k])),
        key().prop_map(|k| words(&["SET", &k, "1"])),
    ]
}

/// Members in (score, member) order.
fn ordered(zset: &BTreeMap<String, i64>) -> Vec<(String, i64)> {
    let mut members: Vec<(String, i64)> = zset.iter().map(|(m, s)| (m.clone(), *s)).collect();
    members.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    members
}

fn with_scores(members: &[(String, i64)]) -> Reply {
    array(members.iter().flat_map(|(m, s)| [m.clone(), s.to_string()]))
}

fn zset_model(model: &mut SortedSets, command: &[String]) -> Reply {
    let name = command[0].as_str();
    let key = command[1].clone();
    let number = |index: usize| {
        command[index]
            .trim_start_matches('(')
            .parse::<i64>()
            .unwrap()
    };
    match name {
        "DEL" => return int(usize::from(model.remove(&key).is_some())),
        "SET" => {
            model.insert(key, Value::String);
            return Reply::ok();
        }
        _ => {}
    }
    let mut zset = match model.get(&key) {
        Some(Value::String) => return wrong_type(),
        Some(Value::Collection(zset)) => zset.clone(),
        None => BTreeMap::new(),
    };
    let reply = match name {
        "ZADD" => {
            let flag = if command.len() == 5 {
                command[2].as_str()
            } else {
                ""
            };
            let (score, member) = (
                number(command.len() - 2),
                command[command.len() - 1].clone(),
            );
            let old = zset.get(&member).copied();
            let allowed = match (flag, old) {
                ("NX", Some(_)) | ("XX", None) => false,
                ("GT", Some(old)) => score > old,
                ("LT", Some(old)) => score < old,
                _ => true,
            };
            let changed = allowed && old != Some(score);
            if allowed {
                zset.insert(member, score);
            }
            int(usize::from(if flag == "CH" {
                changed
            } else {
                allowed && old.is_none()
            }))
        }
        "ZINCRBY" => {
            let score = zset.get(&command[3]).copied().unwrap_or(0) + number(2);
            zset.insert(command[3].clone(), score);
            bulk(&score.to_string())
        }
        "ZREM" => int(usize::from(zset.remove(&command[2]).is_some())),
        "ZSCORE" => zset
            .get(&command[2])
            .map_or(Reply::NullBulk, |s| bulk(&s.to_string())),
        "ZRANK" => ordered(&zset)
            .iter()
            .position(|(m, _)| *m == command[2])
            .map_or(Reply::NullBulk, int),
        "ZCARD" => int(zset.len()),
        "ZRANGE" => {
            let members = ordered(&zset);
            match clamp(members.len(), number(2), number(3)) {
                None => Reply::Array(Vec::new()),
                Some((a, b)) => with_scores(&members[a..=b]),
            }
        }
        "ZRANGEBYSCORE" => array(
            ordered(&zset)
                .into_iter()
                .filter(|(_, s)| *s >= number(2) && *s < number(3))
                .map(|(m, _)| m),
        ),
        "ZCOUNT" => int(zset
            .values()
            .filter(|s| **s >= number(2) && **s <= number(3))
            .count()),
        "ZPOPMIN" => {
            let popped: Vec<(String, i64)> = ordered(&zset)
                .into_iter()
                .take(number(2) as usize)
                .collect();
            for (member, _) in &popped {
                zset.remove(member);
            }
            with_scores(&popped)
        }
        _ => {
            let members = ordered(&zset);
            match clamp(members.len(), number(2), number(3)) {
                None => int(0),
                Some((a, b)) => {
                    for (member, _) in &members[a..=b] {
                        zset.remove(member);
                    }
                    int(b - a + 1)
                }
            }
        }
    };
    if zset.is_empty() {
        model.remove(&key);
    } else {
        model.insert(key, Value::Collection(zset));
    }
    reply
}

// Streams: explicit and `<ms>-*` IDs (never `*`, which reads the clock),
// exact trimming, ranges with every bound form.

/// A stream: entries by (ms, seq), and the last ID ever added.
#[derive(Clone, Debug, Default)]
struct StreamModel {
    entries: BTreeMap<(u64, u64), (String, String)>,
    last: (u64, u64),
}

type Streams = BTreeMap<String, Value<StreamModel>>;

fn stream_id() -> impl Strategy<Value = String> {
    prop_oneof![
        (0u64..6, 0u64..3).prop_map(|(ms, seq)| format!("{ms}-{seq}")),
        (0u64..6).prop_map(|ms| format!("{ms}-*")),
    ]
}

fn range_bound() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("-".to_owned()),
        Just("+".to_owned()),
        (0u64..6).prop_map(|ms| ms.to_string()),
        (0u64..6, 0u64..3).prop_map(|(ms, seq)| format!("{ms}-{seq}")),
        (0u64..6, 0u64..3).prop_map(|(ms, seq)| format!("({ms}-{seq}")),
    ]
}

fn trim_option() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        Just(Vec::new()),
        (0u64..4).prop_map(|n| words(&["MAXLEN", "=", &n.to_string()])),
        (0u64..6, 0u64..3).prop_map(|(ms, seq)| words(&["MINID", &format!("{ms}-{seq}")])),
    ]
}

fn stream_command() -> impl Strategy<Value = Vec<String>> {
    prop_oneof![
        4 => (key(), trim_option(), stream_id(), member()).prop_map(|(k, trim, id, v)| {
            let mut command = words(&["XADD", &k]);
            command.extend(trim);
            command.extend(words(&[&id, "f", &v]));
            command
        }),
        1 => (key(), stream_id(), stream_id())
            .prop_map(|(k, a, b)| words(&["XDEL", &k, &a.replace('*', "0"), &b.replace('*', "1")])),
        1 => (key(), trim_option().prop_filter("a strategy", |t| !t.is_empty())).prop_map(|(k, trim)| {
            let mut command = words(&["XTRIM", &k]);
            command.extend(trim);
            command
        }),
        2 => (key(), range_bound(), range_bound(), prop::option::of(0usize..4)).prop_map(
            |(k, start, end, count)| {
                let mut command = words(&["XRANGE", &k, &start, &end]);
                if let Some(count) = count {
                    command.extend(words(&["COUNT", &count.to_string()]));
                }
                command
            }
        ),
        1 => (key(), range_bound(), range_bound()).prop_map(|(k, end, start)| words(&["XREVRANGE", &k, &end, &start])),
        1 => key().prop_map(|k| words(&["XLEN", &k])),
        1 => key().prop_map(|k| words(&["DEL", &k])),
        1 => key().prop_map(|k| words(&["TYPE", &k])),
        1 => key().prop_map(|k| words(&["SET", &k, "1"])),
    ]
}

fn parse_stream_id(text: &str, missing_seq: u64) -> (u64, u64) {
    match text {
        "-" => (0, 0),
        "+" => (u64::MAX, u64::MAX),
        _ => match text.split_once('-') {
            Some((ms, seq)) => (ms.parse().unwrap(), seq.parse().unwrap()),
            None => (text.parse().unwrap(), missing_seq),
        },
    }
}

/// A range bound as Redis reads it: inclusive, or `Err` for Redis's error.
fn stream_bound(text: &str, start: bool) -> Result<(u64, u64), Reply> {
    let missing_seq = if start { 0 } else { u64::MAX };
    let Some(rest) = text.strip_prefix('(') else {
        return Ok(parse_stream_id(text, missing_seq));
    };
    let (ms, seq) = parse_stream_id(rest, missing_seq);
    let moved = if start {
        match seq.checked_add(1) {
            Some(seq) => Some((ms, seq)),
            None => ms.checked_add(1).map(|ms| (ms, 0)),
        }
    } else {
        match seq.checked_sub(1) {
            Some(seq) => Some((ms, seq)),
            None => ms.checked_sub(1).map(|ms| (ms, u64::MAX)),
        }
    };
    let which = if start { "start" } else { "end" };
    moved.ok_or_else(|| Reply::Error(format!("ERR invalid {which} ID for the interval")))
}

fn stream_entry_reply(id: (u64, u64), (field, value): &(String, String)) -> Reply {
    Reply::Array(vec![
        bulk(&format!("{}-{}", id.0, id.1)),
        array([field.clone(), value.clone()]),
    ])
}

/// Trims `stream` by `XADD`'s or `XTRIM`'s options; the entries removed.
fn stream_trim(stream: &mut StreamModel, options: &[String]) -> usize {
    let mut removed = 0;
    match options.first().map(String::as_str) {
        Some("MAXLEN") => {
            let length_max: usize = options[2].parse().unwrap();
            while stream.entries.len() > length_max {
                stream.entries.pop_first();
                removed += 1;
            }
        }
        Some("MINID") => {
            let min = parse_stream_id(&options[1], 0);
            while stream
                .entries
                .first_key_value()
                .is_some_and(|(id, _)| *id < min)
            {
                stream.entries.pop_first();
                removed += 1;
            }
        }
        _ => {}
    }
    removed
}

fn stream_add(stream: &mut StreamModel, command: &[String]) -> Reply {
    let id_index = command.len() - 3;
    let text = &command[id_index];
    let id = match text.strip_suffix("-*") {
        Some(ms) => {
            let ms: u64 = ms.parse().unwrap();
            if ms == stream.last.0 {
                (ms, stream.last.1 + 1)
            } else {
                (ms, 0)
            }
        }
        None => parse_stream_id(text, 0),
    };
    if id <= stream.last {
        return Reply::Error(
            "ERR The ID specified in XADD is equal or smaller than the target stream top item"
                .to_owned(),
        );
    }
    stream.last = id;
    stream.entries.insert(
        id,
        (command[id_index + 1].clone(), command[id_index + 2].clone()),
    );
    stream_trim(stream, &command[2..id_index]);
    bulk(&format!("{}-{}", id.0, id.1))
}

fn stream_model(model: &mut Streams, command: &[String]) -> Reply {
    let name = command[0].as_str();
    let key = command[1].clone();
    match name {
        "DEL" => return int(usize::from(model.remove(&key).is_some())),
        "SET" => {
            model.insert(key, Value::String);
            return Reply::ok();
        }
        "TYPE" => {
            return Reply::Simple(
                match model.get(&key) {
                    None => "none",
                    Some(Value::String) => "string",
                    Some(Value::Collection(_)) => "stream",
                }
                .to_owned(),
            );
        }
        "XADD" if command[command.len() - 3] == "0-0" => {
            return Reply::Error(
                "ERR The ID specified in XADD must be greater than 0-0".to_owned(),
            );
        }
        _ => {}
    }
    let mut bounds = Ok(((0, 0), (0, 0)));
    if name == "XRANGE" || name == "XREVRANGE" {
        let (start, end) = if name == "XRANGE" { (2, 3) } else { (3, 2) };
        bounds = stream_bound(&command[start], true)
            .and_then(|start_id| Ok((start_id, stream_bound(&command[end], false)?)));
        if let Err(error) = bounds {
            return error;
        }
    }
    let existing = match model.get(&key) {
        Some(Value::String) => return wrong_type(),
        Some(Value::Collection(stream)) => Some(stream.clone()),
        None => None,
    };
    let mut stream = match (name, existing) {
        ("XADD", existing) => existing.unwrap_or_default(),
        (_, Some(stream)) => stream,
        ("XRANGE" | "XREVRANGE", None) => return Reply::Array(Vec::new()),
        _ => return int(0),
    };
    let reply = match name {
        "XADD" => stream_add(&mut stream, command),
        "XDEL" => {
            let mut removed = 0;
            for text in &command[2..] {
                removed += usize::from(stream.entries.remove(&parse_stream_id(text, 0)).is_some());
            }
            int(removed)
        }
        "XTRIM" => int(stream_trim(&mut stream, &command[2..])),
        "XLEN" => int(stream.entries.len()),
        _ => {
            let count = command.get(5).map(|count| count.parse::<usize>().unwrap());
            let Ok((start, end)) = bounds else {
                unreachable!("checked above");
            };
            if count == Some(0) {
                Reply::NullArray
            } else if start > end {
                Reply::Array(Vec::new())
            } else {
                let range = stream.entries.range(start..=end);
                let entries: Vec<Reply> = if name == "XRANGE" {
                    range
                        .take(count.unwrap_or(usize::MAX))
                        .map(|(id, entry)| stream_entry_reply(*id, entry))
                        .collect()
                } else {
                    range
                        .rev()
                        .take(count.unwrap_or(usize::MAX))
                        .map(|(id, entry)| stream_entry_reply(*id, entry))
                        .collect()
                };
                Reply::Array(entries)
            }
        }
    };
    if !matches!(reply, Reply::Error(_)) || model.contains_key(&key) {
        model.insert(key, Value::Collection(stream));
    }
    reply
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn hashes_follow_the_model(commands in prop::collection::vec(hash_command(), 1..60)) {
        check(&commands, Hashes::new(), hash_model);
    }

    #[test]
    fn sets_follow_the_model(commands in prop::collection::vec(set_command(), 1..60)) {
        check(&commands, Sets::new(), set_model);
    }

    #[test]
    fn lists_follow_the_model(commands in prop::collection::vec(list_command(), 1..60)) {
        check(&commands, Lists::new(), list_model);
    }

    #[test]
    fn sorted_sets_follow_the_model(commands in prop::collection::vec(zset_command(), 1..60)) {
        check(&commands, SortedSets::new(), zset_model);
    }

    #[test]
    fn streams_follow_the_model(commands in prop::collection::vec(stream_command(), 1..60)) {
        check(&commands, Streams::new(), stream_model);
    }
}

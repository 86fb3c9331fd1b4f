//! The HyperLogLog commands (PFADD, PFCOUNT, PFMERGE, PFDEBUG,
//! PFSELFTEST): the replies and errors of each, the cached cardinality,
//! transactions and scripts, and random command sequences against a model
//! (an array of 16384 registers per key). `hll_interop.rs` compares with a
//! real redis-server.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;
mod engine_support;

use std::sync::Mutex;

use common::{Client, Value, error, ok, start_server, words};
use engine_support::EngineServer;
use keel_server::commands::hll::estimate::{Histogram, cardinality};
use keel_server::commands::hll::format::{REGISTERS, register_of};
use keel_server::{AppendFsync, Command, ServerOptions};
use proptest::prelude::*;

const NOT_AN_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
const CORRUPTED: &str = "INVALIDOBJ Corrupted HLL object detected";
const WRONG_TYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

/// Held by the tests that set `hll-sparse-max-bytes` or count on its
/// default (it is one setting of the process, shared by every server).
static SPARSE_LIMIT: Mutex<()> = Mutex::new(());

fn limit_held() -> std::sync::MutexGuard<'static, ()> {
    SPARSE_LIMIT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Sends a command of binary arguments and reads its reply.
fn call(client: &mut Client, parts: &[&[u8]]) -> Value {
    let mut out = Vec::new();
    Command::from_parts(parts).encode(&mut out);
    client.send_raw(&out);
    client.read()
}

fn memory_client() -> (keel_server::ServerHandle, Client) {
    let (handle, _backend) = start_server(ServerOptions::default());
    let client = Client::connect(handle.local_address());
    (handle, client)
}

fn bytes_of(value: Value) -> Vec<u8> {
    match value {
        Value::Bulk(bytes) => bytes,
        other => panic!("a bulk string: {other:?}"),
    }
}

/// The cached cardinality's last byte: 0x80 when stale.
fn cache_byte(client: &mut Client, key: &str) -> Vec<u8> {
    bytes_of(client.call(&["GETRANGE", key, "15", "15"]))
}

#[test]
fn pfadd_creates_the_key_and_says_whether_a_register_grew() {
    let _limit = limit_held();
    let (_server, mut client) = memory_client();
    assert_eq!(words(&mut client, "PFADD h"), Value::Integer(1));
    assert_eq!(words(&mut client, "PFADD h"), Value::Integer(0));
    assert_eq!(
        bytes_of(words(&mut client, "GET h")),
        b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\x80\x7f\xff",
        "made, so the cached count is stale (as in Redis)"
    );
    assert_eq!(words(&mut client, "PFADD h a b c"), Value::Integer(1));
    assert_eq!(words(&mut client, "PFADD h a b c"), Value::Integer(0));
    assert_eq!(call(&mut client, &[b"PFADD", b"h", b""]), Value::Integer(1));
    assert_eq!(
        words(&mut client, "PFDEBUG ENCODING h"),
        Value::Simple("sparse".into())
    );
    assert_eq!(
        words(&mut client, "PFDEBUG DECODE h"),
        Value::bulk("Z:5938 v:2,1 Z:2497 v:1,1 Z:4274 v:2,1 Z:3068 v:1,1 Z:603")
    );
    assert_eq!(words(&mut client, "TYPE h"), Value::Simple("string".into()));
    assert_eq!(
        words(&mut client, "PFADD"),
        error("ERR wrong number of arguments for 'pfadd' command")
    );
}

#[test]
fn pfcount_caches_one_key_and_counts_the_union_of_several() {
    let (_server, mut client) = memory_client();
    assert_eq!(words(&mut client, "PFCOUNT missing"), Value::Integer(0));
    assert_eq!(
        words(&mut client, "PFCOUNT missing other"),
        Value::Integer(0)
    );
    words(&mut client, "PFADD h 1 2 3 4 5");
    assert_eq!(cache_byte(&mut client, "h"), b"\x80");
    assert_eq!(words(&mut client, "PFCOUNT h"), Value::Integer(5));
    assert_eq!(cache_byte(&mut client, "h"), b"\0");
    assert_eq!(
        bytes_of(words(&mut client, "GETRANGE h 8 15")),
        b"\x05\0\0\0\0\0\0\0"
    );
    // Adding nothing new keeps the cache; something new makes it stale.
    words(&mut client, "PFADD h 1 2");
    assert_eq!(cache_byte(&mut client, "h"), b"\0");
    words(&mut client, "PFADD h 6 7 8 8 9 10");
    assert_eq!(cache_byte(&mut client, "h"), b"\x80");
    assert_eq!(words(&mut client, "PFCOUNT h"), Value::Integer(10));
    // A cached value is answered as it is.
    words(&mut client, "SETRANGE h 8 \x07");
    assert_eq!(words(&mut client, "PFCOUNT h"), Value::Integer(7));
    // Several keys: their union, nothing cached.
    words(&mut client, "PFADD g 9 10 11 12");
    call(&mut client, &[b"SETRANGE", b"g", b"15", b"\x80"]);
    assert_eq!(
        words(&mut client, "PFCOUNT h g missing"),
        Value::Integer(12)
    );
    assert_eq!(cache_byte(&mut client, "g"), b"\x80");
    assert_eq!(
        words(&mut client, "PFCOUNT"),
        error("ERR wrong number of arguments for 'pfcount' command")
    );
}

#[test]
fn pfmerge_unites_every_key_into_the_destination() {
    let (_server, mut client) = memory_client();
    words(&mut client, "PFADD a{t} a b c");
    words(&mut client, "PFADD b{t} b c d");
    words(&mut client, "PFADD c{t} c d e");
    assert_eq!(
        words(&mut client, "PFMERGE d{t} a{t} b{t} c{t} missing"),
        ok()
    );
    assert_eq!(words(&mut client, "PFCOUNT d{t}"), Value::Integer(5));
    // The destination's own registers count; the cache is made stale.
    assert_eq!(words(&mut client, "PFMERGE a{t} b{t}"), ok());
    assert_eq!(words(&mut client, "PFCOUNT a{t}"), Value::Integer(4));
    assert_eq!(words(&mut client, "PFMERGE a{t}"), ok());
    assert_eq!(cache_byte(&mut client, "a{t}"), b"\x80");
    assert_eq!(words(&mut client, "PFMERGE new{t}"), ok());
    assert_eq!(words(&mut client, "PFCOUNT new{t}"), Value::Integer(0));
    // A dense source makes the destination dense.
    words(&mut client, "PFADD dense{t} x");
    words(&mut client, "PFDEBUG TODENSE dense{t}");
    assert_eq!(words(&mut client, "PFMERGE e{t} a{t} dense{t}"), ok());
    assert_eq!(
        words(&mut client, "PFDEBUG ENCODING e{t}"),
        Value::Simple("dense".into())
    );
    assert_eq!(words(&mut client, "PFCOUNT e{t}"), Value::Integer(5));
    assert_eq!(
        words(&mut client, "PFMERGE"),
        error("ERR wrong number of arguments for 'pfmerge' command")
    );
}

#[test]
fn pfdebug_answers_each_subcommand_and_its_errors() {
    let (_server, mut client) = memory_client();
    words(&mut client, "PFADD h a");
    let Value::Array(registers) = words(&mut client, "PFDEBUG GETREG h") else {
        panic!("an array");
    };
    assert_eq!(registers.len(), REGISTERS);
    assert_eq!(registers[12711], Value::Integer(2));
    let set = registers
        .iter()
        .filter(|value| **value != Value::Integer(0));
    assert_eq!(set.count(), 1);
    // GETREG made it dense, as Redis does.
    assert_eq!(
        words(&mut client, "PFDEBUG ENCODING h"),
        Value::Simple("dense".into())
    );
    assert_eq!(words(&mut client, "STRLEN h"), Value::Integer(12304));
    assert_eq!(words(&mut client, "PFDEBUG TODENSE h"), Value::Integer(0));
    assert_eq!(
        words(&mut client, "PFDEBUG DECODE h"),
        error("ERR HLL encoding is not sparse")
    );
    words(&mut client, "PFADD s a");
    assert_eq!(words(&mut client, "PFDEBUG todense s"), Value::Integer(1));
    assert_eq!(words(&mut client, "PFCOUNT s"), Value::Integer(1));
    assert_eq!(
        words(&mut client, "PFDEBUG GETREG missing"),
        error("ERR The specified key does not exist")
    );
    assert_eq!(
        words(&mut client, "PFDEBUG nope h"),
        error("ERR Unknown PFDEBUG subcommand 'nope'")
    );
    assert_eq!(
        words(&mut client, "PFDEBUG nope missing"),
        error("ERR The specified key does not exist")
    );
    assert_eq!(
        words(&mut client, "PFDEBUG GETREG h extra"),
        error("ERR wrong number of arguments for 'pfdebug' command")
    );
    assert_eq!(words(&mut client, "PFSELFTEST"), ok());
    assert_eq!(
        words(&mut client, "PFSELFTEST x"),
        error("ERR wrong number of arguments for 'pfselftest' command")
    );
}

#[test]
fn other_types_and_damaged_values_are_refused() {
    let (_server, mut client) = memory_client();
    words(&mut client, "SET plain bar");
    words(&mut client, "RPUSH list a");
    for command in [
        "PFADD plain a",
        "PFCOUNT plain",
        "PFCOUNT missing plain",
        "PFMERGE plain missing",
        "PFMERGE missing plain",
        "PFDEBUG ENCODING plain",
    ] {
        assert_eq!(words(&mut client, command), error(NOT_AN_HLL), "{command}");
    }
    for command in [
        "PFADD list a",
        "PFCOUNT list",
        "PFMERGE d list",
        "PFDEBUG GETREG list",
    ] {
        assert_eq!(words(&mut client, command), error(WRONG_TYPE), "{command}");
    }
    // Redis's suite: additional bytes at the tail, broken magic, an
    // unknown encoding, a dense one of the wrong length.
    words(&mut client, "PFADD h a b c");
    words(&mut client, "APPEND h hello");
    assert_eq!(words(&mut client, "PFCOUNT h"), error(CORRUPTED));
    assert_eq!(words(&mut client, "PFCOUNT h h"), error(CORRUPTED));
    assert_eq!(words(&mut client, "PFMERGE d h"), error(CORRUPTED));
    assert_eq!(words(&mut client, "PFDEBUG TODENSE h"), error(CORRUPTED));
    assert_eq!(words(&mut client, "EXISTS d"), Value::Integer(0));
    for (offset, bytes) in [("0", "0123"), ("4", "x"), ("4", "\0")] {
        words(&mut client, "DEL h");
        words(&mut client, "PFADD h a b c");
        client.call(&["SETRANGE", "h", offset, bytes]);
        assert_eq!(
            words(&mut client, "PFCOUNT h"),
            error(NOT_AN_HLL),
            "{bytes:?}"
        );
    }
    // Runs that stop short: PFADD raises what they cover, then stops.
    let mut short = b"HYLL\x01\0\0\0\0\0\0\0\0\0\0\0".to_vec();
    short.extend_from_slice(&[0x40, 0x63]);
    call(&mut client, &[b"SET", b"short", &short]);
    assert_eq!(
        call(&mut client, &[b"PFADD", b"short", b"c"]),
        error(CORRUPTED)
    );
    assert_eq!(words(&mut client, "GET short"), Value::Bulk(short));
}

#[test]
fn updates_keep_the_deadline() {
    let (_server, mut client) = memory_client();
    words(&mut client, "PFADD h a");
    words(&mut client, "EXPIRE h 1000");
    words(&mut client, "PFADD h b");
    words(&mut client, "PFCOUNT h");
    words(&mut client, "PFMERGE h");
    words(&mut client, "PFDEBUG TODENSE h");
    let Value::Integer(ttl) = words(&mut client, "TTL h") else {
        panic!("TTL");
    };
    assert!((990..=1000).contains(&ttl), "{ttl}");
}

#[test]
fn the_sparse_limit_is_hll_sparse_max_bytes() {
    let _limit = limit_held();
    let (_server, mut client) = memory_client();
    assert_eq!(
        words(&mut client, "CONFIG GET hll-sparse-max-bytes"),
        Value::Array(vec![
            Value::bulk("hll-sparse-max-bytes"),
            Value::bulk("3000")
        ])
    );
    assert_eq!(
        words(&mut client, "CONFIG SET hll-sparse-max-bytes 30"),
        ok()
    );
    words(&mut client, "PFADD h a b");
    assert_eq!(
        words(&mut client, "PFDEBUG ENCODING h"),
        Value::Simple("sparse".into())
    );
    words(&mut client, "PFADD h c d e f");
    assert_eq!(
        words(&mut client, "PFDEBUG ENCODING h"),
        Value::Simple("dense".into())
    );
    assert_eq!(words(&mut client, "PFCOUNT h"), Value::Integer(6));
    assert_eq!(
        words(&mut client, "CONFIG SET hll-sparse-max-bytes 1kb"),
        ok()
    );
    assert_eq!(
        words(&mut client, "CONFIG GET hll-sparse-max-bytes"),
        Value::Array(vec![
            Value::bulk("hll-sparse-max-bytes"),
            Value::bulk("1024")
        ])
    );
    assert!(matches!(
        words(&mut client, "CONFIG SET hll-sparse-max-bytes lots"),
        Value::Error(_)
    ));
    assert_eq!(
        words(&mut client, "CONFIG SET hll-sparse-max-bytes 3000"),
        ok()
    );
}

/// PFCOUNT writes its cache inside keel's transactions: in MULTI, as a
/// change a WATCH sees (as Redis signals it), and not in a read-only
/// script.
#[test]
fn pfcount_writes_its_cache_in_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::No);
    let mut client = Client::connect(server.address);
    let mut other = Client::connect(server.address);
    words(&mut client, "PFADD h a b c");
    assert_eq!(words(&mut client, "MULTI"), ok());
    words(&mut client, "PFADD h d");
    words(&mut client, "PFCOUNT h");
    assert_eq!(
        words(&mut client, "EXEC"),
        Value::Array(vec![Value::Integer(1), Value::Integer(4)])
    );
    assert_eq!(cache_byte(&mut client, "h"), b"\0");
    words(&mut client, "PFADD h e");
    words(&mut client, "WATCH h");
    assert_eq!(words(&mut other, "PFCOUNT h"), Value::Integer(5));
    words(&mut client, "MULTI");
    words(&mut client, "PING");
    assert_eq!(words(&mut client, "EXEC"), Value::NullArray);
    let script = "return redis.call('pfcount', KEYS[1])";
    assert!(matches!(
        client.call(&["EVAL_RO", script, "1", "h"]),
        Value::Error(text) if text.starts_with("ERR Write commands are not allowed from read-only scripts.")
    ));
    assert_eq!(client.call(&["EVAL", script, "1", "h"]), Value::Integer(5));
    // Pipelined, the cached count is written in the group's transaction.
    words(&mut client, "PFADD p x");
    client.send(&["PFCOUNT", "p"]);
    client.send(&["GETRANGE", "p", "15", "15"]);
    assert_eq!(client.read(), Value::Integer(1));
    assert_eq!(client.read(), Value::bulk("\0"));
}

/// One step of a random sequence.
#[derive(Clone, Debug)]
enum Step {
    Add(usize, Vec<u16>),
    Count(Vec<usize>),
    Merge(usize, Vec<usize>),
    ToDense(usize),
    Registers(usize),
    SetPlain(usize),
    Delete(usize),
}

const KEYS: [&str; 3] = ["h0{k}", "h1{k}", "h2{k}"];

fn step() -> impl Strategy<Value = Step> {
    let key = 0..KEYS.len();
    let keys = prop::collection::vec(0..KEYS.len(), 1..4);
    prop_oneof![
        6 => (key.clone(), prop::collection::vec(any::<u16>(), 0..40))
            .prop_map(|(key, elements)| Step::Add(key, elements)),
        3 => keys.clone().prop_map(Step::Count),
        2 => (key.clone(), keys).prop_map(|(key, sources)| Step::Merge(key, sources)),
        1 => key.clone().prop_map(Step::ToDense),
        1 => key.clone().prop_map(Step::Registers),
        1 => key.clone().prop_map(Step::SetPlain),
        1 => key.prop_map(Step::Delete),
    ]
}

/// A key in the model: an HLL's registers, or a plain string.
#[derive(Clone)]
enum Entry {
    Hll(Box<[u8; REGISTERS]>),
    Plain,
}

#[derive(Default)]
struct Model {
    keys: [Option<Entry>; 3],
}

impl Model {
    /// The registers of `keys`' union; `Err` if one is a plain string.
    fn union(&self, keys: &[usize]) -> Result<Box<[u8; REGISTERS]>, Value> {
        let mut max = Box::new([0; REGISTERS]);
        for &key in keys {
            match &self.keys[key] {
                Some(Entry::Plain) => return Err(error(NOT_AN_HLL)),
                Some(Entry::Hll(registers)) => {
                    for (slot, &register) in max.iter_mut().zip(registers.iter()) {
                        *slot = (*slot).max(register);
                    }
                }
                None => {}
            }
        }
        Ok(max)
    }

    fn add(&mut self, key: usize, elements: &[u16]) -> Value {
        let (mut registers, mut grew) = match self.keys[key].take() {
            Some(Entry::Plain) => {
                self.keys[key] = Some(Entry::Plain);
                return error(NOT_AN_HLL);
            }
            Some(Entry::Hll(registers)) => (registers, false),
            None => (Box::new([0; REGISTERS]), true),
        };
        for element in elements {
            let (index, value) = register_of(format!("e{element}").as_bytes());
            if value > registers[index] {
                registers[index] = value;
                grew = true;
            }
        }
        self.keys[key] = Some(Entry::Hll(registers));
        Value::Integer(i64::from(grew))
    }

    fn count(&self, keys: &[usize]) -> Value {
        match self.union(keys) {
            Ok(registers) => Value::Integer(estimate(&registers) as i64),
            Err(error) => error,
        }
    }

    fn merge(&mut self, key: usize, sources: &[usize]) -> Value {
        let mut keys = vec![key];
        keys.extend_from_slice(sources);
        match self.union(&keys) {
            Ok(registers) => {
                self.keys[key] = Some(Entry::Hll(registers));
                ok()
            }
            Err(error) => error,
        }
    }
}

fn estimate(registers: &[u8; REGISTERS]) -> u64 {
    let mut histogram: Histogram = [0; 64];
    for &register in registers {
        histogram[usize::from(register)] += 1;
    }
    cardinality(&histogram)
}

/// Runs `step` on keel and on the model; their replies must agree.
fn check_step(client: &mut Client, model: &mut Model, step: &Step) {
    let name = |key: &usize| KEYS[*key];
    let (reply, expected) = match step {
        Step::Add(key, numbers) => {
            let elements: Vec<String> = numbers.iter().map(|n| format!("e{n}")).collect();
            let mut parts = vec!["PFADD", name(key)];
            parts.extend(elements.iter().map(String::as_str));
            (client.call(&parts), model.add(*key, numbers))
        }
        Step::Count(keys) => {
            let mut parts = vec!["PFCOUNT"];
            parts.extend(keys.iter().map(name));
            let reply = client.call(&parts);
            if keys.len() == 1 && matches!(reply, Value::Integer(_)) {
                let cached = cache_byte(client, name(&keys[0]));
                assert!(cached == b"\0" || model.keys[keys[0]].is_none(), "cached");
            }
            (reply, model.count(keys))
        }
        Step::Merge(key, sources) => {
            let mut parts = vec!["PFMERGE", name(key)];
            parts.extend(sources.iter().map(name));
            (client.call(&parts), model.merge(*key, sources))
        }
        Step::ToDense(key) | Step::Registers(key) => {
            let sub = if matches!(step, Step::ToDense(_)) {
                "TODENSE"
            } else {
                "GETREG"
            };
            let reply = client.call(&["PFDEBUG", sub, name(key)]);
            let expected = match &model.keys[*key] {
                None => error("ERR The specified key does not exist"),
                Some(Entry::Plain) => error(NOT_AN_HLL),
                Some(Entry::Hll(registers)) if sub == "GETREG" => Value::Array(
                    registers
                        .iter()
                        .map(|&r| Value::Integer(i64::from(r)))
                        .collect(),
                ),
                Some(Entry::Hll(_)) => {
                    // 1 or 0 as it was sparse or not; dense after.
                    assert!(matches!(reply, Value::Integer(0 | 1)), "{reply:?}");
                    reply.clone()
                }
            };
            if matches!(model.keys[*key], Some(Entry::Hll(_))) {
                let encoding = client.call(&["PFDEBUG", "ENCODING", name(key)]);
                assert_eq!(encoding, Value::Simple("dense".into()));
            }
            (reply, expected)
        }
        Step::SetPlain(key) => {
            model.keys[*key] = Some(Entry::Plain);
            (client.call(&["SET", name(key), "plain"]), ok())
        }
        Step::Delete(key) => {
            let existed = model.keys[*key].take().is_some();
            (
                client.call(&["DEL", name(key)]),
                Value::Integer(i64::from(existed)),
            )
        }
    };
    assert_eq!(reply, expected, "{step:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_agree_with_a_model_of_registers(
        steps in prop::collection::vec(step(), 1..40)
    ) {
        let _limit = limit_held();
        let dir = tempfile::tempdir().unwrap();
        let server = EngineServer::start(dir.path(), AppendFsync::No);
        let mut client = Client::connect(server.address);
        let mut model = Model::default();
        for step in &steps {
            check_step(&mut client, &mut model, step);
        }
    }
}

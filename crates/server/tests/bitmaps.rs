//! The bitmap commands (SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP,
//! BITFIELD, BITFIELD_RO) and the small commands clients send (ROLE,
//! READONLY, READWRITE, LOLWUT, COMMAND GETKEYS) over a real keel
//! database: replies and errors as Redis 7.0 gives them, random sequences
//! against a model of strings as bits, and the same sequences against a
//! real redis-server where one is installed.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;
mod engine_support;

use std::collections::BTreeMap;

use common::redis_server::RedisServer;
use common::{Client, Value, error};
use engine_support::EngineServer;
use keel_server::AppendFsync;
use proptest::prelude::*;
use proptest::strategy::ValueTree;

const WRONG_TYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
const NOT_AN_INTEGER: &str = "ERR value is not an integer or out of range";
const BAD_TYPE: &str = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
const BAD_OFFSET: &str = "ERR bit offset is not an integer or out of range";

fn started() -> (tempfile::TempDir, EngineServer, Client) {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::No);
    let client = Client::connect(server.address);
    (dir, server, client)
}

fn int(value: i64) -> Value {
    Value::Integer(value)
}

fn ints(values: &[i64]) -> Value {
    Value::Array(values.iter().map(|value| int(*value)).collect())
}

fn bytes(value: &[u8]) -> Value {
    Value::Bulk(value.to_vec())
}

/// Sends a command with binary arguments.
fn call_bytes(client: &mut Client, parts: &[&[u8]]) -> Value {
    let mut out = format!("*{}\r\n", parts.len()).into_bytes();
    for part in parts {
        out.extend_from_slice(format!("${}\r\n", part.len()).as_bytes());
        out.extend_from_slice(part);
        out.extend_from_slice(b"\r\n");
    }
    client.send_raw(&out);
    client.read()
}

#[test]
fn bitop_combines_strings_as_redis_does() {
    let (_dir, _server, mut client) = started();
    call_bytes(&mut client, &[b"SET", b"a", b"\xff\x0f\x01"]);
    call_bytes(&mut client, &[b"SET", b"b", b"\x0f"]);
    assert_eq!(client.call(&["BITOP", "and", "d", "a", "b"]), int(3));
    assert_eq!(client.call(&["GET", "d"]), bytes(b"\x0f\x00\x00"));
    assert_eq!(
        client.call(&["BITOP", "OR", "d", "a", "b", "missing"]),
        int(3)
    );
    assert_eq!(client.call(&["GET", "d"]), bytes(b"\xff\x0f\x01"));
    assert_eq!(client.call(&["BITOP", "XOR", "d", "a", "b"]), int(3));
    assert_eq!(client.call(&["GET", "d"]), bytes(b"\xf0\x0f\x01"));
    assert_eq!(client.call(&["BITOP", "NOT", "d", "b"]), int(1));
    assert_eq!(client.call(&["GET", "d"]), bytes(b"\xf0"));
    // The destination loses its time to live and its type.
    client.call(&["EXPIRE", "d", "100"]);
    assert_eq!(client.call(&["BITOP", "NOT", "d", "d"]), int(1));
    assert_eq!(client.call(&["TTL", "d"]), int(-1));
    assert_eq!(client.call(&["GET", "d"]), bytes(b"\x0f"));
    client.call(&["RPUSH", "list", "x"]);
    assert_eq!(client.call(&["BITOP", "OR", "list", "a"]), int(3));
    assert_eq!(
        client.call(&["TYPE", "list"]),
        Value::Simple("string".into())
    );
    // An empty result deletes the destination.
    assert_eq!(
        client.call(&["BITOP", "AND", "d", "none1", "none2"]),
        int(0)
    );
    assert_eq!(client.call(&["EXISTS", "d"]), int(0));
    assert_eq!(client.call(&["BITOP", "NOT", "d", "none1"]), int(0));
    client.call(&["SADD", "set", "x"]);
    for (command, expected) in [
        (&["BITOP", "NAND", "d", "a"][..], "ERR syntax error"),
        (
            &["BITOP", "NOT", "d", "a", "b"],
            "ERR BITOP NOT must be called with a single source key.",
        ),
        (&["BITOP", "OR", "d", "a", "set"], WRONG_TYPE),
        (
            &["BITOP", "OR", "d"],
            "ERR wrong number of arguments for 'bitop' command",
        ),
    ] {
        assert_eq!(client.call(command), error(expected), "{command:?}");
    }
}

#[test]
fn bitpos_finds_bits_in_ranges() {
    let (_dir, _server, mut client) = started();
    assert_eq!(client.call(&["BITPOS", "none", "0"]), int(0));
    assert_eq!(client.call(&["BITPOS", "none", "1", "junk"]), int(-1));
    call_bytes(&mut client, &[b"SET", b"s", b"\xff\xf0\x00"]);
    for (arguments, expected) in [
        (&["1"][..], 0),
        (&["0"], 12),
        (&["1", "2"], -1),
        (&["0", "0", "0"], -1),
        (&["0", "0", "-3"], -1),
        (&["1", "-2"], 8),
        (&["0", "0"], 12),
        (&["1", "5", "9", "BIT"], 5),
        (&["0", "5", "11", "bit"], -1),
        (&["0", "5", "12", "BIT"], 12),
        (&["1", "12", "-1", "BIT"], -1),
        (&["1", "1", "0"], -1),
        (&["0", "0", "1", "BYTE"], 12),
    ] {
        let mut command = vec!["BITPOS", "s"];
        command.extend_from_slice(arguments);
        assert_eq!(client.call(&command), int(expected), "{command:?}");
    }
    call_bytes(&mut client, &[b"SET", b"ones", b"\xff\xff"]);
    // Without an end, the string goes on in zeros; with one, it does not.
    assert_eq!(client.call(&["BITPOS", "ones", "0"]), int(16));
    assert_eq!(client.call(&["BITPOS", "ones", "0", "1"]), int(16));
    assert_eq!(client.call(&["BITPOS", "ones", "0", "0", "-1"]), int(-1));
    client.call(&["SET", "empty", ""]);
    assert_eq!(client.call(&["BITPOS", "empty", "0"]), int(-1));
    client.call(&["LPUSH", "list", "x"]);
    for (command, expected) in [
        (
            &["BITPOS", "s", "2"][..],
            "ERR The bit argument must be 1 or 0.",
        ),
        (&["BITPOS", "s", "x"], NOT_AN_INTEGER),
        (
            &["BITPOS", "none", "2"],
            "ERR The bit argument must be 1 or 0.",
        ),
        (&["BITPOS", "list", "1"], WRONG_TYPE),
        (&["BITPOS", "s", "1", "0", "1", "BITS"], "ERR syntax error"),
        (
            &["BITPOS", "s", "1", "0", "1", "BIT", "x"],
            "ERR syntax error",
        ),
        (&["BITPOS", "s", "1", "a"], NOT_AN_INTEGER),
        (&["BITPOS", "s", "1", "0", "a", "BAD"], "ERR syntax error"),
    ] {
        assert_eq!(client.call(command), error(expected), "{command:?}");
    }
}

#[test]
fn bitcount_looks_at_the_key_before_its_range() {
    let (_dir, _server, mut client) = started();
    assert_eq!(client.call(&["BITCOUNT", "none", "0"]), int(0));
    assert_eq!(client.call(&["BITCOUNT", "none", "a", "b", "c"]), int(0));
    call_bytes(&mut client, &[b"SET", b"s", b"\xff\xf0\x01"]);
    assert_eq!(client.call(&["BITCOUNT", "s"]), int(13));
    assert_eq!(client.call(&["BITCOUNT", "s", "1", "1"]), int(4));
    assert_eq!(client.call(&["BITCOUNT", "s", "5", "10", "BIT"]), int(6));
    assert_eq!(client.call(&["BITCOUNT", "s", "-1", "-2", "NOPE"]), int(0));
    assert_eq!(
        client.call(&["BITCOUNT", "s", "0"]),
        error("ERR syntax error")
    );
    assert_eq!(
        client.call(&["BITCOUNT", "s", "0", "1", "bits"]),
        error("ERR syntax error")
    );
}

#[test]
fn bitfield_reads_and_writes_fields() {
    let (_dir, _server, mut client) = started();
    assert_eq!(client.call(&["BITFIELD", "k"]), Value::Array(Vec::new()));
    assert_eq!(client.call(&["EXISTS", "k"]), int(0));
    assert_eq!(
        client.call(&[
            "BITFIELD", "k", "SET", "i8", "0", "-100", "GET", "u8", "0", "GET", "i8", "0"
        ]),
        ints(&[0, 156, -100])
    );
    assert_eq!(
        client.call(&["BITFIELD", "k", "set", "u4", "#3", "15", "get", "u16", "0"]),
        ints(&[0, 0x9c0f])
    );
    assert_eq!(client.call(&["GET", "k"]), bytes(b"\x9c\x0f"));
    let overflowed = client.call(&[
        "BITFIELD",
        "k",
        "INCRBY",
        "u2",
        "100",
        "5",
        "OVERFLOW",
        "SAT",
        "INCRBY",
        "u2",
        "100",
        "5",
        "OVERFLOW",
        "FAIL",
        "INCRBY",
        "u2",
        "100",
        "-4",
        "OVERFLOW",
        "WRAP",
        "INCRBY",
        "i64",
        "200",
        "9223372036854775807",
        "INCRBY",
        "i64",
        "200",
        "1",
    ]);
    assert_eq!(
        overflowed,
        Value::Array(vec![
            int(1),
            int(3),
            Value::NullBulk,
            int(i64::MAX),
            int(i64::MIN)
        ])
    );
    // A SET of a negative value in an unsigned field saturates at its
    // maximum (C reads it as a huge unsigned value).
    assert_eq!(
        client.call(&[
            "BITFIELD", "k", "OVERFLOW", "SAT", "SET", "u8", "0", "-1", "GET", "u8", "0"
        ]),
        ints(&[0x9c, 255])
    );
    // The key keeps its time to live.
    client.call(&["EXPIRE", "k", "100"]);
    client.call(&["BITFIELD", "k", "SET", "u8", "1000", "1"]);
    assert!(matches!(client.call(&["TTL", "k"]), Value::Integer(ttl) if ttl > 0));
    assert_eq!(client.call(&["STRLEN", "k"]), int(126));
    assert_eq!(
        client.call(&["BITFIELD_RO", "k", "GET", "u8", "1000", "GET", "i4", "#250"]),
        ints(&[1, 0])
    );
    assert_eq!(client.call(&["BITFIELD_RO", "k"]), Value::Array(Vec::new()));
}

#[test]
fn bitfield_errors_are_redis_s() {
    let (_dir, _server, mut client) = started();
    client.call(&["HSET", "hash", "f", "v"]);
    for (command, expected) in [
        (&["BITFIELD", "k", "GET", "u64", "0"][..], BAD_TYPE),
        (&["BITFIELD", "k", "GET", "i65", "0"], BAD_TYPE),
        (&["BITFIELD", "k", "GET", "I8", "0"], BAD_TYPE),
        (&["BITFIELD", "k", "GET", "i8", "-1"], BAD_OFFSET),
        (&["BITFIELD", "k", "GET", "i8", "#x"], BAD_OFFSET),
        (&["BITFIELD", "k", "GET", "i8", "4294967296"], BAD_OFFSET),
        (&["BITFIELD", "k", "GET", "i8"], "ERR syntax error"),
        (&["BITFIELD", "k", "SET", "i8", "0"], "ERR syntax error"),
        (&["BITFIELD", "k", "FOO", "i8", "0"], "ERR syntax error"),
        (&["BITFIELD", "k", "SET", "i8", "0", "x"], NOT_AN_INTEGER),
        (
            &["BITFIELD", "k", "OVERFLOW", "MAYBE"],
            "ERR Invalid OVERFLOW type specified",
        ),
        (&["BITFIELD", "k", "OVERFLOW"], "ERR syntax error"),
        (&["BITFIELD", "hash", "GET", "i8", "0"], WRONG_TYPE),
        (&["BITFIELD", "hash", "SET", "i8", "0", "1"], WRONG_TYPE),
        (&["BITFIELD_RO", "hash", "GET", "i8", "0"], WRONG_TYPE),
        (
            &["BITFIELD_RO", "hash", "SET", "i8", "0", "1"],
            "ERR BITFIELD_RO only supports the GET subcommand",
        ),
        (
            &["BITFIELD_RO", "k", "INCRBY", "i8", "0", "1"],
            "ERR BITFIELD_RO only supports the GET subcommand",
        ),
    ] {
        assert_eq!(client.call(command), error(expected), "{command:?}");
    }
    assert_eq!(client.call(&["EXISTS", "k"]), int(0));
}

#[test]
fn small_commands_answer_as_redis_does() {
    let (_dir, _server, mut client) = started();
    assert_eq!(
        client.call(&["ROLE"]),
        Value::Array(vec![
            Value::bulk("master"),
            int(0),
            Value::Array(Vec::new())
        ])
    );
    for command in ["READONLY", "READWRITE"] {
        assert_eq!(
            client.call(&[command]),
            error("ERR This instance has cluster support disabled")
        );
    }
    assert!(client.call(&["LOLWUT"]).text().starts_with("Redis ver. "));
    assert!(
        client
            .call(&["LOLWUT", "VERSION", "5"])
            .text()
            .ends_with('\n')
    );
    assert_eq!(
        client.call(&["LOLWUT", "VERSION", "x"]),
        error(NOT_AN_INTEGER)
    );
    let keys = |client: &mut Client, command: &[&str]| {
        let mut full = vec!["COMMAND", "GETKEYS"];
        full.extend_from_slice(command);
        client.call(&full)
    };
    assert_eq!(
        keys(&mut client, &["MSET", "a", "1", "b", "2"]),
        Value::Array(vec![Value::bulk("a"), Value::bulk("b")])
    );
    assert_eq!(
        keys(&mut client, &["BITOP", "AND", "d", "s1", "s2"]),
        Value::Array(vec![Value::bulk("d"), Value::bulk("s1"), Value::bulk("s2")])
    );
    assert_eq!(
        keys(&mut client, &["XINFO", "STREAM", "st"]),
        Value::Array(vec![Value::bulk("st")])
    );
    let names = |names: &[&str]| Value::Array(names.iter().map(|name| Value::bulk(name)).collect());
    for (command, expected) in [
        (
            &["EVAL", "return 1", "2", "a", "b", "c"][..],
            &["a", "b"][..],
        ),
        (&["EVAL", "return 1", "0"], &[]),
        (&["FCALL", "f", "-1"], &[]),
        (
            &["ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "2"],
            &["d", "a", "b"],
        ),
        (
            &["XREAD", "COUNT", "2", "STREAMS", "s1", "s2", "0", "0"],
            &["s1", "s2"],
        ),
        (&["XREAD", "STREAMS", "s1", "s2", "0"], &["s1"]),
        (
            &["XREADGROUP", "GROUP", "streams", "c", "STREAMS", "s1", "0"],
            &["s1"],
        ),
        (&["BLMPOP", "0", "2", "a", "b", "LEFT"], &["a", "b"]),
        (
            &[
                "SORT", "abc", "STORE", "no", "LIMIT", "0", "1", "STORE", "def",
            ],
            &["abc", "def"],
        ),
        (&["SORT", "abc", "GET", "store", "BY", "store"], &["abc"]),
        (
            &[
                "MIGRATE", "h", "1", "", "0", "5", "AUTH", "keys", "KEYS", "a", "b",
            ],
            &["a", "b"],
        ),
        (&["MIGRATE", "h", "1", "k", "0", "5"], &["k"]),
    ] {
        assert_eq!(keys(&mut client, command), names(expected), "{command:?}");
    }
    for (command, expected) in [
        (
            &["SINTERCARD", "0", "a"][..],
            "ERR Invalid arguments specified for command",
        ),
        (
            &["LMPOP", "3", "a", "LEFT"],
            "ERR Invalid arguments specified for command",
        ),
        (
            &["XREAD", "COUNT", "1", "STREAMS", "s1"],
            "ERR Invalid arguments specified for command",
        ),
        (&["NOSUCH", "x"], "ERR Invalid command specified"),
        (&["CLIENT", "NOSUCH"], "ERR Invalid command specified"),
        (&["PING", "x"], "ERR The command has no key arguments"),
        (
            &["GET", "a", "b"],
            "ERR Invalid number of arguments specified for command",
        ),
    ] {
        assert_eq!(keys(&mut client, command), error(expected), "{command:?}");
    }
    assert_eq!(
        client.call(&["COMMAND", "GETKEYSANDFLAGS", "GET", "k"]),
        Value::Array(vec![Value::Array(vec![
            Value::bulk("k"),
            Value::Array(vec![
                Value::Simple("RO".into()),
                Value::Simple("access".into())
            ])
        ])])
    );
}

/// One command of a random sequence.
fn bit_command() -> impl Strategy<Value = Vec<String>> {
    let key = || prop::sample::select(vec!["a", "b", "c"]).prop_map(str::to_owned);
    let index = || (-30i64..30).prop_map(|index| index.to_string());
    let unit = || prop::sample::select(vec![vec![], vec!["BIT"], vec!["BYTE"]]);
    let field = (
        prop::sample::select(vec!["GET", "SET", "INCRBY", "OVERFLOW"]),
        prop::bool::ANY,
        1u32..=64,
        0u64..80,
        any::<i64>(),
        prop::sample::select(vec!["WRAP", "SAT", "FAIL"]),
    )
        .prop_map(|(op, signed, bits, offset, value, overflow)| {
            let kind = if signed || bits == 64 { "i" } else { "u" };
            let kind = format!("{kind}{bits}");
            let value = (value >> (bits % 64)).to_string();
            match op {
                "GET" => vec!["GET".to_owned(), kind, offset.to_string()],
                "OVERFLOW" => vec!["OVERFLOW".to_owned(), overflow.to_owned()],
                _ => vec![op.to_owned(), kind, offset.to_string(), value],
            }
        });
    prop_oneof![
        (key(), 0u64..64, 0u8..2).prop_map(|(key, offset, bit)| vec![
            "SETBIT".into(),
            key,
            offset.to_string(),
            bit.to_string()
        ]),
        (key(), 0u64..64).prop_map(|(key, offset)| vec!["GETBIT".into(), key, offset.to_string()]),
        (key(), index(), index(), unit()).prop_map(|(key, start, end, unit)| {
            let mut command = vec!["BITCOUNT".to_owned(), key, start, end];
            command.extend(unit.into_iter().map(str::to_owned));
            command
        }),
        (key(), 0u8..2, prop::collection::vec(index(), 0..3), unit()).prop_map(
            |(key, bit, range, unit)| {
                let mut command = vec!["BITPOS".to_owned(), key, bit.to_string()];
                let whole = range.len() == 2;
                command.extend(range);
                if whole {
                    command.extend(unit.into_iter().map(str::to_owned));
                }
                command
            }
        ),
        (
            prop::sample::select(vec!["AND", "OR", "XOR", "NOT"]),
            key(),
            prop::collection::vec(key(), 1..4)
        )
            .prop_map(|(op, destination, sources)| {
                let sources = if op == "NOT" {
                    sources[..1].to_vec()
                } else {
                    sources
                };
                let mut command = vec!["BITOP".to_owned(), op.to_owned(), destination];
                command.extend(sources);
                command
            }),
        (key(), prop::collection::vec(field, 0..5)).prop_map(|(key, fields)| {
            let mut command = vec!["BITFIELD".to_owned(), key];
            command.extend(fields.into_iter().flatten());
            command
        }),
        key().prop_map(|key| vec!["GET".into(), key]),
    ]
}

/// The model: each key's string.
type Strings = BTreeMap<String, Vec<u8>>;

fn bit(value: &[u8], index: u64) -> bool {
    usize::try_from(index / 8)
        .ok()
        .and_then(|byte| value.get(byte))
        .is_some_and(|byte| byte >> (7 - index % 8) & 1 == 1)
}

fn set_bit(value: &mut Vec<u8>, index: u64, on: bool) {
    let byte = usize::try_from(index / 8).unwrap();
    if value.len() <= byte {
        value.resize(byte + 1, 0);
    }
    let mask = 1u8 << (7 - index % 8);
    if on {
        value[byte] |= mask;
    } else {
        value[byte] &= !mask;
    }
}

/// A range's bits `[first, last]`, Redis's way: negative from the end,
/// clamped to the string.
fn bit_range(value: &[u8], start: &str, end: &str, in_bits: bool) -> Option<(u64, u64)> {
    let (start, end): (i64, i64) = (start.parse().unwrap(), end.parse().unwrap());
    let unit = if in_bits { 1 } else { 8 };
    let total = value.len() as i64 * 8 / unit;
    let resolve = |index: i64| (if index < 0 { total + index } else { index }).max(0);
    let (start, end) = (resolve(start), resolve(end).min(total - 1));
    (start <= end).then(|| {
        (
            start as u64 * unit as u64,
            end as u64 * unit as u64 + unit as u64 - 1,
        )
    })
}

fn model_bitcount(value: &[u8], command: &[String]) -> Value {
    let range = match &command[2..] {
        [] => bit_range(value, "0", "-1", false),
        [start, end, unit @ ..] => {
            let (s, e): (i64, i64) = (start.parse().unwrap(), end.parse().unwrap());
            if s < 0 && e < 0 && s > e {
                return int(0);
            }
            bit_range(
                value,
                start,
                end,
                unit.first().is_some_and(|unit| unit == "BIT"),
            )
        }
        _ => unreachable!(),
    };
    let count = range.map_or(0, |(first, last)| {
        (first..=last).filter(|index| bit(value, *index)).count()
    });
    int(count as i64)
}

fn model_bitpos(value: Option<&Vec<u8>>, command: &[String]) -> Value {
    let wanted = command[2] == "1";
    let Some(value) = value else {
        return int(if wanted { -1 } else { 0 });
    };
    let (range, end_given) = match &command[3..] {
        [] => (bit_range(value, "0", "-1", false), false),
        [start] => (bit_range(value, start, "-1", false), false),
        [start, end, unit @ ..] => {
            let in_bits = unit.first().is_some_and(|unit| unit == "BIT");
            (bit_range(value, start, end, in_bits), true)
        }
    };
    let Some((first, last)) = range else {
        return int(-1);
    };
    match (first..=last).find(|index| bit(value, *index) == wanted) {
        Some(index) => int(index as i64),
        None if !wanted && !end_given => int((last / 8 + 1) as i64 * 8),
        None => int(-1),
    }
}

fn model_bitop(strings: &mut Strings, command: &[String]) -> Value {
    let sources: Vec<Vec<u8>> = command[3..]
        .iter()
        .map(|key| strings.get(key).cloned().unwrap_or_default())
        .collect();
    let length = sources.iter().map(Vec::len).max().unwrap();
    let result: Vec<u8> = (0..length)
        .map(|index| {
            let byte = |source: &Vec<u8>| source.get(index).copied().unwrap_or(0);
            let mut bytes = sources.iter().map(byte);
            let first = bytes.next().unwrap();
            match command[1].as_str() {
                "AND" => bytes.fold(first, |to, from| to & from),
                "OR" => bytes.fold(first, |to, from| to | from),
                "XOR" => bytes.fold(first, |to, from| to ^ from),
                _ => !first,
            }
        })
        .collect();
    if result.is_empty() {
        strings.remove(&command[2]);
    } else {
        strings.insert(command[2].clone(), result);
    }
    int(length as i64)
}

/// A field's value, read bit by bit as a big-endian integer.
fn read_field(value: &[u8], signed: bool, bits: u32, offset: u64) -> i128 {
    let raw = (0..u64::from(bits)).fold(0i128, |raw, index| {
        raw * 2 + i128::from(bit(value, offset + index))
    });
    if signed && raw >= 1 << (bits - 1) {
        raw - (1 << bits)
    } else {
        raw
    }
}

fn model_bitfield(strings: &mut Strings, command: &[String]) -> Value {
    let writes = command.iter().any(|word| word == "SET" || word == "INCRBY");
    let mut value = strings.get(&command[1]).cloned().unwrap_or_default();
    let mut replies = Vec::new();
    let mut overflow = "WRAP";
    let mut rest = &command[2..];
    while let [op, after @ ..] = rest {
        if op == "OVERFLOW" {
            overflow = after[0].as_str();
            rest = &after[1..];
            continue;
        }
        let signed = after[0].starts_with('i');
        let bits: u32 = after[0][1..].parse().unwrap();
        let offset: u64 = after[1].parse().unwrap();
        let old = read_field(&value, signed, bits, offset);
        if op == "GET" {
            replies.push(int(old as i64));
            rest = &after[2..];
            continue;
        }
        let argument: i64 = after[2].parse().unwrap();
        let wanted = match (op.as_str(), signed) {
            ("SET", false) => i128::from(argument as u64),
            ("SET", true) => i128::from(argument),
            _ => old + i128::from(argument),
        };
        let (min, max) = if signed {
            (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
        } else {
            (0, (1i128 << bits) - 1)
        };
        let new = match overflow {
            _ if (min..=max).contains(&wanted) => Some(wanted),
            "FAIL" => None,
            "SAT" => Some(wanted.clamp(min, max)),
            _ => Some((wanted - min).rem_euclid(1 << bits) + min),
        };
        rest = &after[3..];
        let Some(new) = new else {
            replies.push(Value::NullBulk);
            continue;
        };
        for index in 0..u64::from(bits) {
            set_bit(
                &mut value,
                offset + index,
                (new >> (bits as u64 - 1 - index)) & 1 == 1,
            );
        }
        replies.push(int(if op == "SET" { old } else { new } as i64));
    }
    if writes {
        let last = last_written_byte(command);
        if value.len() <= last {
            value.resize(last + 1, 0);
        }
        strings.insert(command[1].clone(), value);
    }
    Value::Array(replies)
}

/// The byte of the farthest bit a BITFIELD's writes reach.
fn last_written_byte(command: &[String]) -> usize {
    let mut last = 0;
    for (index, word) in command.iter().enumerate() {
        if word == "SET" || word == "INCRBY" {
            let bits: u64 = command[index + 1][1..].parse().unwrap();
            let offset: u64 = command[index + 2].parse().unwrap();
            last = last.max((offset + bits - 1) / 8);
        }
    }
    last as usize
}

/// The model's reply to `command`, applied to `strings`.
fn model(strings: &mut Strings, command: &[String]) -> Value {
    let key = &command[1];
    match command[0].as_str() {
        "SETBIT" => {
            let value = strings.entry(key.clone()).or_default();
            let offset: u64 = command[2].parse().unwrap();
            let old = bit(value, offset);
            set_bit(value, offset, command[3] == "1");
            int(i64::from(old))
        }
        "GETBIT" => {
            int(i64::from(strings.get(key).is_some_and(|value| {
                bit(value, command[2].parse().unwrap())
            })))
        }
        "BITCOUNT" => match strings.get(key) {
            None => int(0),
            Some(value) => model_bitcount(value, command),
        },
        "BITPOS" => model_bitpos(strings.get(key), command),
        "BITOP" => model_bitop(strings, command),
        "BITFIELD" => model_bitfield(strings, command),
        _ => strings
            .get(key)
            .map_or(Value::NullBulk, |value| bytes(value)),
    }
}

fn call(client: &mut Client, command: &[String]) -> Value {
    let parts: Vec<&str> = command.iter().map(String::as_str).collect();
    client.call(&parts)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn bitmaps_follow_the_model(commands in prop::collection::vec(bit_command(), 1..60)) {
        let (_dir, _server, mut client) = started();
        let mut strings = Strings::new();
        for command in &commands {
            let expected = model(&mut strings, command);
            prop_assert_eq!(call(&mut client, command), expected, "{:?}", command);
        }
    }
}

/// The same random sequences on keel and on redis-server answer the same,
/// reply by reply (where redis-server is installed).
#[test]
fn bitmaps_answer_as_redis_server_does() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (_dir, _server, mut keel) = started();
    let mut reference = Client::connect(redis.address);
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let sequences = prop::collection::vec(bit_command(), 200..201);
    for _ in 0..5 {
        let commands = sequences.new_tree(&mut runner).unwrap().current();
        for command in &commands {
            let expected = call(&mut reference, command);
            assert_eq!(call(&mut keel, command), expected, "{command:?}");
        }
        assert_eq!(keel.call(&["FLUSHALL"]), reference.call(&["FLUSHALL"]));
    }
}

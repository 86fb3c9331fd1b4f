//! Streams over a real keel database, talked to with the `redis` crate:
//! XADD's IDs and trimming, ranges, XDEL and XSETID, XREAD (and XREAD
//! BLOCK woken by the XADD that satisfies it), consumer groups and their
//! pending entries lists, XINFO, and the keyspace commands over a stream
//! (TYPE, WRONGTYPE, RENAME, COPY, DUMP/RESTORE, a restart).

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod engine_support;

use std::time::{Duration, Instant};

use engine_support::{EngineServer, call, call_error};
use keel_server::AppendFsync;
use redis::Value;

fn int(value: i64) -> Value {
    Value::Int(value)
}

fn bulk(text: &str) -> Value {
    Value::BulkString(text.as_bytes().to_vec())
}

fn bulks(texts: &[&str]) -> Value {
    Value::Array(texts.iter().map(|text| bulk(text)).collect())
}

/// An entry as XRANGE answers it.
fn entry(id: &str, fields: &[&str]) -> Value {
    Value::Array(vec![bulk(id), bulks(fields)])
}

fn ids_of(value: &Value) -> Vec<String> {
    let Value::Array(entries) = value else {
        panic!("{value:?}");
    };
    entries
        .iter()
        .map(|entry| match entry {
            Value::Array(parts) => match &parts[0] {
                Value::BulkString(id) => String::from_utf8(id.clone()).unwrap(),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        })
        .collect()
}

fn blocked_clients(c: &mut redis::Connection) -> String {
    match call(c, &["INFO", "clients"]) {
        Value::BulkString(text) => String::from_utf8(text).unwrap(),
        other => panic!("{other:?}"),
    }
}

fn wait_blocked(c: &mut redis::Connection, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let wanted = format!("blocked_clients:{count}");
    while !blocked_clients(c).contains(&wanted) {
        assert!(Instant::now() < deadline, "never {wanted}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn xadd_ids_ranges_and_deletes_answer_as_redis_does() {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::No);
    let mut c = server.client();
    assert_eq!(call(&mut c, &["XADD", "s", "1-1", "a", "1"]), bulk("1-1"));
    assert_eq!(call(&mut c, &["XADD", "s", "1-*", "b", "2"]), bulk("1-2"));
    assert_eq!(call(&mut c, &["XADD", "s", "5", "c", "3"]), bulk("5-0"));
    assert!(call_error(&mut c, &["XADD", "s", "5-0", "d", "4"]).contains("equal or smaller"));
    assert!(call_error(&mut c, &["XADD", "s", "0-0", "d", "4"]).contains("greater than 0-0"));
    assert!(call_error(&mut c, &["XADD", "s", "x-1", "d", "4"]).contains("Invalid stream ID"));
    assert!(
        call_error(&mut c, &["XADD", "s", "*", "d"])
            .contains("wrong number of arguments for 'xadd' command")
    );
    // `*` is now in milliseconds: far after 5-0.
    let Value::BulkString(auto) = call(&mut c, &["XADD", "s", "*", "d", "4"]) else {
        panic!("an ID");
    };
    let auto = String::from_utf8(auto).unwrap();
    assert!(auto.ends_with("-0") && auto.len() > 10, "{auto}");
    assert_eq!(call(&mut c, &["XLEN", "s"]), int(4));
    assert_eq!(
        call(&mut c, &["XRANGE", "s", "-", "5"]),
        Value::Array(vec![
            entry("1-1", &["a", "1"]),
            entry("1-2", &["b", "2"]),
            entry("5-0", &["c", "3"]),
        ])
    );
    assert_eq!(
        ids_of(&call(&mut c, &["XRANGE", "s", "(1-1", "+", "COUNT", "2"])),
        ["1-2", "5-0"]
    );
    assert_eq!(
        ids_of(&call(&mut c, &["XREVRANGE", "s", "(5-0", "-"])),
        ["1-2", "1-1"]
    );
    assert_eq!(
        call(&mut c, &["XRANGE", "s", "-", "+", "COUNT", "0"]),
        Value::Nil
    );
    assert_eq!(
        call(&mut c, &["XRANGE", "none", "-", "+"]),
        Value::Array(vec![])
    );
    assert_eq!(call(&mut c, &["XDEL", "s", "1-2", "9-9"]), int(1));
    assert_eq!(call(&mut c, &["XLEN", "s"]), int(3));
    // The last ID stays after its entry is deleted: no going back.
    call(&mut c, &["XDEL", "s", &auto]);
    assert!(call_error(&mut c, &["XADD", "s", "6-0", "e", "5"]).contains("equal or smaller"));
    assert_eq!(
        call(&mut c, &["XADD", "n", "NOMKSTREAM", "*", "a", "1"]),
        Value::Nil
    );
    assert_eq!(call(&mut c, &["EXISTS", "n"]), int(0));
    // An emptied stream stays, unlike every other type.
    assert_eq!(call(&mut c, &["XDEL", "s", "1-1", "5-0"]), int(2));
    assert_eq!(call(&mut c, &["EXISTS", "s"]), int(1));
    assert_eq!(
        call(&mut c, &["TYPE", "s"]),
        Value::SimpleString("stream".to_owned())
    );
    assert_eq!(
        call(&mut c, &["XSETID", "s", "99999999999999-0"]),
        Value::Okay
    );
    assert!(call_error(&mut c, &["XSETID", "none", "1-0"]).contains("no such key"));
    assert!(call_error(&mut c, &["XSETID", "s", "1-0", "ENTRIESADDED", "-1"]).contains("positive"));
    call(&mut c, &["SET", "str", "x"]);
    assert!(call_error(&mut c, &["XADD", "str", "*", "a", "1"]).starts_with("WRONGTYPE"));
    assert!(call_error(&mut c, &["XLEN", "str"]).starts_with("WRONGTYPE"));
    assert!(call_error(&mut c, &["GET", "s"]).starts_with("WRONGTYPE"));
}

#[test]
fn trimming_keeps_maxlen_or_minid_and_approximation_removes_whole_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::No);
    let mut c = server.client();
    for index in 1..=10 {
        let id = format!("{index}-0");
        call(&mut c, &["XADD", "s", "MAXLEN", "3", &id, "i", &id]);
    }
    assert_eq!(
        ids_of(&call(&mut c, &["XRANGE", "s", "-", "+"])),
        ["8-0", "9-0", "10-0"]
    );
    assert_eq!(call(&mut c, &["XTRIM", "s", "MINID", "=", "10"]), int(2));
    assert_eq!(call(&mut c, &["XLEN", "s"]), int(1));
    assert!(
        call_error(&mut c, &["XTRIM", "s", "MAXLEN", "1", "LIMIT", "5"])
            .contains("LIMIT cannot be used without the special ~ option")
    );
    assert!(call_error(&mut c, &["XTRIM", "s", "LIMIT", "5"]).contains("syntax error"));
    assert!(call_error(&mut c, &["XTRIM", "s", "MAXLEN", "-1"]).contains(">= 0"));

    // Nodes of 10: `~` only removes whole ones.
    call(&mut c, &["CONFIG", "SET", "stream-node-max-entries", "10"]);
    call(&mut c, &["DEL", "t"]);
    for index in 1..=35 {
        call(&mut c, &["XADD", "t", &format!("{index}-0"), "f", "v"]);
    }
    assert_eq!(call(&mut c, &["XTRIM", "t", "MAXLEN", "~", "12"]), int(20));
    assert_eq!(call(&mut c, &["XLEN", "t"]), int(15));
    assert_eq!(
        call(&mut c, &["XTRIM", "t", "MAXLEN", "~", "0", "LIMIT", "3"]),
        int(0),
        "a node larger than LIMIT stays"
    );
    assert_eq!(call(&mut c, &["XTRIM", "t", "MINID", "~", "31"]), int(10));
    assert_eq!(
        ids_of(&call(&mut c, &["XRANGE", "t", "-", "+", "COUNT", "1"])),
        ["31-0"]
    );
    call(&mut c, &["CONFIG", "SET", "stream-node-max-entries", "100"]);
}

#[test]
fn xread_serves_new_entries_and_block_is_woken_by_xadd() {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::No);
    let mut c = server.client();
    call(&mut c, &["XADD", "a", "1-0", "f", "1"]);
    call(&mut c, &["XADD", "a", "2-0", "f", "2"]);
    assert_eq!(
        call(
            &mut c,
            &["XREAD", "COUNT", "1", "STREAMS", "a", "none", "0", "0"]
        ),
        Value::Array(vec![Value::Array(vec![
            bulk("a"),
            Value::Array(vec![entry("1-0", &["f", "1"])]),
        ])])
    );
    assert_eq!(call(&mut c, &["XREAD", "STREAMS", "a", "$"]), Value::Nil);
    assert!(call_error(&mut c, &["XREAD", "STREAMS", "a", "b", "c"]).contains("Unbalanced"));
    assert!(call_error(&mut c, &["XREAD", "STREAMS", "a", ">"]).contains("XREADGROUP"));
    // A script may read, but not wait.
    let script = "return redis.call('XREAD', 'COUNT', 1, 'STREAMS', KEYS[1], '0')";
    assert_eq!(
        call(&mut c, &["EVAL", script, "1", "a"]),
        Value::Array(vec![Value::Array(vec![
            bulk("a"),
            Value::Array(vec![entry("1-0", &["f", "1"])]),
        ])])
    );
    let script = "return redis.call('xread', 'BLOCK', 0, 'STREAMS', KEYS[1], '$')";
    let refused = call_error(&mut c, &["EVAL", script, "1", "a"]);
    assert!(
        refused.contains("xread command is not allowed with BLOCK option from scripts"),
        "{refused}"
    );
    let started = Instant::now();
    assert_eq!(
        call(&mut c, &["XREAD", "BLOCK", "50", "STREAMS", "a", "$"]),
        Value::Nil
    );
    assert!(started.elapsed() >= Duration::from_millis(50));

    // `$` means after the last ID when the read began: the XADD that
    // comes while it waits wakes it with just that entry.
    let address = server.address;
    let blocked = std::thread::spawn(move || {
        let client = redis::Client::open(format!("redis://{address}/")).unwrap();
        let mut blocked = client.get_connection().unwrap();
        call(
            &mut blocked,
            &["XREAD", "BLOCK", "0", "STREAMS", "b", "a", "$", "$"],
        )
    });
    wait_blocked(&mut c, 1);
    call(&mut c, &["SET", "unrelated", "1"]);
    wait_blocked(&mut c, 1);
    call(&mut c, &["XADD", "a", "3-0", "f", "3"]);
    assert_eq!(
        blocked.join().unwrap(),
        Value::Array(vec![Value::Array(vec![
            bulk("a"),
            Value::Array(vec![entry("3-0", &["f", "3"])]),
        ])])
    );
    wait_blocked(&mut c, 0);
}

#[test]
fn consumer_groups_deliver_once_and_keep_pending_entries_until_acked() {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::No);
    let mut c = server.client();
    assert!(call_error(&mut c, &["XGROUP", "CREATE", "s", "g", "$"]).contains("requires the key"));
    assert_eq!(
        call(&mut c, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]),
        Value::Okay
    );
    assert!(call_error(&mut c, &["XGROUP", "CREATE", "s", "g", "$"]).starts_with("BUSYGROUP"));
    for index in 1..=4 {
        call(
            &mut c,
            &["XADD", "s", &format!("{index}-0"), "n", &index.to_string()],
        );
    }
    let read = |c: &mut redis::Connection, consumer: &str, count: &str, id: &str| {
        call(
            c,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                consumer,
                "COUNT",
                count,
                "STREAMS",
                "s",
                id,
            ],
        )
    };
    let first = read(&mut c, "alice", "2", ">");
    let Value::Array(streams) = &first else {
        panic!("{first:?}");
    };
    let Value::Array(pair) = &streams[0] else {
        panic!();
    };
    assert_eq!(ids_of(&pair[1]), ["1-0", "2-0"]);
    let second = read(&mut c, "bob", "10", ">");
    let Value::Array(streams) = &second else {
        panic!("{second:?}");
    };
    let Value::Array(pair) = &streams[0] else {
        panic!();
    };
    assert_eq!(ids_of(&pair[1]), ["3-0", "4-0"]);
    assert_eq!(read(&mut c, "bob", "10", ">"), Value::Nil, "nothing new");
    // Alice's history is her own PEL.
    let history = read(&mut c, "alice", "10", "0");
    let Value::Array(streams) = &history else {
        panic!("{history:?}");
    };
    let Value::Array(pair) = &streams[0] else {
        panic!();
    };
    assert_eq!(ids_of(&pair[1]), ["1-0", "2-0"]);
    assert_eq!(
        call(&mut c, &["XPENDING", "s", "g"]),
        Value::Array(vec![
            int(4),
            bulk("1-0"),
            bulk("4-0"),
            Value::Array(vec![bulks(&["alice", "2"]), bulks(&["bob", "2"])]),
        ])
    );
    assert_eq!(
        call(&mut c, &["XACK", "s", "g", "1-0", "3-0", "9-0"]),
        int(2)
    );
    let Value::Array(extended) = call(&mut c, &["XPENDING", "s", "g", "-", "+", "10"]) else {
        panic!();
    };
    assert_eq!(extended.len(), 2);
    let Value::Array(fields) = &extended[0] else {
        panic!();
    };
    assert_eq!(fields[0], bulk("2-0"));
    assert_eq!(fields[1], bulk("alice"));
    assert_eq!(fields[3], int(2), "delivered, then read again as history");
    // One row: ID, consumer, idle milliseconds (any), deliveries. The idle
    // time moves between two calls, so it is checked for its type only.
    let Value::Array(rows) = call(&mut c, &["XPENDING", "s", "g", "-", "+", "10", "bob"]) else {
        panic!("XPENDING rows");
    };
    let [Value::Array(fields)] = rows.as_slice() else {
        panic!("one row: {rows:?}");
    };
    assert_eq!(fields.len(), 4, "{fields:?}");
    assert_eq!(fields[0], bulk("4-0"));
    assert_eq!(fields[1], bulk("bob"));
    assert!(matches!(fields[2], Value::Int(_)), "{fields:?}");
    assert_eq!(fields[3], int(1));
    // XCLAIM moves 4-0 to alice; XAUTOCLAIM moves everything to carol.
    assert_eq!(
        call(&mut c, &["XCLAIM", "s", "g", "alice", "0", "4-0", "JUSTID"]),
        bulks(&["4-0"])
    );
    assert_eq!(
        call(&mut c, &["XPENDING", "s", "g", "-", "+", "10", "bob"]),
        Value::Array(vec![])
    );
    assert_eq!(
        call(
            &mut c,
            &["XAUTOCLAIM", "s", "g", "carol", "0", "0", "JUSTID"]
        ),
        Value::Array(vec![
            bulk("0-0"),
            bulks(&["2-0", "4-0"]),
            Value::Array(vec![])
        ])
    );
    // An entry deleted while pending is dropped from the PEL by XAUTOCLAIM.
    call(&mut c, &["XDEL", "s", "2-0"]);
    assert_eq!(
        call(&mut c, &["XAUTOCLAIM", "s", "g", "dave", "0", "0"]),
        Value::Array(vec![
            bulk("0-0"),
            Value::Array(vec![entry("4-0", &["n", "4"])]),
            bulks(&["2-0"]),
        ])
    );
    assert_eq!(
        call(&mut c, &["XGROUP", "DELCONSUMER", "s", "g", "dave"]),
        int(1)
    );
    assert_eq!(
        call(&mut c, &["XPENDING", "s", "g"]),
        Value::Array(vec![int(0), Value::Nil, Value::Nil, Value::Nil])
    );
    assert_eq!(
        call(&mut c, &["XGROUP", "CREATECONSUMER", "s", "g", "erin"]),
        int(1)
    );
    assert_eq!(
        call(&mut c, &["XGROUP", "CREATECONSUMER", "s", "g", "erin"]),
        int(0)
    );
    assert_eq!(
        call(&mut c, &["XGROUP", "SETID", "s", "g", "0"]),
        Value::Okay
    );
    assert!(
        call_error(
            &mut c,
            &["XREADGROUP", "GROUP", "nope", "c", "STREAMS", "s", ">"]
        )
        .starts_with("NOGROUP")
    );
    assert_eq!(call(&mut c, &["XGROUP", "DESTROY", "s", "g"]), int(1));
    assert_eq!(call(&mut c, &["XGROUP", "DESTROY", "s", "g"]), int(0));
}

#[test]
fn xreadgroup_block_is_woken_by_xadd_and_xinfo_reports_lag() {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::No);
    let mut c = server.client();
    call(&mut c, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    let address = server.address;
    let blocked = std::thread::spawn(move || {
        let client = redis::Client::open(format!("redis://{address}/")).unwrap();
        let mut blocked = client.get_connection().unwrap();
        call(
            &mut blocked,
            &[
                "XREADGROUP",
                "GROUP",
                "g",
                "c1",
                "BLOCK",
                "0",
                "STREAMS",
                "s",
                ">",
            ],
        )
    });
    wait_blocked(&mut c, 1);
    call(&mut c, &["XADD", "s", "7-0", "k", "v"]);
    assert_eq!(
        blocked.join().unwrap(),
        Value::Array(vec![Value::Array(vec![
            bulk("s"),
            Value::Array(vec![entry("7-0", &["k", "v"])]),
        ])])
    );
    call(&mut c, &["XADD", "s", "8-0", "k", "w"]);
    let Value::Array(groups) = call(&mut c, &["XINFO", "GROUPS", "s"]) else {
        panic!();
    };
    assert_eq!(
        groups[0],
        Value::Array(vec![
            bulk("name"),
            bulk("g"),
            bulk("consumers"),
            int(1),
            bulk("pending"),
            int(1),
            bulk("last-delivered-id"),
            bulk("7-0"),
            bulk("entries-read"),
            int(1),
            bulk("lag"),
            int(1),
        ])
    );
    let Value::Array(info) = call(&mut c, &["XINFO", "STREAM", "s"]) else {
        panic!();
    };
    assert_eq!(info[1], int(2), "length");
    assert_eq!(info[7], bulk("8-0"), "last-generated-id");
    assert_eq!(info[11], int(2), "entries-added");
    assert_eq!(info[15], int(1), "groups");
    assert!(call_error(&mut c, &["XINFO", "STREAM", "none"]).contains("no such key"));
    let Value::Array(consumers) = call(&mut c, &["XINFO", "CONSUMERS", "s", "g"]) else {
        panic!();
    };
    assert_eq!(consumers.len(), 1);
}

/// A DUMP payload (docs/FORMAT.md) of kind 5 holding one element of an
/// unknown tag, with a right footer.
fn forged_stream_payload() -> Vec<u8> {
    let mut body = vec![5u8];
    body.extend_from_slice(&1u64.to_le_bytes());
    for part in [&b"\x09x"[..], b"value"] {
        body.extend_from_slice(&(part.len() as u32).to_le_bytes());
        body.extend_from_slice(part);
    }
    body.extend_from_slice(&1u16.to_le_bytes());
    let checksum = crc32c::crc32c(&body);
    body.extend_from_slice(&checksum.to_le_bytes());
    body
}

#[test]
fn streams_move_copy_dump_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let server = EngineServer::start(dir.path(), AppendFsync::Always);
        let mut c = server.client();
        call(&mut c, &["XADD", "s", "1-0", "a", "1"]);
        call(&mut c, &["XGROUP", "CREATE", "s", "g", "0"]);
        call(
            &mut c,
            &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "s", ">"],
        );
        assert_eq!(call(&mut c, &["COPY", "s", "t"]), int(1));
        assert_eq!(call(&mut c, &["RENAME", "t", "u"]), Value::Okay);
        let Value::BulkString(payload) = call(&mut c, &["DUMP", "u"]) else {
            panic!("a payload");
        };
        let mut restore = redis::cmd("RESTORE");
        restore.arg("v").arg(0).arg(payload);
        assert_eq!(restore.query::<Value>(&mut c).unwrap(), Value::Okay);
        assert_eq!(call(&mut c, &["XLEN", "v"]), int(1));
        // A sealed payload of kind 5 whose elements are not a stream's is
        // refused, and nothing is written.
        let forged = forged_stream_payload();
        let mut restore = redis::cmd("RESTORE");
        restore.arg("w").arg(0).arg(forged);
        let refused = restore.query::<Value>(&mut c).unwrap_err();
        assert!(refused.to_string().contains("Bad data format"), "{refused}");
        assert_eq!(call(&mut c, &["EXISTS", "w"]), int(0));
        assert_eq!(call(&mut c, &["OBJECT", "ENCODING", "v"]), bulk("stream"));
        let Value::Array(scanned) = call(&mut c, &["SCAN", "0", "TYPE", "stream"]) else {
            panic!();
        };
        let mut keys = match &scanned[1] {
            Value::Array(keys) => keys.clone(),
            other => panic!("{other:?}"),
        };
        keys.sort_by_key(|key| format!("{key:?}"));
        assert_eq!(Value::Array(keys), bulks(&["s", "u", "v"]));
    }
    let server = EngineServer::start(dir.path(), AppendFsync::Always);
    let mut c = server.client();
    for key in ["s", "u", "v"] {
        assert_eq!(
            call(&mut c, &["XRANGE", key, "-", "+"]),
            Value::Array(vec![entry("1-0", &["a", "1"])]),
            "{key}"
        );
        assert_eq!(
            call(&mut c, &["XPENDING", key, "g"]),
            Value::Array(vec![
                int(1),
                bulk("1-0"),
                bulk("1-0"),
                Value::Array(vec![bulks(&["c", "1"])]),
            ]),
            "{key}: the group and its PEL come along"
        );
    }
    assert_eq!(call(&mut c, &["DEL", "s", "u", "v"]), int(3));
    assert_eq!(call(&mut c, &["EXISTS", "s"]), int(0));
}

#[test]
fn concurrent_group_readers_get_each_entry_exactly_once() {
    const ENTRIES: usize = 200;
    const READERS: usize = 4;
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::No);
    let mut c = server.client();
    call(
        &mut c,
        &["XGROUP", "CREATE", "jobs", "workers", "$", "MKSTREAM"],
    );
    for index in 1..=ENTRIES {
        call(&mut c, &["XADD", "jobs", &format!("{index}-0"), "job", "x"]);
    }
    let address = server.address;
    let readers: Vec<_> = (0..READERS)
        .map(|reader| {
            std::thread::spawn(move || {
                let client = redis::Client::open(format!("redis://{address}/")).unwrap();
                let mut connection = client.get_connection().unwrap();
                let consumer = format!("worker{reader}");
                let mut delivered = Vec::new();
                loop {
                    let reply = call(
                        &mut connection,
                        &[
                            "XREADGROUP",
                            "GROUP",
                            "workers",
                            &consumer,
                            "COUNT",
                            "3",
                            "STREAMS",
                            "jobs",
                            ">",
                        ],
                    );
                    let Value::Array(streams) = reply else {
                        return delivered;
                    };
                    let Value::Array(pair) = &streams[0] else {
                        panic!("{streams:?}");
                    };
                    delivered.extend(ids_of(&pair[1]));
                }
            })
        })
        .collect();
    let mut all: Vec<String> = readers
        .into_iter()
        .flat_map(|reader| reader.join().unwrap())
        .collect();
    assert_eq!(all.len(), ENTRIES, "no entry is delivered twice");
    all.sort_by_key(|id| id.trim_end_matches("-0").parse::<u64>().unwrap());
    all.dedup();
    assert_eq!(all.len(), ENTRIES, "every entry is delivered");
    let Value::Array(summary) = call(&mut c, &["XPENDING", "jobs", "workers"]) else {
        panic!();
    };
    assert_eq!(summary[0], int(ENTRIES as i64));
    let Value::Array(consumers) = &summary[3] else {
        panic!("{summary:?}");
    };
    let mut pending = 0;
    for consumer in consumers {
        let Value::Array(pair) = consumer else {
            panic!();
        };
        let Value::BulkString(count) = &pair[1] else {
            panic!();
        };
        pending += String::from_utf8(count.clone())
            .unwrap()
            .parse::<usize>()
            .unwrap();
    }
    assert_eq!(pending, ENTRIES, "each consumer's PEL counts its own");
}

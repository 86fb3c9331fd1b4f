//! The data types over a real keel database, talked to with the `redis`
//! crate: each family's replies, the keyspace commands over every type,
//! restarts, MULTI/EXEC across types, and O(1) deletion of a large
//! collection.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod engine_support;

use std::time::{Duration, Instant};

use engine_support::{EngineServer, call, call_error};
use keel_server::{AppendFsync, KeelBackendOptions, ServerOptions};
use redis::Value;

const WRONG_TYPE: &str = "WRONGTYPE";

fn int(value: i64) -> Value {
    Value::Int(value)
}

fn bulk(text: &str) -> Value {
    Value::BulkString(text.as_bytes().to_vec())
}

fn bulks(texts: &[&str]) -> Value {
    Value::Array(texts.iter().map(|text| bulk(text)).collect())
}

fn status(text: &str) -> Value {
    Value::SimpleString(text.to_owned())
}

#[test]
fn hashes_answer_as_redis_does() {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::No);
    let mut c = server.client();
    assert_eq!(call(&mut c, &["HSET", "h", "a", "1", "b", "2"]), int(2));
    assert_eq!(call(&mut c, &["HSET", "h", "a", "3"]), int(0));
    assert_eq!(call(&mut c, &["HMSET", "h", "c", "x"]), Value::Okay);
    assert_eq!(call(&mut c, &["HGET", "h", "a"]), bulk("3"));
    assert_eq!(
        call(&mut c, &["HMGET", "h", "a", "z"]),
        Value::Array(vec![bulk("3"), Value::Nil])
    );
    assert_eq!(
        call(&mut c, &["HGETALL", "h"]),
        bulks(&["a", "3", "b", "2", "c", "x"])
    );
    assert_eq!(call(&mut c, &["HINCRBY", "h", "b", "5"]), int(7));
    assert_eq!(
        call(&mut c, &["HINCRBYFLOAT", "h", "b", "0.5"]),
        bulk("7.5")
    );
    assert!(
        call_error(&mut c, &["HINCRBY", "h", "c", "1"]).contains("hash value is not an integer")
    );
    assert_eq!(call(&mut c, &["HSETNX", "h", "a", "9"]), int(0));
    assert_eq!(call(&mut c, &["HSTRLEN", "h", "b"]), int(3));
    assert_eq!(call(&mut c, &["HDEL", "h", "a", "b", "c", "z"]), int(3));
    assert_eq!(
        call(&mut c, &["EXISTS", "h"]),
        int(0),
        "an emptied hash is deleted"
    );
    assert!(
        call_error(&mut c, &["HSET", "h", "a"])
            .contains("wrong number of arguments for 'hset' command")
    );
}

#[test]
fn sets_and_lists_answer_as_redis_does() {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::No);
    let mut c = server.client();
    assert_eq!(call(&mut c, &["SADD", "s1", "a", "b", "c"]), int(3));
    assert_eq!(call(&mut c, &["SADD", "s2", "b", "c", "d"]), int(3));
    assert_eq!(call(&mut c, &["SINTER", "s1", "s2"]), bulks(&["b", "c"]));
    assert_eq!(call(&mut c, &["SDIFFSTORE", "s3", "s1", "s2"]), int(1));
    assert_eq!(call(&mut c, &["SMEMBERS", "s3"]), bulks(&["a"]));
    assert_eq!(
        call(&mut c, &["SINTERCARD", "2", "s1", "s2", "LIMIT", "1"]),
        int(1)
    );
    assert_eq!(call(&mut c, &["SMOVE", "s1", "s3", "b"]), int(1));
    assert_eq!(
        call(&mut c, &["SMISMEMBER", "s3", "a", "b", "z"]),
        Value::Array(vec![int(1), int(1), int(0)])
    );

    assert_eq!(call(&mut c, &["RPUSH", "l", "a", "b", "c"]), int(3));
    assert_eq!(call(&mut c, &["LPUSH", "l", "z"]), int(4));
    assert_eq!(
        call(&mut c, &["LRANGE", "l", "0", "-1"]),
        bulks(&["z", "a", "b", "c"])
    );
    assert_eq!(call(&mut c, &["LINSERT", "l", "BEFORE", "b", "x"]), int(5));
    assert_eq!(call(&mut c, &["LINDEX", "l", "-3"]), bulk("x"));
    assert_eq!(call(&mut c, &["LPOS", "l", "c"]), int(4));
    assert_eq!(call(&mut c, &["LREM", "l", "0", "x"]), int(1));
    assert_eq!(
        call(&mut c, &["LMOVE", "l", "m", "RIGHT", "LEFT"]),
        bulk("c")
    );
    assert_eq!(call(&mut c, &["LPOP", "l", "2"]), bulks(&["z", "a"]));
    assert_eq!(
        call(&mut c, &["LMPOP", "2", "none", "l", "LEFT"]),
        Value::Array(vec![bulk("l"), bulks(&["b"])])
    );
    assert_eq!(call(&mut c, &["LLEN", "l"]), int(0));
    assert!(call_error(&mut c, &["LSET", "m", "5", "x"]).contains("index out of range"));
}

/// LRANGE over a list of many leaves' worth of items, alone, in a
/// pipeline after a write of the same transaction, and in a MULTI block
/// (its items are written into the reply as the range reads them, or
/// built as values in a block): every range answers the items in order.
#[test]
fn long_list_ranges_answer_every_item_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::No);
    let mut c = server.client();
    let items: Vec<String> = (0..3000)
        .map(|index| format!("item-{index:05}-{}", "x".repeat(index % 50)))
        .collect();
    for chunk in items.chunks(500) {
        let mut command = vec!["RPUSH", "long"];
        command.extend(chunk.iter().map(String::as_str));
        call(&mut c, &command);
    }
    let expect = |from: usize, to: usize| {
        Value::Array(items[from..=to].iter().map(|item| bulk(item)).collect())
    };
    for (start, stop, from, to) in [
        ("0", "99", 0, 99),
        ("0", "-1", 0, 2999),
        ("1234", "2345", 1234, 2345),
        ("-100", "-1", 2900, 2999),
        ("2999", "5000", 2999, 2999),
    ] {
        assert_eq!(
            call(&mut c, &["LRANGE", "long", start, stop]),
            expect(from, to),
            "LRANGE {start} {stop}"
        );
    }
    let mut pipe = redis::pipe();
    pipe.cmd("LPUSH").arg("long").arg("head");
    pipe.cmd("LRANGE").arg("long").arg("0").arg("2");
    pipe.cmd("LRANGE").arg("long").arg("-2").arg("-1");
    let replies: Vec<Value> = pipe.query(&mut c).unwrap();
    assert_eq!(replies[0], int(3001));
    assert_eq!(replies[1], bulks(&["head", &items[0], &items[1]]));
    assert_eq!(replies[2], expect(2998, 2999));
    let mut block = redis::pipe();
    block.atomic();
    block.cmd("RPUSH").arg("long").arg("tail");
    block.cmd("LRANGE").arg("long").arg("-2").arg("-1");
    let replies: Vec<Value> = block.query(&mut c).unwrap();
    assert_eq!(replies[0], int(3002));
    assert_eq!(replies[1], bulks(&[&items[2999], "tail"]));
}

#[test]
fn sorted_sets_answer_as_redis_does() {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::No);
    let mut c = server.client();
    assert_eq!(
        call(&mut c, &["ZADD", "z", "1", "a", "2", "b", "-1.5", "c"]),
        int(3)
    );
    assert_eq!(
        call(&mut c, &["ZADD", "z", "GT", "CH", "0", "a", "5", "b"]),
        int(1)
    );
    assert_eq!(
        call(&mut c, &["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
        bulks(&["c", "-1.5", "a", "1", "b", "5"])
    );
    assert_eq!(
        call(&mut c, &["ZRANGE", "z", "(1", "+inf", "BYSCORE"]),
        bulks(&["b"])
    );
    assert_eq!(
        call(
            &mut c,
            &["ZREVRANGEBYSCORE", "z", "5", "-inf", "LIMIT", "1", "1"]
        ),
        bulks(&["a"])
    );
    assert_eq!(call(&mut c, &["ZSCORE", "z", "a"]), bulk("1"));
    assert_eq!(
        call(&mut c, &["ZINCRBY", "z", "0.1", "a"]),
        bulk("1.1000000000000001")
    );
    assert_eq!(call(&mut c, &["ZRANK", "z", "b"]), int(2));
    assert_eq!(call(&mut c, &["ZREVRANK", "z", "b"]), int(0));
    assert_eq!(call(&mut c, &["ZCOUNT", "z", "-inf", "(5"]), int(2));
    assert_eq!(
        call(&mut c, &["ZADD", "lex", "0", "a", "0", "b", "0", "c"]),
        int(3)
    );
    assert_eq!(
        call(&mut c, &["ZRANGEBYLEX", "lex", "(a", "+"]),
        bulks(&["b", "c"])
    );
    assert_eq!(call(&mut c, &["ZLEXCOUNT", "lex", "-", "[b"]), int(2));
    assert_eq!(
        call(
            &mut c,
            &["ZUNIONSTORE", "u", "2", "z", "lex", "WEIGHTS", "2", "1"]
        ),
        int(3)
    );
    assert_eq!(
        call(&mut c, &["ZRANGE", "u", "0", "0", "WITHSCORES"]),
        bulks(&["c", "-3"])
    );
    assert_eq!(call(&mut c, &["ZPOPMIN", "u"]), bulks(&["c", "-3"]));
    assert_eq!(call(&mut c, &["ZREMRANGEBYSCORE", "u", "0", "3"]), int(1));
    assert_eq!(call(&mut c, &["ZCARD", "u"]), int(1));
    assert!(
        call_error(&mut c, &["ZADD", "z", "NX", "XX", "1", "a"])
            .contains("XX and NX options at the same time are not compatible")
    );
    assert!(
        call_error(&mut c, &["ZRANGEBYSCORE", "z", "x", "1"]).contains("min or max is not a float")
    );
}

#[test]
fn keyspace_commands_work_over_every_type() {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::No);
    let mut c = server.client();
    call(&mut c, &["SET", "str", "v"]);
    call(&mut c, &["HSET", "hash", "f", "v"]);
    call(&mut c, &["SADD", "set", "1", "2"]);
    call(&mut c, &["RPUSH", "list", "x"]);
    call(&mut c, &["ZADD", "zset", "1", "m"]);
    for (key, kind, encoding) in [
        ("str", "string", "embstr"),
        ("hash", "hash", "listpack"),
        ("set", "set", "intset"),
        ("list", "list", "quicklist"),
        ("zset", "zset", "listpack"),
    ] {
        assert_eq!(call(&mut c, &["TYPE", key]), status(kind));
        assert_eq!(call(&mut c, &["OBJECT", "ENCODING", key]), bulk(encoding));
    }
    assert!(call_error(&mut c, &["GET", "hash"]).starts_with(WRONG_TYPE));
    assert!(call_error(&mut c, &["LPUSH", "set", "x"]).starts_with(WRONG_TYPE));
    assert!(call_error(&mut c, &["HGET", "str", "f"]).starts_with(WRONG_TYPE));
    assert_eq!(
        call(&mut c, &["MGET", "str", "hash"]),
        Value::Array(vec![bulk("v"), Value::Nil])
    );
    assert_eq!(call(&mut c, &["DBSIZE"]), int(5));
    assert_eq!(
        call(&mut c, &["SCAN", "0", "TYPE", "hash"]),
        Value::Array(vec![bulk("0"), bulks(&["hash"])])
    );

    assert_eq!(call(&mut c, &["RENAME", "hash", "hash2"]), Value::Okay);
    assert_eq!(call(&mut c, &["HGET", "hash2", "f"]), bulk("v"));
    assert_eq!(call(&mut c, &["COPY", "set", "set2"]), int(1));
    assert_eq!(call(&mut c, &["SREM", "set", "1"]), int(1));
    assert_eq!(
        call(&mut c, &["SCARD", "set2"]),
        int(2),
        "a copy has its own elements"
    );
    assert_eq!(call(&mut c, &["MOVE", "list", "3"]), int(1));
    assert_eq!(call(&mut c, &["SWAPDB", "0", "3"]), Value::Okay);
    assert_eq!(call(&mut c, &["LRANGE", "list", "0", "-1"]), bulks(&["x"]));
    assert_eq!(call(&mut c, &["SWAPDB", "0", "3"]), Value::Okay);

    assert_eq!(call(&mut c, &["EXPIRE", "zset", "100"]), int(1));
    assert_eq!(call(&mut c, &["TTL", "zset"]), int(100));
    assert_eq!(call(&mut c, &["ZADD", "zset", "2", "n"]), int(1));
    assert_eq!(
        call(&mut c, &["TTL", "zset"]),
        int(100),
        "changing elements keeps the deadline"
    );
    assert_eq!(call(&mut c, &["PEXPIRE", "zset", "1"]), int(1));
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(
        call(&mut c, &["ZCARD", "zset"]),
        int(0),
        "an expired collection is gone"
    );
    assert_eq!(call(&mut c, &["ZADD", "zset", "1", "fresh"]), int(1));
    assert_eq!(
        call(&mut c, &["ZRANGE", "zset", "0", "-1"]),
        bulks(&["fresh"])
    );

    assert_eq!(call(&mut c, &["SET", "set2", "now a string"]), Value::Okay);
    assert_eq!(call(&mut c, &["TYPE", "set2"]), status("string"));
    assert_eq!(call(&mut c, &["DEL", "hash2", "set", "str"]), int(3));
    assert_eq!(call(&mut c, &["FLUSHDB"]), Value::Okay);
    assert_eq!(call(&mut c, &["DBSIZE"]), int(0));
}

#[test]
fn collections_survive_a_restart_and_exec_runs_across_types() {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::Always);
    let mut c = server.client();
    let replies: Value = redis::pipe()
        .atomic()
        .cmd("HSET")
        .arg("h")
        .arg("f")
        .arg("1")
        .cmd("RPUSH")
        .arg("l")
        .arg("a")
        .arg("b")
        .cmd("ZADD")
        .arg("z")
        .arg("3")
        .arg("m")
        .cmd("SADD")
        .arg("s")
        .arg("x")
        .cmd("TYPE")
        .arg("h")
        .query(&mut c)
        .unwrap();
    assert_eq!(
        replies,
        Value::Array(vec![int(1), int(2), int(1), int(1), status("hash")])
    );
    drop(c);
    server.stop();

    let server = EngineServer::start(dir.path(), AppendFsync::Always);
    let mut c = server.client();
    assert_eq!(call(&mut c, &["HGET", "h", "f"]), bulk("1"));
    assert_eq!(
        call(&mut c, &["LRANGE", "l", "0", "-1"]),
        bulks(&["a", "b"])
    );
    assert_eq!(call(&mut c, &["ZSCORE", "z", "m"]), bulk("3"));
    assert_eq!(call(&mut c, &["SISMEMBER", "s", "x"]), int(1));

    // WATCH: a hash changed by another client makes EXEC answer nil.
    let mut other = server.client();
    call(&mut c, &["WATCH", "h"]);
    call(&mut other, &["HSET", "h", "g", "2"]);
    call(&mut c, &["MULTI"]);
    call(&mut c, &["HSET", "h", "f", "changed"]);
    assert_eq!(call(&mut c, &["EXEC"]), Value::Nil);
    assert_eq!(call(&mut c, &["HGET", "h", "f"]), bulk("1"));
}

/// The entries of the elements keyspace.
fn element_entries(server: &EngineServer) -> u64 {
    let database = server.backend().database();
    let elements = database.keyspace("server-elements").unwrap();
    database
        .view(|transaction| transaction.len(&elements))
        .unwrap()
}

fn sadd_many(c: &mut redis::Connection, key: &str, count: usize) {
    for chunk in (0..count).collect::<Vec<_>>().chunks(10_000) {
        let members: Vec<String> = chunk.iter().map(|index| format!("m{index}")).collect();
        let mut sadd = redis::cmd("SADD");
        sadd.arg(key).arg(&members);
        let added: usize = sadd.query(c).unwrap();
        assert_eq!(added, chunk.len());
    }
}

#[test]
fn a_large_collection_is_deleted_in_one_step_and_swept_later() {
    let dir = tempfile::tempdir().unwrap();
    let backend_options = KeelBackendOptions {
        appendfsync: AppendFsync::No,
        sweep_interval: None,
        ..KeelBackendOptions::default()
    };
    let server =
        EngineServer::start_with_backend(dir.path(), backend_options, ServerOptions::default());
    let mut c = server.client();
    sadd_many(&mut c, "big", 10_000);
    call(&mut c, &["HSET", "small", "a", "1", "b", "2"]);
    call(&mut c, &["RPUSH", "kept", "x"]);
    // 10000 members and a header, 2 fields and a header, 1 item and a header.
    assert_eq!(element_entries(&server), 10_001 + 3 + 2);
    assert_eq!(call(&mut c, &["DEL", "small"]), int(1));
    assert_eq!(
        element_entries(&server),
        10_001 + 2,
        "a small collection goes whole"
    );
    assert_eq!(call(&mut c, &["DEL", "big"]), int(1));
    assert_eq!(call(&mut c, &["EXISTS", "big"]), int(0));
    assert_eq!(call(&mut c, &["SCARD", "big"]), int(0));
    assert_eq!(
        element_entries(&server),
        10_001 + 2,
        "a large collection's elements wait for the sweep"
    );
    assert_eq!(call(&mut c, &["SADD", "big", "new"]), int(1));
    assert_eq!(server.backend().sweep().unwrap(), 10_001);
    assert_eq!(
        element_entries(&server),
        2 + 2,
        "the live collections are left alone"
    );
    assert_eq!(call(&mut c, &["SMEMBERS", "big"]), bulks(&["new"]));
    assert_eq!(call(&mut c, &["LRANGE", "kept", "0", "-1"]), bulks(&["x"]));

    // An overwrite, a flush and a moved key: only the dead are swept.
    call(&mut c, &["SET", "big", "a string now"]);
    call(&mut c, &["MOVE", "kept", "5"]);
    assert_eq!(server.backend().sweep().unwrap(), 2);
    assert_eq!(element_entries(&server), 2);
    call(&mut c, &["FLUSHALL"]);
    assert_eq!(server.backend().sweep().unwrap(), 2);
    assert_eq!(element_entries(&server), 0);
}

#[test]
fn an_expired_collection_of_many_elements_is_swept_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let backend_options = KeelBackendOptions {
        appendfsync: AppendFsync::No,
        sweep_interval: Some(Duration::from_millis(50)),
        ..KeelBackendOptions::default()
    };
    let server =
        EngineServer::start_with_backend(dir.path(), backend_options, ServerOptions::default());
    let mut c = server.client();
    sadd_many(&mut c, "big", 100_000);
    let started = Instant::now();
    assert_eq!(call(&mut c, &["PEXPIRE", "big", "1"]), int(1));
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(call(&mut c, &["EXISTS", "big"]), int(0));
    assert!(started.elapsed() < Duration::from_secs(5), "expiry is O(1)");
    let deadline = Instant::now() + Duration::from_secs(60);
    while element_entries(&server) > 0 {
        assert!(Instant::now() < deadline, "the sweep never finished");
        std::thread::sleep(Duration::from_millis(50));
    }
    server.stop();
}

#[test]
fn blocked_pops_wake_on_a_write_time_out_and_unblock() {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::No);
    let mut c = server.client();
    // Data already there: no wait.
    call(&mut c, &["RPUSH", "ready", "x"]);
    assert_eq!(
        call(&mut c, &["BLPOP", "none", "ready", "0"]),
        bulks(&["ready", "x"])
    );
    // A timeout answers a null array.
    let started = Instant::now();
    assert_eq!(call(&mut c, &["BLPOP", "none", "0.05"]), Value::Nil);
    assert!(started.elapsed() >= Duration::from_millis(50));
    assert!(call_error(&mut c, &["BLPOP", "none", "-1"]).contains("timeout is negative"));

    // A write from another client wakes the blocked one.
    let address = server.address;
    let blocked = std::thread::spawn(move || {
        let client = redis::Client::open(format!("redis://{address}/")).unwrap();
        let mut blocked = client.get_connection().unwrap();
        let popped = call(&mut blocked, &["BZPOPMIN", "queue", "10"]);
        let moved = call(
            &mut blocked,
            &["BLMOVE", "jobs", "done", "LEFT", "RIGHT", "10"],
        );
        (popped, moved)
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !blocked_clients(&mut c).contains("blocked_clients:1") {
        assert!(Instant::now() < deadline, "the client never blocked");
        std::thread::sleep(Duration::from_millis(5));
    }
    call(&mut c, &["ZADD", "queue", "2", "b", "1", "a"]);
    while !blocked_clients(&mut c).contains("blocked_clients:1") {
        assert!(Instant::now() < deadline, "the client never blocked again");
        std::thread::sleep(Duration::from_millis(5));
    }
    call(&mut c, &["RPUSH", "jobs", "job1"]);
    let (popped, moved) = blocked.join().unwrap();
    assert_eq!(popped, bulks(&["queue", "a", "1"]));
    assert_eq!(moved, bulk("job1"));
    assert_eq!(
        call(&mut c, &["LRANGE", "done", "0", "-1"]),
        bulks(&["job1"])
    );

    // CLIENT UNBLOCK … ERROR ends a wait with Redis's error.
    let blocked = std::thread::spawn(move || {
        let client = redis::Client::open(format!("redis://{address}/")).unwrap();
        let mut blocked = client.get_connection().unwrap();
        let id = match call(&mut blocked, &["CLIENT", "ID"]) {
            Value::Int(id) => id,
            other => panic!("{other:?}"),
        };
        (id, call_error(&mut blocked, &["BRPOP", "never", "0"]))
    });
    while !blocked_clients(&mut c).contains("blocked_clients:1") {
        assert!(Instant::now() < deadline, "the client never blocked");
        std::thread::sleep(Duration::from_millis(5));
    }
    let list = match call(&mut c, &["CLIENT", "LIST"]) {
        Value::BulkString(text) => String::from_utf8(text).unwrap(),
        other => panic!("{other:?}"),
    };
    let id = list
        .lines()
        .find(|line| line.contains("cmd=brpop"))
        .and_then(|line| line.strip_prefix("id="))
        .and_then(|rest| rest.split(' ').next())
        .unwrap()
        .to_owned();
    assert_eq!(call(&mut c, &["CLIENT", "UNBLOCK", &id, "ERROR"]), int(1));
    let (_, error) = blocked.join().unwrap();
    assert!(
        error.contains("client unblocked via CLIENT UNBLOCK"),
        "{error}"
    );
    assert!(blocked_clients(&mut c).contains("blocked_clients:0"));
}

/// A blocking command that arrives after a write and before the clients
/// blocked on its key have tried again waits behind them: of two
/// BRPOPLPUSHes on one list (Redis's "BRPOPLPUSH with multiple blocked
/// clients", sent there without waiting in between), the first, blocked,
/// gets WRONGTYPE from its destination and the second the element — not
/// the second the element and the first nothing, forever. The first's
/// event loop is held by DEBUG SLEEP while the push and the second come.
#[test]
fn a_new_blocking_command_waits_behind_clients_blocked_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let options = ServerOptions {
        io_threads: 2,
        ..ServerOptions::default()
    };
    let server = EngineServer::start_with(dir.path(), AppendFsync::No, options);
    let address = server.address;
    let connect = || {
        let client = redis::Client::open(format!("redis://{address}/")).unwrap();
        client.get_connection().unwrap()
    };
    // Connections go to the loops in turn: 1, 3, 5 on one, 2, 4 on the
    // other.
    let mut admin = connect();
    let first = connect();
    let mut pusher = connect();
    let mut sleeper = connect();
    let second = connect();
    call(&mut admin, &["SET", "target1", "nolist"]);
    let first = std::thread::spawn(move || {
        let mut first = first;
        redis::cmd("BRPOPLPUSH")
            .arg(&["blist", "target1", "5"])
            .query::<Value>(&mut first)
            .map_err(|error| error.to_string())
    });
    wait_for_blocked(&mut admin, 1);
    let sleeping = std::thread::spawn(move || call(&mut sleeper, &["DEBUG", "SLEEP", "0.3"]));
    std::thread::sleep(Duration::from_millis(50));
    call(&mut pusher, &["LPUSH", "blist", "foo"]);
    let second = std::thread::spawn(move || {
        let mut second = second;
        redis::cmd("BRPOPLPUSH")
            .arg(&["blist", "target2", "5"])
            .query::<Value>(&mut second)
            .map_err(|error| error.to_string())
    });
    assert_eq!(sleeping.join().unwrap(), Value::Okay);
    let first = first.join().unwrap();
    assert!(
        first
            .as_ref()
            .is_err_and(|error| error.contains(WRONG_TYPE)),
        "{first:?}"
    );
    assert_eq!(second.join().unwrap().unwrap(), bulk("foo"));
    server.stop();
}

/// Waits until INFO says `count` clients are blocked.
fn wait_for_blocked(c: &mut redis::Connection, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let wanted = format!("blocked_clients:{count}\r");
    while !blocked_clients(c).contains(&wanted) {
        assert!(Instant::now() < deadline, "{count} clients never blocked");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Runs `command` on a new connection in a thread of its own.
fn in_thread(
    address: std::net::SocketAddr,
    command: &'static [&'static str],
) -> std::thread::JoinHandle<Result<Value, String>> {
    std::thread::spawn(move || {
        let client = redis::Client::open(format!("redis://{address}/")).unwrap();
        let mut connection = client.get_connection().unwrap();
        redis::cmd(command[0])
            .arg(&command[1..])
            .query::<Value>(&mut connection)
            .map_err(|error| error.to_string())
    })
}

/// As in Redis, the clients blocked on a key are served in the order they
/// blocked, though their connections live on different event loops (each
/// runs its waiting clients again when a write commits): of three BLPOPs
/// one RPUSH of three elements serves, the first blocked gets the first
/// element; and of two BRPOPLPUSHes, the first, whose destination is of
/// the wrong type, gets WRONGTYPE and the second the element (Redis's
/// "BRPOPLPUSH with multiple blocked clients"), never the second the
/// element and the first nothing.
#[test]
fn blocked_clients_are_served_in_the_order_they_blocked() {
    let dir = tempfile::tempdir().unwrap();
    let options = ServerOptions {
        io_threads: 2,
        ..ServerOptions::default()
    };
    let server = EngineServer::start_with(dir.path(), AppendFsync::No, options);
    let mut c = server.client();
    for _round in 0..5 {
        let waiting: Vec<_> = (1..=3)
            .map(|count| {
                let waiter = in_thread(server.address, &["BLPOP", "queue", "10"]);
                wait_for_blocked(&mut c, count);
                waiter
            })
            .collect();
        call(&mut c, &["RPUSH", "queue", "a", "b", "c"]);
        let served: Vec<Value> = waiting
            .into_iter()
            .map(|waiter| waiter.join().unwrap().unwrap())
            .collect();
        assert_eq!(
            served,
            vec![
                bulks(&["queue", "a"]),
                bulks(&["queue", "b"]),
                bulks(&["queue", "c"])
            ]
        );

        call(&mut c, &["SET", "target1", "nolist"]);
        let first = in_thread(server.address, &["BRPOPLPUSH", "blist", "target1", "10"]);
        wait_for_blocked(&mut c, 1);
        let second = in_thread(server.address, &["BRPOPLPUSH", "blist", "target2", "10"]);
        wait_for_blocked(&mut c, 2);
        call(&mut c, &["LPUSH", "blist", "foo"]);
        let first = first.join().unwrap();
        assert!(
            first
                .as_ref()
                .is_err_and(|error| error.contains(WRONG_TYPE)),
            "{first:?}"
        );
        assert_eq!(second.join().unwrap().unwrap(), bulk("foo"));
        call(&mut c, &["DEL", "target1", "target2"]);
    }
    server.stop();
}

fn blocked_clients(c: &mut redis::Connection) -> String {
    match call(c, &["INFO", "clients"]) {
        Value::BulkString(text) => String::from_utf8(text).unwrap(),
        other => panic!("{other:?}"),
    }
}

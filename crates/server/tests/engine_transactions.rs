//! keel-server over a real keel database: MULTI/EXEC/WATCH semantics,
//! atomic commands under concurrency, SCAN completeness while other
//! clients write, and FLUSHDB of a large database.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod engine_support;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use engine_support::{EngineServer, call, call_error, scan_all};
use keel_server::{AppendFsync, FLUSH_IN_TRANSACTION_KEYS_MAX};
use redis::Value;

fn queued() -> Value {
    Value::SimpleString("QUEUED".into())
}

#[test]
fn multi_exec_runs_the_block_and_discard_drops_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::Always);
    let mut client = server.client();
    assert_eq!(call(&mut client, &["MULTI"]), Value::Okay);
    assert_eq!(call(&mut client, &["SET", "a", "1"]), queued());
    assert_eq!(call(&mut client, &["INCR", "a"]), queued());
    assert_eq!(call(&mut client, &["SELECT", "2"]), queued());
    assert_eq!(call(&mut client, &["SET", "b", "in two"]), queued());
    assert_eq!(call(&mut client, &["GET", "b"]), queued());
    assert_eq!(
        call(&mut client, &["EXEC"]),
        Value::Array(vec![
            Value::Okay,
            Value::Int(2),
            Value::Okay,
            Value::Okay,
            Value::BulkString(b"in two".to_vec())
        ])
    );
    // The queued SELECT moved the connection.
    assert_eq!(
        call(&mut client, &["GET", "b"]),
        Value::BulkString(b"in two".to_vec())
    );

    assert_eq!(call(&mut client, &["MULTI"]), Value::Okay);
    assert_eq!(call(&mut client, &["SET", "b", "discarded"]), queued());
    assert_eq!(call(&mut client, &["DISCARD"]), Value::Okay);
    assert_eq!(
        call(&mut client, &["GET", "b"]),
        Value::BulkString(b"in two".to_vec())
    );

    assert_eq!(call(&mut client, &["MULTI"]), Value::Okay);
    assert_eq!(call(&mut client, &["SET", "b", "never"]), queued());
    assert!(call_error(&mut client, &["SET", "b"]).contains("wrong number of arguments"));
    assert!(call_error(&mut client, &["EXEC"]).contains("discarded because of previous errors"));
    assert_eq!(
        call(&mut client, &["GET", "b"]),
        Value::BulkString(b"in two".to_vec())
    );

    // A command failing inside the block is an error reply; the rest runs
    // (the redis crate turns such a reply into an error, so raw bytes).
    let mut raw = std::net::TcpStream::connect(server.address).unwrap();
    raw.write_all(b"MULTI\r\nSET s text\r\nINCR s\r\nSET t 1\r\nEXEC\r\nQUIT\r\n")
        .unwrap();
    let mut reply = Vec::new();
    raw.read_to_end(&mut reply).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&reply),
        "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n+OK\r\n-ERR value is not an integer or out of range\r\n+OK\r\n+OK\r\n"
    );
    assert_eq!(call(&mut client, &["SELECT", "0"]), Value::Okay);
    assert_eq!(
        call(&mut client, &["GET", "t"]),
        Value::BulkString(b"1".to_vec())
    );
    server.stop();
}

#[test]
fn watch_fails_exec_when_a_watched_key_changes() {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::Always);
    let mut client = server.client();
    let mut other = server.client();

    // Unchanged: the block runs.
    assert_eq!(call(&mut client, &["SET", "x", "30"]), Value::Okay);
    assert_eq!(call(&mut client, &["WATCH", "x", "y"]), Value::Okay);
    assert_eq!(call(&mut client, &["MULTI"]), Value::Okay);
    assert_eq!(call(&mut client, &["PING"]), queued());
    assert_eq!(
        call(&mut client, &["EXEC"]),
        Value::Array(vec![Value::SimpleString("PONG".into())])
    );

    // Changed by another client: nil, and nothing of the block ran.
    assert_eq!(call(&mut client, &["WATCH", "x"]), Value::Okay);
    assert_eq!(call(&mut other, &["SET", "x", "40"]), Value::Okay);
    assert_eq!(call(&mut client, &["MULTI"]), Value::Okay);
    assert_eq!(call(&mut client, &["SET", "z", "written"]), queued());
    assert_eq!(call(&mut client, &["EXEC"]), Value::Nil);
    assert_eq!(call(&mut client, &["GET", "z"]), Value::Nil);

    // The watch ended with EXEC: the next block runs.
    assert_eq!(call(&mut other, &["SET", "x", "50"]), Value::Okay);
    assert_eq!(call(&mut client, &["MULTI"]), Value::Okay);
    assert_eq!(call(&mut client, &["PING"]), queued());
    assert_eq!(
        call(&mut client, &["EXEC"]),
        Value::Array(vec![Value::SimpleString("PONG".into())])
    );

    // Changed by the watching client itself: nil, as in Redis.
    assert_eq!(call(&mut client, &["WATCH", "x"]), Value::Okay);
    assert_eq!(call(&mut client, &["SET", "x", "60"]), Value::Okay);
    assert_eq!(call(&mut client, &["MULTI"]), Value::Okay);
    assert_eq!(call(&mut client, &["PING"]), queued());
    assert_eq!(call(&mut client, &["EXEC"]), Value::Nil);

    // A watched key that did not exist and is created: nil.
    assert_eq!(call(&mut client, &["WATCH", "fresh"]), Value::Okay);
    assert_eq!(call(&mut other, &["SET", "fresh", "1"]), Value::Okay);
    assert_eq!(call(&mut client, &["MULTI"]), Value::Okay);
    assert_eq!(call(&mut client, &["PING"]), queued());
    assert_eq!(call(&mut client, &["EXEC"]), Value::Nil);

    // UNWATCH and DISCARD forget the keys.
    assert_eq!(call(&mut client, &["WATCH", "x"]), Value::Okay);
    assert_eq!(call(&mut other, &["SET", "x", "70"]), Value::Okay);
    assert_eq!(call(&mut client, &["UNWATCH"]), Value::Okay);
    assert_eq!(call(&mut client, &["MULTI"]), Value::Okay);
    assert_eq!(call(&mut client, &["INCR", "x"]), queued());
    assert_eq!(
        call(&mut client, &["EXEC"]),
        Value::Array(vec![Value::Int(71)])
    );
    assert_eq!(call(&mut client, &["WATCH", "x"]), Value::Okay);
    assert_eq!(call(&mut other, &["SET", "x", "10"]), Value::Okay);
    assert_eq!(call(&mut client, &["MULTI"]), Value::Okay);
    assert_eq!(call(&mut client, &["DISCARD"]), Value::Okay);
    assert_eq!(call(&mut client, &["MULTI"]), Value::Okay);
    assert_eq!(call(&mut client, &["INCR", "x"]), queued());
    assert_eq!(
        call(&mut client, &["EXEC"]),
        Value::Array(vec![Value::Int(11)])
    );

    // A watched key in another database than the one EXEC runs in.
    assert_eq!(call(&mut client, &["SELECT", "5"]), Value::Okay);
    assert_eq!(call(&mut client, &["SET", "x", "30"]), Value::Okay);
    assert_eq!(call(&mut client, &["WATCH", "x"]), Value::Okay);
    assert_eq!(call(&mut client, &["SELECT", "1"]), Value::Okay);
    assert_eq!(call(&mut client, &["SET", "x", "10"]), Value::Okay);
    assert_eq!(call(&mut client, &["SELECT", "5"]), Value::Okay);
    assert_eq!(call(&mut client, &["MULTI"]), Value::Okay);
    assert_eq!(call(&mut client, &["PING"]), queued());
    assert_eq!(
        call(&mut client, &["EXEC"]),
        Value::Array(vec![Value::SimpleString("PONG".into())]),
        "a write to x of database 1 is not a write to x of database 5"
    );
    server.stop();
}

#[test]
fn watch_counts_expiry_and_flushes_as_changes() {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::No);
    let mut client = server.client();
    // A watched key that expires before EXEC.
    assert_eq!(
        call(&mut client, &["SET", "x", "foo", "PX", "100"]),
        Value::Okay
    );
    assert_eq!(call(&mut client, &["WATCH", "x"]), Value::Okay);
    std::thread::sleep(std::time::Duration::from_millis(250));
    assert_eq!(call(&mut client, &["MULTI"]), Value::Okay);
    assert_eq!(call(&mut client, &["PING"]), queued());
    assert_eq!(call(&mut client, &["EXEC"]), Value::Nil);

    // FLUSHALL removes a watched key: nil.
    assert_eq!(call(&mut client, &["SET", "x", "30"]), Value::Okay);
    assert_eq!(call(&mut client, &["WATCH", "x"]), Value::Okay);
    assert_eq!(call(&mut client, &["FLUSHALL"]), Value::Okay);
    assert_eq!(call(&mut client, &["MULTI"]), Value::Okay);
    assert_eq!(call(&mut client, &["PING"]), queued());
    assert_eq!(call(&mut client, &["EXEC"]), Value::Nil);

    // FLUSHALL of keys that are not watched: the block runs.
    assert_eq!(call(&mut client, &["SET", "other", "1"]), Value::Okay);
    assert_eq!(call(&mut client, &["WATCH", "x"]), Value::Okay);
    assert_eq!(call(&mut client, &["FLUSHALL"]), Value::Okay);
    assert_eq!(call(&mut client, &["MULTI"]), Value::Okay);
    assert_eq!(call(&mut client, &["PING"]), queued());
    assert_eq!(
        call(&mut client, &["EXEC"]),
        Value::Array(vec![Value::SimpleString("PONG".into())])
    );
    server.stop();
}

#[test]
fn a_large_flushdb_drops_the_keyspace_atomically_and_fails_watchers() {
    let dir = tempfile::tempdir().unwrap();
    let server = EngineServer::start(dir.path(), AppendFsync::No);
    let mut client = server.client();
    let mut watcher = server.client();
    let mut other = server.client();
    let total = FLUSH_IN_TRANSACTION_KEYS_MAX + 500;
    let keys: Vec<String> = (0..total).map(|index| format!("bulk:{index}")).collect();
    for chunk in keys.chunks(1000) {
        let mut mset = redis::cmd("MSET");
        for key in chunk {
            mset.arg(key).arg("value");
        }
        let _: () = mset.query(&mut client).unwrap();
    }
    assert_eq!(call(&mut other, &["SELECT", "1"]), Value::Okay);
    assert_eq!(call(&mut other, &["SET", "k", "stays"]), Value::Okay);
    assert_eq!(call(&mut watcher, &["WATCH", "new-key"]), Value::Okay);

    assert_eq!(call(&mut client, &["FLUSHDB"]), Value::Okay);
    assert_eq!(call(&mut client, &["DBSIZE"]), Value::Int(0));
    assert_eq!(call(&mut client, &["GET", "bulk:7"]), Value::Nil);
    assert_eq!(call(&mut client, &["SET", "new-key", "1"]), Value::Okay);
    assert_eq!(call(&mut client, &["DBSIZE"]), Value::Int(1));
    // The keyspace the watcher read is gone: EXEC fails.
    assert_eq!(call(&mut watcher, &["MULTI"]), Value::Okay);
    assert_eq!(call(&mut watcher, &["PING"]), queued());
    assert_eq!(call(&mut watcher, &["EXEC"]), Value::Nil);
    assert_eq!(
        call(&mut other, &["GET", "k"]),
        Value::BulkString(b"stays".to_vec())
    );
    server.stop();

    // The new keyspace is the one found after a restart.
    let server = EngineServer::start(dir.path(), AppendFsync::No);
    let mut client = server.client();
    assert_eq!(call(&mut client, &["DBSIZE"]), Value::Int(1));
    assert_eq!(
        call(&mut client, &["GET", "new-key"]),
        Value::BulkString(b"1".to_vec())
    );
    server.stop();
}

#[test]
fn concurrent_increments_are_never_lost() {
    const THREADS: usize = 4;
    const INCREMENTS: usize = 150;
    let dir = tempfile::tempdir().unwrap();
    let server = Arc::new(EngineServer::start(dir.path(), AppendFsync::No));
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let server = Arc::clone(&server);
            std::thread::spawn(move || {
                let mut client = server.client();
                for _ in 0..INCREMENTS {
                    let _: i64 = redis::cmd("INCR").arg("plain").query(&mut client).unwrap();
                    // An optimistic increment with WATCH, retried on nil.
                    let mut attempts = 0;
                    loop {
                        attempts += 1;
                        assert!(attempts < 1000, "WATCH loop never succeeded");
                        let _: () = redis::cmd("WATCH")
                            .arg("watched")
                            .query(&mut client)
                            .unwrap();
                        let current: Option<i64> =
                            redis::cmd("GET").arg("watched").query(&mut client).unwrap();
                        let result: Option<(String,)> = redis::pipe()
                            .atomic()
                            .cmd("SET")
                            .arg("watched")
                            .arg(current.unwrap_or(0) + 1)
                            .query(&mut client)
                            .unwrap();
                        if result.is_some() {
                            break;
                        }
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    let mut client = server.client();
    let expected = (THREADS * INCREMENTS).to_string();
    assert_eq!(
        call(&mut client, &["GET", "plain"]),
        Value::BulkString(expected.clone().into_bytes())
    );
    assert_eq!(
        call(&mut client, &["GET", "watched"]),
        Value::BulkString(expected.into_bytes())
    );
    drop(client);
    Arc::into_inner(server).unwrap().stop();
}

#[test]
fn scan_returns_every_key_present_throughout_while_others_write() {
    let dir = tempfile::tempdir().unwrap();
    let server = Arc::new(EngineServer::start(dir.path(), AppendFsync::No));
    let mut client = server.client();
    // Keys of varied shapes: short, long, sharing prefixes, binary-ish.
    let stable: BTreeSet<String> = (0..2000u32)
        .map(|index| match index % 4 {
            0 => format!("{index}"),
            1 => format!("user:{index:06}:profile"),
            2 => format!("{:08x}{index}", index.wrapping_mul(2_654_435_761)),
            _ => format!("z{}", "y".repeat((index % 13) as usize)) + &index.to_string(),
        })
        .collect();
    let list: Vec<&String> = stable.iter().collect();
    for chunk in list.chunks(500) {
        let mut mset = redis::cmd("MSET");
        for key in chunk {
            mset.arg(key.as_str()).arg("v");
        }
        let _: () = mset.query(&mut client).unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let server = Arc::clone(&server);
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut client = server.client();
            let mut round = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("{:08x}churn", round.wrapping_mul(40_503));
                let _: () = redis::cmd("SET")
                    .arg(&key)
                    .arg(round)
                    .query(&mut client)
                    .unwrap();
                if round.is_multiple_of(2) {
                    let _: i64 = redis::cmd("DEL").arg(&key).query(&mut client).unwrap();
                }
                round += 1;
            }
            round
        })
    };
    for count in [1, 7, 50] {
        let seen: BTreeSet<String> = scan_all(&mut client, count).into_iter().collect();
        let missing: Vec<&String> = stable.difference(&seen).collect();
        assert!(missing.is_empty(), "COUNT {count}: missed {missing:?}");
    }
    stop.store(true, Ordering::Relaxed);
    let rounds = writer.join().unwrap();
    assert!(rounds > 0, "the writer ran");
    drop(client);
    Arc::into_inner(server).unwrap().stop();
}

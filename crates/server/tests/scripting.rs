//! Scripts over a real keel database: EVAL, EVALSHA, EVAL_RO, SCRIPT and
//! FUNCTION/FCALL with Redis 7's replies and conversions, the sandbox,
//! commands refused in scripts, and each run as one transaction —
//! atomic to other clients, rolled back by SCRIPT KILL, its PUBLISH
//! delivered after the commit.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;
mod engine_support;

use std::time::{Duration, Instant};

use common::{Client, Value, ok};
use engine_support::EngineServer;
use keel_server::{AppendFsync, ServerOptions};

fn bulk(text: &str) -> Value {
    Value::bulk(text)
}

fn int(value: i64) -> Value {
    Value::Integer(value)
}

fn error_text(value: Value) -> String {
    match value {
        Value::Error(text) => text,
        other => panic!("an error, not {other:?}"),
    }
}

fn server(dir: &tempfile::TempDir, io_threads: usize) -> EngineServer {
    EngineServer::start_with(
        dir.path(),
        AppendFsync::EverySec,
        ServerOptions {
            io_threads,
            ..ServerOptions::default()
        },
    )
}

#[test]
fn replies_convert_both_ways_as_in_redis() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir, 1);
    let mut client = Client::connect(server.address);
    let eval = |client: &mut Client, script: &str| client.call(&["EVAL", script, "0"]);
    assert_eq!(eval(&mut client, "return 'hello'"), bulk("hello"));
    assert_eq!(eval(&mut client, "return 100.5"), int(100));
    assert_eq!(eval(&mut client, "return -3.9"), int(-3));
    assert_eq!(eval(&mut client, "return true"), int(1));
    assert_eq!(eval(&mut client, "return false"), Value::NullBulk);
    assert_eq!(eval(&mut client, "return nil"), Value::NullBulk);
    assert_eq!(
        eval(&mut client, "return {1,2,3,'ciao',{1,2}}"),
        Value::Array(vec![
            int(1),
            int(2),
            int(3),
            bulk("ciao"),
            Value::Array(vec![int(1), int(2)])
        ])
    );
    // An array stops at the first nil.
    assert_eq!(
        eval(&mut client, "return {1,nil,3}"),
        Value::Array(vec![int(1)])
    );
    assert_eq!(
        eval(&mut client, "return {ok='fine'}"),
        Value::Simple("fine".to_owned())
    );
    assert_eq!(
        eval(&mut client, "return {err='MYERR this is an error'}"),
        Value::Error("MYERR this is an error".to_owned())
    );
    assert_eq!(
        eval(
            &mut client,
            "return redis.error_reply('MY_ERR_CODE custom msg')"
        ),
        Value::Error("MY_ERR_CODE custom msg".to_owned())
    );
    assert_eq!(
        eval(&mut client, "return redis.status_reply('MY_OK')"),
        Value::Simple("MY_OK".to_owned())
    );
    assert_eq!(
        client.call(&[
            "EVAL",
            "return {KEYS[1],KEYS[2],ARGV[1],ARGV[2]}",
            "2",
            "a",
            "b",
            "c",
            "d"
        ]),
        Value::Array(vec![bulk("a"), bulk("b"), bulk("c"), bulk("d")])
    );
    // Redis replies as Lua values.
    assert_eq!(client.call(&["SET", "x", "0"]), ok());
    assert_eq!(
        client.call(&[
            "EVAL",
            "local v = redis.call('incr', KEYS[1]); return {type(v), v}",
            "1",
            "x"
        ]),
        Value::Array(vec![bulk("number"), int(1)])
    );
    assert_eq!(
        eval(
            &mut client,
            "local v = redis.call('get', 'nope'); return {type(v), v == false}"
        ),
        Value::Array(vec![bulk("boolean"), int(1)])
    );
    assert_eq!(
        eval(
            &mut client,
            "local v = redis.call('set', 'y', 'z'); return {type(v), v['ok']}"
        ),
        Value::Array(vec![bulk("table"), bulk("OK")])
    );
    assert_eq!(
        eval(
            &mut client,
            "local v = redis.pcall('incr', 'y'); return {type(v), v['err']}"
        ),
        Value::Array(vec![
            bulk("table"),
            bulk("ERR value is not an integer or out of range")
        ])
    );
    assert_eq!(client.call(&["RPUSH", "list", "a", "b", "c"]), int(3));
    assert_eq!(
        eval(
            &mut client,
            "local v = redis.call('lrange', 'list', 0, -1); return {#v, v[3]}"
        ),
        Value::Array(vec![int(3), bulk("c")])
    );
    // Numbers as arguments keep their precision (%.17g).
    assert_eq!(
        eval(
            &mut client,
            "redis.call('set', 'n', 9007199254740991); return redis.call('get', 'n')"
        ),
        bulk("9007199254740991")
    );
    // RESP3 inside the script: a map reply is {map=…}.
    assert_eq!(client.call(&["HSET", "h", "f", "v"]), int(1));
    assert_eq!(
        eval(
            &mut client,
            "redis.setresp(3); local m = redis.call('hgetall', 'h'); return m['map']['f']"
        ),
        bulk("v")
    );
    assert_eq!(
        eval(&mut client, "return redis.sha1hex('Pizza & Mandolino')"),
        bulk("74822d82031af7493c20eefa13bd07ec4fada82f")
    );
    assert_eq!(
        eval(&mut client, "return bit.bor(1,2,4,8,16,32,64,128)"),
        int(255)
    );
    assert_eq!(
        eval(&mut client, "return cjson.encode({1,2,{a='b'}})"),
        bulk("[1,2,{\"a\":\"b\"}]")
    );
    assert_eq!(
        eval(&mut client, "return cjson.decode('{\"k\":[1,2,3]}').k[3]"),
        int(3)
    );
    server.stop();
}

#[test]
fn the_script_cache_and_evalsha() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir, 1);
    let mut client = Client::connect(server.address);
    assert_eq!(client.call(&["SET", "mykey", "myval"]), ok());
    let script = "return redis.call('get',KEYS[1])";
    let sha = "fd758d1589d044dd850a6f05d52f2eefd27f033f";
    assert_eq!(
        client.call(&["EVALSHA", sha, "1", "mykey"]),
        Value::Error("NOSCRIPT No matching script. Please use EVAL.".to_owned())
    );
    assert_eq!(client.call(&["SCRIPT", "LOAD", script]), bulk(sha));
    assert_eq!(client.call(&["EVALSHA", sha, "1", "mykey"]), bulk("myval"));
    assert_eq!(
        client.call(&["EVALSHA", &sha.to_uppercase(), "1", "mykey"]),
        bulk("myval")
    );
    assert_eq!(
        client.call(&[
            "SCRIPT",
            "EXISTS",
            sha,
            "ffd632c7d33e571e9f24556ebed26c3479a87130"
        ]),
        Value::Array(vec![int(1), int(0)])
    );
    assert!(
        client
            .call(&["INFO", "memory"])
            .text()
            .contains("number_of_cached_scripts:1")
    );
    assert_eq!(client.call(&["SCRIPT", "FLUSH"]), ok());
    assert_eq!(
        client.call(&["SCRIPT", "EXISTS", sha]),
        Value::Array(vec![int(0)])
    );
    assert!(error_text(client.call(&["EVALSHA", "NotValidShaSUM", "0"])).starts_with("NOSCRIPT"));
    assert_eq!(
        client.call(&["EVAL", "return 1", "-1"]),
        Value::Error("ERR Number of keys can't be negative".to_owned())
    );
    assert_eq!(
        client.call(&["EVAL", "return 1", "2", "a"]),
        Value::Error("ERR Number of keys can't be greater than number of args".to_owned())
    );
    assert!(
        error_text(client.call(&["SCRIPT", "LOAD", "return ("]))
            .starts_with("ERR Error compiling script (new function): user_script:1:")
    );
    assert_eq!(
        client.call(&[
            "EVAL",
            "#!lua flags=no-writes\nreturn redis.call('get', KEYS[1])",
            "1",
            "mykey"
        ]),
        bulk("myval")
    );
    assert!(
        error_text(client.call(&["EVAL", "#!not-lua\nreturn 1", "0"]))
            .contains("Unexpected engine in script shebang")
    );
    server.stop();
}

#[test]
fn errors_and_refusals_carry_redis_texts() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir, 1);
    let mut client = Client::connect(server.address);
    let eval = |client: &mut Client, script: &str| client.call(&["EVAL", script, "0"]);
    let text = error_text(eval(&mut client, "return redis.call('nosuchcommand')"));
    assert!(
        text.starts_with("ERR Unknown Redis command called from script script: ")
            && text.ends_with(", on @user_script:1."),
        "{text}"
    );
    assert!(
        error_text(eval(&mut client, "redis.call('get','a','b','c')"))
            .starts_with("ERR Wrong number of args calling Redis command from script")
    );
    assert!(
        error_text(eval(&mut client, "return redis.call('blpop','x',0)"))
            .starts_with("ERR This Redis command is not allowed from script")
    );
    assert!(
        error_text(eval(&mut client, "return redis.call('subscribe','x')"))
            .starts_with("ERR This Redis command is not allowed from script")
    );
    assert!(
        error_text(eval(&mut client, "return redis.call()"))
            .contains("Please specify at least one argument for this redis lib call")
    );
    assert!(
        error_text(eval(&mut client, "return redis.call('ping', {})"))
            .contains("Lua redis lib command arguments must be strings or integers")
    );
    assert_eq!(client.call(&["SET", "foo", "bar"]), ok());
    assert!(
        error_text(eval(&mut client, "redis.call('lpush','foo','val')")).starts_with("WRONGTYPE")
    );
    assert!(
        error_text(client.call(&["EVAL_RO", "redis.call('del', KEYS[1])", "1", "foo"]))
            .starts_with("ERR Write commands are not allowed from read-only scripts.")
    );
    assert_eq!(
        client.call(&["EVAL_RO", "return redis.call('get', KEYS[1])", "1", "foo"]),
        bulk("bar")
    );
    // The sandbox: globals are read-only and only Redis's exist.
    let text = error_text(eval(&mut client, "return a"));
    assert!(
        text.contains("Script attempted to access nonexistent global variable 'a'"),
        "{text}"
    );
    for script in [
        "a = 10",
        "redis.call = function() return 1 end",
        "setmetatable(_G, {})",
        "_G = {}",
        "cjson.encode = function() end",
    ] {
        let text = error_text(eval(&mut client, script));
        assert!(
            text.contains("Attempt to modify a readonly table"),
            "{script}: {text}"
        );
    }
    for name in ["print", "loadfile", "dofile", "os", "io"] {
        let text = error_text(eval(&mut client, &format!("return {name}")));
        assert!(
            text.contains("nonexistent global variable"),
            "{name}: {text}"
        );
    }
    // pcall turns an error table into its text, as Redis 7 does.
    assert_eq!(
        eval(
            &mut client,
            "local ok, e = pcall(function() redis.call('incr', 'foo') end); return e"
        ),
        bulk("ERR value is not an integer or out of range")
    );
    // SELECT inside a script does not move the caller.
    assert_eq!(client.call(&["SELECT", "1"]), ok());
    assert_eq!(client.call(&["SET", "k", "db1"]), ok());
    assert_eq!(
        eval(
            &mut client,
            "redis.call('select', 0); redis.call('set', 'k', 'db0'); return redis.call('get', 'k')"
        ),
        bulk("db0")
    );
    assert_eq!(client.call(&["GET", "k"]), bulk("db1"));
    server.stop();
}

#[test]
fn a_script_is_one_transaction_to_other_clients() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir, 2);
    let mut client = Client::connect(server.address);
    assert_eq!(client.call(&["MSET", "a", "0", "b", "0"]), ok());
    let address = server.address;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader_stop = std::sync::Arc::clone(&stop);
    let reader = std::thread::spawn(move || {
        let mut reader = Client::connect(address);
        let mut reads = 0;
        while !reader_stop.load(std::sync::atomic::Ordering::Relaxed) {
            let Value::Array(values) = reader.call(&["MGET", "a", "b"]) else {
                panic!("an array")
            };
            assert_eq!(values[0], values[1], "a reader saw half a script");
            reads += 1;
        }
        reads
    });
    let script = "redis.call('incr', KEYS[1]); local x = 0; for i = 1, 2000 do x = x + i end; redis.call('incr', KEYS[2]); return x";
    for _ in 0..300 {
        assert_eq!(
            client.call(&["EVAL", script, "2", "a", "b"]),
            int(2_001_000)
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    assert_eq!(client.call(&["GET", "a"]), bulk("300"));
    assert_eq!(client.call(&["GET", "b"]), bulk("300"));
    // A script that raises after writing keeps its writes, as in Redis.
    let text = error_text(client.call(&[
        "EVAL",
        "redis.call('set', 'partial', '1'); redis.call('nosuch')",
        "0",
    ]));
    assert!(text.starts_with("ERR Unknown Redis command"), "{text}");
    assert_eq!(client.call(&["GET", "partial"]), bulk("1"));
    server.stop();
}

#[test]
fn script_kill_stops_a_busy_script_and_takes_its_writes_back() {
    let dir = tempfile::tempdir().unwrap();
    // Two loops: the second connection is served by the other one.
    let server = server(&dir, 2);
    let mut runner = Client::connect(server.address);
    let mut other = Client::connect(server.address);
    let mut subscriber = Client::connect(server.address);
    subscriber.send(&["SUBSCRIBE", "events"]);
    subscriber.read();
    assert_eq!(other.call(&["CONFIG", "SET", "lua-time-limit", "10"]), ok());
    assert_eq!(
        other.call(&["SCRIPT", "KILL"]),
        Value::Error("NOTBUSY No scripts in execution right now.".to_owned())
    );
    runner.send(&[
        "EVAL",
        "redis.call('set', KEYS[1], 'written'); redis.call('publish', 'events', 'never'); while true do end",
        "1",
        "victim",
    ]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match other.call(&["PING"]) {
            Value::Error(text) if text.starts_with("BUSY") => break,
            Value::Simple(_) => {
                assert!(Instant::now() < deadline, "the script never became busy");
                std::thread::sleep(Duration::from_millis(20));
            }
            reply => panic!("{reply:?}"),
        }
    }
    assert_eq!(other.call(&["SCRIPT", "KILL"]), ok());
    let text = error_text(runner.read());
    assert!(
        text.contains("Script killed by user with SCRIPT KILL"),
        "{text}"
    );
    assert_eq!(other.call(&["PING"]), Value::Simple("PONG".to_owned()));
    assert_eq!(other.call(&["GET", "victim"]), Value::NullBulk);
    // Its PUBLISH went nowhere; a script that commits publishes after.
    assert_eq!(
        other.call(&[
            "EVAL",
            "return redis.call('publish', 'events', 'hello')",
            "0"
        ]),
        int(1)
    );
    assert_eq!(
        subscriber.read(),
        Value::Array(vec![bulk("message"), bulk("events"), bulk("hello")])
    );
    // PUBLISH is a write to a read-only script, as in Redis.
    let text = error_text(other.call(&[
        "EVAL_RO",
        "return redis.call('publish', 'events', 'x')",
        "0",
    ]));
    assert!(
        text.starts_with("ERR Write commands are not allowed from read-only scripts."),
        "{text}"
    );
    server.stop();
}

#[test]
fn functions_load_and_run() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir, 1);
    let mut client = Client::connect(server.address);
    let library = "#!lua name=mylib\nredis.register_function('get_it', function(keys, args) return redis.call('get', keys[1]) end)\nredis.register_function{function_name='echo_it', callback=function(keys, args) return args[1] end, flags={'no-writes'}}";
    assert_eq!(client.call(&["FUNCTION", "LOAD", library]), bulk("mylib"));
    assert_eq!(
        client.call(&["FUNCTION", "LOAD", library]),
        Value::Error("ERR Library 'mylib' already exists".to_owned())
    );
    assert_eq!(
        client.call(&["FUNCTION", "LOAD", "REPLACE", library]),
        bulk("mylib")
    );
    assert_eq!(client.call(&["SET", "k", "v"]), ok());
    assert_eq!(client.call(&["FCALL", "get_it", "1", "k"]), bulk("v"));
    assert_eq!(client.call(&["FCALL_RO", "echo_it", "0", "hi"]), bulk("hi"));
    assert_eq!(
        client.call(&["FCALL_RO", "get_it", "1", "k"]),
        Value::Error("ERR Can not execute a script with write flag using *_ro command.".to_owned())
    );
    assert_eq!(
        client.call(&["FCALL", "nope", "0"]),
        Value::Error("ERR Function not found".to_owned())
    );
    let Value::Array(libraries) = client.call(&["FUNCTION", "LIST"]) else {
        panic!("an array")
    };
    assert_eq!(libraries.len(), 1);
    assert_eq!(client.call(&["FUNCTION", "DELETE", "mylib"]), ok());
    assert_eq!(
        client.call(&["FCALL", "get_it", "1", "k"]),
        Value::Error("ERR Function not found".to_owned())
    );
    server.stop();
}

/// `redis.acl_check_cmd` answers for the script's user, as Redis's
/// "Script ACL check" expects: bob, granted `+@scripting +set ~x*`, may
/// SET a key `x…` but not HSET, nor SET a key `y…`; and, FUNCTION's
/// subcommands being in `@scripting`, bob may load a library and call it.
#[test]
fn acl_check_cmd_answers_for_the_scripts_user() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&dir, 1);
    let mut client = Client::connect(server.address);
    assert_eq!(
        client.call(&[
            "ACL",
            "SETUSER",
            "bob",
            "on",
            ">123",
            "+@scripting",
            "+set",
            "~x*"
        ]),
        ok()
    );
    assert_eq!(client.call(&["AUTH", "bob", "123"]), ok());
    let check = |client: &mut Client, call: &str| {
        let script = format!("return redis.acl_check_cmd({call})");
        client.call(&["EVAL", &script, "1", "xx"])
    };
    assert_eq!(check(&mut client, "'set','xx',1"), int(1));
    assert_eq!(check(&mut client, "'hset','xx','f',1"), Value::NullBulk);
    assert_eq!(check(&mut client, "'set','yy',1"), Value::NullBulk);
    assert!(
        error_text(check(&mut client, "'invalid-cmd','arg'"))
            .contains("Invalid command passed to redis.acl_check_cmd()")
    );
    let library = "#!lua name=test\nredis.register_function('test', function(KEYS, ARGV) return redis.acl_check_cmd('hset','xx','f',1) end)";
    assert_eq!(
        client.call(&["FUNCTION", "LOAD", "REPLACE", library]),
        bulk("test")
    );
    assert_eq!(client.call(&["FCALL", "test", "1", "xx"]), Value::NullBulk);
}

/// A request the event loop read in the same turn as a script that then
/// runs long is answered (PONG before the script, or BUSY), and SCRIPT
/// KILL then stops the script: the loop runs the script after the other
/// connections ready with it. Before, the PING waited, read but unrun,
/// for the script's end, which never came (Redis's "killed by SCRIPT
/// KILL even when use pcall" hung the scripting unit).
#[test]
fn a_request_read_with_a_long_script_is_answered_and_can_kill_it() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    // One loop: every connection on it.
    let server = server(&dir, 1);
    let mut sleeper = Client::connect(server.address);
    let mut runner = Client::connect(server.address);
    let mut other = Client::connect(server.address);
    assert_eq!(other.call(&["CONFIG", "SET", "lua-time-limit", "10"]), ok());
    for _round in 0..3 {
        // The loop sleeps while the script and the PING arrive: it reads
        // both in one turn.
        sleeper.send(&["DEBUG", "SLEEP", "0.2"]);
        std::thread::sleep(Duration::from_millis(50));
        runner.send(&[
            "EVAL",
            "local f = function() while 1 do redis.call('ping') end end while 1 do pcall(f) end",
            "0",
        ]);
        other.send(&["PING"]);
        let mut stream = other.stream().try_clone().unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut reply = [0u8; 256];
        let read = stream.read(&mut reply);
        if !matches!(read, Ok(read) if read > 0) {
            // Unstick the server before failing.
            Client::connect(server.address).send(&["SCRIPT", "KILL"]);
            panic!("the PING read with the script was never answered: {read:?}");
        }
        let text = String::from_utf8_lossy(&reply);
        assert!(
            text.starts_with("+PONG") || text.starts_with("-BUSY"),
            "{text}"
        );
        assert_eq!(sleeper.read(), ok());
        let deadline = Instant::now() + Duration::from_secs(20);
        while !matches!(other.call(&["PING"]), Value::Error(text) if text.starts_with("BUSY")) {
            assert!(Instant::now() < deadline, "the script never became busy");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(other.call(&["SCRIPT", "KILL"]), ok());
        let text = error_text(runner.read());
        assert!(text.contains("Script killed by user"), "{text}");
        assert_eq!(other.call(&["PING"]), Value::Simple("PONG".to_owned()));
    }
    server.stop();
}

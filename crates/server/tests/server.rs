//! The server over a real loopback socket, with the in-memory backend:
//! what redis-cli and client libraries send, byte for byte, and Redis's
//! replies and error texts.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use common::{Client, Value, decode, error, ok, start_server};
use keel_server::{Limits, ServerOptions};

fn default_server() -> (
    keel_server::ServerHandle,
    std::sync::Arc<common::MemoryBackend>,
) {
    start_server(ServerOptions::default())
}

#[test]
fn ping_echo_and_data_commands() {
    let (server, backend) = default_server();
    let mut client = Client::connect(server.local_address());
    assert_eq!(client.call(&["PING"]), Value::Simple("PONG".into()));
    assert_eq!(client.call(&["ping", "hi"]), Value::bulk("hi"));
    assert_eq!(
        client.call(&["PING", "a", "b"]),
        error("ERR wrong number of arguments for 'ping' command")
    );
    assert_eq!(client.call(&["ECHO", "a\r\nb"]), Value::bulk("a\r\nb"));
    assert_eq!(client.call(&["SET", "k", "v"]), ok());
    assert_eq!(client.call(&["GET", "k"]), Value::bulk("v"));
    assert_eq!(client.call(&["GET", "missing"]), Value::NullBulk);
    assert_eq!(backend.value(0, "k").as_deref(), Some(&b"v"[..]));
    // Argument errors come from keel_server::command_arguments.
    assert_eq!(
        client.call(&["SET", "k", "w", "NX", "XX"]),
        error("ERR syntax error")
    );
    assert_eq!(
        client.call(&["SET", "k", "w", "EX", "0"]),
        error("ERR invalid expire time in 'set' command")
    );
    assert_eq!(client.call(&["SET", "k", "w", "NX"]), Value::NullBulk);
    assert_eq!(
        client.call(&["SET", "k", "w", "XX", "GET"]),
        Value::bulk("v")
    );
    assert_eq!(
        client.call(&["INCR", "k"]),
        error("ERR value is not an integer or out of range")
    );
    assert_eq!(
        client.call(&["DECRBY", "n", "-9223372036854775808"]),
        error("ERR decrement would overflow")
    );
    assert_eq!(
        client.call(&["INCRBY", "n", "9223372036854775807"]),
        Value::Integer(i64::MAX)
    );
    assert_eq!(
        client.call(&["INCR", "n"]),
        error("ERR increment or decrement would overflow")
    );
    server.shutdown();
}

#[test]
fn unknown_commands_and_arity_errors_use_redis_texts() {
    let (server, _) = default_server();
    let mut client = Client::connect(server.local_address());
    assert_eq!(
        client.call(&["foo", "a", "b"]),
        error("ERR unknown command 'foo', with args beginning with: 'a' 'b' ")
    );
    assert_eq!(
        client.call(&["GET"]),
        error("ERR wrong number of arguments for 'get' command")
    );
    assert_eq!(
        client.call(&["client", "bogus"]),
        error("ERR unknown subcommand 'bogus'. Try CLIENT HELP.")
    );
    // The connection stays usable after command errors.
    assert_eq!(client.call(&["PING"]), Value::Simple("PONG".into()));
    server.shutdown();
}

#[test]
fn pipelined_requests_are_answered_in_order_in_one_batch() {
    let (server, _) = default_server();
    let mut client = Client::connect(server.local_address());
    let mut pipeline = Vec::new();
    for index in 0..200 {
        keel_server::Command::from_parts(["SET", &format!("key{index}"), &index.to_string()])
            .encode(&mut pipeline);
        keel_server::Command::from_parts(["INCR", &format!("key{index}")]).encode(&mut pipeline);
    }
    // Mixed with inline requests, as a telnet user might.
    pipeline.extend_from_slice(b"GET key7\r\nPING\n");
    client.send_raw(&pipeline);
    for index in 0..200 {
        assert_eq!(client.read(), ok());
        assert_eq!(client.read(), Value::Integer(index + 1));
    }
    assert_eq!(client.read(), Value::bulk("8"));
    assert_eq!(client.read(), Value::Simple("PONG".into()));
    server.shutdown();
}

#[test]
fn a_request_split_across_many_writes_is_assembled() {
    let (server, backend) = default_server();
    let mut client = Client::connect(server.local_address());
    let value = "x".repeat(300_000);
    let mut request = Vec::new();
    keel_server::Command::from_parts(["SET", "big", &value]).encode(&mut request);
    for chunk in request.chunks(7_777) {
        client.send_raw(chunk);
    }
    assert_eq!(client.read(), ok());
    assert_eq!(backend.value(0, "big").map(|v| v.len()), Some(300_000));
    assert_eq!(client.call(&["GET", "big"]), Value::bulk(&value));
    server.shutdown();
}

#[test]
fn inline_requests_with_quotes() {
    let (server, _) = default_server();
    let mut client = Client::connect(server.local_address());
    client.send_raw(b"SET \"two words\" 'it\\'s' \r\nGET \"two\\x20words\"\r\n");
    assert_eq!(client.read(), ok());
    assert_eq!(client.read(), Value::bulk("it's"));
    client.send_raw(b"\r\n\r\nPING\r\n");
    assert_eq!(
        client.read(),
        Value::Simple("PONG".into()),
        "empty lines get no reply"
    );
    server.shutdown();
}

#[test]
fn protocol_errors_are_answered_then_the_connection_closes() {
    let cases: [(&[u8], &str); 5] = [
        (
            b"*20000000\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n",
            "-ERR Protocol error: expected '$', got 'f'\r\n",
        ),
        (
            b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$blabla\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*1\r\n$536870913\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"SET \"unbalanced x\r\n",
            "-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
    ];
    let (server, backend) = default_server();
    for (request, reply) in cases {
        let mut client = Client::connect(server.local_address());
        // A good request before the bad one is still answered.
        let mut bytes = b"PING\r\n".to_vec();
        bytes.extend_from_slice(request);
        bytes.extend_from_slice(b"SET after error\r\n");
        client.send_raw(&bytes);
        let rest = client.read_until_closed();
        assert_eq!(
            String::from_utf8_lossy(&rest),
            format!("+PONG\r\n{reply}"),
            "{request:?}"
        );
    }
    assert_eq!(
        backend.value(0, "after"),
        None,
        "nothing after a protocol error runs"
    );
    // Redis's "Negative multibulk length" test: skipped, not an error.
    let mut client = Client::connect(server.local_address());
    client.send_raw(b"*-10\r\n");
    assert_eq!(client.call(&["PING"]), Value::Simple("PONG".into()));
    server.shutdown();
}

#[test]
fn too_big_inline_requests_close_the_connection() {
    let (server, _) = default_server();
    let mut client = Client::connect(server.local_address());
    client.send_raw(&vec![b'a'; 64 * 1024 + 100]);
    let rest = client.read_until_closed();
    assert_eq!(rest, b"-ERR Protocol error: too big inline request\r\n");
    server.shutdown();
}

#[test]
fn the_query_buffer_limit_closes_the_client_without_reply() {
    let limits = Limits {
        query_buffer_bytes_max: 100_000,
        ..Limits::default()
    };
    let (server, backend) = start_server(ServerOptions {
        limits,
        ..ServerOptions::default()
    });
    let mut client = Client::connect(server.local_address());
    let mut request = Vec::new();
    keel_server::Command::from_parts(["SET", "k", &"v".repeat(200_000)]).encode(&mut request);
    // The server may close while we still write; that is the point.
    let mut writer = client.stream().try_clone().unwrap();
    for chunk in request.chunks(16 * 1024) {
        if std::io::Write::write_all(&mut writer, chunk).is_err() {
            break;
        }
    }
    assert!(client.read_until_closed().is_empty());
    assert_eq!(backend.value(0, "k"), None);
    server.shutdown();
}

#[test]
fn hello_switches_protocol_and_replies_with_redis_map() {
    let (server, _) = default_server();
    let mut client = Client::connect(server.local_address());
    let id = match client.call(&["CLIENT", "ID"]) {
        Value::Integer(id) => id,
        other => panic!("{other:?}"),
    };
    // RESP2: the map arrives as a flat array.
    let hello2 = client.call(&["HELLO"]);
    assert!(
        matches!(hello2, Value::Array(ref items) if items.len() == 14),
        "{hello2:?}"
    );
    assert_eq!(hello2.field("proto"), Value::Integer(2));
    let hello3 = client.call(&["HELLO", "3"]);
    let Value::Map(ref pairs) = hello3 else {
        panic!("{hello3:?}")
    };
    let keys: Vec<String> = pairs.iter().map(|(key, _)| key.text()).collect();
    assert_eq!(
        keys,
        [
            "server", "version", "proto", "id", "mode", "role", "modules"
        ]
    );
    assert_eq!(hello3.field("server"), Value::bulk("redis"));
    assert_eq!(hello3.field("proto"), Value::Integer(3));
    assert_eq!(hello3.field("id"), Value::Integer(id));
    assert_eq!(hello3.field("mode"), Value::bulk("standalone"));
    assert_eq!(hello3.field("modules"), Value::Array(Vec::new()));
    // RESP3 types from now on.
    assert_eq!(client.call(&["GET", "missing"]), Value::Null);
    assert!(
        matches!(client.call(&["CLIENT", "INFO"]), Value::Verbatim(format, _) if format == "txt")
    );
    assert_eq!(
        client.call(&["HELLO", "4"]),
        error("NOPROTO unsupported protocol version")
    );
    assert_eq!(
        client.call(&["HELLO", "x"]),
        error("ERR Protocol version is not an integer or out of range")
    );
    assert_eq!(
        client.call(&["HELLO", "3", "FOO"]),
        error("ERR Syntax error in HELLO option 'FOO'")
    );
    assert_eq!(
        client
            .call(&["HELLO", "2", "SETNAME", "cli"])
            .field("proto"),
        Value::Integer(2)
    );
    assert_eq!(client.call(&["CLIENT", "GETNAME"]), Value::bulk("cli"));
    assert_eq!(client.call(&["GET", "missing"]), Value::NullBulk);
    server.shutdown();
}

#[test]
fn without_a_password_auth_behaves_as_redis_6() {
    let (server, _) = default_server();
    let mut client = Client::connect(server.local_address());
    assert_eq!(
        client.call(&["AUTH", "pw"]),
        error(
            "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?"
        )
    );
    assert_eq!(client.call(&["AUTH", "default", "anything"]), ok());
    assert_eq!(
        client.call(&["AUTH", "bob", "pw"]),
        error("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert_eq!(
        client.call(&["AUTH", "a", "b", "c"]),
        error("ERR syntax error")
    );
    server.shutdown();
}

#[test]
fn requirepass_gates_every_command_but_auth_and_hello() {
    let options = ServerOptions {
        require_password: Some("s3cret".into()),
        ..ServerOptions::default()
    };
    let (server, backend) = start_server(options);
    let mut client = Client::connect(server.local_address());
    assert_eq!(
        client.call(&["PING"]),
        error("NOAUTH Authentication required.")
    );
    assert_eq!(
        client.call(&["SET", "k", "v"]),
        error("NOAUTH Authentication required.")
    );
    assert_eq!(backend.value(0, "k"), None);
    // Unknown commands are reported as such before authentication, as in Redis.
    assert_eq!(
        client.call(&["nosuch"]),
        error("ERR unknown command 'nosuch', with args beginning with: ")
    );
    assert_eq!(
        client.call(&["AUTH", "wrong"]),
        error("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert_eq!(
        client.call(&["HELLO", "3"]),
        error(keel_server::HELLO_NOAUTH_TEXT)
    );
    assert_eq!(
        client.call(&["HELLO", "3", "AUTH", "default", "nope"]),
        error("WRONGPASS invalid username-password pair or user is disabled.")
    );
    assert_eq!(client.call(&["AUTH", "s3cret"]), ok());
    assert_eq!(client.call(&["PING"]), Value::Simple("PONG".into()));

    let mut other = Client::connect(server.local_address());
    assert_eq!(
        other
            .call(&["HELLO", "3", "AUTH", "default", "s3cret"])
            .field("proto"),
        Value::Integer(3)
    );
    assert_eq!(other.call(&["SET", "k", "v"]), ok());

    // Before authentication, large requests are refused outright.
    let mut stranger = Client::connect(server.local_address());
    stranger.send_raw(b"*11\r\n");
    assert_eq!(
        stranger.read_until_closed(),
        b"-ERR Protocol error: unauthenticated multibulk length\r\n"
    );
    server.shutdown();
}

#[test]
fn select_switches_databases_within_range() {
    let (server, backend) = default_server();
    let mut client = Client::connect(server.local_address());
    assert_eq!(client.call(&["SELECT", "15"]), ok());
    assert_eq!(client.call(&["SET", "k", "fifteen"]), ok());
    assert_eq!(backend.value(15, "k").as_deref(), Some(&b"fifteen"[..]));
    assert_eq!(backend.value(0, "k"), None);
    assert_eq!(
        client.call(&["SELECT", "16"]),
        error("ERR DB index is out of range")
    );
    assert_eq!(
        client.call(&["SELECT", "-1"]),
        error("ERR DB index is out of range")
    );
    assert_eq!(
        client.call(&["SELECT", "x"]),
        error("ERR value is not an integer or out of range")
    );
    assert_eq!(
        client.call(&["GET", "k"]),
        Value::bulk("fifteen"),
        "a failed SELECT keeps the database"
    );
    server.shutdown();
}

#[test]
fn client_commands() {
    let (server, _) = default_server();
    let mut first = Client::connect(server.local_address());
    let mut second = Client::connect(server.local_address());
    assert_eq!(first.call(&["CLIENT", "GETNAME"]), Value::NullBulk);
    assert_eq!(first.call(&["CLIENT", "SETNAME", "alpha"]), ok());
    assert_eq!(
        first.call(&["CLIENT", "SETNAME", "has space"]),
        error("ERR Client names cannot contain spaces, newlines or special characters.")
    );
    assert_eq!(first.call(&["CLIENT", "GETNAME"]), Value::bulk("alpha"));
    assert_eq!(second.call(&["SELECT", "3"]), ok());
    let Value::Integer(second_id) = second.call(&["CLIENT", "ID"]) else {
        panic!()
    };
    let list = first.call(&["CLIENT", "LIST"]).text();
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    assert!(
        lines[0].contains(" name=alpha ") && lines[0].contains(" cmd=client|list "),
        "{list}"
    );
    assert!(
        lines[1].starts_with(&format!("id={second_id} ")) && lines[1].contains(" db=3 "),
        "{list}"
    );
    let only = first
        .call(&["CLIENT", "LIST", "ID", &second_id.to_string()])
        .text();
    assert_eq!(only.lines().count(), 1);
    assert_eq!(
        first.call(&["CLIENT", "LIST", "ID", "x"]),
        error("ERR Invalid client ID")
    );
    assert_eq!(
        first.call(&["CLIENT", "LIST", "TYPE", "weird"]),
        error("ERR Unknown client type 'weird'")
    );
    assert_eq!(
        first.call(&["CLIENT", "SETINFO", "lib-name", "redis-py"]),
        ok()
    );
    assert_eq!(first.call(&["CLIENT", "SETINFO", "LIB-VER", "5.0.1"]), ok());
    assert_eq!(
        first.call(&["CLIENT", "SETINFO", "color", "red"]),
        error("ERR Unrecognized option 'color'")
    );
    assert_eq!(
        first.call(&["CLIENT", "SETINFO", "LIB-NAME", "a b"]),
        error("ERR LIB-NAME cannot contain spaces, newlines or special characters.")
    );
    let info = first.call(&["CLIENT", "INFO"]).text();
    assert!(info.starts_with("id=") && info.ends_with('\n'), "{info}");
    for field in [
        " name=alpha ",
        " cmd=client|info ",
        " lib-name=redis-py ",
        " lib-ver=5.0.1",
    ] {
        assert!(info.contains(field), "{field} in {info}");
    }
    server.shutdown();
}

#[test]
fn command_introspection_for_redis_cli() {
    let (server, _) = default_server();
    let mut client = Client::connect(server.local_address());
    let count = client.call(&["COMMAND", "COUNT"]);
    let Value::Integer(count) = count else {
        panic!("{count:?}")
    };
    assert_eq!(
        count as usize,
        keel_server::commands::table::commands().len()
    );
    let Value::Array(all) = client.call(&["COMMAND"]) else {
        panic!()
    };
    assert_eq!(all.len() as i64, count);
    let Value::Array(sub) = client.call(&["COMMAND", "INFO", "client|list"]) else {
        panic!()
    };
    assert!(matches!(&sub[0], Value::Array(fields) if fields[0] == Value::bulk("client|list")));
    let Value::Array(info) = client.call(&["COMMAND", "INFO", "get", "nosuch"]) else {
        panic!()
    };
    assert_eq!(info[1], Value::NullBulk);
    let Value::Array(get) = &info[0] else {
        panic!()
    };
    assert_eq!(
        &get[..6],
        &[
            Value::bulk("get"),
            Value::Integer(2),
            Value::Array(vec![
                Value::Simple("readonly".into()),
                Value::Simple("fast".into())
            ]),
            Value::Integer(1),
            Value::Integer(1),
            Value::Integer(1),
        ]
    );
    let docs = client.call(&["COMMAND", "DOCS", "set"]);
    assert_eq!(docs.field("set").field("group"), Value::bulk("string"));
    assert_eq!(docs.field("set").field("since"), Value::bulk("1.0.0"));
    let names = client.call(&["COMMAND", "LIST", "FILTERBY", "PATTERN", "get*"]);
    let Value::Array(names) = names else {
        panic!("{names:?}")
    };
    let mut names: Vec<String> = names.iter().map(Value::text).collect();
    names.sort();
    assert_eq!(
        names,
        ["get", "getbit", "getdel", "getex", "getrange", "getset"]
    );
    server.shutdown();
}

#[test]
fn multi_exec_discard_and_watch() {
    let (server, backend) = default_server();
    let mut client = Client::connect(server.local_address());
    assert_eq!(client.call(&["EXEC"]), error("ERR EXEC without MULTI"));
    assert_eq!(
        client.call(&["DISCARD"]),
        error("ERR DISCARD without MULTI")
    );
    assert_eq!(client.call(&["MULTI"]), ok());
    assert_eq!(
        client.call(&["MULTI"]),
        error("ERR MULTI calls can not be nested")
    );
    assert_eq!(
        client.call(&["SET", "a", "1"]),
        Value::Simple("QUEUED".into())
    );
    assert_eq!(
        client.call(&["SELECT", "2"]),
        Value::Simple("QUEUED".into())
    );
    assert_eq!(client.call(&["INCR", "a"]), Value::Simple("QUEUED".into()));
    assert_eq!(client.call(&["PING"]), Value::Simple("QUEUED".into()));
    assert_eq!(backend.value(0, "a"), None, "nothing runs before EXEC");
    assert_eq!(
        client.call(&["EXEC"]),
        Value::Array(vec![
            ok(),
            ok(),
            Value::Integer(1),
            Value::Simple("PONG".into())
        ])
    );
    assert_eq!(backend.value(0, "a").as_deref(), Some(&b"1"[..]));
    assert_eq!(
        backend.value(2, "a").as_deref(),
        Some(&b"1"[..]),
        "the INCR after SELECT ran in db 2"
    );
    assert_eq!(
        client.call(&["GET", "a"]),
        Value::bulk("1"),
        "SELECT inside EXEC stays in effect"
    );

    // A refused command dooms the block.
    assert_eq!(client.call(&["MULTI"]), ok());
    assert_eq!(
        client.call(&["SET", "b"]),
        error("ERR wrong number of arguments for 'set' command")
    );
    assert_eq!(
        client.call(&["SAVE"]),
        error("ERR Command not allowed inside a transaction")
    );
    assert_eq!(
        client.call(&["SET", "b", "1"]),
        Value::Simple("QUEUED".into())
    );
    assert_eq!(
        client.call(&["EXEC"]),
        error("EXECABORT Transaction discarded because of previous errors.")
    );
    assert_eq!(backend.value(2, "b"), None);

    assert_eq!(client.call(&["MULTI"]), ok());
    assert_eq!(
        client.call(&["SET", "c", "1"]),
        Value::Simple("QUEUED".into())
    );
    assert_eq!(client.call(&["DISCARD"]), ok());
    assert_eq!(backend.value(2, "c"), None);

    // WATCH: a change by someone else fails EXEC with a null array.
    assert_eq!(client.call(&["WATCH", "w"]), ok());
    backend.put(2, "w", "changed");
    assert_eq!(client.call(&["MULTI"]), ok());
    assert_eq!(
        client.call(&["WATCH", "x"]),
        error("ERR WATCH inside MULTI is not allowed")
    );
    assert_eq!(
        client.call(&["SET", "w", "mine"]),
        Value::Simple("QUEUED".into())
    );
    assert_eq!(client.call(&["EXEC"]), Value::NullArray);
    assert_eq!(backend.value(2, "w").as_deref(), Some(&b"changed"[..]));
    // EXEC ended the watch: the next transaction commits.
    assert_eq!(client.call(&["MULTI"]), ok());
    assert_eq!(
        client.call(&["SET", "w", "mine"]),
        Value::Simple("QUEUED".into())
    );
    assert_eq!(client.call(&["EXEC"]), Value::Array(vec![ok()]));
    // UNWATCH forgets.
    assert_eq!(client.call(&["WATCH", "w"]), ok());
    backend.put(2, "w", "again");
    assert_eq!(client.call(&["UNWATCH"]), ok());
    assert_eq!(client.call(&["MULTI"]), ok());
    assert_eq!(client.call(&["EXEC"]), Value::Array(Vec::new()));
    server.shutdown();
}

#[test]
fn config_get_matches_server_and_backend_settings() {
    let (server, _) = start_server(ServerOptions {
        max_clients: 7,
        ..ServerOptions::default()
    });
    let mut client = Client::connect(server.local_address());
    assert_eq!(
        client.call(&["CONFIG", "GET", "maxclients"]),
        Value::Array(vec![Value::bulk("maxclients"), Value::bulk("7")])
    );
    let both = client.call(&["CONFIG", "GET", "APPEND*", "save", "max*"]);
    assert_eq!(both.field("appendfsync"), Value::bulk("everysec"));
    assert_eq!(both.field("save"), Value::bulk(""));
    assert_eq!(both.field("maxclients"), Value::bulk("7"));
    assert_eq!(
        client.call(&["CONFIG", "GET", "nothing*"]),
        Value::Array(Vec::new())
    );
    assert_eq!(
        client.call(&["CONFIG", "GET"]),
        error("ERR wrong number of arguments for 'config|get' command")
    );
    server.shutdown();
}

#[test]
fn a_multi_block_is_bounded_by_the_query_buffer_limit() {
    let limits = Limits {
        query_buffer_bytes_max: 1000,
        ..Limits::default()
    };
    let (server, backend) = start_server(ServerOptions {
        limits,
        ..ServerOptions::default()
    });
    let mut client = Client::connect(server.local_address());
    assert_eq!(client.call(&["MULTI"]), ok());
    let value = "v".repeat(400);
    assert_eq!(
        client.call(&["SET", "a", &value]),
        Value::Simple("QUEUED".into())
    );
    assert_eq!(
        client.call(&["SET", "b", &value]),
        Value::Simple("QUEUED".into())
    );
    assert_eq!(
        client.call(&["SET", "c", &value]),
        error("ERR MULTI block exceeds the client query buffer limit")
    );
    assert_eq!(
        client.call(&["EXEC"]),
        error("EXECABORT Transaction discarded because of previous errors.")
    );
    assert_eq!(backend.value(0, "a"), None);
    server.shutdown();
}

#[test]
fn quit_replies_then_closes() {
    let (server, _) = default_server();
    let mut client = Client::connect(server.local_address());
    client.send_raw(b"QUIT\r\nPING\r\n");
    assert_eq!(client.read_until_closed(), b"+OK\r\n");
    server.shutdown();
}

#[test]
fn time_and_info() {
    let (server, backend) = default_server();
    backend.put(0, "k", "v");
    let mut client = Client::connect(server.local_address());
    let Value::Array(time) = client.call(&["TIME"]) else {
        panic!()
    };
    let seconds: u64 = time[0].text().parse().unwrap();
    let micros: u64 = time[1].text().parse().unwrap();
    assert!(seconds > 1_600_000_000 && micros < 1_000_000);
    let info = client.call(&["INFO"]).text();
    assert!(
        info.starts_with("# Server\r\nredis_version:7.2.0\r\n"),
        "{info}"
    );
    assert!(
        info.contains("# Clients\r\nconnected_clients:1\r\n"),
        "{info}"
    );
    assert!(
        info.contains("# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n"),
        "{info}"
    );
    let keyspace = client.call(&["INFO", "KEYSPACE"]).text();
    assert!(
        keyspace.starts_with("# Keyspace\r\n") && !keyspace.contains("# Server"),
        "{keyspace}"
    );
    server.shutdown();
}

#[test]
fn max_clients_refuses_the_extra_connection_with_redis_text() {
    let (server, _) = start_server(ServerOptions {
        max_clients: 2,
        ..ServerOptions::default()
    });
    let mut first = Client::connect(server.local_address());
    let mut second = Client::connect(server.local_address());
    // Both registered once they have been answered.
    assert_eq!(first.call(&["PING"]), Value::Simple("PONG".into()));
    assert_eq!(second.call(&["PING"]), Value::Simple("PONG".into()));
    let mut third = Client::connect(server.local_address());
    assert_eq!(
        third.read_until_closed(),
        b"-ERR max number of clients reached\r\n"
    );
    drop(first);
    // The slot frees when the first connection's thread ends; poll for it.
    let mut replies = Vec::new();
    for _ in 0..1000 {
        let mut retry = Client::connect(server.local_address());
        let reply = retry.call(&["PING"]);
        if reply == Value::Simple("PONG".into()) {
            replies.push(reply);
            break;
        }
        assert_eq!(reply, error("ERR max number of clients reached"));
        std::thread::yield_now();
    }
    assert_eq!(replies.len(), 1, "a slot frees after a client leaves");
    server.shutdown();
}

#[test]
fn shutdown_closes_connections_and_joins_threads() {
    let (server, _) = default_server();
    let address = server.local_address();
    let mut clients: Vec<Client> = (0..4).map(|_| Client::connect(address)).collect();
    for client in &mut clients {
        assert_eq!(client.call(&["PING"]), Value::Simple("PONG".into()));
    }
    server.shutdown();
    for client in &mut clients {
        assert!(client.read_until_closed().is_empty());
    }
    assert!(
        std::net::TcpStream::connect(address).is_err(),
        "the listener is closed"
    );
}

#[test]
fn the_shutdown_command_stops_the_server() {
    let (server, _) = default_server();
    let address = server.local_address();
    let mut client = Client::connect(address);
    client.send(&["SHUTDOWN"]);
    assert!(
        client.read_until_closed().is_empty(),
        "SHUTDOWN sends no reply"
    );
    server.wait();
    assert!(std::net::TcpStream::connect(address).is_err());
}

#[test]
fn replies_decode_as_sent() {
    // The test client's decoder against a hand-written stream.
    let (value, used) = decode(b"*2\r\n$1\r\na\r\n:5\r\nrest").unwrap();
    assert_eq!(
        value,
        Value::Array(vec![Value::bulk("a"), Value::Integer(5)])
    );
    assert_eq!(used, 15);
    assert!(decode(b"$5\r\nabc").is_none());
}

#[test]
fn a_client_that_does_not_read_holds_up_no_one_else() {
    // One event loop serves both clients.
    let (server, _) = start_server(ServerOptions {
        io_threads: 1,
        ..ServerOptions::default()
    });
    let mut slow = Client::connect(server.local_address());
    let value = "v".repeat(64 << 10);
    assert_eq!(slow.call(&["SET", "big", &value]), ok());
    // 32 MiB of replies, far more than the socket buffers hold, while the
    // client reads nothing.
    let count = 512;
    let mut pipeline = Vec::new();
    for _ in 0..count {
        keel_server::Command::from_parts(["GET", "big"]).encode(&mut pipeline);
    }
    slow.send_raw(&pipeline);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let mut other = Client::connect(server.local_address());
    assert_eq!(other.call(&["PING"]), Value::Simple("PONG".into()));
    assert_eq!(other.call(&["SET", "k", "v"]), ok());
    for _ in 0..count {
        assert_eq!(slow.read(), Value::bulk(&value));
    }
    assert_eq!(slow.call(&["PING"]), Value::Simple("PONG".into()));
    server.shutdown();
}

#[test]
fn connections_spread_over_event_loops_keep_their_order() {
    let (server, backend) = start_server(ServerOptions {
        io_threads: 3,
        ..ServerOptions::default()
    });
    let threads: Vec<_> = (0..8)
        .map(|client| {
            let address = server.local_address();
            std::thread::spawn(move || {
                let mut connection = Client::connect(address);
                for round in 0..50 {
                    let mut pipeline = Vec::new();
                    for index in 0..10 {
                        let key = format!("c{client}:{index}");
                        keel_server::Command::from_parts(["SET", &key, &round.to_string()])
                            .encode(&mut pipeline);
                        keel_server::Command::from_parts(["GET", &key]).encode(&mut pipeline);
                    }
                    connection.send_raw(&pipeline);
                    for _ in 0..10 {
                        assert_eq!(connection.read(), ok());
                        assert_eq!(connection.read(), Value::bulk(&round.to_string()));
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(backend.value(0, "c7:9").as_deref(), Some(&b"49"[..]));
    server.shutdown();
}

//! `keel serve` as a process, with Debian's redis-cli and
//! redis-benchmark (which must be installed: the tests fail, loudly, when
//! they are not): a redis-cli session, redis-benchmark with and without
//! pipelining, SHUTDOWN, SIGTERM, and start-up errors.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::{ServeProcess, free_port, keel, redis_tool};
use redis::Commands;

#[test]
fn a_redis_cli_session_works() {
    let temporary = tempfile::tempdir().unwrap();
    let server = ServeProcess::start(&temporary.path().join("data"), &[]);
    assert_eq!(server.redis_cli(&["PING"]), "PONG\n");
    assert_eq!(server.redis_cli(&["SET", "greeting", "hello"]), "OK\n");
    assert_eq!(server.redis_cli(&["GET", "greeting"]), "hello\n");
    assert_eq!(server.redis_cli(&["INCRBY", "counter", "41"]), "41\n");
    assert_eq!(server.redis_cli(&["INCR", "counter"]), "42\n");
    assert_eq!(
        server.redis_cli(&["SET", "temporary", "x", "EX", "100"]),
        "OK\n"
    );
    assert_eq!(server.redis_cli(&["TTL", "temporary"]), "100\n");
    let mut keys: Vec<String> = server
        .redis_cli(&["--scan"])
        .lines()
        .map(str::to_owned)
        .collect();
    keys.sort();
    assert_eq!(keys, ["counter", "greeting", "temporary"]);
    assert_eq!(
        server.redis_cli(&["-n", "3", "SET", "in-three", "3"]),
        "OK\n"
    );
    assert_eq!(server.redis_cli(&["-n", "3", "DBSIZE"]), "1\n");
    assert_eq!(server.redis_cli(&["DBSIZE"]), "3\n");
    let info = server.redis_cli(&["INFO", "keyspace"]);
    assert!(info.contains("db0:keys=3,expires=1"), "{info}");
    assert!(info.contains("db3:keys=1,expires=0"), "{info}");
    // Commands from standard input, as a script would send them.
    let mut child = Command::new(redis_tool("redis-cli"))
        .args(["-p", &server.port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"MULTI\nSET a 1\nINCR a\nEXEC\nGET a\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "OK\nQUEUED\nQUEUED\nOK\n2\n2\n"
    );
    // A bulk import with redis-cli --pipe (RESP on standard input).
    let mut protocol = Vec::new();
    for index in 0..1000 {
        let key = format!("piped:{index}");
        write!(
            protocol,
            "*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$1\r\nv\r\n",
            key.len()
        )
        .unwrap();
    }
    let mut child = Command::new(redis_tool("redis-cli"))
        .args(["-p", &server.port.to_string(), "--pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&protocol).unwrap();
    let output = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("errors: 0, replies: 1000"), "{text}");
    assert_eq!(server.redis_cli(&["DBSIZE"]), "1004\n");
    let (status, log) = server.terminate();
    assert!(status.success(), "{status}: {log}");
}

/// Servers started at once each get a port of their own, and the test
/// talks to its own server there: a port chosen by the test (a free one a
/// moment ago) could be bound by another test's server first, and the
/// test, finding it answering, would talk to that one (redis-benchmark
/// then hung, spinning, once that server went away).
#[test]
fn servers_started_together_each_answer_on_their_own_port() {
    let temporary = tempfile::tempdir().unwrap();
    let servers: Vec<ServeProcess> = std::thread::scope(|scope| {
        let starting: Vec<_> = (0..4)
            .map(|index| {
                let dir = temporary.path().join(format!("data{index}"));
                scope.spawn(move || ServeProcess::start(&dir, &[]))
            })
            .collect();
        starting.into_iter().map(|t| t.join().unwrap()).collect()
    });
    let mut ports: Vec<u16> = servers.iter().map(|server| server.port).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), servers.len(), "{ports:?}");
    for server in &servers {
        let info = server.redis_cli(&["INFO", "server"]);
        let has = |line: String| info.lines().any(|field| field.trim_end() == line);
        assert!(
            has(format!("process_id:{}", server.child.id())),
            "port {}: {info}",
            server.port
        );
        assert!(has(format!("tcp_port:{}", server.port)), "{info}");
    }
    assert_eq!(
        common::listening_port(
            "2026-12-06T23:29:52Z  INFO keel::serve: keel serve: ready to accept \
             connections address=127.0.0.1:7401 metrics=None dir=d appendfsync=always"
        ),
        Some(7401)
    );
    assert_eq!(common::listening_port("keel-server listening"), None);
}

/// A redis-benchmark run of this size takes a few seconds.
const BENCHMARK_SECONDS_MAX: u64 = 120;

/// Waits for `child`, failing the test (with the server's log) rather than
/// hanging CI if it runs past `seconds`: redis-benchmark 7.0 busy-loops
/// forever once a client's connection has failed.
fn finish_within(
    mut child: std::process::Child,
    seconds: u64,
    server: &ServeProcess,
) -> std::process::Output {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            let output = child.wait_with_output().unwrap();
            panic!(
                "redis-benchmark did not finish in {seconds} s: {output:?}; server: {:?}",
                server.redis_cli(&["INFO", "clients"])
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn redis_benchmark_runs_with_and_without_pipelining() {
    let temporary = tempfile::tempdir().unwrap();
    let server = ServeProcess::start(&temporary.path().join("data"), &["--appendfsync", "always"]);
    for pipeline in ["1", "16"] {
        let output = Command::new(redis_tool("redis-benchmark"))
            .args([
                "-p",
                &server.port.to_string(),
                "-t",
                "set,get,incr,mset",
                "-n",
                "2000",
                "-c",
                "8",
                "-r",
                "500",
                "-P",
                pipeline,
                "-q",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let output = finish_within(output, BENCHMARK_SECONDS_MAX, &server);
        assert!(output.status.success(), "{output:?}");
        let text = String::from_utf8_lossy(&output.stdout).replace('\r', "\n");
        for test in ["SET", "GET", "INCR", "MSET"] {
            assert!(
                text.lines()
                    .any(|line| line.starts_with(test) && line.contains("requests per second")),
                "no {test} result with -P {pipeline}:\n{text}"
            );
        }
    }
    let mut client = server.client();
    let counters: Vec<String> = client.keys("counter:*").unwrap();
    let values: Vec<i64> = redis::cmd("MGET")
        .arg(&counters)
        .query(&mut client)
        .unwrap();
    assert_eq!(
        values.iter().sum::<i64>(),
        4000,
        "every INCR of both runs counted"
    );
    let keys: i64 = redis::cmd("DBSIZE").query(&mut client).unwrap();
    assert!(keys > 100, "SET with -r 500 wrote many keys: {keys}");
    let mut keys: Vec<String> = client.keys("key:*").unwrap();
    let key = keys.pop().unwrap();
    let value: Vec<u8> = client.get(&key).unwrap();
    assert_eq!(value.len(), 3, "redis-benchmark's 3-byte payload in {key}");
    drop(client);
    let (status, _) = server.terminate();
    assert!(status.success());
}

#[test]
fn shutdown_and_sigterm_close_the_database_cleanly() {
    let temporary = tempfile::tempdir().unwrap();
    let dir = temporary.path().join("data");
    let server = ServeProcess::start(&dir, &["--appendfsync", "no"]);
    let mut client = server.client();
    let _: () = client.set("survives", "shutdown").unwrap();
    drop(client);
    // SHUTDOWN closes the connection without a reply; redis-cli says so.
    let _ = Command::new(redis_tool("redis-cli"))
        .args(["-p", &server.port.to_string(), "SHUTDOWN"])
        .output()
        .unwrap();
    let (status, log) = server.wait_for_exit();
    assert!(status.success(), "{status}: {log}");
    assert!(log.contains("database closed cleanly"), "{log}");

    let server = ServeProcess::start(&dir, &["--appendfsync", "no"]);
    let mut client = server.client();
    let value: String = client.get("survives").unwrap();
    assert_eq!(value, "shutdown");
    let _: () = client.set("survives", "sigterm").unwrap();
    drop(client);
    let (status, log) = server.terminate();
    assert!(status.success(), "{status}: {log}");
    assert!(log.contains("signal received"), "{log}");
    assert!(log.contains("database closed cleanly"), "{log}");

    // Closed cleanly: a checkpoint holds everything, nothing to replay.
    let output = keel(&["stat", dir.to_str().unwrap()]);
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("commits replayed 0"), "{text}");
    assert!(text.contains("db0              1 keys"), "{text}");
}

#[test]
fn start_up_errors_name_the_problem_and_fail() {
    let temporary = tempfile::tempdir().unwrap();
    let file = temporary.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let output = keel(&["serve", "--dir", file.join("data").to_str().unwrap()]);
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(
        text.contains("cannot create the data directory") && text.contains("a-file"),
        "{text}"
    );

    let dir = temporary.path().join("data");
    let server = ServeProcess::start(&dir, &[]);
    // The same port again: taken.
    let output = keel(&[
        "serve",
        "--port",
        &server.port.to_string(),
        "--dir",
        temporary.path().join("other").to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(text.contains("cannot listen on 127.0.0.1:"), "{text}");
    // The same directory again: locked.
    let output = keel(&[
        "serve",
        "--port",
        &free_port().to_string(),
        "--dir",
        dir.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(
        text.contains("cannot open the database") && text.contains("locked"),
        "{text}"
    );
    let output = keel(&["serve", "--appendfsync", "sometimes"]);
    assert!(!output.status.success());
    let output = keel(&["serve", "--page-size", "3000"]);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("--page-size 3000"),
        "{output:?}"
    );
    drop(server);
}

#[test]
fn keys_up_to_64_kib_on_every_page_size() {
    let temporary = tempfile::tempdir().unwrap();
    let too_long = "k".repeat(70_000);
    for (name, flags) in [("small", &[][..]), ("big", &["--page-size", "16kb"][..])] {
        let server = ServeProcess::start(&temporary.path().join(name), flags);
        let mut client = server.client();
        for length in [3_000usize, 65_000] {
            let key = "k".repeat(length);
            let _: () = client.set(&key, length).unwrap();
            let value: usize = client.get(&key).unwrap();
            assert_eq!(value, length, "{name}: a key of {length} bytes");
        }
        let result: redis::RedisResult<()> = client.set(&too_long, "v");
        let error = result.unwrap_err().to_string();
        assert!(error.contains("is over the limit"), "{name}: {error}");
    }
}

/// The CPUs the thread `tid` of process `pid` may run on, from
/// /proc/PID/task/TID/status, and the thread's name.
#[cfg(target_os = "linux")]
fn threads_and_cpus(pid: u32) -> Vec<(String, String)> {
    let mut threads = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let task = task.unwrap().path();
        let name = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
        let status = std::fs::read_to_string(task.join("status")).unwrap_or_default();
        let cpus = status
            .lines()
            .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
            .unwrap_or_default()
            .trim()
            .to_owned();
        threads.push((name.trim().to_owned(), cpus));
    }
    threads
}

#[cfg(target_os = "linux")]
#[test]
fn server_cpulist_pins_the_event_loops() {
    let allowed = keel_server::current_thread_cpus();
    let first = allowed[0];
    let temporary = tempfile::tempdir().unwrap();
    let list = first.to_string();
    let server = ServeProcess::start(
        &temporary.path().join("data"),
        &["--server-cpulist", &list, "--io-threads", "2"],
    );
    assert_eq!(server.redis_cli(&["SET", "pinned", "yes"]), "OK\n");
    assert_eq!(server.redis_cli(&["GET", "pinned"]), "yes\n");
    let threads = threads_and_cpus(server.child.id());
    let workers: Vec<&(String, String)> = threads
        .iter()
        .filter(|(name, _)| name.starts_with("keel-worker"))
        .collect();
    assert_eq!(workers.len(), 2, "{threads:?}");
    for (name, cpus) in &workers {
        assert_eq!(cpus, &list, "{name} runs on {cpus}");
    }
    drop(server);

    // A CPU the machine lacks, or a list that is not one, stops the start.
    let output = keel(&[
        "serve",
        "--port",
        &free_port().to_string(),
        "--dir",
        temporary.path().join("other").to_str().unwrap(),
        "--server-cpulist",
        "1023",
    ]);
    assert!(!output.status.success());
    let text = String::from_utf8_lossy(&output.stderr);
    assert!(
        text.contains("cannot pin a server thread to CPUs [1023]"),
        "{text}"
    );
    let output = keel(&["serve", "--server-cpulist", "3-1"]);
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("\"3-1\""),
        "{output:?}"
    );
}

#[test]
fn metrics_port_serves_prometheus_metrics() {
    use std::io::Read;
    let temporary = tempfile::tempdir().unwrap();
    let metrics_port = free_port();
    let server = ServeProcess::start(
        &temporary.path().join("data"),
        &["--metrics-port", &metrics_port.to_string()],
    );
    let mut client = server.client();
    let _: () = client.set("measured", "1").unwrap();
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", metrics_port)).unwrap();
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: keel\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains("keel_command_calls_total{command=\"set\"} 1\n"),
        "{response}"
    );
    assert!(response.contains("# TYPE keel_commit_duration_seconds histogram"));
    drop(client);
    let (status, log) = server.terminate();
    assert!(status.success(), "{status}: {log}");
}

#[test]
fn every_type_survives_dump_and_load() {
    let temporary = tempfile::tempdir().unwrap();
    let source = temporary.path().join("source");
    let server = ServeProcess::start(&source, &[]);
    for command in [
        &["SET", "string", "text"][..],
        &["HSET", "hash", "field", "value", "other", "2"],
        &["SADD", "set", "a", "b", "c"],
        &["RPUSH", "list", "x", "y", "z"],
        &["ZADD", "zset", "1.5", "m", "-2", "n"],
        &["EXPIRE", "hash", "1000"],
        &["-n", "2", "LPUSH", "elsewhere", "q"],
    ] {
        let reply = server.redis_cli(command);
        assert!(!reply.contains("ERR"), "{command:?}: {reply}");
    }
    let (status, log) = server.terminate();
    assert!(status.success(), "{log}");

    let file = temporary.path().join("types.keeldump");
    let output = keel(&["dump", source.to_str().unwrap(), file.to_str().unwrap()]);
    assert!(output.status.success(), "{output:?}");
    let target = temporary.path().join("target");
    let output = keel(&["load", target.to_str().unwrap(), file.to_str().unwrap()]);
    assert!(output.status.success(), "{output:?}");

    let server = ServeProcess::start(&target, &[]);
    assert_eq!(server.redis_cli(&["GET", "string"]), "text\n");
    assert_eq!(server.redis_cli(&["HGET", "hash", "other"]), "2\n");
    let ttl: i64 = server.redis_cli(&["TTL", "hash"]).trim().parse().unwrap();
    assert!((900..=1000).contains(&ttl), "{ttl}");
    assert_eq!(server.redis_cli(&["SMEMBERS", "set"]), "a\nb\nc\n");
    assert_eq!(
        server.redis_cli(&["LRANGE", "list", "0", "-1"]),
        "x\ny\nz\n"
    );
    assert_eq!(
        server.redis_cli(&["ZRANGE", "zset", "0", "-1", "WITHSCORES"]),
        "n\n-2\nm\n1.5\n"
    );
    assert_eq!(server.redis_cli(&["-n", "2", "LPOP", "elsewhere"]), "q\n");
    assert_eq!(server.redis_cli(&["TYPE", "zset"]), "zset\n");
}

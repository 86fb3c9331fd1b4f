//! `keel serve --appendfsync always` killed with SIGKILL while clients
//! write: every write a client saw acknowledged is there after a restart.
//! Several rounds on one directory, so recovery also runs over earlier
//! recoveries; writers use SET, INCR and MULTI blocks, from several
//! connections at once (group commit).

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::ServeProcess;
use rand::Rng;
use redis::Commands;

const ROUNDS: u32 = 4;
const WRITERS: u32 = 3;

/// What one writer saw acknowledged.
#[derive(Debug, Default)]
struct Acknowledged {
    /// Keys set with SET, and their values.
    set: Vec<(String, String)>,
    /// INCRs of the shared counter acknowledged, and attempted.
    increments: u64,
    increments_attempted: u64,
    /// MULTI blocks (each sets two keys).
    blocks: Vec<String>,
}

fn write_until_killed(port: u16, round: u32, writer: u32, acknowledged: &Mutex<Acknowledged>) {
    let Ok(client) = redis::Client::open(format!("redis://127.0.0.1:{port}/")) else {
        return;
    };
    let Ok(mut connection) = client.get_connection() else {
        return;
    };
    for index in 0u64.. {
        let key = format!("r{round}:w{writer}:k{index}");
        let value = format!("value-{round}-{writer}-{index}");
        let result: redis::RedisResult<()> = match index % 3 {
            0 => connection.set(&key, &value),
            1 => {
                acknowledged.lock().unwrap().increments_attempted += 1;
                connection.incr::<_, _, i64>("counter", 1).map(|_| ())
            }
            _ => redis::pipe()
                .atomic()
                .set(format!("{key}:a"), &value)
                .set(format!("{key}:b"), &value)
                .query(&mut connection),
        };
        if result.is_err() {
            return;
        }
        let mut seen = acknowledged.lock().unwrap();
        match index % 3 {
            0 => seen.set.push((key, value)),
            1 => seen.increments += 1,
            _ => seen.blocks.push(key),
        }
    }
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let temporary = tempfile::tempdir().unwrap();
    let dir = temporary.path().join("data");
    let mut rng = rand::rng();
    let mut all = Acknowledged::default();
    for round in 0..ROUNDS {
        let server = ServeProcess::start(
            &dir,
            &["--appendfsync", "always", "--checkpoint-wal-bytes", "64kb"],
        );
        let port = server.port;
        let seen = Arc::new(Mutex::new(Acknowledged::default()));
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let seen = Arc::clone(&seen);
                std::thread::spawn(move || write_until_killed(port, round, writer, &seen))
            })
            .collect();
        // Let them write for a random while, then kill without warning.
        std::thread::sleep(Duration::from_millis(rng.random_range(100..600)));
        server.kill();
        for writer in writers {
            writer.join().unwrap();
        }
        let seen = Arc::into_inner(seen).unwrap().into_inner().unwrap();
        all.set.extend(seen.set);
        all.increments += seen.increments;
        all.increments_attempted += seen.increments_attempted;
        all.blocks.extend(seen.blocks);

        let server = ServeProcess::start(&dir, &["--appendfsync", "always"]);
        let mut client = server.client();
        for (key, value) in &all.set {
            let found: Option<String> = client.get(key).unwrap();
            assert_eq!(
                found.as_deref(),
                Some(value.as_str()),
                "round {round}: {key}"
            );
        }
        for key in &all.blocks {
            let found: (Option<String>, Option<String>) = redis::pipe()
                .get(format!("{key}:a"))
                .get(format!("{key}:b"))
                .query(&mut client)
                .unwrap();
            assert!(
                found.0.is_some() && found.0 == found.1,
                "round {round}: block {key} lost or torn: {found:?}"
            );
        }
        let counter: Option<u64> = client.get("counter").unwrap();
        let counter = counter.unwrap_or(0);
        assert!(
            (all.increments..=all.increments_attempted).contains(&counter),
            "round {round}: counter {counter}, acknowledged {}, attempted {}",
            all.increments,
            all.increments_attempted
        );
        // The in-flight INCRs that did land are now acknowledged too.
        all.increments = counter;
        all.increments_attempted = counter;
        drop(client);
        let (status, log) = server.terminate();
        assert!(status.success(), "{status}: {log}");
    }
    assert!(
        !all.set.is_empty() && !all.blocks.is_empty(),
        "the writers wrote something"
    );
}

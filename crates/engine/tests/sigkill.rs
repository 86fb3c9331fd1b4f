//! A real process killed with SIGKILL: a child commits with `Sync`
//! durability on the real file system and prints each acknowledged commit;
//! the parent kills it at a random moment, reopens the database and checks
//! that every acknowledged commit is there. Several rounds on one database,
//! so recovery also runs over earlier recoveries.
//!
//! The binary is its own child (`harness = false`): with `--child DIR
//! FIRST` it commits keys from FIRST on until killed.

#![allow(clippy::unwrap_used)] // Tests: a failed step should stop the test loudly.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use keel::{Database, Durability, Options};
use rand::Rng;

const ROUNDS: u32 = 6;

fn value(index: u64) -> Vec<u8> {
    let mut value = index.to_le_bytes().to_vec();
    value.resize(64 + (index % 7) as usize * 100, index as u8);
    value
}

fn child(dir: &str, first: u64) {
    let options = Options {
        durability: Durability::Sync,
        checkpoint_wal_bytes: 16 << 10,
        ..Options::default()
    };
    let db = Database::open(dir, options).unwrap();
    let keyspace = db.default_keyspace();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for index in first.. {
        db.update(|tx| {
            tx.put(
                &keyspace,
                format!("key{index:010}").as_bytes(),
                value(index),
            )
        })
        .unwrap();
        writeln!(out, "ack {index}").unwrap();
        out.flush().unwrap();
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(position) = args.iter().position(|arg| arg == "--child") {
        child(&args[position + 1], args[position + 2].parse().unwrap());
        return;
    }
    // `cargo test -- --list` and filters: run only when not filtered out.
    if args.iter().any(|arg| arg == "--list") {
        println!("sigkill_keeps_acknowledged_commits: test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_str().unwrap().to_string();
    let mut rng = rand::rng();
    let mut acknowledged: Vec<(u64, u64)> = Vec::new();
    let mut next_first: u64 = 0;
    for round in 0..ROUNDS {
        let mut process = Command::new(std::env::current_exe().unwrap())
            .args(["--child", &path, &next_first.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = BufReader::new(process.stdout.take().unwrap());
        let target = rng.random_range(20..200u64);
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = 0;
        let mut last = None;
        for line in lines.lines() {
            let line = line.unwrap();
            let index: u64 = line.strip_prefix("ack ").unwrap().parse().unwrap();
            last = Some(index);
            seen += 1;
            if seen >= target || Instant::now() > deadline {
                break;
            }
        }
        process.kill().unwrap();
        process.wait().unwrap();
        let last = last.expect("the child acknowledged commits");
        acknowledged.push((next_first, last));
        next_first = last + 1_000_000;
        let db = Database::open(&path, Options::default()).unwrap();
        let keyspace = db.default_keyspace();
        let missing = db
            .view(|tx| {
                let mut missing = Vec::new();
                for index in acknowledged.iter().flat_map(|&(first, last)| first..=last) {
                    match tx.get(&keyspace, format!("key{index:010}").as_bytes())? {
                        Some(found) if found.as_ref() == value(index).as_slice() => {}
                        _ => missing.push(index),
                    }
                }
                Ok(missing)
            })
            .unwrap();
        assert!(
            missing.is_empty(),
            "round {round}: acknowledged commits lost: {missing:?}"
        );
        assert!(db.check().unwrap().is_empty());
        drop(db);
        println!("round {round}: killed after {seen} acknowledged commits; all present");
    }
    let keys: u64 = acknowledged
        .iter()
        .map(|(first, last)| last - first + 1)
        .sum();
    println!("test sigkill_keeps_acknowledged_commits ... ok ({keys} acknowledged keys checked)");
}

//! `keel check`, `keel stat`, `keel dump` and `keel load` on real
//! database directories: a dump loads back to the same entries, a damaged
//! dump writes nothing, a damaged page file fails the check, and errors
//! name the path with a non-zero exit status.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::keel;
use keel::{Database, Options};

type Contents = BTreeMap<String, BTreeMap<Vec<u8>, (Vec<u8>, Option<u64>)>>;

/// Far in the future: 2100-01-01.
const FAR_DEADLINE_MS: u64 = 4_102_444_800_000;

fn fill(dir: &Path) {
    let database = Database::open(dir, Options::default()).unwrap();
    let users = database.keyspace("users").unwrap();
    let db0 = database.keyspace("db0").unwrap();
    database
        .update(|transaction| {
            for index in 0..3000u32 {
                let value = vec![(index % 251) as u8; (index % 40) as usize * 50];
                transaction.put(&users, format!("user:{index:05}").as_bytes(), value)?;
            }
            transaction.put_expiring_at(&db0, b"expires-later", "soon", FAR_DEADLINE_MS)?;
            transaction.put(&db0, b"", "the empty key")?;
            // Keys up to the 64 KiB limit, two sharing a long prefix.
            for (length, last) in [(65_000usize, b'a'), (65_000, b'b'), (5_000, b'c')] {
                let mut key = vec![b'L'; length];
                key[length - 1] = last;
                transaction.put(&db0, key, vec![last; 10])?;
            }
            transaction.put(&db0, b"\x00\xffbinary", vec![0u8, 1, 2])
        })
        .unwrap();
    database.keyspace("empty").unwrap();
    database.close().unwrap();
}

fn contents(dir: &Path) -> Contents {
    let database = Database::open(
        dir,
        Options {
            create_if_missing: false,
            ..Options::default()
        },
    )
    .unwrap();
    let mut all = Contents::new();
    for name in database.keyspaces() {
        let keyspace = database.keyspace(&name).unwrap();
        let entries = database
            .view(|transaction| {
                let keys: Vec<_> = transaction
                    .range(&keyspace, ..)?
                    .map(|item| item.map(|(key, _)| key))
                    .collect::<keel::Result<_>>()?;
                let mut entries = BTreeMap::new();
                for key in keys {
                    let (value, expiry) = transaction.get_with_expiry(&keyspace, &key)?.unwrap();
                    entries.insert(key.to_vec(), (value.to_vec(), expiry));
                }
                Ok(entries)
            })
            .unwrap();
        all.insert(name, entries);
    }
    database.close().unwrap();
    all
}

fn text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn dump_then_load_gives_the_same_entries() {
    let temporary = tempfile::tempdir().unwrap();
    let source = temporary.path().join("source");
    fill(&source);
    let file = temporary.path().join("all.keeldump");
    let output = keel(&["dump", source.to_str().unwrap(), file.to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("dumped 3006 entries"),
        "{}",
        text(&output)
    );

    let target = temporary.path().join("target");
    let output = keel(&["load", target.to_str().unwrap(), file.to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("loaded 3006 entries"),
        "{}",
        text(&output)
    );
    assert!(
        !text(&output).contains("(0 keyspace(s) bulk loaded)"),
        "a load into a new database takes the bulk path: {}",
        text(&output)
    );
    let expected = contents(&source);
    assert_eq!(
        expected["db0"][&b"expires-later".to_vec()].1,
        Some(FAR_DEADLINE_MS)
    );
    assert_eq!(contents(&target), expected);

    // One keyspace only.
    let only = temporary.path().join("users.keeldump");
    let output = keel(&[
        "dump",
        source.to_str().unwrap(),
        only.to_str().unwrap(),
        "--keyspace",
        "users",
    ]);
    assert!(output.status.success(), "{}", text(&output));
    let partial = temporary.path().join("partial");
    let output = keel(&["load", partial.to_str().unwrap(), only.to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output));
    let loaded = contents(&partial);
    assert_eq!(loaded["users"], expected["users"]);
    assert!(loaded.get("db0").is_none_or(BTreeMap::is_empty));

    let output = keel(&[
        "dump",
        source.to_str().unwrap(),
        only.to_str().unwrap(),
        "--keyspace",
        "nonexistent",
    ]);
    assert!(!output.status.success());
    assert!(
        text(&output).contains("no keyspace \"nonexistent\""),
        "{}",
        text(&output)
    );
}

#[test]
fn a_load_into_keyspaces_holding_keys_needs_replace_or_merge() {
    let temporary = tempfile::tempdir().unwrap();
    let source = temporary.path().join("source");
    fill(&source);
    let file = temporary.path().join("all.keeldump");
    let output = keel(&["dump", source.to_str().unwrap(), file.to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output));
    let expected = contents(&source);

    let target = temporary.path().join("target");
    {
        let database = Database::open(&target, Options::default()).unwrap();
        let users = database.keyspace("users").unwrap();
        database
            .update(|transaction| {
                transaction.put(&users, b"user:00001", "old value")?;
                transaction.put(&users, b"zz-only-in-target", "kept by --merge")
            })
            .unwrap();
        database.close().unwrap();
    }
    let before = contents(&target);
    let output = keel(&["load", target.to_str().unwrap(), file.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(
        text(&output).contains("\"users\"") && text(&output).contains("--replace"),
        "{}",
        text(&output)
    );
    assert_eq!(contents(&target), before, "a refused load writes nothing");

    let merged_dir = temporary.path().join("merged");
    fs_copy(&target, &merged_dir);
    let output = keel(&[
        "load",
        merged_dir.to_str().unwrap(),
        file.to_str().unwrap(),
        "--merge",
    ]);
    assert!(output.status.success(), "{}", text(&output));
    let merged = contents(&merged_dir);
    let mut users = expected["users"].clone();
    users.insert(
        b"zz-only-in-target".to_vec(),
        (b"kept by --merge".to_vec(), None),
    );
    assert_eq!(
        merged["users"], users,
        "the dump's values win, the rest stay"
    );

    let output = keel(&[
        "load",
        target.to_str().unwrap(),
        file.to_str().unwrap(),
        "--replace",
    ]);
    assert!(output.status.success(), "{}", text(&output));
    assert_eq!(contents(&target), expected);
    let output = keel(&["check", target.to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output));
}

/// Copies a (closed) database directory.
fn fs_copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            fs_copy(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn a_damaged_dump_is_refused_before_anything_is_written() {
    let temporary = tempfile::tempdir().unwrap();
    let source = temporary.path().join("source");
    fill(&source);
    let file = temporary.path().join("all.keeldump");
    assert!(
        keel(&["dump", source.to_str().unwrap(), file.to_str().unwrap()])
            .status
            .success()
    );
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    let damaged = temporary.path().join("damaged.keeldump");
    std::fs::write(&damaged, &bytes).unwrap();
    let target = temporary.path().join("target");
    let output = keel(&["load", target.to_str().unwrap(), damaged.to_str().unwrap()]);
    assert!(!output.status.success());
    let message = text(&output);
    assert!(
        message.contains("damaged.keeldump is damaged") && message.contains("checksum mismatch"),
        "{message}"
    );
    assert!(!target.exists(), "nothing was written");

    let truncated = temporary.path().join("truncated.keeldump");
    std::fs::write(&truncated, &bytes[..middle]).unwrap();
    let output = keel(&[
        "load",
        target.to_str().unwrap(),
        truncated.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    assert!(text(&output).contains("truncated"), "{}", text(&output));
}

#[test]
fn check_and_stat_report_on_a_database() {
    let temporary = tempfile::tempdir().unwrap();
    let dir = temporary.path().join("db");
    fill(&dir);
    let output = keel(&["check", dir.to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output));
    let report = text(&output);
    assert!(
        report.contains("OK: every checksum and invariant holds"),
        "{report}"
    );
    assert!(report.contains("3006 entries read"), "{report}");

    let output = keel(&["stat", dir.to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output));
    let report = text(&output);
    for expected in [
        "page file",
        "checkpoint",
        "users            3000 keys",
        "empty            0 keys",
    ] {
        assert!(
            report.contains(expected),
            "stat lacks {expected:?}:\n{report}"
        );
    }

    // Damage every page past the two meta slots.
    let pages = dir.join("pages");
    let mut bytes = std::fs::read(&pages).unwrap();
    let page_bytes = 4096;
    for block in 2..bytes.len() / page_bytes {
        bytes[block * page_bytes + 100] ^= 0x5a;
    }
    std::fs::write(&pages, &bytes).unwrap();
    let output = keel(&["check", dir.to_str().unwrap()]);
    assert!(
        !output.status.success(),
        "damage went unnoticed: {}",
        text(&output)
    );
    let report = text(&output).to_lowercase();
    assert!(
        report.contains("corrupt") || report.contains("checksum") || report.contains("problem"),
        "{report}"
    );
}

#[test]
fn compact_gives_free_space_back_and_keeps_every_entry() {
    let temporary = tempfile::tempdir().unwrap();
    let dir = temporary.path().join("db");
    fill(&dir);
    {
        let database = Database::open(&dir, Options::default()).unwrap();
        let users = database.keyspace("users").unwrap();
        database
            .update(|transaction| {
                for index in 0..2700u32 {
                    transaction.delete(&users, format!("user:{index:05}").as_bytes())?;
                }
                Ok(())
            })
            .unwrap();
        database.close().unwrap();
    }
    let before = contents(&dir);
    let bytes_before = std::fs::metadata(dir.join("pages")).unwrap().len();
    let output = keel(&["stat", dir.to_str().unwrap()]);
    assert!(
        text(&output).contains("that `keel compact` can give back"),
        "{}",
        text(&output)
    );
    let output = keel(&["compact", dir.to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(text(&output).contains("page file"), "{}", text(&output));
    let bytes_after = std::fs::metadata(dir.join("pages")).unwrap().len();
    assert!(
        bytes_after * 2 < bytes_before,
        "{bytes_before} -> {bytes_after}"
    );
    assert_eq!(contents(&dir), before);
    let output = keel(&["check", dir.to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output));
    // A directory that is no database: a clear error, exit status 1.
    let output = keel(&["compact", temporary.path().join("none").to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(
        text(&output).contains("is not a directory"),
        "{}",
        text(&output)
    );
}

#[test]
fn errors_name_the_path_and_fail() {
    let temporary = tempfile::tempdir().unwrap();
    let missing = temporary.path().join("missing");
    for command in ["check", "stat"] {
        let output = keel(&[command, missing.to_str().unwrap()]);
        assert!(!output.status.success());
        assert!(
            text(&output).contains("missing is not a directory"),
            "{command}: {}",
            text(&output)
        );
    }
    let empty = temporary.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let output = keel(&["check", empty.to_str().unwrap()]);
    assert!(!output.status.success());
    assert!(
        text(&output).contains("holds no keel database"),
        "{}",
        text(&output)
    );
    let output = keel(&[
        "load",
        empty.to_str().unwrap(),
        missing.join("file").to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    assert!(text(&output).contains("cannot open"), "{}", text(&output));
    let not_a_dump = temporary.path().join("not-a-dump");
    std::fs::write(&not_a_dump, b"hello, this is not a dump at all").unwrap();
    let output = keel(&[
        "load",
        empty.to_str().unwrap(),
        not_a_dump.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    assert!(text(&output).contains("bad magic"), "{}", text(&output));
}

#[test]
fn bench_runs_every_workload_and_prints_a_table() {
    let temporary = tempfile::tempdir().unwrap();
    let dir = temporary.path().join("bench");
    let output = keel(&[
        "bench",
        "--dir",
        dir.to_str().unwrap(),
        "--keys",
        "2000",
        "--threads",
        "2",
        "--commits-per-thread",
        "20",
    ]);
    assert!(output.status.success(), "{}", text(&output));
    let table = String::from_utf8_lossy(&output.stdout);
    for workload in [
        "bulk load",
        "individual writes",
        "batch writes (keys)",
        "random reads",
        "range reads (of 10)",
        "removals",
        "concurrent writers",
    ] {
        assert!(
            table.lines().any(|line| line.starts_with(workload)),
            "no row for {workload}:\n{table}"
        );
    }
    assert!(!dir.exists(), "the scratch directory was removed");
}

/// Every file under `dir` with its bytes.
fn directory_bytes(dir: &Path) -> BTreeMap<std::path::PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(directory_bytes(&path));
        } else {
            files.insert(path.clone(), std::fs::read(&path).unwrap());
        }
    }
    files
}

/// Issue 16, item 4: `keel check` changes no file (read-only open), prints
/// each problem and exits 1 — here a log segment cut short, which opens
/// nothing silently; point-in-time mode checks the state before the
/// damage and still reports the damage.
#[test]
fn check_reports_a_shortened_log_and_changes_nothing() {
    let temporary = tempfile::tempdir().unwrap();
    let dir = temporary.path().join("db");
    fill(&dir);
    let untouched = directory_bytes(&dir);
    let output = keel(&["check", dir.to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(directory_bytes(&dir) == untouched, "check changed a file");
    let output = keel(&["stat", dir.to_str().unwrap()]);
    assert!(output.status.success(), "{}", text(&output));
    assert!(directory_bytes(&dir) == untouched, "stat changed a file");

    let mut segments: Vec<_> = std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    segments.sort();
    let segment = segments.last().unwrap().clone();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap()
        .set_len(30_000)
        .unwrap();
    let damaged = directory_bytes(&dir);
    let output = keel(&["check", dir.to_str().unwrap()]);
    let report = text(&output);
    assert_eq!(output.status.code(), Some(1), "{report}");
    assert!(report.contains("1 problem(s)"), "{report}");
    assert!(
        report.contains(segment.file_name().unwrap().to_str().unwrap()),
        "the problem names the file: {report}"
    );
    assert!(report.contains("shorter than"), "{report}");
    assert!(directory_bytes(&dir) == damaged, "check changed a file");
    let output = keel(&[
        "check",
        "--recovery-mode",
        "point-in-time",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    assert!(directory_bytes(&dir) == damaged, "check changed a file");
}

/// `keel torture` runs the simulator and the kill loop, prints a report
/// naming the seed, and exits 0 when nothing was lost; bad flags exit 2.
#[test]
fn torture_reports_and_exits_by_what_it_found() {
    let output = keel(&["torture", "--seed", "3", "--images", "60"]);
    let report = text(&output);
    assert!(output.status.success(), "{report}");
    assert!(report.contains("seeds 3.."), "{report}");
    // At least the images asked for (a round in progress finishes).
    let images: u64 = report
        .split(" crash images")
        .next()
        .and_then(|before| before.rsplit(' ').next())
        .and_then(|count| count.parse().ok())
        .unwrap_or(0);
    assert!(images >= 60, "{report}");
    assert!(report.contains(" 0 lost"), "{report}");

    let scratch = tempfile::tempdir().unwrap();
    let dir = scratch.path().join("db");
    let output = keel(&[
        "torture",
        "--kill-process",
        "--kills",
        "4",
        "--seed",
        "9",
        "--dir",
        dir.to_str().unwrap(),
    ]);
    let report = text(&output);
    assert!(output.status.success(), "{report}");
    assert!(report.contains("4 kills"), "{report}");
    assert!(report.contains(" 0 lost"), "{report}");
    // The directory now holds a database: a second run refuses it.
    let output = keel(&["torture", "--kill-process", "--dir", dir.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output));

    // A run by duration prints its progress as it goes.
    let output = keel(&["torture", "--seed", "4", "--duration", "2s"]);
    let report = text(&output);
    assert!(output.status.success(), "{report}");
    assert!(report.contains(" s: "), "a progress line: {report}");
    assert!(
        report.contains("durable commits verified, 0 lost"),
        "{report}"
    );

    let output = keel(&["torture", "--duration", "5x"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
}

//! The child of the kill loop ([`crate::kill_loop`]): a process that opens
//! a database on the real file system (recovering the last child's crash),
//! reports the state it found, then commits with `Sync` durability from
//! several threads — with fold, checkpoint, truncation and archiving at
//! aggressive settings — until it is killed.
//!
//! Every commit of thread `t` is the next in a sequence `0, 1, 2, …` whose
//! contents are a pure function of `(t, n)` ([`Operation::of`]): it writes
//! one slot (or deletes it) and the thread's `last` key (= `n`), and every
//! tenth adds one to a shared counter. So the state after recovery is a
//! function of each thread's recovered `last`, which the parent checks.
//!
//! Lines on standard output (each flushed): `state T S N|-|bad` for every
//! slot, `last T N|-`, `counter C`, `ready`, then `ack T N` per
//! acknowledged commit, or `checkpointed`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keel::{Database, Durability, Keyspace, Options};

/// Slots each thread writes.
pub const SLOTS_PER_THREAD: u64 = 64;
/// Every this many commits of a thread, one adds to the shared counter.
pub const COUNTER_EVERY: u64 = 10;
/// The keyspace the loop writes.
pub const KEYSPACE: &str = "torture";

/// What a child does after reporting the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildMode {
    /// Commit from every thread until killed.
    Work,
    /// Write a checkpoint, say so, then wait to be killed.
    Checkpoint,
    /// Wait to be killed.
    Idle,
}

impl ChildMode {
    /// The mode's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ChildMode::Work => "work",
            ChildMode::Checkpoint => "checkpoint",
            ChildMode::Idle => "idle",
        }
    }

    fn parse(name: &str) -> Option<ChildMode> {
        [ChildMode::Work, ChildMode::Checkpoint, ChildMode::Idle]
            .into_iter()
            .find(|mode| mode.name() == name)
    }
}

/// A child's arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildArguments {
    /// The database directory.
    pub dir: PathBuf,
    /// Committing threads.
    pub threads: u64,
    /// What to do after reporting the state.
    pub mode: ChildMode,
    /// Copy log segments to `DIR/../archive` before removing them.
    pub archive: bool,
}

impl ChildArguments {
    /// The arguments as the child's command line takes them (after the
    /// program's own words).
    pub fn to_args(&self) -> Vec<String> {
        vec![
            "--dir".into(),
            self.dir.display().to_string(),
            "--threads".into(),
            self.threads.to_string(),
            "--mode".into(),
            self.mode.name().into(),
            "--archive".into(),
            self.archive.to_string(),
        ]
    }

    /// Parses [`ChildArguments::to_args`]'s words.
    ///
    /// # Errors
    /// A message naming the word that is missing or wrong.
    pub fn parse(args: &[String]) -> Result<ChildArguments, String> {
        let value = |flag: &str| {
            args.iter()
                .position(|arg| arg == flag)
                .and_then(|at| args.get(at + 1))
                .ok_or_else(|| format!("kill-loop child: {flag} is missing"))
        };
        Ok(ChildArguments {
            dir: PathBuf::from(value("--dir")?),
            threads: value("--threads")?
                .parse()
                .map_err(|_| "kill-loop child: --threads takes a number".to_string())?,
            mode: ChildMode::parse(value("--mode")?)
                .ok_or_else(|| "kill-loop child: --mode is work, checkpoint or idle".to_string())?,
            archive: value("--archive")? == "true",
        })
    }
}

/// Commit `n` of thread `t`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// The slot it writes.
    pub slot: u64,
    /// The value it puts; `None`: it deletes the slot.
    pub value: Option<Vec<u8>>,
    /// Whether it adds one to the shared counter.
    pub counts: bool,
}

impl Operation {
    /// Commit `n` of thread `thread`: the same on every run.
    pub fn of(thread: u64, n: u64) -> Operation {
        let hash = mix(thread.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ n);
        let slot = hash % SLOTS_PER_THREAD;
        let value = !(hash >> 8).is_multiple_of(7);
        let value = value.then(|| {
            let mut bytes = format!("{thread}:{n}:").into_bytes();
            let len = 16 + (hash >> 16) % 600;
            while (bytes.len() as u64) < len {
                bytes.push(b'a' + ((hash >> (bytes.len() % 50)) % 26) as u8);
            }
            bytes
        });
        Operation {
            slot,
            value,
            counts: n.is_multiple_of(COUNTER_EVERY),
        }
    }
}

/// SplitMix64's finaliser.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A slot's key; one slot in eight has a long key (past what a cell holds
/// whole, sharing its first 1,500 bytes with the thread's other long keys),
/// so that kills land on writes, folds and splits of overflow-chained keys.
pub(crate) fn slot_key(thread: u64, slot: u64) -> Vec<u8> {
    let mut key = format!("t{thread:02}-").into_bytes();
    if slot % 8 == 3 {
        key.resize(key.len() + 1_500 + (slot as usize % 5) * 700, b'~');
    }
    key.extend_from_slice(format!("s{slot:04}").as_bytes());
    key
}

pub(crate) fn last_key(thread: u64) -> Vec<u8> {
    format!("t{thread:02}-last").into_bytes()
}

pub(crate) const COUNTER_KEY: &[u8] = b"counter";

/// Options that make fold, checkpoint, truncation and roll-over frequent,
/// and every commit of more than one key a frozen batch of the delta (while
/// fewer than the most batches are held), so that kills land on batches
/// being installed, folded and replayed.
pub fn aggressive_options(dir: &Path, archive: bool) -> Options {
    Options {
        batch_commit_bytes_min: 64,
        durability: Durability::Sync,
        pool_bytes: 2 << 20,
        fold_interval: Duration::from_millis(5),
        fold_delta_bytes: 64 << 10,
        checkpoint_wal_bytes: 256 << 10,
        checkpoint_dirty_bytes: 64 << 10,
        checkpoint_interval: Duration::from_millis(100),
        wal_segment_bytes: 64 << 10,
        // Commits of more than a few keys are logged in parts.
        wal_part_bytes: 256,
        // Transactions of more than a few keys spill their writes to
        // unnamed files in the database directory.
        transaction_memory_bytes_max: 1 << 10,
        archive_dir: archive.then(|| dir.with_extension("archive")),
        ..Options::default()
    }
}

/// Runs a child until killed (or until a step fails: then it says why on
/// standard error and returns the error).
///
/// # Errors
/// A failed open, read or commit, in words.
pub fn run_child(arguments: &ChildArguments) -> Result<(), String> {
    exit_when_the_parent_goes();
    let options = aggressive_options(&arguments.dir, arguments.archive);
    let db = Database::open(&arguments.dir, options).map_err(|error| format!("open: {error}"))?;
    let keyspace = db
        .keyspace(KEYSPACE)
        .map_err(|error| format!("keyspace: {error}"))?;
    let out = Arc::new(Mutex::new(std::io::stdout()));
    let lasts = report_state(&db, &keyspace, arguments.threads, &out)?;
    say(&out, "ready");
    match arguments.mode {
        ChildMode::Idle => {}
        ChildMode::Checkpoint => {
            db.checkpoint()
                .map_err(|error| format!("checkpoint: {error}"))?;
            say(&out, "checkpointed");
        }
        ChildMode::Work => {
            let db = Arc::new(db);
            let workers: Vec<_> = lasts
                .into_iter()
                .enumerate()
                .map(|(thread, last)| {
                    let (db, keyspace, out) = (db.clone(), keyspace.clone(), out.clone());
                    let first = last.map_or(0, |last| last + 1);
                    std::thread::spawn(move || {
                        commit_forever(&db, &keyspace, thread as u64, first, &out)
                    })
                })
                .collect();
            for worker in workers {
                worker
                    .join()
                    .map_err(|_| "a committing thread panicked".to_string())??;
            }
        }
    }
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// The parent holds the write end of our standard input: when it closes
/// (the parent exited or died), so do we, rather than commit forever.
fn exit_when_the_parent_goes() {
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        std::process::exit(0);
    });
}

fn say(out: &Mutex<std::io::Stdout>, line: &str) {
    let Ok(mut out) = out.lock() else {
        return;
    };
    // The parent may be gone; then so are we, soon.
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// Prints every slot, each thread's `last` and the counter; returns each
/// thread's `last`.
fn report_state(
    db: &Database,
    keyspace: &Keyspace,
    threads: u64,
    out: &Mutex<std::io::Stdout>,
) -> Result<Vec<Option<u64>>, String> {
    db.view(|tx| {
        let mut lasts = Vec::new();
        for thread in 0..threads {
            for slot in 0..SLOTS_PER_THREAD {
                let found = tx.get(keyspace, slot_key(thread, slot))?;
                let word = match found {
                    None => "-".to_string(),
                    Some(value) => decode_sequence(thread, slot, &value)
                        .map_or_else(|| "bad".to_string(), |n| n.to_string()),
                };
                say(out, &format!("state {thread} {slot} {word}"));
            }
            let last = tx
                .get(keyspace, last_key(thread))?
                .and_then(|value| std::str::from_utf8(&value).ok()?.parse::<u64>().ok());
            say(
                out,
                &format!(
                    "last {thread} {}",
                    last.map_or("-".into(), |n| n.to_string())
                ),
            );
            lasts.push(last);
        }
        let counter = tx
            .get(keyspace, COUNTER_KEY)?
            .and_then(|value| std::str::from_utf8(&value).ok()?.parse::<u64>().ok())
            .unwrap_or(0);
        say(out, &format!("counter {counter}"));
        Ok(lasts)
    })
    .map_err(|error| format!("reading the state: {error}"))
}

/// The sequence number a slot's value was written by, if the value is
/// exactly what that commit wrote there.
fn decode_sequence(thread: u64, slot: u64, value: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(value).ok()?;
    let mut words = text.splitn(3, ':');
    let written_by: u64 = words.next()?.parse().ok()?;
    let n: u64 = words.next()?.parse().ok()?;
    let operation = Operation::of(thread, n);
    (written_by == thread && operation.slot == slot && operation.value.as_deref() == Some(value))
        .then_some(n)
}

fn commit_forever(
    db: &Database,
    keyspace: &Keyspace,
    thread: u64,
    first: u64,
    out: &Mutex<std::io::Stdout>,
) -> Result<(), String> {
    for n in first.. {
        let operation = Operation::of(thread, n);
        db.update(|tx| {
            let key = slot_key(thread, operation.slot);
            match &operation.value {
                Some(value) => tx.put(keyspace, &key, value.clone())?,
                None => tx.delete(keyspace, &key)?,
            }
            tx.put(keyspace, last_key(thread), n.to_string())?;
            if operation.counts {
                let counter = tx
                    .get(keyspace, COUNTER_KEY)?
                    .and_then(|value| std::str::from_utf8(&value).ok()?.parse::<u64>().ok())
                    .unwrap_or(0);
                tx.put(keyspace, COUNTER_KEY, (counter + 1).to_string())?;
            }
            Ok(())
        })
        .map_err(|error| format!("thread {thread}, commit {n}: {error}"))?;
        say(out, &format!("ack {thread} {n}"));
    }
    Ok(())
}

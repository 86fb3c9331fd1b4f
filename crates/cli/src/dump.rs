//! `keel dump` and `keel load`: keyspaces to and from a dump file
//! (`dump_format.rs`; docs/FORMAT.md, "Dump files").
//!
//! A dump is one snapshot of the database: every entry as of the moment
//! it began, in key order per keyspace. A load first reads the whole file
//! and verifies every checksum and the counts, and only then writes, so a
//! damaged file writes nothing. It then bulk loads each keyspace
//! (`Database::load_keyspace`: straight into the B+tree, visible whole
//! when it finishes) unless `--merge` asks to add to keyspaces that hold
//! keys, which goes through transactions.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use indicatif::{ProgressBar, ProgressStyle};
use keel::{Database, Durability, Isolation, Options};

use crate::dump_format::{DumpReader, DumpWriter, Record};
use crate::inspect::open_read_only;
use crate::units::human_bytes;

/// Keys read per batch while dumping.
const DUMP_BATCH_KEYS: usize = 1024;
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

/// Bytes of keys and values a `--merge` load commits per transaction.
const LOAD_BATCH_BYTES: usize = 4 << 20;

/// `keel dump` arguments.
#[derive(Debug, clap::Args)]
pub struct DumpArguments {
    /// The database directory.
    pub dir: PathBuf,
    /// The dump file to write (replaced if it exists).
    pub file: PathBuf,
    /// Dump only this keyspace (repeatable); default: every keyspace.
    #[arg(long = "keyspace")]
    pub keyspaces: Vec<String>,
}

/// `keel load` arguments.
#[derive(Debug, clap::Args)]
pub struct LoadArguments {
    /// The database directory (created if missing).
    pub dir: PathBuf,
    /// The dump file to read.
    pub file: PathBuf,
    /// Load only this keyspace of the dump (repeatable); default: all.
    #[arg(long = "keyspace")]
    pub keyspaces: Vec<String>,
    /// Replace keyspaces that already hold keys with the dump's (each is
    /// swapped whole when its load finishes).
    #[arg(long, conflicts_with = "merge")]
    pub replace: bool,
    /// Add the dump's entries to keyspaces that already hold keys (through
    /// transactions: slower than the bulk load; the dump's value wins).
    #[arg(long)]
    pub merge: bool,
}

/// How one keyspace of a dump is written.
enum Target<'db> {
    /// Not selected: its entries are skipped.
    Skip,
    /// The bulk-load path.
    Bulk(keel::KeyspaceLoader<'db>),
    /// Transactions, into a keyspace that holds keys.
    Merge(keel::Keyspace),
}

/// Whether the keyspace `name` exists and holds at least one key.
fn holds_keys(database: &Database, name: &str) -> Result<bool> {
    if !database.keyspaces().iter().any(|existing| existing == name) {
        return Ok(false);
    }
    let keyspace = database.keyspace(name)?;
    Ok(database.view(|tx| Ok(tx.range(&keyspace, ..)?.next().is_some()))?)
}

fn counter(message: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg}: {pos} entries ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(message.to_owned());
    bar
}

fn byte_bar(message: &str, total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(message.to_owned());
    bar
}

/// `keel dump DIR FILE`.
pub fn dump(arguments: &DumpArguments) -> Result<ExitCode> {
    let started = Instant::now();
    let database = open_read_only(
        &arguments.dir,
        Options {
            background_maintenance: false,
            ..Options::default()
        },
    )?;
    let names: Vec<String> = if arguments.keyspaces.is_empty() {
        database.keyspaces()
    } else {
        let known = database.keyspaces();
        for name in &arguments.keyspaces {
            if !known.contains(name) {
                bail!(
                    "{} has no keyspace {name:?} (it has {})",
                    arguments.dir.display(),
                    known.join(", ")
                );
            }
        }
        arguments.keyspaces.clone()
    };
    // Write beside the target, then rename: a failed dump leaves no
    // half file under the target's name.
    let file = &arguments.file;
    let temporary = file.with_extension("partial");
    let output = File::create(&temporary)
        .with_context(|| format!("cannot create {}", temporary.display()))?;
    let mut writer = DumpWriter::new(BufWriter::with_capacity(1 << 20, output))
        .with_context(|| format!("writing {} failed", temporary.display()))?;
    let progress = counter("dumping");
    let transaction = database.begin(Isolation::Snapshot);
    for name in &names {
        let keyspace = database.keyspace(name)?;
        writer.keyspace(name)?;
        let mut after: Option<Bytes> = None;
        loop {
            let lower = match &after {
                Some(after) => std::ops::Bound::Excluded(after.as_ref()),
                None => std::ops::Bound::Unbounded,
            };
            let keys: Vec<Bytes> = transaction
                .range(&keyspace, (lower, std::ops::Bound::Unbounded))?
                .take(DUMP_BATCH_KEYS)
                .map(|item| item.map(|(key, _)| key))
                .collect::<keel::Result<_>>()
                .with_context(|| format!("reading keyspace {name:?} failed"))?;
            for key in &keys {
                // The range gives no expiry; a point read does.
                if let Some((value, expires_at_ms)) = transaction.get_with_expiry(&keyspace, key)? {
                    writer
                        .entry(key, &value, expires_at_ms)
                        .with_context(|| format!("writing {} failed", temporary.display()))?;
                    progress.inc(1);
                }
            }
            if keys.len() < DUMP_BATCH_KEYS {
                break;
            }
            after = keys.last().cloned();
        }
    }
    transaction.rollback();
    let (counts, output) = writer
        .finish()
        .with_context(|| format!("writing {} failed", temporary.display()))?;
    let output = output
        .into_inner()
        .map_err(|error| error.into_error())
        .with_context(|| format!("writing {} failed", temporary.display()))?;
    output
        .sync_all()
        .with_context(|| format!("syncing {} failed", temporary.display()))?;
    std::fs::rename(&temporary, file).with_context(|| {
        format!(
            "cannot rename {} to {}",
            temporary.display(),
            file.display()
        )
    })?;
    progress.finish_and_clear();
    database.close()?;
    let bytes = std::fs::metadata(file)
        .map(|metadata| metadata.len())
        .unwrap_or(0);
    println!(
        "dumped {} entries of {} keyspace(s) from {} to {} ({}) in {:.2} s",
        counts.entries,
        counts.keyspaces,
        arguments.dir.display(),
        file.display(),
        human_bytes(bytes),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

fn open_dump(path: &Path) -> Result<(DumpReader<BufReader<File>>, u64)> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let bytes = file.metadata().map(|metadata| metadata.len()).unwrap_or(0);
    let reader = DumpReader::new(BufReader::with_capacity(1 << 20, file))
        .with_context(|| format!("{} is not a readable dump", path.display()))?;
    Ok((reader, bytes))
}

/// `keel load DIR FILE`: verifies the whole file, then bulk loads each
/// keyspace (or merges it through transactions, with `--merge`).
pub fn load(arguments: &LoadArguments) -> Result<ExitCode> {
    let started = Instant::now();
    let path = &arguments.file;
    // Pass 1: every checksum and the counts, before anything is written.
    let (mut reader, total_bytes) = open_dump(path)?;
    let progress = byte_bar("verifying", total_bytes);
    let mut found_keyspaces = Vec::new();
    while let Some(record) = reader
        .next_record()
        .with_context(|| format!("{} is damaged", path.display()))?
    {
        if let Record::Keyspace(name) = record {
            found_keyspaces.push(name);
        }
        progress.set_position(reader.offset());
    }
    progress.finish_and_clear();
    let verified = reader.counts();
    tracing::info!(
        entries = verified.entries,
        keyspaces = verified.keyspaces,
        file = %path.display(),
        "dump verified"
    );
    for name in &arguments.keyspaces {
        if !found_keyspaces.contains(name) {
            bail!("{} has no keyspace {name:?}", path.display());
        }
    }
    let selected = |name: &str| {
        arguments.keyspaces.is_empty() || arguments.keyspaces.iter().any(|wanted| wanted == name)
    };

    // Pass 2: write.
    std::fs::create_dir_all(&arguments.dir)
        .with_context(|| format!("cannot create {}", arguments.dir.display()))?;
    let database = Database::open(
        &arguments.dir,
        Options::default().with_durability(Durability::None),
    )
    .map_err(|error| match error {
        keel::Error::Locked { .. } => anyhow::anyhow!(
            "{} is in use by another process (a running `keel serve`?)",
            arguments.dir.display()
        ),
        other => anyhow::Error::new(other).context(format!(
            "cannot open the database in {}",
            arguments.dir.display()
        )),
    })?;
    // Keyspaces that hold keys are replaced or merged only when asked.
    if !arguments.replace && !arguments.merge {
        for name in found_keyspaces.iter().filter(|name| selected(name)) {
            if holds_keys(&database, name)? {
                bail!(
                    "keyspace {name:?} in {} already holds keys: pass --replace to replace it with the dump's, or --merge to add the dump's entries to it",
                    arguments.dir.display()
                );
            }
        }
    }
    let (mut reader, _) = open_dump(path)?;
    let progress = byte_bar("loading", total_bytes);
    let mut target = Target::Skip;
    let mut transaction = database.begin(Isolation::Snapshot);
    let mut batch_bytes = 0usize;
    let mut loaded = 0u64;
    let mut expired = 0u64;
    let mut bulk_keyspaces = 0u64;
    let mut finish = |target: Target<'_>, loaded: &mut u64, expired: &mut u64| -> Result<()> {
        if let Target::Bulk(loader) = target {
            let report = loader
                .finish()
                .context("finishing a keyspace's load failed")?;
            *loaded += report.entries;
            *expired += report.expired_skipped;
            bulk_keyspaces += 1;
        }
        Ok(())
    };
    while let Some(record) = reader.next_record()? {
        match record {
            Record::Keyspace(name) => {
                finish(
                    std::mem::replace(&mut target, Target::Skip),
                    &mut loaded,
                    &mut expired,
                )?;
                target = if !selected(&name) {
                    Target::Skip
                } else if arguments.merge && holds_keys(&database, &name)? {
                    Target::Merge(
                        database
                            .keyspace(&name)
                            .with_context(|| format!("cannot open keyspace {name:?}"))?,
                    )
                } else {
                    Target::Bulk(
                        database
                            .load_keyspace(&name)
                            .with_context(|| format!("cannot start loading keyspace {name:?}"))?,
                    )
                };
            }
            Record::Entry {
                key,
                value,
                expires_at_ms,
            } => match &mut target {
                Target::Skip => {}
                Target::Bulk(loader) => {
                    loader
                        .put(&key, &value, expires_at_ms)
                        .with_context(|| format!("loading from {}", path.display()))?;
                    if loader.entries() % 4096 == 0 {
                        progress.set_position(reader.offset());
                    }
                }
                Target::Merge(keyspace) => {
                    batch_bytes += key.len() + value.len();
                    match expires_at_ms {
                        Some(deadline) if deadline <= now_ms() => {
                            expired += 1;
                            continue;
                        }
                        Some(deadline) => {
                            transaction.put_expiring_at(keyspace, &key, value, deadline)?;
                        }
                        None => transaction.put(keyspace, &key, value)?,
                    }
                    loaded += 1;
                    if batch_bytes >= LOAD_BATCH_BYTES {
                        std::mem::replace(&mut transaction, database.begin(Isolation::Snapshot))
                            .commit()
                            .context("committing a batch failed")?;
                        batch_bytes = 0;
                        progress.set_position(reader.offset());
                    }
                }
            },
        }
    }
    finish(target, &mut loaded, &mut expired)?;
    transaction
        .commit()
        .context("committing the last batch failed")?;
    progress.finish_and_clear();
    database
        .close()
        .with_context(|| format!("closing {} failed", arguments.dir.display()))?;
    println!(
        "loaded {loaded} entries ({bulk_keyspaces} keyspace(s) bulk loaded) into {} from {} in {:.2} s ({expired} already expired, skipped)",
        arguments.dir.display(),
        path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

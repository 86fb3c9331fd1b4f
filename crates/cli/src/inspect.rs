//! `keel check` and `keel stat`: look at a database directory.
//!
//! Both open the database the ordinary way (keel has no read-only open):
//! recovery runs, and closing writes a checkpoint. Neither starts the
//! background thread.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use keel::{Database, Options};

use crate::units::human_bytes;

/// `keel check` arguments.
#[derive(Debug, clap::Args)]
pub struct CheckArguments {
    /// The database directory.
    pub dir: PathBuf,
}

/// `keel stat` arguments.
#[derive(Debug, clap::Args)]
pub struct StatArguments {
    /// The database directory.
    pub dir: PathBuf,
    /// Do not count the keys of each keyspace (a scan of every key).
    #[arg(long)]
    pub no_count: bool,
}

/// Opens an existing database for inspection, with errors in plain words.
pub fn open_existing(dir: &Path, options: Options) -> Result<Database> {
    if !dir.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    let options = Options {
        create_if_missing: false,
        ..options
    };
    Database::open(dir, options).map_err(|error| match error {
        keel::Error::NotFound { .. } => {
            anyhow::anyhow!("{} holds no keel database", dir.display())
        }
        keel::Error::Locked { .. } => anyhow::anyhow!(
            "{} is in use by another process (a running `keel serve`?)",
            dir.display()
        ),
        other => anyhow::Error::new(other)
            .context(format!("cannot open the database in {}", dir.display())),
    })
}

fn inspection_options() -> Options {
    Options {
        background_maintenance: false,
        pool_bytes: 64 << 20,
        ..Options::default()
    }
}

/// Counts the entries of `keyspace`, reading every key and value (so
/// every page they live on is read and its checksum verified).
fn count_entries(database: &Database, name: &str) -> Result<u64> {
    let keyspace = database.keyspace(name)?;
    let count = database.view(|transaction| {
        let mut count = 0u64;
        for item in transaction.range::<[u8], _>(&keyspace, ..)? {
            item?;
            count += 1;
        }
        Ok(count)
    })?;
    Ok(count)
}

/// `keel check DIR`: exit status 0 when sound, 1 with the problems found.
pub fn check(arguments: &CheckArguments) -> Result<ExitCode> {
    let dir = &arguments.dir;
    let database = open_existing(dir, inspection_options())?;
    let stats = database.stats();
    println!("keel check {}", dir.display());
    println!(
        "  checkpoint {}; recovery replayed {} commits from the log{}",
        stats.checkpoint_id,
        stats.recovery.commits_replayed,
        if stats.recovery.torn_tail {
            " and cut a torn tail (a crash during a write)"
        } else {
            ""
        }
    );
    let mut problems = database
        .check()
        .with_context(|| format!("reading pages of {} failed", dir.display()))?;
    let mut entries = 0u64;
    let names = database.keyspaces();
    for name in &names {
        match count_entries(&database, name) {
            Ok(count) => entries += count,
            Err(error) => problems.push(format!("keyspace {name:?}: {error:#}")),
        }
    }
    println!(
        "  {} keyspaces, {entries} entries read, {} pages in use",
        names.len(),
        stats.pages
    );
    database
        .close()
        .with_context(|| format!("closing {} failed", dir.display()))?;
    if problems.is_empty() {
        println!("  OK: every checksum and invariant holds");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("  {} problem(s):", problems.len());
        for problem in &problems {
            println!("  - {problem}");
        }
        Ok(ExitCode::FAILURE)
    }
}

/// The bytes of the regular files under `path`, and how many there are.
fn disk_usage(path: &Path) -> (u64, u64) {
    let Ok(metadata) = std::fs::metadata(path) else {
        return (0, 0);
    };
    if metadata.is_file() {
        return (metadata.len(), 1);
    }
    let Ok(entries) = std::fs::read_dir(path) else {
        return (0, 0);
    };
    entries
        .flatten()
        .map(|entry| disk_usage(&entry.path()))
        .fold((0, 0), |(bytes, files), (more_bytes, more_files)| {
            (bytes + more_bytes, files + more_files)
        })
}

/// `keel stat DIR`.
pub fn stat(arguments: &StatArguments) -> Result<ExitCode> {
    let dir = &arguments.dir;
    let (page_file_bytes, _) = disk_usage(&dir.join("pages"));
    let (log_bytes, log_files) = disk_usage(&dir.join("wal"));
    let database = open_existing(dir, inspection_options())?;
    let stats = database.stats();
    println!("keel stat {}", dir.display());
    println!("files");
    println!("  page file        {}", human_bytes(page_file_bytes));
    println!(
        "  log              {} in {log_files} segment file(s)",
        human_bytes(log_bytes)
    );
    println!("checkpoint");
    println!("  id               {}", stats.checkpoint_id);
    println!("  fold timestamp   {}", stats.fold_timestamp);
    println!("  pages in use     {}", stats.pages);
    println!("  file blocks      {}", stats.file_blocks);
    println!("recovery at this open");
    println!("  log records read {}", stats.recovery.records_scanned);
    println!("  commits replayed {}", stats.recovery.commits_replayed);
    println!("  torn tail cut    {}", stats.recovery.torn_tail);
    println!(
        "  took             {:.1} ms",
        stats.recovery.duration.as_secs_f64() * 1000.0
    );
    println!("delta (recent versions not yet folded)");
    println!("  versions         {}", stats.delta_versions);
    println!("  bytes            {}", human_bytes(stats.delta_bytes));
    println!("keyspaces");
    for name in database.keyspaces() {
        if arguments.no_count {
            println!("  {name}");
        } else {
            let count = count_entries(&database, &name)
                .with_context(|| format!("counting keyspace {name:?} failed"))?;
            println!("  {name:<16} {count} keys");
        }
    }
    database
        .close()
        .with_context(|| format!("closing {} failed", dir.display()))?;
    Ok(ExitCode::SUCCESS)
}

//! `keel check` and `keel stat`: look at a database directory.
//!
//! Both open the database read-only (`Database::open_read_only`): recovery
//! runs in memory, and no file is created, changed or removed, so a
//! damaged database stays exactly as it was found.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use keel::{Database, Options, RecoveryMode};

use crate::units::human_bytes;

/// `keel check` arguments.
#[derive(Debug, clap::Args)]
pub struct CheckArguments {
    /// The database directory.
    pub dir: PathBuf,
    /// What recovery does at damage inside the log: `strict` reports it as
    /// a problem; `point-in-time` reads the log up to the damage and checks
    /// the state there.
    #[arg(long, value_enum, default_value_t = RecoveryModeArgument::Strict)]
    pub recovery_mode: RecoveryModeArgument,
}

/// `--recovery-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RecoveryModeArgument {
    /// Damage inside the log is a problem.
    Strict,
    /// Recover up to the damage.
    PointInTime,
}

impl RecoveryModeArgument {
    fn mode(self) -> RecoveryMode {
        match self {
            RecoveryModeArgument::Strict => RecoveryMode::Strict,
            RecoveryModeArgument::PointInTime => RecoveryMode::PointInTime,
        }
    }
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

/// Opens an existing database read-only, with errors in plain words.
pub fn open_read_only(dir: &Path, options: Options) -> Result<Database> {
    if !dir.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    let options = Options {
        create_if_missing: false,
        ..options
    };
    Database::open_read_only(dir, options).map_err(|error| match error {
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
        for item in transaction.range(&keyspace, ..)? {
            item?;
            count += 1;
        }
        Ok(count)
    })?;
    Ok(count)
}

/// `keel check DIR`: exit status 0 when sound, 1 with every problem found
/// (damage that keeps the database from opening is one).
pub fn check(arguments: &CheckArguments) -> Result<ExitCode> {
    let dir = &arguments.dir;
    println!("keel check {}", dir.display());
    let options = Options {
        recovery_mode: arguments.recovery_mode.mode(),
        ..inspection_options()
    };
    let database = match open_read_only(dir, options) {
        Ok(database) => database,
        Err(error) => {
            // Damage that keeps recovery from opening is the first problem
            // to report; anything else (not a database, in use) is an error.
            let damage = matches!(
                error.downcast_ref::<keel::Error>(),
                Some(keel::Error::Corruption { .. } | keel::Error::Io(_))
            );
            if !damage {
                return Err(error);
            }
            return Ok(report_problems(&[format!("{error:#}")]));
        }
    };
    let stats = database.stats();
    let recovery = &stats.recovery;
    println!(
        "  checkpoint {}; recovery replayed {} commits from the log{}",
        stats.checkpoint_id,
        recovery.commits_replayed,
        if recovery.torn_tail {
            " and found a torn tail (a crash during a write; left as it is)"
        } else {
            ""
        }
    );
    let mut problems = Vec::new();
    if recovery.log_damage_skipped {
        problems.push("log: damaged; recovered up to the damage (point-in-time)".to_string());
    }
    match database.check() {
        Ok(found) => problems.extend(found),
        Err(error) => problems.push(format!("reading pages: {error}")),
    }
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
    if let Err(error) = database.close() {
        problems.push(format!("closing: {error}"));
    }
    Ok(report_problems(&problems))
}

/// Prints the verdict: OK (exit 0) or every problem (exit 1).
fn report_problems(problems: &[String]) -> ExitCode {
    if problems.is_empty() {
        println!("  OK: every checksum and invariant holds");
        return ExitCode::SUCCESS;
    }
    println!("  {} problem(s):", problems.len());
    for problem in problems {
        println!("  - {problem}");
    }
    ExitCode::FAILURE
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
    let database = open_read_only(dir, inspection_options())?;
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
    println!(
        "  free blocks      {} ({} that `keel compact` can give back)",
        stats.free_blocks,
        human_bytes(stats.free_blocks * stats.page_bytes)
    );
    println!("recovery at this open");
    println!("  log records read {}", stats.recovery.records_scanned);
    println!("  commits replayed {}", stats.recovery.commits_replayed);
    println!("  torn tail found  {}", stats.recovery.torn_tail);
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

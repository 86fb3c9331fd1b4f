//! `keel compact DIR`: gives a database's free page-file space back to the
//! file system (`Database::compact`), offline: the database must not be
//! open elsewhere.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use keel::{Database, Options};

use crate::units::human_bytes;

/// `keel compact` arguments.
#[derive(Debug, clap::Args)]
pub struct CompactArguments {
    /// The database directory.
    pub dir: PathBuf,
}

/// `keel compact DIR`.
pub fn run(arguments: &CompactArguments) -> Result<ExitCode> {
    let dir = &arguments.dir;
    if !dir.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    let options = Options {
        create_if_missing: false,
        ..Options::default()
    };
    let database =
        Database::open(dir, options).with_context(|| format!("cannot open {}", dir.display()))?;
    let info = database
        .compact()
        .with_context(|| format!("compacting {} failed", dir.display()))?;
    database
        .close()
        .with_context(|| format!("closing {} failed", dir.display()))?;
    println!("keel compact {}", dir.display());
    println!(
        "  page file        {} -> {}",
        human_bytes(info.file_bytes_before),
        human_bytes(info.file_bytes_after)
    );
    println!("  leaves merged    {}", info.pages_merged);
    println!("  pages moved      {}", info.pages_moved);
    println!(
        "  took             {:.1} ms",
        info.duration.as_secs_f64() * 1000.0
    );
    Ok(ExitCode::SUCCESS)
}

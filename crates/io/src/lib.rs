//! keel-io: every durable byte keel writes goes through this crate.
//!
//! * [`Vfs`] and [`File`]: the file-system traits the other crates are
//!   written against.
//! * [`StdVfs`]: the real file system (std + nix: `fdatasync`, `fallocate`,
//!   `posix_fadvise`).
//! * [`UringVfs`] (feature `io-uring`, Linux): batched writes + fsync in one
//!   io_uring submission, with a fallback to the std path.
//! * [`SimVfs`]: a deterministic simulated disk that crashes, tears writes
//!   and fails on demand; the crash tests of every layer above run on it.
//!   Its fault model is documented on the [`sim`] module.
//! * [`CrashSweep`]: the crash-test harness over `SimVfs` (a workload cut
//!   at each chosen operation in each crash mode, then checked).

pub mod crash_sweep;
mod device_readahead;
mod direct_write;
pub mod error;
pub mod sim;
mod std_vfs;
#[cfg(all(feature = "io-uring", target_os = "linux"))]
pub mod uring;
mod vfs;

use std::sync::Arc;

pub use crash_sweep::{
    CrashImage, CrashPoints, CrashSweep, SWEEP_FAILURES_MAX_DEFAULT, SweepFailure, SweepReport,
};
pub use error::{Error, Op, Result};
pub use sim::{CrashMode, FaultMode, SECTOR_BYTES, SimFile, SimVfs};
pub use std_vfs::{StdFile, StdVfs};
#[cfg(all(feature = "io-uring", target_os = "linux"))]
pub use uring::{UringFile, UringVfs};
pub use vfs::{
    Advice, COPY_BUFFER_BYTES, DURABLE_BLOCK_BYTES, File, FileHandle, Mapping, OpenMode, Vfs,
    WriteAt, copy_prefix, create_dir_all_durable, read_to_end,
};

/// The file system keel uses by default: the real one, through the std path.
///
/// io_uring is not the default: on buffered files it measured no faster
/// than the std path for the WAL's and checkpoint's write patterns (see
/// docs/ARCHITECTURE.md and `benches/write_paths.rs`).
pub fn default_vfs() -> Arc<dyn Vfs> {
    Arc::new(StdVfs::new())
}

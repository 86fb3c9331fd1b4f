//! The one error type of keel-io: every failure names the operation and path.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The file-system operation that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// Opening or creating a file.
    Open,
    /// Removing a file.
    Remove,
    /// Renaming a file.
    Rename,
    /// Listing a directory.
    List,
    /// Creating a directory (and its parents).
    CreateDir,
    /// Syncing a directory so that its entries are durable.
    SyncDir,
    /// Checking whether a path exists.
    Exists,
    /// A positional read.
    Read,
    /// A positional write.
    Write,
    /// `fdatasync`: file data and size made durable.
    SyncData,
    /// Reading the file size.
    Size,
    /// Truncating or extending the file.
    SetLen,
    /// Preallocating space (`fallocate`).
    Allocate,
    /// Advising the kernel about an access pattern.
    Advise,
    /// Taking the file lock.
    Lock,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Op::Open => "open",
            Op::Remove => "remove",
            Op::Rename => "rename",
            Op::List => "list",
            Op::CreateDir => "create directory",
            Op::SyncDir => "sync directory",
            Op::Exists => "stat",
            Op::Read => "read",
            Op::Write => "write",
            Op::SyncData => "sync",
            Op::Size => "size",
            Op::SetLen => "set length",
            Op::Allocate => "allocate",
            Op::Advise => "advise",
            Op::Lock => "lock",
        };
        f.write_str(name)
    }
}

/// An I/O failure, carrying the operation and the path it happened on.
///
/// `Error` is `Clone` (the OS error is shared) so that a layer that latches
/// into a failed state after its first I/O error can hand the *original*
/// error to every later caller.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operating system reported an error.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was attempted.
        op: Op,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: Arc<io::Error>,
    },
    /// A read wanted bytes beyond the end of the file.
    #[error("read {}: {wanted} bytes at offset {offset}, but the file is {size} bytes long", path.display())]
    UnexpectedEof {
        /// The file.
        path: PathBuf,
        /// Where the read started.
        offset: u64,
        /// How many bytes were wanted.
        wanted: usize,
        /// The file size at the time of the read.
        size: u64,
    },
    /// The file is locked by another handle or process.
    #[error("lock {}: the file is already locked by another handle or process", path.display())]
    Locked {
        /// The file.
        path: PathBuf,
    },
    /// A [`SimVfs`](crate::SimVfs) fault injected on purpose by a test.
    #[error("{op} {}: injected fault at mutating operation #{operation}", path.display())]
    Injected {
        /// What was attempted.
        op: Op,
        /// The file or directory.
        path: PathBuf,
        /// The index of the failed mutating operation.
        operation: u64,
    },
    /// The [`SimVfs`](crate::SimVfs) reached its crash point: the simulated
    /// machine has lost power and accepts no more writes until
    /// [`SimVfs::crash`](crate::SimVfs::crash).
    #[error("{op} {}: the simulated disk lost power", path.display())]
    PowerLost {
        /// What was attempted.
        op: Op,
        /// The file or directory.
        path: PathBuf,
    },
    /// A [`SimVfs`](crate::SimVfs) file handle opened before a simulated
    /// crash was used after it; a real process would not have survived.
    #[error("{op} {}: file handle from before a simulated crash", path.display())]
    StaleHandle {
        /// What was attempted.
        op: Op,
        /// The file.
        path: PathBuf,
    },
}

impl Error {
    /// Wraps an OS error.
    pub fn io(op: Op, path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source: Arc::new(source),
        }
    }

    /// The path the failed operation was about.
    pub fn path(&self) -> &Path {
        match self {
            Error::Io { path, .. }
            | Error::UnexpectedEof { path, .. }
            | Error::Locked { path }
            | Error::Injected { path, .. }
            | Error::PowerLost { path, .. }
            | Error::StaleHandle { path, .. } => path,
        }
    }

    /// The operation that failed.
    pub fn op(&self) -> Op {
        match self {
            Error::Io { op, .. }
            | Error::Injected { op, .. }
            | Error::PowerLost { op, .. }
            | Error::StaleHandle { op, .. } => *op,
            Error::UnexpectedEof { .. } => Op::Read,
            Error::Locked { .. } => Op::Lock,
        }
    }

    /// The closest `std::io::ErrorKind`, for callers that must tell
    /// "not found" or "already exists" from other failures.
    pub fn kind(&self) -> io::ErrorKind {
        match self {
            Error::Io { source, .. } => source.kind(),
            Error::UnexpectedEof { .. } => io::ErrorKind::UnexpectedEof,
            Error::Locked { .. } => io::ErrorKind::WouldBlock,
            Error::Injected { .. } | Error::PowerLost { .. } | Error::StaleHandle { .. } => {
                io::ErrorKind::Other
            }
        }
    }

    /// True when the path did not exist.
    pub fn is_not_found(&self) -> bool {
        self.kind() == io::ErrorKind::NotFound
    }
}

/// The result type of keel-io.
pub type Result<T> = std::result::Result<T, Error>;

//! The crate's one error type.

use std::net::SocketAddr;

/// Everything that can go wrong in keel-server.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A malformed request: Redis answers it and closes the connection.
    #[error(transparent)]
    Protocol(#[from] crate::resp::ProtocolError),
    /// The bytes buffered for one client reached
    /// [`Limits::query_buffer_bytes_max`](crate::Limits::query_buffer_bytes_max)
    /// (Redis's `client-query-buffer-limit`). Redis closes such a client
    /// without a reply.
    #[error("client query buffer of {buffer_bytes} bytes reached the limit of {limit_bytes} bytes")]
    QueryBufferLimit {
        /// Bytes buffered.
        buffer_bytes: usize,
        /// The limit.
        limit_bytes: usize,
    },
    /// The listener could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address asked for.
        address: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A socket operation failed.
    #[error("{operation} failed for {peer:?}: {source}")]
    Socket {
        /// What was being done ("read", "write", "accept", "spawn").
        operation: &'static str,
        /// The client's address, when known.
        peer: Option<SocketAddr>,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A background thread could not be started.
    #[error("cannot start the {name} thread: {source}")]
    Thread {
        /// The thread's name.
        name: &'static str,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The storage engine failed (opening, closing, checkpointing).
    #[error("{operation}: {source}")]
    Engine {
        /// What was being done, with the path where there is one.
        operation: String,
        /// The engine's error.
        source: keel::Error,
    },
    /// A thread could not be pinned to the CPUs asked for.
    #[error("cannot pin a server thread to CPUs {cpus:?}: {source}")]
    Affinity {
        /// The CPUs asked for.
        cpus: Vec<usize>,
        /// The operating system's error.
        source: std::io::Error,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

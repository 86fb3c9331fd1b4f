//! The crate's one error type.

use std::net::SocketAddr;

/// Everything that can go wrong in keel-server.
///
/// The protocol variants display as Redis's exact error text (without the
/// `ERR ` prefix that a reply adds); Redis answers each of them and then
/// closes the connection, and so does keel.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A multibulk header (`*<count>`) that is not an integer, or above
    /// [`Limits::multibulk_length_max`](crate::Limits::multibulk_length_max).
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    /// A bulk header (`$<length>`) that is not an integer, negative, or above
    /// [`Limits::bulk_bytes_max`](crate::Limits::bulk_bytes_max)
    /// (Redis's `proto-max-bulk-len`).
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
    /// Inside a multibulk request, an element that does not start with `$`.
    #[error("Protocol error: expected '$', got '{}'", char::from(*found))]
    ExpectedBulk {
        /// The byte found where `$` belonged.
        found: u8,
    },
    /// An inline request with no newline within
    /// [`Limits::inline_bytes_max`](crate::Limits::inline_bytes_max).
    #[error("Protocol error: too big inline request")]
    TooBigInlineRequest,
    /// A multibulk count line with no `\r` within the inline limit.
    #[error("Protocol error: too big mbulk count string")]
    TooBigMultibulkCount,
    /// A bulk length line with no `\r` within the inline limit.
    #[error("Protocol error: too big bulk count string")]
    TooBigBulkCount,
    /// An inline request whose quotes do not close, or a closing quote not
    /// followed by a space.
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    /// A multibulk count above
    /// [`Limits::unauthenticated_multibulk_length_max`](crate::Limits::unauthenticated_multibulk_length_max)
    /// from a client that has not authenticated yet.
    #[error("Protocol error: unauthenticated multibulk length")]
    UnauthenticatedMultibulkLength,
    /// A bulk longer than
    /// [`Limits::unauthenticated_bulk_bytes_max`](crate::Limits::unauthenticated_bulk_bytes_max)
    /// from a client that has not authenticated yet.
    #[error("Protocol error: unauthenticated bulk length")]
    UnauthenticatedBulkLength,
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

impl Error {
    /// True for the errors a malformed request causes: the server answers
    /// them with [`Error::reply_text`] and closes the connection.
    pub fn is_protocol_error(&self) -> bool {
        !matches!(
            self,
            Error::Bind { .. }
                | Error::Socket { .. }
                | Error::QueryBufferLimit { .. }
                | Error::Engine { .. }
                | Error::Affinity { .. }
        )
    }

    /// The text of the error reply Redis sends for a protocol error:
    /// `ERR ` and the message.
    pub fn reply_text(&self) -> String {
        format!("ERR {self}")
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

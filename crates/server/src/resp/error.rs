//! The protocol's errors: a malformed request, with Redis's exact text.

/// A malformed request.
///
/// Each displays as Redis's exact error text (without the `ERR ` prefix
/// that a reply adds); Redis answers each of them and then closes the
/// connection, and so does keel.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// A multibulk header (`*<count>`) that is not an integer, or above
    /// [`Limits::multibulk_length_max`](super::Limits::multibulk_length_max).
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    /// A bulk header (`$<length>`) that is not an integer, negative, or above
    /// [`Limits::bulk_bytes_max`](super::Limits::bulk_bytes_max)
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
    /// [`Limits::inline_bytes_max`](super::Limits::inline_bytes_max).
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
    /// [`Limits::unauthenticated_multibulk_length_max`](super::Limits::unauthenticated_multibulk_length_max)
    /// from a client that has not authenticated yet.
    #[error("Protocol error: unauthenticated multibulk length")]
    UnauthenticatedMultibulkLength,
    /// A bulk longer than
    /// [`Limits::unauthenticated_bulk_bytes_max`](super::Limits::unauthenticated_bulk_bytes_max)
    /// from a client that has not authenticated yet.
    #[error("Protocol error: unauthenticated bulk length")]
    UnauthenticatedBulkLength,
}

impl ProtocolError {
    /// The text of the error reply Redis sends: `ERR ` and the message.
    pub fn reply_text(&self) -> String {
        format!("ERR {self}")
    }
}

/// The result of parsing.
pub type Result<T, E = ProtocolError> = std::result::Result<T, E>;

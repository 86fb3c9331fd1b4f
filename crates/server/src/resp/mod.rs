//! RESP, the Redis protocol, with no knowledge of keel: the incremental
//! request parser (`parser.rs`, inline requests in `inline.rs`), reply
//! values and their RESP2/RESP3 encoding (`reply.rs`), replies encoded
//! as they are produced for a run of requests (`encoded.rs`), integers and
//! doubles as Redis reads and prints them (`number.rs`), and the
//! protocol's errors. The `resp_parser` fuzz target needs nothing else.

mod encoded;
mod error;
#[doc(hidden)]
pub mod fuzz_support;
mod inline;
mod number;
mod parser;
mod reply;

pub use encoded::{EncodedReplies, ReplyWriter, error_text};
pub use error::ProtocolError;
pub use inline::split_inline_arguments;
pub use number::{
    format_double, format_double_17_digits, format_human_double, parse_integer, push_decimal,
    push_unsigned_decimal,
};
pub use parser::{
    ARGUMENTS_INLINE, ARGUMENTS_PREALLOCATED_MAX, Command, LARGE_BULK_BYTES, Limits, Parsed,
    RequestParser, detached_argument, parse_all,
};
pub use reply::{ProtocolVersion, Reply};

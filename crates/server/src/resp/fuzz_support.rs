//! The harness of the `resp_parser` fuzz target, here so that the normal
//! tests replay its corpus through the same code.

use bytes::BytesMut;

use super::parser::{Command, Limits, Parsed, RequestParser};

/// Limits small enough that a fuzzer reaches every one of them.
pub fn fuzz_limits() -> Limits {
    Limits {
        bulk_bytes_max: 4096,
        multibulk_length_max: 64,
        inline_bytes_max: 256,
        query_buffer_bytes_max: 1 << 20,
        unauthenticated_multibulk_length_max: 10,
        unauthenticated_bulk_bytes_max: 100,
    }
}

/// What a connection would make of a byte stream: its requests, and the
/// text of the protocol error that ended it, if any.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Every complete request before the end or the error.
    pub commands: Vec<Command>,
    /// The error's text.
    pub error: Option<String>,
}

/// Feeds `data` to one parser as a connection would, appending `chunks`
/// in turn (their lengths are cycled until `data` is used up; a zero
/// length is read as one), and drains each complete request. An
/// unauthenticated client gets the stricter limits.
///
/// Panics if a `Complete` claims more bytes than the buffer holds or none.
pub fn parse_in_chunks(
    data: &[u8],
    chunk_lengths: &[usize],
    limits: &Limits,
    authenticated: bool,
) -> Outcome {
    let mut parser = RequestParser::new(limits.clone());
    parser.set_authenticated(authenticated);
    let mut buffer: Vec<u8> = Vec::new();
    let mut commands = Vec::new();
    let mut fed = 0;
    let mut lengths = chunk_lengths.iter().copied().cycle();
    while fed < data.len() {
        let length = lengths
            .next()
            .unwrap_or(data.len())
            .max(1)
            .min(data.len() - fed);
        buffer.extend_from_slice(&data[fed..fed + length]);
        fed += length;
        let mut start = 0;
        loop {
            match parser.parse(&buffer[start..]) {
                Ok(Parsed::Complete { command, consumed }) => {
                    assert!(consumed > 0, "a request takes at least one byte");
                    assert!(
                        consumed <= buffer.len() - start,
                        "consumed {consumed} of {}",
                        buffer.len() - start
                    );
                    start += consumed;
                    commands.push(command);
                }
                Ok(Parsed::Incomplete) => break,
                Err(error) => {
                    return Outcome {
                        commands,
                        error: Some(error.to_string()),
                    };
                }
            }
        }
        buffer.drain(..start);
    }
    Outcome {
        commands,
        error: None,
    }
}

/// The same as [`parse_in_chunks`], the way a connection does it: the
/// chunks are appended to a `BytesMut` and each complete request taken out
/// of it with [`RequestParser::parse_shared`] (arguments sharing its
/// memory).
pub fn parse_shared_in_chunks(
    data: &[u8],
    chunk_lengths: &[usize],
    limits: &Limits,
    authenticated: bool,
) -> Outcome {
    let mut parser = RequestParser::new(limits.clone());
    parser.set_authenticated(authenticated);
    let mut input = BytesMut::new();
    let mut commands = Vec::new();
    let mut fed = 0;
    let mut lengths = chunk_lengths.iter().copied().cycle();
    while fed < data.len() {
        let length = lengths
            .next()
            .unwrap_or(data.len())
            .max(1)
            .min(data.len() - fed);
        input.extend_from_slice(&data[fed..fed + length]);
        fed += length;
        loop {
            let before = input.len();
            match parser.parse_shared(&mut input) {
                Ok(Some(command)) => {
                    assert!(input.len() < before, "a request takes at least one byte");
                    commands.push(command);
                }
                Ok(None) => {
                    assert_eq!(input.len(), before, "an incomplete request takes nothing");
                    break;
                }
                Err(error) => {
                    return Outcome {
                        commands,
                        error: Some(error.to_string()),
                    };
                }
            }
        }
    }
    Outcome {
        commands,
        error: None,
    }
}

/// The fuzz target's body: the first byte chooses a chunking of the rest
/// (its low seven bits) and whether the client has authenticated (the high
/// bit clear); parsing in one piece and in those chunks, copying the
/// arguments or sharing the buffer, must agree.
pub fn check_arbitrary_input(input: &[u8]) {
    let Some((&first, data)) = input.split_first() else {
        return;
    };
    let authenticated = first & 0x80 == 0;
    let selector = first & 0x7f;
    let limits = fuzz_limits();
    let whole = parse_in_chunks(data, &[data.len()], &limits, authenticated);
    let chunk_lengths: Vec<usize> = match selector % 4 {
        0 => vec![1],
        1 => vec![usize::from(selector / 4) + 1],
        2 => vec![1, 7, 2, 64],
        _ => data
            .iter()
            .take(16)
            .map(|&byte| usize::from(byte % 32) + 1)
            .collect(),
    };
    let chunked = parse_in_chunks(data, &chunk_lengths, &limits, authenticated);
    assert_eq!(
        whole, chunked,
        "whole and chunked parses differ (chunks {chunk_lengths:?})"
    );
    let shared = parse_shared_in_chunks(data, &chunk_lengths, &limits, authenticated);
    assert_eq!(
        whole, shared,
        "copied and shared parses differ (chunks {chunk_lengths:?})"
    );
}

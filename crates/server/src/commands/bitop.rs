//! BITOP AND | OR | XOR | NOT destkey key [key …]: a bitwise operation
//! over strings, stored in `destkey`.

use bytes::Bytes;

use super::arguments::SYNTAX_ERROR_TEXT;
use super::notify::EventClasses;
use super::{DataCall, Outcome, count_reply};
use crate::resp::Reply;

/// BITOP's operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BitOperation {
    /// Every source's bit set.
    And,
    /// Any source's bit set.
    Or,
    /// An odd number of sources' bits set.
    Xor,
    /// The one source's bit clear.
    Not,
}

impl BitOperation {
    fn parse(name: &[u8]) -> Option<BitOperation> {
        [
            (&b"AND"[..], BitOperation::And),
            (b"OR", BitOperation::Or),
            (b"XOR", BitOperation::Xor),
            (b"NOT", BitOperation::Not),
        ]
        .into_iter()
        .find(|(text, _)| name.eq_ignore_ascii_case(text))
        .map(|(_, operation)| operation)
    }
}

/// `operation` over `sources`: as long as the longest, a shorter source
/// (or a missing key, empty) read as zeros past its end.
pub fn combine(operation: BitOperation, sources: &[Bytes]) -> Vec<u8> {
    let length = sources.iter().map(Bytes::len).max().unwrap_or(0);
    let mut result = vec![0u8; length];
    let Some((first, rest)) = sources.split_first() else {
        return result;
    };
    result[..first.len()].copy_from_slice(first);
    for source in rest {
        let paired = result.iter_mut().zip(source.iter());
        match operation {
            BitOperation::And => {
                paired.for_each(|(to, from)| *to &= from);
                result[source.len()..].fill(0);
            }
            BitOperation::Or => paired.for_each(|(to, from)| *to |= from),
            BitOperation::Xor => paired.for_each(|(to, from)| *to ^= from),
            BitOperation::Not => {}
        }
    }
    if operation == BitOperation::Not {
        result.iter_mut().for_each(|byte| *byte = !*byte);
    }
    result
}

/// BITOP operation destkey key [key …]: the length of the result; an
/// empty one deletes `destkey`.
pub(crate) fn bitop(call: &mut DataCall<'_>) -> Outcome {
    let Some(operation) = BitOperation::parse(&call.arguments[1]) else {
        return Err(Reply::error(SYNTAX_ERROR_TEXT).into());
    };
    if operation == BitOperation::Not && call.arguments.len() != 4 {
        return Err(Reply::error("ERR BITOP NOT must be called with a single source key.").into());
    }
    let arguments = call.arguments;
    let mut sources = Vec::with_capacity(arguments.len() - 3);
    for key in &arguments[3..] {
        let source = call.value(key)?;
        if source.is_none() {
            // Redis reads the sources as a read command does.
            call.notify(EventClasses::KEY_MISS, "keymiss", key);
        }
        sources.push(source.unwrap_or_default());
    }
    let result = combine(operation, &sources);
    let length = result.len();
    let destination = &arguments[2];
    if result.is_empty() {
        if call.delete(destination)? {
            call.notify(EventClasses::GENERIC, "del", destination);
        }
    } else {
        call.put(destination, Bytes::from(result), None)?;
        call.notify(EventClasses::STRING, "set", destination);
    }
    Ok(count_reply(length).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(operation: BitOperation, sources: &[&[u8]]) -> Vec<u8> {
        let sources: Vec<Bytes> = sources
            .iter()
            .map(|source| Bytes::copy_from_slice(source))
            .collect();
        combine(operation, &sources)
    }

    #[test]
    fn shorter_sources_are_zero_padded() {
        assert_eq!(run(BitOperation::And, &[b"\xff\xff", b"\x0f"]), b"\x0f\x00");
        assert_eq!(run(BitOperation::Or, &[b"\x01", b"\x10\x20"]), b"\x11\x20");
        assert_eq!(
            run(BitOperation::Xor, &[b"\xff", b"\x0f\x01", b""]),
            b"\xf0\x01"
        );
        assert_eq!(run(BitOperation::Not, &[b"\x0f\xff"]), b"\xf0\x00");
        assert!(run(BitOperation::Or, &[b"", b""]).is_empty());
    }

    #[test]
    fn operation_names_in_any_case() {
        assert_eq!(BitOperation::parse(b"xOr"), Some(BitOperation::Xor));
        assert_eq!(BitOperation::parse(b"nand"), None);
    }
}

//! A stream entry's ID, `<ms>-<seq>`: its text forms as Redis parses
//! them (`-`, `+`, `<ms>`, `<ms>-*`, the `(` of an exclusive bound) and
//! its 16 stored bytes, big-endian so that IDs scan in order.

use std::fmt;

use bytes::Bytes;

use crate::resp::Reply;

/// Redis's reply to an ID it cannot read.
pub const INVALID_ID_TEXT: &str = "ERR Invalid stream ID specified as stream command argument";

/// Bytes of a stored ID: ms, then seq, each a u64 big-endian.
pub const STREAM_ID_BYTES: usize = 2 * size_of::<u64>();
const _: () = assert!(STREAM_ID_BYTES == 16);

/// Longest ID text read (Redis copies it into a 128-byte buffer).
const ID_TEXT_BYTES_MAX: usize = 127;

/// A stream entry's ID.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence within the millisecond.
    pub seq: u64,
}

/// An ID as XADD reads it: the sequence may be left to the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddId {
    /// `*`: both parts generated.
    Auto,
    /// `<ms>-*`: the sequence generated.
    Ms(u64),
    /// An explicit ID (`<ms>` alone means `<ms>-0`).
    Exact(StreamId),
}

impl StreamId {
    /// The smallest ID, `0-0`.
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    /// The largest ID.
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    /// An ID.
    pub const fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// The next ID, or `None` after the last.
    pub fn next(self) -> Option<StreamId> {
        match self.seq.checked_add(1) {
            Some(seq) => Some(StreamId::new(self.ms, seq)),
            None => Some(StreamId::new(self.ms.checked_add(1)?, 0)),
        }
    }

    /// The previous ID, or `None` before `0-0`.
    pub fn previous(self) -> Option<StreamId> {
        match self.seq.checked_sub(1) {
            Some(seq) => Some(StreamId::new(self.ms, seq)),
            None => Some(StreamId::new(self.ms.checked_sub(1)?, u64::MAX)),
        }
    }

    /// Whether it is `0-0`.
    pub fn is_zero(self) -> bool {
        self == StreamId::MIN
    }

    /// Its stored bytes, in the IDs' order.
    pub fn to_bytes(self) -> [u8; STREAM_ID_BYTES] {
        let mut bytes = [0u8; STREAM_ID_BYTES];
        bytes[..8].copy_from_slice(&self.ms.to_be_bytes());
        bytes[8..].copy_from_slice(&self.seq.to_be_bytes());
        bytes
    }

    /// The ID stored in `bytes`, if they are 16 long.
    pub fn from_bytes(bytes: &[u8]) -> Option<StreamId> {
        if bytes.len() != STREAM_ID_BYTES {
            return None;
        }
        let mut ms = [0u8; 8];
        let mut seq = [0u8; 8];
        ms.copy_from_slice(&bytes[..8]);
        seq.copy_from_slice(&bytes[8..]);
        Some(StreamId::new(
            u64::from_be_bytes(ms),
            u64::from_be_bytes(seq),
        ))
    }

    /// The ID as a bulk-string reply.
    pub fn reply(self) -> Reply {
        Reply::Bulk(Bytes::from(self.to_string()))
    }

    /// Parses `<ms>[-<seq>]`, `-` and `+` (unless `strict`), the sequence
    /// defaulting to `missing_seq`.
    pub fn parse(text: &[u8], missing_seq: u64, strict: bool) -> Result<StreamId, Reply> {
        let invalid = || Reply::error(INVALID_ID_TEXT);
        if text.len() > ID_TEXT_BYTES_MAX {
            return Err(invalid());
        }
        match text {
            b"-" if !strict => return Ok(StreamId::MIN),
            b"+" if !strict => return Ok(StreamId::MAX),
            _ => {}
        }
        let (ms, seq) = match text.iter().position(|&byte| byte == b'-') {
            Some(dash) => (&text[..dash], Some(&text[dash + 1..])),
            None => (text, None),
        };
        let ms = parse_u64(ms).ok_or_else(invalid)?;
        let seq = match seq {
            None => missing_seq,
            Some(seq) => parse_u64(seq).ok_or_else(invalid)?,
        };
        Ok(StreamId::new(ms, seq))
    }

    /// Parses a range bound: `(` before the ID makes it exclusive
    /// (returned as `true`); an exclusive bound may not be `-` or `+`.
    pub fn parse_bound(text: &[u8], missing_seq: u64) -> Result<(StreamId, bool), Reply> {
        match text.strip_prefix(b"(") {
            Some(rest) if text.len() > 1 => Ok((StreamId::parse(rest, missing_seq, true)?, true)),
            _ => Ok((StreamId::parse(text, missing_seq, false)?, false)),
        }
    }

    /// Parses XADD's ID: `*`, `<ms>-*`, or an exact ID (never `-`/`+`).
    pub fn parse_add(text: &[u8]) -> Result<AddId, Reply> {
        if text == b"*" {
            return Ok(AddId::Auto);
        }
        if let Some(ms) = text.strip_suffix(b"-*") {
            let ms = parse_u64(ms).ok_or_else(|| Reply::error(INVALID_ID_TEXT))?;
            return Ok(AddId::Ms(ms));
        }
        Ok(AddId::Exact(StreamId::parse(text, 0, true)?))
    }
}

/// Redis's `string2ull`: decimal digits only, no sign, no overflow.
fn parse_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

impl fmt::Display for StreamId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}-{}", self.ms, self.seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_as_redis_reads_them() {
        assert_eq!(StreamId::parse(b"5", 0, true), Ok(StreamId::new(5, 0)));
        assert_eq!(
            StreamId::parse(b"5", u64::MAX, true),
            Ok(StreamId::new(5, u64::MAX))
        );
        assert_eq!(StreamId::parse(b"5-7", 0, true), Ok(StreamId::new(5, 7)));
        assert_eq!(StreamId::parse(b"-", 0, false), Ok(StreamId::MIN));
        assert_eq!(StreamId::parse(b"+", 0, false), Ok(StreamId::MAX));
        for bad in [
            &b"-"[..],
            b"+",
            b"",
            b"a",
            b"1-",
            b"-1",
            b"1-2-3",
            b"18446744073709551616",
        ] {
            assert_eq!(
                StreamId::parse(bad, 0, true),
                Err(Reply::error(INVALID_ID_TEXT)),
                "{bad:?}"
            );
        }
        assert_eq!(
            StreamId::parse_bound(b"(1-2", 0),
            Ok((StreamId::new(1, 2), true))
        );
        assert_eq!(
            StreamId::parse_bound(b"(", 0).map(|b| b.1),
            Err(Reply::error(INVALID_ID_TEXT))
        );
        assert!(StreamId::parse_bound(b"(+", 0).is_err());
        assert_eq!(StreamId::parse_add(b"*"), Ok(AddId::Auto));
        assert_eq!(StreamId::parse_add(b"3-*"), Ok(AddId::Ms(3)));
        assert_eq!(
            StreamId::parse_add(b"3-4"),
            Ok(AddId::Exact(StreamId::new(3, 4)))
        );
    }

    #[test]
    fn bytes_keep_the_order_of_ids_and_round_trip() {
        let ids = [
            StreamId::MIN,
            StreamId::new(0, 1),
            StreamId::new(0, u64::MAX),
            StreamId::new(1, 0),
            StreamId::new(256, 3),
            StreamId::MAX,
        ];
        for pair in ids.windows(2) {
            assert!(pair[0].to_bytes() < pair[1].to_bytes());
            assert!(pair[0] < pair[1]);
        }
        for id in ids {
            assert_eq!(StreamId::from_bytes(&id.to_bytes()), Some(id));
        }
        assert_eq!(StreamId::from_bytes(&[0; 3]), None);
    }

    #[test]
    fn next_and_previous_carry_and_stop_at_the_ends() {
        assert_eq!(StreamId::new(1, u64::MAX).next(), Some(StreamId::new(2, 0)));
        assert_eq!(StreamId::MAX.next(), None);
        assert_eq!(
            StreamId::new(2, 0).previous(),
            Some(StreamId::new(1, u64::MAX))
        );
        assert_eq!(StreamId::MIN.previous(), None);
    }
}

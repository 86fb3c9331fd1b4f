//! Replies encoded as they are produced, for a run of requests: the data
//! commands of a pipeline or of an event loop's group write their replies
//! here one after another, and each connection copies out its own. The
//! common replies (`+OK`, a bulk string read in place from the store)
//! never become a [`Reply`] value: no allocation, no second pass.

use bytes::Bytes;

use super::number::{push_decimal, push_unsigned_decimal};
use super::reply::{BULK_FRAMING_BYTES_MAX, ProtocolVersion, Reply};

/// The encoded replies of a run of requests, back to back, and where each
/// ends.
///
/// ```
/// use keel_server::{EncodedReplies, ProtocolVersion, Reply};
/// let mut replies = EncodedReplies::default();
/// replies.writer(ProtocolVersion::Resp2).ok();
/// replies.push(&Reply::Integer(7), ProtocolVersion::Resp2);
/// assert_eq!(replies.get(0), b"+OK\r\n");
/// assert_eq!(replies.get(1), b":7\r\n");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EncodedReplies {
    bytes: Vec<u8>,
    /// `ends[i]`: where reply `i` ends in `bytes` (it starts where reply
    /// `i - 1` ends).
    ends: Vec<usize>,
}

impl EncodedReplies {
    /// How many replies are held.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True when no reply is held.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Forgets every reply, keeping the memory.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }

    /// Keeps the first `replies` replies only (a group that runs again
    /// after a conflict starts over from where it began).
    pub fn truncate(&mut self, replies: usize) {
        if replies >= self.ends.len() {
            return;
        }
        self.ends.truncate(replies);
        self.bytes.truncate(self.ends.last().copied().unwrap_or(0));
    }

    /// Appends `reply`, encoded for `version`.
    pub fn push(&mut self, reply: &Reply, version: ProtocolVersion) {
        reply.encode(version, &mut self.bytes);
        self.ends.push(self.bytes.len());
    }

    /// A writer of the next reply, straight into the buffer.
    pub fn writer(&mut self, version: ProtocolVersion) -> ReplyWriter<'_> {
        ReplyWriter {
            replies: self,
            version,
        }
    }

    /// Reply `index`, encoded. Panics if there is no such reply.
    pub fn get(&self, index: usize) -> &[u8] {
        let start = index.checked_sub(1).map_or(0, |before| self.ends[before]);
        &self.bytes[start..self.ends[index]]
    }

    /// Every reply in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        (0..self.ends.len()).map(|index| self.get(index))
    }

    /// Takes every reply's bytes, back to back, leaving none held (and no
    /// memory kept): for a caller that would otherwise copy them all out.
    pub fn take_bytes(&mut self) -> Vec<u8> {
        self.ends.clear();
        std::mem::take(&mut self.bytes)
    }

    /// Bytes held; a caller bounds a group by it.
    pub fn bytes_len(&self) -> usize {
        self.bytes.len()
    }

    /// Gives back memory a large group grew, keeping `bytes_max`.
    pub fn shrink_to(&mut self, bytes_max: usize) {
        if self.bytes.capacity() > bytes_max && self.bytes.is_empty() {
            self.bytes.shrink_to(bytes_max);
        }
    }
}

/// The text of an encoded top-level error reply (`ERR syntax error` for
/// `-ERR syntax error\r\n`), `None` for any other reply: what INFO
/// errorstats counts.
pub fn error_text(encoded: &[u8]) -> Option<&[u8]> {
    let rest = encoded.strip_prefix(b"-")?;
    let end = rest
        .iter()
        .position(|&byte| byte == b'\r')
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

fn push_array_header(out: &mut Vec<u8>, count: usize) {
    out.push(b'*');
    push_unsigned_decimal(out, count as u64);
    out.extend_from_slice(b"\r\n");
}

fn push_bulk(out: &mut Vec<u8>, item: &[u8]) {
    if item.len() < 10 {
        // `$`, one digit and CRLF as one 4-byte copy (an LRANGE's short
        // items: four pushes each tested the capacity).
        out.extend_from_slice(&[b'$', b'0' + item.len() as u8, b'\r', b'\n']);
    } else {
        out.push(b'$');
        push_unsigned_decimal(out, item.len() as u64);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(item);
    out.extend_from_slice(b"\r\n");
}

/// Writes one reply into an [`EncodedReplies`]; each method writes a
/// whole reply and ends it.
#[derive(Debug)]
pub struct ReplyWriter<'a> {
    replies: &'a mut EncodedReplies,
    version: ProtocolVersion,
}

impl ReplyWriter<'_> {
    /// The protocol the reply is encoded in.
    pub fn version(&self) -> ProtocolVersion {
        self.version
    }

    fn end(self) {
        self.replies.ends.push(self.replies.bytes.len());
    }

    /// `+OK`.
    pub fn ok(self) {
        self.replies.bytes.extend_from_slice(b"+OK\r\n");
        self.end();
    }

    /// `:<value>`.
    pub fn integer(self, value: i64) {
        let out = &mut self.replies.bytes;
        out.push(b':');
        push_decimal(out, value);
        out.extend_from_slice(b"\r\n");
        self.end();
    }

    /// A bulk string of `bytes`.
    pub fn bulk(self, bytes: &[u8]) {
        let out = &mut self.replies.bytes;
        // At once: see `BULK_FRAMING_BYTES_MAX`.
        out.reserve(bytes.len() + BULK_FRAMING_BYTES_MAX);
        out.push(b'$');
        push_unsigned_decimal(out, bytes.len() as u64);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"\r\n");
        self.end();
    }

    /// An array of bulk strings (LRANGE's reply), without a `Reply` per
    /// item.
    pub fn bulk_array(self, items: &[Bytes]) {
        let out = &mut self.replies.bytes;
        let framing = items.len().saturating_mul(BULK_FRAMING_BYTES_MAX);
        let payload: usize = items.iter().map(Bytes::len).sum();
        out.reserve(
            payload
                .saturating_add(framing)
                .saturating_add(BULK_FRAMING_BYTES_MAX),
        );
        push_array_header(out, items.len());
        for item in items {
            push_bulk(out, item);
        }
        self.end();
    }

    /// An array of `count` bulk strings that `fill` hands, one by one and
    /// borrowed, to the sink it is given (LRANGE's items read in place from
    /// the store: no `Bytes` held per item). The reply is written only when
    /// `fill` succeeds and gives exactly `count` items: otherwise nothing
    /// is (`Ok(false)`, or `fill`'s error).
    pub fn bulk_array_from<E>(
        self,
        count: usize,
        fill: impl FnOnce(&mut dyn FnMut(&[u8])) -> Result<(), E>,
    ) -> Result<bool, E> {
        let start = self.replies.bytes.len();
        let out = &mut self.replies.bytes;
        push_array_header(out, count);
        let mut given = 0usize;
        let filled = fill(&mut |item: &[u8]| {
            given += 1;
            out.reserve(item.len() + BULK_FRAMING_BYTES_MAX);
            push_bulk(out, item);
        });
        match filled {
            Ok(()) if given == count => {
                self.end();
                Ok(true)
            }
            other => {
                self.replies.bytes.truncate(start);
                other.map(|()| false)
            }
        }
    }

    /// A bulk string of `bytes`, or the null bulk string for `None`.
    pub fn bulk_or_null(self, bytes: Option<&[u8]>) {
        match bytes {
            Some(bytes) => self.bulk(bytes),
            None => {
                // `Reply::NullBulk`'s bytes, without the general encoder.
                let null: &[u8] = match self.version {
                    ProtocolVersion::Resp3 => b"_\r\n",
                    _ => b"$-1\r\n",
                };
                self.replies.bytes.extend_from_slice(null);
                self.end();
            }
        }
    }

    /// Any reply.
    pub fn reply(self, reply: &Reply) {
        reply.encode(self.version, &mut self.replies.bytes);
        self.end();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_items_of_every_length_are_framed_as_replies_encode_them() {
        let lengths = (0..=12).chain([99, 100, 1000, 70_000]);
        let items: Vec<Vec<u8>> = lengths.map(|length| vec![b'v'; length]).collect();
        let mut written = EncodedReplies::default();
        let filled = written.writer(ProtocolVersion::Resp2).bulk_array_from(
            items.len(),
            |sink| -> Result<(), ()> {
                items.iter().for_each(|item| sink(item));
                Ok(())
            },
        );
        assert_eq!(filled, Ok(true));
        let mut encoded = Vec::new();
        Reply::Array(items.iter().map(|item| Reply::bulk(item.clone())).collect())
            .encode(ProtocolVersion::Resp2, &mut encoded);
        assert_eq!(written.iter().next(), Some(&encoded[..]));
    }

    #[test]
    fn written_replies_match_encoded_values() {
        for version in [ProtocolVersion::Resp2, ProtocolVersion::Resp3] {
            let mut written = EncodedReplies::default();
            written.writer(version).ok();
            written.writer(version).integer(-42);
            written.writer(version).bulk(b"a\r\nb");
            written.writer(version).bulk_or_null(None);
            written
                .writer(version)
                .bulk_array(&[Bytes::from_static(b"x"), Bytes::new()]);
            written.writer(version).bulk_array(&[]);
            let filled = written
                .writer(version)
                .bulk_array_from(2, |sink| -> Result<(), ()> {
                    sink(b"x");
                    sink(b"");
                    Ok(())
                });
            assert_eq!(filled, Ok(true));
            let mut pushed = EncodedReplies::default();
            for reply in [
                Reply::ok(),
                Reply::Integer(-42),
                Reply::bulk("a\r\nb"),
                Reply::NullBulk,
                Reply::Array(vec![Reply::bulk("x"), Reply::bulk("")]),
                Reply::Array(Vec::new()),
                Reply::Array(vec![Reply::bulk("x"), Reply::bulk("")]),
            ] {
                pushed.push(&reply, version);
            }
            assert_eq!(written, pushed, "{version:?}");
        }
    }

    #[test]
    fn an_array_filled_short_or_failing_writes_nothing() {
        let mut replies = EncodedReplies::default();
        replies.writer(ProtocolVersion::Resp2).integer(1);
        let short =
            replies
                .writer(ProtocolVersion::Resp2)
                .bulk_array_from(3, |sink| -> Result<(), ()> {
                    sink(b"only");
                    Ok(())
                });
        assert_eq!(short, Ok(false));
        let long =
            replies
                .writer(ProtocolVersion::Resp2)
                .bulk_array_from(0, |sink| -> Result<(), ()> {
                    sink(b"extra");
                    Ok(())
                });
        assert_eq!(long, Ok(false));
        let failed = replies
            .writer(ProtocolVersion::Resp2)
            .bulk_array_from(1, |sink| {
                sink(b"a");
                Err("read failed")
            });
        assert_eq!(failed, Err("read failed"));
        assert_eq!(replies.len(), 1);
        assert_eq!(replies.get(0), b":1\r\n");
        assert_eq!(replies.bytes_len(), 4);
    }

    #[test]
    fn replies_are_found_and_truncated_by_index() {
        let mut replies = EncodedReplies::default();
        replies.push(&Reply::Integer(1), ProtocolVersion::Resp2);
        replies.push(&Reply::error("ERR no"), ProtocolVersion::Resp2);
        replies.push(&Reply::bulk("x"), ProtocolVersion::Resp2);
        let all: Vec<&[u8]> = replies.iter().collect();
        assert_eq!(all, [&b":1\r\n"[..], b"-ERR no\r\n", b"$1\r\nx\r\n"]);
        assert_eq!(error_text(replies.get(1)), Some(&b"ERR no"[..]));
        assert_eq!(error_text(replies.get(0)), None);
        replies.truncate(1);
        assert_eq!((replies.len(), replies.bytes_len()), (1, 4));
        replies.writer(ProtocolVersion::Resp2).ok();
        assert_eq!(replies.get(1), b"+OK\r\n");
        replies.clear();
        assert!(replies.is_empty());
    }

    #[test]
    fn a_large_bulk_is_encoded_into_one_allocation_of_its_size() {
        let value = vec![3u8; 1 << 20];
        let mut written = EncodedReplies::default();
        written.writer(ProtocolVersion::Resp2).bulk(&value);
        let mut encoded = Vec::new();
        Reply::Bulk(value.clone().into()).encode(ProtocolVersion::Resp2, &mut encoded);
        assert_eq!(written.get(0), &encoded[..]);
        for capacity in [written.bytes.capacity(), encoded.capacity()] {
            // Grown by doubling for the closing "\r\n", it would be 2 MiB.
            assert!(
                capacity <= value.len() + BULK_FRAMING_BYTES_MAX,
                "{capacity}"
            );
        }
        let taken = written.take_bytes();
        assert_eq!((taken, written.len()), (encoded, 0));
    }
}

//! Reply values and their encoding in RESP2 and RESP3.
//!
//! Commands build a [`Reply`] once; the connection encodes it in the
//! protocol version the client chose with HELLO. RESP3-only types are
//! downgraded for RESP2 clients as Redis downgrades them: a map becomes a
//! flat array of keys and values, a set or push an array, a double or big
//! number a bulk string, a boolean the integer 1 or 0, a verbatim string a
//! bulk string without its format, and a null `$-1` or `*-1` depending on
//! whether a string or an array was absent.

use bytes::Bytes;

use super::number::{format_double, push_decimal, push_unsigned_decimal};

/// The protocol version of a connection: RESP2 until `HELLO 3`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ProtocolVersion {
    /// RESP2, every client's starting point.
    #[default]
    Resp2,
    /// RESP3, after `HELLO 3`.
    Resp3,
}

impl ProtocolVersion {
    /// The number HELLO uses for this version.
    pub fn number(self) -> i64 {
        match self {
            ProtocolVersion::Resp2 => 2,
            ProtocolVersion::Resp3 => 3,
        }
    }
}

/// A reply to one command.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// `+OK`: a short status text (no CR or LF; they are replaced by spaces).
    Simple(String),
    /// `-ERR …`: an error, its code first (`ERR`, `WRONGTYPE`, `NOAUTH` …);
    /// CR and LF are replaced by spaces, as Redis does.
    Error(String),
    /// `:42`.
    Integer(i64),
    /// `$3\r\nabc`: a binary-safe string.
    Bulk(Bytes),
    /// An absent string: `$-1` in RESP2, `_` in RESP3.
    NullBulk,
    /// An absent array (EXEC after a failed WATCH): `*-1` in RESP2, `_` in
    /// RESP3.
    NullArray,
    /// `*2 …`.
    Array(Vec<Reply>),
    /// `%1 …` in RESP3; a flat array of keys and values in RESP2.
    Map(Vec<(Reply, Reply)>),
    /// `~2 …` in RESP3; an array in RESP2.
    Set(Vec<Reply>),
    /// `,1.5` in RESP3; a bulk string in RESP2.
    Double(f64),
    /// A double in a text of its own (GEOPOS's coordinates, `%.17Lf`
    /// trimmed): `,` and the text in RESP3; a bulk string of it in RESP2.
    DoubleText(String),
    /// `#t` / `#f` in RESP3; `:1` / `:0` in RESP2.
    Boolean(bool),
    /// `(1234…` in RESP3 (the digits); a bulk string in RESP2.
    BigNumber(String),
    /// `=15\r\ntxt:Some string` in RESP3; a bulk string of the text alone in
    /// RESP2.
    Verbatim {
        /// Three bytes naming the format: `txt` or `mkd`.
        format: [u8; 3],
        /// The text.
        text: Bytes,
    },
    /// `>2 …`: out-of-band data in RESP3; an array in RESP2.
    Push(Vec<Reply>),
    /// Several replies sent back to back for one command: SUBSCRIBE's
    /// confirmations (one per channel), or a message a client published to
    /// itself followed by PUBLISH's count, as Redis writes them.
    Sequence(Vec<Reply>),
}

impl Reply {
    /// `+OK`.
    pub fn ok() -> Reply {
        Reply::Simple("OK".to_owned())
    }

    /// An error reply; `text` starts with its code (`ERR syntax error`).
    pub fn error(text: impl Into<String>) -> Reply {
        Reply::Error(text.into())
    }

    /// A bulk string copied from `bytes`.
    pub fn bulk(bytes: impl AsRef<[u8]>) -> Reply {
        Reply::Bulk(Bytes::copy_from_slice(bytes.as_ref()))
    }

    /// A verbatim text (`txt`) reply, as CLIENT LIST and INFO send.
    pub fn verbatim_text(text: impl Into<String>) -> Reply {
        Reply::Verbatim {
            format: *b"txt",
            text: Bytes::from(text.into()),
        }
    }

    /// True for an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// What of the reply is sent even when the client turned replies off
    /// (CLIENT REPLY OFF or SKIP): its pushes (pub/sub confirmations and
    /// messages), as Redis sends them regardless.
    pub fn pushes_only(self) -> Option<Reply> {
        match self {
            Reply::Push(_) => Some(self),
            Reply::Sequence(replies) => {
                let pushes: Vec<Reply> =
                    replies.into_iter().filter_map(Reply::pushes_only).collect();
                (!pushes.is_empty()).then_some(Reply::Sequence(pushes))
            }
            _ => None,
        }
    }

    /// Appends the reply encoded for `version`.
    pub fn encode(&self, version: ProtocolVersion, out: &mut Vec<u8>) {
        let resp3 = version == ProtocolVersion::Resp3;
        match self {
            Reply::Simple(text) => line(out, b'+', &sanitize(text)),
            Reply::Error(text) => line(out, b'-', &sanitize(text)),
            Reply::Integer(value) => {
                out.push(b':');
                push_decimal(out, *value);
                out.extend_from_slice(b"\r\n");
            }
            Reply::Bulk(bytes) => bulk(out, b'$', bytes),
            Reply::NullBulk if resp3 => out.extend_from_slice(b"_\r\n"),
            Reply::NullBulk => out.extend_from_slice(b"$-1\r\n"),
            Reply::NullArray if resp3 => out.extend_from_slice(b"_\r\n"),
            Reply::NullArray => out.extend_from_slice(b"*-1\r\n"),
            Reply::Array(items) => aggregate(out, b'*', items, version),
            Reply::Set(items) => aggregate(out, if resp3 { b'~' } else { b'*' }, items, version),
            Reply::Push(items) => aggregate(out, if resp3 { b'>' } else { b'*' }, items, version),
            Reply::Map(pairs) => {
                let count = if resp3 { pairs.len() } else { pairs.len() * 2 };
                header(out, if resp3 { b'%' } else { b'*' }, count);
                for (key, value) in pairs {
                    key.encode(version, out);
                    value.encode(version, out);
                }
            }
            Reply::Double(value) if resp3 => line(out, b',', &format_double(*value)),
            Reply::Double(value) => bulk(out, b'$', format_double(*value).as_bytes()),
            Reply::DoubleText(text) if resp3 => line(out, b',', &sanitize(text)),
            Reply::DoubleText(text) => bulk(out, b'$', text.as_bytes()),
            Reply::Boolean(value) if resp3 => line(out, b'#', if *value { "t" } else { "f" }),
            Reply::Boolean(value) => line(out, b':', if *value { "1" } else { "0" }),
            Reply::BigNumber(digits) if resp3 => line(out, b'(', &sanitize(digits)),
            Reply::BigNumber(digits) => bulk(out, b'$', digits.as_bytes()),
            Reply::Verbatim { format, text } if resp3 => {
                header(out, b'=', text.len() + 4);
                out.extend_from_slice(format);
                out.push(b':');
                out.extend_from_slice(text);
                out.extend_from_slice(b"\r\n");
            }
            Reply::Verbatim { text, .. } => bulk(out, b'$', text),
            Reply::Sequence(replies) => {
                for reply in replies {
                    reply.encode(version, out);
                }
            }
        }
    }

    /// The reply encoded for `version`, in a new buffer.
    pub fn to_bytes(&self, version: ProtocolVersion) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(version, &mut out);
        out
    }
}

impl From<i64> for Reply {
    fn from(value: i64) -> Reply {
        Reply::Integer(value)
    }
}

impl From<Bytes> for Reply {
    fn from(value: Bytes) -> Reply {
        Reply::Bulk(value)
    }
}

impl From<Option<Bytes>> for Reply {
    fn from(value: Option<Bytes>) -> Reply {
        value.map_or(Reply::NullBulk, Reply::Bulk)
    }
}

/// A line reply's text, with CR and LF replaced by spaces so that a
/// user-supplied byte cannot break the framing (Redis does the same in
/// `addReplyErrorLength`).
fn sanitize(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains(['\r', '\n']) {
        std::borrow::Cow::Owned(text.replace(['\r', '\n'], " "))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

fn line(out: &mut Vec<u8>, prefix: u8, text: &str) {
    out.push(prefix);
    out.extend_from_slice(text.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// A type byte, a length and CRLF.
fn header(out: &mut Vec<u8>, prefix: u8, length: usize) {
    out.push(prefix);
    push_unsigned_decimal(out, length as u64);
    out.extend_from_slice(b"\r\n");
}

/// Most bytes of a bulk string's framing: `$`, up to 20 digits and two
/// line endings. Reserved with the value at once, so that the closing
/// `\r\n` of a large one does not double the buffer and copy the value.
pub(super) const BULK_FRAMING_BYTES_MAX: usize = 1 + 20 + 2 + 2;

fn bulk(out: &mut Vec<u8>, prefix: u8, bytes: &[u8]) {
    out.reserve(bytes.len() + BULK_FRAMING_BYTES_MAX);
    header(out, prefix, bytes.len());
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

fn aggregate(out: &mut Vec<u8>, prefix: u8, items: &[Reply], version: ProtocolVersion) {
    header(out, prefix, items.len());
    for item in items {
        item.encode(version, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProtocolVersion::{Resp2, Resp3};

    fn encoded(reply: &Reply, version: ProtocolVersion) -> String {
        String::from_utf8(reply.to_bytes(version)).unwrap_or_default()
    }

    #[test]
    fn simple_types_are_the_same_in_both_versions() {
        for version in [Resp2, Resp3] {
            assert_eq!(encoded(&Reply::ok(), version), "+OK\r\n");
            assert_eq!(encoded(&Reply::error("ERR boom"), version), "-ERR boom\r\n");
            assert_eq!(encoded(&Reply::Integer(-7), version), ":-7\r\n");
            assert_eq!(encoded(&Reply::bulk(""), version), "$0\r\n\r\n");
            assert_eq!(encoded(&Reply::bulk("a\r\nb"), version), "$4\r\na\r\nb\r\n");
        }
    }

    #[test]
    fn errors_cannot_break_the_framing() {
        assert_eq!(encoded(&Reply::error("ERR a\r\nb"), Resp2), "-ERR a  b\r\n");
        assert_eq!(encoded(&Reply::Simple("x\ny".into()), Resp3), "+x y\r\n");
    }

    #[test]
    fn nulls() {
        assert_eq!(encoded(&Reply::NullBulk, Resp2), "$-1\r\n");
        assert_eq!(encoded(&Reply::NullArray, Resp2), "*-1\r\n");
        assert_eq!(encoded(&Reply::NullBulk, Resp3), "_\r\n");
        assert_eq!(encoded(&Reply::NullArray, Resp3), "_\r\n");
    }

    #[test]
    fn resp3_types_and_their_resp2_downgrades() {
        let map = Reply::Map(vec![(Reply::bulk("a"), Reply::Integer(1))]);
        assert_eq!(encoded(&map, Resp3), "%1\r\n$1\r\na\r\n:1\r\n");
        assert_eq!(encoded(&map, Resp2), "*2\r\n$1\r\na\r\n:1\r\n");
        let set = Reply::Set(vec![Reply::bulk("x")]);
        assert_eq!(encoded(&set, Resp3), "~1\r\n$1\r\nx\r\n");
        assert_eq!(encoded(&set, Resp2), "*1\r\n$1\r\nx\r\n");
        assert_eq!(encoded(&Reply::Double(1.5), Resp3), ",1.5\r\n");
        assert_eq!(encoded(&Reply::Double(1.5), Resp2), "$3\r\n1.5\r\n");
        let text = Reply::DoubleText("13.36138933897018433".into());
        assert_eq!(encoded(&text, Resp3), ",13.36138933897018433\r\n");
        assert_eq!(encoded(&text, Resp2), "$20\r\n13.36138933897018433\r\n");
        assert_eq!(encoded(&Reply::Double(f64::INFINITY), Resp3), ",inf\r\n");
        assert_eq!(
            encoded(&Reply::Double(f64::NEG_INFINITY), Resp2),
            "$4\r\n-inf\r\n"
        );
        assert_eq!(encoded(&Reply::Boolean(true), Resp3), "#t\r\n");
        assert_eq!(encoded(&Reply::Boolean(false), Resp2), ":0\r\n");
        let big = Reply::BigNumber("3492890328409238509324850943850943825024385".into());
        assert_eq!(
            encoded(&big, Resp3),
            "(3492890328409238509324850943850943825024385\r\n"
        );
        assert_eq!(
            encoded(&big, Resp2),
            "$43\r\n3492890328409238509324850943850943825024385\r\n"
        );
        let verbatim = Reply::verbatim_text("Some string");
        assert_eq!(encoded(&verbatim, Resp3), "=15\r\ntxt:Some string\r\n");
        assert_eq!(encoded(&verbatim, Resp2), "$11\r\nSome string\r\n");
        let push = Reply::Push(vec![Reply::bulk("message")]);
        assert_eq!(encoded(&push, Resp3), ">1\r\n$7\r\nmessage\r\n");
        assert_eq!(encoded(&push, Resp2), "*1\r\n$7\r\nmessage\r\n");
        let sequence = Reply::Sequence(vec![push.clone(), Reply::Integer(1)]);
        assert_eq!(encoded(&sequence, Resp3), ">1\r\n$7\r\nmessage\r\n:1\r\n");
        assert_eq!(
            sequence.pushes_only(),
            Some(Reply::Sequence(vec![push.clone()]))
        );
        assert_eq!(Reply::Integer(1).pushes_only(), None);
    }

    #[test]
    fn nested_aggregates_downgrade_inside() {
        let reply = Reply::Array(vec![
            Reply::Map(vec![(Reply::bulk("k"), Reply::Boolean(true))]),
            Reply::NullBulk,
        ]);
        assert_eq!(
            encoded(&reply, Resp2),
            "*2\r\n*2\r\n$1\r\nk\r\n:1\r\n$-1\r\n"
        );
        assert_eq!(encoded(&reply, Resp3), "*2\r\n%1\r\n$1\r\nk\r\n#t\r\n_\r\n");
    }
}

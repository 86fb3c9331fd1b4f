//! The RESP request parser: multibulk requests (`*2\r\n$3\r\nGET\r\n$1\r\nk\r\n`,
//! what every client library sends) and inline requests (`GET k\r\n`, what
//! a person types into `telnet`), with Redis's limits and error texts.
//!
//! The parser is incremental: it is called with the bytes a connection has
//! buffered so far, answers [`Parsed::Incomplete`] until a whole request is
//! there, and remembers how far it got, so that a request arriving in many
//! reads is scanned once, not once per read. It never allocates more than
//! the bytes that have arrived justify: a claimed argument count reserves
//! at most [`ARGUMENTS_PREALLOCATED_MAX`] slots, and a claimed bulk length
//! nothing at all until the bulk is there.
//!
//! After any error Redis replies with the error and closes the connection
//! (`CLIENT_CLOSE_AFTER_REPLY`), because the position in the stream is lost;
//! the connection layer does the same.

use std::ops::Range;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use smallvec::SmallVec;

use super::error::{ProtocolError as Error, Result};
use super::inline::split_inline_arguments;
use super::number::{parse_integer, push_unsigned_decimal};

/// Slots reserved up front for a multibulk request's arguments, whatever
/// count it claims (Redis: `min(multibulklen, 1024)`).
pub const ARGUMENTS_PREALLOCATED_MAX: usize = 1024;

/// A bulk argument of at least this many bytes is large: the connection
/// sizes its input to hold it exactly once its `$<length>` header is read
/// ([`RequestParser::large_bulk_end`]), and a command may store it without
/// a copy (Redis's `PROTO_MBULK_BIG_ARG`, 32 KiB; 64 KiB here, the size
/// from which the engine keeps a value as the caller's `Bytes`).
pub const LARGE_BULK_BYTES: usize = 64 << 10;

/// The protocol's named limits, with Redis's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Longest bulk argument (Redis `proto-max-bulk-len`, 512 MiB).
    pub bulk_bytes_max: usize,
    /// Most arguments in one multibulk request (1024 × 1024, Redis's limit
    /// until 7.0; 7.0 and later allow up to `INT_MAX`).
    pub multibulk_length_max: usize,
    /// Longest inline request, and longest `*`/`$` header line, without a
    /// line ending (Redis `PROTO_INLINE_MAX_SIZE`, 64 KiB).
    pub inline_bytes_max: usize,
    /// Most bytes buffered for one client (Redis
    /// `client-query-buffer-limit`, 1 GiB); past it the client is closed.
    pub query_buffer_bytes_max: usize,
    /// Most arguments a client that has not authenticated may send in one
    /// request (Redis: 10).
    pub unauthenticated_multibulk_length_max: usize,
    /// Longest bulk a client that has not authenticated may send (Redis:
    /// 16384).
    pub unauthenticated_bulk_bytes_max: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            bulk_bytes_max: 512 << 20,
            multibulk_length_max: 1024 * 1024,
            inline_bytes_max: 64 << 10,
            query_buffer_bytes_max: 1 << 30,
            unauthenticated_multibulk_length_max: 10,
            unauthenticated_bulk_bytes_max: 16384,
        }
    }
}

/// One request: its arguments, the command name first. Empty for an empty
/// request (a blank inline line, `*0\r\n` or `*-1\r\n`), which Redis skips
/// without a reply.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Command {
    /// Held inline up to [`ARGUMENTS_INLINE`], so that most requests take
    /// no allocation of their own.
    arguments: SmallVec<[Bytes; ARGUMENTS_INLINE]>,
}

/// Arguments a [`Command`] holds without an allocation: enough for
/// `SET key value` and `GET key`, the requests most sent. (Four, for
/// HSET and ZADD of one element, saved their allocation but made every
/// request's moves between the parser, its connection and the group
/// `memcpy` calls: about 270 more instructions per GET, callgrind.)
pub const ARGUMENTS_INLINE: usize = 3;

impl Command {
    /// A command from its arguments.
    pub fn new(arguments: Vec<Bytes>) -> Self {
        Command {
            arguments: SmallVec::from_vec(arguments),
        }
    }

    /// A command from an iterator of its arguments.
    fn collect(arguments: impl Iterator<Item = Bytes>) -> Self {
        Command {
            arguments: arguments.collect(),
        }
    }

    /// A command whose arguments are the `spans` (in order, at least
    /// one) of `request`, sharing its memory. The last argument is
    /// `request` itself, cut down: one reference count taken and dropped
    /// less per request (atomic operations, on every request's path).
    fn from_spans(request: Bytes, spans: &[Range<usize>]) -> Self {
        let Some((last, rest)) = spans.split_last() else {
            return Command::default();
        };
        let mut arguments = SmallVec::with_capacity(spans.len());
        for span in rest {
            arguments.push(request.slice(span.clone()));
        }
        let mut request = request;
        request.truncate(last.end);
        request.advance(last.start);
        arguments.push(request);
        Command { arguments }
    }

    /// A command from string-like arguments (tests and clients).
    ///
    /// ```
    /// let command = keel_server::Command::from_parts(["SET", "k", "v"]);
    /// assert_eq!(command.name(), Some(&b"SET"[..]));
    /// ```
    pub fn from_parts<I, A>(parts: I) -> Self
    where
        I: IntoIterator<Item = A>,
        A: AsRef<[u8]>,
    {
        Command::collect(
            parts
                .into_iter()
                .map(|part| Bytes::copy_from_slice(part.as_ref())),
        )
    }

    /// A copy whose arguments own their memory: for a request kept
    /// beyond its turn (a queued MULTI block), whose arguments would
    /// otherwise hold on to the connection's whole read buffer
    /// ([`RequestParser::parse_shared`]).
    pub fn detached(&self) -> Command {
        Command::collect(self.arguments.iter().map(detached_argument))
    }

    /// Every argument, the command name first.
    pub fn arguments(&self) -> &[Bytes] {
        &self.arguments
    }

    /// The arguments, by value.
    pub fn into_arguments(self) -> Vec<Bytes> {
        self.arguments.into_vec()
    }

    /// The command name as sent (any case), if the request is not empty.
    pub fn name(&self) -> Option<&[u8]> {
        self.arguments.first().map(|name| &name[..])
    }

    /// The number of arguments, the name included (Redis's `argc`).
    pub fn len(&self) -> usize {
        self.arguments.len()
    }

    /// True for an empty request.
    pub fn is_empty(&self) -> bool {
        self.arguments.is_empty()
    }

    /// Appends the command as a RESP multibulk request, as a client sends it.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.put_u8(b'*');
        push_unsigned_decimal(out, self.arguments.len() as u64);
        out.extend_from_slice(b"\r\n");
        for argument in &self.arguments {
            out.put_u8(b'$');
            push_unsigned_decimal(out, argument.len() as u64);
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(argument);
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// `argument` in memory fit to keep beyond its request: a copy of a small
/// argument, which would otherwise hold on to the connection's whole read
/// buffer ([`RequestParser::parse_shared`]); a large one (at least
/// [`LARGE_BULK_BYTES`]) as it is, without a copy, because the connection
/// read it into a buffer sized for its request
/// ([`RequestParser::large_bulk_end`]), which it thus nearly fills.
pub fn detached_argument(argument: &Bytes) -> Bytes {
    if argument.len() >= LARGE_BULK_BYTES {
        argument.clone()
    } else {
        Bytes::copy_from_slice(argument)
    }
}

/// What [`RequestParser::parse`] found at the start of the buffer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A whole request, which took the first `consumed` bytes.
    Complete {
        /// The request (possibly empty: skip it).
        command: Command,
        /// Bytes of the buffer the request took; the caller drops them
        /// before the next call.
        consumed: usize,
    },
    /// Not a whole request yet: call again with the same bytes and more
    /// appended.
    Incomplete,
}

/// Where a multibulk request in progress stands (the arguments read so
/// far are the parser's `spans`).
#[derive(Debug, Default)]
struct Partial {
    /// Arguments still to read.
    remaining: usize,
    /// Bytes of the buffer parsed so far.
    position: usize,
    /// The length of the bulk being read, once its header was read.
    bulk_bytes: Option<usize>,
}

/// A whole request found at the start of the buffer, before its
/// arguments are taken out of it.
#[derive(Debug)]
enum Frame {
    /// A multibulk request: its arguments are the parser's `spans` of the
    /// buffer.
    Multibulk { consumed: usize },
    /// An inline request: its arguments, unquoted (so copied).
    Inline {
        arguments: Vec<Bytes>,
        consumed: usize,
    },
    /// An empty request, skipped without a reply.
    Empty { consumed: usize },
}

impl Frame {
    fn consumed(&self) -> usize {
        match self {
            Frame::Multibulk { consumed }
            | Frame::Inline { consumed, .. }
            | Frame::Empty { consumed } => *consumed,
        }
    }
}

/// An incremental RESP request parser for one connection.
///
/// Contract: after [`Parsed::Incomplete`], the next call must get the same
/// bytes with more appended; after [`Parsed::Complete`], the buffer without
/// its first `consumed` bytes. After an error the parser is reset, but the
/// stream is lost: close the connection.
///
/// ```
/// use keel_server::{Limits, Parsed, RequestParser};
/// let mut parser = RequestParser::new(Limits::default());
/// assert_eq!(parser.parse(b"*1\r\n$4\r\nPI").unwrap(), Parsed::Incomplete);
/// let Parsed::Complete { command, consumed } = parser.parse(b"*1\r\n$4\r\nPING\r\n").unwrap() else {
///     panic!("a whole request");
/// };
/// assert_eq!((command.name(), consumed), (Some(&b"PING"[..]), 14));
/// ```
#[derive(Debug)]
pub struct RequestParser {
    limits: Limits,
    authenticated: bool,
    partial: Option<Partial>,
    /// Where the arguments of the multibulk request being read lie in the
    /// buffer; kept between requests so that parsing does not allocate.
    spans: Vec<Range<usize>>,
    /// Bytes of an inline request already searched for a newline.
    inline_scanned: usize,
}

impl RequestParser {
    /// A parser for an authenticated client (no password is required).
    pub fn new(limits: Limits) -> Self {
        RequestParser {
            limits,
            authenticated: true,
            partial: None,
            spans: Vec::new(),
            inline_scanned: 0,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Sets whether the client has authenticated; until it has, the
    /// stricter `unauthenticated_*` limits apply (Redis 6.2.7 and later).
    pub fn set_authenticated(&mut self, authenticated: bool) {
        self.authenticated = authenticated;
    }

    /// Forgets any request in progress.
    pub fn reset(&mut self) {
        self.partial = None;
        self.spans.clear();
        self.inline_scanned = 0;
    }

    /// When the request in progress is reading a bulk of at least
    /// [`LARGE_BULK_BYTES`] whose header was read: how many bytes the
    /// buffer must hold for that bulk (and its `\r\n`) to be complete, so
    /// that the caller can reserve them at once rather than grow the
    /// buffer by doubling and copying.
    pub fn large_bulk_end(&self) -> Option<usize> {
        let partial = self.partial.as_ref()?;
        let bulk_bytes = partial
            .bulk_bytes
            .filter(|&bytes| bytes >= LARGE_BULK_BYTES)?;
        partial.position.checked_add(bulk_bytes)?.checked_add(2)
    }

    /// Parses the request at the start of `buffer`; its arguments are
    /// copied out of it.
    pub fn parse(&mut self, buffer: &[u8]) -> Result<Parsed> {
        let Some(frame) = self.parse_frame(buffer)? else {
            return Ok(Parsed::Incomplete);
        };
        let consumed = frame.consumed();
        let command = match frame {
            Frame::Multibulk { .. } => Command::collect(
                self.spans
                    .iter()
                    .map(|span| Bytes::copy_from_slice(&buffer[span.clone()])),
            ),
            Frame::Inline { arguments, .. } => Command::new(arguments),
            Frame::Empty { .. } => Command::default(),
        };
        Ok(Parsed::Complete { command, consumed })
    }

    /// Parses the request at the start of `input` and takes its bytes
    /// out: `None` while it is incomplete (call again once more bytes are
    /// appended). The arguments of a multibulk request are not copied:
    /// they share the memory `input` read them into, which is reused once
    /// every argument is dropped — so an argument kept beyond the request
    /// (a stored value, a name) goes through [`detached_argument`].
    pub fn parse_shared(&mut self, input: &mut BytesMut) -> Result<Option<Command>> {
        let Some(frame) = self.parse_frame(input)? else {
            return Ok(None);
        };
        Ok(Some(match frame {
            Frame::Multibulk { consumed } => {
                Command::from_spans(input.split_to(consumed).freeze(), &self.spans)
            }
            Frame::Inline {
                arguments,
                consumed,
            } => {
                input.advance(consumed);
                Command::new(arguments)
            }
            Frame::Empty { consumed } => {
                input.advance(consumed);
                Command::default()
            }
        }))
    }

    /// Finds the request at the start of `buffer`; `None` while it is
    /// incomplete.
    fn parse_frame(&mut self, buffer: &[u8]) -> Result<Option<Frame>> {
        if self.partial.is_none()
            && let Some(consumed) = self.whole_short_multibulk(buffer)
        {
            self.inline_scanned = 0;
            return Ok(Some(Frame::Multibulk { consumed }));
        }
        let result = if self.partial.is_some() || buffer.first() == Some(&b'*') {
            self.parse_multibulk(buffer)
        } else if buffer.is_empty() {
            Ok(None)
        } else {
            self.parse_inline(buffer)
        };
        match &result {
            Ok(Some(frame)) => {
                debug_assert!(frame.consumed() <= buffer.len() && frame.consumed() > 0);
                self.partial = None;
                self.inline_scanned = 0;
            }
            Ok(None) => {}
            Err(_) => self.reset(),
        }
        result
    }

    fn parse_inline(&mut self, buffer: &[u8]) -> Result<Option<Frame>> {
        let start = self.inline_scanned.min(buffer.len());
        let Some(offset) = buffer[start..].iter().position(|&byte| byte == b'\n') else {
            self.inline_scanned = buffer.len();
            if buffer.len() > self.limits.inline_bytes_max {
                return Err(Error::TooBigInlineRequest);
            }
            return Ok(None);
        };
        let newline = start + offset;
        // Redis accepts an over-long line when it happens to arrive whole
        // in one read; keel refuses it always, so the outcome does not
        // depend on how TCP cut the stream.
        if newline > self.limits.inline_bytes_max {
            return Err(Error::TooBigInlineRequest);
        }
        let line_end = if newline > 0 && buffer[newline - 1] == b'\r' {
            newline - 1
        } else {
            newline
        };
        let arguments = split_inline_arguments(&buffer[..line_end])?;
        let consumed = newline + 1;
        Ok(Some(if arguments.is_empty() {
            Frame::Empty { consumed }
        } else {
            Frame::Inline {
                arguments,
                consumed,
            }
        }))
    }

    /// `limit`, or before AUTH the lower of it and `unauthenticated`.
    fn session_limit(&self, limit: usize, unauthenticated: usize) -> usize {
        if self.authenticated {
            limit
        } else {
            unauthenticated.min(limit)
        }
    }

    /// The common case in one pass: a whole multibulk request at the
    /// start of `buffer` whose headers are short (at most
    /// [`SHORT_HEADER_DIGITS`] digits, no sign or leading zero) and within
    /// every limit; its arguments' spans are then in `spans` and the bytes
    /// it takes are returned. `None` for anything else (incomplete,
    /// malformed, over a limit), left to [`RequestParser::parse_multibulk`]
    /// with `spans` to be cleared there.
    fn whole_short_multibulk(&mut self, buffer: &[u8]) -> Option<usize> {
        if self.limits.inline_bytes_max <= SHORT_HEADER_DIGITS {
            // A header line might pass the limit.
            return None;
        }
        let (count, mut position) = short_header(buffer, b'*')?;
        let count_max = self.session_limit(
            self.limits.multibulk_length_max,
            self.limits.unauthenticated_multibulk_length_max,
        );
        if count > count_max.min(ARGUMENTS_PREALLOCATED_MAX) {
            return None;
        }
        let bulk_max = self.session_limit(
            self.limits.bulk_bytes_max,
            self.limits.unauthenticated_bulk_bytes_max,
        );
        self.spans.clear();
        for _ in 0..count {
            let (length, after_header) = short_header(buffer.get(position..)?, b'$')?;
            let start = position + after_header;
            let end = start + length;
            if length > bulk_max || buffer.len() < end + 2 {
                return None;
            }
            self.spans.push(start..end);
            position = end + 2;
        }
        Some(position)
    }

    fn parse_multibulk(&mut self, buffer: &[u8]) -> Result<Option<Frame>> {
        let mut partial = match self.partial.take() {
            Some(partial) => partial,
            None => {
                let Some((count, position)) = header_line(buffer, 0, &self.limits, Header::Count)?
                else {
                    return Ok(None);
                };
                let count = match count {
                    Some(count) if count <= 0 => {
                        return Ok(Some(Frame::Empty { consumed: position }));
                    }
                    Some(count) => {
                        usize::try_from(count).map_err(|_| Error::InvalidMultibulkLength)?
                    }
                    None => return Err(Error::InvalidMultibulkLength),
                };
                if count > self.limits.multibulk_length_max {
                    return Err(Error::InvalidMultibulkLength);
                }
                if !self.authenticated && count > self.limits.unauthenticated_multibulk_length_max {
                    return Err(Error::UnauthenticatedMultibulkLength);
                }
                if self.spans.capacity() > ARGUMENTS_PREALLOCATED_MAX {
                    // Give back what a huge request grew.
                    self.spans = Vec::new();
                }
                self.spans.clear();
                self.spans.reserve(count.min(ARGUMENTS_PREALLOCATED_MAX));
                Partial {
                    remaining: count,
                    position,
                    bulk_bytes: None,
                }
            }
        };
        while partial.remaining > 0 {
            let bulk_bytes = match partial.bulk_bytes {
                Some(bulk_bytes) => bulk_bytes,
                None => {
                    let header = header_line(buffer, partial.position, &self.limits, Header::Bulk);
                    let Some((length, after_header)) = header? else {
                        self.partial = Some(partial);
                        return Ok(None);
                    };
                    let length = length
                        .and_then(|length| usize::try_from(length).ok())
                        .filter(|&length| length <= self.limits.bulk_bytes_max)
                        .ok_or(Error::InvalidBulkLength)?;
                    if !self.authenticated && length > self.limits.unauthenticated_bulk_bytes_max {
                        return Err(Error::UnauthenticatedBulkLength);
                    }
                    partial.position = after_header;
                    partial.bulk_bytes = Some(length);
                    length
                }
            };
            // The two bytes after a bulk are its "\r\n"; like Redis, they
            // are skipped unread.
            let available = buffer.len() - partial.position;
            if available < bulk_bytes + 2 {
                self.partial = Some(partial);
                return Ok(None);
            }
            let start = partial.position;
            self.spans.push(start..start + bulk_bytes);
            partial.position = start + bulk_bytes + 2;
            partial.bulk_bytes = None;
            partial.remaining -= 1;
        }
        Ok(Some(Frame::Multibulk {
            consumed: partial.position,
        }))
    }
}

/// The two header lines of a multibulk request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Header {
    /// `*<count>`.
    Count,
    /// `$<length>`.
    Bulk,
}

/// Reads a `*<n>` or `$<n>` header line starting at `start`: `Ok(None)`
/// while its line ending has not arrived, else the number (`None` if it
/// is not one) and the position after the line. A bulk header is checked
/// to start with `$`. Like Redis, the line ends at the first `\r`, and the
/// byte after it is taken to be `\n` unread.
fn header_line(
    buffer: &[u8],
    start: usize,
    limits: &Limits,
    header: Header,
) -> Result<Option<(Option<i64>, usize)>> {
    let too_big = || match header {
        Header::Count => Error::TooBigMultibulkCount,
        Header::Bulk => Error::TooBigBulkCount,
    };
    let rest = &buffer[start..];
    let Some(carriage_return) = rest.iter().position(|&byte| byte == b'\r') else {
        if rest.len() > limits.inline_bytes_max {
            return Err(too_big());
        }
        return Ok(None);
    };
    // As for inline requests: too long is too long, however it arrived.
    if carriage_return > limits.inline_bytes_max {
        return Err(too_big());
    }
    if carriage_return + 2 > rest.len() {
        return Ok(None);
    }
    if header == Header::Bulk && rest[0] != b'$' {
        return Err(Error::ExpectedBulk { found: rest[0] });
    }
    let number = parse_integer(&rest[1..carriage_return]);
    Ok(Some((number, start + carriage_return + 2)))
}

/// Digits a header takes on the one-pass path
/// ([`RequestParser::whole_short_multibulk`]): lengths below 1 GB, more
/// than any limit's default.
const SHORT_HEADER_DIGITS: usize = 9;

/// A `<marker><n>\r\n` header line at the start of `bytes` whose number
/// is 1 to [`SHORT_HEADER_DIGITS`] digits without a leading zero, read in
/// one pass: the number and the bytes the line takes. `None` for any
/// other line, or one whose end has not arrived (the general path,
/// [`header_line`], then decides).
#[inline]
fn short_header(bytes: &[u8], marker: u8) -> Option<(usize, usize)> {
    if bytes.len() < 4 || bytes[0] != marker {
        return None;
    }
    let lead = bytes[1].wrapping_sub(b'0');
    if !(1..=9).contains(&lead) {
        return None;
    }
    let mut value = usize::from(lead);
    let mut index = 2;
    while let Some(&byte) = bytes.get(index) {
        let digit = byte.wrapping_sub(b'0');
        if digit <= 9 {
            if index > SHORT_HEADER_DIGITS {
                return None;
            }
            value = value * 10 + usize::from(digit);
            index += 1;
            continue;
        }
        // The byte after `\r` is taken to be `\n` unread, as
        // `header_line` (and Redis) do: it must have arrived.
        return (byte == b'\r' && index + 1 < bytes.len()).then_some((value, index + 2));
    }
    None
}

/// Parses every request in `buffer` with a fresh parser: the commands, the
/// bytes they took, and the error that stopped parsing, if any. For tests,
/// fuzzing and tools; a connection keeps one [`RequestParser`] instead.
pub fn parse_all(buffer: &[u8], limits: &Limits) -> (Vec<Command>, usize, Option<Error>) {
    let mut parser = RequestParser::new(limits.clone());
    let mut commands = Vec::new();
    let mut position = 0;
    loop {
        match parser.parse(&buffer[position..]) {
            Ok(Parsed::Complete { command, consumed }) => {
                assert!(consumed > 0 && consumed <= buffer.len() - position);
                position += consumed;
                commands.push(command);
            }
            Ok(Parsed::Incomplete) => return (commands, position, None),
            Err(error) => return (commands, position, Some(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_one(bytes: &[u8]) -> Result<Parsed> {
        RequestParser::new(Limits::default()).parse(bytes)
    }

    fn complete(arguments: &[&str], consumed: usize) -> Parsed {
        Parsed::Complete {
            command: Command::from_parts(arguments),
            consumed,
        }
    }

    #[test]
    fn parses_a_multibulk_request() {
        let request = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\nextra";
        assert_eq!(
            parse_one(request).unwrap(),
            complete(&["SET", "k", ""], request.len() - 5)
        );
    }

    /// Bytes like requests: well-formed ones, cut short, or with a byte
    /// replaced (headers with signs, zeros, letters, long numbers).
    fn request_like() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        // A header is mostly the right number, else anything number-like.
        let odd_header = || proptest::option::weighted(0.2, "[-+0-9a]{0,12}");
        let argument = ("[a-z\r\n]{0,24}", odd_header()).prop_map(|(body, header)| {
            let length = header.unwrap_or_else(|| body.len().to_string());
            format!("${length}\r\n{body}\r\n")
        });
        (
            proptest::collection::vec(argument, 0..5),
            odd_header(),
            any::<usize>(),
            any::<(usize, u8)>(),
        )
            .prop_map(|(arguments, count, cut, (at, byte))| {
                let count = count.unwrap_or_else(|| arguments.len().to_string());
                let mut bytes = format!("*{count}\r\n{}", arguments.concat()).into_bytes();
                if at % 4 == 0 && !bytes.is_empty() {
                    let index = at % bytes.len();
                    bytes[index] = byte;
                }
                if cut % 3 == 0 {
                    bytes.truncate(cut % (bytes.len() + 1));
                }
                bytes
            })
    }

    proptest::proptest! {
        /// The one-pass path takes a request only as the general path
        /// does: the same bytes, the same arguments.
        #[test]
        fn the_one_pass_path_agrees_with_the_general_one(
            bytes in request_like(),
            authenticated: bool,
        ) {
            let limits = Limits {
                bulk_bytes_max: 20,
                multibulk_length_max: 3,
                ..Limits::default()
            };
            let mut fast = RequestParser::new(limits.clone());
            fast.set_authenticated(authenticated);
            let mut general = RequestParser::new(limits);
            general.set_authenticated(authenticated);
            if let Some(consumed) = fast.whole_short_multibulk(&bytes) {
                let frame = general.parse_multibulk(&bytes);
                proptest::prop_assert!(
                    matches!(frame, Ok(Some(Frame::Multibulk { consumed: c })) if c == consumed),
                    "{frame:?}"
                );
                proptest::prop_assert_eq!(&fast.spans, &general.spans);
            }
        }
    }

    #[test]
    fn the_one_pass_path_takes_common_requests() {
        let mut parser = RequestParser::new(Limits::default());
        let request = b"*2\r\n$3\r\nGET\r\n$16\r\nkey:000000012345\r\n*1";
        assert_eq!(
            parser.whole_short_multibulk(request),
            Some(request.len() - 2)
        );
        assert_eq!(parser.spans, [8..11, 18..34]);
        let mut input = BytesMut::from(&request[..]);
        let command = parser.parse_shared(&mut input).unwrap().unwrap();
        assert_eq!(command, Command::from_parts(["GET", "key:000000012345"]));
        assert_eq!(&input[..], b"*1");
        // A leading zero, a sign, ten digits, a cut: the general path's.
        for other in [
            &b"*02\r\n$3\r\nGET\r\n$1\r\nk\r\n"[..],
            b"*2\r\n$+3\r\nGET\r\n$1\r\nk\r\n",
            b"*2\r\n$1000000000\r\n",
            b"*2\r\n$3\r\nGET\r\n$1\r\nk\r",
        ] {
            assert_eq!(parser.whole_short_multibulk(other), None);
        }
    }

    #[test]
    fn every_prefix_of_a_request_is_incomplete() {
        let request = b"*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\n";
        for end in 0..request.len() {
            assert_eq!(
                parse_one(&request[..end]).unwrap(),
                Parsed::Incomplete,
                "{end}"
            );
        }
    }

    #[test]
    fn parses_inline_requests() {
        assert_eq!(parse_one(b"PING\r\n").unwrap(), complete(&["PING"], 6));
        assert_eq!(
            parse_one(b"set a 'b c'\n").unwrap(),
            complete(&["set", "a", "b c"], 12)
        );
        assert_eq!(parse_one(b"\r\n").unwrap(), complete(&[], 2));
        assert_eq!(parse_one(b"PING").unwrap(), Parsed::Incomplete);
        assert!(matches!(
            parse_one(b"get \"a\r\n"),
            Err(Error::UnbalancedQuotes)
        ));
    }

    #[test]
    fn empty_and_negative_multibulk_requests_are_skipped() {
        // Redis's "Negative multibulk length" test: no reply, no error.
        assert_eq!(parse_one(b"*-10\r\n").unwrap(), complete(&[], 6));
        assert_eq!(parse_one(b"*0\r\nPING").unwrap(), complete(&[], 4));
    }

    #[test]
    fn protocol_errors_carry_redis_texts() {
        let cases: [(&[u8], &str); 8] = [
            (b"*20000000\r\n", "Protocol error: invalid multibulk length"),
            (b"*x\r\n", "Protocol error: invalid multibulk length"),
            (
                b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n",
                "Protocol error: expected '$', got 'f'",
            ),
            (
                b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n",
                "Protocol error: invalid bulk length",
            ),
            (
                b"*1\r\n$536870913\r\n",
                "Protocol error: invalid bulk length",
            ),
            (b"*1\r\n$01\r\n", "Protocol error: invalid bulk length"),
            (
                b"\"unbalanced\r\n",
                "Protocol error: unbalanced quotes in request",
            ),
            (b"*1\r\n$+1\r\n", "Protocol error: invalid bulk length"),
        ];
        for (bytes, text) in cases {
            let error = parse_one(bytes).unwrap_err();
            assert_eq!(error.to_string(), text, "{bytes:?}");
        }
        assert_eq!(
            Error::ExpectedBulk { found: b'f' }.reply_text(),
            "ERR Protocol error: expected '$', got 'f'"
        );
    }

    #[test]
    fn the_largest_allowed_lengths_are_accepted() {
        let limits = Limits::default();
        let count = format!("*{}\r\n", limits.multibulk_length_max);
        assert_eq!(parse_one(count.as_bytes()).unwrap(), Parsed::Incomplete);
        let bulk = format!("*1\r\n${}\r\n", limits.bulk_bytes_max);
        assert_eq!(parse_one(bulk.as_bytes()).unwrap(), Parsed::Incomplete);
    }

    #[test]
    fn lines_without_ending_are_bounded() {
        let long = vec![b'a'; 64 * 1024 + 1];
        assert!(matches!(parse_one(&long), Err(Error::TooBigInlineRequest)));
        let mut long_line = long.clone();
        long_line.extend_from_slice(b"\r\n");
        assert!(matches!(
            parse_one(&long_line),
            Err(Error::TooBigInlineRequest)
        ));
        let mut longest_line = vec![b'a'; 64 * 1024];
        longest_line.push(b'\n');
        assert!(matches!(
            parse_one(&longest_line),
            Ok(Parsed::Complete { .. })
        ));
        assert_eq!(parse_one(&long[1..]).unwrap(), Parsed::Incomplete);
        let mut count = b"*".to_vec();
        count.extend_from_slice(&long);
        assert!(matches!(
            parse_one(&count),
            Err(Error::TooBigMultibulkCount)
        ));
        let mut bulk = b"*1\r\n$".to_vec();
        bulk.extend_from_slice(&long);
        assert!(matches!(parse_one(&bulk), Err(Error::TooBigBulkCount)));
        assert_eq!(
            Error::TooBigBulkCount.to_string(),
            "Protocol error: too big bulk count string"
        );
    }

    #[test]
    fn unauthenticated_clients_get_smaller_limits() {
        let mut parser = RequestParser::new(Limits::default());
        parser.set_authenticated(false);
        assert!(matches!(
            parser.parse(b"*11\r\n"),
            Err(Error::UnauthenticatedMultibulkLength)
        ));
        assert_eq!(parser.parse(b"*10\r\n").unwrap(), Parsed::Incomplete);
        parser.reset();
        assert!(matches!(
            parser.parse(b"*1\r\n$16385\r\n"),
            Err(Error::UnauthenticatedBulkLength)
        ));
        parser.set_authenticated(true);
        assert_eq!(
            parser.parse(b"*1\r\n$16385\r\n").unwrap(),
            Parsed::Incomplete
        );
    }

    #[test]
    fn a_huge_claimed_count_reserves_little() {
        let mut parser = RequestParser::new(Limits::default());
        assert_eq!(parser.parse(b"*1048576\r\n").unwrap(), Parsed::Incomplete);
        assert!(parser.partial.is_some());
        assert_eq!(parser.spans.capacity(), ARGUMENTS_PREALLOCATED_MAX);
    }

    #[test]
    fn resumes_where_it_stopped() {
        let request = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";
        let mut parser = RequestParser::new(Limits::default());
        for end in 0..request.len() {
            assert_eq!(parser.parse(&request[..end]).unwrap(), Parsed::Incomplete);
        }
        assert_eq!(
            parser.parse(request).unwrap(),
            complete(&["SET", "key", "value"], request.len())
        );
        assert!(parser.partial.is_none());
    }

    #[test]
    fn parse_all_reads_a_pipeline() {
        let (commands, consumed, error) =
            parse_all(b"PING\r\n*1\r\n$4\r\nPING\r\nEC", &Limits::default());
        assert_eq!(
            commands,
            [Command::from_parts(["PING"]), Command::from_parts(["PING"])]
        );
        assert_eq!((consumed, error.is_none()), (20, true));
    }

    #[test]
    fn a_large_bulk_is_announced_and_kept_without_a_copy() {
        let value = vec![7u8; LARGE_BULK_BYTES];
        let header = format!("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${}\r\n", value.len());
        let mut parser = RequestParser::new(Limits::default());
        let mut input = BytesMut::from(header.as_bytes());
        assert_eq!(parser.parse_shared(&mut input).unwrap(), None);
        assert_eq!(
            parser.large_bulk_end(),
            Some(header.len() + value.len() + 2),
            "the whole bulk is announced once its header is read"
        );
        input.extend_from_slice(&value);
        input.extend_from_slice(b"\r\n");
        let buffer = input.as_ptr() as usize..input.as_ptr() as usize + input.len();
        let command = parser.parse_shared(&mut input).unwrap().unwrap();
        assert_eq!(parser.large_bulk_end(), None);
        let [_, key, stored] = command.arguments() else {
            panic!("three arguments");
        };
        assert_eq!(&stored[..], &value[..]);
        let kept = detached_argument(stored);
        assert_eq!(
            kept.as_ptr(),
            stored.as_ptr(),
            "a large argument is not copied"
        );
        assert!(
            buffer.contains(&(kept.as_ptr() as usize)),
            "it is the read buffer's"
        );
        let detached = command.detached();
        assert_eq!(detached.arguments()[2].as_ptr(), stored.as_ptr());
        assert_ne!(
            detached_argument(key).as_ptr(),
            key.as_ptr(),
            "a small one is"
        );
    }

    #[test]
    fn a_bulk_below_the_large_size_is_not_announced() {
        let header = format!("*2\r\n$4\r\nECHO\r\n${}\r\n", LARGE_BULK_BYTES - 1);
        let mut parser = RequestParser::new(Limits::default());
        let mut input = BytesMut::from(header.as_bytes());
        assert_eq!(parser.parse_shared(&mut input).unwrap(), None);
        assert_eq!(parser.large_bulk_end(), None);
        let small = Bytes::from(vec![1u8; LARGE_BULK_BYTES - 1]);
        assert_ne!(detached_argument(&small).as_ptr(), small.as_ptr());
    }
}

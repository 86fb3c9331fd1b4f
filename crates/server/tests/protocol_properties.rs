//! Property tests: requests survive encoding and parsing in any chunking;
//! inline quoting round-trips; arbitrary bytes parse alike whole and in
//! pieces; the glob matcher agrees with a direct port of Redis's
//! recursive `stringmatchlen`; replies decode as the protocol says.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use bytes::Bytes;
use common::{Value, decode};
use keel_server::fuzz_support::{check_arbitrary_input, parse_in_chunks};
use keel_server::{Command, Limits, ProtocolVersion, Reply, glob_matches};
use proptest::prelude::*;

fn argument() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..40),
        // Bytes that matter to the framing.
        proptest::collection::vec(
            prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'$'), Just(b'*'), Just(b'"')],
            0..8
        ),
    ]
}

fn command() -> impl Strategy<Value = Command> {
    proptest::collection::vec(argument(), 1..8).prop_map(Command::from_parts)
}

/// A double-quoted inline argument that spells every byte as `\xHH`.
fn quote_inline(argument: &[u8]) -> String {
    let mut quoted = String::from("\"");
    for byte in argument {
        quoted.push_str(&format!("\\x{byte:02x}"));
    }
    quoted.push('"');
    quoted
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn multibulk_requests_round_trip_in_any_chunking(
        commands in proptest::collection::vec(command(), 1..6),
        chunk_lengths in proptest::collection::vec(1usize..50, 1..6),
    ) {
        let mut stream = Vec::new();
        for command in &commands {
            command.encode(&mut stream);
        }
        let outcome = parse_in_chunks(&stream, &chunk_lengths, &Limits::default(), true);
        prop_assert_eq!(outcome.error, None);
        prop_assert_eq!(outcome.commands, commands);
    }

    #[test]
    fn quoted_inline_requests_round_trip(
        arguments in proptest::collection::vec(argument(), 1..6),
        chunk_lengths in proptest::collection::vec(1usize..30, 1..4),
    ) {
        let line: Vec<String> = arguments.iter().map(|argument| quote_inline(argument)).collect();
        let stream = format!("{}\r\n", line.join(" "));
        let outcome = parse_in_chunks(stream.as_bytes(), &chunk_lengths, &Limits::default(), true);
        prop_assert_eq!(outcome.error, None);
        prop_assert_eq!(outcome.commands, vec![Command::from_parts(&arguments)]);
    }

    #[test]
    fn arbitrary_bytes_parse_alike_whole_and_in_chunks(input in proptest::collection::vec(any::<u8>(), 0..300)) {
        check_arbitrary_input(&input);
    }

    #[test]
    fn request_shaped_noise_parses_alike(
        selector in any::<u8>(),
        pieces in proptest::collection::vec(proptest::sample::select(NOISE), 0..60),
    ) {
        let mut input = vec![selector];
        for piece in pieces {
            input.extend_from_slice(piece);
        }
        check_arbitrary_input(&input);
    }

    #[test]
    fn glob_agrees_with_redis_recursion(
        pattern in proptest::collection::vec(
            prop_oneof![Just(b'a'), Just(b'B'), Just(b'*'), Just(b'?'), Just(b'['), Just(b']'), Just(b'^'), Just(b'-'), Just(b'\\')],
            0..9,
        ),
        text in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'A'), Just(b'-'), Just(b']'), Just(b'\\')], 0..8),
        nocase in any::<bool>(),
    ) {
        let expected = redis_stringmatch(&pattern, &text, nocase);
        prop_assert_eq!(glob_matches(&pattern, &text, nocase), expected,
            "pattern {:?} text {:?}", String::from_utf8_lossy(&pattern), String::from_utf8_lossy(&text));
    }

    #[test]
    fn replies_decode_as_encoded(reply in reply_tree()) {
        for version in [ProtocolVersion::Resp2, ProtocolVersion::Resp3] {
            let bytes = reply.to_bytes(version);
            let (value, used) = decode(&bytes).unwrap();
            prop_assert_eq!(used, bytes.len());
            prop_assert_eq!(value, expected_value(&reply, version));
        }
    }
}

/// Fragments of requests, so that random streams often look like requests.
const NOISE: &[&[u8]] = &[
    b"*", b"$", b"\r\n", b"\n", b"1", b"3", b"-1", b"0", b"PING", b" ", b"\"", b"'", b"\\x4",
    b"99999",
];

fn reply_tree() -> impl Strategy<Value = Reply> {
    let leaf = prop_oneof![
        "[a-zA-Z ]{0,10}".prop_map(Reply::Simple),
        "ERR [a-z ]{0,10}".prop_map(Reply::Error),
        any::<i64>().prop_map(Reply::Integer),
        proptest::collection::vec(any::<u8>(), 0..20)
            .prop_map(|bytes| Reply::Bulk(Bytes::from(bytes))),
        Just(Reply::NullBulk),
        Just(Reply::NullArray),
        any::<f64>().prop_map(Reply::Double),
        "-?[0-9]{1,3}\\.[0-9]{1,17}".prop_map(Reply::DoubleText),
        any::<bool>().prop_map(Reply::Boolean),
        "[1-9][0-9]{0,30}".prop_map(Reply::BigNumber),
        "[a-z\n ]{0,20}".prop_map(Reply::verbatim_text),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Reply::Array),
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Reply::Set),
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Reply::Push),
            proptest::collection::vec((inner.clone(), inner), 0..3).prop_map(Reply::Map),
        ]
    })
}

/// What a client must decode for `reply` in `version`: RESP3 types as
/// they are, or Redis's RESP2 downgrades.
fn expected_value(reply: &Reply, version: ProtocolVersion) -> Value {
    let resp3 = version == ProtocolVersion::Resp3;
    let all = |items: &[Reply]| {
        items
            .iter()
            .map(|item| expected_value(item, version))
            .collect::<Vec<_>>()
    };
    match reply {
        Reply::Simple(text) => Value::Simple(text.clone()),
        Reply::Error(text) => Value::Error(text.clone()),
        Reply::Integer(value) => Value::Integer(*value),
        Reply::Bulk(bytes) => Value::Bulk(bytes.to_vec()),
        Reply::NullBulk | Reply::NullArray if resp3 => Value::Null,
        Reply::NullBulk => Value::NullBulk,
        Reply::NullArray => Value::NullArray,
        Reply::Array(items) => Value::Array(all(items)),
        Reply::Set(items) if resp3 => Value::Set(all(items)),
        Reply::Push(items) if resp3 => Value::Push(all(items)),
        Reply::Set(items) | Reply::Push(items) => Value::Array(all(items)),
        Reply::Map(pairs) if resp3 => Value::Map(
            pairs
                .iter()
                .map(|(key, value)| (expected_value(key, version), expected_value(value, version)))
                .collect(),
        ),
        Reply::Map(pairs) => Value::Array(
            pairs
                .iter()
                .flat_map(|(key, value)| {
                    [expected_value(key, version), expected_value(value, version)]
                })
                .collect(),
        ),
        Reply::Double(value) if resp3 => Value::Double(keel_server::format_double(*value)),
        Reply::Double(value) => Value::bulk(&keel_server::format_double(*value)),
        Reply::DoubleText(text) if resp3 => Value::Double(text.clone()),
        Reply::DoubleText(text) => Value::bulk(text),
        Reply::Boolean(value) if resp3 => Value::Boolean(*value),
        Reply::Boolean(value) => Value::Integer(i64::from(*value)),
        Reply::BigNumber(digits) if resp3 => Value::BigNumber(digits.clone()),
        Reply::BigNumber(digits) => Value::bulk(digits),
        Reply::Verbatim { format, text } if resp3 => {
            Value::Verbatim(String::from_utf8(format.to_vec()).unwrap(), text.to_vec())
        }
        Reply::Verbatim { text, .. } => Value::Bulk(text.to_vec()),
        Reply::Sequence(_) => unreachable!("several replies decode as several values"),
    }
}

/// A direct port of Redis 7's recursive `stringmatchlen_impl` (util.c),
/// reading a NUL past the end of the pattern as C does.
fn redis_stringmatch(pattern: &[u8], text: &[u8], nocase: bool) -> bool {
    let mut skip_longer_matches = false;
    stringmatch_impl(pattern, 0, text, 0, nocase, &mut skip_longer_matches)
}

fn stringmatch_impl(
    pattern: &[u8],
    mut p: usize,
    text: &[u8],
    mut s: usize,
    nocase: bool,
    skip: &mut bool,
) -> bool {
    let at = |index: usize| pattern.get(index).copied().unwrap_or(0);
    let lower = |byte: u8| {
        if nocase {
            byte.to_ascii_lowercase()
        } else {
            byte
        }
    };
    let mut pattern_length = pattern.len() as isize - p as isize;
    let mut text_length = text.len() - s;
    while pattern_length > 0 && text_length > 0 {
        match at(p) {
            b'*' => {
                while pattern_length > 0 && at(p + 1) == b'*' {
                    p += 1;
                    pattern_length -= 1;
                }
                if pattern_length == 1 {
                    return true;
                }
                while text_length > 0 {
                    if stringmatch_impl(pattern, p + 1, text, s, nocase, skip) {
                        return true;
                    }
                    if *skip {
                        return false;
                    }
                    s += 1;
                    text_length -= 1;
                }
                *skip = true;
                return false;
            }
            b'?' => {
                s += 1;
                text_length -= 1;
            }
            b'[' => {
                p += 1;
                pattern_length -= 1;
                let not = at(p) == b'^';
                if not {
                    p += 1;
                    pattern_length -= 1;
                }
                let mut found = false;
                loop {
                    if at(p) == b'\\' && pattern_length >= 2 {
                        p += 1;
                        pattern_length -= 1;
                        if at(p) == text[s] {
                            found = true;
                        }
                    } else if at(p) == b']' {
                        break;
                    } else if pattern_length == 0 {
                        p -= 1;
                        pattern_length += 1;
                        break;
                    } else if pattern_length >= 3 && at(p + 1) == b'-' {
                        let (mut start, mut end) = (at(p), at(p + 2));
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        let byte = lower(text[s]);
                        if byte >= lower(start) && byte <= lower(end) {
                            found = true;
                        }
                        p += 2;
                        pattern_length -= 2;
                    } else if lower(at(p)) == lower(text[s]) {
                        found = true;
                    }
                    p += 1;
                    pattern_length -= 1;
                }
                if not {
                    found = !found;
                }
                if !found {
                    return false;
                }
                s += 1;
                text_length -= 1;
            }
            first => {
                let expected = if first == b'\\' && pattern_length >= 2 {
                    p += 1;
                    pattern_length -= 1;
                    at(p)
                } else {
                    first
                };
                if lower(expected) != lower(text[s]) {
                    return false;
                }
                s += 1;
                text_length -= 1;
            }
        }
        p += 1;
        pattern_length -= 1;
        if text_length == 0 {
            while at(p) == b'*' {
                p += 1;
                pattern_length -= 1;
            }
            break;
        }
    }
    pattern_length == 0 && text_length == 0
}

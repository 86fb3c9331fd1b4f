//! The decoder against payloads redis-server 7.0.15 wrote (DUMP, hex) and
//! RDB files of older versions (`testdata/`), and the writer against the
//! decoder.

use bytes::Bytes;

use super::super::dump_payload::{self, DumpedValue, PayloadError};
use super::super::encoding::MEMBER_TAG;
use super::super::stream_layout::{GROUP_TAG, GroupRecord, STREAM_STATE_TAG, StreamState};
use super::encode;
use super::payload::{RDB_VERSION_MAX, decode_any, read_value, seal};
use super::reader::RdbReader;

fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&text[at..at + 2], 16).unwrap())
        .collect()
}

fn b(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

fn texts(items: &[&str]) -> Vec<Bytes> {
    items.iter().map(|item| b(item)).collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(Bytes, Bytes)> {
    items.iter().map(|(a, v)| (b(a), b(v))).collect()
}

/// Sets compare without order.
fn sorted(value: DumpedValue) -> DumpedValue {
    match value {
        DumpedValue::Set(mut members) => {
            members.sort();
            DumpedValue::Set(members)
        }
        DumpedValue::Hash(mut pairs) => {
            pairs.sort();
            DumpedValue::Hash(pairs)
        }
        other => other,
    }
}

#[test]
fn redis_7_payloads_of_every_type_decode() {
    let cases = [
        (
            "00036261720a00e6be4960ee66fd17",
            DumpedValue::String(b("bar")),
        ),
        (
            "00c27929edff0a00569667057153cd9b",
            DumpedValue::String(b("-1234567")),
        ),
        (
            "00c30a2802616261e01a010161620a00f727ec340732c3b6",
            DumpedValue::String(b(&"ab".repeat(20))),
        ),
        (
            "120102141400000004008161020101ded402f2a0860104ff0a00ad74371ace076e29",
            DumpedValue::List(texts(&["a", "1", "-300", "100000"])),
        ),
        (
            "0b140400000003000000ffffffff03000000701101000a00faf9076ba102fb14",
            DumpedValue::Set(texts(&["-1", "3", "70000"])),
        ),
        (
            "0202016201610a0075d99d835ef85f65",
            DumpedValue::Set(texts(&["a", "b"])),
        ),
        (
            "111d1d0000000600816202dffe0281610283312e350481630283696e6604ff0a007356ad6cc2484ad0",
            DumpedValue::SortedSet(vec![(b("b"), -2.0), (b("a"), 1.5), (b("c"), f64::INFINITY)]),
        ),
        (
            "05020161000000000000f83f016200000000000000c00a00333818d03a99d3d3",
            DumpedValue::SortedSet(vec![(b("a"), 1.5), (b("b"), -2.0)]),
        ),
        (
            "1012120000000400816602817602816e020c01ff0a0001369481d35b8974",
            DumpedValue::Hash(pairs(&[("f", "v"), ("n", "12")])),
        ),
        (
            "0401016601760a00adf24356b1860efc",
            DumpedValue::Hash(pairs(&[("f", "v")])),
        ),
    ];
    for (payload, expected) in cases {
        let decoded = decode_any(&hex(payload)).unwrap();
        assert_eq!(sorted(decoded), sorted(expected.clone()), "{payload}");
        // And back: what DUMP writes decodes to the same value.
        assert_eq!(decode_any(&encode(&expected).unwrap()), Ok(expected));
    }
}

/// A stream with 1-1 and 2-0 (1-2 deleted), group g with 1-1 pending on
/// alice and an idle consumer bob; its listpack is LZF-compressed.
const STREAM_PAYLOAD: &str = "13011000000000000000010000000000000001c3383d123d000000190002010101020181610281620200200900002001401102050103600902030104200b401301dfff202b0781630205010601ff0202000101010203010167010181ffffffffffffffff01000000000000000100000000000000017f3d054da2010000010205616c6963657f3d054da2010000010000000000000001000000000000000103626f627f3d054da2010000000a000567b5646cb99a7e";

#[test]
fn a_redis_7_stream_decodes_with_its_groups_and_round_trips() {
    let DumpedValue::Stream(elements) = decode_any(&hex(STREAM_PAYLOAD)).unwrap() else {
        panic!("not a stream");
    };
    let entries = elements
        .iter()
        .filter(|(key, _)| key[0] == MEMBER_TAG)
        .count();
    assert_eq!(entries, 2);
    let (_, state) = elements
        .iter()
        .find(|(key, _)| key[0] == STREAM_STATE_TAG)
        .unwrap();
    let state = StreamState::decode(state).unwrap();
    assert_eq!((state.last_id.ms, state.last_id.seq), (2, 0));
    assert_eq!((state.max_deleted_id.ms, state.max_deleted_id.seq), (1, 2));
    assert_eq!(state.entries_added, 3);
    assert_eq!(
        elements
            .iter()
            .filter(|(key, _)| key[0] == GROUP_TAG)
            .count(),
        1
    );
    // DUMP writes it back; decoding that gives the same elements.
    let again = encode(&DumpedValue::Stream(elements.clone())).unwrap();
    let DumpedValue::Stream(mut elements_again) = decode_any(&again).unwrap() else {
        panic!("not a stream");
    };
    let mut elements = elements;
    elements.sort();
    elements_again.sort();
    // The node's deleted entry is not written back, so only the tail
    // node's count of entries ever added differs.
    let state_again = elements_again
        .iter()
        .find(|(key, _)| key[0] == STREAM_STATE_TAG)
        .map(|(_, value)| StreamState::decode(value).unwrap())
        .unwrap();
    assert_eq!(
        StreamState {
            tail_node_entries: 3,
            ..state_again
        },
        state
    );
    let without_state = |elements: &[(Bytes, Bytes)]| -> Vec<(Bytes, Bytes)> {
        elements
            .iter()
            .filter(|(key, _)| key[0] != STREAM_STATE_TAG)
            .cloned()
            .collect()
    };
    assert_eq!(without_state(&elements_again), without_state(&elements));
}

/// Redis 5's DUMP of a stream (RDB 9, STREAM_LISTPACKS) from Redis's own
/// suite (`stream-cgroups.tcl`, "Loading from legacy"): entries 1-0 … 6-0,
/// 3-0 deleted, trimmed to 5-0 and 6-0; g1 read to 5-0, g2 nothing.
const LEGACY_STREAM_PAYLOAD: &str = "0f011000000000000000010000000000000000c3404a405716570000002300020104010101846461746105000103010020010381610204200a0001400a0062600a0002400a0063600a4022018164200a4039200a0065600a0005400a0066200a00ff02060002026731050004000000000000000100000000000000003ef783437a01000001000000000000000200000000000000003ef783437a01000001000000000000000400000000000000003ef783437a01000001000000000000000500000000000000003ef783437a0100000101036331313ef783437a01000004000000000000000100000000000000000000000000000002000000000000000000000000000000040000000000000000000000000000000500000000000000000267320000000009003d52ef6867521dfa";

#[test]
fn a_redis_5_stream_gets_the_entries_read_redis_estimates() {
    let DumpedValue::Stream(elements) = decode_any(&hex(LEGACY_STREAM_PAYLOAD)).unwrap() else {
        panic!("not a stream");
    };
    let state = elements
        .iter()
        .find(|(key, _)| key[0] == STREAM_STATE_TAG)
        .map(|(_, value)| StreamState::decode(value).unwrap())
        .unwrap();
    assert_eq!(state.entries_added, 2);
    assert!(state.max_deleted_id.is_zero());
    let groups: Vec<(Bytes, i64)> = elements
        .iter()
        .filter(|(key, _)| key[0] == GROUP_TAG)
        .map(|(key, value)| {
            (
                key.slice(1..),
                GroupRecord::decode(value).unwrap().entries_read,
            )
        })
        .collect();
    assert_eq!(groups, vec![(b("g1"), 1), (b("g2"), 0)]);
}

/// The key-value pairs of an RDB file's first database (a minimal walk:
/// auxiliary fields, database selection and sizes, expiry times).
fn rdb_file(bytes: &[u8]) -> Vec<(Bytes, DumpedValue)> {
    assert!(bytes.starts_with(b"REDIS"));
    let mut reader = RdbReader::new(&bytes[9..]);
    let mut keys = Vec::new();
    loop {
        let at = reader.offset();
        match reader.byte("an opcode").unwrap() {
            0xff => return keys,
            0xfa => {
                reader.string().unwrap();
                reader.string().unwrap();
            }
            0xfe => {
                reader.length().unwrap();
            }
            0xfb => {
                reader.length().unwrap();
                reader.length().unwrap();
            }
            0xfc => {
                reader.u64_le("expiry").unwrap();
            }
            0xfd => {
                reader.take(4, "expiry").unwrap();
            }
            _ => {
                let mut value_reader = RdbReader::new(&bytes[9 + at..]);
                value_reader.byte("type").unwrap();
                let key = value_reader.string().unwrap();
                // Reread from the type byte, skipping the key.
                let mut object = vec![bytes[9 + at]];
                object.extend_from_slice(&bytes[9 + at + value_reader.offset()..]);
                let mut object_reader = RdbReader::new(&object);
                let value = read_value(&mut object_reader).unwrap();
                reader
                    .take(value_reader.offset() + object_reader.offset() - 2, "skip")
                    .unwrap();
                keys.push((key, value));
            }
        }
    }
}

#[test]
fn old_redis_encodings_decode() {
    let keys = rdb_file(include_bytes!("testdata/encodings.rdb"));
    let value = |name: &str| {
        let (_, value) = keys.iter().find(|(key, _)| key == name.as_bytes()).unwrap();
        sorted(value.clone())
    };
    let list = ["1", "2", "3", "a", "b", "c", "100000", "6000000000"];
    assert_eq!(value("list_zipped"), DumpedValue::List(texts(&list)));
    assert_eq!(value("list"), DumpedValue::List(texts(&list.repeat(3))));
    assert_eq!(
        value("set_zipped_1"),
        sorted(DumpedValue::Set(texts(&["1", "2", "3", "4"])))
    );
    let wide = [
        "1000000000",
        "2000000000",
        "3000000000",
        "4000000000",
        "5000000000",
        "6000000000",
    ];
    assert_eq!(
        value("set_zipped_3"),
        sorted(DumpedValue::Set(texts(&wide)))
    );
    assert_eq!(
        value("hash_zipped"),
        sorted(DumpedValue::Hash(pairs(&[
            ("a", "1"),
            ("b", "2"),
            ("c", "3")
        ])))
    );
    assert_eq!(value("number"), DumpedValue::String(b("10")));
    assert_eq!(
        value("compressible"),
        DumpedValue::String(b(&"a".repeat(137)))
    );
    let DumpedValue::SortedSet(zset) = value("zset") else {
        panic!()
    };
    assert!(zset.contains(&(b("bbbb"), 5_000_000_000.0)), "{zset:?}");
    assert_eq!(
        value("zset_zipped"),
        DumpedValue::SortedSet(vec![(b("a"), 1.0), (b("b"), 2.0), (b("c"), 3.0)])
    );
    assert_eq!(keys.len(), 13);

    let zipmap = rdb_file(include_bytes!("testdata/hash-zipmap.rdb"));
    assert_eq!(
        zipmap,
        vec![(
            b("hash"),
            DumpedValue::Hash(pairs(&[("f1", "v1"), ("f2", "v2")]))
        )]
    );
    let ziplist = rdb_file(include_bytes!("testdata/hash-ziplist.rdb"));
    assert_eq!(
        ziplist,
        vec![(
            b("hash"),
            DumpedValue::Hash(pairs(&[("f1", "v1"), ("f2", "v2")]))
        )]
    );
    let zset = rdb_file(include_bytes!("testdata/zset-ziplist.rdb"));
    assert_eq!(
        zset,
        vec![(
            b("zset"),
            DumpedValue::SortedSet(vec![(b("one"), 1.0), (b("two"), 2.0)])
        )]
    );
    let quicklist = rdb_file(include_bytes!("testdata/list-quicklist.rdb"));
    assert!(
        quicklist.contains(&(b("x"), DumpedValue::String(b("7")))),
        "{quicklist:?}"
    );
    assert!(
        quicklist.iter().any(|(key, value)| key == "list"
            && matches!(value, DumpedValue::List(items) if items[0] == "7")),
        "{quicklist:?}"
    );
}

#[test]
fn damaged_payloads_get_redis_errors_never_panics() {
    let good = hex(STREAM_PAYLOAD);
    let version_text = "ERR DUMP payload version or checksum are wrong";
    for index in 0..good.len() {
        let mut damaged = good.clone();
        damaged[index] ^= 0x20;
        let error = decode_any(&damaged).unwrap_err();
        assert_eq!(error.redis_text(), version_text, "byte {index}");
    }
    let body = &good[..good.len() - 10];
    assert_eq!(
        decode_any(&seal(body, RDB_VERSION_MAX + 1)),
        Err(PayloadError::RdbVersion {
            found: RDB_VERSION_MAX + 1
        })
    );
    // A sealed body cut anywhere, or with any byte changed, is refused as
    // bad data or decodes; it never panics.
    for cut in 1..body.len() {
        let result = decode_any(&seal(&body[..cut], 10));
        assert_eq!(
            result.unwrap_err().redis_text(),
            "ERR Bad data format",
            "cut at {cut}"
        );
    }
    for index in 0..body.len() {
        for flip in [0x01, 0x80, 0xff] {
            let mut damaged = body.to_vec();
            damaged[index] ^= flip;
            if let Err(error) = decode_any(&seal(&damaged, 10)) {
                assert_eq!(error.redis_text(), "ERR Bad data format");
            }
        }
    }
    let refused: [&[u8]; 6] = [
        &[2, 2, 1, b'a', 1, b'a'],                      // a set member twice
        &[2, 0],                                        // an empty set
        &[5, 1, 1, b'a', 0, 0, 0, 0, 0, 0, 0xf8, 0x7f], // a NaN score
        &[6, 0],                                        // a module value
        &[0, 1, b'a', 0],                               // bytes after the value
        &[18, 1, 3, 1, b'a'],                           // a quicklist container that is neither
    ];
    for body in refused {
        assert!(
            matches!(
                decode_any(&seal(body, 10)),
                Err(PayloadError::Malformed { .. })
            ),
            "{body:?}"
        );
    }
    // A plain quicklist 2 node is one item.
    assert_eq!(
        decode_any(&seal(&[18, 1, 1, 1, b'a'], 10)),
        Ok(DumpedValue::List(texts(&["a"])))
    );
}

#[test]
fn keel_payloads_of_before_still_restore() {
    let value = DumpedValue::Hash(pairs(&[("f", "v")]));
    assert_eq!(decode_any(&dump_payload::encode(&value)), Ok(value));
}

#[test]
fn redis_7_2_set_listpacks_and_v3_streams_decode() {
    use super::packed::ListpackWriter;
    use super::payload::object_type;
    // SET_LISTPACK (Redis 7.2): a listpack of members, integers included.
    let mut listpack = ListpackWriter::default();
    listpack.text(b"a");
    listpack.integer(7);
    let mut body = vec![object_type::SET_LISTPACK];
    super::writer::push_string(&mut body, &listpack.finish());
    assert_eq!(
        decode_any(&seal(&body, 11)),
        Ok(DumpedValue::Set(texts(&["a", "7"])))
    );
    // STREAM_LISTPACKS_3: the stream with one group and one idle consumer
    // (bob), written as v2, gets an active time after bob's seen time
    // (his empty PEL, 0, ends the payload).
    let DumpedValue::Stream(elements) = decode_any(&hex(STREAM_PAYLOAD)).unwrap() else {
        panic!("not a stream");
    };
    let elements: Vec<(Bytes, Bytes)> = elements
        .into_iter()
        .filter_map(|(key, value)| match key[0] {
            GROUP_TAG => {
                let record = GroupRecord::decode(&value).unwrap();
                let value = GroupRecord {
                    pending: 0,
                    ..record
                }
                .encode();
                Some((key, value))
            }
            tag if tag == super::super::stream_layout::CONSUMER_TAG => {
                key.ends_with(b"bob").then_some((key, value))
            }
            tag if tag == super::super::stream_layout::GROUP_PENDING_TAG
                || tag == super::super::stream_layout::CONSUMER_PENDING_TAG =>
            {
                None
            }
            _ => Some((key, value)),
        })
        .collect();
    let v2 = encode(&DumpedValue::Stream(elements.clone())).unwrap();
    let mut body = v2[..v2.len() - 10].to_vec();
    assert_eq!(
        (body[0], body.last()),
        (object_type::STREAM_LISTPACKS_2, Some(&0))
    );
    body[0] = object_type::STREAM_LISTPACKS_3;
    let end = body.len() - 1;
    body.splice(end..end, 1_700_000_000_000u64.to_le_bytes());
    let Ok(DumpedValue::Stream(mut v3)) = decode_any(&seal(&body, 11)) else {
        panic!("a v3 stream does not decode");
    };
    let mut elements = elements;
    elements.sort();
    v3.sort();
    let state = |elements: &[(Bytes, Bytes)]| -> Vec<(Bytes, Bytes)> {
        elements
            .iter()
            .filter(|(key, _)| key[0] != STREAM_STATE_TAG)
            .cloned()
            .collect()
    };
    assert_eq!(state(&v3), state(&elements));
}

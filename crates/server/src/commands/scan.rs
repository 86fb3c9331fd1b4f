//! SCAN's cursor: a position in key order that fits in the `u64` clients
//! parse (redis-rs reads the cursor as an unsigned integer), is stable
//! across restarts (it names a key, not a server-side table entry), and
//! never makes a scan miss a key that was present throughout it.
//!
//! - Cursor 0 starts a scan, and a reply with cursor 0 ends it.
//! - Any other cursor is `1 + P`, where `P` is the big-endian `u64` of the
//!   first 8 bytes of the key to resume at, zero-padded when the key is
//!   shorter. The next call resumes at the keys `≥` those 8 bytes with their
//!   trailing zero bytes stripped: every key whose padded 8-byte prefix is
//!   `P` starts with that string, so none is skipped (a few may come twice,
//!   which Redis's SCAN contract allows).
//! - A call visits at least COUNT keys (the MATCH and TYPE filters apply to
//!   the visited keys), then goes on while the next key has the same 8-byte
//!   prefix as the last one visited, so the resume point is always a
//!   prefix boundary and the cursor strictly grows from call to call.
//!   Keys from the prefix `ff ff ff ff ff ff ff ff` on are finished in one
//!   call, since `1 + P` would not fit.
//!
//! Cost: a call visits every key sharing the 8-byte prefix of its last
//! key, so a keyspace of keys such as `key:000000000001`… (one shared
//! prefix `key:0000`) is scanned in one call. Keys that differ within
//! their first 8 bytes page as Redis's do.

use bytes::Bytes;

/// Bytes of a key that a cursor holds.
pub const SCAN_CURSOR_PREFIX_BYTES: usize = 8;

/// The prefix past which a scan is finished in one call: its cursor
/// would not fit in a `u64`.
const LAST_PREFIX: [u8; SCAN_CURSOR_PREFIX_BYTES] = [0xff; SCAN_CURSOR_PREFIX_BYTES];

/// The first 8 bytes of `key`, zero-padded.
pub fn cursor_prefix(key: &[u8]) -> [u8; SCAN_CURSOR_PREFIX_BYTES] {
    let mut prefix = [0u8; SCAN_CURSOR_PREFIX_BYTES];
    let length = key.len().min(SCAN_CURSOR_PREFIX_BYTES);
    prefix[..length].copy_from_slice(&key[..length]);
    prefix
}

/// The cursor that resumes a scan at `key` (never 0).
pub fn cursor_for_key(key: &[u8]) -> u64 {
    // `1 + P` fits unless the prefix is all 0xff, which `scan_batch`
    // never resumes at.
    u64::from_be_bytes(cursor_prefix(key)).saturating_add(1)
}

/// The smallest key a scan resumes at for `cursor` (the empty key for 0).
///
/// ```
/// use keel_server::{cursor_for_key, scan_start_key};
/// assert_eq!(scan_start_key(0), b"");
/// assert_eq!(scan_start_key(cursor_for_key(b"user:42")), b"user:42");
/// assert_eq!(scan_start_key(cursor_for_key(b"user:4217")), b"user:421");
/// ```
pub fn scan_start_key(cursor: u64) -> Vec<u8> {
    let Some(prefix) = cursor.checked_sub(1) else {
        return Vec::new();
    };
    let mut key = prefix.to_be_bytes().to_vec();
    while key.last() == Some(&0) {
        key.pop();
    }
    key
}

/// What one SCAN call returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanBatch {
    /// The visited keys the filter kept, in key order.
    pub keys: Vec<Bytes>,
    /// The cursor of the next call; 0 when the scan is over.
    pub next_cursor: u64,
}

/// Runs one SCAN call over `keys`: the keys at or after
/// [`scan_start_key`] of the cursor, in order. Visits at least `count`
/// keys and stops only at an 8-byte prefix boundary (module docs); keeps
/// the keys `keep` accepts.
///
/// # Errors
/// The first error `keys` yields.
pub fn scan_batch<E>(
    keys: impl Iterator<Item = Result<Bytes, E>>,
    count: u64,
    mut keep: impl FnMut(&[u8]) -> bool,
) -> Result<ScanBatch, E> {
    let mut kept = Vec::new();
    let mut last_prefix: Option<[u8; SCAN_CURSOR_PREFIX_BYTES]> = None;
    for (visited, key) in (0u64..).zip(keys) {
        let key = key?;
        let prefix = cursor_prefix(&key);
        if visited >= count && last_prefix != Some(prefix) && prefix != LAST_PREFIX {
            debug_assert!(last_prefix.is_none_or(|last| last < prefix));
            return Ok(ScanBatch {
                keys: kept,
                next_cursor: cursor_for_key(&key),
            });
        }
        last_prefix = Some(prefix);
        if keep(&key) {
            kept.push(key);
        }
    }
    Ok(ScanBatch {
        keys: kept,
        next_cursor: 0,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::convert::Infallible;

    use super::*;

    fn batch(keys: &BTreeSet<Vec<u8>>, cursor: u64, count: u64) -> ScanBatch {
        let start = scan_start_key(cursor);
        let iter = keys
            .range(start..)
            .map(|key| Ok::<_, Infallible>(Bytes::copy_from_slice(key)));
        match scan_batch(iter, count, |_| true) {
            Ok(batch) => batch,
            Err(never) => match never {},
        }
    }

    fn full_scan(keys: &BTreeSet<Vec<u8>>, count: u64) -> (Vec<Vec<u8>>, usize) {
        let mut cursor = 0;
        let mut seen = Vec::new();
        let mut calls = 0;
        loop {
            let result = batch(keys, cursor, count);
            calls += 1;
            seen.extend(result.keys.iter().map(|key| key.to_vec()));
            if result.next_cursor == 0 {
                return (seen, calls);
            }
            assert!(result.next_cursor > cursor, "the cursor strictly grows");
            cursor = result.next_cursor;
        }
    }

    #[test]
    fn cursors_round_trip_and_start_at_or_before_the_key() {
        for key in [
            &b""[..],
            b"a",
            b"a\0",
            b"a\0b",
            b"abcdefgh",
            b"abcdefghij",
            b"\0\0\0",
            b"\xff\xff\xff\xff\xff\xff\xff\xfe",
        ] {
            let cursor = cursor_for_key(key);
            assert_ne!(cursor, 0);
            let start = scan_start_key(cursor);
            assert!(start.as_slice() <= key, "{key:?} resumes at {start:?}");
            assert!(key.starts_with(&start));
        }
        assert_eq!(scan_start_key(1), b"");
        assert_eq!(
            scan_start_key(u64::MAX),
            b"\xff\xff\xff\xff\xff\xff\xff\xfe"
        );
    }

    #[test]
    fn a_scan_visits_every_key_exactly_once_when_prefixes_differ() {
        let keys: BTreeSet<Vec<u8>> = (0..500u32).map(|n| format!("{n:x}").into_bytes()).collect();
        let (seen, calls) = full_scan(&keys, 10);
        assert_eq!(seen, keys.iter().cloned().collect::<Vec<_>>());
        assert!(calls >= 50, "COUNT 10 over 500 keys pages: {calls} calls");
    }

    #[test]
    fn keys_sharing_a_prefix_come_in_one_call() {
        let keys: BTreeSet<Vec<u8>> = (0..100u32)
            .map(|n| format!("samepref{n:03}").into_bytes())
            .chain([b"other".to_vec(), b"zzz".to_vec()])
            .collect();
        let first = batch(&keys, 0, 1);
        assert_eq!(first.keys, vec![Bytes::from_static(b"other")]);
        let second = batch(&keys, first.next_cursor, 1);
        assert_eq!(second.keys.len(), 100, "the whole shared prefix at once");
        let (seen, _) = full_scan(&keys, 1);
        assert_eq!(seen.len(), keys.len());
    }

    #[test]
    fn keys_with_zero_bytes_and_the_last_prefix_are_not_missed() {
        let keys: BTreeSet<Vec<u8>> = [
            &b""[..],
            b"\0",
            b"\0\0\0\0\0\0\0\0\0",
            b"a",
            b"a\0",
            b"a\0\0\x01",
            b"\xff\xff\xff\xff\xff\xff\xff\xff",
            b"\xff\xff\xff\xff\xff\xff\xff\xff\x01",
            b"\xff\xff\xff\xff\xff\xff\xff\xff\xff",
        ]
        .iter()
        .map(|key| key.to_vec())
        .collect();
        for count in 1..4 {
            let (seen, _) = full_scan(&keys, count);
            let unique: BTreeSet<Vec<u8>> = seen.iter().cloned().collect();
            assert_eq!(unique, keys, "COUNT {count}");
        }
    }

    #[test]
    fn filters_apply_to_visited_keys() {
        let keys: BTreeSet<Vec<u8>> = (0..20u32)
            .map(|n| format!("k{n:02}").into_bytes())
            .collect();
        let iter = keys
            .iter()
            .map(|key| Ok::<_, Infallible>(Bytes::copy_from_slice(key)));
        let result =
            scan_batch(iter, 100, |key| key.ends_with(b"7")).unwrap_or_else(|never| match never {});
        assert_eq!(
            result.keys,
            vec![Bytes::from_static(b"k07"), Bytes::from_static(b"k17")]
        );
        assert_eq!(result.next_cursor, 0);
    }
}

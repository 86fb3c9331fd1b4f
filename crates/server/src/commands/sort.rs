//! SORT and SORT_RO: the elements of a list, set or sorted set, ordered
//! by their own value or by keys a pattern names (BY), numerically or
//! as bytes (ALPHA), ASC or DESC, a LIMIT of them, each replaced by the
//! values GET patterns name, returned or stored as a list (STORE) — with
//! Redis 7's replies and errors (`sort.c`).
//!
//! A pattern names a key by its first `*`, replaced by the element
//! (`weight_*`), and a hash field by what follows `->` after it
//! (`object_*->weight`); `#` is the element itself. BY a pattern without
//! `*` does not sort: the elements stay in their collection's order (a
//! set's is its members' byte order, which Redis gives scripts too).

use std::cmp::Ordering;

use bytes::Bytes;

use super::arguments::{SYNTAX_ERROR_TEXT, integer_argument, parse_float};
use super::collection::{Collection, KeyEntry, wrong_type};
use super::encoding::{Kind, MEMBER_TAG};
use super::notify::EventClasses;
use super::{CommandId, DataCall, Failure, Outcome, count_reply};
use crate::resp::Reply;

/// Redis's error for a weight that is not a number.
const NOT_A_DOUBLE_TEXT: &str = "ERR One or more scores can't be converted into double";

/// SORT's options.
#[derive(Debug, Default)]
struct SortOptions {
    /// BY pattern; `None`: the elements themselves.
    by: Option<Bytes>,
    /// BY a pattern without `*`: keep the collection's order.
    unsorted: bool,
    /// LIMIT offset count.
    limit: Option<(i64, i64)>,
    /// GET patterns, in order.
    gets: Vec<Bytes>,
    descending: bool,
    alpha: bool,
    /// STORE destination.
    store: Option<Bytes>,
}

/// Reads SORT's options (`arguments[2..]`); SORT_RO takes no STORE.
fn parse_sort(arguments: &[Bytes], read_only: bool) -> Result<SortOptions, Reply> {
    let mut options = SortOptions::default();
    let mut index = 2;
    let is = |index: usize, name: &[u8]| arguments[index].eq_ignore_ascii_case(name);
    while index < arguments.len() {
        let left = arguments.len() - index - 1;
        if is(index, b"ASC") {
            options.descending = false;
        } else if is(index, b"DESC") {
            options.descending = true;
        } else if is(index, b"ALPHA") {
            options.alpha = true;
        } else if is(index, b"LIMIT") && left >= 2 {
            let offset = integer_argument(&arguments[index + 1])?;
            let count = integer_argument(&arguments[index + 2])?;
            options.limit = Some((offset, count));
            index += 2;
        } else if is(index, b"STORE") && left >= 1 && !read_only {
            options.store = Some(arguments[index + 1].clone());
            index += 1;
        } else if is(index, b"BY") && left >= 1 {
            let pattern = arguments[index + 1].clone();
            options.unsorted = !pattern.contains(&b'*');
            options.by = Some(pattern);
            index += 1;
        } else if is(index, b"GET") && left >= 1 {
            options.gets.push(arguments[index + 1].clone());
            index += 1;
        } else {
            return Err(Reply::error(SYNTAX_ERROR_TEXT));
        }
        index += 1;
    }
    Ok(options)
}

/// The key and hash field a pattern names for `element`; `None` when it
/// has no `*` (`lookupKeyByPattern`).
fn pattern_target(pattern: &[u8], element: &[u8]) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    let star = pattern.iter().position(|&byte| byte == b'*')?;
    let after = &pattern[star + 1..];
    let arrow = after
        .windows(2)
        .position(|pair| pair == b"->")
        .filter(|&at| at + 2 < after.len());
    let (key_tail, field) = match arrow {
        Some(at) => (&after[..at], Some(after[at + 2..].to_vec())),
        None => (after, None),
    };
    let mut key = Vec::with_capacity(pattern.len() + element.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(element);
    key.extend_from_slice(key_tail);
    Some((key, field))
}

/// The value `pattern` names for `element`: the element for `#`, a
/// string's value, a hash's field; `None` for anything else.
fn lookup(
    call: &mut DataCall<'_>,
    pattern: &[u8],
    element: &Bytes,
) -> Result<Option<Bytes>, Failure> {
    if pattern == b"#" {
        return Ok(Some(element.clone()));
    }
    let Some((key, field)) = pattern_target(pattern, element) else {
        return Ok(None);
    };
    match (call.entry(&key)?, field) {
        (Some(KeyEntry::String(stored)), None) => Ok(Some(stored.value)),
        (Some(KeyEntry::Collection(hash)), Some(field)) if hash.kind == Kind::Hash => {
            Ok(hash.get(call.store, MEMBER_TAG, &field)?)
        }
        _ => Ok(None),
    }
}

/// The elements of the collection at `key`, in its own order (a sorted
/// set's by score, reversed for DESC when not sorting).
fn elements(
    call: &mut DataCall<'_>,
    key: &[u8],
    descending_if_zset: bool,
) -> Result<Vec<Bytes>, Failure> {
    let collection: Collection = match call.entry(key)? {
        None => return Ok(Vec::new()),
        Some(KeyEntry::String(_)) => return Err(wrong_type()),
        Some(KeyEntry::Collection(collection)) => collection,
    };
    match collection.kind {
        Kind::List => super::lists::all_items(call, &collection),
        Kind::Set => Ok(collection
            .all(call.store, MEMBER_TAG)?
            .into_iter()
            .map(|(member, _)| member)
            .collect()),
        Kind::SortedSet => {
            let mut members: Vec<Bytes> = super::sorted_sets::all_scored(call, &collection)?
                .into_iter()
                .map(|(member, _)| member)
                .collect();
            if descending_if_zset {
                members.reverse();
            }
            Ok(members)
        }
        _ => Err(wrong_type()),
    }
}

/// An element with what it is ordered by.
struct Weighted {
    element: Bytes,
    score: f64,
    text: Option<Bytes>,
}

/// Orders `elements` as `options` ask (`sortCompare`): numbers by value
/// (equal ones by their bytes), ALPHA by bytes with a missing weight
/// first; DESC reversed.
fn sort_elements(
    call: &mut DataCall<'_>,
    elements: Vec<Bytes>,
    options: &SortOptions,
) -> Result<Vec<Bytes>, Failure> {
    let mut weighted = Vec::with_capacity(elements.len());
    for element in elements {
        let text = match &options.by {
            Some(pattern) => lookup(call, pattern, &element)?,
            None => Some(element.clone()),
        };
        let score = match (&text, options.alpha) {
            (_, true) | (None, false) => 0.0,
            (Some(text), false) => parse_float(text)
                .filter(|score| !score.is_nan())
                .ok_or_else(|| Reply::error(NOT_A_DOUBLE_TEXT))?,
        };
        weighted.push(Weighted {
            element,
            score,
            text,
        });
    }
    let compare = |a: &Weighted, b: &Weighted| -> Ordering {
        let order = if options.alpha {
            match (&a.text, &b.text) {
                (Some(a), Some(b)) => a.cmp(b),
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            }
        } else {
            a.score.partial_cmp(&b.score).unwrap_or(Ordering::Equal)
        };
        order.then_with(|| a.element.cmp(&b.element))
    };
    weighted.sort_by(|a, b| {
        let order = compare(a, b);
        if options.descending {
            order.reverse()
        } else {
            order
        }
    });
    Ok(weighted
        .into_iter()
        .map(|weighted| weighted.element)
        .collect())
}

/// LIMIT's window over `length` elements (`sortCommand`'s start and end).
fn limit_window(limit: Option<(i64, i64)>, length: usize) -> std::ops::Range<usize> {
    let Some((offset, count)) = limit else {
        return 0..length;
    };
    let length = i64::try_from(length).unwrap_or(i64::MAX);
    let start = offset.clamp(0, length);
    let count = if count < 0 { length } else { count };
    let end = start.saturating_add(count).min(length);
    let as_index = |value: i64| usize::try_from(value).unwrap_or(0);
    as_index(start)..as_index(end.max(start))
}

/// SORT key [BY pattern] [LIMIT offset count] [GET pattern …] [ASC |
/// DESC] [ALPHA] [STORE destination], and SORT_RO (no STORE).
pub(crate) fn sort(call: &mut DataCall<'_>) -> Outcome {
    let options = parse_sort(call.arguments, call.id() == CommandId::SortRo)?;
    let key = call.key();
    let mut found = elements(call, key, options.unsorted && options.descending)?;
    if !options.unsorted {
        found = sort_elements(call, found, &options)?;
    }
    let window = limit_window(options.limit, found.len());
    let mut values: Vec<Option<Bytes>> = Vec::new();
    for element in &found[window] {
        if options.gets.is_empty() {
            values.push(Some(element.clone()));
        }
        for pattern in &options.gets {
            values.push(lookup(call, pattern, element)?);
        }
    }
    match options.store {
        None => Ok(Reply::Array(values.into_iter().map(Reply::from).collect()).into()),
        Some(target) => store(call, &target, values),
    }
}

/// STORE: replaces `target` with a list of `values` (a missing one as an
/// empty string, as Redis stores it), or deletes it when there are none.
fn store(call: &mut DataCall<'_>, target: &Bytes, values: Vec<Option<Bytes>>) -> Outcome {
    let count = values.len();
    let existed = call.delete(target)?;
    let mut list = call.new_collection(target, Kind::List)?;
    for value in values {
        super::lists::push_right(call, &mut list, value.unwrap_or_default())?;
    }
    call.save(&list)?;
    if count > 0 {
        call.notify(EventClasses::LIST, "sortstore", target);
    } else if existed {
        call.notify(EventClasses::GENERIC, "del", target);
    }
    Ok(count_reply(count).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_name_keys_and_hash_fields_as_redis_does() {
        assert_eq!(
            pattern_target(b"weight_*", b"3"),
            Some((b"weight_3".to_vec(), None))
        );
        assert_eq!(
            pattern_target(b"object_*->weight", b"7"),
            Some((b"object_7".to_vec(), Some(b"weight".to_vec())))
        );
        // `->` with nothing after it is part of the key name.
        assert_eq!(
            pattern_target(b"hash_*->", b"1"),
            Some((b"hash_1->".to_vec(), None))
        );
        // Only `->` after the `*` names a field.
        assert_eq!(
            pattern_target(b"a->b_*", b"1"),
            Some((b"a->b_1".to_vec(), None))
        );
        assert_eq!(pattern_target(b"nosort", b"1"), None);
    }

    #[test]
    fn limit_windows_clamp_as_redis_does() {
        assert_eq!(limit_window(None, 5), 0..5);
        assert_eq!(limit_window(Some((1, 2)), 5), 1..3);
        assert_eq!(limit_window(Some((-3, 2)), 5), 0..2);
        assert_eq!(limit_window(Some((2, -1)), 5), 2..5);
        assert_eq!(limit_window(Some((9, 2)), 5), 5..5);
        assert_eq!(limit_window(Some((0, i64::MAX)), 5), 0..5);
    }

    #[test]
    fn options_parse_and_refuse_as_redis_does() {
        let arguments = |text: &str| -> Vec<Bytes> {
            text.split(' ')
                .map(|part| Bytes::copy_from_slice(part.as_bytes()))
                .collect()
        };
        let parsed = parse_sort(
            &arguments("SORT k BY w_* LIMIT 0 10 GET # GET o_*->f DESC ALPHA STORE d"),
            false,
        )
        .expect("valid options");
        assert_eq!(parsed.by.as_deref(), Some(&b"w_*"[..]));
        assert!(!parsed.unsorted && parsed.descending && parsed.alpha);
        assert_eq!(parsed.limit, Some((0, 10)));
        assert_eq!(parsed.gets.len(), 2);
        assert_eq!(parsed.store.as_deref(), Some(&b"d"[..]));
        assert!(
            parse_sort(&arguments("SORT k BY nosort"), false)
                .unwrap()
                .unsorted
        );
        assert!(parse_sort(&arguments("SORT_RO k STORE d"), true).is_err());
        assert!(parse_sort(&arguments("SORT k LIMIT 1"), false).is_err());
        assert!(parse_sort(&arguments("SORT k LIMIT a 1"), false).is_err());
    }
}

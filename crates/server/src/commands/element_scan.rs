//! HSCAN, SSCAN, ZSCAN: SCAN's cursor (`scan.rs`) over a collection's
//! members in member order, and the random picks of HRANDFIELD,
//! SRANDMEMBER, SPOP and ZRANDMEMBER.

use std::ops::Bound;

use bytes::Bytes;

use super::arguments::{SYNTAX_ERROR_TEXT, parse_scan};
use super::collection::Collection;
use super::encoding::{Kind, MEMBER_TAG};
use super::scan::{scan_batch, scan_start_key};
use super::store::StoreResult;
use super::{DataCall, KeyValueStore, Outcome};
use crate::resp::Reply;

/// Members read from the store per batch of a scan.
const SCAN_BATCH_MEMBERS: usize = 256;

/// `KIND-SCAN key cursor [MATCH pattern] [COUNT count]`: a reply of the
/// next cursor and the kept members, each followed by `value_of` its
/// stored value when that gives one (a hash's value, a sorted set's
/// score).
pub(crate) fn scan_members(
    call: &mut DataCall<'_>,
    kind: Kind,
    value_of: fn(&Bytes) -> Option<Reply>,
) -> Outcome {
    let scan = parse_scan(&call.arguments[1..])?;
    if scan.type_name.is_some() {
        return Ok(Reply::error(SYNTAX_ERROR_TEXT).into());
    }
    let key = call.key();
    let Some(collection) = call.collection(key, kind)? else {
        return Ok(scan_reply(0, Vec::new()));
    };
    let start = scan_start_key(scan.cursor);
    let store = &mut *call.store;
    let mut values = Vec::new();
    let mut pending: std::vec::IntoIter<(Bytes, Bytes)> = Vec::new().into_iter();
    let mut last: Option<Bytes> = None;
    let mut exhausted = false;
    let members = std::iter::from_fn(|| -> Option<StoreResult<Bytes>> {
        if pending.len() == 0 && !exhausted {
            let from = match &last {
                None => Bound::Included(&start[..]),
                Some(last) => Bound::Excluded(&last[..]),
            };
            let batch = collection.range(
                store,
                MEMBER_TAG,
                (from, Bound::Unbounded),
                false,
                SCAN_BATCH_MEMBERS,
            );
            match batch {
                Err(error) => return Some(Err(error)),
                Ok(batch) => {
                    exhausted = batch.len() < SCAN_BATCH_MEMBERS;
                    pending = batch.into_iter();
                }
            }
        }
        let (member, value) = pending.next()?;
        last = Some(member.clone());
        values.push(value);
        Some(Ok(member))
    });
    let mut visited_values = Vec::new();
    let batch = scan_batch(members, scan.count, |member| {
        let keep = scan
            .pattern
            .as_ref()
            .is_none_or(|pattern| pattern.matches(member));
        visited_values.push(keep);
        keep
    })?;
    let kept_values = values
        .into_iter()
        .zip(visited_values)
        .filter_map(|(value, keep)| keep.then_some(value));
    let mut items = Vec::with_capacity(batch.keys.len() * 2);
    for (member, value) in batch.keys.into_iter().zip(kept_values) {
        items.push(Reply::Bulk(member));
        items.extend(value_of(&value));
    }
    Ok(scan_reply(batch.next_cursor, items))
}

fn scan_reply(cursor: u64, items: Vec<Reply>) -> super::Answer {
    let mut text = Vec::with_capacity(20);
    crate::resp::push_unsigned_decimal(&mut text, cursor);
    Reply::Array(vec![Reply::Bulk(Bytes::from(text)), Reply::Array(items)]).into()
}

/// Positions of members to pick among `length`: `count ≥ 0` distinct
/// ones (all when `count ≥ length`), in random order; `count < 0`,
/// `|count|` with repeats.
pub fn pick_positions(length: u64, count: i64) -> Vec<u64> {
    if length == 0 {
        return Vec::new();
    }
    if count < 0 {
        return (0..count.unsigned_abs())
            .map(|_| rand::random_range(0..length))
            .collect();
    }
    let count = count.unsigned_abs().min(length);
    let mut positions: Vec<u64> =
        rand::seq::index::sample(&mut rand::rng(), length as usize, count as usize)
            .into_iter()
            .map(|position| position as u64)
            .collect();
    if count == length {
        positions.sort_unstable();
    }
    positions
}

/// The member (and stored value) at `position` in member order.
pub fn member_at(
    store: &mut dyn KeyValueStore,
    collection: &Collection,
    position: u64,
) -> StoreResult<Option<(Bytes, Bytes)>> {
    let count_max = usize::try_from(position.saturating_add(1)).unwrap_or(usize::MAX);
    let mut members = collection.range(
        store,
        MEMBER_TAG,
        (Bound::Unbounded, Bound::Unbounded),
        false,
        count_max,
    )?;
    Ok(members.pop().filter(|_| members.len() as u64 == position))
}

/// The members at `positions` (which index member order), read in one
/// pass.
pub fn members_at(
    store: &mut dyn KeyValueStore,
    collection: &Collection,
    positions: &[u64],
) -> StoreResult<Vec<(Bytes, Bytes)>> {
    let all = collection.all(store, MEMBER_TAG)?;
    Ok(positions
        .iter()
        .filter_map(|&position| all.get(position as usize).cloned())
        .collect())
}

//! The list commands: LPUSH, RPUSH, LPUSHX, RPUSHX, LPOP, RPOP, LLEN,
//! LINDEX, LSET, LRANGE, LTRIM, LINSERT, LREM, LPOS, LMOVE, RPOPLPUSH,
//! LMPOP. An item is an element under `MEMBER_TAG` at its position; the
//! header's `head..tail` are the positions in use, so a push or pop at
//! either end is O(1), and an insertion or removal inside rewrites the
//! items after it.

use std::ops::Bound;

use bytes::Bytes;

use super::arguments::{SYNTAX_ERROR_TEXT, integer_argument, parse_multiple_pop};
use super::blocking::parse_timeout;
use super::collection::Collection;
use super::encoding::{Kind, MEMBER_TAG, position_bytes};
use super::notify::EventClasses;
use super::{Answer, CommandId, DataCall, ElementRange, Failure, Outcome, count_reply};
use crate::resp::Reply;

/// Which end of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    Left,
    Right,
}

fn parse_end(argument: &[u8]) -> Result<End, Reply> {
    if argument.eq_ignore_ascii_case(b"LEFT") {
        Ok(End::Left)
    } else if argument.eq_ignore_ascii_case(b"RIGHT") {
        Ok(End::Right)
    } else {
        Err(Reply::error(SYNTAX_ERROR_TEXT))
    }
}

impl End {
    /// The keyspace event of a push at this end.
    fn push_event(self) -> &'static str {
        match self {
            End::Left => "lpush",
            End::Right => "rpush",
        }
    }

    /// The keyspace event of a pop from this end.
    fn pop_event(self) -> &'static str {
        match self {
            End::Left => "lpop",
            End::Right => "rpop",
        }
    }
}

fn list_at(call: &mut DataCall<'_>, key: &[u8]) -> Result<Option<Collection>, Failure> {
    call.collection(key, Kind::List)
}

fn push(
    call: &mut DataCall<'_>,
    list: &mut Collection,
    item: Bytes,
    end: End,
) -> Result<(), Failure> {
    let position = match end {
        End::Left => {
            list.header.head -= 1;
            list.header.head
        }
        End::Right => {
            list.header.tail += 1;
            list.header.tail - 1
        }
    };
    list.put(call.store, MEMBER_TAG, &position_bytes(position), item)?;
    list.header.count += 1;
    Ok(())
}

fn pop(call: &mut DataCall<'_>, list: &mut Collection, end: End) -> Result<Option<Bytes>, Failure> {
    if list.is_empty() {
        return Ok(None);
    }
    let position = match end {
        End::Left => list.header.head,
        End::Right => list.header.tail - 1,
    };
    let item = list.get(call.store, MEMBER_TAG, &position_bytes(position))?;
    list.remove(call.store, MEMBER_TAG, &position_bytes(position))?;
    match end {
        End::Left => list.header.head += 1,
        End::Right => list.header.tail -= 1,
    }
    list.header.count -= 1;
    Ok(item)
}

/// The items at indexes `from..=to` (0 is the head), in order.
fn items(
    call: &mut DataCall<'_>,
    list: &Collection,
    from: u64,
    to: u64,
) -> Result<Vec<Bytes>, Failure> {
    let range = items_range(list, from, to);
    let entries = call.store.elements(&range)?;
    Ok(entries.into_iter().map(|(_, value)| value).collect())
}

/// The run of the elements keyspace that holds `list`'s items `from`
/// through `to`.
fn items_range(list: &Collection, from: u64, to: u64) -> ElementRange {
    let head = list.header.head;
    let from = position_bytes(head.saturating_add(from as i64));
    let to = position_bytes(head.saturating_add(to as i64));
    let bounds = (Bound::Included(&from[..]), Bound::Included(&to[..]));
    list.element_range(MEMBER_TAG, bounds, false, usize::MAX)
}

pub(crate) fn all_items(call: &mut DataCall<'_>, list: &Collection) -> Result<Vec<Bytes>, Failure> {
    match list.len() {
        0 => Ok(Vec::new()),
        length => items(call, list, 0, length - 1),
    }
}

/// Replaces the items from index `from` on with `rest`.
fn rewrite_from(
    call: &mut DataCall<'_>,
    list: &mut Collection,
    from: u64,
    rest: Vec<Bytes>,
) -> Result<(), Failure> {
    let start = list.header.head + from as i64;
    for position in start..list.header.tail {
        list.remove(call.store, MEMBER_TAG, &position_bytes(position))?;
    }
    list.header.tail = start;
    for item in rest {
        let position = list.header.tail;
        list.put(call.store, MEMBER_TAG, &position_bytes(position), item)?;
        list.header.tail += 1;
    }
    list.header.count = (list.header.tail - list.header.head) as u64;
    Ok(())
}

/// Redis's inclusive `start`/`stop` indexes (negative from the end) over
/// `length` items, clamped; `None` when the range is empty.
pub fn index_range(length: u64, start: i64, stop: i64) -> Option<(u64, u64)> {
    let length = i64::try_from(length).unwrap_or(i64::MAX);
    let resolve = |index: i64| if index < 0 { length + index } else { index };
    let start = resolve(start).max(0);
    let stop = resolve(stop).min(length - 1);
    (start <= stop && start < length).then_some((start as u64, stop as u64))
}

/// Appends `item` at the tail of `list` (SORT … STORE).
pub(crate) fn push_right(
    call: &mut DataCall<'_>,
    list: &mut Collection,
    item: Bytes,
) -> Result<(), Failure> {
    push(call, list, item, End::Right)
}

/// LPUSH, RPUSH, LPUSHX, RPUSHX key element [element …].
pub(crate) fn push_command(call: &mut DataCall<'_>) -> Outcome {
    let (end, only_existing) = match call.id() {
        CommandId::Lpush => (End::Left, false),
        CommandId::Lpushx => (End::Left, true),
        CommandId::Rpushx => (End::Right, true),
        _ => (End::Right, false),
    };
    let key = call.key();
    let mut list = match list_at(call, key)? {
        Some(list) => list,
        None if only_existing => return Ok(Reply::Integer(0).into()),
        None => call.new_collection(key, Kind::List)?,
    };
    for index in 2..call.arguments.len() {
        let item = call.owned_argument(index);
        push(call, &mut list, item, end)?;
    }
    call.save_notify(&list, true, EventClasses::LIST, end.push_event())?;
    Ok(Reply::Integer(list.len() as i64).into())
}

/// LPOP key [count], RPOP key [count].
pub(crate) fn pop_command(call: &mut DataCall<'_>) -> Outcome {
    let end = match call.id() {
        CommandId::Lpop => End::Left,
        _ => End::Right,
    };
    let count = match call.arguments.get(2) {
        None => None,
        Some(count) => Some(
            u64::try_from(integer_argument(count)?)
                .map_err(|_| Reply::error("ERR value is out of range, must be positive"))?,
        ),
    };
    if call.arguments.len() > 3 {
        return Ok(super::table::wrong_arity(call.spec).into());
    }
    let key = call.key();
    let Some(mut list) = list_at(call, key)? else {
        return Ok(match count {
            None => Reply::NullBulk,
            Some(_) => Reply::NullArray,
        }
        .into());
    };
    let Some(count) = count else {
        // One item, no list of them.
        let item = pop(call, &mut list, end)?;
        call.save_notify(&list, item.is_some(), EventClasses::LIST, end.pop_event())?;
        return Ok(Reply::from(item).into());
    };
    let mut popped = Vec::new();
    for _ in 0..count.min(list.len()) {
        popped.extend(pop(call, &mut list, end)?);
    }
    call.save_notify(
        &list,
        !popped.is_empty(),
        EventClasses::LIST,
        end.pop_event(),
    )?;
    Ok(Reply::Array(popped.into_iter().map(Reply::Bulk).collect()).into())
}

/// LLEN key.
pub(crate) fn llen(call: &mut DataCall<'_>) -> Outcome {
    let key = call.key();
    Ok(Reply::Integer(list_at(call, key)?.map_or(0, |list| list.len()) as i64).into())
}

/// The index argument's item position in `list`, if in range.
fn position_of(list: &Collection, index: i64) -> Option<i64> {
    let length = list.len() as i64;
    let index = if index < 0 { length + index } else { index };
    (0..length)
        .contains(&index)
        .then(|| list.header.head + index)
}

/// LINDEX key index.
pub(crate) fn lindex(call: &mut DataCall<'_>) -> Outcome {
    let index = integer_argument(&call.arguments[2])?;
    let key = call.key();
    let Some(list) = list_at(call, key)? else {
        return Ok(Reply::NullBulk.into());
    };
    let Some(position) = position_of(&list, index) else {
        return Ok(Reply::NullBulk.into());
    };
    Ok(Reply::from(list.get(call.store, MEMBER_TAG, &position_bytes(position))?).into())
}

/// LSET key index element.
pub(crate) fn lset(call: &mut DataCall<'_>) -> Outcome {
    let index = integer_argument(&call.arguments[2])?;
    let key = call.key();
    let Some(list) = list_at(call, key)? else {
        return Ok(Reply::error("ERR no such key").into());
    };
    let Some(position) = position_of(&list, index) else {
        return Ok(Reply::error("ERR index out of range").into());
    };
    let item = call.owned_argument(3);
    list.put(call.store, MEMBER_TAG, &position_bytes(position), item)?;
    call.notify(EventClasses::LIST, "lset", key);
    Ok(Reply::ok().into())
}

/// LRANGE key start stop.
pub(crate) fn lrange(call: &mut DataCall<'_>) -> Outcome {
    let start = integer_argument(&call.arguments[2])?;
    let stop = integer_argument(&call.arguments[3])?;
    let key = call.key();
    let Some(list) = list_at(call, key)? else {
        return Ok(Reply::Array(Vec::new()).into());
    };
    let Some((from, to)) = index_range(list.len(), start, stop) else {
        return Ok(Reply::Array(Vec::new()).into());
    };
    if call.output.is_some() {
        let range = items_range(&list, from, to);
        let count = usize::try_from(to - from + 1).unwrap_or(usize::MAX);
        if call.reply_element_values(count, &range)? {
            return Ok(Answer::Encoded);
        }
    }
    // No output to write into, or the items were not all there.
    let found = items(call, &list, from, to)?;
    call.reply_bulks(found)
}

/// LTRIM key start stop.
pub(crate) fn ltrim(call: &mut DataCall<'_>) -> Outcome {
    let start = integer_argument(&call.arguments[2])?;
    let stop = integer_argument(&call.arguments[3])?;
    let key = call.key();
    let Some(mut list) = list_at(call, key)? else {
        return Ok(Reply::ok().into());
    };
    let (from, to) = index_range(list.len(), start, stop).unwrap_or((list.len(), 0));
    let keep = if from >= list.len() { 0 } else { to - from + 1 };
    for _ in 0..from.min(list.len()) {
        pop(call, &mut list, End::Left)?;
    }
    while list.len() > keep {
        pop(call, &mut list, End::Right)?;
    }
    call.save_notify(&list, true, EventClasses::LIST, "ltrim")?;
    Ok(Reply::ok().into())
}

/// LINSERT key BEFORE | AFTER pivot element.
pub(crate) fn linsert(call: &mut DataCall<'_>) -> Outcome {
    let where_ = &call.arguments[2];
    let after = if where_.eq_ignore_ascii_case(b"AFTER") {
        true
    } else if where_.eq_ignore_ascii_case(b"BEFORE") {
        false
    } else {
        return Ok(Reply::error(SYNTAX_ERROR_TEXT).into());
    };
    let key = call.key();
    let Some(mut list) = list_at(call, key)? else {
        return Ok(Reply::Integer(0).into());
    };
    let all = all_items(call, &list)?;
    let Some(found) = all.iter().position(|item| item == &call.arguments[3]) else {
        return Ok(Reply::Integer(-1).into());
    };
    let at = found + usize::from(after);
    let mut rest = all[at..].to_vec();
    rest.insert(0, call.owned_argument(4));
    rewrite_from(call, &mut list, at as u64, rest)?;
    call.save_notify(&list, true, EventClasses::LIST, "linsert")?;
    Ok(Reply::Integer(list.len() as i64).into())
}

/// LREM key count element.
pub(crate) fn lrem(call: &mut DataCall<'_>) -> Outcome {
    let count = integer_argument(&call.arguments[2])?;
    let key = call.key();
    let Some(mut list) = list_at(call, key)? else {
        return Ok(Reply::Integer(0).into());
    };
    let all = all_items(call, &list)?;
    let target = &call.arguments[3];
    let limit = if count == 0 {
        usize::MAX
    } else {
        count.unsigned_abs() as usize
    };
    let mut matches: Vec<usize> = all
        .iter()
        .enumerate()
        .filter(|(_, item)| *item == target)
        .map(|(index, _)| index)
        .collect();
    if count < 0 {
        matches.reverse();
    }
    matches.truncate(limit);
    let Some(&first) = matches.iter().min() else {
        return Ok(Reply::Integer(0).into());
    };
    let removed = matches.len();
    let rest = all
        .into_iter()
        .enumerate()
        .skip(first)
        .filter(|(index, _)| !matches.contains(index))
        .map(|(_, item)| item)
        .collect();
    rewrite_from(call, &mut list, first as u64, rest)?;
    call.save_notify(&list, true, EventClasses::LIST, "lrem")?;
    Ok(count_reply(removed).into())
}

/// LPOS's options.
struct LposOptions {
    rank: i64,
    count: Option<usize>,
    maxlen: usize,
}

fn parse_lpos(options: &[Bytes]) -> Result<LposOptions, Reply> {
    let mut parsed = LposOptions {
        rank: 1,
        count: None,
        maxlen: 0,
    };
    let mut rest = options;
    while let [option, value, tail @ ..] = rest {
        let value = integer_argument(value)?;
        if option.eq_ignore_ascii_case(b"RANK") {
            if value == 0 {
                return Err(Reply::error(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the last match",
                ));
            }
            if value == i64::MIN {
                return Err(Reply::error("ERR value is out of range"));
            }
            parsed.rank = value;
        } else if option.eq_ignore_ascii_case(b"COUNT") {
            parsed.count = Some(
                usize::try_from(value).map_err(|_| Reply::error("ERR COUNT can't be negative"))?,
            );
        } else if option.eq_ignore_ascii_case(b"MAXLEN") {
            parsed.maxlen =
                usize::try_from(value).map_err(|_| Reply::error("ERR MAXLEN can't be negative"))?;
        } else {
            return Err(Reply::error(SYNTAX_ERROR_TEXT));
        }
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(Reply::error(SYNTAX_ERROR_TEXT));
    }
    Ok(parsed)
}

/// LPOS key element [RANK rank] [COUNT num-matches] [MAXLEN len].
pub(crate) fn lpos(call: &mut DataCall<'_>) -> Outcome {
    let options = parse_lpos(&call.arguments[3..])?;
    let key = call.key();
    let list = list_at(call, key)?;
    let all = match &list {
        None => Vec::new(),
        Some(list) => all_items(call, list)?,
    };
    let target = &call.arguments[2];
    let compared = if options.maxlen == 0 {
        all.len()
    } else {
        options.maxlen.min(all.len())
    };
    let indexes: Box<dyn Iterator<Item = usize>> = if options.rank > 0 {
        Box::new(0..compared)
    } else {
        Box::new((all.len() - compared..all.len()).rev())
    };
    let skip = (options.rank.unsigned_abs() - 1) as usize;
    let wanted = match options.count {
        None => 1,
        Some(0) => usize::MAX,
        Some(count) => count,
    };
    let found: Vec<Reply> = indexes
        .filter(|&index| all[index] == target)
        .skip(skip)
        .take(wanted)
        .map(count_reply)
        .collect();
    Ok(match options.count {
        Some(_) => Reply::Array(found),
        None => found.into_iter().next().unwrap_or(Reply::NullBulk),
    }
    .into())
}

/// LMOVE source destination LEFT | RIGHT LEFT | RIGHT, RPOPLPUSH source
/// destination.
pub(crate) fn lmove(call: &mut DataCall<'_>) -> Outcome {
    let (from, to) = match call.id() {
        CommandId::Rpoplpush => (End::Right, End::Left),
        _ => (
            parse_end(&call.arguments[3])?,
            parse_end(&call.arguments[4])?,
        ),
    };
    move_item(call, from, to)
}

/// Pops an item from `from` of the source list and pushes it at `to` of
/// the destination (arguments 1 and 2); null without a source.
fn move_item(call: &mut DataCall<'_>, from: End, to: End) -> Outcome {
    let (source_key, target_key) = (call.arguments[1].clone(), call.arguments[2].clone());
    let Some(mut source) = list_at(call, &source_key)? else {
        return Ok(Reply::NullBulk.into());
    };
    let target = list_at(call, &target_key)?;
    let item = pop(call, &mut source, from)?.unwrap_or_default();
    if source_key == target_key {
        push(call, &mut source, item.clone(), to)?;
        call.save_notify(&source, true, EventClasses::LIST, to.push_event())?;
        call.notify(EventClasses::LIST, from.pop_event(), &source_key);
        return Ok(Reply::Bulk(item).into());
    }
    call.save(&source)?;
    let mut target = match target {
        Some(target) => target,
        None => call.new_collection(&target_key, Kind::List)?,
    };
    push(call, &mut target, item.clone(), to)?;
    // Redis's order: the push, the pop, then the emptied source's `del`.
    call.save_notify(&target, true, EventClasses::LIST, to.push_event())?;
    call.notify(EventClasses::LIST, from.pop_event(), &source_key);
    if source.is_empty() {
        call.notify(EventClasses::GENERIC, "del", &source_key);
    }
    Ok(Reply::Bulk(item).into())
}

/// LMPOP numkeys key [key …] LEFT | RIGHT [COUNT count].
pub(crate) fn lmpop(call: &mut DataCall<'_>) -> Outcome {
    pop_first_list(call, 1)
}

/// LMPOP's work, its numkeys at `index`: pops from the first list of the
/// keys that exists; null when none does.
fn pop_first_list(call: &mut DataCall<'_>, index: usize) -> Outcome {
    let (keys, end, count) = parse_multiple_pop(call.arguments, index)?;
    let end = parse_end(end)?;
    for key in keys {
        let Some(mut list) = list_at(call, key)? else {
            continue;
        };
        let mut popped = Vec::new();
        for _ in 0..count.min(list.len()) {
            popped.extend(pop(call, &mut list, end)?);
        }
        call.save_notify(
            &list,
            !popped.is_empty(),
            EventClasses::LIST,
            end.pop_event(),
        )?;
        let items = Reply::Array(popped.into_iter().map(Reply::Bulk).collect());
        return Ok(Reply::Array(vec![Reply::Bulk(key.clone()), items]).into());
    }
    Ok(Reply::NullArray.into())
}

/// BLMPOP timeout numkeys key [key …] LEFT | RIGHT [COUNT count]: one
/// attempt (`blocking.rs` waits).
pub(crate) fn blmpop(call: &mut DataCall<'_>) -> Outcome {
    parse_timeout(&call.arguments[1])?;
    pop_first_list(call, 2)
}

/// BLPOP key [key …] timeout, BRPOP: one attempt, null when every list is
/// empty (`blocking.rs` waits).
pub(crate) fn blpop(call: &mut DataCall<'_>) -> Outcome {
    let last = call.arguments.len() - 1;
    parse_timeout(&call.arguments[last])?;
    let end = match call.id() {
        CommandId::Blpop => End::Left,
        _ => End::Right,
    };
    for key in &call.arguments[1..last] {
        let Some(mut list) = list_at(call, key)? else {
            continue;
        };
        let item = pop(call, &mut list, end)?.unwrap_or_default();
        call.save_notify(&list, true, EventClasses::LIST, end.pop_event())?;
        return Ok(Reply::Array(vec![Reply::Bulk(key.clone()), Reply::Bulk(item)]).into());
    }
    Ok(Reply::NullArray.into())
}

/// BLMOVE source destination LEFT | RIGHT LEFT | RIGHT timeout,
/// BRPOPLPUSH source destination timeout: one attempt.
pub(crate) fn blmove(call: &mut DataCall<'_>) -> Outcome {
    let (from, to) = match call.id() {
        CommandId::Brpoplpush => {
            parse_timeout(&call.arguments[3])?;
            (End::Right, End::Left)
        }
        _ => {
            let ends = (
                parse_end(&call.arguments[3])?,
                parse_end(&call.arguments[4])?,
            );
            parse_timeout(&call.arguments[5])?;
            ends
        }
    };
    move_item(call, from, to)
}

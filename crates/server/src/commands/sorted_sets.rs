//! The sorted-set commands (ZUNION, ZINTER, ZDIFF and ZINTERCARD are in
//! `zset_combine.rs`). A member is an element under `MEMBER_TAG`
//! whose value is its score (f64 LE), and an entry under `SCORE_TAG` keyed
//! `score_bytes(score) ‖ member`, so ranges by score or rank are range
//! scans in (score, member) order and ranges by member (lex) scans of the
//! members.

use std::ops::Bound;

use bytes::Bytes;
use smallvec::SmallVec;

use super::arguments::{SYNTAX_ERROR_TEXT, integer_argument, parse_float, parse_multiple_pop};
use super::blocking::parse_timeout;
use super::collection::Collection;
use super::element_scan::{members_at, pick_positions, scan_members};
use super::encoding::{
    Kind, MEMBER_TAG, PointKey, SCORE_TAG, joined, score_bytes, score_from_bytes,
};
use super::hashes::{pairs_reply_with, random_count};
use super::lists::index_range;
use super::notify::EventClasses;
use super::zset_ranges::{LexBound, ScoreBound, parse_lex_range, parse_score_range};
use super::{CommandId, DataCall, Failure, Outcome, count_reply};
use crate::resp::{ProtocolVersion, Reply};

const NOT_A_FLOAT_TEXT: &str = "ERR value is not a valid float";

/// A range of element keys, owned.
type OwnedBounds = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// A member and its score.
pub type Scored = (Bytes, f64);

/// A score as Redis 7.0 replies with it: a RESP3 double, or in RESP2 a
/// bulk string of `%.17g`.
fn score_reply(score: f64, protocol: ProtocolVersion) -> Reply {
    match protocol {
        ProtocolVersion::Resp3 => Reply::Double(score),
        ProtocolVersion::Resp2 => Reply::bulk(crate::resp::format_double_17_digits(score)),
    }
}

pub(crate) fn zset_at(call: &mut DataCall<'_>, key: &[u8]) -> Result<Option<Collection>, Failure> {
    call.collection(key, Kind::SortedSet)
}

fn decode_score(value: &[u8]) -> f64 {
    let mut bytes = [0u8; 8];
    if value.len() == 8 {
        bytes.copy_from_slice(value);
    }
    f64::from_le_bytes(bytes)
}

pub(crate) fn score_of(
    call: &mut DataCall<'_>,
    zset: &Collection,
    member: &[u8],
) -> Result<Option<f64>, Failure> {
    Ok(zset
        .get(call.store, MEMBER_TAG, member)?
        .map(|value| decode_score(&value)))
}

/// The rest of a member's score-index key: `score_bytes(score) ‖ member`
/// (on the stack when it fits).
fn score_key(score: f64, member: &[u8]) -> PointKey {
    joined(&score_bytes(score), member)
}

/// A member's value: its score, f64 LE. Owned by the `Bytes` itself, so
/// the engine's copies of it are a count, not an allocation each.
fn score_value(score: f64) -> Bytes {
    Bytes::from_owner(score.to_le_bytes())
}

/// Gives `member` the score `score` (it had `old`).
pub(crate) fn set_score(
    call: &mut DataCall<'_>,
    zset: &mut Collection,
    member: &[u8],
    old: Option<f64>,
    score: f64,
) -> Result<(), Failure> {
    if let Some(old) = old {
        zset.remove(call.store, SCORE_TAG, &score_key(old, member))?;
    } else {
        zset.header.count += 1;
    }
    zset.put(call.store, MEMBER_TAG, member, score_value(score))?;
    zset.put(
        call.store,
        SCORE_TAG,
        &score_key(score, member),
        Bytes::new(),
    )?;
    Ok(())
}

fn remove_member(
    call: &mut DataCall<'_>,
    zset: &mut Collection,
    member: &[u8],
    score: f64,
) -> Result<(), Failure> {
    zset.remove(call.store, MEMBER_TAG, member)?;
    zset.remove(call.store, SCORE_TAG, &score_key(score, member))?;
    zset.header.count -= 1;
    Ok(())
}

/// Members in (score, member) order (or reversed), skipping `offset`, at
/// most `count_max`, between the score-index bounds.
fn by_score_index(
    call: &mut DataCall<'_>,
    zset: &Collection,
    bounds: (Bound<&[u8]>, Bound<&[u8]>),
    reverse: bool,
    offset: usize,
    count_max: usize,
) -> Result<Vec<Scored>, Failure> {
    let wanted = offset.saturating_add(count_max);
    let entries = zset.range(call.store, SCORE_TAG, bounds, reverse, wanted)?;
    Ok(entries
        .into_iter()
        .skip(offset)
        .map(|(key, _)| {
            let mut score = [0u8; 8];
            score.copy_from_slice(&key[..8]);
            (key.slice(8..), score_from_bytes(score))
        })
        .collect())
}

pub(crate) fn all_scored(
    call: &mut DataCall<'_>,
    zset: &Collection,
) -> Result<Vec<Scored>, Failure> {
    by_score_index(
        call,
        zset,
        (Bound::Unbounded, Bound::Unbounded),
        false,
        0,
        usize::MAX,
    )
}

/// ZADD's options.
#[derive(Default)]
pub(crate) struct ZaddOptions {
    pub(crate) nx: bool,
    pub(crate) xx: bool,
    pub(crate) gt: bool,
    pub(crate) lt: bool,
    pub(crate) ch: bool,
    pub(crate) incr: bool,
}

/// ZADD's score–member pairs, scores parsed (one pair held inline).
type ZaddPairs<'a> = SmallVec<[(f64, &'a Bytes); 1]>;

fn parse_zadd(arguments: &[Bytes]) -> Result<(ZaddOptions, ZaddPairs<'_>), Reply> {
    let mut options = ZaddOptions::default();
    let mut index = 2;
    while let Some(option) = arguments.get(index) {
        // Compared in place: the first score ends the options, and an
        // upper-cased copy of it would be an allocation per ZADD.
        let is = |name: &str| option.eq_ignore_ascii_case(name.as_bytes());
        let flag = if is("NX") {
            &mut options.nx
        } else if is("XX") {
            &mut options.xx
        } else if is("GT") {
            &mut options.gt
        } else if is("LT") {
            &mut options.lt
        } else if is("CH") {
            &mut options.ch
        } else if is("INCR") {
            &mut options.incr
        } else {
            break;
        };
        *flag = true;
        index += 1;
    }
    let pairs = &arguments[index..];
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return Err(Reply::error(SYNTAX_ERROR_TEXT));
    }
    if options.nx && options.xx {
        return Err(Reply::error(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if (options.nx && (options.gt || options.lt)) || (options.gt && options.lt) {
        return Err(Reply::error(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if options.incr && pairs.len() > 2 {
        return Err(Reply::error(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    let mut parsed = ZaddPairs::with_capacity(pairs.len() / 2);
    for pair in pairs.chunks(2) {
        let score = parse_float(&pair[0]).ok_or_else(|| Reply::error(NOT_A_FLOAT_TEXT))?;
        parsed.push((score, &pair[1]));
    }
    Ok((options, parsed))
}

/// ZADD key [NX | XX] [GT | LT] [CH] [INCR] score member [score member …].
pub(crate) fn zadd(call: &mut DataCall<'_>) -> Outcome {
    let arguments = call.arguments;
    let (options, pairs) = parse_zadd(arguments)?;
    add_scored(call, &options, &pairs)
}

/// ZADD's work once its arguments are parsed (GEOADD's too): gives the
/// key's members their scores, as the options allow.
pub(crate) fn add_scored(
    call: &mut DataCall<'_>,
    options: &ZaddOptions,
    pairs: &[(f64, &Bytes)],
) -> Outcome {
    let key = call.key();
    let existing = zset_at(call, key)?;
    let mut zset = match existing {
        Some(zset) => zset,
        None if options.xx => {
            return Ok(if options.incr {
                Reply::NullBulk
            } else {
                Reply::Integer(0)
            }
            .into());
        }
        None => call.new_collection(key, Kind::SortedSet)?,
    };
    let (mut added, mut changed) = (0, 0);
    let mut incremented = None;
    for &(score, member) in pairs {
        let old = score_of(call, &zset, member)?;
        if (old.is_some() && options.nx) || (old.is_none() && options.xx) {
            continue;
        }
        let score = match (options.incr, old) {
            (true, old) => old.unwrap_or(0.0) + score,
            (false, _) => score,
        };
        if score.is_nan() {
            return Ok(Reply::error("ERR resulting score is not a number (NaN)").into());
        }
        if let Some(old) = old
            && ((options.gt && score <= old) || (options.lt && score >= old))
        {
            continue;
        }
        incremented = Some(score);
        if old == Some(score) {
            continue;
        }
        added += usize::from(old.is_none());
        changed += 1;
        set_score(call, &mut zset, member, old, score)?;
    }
    let event = if options.incr { "zincr" } else { "zadd" };
    call.save_notify(&zset, changed > 0, EventClasses::ZSET, event)?;
    if options.incr {
        return Ok(incremented
            .map_or(Reply::NullBulk, |score| score_reply(score, call.protocol))
            .into());
    }
    Ok(count_reply(if options.ch { changed } else { added }).into())
}

/// ZINCRBY key increment member.
pub(crate) fn zincrby(call: &mut DataCall<'_>) -> Outcome {
    let step = parse_float(&call.arguments[2]).ok_or_else(|| Reply::error(NOT_A_FLOAT_TEXT))?;
    let key = call.key();
    let member = call.owned_argument(3);
    let mut zset = call.collection_or_new(key, Kind::SortedSet)?;
    let old = score_of(call, &zset, &member)?;
    let score = old.unwrap_or(0.0) + step;
    if score.is_nan() {
        return Ok(Reply::error("ERR resulting score is not a number (NaN)").into());
    }
    set_score(call, &mut zset, &member, old, score)?;
    call.save_notify(&zset, true, EventClasses::ZSET, "zincr")?;
    Ok(score_reply(score, call.protocol).into())
}

/// ZREM key member [member …].
pub(crate) fn zrem(call: &mut DataCall<'_>) -> Outcome {
    let key = call.key();
    let Some(mut zset) = zset_at(call, key)? else {
        return Ok(Reply::Integer(0).into());
    };
    let mut removed = 0;
    for member in &call.arguments[2..] {
        if let Some(score) = score_of(call, &zset, member)? {
            remove_member(call, &mut zset, member, score)?;
            removed += 1;
        }
    }
    call.save_notify(&zset, removed > 0, EventClasses::ZSET, "zrem")?;
    Ok(count_reply(removed).into())
}

fn scores_of(call: &mut DataCall<'_>, members: &[Bytes]) -> Result<Vec<Reply>, Failure> {
    let key = call.key();
    let zset = zset_at(call, key)?;
    let mut scores = Vec::with_capacity(members.len());
    for member in members {
        let score = match &zset {
            None => None,
            Some(zset) => score_of(call, zset, member)?,
        };
        scores.push(score.map_or(Reply::NullBulk, |score| score_reply(score, call.protocol)));
    }
    Ok(scores)
}

/// ZSCORE key member.
pub(crate) fn zscore(call: &mut DataCall<'_>) -> Outcome {
    let members = &call.arguments[2..3];
    Ok(scores_of(call, members)?.remove(0).into())
}

/// ZMSCORE key member [member …].
pub(crate) fn zmscore(call: &mut DataCall<'_>) -> Outcome {
    let members = &call.arguments[2..];
    Ok(Reply::Array(scores_of(call, members)?).into())
}

/// ZCARD key.
pub(crate) fn zcard(call: &mut DataCall<'_>) -> Outcome {
    let key = call.key();
    Ok(Reply::Integer(zset_at(call, key)?.map_or(0, |zset| zset.len()) as i64).into())
}

/// The score-index bounds of a score range (`None`: nothing can be in
/// it).
fn score_index_bounds(min: ScoreBound, max: ScoreBound) -> Option<OwnedBounds> {
    let low = match min {
        ScoreBound::Inclusive(score) => Bound::Included(score_bytes(score).to_vec()),
        ScoreBound::Exclusive(score) => Bound::Included(next_score_prefix(&score_bytes(score))?),
    };
    let high = match max {
        ScoreBound::Inclusive(score) => match next_score_prefix(&score_bytes(score)) {
            Some(next) => Bound::Excluded(next),
            None => Bound::Unbounded,
        },
        ScoreBound::Exclusive(score) => Bound::Excluded(score_bytes(score).to_vec()),
    };
    Some((low, high))
}

/// The smallest 8-byte prefix after `prefix` (`None` past the last).
fn next_score_prefix(prefix: &[u8; 8]) -> Option<Vec<u8>> {
    u64::from_be_bytes(*prefix)
        .checked_add(1)
        .map(|next| next.to_be_bytes().to_vec())
}

fn as_refs(bounds: &OwnedBounds) -> (Bound<&[u8]>, Bound<&[u8]>) {
    (
        bounds.0.as_ref().map(Vec::as_slice),
        bounds.1.as_ref().map(Vec::as_slice),
    )
}

/// Whether the bounds can hold anything (a reversed range would be
/// refused by the store).
fn bounds_ordered(bounds: &OwnedBounds) -> bool {
    let low = match &bounds.0 {
        Bound::Included(low) | Bound::Excluded(low) => low,
        Bound::Unbounded => return true,
    };
    match &bounds.1 {
        Bound::Included(high) => low <= high,
        Bound::Excluded(high) => low < high,
        Bound::Unbounded => true,
    }
}

/// Members of a score range, in order or reversed, after LIMIT.
pub(crate) fn in_score_range(
    call: &mut DataCall<'_>,
    zset: &Collection,
    (min, max): (ScoreBound, ScoreBound),
    reverse: bool,
    (offset, count_max): (usize, usize),
) -> Result<Vec<Scored>, Failure> {
    let Some(bounds) = score_index_bounds(min, max) else {
        return Ok(Vec::new());
    };
    if !bounds_ordered(&bounds) {
        return Ok(Vec::new());
    }
    by_score_index(call, zset, as_refs(&bounds), reverse, offset, count_max)
}

/// Members of a lex range, in order or reversed, after LIMIT.
fn in_lex_range(
    call: &mut DataCall<'_>,
    zset: &Collection,
    (min, max): (LexBound, LexBound),
    reverse: bool,
    (offset, count_max): (usize, usize),
) -> Result<Vec<Scored>, Failure> {
    let bounds = (min.as_bound(), max.as_bound());
    if let (Some(low), Some(high)) = (min.text(), max.text())
        && (low > high || (low == high && !(min.inclusive() && max.inclusive())))
    {
        return Ok(Vec::new());
    }
    if min.is_past_all() || max.is_before_all() {
        return Ok(Vec::new());
    }
    let wanted = offset.saturating_add(count_max);
    let entries = zset.range(call.store, MEMBER_TAG, bounds, reverse, wanted)?;
    Ok(entries
        .into_iter()
        .skip(offset)
        .map(|(member, value)| (member, decode_score(&value)))
        .collect())
}

/// ZCOUNT key min max.
pub(crate) fn zcount(call: &mut DataCall<'_>) -> Outcome {
    let range = parse_score_range(&call.arguments[2], &call.arguments[3])?;
    let key = call.key();
    let Some(zset) = zset_at(call, key)? else {
        return Ok(Reply::Integer(0).into());
    };
    Ok(count_reply(in_score_range(call, &zset, range, false, (0, usize::MAX))?.len()).into())
}

/// ZLEXCOUNT key min max.
pub(crate) fn zlexcount(call: &mut DataCall<'_>) -> Outcome {
    let range = parse_lex_range(&call.arguments[2], &call.arguments[3])?;
    let key = call.key();
    let Some(zset) = zset_at(call, key)? else {
        return Ok(Reply::Integer(0).into());
    };
    Ok(count_reply(in_lex_range(call, &zset, range, false, (0, usize::MAX))?.len()).into())
}

/// ZRANK key member, ZREVRANK key member.
pub(crate) fn zrank(call: &mut DataCall<'_>) -> Outcome {
    let key = call.key();
    let member = call.arguments[2].clone();
    let Some(zset) = zset_at(call, key)? else {
        return Ok(Reply::NullBulk.into());
    };
    let Some(score) = score_of(call, &zset, &member)? else {
        return Ok(Reply::NullBulk.into());
    };
    let own = score_key(score, &member);
    let before = zset.range(
        call.store,
        SCORE_TAG,
        (Bound::Unbounded, Bound::Excluded(&own[..])),
        false,
        usize::MAX,
    )?;
    let rank = before.len() as u64;
    let rank = match call.id() {
        CommandId::Zrevrank => zset.len() - 1 - rank,
        _ => rank,
    };
    Ok(Reply::Integer(rank as i64).into())
}

/// What a ZRANGE-family command asks for.
struct RangeQuery {
    by: By,
    reverse: bool,
    limit: Option<(i64, i64)>,
    with_scores: bool,
}

enum By {
    Rank(i64, i64),
    Score(ScoreBound, ScoreBound),
    Lex(LexBound, LexBound),
}

/// ZRANGE's `min max [BYSCORE | BYLEX] [REV] [LIMIT offset count]
/// [WITHSCORES]` (from `arguments[0]` = min), or the older commands'.
fn parse_range_query(id: CommandId, arguments: &[Bytes], store: bool) -> Result<RangeQuery, Reply> {
    let (mut by_score, mut by_lex, mut reverse) = match id {
        CommandId::Zrangebyscore => (true, false, false),
        CommandId::Zrevrangebyscore => (true, false, true),
        CommandId::Zrangebylex => (false, true, false),
        CommandId::Zrevrangebylex => (false, true, true),
        CommandId::Zrevrange => (false, false, true),
        _ => (false, false, false),
    };
    let modern = matches!(id, CommandId::Zrange | CommandId::Zrangestore);
    let (mut limit, mut with_scores) = (None, false);
    let mut index = 2;
    while let Some(option) = arguments.get(index) {
        let upper = option.to_ascii_uppercase();
        match upper.as_slice() {
            b"WITHSCORES"
                if !store && id != CommandId::Zrangebylex && id != CommandId::Zrevrangebylex =>
            {
                with_scores = true
            }
            b"LIMIT" if id != CommandId::Zrevrange && arguments.len() > index + 2 => {
                let offset = integer_argument(&arguments[index + 1])?;
                let count = integer_argument(&arguments[index + 2])?;
                limit = Some((offset, count));
                index += 2;
            }
            b"BYSCORE" if modern => by_score = true,
            b"BYLEX" if modern => by_lex = true,
            b"REV" if modern => reverse = true,
            _ => return Err(Reply::error(SYNTAX_ERROR_TEXT)),
        }
        index += 1;
    }
    if limit.is_some() && !by_score && !by_lex {
        return Err(Reply::error(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if with_scores && by_lex {
        return Err(Reply::error(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    let (low, high) = if reverse && (by_score || by_lex) {
        (&arguments[1], &arguments[0])
    } else {
        (&arguments[0], &arguments[1])
    };
    let by = if by_score {
        let (min, max) = parse_score_range(low, high)?;
        By::Score(min, max)
    } else if by_lex {
        let (min, max) = parse_lex_range(low, high)?;
        By::Lex(min, max)
    } else {
        By::Rank(integer_argument(low)?, integer_argument(high)?)
    };
    Ok(RangeQuery {
        by,
        reverse,
        limit,
        with_scores,
    })
}

/// The members a range query selects.
fn run_range(
    call: &mut DataCall<'_>,
    zset: &Collection,
    query: &RangeQuery,
) -> Result<Vec<Scored>, Failure> {
    let limit = match query.limit {
        None => (0, usize::MAX),
        Some((offset, _)) if offset < 0 => return Ok(Vec::new()),
        Some((offset, count)) => (
            offset as usize,
            usize::try_from(count).unwrap_or(usize::MAX),
        ),
    };
    match &query.by {
        By::Score(min, max) => in_score_range(call, zset, (*min, *max), query.reverse, limit),
        By::Lex(min, max) => {
            in_lex_range(call, zset, (min.clone(), max.clone()), query.reverse, limit)
        }
        &By::Rank(start, stop) => {
            let Some((from, to)) = index_range(zset.len(), start, stop) else {
                return Ok(Vec::new());
            };
            let all = (Bound::Unbounded, Bound::Unbounded);
            by_score_index(
                call,
                zset,
                all,
                query.reverse,
                from as usize,
                (to - from + 1) as usize,
            )
        }
    }
}

/// Members with their scores: flat in RESP2, pairs in RESP3; members
/// alone without scores.
pub(crate) fn scored_reply(
    members: Vec<Scored>,
    with_scores: bool,
    protocol: ProtocolVersion,
) -> Reply {
    let pairs = members
        .into_iter()
        .map(|(member, score)| (member, Bytes::copy_from_slice(&score.to_le_bytes())))
        .collect();
    pairs_reply_with(pairs, with_scores, protocol, |score| {
        score_reply(decode_score(&score), protocol)
    })
}

/// ZRANGE and the older ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX,
/// ZREVRANGEBYLEX, ZREVRANGE.
pub(crate) fn zrange(call: &mut DataCall<'_>) -> Outcome {
    let query = parse_range_query(call.id(), &call.arguments[2..], false)?;
    let key = call.key();
    let Some(zset) = zset_at(call, key)? else {
        return Ok(Reply::Array(Vec::new()).into());
    };
    let members = run_range(call, &zset, &query)?;
    Ok(scored_reply(members, query.with_scores, call.protocol).into())
}

/// ZRANGESTORE destination source min max [BYSCORE | BYLEX] [REV] [LIMIT
/// offset count].
pub(crate) fn zrangestore(call: &mut DataCall<'_>) -> Outcome {
    let query = parse_range_query(CommandId::Zrangestore, &call.arguments[3..], true)?;
    let source = call.arguments[2].clone();
    let members = match zset_at(call, &source)? {
        None => Vec::new(),
        Some(zset) => run_range(call, &zset, &query)?,
    };
    let target = call.key().clone();
    let count = members.len();
    store_scored(call, &target, members, "zrangestore")?;
    Ok(count_reply(count).into())
}

/// Replaces `target` with a sorted set of `members` (deletes it when
/// empty) and fires `event` (`del` for an empty result that deleted a
/// key).
pub(crate) fn store_scored(
    call: &mut DataCall<'_>,
    target: &[u8],
    members: Vec<Scored>,
    event: &'static str,
) -> Result<(), Failure> {
    let existed = call.delete(target)?;
    let mut zset = call.new_collection(target, Kind::SortedSet)?;
    for (member, score) in members {
        set_score(call, &mut zset, &member, None, score)?;
    }
    call.save(&zset)?;
    if !zset.is_empty() {
        call.notify(EventClasses::ZSET, event, target);
    } else if existed {
        call.notify(EventClasses::GENERIC, "del", target);
    }
    Ok(())
}

/// ZPOPMIN key [count], ZPOPMAX key [count].
pub(crate) fn zpop(call: &mut DataCall<'_>) -> Outcome {
    let count = match call.arguments.get(2) {
        None => None,
        Some(count) => Some(
            u64::try_from(integer_argument(count)?)
                .map_err(|_| Reply::error("ERR value is out of range, must be positive"))?,
        ),
    };
    if call.arguments.len() > 3 {
        return Ok(Reply::error(SYNTAX_ERROR_TEXT).into());
    }
    let key = call.key();
    let Some(mut zset) = zset_at(call, key)? else {
        return Ok(Reply::Array(Vec::new()).into());
    };
    let highest = call.id() == CommandId::Zpopmax;
    let popped = pop_members(call, &mut zset, highest, count.unwrap_or(1))?;
    if count.is_some() {
        return Ok(scored_reply(popped, true, call.protocol).into());
    }
    // Without a count: a flat member and score, in either protocol.
    let flat = popped
        .into_iter()
        .flat_map(|(member, score)| [Reply::Bulk(member), score_reply(score, call.protocol)])
        .collect();
    Ok(Reply::Array(flat).into())
}

/// Pops up to `count` of the lowest (or highest) members of `zset`.
fn pop_members(
    call: &mut DataCall<'_>,
    zset: &mut Collection,
    highest: bool,
    count: u64,
) -> Result<Vec<Scored>, Failure> {
    let wanted = usize::try_from(count).unwrap_or(usize::MAX);
    let all = (Bound::Unbounded, Bound::Unbounded);
    let popped = by_score_index(call, zset, all, highest, 0, wanted)?;
    for (member, score) in &popped {
        remove_member(call, zset, member, *score)?;
    }
    let event = if highest { "zpopmax" } else { "zpopmin" };
    call.save_notify(zset, !popped.is_empty(), EventClasses::ZSET, event)?;
    Ok(popped)
}

/// ZMPOP numkeys key [key …] MIN | MAX [COUNT count].
pub(crate) fn zmpop(call: &mut DataCall<'_>) -> Outcome {
    pop_first_zset(call, 1)
}

/// ZMPOP's work, its numkeys at `index`: pops from the first sorted set
/// of the keys that exists; null when none does.
fn pop_first_zset(call: &mut DataCall<'_>, index: usize) -> Outcome {
    let (keys, end, count) = parse_multiple_pop(call.arguments, index)?;
    let highest = if end.eq_ignore_ascii_case(b"MIN") {
        false
    } else if end.eq_ignore_ascii_case(b"MAX") {
        true
    } else {
        return Ok(Reply::error(SYNTAX_ERROR_TEXT).into());
    };
    for key in keys {
        let Some(mut zset) = zset_at(call, key)? else {
            continue;
        };
        let popped = pop_members(call, &mut zset, highest, count)?;
        let pairs = popped
            .into_iter()
            .map(|(member, score)| {
                Reply::Array(vec![Reply::Bulk(member), score_reply(score, call.protocol)])
            })
            .collect();
        return Ok(Reply::Array(vec![Reply::Bulk(key.clone()), Reply::Array(pairs)]).into());
    }
    Ok(Reply::NullArray.into())
}

/// BZMPOP timeout numkeys key [key …] MIN | MAX [COUNT count]: one
/// attempt (`blocking.rs` waits).
pub(crate) fn bzmpop(call: &mut DataCall<'_>) -> Outcome {
    parse_timeout(&call.arguments[1])?;
    pop_first_zset(call, 2)
}

/// BZPOPMIN key [key …] timeout, BZPOPMAX: one attempt, null when every
/// sorted set is empty.
pub(crate) fn bzpop(call: &mut DataCall<'_>) -> Outcome {
    let last = call.arguments.len() - 1;
    parse_timeout(&call.arguments[last])?;
    let highest = call.id() == CommandId::Bzpopmax;
    for key in &call.arguments[1..last] {
        let Some(mut zset) = zset_at(call, key)? else {
            continue;
        };
        let popped = pop_members(call, &mut zset, highest, 1)?;
        let mut reply = vec![Reply::Bulk(key.clone())];
        for (member, score) in popped {
            reply.push(Reply::Bulk(member));
            reply.push(score_reply(score, call.protocol));
        }
        return Ok(Reply::Array(reply).into());
    }
    Ok(Reply::NullArray.into())
}

/// ZREMRANGEBYSCORE, ZREMRANGEBYRANK, ZREMRANGEBYLEX key min max.
pub(crate) fn zremrange(call: &mut DataCall<'_>) -> Outcome {
    let (low, high) = (&call.arguments[2], &call.arguments[3]);
    let by = match call.id() {
        CommandId::Zremrangebyscore => {
            let (min, max) = parse_score_range(low, high)?;
            By::Score(min, max)
        }
        CommandId::Zremrangebylex => {
            let (min, max) = parse_lex_range(low, high)?;
            By::Lex(min, max)
        }
        _ => By::Rank(integer_argument(low)?, integer_argument(high)?),
    };
    let key = call.key();
    let Some(mut zset) = zset_at(call, key)? else {
        return Ok(Reply::Integer(0).into());
    };
    let query = RangeQuery {
        by,
        reverse: false,
        limit: None,
        with_scores: false,
    };
    let members = run_range(call, &zset, &query)?;
    for (member, score) in &members {
        remove_member(call, &mut zset, member, *score)?;
    }
    let event = match call.id() {
        CommandId::Zremrangebyscore => "zremrangebyscore",
        CommandId::Zremrangebylex => "zremrangebylex",
        _ => "zremrangebyrank",
    };
    call.save_notify(&zset, !members.is_empty(), EventClasses::ZSET, event)?;
    Ok(count_reply(members.len()).into())
}

/// ZRANDMEMBER key [count [WITHSCORES]].
pub(crate) fn zrandmember(call: &mut DataCall<'_>) -> Outcome {
    let arguments = call.arguments;
    let with_scores = match arguments.get(3) {
        None => false,
        Some(option) if option.eq_ignore_ascii_case(b"WITHSCORES") && arguments.len() == 4 => true,
        Some(_) => return Ok(Reply::error(SYNTAX_ERROR_TEXT).into()),
    };
    let count = match arguments.get(2) {
        None => None,
        Some(count) => Some(random_count(integer_argument(count)?, with_scores)?),
    };
    let key = call.key();
    let zset = zset_at(call, key)?;
    let Some(zset) = zset else {
        return Ok(match count {
            None => Reply::NullBulk,
            Some(_) => Reply::Array(Vec::new()),
        }
        .into());
    };
    let positions = pick_positions(zset.len(), count.unwrap_or(1));
    let picked = members_at(call.store, &zset, &positions)?;
    if count.is_none() {
        return Ok(Reply::from(picked.into_iter().next().map(|(member, _)| member)).into());
    }
    let protocol = call.protocol;
    Ok(pairs_reply_with(picked, with_scores, protocol, |score| {
        score_reply(decode_score(&score), protocol)
    })
    .into())
}

/// ZSCAN key cursor [MATCH pattern] [COUNT count].
pub(crate) fn zscan(call: &mut DataCall<'_>) -> Outcome {
    scan_members(call, Kind::SortedSet, |score| {
        Some(score_reply(decode_score(score), ProtocolVersion::Resp2))
    })
}

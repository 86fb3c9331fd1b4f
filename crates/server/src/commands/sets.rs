//! The set commands: SADD, SREM, SISMEMBER, SMISMEMBER, SMEMBERS, SCARD,
//! SPOP, SRANDMEMBER, SMOVE, SINTER, SUNION, SDIFF and their STORE forms,
//! SINTERCARD, SSCAN. A member is an element under `MEMBER_TAG` with an
//! empty value.

use std::collections::BTreeSet;

use bytes::Bytes;

use super::arguments::{SYNTAX_ERROR_TEXT, integer_argument, parse_intercard};
use super::collection::Collection;
use super::element_scan::{member_at, members_at, pick_positions, scan_members};
use super::encoding::{Kind, MEMBER_TAG};
use super::notify::EventClasses;
use super::{CommandId, DataCall, Failure, Outcome, count_reply};
use crate::resp::Reply;

/// The set at `key`, if any (WRONGTYPE for another type).
fn set_at(call: &mut DataCall<'_>, key: &[u8]) -> Result<Option<Collection>, Failure> {
    call.collection(key, Kind::Set)
}

/// Adds `member`; whether it is new.
pub(crate) fn add(
    call: &mut DataCall<'_>,
    set: &mut Collection,
    member: &[u8],
) -> Result<bool, Failure> {
    if set.get(call.store, MEMBER_TAG, member)?.is_some() {
        return Ok(false);
    }
    set.put(call.store, MEMBER_TAG, member, Bytes::new())?;
    set.header.count += 1;
    Ok(true)
}

/// Removes `member`; whether it was there.
fn remove(call: &mut DataCall<'_>, set: &mut Collection, member: &[u8]) -> Result<bool, Failure> {
    if set.get(call.store, MEMBER_TAG, member)?.is_none() {
        return Ok(false);
    }
    set.remove(call.store, MEMBER_TAG, member)?;
    set.header.count -= 1;
    Ok(true)
}

/// SADD key member [member …].
pub(crate) fn sadd(call: &mut DataCall<'_>) -> Outcome {
    let key = call.key();
    let mut set = call.collection_or_new(key, Kind::Set)?;
    let mut added = 0;
    for index in 2..call.arguments.len() {
        let member = call.owned_argument(index);
        added += usize::from(add(call, &mut set, &member)?);
    }
    call.save_notify(&set, added > 0, EventClasses::SET, "sadd")?;
    Ok(count_reply(added).into())
}

/// SREM key member [member …].
pub(crate) fn srem(call: &mut DataCall<'_>) -> Outcome {
    let key = call.key();
    let Some(mut set) = set_at(call, key)? else {
        return Ok(Reply::Integer(0).into());
    };
    let mut removed = 0;
    for member in &call.arguments[2..] {
        removed += usize::from(remove(call, &mut set, member)?);
    }
    call.save_notify(&set, removed > 0, EventClasses::SET, "srem")?;
    Ok(count_reply(removed).into())
}

/// Whether each of `members` is in the command's set.
fn contains(call: &mut DataCall<'_>, members: &[Bytes]) -> Result<Vec<Reply>, Failure> {
    let key = call.key();
    let set = set_at(call, key)?;
    let mut found = Vec::with_capacity(members.len());
    for member in members {
        let present = match &set {
            None => false,
            Some(set) => set.get(call.store, MEMBER_TAG, member)?.is_some(),
        };
        found.push(Reply::Integer(i64::from(present)));
    }
    Ok(found)
}

/// SISMEMBER key member.
pub(crate) fn sismember(call: &mut DataCall<'_>) -> Outcome {
    let members = &call.arguments[2..3];
    Ok(contains(call, members)?.remove(0).into())
}

/// SMISMEMBER key member [member …].
pub(crate) fn smismember(call: &mut DataCall<'_>) -> Outcome {
    let members = &call.arguments[2..];
    Ok(Reply::Array(contains(call, members)?).into())
}

/// Every member of the set at `key` (none when absent).
fn members(call: &mut DataCall<'_>, key: &[u8]) -> Result<BTreeSet<Bytes>, Failure> {
    match set_at(call, key)? {
        None => Ok(BTreeSet::new()),
        Some(set) => Ok(set
            .all(call.store, MEMBER_TAG)?
            .into_iter()
            .map(|(member, _)| member)
            .collect()),
    }
}

fn set_reply(members: impl IntoIterator<Item = Bytes>) -> Reply {
    Reply::Set(members.into_iter().map(Reply::Bulk).collect())
}

/// SMEMBERS key.
pub(crate) fn smembers(call: &mut DataCall<'_>) -> Outcome {
    let key = call.key();
    Ok(set_reply(members(call, key)?).into())
}

/// SCARD key.
pub(crate) fn scard(call: &mut DataCall<'_>) -> Outcome {
    let key = call.key();
    let length = set_at(call, key)?.map_or(0, |set| set.len());
    Ok(Reply::Integer(i64::try_from(length).unwrap_or(i64::MAX)).into())
}

/// SPOP key [count].
pub(crate) fn spop(call: &mut DataCall<'_>) -> Outcome {
    let count = match call.arguments.get(2) {
        None => None,
        Some(count) => {
            let count = integer_argument(count)?;
            if count < 0 {
                return Ok(Reply::error("ERR value is out of range, must be positive").into());
            }
            Some(count)
        }
    };
    if call.arguments.len() > 3 {
        return Ok(Reply::error(SYNTAX_ERROR_TEXT).into());
    }
    let key = call.key();
    let Some(mut set) = set_at(call, key)? else {
        return Ok(match count {
            None => Reply::NullBulk,
            Some(_) => Reply::Set(Vec::new()),
        }
        .into());
    };
    let picked = match count {
        None => {
            let position = rand::random_range(0..set.len());
            member_at(call.store, &set, position)?.into_iter().collect()
        }
        Some(count) => members_at(call.store, &set, &pick_positions(set.len(), count))?,
    };
    for (member, _) in &picked {
        remove(call, &mut set, member)?;
    }
    call.save_notify(&set, !picked.is_empty(), EventClasses::SET, "spop")?;
    let mut picked = picked.into_iter().map(|(member, _)| member);
    Ok(match count {
        None => Reply::from(picked.next()),
        Some(_) => set_reply(picked),
    }
    .into())
}

/// SRANDMEMBER key [count].
pub(crate) fn srandmember(call: &mut DataCall<'_>) -> Outcome {
    let count = match call.arguments.get(2) {
        None => None,
        Some(count) => Some(super::hashes::random_count(
            integer_argument(count)?,
            false,
        )?),
    };
    if call.arguments.len() > 3 {
        return Ok(Reply::error(SYNTAX_ERROR_TEXT).into());
    }
    let key = call.key();
    let set = set_at(call, key)?;
    let Some(count) = count else {
        let Some(set) = set else {
            return Ok(Reply::NullBulk.into());
        };
        let position = rand::random_range(0..set.len());
        let picked = member_at(call.store, &set, position)?;
        return Ok(Reply::from(picked.map(|(member, _)| member)).into());
    };
    let Some(set) = set else {
        return Ok(Reply::Array(Vec::new()).into());
    };
    let picked = members_at(call.store, &set, &pick_positions(set.len(), count))?;
    Ok(Reply::Array(
        picked
            .into_iter()
            .map(|(member, _)| Reply::Bulk(member))
            .collect(),
    )
    .into())
}

/// SMOVE source destination member.
pub(crate) fn smove(call: &mut DataCall<'_>) -> Outcome {
    let (source_key, target_key) = (call.arguments[1].clone(), call.arguments[2].clone());
    let member = call.owned_argument(3);
    // As Redis: no source answers 0 before the destination's type counts.
    if call.stored(&source_key)?.is_none() {
        return Ok(Reply::Integer(0).into());
    }
    let source = set_at(call, &source_key)?;
    let target = set_at(call, &target_key)?;
    let Some(mut source) = source else {
        return Ok(Reply::Integer(0).into());
    };
    if source_key == target_key {
        let present = source.get(call.store, MEMBER_TAG, &member)?.is_some();
        return Ok(Reply::Integer(i64::from(present)).into());
    }
    if !remove(call, &mut source, &member)? {
        return Ok(Reply::Integer(0).into());
    }
    call.save_notify(&source, true, EventClasses::SET, "srem")?;
    let mut target = match target {
        Some(target) => target,
        None => call.new_collection(&target_key, Kind::Set)?,
    };
    let added = add(call, &mut target, &member)?;
    call.save_notify(&target, added, EventClasses::SET, "sadd")?;
    Ok(Reply::Integer(1).into())
}

/// The members of SINTER, SUNION or SDIFF of `keys`.
fn combine_sets(
    call: &mut DataCall<'_>,
    keys: &[Bytes],
    id: CommandId,
) -> Result<BTreeSet<Bytes>, Failure> {
    let mut sets = Vec::with_capacity(keys.len());
    for key in keys {
        sets.push(members(call, key)?);
    }
    let mut sets = sets.into_iter();
    let mut result = sets.next().unwrap_or_default();
    for other in sets {
        match id {
            CommandId::Sinter | CommandId::Sinterstore => result.retain(|m| other.contains(m)),
            CommandId::Sdiff | CommandId::Sdiffstore => result.retain(|m| !other.contains(m)),
            _ => result.extend(other),
        }
    }
    Ok(result)
}

/// SINTER key [key …], SUNION, SDIFF.
pub(crate) fn combine(call: &mut DataCall<'_>) -> Outcome {
    let keys = &call.arguments[1..];
    Ok(set_reply(combine_sets(call, keys, call.id())?).into())
}

/// SINTERSTORE destination key [key …], SUNIONSTORE, SDIFFSTORE.
pub(crate) fn combine_store(call: &mut DataCall<'_>) -> Outcome {
    let keys = &call.arguments[2..];
    let result = combine_sets(call, keys, call.id())?;
    let target = call.key().clone();
    let count = result.len();
    let event = match call.id() {
        CommandId::Sinterstore => "sinterstore",
        CommandId::Sdiffstore => "sdiffstore",
        _ => "sunionstore",
    };
    store_members(call, &target, result, event)?;
    Ok(count_reply(count).into())
}

/// Replaces `target` with a set of `members` (deletes it when empty)
/// and fires `event` (`del` for an empty result that deleted a key).
fn store_members(
    call: &mut DataCall<'_>,
    target: &[u8],
    members: BTreeSet<Bytes>,
    event: &'static str,
) -> Result<(), Failure> {
    let existed = call.delete(target)?;
    let mut set = call.new_collection(target, Kind::Set)?;
    for member in members {
        set.put(call.store, MEMBER_TAG, &member, Bytes::new())?;
        set.header.count += 1;
    }
    call.save(&set)?;
    if !set.is_empty() {
        call.notify(EventClasses::SET, event, target);
    } else if existed {
        call.notify(EventClasses::GENERIC, "del", target);
    }
    Ok(())
}

/// SINTERCARD numkeys key [key …] [LIMIT limit].
pub(crate) fn sintercard(call: &mut DataCall<'_>) -> Outcome {
    let (keys, limit) = parse_intercard(call.arguments)?;
    let keys = keys.to_vec();
    let result = combine_sets(call, &keys, CommandId::Sinter)?;
    let count = match limit {
        0 => result.len(),
        limit => result.len().min(limit),
    };
    Ok(count_reply(count).into())
}

/// SSCAN key cursor [MATCH pattern] [COUNT count].
pub(crate) fn sscan(call: &mut DataCall<'_>) -> Outcome {
    scan_members(call, Kind::Set, |_| None)
}

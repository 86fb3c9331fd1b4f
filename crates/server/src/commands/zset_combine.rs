//! ZUNION, ZINTER, ZDIFF, their STORE forms and ZINTERCARD: sorted sets
//! (and sets, every score 1) combined with weights and an aggregate.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::arguments::{SYNTAX_ERROR_TEXT, integer_argument, parse_float};
use super::arguments::{numkeys, parse_intercard};
use super::collection::{KeyEntry, wrong_type};
use super::encoding::{Kind, MEMBER_TAG};
use super::sorted_sets::{Scored, all_scored, scored_reply, store_scored};
use super::{CommandId, DataCall, Failure, Outcome, count_reply};
use crate::resp::Reply;

/// How ZUNION and ZINTER combine a member's scores.
#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    fn apply(self, total: f64, score: f64) -> f64 {
        match self {
            // Redis turns inf + -inf into 0.
            Aggregate::Sum => {
                let sum = total + score;
                if sum.is_nan() { 0.0 } else { sum }
            }
            Aggregate::Min => total.min(score),
            Aggregate::Max => total.max(score),
        }
    }
}

/// The parsed options of ZUNION, ZINTER, ZDIFF and their STORE forms.
struct Combination {
    keys: Vec<Bytes>,
    weights: Vec<f64>,
    aggregate: Aggregate,
    with_scores: bool,
}

fn parse_combination(call: &DataCall<'_>, store: bool) -> Result<Combination, Reply> {
    let arguments = call.arguments;
    let index = if store { 2 } else { 1 };
    let count = integer_argument(&arguments[index])?;
    if count < 1 {
        return Err(Reply::error(format!(
            "ERR at least 1 input key is needed for '{}' command",
            call.spec.full_name()
        )));
    }
    let keys = numkeys(arguments, index).map_err(|_| Reply::error(SYNTAX_ERROR_TEXT))?;
    let mut combination = Combination {
        keys: keys.to_vec(),
        weights: vec![1.0; keys.len()],
        aggregate: Aggregate::Sum,
        with_scores: false,
    };
    let is_diff = matches!(call.id(), CommandId::Zdiff | CommandId::Zdiffstore);
    let mut rest = &arguments[index + 1 + keys.len()..];
    while let Some(option) = rest.first() {
        let upper = option.to_ascii_uppercase();
        match upper.as_slice() {
            b"WEIGHTS" if !is_diff && rest.len() > keys.len() => {
                for (slot, weight) in combination.weights.iter_mut().zip(&rest[1..]) {
                    *slot = parse_float(weight)
                        .ok_or_else(|| Reply::error("ERR weight value is not a float"))?;
                }
                rest = &rest[1 + keys.len()..];
            }
            b"AGGREGATE" if !is_diff && rest.len() > 1 => {
                combination.aggregate = match rest[1].to_ascii_uppercase().as_slice() {
                    b"SUM" => Aggregate::Sum,
                    b"MIN" => Aggregate::Min,
                    b"MAX" => Aggregate::Max,
                    _ => return Err(Reply::error(SYNTAX_ERROR_TEXT)),
                };
                rest = &rest[2..];
            }
            b"WITHSCORES" if !store => {
                combination.with_scores = true;
                rest = &rest[1..];
            }
            _ => return Err(Reply::error(SYNTAX_ERROR_TEXT)),
        }
    }
    Ok(combination)
}

/// The members and scores of `key` as an input of ZUNION and friends: a
/// sorted set, or a set (every score 1); WRONGTYPE otherwise.
fn weighted_input(call: &mut DataCall<'_>, key: &[u8]) -> Result<Option<Vec<Scored>>, Failure> {
    match call.entry(key)? {
        None => Ok(None),
        Some(KeyEntry::Collection(zset)) if zset.kind == Kind::SortedSet => {
            Ok(Some(all_scored(call, &zset)?))
        }
        Some(KeyEntry::Collection(set)) if set.kind == Kind::Set => Ok(Some(
            set.all(call.store, MEMBER_TAG)?
                .into_iter()
                .map(|(member, _)| (member, 1.0))
                .collect(),
        )),
        Some(_) => Err(wrong_type()),
    }
}

/// The result of a combination, in (score, member) order.
fn combine_inputs(
    call: &mut DataCall<'_>,
    combination: &Combination,
) -> Result<Vec<Scored>, Failure> {
    let mut inputs = Vec::with_capacity(combination.keys.len());
    for key in &combination.keys {
        inputs.push(weighted_input(call, key)?);
    }
    let weighted = |score: f64, weight: f64| {
        let product = score * weight;
        if product.is_nan() { 0.0 } else { product }
    };
    let mut result: BTreeMap<Bytes, f64> = BTreeMap::new();
    match call.id() {
        CommandId::Zunion | CommandId::Zunionstore => {
            for (input, &weight) in inputs.iter().zip(&combination.weights) {
                for (member, score) in input.iter().flatten() {
                    let score = weighted(*score, weight);
                    result
                        .entry(member.clone())
                        .and_modify(|total| *total = combination.aggregate.apply(*total, score))
                        .or_insert(score);
                }
            }
        }
        CommandId::Zinter | CommandId::Zinterstore | CommandId::Zintercard => {
            let maps: Vec<BTreeMap<Bytes, f64>> = inputs
                .iter()
                .map(|input| input.iter().flatten().cloned().collect())
                .collect();
            if let Some(first) = maps.first() {
                'members: for (member, score) in first {
                    let mut total = weighted(*score, combination.weights[0]);
                    for (other, &weight) in maps.iter().zip(&combination.weights).skip(1) {
                        let Some(score) = other.get(member) else {
                            continue 'members;
                        };
                        total = combination.aggregate.apply(total, weighted(*score, weight));
                    }
                    result.insert(member.clone(), total);
                }
            }
        }
        _ => {
            let mut inputs = inputs.into_iter();
            result = inputs
                .next()
                .flatten()
                .unwrap_or_default()
                .into_iter()
                .collect();
            for other in inputs.flatten() {
                for (member, _) in other {
                    result.remove(&member);
                }
            }
        }
    }
    let mut members: Vec<Scored> = result.into_iter().collect();
    members.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    Ok(members)
}

/// ZUNION, ZINTER, ZDIFF numkeys key [key …] [WEIGHTS …] [AGGREGATE …]
/// [WITHSCORES].
pub(crate) fn combine(call: &mut DataCall<'_>) -> Outcome {
    let combination = parse_combination(call, false)?;
    let members = combine_inputs(call, &combination)?;
    Ok(scored_reply(members, combination.with_scores, call.protocol).into())
}

/// ZUNIONSTORE, ZINTERSTORE, ZDIFFSTORE destination numkeys key [key …]
/// [WEIGHTS …] [AGGREGATE …].
pub(crate) fn combine_store(call: &mut DataCall<'_>) -> Outcome {
    let combination = parse_combination(call, true)?;
    let members = combine_inputs(call, &combination)?;
    let target = call.key().clone();
    let count = members.len();
    let event = match call.id() {
        CommandId::Zinterstore => "zinterstore",
        CommandId::Zdiffstore => "zdiffstore",
        _ => "zunionstore",
    };
    store_scored(call, &target, members, event)?;
    Ok(count_reply(count).into())
}

/// ZINTERCARD numkeys key [key …] [LIMIT limit].
pub(crate) fn zintercard(call: &mut DataCall<'_>) -> Outcome {
    if crate::resp::parse_integer(&call.arguments[1]).is_some_and(|count| count < 1) {
        return Ok(
            Reply::error("ERR at least 1 input key is needed for 'zintercard' command").into(),
        );
    }
    let (keys, limit) = parse_intercard(call.arguments)?;
    let combination = Combination {
        keys: keys.to_vec(),
        weights: vec![1.0; keys.len()],
        aggregate: Aggregate::Sum,
        with_scores: false,
    };
    let count = combine_inputs(call, &combination)?.len();
    Ok(count_reply(if limit == 0 { count } else { count.min(limit) }).into())
}

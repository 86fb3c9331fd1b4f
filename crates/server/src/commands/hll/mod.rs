//! The HyperLogLog commands: PFADD, PFCOUNT, PFMERGE, PFDEBUG,
//! PFSELFTEST, over HLLs kept as Redis keeps them, ordinary string
//! values byte-identical to redis-server 7.0's (`format.rs`, `sparse.rs`;
//! the estimator in `estimate.rs`), so DUMP, RESTORE, GET and SETRANGE
//! see the same bytes in both.
//!
//! A single-key PFCOUNT caches the cardinality in the value's header, as
//! Redis does: the command reads, but may write (its row is flagged
//! [`CommandFlags::MAY_REPLICATE`](super::CommandFlags::MAY_REPLICATE)).

pub mod check;
pub mod estimate;
pub mod format;
pub(crate) mod selftest;
pub mod sparse;

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;

use self::format::{Encoding, Hll, HllError, REGISTERS, SPARSE_BYTES_MAX_DEFAULT};
use super::notify::EventClasses;
use super::{DataCall, Failure, Outcome, count_reply};
use crate::resp::Reply;

/// `hll-sparse-max-bytes`: a sparse HLL that would grow past it becomes
/// dense (CONFIG SET applies it).
static SPARSE_BYTES_MAX: AtomicU64 = AtomicU64::new(SPARSE_BYTES_MAX_DEFAULT);

/// Applies `hll-sparse-max-bytes`.
pub(crate) fn set_sparse_bytes_max(bytes: u64) {
    SPARSE_BYTES_MAX.store(bytes, Ordering::Relaxed);
}

/// The current `hll-sparse-max-bytes`.
pub(crate) fn sparse_bytes_max() -> u64 {
    SPARSE_BYTES_MAX.load(Ordering::Relaxed)
}

impl From<HllError> for Failure {
    fn from(error: HllError) -> Failure {
        Failure::Reply(Reply::error(error.to_string()))
    }
}

/// The HLL at `key` with its deadline, or `None`; WRONGTYPE for a
/// collection (Redis's text for a type) and for a string that is not an
/// HLL (the HLL text).
fn read(call: &mut DataCall<'_>, key: &[u8]) -> Result<Option<(Hll, Option<i64>)>, Failure> {
    let Some(stored) = call.get(key)? else {
        return Ok(None);
    };
    Ok(Some((Hll::parse(&stored.value)?, stored.deadline_ms)))
}

fn write(
    call: &mut DataCall<'_>,
    key: &[u8],
    hll: Hll,
    deadline_ms: Option<i64>,
) -> Result<(), Failure> {
    call.put(key, Bytes::from(hll.into_bytes()), deadline_ms)
}

/// PFADD key [element …]: 1 when a register grew (or the key was made).
pub(crate) fn pfadd(call: &mut DataCall<'_>) -> Outcome {
    let key = call.key();
    let (mut hll, deadline, created) = match read(call, key)? {
        Some((hll, deadline)) => (hll, deadline, false),
        None => (Hll::empty(), None, true),
    };
    let mut updated = created;
    for element in &call.arguments[2..] {
        match hll.add(element, sparse_bytes_max()) {
            Ok(grew) => updated |= grew,
            Err(error) => {
                // Redis changed the value in place up to the damage (a
                // new HLL is never damaged).
                if updated {
                    write(call, key, hll, deadline)?;
                }
                return Err(error.into());
            }
        }
    }
    if updated {
        hll.invalidate_cache();
        write(call, key, hll, deadline)?;
        call.notify(EventClasses::STRING, "pfadd", key);
    }
    Ok(Reply::Integer(i64::from(updated)).into())
}

/// PFCOUNT key [key …]: one key's cardinality (cached in its header), or
/// the cardinality of several keys' union (not cached).
pub(crate) fn pfcount(call: &mut DataCall<'_>) -> Outcome {
    let arguments = call.arguments;
    if arguments.len() > 2 {
        let max = union(call, &arguments[1..])?.0;
        let cardinality = estimate::cardinality(&raw_histogram(&max));
        return Ok(cardinality_reply(cardinality).into());
    }
    let key = call.key();
    let Some(stored) = call.get(key)? else {
        return Ok(count_reply(0).into());
    };
    format::check_header(&stored.value)?;
    if let Some(cardinality) = format::cached_cardinality(&stored.value) {
        return Ok(cardinality_reply(cardinality).into());
    }
    let (mut hll, deadline) = (Hll::parse(&stored.value)?, stored.deadline_ms);
    let cardinality = hll.count()?;
    hll.cache_cardinality(cardinality);
    write(call, key, hll, deadline)?;
    Ok(cardinality_reply(cardinality).into())
}

/// A cardinality as Redis replies it (a C long long).
fn cardinality_reply(cardinality: u64) -> Reply {
    Reply::Integer(cardinality as i64)
}

/// The registers of the union of `keys` (missing keys are empty), and
/// whether one of them is dense.
fn union(call: &mut DataCall<'_>, keys: &[Bytes]) -> Result<(Box<[u8; REGISTERS]>, bool), Failure> {
    let mut max = Box::new([0; REGISTERS]);
    let mut dense = false;
    for key in keys {
        if let Some((hll, _)) = read(call, key)? {
            dense |= hll.encoding() == Encoding::Dense;
            hll.merge_into(&mut max)?;
        }
    }
    Ok((max, dense))
}

/// The histogram of registers one a byte.
fn raw_histogram(registers: &[u8; REGISTERS]) -> estimate::Histogram {
    let mut histogram = [0; 64];
    for &register in registers {
        histogram[usize::from(register & format::REGISTER_MAX)] += 1;
    }
    histogram
}

/// PFMERGE destkey [sourcekey …]: the union of every key (the
/// destination's own registers included) into the destination, dense if
/// one of them is.
pub(crate) fn pfmerge(call: &mut DataCall<'_>) -> Outcome {
    let arguments = call.arguments;
    let (max, dense) = union(call, &arguments[1..])?;
    let key = call.key();
    let (mut target, deadline) = read(call, key)?.unwrap_or_else(|| (Hll::empty(), None));
    if dense {
        target.to_dense()?;
    }
    for (index, &register) in max.iter().enumerate() {
        if register != 0 {
            // The target's runs were read whole by the union: an offer
            // finds its register.
            let _ = target.offer(index, register, sparse_bytes_max());
        }
    }
    target.invalidate_cache();
    write(call, key, target, deadline)?;
    call.notify(EventClasses::STRING, "pfadd", key);
    call.reply_ok()
}

/// PFDEBUG GETREG|DECODE|ENCODING|TODENSE key.
pub(crate) fn pfdebug(call: &mut DataCall<'_>) -> Outcome {
    let arguments = call.arguments;
    let (subcommand, key) = (&arguments[1], &arguments[2]);
    let Some((mut hll, deadline)) = read(call, key)? else {
        return Ok(Reply::error("ERR The specified key does not exist").into());
    };
    let is = |name: &[u8]| subcommand.eq_ignore_ascii_case(name);
    let reply = if is(b"GETREG") {
        if hll.to_dense()? {
            write(call, key, hll.clone(), deadline)?;
        }
        let registers = hll.registers()?;
        Reply::Array(
            registers
                .iter()
                .map(|&register| Reply::Integer(i64::from(register)))
                .collect(),
        )
    } else if is(b"DECODE") {
        match hll.decode_sparse() {
            Some(text) => Reply::bulk(text),
            None => Reply::error("ERR HLL encoding is not sparse"),
        }
    } else if is(b"ENCODING") {
        Reply::Simple(hll.encoding().name().to_owned())
    } else if is(b"TODENSE") {
        let converted = hll.to_dense()?;
        if converted {
            write(call, key, hll, deadline)?;
        }
        Reply::Integer(i64::from(converted))
    } else {
        Reply::error(format!(
            "ERR Unknown PFDEBUG subcommand '{}'",
            super::table::quote(subcommand, usize::MAX)
        ))
    };
    Ok(reply.into())
}

//! The arguments and the arithmetic of the data commands, as Redis 7
//! parses and checks them, with Redis's error texts: everything about SET,
//! GETEX, SETEX, EXPIRE, TTL, SCAN, INCR*, GETRANGE and SETRANGE that does
//! not need the data. The engine's [`Session`](crate::Session) calls these
//! and keeps only the reads and writes.
//!
//! Times are Unix milliseconds; `now_ms` is the physical time of the
//! transaction's read timestamp, so that one snapshot judges expiry with
//! one clock (design brief §2).

use bytes::Bytes;

use crate::commands::glob::GlobPattern;
use crate::resp::Reply;
use crate::resp::{format_human_double, parse_integer};

/// Redis's reply to an argument that must be an integer.
pub const NOT_AN_INTEGER_TEXT: &str = "ERR value is not an integer or out of range";
/// Redis's reply to an option it does not understand.
pub const SYNTAX_ERROR_TEXT: &str = "ERR syntax error";
/// Redis's reply to a value or increment that must be a float.
pub const NOT_A_FLOAT_TEXT: &str = "ERR value is not a valid float";
/// Longest text read as a float (Redis `MAX_LONG_DOUBLE_CHARS`).
pub const FLOAT_TEXT_BYTES_MAX: usize = 5 * 1024;

fn not_an_integer() -> Reply {
    Reply::error(NOT_AN_INTEGER_TEXT)
}

fn syntax_error() -> Reply {
    Reply::error(SYNTAX_ERROR_TEXT)
}

/// `ERR invalid expire time in 'set' command`, with the command's name.
pub fn invalid_expire_time(command_name: &str) -> Reply {
    Reply::error(format!(
        "ERR invalid expire time in '{command_name}' command"
    ))
}

/// An integer argument, or Redis's error reply.
pub fn integer_argument(argument: &[u8]) -> Result<i64, Reply> {
    parse_integer(argument).ok_or_else(not_an_integer)
}

/// What a write does to the key's time to live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// No expiry: SET's default, GETEX PERSIST.
    Remove,
    /// Keep the key's expiry: SET KEEPTTL, GETEX without options.
    Keep,
    /// Expire at this Unix time in milliseconds (always > 0).
    At(i64),
}

/// Which SET runs, by whether the key exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetCondition {
    /// Always.
    Always,
    /// NX: only if the key does not exist.
    IfAbsent,
    /// XX: only if the key exists.
    IfPresent,
}

/// SET's options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SetArguments {
    /// NX / XX.
    pub condition: SetCondition,
    /// GET: reply with the old value (nil if none) instead of OK.
    pub return_old: bool,
    /// EX / PX / EXAT / PXAT / KEEPTTL, or the default (remove).
    pub expiry: Expiry,
}

/// Which expiry option was given, and its unit and base.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ExpiryOption {
    Seconds,
    Milliseconds,
    UnixSeconds,
    UnixMilliseconds,
}

/// The shared option loop of SET (`for_set`) and GETEX, a port of Redis's
/// `parseExtendedStringArgumentsOrReply`: options in any case, a repeated
/// option allowed, conflicting ones a syntax error.
struct Extended {
    if_absent: bool,
    if_present: bool,
    return_old: bool,
    keep: bool,
    persist: bool,
    expiry: Option<(ExpiryOption, Bytes)>,
}

fn parse_extended(options: &[Bytes], for_set: bool) -> Result<Extended, Reply> {
    let mut parsed = Extended {
        if_absent: false,
        if_present: false,
        return_old: false,
        keep: false,
        persist: false,
        expiry: None,
    };
    let mut index = 0;
    while index < options.len() {
        let option = &options[index];
        let next = options.get(index + 1);
        let is = |name: &str| option.eq_ignore_ascii_case(name.as_bytes());
        let expiry_kind = parsed.expiry.as_ref().map(|(kind, _)| *kind);
        let other_expiry =
            |kind: ExpiryOption| expiry_kind.is_some_and(|existing| existing != kind);
        if for_set && is("NX") && !parsed.if_present {
            parsed.if_absent = true;
        } else if for_set && is("XX") && !parsed.if_absent {
            parsed.if_present = true;
        } else if for_set && is("GET") {
            parsed.return_old = true;
        } else if for_set && is("KEEPTTL") && !parsed.persist && expiry_kind.is_none() {
            parsed.keep = true;
        } else if !for_set && is("PERSIST") && expiry_kind.is_none() && !parsed.keep {
            parsed.persist = true;
        } else if let Some(kind) = [
            ("EX", ExpiryOption::Seconds),
            ("PX", ExpiryOption::Milliseconds),
            ("EXAT", ExpiryOption::UnixSeconds),
            ("PXAT", ExpiryOption::UnixMilliseconds),
        ]
        .into_iter()
        .find(|(name, _)| is(name))
        .map(|(_, kind)| kind)
            && !parsed.keep
            && !parsed.persist
            && !other_expiry(kind)
            && let Some(value) = next
        {
            parsed.expiry = Some((kind, value.clone()));
            index += 1;
        } else {
            return Err(syntax_error());
        }
        index += 1;
    }
    Ok(parsed)
}

/// Redis's `getExpireMillisecondsOrReply`: the value must be a positive
/// integer, and the deadline must not overflow.
fn deadline(
    kind: ExpiryOption,
    value: &[u8],
    now_ms: i64,
    command_name: &str,
) -> Result<i64, Reply> {
    let amount = integer_argument(value)?;
    let seconds = matches!(kind, ExpiryOption::Seconds | ExpiryOption::UnixSeconds);
    if amount <= 0 || (seconds && amount > i64::MAX / 1000) {
        return Err(invalid_expire_time(command_name));
    }
    let milliseconds = if seconds { amount * 1000 } else { amount };
    let relative = matches!(kind, ExpiryOption::Seconds | ExpiryOption::Milliseconds);
    let at = if relative {
        milliseconds.checked_add(now_ms)
    } else {
        Some(milliseconds)
    };
    at.filter(|&at| at > 0)
        .ok_or_else(|| invalid_expire_time(command_name))
}

/// `SET key value [NX | XX] [GET] [EX s | PX ms | EXAT s | PXAT ms | KEEPTTL]`:
/// `arguments` is the whole command.
///
/// ```
/// use bytes::Bytes;
/// use keel_server::commands::arguments::{Expiry, SetCondition, parse_set};
/// let arguments: Vec<Bytes> = ["SET", "k", "v", "nx", "PX", "1500"].map(Bytes::from).to_vec();
/// let set = parse_set(&arguments, 1_000).unwrap();
/// assert_eq!((set.condition, set.expiry), (SetCondition::IfAbsent, Expiry::At(2_500)));
/// ```
pub fn parse_set(arguments: &[Bytes], now_ms: i64) -> Result<SetArguments, Reply> {
    let parsed = parse_extended(arguments.get(3..).unwrap_or_default(), true)?;
    let expiry = match (&parsed.expiry, parsed.keep) {
        (Some((kind, value)), _) => Expiry::At(deadline(*kind, value, now_ms, "set")?),
        (None, true) => Expiry::Keep,
        (None, false) => Expiry::Remove,
    };
    let condition = match (parsed.if_absent, parsed.if_present) {
        (true, _) => SetCondition::IfAbsent,
        (_, true) => SetCondition::IfPresent,
        _ => SetCondition::Always,
    };
    Ok(SetArguments {
        condition,
        return_old: parsed.return_old,
        expiry,
    })
}

/// GETEX key [EX s | PX ms | EXAT s | PXAT ms | PERSIST]: `arguments` is
/// the whole command. No option keeps the expiry.
pub fn parse_getex(arguments: &[Bytes], now_ms: i64) -> Result<Expiry, Reply> {
    let parsed = parse_extended(arguments.get(2..).unwrap_or_default(), false)?;
    Ok(match (&parsed.expiry, parsed.persist) {
        (Some((kind, value)), _) => Expiry::At(deadline(*kind, value, now_ms, "getex")?),
        (None, true) => Expiry::Remove,
        (None, false) => Expiry::Keep,
    })
}

/// SETEX key seconds value and PSETEX key milliseconds value: the deadline.
pub fn parse_setex(command_name: &str, amount: &[u8], now_ms: i64) -> Result<i64, Reply> {
    let kind = if command_name.eq_ignore_ascii_case("psetex") {
        ExpiryOption::Milliseconds
    } else {
        ExpiryOption::Seconds
    };
    deadline(kind, amount, now_ms, &command_name.to_ascii_lowercase())
}

/// EXPIRE's NX / XX / GT / LT.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExpireCondition {
    /// NX: only if the key has no expiry.
    pub if_none: bool,
    /// XX: only if the key has an expiry.
    pub if_some: bool,
    /// GT: only if the new deadline is later (no expiry counts as later
    /// than any).
    pub if_later: bool,
    /// LT: only if the new deadline is earlier.
    pub if_earlier: bool,
}

impl ExpireCondition {
    /// Whether the new deadline applies to a key whose current deadline
    /// is `current` (`None`: no expiry), as Redis's `expireGenericCommand`
    /// decides.
    pub fn allows(&self, current: Option<i64>, new_deadline_ms: i64) -> bool {
        if self.if_none && current.is_some() {
            return false;
        }
        if self.if_some && current.is_none() {
            return false;
        }
        if self.if_later && current.is_none_or(|current| new_deadline_ms <= current) {
            return false;
        }
        if self.if_earlier && current.is_some_and(|current| new_deadline_ms >= current) {
            return false;
        }
        true
    }
}

/// EXPIRE, PEXPIRE, EXPIREAT or PEXPIREAT, parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpireArguments {
    /// The new deadline (Unix ms). At or before `now_ms` the key is to be
    /// deleted (and the command still replies 1).
    pub deadline_ms: i64,
    /// The options.
    pub condition: ExpireCondition,
}

/// EXPIRE key amount [NX | XX | GT | LT] and its three siblings
/// (`command_name` says which): `arguments` is the whole command. Options
/// are checked before the amount, as in Redis; negative amounts are
/// allowed.
pub fn parse_expire(
    command_name: &str,
    arguments: &[Bytes],
    now_ms: i64,
) -> Result<ExpireArguments, Reply> {
    let mut condition = ExpireCondition::default();
    for option in arguments.get(3..).unwrap_or_default() {
        let is = |name: &str| option.eq_ignore_ascii_case(name.as_bytes());
        if is("NX") {
            condition.if_none = true;
        } else if is("XX") {
            condition.if_some = true;
        } else if is("GT") {
            condition.if_later = true;
        } else if is("LT") {
            condition.if_earlier = true;
        } else {
            return Err(Reply::error(format!(
                "ERR Unsupported option {}",
                String::from_utf8_lossy(option)
            )));
        }
    }
    if condition.if_none && (condition.if_some || condition.if_later || condition.if_earlier) {
        return Err(Reply::error(
            "ERR NX and XX, GT or LT options at the same time are not compatible",
        ));
    }
    if condition.if_later && condition.if_earlier {
        return Err(Reply::error(
            "ERR GT and LT options at the same time are not compatible",
        ));
    }
    let name = command_name.to_ascii_lowercase();
    let amount = integer_argument(
        arguments
            .get(2)
            .map(|amount| &amount[..])
            .unwrap_or_default(),
    )?;
    let seconds = name == "expire" || name == "expireat";
    let base = if name == "expire" || name == "pexpire" {
        now_ms
    } else {
        0
    };
    let milliseconds = if seconds {
        amount
            .checked_mul(1000)
            .ok_or_else(|| invalid_expire_time(&name))?
    } else {
        amount
    };
    let deadline_ms = milliseconds
        .checked_add(base)
        .ok_or_else(|| invalid_expire_time(&name))?;
    Ok(ExpireArguments {
        deadline_ms,
        condition,
    })
}

/// TTL's or PTTL's reply for an existing key whose deadline is `deadline`
/// (`None`: no expiry → -1). Redis rounds seconds to the nearest; a
/// deadline already passed reads 0. (A missing key is -2, the caller's.)
pub fn time_to_live(deadline: Option<i64>, now_ms: i64, in_milliseconds: bool) -> i64 {
    match deadline {
        None => -1,
        Some(deadline) => {
            let remaining = deadline.saturating_sub(now_ms).max(0);
            if in_milliseconds {
                remaining
            } else {
                remaining.saturating_add(500) / 1000
            }
        }
    }
}

/// SCAN's arguments.
#[derive(Clone, Debug)]
pub struct ScanArguments {
    /// Where to continue (0: from the start).
    pub cursor: u64,
    /// MATCH: keys to keep; `None` for no pattern or `*`.
    pub pattern: Option<GlobPattern>,
    /// COUNT: how much work to do per call (Redis's default 10).
    pub count: u64,
    /// TYPE: only keys of this type.
    pub type_name: Option<Bytes>,
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]: `arguments` is
/// the whole command.
pub fn parse_scan(arguments: &[Bytes]) -> Result<ScanArguments, Reply> {
    let cursor = arguments
        .get(1)
        .and_then(|cursor| std::str::from_utf8(cursor).ok())
        .filter(|cursor| !cursor.is_empty() && cursor.bytes().all(|byte| byte.is_ascii_digit()))
        .and_then(|cursor| cursor.parse::<u64>().ok())
        .ok_or_else(|| Reply::error("ERR invalid cursor"))?;
    let mut scan = ScanArguments {
        cursor,
        pattern: None,
        count: 10,
        type_name: None,
    };
    let options = arguments.get(2..).unwrap_or_default();
    let mut index = 0;
    while index < options.len() {
        let (option, Some(value)) = (&options[index], options.get(index + 1)) else {
            return Err(syntax_error());
        };
        if option.eq_ignore_ascii_case(b"COUNT") {
            let count = integer_argument(value)?;
            scan.count = u64::try_from(count)
                .ok()
                .filter(|&count| count >= 1)
                .ok_or_else(syntax_error)?;
        } else if option.eq_ignore_ascii_case(b"MATCH") {
            let pattern = GlobPattern::new(value, false);
            scan.pattern = (!pattern.matches_everything()).then_some(pattern);
        } else if option.eq_ignore_ascii_case(b"TYPE") {
            scan.type_name = Some(value.clone());
        } else {
            return Err(syntax_error());
        }
        index += 2;
    }
    Ok(scan)
}

/// INCR, DECR, INCRBY, DECRBY: the new value from the current one (`None`
/// if the key is absent) and the step, or Redis's error.
pub fn increment(current: Option<&[u8]>, step: i64) -> Result<i64, Reply> {
    let current = match current {
        None => 0,
        Some(value) => parse_integer(value).ok_or_else(not_an_integer)?,
    };
    current
        .checked_add(step)
        .ok_or_else(|| Reply::error("ERR increment or decrement would overflow"))
}

/// DECRBY's step, negated, refusing the one value that cannot be.
pub fn negate_decrement(step: i64) -> Result<i64, Reply> {
    step.checked_neg()
        .ok_or_else(|| Reply::error("ERR decrement would overflow"))
}

/// A float as Redis's `string2ld` accepts it: not empty, not longer than
/// [`FLOAT_TEXT_BYTES_MAX`], no leading space, no trailing garbage, not
/// NaN. (Redis reads a C `long double`; keel an `f64`, so a value beyond
/// `f64`'s range reads as infinity, which INCRBYFLOAT then refuses.)
pub fn parse_float(text: &[u8]) -> Option<f64> {
    if text.is_empty() || text.len() >= FLOAT_TEXT_BYTES_MAX || text[0].is_ascii_whitespace() {
        return None;
    }
    if let Some(value) = small_integer_float(text) {
        return Some(value);
    }
    let value: f64 = std::str::from_utf8(text).ok()?.parse().ok()?;
    (!value.is_nan()).then_some(value)
}

/// Digits a [`small_integer_float`] has at most: below 2^53, so every
/// such integer is an `f64` exactly.
const SMALL_INTEGER_DIGITS_MAX: usize = 15;

/// `text` as a float when it is a plain integer (`-` and up to 15 digits,
/// most scores): the value the full parse gives (`-0` is -0.0), without
/// its UTF-8 check and general algorithm (~280 instructions a ZADD).
fn small_integer_float(text: &[u8]) -> Option<f64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', digits)) => (true, digits),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > SMALL_INTEGER_DIGITS_MAX {
        return None;
    }
    let mut value: u64 = 0;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return None;
        }
        value = value * 10 + u64::from(digit - b'0');
    }
    let value = value as f64;
    Some(if negative { -value } else { value })
}

/// INCRBYFLOAT: the new value from the current one and the increment, and
/// the text it is stored and replied as.
pub fn increment_float(current: Option<&[u8]>, increment: &[u8]) -> Result<(f64, String), Reply> {
    let not_a_float = || Reply::error(NOT_A_FLOAT_TEXT);
    let current = match current {
        None => 0.0,
        Some(value) => parse_float(value).ok_or_else(not_a_float)?,
    };
    let increment = parse_float(increment).ok_or_else(not_a_float)?;
    let value = current + increment;
    if !value.is_finite() {
        return Err(Reply::error("ERR increment would produce NaN or Infinity"));
    }
    Ok((value, format_human_double(value)))
}

/// GETRANGE's byte range of a string of `length` bytes, from inclusive
/// `start` and `end` that may count from the end (-1 is the last byte),
/// clamped as Redis clamps them; empty when nothing is in range.
pub fn substring_range(length: usize, start: i64, end: i64) -> std::ops::Range<usize> {
    let length_signed = i64::try_from(length).unwrap_or(i64::MAX);
    if start < 0 && end < 0 && start > end {
        return 0..0;
    }
    let from_end = |index: i64| {
        if index < 0 {
            length_signed.saturating_add(index)
        } else {
            index
        }
    };
    let start = from_end(start).max(0);
    let end = from_end(end).max(0).min(length_signed - 1);
    if length == 0 || start > end {
        return 0..0;
    }
    // Both are within 0..length here.
    let start = usize::try_from(start).unwrap_or(0);
    let end = usize::try_from(end).unwrap_or(0);
    start..end + 1
}

/// Checks that a string would not grow past `bytes_max` (Redis:
/// `proto-max-bulk-len`), as SETRANGE and APPEND do.
pub fn check_string_length(bytes: u64, bytes_max: usize) -> Result<(), Reply> {
    if bytes > u64::try_from(bytes_max).unwrap_or(u64::MAX) {
        return Err(Reply::error(
            "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
        ));
    }
    Ok(())
}

/// SETRANGE's offset: a non-negative integer.
pub fn parse_offset(argument: &[u8]) -> Result<u64, Reply> {
    let offset = integer_argument(argument)?;
    u64::try_from(offset).map_err(|_| Reply::error("ERR offset is out of range"))
}

/// `numkeys key [key …] [LIMIT limit]` of SINTERCARD and ZINTERCARD: the
/// keys and the limit (0: none).
pub fn parse_intercard(arguments: &[Bytes]) -> Result<(&[Bytes], usize), Reply> {
    let keys = numkeys(arguments, 1)?;
    let mut limit = 0;
    let mut rest = &arguments[2 + keys.len()..];
    while let [option, value, tail @ ..] = rest {
        if !option.eq_ignore_ascii_case(b"LIMIT") {
            return Err(Reply::error(SYNTAX_ERROR_TEXT));
        }
        limit = crate::resp::parse_integer(value)
            .and_then(|value| usize::try_from(value).ok())
            .ok_or_else(|| Reply::error("ERR LIMIT can't be negative"))?;
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(Reply::error(SYNTAX_ERROR_TEXT));
    }
    Ok((keys, limit))
}

/// The keys counted by the `numkeys` argument at `index`.
pub fn numkeys(arguments: &[Bytes], index: usize) -> Result<&[Bytes], Reply> {
    let count = crate::resp::parse_integer(&arguments[index])
        .filter(|&count| count > 0)
        .ok_or_else(|| Reply::error("ERR numkeys should be greater than 0"))?;
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    if count > arguments.len() - index - 1 {
        return Err(Reply::error(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    Ok(&arguments[index + 1..index + 1 + count])
}

/// `numkeys key [key …] LEFT | RIGHT | MIN | MAX [COUNT count]` of LMPOP
/// and ZMPOP (numkeys at `index`; BLMPOP and BZMPOP have the timeout
/// first): the keys, the end, the count (1 without COUNT).
pub fn parse_multiple_pop(
    arguments: &[Bytes],
    index: usize,
) -> Result<(&[Bytes], &Bytes, u64), Reply> {
    let keys = numkeys(arguments, index)?;
    let rest = &arguments[index + 1 + keys.len()..];
    let Some(end) = rest.first() else {
        return Err(syntax_error());
    };
    let count = match &rest[1..] {
        [] => 1,
        [option, count] if option.eq_ignore_ascii_case(b"COUNT") => parse_integer(count)
            .and_then(|count| u64::try_from(count).ok())
            .filter(|&count| count > 0)
            .ok_or_else(|| Reply::error("ERR count should be greater than 0"))?,
        _ => return Err(syntax_error()),
    };
    Ok((keys, end, count))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arguments(parts: &[&str]) -> Vec<Bytes> {
        parts
            .iter()
            .map(|part| Bytes::copy_from_slice(part.as_bytes()))
            .collect()
    }

    fn error_text<T: std::fmt::Debug>(result: Result<T, Reply>) -> String {
        match result {
            Err(Reply::Error(text)) => text,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_plain_integer_reads_as_the_full_float_parse_reads_it() {
        let full = |text: &str| text.parse::<f64>().ok();
        for text in [
            "0",
            "-0",
            "7",
            "007",
            "-12345",
            "999999999999999",
            "-999999999999999",
            "9999999999999999",
            "123456789012345678901",
            "-",
            "",
            "1a",
            "+5",
            "1.5",
            "1e3",
            "--1",
        ] {
            let fast = small_integer_float(text.as_bytes());
            if let Some(value) = fast {
                assert_eq!(
                    Some(value.to_bits()),
                    full(text).map(f64::to_bits),
                    "{text}"
                );
            }
            assert_eq!(
                parse_float(text.as_bytes()).map(f64::to_bits),
                full(text).filter(|_| !text.is_empty()).map(f64::to_bits),
                "{text}"
            );
        }
        assert_eq!(
            small_integer_float(b"-0").map(f64::to_bits),
            Some((-0.0f64).to_bits())
        );
        assert_eq!(small_integer_float(b"9999999999999999"), None);
        assert_eq!(small_integer_float(b"+5"), None);
    }

    const NOW: i64 = 1_700_000_000_000;

    #[test]
    fn set_options() {
        let set = |parts: &[&str]| parse_set(&arguments(parts), NOW);
        let plain = set(&["SET", "k", "v"]).unwrap();
        assert_eq!(
            plain,
            SetArguments {
                condition: SetCondition::Always,
                return_old: false,
                expiry: Expiry::Remove
            }
        );
        assert_eq!(
            set(&["SET", "k", "v", "xx", "get"]).unwrap().condition,
            SetCondition::IfPresent
        );
        assert!(
            set(&["SET", "k", "v", "NX", "GET"]).unwrap().return_old,
            "NX with GET is allowed since Redis 7"
        );
        assert_eq!(
            set(&["set", "k", "v", "ex", "10"]).unwrap().expiry,
            Expiry::At(NOW + 10_000)
        );
        assert_eq!(
            set(&["SET", "k", "v", "PX", "5"]).unwrap().expiry,
            Expiry::At(NOW + 5)
        );
        assert_eq!(
            set(&["SET", "k", "v", "EXAT", "2"]).unwrap().expiry,
            Expiry::At(2_000)
        );
        assert_eq!(
            set(&["SET", "k", "v", "PXAT", "3"]).unwrap().expiry,
            Expiry::At(3)
        );
        assert_eq!(
            set(&["SET", "k", "v", "KEEPTTL"]).unwrap().expiry,
            Expiry::Keep
        );
        assert_eq!(
            set(&["SET", "k", "v", "EX", "1", "EX", "2"])
                .unwrap()
                .expiry,
            Expiry::At(NOW + 2_000)
        );
        for bad in [
            &["SET", "k", "v", "NX", "XX"][..],
            &["SET", "k", "v", "EX", "1", "PX", "1"],
            &["SET", "k", "v", "KEEPTTL", "EX", "1"],
            &["SET", "k", "v", "EX"],
            &["SET", "k", "v", "PERSIST"],
            &["SET", "k", "v", "BOGUS"],
        ] {
            assert_eq!(error_text(set(bad)), "ERR syntax error", "{bad:?}");
        }
        assert_eq!(
            error_text(set(&["SET", "k", "v", "EX", "x"])),
            NOT_AN_INTEGER_TEXT
        );
        for bad in ["0", "-5", "9223372036854775807"] {
            assert_eq!(
                error_text(set(&["SET", "k", "v", "EX", bad])),
                "ERR invalid expire time in 'set' command"
            );
        }
        assert_eq!(
            error_text(set(&["SET", "k", "v", "PX", "9223372036854775807"])),
            "ERR invalid expire time in 'set' command"
        );
    }

    #[test]
    fn getex_and_setex() {
        let getex = |parts: &[&str]| parse_getex(&arguments(parts), NOW);
        assert_eq!(getex(&["GETEX", "k"]).unwrap(), Expiry::Keep);
        assert_eq!(getex(&["GETEX", "k", "persist"]).unwrap(), Expiry::Remove);
        assert_eq!(
            getex(&["GETEX", "k", "EX", "1"]).unwrap(),
            Expiry::At(NOW + 1_000)
        );
        assert_eq!(
            error_text(getex(&["GETEX", "k", "PERSIST", "EX", "1"])),
            "ERR syntax error"
        );
        assert_eq!(error_text(getex(&["GETEX", "k", "NX"])), "ERR syntax error");
        assert_eq!(
            error_text(getex(&["GETEX", "k", "PX", "0"])),
            "ERR invalid expire time in 'getex' command"
        );
        assert_eq!(parse_setex("SETEX", b"2", NOW).unwrap(), NOW + 2_000);
        assert_eq!(parse_setex("psetex", b"2", NOW).unwrap(), NOW + 2);
        assert_eq!(
            error_text(parse_setex("SETEX", b"0", NOW)),
            "ERR invalid expire time in 'setex' command"
        );
    }

    #[test]
    fn expire_options_and_overflow() {
        let expire = |name: &str, parts: &[&str]| parse_expire(name, &arguments(parts), NOW);
        assert_eq!(
            expire("expire", &["EXPIRE", "k", "10"])
                .unwrap()
                .deadline_ms,
            NOW + 10_000
        );
        assert_eq!(
            expire("pexpire", &["PEXPIRE", "k", "-1"])
                .unwrap()
                .deadline_ms,
            NOW - 1
        );
        assert_eq!(
            expire("expireat", &["EXPIREAT", "k", "5"])
                .unwrap()
                .deadline_ms,
            5_000
        );
        assert_eq!(
            expire("pexpireat", &["PEXPIREAT", "k", "5"])
                .unwrap()
                .deadline_ms,
            5
        );
        assert!(
            expire("expire", &["EXPIRE", "k", "1", "nx"])
                .unwrap()
                .condition
                .if_none
        );
        assert_eq!(
            error_text(expire("expire", &["EXPIRE", "k", "1", "GT", "LT"])),
            "ERR GT and LT options at the same time are not compatible"
        );
        assert_eq!(
            error_text(expire("expire", &["EXPIRE", "k", "1", "NX", "GT"])),
            "ERR NX and XX, GT or LT options at the same time are not compatible"
        );
        assert_eq!(
            error_text(expire("expire", &["EXPIRE", "k", "1", "FOO"])),
            "ERR Unsupported option FOO"
        );
        // Options are checked before the amount.
        assert_eq!(
            error_text(expire("expire", &["EXPIRE", "k", "soon", "FOO"])),
            "ERR Unsupported option FOO"
        );
        assert_eq!(
            error_text(expire("expire", &["EXPIRE", "k", "soon"])),
            NOT_AN_INTEGER_TEXT
        );
        assert_eq!(
            error_text(expire("expire", &["EXPIRE", "k", "99999999999999999"])),
            "ERR invalid expire time in 'expire' command"
        );
        assert_eq!(
            error_text(expire("pexpire", &["PEXPIRE", "k", "9223372036854775807"])),
            "ERR invalid expire time in 'pexpire' command"
        );
    }

    #[test]
    fn expire_conditions_follow_redis() {
        let nx = ExpireCondition {
            if_none: true,
            ..Default::default()
        };
        let xx = ExpireCondition {
            if_some: true,
            ..Default::default()
        };
        let gt = ExpireCondition {
            if_later: true,
            ..Default::default()
        };
        let lt = ExpireCondition {
            if_earlier: true,
            ..Default::default()
        };
        assert!(nx.allows(None, 5) && !nx.allows(Some(1), 5));
        assert!(!xx.allows(None, 5) && xx.allows(Some(1), 5));
        assert!(
            !gt.allows(None, 5),
            "no expiry is infinite: GT never beats it"
        );
        assert!(gt.allows(Some(1), 5) && !gt.allows(Some(5), 5));
        assert!(lt.allows(None, 5), "anything is less than infinite");
        assert!(lt.allows(Some(9), 5) && !lt.allows(Some(5), 5));
        assert!(ExpireCondition::default().allows(Some(9), 1));
    }

    #[test]
    fn ttl_rounds_like_redis() {
        assert_eq!(time_to_live(None, NOW, false), -1);
        assert_eq!(time_to_live(Some(NOW + 1_499), NOW, false), 1);
        assert_eq!(time_to_live(Some(NOW + 1_500), NOW, false), 2);
        assert_eq!(time_to_live(Some(NOW + 1_500), NOW, true), 1_500);
        assert_eq!(time_to_live(Some(NOW - 10), NOW, true), 0);
    }

    #[test]
    fn scan_arguments() {
        let scan = parse_scan(&arguments(&[
            "SCAN", "17", "match", "a*", "COUNT", "100", "TYPE", "string",
        ]))
        .unwrap();
        assert_eq!((scan.cursor, scan.count), (17, 100));
        assert!(scan.pattern.is_some_and(|pattern| pattern.matches(b"abc")));
        assert_eq!(scan.type_name.as_deref(), Some(&b"string"[..]));
        let plain = parse_scan(&arguments(&["SCAN", "0", "MATCH", "*"])).unwrap();
        assert!(plain.pattern.is_none() && plain.count == 10);
        for cursor in ["-1", "x", "", "+1", "18446744073709551616"] {
            assert_eq!(
                error_text(parse_scan(&arguments(&["SCAN", cursor]))),
                "ERR invalid cursor",
                "{cursor}"
            );
        }
        assert_eq!(
            error_text(parse_scan(&arguments(&["SCAN", "0", "COUNT", "0"]))),
            "ERR syntax error"
        );
        assert_eq!(
            error_text(parse_scan(&arguments(&["SCAN", "0", "COUNT", "x"]))),
            NOT_AN_INTEGER_TEXT
        );
        assert_eq!(
            error_text(parse_scan(&arguments(&["SCAN", "0", "MATCH"]))),
            "ERR syntax error"
        );
        assert_eq!(
            error_text(parse_scan(&arguments(&["SCAN", "0", "LIMIT", "1"]))),
            "ERR syntax error"
        );
    }

    #[test]
    fn integer_arithmetic() {
        assert_eq!(increment(None, 5).unwrap(), 5);
        assert_eq!(increment(Some(b"-3"), 1).unwrap(), -2);
        assert_eq!(error_text(increment(Some(b"1.5"), 1)), NOT_AN_INTEGER_TEXT);
        assert_eq!(error_text(increment(Some(b" 1"), 1)), NOT_AN_INTEGER_TEXT);
        assert_eq!(
            error_text(increment(Some(b"9223372036854775807"), 1)),
            "ERR increment or decrement would overflow"
        );
        assert_eq!(negate_decrement(5).unwrap(), -5);
        assert_eq!(
            error_text(negate_decrement(i64::MIN)),
            "ERR decrement would overflow"
        );
    }

    #[test]
    fn float_arithmetic() {
        assert_eq!(increment_float(Some(b"10.50"), b"0.1").unwrap().1, "10.6");
        assert_eq!(increment_float(None, b"5.0e3").unwrap().1, "5000");
        assert_eq!(increment_float(Some(b"3"), b"-3").unwrap().1, "0");
        assert_eq!(
            error_text(increment_float(Some(b"abc"), b"1")),
            NOT_A_FLOAT_TEXT
        );
        assert_eq!(error_text(increment_float(None, b" 1")), NOT_A_FLOAT_TEXT);
        assert_eq!(error_text(increment_float(None, b"nan")), NOT_A_FLOAT_TEXT);
        assert_eq!(error_text(increment_float(None, b"")), NOT_A_FLOAT_TEXT);
        assert_eq!(
            error_text(increment_float(Some(b"1.7e308"), b"1.7e308")),
            "ERR increment would produce NaN or Infinity"
        );
        assert_eq!(
            error_text(increment_float(None, b"inf")),
            "ERR increment would produce NaN or Infinity"
        );
    }

    #[test]
    fn substring_ranges_clamp_like_getrange() {
        assert_eq!(substring_range(13, 0, 3), 0..4);
        assert_eq!(substring_range(13, -3, -1), 10..13);
        assert_eq!(substring_range(13, 0, -1), 0..13);
        assert_eq!(substring_range(13, 10, 100), 10..13);
        assert_eq!(substring_range(13, 5, 3), 0..0);
        assert_eq!(substring_range(13, -1, -5), 0..0);
        assert_eq!(substring_range(13, -100, 2), 0..3);
        assert_eq!(substring_range(0, 0, -1), 0..0);
        assert_eq!(substring_range(3, i64::MIN, i64::MAX), 0..3);
    }

    #[test]
    fn setrange_checks() {
        assert_eq!(parse_offset(b"7").unwrap(), 7);
        assert_eq!(
            error_text(parse_offset(b"-1")),
            "ERR offset is out of range"
        );
        assert!(check_string_length(512 << 20, 512 << 20).is_ok());
        assert_eq!(
            error_text(check_string_length((512 << 20) + 1, 512 << 20)),
            "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
        );
    }
}

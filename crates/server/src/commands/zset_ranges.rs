//! The ranges of the sorted-set commands: by score (`1.5`, `(1.5`,
//! `-inf`, `+inf`) and by member (`[a`, `(a`, `-`, `+`), with Redis's
//! error texts.

use std::ops::Bound;

use bytes::Bytes;

use super::arguments::parse_float;
use crate::resp::Reply;

const SCORE_RANGE_TEXT: &str = "ERR min or max is not a float";
const LEX_RANGE_TEXT: &str = "ERR min or max not valid string range item";

/// One end of a score range.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ScoreBound {
    /// Scores from (or up to) this one, included.
    Inclusive(f64),
    /// Scores after (or before) this one.
    Exclusive(f64),
}

fn parse_score_bound(argument: &[u8]) -> Result<ScoreBound, Reply> {
    let error = || Reply::error(SCORE_RANGE_TEXT);
    match argument.strip_prefix(b"(") {
        Some(rest) => Ok(ScoreBound::Exclusive(parse_float(rest).ok_or_else(error)?)),
        None => Ok(ScoreBound::Inclusive(
            parse_float(argument).ok_or_else(error)?,
        )),
    }
}

/// A `min max` score range.
pub fn parse_score_range(min: &[u8], max: &[u8]) -> Result<(ScoreBound, ScoreBound), Reply> {
    Ok((parse_score_bound(min)?, parse_score_bound(max)?))
}

/// One end of a member (lex) range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LexBound {
    /// `-`: before every member.
    Least,
    /// `+`: after every member.
    Greatest,
    /// `[member`.
    Inclusive(Bytes),
    /// `(member`.
    Exclusive(Bytes),
}

impl LexBound {
    /// The bound on members it gives (the infinite ends: none).
    pub fn as_bound(&self) -> Bound<&[u8]> {
        match self {
            LexBound::Least | LexBound::Greatest => Bound::Unbounded,
            LexBound::Inclusive(member) => Bound::Included(member),
            LexBound::Exclusive(member) => Bound::Excluded(member),
        }
    }

    /// The member it names, if any.
    pub fn text(&self) -> Option<&[u8]> {
        match self {
            LexBound::Inclusive(member) | LexBound::Exclusive(member) => Some(member),
            _ => None,
        }
    }

    /// Whether it includes its member.
    pub fn inclusive(&self) -> bool {
        matches!(self, LexBound::Inclusive(_))
    }

    /// `+` as a minimum: nothing is at or after it.
    pub fn is_past_all(&self) -> bool {
        *self == LexBound::Greatest
    }

    /// `-` as a maximum: nothing is at or before it.
    pub fn is_before_all(&self) -> bool {
        *self == LexBound::Least
    }
}

fn parse_lex_bound(argument: &[u8]) -> Result<LexBound, Reply> {
    match argument.first() {
        Some(b'-') if argument.len() == 1 => Ok(LexBound::Least),
        Some(b'+') if argument.len() == 1 => Ok(LexBound::Greatest),
        Some(b'[') => Ok(LexBound::Inclusive(Bytes::copy_from_slice(&argument[1..]))),
        Some(b'(') => Ok(LexBound::Exclusive(Bytes::copy_from_slice(&argument[1..]))),
        _ => Err(Reply::error(LEX_RANGE_TEXT)),
    }
}

/// A `min max` member range.
pub fn parse_lex_range(min: &[u8], max: &[u8]) -> Result<(LexBound, LexBound), Reply> {
    Ok((parse_lex_bound(min)?, parse_lex_bound(max)?))
}

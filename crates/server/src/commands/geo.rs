//! The GEO commands: GEOADD, GEODIST, GEOHASH, GEOPOS (searches are in
//! `geo_search.rs`). A GEO key is a sorted set whose scores are the
//! points' 52-bit geohashes (`geohash.rs`), as Redis stores them, so the
//! sorted-set commands, DUMP and RESTORE see what Redis would.

use bytes::Bytes;

use super::arguments::{NOT_A_FLOAT_TEXT, SYNTAX_ERROR_TEXT, parse_float};
use super::geohash::{self, LATITUDE_LIMITS, LONGITUDE_LIMITS};
use super::sorted_sets::{ZaddOptions, add_scored, score_of, zset_at};
use super::{DataCall, Outcome};
use crate::resp::Reply;

/// A longitude and latitude argument pair, within the GEO limits.
pub(crate) fn parse_point(longitude: &[u8], latitude: &[u8]) -> Result<(f64, f64), Reply> {
    let float = |text: &[u8]| parse_float(text).ok_or_else(|| Reply::error(NOT_A_FLOAT_TEXT));
    let (longitude, latitude) = (float(longitude)?, float(latitude)?);
    let inside = |value: f64, limits: geohash::Range| value >= limits.min && value <= limits.max;
    if !inside(longitude, LONGITUDE_LIMITS) || !inside(latitude, LATITUDE_LIMITS) {
        return Err(Reply::error(format!(
            "ERR invalid longitude,latitude pair {longitude:.6},{latitude:.6}"
        )));
    }
    Ok((longitude, latitude))
}

/// The metres of a unit argument (`m`, `km`, `ft`, `mi`, any case).
pub(crate) fn parse_unit(unit: &[u8]) -> Result<f64, Reply> {
    const UNITS: [(&str, f64); 4] = [("m", 1.0), ("km", 1000.0), ("ft", 0.3048), ("mi", 1609.34)];
    UNITS
        .iter()
        .find(|(name, _)| unit.eq_ignore_ascii_case(name.as_bytes()))
        .map(|&(_, meters)| meters)
        .ok_or_else(|| Reply::error("ERR unsupported unit provided. please use M, KM, FT, MI"))
}

/// A distance as Redis replies with one: 4 decimals, rounded to the
/// nearest (ties to even, as `llrint` does).
pub(crate) fn distance_text(distance: f64) -> String {
    let scaled = (distance * 10_000.0).round_ties_even() as i64;
    let sign = if scaled < 0 { "-" } else { "" };
    let scaled = scaled.unsigned_abs();
    format!("{sign}{}.{:04}", scaled / 10_000, scaled % 10_000)
}

fn coordinate_text(value: f64) -> String {
    let text = format!("{value:.17}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

/// A point's longitude and latitude, as GEOPOS and WITHCOORD reply:
/// each as Redis prints it (`%.17Lf`, trailing zeros dropped), a bulk
/// string in RESP2 and a double in RESP3.
pub(crate) fn point_reply((longitude, latitude): (f64, f64)) -> Reply {
    let coordinate = |value| Reply::DoubleText(coordinate_text(value));
    Reply::Array(vec![coordinate(longitude), coordinate(latitude)])
}

/// GEOADD key [NX | XX] [CH] longitude latitude member [longitude latitude
/// member …]: ZADD of the points' scores.
pub(crate) fn geoadd(call: &mut DataCall<'_>) -> Outcome {
    let arguments = call.arguments;
    let mut options = ZaddOptions::default();
    let mut index = 2;
    while let Some(option) = arguments.get(index) {
        let flag = if option.eq_ignore_ascii_case(b"NX") {
            &mut options.nx
        } else if option.eq_ignore_ascii_case(b"XX") {
            &mut options.xx
        } else if option.eq_ignore_ascii_case(b"CH") {
            &mut options.ch
        } else {
            break;
        };
        *flag = true;
        index += 1;
    }
    let triples = &arguments[index..];
    if triples.is_empty() || !triples.len().is_multiple_of(3) || (options.nx && options.xx) {
        return Ok(Reply::error(SYNTAX_ERROR_TEXT).into());
    }
    let mut pairs = Vec::with_capacity(triples.len() / 3);
    for triple in triples.chunks(3) {
        let point = parse_point(&triple[0], &triple[1])?;
        let score = geohash::point_score(point).ok_or_else(|| Reply::error(SYNTAX_ERROR_TEXT))?;
        pairs.push((score as f64, &triple[2]));
    }
    add_scored(call, &options, &pairs)
}

/// The points of members of the key (`None` for a member it lacks, or no
/// key).
fn points_of(
    call: &mut DataCall<'_>,
    members: &[Bytes],
) -> Result<Vec<Option<(f64, f64)>>, super::Failure> {
    let key = call.key();
    let zset = zset_at(call, key)?;
    let mut points = Vec::with_capacity(members.len());
    for member in members {
        let score = match &zset {
            None => None,
            Some(zset) => score_of(call, zset, member)?,
        };
        points.push(score.map(geohash::decode_score));
    }
    Ok(points)
}

/// GEODIST key member1 member2 [M | KM | FT | MI].
pub(crate) fn geodist(call: &mut DataCall<'_>) -> Outcome {
    let unit = match &call.arguments[4..] {
        [] => 1.0,
        [unit] => parse_unit(unit)?,
        _ => return Ok(Reply::error(SYNTAX_ERROR_TEXT).into()),
    };
    let members = &call.arguments[2..4];
    let reply = match points_of(call, members)?[..] {
        [Some(from), Some(to)] => Reply::bulk(distance_text(geohash::distance(from, to) / unit)),
        _ => Reply::NullBulk,
    };
    Ok(reply.into())
}

/// GEOHASH key [member …]: the members' standard 11-character geohashes.
pub(crate) fn geohash(call: &mut DataCall<'_>) -> Outcome {
    let members = &call.arguments[2..];
    let key = call.key();
    let zset = zset_at(call, key)?;
    let mut hashes = Vec::with_capacity(members.len());
    for member in members {
        let score = match &zset {
            None => None,
            Some(zset) => score_of(call, zset, member)?,
        };
        hashes.push(score.map_or(Reply::NullBulk, |score| {
            Reply::bulk(geohash::geohash_text(score))
        }));
    }
    Ok(Reply::Array(hashes).into())
}

/// GEOPOS key [member …]: each member's longitude and latitude.
pub(crate) fn geopos(call: &mut DataCall<'_>) -> Outcome {
    let members = &call.arguments[2..];
    let points = points_of(call, members)?
        .into_iter()
        .map(|point| point.map_or(Reply::NullArray, point_reply))
        .collect();
    Ok(Reply::Array(points).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_have_four_decimals() {
        assert_eq!(distance_text(0.0), "0.0000");
        assert_eq!(distance_text(0.775_049_1), "0.7750");
        assert_eq!(distance_text(166_274.151_6), "166274.1516");
        assert_eq!(distance_text(6.064_295_159_839_17e-5), "0.0001");
        assert_eq!(distance_text(10.01), "10.0100");
    }

    #[test]
    fn coordinates_print_as_redis_does() {
        assert_eq!(
            coordinate_text(13.361_389_338_970_184),
            "13.36138933897018433"
        );
        assert_eq!(coordinate_text(10.0), "10");
        assert_eq!(coordinate_text(-0.0), "0");
        assert_eq!(coordinate_text(-0.5), "-0.5");
    }

    #[test]
    fn points_are_checked_against_the_limits() {
        assert_eq!(parse_point(b"13.5", b"38"), Ok((13.5, 38.0)));
        assert_eq!(
            parse_point(b"200", b"100"),
            Err(Reply::error(
                "ERR invalid longitude,latitude pair 200.000000,100.000000"
            ))
        );
        assert_eq!(parse_point(b"x", b"1"), Err(Reply::error(NOT_A_FLOAT_TEXT)));
    }

    #[test]
    fn units_are_any_case() {
        assert_eq!(parse_unit(b"KM"), Ok(1000.0));
        assert_eq!(parse_unit(b"mi"), Ok(1609.34));
        assert!(parse_unit(b"yd").is_err());
    }
}

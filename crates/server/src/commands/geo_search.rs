//! The GEO searches: GEOSEARCH, GEOSEARCHSTORE and the older GEORADIUS,
//! GEORADIUS_RO, GEORADIUSBYMEMBER, GEORADIUSBYMEMBER_RO, with Redis
//! 7.0's options, checks, error texts and order of results. A search
//! reads the 9 cells `geohash::search_cells` gives, each a score range of
//! the sorted set, in that order.

use bytes::Bytes;

use super::arguments::{SYNTAX_ERROR_TEXT, integer_argument, parse_float};
use super::collection::Collection;
use super::geo::{distance_text, parse_point, parse_unit, point_reply};
use super::geohash::{self, Cell, Extent, Shape};
use super::sorted_sets::{Scored, in_score_range, score_of, store_scored, zset_at};
use super::zset_ranges::ScoreBound;
use super::{CommandId, DataCall, Failure, Outcome, count_reply};
use crate::resp::Reply;

/// The order of the results.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Order {
    /// The order the cells were read in.
    Found,
    Ascending,
    Descending,
}

/// A parsed search: where, how many, what to reply and where to store.
struct Search {
    centre: Option<(f64, f64)>,
    extent: Option<Extent>,
    unit: f64,
    /// GEOSEARCH's FROMMEMBER was given.
    from_member: bool,
    /// GEOSEARCH's FROMLONLAT was given.
    from_point: bool,
    order: Order,
    /// At most this many results (0: all).
    count: usize,
    /// Stop reading at `count` matches, unsorted.
    any: bool,
    with_distance: bool,
    with_hash: bool,
    with_coordinates: bool,
    /// The key to store the results in, and whether as distances.
    store: Option<(Bytes, bool)>,
}

impl Search {
    fn new() -> Search {
        Search {
            centre: None,
            extent: None,
            unit: 1.0,
            from_member: false,
            from_point: false,
            order: Order::Found,
            count: 0,
            any: false,
            with_distance: false,
            with_hash: false,
            with_coordinates: false,
            store: None,
        }
    }

    fn shape(&self) -> Option<Shape> {
        Some(Shape {
            centre: self.centre?,
            extent: self.extent?,
            unit: self.unit,
        })
    }
}

const NO_MEMBER_TEXT: &str = "ERR could not decode requested zset member";

/// The point of `member` in `zset`.
fn member_point(
    call: &mut DataCall<'_>,
    zset: &Collection,
    member: &[u8],
) -> Result<(f64, f64), Failure> {
    let score = score_of(call, zset, member)?.ok_or_else(|| Reply::error(NO_MEMBER_TEXT))?;
    Ok(geohash::decode_score(score))
}

/// A number argument, or `ERR <text>`.
fn size(argument: &[u8], text: &str) -> Result<f64, Reply> {
    parse_float(argument).ok_or_else(|| Reply::error(format!("ERR {text}")))
}

/// `radius unit`: the circle and the metres of its unit.
fn parse_radius(arguments: &[Bytes]) -> Result<(Extent, f64), Reply> {
    let radius = size(&arguments[0], "need numeric radius")?;
    if radius < 0.0 {
        return Err(Reply::error("ERR radius cannot be negative"));
    }
    Ok((Extent::Radius(radius), parse_unit(&arguments[1])?))
}

/// `width height unit`: the box and the metres of its unit.
fn parse_box(arguments: &[Bytes]) -> Result<(Extent, f64), Reply> {
    let width = size(&arguments[0], "need numeric width")?;
    let height = size(&arguments[1], "need numeric height")?;
    if height < 0.0 || width < 0.0 {
        return Err(Reply::error("ERR height or width cannot be negative"));
    }
    Ok((Extent::Box(width, height), parse_unit(&arguments[2])?))
}

impl Search {
    fn set_extent(&mut self, (extent, unit): (Extent, f64)) {
        self.extent = Some(extent);
        self.unit = unit;
    }
}

/// The arguments before the options: GEORADIUS's point and radius,
/// GEORADIUSBYMEMBER's member and radius (not read without a key, as in
/// Redis). The options' first index.
fn parse_leading(
    call: &mut DataCall<'_>,
    zset: Option<&Collection>,
    search: &mut Search,
) -> Result<usize, Failure> {
    let arguments = call.arguments;
    match call.id() {
        CommandId::Geosearch => Ok(2),
        CommandId::Geosearchstore => Ok(3),
        CommandId::Georadius | CommandId::GeoradiusRo => {
            search.centre = Some(parse_point(&arguments[2], &arguments[3])?);
            search.set_extent(parse_radius(&arguments[4..6])?);
            Ok(6)
        }
        _ => {
            if let Some(zset) = zset {
                search.centre = Some(member_point(call, zset, &arguments[2])?);
                search.set_extent(parse_radius(&arguments[3..5])?);
            }
            Ok(5)
        }
    }
}

/// GEOSEARCH's FROMMEMBER, FROMLONLAT, BYRADIUS or BYBOX at `index`, if
/// it is one of them and may come here: the arguments it took.
fn parse_area_option(
    call: &mut DataCall<'_>,
    zset: Option<&Collection>,
    search: &mut Search,
    index: usize,
) -> Result<Option<usize>, Failure> {
    let arguments = call.arguments;
    let after = arguments.len() - index - 1;
    let is = |name: &str| arguments[index].eq_ignore_ascii_case(name.as_bytes());
    if is("FROMMEMBER") && after >= 1 && !search.from_point {
        // Without a key the member is not looked up (an empty reply).
        if let Some(zset) = zset {
            search.centre = Some(member_point(call, zset, &arguments[index + 1])?);
        }
        search.from_member = true;
        return Ok(Some(1));
    }
    if is("FROMLONLAT") && after >= 2 && !search.from_member {
        search.centre = Some(parse_point(&arguments[index + 1], &arguments[index + 2])?);
        search.from_point = true;
        return Ok(Some(2));
    }
    if is("BYRADIUS") && after >= 2 && !matches!(search.extent, Some(Extent::Box(..))) {
        search.set_extent(parse_radius(&arguments[index + 1..index + 3])?);
        return Ok(Some(2));
    }
    if is("BYBOX") && after >= 3 && !matches!(search.extent, Some(Extent::Radius(_))) {
        search.set_extent(parse_box(&arguments[index + 1..index + 4])?);
        return Ok(Some(3));
    }
    Ok(None)
}

/// An option every command of the family takes, or STORE / STOREDIST as
/// the command allows: the arguments it took.
fn parse_common_option(
    arguments: &[Bytes],
    id: CommandId,
    search: &mut Search,
    index: usize,
) -> Result<Option<usize>, Reply> {
    let after = arguments.len() - index - 1;
    let is = |name: &str| arguments[index].eq_ignore_ascii_case(name.as_bytes());
    let store_key = matches!(id, CommandId::Georadius | CommandId::Georadiusbymember);
    let flag = if is("WITHDIST") {
        &mut search.with_distance
    } else if is("WITHHASH") {
        &mut search.with_hash
    } else if is("WITHCOORD") {
        &mut search.with_coordinates
    } else if is("ANY") {
        &mut search.any
    } else if is("ASC") || is("DESC") {
        search.order = if is("ASC") {
            Order::Ascending
        } else {
            Order::Descending
        };
        return Ok(Some(0));
    } else if is("COUNT") && after >= 1 {
        let count = integer_argument(&arguments[index + 1])?;
        if count <= 0 {
            return Err(Reply::error("ERR COUNT must be > 0"));
        }
        search.count = usize::try_from(count).unwrap_or(usize::MAX);
        return Ok(Some(1));
    } else if (is("STORE") || is("STOREDIST")) && after >= 1 && store_key {
        search.store = Some((arguments[index + 1].clone(), is("STOREDIST")));
        return Ok(Some(1));
    } else if is("STOREDIST") && id == CommandId::Geosearchstore {
        search.store = Some((arguments[1].clone(), true));
        return Ok(Some(0));
    } else {
        return Ok(None);
    };
    *flag = true;
    Ok(Some(0))
}

/// Parses a search's arguments in Redis's order (a member is looked up,
/// and a number checked, as its option is read), then the checks Redis
/// makes once they are all read.
fn parse_search(call: &mut DataCall<'_>, zset: Option<&Collection>) -> Result<Search, Failure> {
    let (arguments, id) = (call.arguments, call.id());
    let mut search = Search::new();
    if id == CommandId::Geosearchstore {
        search.store = Some((arguments[1].clone(), false));
    }
    let mut index = parse_leading(call, zset, &mut search)?;
    let searching = matches!(id, CommandId::Geosearch | CommandId::Geosearchstore);
    while index < arguments.len() {
        let mut taken = parse_common_option(arguments, id, &mut search, index)?;
        if taken.is_none() && searching {
            taken = parse_area_option(call, zset, &mut search, index)?;
        }
        let Some(taken) = taken else {
            return Err(Reply::error(SYNTAX_ERROR_TEXT).into());
        };
        index += taken + 1;
    }
    check_search(&search, &arguments[0], id)?;
    Ok(search)
}

/// The checks of a search's options together.
fn check_search(search: &Search, name: &[u8], id: CommandId) -> Result<(), Reply> {
    let name = String::from_utf8_lossy(name);
    let searching = matches!(id, CommandId::Geosearch | CommandId::Geosearchstore);
    if search.store.is_some()
        && (search.with_distance || search.with_hash || search.with_coordinates)
    {
        let what = if id == CommandId::Geosearchstore {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return Err(Reply::error(format!(
            "ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )));
    }
    if searching && !(search.from_member || search.from_point) {
        return Err(Reply::error(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {name}"
        )));
    }
    if searching && search.extent.is_none() {
        return Err(Reply::error(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {name}"
        )));
    }
    if search.any && search.count == 0 {
        return Err(Reply::error("ERR the ANY argument requires COUNT argument"));
    }
    Ok(())
}

/// A point found: its member, score, position and distance (metres) from
/// the centre.
struct Found {
    member: Bytes,
    score: f64,
    point: (f64, f64),
    distance: f64,
}

/// The points of `zset` inside `shape`, cell by cell in Redis's order,
/// each cell's in score order; at most `limit` (0: all).
fn points_inside(
    call: &mut DataCall<'_>,
    zset: &Collection,
    shape: &Shape,
    limit: usize,
) -> Result<Vec<Found>, Failure> {
    let full = |found: &Vec<Found>| limit > 0 && found.len() >= limit;
    let mut found = Vec::new();
    // Redis skips a cell equal to the last one read, the centre's aside.
    let mut last: Option<Cell> = None;
    for (index, cell) in geohash::search_cells(shape).into_iter().enumerate() {
        let Some(cell) = cell else { continue };
        if last == Some(cell) {
            continue;
        }
        if full(&found) {
            break;
        }
        let (first, end) = geohash::cell_scores(cell);
        let range = (
            ScoreBound::Inclusive(first as f64),
            ScoreBound::Exclusive(end as f64),
        );
        for (member, score) in in_score_range(call, zset, range, false, (0, usize::MAX))? {
            let point = geohash::decode_score(score);
            if let Some(distance) = geohash::distance_within(shape, point) {
                found.push(Found {
                    member,
                    score,
                    point,
                    distance,
                });
            }
            if full(&found) {
                break;
            }
        }
        last = (index > 0).then_some(cell);
    }
    Ok(found)
}

/// The results in the order asked for (COUNT without ANY sorts them
/// nearest first), cut to COUNT; distances in the search's unit.
fn ordered(search: &Search, mut found: Vec<Found>) -> Vec<Found> {
    let mut order = search.order;
    if search.count > 0 && order == Order::Found && !search.any {
        order = Order::Ascending;
    }
    match order {
        Order::Found => {}
        Order::Ascending => found.sort_by(|a, b| a.distance.total_cmp(&b.distance)),
        Order::Descending => found.sort_by(|a, b| b.distance.total_cmp(&a.distance)),
    }
    if search.count > 0 {
        found.truncate(search.count);
    }
    for point in &mut found {
        point.distance /= search.unit;
    }
    found
}

/// The reply of a search without STORE: the members, or arrays of each
/// member with what WITHDIST, WITHHASH and WITHCOORD ask for.
fn found_reply(search: &Search, found: Vec<Found>) -> Reply {
    let with_any = search.with_distance || search.with_hash || search.with_coordinates;
    let reply_of = |point: Found| {
        if !with_any {
            return Reply::Bulk(point.member);
        }
        let mut fields = vec![Reply::Bulk(point.member)];
        if search.with_distance {
            fields.push(Reply::bulk(distance_text(point.distance)));
        }
        if search.with_hash {
            fields.push(Reply::Integer(point.score as i64));
        }
        if search.with_coordinates {
            fields.push(point_reply(point.point));
        }
        Reply::Array(fields)
    };
    Reply::Array(found.into_iter().map(reply_of).collect())
}

/// GEOSEARCH, GEOSEARCHSTORE, GEORADIUS, GEORADIUS_RO, GEORADIUSBYMEMBER,
/// GEORADIUSBYMEMBER_RO: parses, searches, then replies or stores.
pub(crate) fn geo_search(call: &mut DataCall<'_>) -> Outcome {
    let id = call.id();
    let source = match id {
        CommandId::Geosearchstore => &call.arguments[2],
        _ => &call.arguments[1],
    };
    let zset = zset_at(call, source)?;
    let search = parse_search(call, zset.as_ref())?;
    let found = match (&zset, search.shape()) {
        (Some(zset), Some(shape)) => {
            let limit = if search.any { search.count } else { 0 };
            ordered(&search, points_inside(call, zset, &shape, limit)?)
        }
        _ => Vec::new(),
    };
    let Some((target, as_distances)) = &search.store else {
        return Ok(found_reply(&search, found).into());
    };
    let count = found.len();
    let members: Vec<Scored> = found
        .into_iter()
        .map(|point| match as_distances {
            true => (point.member, point.distance),
            false => (point.member, point.score),
        })
        .collect();
    let event = match id {
        CommandId::Geosearchstore => "geosearchstore",
        _ => "georadiusstore",
    };
    store_scored(call, target, members, event)?;
    Ok(count_reply(count).into())
}

//! The geohash arithmetic of the GEO commands, as Redis 7.0 does it: a
//! point is a sorted-set score, the 52-bit interleaving of its 26-bit
//! latitude and longitude cells (latitude in the even bits); a search
//! reads the cell around its centre and the 8 cells around that, each a
//! range of scores, and keeps the points inside its circle or box by the
//! haversine distance on Redis's Earth radius.

use std::f64::consts::PI;

/// The longitudes a point may have.
pub const LONGITUDE_LIMITS: Range = Range {
    min: -180.0,
    max: 180.0,
};
/// The latitudes a point may have (Web Mercator's: no poles).
pub const LATITUDE_LIMITS: Range = Range {
    min: -85.051_128_78,
    max: 85.051_128_78,
};
/// Cells a coordinate is cut into, as a power of two: 26 bits each, 52
/// bits a score.
pub const STEP_MAX: u8 = 26;
/// Redis's Earth radius (the quadratic mean radius of WGS-84), metres.
pub const EARTH_RADIUS_METERS: f64 = 6_372_797.560_856;
/// Half the Earth's circumference in Web Mercator, metres.
const MERCATOR_MAX: f64 = 20_037_726.37;
/// Radians a degree.
const DEGREE: f64 = PI / 180.0;

/// A closed interval of one coordinate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    /// The lowest value.
    pub min: f64,
    /// The highest value.
    pub max: f64,
}

/// A cell: its interleaved bits at a number of steps (2 bits a step).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cell {
    /// Latitude bits even, longitude bits odd.
    pub bits: u64,
    /// Bits of each coordinate.
    pub step: u8,
}

/// The extent of a cell.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Area {
    /// Its longitudes.
    pub longitude: Range,
    /// Its latitudes.
    pub latitude: Range,
}

/// Spreads the low 32 bits of `value` to the even bits.
fn spread(value: u32) -> u64 {
    let mut value = u64::from(value);
    value = (value | (value << 16)) & 0x0000_FFFF_0000_FFFF;
    value = (value | (value << 8)) & 0x00FF_00FF_00FF_00FF;
    value = (value | (value << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    value = (value | (value << 2)) & 0x3333_3333_3333_3333;
    (value | (value << 1)) & 0x5555_5555_5555_5555
}

/// Gathers the even bits of `value` into 32 bits.
fn gather(value: u64) -> u32 {
    let mut value = value & 0x5555_5555_5555_5555;
    value = (value | (value >> 1)) & 0x3333_3333_3333_3333;
    value = (value | (value >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    value = (value | (value >> 4)) & 0x00FF_00FF_00FF_00FF;
    value = (value | (value >> 8)) & 0x0000_FFFF_0000_FFFF;
    value = (value | (value >> 16)) & 0x0000_0000_FFFF_FFFF;
    value as u32
}

/// The cell of `step` bits holding the point, within the given limits
/// (`None` outside them, or outside the GEO limits, or a step of 0 or
/// above 32).
pub fn encode(
    longitude_limits: Range,
    latitude_limits: Range,
    (longitude, latitude): (f64, f64),
    step: u8,
) -> Option<Cell> {
    let inside = |value: f64, limits: Range| value >= limits.min && value <= limits.max;
    if step == 0 || step > 32 {
        return None;
    }
    if !inside(longitude, LONGITUDE_LIMITS) || !inside(latitude, LATITUDE_LIMITS) {
        return None;
    }
    if !inside(longitude, longitude_limits) || !inside(latitude, latitude_limits) {
        return None;
    }
    let cells = (1u64 << step) as f64;
    let offset = |value: f64, limits: Range| (value - limits.min) / (limits.max - limits.min);
    // Truncated to whole cells, as C's conversion to an integer does (the
    // upper limit itself is one past the last cell, as in Redis).
    let latitude_cell = (offset(latitude, latitude_limits) * cells) as u32;
    let longitude_cell = (offset(longitude, longitude_limits) * cells) as u32;
    Some(Cell {
        bits: spread(latitude_cell) | (spread(longitude_cell) << 1),
        step,
    })
}

/// The cell of 26 steps holding a point within the GEO limits.
pub fn encode_point(point: (f64, f64), step: u8) -> Option<Cell> {
    encode(LONGITUDE_LIMITS, LATITUDE_LIMITS, point, step)
}

/// The extent of `cell` within the GEO limits.
pub fn decode(cell: Cell) -> Area {
    let cells = (1u64 << cell.step) as f64;
    let latitude_cell = gather(cell.bits);
    let longitude_cell = gather(cell.bits >> 1);
    // The cell after the last wraps to 0 in 32 bits, as in Redis (only a
    // score of more than 52 bits has such a cell).
    let within = |index: u32, limits: Range| Range {
        min: limits.min + (f64::from(index) / cells) * (limits.max - limits.min),
        max: limits.min + (f64::from(index.wrapping_add(1)) / cells) * (limits.max - limits.min),
    };
    Area {
        longitude: within(longitude_cell, LONGITUDE_LIMITS),
        latitude: within(latitude_cell, LATITUDE_LIMITS),
    }
}

/// The bits of a score, as Redis's conversion of a double to `uint64_t`
/// gives them on x86-64: a negative score's two's complement, 0 from
/// 2^64 up (only a score another command set can be either).
fn score_bits(score: f64) -> u64 {
    const TWO_TO_64: f64 = 18_446_744_073_709_551_616.0;
    if score < 0.0 {
        (score as i64) as u64
    } else if score < TWO_TO_64 {
        score as u64
    } else {
        0
    }
}

/// The point a score stands for: the centre of its cell, within the GEO
/// limits (any score decodes, as in Redis).
pub fn decode_score(score: f64) -> (f64, f64) {
    let area = decode(Cell {
        bits: score_bits(score),
        step: STEP_MAX,
    });
    let centre =
        |range: Range, limits: Range| ((range.min + range.max) / 2.0).clamp(limits.min, limits.max);
    (
        centre(area.longitude, LONGITUDE_LIMITS),
        centre(area.latitude, LATITUDE_LIMITS),
    )
}

/// The score of a cell: its bits moved to the top of 52.
pub fn aligned(cell: Cell) -> u64 {
    cell.bits << (52 - u32::from(cell.step) * 2)
}

/// The score of a point within the GEO limits.
pub fn point_score(point: (f64, f64)) -> Option<u64> {
    encode_point(point, STEP_MAX).map(aligned)
}

/// The scores of the points in `cell`: from the first (included) to the
/// last (excluded).
pub fn cell_scores(cell: Cell) -> (u64, u64) {
    let next = Cell {
        bits: cell.bits + 1,
        ..cell
    };
    (aligned(cell), aligned(next))
}

const EVEN_BITS: u64 = 0x5555_5555_5555_5555;
const ODD_BITS: u64 = 0xAAAA_AAAA_AAAA_AAAA;

/// `cell` moved one cell along the bits of `moved` (`ODD_BITS`: east or
/// west; `EVEN_BITS`: north or south), wrapping around.
fn moved(cell: Cell, moved: u64, forward: bool) -> Cell {
    let shift = 64 - u32::from(cell.step) * 2;
    let kept = cell.bits & !moved;
    let along = cell.bits & moved;
    // The other coordinate's bits, set, carry (or borrow) across them.
    let others = !moved >> shift;
    let along = if forward {
        along.wrapping_add(others + 1)
    } else {
        (along | others).wrapping_sub(others + 1)
    };
    Cell {
        bits: (along & (moved >> shift)) | kept,
        step: cell.step,
    }
}

/// The 8 cells around a cell, in Redis's search order: north, south,
/// east, west, north-east, north-west, south-east, south-west.
pub fn neighbours(cell: Cell) -> [Cell; 8] {
    let east = |cell| moved(cell, ODD_BITS, true);
    let west = |cell| moved(cell, ODD_BITS, false);
    let north = |cell| moved(cell, EVEN_BITS, true);
    let south = |cell| moved(cell, EVEN_BITS, false);
    [
        north(cell),
        south(cell),
        east(cell),
        west(cell),
        east(north(cell)),
        west(north(cell)),
        east(south(cell)),
        west(south(cell)),
    ]
}

/// Degrees to radians.
fn radians(degrees: f64) -> f64 {
    degrees * DEGREE
}

/// Radians to degrees.
fn degrees(radians: f64) -> f64 {
    radians / DEGREE
}

/// Metres between two latitudes along a meridian.
pub fn latitude_distance(from: f64, to: f64) -> f64 {
    EARTH_RADIUS_METERS * (radians(to) - radians(from)).abs()
}

/// Metres between two points (longitude, latitude) on the sphere, by the
/// haversine formula.
pub fn distance((lon1, lat1): (f64, f64), (lon2, lat2): (f64, f64)) -> f64 {
    let v = ((radians(lon2) - radians(lon1)) / 2.0).sin();
    if v == 0.0 {
        return latitude_distance(lat1, lat2);
    }
    let (lat1, lat2) = (radians(lat1), radians(lat2));
    let u = ((lat2 - lat1) / 2.0).sin();
    let a = u * u + lat1.cos() * lat2.cos() * v * v;
    2.0 * EARTH_RADIUS_METERS * a.sqrt().asin()
}

/// The steps of the cells a search of `radius` metres around `latitude`
/// reads: cells about as large as the radius, larger near the poles.
pub fn estimate_steps(radius: f64, latitude: f64) -> u8 {
    if radius == 0.0 {
        return STEP_MAX;
    }
    let (mut range, mut step) = (radius, 1i32);
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    if !(-66.0..=66.0).contains(&latitude) {
        step -= 1;
        if !(-80.0..=80.0).contains(&latitude) {
            step -= 1;
        }
    }
    step.clamp(1, i32::from(STEP_MAX)) as u8
}

/// What a search keeps: within a distance of its centre, or within a box
/// (width along the centre's parallel, height along its meridian).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Extent {
    /// A circle of this radius.
    Radius(f64),
    /// A box of this width and height.
    Box(f64, f64),
}

/// A search area: its centre (longitude, latitude), its extent in units,
/// and the metres of a unit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    /// Its centre.
    pub centre: (f64, f64),
    /// Its extent, in units.
    pub extent: Extent,
    /// Metres in a unit.
    pub unit: f64,
}

/// The longitudes and latitudes a shape spans: `[west, south, east,
/// north]`.
fn bounding_box(shape: &Shape) -> [f64; 4] {
    let (longitude, latitude) = shape.centre;
    let (half_width, half_height) = match shape.extent {
        Extent::Radius(radius) => (shape.unit * radius, shape.unit * radius),
        Extent::Box(width, height) => (shape.unit * (width / 2.0), shape.unit * (height / 2.0)),
    };
    let latitude_delta = degrees(half_height / EARTH_RADIUS_METERS);
    let longitude_delta = |at: f64| degrees(half_width / EARTH_RADIUS_METERS / radians(at).cos());
    // The parallel nearer the pole is the wider in degrees.
    let widest = if latitude < 0.0 {
        longitude_delta(latitude - latitude_delta)
    } else {
        longitude_delta(latitude + latitude_delta)
    };
    [
        longitude - widest,
        latitude - latitude_delta,
        longitude + widest,
        latitude + latitude_delta,
    ]
}

/// The metres from a shape's centre to its farthest edge or corner.
fn reach(shape: &Shape) -> f64 {
    let units = match shape.extent {
        Extent::Radius(radius) => radius,
        Extent::Box(width, height) => {
            ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt()
        }
    };
    units * shape.unit
}

/// The cells a search reads, in Redis's order: the centre's, then its
/// neighbours (north, south, east, west, north-east, north-west,
/// south-east, south-west); `None` for a neighbour the shape cannot reach.
pub fn search_cells(shape: &Shape) -> [Option<Cell>; 9] {
    let [west, south, east, north] = bounding_box(shape);
    let centre_cell = |step| encode_point(shape.centre, step).unwrap_or(Cell { bits: 0, step });
    let mut step = estimate_steps(reach(shape), shape.centre.1);
    let mut cell = centre_cell(step);
    let [n, s, e, w, ..] = neighbours(cell).map(decode);
    let too_small = n.latitude.max < north
        || s.latitude.min > south
        || e.longitude.max < east
        || w.longitude.min > west;
    if step > 1 && too_small {
        step -= 1;
        cell = centre_cell(step);
    }
    let area = decode(cell);
    let mut cells = [Some(cell); 9];
    for (slot, neighbour) in cells[1..].iter_mut().zip(neighbours(cell)) {
        *slot = Some(neighbour);
    }
    if step >= 2 {
        // Indexes into `cells`: 1 N, 2 S, 3 E, 4 W, 5 NE, 6 NW, 7 SE, 8 SW.
        let unreachable = [
            (area.latitude.min < south, [2, 8, 7]),
            (area.latitude.max > north, [1, 5, 6]),
            (area.longitude.min < west, [4, 8, 6]),
            (area.longitude.max > east, [3, 7, 5]),
        ];
        for (outside, indexes) in unreachable {
            if outside {
                for index in indexes {
                    cells[index] = None;
                }
            }
        }
    }
    cells
}

/// The distance in metres of `point` from the centre of `shape`, when
/// the point is inside it.
pub fn distance_within(shape: &Shape, point: (f64, f64)) -> Option<f64> {
    let centre = shape.centre;
    match shape.extent {
        Extent::Radius(radius) => {
            let meters = distance(centre, point);
            (meters <= radius * shape.unit).then_some(meters)
        }
        Extent::Box(width, height) => {
            let (width, height) = (width * shape.unit, height * shape.unit);
            if latitude_distance(point.1, centre.1) > height / 2.0 {
                return None;
            }
            if distance((point.0, point.1), (centre.0, point.1)) > width / 2.0 {
                return None;
            }
            Some(distance(centre, point))
        }
    }
}

/// The standard 11-character geohash of a score's point (latitudes
/// -90 to 90; the eleventh character stands for bits Redis does not
/// keep, always `0`).
pub fn geohash_text(score: f64) -> [u8; 11] {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let standard_latitudes = Range {
        min: -90.0,
        max: 90.0,
    };
    let bits = encode(
        LONGITUDE_LIMITS,
        standard_latitudes,
        decode_score(score),
        STEP_MAX,
    )
    .map_or(0, |cell| cell.bits);
    let mut text = [ALPHABET[0]; 11];
    for (index, slot) in text[..10].iter_mut().enumerate() {
        let shift = 52 - (index + 1) * 5;
        *slot = ALPHABET[((bits >> shift) & 0x1f) as usize];
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scores Redis's own suite shows (`Check geoset values`).
    const NYC: [(f64, f64, u64); 3] = [
        (-74.013_160_4, 40.712_667_4, 1_791_873_972_053_020),
        (-73.990_308_5, 40.736_251_3, 1_791_875_485_187_452),
        (-73.785_813_9, 40.642_898_6, 1_791_895_905_559_723),
    ];

    #[test]
    fn scores_match_redis() {
        for (longitude, latitude, score) in NYC {
            assert_eq!(point_score((longitude, latitude)), Some(score));
        }
    }

    #[test]
    fn decoding_returns_the_cell_centre() {
        for (longitude, latitude, score) in NYC {
            let (lon, lat) = decode_score(score as f64);
            assert!((lon - longitude).abs() < 1e-5, "{lon} {longitude}");
            assert!((lat - latitude).abs() < 1e-5, "{lat} {latitude}");
            assert_eq!(
                point_score((lon, lat)),
                Some(score),
                "a centre is in its cell"
            );
        }
    }

    #[test]
    fn round_trips_over_the_whole_range() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..10_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let longitude = (seed % 3_600_000) as f64 / 10_000.0 - 180.0;
            let latitude = ((seed >> 24) % 1_700_000) as f64 / 10_000.0 - 85.0;
            let score = point_score((longitude, latitude)).unwrap();
            assert!(score < 1 << 52);
            let area = decode(Cell {
                bits: score,
                step: STEP_MAX,
            });
            assert!(area.longitude.min <= longitude && longitude <= area.longitude.max);
            assert!(area.latitude.min <= latitude && latitude <= area.latitude.max);
            assert_eq!(point_score(decode_score(score as f64)), Some(score));
        }
    }

    #[test]
    fn any_score_decodes_as_in_redis() {
        // Redis 7.0.15: ZADD k -5 neg 1e20 big, then GEOPOS.
        let text = |(lon, lat): (f64, f64)| (format!("{lon:.17}"), format!("{lat:.17}"));
        assert_eq!(
            text(decode_score(-5.0)),
            (
                "180.00000000000000000".into(),
                "85.05112877999999910".into()
            )
        );
        assert_eq!(
            text(decode_score(1e20)),
            (
                "-179.99999731779098511".into(),
                "-85.05112751263942528".into()
            )
        );
    }

    #[test]
    fn out_of_range_points_have_no_cell() {
        assert_eq!(point_score((180.1, 0.0)), None);
        assert_eq!(point_score((0.0, 85.1)), None);
        assert_eq!(point_score((0.0, -85.1)), None);
        assert_eq!(encode_point((0.0, 0.0), 0), None);
        assert_eq!(point_score((f64::NAN, 0.0)), None);
    }

    #[test]
    fn geohash_texts_match_redis() {
        // Redis's suite: the Wikipedia example.
        let score = point_score((-5.6, 42.6)).unwrap();
        assert_eq!(&geohash_text(score as f64), b"ezs42e44yx0");
        // Redis's documentation (GEOHASH Palermo Catania).
        let palermo = point_score((13.361_389, 38.115_556)).unwrap();
        assert_eq!(&geohash_text(palermo as f64), b"sqc8b49rny0");
        let catania = point_score((15.087_269, 37.502_669)).unwrap();
        assert_eq!(&geohash_text(catania as f64), b"sqdtr74hyu0");
    }

    #[test]
    fn neighbours_are_the_adjacent_cells() {
        let cell = encode_point((13.0, 38.0), 10).unwrap();
        let area = decode(cell);
        let [n, s, e, w, ne, nw, se, sw] = neighbours(cell).map(decode);
        assert_eq!(n.latitude.min, area.latitude.max);
        assert_eq!(s.latitude.max, area.latitude.min);
        assert_eq!(e.longitude.min, area.longitude.max);
        assert_eq!(w.longitude.max, area.longitude.min);
        for side in [n, s] {
            assert_eq!(side.longitude, area.longitude);
        }
        for side in [e, w] {
            assert_eq!(side.latitude, area.latitude);
        }
        assert_eq!((ne.latitude, ne.longitude), (n.latitude, e.longitude));
        assert_eq!((nw.latitude, nw.longitude), (n.latitude, w.longitude));
        assert_eq!((se.latitude, se.longitude), (s.latitude, e.longitude));
        assert_eq!((sw.latitude, sw.longitude), (s.latitude, w.longitude));
    }

    #[test]
    fn neighbours_wrap_around_the_antimeridian() {
        let cell = encode_point((179.99, 0.0), 8).unwrap();
        let east = decode(neighbours(cell)[2]);
        assert_eq!(east.longitude.min, -180.0);
        let cell = encode_point((-179.99, 0.0), 8).unwrap();
        let west = decode(neighbours(cell)[3]);
        assert_eq!(west.longitude.max, 180.0);
    }

    #[test]
    fn distances_match_redis() {
        // GEODIST Palermo Catania: 166274.1516 m in Redis's documentation.
        let palermo = decode_score(point_score((13.361_389, 38.115_556)).unwrap() as f64);
        let catania = decode_score(point_score((15.087_269, 37.502_669)).unwrap() as f64);
        let meters = distance(palermo, catania);
        assert!((meters - 166_274.151_6).abs() < 0.000_1, "{meters}");
        assert_eq!(distance(palermo, palermo), 0.0);
        assert_eq!(
            distance((1.0, 10.0), (1.0, 11.0)),
            latitude_distance(10.0, 11.0)
        );
    }

    #[test]
    fn steps_shrink_with_the_radius_and_near_the_poles() {
        assert_eq!(estimate_steps(0.0, 0.0), 26);
        assert_eq!(estimate_steps(1.0, 0.0), 24);
        assert!(estimate_steps(1000.0, 0.0) > estimate_steps(100_000.0, 0.0));
        assert_eq!(
            estimate_steps(1000.0, 70.0),
            estimate_steps(1000.0, 0.0) - 1
        );
        assert_eq!(
            estimate_steps(1000.0, -81.0),
            estimate_steps(1000.0, 0.0) - 2
        );
        assert_eq!(estimate_steps(1e9, 0.0), 1);
    }

    #[test]
    fn search_cells_cover_the_shape() {
        let shape = Shape {
            centre: (15.0, 37.0),
            extent: Extent::Radius(200.0),
            unit: 1000.0,
        };
        let cells = search_cells(&shape);
        let centre = cells[0].unwrap();
        assert_eq!(Some(centre), encode_point(shape.centre, centre.step));
        let inside = point_score((15.5, 37.5)).unwrap();
        let covered = cells.iter().flatten().any(|cell| {
            let (first, end) = cell_scores(*cell);
            (first..end).contains(&inside)
        });
        assert!(covered);
        assert!(distance_within(&shape, (15.5, 37.5)).is_some());
        assert!(distance_within(&shape, (20.0, 37.0)).is_none());
    }

    #[test]
    fn boxes_measure_width_and_height_apart() {
        let shape = Shape {
            centre: (15.0, 37.0),
            extent: Extent::Box(400.0, 2.0),
            unit: 1000.0,
        };
        assert!(distance_within(&shape, (12.75, 36.995)).is_some());
        assert!(distance_within(&shape, (12.75, 36.5)).is_none());
    }
}

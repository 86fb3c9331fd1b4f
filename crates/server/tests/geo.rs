//! The GEO commands over a real socket: the replies and errors of each,
//! a randomized test of searches against a brute-force model (every
//! member measured), and, where redis-server is installed, the same
//! commands on both compared reply by reply.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::collections::BTreeMap;

use common::redis_server::RedisServer;
use common::{Client, Value, error, start_server, words};
use keel_server::ServerOptions;
use keel_server::commands::geohash::{self, Extent, Shape};
use proptest::prelude::*;

const WRONG_TYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn int(value: i64) -> Value {
    Value::Integer(value)
}

fn bulk(text: &str) -> Value {
    Value::bulk(text)
}

fn bulks(texts: &[&str]) -> Value {
    Value::Array(texts.iter().map(|text| bulk(text)).collect())
}

fn sicily(client: &mut Client) {
    let added = words(
        client,
        "GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
    );
    assert_eq!(added, int(2));
}

#[test]
fn geoadd_stores_redis_scores_and_takes_zadd_options() {
    let (server, _backend) = start_server(ServerOptions::default());
    let mut c = Client::connect(server.local_address());
    sicily(&mut c);
    assert_eq!(
        words(&mut c, "ZRANGE Sicily 0 -1 WITHSCORES"),
        bulks(&["Palermo", "3479099956230698", "Catania", "3479447370796909"])
    );
    assert_eq!(
        words(&mut c, "GEOADD Sicily 13.361389 38.115556 Palermo"),
        int(0)
    );
    assert_eq!(words(&mut c, "GEOADD Sicily CH 13 38 Palermo"), int(1));
    assert_eq!(words(&mut c, "GEOADD Sicily NX 1 1 Palermo"), int(0));
    assert_eq!(words(&mut c, "GEOADD Sicily XX 1 1 Nowhere"), int(0));
    assert_eq!(
        words(&mut c, "GEOADD Sicily XX CH 1 1 Palermo 2 2 Nowhere"),
        int(1)
    );
    assert_eq!(words(&mut c, "ZCARD Sicily"), int(2));
    let syntax = error("ERR syntax error");
    assert_eq!(words(&mut c, "GEOADD Sicily NX XX 1 1 a"), syntax);
    assert_eq!(words(&mut c, "GEOADD Sicily 1 1 a 2"), syntax);
    assert_eq!(words(&mut c, "GEOADD Sicily CH CH CH"), syntax);
    assert_eq!(words(&mut c, "GEOADD Sicily FOO 1 1 a"), syntax);
    assert_eq!(
        words(&mut c, "GEOADD Sicily 1 1 a x 1 b"),
        error("ERR value is not a valid float")
    );
    assert_eq!(
        words(&mut c, "GEOADD Sicily 200 100 a"),
        error("ERR invalid longitude,latitude pair 200.000000,100.000000")
    );
    assert_eq!(
        words(&mut c, "GEOADD Sicily 0 85.06 a"),
        error("ERR invalid longitude,latitude pair 0.000000,85.060000")
    );
    assert_eq!(
        words(&mut c, "GEOADD"),
        error("ERR wrong number of arguments for 'geoadd' command")
    );
    words(&mut c, "SET s x");
    assert_eq!(words(&mut c, "GEOADD s 1 1 a"), error(WRONG_TYPE));
}

#[test]
fn geopos_geohash_and_geodist_read_members() {
    let (server, _backend) = start_server(ServerOptions::default());
    let mut c = Client::connect(server.local_address());
    sicily(&mut c);
    assert_eq!(
        words(&mut c, "GEOPOS Sicily Palermo Nowhere"),
        Value::Array(vec![
            bulks(&["13.36138933897018433", "38.11555639549629859"]),
            Value::NullArray,
        ])
    );
    assert_eq!(
        words(&mut c, "GEOPOS nokey a"),
        Value::Array(vec![Value::NullArray])
    );
    assert_eq!(
        words(&mut c, "GEOHASH Sicily Palermo Catania Nowhere"),
        Value::Array(vec![
            bulk("sqc8b49rny0"),
            bulk("sqdtr74hyu0"),
            Value::NullBulk
        ])
    );
    assert_eq!(words(&mut c, "GEOHASH Sicily"), Value::Array(vec![]));
    assert_eq!(
        words(&mut c, "GEODIST Sicily Palermo Catania"),
        bulk("166274.1516")
    );
    assert_eq!(
        words(&mut c, "GEODIST Sicily Palermo Catania KM"),
        bulk("166.2742")
    );
    assert_eq!(
        words(&mut c, "GEODIST Sicily Palermo Catania mi"),
        bulk("103.3182")
    );
    assert_eq!(
        words(&mut c, "GEODIST Sicily Palermo Catania ft"),
        bulk("545518.8700")
    );
    assert_eq!(
        words(&mut c, "GEODIST Sicily Palermo Palermo"),
        bulk("0.0000")
    );
    assert_eq!(
        words(&mut c, "GEODIST Sicily Palermo Nowhere"),
        Value::NullBulk
    );
    assert_eq!(words(&mut c, "GEODIST nokey a b"), Value::NullBulk);
    assert_eq!(
        words(&mut c, "GEODIST Sicily Palermo Catania yd"),
        error("ERR unsupported unit provided. please use M, KM, FT, MI")
    );
    assert_eq!(
        words(&mut c, "GEODIST Sicily a b km x"),
        error("ERR syntax error")
    );
    words(&mut c, "SET s x");
    for command in ["GEOPOS s a", "GEOHASH s a", "GEODIST s a b"] {
        assert_eq!(words(&mut c, command), error(WRONG_TYPE), "{command}");
    }
    // RESP3: coordinates are doubles, with the digits Redis prints.
    words(&mut c, "HELLO 3");
    assert_eq!(
        words(&mut c, "GEOPOS Sicily Palermo"),
        Value::Array(vec![Value::Array(vec![
            Value::Double("13.36138933897018433".into()),
            Value::Double("38.11555639549629859".into()),
        ])])
    );
}

#[test]
fn searches_reply_with_what_their_options_ask_for() {
    let (server, _backend) = start_server(ServerOptions::default());
    let mut c = Client::connect(server.local_address());
    sicily(&mut c);
    assert_eq!(
        words(&mut c, "GEORADIUS Sicily 15 37 200 km ASC"),
        bulks(&["Catania", "Palermo"])
    );
    assert_eq!(
        words(&mut c, "GEORADIUS Sicily 15 37 100 km"),
        bulks(&["Catania"])
    );
    assert_eq!(
        words(&mut c, "GEORADIUS_RO Sicily 15 37 200 km DESC"),
        bulks(&["Palermo", "Catania"])
    );
    assert_eq!(
        words(
            &mut c,
            "GEORADIUS Sicily 15 37 200 km WITHDIST WITHHASH WITHCOORD COUNT 1"
        ),
        Value::Array(vec![Value::Array(vec![
            bulk("Catania"),
            bulk("56.4413"),
            int(3479447370796909),
            bulks(&["15.08726745843887329", "37.50266842333162032"]),
        ])])
    );
    assert_eq!(
        words(&mut c, "GEORADIUSBYMEMBER Sicily Palermo 200 km WITHDIST"),
        Value::Array(vec![
            bulks(&["Palermo", "0.0000"]),
            bulks(&["Catania", "166.2742"]),
        ])
    );
    assert_eq!(
        words(&mut c, "GEORADIUSBYMEMBER_RO Sicily Catania 1 m"),
        bulks(&["Catania"])
    );
    assert_eq!(
        words(
            &mut c,
            "GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 400 400 km ASC WITHDIST"
        ),
        Value::Array(vec![
            bulks(&["Catania", "56.4413"]),
            bulks(&["Palermo", "190.4424"]),
        ])
    );
    assert_eq!(
        words(
            &mut c,
            "GEOSEARCH Sicily FROMMEMBER Palermo BYRADIUS 100 km"
        ),
        bulks(&["Palermo"])
    );
    assert_eq!(
        words(
            &mut c,
            "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 200 km COUNT 1 ANY"
        ),
        Value::Array(vec![bulk("Palermo")])
    );
    assert_eq!(
        words(&mut c, "GEOSEARCH nokey FROMMEMBER a BYRADIUS 1 km"),
        Value::Array(vec![])
    );
    assert_eq!(
        words(&mut c, "GEORADIUSBYMEMBER nokey a x y"),
        Value::Array(vec![])
    );
}

#[test]
fn searches_store_members_or_distances() {
    let (server, _backend) = start_server(ServerOptions::default());
    let mut c = Client::connect(server.local_address());
    sicily(&mut c);
    assert_eq!(
        words(&mut c, "GEORADIUS Sicily 15 37 200 km STORE dst"),
        int(2)
    );
    assert_eq!(
        words(&mut c, "ZRANGE dst 0 -1 WITHSCORES"),
        bulks(&["Palermo", "3479099956230698", "Catania", "3479447370796909"])
    );
    assert_eq!(
        words(
            &mut c,
            "GEORADIUSBYMEMBER Sicily Palermo 200 km STOREDIST dst COUNT 1"
        ),
        int(1)
    );
    assert_eq!(
        words(&mut c, "ZRANGE dst 0 -1 WITHSCORES"),
        bulks(&["Palermo", "0"])
    );
    assert_eq!(
        words(
            &mut c,
            "GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYRADIUS 200 km STOREDIST"
        ),
        int(2)
    );
    assert_eq!(
        words(&mut c, "ZSCORE dst Catania"),
        bulk("56.441257870158204")
    );
    assert_eq!(
        words(
            &mut c,
            "GEOSEARCHSTORE dst Sicily FROMLONLAT 0 0 BYRADIUS 1 km"
        ),
        int(0)
    );
    assert_eq!(words(&mut c, "EXISTS dst"), int(0));
    words(&mut c, "SET dst x");
    assert_eq!(
        words(&mut c, "GEORADIUS nokey 15 37 200 km STORE dst"),
        int(0)
    );
    assert_eq!(
        words(&mut c, "EXISTS dst"),
        int(0),
        "no source: the target is deleted"
    );
}

#[test]
fn search_errors_are_redis_texts() {
    let (server, _backend) = start_server(ServerOptions::default());
    let mut c = Client::connect(server.local_address());
    sicily(&mut c);
    let cases = [
        (
            "GEORADIUS Sicily 15 37 -1 km",
            "ERR radius cannot be negative",
        ),
        ("GEORADIUS Sicily 15 37 x km", "ERR need numeric radius"),
        (
            "GEORADIUS Sicily 15 37 1 yd",
            "ERR unsupported unit provided. please use M, KM, FT, MI",
        ),
        (
            "GEORADIUS Sicily 181 37 1 km",
            "ERR invalid longitude,latitude pair 181.000000,37.000000",
        ),
        (
            "GEORADIUS Sicily 15 37 1 km COUNT 0",
            "ERR COUNT must be > 0",
        ),
        (
            "GEORADIUS Sicily 15 37 1 km COUNT x",
            "ERR value is not an integer or out of range",
        ),
        ("GEORADIUS Sicily 15 37 1 km COUNT", "ERR syntax error"),
        (
            "GEORADIUS Sicily 15 37 1 km ANY",
            "ERR the ANY argument requires COUNT argument",
        ),
        ("GEORADIUS Sicily 15 37 1 km STORE", "ERR syntax error"),
        ("GEORADIUS_RO Sicily 15 37 1 km STORE x", "ERR syntax error"),
        (
            "GEORADIUS Sicily 15 37 1 km STORE x WITHDIST",
            "ERR STORE option in GEORADIUS is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
        ),
        (
            "GEORADIUSBYMEMBER Sicily Nowhere 1 km",
            "ERR could not decode requested zset member",
        ),
        (
            "GEOSEARCH Sicily FROMMEMBER Nowhere BYRADIUS 1 km",
            "ERR could not decode requested zset member",
        ),
        (
            "GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX -1 1 km",
            "ERR height or width cannot be negative",
        ),
        (
            "GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX x 1 km",
            "ERR need numeric width",
        ),
        (
            "GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 1 x km",
            "ERR need numeric height",
        ),
        (
            "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 1 km STOREDIST",
            "ERR syntax error",
        ),
        (
            "GEOSEARCH Sicily FROMLONLAT 15 37 FROMMEMBER Palermo BYRADIUS 1 km",
            "ERR syntax error",
        ),
        (
            "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 1 km BYBOX 1 1 km",
            "ERR syntax error",
        ),
        (
            "geosearch Sicily BYRADIUS 1 km ASC WITHDIST",
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for geosearch",
        ),
        (
            "GEOSEARCH Sicily FROMLONLAT 15 37 ASC WITHDIST",
            "ERR exactly one of BYRADIUS and BYBOX can be specified for GEOSEARCH",
        ),
        (
            "GEOSEARCHSTORE d Sicily FROMLONLAT 15 37 BYRADIUS 1 km WITHCOORD",
            "ERR GEOSEARCHSTORE is not compatible with WITHDIST, WITHHASH and WITHCOORD options",
        ),
    ];
    for (command, text) in cases {
        assert_eq!(words(&mut c, command), error(text), "{command}");
    }
    words(&mut c, "SET s x");
    for command in [
        "GEORADIUS s 1 1 x km",
        "GEORADIUSBYMEMBER s a 1 km",
        "GEOSEARCH s bogus x y z w",
        "GEOSEARCHSTORE d s FROMLONLAT 1 1 BYRADIUS 1 km",
    ] {
        assert_eq!(words(&mut c, command), error(WRONG_TYPE), "{command}");
    }
}

/// A point of the model: its member's name and the position GEOPOS gives.
type Points = BTreeMap<String, (f64, f64)>;

/// The members within `shape`, by measuring every point.
fn brute_force(points: &Points, shape: &Shape) -> Vec<String> {
    points
        .iter()
        .filter(|(_, point)| geohash::distance_within(shape, **point).is_some())
        .map(|(member, _)| member.clone())
        .collect()
}

fn members_of(value: Value) -> Vec<String> {
    let Value::Array(items) = value else {
        panic!("an array: {value:?}");
    };
    let mut members: Vec<String> = items.iter().map(Value::text).collect();
    members.sort();
    members
}

/// A coordinate as Redis prints it: 17 decimals, trailing zeros dropped.
fn coordinate(value: f64) -> Value {
    let text = format!("{value:.17}");
    bulk(text.trim_end_matches('0').trim_end_matches('.'))
}

/// A distance as Redis prints it: rounded to 4 decimals.
fn distance(meters: f64) -> Value {
    let scaled = (meters * 10_000.0).round_ties_even() as u64;
    bulk(&format!("{}.{:04}", scaled / 10_000, scaled % 10_000))
}

/// A point of the Redis suite's fuzz test's band (latitudes -70 to 70,
/// where the search is exact).
fn point() -> impl Strategy<Value = (f64, f64)> {
    (-180.0..180.0f64, -70.0..70.0f64)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Random points, then searches of random circles and boxes: the
    /// cells a search reads find exactly the members a measure of every
    /// point finds; GEOPOS, GEODIST and a removal agree with the model.
    #[test]
    fn searches_find_what_measuring_every_point_finds(
        points in proptest::collection::vec(point(), 1..300),
        centres in proptest::collection::vec(point(), 1..6),
        sizes in proptest::collection::vec((1.0..3000.0f64, 1.0..3000.0f64), 6),
        removed in 0..300usize,
    ) {
        let (server, _backend) = start_server(ServerOptions::default());
        let mut c = Client::connect(server.local_address());
        let mut model = Points::new();
        for (index, &(longitude, latitude)) in points.iter().enumerate() {
            let member = format!("m{index}");
            let (lon, lat) = (format!("{longitude}"), format!("{latitude}"));
            prop_assert_eq!(c.call(&["GEOADD", "k", &lon, &lat, &member]), int(1));
            let score = geohash::point_score((longitude, latitude)).unwrap();
            model.insert(member, geohash::decode_score(score as f64));
        }
        let gone = format!("m{}", removed % points.len());
        prop_assert_eq!(c.call(&["ZREM", "k", &gone]), int(1));
        model.remove(&gone);
        for (centre, &(width, height)) in centres.iter().zip(&sizes) {
            let (lon, lat) = (format!("{}", centre.0), format!("{}", centre.1));
            let (width_text, height_text) = (format!("{width}"), format!("{height}"));
            let circle = Shape { centre: *centre, extent: Extent::Radius(width), unit: 1000.0 };
            let found = c.call(&["GEOSEARCH", "k", "FROMLONLAT", &lon, &lat, "BYRADIUS", &width_text, "km"]);
            prop_assert_eq!(members_of(found), brute_force(&model, &circle));
            let rectangle = Shape { centre: *centre, extent: Extent::Box(width, height), unit: 1000.0 };
            let found = c.call(&["GEOSEARCH", "k", "FROMLONLAT", &lon, &lat, "BYBOX", &width_text, &height_text, "km"]);
            prop_assert_eq!(members_of(found), brute_force(&model, &rectangle));
        }
        let (first, position) = model.iter().next().unwrap();
        let pair = Value::Array(vec![coordinate(position.0), coordinate(position.1)]);
        prop_assert_eq!(c.call(&["GEOPOS", "k", first]), Value::Array(vec![pair]));
        let (last, other) = model.iter().next_back().unwrap();
        let meters = geohash::distance(*position, *other);
        prop_assert_eq!(c.call(&["GEODIST", "k", first, last]), distance(meters));
        prop_assert_eq!(c.call(&["GEOPOS", "k", &gone]), Value::Array(vec![Value::NullArray]));
    }
}

/// Commands run on keel and on redis-server alike, their replies
/// compared.
const SAME_ON_BOTH: &[&str] = &[
    "GEOADD Sicily 13.361389 38.115556 Palermo 15.087269 37.502669 Catania",
    "GEOADD Sicily 12.758489 38.788135 edge1 17.241510 38.788135 edge2",
    "GEOADD Sicily 180 85.05112878 north -180 -85.05112878 south",
    "GEOADD Sicily CH XX 13 38 Palermo 1 1 nowhere",
    "GEOADD Sicily 200 100 x",
    "ZRANGE Sicily 0 -1 WITHSCORES",
    "GEOPOS Sicily north south Palermo nowhere",
    "GEOHASH Sicily north south Palermo Catania nowhere",
    "GEODIST Sicily Palermo Catania mi",
    "GEODIST Sicily north south km",
    "GEORADIUS Sicily 15 37 200 km WITHDIST WITHCOORD WITHHASH",
    "GEORADIUS Sicily 15 37 400 km WITHDIST DESC COUNT 3",
    "GEORADIUS Sicily 15 37 400 km COUNT 2 ANY",
    "GEORADIUSBYMEMBER Sicily Palermo 300 km WITHDIST ASC",
    "GEORADIUSBYMEMBER Sicily Palermo 300 km STOREDIST dst",
    "ZRANGE dst 0 -1 WITHSCORES",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYBOX 400 400 km ASC WITHCOORD",
    "GEOSEARCH Sicily FROMMEMBER edge1 BYBOX 500 100 mi WITHDIST",
    "GEOSEARCH Sicily FROMLONLAT 179 80 BYRADIUS 3000 km",
    "GEOSEARCH Sicily FROMLONLAT 0 0 BYRADIUS 0 m",
    "GEOSEARCHSTORE dst Sicily FROMLONLAT 15 37 BYRADIUS 500 km",
    "ZRANGE dst 0 -1 WITHSCORES",
    "GEOSEARCH Sicily FROMLONLAT 15 37 BYRADIUS 1 km BYBOX 1 1 km",
    "ZADD odd -5 neg 1e20 big 3.5 frac",
    "GEOPOS odd neg big frac",
    "GEOHASH odd neg big frac",
    "GEORADIUS odd 0 0 20000 km WITHCOORD WITHHASH",
];

#[test]
fn replies_match_redis_server() {
    let Some(redis) = RedisServer::start() else {
        return;
    };
    let (server, _backend) = start_server(ServerOptions::default());
    let mut on_keel = Client::connect(server.local_address());
    let mut on_redis = Client::connect(redis.address);
    for command in SAME_ON_BOTH {
        let expected = words(&mut on_redis, command);
        assert_eq!(words(&mut on_keel, command), expected, "{command}");
    }
}

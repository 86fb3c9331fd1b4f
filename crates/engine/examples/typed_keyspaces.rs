//! Typed keyspaces: keys and values with Rust types, and ranges over
//! typed keys that sort as the values do (tuples by their first element,
//! then the second; negative numbers before positive ones).
//!
//! ```text
//! cargo run -p keel --example typed_keyspaces
//! ```

use keel::{Database, KeyspaceDefinition, Options};

/// Temperature readings by (sensor, time in seconds, which may be
/// negative: before the experiment started), in tenths of a degree.
const READINGS: KeyspaceDefinition<(String, i64), i32> = KeyspaceDefinition::new("readings");

/// Sensor names by id.
const SENSORS: KeyspaceDefinition<u32, String> = KeyspaceDefinition::new("sensors");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let db = Database::open(dir.path(), Options::default())?;
    let readings = db.typed_keyspace(READINGS)?;
    let sensors = db.typed_keyspace(SENSORS)?;

    db.update(|tx| {
        sensors.put(tx, 1, "boiler")?;
        sensors.put(tx, 2, "attic")?;
        for (time, tenths) in [(-60, 180), (-1, 185), (0, 190), (30, 215), (600, 420)] {
            readings.put(tx, ("boiler", time), tenths)?;
        }
        readings.put(tx, ("attic", 0), -35)
    })?;

    let tx = db.begin_read();
    // The boiler from one minute before the start until five minutes after:
    // the encoding keeps -60 before -1 before 0.
    println!("boiler, -60 s to 300 s:");
    for entry in readings.range(&tx, ("boiler", -60)..=("boiler", 300))? {
        let ((_, time), tenths) = entry?;
        println!("  {time:>4} s  {:>5.1} °C", f64::from(tenths) / 10.0);
    }
    let mut boiler = readings.range(&tx, ("boiler", i64::MIN)..=("boiler", i64::MAX))?;
    if let Some(entry) = boiler.next_back() {
        let ((sensor, time), tenths) = entry?;
        println!("newest {sensor} reading: {tenths} tenths at {time} s");
    }
    let names: Vec<String> = sensors
        .range(&tx, ..)?
        .map(|entry| entry.map(|(_, name)| name))
        .collect::<keel::Result<_>>()?;
    println!("sensors by id: {names:?}");
    assert_eq!(names, ["boiler", "attic"]);
    assert_eq!(readings.get(&tx, ("attic", 0))?, Some(-35));
    Ok(())
}

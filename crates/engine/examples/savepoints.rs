//! Savepoints: undo part of a transaction and keep the rest. An order is
//! placed line by line; a line that cannot be filled is rolled back to
//! the savepoint before it, and the order commits with the lines that
//! could. Savepoints nest.
//!
//! ```text
//! cargo run -p keel --example savepoints
//! ```

use keel::{Database, Isolation, KeyspaceDefinition, Options};

const STOCK: KeyspaceDefinition<String, u32> = KeyspaceDefinition::new("stock");
const ORDER_LINES: KeyspaceDefinition<(u64, String), u32> = KeyspaceDefinition::new("order_lines");

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let db = Database::open(dir.path(), Options::default())?;
    let stock = db.typed_keyspace(STOCK)?;
    let lines = db.typed_keyspace(ORDER_LINES)?;
    db.update(|tx| {
        stock.put(tx, "apples", 10)?;
        stock.put(tx, "pears", 1)
    })?;

    let order = 42;
    let mut tx = db.begin(Isolation::Serializable);
    for (item, quantity) in [("apples", 3), ("pears", 5), ("apples", 2)] {
        let before_line = tx.savepoint();
        // The line is recorded first, then the stock taken; if the stock
        // runs short, both are undone.
        let ordered = lines.get(&tx, (order, item))?.unwrap_or(0);
        lines.put(&mut tx, (order, item), ordered + quantity)?;
        let available = stock.get(&tx, item)?.unwrap_or(0);
        if available < quantity {
            tx.rollback_to_savepoint(before_line)?;
            println!("{item} x{quantity}: only {available} left, line dropped");
            continue;
        }
        stock.put(&mut tx, item, available - quantity)?;
        tx.release_savepoint(before_line)?;
        println!("{item} x{quantity}: taken");
    }

    // Nested: a gift note inside a wrapping option, both undone together.
    let wrapping = tx.savepoint();
    lines.put(&mut tx, (order, "gift wrap"), 1)?;
    let _note = tx.savepoint();
    lines.put(&mut tx, (order, "gift note"), 1)?;
    tx.rollback_to_savepoint(wrapping)?;
    tx.commit()?;

    let tx = db.begin_read();
    let placed: Vec<((u64, String), u32)> = lines.range(&tx, ..)?.collect::<keel::Result<_>>()?;
    println!("order {order}: {placed:?}");
    assert_eq!(placed, [((order, "apples".to_string()), 5)]);
    assert_eq!(stock.get(&tx, "apples")?, Some(5));
    assert_eq!(stock.get(&tx, "pears")?, Some(1));
    Ok(())
}

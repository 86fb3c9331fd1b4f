//! Two-phase commit across two databases (say one per disk): an order is
//! written to the `orders` database and its stock taken from the
//! `inventory` database in one atomic transaction run by a
//! `keel::Coordinator`. Then what happens when a participant refuses (a
//! conflict: nothing is committed anywhere), and what recovery does with
//! a transaction left in doubt between the two phases (no decision was
//! logged, so it is aborted on every participant: presumed abort).
//!
//! ```text
//! cargo run -p keel --example two_phase_commit
//! ```

use std::sync::Arc;

use keel::{Coordinator, CoordinatorOptions, Database, Error, Isolation, Options};

fn stock(inventory: &Database) -> keel::Result<u64> {
    let items = inventory.keyspace("items")?;
    let value = inventory.view(|tx| tx.get(&items, "widget"))?;
    Ok(value.map_or(0, |value| {
        String::from_utf8_lossy(&value).parse().unwrap_or(0)
    }))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let open = |name: &str| Database::open(dir.path().join(name), Options::default());
    let orders = Arc::new(open("orders")?);
    let inventory = Arc::new(open("inventory")?);
    // The coordinator's decision log is a small keel database of its own.
    let coordinator = Coordinator::open(
        dir.path().join("coordinator"),
        vec![orders.clone(), inventory.clone()],
        CoordinatorOptions::default(),
    )?;
    let (placed, items) = (orders.keyspace("placed")?, inventory.keyspace("items")?);
    inventory.update(|tx| tx.put(&items, "widget", "10"))?;

    // One order: written in `orders` (participant 0), its stock taken in
    // `inventory` (participant 1). Both commit, or neither.
    coordinator.update(|tx| {
        let left = tx.participant(1).get(&items, "widget")?;
        let left: u64 = String::from_utf8_lossy(&left.unwrap_or_default())
            .parse()
            .unwrap_or(0);
        tx.participant(1)
            .put(&items, "widget", (left - 3).to_string())?;
        tx.participant(0).put(&placed, "order-1", "3 widgets")
    })?;
    assert_eq!(stock(&inventory)?, 7);
    assert!(orders.view(|tx| tx.get(&placed, "order-1"))?.is_some());
    println!("order-1 placed in one transaction across both databases; 7 widgets left");

    // A refusal: the stock changes under a global transaction after it
    // read it. `orders` votes yes, `inventory` refuses; the vote is
    // withdrawn and neither database holds anything of it.
    let mut tx = coordinator.transaction();
    let left = tx.participant(1).get(&items, "widget")?;
    tx.participant(1).put(&items, "widget", "0")?;
    tx.participant(0).put(&placed, "order-2", "all widgets")?;
    inventory.update(|tx| tx.put(&items, "widget", "6"))?; // someone else sold one
    let refused = tx.commit();
    assert!(
        matches!(refused, Err(Error::Conflict { .. })),
        "{refused:?}"
    );
    assert!(orders.view(|tx| tx.get(&placed, "order-2"))?.is_none());
    assert_eq!(stock(&inventory)?, 6);
    println!(
        "order-2 (which read {:?} widgets) was refused by inventory, and is in neither database",
        left.map(|value| String::from_utf8_lossy(&value).into_owned())
    );

    // In doubt: both participants voted under one of the coordinator's
    // global ids, and then everything stopped before a decision was
    // logged (here: closed; after a crash it is the same, the votes are
    // durable). The databases list the votes on reopening and hold their
    // keys; the coordinator's recovery finds no decision, so it aborts.
    let global_id = coordinator.transaction().global_id().to_vec();
    let mut vote = orders.begin(Isolation::Serializable);
    vote.put(&placed, "order-3", "2 widgets")?;
    drop(vote.prepare(&global_id)?);
    let mut vote = inventory.begin(Isolation::Serializable);
    vote.put(&items, "widget", "4")?;
    drop(vote.prepare(&global_id)?);
    coordinator.close()?;
    drop(Arc::into_inner(orders).ok_or("orders is still shared")?);
    drop(Arc::into_inner(inventory).ok_or("inventory is still shared")?);

    let orders = Arc::new(open("orders")?);
    let inventory = Arc::new(open("inventory")?);
    for db in [&orders, &inventory] {
        let in_doubt = db.prepared();
        assert_eq!(in_doubt.len(), 1);
        assert_eq!(in_doubt[0].global_id.as_ref(), global_id.as_slice());
    }
    println!(
        "after reopening, both databases hold {} in doubt",
        String::from_utf8_lossy(&global_id)
    );
    let coordinator = Coordinator::open(
        dir.path().join("coordinator"),
        vec![orders.clone(), inventory.clone()],
        CoordinatorOptions::default(),
    )?;
    let recovery = coordinator.recovery();
    assert_eq!((recovery.committed, recovery.aborted), (0, 2));
    assert!(orders.prepared().is_empty() && inventory.prepared().is_empty());
    let placed = orders.keyspace("placed")?;
    assert!(orders.view(|tx| tx.get(&placed, "order-3"))?.is_none());
    assert_eq!(stock(&inventory)?, 6);
    println!("the coordinator's recovery found no decision and aborted it on both: 6 widgets left");
    Ok(())
}

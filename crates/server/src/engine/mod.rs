//! The binding to the keel engine: [`KeelBackend`](backend::KeelBackend)
//! (databases as keyspaces, SWAPDB's map, persistence commands, INFO),
//! `run.rs` (data commands in keel transactions, one retry helper: the
//! engine's `update_with`), `session.rs` (WATCH and MULTI), `store.rs`
//! (the commands' store over a transaction; `read_memo.rs`: the type
//! records and headers it read, so a group's commands on one collection
//! read them once; `held_writes.rs`: the other element writes it holds
//! back until its commands end), `sweep.rs` (the background
//! removal of deleted collections' elements), `expiry_watch.rs` (the
//! deadlines keyspace `expired` events are published at).

pub(crate) mod backend;
pub(crate) mod expiry_watch;
pub(crate) mod held_writes;
pub(crate) mod read_memo;
pub(crate) mod run;
pub(crate) mod session;
pub(crate) mod store;
pub(crate) mod sweep;

//! The commands: one table (`table.rs`) of every command with its typed
//! id (`id.rs`), arity, flags, keys, ACL categories, docs and handler;
//! one handler per command, parsing and executing together, in a module
//! per family:
//!
//! - `strings.rs`, `counters.rs`, `expiry.rs`, `keyspace.rs`,
//!   `bitmap.rs`: the data commands, written once over
//!   [`KeyValueStore`] (a transaction's reads and writes), so the engine
//!   binding only supplies a store, and tests a `BTreeMap`;
//! - `connection.rs`, `client.rs`, `transactions.rs`, `server.rs`: the
//!   commands that act on the connection ([`Client`]) or the server;
//!   the data types of the next issue get a module each.
//!
//! Helpers: `arguments.rs` (options and arithmetic with Redis's error
//! texts), `glob.rs`, `scan.rs` (SCAN's cursor), `lcs.rs`,
//! `object_info.rs`, `debug.rs`, `config.rs` (the kept Redis
//! parameters), `info.rs` (INFO's sections).

pub mod arguments;
pub(crate) mod bitmap;
pub(crate) mod client;
pub mod config;
pub(crate) mod connection;
pub(crate) mod counters;
pub(crate) mod debug;
pub(crate) mod dispatch;
pub(crate) mod expiry;
pub(crate) mod glob;
pub mod id;
pub(crate) mod info;
pub(crate) mod keyspace;
pub mod lcs;
pub mod object_info;
pub(crate) mod scan;
pub(crate) mod server;
pub mod store;
pub(crate) mod strings;
pub mod table;
pub(crate) mod transactions;

use bytes::Bytes;

pub use client::Client;
pub use id::CommandId;
pub use store::{KEYS_BATCH_MAX, KeyValueStore, StoreError, StoredValue};
pub use table::{CommandFlags, CommandSpec, Handler};

use crate::backend::DatabaseIndex;
use crate::resp::{Command, Limits, Reply};

/// A data command's handler: parses its arguments and runs against the
/// store.
pub type DataHandler = fn(&mut DataCall<'_>) -> Outcome;

/// A connection or server command's handler; `None`: no reply
/// (SHUTDOWN).
pub type ClientHandler = fn(&mut Client, &[Bytes]) -> Option<Reply>;

/// One data command to run: the database it was sent in, its row, its
/// request.
#[derive(Clone, Debug)]
pub struct Request {
    /// The database selected when it was sent (or queued).
    pub database: DatabaseIndex,
    /// Its row of the table.
    pub spec: &'static CommandSpec,
    /// The request, name first.
    pub command: Command,
}

/// What a data handler gets: the request and the store.
pub struct DataCall<'a> {
    /// The command's row (its id tells apart the commands one handler
    /// serves).
    pub spec: &'static CommandSpec,
    /// The arguments, name first; the arity is checked.
    pub arguments: &'a [Bytes],
    /// The selected database.
    pub database: DatabaseIndex,
    /// The protocol limits (the longest string a command may build).
    pub limits: &'a Limits,
    /// The transaction's reads and writes.
    pub store: &'a mut dyn KeyValueStore,
}

/// Why a data command stopped early: an error reply of its own, or the
/// store's failure (replied as `ERR <failure>`; the backend rolls back).
#[derive(Debug)]
pub enum Failure {
    /// The command's own error reply (`ERR syntax error` …).
    Reply(Reply),
    /// The store failed.
    Store(StoreError),
}

impl From<Reply> for Failure {
    fn from(reply: Reply) -> Failure {
        Failure::Reply(reply)
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Failure {
        Failure::Store(error)
    }
}

/// A data handler's result.
pub type Outcome = Result<Reply, Failure>;

/// Runs one data command against `store`: the table's handler for it.
/// A command without a data handler gets an error reply (the dispatcher
/// never sends one here).
pub fn run_data(store: &mut dyn KeyValueStore, request: &Request, limits: &Limits) -> Reply {
    let Handler::Data(handler) = request.spec.handler else {
        return Reply::error(format!(
            "ERR '{}' is not a data command",
            request.spec.full_name()
        ));
    };
    let mut call = DataCall {
        spec: request.spec,
        arguments: request.command.arguments(),
        database: request.database,
        limits,
        store,
    };
    match handler(&mut call) {
        Ok(reply) | Err(Failure::Reply(reply)) => reply,
        Err(Failure::Store(error)) => Reply::error(format!("ERR {error}")),
    }
}

impl DataCall<'_> {
    /// The command's id.
    pub fn id(&self) -> CommandId {
        self.spec.id
    }

    /// The first key (argument 1).
    pub fn key(&self) -> &Bytes {
        &self.arguments[1]
    }

    /// The live value of `key` in the selected database.
    pub fn get(&mut self, key: &[u8]) -> Result<Option<StoredValue>, Failure> {
        Ok(self.store.get(self.database, key)?)
    }

    /// The live string of `key`.
    pub fn value(&mut self, key: &[u8]) -> Result<Option<Bytes>, Failure> {
        Ok(self.get(key)?.map(|stored| stored.value))
    }

    /// The time expiry is judged at (the store's clock).
    pub fn now_ms(&self) -> i64 {
        self.store.now_ms()
    }

    /// Writes, or deletes when the deadline has already passed (as Redis
    /// does for SET with a past EXAT and for EXPIRE into the past).
    pub fn put(
        &mut self,
        key: &[u8],
        value: Bytes,
        deadline_ms: Option<i64>,
    ) -> Result<(), Failure> {
        if deadline_ms.is_some_and(|deadline| deadline <= self.store.now_ms()) {
            self.delete(key)?;
            return Ok(());
        }
        let stored = StoredValue { value, deadline_ms };
        Ok(self.store.put(self.database, key, stored)?)
    }

    /// Deletes `key`; whether a live key was there.
    pub fn delete(&mut self, key: &[u8]) -> Result<bool, Failure> {
        Ok(self.store.delete(self.database, key)?)
    }
}

/// An integer reply of a count.
pub(crate) fn count_reply(count: usize) -> Reply {
    Reply::Integer(i64::try_from(count).unwrap_or(i64::MAX))
}

//! The seam between the protocol and the storage engine.
//!
//! The commands with a client handler run on the connection; every data
//! command (a [`Handler::Data`](crate::commands::Handler::Data) row of the
//! table) goes through a [`Session`], one per connection, opened from the
//! [`Backend`], which runs it in a transaction of its own over a
//! [`KeyValueStore`](crate::commands::KeyValueStore)
//! ([`run_data`](crate::commands::run_data)). The engine implements these
//! two traits over `keel::Database` (`engine/`); tests over a `BTreeMap`.
//!
//! Contract for implementations:
//! - A command reaches [`Session::execute`] only after the table checks
//!   passed: it is a known command (or subcommand), its arity is right,
//!   and the client is authenticated. Option parsing and data errors
//!   (`ERR value is not an integer or out of range`, `ERR syntax error`
//!   …) are the handler's.
//! - Every command is atomic on its own.
//! - [`Session::execute_transaction`] runs the data commands of a MULTI
//!   block as one transaction, all or nothing, and fails it (returns
//!   `None`, which EXEC sends as a null array) when a key watched since
//!   the last [`Session::watch`] changed. It ends the watch, as EXEC does.
//! - Errors of individual commands inside a transaction are replies, not
//!   aborts (Redis runs the rest of the block).
//! - [`Session::execute_script`] runs a script's commands (EVAL's
//!   `redis.call`) as one serializable transaction: committed at once when
//!   the script ends, or not at all when it is killed or the store fails;
//!   the script runs again from the start if the transaction conflicts.

use std::sync::Arc;

use bytes::Bytes;

use crate::commands::notify::KeyspaceEvents;
use crate::commands::{Request, StoreError};
use crate::metrics::MetricsText;
use crate::resp::{EncodedReplies, Reply};

/// A database number chosen with SELECT, `0..databases` (keel maps each
/// to a keyspace).
pub type DatabaseIndex = u32;

/// A client connection's id (CLIENT ID), unique for the server's life.
pub type ClientId = u64;

/// One `# Name` section of INFO: `field:value` lines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InfoSection {
    /// The section's name, lower case (`persistence`, `keyspace`).
    pub name: String,
    /// Fields in order.
    pub fields: Vec<(String, String)>,
}

/// The storage side of the server, shared by every connection.
pub trait Backend: Send + Sync + 'static {
    /// Opens the session of a new connection.
    fn open_session(&self, client: ClientId) -> Box<dyn Session>;

    /// Where to publish the keyspace events its commands fire, and which
    /// classes are on (`notify-keyspace-events`): given by the server when
    /// it starts on this backend. A backend publishes a transaction's
    /// events after it commits (`KeyspaceEvents::publish`). The default
    /// fires none.
    fn set_keyspace_events(&self, events: Arc<KeyspaceEvents>) {
        let _ = events;
    }

    /// The backend's INFO sections (persistence, stats, keyspace …); the
    /// server adds `server`, `clients` and part of `stats` itself (fields
    /// of a section both provide are concatenated).
    fn info_sections(&self) -> Vec<InfoSection>;

    /// Appends the backend's metrics to a Prometheus page (`/metrics`):
    /// commits, their latency, fsyncs, folds, checkpoints …. The default
    /// has none.
    fn metrics(&self, page: &mut MetricsText) {
        let _ = page;
    }

    /// The backend's settings as CONFIG GET shows them (`appendfsync`,
    /// `dir`, `save` …): name and value.
    fn settings(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// CONFIG SET of a setting the backend owns (`appendfsync`, `save` …):
    /// `None` when `name` is not one; otherwise whether `value` is
    /// accepted (the reason when not), and with `apply` set it.
    fn set_setting(&self, name: &str, value: &str, apply: bool) -> Option<Result<(), String>> {
        let _ = (name, value, apply);
        None
    }

    /// Runs pipelined data commands of several clients as one group (the
    /// event loops gather them across connections): each atomic on its
    /// own, in the given order, their replies appended to `replies`, each
    /// in its request's protocol. `false` when the backend cannot run them
    /// together (the default, or the group failed as a whole before
    /// anything took effect; `replies` is then as it was); the caller then
    /// runs each client's commands through its own session.
    fn execute_batch(&self, requests: &[Request], replies: &mut EncodedReplies) -> bool {
        let _ = (requests, replies);
        false
    }

    /// Whether a group of [`Backend::execute_batch`] that writes waits
    /// for an fsync before it returns (`appendfsync always`): the event
    /// loops then hand such groups to commit threads and go on serving
    /// other connections meanwhile. Default false.
    fn batch_waits_for_sync(&self) -> bool {
        false
    }

    /// A number that grows whenever a transaction that wrote commits: a
    /// blocked client (BLPOP …) tries again when it moved. The default
    /// never moves (nothing wakes a blocked client but its timeout).
    fn write_epoch(&self) -> u64 {
        0
    }

    /// SAVE: the data on disk made current, now.
    fn save(&self) -> Result<(), StoreError> {
        Err(StoreError::Unsupported { operation: "SAVE" })
    }

    /// BGSAVE: the same, on a thread of its own.
    fn background_save(&self) -> Result<(), StoreError> {
        Err(StoreError::Unsupported {
            operation: "BGSAVE",
        })
    }

    /// LASTSAVE: the Unix time of the last save (0: never).
    fn last_save_unix_s(&self) -> i64 {
        0
    }
}

/// A running script's way into its transaction
/// ([`Session::execute_script`]).
pub trait ScriptCalls {
    /// Runs one data command inside the script's transaction (it sees the
    /// script's earlier writes) and returns its reply.
    fn call(&mut self, request: &Request) -> Reply;
}

/// [`ScriptCalls`] over a closure (the default
/// [`Session::execute_script`]: each command on its own).
struct EachOnItsOwn<'a>(&'a mut dyn FnMut(&Request) -> Reply);

impl ScriptCalls for EachOnItsOwn<'_> {
    fn call(&mut self, request: &Request) -> Reply {
        (self.0)(request)
    }
}

/// One connection's access to the backend; owned by the connection's
/// event loop.
pub trait Session: Send {
    /// Runs one data command and returns its reply.
    fn execute(&mut self, request: &Request) -> Reply;

    /// Runs pipelined data commands of one client (consecutive requests
    /// of one read, outside MULTI, at most [`PIPELINE_COMMANDS_MAX`]) in
    /// order and appends their replies to `replies`, each in its
    /// request's protocol; the connection sends them only after this
    /// returns. Each must be atomic on its own; a backend may run several
    /// in one transaction (one commit, one fsync), which is a serial order
    /// too. The default runs them one by one.
    ///
    /// [`PIPELINE_COMMANDS_MAX`]: crate::PIPELINE_COMMANDS_MAX
    fn execute_pipeline(&mut self, requests: &[Request], replies: &mut EncodedReplies) {
        for request in requests {
            replies.push(&self.execute(request), request.protocol);
        }
    }

    /// WATCH: remembers `keys` of `database` as they are now (their
    /// versions), for the next [`Session::execute_transaction`].
    fn watch(&mut self, database: DatabaseIndex, keys: &[Bytes]);

    /// UNWATCH (and DISCARD): forgets every watched key.
    fn unwatch(&mut self);

    /// EXEC: runs `requests` (each with the database selected when it was
    /// queued) as one transaction, replies in order; `None` if a watched
    /// key changed, in which case nothing ran. Ends the watch.
    fn execute_transaction(&mut self, requests: &[Request]) -> Option<Vec<Reply>>;

    /// EVAL: runs `script` as one serializable transaction. `script` runs
    /// its data commands through the [`ScriptCalls`] it is given and
    /// answers whether to commit (`false`: the script was killed, nothing
    /// it wrote may stay); it may be called again, from the start, when
    /// the transaction conflicts. `Err` is the error reply of a store that
    /// failed (nothing was written). The default runs each command on its
    /// own, as it comes, and cannot take a write back.
    fn execute_script(
        &mut self,
        script: &mut dyn FnMut(&mut dyn ScriptCalls) -> bool,
    ) -> Result<(), Reply> {
        let mut each = |request: &Request| self.execute(request);
        script(&mut EachOnItsOwn(&mut each));
        Ok(())
    }
}

/// A session that runs nothing: what a connection holds while its own
/// session is lent to the script it runs.
#[derive(Debug, Default)]
pub(crate) struct Lent;

impl Session for Lent {
    fn execute(&mut self, _: &Request) -> Reply {
        Reply::error("ERR the session is running a script")
    }

    fn watch(&mut self, _: DatabaseIndex, _: &[Bytes]) {}

    fn unwatch(&mut self) {}

    fn execute_transaction(&mut self, _: &[Request]) -> Option<Vec<Reply>> {
        None
    }
}

//! The seam between the protocol and the storage engine.
//!
//! The connection layer handles everything about the connection itself
//! (HELLO, AUTH, SELECT, CLIENT, COMMAND, PING, ECHO, TIME, QUIT) and the
//! queuing half of MULTI; every command that touches data or the engine's
//! state goes through a [`Session`], one per connection, opened from the
//! [`Backend`]. The engine (issue 7) implements these two traits over
//! `keel::Database`; tests implement them over a `BTreeMap`.
//!
//! Contract for implementations:
//! - A command reaches [`Session::execute`] only after the table checks
//!   passed: it is a known command (or subcommand), its arity is right,
//!   the client is authenticated, and [`CommandSpec::handled_by`] is
//!   [`HandledBy::Backend`](crate::HandledBy::Backend). Option parsing
//!   and data errors (`WRONGTYPE`, `ERR value is not an integer or out of
//!   range`, `ERR syntax error` …) are the session's.
//! - Every command is atomic on its own.
//! - [`Session::execute_transaction`] runs the data commands of a MULTI
//!   block as one transaction, all or nothing, and fails it (returns
//!   `None`, which EXEC sends as a null array) when a key watched since
//!   the last [`Session::watch`] changed. It ends the watch, as EXEC does.
//! - Errors of individual commands inside a transaction are replies, not
//!   aborts (Redis runs the rest of the block).
//!
//! A natural keel implementation: a session holds the database and a
//! keyspace per database index; `execute` runs one command in
//! `Database::update` (retried on conflict), handing a
//! [`KeyValueStore`](crate::commands::data::KeyValueStore) over the keel
//! transaction to [`data_commands::execute`](crate::commands::data::execute); `watch` begins a serializable
//! transaction, if none is open, and reads the watched keys into its read
//! set; `execute_transaction` runs the block in that transaction (or a new
//! one) and commits, mapping `Conflict` to `None`, which is exactly "a
//! watched key changed", including by this client itself, as in Redis.

use crate::commands::table::CommandSpec;
use crate::resp::Command;
use crate::resp::Reply;

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
    /// A connection's view of the backend.
    type Session: Session;

    /// Opens the session of a new connection.
    fn open_session(&self, client: ClientId) -> Self::Session;

    /// The backend's INFO sections (persistence, stats, keyspace …); the
    /// connection layer adds `server`, `clients` and part of `stats` itself
    /// (fields of a section both provide are concatenated).
    fn info_sections(&self) -> Vec<InfoSection>;

    /// The backend's settings as CONFIG GET shows them (`appendfsync`,
    /// `dir`, `save` …): name and value. The connection layer adds the
    /// server's own (`bind`, `port`, `maxclients`, `requirepass`,
    /// `databases`, the protocol limits) and matches the patterns.
    fn settings(&self) -> Vec<(String, String)> {
        Vec::new()
    }

    /// CONFIG SET of a setting the backend owns (`appendfsync`, `save` …):
    /// `None` when `name` is not one; otherwise whether `value` is
    /// accepted (the reason when not), and with `apply` set it. The
    /// connection layer checks every pair of a CONFIG SET before it
    /// applies any.
    fn set_setting(&self, name: &str, value: &str, apply: bool) -> Option<Result<(), String>> {
        let _ = (name, value, apply);
        None
    }

    /// Runs pipelined data commands of several clients as one group (the
    /// event-loop model gathers them across connections): each must be
    /// atomic on its own, in the given order, as with
    /// [`Session::execute_pipeline`]. `None` when the backend cannot run
    /// them together (the default, or the group failed as a whole before
    /// anything took effect); the caller then runs each client's commands
    /// through its own session.
    fn execute_batch(
        &self,
        commands: &[(DatabaseIndex, &'static CommandSpec, Command)],
    ) -> Option<Vec<Reply>> {
        let _ = commands;
        None
    }
}

/// One connection's access to the backend; owned by the connection's
/// thread.
pub trait Session: Send {
    /// Runs one command in `database` and returns its reply.
    fn execute(&mut self, database: DatabaseIndex, spec: &CommandSpec, command: &Command) -> Reply;

    /// Runs pipelined data commands of one client (consecutive requests
    /// of one read, outside MULTI, at most [`PIPELINE_COMMANDS_MAX`]) in
    /// order and returns their replies, which the connection sends only
    /// after this returns. Each must be atomic on its own, as with
    /// [`Session::execute`]; a backend may run several in one transaction
    /// (one commit, one fsync), which is a serial order too. The default
    /// runs them one by one.
    ///
    /// [`PIPELINE_COMMANDS_MAX`]: crate::PIPELINE_COMMANDS_MAX
    fn execute_pipeline(
        &mut self,
        commands: &[(DatabaseIndex, &'static CommandSpec, Command)],
    ) -> Vec<Reply> {
        commands
            .iter()
            .map(|(database, spec, command)| self.execute(*database, spec, command))
            .collect()
    }

    /// WATCH: remembers `keys` of `database` as they are now (their
    /// versions), for the next [`Session::execute_transaction`].
    fn watch(&mut self, database: DatabaseIndex, keys: &[bytes::Bytes]);

    /// UNWATCH (and DISCARD): forgets every watched key.
    fn unwatch(&mut self);

    /// EXEC: runs `commands` (each with the database selected when it was
    /// queued) as one transaction, replies in order; `None` if a watched
    /// key changed, in which case nothing ran. Ends the watch.
    fn execute_transaction(
        &mut self,
        commands: &[(DatabaseIndex, &'static CommandSpec, Command)],
    ) -> Option<Vec<Reply>>;
}

//! The commands: one table (`table.rs`) of every command with its typed
//! id (`id.rs`), arity, flags, keys, ACL categories, docs and handler;
//! one handler per command, parsing and executing together, in a module
//! per family:
//!
//! - `strings.rs`, `counters.rs`, `expiry.rs`, `keyspace.rs`,
//!   `bitmap.rs`, `bitop.rs`, `bitfield.rs`, `hll/` (HyperLogLog): the
//!   data commands, written once over [`KeyValueStore`] (a transaction's
//!   reads and writes), so the engine binding only supplies a store, and
//!   tests a `BTreeMap`;
//! - `hashes.rs`, `sets.rs`, `lists.rs`, `sorted_sets.rs`: the data
//!   types, over `encoding.rs` (their byte layout) and `collection.rs`
//!   (typed access to a key, WRONGTYPE, saving and deleting
//!   collections);
//! - GEO: `geo.rs` (GEOADD, GEODIST, GEOHASH, GEOPOS) and `geo_search.rs`
//!   (GEOSEARCH, GEORADIUS and their forms), sorted sets whose scores are
//!   the geohashes of `geohash.rs`;
//! - streams: `streams.rs` (XADD, XRANGE, XDEL, XTRIM …),
//!   `stream_read.rs` (XREAD, XREADGROUP), `stream_groups.rs` (XGROUP,
//!   XACK, XPENDING, XCLAIM, XAUTOCLAIM), `stream_info.rs` (XINFO), over
//!   `stream.rs` (a stream in use), `stream_layout.rs` (its elements) and
//!   `stream_id.rs`;
//! - `connection.rs`, `client.rs`, `transactions.rs`, `server.rs`: the
//!   commands that act on the connection ([`Client`]) or the server;
//!   `pubsub.rs`: pub/sub (its registry is `net/pubsub.rs`);
//!   `scripting/`: EVAL and SCRIPT in Lua (with `lua_libs.rs`);
//!   `notify.rs`: keyspace notifications.
//!
//! Helpers: `arguments.rs` (options and arithmetic with Redis's error
//! texts), `glob.rs`, `scan.rs` (SCAN's cursor), `lcs.rs`,
//! `object_info.rs`, `debug.rs`, `config.rs` (the kept Redis
//! parameters), `info.rs` (INFO's sections).

pub(crate) mod acl;
pub mod acl_user;
pub mod arguments;
pub mod bitfield;
pub(crate) mod bitmap;
pub mod bitop;
pub(crate) mod block_order;
pub(crate) mod blocking;
pub(crate) mod client;
pub mod collection;
pub mod config;
pub(crate) mod connection;
pub(crate) mod counters;
pub(crate) mod debug;
pub(crate) mod dispatch;
pub(crate) mod dump;
pub mod dump_payload;
pub(crate) mod element_scan;
pub mod encoding;
pub(crate) mod expiry;
pub(crate) mod functions;
pub(crate) mod geo;
pub(crate) mod geo_search;
pub mod geohash;
pub(crate) mod getkeys;
pub(crate) mod glob;
pub(crate) mod hashes;
pub mod hll;
pub mod id;
pub(crate) mod info;
pub(crate) mod keyspace;
pub(crate) mod latency;
pub mod lcs;
pub(crate) mod lists;
pub(crate) mod lua_libs;
pub(crate) mod migrate;
pub(crate) mod monitor;
pub mod notify;
pub mod object_info;
pub(crate) mod pubsub;
pub mod rdb;
pub(crate) mod scan;
pub(crate) mod scripting;
pub(crate) mod server;
pub(crate) mod sets;
pub mod sha256;
pub(crate) mod slowlog;
pub(crate) mod sort;
pub(crate) mod sorted_sets;
pub mod store;
pub(crate) mod stream;
pub(crate) mod stream_groups;
pub mod stream_id;
pub(crate) mod stream_info;
pub mod stream_layout;
pub(crate) mod stream_read;
pub(crate) mod streams;
pub(crate) mod strings;
pub mod table;
pub(crate) mod tracking;
pub(crate) mod transactions;
pub(crate) mod zset_combine;
pub(crate) mod zset_ranges;

use bytes::Bytes;

pub use client::Client;
use collection::KeyEntry;
pub use id::CommandId;
pub use store::{ElementRange, KEYS_BATCH_MAX, KeyValueStore, StoreError, StoredValue};
pub use table::{CommandFlags, CommandSpec, Handler};

use crate::backend::DatabaseIndex;
use crate::resp::{Command, EncodedReplies, Limits, ProtocolVersion, Reply};

/// A data command's handler: parses its arguments and runs against the
/// store.
pub type DataHandler = fn(&mut DataCall<'_>) -> Outcome;

/// A connection or server command's handler; `None`: no reply
/// (SHUTDOWN).
pub type ClientHandler = fn(&mut Client, &[Bytes]) -> Option<Reply>;

/// One data command to run: the database it was sent in, its row, its
/// request, and the protocol its reply is encoded in.
#[derive(Clone, Debug)]
pub struct Request {
    /// The database selected when it was sent (or queued).
    pub database: DatabaseIndex,
    /// Its row of the table.
    pub spec: &'static CommandSpec,
    /// The request, name first.
    pub command: Command,
    /// The protocol of the client that sent it (HELLO).
    pub protocol: ProtocolVersion,
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
    /// Where the reply is encoded when the caller takes encoded replies
    /// ([`run_data_into`]): a handler may write its reply there itself
    /// (and answer [`Answer::Encoded`]) instead of building a [`Reply`].
    pub output: Option<&'a mut EncodedReplies>,
    /// The protocol the reply is encoded in.
    pub protocol: ProtocolVersion,
}

/// What a data handler answers.
#[derive(Debug)]
pub enum Answer {
    /// This reply.
    Reply(Reply),
    /// The reply is written, into the call's
    /// [`output`](DataCall::output).
    Encoded,
}

impl From<Reply> for Answer {
    fn from(reply: Reply) -> Answer {
        Answer::Reply(reply)
    }
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
pub type Outcome = Result<Answer, Failure>;

/// The reply of a command without a data handler (the dispatcher never
/// sends one to the store).
fn not_a_data_command(spec: &CommandSpec) -> Reply {
    Reply::error(format!("ERR '{}' is not a data command", spec.full_name()))
}

/// The reply of a failure.
fn failure_reply(failure: Failure) -> Reply {
    match failure {
        Failure::Reply(reply) => reply,
        Failure::Store(error) => Reply::error(format!("ERR {error}")),
    }
}

/// Runs one data command against `store`: the table's handler for it;
/// its reply as a value (a MULTI block's, a test's).
pub fn run_data(store: &mut dyn KeyValueStore, request: &Request, limits: &Limits) -> Reply {
    let Handler::Data(handler) = request.spec.handler else {
        return not_a_data_command(request.spec);
    };
    let mut call = DataCall {
        spec: request.spec,
        arguments: request.command.arguments(),
        database: request.database,
        limits,
        store,
        output: None,
        protocol: request.protocol,
    };
    let outcome = handler(&mut call);
    notify::fire_key_misses(&mut call);
    match outcome {
        Ok(Answer::Reply(reply)) => reply,
        // Without an output nothing can be written there.
        Ok(Answer::Encoded) => Reply::error("ERR the reply was lost"),
        Err(failure) => failure_reply(failure),
    }
}

/// Runs one data command against `store` and appends its reply, encoded
/// in the request's protocol, to `replies` (the handlers of the common
/// commands write it there directly).
pub fn run_data_into(
    store: &mut dyn KeyValueStore,
    request: &Request,
    limits: &Limits,
    replies: &mut EncodedReplies,
) {
    let Handler::Data(handler) = request.spec.handler else {
        return replies.push(&not_a_data_command(request.spec), request.protocol);
    };
    let before = replies.len();
    let mut call = DataCall {
        spec: request.spec,
        arguments: request.command.arguments(),
        database: request.database,
        limits,
        store,
        output: Some(&mut *replies),
        protocol: request.protocol,
    };
    let outcome = handler(&mut call);
    notify::fire_key_misses(&mut call);
    let encoded = replies.len() > before;
    match outcome {
        Ok(Answer::Encoded) if encoded => {}
        Ok(Answer::Encoded) => {
            replies.push(&Reply::error("ERR the reply was lost"), request.protocol)
        }
        Ok(Answer::Reply(reply)) => replies.push(&reply, request.protocol),
        Err(failure) => {
            // A failure after a written reply replaces it.
            replies.truncate(before);
            replies.push(&failure_reply(failure), request.protocol);
        }
    }
    debug_assert_eq!(replies.len(), before + 1, "one reply per command");
}

impl<'a> DataCall<'a> {
    /// The command's id.
    pub fn id(&self) -> CommandId {
        self.spec.id
    }

    /// The first key (argument 1), borrowed for as long as the arguments
    /// (not the call): no clone needed to hold it across the call's use.
    pub fn key(&self) -> &'a Bytes {
        &self.arguments[1]
    }

    /// Argument `index`, to store: a copy of a small argument, which
    /// shares the memory of the connection's read buffer
    /// ([`RequestParser::parse_shared`](crate::RequestParser::parse_shared))
    /// that a stored slice of it would keep alive whole; a large one as it
    /// is ([`detached_argument`](crate::resp::detached_argument)).
    pub fn owned_argument(&self, index: usize) -> Bytes {
        crate::resp::detached_argument(&self.arguments[index])
    }

    /// The live string of `key` in the selected database (with its
    /// deadline); WRONGTYPE for a collection.
    pub fn get(&mut self, key: &[u8]) -> Result<Option<StoredValue>, Failure> {
        let stored = self.store.get(self.database, key)?;
        if let Some(stored) = &stored
            && encoding::looks_like_record(&stored.value)
            && let Some(KeyEntry::Collection(_)) = self.entry(key)?
        {
            return Err(collection::wrong_type());
        }
        Ok(stored)
    }

    /// The live value of `key` as stored, of any type (a collection's is
    /// its type record): what expiry and MOVE carry over unchanged.
    pub fn stored(&mut self, key: &[u8]) -> Result<Option<StoredValue>, Failure> {
        Ok(self.store.get(self.database, key)?)
    }

    /// The live string of `key`.
    pub fn value(&mut self, key: &[u8]) -> Result<Option<Bytes>, Failure> {
        Ok(self.get(key)?.map(|stored| stored.value))
    }

    /// Answers the live string of `key` (a bulk string, or null): read in
    /// place and written straight into the output when there is one.
    pub fn reply_value(&mut self, key: &[u8]) -> Outcome {
        let Some(output) = self.output.as_deref_mut() else {
            return Ok(Reply::from(self.value(key)?).into());
        };
        let protocol = self.protocol;
        let mut maybe_collection = false;
        self.store
            .visit(self.database, key, &mut |value: Option<&[u8]>| {
                if value.is_some_and(encoding::looks_like_record) {
                    maybe_collection = true;
                } else {
                    output.writer(protocol).bulk_or_null(value);
                }
            })?;
        if maybe_collection {
            return Ok(Reply::from(self.value(key)?).into());
        }
        Ok(Answer::Encoded)
    }

    /// Answers an array of bulk strings, written straight into the output
    /// when there is one.
    pub fn reply_bulks(&mut self, items: Vec<Bytes>) -> Outcome {
        match self.output.as_deref_mut() {
            Some(output) => {
                output.writer(self.protocol).bulk_array(&items);
                Ok(Answer::Encoded)
            }
            None => Ok(Reply::Array(items.into_iter().map(Reply::Bulk).collect()).into()),
        }
    }

    /// Answers the values of the `count` elements in `range` as an array
    /// of bulk strings written straight into the output, read in place:
    /// `Ok(false)` when there is no output, or the range did not hold
    /// `count` elements (nothing is written then).
    pub fn reply_element_values(
        &mut self,
        count: usize,
        range: &ElementRange,
    ) -> Result<bool, StoreError> {
        let Some(output) = self.output.as_deref_mut() else {
            return Ok(false);
        };
        let store = &mut *self.store;
        output
            .writer(self.protocol)
            .bulk_array_from(count, |sink| store.visit_element_values(range, sink))
    }

    /// Answers `+OK`, written straight into the output when there is one.
    pub fn reply_ok(&mut self) -> Outcome {
        match self.output.as_deref_mut() {
            Some(output) => {
                output.writer(self.protocol).ok();
                Ok(Answer::Encoded)
            }
            None => Ok(Reply::ok().into()),
        }
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
        if self.notifies(notify::EventClasses::NEW) && self.store.get(self.database, key)?.is_none()
        {
            self.notify(notify::EventClasses::NEW, "new", key);
        }
        let stored = StoredValue { value, deadline_ms };
        Ok(self.store.put(self.database, key, stored)?)
    }
}

/// An integer reply of a count.
pub(crate) fn count_reply(count: usize) -> Reply {
    Reply::Integer(i64::try_from(count).unwrap_or(i64::MAX))
}

//! Running data commands in keel transactions: one command, a pipelined
//! group, a MULTI block. One retry helper, the engine's
//! [`Database::update_with`](keel::Database::update_with); a command that
//! cannot write reads one snapshot ([`Database::view`](keel::Database::view)):
//! it tracks no reads and never conflicts.

use std::sync::{RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use keel::{Isolation, Keyspace, Transaction, UpdateOptions};

use super::backend::{PIPELINE_ATTEMPTS_MAX, Shared, Slot, error_reply, read, write};
use super::store::{AfterCommit, Committed, EngineStore, Keyspaces};
use crate::backend::DatabaseIndex;
use crate::commands::{CommandFlags, CommandId, Request, run_data, run_data_into};
use crate::resp::{EncodedReplies, Reply};

/// The databases a command or group holds while it runs.
pub(crate) enum Held<'a> {
    /// One database, shared.
    One(DatabaseIndex, RwLockReadGuard<'a, Slot>),
    /// Every database, shared, in ascending order.
    All(Vec<RwLockReadGuard<'a, Slot>>),
    /// Every database, exclusively, in ascending order (FLUSHDB,
    /// FLUSHALL, SWAPDB: they replace databases as a whole).
    Exclusive(Vec<RwLockWriteGuard<'a, Slot>>),
}

impl Held<'_> {
    /// The keyspaces held, by database index.
    fn keyspaces(&self) -> Vec<&Keyspace> {
        match self {
            Held::One(_, slot) => vec![&slot.keyspace],
            Held::All(slots) => slots.iter().map(|slot| &slot.keyspace).collect(),
            Held::Exclusive(slots) => slots.iter().map(|slot| &slot.keyspace).collect(),
        }
    }
}

/// Where a run's replies go: values (a single command, a MULTI block), or
/// encoded into a buffer from `start` on (a pipeline or group, whose
/// connections copy theirs out).
pub(crate) enum Output<'a> {
    Values(Vec<Reply>),
    Encoded {
        replies: &'a mut EncodedReplies,
        start: usize,
    },
}

impl<'a> Output<'a> {
    /// Encoded replies appended to `replies`.
    pub(crate) fn encoded(replies: &'a mut EncodedReplies) -> Output<'a> {
        let start = replies.len();
        Output::Encoded { replies, start }
    }

    /// Forgets the replies of an attempt that is run again.
    fn reset(&mut self) {
        match self {
            Output::Values(replies) => replies.clear(),
            Output::Encoded { replies, start } => replies.truncate(*start),
        }
    }

    /// The replies as values (empty for encoded ones).
    pub(crate) fn into_values(self) -> Vec<Reply> {
        match self {
            Output::Values(replies) => replies,
            Output::Encoded { .. } => Vec::new(),
        }
    }
}

/// The isolation of a group: serializable if anything in it may write.
fn isolation_of(requests: &[Request]) -> Option<Isolation> {
    requests
        .iter()
        .any(|request| request.spec.may_write())
        .then_some(Isolation::Serializable)
}

impl Shared {
    /// Takes what `requests` need: one database shared when they all run
    /// in it, every database exclusively for a command that replaces
    /// databases, every database shared otherwise.
    pub(crate) fn hold(&self, requests: &[Request]) -> Option<Held<'_>> {
        if requests
            .iter()
            .any(|request| request.spec.has(CommandFlags::EXCLUSIVE))
        {
            return Some(Held::Exclusive(self.slots.iter().map(write).collect()));
        }
        let first = requests.first()?.database;
        let one = requests.iter().all(|request| {
            request.database == first && !request.spec.has(CommandFlags::ALL_DATABASES)
        });
        if one {
            return Some(Held::One(first, read(self.slot(first)?)));
        }
        Some(Held::All(self.slots.iter().map(read).collect()))
    }

    /// Runs `requests` in `transaction` over the databases held, their
    /// replies to `output` (after those of an earlier attempt are
    /// dropped); `Err` when the store failed (the transaction must not
    /// commit). Whether anything was written comes back with what to do
    /// after the commit.
    pub(crate) fn run_in(
        &self,
        transaction: &mut Transaction,
        held: &Held<'_>,
        requests: &[Request],
        output: &mut Output<'_>,
    ) -> Result<(Committed, bool), keel::Error> {
        output.reset();
        let all = held.keyspaces();
        let keyspaces = match held {
            Held::One(index, _) => Keyspaces::One(*index, all[0]),
            _ => Keyspaces::All(&all),
        };
        let mut store = EngineStore::new(
            transaction,
            keyspaces,
            &self.elements_keyspace,
            self.event_classes(),
        );
        if matches!(held, Held::Exclusive(_)) {
            store = store.exclusive(&self.databases_keyspace);
        }
        let limits = &self.options.limits;
        let mut changes = 0;
        for request in requests {
            let writes = store.writes();
            match output {
                Output::Values(replies) => replies.push(run_data(&mut store, request, limits)),
                Output::Encoded { replies, .. } => {
                    run_data_into(&mut store, request, limits, replies);
                }
            }
            if let Some(error) = store.take_failure() {
                return Err(error);
            }
            changes += u64::from(store.writes() > writes);
        }
        // The failure, if any, is the store's: taken just below.
        let _ = store.write_held_back();
        if let Some(error) = store.take_failure() {
            return Err(error);
        }
        let wrote = store.wrote();
        if wrote {
            self.writes
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        }
        let mut committed = store.take_committed();
        committed.wrote = wrote;
        committed.changes = changes;
        Ok((committed, wrote))
    }

    /// Runs `requests` as one transaction: a snapshot when none may
    /// write, else serializable, again on conflict up to `attempts`.
    fn run_group(
        &self,
        held: &Held<'_>,
        requests: &[Request],
        attempts: u32,
        output: &mut Output<'_>,
    ) -> Result<Committed, keel::Error> {
        let Some(isolation) = isolation_of(requests) else {
            return self.database.view(|transaction| {
                self.run_in(transaction, held, requests, output)
                    .map(|(after, _)| after)
            });
        };
        let options = UpdateOptions {
            isolation,
            attempts,
            durability: None,
        };
        self.update_timed(&options, |transaction| {
            self.run_in(transaction, held, requests, output)
                .map(|(after, _)| after)
        })
    }

    /// [`Database::update_with`](keel::Database::update_with), recording
    /// the commit's latency (from the end of the last attempt's commands
    /// to the commit's return: validation, the log append, the fsync
    /// under `always`) in the commit histogram.
    pub(crate) fn update_timed<T>(
        &self,
        options: &UpdateOptions,
        mut write: impl FnMut(&mut Transaction) -> Result<T, keel::Error>,
    ) -> Result<T, keel::Error> {
        let mut written_at = None;
        let result = self.database.update_with(options, |transaction| {
            let value = write(transaction);
            written_at = Some(Instant::now());
            value
        });
        if result.is_ok()
            && let Some(written_at) = written_at
        {
            let us = u64::try_from(written_at.elapsed().as_micros()).unwrap_or(u64::MAX);
            self.commit_latency.record(us);
        }
        result
    }

    /// Runs one command in a transaction of its own, again on conflict.
    pub(crate) fn run_command(&self, request: &Request) -> Reply {
        let requests = std::slice::from_ref(request);
        let Some(mut held) = self.hold(requests) else {
            return Reply::error("ERR DB index is out of range");
        };
        if matches!(request.spec.id, CommandId::Flushdb | CommandId::Flushall) {
            self.flushes
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        let mut output = Output::Values(Vec::with_capacity(1));
        let ran = self.run_group(
            &held,
            requests,
            super::backend::COMMAND_ATTEMPTS_MAX,
            &mut output,
        );
        match ran.and_then(|after| self.after_commit(&mut held, &after)) {
            Ok(()) => output.into_values().pop().unwrap_or_else(Reply::ok),
            Err(error) => error_reply(&error),
        }
    }

    /// Runs pipelined data commands in one transaction (one commit, one
    /// fsync under `always`), their replies encoded into `replies`;
    /// `false` when they should run one by one instead (`replies` is then
    /// as it was): one of them failed in the store (only it must fail),
    /// or the group kept conflicting.
    pub(crate) fn run_pipeline(&self, requests: &[Request], replies: &mut EncodedReplies) -> bool {
        let start = replies.len();
        let Some(held) = self.hold(requests) else {
            return false;
        };
        if matches!(held, Held::Exclusive(_)) {
            return false;
        }
        let mut output = Output::encoded(replies);
        match self.run_group(&held, requests, PIPELINE_ATTEMPTS_MAX, &mut output) {
            Ok(committed) => {
                debug_assert!(
                    committed.actions.is_empty(),
                    "no pipelined command acts on whole databases after its commit"
                );
                self.publish_committed(&committed);
                true
            }
            Err(_) => {
                replies.truncate(start);
                false
            }
        }
    }

    /// Does what the committed commands asked of their databases as a
    /// whole, under the exclusive locks they ran with, and publishes the
    /// events they fired.
    pub(crate) fn after_commit(
        &self,
        held: &mut Held<'_>,
        committed: &Committed,
    ) -> keel::Result<()> {
        self.publish_committed(committed);
        for action in &committed.actions {
            match (action, &mut *held) {
                (AfterCommit::Checkpoint, _) => {
                    self.database.checkpoint()?;
                }
                (AfterCommit::Recreate(index), Held::Exclusive(slots)) => {
                    if let Some(slot) = usize::try_from(*index).ok().and_then(|i| slots.get_mut(i))
                    {
                        self.recreate(slot)?;
                    }
                }
                (AfterCommit::Swap(first, second), Held::Exclusive(slots)) => {
                    swap_slots(slots, *first, *second);
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Drops a database's keyspace and creates it anew: every EXEC
    /// watching it fails.
    fn recreate(&self, slot: &mut Slot) -> keel::Result<()> {
        let name = slot.keyspace.name().to_owned();
        self.database.drop_keyspace(&name)?;
        slot.keyspace = self.database.keyspace(&name)?;
        slot.generation += 1;
        slot.recreated += 1;
        Ok(())
    }
}

/// SWAPDB's slots trade keyspaces (the map was committed first).
fn swap_slots(
    slots: &mut [RwLockWriteGuard<'_, Slot>],
    first: DatabaseIndex,
    second: DatabaseIndex,
) {
    let (Ok(low), Ok(high)) = (
        usize::try_from(first.min(second)),
        usize::try_from(first.max(second)),
    ) else {
        return;
    };
    if high >= slots.len() || low == high {
        return;
    }
    let (left, right) = slots.split_at_mut(high);
    std::mem::swap(&mut left[low].keyspace, &mut right[0].keyspace);
    left[low].generation += 1;
    right[0].generation += 1;
}

#[cfg(test)]
mod tests {
    use bytes::BytesMut;

    use super::*;
    use crate::commands::table;
    use crate::engine::backend::{KeelBackend, KeelBackendOptions};
    use crate::resp::{Limits, ProtocolVersion, RequestParser};

    fn request_from(input: &mut BytesMut) -> Request {
        let command = RequestParser::new(Limits::default())
            .parse_shared(input)
            .expect("a valid request")
            .expect("a whole request");
        Request {
            database: 0,
            spec: table::resolve(&command).expect("a known command"),
            command,
            protocol: ProtocolVersion::Resp2,
        }
    }

    #[test]
    fn a_pipeline_encodes_its_replies_and_stores_copies_of_its_arguments() {
        let (_dir, backend) = open_backend();
        let shared = &backend.shared;
        let mut input = BytesMut::from(
            &b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"[..],
        );
        let set = request_from(&mut input);
        let get = request_from(&mut input);
        let argument = set.command.arguments()[2].as_ptr_range();
        let mut replies = EncodedReplies::default();
        assert!(shared.run_pipeline(&[set, get], &mut replies));
        let encoded: Vec<&[u8]> = replies.iter().collect();
        assert_eq!(encoded, [&b"+OK\r\n"[..], b"$5\r\nvalue\r\n"]);
        let slot = read(shared.slot(0).expect("database 0"));
        let stored = shared
            .database
            .view(|transaction| transaction.get(&slot.keyspace, "k"))
            .expect("the read succeeds")
            .expect("the key is there");
        assert_eq!(&stored[..], b"value");
        assert!(
            !argument.contains(&stored.as_ptr()),
            "the stored value must not share the read buffer"
        );
    }

    /// A backend over a new temporary directory (kept alive by the first).
    fn open_backend() -> (tempfile::TempDir, KeelBackend) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let backend = KeelBackend::open(
            dir.path(),
            keel::Options::default(),
            KeelBackendOptions::default(),
        )
        .expect("the database opens");
        (dir, backend)
    }

    /// The requests of `commands`, each given as its arguments.
    fn requests(commands: &[Vec<String>]) -> Vec<Request> {
        let mut input = BytesMut::new();
        for command in commands {
            input.extend_from_slice(format!("*{}\r\n", command.len()).as_bytes());
            for argument in command {
                input
                    .extend_from_slice(format!("${}\r\n{argument}\r\n", argument.len()).as_bytes());
            }
        }
        commands.iter().map(|_| request_from(&mut input)).collect()
    }

    fn words(command: &str) -> Vec<String> {
        command.split(' ').map(str::to_owned).collect()
    }

    /// Runs `commands` as one pipelined group; their encoded replies.
    fn pipelined(shared: &Shared, commands: &[Vec<String>]) -> Vec<String> {
        let mut replies = EncodedReplies::default();
        assert!(shared.run_pipeline(&requests(commands), &mut replies));
        replies
            .iter()
            .map(|reply| String::from_utf8_lossy(reply).into_owned())
            .collect()
    }

    #[test]
    fn a_group_reads_the_element_writes_it_holds_back_and_commits_them() {
        let (_dir, backend) = open_backend();
        let shared = &backend.shared;
        // Written at once until the first read of an element, held after.
        let group: Vec<Vec<String>> = [
            "RPUSH q a b",
            "LPOP q",
            "RPUSH q c",
            "LPOP q",
            "LRANGE q 0 -1",
            "LPOP q",
            "EXISTS q",
        ]
        .into_iter()
        .map(words)
        .collect();
        assert_eq!(
            pipelined(shared, &group),
            [
                ":2\r\n",
                "$1\r\na\r\n",
                ":2\r\n",
                "$1\r\nb\r\n",
                "*1\r\n$1\r\nc\r\n",
                "$1\r\nc\r\n",
                ":0\r\n",
            ]
        );
        let group: Vec<Vec<String>> = [
            "ZADD z 1 a",
            "ZADD z 2 a",
            "ZSCORE z a",
            "ZRANGE z 0 -1 WITHSCORES",
            "HSET h f one",
            "HSET h f two",
            "HGET h f",
            "RPUSH l x y",
            "LPOP l",
            "LPOP l",
            "LPOP l",
        ]
        .into_iter()
        .map(words)
        .collect();
        assert_eq!(
            pipelined(shared, &group),
            [
                ":1\r\n",
                ":0\r\n",
                "$1\r\n2\r\n",
                "*2\r\n$1\r\na\r\n$1\r\n2\r\n",
                ":1\r\n",
                ":0\r\n",
                "$3\r\ntwo\r\n",
                ":2\r\n",
                "$1\r\nx\r\n",
                "$1\r\ny\r\n",
                "$-1\r\n",
            ]
        );
        // More writes than are held at once: the first batch is made
        // mid-group, the rest at its end; every member counts once.
        let members = super::super::held_writes::HELD_WRITES_MAX + 10;
        let mut group: Vec<Vec<String>> = (0..members)
            .map(|index| words(&format!("SADD s m{}", index % (members - 5))))
            .collect();
        group.push(words("SCARD s"));
        let replies = pipelined(shared, &group);
        assert_eq!(
            replies.iter().filter(|reply| *reply == ":1\r\n").count(),
            members - 5
        );
        let distinct = format!(":{}\r\n", members - 5);
        assert_eq!(replies.last(), Some(&distinct));
        let check: Vec<Vec<String>> = [
            "ZRANGE z 0 -1 WITHSCORES",
            "HGET h f",
            "EXISTS l",
            "SISMEMBER s m0",
            "SCARD s",
        ]
        .into_iter()
        .map(words)
        .collect();
        assert_eq!(
            pipelined(shared, &check),
            [
                "*2\r\n$1\r\na\r\n$1\r\n2\r\n",
                "$3\r\ntwo\r\n",
                ":0\r\n",
                ":1\r\n",
                distinct.as_str(),
            ]
        );
    }
}

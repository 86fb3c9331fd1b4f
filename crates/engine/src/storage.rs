//! The base: the B+tree as keel-mvcc's [`BaseStore`] and [`FoldSink`], the
//! encoding of values in it, and the checkpoint payload that names it.

use std::collections::HashSet;
use std::ops::Bound;
use std::sync::Arc;

use bytes::{Buf, Bytes};
use keel_btree::BTree;
use keel_mvcc::{
    BaseCursor, BaseItem, BaseIterator, BaseStore, BoxError, Change, FoldSink, LentEntry,
    ValueEntry,
};
use keel_pager::PageId;
use keel_tso::Timestamp;

use crate::error::{Error, Result};
use crate::log::keyspace_id;

/// Value flag: an expiry time follows.
const FLAG_EXPIRES: u8 = 1;

/// A value as the B+tree stores it: `flags:u8 [expires_at_ms:u64] value`.
pub(crate) fn encode_value(value: &[u8], expires_at_ms: Option<u64>) -> Vec<u8> {
    [&value_head(expires_at_ms)[..], value].concat()
}

/// The bytes the B+tree stores before a value: its flags and expiry.
pub(crate) fn value_head(expires_at_ms: Option<u64>) -> smallvec::SmallVec<[u8; 9]> {
    let mut head = smallvec::SmallVec::new();
    match expires_at_ms {
        Some(at) => {
            head.push(FLAG_EXPIRES);
            head.extend_from_slice(&at.to_le_bytes());
        }
        None => head.push(0),
    }
    head
}

/// A stored value's expiry and the offset of its value (inlined: a scan
/// reads one per entry).
#[inline]
fn value_header(bytes: &[u8]) -> Result<(Option<u64>, usize), String> {
    match bytes.first() {
        Some(0) => Ok((None, 1)),
        Some(&FLAG_EXPIRES) if bytes.len() >= 9 => {
            let mut at = [0u8; 8];
            at.copy_from_slice(&bytes[1..9]);
            Ok((Some(u64::from_le_bytes(at)), 9))
        }
        _ => Err(bad_header(bytes)),
    }
}

#[cold]
#[inline(never)]
fn bad_header(bytes: &[u8]) -> String {
    match bytes.first() {
        None => "empty stored value".into(),
        Some(flags) => format!("stored value with unknown flags {flags:#04x}"),
    }
}

/// A stored value's entry: the value is the same buffer past its header
/// (no copy).
pub(crate) fn decode_value(mut bytes: Bytes) -> Result<ValueEntry, String> {
    let (expires_at_ms, start) = value_header(&bytes)?;
    bytes.advance(start);
    Ok(ValueEntry {
        value: bytes,
        expires_at_ms,
    })
}

/// The base store: the B+tree holding the state at the fold point.
#[derive(Debug)]
pub(crate) struct Base {
    pub(crate) tree: Arc<BTree>,
}

fn boxed(error: impl std::error::Error + Send + Sync + 'static) -> BoxError {
    Box::new(error)
}

#[derive(Debug, thiserror::Error)]
#[error("corrupt stored value of key {key:?}: {problem}")]
struct BadValue {
    key: Vec<u8>,
    problem: String,
}

impl BaseStore for Base {
    fn get(&self, key: &[u8]) -> Result<Option<ValueEntry>, BoxError> {
        match self.tree.get(key).map_err(boxed)? {
            None => Ok(None),
            Some(bytes) => decode_value(Bytes::from(bytes))
                .map(Some)
                .map_err(|problem| {
                    boxed(BadValue {
                        key: key.to_vec(),
                        problem,
                    })
                }),
        }
    }

    fn get_with(
        &self,
        key: &[u8],
        visit: &mut dyn FnMut(Option<keel_mvcc::ValueRef<'_>>),
    ) -> Result<(), BoxError> {
        let outcome = self.tree.get_with(key, |stored| match stored {
            None => {
                visit(None);
                Ok(())
            }
            Some(stored) => {
                let (expires_at_ms, start) = value_header(stored)?;
                visit(Some((&stored[start..], expires_at_ms)));
                Ok(())
            }
        });
        outcome.map_err(boxed)?.map_err(|problem| {
            boxed(BadValue {
                key: key.to_vec(),
                problem,
            })
        })
    }

    fn range<'a>(
        &'a self,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
    ) -> Result<BaseIterator<'a>, BoxError> {
        Ok(Box::new(BaseRange {
            range: self.tree.range::<&[u8]>((lower, upper)),
        }))
    }
}

/// A range of the B+tree as keel-mvcc's [`BaseCursor`]: stored values
/// decoded into their value and expiry.
struct BaseRange<'a> {
    range: keel_btree::Range<'a>,
}

fn bad_value(key: &[u8], problem: String) -> BoxError {
    boxed(BadValue {
        key: key.to_vec(),
        problem,
    })
}

fn decode_entry(entry: keel_btree::Result<(Bytes, Bytes)>) -> BaseItem {
    let (key, value) = entry.map_err(boxed)?;
    let value = decode_value(value).map_err(|problem| bad_value(&key, problem))?;
    Ok((key, value))
}

impl Iterator for BaseRange<'_> {
    type Item = BaseItem;

    fn next(&mut self) -> Option<BaseItem> {
        self.range.next().map(decode_entry)
    }
}

impl DoubleEndedIterator for BaseRange<'_> {
    fn next_back(&mut self) -> Option<BaseItem> {
        self.range.next_back().map(decode_entry)
    }
}

impl BaseCursor for BaseRange<'_> {
    fn next_ref(
        &mut self,
        forward: bool,
        before: Option<&[u8]>,
    ) -> Option<Result<Option<LentEntry<'_>>, BoxError>> {
        let (key, stored) = match self.range.next_ref(forward, before)? {
            Ok(Some(entry)) => entry,
            Ok(None) => return Some(Ok(None)),
            Err(error) => return Some(Err(boxed(error))),
        };
        Some(match value_header(stored) {
            Ok((expires_at_ms, start)) => Ok(Some((key, (&stored[start..], expires_at_ms)))),
            Err(problem) => Err(bad_value(key, problem)),
        })
    }
}

/// The folder's writer of the B+tree.
pub(crate) struct Sink<'a> {
    pub(crate) tree: &'a BTree,
    /// Values expired at or before this time are removed rather than
    /// written (no reader at or after the fold point can see them).
    pub(crate) expired_before_ms: u64,
    /// Values the fold removed because they had expired.
    pub(crate) expired: u64,
    /// Key and value bytes written or removed: how much of the base the
    /// fold changed (the pages it dirtied hold about this much).
    pub(crate) bytes_changed: u64,
    /// The keyspace ids a key may be written under; a put under any other
    /// id (a keyspace dropped before, or while, a transaction wrote to it,
    /// also when that commit is replayed after a crash) is folded as a
    /// delete, so the base never holds keys no keyspace names.
    pub(crate) live_ids: HashSet<u32>,
    /// The last key's keyspace id and whether it is live (keys come sorted,
    /// so ids come in runs).
    pub(crate) last_id: Option<(u32, bool)>,
}

impl Sink<'_> {
    fn is_live(&mut self, key: &Bytes) -> bool {
        let Some(id) = keyspace_id(key) else {
            return true;
        };
        match self.last_id {
            Some((last, live)) if last == id => live,
            _ => {
                let live = self.live_ids.contains(&id);
                self.last_id = Some((id, live));
                live
            }
        }
    }
}

impl FoldSink for Sink<'_> {
    fn apply(&mut self, key: &Bytes, change: &Change) -> Result<(), BoxError> {
        let change = if self.is_live(key) {
            change
        } else {
            &Change::Delete
        };
        match change {
            Change::Put {
                value,
                expires_at_ms,
            } if expires_at_ms.is_none_or(|at| at > self.expired_before_ms) => {
                self.bytes_changed += (key.len() + value.len()) as u64;
                // Head and value written apart: a large value is never
                // copied whole on its way into its overflow chain.
                self.tree
                    .insert_parts(key, &value_head(*expires_at_ms), value)
                    .map_err(boxed)?;
            }
            Change::Put { .. } => {
                self.bytes_changed += key.len() as u64;
                // Expired before every reader's snapshot: it is gone.
                self.tree.delete(key).map_err(boxed)?;
                self.expired += 1;
            }
            Change::Delete => {
                self.bytes_changed += key.len() as u64;
                self.tree.delete(key).map_err(boxed)?;
            }
        }
        Ok(())
    }

    fn finish(&mut self, _fold_point: Timestamp) -> Result<(), BoxError> {
        // Every change went straight into the tree: readers see it already.
        Ok(())
    }
}

/// The checkpoint payload: what the pager's meta slot records for keel.
///
/// ```text
/// magic "KEEL" | version u32 | fold_timestamp u64 | replay_lsn u64 | root u64 | log_end u64
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Payload {
    /// The state the base holds.
    pub(crate) fold_timestamp: Timestamp,
    /// Replay of the log starts here: every record at or after it with a
    /// timestamp above the fold point is not yet in the base.
    pub(crate) replay_lsn: u64,
    /// The B+tree's root.
    pub(crate) root: PageId,
    /// Every log record before this lsn was durable when the checkpoint was
    /// written (at or after `replay_lsn`): a log ending earlier lost records.
    pub(crate) log_end: u64,
}

const PAYLOAD_MAGIC: &[u8; 4] = b"KEEL";
/// Version 2 added `log_end`. Version 3 has version 2's bytes and marks a
/// tree whose cells may hold long keys (a prefix and an overflow chain).
/// Version 4 has version 3's bytes and marks B+tree pages that store their
/// keys' shared prefix once and key heads in their slots (docs/FORMAT.md,
/// "B+tree pages"): this build refuses versions 1 to 3, whose pages it
/// would misread, and an older build refuses 4. A database of an older
/// version is carried over by `keel dump` with the build that wrote it and
/// `keel load` with this one.
const PAYLOAD_VERSION: u32 = 4;
const PAYLOAD_V1_BYTES: usize = 4 + 4 + 8 + 8 + 8;
pub(crate) const PAYLOAD_BYTES: usize = PAYLOAD_V1_BYTES + 8;
const _: () = assert!(
    PAYLOAD_BYTES == 40,
    "docs/FORMAT.md: the payload is 40 bytes"
);

impl Payload {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(PAYLOAD_BYTES);
        out.extend_from_slice(PAYLOAD_MAGIC);
        out.extend_from_slice(&PAYLOAD_VERSION.to_le_bytes());
        out.extend_from_slice(&self.fold_timestamp.as_u64().to_le_bytes());
        out.extend_from_slice(&self.replay_lsn.to_le_bytes());
        out.extend_from_slice(&self.root.get().to_le_bytes());
        out.extend_from_slice(&self.log_end.to_le_bytes());
        debug_assert_eq!(out.len(), PAYLOAD_BYTES);
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Payload> {
        let bad = |problem: &str| {
            Error::corruption("pages", crate::error::Location::CheckpointPayload, problem)
        };
        if bytes.len() < PAYLOAD_V1_BYTES {
            return Err(bad("too short"));
        }
        if &bytes[0..4] != PAYLOAD_MAGIC {
            return Err(bad("not a keel database (bad magic)"));
        }
        let u32_at = |at: usize| {
            u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        let u64_at = |at: usize| {
            let mut word = [0u8; 8];
            word.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(word)
        };
        let version = u32_at(4);
        let log_end = match version {
            PAYLOAD_VERSION if bytes.len() >= PAYLOAD_BYTES => u64_at(32),
            PAYLOAD_VERSION => return Err(bad("too short")),
            1..PAYLOAD_VERSION => {
                return Err(bad(&format!(
                    "format version {version} (B+tree pages without key prefixes), this keel \
                     reads version {PAYLOAD_VERSION}: dump the database with the keel that \
                     wrote it (`keel dump`) and load the dump with this one (`keel load`)"
                )));
            }
            _ => {
                return Err(bad(&format!(
                    "format version {version}, this keel reads version {PAYLOAD_VERSION}"
                )));
            }
        };
        let payload = Payload {
            fold_timestamp: Timestamp::from_u64(u64_at(8)),
            replay_lsn: u64_at(16),
            root: PageId::new(u64_at(24)),
            log_end,
        };
        if payload.log_end < payload.replay_lsn {
            return Err(bad(&format!(
                "log end {} before replay position {}",
                payload.log_end, payload.replay_lsn
            )));
        }
        Ok(payload)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn values_round_trip_with_and_without_expiry() {
        let plain = decode_value(encode_value(b"abc", None).into()).unwrap();
        assert_eq!(
            (plain.value.as_ref(), plain.expires_at_ms),
            (&b"abc"[..], None)
        );
        let expiring = decode_value(encode_value(b"", Some(42)).into()).unwrap();
        assert_eq!(
            (expiring.value.as_ref(), expiring.expires_at_ms),
            (&b""[..], Some(42))
        );
        assert!(decode_value(Bytes::new()).is_err());
        assert!(decode_value(Bytes::from_static(&[7, 1, 2])).is_err());
        assert!(decode_value(Bytes::from_static(&[FLAG_EXPIRES, 1, 2])).is_err());
    }

    #[test]
    fn payload_round_trips_and_rejects_foreign_bytes() {
        let payload = Payload {
            fold_timestamp: Timestamp::from_u64(99),
            replay_lsn: 7,
            root: PageId::new(3),
            log_end: 9,
        };
        assert_eq!(Payload::decode(&payload.encode()).unwrap(), payload);
        assert!(Payload::decode(b"KEEL").is_err());
        // The error and what it says is wrong.
        let message = |bytes: &[u8]| {
            let error = Payload::decode(bytes).unwrap_err();
            let cause = std::error::Error::source(&error).map(ToString::to_string);
            format!("{error}: {}", cause.unwrap_or_default())
        };
        // Older versions' pages would be misread: refused, naming both
        // versions and the way to carry the data over.
        for version in 1..PAYLOAD_VERSION {
            let mut old = payload.encode();
            old[4..8].copy_from_slice(&version.to_le_bytes());
            let error = message(&old);
            assert!(
                error.contains(&format!("format version {version} "))
                    && error.contains("reads version 4")
                    && error.contains("keel dump")
                    && error.contains("keel load"),
                "{error}"
            );
        }
        let mut newer = payload.encode();
        newer[4..8].copy_from_slice(&5u32.to_le_bytes());
        let error = message(&newer);
        assert!(
            error.contains("format version 5, this keel reads version 4"),
            "{error}"
        );
        // A log end before the replay position is damage.
        let mut backwards = payload.encode();
        backwards[32..40].copy_from_slice(&6u64.to_le_bytes());
        assert!(Payload::decode(&backwards).is_err());
        let mut foreign = payload.encode();
        foreign[0] = b'X';
        assert!(Payload::decode(&foreign).is_err());
    }
}

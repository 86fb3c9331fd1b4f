//! Typed access to keys: a string, or a collection — hash, set, list,
//! sorted set — in the layout of `encoding.rs`. WRONGTYPE is decided
//! here, and collections are created, saved, copied and deleted here
//! only.
//!
//! A collection in use is a [`Collection`]: its type record and header
//! as read, changed by the family's handler through
//! [`Collection::put`]/[`Collection::remove`] and [`Header::count`], and
//! written back by [`DataCall::save`], which also deletes a collection
//! left empty (Redis never keeps an empty collection but a stream).

use std::ops::Bound;

use bytes::Bytes;

use super::encoding::{
    ELEMENT_PREFIX_BYTES, HEADER_TAG, Header, Kind, MEMBER_TAG, TypeRecord, element_key,
    element_prefix, looks_like_record, point_key,
};
use super::notify::EventClasses;
use super::object_info::{CollectionShape, Digest, INTSET_ENTRIES_MAX, value_digest};
use super::store::{ElementRange, StoreResult};
use super::{DataCall, Failure, KeyValueStore, StoredValue};
use crate::backend::DatabaseIndex;
use crate::resp::Reply;

/// Redis's reply to a command on a key of another type.
pub const WRONG_TYPE_TEXT: &str =
    "WRONGTYPE Operation against a key holding the wrong kind of value";

/// Elements a deletion of a collection removes in its transaction; the
/// elements of a larger one are left for the sweep, so DEL is O(1).
pub const EAGER_DELETE_ELEMENTS_MAX: u64 = 128;

/// Random versions tried before a creation gives up (each is taken only
/// when no element of it is stored; a clash of 64 random bits is never
/// expected).
const VERSION_ATTEMPTS_MAX: u32 = 8;

/// Elements read per batch when a whole collection is copied or deleted.
const ELEMENT_BATCH_MAX: usize = 1024;

/// The error of a command on a key of another type.
pub fn wrong_type() -> Failure {
    Failure::Reply(Reply::error(WRONG_TYPE_TEXT))
}

/// A key's value, of any type.
#[derive(Clone, Debug)]
pub enum KeyEntry {
    /// A string.
    String(StoredValue),
    /// A collection.
    Collection(Collection),
}

impl KeyEntry {
    /// When the key expires.
    pub fn deadline_ms(&self) -> Option<i64> {
        match self {
            KeyEntry::String(stored) => stored.deadline_ms,
            KeyEntry::Collection(collection) => collection.deadline_ms,
        }
    }

    /// DEBUG DIGEST-VALUE's digest.
    pub fn digest(&self, store: &mut dyn KeyValueStore) -> StoreResult<Digest> {
        match self {
            KeyEntry::String(stored) => Ok(value_digest(&stored.value, stored.deadline_ms)),
            KeyEntry::Collection(collection) => collection.digest(store),
        }
    }

    /// TYPE's answer.
    pub fn type_name(&self) -> &'static str {
        match self {
            KeyEntry::String(_) => "string",
            KeyEntry::Collection(collection) => collection.kind.name(),
        }
    }
}

/// A collection as read: where its elements are and its header.
#[derive(Clone, Debug)]
pub struct Collection {
    /// Its type.
    pub kind: Kind,
    /// Its elements' version.
    pub version: u64,
    /// The header; handlers change `count` (and a list's `head`/`tail`).
    pub header: Header,
    /// When the key expires.
    pub deadline_ms: Option<i64>,
    database: DatabaseIndex,
    /// The header as stored (`None`: a new collection, not yet stored).
    stored_header: Option<Header>,
}

/// The key's value, of any type: a value that looks like a type record
/// is one only if the header it names exists and names `key` as owner.
pub fn lookup(
    store: &mut dyn KeyValueStore,
    database: DatabaseIndex,
    key: &[u8],
) -> StoreResult<Option<KeyEntry>> {
    let Some(stored) = store.get(database, key)? else {
        return Ok(None);
    };
    let Some(record) = TypeRecord::decode(&stored.value) else {
        return Ok(Some(KeyEntry::String(stored)));
    };
    let header = store
        .element_get(&element_prefix(record.version, HEADER_TAG))?
        .and_then(|bytes| Header::decode(&bytes))
        .filter(|header| header.owner == key);
    Ok(Some(match header {
        None => KeyEntry::String(stored),
        Some(header) => KeyEntry::Collection(Collection {
            kind: record.kind,
            version: record.version,
            header: header.clone(),
            deadline_ms: stored.deadline_ms,
            database,
            stored_header: Some(header),
        }),
    }))
}

/// Elements read to judge a collection's shape; a larger one is judged
/// by its count alone (beyond every small encoding's limit).
const SHAPE_ELEMENTS_MAX: u64 = INTSET_ENTRIES_MAX;

impl Collection {
    /// What OBJECT ENCODING and MEMORY USAGE judge it by.
    pub fn shape(&self, store: &mut dyn KeyValueStore) -> StoreResult<CollectionShape> {
        let mut shape = CollectionShape {
            kind: self.kind,
            count: self.header.count,
            longest_bytes: 0,
            all_integers: true,
            total_bytes: 0,
        };
        if self.header.count > SHAPE_ELEMENTS_MAX {
            shape.longest_bytes = usize::MAX;
            shape.all_integers = false;
            return Ok(shape);
        }
        for (member, value) in self.all(store, MEMBER_TAG)? {
            let value_bytes = if self.kind == Kind::SortedSet {
                0
            } else {
                value.len()
            };
            shape.longest_bytes = shape.longest_bytes.max(member.len()).max(value_bytes);
            shape.total_bytes += (member.len() + value.len()) as u64;
            shape.all_integers &= crate::resp::parse_integer(&member).is_some();
        }
        if self.kind == Kind::List {
            shape.all_integers = false;
        }
        Ok(shape)
    }

    /// DEBUG DIGEST-VALUE's digest: the type, the elements in order, the
    /// deadline.
    pub fn digest(&self, store: &mut dyn KeyValueStore) -> StoreResult<Digest> {
        let deadline = self.deadline_ms.unwrap_or(-1).to_le_bytes();
        let mut digest = Digest::of_parts(&[self.kind.name().as_bytes(), &deadline]);
        for (member, value) in self.all(store, MEMBER_TAG)? {
            digest.mix(&Digest::of_parts(&[&member, &value]));
        }
        Ok(digest)
    }
}

/// A version no stored element uses.
fn fresh_version(store: &mut dyn KeyValueStore) -> StoreResult<u64> {
    let mut version = rand::random::<u64>();
    for _ in 0..VERSION_ATTEMPTS_MAX {
        let range = ElementRange {
            from: Bound::Included(version.to_be_bytes().to_vec()),
            count_max: 1,
            ..elements_after(version, None)
        };
        if store.elements(&range)?.is_empty() {
            return Ok(version);
        }
        version = rand::random::<u64>();
    }
    Err(super::StoreError::Backend {
        message: "no free collection version".to_owned(),
    })
}

impl Collection {
    /// A new, empty collection of `key` (stored by the first save that
    /// finds it holding elements).
    fn create(
        store: &mut dyn KeyValueStore,
        database: DatabaseIndex,
        key: &[u8],
        kind: Kind,
    ) -> StoreResult<Collection> {
        Ok(Collection {
            kind,
            version: fresh_version(store)?,
            header: Header::new(Bytes::copy_from_slice(key)),
            deadline_ms: None,
            database,
            stored_header: None,
        })
    }

    /// The database of its key.
    pub fn database(&self) -> DatabaseIndex {
        self.database
    }

    /// The number of elements.
    pub fn len(&self) -> u64 {
        self.header.count
    }

    /// Whether it holds no element (a stored collection never is, but
    /// for a stream).
    pub fn is_empty(&self) -> bool {
        self.header.count == 0
    }

    /// Whether saving it deletes it: it is empty and not a stream (Redis
    /// keeps an empty stream, with its groups and last ID).
    pub fn vanishes(&self) -> bool {
        self.is_empty() && self.kind != Kind::Stream
    }

    /// The element `sub` under `tag`.
    pub fn get(
        &self,
        store: &mut dyn KeyValueStore,
        tag: u8,
        sub: &[u8],
    ) -> StoreResult<Option<Bytes>> {
        store.element_get(&point_key(self.version, tag, sub))
    }

    /// Writes the element `sub` under `tag` (the caller keeps the count).
    pub fn put(
        &self,
        store: &mut dyn KeyValueStore,
        tag: u8,
        sub: &[u8],
        value: Bytes,
    ) -> StoreResult<()> {
        store.element_put(&point_key(self.version, tag, sub), value)
    }

    /// Deletes the element `sub` under `tag` (the caller keeps the count).
    pub fn remove(&self, store: &mut dyn KeyValueStore, tag: u8, sub: &[u8]) -> StoreResult<()> {
        store.element_delete(&point_key(self.version, tag, sub))
    }

    /// Up to `count_max` elements under `tag` whose rest lies between the
    /// bounds, in order or reversed: (rest, value) pairs.
    pub fn range(
        &self,
        store: &mut dyn KeyValueStore,
        tag: u8,
        bounds: (Bound<&[u8]>, Bound<&[u8]>),
        reverse: bool,
        count_max: usize,
    ) -> StoreResult<Vec<(Bytes, Bytes)>> {
        let mut entries = store.elements(&self.element_range(tag, bounds, reverse, count_max))?;
        for (key, _) in &mut entries {
            debug_assert!(key.starts_with(&element_prefix(self.version, tag)));
            let _ = key.split_to(ELEMENT_PREFIX_BYTES);
        }
        Ok(entries)
    }

    /// The run of the elements keyspace that holds up to `count_max`
    /// elements under `tag` whose rest lies between the bounds.
    pub fn element_range(
        &self,
        tag: u8,
        bounds: (Bound<&[u8]>, Bound<&[u8]>),
        reverse: bool,
        count_max: usize,
    ) -> ElementRange {
        let prefix = element_prefix(self.version, tag);
        let key = |rest: &[u8]| element_key(self.version, tag, rest);
        let from = match bounds.0 {
            Bound::Included(rest) => Bound::Included(key(rest)),
            Bound::Excluded(rest) => Bound::Excluded(key(rest)),
            Bound::Unbounded => Bound::Included(prefix.to_vec()),
        };
        let to = match bounds.1 {
            Bound::Included(rest) => Bound::Included(key(rest)),
            Bound::Excluded(rest) => Bound::Excluded(key(rest)),
            Bound::Unbounded => Bound::Excluded(element_prefix(self.version, tag + 1).to_vec()),
        };
        ElementRange {
            from,
            to,
            reverse,
            count_max,
        }
    }

    /// Every element under `tag`, in order.
    pub fn all(&self, store: &mut dyn KeyValueStore, tag: u8) -> StoreResult<Vec<(Bytes, Bytes)>> {
        self.range(
            store,
            tag,
            (Bound::Unbounded, Bound::Unbounded),
            false,
            usize::MAX,
        )
    }

    /// Deletes every stored element of the version, the header last.
    fn delete_elements(&self, store: &mut dyn KeyValueStore) -> StoreResult<()> {
        loop {
            let batch = store.elements(&elements_after(self.version, None))?;
            for (key, _) in &batch {
                store.element_delete(key)?;
            }
            if batch.len() < ELEMENT_BATCH_MAX {
                break;
            }
        }
        store.element_delete(&element_prefix(self.version, HEADER_TAG))
    }
}

/// A batch of the elements of `version` after its header (after `after`
/// when given).
fn elements_after(version: u64, after: Option<Vec<u8>>) -> ElementRange {
    let from = match after {
        None => Bound::Excluded(element_prefix(version, HEADER_TAG).to_vec()),
        Some(after) => Bound::Excluded(after),
    };
    let to = match version.checked_add(1) {
        Some(next) => Bound::Excluded(next.to_be_bytes().to_vec()),
        None => Bound::Unbounded,
    };
    ElementRange {
        from,
        to,
        reverse: false,
        count_max: ELEMENT_BATCH_MAX,
    }
}

impl DataCall<'_> {
    /// The value of `key`, of any type.
    pub fn entry(&mut self, key: &[u8]) -> Result<Option<KeyEntry>, Failure> {
        Ok(lookup(self.store, self.database, key)?)
    }

    /// The collection of `kind` at `key`; WRONGTYPE for another type.
    pub fn collection(&mut self, key: &[u8], kind: Kind) -> Result<Option<Collection>, Failure> {
        match self.entry(key)? {
            None => Ok(None),
            Some(KeyEntry::Collection(collection)) if collection.kind == kind => {
                Ok(Some(collection))
            }
            Some(_) => Err(wrong_type()),
        }
    }

    /// The collection of `kind` at `key`, or a new empty one; WRONGTYPE
    /// for another type.
    pub fn collection_or_new(&mut self, key: &[u8], kind: Kind) -> Result<Collection, Failure> {
        match self.collection(key, kind)? {
            Some(collection) => Ok(collection),
            None => Ok(Collection::create(self.store, self.database, key, kind)?),
        }
    }

    /// A new empty collection of `kind` for `key`, replacing whatever
    /// `key` holds when it is saved (the STORE commands).
    pub fn new_collection(&mut self, key: &[u8], kind: Kind) -> Result<Collection, Failure> {
        Ok(Collection::create(self.store, self.database, key, kind)?)
    }

    /// Writes back what changed of `collection`: a new one's type record
    /// (replacing the key's value), the header; deletes the key when the
    /// collection is empty.
    pub fn save(&mut self, collection: &Collection) -> Result<(), Failure> {
        let key = collection.header.owner.clone();
        let database = collection.database;
        if collection.vanishes() {
            if collection.stored_header.is_some() {
                self.store.delete(database, &key)?;
                collection.delete_elements(self.store)?;
            }
            return Ok(());
        }
        if collection.stored_header.is_none() {
            if self.store.get(database, &key)?.is_some() {
                self.delete(&key)?;
            } else {
                self.notify_in(database, EventClasses::NEW, "new", &key);
            }
            let record = TypeRecord {
                kind: collection.kind,
                version: collection.version,
            };
            let stored = StoredValue {
                value: record.encode(),
                deadline_ms: None,
            };
            self.store.put(database, &key, stored)?;
        }
        if collection.stored_header.as_ref() != Some(&collection.header) {
            let header_key = element_prefix(collection.version, HEADER_TAG);
            self.store
                .element_put(&header_key, collection.header.encode())?;
        }
        Ok(())
    }

    /// Deletes `key` of any type; whether it was there. A collection's
    /// elements go with it when it is small, else they are left to the
    /// sweep (its type record, the only way to them, is gone).
    pub fn delete(&mut self, key: &[u8]) -> Result<bool, Failure> {
        let Some(stored) = self.store.get(self.database, key)? else {
            return Ok(false);
        };
        if looks_like_record(&stored.value)
            && let Some(KeyEntry::Collection(collection)) = self.entry(key)?
            && collection.header.count <= EAGER_DELETE_ELEMENTS_MAX
        {
            collection.delete_elements(self.store)?;
        }
        Ok(self.store.delete(self.database, key)?)
    }

    /// Copies `entry` (the value of some key) to `key` in `database`,
    /// replacing what is there: a string as it is, a collection's elements
    /// under a new version (COPY).
    pub fn copy_entry(
        &mut self,
        entry: &KeyEntry,
        database: DatabaseIndex,
        key: &[u8],
    ) -> Result<(), Failure> {
        let collection = match entry {
            KeyEntry::String(stored) => {
                return Ok(self.store.put(database, key, stored.clone())?);
            }
            KeyEntry::Collection(collection) => collection,
        };
        let mut copy = Collection::create(self.store, database, key, collection.kind)?;
        copy.header.count = collection.header.count;
        copy.header.head = collection.header.head;
        copy.header.tail = collection.header.tail;
        let mut after: Option<Vec<u8>> = None;
        loop {
            let range = elements_after(collection.version, after.take());
            let batch = self.store.elements(&range)?;
            for (element, value) in &batch {
                let mut target = element.to_vec();
                target[..8].copy_from_slice(&copy.version.to_be_bytes());
                self.store.element_put(&target, value.clone())?;
            }
            if batch.len() < ELEMENT_BATCH_MAX {
                break;
            }
            after = batch.last().map(|(element, _)| element.to_vec());
        }
        let previous = std::mem::replace(&mut self.database, database);
        let saved = self.save(&copy).and_then(|()| {
            let record = TypeRecord {
                kind: copy.kind,
                version: copy.version,
            };
            let stored = StoredValue {
                value: record.encode(),
                deadline_ms: collection.deadline_ms,
            };
            Ok(self.store.put(database, key, stored)?)
        });
        self.database = previous;
        saved
    }

    /// Moves `entry`, the value of `from`, to `to` in the selected
    /// database, which must not hold a value (RENAME after deleting it).
    pub fn rename_entry(&mut self, entry: KeyEntry, from: &[u8], to: &[u8]) -> Result<(), Failure> {
        let stored = self
            .store
            .get(self.database, from)?
            .ok_or_else(|| Failure::Reply(Reply::error("ERR no such key")))?;
        self.store.delete(self.database, from)?;
        if let KeyEntry::Collection(mut collection) = entry {
            collection.header.owner = Bytes::copy_from_slice(to);
            self.save(&collection)?;
        }
        Ok(self.store.put(self.database, to, stored)?)
    }
}

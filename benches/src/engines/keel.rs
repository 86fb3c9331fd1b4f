//! keel: `Durability::Sync` (a commit returns once its log record is
//! fdatasynced; concurrent commits share an fsync), a buffer pool of the
//! cache size, everything else at its default.

use std::ops::Bound;
use std::path::Path;

use ::keel::{Bytes, Database, Durability, Isolation, Keyspace, Options, Transaction};
use anyhow::{Context, Result};

use crate::engine::{Engine, LogCounters, Reader, Settings, Writer};

/// keel, one keyspace.
pub struct Keel {
    database: Database,
    keyspace: Keyspace,
}

fn options(settings: &Settings) -> Options {
    let mut options = Options::default()
        .with_durability(Durability::Sync)
        .with_pool_bytes(settings.cache_bytes);
    options.mmap_reads = settings.keel_mmap_reads;
    options
}

impl Engine for Keel {
    const NAME: &'static str = "keel";

    fn open(dir: &Path, settings: &Settings) -> Result<Self> {
        let database = Database::open(dir, options(settings))
            .with_context(|| format!("keel: cannot open {}", dir.display()))?;
        let keyspace = database.keyspace("bench")?;
        Ok(Keel { database, keyspace })
    }

    fn configuration(settings: &Settings) -> String {
        format!(
            "`Durability::Sync` (log fdatasynced before a commit returns; group commit), \
             `pool_bytes` = {} MiB{}, other options default; writes in a serializable \
             transaction, reads in a snapshot transaction; compaction: \
             `Database::compact()`",
            settings.cache_bytes >> 20,
            if settings.keel_mmap_reads {
                ", `mmap_reads` (misses read through a memory map)"
            } else {
                ""
            }
        )
    }

    fn write<T>(&self, transaction: impl FnOnce(&mut dyn Writer) -> Result<T>) -> Result<T> {
        let mut inner = self.database.begin(Isolation::Serializable);
        let value = transaction(&mut KeelWriter {
            transaction: &mut inner,
            keyspace: &self.keyspace,
        })?;
        inner.commit()?;
        Ok(value)
    }

    fn read<T>(&self, transaction: impl FnOnce(&mut dyn Reader) -> Result<T>) -> Result<T> {
        let mut inner = self.database.begin(Isolation::Snapshot);
        let value = transaction(&mut KeelReader {
            transaction: &mut inner,
            keyspace: &self.keyspace,
        })?;
        inner.rollback();
        Ok(value)
    }

    fn compact(self) -> Result<(Self, bool)> {
        self.database.compact()?;
        Ok((self, true))
    }

    fn close(self) -> Result<()> {
        Ok(self.database.close()?)
    }

    fn log_counters(&self) -> Option<LogCounters> {
        let stats = self.database.stats();
        Some(LogCounters {
            records: stats.log_records,
            fsyncs: stats.log_fsyncs,
        })
    }
}

struct KeelWriter<'a> {
    transaction: &'a mut Transaction,
    keyspace: &'a Keyspace,
}

impl Writer for KeelWriter<'_> {
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        Ok(self
            .transaction
            .put(self.keyspace, key, Bytes::copy_from_slice(value))?)
    }

    fn remove(&mut self, key: &[u8]) -> Result<()> {
        Ok(self.transaction.delete(self.keyspace, key)?)
    }
}

struct KeelReader<'a> {
    transaction: &'a mut Transaction,
    keyspace: &'a Keyspace,
}

impl Reader for KeelReader<'_> {
    fn get(&mut self, key: &[u8], visit: &mut dyn FnMut(&[u8])) -> Result<bool> {
        let found = self
            .transaction
            .get_with(self.keyspace, key, |value| value.map(visit).is_some())?;
        Ok(found)
    }

    fn range(
        &mut self,
        start: &[u8],
        limit: usize,
        visit: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<usize> {
        let mut visited = 0;
        let mut range = self
            .transaction
            .range(self.keyspace, (Bound::Included(start), Bound::Unbounded))?;
        // Visited in place (`Iter::next_with`): no reference count per entry.
        while visited < limit {
            match range.next_with(|key, value| visit(key, value)) {
                Some(outcome) => outcome?,
                None => break,
            }
            visited += 1;
        }
        Ok(visited)
    }
}

//! fjall 2: a transaction is a keyspace `Batch` committed with
//! `PersistMode::SyncAll` (the journal is fsynced before the commit
//! returns); reads from a partition snapshot; a cache of the cache size;
//! compaction is the partition's major compaction.

use std::path::Path;

use ::fjall::{Config, Keyspace, PartitionCreateOptions, PartitionHandle, PersistMode, Snapshot};
use anyhow::{Context, Result};

use crate::engine::{Engine, Reader, Settings, Writer};

/// fjall, one partition.
pub struct Fjall {
    keyspace: Keyspace,
    partition: PartitionHandle,
}

impl Engine for Fjall {
    const NAME: &'static str = "fjall";

    fn open(dir: &Path, settings: &Settings) -> Result<Self> {
        let keyspace = Config::new(dir)
            .cache_size(settings.cache_bytes)
            .open()
            .with_context(|| format!("fjall: cannot open {}", dir.display()))?;
        let partition = keyspace.open_partition("bench", PartitionCreateOptions::default())?;
        Ok(Fjall {
            keyspace,
            partition,
        })
    }

    fn configuration(settings: &Settings) -> String {
        format!(
            "fjall 2, each transaction one keyspace `Batch` committed with \
             `durability(Some(PersistMode::SyncAll))` (journal fsynced before commit \
             returns); reads from a partition `snapshot()`; cache {} MiB, other options \
             default; compaction: `major_compact()`",
            settings.cache_bytes >> 20
        )
    }

    fn write<T>(&self, transaction: impl FnOnce(&mut dyn Writer) -> Result<T>) -> Result<T> {
        let mut batch = FjallWriter {
            batch: self.keyspace.batch(),
            partition: &self.partition,
        };
        let value = transaction(&mut batch)?;
        batch
            .batch
            .durability(Some(PersistMode::SyncAll))
            .commit()?;
        Ok(value)
    }

    fn read<T>(&self, transaction: impl FnOnce(&mut dyn Reader) -> Result<T>) -> Result<T> {
        transaction(&mut FjallReader {
            snapshot: self.partition.snapshot(),
        })
    }

    fn compact(self) -> Result<(Self, bool)> {
        self.partition.major_compact()?;
        Ok((self, true))
    }

    fn close(self) -> Result<()> {
        self.keyspace.persist(PersistMode::SyncAll)?;
        Ok(())
    }
}

struct FjallWriter<'a> {
    batch: ::fjall::Batch,
    partition: &'a PartitionHandle,
}

impl Writer for FjallWriter<'_> {
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.batch.insert(self.partition, key, value);
        Ok(())
    }

    fn remove(&mut self, key: &[u8]) -> Result<()> {
        self.batch.remove(self.partition, key);
        Ok(())
    }
}

struct FjallReader {
    snapshot: Snapshot,
}

impl Reader for FjallReader {
    fn get(&mut self, key: &[u8], visit: &mut dyn FnMut(&[u8])) -> Result<bool> {
        match self.snapshot.get(key)? {
            Some(value) => {
                visit(&value);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn range(
        &mut self,
        start: &[u8],
        limit: usize,
        visit: &mut dyn FnMut(&[u8], &[u8]),
    ) -> Result<usize> {
        let mut visited = 0;
        for entry in self.snapshot.range(start..).take(limit) {
            let (key, value) = entry?;
            visit(&key, &value);
            visited += 1;
        }
        Ok(visited)
    }
}

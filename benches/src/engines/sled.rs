//! sled 0.34: a transaction is a `Batch` applied atomically, then
//! `Db::flush()` (the log is fsynced before it returns); `HighThroughput`
//! mode, a cache of the cache size. sled has no snapshots (reads see the
//! latest data) and no compaction call.

use std::path::Path;

use ::sled::{Batch, Config, Db, Mode};
use anyhow::{Context, Result};

use crate::engine::{Engine, Reader, Settings, Writer};

/// sled, the default tree.
pub struct Sled {
    database: Db,
}

impl Engine for Sled {
    const NAME: &'static str = "sled";

    fn open(dir: &Path, settings: &Settings) -> Result<Self> {
        let database = Config::new()
            .path(dir)
            .cache_capacity(settings.cache_bytes)
            .mode(Mode::HighThroughput)
            .open()
            .with_context(|| format!("sled: cannot open {}", dir.display()))?;
        Ok(Sled { database })
    }

    fn configuration(settings: &Settings) -> String {
        format!(
            "sled 0.34, each transaction one atomic `Batch` (`apply_batch`) followed by \
             `flush()` (fsync before it returns), `Mode::HighThroughput`, cache {} MiB; \
             reads are not snapshots (sled has none); no compaction (n/a)",
            settings.cache_bytes >> 20
        )
    }

    fn write<T>(&self, transaction: impl FnOnce(&mut dyn Writer) -> Result<T>) -> Result<T> {
        let mut batch = SledWriter {
            batch: Batch::default(),
        };
        let value = transaction(&mut batch)?;
        self.database.apply_batch(batch.batch)?;
        self.database.flush()?;
        Ok(value)
    }

    fn read<T>(&self, transaction: impl FnOnce(&mut dyn Reader) -> Result<T>) -> Result<T> {
        transaction(&mut SledReader {
            database: &self.database,
        })
    }

    fn close(self) -> Result<()> {
        self.database.flush()?;
        drop(self.database);
        Ok(())
    }
}

struct SledWriter {
    batch: Batch,
}

impl Writer for SledWriter {
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.batch.insert(key, value);
        Ok(())
    }

    fn remove(&mut self, key: &[u8]) -> Result<()> {
        self.batch.remove(key);
        Ok(())
    }
}

struct SledReader<'a> {
    database: &'a Db,
}

impl Reader for SledReader<'_> {
    fn get(&mut self, key: &[u8], visit: &mut dyn FnMut(&[u8])) -> Result<bool> {
        match self.database.get(key)? {
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
        for entry in self.database.range(start..).take(limit) {
            let (key, value) = entry?;
            visit(&key, &value);
            visited += 1;
        }
        Ok(visited)
    }
}

//! redb 4: `Durability::Immediate` on every write transaction (the commit
//! is fsynced before it returns), a page cache of the cache size, reads in
//! place; compaction is `Database::compact`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use redb::{Durability, ReadableDatabase, ReadableTable, TableDefinition};

use crate::engine::{Engine, Reader, Settings, Writer};

const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("bench");

/// redb, one table in one file.
pub struct Redb {
    database: redb::Database,
}

fn file(dir: &Path) -> PathBuf {
    dir.join("bench.redb")
}

impl Engine for Redb {
    const NAME: &'static str = "redb";

    fn open(dir: &Path, settings: &Settings) -> Result<Self> {
        let database = redb::Database::builder()
            .set_cache_size(usize::try_from(settings.cache_bytes)?)
            .create(file(dir))
            .with_context(|| format!("redb: cannot open {}", dir.display()))?;
        let transaction = database.begin_write()?;
        transaction.open_table(TABLE)?;
        transaction.commit()?;
        Ok(Redb { database })
    }

    fn configuration(settings: &Settings) -> String {
        format!(
            "redb 4, `Durability::Immediate` per write transaction (fsync before commit \
             returns), cache {} MiB; compaction: `Database::compact()`",
            settings.cache_bytes >> 20
        )
    }

    fn write<T>(&self, transaction: impl FnOnce(&mut dyn Writer) -> Result<T>) -> Result<T> {
        let mut inner = self.database.begin_write()?;
        inner.set_durability(Durability::Immediate)?;
        let value = {
            let mut table = inner.open_table(TABLE)?;
            transaction(&mut RedbWriter { table: &mut table })?
        };
        inner.commit()?;
        Ok(value)
    }

    fn read<T>(&self, transaction: impl FnOnce(&mut dyn Reader) -> Result<T>) -> Result<T> {
        let inner = self.database.begin_read()?;
        let table = inner.open_table(TABLE)?;
        transaction(&mut RedbReader { table })
    }

    fn compact(mut self) -> Result<(Self, bool)> {
        self.database.compact()?;
        Ok((self, true))
    }

    fn close(self) -> Result<()> {
        drop(self.database);
        Ok(())
    }
}

struct RedbWriter<'a, 'txn> {
    table: &'a mut redb::Table<'txn, &'static [u8], &'static [u8]>,
}

impl Writer for RedbWriter<'_, '_> {
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.table.insert(key, value)?;
        Ok(())
    }

    fn remove(&mut self, key: &[u8]) -> Result<()> {
        self.table.remove(key)?;
        Ok(())
    }
}

struct RedbReader {
    table: redb::ReadOnlyTable<&'static [u8], &'static [u8]>,
}

impl Reader for RedbReader {
    fn get(&mut self, key: &[u8], visit: &mut dyn FnMut(&[u8])) -> Result<bool> {
        match ReadableTable::get(&self.table, key)? {
            Some(value) => {
                visit(value.value());
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
        for entry in ReadableTable::range(&self.table, start..)?.take(limit) {
            let (key, value) = entry?;
            visit(key.value(), value.value());
            visited += 1;
        }
        Ok(visited)
    }
}

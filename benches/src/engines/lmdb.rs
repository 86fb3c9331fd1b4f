//! LMDB through heed 0.22: default environment flags, so a commit is
//! synced (fdatasync of the data file) before it returns; reads in place
//! from the memory map. Compaction is LMDB's compacting copy
//! (`mdb_env_copy2` with `MDB_CP_COMPACT`) swapped in for the data file.

use std::ops::Bound;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use heed::types::Bytes;
use heed::{CompactionOption, Env, EnvOpenOptions, RoTxn, RwTxn};

use crate::engine::{Engine, Reader, Settings, Writer};

/// The map size: address space only; the file grows as pages are used.
const MAP_BYTES: usize = 64 << 30;

type Table = heed::Database<Bytes, Bytes>;

/// LMDB, one unnamed database.
pub struct Lmdb {
    env: Env,
    table: Table,
    dir: PathBuf,
    settings: Settings,
}

impl Engine for Lmdb {
    const NAME: &'static str = "lmdb";

    fn open(dir: &Path, settings: &Settings) -> Result<Self> {
        // SAFETY: heed requires that the environment's files are not opened
        // twice in this process and not changed behind its back; the
        // directory is this benchmark's scratch space, opened once at a time
        // (closing waits for the environment to be gone before a reopen).
        let env = unsafe { EnvOpenOptions::new().map_size(MAP_BYTES).open(dir) }
            .with_context(|| format!("lmdb: cannot open {}", dir.display()))?;
        let mut transaction = env.write_txn()?;
        let table: Table = env.create_database(&mut transaction, None)?;
        transaction.commit()?;
        Ok(Lmdb {
            env,
            table,
            dir: dir.to_path_buf(),
            settings: settings.clone(),
        })
    }

    fn configuration(_settings: &Settings) -> String {
        format!(
            "heed 0.22, default flags (synced commits: fdatasync before commit returns), \
             map size {} GiB, reads through the OS page cache; compaction: \
             `copy_to_path(.., CompactionOption::Enabled)` replacing the data file",
            MAP_BYTES >> 30
        )
    }

    fn write<T>(&self, transaction: impl FnOnce(&mut dyn Writer) -> Result<T>) -> Result<T> {
        let mut inner = self.env.write_txn()?;
        let value = transaction(&mut LmdbWriter {
            transaction: &mut inner,
            table: self.table,
        })?;
        inner.commit()?;
        Ok(value)
    }

    fn read<T>(&self, transaction: impl FnOnce(&mut dyn Reader) -> Result<T>) -> Result<T> {
        let inner = self.env.read_txn()?;
        transaction(&mut LmdbReader {
            transaction: &inner,
            table: self.table,
        })
    }

    fn compact(self) -> Result<(Self, bool)> {
        let compacted = self.dir.join("data.mdb.compacted");
        self.env
            .copy_to_path(&compacted, CompactionOption::Enabled)?
            .sync_all()?;
        let dir = self.dir.clone();
        let settings = self.settings.clone();
        self.close()?;
        std::fs::rename(&compacted, dir.join("data.mdb"))?;
        Ok((Lmdb::open(&dir, &settings)?, true))
    }

    fn close(self) -> Result<()> {
        self.env.prepare_for_closing().wait();
        Ok(())
    }
}

struct LmdbWriter<'a, 'env> {
    transaction: &'a mut RwTxn<'env>,
    table: Table,
}

impl Writer for LmdbWriter<'_, '_> {
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        Ok(self.table.put(self.transaction, key, value)?)
    }

    fn remove(&mut self, key: &[u8]) -> Result<()> {
        self.table.delete(self.transaction, key)?;
        Ok(())
    }
}

struct LmdbReader<'a, 'env> {
    transaction: &'a RoTxn<'env>,
    table: Table,
}

impl Reader for LmdbReader<'_, '_> {
    fn get(&mut self, key: &[u8], visit: &mut dyn FnMut(&[u8])) -> Result<bool> {
        match self.table.get(self.transaction, key)? {
            Some(value) => {
                visit(value);
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
        // LMDB refuses an empty key, even as a bound; every key is after it.
        let lower = if start.is_empty() {
            Bound::Unbounded
        } else {
            Bound::Included(start)
        };
        let bounds: (Bound<&[u8]>, Bound<&[u8]>) = (lower, Bound::Unbounded);
        let mut visited = 0;
        for entry in self.table.range(self.transaction, &bounds)?.take(limit) {
            let (key, value) = entry?;
            visit(key, value);
            visited += 1;
        }
        Ok(visited)
    }
}

//! RocksDB through the `rocksdb` crate 0.19 (linked against the system's
//! librocksdb): a transaction is a `WriteBatch` written with
//! `WriteOptions::set_sync(true)` (the WAL is fdatasynced before the write
//! returns; concurrent writers share syncs through RocksDB's write
//! group); reads from a `Snapshot`, pinned (no copy) point reads; an LRU
//! block cache of the cache size with 10-bit bloom filters; background
//! jobs for every core; compaction is `compact_range` over everything.

use std::path::Path;

use ::rocksdb::{
    BlockBasedOptions, Cache, DB, Options, ReadOptions, Snapshot, WriteBatch, WriteOptions,
};
use anyhow::{Context, Result, bail};

use crate::engine::{Engine, Reader, Settings, Writer};

/// RocksDB, the default column family.
pub struct Rocksdb {
    database: DB,
    sync: WriteOptions,
    // The block cache must outlive the database that uses it.
    _cache: Cache,
}

fn cores() -> i32 {
    std::thread::available_parallelism().map_or(1, |cores| i32::try_from(cores.get()).unwrap_or(1))
}

impl Engine for Rocksdb {
    const NAME: &'static str = "rocksdb";

    fn open(dir: &Path, settings: &Settings) -> Result<Self> {
        let cache = Cache::new_lru_cache(usize::try_from(settings.cache_bytes)?)?;
        let mut table = BlockBasedOptions::default();
        table.set_block_cache(&cache);
        table.set_bloom_filter(10.0, false);
        table.set_cache_index_and_filter_blocks(true);
        let mut options = Options::default();
        options.create_if_missing(true);
        options.increase_parallelism(cores());
        options.set_block_based_table_factory(&table);
        let database = DB::open(&options, dir)
            .with_context(|| format!("rocksdb: cannot open {}", dir.display()))?;
        let mut sync = WriteOptions::default();
        sync.set_sync(true);
        Ok(Rocksdb {
            database,
            sync,
            _cache: cache,
        })
    }

    fn configuration(settings: &Settings) -> String {
        format!(
            "`rocksdb` 0.19 on the system librocksdb; each transaction one `WriteBatch` \
             written with `WriteOptions::set_sync(true)` (WAL fdatasynced before the write \
             returns); reads from a `Snapshot` with pinned gets; LRU block cache {} MiB, \
             bloom filter 10 bits/key, index and filter blocks cached, \
             `increase_parallelism({})`, other options default; compaction: \
             `compact_range(None, None)`",
            settings.cache_bytes >> 20,
            cores()
        )
    }

    fn write<T>(&self, transaction: impl FnOnce(&mut dyn Writer) -> Result<T>) -> Result<T> {
        let mut batch = RocksdbWriter {
            batch: WriteBatch::default(),
        };
        let value = transaction(&mut batch)?;
        self.database.write_opt(batch.batch, &self.sync)?;
        Ok(value)
    }

    fn read<T>(&self, transaction: impl FnOnce(&mut dyn Reader) -> Result<T>) -> Result<T> {
        let snapshot = self.database.snapshot();
        transaction(&mut RocksdbReader { snapshot })
    }

    fn compact(self) -> Result<(Self, bool)> {
        self.database.compact_range::<&[u8], &[u8]>(None, None);
        Ok((self, true))
    }

    fn close(self) -> Result<()> {
        self.database.flush()?;
        drop(self.database);
        Ok(())
    }
}

struct RocksdbWriter {
    batch: WriteBatch,
}

impl Writer for RocksdbWriter {
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.batch.put(key, value);
        Ok(())
    }

    fn remove(&mut self, key: &[u8]) -> Result<()> {
        self.batch.delete(key);
        Ok(())
    }
}

struct RocksdbReader<'db> {
    snapshot: Snapshot<'db>,
}

impl Reader for RocksdbReader<'_> {
    fn get(&mut self, key: &[u8], visit: &mut dyn FnMut(&[u8])) -> Result<bool> {
        match self.snapshot.get_pinned(key)? {
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
        let mut iterator = self.snapshot.raw_iterator_opt(ReadOptions::default());
        iterator.seek(start);
        let mut visited = 0;
        while visited < limit && iterator.valid() {
            match (iterator.key(), iterator.value()) {
                (Some(key), Some(value)) => visit(key, value),
                _ => bail!("rocksdb: a valid iterator without an entry"),
            }
            visited += 1;
            iterator.next();
        }
        iterator.status()?;
        Ok(visited)
    }
}

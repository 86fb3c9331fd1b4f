//! Misses served from a read-only memory map of the page file
//! (`PagerOptions::mmap_reads`): a copy from the map instead of a `pread`,
//! the checksum checked as ever. The map never reaches past the file's
//! end: growth maps the longer file, and a cut takes the map's write lock
//! (waiting out every copy in flight) before the file is shortened.

use keel_io::Mapping;
use parking_lot::RwLock;

use super::*;

/// The map, if reads use one.
pub(super) struct MappedFile {
    enabled: bool,
    map: RwLock<Option<Mapping>>,
}

impl MappedFile {
    pub(super) fn new(enabled: bool) -> MappedFile {
        MappedFile {
            enabled,
            map: RwLock::new(None),
        }
    }
}

impl Pager {
    /// Reads the block at `offset` into `data`: from the map when it
    /// covers the block, else with a positional read — at once if the OS
    /// has the block cached, else after read-ahead advice for its window.
    pub(super) fn read_block(&self, data: &mut [u8], offset: u64) -> keel_io::Result<()> {
        if self.mapped.enabled {
            let map = self.mapped.map.read();
            let end = offset.saturating_add(data.len() as u64);
            if let Some(bytes) = map.as_ref().map(Mapping::bytes)
                && end <= bytes.len() as u64
            {
                // Within the file (the map is never longer), and the file
                // is not cut while this read lock is held.
                data.copy_from_slice(&bytes[offset as usize..end as usize]);
                self.counters.mapped_reads.add(1);
                return Ok(());
            }
        }
        // A block the OS has cached is read without read-ahead advice: the
        // advice (a system call that walks the window's cached pages) is
        // for blocks that must come from the device.
        if self.file.read_cached_at(data, offset)? {
            self.readahead.served_cached();
            return Ok(());
        }
        self.readahead.before_read(&*self.file, offset);
        self.file.read_exact_at(data, offset)
    }

    /// Maps the file's first `file_bytes` (its length now). A failure
    /// leaves misses on `pread`.
    pub(super) fn remap(&self, file_bytes: u64) {
        if !self.mapped.enabled {
            return;
        }
        let mut map = self.mapped.map.write();
        *map = match self.file.map_for_reads(file_bytes) {
            Ok(mapping) => mapping,
            Err(error) => {
                tracing::warn!(path = %self.path.display(), %error, "page file not mapped: reads use pread");
                None
            }
        };
    }

    /// Shortens the file to `file_bytes` with no copy from the map in
    /// flight, and maps what is left.
    pub(super) fn cut_file(&self, file_bytes: u64) -> keel_io::Result<()> {
        let mut map = self.mapped.map.write();
        // Unmapped first: nothing may read past the new end.
        *map = None;
        let result = self.file.set_len(file_bytes);
        let length = self.file.size().unwrap_or(0);
        if self.mapped.enabled {
            *map = self.file.map_for_reads(length).ok().flatten();
        }
        result
    }
}

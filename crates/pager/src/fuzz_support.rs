//! Support for the `pager_open` fuzz target and its corpus replay test: not
//! part of the API.

use std::sync::Arc;

use keel_io::{OpenMode, SimVfs, Vfs};

use crate::page_id::PageId;
use crate::pager::{Pager, PagerOptions};

/// Writes `bytes` as a page file on a simulated disk, opens it and reads
/// every allocated page. Returns how many pages read back intact; every
/// failure must be a typed error, never a panic.
pub fn open_arbitrary_file(bytes: &[u8]) -> usize {
    let vfs = Arc::new(SimVfs::new(0));
    let path = std::path::Path::new("/fuzz/pages");
    let written = keel_io::create_dir_all_durable(vfs.as_ref(), std::path::Path::new("/fuzz"))
        .and_then(|()| vfs.open(path, OpenMode::CreateNew))
        .and_then(|file| file.write_all_at(bytes, 0));
    if written.is_err() {
        return 0;
    }
    let options = PagerOptions {
        create: false,
        pool_bytes: 0,
        ..PagerOptions::default()
    };
    let Ok(pager) = Pager::open(vfs, path, options) else {
        return 0;
    };
    // The whole map is read (and checked) here, not at open.
    let Ok(pages) = pager.allocated_pages() else {
        return 0;
    };
    let mut intact = 0;
    for page in pages {
        if pager.read(page, |view| view.u64_at(0)).is_ok() {
            intact += 1;
        }
    }
    // Pages that are not allocated must be refused, not invented.
    let _ = pager.read(PageId::new(u64::from(u32::MAX)), |view| view.u8_at(0));
    intact
}

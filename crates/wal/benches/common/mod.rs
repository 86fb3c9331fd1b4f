//! What the benches of keel-wal share: the records they log, a log on the
//! real disk, and the bare baseline each of them is measured against.

// Each bench is a crate of its own that uses part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use keel_io::{FileHandle, OpenMode, StdVfs, Vfs};
use keel_wal::fragment::{FRAGMENT_PAYLOAD_BYTES_MAX, fragment_span};
use keel_wal::{Change, Entry, Record, Wal, WalOptions, WriteSet};

/// Key of every record (the redb benchmark shape).
pub const KEY_BYTES: usize = 24;
/// Value of a commit record (the redb benchmark shape).
pub const COMMIT_VALUE_BYTES: usize = 150;

/// A commit of one put: a `KEY_BYTES` key and a `value_bytes` value.
pub fn commit_record(value_bytes: usize) -> Record {
    Record::Commit(WriteSet {
        transaction_id: 1,
        timestamp: 1,
        entries: vec![Entry {
            keyspace: 0,
            key: Bytes::from(vec![0x4B; KEY_BYTES]),
            change: Change::Put {
                value: Bytes::from(vec![0x56; value_bytes]),
                expires_at_ms: None,
            },
        }],
    })
}

/// Bytes `record` occupies in a segment: fragment header, payload, padding.
pub fn framed_bytes(record: &Record) -> usize {
    let payload_bytes = record.encode().len();
    assert!(
        payload_bytes <= FRAGMENT_PAYLOAD_BYTES_MAX,
        "the benches log records of one fragment"
    );
    fragment_span(payload_bytes)
}

/// A log with default options in `dir/wal`, on the real disk.
pub fn open_wal(dir: &Path) -> Wal {
    let vfs: Arc<dyn Vfs> = Arc::new(StdVfs::new());
    let (wal, _) =
        Wal::open(vfs, &dir.join("wal"), WalOptions::default()).expect("open the write-ahead log");
    wal
}

/// The baseline: the log's file pattern and nothing else. Positional
/// appends to a file preallocated like a segment (a new one when it is
/// full), synced when asked; no framing, buffering or group commit.
pub struct BareLog {
    dir: PathBuf,
    file_bytes: u64,
    files_created: u64,
    file: FileHandle,
    offset: u64,
}

impl BareLog {
    /// Starts the first file of `file_bytes` (preallocated) in `dir`.
    pub fn create(dir: &Path, file_bytes: u64) -> BareLog {
        assert!(file_bytes > 0, "files hold at least one byte");
        BareLog {
            dir: dir.to_path_buf(),
            file_bytes,
            files_created: 1,
            file: create_preallocated(&dir.join("bare-0"), file_bytes),
            offset: 0,
        }
    }

    /// Writes `data` after what was written before.
    pub fn append(&mut self, data: &[u8]) {
        let data_bytes = data.len() as u64;
        if self.offset > 0 && self.offset + data_bytes > self.file_bytes {
            let path = self.dir.join(format!("bare-{}", self.files_created));
            self.file = create_preallocated(&path, self.file_bytes);
            self.files_created += 1;
            self.offset = 0;
        }
        self.file
            .write_all_at(data, self.offset)
            .expect("write the bare file");
        self.offset += data_bytes;
    }

    /// Makes what was appended to the current file durable (`fdatasync`).
    pub fn sync(&self) {
        self.file.sync_data().expect("sync the bare file");
    }
}

/// Creates `path` with `file_bytes` reserved, as the log creates a segment.
fn create_preallocated(path: &Path, file_bytes: u64) -> FileHandle {
    let file = StdVfs::new()
        .open(path, OpenMode::CreateNew)
        .expect("create the bare file");
    file.allocate(0, file_bytes)
        .expect("preallocate the bare file");
    file.sync_data().expect("sync the new bare file");
    if let Some(dir) = path.parent() {
        StdVfs::new()
            .sync_dir(dir)
            .expect("sync the bare directory");
    }
    file
}

/// The Criterion settings of the WAL benchmarks: few samples (each one is
/// many fsyncs), a short warm-up, `measurement_seconds` of measuring.
pub fn config(sample_size: usize, measurement_seconds: u64) -> criterion::Criterion {
    criterion::Criterion::default()
        .sample_size(sample_size)
        .warm_up_time(std::time::Duration::from_secs(2))
        .measurement_time(std::time::Duration::from_secs(measurement_seconds))
}

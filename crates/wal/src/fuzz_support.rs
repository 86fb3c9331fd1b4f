//! The harnesses of the `wal_reader` and `wal_record` fuzz targets, here so
//! that the targets and the corpus replay test (`tests/fuzz_corpus.rs`) run
//! the same code.

use std::path::Path;
use std::sync::Arc;

use keel_io::{OpenMode, SimVfs, Vfs};

use crate::fragment::segment_salt;
use crate::lsn::Lsn;
use crate::options::{Durability, RecoveryMode, WalOptions};
use crate::reader::Reader;
use crate::record::Record;
use crate::segment::{SegmentHeader, segment_file_name};
use crate::wal::Wal;

/// Lays arbitrary bytes out as a log directory (one or two segments, with
/// a valid or an arbitrary header), then reads it in both recovery modes and
/// opens it. Must never panic or hang; errors are fine.
///
/// Input: byte 0 holds flags (bit 0: write a valid header before the data;
/// bit 1: split the data into two segments at the position in byte 1;
/// bit 2: that header in format version 1, else the current one).
pub fn read_arbitrary_log(input: &[u8]) {
    let Some((&flags, rest)) = input.split_first() else {
        return;
    };
    let vfs = SimVfs::new(0);
    let dir = Path::new("/wal");
    if vfs.create_dir_all(dir).is_err() {
        return;
    }
    let (first, second) = if flags & 2 != 0 && !rest.is_empty() {
        let split = usize::from(rest[0]) * rest.len() / 256;
        let (a, b) = rest[1..].split_at(split.min(rest.len() - 1));
        (a, Some(b))
    } else {
        (rest, None)
    };
    let mut segments = vec![(Lsn::FIRST, first)];
    if let Some(second) = second {
        segments.push((Lsn(2), second));
    }
    for (first_lsn, data) in segments {
        let mut bytes = Vec::new();
        if flags & 1 != 0 {
            let mut header = SegmentHeader::new(first_lsn, 64 << 10, segment_salt(first_lsn));
            if flags & 4 != 0 {
                header.format_version = 1;
            }
            bytes.extend_from_slice(&header.encode());
        }
        bytes.extend_from_slice(data);
        let path = dir.join(segment_file_name(first_lsn));
        let Ok(file) = vfs.open(&path, OpenMode::CreateNew) else {
            return;
        };
        if file.write_all_at(&bytes, 0).is_err() {
            return;
        }
    }
    let vfs: Arc<dyn Vfs> = Arc::new(vfs);
    for mode in [RecoveryMode::Strict, RecoveryMode::PointInTime] {
        if let Ok(reader) = Reader::open(vfs.clone(), dir, Lsn::FIRST, mode) {
            for item in reader {
                if std::hint::black_box(item).is_err() {
                    break;
                }
            }
        }
    }
    let options = WalOptions {
        segment_bytes: 64 << 10,
        recovery_mode: RecoveryMode::PointInTime,
        ..WalOptions::default()
    };
    if let Ok((wal, _)) = Wal::open(vfs, dir, options) {
        let _ = wal.commit(
            &Record::AbortPrepared { transaction_id: 1 },
            Durability::Sync,
        );
    }
}

/// Decodes arbitrary bytes as a record payload (what a fragment whose
/// checksum held carries). Must never panic, hang or allocate beyond what
/// the input justifies; a record that decodes must encode to a payload of
/// the length it announces that decodes to the same record.
pub fn decode_arbitrary_record(input: &[u8]) {
    let Ok(record) = Record::decode(bytes::Bytes::copy_from_slice(input)) else {
        return;
    };
    let encoded = record.encode();
    assert_eq!(encoded.len(), record.encoded_len(), "{record:?}");
    let again = Record::decode(bytes::Bytes::from(encoded));
    assert_eq!(
        again.as_ref(),
        Ok(&record),
        "{record:?} does not round-trip"
    );
}

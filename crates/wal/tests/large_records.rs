//! Records larger than a fragment and than a segment: split into 1 MiB
//! fragments, kept whole in a segment of their own, read back intact; a
//! record torn in its middle fragment is a torn tail, never half a record.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use keel_io::{CrashMode, SimVfs, Vfs};
use keel_wal::fragment::FRAGMENT_PAYLOAD_BYTES_MAX;
use keel_wal::segment::{SEGMENT_HEADER_BYTES, list_segments, segment_file_name};
use keel_wal::{
    Change, Durability, Entry, Error, Lsn, ReadEnd, Reader, Record, RecoveryMode, Wal, WalOptions,
    WriteSet,
};

fn options() -> WalOptions {
    WalOptions {
        segment_bytes: 64 << 10,
        periodic_interval: Duration::from_secs(3600),
        ..WalOptions::default()
    }
}

fn large(bytes: usize, seed: u8) -> Record {
    Record::Commit(WriteSet {
        transaction_id: u64::from(seed),
        timestamp: 1,
        entries: vec![Entry {
            keyspace: 0,
            key: Bytes::from_static(b"big"),
            change: Change::Put {
                value: Bytes::from(
                    (0..bytes)
                        .map(|i| (i as u8).wrapping_mul(seed))
                        .collect::<Vec<u8>>(),
                ),
                expires_at_ms: None,
            },
        }],
    })
}

#[test]
fn a_record_of_several_fragments_round_trips_in_its_own_segment() {
    let vfs = SimVfs::new(1);
    let shared: Arc<SimVfs> = Arc::new(vfs.clone());
    let (wal, _) = Wal::open(shared.clone(), Path::new("/wal"), options()).unwrap();
    let small = large(100, 1);
    let big = large(3 * FRAGMENT_PAYLOAD_BYTES_MAX + 12_345, 7);
    wal.commit(&small, Durability::Sync).unwrap();
    wal.commit(&big, Durability::Sync).unwrap();
    wal.commit(&small, Durability::Sync).unwrap();
    wal.close().unwrap();
    drop(wal);

    let records: Vec<_> = Reader::open(
        shared.clone(),
        Path::new("/wal"),
        Lsn::FIRST,
        RecoveryMode::Strict,
    )
    .unwrap()
    .map(|item| item.unwrap())
    .collect();
    assert_eq!(
        records,
        vec![(Lsn(1), small.clone()), (Lsn(2), big), (Lsn(3), small)]
    );
    // The big record has a segment of its own, grown past 64 KiB.
    let segments = list_segments(&vfs, Path::new("/wal")).unwrap();
    let firsts: Vec<Lsn> = segments.iter().map(|(first, _)| *first).collect();
    assert_eq!(firsts, vec![Lsn(1), Lsn(2), Lsn(3)]);
    let size = vfs
        .open(&segments[1].1, keel_io::OpenMode::Existing)
        .unwrap()
        .size()
        .unwrap();
    assert!(size > 3 * FRAGMENT_PAYLOAD_BYTES_MAX as u64, "{size}");

    // Reading from the big record's lsn starts in its segment.
    let from_two: Vec<Lsn> = Reader::open(shared, Path::new("/wal"), Lsn(2), RecoveryMode::Strict)
        .unwrap()
        .map(|item| item.unwrap().0)
        .collect();
    assert_eq!(from_two, vec![Lsn(2), Lsn(3)]);
}

#[test]
fn a_large_record_torn_in_a_middle_fragment_is_a_torn_tail() {
    let vfs = SimVfs::new(1);
    let shared: Arc<SimVfs> = Arc::new(vfs.clone());
    let (wal, _) = Wal::open(shared.clone(), Path::new("/wal"), options()).unwrap();
    wal.commit(&large(100, 1), Durability::Sync).unwrap();
    wal.commit(&large(3 * FRAGMENT_PAYLOAD_BYTES_MAX, 3), Durability::Sync)
        .unwrap();
    wal.close().unwrap();
    drop(wal);
    // Damage the second fragment of record 2 (in the segment named 2).
    let segment = Path::new("/wal").join(segment_file_name(Lsn(2)));
    let second_fragment = SEGMENT_HEADER_BYTES + (28 + FRAGMENT_PAYLOAD_BYTES_MAX as u64) + 100;
    assert!(vfs.corrupt(&segment, second_fragment, 0x04));
    vfs.crash(CrashMode::LoseUnsynced);

    let (wal, recovery) = Wal::open(shared.clone(), Path::new("/wal"), options()).unwrap();
    match &recovery.end {
        ReadEnd::TornTail {
            segment: torn,
            offset,
            next_lsn,
        } => {
            assert_eq!(torn, &segment);
            assert_eq!(
                *offset, SEGMENT_HEADER_BYTES,
                "the whole record is cut, not half of it"
            );
            assert_eq!(*next_lsn, Lsn(2));
        }
        other => panic!("expected a torn tail, got {other:?}"),
    }
    assert_eq!(wal.commit(&large(10, 9), Durability::Sync).unwrap(), Lsn(2));
    drop(wal);
    let lsns: Vec<Lsn> = Reader::open(shared, Path::new("/wal"), Lsn::FIRST, RecoveryMode::Strict)
        .unwrap()
        .map(|item| item.unwrap().0)
        .collect();
    assert_eq!(lsns, vec![Lsn(1), Lsn(2)]);
}

#[test]
fn a_record_over_the_limit_is_refused() {
    let vfs = SimVfs::new(1);
    let options = WalOptions {
        record_bytes_max: 1000,
        ..options()
    };
    let (wal, _) = Wal::open(Arc::new(vfs), Path::new("/wal"), options).unwrap();
    match wal.append(&large(2000, 1), Durability::Sync) {
        Err(Error::RecordTooLarge { bytes, limit: 1000 }) => assert!(bytes > 2000),
        other => panic!("expected RecordTooLarge, got {other:?}"),
    }
    // The log is not poisoned by a refused record.
    wal.commit(&large(10, 1), Durability::Sync).unwrap();
}

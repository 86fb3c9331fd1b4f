//! Segments sized to the write rate and recycled: sizes double while
//! segments fill fast and fall back after an idle one; truncation keeps
//! closed segments (`*.wal.free`) that later become new segments; a
//! recycled segment's old contents are never read as records, even a
//! fragment carrying exactly the awaited lsn; and at every crash point of
//! growth, recycling, truncation and close, in every crash mode (and with
//! crashes during the recovery after), every acknowledged record survives.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use keel_io::{CrashMode, CrashPoints, CrashSweep, OpenMode, SimVfs, Vfs};
use keel_wal::fragment::{FragmentKind, encode_fragment, fragment_span, segment_salt};
use keel_wal::segment::{
    SEGMENT_HEADER_BYTES, create_segment, free_file_name, list_free, list_segments, read_header,
    recycle_segment, segment_file_name,
};
use keel_wal::{
    Change, Durability, Entry, Lsn, ReadEnd, Reader, Record, RecoveryMode, Wal, WalOptions,
    WalStats, WriteSet,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const DIR: &str = "/db/wal";

/// Small bounds, and a fill interval no segment outlasts in a test: every
/// full segment makes the next one the ceiling size, so the I/O sequence
/// is deterministic.
fn options() -> WalOptions {
    WalOptions {
        segment_bytes_min: 64 << 10,
        segment_bytes: 256 << 10,
        segment_fill_interval: Duration::from_secs(3600),
        recycled_segments_max: 2,
        // No background flush during the test.
        periodic_interval: Duration::from_secs(3600),
        buffer_bytes_max: 48 << 10,
        ..WalOptions::default()
    }
}

fn record(transaction_id: u64, value_bytes: usize) -> Record {
    Record::Commit(WriteSet {
        transaction_id,
        timestamp: transaction_id * 10,
        entries: vec![Entry {
            keyspace: 1,
            key: Bytes::from(transaction_id.to_be_bytes().to_vec()),
            change: Change::Put {
                value: Bytes::from(
                    (0..value_bytes)
                        .map(|i| (i as u64 * 7 + transaction_id) as u8)
                        .collect::<Vec<u8>>(),
                ),
                expires_at_ms: None,
            },
        }],
    })
}

fn open(vfs: &SimVfs, options: WalOptions) -> Wal {
    Wal::open(Arc::new(vfs.clone()), Path::new(DIR), options)
        .unwrap()
        .0
}

/// The preallocated size in each segment's header, oldest first.
fn segment_sizes(vfs: &SimVfs) -> Vec<u64> {
    list_segments(vfs, Path::new(DIR))
        .unwrap()
        .iter()
        .map(|(_, path)| {
            let file = vfs.open(path, OpenMode::Existing).unwrap();
            read_header(file.as_ref()).unwrap().unwrap().segment_bytes
        })
        .collect()
}

fn read_all(vfs: &SimVfs, from: Lsn) -> Vec<(Lsn, Record)> {
    Reader::open(
        Arc::new(vfs.clone()),
        Path::new(DIR),
        from,
        RecoveryMode::Strict,
    )
    .unwrap()
    .map(|item| item.unwrap())
    .collect()
}

/// With a fill interval no segment outlasts, the first segment's rate asks
/// for more than the ceiling: the next segments have the ceiling size.
#[test]
fn segments_grow_to_the_rate_up_to_the_ceiling() {
    let vfs = SimVfs::new(1);
    let wal = open(&vfs, options());
    let mut appended = Vec::new();
    for n in 1..=300 {
        let record = record(n, 3000);
        let lsn = wal.append(&record, Durability::None).unwrap();
        appended.push((lsn, record));
    }
    wal.sync().unwrap();
    let sizes = segment_sizes(&vfs);
    assert_eq!(sizes[..3], [64 << 10, 256 << 10, 256 << 10], "{sizes:?}");
    assert!(sizes.iter().all(|&size| size <= 256 << 10));
    assert_eq!(read_all(&vfs, Lsn::FIRST), appended);
}

/// An idle segment makes the next one fit the rate it saw: smaller.
#[test]
fn after_an_idle_segment_the_next_one_is_smaller() {
    let interval = Duration::from_millis(200);
    let options = WalOptions {
        segment_bytes: 1 << 20,
        segment_fill_interval: interval,
        ..options()
    };
    let vfs = SimVfs::new(2);
    let wal = open(&vfs, options);
    // A burst: each segment fills in far less than the interval.
    let mut n = 0;
    while segment_sizes(&vfs).len() < 3 {
        n += 1;
        wal.commit(&record(n, 3000), Durability::Sync).unwrap();
    }
    let grown = *segment_sizes(&vfs).last().unwrap();
    assert!(grown > 64 << 10, "grew: {:?}", segment_sizes(&vfs));
    // Idle for more than four intervals, then the open segment fills.
    std::thread::sleep(interval * 5);
    let segments = segment_sizes(&vfs).len();
    while segment_sizes(&vfs).len() == segments {
        n += 1;
        wal.commit(&record(n, 3000), Durability::Sync).unwrap();
    }
    let after_idle = *segment_sizes(&vfs).last().unwrap();
    assert!(
        after_idle <= grown / 2,
        "{grown} then {after_idle}: {:?}",
        segment_sizes(&vfs)
    );
    assert_eq!(read_all(&vfs, Lsn::FIRST).len() as u64, n);
}

/// An idle log gives a large open segment's preallocation back: once
/// nothing was appended for `recycled_idle_interval`, the background
/// thread seals it, cuts it after its seal and goes on in a segment of the
/// floor size; every record stays readable and appends go on.
#[test]
fn an_idle_log_cuts_its_large_segment_back_to_the_floor() {
    let options = WalOptions {
        segment_bytes: 1 << 20,
        segment_fill_interval: Duration::from_millis(200),
        periodic_interval: Duration::from_millis(10),
        recycled_idle_interval: Duration::from_millis(100),
        ..options()
    };
    let vfs = SimVfs::new(6);
    let wal = open(&vfs, options);
    let mut n = 0;
    while *segment_sizes(&vfs).last().unwrap() <= 64 << 10 {
        n += 1;
        wal.commit(&record(n, 3000), Durability::Sync).unwrap();
    }
    let grown = *segment_sizes(&vfs).last().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while *segment_sizes(&vfs).last().unwrap() != 64 << 10 {
        assert!(
            std::time::Instant::now() < deadline,
            "never cut back: {:?}",
            segment_sizes(&vfs)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // The large segment is now cut after its last record and seal.
    let (_, large) = list_segments(&vfs, Path::new(DIR)).unwrap()[..]
        .iter()
        .rev()
        .nth(1)
        .cloned()
        .unwrap();
    let file = vfs.open(&large, OpenMode::Existing).unwrap();
    assert!(
        file.size().unwrap() < grown,
        "{} of {grown} bytes",
        file.size().unwrap()
    );
    n += 1;
    wal.commit(&record(n, 3000), Durability::Sync).unwrap();
    assert_eq!(read_all(&vfs, Lsn::FIRST).len() as u64, n);
    wal.close().unwrap();
}

#[test]
fn truncated_segments_become_new_segments() {
    let vfs = SimVfs::new(3);
    let wal = open(&vfs, options());
    let mut appended = BTreeMap::new();
    let mut commit = |wal: &Wal, n: u64| {
        let record = record(n, 2500);
        let lsn = wal.commit(&record, Durability::Sync).unwrap();
        appended.insert(lsn, record);
        lsn
    };
    for n in 1..=250 {
        commit(&wal, n);
    }
    let segments = list_segments(&vfs, Path::new(DIR)).unwrap();
    assert!(segments.len() >= 3, "{segments:?}");
    let cut = segments[segments.len() - 1].0;
    let salts: BTreeMap<_, _> = segments
        .iter()
        .map(|(_, path)| {
            let file = vfs.open(path, OpenMode::Existing).unwrap();
            let salt = read_header(file.as_ref()).unwrap().unwrap().salt;
            (free_file_name(path), salt)
        })
        .collect();
    let truncation = wal.truncate_before(cut).unwrap();
    assert_eq!(truncation.removed.len(), segments.len() - 1);
    assert_eq!(
        truncation.recycled.len(),
        2,
        "at most recycled_segments_max"
    );
    assert_eq!(
        list_free(&vfs, Path::new(DIR)).unwrap(),
        truncation.recycled
    );

    // The next segments are made of the kept files, with the next salts.
    let recycled_before = WalStats::get(&wal.stats().segments_recycled);
    let mut n = 250;
    while !list_free(&vfs, Path::new(DIR)).unwrap().is_empty() {
        n += 1;
        commit(&wal, n);
    }
    assert_eq!(
        WalStats::get(&wal.stats().segments_recycled) - recycled_before,
        2
    );
    let new_salts: Vec<u32> = list_segments(&vfs, Path::new(DIR))
        .unwrap()
        .iter()
        .map(|(_, path)| {
            let file = vfs.open(path, OpenMode::Existing).unwrap();
            read_header(file.as_ref()).unwrap().unwrap().salt
        })
        .collect();
    for free in &truncation.recycled {
        assert!(
            new_salts.contains(&salts[free].wrapping_add(1)),
            "{free:?} reused with the next salt"
        );
    }
    for more in n + 1..=n + 40 {
        commit(&wal, more);
    }
    let expected: Vec<_> = appended
        .range(cut..)
        .map(|(l, r)| (*l, r.clone()))
        .collect();
    assert_eq!(read_all(&vfs, cut), expected);

    // Power lost: everything acknowledged is there, nothing else.
    std::mem::forget(wal);
    vfs.crash(CrashMode::LoseUnsynced);
    let wal = open(&vfs, options());
    assert_eq!(read_all(&vfs, cut), expected);
    assert_eq!(wal.next_lsn(), expected.last().unwrap().0.next());
}

/// Kept files are deleted once unused for `recycled_idle_interval` (by the
/// background thread), and at close.
#[test]
fn kept_files_are_deleted_when_idle_and_at_close() {
    let vfs = SimVfs::new(5);
    let idle = WalOptions {
        periodic_interval: Duration::from_millis(10),
        recycled_idle_interval: Duration::from_millis(50),
        ..options()
    };
    for (options, wait_for_idle) in [(idle, true), (options(), false)] {
        let wal = open(&vfs, options);
        for n in 0..100 {
            wal.commit(&record(n, 2500), Durability::Sync).unwrap();
        }
        let cut = wal.next_lsn();
        let truncation = wal.truncate_before(cut).unwrap();
        assert!(!truncation.recycled.is_empty());
        if wait_for_idle {
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while !list_free(&vfs, Path::new(DIR)).unwrap().is_empty() {
                assert!(std::time::Instant::now() < deadline, "never deleted");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        wal.close().unwrap();
        assert!(list_free(&vfs, Path::new(DIR)).unwrap().is_empty());
        assert!(read_all(&vfs, cut).is_empty());
    }
}

/// The strongest stale-record case, built by hand: a segment's earlier
/// life holds, exactly where the reader arrives after the new life's
/// records, a fragment with a valid checksum (under the old salt) carrying
/// the very lsn the reader awaits — as after a torn tail whose lsns were
/// given out again. Under the new salt its checksum fails, so the reader
/// ends there (cleanly when the zeroed terminator was written, as a torn
/// tail when not) and never returns it.
#[test]
fn a_stale_fragment_with_the_awaited_lsn_is_never_read() {
    for terminator in [true, false] {
        let vfs = SimVfs::new(4);
        let dir = Path::new(DIR);
        vfs.create_dir_all(dir).unwrap();
        // Life 1: records 5, 6, 7, 8 of 100-byte payloads.
        let old = create_segment(&vfs, dir, Lsn(5), 64 << 10).unwrap();
        let old_salt = segment_salt(Lsn(5));
        let mut bytes = Vec::new();
        for lsn in 5..=8 {
            let payload = Record::AbortPrepared {
                transaction_id: lsn,
            }
            .encode();
            encode_fragment(
                &mut bytes,
                old_salt,
                FragmentKind::Full,
                Lsn(lsn),
                Lsn(lsn),
                &payload,
            );
        }
        old.write_all_at(&bytes, SEGMENT_HEADER_BYTES).unwrap();
        old.sync_data().unwrap();
        let old_span = fragment_span(Record::AbortPrepared { transaction_id: 5 }.encode().len());
        drop(old);
        let segment = dir.join(segment_file_name(Lsn(5)));
        let free = free_file_name(&segment);
        vfs.rename(&segment, &free).unwrap();

        // Life 2 starts at lsn 6: one record spanning what old 5 and 6
        // held, so the reader next looks at old record 7 and awaits 7.
        let new = recycle_segment(&vfs, dir, &free, old_salt, Lsn(6), 64 << 10).unwrap();
        let new_salt = read_header(new.as_ref()).unwrap().unwrap().salt;
        assert_ne!(new_salt, old_salt);
        let filler = Bytes::from(vec![0xAB; 2 * old_span - 28 - 40]);
        let replacement = Record::Commit(WriteSet {
            transaction_id: 6,
            timestamp: 60,
            entries: vec![Entry {
                keyspace: 0,
                key: Bytes::from_static(b"k"),
                change: Change::Put {
                    value: filler,
                    expires_at_ms: None,
                },
            }],
        });
        let mut payload = replacement.encode();
        // Pad the value so the fragment spans exactly two old ones.
        while fragment_span(payload.len()) < 2 * old_span {
            let Record::Commit(mut set) = Record::decode(Bytes::from(payload)).unwrap() else {
                unreachable!()
            };
            let Change::Put { value, .. } = &mut set.entries[0].change else {
                unreachable!()
            };
            *value = Bytes::from(vec![0xAB; value.len() + 1]);
            payload = Record::Commit(set).encode();
        }
        assert_eq!(fragment_span(payload.len()), 2 * old_span);
        let mut fresh = Vec::new();
        encode_fragment(
            &mut fresh,
            new_salt,
            FragmentKind::Full,
            Lsn(6),
            Lsn(6),
            &payload,
        );
        if terminator {
            fresh.extend_from_slice(&[0; 32]);
        }
        new.write_all_at(&fresh, SEGMENT_HEADER_BYTES).unwrap();
        new.sync_data().unwrap();
        vfs.sync_dir(dir).unwrap();

        // Old record 7 sits where the reader arrives, intact under the old
        // salt, unless the terminator covers its start.
        let mut at = [0u8; 20];
        new.read_exact_at(&mut at, SEGMENT_HEADER_BYTES + 2 * old_span as u64)
            .unwrap();
        if !terminator {
            assert_eq!(u64::from_le_bytes(at[12..20].try_into().unwrap()), 7);
        }

        let mut reader =
            Reader::open(Arc::new(vfs.clone()), dir, Lsn::ZERO, RecoveryMode::Strict).unwrap();
        let records: Vec<_> = reader.by_ref().map(|item| item.unwrap()).collect();
        assert_eq!(records.len(), 1, "terminator {terminator}: {records:?}");
        assert_eq!(records[0].0, Lsn(6));
        assert_eq!(records[0].1.encode(), payload);
        match reader.end().unwrap() {
            ReadEnd::Clean { next_lsn } => {
                assert!(terminator);
                assert_eq!(*next_lsn, Lsn(7));
            }
            ReadEnd::TornTail { next_lsn, .. } => {
                assert!(!terminator);
                assert_eq!(*next_lsn, Lsn(7));
            }
            other => panic!("{other:?}"),
        }
        // Opening for appends agrees, and what follows is the new history.
        let wal = open(&vfs, options());
        assert_eq!(wal.next_lsn(), Lsn(7));
        wal.commit(&record(7, 10), Durability::Sync).unwrap();
        drop(wal);
        let lsns: Vec<Lsn> = read_all(&vfs, Lsn::ZERO).iter().map(|(l, _)| *l).collect();
        assert_eq!(lsns, [Lsn(6), Lsn(7)]);
        assert_eq!(read_all(&vfs, Lsn(7))[0].1, record(7, 10));
    }
}

/// What a workload did before the crash.
#[derive(Default, Clone)]
struct Outcome {
    appended: BTreeMap<Lsn, Record>,
    /// Every record before this was acknowledged durable.
    acknowledged_end: Lsn,
    /// The last truncation point asked for (records from here on stay).
    truncated_before: Lsn,
}

const RECORDS: u64 = 70;

/// Appends with random durability and sizes, truncating behind the durable
/// end every ten records (so kept files are reused as the log grows), and
/// closes (cutting the open segment after its seal).
fn workload(vfs: &SimVfs, seed: u64) -> Outcome {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut outcome = Outcome::default();
    let Ok((wal, _)) = Wal::open(Arc::new(vfs.clone()), Path::new(DIR), options()) else {
        return outcome;
    };
    let mut failed = false;
    for n in 1..=RECORDS {
        let value_bytes = match rng.random_range(0..10) {
            0 => rng.random_range(20_000..40_000),
            _ => rng.random_range(500..6000),
        };
        let record = record(n, value_bytes);
        let durability = match rng.random_range(0..4) {
            0 => Durability::Periodic,
            1 => Durability::None,
            _ => Durability::Sync,
        };
        let Ok(lsn) = wal.append(&record, durability) else {
            failed = true;
            break;
        };
        outcome.appended.insert(lsn, record);
        if durability == Durability::Sync {
            if wal.wait_durable(lsn).is_err() {
                failed = true;
                break;
            }
            outcome.acknowledged_end = outcome.acknowledged_end.max(lsn.next());
        }
        if n % 10 == 0 {
            if wal.sync().is_err() {
                failed = true;
                break;
            }
            outcome.acknowledged_end = wal.durable_end();
            outcome.truncated_before = Lsn(wal.durable_end().0.saturating_sub(3));
            if wal.truncate_before(outcome.truncated_before).is_err() {
                failed = true;
                break;
            }
        }
    }
    if !failed && wal.close().is_ok() {
        outcome.acknowledged_end = wal.next_lsn();
    }
    std::mem::forget(wal); // Whatever close did not do, a crash undoes.
    outcome
}

/// Reopens, checks the log from the last truncation point against the
/// outcome, appends again.
fn check_recovery(vfs: &SimVfs, outcome: &mut Outcome, context: &str) -> Result<(), String> {
    let shared: Arc<SimVfs> = Arc::new(vfs.clone());
    let (wal, recovery) = Wal::open(shared.clone(), Path::new(DIR), options())
        .map_err(|e| format!("{context}: reopen failed: {e}"))?;
    let from = outcome.truncated_before.max(Lsn::FIRST);
    let mut reader = Reader::open(shared.clone(), Path::new(DIR), from, RecoveryMode::Strict)
        .map_err(|e| format!("{context}: reader: {e}"))?;
    let mut next = from;
    for item in reader.by_ref() {
        let (lsn, record) = item.map_err(|e| format!("{context}: read failed: {e}"))?;
        if lsn != next {
            return Err(format!("{context}: record {lsn} where {next} was due"));
        }
        if outcome.appended.get(&lsn) != Some(&record) {
            return Err(format!("{context}: record {lsn} was never appended so"));
        }
        next = lsn.next();
    }
    let end = reader.end().map_or(next, ReadEnd::next_lsn);
    if end != next {
        return Err(format!("{context}: reader ended at {end}, read to {next}"));
    }
    if next < outcome.acknowledged_end {
        return Err(format!(
            "{context}: acknowledged up to {} but recovered only up to {next}",
            outcome.acknowledged_end
        ));
    }
    if recovery.end.next_lsn() != next || wal.next_lsn() != next {
        return Err(format!("{context}: recovery ends at {}", wal.next_lsn()));
    }
    let again = Record::AbortPrepared {
        transaction_id: 999,
    };
    let lsn = wal
        .commit(&again, Durability::Sync)
        .map_err(|e| format!("{context}: append after recovery: {e}"))?;
    drop(wal);
    outcome.appended.split_off(&lsn);
    outcome.appended.insert(lsn, again.clone());
    outcome.acknowledged_end = lsn.next();
    let last = Reader::open(shared, Path::new(DIR), lsn, RecoveryMode::Strict)
        .map_err(|e| format!("{context}: {e}"))?
        .map(|item| item.map_err(|e| e.to_string()))
        .last();
    if last != Some(Ok((lsn, again))) {
        return Err(format!("{context}: the record appended after recovery"));
    }
    Ok(())
}

#[test]
fn every_crash_point_of_growth_recycling_and_close_keeps_acknowledged_records() {
    const SEED: u64 = 19;
    let dry = SimVfs::new(SEED);
    let full = workload(&dry, SEED);
    assert_eq!(full.appended.len() as u64, RECORDS);
    // The workload grows segments, keeps and reuses files, and closes.
    let sizes = segment_sizes(&dry);
    assert!(sizes.contains(&(256 << 10)), "{sizes:?}");
    assert_eq!(
        *sizes.last().unwrap(),
        64 << 10,
        "closed on a floor segment"
    );
    let recycled_lives = list_segments(&dry, Path::new(DIR))
        .unwrap()
        .iter()
        .filter(|(first, path)| {
            let file = dry.open(path, OpenMode::Existing).unwrap();
            read_header(file.as_ref()).unwrap().unwrap().salt != segment_salt(*first)
        })
        .count();
    assert!(recycled_lives > 0, "some segment is a reused file");
    assert!(list_free(&dry, Path::new(DIR)).unwrap().is_empty());

    let report = CrashSweep::new(SEED, |vfs: &SimVfs| workload(vfs, SEED))
        .modes(&CrashMode::ALL)
        .points(CrashPoints::Every)
        .seed_per_point()
        .crash_during_recovery(3, 24, |vfs| {
            let _ = Wal::open(Arc::new(vfs.clone()), Path::new(DIR), options());
        })
        .run(|vfs, outcome, image| {
            let mut outcome = outcome.clone();
            let context = image.to_string();
            check_recovery(vfs, &mut outcome, &context)?;
            // A second crash right after recovery (and an acknowledged
            // append) changes nothing acknowledged.
            vfs.crash(image.mode);
            check_recovery(vfs, &mut outcome, &format!("{context}, second crash"))
        });
    assert!(report.is_clean(), "{report}");
    println!(
        "wal recycling crash sweep: {} crash images ({} crash points x 4 modes; every third crashed again during recovery)",
        report.images,
        report.operations + 1,
    );
    // (744 since synced flushes go out as one whole-block write.)
    assert!(report.images > 700, "{}", report.images);
}

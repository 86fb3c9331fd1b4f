//! The fault model of `SimVfs` is itself tested: later crates trust it to
//! produce exactly the disks a real crash can leave behind, no fewer (or
//! their crash tests prove nothing) and no more.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::path::{Path, PathBuf};

use keel_io::{
    CrashMode, Error, FaultMode, FileHandle, OpenMode, SECTOR_BYTES, SimVfs, Vfs, read_to_end,
};
use proptest::prelude::*;

fn contents(vfs: &SimVfs, path: &str) -> Option<Vec<u8>> {
    match vfs.open(Path::new(path), OpenMode::Existing) {
        Ok(file) => Some(read_to_end(file.as_ref()).unwrap()),
        Err(e) if e.is_not_found() => None,
        Err(e) => panic!("{e}"),
    }
}

/// A durable, empty file at `/d/f` (name and data synced).
fn durable_file(vfs: &SimVfs) -> FileHandle {
    vfs.create_dir_all(Path::new("/d")).unwrap();
    vfs.sync_dir(Path::new("/")).unwrap();
    let file = vfs.open(Path::new("/d/f"), OpenMode::CreateNew).unwrap();
    vfs.sync_dir(Path::new("/d")).unwrap();
    file
}

#[test]
fn power_loss_keeps_only_synced_data() {
    let vfs = SimVfs::new(1);
    let file = durable_file(&vfs);
    file.write_all_at(b"one", 0).unwrap();
    file.sync_data().unwrap();
    file.write_all_at(b"two", 3).unwrap();
    file.set_len(100).unwrap();
    vfs.crash(CrashMode::LoseUnsynced);
    assert_eq!(contents(&vfs, "/d/f").unwrap(), b"one");
}

#[test]
fn a_process_kill_keeps_everything_written() {
    let vfs = SimVfs::new(1);
    vfs.create_dir_all(Path::new("/d")).unwrap();
    let file = vfs.open(Path::new("/d/f"), OpenMode::CreateNew).unwrap();
    file.write_all_at(b"never synced", 0).unwrap();
    vfs.crash(CrashMode::ProcessKill);
    assert_eq!(contents(&vfs, "/d/f").unwrap(), b"never synced");
}

#[test]
fn a_new_file_needs_a_directory_sync() {
    let vfs = SimVfs::new(1);
    vfs.create_dir_all(Path::new("/d")).unwrap();
    vfs.sync_dir(Path::new("/")).unwrap();
    let file = vfs.open(Path::new("/d/new"), OpenMode::CreateNew).unwrap();
    file.write_all_at(b"data", 0).unwrap();
    file.sync_data().unwrap();
    // Syncing another directory does not help.
    vfs.sync_dir(Path::new("/")).unwrap();
    vfs.crash(CrashMode::LoseUnsynced);
    assert_eq!(
        contents(&vfs, "/d/new"),
        None,
        "name was never made durable"
    );

    let file = vfs.open(Path::new("/d/new"), OpenMode::CreateNew).unwrap();
    file.write_all_at(b"data", 0).unwrap();
    file.sync_data().unwrap();
    vfs.sync_dir(Path::new("/d")).unwrap();
    vfs.crash(CrashMode::LoseUnsynced);
    assert_eq!(contents(&vfs, "/d/new").unwrap(), b"data");
}

#[test]
fn a_directory_lost_takes_its_files() {
    let vfs = SimVfs::new(1);
    vfs.create_dir_all(Path::new("/d/e")).unwrap();
    let file = vfs.open(Path::new("/d/e/f"), OpenMode::CreateNew).unwrap();
    file.sync_data().unwrap();
    vfs.sync_dir(Path::new("/d/e")).unwrap();
    vfs.sync_dir(Path::new("/d")).unwrap();
    // `/d` itself is not durable in `/`.
    vfs.crash(CrashMode::LoseUnsynced);
    assert!(!vfs.exists(Path::new("/d")).unwrap());
    assert!(!vfs.exists(Path::new("/d/e/f")).unwrap());
}

#[test]
fn a_rename_needs_a_directory_sync_and_is_atomic() {
    let vfs = SimVfs::new(1);
    let file = durable_file(&vfs);
    file.write_all_at(b"x", 0).unwrap();
    file.sync_data().unwrap();
    vfs.rename(Path::new("/d/f"), Path::new("/d/g")).unwrap();
    vfs.crash(CrashMode::LoseUnsynced);
    assert_eq!(contents(&vfs, "/d/f").unwrap(), b"x");
    assert_eq!(contents(&vfs, "/d/g"), None);

    vfs.rename(Path::new("/d/f"), Path::new("/d/g")).unwrap();
    vfs.sync_dir(Path::new("/d")).unwrap();
    vfs.crash(CrashMode::LoseUnsynced);
    assert_eq!(contents(&vfs, "/d/f"), None);
    assert_eq!(contents(&vfs, "/d/g").unwrap(), b"x");

    // Under random survival the file is under exactly one of its names.
    let mut outcomes = [0usize; 2];
    for seed in 0..64 {
        let vfs = SimVfs::new(seed);
        let file = durable_file(&vfs);
        file.write_all_at(b"x", 0).unwrap();
        file.sync_data().unwrap();
        vfs.rename(Path::new("/d/f"), Path::new("/d/g")).unwrap();
        vfs.crash(CrashMode::KeepRandomSubset);
        let old = contents(&vfs, "/d/f");
        let new = contents(&vfs, "/d/g");
        assert!(
            old.is_some() != new.is_some(),
            "seed {seed}: {old:?} {new:?}"
        );
        outcomes[usize::from(new.is_some())] += 1;
    }
    assert!(
        outcomes[0] > 0 && outcomes[1] > 0,
        "both outcomes occur: {outcomes:?}"
    );
}

#[test]
fn a_rename_into_a_synced_directory_survives_even_if_its_source_was_pending() {
    let vfs = SimVfs::new(1);
    vfs.create_dir_all(Path::new("/a")).unwrap();
    vfs.create_dir_all(Path::new("/b")).unwrap();
    vfs.sync_dir(Path::new("/")).unwrap();
    let file = vfs.open(Path::new("/a/tmp"), OpenMode::CreateNew).unwrap();
    file.write_all_at(b"payload", 0).unwrap();
    file.sync_data().unwrap();
    vfs.rename(Path::new("/a/tmp"), Path::new("/b/final"))
        .unwrap();
    vfs.sync_dir(Path::new("/b")).unwrap();
    vfs.crash(CrashMode::LoseUnsynced);
    assert_eq!(contents(&vfs, "/b/final").unwrap(), b"payload");
    assert_eq!(contents(&vfs, "/a/tmp"), None);
}

#[test]
fn random_subsets_keep_whole_writes() {
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..64 {
        let vfs = SimVfs::new(seed);
        let file = durable_file(&vfs);
        file.write_all_at(&[0u8; 4096], 0).unwrap();
        file.sync_data().unwrap();
        for page in 0..4u8 {
            file.write_all_at(&[page + 1; 1024], u64::from(page) * 1024)
                .unwrap();
        }
        vfs.crash(CrashMode::KeepRandomSubset);
        let after = contents(&vfs, "/d/f").unwrap();
        assert_eq!(after.len(), 4096);
        let mut kept = Vec::new();
        for (page, chunk) in after.chunks(1024).enumerate() {
            let new = chunk.iter().all(|&b| b == page as u8 + 1);
            let old = chunk.iter().all(|&b| b == 0);
            assert!(new || old, "seed {seed}: write {page} was torn");
            kept.push(new);
        }
        seen.insert(kept);
    }
    assert!(seen.len() > 4, "subsets vary with the seed: {seen:?}");
}

#[test]
fn torn_writes_keep_or_lose_whole_sectors() {
    let sector = SECTOR_BYTES as usize;
    let mut mixed = 0;
    for seed in 0..64 {
        let vfs = SimVfs::new(seed);
        let file = durable_file(&vfs);
        file.write_all_at(&vec![0u8; 8 * sector], 0).unwrap();
        file.sync_data().unwrap();
        // A write that starts and ends inside sectors.
        let start = sector / 2;
        file.write_all_at(&vec![9u8; 6 * sector], start as u64)
            .unwrap();
        vfs.crash(CrashMode::TornSectors);
        let after = contents(&vfs, "/d/f").unwrap();
        let mut kept = Vec::new();
        for (index, chunk) in after.chunks(sector).enumerate() {
            let lo = start.max(index * sector) - index * sector;
            let hi = (start + 6 * sector)
                .min((index + 1) * sector)
                .saturating_sub(index * sector);
            let written = &chunk[lo.min(hi)..hi];
            if written.is_empty() {
                continue;
            }
            let new = written.iter().all(|&b| b == 9);
            let old = written.iter().all(|&b| b == 0);
            assert!(new || old, "seed {seed}: sector {index} torn inside");
            assert!(chunk[..lo].iter().chain(&chunk[hi..]).all(|&b| b == 0));
            kept.push(new);
        }
        if kept.iter().any(|&k| k) && kept.iter().any(|&k| !k) {
            mixed += 1;
        }
    }
    assert!(mixed > 0, "some write must be torn across sectors");
}

/// A vectored write on the simulated disk is the sequence of its buffers'
/// writes: one mutating operation each, so a crash point can fall between
/// them, and each is kept, lost or torn on its own.
#[test]
fn vectored_writes_crash_as_their_sequence_of_writes() {
    let bufs: [&[u8]; 3] = [&[1u8; 1024], &[2u8; 1024], &[3u8; 1024]];
    // A crash point inside the vectored write keeps the buffers before it.
    for written in 0..=3u64 {
        let vfs = SimVfs::new(written);
        let file = durable_file(&vfs);
        file.write_all_at(&[0u8; 3072], 0).unwrap();
        file.sync_data().unwrap();
        let before = vfs.operations();
        vfs.set_crash_point(Some(before + written));
        let result = file.write_vectored_at(&bufs, 0);
        assert_eq!(result.is_ok(), written == 3, "crash after {written} writes");
        if written == 3 {
            assert_eq!(vfs.operations(), before + 3, "one operation per buffer");
        }
        vfs.crash(CrashMode::ProcessKill);
        let after = contents(&vfs, "/d/f").unwrap();
        for (index, chunk) in after.chunks(1024).enumerate() {
            let expected = if (index as u64) < written {
                index as u8 + 1
            } else {
                0
            };
            assert!(
                chunk.iter().all(|&b| b == expected),
                "crash after {written}: buffer {index}"
            );
        }
    }
    // Power loss after it keeps any subset of the buffers, each whole...
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..64 {
        let vfs = SimVfs::new(seed);
        let file = durable_file(&vfs);
        file.write_all_at(&[0u8; 3072], 0).unwrap();
        file.sync_data().unwrap();
        file.write_vectored_at(&bufs, 0).unwrap();
        vfs.crash(CrashMode::KeepRandomSubset);
        let after = contents(&vfs, "/d/f").unwrap();
        let kept: Vec<bool> = after
            .chunks(1024)
            .enumerate()
            .map(|(index, chunk)| {
                let new = chunk.iter().all(|&b| b == index as u8 + 1);
                assert!(new || chunk.iter().all(|&b| b == 0), "seed {seed}: torn");
                new
            })
            .collect();
        seen.insert(kept);
    }
    assert_eq!(seen.len(), 8, "every subset of three writes: {seen:?}");
    // ...or, torn, any subset of sectors; and a synced one survives whole.
    let vfs = SimVfs::new(5);
    let file = durable_file(&vfs);
    file.write_vectored_at(&bufs, 0).unwrap();
    file.sync_data().unwrap();
    vfs.crash(CrashMode::TornSectors);
    assert_eq!(contents(&vfs, "/d/f").unwrap(), bufs.concat());
}

/// Starting write-back is a hint: on the simulated disk it is no
/// operation (no crash point falls on it) and makes nothing durable.
#[test]
fn starting_write_back_makes_nothing_durable() {
    let vfs = SimVfs::new(3);
    let file = durable_file(&vfs);
    file.write_all_at(b"unsynced", 0).unwrap();
    let before = vfs.operations();
    file.start_writeback(0, 8).unwrap();
    assert_eq!(vfs.operations(), before);
    vfs.crash(CrashMode::LoseUnsynced);
    assert_eq!(contents(&vfs, "/d/f").unwrap(), b"");
}

#[test]
fn the_crash_point_stops_every_later_mutation() {
    let vfs = SimVfs::new(1);
    let file = durable_file(&vfs);
    let start = vfs.operations();
    vfs.set_crash_point(Some(start + 2));
    file.write_all_at(b"a", 0).unwrap();
    file.sync_data().unwrap();
    assert!(!vfs.power_lost());
    let error = file.write_all_at(b"b", 1).unwrap_err();
    assert!(matches!(error, Error::PowerLost { .. }), "{error}");
    assert!(matches!(file.sync_data(), Err(Error::PowerLost { .. })));
    assert!(matches!(
        vfs.open(Path::new("/d/g"), OpenMode::CreateNew),
        Err(Error::PowerLost { .. })
    ));
    assert!(vfs.power_lost());
    // Reads still see the state at the crash point.
    assert_eq!(read_to_end(file.as_ref()).unwrap(), b"a");
    vfs.crash(CrashMode::ProcessKill);
    assert_eq!(contents(&vfs, "/d/f").unwrap(), b"a");
    assert!(!vfs.exists(Path::new("/d/g")).unwrap());
}

#[test]
fn injected_faults_fail_once_or_from_then_on() {
    let vfs = SimVfs::new(1);
    let file = durable_file(&vfs);
    let next = vfs.operations();
    vfs.inject_fault(next + 1, FaultMode::Once);
    file.write_all_at(b"a", 0).unwrap();
    match file.sync_data().unwrap_err() {
        Error::Injected {
            operation, path, ..
        } => {
            assert_eq!(operation, next + 1);
            assert_eq!(path, PathBuf::from("/d/f"));
        }
        other => panic!("expected Injected, got {other}"),
    }
    file.sync_data().unwrap();

    let next = vfs.operations();
    vfs.inject_fault(next, FaultMode::Persistent);
    for _ in 0..3 {
        assert!(matches!(
            file.write_all_at(b"z", 0),
            Err(Error::Injected { .. })
        ));
    }
    assert_eq!(
        read_to_end(file.as_ref()).unwrap(),
        b"a",
        "a failed write has no effect"
    );
    vfs.clear_fault();
    file.write_all_at(b"b", 0).unwrap();
}

#[test]
fn handles_from_before_a_crash_are_stale_and_locks_are_released() {
    let vfs = SimVfs::new(1);
    let file = durable_file(&vfs);
    file.try_lock().unwrap();
    vfs.crash(CrashMode::LoseUnsynced);
    assert!(matches!(file.size(), Err(Error::StaleHandle { .. })));
    assert!(matches!(
        file.write_all_at(b"x", 0),
        Err(Error::StaleHandle { .. })
    ));
    let again = vfs.open(Path::new("/d/f"), OpenMode::Existing).unwrap();
    again.try_lock().unwrap();
}

#[test]
fn corruption_flips_durable_bytes() {
    let vfs = SimVfs::new(1);
    let file = durable_file(&vfs);
    file.write_all_at(&[0u8; 8], 0).unwrap();
    file.sync_data().unwrap();
    assert!(vfs.corrupt(Path::new("/d/f"), 3, 0x10));
    assert!(!vfs.corrupt(Path::new("/d/f"), 8, 0x10));
    assert!(!vfs.corrupt(Path::new("/d/none"), 0, 0x10));
    vfs.crash(CrashMode::LoseUnsynced);
    assert_eq!(contents(&vfs, "/d/f").unwrap(), [0, 0, 0, 0x10, 0, 0, 0, 0]);
}

#[test]
fn the_same_seed_gives_the_same_disk() {
    let run = |seed| {
        let vfs = SimVfs::new(seed);
        let file = durable_file(&vfs);
        for i in 0..32u64 {
            file.write_all_at(&[i as u8; 700], i * 600).unwrap();
        }
        vfs.crash(CrashMode::TornSectors);
        contents(&vfs, "/d/f").unwrap()
    };
    assert_eq!(run(5), run(5));
    assert_ne!(run(5), run(6));
}

#[derive(Debug, Clone)]
enum Action {
    Write {
        file: usize,
        offset: u16,
        len: u16,
        byte: u8,
    },
    SetLen {
        file: usize,
        len: u16,
    },
    Sync {
        file: usize,
    },
    Crash {
        mode: usize,
    },
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (0..2usize, 0..8192u16, 1..2048u16, any::<u8>())
            .prop_map(|(file, offset, len, byte)| Action::Write { file, offset, len, byte }),
        1 => (0..2usize, 0..8192u16).prop_map(|(file, len)| Action::SetLen { file, len }),
        2 => (0..2usize).prop_map(|file| Action::Sync { file }),
        1 => (0..4usize).prop_map(|mode| Action::Crash { mode }),
    ]
}

proptest! {
    /// Against a model that tracks, per file, what is written and what is
    /// synced: a process kill keeps the written state, a power loss the
    /// synced one, and the random modes something in between: each byte
    /// holds its synced value or a value written to it since.
    #[test]
    fn crashes_match_a_model(actions in proptest::collection::vec(action(), 1..60), seed: u64) {
        let vfs = SimVfs::new(seed);
        vfs.create_dir_all(Path::new("/d")).unwrap();
        vfs.sync_dir(Path::new("/")).unwrap();
        let paths = [PathBuf::from("/d/0"), PathBuf::from("/d/1")];
        let mut handles: Vec<FileHandle> = paths
            .iter()
            .map(|p| vfs.open(p, OpenMode::CreateNew).unwrap())
            .collect();
        vfs.sync_dir(Path::new("/d")).unwrap();
        let mut live = [Vec::<u8>::new(), Vec::new()];
        let mut synced = [Vec::<u8>::new(), Vec::new()];
        // Every value each byte held since the last sync, synced one included.
        let mut candidates: [Vec<Vec<u8>>; 2] = [Vec::new(), Vec::new()];
        for action in actions {
            match action {
                Action::Write { file, offset, len, byte } => {
                    handles[file].write_all_at(&vec![byte; len as usize], u64::from(offset)).unwrap();
                    let end = offset as usize + len as usize;
                    if live[file].len() < end { live[file].resize(end, 0); }
                    live[file][offset as usize..end].fill(byte);
                    if candidates[file].len() < end { candidates[file].resize(end, vec![0]); }
                    for values in &mut candidates[file][offset as usize..end] { values.push(byte); }
                }
                Action::SetLen { file, len } => {
                    handles[file].set_len(u64::from(len)).unwrap();
                    live[file].resize(len as usize, 0);
                    if candidates[file].len() < len as usize { candidates[file].resize(len as usize, vec![0]); }
                    for values in candidates[file].iter_mut().skip(len as usize) { values.push(0); }
                }
                Action::Sync { file } => {
                    handles[file].sync_data().unwrap();
                    synced[file] = live[file].clone();
                    candidates[file] = synced[file].iter().map(|&b| vec![b]).collect();
                }
                Action::Crash { mode } => {
                    let mode = CrashMode::ALL[mode];
                    vfs.crash(mode);
                    for file in 0..2 {
                        handles[file] = vfs.open(&paths[file], OpenMode::Existing).unwrap();
                        let after = read_to_end(handles[file].as_ref()).unwrap();
                        match mode {
                            CrashMode::ProcessKill => prop_assert_eq!(&after, &live[file]),
                            CrashMode::LoseUnsynced => prop_assert_eq!(&after, &synced[file]),
                            CrashMode::KeepRandomSubset | CrashMode::TornSectors => {
                                for (index, byte) in after.iter().enumerate() {
                                    let allowed = candidates[file].get(index).is_none_or(|v| v.contains(byte));
                                    prop_assert!(allowed, "file {} byte {} = {}", file, index, byte);
                                }
                            }
                        }
                        live[file] = after.clone();
                        synced[file] = after;
                        candidates[file] = synced[file].iter().map(|&b| vec![b]).collect();
                    }
                }
            }
        }
    }
}

#[test]
fn create_dir_all_durable_survives_power_loss() {
    let vfs = SimVfs::new(1);
    vfs.create_dir_all(Path::new("/a/b")).unwrap();
    vfs.sync_dir(Path::new("/a")).unwrap();
    vfs.crash(CrashMode::LoseUnsynced);
    assert!(
        !vfs.exists(Path::new("/a/b")).unwrap(),
        "plain create_dir_all is not durable"
    );

    keel_io::create_dir_all_durable(&vfs, Path::new("/a/b/c")).unwrap();
    vfs.crash(CrashMode::LoseUnsynced);
    assert!(vfs.exists(Path::new("/a/b/c")).unwrap());
    // Existing directories are fine too.
    keel_io::create_dir_all_durable(&vfs, Path::new("/a/b/c")).unwrap();
}

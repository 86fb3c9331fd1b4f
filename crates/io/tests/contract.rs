//! The `Vfs`/`File` contract, run against every backend: the real file
//! system in a temporary directory, `SimVfs`, and (with the `io-uring`
//! feature) `UringVfs`. A backend that disagrees with another fails here.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use keel_io::{Error, OpenMode, SimVfs, StdVfs, Vfs, WriteAt, read_to_end};

/// Runs `check` against each backend with a fresh, empty root directory.
fn for_each_backend(check: impl Fn(&dyn Vfs, &Path)) {
    let temp = tempfile::tempdir().unwrap();
    check(&StdVfs::new(), &temp.path().join("std"));

    check(&SimVfs::new(1), Path::new("/sim"));

    #[cfg(all(feature = "io-uring", target_os = "linux"))]
    if let Some(uring) = keel_io::UringVfs::new() {
        check(&uring, &temp.path().join("uring"));
    }
}

fn setup(vfs: &dyn Vfs, root: &Path) -> PathBuf {
    vfs.create_dir_all(root).unwrap();
    root.to_path_buf()
}

#[test]
fn open_modes_create_and_refuse_as_documented() {
    for_each_backend(|vfs, root| {
        let root = setup(vfs, root);
        let path = root.join("a");
        let missing = vfs.open(&path, OpenMode::Existing).unwrap_err();
        assert!(missing.is_not_found(), "{missing}");
        assert_eq!(missing.path(), path);
        assert!(
            missing.to_string().contains(&*path.to_string_lossy()),
            "{missing}"
        );

        let file = vfs.open(&path, OpenMode::CreateNew).unwrap();
        file.write_all_at(b"x", 0).unwrap();
        assert!(vfs.exists(&path).unwrap());
        let again = vfs.open(&path, OpenMode::CreateNew).unwrap_err();
        assert_eq!(again.kind(), ErrorKind::AlreadyExists, "{again}");

        // CreateOrOpen opens without truncating.
        let reopened = vfs.open(&path, OpenMode::CreateOrOpen).unwrap();
        assert_eq!(read_to_end(reopened.as_ref()).unwrap(), b"x");
        let created = vfs.open(&root.join("b"), OpenMode::CreateOrOpen).unwrap();
        assert_eq!(created.size().unwrap(), 0);

        // A file in a missing directory cannot be created.
        let orphan = vfs
            .open(&root.join("no-such-dir/c"), OpenMode::CreateNew)
            .unwrap_err();
        assert!(orphan.is_not_found(), "{orphan}");
    });
}

#[test]
fn positional_reads_and_writes() {
    for_each_backend(|vfs, root| {
        let root = setup(vfs, root);
        let file = vfs.open(&root.join("f"), OpenMode::CreateNew).unwrap();
        file.write_all_at(b"hello world", 0).unwrap();
        file.write_all_at(b"W", 6).unwrap();
        let mut buf = [0u8; 5];
        file.read_exact_at(&mut buf, 6).unwrap();
        assert_eq!(&buf, b"World");

        // Writing past the end extends the file with zeros.
        file.write_all_at(b"!", 20).unwrap();
        assert_eq!(file.size().unwrap(), 21);
        let all = read_to_end(file.as_ref()).unwrap();
        assert_eq!(&all[..11], b"hello World");
        assert!(all[11..20].iter().all(|&b| b == 0));
        assert_eq!(all[20], b'!');

        // A write of no bytes extends nothing, past the end neither (the
        // simulator extended the file; the differential proptest found it).
        file.write_all_at(b"", 40).unwrap();
        assert_eq!(file.size().unwrap(), 21);

        // A read at or past the end returns 0; a short read_exact names where.
        let mut tail = [0u8; 8];
        assert_eq!(file.read_at(&mut tail, 21).unwrap(), 0);
        assert_eq!(file.read_at(&mut tail, 100).unwrap(), 0);
        assert_eq!(file.read_at(&mut tail, 18).unwrap(), 3);
        match file.read_exact_at(&mut tail, 18).unwrap_err() {
            Error::UnexpectedEof {
                offset,
                wanted,
                size,
                ..
            } => assert_eq!((offset, wanted, size), (18, 8, 21)),
            other => panic!("expected UnexpectedEof, got {other}"),
        }
        file.sync_data().unwrap();
    });
}

#[test]
fn set_len_and_allocate_change_the_size() {
    for_each_backend(|vfs, root| {
        let root = setup(vfs, root);
        let file = vfs.open(&root.join("f"), OpenMode::CreateNew).unwrap();
        file.write_all_at(&[7u8; 100], 0).unwrap();
        file.set_len(10).unwrap();
        assert_eq!(file.size().unwrap(), 10);
        file.set_len(50).unwrap();
        let all = read_to_end(file.as_ref()).unwrap();
        assert_eq!(all.len(), 50);
        assert!(all[..10].iter().all(|&b| b == 7));
        assert!(
            all[10..].iter().all(|&b| b == 0),
            "extension reads as zeros"
        );

        file.allocate(0, 4096).unwrap();
        assert_eq!(file.size().unwrap(), 4096);
        file.allocate(0, 100).unwrap();
        assert_eq!(file.size().unwrap(), 4096, "allocate never shrinks");
        let all = read_to_end(file.as_ref()).unwrap();
        assert!(all[..10].iter().all(|&b| b == 7), "allocate keeps data");
        assert!(all[10..].iter().all(|&b| b == 0));
    });
}

#[test]
fn vectored_writes_write_the_concatenation() {
    for_each_backend(|vfs, root| {
        let root = setup(vfs, root);
        let file = vfs.open(&root.join("v"), OpenMode::CreateNew).unwrap();
        file.write_all_at(&[7u8; 16], 0).unwrap();
        // Over the old bytes and past the end, with an empty buffer inside.
        file.write_vectored_at(&[b"abc", b"", b"defg", b"hi"], 12)
            .unwrap();
        let all = read_to_end(file.as_ref()).unwrap();
        assert_eq!(&all[..12], &[7u8; 12]);
        assert_eq!(&all[12..], b"abcdefghi");
        // Many page-sized buffers (more than one pwritev takes at once).
        let pages: Vec<Vec<u8>> = (0..1100u32).map(|i| vec![i as u8; 4096]).collect();
        let bufs: Vec<&[u8]> = pages.iter().map(Vec::as_slice).collect();
        file.write_vectored_at(&bufs, 4096).unwrap();
        assert_eq!(file.size().unwrap(), 1101 * 4096);
        let mut page = vec![0u8; 4096];
        for (index, expected) in pages.iter().enumerate() {
            file.read_exact_at(&mut page, 4096 * (index as u64 + 1))
                .unwrap();
            assert_eq!(&page, expected, "page {index}");
        }
        file.write_vectored_at(&[], 0).unwrap();
        file.sync_data().unwrap();
    });
}

#[test]
fn starting_and_waiting_for_write_back_change_no_contents() {
    for_each_backend(|vfs, root| {
        let root = setup(vfs, root);
        let file = vfs.open(&root.join("w"), OpenMode::CreateNew).unwrap();
        file.write_all_at(&[5u8; 8192], 0).unwrap();
        file.start_writeback(0, 8192).unwrap();
        // Past the end, and an empty range, are fine too.
        file.start_writeback(4096, 1 << 20).unwrap();
        file.start_writeback(0, 0).unwrap();
        // Waiting for it, over a started range, past the end and an empty
        // one, changes nothing either.
        file.wait_writeback(0, 8192).unwrap();
        file.wait_writeback(4096, 1 << 20).unwrap();
        file.wait_writeback(0, 0).unwrap();
        assert_eq!(read_to_end(file.as_ref()).unwrap(), vec![5u8; 8192]);
        file.sync_data().unwrap();
    });
}

#[test]
fn write_batch_writes_every_entry() {
    for_each_backend(|vfs, root| {
        let root = setup(vfs, root);
        let file = vfs.open(&root.join("f"), OpenMode::CreateNew).unwrap();
        // More entries than one io_uring submission holds.
        let pages: Vec<Vec<u8>> = (0..150u8).map(|i| vec![i; 512]).collect();
        let writes: Vec<WriteAt<'_>> = pages
            .iter()
            .enumerate()
            .rev()
            .map(|(i, data)| WriteAt {
                offset: i as u64 * 512,
                data,
            })
            .collect();
        file.write_batch(&writes, true).unwrap();
        let all = read_to_end(file.as_ref()).unwrap();
        assert_eq!(all.len(), 150 * 512);
        for (i, chunk) in all.chunks(512).enumerate() {
            assert!(chunk.iter().all(|&b| b == i as u8), "page {i}");
        }
        file.write_batch(&[], true).unwrap();
        file.write_batch(&writes[..1], false).unwrap();
    });
}

#[test]
fn directory_operations() {
    for_each_backend(|vfs, root| {
        let root = setup(vfs, root);
        let nested = root.join("x/y/z");
        vfs.create_dir_all(&nested).unwrap();
        vfs.create_dir_all(&nested).unwrap();
        assert!(vfs.exists(&nested).unwrap());
        vfs.sync_dir(&nested).unwrap();
        let missing = vfs.sync_dir(&root.join("missing")).unwrap_err();
        assert!(missing.is_not_found(), "{missing}");

        for name in ["c", "a", "b"] {
            vfs.open(&root.join(name), OpenMode::CreateNew)
                .unwrap()
                .write_all_at(name.as_bytes(), 0)
                .unwrap();
        }
        let listed = vfs.list(&root).unwrap();
        let expected: Vec<PathBuf> = ["a", "b", "c", "x"].iter().map(|n| root.join(n)).collect();
        assert_eq!(listed, expected);
        assert!(vfs.list(&root.join("missing")).unwrap_err().is_not_found());

        // Rename replaces the target atomically.
        vfs.rename(&root.join("a"), &root.join("b")).unwrap();
        assert!(!vfs.exists(&root.join("a")).unwrap());
        let b = vfs.open(&root.join("b"), OpenMode::Existing).unwrap();
        assert_eq!(read_to_end(b.as_ref()).unwrap(), b"a");
        assert!(
            vfs.rename(&root.join("a"), &root.join("d"))
                .unwrap_err()
                .is_not_found()
        );

        vfs.remove(&root.join("c")).unwrap();
        assert!(!vfs.exists(&root.join("c")).unwrap());
        assert!(vfs.remove(&root.join("c")).unwrap_err().is_not_found());
        vfs.sync_dir(&root).unwrap();
    });
}

#[test]
fn a_lock_excludes_other_handles_until_dropped() {
    for_each_backend(|vfs, root| {
        let root = setup(vfs, root);
        let path = root.join("LOCK");
        let first = vfs.open(&path, OpenMode::CreateNew).unwrap();
        first.try_lock().unwrap();
        let second = vfs.open(&path, OpenMode::Existing).unwrap();
        match second.try_lock().unwrap_err() {
            Error::Locked { path: locked } => assert_eq!(locked, path),
            other => panic!("expected Locked, got {other}"),
        }
        drop(first);
        second.try_lock().unwrap();
    });
}

#[test]
fn handles_are_shared_between_threads() {
    for_each_backend(|vfs, root| {
        let root = setup(vfs, root);
        let file = vfs.open(&root.join("f"), OpenMode::CreateNew).unwrap();
        std::thread::scope(|scope| {
            for thread in 0..4u64 {
                let file = Arc::clone(&file);
                scope.spawn(move || {
                    for i in 0..64u64 {
                        let offset = (i * 4 + thread) * 8;
                        file.write_all_at(&offset.to_le_bytes(), offset).unwrap();
                    }
                });
            }
        });
        let all = read_to_end(file.as_ref()).unwrap();
        for (slot, chunk) in all.chunks(8).enumerate() {
            let value = u64::from_le_bytes(chunk.try_into().unwrap());
            assert_eq!(value, slot as u64 * 8);
        }
    });
}

mod differential {
    //! Random operation sequences on the real file system and on `SimVfs`
    //! must leave the same files with the same bytes: without crashes the
    //! simulator is only useful if it behaves exactly like the real thing.

    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Action {
        Create {
            name: u8,
        },
        Write {
            name: u8,
            offset: u16,
            len: u16,
            byte: u8,
        },
        SetLen {
            name: u8,
            len: u16,
        },
        Allocate {
            name: u8,
            offset: u16,
            len: u16,
        },
        Rename {
            from: u8,
            to: u8,
        },
        Remove {
            name: u8,
        },
        Sync {
            name: u8,
        },
    }

    fn action() -> impl Strategy<Value = Action> {
        let name = 0..4u8;
        prop_oneof![
            1 => name.clone().prop_map(|name| Action::Create { name }),
            4 => (name.clone(), any::<u16>(), 0..3000u16, any::<u8>())
                .prop_map(|(name, offset, len, byte)| Action::Write { name, offset, len, byte }),
            1 => (name.clone(), any::<u16>()).prop_map(|(name, len)| Action::SetLen { name, len }),
            1 => (name.clone(), any::<u16>(), any::<u16>())
                .prop_map(|(name, offset, len)| Action::Allocate { name, offset, len }),
            1 => (name.clone(), name.clone()).prop_map(|(from, to)| Action::Rename { from, to }),
            1 => name.clone().prop_map(|name| Action::Remove { name }),
            1 => name.prop_map(|name| Action::Sync { name }),
        ]
    }

    /// Applies one action; the outcome is Ok or the error kind.
    fn apply(vfs: &dyn Vfs, root: &Path, action: &Action) -> std::result::Result<(), ErrorKind> {
        let path = |name: u8| root.join(format!("f{name}"));
        let result = match action {
            Action::Create { name } => vfs.open(&path(*name), OpenMode::CreateNew).map(drop),
            Action::Write {
                name,
                offset,
                len,
                byte,
            } => vfs
                .open(&path(*name), OpenMode::Existing)
                .and_then(|f| f.write_all_at(&vec![*byte; *len as usize], u64::from(*offset))),
            Action::SetLen { name, len } => vfs
                .open(&path(*name), OpenMode::Existing)
                .and_then(|f| f.set_len(u64::from(*len))),
            Action::Allocate { name, offset, len } => vfs
                .open(&path(*name), OpenMode::Existing)
                .and_then(|f| f.allocate(u64::from(*offset), u64::from(*len))),
            Action::Rename { from, to } => vfs.rename(&path(*from), &path(*to)),
            Action::Remove { name } => vfs.remove(&path(*name)),
            Action::Sync { name } => vfs
                .open(&path(*name), OpenMode::Existing)
                .and_then(|f| f.sync_data()),
        };
        result.map_err(|e| e.kind())
    }

    fn snapshot(vfs: &dyn Vfs, root: &Path) -> Vec<(String, Vec<u8>)> {
        vfs.list(root)
            .unwrap()
            .into_iter()
            .map(|path| {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                let file = vfs.open(&path, OpenMode::Existing).unwrap();
                (name, read_to_end(file.as_ref()).unwrap())
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn std_and_sim_agree(actions in proptest::collection::vec(action(), 1..40)) {
            let temp = tempfile::tempdir().unwrap();
            let real = StdVfs::new();
            let sim = SimVfs::new(0);
            let sim_root = Path::new("/r");
            sim.create_dir_all(sim_root).unwrap();
            for action in &actions {
                let expected = apply(&real, temp.path(), action);
                let found = apply(&sim, sim_root, action);
                prop_assert_eq!(expected, found, "{:?}", action);
            }
            prop_assert_eq!(snapshot(&real, temp.path()), snapshot(&sim, sim_root));
        }
    }
}

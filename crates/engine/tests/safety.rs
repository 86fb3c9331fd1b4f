#![allow(clippy::unwrap_used)] // Tests: a failed step should stop the test loudly.
//! Handles and transactions that must refuse what they cannot do (issue
//! 16, item 6), the read-only open (item 4), and a damaged log seen from
//! the engine (items 3 and 5).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{kill, numbered_key as key, options, present};
use keel::{Database, Error, Options, RecoveryMode};
use keel_io::{OpenMode, SimVfs, Vfs};

const DIR: &str = "/db";

fn shared(vfs: &SimVfs) -> Arc<dyn Vfs> {
    Arc::new(vfs.clone())
}

fn open(vfs: &SimVfs) -> keel::Result<Database> {
    Database::open_with_vfs(shared(vfs), Path::new(DIR), options())
}

/// Every file under `dir` with its bytes.
fn snapshot(vfs: &SimVfs, dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    for path in vfs.list(dir).unwrap() {
        match vfs.open(&path, OpenMode::Existing) {
            Ok(file) => {
                let mut bytes = vec![0u8; file.size().unwrap() as usize];
                file.read_exact_at(&mut bytes, 0).unwrap();
                files.insert(path, bytes);
            }
            Err(_) => files.extend(snapshot(vfs, &path)),
        }
    }
    files
}

/// 200 acknowledged commits, a checkpoint part way, then a kill: the next
/// open has a log to replay.
fn crashed_database(vfs: &SimVfs) {
    let db = open(vfs).unwrap();
    let keyspace = db.default_keyspace();
    for index in 0..200 {
        if index == 80 {
            db.checkpoint().unwrap();
        }
        db.update(|tx| tx.put(&keyspace, key(index), index.to_le_bytes()))
            .unwrap();
    }
    kill(vfs, db);
}

#[test]
fn a_keyspace_of_another_database_is_refused() {
    let vfs = SimVfs::new(1);
    let a = open(&vfs).unwrap();
    let b = Database::open_with_vfs(shared(&vfs), Path::new("/other"), options()).unwrap();
    let a_default = a.default_keyspace();
    a.update(|tx| tx.put(&a_default, b"k", "a's")).unwrap();
    let b_default = b.default_keyspace();
    let mut tx = a.begin(keel::Isolation::Serializable);
    for result in [
        tx.put(&b_default, b"k", "b's"),
        tx.delete(&b_default, b"k"),
        tx.get(&b_default, b"k").map(|_| ()),
        tx.range(&b_default, ..).map(|_| ()),
    ] {
        assert!(
            matches!(&result, Err(Error::ForeignKeyspace { name }) if name == "default"),
            "{result:?}"
        );
    }
    tx.commit().unwrap();
    let value = a.view(|tx| tx.get(&a_default, b"k")).unwrap();
    assert_eq!(value.as_deref(), Some(&b"a's"[..]));
}

#[test]
fn writes_in_a_read_only_transaction_are_refused() {
    let vfs = SimVfs::new(2);
    let db = open(&vfs).unwrap();
    let keyspace = db.default_keyspace();
    let result = db.view(|tx| tx.put(&keyspace, b"k", "v"));
    assert!(matches!(result, Err(Error::ReadOnly)), "{result:?}");
    let mut tx = db.begin_read();
    assert!(tx.is_read_only());
    assert!(matches!(tx.delete(&keyspace, b"k"), Err(Error::ReadOnly)));
    tx.commit().unwrap();
    assert_eq!(db.view(|tx| tx.get(&keyspace, b"k")).unwrap(), None);
}

#[test]
fn a_transaction_outliving_its_database_fails() {
    let vfs = SimVfs::new(3);
    let db = open(&vfs).unwrap();
    let keyspace = db.default_keyspace();
    db.update(|tx| tx.put(&keyspace, b"k", "v")).unwrap();
    let mut tx = db.begin(keel::Isolation::Snapshot);
    db.close().unwrap();
    assert!(matches!(tx.get(&keyspace, b"k"), Err(Error::Closed)));
    assert!(matches!(tx.put(&keyspace, b"k", "w"), Err(Error::Closed)));
    assert!(matches!(tx.range(&keyspace, ..), Err(Error::Closed)));
    assert!(matches!(tx.commit(), Err(Error::Closed)));
}

/// A read-only open recovers in memory — the replayed commits are there —
/// and leaves every byte of the directory as it was.
#[test]
fn a_read_only_open_changes_no_file() {
    let vfs = SimVfs::new(4);
    crashed_database(&vfs);
    let before = snapshot(&vfs, Path::new(DIR));
    let db = Database::open_read_only_with_vfs(shared(&vfs), Path::new(DIR), options()).unwrap();
    assert!(db.is_read_only());
    assert!(db.stats().recovery.commits_replayed > 0);
    assert!(present(&db, 0..200).iter().all(|&present| present));
    let keyspace = db.default_keyspace();
    assert_eq!(db.check().unwrap(), Vec::<String>::new());
    assert!(matches!(
        db.update(|tx| tx.put(&keyspace, b"x", "y")),
        Err(Error::ReadOnly)
    ));
    assert!(matches!(db.keyspace("new"), Err(Error::ReadOnly)));
    assert!(matches!(db.checkpoint(), Err(Error::ReadOnly)));
    db.close().unwrap();
    assert!(snapshot(&vfs, Path::new(DIR)) == before, "a file changed");
    // A read-write open afterwards recovers the same.
    let db = open(&vfs).unwrap();
    assert_eq!(db.stats().recovery.commits_replayed, 120);
}

/// The segment holding the commits.
fn commit_segment(vfs: &SimVfs) -> PathBuf {
    let mut segments = vfs.list(&Path::new(DIR).join("wal")).unwrap();
    segments.sort();
    segments.into_iter().next().unwrap()
}

/// Issue 16, item 3: after 200 `Sync` commits and a kill, the log segment
/// is shortened. Strict (read-write or read-only) refuses, naming the
/// file; point-in-time opens what is left and sets the segment aside.
#[test]
fn a_shortened_log_is_refused_not_opened_with_fewer_commits() {
    for len in [30_000u64, 100, 0] {
        let vfs = SimVfs::new(5);
        crashed_database(&vfs);
        let segment = commit_segment(&vfs);
        let file = vfs.open(&segment, OpenMode::Existing).unwrap();
        file.set_len(len).unwrap();
        file.sync_data().unwrap();
        drop(file);
        let before = snapshot(&vfs, Path::new(DIR));
        let name = segment.display().to_string();
        let error = open(&vfs).unwrap_err();
        assert!(error.to_string().contains(&name), "{len}: {error}");
        let error =
            Database::open_read_only_with_vfs(shared(&vfs), Path::new(DIR), options()).unwrap_err();
        assert!(error.to_string().contains(&name), "{len}: {error}");
        assert!(
            snapshot(&vfs, Path::new(DIR)) == before,
            "{len}: a refused open changed a file"
        );
        // Point-in-time recovery opens the commits before the cut.
        let point_in_time = Options {
            recovery_mode: RecoveryMode::PointInTime,
            ..options()
        };
        let db = Database::open_with_vfs(shared(&vfs), Path::new(DIR), point_in_time).unwrap();
        assert!(db.stats().recovery.log_damage_skipped, "{len}");
        let present = present(&db, 0..200);
        let kept = present.iter().take_while(|&&present| present).count();
        assert!(
            present[kept..].iter().all(|&present| !present),
            "{len}: a prefix"
        );
        assert!(len < 30_000 || kept > 80, "{len}: kept {kept}");
        drop(db);
        assert_eq!(open(&vfs).unwrap().check().unwrap(), Vec::<String>::new());
    }
}

/// Issue 16, item 5: point-in-time recovery of damage inside the log sets
/// the rest aside (renamed) and deletes nothing; the database opens with
/// the commits before the damage, and opens again Strict afterwards.
#[test]
fn point_in_time_recovery_sets_the_damaged_log_aside() {
    let vfs = SimVfs::new(6);
    crashed_database(&vfs);
    let segment = commit_segment(&vfs);
    let size = vfs
        .open(&segment, OpenMode::Existing)
        .unwrap()
        .size()
        .unwrap();
    // Damage well inside the records after the checkpoint: three quarters
    // of the way to the end of what was written.
    let bytes = &snapshot(&vfs, Path::new(DIR))[&segment];
    let written = bytes.iter().rposition(|&byte| byte != 0).unwrap() as u64;
    assert!(vfs.corrupt(&segment, written * 3 / 4, 0x10));
    assert!(
        open(&vfs).is_err(),
        "Strict refuses damage in the durable log"
    );
    let point_in_time = Options {
        recovery_mode: RecoveryMode::PointInTime,
        ..options()
    };
    let db = Database::open_with_vfs(shared(&vfs), Path::new(DIR), point_in_time).unwrap();
    assert!(db.stats().recovery.log_damage_skipped);
    let present = present(&db, 0..200);
    let kept = present.iter().take_while(|&&present| present).count();
    assert!((80..200).contains(&kept), "kept {kept}");
    assert!(present[kept..].iter().all(|&present| !present), "a prefix");
    drop(db);
    let mut aside = segment.as_os_str().to_owned();
    aside.push(".discarded");
    let aside = vfs.open(Path::new(&aside), OpenMode::Existing).unwrap();
    assert_eq!(aside.size().unwrap(), size, "set aside whole");
    let db = open(&vfs).unwrap();
    assert_eq!(db.check().unwrap(), Vec::<String>::new());
}

//! Failed writes and syncs: the first one latches the pager failed for
//! writes (a failed fsync is never retried), reads of what is in memory go
//! on, and reopening gives the last durable checkpoint.

#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::{Model, contents, options, verify};
use keel_io::{FaultMode, Op, SimVfs};
use keel_pager::{Error, PageId, Pager};

const PATH: &str = "/db/pages";

fn open(vfs: &SimVfs, frames: u64) -> Pager {
    Pager::open(Arc::new(vfs.clone()), Path::new(PATH), options(frames)).unwrap()
}

fn fill(pager: &Pager, model: &mut Model, pages: u64, stamp: u64) -> keel_pager::Result<()> {
    for offset in 0..pages {
        let mut guard = pager.allocate()?;
        let page = guard.page_id();
        let bytes = contents(page, stamp + offset);
        guard.copy_from_slice(&bytes);
        model.pages.insert(page, bytes);
    }
    Ok(())
}

#[test]
fn every_failed_checkpoint_operation_poisons_and_loses_nothing_durable() {
    // Find how many mutating operations a checkpoint makes, then fail each.
    let probe = SimVfs::new(9);
    let pager = open(&probe, 64);
    let mut durable = Model::default();
    fill(&pager, &mut durable, 10, 0).unwrap();
    pager.checkpoint(b"one").unwrap();
    let before = probe.operations();
    let mut scratch = durable.clone();
    fill(&pager, &mut scratch, 10, 100).unwrap();
    pager.checkpoint(b"two").unwrap();
    let checkpoint_operations = probe.operations() - before;
    assert!(checkpoint_operations >= 4, "{checkpoint_operations}");

    for failing in 0..checkpoint_operations {
        let vfs = SimVfs::new(9);
        let pager = open(&vfs, 64);
        let mut model = Model::default();
        fill(&pager, &mut model, 10, 0).unwrap();
        pager.checkpoint(b"one").unwrap();
        let mut newer = model.clone();
        fill(&pager, &mut newer, 10, 100).unwrap();
        vfs.inject_fault(vfs.operations() + failing, FaultMode::Once);
        let error = pager.checkpoint(b"two").unwrap_err();
        let Error::Io(io) = &error else {
            panic!("expected an I/O error, got {error}")
        };
        if io.op() == Op::Allocate {
            // Growing the file failed (no space): nothing was written, so
            // nothing is latched and the checkpoint can be retried.
            verify(&pager, &newer).unwrap();
            pager.checkpoint(b"two").unwrap();
            drop(pager);
            verify(&open(&vfs, 64), &newer).unwrap();
            continue;
        }
        // Latched: no retry of a failed write or sync.
        assert!(matches!(
            pager.checkpoint(b"again"),
            Err(Error::Poisoned(_))
        ));
        // Reads of the current state still work.
        verify(&pager, &newer).unwrap();
        drop(pager);
        let pager = open(&vfs, 64);
        // The failed checkpoint's meta slot may have been written before
        // its sync failed; either state is whole.
        match pager.checkpoint_id() {
            1 => verify(&pager, &model).unwrap(),
            2 => verify(&pager, &newer).unwrap(),
            other => panic!("checkpoint {other} after a failed second checkpoint"),
        }
    }
}

#[test]
fn a_failed_dirty_eviction_poisons_writes_but_not_reads() {
    let vfs = SimVfs::new(4);
    let pager = open(&vfs, 8);
    let mut model = Model::default();
    fill(&pager, &mut model, 8, 0).unwrap();
    pager.checkpoint(b"one").unwrap();
    let durable = model.clone();
    // Dirty all eight frames, then make the next write fail: the eviction
    // that the ninth page needs cannot write its victim.
    for (&page, bytes) in model.pages.iter_mut() {
        *bytes = contents(page, 50);
        pager.exclusive(page).unwrap().copy_from_slice(bytes);
    }
    vfs.inject_fault(vfs.operations(), FaultMode::Persistent);
    let error = fill(&pager, &mut model.clone(), 1, 99).unwrap_err();
    assert!(matches!(error, Error::Io(_)), "{error}");
    assert!(matches!(pager.checkpoint(b"two"), Err(Error::Poisoned(_))));
    // Every page is still readable from memory, as last written.
    verify(&pager, &model).unwrap();
    drop(pager);
    vfs.clear_fault();
    let pager = open(&vfs, 8);
    assert_eq!(pager.checkpoint_id(), 1);
    verify(&pager, &durable).unwrap();
}

#[test]
fn a_failed_read_is_an_error_and_the_next_read_retries() {
    let vfs = SimVfs::new(2);
    let pager = open(&vfs, 8);
    let mut model = Model::default();
    fill(&pager, &mut model, 4, 0).unwrap();
    pager.checkpoint(&[]).unwrap();
    drop(pager);
    let pager = open(&vfs, 8);
    // Reads do not count as mutating operations in SimVfs, so damage the
    // page instead and repair it: the failed load leaves no trace.
    let page = PageId::new(2);
    let bytes = keel_io::read_to_end(
        &*keel_io::Vfs::open(&vfs, Path::new(PATH), keel_io::OpenMode::Existing).unwrap(),
    )
    .unwrap();
    let block = bytes
        .chunks_exact(4096)
        .position(|block| block == model.pages[&page])
        .unwrap() as u64;
    assert!(vfs.corrupt(Path::new(PATH), block * 4096, 0xFF));
    assert!(matches!(
        pager.read(page, |v| v.u8_at(0)),
        Err(Error::Corruption { .. })
    ));
    assert!(vfs.corrupt(Path::new(PATH), block * 4096, 0xFF));
    assert_eq!(
        pager.read(page, |v| v.to_vec(0, 4096)).unwrap(),
        model.pages[&page]
    );
}

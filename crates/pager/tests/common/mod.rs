//! What the pager's scenario tests share: small-pool options, a model of
//! the pages, and a verifier.

// Each test is a crate of its own that uses part of this module.
#![allow(dead_code)]

use std::collections::BTreeMap;

use keel_pager::{PageId, Pager, PagerOptions};

pub const PAGE_SIZE: usize = 4096;

/// Options with a pool of `frames` pages and growth in small steps, so that
/// eviction, growth and shrinking all happen in small tests.
pub fn options(frames: u64) -> PagerOptions {
    PagerOptions {
        page_size: PAGE_SIZE as u32,
        pool_bytes: frames * PAGE_SIZE as u64,
        growth_bytes_min: 4 * PAGE_SIZE as u64,
        growth_bytes_max: 16 * PAGE_SIZE as u64,
        ..PagerOptions::default()
    }
}

/// The pages as they should be.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Model {
    pub pages: BTreeMap<PageId, Vec<u8>>,
}

/// The contents a page gets from a write with `stamp`: distinct per page
/// and stamp in every 8-byte word, so a torn or stale page cannot pass.
pub fn contents(page: PageId, stamp: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; PAGE_SIZE];
    for (index, word) in bytes.chunks_exact_mut(8).enumerate() {
        let value = page.get().wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ stamp.wrapping_mul(0xC2B2_AE3D_27D4_EB4F)
            ^ index as u64;
        word.copy_from_slice(&value.to_le_bytes());
    }
    bytes
}

/// Checks that `pager` holds exactly the model's pages, byte for byte.
pub fn verify(pager: &Pager, model: &Model) -> Result<(), String> {
    let allocated = pager.allocated_pages().unwrap();
    let expected: Vec<PageId> = model.pages.keys().copied().collect();
    if allocated != expected {
        return Err(format!(
            "allocated pages {allocated:?}, expected {expected:?}"
        ));
    }
    for (&page, bytes) in &model.pages {
        let found = pager
            .read(page, |view| view.to_vec(0, view.len()))
            .map_err(|error| format!("page {page}: {error}"))?;
        if &found != bytes {
            let first = found.iter().zip(bytes).position(|(a, b)| a != b);
            return Err(format!("page {page} differs from byte {first:?} on"));
        }
    }
    Ok(())
}

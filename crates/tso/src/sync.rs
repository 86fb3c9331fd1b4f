//! The atomics of the lock-free paths, from std normally and from loom under
//! `--cfg loom`, so that `tests/loom_clock.rs` can model-check every
//! interleaving of the hybrid clock (and of [`ManualClock`](crate::ManualClock),
//! which the models use as their wall clock).
//!
//! The oracle's persistence mutex is deliberately not swapped: it guards file
//! I/O, which loom cannot model, and no loom model builds an oracle.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU64, Ordering};

//! Atomics and threads that loom can model: loom's under `--cfg loom`,
//! std's otherwise. Every lock-free protocol of the pager (the latch word,
//! pinning against eviction) is written against these names.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{
    AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence,
};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{
    AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering, fence,
};

/// Gives the processor (or, under loom, the model's scheduler) to another
/// thread while waiting for a latch.
pub(crate) fn spin_wait(round: &mut u32) {
    #[cfg(loom)]
    {
        let _ = round;
        loom::thread::yield_now();
    }
    #[cfg(not(loom))]
    {
        // A latch is held for microseconds: spin briefly, then yield.
        if *round < SPINS_BEFORE_YIELD {
            for _ in 0..(1u32 << (*round).min(6)) {
                std::hint::spin_loop();
            }
        } else {
            std::thread::yield_now();
        }
        *round = round.saturating_add(1);
    }
}

/// Spin rounds before a waiting thread starts yielding.
#[cfg(not(loom))]
const SPINS_BEFORE_YIELD: u32 = 10;

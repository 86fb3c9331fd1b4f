#![allow(clippy::unwrap_used)] // Tests: a failed unwrap is a failed test.
//! Two-phase commit through crashes, as CI runs it: every crash point of a
//! run of global transactions over two databases, in every crash mode,
//! with the whole system, participant A, participant B or the
//! coordinator's decision log on the disk that dies (one test each); and
//! concurrent bank transfers through sampled crashes. Every global
//! transaction must end committed on both participants or on neither. A
//! long run is the same tests with a bigger budget from the environment:
//!
//! ```text
//! KEEL_TORTURE_2PC_TRANSFERS=8 KEEL_TORTURE_2PC_SEEDS=20 \
//! KEEL_TORTURE_2PC_CONCURRENT_POINTS=64 \
//!     cargo test --release -p keel-torture --test two_phase -- --nocapture
//! ```

use keel_torture::two_phase::{Layout, TwoPhaseConfig, concurrent_sweep, sweep};

fn config() -> TwoPhaseConfig {
    TwoPhaseConfig::from_env(TwoPhaseConfig::default()).unwrap()
}

fn sweep_layout(layout: Layout) {
    let config = config();
    let mut images = 0;
    for report in sweep(&config, layout) {
        assert!(report.is_clean(), "{layout:?}: {report}");
        assert!(
            report.operations > 10,
            "{layout:?}: only {} operations: too little to test",
            report.operations
        );
        images += report.images;
        println!("two-phase commit, {layout:?}: {report}");
    }
    assert!(images > 0);
}

#[test]
fn every_crash_point_of_the_whole_system_ends_all_or_nothing() {
    sweep_layout(Layout::Shared);
}

#[test]
fn every_crash_point_of_participant_a_ends_all_or_nothing() {
    sweep_layout(Layout::ParticipantA);
}

#[test]
fn every_crash_point_of_participant_b_ends_all_or_nothing() {
    sweep_layout(Layout::ParticipantB);
}

#[test]
fn every_crash_point_of_the_coordinator_ends_all_or_nothing() {
    sweep_layout(Layout::Coordinator);
}

#[test]
fn concurrent_transfers_across_two_databases_keep_the_total_through_crashes() {
    let config = config();
    let mut images = 0;
    for report in concurrent_sweep(&config) {
        assert!(report.is_clean(), "{report}");
        images += report.images;
    }
    println!("two-phase commit, concurrent transfers: {images} crash images");
    assert!(images >= 4 * config.concurrent_points as u64);
}

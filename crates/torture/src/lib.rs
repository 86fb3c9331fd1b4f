//! keel-torture: a deterministic whole-engine crash simulator.
//!
//! [`simulator::run`] drives a [`keel::Database`] on a simulated disk
//! ([`keel_io::SimVfs`]) through rounds of work and crashes, all chosen by
//! one seed, and checks every recovered state against a [`model::Model`]:
//! the state after some prefix of the commits, never fewer than were
//! acknowledged durable, never a write that was not committed.
//!
//! * `config.rs`: [`Config`] — seeds, image or time budget, from the
//!   environment for long runs.
//! * `disk.rs`: the honest simulated disk, or one that ignores `fsync`
//!   (the simulator's self-test).
//! * `model.rs`: the visible state and the commit history.
//! * `scheduler.rs`: the seeded choice of steps among several open
//!   transactions.
//! * `workload.rs`: the steps, against the database and the model.
//! * `simulator.rs`: rounds, crashes, recovery and verification.
//! * `report.rs`: counts, findings and the printable [`Report`].
//! * `trace.rs`: the run's event hash and recent events.
//!
//! [`kill_loop::run`] is the same idea on the real file system: child
//! processes ([`kill_child`]) committing from several threads, killed with
//! SIGKILL back to back, each recovering the last one's crash.
//!
//! The simulator prepares some transactions for two-phase commit and
//! decides them rounds (and crashes) later; [`two_phase`]: two-phase
//! commit across two databases and a
//! [`keel::Coordinator`], every crash point of a run of global
//! transactions swept on [`keel_io::CrashSweep`] with the whole system, one
//! participant or the coordinator's decision log on the disk that dies;
//! and bank transfers from several threads through crashes.

pub mod config;
pub mod disk;
pub mod kill_child;
pub mod kill_loop;
pub mod model;
pub mod report;
pub mod scheduler;
pub mod simulator;
pub mod trace;
pub mod two_phase;
pub mod workload;

pub use config::{Config, ConfigError};
pub use disk::Disk;
pub use report::{Counts, CrashRecord, Divergence, Finding, Report};

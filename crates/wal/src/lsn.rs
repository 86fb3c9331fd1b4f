//! Log sequence numbers.

use std::fmt;

/// A log sequence number: the position of a record in the log, counting
/// records from 1. Record order is append order, which the engine makes
/// commit-timestamp order. `Lsn::ZERO` comes before every record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Lsn(pub u64);

impl Lsn {
    /// Before every record: "nothing yet".
    pub const ZERO: Lsn = Lsn(0);
    /// The first record of a new log.
    pub const FIRST: Lsn = Lsn(1);

    /// The record after this one.
    pub fn next(self) -> Lsn {
        Lsn(self.0 + 1)
    }

    /// The record before this one (`ZERO` stays `ZERO`).
    pub fn previous(self) -> Lsn {
        Lsn(self.0.saturating_sub(1))
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

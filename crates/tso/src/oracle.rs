//! [`TimestampOracle`]: where transactions get their timestamps.

use crate::error::Result;
use crate::timestamp::Timestamp;
use crate::timestamp_range::TimestampRange;

/// A source of unique, strictly increasing timestamps that never goes
/// backwards, not even across a crash and restart.
///
/// [`LocalOracle`](crate::LocalOracle) is the single-node implementation; a
/// replicated deployment can put a remote oracle behind the same trait.
pub trait TimestampOracle: Send + Sync {
    /// A timestamp strictly greater than every timestamp this oracle handed
    /// out before, in this process or before a crash.
    fn next(&self) -> Result<Timestamp>;

    /// `count` timestamps with consecutive raw values, all strictly greater
    /// than every timestamp handed out before. A `count` of zero is an error.
    fn next_batch(&self, count: u32) -> Result<TimestampRange>;

    /// Makes every timestamp handed out from now on strictly greater than
    /// `timestamp`: recovery calls it with the largest timestamp it found
    /// persisted elsewhere (in the write-ahead log, say).
    fn advance_to(&self, timestamp: Timestamp) -> Result<()>;

    /// The largest timestamp handed out (or advanced to) so far, without
    /// issuing one.
    fn last_issued(&self) -> Timestamp;
}

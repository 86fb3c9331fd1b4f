//! [`Timestamp`]: a hybrid-logical-clock value in one `u64`.
//!
//! ```text
//!  63                                   16 15              0
//! +---------------------------------------+----------------+
//! | physical: ms since the Unix epoch (48) | logical (16)   |
//! +---------------------------------------+----------------+
//! ```
//!
//! Because the physical part sits in the high bits, comparing the raw
//! `u64`s compares (physical, logical) lexicographically, and adding one to
//! the raw value carries a full logical counter into the physical part.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};

/// Bits of a timestamp that hold the physical time (milliseconds since the
/// Unix epoch): enough until the year 10889.
pub const PHYSICAL_BITS: u32 = 48;

/// Bits of a timestamp that hold the logical counter: 65 536 timestamps per
/// millisecond before the physical part has to run ahead of the wall clock.
pub const LOGICAL_BITS: u32 = 16;

/// The largest logical counter.
pub const LOGICAL_MAX: u16 = u16::MAX;

/// The largest physical time, in milliseconds since the Unix epoch.
pub const PHYSICAL_MAX_MS: u64 = (1 << PHYSICAL_BITS) - 1;

/// The bits of the raw value that hold the logical counter.
pub const LOGICAL_MASK: u64 = (1 << LOGICAL_BITS) - 1;

const _: () = assert!(PHYSICAL_BITS + LOGICAL_BITS == u64::BITS);
const _: () = assert!(LOGICAL_MAX as u64 == LOGICAL_MASK);
const _: () = assert!(PHYSICAL_MAX_MS == u64::MAX >> LOGICAL_BITS);

const MILLISECONDS_PER_SECOND: u64 = 1_000;
const SECONDS_PER_DAY: u64 = 86_400;
const MILLISECONDS_PER_DAY: u64 = SECONDS_PER_DAY * MILLISECONDS_PER_SECOND;

/// A hybrid-logical-clock timestamp: 48 bits of physical milliseconds since
/// the Unix epoch, then 16 bits of logical counter. Ordered as its raw
/// `u64`; every `u64` is a valid timestamp.
///
/// ```
/// use keel_tso::Timestamp;
///
/// let timestamp = Timestamp::new(1_795_345_560_123, 5)?;
/// assert_eq!(timestamp.physical_ms(), 1_795_345_560_123);
/// assert_eq!(timestamp.logical(), 5);
/// assert_eq!(timestamp.to_string(), "2026-11-22T11:06:00.123Z+5");
/// assert!(timestamp < timestamp.successor().unwrap());
/// # Ok::<(), keel_tso::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The smallest timestamp: the Unix epoch, logical 0.
    pub const ZERO: Timestamp = Timestamp(0);

    /// The largest timestamp; nothing is greater.
    pub const MAX: Timestamp = Timestamp(u64::MAX);

    /// Bytes of [`Timestamp::to_le_bytes`].
    pub const BYTES: usize = size_of::<u64>();

    /// Packs a physical time and a logical counter.
    ///
    /// Fails with [`Error::PhysicalOutOfRange`] if `physical_ms` does not fit
    /// in [`PHYSICAL_BITS`] bits (checked in release builds too: a silently
    /// truncated physical part would order the timestamp wrongly).
    pub fn new(physical_ms: u64, logical: u16) -> Result<Timestamp> {
        if physical_ms > PHYSICAL_MAX_MS {
            return Err(Error::PhysicalOutOfRange { physical_ms });
        }
        Ok(Timestamp::from_parts(physical_ms, logical))
    }

    /// Packs parts already known to be in range.
    pub(crate) const fn from_parts(physical_ms: u64, logical: u16) -> Timestamp {
        debug_assert!(physical_ms <= PHYSICAL_MAX_MS);
        Timestamp((physical_ms << LOGICAL_BITS) | logical as u64)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn physical_ms(self) -> u64 {
        self.0 >> LOGICAL_BITS
    }

    /// The logical counter within the millisecond.
    pub const fn logical(self) -> u16 {
        // The mask keeps exactly the 16 logical bits, so the cast is lossless.
        (self.0 & LOGICAL_MASK) as u16
    }

    /// The raw value.
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// The timestamp with raw value `raw`.
    pub const fn from_u64(raw: u64) -> Timestamp {
        Timestamp(raw)
    }

    /// The next timestamp: raw value plus one, so logical [`LOGICAL_MAX`]
    /// carries into the next millisecond. `None` for [`Timestamp::MAX`].
    ///
    /// ```
    /// use keel_tso::{LOGICAL_MAX, Timestamp};
    ///
    /// let full = Timestamp::new(7, LOGICAL_MAX)?;
    /// assert_eq!(full.successor(), Some(Timestamp::new(8, 0)?));
    /// assert_eq!(Timestamp::MAX.successor(), None);
    /// # Ok::<(), keel_tso::Error>(())
    /// ```
    pub const fn successor(self) -> Option<Timestamp> {
        match self.0.checked_add(1) {
            Some(raw) => Some(Timestamp(raw)),
            None => None,
        }
    }

    /// The timestamp of a wall-clock time, with logical counter 0.
    ///
    /// Fails for times before the Unix epoch or after the year 10889.
    pub fn from_system_time(time: SystemTime) -> Result<Timestamp> {
        let since_epoch =
            time.duration_since(UNIX_EPOCH)
                .map_err(|error| Error::BeforeUnixEpoch {
                    before_epoch_ms: error.duration().as_millis(),
                })?;
        let physical_ms = u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX);
        Timestamp::new(physical_ms, 0)
    }

    /// The wall-clock time of the physical part (the logical counter is
    /// dropped).
    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.physical_ms())
    }

    /// The raw value, little-endian, as stored on disk.
    pub const fn to_le_bytes(self) -> [u8; Timestamp::BYTES] {
        self.0.to_le_bytes()
    }

    /// The timestamp stored little-endian in `bytes`.
    pub const fn from_le_bytes(bytes: [u8; Timestamp::BYTES]) -> Timestamp {
        Timestamp(u64::from_le_bytes(bytes))
    }
}

impl TryFrom<SystemTime> for Timestamp {
    type Error = Error;

    fn try_from(time: SystemTime) -> Result<Timestamp> {
        Timestamp::from_system_time(time)
    }
}

impl From<Timestamp> for SystemTime {
    fn from(timestamp: Timestamp) -> SystemTime {
        timestamp.to_system_time()
    }
}

/// A proleptic Gregorian date: (year, month 1..=12, day 1..=31).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct CivilDate {
    year: u64,
    month: u64,
    day: u64,
}

/// The date `days` days after 1970-01-01, by Howard Hinnant's
/// `civil_from_days` (<https://howardhinnant.github.io/date_algorithms.html>),
/// restricted to days on or after the epoch, which is all a timestamp holds.
fn civil_from_days(days: u64) -> CivilDate {
    // Shift the epoch to 0000-03-01, so that leap days end each 400-year era.
    let shifted = days + 719_468;
    let era = shifted / 146_097;
    let day_of_era = shifted - era * 146_097; // [0, 146096]
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365; // [0, 399]
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100); // [0, 365]
    let month_from_march = (5 * day_of_year + 2) / 153; // [0, 11]
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1; // [1, 31]
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    CivilDate { year, month, day }
}

/// ISO-8601 UTC with milliseconds, then `+` and the logical counter:
/// `2026-11-22T11:06:00.123Z+5`.
impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let physical_ms = self.physical_ms();
        let date = civil_from_days(physical_ms / MILLISECONDS_PER_DAY);
        let millisecond_of_day = physical_ms % MILLISECONDS_PER_DAY;
        let second_of_day = millisecond_of_day / MILLISECONDS_PER_SECOND;
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z+{}",
            date.year,
            date.month,
            date.day,
            second_of_day / 3_600,
            second_of_day / 60 % 60,
            second_of_day % 60,
            millisecond_of_day % MILLISECONDS_PER_SECOND,
            self.logical(),
        )
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Howard Hinnant's `days_from_civil`, the inverse of `civil_from_days`,
    /// written independently so that the two check each other.
    fn days_from_civil(date: CivilDate) -> u64 {
        let year = if date.month <= 2 {
            date.year - 1
        } else {
            date.year
        };
        let era = year / 400;
        let year_of_era = year - era * 400;
        let month_from_march = if date.month > 2 {
            date.month - 3
        } else {
            date.month + 9
        };
        let day_of_year = (153 * month_from_march + 2) / 5 + date.day - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        era * 146_097 + day_of_era - 719_468
    }

    fn date(year: u64, month: u64, day: u64) -> CivilDate {
        CivilDate { year, month, day }
    }

    #[test]
    fn packing_round_trips_and_orders_lexicographically() {
        let cases = [
            (0, 0),
            (0, LOGICAL_MAX),
            (1, 0),
            (1_795_345_560_123, 5),
            (PHYSICAL_MAX_MS, 0),
            (PHYSICAL_MAX_MS, LOGICAL_MAX),
        ];
        for (physical_ms, logical) in cases {
            let timestamp = Timestamp::new(physical_ms, logical).unwrap();
            assert_eq!(timestamp.physical_ms(), physical_ms);
            assert_eq!(timestamp.logical(), logical);
            assert_eq!(Timestamp::from_u64(timestamp.as_u64()), timestamp);
            assert_eq!(Timestamp::from_le_bytes(timestamp.to_le_bytes()), timestamp);
        }
        for (a, b) in cases.iter().zip(cases.iter().skip(1)) {
            let earlier = Timestamp::new(a.0, a.1).unwrap();
            let later = Timestamp::new(b.0, b.1).unwrap();
            assert!(earlier < later, "{earlier:?} < {later:?}");
        }
        assert_eq!(
            Timestamp::new(PHYSICAL_MAX_MS, LOGICAL_MAX).unwrap(),
            Timestamp::MAX
        );
        assert_eq!(Timestamp::new(0, 0).unwrap(), Timestamp::ZERO);
    }

    #[test]
    fn physical_out_of_range_is_rejected() {
        let error = Timestamp::new(PHYSICAL_MAX_MS + 1, 0).unwrap_err();
        assert!(matches!(
            error,
            Error::PhysicalOutOfRange { physical_ms } if physical_ms == PHYSICAL_MAX_MS + 1
        ));
        assert!(Timestamp::new(u64::MAX, 0).is_err());
    }

    #[test]
    fn little_endian_layout() {
        let timestamp = Timestamp::new(0x0102_0304_0506, 0x0708).unwrap();
        assert_eq!(
            timestamp.to_le_bytes(),
            [0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01]
        );
    }

    #[test]
    fn successor_carries_the_logical_overflow_into_the_physical_part() {
        let timestamp = Timestamp::new(41, 7).unwrap();
        assert_eq!(timestamp.successor(), Some(Timestamp::new(41, 8).unwrap()));
        let full = Timestamp::new(41, LOGICAL_MAX).unwrap();
        let next = full.successor().unwrap();
        assert_eq!((next.physical_ms(), next.logical()), (42, 0));
        assert!(next > full);
        assert_eq!(Timestamp::MAX.successor(), None);
    }

    #[test]
    fn civil_from_days_known_dates() {
        // Milliseconds since the epoch of well-known instants (from Python's
        // datetime), including leap days and century years.
        let cases = [
            (0, date(1970, 1, 1)),
            (946_684_799_999, date(1999, 12, 31)),
            (951_782_400_000, date(2000, 2, 29)),
            (1_795_345_560_123, date(2026, 11, 22)),
            (4_107_542_400_000, date(2100, 3, 1)),
        ];
        for (physical_ms, expected) in cases {
            assert_eq!(
                civil_from_days(physical_ms / MILLISECONDS_PER_DAY),
                expected
            );
        }
        // 2100 is not a leap year: the day before March 1st is February 28th.
        assert_eq!(
            civil_from_days(4_107_542_400_000 / MILLISECONDS_PER_DAY - 1),
            date(2100, 2, 28)
        );
    }

    #[test]
    fn civil_from_days_round_trips_over_every_representable_day() {
        let last_day = PHYSICAL_MAX_MS / MILLISECONDS_PER_DAY;
        let mut previous = civil_from_days(0);
        for days in 1..=last_day {
            let current = civil_from_days(days);
            assert_eq!(days_from_civil(current), days);
            assert!((1..=12).contains(&current.month) && (1..=31).contains(&current.day));
            // Consecutive days are consecutive dates.
            let advanced = if current.day == 1 {
                current.month == previous.month % 12 + 1
            } else {
                current.month == previous.month && current.day == previous.day + 1
            };
            assert!(advanced, "{previous:?} -> {current:?}");
            previous = current;
        }
        assert_eq!(previous.year, 10_889);
    }

    #[test]
    fn display_is_iso_8601_with_milliseconds_and_the_logical_counter() {
        let cases = [
            (
                Timestamp::new(1_795_345_560_123, 5).unwrap(),
                "2026-11-22T11:06:00.123Z+5",
            ),
            (Timestamp::ZERO, "1970-01-01T00:00:00.000Z+0"),
            (
                Timestamp::new(946_684_799_999, LOGICAL_MAX).unwrap(),
                "1999-12-31T23:59:59.999Z+65535",
            ),
            (
                Timestamp::new(951_782_400_000, 1).unwrap(),
                "2000-02-29T00:00:00.000Z+1",
            ),
        ];
        for (timestamp, expected) in cases {
            assert_eq!(timestamp.to_string(), expected);
        }
        assert_eq!(
            format!("{:?}", Timestamp::new(0, 3).unwrap()),
            "Timestamp(1970-01-01T00:00:00.000Z+3)"
        );
        // The largest timestamp still formats as a four- (five-) digit year.
        assert!(Timestamp::MAX.to_string().starts_with("10889-"));
    }

    #[test]
    fn system_time_round_trips_to_the_millisecond() {
        let time =
            UNIX_EPOCH + Duration::from_millis(1_795_345_560_123) + Duration::from_micros(456);
        let timestamp = Timestamp::try_from(time).unwrap();
        assert_eq!(timestamp, Timestamp::new(1_795_345_560_123, 0).unwrap());
        assert_eq!(
            SystemTime::from(timestamp),
            UNIX_EPOCH + Duration::from_millis(1_795_345_560_123)
        );
        let before = UNIX_EPOCH - Duration::from_millis(5);
        assert!(matches!(
            Timestamp::from_system_time(before),
            Err(Error::BeforeUnixEpoch { before_epoch_ms: 5 })
        ));
        let too_late = UNIX_EPOCH + Duration::from_millis(PHYSICAL_MAX_MS + 1);
        assert!(matches!(
            Timestamp::from_system_time(too_late),
            Err(Error::PhysicalOutOfRange { .. })
        ));
    }
}

//! UTC calendar dates and times of day, and their [`Timestamp`].
//!
//! The proleptic Gregorian calendar, as GNSS receivers print it. The day
//! number uses Howard Hinnant's `days_from_civil` (exact for every year
//! 0–65535, integer only). An inserted leap second, 23:59:60, is read the
//! way Linux's `CLOCK_REALTIME` counts it: as a second run of 23:59:59.

use super::{NANOS_PER_SEC, Timestamp};

/// Days from 0000-03-01 to 1970-01-01.
const UNIX_EPOCH_DAYS: i64 = 719_468;
/// Seconds in a day without a leap second.
const SECS_PER_DAY: u64 = 86_400;

/// A calendar date: year, month 1–12, day 1–31.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Date {
    /// Year, e.g. 2024.
    pub year: u16,
    /// Month, 1–12.
    pub month: u8,
    /// Day of the month, 1–31.
    pub day: u8,
}

const fn is_leap_year(y: u16) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Days in `month` of `year` (0 for a month outside 1–12).
const fn days_in_month(year: u16, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

impl Date {
    /// A date, or `None` when the month or day does not exist.
    pub const fn new(year: u16, month: u8, day: u8) -> Option<Self> {
        if day >= 1 && day <= days_in_month(year, month) {
            Some(Self { year, month, day })
        } else {
            None
        }
    }

    /// Does this date exist (month 1–12, day within the month)?
    pub const fn is_valid(self) -> bool {
        Self::new(self.year, self.month, self.day).is_some()
    }

    /// Days since 1970-01-01 (negative before it); `None` for a date that
    /// does not exist.
    #[allow(
        clippy::arithmetic_side_effects,
        reason = "year ≤ 65535, month and day checked: every term is below 2^25"
    )]
    pub const fn days_since_unix_epoch(self) -> Option<i64> {
        if !self.is_valid() {
            return None;
        }
        let (m, d) = (self.month as i64, self.day as i64);
        let y = self.year as i64 - if m <= 2 { 1 } else { 0 };
        let era = (if y >= 0 { y } else { y - 399 }) / 400;
        let yoe = y - era * 400;
        let mp = if m > 2 { m - 3 } else { m + 9 };
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        Some(era * 146_097 + doe - UNIX_EPOCH_DAYS)
    }

    /// The date `days` after 1970-01-01, for `0 ≤ days < 2³²` (through the
    /// year 11 million, far past the [`Timestamp`] wrap in 2554); `None`
    /// outside or past the year 65535.
    #[allow(
        clippy::arithmetic_side_effects,
        clippy::cast_possible_truncation,
        reason = "days < 2^32: every term is below 2^40; month and day fit u8 by construction"
    )]
    pub const fn from_days_since_unix_epoch(days: u64) -> Option<Self> {
        if days >= 1 << 32 {
            return None;
        }
        let z = days + UNIX_EPOCH_DAYS as u64;
        let era = z / 146_097;
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
        if year > u16::MAX as u64 {
            return None;
        }
        Some(Self {
            year: year as u16,
            month: month as u8,
            day: day as u8,
        })
    }
}

/// A UTC time of day: hour 0–23, minute 0–59, second 0–60 (60 only in
/// 23:59:60, an inserted leap second), and nanoseconds 0–999 999 999.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TimeOfDay {
    /// Hour, 0–23.
    pub hour: u8,
    /// Minute, 0–59.
    pub minute: u8,
    /// Second, 0–59, or 60 in an inserted leap second (23:59:60).
    pub second: u8,
    /// Nanoseconds within the second, 0–999 999 999.
    pub nanos: u32,
}

impl TimeOfDay {
    /// A time of day, or `None` when a field is out of range.
    pub const fn new(hour: u8, minute: u8, second: u8, nanos: u32) -> Option<Self> {
        let t = Self {
            hour,
            minute,
            second,
            nanos,
        };
        if t.is_valid() { Some(t) } else { None }
    }

    /// Are all fields in range (second 60 only at 23:59)?
    pub const fn is_valid(self) -> bool {
        self.hour < 24
            && self.minute < 60
            && (self.second < 60 || (self.second == 60 && self.hour == 23 && self.minute == 59))
            && self.nanos < 1_000_000_000
    }

    /// Is this 23:59:60, an inserted leap second?
    pub const fn is_leap_second(self) -> bool {
        self.second == 60
    }

    /// Whole seconds since midnight, 23:59:60 counted as 23:59:59 (Linux);
    /// `None` when a field is out of range.
    #[allow(
        clippy::arithmetic_side_effects,
        reason = "fields checked: below 86 400"
    )]
    pub const fn secs_since_midnight(self) -> Option<u32> {
        if !self.is_valid() {
            return None;
        }
        let s = if self.second == 60 { 59 } else { self.second };
        Some(self.hour as u32 * 3600 + self.minute as u32 * 60 + s as u32)
    }
}

/// A UTC date and time of day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct UtcDateTime {
    /// The date.
    pub date: Date,
    /// The time of day.
    pub time: TimeOfDay,
}

impl UtcDateTime {
    /// The Unix timestamp (UTC, ns since 1970): 23:59:60.x gives 23:59:59.x,
    /// as Linux reads an inserted second. `None` for an invalid field, a time
    /// before 1970, or one past the [`Timestamp`] wrap (2554-07-21).
    #[allow(
        clippy::arithmetic_side_effects,
        clippy::cast_sign_loss,
        reason = "days checked non-negative; the product is checked"
    )]
    pub const fn to_timestamp(self) -> Option<Timestamp> {
        let Some(days) = self.date.days_since_unix_epoch() else {
            return None;
        };
        let Some(tod) = self.time.secs_since_midnight() else {
            return None;
        };
        if days < 0 {
            return None;
        }
        let secs = days as u64 * SECS_PER_DAY + tod as u64;
        match secs.checked_mul(NANOS_PER_SEC) {
            Some(ns) => match ns.checked_add(self.time.nanos as u64) {
                Some(t) => Some(Timestamp::from_nanos(t)),
                None => None,
            },
            None => None,
        }
    }

    /// The date and time of a Unix timestamp (never 23:59:60: Linux's
    /// timestamps cannot name it).
    #[allow(
        clippy::arithmetic_side_effects,
        clippy::cast_possible_truncation,
        reason = "the remainder of a division by 86 400 and its parts fit u8"
    )]
    pub const fn from_timestamp(t: Timestamp) -> Self {
        let secs = t.secs();
        let days = secs / SECS_PER_DAY;
        let rem = secs % SECS_PER_DAY;
        // secs < 2^35, so days < 2^19: always a date.
        let date = match Date::from_days_since_unix_epoch(days) {
            Some(d) => d,
            None => Date {
                year: 1970,
                month: 1,
                day: 1,
            },
        };
        Self {
            date,
            time: TimeOfDay {
                hour: (rem / 3600) as u8,
                minute: (rem / 60 % 60) as u8,
                second: (rem % 60) as u8,
                nanos: t.subsec_nanos(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dt(y: u16, mo: u8, d: u8, h: u8, mi: u8, s: u8, ns: u32) -> UtcDateTime {
        UtcDateTime {
            date: Date::new(y, mo, d).unwrap(),
            time: TimeOfDay::new(h, mi, s, ns).unwrap(),
        }
    }

    #[test]
    fn known_instants() {
        assert_eq!(
            dt(1970, 1, 1, 0, 0, 0, 0).to_timestamp(),
            Some(Timestamp::EPOCH)
        );
        // 2023-11-14T22:13:20Z = 1 700 000 000 (`date -ud @1700000000`).
        assert_eq!(
            dt(2023, 11, 14, 22, 13, 20, 5).to_timestamp(),
            Some(Timestamp::from_secs_nanos(1_700_000_000, 5))
        );
        // 2000-02-29 exists, 1900-02-29 and 2023-02-29 do not.
        assert_eq!(
            dt(2000, 2, 29, 0, 0, 0, 0).to_timestamp().map(|t| t.secs()),
            Some(951_782_400)
        );
        assert_eq!(Date::new(1900, 2, 29), None);
        assert_eq!(Date::new(2023, 2, 29), None);
        assert_eq!(Date::new(2024, 13, 1), None);
        assert_eq!(Date::new(2024, 4, 31), None);
        // Before 1970: no timestamp.
        assert_eq!(dt(1969, 12, 31, 23, 59, 59, 0).to_timestamp(), None);
        // The last representable instant and the first past the wrap.
        let last = Timestamp::from_nanos(u64::MAX);
        let d = UtcDateTime::from_timestamp(last);
        assert_eq!(d.to_timestamp(), Some(last));
        assert_eq!((d.date.year, d.date.month, d.date.day), (2554, 7, 21));
        assert_eq!(dt(2554, 7, 22, 0, 0, 0, 0).to_timestamp(), None);
        assert_eq!(dt(9999, 12, 31, 23, 59, 59, 0).to_timestamp(), None);
    }

    #[test]
    fn a_leap_second_reads_as_a_second_run_of_its_minute_s_59th() {
        // 2016-12-31T23:59:60.25Z: Linux shows 1483228799.25 twice.
        let leap = dt(2016, 12, 31, 23, 59, 60, 250_000_000);
        assert!(leap.time.is_leap_second());
        assert_eq!(
            leap.to_timestamp(),
            Some(Timestamp::from_secs_nanos(1_483_228_799, 250_000_000))
        );
        assert_eq!(TimeOfDay::new(23, 58, 60, 0), None);
        assert_eq!(TimeOfDay::new(12, 0, 0, 1_000_000_000), None);
        assert_eq!(TimeOfDay::new(24, 0, 0, 0), None);
    }

    #[test]
    fn invalid_fields_give_none_not_a_panic() {
        let bad = UtcDateTime {
            date: Date {
                year: u16::MAX,
                month: 255,
                day: 255,
            },
            time: TimeOfDay {
                hour: 255,
                minute: 255,
                second: 255,
                nanos: u32::MAX,
            },
        };
        assert_eq!(bad.to_timestamp(), None);
        assert_eq!(bad.date.days_since_unix_epoch(), None);
        assert_eq!(bad.time.secs_since_midnight(), None);
        assert_eq!(Date::from_days_since_unix_epoch(u64::MAX), None);
        let top = Date::new(u16::MAX, 12, 31).unwrap();
        let days = u64::try_from(top.days_since_unix_epoch().unwrap()).unwrap();
        assert_eq!(Date::from_days_since_unix_epoch(days), Some(top));
        assert_eq!(Date::from_days_since_unix_epoch(days + 1), None);
        assert_eq!(
            Date::new(0, 3, 1).unwrap().days_since_unix_epoch(),
            Some(-UNIX_EPOCH_DAYS)
        );
    }

    proptest! {
        #[test]
        fn timestamp_round_trips(ns in any::<u64>()) {
            let t = Timestamp::from_nanos(ns);
            let d = UtcDateTime::from_timestamp(t);
            prop_assert!(d.date.is_valid() && d.time.is_valid());
            prop_assert_eq!(d.to_timestamp(), Some(t));
        }

        #[test]
        fn days_round_trip(days in 0u64..(1 << 24)) {
            let d = Date::from_days_since_unix_epoch(days).unwrap();
            prop_assert_eq!(d.days_since_unix_epoch(), i64::try_from(days).ok());
        }

        #[test]
        fn consecutive_days_are_consecutive(days in 0u64..(1 << 22)) {
            let a = Date::from_days_since_unix_epoch(days).unwrap();
            let b = Date::from_days_since_unix_epoch(days + 1).unwrap();
            prop_assert!(b > a);
            prop_assert!(b.day == 1 || b.day == a.day + 1);
        }
    }
}

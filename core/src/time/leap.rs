//! Leap seconds from an IERS/IETF `leap-seconds.list`
//! (`/usr/share/zoneinfo/leap-seconds.list` on most Linux systems).
//!
//! The file lists, one per line, the NTP time (seconds since 1900, UTC) from
//! which a TAI − UTC offset applies, `#@` gives the expiry date, and `#`
//! starts a comment. [`LeapTable::parse`] reads it without allocating (up to
//! [`LeapTable::CAPACITY`] entries); a malformed line is an error naming the
//! line, never a panic.

use heapless::Vec;

use super::{NTP_UNIX_EPOCH_DELTA_SECS, Timestamp, UtcTaiOffset};

/// One line of the table: from `unix_secs` (UTC) on, TAI − UTC is `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LeapEntry {
    /// The first UTC second (since 1970) of the new offset.
    pub unix_secs: u64,
    /// TAI − UTC from then on.
    pub offset: UtcTaiOffset,
}

/// What happens at the end of a UTC day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LeapKind {
    /// 23:59:60 is inserted (Linux `STA_INS`).
    Insert,
    /// 23:59:59 is skipped (Linux `STA_DEL`).
    Delete,
}

/// A leap second ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Leap {
    /// The UTC second (since 1970) at which the new offset applies: the
    /// midnight after the leap.
    pub unix_secs: u64,
    /// Insertion or deletion.
    pub kind: LeapKind,
    /// TAI − UTC after it.
    pub offset: UtcTaiOffset,
}

/// Why a `leap-seconds.list` could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum LeapError {
    /// A data line is not `<NTP seconds> <offset>`; the 1-based line number.
    BadLine(u32),
    /// Entries are not in increasing time order; the 1-based line number.
    OutOfOrder(u32),
    /// More than [`LeapTable::CAPACITY`] entries.
    TooManyEntries,
    /// No entries at all.
    Empty,
}

impl core::fmt::Display for LeapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BadLine(n) => write!(f, "line {n}: expected `<NTP seconds> <TAI-UTC seconds>`"),
            Self::OutOfOrder(n) => write!(f, "line {n}: entries must be in increasing time order"),
            Self::TooManyEntries => write!(f, "more than {} entries", LeapTable::CAPACITY),
            Self::Empty => f.write_str("no leap second entries"),
        }
    }
}

impl core::error::Error for LeapError {}

/// The parsed table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeapTable {
    entries: Vec<LeapEntry, { LeapTable::CAPACITY }>,
    /// The table's expiry (UTC seconds since 1970), from `#@`.
    expires_unix_secs: Option<u64>,
}

fn parse_u64(field: &[u8]) -> Option<u64> {
    if field.is_empty() || field.len() > 19 {
        return None;
    }
    field.iter().try_fold(0u64, |acc, &c| {
        let d = c.checked_sub(b'0').filter(|d| *d < 10)?;
        acc.checked_mul(10)?.checked_add(u64::from(d))
    })
}

fn ntp_to_unix(ntp: u64) -> Option<u64> {
    ntp.checked_sub(NTP_UNIX_EPOCH_DELTA_SECS)
}

impl LeapTable {
    /// The most entries a table holds (the list has 28 today).
    pub const CAPACITY: usize = 64;

    /// Parses the text of a `leap-seconds.list`.
    ///
    /// # Errors
    /// [`LeapError`] naming the offending line.
    pub fn parse(text: &[u8]) -> Result<Self, LeapError> {
        let mut table = Self::default();
        for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
            let line_no = u32::try_from(i).unwrap_or(u32::MAX).saturating_add(1);
            let line = raw.strip_suffix(b"\r").unwrap_or(raw);
            if let Some(rest) = line.strip_prefix(b"#@") {
                let field = rest
                    .split(|b| b.is_ascii_whitespace())
                    .find(|f| !f.is_empty());
                table.expires_unix_secs = field.and_then(parse_u64).and_then(ntp_to_unix);
                continue;
            }
            let data = line.split(|&b| b == b'#').next().unwrap_or(&[]);
            let mut fields = data
                .split(|b| b.is_ascii_whitespace())
                .filter(|f| !f.is_empty());
            let Some(first) = fields.next() else { continue };
            let secs = parse_u64(first)
                .and_then(ntp_to_unix)
                .ok_or(LeapError::BadLine(line_no))?;
            let offset = fields
                .next()
                .and_then(parse_u64)
                .and_then(|o| i16::try_from(o).ok())
                .ok_or(LeapError::BadLine(line_no))?;
            if table.entries.last().is_some_and(|e| e.unix_secs >= secs) {
                return Err(LeapError::OutOfOrder(line_no));
            }
            table
                .entries
                .push(LeapEntry {
                    unix_secs: secs,
                    offset: UtcTaiOffset(offset),
                })
                .map_err(|_| LeapError::TooManyEntries)?;
        }
        if table.entries.is_empty() {
            return Err(LeapError::Empty);
        }
        Ok(table)
    }

    /// The entries, oldest first.
    pub fn entries(&self) -> &[LeapEntry] {
        &self.entries
    }

    /// Has the table expired at UTC time `utc` (it says nothing about leaps
    /// after its expiry)?
    pub fn expired(&self, utc: Timestamp) -> bool {
        self.expires_unix_secs.is_some_and(|e| utc.secs() >= e)
    }

    /// TAI − UTC at UTC time `utc`; `None` before the first entry (1972).
    pub fn offset_at(&self, utc: Timestamp) -> Option<UtcTaiOffset> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.unix_secs <= utc.secs())
            .map(|e| e.offset)
    }

    /// The next leap second after UTC time `utc`, if the table lists one.
    pub fn next_leap(&self, utc: Timestamp) -> Option<Leap> {
        let now = self.offset_at(utc)?;
        let next = self.entries.iter().find(|e| e.unix_secs > utc.secs())?;
        let kind = if next.offset.0 > now.0 {
            LeapKind::Insert
        } else {
            LeapKind::Delete
        };
        Some(Leap {
            unix_secs: next.unix_secs,
            kind,
            offset: next.offset,
        })
    }

    /// The leap at the end of the UTC day containing `utc`, if any: what the
    /// kernel's `STA_INS`/`STA_DEL` should announce today.
    pub fn leap_today(&self, utc: Timestamp) -> Option<Leap> {
        const DAY: u64 = 86_400;
        let midnight = utc
            .secs()
            .saturating_sub(utc.secs() % DAY)
            .saturating_add(DAY);
        self.next_leap(utc)
            .filter(|l| l.unix_secs == midnight && !self.expired(utc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &[u8] = b"#\tleap-seconds.list (excerpt)\n\
#$\t 3676924800\n\
#@\t3975868800\n\
#\n\
2272060800\t10\t# 1 Jan 1972\n\
2287785600\t11\t# 1 Jul 1972\n\
3644697600\t36\t# 1 Jul 2015\n\
3692217600\t37\t# 1 Jan 2017\n\
#h\t16edd0f0 3666784f 37db6bdd e74ced87 59af48f1\n";

    #[test]
    fn parses_the_list() {
        let t = LeapTable::parse(SAMPLE).unwrap();
        assert_eq!(t.entries().len(), 4);
        assert_eq!(
            t.entries()[3],
            LeapEntry {
                unix_secs: 1_483_228_800,
                offset: UtcTaiOffset(37)
            }
        );
        // 2017-01-01 and after: 37; just before: 36.
        assert_eq!(
            t.offset_at(Timestamp::from_secs_nanos(1_483_228_800, 0)),
            Some(UtcTaiOffset(37))
        );
        assert_eq!(
            t.offset_at(Timestamp::from_secs_nanos(1_483_228_799, 999_999_999)),
            Some(UtcTaiOffset(36))
        );
        assert_eq!(t.offset_at(Timestamp::from_secs_nanos(0, 0)), None);
        // Expiry 3975868800 NTP = 2025-12-28.
        assert!(!t.expired(Timestamp::from_secs_nanos(1_700_000_000, 0)));
        assert!(t.expired(Timestamp::from_secs_nanos(1_766_880_000, 0)));
    }

    #[test]
    fn announces_the_leap_on_its_day_only() {
        let t = LeapTable::parse(SAMPLE).unwrap();
        // 2016-12-31T12:00:00Z: the leap is at the coming midnight.
        let noon = Timestamp::from_secs_nanos(1_483_185_600, 0);
        let leap = t.leap_today(noon).unwrap();
        assert_eq!(
            leap,
            Leap {
                unix_secs: 1_483_228_800,
                kind: LeapKind::Insert,
                offset: UtcTaiOffset(37)
            }
        );
        // The day before: announced as next, not today.
        let day_before = Timestamp::from_secs_nanos(1_483_099_200, 0);
        assert_eq!(t.leap_today(day_before), None);
        assert_eq!(
            t.next_leap(day_before).map(|l| l.unix_secs),
            Some(1_483_228_800)
        );
        // After the last entry: nothing.
        assert_eq!(
            t.next_leap(Timestamp::from_secs_nanos(1_700_000_000, 0)),
            None
        );
    }

    #[test]
    fn a_deletion_is_recognised() {
        let t = LeapTable::parse(b"2272060800 10\n2287785600 9\n").unwrap();
        let l = t
            .next_leap(Timestamp::from_secs_nanos(63_072_000 + 10, 0))
            .unwrap();
        assert_eq!(l.kind, LeapKind::Delete);
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(
            LeapTable::parse(b"# only comments\n"),
            Err(LeapError::Empty)
        );
        assert_eq!(
            LeapTable::parse(b"2272060800 10\nnot a line\n"),
            Err(LeapError::BadLine(2))
        );
        assert_eq!(
            LeapTable::parse(b"2272060800\n"),
            Err(LeapError::BadLine(1))
        );
        assert_eq!(
            LeapTable::parse(b"2287785600 11\n2272060800 10\n"),
            Err(LeapError::OutOfOrder(2))
        );
        assert_eq!(LeapTable::parse(b"99 10\n"), Err(LeapError::BadLine(1)));
        let mut big = heapless::Vec::<u8, 4096>::new();
        for k in 0..70u64 {
            let line = [
                b'3',
                b'0',
                b'0',
                b'0',
                b'0',
                b'0',
                b'0',
                b'0',
                b'0' + u8::try_from(k / 10).unwrap(),
                b'0' + u8::try_from(k % 10).unwrap(),
                b' ',
                b'1',
                b'\n',
            ];
            big.extend_from_slice(&line).unwrap();
        }
        assert_eq!(LeapTable::parse(&big), Err(LeapError::TooManyEntries));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = LeapTable::parse(&bytes);
        }
    }
}

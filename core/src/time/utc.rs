//! Time scales and the UTC/TAI relation.

use super::{Duration, Timestamp};

/// The time scale a clock counts in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TimeScale {
    /// Coordinated Universal Time: `CLOCK_REALTIME`, hypervisor PHCs (`ptp_kvm`, …).
    Utc,
    /// International Atomic Time: PTP's timescale, NIC PHCs under ptp4l.
    Tai,
}

/// TAI − UTC in whole seconds (37 since 2017-01-01).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct UtcTaiOffset(pub i16);

impl UtcTaiOffset {
    /// The value in force since 2017-01-01.
    pub const CURRENT: Self = Self(37);

    /// As a duration (positive: TAI is ahead of UTC).
    pub const fn as_duration(self) -> Duration {
        Duration::from_secs(self.0 as i64)
    }

    /// The UTC reading of a TAI timestamp.
    pub const fn tai_to_utc(self, tai: Timestamp) -> Timestamp {
        tai.wrapping_sub(self.as_duration())
    }

    /// The TAI reading of a UTC timestamp.
    pub const fn utc_to_tai(self, utc: Timestamp) -> Timestamp {
        utc.wrapping_add(self.as_duration())
    }

    /// Converts a timestamp between scales; identity when `from == to`.
    pub const fn convert(self, t: Timestamp, from: TimeScale, to: TimeScale) -> Timestamp {
        match (from, to) {
            (TimeScale::Tai, TimeScale::Utc) => self.tai_to_utc(t),
            (TimeScale::Utc, TimeScale::Tai) => self.utc_to_tai(t),
            _ => t,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        let utc = Timestamp::from_secs_nanos(1_700_000_000, 5);
        let tai = UtcTaiOffset::CURRENT.utc_to_tai(utc);
        assert_eq!(tai.secs(), 1_700_000_037);
        assert_eq!(UtcTaiOffset::CURRENT.tai_to_utc(tai), utc);
        assert_eq!(
            UtcTaiOffset::CURRENT.convert(utc, TimeScale::Utc, TimeScale::Utc),
            utc
        );
        assert_eq!(
            UtcTaiOffset::CURRENT.convert(tai, TimeScale::Tai, TimeScale::Utc),
            utc
        );
        // wraps below the epoch
        assert_eq!(
            UtcTaiOffset(1).tai_to_utc(Timestamp::EPOCH).as_nanos(),
            u64::MAX - 999_999_999
        );
    }
}

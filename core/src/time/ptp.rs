//! IEEE 1588 `Timestamp`: 48-bit seconds and 32-bit nanoseconds.

use super::{NANOS_PER_SEC, Timestamp};

/// A PTP timestamp (IEEE 1588-2019 §5.3.3): seconds since the PTP epoch in
/// 48 bits and nanoseconds `0..10⁹`. The PTP epoch is 1970-01-01T00:00:00 TAI;
/// this type does not convert time scales (see [`super::UtcTaiOffset`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PtpTimestamp {
    seconds: u64,
    nanoseconds: u32,
}

/// Why bytes or parts are not a valid [`PtpTimestamp`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum PtpTimestampError {
    /// The seconds do not fit 48 bits.
    SecondsOutOfRange,
    /// The nanoseconds field is 10⁹ or more.
    NanosecondsOutOfRange,
}

impl core::fmt::Display for PtpTimestampError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::SecondsOutOfRange => f.write_str("PTP timestamp seconds exceed 48 bits"),
            Self::NanosecondsOutOfRange => {
                f.write_str("PTP timestamp nanoseconds field is 1e9 or more")
            }
        }
    }
}

impl core::error::Error for PtpTimestampError {}

impl PtpTimestamp {
    /// The largest seconds value, 2⁴⁸ − 1.
    pub const MAX_SECONDS: u64 = (1 << 48) - 1;
    /// Length on the wire in bytes.
    pub const WIRE_LEN: usize = 10;

    /// From parts, validated.
    ///
    /// # Errors
    /// [`PtpTimestampError`] when a part is out of range.
    pub const fn new(seconds: u64, nanoseconds: u32) -> Result<Self, PtpTimestampError> {
        if seconds > Self::MAX_SECONDS {
            Err(PtpTimestampError::SecondsOutOfRange)
        } else if nanoseconds as u64 >= NANOS_PER_SEC {
            Err(PtpTimestampError::NanosecondsOutOfRange)
        } else {
            Ok(Self {
                seconds,
                nanoseconds,
            })
        }
    }

    /// Seconds (48 bits).
    pub const fn seconds(self) -> u64 {
        self.seconds
    }

    /// Nanoseconds `0..10⁹`.
    pub const fn nanoseconds(self) -> u32 {
        self.nanoseconds
    }

    /// From a [`Timestamp`] on the same epoch; always fits (a `u64` of ns is
    /// far less than 2⁴⁸ s).
    pub const fn from_timestamp(t: Timestamp) -> Self {
        Self {
            seconds: t.secs(),
            nanoseconds: t.subsec_nanos(),
        }
    }

    /// To a [`Timestamp`]; wraps modulo 2⁶⁴ ns for seconds past year 2554.
    pub const fn to_timestamp(self) -> Timestamp {
        Timestamp::from_secs_nanos(self.seconds, self.nanoseconds)
    }

    /// Wire bytes: 6 bytes of seconds then 4 bytes of nanoseconds, big-endian.
    pub const fn to_bytes(self) -> [u8; 10] {
        let s = self.seconds.to_be_bytes();
        let n = self.nanoseconds.to_be_bytes();
        [s[2], s[3], s[4], s[5], s[6], s[7], n[0], n[1], n[2], n[3]]
    }

    /// From wire bytes.
    ///
    /// # Errors
    /// [`PtpTimestampError::NanosecondsOutOfRange`] when the nanoseconds field
    /// is 10⁹ or more.
    pub const fn from_bytes(b: [u8; 10]) -> Result<Self, PtpTimestampError> {
        let seconds = u64::from_be_bytes([0, 0, b[0], b[1], b[2], b[3], b[4], b[5]]);
        let nanoseconds = u32::from_be_bytes([b[6], b[7], b[8], b[9]]);
        Self::new(seconds, nanoseconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn byte_layout() {
        let t = PtpTimestamp::new(0x0102_0304_0506, 0x0708_090A).unwrap();
        assert_eq!(t.to_bytes(), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(
            PtpTimestamp::from_bytes([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]),
            Ok(t)
        );
    }

    #[test]
    fn edges() {
        assert_eq!(
            PtpTimestamp::new(PtpTimestamp::MAX_SECONDS + 1, 0),
            Err(PtpTimestampError::SecondsOutOfRange)
        );
        assert_eq!(
            PtpTimestamp::new(0, 1_000_000_000),
            Err(PtpTimestampError::NanosecondsOutOfRange)
        );
        assert!(PtpTimestamp::new(PtpTimestamp::MAX_SECONDS, 999_999_999).is_ok());
        let b = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x3B, 0x9A, 0xCA, 0x00];
        assert_eq!(
            PtpTimestamp::from_bytes(b),
            Err(PtpTimestampError::NanosecondsOutOfRange)
        );
        let b = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x3B, 0x9A, 0xC9, 0xFF];
        assert_eq!(
            PtpTimestamp::from_bytes(b).map(|t| t.nanoseconds()),
            Ok(999_999_999)
        );
        let max = PtpTimestamp::from_timestamp(Timestamp::from_nanos(u64::MAX));
        assert_eq!(max.to_timestamp().as_nanos(), u64::MAX);
    }

    proptest! {
        #[test]
        fn bytes_roundtrip(s in 0..=PtpTimestamp::MAX_SECONDS, n in 0u32..1_000_000_000) {
            let t = PtpTimestamp::new(s, n).unwrap();
            prop_assert_eq!(PtpTimestamp::from_bytes(t.to_bytes()), Ok(t));
        }

        #[test]
        fn timestamp_roundtrip(ns in any::<u64>()) {
            let t = Timestamp::from_nanos(ns);
            prop_assert_eq!(PtpTimestamp::from_timestamp(t).to_timestamp(), t);
        }

        #[test]
        fn from_bytes_never_panics(b in any::<[u8; 10]>()) {
            let _ = PtpTimestamp::from_bytes(b);
        }
    }
}

//! NTP timestamp formats (RFC 5905 §6) with era handling.
//!
//! An [`NtpTimestamp`] carries seconds since 1900-01-01 modulo 2³² (one *era* is
//! 2³² s ≈ 136 years; era 1 starts 2036-02-07T06:28:16Z) and a 32-bit fraction.
//! The era is not on the wire, so converting to a [`Timestamp`] needs a pivot:
//! the result is the one within ±68 years of it (RFC 5905 §6, "the era is
//! chosen closest to the current time").

use super::{Duration, NANOS_PER_SEC, Timestamp, div_1e9, div_rem_1e9};

/// Seconds from the NTP epoch (1900-01-01) to the Unix epoch (1970-01-01).
pub const NTP_UNIX_EPOCH_DELTA_SECS: u64 = 2_208_988_800;

/// RFC 5905 64-bit timestamp: 32 bits of seconds since 1900 (mod 2³²) and
/// 32 bits of binary fraction. The raw `u64` is the big-endian wire value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NtpTimestamp(pub u64);

impl NtpTimestamp {
    /// The all-zero value, which NTP uses to mean "unknown".
    pub const ZERO: Self = Self(0);

    /// From seconds (mod 2³²) and fraction.
    pub const fn from_parts(secs: u32, frac: u32) -> Self {
        Self(((secs as u64) << 32) | frac as u64)
    }

    /// Seconds within the era.
    #[allow(clippy::cast_possible_truncation, reason = "upper 32 bits")]
    pub const fn era_secs(self) -> u32 {
        (self.0 >> 32) as u32
    }

    /// Binary fraction of a second (units of 2⁻³² s).
    #[allow(clippy::cast_possible_truncation, reason = "lower 32 bits")]
    pub const fn fraction(self) -> u32 {
        self.0 as u32
    }

    /// From a Unix-epoch timestamp, rounding the fraction to nearest.
    /// The era is dropped (seconds taken modulo 2³²).
    #[allow(
        clippy::arithmetic_side_effects,
        reason = "operands bounded, see comments"
    )]
    pub const fn from_unix(t: Timestamp) -> Self {
        let secs = t.secs().wrapping_add(NTP_UNIX_EPOCH_DELTA_SECS);
        // nanos < 1e9 < 2^30, so nanos·2^32 < 2^62 and the rounded quotient < 2^32.
        // (Multiply-only division: no 64-bit division helper on 32-bit targets.)
        let frac = div_1e9(((t.subsec_nanos() as u64) << 32).wrapping_add(NANOS_PER_SEC / 2));
        Self((secs << 32) | frac)
    }

    /// The full number of seconds since 1900 for the given era.
    pub const fn secs_since_1900(self, era: u32) -> u64 {
        ((era as u64) << 32) | self.era_secs() as u64
    }

    /// Nanoseconds within the second, rounded to nearest; may be 10⁹ when the
    /// fraction rounds up to a whole second.
    #[allow(clippy::arithmetic_side_effects, reason = "frac·1e9 < 2^62")]
    const fn frac_nanos_rounded(self) -> u64 {
        ((self.fraction() as u64) * NANOS_PER_SEC + (1 << 31)) >> 32
    }

    /// To a Unix-epoch timestamp in the given era (era 0: 1900–2036, era 1:
    /// 2036–2172). Instants before 1970 wrap (see [`Timestamp`]).
    pub const fn to_unix_in_era(self, era: u32) -> Timestamp {
        let secs = self
            .secs_since_1900(era)
            .wrapping_sub(NTP_UNIX_EPOCH_DELTA_SECS);
        Timestamp::from_nanos(
            secs.wrapping_mul(NANOS_PER_SEC)
                .wrapping_add(self.frac_nanos_rounded()),
        )
    }

    /// To a Unix-epoch timestamp, choosing the era that puts the result within
    /// ±2³¹ s (±68 years) of `pivot` (usually "now" on the local clock).
    #[allow(clippy::cast_possible_truncation, reason = "modular seconds")]
    #[allow(
        clippy::cast_possible_wrap,
        reason = "modular difference read as signed"
    )]
    pub const fn to_unix_near(self, pivot: Timestamp) -> Timestamp {
        let pivot_ntp = pivot.secs().wrapping_add(NTP_UNIX_EPOCH_DELTA_SECS);
        let diff = self.era_secs().wrapping_sub(pivot_ntp as u32) as i32;
        let secs_1900 = pivot_ntp.wrapping_add_signed(diff as i64);
        let unix = secs_1900.wrapping_sub(NTP_UNIX_EPOCH_DELTA_SECS);
        Timestamp::from_nanos(
            unix.wrapping_mul(NANOS_PER_SEC)
                .wrapping_add(self.frac_nanos_rounded()),
        )
    }

    /// `self − earlier` as a signed span, computed modulo 2⁶⁴ (era-safe as long as
    /// the two are within 68 years, RFC 5905 §6). Rounded to the nanosecond.
    #[allow(
        clippy::cast_possible_wrap,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::arithmetic_side_effects,
        reason = "modular difference read as signed; parts bounded, see comments"
    )]
    pub const fn duration_since(self, earlier: Self) -> Duration {
        let diff = self.0.wrapping_sub(earlier.0) as i64;
        // diff = secs·2^32 + frac with secs in i32 range, frac in 0..2^32.
        let secs = diff >> 32;
        let frac = (diff & 0xFFFF_FFFF) as u64;
        let frac_ns = ((frac * NANOS_PER_SEC + (1 << 31)) >> 32) as i64;
        Duration::from_nanos(secs * NANOS_PER_SEC as i64 + frac_ns)
    }

    /// `self + d`, wrapping within the era. `d` is rounded to 2⁻³² s.
    #[must_use]
    pub const fn wrapping_add(self, d: Duration) -> Self {
        Self(self.0.wrapping_add_signed(duration_to_ntp64(d)))
    }

    /// Big-endian wire bytes.
    pub const fn to_be_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    /// From big-endian wire bytes.
    pub const fn from_be_bytes(b: [u8; 8]) -> Self {
        Self(u64::from_be_bytes(b))
    }
}

/// A signed duration as a 32.32 fixed-point second count, rounded to nearest.
#[allow(clippy::arithmetic_side_effects, reason = "bounded, see comments")]
#[allow(
    clippy::cast_possible_wrap,
    reason = "modular 32.32 value read as signed"
)]
const fn duration_to_ntp64(d: Duration) -> i64 {
    let ns = d.as_nanos();
    let neg = ns < 0;
    let mag = ns.unsigned_abs();
    let (secs, rem) = div_rem_1e9(mag);
    let frac = div_1e9(((rem as u64) << 32) + NANOS_PER_SEC / 2); // ≤ 2^32
    let v = (secs << 32).wrapping_add(frac) as i64;
    if neg { v.wrapping_neg() } else { v }
}

/// RFC 5905 short format: 16 bits of seconds and 16 bits of fraction, unsigned.
/// Used for root delay and root dispersion.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NtpShort(pub u32);

impl NtpShort {
    /// The largest value, about 65536 s.
    pub const MAX: Self = Self(u32::MAX);

    /// From a duration, rounded up to the next 2⁻¹⁶ s so an error bound never
    /// shrinks in transit; negative durations give zero, too-large ones saturate.
    #[allow(clippy::arithmetic_side_effects, reason = "bounded, see comments")]
    #[allow(clippy::cast_sign_loss, reason = "checked non-negative")]
    #[allow(clippy::cast_possible_truncation, reason = "checked to fit u32")]
    pub const fn from_duration_ceil(d: Duration) -> Self {
        let ns = d.as_nanos();
        if ns <= 0 {
            return Self(0);
        }
        let ns = ns as u64;
        // 65536 s = 6.5536e13 ns; beyond that saturate.
        if ns >= 65_536 * NANOS_PER_SEC {
            return Self::MAX;
        }
        // ns·2^16 < 6.6e13·65536 < 2^63
        let v = (ns << 16).div_ceil(NANOS_PER_SEC);
        if v > u32::MAX as u64 {
            Self::MAX
        } else {
            Self(v as u32)
        }
    }

    /// To a duration (exact to the nanosecond, rounded to nearest).
    #[allow(clippy::arithmetic_side_effects, reason = "u32·1e9 < 2^62")]
    #[allow(clippy::cast_possible_wrap, reason = "result < 2^47")]
    pub const fn to_duration(self) -> Duration {
        Duration::from_nanos((((self.0 as u64) * NANOS_PER_SEC + (1 << 15)) >> 16) as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// 2036-02-07T06:28:16Z: the first instant of NTP era 1.
    const ERA1_UNIX_SECS: u64 = (1u64 << 32) - NTP_UNIX_EPOCH_DELTA_SECS;

    #[test]
    fn epochs() {
        assert_eq!(ERA1_UNIX_SECS, 2_085_978_496);
        let t = Timestamp::from_secs_nanos(0, 0);
        assert_eq!(NtpTimestamp::from_unix(t).era_secs(), 2_208_988_800);
        // 2036-02-07T06:28:16Z is era 1, second 0
        let t = Timestamp::from_secs_nanos(ERA1_UNIX_SECS, 0);
        assert_eq!(NtpTimestamp::from_unix(t), NtpTimestamp::ZERO);
        assert_eq!(NtpTimestamp::ZERO.to_unix_in_era(1), t);
    }

    #[test]
    fn era_rollover_with_pivot() {
        // one second before and after the rollover, decoded with a pivot on either side
        let before = Timestamp::from_secs_nanos(ERA1_UNIX_SECS - 1, 500_000_000);
        let after = Timestamp::from_secs_nanos(ERA1_UNIX_SECS + 1, 250_000_000);
        for pivot in [
            before,
            after,
            Timestamp::from_secs_nanos(1_700_000_000, 0),
            Timestamp::from_secs_nanos(ERA1_UNIX_SECS + 2_000_000_000, 0),
        ] {
            assert_eq!(NtpTimestamp::from_unix(before).to_unix_near(pivot), before);
            assert_eq!(NtpTimestamp::from_unix(after).to_unix_near(pivot), after);
        }
        // the difference across the rollover is exact
        let d = NtpTimestamp::from_unix(after).duration_since(NtpTimestamp::from_unix(before));
        assert_eq!(d, Duration::from_millis(1_750));
        assert_eq!(
            NtpTimestamp::from_unix(before).duration_since(NtpTimestamp::from_unix(after)),
            Duration::from_millis(-1_750)
        );
    }

    #[test]
    fn fraction_rounding_carries() {
        // a fraction just below a whole second rounds to the next second
        let n = NtpTimestamp::from_parts(2_208_988_805, u32::MAX);
        assert_eq!(n.to_unix_in_era(0), Timestamp::from_secs_nanos(6, 0));
        assert_eq!(
            NtpTimestamp::from_unix(Timestamp::from_secs_nanos(0, 999_999_999)).fraction(),
            4_294_967_292
        );
        assert_eq!(
            NtpTimestamp::from_parts(0, 1 << 31).wrapping_add(Duration::from_millis(500)),
            NtpTimestamp::from_parts(1, 0)
        );
        assert_eq!(
            NtpTimestamp::ZERO.wrapping_add(Duration::from_nanos(-1)).0,
            u64::MAX - 3
        );
    }

    #[test]
    fn short_format() {
        assert_eq!(
            NtpShort::from_duration_ceil(Duration::from_secs(1)),
            NtpShort(1 << 16)
        );
        assert_eq!(
            NtpShort::from_duration_ceil(Duration::from_nanos(1)),
            NtpShort(1)
        );
        assert_eq!(
            NtpShort::from_duration_ceil(Duration::from_nanos(-5)),
            NtpShort(0)
        );
        assert_eq!(NtpShort::from_duration_ceil(Duration::MAX), NtpShort::MAX);
        assert_eq!(
            NtpShort::from_duration_ceil(Duration::from_secs(65_535)),
            NtpShort(65_535 << 16)
        );
        assert_eq!(NtpShort(1 << 15).to_duration(), Duration::from_millis(500));
        assert_eq!(NtpShort::MAX.to_duration().as_nanos(), 65_535_999_984_741);
    }

    proptest! {
        #[test]
        fn unix_roundtrip_near_pivot(secs in 0u64..(1u64 << 34), nanos in 0u32..1_000_000_000, skew in -(1i64 << 30)..(1i64 << 30)) {
            let t = Timestamp::from_secs_nanos(secs, nanos);
            let pivot = Timestamp::from_secs_nanos(secs.saturating_add_signed(skew), 0);
            let back = NtpTimestamp::from_unix(t).to_unix_near(pivot);
            // 2^-32 s resolution: the round trip is within 1 ns
            let err = back.duration_since(t).as_nanos().abs();
            prop_assert!(err <= 1, "{t} -> {back}");
        }

        #[test]
        fn difference_matches(a in (1u64 << 31)..(1u64 << 33), b in -(1i64 << 31)+1..(1i64 << 31)-1, na in 0u32..1_000_000_000) {
            let ta = Timestamp::from_secs_nanos(a, na);
            let tb = ta.wrapping_add(Duration::from_secs(b));
            let d = NtpTimestamp::from_unix(tb).duration_since(NtpTimestamp::from_unix(ta));
            prop_assert!((d.as_nanos() - b * 1_000_000_000).abs() <= 1);
        }

        #[test]
        fn add_duration_matches_difference(raw in any::<u64>(), ns in -(1i64 << 60)..(1i64 << 60)) {
            let a = NtpTimestamp(raw);
            let d = Duration::from_nanos(ns);
            let back = a.wrapping_add(d).duration_since(a);
            prop_assert!((back.as_nanos() - ns).abs() <= 1);
        }

        #[test]
        fn short_ceil_never_shrinks(ns in 0i64..65_535_000_000_000) {
            let s = NtpShort::from_duration_ceil(Duration::from_nanos(ns));
            prop_assert!(s.to_duration().as_nanos() >= ns);
            prop_assert!(s.to_duration().as_nanos() - ns <= 15_259);
        }
    }
}

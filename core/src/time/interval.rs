//! PTP-style time interval: signed nanoseconds with 16 fractional bits.

use fixed::types::I48F16;

use super::Duration;

/// A signed time span in nanoseconds with a 2⁻¹⁶ ns resolution, the layout of
/// IEEE 1588 `TimeInterval` and `correctionField` (I48F16 ns).
///
/// The range is ±2⁴⁷ ns (about ±39 hours); all arithmetic saturates at the ends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeInterval(I48F16);

#[cfg(feature = "defmt")]
impl defmt::Format for TimeInterval {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=i64}/65536 ns", self.0.to_bits());
    }
}

impl TimeInterval {
    /// Zero.
    pub const ZERO: Self = Self(I48F16::ZERO);
    /// The largest positive interval.
    pub const MAX: Self = Self(I48F16::MAX);
    /// The largest negative interval.
    pub const MIN: Self = Self(I48F16::MIN);

    /// From the raw wire value: nanoseconds × 2¹⁶.
    pub const fn from_bits(scaled_ns: i64) -> Self {
        Self(I48F16::from_bits(scaled_ns))
    }

    /// The raw wire value: nanoseconds × 2¹⁶.
    pub const fn to_bits(self) -> i64 {
        self.0.to_bits()
    }

    /// From the fixed-point value.
    pub const fn from_fixed(ns: I48F16) -> Self {
        Self(ns)
    }

    /// As a fixed-point number of nanoseconds.
    pub const fn to_fixed(self) -> I48F16 {
        self.0
    }

    /// From whole nanoseconds, saturating at ±2⁴⁷ ns.
    pub const fn from_nanos(ns: i64) -> Self {
        const LIMIT: i64 = 1 << 47;
        if ns >= LIMIT {
            Self::MAX
        } else if ns < -LIMIT {
            Self::MIN
        } else {
            Self(I48F16::from_bits(ns << 16))
        }
    }

    /// From a [`Duration`], saturating at ±2⁴⁷ ns.
    pub const fn from_duration(d: Duration) -> Self {
        Self::from_nanos(d.as_nanos())
    }

    /// To whole nanoseconds, rounded to nearest (ties away from zero).
    #[allow(
        clippy::cast_possible_wrap,
        clippy::arithmetic_side_effects,
        reason = "the rounded magnitude is at most 2^47"
    )]
    pub const fn round_nanos(self) -> i64 {
        let bits = self.0.to_bits();
        let mag = bits.unsigned_abs();
        let rounded = ((mag >> 16) + ((mag >> 15) & 1)) as i64;
        if bits < 0 { -rounded } else { rounded }
    }

    /// To a [`Duration`], rounded to the nearest nanosecond.
    pub const fn to_duration(self) -> Duration {
        Duration::from_nanos(self.round_nanos())
    }

    /// Sum, saturating.
    #[must_use]
    pub const fn saturating_add(self, rhs: Self) -> Self {
        Self(self.0.saturating_add(rhs.0))
    }

    /// Difference, saturating.
    #[must_use]
    pub const fn saturating_sub(self, rhs: Self) -> Self {
        Self(self.0.saturating_sub(rhs.0))
    }

    /// Negation, saturating.
    #[must_use]
    pub const fn saturating_neg(self) -> Self {
        Self(self.0.saturating_neg())
    }

    /// Absolute value, saturating.
    #[must_use]
    pub const fn saturating_abs(self) -> Self {
        Self(self.0.saturating_abs())
    }
}

impl core::fmt::Display for TimeInterval {
    /// Formats as decimal nanoseconds, e.g. `-1.5ns`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}ns", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn edges() {
        let lim = 1i64 << 47;
        assert_eq!(TimeInterval::from_nanos(lim), TimeInterval::MAX);
        assert_eq!(TimeInterval::from_nanos(lim - 1).round_nanos(), lim - 1);
        assert_eq!(TimeInterval::from_nanos(-lim).round_nanos(), -lim);
        assert_eq!(TimeInterval::from_nanos(-lim - 1), TimeInterval::MIN);
        assert_eq!(
            TimeInterval::MAX.saturating_add(TimeInterval::from_bits(1)),
            TimeInterval::MAX
        );
        assert_eq!(TimeInterval::MIN.saturating_neg(), TimeInterval::MAX);
        assert_eq!(TimeInterval::MAX.round_nanos(), lim);
        assert_eq!(TimeInterval::MIN.round_nanos(), -lim);
    }

    #[test]
    fn rounding_is_symmetric() {
        // 1.5 ns -> 2, -1.5 ns -> -2, 1.49 -> 1
        assert_eq!(TimeInterval::from_bits(3 << 15).round_nanos(), 2);
        assert_eq!(TimeInterval::from_bits(-(3 << 15)).round_nanos(), -2);
        assert_eq!(TimeInterval::from_bits((3 << 15) - 1).round_nanos(), 1);
        assert_eq!(TimeInterval::from_bits(-(3 << 15) + 1).round_nanos(), -1);
        // the PTP spec's example: 2.5 ns = 0x28000
        assert_eq!(
            TimeInterval::from_bits(0x2_8000).to_fixed(),
            I48F16::from_num(2.5)
        );
    }

    proptest! {
        #[test]
        fn nanos_roundtrip(ns in -(1i64 << 47)..(1i64 << 47)) {
            prop_assert_eq!(TimeInterval::from_nanos(ns).round_nanos(), ns);
        }

        #[test]
        fn rounding_is_odd(bits in (i64::MIN + 1)..=i64::MAX) {
            let a = TimeInterval::from_bits(bits).round_nanos();
            let b = TimeInterval::from_bits(-bits).round_nanos();
            prop_assert_eq!(a, -b);
        }
    }
}

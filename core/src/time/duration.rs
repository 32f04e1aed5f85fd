//! Signed durations in whole nanoseconds.

/// A signed time span in nanoseconds.
///
/// Arithmetic saturates at [`Duration::MIN`] / [`Duration::MAX`] (about ±292 years);
/// there are no operator overloads, so every call site states its semantics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Duration(i64);

impl Duration {
    /// Zero length.
    pub const ZERO: Self = Self(0);
    /// The longest positive duration (`i64::MAX` ns).
    pub const MAX: Self = Self(i64::MAX);
    /// The longest negative duration (`i64::MIN` ns).
    pub const MIN: Self = Self(i64::MIN);

    /// From nanoseconds.
    pub const fn from_nanos(ns: i64) -> Self {
        Self(ns)
    }

    /// From microseconds, saturating.
    pub const fn from_micros(us: i64) -> Self {
        Self(us.saturating_mul(1_000))
    }

    /// From milliseconds, saturating.
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms.saturating_mul(1_000_000))
    }

    /// From whole seconds, saturating.
    pub const fn from_secs(s: i64) -> Self {
        Self(s.saturating_mul(1_000_000_000))
    }

    /// In nanoseconds.
    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    /// Whole seconds, truncated toward zero.
    pub const fn whole_secs(self) -> i64 {
        self.0 / 1_000_000_000
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

    /// Negation, saturating (`-MIN` is `MAX`).
    #[must_use]
    pub const fn saturating_neg(self) -> Self {
        Self(self.0.saturating_neg())
    }

    /// Absolute value, saturating (`|MIN|` is `MAX`).
    #[must_use]
    pub const fn saturating_abs(self) -> Self {
        Self(self.0.saturating_abs())
    }

    /// Multiplication by an integer, saturating.
    #[must_use]
    pub const fn saturating_mul(self, k: i64) -> Self {
        Self(self.0.saturating_mul(k))
    }

    /// Sum, or `None` on overflow.
    pub const fn checked_add(self, rhs: Self) -> Option<Self> {
        match self.0.checked_add(rhs.0) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// Difference, or `None` on overflow.
    pub const fn checked_sub(self, rhs: Self) -> Option<Self> {
        match self.0.checked_sub(rhs.0) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// Is this span negative?
    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// The magnitude as an unsigned number of nanoseconds (exact, also for `MIN`).
    pub const fn unsigned_abs_nanos(self) -> u64 {
        self.0.unsigned_abs()
    }
}

impl core::fmt::Display for Duration {
    /// Formats as nanoseconds with a unit, e.g. `-1500ns`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}ns", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_saturate() {
        assert_eq!(Duration::from_secs(i64::MAX), Duration::MAX);
        assert_eq!(Duration::from_secs(i64::MIN), Duration::MIN);
        assert_eq!(Duration::from_millis(-3).as_nanos(), -3_000_000);
        assert_eq!(Duration::from_micros(7).as_nanos(), 7_000);
        assert_eq!(
            Duration::from_secs(9_223_372_036).as_nanos(),
            9_223_372_036_000_000_000
        );
        assert_eq!(Duration::from_secs(9_223_372_037), Duration::MAX);
    }

    #[test]
    fn edges_saturate() {
        let one = Duration::from_nanos(1);
        assert_eq!(Duration::MAX.saturating_add(one), Duration::MAX);
        assert_eq!(Duration::MIN.saturating_sub(one), Duration::MIN);
        assert_eq!(Duration::MIN.saturating_neg(), Duration::MAX);
        assert_eq!(Duration::MIN.saturating_abs(), Duration::MAX);
        assert_eq!(Duration::MAX.saturating_neg().as_nanos(), -i64::MAX);
        assert_eq!(Duration::MAX.checked_add(one), None);
        assert_eq!(Duration::MIN.checked_sub(one), None);
        assert_eq!(Duration::MAX.saturating_sub(one).as_nanos(), i64::MAX - 1);
        assert_eq!(Duration::MIN.unsigned_abs_nanos(), 1u64 << 63);
        assert_eq!(Duration::MIN.saturating_mul(-1), Duration::MAX);
        assert_eq!(Duration::from_nanos(-1_500_000_000).whole_secs(), -1);
    }
}

//! Wrapping nanosecond timestamps.

use super::{Duration, NANOS_PER_SEC, div_1e9, div_rem_1e9};

/// A point on a clock's time line: nanoseconds since 1970-01-01T00:00:00 of that
/// clock's time scale (UTC or TAI, see [`super::TimeScale`]).
///
/// The counter wraps modulo 2⁶⁴ ns (about 584 years, next in 2554). Differences
/// between two timestamps are taken modulo 2⁶⁴ and read as signed, so they are
/// exact whenever the true difference is within ±292 years, across the wrap too.
/// The derived ordering compares raw counters and does not know about the wrap;
/// use [`Timestamp::duration_since`] to compare nearby timestamps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Timestamp(u64);

impl Timestamp {
    /// The epoch itself.
    pub const EPOCH: Self = Self(0);

    /// From nanoseconds since the epoch.
    pub const fn from_nanos(ns: u64) -> Self {
        Self(ns)
    }

    /// From whole seconds and nanoseconds since the epoch; wraps modulo 2⁶⁴ ns.
    /// `nanos` may exceed one second; the excess carries into the seconds.
    pub const fn from_secs_nanos(secs: u64, nanos: u32) -> Self {
        Self(secs.wrapping_mul(NANOS_PER_SEC).wrapping_add(nanos as u64))
    }

    /// Nanoseconds since the epoch (modulo 2⁶⁴).
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Whole seconds since the epoch.
    pub const fn secs(self) -> u64 {
        // Multiply-only (no 64-bit division helper on 32-bit targets).
        div_1e9(self.0)
    }

    /// Nanoseconds within the second, `0..1_000_000_000`.
    pub const fn subsec_nanos(self) -> u32 {
        div_rem_1e9(self.0).1
    }

    /// `self + d`, wrapping modulo 2⁶⁴ ns.
    #[must_use]
    pub const fn wrapping_add(self, d: Duration) -> Self {
        Self(self.0.wrapping_add_signed(d.as_nanos()))
    }

    /// `self − d`, wrapping modulo 2⁶⁴ ns.
    #[must_use]
    #[allow(
        clippy::cast_sign_loss,
        reason = "two's complement wrapping is intended"
    )]
    pub const fn wrapping_sub(self, d: Duration) -> Self {
        Self(self.0.wrapping_sub(d.as_nanos() as u64))
    }

    /// `self − earlier`, read as a signed span: exact when the true difference is
    /// within ±2⁶³ ns (±292 years), including across the 2⁶⁴ wrap.
    #[allow(
        clippy::cast_possible_wrap,
        reason = "modular difference read as signed"
    )]
    pub const fn duration_since(self, earlier: Self) -> Duration {
        Duration::from_nanos(self.0.wrapping_sub(earlier.0) as i64)
    }

    /// The midpoint between `self` and `later`, exact to the nanosecond (rounded
    /// down), also across the wrap. Used for PHC read triples.
    #[must_use]
    #[allow(clippy::cast_sign_loss, reason = "modular arithmetic")]
    pub const fn midpoint(self, later: Self) -> Self {
        let half = later.duration_since(self).as_nanos().div_euclid(2);
        Self(self.0.wrapping_add(half as u64))
    }
}

impl core::fmt::Display for Timestamp {
    /// Formats as `seconds.nanoseconds`, e.g. `1700000000.000000123`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}.{:09}", self.secs(), self.subsec_nanos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parts() {
        let t = Timestamp::from_secs_nanos(1_700_000_000, 123);
        assert_eq!(t.secs(), 1_700_000_000);
        assert_eq!(t.subsec_nanos(), 123);
        assert_eq!(
            Timestamp::from_secs_nanos(1, 1_500_000_000).as_nanos(),
            2_500_000_000
        );
    }

    #[test]
    fn wrap_edges() {
        let max = Timestamp::from_nanos(u64::MAX);
        let one = Duration::from_nanos(1);
        assert_eq!(max.wrapping_add(one), Timestamp::EPOCH);
        assert_eq!(Timestamp::EPOCH.wrapping_sub(one), max);
        assert_eq!(Timestamp::EPOCH.duration_since(max), one);
        assert_eq!(max.duration_since(Timestamp::EPOCH).as_nanos(), -1);
        assert_eq!(
            Timestamp::EPOCH.wrapping_add(Duration::MIN).as_nanos(),
            1 << 63
        );
        assert_eq!(max.midpoint(Timestamp::from_nanos(1)), Timestamp::EPOCH);
        assert_eq!(
            Timestamp::from_nanos(10)
                .midpoint(Timestamp::from_nanos(4))
                .as_nanos(),
            7
        );
    }

    proptest! {
        #[test]
        fn add_then_since_roundtrips(t in any::<u64>(), d in any::<i64>()) {
            let t = Timestamp::from_nanos(t);
            let d = Duration::from_nanos(d);
            prop_assert_eq!(t.wrapping_add(d).duration_since(t), d);
            prop_assert_eq!(t.wrapping_add(d).wrapping_sub(d), t);
        }
    }
}

//! Time and frequency types: the numeric foundation of keel.
//!
//! | type | meaning | representation | overflow |
//! |---|---|---|---|
//! | [`Timestamp`] | a point on a clock's time line, ns since the Unix epoch | `u64` ns | wraps (every ~584 years) |
//! | [`Duration`] | signed time span | `i64` ns | saturates at ±292 years |
//! | [`TimeInterval`] | signed span with sub-ns resolution (PTP `TimeInterval`) | I48F16 ns | saturates at ±39 h |
//! | [`PtpTimestamp`] | IEEE 1588 48-bit seconds + 32-bit ns | `u64` s, `u32` ns | narrowing saturates |
//! | [`NtpTimestamp`] | RFC 5905 64-bit 32.32 timestamp, era-less | `u64` | wraps every era (136 years) |
//! | [`NtpShort`] | RFC 5905 16.16 short format (root delay/dispersion) | `u32` | narrowing saturates |
//! | [`Ppb`] | frequency offset, positive = faster | I32F32 ppb | saturates |
//! | [`ScaledPpm`] | Linux `timex.freq` unit, 2⁻¹⁶ ppm | `i64` | saturates |
//! | [`KernelFreq`] | a frequency split into `timex.tick` + `timex.freq` | | clamps to the kernel's range |
//! | [`UtcTaiOffset`] | TAI − UTC in whole seconds | `i16` | |
//! | [`LeapTable`] | leap seconds from a `leap-seconds.list` | up to 64 entries | |
//! | [`UtcDateTime`] | a UTC calendar date and time of day ([`Date`], [`TimeOfDay`]) | fields | `None` outside 1970–2554 |
//!
//! No arithmetic here panics: every operation names its overflow behaviour
//! (`wrapping_*`, `saturating_*`, `checked_*`).

#![cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]

mod civil;
mod duration;
mod freq;
mod interval;
mod leap;
mod ntp;
mod ptp;
mod timestamp;
mod utc;

pub use civil::{Date, TimeOfDay, UtcDateTime};
pub use duration::Duration;
pub use freq::{KernelFreq, Ppb, ScaledPpm};
pub use interval::TimeInterval;
pub use leap::{Leap, LeapEntry, LeapError, LeapKind, LeapTable};
pub use ntp::{NTP_UNIX_EPOCH_DELTA_SECS, NtpShort, NtpTimestamp};
pub use ptp::{PtpTimestamp, PtpTimestampError};
pub use timestamp::Timestamp;
pub use utc::{TimeScale, UtcTaiOffset};

/// Nanoseconds in one second.
pub const NANOS_PER_SEC: u64 = 1_000_000_000;

/// `⌊n / 10⁹⌋`, exact for every `u64`, by multiplication only.
///
/// 32-bit targets have no 64-bit divide instruction, and a `u64 / 10⁹`
/// compiles to a call of the `__aeabi_uldivmod` loop (the compiler does not
/// turn 64-bit division by a constant into a multiplication there). So:
/// `10⁹ = 2⁹ · 1953125`, and for `x = n >> 9 < 2⁵⁵`,
/// `⌊x / 1953125⌋ = ⌊x · m / 2⁷⁶⌋` with `m = ⌈2⁷⁶ / 1953125⌉` (Granlund and
/// Montgomery 1994, theorem 4.2: `N = 55`, `ℓ = ⌈log₂ 1953125⌉ = 21`).
/// `x · m < 2¹¹¹` fits a `u128`.
#[allow(
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    reason = "x·m < 2^111; the quotient < 2^35 after the shift"
)]
pub(crate) const fn div_1e9(n: u64) -> u64 {
    const M: u128 = (1u128 << 76).div_ceil(1_953_125);
    (((n >> 9) as u128 * M) >> 76) as u64
}

/// `(⌊n / 10⁹⌋, n mod 10⁹)`, exact, by multiplication only ([`div_1e9`]).
#[allow(
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    reason = "q·10⁹ ≤ n, and the remainder < 10⁹ < 2³²"
)]
pub(crate) const fn div_rem_1e9(n: u64) -> (u64, u32) {
    let q = div_1e9(n);
    (q, (n - q * NANOS_PER_SEC) as u32)
}

/// `⌊n / 10⁶⌋`, exact for every `u64`, by multiplication only: `10⁶ = 2⁶ ·
/// 15625`, `x = n >> 6 < 2⁵⁸`, `m = ⌈2⁷² / 15625⌉` (`N = 58`, `ℓ = 14`),
/// `x · m < 2¹¹⁷`.
#[allow(
    clippy::arithmetic_side_effects,
    clippy::cast_possible_truncation,
    reason = "x·m < 2^117; the quotient < 2^44 after the shift"
)]
pub(crate) const fn div_1e6(n: u64) -> u64 {
    const M: u128 = (1u128 << 72).div_ceil(15_625);
    (((n >> 6) as u128 * M) >> 72) as u64
}

#[cfg(test)]
mod div_tests {
    use super::*;
    use proptest::prelude::*;

    fn check(n: u64) {
        assert_eq!(div_1e9(n), n / 1_000_000_000, "{n}");
        assert_eq!(div_rem_1e9(n).1, (n % 1_000_000_000) as u32, "{n}");
        assert_eq!(div_1e6(n), n / 1_000_000, "{n}");
    }

    #[test]
    fn exact_at_the_edges() {
        for n in [
            0,
            1,
            999_999,
            1_000_000,
            999_999_999,
            1_000_000_000,
            u64::MAX,
            u64::MAX - 1,
        ] {
            check(n);
        }
        // Around every multiple of the divisors that the magic numbers are
        // most likely to miss: k·d − 1, k·d, for k up to the top of the range.
        for d in [1_000_000_000u64, 1_000_000] {
            let top = u64::MAX / d;
            let mut k: u64 = 1;
            while k <= top {
                for n in [k * d - 1, k * d, k * d + 1] {
                    check(n);
                }
                for n in [(top - k) * d, (top - k) * d + d - 1] {
                    check(n);
                }
                k = k.saturating_mul(3).saturating_add(1);
            }
        }
    }

    proptest! {
        #[test]
        fn exact_everywhere(n in any::<u64>()) {
            check(n);
        }

        #[test]
        fn exact_on_nanosecond_timestamps(s in 0u64..18_446_744_073, ns in 0u64..1_000_000_000) {
            check(s * 1_000_000_000 + ns);
        }
    }
}

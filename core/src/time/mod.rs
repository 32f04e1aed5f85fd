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
//!
//! No arithmetic here panics: every operation names its overflow behaviour
//! (`wrapping_*`, `saturating_*`, `checked_*`).

#![cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]

mod duration;
mod freq;
mod interval;
mod leap;
mod ntp;
mod ptp;
mod timestamp;
mod utc;

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

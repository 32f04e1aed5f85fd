//! The vmclock shared page (Linux `include/uapi/linux/vmclock-abi.h`): a
//! hypervisor-maintained structure that maps the CPU counter to real time and
//! signals disruptions such as live migration.
//!
//! ```text
//! off   field (all little-endian)
//! 0x00  magic u32 = 0x4b4c4356 ("VCLK")    0x04  size u32 (region size)
//! 0x08  version u16 = 1   0x0a counter_id u8   0x0b time_type u8
//! 0x0c  seq_count u32 (odd while the hypervisor is updating)
//! 0x10  disruption_marker u64              0x18  flags u64
//! 0x20  pad[2]  0x22 clock_status u8  0x23 leap_second_smearing_hint u8
//! 0x24  tai_offset_sec i16   0x26 leap_indicator u8   0x27 counter_period_shift u8
//! 0x28  counter_value u64 (C₁)
//! 0x30  counter_period_frac_sec u64 (P, units of 2^-(64+shift) s)
//! 0x38  counter_period_esterror_rate_frac_sec u64   0x40 …_maxerror_rate_frac_sec u64
//! 0x48  time_sec u64 (T₁)   0x50 time_frac_sec u64 (2^-64 s)
//! 0x58  time_esterror_nanosec u64   0x60 time_maxerror_nanosec u64
//! 0x68  vm_generation_counter u64 (newer pages only)
//! ```
//!
//! # Reading it consistently
//!
//! The hypervisor updates the page under a sequence count. keel never reads
//! memory itself; the caller copies the bytes and hands them over:
//!
//! 1. copy the page (`first`); read the CPU counter;
//! 2. read `seq_count` again (or copy the page again, `second`);
//! 3. call [`read_consistent`] (or [`read_two_copies`]). It returns
//!    [`Error::UpdateInProgress`] when the first copy's count is odd and
//!    [`Error::Changed`] when the count moved; both mean "try again" (see
//!    [`Error::is_retry`]).
//!
//! Then [`Snapshot::time_at`] turns the counter value into a [`Reading`]: the
//! time `T = T₁ + P·(C − C₁)` in 64.64 fixed point (128-bit only for the
//! product), and its uncertainty `T_err + P_err·|C − C₁|`.
//!
//! See the [module-level no-panic contract](super).

use core::fmt;

use super::bytes::{self, le_u16, le_u32, le_u64};
use crate::time::{Duration, NANOS_PER_SEC, TimeScale, Timestamp, UtcTaiOffset};

/// `magic`: "VCLK".
pub const MAGIC: u32 = 0x4b4c_4356;
/// The structure version this codec reads.
pub const VERSION: u16 = 1;
/// Length of a page without `vm_generation_counter`.
pub const BASE_LEN: usize = 0x68;
/// Length of a page with `vm_generation_counter`.
pub const FULL_LEN: usize = 0x70;

mod field {
    pub const MAGIC: usize = 0x00;
    pub const SIZE: usize = 0x04;
    pub const VERSION: usize = 0x08;
    pub const COUNTER_ID: usize = 0x0a;
    pub const TIME_TYPE: usize = 0x0b;
    pub const SEQ_COUNT: usize = 0x0c;
    pub const DISRUPTION_MARKER: usize = 0x10;
    pub const FLAGS: usize = 0x18;
    pub const CLOCK_STATUS: usize = 0x22;
    pub const SMEARING_HINT: usize = 0x23;
    pub const TAI_OFFSET: usize = 0x24;
    pub const LEAP: usize = 0x26;
    pub const PERIOD_SHIFT: usize = 0x27;
    pub const COUNTER_VALUE: usize = 0x28;
    pub const PERIOD: usize = 0x30;
    pub const PERIOD_ESTERROR: usize = 0x38;
    pub const PERIOD_MAXERROR: usize = 0x40;
    pub const TIME_SEC: usize = 0x48;
    pub const TIME_FRAC: usize = 0x50;
    pub const TIME_ESTERROR: usize = 0x58;
    pub const TIME_MAXERROR: usize = 0x60;
    pub const VM_GENERATION: usize = 0x68;
}

/// Why a page cannot be read, or a counter value not turned into time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// Fewer than [`BASE_LEN`] bytes (parse) or an output buffer too short (emit).
    Truncated,
    /// `magic` is not "VCLK".
    BadMagic,
    /// `version` is not 1.
    UnsupportedVersion,
    /// `seq_count` was odd: the hypervisor was updating the page. Retry.
    UpdateInProgress,
    /// `seq_count` changed between the two reads. Retry.
    Changed,
    /// `counter_id` is INVALID or unknown: the page signals disruptions only.
    NoClock,
    /// `time_type` is smeared or unknown; only UTC, TAI and MONOTONIC are read.
    UnsupportedTimeType,
    /// `clock_status` is UNRELIABLE.
    Unreliable,
    /// The computed time does not fit a [`Timestamp`] (after 2554).
    OutOfRange,
}

impl Error {
    /// Whether reading again may succeed ([`Error::UpdateInProgress`],
    /// [`Error::Changed`]).
    pub const fn is_retry(self) -> bool {
        matches!(self, Self::UpdateInProgress | Self::Changed)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Truncated => {
                "vmclock page shorter than its structure, or output buffer too short"
            }
            Self::BadMagic => "vmclock magic is not VCLK",
            Self::UnsupportedVersion => "vmclock structure version is not 1",
            Self::UpdateInProgress => "vmclock page is being updated (odd seq_count); retry",
            Self::Changed => "vmclock seq_count changed while reading; retry",
            Self::NoClock => "vmclock page carries no counter (disruption signal only)",
            Self::UnsupportedTimeType => "vmclock time type is smeared or unknown",
            Self::Unreliable => "vmclock clock status is UNRELIABLE",
            Self::OutOfRange => "vmclock time does not fit a 64-bit nanosecond timestamp",
        })
    }
}

impl core::error::Error for Error {}

/// `counter_id`: which CPU counter the page describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CounterId {
    /// 0: Arm virtual counter (`CNTVCT_EL0`).
    ArmVcnt,
    /// 1: x86 TSC.
    X86Tsc,
    /// 0xff: no counter; the page only signals disruptions.
    Invalid,
    /// Any other value.
    Unknown(u8),
}

impl CounterId {
    /// From the wire value.
    pub const fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::ArmVcnt,
            1 => Self::X86Tsc,
            0xff => Self::Invalid,
            o => Self::Unknown(o),
        }
    }
    /// The wire value.
    pub const fn to_u8(self) -> u8 {
        match self {
            Self::ArmVcnt => 0,
            Self::X86Tsc => 1,
            Self::Invalid => 0xff,
            Self::Unknown(v) => v,
        }
    }
}

/// `time_type`: the time scale of `time_sec`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TimeType {
    /// 0: UTC since 1970-01-01.
    Utc,
    /// 1: TAI since 1970-01-01 (the specification prefers it).
    Tai,
    /// 2: monotonic, undefined epoch.
    Monotonic,
    /// 3: smeared UTC (not allowed on this page).
    InvalidSmeared,
    /// 4: maybe-smeared UTC (not allowed on this page).
    InvalidMaybeSmeared,
    /// Any other value.
    Unknown(u8),
}

impl TimeType {
    /// From the wire value.
    pub const fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Utc,
            1 => Self::Tai,
            2 => Self::Monotonic,
            3 => Self::InvalidSmeared,
            4 => Self::InvalidMaybeSmeared,
            o => Self::Unknown(o),
        }
    }
    /// The wire value.
    pub const fn to_u8(self) -> u8 {
        match self {
            Self::Utc => 0,
            Self::Tai => 1,
            Self::Monotonic => 2,
            Self::InvalidSmeared => 3,
            Self::InvalidMaybeSmeared => 4,
            Self::Unknown(v) => v,
        }
    }
    /// The matching keel time scale (`None` for monotonic and invalid types).
    pub const fn time_scale(self) -> Option<TimeScale> {
        match self {
            Self::Utc => Some(TimeScale::Utc),
            Self::Tai => Some(TimeScale::Tai),
            _ => None,
        }
    }
}

/// `clock_status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ClockStatus {
    /// 0: UNKNOWN (the hypervisor does not say).
    Unknown,
    /// 1: INITIALIZING.
    Initializing,
    /// 2: SYNCHRONIZED.
    Synchronized,
    /// 3: FREERUNNING.
    FreeRunning,
    /// 4: UNRELIABLE (do not use the time).
    Unreliable,
    /// A value this codec does not know (named `Other` because `Unknown` is
    /// the specification's name for 0).
    Other(u8),
}

impl ClockStatus {
    /// From the wire value.
    pub const fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Unknown,
            1 => Self::Initializing,
            2 => Self::Synchronized,
            3 => Self::FreeRunning,
            4 => Self::Unreliable,
            o => Self::Other(o),
        }
    }
    /// The wire value.
    pub const fn to_u8(self) -> u8 {
        match self {
            Self::Unknown => 0,
            Self::Initializing => 1,
            Self::Synchronized => 2,
            Self::FreeRunning => 3,
            Self::Unreliable => 4,
            Self::Other(v) => v,
        }
    }
}

/// `leap_second_smearing_hint` (a hint only; the page's time is never smeared).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SmearingHint {
    /// 0: strict, no smearing.
    Strict,
    /// 1: linear smear from noon to noon.
    NoonLinear,
    /// 2: UTC-SLS.
    UtcSls,
    /// Any other value.
    Unknown(u8),
}

impl SmearingHint {
    /// From the wire value.
    pub const fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Strict,
            1 => Self::NoonLinear,
            2 => Self::UtcSls,
            o => Self::Unknown(o),
        }
    }
    /// The wire value.
    pub const fn to_u8(self) -> u8 {
        match self {
            Self::Strict => 0,
            Self::NoonLinear => 1,
            Self::UtcSls => 2,
            Self::Unknown(v) => v,
        }
    }
}

/// `leap_indicator`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LeapIndicator {
    /// 0: no leap second nearby.
    None,
    /// 1: a positive leap second at the end of the month.
    PrePositive,
    /// 2: a negative leap second at the end of the month.
    PreNegative,
    /// 3: now inside the 23:59:60 second.
    Positive,
    /// 4: a positive leap second just happened.
    PostPositive,
    /// 5: a negative leap second just happened.
    PostNegative,
    /// Any other value.
    Unknown(u8),
}

impl LeapIndicator {
    /// From the wire value.
    pub const fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::None,
            1 => Self::PrePositive,
            2 => Self::PreNegative,
            3 => Self::Positive,
            4 => Self::PostPositive,
            5 => Self::PostNegative,
            o => Self::Unknown(o),
        }
    }
    /// The wire value.
    pub const fn to_u8(self) -> u8 {
        match self {
            Self::None => 0,
            Self::PrePositive => 1,
            Self::PreNegative => 2,
            Self::Positive => 3,
            Self::PostPositive => 4,
            Self::PostNegative => 5,
            Self::Unknown(v) => v,
        }
    }
}

/// `flags` bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Flags(pub u64);

impl Flags {
    /// `tai_offset_sec` is valid.
    pub const TAI_OFFSET_VALID: u64 = 1 << 0;
    /// A disruption (maintenance) is expected within about a day.
    pub const DISRUPTION_SOON: u64 = 1 << 1;
    /// A disruption is expected within about an hour.
    pub const DISRUPTION_IMMINENT: u64 = 1 << 2;
    /// `counter_period_esterror_rate_frac_sec` is valid.
    pub const PERIOD_ESTERROR_VALID: u64 = 1 << 3;
    /// `counter_period_maxerror_rate_frac_sec` is valid.
    pub const PERIOD_MAXERROR_VALID: u64 = 1 << 4;
    /// `time_esterror_nanosec` is valid.
    pub const TIME_ESTERROR_VALID: u64 = 1 << 5;
    /// `time_maxerror_nanosec` is valid.
    pub const TIME_MAXERROR_VALID: u64 = 1 << 6;
    /// Time computed from the page never goes backwards across updates.
    pub const TIME_MONOTONIC: u64 = 1 << 7;
    /// `vm_generation_counter` is present and maintained.
    pub const VM_GEN_COUNTER_PRESENT: u64 = 1 << 8;
    /// The device raises notifications when the page changes.
    pub const NOTIFICATION_PRESENT: u64 = 1 << 9;

    /// Whether all bits of `mask` are set.
    pub const fn contains(self, mask: u64) -> bool {
        self.0 & mask == mask
    }
}

/// The `seq_count` of a page copy, or `None` when the copy is too short to
/// hold it.
pub fn seq_count(page: &[u8]) -> Option<u32> {
    (page.len() >= field::SEQ_COUNT.saturating_add(4)).then(|| le_u32(page, field::SEQ_COUNT))
}

/// One copy of the page's fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Snapshot {
    /// `size`: the region size (a page when it can be mapped).
    pub size: u32,
    /// `counter_id`.
    pub counter_id: CounterId,
    /// `time_type`.
    pub time_type: TimeType,
    /// `seq_count` as copied.
    pub seq_count: u32,
    /// `disruption_marker`: a new value after every counter disruption (live
    /// migration, restore). Compare with the last value seen.
    pub disruption_marker: u64,
    /// `flags`.
    pub flags: Flags,
    /// `clock_status`.
    pub clock_status: ClockStatus,
    /// `leap_second_smearing_hint`.
    pub smearing_hint: SmearingHint,
    /// `tai_offset_sec`: TAI − UTC (valid when [`Flags::TAI_OFFSET_VALID`]).
    pub tai_offset_sec: i16,
    /// `leap_indicator`.
    pub leap_indicator: LeapIndicator,
    /// `counter_period_shift`.
    pub counter_period_shift: u8,
    /// `counter_value`, C₁.
    pub counter_value: u64,
    /// `counter_period_frac_sec`, P in 2^-(64+shift) s.
    pub counter_period_frac_sec: u64,
    /// `counter_period_esterror_rate_frac_sec`, same unit as P.
    pub counter_period_esterror_rate_frac_sec: u64,
    /// `counter_period_maxerror_rate_frac_sec`, same unit as P.
    pub counter_period_maxerror_rate_frac_sec: u64,
    /// `time_sec`, whole seconds of T₁.
    pub time_sec: u64,
    /// `time_frac_sec`, fraction of T₁ in 2⁻⁶⁴ s.
    pub time_frac_sec: u64,
    /// `time_esterror_nanosec`.
    pub time_esterror_nanosec: u64,
    /// `time_maxerror_nanosec`.
    pub time_maxerror_nanosec: u64,
    /// `vm_generation_counter`, when the copy is long enough to hold it
    /// (meaningful when [`Flags::VM_GEN_COUNTER_PRESENT`]).
    pub vm_generation_counter: Option<u64>,
}

/// Reads a consistent snapshot: `first` is the page copy, `second_seq_count`
/// the `seq_count` read again after the copy and after the CPU counter.
///
/// # Errors
/// [`Error::UpdateInProgress`] / [`Error::Changed`]: retry. Otherwise as
/// [`Snapshot::parse`].
pub fn read_consistent(first: &[u8], second_seq_count: u32) -> Result<Snapshot, Error> {
    let s = Snapshot::parse(first)?;
    if s.seq_count & 1 == 1 {
        return Err(Error::UpdateInProgress);
    }
    if s.seq_count != second_seq_count {
        return Err(Error::Changed);
    }
    Ok(s)
}

/// Reads a consistent snapshot from two copies of the page taken one after
/// the other (read the CPU counter between them).
///
/// # Errors
/// As [`read_consistent`]; [`Error::Truncated`] when `second` is too short to
/// hold `seq_count`.
pub fn read_two_copies(first: &[u8], second: &[u8]) -> Result<Snapshot, Error> {
    read_consistent(first, seq_count(second).ok_or(Error::Truncated)?)
}

/// What a counter value means according to a snapshot.
///
/// The true time lies within `time ± max_error` (the page's guarantee).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Reading {
    /// The time on the page's scale, rounded to the nanosecond.
    pub time: Timestamp,
    /// The page's time scale.
    pub time_type: TimeType,
    /// Maximum error: `time_maxerror + period_maxerror·|C − C₁|` plus 1 ns of
    /// rounding. `None` when the page does not publish both bounds.
    pub max_error: Option<Duration>,
    /// Estimated error (one standard deviation, the page's estimate), same
    /// composition. `None` when not published.
    pub est_error: Option<Duration>,
    /// TAI − UTC, when the page says it is valid.
    pub tai_offset: Option<UtcTaiOffset>,
    /// Leap indicator.
    pub leap_indicator: LeapIndicator,
    /// Clock status.
    pub clock_status: ClockStatus,
    /// The disruption marker this reading belongs to.
    pub disruption_marker: u64,
}

impl Reading {
    /// The time on the UTC scale: as is for a UTC page, converted with the
    /// page's TAI offset for a TAI page, `None` otherwise.
    pub fn utc(&self) -> Option<Timestamp> {
        match self.time_type {
            TimeType::Utc => Some(self.time),
            TimeType::Tai => self.tai_offset.map(|o| o.tai_to_utc(self.time)),
            _ => None,
        }
    }
}

/// Converts a u128 count of 2⁻⁶⁴ s to nanoseconds, rounding up, saturating.
fn frac_to_nanos_ceil(x: u128) -> u64 {
    let secs = x >> 64;
    let lo = x & u128::from(u64::MAX);
    // lo·10⁹ < 2^94: no overflow
    let lo_ns = lo
        .saturating_mul(u128::from(NANOS_PER_SEC))
        .saturating_add(u128::from(u64::MAX))
        >> 64;
    let ns = secs
        .saturating_mul(u128::from(NANOS_PER_SEC))
        .saturating_add(lo_ns);
    u64::try_from(ns).unwrap_or(u64::MAX)
}

fn duration_from_u64_ns(ns: u64) -> Duration {
    Duration::from_nanos(i64::try_from(ns).unwrap_or(i64::MAX))
}

impl Snapshot {
    /// Parses a page copy (at least [`BASE_LEN`] bytes; the generation counter
    /// is read when [`FULL_LEN`] bytes are there). Does not check `seq_count`;
    /// use [`read_consistent`] for that.
    ///
    /// # Errors
    /// [`Error::Truncated`], [`Error::BadMagic`], [`Error::UnsupportedVersion`].
    pub fn parse(page: &[u8]) -> Result<Self, Error> {
        if page.len() < BASE_LEN {
            return Err(Error::Truncated);
        }
        if le_u32(page, field::MAGIC) != MAGIC {
            return Err(Error::BadMagic);
        }
        if le_u16(page, field::VERSION) != VERSION {
            return Err(Error::UnsupportedVersion);
        }
        Ok(Self {
            size: le_u32(page, field::SIZE),
            counter_id: CounterId::from_u8(bytes::u8_at(page, field::COUNTER_ID)),
            time_type: TimeType::from_u8(bytes::u8_at(page, field::TIME_TYPE)),
            seq_count: le_u32(page, field::SEQ_COUNT),
            disruption_marker: le_u64(page, field::DISRUPTION_MARKER),
            flags: Flags(le_u64(page, field::FLAGS)),
            clock_status: ClockStatus::from_u8(bytes::u8_at(page, field::CLOCK_STATUS)),
            smearing_hint: SmearingHint::from_u8(bytes::u8_at(page, field::SMEARING_HINT)),
            tai_offset_sec: i16::from_le_bytes(bytes::array(page, field::TAI_OFFSET)),
            leap_indicator: LeapIndicator::from_u8(bytes::u8_at(page, field::LEAP)),
            counter_period_shift: bytes::u8_at(page, field::PERIOD_SHIFT),
            counter_value: le_u64(page, field::COUNTER_VALUE),
            counter_period_frac_sec: le_u64(page, field::PERIOD),
            counter_period_esterror_rate_frac_sec: le_u64(page, field::PERIOD_ESTERROR),
            counter_period_maxerror_rate_frac_sec: le_u64(page, field::PERIOD_MAXERROR),
            time_sec: le_u64(page, field::TIME_SEC),
            time_frac_sec: le_u64(page, field::TIME_FRAC),
            time_esterror_nanosec: le_u64(page, field::TIME_ESTERROR),
            time_maxerror_nanosec: le_u64(page, field::TIME_MAXERROR),
            vm_generation_counter: (page.len() >= FULL_LEN)
                .then(|| le_u64(page, field::VM_GENERATION)),
        })
    }

    /// Bytes [`Snapshot::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        if self.vm_generation_counter.is_some() {
            FULL_LEN
        } else {
            BASE_LEN
        }
    }

    /// Writes the structure (for simulators and tests); pad bytes are zero.
    ///
    /// # Errors
    /// [`Error::Truncated`] when `buf` is shorter than [`Snapshot::buffer_len`].
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let len = self.buffer_len();
        let out = buf.get_mut(..len).ok_or(Error::Truncated)?;
        out.fill(0);
        bytes::put(out, field::MAGIC, &MAGIC.to_le_bytes());
        bytes::put(out, field::SIZE, &self.size.to_le_bytes());
        bytes::put(out, field::VERSION, &VERSION.to_le_bytes());
        bytes::put_u8(out, field::COUNTER_ID, self.counter_id.to_u8());
        bytes::put_u8(out, field::TIME_TYPE, self.time_type.to_u8());
        bytes::put(out, field::SEQ_COUNT, &self.seq_count.to_le_bytes());
        bytes::put(
            out,
            field::DISRUPTION_MARKER,
            &self.disruption_marker.to_le_bytes(),
        );
        bytes::put(out, field::FLAGS, &self.flags.0.to_le_bytes());
        bytes::put_u8(out, field::CLOCK_STATUS, self.clock_status.to_u8());
        bytes::put_u8(out, field::SMEARING_HINT, self.smearing_hint.to_u8());
        bytes::put(out, field::TAI_OFFSET, &self.tai_offset_sec.to_le_bytes());
        bytes::put_u8(out, field::LEAP, self.leap_indicator.to_u8());
        bytes::put_u8(out, field::PERIOD_SHIFT, self.counter_period_shift);
        for (at, v) in [
            (field::COUNTER_VALUE, self.counter_value),
            (field::PERIOD, self.counter_period_frac_sec),
            (
                field::PERIOD_ESTERROR,
                self.counter_period_esterror_rate_frac_sec,
            ),
            (
                field::PERIOD_MAXERROR,
                self.counter_period_maxerror_rate_frac_sec,
            ),
            (field::TIME_SEC, self.time_sec),
            (field::TIME_FRAC, self.time_frac_sec),
            (field::TIME_ESTERROR, self.time_esterror_nanosec),
            (field::TIME_MAXERROR, self.time_maxerror_nanosec),
        ] {
            bytes::put(out, at, &v.to_le_bytes());
        }
        if let Some(g) = self.vm_generation_counter {
            bytes::put(out, field::VM_GENERATION, &g.to_le_bytes());
        }
        Ok(len)
    }

    /// Whether the counter was disrupted since a reading whose marker was
    /// `previous`: any change means "discard calibration against this counter".
    pub const fn disrupted_since(&self, previous: u64) -> bool {
        self.disruption_marker != previous
    }

    /// `(|delta| · rate) >> shift`: a count of 2⁻⁶⁴ s.
    fn scaled(&self, mag: u64, rate: u64) -> u128 {
        let prod = u128::from(mag).saturating_mul(u128::from(rate));
        prod.checked_shr(u32::from(self.counter_period_shift))
            .unwrap_or(0)
    }

    /// The time at CPU counter value `counter`: `T₁ + P·(C − C₁)`, with C − C₁
    /// read as a signed 64-bit difference (so a counter slightly before C₁
    /// also works), and its error bounds.
    ///
    /// # Errors
    /// [`Error::NoClock`] for a disruption-only page,
    /// [`Error::UnsupportedTimeType`] for smeared or unknown scales,
    /// [`Error::Unreliable`] when the status says so, [`Error::OutOfRange`]
    /// when the result does not fit a [`Timestamp`].
    pub fn time_at(&self, counter: u64) -> Result<Reading, Error> {
        if !matches!(self.counter_id, CounterId::ArmVcnt | CounterId::X86Tsc) {
            return Err(Error::NoClock);
        }
        if !matches!(
            self.time_type,
            TimeType::Utc | TimeType::Tai | TimeType::Monotonic
        ) {
            return Err(Error::UnsupportedTimeType);
        }
        if self.clock_status == ClockStatus::Unreliable {
            return Err(Error::Unreliable);
        }
        // the modular difference read as two's complement
        let delta = i64::from_ne_bytes(counter.wrapping_sub(self.counter_value).to_ne_bytes());
        let mag = delta.unsigned_abs();
        let step = self.scaled(mag, self.counter_period_frac_sec);
        let t1 = (u128::from(self.time_sec) << 64) | u128::from(self.time_frac_sec);
        let t = if delta >= 0 {
            t1.checked_add(step)
        } else {
            t1.checked_sub(step)
        }
        .ok_or(Error::OutOfRange)?;
        let (secs, frac) = ((t >> 64), t & u128::from(u64::MAX));
        // round the fraction to the nearest ns; frac·10⁹ < 2^94
        let ns = frac
            .saturating_mul(u128::from(NANOS_PER_SEC))
            .saturating_add(1 << 63)
            >> 64;
        let total = secs
            .checked_mul(u128::from(NANOS_PER_SEC))
            .and_then(|s| s.checked_add(ns))
            .and_then(|v| u64::try_from(v).ok())
            .ok_or(Error::OutOfRange)?;
        let f = self.flags;
        let bound = |time_valid: u64, time_err: u64, period_valid: u64, rate: u64| {
            if !f.contains(time_valid) || (mag != 0 && !f.contains(period_valid)) {
                return None;
            }
            let drift = frac_to_nanos_ceil(self.scaled(mag, rate));
            Some(duration_from_u64_ns(
                time_err.saturating_add(drift).saturating_add(1),
            ))
        };
        Ok(Reading {
            time: Timestamp::from_nanos(total),
            time_type: self.time_type,
            max_error: bound(
                Flags::TIME_MAXERROR_VALID,
                self.time_maxerror_nanosec,
                Flags::PERIOD_MAXERROR_VALID,
                self.counter_period_maxerror_rate_frac_sec,
            ),
            est_error: bound(
                Flags::TIME_ESTERROR_VALID,
                self.time_esterror_nanosec,
                Flags::PERIOD_ESTERROR_VALID,
                self.counter_period_esterror_rate_frac_sec,
            ),
            tai_offset: f
                .contains(Flags::TAI_OFFSET_VALID)
                .then_some(UtcTaiOffset(self.tai_offset_sec)),
            leap_indicator: self.leap_indicator,
            clock_status: self.clock_status,
            disruption_marker: self.disruption_marker,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing, reason = "tests index fixed arrays")]

    use super::*;
    use proptest::prelude::*;

    /// 1 GHz counter period from the specification's worked example:
    /// 10⁻⁹ s = 0x89705F4136B4A597 / 2^(64+29).
    const GHZ_PERIOD: u64 = 0x8970_5F41_36B4_A597;
    const C1: u64 = 1 << 40;

    /// A page laid out byte by byte from `vmclock-abi.h`: x86 TSC at 1 GHz,
    /// TAI, synchronised, T₁ = 1700000037.25 s at C₁ = 2⁴⁰, ±1000 ns
    /// max error, period max error 2^-(64+29)·0x1000_0000 per count.
    fn page() -> [u8; FULL_LEN] {
        let mut b = [0u8; FULL_LEN];
        b[0x00..0x04].copy_from_slice(&[0x56, 0x43, 0x4c, 0x4b]); // "VCLK"
        b[0x04..0x08].copy_from_slice(&4096u32.to_le_bytes());
        b[0x08..0x0a].copy_from_slice(&1u16.to_le_bytes());
        b[0x0a] = 1; // X86_TSC
        b[0x0b] = 1; // TAI
        b[0x0c..0x10].copy_from_slice(&6u32.to_le_bytes());
        b[0x10..0x18].copy_from_slice(&0xDEAD_BEEFu64.to_le_bytes());
        let flags = Flags::TAI_OFFSET_VALID
            | Flags::PERIOD_MAXERROR_VALID
            | Flags::TIME_MAXERROR_VALID
            | Flags::VM_GEN_COUNTER_PRESENT;
        b[0x18..0x20].copy_from_slice(&flags.to_le_bytes());
        b[0x22] = 2; // SYNCHRONIZED
        b[0x23] = 0;
        b[0x24..0x26].copy_from_slice(&37i16.to_le_bytes());
        b[0x26] = 1; // PRE_POS
        b[0x27] = 29;
        b[0x28..0x30].copy_from_slice(&C1.to_le_bytes());
        b[0x30..0x38].copy_from_slice(&GHZ_PERIOD.to_le_bytes());
        b[0x40..0x48].copy_from_slice(&0x1000_0000u64.to_le_bytes());
        b[0x48..0x50].copy_from_slice(&1_700_000_037u64.to_le_bytes());
        b[0x50..0x58].copy_from_slice(&(1u64 << 62).to_le_bytes()); // 0.25 s
        b[0x60..0x68].copy_from_slice(&1000u64.to_le_bytes());
        b[0x68..0x70].copy_from_slice(&3u64.to_le_bytes());
        b
    }

    #[test]
    fn parse_layout() {
        let b = page();
        let s = Snapshot::parse(&b).unwrap();
        assert_eq!(s.counter_id, CounterId::X86Tsc);
        assert_eq!(s.time_type, TimeType::Tai);
        assert_eq!(s.seq_count, 6);
        assert_eq!(s.disruption_marker, 0xDEAD_BEEF);
        assert_eq!(s.clock_status, ClockStatus::Synchronized);
        assert_eq!(s.tai_offset_sec, 37);
        assert_eq!(s.leap_indicator, LeapIndicator::PrePositive);
        assert_eq!(s.counter_period_shift, 29);
        assert_eq!(s.vm_generation_counter, Some(3));
        let mut out = [0u8; FULL_LEN];
        assert_eq!(s.emit(&mut out), Ok(FULL_LEN));
        assert_eq!(out, b);
        // an older, shorter page has no generation counter
        let s = Snapshot::parse(&b[..BASE_LEN]).unwrap();
        assert_eq!(s.vm_generation_counter, None);
        assert_eq!(Snapshot::parse(&b[..BASE_LEN - 1]), Err(Error::Truncated));
        let mut bad = b;
        bad[0] = 0;
        assert_eq!(Snapshot::parse(&bad), Err(Error::BadMagic));
        let mut bad = b;
        bad[8] = 2;
        assert_eq!(Snapshot::parse(&bad), Err(Error::UnsupportedVersion));
    }

    #[test]
    fn seq_count_protocol() {
        let b = page();
        assert!(read_consistent(&b, 6).is_ok());
        assert_eq!(read_consistent(&b, 8), Err(Error::Changed));
        let mut odd = b;
        odd[0x0c] = 7;
        assert_eq!(read_consistent(&odd, 7), Err(Error::UpdateInProgress));
        assert!(Error::UpdateInProgress.is_retry() && Error::Changed.is_retry());
        assert!(!Error::BadMagic.is_retry());
        let mut later = b;
        later[0x0c] = 8;
        assert_eq!(read_two_copies(&b, &later), Err(Error::Changed));
        assert_eq!(read_two_copies(&b, &b[..15]), Err(Error::Truncated));
        assert_eq!(read_two_copies(&b, &b).map(|s| s.seq_count), Ok(6));
        assert_eq!(seq_count(&b[..16]), Some(6));
        assert_eq!(seq_count(&b[..15]), None);
    }

    #[test]
    fn counter_to_time() {
        let s = Snapshot::parse(&page()).unwrap();
        // at C₁ exactly: T₁, error = time error + 1 ns rounding
        let r = s.time_at(C1).unwrap();
        assert_eq!(
            r.time,
            Timestamp::from_secs_nanos(1_700_000_037, 250_000_000)
        );
        assert_eq!(r.max_error, Some(Duration::from_nanos(1001)));
        assert_eq!(r.est_error, None);
        assert_eq!(r.tai_offset, Some(UtcTaiOffset(37)));
        assert_eq!(
            r.utc(),
            Some(Timestamp::from_secs_nanos(1_700_000_000, 250_000_000))
        );
        // 1.5·10⁹ counts later at 1 GHz: +1.5 s
        let r = s.time_at(C1 + 1_500_000_000).unwrap();
        assert_eq!(
            r.time,
            Timestamp::from_secs_nanos(1_700_000_038, 750_000_000)
        );
        // period error 0x1000_0000 / 2^93 s per count ≈ 2.7e-20 s; ×1.5e9 → 0.04 ns, rounded up to 1
        assert_eq!(r.max_error, Some(Duration::from_nanos(1002)));
        // a counter before C₁
        let r = s.time_at(C1 - 250_000_000).unwrap();
        assert_eq!(r.time, Timestamp::from_secs_nanos(1_700_000_037, 0));
        // a counter wrapped far before C₁ would land before 1970: out of range
        assert_eq!(s.time_at(C1 + (1u64 << 63)), Err(Error::OutOfRange));
    }

    #[test]
    fn refusals() {
        let mut s = Snapshot::parse(&page()).unwrap();
        s.clock_status = ClockStatus::Unreliable;
        assert_eq!(s.time_at(0), Err(Error::Unreliable));
        s.clock_status = ClockStatus::FreeRunning;
        s.time_type = TimeType::InvalidSmeared;
        assert_eq!(s.time_at(0), Err(Error::UnsupportedTimeType));
        s.time_type = TimeType::Utc;
        s.counter_id = CounterId::Invalid;
        assert_eq!(s.time_at(0), Err(Error::NoClock));
        assert!(s.disrupted_since(1) && !s.disrupted_since(0xDEAD_BEEF));
        // without the period bound, only a reading at C₁ has a max error
        s.counter_id = CounterId::ArmVcnt;
        s.flags = Flags(Flags::TIME_MAXERROR_VALID);
        assert!(s.time_at(C1).unwrap().max_error.is_some());
        assert_eq!(s.time_at(C1 + 1).unwrap().max_error, None);
        assert_eq!(
            s.time_at(C1 + 1).unwrap().utc().map(|t| t.secs()),
            Some(1_700_000_037)
        );
        // shifts past 127 make the period vanish instead of panicking
        s.counter_period_shift = 200;
        assert_eq!(
            s.time_at(u64::MAX).unwrap().time,
            s.time_at(C1).unwrap().time
        );
    }

    proptest! {
        #[test]
        fn roundtrip(
            raw in proptest::collection::vec(any::<u8>(), FULL_LEN..=FULL_LEN),
            short in any::<bool>(),
        ) {
            let mut b = [0u8; FULL_LEN];
            b.copy_from_slice(&raw);
            b[0..4].copy_from_slice(&MAGIC.to_le_bytes());
            b[8..10].copy_from_slice(&VERSION.to_le_bytes());
            let len = if short { BASE_LEN } else { FULL_LEN };
            let s = Snapshot::parse(&b[..len]).unwrap();
            let mut out = [0u8; FULL_LEN];
            let n = s.emit(&mut out).unwrap();
            prop_assert_eq!(n, len);
            prop_assert_eq!(Snapshot::parse(&out[..n]).unwrap(), s);
            // any counter: never a panic
            let _ = s.time_at(u64::from_le_bytes(b[0x28..0x30].try_into().unwrap()).wrapping_add(12345));
        }

        #[test]
        fn time_is_monotonic_in_counter(c in any::<u32>(), d in 0u32..1_000_000) {
            let s = Snapshot::parse(&page()).unwrap();
            let a = s.time_at(u64::from(c)).unwrap().time;
            let b = s.time_at(u64::from(c) + u64::from(d)).unwrap().time;
            let dt = b.duration_since(a).as_nanos();
            // 1 GHz: d counts are d ns (±1 for rounding)
            prop_assert!((dt - i64::from(d)).abs() <= 1);
        }
    }
}

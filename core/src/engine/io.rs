//! What crosses the engine's boundary: its configuration, the events the
//! caller reports, the commands it returns, its status and its notices.
//!
//! Time lines: **loop time** (`u64` ns, any monotonic clock of the caller:
//! `CLOCK_MONOTONIC`, a timer counter) schedules the updates; **sink time**
//! ([`Timestamp`]) is the steered clock's own reading, the servo's time line;
//! **wall time** is UTC, for leap seconds only.

use crate::measure::phc::PhcSample;
use crate::servo::{ServoConfig, ServoState};
use crate::time::{Duration, Leap, Ppb, Timestamp};

/// The most sources an engine can hold (and the default capacity: a PHC
/// and up to seven NTP servers).
pub const MAX_SOURCES: usize = 8;

/// What kind of source a reading comes from. Each kind carries its own
/// uncertainty with every reading; only [`SourceKind::Phc`] is polled today.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SourceKind {
    /// A PTP hardware clock read by cross-timestamp or sys/phc/sys triples.
    Phc,
    /// An NTP server (four-timestamp exchange, root distance).
    Ntp,
    /// A pulse per second with a time-of-day source naming the second.
    Pps,
}

/// A source as registered with [`super::Engine::add_source`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SourceConfig {
    /// Its kind.
    pub kind: SourceKind,
    /// Added to every reading's offset to bring the source onto the sink's
    /// time scale: TAI − UTC for a TAI source steering a UTC clock, else 0.
    pub scale_offset: Duration,
    /// The source's time scale was guessed from evidence, not configured or
    /// known: a step of the UTC–TAI difference is then refused
    /// ([`is_scale_step`]) and the engine halts.
    pub scale_guessed: bool,
}

impl SourceConfig {
    /// A PHC on the sink's time scale.
    pub const fn phc() -> Self {
        Self {
            kind: SourceKind::Phc,
            scale_offset: Duration::ZERO,
            scale_guessed: false,
        }
    }
}

/// A registered source (an index below [`MAX_SOURCES`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SourceId(pub u8);

/// The clock the engine steers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SinkConfig {
    /// The sink has the kernel's `maxerror`/`esterror`/`status`/leap state
    /// (`CLOCK_REALTIME`; a PHC has none): [`Adjust::status`] is filled.
    pub kernel_status: bool,
    /// The largest frequency correction it accepts (a PHC's `max_adj`).
    pub max_frequency: Ppb,
}

/// The engine's settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EngineConfig {
    /// The regular update interval; the servo may ask for earlier re-reads.
    pub interval: Duration,
    /// Readings per source read (PHC triples, `1..=25`).
    pub samples: u8,
    /// The servo's thresholds; `max_frequency` is further limited by the sink.
    pub servo: ServoConfig,
    /// After this many updates, slew only (linuxptp `step_threshold` for a
    /// while, then never); 0: the thresholds stay.
    pub step_limit: u32,
    /// `false`: a dry run: measure and estimate, never adjust the sink.
    pub steers: bool,
    /// The sink.
    pub sink: SinkConfig,
    /// Issue [`Command::CheckClock`] at every update (suspend and
    /// interference detection, leap seconds). Firmware without a second
    /// clock turns this off.
    pub clock_checks: bool,
    /// Issue [`Command::SaveState`] every this many updates while locked
    /// with a bound; 0: never.
    pub save_every: u32,
    /// TAI − UTC, s, for the refusal of a guessed time scale's step.
    pub tai_utc_s: i16,
    /// The error bound's width in standard deviations (`esterror` is the
    /// bound divided by this).
    pub bound_sigmas: u8,
}

impl Default for EngineConfig {
    /// 1 s updates, 5 samples, linuxptp's default thresholds, steering a
    /// `CLOCK_REALTIME`-like sink (±10 % + 500 ppm) with clock checks,
    /// saving every 60 updates, TAI − UTC = 37 s, a 5σ bound.
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(1),
            samples: 5,
            servo: ServoConfig::default(),
            step_limit: 0,
            steers: true,
            sink: SinkConfig {
                kernel_status: true,
                max_frequency: Ppb::from_ppb(100_500_000),
            },
            clock_checks: true,
            save_every: 60,
            tai_utc_s: 37,
            bound_sigmas: 5,
        }
    }
}

/// One reading of a source: the sink against the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Reading {
    /// sink − source on the source's own scale (before
    /// [`SourceConfig::scale_offset`]); positive: the sink is ahead.
    pub offset: Duration,
    /// The sink's time of the reading.
    pub local_ts: Timestamp,
    /// The read's round trip (a PHC triple's width, an NTP delay).
    pub delay: Duration,
    /// Half-width of the interval the true offset lies in, as far as the
    /// read itself tells (a PHC triple: half its width).
    pub uncertainty: Duration,
    /// The source's own read noise, not the read's width, limits this
    /// reading ([`PhcSample::noise_limited`]): the engine asks for
    /// [`PHC_MAX_SAMPLES`](crate::measure::phc::PHC_MAX_SAMPLES) per read
    /// until it no longer does.
    pub noise_limited: bool,
}

impl Reading {
    /// A PHC reading's best sample: the true offset is within ±delay/2.
    pub const fn phc(s: &PhcSample) -> Self {
        Self {
            offset: s.offset,
            local_ts: s.local_ts,
            delay: s.delay,
            uncertainty: s.uncertainty(),
            noise_limited: s.noise_limited,
        }
    }
}

/// Why a read gave no reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ReadError {
    /// Transient (`EBUSY` after retries): this update is skipped, no holdover.
    Busy,
    /// The device is gone, unreadable or gave nonsense: hold over.
    Failed,
    /// The caller was not running (a frozen guest in simulation): this
    /// update did not happen.
    Paused,
}

/// A disruption the caller saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Disruption {
    /// The platform signalled a live migration (vmclock's marker).
    Migration,
    /// The platform signalled a resume.
    Resume,
    /// The source's read method stopped working, as after a migration.
    ReadMethodLost,
    /// Asked for: re-acquire (a host's monitor, an operator).
    Requested,
}

/// What the caller read for [`Command::CheckClock`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ClockCheck {
    /// The sink's frequency correction as the kernel reports it, if readable.
    pub kernel_freq: Option<Ppb>,
    /// The unsteered oscillator (`CLOCK_MONOTONIC_RAW`), ns, at the middle of
    /// a back-to-back pair with [`ClockCheck::sink`].
    pub raw_ns: u64,
    /// The sink's time read in the pair.
    pub sink: Timestamp,
    /// How long the pair of reads took, raw ns (added to the tolerance).
    pub pair_width_ns: u64,
    /// `CLOCK_BOOTTIME − CLOCK_MONOTONIC`, ns (grows by time suspended), if
    /// known.
    pub suspended_ns: Option<i64>,
    /// UTC now.
    pub wall: Timestamp,
    /// The leap second nearest ahead of `wall`, or one passed less than a
    /// minute ago, if a leap table lists it.
    pub leap: Option<Leap>,
    /// TAI − UTC now, s, if known.
    pub tai_utc_s: Option<i16>,
}

/// The kernel's leap bits to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LeapBits {
    /// Leave them as they are (no leap information).
    Keep,
    /// No leap today.
    None,
    /// Insert a second at the end of today (`STA_INS`).
    Insert,
    /// Delete the last second of today (`STA_DEL`).
    Delete,
}

/// The kernel's `maxerror`, `esterror` and `status` for `CLOCK_REALTIME`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct KernelStatus {
    /// `maxerror`, µs (the bound rounded up, capped at
    /// [`KernelStatus::MAXERROR_LIMIT_US`]).
    pub maxerror_us: i64,
    /// `esterror`, µs (one standard deviation, rounded up).
    pub esterror_us: i64,
    /// `STA_UNSYNC`: no trustworthy bound.
    pub unsync: bool,
    /// The leap bits.
    pub leap: LeapBits,
    /// TAI − UTC for `ADJ_TAI`, when known.
    pub tai_offset: Option<i16>,
}

impl KernelStatus {
    /// The kernel's `NTP_PHASE_LIMIT`-derived cap on `maxerror`: 16 s.
    pub const MAXERROR_LIMIT_US: i64 = 16_000_000;

    /// From an error bound (`None`: no trustworthy bound) `sigmas` standard
    /// deviations wide: `maxerror` = the bound, `esterror` = bound / sigmas;
    /// no bound, or one of 16 s or more, sets `STA_UNSYNC` with `maxerror` at
    /// the limit. Leap bits [`LeapBits::Keep`], no TAI offset.
    pub fn from_bound(bound: Option<Duration>, sigmas: u8) -> Self {
        match bound.and_then(|b| ceil_us(b).filter(|&us| us < Self::MAXERROR_LIMIT_US)) {
            Some(us) => {
                // us < 2²⁴: a 32-bit division (no 64-bit helper on Cortex-M).
                let (u, d) = (
                    u32::try_from(us).unwrap_or(u32::MAX),
                    u32::from(sigmas.max(1)),
                );
                let est = u / d + u32::from(u % d != 0);
                Self {
                    maxerror_us: us,
                    esterror_us: i64::from(est),
                    unsync: false,
                    leap: LeapBits::Keep,
                    tai_offset: None,
                }
            }
            _ => Self {
                maxerror_us: Self::MAXERROR_LIMIT_US,
                esterror_us: Self::MAXERROR_LIMIT_US,
                unsync: true,
                leap: LeapBits::Keep,
                tai_offset: None,
            },
        }
    }
}

/// `d` in whole µs, rounded up; `None` when negative or 2³⁴ ns (17 s) or
/// more. Multiplies by a reciprocal instead of dividing (Cortex-M has no
/// 64-bit division).
fn ceil_us(d: Duration) -> Option<i64> {
    const LIMIT: u64 = 1 << 34;
    /// ⌈2³⁸ / 1000⌉: `n × M >> 38` is ⌊n / 1000⌋ or one more for n < 2³⁴.
    const M: u64 = 274_877_907;
    let n = u64::try_from(d.as_nanos()).ok().filter(|&n| n < LIMIT)?;
    let mut q = n.wrapping_mul(M) >> 38;
    if q.wrapping_mul(1000) > n {
        q = q.wrapping_sub(1);
    }
    if q.wrapping_mul(1000) < n {
        q = q.wrapping_add(1);
    }
    i64::try_from(q).ok()
}

/// A frequency write (and the kernel status beside it, in one
/// `clock_adjtime` for `CLOCK_REALTIME`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Adjust {
    /// The absolute frequency correction to set (positive: faster); `None`:
    /// leave it.
    pub freq: Option<Ppb>,
    /// The kernel status to write, for a sink that has one.
    pub status: Option<KernelStatus>,
}

/// What the caller did with an [`Adjust`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Adjusted {
    /// The frequency correction now in force (after the sink's quantisation
    /// and clamping).
    pub freq: Ppb,
    /// The sink's time read right after the write: when it took effect.
    pub at: Timestamp,
}

/// The frequency learnt while locked, for the caller to keep (a state file).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SavedFrequency {
    /// The correction that kept the clock on time.
    pub freq: Ppb,
    /// Its standard deviation over the locked updates.
    pub sd: Ppb,
}

/// Why the engine stopped for good.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Halt {
    /// The servo asked to step the clock by the UTC–TAI difference while the
    /// source's time scale was only guessed: nothing was applied.
    ScaleStep {
        /// The step asked for.
        step: Duration,
        /// The source's scale offset (zero: the source read like UTC).
        scale_offset: Duration,
    },
}

/// What the engine asks the caller to do next. Each command that asks a
/// question ([`Command::CheckClock`], [`Command::Read`], [`Command::Adjust`],
/// [`Command::Step`]) is answered by the matching `on_*` call before the next
/// [`super::Engine::poll`]. A caller that does not answer gets the pull-style
/// assumptions: no check, a busy read, an adjustment applied as asked at the
/// reading's time, a step applied as asked.
#[must_use = "a command is the engine's only way to act"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Command {
    /// Nothing to do before this loop time (ns); sleep, watching for events.
    Wait(u64),
    /// Read the clocks for the checks; answer with
    /// [`super::Engine::on_clock_check`].
    CheckClock,
    /// Read `source` with `samples` readings; answer with
    /// [`super::Engine::on_reading`] or [`super::Engine::on_read_error`].
    Read {
        /// Which source.
        source: SourceId,
        /// Readings to take in the one read (PHC triples).
        samples: u8,
    },
    /// Write the frequency and/or the kernel status; answer with
    /// [`super::Engine::on_adjusted`].
    Adjust(Adjust),
    /// Step the sink by this much (added to it); answer with
    /// [`super::Engine::on_stepped`].
    Step(Duration),
    /// Keep this frequency (a state file).
    SaveState(SavedFrequency),
    /// Stop: the engine will not go on.
    Halt(Halt),
    /// Send an NTP request to `source` now: a fresh random cookie and this
    /// poll exponent ([`crate::measure::ntp::ClientRequest`]). Needs no
    /// answer before the next poll: a valid reply, whenever it comes, goes to
    /// [`super::Engine::on_ntp_sample`], a Kiss-o'-Death to
    /// [`super::Engine::on_ntp_kiss`]; a request still unanswered at the next
    /// one counts as lost.
    SendNtp {
        /// Which NTP source.
        source: SourceId,
        /// The poll exponent for the request, log₂ s.
        poll: i8,
    },
}

/// The engine's state as reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SyncState {
    /// Acquiring, or without a bound: not synchronised.
    Unlocked,
    /// Stepping.
    Jump,
    /// Tracking with a bound.
    Locked,
    /// Tracking, stable.
    LockedStable,
    /// No readings: the clock runs on the last frequency.
    Holdover,
}

impl SyncState {
    /// The lower-case name (`keel status`, metrics, logs).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Unlocked => "unlocked",
            Self::Jump => "jump",
            Self::Locked => "locked",
            Self::LockedStable => "locked-stable",
            Self::Holdover => "holdover",
        }
    }

    /// Synchronised with a bound?
    pub const fn is_locked(self) -> bool {
        matches!(self, Self::Locked | Self::LockedStable)
    }

    /// The state to report for a servo state: "locked" is earned, never
    /// inherited. A servo that gives a bound is locked only while it has one.
    pub const fn reported(servo: ServoState, gives_bound: bool, bound: Option<Duration>) -> Self {
        match servo {
            ServoState::Locked | ServoState::LockedStable if gives_bound && bound.is_none() => {
                Self::Unlocked
            }
            ServoState::Unlocked => Self::Unlocked,
            ServoState::Jump => Self::Jump,
            ServoState::Locked => Self::Locked,
            ServoState::LockedStable => Self::LockedStable,
        }
    }
}

/// Counters since the start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Counters {
    /// Updates run (readings or holdover).
    pub updates: u64,
    /// Steps applied.
    pub steps: u64,
    /// Disruptions (signalled, suspend, interference, a lost read method).
    pub disruptions: u64,
    /// Reads that gave no reading.
    pub read_errors: u64,
    /// Another process changed the sink.
    pub interference: u64,
    /// PHC readings the NTP jury outvoted (not used).
    pub outvoted: u64,
}

/// The engine's status snapshot: what `keel status`, the metrics and the C
/// API show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Status {
    /// The state.
    pub state: SyncState,
    /// The source of the last reading.
    pub source: Option<SourceId>,
    /// The last reading's offset (sink − reference, after the scale offset).
    pub last_offset: Option<Duration>,
    /// The last reading's delay.
    pub last_delay: Duration,
    /// The frequency correction in force.
    pub freq: Ppb,
    /// The bound on |true offset| right after the last update, if any.
    pub bound: Option<Duration>,
    /// Loop time of the last update, ns.
    pub last_update_ns: u64,
    /// Loop time the readings started failing, ns, while holding over.
    pub holdover_since_ns: Option<u64>,
    /// Counters.
    pub counters: Counters,
}

impl Status {
    /// The sink clock's generation: changes on every step, disruption and
    /// interference (wrapping), so an exchange stamped across one of them
    /// can be told apart ([`crate::wire::ktp::ProbeReply::generation`]).
    pub const fn generation(&self) -> u32 {
        let c = &self.counters;
        let sum = c
            .steps
            .wrapping_add(c.disruptions)
            .wrapping_add(c.interference);
        // The low 32 bits: wrapping is the point.
        (sum & 0xFFFF_FFFF) as u32
    }
}

/// Something worth a log line, in the order it happened. The engine keeps
/// the last [`super::NOTICES`]; older ones are dropped (counted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Notice {
    /// The servo re-acquires (frequency kept) after this.
    Disrupted(DisruptionCause),
    /// Another process set the sink's frequency.
    FrequencyInterference {
        /// What the kernel reports.
        kernel: Ppb,
        /// What keel wrote.
        wrote: Ppb,
    },
    /// The sink moved by this much more than its frequency and keel's own
    /// steps explain.
    StepInterference(Duration),
    /// The readings failed: holding over from this update on.
    HoldoverStarted {
        /// The frequency held.
        freq: Ppb,
    },
    /// Readings again after this many failed updates.
    HoldoverEnded {
        /// Updates without a reading.
        failed_updates: u64,
        /// Loop time spent holding over, ns.
        span_ns: u64,
    },
    /// A busy source skipped this update.
    BusySkipped,
    /// Readings within [`super::LEAP_QUIET_S`] of a leap second are ignored.
    LeapQuiet,
    /// The step limit was reached: slewing only from now on.
    StepLimitReached(u32),
    /// The sink was stepped by this much.
    Stepped(Duration),
    /// A dry run would have stepped by this much.
    WouldStep(Duration),
    /// A dry run would have refused this step (see [`Halt::ScaleStep`]).
    WouldRefuseScaleStep(Duration),
    /// The frequency write failed: the sink runs on at the frequency in
    /// force, and the servo is told so.
    AdjustFailed,
    /// This step failed.
    StepFailed(Duration),
    /// The NTP sources' jury outvoted the PHC for several readings in a
    /// row: the PHC no longer steers, NTP does (after a burst).
    PhcRejected {
        /// sink − PHC at the last reading.
        phc: Duration,
        /// The jury's interval for sink − true time, low and high edges.
        jury: (Duration, Duration),
    },
    /// The PHC agreed with the jury long enough: it steers again.
    PhcRestored,
    /// The PHC's host says its clock is not synchronised (`true`: vmclock's
    /// status, a host that lost its own reference), or is again (`false`).
    /// With NTP sources the PHC is rejected; without, the bound is dropped
    /// (the kernel's `STA_UNSYNC`, the time page's status) while the PHC
    /// still steers.
    HostUnsynchronised(bool),
    /// The PHC and the NTP sources disagree, and no majority of NTP
    /// sources can judge (fewer than two agree): the PHC keeps steering,
    /// its bound widened to reach the NTP estimate.
    PhcDisputed {
        /// sink − PHC at the reading.
        phc: Duration,
        /// The NTP estimate of sink − true time, and its half-width.
        ntp: (Duration, Duration),
    },
}

/// Why the servo re-acquires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DisruptionCause {
    /// Signalled or seen by the caller.
    Signalled(Disruption),
    /// `CLOCK_BOOTTIME − CLOCK_MONOTONIC` grew by this many ns.
    Suspended(i64),
    /// Another process changed the frequency.
    Interference,
}

/// A frequency saved earlier (a state file) and what is known of where and
/// when it was learnt: how far to trust it as a prior.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SavedPrior {
    /// The correction that kept the clock on time.
    pub freq: Ppb,
    /// Its standard deviation when saved.
    pub sd: Ppb,
    /// Learnt on this machine, clocksource and source, as far as known
    /// (`false` when any differs or is not recorded).
    pub same_origin: bool,
    /// Seconds since it was saved; `None` when unknown (saved "in the
    /// future": the clock is behind).
    pub age_s: Option<u64>,
}

impl SavedPrior {
    /// The standard deviation a prior learnt elsewhere (another machine,
    /// clocksource or source, or unknown) is widened to: a cloned VM or
    /// another host can be tens of ppm off.
    pub const MISMATCH_SD: Ppb = Ppb::from_ppb(10_000);
    /// Seconds a saved frequency is trusted as it is.
    pub const AGE_FREE_S: u64 = 86_400;
    /// Wander allowed per day of age, up to [`SavedPrior::MISMATCH_SD`].
    pub const AGE_SD_PER_DAY: Ppb = Ppb::from_ppb(1_000);

    /// The standard deviation to trust it with: never narrower than saved;
    /// at least [`SavedPrior::MISMATCH_SD`] when learnt elsewhere or of
    /// unknown age; after [`SavedPrior::AGE_FREE_S`], wider by
    /// [`SavedPrior::AGE_SD_PER_DAY`] per day of age, up to the mismatch
    /// width.
    pub fn trusted_sd(&self) -> Ppb {
        let mut sd = self.sd;
        if !self.same_origin {
            sd = sd.max(Self::MISMATCH_SD);
        }
        match self.age_s {
            None => sd = sd.max(Self::MISMATCH_SD),
            Some(a) if a > Self::AGE_FREE_S => {
                #[allow(
                    clippy::arithmetic_side_effects,
                    reason = "i64 × u64 fits in i128; the divisor is a constant"
                )]
                let wander = i128::from(Self::AGE_SD_PER_DAY.to_bits()) * i128::from(a) / 86_400;
                let aged = Ppb::from_bits(i64::try_from(wander).unwrap_or(i64::MAX))
                    .saturating_add(self.sd)
                    .min(Self::MISMATCH_SD);
                sd = sd.max(aged);
            }
            Some(_) => {}
        }
        sd
    }
}

/// Is `step` within one second of ± TAI − UTC (`tai_utc_s`), i.e. the step a
/// wrong guess at a source's time scale would make?
pub fn is_scale_step(step: Duration, tai_utc_s: i64) -> bool {
    const TOLERANCE_NS: i64 = 1_000_000_000;
    let diff = tai_utc_s.saturating_mul(1_000_000_000);
    diff > TOLERANCE_NS
        && step.unsigned_abs_nanos().abs_diff(diff.unsigned_abs()) <= TOLERANCE_NS.unsigned_abs()
}

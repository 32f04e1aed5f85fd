//! The engine: keel's whole sync loop (clock checks, reads, servo, apply
//! order, holdover, leap quiet window, step limit, kernel status, state to
//! save) as one sans-IO state machine, in caller-owned storage.
//!
//! The C side drives it like the `keel` daemon does:
//!
//! ```c
//! for (;;) {
//!     keel_engine_command c;
//!     keel_engine_poll(&e, now_ns(), &c);
//!     switch (c.kind) {
//!     case KEEL_ENGINE_COMMAND_KIND_WAIT: sleep until c.wait_until_ns; break;
//!     case ..._CHECK_CLOCK: keel_engine_on_clock_check(&e, &check); break;
//!     case ..._READ:        keel_engine_on_reading(&e, c.source, &r)
//!                           (or keel_engine_on_read_error); break;
//!     case ..._ADJUST:      write c.adjust; keel_engine_on_adjusted(...); break;
//!     case ..._STEP:        step by c.step_ns; keel_engine_on_stepped(...); break;
//!     case ..._SAVE_STATE:  keep c.save; break;
//!     case ..._HALT:        stop;
//!     }
//! }
//! ```

use keel_core::engine::{
    Adjusted, ClockCheck, Command, Disruption, DisruptionCause, Engine, EngineConfig, Halt,
    LeapBits, MAX_SOURCES, Notice, NtpPolicy, ReadError, Reading, SinkConfig, SourceConfig,
    SourceId, SourceKind, SyncState,
};
use keel_core::measure::ntp::KissAction;
use keel_core::servo::{AnyServo, Kalman, KalmanConfig, LinReg, Pi, PiConfig, ServoConfig};
use keel_core::time::{Duration, Leap, LeapKind, Ppb, Timestamp, UtcTaiOffset};

use crate::ntp::{keel_ntp_sample, sample_from_c};
use crate::{check_out, ffi_boundary, keel_status, try_ref, write_out};

/// Number of 64-bit words in [`keel_engine`].
pub const KEEL_ENGINE_STORAGE_WORDS: usize = 1024;
/// `sizeof(keel_engine)`, bytes (8 KiB; the engine with the largest servo
/// and eight sources' NTP sample registers needs about 6 KiB on 64-bit
/// targets).
pub const KEEL_ENGINE_STORAGE_SIZE: usize = KEEL_ENGINE_STORAGE_WORDS * 8;
/// `_Alignof(keel_engine)`, bytes.
pub const KEEL_ENGINE_STORAGE_ALIGN: usize = 8;
/// How many sources one engine holds.
pub const KEEL_ENGINE_MAX_SOURCES: usize = 8;
/// The shortest poll interval an NTP source accepts, log₂ s (1/64 s; the
/// core clamps to it). Not exported: an unparenthesised negative macro
/// misparses after a minus sign.
const NTP_POLL_MIN: i8 = -6;
/// The longest poll interval an NTP source accepts, log₂ s (about 36 h).
const NTP_POLL_MAX: i8 = 17;

/// Caller-owned storage for one engine: declare it anywhere (stack, static,
/// inside your own struct), then `keel_engine_init()` it. It holds no
/// pointers: a quiescent engine may be copied. Zero it (or call
/// `keel_engine_deinit()`) to make later calls fail with
/// `KEEL_STATUS_NOT_INITIALIZED`.
#[repr(C)]
pub struct keel_engine {
    _opaque: [u64; KEEL_ENGINE_STORAGE_WORDS],
}

/// The engine's settings. Fill with `keel_engine_config_default()`, change
/// what you need, pass to `keel_engine_init()`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct keel_engine_config {
    /// `sizeof(keel_engine_config)`.
    pub struct_size: usize,
    /// The servo inside (a `keel_servo_kind`). Default Kalman.
    pub servo_kind: i32,
    /// The regular update interval, ns (> 0); the servo may ask for earlier
    /// re-reads. Default 1 s.
    pub interval_ns: i64,
    /// Readings per source read (PHC triples, 1–25). Default 5.
    pub samples: u32,
    /// `true`: steer the clock; `false`: a dry run that measures and
    /// estimates but never asks to adjust or step. Default true.
    pub steers: bool,
    /// Issue `KEEL_ENGINE_COMMAND_KIND_CHECK_CLOCK` at every update (suspend
    /// and interference detection, leap seconds). Firmware without a second
    /// clock turns this off. Default true.
    pub clock_checks: bool,
    /// The clock has the kernel's `maxerror`/`esterror`/`status`/leap state
    /// (`CLOCK_REALTIME`; a PHC has none): adjust commands then carry a
    /// kernel status to write. Default true.
    pub sink_kernel_status: bool,
    /// The largest frequency correction the clock accepts, ppb (1 to
    /// 2147483647; a PHC's `max_adj`). Default 100500000 (±10 % + 500 ppm,
    /// `CLOCK_REALTIME`).
    pub sink_max_frequency_ppb: i64,
    /// The frequency correction in force on the clock at start, ppb in 32.32
    /// fixed point (positive: the clock runs faster). Default 0.
    pub initial_freq_ppb_q32: i64,
    /// Step on the first update when |offset| exceeds this, ns (≥ 0; 0
    /// disables). Default 20000 (20 µs).
    pub first_step_threshold_ns: i64,
    /// Step whenever |offset| exceeds this, ns (≥ 0; 0 disables). Default 0.
    pub step_threshold_ns: i64,
    /// The largest |frequency correction| the servo outputs, ppb (1 to
    /// 2147483647; further limited by `sink_max_frequency_ppb`). Default
    /// 100500000.
    pub max_frequency_ppb: i64,
    /// |offset| below this counts toward the stable state, ns (≥ 0; 0
    /// disables). Default 0.
    pub stable_threshold_ns: i64,
    /// Consecutive offsets within the stable threshold that make the state
    /// stable (0–65535). Default 10.
    pub stable_count: u32,
    /// After this many updates, slew only (the step thresholds are dropped);
    /// 0: the thresholds stay. Default 0.
    pub step_limit: u32,
    /// Issue `KEEL_ENGINE_COMMAND_KIND_SAVE_STATE` every this many updates
    /// while locked; 0: never. Default 60.
    pub save_every: u32,
    /// TAI − UTC, s (−32768 to 32767), for refusing a guessed time scale's
    /// step. Default 37.
    pub tai_utc_s: i32,
    /// The kernel status's error bound is this many standard deviations wide
    /// (`esterror` = bound / this; 1–255). Default 5.
    pub bound_sigmas: u32,
    /// Kalman: innovations beyond this many standard deviations make a
    /// reading a suspect (1–255). Default 5.
    pub kalman_gate: u32,
    /// Kalman: its error bound is this many standard deviations wide
    /// (1–255). Default 5.
    pub kalman_bound_sigmas: u32,
    /// Kalman: the reference's own error (added to the bound), ns (≥ 0).
    /// Default 0.
    pub kalman_reference_error_ns: i64,
    /// PI: linuxptp `pi_proportional_scale` (finite; configuration only).
    /// Default 0.7.
    pub pi_kp_scale: f64,
    /// PI: `pi_proportional_exponent`. Default 0.
    pub pi_kp_exponent: f64,
    /// PI: `pi_proportional_norm_max`. Default 1.
    pub pi_kp_norm_max: f64,
    /// PI: `pi_integral_scale`. Default 0.3.
    pub pi_ki_scale: f64,
    /// PI: `pi_integral_exponent`. Default 0.
    pub pi_ki_exponent: f64,
    /// PI: `pi_integral_norm_max`. Default 2.
    pub pi_ki_norm_max: f64,
}

/// What kind of source a reading comes from (for `keel_engine_add_source`).
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum keel_source_kind {
    /// A PTP hardware clock read by cross-timestamp or sys/phc/sys triples.
    Phc = 0,
    /// An NTP server (four-timestamp exchange).
    Ntp = 1,
    /// A pulse per second with a time-of-day source naming the second.
    Pps = 2,
}

/// An NTP server's options (for `keel_engine_add_ntp_source`), in chrony's
/// vocabulary. Fill with `keel_engine_ntp_policy_default()`, change what
/// you need.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct keel_engine_ntp_policy {
    /// `sizeof(keel_engine_ntp_policy)`.
    pub struct_size: usize,
    /// The shortest poll interval, log₂ s (−6 to `maxpoll`). The source
    /// starts there and doubles its interval after 8 good samples. Default
    /// 6 (64 s).
    pub minpoll: i8,
    /// The longest poll interval, log₂ s (`minpoll` to 17, about 36 h).
    /// Default 10 (1024 s).
    pub maxpoll: i8,
    /// Start with a burst of 4 requests 2 s apart (at most a quarter of the
    /// poll interval). Default false.
    pub iburst: bool,
    /// Among the sources that survive selection, only preferred ones are
    /// combined. Default false.
    pub prefer: bool,
    /// Polled and shown (`keel_engine_ntp_source_status`), never selected
    /// and never a juror over the PHC. Default false.
    pub noselect: bool,
}

/// What an NTP source's samples say (from `keel_engine_ntp_source_status`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct keel_engine_ntp_source_snapshot {
    /// RFC 5905's reach register: one bit per request of the last eight,
    /// newest in bit 0, set when it was answered (0xFF: all answered; the
    /// request just sent counts as unanswered until its reply comes).
    pub reach: u8,
    /// The poll interval in force, log₂ s.
    pub poll: i8,
    /// The `offset_ns` ... `taken_ns` fields are valid (the source has
    /// samples).
    pub has_estimate: bool,
    /// clock − server, ns, predicted to the time asked for from the source's
    /// best sample (the least-delay one of the last eight, moved by what the
    /// engine did to the clock since); positive: the clock is ahead.
    pub offset_ns: i64,
    /// Half-width of the interval the true `offset_ns` lies in, ns (≥ 0):
    /// the sample's root distance, the filter's jitter and 1 ppm over the
    /// sample's age.
    pub half_width_ns: i64,
    /// The round-trip delay of that sample, ns (≥ 0).
    pub delay_ns: i64,
    /// The filter's jitter: RMS of the other samples' offsets from it, ns
    /// (≥ 0).
    pub jitter_ns: i64,
    /// When that sample was taken (its reply arrived), clock time, ns since
    /// the clock's epoch.
    pub taken_ns: u64,
}

/// Why a read gave no reading (for `keel_engine_on_read_error`).
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum keel_read_error {
    /// Transient (`EBUSY` after retries): this update is skipped, no holdover.
    Busy = 0,
    /// The device is gone, unreadable or gave nonsense: hold over.
    Failed = 1,
    /// The caller was not running (a frozen guest): this update did not happen.
    Paused = 2,
}

/// A disruption the caller saw (for `keel_engine_on_disruption`).
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum keel_disruption {
    /// The platform signalled a live migration (vmclock's marker).
    Migration = 0,
    /// The platform signalled a resume.
    Resume = 1,
    /// The source's read method stopped working, as after a migration.
    ReadMethodLost = 2,
    /// Asked for: re-acquire (a host's monitor, an operator).
    Requested = 3,
}

/// Which command `keel_engine_poll` returned.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum keel_engine_command_kind {
    /// Nothing to do before loop time `wait_until_ns`; sleep, watching for
    /// events (a disruption: `keel_engine_on_disruption`, then poll again).
    Wait = 0,
    /// Read the clocks for the checks (`keel_engine_clock_check`); answer
    /// with `keel_engine_on_clock_check`.
    CheckClock = 1,
    /// Read source `read_source` with `read_samples` readings; answer with
    /// `keel_engine_on_reading` or `keel_engine_on_read_error`.
    Read = 2,
    /// Write the frequency (`adjust_has_freq`) and/or the kernel status
    /// (`adjust_has_status`), in one `clock_adjtime` for `CLOCK_REALTIME`;
    /// answer with `keel_engine_on_adjusted`.
    Adjust = 3,
    /// Add `step_ns` to the clock; answer with `keel_engine_on_stepped`.
    Step = 4,
    /// Keep `save_freq_ppb_q32` and `save_sd_ppb_q32` (a state file) for the
    /// next start's `keel_engine_set_frequency_prior`. Needs no answer.
    SaveState = 5,
    /// Stop: the engine will not go on (`halt_*` say why). Every later poll
    /// returns the same.
    Halt = 6,
    /// Send an NTP request to source `read_source` now, with poll exponent
    /// `ntp_poll` (`keel_ntp_request_new` with a fresh random cookie). Needs
    /// no answer before the next poll: a valid reply goes to
    /// `keel_engine_on_ntp_sample` whenever it comes.
    SendNtp = 7,
}

/// The kernel's leap bits to write (`STA_INS`/`STA_DEL`).
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum keel_engine_leap_bits {
    /// Leave them as they are (no leap information).
    Keep = 0,
    /// Clear both: no leap today.
    None = 1,
    /// Set `STA_INS`: insert a second at the end of today (UTC).
    Insert = 2,
    /// Set `STA_DEL`: delete the last second of today (UTC).
    Delete = 3,
}

/// Why the engine halted.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum keel_engine_halt_reason {
    /// Not halted.
    None = 0,
    /// The servo asked to step by the UTC–TAI difference while the source's
    /// time scale was only guessed: nothing was applied.
    ScaleStep = 1,
}

/// One command from `keel_engine_poll`: `kind` says which fields are valid.
/// Every question (`CHECK_CLOCK`, `READ`, `ADJUST`, `STEP`) is answered by
/// its `keel_engine_on_*` call before the next poll; a caller that does not
/// answer gets the pull-style assumptions (no check, a busy read, an
/// adjustment applied as asked at the reading's time, a step applied).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct keel_engine_command {
    /// What to do.
    pub kind: keel_engine_command_kind,
    /// `WAIT`: the loop time to sleep until, ns (the caller's monotonic
    /// clock, as passed to `keel_engine_poll`).
    pub wait_until_ns: u64,
    /// `READ`: the source id (from `keel_engine_add_source`).
    pub read_source: u8,
    /// `READ`: readings to take in the one read (PHC triples, 1–25).
    pub read_samples: u8,
    /// `ADJUST`: a frequency to set (`adjust_freq_ppb_q32`).
    pub adjust_has_freq: bool,
    /// `ADJUST`: a kernel status to write (`adjust_maxerror_us` ...).
    pub adjust_has_status: bool,
    /// `ADJUST`: `adjust_tai_offset_s` is valid (`ADJ_TAI`).
    pub adjust_has_tai_offset: bool,
    /// `ADJUST`: set `STA_UNSYNC` (no trustworthy bound).
    pub adjust_unsync: bool,
    /// `ADJUST`: the absolute frequency correction to set, ppb in 32.32
    /// fixed point; positive = the clock runs faster.
    pub adjust_freq_ppb_q32: i64,
    /// `ADJUST`: `timex.maxerror`, µs (the bound, capped at 16 s).
    pub adjust_maxerror_us: i64,
    /// `ADJUST`: `timex.esterror`, µs (one standard deviation).
    pub adjust_esterror_us: i64,
    /// `ADJUST`: the leap bits to write.
    pub adjust_leap: keel_engine_leap_bits,
    /// `ADJUST`: TAI − UTC, s, for `ADJ_TAI`.
    pub adjust_tai_offset_s: i32,
    /// `STEP`: ns to add to the clock (positive: the clock jumps ahead).
    /// `HALT` (scale step): the step that was refused.
    pub step_ns: i64,
    /// `SAVE_STATE`: the frequency correction that kept the clock on time,
    /// ppb 32.32 (positive: faster).
    pub save_freq_ppb_q32: i64,
    /// `SAVE_STATE`: its standard deviation, ppb 32.32 (≥ 0).
    pub save_sd_ppb_q32: i64,
    /// `HALT`: why.
    pub halt_reason: keel_engine_halt_reason,
    /// `HALT` (scale step): the source's scale offset, ns.
    pub halt_scale_offset_ns: i64,
    /// `SEND_NTP`: the poll exponent for the request, log₂ s.
    pub ntp_poll: i8,
}

/// What the caller read for `KEEL_ENGINE_COMMAND_KIND_CHECK_CLOCK`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct keel_engine_clock_check {
    /// `kernel_freq_ppb_q32` is valid.
    pub has_kernel_freq: bool,
    /// `suspended_ns` is valid.
    pub has_suspended: bool,
    /// `tai_utc_s` is valid.
    pub has_tai_utc: bool,
    /// The clock's frequency correction as the kernel reports it (read back
    /// with `clock_adjtime`), ppb 32.32; positive = faster.
    pub kernel_freq_ppb_q32: i64,
    /// The unsteered oscillator (`CLOCK_MONOTONIC_RAW`), ns, at the middle
    /// of a back-to-back pair with `sink_ns`.
    pub raw_ns: u64,
    /// The steered clock's time read in that pair, ns since its epoch.
    pub sink_ns: u64,
    /// How long the pair of reads took, raw ns (widens the tolerance).
    pub pair_width_ns: u64,
    /// `CLOCK_BOOTTIME − CLOCK_MONOTONIC`, ns (grows by the time suspended).
    pub suspended_ns: i64,
    /// UTC now, ns since 1970.
    pub wall_ns: u64,
    /// The leap second nearest ahead of `wall_ns`, or one passed less than a
    /// minute ago: 0 none, 1 insertion, −1 deletion (linuxptp's
    /// `servo_leap()` values).
    pub leap: i32,
    /// With `leap`: TAI − UTC after it, s.
    pub leap_tai_utc_after_s: i32,
    /// With `leap`: the UTC second (since 1970) at which the new offset
    /// applies (the midnight after the leap).
    pub leap_unix_s: u64,
    /// TAI − UTC now, s.
    pub tai_utc_s: i32,
}

/// One reading of a source for `keel_engine_on_reading`: the clock against
/// the source. From a PHC read, take `keel_phc_best_sample()`'s offset,
/// local time, delay and `noise_limited`, with `uncertainty_ns = delay_ns /
/// 2`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct keel_engine_reading {
    /// clock − source on the source's own scale, ns; positive: the clock is
    /// ahead.
    pub offset_ns: i64,
    /// The clock's own time of the reading, ns since its epoch.
    pub local_ts_ns: u64,
    /// The read's round trip, ns (≥ 0; a PHC triple's width, an NTP delay).
    pub delay_ns: i64,
    /// Half-width of the interval the true offset lies in, as the read
    /// itself tells, ns (≥ 0).
    pub uncertainty_ns: i64,
    /// 1: the source's own read noise, not the read's width, limits this
    /// reading (`keel_phc_sample.noise_limited`); the engine then asks for
    /// `KEEL_PHC_MAX_SAMPLES` readings per read until it no longer does.
    /// 0 otherwise.
    pub noise_limited: u8,
}

/// The engine's state, as `keel status` shows it.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum keel_engine_state {
    /// Acquiring, or without a bound: not synchronised.
    Unlocked = 0,
    /// Stepping.
    Jump = 1,
    /// Tracking with a bound.
    Locked = 2,
    /// Tracking, stable.
    LockedStable = 3,
    /// No readings: the clock runs on the last frequency.
    Holdover = 4,
}

/// The engine's status snapshot (from `keel_engine_status`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct keel_engine_snapshot {
    /// The state.
    pub state: keel_engine_state,
    /// `source` is valid (a reading has been taken).
    pub has_source: bool,
    /// `last_offset_ns` is valid.
    pub has_last_offset: bool,
    /// `bound_ns` is valid.
    pub has_bound: bool,
    /// `holdover_since_ns` is valid (holding over).
    pub has_holdover_since: bool,
    /// The source of the last reading.
    pub source: u8,
    /// The last reading's offset (clock − reference, after the source's
    /// scale offset), ns; positive: the clock is ahead.
    pub last_offset_ns: i64,
    /// The last reading's delay, ns.
    pub last_delay_ns: i64,
    /// The frequency correction in force, ppb 32.32; positive = faster.
    pub freq_ppb_q32: i64,
    /// A bound on |true offset| right after the last update, ns.
    pub bound_ns: i64,
    /// Loop time of the last update, ns.
    pub last_update_ns: u64,
    /// Loop time the readings started failing, ns.
    pub holdover_since_ns: u64,
    /// Loop time of the next regular update or re-read, ns.
    pub next_update_ns: u64,
    /// Updates run (readings or holdover).
    pub updates: u64,
    /// Steps applied.
    pub steps: u64,
    /// Disruptions (signalled, suspend, interference, a lost read method).
    pub disruptions: u64,
    /// Reads that gave no reading.
    pub read_errors: u64,
    /// Times another process changed the clock.
    pub interference: u64,
    /// Notices dropped because `keel_engine_take_notice` was not called in
    /// time (the engine keeps the last 8).
    pub notices_dropped: u32,
    /// PHC readings the NTP sources outvoted (not used).
    pub outvoted: u64,
    /// The PHC is rejected (outvoted by the NTP sources, or lost): NTP
    /// steers until it agrees again (`KEEL_ENGINE_NOTICE_KIND_PHC_REJECTED`
    /// and `_PHC_RESTORED` mark the changes).
    pub phc_rejected: bool,
}

/// What a notice says (`keel_engine_notice`).
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum keel_engine_notice_kind {
    /// The servo re-acquires (frequency kept) after a disruption:
    /// `cause` says which; with `CAUSE_SIGNALLED`, `disruption` (a
    /// `keel_disruption`); with `CAUSE_SUSPENDED`, `duration_ns` suspended.
    Disrupted = 0,
    /// Another process set the clock's frequency: the kernel reports
    /// `freq_ppb_q32`, keel wrote `wrote_ppb_q32`.
    FrequencyInterference = 1,
    /// The clock moved by `duration_ns` more than its frequency and keel's
    /// own steps explain.
    StepInterference = 2,
    /// The readings failed: holding over on `freq_ppb_q32` from this update.
    HoldoverStarted = 3,
    /// Readings again after `count` failed updates and `duration_ns` of loop
    /// time.
    HoldoverEnded = 4,
    /// A busy source skipped this update.
    BusySkipped = 5,
    /// Readings within 2 s of a leap second are ignored.
    LeapQuiet = 6,
    /// The step limit (`count` updates) was reached: slewing only from now.
    StepLimitReached = 7,
    /// The clock was stepped by `duration_ns`.
    Stepped = 8,
    /// A dry run would have stepped by `duration_ns`.
    WouldStep = 9,
    /// A dry run would have refused a step of `duration_ns` (a guessed
    /// time scale's UTC–TAI step).
    WouldRefuseScaleStep = 10,
    /// The frequency write failed: the sink runs on at the frequency in
    /// force, and the servo is told so.
    AdjustFailed = 11,
    /// A step of `duration_ns` failed.
    StepFailed = 12,
    /// The NTP jury outvoted the PHC (`duration_ns`: sink − PHC at the
    /// last reading): NTP steers.
    PhcRejected = 13,
    /// The PHC agreed with the NTP jury long enough: it steers again.
    PhcRestored = 14,
    /// The PHC and the NTP sources disagree with no NTP majority to judge
    /// (`duration_ns`: sink − PHC): the PHC keeps steering, its bound
    /// widened.
    PhcDisputed = 15,
    /// The PHC's host says its clock is not synchronised (`count` 1), or is
    /// again (`count` 0): without NTP no bound is stated meanwhile.
    HostUnsynchronised = 16,
}

/// Why a `KEEL_ENGINE_NOTICE_KIND_DISRUPTED` notice.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum keel_engine_disruption_cause {
    /// Not a disruption notice.
    None = 0,
    /// Signalled or seen by the caller (`disruption`).
    Signalled = 1,
    /// `CLOCK_BOOTTIME − CLOCK_MONOTONIC` grew by `duration_ns`.
    Suspended = 2,
    /// Another process changed the frequency.
    Interference = 3,
}

/// Something worth a log line, oldest first (`keel_engine_take_notice`).
/// `kind` says which fields are valid; the others are zero.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct keel_engine_notice {
    /// What happened.
    pub kind: keel_engine_notice_kind,
    /// `DISRUPTED`: why.
    pub cause: keel_engine_disruption_cause,
    /// `DISRUPTED` with `CAUSE_SIGNALLED`: a `keel_disruption` value.
    pub disruption: i32,
    /// A frequency, ppb 32.32 (positive: faster): the kernel's
    /// (`FREQUENCY_INTERFERENCE`) or the one held (`HOLDOVER_STARTED`).
    pub freq_ppb_q32: i64,
    /// `FREQUENCY_INTERFERENCE`: what keel wrote, ppb 32.32.
    pub wrote_ppb_q32: i64,
    /// A duration, ns (signed: a step is added to the clock; an
    /// interference is how far the clock moved beyond what was expected).
    pub duration_ns: i64,
    /// A count: failed updates (`HOLDOVER_ENDED`), the step limit
    /// (`STEP_LIMIT_REACHED`).
    pub count: u64,
}

const ENGINE_MAGIC: u64 = u64::from_le_bytes(*b"keelENG1");

/// The answer the engine waits for, as the C API tracks it (the core engine
/// ignores an answer that does not fit; the C API says so).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Nothing,
    Check,
    Read(u8),
    Adjust,
    Step,
}

/// What lives in a [`keel_engine`]: the magic word first.
#[repr(C)]
struct EngineCell {
    magic: u64,
    expect: Expect,
    engine: Engine<AnyServo>,
}

const _: () = assert!(
    size_of::<EngineCell>() <= size_of::<keel_engine>()
        && align_of::<EngineCell>() <= align_of::<keel_engine>()
        && align_of::<keel_engine>() == KEEL_ENGINE_STORAGE_ALIGN
        && MAX_SOURCES == KEEL_ENGINE_MAX_SOURCES,
    "keel_engine storage is too small or under-aligned for Engine<AnyServo>: raise KEEL_ENGINE_STORAGE_WORDS"
);

/// The initialised engine in `p`.
///
/// # Safety
/// `p` is NULL or points to a valid, aligned `keel_engine` not otherwise
/// accessed during the returned borrow.
unsafe fn cell<'a>(p: *mut keel_engine) -> Result<&'a mut EngineCell, keel_status> {
    if p.is_null() {
        return Err(keel_status::NullPointer);
    }
    // SAFETY: `p` is non-NULL, aligned and points to at least 8 readable bytes.
    let magic = unsafe { p.cast::<u64>().read() };
    if magic != ENGINE_MAGIC {
        return Err(keel_status::NotInitialized);
    }
    // SAFETY: the magic word is only written by `keel_engine_init`, together
    // with a valid `EngineCell`; size and alignment are asserted above.
    Ok(unsafe { &mut *p.cast::<EngineCell>() })
}

/// `sizeof(keel_engine)` as this library was built: compare with the
/// header's at start-up to catch a header/library mismatch.
#[unsafe(no_mangle)]
pub extern "C" fn keel_engine_storage_size() -> usize {
    size_of::<keel_engine>()
}

/// The default engine configuration around the servo `servo_kind` (a
/// `keel_servo_kind`), written to `*out` (with `struct_size` set): the
/// settings of `keel sync` steering `CLOCK_REALTIME` from a PHC.
///
/// Errors: `KEEL_STATUS_NULL_POINTER` (`out`), `KEEL_STATUS_INVALID_ARGUMENT`
/// (unknown kind).
///
/// # Safety
/// `out` is NULL or valid for writing a `keel_engine_config`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_engine_config_default(
    servo_kind: i32,
    out: *mut keel_engine_config,
) -> keel_status {
    ffi_boundary!({
        check_out(out)?;
        if !(0..=2).contains(&servo_kind) {
            return Err(keel_status::InvalidArgument);
        }
        let e = EngineConfig::default();
        let c = e.servo;
        let k = KalmanConfig::default();
        let pi = PiConfig::default();
        let cfg = keel_engine_config {
            struct_size: size_of::<keel_engine_config>(),
            servo_kind,
            interval_ns: e.interval.as_nanos(),
            samples: u32::from(e.samples),
            steers: e.steers,
            clock_checks: e.clock_checks,
            sink_kernel_status: e.sink.kernel_status,
            sink_max_frequency_ppb: e.sink.max_frequency.floor_ppb(),
            initial_freq_ppb_q32: 0,
            first_step_threshold_ns: c.first_step_threshold.as_nanos(),
            step_threshold_ns: c.step_threshold.as_nanos(),
            max_frequency_ppb: c.max_frequency.floor_ppb(),
            stable_threshold_ns: c.stable_threshold.as_nanos(),
            stable_count: u32::from(c.stable_count),
            step_limit: e.step_limit,
            save_every: e.save_every,
            tai_utc_s: i32::from(e.tai_utc_s),
            bound_sigmas: u32::from(e.bound_sigmas),
            kalman_gate: u32::from(k.gate),
            kalman_bound_sigmas: u32::from(k.bound_sigmas),
            kalman_reference_error_ns: k.reference_error.as_nanos(),
            pi_kp_scale: pi.kp_scale,
            pi_kp_exponent: pi.kp_exponent,
            pi_kp_norm_max: pi.kp_norm_max,
            pi_ki_scale: pi.ki_scale,
            pi_ki_exponent: pi.ki_exponent,
            pi_ki_norm_max: pi.ki_norm_max,
        };
        // SAFETY: `out` checked non-NULL; the caller guarantees it is valid.
        unsafe { write_out(out, cfg) };
        Ok(())
    })
}

fn u8_in(v: u32, lo: u8) -> Result<u8, keel_status> {
    u8::try_from(v)
        .ok()
        .filter(|&x| x >= lo)
        .ok_or(keel_status::InvalidArgument)
}

fn build(cfg: &keel_engine_config, first_update_ns: u64) -> Result<Engine<AnyServo>, keel_status> {
    if cfg.struct_size != size_of::<keel_engine_config>() {
        return Err(keel_status::StructSize);
    }
    let bad = keel_status::InvalidArgument;
    let ppb_ok = |p: i64| (1..=i64::from(i32::MAX)).contains(&p);
    if cfg.interval_ns <= 0
        || cfg.first_step_threshold_ns < 0
        || cfg.step_threshold_ns < 0
        || !ppb_ok(cfg.max_frequency_ppb)
        || !ppb_ok(cfg.sink_max_frequency_ppb)
        || cfg.stable_threshold_ns < 0
        || cfg.kalman_reference_error_ns < 0
        || !(1..=25).contains(&cfg.samples)
    {
        return Err(bad);
    }
    let servo_cfg = ServoConfig {
        first_step_threshold: Duration::from_nanos(cfg.first_step_threshold_ns),
        step_threshold: Duration::from_nanos(cfg.step_threshold_ns),
        max_frequency: Ppb::from_ppb(cfg.max_frequency_ppb),
        stable_threshold: Duration::from_nanos(cfg.stable_threshold_ns),
        stable_count: u16::try_from(cfg.stable_count).map_err(|_| bad)?,
    };
    let interval = Duration::from_nanos(cfg.interval_ns);
    let freq = Ppb::from_bits(cfg.initial_freq_ppb_q32);
    let ecfg = EngineConfig {
        interval,
        samples: u8_in(cfg.samples, 1)?,
        servo: servo_cfg,
        step_limit: cfg.step_limit,
        steers: cfg.steers,
        sink: SinkConfig {
            kernel_status: cfg.sink_kernel_status,
            max_frequency: Ppb::from_ppb(cfg.sink_max_frequency_ppb),
        },
        clock_checks: cfg.clock_checks,
        save_every: cfg.save_every,
        tai_utc_s: i16::try_from(cfg.tai_utc_s).map_err(|_| bad)?,
        bound_sigmas: u8_in(cfg.bound_sigmas, 1)?,
    };
    let servo = match cfg.servo_kind {
        0 => AnyServo::Kalman(Kalman::new(
            servo_cfg,
            KalmanConfig {
                gate: u8_in(cfg.kalman_gate, 1)?,
                bound_sigmas: u8_in(cfg.kalman_bound_sigmas, 1)?,
                reference_error: Duration::from_nanos(cfg.kalman_reference_error_ns),
            },
            interval,
            freq,
        )),
        1 => {
            let g = PiConfig {
                kp_scale: cfg.pi_kp_scale,
                kp_exponent: cfg.pi_kp_exponent,
                kp_norm_max: cfg.pi_kp_norm_max,
                ki_scale: cfg.pi_ki_scale,
                ki_exponent: cfg.pi_ki_exponent,
                ki_norm_max: cfg.pi_ki_norm_max,
            };
            let gains = [
                g.kp_scale,
                g.kp_exponent,
                g.kp_norm_max,
                g.ki_scale,
                g.ki_exponent,
                g.ki_norm_max,
            ];
            if gains.iter().any(|v| !v.is_finite()) {
                return Err(bad);
            }
            AnyServo::Pi(Pi::new(servo_cfg, g, interval, freq))
        }
        2 => AnyServo::LinReg(LinReg::new(servo_cfg, interval, freq)),
        _ => return Err(bad),
    };
    Ok(Engine::new(ecfg, servo, freq, first_update_ns))
}

/// Initialises `engine` from `config` (which may be re-used or discarded
/// afterwards), with its first update due at loop time `first_update_ns`
/// (the caller's monotonic clock, ns; pass "now" to start at once). It has
/// no sources yet: add them with `keel_engine_add_source`. Re-initialising
/// an initialised engine starts it afresh.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_STRUCT_SIZE`,
/// `KEEL_STATUS_INVALID_ARGUMENT` (unknown servo kind, `interval_ns <= 0`,
/// `samples` not in 1–25, a negative threshold, a frequency limit not in
/// 1–2147483647 ppb, `stable_count` > 65535, `tai_utc_s` beyond 16 bits,
/// `bound_sigmas`, Kalman gate or sigmas not in 1–255, non-finite PI gains).
/// On error `*engine` is left as it was.
///
/// # Safety
/// `engine` is NULL or valid for writing a `keel_engine`; `config` is NULL
/// or points to a valid `keel_engine_config`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_engine_init(
    engine: *mut keel_engine,
    config: *const keel_engine_config,
    first_update_ns: u64,
) -> keel_status {
    ffi_boundary!({
        check_out(engine)?;
        // SAFETY: the caller guarantees `config` is NULL or valid.
        let cfg = unsafe { try_ref(config) }?;
        let e = build(cfg, first_update_ns)?;
        let c = EngineCell {
            magic: ENGINE_MAGIC,
            expect: Expect::Nothing,
            engine: e,
        };
        // SAFETY: `engine` is non-NULL and valid for a `keel_engine`, which
        // is large and aligned enough for an `EngineCell` (asserted above).
        // The old contents hold nothing to drop.
        unsafe { engine.cast::<EngineCell>().write(c) };
        Ok(())
    })
}

/// Marks `engine` as uninitialised (later calls fail with
/// `KEEL_STATUS_NOT_INITIALIZED`). Holds no resources, so this is optional.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`.
///
/// # Safety
/// `engine` is NULL or valid for writing a `keel_engine`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_engine_deinit(engine: *mut keel_engine) -> keel_status {
    ffi_boundary!({
        check_out(engine)?;
        // SAFETY: non-NULL, aligned, valid for a write of its first word.
        unsafe { engine.cast::<u64>().write(0) };
        Ok(())
    })
}

/// Registers a source of kind `kind` (a `keel_source_kind`) and writes its
/// id to `*id_out`. `scale_offset_ns` is added to every reading's offset to
/// bring the source onto the clock's time scale (TAI − UTC in ns for a TAI
/// source steering a UTC clock, else 0); `scale_guessed` says that scale was
/// guessed from evidence, not configured: a step of the UTC–TAI difference
/// then halts the engine instead of being applied.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_NOT_INITIALIZED`,
/// `KEEL_STATUS_INVALID_ARGUMENT` (unknown kind), `KEEL_STATUS_NO_CAPACITY`
/// (already `KEEL_ENGINE_MAX_SOURCES` sources, or a second PPS source: the
/// engine keeps one pulse labeller).
///
/// # Safety
/// `engine` is NULL or valid; `id_out` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_engine_add_source(
    engine: *mut keel_engine,
    kind: i32,
    scale_offset_ns: i64,
    scale_guessed: bool,
    id_out: *mut u8,
) -> keel_status {
    ffi_boundary!({
        check_out(id_out)?;
        // SAFETY: the caller guarantees `engine` is NULL or valid.
        let c = unsafe { cell(engine) }?;
        let kind = match kind {
            0 => SourceKind::Phc,
            1 => SourceKind::Ntp,
            2 => SourceKind::Pps,
            _ => return Err(keel_status::InvalidArgument),
        };
        let id = c
            .engine
            .add_source(SourceConfig {
                kind,
                scale_offset: Duration::from_nanos(scale_offset_ns),
                scale_guessed,
            })
            .ok_or(keel_status::NoCapacity)?;
        // SAFETY: `id_out` checked non-NULL; the caller guarantees validity.
        unsafe { write_out(id_out, id.0) };
        Ok(())
    })
}

/// The default NTP server options (chrony's: `minpoll` 6, `maxpoll` 10, no
/// `iburst`, `prefer` or `noselect`), written to `*out` with `struct_size`
/// set.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`.
///
/// # Safety
/// `out` is NULL or valid for writing a `keel_engine_ntp_policy`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_engine_ntp_policy_default(
    out: *mut keel_engine_ntp_policy,
) -> keel_status {
    ffi_boundary!({
        check_out(out)?;
        let d = NtpPolicy::default();
        let p = keel_engine_ntp_policy {
            struct_size: size_of::<keel_engine_ntp_policy>(),
            minpoll: d.minpoll,
            maxpoll: d.maxpoll,
            iburst: d.iburst,
            prefer: d.prefer,
            noselect: d.noselect,
        };
        // SAFETY: `out` checked non-NULL; the caller guarantees it is valid.
        unsafe { write_out(out, p) };
        Ok(())
    })
}

/// Registers an NTP server with the options `policy` (which may be re-used
/// or discarded afterwards), first asked at loop time `now_ns` (the
/// caller's monotonic clock, ns), and writes its id to `*out_source`. The
/// engine then asks for requests with `KEEL_ENGINE_COMMAND_KIND_SEND_NTP`;
/// the replies go to `keel_engine_on_ntp_sample` or
/// `keel_engine_on_ntp_kiss`. (`keel_engine_add_source` with
/// `KEEL_SOURCE_KIND_NTP` registers one with the default options, first
/// asked at the next update.)
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_NOT_INITIALIZED`,
/// `KEEL_STATUS_STRUCT_SIZE`, `KEEL_STATUS_INVALID_ARGUMENT` (not
/// −6 ≤ `minpoll` ≤ `maxpoll` ≤ 17), `KEEL_STATUS_NO_CAPACITY` (already
/// `KEEL_ENGINE_MAX_SOURCES` sources); on error the engine is unchanged.
///
/// # Safety
/// `engine` is NULL or valid; `policy` is NULL or points to a valid
/// `keel_engine_ntp_policy`; `out_source` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_engine_add_ntp_source(
    engine: *mut keel_engine,
    policy: *const keel_engine_ntp_policy,
    now_ns: u64,
    out_source: *mut u8,
) -> keel_status {
    ffi_boundary!({
        check_out(out_source)?;
        // SAFETY: the caller guarantees `policy` is NULL or valid.
        let p = unsafe { try_ref(policy) }?;
        // SAFETY: the caller guarantees `engine` is NULL or valid.
        let c = unsafe { cell(engine) }?;
        if p.struct_size != size_of::<keel_engine_ntp_policy>() {
            return Err(keel_status::StructSize);
        }
        if !(NTP_POLL_MIN <= p.minpoll && p.minpoll <= p.maxpoll && p.maxpoll <= NTP_POLL_MAX) {
            return Err(keel_status::InvalidArgument);
        }
        let id = c
            .engine
            .add_ntp_source(
                NtpPolicy {
                    minpoll: p.minpoll,
                    maxpoll: p.maxpoll,
                    iburst: p.iburst,
                    prefer: p.prefer,
                    noselect: p.noselect,
                },
                now_ns,
            )
            .ok_or(keel_status::NoCapacity)?;
        // SAFETY: `out_source` checked non-NULL; the caller guarantees validity.
        unsafe { write_out(out_source, id.0) };
        Ok(())
    })
}

/// `source` if it is one of the engine's NTP sources, else
/// [`keel_status::InvalidArgument`].
fn ntp_source(c: &EngineCell, source: u8) -> Result<SourceId, keel_status> {
    let id = SourceId(source);
    c.engine
        .ntp_source(id, Timestamp::from_nanos(0))
        .map(|_| id)
        .ok_or(keel_status::InvalidArgument)
}

/// A frequency known before the first readings (a state file written from
/// `KEEL_ENGINE_COMMAND_KIND_SAVE_STATE`): the correction that kept the
/// clock on time, ppb 32.32 (positive: faster; clamped to the clock's
/// range), and its standard deviation, ppb 32.32 (≥ 0). The servo tests it
/// against its first readings before using it.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_NOT_INITIALIZED`,
/// `KEEL_STATUS_INVALID_ARGUMENT` (a negative `sd_ppb_q32`).
///
/// # Safety
/// `engine` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_engine_set_frequency_prior(
    engine: *mut keel_engine,
    freq_ppb_q32: i64,
    sd_ppb_q32: i64,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `engine` is NULL or valid.
        let c = unsafe { cell(engine) }?;
        if sd_ppb_q32 < 0 {
            return Err(keel_status::InvalidArgument);
        }
        c.engine
            .set_frequency_prior(Ppb::from_bits(freq_ppb_q32), Ppb::from_bits(sd_ppb_q32));
        Ok(())
    })
}

fn leap_bits(l: LeapBits) -> keel_engine_leap_bits {
    match l {
        LeapBits::Keep => keel_engine_leap_bits::Keep,
        LeapBits::None => keel_engine_leap_bits::None,
        LeapBits::Insert => keel_engine_leap_bits::Insert,
        LeapBits::Delete => keel_engine_leap_bits::Delete,
    }
}

fn command(cmd: &Command) -> keel_engine_command {
    let mut c = keel_engine_command {
        kind: keel_engine_command_kind::Wait,
        wait_until_ns: 0,
        read_source: 0,
        read_samples: 0,
        adjust_has_freq: false,
        adjust_has_status: false,
        adjust_has_tai_offset: false,
        adjust_unsync: false,
        adjust_freq_ppb_q32: 0,
        adjust_maxerror_us: 0,
        adjust_esterror_us: 0,
        adjust_leap: keel_engine_leap_bits::Keep,
        adjust_tai_offset_s: 0,
        step_ns: 0,
        save_freq_ppb_q32: 0,
        save_sd_ppb_q32: 0,
        halt_reason: keel_engine_halt_reason::None,
        halt_scale_offset_ns: 0,
        ntp_poll: 0,
    };
    match *cmd {
        Command::Wait(t) => c.wait_until_ns = t,
        Command::CheckClock => c.kind = keel_engine_command_kind::CheckClock,
        Command::Read { source, samples } => {
            c.kind = keel_engine_command_kind::Read;
            c.read_source = source.0;
            c.read_samples = samples;
        }
        Command::Adjust(a) => {
            c.kind = keel_engine_command_kind::Adjust;
            if let Some(f) = a.freq {
                c.adjust_has_freq = true;
                c.adjust_freq_ppb_q32 = f.to_bits();
            }
            if let Some(s) = a.status {
                c.adjust_has_status = true;
                c.adjust_maxerror_us = s.maxerror_us;
                c.adjust_esterror_us = s.esterror_us;
                c.adjust_unsync = s.unsync;
                c.adjust_leap = leap_bits(s.leap);
                if let Some(t) = s.tai_offset {
                    c.adjust_has_tai_offset = true;
                    c.adjust_tai_offset_s = i32::from(t);
                }
            }
        }
        Command::Step(d) => {
            c.kind = keel_engine_command_kind::Step;
            c.step_ns = d.as_nanos();
        }
        Command::SaveState(s) => {
            c.kind = keel_engine_command_kind::SaveState;
            c.save_freq_ppb_q32 = s.freq.to_bits();
            c.save_sd_ppb_q32 = s.sd.to_bits();
        }
        Command::Halt(Halt::ScaleStep { step, scale_offset }) => {
            c.kind = keel_engine_command_kind::Halt;
            c.halt_reason = keel_engine_halt_reason::ScaleStep;
            c.step_ns = step.as_nanos();
            c.halt_scale_offset_ns = scale_offset.as_nanos();
        }
        Command::SendNtp { source, poll } => {
            c.kind = keel_engine_command_kind::SendNtp;
            c.read_source = source.0;
            c.ntp_poll = poll;
        }
    }
    c
}

/// What to do next at loop time `now_ns` (the caller's monotonic clock, ns),
/// written to `*out`. Call it in a loop: after every answer, and when a
/// `WAIT` deadline passes or an event arrives.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_NOT_INITIALIZED`.
///
/// # Safety
/// `engine` is NULL or valid; `out` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_engine_poll(
    engine: *mut keel_engine,
    now_ns: u64,
    out: *mut keel_engine_command,
) -> keel_status {
    ffi_boundary!({
        check_out(out)?;
        // SAFETY: the caller guarantees `engine` is NULL or valid.
        let c = unsafe { cell(engine) }?;
        let cmd = c.engine.poll(now_ns);
        c.expect = match cmd {
            Command::CheckClock => Expect::Check,
            Command::Read { source, .. } => Expect::Read(source.0),
            Command::Adjust(_) => Expect::Adjust,
            Command::Step(_) => Expect::Step,
            Command::Wait(_)
            | Command::SaveState(_)
            | Command::Halt(_)
            | Command::SendNtp { .. } => Expect::Nothing,
        };
        // SAFETY: `out` checked non-NULL; the caller guarantees validity.
        unsafe { write_out(out, command(&cmd)) };
        Ok(())
    })
}

/// Checks that `want` is the answer the last poll asked for, and clears it.
fn answer(c: &mut EngineCell, want: Expect) -> Result<(), keel_status> {
    if c.expect != want {
        return Err(keel_status::UnexpectedAnswer);
    }
    c.expect = Expect::Nothing;
    Ok(())
}

/// The answer to `KEEL_ENGINE_COMMAND_KIND_CHECK_CLOCK`: what the caller
/// read. The next command comes from `keel_engine_poll`.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_NOT_INITIALIZED`,
/// `KEEL_STATUS_INVALID_ARGUMENT` (`leap` not −1, 0 or 1; a TAI − UTC
/// beyond 16 bits), `KEEL_STATUS_UNEXPECTED_ANSWER` (the last poll did not
/// ask for a clock check); on error the engine is unchanged.
///
/// # Safety
/// `engine` is NULL or valid; `check` is NULL or points to a valid
/// `keel_engine_clock_check`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_engine_on_clock_check(
    engine: *mut keel_engine,
    check: *const keel_engine_clock_check,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `check` is NULL or valid.
        let k = unsafe { try_ref(check) }?;
        // SAFETY: the caller guarantees `engine` is NULL or valid.
        let c = unsafe { cell(engine) }?;
        let bad = keel_status::InvalidArgument;
        let i16_of = |v: i32| i16::try_from(v).map_err(|_| bad);
        let leap = match k.leap {
            0 => None,
            1 | -1 => Some(Leap {
                unix_secs: k.leap_unix_s,
                kind: if k.leap == 1 {
                    LeapKind::Insert
                } else {
                    LeapKind::Delete
                },
                offset: UtcTaiOffset(i16_of(k.leap_tai_utc_after_s)?),
            }),
            _ => return Err(bad),
        };
        let check = ClockCheck {
            kernel_freq: k
                .has_kernel_freq
                .then(|| Ppb::from_bits(k.kernel_freq_ppb_q32)),
            raw_ns: k.raw_ns,
            sink: Timestamp::from_nanos(k.sink_ns),
            pair_width_ns: k.pair_width_ns,
            suspended_ns: k.has_suspended.then_some(k.suspended_ns),
            wall: Timestamp::from_nanos(k.wall_ns),
            leap,
            tai_utc_s: if k.has_tai_utc {
                Some(i16_of(k.tai_utc_s)?)
            } else {
                None
            },
        };
        answer(c, Expect::Check)?;
        c.engine.on_clock_check(&check);
        Ok(())
    })
}

/// The answer to `KEEL_ENGINE_COMMAND_KIND_READ`: a reading of `source`.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_NOT_INITIALIZED`,
/// `KEEL_STATUS_INVALID_ARGUMENT` (a negative delay or uncertainty),
/// `KEEL_STATUS_UNEXPECTED_ANSWER` (the last poll did not ask to read
/// `source`); on error the engine is unchanged.
///
/// # Safety
/// `engine` is NULL or valid; `reading` is NULL or points to a valid
/// `keel_engine_reading`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_engine_on_reading(
    engine: *mut keel_engine,
    source: u8,
    reading: *const keel_engine_reading,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `reading` is NULL or valid.
        let r = unsafe { try_ref(reading) }?;
        // SAFETY: the caller guarantees `engine` is NULL or valid.
        let c = unsafe { cell(engine) }?;
        if r.delay_ns < 0 || r.uncertainty_ns < 0 {
            return Err(keel_status::InvalidArgument);
        }
        answer(c, Expect::Read(source))?;
        c.engine.on_reading(
            SourceId(source),
            &Reading {
                offset: Duration::from_nanos(r.offset_ns),
                local_ts: Timestamp::from_nanos(r.local_ts_ns),
                delay: Duration::from_nanos(r.delay_ns),
                uncertainty: Duration::from_nanos(r.uncertainty_ns),
                noise_limited: r.noise_limited != 0,
            },
        );
        Ok(())
    })
}

/// The answer to `KEEL_ENGINE_COMMAND_KIND_READ` when the read gave no
/// reading: why (`error`, a `keel_read_error`), and the clock's time now,
/// ns since its epoch.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_NOT_INITIALIZED`,
/// `KEEL_STATUS_INVALID_ARGUMENT` (unknown error),
/// `KEEL_STATUS_UNEXPECTED_ANSWER`; on error the engine is unchanged.
///
/// # Safety
/// `engine` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_engine_on_read_error(
    engine: *mut keel_engine,
    source: u8,
    error: i32,
    sink_now_ns: u64,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `engine` is NULL or valid.
        let c = unsafe { cell(engine) }?;
        let e = match error {
            0 => ReadError::Busy,
            1 => ReadError::Failed,
            2 => ReadError::Paused,
            _ => return Err(keel_status::InvalidArgument),
        };
        answer(c, Expect::Read(source))?;
        c.engine
            .on_read_error(SourceId(source), e, Timestamp::from_nanos(sink_now_ns));
        Ok(())
    })
}

/// The answer to `KEEL_ENGINE_COMMAND_KIND_ADJUST`. `ok`: the write
/// succeeded; then `freq_ppb_q32` is the frequency correction now in force
/// (read back after the write: the kernel's quantisation and clamping
/// applied; ppb 32.32, positive = faster) and `at_ns` the clock's time
/// right after the write (when it took effect), ns since its epoch. With
/// `ok` false the other two are ignored: the frequency in force stays, and
/// the servo is told so.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_NOT_INITIALIZED`,
/// `KEEL_STATUS_UNEXPECTED_ANSWER`.
///
/// # Safety
/// `engine` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_engine_on_adjusted(
    engine: *mut keel_engine,
    ok: bool,
    freq_ppb_q32: i64,
    at_ns: u64,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `engine` is NULL or valid.
        let c = unsafe { cell(engine) }?;
        answer(c, Expect::Adjust)?;
        let result = if ok {
            Ok(Adjusted {
                freq: Ppb::from_bits(freq_ppb_q32),
                at: Timestamp::from_nanos(at_ns),
            })
        } else {
            Err(())
        };
        c.engine.on_adjusted(result);
        Ok(())
    })
}

/// The answer to `KEEL_ENGINE_COMMAND_KIND_STEP`: did the step succeed?
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_NOT_INITIALIZED`,
/// `KEEL_STATUS_UNEXPECTED_ANSWER`.
///
/// # Safety
/// `engine` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_engine_on_stepped(engine: *mut keel_engine, ok: bool) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `engine` is NULL or valid.
        let c = unsafe { cell(engine) }?;
        answer(c, Expect::Step)?;
        c.engine.on_stepped(ok);
        Ok(())
    })
}

/// A disruption the caller saw (`what`, a `keel_disruption`: a vmclock
/// marker, a resume, a read method that stopped working) at loop time
/// `now_ns`. Between updates it brings the next update forward to `now_ns`
/// (poll again); during one it applies before the reading.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_NOT_INITIALIZED`,
/// `KEEL_STATUS_INVALID_ARGUMENT` (unknown `what`).
///
/// # Safety
/// `engine` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_engine_on_disruption(
    engine: *mut keel_engine,
    now_ns: u64,
    what: i32,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `engine` is NULL or valid.
        let c = unsafe { cell(engine) }?;
        let d = match what {
            0 => Disruption::Migration,
            1 => Disruption::Resume,
            2 => Disruption::ReadMethodLost,
            3 => Disruption::Requested,
            _ => return Err(keel_status::InvalidArgument),
        };
        c.engine.on_disruption(now_ns, d);
        Ok(())
    })
}

/// A valid reply from NTP source `source` (the `keel_ntp_sample` that
/// `keel_ntp_process_reply` wrote for the request sent on its
/// `KEEL_ENGINE_COMMAND_KIND_SEND_NTP`), at loop time `now_ns`. Call it
/// whenever the reply comes: it answers no question, so it may come between
/// any two calls, and the answer the last poll asked for is still expected.
/// While NTP steers, the next `keel_engine_poll` updates the clock from it. A
/// reply when no request is out (a duplicate) is ignored.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_NOT_INITIALIZED`,
/// `KEEL_STATUS_INVALID_ARGUMENT` (`source` is not an NTP source; a sample
/// `keel_ntp_process_reply` never writes: a negative delay, dispersion, root
/// delay or root dispersion, `leap` not 0–2, `stratum` not 1–15;
/// `root_distance_ns` is not read); on error the engine is unchanged.
///
/// # Safety
/// `engine` is NULL or valid; `sample` is NULL or points to a valid
/// `keel_ntp_sample`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_engine_on_ntp_sample(
    engine: *mut keel_engine,
    now_ns: u64,
    source: u8,
    sample: *const keel_ntp_sample,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `sample` is NULL or valid.
        let s = unsafe { try_ref(sample) }?;
        // SAFETY: the caller guarantees `engine` is NULL or valid.
        let c = unsafe { cell(engine) }?;
        let id = ntp_source(c, source)?;
        let s = sample_from_c(s)?;
        c.engine.on_ntp_sample(now_ns, id, &s);
        Ok(())
    })
}

/// A Kiss-o'-Death from NTP source `source` at loop time `now_ns`: `kiss`
/// is the status `keel_ntp_process_reply` returned for it, and
/// `server_poll` the poll exponent the server asked for, log₂ s (the
/// reply's poll field, `(int8_t)reply[2]`). `KEEL_STATUS_NTP_KISS_RATE`
/// lengthens the source's poll interval (`keel_ntp_backoff_poll`, at most
/// its `maxpoll`) and ends a burst; `KEEL_STATUS_NTP_KISS_DENY` stops
/// asking the server; `KEEL_STATUS_NTP_KISS_OTHER` changes nothing. Like
/// `keel_engine_on_ntp_sample` it answers no question.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_NOT_INITIALIZED`,
/// `KEEL_STATUS_INVALID_ARGUMENT` (`source` is not an NTP source; `kiss` is
/// none of the three); on error the engine is unchanged.
///
/// # Safety
/// `engine` is NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_engine_on_ntp_kiss(
    engine: *mut keel_engine,
    now_ns: u64,
    source: u8,
    kiss: i32,
    server_poll: i8,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `engine` is NULL or valid.
        let c = unsafe { cell(engine) }?;
        let id = ntp_source(c, source)?;
        let action = match kiss {
            k if k == keel_status::NtpKissRate as i32 => KissAction::ReducePollRate,
            k if k == keel_status::NtpKissDeny as i32 => KissAction::StopUsingServer,
            k if k == keel_status::NtpKissOther as i32 => KissAction::Ignore,
            _ => return Err(keel_status::InvalidArgument),
        };
        c.engine.on_ntp_kiss(now_ns, id, action, server_poll);
        Ok(())
    })
}

/// What NTP source `source` says about the clock at clock time
/// `at_sink_ns` (ns since the clock's epoch; pass the clock's time now),
/// written to `*out`: its reach, poll interval and, once it has samples,
/// its estimate of clock − server there.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_NOT_INITIALIZED`,
/// `KEEL_STATUS_INVALID_ARGUMENT` (`source` is not an NTP source).
///
/// # Safety
/// `engine` is NULL or valid; `out` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_engine_ntp_source_status(
    engine: *mut keel_engine,
    source: u8,
    at_sink_ns: u64,
    out: *mut keel_engine_ntp_source_snapshot,
) -> keel_status {
    ffi_boundary!({
        check_out(out)?;
        // SAFETY: the caller guarantees `engine` is NULL or valid.
        let c = unsafe { cell(engine) }?;
        let (reach, poll, est) = c
            .engine
            .ntp_source(SourceId(source), Timestamp::from_nanos(at_sink_ns))
            .ok_or(keel_status::InvalidArgument)?;
        let st = keel_engine_ntp_source_snapshot {
            reach,
            poll,
            has_estimate: est.is_some(),
            offset_ns: est.map_or(0, |e| e.offset.as_nanos()),
            half_width_ns: est.map_or(0, |e| e.half_width.as_nanos()),
            delay_ns: est.map_or(0, |e| e.delay.as_nanos()),
            jitter_ns: est.map_or(0, |e| e.jitter.as_nanos()),
            taken_ns: est.map_or(0, |e| e.taken.as_nanos()),
        };
        // SAFETY: `out` checked non-NULL; the caller guarantees validity.
        unsafe { write_out(out, st) };
        Ok(())
    })
}

/// The status after the last update, written to `*out` (what `keel status`
/// and the metrics show).
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_NOT_INITIALIZED`.
///
/// # Safety
/// `engine` is NULL or valid; `out` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_engine_status(
    engine: *mut keel_engine,
    out: *mut keel_engine_snapshot,
) -> keel_status {
    ffi_boundary!({
        check_out(out)?;
        // SAFETY: the caller guarantees `engine` is NULL or valid.
        let c = unsafe { cell(engine) }?;
        let s = c.engine.status();
        let n = &s.counters;
        let st = keel_engine_snapshot {
            state: match s.state {
                SyncState::Unlocked => keel_engine_state::Unlocked,
                SyncState::Jump => keel_engine_state::Jump,
                SyncState::Locked => keel_engine_state::Locked,
                SyncState::LockedStable => keel_engine_state::LockedStable,
                SyncState::Holdover => keel_engine_state::Holdover,
            },
            has_source: s.source.is_some(),
            has_last_offset: s.last_offset.is_some(),
            has_bound: s.bound.is_some(),
            has_holdover_since: s.holdover_since_ns.is_some(),
            source: s.source.map_or(0, |i| i.0),
            last_offset_ns: s.last_offset.map_or(0, Duration::as_nanos),
            last_delay_ns: s.last_delay.as_nanos(),
            freq_ppb_q32: s.freq.to_bits(),
            bound_ns: s.bound.map_or(0, Duration::as_nanos),
            last_update_ns: s.last_update_ns,
            holdover_since_ns: s.holdover_since_ns.unwrap_or(0),
            next_update_ns: c.engine.next_update_ns(),
            updates: n.updates,
            steps: n.steps,
            disruptions: n.disruptions,
            read_errors: n.read_errors,
            interference: n.interference,
            notices_dropped: c.engine.notices_dropped(),
            outvoted: n.outvoted,
            phc_rejected: c.engine.phc_rejected(),
        };
        // SAFETY: `out` checked non-NULL; the caller guarantees validity.
        unsafe { write_out(out, st) };
        Ok(())
    })
}

fn notice(n: &Notice) -> keel_engine_notice {
    use keel_engine_notice_kind as K;
    let mut o = keel_engine_notice {
        kind: K::BusySkipped,
        cause: keel_engine_disruption_cause::None,
        disruption: 0,
        freq_ppb_q32: 0,
        wrote_ppb_q32: 0,
        duration_ns: 0,
        count: 0,
    };
    match *n {
        Notice::Disrupted(cause) => {
            o.kind = K::Disrupted;
            match cause {
                DisruptionCause::Signalled(d) => {
                    o.cause = keel_engine_disruption_cause::Signalled;
                    o.disruption = match d {
                        Disruption::Migration => keel_disruption::Migration,
                        Disruption::Resume => keel_disruption::Resume,
                        Disruption::ReadMethodLost => keel_disruption::ReadMethodLost,
                        Disruption::Requested => keel_disruption::Requested,
                    } as i32;
                }
                DisruptionCause::Suspended(ns) => {
                    o.cause = keel_engine_disruption_cause::Suspended;
                    o.duration_ns = ns;
                }
                DisruptionCause::Interference => {
                    o.cause = keel_engine_disruption_cause::Interference;
                }
            }
        }
        Notice::FrequencyInterference { kernel, wrote } => {
            o.kind = K::FrequencyInterference;
            o.freq_ppb_q32 = kernel.to_bits();
            o.wrote_ppb_q32 = wrote.to_bits();
        }
        Notice::StepInterference(d) => {
            o.kind = K::StepInterference;
            o.duration_ns = d.as_nanos();
        }
        Notice::HoldoverStarted { freq } => {
            o.kind = K::HoldoverStarted;
            o.freq_ppb_q32 = freq.to_bits();
        }
        Notice::HoldoverEnded {
            failed_updates,
            span_ns,
        } => {
            o.kind = K::HoldoverEnded;
            o.count = failed_updates;
            o.duration_ns = i64::try_from(span_ns).unwrap_or(i64::MAX);
        }
        Notice::BusySkipped => o.kind = K::BusySkipped,
        Notice::LeapQuiet => o.kind = K::LeapQuiet,
        Notice::StepLimitReached(n) => {
            o.kind = K::StepLimitReached;
            o.count = u64::from(n);
        }
        Notice::Stepped(d) => {
            o.kind = K::Stepped;
            o.duration_ns = d.as_nanos();
        }
        Notice::WouldStep(d) => {
            o.kind = K::WouldStep;
            o.duration_ns = d.as_nanos();
        }
        Notice::WouldRefuseScaleStep(d) => {
            o.kind = K::WouldRefuseScaleStep;
            o.duration_ns = d.as_nanos();
        }
        Notice::AdjustFailed => o.kind = K::AdjustFailed,
        Notice::StepFailed(d) => {
            o.kind = K::StepFailed;
            o.duration_ns = d.as_nanos();
        }
        Notice::PhcRejected { phc, .. } => {
            o.kind = K::PhcRejected;
            o.duration_ns = phc.as_nanos();
        }
        Notice::PhcRestored => o.kind = K::PhcRestored,
        Notice::HostUnsynchronised(u) => {
            o.kind = K::HostUnsynchronised;
            o.count = u64::from(u);
        }
        Notice::PhcDisputed { phc, .. } => {
            o.kind = K::PhcDisputed;
            o.duration_ns = phc.as_nanos();
        }
    }
    o
}

/// Takes the oldest notice not yet taken (something worth a log line) into
/// `*out`. Call it until it returns `KEEL_STATUS_UNAVAILABLE` (none left).
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_NOT_INITIALIZED`,
/// `KEEL_STATUS_UNAVAILABLE` (no notice; nothing written).
///
/// # Safety
/// `engine` is NULL or valid; `out` is NULL or valid for writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_engine_take_notice(
    engine: *mut keel_engine,
    out: *mut keel_engine_notice,
) -> keel_status {
    ffi_boundary!({
        check_out(out)?;
        // SAFETY: the caller guarantees `engine` is NULL or valid.
        let c = unsafe { cell(engine) }?;
        let n = c.engine.take_notice().ok_or(keel_status::Unavailable)?;
        // SAFETY: `out` checked non-NULL; the caller guarantees validity.
        unsafe { write_out(out, notice(&n)) };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_engine_fits_its_storage() {
        // The headroom left for the servo to grow.
        let used = size_of::<EngineCell>();
        assert!(used <= KEEL_ENGINE_STORAGE_SIZE, "{used}");
        std::println!("EngineCell: {used} of {KEEL_ENGINE_STORAGE_SIZE} bytes");
    }

    #[test]
    fn the_ntp_poll_limits_are_the_cores() {
        let mut cfg = core::mem::MaybeUninit::<keel_engine_config>::uninit();
        // SAFETY: `cfg` is valid for writing a config.
        let st = unsafe { keel_engine_config_default(0, cfg.as_mut_ptr()) };
        assert_eq!(st, keel_status::Ok);
        // SAFETY: written on OK.
        let mut e = build(&unsafe { cfg.assume_init() }, 0).expect("the default builds");
        let wide = NtpPolicy {
            minpoll: i8::MIN,
            maxpoll: i8::MAX,
            ..NtpPolicy::default()
        };
        let id = e.add_ntp_source(wide, 0).expect("room");
        assert_eq!(
            e.poll(0),
            Command::SendNtp {
                source: id,
                poll: NTP_POLL_MIN
            }
        );
        e.on_ntp_kiss(0, id, KissAction::ReducePollRate, i8::MAX);
        let (_, poll, _) = e.ntp_source(id, Timestamp::from_nanos(0)).expect("NTP");
        assert_eq!(poll, NTP_POLL_MAX);
    }
}

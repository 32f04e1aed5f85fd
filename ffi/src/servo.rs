//! The servo: keel's default adaptive Kalman servo, linuxptp's PI or
//! linuxptp's linreg, in caller-owned storage; driven with feedback
//! (`keel_servo_applied*`) or in pull mode (without it).

use keel_core::servo::{
    Action, Applied, Kalman, KalmanConfig, LinReg, OffsetSample, Pi, PiConfig, Servo, ServoConfig,
    ServoOutput, ServoState,
};
use keel_core::time::{Duration, KernelFreq, LeapKind, Ppb, Timestamp};

use crate::{check_out, ffi_boundary, keel_status, try_ref, write_out};

/// Number of 64-bit words in [`keel_servo`].
pub const KEEL_SERVO_STORAGE_WORDS: usize = 256;
/// `sizeof(keel_servo)`, bytes (2 KiB; the Kalman servo needs about 1.4 KiB,
/// `keel_servo_storage_used()` says exactly).
pub const KEEL_SERVO_STORAGE_SIZE: usize = KEEL_SERVO_STORAGE_WORDS * 8;

/// Caller-owned storage for one servo: declare it anywhere (stack, static,
/// inside your own struct), then `keel_servo_init()` it. Never copy an
/// initialised servo with `memcpy` while another call uses it; copying a
/// quiescent one is fine (it holds no pointers). Zero it (or call
/// `keel_servo_deinit()`) to make later calls fail with
/// `KEEL_STATUS_NOT_INITIALIZED`.
///
/// **Two ways to drive it.**
///
/// *With feedback* (keel's own loop): apply each output, report it with
/// `keel_servo_applied()` and `keel_servo_applied_at()`, and take the early
/// samples `has_next_update` asks for.
///
/// *Pull mode* (a daemon that keeps its own loop, such as one behind
/// linuxptp's `servo.h`: sample in, frequency out): call neither
/// `keel_servo_applied()` nor `keel_servo_applied_at()`. When the next
/// `keel_servo_sample()` or `keel_servo_no_sample()` comes without a report,
/// the servo assumes its last output was applied exactly as returned: the
/// step it asked for added in full, the frequency set to `freq_ppb_q32`
/// (nothing done for `KEEL_SERVO_ACTION_NONE`), both taking effect at the
/// local time of the sample that output answered. Each output stands alone:
/// reporting some and not others is fine. What pull mode loses:
/// - A step that failed or differed from `step_ns` (e.g. linuxptp steps by
///   the reading, not by keel's estimate), a frequency the daemon clamped or
///   rounded, another process writing the clock: the servo's model is off
///   by the difference, which only later readings show, as offset. Report
///   such an output with `keel_servo_applied()`.
/// - The delay between the reading and the adjustment: the old frequency ran
///   that much longer than assumed, an offset of Δfrequency × delay (at
///   start-up 50 ppm over 5 ms is 250 ns; in the steady state a few ppb over
///   a few ms is far below 1 ns). `keel_servo_applied_at()` removes it.
///
/// Sampling only on the nominal grid (not honouring `has_next_update`)
/// keeps the steady-state accuracy and the outlier rejection, but a suspect
/// reading is confirmed one interval later instead of 1/16 of an interval
/// later, and the fast burst after a disruption or a frequency change is not
/// taken: the three suspect readings that confirm a change come a whole
/// interval apart. On the scenario report's +50 ppm frequency step at 1
/// update/s the peak error is 150 µs in pull mode against 56 µs with the
/// re-reads (`cargo test -p keel-tests --test ffi_c pull -- --nocapture`
/// prints both); the steady state is the same (bit for bit as with
/// feedback, for an output applied exactly).
#[repr(C)]
pub struct keel_servo {
    _opaque: [u64; KEEL_SERVO_STORAGE_WORDS],
}

/// Which servo algorithm.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum keel_servo_kind {
    /// keel's default: an adaptive two-state Kalman filter that learns the
    /// reading noise and oscillator wander itself; gives an error bound.
    Kalman = 0,
    /// linuxptp's PI servo (phc2sys/ptp4l semantics), fixed point.
    Pi = 1,
    /// linuxptp's linreg servo (`phc2sys -E linreg`), integer arithmetic.
    Linreg = 2,
}

/// linuxptp's servo states.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum keel_servo_state {
    /// Not enough information yet; the clock is left alone.
    Unlocked = 0,
    /// The clock is being stepped now.
    Jump = 1,
    /// Tracking.
    Locked = 2,
    /// Tracking, and the last `stable_count` offsets were within `stable_threshold_ns`.
    LockedStable = 3,
}

/// What the caller should do to the clock.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum keel_servo_action {
    /// Leave the clock alone.
    None = 0,
    /// Set the clock's frequency correction to `freq_ppb_q32` (absolute).
    SetFrequency = 1,
    /// Add `step_ns` to the clock, then set the frequency to `freq_ppb_q32`.
    Step = 2,
}

/// A leap second announced for the end of the current UTC day (linuxptp's
/// `servo_leap()` values).
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum keel_leap {
    /// None announced, or the announcement is withdrawn.
    None = 0,
    /// 23:59:60 will be inserted (Linux `STA_INS`).
    Insert = 1,
    /// 23:59:59 will be skipped (Linux `STA_DEL`).
    Delete = -1,
}

/// Servo settings. Fill with `keel_servo_config_default()`, change what you
/// need, pass to `keel_servo_init()`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct keel_servo_config {
    /// `sizeof(keel_servo_config)`.
    pub struct_size: usize,
    /// A `keel_servo_kind` value.
    pub kind: i32,
    /// Nominal update interval, ns (> 0). Default 1 s.
    pub interval_ns: i64,
    /// The frequency correction already in force on the clock (e.g. read with
    /// `clock_adjtime`), ppb in 32.32 fixed point. Default 0.
    pub initial_freq_ppb_q32: i64,
    /// Step on the first update when |offset| exceeds this, ns; 0 disables.
    /// Default 20000 (20 µs).
    pub first_step_threshold_ns: i64,
    /// Step whenever |offset| exceeds this, ns; 0 disables. Default 0.
    pub step_threshold_ns: i64,
    /// The largest |frequency correction| ever output, ppb (> 0). Default
    /// 100500000 (10 % + 500 ppm, Linux `CLOCK_REALTIME`'s range).
    pub max_frequency_ppb: i64,
    /// |offset| below this counts toward `KEEL_SERVO_STATE_LOCKED_STABLE`, ns;
    /// 0 disables the stable state. Default 0.
    pub stable_threshold_ns: i64,
    /// Consecutive offsets within the stable threshold that make the state
    /// stable (0–65535). Default 10.
    pub stable_count: u32,
    /// Kalman: innovations beyond this many standard deviations make a
    /// reading a suspect (1–255). Default 5.
    pub kalman_gate: u32,
    /// Kalman: the error bound is this many standard deviations wide
    /// (1–255). Default 5.
    pub kalman_bound_sigmas: u32,
    /// Kalman: the reference's own error (added to the error bound), ns (≥ 0).
    /// Default 0.
    pub kalman_reference_error_ns: i64,
    /// PI: linuxptp `pi_proportional_scale`. Default 0.7 (phc2sys).
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

/// The result of one servo update.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct keel_servo_output {
    /// What to do (`keel_servo_action`).
    pub action: keel_servo_action,
    /// The state after this sample.
    pub state: keel_servo_state,
    /// With `KEEL_SERVO_ACTION_STEP`: ns to add to the clock; else 0.
    pub step_ns: i64,
    /// The frequency correction in force after the action (absolute), ppb
    /// 32.32; positive = the clock runs faster. With
    /// `KEEL_SERVO_ACTION_SET_FREQUENCY` or `_STEP`, set the clock to it.
    pub freq_ppb_q32: i64,
    /// The servo's estimate of the current offset (local − reference), ns.
    pub offset_ns: i64,
    /// A bound on |true offset| after the action, ns; valid when
    /// `has_error_bound`.
    pub error_bound_ns: i64,
    /// When the servo wants its next sample sooner than the nominal interval:
    /// the delay from now, ns; valid when `has_next_update`. A re-read of a
    /// suspect reading (1/16 of the interval) or a step of a burst after a
    /// disruption or a frequency change. Optional: a daemon that samples
    /// only on its own grid loses the quick confirmation (see `keel_servo`).
    pub next_update_ns: i64,
    /// Whether `error_bound_ns` is valid (the Kalman servo gives one, PI not).
    pub has_error_bound: bool,
    /// Whether `next_update_ns` is valid.
    pub has_next_update: bool,
}

/// The noise the Kalman servo has learnt.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct keel_servo_stats {
    /// Variance of one reading, ns², 48.16 fixed point.
    pub reading_var_ns2_q16: i64,
    /// Random-walk frequency intensity, ppb²/s, 32.32 fixed point.
    pub wander_var_q32: i64,
}

/// A frequency in the Linux kernel's `struct timex` units.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct keel_kernel_freq {
    /// `timex.tick`, µs per tick.
    pub tick_us: i64,
    /// `timex.freq`, ppm with a 16-bit fraction ("scaled ppm").
    pub freq_scaled_ppm: i64,
}

const SERVO_MAGIC: u64 = u64::from_le_bytes(*b"keelSRV1");

#[allow(
    clippy::large_enum_variant,
    reason = "lives in fixed caller storage sized for the largest variant anyway; no_std cannot box"
)]
enum AnyServo {
    Kalman(Kalman),
    Pi(Pi),
    LinReg(LinReg),
}

impl AnyServo {
    fn get(&mut self) -> &mut dyn Servo {
        match self {
            Self::Kalman(k) => k,
            Self::Pi(p) => p,
            Self::LinReg(l) => l,
        }
    }
    fn get_ref(&self) -> &dyn Servo {
        match self {
            Self::Kalman(k) => k,
            Self::Pi(p) => p,
            Self::LinReg(l) => l,
        }
    }
}

/// What lives in a [`keel_servo`]: the magic word first.
#[repr(C)]
struct ServoCell {
    magic: u64,
    /// The thresholds and limits in force (for the one-field setters).
    config: ServoConfig,
    servo: AnyServo,
}

const _: () = assert!(
    size_of::<ServoCell>() <= size_of::<keel_servo>()
        && align_of::<ServoCell>() <= align_of::<keel_servo>(),
    "keel_servo storage is too small or under-aligned for the servo: raise KEEL_SERVO_STORAGE_WORDS"
);

/// The initialised servo in `p`.
///
/// # Safety
/// `p` is NULL or points to a valid, aligned `keel_servo` not otherwise
/// accessed during the returned borrow.
unsafe fn cell<'a>(p: *mut keel_servo) -> Result<&'a mut ServoCell, keel_status> {
    if p.is_null() {
        return Err(keel_status::NullPointer);
    }
    // SAFETY: `p` is non-NULL, aligned and points to at least 8 readable bytes.
    let magic = unsafe { p.cast::<u64>().read() };
    if magic != SERVO_MAGIC {
        return Err(keel_status::NotInitialized);
    }
    // SAFETY: the magic word is only written by `keel_servo_init`, together
    // with a valid `ServoCell`; size and alignment are asserted above.
    Ok(unsafe { &mut *p.cast::<ServoCell>() })
}

/// The default configuration for `kind` (a `keel_servo_kind`), written to
/// `*out` (with `struct_size` set).
///
/// Errors: `KEEL_STATUS_NULL_POINTER` (`out`), `KEEL_STATUS_INVALID_ARGUMENT`
/// (unknown kind).
///
/// # Safety
/// `out` is NULL or valid for writing a `keel_servo_config`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_servo_config_default(
    kind: i32,
    out: *mut keel_servo_config,
) -> keel_status {
    ffi_boundary!({
        check_out(out)?;
        let kind = parse_kind(kind)?;
        let c = ServoConfig::default();
        let k = KalmanConfig::default();
        let pi = PiConfig::default();
        let cfg = keel_servo_config {
            struct_size: size_of::<keel_servo_config>(),
            kind: kind as i32,
            interval_ns: 1_000_000_000,
            initial_freq_ppb_q32: 0,
            first_step_threshold_ns: c.first_step_threshold.as_nanos(),
            step_threshold_ns: c.step_threshold.as_nanos(),
            max_frequency_ppb: c.max_frequency.floor_ppb(),
            stable_threshold_ns: c.stable_threshold.as_nanos(),
            stable_count: u32::from(c.stable_count),
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

fn parse_kind(kind: i32) -> Result<keel_servo_kind, keel_status> {
    match kind {
        0 => Ok(keel_servo_kind::Kalman),
        1 => Ok(keel_servo_kind::Pi),
        2 => Ok(keel_servo_kind::Linreg),
        _ => Err(keel_status::InvalidArgument),
    }
}

fn build(cfg: &keel_servo_config) -> Result<(ServoConfig, AnyServo), keel_status> {
    if cfg.struct_size != size_of::<keel_servo_config>() {
        return Err(keel_status::StructSize);
    }
    let kind = parse_kind(cfg.kind)?;
    let bad = keel_status::InvalidArgument;
    if cfg.interval_ns <= 0
        || cfg.first_step_threshold_ns < 0
        || cfg.step_threshold_ns < 0
        || cfg.max_frequency_ppb <= 0
        || cfg.max_frequency_ppb > i64::from(i32::MAX)
        || cfg.stable_threshold_ns < 0
        || cfg.kalman_reference_error_ns < 0
    {
        return Err(bad);
    }
    let sc = ServoConfig {
        first_step_threshold: Duration::from_nanos(cfg.first_step_threshold_ns),
        step_threshold: Duration::from_nanos(cfg.step_threshold_ns),
        max_frequency: Ppb::from_ppb(cfg.max_frequency_ppb),
        stable_threshold: Duration::from_nanos(cfg.stable_threshold_ns),
        stable_count: u16::try_from(cfg.stable_count).map_err(|_| bad)?,
    };
    let interval = Duration::from_nanos(cfg.interval_ns);
    let freq = Ppb::from_bits(cfg.initial_freq_ppb_q32);
    let servo = match kind {
        keel_servo_kind::Kalman => {
            let gate = u8::try_from(cfg.kalman_gate).map_err(|_| bad)?;
            let bound_sigmas = u8::try_from(cfg.kalman_bound_sigmas).map_err(|_| bad)?;
            if gate == 0 || bound_sigmas == 0 {
                return Err(bad);
            }
            let kc = KalmanConfig {
                gate,
                bound_sigmas,
                reference_error: Duration::from_nanos(cfg.kalman_reference_error_ns),
            };
            AnyServo::Kalman(Kalman::new(sc, kc, interval, freq))
        }
        keel_servo_kind::Pi => {
            let g = PiConfig {
                kp_scale: cfg.pi_kp_scale,
                kp_exponent: cfg.pi_kp_exponent,
                kp_norm_max: cfg.pi_kp_norm_max,
                ki_scale: cfg.pi_ki_scale,
                ki_exponent: cfg.pi_ki_exponent,
                ki_norm_max: cfg.pi_ki_norm_max,
            };
            let all = [
                g.kp_scale,
                g.kp_exponent,
                g.kp_norm_max,
                g.ki_scale,
                g.ki_exponent,
                g.ki_norm_max,
            ];
            if all.iter().any(|v| !v.is_finite()) {
                return Err(bad);
            }
            AnyServo::Pi(Pi::new(sc, g, interval, freq))
        }
        keel_servo_kind::Linreg => AnyServo::LinReg(LinReg::new(sc, interval, freq)),
    };
    Ok((sc, servo))
}

/// Initialises `servo` from `config` (which may be re-used or discarded
/// afterwards). Re-initialising an initialised servo starts it afresh.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_STRUCT_SIZE`,
/// `KEEL_STATUS_INVALID_ARGUMENT` (unknown kind, `interval_ns <= 0`, a
/// negative threshold, `max_frequency_ppb` not in 1..=2147483647,
/// `stable_count` > 65535, Kalman gate/sigmas not in 1..=255, non-finite PI
/// gains). On error `*servo` is left as it was.
///
/// # Safety
/// `servo` is NULL or valid for writing a `keel_servo`; `config` is NULL or
/// points to a valid `keel_servo_config`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_servo_init(
    servo: *mut keel_servo,
    config: *const keel_servo_config,
) -> keel_status {
    ffi_boundary!({
        check_out(servo)?;
        // SAFETY: the caller guarantees `config` is NULL or valid.
        let cfg = unsafe { try_ref(config) }?;
        let (config, s) = build(cfg)?;
        let cell = ServoCell {
            magic: SERVO_MAGIC,
            config,
            servo: s,
        };
        // SAFETY: `servo` is non-NULL and valid for a `keel_servo`, which is
        // large and aligned enough for a `ServoCell` (asserted above). The
        // old contents hold nothing to drop.
        unsafe { servo.cast::<ServoCell>().write(cell) };
        Ok(())
    })
}

/// Marks `servo` as uninitialised (later calls fail with
/// `KEEL_STATUS_NOT_INITIALIZED`). Holds no resources, so this is optional.
/// Deinitialising twice is fine.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`.
///
/// # Safety
/// `servo` is NULL or valid for writing a `keel_servo`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_servo_deinit(servo: *mut keel_servo) -> keel_status {
    ffi_boundary!({
        check_out(servo)?;
        // SAFETY: non-NULL, aligned, valid for a write of its first word.
        unsafe { servo.cast::<u64>().write(0) };
        Ok(())
    })
}

fn output(o: &ServoOutput) -> keel_servo_output {
    let (action, step_ns) = match o.action {
        Action::None => (keel_servo_action::None, 0),
        Action::SetFrequency(_) => (keel_servo_action::SetFrequency, 0),
        Action::Step { step, .. } => (keel_servo_action::Step, step.as_nanos()),
    };
    keel_servo_output {
        action,
        state: state(o.state),
        step_ns,
        freq_ppb_q32: o.freq.to_bits(),
        offset_ns: o.offset.as_nanos(),
        error_bound_ns: o.error_bound.map_or(0, Duration::as_nanos),
        next_update_ns: o.next_update.map_or(0, Duration::as_nanos),
        has_error_bound: o.error_bound.is_some(),
        has_next_update: o.next_update.is_some(),
    }
}

fn state(s: ServoState) -> keel_servo_state {
    match s {
        ServoState::Unlocked => keel_servo_state::Unlocked,
        ServoState::Jump => keel_servo_state::Jump,
        ServoState::Locked => keel_servo_state::Locked,
        ServoState::LockedStable => keel_servo_state::LockedStable,
    }
}

/// Feeds one offset measurement and says what to do with the clock.
///
/// - `offset_ns`: local − reference, ns (positive: the local clock is ahead).
/// - `local_ts_ns`: the local clock's time of the measurement, ns since its
///   epoch (e.g. `CLOCK_REALTIME` in Unix ns).
/// - `uncertainty_ns`: known uncertainty of this reading (≥ 0; e.g. half the
///   PHC read delay), 0 when unknown.
///
/// Apply the output. Reporting what was done with `keel_servo_applied()` is
/// optional: without a report the output counts as applied exactly as
/// returned (pull mode, see `keel_servo`). Sample on a kept grid of the interval (absolute deadlines, e.g.
/// `clock_nanosleep(..., TIMER_ABSTIME, ...)`), plus the early re-reads
/// `next_update_ns` asks for: a late wake-up costs nothing, but a schedule
/// that drifts half an interval off its grid restarts the Kalman servo's
/// noise history.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_NOT_INITIALIZED`,
/// `KEEL_STATUS_INVALID_ARGUMENT` (negative uncertainty).
///
/// # Safety
/// `servo` is NULL or points to a valid `keel_servo`; `out` is NULL or valid
/// for writing a `keel_servo_output`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_servo_sample(
    servo: *mut keel_servo,
    offset_ns: i64,
    local_ts_ns: u64,
    uncertainty_ns: i64,
    out: *mut keel_servo_output,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `servo` is NULL or valid.
        let c = unsafe { cell(servo) }?;
        check_out(out)?;
        if uncertainty_ns < 0 {
            return Err(keel_status::InvalidArgument);
        }
        let o = c.servo.get().sample(&OffsetSample {
            offset: Duration::from_nanos(offset_ns),
            local_ts: Timestamp::from_nanos(local_ts_ns),
            uncertainty: Duration::from_nanos(uncertainty_ns),
        });
        // SAFETY: `out` checked non-NULL; the caller guarantees it is valid.
        unsafe { write_out(out, output(&o)) };
        Ok(())
    })
}

/// Reports what was actually done after the last output: `step_applied`
/// with the step in ns that was added to the clock (`false` when none was
/// asked for or the step failed; `step_ns` is then ignored), and the
/// frequency correction now in force (ppb 32.32).
///
/// Optional: an output not reported before the next sample counts as
/// applied exactly as returned (pull mode, see `keel_servo`). Report the
/// outputs that were not: a failed or different step, a clamped frequency.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_NOT_INITIALIZED`.
///
/// # Safety
/// `servo` is NULL or points to a valid `keel_servo`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_servo_applied(
    servo: *mut keel_servo,
    step_applied: bool,
    step_ns: i64,
    freq_ppb_q32: i64,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `servo` is NULL or valid.
        let c = unsafe { cell(servo) }?;
        c.servo.get().applied(&Applied {
            step: step_applied.then_some(Duration::from_nanos(step_ns)),
            freq: Ppb::from_bits(freq_ppb_q32),
        });
        Ok(())
    })
}

/// Reports when the last output's corrections took effect: `at_ns` is the
/// local clock read right after applying them (ns since the epoch). Until
/// then the previous frequency was still in force; the default servo
/// accounts for the gap (a few ms at 50 ppm is a few hundred ns). Optional:
/// without it the corrections count as taking effect at the local time of
/// the sample they answer. Call it after `keel_servo_applied` (or alone, in
/// pull mode).
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_NOT_INITIALIZED`.
///
/// # Safety
/// `servo` is NULL or points to a valid `keel_servo`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_servo_applied_at(servo: *mut keel_servo, at_ns: u64) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `servo` is NULL or valid.
        let c = unsafe { cell(servo) }?;
        c.servo.get().applied_at(Timestamp::from_nanos(at_ns));
        Ok(())
    })
}

/// Changes the nominal update interval (ns, > 0).
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_NOT_INITIALIZED`,
/// `KEEL_STATUS_INVALID_ARGUMENT`.
///
/// # Safety
/// `servo` is NULL or points to a valid `keel_servo`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_servo_set_interval(
    servo: *mut keel_servo,
    interval_ns: i64,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `servo` is NULL or valid.
        let c = unsafe { cell(servo) }?;
        if interval_ns <= 0 {
            return Err(keel_status::InvalidArgument);
        }
        c.servo
            .get()
            .set_interval(Duration::from_nanos(interval_ns));
        Ok(())
    })
}

/// Changes the step thresholds after init (linuxptp's `first_step_threshold`
/// and `step_threshold`, in ns; 0 disables either). The first step threshold
/// applies until the servo's first step or lock. The learnt state is kept.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_NOT_INITIALIZED`,
/// `KEEL_STATUS_INVALID_ARGUMENT` (a negative threshold).
///
/// # Safety
/// `servo` is NULL or points to a valid `keel_servo`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_servo_set_step_thresholds(
    servo: *mut keel_servo,
    first_step_threshold_ns: i64,
    step_threshold_ns: i64,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `servo` is NULL or valid.
        let c = unsafe { cell(servo) }?;
        if first_step_threshold_ns < 0 || step_threshold_ns < 0 {
            return Err(keel_status::InvalidArgument);
        }
        c.config.first_step_threshold = Duration::from_nanos(first_step_threshold_ns);
        c.config.step_threshold = Duration::from_nanos(step_threshold_ns);
        let cfg = c.config;
        c.servo.get().set_config(cfg);
        Ok(())
    })
}

/// Changes the largest |frequency correction| ever output after init, ppb
/// (linuxptp's `max_frequency`, or the clock's own limit). The next output
/// is clamped to it. The learnt state is kept.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_NOT_INITIALIZED`,
/// `KEEL_STATUS_INVALID_ARGUMENT` (not in 1..=2147483647).
///
/// # Safety
/// `servo` is NULL or points to a valid `keel_servo`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_servo_set_max_frequency(
    servo: *mut keel_servo,
    max_frequency_ppb: i64,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `servo` is NULL or valid.
        let c = unsafe { cell(servo) }?;
        if max_frequency_ppb <= 0 || max_frequency_ppb > i64::from(i32::MAX) {
            return Err(keel_status::InvalidArgument);
        }
        c.config.max_frequency = Ppb::from_ppb(max_frequency_ppb);
        let cfg = c.config;
        c.servo.get().set_config(cfg);
        Ok(())
    })
}

/// Changes the stable-state rule after init (linuxptp's
/// `servo_offset_threshold`, ns, 0 disables `KEEL_SERVO_STATE_LOCKED_STABLE`,
/// and `servo_num_offset_values`, 0–65535). Applies from the next sample.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_NOT_INITIALIZED`,
/// `KEEL_STATUS_INVALID_ARGUMENT` (a negative threshold, a count > 65535).
///
/// # Safety
/// `servo` is NULL or points to a valid `keel_servo`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_servo_set_stable(
    servo: *mut keel_servo,
    stable_threshold_ns: i64,
    stable_count: u32,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `servo` is NULL or valid.
        let c = unsafe { cell(servo) }?;
        let count = u16::try_from(stable_count).map_err(|_| keel_status::InvalidArgument)?;
        if stable_threshold_ns < 0 {
            return Err(keel_status::InvalidArgument);
        }
        c.config.stable_threshold = Duration::from_nanos(stable_threshold_ns);
        c.config.stable_count = count;
        let cfg = c.config;
        c.servo.get().set_config(cfg);
        Ok(())
    })
}

/// Announces a leap second for the end of the current UTC day, or withdraws
/// the announcement (`leap`, a `keel_leap` value: +1 insert, −1 delete, 0
/// none; linuxptp's `servo_leap()`). The servo never applies the leap: the
/// caller, or the kernel with `STA_INS`/`STA_DEL`, does.
///
/// While a leap is announced, the Kalman servo takes a reading that misses
/// its prediction by one second either way (to within its outlier gate) for
/// the leap seen by one clock and not yet by the other: it holds over
/// through such readings (as through missing ones: no step, no frequency
/// change, the error bound grows as in holdover) instead of stepping or
/// slewing the second away. The first regular reading after them ends the
/// announcement by itself; withdraw it (0) when the day passes without one.
/// A second that stays after the announcement ends (the reference took the
/// leap and the local clock never will) is corrected as any time step:
/// stepped when the step threshold allows, else slewed.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_NOT_INITIALIZED`,
/// `KEEL_STATUS_INVALID_ARGUMENT` (not −1, 0 or 1), `KEEL_STATUS_UNAVAILABLE`
/// (the PI and linreg servos, which like linuxptp's own PI cannot tell a
/// leap from a step: suspend sampling around the leap instead, as phc2sys
/// does in the last second of the day).
///
/// # Safety
/// `servo` is NULL or points to a valid `keel_servo`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_servo_leap(servo: *mut keel_servo, leap: i32) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `servo` is NULL or valid.
        let c = unsafe { cell(servo) }?;
        let kind = match leap {
            0 => None,
            1 => Some(LeapKind::Insert),
            -1 => Some(LeapKind::Delete),
            _ => return Err(keel_status::InvalidArgument),
        };
        let AnyServo::Kalman(k) = &mut c.servo else {
            return Err(keel_status::Unavailable);
        };
        k.leap(kind);
        Ok(())
    })
}

/// The frequency correction that would keep the clock on time, as the servo
/// estimates it now, ppb 32.32 (positive: the clock must run faster; the
/// oscillator's own error negated). Unlike an output's `freq_ppb_q32` it
/// holds no correction of the offset. Kalman: the filter's frequency state;
/// PI: the integral term (linuxptp's `drift`, negated); linreg: the chosen
/// line's slope. For linuxptp's `rate_ratio()` (reference rate over the
/// free-running local rate), `1 + freq·10⁻⁹` to first order.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_NOT_INITIALIZED`,
/// `KEEL_STATUS_UNAVAILABLE` (no estimate yet: Kalman and PI before their
/// second sample, linreg before its fourth).
///
/// # Safety
/// `servo` is NULL or points to a valid `keel_servo`; `out_q32` is NULL or
/// valid for writing an `int64_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_servo_get_frequency(
    servo: *const keel_servo,
    out_q32: *mut i64,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `servo` is NULL or valid; only read.
        let c = unsafe { cell(servo.cast_mut()) }?;
        check_out(out_q32)?;
        let f = match &c.servo {
            AnyServo::Kalman(k) => k.frequency_estimate(),
            AnyServo::Pi(p) => p.frequency_estimate(),
            AnyServo::LinReg(l) => l.frequency_estimate(),
        }
        .ok_or(keel_status::Unavailable)?;
        // SAFETY: `out_q32` checked non-NULL; the caller guarantees it is valid.
        unsafe { write_out(out_q32, f.to_bits()) };
        Ok(())
    })
}

/// Forgets the history, keeping the frequency in force (linuxptp `servo_reset`).
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_NOT_INITIALIZED`.
///
/// # Safety
/// `servo` is NULL or points to a valid `keel_servo`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_servo_reset(servo: *mut keel_servo) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `servo` is NULL or valid.
        let c = unsafe { cell(servo) }?;
        c.servo.get().reset();
        Ok(())
    })
}

/// The clock or the reference was disrupted (live migration, resume from
/// suspend, a vmclock disruption marker change): throw the estimate away and
/// re-acquire.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_NOT_INITIALIZED`.
///
/// # Safety
/// `servo` is NULL or points to a valid `keel_servo`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_servo_disruption(servo: *mut keel_servo) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `servo` is NULL or valid.
        let c = unsafe { cell(servo) }?;
        c.servo.get().disruption();
        Ok(())
    })
}

/// No reading could be taken at local time `local_ts_ns` (an outage): the
/// servo holds over and says what to do (usually nothing).
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_NOT_INITIALIZED`.
///
/// # Safety
/// `servo` is NULL or points to a valid `keel_servo`; `out` is NULL or valid
/// for writing a `keel_servo_output`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_servo_no_sample(
    servo: *mut keel_servo,
    local_ts_ns: u64,
    out: *mut keel_servo_output,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `servo` is NULL or valid.
        let c = unsafe { cell(servo) }?;
        check_out(out)?;
        let o = c.servo.get().no_sample(Timestamp::from_nanos(local_ts_ns));
        // SAFETY: `out` checked non-NULL; the caller guarantees it is valid.
        unsafe { write_out(out, output(&o)) };
        Ok(())
    })
}

/// The servo's current state.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_NOT_INITIALIZED`.
///
/// # Safety
/// `servo` is NULL or points to a valid `keel_servo`; `out` is NULL or valid
/// for writing a `keel_servo_state`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_servo_get_state(
    servo: *const keel_servo,
    out: *mut keel_servo_state,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `servo` is NULL or valid; the borrow is
        // only read from.
        let c = unsafe { cell(servo.cast_mut()) }?;
        check_out(out)?;
        let s = state(c.servo.get_ref().state());
        // SAFETY: `out` checked non-NULL; the caller guarantees it is valid.
        unsafe { write_out(out, s) };
        Ok(())
    })
}

/// Which algorithm the servo runs (a `keel_servo_kind` value).
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_NOT_INITIALIZED`.
///
/// # Safety
/// `servo` is NULL or points to a valid `keel_servo`; `out` is NULL or valid
/// for writing a `keel_servo_kind`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_servo_get_kind(
    servo: *const keel_servo,
    out: *mut keel_servo_kind,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `servo` is NULL or valid; only read.
        let c = unsafe { cell(servo.cast_mut()) }?;
        check_out(out)?;
        let k = match c.servo {
            AnyServo::Kalman(_) => keel_servo_kind::Kalman,
            AnyServo::Pi(_) => keel_servo_kind::Pi,
            AnyServo::LinReg(_) => keel_servo_kind::Linreg,
        };
        // SAFETY: `out` checked non-NULL; the caller guarantees it is valid.
        unsafe { write_out(out, k) };
        Ok(())
    })
}

/// A bound on |true offset| (ns) at local time `local_ts_ns`, growing in
/// holdover.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_NOT_INITIALIZED`,
/// `KEEL_STATUS_UNAVAILABLE` (the PI and linreg servos give no bound; the Kalman servo
/// none before its first samples).
///
/// # Safety
/// `servo` is NULL or points to a valid `keel_servo`; `out_ns` is NULL or
/// valid for writing an `int64_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_servo_error_bound(
    servo: *const keel_servo,
    local_ts_ns: u64,
    out_ns: *mut i64,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `servo` is NULL or valid; only read.
        let c = unsafe { cell(servo.cast_mut()) }?;
        check_out(out_ns)?;
        let b = c
            .servo
            .get_ref()
            .error_bound(Timestamp::from_nanos(local_ts_ns))
            .ok_or(keel_status::Unavailable)?;
        // SAFETY: `out_ns` checked non-NULL; the caller guarantees it is valid.
        unsafe { write_out(out_ns, b.as_nanos()) };
        Ok(())
    })
}

/// The noise model the Kalman servo has learnt (reading variance and
/// oscillator wander).
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_NOT_INITIALIZED`,
/// `KEEL_STATUS_UNAVAILABLE` (PI or linreg servo, or not enough samples yet).
///
/// # Safety
/// `servo` is NULL or points to a valid `keel_servo`; `out` is NULL or valid
/// for writing a `keel_servo_stats`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_servo_get_stats(
    servo: *const keel_servo,
    out: *mut keel_servo_stats,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `servo` is NULL or valid; only read.
        let c = unsafe { cell(servo.cast_mut()) }?;
        check_out(out)?;
        let AnyServo::Kalman(k) = &c.servo else {
            return Err(keel_status::Unavailable);
        };
        let m = k.noise_model().ok_or(keel_status::Unavailable)?;
        let s = keel_servo_stats {
            reading_var_ns2_q16: m.reading_var.to_fixed(16),
            wander_var_q32: m.wander_var.to_fixed(32),
        };
        // SAFETY: `out` checked non-NULL; the caller guarantees it is valid.
        unsafe { write_out(out, s) };
        Ok(())
    })
}

/// `sizeof(keel_servo)` as this library was built: compare with the header's
/// at start-up to catch a header/library mismatch.
#[unsafe(no_mangle)]
pub extern "C" fn keel_servo_storage_size() -> usize {
    size_of::<keel_servo>()
}

/// How many bytes of a `keel_servo` the servo really uses (the largest
/// servo, the Kalman one, plus the magic word and the settings): the rest of
/// `KEEL_SERVO_STORAGE_SIZE` is headroom for later versions.
#[unsafe(no_mangle)]
pub extern "C" fn keel_servo_storage_used() -> usize {
    size_of::<ServoCell>()
}

/// Converts a frequency correction (ppb 32.32, positive = faster) into the
/// kernel's `timex` tick and scaled-ppm pair for `user_hz` ticks per second
/// (`sysconf(_SC_CLK_TCK)`, usually 100), as `adjtimex` needs it for
/// corrections beyond ±500 ppm.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_INVALID_ARGUMENT`
/// (`user_hz` = 0).
///
/// # Safety
/// `out` is NULL or valid for writing a `keel_kernel_freq`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_freq_to_kernel(
    freq_ppb_q32: i64,
    user_hz: u32,
    out: *mut keel_kernel_freq,
) -> keel_status {
    ffi_boundary!({
        check_out(out)?;
        if user_hz == 0 {
            return Err(keel_status::InvalidArgument);
        }
        let k = KernelFreq::from_ppb(Ppb::from_bits(freq_ppb_q32), user_hz);
        let v = keel_kernel_freq {
            tick_us: k.tick_us,
            freq_scaled_ppm: k.freq.0,
        };
        // SAFETY: `out` checked non-NULL; the caller guarantees it is valid.
        unsafe { write_out(out, v) };
        Ok(())
    })
}

/// The inverse of `keel_freq_to_kernel()`: the correction (ppb 32.32) a
/// kernel `tick`/`freq` pair applies.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_INVALID_ARGUMENT`
/// (`user_hz` = 0).
///
/// # Safety
/// `kernel` is NULL or points to a valid `keel_kernel_freq`; `out_q32` is
/// NULL or valid for writing an `int64_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_freq_from_kernel(
    kernel: *const keel_kernel_freq,
    user_hz: u32,
    out_q32: *mut i64,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: the caller guarantees `kernel` is NULL or valid.
        let k = unsafe { try_ref(kernel) }?;
        check_out(out_q32)?;
        if user_hz == 0 {
            return Err(keel_status::InvalidArgument);
        }
        let f = KernelFreq {
            tick_us: k.tick_us,
            freq: keel_core::time::ScaledPpm(k.freq_scaled_ppm),
        }
        .to_ppb(user_hz);
        // SAFETY: `out_q32` checked non-NULL; the caller guarantees it is valid.
        unsafe { write_out(out_q32, f.to_bits()) };
        Ok(())
    })
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    /// The size `KEEL_SERVO_STORAGE_SIZE`'s doc states is the real one.
    #[test]
    fn the_documented_size_is_the_real_one() {
        let used = size_of::<ServoCell>();
        #[allow(clippy::cast_precision_loss, reason = "a small size")]
        let kib = used as f64 / 1024.0;
        let said = std::format!("the Kalman servo needs about {kib:.1} KiB");
        let header = include_str!("../../include/keel.h");
        assert!(
            header.contains(&said),
            "{used} bytes: {said:?} not in keel.h"
        );
        assert_eq!(keel_servo_storage_used(), used);
    }
}

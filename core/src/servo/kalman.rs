//! keel's default servo: an adaptive two-state Kalman filter that learns the
//! reading noise and the oscillator wander itself.
//!
//! **Model.** State: the offset `x` (local − reference, ns) and the free-running
//! frequency error `f` of the oscillator (ppb, positive = fast). Between
//! samples the offset moves by `(f + c)·Δt`, where `c` is the correction the
//! servo has in force; `f` is a random walk of intensity `q` (ppb²/s). A
//! reading is `x` plus white noise of variance `R` (plus the reading's own
//! stated uncertainty). `R` and `q` come from
//! [`NoiseEstimator`](crate::filter::noise::NoiseEstimator), fed with the
//! free-running phase (readings with the servo's own corrections removed), so
//! nothing needs tuning.
//!
//! **Robustness.** A reading whose innovation exceeds
//! [`KalmanConfig::gate`] standard deviations is a *suspect* and is not used;
//! the servo asks for a re-read after 1/16 of the interval
//! ([`ServoOutput::next_update`]). An isolated suspect is an outlier and is
//! dropped. Three suspects in a row are judged together:
//! - on one side and level (to the gate, and to a quarter of their size): a
//!   time step; the offset restarts there with the frequency kept (stepping
//!   the clock only where the step policy says);
//! - on one side and climbing along a straight line: a frequency change (a
//!   migration); the filter restarts from the first and the third and
//!   samples in a fast burst (1/16, 1/8, … of the interval). Growing but off
//!   a clean line, they wait for the next regular reading, which measures
//!   the change over the long span if it still grows;
//! - on both sides of the prediction, or neither level nor straight: the
//!   reading noise rose. The noise model is rebased to the level the three
//!   show ([`NoiseEstimator::rebase_reading_var`]), keeping the wander it
//!   knows, and the reading is used.
//!
//! Two suspects on both sides wait for the regular schedule instead of a
//! re-read, so rising noise costs at most one re-read per interval. Until
//! the noise estimate has eight values the gate is six times wider: only
//! gross outliers are judged. So no single sample moves the frequency by
//! more than a few ppb once warm (a few hundred before), and the clock is
//! never stepped on one sample.
//!
//! **A saved frequency** ([`Servo::set_frequency_prior`]) is a hypothesis:
//! once the noise model is warm it is tested against the estimate and taken
//! in (as a reading of the frequency) only when the two agree within the
//! gate, so a wrong one (a cloned VM image) costs no more than a cold start.
//! A signalled disruption ([`Servo::disruption`]) restarts everything but the
//! noise model and re-acquires with samples 2 ms, 4 ms, 8 ms, … apart.
//!
//! **Control.** After each update the frequency is set to
//! `c = −f − g·x/T`: cancel the oscillator's error and remove a fraction `g`
//! of the estimated offset over the next interval `T`. `g` follows the filter's
//! own confidence, `g = clamp(1.75·σ_f·T/σ_x, 0.3, 1)`: fast when frequency noise
//! is cheap, gentle when the offset estimate is noisy. An offset beyond 10
//! standard deviations of its estimate (a confirmed time step being slewed)
//! goes at `g = 1`. A clock does not follow a large change of its
//! frequency exactly (Linux's timekeeping ran the end of a large slew some
//! 100 ppb off, on and off for 20 s): a change of `Δc` adds `(Δc/5000)²` to
//! the frequency's variance, and as much again as wander over the next
//! 20 s, so the filter follows what the clock really does and the bound
//! allows for it.
//!
//! **Error bound.** At local time `t`, `|x̂(t)| + k·σ(t) + e_ref`, where `x̂(t)`
//! is the predicted offset, `σ(t)²` the filter's predicted variance including
//! wander (so the bound grows in holdover at `k·√(P₁₁·t² + q·t³/3)`), `k` =
//! [`KalmanConfig::bound_sigmas`] and `e_ref` the reference's own error
//! ([`KalmanConfig::reference_error`]). While the noise model caps an
//! unproven wander for the filter's sake, `σ(t)` is instead the error
//! variance of this same filter (its own gains) in a world with the wander
//! the bound must allow for, up to 10 ppb/√s
//! ([`NoiseModel::bound_wander_var`](crate::filter::noise::NoiseModel)):
//! a second covariance, propagated only while the two wanders differ.
//! Suspect readings not judged yet may be right: the bound reaches them
//! (two on one side, along their line to the time asked).
//!
//! Arithmetic is integer only: the offset in 2⁻¹⁶ ns, the frequency as
//! [`Ppb`], covariances and gains as [`Real`].
//!
//! **Cost.** The covariance depends on the sample spacing and the noise
//! model only, not on the readings, and while they hold still it converges
//! to a fixed point: in that locked steady state the servo reuses the last
//! cycle (gains, gate, error-bound width) instead of recomputing it, and
//! keeps the reciprocals of `1 + f` and `1 + rate` for frequencies rounded
//! to 64 ppb.

use super::{
    Action, Applied, Dispatcher, OffsetSample, Servo, ServoConfig, ServoOutput, ServoState,
};
use crate::filter::noise::{NoiseEstimator, PHASE_FRAC};
use crate::fmt::{diag_debug, diag_info};
use crate::num::Real;
use crate::time::{Duration, LeapKind, Ppb, Timestamp};

/// How far a clock may run from the frequency it was told after a change,
/// as a fraction of the change: Linux's timekeeping ran the end of a 500 ppm
/// slew some 100 ppb off for several seconds in the guest lab (its `mult`
/// and accumulated error catch up at their own pace), so a large change
/// leaves the frequency that much less certain.
const ACTUATOR_SLIP: Real = Real::ratio(1, 5_000);
/// Changes of the correction below this, ppb, leave the covariance alone
/// (the steady state's few-ppb changes would slip by < 0.01 ppb).
const SLIP_FROM_PPB: Real = Real::from_i64(10_000);
/// How long a clock settles after a large change of its correction, s: in
/// the guest lab the kernel's residue after a 1000 ppm slew came and went
/// for some 20 s.
const SETTLING_S: i64 = 20;

/// Fractional bits of the offset state.
const X_FRAC: u8 = 16;

/// Offsets beyond 10 standard deviations of the estimate are removed at full
/// speed (see [`Kalman::control`]): the square, 10², against `x²/P₀₀`.
const FULL_SPEED_SIGMAS_SQUARED: Real = Real::ratio(100, 1);

/// Settings of the default servo; the defaults need no changing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct KalmanConfig {
    /// Innovations beyond this many standard deviations make a reading a
    /// suspect. Default 5.
    pub gate: u8,
    /// The error bound is this many standard deviations wide. Default 5.
    pub bound_sigmas: u8,
    /// The reference's own error (e.g. the host clock's bound), added to the
    /// error bound. Default zero.
    pub reference_error: Duration,
}

impl Default for KalmanConfig {
    fn default() -> Self {
        Self {
            gate: 5,
            bound_sigmas: 5,
            reference_error: Duration::ZERO,
        }
    }
}

/// A reading the filter did not trust.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Suspect {
    /// Innovation, ns.
    innovation: i64,
    /// Free-running phase, 2⁻⁸ ns (wrapping).
    phase: i64,
    /// The reading's offset.
    offset: Duration,
    local_ts: Timestamp,
}

/// The clock's rates under the correction in force, computed once per sample.
#[derive(Clone, Copy, Debug)]
struct Frame {
    /// The correction as the clock feels it, ppb.
    correction: Real,
    /// The offset's rate of change, `f + c·(1 + f)`, ppb.
    rate: Real,
    /// `rate` in steps of 64 ppb, rounded: the key of `local_per_ref`.
    coarse_rate: i64,
    /// Reference seconds per local second, `1 / (1 + rate)` for the rate
    /// at `coarse_rate` (to 3·10⁻⁸): the local clock runs 10 % slow during
    /// a full-speed slew.
    local_per_ref: Real,
}

impl Frame {
    /// A local span (ns) in reference time: to the nearest ns, and in s.
    fn reference_span(&self, local_dt_ns: i64) -> (i64, Real) {
        let ns = Real::from_i64(local_dt_ns) * self.local_per_ref;
        (ns.to_i64(), ns * NANO)
    }
}

/// The filter's covariance of (offset, frequency error): ns², ns·ppb, ppb².
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Cov {
    p00: Real,
    p01: Real,
    p11: Real,
}

impl Cov {
    /// The covariance `dt` reference seconds on, with wander `q` (ppb²/s).
    fn predict(self, dt: Real, q: Real) -> Self {
        let s = dt;
        let (a, b, c) = (self.p00, self.p01, self.p11);
        Self {
            p00: a + (b * s).scale2(1) + c * s * s + q * s * s * s * THIRD,
            p01: b + c * s + (q * s * s).scale2(-1),
            p11: c + q * s,
        }
    }

    /// The optimal gains for a reading of variance `r` (ns²), for the
    /// offset (dimensionless) and the frequency (ppb/ns), and the
    /// covariance after the reading is taken in with them.
    fn updated(self, r: Real) -> (Real, Real, Self) {
        let inv_var = (self.p00 + r).recip();
        let k0 = self.p00 * inv_var;
        let k1 = self.p01 * inv_var;
        let one_minus = Real::ONE - k0;
        let post = Self {
            p00: one_minus * self.p00,
            p01: one_minus * self.p01,
            p11: self.p11 - k1 * self.p01,
        };
        (k0, k1, post)
    }

    /// The covariance after a reading of variance `r` (ns²) is taken in
    /// with gains `k0` (offset) and `k1` (frequency, ppb/ns), whether or
    /// not they are the optimal gains for this covariance (Joseph form,
    /// `(I − KH)·P·(I − KH)ᵀ + K·r·Kᵀ`).
    fn updated_with(self, k0: Real, k1: Real, r: Real) -> Self {
        let (a, b, c) = (self.p00, self.p01, self.p11);
        let one_minus = Real::ONE - k0;
        let k1r = k1 * r;
        Self {
            p00: one_minus * one_minus * a + k0 * k0 * r,
            p01: one_minus * (b - k1 * a) + k0 * k1r,
            p11: c - (k1 * b).scale2(1) + k1 * k1 * a + k1 * k1r,
        }
    }

    /// Every element times `k`.
    fn scaled(self, k: Real) -> Self {
        Self {
            p00: self.p00 * k,
            p01: self.p01 * k,
            p11: self.p11 * k,
        }
    }

    /// Is every element within `2^-bits` of `other`'s (see [`Real::near`])?
    fn near(self, other: Self, bits: u32) -> bool {
        self.p00.near(other.p00, bits)
            && self.p01.near(other.p01, bits)
            && self.p11.near(other.p11, bits)
    }
}

/// When the next reading comes while suspects are held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pace {
    /// At once (1/16 of the interval): a step or a frequency change is
    /// being confirmed.
    Reread,
    /// On the regular schedule: the two held lie on both sides of the
    /// prediction (outliers, or noise that rose), so no storm of re-reads.
    Scattered,
    /// On the regular schedule: the two held grow on one side, not along
    /// a clean line; the next regular reading tells a frequency change
    /// from noise.
    Waiting,
}

/// What a suspect reading shows, with the suspects before it.
#[derive(Clone, Copy, Debug)]
enum Verdict {
    /// Not known yet: hold, and read again (at once, or on the regular
    /// schedule while the suspects scatter).
    Hold,
    /// The frequency changed: restart from the given earlier suspect and
    /// this one.
    FrequencyChange(Suspect),
    /// The time stepped: the offset restarts at this reading.
    TimeStep,
    /// The reading noise rose to this variance, ns²: use this reading.
    NoiseRose(Real),
}

/// One covariance cycle (predict over `dt`, update with a reading of
/// variance `r`) whose result equals its start: the locked steady state.
/// The covariance does not depend on the readings, only on these inputs, so
/// while they stay near the cycle's and the covariance is the cycle's, the
/// cycle is reused instead of recomputed: the gains, the phase-correction
/// gain and the error bound's width are known.
#[derive(Clone, Copy, Debug)]
struct Cycle {
    /// The span, reference s.
    dt: Real,
    /// The wander, ppb²/s.
    q: Real,
    /// The reading variance, ns².
    r: Real,
    /// [`Kalman::gate_limit`] of the innovation variance, ns².
    limit: Real,
    /// The Kalman gains for the offset (dimensionless) and the frequency
    /// (ppb/ns).
    k0: Real,
    k1: Real,
    /// The covariance after the update, and before: the cycle leaves it
    /// where it is.
    post: Cov,
    /// [`Kalman::correction_rate`] of `post`, s⁻¹.
    rate: Real,
    /// The error bound's width at `post`, `bound_sigmas·√post.p00`, ns.
    spread: Real,
}

/// Relative tolerance of a cycle's span: 2⁻¹² (244 µs in 1 s).
const CYCLE_DT_BITS: u32 = 12;
/// Relative tolerance of a cycle's noise model: 2⁻⁶ (1.6 %; the estimates'
/// own uncertainty is several times that).
const CYCLE_MODEL_BITS: u32 = 6;
/// Before the noise estimate is warm, a reading is a suspect only beyond
/// 6× the gate (30 standard deviations at the default gate of 5): the young
/// estimate may understate the noise a few times over, but a gross outlier
/// taken in then (a 100 µs reading among 10 ns ones) threw the frequency
/// off by 55 ppm and the servo never recovered.
const EARLY_GATE_FACTOR: Real = Real::from_i64(36);
/// For this many readings after suspects scattered on both sides of the
/// prediction, a frequency change needs a regular reading to continue the
/// line the re-reads drew.
const SCATTER_MEMORY: u8 = 16;
/// Accepted readings after a rise of the reading noise that tell whether it
/// stays (see [`Kalman::check_noise_fell`]).
const FELL_CHECK_READINGS: u8 = 8;
/// The bound's covariance has merged with the filter's when no element
/// differs by more than 2⁻¹⁰ of itself.
const BOUND_COV_MERGED_BITS: u32 = 10;
/// A cycle is converged when no element of the covariance moved by more
/// than 2⁻¹⁶ of itself.
const CYCLE_CONVERGED_BITS: u32 = 16;

impl Cycle {
    /// Does the cycle apply to covariance `cov` over `dt` with wander `q`
    /// and reading variance `r`?
    fn holds(&self, cov: Cov, dt: Real, q: Real, r: Real) -> bool {
        self.post == cov
            && self.dt.near(dt, CYCLE_DT_BITS)
            && (self.q == q || self.q.near(q, CYCLE_MODEL_BITS))
            && (self.r == r || self.r.near(r, CYCLE_MODEL_BITS))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// No sample yet.
    Empty,
    /// One sample: `(free-running phase, local time, measured offset)`.
    One(i64, Timestamp, Duration),
    /// Tracking.
    Tracking,
}

/// The adaptive Kalman servo (state ≈ 1.3 KiB).
#[derive(Clone, Debug)]
pub struct Kalman {
    dispatcher: Dispatcher,
    cfg: KalmanConfig,
    noise: NoiseEstimator,
    interval_ns: i64,
    /// 1 / the nominal interval, s⁻¹.
    inv_interval_s: Real,
    stage: Stage,
    /// Offset estimate at `t_last`, 2⁻¹⁶ ns.
    x: i64,
    /// Free-running frequency error estimate.
    f: FreqError,
    cov: Cov,
    /// The covariance the error bound is built on while it differs from
    /// `cov`: the filter's own gains in a world with the bound's wander
    /// ([`NoiseModel::bound_wander_var`](crate::filter::noise::NoiseModel)),
    /// when that exceeds the filter's. `None` while the same as `cov`.
    bound_cov: Option<Cov>,
    /// The last converged covariance cycle, if the filter is in it.
    steady: Option<Cycle>,
    t_last: Timestamp,
    /// The frequency correction in force.
    c: Ppb,
    /// The correction that was in force before the last output.
    c_before: Ppb,
    /// Phase the servo's own corrections have added since the start, 2⁻⁸ ns (wrapping).
    own_phase: i64,
    suspects: [Option<Suspect>; 2],
    /// When the next reading comes while suspects are held.
    pace: Pace,
    /// Readings since suspects last scattered on both sides of the
    /// prediction (saturating).
    since_scatter: u8,
    /// The last eight readings, newest in bit 0: 1 for a suspect that no
    /// verdict explained (an outlier, so far).
    history: u8,
    /// The innovations of the last three suspects that began an episode,
    /// newest first, ns.
    outliers: [i64; 3],
    /// After a rise of the reading noise: the accepted readings since and
    /// the sum of their squared innovations (ns²), to tell a cluster of
    /// outliers from noise that stays.
    fell_check: Option<(u8, Real)>,
    /// While the clock settles after a large change of the correction:
    /// until when (reference time, ns) and the extra wander, ppb²/s.
    settling: Option<(i64, Real)>,
    /// The step the last output asked for (assumed applied until told otherwise).
    pending_step: Option<Duration>,
    /// The last output asked for a correction and [`Servo::applied`] has
    /// not reported it yet: in pull mode the next sample takes it as
    /// applied exactly ([`Kalman::take_unreported`]).
    unreported: bool,
    /// A leap second announced ([`Kalman::leap`]), and whether readings a
    /// second off have been seen since.
    leap: Option<(LeapKind, bool)>,
    updates: u32,
    /// The next interval of a fast-sampling burst, ns (doubles up to the
    /// nominal interval); `None` outside a burst.
    burst_ns: Option<i64>,
    /// Local time of the last reading given to the noise estimator.
    last_noise: Option<i64>,
    /// Reference time elapsed since the start, ns: the local clock's spans
    /// scaled by the rates in force (steps do not move it).
    ref_time_ns: i64,
    /// The usual stated uncertainty of a reading, ns.
    uncertainty_floor: Option<i64>,
    /// A frequency known before the first readings (oscillator error, ppb)
    /// and its variance (ppb²), e.g. from a state file.
    prior: Option<(Ppb, Real)>,
    /// The reading variance (without a reading's excess) the covariance is
    /// built on, ns².
    r_basis: Real,
    /// The last frame's `(coarse_rate, local_per_ref)`.
    last_frame: (i64, Real),
}

#[cfg(feature = "defmt")]
impl defmt::Format for Kalman {
    /// The servo's state in one line (not its whole history).
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "Kalman {{ state: {}, offset: {=i64}/65536 ns, freq error: {}, correction: {}, updates: {=u32} }}",
            self.dispatcher.state(),
            self.x,
            self.f.ppb,
            self.c,
            self.updates
        );
    }
}

/// The free-running frequency error estimate `f` and what the servo
/// derives from it on every sample.
#[derive(Clone, Copy, Debug)]
struct FreqError {
    /// The estimate, ppb (positive = the oscillator runs fast).
    ppb: Ppb,
    /// The same, ppb.
    real: Real,
    /// The same as a fraction, `f·10⁻⁹`.
    fraction: Real,
    /// The estimate in steps of 64 ppb ([`COARSE_BITS`]).
    coarse: i64,
    /// `1 / (1 + f)` for `f` at `coarse` (to 3·10⁻⁸: enough to choose a
    /// correction, whose effect is then computed exactly).
    inv_scale: Real,
}

/// Frequencies rounded to steps of 2⁶ ppb (`1 + f` to 3·10⁻⁸) change only
/// now and then: the servo keeps their reciprocals.
const COARSE_BITS: i32 = 6;

impl FreqError {
    fn new(ppb: Ppb) -> Self {
        let coarse = Self::coarse(ppb);
        let f = Real::from_i64(coarse).scale2(COARSE_BITS);
        let real = Real::from_fixed(ppb.to_bits(), 32);
        Self {
            ppb,
            real,
            fraction: real * NANO,
            coarse,
            inv_scale: (Real::ONE + f * NANO).recip(),
        }
    }

    /// `ppb` in steps of 64 ppb, rounded.
    fn coarse(ppb: Ppb) -> i64 {
        let shift = 32 + COARSE_BITS;
        ppb.to_bits().saturating_add(1 << (shift - 1)) >> shift
    }

    /// Sets the estimate (`inv_scale` only when it moved by a step).
    fn set(&mut self, ppb: Ppb) {
        if Self::coarse(ppb) == self.coarse {
            self.ppb = ppb;
            self.real = Real::from_fixed(ppb.to_bits(), 32);
            self.fraction = self.real * NANO;
        } else {
            *self = Self::new(ppb);
        }
    }

    /// The correction `c` as the clock feels it, ppb: the kernel scales the
    /// oscillator's rate, so `c` acts as `c·(1 + f)`.
    fn felt(&self, c: Ppb) -> Real {
        let c = Real::from_fixed(c.to_bits(), 32);
        c + c * self.fraction
    }
}

/// 10⁻⁹ (ppb and ns to s).
const NANO: Real = Real::ratio(1, 1_000_000_000);
/// 1/3.
const THIRD: Real = Real::ratio(1, 3);
/// The reading variance assumed before any is measured, ns² (1 µs readings).
const ASSUMED_READING_VAR: Real = Real::from_i64(1_000_000);
/// The smallest phase-correction gain.
const G_MIN: Real = Real::ratio(3, 10);
/// The gain's factor on `σ_f·T/σ_x`. It trades the offset against the
/// frequency's steadiness (standard model, σ = 10 ns, 5 seeds): 2.5 gave
/// 7.5 ns / 4.5 ppb RMS, 1.75 gives 7.6 ns / 3.7 ppb, 1.5 gives 7.8 / 3.5.
const G_FACTOR: Real = Real::ratio(7, 4);

fn seconds(dt_ns: i64) -> Real {
    Real::from_i64(dt_ns) * NANO
}

fn ppb_from_real(r: Real) -> Ppb {
    Ppb::from_bits(r.to_fixed(32))
}

impl Kalman {
    /// A servo for updates `interval` apart with `freq` already in force.
    pub fn new(config: ServoConfig, kcfg: KalmanConfig, interval: Duration, freq: Ppb) -> Self {
        let interval_ns = if interval.as_nanos() > 0 {
            interval.as_nanos()
        } else {
            1_000_000_000
        };
        Self {
            dispatcher: Dispatcher::new(config),
            cfg: kcfg,
            noise: NoiseEstimator::new(interval_ns),
            interval_ns,
            inv_interval_s: seconds(interval_ns).recip(),
            stage: Stage::Empty,
            x: 0,
            f: FreqError::new(freq.saturating_neg()),
            cov: Cov::default(),
            bound_cov: None,
            steady: None,
            t_last: Timestamp::EPOCH,
            c: freq,
            c_before: freq,
            own_phase: 0,
            suspects: [None; 2],
            pace: Pace::Reread,
            since_scatter: u8::MAX,
            history: 0,
            outliers: [0; 3],
            fell_check: None,
            settling: None,
            pending_step: None,
            unreported: false,
            leap: None,
            updates: 0,
            burst_ns: None,
            last_noise: None,
            ref_time_ns: 0,
            uncertainty_floor: None,
            prior: None,
            r_basis: ASSUMED_READING_VAR,
            last_frame: (0, Real::ONE),
        }
    }

    /// The noise model learnt so far: reading variance (ns²) and wander
    /// intensity (ppb²/s).
    pub fn noise_model(&self) -> Option<crate::filter::noise::NoiseModel> {
        self.noise.model()
    }

    /// The frequency correction that would keep the clock on time, as
    /// estimated now: the oscillator's error negated (positive: the clock
    /// must run faster). Unlike the output's frequency it holds no offset
    /// correction. `None` before the filter tracks (two readings).
    pub fn frequency_estimate(&self) -> Option<Ppb> {
        (self.stage == Stage::Tracking).then(|| self.f.ppb.saturating_neg())
    }

    /// A leap second is announced for the end of the current UTC day
    /// (`Some`), or the announcement is withdrawn (`None`): linuxptp's
    /// `servo_leap`. The servo never applies the leap: the caller (or the
    /// kernel, `STA_INS`/`STA_DEL`) does. While one is announced, a reading
    /// that misses the prediction by one second, either way, to within the
    /// gate is the leap seen by one clock and not yet by the other: it is
    /// neither an offset nor a frequency change, so the servo holds over
    /// through it (as for a missing reading) instead of stepping or slewing
    /// the second away. The first regular reading after such readings ends
    /// the announcement. A second that stays (the reference took the leap
    /// and the local clock never will) is corrected as any time step once
    /// the announcement is withdrawn.
    pub fn leap(&mut self, leap: Option<LeapKind>) {
        self.leap = leap.map(|k| (k, false));
    }

    /// Pull mode: the last output was not reported with [`Servo::applied`];
    /// take it as applied exactly as returned, at the time of its sample.
    fn take_unreported(&mut self) {
        if self.unreported {
            self.applied(&Applied {
                step: self.pending_step,
                freq: self.c,
            });
        }
    }

    /// Is a suspect reading with this innovation (ns) a leap second seen by
    /// one clock only: one second off, to within `limit` (the squared gate)?
    fn leap_reading(&self, innovation: i64, limit: Real) -> bool {
        if self.leap.is_none() {
            return false;
        }
        let second = if innovation < 0 {
            -1_000_000_000
        } else {
            1_000_000_000
        };
        let rest = Real::from_i64(innovation.saturating_sub(second));
        let limit = if self.warm() {
            limit
        } else {
            limit * EARLY_GATE_FACTOR
        };
        rest * rest <= limit
    }

    /// Debug: level-0 variance.
    pub fn short_term_var(&self) -> Option<Real> {
        self.noise.short_term_var()
    }

    /// Tracks the floor of the readings' stated uncertainty (the half read
    /// delay of a PHC read): it falls at once and rises by 1/64 of the
    /// difference per reading. Returns the reading's excess over the floor,
    /// the part that varies from reading to reading.
    fn uncertainty_excess(&mut self, uncertainty: Duration) -> Duration {
        let u = uncertainty.as_nanos().max(0);
        let floor = match self.uncertainty_floor {
            Some(f) if f <= u => f.saturating_add(u.saturating_sub(f) / 64),
            _ => u,
        };
        self.uncertainty_floor = Some(floor);
        Duration::from_nanos(u.saturating_sub(floor))
    }

    /// The wander in use, ppb²/s: the estimate, or 1 ppb/√s before there is
    /// one.
    fn wander(&self) -> Real {
        self.noise.model().map_or(Real::ONE, |m| m.wander_var) + self.settling_wander()
    }

    /// The extra wander while the clock settles after a large change of the
    /// correction (see [`ACTUATOR_SLIP`]), ppb²/s.
    fn settling_wander(&self) -> Real {
        match self.settling {
            Some((until, q)) if self.ref_time_ns < until => q,
            _ => Real::ZERO,
        }
    }

    /// The wander the error bound allows for, ppb²/s (at least
    /// [`Kalman::wander`]).
    fn bound_wander(&self) -> Real {
        self.noise.model().map_or(Real::ONE, |m| m.bound_wander_var) + self.settling_wander()
    }

    /// The bound's covariance `dt` reference seconds on from the filter's
    /// `cov`: `None` while the bound allows for no more wander `qb` than the
    /// filter's `q` and its covariance is the filter's.
    fn bound_cov_predicted(&self, cov: Cov, dt: Real, q: Real, qb: Real) -> Option<Cov> {
        self.bound_cov
            .or_else(|| (qb > q).then_some(cov))
            .map(|b| b.predict(dt, qb))
    }

    /// The reading variance in use, ns²: the estimate, or before there is
    /// one [`ASSUMED_READING_VAR`], or more if the first second differences
    /// already show it.
    fn reading_var_basis(&self) -> Real {
        match self.noise.model() {
            Some(m) => m.reading_var,
            None => self
                .noise
                .white_noise_var()
                .map_or(ASSUMED_READING_VAR, |v| v.max(ASSUMED_READING_VAR)),
        }
    }

    /// Rescales the covariance when the estimate of the reading noise
    /// changes: while readings dominate it (the first seconds, with the
    /// assumed 1 µs before there is any estimate), the covariance is
    /// proportional to the reading variance. So a bound built on 1 µs
    /// readings stays honest when they turn out to be 10 µs, and the gains
    /// (which depend on the ratio) do not jump with the young estimate.
    /// Keeps the variance in use in `r_basis`. (In the steady state the
    /// covariance is the cycle's, which a change within the cycle's
    /// tolerance does not move.)
    fn follow_reading_noise(&mut self) {
        let now = self.reading_var_basis();
        if now == self.r_basis {
            return;
        }
        let before = core::mem::replace(&mut self.r_basis, now);
        let steady = self
            .steady_cycle()
            .is_some_and(|c| c.r.near(now, CYCLE_MODEL_BITS));
        if self.stage == Stage::Tracking && !before.is_zero() && !steady {
            let k = now / before;
            self.cov = self.cov.scaled(k);
            self.bound_cov = self.bound_cov.map(|b| b.scaled(k));
        }
    }

    /// Is the noise estimate good enough to judge outliers at the full
    /// gate? Before, only gross outliers are judged (see [`EARLY_GATE_FACTOR`]).
    fn warm(&self) -> bool {
        self.noise.samples() >= 8
    }

    fn free_running_phase(&self, offset: Duration) -> i64 {
        (offset.as_nanos() << PHASE_FRAC).wrapping_sub(self.own_phase)
    }

    /// The offset estimate, ns.
    fn x_real(&self) -> Real {
        Real::from_fixed(self.x, X_FRAC)
    }

    /// The offset estimate to the nearest ns.
    fn x_duration(&self) -> Duration {
        Duration::from_nanos(self.x.saturating_add(1 << (X_FRAC - 1)) >> X_FRAC)
    }

    /// The clock's rates under the correction in force.
    fn frame(&self) -> Frame {
        // The kernel scales the oscillator's rate, so `c` acts as `c·(1 + f)`
        // (at 10 % slew and 50 ppm that is 5 ppm more than `c`).
        let correction = self.f.felt(self.c);
        let rate = self.f.real + correction;
        // In the steady state the rate stays within a step for long: the
        // last frame's reciprocal is good.
        let coarse_rate = rate.scale2(-COARSE_BITS).to_i64();
        let local_per_ref = if coarse_rate == self.last_frame.0 {
            self.last_frame.1
        } else {
            (Real::ONE + Real::from_i64(coarse_rate).scale2(COARSE_BITS) * NANO).recip()
        };
        Frame {
            correction,
            rate,
            coarse_rate,
            local_per_ref,
        }
    }

    /// [`Kalman::frame`], remembered for the next.
    fn kept_frame(&mut self) -> Frame {
        let frame = self.frame();
        self.last_frame = (frame.coarse_rate, frame.local_per_ref);
        frame
    }

    /// Adds the phase the correction in force has accumulated over `dt`
    /// (reference seconds) to the servo's own phase.
    fn advance_own_phase(&mut self, frame: &Frame, dt: Real) {
        let own = frame.correction * dt;
        self.own_phase = self.own_phase.wrapping_add(own.to_fixed(PHASE_FRAC));
    }

    /// Moves the offset estimate `dt` reference seconds on, to local time
    /// `t` (the covariance moves separately, [`Cov::predict`]).
    fn advance(&mut self, frame: &Frame, dt: Real, t: Timestamp) {
        let advance = frame.rate * dt;
        self.x = self.x.saturating_add(advance.to_fixed(X_FRAC));
        self.t_last = t;
    }

    /// Feeds the noise estimator on a regular grid of the nominal interval,
    /// in reference time (at +5 % the local clock's seconds are 5 % long).
    /// The estimator assumes evenly spaced values, and the free-running phase
    /// drifts at the oscillator's full error (e.g. 50 µs/s), so a reading
    /// taken off the grid (a re-read, a burst) is moved to the nearest grid
    /// point along the estimated frequency. Readings less than half an
    /// interval after the last grid point are skipped; a gap of more than
    /// one interval restarts the estimator's history.
    fn push_noise(&mut self, phase: i64) {
        let t = self.ref_time_ns;
        let Some(grid) = self.last_noise else {
            self.noise.push(phase);
            self.last_noise = Some(t);
            return;
        };
        let since = t.saturating_sub(grid);
        let half = self.interval_ns / 2;
        if since < half {
            return;
        }
        if since >= self.interval_ns.saturating_add(half) {
            self.noise.restart();
            self.noise.push(phase);
            self.last_noise = Some(t);
            return;
        }
        let target = grid.saturating_add(self.interval_ns);
        let off_grid = t.saturating_sub(target);
        let drift = self.f.fraction * Real::from_i64(off_grid);
        self.noise
            .push(phase.wrapping_sub(drift.to_fixed(PHASE_FRAC)));
        self.last_noise = Some(target);
    }

    /// The delay before the next sample: soon while suspects wait for
    /// confirmation, doubling through a burst, else the nominal interval.
    fn next_update(&mut self) -> Option<Duration> {
        if self.suspects[0].is_some() && self.pace == Pace::Reread {
            return Some(Duration::from_nanos(self.quick_ns()));
        }
        let d = self.burst_ns?;
        let next = d.saturating_mul(2);
        self.burst_ns = (next < self.interval_ns).then_some(next);
        Some(Duration::from_nanos(d))
    }

    /// The re-read delay for a suspect reading: 1/16 of the interval.
    fn quick_ns(&self) -> i64 {
        (self.interval_ns / 16).max(1_000_000)
    }

    /// Keeps the frequency estimate but restarts the offset at a confirmed
    /// time step.
    fn restart_phase(&mut self, offset: Duration, t: Timestamp, r: Real) {
        self.x = offset.as_nanos().saturating_mul(1 << X_FRAC);
        self.cov.p00 = r;
        self.cov.p01 = Real::ZERO;
        if let Some(b) = &mut self.bound_cov {
            b.p00 = r;
            b.p01 = Real::ZERO;
        }
        self.t_last = t;
        self.suspects = [None; 2];
    }

    /// Starts tracking from two readings: free-running phases `p`, local
    /// times `t` and measured offsets; the newest offset starts the estimate.
    fn start_from_two(
        &mut self,
        first: (i64, Timestamp, Duration),
        second: (i64, Timestamp, Duration),
        r: Real,
    ) {
        let (p1, t1, o1) = first;
        let (p2, t2, offset) = second;
        let local_dt = t2.duration_since(t1).as_nanos().max(1);
        // The reference advanced the local span less what the offset grew
        // by (at +5 % that is 5 % less: frequencies are per reference second).
        let grown = offset.saturating_sub(o1).as_nanos();
        let ref_dt = local_dt.saturating_sub(grown);
        let dt = if ref_dt > 0 { ref_dt } else { local_dt };
        if self.stage != Stage::Tracking {
            self.ref_time_ns = self.ref_time_ns.saturating_add(dt);
        }
        let dphase = Real::from_fixed(p2.wrapping_sub(p1), PHASE_FRAC);
        // f = Δphase/Δt in ppb.
        let s = seconds(dt);
        self.f.set(ppb_from_real(dphase / s));
        self.x = offset.as_nanos().saturating_mul(1 << X_FRAC);
        self.cov = Cov {
            p00: r,
            p01: r / s,
            p11: (r / (s * s)).scale2(1),
        };
        self.bound_cov = None;
        self.t_last = t2;
        self.stage = Stage::Tracking;
        self.suspects = [None; 2];
    }

    /// Judges a suspect reading with the suspects before it (see the module
    /// docs). `limit` is the squared innovation beyond which a reading is a
    /// suspect and `r` the reading variance, ns².
    fn judge_suspect(&mut self, this: Suspect, limit: Real, r: Real) -> Verdict {
        // Two suspects agree when they lie on the same side of the
        // prediction: a step, or a frequency change. Readings on both
        // sides are outliers, or noise the model does not know.
        let agree = |a: &Suspect, b: &Suspect| (a.innovation < 0) == (b.innovation < 0);
        match self.suspects {
            [None, _] => {
                diag_debug!(
                    "keel: suspect reading, innovation {=i64} ns",
                    this.innovation
                );
                // Suspects that nothing explained (dropped as outliers) among
                // the last eight readings: four are no outliers but noise
                // the model does not know; two make a frequency change wait
                // for a regular reading to continue its line.
                let unexplained = (self.history & 0xFE).count_ones();
                let earlier = self.outliers;
                self.outliers = [this.innovation, earlier[0], earlier[1]];
                if unexplained >= 4 {
                    return self.noise_rose([earlier[0], earlier[1], this.innovation], limit, r);
                }
                if unexplained >= 2 {
                    self.since_scatter = 0;
                }
                self.suspects = [Some(this), None];
                self.pace = Pace::Reread;
                Verdict::Hold
            }
            [Some(a), None] => {
                // Outliers, or the noise rose, when the two lie on both
                // sides: the next regular reading tells, without a storm of
                // re-reads. Else a third reading 1/16 interval later tells
                // a step from a frequency change.
                self.pace = if agree(&a, &this) {
                    Pace::Reread
                } else {
                    self.since_scatter = 0;
                    Pace::Scattered
                };
                self.suspects = [Some(a), Some(this)];
                Verdict::Hold
            }
            [Some(a), Some(b)] => {
                // Three suspects in a row on both sides of the prediction
                // are no step and no frequency change.
                let pace = core::mem::replace(&mut self.pace, Pace::Reread);
                let one_side = pace != Pace::Scattered && agree(&b, &this);
                let waited = pace == Pace::Waiting;
                self.suspects = [None; 2];
                let inn = |s: &Suspect| Real::from_i64(s.innovation);
                let d = inn(&this) - inn(&b);
                // A step leaves the three innovations level; a frequency
                // error makes them climb, perhaps by less than the noise
                // from one re-read to the next but clearly from the first
                // to the third (3.5 standard deviations of the difference),
                // and along a straight line: its second difference is no
                // more than the noise's.
                let climb = inn(&this) - inn(&a);
                // Both must also be small against the innovations
                // themselves: noise a few times the model's can look level
                // or straight to the gate, but not to a quarter of its size.
                let quarter = |v: Real| v.scale2(-2) * v.scale2(-2);
                if one_side
                    && d * d <= limit.scale2(1)
                    && climb * climb <= limit
                    && d * d <= quarter(inn(&b))
                    && climb * climb <= quarter(inn(&a))
                {
                    return Verdict::TimeStep;
                }
                let first = b.local_ts.duration_since(a.local_ts).as_nanos();
                let second = this.local_ts.duration_since(b.local_ts).as_nanos();
                if one_side && first > 0 && second > 0 {
                    let rise = (inn(&b) - inn(&a)) * Real::from_i64(second) / Real::from_i64(first);
                    let bend = d - rise;
                    if bend * bend <= limit.scale2(1) + limit && bend * bend <= quarter(climb) {
                        if !waited && self.since_scatter < SCATTER_MEMORY {
                            // Readings scattered lately: a line over 1/8
                            // interval may be chance. The next regular
                            // reading must continue it.
                            self.suspects = [Some(a), Some(this)];
                            self.pace = Pace::Waiting;
                            return Verdict::Hold;
                        }
                        // Consistent direction, steady climb: a frequency
                        // change, measured over the three readings' span.
                        return Verdict::FrequencyChange(a);
                    }
                }
                if one_side
                    && !waited
                    && inn(&this).abs() > inn(&b).abs()
                    && inn(&b).abs() > inn(&a).abs()
                {
                    // Growing on one side, but not along a clean line over
                    // 1/8 interval: the next regular reading tells a
                    // frequency change (still growing, over a long span)
                    // from noise.
                    self.suspects = [Some(a), Some(this)];
                    self.pace = Pace::Waiting;
                    return Verdict::Hold;
                }
                if one_side
                    && waited
                    && inn(&this).abs() > inn(&b).abs()
                    && self.since_scatter >= SCATTER_MEMORY
                {
                    return Verdict::FrequencyChange(a);
                }
                // Readings in a row outside the gate that scatter, or
                // neither hold level nor climb along a line: the reading
                // noise rose.
                self.noise_rose([a.innovation, b.innovation, this.innovation], limit, r)
            }
        }
    }

    /// The verdict that the reading noise rose, to the variance three
    /// suspects' `innovations` (ns) show less the prediction's own share
    /// (`limit` is the gate's squared innovation, `r` the reading variance
    /// so far, ns²), and at least four times `r`.
    fn noise_rose(&mut self, innovations: [i64; 3], limit: Real, r: Real) -> Verdict {
        self.since_scatter = 0;
        let gate = Real::from_i64(i64::from(self.cfg.gate.max(1)));
        let prediction = limit / (gate * gate) - r;
        let mean = innovations.iter().fold(Real::ZERO, |sum, &v| {
            sum + Real::from_i64(v) * Real::from_i64(v)
        }) * THIRD;
        Verdict::NoiseRose((mean - prediction).max(r.scale2(2)))
    }

    /// Rebases the noise model to reading variance `var` (ns²) at once
    /// (the reading noise rose, or fell back).
    fn rebase_noise(&mut self, var: Real) {
        self.noise.rebase_reading_var(var);
        self.r_basis = self.reading_var_basis();
        self.steady = None;
    }

    /// After the reading noise was found to have risen: if the next
    /// [`FELL_CHECK_READINGS`] accepted innovations `nu` (ns) are all far
    /// inside the new reading variance `r` (ns²), their mean square a
    /// sixteenth of it or less, the rise was a cluster of outliers, or
    /// passed: the noise model is rebased to twice what they show.
    fn check_noise_fell(&mut self, nu: Real, r: Real) {
        let Some((n, sum)) = self.fell_check else {
            return;
        };
        let sum = sum + nu * nu;
        let n = n.saturating_add(1);
        if n < FELL_CHECK_READINGS {
            self.fell_check = Some((n, sum));
            return;
        }
        self.fell_check = None;
        let mean = sum / Real::from_i64(i64::from(n));
        if mean.scale2(4) <= r {
            diag_info!(
                "keel: the reading noise fell back, {=i64} ns²",
                mean.to_i64()
            );
            self.rebase_noise(mean.scale2(1));
        }
    }

    /// Tests the frequency prior ([`Servo::set_frequency_prior`]) against
    /// the estimate once the noise model is warm, and takes it in if the
    /// two agree within the gate: a saved frequency is a hypothesis, and a
    /// wrong one (a cloned VM image, a VM restored on another host) must
    /// cost no more than a cold start.
    fn test_prior(&mut self) {
        let Some((prior, prior_var)) = self.prior.take() else {
            return;
        };
        let d = Real::from_fixed(prior.to_bits(), 32) - self.f.real;
        let total = self.cov.p11 + prior_var;
        if self.gate_limit(total) < d * d || total.is_zero() {
            diag_info!(
                "keel: the saved frequency is {=i64} ppb off the readings; not used",
                d.to_i64()
            );
            return;
        }
        // The prior as a reading of the frequency alone.
        let inv = total.recip();
        let (k0, k1) = (self.cov.p01 * inv, self.cov.p11 * inv);
        self.x = self.x.saturating_add((k0 * d).to_fixed(X_FRAC));
        self.f.set(self.f.ppb.saturating_add(ppb_from_real(k1 * d)));
        self.cov = Cov {
            p00: self.cov.p00 - k0 * self.cov.p01,
            p01: self.cov.p01 - k0 * self.cov.p11,
            p11: self.cov.p11 - k1 * self.cov.p11,
        };
        self.steady = None;
    }

    /// The output after an update: step (through the dispatcher's policy) or
    /// steer.
    fn steer(&mut self, allow_step: bool) -> ServoOutput {
        let mut x = self.x_real();
        let offset = self.x_duration();
        let max = self.dispatcher.config.max_frequency;
        let step = allow_step
            && self
                .dispatcher
                .config
                .wants_step(offset, self.dispatcher.first_update());
        let (action, state, est_offset) = if step {
            let delta = offset.saturating_neg();
            self.pending_step = Some(delta);
            self.x = self
                .x
                .saturating_add(delta.as_nanos().saturating_mul(1 << X_FRAC));
            self.own_phase = self
                .own_phase
                .wrapping_add(delta.as_nanos().wrapping_shl(u32::from(PHASE_FRAC)));
            // The local time line moves with the step.
            self.t_last = self.t_last.wrapping_add(delta);
            x = self.x_real();
            self.c = self.control(max, x);
            (
                Action::Step {
                    step: delta,
                    freq: self.c,
                },
                ServoState::Jump,
                offset,
            )
        } else {
            self.c = self.control(max, x);
            (Action::SetFrequency(self.c), ServoState::Locked, offset)
        };
        self.updates = self.updates.saturating_add(1);
        self.unreported = true;
        let state = self.dispatcher.settle(state, est_offset);
        let next_update = self.next_update();
        ServoOutput {
            action,
            state,
            offset: est_offset,
            freq: self.c,
            error_bound: self.bound_known().then(|| self.bound_at_last(x)),
            next_update,
        }
    }

    /// The phase-correction gain `g` for covariance `cov` (see the module
    /// docs) as the fraction of the offset removed per second, `g/T`, s⁻¹.
    fn correction_rate(&self, cov: Cov) -> Real {
        let g = if cov.p00.is_zero() {
            Real::ONE
        } else {
            let t = seconds(self.interval_ns);
            ((cov.p11 / cov.p00).sqrt() * t * G_FACTOR)
                .max(G_MIN)
                .min(Real::ONE)
        };
        g * self.inv_interval_s
    }

    /// The limit on a squared innovation of variance `var` (ns²) beyond
    /// which the reading is a suspect, `gate²·var`, ns².
    fn gate_limit(&self, var: Real) -> Real {
        let gate = Real::from_i64(i64::from(self.cfg.gate));
        gate * gate * var
    }

    /// The error bound's width `bound_sigmas·σ` for offset variance `var`
    /// (ns²), ns.
    fn spread(&self, var: Real) -> Real {
        Real::from_i64(i64::from(self.cfg.bound_sigmas)) * var.sqrt()
    }

    /// The cycle the filter is in, if any.
    fn steady_cycle(&self) -> Option<&Cycle> {
        self.steady.as_ref().filter(|c| c.post == self.cov)
    }

    /// `c = −f − g·x/T` for the offset estimate `x` (ns), clamped to ±max.
    fn control(&self, max: Ppb, x: Real) -> Ppb {
        let mut rate = self
            .steady_cycle()
            .map_or_else(|| self.correction_rate(self.cov), |c| c.rate);
        // An offset far outside its own uncertainty (a confirmed time step
        // being slewed) is certainly there: it goes at full speed, g = 1,
        // until it is within 10 standard deviations. The
        // gentle gain is for offsets the filter is unsure of.
        if x * x > self.cov.p00 * FULL_SPEED_SIGMAS_SQUARED {
            rate = self.inv_interval_s;
        }
        // Wanted rate of the offset: −g·x/T (x in ns, T in s → ppb). The
        // kernel scales the oscillator, so the rate is f + c·(1 + f):
        // c = (−g·x/T − f) / (1 + f).
        let wanted = (rate * x).negate();
        let c = (wanted - self.f.real) * self.f.inv_scale;
        ppb_from_real(c).clamp_abs(max)
    }

    /// The output while there is no estimate yet: leave the clock alone.
    fn unlocked(&mut self, offset: Duration) -> ServoOutput {
        let state = self.dispatcher.settle(ServoState::Unlocked, offset);
        let next_update = self.next_update();
        ServoOutput {
            action: Action::None,
            state,
            offset,
            freq: self.c,
            error_bound: None,
            next_update,
        }
    }

    fn hold(&mut self, offset: Duration) -> ServoOutput {
        let state = self.dispatcher.settle(ServoState::Locked, offset);
        let max = self.dispatcher.config.max_frequency;
        let x = self.x_real();
        self.c = self.control(max, x);
        self.unreported = true;
        let next_update = self.next_update();
        ServoOutput {
            action: Action::SetFrequency(self.c),
            state,
            offset: self.x_duration(),
            freq: self.c,
            error_bound: self.bound_known().then(|| self.bound_at_last(x)),
            next_update,
        }
    }

    /// A bound on |true offset| at local time `t`.
    pub fn error_bound_at(&self, t: Timestamp) -> Duration {
        if self.stage != Stage::Tracking {
            return Duration::MAX;
        }
        let local_dt = t.duration_since(self.t_last).as_nanos().max(0);
        if local_dt == 0 {
            return self.bound_at_last(self.x_real());
        }
        let frame = self.frame();
        let (_, s) = frame.reference_span(local_dt);
        let cov = self.bound_cov.unwrap_or(self.cov);
        let mean = self.x_real() + frame.rate * s;
        self.bound(
            mean.abs().max(self.suspect_trend_at(t)),
            self.spread(cov.predict(s, self.bound_wander()).p00),
        )
    }

    /// Two held suspects on one side extended along their line to local
    /// time `t`, |ns| (zero without such a pair): until they are judged,
    /// the offset may be growing as they do.
    fn suspect_trend_at(&self, t: Timestamp) -> Real {
        let [Some(a), Some(b)] = self.suspects else {
            return Real::ZERO;
        };
        let span = b.local_ts.duration_since(a.local_ts).as_nanos();
        let ahead = t.duration_since(b.local_ts).as_nanos();
        if (a.innovation < 0) != (b.innovation < 0) || span <= 0 || ahead <= 0 {
            return Real::ZERO;
        }
        let (oa, ob) = (
            Real::from_i64(a.offset.as_nanos()),
            Real::from_i64(b.offset.as_nanos()),
        );
        let ratio = Real::from_i64(ahead) / Real::from_i64(span);
        // The line's own uncertainty there: two readings' difference,
        // `bound_sigmas` standard deviations, carried `ratio` spans on.
        let spread = self.spread(self.r_basis.scale2(1)) * ratio;
        (ob + (ob - oa) * ratio).abs() + spread
    }

    /// Is there an error bound yet (see [`Servo::error_bound`])?
    fn bound_known(&self) -> bool {
        self.stage == Stage::Tracking && self.noise.model().is_some()
    }

    /// The error bound at the last update, for the offset estimate `x` (ns).
    fn bound_at_last(&self, x: Real) -> Duration {
        let spread = match (self.bound_cov, self.steady_cycle()) {
            (Some(b), _) => self.spread(b.p00),
            (None, Some(c)) => c.spread,
            (None, None) => self.spread(self.cov.p00),
        };
        self.bound(x, spread)
    }

    /// The error bound for an offset estimate `mean` (ns) of width `spread`
    /// ([`Kalman::spread`]).
    fn bound(&self, mean: Real, spread: Real) -> Duration {
        // Suspect readings not judged yet may be right (a step, a frequency
        // change): the bound reaches them until they are judged.
        let reach = self.suspects.iter().flatten().fold(mean.abs(), |m, s| {
            m.max(Real::from_i64(s.offset.as_nanos()).abs())
        });
        let bound = reach + spread;
        // A read's asymmetry is invisible to the filter: the PHC may have been
        // latched anywhere in the read interval, so the usual half delay is
        // added in full.
        let asymmetry = Duration::from_nanos(self.uncertainty_floor.unwrap_or(0));
        Duration::from_nanos(bound.to_i64())
            .saturating_add(asymmetry)
            .saturating_add(self.cfg.reference_error)
    }
}

impl Servo for Kalman {
    fn sample(&mut self, s: &OffsetSample) -> ServoOutput {
        self.take_unreported();
        self.pending_step = None;
        self.since_scatter = self.since_scatter.saturating_add(1);
        self.c_before = self.c;
        let frame = self.kept_frame();
        let local_dt = s.local_ts.duration_since(self.t_last).as_nanos();
        let (dt_ns, dt) = frame.reference_span(local_dt.max(0));
        if self.stage != Stage::Empty && local_dt >= 0 {
            self.advance_own_phase(&frame, dt);
            if self.stage == Stage::Tracking {
                // (Before tracking the rates are unknown: the first interval
                // is added by `start_from_two`.)
                self.ref_time_ns = self.ref_time_ns.saturating_add(dt_ns);
            }
        }
        let phase = self.free_running_phase(s.offset);
        let excess = self.uncertainty_excess(s.uncertainty);
        self.follow_reading_noise();
        // The reading's own uncertainty beyond the usual adds to its variance.
        let u = Real::from_i64(excess.as_nanos());
        let excess_var = u * u;
        let (r, q, qb) = (
            self.r_basis + excess_var,
            self.wander(),
            self.bound_wander(),
        );
        match self.stage {
            Stage::Empty => {
                self.stage = Stage::One(phase, s.local_ts, s.offset);
                self.t_last = s.local_ts;
                self.push_noise(phase);
                return self.unlocked(s.offset);
            }
            Stage::One(p1, t1, o1) => {
                if s.local_ts.duration_since(t1).as_nanos() <= 0 {
                    // Time went backwards: start again from this sample.
                    self.stage = Stage::One(phase, s.local_ts, s.offset);
                    self.t_last = s.local_ts;
                    return self.unlocked(s.offset);
                }
                // (Pushed after the start, which moves the reference time
                // on by the first interval.)
                self.start_from_two((p1, t1, o1), (phase, s.local_ts, s.offset), r);
                self.push_noise(phase);
                return self.steer(true);
            }
            Stage::Tracking => {}
        }
        if s.local_ts.duration_since(self.t_last).is_negative() {
            // A reading from the past cannot be used; keep steering.
            return self.hold(self.x_duration());
        }
        self.advance(&frame, dt, s.local_ts);
        // The steady cycle's gate and gains if it applies (the covariance
        // stays where it is), else the covariance predicted.
        let cov_in = self.cov;
        let cycle = self
            .steady
            .as_ref()
            .filter(|c| c.holds(cov_in, dt, q, r))
            .map(|c| (c.limit, c.k0, c.k1));
        let bound_pred = self.bound_cov_predicted(cov_in, dt, q, qb);
        let limit = match cycle {
            Some((limit, ..)) => limit,
            None => {
                self.cov = cov_in.predict(dt, q);
                self.gate_limit(self.cov.p00 + r)
            }
        };
        let innovation = s
            .offset
            .as_nanos()
            .saturating_sub(self.x_duration().as_nanos());
        let nu = Real::from_i64(innovation);
        let mut limit = limit;
        let mut cycle = cycle;
        let suspect = if self.warm() {
            nu * nu > limit
        } else {
            nu * nu > limit * EARLY_GATE_FACTOR
        };
        if suspect && self.leap_reading(innovation, limit) {
            // A leap second seen by one clock only: hold over through it.
            if cycle.is_some() {
                self.cov = cov_in.predict(dt, q);
            }
            self.bound_cov = bound_pred;
            self.leap = self.leap.map(|(k, _)| (k, true));
            diag_info!("keel: a reading one second off: the leap second, held over");
            return self.hold(self.x_duration());
        }
        if !suspect && matches!(self.leap, Some((_, true))) {
            // The clocks agree again: the leap is over.
            self.leap = None;
        }
        let mut r = r;
        self.history = (self.history << 1) | u8::from(suspect);
        if suspect {
            if cycle.is_some() {
                // The reading is not used: the covariance moves on alone.
                self.cov = cov_in.predict(dt, q);
            }
            let this = Suspect {
                innovation,
                phase,
                offset: s.offset,
                local_ts: s.local_ts,
            };
            let verdict = self.judge_suspect(this, limit, r);
            if !matches!(verdict, Verdict::Hold) {
                // Explained: these suspects were no outliers.
                self.history = 0;
            }
            match verdict {
                Verdict::Hold => {
                    self.bound_cov = bound_pred;
                    return self.hold(s.offset);
                }
                Verdict::FrequencyChange(a) => {
                    self.bound_cov = bound_pred;
                    diag_info!("keel: frequency change, restarting from two readings");
                    self.noise.restart();
                    self.start_from_two(
                        (a.phase, a.local_ts, a.offset),
                        (phase, s.local_ts, s.offset),
                        r,
                    );
                    self.burst_ns = Some(self.quick_ns());
                    return self.steer(false);
                }
                Verdict::TimeStep => {
                    self.bound_cov = bound_pred;
                    self.noise.restart();
                    diag_info!(
                        "keel: time step confirmed, innovation {=i64} ns",
                        innovation
                    );
                    self.restart_phase(s.offset, s.local_ts, r);
                    return self.steer(true);
                }
                Verdict::NoiseRose(var) => {
                    // The readings are noisier than the model: take the
                    // new level and use this reading with it. The state's
                    // own uncertainty did not change, only the readings'.
                    diag_info!("keel: the reading noise rose, now {=i64} ns²", var.to_i64());
                    self.rebase_noise(var);
                    self.fell_check = Some((0, Real::ZERO));
                    cycle = None;
                    r = self.r_basis + excess_var;
                    self.cov = cov_in.predict(dt, q);
                    limit = self.gate_limit(self.cov.p00 + r);
                }
            }
        }
        self.suspects = [None; 2];
        self.pace = Pace::Reread;
        self.check_noise_fell(nu, r);
        // Every accepted reading feeds the noise statistics: read-delay
        // jitter is reading noise too (rare very slow reads are clipped there).
        self.push_noise(phase);
        // Measurement update.
        let (k0, k1) = match cycle {
            Some((_, k0, k1)) => (k0, k1),
            None => {
                let (k0, k1, post) = self.cov.updated(r);
                self.cov = post;
                self.steady = post.near(cov_in, CYCLE_CONVERGED_BITS).then(|| Cycle {
                    dt,
                    q,
                    r,
                    limit,
                    k0,
                    k1,
                    post,
                    rate: self.correction_rate(post),
                    spread: self.spread(post.p00),
                });
                (k0, k1)
            }
        };
        // The bound's covariance takes the reading in with the filter's
        // gains; once the bound allows for no more wander than the filter,
        // it converges to the filter's and is dropped.
        self.bound_cov = bound_pred
            .map(|b| b.updated_with(k0, k1, r))
            .filter(|b| qb > q || !b.near(self.cov, BOUND_COV_MERGED_BITS));
        self.x = self.x.saturating_add((k0 * nu).to_fixed(X_FRAC));
        self.f
            .set(self.f.ppb.saturating_add(ppb_from_real(k1 * nu)));
        if self.warm() {
            self.test_prior();
        }
        let allow_step = self.dispatcher.config.step_threshold > Duration::ZERO;
        self.steer(allow_step)
    }

    fn applied(&mut self, a: &Applied) {
        self.unreported = false;
        if self.pending_step != a.step {
            // Undo the re-framing for the step that did not happen (or adjust
            // for a different one).
            let assumed = self.pending_step.map_or(0, Duration::as_nanos);
            let actual = a.step.map_or(0, Duration::as_nanos);
            let diff = actual.saturating_sub(assumed);
            self.x = self.x.saturating_add(diff.saturating_mul(1 << X_FRAC));
            self.own_phase = self
                .own_phase
                .wrapping_add(diff.wrapping_shl(u32::from(PHASE_FRAC)));
            self.t_last = self.t_last.wrapping_add(Duration::from_nanos(diff));
        }
        self.pending_step = None;
        self.c = a.freq;
        // A large change of the correction: the clock's frequency is that
        // much less certain (see ACTUATOR_SLIP).
        let change = Real::from_fixed(a.freq.saturating_sub(self.c_before).to_bits(), 32).abs();
        if self.stage == Stage::Tracking && change >= SLIP_FROM_PPB {
            let slip = change * ACTUATOR_SLIP;
            let var = slip * slip;
            self.cov.p11 = self.cov.p11 + var;
            if let Some(b) = &mut self.bound_cov {
                b.p11 = b.p11 + var;
            }
            // And it may wander by as much again while the clock settles.
            let q = var / Real::from_i64(SETTLING_S);
            let q = self.settling.map_or(q, |(_, before)| q.max(before));
            let until = self
                .ref_time_ns
                .saturating_add(SETTLING_S.saturating_mul(1_000_000_000));
            self.settling = Some((until, q));
            self.steady = None;
        }
    }

    fn no_sample(&mut self, local_ts: Timestamp) -> ServoOutput {
        self.take_unreported();
        self.c_before = self.c;
        if self.stage != Stage::Tracking {
            return self.unlocked(Duration::ZERO);
        }
        let q = self.wander();
        let local_dt = local_ts.duration_since(self.t_last).as_nanos();
        if local_dt >= 0 {
            let frame = self.kept_frame();
            let (dt_ns, dt) = frame.reference_span(local_dt);
            self.advance_own_phase(&frame, dt);
            self.ref_time_ns = self.ref_time_ns.saturating_add(dt_ns);
            self.advance(&frame, dt, local_ts);
            self.bound_cov = self.bound_cov_predicted(self.cov, dt, q, self.bound_wander());
            self.cov = self.cov.predict(dt, q);
        }
        self.hold(self.x_duration())
    }

    fn set_config(&mut self, config: ServoConfig) {
        self.dispatcher.config = config;
    }

    fn applied_at(&mut self, at: Timestamp) {
        let lag = at.duration_since(self.t_last).as_nanos();
        if self.stage != Stage::Tracking || lag <= 0 || lag > self.interval_ns {
            return;
        }
        // The old correction ran `lag` longer and the new one `lag` shorter
        // than the model assumed: move the offset (and the servo's own phase)
        // by the difference.
        let delta = (self.f.felt(self.c_before) - self.f.felt(self.c)) * seconds(lag);
        self.x = self.x.saturating_add(delta.to_fixed(X_FRAC));
        self.own_phase = self.own_phase.wrapping_add(delta.to_fixed(PHASE_FRAC));
    }

    /// A frequency known before the first readings, e.g. saved across a
    /// restart: `correction` is the frequency correction that kept the clock
    /// on time (positive = it had to run faster) and `sd` its standard
    /// deviation. The first estimate combines it with the first two readings
    /// by their variances, so a restart does not re-learn the frequency from
    /// two noisy samples. Ignored after a disruption.
    fn set_frequency_prior(&mut self, correction: Ppb, sd: Ppb) {
        // No saved frequency is better than 1 ppb: a state file claiming
        // perfection must not freeze the estimate.
        let sd = Real::from_fixed(sd.to_bits(), 32).abs().max(Real::ONE);
        self.prior = Some((correction.saturating_neg(), sd * sd));
    }

    fn set_interval(&mut self, interval: Duration) {
        if interval.as_nanos() > 0 {
            self.interval_ns = interval.as_nanos();
            self.inv_interval_s = seconds(self.interval_ns).recip();
            self.noise.set_interval(self.interval_ns);
            // The cycle's phase-correction gain depends on the interval.
            self.steady = None;
        }
    }

    fn reset(&mut self) {
        self.stage = Stage::Empty;
        self.steady = None;
        self.bound_cov = None;
        self.suspects = [None; 2];
        self.pace = Pace::Reread;
        self.history = 0;
        self.since_scatter = u8::MAX;
        self.fell_check = None;
        self.noise.restart();
    }

    fn disruption(&mut self) {
        diag_info!("keel: disruption signalled, re-acquiring");
        self.prior = None;
        self.reset();
        self.dispatcher.restart();
        // Re-acquire at once: 2 ms, 4 ms, … up to the nominal interval.
        self.burst_ns = Some(2_000_000);
    }

    fn state(&self) -> ServoState {
        self.dispatcher.state()
    }

    fn gives_bound(&self) -> bool {
        true
    }

    /// None until the filter tracks and has measured the reading noise
    /// (four second differences: six readings after a start, at once after
    /// a disruption): two readings fix an offset and a frequency but say
    /// nothing of their noise, and a bound assumed for 1 µs readings is
    /// broken by 10 µs ones.
    fn error_bound(&self, local_ts: Timestamp) -> Option<Duration> {
        self.bound_known().then(|| self.error_bound_at(local_ts))
    }
}

#[cfg(test)]
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::cast_possible_wrap,
    clippy::cast_sign_loss,
    reason = "test clock model"
)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A clock running `freq_ppb` fast from `offset_ns`, read once a second
    /// with white noise, steered by the servo's actions.
    struct Bench {
        servo: Kalman,
        t_ns: u64,
        offset_ns: f64,
        freq_ppb: f64,
        corr_ppb: f64,
        rng: u64,
        sigma: f64,
        /// Pull mode: never report with `applied`.
        pull: bool,
    }

    impl Bench {
        fn new(cfg: ServoConfig, offset_ns: f64, freq_ppb: f64, sigma: f64) -> Self {
            let servo = Kalman::new(
                cfg,
                KalmanConfig::default(),
                Duration::from_secs(1),
                Ppb::ZERO,
            );
            Self {
                servo,
                t_ns: 1_700_000_000_000_000_000,
                offset_ns,
                freq_ppb,
                corr_ppb: 0.0,
                rng: 0x9E37_79B9_7F4A_7C15,
                sigma,
                pull: false,
            }
        }

        fn gauss(&mut self) -> f64 {
            let mut u = || {
                self.rng ^= self.rng << 13;
                self.rng ^= self.rng >> 7;
                self.rng ^= self.rng << 17;
                ((self.rng >> 11) as f64 + 0.5) / (1u64 << 53) as f64
            };
            let (a, b) = (u(), u());
            (-2.0 * a.ln()).sqrt() * (2.0 * core::f64::consts::PI * b).cos()
        }

        /// Advances one second and feeds one reading with `extra` ns added.
        fn step(&mut self, extra: i64) -> ServoOutput {
            self.t_ns += 1_000_000_000;
            self.offset_ns += self.freq_ppb + self.corr_ppb;
            let reading = (self.offset_ns + self.sigma * self.gauss()) as i64;
            let local = Timestamp::from_nanos((self.t_ns as i64 + self.offset_ns as i64) as u64);
            let out = self.servo.sample(&OffsetSample {
                offset: Duration::from_nanos(reading.saturating_add(extra)),
                local_ts: local,
                uncertainty: Duration::ZERO,
            });
            let (step, freq) = out.action.correction().unwrap_or((
                None,
                Ppb::from_bits((self.corr_ppb * 4_294_967_296.0) as i64),
            ));
            if let Some(s) = step {
                self.offset_ns += s.as_nanos() as f64;
            }
            self.corr_ppb = freq.to_bits() as f64 / 4_294_967_296.0;
            if !self.pull {
                self.servo.applied(&Applied { step, freq });
            }
            out
        }

        fn run(&mut self, n: usize) -> ServoOutput {
            let mut last = self.step(0);
            for _ in 1..n {
                last = self.step(0);
            }
            last
        }
    }

    fn ppb(p: Ppb) -> f64 {
        p.to_bits() as f64 / 4_294_967_296.0
    }

    #[test]
    fn locks_and_tracks() {
        let mut b = Bench::new(ServoConfig::default(), 3e8, 50_000.0, 10.0);
        let out = b.run(300);
        assert_eq!(out.state, ServoState::Locked);
        assert!(b.offset_ns.abs() < 50.0, "offset {}", b.offset_ns);
        assert!(
            (b.corr_ppb + 50_000.0).abs() < 20.0,
            "correction {}",
            b.corr_ppb
        );
        let bound = out.error_bound.unwrap().as_nanos();
        assert!((10..200).contains(&bound), "bound {bound} ns");
    }

    #[test]
    fn a_single_outlier_never_moves_the_frequency_by_more_than_50_ppb() {
        for size in [
            2_000i64,
            100_000,
            10_000_000,
            1_000_000_000,
            i64::MAX / 4,
            -1_000_000_000,
        ] {
            let mut b = Bench::new(ServoConfig::default(), 1e6, -20_000.0, 10.0);
            let before = ppb(b.run(200).freq);
            let during = ppb(b.step(size).freq);
            let after = ppb(b.step(0).freq);
            assert!(
                (during - before).abs() <= 50.0,
                "outlier {size}: {before} -> {during}"
            );
            assert!(
                (after - before).abs() <= 50.0,
                "outlier {size}: {before} -> {after} after"
            );
        }
    }

    #[test]
    fn never_steps_on_a_single_sample() {
        let cfg = ServoConfig {
            step_threshold: Duration::from_micros(100),
            ..ServoConfig::default()
        };
        let mut b = Bench::new(cfg, 0.0, 1_000.0, 10.0);
        let _ = b.run(100);
        let out = b.step(1_000_000_000);
        assert!(!matches!(out.action, Action::Step { .. }), "{out:?}");
        assert!(
            out.next_update.is_some(),
            "a suspect asks for a quick re-read"
        );
        let out = b.step(0);
        assert!(!matches!(out.action, Action::Step { .. }));
    }

    #[test]
    fn steps_once_a_jump_is_confirmed() {
        let cfg = ServoConfig {
            step_threshold: Duration::from_micros(100),
            ..ServoConfig::default()
        };
        let mut b = Bench::new(cfg, 0.0, 1_000.0, 10.0);
        let _ = b.run(100);
        b.offset_ns += 5e8;
        let actions: [Action; 3] = core::array::from_fn(|_| b.step(0).action);
        assert!(!matches!(actions[0], Action::Step { .. }));
        assert!(!matches!(actions[1], Action::Step { .. }));
        let Action::Step { step, .. } = actions[2] else {
            panic!("{actions:?}")
        };
        assert!((step.as_nanos() + 500_000_000).abs() < 1_000, "step {step}");
        assert!(b.offset_ns.abs() < 1_000.0);
    }

    #[test]
    fn holds_over_and_reacquires_without_a_step() {
        let mut b = Bench::new(ServoConfig::default(), 0.0, 7_000.0, 10.0);
        let locked = b.run(300);
        let bound0 = locked.error_bound.unwrap().as_nanos();
        let mut bound = bound0;
        for _ in 0..300 {
            b.t_ns += 1_000_000_000;
            b.offset_ns += b.freq_ppb + b.corr_ppb;
            let local = Timestamp::from_nanos(b.t_ns);
            let out = b.servo.no_sample(local);
            let grown = out.error_bound.unwrap().as_nanos();
            assert!(grown >= bound, "the bound grows in holdover");
            bound = grown;
        }
        assert!(bound > 2 * bound0);
        assert!(
            b.offset_ns.abs() < bound as f64,
            "|{}| within {bound}",
            b.offset_ns
        );
        for _ in 0..10 {
            assert!(!matches!(b.step(0).action, Action::Step { .. }));
        }
        assert!(b.offset_ns.abs() < 100.0);
    }

    #[test]
    fn a_late_correction_is_accounted_for() {
        // The correction lands 5 ms after each sample; the clock keeps the
        // old frequency meanwhile. With applied_at the estimate follows.
        let mut b = Bench::new(ServoConfig::default(), 0.0, 50_000.0, 10.0);
        let mut worst = 0.0f64;
        for k in 0..40 {
            let before = b.corr_ppb;
            let _ = b.step(0);
            let after = b.corr_ppb;
            // 5 ms at the old rather than the new correction.
            b.offset_ns += (before - after) * 0.005;
            let local =
                Timestamp::from_nanos((b.t_ns as i64 + b.offset_ns as i64 + 5_000_000) as u64);
            b.servo.applied_at(local);
            if k >= 5 {
                worst = worst.max(b.offset_ns.abs());
            }
        }
        assert!(worst < 100.0, "worst offset after lock {worst} ns");
    }

    /// The frequency correction after 30 updates at σ = 1 µs (the clock
    /// runs +20 ppm fast: the right correction is −20,000 ppb), starting
    /// from `prior` (correction, standard deviation; ppb) if any.
    fn correction_after_30(prior: Option<(i64, i64)>, seed: u64) -> f64 {
        let mut b = Bench::new(ServoConfig::default(), 0.0, 20_000.0, 1_000.0);
        b.rng ^= seed;
        if let Some((c, sd)) = prior {
            b.servo
                .set_frequency_prior(Ppb::from_ppb(c), Ppb::from_ppb(sd));
        }
        let mut out = b.step(0);
        for _ in 0..30 {
            out = b.step(0);
        }
        ppb(out.freq)
    }

    #[test]
    fn a_right_frequency_prior_is_taken_in_once_warm() {
        // Two readings alone give the frequency to about 1.4 ppm, 30 to some
        // 40 ppb; the saved −20,000 ± 20 ppb brings it within 50 ppb.
        let (mut with, mut without) = (0.0, 0.0);
        for seed in 0..20 {
            with += (correction_after_30(Some((-20_000, 20)), seed) + 20_000.0).abs();
            without += (correction_after_30(None, seed) + 20_000.0).abs();
        }
        assert!(
            with / 20.0 < 30.0,
            "with the prior: {} ppb off",
            with / 20.0
        );
        assert!(with < without * 0.8, "with {with}, without {without}");
    }

    #[test]
    fn a_wrong_frequency_prior_costs_no_more_than_a_cold_start() {
        // A confident prior 50 ppm off (a cloned VM image's state file): the
        // readings contradict it once the noise model is warm, and it is
        // dropped: the same correction as with no prior at all.
        for seed in 0..20 {
            let wrong = correction_after_30(Some((-70_000, 5)), seed);
            let cold = correction_after_30(None, seed);
            assert!((wrong - cold).abs() < 1.0, "seed {seed}: {wrong} vs {cold}");
            assert!((wrong + 20_000.0).abs() < 300.0, "seed {seed}: {wrong}");
        }
    }

    #[test]
    fn same_inputs_same_outputs() {
        let hash = |seed: u64| {
            let mut b = Bench::new(ServoConfig::default(), 2e8, 30_000.0, 50.0);
            b.rng ^= seed;
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for k in 0..2000 {
                let out = b.step(if k % 97 == 50 { 40_000 } else { 0 });
                for v in [
                    out.offset.as_nanos() as u64,
                    out.freq.to_bits() as u64,
                    out.error_bound.map_or(0, |d| d.as_nanos() as u64),
                ] {
                    h = (h ^ v).wrapping_mul(0x0100_0000_01b3);
                }
            }
            h
        };
        assert_eq!(hash(0), hash(0));
        assert_ne!(hash(0), hash(1));
    }

    #[test]
    fn the_bound_covariance_update_matches_the_filter_at_its_own_gains() {
        // With the filter's optimal gains the Joseph form must equal the
        // filter's short form; with other gains it is larger.
        let pred = Cov {
            p00: Real::from_i64(400),
            p01: Real::from_i64(30),
            p11: Real::from_i64(9),
        };
        let r = Real::from_i64(100);
        let (k0, k1, short) = pred.updated(r);
        let joseph = pred.updated_with(k0, k1, r);
        assert!(joseph.near(short, 16), "{joseph:?} vs {short:?}");
        let stiff = pred.updated_with(k0.scale2(-1), k1.scale2(-1), r);
        assert!(stiff.p00 > short.p00 && stiff.p11 > short.p11, "{stiff:?}");
    }

    #[test]
    fn pull_mode_without_reports_is_exact_reports() {
        // A first step, a large start-up slew and a +50 ppm frequency step:
        // every kind of correction, unreported, taken as applied exactly.
        let cfg = ServoConfig {
            step_threshold: Duration::from_micros(100),
            ..ServoConfig::default()
        };
        let mut told = Bench::new(cfg, 3e8, 50_000.0, 10.0);
        let mut pull = Bench::new(cfg, 3e8, 50_000.0, 10.0);
        pull.pull = true;
        for k in 0..400 {
            if k == 200 {
                told.freq_ppb += 50_000.0;
                pull.freq_ppb += 50_000.0;
            }
            assert_eq!(told.step(0), pull.step(0), "update {k}");
        }
        assert_eq!(
            told.servo.no_sample(Timestamp::from_nanos(told.t_ns)),
            pull.servo.no_sample(Timestamp::from_nanos(pull.t_ns))
        );
    }

    #[test]
    fn the_frequency_estimate_is_the_oscillators_error_negated() {
        let mut b = Bench::new(ServoConfig::default(), 3e8, 50_000.0, 10.0);
        assert_eq!(b.servo.frequency_estimate(), None);
        let _ = b.run(300);
        let f = ppb(b.servo.frequency_estimate().unwrap());
        assert!((f + 50_000.0).abs() < 20.0, "estimate {f}");
    }

    #[test]
    fn an_announced_leap_second_is_held_over_not_slewed() {
        for announced in [true, false] {
            let mut b = Bench::new(ServoConfig::default(), 0.0, 10_000.0, 10.0);
            b.pull = true;
            let _ = b.run(300);
            let before = b.corr_ppb;
            if announced {
                b.servo.leap(Some(LeapKind::Insert));
            }
            // The local clock took the leap (it went back a second) before
            // the reference did: three readings a second behind.
            for _ in 0..3 {
                let out = b.step(-1_000_000_000);
                if announced {
                    assert!(out.offset.as_nanos().abs() < 100, "{out:?}");
                    assert!(matches!(out.action, Action::SetFrequency(_)));
                }
            }
            if announced {
                assert!((b.corr_ppb - before).abs() < 5.0, "{} {before}", b.corr_ppb);
                let out = b.run(30);
                assert!(b.offset_ns.abs() < 100.0, "offset {}", b.offset_ns);
                assert!(
                    (b.corr_ppb - before).abs() < 20.0,
                    "{} {before}",
                    b.corr_ppb
                );
                assert_eq!(out.state, ServoState::Locked);
                assert_eq!(b.servo.leap, None, "the leap is over");
            } else {
                // Unannounced, the same readings are a confirmed time step
                // that the servo sets out to remove.
                assert!(b.servo.x_duration().as_nanos() < -900_000_000);
            }
        }
    }

    #[test]
    fn state_is_small() {
        assert!(
            core::mem::size_of::<Kalman>() <= 2048,
            "{} bytes",
            core::mem::size_of::<Kalman>()
        );
        assert!(core::mem::size_of::<super::super::Pi>() <= 2048);
    }

    proptest! {
        #[test]
        fn no_input_panics(ops in prop::collection::vec((any::<i64>(), any::<u64>(), any::<i64>(), 0u8..8), 1..200)) {
            let cfg = ServoConfig { step_threshold: Duration::from_micros(1), ..ServoConfig::default() };
            let mut s = Kalman::new(cfg, KalmanConfig::default(), Duration::from_millis(250), Ppb::from_ppb(-3));
            for (offset, ts, unc, op) in ops {
                let local_ts = Timestamp::from_nanos(ts);
                match op {
                    0 => s.disruption(),
                    1 => { let _ = s.no_sample(local_ts); }
                    2 => s.applied(&Applied { step: Some(Duration::from_nanos(offset)), freq: Ppb::from_bits(unc) }),
                    3 => { let _ = s.error_bound(local_ts); }
                    _ => {
                        let out = s.sample(&OffsetSample { offset: Duration::from_nanos(offset), local_ts, uncertainty: Duration::from_nanos(unc) });
                        if let Action::SetFrequency(f) | Action::Step { freq: f, .. } = out.action {
                            prop_assert!(f.clamp_abs(cfg.max_frequency) == f, "{:?}", f);
                        }
                    }
                }
            }
        }
    }
}

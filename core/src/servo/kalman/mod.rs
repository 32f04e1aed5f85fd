//! keel's default servo: an adaptive two-state Kalman filter that learns the
//! reading noise and the oscillator wander itself.
//!
//! **Model.** State: the offset `x` (local − reference, ns) and the free-running
//! frequency error `f` of the oscillator (ppb, positive = fast). Between
//! samples the offset moves by `(f + c)·Δt`, where `c` is the correction the
//! servo has in force; `f` is a random walk of intensity `q` (ppb²/s). A
//! reading is `x` plus white noise of variance `R` (plus the reading's own
//! stated uncertainty). `R` and `q` come from
//! [`NoiseEstimator`], fed with the
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
//! Suspect readings not judged yet may be right: the bound reaches them,
//! and the drift they imply until the time asked (two on one side along
//! their line; one along the line from the prediction it missed, as if the
//! frequency had changed at the update before it), so a time page read
//! before the re-read allows for a frequency step still drifting. A time
//! step is followed once three readings confirm it, but a burst of
//! outliers confirms it as well until the burst ends: until 16 more
//! readings agree, the bound also reaches the offset the clock has if
//! there was no step (the estimate less the step). A frequency write may
//! reach the clock up to a kernel tick (10 ms) after the caller reports it
//! in force, the clock meanwhile running the correction before: the error
//! that leaves in the estimate, carried through the filter's own gains
//! until it fades, is in the bound too (the estimate less that error, and
//! anything between).
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
//!
//! The servo's state, its samples and its control are here; the filter's
//! model (covariance, frequency error, wander) is in `covariance`, the
//! judging of suspect readings in `robustness` and the error bound in
//! `bound`.

mod bound;
mod covariance;
mod robustness;

use self::covariance::{BOUND_COV_MERGED_BITS, CYCLE_CONVERGED_BITS, Cov, Cycle, FreqError};
use self::robustness::{EARLY_GATE_FACTOR, Pace, Suspect, Verdict};
use super::{
    Action, Applied, Dispatcher, OffsetSample, Servo, ServoConfig, ServoOutput, ServoState,
};
use crate::filter::noise::{NoiseEstimator, PHASE_FRAC};
use crate::fmt::diag_info;
use crate::num::Real;
use crate::time::{Duration, LeapKind, Ppb, Timestamp};

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
    /// After a confirmed time step: the step (the innovation that
    /// confirmed it, ns) and the readings that agreed with it since. A
    /// burst of outliers looks like a step until it ends, so until
    /// [`STEP_DOUBT_READINGS`] readings agree the bound also reaches the
    /// offset the clock has if there was no step.
    doubt: Option<(i64, u8)>,
    /// The error (estimate − truth) that frequency writes reaching the clock
    /// late may have left in the offset (ns) and the frequency error (ppb),
    /// carried through the filter's own gains ([`Kalman::write_lag`]).
    lag_error: Option<(Real, Real)>,
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

/// 10⁻⁹ (ppb and ns to s).
const NANO: Real = Real::ratio(1, 1_000_000_000);

/// 1/3.
const THIRD: Real = Real::ratio(1, 3);

/// The reading variance assumed before any is measured, ns² (1 µs readings).
const ASSUMED_READING_VAR: Real = Real::from_i64(1_000_000);

/// Readings that must agree with a confirmed time step before the error
/// bound stops allowing for its having been a burst of outliers (see
/// [`Kalman::doubt`]). A step is confirmed on three readings 1/16 interval
/// apart; a burst of ten readings off by as much (the suite's) holds seven
/// more before the readings come back. Sixteen is more than twice that, at
/// the cost of a bound as wide as a real step for sixteen readings after
/// it (the servo follows the step as fast as before: only its bound waits).
const STEP_DOUBT_READINGS: u8 = 16;

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
            doubt: None,
            lag_error: None,
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
        // The offset is measured afresh; the frequency is kept, errors and all.
        self.lag_error = self.lag_error.map(|(_, ef)| (Real::ZERO, ef));
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
        self.lag_error = None;
        self.t_last = t2;
        self.stage = Stage::Tracking;
        self.suspects = [None; 2];
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
                span_ns: local_dt,
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
                    self.doubt = Some((innovation, 0));
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
        self.doubt = self
            .doubt
            .map(|(step, n)| (step, n.saturating_add(1)))
            .filter(|&(_, n)| n < STEP_DOUBT_READINGS);
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
        self.lag_error_updated(k0, k1);
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
        self.actuator_slip(a.freq.saturating_sub(self.c_before));
        self.write_lag(a.freq.saturating_sub(self.c_before));
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

    fn reference_rate_changed(&mut self, shift: Ppb) {
        if self.stage != Stage::Tracking || shift == Ppb::ZERO {
            return;
        }
        // The correction that held the clock on the old reference was
        // `shift` too high: the oscillator's error against the new one is
        // that much higher (c = −f in the steady state). Half the shift
        // stays as doubt.
        self.f.set(self.f.ppb.saturating_add(shift));
        let half = Real::from_fixed(shift.to_bits(), 32).scale2(-1);
        self.cov.p11 = self.cov.p11 + half * half;
        self.steady = None;
    }

    fn set_interval(&mut self, interval: Duration) {
        if interval.as_nanos() > 0 {
            if interval.as_nanos() != self.interval_ns {
                // The noise estimator's history is on the old grid: a
                // second difference across two spacings would leave the
                // free-running drift in (50 ppm × ¾ s ≈ 19 µs).
                self.noise.restart();
                self.last_noise = None;
            }
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
        self.doubt = None;
        self.lag_error = None;
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
mod tests;

//! The filter's model: the covariance of (offset, frequency error) and its
//! predict and update steps, the steady-state cycle, the frequency-error
//! estimate and the frame of rates it gives, the wander (with the actuator's
//! slip after a large change of the correction) and the reading noise the
//! covariance is built on.

use super::{ASSUMED_READING_VAR, Kalman, NANO, Stage, THIRD, X_FRAC, seconds};
use crate::filter::noise::PHASE_FRAC;
use crate::num::Real;
use crate::time::{Ppb, Timestamp};

/// How far a clock may run from the frequency it was told after a change,
/// as a fraction of the change: Linux's timekeeping ran the end of a 500 ppm
/// slew some 100 ppb off for several seconds in the guest lab (its `mult`
/// and accumulated error catch up at their own pace), so a large change
/// leaves the frequency that much less certain.
const ACTUATOR_SLIP: Real = Real::ratio(1, 5_000);

/// Changes of the correction below this, ppb, leave the covariance alone
/// (the steady state's few-ppb changes would slip by < 0.01 ppb).
const SLIP_FROM_PPB: Real = Real::from_i64(10_000);

/// How late a frequency write may reach the clock after the caller reports
/// it in force, s: a kernel that applies it at its next tick (10 ms at
/// `HZ = 100`). Until then the clock runs the correction before.
const WRITE_LAG: Real = Real::ratio(1, 100);

/// Errors a late write may leave below this, ns, are not followed: the
/// steady state's few-ppb changes leave hundredths of a ns.
const WRITE_LAG_FROM_NS: Real = Real::ONE;

/// How long a clock settles after a large change of its correction, s: in
/// the guest lab the kernel's residue after a 1000 ppm slew came and went
/// for some 20 s.
const SETTLING_S: i64 = 20;

/// The clock's rates under the correction in force, computed once per sample.
#[derive(Clone, Copy, Debug)]
pub(super) struct Frame {
    /// The correction as the clock feels it, ppb.
    correction: Real,
    /// The offset's rate of change, `f + c·(1 + f)`, ppb.
    pub(super) rate: Real,
    /// `rate` in steps of 64 ppb, rounded: the key of `local_per_ref`.
    coarse_rate: i64,
    /// Reference seconds per local second, `1 / (1 + rate)` for the rate
    /// at `coarse_rate` (to 3·10⁻⁸): the local clock runs 10 % slow during
    /// a full-speed slew.
    local_per_ref: Real,
}

impl Frame {
    /// A local span (ns) in reference time: to the nearest ns, and in s.
    pub(super) fn reference_span(&self, local_dt_ns: i64) -> (i64, Real) {
        let ns = Real::from_i64(local_dt_ns) * self.local_per_ref;
        (ns.to_i64(), ns * NANO)
    }
}

/// The filter's covariance of (offset, frequency error): ns², ns·ppb, ppb².
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Cov {
    pub(super) p00: Real,
    pub(super) p01: Real,
    pub(super) p11: Real,
}

impl Cov {
    /// The covariance `dt` reference seconds on, with wander `q` (ppb²/s).
    pub(super) fn predict(self, dt: Real, q: Real) -> Self {
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
    pub(super) fn updated(self, r: Real) -> (Real, Real, Self) {
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
    pub(super) fn updated_with(self, k0: Real, k1: Real, r: Real) -> Self {
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
    pub(super) fn near(self, other: Self, bits: u32) -> bool {
        self.p00.near(other.p00, bits)
            && self.p01.near(other.p01, bits)
            && self.p11.near(other.p11, bits)
    }
}

/// One covariance cycle (predict over `dt`, update with a reading of
/// variance `r`) whose result equals its start: the locked steady state.
/// The covariance does not depend on the readings, only on these inputs, so
/// while they stay near the cycle's and the covariance is the cycle's, the
/// cycle is reused instead of recomputed: the gains, the phase-correction
/// gain and the error bound's width are known.
#[derive(Clone, Copy, Debug)]
pub(super) struct Cycle {
    /// The span, reference s.
    pub(super) dt: Real,
    /// The wander, ppb²/s.
    pub(super) q: Real,
    /// The reading variance, ns².
    pub(super) r: Real,
    /// [`Kalman::gate_limit`] of the innovation variance, ns².
    pub(super) limit: Real,
    /// The Kalman gains for the offset (dimensionless) and the frequency
    /// (ppb/ns).
    pub(super) k0: Real,
    pub(super) k1: Real,
    /// The covariance after the update, and before: the cycle leaves it
    /// where it is.
    pub(super) post: Cov,
    /// [`Kalman::correction_rate`] of `post`, s⁻¹.
    pub(super) rate: Real,
    /// The error bound's width at `post`, `bound_sigmas·√post.p00`, ns.
    pub(super) spread: Real,
}

/// Relative tolerance of a cycle's span: 2⁻¹² (244 µs in 1 s).
const CYCLE_DT_BITS: u32 = 12;

/// Relative tolerance of a cycle's noise model: 2⁻⁶ (1.6 %; the estimates'
/// own uncertainty is several times that).
const CYCLE_MODEL_BITS: u32 = 6;

/// The bound's covariance has merged with the filter's when no element
/// differs by more than 2⁻¹⁰ of itself.
pub(super) const BOUND_COV_MERGED_BITS: u32 = 10;

/// A cycle is converged when no element of the covariance moved by more
/// than 2⁻¹⁶ of itself.
pub(super) const CYCLE_CONVERGED_BITS: u32 = 16;

impl Cycle {
    /// Does the cycle apply to covariance `cov` over `dt` with wander `q`
    /// and reading variance `r`?
    pub(super) fn holds(&self, cov: Cov, dt: Real, q: Real, r: Real) -> bool {
        self.post == cov
            && self.dt.near(dt, CYCLE_DT_BITS)
            && (self.q == q || self.q.near(q, CYCLE_MODEL_BITS))
            && (self.r == r || self.r.near(r, CYCLE_MODEL_BITS))
    }
}

/// The free-running frequency error estimate `f` and what the servo
/// derives from it on every sample.
#[derive(Clone, Copy, Debug)]
pub(super) struct FreqError {
    /// The estimate, ppb (positive = the oscillator runs fast).
    pub(super) ppb: Ppb,
    /// The same, ppb.
    pub(super) real: Real,
    /// The same as a fraction, `f·10⁻⁹`.
    fraction: Real,
    /// The estimate in steps of 64 ppb ([`COARSE_BITS`]).
    coarse: i64,
    /// `1 / (1 + f)` for `f` at `coarse` (to 3·10⁻⁸: enough to choose a
    /// correction, whose effect is then computed exactly).
    pub(super) inv_scale: Real,
}

/// Frequencies rounded to steps of 2⁶ ppb (`1 + f` to 3·10⁻⁸) change only
/// now and then: the servo keeps their reciprocals.
const COARSE_BITS: i32 = 6;

impl FreqError {
    pub(super) fn new(ppb: Ppb) -> Self {
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
    pub(super) fn set(&mut self, ppb: Ppb) {
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
    pub(super) fn felt(&self, c: Ppb) -> Real {
        let c = Real::from_fixed(c.to_bits(), 32);
        c + c * self.fraction
    }
}

impl Kalman {
    /// The wander in use, ppb²/s: the estimate, or 1 ppb/√s before there is
    /// one.
    pub(super) fn wander(&self) -> Real {
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
    pub(super) fn bound_wander(&self) -> Real {
        self.noise.model().map_or(Real::ONE, |m| m.bound_wander_var) + self.settling_wander()
    }

    /// The bound's covariance `dt` reference seconds on from the filter's
    /// `cov`: `None` while the bound allows for no more wander `qb` than the
    /// filter's `q` and its covariance is the filter's.
    pub(super) fn bound_cov_predicted(&self, cov: Cov, dt: Real, q: Real, qb: Real) -> Option<Cov> {
        self.bound_cov
            .or_else(|| (qb > q).then_some(cov))
            .map(|b| b.predict(dt, qb))
    }

    /// The reading variance in use, ns²: the estimate, or before there is
    /// one [`ASSUMED_READING_VAR`], or more if the first second differences
    /// already show it.
    pub(super) fn reading_var_basis(&self) -> Real {
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
    pub(super) fn follow_reading_noise(&mut self) {
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

    /// Feeds the noise estimator on a regular grid of the nominal interval,
    /// in reference time (at +5 % the local clock's seconds are 5 % long).
    /// The estimator assumes evenly spaced values, and the free-running phase
    /// drifts at the oscillator's full error (e.g. 50 µs/s), so a reading
    /// taken off the grid (a re-read, a burst) is moved to the nearest grid
    /// point along the estimated frequency. Readings less than half an
    /// interval after the last grid point are skipped; a gap of more than
    /// one interval restarts the estimator's history.
    pub(super) fn push_noise(&mut self, phase: i64) {
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

    /// The clock's rates under the correction in force.
    pub(super) fn frame(&self) -> Frame {
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
    pub(super) fn kept_frame(&mut self) -> Frame {
        let frame = self.frame();
        self.last_frame = (frame.coarse_rate, frame.local_per_ref);
        frame
    }

    /// Adds the phase the correction in force has accumulated over `dt`
    /// (reference seconds) to the servo's own phase.
    pub(super) fn advance_own_phase(&mut self, frame: &Frame, dt: Real) {
        let own = frame.correction * dt;
        self.own_phase = self.own_phase.wrapping_add(own.to_fixed(PHASE_FRAC));
    }

    /// Moves the offset estimate `dt` reference seconds on, to local time
    /// `t` (the covariance moves separately, [`Cov::predict`]).
    pub(super) fn advance(&mut self, frame: &Frame, dt: Real, t: Timestamp) {
        let advance = frame.rate * dt;
        self.x = self.x.saturating_add(advance.to_fixed(X_FRAC));
        self.t_last = t;
        // A frequency error of the estimate moves its offset error on.
        self.lag_error = self.lag_error.map(|(ex, ef)| (ex + ef * dt, ef));
    }

    /// A change of the correction by `change` may reach the clock up to
    /// [`WRITE_LAG`] late: the clock then runs the correction before that
    /// much longer than the model says, and the estimate is off by up to
    /// the change over the lag (see [`Kalman::lag_error`]). Writes add up
    /// as if each came the whole lag late (a kernel's tick).
    pub(super) fn write_lag(&mut self, change: Ppb) {
        let shift = Real::from_fixed(change.to_bits(), 32) * WRITE_LAG;
        if self.stage != Stage::Tracking || shift.abs() < WRITE_LAG_FROM_NS {
            return;
        }
        let (ex, ef) = self.lag_error.unwrap_or((Real::ZERO, Real::ZERO));
        self.lag_error = Some((ex + shift, ef));
    }

    /// A reading taken in with gains `k0`, `k1`: it measures the offset the
    /// clock really has, so the estimate takes in the share of a late
    /// write's error the gains give it, offset and frequency alike (the
    /// error of a Kalman filter evolves as `(I − KH)·F` of it). Dropped
    /// once below [`WRITE_LAG_FROM_NS`] and moving less than that per
    /// interval.
    pub(super) fn lag_error_updated(&mut self, k0: Real, k1: Real) {
        let Some((ex, ef)) = self.lag_error else {
            return;
        };
        let (ex, ef) = (ex - k0 * ex, ef - k1 * ex);
        let per_interval = ef * seconds(self.interval_ns);
        self.lag_error = (ex.abs() >= WRITE_LAG_FROM_NS || per_interval.abs() >= WRITE_LAG_FROM_NS)
            .then_some((ex, ef));
    }

    /// The cycle the filter is in, if any.
    pub(super) fn steady_cycle(&self) -> Option<&Cycle> {
        self.steady.as_ref().filter(|c| c.post == self.cov)
    }

    /// A change of the correction by `change`: a large one leaves the
    /// clock's frequency that much less certain (see [`ACTUATOR_SLIP`]).
    pub(super) fn actuator_slip(&mut self, change: Ppb) {
        let change = Real::from_fixed(change.to_bits(), 32).abs();
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
}

//! Robustness: readings outside the gate are suspects, judged together
//! (an outlier, a time step, a frequency change, or the reading noise rose);
//! the pace of re-reads while they are held; a leap second seen by one clock
//! only; and a saved frequency tested before it is taken in.

use super::covariance::Cov;
use super::{Kalman, THIRD, X_FRAC, ppb_from_real};
use crate::fmt::{diag_debug, diag_info};
use crate::num::Real;
use crate::time::{Duration, Timestamp};

/// A reading the filter did not trust.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Suspect {
    /// Innovation, ns.
    pub(super) innovation: i64,
    /// Free-running phase, 2⁻⁸ ns (wrapping).
    pub(super) phase: i64,
    /// The reading's offset.
    pub(super) offset: Duration,
    pub(super) local_ts: Timestamp,
    /// Local time since the update before it, where the prediction it
    /// missed was made, ns.
    pub(super) span_ns: i64,
}

/// When the next reading comes while suspects are held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Pace {
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
pub(super) enum Verdict {
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

/// Before the noise estimate is warm, a reading is a suspect only beyond
/// 6× the gate (30 standard deviations at the default gate of 5): the young
/// estimate may understate the noise a few times over, but a gross outlier
/// taken in then (a 100 µs reading among 10 ns ones) threw the frequency
/// off by 55 ppm and the servo never recovered.
pub(super) const EARLY_GATE_FACTOR: Real = Real::from_i64(36);

/// For this many readings after suspects scattered on both sides of the
/// prediction, a frequency change needs a regular reading to continue the
/// line the re-reads drew.
const SCATTER_MEMORY: u8 = 16;

/// Accepted readings after a rise of the reading noise that tell whether it
/// stays (see [`Kalman::check_noise_fell`]).
const FELL_CHECK_READINGS: u8 = 8;

impl Kalman {
    /// Is the noise estimate good enough to judge outliers at the full
    /// gate? Before, only gross outliers are judged (see [`EARLY_GATE_FACTOR`]).
    pub(super) fn warm(&self) -> bool {
        self.noise.samples() >= 8
    }

    /// The limit on a squared innovation of variance `var` (ns²) beyond
    /// which the reading is a suspect, `gate²·var`, ns².
    pub(super) fn gate_limit(&self, var: Real) -> Real {
        let gate = Real::from_i64(i64::from(self.cfg.gate));
        gate * gate * var
    }

    /// Is a suspect reading with this innovation (ns) a leap second seen by
    /// one clock only: one second off, to within `limit` (the squared gate)?
    pub(super) fn leap_reading(&self, innovation: i64, limit: Real) -> bool {
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

    /// The delay before the next sample: soon while suspects wait for
    /// confirmation, doubling through a burst, else the nominal interval.
    pub(super) fn next_update(&mut self) -> Option<Duration> {
        if self.suspects[0].is_some() && self.pace == Pace::Reread {
            return Some(Duration::from_nanos(self.quick_ns()));
        }
        let d = self.burst_ns?;
        let next = d.saturating_mul(2);
        self.burst_ns = (next < self.interval_ns).then_some(next);
        Some(Duration::from_nanos(d))
    }

    /// The re-read delay for a suspect reading: 1/16 of the interval.
    pub(super) fn quick_ns(&self) -> i64 {
        (self.interval_ns / 16).max(1_000_000)
    }

    /// Judges a suspect reading with the suspects before it (see the module
    /// docs). `limit` is the squared innovation beyond which a reading is a
    /// suspect and `r` the reading variance, ns².
    pub(super) fn judge_suspect(&mut self, this: Suspect, limit: Real, r: Real) -> Verdict {
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
    pub(super) fn rebase_noise(&mut self, var: Real) {
        self.noise.rebase_reading_var(var);
        self.r_basis = self.reading_var_basis();
        self.steady = None;
    }

    /// After the reading noise was found to have risen: if the next
    /// [`FELL_CHECK_READINGS`] accepted innovations `nu` (ns) are all far
    /// inside the new reading variance `r` (ns²), their mean square a
    /// sixteenth of it or less, the rise was a cluster of outliers, or
    /// passed: the noise model is rebased to twice what they show.
    pub(super) fn check_noise_fell(&mut self, nu: Real, r: Real) {
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

    /// Tests the frequency prior
    /// ([`Servo::set_frequency_prior`](crate::servo::Servo::set_frequency_prior))
    /// against the estimate once the noise model is warm, and takes it in if
    /// the two agree within the gate: a saved frequency is a hypothesis, and
    /// a wrong one (a cloned VM image, a VM restored on another host) must
    /// cost no more than a cold start.
    pub(super) fn test_prior(&mut self) {
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
}

//! Online estimate of the reading noise and of the oscillator's frequency
//! wander, so the default servo needs no tuning.
//!
//! The input is the *free-running* phase: measured offsets with the servo's
//! own corrections (frequency and steps) removed. It is averaged in a binary
//! pyramid of block means (1, 2, 4, …, 512 samples). At every level the second
//! difference of consecutive block means, `e = B₁ − (B₀ + B₂)/2`, cancels any
//! constant offset and frequency; its variance is
//!
//! ```text
//! v_j = 1.5 · σ² / m_j  +  K_j · q · τ_j³
//! ```
//!
//! for white reading noise σ (ns) and a random-walk frequency of intensity `q`
//! (ppb²/s), with `m_j = 2^j` samples per block of length `τ_j = m_j · T` and
//! `K_j` the random walk's shape constant (⅙ at `j = 0`, → 11/80 for large
//! blocks). White noise dominates the small blocks and wander the large ones,
//! so a weighted least-squares fit over the levels separates the two. Each
//! level keeps an exponential average of `e²` (plain mean for its first
//! [`NoiseEstimator::HORIZON`] values), with single values clipped at 25× the
//! variance as of the last fit so an outlier cannot blow it up.
//!
//! All arithmetic is integer: phases are `i64` in units of 2⁻⁸ ns, taken
//! modulo 2⁶⁴ (differences of neighbouring block means are exact even when
//! the absolute phase wraps); statistics are [`Real`].

use crate::num::Real;

/// Pyramid depth: blocks of 1 … 2⁹ samples.
pub const LEVELS: usize = 10;

/// Fractional bits of the phase input.
pub const PHASE_FRAC: u8 = 8;

/// `K_j · 10⁴` for the random walk's second difference of block means:
/// `Var(e_j) / (q·τ_j³)` for a frequency that wanders continuously (a real
/// oscillator's) and is sampled every `T` (exact covariance of the integrated
/// random walk; ⅙ for single samples, 11/80 for long blocks). A walk that
/// steps only at the sampling instants gives ¼ at `j = 0` instead; assuming
/// that made the wander look 1.5× smaller at long intervals.
const K_E4: [i64; LEVELS] = [1667, 1432, 1388, 1378, 1376, 1375, 1375, 1375, 1375, 1375];

/// 3/2: level 0's variance per unit of white reading noise.
const THREE_HALVES: Real = Real::ratio(3, 2);

/// `a_j = 1.5 / m_j` and `b_j = K_j · m_j³` (times `T³`), precomputed.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    reason = "j < LEVELS = 10"
)]
const COEFFS: [(Real, Real); LEVELS] = {
    let mut c = [(Real::ZERO, Real::ZERO); LEVELS];
    let mut j = 0;
    while j < LEVELS {
        let a = THREE_HALVES.scale2(-(j as i32));
        let b = Real::ratio(K_E4[j], 10_000).scale2(3 * j as i32);
        c[j] = (a, b);
        j += 1;
    }
    c
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Level {
    /// First half of a block waiting for its second half (2⁻⁸ ns, wrapping).
    pending: Option<i64>,
    /// The last three block means, oldest first.
    hist: [i64; 3],
    hist_len: u8,
    /// Running mean of e², ns².
    var: Real,
    /// Values folded into `var`.
    count: u32,
    /// Larger squared second differences are clipped to this, ns² (set by
    /// [`NoiseEstimator::update_caps`]).
    cap: Real,
}

impl Default for Level {
    fn default() -> Self {
        Self {
            pending: None,
            hist: [0; 3],
            hist_len: 0,
            var: Real::ZERO,
            count: 0,
            cap: Real::MAX,
        }
    }
}

/// The fitted noise model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NoiseModel {
    /// Variance of one reading, ns².
    pub reading_var: Real,
    /// Random-walk frequency intensity, ppb²/s (the square of the wander in
    /// ppb/√s): the estimate plus one standard error, so that a short history
    /// errs on the side of a more agile filter.
    pub wander_var: Real,
    /// The wander the error bound allows for, ppb²/s: `wander_var`, or
    /// more while an unproven estimate is capped at
    /// [`NoiseEstimator::wander_ceiling`] — the estimate plus one standard
    /// error up to [`NoiseEstimator::bound_wander_ceiling`]. The filter
    /// runs on `wander_var`; the bound must hold for the wander it cannot
    /// rule out.
    pub bound_wander_var: Real,
}

/// The multi-resolution noise estimator (about 0.5 KiB).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoiseEstimator {
    levels: [Level; LEVELS],
    /// Nominal sample interval, s.
    interval_s: Real,
    /// The model fitted after the last value.
    model: Option<NoiseModel>,
    /// The last fit's reading variance (ns²) and wander (ppb²/s), before
    /// the widening [`NoiseModel`] reports: where the next fit starts once
    /// established.
    fit: Option<(Real, Real)>,
    /// Level 0's first squared second differences, ns² (in no order).
    early: [Real; EARLY_VALUES as usize],
}

#[cfg(feature = "defmt")]
impl defmt::Format for NoiseEstimator {
    /// The fitted model and the sample count (not the level statistics).
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "NoiseEstimator {{ samples: {=u32}, model: {} }}",
            self.samples(),
            self.model
        );
    }
}

impl NoiseEstimator {
    /// Each level's average becomes exponential after this many values.
    pub const HORIZON: u32 = 256;

    /// Level 0 values after which the model is established: it is refitted
    /// every [`NoiseEstimator::HORIZON`] values, each time with one
    /// reweighting pass from the last fit.
    pub const ESTABLISHED: u32 = 4096;

    /// The smallest variance reported, ns² (a quarter of a ns², the PHC's
    /// resolution).
    pub fn min_reading_var() -> Real {
        Real::from_fixed(1, 2)
    }

    /// The smallest wander intensity reported, ppb²/s (10⁻⁴, i.e. 0.01 ppb/√s).
    pub fn min_wander_var() -> Real {
        Real::ratio(1, 10_000)
    }

    /// The largest wander assumed without clear evidence, ppb²/s (10: a
    /// frequency random walk of 3.2 ppb/√s, more than a VM's clock shows
    /// against its host's or a TCXO against a NIC's). A larger wander is
    /// followed once the data show it beyond two standard errors. (At
    /// 10 ppb/√s and σ = 20 ns that takes most of the first minute, with
    /// 30 ns RMS instead of 26; at 0.1 ppb/√s the start is 11 ns instead
    /// of 17 — the simulated noisy start with 20 seeds.)
    pub fn wander_ceiling() -> Real {
        Real::from_i64(10)
    }

    /// The largest wander the error bound allows for without clear
    /// evidence, ppb²/s (100: 10 ppb/√s, the top of the range keel is
    /// built for). Below it, an unproven wander capped at
    /// [`NoiseEstimator::wander_ceiling`] keeps the filter calm but would
    /// leave the bound short where the wander really is that large.
    pub fn bound_wander_ceiling() -> Real {
        Real::from_i64(100)
    }

    /// An empty estimator for samples `interval_ns` apart.
    pub fn new(interval_ns: i64) -> Self {
        Self {
            levels: [Level::default(); LEVELS],
            interval_s: interval_seconds(interval_ns),
            model: None,
            fit: None,
            early: [Real::ZERO; EARLY_VALUES as usize],
        }
    }

    /// Changes the nominal interval; the statistics gathered so far are kept.
    pub fn set_interval(&mut self, interval_ns: i64) {
        self.interval_s = interval_seconds(interval_ns);
    }

    /// Drops the block history (after a disruption) but keeps the statistics.
    pub fn restart(&mut self) {
        for l in &mut self.levels {
            l.pending = None;
            l.hist_len = 0;
        }
    }

    /// The reading noise changed at once (a host under load, a read path
    /// that lost PRECISE): moves every level's variance by its share of the
    /// change to `reading_var` (ns²), keeps the wander the levels hold, and
    /// lets the two finest levels (which the reading noise dominates)
    /// re-converge within 16 values. The caps follow, so the next values
    /// are not clipped to the old noise.
    pub fn rebase_reading_var(&mut self, reading_var: Real) {
        let new = reading_var.max(Self::min_reading_var());
        let old = self
            .fit
            .map(|(r, _)| r)
            .or_else(|| self.white_noise_var())
            .unwrap_or(new);
        for (j, (level, &(a, _))) in self.levels.iter_mut().zip(COEFFS.iter()).enumerate() {
            if level.count == 0 {
                continue;
            }
            level.var = (level.var + a * (new - old)).max(a * new);
            if j < 2 {
                level.count = level.count.min(16);
            }
        }
        let n = self.levels[0].count.min(EARLY_VALUES) as usize;
        for e in &mut self.early[..n] {
            *e = self.levels[0].var;
        }
        self.fit = self.fit.map(|(_, q)| (new, q));
        self.update_caps();
        self.refit();
    }

    /// How many second differences level 0 has seen.
    pub fn samples(&self) -> u32 {
        self.levels[0].count
    }

    /// Adds one free-running phase value (ns × 2⁸, modulo 2⁶⁴).
    pub fn push(&mut self, phase: i64) {
        let mut value = phase;
        for (j, level) in self.levels.iter_mut().enumerate() {
            if let Some(e2) = level.add_mean(value) {
                if j == 0 && level.count < EARLY_VALUES {
                    let i = level.count as usize;
                    self.early[i] = e2;
                    level.count += 1;
                    level.var = trimmed_mean(&mut self.early[..=i]);
                } else {
                    level.fold(e2);
                }
            }
            match level.pending.take() {
                None => {
                    level.pending = Some(value);
                    break;
                }
                Some(first) => {
                    // Mean of the two halves, exact modulo 2^64.
                    value = first.wrapping_add(value.wrapping_sub(first) >> 1);
                }
            }
        }
        // The statistics move slowly once there are a few dozen values:
        // refit every value at first, then every 16th, every 64th, and
        // once established every 256th (level 0's averaging horizon).
        let n = self.levels[0].count;
        let every: u32 = if n < 64 {
            1
        } else if n < 1024 {
            16
        } else if n < Self::ESTABLISHED {
            64
        } else {
            Self::HORIZON
        };
        // A power of two: a mask, not a division.
        if n & (every - 1) == 0 {
            self.update_caps();
            self.refit();
        }
    }

    /// Sets each level's clipping limit, so an outlier cannot blow its
    /// variance up: 25× the variance, or of the white-noise part level 0
    /// implies (its variance / 2^j) if larger, so a level whose first values
    /// happen to be tiny (or exactly zero) does not clip all that follow.
    /// No limit before a level's first value. Updated with the fit: the
    /// variances move slowly.
    fn update_caps(&mut self) {
        let white = self.levels[0].var;
        for (j, level) in (0i32..).zip(self.levels.iter_mut()) {
            let floor = if j == 0 { Real::ZERO } else { white.scale2(-j) };
            level.cap = if level.count == 0 {
                Real::MAX
            } else {
                level.var.max(floor) * Real::from_i64(25)
            };
        }
    }

    /// The level-0 variance alone (1.5 σ² plus a little wander), ns².
    pub fn short_term_var(&self) -> Option<Real> {
        let l = &self.levels[0];
        (l.count > 0).then_some(l.var)
    }

    /// The reading variance level 0 alone implies (its variance / 1.5),
    /// ns²: the first guess of the fit, and all there is before it.
    pub fn white_noise_var(&self) -> Option<Real> {
        self.short_term_var().map(|v| v / THREE_HALVES)
    }

    /// The fitted model, once level 0 has seen a few values.
    pub fn model(&self) -> Option<NoiseModel> {
        self.model
    }

    /// Refits the model: weighted least squares over the levels,
    /// iteratively reweighted by the *model's* variance (`n_j / m_j²`), so a
    /// level whose few values happen to be small cannot pull the fit.
    fn refit(&mut self) {
        let l0 = &self.levels[0];
        if l0.count < 4 {
            self.model = None;
            return;
        }
        let t3 = self.interval_s * self.interval_s * self.interval_s;
        // `b_j` of each level at this interval.
        let b: [Real; LEVELS] = core::array::from_fn(|j| COEFFS[j].1 * t3);
        let min_r = Self::min_reading_var();
        let min_q = Self::min_wander_var();
        // Start from white noise alone, seen at level 0, with three passes;
        // once established, the weights of the last fit are close: one pass
        // from there (the reweighting goes on across refits).
        let (mut r, mut q, passes) = match self.fit {
            Some((r, q)) if l0.count >= Self::ESTABLISHED => (r, q, 1),
            _ => (
                (l0.var / THREE_HALVES).max(min_r),
                self.model.map_or(min_q, |m| m.wander_var),
                3,
            ),
        };
        let (mut q_se, mut r_se) = (Real::ZERO, Real::ZERO);
        let mut split = false;
        let (mut s11, mut s12, mut t1) = (Real::ZERO, Real::ZERO, Real::ZERO);
        for _ in 0..passes {
            let mut joined = 0u32;
            let (mut s22, mut t2) = (Real::ZERO, Real::ZERO);
            (s11, s12, t1) = (Real::ZERO, Real::ZERO, Real::ZERO);
            for (j, ((l, &(a, _)), &b)) in
                (0i32..).zip(self.levels.iter().zip(COEFFS.iter()).zip(b.iter()))
            {
                // A level joins once it has a few values: with fewer, its
                // variance is too uncertain to weigh (χ² with 4 degrees of
                // freedom is below a fifth of its mean one time in twenty).
                // Level 0 carries the reading noise and joins at 4.
                if l.count < if j == 0 { 4 } else { 8 } {
                    continue;
                }
                joined += 1;
                let model = a * r + b * q;
                let w = Real::from_i64(i64::from(l.count.min(Self::HORIZON))) / (model * model);
                s11 = s11 + w * a * a;
                s12 = s12 + w * a * b;
                s22 = s22 + w * b * b;
                t1 = t1 + w * a * l.var;
                t2 = t2 + w * b * l.var;
            }
            let det = s11 * s22 - s12 * s12;
            // One level (or levels that cannot tell noise from wander):
            // mathematically det = 0, numerically a speck of either sign.
            split = !(joined < 2 || s22.is_zero() || det <= (s11 * s22).scale2(-30));
            (r, q) = if !split {
                (t1 / s11, min_q)
            } else {
                ((s22 * t1 - s12 * t2) / det, (s11 * t2 - s12 * t1) / det)
            };
            if q < min_q {
                q = min_q;
                r = (t1 - s12 * q) / s11;
            }
            if r < min_r {
                r = min_r;
                q = ((t2 - s12 * r) / s22).max(min_q);
            }
            (q_se, r_se) = if !split {
                // No split, so no standard error of one: the wander is
                // taken at its ceiling below and r widened by 16/n.
                (q, Real::ZERO)
            } else {
                ((s11.scale2(1) / det).sqrt(), (s22.scale2(1) / det).sqrt())
            };
        }
        self.fit = Some((r, q));
        // An underestimated wander makes the servo stiff and its bound
        // dishonest: report one standard error above the estimate (the
        // weights are n/m², so Var(q) = 2·S₁₁/det). But a short history of
        // noisy readings cannot tell wander from noise at all (at σ = 1 µs
        // and 20 values the standard error is ~(700 ppb/√s)², and a servo
        // that agile follows every reading): until the estimate stands out
        // of its error, or while the fit cannot split the two, the wander
        // is capped at the ceiling of real oscillators,
        // [`NoiseEstimator::wander_ceiling`].
        let ceiling = Self::wander_ceiling();
        let bound_ceiling = Self::bound_wander_ceiling();
        let (wander, bound_wander) = if !split {
            (ceiling, bound_ceiling)
        } else if q > q_se.scale2(1) {
            (q + q_se, q + q_se)
        } else {
            if q > ceiling {
                // The reading noise that goes with the capped wander (the
                // fit's split would leave it too small).
                r = ((t1 - s12 * ceiling) / s11).max(min_r);
            }
            let w = q + q_se;
            (w.min(ceiling), w.min(bound_ceiling))
        };
        // Likewise a few values can make the reading noise look small, and
        // a servo that trusts its readings too much is jumpy and its bound
        // dishonest: the estimate is widened by 16/n (×3 at 8 values, ×1.06
        // at 256; 8/n left the bound short in 7 of 3,000 checks over the
        // first 35 s of 100 noisy starts, 16/n in 2), or by one standard
        // error of the fit (Var(r) = 2·S₂₂/det) where that is more: where
        // wander swamps the reading noise at every level (an update every
        // 16 s), r is fitted near zero and the bound failed 2e-3 of the time
        // just after updates.
        let n = Real::from_i64(i64::from(l0.count.min(Self::HORIZON)));
        let r = r + (r.scale2(4) / n).max(r_se);
        self.model = Some(NoiseModel {
            reading_var: r,
            wander_var: wander,
            bound_wander_var: bound_wander,
        });
    }
}

/// Level 0's first values are kept and averaged robustly (see
/// [`trimmed_mean`]): one of them can be an outlier, and a tiny first value
/// must not set the clipping limit of those that follow.
const EARLY_VALUES: u32 = 8;

/// The mean of `e²` values, robust to one outlier reading: the largest
/// values are dropped (a reading enters three neighbouring second
/// differences, so three from six values on, two before), and the mean of the rest is scaled
/// back to the full mean. The factors are the expected ratio for white noise
/// (second differences of neighbours correlate by −2/3), by simulation.
/// Sorts `v` (at most [`EARLY_VALUES`] long).
fn trimmed_mean(v: &mut [Real]) -> Real {
    v.sort_unstable();
    let k = v.len();
    // (values dropped, full mean / trimmed mean × 1000) by count.
    let (drop, factor_e3) = match k {
        0..=3 => (0, 1000),
        4 => (2, 2961),
        5 => (2, 2562),
        6 => (3, 3640),
        7 => (3, 3161),
        _ => (3, 2841),
    };
    let kept = &v[..k - drop];
    let mut sum = Real::ZERO;
    for &x in kept {
        sum = sum + x;
    }
    #[allow(clippy::cast_possible_wrap, reason = "at most 8 values")]
    let n = kept.len().max(1) as i64;
    sum * Real::ratio(factor_e3, 1000 * n)
}

impl Level {
    /// Pushes a block mean; returns the new second difference squared, ns²,
    /// once there are three means.
    fn add_mean(&mut self, mean: i64) -> Option<Real> {
        if self.hist_len < 3 {
            self.hist[usize::from(self.hist_len)] = mean;
            self.hist_len += 1;
        } else {
            self.hist = [self.hist[1], self.hist[2], mean];
        }
        if self.hist_len < 3 {
            return None;
        }
        let [b0, b1, b2] = self.hist;
        // e = b1 − (b0 + b2)/2, exact modulo 2^64 for neighbouring means.
        let e2x = b1
            .wrapping_sub(b0)
            .wrapping_mul(2)
            .wrapping_sub(b2.wrapping_sub(b0)); // 2e
        // Below 2^31 (4 ms) the square is exact in an i64.
        Some(match i32::try_from(e2x) {
            Ok(e) => Real::from_fixed(i64::from(e) * i64::from(e), 2 * (PHASE_FRAC + 1)),
            Err(_) => {
                let e = Real::from_fixed(e2x, PHASE_FRAC + 1);
                e * e
            }
        })
    }

    /// Folds a squared second difference into `var`, clipped at `cap`.
    fn fold(&mut self, e2: Real) {
        let e2 = e2.min(self.cap);
        self.count = self.count.saturating_add(1);
        let n = self.count.min(NoiseEstimator::HORIZON);
        self.var = if n >= NoiseEstimator::HORIZON {
            // HORIZON is 2^8: the steady-state average is a shift, and
            // both terms are positive.
            self.var * DECAY + e2.scale2(-8)
        } else {
            self.var + (e2 - self.var) / Real::from_i64(i64::from(n))
        };
    }
}

/// The weight of the past in each level's exponential average,
/// `1 − 1/HORIZON` (exact).
const DECAY: Real = Real::from_fixed(255, 8);

fn interval_seconds(interval_ns: i64) -> Real {
    let ns = if interval_ns > 0 {
        interval_ns
    } else {
        1_000_000_000
    };
    Real::ratio(ns, 1_000_000_000)
}

#[cfg(test)]
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    reason = "test signal generation"
)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    /// Deterministic Gaussian numbers for the test (xorshift + Box–Muller).
    struct Gauss(u64);
    impl Gauss {
        fn uniform(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        }
        fn next(&mut self) -> f64 {
            let (u, v) = (self.uniform(), self.uniform());
            (-2.0 * u.ln()).sqrt() * (2.0 * core::f64::consts::PI * v).cos()
        }
    }

    fn real_f64(r: Real) -> f64 {
        r.to_fixed(20) as f64 / (1u64 << 20) as f64
    }

    /// Phase series with white noise σ and random-walk wander w, sampled every 1 s.
    #[test]
    fn a_fit_that_cannot_split_claims_no_huge_reading_noise() {
        // Until a second level joins, the fit's determinant is zero up to
        // rounding; a standard error taken from that speck made the
        // reading noise 10⁴–10¹³ times level 0's at t = 5 s, now and then.
        for seed in 1..=50u64 {
            let mut g = Gauss(seed * 104_729);
            let mut est = NoiseEstimator::new(1_000_000_000);
            let mut x = 0.0f64;
            for _ in 0..18 {
                x += 50_000.0;
                est.push(((x + 10.0 * g.next()) * 256.0) as i64);
                let (Some(m), Some(white)) = (est.model(), est.white_noise_var()) else {
                    continue;
                };
                let floor = real_f64(white.max(NoiseEstimator::min_reading_var()));
                let ratio = real_f64(m.reading_var) / floor;
                assert!(
                    ratio <= 5.1,
                    "seed {seed}: reading var {ratio:.1}× level 0's"
                );
                assert_eq!(m.wander_var, NoiseEstimator::wander_ceiling());
            }
        }
    }

    fn estimate(sigma: f64, w: f64, n: usize, seed: u64) -> (f64, f64) {
        let mut g = Gauss(seed);
        let mut est = NoiseEstimator::new(1_000_000_000);
        let (mut x, mut f) = (123_456_789.0f64, 50_000.0f64);
        for _ in 0..n {
            x += f;
            f += w * g.next();
            let z = x + sigma * g.next();
            est.push((z * 256.0) as i64);
        }
        let m = est.model().unwrap();
        (
            real_f64(m.reading_var).sqrt(),
            real_f64(m.wander_var).sqrt(),
        )
    }

    #[test]
    fn separates_reading_noise_from_wander() {
        for (sigma, w) in [(10.0, 1.0), (100.0, 1.0), (10.0, 10.0), (1000.0, 10.0)] {
            let runs: Vec<(f64, f64)> = (1..=5)
                .map(|s| estimate(sigma, w, 4000, s * 7919))
                .collect();
            let mut sig: Vec<f64> = runs.iter().map(|r| r.0).collect();
            let mut wan: Vec<f64> = runs.iter().map(|r| r.1).collect();
            sig.sort_by(f64::total_cmp);
            wan.sort_by(f64::total_cmp);
            let (ms, mw) = (sig[2], wan[2]);
            assert!((ms / sigma - 1.0).abs() < 0.1, "σ {sigma}: estimated {ms}");
            assert!(
                (mw / w - 1.0).abs() < 0.5,
                "w {w} (σ {sigma}): estimated {mw}"
            );
        }
    }

    #[test]
    fn outliers_do_not_inflate_the_estimate() {
        let mut g = Gauss(42);
        let mut est = NoiseEstimator::new(1_000_000_000);
        let mut x = 0.0f64;
        for k in 0..4000 {
            x += 10.0;
            let mut z = x + 10.0 * g.next();
            if k % 200 == 100 {
                z += 100_000.0;
            }
            est.push((z * 256.0) as i64);
        }
        let s = real_f64(est.model().unwrap().reading_var).sqrt();
        assert!(s < 20.0, "σ estimate {s} with 0.5 % outliers of 100 µs");
    }

    #[test]
    fn wrapping_phase_is_harmless() {
        let mut est = NoiseEstimator::new(1_000_000_000);
        for k in 0..64i64 {
            est.push(i64::MAX.wrapping_add(k.wrapping_mul(1 << 20)));
        }
        let m = est.model().unwrap();
        // The floor, widened for a short history.
        assert!(m.reading_var <= NoiseEstimator::min_reading_var().scale2(1));
    }

    /// Level 0's variance after `n` white-noise values σ = 1000 ns whose
    /// first three readings are equal (a first second difference of zero).
    fn after_flat_start(n: usize, outlier_at: Option<usize>) -> f64 {
        let mut g = Gauss(99);
        let mut est = NoiseEstimator::new(1_000_000_000);
        for k in 0..n {
            let mut z = if k < 3 { 0.0 } else { 1000.0 * g.next() };
            if outlier_at == Some(k) {
                z += 1e6;
            }
            est.push((z * 256.0) as i64);
        }
        real_f64(est.short_term_var().unwrap()) / 1.5
    }

    #[test]
    fn a_zero_first_value_does_not_pin_the_estimate() {
        // Before: every later value was clipped at 25 × 0.
        let v = after_flat_start(40, None);
        assert!((4e5..3e6).contains(&v), "σ² estimate {v} (truth 1e6)");
    }

    #[test]
    fn an_early_outlier_is_trimmed() {
        // Ten readings, eight second differences, three of them hit.
        let clean = after_flat_start(10, None);
        let dirty = after_flat_start(10, Some(6));
        // Untrimmed, the 1 ms outlier would read as σ² ≈ 1e11.
        assert!(
            dirty < 1e7 && clean < 1e7,
            "σ² {dirty} with a 1 ms outlier, {clean} without (truth 1e6)"
        );
    }

    /// Median wander estimate (ppb/√s) over seeds after `n` values of white
    /// noise σ without any wander.
    fn early_wander(sigma: f64, n: usize) -> f64 {
        let mut w: Vec<f64> = (1..=9)
            .map(|seed| {
                let mut g = Gauss(seed * 7919);
                let mut est = NoiseEstimator::new(1_000_000_000);
                for k in 0..n {
                    est.push(((k as f64 * 50_000.0 + sigma * g.next()) * 256.0) as i64);
                }
                real_f64(est.model().unwrap().wander_var).sqrt()
            })
            .collect();
        w.sort_by(f64::total_cmp);
        w[4]
    }

    #[test]
    fn a_short_noisy_history_does_not_claim_huge_wander() {
        // Before the ceiling: about 700 ppb/√s after 25 values at σ = 1 µs,
        // and a servo that agile follows every reading.
        for n in [10, 25, 60] {
            let w = early_wander(1000.0, n);
            assert!(w <= 3.2, "{n} values: wander {w} ppb/√s");
        }
    }
}

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
//! `K_j` the random walk's shape constant (¼ at `j = 0`, → 0.1385 for large
//! blocks). White noise dominates the small blocks and wander the large ones,
//! so a weighted least-squares fit over the levels separates the two. Each
//! level keeps an exponential average of `e²` (plain mean for its first
//! [`NoiseEstimator::HORIZON`] values), with single values clipped at 25× the
//! running variance so an outlier cannot blow it up.
//!
//! All arithmetic is integer: phases are `i64` in units of 2⁻⁸ ns, taken
//! modulo 2⁶⁴ (differences of neighbouring block means are exact even when
//! the absolute phase wraps); statistics are [`Real`].

use crate::num::Real;

/// Pyramid depth: blocks of 1 … 2⁹ samples.
pub const LEVELS: usize = 10;

/// Fractional bits of the phase input.
pub const PHASE_FRAC: u8 = 8;

/// `K_j · 10⁴` for the random walk's second difference of block means.
const K_E4: [i64; LEVELS] = [2500, 1561, 1415, 1388, 1383, 1383, 1385, 1385, 1385, 1385];

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
        let a = Real::ratio(3, 2).scale2(-(j as i32));
        let b = Real::ratio(K_E4[j], 10_000).scale2(3 * j as i32);
        c[j] = (a, b);
        j += 1;
    }
    c
};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
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
}

/// The multi-resolution noise estimator (about 0.5 KiB).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoiseEstimator {
    levels: [Level; LEVELS],
    /// Nominal sample interval, s.
    interval_s: Real,
    /// The model fitted after the last value.
    model: Option<NoiseModel>,
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

    /// The smallest variance reported, ns² (a quarter of a ns², the PHC's
    /// resolution).
    pub fn min_reading_var() -> Real {
        Real::from_fixed(1, 2)
    }

    /// The smallest wander intensity reported, ppb²/s (10⁻⁴, i.e. 0.01 ppb/√s).
    pub fn min_wander_var() -> Real {
        Real::ratio(1, 10_000)
    }

    /// An empty estimator for samples `interval_ns` apart.
    pub fn new(interval_ns: i64) -> Self {
        Self {
            levels: [Level::default(); LEVELS],
            interval_s: interval_seconds(interval_ns),
            model: None,
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

    /// How many second differences level 0 has seen.
    pub fn samples(&self) -> u32 {
        self.levels[0].count
    }

    /// Adds one free-running phase value (ns × 2⁸, modulo 2⁶⁴).
    pub fn push(&mut self, phase: i64) {
        let mut value = phase;
        for level in &mut self.levels {
            level.add_mean(value);
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
        // refit every value at first, then every 16th, then every 64th.
        let n = self.levels[0].count;
        let every = if n < 64 {
            1
        } else if n < 1024 {
            16
        } else {
            64
        };
        if n % every == 0 {
            self.refit();
        }
    }

    /// The level-0 variance alone (1.5 σ² plus a little wander), ns².
    pub fn short_term_var(&self) -> Option<Real> {
        let l = &self.levels[0];
        (l.count > 0).then_some(l.var)
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
        let three_halves = Real::ratio(3, 2);
        let t3 = self.interval_s * self.interval_s * self.interval_s;
        let min_r = Self::min_reading_var();
        let min_q = Self::min_wander_var();
        // Start from white noise alone, seen at level 0.
        let mut r = (l0.var / three_halves).max(min_r);
        let mut q = self.model.map_or(min_q, |m| m.wander_var);
        let mut q_se = Real::ZERO;
        for _ in 0..3 {
            let (mut s11, mut s12, mut s22, mut t1, mut t2) =
                (Real::ZERO, Real::ZERO, Real::ZERO, Real::ZERO, Real::ZERO);
            for (j, (l, &(a, b_unit))) in (0i32..).zip(self.levels.iter().zip(COEFFS.iter())) {
                // A level joins once it has a few values: with fewer, its
                // variance is too uncertain to weigh (χ² with 4 degrees of
                // freedom is below a fifth of its mean one time in twenty).
                // Level 0 carries the reading noise and joins at 4.
                if l.count < if j == 0 { 4 } else { 8 } {
                    continue;
                }
                let b = b_unit * t3;
                let model = a * r + b * q;
                let w = Real::from_i64(i64::from(l.count.min(Self::HORIZON))) / (model * model);
                s11 = s11 + w * a * a;
                s12 = s12 + w * a * b;
                s22 = s22 + w * b * b;
                t1 = t1 + w * a * l.var;
                t2 = t2 + w * b * l.var;
            }
            let det = s11 * s22 - s12 * s12;
            (r, q) = if s22.is_zero() || det <= (s11 * s22).scale2(-30) {
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
            q_se = if det.is_zero() || det.is_negative() {
                q
            } else {
                (s11.scale2(1) / det).sqrt()
            };
        }
        // An underestimated wander makes the servo stiff and its bound
        // dishonest, an overestimate costs little: report one standard error
        // above the estimate (the weights are n/m², so Var(q) = 2·S₁₁/det).
        let wander = q + q_se;
        self.model = Some(NoiseModel {
            reading_var: r,
            wander_var: wander,
        });
    }
}

impl Level {
    /// Pushes a block mean and folds the new second difference into `var`.
    fn add_mean(&mut self, mean: i64) {
        if self.hist_len < 3 {
            self.hist[usize::from(self.hist_len)] = mean;
            self.hist_len += 1;
        } else {
            self.hist = [self.hist[1], self.hist[2], mean];
        }
        if self.hist_len < 3 {
            return;
        }
        let [b0, b1, b2] = self.hist;
        // e = b1 − (b0 + b2)/2, exact modulo 2^64 for neighbouring means.
        let e2x = b1
            .wrapping_sub(b0)
            .wrapping_mul(2)
            .wrapping_sub(b2.wrapping_sub(b0)); // 2e
        let e = Real::from_fixed(e2x, PHASE_FRAC + 1);
        let mut e2 = e * e;
        if self.count > 0 {
            let cap = self.var * Real::from_i64(25);
            e2 = e2.min(cap);
        }
        self.count = self.count.saturating_add(1);
        let n = self.count.min(NoiseEstimator::HORIZON);
        // HORIZON is 2^8: the steady-state average is a shift.
        let step = if n >= NoiseEstimator::HORIZON {
            (e2 - self.var).scale2(-8)
        } else {
            (e2 - self.var) / Real::from_i64(i64::from(n))
        };
        self.var = self.var + step;
    }
}

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
        assert_eq!(m.reading_var, NoiseEstimator::min_reading_var());
    }
}

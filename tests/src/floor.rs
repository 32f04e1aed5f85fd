//! The physical floor: the steady-state optimal linear (Kalman) estimator for
//! the simulator's noise model, against which every servo is judged.
//!
//! Model, per update interval `T`: phase `x` (ns) and frequency `y` (ns/s)
//! with a random-walk frequency of spectral density `w²` (w in ppb/√s = ns/s/√s),
//! observed as `z = x + v`, `v ~ N(0, σ²)`. The process noise is the
//! integrated random walk, `Q = w²·[[T³/3, T²/2], [T²/2, T]]`.

/// The steady-state estimation errors of the optimal filter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Floor {
    /// Phase error standard deviation right after a measurement, ns.
    pub phase_posterior_ns: f64,
    /// Phase error standard deviation just before the next measurement, ns.
    pub phase_prior_ns: f64,
    /// Frequency error standard deviation after a measurement, ppb.
    pub freq_ppb: f64,
}

/// Solves the discrete Riccati recursion to its fixed point.
///
/// `sigma_ns`: white reading noise; `wander_ppb_per_sqrt_s`: frequency random
/// walk; `interval_s`: update interval.
pub fn kalman_floor(sigma_ns: f64, wander_ppb_per_sqrt_s: f64, interval_s: f64) -> Floor {
    let t = interval_s;
    let q = wander_ppb_per_sqrt_s * wander_ppb_per_sqrt_s;
    let (q00, q01, q11) = (q * t * t * t / 3.0, q * t * t / 2.0, q * t);
    let r = sigma_ns * sigma_ns;
    // Start from a diffuse prior and iterate until the covariance stops moving.
    let (mut a, mut b, mut c) = (1e18, 0.0, 1e12);
    let mut prior = a;
    for _ in 0..1_000_000 {
        let pa = a + 2.0 * t * b + t * t * c + q00;
        let pb = b + t * c + q01;
        let pc = c + q11;
        let s = pa + r;
        let (k0, k1) = (pa / s, pb / s);
        let (na, nb, nc) = ((1.0 - k0) * pa, (1.0 - k0) * pb, pc - k1 * pb);
        let done = (na - a).abs() <= 1e-12 * na && (nc - c).abs() <= 1e-12 * nc;
        (a, b, c, prior) = (na, nb, nc, pa);
        if done {
            break;
        }
    }
    Floor {
        phase_posterior_ns: a.sqrt(),
        phase_prior_ns: prior.sqrt(),
        freq_ppb: c.sqrt(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    /// The figures quoted in the reference study for the standard model.
    #[test]
    fn matches_published_floor() {
        let f = kalman_floor(10.0, 1.0, 1.0);
        assert!(
            close(f.phase_posterior_ns, 6.0, 0.05) && close(f.phase_prior_ns, 7.51, 0.05),
            "{f:?}"
        );
        assert!(close(f.freq_ppb, 2.0, 0.05), "{f:?}");
        let f = kalman_floor(100.0, 1.0, 1.0);
        assert!(
            close(f.phase_posterior_ns, 36.3, 0.1) && close(f.phase_prior_ns, 39.0, 0.1),
            "{f:?}"
        );
        let f = kalman_floor(1000.0, 1.0, 1.0);
        assert!(close(f.phase_posterior_ns, 209.1, 0.5), "{f:?}");
        let f = kalman_floor(10.0, 10.0, 1.0);
        assert!(
            close(f.phase_posterior_ns, 8.7, 0.05) && close(f.phase_prior_ns, 17.6, 0.1),
            "{f:?}"
        );
        let f = kalman_floor(10.0, 1.0, 0.25);
        assert!(
            close(f.phase_posterior_ns, 3.82, 0.05) && close(f.phase_prior_ns, 4.14, 0.05),
            "{f:?}"
        );
    }

    #[test]
    fn more_noise_raises_the_floor() {
        let a = kalman_floor(10.0, 1.0, 1.0);
        let b = kalman_floor(20.0, 1.0, 1.0);
        assert!(b.phase_posterior_ns > a.phase_posterior_ns);
        let c = kalman_floor(10.0, 2.0, 1.0);
        assert!(c.phase_posterior_ns > a.phase_posterior_ns);
    }
}

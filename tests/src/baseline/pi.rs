//! linuxptp `pi.c` with phc2sys's constants (kp = 0.7, ki = 0.3 per second).

use super::{LinuxptpServo, Phc2sysConfig, State};

const FREQ_EST_MARGIN: f64 = 0.001;
const NSEC_PER_SEC: f64 = 1e9;

/// The PI servo.
#[derive(Clone, Debug)]
pub struct Pi {
    cfg: Phc2sysConfig,
    kp_const: f64,
    ki_const: f64,
    kp: f64,
    ki: f64,
    freq_est_interval_s: f64,
    offset: [f64; 2],
    local: [u64; 2],
    drift: f64,
    count: u8,
}

impl Pi {
    /// phc2sys defaults: `pi_proportional_const` 0.7, `pi_integral_const` 0.3.
    pub fn phc2sys(cfg: Phc2sysConfig) -> Self {
        Self::with_constants(cfg, 0.7, 0.3)
    }

    /// Explicit per-second constants (as `-P`/`-I`).
    pub fn with_constants(cfg: Phc2sysConfig, kp: f64, ki: f64) -> Self {
        let mut s = Self {
            cfg,
            kp_const: kp,
            ki_const: ki,
            kp: 0.0,
            ki: 0.0,
            freq_est_interval_s: 0.0,
            offset: [0.0; 2],
            local: [0; 2],
            drift: 0.0,
            count: 0,
        };
        s.sync_interval(1.0);
        s
    }
}

impl LinuxptpServo for Pi {
    fn sync_interval(&mut self, interval: f64) {
        // A non-zero const replaces the scale, forces the exponent to 0 and
        // loosens the norm caps to 1.0 and 2.0.
        self.kp = self.kp_const.min(1.0 / interval);
        self.ki = self.ki_const.min(2.0 / interval);
        self.freq_est_interval_s = (0.016 / self.ki).min(1000.0);
    }

    fn reset(&mut self) {
        self.count = 0;
    }

    fn sample(&mut self, offset: f64, local: u64, first_update: bool) -> (f64, State) {
        let max = self.cfg.max_frequency_ppb;
        match self.count {
            0 => {
                self.offset[0] = offset;
                self.local[0] = local;
                self.count = 1;
                (self.drift, State::Unlocked)
            }
            1 => {
                self.offset[1] = offset;
                self.local[1] = local;
                if self.local[1] <= self.local[0] {
                    self.count = 0;
                    return (self.drift, State::Unlocked);
                }
                #[allow(
                    clippy::cast_precision_loss,
                    reason = "sample spacing far below 2^53 ns"
                )]
                let dt = (self.local[1] - self.local[0]) as f64;
                if dt * (1.0 + FREQ_EST_MARGIN) < self.freq_est_interval_s * NSEC_PER_SEC {
                    return (self.drift, State::Unlocked);
                }
                self.drift += (NSEC_PER_SEC - self.drift) * (self.offset[1] - self.offset[0]) / dt;
                self.drift = self.drift.clamp(-max, max);
                let jump = (first_update
                    && self.cfg.first_step_threshold_ns > 0.0
                    && offset.abs() > self.cfg.first_step_threshold_ns)
                    || (self.cfg.step_threshold_ns > 0.0
                        && offset.abs() > self.cfg.step_threshold_ns);
                self.count = 2;
                (self.drift, if jump { State::Jump } else { State::Locked })
            }
            _ => {
                if self.cfg.step_threshold_ns > 0.0 && offset.abs() > self.cfg.step_threshold_ns {
                    self.count = 0;
                    return (self.drift, State::Unlocked);
                }
                let ki_term = self.ki * offset;
                let ppb = self.kp * offset + self.drift + ki_term;
                let out = if ppb < -max {
                    -max
                } else if ppb > max {
                    max
                } else {
                    self.drift += ki_term;
                    ppb
                };
                (out, State::Locked)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_sample_frequency_estimate_and_first_step() {
        let mut pi = Pi::phc2sys(Phc2sysConfig::default());
        assert_eq!(
            pi.sample(500_000_000.0, 1_000_000_000, true).1,
            State::Unlocked
        );
        let (ppb, st) = pi.sample(500_050_000.0, 2_000_000_000, true);
        assert_eq!(st, State::Jump);
        assert!((ppb - 50_000.0 * (1.0 - 0.0)).abs() < 1.0, "{ppb}");
        // a locked sample: kp·x + ki·x on top of the drift
        let (ppb2, st) = pi.sample(100.0, 3_000_000_000, false);
        assert_eq!(st, State::Locked);
        assert!((ppb2 - (ppb + 70.0 + 30.0)).abs() < 1e-6);
    }

    #[test]
    fn anti_windup_keeps_integral_when_clamped() {
        let cfg = Phc2sysConfig {
            max_frequency_ppb: 1000.0,
            ..Phc2sysConfig::default()
        };
        let mut pi = Pi::phc2sys(cfg);
        let _ = pi.sample(0.0, 1_000_000_000, true);
        let _ = pi.sample(0.0, 2_000_000_000, true);
        let (out, _) = pi.sample(1e6, 3_000_000_000, false);
        assert!((out - 1000.0).abs() < f64::EPSILON);
        let (out, _) = pi.sample(0.0, 4_000_000_000, false);
        assert!(out.abs() < f64::EPSILON, "integral must not wind up: {out}");
    }
}

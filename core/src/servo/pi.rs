//! The PI servo with linuxptp's semantics (`pi.c`), in fixed point.
//!
//! Gains follow linuxptp's schedule `k = min(scale · T^exponent, norm_max / T)`,
//! computed with `libm` when the interval is set (configuration time, not the
//! sample path). Sample 0 is stored; sample 1 estimates the frequency from the
//! two raw samples and may step; later samples apply `kp·x + ki·x` with the
//! integral frozen while the output is clamped (anti-windup).

use fixed::types::I32F32;

use super::{
    Action, Applied, Dispatcher, OffsetSample, Servo, ServoConfig, ServoOutput, ServoState,
};
use crate::time::{Duration, Ppb, Timestamp};

/// The gain schedule (linuxptp `pi_*` options).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PiConfig {
    /// `pi_proportional_scale`.
    pub kp_scale: f64,
    /// `pi_proportional_exponent`.
    pub kp_exponent: f64,
    /// `pi_proportional_norm_max`.
    pub kp_norm_max: f64,
    /// `pi_integral_scale`.
    pub ki_scale: f64,
    /// `pi_integral_exponent`.
    pub ki_exponent: f64,
    /// `pi_integral_norm_max`.
    pub ki_norm_max: f64,
}

impl PiConfig {
    /// phc2sys's defaults: `kp = min(0.7, 1/T)`, `ki = min(0.3, 2/T)`.
    pub const PHC2SYS: Self = Self {
        kp_scale: 0.7,
        kp_exponent: 0.0,
        kp_norm_max: 1.0,
        ki_scale: 0.3,
        ki_exponent: 0.0,
        ki_norm_max: 2.0,
    };
    /// ptp4l's hardware-timestamping defaults.
    pub const PTP4L_HW: Self = Self {
        kp_scale: 0.7,
        kp_exponent: -0.3,
        kp_norm_max: 0.7,
        ki_scale: 0.3,
        ki_exponent: 0.4,
        ki_norm_max: 0.3,
    };

    /// The gains (kp, ki) in ppb per ns of offset for update interval `t_s`.
    pub fn gains(&self, t_s: f64) -> (f64, f64) {
        let t = if t_s > 0.0 && t_s.is_finite() {
            t_s
        } else {
            1.0
        };
        let kp = (self.kp_scale * libm::pow(t, self.kp_exponent)).min(self.kp_norm_max / t);
        let ki = (self.ki_scale * libm::pow(t, self.ki_exponent)).min(self.ki_norm_max / t);
        (kp, ki)
    }
}

impl Default for PiConfig {
    fn default() -> Self {
        Self::PHC2SYS
    }
}

/// linuxptp's `FREQ_EST_MARGIN`.
const FREQ_EST_MARGIN_PPM: i64 = 1_000;

/// The PI servo. State is a few dozen bytes.
#[derive(Clone, Debug)]
pub struct Pi {
    dispatcher: Dispatcher,
    gains: PiConfig,
    kp: I32F32,
    ki: I32F32,
    /// Minimum spacing of the two samples of the frequency estimate, ns.
    freq_est_interval_ns: i64,
    offset: [Duration; 2],
    local: [Timestamp; 2],
    /// The frequency correction (keel sign: positive = faster); linuxptp's
    /// `drift` negated.
    integral: Ppb,
    count: u8,
    pending_step: bool,
}

#[cfg(feature = "defmt")]
impl defmt::Format for Pi {
    /// The servo's state in one line.
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "Pi {{ state: {}, integral: {}, samples: {=u8} }}",
            self.dispatcher.state(),
            self.integral,
            self.count
        );
    }
}

impl Pi {
    /// A PI servo with update interval `interval` and `freq` already in force
    /// (linuxptp reads it from the kernel so a restart continues from it).
    pub fn new(config: ServoConfig, gains: PiConfig, interval: Duration, freq: Ppb) -> Self {
        let mut s = Self {
            dispatcher: Dispatcher::new(config),
            gains,
            kp: I32F32::ZERO,
            ki: I32F32::ZERO,
            freq_est_interval_ns: 0,
            offset: [Duration::ZERO; 2],
            local: [Timestamp::EPOCH; 2],
            integral: freq.clamp_abs(config.max_frequency),
            count: 0,
            pending_step: false,
        };
        s.set_interval(interval);
        s
    }

    /// The frequency correction that would keep the clock on time: the
    /// integral term (linuxptp's `drift`, negated; positive: the clock must
    /// run faster). `None` before the two-sample estimate.
    pub fn frequency_estimate(&self) -> Option<Ppb> {
        (self.count >= 2).then_some(self.integral)
    }

    fn output(&mut self, action: Action, state: ServoState, offset: Duration) -> ServoOutput {
        let state = self.dispatcher.settle(state, offset);
        self.pending_step = matches!(action, Action::Step { .. });
        let freq = match action {
            Action::SetFrequency(f) | Action::Step { freq: f, .. } => f,
            Action::None => self.integral,
        };
        ServoOutput {
            action,
            state,
            offset,
            freq,
            error_bound: None,
            next_update: None,
        }
    }
}

/// `gain × offset` in ppb, saturating (gain in ppb per ns, offset in ns).
fn gain_times(gain: I32F32, offset: Duration) -> Ppb {
    let bits = i128::from(gain.to_bits()).saturating_mul(i128::from(offset.as_nanos()));
    Ppb::from_bits(i64::try_from(bits).unwrap_or(if bits < 0 { i64::MIN } else { i64::MAX }))
}

impl Servo for Pi {
    fn set_config(&mut self, config: ServoConfig) {
        self.dispatcher.config = config;
    }

    fn set_interval(&mut self, interval: Duration) {
        #[allow(clippy::cast_precision_loss, reason = "configuration-time float")]
        let t = interval.as_nanos() as f64 * 1e-9;
        let (kp, ki) = self.gains.gains(t);
        self.kp = I32F32::saturating_from_num(kp);
        self.ki = I32F32::saturating_from_num(ki);
        // freq_est_interval = 0.016 / ki, at most 1000 s.
        let est = if ki > 0.0 {
            (0.016 / ki).min(1000.0)
        } else {
            1000.0
        };
        #[allow(clippy::cast_possible_truncation, reason = "at most 1e12 ns")]
        let est_ns = (est * 1e9) as i64;
        self.freq_est_interval_ns = est_ns;
    }

    fn sample(&mut self, s: &OffsetSample) -> ServoOutput {
        let max = self.dispatcher.config.max_frequency;
        match self.count {
            0 => {
                self.offset[0] = s.offset;
                self.local[0] = s.local_ts;
                self.count = 1;
                self.output(Action::None, ServoState::Unlocked, s.offset)
            }
            1 => {
                self.offset[1] = s.offset;
                self.local[1] = s.local_ts;
                let dt = self.local[1].duration_since(self.local[0]).as_nanos();
                if dt <= 0 {
                    self.count = 0;
                    return self.output(Action::None, ServoState::Unlocked, s.offset);
                }
                // Wait until the samples are far enough apart (with linuxptp's margin).
                let dt_with_margin = dt.saturating_add(dt / FREQ_EST_MARGIN_PPM);
                if dt_with_margin < self.freq_est_interval_ns {
                    return self.output(Action::None, ServoState::Unlocked, s.offset);
                }
                // Frequency error of the clock as it runs now: Δoffset/Δt, in ppb.
                let d_off = self.offset[1].saturating_sub(self.offset[0]).as_nanos();
                let rate_bits =
                    i128::from(d_off).saturating_mul(1_000_000_000i128 << 32) / i128::from(dt);
                let rate = Ppb::from_bits(i64::try_from(rate_bits).unwrap_or(if rate_bits < 0 {
                    i64::MIN
                } else {
                    i64::MAX
                }));
                // linuxptp: drift += (1e9 - drift)·rate/1e9, drift = -correction.
                let cross = gain_times(
                    self.integral.to_fixed(),
                    Duration::from_nanos(rate.floor_ppb()),
                );
                let cross = Ppb::from_bits(cross.to_bits() / 1_000_000_000);
                self.integral = self
                    .integral
                    .saturating_sub(rate)
                    .saturating_sub(cross)
                    .clamp_abs(max);
                self.count = 2;
                let freq = self.integral;
                if self
                    .dispatcher
                    .config
                    .wants_step(s.offset, self.dispatcher.first_update())
                {
                    let step = s.offset.saturating_neg();
                    self.output(Action::Step { step, freq }, ServoState::Jump, s.offset)
                } else {
                    self.output(Action::SetFrequency(freq), ServoState::Locked, s.offset)
                }
            }
            _ => {
                let cfg = self.dispatcher.config;
                if cfg.step_threshold > Duration::ZERO
                    && s.offset.saturating_abs() > cfg.step_threshold
                {
                    self.count = 0;
                    return self.output(Action::None, ServoState::Unlocked, s.offset);
                }
                let ki_term = gain_times(self.ki, s.offset).saturating_neg();
                let kp_term = gain_times(self.kp, s.offset).saturating_neg();
                let out = kp_term
                    .saturating_add(self.integral)
                    .saturating_add(ki_term);
                let clamped = out.clamp_abs(max);
                if clamped == out {
                    self.integral = self.integral.saturating_add(ki_term);
                }
                self.output(Action::SetFrequency(clamped), ServoState::Locked, s.offset)
            }
        }
    }

    fn applied(&mut self, a: &Applied) {
        // A step that did not happen leaves the history meaningless (linuxptp
        // resets the servo when adjtime fails).
        if self.pending_step && a.step.is_none() {
            self.count = 0;
        }
        self.pending_step = false;
    }

    fn reset(&mut self) {
        self.count = 0;
        self.pending_step = false;
    }

    fn disruption(&mut self) {
        self.reset();
        self.dispatcher.restart();
    }

    fn state(&self) -> ServoState {
        self.dispatcher.state()
    }

    fn no_sample(&mut self, local_ts: Timestamp) -> ServoOutput {
        let _ = local_ts;
        // The frequency in force stays (the trait's default reports zero).
        ServoOutput::hold(self.dispatcher.state(), self.integral)
    }
}

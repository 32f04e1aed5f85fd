//! linuxptp `linreg.c` (Lichvar 2014): least squares over the newest 4…64
//! points, the window chosen by an exponential average of prediction error.

use super::{LinuxptpServo, Phc2sysConfig, State};

const MIN_SIZE: usize = 2;
const MAX_SIZE: usize = 6;
const MAX_POINTS: usize = 1 << MAX_SIZE;
const INITIAL_UPDATES: u32 = 10;
const ERR_SMOOTH: f64 = 0.02;
const ERR_EXTRA: f64 = 1.05;

#[derive(Clone, Copy, Debug, Default)]
struct Point {
    /// Local time with the servo's frequency correction removed, ns.
    x: i64,
    /// Reference time expressed on the local time line, ns.
    y: i64,
    w: f64,
}

#[derive(Clone, Copy, Debug, Default)]
struct Fit {
    slope: f64,
    intercept: f64,
    err: f64,
    err_updates: u32,
    valid: bool,
}

/// The linreg servo.
#[derive(Clone, Debug)]
pub struct LinReg {
    cfg: Phc2sysConfig,
    points: [Point; MAX_POINTS],
    num_points: usize,
    last_point: usize,
    /// Reference point: x (corrected local) and y (raw local time of the newest sample).
    ref_x: i64,
    ref_y: u64,
    x_remainder: f64,
    fits: [Fit; MAX_SIZE - MIN_SIZE + 1],
    clock_freq: f64,
    size: usize,
    update_interval_s: f64,
}

impl LinReg {
    /// A fresh servo with phc2sys's thresholds.
    pub fn new(cfg: Phc2sysConfig) -> Self {
        Self {
            cfg,
            points: [Point::default(); MAX_POINTS],
            num_points: 0,
            last_point: 0,
            ref_x: 0,
            ref_y: 0,
            x_remainder: 0.0,
            fits: [Fit::default(); MAX_SIZE - MIN_SIZE + 1],
            clock_freq: 0.0,
            size: 0,
            update_interval_s: 1.0,
        }
    }

    #[allow(
        clippy::cast_possible_wrap,
        clippy::cast_possible_truncation,
        clippy::cast_precision_loss,
        reason = "local timestamps and intervals are far inside the i64 and f64 ranges here"
    )]
    fn update_reference(&mut self, local: u64) {
        if self.num_points == 0 {
            self.ref_x = 0;
            self.ref_y = local;
            return;
        }
        let y_interval = local.wrapping_sub(self.ref_y) as i64;
        // Remove the current frequency correction from the interval.
        let mut x_interval = y_interval as f64 / (1.0 + self.clock_freq / 1e9);
        x_interval += self.x_remainder;
        let whole = x_interval.trunc();
        self.x_remainder = x_interval - whole;
        self.move_reference(whole as i64, y_interval);
        self.ref_y = local;
    }

    /// linuxptp's `move_reference`: the reference point moves by (`x`, `y`)
    /// and every line's intercept is carried to it, so a line's intercept
    /// always predicts the newest point.
    #[allow(clippy::cast_precision_loss, reason = "intervals far below 2^53 ns")]
    fn move_reference(&mut self, x: i64, y: i64) {
        self.ref_x += x;
        for fit in &mut self.fits {
            fit.intercept += x as f64 * fit.slope - y as f64;
        }
    }

    #[allow(
        clippy::cast_possible_wrap,
        clippy::cast_possible_truncation,
        reason = "see update_reference"
    )]
    fn add_sample(&mut self, offset: f64) {
        self.last_point = (self.last_point + 1) % MAX_POINTS;
        self.points[self.last_point] = Point {
            x: self.ref_x,
            y: self.ref_y as i64 - offset.round() as i64,
            w: 1.0,
        };
        if self.num_points < MAX_POINTS {
            self.num_points += 1;
        }
    }

    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_wrap,
        reason = "see update_reference"
    )]
    fn regress(&mut self) {
        let (mut xs, mut ys, mut xys, mut x2s, mut ws) = (0.0, 0.0, 0.0, 0.0, 0.0);
        let ref_y = self.ref_y as i64;
        let y0 = (self.points[self.last_point].y - ref_y) as f64;
        let mut i = 0;
        for size in MIN_SIZE..=MAX_SIZE {
            let n = 1 << size;
            if self.num_points < n {
                break;
            }
            let fit = &mut self.fits[size - MIN_SIZE];
            // Update the moving average of the prediction error.
            if fit.valid {
                let e = (fit.intercept - y0).abs();
                if fit.err_updates < INITIAL_UPDATES {
                    fit.err *= f64::from(fit.err_updates);
                    fit.err += e;
                    fit.err_updates += 1;
                    fit.err /= f64::from(fit.err_updates);
                } else {
                    fit.err += ERR_SMOOTH * (e - fit.err);
                }
            }
            while i < n {
                // Newest to oldest.
                let l = (MAX_POINTS + self.last_point - i) % MAX_POINTS;
                let p = self.points[l];
                let x = (p.x - self.ref_x) as f64;
                let y = (p.y - ref_y) as f64;
                xs += x * p.w;
                ys += y * p.w;
                xys += x * y * p.w;
                x2s += x * x * p.w;
                ws += p.w;
                i += 1;
            }
            fit.slope = (xys - xs * ys / ws) / (x2s - xs * xs / ws);
            fit.intercept = (ys - fit.slope * xs) / ws;
            fit.valid = fit.slope.is_finite() && fit.intercept.is_finite();
        }
    }

    fn update_size(&mut self) {
        let mut best_size = 0;
        let mut best_err = 0.0;
        for size in MIN_SIZE..=MAX_SIZE {
            let fit = &self.fits[size - MIN_SIZE];
            if (best_size == 0 && fit.valid)
                || (fit.valid
                    && best_err * ERR_EXTRA > fit.err
                    && fit.err_updates >= INITIAL_UPDATES)
            {
                best_size = size;
                best_err = fit.err;
            }
        }
        self.size = best_size;
    }
}

impl LinuxptpServo for LinReg {
    fn sync_interval(&mut self, interval_s: f64) {
        self.update_interval_s = interval_s;
    }

    fn reset(&mut self) {
        *self = Self {
            update_interval_s: self.update_interval_s,
            ..Self::new(self.cfg)
        };
    }

    #[allow(
        clippy::cast_possible_wrap,
        clippy::cast_possible_truncation,
        reason = "see update_reference"
    )]
    fn sample(&mut self, offset: f64, local: u64, first_update: bool) -> (f64, State) {
        self.update_reference(local);
        self.add_sample(offset);
        self.regress();
        self.update_size();
        if self.size < MIN_SIZE {
            return (-self.clock_freq, State::Unlocked);
        }
        let intercept = self.fits[self.size - MIN_SIZE].intercept;
        let jump = (first_update
            && self.cfg.first_step_threshold_ns > 0.0
            && intercept.abs() > self.cfg.first_step_threshold_ns)
            || (self.cfg.step_threshold_ns > 0.0 && intercept.abs() > self.cfg.step_threshold_ns);
        let state = if jump {
            // The clock will be stepped by -offset: the reference point's
            // local time moves with it (so the history survives the step),
            // and the lines' intercepts with it (so the stepped offset is
            // not corrected a second time by the frequency).
            let step = -(offset.round() as i64);
            self.ref_y = self.ref_y.wrapping_add_signed(step);
            self.move_reference(0, step);
            State::Jump
        } else {
            State::Locked
        };
        let fit = self.fits[self.size - MIN_SIZE];
        self.clock_freq = 1e9 * (fit.slope - 1.0);
        // Correct the offset over a longer interval with larger windows.
        let corr_interval = if self.size <= 4 {
            1.0
        } else {
            (self.size / 2) as f64
        };
        self.clock_freq += fit.intercept / self.update_interval_s / corr_interval;
        let max = self.cfg.max_frequency_ppb;
        self.clock_freq = self.clock_freq.clamp(-max, max);
        (-self.clock_freq, state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock running 10 ppm fast with no noise: after four points linreg
    /// reports the exact frequency.
    #[test]
    fn learns_a_constant_frequency() {
        let mut l = LinReg::new(Phc2sysConfig::default());
        let mut state = State::Unlocked;
        let mut ppb = 0.0;
        for k in 0..4u64 {
            let offset = 100.0 + 10_000.0 * k as f64;
            (ppb, state) = l.sample(offset, 1_000_000_000 * (k + 1), false);
        }
        assert_eq!(state, State::Locked);
        // -ppb is the frequency to set: slow down by 10 ppm, and also remove
        // the newest offset (100 + 30000 ns) within one second.
        assert!((-ppb - (-10_000.0 - 30_100.0)).abs() < 1.0, "{ppb}");
    }
}

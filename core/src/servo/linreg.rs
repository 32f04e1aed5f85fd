//! linuxptp's linreg servo (`linreg.c`, Lichvar 2014), in integer arithmetic.
//!
//! Least squares through the newest 4, 8, 16, 32 or 64 points of
//! (local time with the servo's own frequency correction removed, reference
//! time on the local time line). Each window size keeps an average of how
//! far its last line missed the next point (the mean of its first 10
//! misses, then an exponential average with weight 1/50); the servo uses the
//! size whose average is lowest, a larger one only when it is more than 5 %
//! better. The frequency set is the line's slope plus its offset removed
//! over one interval (windows up to 16 points) or `size / 2` intervals.
//!
//! The sums and the chosen line are exact (`i128`; a sum that would overflow
//! makes its window unusable); the miss averages are [`Real`]. No floats.

use super::{
    Action, Applied, Dispatcher, OffsetSample, Servo, ServoConfig, ServoOutput, ServoState,
};
use crate::num::Real;
use crate::time::{Duration, Ppb, Timestamp};

/// Windows of 2^2 … 2^6 points.
const MIN_SIZE: usize = 2;
const MAX_SIZE: usize = 6;
const MAX_POINTS: usize = 1 << MAX_SIZE;
const SIZES: usize = MAX_SIZE - MIN_SIZE + 1;
/// Misses averaged plainly before the exponential average takes over.
const INITIAL_UPDATES: u8 = 10;
/// Weight of a new miss in the exponential average.
const ERR_SMOOTH: Real = Real::ratio(1, 50);
/// A larger window must miss by less than its smaller rival / 1.05.
const ERR_EXTRA: Real = Real::ratio(105, 100);
/// `10⁹ · 2³²`: a fraction as [`Ppb`] bits.
const PPB_BITS_PER_UNIT: i128 = 1_000_000_000 << 32;
/// Fractional bits of a stored line's offset.
const INTERCEPT_FRAC: u32 = 16;

/// One sample: corrected local time and reference time, both on the local
/// time line, ns (wrapping).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Point {
    x: i64,
    y: i64,
}

/// One window size's line and its miss average.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Fit {
    /// The line's slope less one.
    slope_m1: Real,
    /// The line's reference time at the reference point, relative to it, ns
    /// (carried along when the reference point moves, so it predicts the
    /// newest point).
    intercept: Real,
    /// Average |miss| of the line at the next point, ns.
    err: Real,
    err_updates: u8,
    valid: bool,
}

/// A window's sums, relative to the reference point (`d = y − x`).
#[derive(Clone, Copy, Debug, Default)]
struct Sums {
    n: i128,
    x: i128,
    d: i128,
    xx: i128,
    xd: i128,
}

impl Sums {
    /// `(n·Σxd − Σx·Σd, n·Σxx − (Σx)²)`: the slope less one is their ratio.
    fn slope_terms(&self) -> Option<(i128, i128)> {
        let num = self
            .n
            .checked_mul(self.xd)?
            .checked_sub(self.x.checked_mul(self.d)?)?;
        let den = self
            .n
            .checked_mul(self.xx)?
            .checked_sub(self.x.checked_mul(self.x)?)?;
        (den > 0).then_some((num, den))
    }

    /// The line's slope less one as [`Ppb`] bits, and its value at the
    /// reference point (`(Σd − (slope − 1)·Σx) / n`) in ns × 2¹⁶, exactly.
    fn line(&self) -> Option<(i64, i64)> {
        let (num, den) = self.slope_terms()?;
        let slope = ratio_scaled(num, den, PPB_BITS_PER_UNIT)?;
        let top = self
            .d
            .checked_mul(den)?
            .checked_sub(num.checked_mul(self.x)?)?;
        let intercept = ratio_scaled(top, self.n.checked_mul(den)?, 1 << INTERCEPT_FRAC)?;
        Some((i64::try_from(slope).ok()?, i64::try_from(intercept).ok()?))
    }

    /// The same line's slope less one and value at the reference point
    /// (ns), as [`Real`] (to 2⁻³⁰ relative; for the miss averages).
    fn line_real(&self) -> Option<(Real, Real)> {
        let (num, den) = self.slope_terms()?;
        let slope_m1 = real(num) / real(den);
        #[allow(clippy::cast_possible_truncation, reason = "n ≤ 64")]
        let n = Real::from_i64(self.n as i64);
        Some((slope_m1, (real(self.d) - slope_m1 * real(self.x)) / n))
    }
}

/// `a · scale / b` truncated toward zero (`b > 0`, `0 < scale < 2⁶³`): the
/// whole part exactly, the remainder's share with the low bits of remainder
/// and divisor dropped where `remainder · scale` would not fit in `i128`
/// (the divisor keeps at least 62 bits, so the result is off by at most
/// `scale / 2⁶¹`).
fn ratio_scaled(a: i128, b: i128, scale: i128) -> Option<i128> {
    if b <= 0 || scale <= 0 {
        return None;
    }
    let whole = a.checked_div(b)?;
    let mut rem = a.checked_rem(b)?;
    let mut b = b;
    let bits = |v: i128| 128 - v.unsigned_abs().leading_zeros();
    let excess = (bits(rem) + bits(scale)).saturating_sub(126);
    if excess > 0 {
        rem >>= excess;
        b >>= excess;
    }
    whole.checked_mul(scale)?.checked_add(rem * scale / b)
}

/// An `i128` as [`Real`], keeping its top 62 bits.
fn real(v: i128) -> Real {
    let bits = 128 - v.unsigned_abs().leading_zeros();
    let shift = bits.saturating_sub(62);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_possible_wrap,
        reason = "shifted into 62 bits; shift ≤ 66"
    )]
    Real::from_i64((v >> shift) as i64).scale2(shift as i32)
}

/// linuxptp's linreg servo (state ≈ 1.2 KiB).
#[derive(Clone, Debug)]
pub struct LinReg {
    dispatcher: Dispatcher,
    points: [Point; MAX_POINTS],
    num_points: u8,
    last_point: u8,
    /// The reference point: corrected local time (ns) and raw local time of
    /// the newest sample (ns, wrapping).
    ref_x: i64,
    ref_y: i64,
    /// The corrected local time's fraction, ns × 2³² (`|·| < 2³²`).
    x_remainder: i64,
    fits: [Fit; SIZES],
    /// The window in use, log₂ points; 0 before the first line.
    size: u8,
    /// The frequency correction in force.
    clock_freq: Ppb,
    interval_ns: i64,
    /// The step the last output asked for (assumed applied until told).
    pending_step: Option<Duration>,
    /// The chosen line's slope as a frequency correction, if there is a line.
    slope: Option<Ppb>,
}

#[cfg(feature = "defmt")]
impl defmt::Format for LinReg {
    /// The servo's state in one line.
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "LinReg {{ state: {}, points: {=u8}, window: {=u8}, freq: {} }}",
            self.dispatcher.state(),
            self.num_points,
            self.size,
            self.clock_freq
        );
    }
}

impl LinReg {
    /// A linreg servo for updates `interval` apart with `freq` already in
    /// force.
    pub fn new(config: ServoConfig, interval: Duration, freq: Ppb) -> Self {
        let mut s = Self {
            dispatcher: Dispatcher::new(config),
            points: [Point::default(); MAX_POINTS],
            num_points: 0,
            last_point: 0,
            ref_x: 0,
            ref_y: 0,
            x_remainder: 0,
            fits: [Fit::default(); SIZES],
            size: 0,
            clock_freq: freq.clamp_abs(config.max_frequency),
            interval_ns: 1_000_000_000,
            pending_step: None,
            slope: None,
        };
        s.set_interval(interval);
        s
    }

    /// The frequency correction that would keep the clock on time: the
    /// chosen line's slope (positive: the clock must run faster), without
    /// the offset correction the output adds. `None` before the first line
    /// (4 points).
    pub fn frequency_estimate(&self) -> Option<Ppb> {
        self.slope
    }

    /// Moves the reference point to raw local time `local` (ns, wrapping),
    /// advancing the corrected local time by the raw span with the
    /// correction in force removed: `span / (1 + c)`.
    fn update_reference(&mut self, local: i64) {
        if self.num_points == 0 {
            self.ref_x = 0;
            self.ref_y = local;
            self.x_remainder = 0;
            return;
        }
        let span = i128::from(local.wrapping_sub(self.ref_y));
        let c = i128::from(self.clock_freq.to_bits());
        let den = PPB_BITS_PER_UNIT + c;
        // span − span·c/(1 + c), in ns × 2³²; a correction of −100 % or
        // beyond leaves the span as it is.
        let removed = if den > 0 {
            ratio_scaled(span * c, den, 1 << 32).unwrap_or(0)
        } else {
            0
        };
        let x = (span << 32)
            .saturating_sub(removed)
            .saturating_add(i128::from(self.x_remainder));
        let whole = x / (1 << 32);
        #[allow(clippy::cast_possible_truncation, reason = "|x mod 2³²| < 2³²")]
        {
            self.x_remainder = (x % (1 << 32)) as i64;
        }
        let whole = i64::try_from(whole).unwrap_or(if whole < 0 { i64::MIN } else { i64::MAX });
        self.move_reference(whole, local.wrapping_sub(self.ref_y));
    }

    /// linuxptp's `move_reference`: the reference point moves by `x` in
    /// corrected local time and `y` on the local time line (ns; a step of
    /// the clock moves it by the step); each line's intercept is carried
    /// along (`+ x·slope − y`), so it predicts the newest point and its miss
    /// can be measured there.
    fn move_reference(&mut self, x: i64, y: i64) {
        self.ref_x = self.ref_x.wrapping_add(x);
        self.ref_y = self.ref_y.wrapping_add(y);
        for fit in self.fits.iter_mut().filter(|f| f.valid) {
            fit.intercept = fit.intercept
                + Real::from_i64(x.wrapping_sub(y))
                + fit.slope_m1 * Real::from_i64(x);
        }
    }

    fn add_sample(&mut self, offset: Duration) {
        #[allow(clippy::cast_possible_truncation, reason = "modulo 64")]
        {
            self.last_point = ((usize::from(self.last_point) + 1) % MAX_POINTS) as u8;
        }
        self.points[usize::from(self.last_point)] = Point {
            x: self.ref_x,
            y: self.ref_y.wrapping_sub(offset.as_nanos()),
        };
        if usize::from(self.num_points) < MAX_POINTS {
            self.num_points += 1;
        }
    }

    /// Updates every window's miss average with the newest point, refits
    /// them, and returns their sums.
    fn regress(&mut self) -> [Option<Sums>; SIZES] {
        let mut out = [None; SIZES];
        let newest = self.points[usize::from(self.last_point)];
        let y0 = Real::from_i64(newest.y.wrapping_sub(self.ref_y));
        let mut sums = Sums::default();
        let mut overflow = false;
        let mut i = 0;
        for (k, fit) in self.fits.iter_mut().enumerate() {
            let n = 1usize << (MIN_SIZE + k);
            if usize::from(self.num_points) < n {
                break;
            }
            if fit.valid {
                let e = (fit.intercept - y0).abs();
                if fit.err_updates < INITIAL_UPDATES {
                    let before = Real::from_i64(i64::from(fit.err_updates));
                    fit.err_updates += 1;
                    fit.err = (fit.err * before + e) / Real::from_i64(i64::from(fit.err_updates));
                } else {
                    fit.err = fit.err + ERR_SMOOTH * (e - fit.err);
                }
            }
            while i < n {
                // Newest to oldest.
                let p = self.points[(MAX_POINTS + usize::from(self.last_point) - i) % MAX_POINTS];
                let x = i128::from(p.x.wrapping_sub(self.ref_x));
                let d = i128::from(p.y.wrapping_sub(self.ref_y)) - x;
                sums.n += 1;
                sums.x += x;
                sums.d += d;
                match (
                    x.checked_mul(x).and_then(|v| sums.xx.checked_add(v)),
                    x.checked_mul(d).and_then(|v| sums.xd.checked_add(v)),
                ) {
                    (Some(xx), Some(xd)) => (sums.xx, sums.xd) = (xx, xd),
                    _ => overflow = true,
                }
                i += 1;
            }
            let line = if overflow { None } else { sums.line_real() };
            fit.valid = line.is_some();
            (fit.slope_m1, fit.intercept) = line.unwrap_or((Real::ZERO, Real::ZERO));
            out[k] = fit.valid.then_some(sums);
        }
        out
    }

    /// The window with the lowest miss average (a larger one only when more
    /// than 5 % better and past its first 10 misses); 0 if none is valid.
    fn update_size(&mut self) {
        let mut best: Option<(usize, Real)> = None;
        for (k, fit) in self.fits.iter().enumerate() {
            if !fit.valid {
                continue;
            }
            let better = match best {
                None => true,
                Some((_, err)) => err * ERR_EXTRA > fit.err && fit.err_updates >= INITIAL_UPDATES,
            };
            if better {
                best = Some((k, fit.err));
            }
        }
        #[allow(clippy::cast_possible_truncation, reason = "≤ 6")]
        {
            self.size = best.map_or(0, |(k, _)| (MIN_SIZE + k) as u8);
        }
    }

    fn output(&mut self, action: Action, state: ServoState, offset: Duration) -> ServoOutput {
        let state = self.dispatcher.settle(state, offset);
        self.pending_step = match action {
            Action::Step { step, .. } => Some(step),
            _ => None,
        };
        ServoOutput {
            action,
            state,
            offset,
            freq: self.clock_freq,
            error_bound: None,
            next_update: None,
        }
    }
}

impl Servo for LinReg {
    fn sample(&mut self, s: &OffsetSample) -> ServoOutput {
        #[allow(clippy::cast_possible_wrap, reason = "local time, wrapping")]
        let local = s.local_ts.as_nanos() as i64;
        self.update_reference(local);
        self.add_sample(s.offset);
        let sums = self.regress();
        self.update_size();
        let chosen = usize::from(self.size)
            .checked_sub(MIN_SIZE)
            .and_then(|k| sums[k])
            .and_then(|s| s.line());
        let Some((slope_bits, mut intercept)) = chosen else {
            return self.output(Action::None, ServoState::Unlocked, s.offset);
        };
        self.slope = Some(Ppb::from_bits(slope_bits));
        // The line's value is the reference time less the local time: the
        // offset's negative.
        let line_offset = Duration::from_nanos((intercept >> INTERCEPT_FRAC).saturating_neg());
        let step = self
            .dispatcher
            .config
            .wants_step(line_offset, self.dispatcher.first_update());
        let delta = s.offset.saturating_neg();
        if step {
            // The clock will be stepped by −offset: the reference point
            // moves with it, so the history survives the step, and the
            // lines with it, so the frequency does not correct the stepped
            // offset a second time.
            self.move_reference(0, delta.as_nanos());
            intercept =
                intercept.saturating_sub(delta.as_nanos().saturating_mul(1 << INTERCEPT_FRAC));
        }
        // Correct the offset over a longer span with larger windows.
        let corr_intervals: i128 = if self.size <= 4 {
            1
        } else {
            i128::from(self.size / 2)
        };
        let span_ns = i128::from(self.interval_ns) * corr_intervals;
        let pull = i128::from(intercept) * 1_000_000_000 * (1 << (32 - INTERCEPT_FRAC)) / span_ns;
        let pull = i64::try_from(pull).unwrap_or(if pull < 0 { i64::MIN } else { i64::MAX });
        let max = self.dispatcher.config.max_frequency;
        self.clock_freq = Ppb::from_bits(slope_bits)
            .saturating_add(Ppb::from_bits(pull))
            .clamp_abs(max);
        let freq = self.clock_freq;
        if step {
            self.output(
                Action::Step { step: delta, freq },
                ServoState::Jump,
                s.offset,
            )
        } else {
            self.output(Action::SetFrequency(freq), ServoState::Locked, s.offset)
        }
    }

    fn applied(&mut self, a: &Applied) {
        if self.pending_step != a.step {
            // The reference point (and the lines) moved with the step asked
            // for: move them by what was really done instead.
            let assumed = self.pending_step.map_or(0, Duration::as_nanos);
            let actual = a.step.map_or(0, Duration::as_nanos);
            self.move_reference(0, actual.wrapping_sub(assumed));
        }
        self.pending_step = None;
        self.clock_freq = a.freq;
    }

    fn set_interval(&mut self, interval: Duration) {
        if interval.as_nanos() > 0 {
            self.interval_ns = interval.as_nanos();
        }
    }

    fn set_config(&mut self, config: ServoConfig) {
        self.dispatcher.config = config;
    }

    fn reset(&mut self) {
        self.num_points = 0;
        self.last_point = 0;
        self.size = 0;
        self.fits = [Fit::default(); SIZES];
        self.pending_step = None;
        self.slope = None;
    }

    /// The history is kept (phc2sys has no such signal, and a reset would
    /// leave the clock at the old frequency for four readings: a signalled
    /// +50 ppm migration peaked at 150 µs instead of 99); the first-step
    /// threshold applies again.
    fn disruption(&mut self) {
        self.dispatcher.restart();
    }

    fn state(&self) -> ServoState {
        self.dispatcher.state()
    }

    fn no_sample(&mut self, local_ts: Timestamp) -> ServoOutput {
        let _ = local_ts;
        ServoOutput::hold(self.dispatcher.state(), self.clock_freq)
    }
}

#[cfg(test)]
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_possible_wrap,
    clippy::cast_precision_loss,
    clippy::cast_sign_loss,
    reason = "test arithmetic on small values"
)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T0: u64 = 1_700_000_000_000_000_000;

    fn sample(s: &mut LinReg, offset_ns: i64, k: u64) -> ServoOutput {
        s.sample(&OffsetSample {
            offset: Duration::from_nanos(offset_ns),
            local_ts: Timestamp::from_nanos(T0 + 1_000_000_000 * k),
            uncertainty: Duration::ZERO,
        })
    }

    fn ppb(p: Ppb) -> f64 {
        p.to_bits() as f64 / 4_294_967_296.0
    }

    fn quiet_config() -> ServoConfig {
        ServoConfig {
            first_step_threshold: Duration::ZERO,
            ..ServoConfig::default()
        }
    }

    #[test]
    fn learns_a_constant_frequency_from_four_points() {
        // 10 ppm fast, no noise, the clock left alone: the fourth sample
        // gives the exact frequency, and the newest offset (100 + 30 000 ns)
        // is removed over the next second.
        let mut s = LinReg::new(quiet_config(), Duration::from_secs(1), Ppb::ZERO);
        let mut out = sample(&mut s, 100, 0);
        for k in 1..4 {
            assert_eq!(out.state, ServoState::Unlocked);
            out = sample(&mut s, 100 + 10_000 * k as i64, k);
        }
        assert_eq!(out.state, ServoState::Locked);
        let Action::SetFrequency(f) = out.action else {
            panic!("{out:?}");
        };
        assert!((ppb(f) - (-10_000.0 - 30_100.0)).abs() < 0.01, "{}", ppb(f));
    }

    /// Drives a clock `freq_ppb` fast from `offset_ns` with the servo's
    /// actions, `n` updates a second apart; returns the last true offset.
    fn drive(s: &mut LinReg, mut offset_ns: f64, freq_ppb: f64, n: u64) -> (f64, u32) {
        let mut steps = 0;
        for k in 0..n {
            let out = sample(s, offset_ns.round() as i64, k);
            let (step, freq) = out.action.correction().unwrap_or((None, out.freq));
            if let Some(d) = step {
                offset_ns += d.as_nanos() as f64;
                steps += 1;
            }
            s.applied(&Applied { step, freq });
            offset_ns += freq_ppb + ppb(freq);
        }
        (offset_ns, steps)
    }

    #[test]
    fn a_step_is_not_corrected_twice() {
        // +0.5 s and +50 ppm: the fourth sample's line steps the clock, and
        // the frequency set with the step is the oscillator's correction
        // alone (linuxptp moves the lines with the step); the stepped
        // 0.5 s must not also be slewed out (at the 10 % clamp).
        let mut s = LinReg::new(ServoConfig::default(), Duration::from_secs(1), Ppb::ZERO);
        let mut offset = 500_000_000.0;
        for k in 0..4 {
            let out = sample(&mut s, offset as i64, k);
            if let Action::Step { step, freq } = out.action {
                assert!((ppb(freq) + 50_000.0).abs() < 100.0, "{}", ppb(freq));
                assert!((step.as_nanos() as f64 + offset).abs() < 1.0);
                return;
            }
            s.applied(&Applied {
                step: None,
                freq: s.clock_freq,
            });
            offset += 50_000.0;
        }
        panic!("no step in four samples");
    }

    #[test]
    fn steps_once_then_tracks() {
        let mut s = LinReg::new(ServoConfig::default(), Duration::from_secs(1), Ppb::ZERO);
        let (offset, steps) = drive(&mut s, 500_000_000.0, 50_000.0, 40);
        assert_eq!(steps, 1);
        assert!(offset.abs() < 1.0, "{offset} ns");
    }

    #[test]
    fn a_step_that_failed_is_not_assumed() {
        // The caller could not step: the history must stay on the old time
        // line, and the servo must go on steering toward the offset.
        let mut s = LinReg::new(ServoConfig::default(), Duration::from_secs(1), Ppb::ZERO);
        let mut offset = 30_000.0;
        for k in 0..60 {
            let out = sample(&mut s, offset as i64, k);
            let freq = out.freq;
            s.applied(&Applied { step: None, freq });
            offset += 1_000.0 + ppb(freq);
        }
        assert!(offset.abs() < 100.0, "{offset} ns");
    }

    #[test]
    fn state_is_small() {
        assert!(core::mem::size_of::<LinReg>() <= 2048);
    }

    proptest! {
        #[test]
        fn no_input_panics(ops in prop::collection::vec((any::<i64>(), any::<u64>(), any::<i64>(), 0u8..6), 1..200)) {
            let cfg = ServoConfig { step_threshold: Duration::from_micros(1), ..ServoConfig::default() };
            let mut s = LinReg::new(cfg, Duration::from_millis(250), Ppb::from_ppb(-3));
            for (offset, ts, freq, op) in ops {
                let local_ts = Timestamp::from_nanos(ts);
                match op {
                    0 => s.disruption(),
                    1 => { let _ = s.no_sample(local_ts); }
                    2 => s.applied(&Applied { step: Some(Duration::from_nanos(offset)), freq: Ppb::from_bits(freq) }),
                    _ => {
                        let out = s.sample(&OffsetSample { offset: Duration::from_nanos(offset), local_ts, uncertainty: Duration::ZERO });
                        if let Action::SetFrequency(f) | Action::Step { freq: f, .. } = out.action {
                            prop_assert!(f.clamp_abs(cfg.max_frequency) == f, "{:?}", f);
                        }
                    }
                }
            }
        }

        #[test]
        fn ordinary_runs_do_not_panic(start in -1_000_000_000i64..1_000_000_000, freq in -500_000.0f64..500_000.0, jitter in 0u64..1_000_000) {
            let mut s = LinReg::new(ServoConfig::default(), Duration::from_secs(1), Ppb::ZERO);
            let mut offset = start as f64;
            for k in 0..100u64 {
                let ts = Timestamp::from_nanos(T0 + 1_000_000_000 * k + (k * 7919) % (jitter + 1));
                let out = s.sample(&OffsetSample { offset: Duration::from_nanos(offset as i64), local_ts: ts, uncertainty: Duration::ZERO });
                let (step, f) = out.action.correction().unwrap_or((None, out.freq));
                if let Some(d) = step { offset += d.as_nanos() as f64; }
                s.applied(&Applied { step, freq: f });
                offset += freq + ppb(f);
            }
        }
    }
}

//! RFC 5905 §10 clock filter: keep the last eight samples of one server and
//! pick the one with the smallest round-trip delay, which is the one least
//! disturbed by queueing.
//!
//! Not included (the caller's engine does these): the popcorn-spike
//! suppressor and the "only newer than the last used sample" rule.

use crate::measure::ntp::{MAX_DISPERSION, PHI_PPM};
use crate::time::{Duration, Timestamp};

/// Number of stages (RFC 5905 NSTAGE).
pub const NSTAGES: usize = 8;

/// One sample in the filter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FilterSample {
    /// local − server: positive means the local clock is ahead.
    pub offset: Duration,
    /// Round-trip delay.
    pub delay: Duration,
    /// Dispersion when the sample was taken.
    pub dispersion: Duration,
    /// When the sample was taken, local clock.
    pub time: Timestamp,
}

/// The filter's output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FilterOutput {
    /// Offset of the minimum-delay sample (local − server).
    pub offset: Duration,
    /// Its delay.
    pub delay: Duration,
    /// Filter dispersion ε = Σ εᵢ / 2^(i+1) over the stages sorted by delay,
    /// each aged by PHI and empty stages counting as MAXDISP.
    pub dispersion: Duration,
    /// Jitter ψ: RMS of the offsets' differences from the chosen one.
    pub jitter: Duration,
    /// When the chosen sample was taken.
    pub time: Timestamp,
}

fn aged_dispersion(s: &FilterSample, now: Timestamp) -> Duration {
    let age = now.duration_since(s.time).as_nanos().max(0);
    let growth = age.saturating_mul(PHI_PPM) / 1_000_000;
    let d = s.dispersion.saturating_add(Duration::from_nanos(growth));
    d.min(MAX_DISPERSION)
}

/// Runs the clock filter over up to [`NSTAGES`] samples (the last ones of
/// `stages` if it holds more) at local time `now`. Samples whose aged
/// dispersion reaches MAXDISP are ignored. `None` when no sample is usable.
pub fn clock_filter(stages: &[FilterSample], now: Timestamp) -> Option<FilterOutput> {
    let recent = stages
        .get(stages.len().saturating_sub(NSTAGES)..)
        .unwrap_or(stages);
    // (delay, aged dispersion, index into `recent`), usable stages only
    let mut sorted = [(Duration::ZERO, Duration::ZERO, 0usize); NSTAGES];
    let mut n = 0usize;
    for (i, s) in recent.iter().enumerate() {
        let d = aged_dispersion(s, now);
        if d < MAX_DISPERSION {
            if let Some(slot) = sorted.get_mut(n) {
                *slot = (s.delay, d, i);
                n = n.saturating_add(1);
            }
        }
    }
    let used = sorted.get_mut(..n)?;
    // stable order for equal delays: the most recent sample first
    used.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.2.cmp(&a.2)));
    let &(_, _, best_i) = used.first()?;
    let best = recent.get(best_i)?;
    // ε = Σ εᵢ / 2^(i+1), with missing stages as MAXDISP
    let mut eps: i64 = 0;
    for i in 0..NSTAGES {
        let e = used.get(i).map_or(MAX_DISPERSION, |s| s.1);
        let shift = u32::try_from(i).unwrap_or(u32::MAX).saturating_add(1);
        eps = eps.saturating_add(e.as_nanos().checked_shr(shift).unwrap_or(0));
    }
    // ψ = sqrt(Σ (θ₀ − θᵢ)² / (n − 1))
    let mut sum_sq: u128 = 0;
    for s in used.iter().skip(1) {
        let theta = recent.get(s.2).map_or(best.offset, |x| x.offset);
        let diff = u128::from(best.offset.as_nanos().abs_diff(theta.as_nanos()));
        sum_sq = sum_sq.saturating_add(diff.saturating_mul(diff));
    }
    let jitter = match u128::try_from(n.saturating_sub(1)) {
        Ok(k) if k > 0 => isqrt(sum_sq / k),
        _ => 0,
    };
    Some(FilterOutput {
        offset: best.offset,
        delay: best.delay,
        dispersion: Duration::from_nanos(eps),
        jitter: Duration::from_nanos(i64::try_from(jitter).unwrap_or(i64::MAX)),
        time: best.time,
    })
}

/// Integer square root (floor), by Newton's method; no floats.
fn isqrt(v: u128) -> u128 {
    if v < 2 {
        return v;
    }
    let mut x = v;
    let mut y = x.div_ceil(2);
    while y < x {
        x = y;
        y = (x.saturating_add(v / x)) / 2;
    }
    x
}

/// The eight-stage shift register of one server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ClockFilter {
    stages: [Option<FilterSample>; NSTAGES],
    next: usize,
}

impl ClockFilter {
    /// An empty register.
    pub const fn new() -> Self {
        Self {
            stages: [None; NSTAGES],
            next: 0,
        }
    }

    /// Shifts a new sample in (the oldest falls out).
    pub fn push(&mut self, s: FilterSample) {
        if let Some(slot) = self.stages.get_mut(self.next) {
            *slot = Some(s);
        }
        self.next = self.next.saturating_add(1) % NSTAGES;
    }

    /// Empties the register (after a clock step or a disruption).
    pub fn clear(&mut self) {
        *self = Self::new();
    }

    /// Runs [`clock_filter`] over the register.
    pub fn output(&self, now: Timestamp) -> Option<FilterOutput> {
        let mut buf = [FilterSample {
            offset: Duration::ZERO,
            delay: Duration::ZERO,
            dispersion: Duration::ZERO,
            time: Timestamp::EPOCH,
        }; NSTAGES];
        let mut n = 0usize;
        for s in self.stages.iter().flatten() {
            if let Some(slot) = buf.get_mut(n) {
                *slot = *s;
                n = n.saturating_add(1);
            }
        }
        clock_filter(buf.get(..n)?, now)
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::cast_sign_loss,
        clippy::cast_possible_wrap,
        reason = "small non-negative test indices"
    )]

    use super::*;
    use proptest::prelude::*;

    fn s(offset_us: i64, delay_us: i64, t_s: u64) -> FilterSample {
        FilterSample {
            offset: Duration::from_micros(offset_us),
            delay: Duration::from_micros(delay_us),
            dispersion: Duration::from_micros(10),
            time: Timestamp::from_secs_nanos(t_s, 0),
        }
    }

    #[test]
    fn picks_min_delay() {
        let stages = [
            s(500, 900, 1),
            s(100, 200, 2),
            s(300, 600, 3),
            s(-50, 250, 4),
        ];
        let now = Timestamp::from_secs_nanos(10, 0);
        let out = clock_filter(&stages, now).unwrap();
        assert_eq!(out.offset, Duration::from_micros(100));
        assert_eq!(out.delay, Duration::from_micros(200));
        assert_eq!(out.time, Timestamp::from_secs_nanos(2, 0));
        // jitter: sqrt((150² + 200² + 400²)/3) µs = sqrt(74166.7) µs ≈ 272.3 µs
        assert_eq!(out.jitter.as_nanos() / 1000, 272);
        // dispersion: the first sorted stage is aged 8 s → 10 + 120 µs, halved, ...
        // 4 empty stages contribute 16 s·(1/32+1/64+1/128+1/256) = 0.9375 s
        let eps = out.dispersion.as_nanos();
        assert!((937_500_000..937_700_000).contains(&eps), "{eps}");
        assert_eq!(clock_filter(&[], now), None);
    }

    #[test]
    fn register_keeps_last_eight() {
        let mut f = ClockFilter::new();
        let now = Timestamp::from_secs_nanos(100, 0);
        assert_eq!(f.output(now), None);
        f.push(s(1, 1, 1)); // the best, but pushed out by 8 later samples
        for i in 0..8 {
            f.push(s(i * 10, 100 + i, 2 + i as u64));
        }
        let out = f.output(now).unwrap();
        assert_eq!(out.offset, Duration::ZERO);
        assert_eq!(out.delay, Duration::from_micros(100));
        // a slice longer than 8 is cut to its last 8 the same way
        let mut all = [s(1, 1, 1); 9];
        for i in 0..8 {
            all[i + 1] = s(i as i64 * 10, 100 + i as i64, 2 + i as u64);
        }
        assert_eq!(clock_filter(&all, now), Some(out));
        f.clear();
        assert_eq!(f.output(now), None);
    }

    #[test]
    fn stale_samples_are_ignored() {
        // 16 s of dispersion accrues after ~12 days at 15 ppm
        let now = Timestamp::from_secs_nanos(2_000_000, 0);
        let stages = [s(1, 1, 0), s(7, 500, 1_999_990)];
        assert_eq!(
            clock_filter(&stages, now).unwrap().offset,
            Duration::from_micros(7)
        );
        assert_eq!(isqrt(u128::MAX), u128::from(u64::MAX));
        assert_eq!(isqrt(99), 9);
    }

    proptest! {
        #[test]
        fn never_panics_and_picks_a_minimum(
            raw in proptest::collection::vec((any::<i64>(), any::<i64>(), any::<i64>(), any::<u64>()), 0..12),
            now in any::<u64>(),
        ) {
            let mut buf = [s(0, 0, 0); 12];
            for (slot, (o, d, e, t)) in buf.iter_mut().zip(raw.iter()) {
                *slot = FilterSample { offset: Duration::from_nanos(*o), delay: Duration::from_nanos(*d), dispersion: Duration::from_nanos(*e), time: Timestamp::from_nanos(*t) };
            }
            let stages = &buf[..raw.len()];
            if let Some(out) = clock_filter(stages, Timestamp::from_nanos(now)) {
                prop_assert!(out.jitter >= Duration::ZERO);
                let recent = &stages[stages.len().saturating_sub(NSTAGES)..];
                prop_assert!(recent.iter().any(|x| x.delay == out.delay && x.offset == out.offset));
            }
        }
    }
}

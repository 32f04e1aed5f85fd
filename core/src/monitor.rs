//! Monitor mode: a host measures a guest's clock through KTP exchanges
//! ([`crate::wire::ktp`]) and never steers it.
//!
//! Per poll the host sends a burst of probes. Each exchange gives
//! θ = ((t2 − t1) + (t3 − t4)) / 2 (guest − host, + = guest ahead) and
//! δ = (t4 − t1) − (t3 − t2). Whatever the split of δ between the two ways,
//! the truth lies within θ ± δ/2, plus the two clocks' read errors: that is
//! the bound, and it needs no model. The burst's least-δ exchange is the
//! poll's measurement.
//!
//! A ring of the last [`RING`] measurements of one clock history (same
//! epoch and generation) gives the guest's rate relative to the host: the
//! range of slopes every pair of intervals allows. A new measurement outside
//! what that range predicts from the one before is an unannounced jump (a
//! pause, another program stepping the guest clock): it is reported and
//! starts a new history, as a generation change does.

use crate::time::{Duration, Ppb, Timestamp};
use crate::wire::ktp::ProbeReply;

/// Measurements kept per guest for its rate.
pub const RING: usize = 16;

/// How a guest is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MonitorConfig {
    /// Both clocks' read errors together (`clock_gettime` granularity and
    /// the time between the read and the syscall boundary), added to δ/2.
    pub read_error: Duration,
    /// Exchanges with a larger δ are rejected (a stalled channel).
    pub max_delay: Duration,
    /// How much the guest's rate may change within the ring's window, ppb
    /// (its own servo steering): allowed when predicting, so only a jump
    /// beyond it is reported.
    pub rate_margin_ppb: i64,
}

impl MonitorConfig {
    /// 1 µs of read error, 100 ms largest δ, 1 ppm rate margin.
    pub const DEFAULT: Self = Self {
        read_error: Duration::from_micros(1),
        max_delay: Duration::from_millis(100),
        rate_margin_ppb: 1000,
    };
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Why an exchange was not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Rejected {
    /// The reply does not echo the request's t1.
    NotOurs,
    /// t4 before t1, or t3 before t2, or a negative δ: timestamps that no
    /// pair of running clocks gives.
    Inconsistent,
    /// δ above [`MonitorConfig::max_delay`].
    TooSlow,
}

impl Rejected {
    /// The lower-case name (metrics label).
    pub const fn name(self) -> &'static str {
        match self {
            Self::NotOurs => "not-ours",
            Self::Inconsistent => "inconsistent",
            Self::TooSlow => "too-slow",
        }
    }
}

/// One poll's measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Measurement {
    /// Host time of the exchange (the midpoint of t1 and t4).
    pub at: Timestamp,
    /// Guest − host.
    pub offset: Duration,
    /// |offset − truth| ≤ bound (δ/2 + read errors).
    pub bound: Duration,
    /// δ, the round trip less the guest's processing.
    pub delay: Duration,
    /// The guest clock's epoch and generation.
    pub epoch: u32,
    /// See [`ProbeReply::generation`].
    pub generation: u32,
}

/// The guest's rate relative to the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Rate {
    /// The middle of the slopes the ring allows (+ = guest runs fast).
    pub rate: Ppb,
    /// Half their width.
    pub bound: Ppb,
}

/// What one poll found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PollResult {
    /// The measurement.
    pub measurement: Measurement,
    /// The rate, from two measurements of the same history on.
    pub rate: Option<Rate>,
    /// The guest announced a step or restart (epoch or generation changed).
    pub new_generation: bool,
    /// Unannounced: the offset's interval left the one the history
    /// predicted; this much from the prediction's middle (+ = the guest
    /// jumped ahead).
    pub jump: Option<Duration>,
}

/// Counters since the start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct GuestCounters {
    /// Exchanges used in a burst.
    pub ok: u64,
    /// Exchanges rejected.
    pub rejected: u64,
    /// Polls that gave a measurement.
    pub polls: u64,
    /// Generation or epoch changes seen.
    pub generations: u64,
    /// Unannounced jumps detected.
    pub jumps: u64,
}

#[derive(Clone, Copy, Debug)]
struct Point {
    at: Timestamp,
    offset: i64,
    bound: i64,
}

/// One guest's estimator (a few hundred bytes).
#[derive(Clone, Debug)]
pub struct Guest {
    cfg: MonitorConfig,
    best: Option<Measurement>,
    ring: [Option<Point>; RING],
    next: usize,
    history: Option<(u32, u32)>,
    last: Option<PollResult>,
    counters: GuestCounters,
}

impl Guest {
    /// A guest not measured yet.
    pub const fn new(cfg: MonitorConfig) -> Self {
        Self {
            cfg,
            best: None,
            ring: [None; RING],
            next: 0,
            history: None,
            last: None,
            counters: GuestCounters {
                ok: 0,
                rejected: 0,
                polls: 0,
                generations: 0,
                jumps: 0,
            },
        }
    }

    /// One exchange of the current burst: `t1` and `t4` are the host's send
    /// and receive times of the request whose t1 was `sent_t1`.
    ///
    /// # Errors
    /// Why the exchange is not used (it is counted).
    pub fn on_reply(
        &mut self,
        sent_t1: Timestamp,
        reply: &ProbeReply,
        t4: Timestamp,
    ) -> Result<Measurement, Rejected> {
        let r = self.measure(sent_t1, reply, t4);
        match r {
            Ok(m) => {
                self.counters.ok += 1;
                // A step inside the burst: what came before it is another
                // clock history.
                let same = self
                    .best
                    .is_some_and(|b| (b.epoch, b.generation) == (m.epoch, m.generation));
                if !same || self.best.is_some_and(|b| m.delay < b.delay) {
                    self.best = Some(m);
                }
            }
            Err(_) => self.counters.rejected += 1,
        }
        r
    }

    fn measure(
        &self,
        sent_t1: Timestamp,
        reply: &ProbeReply,
        t4: Timestamp,
    ) -> Result<Measurement, Rejected> {
        if reply.t1 != sent_t1.as_nanos() {
            return Err(Rejected::NotOurs);
        }
        let at = sent_t1.midpoint(t4);
        let (t1, t2, t3, t4) = (
            i128::from(sent_t1.as_nanos()),
            i128::from(reply.t2),
            i128::from(reply.t3),
            i128::from(t4.as_nanos()),
        );
        let delay = (t4 - t1) - (t3 - t2);
        if t4 < t1 || t3 < t2 || delay < 0 {
            return Err(Rejected::Inconsistent);
        }
        let delay = i64::try_from(delay).map_err(|_| Rejected::TooSlow)?;
        if delay > self.cfg.max_delay.as_nanos() {
            return Err(Rejected::TooSlow);
        }
        // |θ| < 2⁶³ ns unless the guest's clock is centuries off.
        let offset = i64::try_from(((t2 - t1) + (t3 - t4)).div_euclid(2))
            .map_err(|_| Rejected::Inconsistent)?;
        Ok(Measurement {
            at,
            offset: Duration::from_nanos(offset),
            // δ/2 rounded up, and the half nanosecond θ's division dropped.
            bound: Duration::from_nanos(delay / 2 + 1).saturating_add(self.cfg.read_error),
            delay: Duration::from_nanos(delay),
            epoch: reply.epoch,
            generation: reply.generation,
        })
    }

    /// Ends the burst: its least-δ exchange becomes the poll's measurement
    /// (`None` when no exchange was usable).
    pub fn end_burst(&mut self) -> Option<PollResult> {
        let m = self.best.take()?;
        self.counters.polls += 1;
        let history = (m.epoch, m.generation);
        let new_generation = self.history.is_some_and(|h| h != history);
        if self.history != Some(history) {
            if new_generation {
                self.counters.generations += 1;
            }
            self.clear_ring();
            self.history = Some(history);
        }
        let p = Point {
            at: m.at,
            offset: m.offset.as_nanos(),
            bound: m.bound.as_nanos(),
        };
        let jump = self.jump(&p);
        if jump.is_some() {
            self.counters.jumps += 1;
            self.clear_ring();
        }
        self.ring[self.next % RING] = Some(p);
        self.next = (self.next + 1) % RING;
        self.trim();
        let result = PollResult {
            measurement: m,
            rate: self.rate(),
            new_generation,
            jump,
        };
        self.last = Some(result);
        Some(result)
    }

    /// The last poll's result.
    pub const fn last(&self) -> Option<&PollResult> {
        self.last.as_ref()
    }

    /// The counters.
    pub const fn counters(&self) -> &GuestCounters {
        &self.counters
    }

    fn clear_ring(&mut self) {
        self.ring = [None; RING];
        self.next = 0;
    }

    /// Drops the oldest measurements while no single rate fits them all
    /// (the guest's rate changed: its servo steered).
    fn trim(&mut self) {
        while self.slopes().is_some_and(|(lo, hi)| lo > hi) {
            let oldest = self
                .ring
                .iter_mut()
                .filter(|q| q.is_some())
                .min_by_key(|q| q.map_or(u64::MAX, |q| q.at.as_nanos()));
            if let Some(q) = oldest {
                *q = None;
            }
        }
    }

    fn points(&self) -> impl Iterator<Item = &Point> {
        self.ring.iter().flatten()
    }

    /// The slopes every pair of the ring allows, ppb scaled by 2³²:
    /// (lowest, highest), or `None` with fewer than two points.
    fn slopes(&self) -> Option<(i128, i128)> {
        let mut range: Option<(i128, i128)> = None;
        for a in self.points() {
            for b in self.points() {
                let dt = i128::from(b.at.as_nanos()) - i128::from(a.at.as_nanos());
                if dt <= 0 {
                    continue;
                }
                let lo = (i128::from(b.offset - b.bound) - i128::from(a.offset + a.bound))
                    .saturating_mul(SCALE)
                    .div_euclid(dt);
                let hi = (i128::from(b.offset + b.bound) - i128::from(a.offset - a.bound))
                    .saturating_mul(SCALE)
                    .div_euclid(dt)
                    + 1;
                range = Some(range.map_or((lo, hi), |(l, h)| (l.max(lo), h.min(hi))));
            }
        }
        range
    }

    fn rate(&self) -> Option<Rate> {
        let (lo, hi) = self.slopes()?;
        let bits = |v: i128| i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX });
        Some(Rate {
            rate: Ppb::from_bits(bits(lo + (hi - lo).div_euclid(2))),
            bound: Ppb::from_bits(bits((hi - lo).div_euclid(2) + 1)),
        })
    }

    /// How far `p` lies from the interval the ring predicts for its time,
    /// when their intervals do not meet (`None`: they meet, or nothing to
    /// predict from). Each measurement,
    /// carried forward at every rate the ring allows (± the margin), gives
    /// an interval; the prediction is where they all overlap.
    fn jump(&self, p: &Point) -> Option<Duration> {
        let (lo, hi) = self.slopes()?;
        let margin = i128::from(self.cfg.rate_margin_ppb) << 32;
        let (mut low, mut high) = (i128::MIN, i128::MAX);
        for q in self.points() {
            let dt = i128::from(p.at.as_nanos()) - i128::from(q.at.as_nanos());
            if dt <= 0 {
                return None;
            }
            let grow = |slope: i128| slope.saturating_mul(dt).div_euclid(SCALE);
            low = low.max(i128::from(q.offset - q.bound) + grow(lo - margin));
            high = high.min(i128::from(q.offset + q.bound) + grow(hi + margin));
        }
        let (o, b) = (i128::from(p.offset), i128::from(p.bound));
        if o + b >= low && o - b <= high {
            return None;
        }
        // Outside: the jump is measured from the middle of the prediction.
        let out = o - (low + (high - low).div_euclid(2));
        Some(Duration::from_nanos(
            i64::try_from(out).unwrap_or(if out < 0 { i64::MIN } else { i64::MAX }),
        ))
    }
}

/// ppb × 2³² per unit of (ns offset / ns time).
const SCALE: i128 = 1_000_000_000 << 32;

#[cfg(test)]
mod tests;

//! NTP sources inside the engine: when to ask each server, what it answered,
//! and what that answer says about the sink now.
//!
//! Each server keeps its last [`NSTAGES`] samples. They are kept on the
//! sink's current frame, as chrony re-frames its sources after its own
//! slews and steps:
//! - a step of the sink by `d` adds `d` to every stored offset;
//! - a frequency in force `f` other than the one `f₀` in force when a sample
//!   was taken moves the sink against that sample by `(f − f₀)` per unit of
//!   time, which is folded into the stored offset as time passes.
//!
//! So a sample taken while the sink was on time predicts the sink's offset
//! from that server later, without a fresh exchange: what keel did to the
//! sink since is known exactly, what the sink's oscillator did is bounded by
//! [`JURY_SKEW_PPB`]. The engine's jury over the PHC runs on these
//! predictions at every PHC reading.
//!
//! Sign convention: offset = sink − server, positive means the sink is
//! ahead.

use crate::measure::ntp::{KissAction, NtpSample, backoff_poll, log2_seconds};
use crate::select::clock_filter::{FilterSample, NSTAGES, clock_filter};
use crate::time::{Duration, Ppb, Timestamp};

/// Requests in a burst: at the start with `iburst`, and when the engine
/// needs fresh samples (a rejected PHC).
pub const BURST_REQUESTS: u8 = 4;

/// The longest spacing of a burst's requests, ns (chrony: 2 s, or a
/// quarter of the poll interval when that is shorter).
const BURST_SPACING_NS: u64 = 2_000_000_000;

/// Good samples at one poll interval before it doubles.
const POLL_RAISE_AFTER: u8 = 8;

/// How fast the sink may drift from a sample's prediction, ppb: the
/// oscillator's wander and the frequency error that was left when the
/// sample was taken (chrony's `maxclockerror`, 1 ppm).
pub const JURY_SKEW_PPB: i64 = 1_000;

/// A server's options, in chrony's vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NtpPolicy {
    /// The shortest poll interval, log₂ s (chrony's default 6: 64 s).
    pub minpoll: i8,
    /// The longest poll interval, log₂ s (chrony's default 10: 1024 s).
    pub maxpoll: i8,
    /// Start with [`BURST_REQUESTS`] requests 2 s apart.
    pub iburst: bool,
    /// Among the survivors of selection, only preferred ones are combined.
    pub prefer: bool,
    /// Polled and shown, never selected and never a juror.
    pub noselect: bool,
}

impl Default for NtpPolicy {
    fn default() -> Self {
        Self {
            minpoll: 6,
            maxpoll: 10,
            iburst: false,
            prefer: false,
            noselect: false,
        }
    }
}

/// One stored sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stage {
    /// Offset (re-framed to now), delay, the part of the half-width that is
    /// not the delay's (root delay / 2 + root dispersion + the sample's own
    /// dispersion), and the sink time it was taken.
    sample: FilterSample,
    /// The frequency that held the sink on time when it was taken: the one
    /// in force then, if the sink was locked; else the one in force at the
    /// last fold, until the sink locks (`anchored`).
    freq: Ppb,
    /// `freq` is the locked frequency of its time.
    anchored: bool,
}

/// What one server's samples say about the sink at a given time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NtpEstimate {
    /// sink − server, predicted to now; positive: the sink is ahead.
    pub offset: Duration,
    /// Half-width of the interval the true offset lies in: the sample's
    /// root distance, the filter's jitter and [`JURY_SKEW_PPB`] over its
    /// age.
    pub half_width: Duration,
    /// The round-trip delay of the sample used (the least of the stages).
    pub delay: Duration,
    /// The filter's jitter: RMS of the other stages' offsets from it.
    pub jitter: Duration,
    /// When the sample used was taken, sink time.
    pub taken: Timestamp,
    /// The frequency that held the sink on time when it was taken (the
    /// one in force then, the sink locked).
    pub freq: Ppb,
}

/// One NTP server's bookkeeping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct NtpSource {
    pub(super) policy: NtpPolicy,
    /// The poll interval in force, log₂ s.
    pub(super) poll: i8,
    /// RFC 5905's reach register: a bit per request, set when answered.
    pub(super) reach: u8,
    /// Loop time of the next request, ns.
    pub(super) next_tx_ns: u64,
    /// Requests left in the burst in progress.
    burst_left: u8,
    /// A request is out and not yet answered.
    awaiting: bool,
    /// The engine's frame epoch when it left (a step since voids it).
    sent_epoch: u32,
    /// A Kiss-o'-Death `DENY` or `RSTR`: not asked again.
    pub(super) stopped: bool,
    /// Good samples at the current poll interval.
    good_at_poll: u8,
    stages: [Option<Stage>; NSTAGES],
    next_stage: usize,
    /// Samples taken, and requests that went unanswered.
    pub(super) samples: u32,
    pub(super) missed: u32,
}

impl NtpSource {
    /// A server first asked at loop time `now_ns`.
    pub(super) fn new(policy: NtpPolicy, now_ns: u64) -> Self {
        let minpoll = policy.minpoll.clamp(-6, 17);
        let policy = NtpPolicy {
            minpoll,
            maxpoll: policy.maxpoll.clamp(minpoll, 17),
            ..policy
        };
        Self {
            policy,
            poll: minpoll,
            reach: 0,
            next_tx_ns: now_ns,
            burst_left: if policy.iburst { BURST_REQUESTS } else { 0 },
            awaiting: false,
            sent_epoch: 0,
            stopped: false,
            good_at_poll: 0,
            stages: [None; NSTAGES],
            next_stage: 0,
            samples: 0,
            missed: 0,
        }
    }

    /// Is a request due at loop time `now_ns`?
    pub(super) const fn due(&self, now_ns: u64) -> bool {
        !self.stopped && now_ns >= self.next_tx_ns
    }

    /// The poll interval in force, ns.
    fn interval_ns(&self) -> u64 {
        u64::try_from(log2_seconds(self.poll).as_nanos()).unwrap_or(u64::MAX)
    }

    /// A request leaves at loop time `now_ns` in the engine's frame
    /// `epoch`: the reach register shifts and the next request is
    /// scheduled. Returns the poll exponent to put in the request.
    pub(super) fn transmitted(&mut self, now_ns: u64, epoch: u32) -> i8 {
        self.sent_epoch = epoch;
        if self.awaiting {
            self.missed = self.missed.saturating_add(1);
        }
        self.reach <<= 1;
        self.awaiting = true;
        let gap = if self.burst_left > 0 {
            self.burst_left -= 1;
            (self.interval_ns() / 4).clamp(1, BURST_SPACING_NS)
        } else {
            self.interval_ns()
        };
        self.next_tx_ns = now_ns.saturating_add(gap);
        self.poll
    }

    /// Starts a burst now: [`BURST_REQUESTS`] requests 2 s apart, then the
    /// shortest poll interval.
    pub(super) fn burst(&mut self, now_ns: u64) {
        if self.stopped {
            return;
        }
        self.burst_left = BURST_REQUESTS;
        self.poll = self.policy.minpoll;
        self.good_at_poll = 0;
        self.next_tx_ns = self.next_tx_ns.min(now_ns);
    }

    /// Is a burst in progress?
    #[cfg(test)]
    pub(super) const fn bursting(&self) -> bool {
        self.burst_left > 0
    }

    /// A valid sample from this server, taken while `freq` was in force,
    /// the sink `locked` or not, in the engine's frame `epoch`. `false`
    /// when no request was out (a duplicate), or when the sink was stepped
    /// while it was (its t1 and t4 are on different time lines): ignored.
    pub(super) fn sampled(&mut self, s: &NtpSample, freq: Ppb, locked: bool, epoch: u32) -> bool {
        if !self.awaiting || epoch != self.sent_epoch {
            self.awaiting = false;
            return false;
        }
        self.awaiting = false;
        self.reach |= 1;
        self.samples = self.samples.saturating_add(1);
        let rest = s
            .root_delay
            .as_nanos()
            .checked_div(2)
            .map_or(Duration::MAX, Duration::from_nanos)
            .saturating_add(s.root_dispersion)
            .saturating_add(s.dispersion);
        let stage = Stage {
            sample: FilterSample {
                offset: s.offset,
                delay: s.delay,
                dispersion: rest,
                time: s.local_receive,
            },
            freq,
            anchored: locked,
        };
        if let Some(slot) = self.stages.get_mut(self.next_stage) {
            *slot = Some(stage);
        }
        self.next_stage = self.next_stage.saturating_add(1) % NSTAGES;
        if self.burst_left == 0 {
            self.good_at_poll = self.good_at_poll.saturating_add(1);
            if self.good_at_poll >= POLL_RAISE_AFTER && self.poll < self.policy.maxpoll {
                self.poll = self.poll.saturating_add(1);
                self.good_at_poll = 0;
            }
        }
        true
    }

    /// A reply that was not usable (malformed, unsynchronised, spoofed):
    /// the request stays out (a real reply may still come).
    /// A Kiss-o'-Death: `RATE` lengthens the poll, `DENY`/`RSTR` stop it.
    pub(super) fn kissed(&mut self, action: KissAction, server_poll: i8, now_ns: u64) {
        match action {
            KissAction::ReducePollRate => {
                self.poll = backoff_poll(self.poll, server_poll, self.policy.maxpoll);
                self.burst_left = 0;
                self.next_tx_ns = now_ns.saturating_add(self.interval_ns());
            }
            KissAction::StopUsingServer => self.stopped = true,
            KissAction::Ignore => {}
        }
    }

    /// The sink was stepped by `by`: every stored offset moves with it.
    pub(super) fn stepped(&mut self, by: Duration) {
        for s in self.stages.iter_mut().flatten() {
            s.sample.offset = s.sample.offset.saturating_add(by);
        }
    }

    /// `freq` was in force for `span` (sink time), the sink `locked` or
    /// not at its end: each stored offset moves by what that frequency did
    /// beyond the one that held the sink on time when it was taken. A
    /// sample taken while the sink was not locked knows no such frequency:
    /// it follows the sink until the sink locks.
    pub(super) fn ran(&mut self, freq: Ppb, span: Duration, locked: bool) {
        for s in self.stages.iter_mut().flatten() {
            if !s.anchored {
                s.freq = freq;
                s.anchored = locked;
            }
            let moved = freq.saturating_sub(s.freq).phase_over(span);
            s.sample.offset = s.sample.offset.saturating_add(moved);
        }
    }

    /// Forgets every sample (a disruption: the sink's frame is lost).
    pub(super) fn forget(&mut self) {
        self.stages = [None; NSTAGES];
        self.next_stage = 0;
    }

    /// Is the server answering (any of the last eight requests)?
    pub(super) const fn reachable(&self) -> bool {
        self.reach != 0
    }

    /// The newest sample's sink time.
    pub(super) fn newest(&self) -> Option<Timestamp> {
        self.latest().map(|s| s.time)
    }

    /// The newest sample, re-framed to the last fold.
    pub(super) fn latest(&self) -> Option<FilterSample> {
        self.stages
            .iter()
            .flatten()
            .map(|s| s.sample)
            .max_by_key(|s| s.time)
    }

    /// The estimate at sink time `now`: the least-delay sample of the
    /// stages (RFC 5905's clock filter), its interval widened by the
    /// filter's jitter and [`JURY_SKEW_PPB`] over its age.
    pub(super) fn estimate(&self, now: Timestamp) -> Option<NtpEstimate> {
        let mut views = [FilterSample {
            offset: Duration::ZERO,
            delay: Duration::ZERO,
            dispersion: Duration::ZERO,
            time: Timestamp::from_nanos(0),
        }; NSTAGES];
        let mut n = 0usize;
        for s in self.stages.iter().flatten() {
            if let Some(v) = views.get_mut(n) {
                *v = s.sample;
                n = n.saturating_add(1);
            }
        }
        let out = clock_filter(views.get(..n)?, now)?;
        let chosen = self
            .stages
            .iter()
            .flatten()
            .find(|s| s.sample.time == out.time && s.sample.delay == out.delay)?;
        let age = now.duration_since(out.time).saturating_abs();
        let skew = Ppb::from_ppb(JURY_SKEW_PPB).phase_over(age);
        let half_delay = Duration::from_nanos(out.delay.as_nanos().max(0) / 2);
        Some(NtpEstimate {
            offset: out.offset,
            half_width: half_delay
                .saturating_add(chosen.sample.dispersion)
                .saturating_add(out.jitter)
                .saturating_add(skew),
            delay: out.delay,
            jitter: out.jitter,
            taken: out.time,
            freq: chosen.freq,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ntp::{LeapIndicator, ReferenceId};

    fn sample(offset_us: i64, delay_us: i64, at_s: u64) -> NtpSample {
        NtpSample {
            offset: Duration::from_micros(offset_us),
            delay: Duration::from_micros(delay_us),
            dispersion: Duration::from_micros(2),
            root_delay: Duration::ZERO,
            root_dispersion: Duration::from_micros(8),
            stratum: 1,
            leap: LeapIndicator::NoWarning,
            reference_id: ReferenceId(*b"GPS\0"),
            poll: 6,
            local_receive: Timestamp::from_secs_nanos(at_s, 0),
        }
    }

    const S: u64 = 1_000_000_000;

    #[test]
    fn iburst_then_the_poll_interval() {
        let mut s = NtpSource::new(
            NtpPolicy {
                iburst: true,
                ..NtpPolicy::default()
            },
            5 * S,
        );
        assert!(s.due(5 * S));
        let mut t = 5 * S;
        let mut gaps = [0u64; 6];
        for g in &mut gaps {
            assert_eq!(s.transmitted(t, 0), 6);
            *g = s.next_tx_ns - t;
            t = s.next_tx_ns;
        }
        // four 2 s gaps, then 64 s
        assert_eq!(gaps, [2 * S, 2 * S, 2 * S, 2 * S, 64 * S, 64 * S]);
        // nothing answered: unreachable, every request but the last missed
        assert!(!s.reachable());
        assert_eq!(s.missed, 5);
    }

    #[test]
    fn answers_fill_reach_and_lengthen_the_poll() {
        let mut s = NtpSource::new(
            NtpPolicy {
                minpoll: 4,
                maxpoll: 5,
                ..NtpPolicy::default()
            },
            0,
        );
        for k in 0..20u64 {
            let _ = s.transmitted(k * 16 * S, 0);
            assert!(s.sampled(&sample(1, 300, k * 16), Ppb::ZERO, true, 0));
            // a duplicate is ignored
            assert!(!s.sampled(&sample(1, 300, k * 16), Ppb::ZERO, true, 0));
        }
        assert_eq!(s.reach, 0xFF);
        assert_eq!(s.poll, 5, "raised after 8 good samples, capped at maxpoll");
        s.burst(400 * S);
        assert_eq!((s.poll, s.bursting()), (4, true));
        s.kissed(KissAction::ReducePollRate, 7, 400 * S);
        assert_eq!(s.poll, 5, "RATE: at most maxpoll");
        s.kissed(KissAction::StopUsingServer, 0, 400 * S);
        assert!(!s.due(u64::MAX));
    }

    #[test]
    fn the_estimate_is_the_least_delay_sample_reframed() {
        let mut s = NtpSource::new(NtpPolicy::default(), 0);
        for (k, (o, d)) in [(120, 600), (40, 250), (90, 500)].into_iter().enumerate() {
            let _ = s.transmitted(0, 0);
            assert!(s.sampled(&sample(o, d, 10 + k as u64), Ppb::ZERO, true, 0));
        }
        let now = Timestamp::from_secs_nanos(20, 0);
        let e = s.estimate(now).unwrap();
        assert_eq!(
            (e.offset, e.delay),
            (Duration::from_micros(40), Duration::from_micros(250))
        );
        // jitter: sqrt((80² + 50²)/2) µs = 66.7 µs
        assert_eq!(e.jitter.as_nanos() / 1000, 66);
        // 125 (delay/2) + 10 (root dispersion + dispersion) + jitter + 1 ppm × 9 s
        assert_eq!(
            e.half_width.as_nanos(),
            125_000 + 10_000 + e.jitter.as_nanos() + 9_000
        );
        // keel steps the sink by −30 µs, then runs 10 s at +2 ppm over the
        // frequency the samples were taken at: −30 µs + 20 µs
        s.stepped(Duration::from_micros(-30));
        s.ran(Ppb::from_ppb(2_000), Duration::from_secs(10), true);
        assert_eq!(s.estimate(now).unwrap().offset, Duration::from_micros(30));
        s.forget();
        assert_eq!(s.estimate(now), None);
    }
}

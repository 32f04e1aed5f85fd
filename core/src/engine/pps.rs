//! PPS sources inside the engine: a [`Labeller`] per source names the second
//! each edge marks, and the engine keeps when the next edge is due.
//!
//! A PPS source is never read ([`super::Command::Read`]): its edges and its
//! time of day arrive by themselves ([`super::Engine::on_pps_edge`],
//! [`super::Engine::on_tod`]). A labelled edge runs an update at once. The
//! engine expects the next edge one period after the last plus
//! [`PPS_MARGIN_NS`]; an edge missing at that deadline is a missed reading:
//! with the PPS alone the sink holds over (one update per missed period), and
//! with a PHC or NTP source beside it those steer until edges come back.
//!
//! Sign convention: offset = sink − UTC, positive means the sink is ahead.

use heapless::Deque;

use crate::measure::pps::{
    EdgeOutcome, Labeller, PpsConfig, PpsCounters, PpsEdge, Tod, TodOutcome, UtcSecond,
};
use crate::servo::{OffsetSample, Servo};
use crate::time::{Duration, Timestamp};

use super::{Command, Engine, LEAP_QUIET_S, Notice, Phase, SourceId, SourceKind};

/// The pulse period, ns of loop time.
pub const PPS_PERIOD_NS: u64 = 1_000_000_000;

/// PPS notices kept per source for the caller
/// ([`Engine::take_pps_notice`]; older ones are dropped).
pub const PPS_NOTICES: usize = 4;

/// How long after the expected edge (the last one plus a period) the edge is
/// taken as missed, ns of loop time: covers a caller that fetches edges on a
/// timer (chrony's zero-timeout `PPS_FETCH` at `dpoll`) or late.
pub const PPS_MARGIN_NS: u64 = 500_000_000;

/// One PPS source's bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct PpsSource {
    pub(super) labeller: Labeller,
    /// Loop time and sink time of the last labelled edge.
    pub(super) last_edge: Option<(u64, Timestamp)>,
    /// The last labelled edge's offset as used (sink − UTC).
    pub(super) last_offset: Option<Duration>,
    /// Loop time at which the next edge counts as missed; `None` while no
    /// edge is expected (not labelled yet, or lost with another source
    /// steering).
    pub(super) deadline_ns: Option<u64>,
    /// Deadlines missed since the last labelled edge.
    pub(super) missed: u32,
    /// Notices not yet taken.
    notices: Deque<PpsNotice, PPS_NOTICES>,
}

impl PpsSource {
    pub(super) const fn new(cfg: PpsConfig) -> Self {
        Self {
            labeller: Labeller::new(cfg),
            last_edge: None,
            last_offset: None,
            deadline_ns: None,
            missed: 0,
            notices: Deque::new(),
        }
    }

    /// Labelled edges are coming: locked, and none missed since the last.
    pub(super) fn live(&self) -> bool {
        self.labeller.is_locked() && self.last_edge.is_some() && self.missed == 0
    }

    /// The sink's time at loop time `now_ns`, from the last edge (the two
    /// clocks run within a few hundred ppm of each other: a few µs per
    /// missed second, for holdover bookkeeping only).
    pub(super) fn sink_at(&self, now_ns: u64) -> Option<Timestamp> {
        let (loop_ns, sink) = self.last_edge?;
        let d = i64::try_from(now_ns.saturating_sub(loop_ns)).unwrap_or(i64::MAX);
        Some(sink.wrapping_add(Duration::from_nanos(d)))
    }

    /// Forgets the pulse train (a disruption): the labeller starts again.
    pub(super) fn reset(&mut self) {
        self.labeller.reset();
        self.last_edge = None;
        self.deadline_ns = None;
        self.missed = 0;
    }
}

/// `offset` wrapped into [−0.5 s, +0.5 s): the sub-second part alone, for a
/// PPS beside a PHC or NTP source (they number the seconds).
pub(super) fn sub_second(offset: Duration) -> Duration {
    const S: i64 = 1_000_000_000;
    let ns = offset.as_nanos();
    let n = ns.saturating_add(S / 2).div_euclid(S);
    Duration::from_nanos(ns.saturating_sub(n.saturating_mul(S)))
}

/// Something a PPS source did worth a log line (kept apart from
/// [`super::Notice`], in the order it happened; see
/// [`super::Engine::take_pps_notice`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PpsNotice {
    /// The labeller locked: its edges now steer.
    Locked,
    /// A time of day named another second than the pulses count (`by` =
    /// its second − the count's, s); not followed. `in_a_row` edges have
    /// had such readings agreeing with each other.
    WrongSecond {
        /// Seconds ahead of the count.
        by: i64,
        /// Consecutive edges with this disagreement.
        in_a_row: u8,
    },
    /// Several time-of-day readings in a row agreed on another second: the
    /// labels moved by `by` s (the receiver jumped). With the PPS alone the
    /// sink follows under the step policy; beside a PHC or NTP source only
    /// the sub-second part of an edge is used (`whole_seconds_used`
    /// `false`) and the sink does not move.
    Followed {
        /// Seconds the labels moved.
        by: i64,
        /// The whole seconds of the labels steer (the PPS is alone).
        whole_seconds_used: bool,
    },
    /// The edge due at a deadline did not come: `missed` deadlines in a row.
    Missing {
        /// Deadlines missed since the last labelled edge.
        missed: u32,
    },
}

/// One PPS source as [`super::Engine::pps_view`] shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PpsSourceView {
    /// Which source.
    pub source: SourceId,
    /// The labeller is locked (its edges are labelled).
    pub locked: bool,
    /// Labelled edges are coming (none missed since the last).
    pub live: bool,
    /// The second of the last accepted edge, if named.
    pub last_second: Option<UtcSecond>,
    /// The last labelled edge's offset as used, sink − UTC (positive: the
    /// sink is ahead).
    pub last_offset: Option<Duration>,
    /// Deadlines missed since the last labelled edge.
    pub missed: u32,
    /// The labeller's counters (edges, wrong edges, missed pulses, wrong
    /// seconds, locks, …).
    pub counters: PpsCounters,
}

impl PpsSourceView {
    pub(super) fn of(source: SourceId, p: &PpsSource) -> Self {
        Self {
            source,
            locked: p.labeller.is_locked(),
            live: p.live(),
            last_second: p.labeller.last_second(),
            last_offset: p.last_offset,
            missed: p.missed,
            counters: p.labeller.counters(),
        }
    }
}

impl<S: Servo, const N: usize, const NTP: usize, const PPS: usize> Engine<S, N, NTP, PPS> {
    /// Are there PPS sources?
    pub(super) fn has_pps(&self) -> bool {
        PPS > 0 && self.pps.iter().any(Option::is_some)
    }

    /// The first PPS source whose labelled edges are coming.
    pub(super) fn pps_live(&self) -> Option<SourceId> {
        self.pps
            .iter()
            .flatten()
            .find(|(_, p)| p.live())
            .map(|(id, _)| *id)
    }

    /// Is there a PHC or an NTP source, to steer when the pulses stop and
    /// to number the seconds while they come?
    fn others_can_steer(&self) -> bool {
        self.phc_source().is_some() || self.has_ntp()
    }

    fn pps_notice(&mut self, source: SourceId, n: PpsNotice) {
        if let Some(p) = self.pps_of_mut(source) {
            if p.notices.is_full() {
                let _ = p.notices.pop_front();
            }
            let _ = p.notices.push_back(n);
        }
    }

    /// A PPS notice not yet taken (each source's in order, the first
    /// source's first), and its source.
    pub fn take_pps_notice(&mut self) -> Option<(SourceId, PpsNotice)> {
        self.pps
            .iter_mut()
            .flatten()
            .find_map(|(id, p)| p.notices.pop_front().map(|n| (*id, n)))
    }

    /// A PPS edge of `source` captured at sink time `edge.local` (the
    /// clock being steered: `PPS_FETCH`'s assert time, a PHC's external
    /// timestamp), told at loop time `now_ns`. The source's labeller names
    /// its second; a labelled edge runs an update at once (its commands
    /// come from [`Engine::poll`]) with offset = sink − UTC at the edge
    /// (the cable delay taken off) and the edge's uncertainty. Beside a PHC
    /// or NTP source only its sub-second part is used (they number the
    /// seconds). Edges within [`LEAP_QUIET_S`] of a leap second hold the
    /// servo over instead. Returns `true` when an update runs; `false` for
    /// an edge not labelled (acquiring, rejected: see
    /// [`Engine::pps_view`]'s counters), an unknown source, another update
    /// in progress, or a halted engine.
    pub fn on_pps_edge(&mut self, now_ns: u64, source: SourceId, edge: PpsEdge) -> bool {
        let idle = matches!(self.phase, Phase::Idle) && self.queued.is_none();
        if self.halted.is_some() || self.pps_of_mut(source).is_none() {
            return false;
        }
        if idle {
            if let Some(cause) = self.pending.take() {
                // Before the edge is labelled: its labeller starts again.
                self.update_ns = self.update_ns.max(now_ns);
                self.disrupt(cause);
            }
        }
        let others = self.others_can_steer();
        let quiet_clock = self.near_leap();
        let Some(p) = self.pps_of_mut(source) else {
            return false;
        };
        let EdgeOutcome::Labelled(e) = p.labeller.on_edge(edge) else {
            return false;
        };
        let offset = if others {
            sub_second(e.offset)
        } else {
            e.offset
        };
        p.last_edge = Some((now_ns, e.local));
        p.last_offset = Some(offset);
        p.missed = 0;
        p.deadline_ns = Some(
            now_ns
                .saturating_add(PPS_PERIOD_NS)
                .saturating_add(PPS_MARGIN_NS),
        );
        let quiet = quiet_clock
            || p.labeller
                .leap()
                .is_some_and(|l| l.midnight.abs_diff(e.second.unix_secs) <= LEAP_QUIET_S);
        if !idle {
            return false;
        }
        self.count_update(now_ns);
        if quiet {
            // The kernel and the receiver both leap here, not quite
            // together: hold over through it.
            if !self.leap_quiet {
                self.notice(Notice::LeapQuiet);
                self.leap_quiet = true;
            }
            let out = self.servo.no_sample(e.local);
            let next = self.apply(out, None);
            self.queued = Some(next);
            return true;
        }
        self.leap_quiet = false;
        if let Some(t0) = self.status.holdover_since_ns.take() {
            self.notice(Notice::HoldoverEnded {
                failed_updates: self.failed_updates,
                span_ns: self.update_ns.saturating_sub(t0),
            });
            self.failed_updates = 0;
        }
        self.paused = false;
        let period = Duration::from_nanos(i64::try_from(PPS_PERIOD_NS).unwrap_or(i64::MAX));
        if self.fed != Some(SourceKind::Pps) {
            self.feed_from(SourceKind::Pps, period);
            // Edges come once a period: no quarter-interval start.
            self.start_reads_left = 0;
            self.servo.set_interval(period);
        }
        self.status.source = Some(source);
        self.status.last_offset = Some(offset);
        self.status.last_delay = Duration::ZERO;
        self.last_sample_at = Some(e.local);
        let out = self.servo.sample(&OffsetSample {
            offset,
            local_ts: e.local,
            uncertainty: e.uncertainty,
        });
        self.bound_floor = Duration::ZERO;
        let next = self.apply(out, Some(e.local));
        self.queued = Some(next);
        true
    }

    /// A time-of-day reading for PPS `source`: the UTC second a receiver's
    /// sentence (or gpsd, a PHC, an NTP reading) names and the sink time at
    /// which that second began, by it. Returns what the labeller made of
    /// it (`None` for an unknown source); a lock, a wrong second and a
    /// followed jump are also [`PpsNotice`]s.
    pub fn on_tod(&mut self, source: SourceId, tod: Tod) -> Option<TodOutcome> {
        let whole_seconds_used = !self.others_can_steer();
        let out = self.pps_of_mut(source)?.labeller.on_tod(tod);
        match out {
            TodOutcome::Locked => self.pps_notice(source, PpsNotice::Locked),
            TodOutcome::WrongSecond { by, in_a_row } => {
                self.pps_notice(source, PpsNotice::WrongSecond { by, in_a_row });
            }
            TodOutcome::Followed { by } => self.pps_notice(
                source,
                PpsNotice::Followed {
                    by,
                    whole_seconds_used,
                },
            ),
            _ => {}
        }
        Some(out)
    }

    /// A PPS edge due by loop time `now_ns` that did not come: with the PPS
    /// steering alone, an update that holds over (the bound grows); beside
    /// a PHC or NTP source, those steer again from the next update.
    pub(super) fn pps_deadline(&mut self, now_ns: u64) -> Option<Command> {
        let others = self.others_can_steer();
        let fed_pps = self.fed == Some(SourceKind::Pps);
        let (id, p) = self
            .pps
            .iter_mut()
            .flatten()
            .find(|(_, p)| p.deadline_ns.is_some_and(|d| now_ns >= d))?;
        let id = *id;
        p.missed = p.missed.saturating_add(1);
        let missed = p.missed;
        let sink = p.sink_at(now_ns);
        p.deadline_ns = if others {
            None
        } else {
            let next = p
                .deadline_ns
                .unwrap_or(now_ns)
                .saturating_add(PPS_PERIOD_NS);
            // Behind (a caller that slept): realign, don't burst.
            Some(if next <= now_ns {
                now_ns.saturating_add(PPS_PERIOD_NS)
            } else {
                next
            })
        };
        if missed == 1 {
            self.pps_notice(id, PpsNotice::Missing { missed });
        }
        if others || !fed_pps {
            return None;
        }
        self.count_update(now_ns);
        if let Some(cause) = self.pending.take() {
            self.disrupt(cause);
        }
        let c = &mut self.status.counters;
        c.read_errors = c.read_errors.saturating_add(1);
        self.failed_updates = self.failed_updates.saturating_add(1);
        let local = sink
            .or_else(|| self.last_check.map(|c| c.sink))
            .unwrap_or(Timestamp::from_nanos(0));
        Some(self.hold_over(local, true))
    }

    /// Every PPS source as `keel sources` and the metrics show it.
    pub fn pps_view(&self) -> [Option<PpsSourceView>; PPS] {
        core::array::from_fn(|i| {
            self.pps
                .get(i)
                .and_then(Option::as_ref)
                .map(|(id, p)| PpsSourceView::of(*id, p))
        })
    }

    /// PPS `source` as [`Engine::pps_view`] shows it.
    pub fn pps_source(&self, source: SourceId) -> Option<PpsSourceView> {
        self.pps
            .iter()
            .flatten()
            .find(|(id, _)| *id == source)
            .map(|(id, p)| PpsSourceView::of(*id, p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_seconds_wrap_to_half_a_second_either_way() {
        let d = |ns: i64| Duration::from_nanos(ns);
        assert_eq!(sub_second(d(0)), d(0));
        assert_eq!(sub_second(d(1_000_000_300)), d(300));
        assert_eq!(sub_second(d(-1_000_000_300)), d(-300));
        assert_eq!(sub_second(d(18_499_999_999)), d(499_999_999));
        assert_eq!(sub_second(d(500_000_000)), d(-500_000_000));
        assert_eq!(sub_second(d(-500_000_000)), d(-500_000_000));
        // No panic at the edges.
        let _ = sub_second(Duration::MAX);
        let _ = sub_second(Duration::from_nanos(i64::MIN));
    }
}

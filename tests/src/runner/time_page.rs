//! The time page against the truth: what applications read between the
//! daemon's updates.
//!
//! After every update of keel's engine the runner publishes the snapshot
//! `keel sync` would publish ([`crate::runner::ServoUnderTest::time_page`]:
//! `Engine::served_at` and `keel_core::page::Snapshot::served`, the daemon's
//! two calls, with its default `time_page_void_after` of 10 s). Between
//! updates simulated readers read it: at [`RANDOM_READS`] seeded random
//! instants of every interval, just before the next update, and at the
//! first instant the guest runs after every scripted event (a migration's
//! or a suspend's thaw), before the daemon can react. Each read is taken
//! twice, as `keel-client` takes it
//! ([`Snapshot::interval_at_coarse`] on `CLOCK_REALTIME` and a
//! `CLOCK_MONOTONIC_COARSE` that ticks every [`COARSE_TICK_NS`]) and on
//! both fine clocks ([`Snapshot::interval_at`]), with the vmclock marker
//! (the world's count of signalled disruptions) read as the readers read
//! it. A read is *confident* when it returns an interval that is
//! synchronised or free-running; a *miss* is a confident interval of
//! either reader that does not hold the true time.
//!
//! The simulated clocks: `CLOCK_REALTIME` is the world's local clock;
//! `CLOCK_MONOTONIC` runs with it but is not moved by steps of the
//! realtime clock (the servo's and another process's); it stands still
//! with the local clock while the guest is frozen, as a guest's does.
//!
//! The reads are taken on a copy of the world, so the run itself (where
//! its world is integrated, what the servo sees) is exactly the run
//! without them.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use keel_core::engine::ServedStatus;
use keel_core::page::{Interval, Snapshot};
use keel_core::sim::{Event, ScheduledEvent, World};

use super::Scenario;
use crate::stats::median;

/// How long a snapshot stays valid: `keel sync`'s default
/// `time_page_void_after`, ns.
pub const VOID_AFTER_NS: u64 = 10_000_000_000;

/// `CLOCK_MONOTONIC_COARSE`'s tick, ns (`HZ` = 250).
pub const COARSE_TICK_NS: u64 = 4_000_000;

/// Reads at random instants between two updates.
pub const RANDOM_READS: u32 = 4;

/// Misses kept with their details per run.
pub const MISSES_KEPT: usize = 16;

/// What the runner hands the servo to publish a snapshot: the clocks at
/// the end of the update, as the daemon reads them.
#[derive(Clone, Copy, Debug)]
pub struct PageClocks {
    /// `CLOCK_MONOTONIC`, ns.
    pub mono_ns: u64,
    /// `CLOCK_REALTIME` (the sink), ns since 1970.
    pub real_ns: i64,
    /// The sink's time, as the engine counts it.
    pub at: keel_core::time::Timestamp,
    /// `time_page_void_after`, ns.
    pub void_after_ns: u64,
    /// The vmclock disruption marker.
    pub marker: Option<u64>,
}

/// One read that missed the truth.
#[derive(Clone, Debug)]
pub struct Miss {
    /// True time of the read, s from the start.
    pub t_s: f64,
    /// `"client"` (`interval_at_coarse`, as `keel-client`) or `"fine"`
    /// (`interval_at`).
    pub reader: &'static str,
    /// The status read.
    pub status: ServedStatus,
    /// The interval's half-width, ns.
    pub half_width_ns: i64,
    /// `CLOCK_REALTIME` − true time at the read, ns.
    pub error_ns: i64,
    /// The snapshot's bound, ns.
    pub bound_ns: u64,
    /// The snapshot's growth, ppb.
    pub growth_ppb: u64,
    /// How long after the snapshot's publication (true time), ns.
    pub age_ns: u64,
    /// The unannounced event the snapshot could not see, if any.
    pub after: Option<String>,
}

impl core::fmt::Display for Miss {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "t = {:.6} s ({} reader): {} ±{} ns, clock − truth {} ns (snapshot {:.3} s old: bound {} ns, growth {} ppb)",
            self.t_s,
            self.reader,
            self.status.name(),
            self.half_width_ns,
            self.error_ns,
            u64_to_f64(self.age_ns) * 1e-9,
            self.bound_ns,
            self.growth_ppb
        )?;
        if let Some(e) = &self.after {
            write!(f, " after an unannounced {e}")?;
        }
        Ok(())
    }
}

/// The reads of one run.
#[derive(Clone, Debug, Default)]
pub struct PageStats {
    /// The run's seed.
    pub seed: u64,
    /// Reads taken (while the guest ran and a snapshot was published).
    pub reads: u64,
    /// Reads at which a reader got a confident interval (synchronised or
    /// free-running): the checks against the truth.
    pub checks: u64,
    /// Checks at which a confident interval missed the true time.
    pub misses: u64,
    /// Of the misses, those after an unannounced event (one the vmclock
    /// marker does not show: a step of a clock, of the frequency, a pause
    /// or suspend without a signal), read from a snapshot published before
    /// it or less than an update interval after it (whose update could not
    /// see it yet): no reader of the page can tell, and no finite growth
    /// covers a step of any size.
    pub misses_unannounced: u64,
    /// Reads right after a signalled disruption (before the daemon's next
    /// update) and how many of them were confident.
    pub after_signal: (u64, u64),
    /// Median half-width of the checks (the client's), ns.
    pub half_width_median_ns: Option<f64>,
    /// Median of half-width / |true error| over the checks.
    pub ratio_median: Option<f64>,
    /// The first [`MISSES_KEPT`] misses.
    pub missed: Vec<Miss>,
}

#[allow(clippy::cast_precision_loss, reason = "reporting")]
fn u64_to_f64(x: u64) -> f64 {
    x as f64
}

#[allow(clippy::cast_precision_loss, reason = "reporting")]
fn i64_to_f64(x: i64) -> f64 {
    x as f64
}

/// The reads of a run in progress.
pub struct PageCheck {
    /// The scripted events (as the world runs them).
    events: Vec<ScheduledEvent>,
    /// The scenario's update interval, ns.
    interval_ns: u64,
    /// The reads still to take, true time.
    pending: BinaryHeap<Reverse<u64>>,
    /// The snapshot readers see, and the true time it was published.
    snapshot: Option<(Snapshot, u64)>,
    draw: u64,
    half_widths: Vec<f64>,
    ratios: Vec<f64>,
    stats: PageStats,
}

/// Is `e` a change no reader can see, and what is it?
fn unannounced(e: &Event) -> Option<&'static str> {
    match e {
        Event::FreqStep { .. } => Some("frequency step"),
        Event::LocalStep { .. } => Some("step of the system clock"),
        Event::ReferenceStep { .. } => Some("step of the reference"),
        Event::ForeignFrequency { .. } => Some("frequency write by another process"),
        Event::Migration { signal: false, .. } => Some("migration"),
        Event::Suspend { signal: false, .. } => Some("suspend"),
        _ => None,
    }
}

/// The first instant the guest runs at or after `e`.
fn first_run_after(e: &ScheduledEvent) -> u64 {
    match e.event {
        Event::Migration { pause_ns, .. } => e.at_ns.saturating_add(pause_ns),
        Event::Suspend { sleep_ns, .. } => e.at_ns.saturating_add(sleep_ns),
        _ => e.at_ns,
    }
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

impl PageCheck {
    /// The reads of `scn` with `seed`, whose world runs `events`.
    pub fn new(scn: &Scenario, seed: u64, events: Vec<ScheduledEvent>) -> Self {
        let mut pending = BinaryHeap::new();
        for e in &events {
            pending.push(Reverse(first_run_after(e)));
        }
        Self {
            events,
            interval_ns: scn.interval_ns,
            pending,
            snapshot: None,
            draw: seed.wrapping_mul(0xA24B_AED4_963E_E407) | 1,
            half_widths: Vec::new(),
            ratios: Vec::new(),
            stats: PageStats {
                seed,
                ..PageStats::default()
            },
        }
    }

    /// `CLOCK_MONOTONIC` of `world`: its local clock less the steps of the
    /// realtime clock so far (`stepped_ns`, the servo's; the script's
    /// [`Event::LocalStep`]s up to now).
    fn mono_ns(&self, world: &World, stepped_ns: i64) -> u64 {
        let now = world.now_ns();
        let foreign: i64 = self
            .events
            .iter()
            .filter(|e| e.at_ns <= now)
            .map(|e| match e.event {
                Event::LocalStep { delta_ns } => delta_ns,
                _ => 0,
            })
            .fold(0, i64::saturating_add);
        let real = i64::try_from(world.local_time().as_nanos()).unwrap_or(i64::MAX);
        let mono = real.saturating_sub(stepped_ns).saturating_sub(foreign);
        u64::try_from(mono).unwrap_or(0)
    }

    /// The clocks the daemon reads at the end of an update on `world`.
    pub fn clocks(&self, world: &World, stepped_ns: i64) -> PageClocks {
        let at = world.local_time();
        PageClocks {
            mono_ns: self.mono_ns(world, stepped_ns),
            real_ns: i64::try_from(at.as_nanos()).unwrap_or(i64::MAX),
            at,
            void_after_ns: keel_core::page::void_after_ns(VOID_AFTER_NS, self.interval_ns),
            marker: Some(world.counters().disruptions),
        }
    }

    /// `s` was published on `world` now; the next update is at true time
    /// `next_ns`: reads at random instants before it, and just before it.
    pub fn publish(&mut self, s: Snapshot, world: &World, next_ns: u64) {
        let now = world.now_ns();
        self.snapshot = Some((s, now));
        let span = next_ns.saturating_sub(now);
        if span == 0 {
            return;
        }
        for _ in 0..RANDOM_READS {
            let r = now + 1 + xorshift(&mut self.draw) % span;
            self.pending.push(Reverse(r));
        }
        self.pending.push(Reverse(next_ns));
    }

    /// Takes the reads due up to true time `until` (inclusive: a read at
    /// the instant of an update comes before it) on a copy of `world`,
    /// which is still before them.
    pub fn read_until(&mut self, world: &World, until: u64, stepped_ns: i64) {
        if self.pending.peek().is_none_or(|Reverse(r)| *r > until) {
            return;
        }
        let mut w = world.clone();
        while let Some(&Reverse(r)) = self.pending.peek() {
            if r > until {
                break;
            }
            self.pending.pop();
            w.advance_to(r);
            if !w.is_frozen() {
                self.read(&w, stepped_ns);
            }
        }
    }

    fn read(&mut self, w: &World, stepped_ns: i64) {
        let Some((s, published)) = self.snapshot else {
            return;
        };
        let now = w.now_ns();
        let mono = self.mono_ns(w, stepped_ns);
        let real = i64::try_from(w.local_time().as_nanos()).unwrap_or(i64::MAX);
        let truth = i64::try_from(w.reference_time().as_nanos()).unwrap_or(i64::MAX);
        let marker = Some(w.counters().disruptions);
        let coarse = mono - mono % COARSE_TICK_NS;
        let client = s.interval_at_coarse(coarse, real, marker);
        let fine = s.interval_at(mono, real, marker);
        self.stats.reads += 1;
        // Events the snapshot could not see: those after it, and an
        // unannounced one up to a full update interval before it (an
        // update just after a frequency step cannot see it yet).
        let unseen: Vec<ScheduledEvent> = self
            .events
            .iter()
            .filter(|e| e.at_ns <= now && e.at_ns > published.saturating_sub(self.interval_ns))
            .copied()
            .collect();
        if unseen.iter().any(|e| {
            e.at_ns > published
                && matches!(
                    e.event,
                    Event::Migration { signal: true, .. } | Event::Suspend { signal: true, .. }
                )
        }) {
            self.stats.after_signal.0 += 1;
            if [&client, &fine]
                .iter()
                .any(|i| i.as_ref().is_ok_and(is_confident))
            {
                self.stats.after_signal.1 += 1;
            }
        }
        let confident: Vec<(&'static str, Interval)> = [("client", client), ("fine", fine)]
            .into_iter()
            .filter_map(|(reader, i)| i.ok().filter(is_confident).map(|i| (reader, i)))
            .collect();
        let Some(&(_, shown)) = confident.first() else {
            return;
        };
        self.stats.checks += 1;
        if let Some(&(reader, i)) = confident
            .iter()
            .find(|(_, i)| !(i.earliest_ns..=i.latest_ns).contains(&truth))
        {
            self.miss(reader, &i, real, truth, &s, published, now, &unseen);
        }
        let hw = i64_to_f64((shown.latest_ns - shown.earliest_ns) / 2);
        let err = i64_to_f64(real.saturating_sub(truth)).abs().max(0.5);
        self.half_widths.push(hw);
        self.ratios.push(hw / err);
    }

    /// Counts a miss of `i`.
    #[allow(clippy::too_many_arguments, reason = "one read's context")]
    fn miss(
        &mut self,
        reader: &'static str,
        i: &Interval,
        real: i64,
        truth: i64,
        s: &Snapshot,
        published: u64,
        now: u64,
        unseen: &[ScheduledEvent],
    ) {
        let after = unseen
            .iter()
            .find_map(|e| unannounced(&e.event))
            .map(str::to_string);
        self.stats.misses += 1;
        if after.is_some() {
            self.stats.misses_unannounced += 1;
        }
        if self.stats.missed.len() < MISSES_KEPT {
            self.stats.missed.push(Miss {
                t_s: u64_to_f64(now) * 1e-9,
                reader,
                status: i.status,
                half_width_ns: (i.latest_ns - i.earliest_ns) / 2,
                error_ns: real.saturating_sub(truth),
                bound_ns: s.bound_ns,
                growth_ppb: s.growth_ppb,
                age_ns: now.saturating_sub(published),
                after,
            });
        }
    }

    /// The run's figures.
    pub fn finish(mut self) -> PageStats {
        self.stats.half_width_median_ns = median(&mut self.half_widths);
        self.stats.ratio_median = median(&mut self.ratios);
        self.stats
    }
}

/// Does `i` claim to hold the true time?
fn is_confident(i: &Interval) -> bool {
    matches!(
        i.status,
        ServedStatus::Synchronized | ServedStatus::FreeRunning
    )
}

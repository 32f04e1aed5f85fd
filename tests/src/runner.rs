//! The scenario runner: drives any servo against the simulated clock world and
//! measures it against the ground truth.
//!
//! Timing: servo updates happen at `1 ms + k·interval` of true time and the
//! ground truth is sampled at every whole second, i.e. just before an update,
//! where a servo's error is largest. This is also where clknetsim samples it:
//! with this phase the PI and linreg baselines reproduce the published
//! clknetsim figures (with the samples midway between updates, PI's RMS would
//! read 20 % lower).

pub mod ntp;
pub mod time_page;

use keel_core::measure::phc::{PhcReading, ReadMethod};
use keel_core::page::Snapshot;
use keel_core::sim::{Event, ScheduledEvent, SimConfig, World};
use keel_core::time::{Duration, KernelFreq, Ppb, Timestamp};

use crate::stats;
use time_page::{PageCheck, PageClocks, PageStats};

/// Offset of the servo updates from the whole seconds of true time, ns.
pub const UPDATE_PHASE_NS: u64 = 1_000_000;

/// How often the runner looks for a disruption signal, ns: a daemon polls
/// vmclock's disruption marker (a word in shared memory) about this often.
pub const DISRUPTION_POLL_NS: u64 = 10_000_000;

/// The shortest update interval a servo may ask for, ns.
pub const MIN_UPDATE_NS: u64 = 1_000_000;

/// What a servo sees at one update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Measured offset, local − reference (positive: local clock ahead).
    pub offset: Duration,
    /// The local clock's time of the measurement.
    pub local_ts: Timestamp,
    /// The read delay of the reading used (zero for a cross-timestamp).
    pub delay: Duration,
}

/// What a servo asks for: both parts optional.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Correction {
    /// Step the local clock by this much (ns; positive moves it forward).
    pub step_ns: Option<i64>,
    /// Set the local clock's frequency correction (absolute, ppb; positive = faster).
    pub freq_ppb: Option<f64>,
    /// Take the next sample after this long instead of the nominal interval, ns.
    pub next_update_ns: Option<u64>,
}

/// A servo as the runner drives it.
pub trait ServoUnderTest {
    /// Short display name for the report.
    fn name(&self) -> String;
    /// One update with a fresh sample.
    fn update(&mut self, s: &Sample) -> Correction;
    /// An update at which no reading could be taken (outage).
    fn no_sample(&mut self, _local_ts: Timestamp) -> Correction {
        Correction::default()
    }
    /// The environment signalled a disruption (live migration, resume).
    fn disruption(&mut self) {}
    /// The servo's current bound on |true offset|, ns, if it claims one.
    fn error_bound_ns(&self, _local_ts: Timestamp) -> Option<f64> {
        None
    }
    /// For a contender that runs whole updates itself on the world (keel's
    /// engine: its checks, reads, writes and schedule): one wake-up at true
    /// time `now`, returning the next one. `None` (the default): the runner
    /// reads, calls [`ServoUnderTest::update`], applies and schedules.
    fn drive(&mut self, _world: &mut World, _now: u64, _res: &mut RunResult) -> Option<u64> {
        None
    }
    /// For a contender that publishes keel's time page (keel's engine):
    /// after a wake-up of [`ServoUnderTest::drive`], the snapshot `keel
    /// sync` would publish with the clocks read as `clocks`, or `None`
    /// when the daemon would not publish (no update ran).
    fn time_page(&mut self, _clocks: &PageClocks) -> Option<Snapshot> {
        None
    }
}

/// One simulated experiment.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Name in the report.
    pub name: String,
    /// The clock world.
    pub sim: SimConfig,
    /// Servo update interval, ns.
    pub interval_ns: u64,
    /// Run length, s.
    pub duration_s: u64,
    /// Steady-state statistics window `[start, end)`, s.
    pub steady_s: (u64, u64),
    /// Settle times count from here, s (0, or the time of a perturbation).
    pub settle_from_s: u64,
    /// How the PHC is read.
    pub read: ReadMethod,
    /// Readings per update for sampled methods.
    pub n_samples: usize,
    /// May the servo step the clock after the first update (phc2sys `-S`,
    /// chrony `makestep … -1`)?
    pub allow_steps: bool,
    /// Every update comes late by a uniform random amount up to this, ns (a
    /// daemon woken late); the schedule keeps its grid, as keel's daemon
    /// does. 0 for exact intervals.
    pub update_jitter_ns: u64,
    /// Every scripted event comes later by a uniform random amount up to
    /// this, drawn per seed, ns: an event at a random moment of the servo's
    /// cycle. 0 for events exactly on time.
    pub event_jitter_ns: u64,
    /// A saved frequency the servo starts from, as from a state file: the
    /// correction that kept the clock on time (ppb, positive = faster) and
    /// its stated standard deviation (ppb). `None` for a cold start.
    pub prior: Option<(f64, f64)>,
}

impl Scenario {
    /// The read noise σ in the steady window, ns: the configured one, or
    /// the last [`Event::ReadNoise`] before the window.
    pub fn sigma_ns(&self) -> f64 {
        let window = self.steady_s.0.saturating_mul(1_000_000_000);
        self.sim
            .events
            .iter()
            .filter(|e| e.at_ns <= window)
            .fold(self.sim.read.noise_ns, |n, e| match e.event {
                Event::ReadNoise { noise_ns } => noise_ns,
                _ => n,
            })
    }

    /// The update interval, s.
    #[allow(clippy::cast_precision_loss, reason = "intervals are small")]
    pub fn interval_s(&self) -> f64 {
        self.interval_ns as f64 * 1e-9
    }
}

/// Metrics of one run.
#[derive(Clone, Debug, Default)]
pub struct RunResult {
    /// Seconds after `settle_from` until |offset| stays below 1 µs (None: never).
    pub settle_1us_s: Option<f64>,
    /// Seconds after `settle_from` until |offset| stays below 100 ns (None: never).
    pub settle_100ns_s: Option<f64>,
    /// RMS of the true offset in the steady window, ns.
    pub rms_offset_ns: f64,
    /// Max |true offset| in the steady window, ns.
    pub max_offset_ns: f64,
    /// Max |true offset| from `settle_from` to the end, ns (the transient peak),
    /// sampled every second and just before every update.
    pub peak_offset_ns: f64,
    /// RMS of the true frequency error in the steady window, ppb.
    pub rms_freq_ppb: f64,
    /// Error-bound checks made (seconds at which the servo claimed a bound).
    pub bound_checks: u64,
    /// Checks where |true offset| exceeded the claimed bound.
    pub bound_violations: u64,
    /// The seconds at which the bound was violated (the first 100).
    pub violation_times_s: Vec<u64>,
    /// Median of bound / |true offset| over the checks.
    pub bound_tightness_median: Option<f64>,
    /// Steps the servo took.
    pub steps: u64,
    /// Their sum, ns (positive: the clock jumped ahead).
    pub stepped_ns: i64,
    /// Servo updates from `settle_from` to the end (regular ones and the
    /// early ones it asked for).
    pub updates_after_settle: u64,
    /// Max |true frequency error| from `settle_from` to the end, sampled
    /// every second, ppb.
    pub peak_freq_error_ppb: f64,
    /// The true offset at every whole second, ns.
    pub trace_offset_ns: Vec<f64>,
    /// The time page's intervals against the truth (servos that publish
    /// one: [`ServoUnderTest::time_page`]).
    pub page: PageStats,
}

/// The offset sample of a PHC reading: the cross-timestamp itself, or the
/// triple with the shortest interval and its midpoint.
pub fn offset_sample(r: &PhcReading) -> Option<Sample> {
    r.best_sample().map(|b| Sample {
        offset: b.offset,
        local_ts: b.local_ts,
        delay: b.delay,
    })
}

/// xorshift64: the runner's own draws (overruns, event times), so the
/// world's draws stay those of the same seed.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// `scn`'s world for `seed`, its scripted events moved later by up to
/// [`Scenario::event_jitter_ns`].
pub fn world_for(scn: &Scenario, seed: u64) -> World {
    if scn.event_jitter_ns == 0 {
        return World::new(&scn.sim, seed);
    }
    let mut sim = scn.sim.clone();
    for (e, moved) in sim.events.iter_mut().zip(scripted_events(scn, seed)) {
        e.at_ns = moved.at_ns;
    }
    World::new(&sim, seed)
}

/// The scripted events of `scn`'s world for `seed`, at the times they
/// happen (moved later by up to [`Scenario::event_jitter_ns`]), in the
/// scenario's order.
pub fn scripted_events(scn: &Scenario, seed: u64) -> Vec<ScheduledEvent> {
    let mut events: Vec<ScheduledEvent> = scn.sim.events.iter().copied().collect();
    if scn.event_jitter_ns > 0 {
        let mut draw = seed.wrapping_mul(0xD1B5_4A32_D192_ED03) | 1;
        for e in &mut events {
            e.at_ns = e
                .at_ns
                .saturating_add(xorshift(&mut draw) % scn.event_jitter_ns);
        }
    }
    events
}

/// Runs `servo` through `scn` with `seed`.
///
/// The updates keep a grid of the scenario's interval, as keel's daemon
/// does: an early update a servo asks for (a re-read, a burst) comes in
/// between, and the regular ones stay on their grid.
pub fn run(scn: &Scenario, servo: &mut dyn ServoUnderTest, seed: u64) -> RunResult {
    let mut world = world_for(scn, seed);
    let end_ns = scn.duration_s * 1_000_000_000;
    let settle_from_ns = scn.settle_from_s * 1_000_000_000;
    let mut next_update = UPDATE_PHASE_NS.min(scn.interval_ns / 2);
    // When the update was due (`next_update` less its lateness).
    let mut scheduled = next_update;
    let mut next_second = 1_000_000_000u64;
    let mut next_poll = DISRUPTION_POLL_NS;
    let mut res = RunResult::default();
    let mut offsets = Vec::new();
    let mut freqs = Vec::new();
    let mut tightness = Vec::new();
    let mut last_above_1us = None;
    let mut last_above_100ns = None;
    // The overruns' own generator (xorshift), so the world's draws stay
    // those of the same seed without jitter.
    let mut overrun = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    // The regular updates' grid (`next_update` may come sooner).
    let mut grid = next_update;
    let mut page = PageCheck::new(scn, seed, scripted_events(scn, seed));
    loop {
        let now = next_update.min(next_second).min(next_poll);
        if now > end_ns {
            break;
        }
        page.read_until(&world, now, res.stepped_ns);
        world.advance_to(now);
        if now == next_poll {
            next_poll += DISRUPTION_POLL_NS;
            if world.take_disruption().is_some() {
                servo.disruption();
                next_update = now;
                scheduled = now;
                grid = now;
            }
        }
        if now == next_update {
            if now > settle_from_ns {
                res.peak_offset_ns = res.peak_offset_ns.max(world.true_offset_ns().abs());
                res.updates_after_settle += 1;
            }
            let late = if scn.update_jitter_ns > 0 {
                xorshift(&mut overrun) % (scn.update_jitter_ns + 1)
            } else {
                0
            };
            if let Some(t) = servo.drive(&mut world, now, &mut res) {
                // The engine keeps its own grid.
                next_update = t.saturating_add(late).max(now + MIN_UPDATE_NS);
                // The daemon publishes at the end of an update (a frozen
                // guest runs none).
                let clocks = page.clocks(&world, res.stepped_ns);
                if let Some(s) = servo.time_page(&clocks).filter(|_| !world.is_frozen()) {
                    page.publish(s, &world, next_update.min(end_ns));
                }
            } else {
                let corr = match world
                    .read_phc(scn.read, scn.n_samples)
                    .ok()
                    .as_ref()
                    .and_then(offset_sample)
                {
                    Some(s) => servo.update(&s),
                    None => servo.no_sample(world.local_time()),
                };
                apply(&mut world, &corr, &mut res);
                if scheduled >= grid {
                    grid += scn.interval_ns;
                    if grid <= scheduled {
                        // Fell behind (a frozen guest): realign, don't burst.
                        grid = scheduled + scn.interval_ns;
                    }
                }
                scheduled = corr
                    .next_update_ns
                    .map_or(grid, |d| grid.min(scheduled + d.max(MIN_UPDATE_NS)));
                next_update = (scheduled + late).max(now + MIN_UPDATE_NS);
            }
        }
        if now != next_second {
            continue;
        }
        let t = next_second / 1_000_000_000;
        let off = world.true_offset_ns();
        res.trace_offset_ns.push(off);
        if t >= scn.steady_s.0 && t < scn.steady_s.1 {
            offsets.push(off);
            freqs.push(world.true_freq_error_ppb());
        }
        if t > scn.settle_from_s {
            res.peak_offset_ns = res.peak_offset_ns.max(off.abs());
            res.peak_freq_error_ppb = res
                .peak_freq_error_ppb
                .max(world.true_freq_error_ppb().abs());
            if off.abs() > 1_000.0 {
                last_above_1us = Some(t);
            }
            if off.abs() > 100.0 {
                last_above_100ns = Some(t);
            }
        }
        // A frozen guest runs nothing, so no one can read its bound then.
        let bound = if world.is_frozen() {
            None
        } else {
            servo.error_bound_ns(world.local_time())
        };
        if let Some(bound) = bound {
            res.bound_checks += 1;
            if off.abs() > bound {
                res.bound_violations += 1;
                if res.violation_times_s.len() < 100 {
                    res.violation_times_s.push(t);
                }
            }
            if off != 0.0 {
                tightness.push(bound / off.abs());
            }
        }
        next_second += 1_000_000_000;
    }
    let settle = |last: Option<u64>| match last {
        None => Some(0.0),
        Some(t) if t * 1_000_000_000 >= end_ns => None,
        #[allow(clippy::cast_precision_loss, reason = "seconds of a run")]
        Some(t) => Some((t - scn.settle_from_s) as f64),
    };
    res.settle_1us_s = settle(last_above_1us);
    res.settle_100ns_s = settle(last_above_100ns);
    res.rms_offset_ns = stats::rms(&offsets);
    res.max_offset_ns = offsets.iter().fold(0.0, |m, x| m.max(x.abs()));
    res.rms_freq_ppb = stats::rms(&freqs);
    res.bound_tightness_median = stats::median(&mut tightness);
    res.page = page.finish();
    res
}

fn apply(world: &mut World, c: &Correction, res: &mut RunResult) {
    if let Some(step) = c.step_ns {
        world.step(Duration::from_nanos(step));
        res.steps += 1;
        res.stepped_ns = res.stepped_ns.saturating_add(step);
    }
    if let Some(ppb) = c.freq_ppb {
        world.adjtime_frequency(KernelFreq::from_ppb(
            Ppb::from_f64(ppb),
            KernelFreq::USER_HZ,
        ));
    }
}

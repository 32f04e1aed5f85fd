//! The engine: keel's whole sync logic as one sans-IO state machine.
//!
//! Every user of keel drives this same machine: the `keel` daemon, the C
//! library, the firmware, the simulator and the scenario runner. The caller
//! owns the clocks and the devices; the engine owns every decision.
//!
//! ```text
//! loop {
//!     match engine.poll(now) {
//!         Command::Wait(t)        => sleep until t (or an event),
//!         Command::CheckClock     => engine.on_clock_check(read the clocks),
//!         Command::Read{source,n} => engine.on_reading(..) / on_read_error(..),
//!         Command::Adjust(a)      => engine.on_adjusted(write a),
//!         Command::Step(d)        => engine.on_stepped(step by d),
//!         Command::SaveState(s)   => keep s,
//!         Command::Halt(h)        => stop,
//!     }
//! }
//! ```
//!
//! One update: the clock checks (a signalled disruption, a suspend seen in
//! `CLOCK_BOOTTIME − CLOCK_MONOTONIC`, another process's frequency or step),
//! the leap-second quiet window, one read of the source (holding over when it
//! fails), the servo, the frequency written first and then the step with the
//! drift since the reading taken out of it (the servo is told what was
//! applied and when it took effect), the kernel status from the bound, the
//! frequency statistics for the state file, and the next deadline: the
//! regular grid, or sooner when the servo asks for a re-read.
//!
//! How much to read: after a cold start the first eight readings
//! come a quarter interval apart (so a bound is stated within two intervals),
//! and a source whose own read noise dominates ([`Reading::noise_limited`])
//! is read [`PHC_MAX_SAMPLES`] triples at a time until it is quiet again.
//!
//! Integer arithmetic only (the servo adds [`crate::num::Real`]); no allocation;
//! deterministic.

mod guest;
mod io;
mod ntp;
mod pps;
mod served;

pub use io::{
    Adjust, Adjusted, ClockCheck, Command, Counters, Disruption, DisruptionCause, EngineConfig,
    Halt, KernelStatus, LeapBits, MAX_SOURCES, Notice, ReadError, Reading, SavedFrequency,
    SavedPrior, SinkConfig, SourceConfig, SourceId, SourceKind, Status, SyncState, is_scale_step,
};

pub use ntp::{BURST_REQUESTS, JURY_SKEW_PPB, NtpEstimate, NtpPolicy};
pub use pps::{PPS_MARGIN_NS, PPS_NOTICES, PPS_PERIOD_NS, PpsNotice, PpsSourceView};
pub use served::{GROWTH_FLOOR_PPB, Served, ServedStatus};

use heapless::Deque;

use crate::measure::ntp::{KissAction, NtpSample, log2_seconds};
use crate::measure::phc::PHC_MAX_SAMPLES;
use crate::measure::pps::PpsConfig;
use crate::select::combine::{Verdict, select};
use crate::select::intersection::{Candidate, ENDPOINTS_PER_CANDIDATE, Endpoint};
use crate::servo::{Applied, OffsetSample, Servo, ServoConfig, ServoOutput};
use crate::time::{Duration, Ppb, Timestamp};

/// Notices kept for the caller (older ones are dropped and counted).
pub const NOTICES: usize = 8;

/// The default frequency change allowed for in holdover beyond the servo's
/// wander model, ppb ([`Engine::set_holdover_drift`]): the least growth
/// served to applications ([`GROWTH_FLOOR_PPB`]), a TCXO's 1 K.
pub const HOLDOVER_DRIFT_PPB: i64 = 10;

/// Seconds either side of a leap second in which readings are ignored: the
/// reference and the kernel both step there, not quite together.
pub const LEAP_QUIET_S: u64 = 2;

/// A suspend or pause shorter than this (`CLOCK_BOOTTIME − CLOCK_MONOTONIC`
/// growth between updates) is ignored, ns.
const SUSPEND_MIN_NS: i64 = 100_000_000;

/// Kernel frequency and keel's own may differ by this much before another
/// process is suspected, ppb (the kernel's `timex.freq` rounding is far
/// below).
const FREQ_INTERFERENCE_PPB: i64 = 1;

/// Elapsed-time interference tolerance: 100 µs plus 244 ppm (2⁻¹²) of the
/// span. On
/// Linux `CLOCK_REALTIME` and `CLOCK_MONOTONIC_RAW` share the oscillator, so
/// the deviation is normally zero; a simulation that models the raw clock as
/// true time needs its oscillator error (≤ 100 ppm) to fit, and a PHC sink
/// runs on its own crystal (tens of ppm).
fn jump_tolerance_ns(span_ns: u64) -> u64 {
    100_000u64.saturating_add(span_ns >> 12)
}

/// The shortest wait between updates, ns.
const MIN_WAIT_NS: u64 = 1_000_000;

/// Readings taken at a quarter of the interval after a cold start, with a
/// servo that gives an error bound: it needs six readings on an even grid
/// before it has measured the reading noise and states a bound, which at
/// 1 s took 6 s (an application waiting for sync waited that long); a
/// quarter-interval start takes 1.5 s. The servo is told the shorter
/// interval for these and the nominal one after.
const START_READS: u8 = 8;

/// Intervals shorter than this are not quartered at the start, ns.
const START_MIN_INTERVAL_NS: i64 = 200_000_000;

/// Reads kept at [`PHC_MAX_SAMPLES`] readings after the last one whose
/// source's read noise dominated: a noisy spell that pauses for a few reads
/// does not flip the count back and forth.
const NOISY_READS: u8 = 16;

/// PHC readings in a row the NTP jury must outvote before the PHC is
/// rejected: one odd reading is the servo's business, three are the PHC's.
const REJECT_AFTER: u8 = 3;

/// How long a rejected PHC must agree with the jury before it steers again,
/// ns of sink time; a burst of NTP requests starts when it first agrees.
const PROBATION_NS: i64 = 30_000_000_000;

/// NTP samples taken while a rejected PHC agrees that it needs to steer
/// again.
const PROBATION_SAMPLES: u32 = 2;

/// A rejected PHC whose frequency differs from the NTP servers' by more
/// than this, ppb, drifted: the servo is told (see `Engine::rate_back_to`).
const RATE_DOUBT_PPB: i64 = 200;

/// The largest frequency correction asked for while NTP steers, ppb: an
/// oscillator is within a few hundred ppm, and NTP's samples cannot
/// justify slewing faster than 2 ms/s (large offsets are stepped).
const NTP_MAX_FREQUENCY_PPB: i64 = 2_000_000;

/// Failed PHC reads in a row after which NTP steers.
const PHC_LOST_AFTER: u64 = 3;

/// How long an NTP update waits after the first fresh sample for the other
/// servers' replies to the same round, ns of loop time: one update per
/// round, on every server's news (samples microseconds apart are no
/// measure of a frequency).
const NTP_GATHER_NS: u64 = 100_000_000;

/// What the NTP sources say about a PHC reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PhcVerdict {
    /// No NTP estimate to judge by.
    NoJury,
    /// Inside the jury's interval.
    Agrees,
    /// Outside the interval a majority of the reachable NTP sources
    /// agree on.
    /// Carries the median of the truechimers' sample frequencies (the
    /// frequency that held the sink on time when each was taken).
    Outvoted {
        low: Duration,
        high: Duration,
        freq: Option<Ppb>,
    },
    /// Outside the NTP estimate, which no majority backs: one NTP source,
    /// or several that disagree. Carries the NTP estimate and its
    /// half-width.
    Disputed { ntp: Duration, half_width: Duration },
}

/// The NTP sources' intervals at one time: the first `n` of `cands` (and
/// of `which`, their sources and estimates), and how many selectable
/// sources are reachable.
type NtpCandidates = (
    [Candidate; MAX_SOURCES],
    [Option<(SourceId, NtpEstimate)>; MAX_SOURCES],
    usize,
    usize,
);

/// One NTP source as [`Engine::ntp_view`] shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NtpSourceView {
    /// Which source.
    pub source: SourceId,
    /// RFC 5905's reach register (a bit per request, newest lowest).
    pub reach: u8,
    /// The poll interval in force, log₂ s.
    pub poll: i8,
    /// What its samples say of the sink now.
    pub estimate: Option<NtpEstimate>,
    /// Polled, never selected.
    pub noselect: bool,
    /// Selection counts it among the truechimers.
    pub truechimer: bool,
}

/// The NTP sources' jury over the PHC.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Jury {
    /// PHC readings in a row the jury outvoted.
    outvoted_run: u8,
    /// The PHC is rejected (outvoted, or lost): NTP steers.
    rejected: bool,
    /// Sink time since which a rejected PHC has agreed with the jury.
    agrees_since: Option<Timestamp>,
    /// A dispute was reported and has not ended.
    disputed: bool,
}

/// Where an update is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Between updates.
    Idle,
    /// [`Command::CheckClock`] handed out.
    Check,
    /// [`Command::Read`] handed out.
    Read(SourceId),
    /// [`Command::Adjust`] handed out for `out`.
    Adjust {
        out: ServoOutput,
        sampled_at: Option<Timestamp>,
        freq_asked: Option<Ppb>,
    },
    /// [`Command::Step`] handed out.
    Step {
        out: ServoOutput,
        by: Duration,
        took_effect: Option<Timestamp>,
    },
}

/// The sink's time against the raw oscillator at the last check.
#[derive(Clone, Copy, Debug)]
struct ElapsedRef {
    raw_ns: u64,
    sink: Timestamp,
    /// keel's own steps since, ns.
    own: Duration,
    pair_width_ns: u64,
}

/// keel's sync logic for one sink and up to `N` sources of which up to
/// `NTP` are NTP servers and up to `PPS` pulse-per-second inputs (at most
/// [`MAX_SOURCES`]; firmware with one PHC holds `Engine<S, 1, 0, 0>`, which
/// has no NTP or PPS state), around the servo `S`.
#[derive(Clone, Debug)]
pub struct Engine<
    S,
    const N: usize = MAX_SOURCES,
    const NTP: usize = MAX_SOURCES,
    const PPS: usize = 1,
> {
    cfg: EngineConfig,
    servo: S,
    sources: [Option<SourceConfig>; N],
    phase: Phase,
    /// A command decided but not yet handed out.
    queued: Option<Command>,
    /// The next update's loop time, and the regular grid's.
    next_ns: u64,
    grid_ns: u64,
    /// Loop time of the update in progress.
    update_ns: u64,
    elapsed: Option<ElapsedRef>,
    suspended_ref: Option<i64>,
    /// The caller was paused (frozen): its clocks jumped, not the sink.
    paused: bool,
    pending: Option<DisruptionCause>,
    /// The last check's wall time and leap information.
    last_check: Option<ClockCheck>,
    leap_quiet: bool,
    freq_in_force: Ppb,
    /// What keel last wrote (`None`: another process changed it; keel's is
    /// written back with the next update).
    written: Option<Ppb>,
    failed_updates: u64,
    /// Readings left of the quarter-interval start ([`START_READS`]).
    start_reads_left: u8,
    /// Reads left at [`PHC_MAX_SAMPLES`] readings since the last reading
    /// whose source's read noise dominated ([`Reading::noise_limited`]).
    noisy_reads_left: u8,
    /// Exponential mean (ppb 32.32) and variance (ppb², 16 fraction bits)
    /// of the frequency while locked; restarted by a disruption.
    freq_stats: Option<(i64, i64)>,
    /// Locked updates since the state was last handed out to save.
    since_save: u32,
    status: Status,
    notices: Deque<Notice, NOTICES>,
    notices_dropped: u32,
    halted: Option<Halt>,
    /// NTP bookkeeping, by source slot.
    ntp: [Option<(SourceId, ntp::NtpSource)>; NTP],
    /// Sink time up to which the NTP samples are re-framed.
    ntp_framed: Option<Timestamp>,
    /// The sink time of an NTP sample not yet acted on, while NTP steers,
    /// and the loop time the update on it is due.
    ntp_fresh: Option<Timestamp>,
    ntp_due_ns: u64,
    /// Counts the sink's steps and lost frames: a request out across one
    /// gives a sample on two time lines.
    ntp_epoch: u32,
    /// The newest NTP sample the servo has used, sink time.
    ntp_used: Option<Timestamp>,
    /// The kind of source the servo was last fed from.
    fed: Option<SourceKind>,
    /// The PHC's host says its clock is not synchronised.
    host_unsync: bool,
    /// A floor under the bound the servo states: while NTP steers, the far
    /// edge of the truechimers' intersection at the last update; while a
    /// PHC that NTP disputes steers, the NTP interval's far edge.
    bound_floor: Duration,
    jury: Jury,
    /// PPS bookkeeping, by source slot.
    pps: [Option<(SourceId, pps::PpsSource)>; PPS],
    /// Sink time of the last reading the servo took.
    last_sample_at: Option<Timestamp>,
    /// The frequency change in holdover that no reading showed, allowed for
    /// in the bound ([`Engine::set_holdover_drift`]).
    holdover_drift: Ppb,
}

impl<S: Servo> Engine<S> {
    /// An engine around `servo` holding up to [`MAX_SOURCES`] sources, with
    /// `freq` in force on the sink, whose first update is due at loop time
    /// `first_update_ns`.
    pub fn new(cfg: EngineConfig, servo: S, freq: Ppb, first_update_ns: u64) -> Self {
        Self::new_with_capacity(cfg, servo, freq, first_update_ns)
    }
}

impl<S: Servo, const N: usize, const NTP: usize, const PPS: usize> Engine<S, N, NTP, PPS> {
    /// [`Engine::new`] for an engine holding up to `N` sources, `NTP` of
    /// them NTP servers (each keeps about 0.4 KiB of samples) and `PPS` of
    /// them pulse-per-second inputs (about 0.3 KiB each):
    /// `Engine::<_, 1, 0, 0>` for one PHC, with no NTP or PPS state.
    pub fn new_with_capacity(
        cfg: EngineConfig,
        mut servo: S,
        freq: Ppb,
        first_update_ns: u64,
    ) -> Self {
        const {
            assert!(
                N >= 1 && N <= MAX_SOURCES && NTP <= N && PPS <= N,
                "an engine holds 1..=MAX_SOURCES sources, at most all of them NTP or PPS"
            );
        };
        servo.set_config(Self::servo_config(&cfg, false));
        let start_reads_left =
            if servo.gives_bound() && cfg.interval.as_nanos() >= START_MIN_INTERVAL_NS {
                START_READS
            } else {
                0
            };
        servo.set_interval(Self::interval_of(&cfg, start_reads_left));
        Self {
            cfg,
            servo,
            sources: [None; N],
            phase: Phase::Idle,
            queued: None,
            next_ns: first_update_ns,
            grid_ns: first_update_ns,
            update_ns: first_update_ns,
            elapsed: None,
            suspended_ref: None,
            paused: false,
            pending: None,
            last_check: None,
            leap_quiet: false,
            freq_in_force: freq,
            // What the caller says is in force counts as keel's own.
            written: Some(freq),
            failed_updates: 0,
            start_reads_left,
            noisy_reads_left: 0,
            freq_stats: None,
            since_save: 0,
            status: Status {
                state: SyncState::Unlocked,
                source: None,
                last_offset: None,
                last_delay: Duration::ZERO,
                freq,
                bound: None,
                last_update_ns: first_update_ns,
                holdover_since_ns: None,
                counters: Counters::default(),
            },
            notices: Deque::new(),
            notices_dropped: 0,
            halted: None,
            ntp: [None; NTP],
            ntp_framed: None,
            ntp_fresh: None,
            ntp_due_ns: 0,
            ntp_epoch: 0,
            ntp_used: None,
            fed: None,
            bound_floor: Duration::ZERO,
            host_unsync: false,
            jury: Jury::default(),
            pps: [const { None }; PPS],
            last_sample_at: None,
            holdover_drift: Ppb::from_ppb(HOLDOVER_DRIFT_PPB),
        }
    }

    /// How far the oscillator's frequency may move in holdover beyond what
    /// the servo's wander model (learnt from the readings) allows: a
    /// temperature swing the readings never showed (the oscillator's ppb/K
    /// times the kelvins it may see), ppb, ≥ 0. While holding over, the
    /// bound grows by this much per second since the last reading, on top
    /// of the servo's. Default [`HOLDOVER_DRIFT_PPB`].
    pub fn set_holdover_drift(&mut self, drift: Ppb) {
        self.holdover_drift = Ppb::from_bits(drift.to_bits().saturating_abs());
    }

    /// What [`Engine::set_holdover_drift`] adds to the bound at sink time
    /// `t`: zero unless holding over.
    fn holdover_allowance(&self, t: Timestamp) -> Duration {
        match (self.status.holdover_since_ns, self.last_sample_at) {
            (Some(_), Some(from)) => {
                let held = t.duration_since(from);
                if held <= Duration::ZERO {
                    Duration::ZERO
                } else {
                    self.holdover_drift.phase_over(held).saturating_abs()
                }
            }
            _ => Duration::ZERO,
        }
    }

    /// The servo's thresholds for `cfg`; slew only once the step limit is
    /// past.
    fn servo_config(cfg: &EngineConfig, slew_only: bool) -> ServoConfig {
        let mut sc = cfg.servo;
        sc.max_frequency = Ppb::from_bits(
            sc.max_frequency
                .to_bits()
                .saturating_abs()
                .min(cfg.sink.max_frequency.to_bits().saturating_abs()),
        );
        if slew_only {
            sc.first_step_threshold = Duration::ZERO;
            sc.step_threshold = Duration::ZERO;
        }
        sc
    }

    /// Registers a source. `None` when all `N` slots (or, for an NTP
    /// source, all `NTP`; for a PPS source, all `PPS`) are taken. An NTP
    /// source gets [`NtpPolicy::default`] and is first asked at the first
    /// update ([`Engine::add_ntp_source`] chooses); a PPS source gets
    /// [`PpsConfig::default`] ([`Engine::add_pps_source`] chooses).
    pub fn add_source(&mut self, source: SourceConfig) -> Option<SourceId> {
        let slot = self.sources.iter().position(Option::is_none)?;
        let id = SourceId(u8::try_from(slot).ok()?);
        if source.kind == SourceKind::Ntp {
            let n = self.ntp.iter_mut().find(|n| n.is_none())?;
            *n = Some((id, ntp::NtpSource::new(NtpPolicy::default(), self.next_ns)));
        }
        if source.kind == SourceKind::Pps {
            let p = self.pps.iter_mut().find(|p| p.is_none())?;
            *p = Some((id, pps::PpsSource::new(PpsConfig::default())));
        }
        *self.sources.get_mut(slot)? = Some(source);
        Some(id)
    }

    /// NTP source `id`'s bookkeeping.
    fn ntp_of(&self, id: SourceId) -> Option<&ntp::NtpSource> {
        self.ntp
            .iter()
            .flatten()
            .find(|(i, _)| *i == id)
            .map(|(_, n)| n)
    }

    fn ntp_of_mut(&mut self, id: SourceId) -> Option<&mut ntp::NtpSource> {
        self.ntp
            .iter_mut()
            .flatten()
            .find(|(i, _)| *i == id)
            .map(|(_, n)| n)
    }

    /// Registers an NTP server with `policy`, first asked at loop time
    /// `now_ns`. `None` when all `N` slots are taken.
    pub fn add_ntp_source(&mut self, policy: NtpPolicy, now_ns: u64) -> Option<SourceId> {
        let id = self.add_source(SourceConfig {
            kind: SourceKind::Ntp,
            scale_offset: Duration::ZERO,
            scale_guessed: false,
        })?;
        *self.ntp_of_mut(id)? = ntp::NtpSource::new(policy, now_ns);
        Some(id)
    }

    /// Registers a pulse-per-second input labelled as `cfg` says (cable
    /// delay, windows, pulse width). `None` when all `N` slots or all `PPS`
    /// are taken. Its edges go to [`Engine::on_pps_edge`], its time of day
    /// (NMEA, gpsd, a PHC or NTP reading) to [`Engine::on_tod`].
    pub fn add_pps_source(&mut self, cfg: PpsConfig) -> Option<SourceId> {
        let id = self.add_source(SourceConfig {
            kind: SourceKind::Pps,
            scale_offset: Duration::ZERO,
            scale_guessed: false,
        })?;
        *self.pps_of_mut(id)? = pps::PpsSource::new(cfg);
        Some(id)
    }

    fn pps_of_mut(&mut self, id: SourceId) -> Option<&mut pps::PpsSource> {
        self.pps
            .iter_mut()
            .flatten()
            .find(|(i, _)| *i == id)
            .map(|(_, p)| p)
    }

    /// A frequency known before the first readings (a state file): the
    /// correction that kept the clock on time and its standard deviation.
    /// The servo tests it against its first readings before using it.
    pub fn set_frequency_prior(&mut self, freq: Ppb, sd: Ppb) {
        let f = freq.clamp_abs(self.cfg.sink.max_frequency);
        self.servo.set_frequency_prior(f, sd);
    }

    /// A frequency saved earlier: its prior, widened for its origin and
    /// age ([`SavedPrior::trusted_sd`]). Returns the standard deviation
    /// used.
    pub fn set_saved_frequency(&mut self, saved: &SavedPrior) -> Ppb {
        let sd = saved.trusted_sd();
        self.set_frequency_prior(saved.freq, sd);
        sd
    }

    /// Changes the update interval (a configuration reload).
    pub fn set_interval(&mut self, interval: Duration) {
        self.cfg.interval = interval;
        if interval.as_nanos() < START_MIN_INTERVAL_NS {
            self.start_reads_left = 0;
        }
        self.servo
            .set_interval(Self::interval_of(&self.cfg, self.start_reads_left));
    }

    /// The update interval in force: a quarter of the configured one while
    /// `start_reads_left` readings of the start remain.
    fn interval_of(cfg: &EngineConfig, start_reads_left: u8) -> Duration {
        if start_reads_left > 0 {
            Duration::from_nanos(cfg.interval.as_nanos() / 4)
        } else {
            cfg.interval
        }
    }

    /// The configuration in force.
    pub const fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    /// The status after the last update.
    pub const fn status(&self) -> &Status {
        &self.status
    }

    /// The servo (read-only).
    pub const fn servo(&self) -> &S {
        &self.servo
    }

    /// The bound on |true offset| at sink time `t`, if the servo gives one
    /// (in holdover, with [`Engine::set_holdover_drift`]'s allowance).
    pub fn bound_at(&self, t: Timestamp) -> Option<Duration> {
        let allowance = self.holdover_allowance(t);
        self.stated_bound(self.servo.error_bound(t))
            .map(|b| b.saturating_add(allowance))
    }

    /// The bound keel states for the servo's `bound`: none while the PHC
    /// steers and its host says it is unsynchronised, else never below
    /// the floor the NTP intervals set (`bound_floor`).
    fn stated_bound(&self, bound: Option<Duration>) -> Option<Duration> {
        if self.unsync_phc_steers() {
            return None;
        }
        bound.map(|b| b.max(self.bound_floor))
    }

    /// The oldest notice not yet taken.
    pub fn take_notice(&mut self) -> Option<Notice> {
        self.notices.pop_front()
    }

    /// Notices dropped because the caller did not take them in time.
    pub const fn notices_dropped(&self) -> u32 {
        self.notices_dropped
    }

    /// The loop time of the next regular update or re-read, ns.
    pub const fn next_update_ns(&self) -> u64 {
        self.next_ns
    }

    fn notice(&mut self, n: Notice) {
        if self.notices.is_full() {
            let _ = self.notices.pop_front();
            self.notices_dropped = self.notices_dropped.saturating_add(1);
        }
        let _ = self.notices.push_back(n);
    }

    /// A disruption the caller saw (a vmclock marker, a resume, a read method
    /// that stopped working) at loop time `now_ns`. Between updates it brings
    /// the next update forward to `now_ns`; during one it applies before the
    /// reading.
    pub fn on_disruption(&mut self, now_ns: u64, what: Disruption) {
        let cause = DisruptionCause::Signalled(what);
        if matches!(self.phase, Phase::Idle) {
            self.pending = Some(cause);
            if now_ns < self.next_ns {
                self.next_ns = now_ns;
                self.grid_ns = now_ns;
            }
        } else {
            self.disrupt(cause);
        }
    }

    fn disrupt(&mut self, cause: DisruptionCause) {
        self.notice(Notice::Disrupted(cause));
        self.servo.disruption();
        self.freq_stats = None;
        self.status.counters.disruptions = self.status.counters.disruptions.saturating_add(1);
        self.elapsed = None;
        if self.status.state.is_locked() {
            self.status.state = SyncState::Unlocked;
        }
        // The sink moved by what nobody measured: the NTP samples' frame
        // is lost; fresh ones come in a burst.
        for (_, n) in self.ntp.iter_mut().flatten() {
            n.forget();
        }
        self.burst_ntp();
        self.ntp_framed = None;
        self.ntp_epoch = self.ntp_epoch.wrapping_add(1);
        self.jury.outvoted_run = 0;
        self.jury.agrees_since = None;
        // The pulses' local times are on the lost frame too: labelling
        // starts again from the time of day.
        for (_, p) in self.pps.iter_mut().flatten() {
            p.reset();
        }
    }

    /// What to do next at loop time `now_ns`.
    pub fn poll(&mut self, now_ns: u64) -> Command {
        if let Some(h) = self.halted {
            return Command::Halt(h);
        }
        if let Some(c) = self.queued.take() {
            return c;
        }
        match self.phase {
            Phase::Idle => {
                if let Some(c) = self.ntp_transmit(now_ns) {
                    return c;
                }
                if let Some(c) = self.pps_deadline(now_ns) {
                    return c;
                }
                if self.ntp_fresh.is_some() && self.ntp_steers() && now_ns >= self.ntp_due_ns {
                    return self.ntp_update(now_ns);
                }
                if now_ns < self.next_ns {
                    Command::Wait(self.next_wake())
                } else {
                    self.begin(now_ns)
                }
            }
            // A question handed out and not answered: the pull-style
            // assumptions.
            Phase::Check => self.after_check(),
            Phase::Read(source) => self.read_failed(source, ReadError::Busy, None),
            Phase::Adjust {
                out,
                sampled_at,
                freq_asked,
            } => {
                // Applied as asked, when the reading was taken.
                let freq = freq_asked.unwrap_or(self.freq_in_force);
                self.adjusted(out, sampled_at, freq_asked, Ok((freq, sampled_at)))
            }
            Phase::Step {
                out,
                by,
                took_effect,
            } => self.stepped(out, by, took_effect, true),
        }
    }

    /// The next loop time something is due: an update, an NTP request or
    /// a PPS edge's deadline.
    fn next_wake(&self) -> u64 {
        let update = if self.ntp_fresh.is_some() && self.ntp_steers() {
            self.next_ns.min(self.ntp_due_ns)
        } else {
            self.next_ns
        };
        let ntp = self
            .ntp
            .iter()
            .flatten()
            .filter(|(_, n)| !n.stopped)
            .map(|(_, n)| n.next_tx_ns)
            .fold(update, u64::min);
        self.pps
            .iter()
            .flatten()
            .filter_map(|(_, p)| p.deadline_ns)
            .fold(ntp, u64::min)
    }

    /// An NTP request due at loop time `now_ns`, if any.
    fn ntp_transmit(&mut self, now_ns: u64) -> Option<Command> {
        let epoch = self.ntp_epoch;
        let (source, n) = self.ntp.iter_mut().flatten().find(|(_, n)| n.due(now_ns))?;
        let poll = n.transmitted(now_ns, epoch);
        Some(Command::SendNtp {
            source: *source,
            poll,
        })
    }

    /// Are there NTP sources?
    fn has_ntp(&self) -> bool {
        NTP > 0 && self.ntp.iter().any(Option::is_some)
    }

    /// The first PHC source.
    fn phc_source(&self) -> Option<SourceId> {
        self.sources
            .iter()
            .position(|s| s.is_some_and(|s| s.kind == SourceKind::Phc))
            .and_then(|i| u8::try_from(i).ok())
            .map(SourceId)
    }

    /// Does NTP steer: there is no PHC, or it is rejected or lost, and no
    /// PPS source's edges are coming?
    pub fn ntp_steers(&self) -> bool {
        self.has_ntp()
            && (self.phc_source().is_none() || self.jury.rejected)
            && self.pps_live().is_none()
    }

    /// A valid NTP sample from `source` (a reply that passed
    /// [`crate::measure::ntp::ClientRequest::process_reply`]), at loop time
    /// `now_ns`. A reply to no request out is ignored. While NTP steers,
    /// the next [`Engine::poll`] runs an update on it.
    pub fn on_ntp_sample(&mut self, now_ns: u64, source: SourceId, sample: &NtpSample) {
        let at = sample.local_receive;
        self.ntp_frame_to(at);
        let freq = self.freq_in_force;
        let locked = self.status.state.is_locked();
        let epoch = self.ntp_epoch;
        let Some(n) = self.ntp_of_mut(source) else {
            return;
        };
        if n.sampled(sample, freq, locked, epoch) && !n.policy.noselect {
            if self.ntp_fresh.is_none() {
                self.ntp_due_ns = now_ns.saturating_add(NTP_GATHER_NS);
            }
            self.ntp_fresh = Some(self.ntp_fresh.map_or(at, |t| t.max(at)));
        }
    }

    /// A Kiss-o'-Death from `source` (its origin matched the request) at
    /// loop time `now_ns`, with the poll exponent the server asked for.
    pub fn on_ntp_kiss(&mut self, now_ns: u64, source: SourceId, action: KissAction, poll: i8) {
        if let Some(n) = self.ntp_of_mut(source) {
            n.kissed(action, poll, now_ns);
        }
    }

    /// What NTP `source`'s samples say of the sink at sink time `at`:
    /// reach (RFC 5905's register), the poll exponent and the estimate.
    pub fn ntp_source(
        &self,
        source: SourceId,
        at: Timestamp,
    ) -> Option<(u8, i8, Option<NtpEstimate>)> {
        let n = self.ntp_of(source)?;
        Some((n.reach, n.poll, n.estimate(at)))
    }

    /// Every NTP source as `keel sources` shows it, at sink time `at`:
    /// reach, poll, estimate, and whether selection at `at` counts it a
    /// truechimer.
    pub fn ntp_view(&self, at: Timestamp) -> [Option<NtpSourceView>; MAX_SOURCES] {
        let (cands, which, n, _) = self.ntp_candidates_now(at);
        let mut scratch = [Endpoint::default(); MAX_SOURCES * ENDPOINTS_PER_CANDIDATE];
        let mut verdicts = [Verdict::Falseticker; MAX_SOURCES];
        let selected = match (cands.get(..n), verdicts.get_mut(..n)) {
            (Some(c), Some(v)) => select(c, &mut scratch, v).is_ok(),
            _ => false,
        };
        let mut out = [None; MAX_SOURCES];
        for (slot, (id, src)) in out.iter_mut().zip(self.ntp.iter().flatten()) {
            let k = which
                .iter()
                .take(n)
                .position(|w| w.is_some_and(|(s, _)| s == *id));
            *slot = Some(NtpSourceView {
                source: *id,
                reach: src.reach,
                poll: src.poll,
                estimate: src.estimate(at),
                noselect: src.policy.noselect,
                truechimer: selected
                    && k.and_then(|k| verdicts.get(k))
                        .is_some_and(|v| *v == Verdict::Truechimer),
            });
        }
        out
    }

    /// What the PHC's host says of its own clock (vmclock's
    /// `clock_status`: synchronised or not), at loop time `now_ns`; only a
    /// change matters. Unsynchronised with NTP sources, the PHC is rejected
    /// at once (NTP steers after a burst); without, the PHC still steers but
    /// no bound is stated (`STA_UNSYNC`, the time page says so) until the
    /// host is synchronised again.
    pub fn on_host_status(&mut self, now_ns: u64, synchronised: bool) {
        let unsync = !synchronised;
        if unsync == self.host_unsync {
            return;
        }
        self.host_unsync = unsync;
        self.notice(Notice::HostUnsynchronised(unsync));
        if unsync && self.has_ntp() && !self.jury.rejected {
            self.update_ns = self.update_ns.max(now_ns);
            self.reject_phc(None);
        }
    }

    /// Does the PHC steer while its host says it is unsynchronised (no NTP
    /// to take over)? Then no bound is stated.
    fn unsync_phc_steers(&self) -> bool {
        self.host_unsync && self.fed == Some(SourceKind::Phc)
    }

    /// Is the PHC rejected by the NTP jury (or lost), NTP steering?
    pub const fn phc_rejected(&self) -> bool {
        self.jury.rejected
    }

    /// Re-frames the NTP samples up to sink time `t`: the frequency in
    /// force ran since the last time.
    fn ntp_frame_to(&mut self, t: Timestamp) {
        if let Some(prev) = self.ntp_framed {
            let span = t.duration_since(prev);
            if span <= Duration::ZERO {
                return;
            }
            let f = self.freq_in_force;
            let locked = self.status.state.is_locked();
            for (_, n) in self.ntp.iter_mut().flatten() {
                n.ran(f, span, locked);
            }
        }
        self.ntp_framed = Some(t);
    }

    /// The NTP sources' intervals for sink − true time at sink time `at`,
    /// and how many selectable sources are reachable.
    fn ntp_candidates(&mut self, at: Timestamp) -> NtpCandidates {
        self.ntp_frame_to(at);
        self.ntp_candidates_now(at)
    }

    /// [`Engine::ntp_candidates`] on the samples as last re-framed.
    fn ntp_candidates_now(&self, at: Timestamp) -> NtpCandidates {
        let mut cands = [Candidate {
            offset: Duration::ZERO,
            root_distance: Duration::ZERO,
        }; MAX_SOURCES];
        let mut which = [None; MAX_SOURCES];
        let (mut n, mut reachable) = (0usize, 0usize);
        for (id, src) in self.ntp.iter().flatten() {
            if src.policy.noselect || src.stopped || !src.reachable() {
                continue;
            }
            reachable = reachable.saturating_add(1);
            if let (Some(e), Some(c), Some(w)) =
                (src.estimate(at), cands.get_mut(n), which.get_mut(n))
            {
                *c = Candidate {
                    offset: e.offset,
                    root_distance: e.half_width,
                };
                *w = Some((*id, e));
                n = n.saturating_add(1);
            }
        }
        (cands, which, n, reachable)
    }

    /// Judges a PHC reading (sink − PHC, with its half-width) taken at sink
    /// time `at` by the NTP sources.
    fn judge(&mut self, phc: Duration, half_width: Duration, at: Timestamp) -> PhcVerdict {
        let (cands, which, n, reachable) = self.ntp_candidates(at);
        let Some(cands) = cands.get(..n).filter(|c| !c.is_empty()) else {
            return PhcVerdict::NoJury;
        };
        let lo = phc.saturating_sub(half_width);
        let hi = phc.saturating_add(half_width);
        let mut scratch = [Endpoint::default(); MAX_SOURCES * ENDPOINTS_PER_CANDIDATE];
        let mut verdicts = [Verdict::Falseticker; MAX_SOURCES];
        let verdicts = verdicts.get_mut(..cands.len()).unwrap_or(&mut []);
        if let Ok(sel) = select(cands, &mut scratch, verdicts) {
            if sel.survivors >= 2 && sel.survivors.saturating_mul(2) > reachable {
                return if hi >= sel.low && lo <= sel.high {
                    PhcVerdict::Agrees
                } else {
                    let mut freqs = [Ppb::ZERO; MAX_SOURCES];
                    let mut k = 0usize;
                    for (v, w) in verdicts.iter().zip(which.iter()) {
                        if let (Verdict::Truechimer, Some((_, e)), Some(slot)) =
                            (v, w, freqs.get_mut(k))
                        {
                            *slot = e.freq;
                            k = k.saturating_add(1);
                        }
                    }
                    let freqs = freqs.get_mut(..k).unwrap_or(&mut []);
                    freqs.sort_unstable();
                    PhcVerdict::Outvoted {
                        low: sel.low,
                        high: sel.high,
                        freq: freqs.get(k / 2).copied(),
                    }
                };
            }
        }
        // No majority: the PHC is disputed when it is clear of every NTP
        // source's interval.
        let clear = cands.iter().all(|c| {
            let w = c.root_distance.saturating_abs();
            hi < c.offset.saturating_sub(w) || lo > c.offset.saturating_add(w)
        });
        match cands.iter().min_by_key(|c| c.root_distance.as_nanos()) {
            Some(c) if clear => PhcVerdict::Disputed {
                ntp: c.offset,
                half_width: c.root_distance,
            },
            _ => PhcVerdict::Agrees,
        }
    }

    /// An update on the NTP sources at loop time `now_ns`, while NTP steers:
    /// the survivors of selection combined, fed to the servo when they hold
    /// a sample it has not used.
    fn ntp_update(&mut self, now_ns: u64) -> Command {
        let Some(at) = self.ntp_fresh.take() else {
            return Command::Wait(self.next_wake());
        };
        self.count_update(now_ns);
        if let Some(cause) = self.pending.take() {
            self.disrupt(cause);
        }
        let (cands, which, n, reachable) = self.ntp_candidates(at);
        let mut scratch = [Endpoint::default(); MAX_SOURCES * ENDPOINTS_PER_CANDIDATE];
        let mut verdicts = [Verdict::Falseticker; MAX_SOURCES];
        let (Some(cands), Some(verdicts)) = (cands.get(..n), verdicts.get_mut(..n)) else {
            return self.finish(None);
        };
        let Ok(sel) = select(cands, &mut scratch, verdicts) else {
            return self.finish(None);
        };
        // A majority of the reachable sources, not only of those with an
        // estimate.
        if sel.survivors.saturating_mul(2) <= reachable {
            return self.finish(None);
        }
        // The servo takes the truechimers' samples it has not seen,
        // combined with weights 1/λ, once per round of replies: fresh
        // measurements (the least-delay picks of the clock filter serve the
        // intervals, but at a cold start they are taken to now with a
        // frequency that is not yet known).
        let used = self.ntp_used;
        let (mut num, mut den) = (0i128, 0i128);
        let mut newest: Option<Timestamp> = None;
        let mut best: Option<(SourceId, crate::select::clock_filter::FilterSample)> = None;
        for (w, v) in which.iter().zip(verdicts.iter()) {
            let (Some((id, _)), Verdict::Truechimer) = (w, v) else {
                continue;
            };
            let Some(l) = self
                .ntp_of(*id)
                .and_then(ntp::NtpSource::latest)
                .filter(|l| used.is_none_or(|u| l.time > u))
            else {
                continue;
            };
            let lambda = Duration::from_nanos(l.delay.as_nanos().max(0) / 2)
                .saturating_add(l.dispersion)
                .as_nanos()
                .max(1);
            let w = (1i128 << 62) / i128::from(lambda);
            num = num.saturating_add(w.saturating_mul(i128::from(l.offset.as_nanos())));
            den = den.saturating_add(w);
            newest = Some(newest.map_or(l.time, |t| t.max(l.time)));
            if best.is_none_or(|(_, b)| l.delay < b.delay) {
                best = Some((*id, l));
            }
        }
        let (Some(newest), Some((best_id, best_l))) = (newest, best) else {
            return self.finish(None);
        };
        self.ntp_used = Some(newest);
        let combined = num
            .checked_div(den)
            .and_then(|v| i64::try_from(v).ok())
            .map_or(best_l.offset, Duration::from_nanos);
        let poll = self.ntp_of(best_id).map_or(0, |s| s.poll);
        self.feed_from(SourceKind::Ntp, log2_seconds(poll));
        if let Some(t0) = self.status.holdover_since_ns.take() {
            self.notice(Notice::HoldoverEnded {
                failed_updates: self.failed_updates,
                span_ns: self.update_ns.saturating_sub(t0),
            });
            self.failed_updates = 0;
        }
        self.status.source = Some(best_id);
        self.status.last_offset = Some(combined);
        self.status.last_delay = best_l.delay;
        self.last_sample_at = Some(newest);
        let out = self.servo.sample(&OffsetSample {
            offset: combined,
            local_ts: newest,
            uncertainty: Duration::from_nanos(best_l.delay.as_nanos().max(0) / 2),
        });
        // The servo's bound is statistical; the NTP intervals are worst
        // cases (a path's asymmetry is a bias up to half its round trip,
        // which no averaging removes): the true offset lies in the
        // truechimers' intersection, so the bound reaches its far edge.
        self.bound_floor = sel.low.saturating_abs().max(sel.high.saturating_abs());
        self.apply(out, Some(newest))
    }

    /// The servo is fed from a source of `kind` read every `interval`: a
    /// change of kind restarts it (the frequency in force kept as its
    /// prior), as a disruption does.
    fn feed_from(&mut self, kind: SourceKind, interval: Duration) {
        let was = self.fed.replace(kind);
        if was != Some(kind) {
            self.servo.set_config(self.servo_config_now());
        }
        if kind == SourceKind::Ntp {
            // Only a change of the poll interval restarts anything.
            self.servo.set_interval(interval);
        } else if was.is_some_and(|k| k != kind) {
            self.servo.disruption();
            self.servo
                .set_frequency_prior(self.freq_in_force, Ppb::from_ppb(1_000));
            self.servo.set_interval(interval);
        }
    }

    /// The servo's thresholds now: slew only once the step limit is past;
    /// while NTP feeds it, at most [`NTP_MAX_FREQUENCY_PPB`] (its readings
    /// are too coarse for more; the PHC gets the sink's range back).
    fn servo_config_now(&self) -> ServoConfig {
        let limit = u64::from(self.cfg.step_limit);
        let slew_only = limit > 0 && self.status.counters.updates > limit;
        let mut sc = Self::servo_config(&self.cfg, slew_only);
        if self.fed == Some(SourceKind::Ntp) {
            sc.max_frequency = sc.max_frequency.min(Ppb::from_ppb(NTP_MAX_FREQUENCY_PPB));
        }
        sc
    }

    /// A reading that arrived by itself at loop time `now_ns` (a PPS edge,
    /// an NTP reply, a pull-style caller's sample): an update runs on it at
    /// once, without the clock checks; its commands come from
    /// [`Engine::poll`]. `false` (and nothing done) while another update is
    /// in progress or the engine has halted.
    pub fn push_reading(&mut self, now_ns: u64, source: SourceId, r: &Reading) -> bool {
        if let Phase::Read(s) = self.phase {
            // It answers the read asked for.
            self.on_reading(s, r);
            return true;
        }
        if !matches!(self.phase, Phase::Idle) || self.halted.is_some() || self.queued.is_some() {
            return false;
        }
        self.count_update(now_ns);
        if let Some(cause) = self.pending.take() {
            self.disrupt(cause);
        }
        self.phase = Phase::Read(source);
        self.on_reading(source, r);
        true
    }

    /// [`Engine::push_reading`] for a reading that did not come (a missed
    /// PPS edge, an NTP timeout): holdover bookkeeping, at sink time
    /// `sink_now`.
    pub fn push_no_reading(
        &mut self,
        now_ns: u64,
        source: SourceId,
        error: ReadError,
        sink_now: Timestamp,
    ) -> bool {
        if let Phase::Read(s) = self.phase {
            self.on_read_error(s, error, sink_now);
            return true;
        }
        if !matches!(self.phase, Phase::Idle) || self.halted.is_some() || self.queued.is_some() {
            return false;
        }
        self.count_update(now_ns);
        if let Some(cause) = self.pending.take() {
            self.disrupt(cause);
        }
        self.phase = Phase::Read(source);
        self.on_read_error(source, error, sink_now);
        true
    }

    fn count_update(&mut self, now_ns: u64) {
        self.update_ns = now_ns;
        let c = &mut self.status.counters;
        c.updates = c.updates.saturating_add(1);
        let limit = u64::from(self.cfg.step_limit);
        if limit > 0 && c.updates == limit.saturating_add(1) {
            // Keep the servo and what it has learnt; only its policy changes.
            self.servo.set_config(self.servo_config_now());
            self.notice(Notice::StepLimitReached(self.cfg.step_limit));
        }
    }

    fn begin(&mut self, now_ns: u64) -> Command {
        self.count_update(now_ns);
        if self.cfg.clock_checks {
            self.phase = Phase::Check;
            Command::CheckClock
        } else {
            self.after_check()
        }
    }

    /// The caller's answer to [`Command::CheckClock`]; the next command comes
    /// from [`Engine::poll`].
    pub fn on_clock_check(&mut self, check: &ClockCheck) {
        if !matches!(self.phase, Phase::Check) {
            return;
        }
        if let Some(l) = check.leap {
            // The labellers count across it (one a source announced stays
            // until the table names another).
            for (_, p) in self.pps.iter_mut().flatten() {
                p.labeller.set_leap(Some(l.into()));
            }
        }
        self.check(check);
        self.last_check = Some(*check);
        let next = self.after_check();
        self.queued = Some(next);
    }

    fn check(&mut self, c: &ClockCheck) {
        let mut cause = self.pending.take();
        if let Some(s) = c.suspended_ns {
            let gap = self.suspended_ref.map_or(0, |r| s.saturating_sub(r));
            self.suspended_ref = Some(s);
            if gap > SUSPEND_MIN_NS {
                cause.get_or_insert(DisruptionCause::Suspended(gap));
            }
        }
        if let Some(cause) = cause {
            self.disrupt(cause);
        }
        if !self.cfg.steers {
            return;
        }
        // Interference 1: the kernel frequency is not what keel wrote.
        if let (Some(w), Some(k)) = (self.written, c.kernel_freq) {
            let diff = k.to_bits().saturating_sub(w.to_bits()).saturating_abs();
            if diff > FREQ_INTERFERENCE_PPB << 32 {
                self.notice(Notice::FrequencyInterference {
                    kernel: k,
                    wrote: w,
                });
                self.status.counters.interference =
                    self.status.counters.interference.saturating_add(1);
                // Put keel's frequency back with the next write.
                self.written = None;
                // The clock ran at a frequency the servo did not choose: its
                // recent history no longer fits its model.
                self.disrupt(DisruptionCause::Interference);
            }
        }
        // Interference 2: the sink moved by more than its frequency and keel's
        // own steps explain. Both pairs' widths widen the tolerance (a vCPU
        // descheduled between the two reads is no jump).
        if let Some(r) = self.elapsed {
            let span = c.raw_ns.saturating_sub(r.raw_ns);
            let span_d = Duration::from_nanos(i64::try_from(span).unwrap_or(i64::MAX));
            let expected = span_d
                .saturating_add(self.freq_in_force.phase_over(span_d))
                .saturating_add(r.own);
            let got = c.sink.duration_since(r.sink);
            let dev = got.saturating_sub(expected);
            let tol = jump_tolerance_ns(span)
                .saturating_add(c.pair_width_ns)
                .saturating_add(r.pair_width_ns);
            if dev.unsigned_abs_nanos() > tol && !self.paused {
                if !Self::is_kernel_leap(c, r.sink, dev, tol) {
                    self.notice(Notice::StepInterference(dev));
                    self.status.counters.interference =
                        self.status.counters.interference.saturating_add(1);
                }
                // The pulses' stored local times moved with the sink: the
                // labellers keep their count (else the edge after a kernel
                // leap would be counted into the wrong second).
                for (_, p) in self.pps.iter_mut().flatten() {
                    p.labeller.apply_step(dev);
                    p.last_edge = p.last_edge.map(|(l, t)| (l, t.wrapping_add(dev)));
                }
            }
        }
        self.elapsed = Some(ElapsedRef {
            raw_ns: c.raw_ns,
            sink: c.sink,
            own: Duration::ZERO,
            pair_width_ns: c.pair_width_ns,
        });
    }

    /// Is a sink jump `dev` seen by check `c` (previous check at sink time
    /// `before`) the kernel's own leap second: −1 s for an insertion, +1 s
    /// for a deletion, within `tol`, across the leap's midnight?
    fn is_kernel_leap(c: &ClockCheck, before: Timestamp, dev: Duration, tol: u64) -> bool {
        let Some(l) = c.leap else {
            return false;
        };
        let want = match l.kind {
            crate::time::LeapKind::Insert => -1_000_000_000,
            crate::time::LeapKind::Delete => 1_000_000_000,
        };
        let near = |t: Timestamp| t.secs().abs_diff(l.unix_secs) <= LEAP_QUIET_S;
        dev.as_nanos().abs_diff(want) <= tol && (near(before) || near(c.sink))
    }

    /// Is the last check's wall time within [`LEAP_QUIET_S`] of its leap?
    fn near_leap(&self) -> bool {
        self.last_check.is_some_and(|c| {
            c.leap
                .is_some_and(|l| l.unix_secs.abs_diff(c.wall.secs()) <= LEAP_QUIET_S)
        })
    }

    fn after_check(&mut self) -> Command {
        if let Some(cause) = self.pending.take() {
            self.disrupt(cause);
        }
        if self.near_leap() {
            if !self.leap_quiet {
                self.notice(Notice::LeapQuiet);
                self.leap_quiet = true;
            }
            let local = self.last_check.map_or(Timestamp::from_nanos(0), |c| c.sink);
            let out = self.servo.no_sample(local);
            return self.apply(out, None);
        }
        self.leap_quiet = false;
        if self.pps_live().is_some() {
            // The PPS steers: its updates come with its edges (and its
            // deadlines hold over); this one only checked the clock.
            return self.finish(None);
        }
        if self.phc_source().is_none() && (self.has_ntp() || self.has_pps()) {
            // NTP or PPS alone: their updates come with their samples and
            // edges; this one only checked the clock.
            return self.finish(None);
        }
        match self.primary() {
            Some(source) => {
                self.phase = Phase::Read(source);
                Command::Read {
                    source,
                    samples: self.samples_per_read(),
                }
            }
            None => {
                let local = self.last_check.map_or(Timestamp::from_nanos(0), |c| c.sink);
                self.read_failed(SourceId(0), ReadError::Failed, Some(local))
            }
        }
    }

    /// Readings per read: the configured count, or [`PHC_MAX_SAMPLES`]
    /// (chrony's count) while the source's own read noise dominates and
    /// for [`NOISY_READS`] reads after: one read of 25 triples is one
    /// ioctl, and it averages that noise 2.2× further down than 5 do. A
    /// quiet source is read as configured.
    fn samples_per_read(&self) -> u8 {
        let max = u8::try_from(PHC_MAX_SAMPLES).unwrap_or(u8::MAX);
        if self.noisy_reads_left > 0 {
            self.cfg.samples.max(max)
        } else {
            self.cfg.samples.max(1)
        }
    }

    /// The source to read: the first PHC, else the first source that is
    /// not a PPS (never read: its edges come by themselves).
    fn primary(&self) -> Option<SourceId> {
        let pick = |want: Option<SourceKind>| {
            self.sources.iter().position(|s| {
                s.is_some_and(|s| {
                    want.is_none_or(|k| s.kind == k)
                        && (want.is_some() || s.kind != SourceKind::Pps)
                })
            })
        };
        pick(Some(SourceKind::Phc))
            .or_else(|| pick(None))
            .and_then(|i| u8::try_from(i).ok())
            .map(SourceId)
    }

    fn source(&self, id: SourceId) -> Option<SourceConfig> {
        self.sources.get(usize::from(id.0)).copied().flatten()
    }

    /// The caller's answer to [`Command::Read`]: a reading of `source`.
    pub fn on_reading(&mut self, source: SourceId, r: &Reading) {
        if !matches!(self.phase, Phase::Read(s) if s == source) {
            return;
        }
        let scale = self
            .source(source)
            .map_or(Duration::ZERO, |s| s.scale_offset);
        if let Some(t0) = self.status.holdover_since_ns.take() {
            self.notice(Notice::HoldoverEnded {
                failed_updates: self.failed_updates,
                span_ns: self.update_ns.saturating_sub(t0),
            });
            self.failed_updates = 0;
        }
        self.paused = false;
        let offset = r.offset.saturating_add(scale);
        let mut disputed_bound = None;
        if self.has_ntp()
            && self
                .source(source)
                .is_some_and(|s| s.kind == SourceKind::Phc)
        {
            match self.judge(offset, r.uncertainty, r.local_ts) {
                PhcVerdict::Outvoted { low, high, freq } => {
                    let c = &mut self.status.counters;
                    c.outvoted = c.outvoted.saturating_add(1);
                    self.jury.outvoted_run = self.jury.outvoted_run.saturating_add(1);
                    self.jury.agrees_since = None;
                    if !self.jury.rejected && self.jury.outvoted_run >= REJECT_AFTER {
                        self.reject_phc(Some((offset, low, high)));
                        self.rate_back_to(freq);
                    }
                    // Not used: the sink keeps its course until the jury
                    // or NTP says otherwise.
                    let next = self.finish(None);
                    self.queued = Some(next);
                    return;
                }
                PhcVerdict::Agrees | PhcVerdict::NoJury => {
                    self.jury.outvoted_run = 0;
                    self.jury.disputed = false;
                }
                PhcVerdict::Disputed { ntp, half_width } => {
                    self.jury.outvoted_run = 0;
                    if !self.jury.disputed {
                        self.jury.disputed = true;
                        self.notice(Notice::PhcDisputed {
                            phc: offset,
                            ntp: (ntp, half_width),
                        });
                    }
                    // The PHC keeps steering; its bound reaches the NTP
                    // interval's far edge.
                    disputed_bound = Some(
                        ntp.saturating_sub(offset)
                            .saturating_abs()
                            .saturating_add(half_width),
                    );
                }
            }
            if self.jury.rejected && (self.host_unsync || !self.probation_passed(r.local_ts)) {
                let next = self.finish(None);
                self.queued = Some(next);
                return;
            }
        }
        self.feed_from(
            SourceKind::Phc,
            Self::interval_of(&self.cfg, self.start_reads_left),
        );
        self.status.source = Some(source);
        self.status.last_offset = Some(offset);
        self.status.last_delay = r.delay;
        self.noisy_reads_left = if r.noise_limited {
            NOISY_READS
        } else {
            self.noisy_reads_left.saturating_sub(1)
        };
        self.last_sample_at = Some(r.local_ts);
        let out = self.servo.sample(&OffsetSample {
            offset,
            local_ts: r.local_ts,
            uncertainty: r.uncertainty,
        });
        if self.start_reads_left > 0 {
            self.start_reads_left -= 1;
            if self.start_reads_left == 0 {
                self.servo.set_interval(self.cfg.interval);
            }
        }
        self.bound_floor = disputed_bound.unwrap_or(Duration::ZERO);
        let next = self.apply(out, Some(r.local_ts));
        self.queued = Some(next);
    }

    /// The PHC no longer steers: outvoted by the NTP jury (its reading and
    /// the jury's interval), or lost. NTP sources burst for fresh samples.
    fn reject_phc(&mut self, outvoted: Option<(Duration, Duration, Duration)>) {
        self.jury.rejected = true;
        self.jury.agrees_since = None;
        if let Some((phc, low, high)) = outvoted {
            self.notice(Notice::PhcRejected {
                phc,
                jury: (low, high),
            });
        }
        self.burst_ntp();
    }

    /// Every NTP server bursts from the update in progress: fresh samples.
    fn burst_ntp(&mut self) {
        let now = self.update_ns;
        for (_, n) in self.ntp.iter_mut().flatten() {
            n.burst(now);
        }
    }

    /// The PHC was rejected: if keel followed it away from the frequency
    /// that held the sink on the NTP servers' time (`ntp_freq`, from their
    /// samples), by more than [`RATE_DOUBT_PPB`], the servo learns that its
    /// reference's rate changed by the difference (a host that drifted).
    fn rate_back_to(&mut self, ntp_freq: Option<Ppb>) {
        let Some(f) = ntp_freq else {
            return;
        };
        let shift = self.freq_in_force.saturating_sub(f);
        if shift.to_bits().unsigned_abs() > (RATE_DOUBT_PPB << 32).unsigned_abs() {
            self.servo.reference_rate_changed(shift);
        }
    }

    /// A rejected PHC agreed with the jury at sink time `at`: has it agreed
    /// for [`PROBATION_NS`] and [`PROBATION_SAMPLES`] fresh NTP samples? If
    /// so it steers again. Its first agreement starts a burst.
    fn probation_passed(&mut self, at: Timestamp) -> bool {
        let Some(since) = self.jury.agrees_since else {
            self.jury.agrees_since = Some(at);
            self.burst_ntp();
            return false;
        };
        let fresh = self
            .ntp
            .iter()
            .flatten()
            .filter(|(_, n)| n.newest().is_some_and(|t| t > since))
            .count();
        let passed = at.duration_since(since).as_nanos() >= PROBATION_NS
            && u32::try_from(fresh).unwrap_or(u32::MAX) >= PROBATION_SAMPLES;
        if passed {
            self.jury.rejected = false;
            self.jury.agrees_since = None;
            self.notice(Notice::PhcRestored);
        }
        passed
    }

    /// The caller's answer to [`Command::Read`]: no reading, and why, with
    /// the sink's time now.
    pub fn on_read_error(&mut self, source: SourceId, error: ReadError, sink_now: Timestamp) {
        if !matches!(self.phase, Phase::Read(s) if s == source) {
            return;
        }
        let next = self.read_failed(source, error, Some(sink_now));
        self.queued = Some(next);
    }

    fn read_failed(&mut self, _source: SourceId, e: ReadError, now: Option<Timestamp>) -> Command {
        if e == ReadError::Paused {
            // A frozen guest runs no code: this update did not happen.
            self.paused = true;
            let c = &mut self.status.counters;
            c.updates = c.updates.saturating_sub(1);
            return self.finish(None);
        }
        let c = &mut self.status.counters;
        c.read_errors = c.read_errors.saturating_add(1);
        self.failed_updates = self.failed_updates.saturating_add(1);
        if self.has_ntp() && e != ReadError::Busy {
            if !self.jury.rejected && self.failed_updates >= PHC_LOST_AFTER {
                self.reject_phc(None);
            }
            self.jury.agrees_since = None;
            if self.jury.rejected {
                // NTP steers: the PHC's failures are only counted.
                return self.finish(None);
            }
        }
        if self.status.holdover_since_ns.is_none() && e == ReadError::Busy {
            self.notice(Notice::BusySkipped);
        }
        let local = now
            .or_else(|| self.last_check.map(|c| c.sink))
            .unwrap_or(Timestamp::from_nanos(0));
        self.hold_over(local, e != ReadError::Busy)
    }

    /// An update without a reading at sink time `local`: the servo carries
    /// its estimate on (the bound grows), holding over from this update on
    /// when `holdover` (not for a busy source).
    fn hold_over(&mut self, local: Timestamp, holdover: bool) -> Command {
        if holdover && self.status.holdover_since_ns.is_none() {
            self.status.holdover_since_ns = Some(self.update_ns);
            self.notice(Notice::HoldoverStarted {
                freq: self.freq_in_force,
            });
        }
        let mut out = self.servo.no_sample(local);
        let allowance = self.holdover_allowance(local);
        out.error_bound = out.error_bound.map(|b| b.saturating_add(allowance));
        self.apply(out, None)
    }

    /// The leap bits for today from the last clock check's leap table
    /// ([`LeapBits::Keep`] without one): what the kernel status carries,
    /// and what an NTP server announces.
    pub fn leap_bits(&self) -> LeapBits {
        self.kernel_status(None).leap
    }

    /// The kernel status for a bound, with the leap bits of the last check.
    fn kernel_status(&self, bound: Option<Duration>) -> KernelStatus {
        let mut s = KernelStatus::from_bound(bound, self.cfg.bound_sigmas);
        if let Some(c) = self.last_check {
            s.tai_offset = c.tai_utc_s;
            if c.tai_utc_s.is_some() || c.leap.is_some() {
                // A leap second is at a midnight: it is today's when it is
                // less than a day ahead.
                const DAY: u64 = 86_400;
                let now = c.wall.secs();
                let today = |l: &crate::time::Leap| {
                    l.unix_secs > now && l.unix_secs.saturating_sub(now) <= DAY
                };
                s.leap = match c.leap.filter(today) {
                    Some(l) if l.kind == crate::time::LeapKind::Insert => LeapBits::Insert,
                    Some(_) => LeapBits::Delete,
                    None => LeapBits::None,
                };
            }
        }
        s
    }

    /// Starts applying the servo's output: the frequency (with the kernel
    /// status) first, then the step.
    fn apply(&mut self, mut out: ServoOutput, sampled_at: Option<Timestamp>) -> Command {
        out.error_bound = self.stated_bound(out.error_bound);
        let status = self
            .cfg
            .sink
            .kernel_status
            .then(|| self.kernel_status(out.error_bound));
        let correction = out.action.correction();
        if let Some((Some(step), _)) = correction {
            let guessed = self.primary().and_then(|s| self.source(s));
            if let Some(src) = guessed
                .filter(|s| s.scale_guessed && is_scale_step(step, i64::from(self.cfg.tai_utc_s)))
            {
                if self.cfg.steers {
                    // Nothing of this output is applied: stop before the
                    // clock is touched.
                    let h = Halt::ScaleStep {
                        step,
                        scale_offset: src.scale_offset,
                    };
                    self.halted = Some(h);
                    self.phase = Phase::Idle;
                    return Command::Halt(h);
                }
                self.notice(Notice::WouldRefuseScaleStep(step));
            }
        }
        if !self.cfg.steers {
            if let Some((Some(step), _)) = correction {
                self.notice(Notice::WouldStep(step));
            }
            if correction.is_some() {
                self.servo.applied(&Applied {
                    step: None,
                    freq: self.freq_in_force,
                });
            }
            return self.finish(Some(out));
        }
        // The servo's frequency; or, when another process changed the
        // frequency (nothing written since), keel's own put back at once.
        let freq_asked = correction
            .map(|(_, f)| f)
            .or_else(|| self.written.is_none().then_some(self.freq_in_force))
            // Never beyond the sink's range, whatever the caller reported in
            // force.
            .map(|f| f.clamp_abs(self.cfg.sink.max_frequency));
        if freq_asked.is_none() && status.is_none() {
            return self.finish(Some(out));
        }
        self.phase = Phase::Adjust {
            out,
            sampled_at,
            freq_asked,
        };
        Command::Adjust(Adjust {
            freq: freq_asked,
            status,
        })
    }

    /// The caller's answer to [`Command::Adjust`]: what is in force now and
    /// when it took effect, or that the write failed.
    pub fn on_adjusted(&mut self, result: Result<Adjusted, ()>) {
        let Phase::Adjust {
            out,
            sampled_at,
            freq_asked,
        } = self.phase
        else {
            return;
        };
        let next = self.adjusted(
            out,
            sampled_at,
            freq_asked,
            result.map(|a| (a.freq, Some(a.at))),
        );
        self.queued = Some(next);
    }

    fn adjusted(
        &mut self,
        mut out: ServoOutput,
        sampled_at: Option<Timestamp>,
        freq_asked: Option<Ppb>,
        result: Result<(Ppb, Option<Timestamp>), ()>,
    ) -> Command {
        let Some(_) = freq_asked else {
            // A status write alone.
            return self.finish(Some(out));
        };
        let before = self.freq_in_force;
        let Ok((freq, took_effect)) = result else {
            self.notice(Notice::AdjustFailed);
            // Nothing changed on the sink: the servo learns that its
            // correction is not in force (it keeps its estimate), and the
            // bound allows for the interval run at the old frequency
            // instead of the one asked.
            self.servo.applied(&Applied {
                step: None,
                freq: before,
            });
            if let Some(asked) = freq_asked {
                let missed = asked.saturating_sub(before).phase_over(self.cfg.interval);
                out.error_bound = out
                    .error_bound
                    .map(|b| b.saturating_add(missed.saturating_abs()));
            }
            return self.finish(Some(out));
        };
        if let Some(t) = took_effect.or(sampled_at) {
            self.ntp_frame_to(t);
            // The clock check's span ran at the old frequency until now:
            // the next check expects the new one over all of it.
            if let Some(r) = &mut self.elapsed {
                let ran = before
                    .saturating_sub(freq)
                    .phase_over(t.duration_since(r.sink));
                r.own = r.own.saturating_add(ran);
            }
        }
        self.freq_in_force = freq;
        self.written = Some(freq);
        // From the reading until the new frequency took effect the clock
        // still ran at the old one, which the reading did not see.
        let lag = match (sampled_at, took_effect) {
            (Some(r), Some(t)) => t.duration_since(r),
            _ => Duration::ZERO,
        };
        let unseen = if lag > Duration::ZERO && lag <= self.cfg.interval {
            before.saturating_sub(self.freq_in_force).phase_over(lag)
        } else {
            Duration::ZERO
        };
        if let Some((Some(asked), _)) = out.action.correction() {
            // The step takes that drift out too.
            let by = asked.saturating_sub(unseen);
            self.phase = Phase::Step {
                out,
                by,
                took_effect,
            };
            return Command::Step(by);
        }
        if out.action.correction().is_some() {
            self.servo.applied(&Applied {
                step: None,
                freq: self.freq_in_force,
            });
            if let Some(t) = took_effect {
                self.servo.applied_at(t);
                // The bound allows for that drift (130 ppm for 0.2 ms is
                // 26 ns, after a large slew in a guest).
                out.error_bound = out
                    .error_bound
                    .map(|b| b.saturating_add(unseen.saturating_abs()));
            }
        }
        self.finish(Some(out))
    }

    /// The caller's answer to [`Command::Step`]: did the step succeed?
    pub fn on_stepped(&mut self, ok: bool) {
        let Phase::Step {
            out,
            by,
            took_effect,
        } = self.phase
        else {
            return;
        };
        let next = self.stepped(out, by, took_effect, ok);
        self.queued = Some(next);
    }

    fn stepped(
        &mut self,
        out: ServoOutput,
        by: Duration,
        took_effect: Option<Timestamp>,
        ok: bool,
    ) -> Command {
        let applied = if ok {
            let c = &mut self.status.counters;
            c.steps = c.steps.saturating_add(1);
            if let Some(r) = &mut self.elapsed {
                r.own = r.own.saturating_add(by);
            }
            for (_, n) in self.ntp.iter_mut().flatten() {
                n.stepped(by);
            }
            for (_, p) in self.pps.iter_mut().flatten() {
                p.labeller.apply_step(by);
                p.last_edge = p.last_edge.map(|(l, t)| (l, t.wrapping_add(by)));
            }
            self.last_sample_at = self.last_sample_at.map(|t| t.wrapping_add(by));
            self.ntp_epoch = self.ntp_epoch.wrapping_add(1);
            self.ntp_framed = self.ntp_framed.map(|t| t.wrapping_add(by));
            self.notice(Notice::Stepped(by));
            Some(by)
        } else {
            self.notice(Notice::StepFailed(by));
            None
        };
        self.servo.applied(&Applied {
            step: applied,
            freq: self.freq_in_force,
        });
        if let Some(t) = took_effect {
            // On the sink's time scale after the step.
            self.servo
                .applied_at(t.wrapping_add(applied.unwrap_or(Duration::ZERO)));
        }
        self.finish(Some(out))
    }

    /// Ends the update: status, statistics, the state to save, the next
    /// deadline.
    fn finish(&mut self, out: Option<ServoOutput>) -> Command {
        self.phase = Phase::Idle;
        let mut save = None;
        if let Some(out) = out {
            let holdover = self.status.holdover_since_ns.is_some();
            let state = SyncState::reported(out.state, self.servo.gives_bound(), out.error_bound);
            self.status.state = if holdover { SyncState::Holdover } else { state };
            self.status.freq = self.freq_in_force;
            self.status.bound = out.error_bound;
            self.status.last_update_ns = self.update_ns;
            if self.status.state.is_locked() {
                self.learn_frequency();
                self.since_save = self.since_save.saturating_add(1);
                if self.cfg.save_every > 0 && self.since_save >= self.cfg.save_every {
                    self.since_save = 0;
                    save = self.saved_frequency();
                }
            }
        }
        self.schedule(out.and_then(|o| o.next_update));
        save.map_or_else(|| Command::Wait(self.next_wake()), Command::SaveState)
    }

    fn schedule(&mut self, soon: Option<Duration>) {
        let now = self.update_ns;
        // The start's quarter-interval readings come in between the regular
        // updates, which keep their grid.
        let soon = if self.start_reads_left > 0 {
            let quarter = Self::interval_of(&self.cfg, self.start_reads_left);
            Some(soon.map_or(quarter, |d| d.min(quarter)))
        } else {
            soon
        };
        let interval = u64::try_from(self.cfg.interval.as_nanos())
            .unwrap_or(1)
            .max(MIN_WAIT_NS);
        if now >= self.grid_ns {
            self.grid_ns = self.grid_ns.saturating_add(interval);
            if self.grid_ns <= now {
                // Fell behind (or was suspended): realign, don't burst.
                self.grid_ns = now.saturating_add(interval);
            }
        }
        // A re-read the servo asked for comes in between; the regular
        // updates keep their grid.
        self.next_ns = soon
            .and_then(|d| u64::try_from(d.as_nanos()).ok())
            .map_or(self.grid_ns, |d| {
                self.grid_ns.min(now.saturating_add(d.max(1)))
            });
    }

    /// Folds the frequency in force into its exponential mean and variance
    /// (weight 1/16 per locked update): the mean in ppb 32.32, the variance
    /// in ppb² with 16 fraction bits (saturating far outside a lock).
    fn learn_frequency(&mut self) {
        let f = self.freq_in_force.to_bits();
        self.freq_stats = Some(match self.freq_stats {
            None => (f, 0),
            Some((mean, var)) => {
                let d = f.saturating_sub(mean);
                // ppb with 8 fraction bits: its square has 16.
                let d8 = d >> 24;
                (
                    mean.saturating_add(d >> 4),
                    var.saturating_sub(var >> 4)
                        .saturating_add(d8.saturating_mul(d8) >> 4),
                )
            }
        });
    }

    /// The frequency to keep: learnt while locked with a bound, not holding
    /// over.
    pub fn saved_frequency(&self) -> Option<SavedFrequency> {
        let (_, var) = self.freq_stats?;
        if !self.status.state.is_locked() {
            return None;
        }
        let sd8 = isqrt(var.unsigned_abs());
        Some(SavedFrequency {
            freq: self.freq_in_force,
            sd: Ppb::from_bits(
                i64::try_from(sd8)
                    .unwrap_or(i64::MAX)
                    .saturating_mul(1 << 24),
            ),
        })
    }
}

/// ⌊√x⌋, bit by bit (no division: Cortex-M has no 64-bit divide).
fn isqrt(x: u64) -> u64 {
    let mut rem = x;
    let mut root = 0u64;
    let mut bit = 1u64 << 62;
    while bit > rem {
        bit >>= 2;
    }
    while bit != 0 {
        let trial = root.saturating_add(bit);
        if rem >= trial {
            rem = rem.saturating_sub(trial);
            root = (root >> 1).saturating_add(bit);
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    root
}

#[cfg(test)]
mod tests;

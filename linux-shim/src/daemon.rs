//! The daemon loop of `keel sync`: one thread, one `poll(2)` loop, the same
//! for the real clocks and the simulated ones.
//!
//! Each update: guards (platform disruption marker, suspend detection through
//! `CLOCK_BOOTTIME − CLOCK_MONOTONIC`, interference: the sink's kernel
//! frequency not what keel wrote, or the sink's elapsed time not what
//! `CLOCK_MONOTONIC_RAW` and keel's own corrections explain), one
//! measurement (one PHC read for `CLOCK_REALTIME`, both PHCs for a PHC sink;
//! re-probing, holding over when none works), the servo, the actions applied
//! to the sink and reported back, the kernel's `maxerror`/`esterror`/`status`
//! from the error bound (`CLOCK_REALTIME` only: a PHC has none), and the
//! reporting.

use std::path::PathBuf;

use keel_core::servo::{
    Applied, Kalman, KalmanConfig, LinReg, OffsetSample, Pi, PiConfig, Servo, ServoConfig,
    ServoOutput, ServoState,
};
use keel_core::time::{Duration, LeapKind, LeapTable, Ppb, Timestamp};

use crate::clock::{ClockBackend, Device};
use crate::config::{Config, ServoKind, StepPolicy};
use crate::metrics::Metrics;
use crate::phc::PhcError;
use crate::report::{Csv, Plot, Record, RunStats, Summary};
use crate::state::{Doubt, State, StateError};
use crate::status::{Snapshot, StatusServer};
use crate::sys::{self, Signal, Signals};
use crate::timex::{LeapStatus, SyncStatus};
use crate::{debug, error, info, warn};

/// How the daemon runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Steering the real system clock.
    Sync,
    /// Measuring only.
    DryRun,
    /// Against the simulated world.
    Sim,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Self::Sync => "sync",
            Self::DryRun => "dry-run",
            Self::Sim => "sim",
        }
    }
}

/// Everything `run` needs besides the backend.
pub struct Options {
    /// The configuration.
    pub config: Config,
    /// Re-reads the configuration (SIGHUP).
    pub reload: Box<dyn Fn() -> Result<Config, String>>,
    /// The mode.
    pub mode: Mode,
    /// Stop after this much loop time (`None`: until a signal).
    pub duration_ns: Option<u64>,
    /// TAI − UTC to remove from the PHC's readings (0 for a UTC PHC).
    pub tai_offset: Duration,
    /// The source's time scale was guessed from evidence, not configured
    /// or known: a step of the UTC–TAI difference is then refused
    /// ([`crate::timescale::is_scale_step`]) and the daemon stops.
    pub scale_guessed: bool,
    /// CSV trace file.
    pub csv: Option<PathBuf>,
    /// SVG plot file.
    pub svg: Option<PathBuf>,
    /// Title of the run (table and plot).
    pub title: String,
    /// Extra rows for the end table.
    pub table_head: Vec<(String, String)>,
}

/// What a run did.
pub struct Outcome {
    /// The end table (simulation), else empty.
    pub table: String,
}

fn state_name(s: ServoState) -> &'static str {
    match s {
        ServoState::Unlocked => "unlocked",
        ServoState::Jump => "jump",
        ServoState::Locked => "locked",
        ServoState::LockedStable => "locked-stable",
    }
}

/// Does the servo `kind` carry an error bound? keel's does; linuxptp's PI
/// and linreg servos do not (nor does phc2sys), so for them "locked" is
/// linuxptp's.
fn carries_bound(kind: ServoKind) -> bool {
    matches!(kind, ServoKind::Kalman)
}

/// Is `s` one of the locked states?
fn is_locked(s: ServoState) -> bool {
    matches!(s, ServoState::Locked | ServoState::LockedStable)
}

/// The state to report for `out`: "locked" is earned, never inherited. A
/// servo that carries an error bound is reported locked only while it
/// gives one; without a bound it is unlocked (linuxptp's s0), whatever
/// its own state says.
fn reported_state(out: &ServoOutput, bounded: bool) -> ServoState {
    if is_locked(out.state) && bounded && out.error_bound.is_none() {
        ServoState::Unlocked
    } else {
        out.state
    }
}

#[allow(clippy::cast_precision_loss, reason = "reporting")]
fn ppb_f64(p: Ppb) -> f64 {
    p.to_bits() as f64 / 4_294_967_296.0
}

#[allow(clippy::cast_possible_truncation, reason = "saturating float-to-int")]
fn ppb_from_f64(v: f64) -> Ppb {
    Ppb::from_bits((v * 4_294_967_296.0) as i64)
}

#[allow(clippy::cast_precision_loss, reason = "reporting")]
fn f(ns: i64) -> f64 {
    ns as f64
}

/// The servo thresholds for `cfg`'s step policy, its frequency range
/// limited to what the sink accepts (`sink_max`: a PHC's `max_adj`).
fn servo_config(cfg: &Config, sink_max: Ppb) -> ServoConfig {
    let thr = cfg.step_threshold;
    ServoConfig {
        first_step_threshold: match cfg.step {
            StepPolicy::First | StepPolicy::Always => thr,
            StepPolicy::Never => Duration::ZERO,
        },
        step_threshold: match cfg.step {
            StepPolicy::Always => thr,
            _ => Duration::ZERO,
        },
        max_frequency: cfg.max_frequency.min(sink_max),
        ..ServoConfig::default()
    }
}

/// The servo for `cfg` and a sink accepting ±`sink_max`, starting at `freq`.
pub fn make_servo(cfg: &Config, sink_max: Ppb, freq: Ppb) -> Box<dyn Servo> {
    let sc = servo_config(cfg, sink_max);
    match cfg.servo {
        ServoKind::Kalman => Box::new(Kalman::new(
            sc,
            KalmanConfig {
                reference_error: cfg.reference_error,
                ..KalmanConfig::default()
            },
            cfg.interval,
            freq,
        )),
        ServoKind::Pi => Box::new(Pi::new(sc, PiConfig::default(), cfg.interval, freq)),
        ServoKind::Linreg => Box::new(LinReg::new(sc, cfg.interval, freq)),
    }
}

/// Elapsed-time interference tolerance: 100 µs plus 200 ppm of the span.
/// On Linux `CLOCK_REALTIME` and `CLOCK_MONOTONIC_RAW` share the oscillator,
/// so the deviation is normally zero; the simulation models the raw clock as
/// true time, so its oscillator error (≤ 100 ppm in the scenarios) must fit.
/// A PHC sink runs on its own oscillator: the two crystals' difference (tens
/// of ppm) must fit too.
fn jump_tolerance_ns(span_ns: u64) -> f64 {
    #[allow(clippy::cast_precision_loss, reason = "tolerance")]
    let s = span_ns as f64;
    100_000.0 + s * 200e-6
}

struct Counters {
    updates: u64,
    steps: u64,
    disruptions: u64,
    read_errors: u64,
    interference: u64,
}

struct Loop<'a> {
    cfg: Config,
    /// The leap second table, when `leap_seconds_list` gives a usable one.
    leaps: Option<LeapTable>,
    /// Inside the quiet window around a leap second (logged once).
    leap_quiet: bool,
    mode: Mode,
    backend: &'a mut dyn ClockBackend,
    servo: Box<dyn Servo>,
    tai_offset: Duration,
    scale_guessed: bool,
    /// Why the daemon must stop (set by a refused step).
    fatal: Option<String>,
    /// Does the servo carry an error bound ([`carries_bound`])?
    bounded: bool,
    /// Reported locked at the last update (with a bound, for a servo that
    /// carries one, and not in holdover): only then is the frequency
    /// learnt from and the state file written.
    locked: bool,
    /// What keel last wrote to the kernel (or, in a dry run, what is in force).
    freq_in_force: Ppb,
    written: Option<Ppb>,
    /// The sink's frequency range (`max_adj` of a PHC sink).
    sink_max: Ppb,
    /// `(raw, sink time, own steps since)` at the previous update,
    /// and the raw width of that pair of reads.
    elapsed_ref: Option<(u64, u64, i64, u64)>,
    suspended_ref: i64,
    failing_since: Option<u64>,
    failed_updates: u64,
    frozen: bool,
    c: Counters,
    snap: Snapshot,
    rms2: f64,
    /// Exponential mean and variance of the frequency while locked (the
    /// state file's uncertainty); restarted by a disruption.
    freq_stats: Option<(f64, f64)>,
    summary: Summary,
    stats: Option<RunStats>,
    csv: Option<Csv>,
    plot: Option<Plot>,
    start_ns: u64,
}

impl Loop<'_> {
    fn disrupt(&mut self, why: &str) {
        warn!("disruption: {why}; the servo re-acquires (frequency kept)");
        self.servo.disruption();
        self.freq_stats = None;
        self.locked = false;
        self.c.disruptions += 1;
        self.elapsed_ref = None;
    }

    fn guards(&mut self) {
        let mut why: Option<String> = None;
        if let Some(d) = self.backend.take_disruption() {
            why = Some(d.to_string());
        }
        let susp = self.backend.suspended_ns();
        let gap = susp.saturating_sub(self.suspended_ref);
        self.suspended_ref = susp;
        if gap > 100_000_000 {
            #[allow(clippy::cast_precision_loss, reason = "log")]
            let s = gap as f64 / 1e9;
            why.get_or_insert_with(|| {
                format!("suspend/resume or pause detected (CLOCK_BOOTTIME − CLOCK_MONOTONIC grew by {s:.3} s)")
            });
        }
        if let Some(w) = why {
            self.disrupt(&w);
        }
        if !self.backend.adjusts() {
            return;
        }
        // Interference 1: the sink's kernel frequency is not what keel wrote
        // (for a PHC sink the kernel reports the last ADJ_FREQUENCY any
        // process wrote to it).
        let realtime = self.backend.sink_is_realtime();
        if let (Some(w), Some(k)) = (self.written, self.backend.frequency()) {
            let diff = ppb_f64(k.saturating_sub(w));
            if diff.abs() > 1.0 {
                warn!(
                    "clock interference: the kernel frequency{} is {:+.3} ppb but keel wrote {:+.3} ppb; another process is adjusting the clock (stop it: {})",
                    if realtime {
                        String::new()
                    } else {
                        format!(" of {}", self.backend.sink_name())
                    },
                    ppb_f64(k),
                    ppb_f64(w),
                    if realtime {
                        "chronyd, ntpd, systemd-timesyncd, phc2sys"
                    } else {
                        "ptp4l, phc2sys, ts2phc"
                    }
                );
                self.c.interference += 1;
                // Put keel's frequency back; the next update writes anyway.
                self.written = None;
                // The clock ran at a frequency the servo did not choose, so
                // its recent history no longer fits its model: re-acquire.
                self.disrupt("another process changed the clock frequency");
            }
        }
        // Interference 2: the clock moved by more than its frequency and
        // keel's own steps explain.
        // The pair is read back to back; a pause between the two reads (a
        // PHC sink's clock_gettime is a syscall into its driver, and a guest
        // vCPU can be descheduled there) is no jump: both pairs' widths are
        // added to the tolerance.
        let (raw, rt, width) = self.backend.raw_and_sink();
        if let Some((raw0, rt0, own, width0)) = self.elapsed_ref {
            let d_raw = raw.saturating_sub(raw0);
            #[allow(clippy::cast_precision_loss, reason = "statistics")]
            let expected = d_raw as f64 * (1.0 + ppb_f64(self.freq_in_force) * 1e-9) + f(own);
            #[allow(clippy::cast_precision_loss, reason = "statistics")]
            let got = rt as f64 - rt0 as f64;
            let dev = got - expected;
            #[allow(clippy::cast_precision_loss, reason = "tolerance")]
            let slack = width.saturating_add(width0) as f64;
            if dev.abs() > jump_tolerance_ns(d_raw) + slack && !self.frozen {
                warn!(
                    "clock interference: {} jumped by {} that keel did not make (another process stepped it?)",
                    if realtime {
                        "the system clock".to_string()
                    } else {
                        self.backend.sink_name()
                    },
                    crate::report::fmt_ns(dev)
                );
                self.c.interference += 1;
            }
        }
        self.elapsed_ref = Some((raw, rt, 0, width));
    }

    /// Applies the servo's output. `sampled_at` is the sink's time of the
    /// reading the output answers (None without a reading).
    ///
    /// The new frequency goes in first, then the step: from the reading until
    /// the new frequency took effect the clock still ran at the old one, and
    /// the step takes that drift out as well (50 ppm over a 3 ms syscall path
    /// in a guest is 150 ns). The servo is told the step taken (the one it
    /// asked for less that drift) and when the frequency took effect, so its
    /// model matches.
    fn apply(&mut self, out: &ServoOutput, sampled_at: Option<Timestamp>) {
        let Some((step, freq)) = out.action.correction() else {
            return;
        };
        if let Some(s) = step.filter(|&s| {
            self.scale_guessed && crate::timescale::is_scale_step(s, self.cfg.tai_utc_offset)
        }) {
            let msg = format!(
                "refusing to step the clock by {}: that is the UTC–TAI difference ({} s), and the source's time scale was guessed, not configured (it read like {} at start); if the step is right, set time_scale = \"utc\" or \"tai\" in keel.toml and restart",
                crate::report::fmt_ns(f(s.as_nanos())),
                self.cfg.tai_utc_offset,
                if self.tai_offset == Duration::ZERO {
                    "UTC"
                } else {
                    "TAI"
                }
            );
            if self.backend.adjusts() {
                // Nothing of this output is applied: stop before the clock
                // is touched.
                error!("{msg}");
                self.fatal = Some(msg);
                return;
            }
            warn!("dry run: {msg}");
        }
        let before = self.freq_in_force;
        let mut took_effect = None;
        if self.backend.adjusts() {
            match self.backend.set_frequency(freq) {
                Ok(applied) => {
                    self.freq_in_force = applied;
                    self.written = Some(applied);
                    took_effect = Some(self.backend.sink_now());
                }
                Err(e) => {
                    error!("cannot set the clock frequency: {e}; restarting the servo");
                    self.servo.reset();
                    return;
                }
            }
        }
        let mut applied_step = None;
        if let Some(asked) = step {
            // The offset the old frequency added after the reading (positive
            // when the old frequency was the faster one).
            let lag = match (took_effect, sampled_at) {
                (Some(t), Some(r)) => t.duration_since(r),
                _ => Duration::ZERO,
            };
            let drift = if lag > Duration::ZERO && lag <= self.cfg.interval {
                before.saturating_sub(self.freq_in_force).phase_over(lag)
            } else {
                Duration::ZERO
            };
            let s = asked.saturating_sub(drift);
            if self.backend.adjusts() {
                match self.backend.step(s) {
                    Ok(()) => {
                        info!(
                            "stepped {} by {}",
                            if self.backend.sink_is_realtime() {
                                "the clock".to_string()
                            } else {
                                self.backend.sink_name()
                            },
                            crate::report::fmt_ns(f(s.as_nanos()))
                        );
                        applied_step = Some(s);
                        self.c.steps += 1;
                        if let Some(r) = &mut self.elapsed_ref {
                            r.2 = r.2.saturating_add(s.as_nanos());
                        }
                    }
                    Err(e) => error!(
                        "cannot step the clock by {}: {e}",
                        crate::report::fmt_ns(f(s.as_nanos()))
                    ),
                }
            } else {
                info!(
                    "dry run: would step the clock by {}",
                    crate::report::fmt_ns(f(asked.as_nanos()))
                );
            }
        }
        self.servo.applied(&Applied {
            step: applied_step,
            freq: self.freq_in_force,
        });
        if let Some(t) = took_effect {
            // The corrections took effect then, not at the sample's time (on
            // the sink's time scale after the step).
            let t = t.wrapping_add(applied_step.unwrap_or(Duration::ZERO));
            self.servo.applied_at(t);
        }
    }

    /// Is UTC time `now` within [`LEAP_QUIET_S`] of a leap second? The
    /// reference (a UTC host clock) and the kernel both step there, not
    /// quite together, so readings around it are not used.
    fn near_leap(&self, now: Timestamp) -> bool {
        let Some(t) = self.leaps.as_ref() else {
            return false;
        };
        let before = Timestamp::from_secs_nanos(now.secs().saturating_sub(LEAP_QUIET_S), 0);
        t.next_leap(before)
            .is_some_and(|l| l.unix_secs.abs_diff(now.secs()) <= LEAP_QUIET_S)
    }

    fn write_status(&mut self, bound: Option<Duration>) {
        // Only CLOCK_REALTIME has maxerror/esterror/status/leap bits; a PHC
        // sink gets none of them.
        if !self.backend.adjusts() || !self.backend.sink_is_realtime() {
            return;
        }
        let mut s = SyncStatus::from_bound(bound, KalmanConfig::default().bound_sigmas);
        let now = self.backend.realtime();
        if let Some(t) = self.leaps.as_ref().filter(|t| !t.expired(now)) {
            s.leap = match t.leap_today(now).map(|l| l.kind) {
                Some(LeapKind::Insert) => LeapStatus::Insert,
                Some(LeapKind::Delete) => LeapStatus::Delete,
                None => LeapStatus::None,
            };
            s.tai_offset = t.offset_at(now).map(|o| o.0);
        }
        if let Err(e) = self.backend.set_status(s) {
            warn!("cannot write the kernel's maxerror/status: {e}");
        }
    }

    /// One update: read, run the servo, apply. Returns how soon the servo
    /// wants the next one when sooner than the interval
    /// ([`ServoOutput::next_update`]: a suspect reading to confirm, a burst
    /// after a disruption).
    fn update(&mut self, now: u64) -> Option<Duration> {
        if self.backend.frozen() {
            // A frozen guest runs no code: this wake-up does not happen.
            return None;
        }
        self.c.updates += 1;
        let limit = u64::from(self.cfg.step_limit);
        if self.cfg.step == StepPolicy::Always && limit > 0 && self.c.updates == limit + 1 {
            // Keep the servo and what it has learnt; only its policy changes.
            info!("step_limit: {limit} updates done, slewing only from now on");
            let slew_only = Config {
                step: StepPolicy::Never,
                ..self.cfg.clone()
            };
            self.servo
                .set_config(servo_config(&slew_only, self.sink_max));
        }
        self.guards();
        let rt_before = self.backend.sink_now();
        let pre_bound = self.servo.error_bound(rt_before);
        let truth = self.backend.truth();
        let mut rec = Record {
            #[allow(clippy::cast_precision_loss, reason = "reporting")]
            t_s: now.saturating_sub(self.start_ns) as f64 / 1e9,
            bound_ns: pre_bound.map(|b| f(b.as_nanos())),
            true_ns: truth.map(|t| t.offset_ns),
            true_freq_ppb: truth.map(|t| t.freq_error_ppb),
            ..Record::default()
        };
        let wall = self.backend.realtime();
        if self.near_leap(wall) {
            if !self.leap_quiet {
                info!("leap second: ignoring readings within {LEAP_QUIET_S} s of it");
                self.leap_quiet = true;
            }
            let out = self.servo.no_sample(rt_before);
            self.apply(&out, None);
            return None;
        }
        self.leap_quiet = false;
        let read = self.backend.read();
        let mut sampled_at = None;
        let out = match read {
            Ok(ok) => {
                if let Some(l) = ok.lost {
                    let (d, m, e) = (l.device, l.method, l.error);
                    warn!("{d} read method {m} failed ({e}); now using {}", ok.method);
                    if e == PhcError::NotSupported {
                        self.disrupt(&format!(
                            "{m} stopped working ({e}), as after a live migration"
                        ));
                    }
                }
                if self.frozen {
                    self.frozen = false;
                }
                match ok.sample {
                    Some(s) => {
                        if let Some(t0) = self.failing_since.take() {
                            #[allow(clippy::cast_precision_loss, reason = "log")]
                            let secs = now.saturating_sub(t0) as f64 / 1e9;
                            info!(
                                "PHC readable again after {} failed updates ({secs:.0} s of holdover)",
                                self.failed_updates
                            );
                            self.failed_updates = 0;
                        }
                        let offset = s.offset.saturating_add(self.tai_offset);
                        rec.measured_ns = Some(f(offset.as_nanos()));
                        rec.delay_ns = f(s.delay.as_nanos());
                        self.snap.last_offset_ns = offset.as_nanos();
                        self.snap.delay_ns = s.delay.as_nanos();
                        let o = f(offset.as_nanos());
                        self.rms2 = if self.c.updates <= 1 {
                            o * o
                        } else {
                            0.9 * self.rms2 + 0.1 * o * o
                        };
                        self.snap.method.clone_from(&ok.method);
                        sampled_at = Some(s.local_ts);
                        self.servo.sample(&OffsetSample {
                            offset,
                            local_ts: s.local_ts,
                            uncertainty: Duration::from_nanos(s.delay.as_nanos() / 2),
                        })
                    }
                    None => self.no_sample(now, Device::Source, PhcError::Invalid),
                }
            }
            Err(fail) => {
                if fail.error == PhcError::Frozen {
                    // The simulated guest is frozen: no code runs, no update.
                    self.frozen = true;
                    self.c.updates -= 1;
                    return None;
                }
                if let Some(l) = fail.lost {
                    if l.error == PhcError::NotSupported {
                        self.disrupt(&format!("{} stopped working ({})", l.method, l.error));
                    }
                }
                self.no_sample(now, fail.device, fail.error)
            }
        };
        self.apply(&out, sampled_at);
        self.write_status(out.error_bound);
        rec.freq_ppb = ppb_f64(self.freq_in_force);
        let holdover = self.failing_since.is_some();
        let state = reported_state(&out, self.bounded);
        rec.state = if holdover {
            "holdover"
        } else {
            state_name(state)
        };
        self.locked = is_locked(state) && !holdover;
        self.snap.state = rec.state.to_string();
        self.snap.freq_ppb = rec.freq_ppb;
        self.snap.error_bound_ns = out.error_bound.map(Duration::as_nanos);
        self.snap.rms_offset_ns = self.rms2.sqrt();
        self.snap.true_offset_ns = self.backend.truth().map(|t| t.offset_ns);
        #[allow(clippy::cast_precision_loss, reason = "reporting")]
        {
            self.snap.last_update_unix = self.backend.realtime().as_nanos() as f64 / 1e9;
        }
        self.snap.updates = self.c.updates;
        self.snap.steps = self.c.steps;
        self.snap.disruptions = self.c.disruptions;
        self.snap.read_errors = self.c.read_errors;
        self.snap.interference = self.c.interference;
        // The frequency's spread (for the state file's uncertainty).
        if self.locked {
            match self.freq_stats {
                None => self.freq_stats = Some((rec.freq_ppb, 0.0)),
                Some((mean, var)) => {
                    let d = rec.freq_ppb - mean;
                    self.freq_stats = Some((mean + d / 16.0, var * 15.0 / 16.0 + d * d / 16.0));
                }
            }
        }
        self.record(&rec, out.error_bound);
        if self.c.updates % u64::from(self.cfg.state_save_updates.max(1)) == 0 {
            self.save_state();
        }
        out.next_update
    }

    fn no_sample(&mut self, now: u64, device: Device, e: PhcError) -> ServoOutput {
        self.c.read_errors += 1;
        self.failed_updates += 1;
        if self.failing_since.is_none() {
            if e == PhcError::Busy {
                debug!("{device} busy (EBUSY) three times; skipping this update");
            } else {
                warn!(
                    "{device} read failed: {e}; holding over at {:+.3} ppb and retrying every update",
                    ppb_f64(self.freq_in_force)
                );
                self.failing_since = Some(now);
            }
        }
        let rt = self.backend.sink_now();
        self.servo.no_sample(rt)
    }

    fn record(&mut self, rec: &Record, bound: Option<Duration>) {
        if let Some(s) = &mut self.stats {
            s.add(rec);
        }
        if let Some(c) = &mut self.csv {
            c.row(rec);
        }
        if let Some(p) = &mut self.plot {
            p.add(rec);
        }
        self.summary.add(rec);
        let every = self.cfg.summary_updates;
        if every == 0 {
            info!(
                "offset {} {} freq {:+.0} delay {:.0} bound {}{}",
                rec.measured_ns.map_or("-".into(), |m| format!("{m:.0}")),
                rec.state,
                rec.freq_ppb,
                rec.delay_ns,
                bound.map_or("-".into(), |b| b.as_nanos().to_string()),
                rec.true_ns
                    .map_or(String::new(), |t| format!(" true {t:.0}")),
            );
            self.summary = Summary::default();
        } else if self.summary.count() >= every {
            let line = self
                .summary
                .take_line(bound.map(Duration::as_nanos), rec.state);
            info!("{line}");
        }
    }

    fn save_state(&mut self) {
        let Some(path) = self.cfg.state_file.clone() else {
            return;
        };
        let Some((_, var)) = self.freq_stats else {
            return;
        };
        // Only what was learnt while locked with a bound is worth keeping.
        if !self.locked || self.failing_since.is_some() {
            return;
        }
        let st = State {
            freq_ppb: ppb_f64(self.freq_in_force),
            freq_sd_ppb: var.sqrt(),
            saved_unix: self.backend.realtime().secs(),
            sink: self.backend.sink_name(),
            origin: self.backend.origin(),
        };
        if let Err(e) = st.save(&path) {
            warn!(
                "{}: cannot save the state file: {e} (check the directory exists and is writable, or set state_file = \"\")",
                path.display()
            );
        }
    }

    fn reload(&mut self, new: Config) {
        let old = &self.cfg;
        let mut restart = Vec::new();
        macro_rules! needs_restart {
            ($($f:ident),*) => { $( if old.$f != new.$f { restart.push(stringify!($f)); } )* };
        }
        needs_restart!(
            source,
            sink,
            time_scale,
            tai_utc_offset,
            vmclock,
            read_method,
            samples,
            servo,
            step,
            step_threshold,
            step_limit,
            max_frequency,
            reference_error,
            status_socket,
            metrics_listen,
            metrics_allow_remote
        );
        if old.interval != new.interval {
            self.servo.set_interval(new.interval);
        }
        crate::log::set_level(new.log_level);
        let mut kept = new;
        // Keep the values that need a restart, so status stays truthful.
        kept.source = old.source.clone();
        kept.sink = old.sink.clone();
        kept.time_scale = old.time_scale;
        kept.tai_utc_offset = old.tai_utc_offset;
        kept.vmclock = old.vmclock.clone();
        kept.read_method = old.read_method;
        kept.samples = old.samples;
        kept.servo = old.servo;
        kept.step = old.step;
        kept.step_threshold = old.step_threshold;
        kept.step_limit = old.step_limit;
        kept.max_frequency = old.max_frequency;
        kept.reference_error = old.reference_error;
        kept.status_socket = old.status_socket.clone();
        kept.metrics_listen = old.metrics_listen;
        kept.metrics_allow_remote = old.metrics_allow_remote;
        self.cfg = kept;
        self.leaps = load_leaps(&self.cfg, self.backend.realtime());
        self.snap.interval_s = f(self.cfg.interval.as_nanos()) / 1e9;
        if restart.is_empty() {
            info!("configuration reloaded");
        } else {
            warn!(
                "configuration reloaded; changes to {} take effect after a restart",
                restart.join(", ")
            );
        }
    }
}

/// Seconds either side of a leap second in which readings are ignored.
const LEAP_QUIET_S: u64 = 2;

/// Reads `leap_seconds_list`; a missing, unreadable, malformed or expired file
/// only turns leap handling off, with a warning.
fn load_leaps(cfg: &Config, now: Timestamp) -> Option<LeapTable> {
    let path = cfg.leap_seconds_list.as_ref()?;
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) => {
            warn!(
                "{}: {e}; leap seconds are not announced to the kernel",
                path.display()
            );
            return None;
        }
    };
    match LeapTable::parse(&text) {
        Ok(t) if t.expired(now) => {
            warn!(
                "{}: the list has expired; leap seconds are not announced (update the tzdata package)",
                path.display()
            );
            None
        }
        Ok(t) => {
            debug!(
                "{}: {} leap second entries",
                path.display(),
                t.entries().len()
            );
            Some(t)
        }
        Err(e) => {
            warn!(
                "{}: {e}; leap seconds are not announced to the kernel",
                path.display()
            );
            None
        }
    }
}

/// Runs the daemon until `duration_ns` passes or a stop signal arrives.
///
/// # Errors
/// Setup failures (signals, status socket, metrics listener, output files),
/// each saying what and how to fix it. Nothing after setup is fatal.
#[allow(clippy::too_many_lines, reason = "the loop reads best in one piece")]
pub fn run(opts: Options, backend: &mut dyn ClockBackend) -> Result<Outcome, String> {
    let cfg = opts.config;
    let signals = Signals::new().map_err(|e| format!("cannot set up signal handling: {e}"))?;
    let status = match &cfg.status_socket {
        Some(p) => Some(StatusServer::bind(p)?),
        None => None,
    };
    let mut metrics = match cfg.metrics_listen {
        Some(a) => {
            let m = Metrics::bind(a)?;
            info!(
                "Prometheus metrics on http://{}/metrics",
                m.local_addr().map_or(a.to_string(), |x| x.to_string())
            );
            Some(m)
        }
        None => None,
    };
    let csv = match &opts.csv {
        Some(p) => Some(Csv::create(p)?),
        None => None,
    };

    // The starting frequency: the state file, else what the kernel has.
    let kernel = backend.frequency().unwrap_or(Ppb::ZERO);
    let sink_max = backend.max_frequency();
    let mut start_freq = kernel;
    let mut prior = None;
    if let Some(p) = &cfg.state_file {
        match State::load(p) {
            Ok(st) if st.sink != backend.sink_name() => warn!(
                "{}: the state file was saved for {}, not for {}; ignoring it and starting without a frequency estimate (it will be rewritten)",
                p.display(),
                st.sink,
                backend.sink_name()
            ),
            Ok(st) => {
                // Learnt elsewhere, or long ago: trusted less.
                let (sd, doubts) = st.prior(&backend.origin(), backend.realtime().secs());
                if !doubts.is_empty() {
                    let why: Vec<String> = doubts.iter().map(ToString::to_string).collect();
                    let line = format!(
                        "{}: the saved frequency is trusted less: {}; widening its uncertainty from ± {:.3} to ± {:.3} ppb",
                        p.display(),
                        why.join("; "),
                        st.freq_sd_ppb,
                        sd
                    );
                    if doubts.iter().any(Doubt::is_mismatch) {
                        warn!("{line}");
                    } else {
                        info!("{line}");
                    }
                }
                prior = Some((ppb_from_f64(st.freq_ppb), ppb_from_f64(sd)));
                info!(
                    "{}: starting from the saved frequency {:+.3} ppb (± {:.3} ppb)",
                    p.display(),
                    st.freq_ppb,
                    sd
                );
                start_freq = ppb_from_f64(st.freq_ppb);
            }
            Err(e @ StateError::Missing(_)) => info!("{e}"),
            Err(e) => warn!("{e}"),
        }
    }
    let mut written = None;
    if backend.adjusts() && start_freq != kernel {
        match backend.set_frequency(start_freq) {
            Ok(applied) => {
                // The sink's quantisation (and a PHC's max_adj) apply.
                start_freq = applied;
                written = Some(applied);
            }
            Err(e) => {
                warn!("cannot set the saved frequency: {e}; starting from the kernel's");
                start_freq = kernel;
            }
        }
    }
    if !backend.adjusts() {
        start_freq = kernel;
    }
    let mut servo = make_servo(&cfg, sink_max, start_freq);
    if let Some((freq, sd)) = prior {
        // The saved frequency and its spread seed the first estimate.
        servo.set_frequency_prior(freq.clamp_abs(sink_max), sd);
    }
    info!(
        "keel {} ({}): {}, every {} s, servo {:?}",
        env!("CARGO_PKG_VERSION"),
        opts.mode.name(),
        backend.describe(),
        f(cfg.interval.as_nanos()) / 1e9,
        cfg.servo
    );
    let start_ns = backend.loop_now_ns();
    #[allow(clippy::cast_precision_loss, reason = "reporting")]
    let stats = (opts.mode == Mode::Sim).then(|| {
        RunStats::new(
            opts.duration_ns.unwrap_or(0) as f64 / 1e9,
            f(cfg.interval.as_nanos()) / 1e9,
        )
    });
    let snap = Snapshot {
        source: backend.describe(),
        sink: backend.sink_name(),
        method: "-".into(),
        mode: opts.mode.name().into(),
        state: "unlocked".into(),
        interval_s: f(cfg.interval.as_nanos()) / 1e9,
        ..Snapshot::default()
    };
    let leaps = load_leaps(&cfg, backend.realtime());
    let mut lp = Loop {
        leaps,
        leap_quiet: false,
        mode: opts.mode,
        servo,
        tai_offset: opts.tai_offset,
        scale_guessed: opts.scale_guessed,
        fatal: None,
        bounded: carries_bound(cfg.servo),
        locked: false,
        freq_in_force: start_freq,
        written,
        sink_max,
        elapsed_ref: None,
        suspended_ref: backend.suspended_ns(),
        failing_since: None,
        failed_updates: 0,
        frozen: false,
        c: Counters {
            updates: 0,
            steps: 0,
            disruptions: 0,
            read_errors: 0,
            interference: 0,
        },
        snap,
        rms2: 0.0,
        freq_stats: None,
        summary: Summary::default(),
        stats,
        csv,
        plot: opts.svg.as_ref().map(|_| Plot::default()),
        start_ns,
        backend,
        cfg,
    };
    let end = opts.duration_ns.map(|d| start_ns.saturating_add(d));
    // First update 1 ms in (the simulated world then has moved).
    let mut next = start_ns.saturating_add(1_000_000);
    // The regular updates' schedule (`next` may come sooner).
    let mut grid = next;
    let mut stopped_by = None;
    let mut fds: Vec<libc::pollfd> = Vec::with_capacity(12);
    loop {
        let deadline = end.map_or(next, |e| next.min(e));
        fds.clear();
        fds.push(sys::pollin(signals.fd()));
        if let Some(s) = &status {
            fds.push(sys::pollin(s.fd()));
        }
        if let Some(m) = &metrics {
            fds.extend(m.fds().into_iter().map(sys::pollin));
        }
        let timeout = lp.backend.poll_timeout_ms(deadline);
        if let Err(e) = sys::poll(&mut fds, timeout) {
            error!("poll failed: {e}");
        }
        while let Some(sig) = signals.next() {
            match sig {
                Signal::Stop(n) => stopped_by = Some(n),
                Signal::Reload => match (opts.reload)() {
                    Ok(c) => lp.reload(c),
                    Err(e) => error!("configuration not reloaded, keeping the running one: {e}"),
                },
            }
        }
        if let Some(n) = stopped_by {
            info!("signal {n}: stopping");
            break;
        }
        if let Some(s) = &status {
            s.serve(&lp.snap);
        }
        if let Some(m) = &mut metrics {
            let snap = lp.snap.clone();
            m.serve(&move || snap.prometheus());
        }
        lp.backend.catch_up(deadline);
        let now = lp.backend.loop_now_ns();
        if end.is_some_and(|e| now >= e) {
            break;
        }
        if now >= next {
            let soon = lp.update(now);
            if let Some(msg) = lp.fatal.take() {
                return Err(msg);
            }
            if now >= grid {
                let interval = u64::try_from(lp.cfg.interval.as_nanos()).unwrap_or(1_000_000_000);
                grid = grid.saturating_add(interval);
                if grid <= now {
                    // Fell behind (or was suspended): realign, don't burst.
                    grid = now.saturating_add(interval);
                }
            }
            // A re-read the servo asked for comes in between; the regular
            // updates keep their grid.
            next = soon
                .and_then(|d| u64::try_from(d.as_nanos()).ok())
                .map_or(grid, |d| grid.min(now.saturating_add(d.max(1))));
        }
    }
    lp.save_state();
    if lp.backend.adjusts() && lp.mode != Mode::Sim {
        info!("frequency left at {:+.3} ppb", ppb_f64(lp.freq_in_force));
    }
    if let Some(c) = lp.csv.take() {
        if let Err(e) = c.finish() {
            error!("CSV trace: {e}");
        }
    }
    let truth = lp.backend.truth().is_some();
    if let (Some(p), Some(path)) = (&lp.plot, &opts.svg) {
        if let Err(e) = std::fs::write(path, p.svg(&opts.title, truth)) {
            error!("{}: cannot write the SVG plot: {e}", path.display());
        }
    }
    let table = match &mut lp.stats {
        Some(s) => {
            let mut head = opts.table_head.clone();
            head.push((
                "updates / steps / disruptions".into(),
                format!("{} / {} / {}", lp.c.updates, lp.c.steps, lp.c.disruptions),
            ));
            head.push((
                "read failures / interference".into(),
                format!("{} / {}", lp.c.read_errors, lp.c.interference),
            ));
            head.push((
                "read method at the end".into(),
                lp.backend
                    .reader()
                    .method()
                    .map_or("-".into(), |m| m.to_string()),
            ));
            head.push(("state at the end".into(), lp.snap.state.clone()));
            head.push((
                "final frequency".into(),
                format!("{:+.3} ppb", ppb_f64(lp.freq_in_force)),
            ));
            s.table(&head)
        }
        None => String::new(),
    };
    Ok(Outcome { table })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{SimClock, Speed};
    use crate::phc::{MethodChoice, Reader};
    use keel_core::servo::Action;
    use keel_core::sim::SimConfig;

    /// A 5 s simulated run of a clock `offset_s` ahead of its reference,
    /// with the time scale guessed or not.
    fn run_offset(offset_s: i64, scale_guessed: bool) -> Result<Outcome, String> {
        let mut sim = SimConfig::default();
        sim.oscillator.initial_offset_ns = offset_s * 1_000_000_000;
        let mut clock = SimClock::new(
            &sim,
            1,
            "test",
            Speed::Max,
            Reader::new(MethodChoice::Auto, 5),
        );
        let opts = Options {
            config: Config {
                state_file: None,
                status_socket: None,
                leap_seconds_list: None,
                metrics_listen: None,
                ..Config::default()
            },
            reload: Box::new(|| Err("no reload in tests".into())),
            mode: Mode::Sim,
            duration_ns: Some(5_000_000_000),
            tai_offset: Duration::ZERO,
            scale_guessed,
            csv: None,
            svg: None,
            title: String::new(),
            table_head: Vec::new(),
        };
        run(opts, &mut clock)
    }

    #[test]
    fn a_guessed_time_scale_never_steps_by_the_utc_tai_difference() {
        // Guessed: the clock is left alone and the daemon stops.
        let e = run_offset(37, true).err().expect("refused");
        assert!(
            e.starts_with("refusing to step the clock by -37.000 s: that is the UTC–TAI difference (37 s), and the source's time scale was guessed, not configured (it read like UTC at start); if the step is right, set time_scale = \"utc\" or \"tai\" in keel.toml and restart"),
            "{e}"
        );
        // Configured or known: stepped.
        let out = run_offset(37, false).unwrap();
        assert!(out.table.contains("| 5 / 1 / 0"), "{}", out.table);
        // Guessed, but another size: stepped.
        let out = run_offset(30, true).unwrap();
        assert!(out.table.contains("| 5 / 1 / 0"), "{}", out.table);
    }

    fn out(state: ServoState, bound: Option<i64>) -> ServoOutput {
        ServoOutput {
            action: Action::None,
            state,
            offset: Duration::ZERO,
            freq: Ppb::ZERO,
            error_bound: bound.map(Duration::from_nanos),
            next_update: None,
        }
    }

    #[test]
    fn locked_is_earned_with_a_bound() {
        use ServoState::{Jump, Locked, LockedStable, Unlocked};
        let shown = |state, bound, bounded| state_name(reported_state(&out(state, bound), bounded));
        // keel's servo: no bound, no lock.
        assert_eq!(shown(Locked, None, true), "unlocked");
        assert_eq!(shown(LockedStable, None, true), "unlocked");
        assert_eq!(shown(Locked, Some(40), true), "locked");
        assert_eq!(shown(LockedStable, Some(40), true), "locked-stable");
        assert_eq!(shown(Jump, None, true), "jump");
        assert_eq!(shown(Unlocked, Some(40), true), "unlocked");
        // linuxptp's servos carry no bound: their own states, as phc2sys.
        assert!(carries_bound(ServoKind::Kalman));
        assert!(!carries_bound(ServoKind::Pi) && !carries_bound(ServoKind::Linreg));
        assert_eq!(shown(Locked, None, false), "locked");
    }
}

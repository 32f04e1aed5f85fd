//! The daemon loop of `keel sync`: one thread, one `poll(2)` loop, the same
//! for the real clocks and the simulated ones.
//!
//! Every decision about time is the engine's ([`keel_core::engine`]): when
//! to read and re-read, the checks for suspend and interference, holdover,
//! the leap-second quiet window, the order of the corrections and the drift
//! taken out of a step, the kernel's `maxerror`/`esterror`/`status`, and what
//! to save. This loop carries out its commands on the backend (devices,
//! `clock_adjtime`), owns the sockets, signals and files, and renders what
//! the engine reports: logs, status, metrics, the CSV trace and the table.

use std::path::PathBuf;

use keel_core::engine::{
    Adjusted, ClockCheck, Command, Disruption, DisruptionCause, Engine, EngineConfig, Halt,
    KernelStatus, Notice, ReadError, Reading, SinkConfig, SourceConfig, SourceId, SyncState,
};
use keel_core::servo::{AnyServo, Kalman, KalmanConfig, LinReg, Pi, PiConfig, ServoConfig};
use keel_core::time::{Duration, LeapTable, Ppb, Timestamp};

use crate::clock::{ClockBackend, Device, Lost};
use crate::config::{Config, ServoKind, StepPolicy};
use crate::metrics::Metrics;
use crate::ntp::NtpPeers;
use crate::page::{PageConfig, Publisher};
use crate::phc::PhcError;
use crate::report::{Csv, Plot, Record, RunStats, Summary, fmt_ns};
use crate::state::{Doubt, State, StateError};
use crate::status::{RecentOffsets, Snapshot, StatusServer};
use crate::sys::{self, Signal, Signals};
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
    /// or known: the engine then refuses a step of the UTC–TAI difference
    /// ([`keel_core::engine::is_scale_step`]) and the daemon stops.
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
    /// Output files that could not be written whole (each says which and
    /// why): the run then fails.
    pub lost: Vec<String>,
}

#[allow(clippy::cast_precision_loss, reason = "reporting")]
fn f(ns: i64) -> f64 {
    ns as f64
}

/// The servo thresholds for `cfg`'s step policy (the engine limits the
/// frequency range further to the sink's).
fn servo_config(cfg: &Config) -> ServoConfig {
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
        max_frequency: cfg.max_frequency,
        ..ServoConfig::default()
    }
}

/// The servo for `cfg`, starting at `freq`.
fn make_servo(cfg: &Config, freq: Ppb) -> AnyServo {
    let sc = servo_config(cfg);
    match cfg.servo {
        ServoKind::Kalman => AnyServo::Kalman(Kalman::new(
            sc,
            KalmanConfig {
                reference_error: cfg.reference_error,
                ..KalmanConfig::default()
            },
            cfg.interval,
            freq,
        )),
        ServoKind::Pi => AnyServo::Pi(Pi::new(sc, PiConfig::default(), cfg.interval, freq)),
        ServoKind::Linreg => AnyServo::LinReg(LinReg::new(sc, cfg.interval, freq)),
    }
}

/// The engine's settings for `cfg` on `backend`.
fn engine_config(cfg: &Config, backend: &dyn ClockBackend) -> EngineConfig {
    EngineConfig {
        interval: cfg.interval,
        samples: u8::try_from(cfg.samples).unwrap_or(u8::MAX),
        servo: servo_config(cfg),
        step_limit: if cfg.step == StepPolicy::Always {
            cfg.step_limit
        } else {
            0
        },
        steers: backend.adjusts(),
        sink: SinkConfig {
            kernel_status: backend.sink_is_realtime(),
            max_frequency: backend.max_frequency(),
        },
        clock_checks: true,
        save_every: cfg.state_save_updates.max(1),
        tai_utc_s: i16::try_from(cfg.tai_utc_offset).unwrap_or(i16::MAX),
        bound_sigmas: KalmanConfig::default().bound_sigmas,
    }
}

/// The one source: the PHC.
const SOURCE: SourceId = SourceId(0);

/// What to do when the state file cannot be saved with error `e`.
fn save_hint(e: &std::io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::ENOSPC | libc::EDQUOT) => "free space on its file system",
        Some(libc::EROFS) => "its file system is mounted read-only",
        Some(libc::ENOENT | libc::ENOTDIR) => "check the directory exists",
        Some(libc::EACCES | libc::EPERM) => "check the directory is writable by keel's user",
        _ => "check the directory exists and is writable",
    }
}

/// An update this late (or an interval, if longer) is logged, ns.
const LATE_NOTE_NS: u64 = 5_000_000_000;

struct Loop<'a> {
    cfg: Config,
    /// The leap second table, when `leap_seconds_list` gives a usable one.
    leaps: Option<LeapTable>,
    mode: Mode,
    backend: &'a mut dyn ClockBackend,
    engine: Engine<AnyServo>,
    tai_offset: Duration,
    /// The last read failure (for the holdover line).
    last_failure: Option<(Device, PhcError)>,
    /// The read method in use.
    method: String,
    /// What the last disruption reported to the engine was (for its log
    /// line).
    signalled: Option<String>,
    snap: Snapshot,
    rms2: RecentOffsets,
    /// The row of the update in progress, and the update and step counts
    /// it began at.
    row: Option<Record>,
    row_updates: u64,
    row_steps: u64,
    summary: Summary,
    stats: Option<RunStats>,
    csv: Option<Csv>,
    plot: Option<Plot>,
    start_ns: u64,
    /// The time page and `ClockBound` segment, when published.
    page: Option<Publisher>,
    /// The NTP servers (none unless configured).
    ntp: NtpPeers,
    /// keel's own NTP server (`ntp_serve`), when configured.
    serve: Option<crate::ntp_server::NtpServe>,
    /// Clock writes refused in a row since the last that went through
    /// (the first is logged, the rest counted).
    write_failures: u64,
    /// Clock writes refused since the start (status and metrics).
    writes_refused: u64,
}

impl Loop<'_> {
    fn sink_words(&self) -> String {
        if self.backend.sink_is_realtime() {
            "the system clock".to_string()
        } else {
            self.backend.sink_name()
        }
    }

    /// What the clocks say for the engine's checks.
    fn check(&mut self) -> ClockCheck {
        let (raw_ns, sink_ns, pair_width_ns) = self.backend.raw_and_sink();
        let wall = self.backend.realtime();
        let table = self.leaps.as_ref().filter(|t| !t.expired(wall));
        ClockCheck {
            kernel_freq: self.backend.frequency(),
            raw_ns,
            sink: Timestamp::from_nanos(sink_ns),
            pair_width_ns,
            suspended_ns: Some(self.backend.suspended_ns()),
            wall,
            // The leap ahead, or one passed within the last minute.
            leap: table.and_then(|t| {
                t.next_leap(Timestamp::from_secs_nanos(
                    wall.secs().saturating_sub(60),
                    0,
                ))
            }),
            tai_utc_s: table.and_then(|t| t.offset_at(wall)).map(|o| o.0),
        }
    }

    fn lost_method(&mut self, now: u64, l: Lost, using: Option<&str>) {
        match using {
            Some(m) => warn!(
                "{} read method {} failed ({}); now using {m}",
                l.device, l.method, l.error
            ),
            None => warn!("{} read method {} failed ({})", l.device, l.method, l.error),
        }
        if l.error == PhcError::NotSupported {
            self.signalled = Some(if using.is_some() {
                format!(
                    "{} stopped working ({}), as after a live migration",
                    l.method, l.error
                )
            } else {
                format!("{} stopped working ({})", l.method, l.error)
            });
            self.engine.on_disruption(now, Disruption::ReadMethodLost);
        }
    }

    fn read(&mut self, now: u64, samples: usize) {
        match self.backend.read(samples) {
            Ok(ok) => {
                if let Some(l) = ok.lost {
                    self.lost_method(now, l, Some(&ok.method));
                }
                self.method.clone_from(&ok.method);
                match ok.sample {
                    Some(s) => {
                        self.last_failure = None;
                        self.engine.on_reading(SOURCE, &Reading::phc(&s));
                        let offset = self.engine.status().last_offset;
                        if let Some(r) = &mut self.row {
                            r.delay_ns = f(s.delay.as_nanos());
                            r.measured_ns = offset.map(|o| f(o.as_nanos()));
                        }
                    }
                    None => {
                        self.last_failure = Some((Device::Source, PhcError::Invalid));
                        let t = self.backend.sink_now();
                        self.engine.on_read_error(SOURCE, ReadError::Failed, t);
                    }
                }
            }
            Err(fail) => {
                if let Some(l) = fail.lost {
                    self.lost_method(now, l, None);
                }
                let e = match fail.error {
                    PhcError::Frozen => ReadError::Paused,
                    PhcError::Busy => ReadError::Busy,
                    _ => ReadError::Failed,
                };
                self.last_failure = Some((fail.device, fail.error));
                let t = self.backend.sink_now();
                self.engine.on_read_error(SOURCE, e, t);
            }
        }
    }

    fn adjust(&mut self, freq: Option<Ppb>, status: Option<KernelStatus>) {
        let (f, s) = self.backend.adjust(freq, status);
        if let Some(Err(e)) = &s {
            self.write_failed("write the kernel's maxerror/status", e);
        }
        let result = match f {
            None => Ok(Adjusted {
                freq: self.engine.status().freq,
                at: Timestamp::from_nanos(0),
            }),
            Some(Ok(applied)) => {
                self.write_went_through();
                Ok(Adjusted {
                    freq: applied,
                    at: self.backend.sink_now(),
                })
            }
            Some(Err(e)) => {
                self.write_failed("set the clock frequency", &e);
                Err(())
            }
        };
        self.engine.on_adjusted(result);
    }

    fn step(&mut self, by: Duration) {
        match self.backend.step(by) {
            Ok(()) => {
                self.write_went_through();
                self.engine.on_stepped(true);
            }
            Err(e) => {
                let what = format!("step the clock by {}", fmt_ns(f(by.as_nanos())));
                self.write_failed(&what, &e);
                self.engine.on_stepped(false);
            }
        }
    }

    /// A clock write was refused: logged the first time (with what to do
    /// when it is a permission), counted after; keel goes on measuring and
    /// tries again at every update.
    fn write_failed(&mut self, what: &str, e: &std::io::Error) {
        self.write_failures = self.write_failures.saturating_add(1);
        self.writes_refused = self.writes_refused.saturating_add(1);
        self.snap.clock_writes_refused = self.writes_refused;
        if self.write_failures > 1 {
            return;
        }
        let hint = if e.kind() == std::io::ErrorKind::PermissionDenied {
            if self.backend.sink_is_realtime() {
                "; keel lost CAP_SYS_TIME (taken away, or a seccomp or container policy)"
            } else {
                "; keel lost write access to the sink PHC"
            }
        } else {
            ""
        };
        error!(
            "cannot {what}: {e}{hint}; measuring on and trying again at every update (further refusals are counted, not logged)"
        );
    }

    /// A clock write went through: the end of a run of refusals, if any.
    fn write_went_through(&mut self) {
        if self.write_failures > 0 {
            info!(
                "the clock accepts keel's writes again, after {} refused",
                self.write_failures
            );
            self.write_failures = 0;
        }
    }

    /// Says so when an update begins `late_ns` after it was due, later
    /// than [`LATE_NOTE_NS`] (or an interval, if longer): keel did not run
    /// meanwhile (SIGSTOP, starved of CPU, a paused machine), and the clock
    /// ran on the frequency in force, unwatched. The update itself is as
    /// any other, on a fresh reading.
    fn note_late(&self, late_ns: u64) {
        let interval = u64::try_from(self.cfg.interval.as_nanos()).unwrap_or(u64::MAX);
        if late_ns <= LATE_NOTE_NS.max(interval) {
            return;
        }
        #[allow(clippy::cast_precision_loss, reason = "log")]
        let late = late_ns as f64 / 1e9;
        warn!(
            "this update is {late:.1} s late: keel did not run (stopped by a signal, starved of CPU, or the machine was paused); {} ran on at {:+.3} ppb meanwhile",
            self.sink_words(),
            Ppb::to_f64(self.engine.status().freq)
        );
    }

    /// Logs what the engine noticed.
    fn notices(&mut self) {
        while let Some(n) = self.engine.take_notice() {
            match n {
                Notice::Disrupted(c) => {
                    let why = match c {
                        DisruptionCause::Signalled(_) => self
                            .signalled
                            .take()
                            .unwrap_or_else(|| "signalled by the platform".to_string()),
                        #[allow(clippy::cast_precision_loss, reason = "log")]
                        DisruptionCause::Suspended(gap) => format!(
                            "suspend/resume or pause detected (CLOCK_BOOTTIME − CLOCK_MONOTONIC grew by {:.3} s)",
                            gap as f64 / 1e9
                        ),
                        DisruptionCause::Interference => {
                            "another process changed the clock frequency".to_string()
                        }
                    };
                    warn!("disruption: {why}; the servo re-acquires (frequency kept)");
                }
                Notice::FrequencyInterference { kernel, wrote } => {
                    let realtime = self.backend.sink_is_realtime();
                    warn!(
                        "clock interference: the kernel frequency{} is {:+.3} ppb but keel wrote {:+.3} ppb; another process is adjusting the clock (stop it: {})",
                        if realtime {
                            String::new()
                        } else {
                            format!(" of {}", self.backend.sink_name())
                        },
                        Ppb::to_f64(kernel),
                        Ppb::to_f64(wrote),
                        if realtime {
                            "chronyd, ntpd, systemd-timesyncd, phc2sys"
                        } else {
                            "ptp4l, phc2sys, ts2phc"
                        }
                    );
                }
                Notice::StepInterference(d) => warn!(
                    "clock interference: {} jumped by {} that keel did not make (another process stepped it?)",
                    self.sink_words(),
                    fmt_ns(f(d.as_nanos()))
                ),
                Notice::HoldoverStarted { freq } => {
                    let (d, e) = self
                        .last_failure
                        .unwrap_or((Device::Source, PhcError::Invalid));
                    warn!(
                        "{d} read failed: {e}; holding over at {:+.3} ppb and retrying every update",
                        Ppb::to_f64(freq)
                    );
                }
                #[allow(clippy::cast_precision_loss, reason = "log")]
                Notice::HoldoverEnded {
                    failed_updates,
                    span_ns,
                } => info!(
                    "PHC readable again after {failed_updates} failed updates ({:.0} s of holdover)",
                    span_ns as f64 / 1e9
                ),
                Notice::BusySkipped => {
                    debug!("PHC busy (EBUSY) three times; skipping this update");
                }
                Notice::LeapQuiet => info!(
                    "leap second: ignoring readings within {} s of it",
                    keel_core::engine::LEAP_QUIET_S
                ),
                Notice::StepLimitReached(n) => {
                    info!("step_limit: {n} updates done, slewing only from now on");
                }
                Notice::Stepped(d) => info!(
                    "stepped {} by {}",
                    if self.backend.sink_is_realtime() {
                        "the clock".to_string()
                    } else {
                        self.backend.sink_name()
                    },
                    fmt_ns(f(d.as_nanos()))
                ),
                Notice::WouldStep(d) => info!(
                    "dry run: would step the clock by {}",
                    fmt_ns(f(d.as_nanos()))
                ),
                Notice::WouldRefuseScaleStep(d) => warn!("dry run: {}", self.scale_refusal(d)),
                Notice::AdjustFailed | Notice::StepFailed(_) => {}
                Notice::PhcRejected { phc, jury } => warn!(
                    "the NTP sources outvoted the PHC: it reads the clock {} off, they say {}..{}; NTP steers",
                    fmt_ns(f(phc.as_nanos())),
                    fmt_ns(f(jury.0.as_nanos())),
                    fmt_ns(f(jury.1.as_nanos()))
                ),
                Notice::PhcRestored => {
                    info!("the PHC agrees with the NTP sources again; it steers")
                }
                Notice::HostUnsynchronised(true) => warn!(
                    "the PHC's host says its clock is not synchronised (vmclock status){}",
                    if self.ntp.is_empty() {
                        "; keel follows it on but states no error bound (STA_UNSYNC) until the host is synchronised again"
                    } else {
                        "; the NTP servers steer"
                    }
                ),
                Notice::HostUnsynchronised(false) => {
                    info!("the PHC's host says its clock is synchronised again");
                }
                Notice::PhcDisputed { phc, ntp } => warn!(
                    "the PHC ({}) and the NTP sources ({} ± {}) disagree and no NTP majority can judge; the PHC keeps steering, its bound widened",
                    fmt_ns(f(phc.as_nanos())),
                    fmt_ns(f(ntp.0.as_nanos())),
                    fmt_ns(f(ntp.1.as_nanos()))
                ),
            }
        }
    }

    fn scale_refusal(&self, step: Duration) -> String {
        format!(
            "refusing to step the clock by {}: that is the UTC–TAI difference ({} s), and the source's time scale was guessed, not configured (it read like {} at start); if the step is right, set time_scale = \"utc\" or \"tai\" in keel.toml and restart",
            fmt_ns(f(step.as_nanos())),
            self.cfg.tai_utc_offset,
            if self.tai_offset == Duration::ZERO {
                "UTC"
            } else {
                "TAI"
            }
        )
    }

    /// Carries out the engine's commands until it waits; returns when (loop
    /// time, ns), or the reason to stop.
    fn drive(&mut self, now: u64) -> Result<u64, String> {
        let updates = self.engine.status().counters.updates;
        if let Some(what) = self.backend.take_disruption() {
            self.signalled = Some(what.to_string());
            let kind = if what.starts_with("resume") {
                Disruption::Resume
            } else {
                Disruption::Migration
            };
            self.engine.on_disruption(now, kind);
        }
        if let Some(synchronised) = self.backend.host_synchronised() {
            self.engine.on_host_status(now, synchronised);
        }
        loop {
            let cmd = self.engine.poll(now);
            match cmd {
                Command::Wait(t) => {
                    self.notices();
                    if self.row.is_none() && self.engine.status().counters.updates != updates {
                        // An update on an NTP sample: no clock check began
                        // a row for it.
                        self.begin_row(now);
                        if let Some(r) = &mut self.row {
                            r.measured_ns =
                                self.engine.status().last_offset.map(|o| f(o.as_nanos()));
                        }
                    }
                    if self.row.is_some() {
                        self.end_row();
                    }
                    return Ok(t);
                }
                Command::CheckClock => {
                    self.begin_row(now);
                    let c = self.check();
                    self.engine.on_clock_check(&c);
                }
                Command::Read { samples, .. } => self.read(now, usize::from(samples)),
                Command::Adjust(a) => self.adjust(a.freq, a.status),
                Command::Step(by) => self.step(by),
                Command::SaveState(s) => self.save_state(s.freq, s.sd),
                Command::SendNtp { source, poll } => {
                    let backend = &mut *self.backend;
                    self.ntp.send(source, poll, &mut || backend.sink_now());
                }
                Command::Halt(Halt::ScaleStep { step, .. }) => {
                    self.notices();
                    let msg = self.scale_refusal(step);
                    error!("{msg}");
                    return Err(msg);
                }
            }
            self.notices();
        }
    }

    fn begin_row(&mut self, now: u64) {
        let rt = self.backend.sink_now();
        let truth = self.backend.truth();
        if let (Some(p), Some(t)) = (&mut self.page, truth) {
            p.check_before_update(rt, t.offset_ns);
        }
        self.row = Some(Record {
            #[allow(clippy::cast_precision_loss, reason = "reporting")]
            t_s: now.saturating_sub(self.start_ns) as f64 / 1e9,
            bound_ns: self.engine.bound_at(rt).map(|b| f(b.as_nanos())),
            true_ns: truth.map(|t| t.offset_ns),
            true_freq_ppb: truth.map(|t| t.freq_error_ppb),
            ..Record::default()
        });
        self.row_updates = self.engine.status().counters.updates;
        self.row_steps = self.engine.status().counters.steps;
    }

    /// Renders the update that just ended.
    fn end_row(&mut self) {
        let Some(mut rec) = self.row.take() else {
            return;
        };
        let st = *self.engine.status();
        if st.counters.updates < self.row_updates {
            // The update did not happen (a frozen guest runs no code).
            return;
        }
        if let Some(o) = rec.measured_ns {
            // On the time line before this update's step, if it made one
            // (the reading that called for a step is not in the window
            // after it).
            self.rms2.add(o, self.row_steps);
            self.snap.last_offset_ns = st.last_offset.map_or(0, Duration::as_nanos);
            self.snap.delay_ns = st.last_delay.as_nanos();
        }
        rec.freq_ppb = Ppb::to_f64(st.freq);
        rec.state = st.state.name();
        self.snap.state = st.state.name().to_string();
        self.snap.method.clone_from(&self.method);
        self.snap.freq_ppb = rec.freq_ppb;
        self.snap.error_bound_ns = st.bound.map(Duration::as_nanos);
        (self.snap.rms_offset_ns, self.snap.rms_offset_readings) = self.rms2.rms();
        self.snap.true_offset_ns = self.backend.truth().map(|t| t.offset_ns);
        // This machine's real clock, also in a simulation (whose clocks run
        // on another time line): `keel status` gives its age.
        self.snap.last_update_unix = crate::status::wall_clock_unix();
        let c = st.counters;
        self.snap.updates = c.updates;
        self.snap.steps = c.steps;
        self.snap.disruptions = c.disruptions;
        self.snap.read_errors = c.read_errors;
        self.snap.interference = c.interference;
        self.snap_ntp();
        self.record(&rec, st.bound);
        self.publish();
    }

    /// The NTP servers and the PHC's standing with them, for `keel
    /// sources` and the metrics.
    fn snap_ntp(&mut self) {
        if self.ntp.is_empty() {
            return;
        }
        let at = self.backend.sink_now();
        let view = self.engine.ntp_view(at);
        self.snap.phc_jury = if !self.backend.has_source() {
            "none"
        } else if self.engine.phc_rejected() {
            "rejected"
        } else {
            "steering"
        }
        .into();
        self.snap.outvoted = self.engine.status().counters.outvoted;
        self.snap.ntp = self
            .ntp
            .info()
            .into_iter()
            .map(|p| {
                let v = view.iter().flatten().find(|v| v.source == p.source);
                let e = v.and_then(|v| v.estimate);
                let state = match v {
                    Some(v) if v.noselect => "noselect",
                    Some(v) if v.reach == 0 => "unreachable",
                    Some(v) if v.truechimer => "truechimer",
                    Some(v) if v.estimate.is_some() => "falseticker",
                    _ => "waiting",
                };
                crate::status::SourceLine {
                    name: p.name,
                    address: p.address.map_or_else(|| "-".into(), |a| a.to_string()),
                    reach: v.map_or(0, |v| v.reach),
                    poll: v.map_or(0, |v| v.poll),
                    offset_ns: e.map(|e| e.offset.as_nanos()),
                    half_width_ns: e.map(|e| e.half_width.as_nanos()),
                    delay_ns: e.map(|e| e.delay.as_nanos()),
                    #[allow(clippy::cast_precision_loss, reason = "display")]
                    age_s: e.map(|e| at.duration_since(e.taken).as_nanos() as f64 / 1e9),
                    state: state.into(),
                }
            })
            .collect();
    }

    /// Publishes what the engine serves now on the time page.
    fn publish(&mut self) {
        let Some(p) = &mut self.page else {
            return;
        };
        let clocks = Publisher::host_clocks();
        let at = self.backend.sink_now();
        let horizon = Duration::from_nanos(i64::try_from(p.horizon_ns()).unwrap_or(i64::MAX));
        let served = self.engine.served_at(at, horizon);
        self.snap.served_status = served.status.name().to_string();
        self.snap.served_bound_ns =
            (served.bound != Duration::MAX).then(|| served.bound.as_nanos());
        self.snap.served_growth_ppb = Some(served.growth_ppb);
        p.publish(
            served,
            at,
            clocks,
            self.backend.vmclock_marker(),
            self.engine.status().counters.updates,
            self.backend.truth().map(|t| t.offset_ns),
        );
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
                "offset {} {} freq {:+.0} ppb delay {:.0} ns bound {}{}",
                rec.measured_ns.map_or("-".into(), |m| format!("{m:.0} ns")),
                rec.state,
                rec.freq_ppb,
                rec.delay_ns,
                bound.map_or("-".into(), |b| format!("{} ns", b.as_nanos())),
                rec.true_ns
                    .map_or(String::new(), |t| format!(" true {t:.0} ns")),
            );
            self.summary = Summary::default();
        } else if self.summary.count() >= every {
            let line = self
                .summary
                .take_line(bound.map(Duration::as_nanos), rec.state);
            info!("{line}");
        }
    }

    /// Writes the state file with what the engine learnt.
    fn save_state(&mut self, freq: Ppb, sd: Ppb) {
        let Some(path) = self.cfg.state_file.clone() else {
            return;
        };
        let st = State {
            freq_ppb: Ppb::to_f64(freq),
            freq_sd_ppb: Ppb::to_f64(sd),
            saved_unix: self.backend.realtime().secs(),
            sink: self.backend.sink_name(),
            origin: self.backend.origin(),
        };
        if let Err(e) = st.save(&path) {
            warn!(
                "{}: cannot save the state file: {e} ({}, or set state_file = \"\"); the old file is kept, and the next save tries again",
                path.display(),
                save_hint(&e)
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
            metrics_allow_remote,
            time_page,
            clockbound_shm,
            time_page_void_after,
            ntp_serve,
            ntp_ratelimit
        );
        if old.interval != new.interval {
            self.engine.set_interval(new.interval);
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
        kept.time_page = old.time_page.clone();
        kept.clockbound_shm = old.clockbound_shm.clone();
        kept.time_page_void_after = old.time_page_void_after;
        kept.ntp_serve = old.ntp_serve.clone();
        kept.ntp_ratelimit = old.ntp_ratelimit;
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

/// The starting frequency and the prior from the state file, if it fits.
fn load_prior(cfg: &Config, backend: &mut dyn ClockBackend) -> Option<(Ppb, Ppb)> {
    let p = cfg.state_file.as_ref()?;
    match State::load(p) {
        Ok(st) if st.sink != backend.sink_name() => {
            warn!(
                "{}: the state file was saved for {}, not for {}; ignoring it and starting without a frequency estimate (it will be rewritten)",
                p.display(),
                st.sink,
                backend.sink_name()
            );
            None
        }
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
            info!(
                "{}: starting from the saved frequency {:+.3} ppb (± {:.3} ppb)",
                p.display(),
                st.freq_ppb,
                sd
            );
            Some((Ppb::from_f64(st.freq_ppb), Ppb::from_f64(sd)))
        }
        Err(e @ StateError::Missing(_)) => {
            info!("{e}");
            None
        }
        Err(e) => {
            warn!("{e}");
            None
        }
    }
}

/// Runs the daemon until `duration_ns` passes or a stop signal arrives.
///
/// # Errors
/// Setup failures (signals, status socket, metrics listener, output files),
/// each saying what and how to fix it, and a step the engine refused.
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
    let prior = load_prior(&cfg, backend);
    let mut start_freq = kernel;
    if let (Some((saved, _)), true) = (prior, backend.adjusts()) {
        let want = saved.clamp_abs(backend.max_frequency());
        if want != kernel {
            match backend.set_frequency(want) {
                // The sink's quantisation (and a PHC's max_adj) apply.
                Ok(applied) => start_freq = applied,
                Err(e) => {
                    warn!("cannot set the saved frequency: {e}; starting from the kernel's");
                }
            }
        }
    }
    let ecfg = engine_config(&cfg, backend);
    let start_ns = backend.loop_now_ns();
    // First update 1 ms in (the simulated world then has moved).
    let mut engine = Engine::new(
        ecfg,
        make_servo(&cfg, start_freq),
        start_freq,
        start_ns.saturating_add(1_000_000),
    );
    if backend.has_source() {
        let _ = engine.add_source(SourceConfig {
            scale_offset: opts.tai_offset,
            scale_guessed: opts.scale_guessed,
            ..SourceConfig::phc()
        });
    } else if cfg.servers.is_empty() {
        return Err("source = \"none\" needs NTP servers ([[server]] in keel.toml)".into());
    }
    if let Some((freq, sd)) = prior {
        // The saved frequency and its spread seed the first estimate.
        engine.set_frequency_prior(freq, sd);
    }
    if !cfg.servers.is_empty() && (opts.mode == Mode::Sim || !backend.sink_is_realtime()) {
        return Err(format!(
            "NTP servers ({}) need the real system clock as the sink: their timestamps are CLOCK_REALTIME{}",
            cfg.servers.len(),
            if opts.mode == Mode::Sim {
                ", and the simulated clock has no network"
            } else {
                ", not a PHC's"
            }
        ));
    }
    let ntp = NtpPeers::open(&cfg.servers, &mut engine, start_ns)?;
    let serve = crate::ntp_server::NtpServe::open(
        &cfg,
        opts.mode == Mode::Sim,
        opts.mode == Mode::DryRun,
        backend.sink_is_realtime(),
    )?;
    let mut responder = crate::responder::Responder::open(
        &cfg.host_monitor,
        cfg.host_monitor_control,
        start_ns,
        opts.mode != Mode::Sim,
    )?;
    info!(
        "keel {} ({}): {}, every {} s, {} readings per update, servo {:?}",
        env!("CARGO_PKG_VERSION"),
        opts.mode.name(),
        backend.describe(),
        f(cfg.interval.as_nanos()) / 1e9,
        cfg.samples,
        cfg.servo
    );
    #[allow(clippy::cast_precision_loss, reason = "reporting")]
    let stats = (opts.mode == Mode::Sim).then(|| {
        RunStats::new(
            opts.duration_ns.unwrap_or(0) as f64 / 1e9,
            f(cfg.interval.as_nanos()) / 1e9,
        )
        .with_events(&backend.scripted_s())
    });
    let snap = Snapshot {
        source: backend.describe(),
        sink: backend.sink_name(),
        method: "-".into(),
        mode: opts.mode.name().into(),
        state: SyncState::Unlocked.name().into(),
        interval_s: f(cfg.interval.as_nanos()) / 1e9,
        ..Snapshot::default()
    };
    let leaps = load_leaps(&cfg, backend.realtime());
    let page = if backend.sink_is_realtime() || opts.mode == Mode::Sim {
        Publisher::open(&PageConfig {
            time_page: cfg.time_page.clone(),
            clockbound_shm: cfg.clockbound_shm.clone(),
            void_after_ns: keel_core::page::void_after_ns(
                cfg.time_page_void_after.as_nanos().max(0).unsigned_abs(),
                cfg.interval.as_nanos().max(0).unsigned_abs(),
            ),
        })?
    } else {
        None
    };
    let mut lp = Loop {
        page,
        leaps,
        mode: opts.mode,
        engine,
        tai_offset: opts.tai_offset,
        last_failure: None,
        method: "-".into(),
        signalled: None,
        snap,
        rms2: RecentOffsets::default(),
        row: None,
        row_updates: 0,
        row_steps: 0,
        summary: Summary::default(),
        stats,
        csv,
        plot: opts.svg.as_ref().map(|_| Plot::default()),
        start_ns,
        backend,
        cfg,
        ntp,
        serve,
        write_failures: 0,
        writes_refused: 0,
    };
    let end = opts.duration_ns.map(|d| start_ns.saturating_add(d));
    let mut next = lp.engine.next_update_ns();
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
        fds.extend(lp.ntp.fds().into_iter().map(sys::pollin));
        if let Some(s) = &lp.serve {
            fds.extend(s.fds().into_iter().map(sys::pollin));
        }
        if let Some(r) = &responder {
            fds.extend(r.fds().into_iter().map(sys::pollin));
        }
        let timeout = lp.backend.poll_timeout_ms(deadline);
        if let Err(e) = sys::poll(&mut fds, timeout) {
            error!("poll failed: {e}");
        }
        // Log lines stderr did not take at once (a slow reader).
        crate::log::flush(std::time::Duration::ZERO);
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
        if !lp.ntp.is_empty() {
            let backend = &mut *lp.backend;
            if lp
                .ntp
                .receive(&mut lp.engine, now, &mut || backend.sink_now())
                > 0
            {
                // The engine may act on the samples at once.
                next = next.min(now);
            }
        }
        if let Some(s) = &mut lp.serve {
            // A bounded batch: an update due is not delayed.
            let backend = &mut *lp.backend;
            s.serve(&mut || backend.sink_now());
        }
        if let Some(r) = &mut responder {
            // The guest's CLOCK_REALTIME is what the host measures, whatever
            // the sink (the simulated clock in the simulation).
            let backend = &mut *lp.backend;
            r.serve(&mut lp.engine, now, &mut || backend.realtime());
            // A re-acquire the host asked for brings the update forward.
            next = next.min(lp.engine.next_update_ns());
        }
        if end.is_some_and(|e| now >= e) {
            break;
        }
        if now < next {
            continue;
        }
        if lp.backend.frozen() {
            // A frozen guest runs no code: this wake-up does not happen.
            let interval = u64::try_from(lp.cfg.interval.as_nanos()).unwrap_or(1_000_000_000);
            next = now.saturating_add(interval);
            continue;
        }
        lp.note_late(now.saturating_sub(next));
        next = lp.drive(now)?;
        if let Some(r) = &mut responder {
            r.tick(now);
        }
        if let Some(s) = &mut lp.serve {
            s.refresh(&lp.engine, lp.backend.sink_now(), &lp.ntp);
        }
    }
    if let Some(s) = lp.engine.saved_frequency() {
        lp.save_state(s.freq, s.sd);
    }
    if lp.backend.adjusts() && lp.mode != Mode::Sim {
        info!(
            "frequency left at {:+.3} ppb",
            Ppb::to_f64(lp.engine.status().freq)
        );
    }
    let mut lost = Vec::new();
    if let (Some(c), Some(path)) = (lp.csv.take(), &opts.csv) {
        if let Err(e) = c.finish() {
            error!("{}: cannot write the CSV trace: {e}", path.display());
            lost.push(format!(
                "{}: the CSV trace is incomplete ({e})",
                path.display()
            ));
        }
    }
    let truth = lp.backend.truth().is_some();
    if let (Some(p), Some(path)) = (&lp.plot, &opts.svg) {
        if let Err(e) = std::fs::write(path, p.svg(&opts.title, truth)) {
            error!("{}: cannot write the SVG plot: {e}", path.display());
            lost.push(format!(
                "{}: the SVG plot was not written ({e})",
                path.display()
            ));
        }
    }
    let c = lp.engine.status().counters;
    let table = match &mut lp.stats {
        Some(s) => {
            let mut head = opts.table_head.clone();
            head.push((
                "updates / steps / disruptions".into(),
                format!("{} / {} / {}", c.updates, c.steps, c.disruptions),
            ));
            head.push((
                "read failures / interference".into(),
                format!("{} / {}", c.read_errors, c.interference),
            ));
            head.push((
                "read method at the end".into(),
                lp.backend
                    .reader()
                    .method()
                    .map_or("-".into(), |m| m.to_string()),
            ));
            head.push(("state at the end".into(), lp.snap.state.clone()));
            if let Some(line) = lp.page.as_ref().and_then(Publisher::summary) {
                head.push(("time page intervals".into(), line));
            }
            if let Some(note) = lp.backend.speed_note() {
                head.push(("speed".into(), note));
            }
            head.push((
                "final frequency".into(),
                format!("{:+.3} ppb", Ppb::to_f64(lp.engine.status().freq)),
            ));
            s.table(&head)
        }
        None => String::new(),
    };
    Ok(Outcome { table, lost })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{SimClock, Speed};
    use crate::phc::{MethodChoice, Reader};
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
        // Configured or known: stepped (5 s: eight updates a quarter
        // second apart at the start, then one a second).
        let out = run_offset(37, false).unwrap();
        assert!(out.table.contains("| 11 / 1 / 0"), "{}", out.table);
        // Guessed, but another size: stepped.
        let out = run_offset(30, true).unwrap();
        assert!(out.table.contains("| 11 / 1 / 0"), "{}", out.table);
    }
}

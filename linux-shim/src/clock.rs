//! The clocks the daemon loop works with, behind one trait: the real Linux
//! PHC steering `CLOCK_REALTIME` or another PHC (the sink), and the
//! simulated world of `keel_core::sim`.
//!
//! The loop's own time line also comes from here, so the simulation can run
//! faster than real time: the loop asks how long it may sleep in `poll(2)`
//! ([`ClockBackend::poll_timeout_ms`]) and then lets the backend catch up
//! ([`ClockBackend::catch_up`]).

use std::fmt;
use std::io;
use std::path::Path;
use std::time::Instant;

use keel_core::measure::phc::{PhcSample, ReadMethod};
use keel_core::sim::{DisruptionKind, SimConfig, SimReadError, World};
use keel_core::time::{Duration, KernelFreq, Ppb, ScaledPpm, Timestamp};

use crate::phc::{LinuxPhc, PhcDevice, PhcError, ReadFailure, ReadOk, Reader, SINK_REALTIME};
use crate::state::Origin;
use crate::timex::{self, KernelStatus};
use crate::vmclock::VmclockWatch;

/// The ground truth, simulation only.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Truth {
    /// Local − reference, ns (positive: local ahead).
    pub offset_ns: f64,
    /// The local clock's rate error, ppb (positive: fast).
    pub freq_error_ppb: f64,
}

/// Which PHC a reading concerns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    /// The reference PHC.
    Source,
    /// The steered PHC (PHC sinks only).
    Sink,
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Source => "PHC",
            Self::Sink => "sink PHC",
        })
    }
}

/// A read method that stopped working (a migration hint on the source).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lost {
    /// Which PHC.
    pub device: Device,
    /// The method.
    pub method: ReadMethod,
    /// Its error.
    pub error: PhcError,
}

/// One measurement of the sink against the source.
#[derive(Clone, Debug)]
pub struct Measurement {
    /// Sink − source (local − reference, positive: the sink is ahead), at the
    /// sink's time `local_ts`, with the read's width as `delay`; `None` when
    /// the reading held no usable sample.
    pub sample: Option<PhcSample>,
    /// The read method(s) in use, for reporting.
    pub method: String,
    /// Set when a method in use failed and another was probed.
    pub lost: Option<Lost>,
}

/// No measurement now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MeasureFailure {
    /// The PHC that could not be read.
    pub device: Device,
    /// The last error.
    pub error: PhcError,
    /// Set when a method in use stopped working.
    pub lost: Option<Lost>,
}

fn lost_of(device: Device, lost: Option<(ReadMethod, PhcError)>) -> Option<Lost> {
    lost.map(|(method, error)| Lost {
        device,
        method,
        error,
    })
}

impl Measurement {
    /// A measurement from one reading of the source against the sink itself
    /// (the sink is the system clock the PHC ioctls timestamp with).
    pub fn direct(ok: &ReadOk) -> Self {
        Self {
            sample: ok.reading.best_sample(),
            method: ok.method.to_string(),
            lost: lost_of(Device::Source, ok.lost),
        }
    }
}

impl MeasureFailure {
    fn of(device: Device, f: ReadFailure) -> Self {
        Self {
            device,
            error: f.error,
            lost: lost_of(device, f.lost),
        }
    }
}

/// Sink − source from two readings against the system clock, as phc2sys
/// measures a PHC → PHC pair: each PHC read with its best method (`src` =
/// sys − source, `sink` = sys − sink, as [`PhcSample`] gives them) and
/// subtracted, (sink − sys) − (source − sys). The sample's time is the
/// sink's own (the system time of the sink's reading, moved by its offset),
/// and its width is the sum of both (so the uncertainty, half the width, is
/// the sum of both half-delays).
pub fn pair_sample(src: PhcSample, sink: PhcSample) -> PhcSample {
    PhcSample {
        offset: src.offset.saturating_sub(sink.offset),
        local_ts: sink.local_ts.wrapping_sub(sink.offset),
        delay: src.delay.saturating_add(sink.delay),
    }
}

/// The source's sample moved to the system time `at` by interpolating
/// between a reading of it before (`a`) and one after (`b`): sys − source
/// drifts at the system clock's frequency error against the source (the
/// system clock is unsteered, or someone else steers it), and a guest can
/// pause milliseconds between two reads (50 ppm × 3 ms = 150 ns). `a` when
/// `at` is not between the two. The width is the larger of the two.
pub fn source_at(a: PhcSample, b: PhcSample, at: Timestamp) -> PhcSample {
    let span = i128::from(b.local_ts.duration_since(a.local_ts).as_nanos());
    let into = i128::from(at.duration_since(a.local_ts).as_nanos());
    if span <= 0 || into < 0 || into > span {
        return a;
    }
    let rise = i128::from(b.offset.saturating_sub(a.offset).as_nanos());
    #[allow(
        clippy::arithmetic_side_effects,
        reason = "|rise| < 2^64 and 0 <= into <= span < 2^63: the product fits in i128, span > 0"
    )]
    let moved = rise * into / span;
    PhcSample {
        offset: a
            .offset
            .saturating_add(Duration::from_nanos(i64::try_from(moved).unwrap_or(0))),
        local_ts: at,
        delay: a.delay.max(b.delay),
    }
}

/// Everything the daemon loop needs from the clocks.
pub trait ClockBackend {
    /// One line describing the source and sink.
    fn describe(&self) -> String;
    /// The steered clock: `CLOCK_REALTIME`, or the sink PHC as
    /// `/dev/ptpN (clock name)`.
    fn sink_name(&self) -> String;
    /// Is the sink `CLOCK_REALTIME`? Only it has the kernel's
    /// `maxerror`/`esterror`/`status`/leap bits.
    fn sink_is_realtime(&self) -> bool;
    /// What a frequency learnt now is learnt on (the state file's record):
    /// the machine, the clocksource behind `CLOCK_REALTIME` (not used for a
    /// PHC sink) and the source PHC's clock name; fixed stand-ins in the
    /// simulation.
    fn origin(&self) -> Origin;
    /// Now on the loop's monotonic time line, ns.
    fn loop_now_ns(&mut self) -> u64;
    /// How long `poll(2)` may sleep to reach `deadline_ns` (0 = don't sleep).
    fn poll_timeout_ms(&mut self, deadline_ns: u64) -> i32;
    /// After `poll(2)` returned: bring the backend's time forward (the
    /// simulation advances its world; real clocks advance by themselves).
    fn catch_up(&mut self, deadline_ns: u64);
    /// Measures the sink against the source (probing and re-probing the
    /// read methods as needed).
    ///
    /// # Errors
    /// Why no measurement could be taken now.
    fn read(&mut self) -> Result<Measurement, MeasureFailure>;
    /// The source's prober (method, counters).
    fn reader(&self) -> &Reader;
    /// The steered clock now (the servo's time line; a PHC sink's own
    /// time scale).
    fn sink_now(&mut self) -> Timestamp;
    /// `CLOCK_REALTIME` now: wall-clock time for reports, the state file and
    /// leap seconds.
    fn realtime(&mut self) -> Timestamp;
    /// `CLOCK_MONOTONIC_RAW` now, ns: the unsteered oscillator.
    fn raw_ns(&mut self) -> u64;
    /// `CLOCK_MONOTONIC_RAW` and the sink's time read as a pair: the raw
    /// time at the middle of the pair, the sink's time (ns), and the raw
    /// width of the pair (how long the two reads took).
    fn raw_and_sink(&mut self) -> (u64, u64, u64) {
        let r1 = self.raw_ns();
        let sink = self.sink_now().as_nanos();
        let r2 = self.raw_ns().max(r1);
        let width = r2 - r1;
        (r1.saturating_add(width / 2), sink, width)
    }
    /// `CLOCK_BOOTTIME − CLOCK_MONOTONIC`, ns: grows by the time spent
    /// suspended (or frozen).
    fn suspended_ns(&mut self) -> i64;
    /// The sink's frequency correction as the kernel reports it (read-only),
    /// ppb; `None` when it cannot be read.
    fn frequency(&mut self) -> Option<Ppb>;
    /// The largest correction the sink accepts, ppb (±10 % + 500 ppm for
    /// `CLOCK_REALTIME`, the driver's `max_adj` for a PHC).
    fn max_frequency(&self) -> Ppb;
    /// Does this backend change the clock? (`false` in a dry run.)
    fn adjusts(&self) -> bool;
    /// Writes the frequency correction (positive = faster): `ADJ_FREQUENCY |
    /// ADJ_TICK` for `CLOCK_REALTIME`, `ADJ_FREQUENCY` clamped to `max_adj`
    /// for a PHC. Returns the correction in force (after the sink's
    /// quantisation and clamping).
    ///
    /// # Errors
    /// The kernel refused.
    fn set_frequency(&mut self, ppb: Ppb) -> io::Result<Ppb>;
    /// Steps the sink (`ADJ_SETOFFSET | ADJ_NANO`).
    ///
    /// # Errors
    /// The kernel refused.
    fn step(&mut self, delta: Duration) -> io::Result<()>;
    /// Writes `maxerror`, `esterror`, `status` (`CLOCK_REALTIME` only).
    ///
    /// # Errors
    /// The kernel refused, or the sink has no such state (a PHC).
    fn set_status(&mut self, s: KernelStatus) -> io::Result<()>;
    /// Writes the frequency (if any) and the kernel status (if any), in one
    /// `clock_adjtime` where the sink allows (`CLOCK_REALTIME`). Returns the
    /// frequency write's result (the correction in force) and the status
    /// write's.
    fn adjust(
        &mut self,
        freq: Option<Ppb>,
        status: Option<KernelStatus>,
    ) -> (Option<io::Result<Ppb>>, Option<io::Result<()>>) {
        let f = freq.map(|f| self.set_frequency(f));
        let s = status.map(|s| self.set_status(s));
        (f, s)
    }
    /// A disruption signalled by the platform (vmclock's marker), once.
    fn take_disruption(&mut self) -> Option<&'static str>;
    /// The ground truth (simulation only).
    fn truth(&self) -> Option<Truth>;
    /// Simulation only: the guest is frozen (migration pause, suspend), so no
    /// code of it runs now. Always `false` on real clocks.
    fn frozen(&self) -> bool {
        false
    }
    /// Simulation only: how the run's speed compared with the one asked,
    /// when it fell short (a factor beyond what the machine can run).
    fn speed_note(&self) -> Option<String> {
        None
    }
}

/// `CLOCK_REALTIME`'s range: 10 % through the tick plus 500 ppm.
fn realtime_max() -> Ppb {
    Ppb::from_ppb(KernelFreq::max_ppb(KernelFreq::USER_HZ))
}

fn no_status() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        "a PHC has no maxerror/esterror/status (only CLOCK_REALTIME has them)",
    )
}

// ---------------------------------------------------------------------------
// Simulation

/// How fast simulated time runs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Speed {
    /// As fast as the CPU allows: `poll(2)` never sleeps.
    Max,
    /// This many simulated seconds per real second (1 = real time).
    Factor(f64),
}

/// Longest a simulated catch-up runs before the daemon's loop gets control
/// back (signals must be handled within 100 ms).
pub const CATCH_UP_BUDGET: std::time::Duration = std::time::Duration::from_millis(20);

/// World segments (wander steps, events) advanced between two looks at the
/// real-time budget.
const CATCH_UP_SEGMENTS: u32 = 256;

/// The simulation's stand-in for `/etc/machine-id` (the state file's
/// record is then the same on every machine, and tests are deterministic).
pub const SIM_MACHINE: &str = "simulated machine";

/// The simulation's stand-in for the kernel clocksource.
pub const SIM_CLOCKSOURCE: &str = "simulated";

/// The simulated PHC's range as a sink: the simulated kernel's `freq` range
/// (±500 ppm), so the world applies exactly what a PHC sink writes.
pub const SIM_PHC_MAX_ADJ_PPB: i64 = 500_000;

/// The simulated PHC and system clock. With a PHC sink
/// ([`SimClock::with_phc_sink`]) the simulated system clock plays the sink
/// PHC: it is written as a PHC is (scaled ppm only, clamped to
/// [`SIM_PHC_MAX_ADJ_PPB`], no tick, no status), and read against the
/// reference directly (one reading, not the real pair of two).
pub struct SimClock {
    world: World,
    reader: Reader,
    speed: Speed,
    started: Instant,
    name: String,
    /// The sink PHC's name, when the simulated clock plays a PHC.
    phc_sink: Option<String>,
    /// True time of the first wake-up that found the guest frozen.
    frozen_since: Option<u64>,
    suspended: i64,
}

struct SimDev<'a>(&'a mut World);

impl PhcDevice for SimDev<'_> {
    fn read(
        &mut self,
        method: keel_core::measure::phc::ReadMethod,
        n: usize,
    ) -> Result<keel_core::measure::phc::PhcReading, PhcError> {
        self.0.read_phc(method, n).map_err(|e| match e {
            SimReadError::NoDevice => PhcError::NoDevice,
            SimReadError::NotSupported => PhcError::NotSupported,
            SimReadError::Busy => PhcError::Busy,
            SimReadError::InvalidSamples => PhcError::Invalid,
            SimReadError::Frozen => PhcError::Frozen,
        })
    }
}

/// A speed factor: `1×`, `0.25×`, `1234×`, `5.6e7×`.
pub fn fmt_factor(x: f64) -> String {
    if (1e-3..1e5).contains(&x) {
        format!("{}×", (x * 1000.0).round() / 1000.0)
    } else {
        format!("{x:.1e}×")
    }
}

impl SimClock {
    /// A simulated world for `cfg` and `seed`.
    pub fn new(cfg: &SimConfig, seed: u64, name: &str, speed: Speed, reader: Reader) -> Self {
        Self {
            world: World::new(cfg, seed),
            reader,
            speed,
            started: Instant::now(),
            name: name.to_string(),
            phc_sink: None,
            frozen_since: None,
            suspended: 0,
        }
    }

    /// The simulated system clock plays the PHC sink `name`.
    #[must_use]
    pub fn with_phc_sink(mut self, name: &str) -> Self {
        self.phc_sink = Some(name.to_string());
        self
    }

    fn target_ns(&self) -> u64 {
        match self.speed {
            Speed::Max => u64::MAX,
            Speed::Factor(f) => {
                let real = self.started.elapsed().as_secs_f64();
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "non-negative, saturating float-to-int"
                )]
                let t = (real * f * 1e9) as u64;
                t
            }
        }
    }
}

impl ClockBackend for SimClock {
    fn describe(&self) -> String {
        format!(
            "simulated PHC ({}) → simulated {}",
            self.name,
            self.sink_name()
        )
    }

    fn sink_name(&self) -> String {
        self.phc_sink
            .as_ref()
            .map_or_else(|| SINK_REALTIME.to_string(), |n| format!("PHC sink ({n})"))
    }

    fn sink_is_realtime(&self) -> bool {
        self.phc_sink.is_none()
    }

    fn origin(&self) -> Origin {
        Origin {
            machine: SIM_MACHINE.to_string(),
            clocksource: if self.sink_is_realtime() {
                SIM_CLOCKSOURCE.to_string()
            } else {
                Origin::NOT_USED.to_string()
            },
            source: format!("simulated PHC ({})", self.name),
        }
    }

    fn loop_now_ns(&mut self) -> u64 {
        self.world.now_ns()
    }

    fn poll_timeout_ms(&mut self, deadline_ns: u64) -> i32 {
        match self.speed {
            Speed::Max => 0,
            Speed::Factor(f) => {
                let left = deadline_ns.saturating_sub(self.target_ns());
                #[allow(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    clippy::cast_precision_loss,
                    reason = "bounded to 0..=1000 ms"
                )]
                let ms = ((left as f64 / f / 1e6).ceil()).clamp(0.0, 1000.0) as i32;
                ms
            }
        }
    }

    fn catch_up(&mut self, deadline_ns: u64) {
        // Never past the loop's deadline (the next update or the end): a
        // factor larger than the machine can run skips no update, the
        // simulation only falls behind real time ([`ClockBackend::speed_note`]).
        let t = match self.speed {
            Speed::Max => deadline_ns,
            Speed::Factor(_) => self.target_ns().min(deadline_ns),
        };
        // In pieces, within a real-time budget: the loop gets back to
        // poll(2) (signals, status) in time whatever the span. Where it
        // stops changes nothing in the simulated world.
        let budget = Instant::now() + CATCH_UP_BUDGET;
        while !self.world.advance_toward(t, CATCH_UP_SEGMENTS) && Instant::now() < budget {}
        // A frozen guest's CLOCK_MONOTONIC stands still while CLOCK_BOOTTIME
        // (true time here) runs on: account the frozen span, as seen at the
        // loop's wake-ups, when the guest runs again.
        let now = self.world.now_ns();
        if self.world.is_frozen() {
            self.frozen_since.get_or_insert(now);
        } else if let Some(t0) = self.frozen_since.take() {
            let gap = now.saturating_sub(t0);
            self.suspended = self
                .suspended
                .saturating_add(i64::try_from(gap).unwrap_or(i64::MAX));
        }
    }

    fn read(&mut self) -> Result<Measurement, MeasureFailure> {
        self.reader
            .read(&mut SimDev(&mut self.world))
            .map(|ok| Measurement::direct(&ok))
            .map_err(|f| MeasureFailure::of(Device::Source, f))
    }

    fn reader(&self) -> &Reader {
        &self.reader
    }

    fn sink_now(&mut self) -> Timestamp {
        self.world.local_time()
    }

    fn realtime(&mut self) -> Timestamp {
        self.world.local_time()
    }

    fn raw_ns(&mut self) -> u64 {
        // The simulated oscillator's raw clock is modelled as true time; the
        // oscillator's natural error (≤ a few hundred ppm) is inside the
        // interference tolerance.
        self.world.now_ns()
    }

    fn suspended_ns(&mut self) -> i64 {
        self.suspended
    }

    fn frequency(&mut self) -> Option<Ppb> {
        Some(self.world.applied_frequency().to_ppb(KernelFreq::USER_HZ))
    }

    fn max_frequency(&self) -> Ppb {
        if self.phc_sink.is_some() {
            Ppb::from_ppb(SIM_PHC_MAX_ADJ_PPB)
        } else {
            realtime_max()
        }
    }

    fn adjusts(&self) -> bool {
        true
    }

    fn set_frequency(&mut self, ppb: Ppb) -> io::Result<Ppb> {
        if self.phc_sink.is_some() {
            // What a PHC sink writes, applied as the simulated kernel's freq
            // at the nominal tick (exact within ±500 ppm).
            let (t, applied) = timex::phc_frequency(ppb, SIM_PHC_MAX_ADJ_PPB);
            debug_assert_eq!(t.modes, libc::ADJ_FREQUENCY);
            self.world.adjtime_frequency(KernelFreq {
                tick_us: KernelFreq::nominal_tick_us(KernelFreq::USER_HZ),
                #[allow(clippy::useless_conversion, reason = "c_long")]
                freq: ScaledPpm(i64::from(t.freq)),
            });
            Ok(applied)
        } else {
            let k = KernelFreq::from_ppb(ppb, KernelFreq::USER_HZ);
            self.world.adjtime_frequency(k);
            Ok(k.to_ppb(KernelFreq::USER_HZ))
        }
    }

    fn step(&mut self, delta: Duration) -> io::Result<()> {
        self.world.step(delta);
        Ok(())
    }

    fn set_status(&mut self, _s: KernelStatus) -> io::Result<()> {
        if self.phc_sink.is_some() {
            return Err(no_status());
        }
        Ok(())
    }

    fn take_disruption(&mut self) -> Option<&'static str> {
        self.world.take_disruption().map(|k| match k {
            DisruptionKind::Migration => "live migration signalled by the platform",
            DisruptionKind::Resume => "resume signalled by the platform",
        })
    }

    fn frozen(&self) -> bool {
        self.world.is_frozen()
    }

    fn speed_note(&self) -> Option<String> {
        let Speed::Factor(asked) = self.speed else {
            return None;
        };
        let real = self.started.elapsed().as_secs_f64();
        #[allow(clippy::cast_precision_loss, reason = "display")]
        let ran = self.world.now_ns() as f64 / 1e9 / real.max(1e-9);
        // Behind where real time would have it by more than 10 %.
        #[allow(clippy::cast_precision_loss, reason = "comparison")]
        let behind = (self.world.now_ns() as f64) < self.target_ns() as f64 * 0.9;
        behind.then(|| {
            format!(
                "speed: asked {}, ran {} (as fast as this machine allows; every update was made, none skipped)",
                fmt_factor(asked),
                fmt_factor(ran)
            )
        })
    }

    fn truth(&self) -> Option<Truth> {
        Some(Truth {
            offset_ns: self.world.true_offset_ns(),
            freq_error_ppb: self.world.true_freq_error_ppb(),
        })
    }
}

// ---------------------------------------------------------------------------
// Real Linux

/// Reads a clock with `clock_gettime(2)`.
pub fn gettime(clock: libc::clockid_t) -> libc::timespec {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; `clock_gettime` only writes it.
    let rc = unsafe { libc::clock_gettime(clock, &raw mut ts) };
    debug_assert_eq!(rc, 0, "clock_gettime of a standard clock cannot fail");
    ts
}

fn ns_of(ts: libc::timespec) -> u64 {
    u64::try_from(ts.tv_sec)
        .unwrap_or(0)
        .saturating_mul(1_000_000_000)
        .saturating_add(u64::try_from(ts.tv_nsec).unwrap_or(0))
}

/// Proof that the caller is the real daemon (`keel sync` on a real clock,
/// not `--dry-run`, not `--clock sim`). Only `main` creates it.
pub struct RealDaemon(());

impl RealDaemon {
    /// For `keel sync` without `--clock sim` and without `--dry-run` only.
    pub fn i_am_keel_sync_on_the_system_clock() -> Self {
        Self(())
    }
}

/// Environment variable that forbids any clock write (tests set it).
pub const FORBID_WRITES_ENV: &str = "KEEL_FORBID_CLOCK_WRITES";

/// The only thing in keel that writes a clock: `CLOCK_REALTIME`, or a sink
/// PHC through [`LinuxPhc::adjtime`], which takes it as proof.
pub struct RealActuator(());

impl RealActuator {
    /// The actuator, for the real daemon only.
    ///
    /// # Errors
    /// Refused when [`FORBID_WRITES_ENV`] is set, and always in unit tests.
    pub fn new(_proof: RealDaemon) -> Result<Self, String> {
        if cfg!(test) || std::env::var_os(FORBID_WRITES_ENV).is_some() {
            return Err(format!(
                "clock writes are forbidden here ({FORBID_WRITES_ENV} is set); use --dry-run or --clock sim"
            ));
        }
        Ok(Self(()))
    }

    fn apply(&self, mut t: libc::timex) -> io::Result<()> {
        // SAFETY: `t` is a fully initialised timex built by `crate::timex`;
        // the kernel reads it and writes back into it.
        let rc = unsafe { libc::clock_adjtime(libc::CLOCK_REALTIME, &raw mut t) };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    fn apply_phc(&self, phc: &mut LinuxPhc, mut t: libc::timex) -> io::Result<()> {
        phc.adjtime(self, &mut t)
    }
}

/// A PHC steered as the sink (what `phc2sys -c /dev/ptpN` does): opened
/// read-write, read against the system clock like the source, and adjusted
/// through its dynamic POSIX clock id.
pub struct PhcSink {
    phc: LinuxPhc,
    reader: Reader,
    label: String,
    max_adj_ppb: i64,
    /// The last good reading of its time, and `CLOCK_MONOTONIC` then.
    last: Option<(u64, u64)>,
}

impl PhcSink {
    /// Opens the sink PHC at `dev` (read-write when `writable`, i.e. unless a
    /// dry run) and reads its `max_adj`.
    ///
    /// # Errors
    /// It cannot be opened, or (when `writable`) it cannot be steered; the
    /// message says how to fix it.
    pub fn open(dev: &Path, label: &str, reader: Reader, writable: bool) -> Result<Self, String> {
        let mut phc = LinuxPhc::open_with(dev, writable).map_err(|(kind, e)| {
            format!(
                "sink {}: cannot open the PHC{}: {e}{}",
                dev.display(),
                if writable { " read-write" } else { "" },
                match kind {
                    PhcError::Permission =>
                        " (steering a PHC needs write access to it: run as root, or add a udev rule giving keel's user rw access)",
                    PhcError::NoDevice => " (`keel phc` lists the PHCs that exist)",
                    _ => "",
                }
            )
        })?;
        let max_adj_ppb = match phc.caps() {
            Ok(c) => i64::from(c.max_adj),
            Err(e) if writable => {
                return Err(format!(
                    "sink {}: cannot read the PHC's capabilities (PTP_CLOCK_GETCAPS): {e}",
                    dev.display()
                ));
            }
            Err(_) => 0,
        };
        if writable && max_adj_ppb <= 0 {
            return Err(format!(
                "sink {} ({label}): its driver cannot adjust its frequency (max_adj {max_adj_ppb} ppb); choose a PHC that can be steered, e.g. a NIC's",
                dev.display()
            ));
        }
        Ok(Self {
            phc,
            reader,
            label: label.to_string(),
            max_adj_ppb,
            last: None,
        })
    }

    /// The PHC's time now. While it cannot be read (the device vanished),
    /// the last reading carried on by `CLOCK_MONOTONIC`, so the servo's time
    /// line and the elapsed-time check stay continuous (the system clock,
    /// possibly on another time scale, would look like a jump).
    fn now(&mut self) -> Option<Timestamp> {
        let mono = ns_of(gettime(libc::CLOCK_MONOTONIC));
        match self.phc.now_ns() {
            Ok(t) => {
                self.last = Some((t, mono));
                Some(Timestamp::from_nanos(t))
            }
            Err(_) => self
                .last
                .map(|(t, m)| Timestamp::from_nanos(t.saturating_add(mono.saturating_sub(m)))),
        }
    }

    /// The driver's `max_adj`, ppb.
    pub fn max_adj_ppb(&self) -> i64 {
        self.max_adj_ppb
    }
}

/// A real PHC steering `CLOCK_REALTIME` or a sink PHC (or only measuring,
/// in a dry run).
pub struct LinuxClock {
    phc: LinuxPhc,
    reader: Reader,
    actuator: Option<RealActuator>,
    label: String,
    vmclock: Option<VmclockWatch>,
    sink: Option<PhcSink>,
    /// `CLOCK_REALTIME`'s status bits as last read (their leap bits are kept
    /// when keel has no leap information), saving a query per write.
    status_bits: Option<i32>,
}

impl LinuxClock {
    /// The PHC at `dev`; `actuator` is `None` for a dry run.
    pub fn new(dev: &Path, label: &str, reader: Reader, actuator: Option<RealActuator>) -> Self {
        Self {
            phc: LinuxPhc::new(dev),
            reader,
            actuator,
            label: label.to_string(),
            vmclock: None,
            sink: None,
            status_bits: None,
        }
    }

    /// The kernel's status bits: as last read, else queried now.
    fn current_status(&mut self) -> i32 {
        if let Some(b) = self.status_bits {
            return b;
        }
        let b = Self::query().map(|t| t.status).unwrap_or(0);
        self.status_bits = Some(b);
        b
    }

    /// Also watches a vmclock device's disruption marker.
    #[must_use]
    pub fn with_vmclock(mut self, watch: VmclockWatch) -> Self {
        self.vmclock = Some(watch);
        self
    }

    /// Steers `sink` instead of `CLOCK_REALTIME`.
    #[must_use]
    pub fn with_phc_sink(mut self, sink: PhcSink) -> Self {
        self.sink = Some(sink);
        self
    }

    /// `adjtimex` read-only query (modes 0).
    pub fn query() -> io::Result<libc::timex> {
        let mut t = timex::query();
        debug_assert!(!timex::writes(&t));
        // SAFETY: `t` is a zeroed timex with modes 0: the kernel only fills it in.
        let rc = unsafe { libc::clock_adjtime(libc::CLOCK_REALTIME, &raw mut t) };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(t)
        }
    }
}

impl ClockBackend for LinuxClock {
    fn describe(&self) -> String {
        format!(
            "{} ({}) → {}{}",
            self.phc.path().display(),
            self.label,
            self.sink_name(),
            if self.actuator.is_some() {
                ""
            } else {
                " [dry run: measuring only]"
            }
        )
    }

    fn sink_name(&self) -> String {
        self.sink.as_ref().map_or_else(
            || SINK_REALTIME.to_string(),
            |s| format!("{} ({})", s.phc.path().display(), s.label),
        )
    }

    fn sink_is_realtime(&self) -> bool {
        self.sink.is_none()
    }

    fn origin(&self) -> Origin {
        let source = if self.label == crate::phc::UNKNOWN_PHC {
            ""
        } else {
            &self.label
        };
        Origin::of_this_machine(source, self.sink_is_realtime())
    }

    fn loop_now_ns(&mut self) -> u64 {
        ns_of(gettime(libc::CLOCK_MONOTONIC))
    }

    fn poll_timeout_ms(&mut self, deadline_ns: u64) -> i32 {
        let left = deadline_ns.saturating_sub(self.loop_now_ns());
        i32::try_from(left.div_ceil(1_000_000)).unwrap_or(i32::MAX)
    }

    fn catch_up(&mut self, _deadline_ns: u64) {}

    fn read(&mut self) -> Result<Measurement, MeasureFailure> {
        let src = self
            .reader
            .read(&mut self.phc)
            .map_err(|f| MeasureFailure::of(Device::Source, f))?;
        let Some(sink) = &mut self.sink else {
            return Ok(Measurement::direct(&src));
        };
        // A PHC pair: both read against the system clock, each with its
        // own best method, and subtracted (as phc2sys does), the source
        // read before and after the sink and taken to its instant.
        let src_lost = lost_of(Device::Source, src.lost);
        let snk = sink.reader.read(&mut sink.phc).map_err(|f| {
            let mut m = MeasureFailure::of(Device::Sink, f);
            m.lost = src_lost.or(m.lost);
            m
        })?;
        // The source once more, to take it to the sink's instant (a failed
        // re-read leaves the first reading as it is).
        let again = self
            .reader
            .read(&mut self.phc)
            .ok()
            .and_then(|r| r.reading.best_sample());
        let sample = match (src.reading.best_sample(), snk.reading.best_sample()) {
            (Some(a), Some(b)) => {
                let a = again.map_or(a, |a2| source_at(a, a2, b.local_ts));
                Some(pair_sample(a, b))
            }
            _ => None,
        };
        Ok(Measurement {
            sample,
            method: format!("{} / sink {}", src.method, snk.method),
            lost: src_lost.or_else(|| lost_of(Device::Sink, snk.lost)),
        })
    }

    fn reader(&self) -> &Reader {
        &self.reader
    }

    fn sink_now(&mut self) -> Timestamp {
        match &mut self.sink {
            None => self.realtime(),
            // Never read at all (gone since the start): the system clock
            // paces the holdover until it is back.
            Some(s) => match s.now() {
                Some(t) => t,
                None => self.realtime(),
            },
        }
    }

    fn realtime(&mut self) -> Timestamp {
        Timestamp::from_nanos(ns_of(gettime(libc::CLOCK_REALTIME)))
    }

    fn raw_ns(&mut self) -> u64 {
        ns_of(gettime(libc::CLOCK_MONOTONIC_RAW))
    }

    fn suspended_ns(&mut self) -> i64 {
        // A suspend stops the whole machine, whichever clock is the sink (a
        // NIC's PHC may even lose power): a disruption for both.
        let b = ns_of(gettime(libc::CLOCK_BOOTTIME));
        let m = ns_of(gettime(libc::CLOCK_MONOTONIC));
        i64::try_from(b.saturating_sub(m)).unwrap_or(i64::MAX)
    }

    fn frequency(&mut self) -> Option<Ppb> {
        match &mut self.sink {
            None => Self::query().ok().map(|t| {
                self.status_bits = Some(t.status);
                timex::kernel_freq(&t).to_ppb(KernelFreq::USER_HZ)
            }),
            // The kernel reports a PHC's frequency as the last ADJ_FREQUENCY
            // written to it by any process (`dialed_frequency` in
            // ptp_clock_adjtime), so another writer (ptp4l, phc2sys) shows
            // here. It is the kernel's record, not the hardware's: a driver
            // that resets its clock internally (some NICs on a link reset)
            // is not seen by this guard, only by the elapsed-time one. A dry
            // run opens the sink read-only, and the kernel refuses even this
            // query then (EACCES): no reading.
            Some(s) => s.phc.query_frequency().ok(),
        }
    }

    fn max_frequency(&self) -> Ppb {
        self.sink
            .as_ref()
            .map_or_else(realtime_max, |s| Ppb::from_ppb(s.max_adj_ppb))
    }

    fn adjusts(&self) -> bool {
        self.actuator.is_some()
    }

    fn set_frequency(&mut self, ppb: Ppb) -> io::Result<Ppb> {
        match (&self.actuator, &mut self.sink) {
            (None, _) => Ok(ppb),
            (Some(a), None) => {
                let k = KernelFreq::from_ppb(ppb, KernelFreq::USER_HZ);
                a.apply(timex::frequency(k))?;
                Ok(k.to_ppb(KernelFreq::USER_HZ))
            }
            (Some(a), Some(s)) => {
                let (t, applied) = timex::phc_frequency(ppb, s.max_adj_ppb);
                a.apply_phc(&mut s.phc, t)?;
                Ok(applied)
            }
        }
    }

    fn step(&mut self, delta: Duration) -> io::Result<()> {
        match (&self.actuator, &mut self.sink) {
            (None, _) => Ok(()),
            (Some(a), None) => a.apply(timex::step(delta)),
            (Some(a), Some(s)) => a.apply_phc(&mut s.phc, timex::step(delta)),
        }
    }

    fn set_status(&mut self, s: KernelStatus) -> io::Result<()> {
        if self.sink.is_some() {
            return Err(no_status());
        }
        if self.actuator.is_none() {
            return Ok(());
        }
        let current = self.current_status();
        let t = timex::status(s, current);
        self.status_bits = Some(t.status);
        self.actuator.as_ref().map_or(Ok(()), |a| a.apply(t))
    }

    fn adjust(
        &mut self,
        freq: Option<Ppb>,
        status: Option<KernelStatus>,
    ) -> (Option<io::Result<Ppb>>, Option<io::Result<()>>) {
        let (Some(f), Some(s), None, true) =
            (freq, status, self.sink.as_ref(), self.actuator.is_some())
        else {
            let f = freq.map(|f| self.set_frequency(f));
            let s = status.map(|s| self.set_status(s));
            return (f, s);
        };
        // CLOCK_REALTIME: both in one clock_adjtime.
        let k = KernelFreq::from_ppb(f, KernelFreq::USER_HZ);
        let t = timex::frequency_and_status(k, s, self.current_status());
        self.status_bits = Some(t.status);
        let r = self.actuator.as_ref().map_or(Ok(()), |a| a.apply(t));
        match r {
            Ok(()) => (Some(Ok(k.to_ppb(KernelFreq::USER_HZ))), Some(Ok(()))),
            Err(e) => {
                let kind = e.kind();
                (Some(Err(e)), Some(Err(io::Error::from(kind))))
            }
        }
    }

    fn take_disruption(&mut self) -> Option<&'static str> {
        self.vmclock
            .as_mut()
            .is_some_and(VmclockWatch::poll)
            .then_some("live migration or restore signalled by the vmclock disruption marker")
    }

    fn truth(&self) -> Option<Truth> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_real_actuator_refuses_in_tests() {
        assert!(RealActuator::new(RealDaemon::i_am_keel_sync_on_the_system_clock()).is_err());
    }

    #[test]
    fn sim_max_speed_never_sleeps_and_advances_to_the_deadline() {
        let mut c = standard_sim();
        assert_eq!(c.poll_timeout_ms(5_000_000_000), 0);
        c.catch_up(5_000_000_000);
        assert_eq!(c.loop_now_ns(), 5_000_000_000);
        assert!(c.truth().is_some());
        assert!(c.read().is_ok());
    }

    #[test]
    fn a_huge_factor_never_passes_the_deadline_nor_holds_the_loop() {
        let mut c = SimClock::new(
            &SimConfig::default(),
            1,
            "standard",
            Speed::Factor(1e308),
            Reader::new(crate::phc::MethodChoice::Auto, 5),
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert_eq!(c.poll_timeout_ms(1_000_000_000), 0);
        // Was: straight to the real-time target (u64::MAX ns), skipping
        // every update in between, for minutes.
        c.catch_up(1_000_000_000);
        assert_eq!(c.loop_now_ns(), 1_000_000_000);
        c.catch_up(2_000_000_000);
        assert_eq!(c.loop_now_ns(), 2_000_000_000);
        // A deadline at the end of time: back within the budget, short of it.
        let t = Instant::now();
        c.catch_up(u64::MAX);
        assert!(c.loop_now_ns() < u64::MAX);
        assert!(
            t.elapsed() < CATCH_UP_BUDGET * 20,
            "catch-up held the loop for {:?}",
            t.elapsed()
        );
        let note = c.speed_note().expect("the speed fell short");
        assert!(
            note.starts_with("speed: asked 1.0e308×, ran ")
                && note.ends_with(
                    "(as fast as this machine allows; every update was made, none skipped)"
                ),
            "{note}"
        );
        // A factor the machine keeps up with says nothing.
        let mut slow = SimClock::new(
            &SimConfig::default(),
            1,
            "standard",
            Speed::Factor(1.0),
            Reader::new(crate::phc::MethodChoice::Auto, 5),
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
        slow.catch_up(u64::MAX);
        assert!(slow.loop_now_ns() >= 200_000_000);
        assert_eq!(slow.speed_note(), None);
    }

    #[test]
    fn monotonic_clocks_read() {
        let mut c = LinuxClock::new(
            Path::new("/nonexistent/ptp"),
            "test",
            Reader::new(crate::phc::MethodChoice::Auto, 5),
            None,
        );
        assert!(!c.adjusts());
        let a = c.loop_now_ns();
        assert!(c.loop_now_ns() >= a);
        assert!(c.suspended_ns() >= 0);
        // The raw/sink pair: the sink (CLOCK_REALTIME here) read between two
        // raw reads, the raw time at their middle.
        let r0 = c.raw_ns();
        let (raw, sink, width) = c.raw_and_sink();
        let now = c.realtime().as_nanos();
        assert!(raw >= r0 && raw <= c.raw_ns(), "{r0} {raw}");
        assert!(width < 1_000_000_000, "{width}");
        assert!(sink <= now && now - sink < 1_000_000_000, "{sink} {now}");
        // dry run: the writes are no-ops and succeed
        assert!(c.step(Duration::from_secs(1)).is_ok());
        assert_eq!(
            c.set_frequency(Ppb::from_ppb(1234)).unwrap(),
            Ppb::from_ppb(1234)
        );
        let f = c.read().unwrap_err();
        assert_eq!(f.error, PhcError::NoDevice);
        assert_eq!(f.device, Device::Source);
        assert!(c.sink_is_realtime());
        assert_eq!(c.sink_name(), "CLOCK_REALTIME");
        assert_eq!(c.max_frequency(), Ppb::from_ppb(100_500_000));
        assert!(c.describe().contains("→ CLOCK_REALTIME [dry run"));
    }

    #[test]
    fn a_sink_phc_that_does_not_exist_is_refused_clearly() {
        let e = PhcSink::open(
            Path::new("/nonexistent/ptp7"),
            "x",
            Reader::new(crate::phc::MethodChoice::Auto, 5),
            true,
        )
        .err()
        .unwrap();
        assert!(
            e.starts_with("sink /nonexistent/ptp7: cannot open the PHC read-write: "),
            "{e}"
        );
        assert!(e.contains("`keel phc` lists"), "{e}");
    }

    /// The standard simulated clock, seed 1, as fast as possible.
    fn standard_sim() -> SimClock {
        SimClock::new(
            &SimConfig::default(),
            1,
            "standard",
            Speed::Max,
            Reader::new(crate::phc::MethodChoice::Auto, 5),
        )
    }

    fn sample(offset: i64, local: u64, delay: i64) -> PhcSample {
        PhcSample {
            offset: Duration::from_nanos(offset),
            local_ts: Timestamp::from_nanos(local),
            delay: Duration::from_nanos(delay),
        }
    }

    #[test]
    fn pair_sample_is_sink_minus_source_on_the_sink_time_line() {
        // sys − src = +300 ns (source behind sys), sys − sink = −200 ns (sink
        // ahead of sys): sink − src = 300 − (−200) = +500 ns, sink ahead.
        let src = sample(300, 1_000_000, 40);
        let sink = sample(-200, 1_000_100, 60);
        let p = pair_sample(src, sink);
        assert_eq!(p.offset, Duration::from_nanos(500));
        // The sink's own time at its reading: sys 1_000_100 + 200.
        assert_eq!(p.local_ts, Timestamp::from_nanos(1_000_300));
        // Width: both reads' widths, so half of it is the sum of half-delays.
        assert_eq!(p.delay, Duration::from_nanos(100));
        // PRECISE on both sides: no width.
        let p = pair_sample(sample(7, 995, 0), sample(7, 1_000, 0));
        assert_eq!((p.offset, p.delay), (Duration::ZERO, Duration::ZERO));
        assert_eq!(p.local_ts, Timestamp::from_nanos(993));
        // A TAI sink against a TAI source: the 37 s cancel (sys − phc is
        // −37 s on both sides).
        let tai = -37_000_000_000;
        let p = pair_sample(sample(tai + 10, 100, 0), sample(tai, 100, 0));
        assert_eq!(p.offset, Duration::from_nanos(10));
        // Saturates instead of overflowing.
        let p = pair_sample(sample(i64::MAX, 0, i64::MAX), sample(-5, 0, 5));
        assert_eq!((p.offset, p.delay), (Duration::MAX, Duration::MAX));
    }

    #[test]
    fn source_is_taken_to_the_sinks_instant() {
        // sys − source rises 100 ns over 2 ms (the system clock 50 ppm fast):
        // at the sink's read, 1 ms in, it was 1050 ns.
        let a = sample(1_000, 0, 40);
        let b = sample(1_100, 2_000_000, 60);
        let m = source_at(a, b, Timestamp::from_nanos(1_000_000));
        assert_eq!(m.offset, Duration::from_nanos(1_050));
        assert_eq!(m.local_ts, Timestamp::from_nanos(1_000_000));
        assert_eq!(m.delay, Duration::from_nanos(60));
        // Outside the two reads, or reads out of order: the first as it is.
        assert_eq!(source_at(a, b, Timestamp::from_nanos(3_000_000)), a);
        assert_eq!(source_at(b, a, Timestamp::from_nanos(1_000_000)), b);
        // Extremes saturate instead of overflowing.
        let lo = sample(i64::MIN, 0, 0);
        let hi = sample(i64::MAX, 9_000_000_000_000_000_000, 0);
        let m = source_at(lo, hi, Timestamp::from_nanos(4_500_000_000_000_000_000));
        assert!(m.offset.as_nanos() < 0, "{m:?}");
    }

    #[test]
    fn sim_phc_sink_writes_like_a_phc() {
        let mut c = standard_sim().with_phc_sink("/dev/ptp1");
        assert!(!c.sink_is_realtime());
        assert_eq!(c.sink_name(), "PHC sink (/dev/ptp1)");
        assert_eq!(
            c.describe(),
            "simulated PHC (standard) → simulated PHC sink (/dev/ptp1)"
        );
        assert_eq!(c.max_frequency(), Ppb::from_ppb(SIM_PHC_MAX_ADJ_PPB));
        // Within range: exact, no tick.
        assert_eq!(
            c.set_frequency(Ppb::from_ppb(-50_000)).unwrap(),
            Ppb::from_ppb(-50_000)
        );
        assert_eq!(c.frequency(), Some(Ppb::from_ppb(-50_000)));
        // Beyond max_adj: clamped (a CLOCK_REALTIME sink would use the tick).
        let applied = c.set_frequency(Ppb::from_ppb(2_000_000)).unwrap();
        assert!(applied <= Ppb::from_ppb(SIM_PHC_MAX_ADJ_PPB), "{applied}");
        assert!(
            applied > Ppb::from_ppb(SIM_PHC_MAX_ADJ_PPB - 1),
            "{applied}"
        );
        assert_eq!(c.frequency(), Some(applied));
        // No kernel status on a PHC.
        let e = c.set_status(KernelStatus::from_bound(None, 5)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::Unsupported);
        // The realtime sink takes the same value through the tick.
        let mut r = standard_sim();
        assert_eq!(
            r.set_frequency(Ppb::from_ppb(2_000_000)).unwrap(),
            Ppb::from_ppb(2_000_000)
        );
        assert!(r.set_status(KernelStatus::from_bound(None, 5)).is_ok());
    }
}

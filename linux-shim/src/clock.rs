//! The clocks the daemon loop works with, behind one trait: the real Linux
//! PHC + `CLOCK_REALTIME`, and the simulated world of `keel_core::sim`.
//!
//! The loop's own time line also comes from here, so the simulation can run
//! faster than real time: the loop asks how long it may sleep in `poll(2)`
//! ([`ClockBackend::poll_timeout_ms`]) and then lets the backend catch up
//! ([`ClockBackend::catch_up`]).

use std::io;
use std::path::Path;
use std::time::Instant;

use keel_core::sim::{DisruptionKind, SimConfig, SimReadError, World};
use keel_core::time::{Duration, KernelFreq, Timestamp};

use crate::phc::{LinuxPhc, PhcDevice, PhcError, ReadFailure, ReadOk, Reader};
use crate::timex::{self, SyncStatus};
use crate::vmclock::VmclockWatch;

/// The ground truth, simulation only.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Truth {
    /// Local − reference, ns (positive: local ahead).
    pub offset_ns: f64,
    /// The local clock's rate error, ppb (positive: fast).
    pub freq_error_ppb: f64,
}

/// Everything the daemon loop needs from the clocks.
pub trait ClockBackend {
    /// One line describing the source and sink.
    fn describe(&self) -> String;
    /// Now on the loop's monotonic time line, ns.
    fn loop_now_ns(&mut self) -> u64;
    /// How long `poll(2)` may sleep to reach `deadline_ns` (0 = don't sleep).
    fn poll_timeout_ms(&mut self, deadline_ns: u64) -> i32;
    /// After `poll(2)` returned: bring the backend's time forward (the
    /// simulation advances its world; real clocks advance by themselves).
    fn catch_up(&mut self, deadline_ns: u64);
    /// Reads the PHC (probing and re-probing as needed).
    ///
    /// # Errors
    /// Why no reading could be taken now.
    fn read(&mut self) -> Result<ReadOk, ReadFailure>;
    /// The prober (method, counters).
    fn reader(&self) -> &Reader;
    /// The steered clock now (`CLOCK_REALTIME`).
    fn realtime(&mut self) -> Timestamp;
    /// `CLOCK_MONOTONIC_RAW` now, ns: the unsteered oscillator.
    fn raw_ns(&mut self) -> u64;
    /// `CLOCK_BOOTTIME − CLOCK_MONOTONIC`, ns: grows by the time spent
    /// suspended (or frozen).
    fn suspended_ns(&mut self) -> i64;
    /// The kernel's frequency as `adjtimex` reports it (read-only).
    fn kernel_frequency(&mut self) -> Option<KernelFreq>;
    /// Does this backend change the clock? (`false` in a dry run.)
    fn adjusts(&self) -> bool;
    /// Writes the frequency (`ADJ_FREQUENCY | ADJ_TICK`).
    ///
    /// # Errors
    /// The kernel refused.
    fn set_frequency(&mut self, f: KernelFreq) -> io::Result<()>;
    /// Steps the clock (`ADJ_SETOFFSET | ADJ_NANO`).
    ///
    /// # Errors
    /// The kernel refused.
    fn step(&mut self, delta: Duration) -> io::Result<()>;
    /// Writes `maxerror`, `esterror`, `status`.
    ///
    /// # Errors
    /// The kernel refused.
    fn set_status(&mut self, s: SyncStatus) -> io::Result<()>;
    /// A disruption signalled by the platform (vmclock's marker), once.
    fn take_disruption(&mut self) -> Option<&'static str>;
    /// The ground truth (simulation only).
    fn truth(&self) -> Option<Truth>;
    /// Simulation only: the guest is frozen (migration pause, suspend), so no
    /// code of it runs now. Always `false` on real clocks.
    fn frozen(&self) -> bool {
        false
    }
    /// `USER_HZ` for the tick/frequency split.
    fn user_hz(&self) -> u32 {
        KernelFreq::USER_HZ
    }
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

/// The simulated PHC and system clock.
pub struct SimClock {
    world: World,
    reader: Reader,
    speed: Speed,
    started: Instant,
    name: String,
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

impl SimClock {
    /// A simulated world for `cfg` and `seed`.
    pub fn new(cfg: &SimConfig, seed: u64, name: &str, speed: Speed, reader: Reader) -> Self {
        Self {
            world: World::new(cfg, seed),
            reader,
            speed,
            started: Instant::now(),
            name: name.to_string(),
            frozen_since: None,
            suspended: 0,
        }
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
        format!("simulated PHC ({}) → simulated CLOCK_REALTIME", self.name)
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
        let t = match self.speed {
            Speed::Max => deadline_ns,
            Speed::Factor(_) => self.target_ns(),
        };
        self.world.advance_to(t);
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

    fn read(&mut self) -> Result<ReadOk, ReadFailure> {
        self.reader.read(&mut SimDev(&mut self.world))
    }

    fn reader(&self) -> &Reader {
        &self.reader
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

    fn kernel_frequency(&mut self) -> Option<KernelFreq> {
        Some(self.world.applied_frequency())
    }

    fn adjusts(&self) -> bool {
        true
    }

    fn set_frequency(&mut self, f: KernelFreq) -> io::Result<()> {
        self.world.adjtime_frequency(f);
        Ok(())
    }

    fn step(&mut self, delta: Duration) -> io::Result<()> {
        self.world.step(delta);
        Ok(())
    }

    fn set_status(&mut self, _s: SyncStatus) -> io::Result<()> {
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

/// Proof that the caller is the real daemon (`keel sync` on the system
/// clock, not `--dry-run`, not `--clock sim`). Only `main` creates it.
pub struct RealDaemon(());

impl RealDaemon {
    /// For `keel sync` without `--clock sim` and without `--dry-run` only.
    pub fn i_am_keel_sync_on_the_system_clock() -> Self {
        Self(())
    }
}

/// Environment variable that forbids any clock write (tests set it).
pub const FORBID_WRITES_ENV: &str = "KEEL_FORBID_CLOCK_WRITES";

/// The only thing in keel that writes `CLOCK_REALTIME`.
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
}

/// A real PHC steering `CLOCK_REALTIME` (or only measuring, in a dry run).
pub struct LinuxClock {
    phc: LinuxPhc,
    reader: Reader,
    actuator: Option<RealActuator>,
    label: String,
    vmclock: Option<VmclockWatch>,
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
        }
    }

    /// Also watches a vmclock device's disruption marker.
    #[must_use]
    pub fn with_vmclock(mut self, watch: VmclockWatch) -> Self {
        self.vmclock = Some(watch);
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
            "{} ({}) → CLOCK_REALTIME{}",
            self.phc.path().display(),
            self.label,
            if self.actuator.is_some() {
                ""
            } else {
                " [dry run: measuring only]"
            }
        )
    }

    fn loop_now_ns(&mut self) -> u64 {
        ns_of(gettime(libc::CLOCK_MONOTONIC))
    }

    fn poll_timeout_ms(&mut self, deadline_ns: u64) -> i32 {
        let left = deadline_ns.saturating_sub(self.loop_now_ns());
        i32::try_from(left.div_ceil(1_000_000)).unwrap_or(i32::MAX)
    }

    fn catch_up(&mut self, _deadline_ns: u64) {}

    fn read(&mut self) -> Result<ReadOk, ReadFailure> {
        self.reader.read(&mut self.phc)
    }

    fn reader(&self) -> &Reader {
        &self.reader
    }

    fn realtime(&mut self) -> Timestamp {
        Timestamp::from_nanos(ns_of(gettime(libc::CLOCK_REALTIME)))
    }

    fn raw_ns(&mut self) -> u64 {
        ns_of(gettime(libc::CLOCK_MONOTONIC_RAW))
    }

    fn suspended_ns(&mut self) -> i64 {
        let b = ns_of(gettime(libc::CLOCK_BOOTTIME));
        let m = ns_of(gettime(libc::CLOCK_MONOTONIC));
        i64::try_from(b.saturating_sub(m)).unwrap_or(i64::MAX)
    }

    fn kernel_frequency(&mut self) -> Option<KernelFreq> {
        Self::query().ok().map(|t| timex::kernel_freq(&t))
    }

    fn adjusts(&self) -> bool {
        self.actuator.is_some()
    }

    fn set_frequency(&mut self, f: KernelFreq) -> io::Result<()> {
        match &self.actuator {
            Some(a) => a.apply(timex::frequency(f)),
            None => Ok(()),
        }
    }

    fn step(&mut self, delta: Duration) -> io::Result<()> {
        match &self.actuator {
            Some(a) => a.apply(timex::step(delta)),
            None => Ok(()),
        }
    }

    fn set_status(&mut self, s: SyncStatus) -> io::Result<()> {
        match &self.actuator {
            Some(a) => {
                let current = Self::query().map(|t| t.status).unwrap_or(0);
                a.apply(timex::status(s, current))
            }
            None => Ok(()),
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
        let mut c = SimClock::new(
            &SimConfig::default(),
            1,
            "standard",
            Speed::Max,
            Reader::new(crate::phc::MethodChoice::Auto, 5),
        );
        assert_eq!(c.poll_timeout_ms(5_000_000_000), 0);
        c.catch_up(5_000_000_000);
        assert_eq!(c.loop_now_ns(), 5_000_000_000);
        assert!(c.truth().is_some());
        assert!(c.read().is_ok());
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
        // dry run: the writes are no-ops and succeed
        assert!(c.step(Duration::from_secs(1)).is_ok());
        assert!(
            c.set_frequency(KernelFreq::from_ppb(keel_core::time::Ppb::ZERO, 100))
                .is_ok()
        );
        let f = c.read().unwrap_err();
        assert_eq!(f.error, PhcError::NoDevice);
    }
}

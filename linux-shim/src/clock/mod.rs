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
        noise_limited: src.noise_limited || sink.noise_limited,
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
        noise_limited: a.noise_limited || b.noise_limited,
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
    /// Measures the sink against the source with `samples` readings of the
    /// source (probing and re-probing the read methods as needed).
    ///
    /// # Errors
    /// Why no measurement could be taken now.
    fn read(&mut self, samples: usize) -> Result<Measurement, MeasureFailure>;
    /// The source's prober (method, counters).
    fn reader(&self) -> &Reader;
    /// Is there a source PHC? (`false`: NTP servers alone.)
    fn has_source(&self) -> bool {
        true
    }
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
    /// What the source PHC's host says of its clock (vmclock's
    /// `clock_status`), when it says.
    fn host_synchronised(&self) -> Option<bool> {
        None
    }
    /// The vmclock disruption marker last read, when a vmclock is watched.
    fn vmclock_marker(&self) -> Option<u64> {
        None
    }
    /// The ground truth (simulation only).
    fn truth(&self) -> Option<Truth>;
    /// Simulation only: the guest is frozen (migration pause, suspend), so no
    /// code of it runs now. Always `false` on real clocks.
    fn frozen(&self) -> bool {
        false
    }
    /// Simulation only: when the world's scripted events and outages begin,
    /// s of true time from the start (the end table reports a window after
    /// each).
    fn scripted_s(&self) -> Vec<f64> {
        Vec::new()
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

mod actuator;
mod linux;
mod sim;

pub use actuator::*;
pub use linux::*;
pub use sim::*;

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
        assert!(c.read(5).is_ok());
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
        let f = c.read(5).unwrap_err();
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
            noise_limited: false,
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

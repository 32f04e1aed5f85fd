//! A disciplined clock for firmware (feature `embedded-hal`): keel's own
//! small clock traits, a software clock over a free-running counter, and an
//! adapter that steers either from PPS edges or PHC-style readings with
//! keel's default servo.
//!
//! embedded-hal 1.0 has no clock or timer-adjust trait, so keel brings two
//! small ones and uses embedded-hal's where they fit
//! ([`InputPin`] for the PPS line, [`DelayNs`] between polls):
//!
//! - [`Counter`]: a free-running hardware counter (a `SysTick`-extended or
//!   32-bit timer widened to 64 bits, a cycle counter, an RTC). A board
//!   support crate implements this one trait and wraps it in a
//!   [`CounterClock`], which applies rate and offset corrections in software.
//! - [`Clock`]: a clock that can be read, slewed (absolute frequency
//!   correction) and stepped. Implement it directly for hardware that can
//!   adjust itself (an Ethernet MAC's PTP clock with an addend register).
//! - [`Disciplined`]: joins a [`Clock`] and a [`Servo`] (by default
//!   [`Kalman`]): feed it PPS edges ([`Disciplined::pps_edge`], or
//!   [`Disciplined::wait_pps`] with a [`PpsInput`]) or reference readings
//!   ([`Disciplined::reading`], [`Disciplined::phc`]); it applies what the
//!   servo says and reports it back.
//!
//! ```
//! use core::convert::Infallible;
//! use keel_core::hal::{Counter, CounterClock, Disciplined};
//! use keel_core::time::Timestamp;
//!
//! /// A board's 64-bit timer at 80 MHz.
//! struct Timer(u64);
//! impl Counter for Timer {
//!     type Error = Infallible;
//!     fn frequency_hz(&self) -> u32 { 80_000_000 }
//!     fn ticks(&mut self) -> Result<u64, Infallible> { Ok(self.0) }
//! }
//!
//! let clock = CounterClock::new(Timer(0), Timestamp::EPOCH);
//! let mut disciplined = Disciplined::with_default_servo(clock);
//! // In the PPS interrupt: timestamp the edge with the clock, then
//! let edge = disciplined.clock_mut().now_infallible();
//! let out = disciplined.pps_edge(edge, Default::default()).unwrap();
//! # let _ = out;
//! ```
//!
//! Signs as everywhere in keel: offset = local − reference (positive: the
//! local clock is ahead); frequency corrections in ppb, positive = faster; a
//! step of `X` adds `X` to the clock.

use embedded_hal::delay::DelayNs;
use embedded_hal::digital::InputPin;

use crate::engine::{
    Adjusted, Command, Engine, EngineConfig, ReadError, Reading, SinkConfig, SourceConfig,
    SourceId, Status,
};
use crate::measure::phc::PhcReading;
use crate::num::Real;
use crate::servo::{Kalman, KalmanConfig, OffsetSample, Servo, ServoConfig};
use crate::time::{Duration, Ppb, Timestamp};

/// What went wrong in a clock or counter, in general terms (the
/// embedded-hal pattern: a driver's own error maps to a kind).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ErrorKind {
    /// The hardware could not be read.
    Read,
    /// The hardware rejected the adjustment (e.g. out of range).
    Adjust,
    /// Anything else.
    Other,
}

impl core::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Read => "the clock could not be read",
            Self::Adjust => "the clock rejected the adjustment",
            Self::Other => "clock error",
        })
    }
}

impl core::error::Error for ErrorKind {}

/// A clock or counter error.
pub trait Error: core::fmt::Debug {
    /// The general kind of this error.
    fn kind(&self) -> ErrorKind;
}

impl Error for core::convert::Infallible {
    fn kind(&self) -> ErrorKind {
        match *self {}
    }
}

impl Error for ErrorKind {
    fn kind(&self) -> ErrorKind {
        *self
    }
}

/// A free-running hardware counter: the one trait a board support crate
/// implements to get a disciplined clock (through [`CounterClock`]).
pub trait Counter {
    /// The counter's error ([`core::convert::Infallible`] if reads cannot fail).
    type Error: Error;
    /// Nominal ticks per second (the crystal's rated frequency; keel learns
    /// its actual error).
    fn frequency_hz(&self) -> u32;
    /// The count now: monotonic, wrapping at 2⁶⁴. Widen narrower hardware
    /// counters (e.g. a 32-bit timer plus an overflow count).
    ///
    /// # Errors
    /// When the counter cannot be read.
    fn ticks(&mut self) -> Result<u64, Self::Error>;
}

/// keel's clock: read, slew and step. [`CounterClock`] implements it over a
/// [`Counter`]; implement it directly for a clock that adjusts itself in
/// hardware.
pub trait Clock {
    /// The clock's error.
    type Error: Error;
    /// The time now.
    ///
    /// # Errors
    /// When the clock cannot be read.
    fn now(&mut self) -> Result<Timestamp, Self::Error>;
    /// Sets the frequency correction (absolute, not cumulative; positive =
    /// the clock runs faster).
    ///
    /// # Errors
    /// When the hardware rejects it; the previous correction stays.
    fn set_frequency(&mut self, freq: Ppb) -> Result<(), Self::Error>;
    /// Adds `delta` to the clock.
    ///
    /// # Errors
    /// When the hardware rejects it; the clock is unchanged.
    fn step(&mut self, delta: Duration) -> Result<(), Self::Error>;
}

/// 10⁻⁹.
const NANO: Real = Real::ratio(1, 1_000_000_000);

/// A software clock over a free-running [`Counter`]:
/// `now = base + (ticks − base_ticks) × scale`, where `scale` is the
/// nominal ns per tick times `(1 + correction)`, as a 32.32 fixed-point
/// value. Each correction or step re-bases at the current count, so the
/// time is continuous across frequency changes.
///
/// Reading costs one 64×64→128 multiply and a shift; setting the frequency
/// costs a few [`Real`] multiplies (no division). The one division, ns per
/// tick, is done once in [`CounterClock::new`]. The rate resolution is
/// 2⁻³² of a tick per tick (0.23 ppb at 1 GHz, finer for slower counters).
#[derive(Clone, Debug)]
pub struct CounterClock<C> {
    counter: C,
    base_ticks: u64,
    base: Timestamp,
    /// Nominal ns per tick, 2⁻³² ns.
    nominal: u64,
    /// Corrected ns per tick, 2⁻³² ns.
    scale: u64,
    freq: Ppb,
}

#[cfg(feature = "defmt")]
impl<C> defmt::Format for CounterClock<C> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "CounterClock {{ base: {}, base_ticks: {=u64}, scale: {=u64}/2^32 ns, freq: {} }}",
            self.base,
            self.base_ticks,
            self.scale,
            self.freq
        );
    }
}

impl<C: Counter> CounterClock<C> {
    /// A clock reading `start` at the counter's current count, with no
    /// correction. A counter read failure here starts from count 0.
    pub fn new(mut counter: C, start: Timestamp) -> Self {
        let hz = u64::from(counter.frequency_hz().max(1));
        // 10⁹·2³² / hz < 2⁶² for any hz ≥ 1.
        let nominal = (1_000_000_000u64 << 32) / hz;
        let base_ticks = counter.ticks().unwrap_or(0);
        Self {
            counter,
            base_ticks,
            base: start,
            nominal,
            scale: nominal,
            freq: Ppb::ZERO,
        }
    }

    /// The counter.
    pub fn counter(&self) -> &C {
        &self.counter
    }

    /// The counter, for the board's own use (do not reset it).
    pub fn counter_mut(&mut self) -> &mut C {
        &mut self.counter
    }

    /// The correction in force.
    pub fn frequency(&self) -> Ppb {
        self.freq
    }

    /// The clock's time at count `ticks` (which may be a count latched by
    /// hardware, e.g. by an input-capture unit on the PPS edge).
    pub fn time_at(&self, ticks: u64) -> Timestamp {
        let elapsed = ticks.wrapping_sub(self.base_ticks);
        let ns = (u128::from(elapsed) * u128::from(self.scale)) >> 32;
        let ns = u64::try_from(ns).unwrap_or(u64::MAX);
        Timestamp::from_nanos(self.base.as_nanos().wrapping_add(ns))
    }

    /// Re-bases at the current count: `(ticks, time)` now.
    fn rebase(&mut self) -> Result<(), C::Error> {
        let t = self.counter.ticks()?;
        self.base = self.time_at(t);
        self.base_ticks = t;
        Ok(())
    }
}

impl<C: Counter<Error = core::convert::Infallible>> CounterClock<C> {
    /// [`Clock::now`] for a counter whose reads cannot fail.
    pub fn now_infallible(&mut self) -> Timestamp {
        match self.counter.ticks() {
            Ok(t) => self.time_at(t),
            Err(e) => match e {},
        }
    }
}

impl<C: Counter> Clock for CounterClock<C> {
    type Error = C::Error;

    fn now(&mut self) -> Result<Timestamp, C::Error> {
        let t = self.counter.ticks()?;
        Ok(self.time_at(t))
    }

    fn set_frequency(&mut self, freq: Ppb) -> Result<(), C::Error> {
        self.rebase()?;
        // scale = nominal·(1 + freq·10⁻⁹), the correction part in Real
        // (31 significant bits of the correction, far below a tick).
        let nominal = i64::try_from(self.nominal).unwrap_or(i64::MAX);
        let delta = (Real::from_fixed(nominal, 32) * Real::from_fixed(freq.to_bits(), 32) * NANO)
            .to_fixed(32);
        self.scale = self.nominal.saturating_add_signed(delta).max(1);
        self.freq = freq;
        Ok(())
    }

    fn step(&mut self, delta: Duration) -> Result<(), C::Error> {
        self.rebase()?;
        self.base = self.base.wrapping_add(delta);
        Ok(())
    }
}

/// A PPS edge located by polling: the edge happened in
/// `(at − uncertainty, at + uncertainty]` of the local clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Edge {
    /// The middle of the window the edge is known to lie in.
    pub at: Timestamp,
    /// Half the window's width.
    pub uncertainty: Duration,
}

/// Why [`PpsInput::wait_edge`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PpsError<P, K> {
    /// The pin could not be read.
    Pin(P),
    /// The clock could not be read.
    Clock(K),
    /// No rising edge within the polls allowed.
    Timeout,
}

impl<P: core::fmt::Debug, K: core::fmt::Debug> core::fmt::Display for PpsError<P, K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Pin(e) => write!(f, "PPS pin read failed: {e:?}"),
            Self::Clock(e) => write!(f, "clock read failed while waiting for PPS: {e:?}"),
            Self::Timeout => {
                f.write_str("no PPS edge: check the PPS wiring and the receiver's fix")
            }
        }
    }
}

impl<P: core::fmt::Debug, K: core::fmt::Debug> core::error::Error for PpsError<P, K> {}

/// A PPS line on a digital input, timestamped by polling. Prefer a
/// hardware input capture (latch the counter on the edge and use
/// [`CounterClock::time_at`]) where the board has one; polling is the
/// portable fallback, and its window is passed to the servo as the
/// reading's uncertainty.
#[derive(Debug)]
pub struct PpsInput<P> {
    pin: P,
    /// Pause between polls, ns.
    poll_ns: u32,
}

impl<P: InputPin> PpsInput<P> {
    /// Polls `pin` every `poll_ns` (at least 1 ns) for rising edges.
    pub fn new(pin: P, poll_ns: u32) -> Self {
        Self {
            pin,
            poll_ns: poll_ns.max(1),
        }
    }

    /// The pin back.
    pub fn release(self) -> P {
        self.pin
    }

    /// Waits for the next rising edge (first for the line to be low, so a
    /// line already high is not taken for an edge), polling at most
    /// `max_polls` times. Each poll reads the clock, the pin, the clock: a
    /// low level bounds the edge from below, the first high level from above.
    ///
    /// # Errors
    /// [`PpsError::Timeout`] after `max_polls`; pin or clock read errors.
    pub fn wait_edge<K: Clock, D: DelayNs>(
        &mut self,
        clock: &mut K,
        delay: &mut D,
        max_polls: u32,
    ) -> Result<Edge, PpsError<P::Error, K::Error>> {
        let mut low_at = None;
        for _ in 0..max_polls {
            let a = clock.now().map_err(PpsError::Clock)?;
            let high = self.pin.is_high().map_err(PpsError::Pin)?;
            let b = clock.now().map_err(PpsError::Clock)?;
            match (high, low_at) {
                (false, _) => low_at = Some(a),
                (true, Some(lo)) => {
                    let half = b.duration_since(lo).as_nanos().div_euclid(2);
                    return Ok(Edge {
                        at: lo.midpoint(b),
                        uncertainty: Duration::from_nanos(half),
                    });
                }
                (true, None) => {}
            }
            delay.delay_ns(self.poll_ns);
        }
        Err(PpsError::Timeout)
    }
}

/// Why [`Disciplined::wait_pps`] failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum WaitPpsError<P, K> {
    /// Waiting for the edge failed.
    Pps(PpsError<P, K>),
    /// Applying the correction failed.
    Clock(K),
}

/// A [`Clock`] steered by keel's engine ([`Engine`]) around a [`Servo`] (by
/// default keel's [`Kalman`]): a thin adapter that pushes each reading into
/// the engine and carries out its commands on the clock (the frequency first,
/// then a step with the drift since the reading taken out), so firmware gets
/// the same decisions as `keel sync`.
///
/// Every input returns the engine's [`Status`] after its commands were
/// carried out. When the clock rejects a step or a frequency, the engine is
/// told and the error is returned. Loop time is the clock's own reading.
#[derive(Clone, Debug)]
pub struct Disciplined<K, S = Kalman> {
    clock: K,
    engine: Engine<S, 1, 0, 0>,
}

/// The engine settings of a [`Disciplined`] clock: pushed readings at
/// `interval`, no kernel status, no OS clock checks, nothing to save.
pub fn disciplined_config(interval: Duration) -> EngineConfig {
    EngineConfig {
        interval,
        samples: 1,
        clock_checks: false,
        save_every: 0,
        sink: SinkConfig {
            kernel_status: false,
            max_frequency: ServoConfig::default().max_frequency,
        },
        ..EngineConfig::default()
    }
}

/// Reference seconds of a PPS edge: the edge's local sub-second part as an
/// offset in `[−0.5 s, 0.5 s)`.
fn pps_offset(edge: Timestamp) -> Duration {
    let sub = i64::from(edge.subsec_nanos());
    Duration::from_nanos(if sub >= 500_000_000 {
        sub.saturating_sub(1_000_000_000)
    } else {
        sub
    })
}

impl<K: Clock> Disciplined<K, Kalman> {
    /// keel's default servo at 1 s updates (one PPS per second), no
    /// correction in force yet.
    pub fn with_default_servo(clock: K) -> Self {
        let cfg = disciplined_config(Duration::from_secs(1));
        let servo = Kalman::new(cfg.servo, KalmanConfig::default(), cfg.interval, Ppb::ZERO);
        Self::new(clock, Engine::new_with_capacity(cfg, servo, Ppb::ZERO, 0))
    }
}

impl<K: Clock, S: Servo> Disciplined<K, S> {
    /// Joins `clock` and `engine` (whose frequency in force is the clock's);
    /// a source is registered for the readings if the engine has none.
    pub fn new(clock: K, mut engine: Engine<S, 1, 0, 0>) -> Self {
        if engine.status().source.is_none() {
            let _ = engine.add_source(SourceConfig::phc());
        }
        Self { clock, engine }
    }

    /// The clock.
    pub fn clock(&self) -> &K {
        &self.clock
    }

    /// The clock, e.g. to read it (do not adjust it behind the engine's back).
    pub fn clock_mut(&mut self) -> &mut K {
        &mut self.clock
    }

    /// The engine.
    pub fn engine(&self) -> &Engine<S, 1, 0, 0> {
        &self.engine
    }

    /// The engine, e.g. to signal a disruption or take its notices.
    pub fn engine_mut(&mut self) -> &mut Engine<S, 1, 0, 0> {
        &mut self.engine
    }

    /// The parts back.
    pub fn into_parts(self) -> (K, Engine<S, 1, 0, 0>) {
        (self.clock, self.engine)
    }

    /// A PPS edge timestamped `edge` by this clock: the reference's second
    /// started then. The clock must already be within ±0.5 s of the
    /// reference (set the time of day first, e.g. from the GNSS receiver's
    /// message); the offset is the edge's sub-second part, wrapped to
    /// `[−0.5 s, 0.5 s)`. `uncertainty` is the timestamp's own (zero for a
    /// hardware capture; [`Edge::uncertainty`] when polled).
    ///
    /// # Errors
    /// When the clock rejects the servo's correction.
    pub fn pps_edge(&mut self, edge: Timestamp, uncertainty: Duration) -> Result<Status, K::Error> {
        self.sample(OffsetSample {
            offset: pps_offset(edge),
            local_ts: edge,
            uncertainty,
        })
    }

    /// A reading of the reference: at local time `local` the reference read
    /// `reference` (a PHC, a hypervisor clock, an NTP/PTP measurement
    /// converted to a pair), within `uncertainty`.
    ///
    /// # Errors
    /// When the clock rejects the servo's correction.
    pub fn reading(
        &mut self,
        local: Timestamp,
        reference: Timestamp,
        uncertainty: Duration,
    ) -> Result<Status, K::Error> {
        self.sample(OffsetSample {
            offset: local.duration_since(reference),
            local_ts: local,
            uncertainty,
        })
    }

    /// A PHC-style reading (cross-timestamp or triples, with this clock as
    /// the "system" side): its best sample, or holdover when it has none.
    ///
    /// # Errors
    /// When the clock cannot be read (holdover) or rejects the correction.
    pub fn phc(&mut self, reading: &PhcReading) -> Result<Status, K::Error> {
        match reading.best_sample() {
            Some(s) => self.push(&Reading::phc(&s)),
            None => self.no_sample(),
        }
    }

    /// No reading this time (the PPS or the reference is missing): hold over.
    ///
    /// # Errors
    /// When the clock cannot be read or rejects the correction.
    pub fn no_sample(&mut self) -> Result<Status, K::Error> {
        let now = self.clock.now()?;
        let src = SourceId(0);
        if self
            .engine
            .push_no_reading(now.as_nanos(), src, ReadError::Failed, now)
        {
            self.carry_out(now.as_nanos())?;
        }
        Ok(*self.engine.status())
    }

    /// Waits for the next PPS edge on `pps` and feeds it to the servo.
    ///
    /// # Errors
    /// See [`PpsInput::wait_edge`]; or the clock rejects the correction.
    pub fn wait_pps<P: InputPin, D: DelayNs>(
        &mut self,
        pps: &mut PpsInput<P>,
        delay: &mut D,
        max_polls: u32,
    ) -> Result<Status, WaitPpsError<P::Error, K::Error>> {
        let edge = pps
            .wait_edge(&mut self.clock, delay, max_polls)
            .map_err(WaitPpsError::Pps)?;
        self.pps_edge(edge.at, edge.uncertainty)
            .map_err(WaitPpsError::Clock)
    }

    /// One sample into the engine, its commands carried out.
    ///
    /// # Errors
    /// When the clock rejects the engine's correction.
    pub fn sample(&mut self, s: OffsetSample) -> Result<Status, K::Error> {
        self.push(&Reading {
            offset: s.offset,
            local_ts: s.local_ts,
            delay: Duration::ZERO,
            uncertainty: s.uncertainty,
            noise_limited: false,
        })
    }

    fn push(&mut self, r: &Reading) -> Result<Status, K::Error> {
        let now = self.clock.now()?.as_nanos();
        if self.engine.push_reading(now, SourceId(0), r) {
            self.carry_out(now)?;
        }
        Ok(*self.engine.status())
    }

    /// Carries out the engine's commands until it waits; the first error of
    /// the clock is returned after the engine has been told.
    fn carry_out(&mut self, now: u64) -> Result<(), K::Error> {
        let mut first_err = None;
        loop {
            match self.engine.poll(now) {
                Command::Adjust(a) => {
                    let done = match a.freq {
                        None => Ok(Adjusted {
                            freq: self.engine.status().freq,
                            at: Timestamp::EPOCH,
                        }),
                        Some(f) => match self.clock.set_frequency(f) {
                            Ok(()) => match self.clock.now() {
                                Ok(at) => Ok(Adjusted { freq: f, at }),
                                Err(e) => {
                                    first_err.get_or_insert(e);
                                    Err(())
                                }
                            },
                            Err(e) => {
                                first_err.get_or_insert(e);
                                Err(())
                            }
                        },
                    };
                    self.engine.on_adjusted(done);
                }
                Command::Step(d) => match self.clock.step(d) {
                    Ok(()) => self.engine.on_stepped(true),
                    Err(e) => {
                        first_err.get_or_insert(e);
                        self.engine.on_stepped(false);
                    }
                },
                // Pushed updates read nothing and check nothing; the next
                // reading comes when the caller has one.
                Command::Wait(_)
                | Command::Read { .. }
                | Command::CheckClock
                | Command::SaveState(_)
                | Command::SendNtp { .. }
                | Command::Halt(_) => break,
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::SyncState;
    use core::cell::Cell;
    use core::convert::Infallible;

    const S: u64 = 1_000_000_000;

    /// A counter at `hz·(1 + err_ppb·10⁻⁹)` driven by a shared true time.
    struct FakeCounter<'a> {
        t: &'a Cell<u64>,
        hz: u32,
        err_ppb: i64,
    }

    impl Counter for FakeCounter<'_> {
        type Error = Infallible;
        fn frequency_hz(&self) -> u32 {
            self.hz
        }
        fn ticks(&mut self) -> Result<u64, Infallible> {
            // ticks = t·hz·(1 + err·10⁻⁹) / 10⁹, exactly in integers.
            let t = u128::from(self.t.get());
            let num =
                t * u128::from(self.hz) * u128::try_from(1_000_000_000 + self.err_ppb).unwrap();
            Ok(u64::try_from(num / 1_000_000_000_000_000_000).unwrap())
        }
    }

    /// A PPS line high for the first 100 ms of every true second.
    struct FakePps<'a> {
        t: &'a Cell<u64>,
    }

    impl embedded_hal::digital::ErrorType for FakePps<'_> {
        type Error = Infallible;
    }

    impl InputPin for FakePps<'_> {
        fn is_high(&mut self) -> Result<bool, Infallible> {
            Ok(self.t.get() % S < 100_000_000)
        }
        fn is_low(&mut self) -> Result<bool, Infallible> {
            self.is_high().map(|h| !h)
        }
    }

    /// A delay that moves the true time forward.
    struct FakeDelay<'a> {
        t: &'a Cell<u64>,
    }

    impl DelayNs for FakeDelay<'_> {
        fn delay_ns(&mut self, ns: u32) {
            self.t.set(self.t.get() + u64::from(ns));
        }
    }

    /// Local − true time, ns, at the current true time.
    fn offset_now(c: &mut CounterClock<FakeCounter<'_>>, t: &Cell<u64>) -> i64 {
        c.now_infallible()
            .duration_since(Timestamp::from_nanos(t.get()))
            .as_nanos()
    }

    #[test]
    fn counter_clock_scales_corrects_and_steps() {
        let t = Cell::new(0);
        let ctr = FakeCounter {
            t: &t,
            hz: 1_000_000,
            err_ppb: 0,
        };
        let mut c = CounterClock::new(ctr, Timestamp::from_nanos(5));
        t.set(2 * S);
        assert_eq!(c.now_infallible(), Timestamp::from_nanos(2 * S + 5));
        // +1000 ppm: 1 s of counter is 1.001 s of clock, continuous at the switch.
        c.set_frequency(Ppb::from_ppb(1_000_000)).unwrap();
        assert_eq!(c.now_infallible(), Timestamp::from_nanos(2 * S + 5));
        t.set(3 * S);
        assert_eq!(c.now_infallible().as_nanos(), 3 * S + 5 + 1_000_000);
        c.step(Duration::from_nanos(-5)).unwrap();
        assert_eq!(c.now_infallible().as_nanos(), 3 * S + 1_000_000);
        // Hardware-latched counts map the same way.
        assert_eq!(c.time_at(3_000_000), c.now_infallible());
        // Back to nominal; slow clock.
        c.set_frequency(Ppb::from_ppb(-500_000)).unwrap();
        t.set(5 * S);
        assert_eq!(c.now_infallible().as_nanos(), 5 * S + 1_000_000 - 1_000_000);
    }

    #[test]
    fn counter_clock_extremes_do_not_panic() {
        let t = Cell::new(1 << 40);
        let ctr = FakeCounter {
            t: &t,
            hz: u32::MAX,
            err_ppb: 0,
        };
        let mut c = CounterClock::new(ctr, Timestamp::from_nanos(u64::MAX - 3));
        for f in [Ppb::MAX, Ppb::MIN, Ppb::ZERO] {
            c.set_frequency(f).unwrap();
            t.set(t.get() + S);
            let _ = c.now_infallible();
        }
        c.step(Duration::MIN).unwrap();
        c.step(Duration::MAX).unwrap();
        let slow = FakeCounter {
            t: &t,
            hz: 0,
            err_ppb: 0,
        };
        let mut c = CounterClock::new(slow, Timestamp::EPOCH);
        let _ = c.time_at(u64::MAX);
        c.set_frequency(Ppb::MIN).unwrap();
        assert!(c.scale >= 1);
    }

    #[test]
    fn pps_offsets_wrap_to_half_a_second() {
        assert_eq!(
            pps_offset(Timestamp::from_nanos(7 * S + 250)),
            Duration::from_nanos(250)
        );
        assert_eq!(
            pps_offset(Timestamp::from_nanos(7 * S - 250)),
            Duration::from_nanos(-250)
        );
        assert_eq!(
            pps_offset(Timestamp::from_nanos(7 * S + 500_000_000)),
            Duration::from_nanos(-500_000_000)
        );
    }

    /// A 100 MHz counter 35 ppm fast, 0.2 s ahead: disciplined from
    /// hardware-captured PPS edges to within 100 ns, stepping once.
    #[test]
    fn disciplines_a_fast_counter_from_pps_edges() {
        let t = Cell::new(0);
        let ctr = FakeCounter {
            t: &t,
            hz: 100_000_000,
            err_ppb: 35_000,
        };
        let clock = CounterClock::new(ctr, Timestamp::from_nanos(200_000_000));
        let mut d = Disciplined::with_default_servo(clock);
        for k in 1..=300u64 {
            t.set(k * S);
            // Input capture: the counter latched at the edge.
            let edge = d.clock_mut().now_infallible();
            let out = d.pps_edge(edge, Duration::ZERO).unwrap();
            if k > 120 {
                let off = offset_now(d.clock_mut(), &t);
                assert!(off.abs() < 100, "second {k}: offset {off} ns");
                assert!(out.state.is_locked(), "{out:?}");
            }
        }
        assert_eq!(d.engine().status().counters.steps, 1);
        // The correction cancels the counter's +35 ppm.
        let f = d.clock().frequency().floor_ppb();
        assert!((f + 35_000).abs() < 20, "correction {f} ppb");
    }

    /// The same through the embedded-hal PPS poller (10 µs polls) with a
    /// 1 MHz counter: the polling window is passed as uncertainty.
    #[test]
    fn disciplines_from_a_polled_pps_pin() {
        let t = Cell::new(300_000_000);
        let ctr = FakeCounter {
            t: &t,
            hz: 1_000_000,
            err_ppb: -20_000,
        };
        let clock = CounterClock::new(ctr, Timestamp::from_nanos(1_000));
        let mut d = Disciplined::with_default_servo(clock);
        let mut pps = PpsInput::new(FakePps { t: &t }, 10_000);
        let mut delay = FakeDelay { t: &t };
        for k in 1..=200u64 {
            let out = d.wait_pps(&mut pps, &mut delay, 200_000).unwrap();
            assert!(
                t.get() / S == k && t.get() % S <= 10_000,
                "second {k}: t {}",
                t.get()
            );
            if k > 100 {
                let off = offset_now(d.clock_mut(), &t);
                assert!(off.abs() < 15_000, "second {k}: offset {off} ns");
                assert_ne!(out.state, SyncState::Unlocked);
            }
            // Past the high part of the pulse before waiting again.
            t.set(t.get() + 500_000_000);
        }
    }

    #[test]
    fn pps_timeout_and_a_line_stuck_high() {
        struct High;
        impl embedded_hal::digital::ErrorType for High {
            type Error = Infallible;
        }
        impl InputPin for High {
            fn is_high(&mut self) -> Result<bool, Infallible> {
                Ok(true)
            }
            fn is_low(&mut self) -> Result<bool, Infallible> {
                Ok(false)
            }
        }
        let t = Cell::new(0);
        let mut clock = CounterClock::new(
            FakeCounter {
                t: &t,
                hz: 1_000,
                err_ppb: 0,
            },
            Timestamp::EPOCH,
        );
        let mut pps = PpsInput::new(High, 1_000);
        let mut delay = FakeDelay { t: &t };
        assert_eq!(
            pps.wait_edge(&mut clock, &mut delay, 100),
            Err(PpsError::Timeout)
        );
    }

    /// A clock that refuses every step: the servo is told nothing moved.
    struct NoSteps<'a>(CounterClock<FakeCounter<'a>>);

    impl Clock for NoSteps<'_> {
        type Error = ErrorKind;
        fn now(&mut self) -> Result<Timestamp, ErrorKind> {
            Ok(self.0.now_infallible())
        }
        fn set_frequency(&mut self, f: Ppb) -> Result<(), ErrorKind> {
            self.0.set_frequency(f).map_err(|e| match e {})
        }
        fn step(&mut self, _: Duration) -> Result<(), ErrorKind> {
            Err(ErrorKind::Adjust)
        }
    }

    #[test]
    fn a_refused_step_is_reported() {
        let t = Cell::new(0);
        let clock = NoSteps(CounterClock::new(
            FakeCounter {
                t: &t,
                hz: 1_000_000,
                err_ppb: 0,
            },
            Timestamp::from_nanos(300_000_000),
        ));
        let mut d = Disciplined::with_default_servo(clock);
        let mut refused = 0;
        for k in 1..=5u64 {
            t.set(k * S);
            let edge = d.clock_mut().now().unwrap();
            if let Err(e) = d.pps_edge(edge, Duration::ZERO) {
                assert_eq!(e.kind(), ErrorKind::Adjust);
                refused += 1;
            }
        }
        assert!(refused >= 1);
        // What the engine was told is what the clock runs at.
        assert_eq!(d.clock().0.frequency(), d.engine().status().freq);
    }
}

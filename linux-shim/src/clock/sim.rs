//! The simulated backend: `keel_core::sim`'s world as the daemon's clocks,
//! at a chosen speed.

#![allow(clippy::wildcard_imports)]

use super::*;

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
    /// When the scripted events and outages begin, s of true time.
    scripted_s: Vec<f64>,
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
    /// `EPERM` while the world refuses clock writes (its `eperm` span).
    fn writes_allowed(&self) -> io::Result<()> {
        if self.world.clock_writes_denied() {
            return Err(io::Error::from_raw_os_error(libc::EPERM));
        }
        Ok(())
    }

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
            #[allow(clippy::cast_precision_loss, reason = "reporting")]
            scripted_s: cfg
                .events
                .iter()
                .map(|e| e.at_ns)
                .chain(cfg.outages.iter().map(|o| o.start_ns))
                .map(|t| t as f64 / 1e9)
                .collect(),
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

    fn read(&mut self, samples: usize) -> Result<Measurement, MeasureFailure> {
        self.reader.set_samples(samples);
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
        self.writes_allowed()?;
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
        self.writes_allowed()?;
        self.world.step(delta);
        Ok(())
    }

    fn set_status(&mut self, _s: KernelStatus) -> io::Result<()> {
        if self.phc_sink.is_some() {
            return Err(no_status());
        }
        self.writes_allowed()?;
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

    fn scripted_s(&self) -> Vec<f64> {
        self.scripted_s.clone()
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

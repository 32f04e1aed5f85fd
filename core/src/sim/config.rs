//! Scenario configuration: plain structs whose [`Default`] is the standard model.
//!
//! Units and signs are on every field. Times are in nanoseconds of **true
//! time** (the simulation's own time line, starting at 0) unless a field says
//! otherwise; frequencies are in ppb with **positive = the local clock runs
//! fast**; offsets are **local − reference, positive = local ahead**.
//!
//! Nothing here is validated on construction; [`super::World::new`] clamps
//! every value into its documented range (non-finite floats become the
//! documented fallback), so no configuration can make the world panic.

use heapless::Vec;

use crate::measure::phc::ReadMethod;
use crate::time::KernelFreq;

/// Capacity of [`SimConfig::events`].
pub const MAX_EVENTS: usize = 64;
/// Capacity of [`SimConfig::outages`].
pub const MAX_OUTAGES: usize = 16;

/// One scenario: the oscillator, the reference, the read model, the actuator
/// and the scripted events. `SimConfig::default()` is the standard model
/// (+0.5 s, +50 ppm, 1 ppb/√s wander, σ = 10 ns, nothing scripted).
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SimConfig {
    /// The local oscillator (the steered clock's hardware).
    pub oscillator: OscillatorConfig,
    /// The reference clock (the PHC).
    pub reference: ReferenceConfig,
    /// How PHC reads behave.
    pub read: ReadConfig,
    /// The kernel's frequency/step interface.
    pub actuator: ActuatorConfig,
    /// Scripted events, in any order (ties run in list order).
    pub events: Vec<ScheduledEvent, MAX_EVENTS>,
    /// Scripted spans in which reads fail.
    pub outages: Vec<Outage, MAX_OUTAGES>,
}

/// A scripted list is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConfigFull;

impl core::fmt::Display for ConfigFull {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "simulation script is full (at most {MAX_EVENTS} events and {MAX_OUTAGES} outages)"
        )
    }
}

impl core::error::Error for ConfigFull {}

impl SimConfig {
    /// Adds `event` at true time `at_ns`.
    ///
    /// # Errors
    /// [`ConfigFull`] when [`MAX_EVENTS`] events are already scheduled.
    pub fn push_event(&mut self, at_ns: u64, event: Event) -> Result<(), ConfigFull> {
        self.events
            .push(ScheduledEvent { at_ns, event })
            .map_err(|_| ConfigFull)
    }

    /// Builder form of [`SimConfig::push_event`].
    ///
    /// # Errors
    /// [`ConfigFull`] when [`MAX_EVENTS`] events are already scheduled.
    pub fn with_event(mut self, at_ns: u64, event: Event) -> Result<Self, ConfigFull> {
        self.push_event(at_ns, event)?;
        Ok(self)
    }

    /// Adds an outage.
    ///
    /// # Errors
    /// [`ConfigFull`] when [`MAX_OUTAGES`] outages are already scheduled.
    pub fn push_outage(&mut self, outage: Outage) -> Result<(), ConfigFull> {
        self.outages.push(outage).map_err(|_| ConfigFull)
    }
}

/// The local oscillator: its natural frequency error and random-walk wander.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct OscillatorConfig {
    /// Local − reference at true time 0, ns; positive = local ahead.
    /// Default +500 000 000 (+0.5 s).
    pub initial_offset_ns: i64,
    /// Natural frequency error at true time 0, ppb; positive = local runs
    /// fast. Default +50 000 (+50 ppm). Clamped to ±5·10⁸ (±50 %); non-finite → 0.
    pub initial_freq_ppb: f64,
    /// Random-walk frequency wander w, ppb/√s: every `wander_step_ns` the
    /// frequency moves by w·√(step in s)·N(0,1) ppb, so its variance after
    /// N s is w²·N ppb². Default 1.0. Clamped to `0..=1e6`; non-finite → 0.
    pub wander_ppb_per_sqrt_s: f64,
    /// Interval of the wander steps, ns of true time. Default 1 s.
    /// Clamped to `1_000_000..=1_000_000_000_000` (1 ms … 1000 s).
    pub wander_step_ns: u64,
}

impl Default for OscillatorConfig {
    fn default() -> Self {
        Self {
            initial_offset_ns: 500_000_000,
            initial_freq_ppb: 50_000.0,
            wander_ppb_per_sqrt_s: 1.0,
            wander_step_ns: 1_000_000_000,
        }
    }
}

/// An oscillator class for holdover: its random-walk wander, its
/// sensitivity to temperature and how fast it follows a temperature step.
/// The figures are typical of the class (datasheet orders of magnitude),
/// not of one part.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct OscillatorClass {
    /// A short name (`TCXO`, `OCXO`).
    pub name: &'static str,
    /// Natural frequency error at the start, ppb.
    pub initial_freq_ppb: f64,
    /// Random-walk wander, ppb/√s.
    pub wander_ppb_per_sqrt_s: f64,
    /// Frequency change per kelvin near room temperature, ppb/K.
    pub ppb_per_kelvin: f64,
    /// How long the frequency takes to follow a temperature step (the
    /// change is a linear ramp over this), ns.
    pub thermal_ns: u64,
}

impl OscillatorClass {
    /// A TCXO: ±0.5 ppm over −40…85 °C compensated, about 10 ppb/K
    /// locally; random walk 0.1 ppb/√s (Allan deviation 3.5·10⁻⁹ at 1 h);
    /// follows a step of the air around it in 10 min.
    pub const TCXO: Self = Self {
        name: "TCXO",
        initial_freq_ppb: 1_500.0,
        wander_ppb_per_sqrt_s: 0.1,
        ppb_per_kelvin: 10.0,
        thermal_ns: 600_000_000_000,
    };

    /// An OCXO: the oven holds it to about 0.1 ppb/K; random walk
    /// 0.005 ppb/√s (Allan deviation 1.7·10⁻¹⁰ at 1 h); the oven
    /// follows a step in 30 min.
    pub const OCXO: Self = Self {
        name: "OCXO",
        initial_freq_ppb: 100.0,
        wander_ppb_per_sqrt_s: 0.005,
        ppb_per_kelvin: 0.1,
        thermal_ns: 1_800_000_000_000,
    };

    /// The local oscillator of this class, starting `initial_offset_ns`
    /// off (wander steps of 1 s).
    pub const fn oscillator(&self, initial_offset_ns: i64) -> OscillatorConfig {
        OscillatorConfig {
            initial_offset_ns,
            initial_freq_ppb: self.initial_freq_ppb,
            wander_ppb_per_sqrt_s: self.wander_ppb_per_sqrt_s,
            wander_step_ns: 1_000_000_000,
        }
    }

    /// The holdover drift allowance for this class
    /// ([`crate::engine::Engine::set_holdover_drift`]): its sensitivity
    /// times a swing of `kelvin`, ppb.
    pub fn holdover_drift(&self, kelvin: f64) -> crate::time::Ppb {
        let ppb = (self.ppb_per_kelvin * kelvin).abs() * 4_294_967_296.0;
        crate::time::Ppb::from_bits(super::rng::f64_to_i64_sat(ppb))
    }

    /// The frequency change for a temperature step of `kelvin` (positive:
    /// warmer, the frequency rises by `ppb_per_kelvin` per K): a ramp over
    /// [`OscillatorClass::thermal_ns`].
    pub fn temperature_step(&self, kelvin: f64) -> Event {
        let secs = self.thermal_ns as f64 / 1e9;
        Event::FreqRamp {
            rate_ppb_per_s: kelvin * self.ppb_per_kelvin / secs,
            duration_ns: self.thermal_ns,
        }
    }
}

/// The reference clock: true time plus scripted steps plus an epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ReferenceConfig {
    /// The noise-free reference reading at true time 0, ns since the Unix
    /// epoch. Default 1.7·10⁹ s (November 2023), so timestamps look real.
    pub epoch_ns: u64,
}

impl Default for ReferenceConfig {
    fn default() -> Self {
        Self {
            epoch_ns: 1_700_000_000 * crate::time::NANOS_PER_SEC,
        }
    }
}

/// A set of read methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Methods {
    /// `PTP_SYS_OFFSET_PRECISE`.
    pub precise: bool,
    /// `PTP_SYS_OFFSET_EXTENDED`.
    pub extended: bool,
    /// `PTP_SYS_OFFSET`.
    pub basic: bool,
}

impl Methods {
    /// All three methods.
    pub const ALL: Self = Self {
        precise: true,
        extended: true,
        basic: true,
    };
    /// No method.
    pub const NONE: Self = Self {
        precise: false,
        extended: false,
        basic: false,
    };
    /// What `ptp_kvm` offers: PRECISE (with a TSC host clocksource) and BASIC.
    pub const PTP_KVM: Self = Self {
        precise: true,
        extended: false,
        basic: true,
    };

    /// Is `m` in the set?
    pub const fn contains(self, m: ReadMethod) -> bool {
        match m {
            ReadMethod::Precise => self.precise,
            ReadMethod::Extended => self.extended,
            ReadMethod::Basic => self.basic,
        }
    }
}

impl Default for Methods {
    fn default() -> Self {
        Self::ALL
    }
}

/// The PHC read model: noise, outliers, delays and transient failures.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ReadConfig {
    /// Methods the simulated device implements; the others fail with
    /// [`super::SimReadError::NotSupported`]. Default all.
    pub supported: Methods,
    /// σ of the white Gaussian error on every PHC (reference) reading, ns.
    /// Default 10. Clamped to `0..=1e12`; non-finite → 0.
    pub noise_ns: f64,
    /// Occasional large reading errors.
    pub outliers: OutlierConfig,
    /// Read delays of EXTENDED and BASIC reads (PRECISE has none).
    pub delay: DelayConfig,
    /// Probability that a read fails with [`super::SimReadError::Busy`]
    /// (like `EBUSY`). Default 0. Clamped to `0..=1`; non-finite → 0.
    pub busy_probability: f64,
}

impl Default for ReadConfig {
    fn default() -> Self {
        Self {
            supported: Methods::ALL,
            noise_ns: 10.0,
            outliers: OutlierConfig::default(),
            delay: DelayConfig::default(),
            busy_probability: 0.0,
        }
    }
}

/// Outliers on PHC readings: with probability `probability` a reading that is
/// not already part of a burst starts a burst of `burst_len` consecutive
/// readings (counted per PHC timestamp, i.e. per sample) that carry an extra
/// error of `size_ns`. The fraction of affected readings is
/// p·B / (1 + p·(B − 1)), which is p for isolated outliers (B = 1).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct OutlierConfig {
    /// Probability p that a burst starts at a reading, `0..=1` (clamped;
    /// non-finite → 0). Default 0.
    pub probability: f64,
    /// Extra error S added to the PHC reading, ns: a positive S makes the PHC
    /// read late (the measured offset local − PHC too small). Clamped to
    /// ±1e15; non-finite → 0. Default 100 000 (100 µs).
    pub size_ns: f64,
    /// `false`: every outlier is +S. `true`: each burst is +S or −S with equal
    /// probability. Default `false`.
    pub two_sided: bool,
    /// Burst length B, readings; 0 is read as 1. Default 1 (isolated).
    pub burst_len: u32,
}

impl Default for OutlierConfig {
    fn default() -> Self {
        Self {
            probability: 0.0,
            size_ns: 100_000.0,
            two_sided: false,
            burst_len: 1,
        }
    }
}

/// Delay model of EXTENDED and BASIC reads, in ns of true time.
///
/// Each sample spans `base_ns` plus an exponential jitter of mean
/// `jitter_mean_ns`, plus, during bursts, a second exponential delay of mean
/// `burst_extra_mean_ns`. The PHC is latched after the fraction `asymmetry` of
/// the constant part; each random delay is one interruption that falls before
/// the PHC latch with probability `asymmetry` and after it otherwise, so on
/// average the PHC is latched at the fraction `asymmetry` of the interval, and
/// the midpoint error of a sample grows with its interval (as on real
/// hardware, which is what makes shortest-interval selection work). BASIC
/// reads add `basic_extra_ns` on each side of the latch (the driver's
/// overhead, outside the cross-timestamp window) and share timestamps between
/// neighbouring triples, as `PTP_SYS_OFFSET` does. Samples follow each other
/// without gaps.
///
/// All delays are clamped to `0..=1e9` ns (non-finite → 0).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DelayConfig {
    /// Constant part of each sample's interval, ns. Default 1000.
    pub base_ns: f64,
    /// Mean of the exponential jitter added to each sample, ns. Default 100.
    pub jitter_mean_ns: f64,
    /// Fraction of the interval before the PHC latch, `0..=1` (clamped;
    /// non-finite → 0.5). 0.5 = midpoint, no bias; larger values make the PHC
    /// read late, i.e. the measured offset biased by (0.5 − asymmetry)·interval.
    /// Default 0.5.
    pub asymmetry: f64,
    /// Mean of the extra exponential delay of each sample during a burst, ns.
    /// Default 0.
    pub burst_extra_mean_ns: f64,
    /// Bursts are on for `burst_on` of every `burst_period` sampled reads
    /// (the last `burst_on` of each period, counting successful EXTENDED and
    /// BASIC reads from 0; `burst_on` is clamped to `burst_period`). Default 0.
    pub burst_on: u32,
    /// Length of a burst period, reads; 0 = no bursts. Default 0.
    pub burst_period: u32,
    /// BASIC only: extra fixed delay on each side of the PHC latch, ns.
    /// Default 250.
    pub basic_extra_ns: f64,
}

impl Default for DelayConfig {
    fn default() -> Self {
        Self {
            base_ns: 1000.0,
            jitter_mean_ns: 100.0,
            asymmetry: 0.5,
            burst_extra_mean_ns: 0.0,
            burst_on: 0,
            burst_period: 0,
            basic_extra_ns: 250.0,
        }
    }
}

/// The kernel's clock interface (`clock_adjtime` on `CLOCK_REALTIME`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ActuatorConfig {
    /// `USER_HZ` used to interpret `timex.tick`. Default 100. Clamped to `1..=1000`.
    pub user_hz: u32,
    /// The frequency already in the kernel at true time 0 (e.g. persisted by
    /// a previous run). Clamped like a write. Default nominal tick, freq 0.
    pub initial: KernelFreq,
    /// Delay between a frequency write and the clock running at the new
    /// frequency, ns of true time ("old kernel": up to one tick). Default 0
    /// (immediate, like kernels ≥ 4.19). Clamped to `0..=1e10` (10 s).
    pub freq_delay_ns: u64,
    /// True time one write (frequency or step) spends in the kernel before
    /// it acts, ns: the clock runs on meanwhile, and a caller that reads it
    /// afterwards sees the time pass (a guest's syscall path; milliseconds
    /// under QEMU's TCG). Default 0. Clamped to `0..=1e9` (1 s).
    pub syscall_ns: u64,
    /// A span of true time `(start_ns, duration_ns)` in which the clock
    /// refuses writes (`clock_adjtime` fails with `EPERM`: the capability
    /// taken away, a seccomp or container policy); the caller asks
    /// [`super::World::clock_writes_denied`]. Default none.
    pub writes_denied: Option<(u64, u64)>,
}

impl Default for ActuatorConfig {
    fn default() -> Self {
        Self {
            user_hz: KernelFreq::USER_HZ,
            initial: KernelFreq {
                tick_us: KernelFreq::nominal_tick_us(KernelFreq::USER_HZ),
                freq: crate::time::ScaledPpm(0),
            },
            freq_delay_ns: 0,
            syscall_ns: 0,
            writes_denied: None,
        }
    }
}

/// An event at a true time.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ScheduledEvent {
    /// When, ns of true time.
    pub at_ns: u64,
    /// What.
    pub event: Event,
}

/// A scripted event. Frequencies: ppb, positive = local runs fast. Time steps:
/// ns, applied to the named clock (positive = that clock jumps forward).
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Event {
    /// The oscillator's natural frequency jumps by `delta_ppb` (clamped ±5·10⁸).
    FreqStep {
        /// Frequency change, ppb.
        delta_ppb: f64,
    },
    /// The natural frequency ramps linearly at `rate_ppb_per_s` for
    /// `duration_ns`, then keeps the reached value (e.g. a thermal drift).
    /// Integrated exactly. `rate × duration` is clamped to ±5·10⁸ ppb.
    FreqRamp {
        /// Slope, ppb per second.
        rate_ppb_per_s: f64,
        /// Length of the ramp, ns.
        duration_ns: u64,
    },
    /// The natural frequency gains `amplitude_ppb · sin(2π (t − at) / period)`
    /// for `duration_ns` (then drops back to 0). Integrated exactly.
    FreqSine {
        /// Amplitude, ppb (clamped ±5·10⁸).
        amplitude_ppb: f64,
        /// Period, ns (at least 1 ms).
        period_ns: u64,
        /// Length, ns; `u64::MAX` = forever.
        duration_ns: u64,
    },
    /// Someone else steps the local (system) clock by `delta_ns`.
    LocalStep {
        /// Step, ns; positive = the local clock jumps ahead.
        delta_ns: i64,
    },
    /// The reference (host clock) jumps by `delta_ns`, e.g. −1 s for an
    /// inserted leap second on a UTC reference.
    ReferenceStep {
        /// Step, ns; positive = the reference jumps ahead.
        delta_ns: i64,
    },
    /// The reference (host clock) changes its rate against true time by
    /// `delta_ppb` from now on (a host that drifts); added to earlier changes,
    /// the total clamped to ±5·10⁸. Integrated exactly into the reference's
    /// phase: PHC reads, [`super::World::reference_time`] and
    /// [`super::World::true_offset_ns`] include it,
    /// [`super::World::truth_time`] does not.
    ReferenceFreq {
        /// Rate change, ppb; positive = the reference runs fast.
        delta_ppb: f64,
    },
    /// Another process writes the kernel frequency (counted apart from the
    /// driver's writes; subject to the actuator's delay).
    ForeignFrequency {
        /// The written value (clamped as the kernel does).
        freq: KernelFreq,
    },
    /// Live migration: the natural frequency jumps by `freq_step_ppb`, the
    /// local clock by `time_step_ns`, and the guest is frozen for `pause_ns`
    /// (the local clock stops while the reference runs on, so local falls
    /// behind by the pause). With `signal`, a
    /// [`super::DisruptionKind::Migration`] is raised.
    Migration {
        /// Frequency change, ppb (clamped ±5·10⁸).
        freq_step_ppb: f64,
        /// Local clock step, ns; positive = local jumps ahead.
        time_step_ns: i64,
        /// Freeze, ns of true time.
        pause_ns: u64,
        /// Raise the disruption marker (vmclock-style).
        signal: bool,
    },
    /// The PHC's read noise changes to `noise_ns` (standard deviation, ns):
    /// a host under load, a read path that lost PRECISE.
    ReadNoise {
        /// The new standard deviation, ns (clamped to 0…10¹²).
        noise_ns: f64,
    },
    /// Suspend/resume or snapshot restore: the guest is frozen for
    /// `sleep_ns` and its clock lags by as much afterwards. With `signal`, a
    /// [`super::DisruptionKind::Resume`] is raised.
    Suspend {
        /// Sleep, ns of true time.
        sleep_ns: u64,
        /// Raise the disruption marker.
        signal: bool,
    },
}

/// How reads fail during an [`Outage`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum OutageKind {
    /// The device is gone ([`super::SimReadError::NoDevice`], like `ENODEV`).
    NoDevice,
    /// The method stopped working ([`super::SimReadError::NotSupported`], like
    /// `EOPNOTSUPP` from PRECISE after moving to a host without a TSC clocksource).
    NotSupported,
}

/// A span of true time `[start_ns, start_ns + duration_ns)` in which reads of
/// `methods` fail with `kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Outage {
    /// Start, ns of true time.
    pub start_ns: u64,
    /// Length, ns (saturating at the end of time).
    pub duration_ns: u64,
    /// The methods that fail.
    pub methods: Methods,
    /// How they fail.
    pub kind: OutageKind,
}

impl Outage {
    /// Is true time `t` inside the outage?
    pub const fn covers(&self, t: u64) -> bool {
        t >= self.start_ns && t.wrapping_sub(self.start_ns) < self.duration_ns
    }
}

//! Servos: what to do with the clock, given offset samples.
//!
//! The vocabulary is linuxptp's, so its users feel at home: states
//! [`ServoState::Unlocked`] → [`ServoState::Jump`] → [`ServoState::Locked`] →
//! [`ServoState::LockedStable`], a first step threshold, a step threshold and a
//! maximum frequency. The split is linuxptp's too: a small shared
//! [`Dispatcher`] owns the thresholds and the stable counter, and small
//! servo implementations behind the [`Servo`] trait own the arithmetic.
//!
//! Nothing here touches a clock. [`Servo::sample`] *returns* what to do; the
//! caller applies it and reports back with [`Servo::applied`], so the servo's
//! history is re-framed after its own corrections (and stays right when a step
//! fails).
//!
//! **Pull mode.** A caller that cannot report (a daemon behind linuxptp's
//! `servo.h`: sample in, frequency out) may skip [`Servo::applied`] and
//! [`Servo::applied_at`]. The servos then take their last output as applied
//! exactly as returned, at the time of the sample it answered, when the next
//! sample (or [`Servo::no_sample`]) comes. What goes unnoticed: a failed or
//! different step, a frequency the caller clamped, and the delay between the
//! reading and the adjustment; later readings see them as offset.
//!
//! Signs: offset = local − reference (positive: local ahead); a step of `X`
//! adds `X` to the local clock; the frequency in [`Action`] is the absolute
//! correction to set (positive: the clock runs faster).

mod any;
mod kalman;
mod linreg;
mod pi;

pub use any::AnyServo;
pub use kalman::{Kalman, KalmanConfig};
pub use linreg::LinReg;
pub use pi::{Pi, PiConfig};

use crate::time::{Duration, Ppb, Timestamp};

/// One measurement of the local clock against the reference.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct OffsetSample {
    /// local − reference; positive means the local clock is ahead.
    pub offset: Duration,
    /// The local clock's time of the measurement.
    pub local_ts: Timestamp,
    /// Known uncertainty of this reading (e.g. half the PHC read interval);
    /// zero when unknown or exact.
    pub uncertainty: Duration,
}

/// linuxptp's servo states.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ServoState {
    /// Not enough information yet; the clock is left alone.
    Unlocked,
    /// The clock is being stepped now.
    Jump,
    /// Tracking.
    Locked,
    /// Tracking, and the last N offsets were all within the stable threshold.
    LockedStable,
}

/// What the caller should do to the clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Action {
    /// Leave the clock alone.
    None,
    /// Set the clock's frequency correction to this value (absolute).
    SetFrequency(Ppb),
    /// Step the clock by `step` (added to it) and set the frequency. keel's
    /// engine writes the frequency first, then steps by `step` less the
    /// drift of the old frequency since the reading (see `engine`).
    Step {
        /// Added to the local clock.
        step: Duration,
        /// Frequency correction to set after the step (absolute).
        freq: Ppb,
    },
}

impl Action {
    /// The step (if any) and the frequency to set that this action asks
    /// for; `None` to leave the clock alone.
    pub const fn correction(self) -> Option<(Option<Duration>, Ppb)> {
        match self {
            Self::None => None,
            Self::SetFrequency(freq) => Some((None, freq)),
            Self::Step { step, freq } => Some((Some(step), freq)),
        }
    }
}

/// The result of one sample.
#[must_use = "the servo's output says what to do with the clock"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ServoOutput {
    /// What to do.
    pub action: Action,
    /// The state after this sample.
    pub state: ServoState,
    /// The servo's estimate of the current offset (local − reference).
    pub offset: Duration,
    /// The frequency correction in force after the action.
    pub freq: Ppb,
    /// A bound on |true offset| after the action, if this servo gives one.
    pub error_bound: Option<Duration>,
    /// When the servo wants its next sample sooner than the nominal interval
    /// (to confirm a suspect reading, or to re-acquire after a disruption):
    /// the delay from now. `None`: at the nominal interval.
    pub next_update: Option<Duration>,
}

impl ServoOutput {
    /// Leave the clock alone, with `freq` still in force, in `state`: a
    /// holdover output.
    pub const fn hold(state: ServoState, freq: Ppb) -> Self {
        Self {
            action: Action::None,
            state,
            offset: Duration::ZERO,
            freq,
            error_bound: None,
            next_update: None,
        }
    }
}

/// What the caller actually did with the last [`ServoOutput`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Applied {
    /// The step that was applied (`None` if none, or if it failed).
    pub step: Option<Duration>,
    /// The frequency correction now in force.
    pub freq: Ppb,
}

/// Thresholds and limits shared by every servo (linuxptp names in brackets).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ServoConfig {
    /// Step on the first update when |offset| exceeds this (`first_step_threshold`);
    /// zero disables. Default 20 µs.
    pub first_step_threshold: Duration,
    /// Step whenever |offset| exceeds this (`step_threshold`); zero disables.
    /// Default zero.
    pub step_threshold: Duration,
    /// The largest frequency correction ever output (`max_frequency`).
    /// Default 10 % + 500 ppm, the range of Linux's `CLOCK_REALTIME`.
    pub max_frequency: Ppb,
    /// |offset| below this counts toward [`ServoState::LockedStable`]
    /// (`servo_offset_threshold`); zero disables the stable state.
    pub stable_threshold: Duration,
    /// How many consecutive offsets within `stable_threshold` make the state
    /// stable (`servo_num_offset_values`). Default 10.
    pub stable_count: u16,
}

impl Default for ServoConfig {
    fn default() -> Self {
        Self {
            first_step_threshold: Duration::from_micros(20),
            step_threshold: Duration::ZERO,
            max_frequency: Ppb::from_ppb(100_500_000),
            stable_threshold: Duration::ZERO,
            stable_count: 10,
        }
    }
}

impl ServoConfig {
    /// Would an offset of this size be stepped now?
    pub fn wants_step(&self, offset: Duration, first_update: bool) -> bool {
        let mag = offset.saturating_abs();
        (first_update
            && self.first_step_threshold > Duration::ZERO
            && mag > self.first_step_threshold)
            || (self.step_threshold > Duration::ZERO && mag > self.step_threshold)
    }
}

/// The common servo interface (linuxptp's `servo_sample`, `servo_reset`,
/// `servo_sync_interval`, plus keel's feedback and disruption inputs).
pub trait Servo {
    /// Take one sample; returns what to do.
    fn sample(&mut self, s: &OffsetSample) -> ServoOutput;
    /// Report what was applied after the last output.
    fn applied(&mut self, a: &Applied);
    /// The nominal update interval.
    fn set_interval(&mut self, interval: Duration);
    /// The corrections of the last output took effect at local time `at`
    /// (read right after applying them), later than the sample they answer:
    /// until then the previous frequency was still in force. A servo that
    /// models its own corrections accounts for the gap (tens of ppm over a
    /// few ms is a few hundred ns at start-up). The default ignores it.
    fn applied_at(&mut self, at: Timestamp) {
        let _ = at;
    }
    /// A frequency known before the first readings (e.g. from a state file):
    /// the correction that kept the clock on time and its standard
    /// deviation. Servos that cannot use it ignore it.
    fn set_frequency_prior(&mut self, correction: Ppb, sd: Ppb) {
        let _ = (correction, sd);
    }
    /// The readings now come from another reference whose rate differs
    /// from the old one's by `shift` (positive: the old reference ran
    /// faster, so the correction that held the clock on it was `shift` too
    /// high): a servo that estimates the clock's rate against its reference
    /// moves that estimate and widens its uncertainty by as much, keeping
    /// the rest. The default ignores it.
    fn reference_rate_changed(&mut self, shift: Ppb) {
        let _ = shift;
    }
    /// Changes the thresholds and limits (e.g. a step policy that allows
    /// steps only during the first N updates); the learnt state is kept.
    fn set_config(&mut self, config: ServoConfig);
    /// Forget the history; keep the frequency in force.
    fn reset(&mut self);
    /// The clock or the reference was disrupted (live migration, resume):
    /// throw away the estimate and re-acquire.
    fn disruption(&mut self) {
        self.reset();
    }
    /// The current state.
    fn state(&self) -> ServoState;
    /// No reading could be taken at `local_ts` (outage): hold over. The
    /// default leaves the clock alone.
    fn no_sample(&mut self, local_ts: Timestamp) -> ServoOutput {
        let _ = local_ts;
        ServoOutput::hold(self.state(), Ppb::ZERO)
    }
    /// A bound on |true offset| at local time `local_ts`, if this servo gives one.
    fn error_bound(&self, local_ts: Timestamp) -> Option<Duration> {
        let _ = local_ts;
        None
    }
    /// Does this servo carry an error bound ([`Servo::error_bound`])? For
    /// one that does, "locked" is earned only with a bound; linuxptp's PI
    /// and linreg servos carry none, so their own states stand (as in
    /// phc2sys).
    fn gives_bound(&self) -> bool {
        false
    }
}

/// The shared dispatcher: tracks the first update and the stable counter
/// around an estimator's state (linuxptp `servo.c`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Dispatcher {
    /// The thresholds and limits.
    pub config: ServoConfig,
    first_update: bool,
    stable_left: u16,
    state: ServoState,
}

impl Dispatcher {
    /// A dispatcher at its first update.
    pub const fn new(config: ServoConfig) -> Self {
        Self {
            config,
            first_update: true,
            stable_left: config.stable_count,
            state: ServoState::Unlocked,
        }
    }

    /// Is the next update the first one (the first step threshold applies)?
    pub const fn first_update(&self) -> bool {
        self.first_update
    }

    /// The last state.
    pub const fn state(&self) -> ServoState {
        self.state
    }

    /// Folds an estimator's state for `offset` into the dispatcher's, applying
    /// the stable-state rule. Returns the state to report.
    pub fn settle(&mut self, state: ServoState, offset: Duration) -> ServoState {
        let out = match state {
            ServoState::Unlocked => {
                self.stable_left = self.config.stable_count;
                ServoState::Unlocked
            }
            ServoState::Jump => {
                self.stable_left = self.config.stable_count;
                self.first_update = false;
                ServoState::Jump
            }
            ServoState::Locked | ServoState::LockedStable => {
                self.first_update = false;
                if self.config.stable_threshold > Duration::ZERO
                    && offset.saturating_abs() < self.config.stable_threshold
                {
                    self.stable_left = self.stable_left.saturating_sub(1);
                } else {
                    self.stable_left = self.config.stable_count;
                }
                if self.config.stable_threshold > Duration::ZERO && self.stable_left == 0 {
                    ServoState::LockedStable
                } else {
                    ServoState::Locked
                }
            }
        };
        self.state = out;
        out
    }

    /// Back to the first update (after a disruption).
    pub fn restart(&mut self) {
        *self = Self::new(self.config);
    }
}

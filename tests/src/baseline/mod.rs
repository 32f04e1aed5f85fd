//! Reference baselines: linuxptp's PI and linreg servos as phc2sys runs them,
//! rebuilt in floating point from the published algorithm (reference notes
//! §1.3–1.5). They exist to show the simulator is honest — in the standard
//! model they must reproduce the figures measured in clknetsim — and to stand
//! beside keel's own servos in the scenario report.

mod linreg;
mod pi;

pub use linreg::LinReg;
pub use pi::Pi;

use crate::runner::{Correction, Sample, ServoUnderTest};

/// linuxptp's servo states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Not enough samples yet.
    Unlocked,
    /// Step the clock now, then treat as locked.
    Jump,
    /// Tracking.
    Locked,
}

/// The six-function servo interface of linuxptp, reduced to what phc2sys uses.
pub trait LinuxptpServo {
    /// One sample: `offset_ns` = sink − source (local − reference), `local_ns`
    /// the sink's time of the sample. Returns linuxptp's `ppb` (phc2sys sets the
    /// clock's frequency to `-ppb`) and the state.
    fn sample(&mut self, offset_ns: f64, local_ns: u64, first_update: bool) -> (f64, State);
    /// `servo_sync_interval`: the update interval in seconds.
    fn sync_interval(&mut self, interval_s: f64);
    /// Forget everything.
    fn reset(&mut self);
}

/// phc2sys's step thresholds (`-F`, `-S`) and `max_frequency`, defaults as shipped.
#[derive(Clone, Copy, Debug)]
pub struct Phc2sysConfig {
    /// `first_step_threshold`, ns (20 µs).
    pub first_step_threshold_ns: f64,
    /// `step_threshold`, ns (0 = never step after the first update).
    pub step_threshold_ns: f64,
    /// `max_frequency`, ppb (the system clock's 10 % tick range, less than the
    /// configured 900 000 000).
    pub max_frequency_ppb: f64,
}

impl Default for Phc2sysConfig {
    fn default() -> Self {
        Self {
            first_step_threshold_ns: 20_000.0,
            step_threshold_ns: 0.0,
            max_frequency_ppb: 100_500_000.0,
        }
    }
}

/// phc2sys's `update_clock` around a linuxptp servo: JUMP steps by `-offset`,
/// LOCKED sets the frequency to `-ppb`, UNLOCKED does nothing.
pub struct Phc2sys<S> {
    name: &'static str,
    servo: S,
    first_update: bool,
}

impl<S: LinuxptpServo> Phc2sys<S> {
    /// Wraps `servo` under the display name `name`.
    pub fn new(name: &'static str, mut servo: S, interval_s: f64) -> Self {
        servo.sync_interval(interval_s);
        Self {
            name,
            servo,
            first_update: true,
        }
    }
}

impl<S: LinuxptpServo> ServoUnderTest for Phc2sys<S> {
    fn name(&self) -> String {
        self.name.into()
    }

    fn update(&mut self, s: &Sample) -> Correction {
        #[allow(
            clippy::cast_precision_loss,
            reason = "offsets in the simulation are far below 2^53 ns"
        )]
        let offset = s.offset.as_nanos() as f64;
        let (ppb, state) = self
            .servo
            .sample(offset, s.local_ts.as_nanos(), self.first_update);
        match state {
            State::Unlocked => Correction::default(),
            State::Jump => {
                self.first_update = false;
                #[allow(clippy::cast_possible_truncation, reason = "a finite offset in ns")]
                let step = -offset as i64;
                Correction {
                    step_ns: Some(step),
                    freq_ppb: Some(-ppb),
                    next_update_ns: None,
                }
            }
            State::Locked => {
                self.first_update = false;
                Correction {
                    step_ns: None,
                    freq_ppb: Some(-ppb),
                    next_update_ns: None,
                }
            }
        }
    }

    fn disruption(&mut self) {
        // phc2sys has no disruption input; it carries on.
    }
}

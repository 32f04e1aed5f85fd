//! [`AnyServo`]: one of keel's servos chosen at run time, without allocation
//! (a `keel.toml` `servo = "kalman" | "pi" | "linreg"`).

use super::{
    Applied, Kalman, LinReg, OffsetSample, Pi, Servo, ServoConfig, ServoOutput, ServoState,
};
use crate::time::{Duration, Ppb, Timestamp};

/// One of keel's servos, chosen at run time.
#[derive(Clone, Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "caller-owned storage: the largest servo is what gets reserved anyway"
)]
pub enum AnyServo {
    /// keel's default estimator.
    Kalman(Kalman),
    /// linuxptp's PI servo.
    Pi(Pi),
    /// linuxptp's linear-regression servo.
    LinReg(LinReg),
}

macro_rules! each {
    ($self:expr, $s:ident => $e:expr) => {
        match $self {
            AnyServo::Kalman($s) => $e,
            AnyServo::Pi($s) => $e,
            AnyServo::LinReg($s) => $e,
        }
    };
}

impl Servo for AnyServo {
    fn sample(&mut self, s: &OffsetSample) -> ServoOutput {
        each!(self, x => x.sample(s))
    }
    fn applied(&mut self, a: &Applied) {
        each!(self, x => x.applied(a));
    }
    fn set_interval(&mut self, interval: Duration) {
        each!(self, x => x.set_interval(interval));
    }
    fn applied_at(&mut self, at: Timestamp) {
        each!(self, x => x.applied_at(at));
    }
    fn set_frequency_prior(&mut self, correction: Ppb, sd: Ppb) {
        each!(self, x => x.set_frequency_prior(correction, sd));
    }
    fn reference_rate_changed(&mut self, shift: Ppb) {
        each!(self, x => x.reference_rate_changed(shift));
    }
    fn set_config(&mut self, config: ServoConfig) {
        each!(self, x => x.set_config(config));
    }
    fn reset(&mut self) {
        each!(self, x => x.reset());
    }
    fn disruption(&mut self) {
        each!(self, x => x.disruption());
    }
    fn state(&self) -> ServoState {
        each!(self, x => x.state())
    }
    fn no_sample(&mut self, local_ts: Timestamp) -> ServoOutput {
        each!(self, x => x.no_sample(local_ts))
    }
    fn error_bound(&self, local_ts: Timestamp) -> Option<Duration> {
        each!(self, x => x.error_bound(local_ts))
    }
    fn gives_bound(&self) -> bool {
        each!(self, x => x.gives_bound())
    }
}

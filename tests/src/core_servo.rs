//! Runs any `keel_core::servo::Servo` under the scenario runner.

use keel_core::servo::{Applied, OffsetSample, Servo, ServoOutput};
use keel_core::time::{Duration, Timestamp};

use crate::runner::{Correction, Sample, ServoUnderTest};

/// A core servo with a display name.
pub struct CoreServo<S> {
    name: &'static str,
    servo: S,
}

impl<S: Servo> CoreServo<S> {
    /// Wraps `servo`.
    pub fn new(name: &'static str, servo: S) -> Self {
        Self { name, servo }
    }
}

impl<S: Servo> CoreServo<S> {
    fn apply(&mut self, out: &ServoOutput) -> Correction {
        let next_update_ns = out
            .next_update
            .and_then(|d| u64::try_from(d.as_nanos()).ok());
        let Some((step, freq)) = out.action.correction() else {
            return Correction {
                next_update_ns,
                ..Correction::default()
            };
        };
        // The runner applies exactly what is asked.
        self.servo.applied(&Applied { step, freq });
        Correction {
            step_ns: step.map(Duration::as_nanos),
            freq_ppb: Some(freq.to_f64()),
            next_update_ns,
        }
    }
}

impl<S: Servo> ServoUnderTest for CoreServo<S> {
    fn name(&self) -> String {
        self.name.into()
    }

    fn update(&mut self, s: &Sample) -> Correction {
        let out = self.servo.sample(&OffsetSample {
            offset: s.offset,
            local_ts: s.local_ts,
            uncertainty: Duration::from_nanos(s.delay.as_nanos() / 2),
        });
        self.apply(&out)
    }

    fn no_sample(&mut self, local_ts: Timestamp) -> Correction {
        let out = self.servo.no_sample(local_ts);
        self.apply(&out)
    }

    fn disruption(&mut self) {
        self.servo.disruption();
    }

    fn error_bound_ns(&self, local_ts: Timestamp) -> Option<f64> {
        #[allow(clippy::cast_precision_loss, reason = "report-side conversion")]
        self.servo
            .error_bound(local_ts)
            .map(|d| d.as_nanos() as f64)
    }
}

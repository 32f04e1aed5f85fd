//! The error bound: the predicted offset plus `bound_sigmas` standard
//! deviations of the bound's covariance, reaching any suspect readings not
//! judged yet, plus the reads' asymmetry and the reference's own error.

use super::{Kalman, Stage};
use crate::num::Real;
use crate::time::{Duration, Timestamp};

impl Kalman {
    /// A bound on |true offset| at local time `t`.
    pub fn error_bound_at(&self, t: Timestamp) -> Duration {
        if self.stage != Stage::Tracking {
            return Duration::MAX;
        }
        let local_dt = t.duration_since(self.t_last).as_nanos().max(0);
        if local_dt == 0 {
            return self.bound_at_last(self.x_real());
        }
        let frame = self.frame();
        let (_, s) = frame.reference_span(local_dt);
        let cov = self.bound_cov.unwrap_or(self.cov);
        let mean = self.x_real() + frame.rate * s;
        let lag = self.lag_error.map_or(Real::ZERO, |(ex, ef)| ex + ef * s);
        self.bound(
            mean,
            lag,
            self.suspect_trend_at(t, mean),
            self.spread(cov.predict(s, self.bound_wander()).p00),
        )
    }

    /// Held suspects extended along their line to local time `t`, |ns|,
    /// for the predicted offset `mean` there (ns): until they are judged,
    /// the offset may be growing as they show (a frequency change). Two on
    /// one side: along the line through them. One: along the line from the
    /// prediction it missed, as if the frequency had changed at the update
    /// before it: the least drift it implies (a change later in that span
    /// drifts faster; the re-read 1/16 interval later measures the line).
    /// Zero otherwise.
    fn suspect_trend_at(&self, t: Timestamp, mean: Real) -> Real {
        let (trend, ratio) = match self.suspects {
            [Some(a), Some(b)] => {
                let span = b.local_ts.duration_since(a.local_ts).as_nanos();
                let ahead = t.duration_since(b.local_ts).as_nanos();
                if (a.innovation < 0) != (b.innovation < 0) || span <= 0 || ahead <= 0 {
                    return Real::ZERO;
                }
                let (oa, ob) = (
                    Real::from_i64(a.offset.as_nanos()),
                    Real::from_i64(b.offset.as_nanos()),
                );
                let ratio = Real::from_i64(ahead) / Real::from_i64(span);
                (ob + (ob - oa) * ratio, ratio)
            }
            [Some(a), None] => {
                let ahead = t.duration_since(a.local_ts).as_nanos();
                if a.span_ns <= 0 || ahead <= 0 {
                    return Real::ZERO;
                }
                // The innovation grew over `span_ns` and goes on growing
                // at that rate on top of the prediction.
                let ratio = Real::from_i64(ahead) / Real::from_i64(a.span_ns);
                let inn = Real::from_i64(a.innovation);
                (mean + inn + inn * ratio, ratio)
            }
            _ => return Real::ZERO,
        };
        // The line's own uncertainty there: two readings' difference,
        // `bound_sigmas` standard deviations, carried `ratio` spans on.
        trend.abs() + self.spread(self.r_basis.scale2(1)) * ratio
    }

    /// Is there an error bound yet (see
    /// [`Servo::error_bound`](crate::servo::Servo::error_bound))?
    pub(super) fn bound_known(&self) -> bool {
        self.stage == Stage::Tracking && self.noise.model().is_some()
    }

    /// The error bound at the last update, for the offset estimate `x` (ns).
    pub(super) fn bound_at_last(&self, x: Real) -> Duration {
        let spread = match (self.bound_cov, self.steady_cycle()) {
            (Some(b), _) => self.spread(b.p00),
            (None, Some(c)) => c.spread,
            (None, None) => self.spread(self.cov.p00),
        };
        let lag = self.lag_error.map_or(Real::ZERO, |(ex, _)| ex);
        self.bound(x, lag, Real::ZERO, spread)
    }

    /// The error bound for an offset estimate `mean` (ns) of width `spread`
    /// ([`Kalman::spread`]), whose late frequency writes may have put it
    /// off by up to `lag` (ns, estimate − truth), reaching at least `trend`
    /// (ns).
    fn bound(&self, mean: Real, lag: Real, trend: Real, spread: Real) -> Duration {
        // Suspect readings not judged yet may be right (a step, a frequency
        // change): the bound reaches them until they are judged.
        let reach = self
            .suspects
            .iter()
            .flatten()
            .fold(mean.abs().max((mean - lag).abs()).max(trend), |m, s| {
                m.max(Real::from_i64(s.offset.as_nanos()).abs())
            });
        // A time step confirmed on a few readings may have been a burst of
        // outliers: until enough readings agree with it, the offset may be
        // the estimate less the step.
        let reach = self.doubt.map_or(reach, |(step, _)| {
            reach.max((mean - Real::from_i64(step)).abs())
        });
        let bound = reach + spread;
        // A read's asymmetry is invisible to the filter: the PHC may have been
        // latched anywhere in the read interval, so the usual half delay is
        // added in full.
        let asymmetry = Duration::from_nanos(self.uncertainty_floor.unwrap_or(0));
        Duration::from_nanos(bound.to_i64())
            .saturating_add(asymmetry)
            .saturating_add(self.cfg.reference_error)
    }

    /// The error bound's width `bound_sigmas·σ` for offset variance `var`
    /// (ns²), ns.
    pub(super) fn spread(&self, var: Real) -> Real {
        Real::from_i64(i64::from(self.cfg.bound_sigmas)) * var.sqrt()
    }
}

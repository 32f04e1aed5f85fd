//! keel's engine disciplining the simulated world's clock from a simulated
//! GNSS receiver ([`super::gnss`]): the pulses and the NMEA bytes go through
//! the whole path (line assembler, parser, [`Tod`], the engine's labeller)
//! to the servo, and the engine's commands steer the world, as `keel sync
//! --source pps:…` will. A plan adds a GNSS outage (no pulses, no
//! sentences) and temperature steps of an [`OscillatorClass`] inside it, to
//! measure holdover: whether the stated bound holds the truth all through
//! the outage, how tight it is at its end, and what the return costs.
//!
//! Loop time is the world's true time (the raw oscillator modelled as true
//! time, as in [`super::engine_loop`]). Errors are sink − UTC (positive: the
//! sink is ahead).

use super::gnss::{GnssConfig, GnssEvent, GnssReceiver};
use super::rng::{i64_to_f64, u64_to_f64};
use super::{OscillatorClass, SimConfig, World};
use crate::engine::{ClockCheck, Command, Engine, EngineConfig, ReadError, SourceId};
use crate::measure::pps::{PpsEdge, Tod};
use crate::servo::{Kalman, KalmanConfig};
use crate::time::{Duration, KernelFreq, Ppb};
use crate::wire::nmea::{LineAssembler, Repr};

use super::engine_loop::adjust_world;

const S: u64 = 1_000_000_000;

/// What to run.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PpsEnginePlan {
    /// The receiver.
    pub gnss: GnssConfig,
    /// The local oscillator.
    pub oscillator: OscillatorClass,
    /// The sink's offset at the start, ns.
    pub initial_offset_ns: i64,
    /// True seconds before the outage (the steady window is its second
    /// half).
    pub lock_s: u64,
    /// The outage's length, s (0: none).
    pub outage_s: u64,
    /// Temperature steps inside the outage: (when, as a fraction of the
    /// outage in 1/1000, and by how many K).
    pub temperature: [(u32, f64); 2],
    /// True seconds after the outage.
    pub after_s: u64,
    /// The engine's holdover drift allowance
    /// ([`Engine::set_holdover_drift`]); `None`: its default.
    pub holdover_drift: Option<Ppb>,
}

impl PpsEnginePlan {
    /// Kernel PPS (σ 1 µs) with RMC 0.5 s after the pulse, `lock_s` of
    /// lock, an outage of `outage_s` with the air 3 K warmer from a
    /// quarter of it to three quarters, and 10 min after.
    pub fn holdover(oscillator: OscillatorClass, lock_s: u64, outage_s: u64) -> Self {
        Self {
            gnss: GnssConfig::default(),
            oscillator,
            initial_offset_ns: 200_000_000,
            lock_s,
            outage_s,
            temperature: [(250, 3.0), (750, -3.0)],
            after_s: 600,
            holdover_drift: None,
        }
    }

    /// The world for this plan on `seed`.
    pub fn world(&self, seed: u64) -> World {
        let mut cfg = SimConfig {
            oscillator: self.oscillator.oscillator(self.initial_offset_ns),
            ..SimConfig::default()
        };
        if self.outage_s > 0 {
            for (at, k) in self.temperature {
                if k != 0.0 {
                    let into = self
                        .outage_s
                        .saturating_mul(S)
                        .saturating_mul(u64::from(at))
                        / 1000;
                    let at_ns = self.lock_s.saturating_mul(S).saturating_add(into);
                    let _ = cfg.push_event(at_ns, self.oscillator.temperature_step(k));
                }
            }
        }
        World::new(&cfg, seed)
    }
}

/// What a run measured.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PpsEngineRun {
    /// True s from the first valid sentence to the engine's first lock.
    pub lock_after_tod_s: Option<f64>,
    /// RMS of sink − UTC just before each pulse, over the second half of
    /// the lock, ns.
    pub steady_rms_ns: f64,
    /// Checks of the bound during the outage (one a second, just before
    /// each pulse that did not come) and how many the truth was outside.
    pub outage_checks: u64,
    /// Checks with |sink − UTC| > the bound (or no bound).
    pub violations: u64,
    /// |sink − UTC| and the bound at the outage's end, ns.
    pub end_error_ns: f64,
    /// The bound there, ns.
    pub end_bound_ns: f64,
    /// The largest |sink − UTC| in the outage, ns.
    pub max_outage_error_ns: f64,
    /// The largest |step| after the outage, ns (0: none).
    pub relock_max_step_ns: f64,
    /// The largest |sink − UTC| after the outage, ns.
    pub max_error_after_ns: f64,
    /// True s from the outage's end to a locked state with |sink − UTC|
    /// below 10 µs for good.
    pub relock_s: Option<f64>,
    /// The wander the filter runs on and the one its bound allows for when
    /// the outage began, ppb/√s (the servo's noise model).
    pub wander_ppb: f64,
    /// The bound's, ppb/√s.
    pub bound_wander_ppb: f64,
    /// The engine's counters at the end.
    pub counters: crate::engine::Counters,
}

/// Runs `plan` on `seed`: the engine with one PPS source (the receiver's
/// labeller configuration) on the plan's world.
#[allow(
    clippy::arithmetic_side_effects,
    reason = "float statistics; times are far below u64::MAX"
)]
pub fn run(plan: &PpsEnginePlan, seed: u64) -> PpsEngineRun {
    let mut world = plan.world(seed);
    let cfg = EngineConfig::default();
    let servo = Kalman::new(cfg.servo, KalmanConfig::default(), cfg.interval, Ppb::ZERO);
    let mut engine: Engine<Kalman> = Engine::new(cfg, servo, Ppb::ZERO, S);
    if let Some(d) = plan.holdover_drift {
        engine.set_holdover_drift(d);
    }
    let Some(id) = engine.add_pps_source(plan.gnss.labeller_config()) else {
        return PpsEngineRun::default();
    };
    let mut rx = GnssReceiver::new(&plan.gnss, seed, world.truth_time_at(0));
    let mut lines = LineAssembler::<96>::new();
    let mut run = PpsEngineRun::default();
    let out_start = plan.lock_s * S;
    let out_end = out_start + plan.outage_s * S;
    let end = out_end + plan.after_s * S;
    let steady_from = plan.lock_s / 2 * S;
    let uncertainty = Duration::from_nanos(crate::sim::rng::f64_to_i64_sat(
        plan.gnss.pps_jitter_ns + 0.5,
    ));
    let (mut sum_sq, mut n) = (0.0, 0u64);
    let mut first_tod: Option<u64> = None;
    let mut settled_since: Option<u64> = None;
    let mut wake = drain(&mut engine, &mut world, id, out_end, &mut run);
    loop {
        let ev = rx.next_event();
        let t = ev.true_ns();
        if t >= end {
            break;
        }
        while wake < t {
            world.advance_to(wake);
            wake = drain(&mut engine, &mut world, id, out_end, &mut run);
        }
        world.advance_to(t);
        let dark = t >= out_start && t < out_end;
        match ev {
            GnssEvent::Edge { second, .. } => {
                let err = world.truth_offset_ns();
                if second.is_some() {
                    if (steady_from..out_start).contains(&t) {
                        sum_sq += err * err;
                        n += 1;
                    }
                    if dark {
                        if run.outage_checks == 0 {
                            if let Some(m) = engine.servo().noise_model() {
                                let ppb = |v: crate::num::Real| {
                                    i64_to_f64(
                                        (v.sqrt() * crate::num::Real::from_i64(1_000_000)).to_i64(),
                                    ) / 1e6
                                };
                                run.wander_ppb = ppb(m.wander_var);
                                run.bound_wander_ppb = ppb(m.bound_wander_var);
                            }
                        }
                        run.outage_checks += 1;
                        let bound = engine.bound_at(world.local_time());
                        let b = bound.map_or(f64::INFINITY, |b| i64_to_f64(b.as_nanos()));
                        if bound.is_none() || err.abs() > b {
                            run.violations += 1;
                        }
                        run.max_outage_error_ns = run.max_outage_error_ns.max(err.abs());
                        run.end_error_ns = err.abs();
                        run.end_bound_ns = b;
                    }
                    if t >= out_end {
                        run.max_error_after_ns = run.max_error_after_ns.max(err.abs());
                        let ok = engine.status().state.is_locked() && err.abs() < 10_000.0;
                        if !ok {
                            settled_since = None;
                        } else if settled_since.is_none() {
                            settled_since = Some(t);
                        }
                    }
                }
                if !dark {
                    let _ = engine.on_pps_edge(
                        t,
                        id,
                        PpsEdge {
                            local: world.local_time(),
                            uncertainty,
                        },
                    );
                }
            }
            GnssEvent::Serial { bytes, len, .. } if !dark => {
                let local = world.local_time();
                for &b in bytes.iter().take(len) {
                    let Some(Ok(line)) = lines.push(b) else {
                        continue;
                    };
                    let Ok(repr) = Repr::parse_bytes(line) else {
                        continue;
                    };
                    let Some(tod) = Tod::from_nmea(&repr, local, crate::measure::pps::NMEA_DELAY)
                    else {
                        continue;
                    };
                    first_tod.get_or_insert(t);
                    let _ = engine.on_tod(id, tod);
                }
            }
            GnssEvent::Serial { .. } => {}
        }
        wake = drain(&mut engine, &mut world, id, out_end, &mut run);
        if run.lock_after_tod_s.is_none() && engine.status().state.is_locked() {
            if let Some(f) = first_tod {
                run.lock_after_tod_s = Some(u64_to_f64(t.saturating_sub(f)) / 1e9);
            }
        }
    }
    if n > 0 {
        run.steady_rms_ns = libm::sqrt(sum_sq / u64_to_f64(n));
    }
    if plan.outage_s > 0 {
        run.relock_s = settled_since.map(|s| u64_to_f64(s.saturating_sub(out_end)) / 1e9);
    }
    run.counters = engine.status().counters;
    run
}

/// Answers the engine's commands until it waits; returns when (loop time).
fn drain(
    engine: &mut Engine<Kalman>,
    world: &mut World,
    id: SourceId,
    out_end: u64,
    run: &mut PpsEngineRun,
) -> u64 {
    loop {
        let now = world.now_ns();
        match engine.poll(now) {
            Command::Wait(t) => return t.max(now.saturating_add(1)),
            Command::CheckClock => {
                let local = world.local_time();
                engine.on_clock_check(&ClockCheck {
                    kernel_freq: Some(world.applied_frequency().to_ppb(KernelFreq::USER_HZ)),
                    raw_ns: now,
                    sink: local,
                    pair_width_ns: 0,
                    suspended_ns: Some(0),
                    wall: local,
                    leap: None,
                    tai_utc_s: None,
                });
            }
            Command::Read { .. } => engine.on_read_error(id, ReadError::Failed, world.local_time()),
            Command::Adjust(a) => {
                let done = adjust_world(world, &a);
                engine.on_adjusted(Ok(done));
            }
            Command::Step(d) => {
                world.step(d);
                if now >= out_end {
                    run.relock_max_step_ns =
                        run.relock_max_step_ns.max(i64_to_f64(d.as_nanos()).abs());
                }
                engine.on_stepped(true);
            }
            Command::SendNtp { .. } | Command::SaveState(_) => {}
            Command::Halt(_) => return u64::MAX,
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    /// A quarter-hour outage after a quarter-hour lock (the report runs
    /// 1 h and 24 h after 2 h): the engine locks within 10 s of the first
    /// sentence, the bound holds the truth through the outage and its
    /// temperature steps on both oscillators, and the return costs no step.
    #[test]
    fn holdover_keeps_its_bound_and_returns_without_a_step() {
        for osc in [OscillatorClass::TCXO, OscillatorClass::OCXO] {
            let plan = PpsEnginePlan::holdover(osc, 900, 900);
            let r = run(&plan, 1);
            std::println!("{}: {r:?}", osc.name);
            assert!(r.lock_after_tod_s.is_some_and(|s| s <= 10.0), "{r:?}");
            assert!(r.steady_rms_ns > 0.0 && r.steady_rms_ns < 500.0, "{r:?}");
            assert_eq!(r.outage_checks, 900);
            assert_eq!(r.violations, 0, "{r:?}");
            assert!(r.end_bound_ns > r.end_error_ns, "{r:?}");
            assert!(r.relock_max_step_ns <= r.end_bound_ns, "{r:?}");
            assert!(r.relock_s.is_some_and(|s| s < 30.0), "{r:?}");
            // One missed edge a second, and the lock's single step.
            assert!((900..=905).contains(&r.counters.read_errors), "{r:?}");
            assert_eq!(r.counters.steps, 1, "{r:?}");
        }
    }
}

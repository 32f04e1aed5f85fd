//! A deterministic, seeded clock world: the ground every keel servo is judged
//! on, and the backend of the daemon's zero-hardware mode.
//!
//! # The model
//!
//! - **True time** `T`: ns since the start of the simulation ([`World::now_ns`]),
//!   moved forward only by [`World::advance_to`].
//! - **Reference** (the PHC, e.g. the hypervisor's clock): reads
//!   `epoch + T + Σ reference steps + ∫ reference frequency`
//!   ([`World::reference_time`]); the scripted steps and frequency changes
//!   ([`Event::ReferenceStep`], [`Event::ReferenceFreq`]) model a host clock
//!   that jumps or drifts. This noise-free value is what keel tracks.
//!   **Truth** (`epoch + T`, [`World::truth_time`]) is what it should track:
//!   the two coincide until the script moves the reference.
//! - **NTP servers** ([`network`]) keep their own clocks against truth.
//! - **Local clock** (the steered `CLOCK_REALTIME`): reads
//!   `epoch + T + offset(T)`, offset starting at
//!   [`OscillatorConfig::initial_offset_ns`]. Its rate against true time is
//!   `(1 + osc·10⁻⁹)(1 + adj·10⁻⁹) − 1`, where `osc` is the oscillator's
//!   natural frequency error (initial value + random-walk wander + scripted
//!   steps, ramps and sinusoids) and `adj` the actuator's correction, which
//!   scales the clock as the Linux kernel does.
//! - **Ground truth**: the offset is kept as integer ns plus an `f64` fraction
//!   and piecewise-constant frequencies are integrated in closed form (ramps
//!   and sinusoids too), so [`World::true_offset_ns`] stays within ~10⁻⁶ ns
//!   of the analytic value over days.
//! - **Reads** ([`World::read_phc`]) happen at the current true time and never
//!   advance it; see [`ReadConfig`] and [`DelayConfig`] for noise, outliers,
//!   delays, asymmetry and failures, and [`Outage`] / [`Event`] for scripted
//!   outages, steps, migrations and suspends.
//! - **Actuator** with Linux semantics: [`World::adjtime_frequency`] takes a
//!   [`KernelFreq`](crate::time::KernelFreq) (tick + 2⁻¹⁶ ppm), clamped like
//!   the kernel; [`World::step`] is `ADJ_SETOFFSET`.
//!
//! Signs: offset = local − reference (positive = local ahead); frequency in
//! ppb, positive = the local clock runs fast.
//!
//! # Determinism
//!
//! Only integer arithmetic, IEEE basic float operations and the pure-Rust
//! `libm` are used (no fused multiply-add, no platform intrinsics), with the
//! simulator's own xoshiro256++ generator, so a seed replays bit for bit on
//! every target. Each random process draws from its own stream (wander, read
//! noise, outliers, read delays, failures): the oscillator's path for a seed
//! does not depend on how often, or how, the world is read or steered, so two
//! servos run on one seed face the same clock.
//!
//! # Example
//!
//! ```
//! use keel_core::measure::phc::{PhcReading, ReadMethod};
//! use keel_core::sim::{SimConfig, World};
//!
//! let mut w = World::new(&SimConfig::default(), 1);
//! w.advance_to(1_000_000_000);
//! if let Ok(PhcReading::Precise { sys, phc }) = w.read_phc(ReadMethod::Precise, 1) {
//!     let measured = sys.duration_since(phc).as_nanos();
//!     // +0.5 s initial offset, +50 ppm for 1 s, 10 ns read noise
//!     assert!((measured - 500_050_000).abs() < 200);
//! }
//! ```

#![cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]

pub mod catalogue;
mod config;
pub mod drive;
pub mod engine_loop;
pub mod gnss;
pub mod gnss_engine;
pub mod network;
mod rng;
mod world;

pub use crate::measure::phc::{PHC_MAX_SAMPLES, PhcReading, PhcTriple, ReadMethod};
pub use config::{
    ActuatorConfig, ConfigFull, DelayConfig, Event, MAX_EVENTS, MAX_OUTAGES, Methods,
    OscillatorClass, OscillatorConfig, Outage, OutageKind, OutlierConfig, ReadConfig,
    ReferenceConfig, ScheduledEvent, SimConfig,
};
pub use world::{DisruptionKind, SimCounters, SimReadError, World};

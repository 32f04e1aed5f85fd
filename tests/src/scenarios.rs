//! The named scenarios of the report, after the reference study's standard
//! model (§5.2): start +0.5 s and +50 ppm, wander 1 ppb/√s, PRECISE reads with
//! white noise σ, 4000 s, statistics over 2000–4000 s.

use keel_core::measure::phc::ReadMethod;
use keel_core::sim::{Event, OutlierConfig, SimConfig};

use crate::runner::Scenario;

const S: u64 = 1_000_000_000;

/// The standard model at read noise `sigma_ns` and `rate_hz` updates per second.
pub fn standard(sigma_ns: f64, rate_hz: u32) -> Scenario {
    let mut sim = SimConfig::default();
    sim.read.noise_ns = sigma_ns;
    Scenario {
        name: format!("steady σ={} {}/s", fmt_ns(sigma_ns), rate_hz),
        sim,
        interval_ns: S / u64::from(rate_hz.max(1)),
        duration_s: 4000,
        steady_s: (2000, 4000),
        settle_from_s: 0,
        read: ReadMethod::Precise,
        n_samples: 1,
        allow_steps: false,
    }
}

/// The standard model with a different frequency wander.
pub fn wander(wander_ppb_per_sqrt_s: f64, sigma_ns: f64, rate_hz: u32) -> Scenario {
    let mut s = standard(sigma_ns, rate_hz);
    s.sim.oscillator.wander_ppb_per_sqrt_s = wander_ppb_per_sqrt_s;
    s.name = format!(
        "wander {wander_ppb_per_sqrt_s} ppb/√s σ={} {}/s",
        fmt_ns(sigma_ns),
        rate_hz
    );
    s
}

/// A perturbation at t = 1000 s of a σ = 10 ns, 1 update/s run; statistics
/// over the 500 s before it, settle times counted from it.
fn perturbed(name: &str, event: Event) -> Scenario {
    let mut s = standard(10.0, 1);
    // The script has room for 64 events; one cannot overflow it.
    let _ = s.sim.push_event(1000 * S, event);
    s.name = name.into();
    s.duration_s = 1300;
    s.steady_s = (500, 1000);
    s.settle_from_s = 1000;
    s
}

/// Frequency step of the local oscillator by `ppm` at 1000 s.
pub fn freq_step(ppm: f64) -> Scenario {
    perturbed(
        &format!("freq step {ppm:+} ppm"),
        Event::FreqStep {
            delta_ppb: ppm * 1000.0,
        },
    )
}

/// The same frequency step arriving as a live migration with the
/// disruption signal (vmclock's marker).
pub fn migration_signalled(ppm: f64) -> Scenario {
    perturbed(
        &format!("migration {ppm:+} ppm, signalled"),
        Event::Migration {
            freq_step_ppb: ppm * 1000.0,
            time_step_ns: 0,
            pause_ns: 0,
            signal: true,
        },
    )
}

/// A step of the local clock by `delta_ns` at 1000 s (someone else stepped it).
pub fn clock_step(delta_ns: i64, allow_steps: bool) -> Scenario {
    let mut s = perturbed(
        &format!(
            "clock step {} {}",
            fmt_ns(delta_ns as f64),
            if allow_steps {
                "step allowed"
            } else {
                "slew only"
            }
        ),
        Event::LocalStep { delta_ns },
    );
    s.allow_steps = allow_steps;
    s
}

/// 0.5 % of reads carry +100 µs.
pub fn outliers() -> Scenario {
    let mut s = standard(10.0, 1);
    s.sim.read.outliers = OutlierConfig {
        probability: 0.005,
        size_ns: 100_000.0,
        two_sided: false,
        burst_len: 1,
    };
    s.name = "outliers 0.5 % +100 µs".into();
    s
}

/// Every scenario of the report, in order.
pub fn all() -> Vec<Scenario> {
    let mut v = Vec::new();
    for rate in [1, 4] {
        for sigma in [10.0, 100.0, 1000.0] {
            v.push(standard(sigma, rate));
        }
    }
    v.push(wander(10.0, 10.0, 1));
    v.push(freq_step(50.0));
    v.push(migration_signalled(50.0));
    v.push(clock_step(500_000_000, true));
    v.push(clock_step(500_000_000, false));
    v.push(clock_step(1_000_000, false));
    v.push(outliers());
    v
}

/// `10 ns`, `1 µs`, `0.5 s`.
pub fn fmt_ns(ns: f64) -> String {
    let a = ns.abs();
    if a >= 1e9 {
        format!("{} s", ns / 1e9)
    } else if a >= 1e6 {
        format!("{} ms", ns / 1e6)
    } else if a >= 1e3 {
        format!("{} µs", ns / 1e3)
    } else {
        format!("{ns} ns")
    }
}

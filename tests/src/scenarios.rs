//! The named scenarios of the report, after the reference study's standard
//! model (§5.2): start +0.5 s and +50 ppm, wander 1 ppb/√s, PRECISE reads with
//! white noise σ, 4000 s, statistics over 2000–4000 s.

use keel_core::measure::phc::ReadMethod;
use keel_core::sim::{DelayConfig, Event, Methods, Outage, OutageKind, OutlierConfig, SimConfig};

use keel_core::time::KernelFreq;

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
        update_jitter_ns: 0,
        event_jitter_ns: 0,
        prior: None,
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

/// The start (+0.5 s, +50 ppm, steps allowed) at reading noise `sigma_ns`
/// with almost no wander, statistics over 20–35 s: how close a servo gets to
/// a straight-line fit through every reading so far (predicting each next
/// reading, its median RMS per run in that window is 0.32σ, 0.18–0.60σ
/// from the 10th to the 90th percentile), before a short history can tell
/// noise from wander. The lab's scenario 2 at σ = 1 µs.
pub fn noisy_start(sigma_ns: f64) -> Scenario {
    let mut s = wander(0.1, sigma_ns, 1);
    s.name = format!("noisy start σ={}", fmt_ns(sigma_ns));
    s.duration_s = 35;
    s.steady_s = (20, 35);
    s.allow_steps = true;
    s
}

/// The standard model at σ = 10 ns with `outliers` on the readings.
fn with_outliers(name: &str, outliers: OutlierConfig) -> Scenario {
    let mut s = standard(10.0, 1);
    s.sim.read.outliers = outliers;
    s.name = name.into();
    s
}

/// 0.5 % of reads carry +100 µs.
pub fn outliers() -> Scenario {
    with_outliers(
        "outliers 0.5 % +100 µs",
        OutlierConfig {
            probability: 0.005,
            size_ns: 100_000.0,
            two_sided: false,
            burst_len: 1,
        },
    )
}

/// A saved frequency `off_ppm` away from the truth, stated to ±4.5 ppb and
/// written to the clock at the start: the state file of a cloned VM image,
/// of a VM restored on another host, or of a machine whose oscillator
/// changed. The standard oscillator runs +50 ppm fast, so the right
/// correction is −50 ppm. 600 s, statistics over 300–600 s.
pub fn wrong_prior(off_ppm: f64) -> Scenario {
    let mut s = standard(10.0, 1);
    let prior = -s.sim.oscillator.initial_freq_ppb + off_ppm * 1000.0;
    s.sim.actuator.initial =
        KernelFreq::from_ppb(keel_core::time::Ppb::from_f64(prior), KernelFreq::USER_HZ);
    s.prior = Some((prior, 4.5));
    s.name = format!("wrong prior {off_ppm:+} ppm");
    s.duration_s = 600;
    s.steady_s = (300, 600);
    s
}

/// The reference (the host's clock) steps by `delta_ns` at a random moment
/// of the second after 1000 s, steps not allowed: statistics over the
/// steady state after it (1100–1300 s), to compare with the pre-step
/// steady state of the standard model.
pub fn reference_step(delta_ns: i64) -> Scenario {
    #[allow(clippy::cast_precision_loss, reason = "a name")]
    let mut s = perturbed(
        &format!("reference step {}, slew only", fmt_ns(delta_ns as f64)),
        Event::ReferenceStep { delta_ns },
    );
    s.event_jitter_ns = S;
    s.steady_s = (1100, 1300);
    s
}

/// The read noise rises from none to `sigma_ns` at a random moment of the
/// minute after 1000 s, reading with `read`: statistics from 30 s after
/// the latest rise to the end (1090–1400 s), frequency excursion and
/// re-reads counted from 1000 s.
pub fn noise_rise(sigma_ns: f64, read: ReadMethod) -> Scenario {
    let mut s = perturbed(
        &format!(
            "noise rises 0 → {}, {}",
            fmt_ns(sigma_ns),
            match read {
                ReadMethod::Precise => "PRECISE",
                ReadMethod::Extended => "EXTENDED",
                ReadMethod::Basic => "basic",
            }
        ),
        Event::ReadNoise { noise_ns: sigma_ns },
    );
    s.sim.read.noise_ns = 0.0;
    s.read = read;
    if read != ReadMethod::Precise {
        s.n_samples = 5;
    }
    s.event_jitter_ns = 60 * S;
    s.duration_s = 1400;
    s.steady_s = (1090, 1400);
    s
}

/// The world changing under the servo (issue 20): wrong saved
/// frequencies, reference steps, read noise that rises suddenly.
pub fn changes() -> Vec<Scenario> {
    let mut v = Vec::new();
    for off in [1.0, -10.0, 50.0, -100.0, 500.0] {
        v.push(wrong_prior(off));
    }
    for delta in [100_000, 1_000_000, 50_000_000] {
        v.push(reference_step(delta));
    }
    for read in [ReadMethod::Precise, ReadMethod::Extended] {
        for sigma in [100.0, 1000.0, 10_000.0] {
            v.push(noise_rise(sigma, read));
        }
    }
    v
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
    v.push(wrong_prior(50.0));
    v.push(reference_step(1_000_000));
    v.push(noise_rise(1000.0, ReadMethod::Precise));
    v
}

/// The wider suite (reference notes §7): noise sweep, start-up matrix, slow
/// frequency changes, outages, read-delay models, VM events, update rates,
/// interference and a day-long run. `scenarios --suite` runs it.
pub fn suite() -> Vec<Scenario> {
    let mut v = Vec::new();
    // 1. Noise sweep.
    for w in [0.1, 1.0, 10.0] {
        for sigma in [1.0, 10.0, 100.0, 1000.0, 10_000.0] {
            v.push(wander(w, sigma, 1));
        }
    }
    // 2. Start-up matrix: initial offset × frequency, 600 s runs.
    for (off, name) in [
        (0, "0"),
        (20_000, "20 µs"),
        (1_000_000, "1 ms"),
        (500_000_000, "0.5 s"),
        (100_000_000_000, "100 s"),
    ] {
        for ppm in [0.0, 50.0, -500.0, 50_000.0] {
            let mut s = standard(10.0, 1);
            s.sim.oscillator.initial_offset_ns = off;
            s.sim.oscillator.initial_freq_ppb = ppm * 1000.0;
            s.name = format!("start {name}, {ppm:+} ppm");
            s.duration_s = 600;
            s.steady_s = (300, 600);
            v.push(s);
        }
    }
    // The first half minute at high reading noise (the lab's scenario 2).
    for sigma in [1000.0, 10_000.0] {
        v.push(noisy_start(sigma));
    }
    // 3. Slow frequency changes: a 1 ppm thermal ramp over 1000 s, and a
    //    100 ppb sinusoid with a 1000 s period.
    v.push(perturbed(
        "ramp +1 ppm over 1000 s",
        Event::FreqRamp {
            rate_ppb_per_s: 1.0,
            duration_ns: 1000 * S,
        },
    ));
    v.push(perturbed(
        "sine 100 ppb, 1000 s",
        Event::FreqSine {
            amplitude_ppb: 100.0,
            period_ns: 1000 * S,
            duration_ns: u64::MAX,
        },
    ));
    // A small frequency step: 1 ppm moves the offset by less than the
    // reading noise from one re-read to the next (62 ns in 1/16 s).
    v.push(freq_step(1.0));
    // 4. Reference outages (holdover) of 10 s, 300 s and 1 h at t = 1000 s.
    for (secs, name) in [(10, "10 s"), (300, "300 s"), (3600, "1 h")] {
        let mut s = standard(10.0, 1);
        let _ = s.sim.push_outage(Outage {
            start_ns: 1000 * S,
            duration_ns: secs * S,
            methods: Methods::ALL,
            kind: OutageKind::NoDevice,
        });
        s.name = format!("outage {name}");
        s.duration_s = 1300 + secs;
        s.steady_s = (500, 1000);
        s.settle_from_s = 1000 + secs;
        v.push(s);
    }
    // 4b. Time steps beyond the report's: the reference jumps back 1 s (a
    //     host's leap second, without leap data), the clock jumps 100 s,
    //     and a second 1 ms step arrives 3 s into the slew of the first.
    let mut s = perturbed(
        "reference step -1 s, step allowed",
        Event::ReferenceStep {
            delta_ns: -1_000_000_000,
        },
    );
    s.allow_steps = true;
    v.push(s);
    v.push(clock_step(100_000_000_000, true));
    let mut s = clock_step(1_000_000, false);
    let _ = s.sim.push_event(
        1003 * S,
        Event::LocalStep {
            delta_ns: 1_000_000,
        },
    );
    s.name = "clock steps 2 × 1 ms, 3 s apart, slew only".into();
    v.push(s);
    // 4c. Outliers beyond the report's: ±1 ms in 1 % of readings, and
    //     bursts of 10 consecutive +100 µs readings (one in ~2000).
    v.push(with_outliers(
        "outliers 1 % ±1 ms",
        OutlierConfig {
            probability: 0.01,
            size_ns: 1_000_000.0,
            two_sided: true,
            burst_len: 1,
        },
    ));
    v.push(with_outliers(
        "outlier bursts 10 × +100 µs",
        OutlierConfig {
            probability: 0.0005,
            size_ns: 100_000.0,
            two_sided: false,
            burst_len: 10,
        },
    ));
    // 5. Read-delay models: sampled reads (best of 5) with asymmetric
    //    jitter, and chrony's bursty jitter (1 µs in 8 of every 500 reads).
    let mut s = standard(10.0, 1);
    s.read = ReadMethod::Extended;
    s.n_samples = 5;
    s.sim.read.delay = DelayConfig {
        base_ns: 2_000.0,
        jitter_mean_ns: 500.0,
        asymmetry: 0.3,
        ..DelayConfig::default()
    };
    s.name = "EXTENDED best of 5, asymmetric jitter".into();
    v.push(s);
    let mut s = standard(1.0, 1);
    s.read = ReadMethod::Extended;
    s.n_samples = 25;
    s.sim.read.delay = DelayConfig {
        burst_extra_mean_ns: 1_000.0,
        burst_on: 8,
        burst_period: 500,
        ..DelayConfig::default()
    };
    s.name = "EXTENDED best of 25, bursty delay".into();
    v.push(s);
    // 6. VM events without a signal: a 50 ms pause and a 10 s suspend.
    v.push(perturbed(
        "migration pause 50 ms, unsignalled",
        Event::Migration {
            freq_step_ppb: 20_000.0,
            time_step_ns: 0,
            pause_ns: 50_000_000,
            signal: false,
        },
    ));
    v.push(perturbed(
        "suspend 10 s, signalled",
        Event::Suspend {
            sleep_ns: 10 * S,
            signal: true,
        },
    ));
    // 7. Update rates from 16/s to one per 16 s, and a daemon woken up to
    //    300 ms late (irregular intervals around a kept grid).
    for (rate_ns, name) in [(S / 16, "16/s"), (16 * S, "1/16 s")] {
        let mut s = standard(10.0, 1);
        s.interval_ns = rate_ns;
        s.name = format!("steady σ=10 ns {name}");
        v.push(s);
    }
    let mut s = standard(10.0, 1);
    s.update_jitter_ns = 300_000_000;
    s.name = "steady σ=10 ns, updates ≤ 300 ms late".into();
    v.push(s);
    // 8. Interference: another process writes the frequency (+10 ppm).
    v.push(perturbed(
        "foreign frequency write",
        Event::ForeignFrequency {
            freq: keel_core::time::KernelFreq::from_ppb(
                keel_core::time::Ppb::from_ppb(10_000),
                100,
            ),
        },
    ));
    // 8b. Actuator limits: frequency writes take effect 10 ms late (an old
    //     kernel applies them at its next tick).
    let mut s = standard(10.0, 1);
    s.sim.actuator.freq_delay_ns = 10_000_000;
    s.name = "frequency applied 10 ms late".into();
    v.push(s);
    // 10. The world changes: wrong saved frequencies, reference steps,
    //     rising read noise.
    v.extend(changes());
    // 11. The daemon's named worlds (`keel sync --clock sim --scenario`).
    v.extend(daemon_worlds());
    // 9. A day at σ = 10 ns, for the error bound's violation rate.
    let mut s = standard(10.0, 1);
    s.duration_s = 86_400;
    s.steady_s = (2000, 86_400);
    s.name = "24 h σ=10 ns".into();
    v.push(s);
    v
}

/// The worlds of `keel sync --clock sim --scenario NAME`
/// (`keel_core::sim::catalogue`, the one catalogue), as the daemon runs
/// them: 600 s, PRECISE reads (falling back as its prober does), its 5
/// samples, settle times from the perturbation (at a third of the run,
/// `catalogue::event_at_ns`; from the start in a world without one),
/// statistics from 150 s after it to the end (the last 250 s).
pub fn daemon_worlds() -> Vec<Scenario> {
    use keel_core::sim::catalogue;
    catalogue::NAMED
        .iter()
        .filter_map(|(name, _)| {
            let sim = catalogue::named(name, 600 * S).ok()?;
            let event_s = catalogue::event_at_ns(600 * S) / S;
            let mut s = standard(10.0, 1);
            s.sim = sim;
            s.name = format!("daemon world {name}");
            s.duration_s = 600;
            s.steady_s = (event_s + 150, 600);
            s.settle_from_s = if catalogue::has_event(name) {
                event_s
            } else {
                0
            };
            s.n_samples = 5;
            Some(s)
        })
        .collect()
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

//! Drives keel's default servo through a scenario and prints every update:
//! `cargo run --release -p keel-tests --example kalman_debug -- <scenario-substring> <from_s> <to_s> [seed]`.
use keel_core::servo::{Action, Applied, Kalman, KalmanConfig, OffsetSample, Servo, ServoConfig};
use keel_core::time::{Duration, KernelFreq, Ppb};
use keel_tests::scenarios;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let pat = args.first().map_or("freq step", String::as_str);
    let from: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(995);
    let to: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1015);
    let seed = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1);
    let Some(scn) = scenarios::all()
        .into_iter()
        .chain(scenarios::suite())
        .find(|s| s.name.contains(pat))
    else {
        eprintln!("no scenario matches `{pat}`");
        std::process::exit(2);
    };
    let cfg = ServoConfig {
        step_threshold: if scn.allow_steps {
            Duration::from_micros(100)
        } else {
            Duration::ZERO
        },
        ..ServoConfig::default()
    };
    let interval = Duration::from_nanos(i64::try_from(scn.interval_ns).unwrap_or(1_000_000_000));
    let mut k = Kalman::new(cfg, KalmanConfig::default(), interval, Ppb::ZERO);
    // KEEL_PRIOR="correction_ppb,sd_ppb": a saved frequency, as from a state file.
    if let Ok(p) = std::env::var("KEEL_PRIOR") {
        let mut it = p.split(',').map(|v| v.trim().parse::<i64>().unwrap_or(0));
        let (c, sd) = (it.next().unwrap_or(0), it.next().unwrap_or(1));
        k.set_frequency_prior(Ppb::from_ppb(c), Ppb::from_ppb(sd));
    }
    let mut w = keel_tests::runner::world_for(&scn, seed);
    let mut t = 1_000_000u64;
    // The regular updates keep a grid, as the runner and the daemon do.
    let mut grid = t;
    while t < to * 1_000_000_000 {
        w.advance_to(t);
        if w.take_disruption().is_some() {
            k.disruption();
        }
        let Some(r) = w
            .read_phc(scn.read, scn.n_samples)
            .ok()
            .and_then(|r| r.best_sample())
        else {
            grid += scn.interval_ns;
            t = grid;
            continue;
        };
        let true_before = w.true_offset_ns();
        let o = k.sample(&OffsetSample {
            offset: r.offset,
            local_ts: r.local_ts,
            uncertainty: Duration::from_nanos(r.delay.as_nanos() / 2),
        });
        match o.action {
            Action::None => {}
            Action::SetFrequency(f) => {
                k.applied(&Applied {
                    step: None,
                    freq: f,
                });
                w.adjtime_frequency(KernelFreq::from_ppb(f, 100));
            }
            Action::Step { step, freq } => {
                k.applied(&Applied {
                    step: Some(step),
                    freq,
                });
                w.step(step);
                w.adjtime_frequency(KernelFreq::from_ppb(freq, 100));
            }
        }
        if t >= from * 1_000_000_000 {
            println!(
                "t={:.4} true={:.1} meas={} est={} {:?} freq={} bound={:?} next={:?} R={:?} q={:?} l0={:?}",
                t as f64 * 1e-9,
                true_before,
                r.offset.as_nanos(),
                o.offset.as_nanos(),
                o.state,
                o.freq,
                o.error_bound.map(|d| d.as_nanos()),
                o.next_update.map(|d| d.as_nanos()),
                k.noise_model().map(|m| m.reading_var.to_i64()),
                k.noise_model()
                    .map(|m| m.wander_var.to_fixed(10) as f64 / 1024.0),
                k.short_term_var().map(|v| v.to_i64() * 2 / 3)
            );
        }
        if t >= grid {
            grid += scn.interval_ns;
        }
        t = o.next_update.map_or(grid, |d| {
            grid.min(t + u64::try_from(d.as_nanos()).unwrap_or(1).max(1_000_000))
        });
    }
    let m = k.noise_model().unwrap();
    println!(
        "R={} q={}",
        m.reading_var.to_i64(),
        m.wander_var.to_fixed(16) as f64 / 65536.0
    );
}

//! keel's default servo when the world changes under it (issue 20): wrong
//! saved frequencies, reference steps, read noise that rises suddenly at a
//! random moment. Five seeds each; the margins are the goals.

use keel_core::measure::phc::ReadMethod;
use keel_tests::floor::kalman_floor;
use keel_tests::report::{Cell, KEEL, run_cell};
use keel_tests::runner::Scenario;
use keel_tests::scenarios;

const SEEDS: [u64; 5] = [1, 2, 3, 4, 5];

fn cell(s: &Scenario) -> Cell {
    run_cell(s, &KEEL, &SEEDS)
}

/// Every seed's error-bound violations.
fn violations(c: &Cell) -> Vec<u64> {
    c.runs.iter().map(|r| r.bound_violations).collect()
}

#[test]
fn a_wrong_saved_frequency_costs_no_more_than_a_cold_start() {
    let mut cold = scenarios::wrong_prior(0.0);
    cold.prior = None;
    let cold = cell(&cold);
    for off in [1.0, -10.0, 50.0, -100.0, 500.0] {
        let c = cell(&scenarios::wrong_prior(off));
        assert!(
            c.settle_100ns() <= cold.settle_100ns(),
            "{off:+} ppm off: {} s to < 100 ns, cold start {} s",
            c.settle_100ns(),
            cold.settle_100ns()
        );
        assert!(
            c.rms_ns() <= cold.rms_ns() * 1.05,
            "{off:+} ppm off: RMS {:.1} ns, cold start {:.1}",
            c.rms_ns(),
            cold.rms_ns()
        );
        assert_eq!(violations(&c), [0; 5], "{off:+} ppm off");
    }
}

#[test]
fn a_reference_step_is_slewed_out_without_a_sawtooth() {
    let steady = cell(&scenarios::standard(10.0, 1)).rms_ns();
    for delta in [100_000, 1_000_000, 50_000_000] {
        let c = cell(&scenarios::reference_step(delta));
        assert!(
            c.settle_100ns() <= 6.0,
            "{delta} ns: {} s to < 100 ns",
            c.settle_100ns()
        );
        assert!(
            c.rms_ns() <= steady * 1.2,
            "{delta} ns: RMS after the step {:.1} ns, before {steady:.1}",
            c.rms_ns()
        );
        // The one check between the unannounced step and the next reading.
        for (seed, v) in violations(&c).into_iter().enumerate() {
            assert!(v <= 1, "{delta} ns, seed {}: {v} violations", seed + 1);
        }
    }
}

#[test]
fn noise_that_rises_is_learnt_without_a_storm_of_re_reads() {
    for read in [ReadMethod::Precise, ReadMethod::Extended] {
        for sigma in [100.0, 1_000.0, 10_000.0] {
            let s = scenarios::noise_rise(sigma, read);
            let c = cell(&s);
            // The floor counts white reading noise only; EXTENDED reads also
            // carry the read delay's jitter and asymmetry.
            let allowance = if read == ReadMethod::Precise {
                1.2
            } else {
                1.3
            };
            // Offsets are sampled just before an update: the prior floor.
            let floor = kalman_floor(
                s.sigma_ns(),
                s.sim.oscillator.wander_ppb_per_sqrt_s,
                s.interval_s(),
            )
            .phase_prior_ns;
            assert!(
                c.rms_ns() <= floor * allowance,
                "{}: RMS {:.1} ns, floor {floor:.1}",
                s.name,
                c.rms_ns()
            );
            // Once EXTENDED reads are noise-limited the engine reads 25
            // triples instead of 5: well below one reading's floor.
            if read == ReadMethod::Extended && sigma >= 1_000.0 {
                assert!(
                    c.rms_ns() <= floor * 0.6,
                    "{}: RMS {:.1} ns, floor {floor:.1}: not read 25 at a time?",
                    s.name,
                    c.rms_ns()
                );
            }
            assert_eq!(violations(&c), [0; 5], "{}", s.name);
            #[allow(clippy::cast_precision_loss, reason = "a count of updates")]
            let per_interval = |r: &keel_tests::runner::RunResult| {
                r.updates_after_settle as f64 / (s.duration_s - s.settle_from_s) as f64
            };
            for r in &c.runs {
                assert!(
                    per_interval(r) <= 2.0,
                    "{}: {:.2} updates per interval",
                    s.name,
                    per_interval(r)
                );
                if sigma <= 1_000.0 {
                    assert!(
                        r.peak_freq_error_ppb <= 5_000.0,
                        "{}: frequency excursion {:.0} ppb",
                        s.name,
                        r.peak_freq_error_ppb
                    );
                }
            }
        }
    }
}

//! keel's default servo, untuned, against the goals of the servo issue, in
//! the standard model (medians over three seeds). The margins are the goals
//! themselves: these are the numbers the scenario report prints.

use keel_tests::report::{Cell, KEEL, run_cell};
use keel_tests::scenarios;

const SEEDS: [u64; 3] = [1, 2, 3];

fn cell(s: &keel_tests::runner::Scenario) -> Cell {
    run_cell(s, &KEEL, &SEEDS)
}

#[test]
fn steady_state_at_one_update_per_second() {
    for (sigma, goal) in [(10.0, 8.0), (100.0, 44.0), (1000.0, 235.0)] {
        let c = cell(&scenarios::standard(sigma, 1));
        assert!(
            c.rms_ns() <= goal,
            "σ={sigma}: RMS {:.1} ns, goal {goal}",
            c.rms_ns()
        );
    }
}

#[test]
fn steady_state_at_four_updates_per_second() {
    for (sigma, goal) in [(10.0, 5.0), (100.0, 27.0), (1000.0, 150.0)] {
        let c = cell(&scenarios::standard(sigma, 4));
        assert!(
            c.rms_ns() <= goal,
            "σ={sigma} 4/s: RMS {:.1} ns, goal {goal}",
            c.rms_ns()
        );
    }
}

#[test]
fn frequency_noise_at_100_ns() {
    let c = cell(&scenarios::standard(100.0, 1));
    assert!(
        c.freq_ppb() <= 8.0,
        "RMS frequency error {:.1} ppb",
        c.freq_ppb()
    );
}

#[test]
fn startup_from_half_a_second_and_50_ppm() {
    let c = cell(&scenarios::standard(10.0, 1));
    assert!(c.settle_1us() <= 2.0, "{} s to < 1 µs", c.settle_1us());
    assert!(
        c.settle_100ns() <= 3.0,
        "{} s to < 100 ns",
        c.settle_100ns()
    );
}

#[test]
fn noisy_start_averages_like_a_line_fit() {
    // A line fit through every reading so far, predicting the next, gets a
    // median RMS of 0.32σ per run over 20–35 s. Before the wander ceiling
    // keel followed its readings at 1.45σ here (a short noisy history
    // claimed ~700 ppb/√s of wander).
    let seeds: Vec<u64> = (1..=9).collect();
    let c = run_cell(&scenarios::noisy_start(1000.0), &KEEL, &seeds);
    assert!(c.rms_ns() <= 450.0, "RMS {:.0} ns at σ = 1 µs", c.rms_ns());
}

#[test]
fn no_bound_before_the_noise_is_measured() {
    // Two readings fix offset and frequency but not their noise: a bound
    // assumed for 1 µs readings was broken by 10 µs ones at t = 2–3 s.
    let seeds: Vec<u64> = (1..=9).collect();
    let c = run_cell(&scenarios::noisy_start(10_000.0), &KEEL, &seeds);
    let (checks, violations) = c.bound_counts();
    assert!(checks >= 9 * 25, "only {checks} bound checks");
    assert_eq!(violations, 0, "{violations} of {checks} checks violated");
}

#[test]
fn frequency_step_of_50_ppm() {
    let c = cell(&scenarios::freq_step(50.0));
    assert!(c.peak_ns() <= 60_000.0, "peak {:.0} ns", c.peak_ns());
    assert!(c.settle_1us() <= 6.0, "{} s back to < 1 µs", c.settle_1us());
}

#[test]
fn signalled_migration_stays_within_a_microsecond() {
    let c = cell(&scenarios::migration_signalled(50.0));
    assert!(c.peak_ns() <= 1_000.0, "peak {:.0} ns", c.peak_ns());
}

#[test]
fn clock_steps() {
    let c = cell(&scenarios::clock_step(500_000_000, true));
    assert!(
        c.settle_1us() <= 3.0,
        "0.5 s, step allowed: {} s",
        c.settle_1us()
    );
    // Slew only: at most 1.1 × |step| / max slew (10 %) + 3 s.
    let c = cell(&scenarios::clock_step(500_000_000, false));
    assert!(
        c.settle_1us() <= 8.5,
        "0.5 s, slew only: {} s",
        c.settle_1us()
    );
    let c = cell(&scenarios::clock_step(1_000_000, false));
    assert!(
        c.settle_1us() <= 5.0,
        "1 ms, slew only: {} s",
        c.settle_1us()
    );
    assert_eq!(
        c.runs.iter().map(|r| r.steps).max(),
        Some(1),
        "only the start-up step"
    );
}

#[test]
fn outliers_are_rejected() {
    let c = cell(&scenarios::outliers());
    assert!(c.rms_ns() <= 12.0, "RMS {:.1} ns", c.rms_ns());
    assert!(c.max_ns() <= 100.0, "max {:.1} ns", c.max_ns());
}

#[test]
fn outliers_early_in_a_run_do_not_derail_it() {
    // Over 100 seeds each, every run must stay on track. Before the early
    // gate an outlier among the first eight readings was taken in (seed 57
    // at +100 µs: 55 ppm off, RMS 1.2 µs for the whole run), and before the
    // climb test a frequency error confirmed as a "time step" again and
    // again was never corrected.
    let seeds: Vec<u64> = (1..=100).collect();
    let wide = suite("outliers 1 % ±1 ms");
    for s in [scenarios::outliers(), wide] {
        let c = run_cell(&s, &KEEL, &seeds);
        let (checks, violations) = c.bound_counts();
        assert!(
            violations * 10_000 <= checks,
            "{}: {violations} violations in {checks} checks",
            s.name
        );
        for (seed, r) in seeds.iter().zip(&c.runs) {
            assert!(
                r.rms_offset_ns <= 12.0,
                "{} seed {seed}: RMS {:.1} ns",
                s.name,
                r.rms_offset_ns
            );
            let t = r.bound_tightness_median.unwrap_or(f64::INFINITY);
            assert!(t <= 15.0, "{} seed {seed}: tightness {t:.1}", s.name);
        }
    }
}

#[test]
fn a_small_frequency_step_is_not_taken_for_time_steps() {
    // +1 ppm moves the offset 62 ns from one re-read to the next, inside
    // the noise gate: three suspects looked like a time step, the frequency
    // was kept, and the same "step" came back every second (a fifth of all
    // checks violated the bound).
    let seeds: Vec<u64> = (1..=20).collect();
    let c = run_cell(&suite("freq step +1 ppm"), &KEEL, &seeds);
    assert!(
        c.settle_100ns() <= 5.0,
        "{} s to < 100 ns",
        c.settle_100ns()
    );
    for (seed, r) in seeds.iter().zip(&c.runs) {
        // One check sees the step before any reading can.
        assert!(
            r.bound_violations <= 1,
            "seed {seed}: {} violations",
            r.bound_violations
        );
    }
}

#[test]
fn error_bound_is_honest_and_tight() {
    let mut checks = 0;
    let mut violations = 0;
    for s in [
        scenarios::standard(10.0, 1),
        scenarios::standard(100.0, 1),
        scenarios::standard(1000.0, 1),
        scenarios::outliers(),
    ] {
        let c = cell(&s);
        let (n, v) = c.bound_counts();
        checks += n;
        violations += v;
        if s.name.contains("σ=10 ns") {
            let t = c
                .runs
                .iter()
                .filter_map(|r| r.bound_tightness_median)
                .fold(0.0, f64::max);
            assert!(t <= 10.0, "median tightness {t:.1} at σ = 10 ns");
        }
    }
    assert!(checks > 40_000);
    #[allow(clippy::cast_precision_loss, reason = "counts")]
    let rate = violations as f64 / checks as f64;
    assert!(rate <= 1e-4, "{violations} violations in {checks} checks");
}

#[test]
fn the_bound_allows_for_wander_the_filter_caps() {
    // At 10 ppb/√s the first minute cannot prove a wander above the
    // filter's ceiling (3.2 ppb/√s), so the filter runs on the cap; a bound
    // built on the filter's own covariance failed 14 times in 20 runs of
    // 4,000 checks, all at t = 7–41 s.
    let seeds: Vec<u64> = (1..=20).collect();
    let c = run_cell(&scenarios::wander(10.0, 10.0, 1), &KEEL, &seeds);
    let (checks, violations) = c.bound_counts();
    assert!(checks > 75_000);
    assert!(
        violations * 20_000 <= checks,
        "{violations} violations in {checks} checks"
    );
    let t = c
        .runs
        .iter()
        .filter_map(|r| r.bound_tightness_median)
        .fold(0.0, f64::max);
    assert!(t <= 10.0, "median tightness {t:.1}");
}

fn suite(name: &str) -> keel_tests::runner::Scenario {
    scenarios::suite()
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no suite scenario `{name}`"))
}

#[test]
fn start_up_matrix_settles() {
    for s in scenarios::suite()
        .into_iter()
        .filter(|s| s.name.starts_with("start "))
    {
        let c = cell(&s);
        // ±5 % needs the tick range and takes longer; everything else locks at once.
        let limit = if s.name.contains("+50000 ppm") {
            30.0
        } else {
            5.0
        };
        assert!(
            c.settle_1us() <= limit,
            "{}: {} s to < 1 µs",
            s.name,
            c.settle_1us()
        );
    }
}

#[test]
fn holdover_resumes_without_a_step() {
    for name in ["outage 10 s", "outage 300 s", "outage 1 h"] {
        let c = cell(&suite(name));
        assert!(
            c.runs.iter().all(|r| r.steps == 1),
            "{name}: only the start-up step"
        );
        assert!(
            c.settle_1us() <= 3.0,
            "{name}: {} s to < 1 µs after the outage",
            c.settle_1us()
        );
        assert_eq!(c.bound_counts().1, 0, "{name}: the bound held");
    }
}

#[test]
fn unsignalled_migration_and_bursty_reads() {
    let c = cell(&suite("migration pause 50 ms, unsignalled"));
    assert!(
        c.settle_1us() <= 5.0,
        "pause: {} s to < 1 µs",
        c.settle_1us()
    );
    // chrony's test 106: PHC with 1 µs read-delay bursts in 8 of every 500 reads.
    let c = cell(&suite("EXTENDED best of 25, bursty delay"));
    assert!(c.rms_ns() <= 10.0, "bursty delay: RMS {:.1} ns", c.rms_ns());
}

#[test]
fn a_day_keeps_the_bound() {
    let c = cell(&suite("24 h σ=10 ns"));
    let (checks, violations) = c.bound_counts();
    assert!(checks > 250_000);
    assert!(
        violations * 10_000 <= checks,
        "{violations} violations in {checks} checks"
    );
    assert!(c.rms_ns() <= 8.5, "RMS over the day {:.1} ns", c.rms_ns());
}

#[test]
fn calendar_boundaries_change_nothing() {
    // The run crosses 2038-01-19 (2³¹ s), 2106-02-07 (2³² s) and
    // 2262-04-11 (2⁶³ ns) 2000 s in; only differences of timestamps may
    // matter.
    let base = cell(&scenarios::standard(10.0, 1));
    for (name, epoch_ns) in [
        ("2038", (1u64 << 31) * 1_000_000_000 - 2_000_000_000_000),
        ("2106", (1u64 << 32) * 1_000_000_000 - 2_000_000_000_000),
        ("2262", (1u64 << 63) - 2_000_000_000_000),
    ] {
        let mut s = scenarios::standard(10.0, 1);
        s.sim.reference.epoch_ns = epoch_ns;
        let c = cell(&s);
        assert!(
            (c.rms_ns() - base.rms_ns()).abs() <= 0.05 * base.rms_ns(),
            "{name}: RMS {:.2} ns, {:.2} at the usual epoch",
            c.rms_ns(),
            base.rms_ns()
        );
        #[allow(clippy::float_cmp, reason = "whole seconds from the same runner")]
        {
            assert_eq!(c.settle_100ns(), base.settle_100ns(), "{name}: settle");
        }
        assert_eq!(c.bound_counts().1, 0, "{name}: bound");
    }
}

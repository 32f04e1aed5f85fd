//! The scenario report's PPS section (`scenarios --pps`): which second each
//! pulse marks, on the simulated GNSS receiver (`keel_core::sim::gnss`),
//! through the whole path (serial bytes, NMEA, time of day, labeller),
//! against issue 17's labelling goals: 0 mislabelled seconds in 10⁵ pulses
//! with the time of day ±0.35 s (locked) and ±0.45 s (unlocked), locked
//! within 10 s of the first valid time of day; chrony needs 80–260 s to
//! sync from an unlocked start in its simulator (`../shared/reference/
//! ntp-pps.md` §6).

use keel_core::sim::gnss::{GnssConfig, LabellingRun, ReceiverJump, TodSentence, run_labelling};
use keel_core::sim::{SimConfig, World};
use keel_core::time::Duration;

/// Pulses per run.
pub const PULSES: u64 = 100_000;

/// One row: a receiver, how the labeller reads it, and its description.
struct Row {
    name: &'static str,
    gnss: GnssConfig,
    tod_delay: Option<Duration>,
    pulses: u64,
}

fn rows() -> Vec<Row> {
    let mut jumps = GnssConfig::default();
    jumps
        .jumps
        .push(ReceiverJump {
            from: 500,
            until: Some(503),
            by_s: 18,
        })
        .ok();
    jumps
        .jumps
        .push(ReceiverJump {
            from: 50_000,
            until: None,
            by_s: 1,
        })
        .ok();
    vec![
        Row {
            name: "clean RMC, 0.5 s after the pulse",
            gnss: GnssConfig::default(),
            tod_delay: None,
            pulses: PULSES,
        },
        Row {
            name: "all faults, RMC 0.5 ± 0.45 s",
            gnss: GnssConfig::all_faults(450e6),
            tod_delay: None,
            pulses: PULSES,
        },
        Row {
            name: "all faults, RMC 0.5 ± 0.35 s",
            gnss: GnssConfig::all_faults(350e6),
            tod_delay: None,
            pulses: PULSES,
        },
        Row {
            name: "ZDA 0.1 ± 0.09 s, USB PPS (σ 100 µs), 5 % lost",
            gnss: GnssConfig {
                sentence: TodSentence::Zda,
                tod_delay_ns: 100e6,
                tod_jitter_ns: 90e6,
                pps_jitter_ns: 100e3,
                pulse_loss: 0.05,
                ..GnssConfig::default()
            },
            tod_delay: Some(Duration::from_millis(100)),
            pulses: PULSES,
        },
        Row {
            name: "receiver +18 s for 3 s, +1 s for good at 50 000 s",
            gnss: jumps,
            tod_delay: None,
            pulses: PULSES,
        },
    ]
}

fn run(row: &Row, seed: u64) -> LabellingRun {
    let mut world = World::new(&SimConfig::default(), seed);
    run_labelling(
        &mut world,
        &row.gnss,
        &row.gnss.labeller_config(),
        seed,
        row.pulses,
        row.tod_delay,
    )
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The section as markdown, over seeds `1..=seeds`.
pub fn pps_section(seeds: u64, only: Option<&str>) -> String {
    let mut out = String::from("## PPS labelling\n\n");
    out.push_str(&format!(
        "{PULSES} pulses per run, seeds 1–{seeds}, the default world's unsteered local clock \
         (+0.5 s, +50 ppm, 1 ppb/√s). Mislabelled: labelled edges whose second is not the \
         pulse's in the receiver's time (a jump for good is followed on purpose), summed over \
         seeds; lock: true seconds from the first valid sentence, worst seed; offset error: \
         labelled offset − true offset, median RMS over seeds. Goal (issue 17): 0 \
         mislabelled, lock ≤ 10 s.\n\n"
    ));
    out.push_str(
        "| receiver | labelled | mislabelled | wrong edges sent / used | lost / reported missed \
         | wrong seconds sent / counted | ambiguous | jumps followed | lock, s | offset error RMS, ns |\n",
    );
    out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for row in rows() {
        if only.is_some_and(|o| !row.name.contains(o)) {
            continue;
        }
        let runs: Vec<LabellingRun> = (1..=seeds).map(|s| run(&row, s)).collect();
        let sum = |f: fn(&LabellingRun) -> u64| runs.iter().map(f).sum::<u64>();
        let lock = runs
            .iter()
            .map(|r| r.lock_after_s.unwrap_or(f64::INFINITY))
            .fold(0.0, f64::max);
        out.push_str(&format!(
            "| {} | {} | {} | {} / {} | {} / {} | {} / {} | {} | {} | {:.1} | {:.0} |\n",
            row.name,
            sum(|r| r.labelled),
            sum(|r| r.mislabelled),
            sum(|r| r.wrong_edges_sent),
            sum(|r| r.wrong_edges_used),
            sum(|r| r.pulses_lost),
            sum(|r| r.missed_reported),
            sum(|r| r.wrong_seconds_sent),
            sum(|r| r.counters.wrong_seconds),
            sum(|r| r.counters.ambiguous_tods),
            sum(|r| r.counters.jumps_followed),
            lock,
            median(runs.iter().map(|r| r.offset_rms_ns).collect()),
        ));
    }
    out
}

/// The engine's PPS rows: keel's engine steering the simulated world from
/// the receiver (`keel_core::sim::gnss_engine`), kernel PPS (σ 1 µs) with
/// RMC 0.5 s after the pulse, on a TCXO- and an OCXO-class oscillator
/// (`keel_core::sim::OscillatorClass`).
pub mod engine {
    use keel_core::sim::OscillatorClass;
    use keel_core::sim::gnss_engine::{PpsEnginePlan, PpsEngineRun, run};

    use crate::floor::kalman_floor;

    /// Seconds of lock before an outage (the steady window is the second
    /// half).
    pub const LOCK_S: u64 = 7_200;

    /// One holdover row's figures over seeds.
    #[derive(Clone, Debug)]
    pub struct Holdover {
        /// The oscillator.
        pub oscillator: OscillatorClass,
        /// The outage, s.
        pub outage_s: u64,
        /// The drift allowance set, ppb (`None`: the engine's default).
        pub drift: Option<f64>,
        /// Each seed's run.
        pub runs: Vec<PpsEngineRun>,
    }

    impl Holdover {
        /// Bound violations and checks, summed over seeds.
        pub fn violations(&self) -> (u64, u64) {
            (
                self.runs.iter().map(|r| r.violations).sum(),
                self.runs.iter().map(|r| r.outage_checks).sum(),
            )
        }

        /// The bound at the outage's end over the RMS over seeds of
        /// |sink − UTC| there: `k·σ_model / σ_true` for a `k`σ bound (5 for
        /// a bound that is exactly as wide as it claims).
        pub fn tightness_rms(&self) -> f64 {
            let n = self.runs.len().max(1) as f64;
            let rms = (self
                .runs
                .iter()
                .map(|r| r.end_error_ns * r.end_error_ns)
                .sum::<f64>()
                / n)
                .sqrt();
            super::median(self.runs.iter().map(|r| r.end_bound_ns).collect()) / rms
        }

        /// The median over seeds of bound / |sink − UTC| at the outage's
        /// end (the default report's tightness; 7.4 for an exact 5σ bound
        /// on a normal error).
        pub fn tightness_median(&self) -> f64 {
            super::median(
                self.runs
                    .iter()
                    .map(|r| r.end_bound_ns / r.end_error_ns.max(1e-3))
                    .collect(),
            )
        }
    }

    /// The temperature swing the class allowance is set for, K (the
    /// simulated steps are 3 K).
    pub const SWING_K: f64 = 5.0;

    /// Runs `osc` through an outage of `outage_s` on seeds `1..=seeds`,
    /// with the engine's default drift allowance or (`class`) the
    /// oscillator's sensitivity × [`SWING_K`].
    pub fn holdover(osc: OscillatorClass, outage_s: u64, seeds: u64, class: bool) -> Holdover {
        let mut plan = PpsEnginePlan::holdover(osc, LOCK_S, outage_s);
        if class {
            plan.holdover_drift = Some(osc.holdover_drift(SWING_K));
        }
        Holdover {
            oscillator: osc,
            outage_s,
            drift: class.then_some(osc.ppb_per_kelvin * SWING_K),
            runs: (1..=seeds).map(|s| run(&plan, s)).collect(),
        }
    }

    /// The optimal estimator's phase error just before a pulse, for the
    /// pulse noise and `osc`'s wander, ns.
    pub fn floor_ns(osc: OscillatorClass) -> f64 {
        kalman_floor(1_000.0, osc.wander_ppb_per_sqrt_s, 1.0).phase_prior_ns
    }

    fn fmt_ns(ns: f64) -> String {
        if ns >= 1e6 {
            format!("{:.2} ms", ns / 1e6)
        } else if ns >= 1e3 {
            format!("{:.1} µs", ns / 1e3)
        } else {
            format!("{ns:.0} ns")
        }
    }

    /// The section as markdown, over seeds `1..=seeds`.
    pub fn section(seeds: u64) -> String {
        let mut out = String::from("## PPS engine\n\n");
        out.push_str(&format!(
            "keel's engine with one PPS source on the simulated receiver (kernel PPS σ 1 µs, RMC \
             0.5 s after the pulse), seeds 1–{seeds}. Steady: RMS of sink − UTC just before each \
             pulse over {}–{} s, median over seeds, against the optimal (Kalman) estimator's \
             floor for the pulse noise and the oscillator's wander at the same point (goal ≤ 1.2×). \
             Lock: true s from the first valid sentence to the engine's first lock, worst seed \
             (goal ≤ 10 s). Holdover: the GNSS goes away after {LOCK_S} s of lock; the air is 3 K \
             warmer from a quarter of the outage to three quarters. Violations: seconds in the \
             outage with |sink − UTC| above the bound, summed over seeds. Tightness: the bound at \
             the outage's end over the RMS over seeds of |sink − UTC| there (5 for a 5σ bound as \
             wide as it claims), and the median over seeds of bound / |error| (7.4 for an exact \
             5σ bound). Re-lock: the largest step after the return and the largest bound at the \
             end of the outage it must stay under; seconds to locked with |error| < 10 µs, \
             worst seed.\n\n",
            LOCK_S / 2,
            LOCK_S
        ));
        out.push_str(
            "| oscillator | steady RMS (seeds' range) | floor | ratio | lock after ToD |\n|---|---:|---:|---:|---:|\n",
        );
        let mut holdovers = Vec::new();
        for osc in [OscillatorClass::TCXO, OscillatorClass::OCXO] {
            let h1 = holdover(osc, 3_600, seeds, false);
            let rms = super::median(h1.runs.iter().map(|r| r.steady_rms_ns).collect());
            let floor = floor_ns(osc);
            let lock = h1
                .runs
                .iter()
                .map(|r| r.lock_after_tod_s.unwrap_or(f64::INFINITY))
                .fold(0.0, f64::max);
            out.push_str(&format!(
                "| {} ({} ppb/√s) | {rms:.0} ns ({:.0}–{:.0}) | {floor:.0} ns | {:.2} | {lock:.1} s |\n",
                osc.name,
                osc.wander_ppb_per_sqrt_s,
                h1.runs.iter().map(|r| r.steady_rms_ns).fold(f64::INFINITY, f64::min),
                h1.runs.iter().map(|r| r.steady_rms_ns).fold(0.0, f64::max),
                rms / floor
            ));
            holdovers.push(h1);
            holdovers.push(holdover(osc, 86_400, seeds, false));
            holdovers.push(holdover(osc, 3_600, seeds, true));
            holdovers.push(holdover(osc, 86_400, seeds, true));
        }
        out.push_str(
            "\n| oscillator | drift allowance | outage | violations / checks | error at end (RMS) | bound at end \
             (median) | tightness RMS / median | max step after / bound | re-lock | servo's wander: filter / bound |\n\
             |---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for h in &holdovers {
            let (v, c) = h.violations();
            let n = h.runs.len().max(1) as f64;
            let rms_end = (h.runs.iter().map(|r| r.end_error_ns.powi(2)).sum::<f64>() / n).sqrt();
            let bound = super::median(h.runs.iter().map(|r| r.end_bound_ns).collect());
            let step = h
                .runs
                .iter()
                .map(|r| r.relock_max_step_ns)
                .fold(0.0, f64::max);
            let min_bound = h
                .runs
                .iter()
                .map(|r| r.end_bound_ns)
                .fold(f64::INFINITY, f64::min);
            let relock = h
                .runs
                .iter()
                .map(|r| r.relock_s.unwrap_or(f64::INFINITY))
                .fold(0.0, f64::max);
            out.push_str(&format!(
                "| {} | {} | {} h | {v} / {c} | {} | {} | {:.1} / {:.1} | {} / {} | {relock:.0} s | {:.3} / {:.3} ppb/√s |\n",
                h.oscillator.name,
                h.drift.map_or_else(
                    || format!("default {} ppb", keel_core::engine::HOLDOVER_DRIFT_PPB),
                    |d| format!("{d} ppb ({SWING_K} K)")
                ),
                h.outage_s / 3_600,
                fmt_ns(rms_end),
                fmt_ns(bound),
                h.tightness_rms(),
                h.tightness_median(),
                fmt_ns(step),
                fmt_ns(min_bound),
                super::median(h.runs.iter().map(|r| r.wander_ppb).collect()),
                super::median(h.runs.iter().map(|r| r.bound_wander_ppb).collect()),
            ));
        }
        out
    }
}

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

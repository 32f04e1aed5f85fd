//! The scenario report: every scenario × servo × seed, as a markdown table of
//! medians over seeds.

use keel_core::engine::EngineConfig;
use keel_core::servo::{
    Kalman, KalmanConfig, LinReg as CoreLinReg, Pi as CorePi, PiConfig, ServoConfig,
};
use keel_core::time::{Duration, KernelFreq, Ppb};

use crate::baseline::{LinReg, Phc2sys, Phc2sysConfig, Pi};
use crate::core_servo::CoreServo;
use crate::engine_driver::EngineDriver;
use crate::floor::kalman_floor;
use crate::runner::{RunResult, Scenario, ServoUnderTest, UPDATE_PHASE_NS, run};
use crate::stats::median;

/// A servo in the report: a name and how to build it for a scenario.
pub struct Contender {
    /// Display name.
    pub name: &'static str,
    /// Builds a fresh servo for the scenario.
    pub make: fn(&Scenario) -> Box<dyn ServoUnderTest>,
}

fn phc2sys_config(s: &Scenario) -> Phc2sysConfig {
    Phc2sysConfig {
        // phc2sys -S 1e-4 when stepping is allowed, as in the reference study.
        step_threshold_ns: if s.allow_steps { 100_000.0 } else { 0.0 },
        ..Phc2sysConfig::default()
    }
}

/// linuxptp's PI servo as phc2sys runs it (`phc2sys -s /dev/ptp0 -O 0`).
pub const PI: Contender = Contender {
    name: "phc2sys PI",
    make: |s| {
        Box::new(Phc2sys::new(
            "phc2sys PI",
            Pi::phc2sys(phc2sys_config(s)),
            s.interval_s(),
        ))
    },
};

/// linuxptp's linreg servo (`phc2sys -E linreg`).
pub const LINREG: Contender = Contender {
    name: "phc2sys linreg",
    make: |s| {
        Box::new(Phc2sys::new(
            "phc2sys linreg",
            LinReg::new(phc2sys_config(s)),
            s.interval_s(),
        ))
    },
};

/// keel's servo settings for a scenario: defaults, plus a step threshold
/// when stepping is allowed.
fn keel_config(s: &Scenario) -> ServoConfig {
    ServoConfig {
        step_threshold: if s.allow_steps {
            Duration::from_micros(100)
        } else {
            Duration::ZERO
        },
        ..ServoConfig::default()
    }
}

fn interval(s: &Scenario) -> Duration {
    Duration::from_nanos(i64::try_from(s.interval_ns).unwrap_or(i64::MAX))
}

/// The frequency correction in force at the start: the scenario's prior
/// (its world starts with it written), else zero.
fn start_freq(s: &Scenario) -> Ppb {
    s.prior.map_or(Ppb::ZERO, |(freq, _)| Ppb::from_f64(freq))
}

/// keel's fixed-point port of the PI servo, phc2sys constants.
pub const KEEL_PI: Contender = Contender {
    name: "keel PI",
    make: |s| {
        Box::new(CoreServo::new(
            "keel PI",
            CorePi::new(
                keel_config(s),
                PiConfig::PHC2SYS,
                interval(s),
                start_freq(s),
            ),
        ))
    },
};

/// keel's fixed-point port of the linreg servo.
pub const KEEL_LINREG: Contender = Contender {
    name: "keel linreg",
    make: |s| {
        Box::new(CoreServo::new(
            "keel linreg",
            CoreLinReg::new(keel_config(s), interval(s), start_freq(s)),
        ))
    },
};

/// keel as it ships: its engine (checks, reads of `n_samples` triples,
/// re-reads, apply order) around its default servo, untuned.
pub const KEEL: Contender = Contender {
    name: "keel",
    make: |s| {
        // As the daemon does: the frequency in force is what the kernel
        // has (the world's initial write), whatever the prior says.
        let in_force = s.sim.actuator.initial.to_ppb(KernelFreq::USER_HZ);
        let k = Kalman::new(
            keel_config(s),
            KalmanConfig::default(),
            interval(s),
            in_force,
        );
        let cfg = EngineConfig {
            interval: interval(s),
            samples: u8::try_from(s.n_samples).unwrap_or(u8::MAX),
            servo: keel_config(s),
            save_every: 0,
            ..EngineConfig::default()
        };
        let first = UPDATE_PHASE_NS.min(s.interval_ns / 2);
        let mut d = EngineDriver::new("keel", cfg, k, in_force, s.read, first);
        if let Some((freq, sd)) = s.prior {
            d.engine_mut()
                .set_frequency_prior(Ppb::from_f64(freq), Ppb::from_f64(sd));
        }
        Box::new(d)
    },
};

/// The baselines.
pub fn baselines() -> Vec<Contender> {
    vec![PI, LINREG]
}

/// Everything in the report: keel's default, its PI and linreg ports, and
/// the baselines.
pub fn contenders() -> Vec<Contender> {
    vec![KEEL, KEEL_PI, KEEL_LINREG, PI, LINREG]
}

/// Medians over seeds of one scenario × servo.
#[derive(Clone, Debug)]
pub struct Cell {
    /// Scenario name.
    pub scenario: String,
    /// Servo name.
    pub servo: String,
    /// Every seed's result.
    pub runs: Vec<RunResult>,
}

impl Cell {
    fn med(&self, f: impl Fn(&RunResult) -> f64) -> f64 {
        let mut v: Vec<f64> = self.runs.iter().map(f).collect();
        median(&mut v).unwrap_or(f64::NAN)
    }

    /// Median steady RMS offset, ns.
    pub fn rms_ns(&self) -> f64 {
        self.med(|r| r.rms_offset_ns)
    }

    /// Median steady max |offset|, ns.
    pub fn max_ns(&self) -> f64 {
        self.med(|r| r.max_offset_ns)
    }

    /// Median transient peak after the perturbation, ns.
    pub fn peak_ns(&self) -> f64 {
        self.med(|r| r.peak_offset_ns)
    }

    /// Median RMS frequency error, ppb.
    pub fn freq_ppb(&self) -> f64 {
        self.med(|r| r.rms_freq_ppb)
    }

    /// Median settle time below 1 µs (∞ when a seed never settles).
    pub fn settle_1us(&self) -> f64 {
        self.med(|r| r.settle_1us_s.unwrap_or(f64::INFINITY))
    }

    /// Median settle time below 100 ns (∞ when a seed never settles).
    pub fn settle_100ns(&self) -> f64 {
        self.med(|r| r.settle_100ns_s.unwrap_or(f64::INFINITY))
    }

    /// The time page's reads over every seed (zero for a servo that
    /// publishes none).
    pub fn page_reads(&self) -> u64 {
        self.runs.iter().map(|r| r.page.reads).sum()
    }

    /// The time page's checks, misses and misses after an unannounced
    /// event, over every seed.
    pub fn page_counts(&self) -> (u64, u64, u64) {
        self.runs.iter().fold((0, 0, 0), |(c, m, u), r| {
            (
                c + r.page.checks,
                m + r.page.misses,
                u + r.page.misses_unannounced,
            )
        })
    }

    /// Median over seeds of the time page's median half-width, ns.
    pub fn page_half_width_ns(&self) -> f64 {
        self.med(|r| r.page.half_width_median_ns.unwrap_or(f64::NAN))
    }

    /// Median over seeds of the time page's median half-width / |true
    /// error|.
    pub fn page_ratio(&self) -> f64 {
        self.med(|r| r.page.ratio_median.unwrap_or(f64::NAN))
    }

    /// Error-bound checks and violations over every seed.
    pub fn bound_counts(&self) -> (u64, u64) {
        self.runs.iter().fold((0, 0), |(n, v), r| {
            (n + r.bound_checks, v + r.bound_violations)
        })
    }
}

/// Runs one scenario × servo over `seeds`.
pub fn run_cell(scn: &Scenario, c: &Contender, seeds: &[u64]) -> Cell {
    let runs = seeds
        .iter()
        .map(|&seed| {
            let mut servo = (c.make)(scn);
            run(scn, servo.as_mut(), seed)
        })
        .collect();
    Cell {
        scenario: scn.name.clone(),
        servo: c.name.into(),
        runs,
    }
}

/// Runs everything, spreading the cells over the machine's cores.
pub fn run_all(scenarios: &[Scenario], contenders: &[Contender], seeds: &[u64]) -> Vec<Cell> {
    let jobs: Vec<(&Scenario, &Contender)> = scenarios
        .iter()
        .flat_map(|s| contenders.iter().map(move |c| (s, c)))
        .collect();
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut cells: Vec<Option<Cell>> = vec![None; jobs.len()];
    let results = std::sync::Mutex::new(&mut cells);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(&(s, c)) = jobs.get(i) else { break };
                    let cell = run_cell(s, c, seeds);
                    if let Ok(mut r) = results.lock() {
                        r[i] = Some(cell);
                    }
                }
            });
        }
    });
    cells.into_iter().flatten().collect()
}

fn fmt_s(s: f64) -> String {
    if s.is_finite() {
        format!("{s:.0}")
    } else {
        "never".into()
    }
}

fn fmt_v(v: f64) -> String {
    if !v.is_finite() {
        "–".into()
    } else if v >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// The markdown table.
pub fn markdown(scenarios: &[Scenario], cells: &[Cell], seeds: usize) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "Medians over {seeds} seeds. Settle: seconds after start (or after the perturbation) until |offset| stays \
         below 1 µs / 100 ns. RMS, max: steady window. Peak: max |offset| after the perturbation. \
         Floor: optimal linear estimator, phase error after / before an update.\n\n"
    ));
    out.push_str("| scenario | servo | settle <1 µs (s) | settle <100 ns (s) | RMS (ns) | max (ns) | peak (ns) | freq RMS (ppb) | bound viol. / tightness | floor (ns) |\n");
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for scn in scenarios {
        let f = kalman_floor(
            scn.sigma_ns(),
            scn.sim.oscillator.wander_ppb_per_sqrt_s,
            scn.interval_s(),
        );
        for c in cells.iter().filter(|c| c.scenario == scn.name) {
            let (checks, viol) = c.bound_counts();
            let bound = if checks == 0 {
                "–".to_string()
            } else {
                #[allow(clippy::cast_precision_loss, reason = "counts")]
                let rate = viol as f64 / checks as f64;
                let t = c.med(|r| r.bound_tightness_median.unwrap_or(f64::NAN));
                format!("{rate:.1e} / {t:.1}")
            };
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1}–{:.1} |\n",
                c.scenario,
                c.servo,
                fmt_s(c.settle_1us()),
                fmt_s(c.settle_100ns()),
                fmt_v(c.rms_ns()),
                fmt_v(c.max_ns()),
                if scn.settle_from_s > 0 {
                    fmt_v(c.peak_ns())
                } else {
                    "–".into()
                },
                fmt_v(c.freq_ppb()),
                bound,
                f.phase_posterior_ns,
                f.phase_prior_ns,
            ));
        }
    }
    out.push_str(&page_table(scenarios, cells));
    out
}

/// The table "time page intervals per scenario" (the servos that publish
/// one), and the reads that missed the truth.
pub fn page_table(scenarios: &[Scenario], cells: &[Cell]) -> String {
    let mut out = String::new();
    let page_cells: Vec<&Cell> = scenarios
        .iter()
        .flat_map(|s| cells.iter().filter(move |c| c.scenario == s.name))
        .filter(|c| c.page_reads() > 0)
        .collect();
    if page_cells.is_empty() {
        return out;
    }
    out.push_str(&format!(
        "\n### Time page intervals per scenario\n\n\
         keel's time page as `keel sync` publishes it after every update, read at {} random \
         instants between updates, just before each update and at the first instant the guest \
         runs after every scripted event, by `keel-client`'s reader (`CLOCK_MONOTONIC_COARSE`) \
         and by one on both fine clocks, with the vmclock marker. Checks: reads that got a \
         confident interval (synchronised or free-running; the others read unknown or \
         disrupted); misses: checks whose interval did not hold the true time. Unannounced: \
         misses after an event no reader can see (an unsignalled step of a clock or of the \
         frequency, a pause), read from a snapshot published before it or less than an update \
         interval after it. After a signal: reads after a signalled migration or resume, before \
         the daemon's next update / how many of them were confident. Sums over seeds; \
         half-widths (the client's) and half-width / |true error| are medians over seeds of \
         each run's median.\n\n",
        crate::runner::time_page::RANDOM_READS
    ));
    out.push_str("| scenario | servo | reads | checks | misses | unannounced | after a signal | median half-width (ns) | half-width / \\|true error\\| |\n");
    out.push_str("|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
    let mut details = Vec::new();
    for c in &page_cells {
        let (checks, misses, unannounced) = c.page_counts();
        let (sig, sig_conf) = c.runs.iter().fold((0, 0), |(a, b), r| {
            (a + r.page.after_signal.0, b + r.page.after_signal.1)
        });
        out.push_str(&format!(
            "| {} | {} | {} | {checks} | {misses} | {unannounced} | {} | {} | {} |\n",
            c.scenario,
            c.servo,
            c.page_reads(),
            if sig > 0 {
                format!("{sig} / {sig_conf}")
            } else {
                "–".into()
            },
            fmt_v(c.page_half_width_ns()),
            fmt_v(c.page_ratio()),
        ));
        for r in &c.runs {
            for m in &r.page.missed {
                details.push(format!(
                    "- {}, {}, seed {}: {m}\n",
                    c.scenario, c.servo, r.page.seed
                ));
            }
        }
    }
    if !details.is_empty() {
        out.push_str(&format!(
            "\nMisses (the first {} of each run):\n\n",
            crate::runner::time_page::MISSES_KEPT
        ));
        for d in details {
            out.push_str(&d);
        }
    }
    out
}

//! Cost of one servo update and of one engine update:
//! `cargo bench -p keel-core --bench servo` (`KEEL_BENCH_N` sets the stream
//! length, e.g. small under `valgrind --tool=callgrind`).
//!
//! Feeds each servo a locked-state stream of noisy offsets (σ = 10 ns, one per
//! second) and reports the mean time per `sample` + `applied` pair, plus the
//! fastest and the median tenth of the run (less disturbed on a busy machine).
//! The engine row is a whole update as `keel sync` runs it: the clock check,
//! the reading, the servo, the frequency and kernel status write, the
//! schedule (`poll` → `on_clock_check` → `poll` → `on_reading` → `poll` →
//! `on_adjusted` → `poll`). A plain harness keeps the dependency list short;
//! run it on a quiet machine.

use std::hint::black_box;
use std::time::Instant;

use keel_core::engine::{
    Adjusted, ClockCheck, Command, Engine, EngineConfig, Reading, SourceConfig,
};
use keel_core::servo::{
    Applied, Kalman, KalmanConfig, LinReg, OffsetSample, Pi, PiConfig, Servo, ServoConfig,
};
use keel_core::time::{Duration, Ppb, Timestamp};

fn stream(n: usize) -> Vec<OffsetSample> {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    (0..n)
        .map(|k| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let noise = i64::try_from(x % 41).unwrap_or(0) - 20;
            OffsetSample {
                offset: Duration::from_nanos(noise),
                local_ts: Timestamp::from_nanos(
                    1_700_000_000_000_000_000 + 1_000_000_000 * k as u64,
                ),
                uncertainty: Duration::ZERO,
            }
        })
        .collect()
}

fn bench(name: &str, servo: &mut dyn Servo, samples: &[OffsetSample]) {
    // Warm up (and lock) on the first half, time the second.
    let (warm, timed) = samples.split_at(samples.len() / 2);
    let mut drive = |s: &OffsetSample| {
        let out = servo.sample(black_box(s));
        let (step, freq) = out.action.correction().unwrap_or((None, out.freq));
        servo.applied(&Applied { step, freq });
        let _ = black_box(out);
    };
    warm.iter().for_each(&mut drive);
    // The mean over the whole timed half, and per tenth of it: on a shared
    // machine the mean also carries other processes' time, the fastest
    // tenth much less of it.
    let mut tenths = Vec::with_capacity(10);
    let start = Instant::now();
    for chunk in timed.chunks(timed.len().div_ceil(10)) {
        let t = Instant::now();
        chunk.iter().for_each(&mut drive);
        tenths.push(t.elapsed().as_nanos() as f64 / chunk.len() as f64);
    }
    let per = start.elapsed().as_nanos() as f64 / timed.len() as f64;
    tenths.sort_by(f64::total_cmp);
    println!(
        "{name:8} {per:8.1} ns per update ({} updates; by tenths: fastest {:.1}, median {:.1})",
        timed.len(),
        tenths[0],
        tenths[tenths.len() / 2]
    );
}

/// One engine update per sample, as the daemon drives it.
fn bench_engine(samples: &[OffsetSample]) {
    let cfg = EngineConfig::default();
    let servo = Kalman::new(cfg.servo, KalmanConfig::default(), cfg.interval, Ppb::ZERO);
    let mut e = Engine::new(cfg, servo, Ppb::ZERO, 0);
    let src = e.add_source(SourceConfig::phc()).expect("a slot");
    let mut now = 0u64;
    let mut update = |s: &OffsetSample| {
        loop {
            match e.poll(black_box(now)) {
                Command::Wait(t) => {
                    now = t.max(now.saturating_add(1_000_000_000));
                    break;
                }
                Command::CheckClock => e.on_clock_check(&ClockCheck {
                    kernel_freq: Some(e.status().freq),
                    raw_ns: now,
                    sink: s.local_ts,
                    pair_width_ns: 0,
                    suspended_ns: Some(0),
                    wall: s.local_ts,
                    leap: None,
                    tai_utc_s: None,
                }),
                Command::Read { .. } => e.on_reading(
                    src,
                    &Reading {
                        offset: s.offset,
                        local_ts: s.local_ts,
                        delay: Duration::ZERO,
                        uncertainty: s.uncertainty,
                        noise_limited: false,
                    },
                ),
                Command::Adjust(a) => e.on_adjusted(Ok(Adjusted {
                    freq: a.freq.unwrap_or(e.status().freq),
                    at: s.local_ts,
                })),
                Command::Step(_) => e.on_stepped(true),
                Command::SaveState(_) | Command::SendNtp { .. } | Command::Halt(_) => {}
            }
        }
    };
    let (warm, timed) = samples.split_at(samples.len() / 2);
    warm.iter().for_each(&mut update);
    let start = Instant::now();
    timed.iter().for_each(&mut update);
    let per = start.elapsed().as_nanos() as f64 / timed.len() as f64;
    println!(
        "engine   {per:8.1} ns per update ({} updates, check + read + servo + adjust + schedule)",
        timed.len()
    );
    println!("state: engine {} bytes", size_of::<Engine<Kalman>>());
}

fn main() {
    let n = std::env::var("KEEL_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400_000);
    let samples = stream(n);
    bench_engine(&samples);
    let cfg = ServoConfig::default();
    let mut kalman = Kalman::new(
        cfg,
        KalmanConfig::default(),
        Duration::from_secs(1),
        Ppb::ZERO,
    );
    bench("keel", &mut kalman, &samples);
    let mut pi = Pi::new(cfg, PiConfig::PHC2SYS, Duration::from_secs(1), Ppb::ZERO);
    bench("PI", &mut pi, &samples);
    let mut linreg = LinReg::new(cfg, Duration::from_secs(1), Ppb::ZERO);
    bench("linreg", &mut linreg, &samples);
    println!(
        "state: keel {} bytes, PI {} bytes, linreg {} bytes",
        size_of::<Kalman>(),
        size_of::<Pi>(),
        size_of::<LinReg>()
    );
}

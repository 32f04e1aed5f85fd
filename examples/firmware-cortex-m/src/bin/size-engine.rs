//! Size build (c): keel's engine (the whole sync loop) around the default
//! servo, reading a PHC by sys/phc/sys triples, steering an integer clock
//! model once a second, as a firmware without a second clock runs it (no
//! clock checks, no kernel status).

#![no_std]
#![no_main]

use core::hint::black_box;

use keel_core::engine::{Command, Engine, EngineConfig, Reading, SinkConfig, SourceConfig};
use keel_core::measure::phc::{PHC_MAX_SAMPLES, PhcReading, PhcTriple};
use keel_core::servo::{Kalman, KalmanConfig};
use keel_core::time::{Duration, Ppb};
use keel_firmware_cortex_m::{
    Noise, Plant, fnv1a, paint_stack, put, put_hex, put_u64, report_and_exit,
};

const UPDATES: u64 = 300;

/// The per-sample engine update (the reading, the servo, the command that
/// follows), kept out of line so `size-report.sh` can check what it calls.
#[inline(never)]
#[unsafe(no_mangle)]
fn keel_engine_update(engine: &mut Engine<Kalman, 1, 0, 0>, r: &Reading) -> Command {
    engine.on_reading(keel_core::engine::SourceId(0), r);
    engine.poll(0)
}

#[cortex_m_rt::entry]
fn main() -> ! {
    paint_stack();
    let cfg = EngineConfig {
        samples: 3,
        clock_checks: false,
        sink: SinkConfig {
            kernel_status: false,
            max_frequency: Ppb::from_ppb(500_000),
        },
        ..EngineConfig::default()
    };
    let servo = Kalman::new(cfg.servo, KalmanConfig::default(), cfg.interval, Ppb::ZERO);
    let mut engine: Engine<Kalman, 1, 0, 0> =
        Engine::new_with_capacity(cfg, servo, Ppb::ZERO, 1_000_000_000);
    let _ = engine.add_source(SourceConfig::phc());
    // +3 ms, +40 ppm, ±50 ns reading noise; loop time = reference time.
    let mut plant = Plant::new(black_box(1_000_000_000), 3_000_000, black_box(40_000));
    let mut noise = Noise::new(black_box(5));
    let mut h = 0xCBF2_9CE4_8422_2325;
    let mut cmd = engine.poll(plant.true_ns);
    let mut guard = 0u32;
    while engine.status().counters.updates < UPDATES && guard < 10 * UPDATES as u32 {
        guard += 1;
        cmd = match cmd {
            Command::Wait(t) => {
                while plant.true_ns < t {
                    plant.second();
                }
                engine.poll(plant.true_ns)
            }
            Command::Read { samples, .. } => {
                let mut tr = [PhcTriple::default(); PHC_MAX_SAMPLES];
                let n = usize::from(samples).min(PHC_MAX_SAMPLES);
                for (k, t) in tr.iter_mut().take(n).enumerate() {
                    let at = 2_000 * k as u64;
                    let jitter = noise.next(50);
                    t.sys_before = plant.local(at);
                    t.phc = plant
                        .reference(at + 500)
                        .wrapping_add(Duration::from_nanos(-jitter));
                    t.sys_after = plant.local(at + 1_000);
                }
                let read = PhcReading::Sampled {
                    samples: tr,
                    len: n,
                };
                match read.best_sample() {
                    Some(s) => keel_engine_update(&mut engine, &Reading::phc(&s)),
                    None => {
                        engine.on_read_error(
                            keel_core::engine::SourceId(0),
                            keel_core::engine::ReadError::Failed,
                            plant.local(0),
                        );
                        engine.poll(plant.true_ns)
                    }
                }
            }
            Command::Adjust(a) => {
                if let Some(f) = a.freq {
                    plant.correction_ppb = f.floor_ppb();
                    fnv1a(&mut h, f.to_bits() as u64);
                }
                engine.on_adjusted(Ok(keel_core::engine::Adjusted {
                    freq: a.freq.unwrap_or(Ppb::ZERO),
                    at: plant.local(0),
                }));
                engine.poll(plant.true_ns)
            }
            Command::Step(d) => {
                plant.offset_ns += d.as_nanos();
                engine.on_stepped(true);
                engine.poll(plant.true_ns)
            }
            Command::CheckClock | Command::SaveState(_) | Command::SendNtp { .. } => {
                engine.poll(plant.true_ns)
            }
            Command::Halt(_) => break,
        };
        fnv1a(&mut h, plant.offset_ns as u64);
    }
    let locked = engine.status().state.is_locked() && plant.offset_ns.abs() < 1_000;
    put("RESULT engine hash=");
    put_hex(h);
    put(" offset_ns=");
    put_u64(plant.offset_ns.unsigned_abs());
    put(" steps=");
    put_u64(engine.status().counters.steps);
    put(if locked {
        " locked=true\n"
    } else {
        " locked=false\n"
    });
    report_and_exit(locked)
}

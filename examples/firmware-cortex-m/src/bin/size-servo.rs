//! Size build (a): keel's default servo alone, steering an integer clock
//! model from noisy offset samples, once a second.

#![no_std]
#![no_main]

use core::hint::black_box;

use keel_core::servo::{Kalman, KalmanConfig, OffsetSample, Servo, ServoConfig, ServoState};
use keel_core::time::{Duration, Ppb};
use keel_firmware_cortex_m::{
    Noise, Plant, fnv1a, paint_stack, put, put_hex, put_u64, report_and_exit,
};

const UPDATES: u32 = 300;

/// The per-sample servo update, kept out of line so `size-report.sh` can
/// check what it calls.
#[inline(never)]
#[unsafe(no_mangle)]
fn keel_servo_update(servo: &mut Kalman, s: &OffsetSample) -> keel_core::servo::ServoOutput {
    servo.sample(s)
}

/// The servo's feedback after an applied correction.
#[inline(never)]
#[unsafe(no_mangle)]
fn keel_servo_feedback(servo: &mut Kalman, a: &keel_core::servo::Applied) {
    servo.applied(a)
}

use keel_servo_feedback as feedback;
use keel_servo_update as update;

#[cortex_m_rt::entry]
fn main() -> ! {
    paint_stack();
    let mut servo = Kalman::new(
        ServoConfig::default(),
        KalmanConfig::default(),
        Duration::from_secs(1),
        Ppb::ZERO,
    );
    // +3 ms, +40 ppm, ±50 ns reading noise.
    let mut plant = Plant::new(
        black_box(1_700_000_000_000_000_000),
        3_000_000,
        black_box(40_000),
    );
    let mut noise = Noise::new(black_box(7));
    let mut h = 0xCBF2_9CE4_8422_2325;
    let mut out = None;
    for _ in 0..UPDATES {
        plant.second();
        let s = OffsetSample {
            offset: Duration::from_nanos(plant.offset_ns + noise.next(50)),
            local_ts: plant.local(0),
            uncertainty: Duration::ZERO,
        };
        let o = update(&mut servo, black_box(&s));
        if let Some(a) = plant.apply(&o) {
            feedback(&mut servo, &a);
        }
        fnv1a(&mut h, o.freq.to_bits() as u64);
        fnv1a(&mut h, plant.offset_ns as u64);
        out = Some(o);
    }
    let locked = out
        .is_some_and(|o| matches!(o.state, ServoState::Locked | ServoState::LockedStable))
        && plant.offset_ns.abs() < 1_000;
    put("RESULT servo hash=");
    put_hex(h);
    put(" offset_ns=");
    put_u64(plant.offset_ns.unsigned_abs());
    put(if locked {
        " locked=true\n"
    } else {
        " locked=false\n"
    });
    report_and_exit(locked)
}

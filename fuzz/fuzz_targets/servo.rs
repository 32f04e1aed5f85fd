//! Servos and the leap-second list: any sequence of samples, outages,
//! disruptions and feedback — offsets and timestamps over the whole i64/u64
//! range, time running backwards — never panics, and every frequency the
//! servo asks for is within its maximum. Any bytes parse as a leap list or
//! fail cleanly.
#![no_main]

use keel_core::servo::{Action, Applied, Kalman, KalmanConfig, LinReg, OffsetSample, Pi, PiConfig, Servo, ServoConfig};
use keel_core::time::{Duration, LeapTable, Ppb, Timestamp};
use libfuzzer_sys::fuzz_target;

fn word(data: &[u8], i: usize) -> u64 {
    let mut b = [0u8; 8];
    for (k, v) in b.iter_mut().enumerate() {
        *v = data.get(i * 8 + k).copied().unwrap_or(0);
    }
    u64::from_le_bytes(b)
}

fn drive(servo: &mut dyn Servo, cfg: &ServoConfig, data: &[u8]) {
    for i in 0..data.len() / 8 / 3 {
        let (a, b, c) = (word(data, 3 * i), word(data, 3 * i + 1), word(data, 3 * i + 2));
        let ts = Timestamp::from_nanos(b);
        let out = match c % 8 {
            0 => {
                servo.disruption();
                continue;
            }
            1 => servo.no_sample(ts),
            2 => {
                servo.applied(&Applied { step: Some(Duration::from_nanos(a as i64)), freq: Ppb::from_bits(c as i64) });
                continue;
            }
            3 => {
                let _ = servo.error_bound(ts);
                continue;
            }
            _ => servo.sample(&OffsetSample {
                offset: Duration::from_nanos(a as i64),
                local_ts: ts,
                uncertainty: Duration::from_nanos((c >> 3) as i64),
            }),
        };
        if let Action::SetFrequency(f) | Action::Step { freq: f, .. } = out.action {
            assert_eq!(f.clamp_abs(cfg.max_frequency), f, "frequency beyond the maximum");
            servo.applied(&Applied { step: None, freq: f });
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let _ = LeapTable::parse(data);
    let cfg = ServoConfig { step_threshold: Duration::from_micros(1), ..ServoConfig::default() };
    let interval = Duration::from_nanos(word(data, 0) as i64 % 10_000_000_000);
    let mut k = Kalman::new(cfg, KalmanConfig::default(), interval, Ppb::from_bits(word(data, 1) as i64));
    drive(&mut k, &cfg, data);
    let mut p = Pi::new(cfg, PiConfig::PHC2SYS, interval, Ppb::ZERO);
    drive(&mut p, &cfg, data);
    let mut l = LinReg::new(cfg, interval, Ppb::from_bits(word(data, 2) as i64));
    drive(&mut l, &cfg, data);
});

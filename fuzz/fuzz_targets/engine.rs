//! The engine with a PHC and three NTP servers: any sequence of polls,
//! answers (asked for or not), readings, NTP samples and kisses with fields
//! over their whole range, disruptions and clock checks — time running
//! backwards included — never panics, and every frequency it asks for is
//! within the sink's maximum.
#![no_main]

use keel_core::engine::{
    Adjusted, ClockCheck, Command, Disruption, Engine, EngineConfig, NtpPolicy, ReadError,
    Reading, SourceConfig, SourceId,
};
use keel_core::measure::ntp::{KissAction, NtpSample};
use keel_core::servo::{Kalman, KalmanConfig};
use keel_core::time::{Duration, Ppb, Timestamp};
use keel_core::wire::ntp::{LeapIndicator, ReferenceId};
use libfuzzer_sys::fuzz_target;

fn word(data: &[u8], i: usize) -> u64 {
    let mut b = [0u8; 8];
    for (k, v) in b.iter_mut().enumerate() {
        *v = data.get(i * 8 + k).copied().unwrap_or(0);
    }
    u64::from_le_bytes(b)
}

fuzz_target!(|data: &[u8]| {
    let cfg = EngineConfig::default();
    let servo = Kalman::new(cfg.servo, KalmanConfig::default(), cfg.interval, Ppb::ZERO);
    let mut e = Engine::new(cfg, servo, Ppb::ZERO, 1_000_000_000);
    let _ = e.add_source(SourceConfig::phc());
    let p = word(data, 0);
    for k in 0..3u64 {
        let policy = NtpPolicy {
            minpoll: (p >> (8 * k)) as i8,
            maxpoll: (p >> (8 * k + 4)) as i8,
            iburst: p >> (40 + k) & 1 == 1,
            prefer: p >> (44 + k) & 1 == 1,
            noselect: p >> (48 + k) & 1 == 1,
        };
        let _ = e.add_ntp_source(policy, p >> 56);
    }
    let max = cfg.sink.max_frequency;
    let mut now = 0u64;
    for i in 0..data.len().saturating_sub(8) / 8 / 3 {
        let (a, b, c) = (word(data, 1 + 3 * i), word(data, 2 + 3 * i), word(data, 3 + 3 * i));
        // Mostly forward, now and then backwards.
        now = if c & 0x100 == 0 { now.wrapping_add(a >> 40) } else { a };
        let ts = Timestamp::from_nanos(b);
        let source = SourceId((c >> 8) as u8 % 5);
        match c % 11 {
            0 | 1 | 2 => {
                if let Command::Adjust(adj) = e.poll(now) {
                    if let Some(f) = adj.freq {
                        assert_eq!(f.clamp_abs(max), f, "frequency beyond the sink's maximum");
                    }
                }
            }
            3 => e.on_clock_check(&ClockCheck {
                kernel_freq: (c & 0x200 != 0).then(|| Ppb::from_bits(a as i64)),
                raw_ns: now,
                sink: ts,
                pair_width_ns: c >> 40,
                suspended_ns: (c & 0x400 != 0).then_some(a as i64),
                wall: ts,
                leap: None,
                tai_utc_s: None,
            }),
            4 => e.on_reading(
                source,
                &Reading {
                    offset: Duration::from_nanos(a as i64),
                    local_ts: ts,
                    delay: Duration::from_nanos((c >> 16) as i64),
                    uncertainty: Duration::from_nanos((c >> 20) as i64),
                    noise_limited: c & 0x200 != 0,
                },
            ),
            5 => {
                let err = [ReadError::Busy, ReadError::Failed, ReadError::Paused][(c >> 16) as usize % 3];
                e.on_read_error(source, err, ts);
            }
            6 => e.on_adjusted(if c & 0x200 != 0 {
                Err(())
            } else {
                Ok(Adjusted { freq: Ppb::from_bits(a as i64), at: ts })
            }),
            7 => e.on_stepped(c & 0x200 != 0),
            8 => e.on_ntp_sample(
                now,
                source,
                &NtpSample {
                    offset: Duration::from_nanos(a as i64),
                    delay: Duration::from_nanos((c >> 12) as i64),
                    dispersion: Duration::from_nanos((c >> 24) as i64),
                    root_delay: Duration::from_nanos((a >> 33) as i64),
                    root_dispersion: Duration::from_nanos((b >> 40) as i64),
                    stratum: (c >> 48) as u8,
                    leap: LeapIndicator::NoWarning,
                    reference_id: ReferenceId([0; 4]),
                    poll: (c >> 56) as i8,
                    local_receive: ts,
                },
            ),
            9 => {
                let action = [KissAction::ReducePollRate, KissAction::StopUsingServer, KissAction::Ignore]
                    [(c >> 16) as usize % 3];
                e.on_ntp_kiss(now, source, action, (c >> 24) as i8);
            }
            _ => {
                let d = [Disruption::Migration, Disruption::Resume, Disruption::ReadMethodLost][(c >> 16) as usize % 3];
                e.on_disruption(now, d);
                let _ = e.ntp_view(ts);
                let _ = e.bound_at(ts);
                let _ = e.ntp_source(source, ts);
            }
        }
        while e.take_notice().is_some() {}
    }
});

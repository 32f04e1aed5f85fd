//! PPS labelling: any configuration and any stream of edges, time-of-day
//! readings and clock steps never panics, and what is labelled is
//! consistent (offset = local − the second's start).
#![no_main]

use keel_core::measure::pps::{
    EdgeOutcome, Labeller, LeapSecond, PpsConfig, PpsEdge, Tod, TodLeap, UtcSecond,
};
use keel_core::time::{Duration, LeapKind, Timestamp};
use libfuzzer_sys::fuzz_target;

fn u64_at(d: &[u8], i: usize) -> u64 {
    let mut b = [0u8; 8];
    for (k, x) in b.iter_mut().enumerate() {
        *x = d.get(i + k).copied().unwrap_or(0);
    }
    u64::from_le_bytes(b)
}

fn i64_at(d: &[u8], i: usize) -> i64 {
    u64_at(d, i) as i64
}

fn u8_at(d: &[u8], i: usize) -> u8 {
    d.get(i).copied().unwrap_or(0)
}

fuzz_target!(|data: &[u8]| {
    // Small configurations are the interesting ones: scale the raw values.
    let cfg = PpsConfig {
        cable_delay: Duration::from_nanos(i64_at(data, 0) >> 30),
        edge_tolerance: Duration::from_nanos(i64_at(data, 8) >> 36),
        max_freq_error_ppm: u32::from(u8_at(data, 16)) * 8,
        max_gap: u32::from(u8_at(data, 17)),
        pulse_width: (u8_at(data, 18) & 1 == 1)
            .then(|| Duration::from_nanos(i64_at(data, 19) >> 34)),
        window_unlocked: Duration::from_nanos(i64_at(data, 27) >> 33),
        window_locked: Duration::from_nanos(i64_at(data, 35) >> 33),
        max_tod_age: Duration::from_nanos(i64_at(data, 43) >> 30),
        lock_after: u8_at(data, 51) & 7,
        follow_after: u8_at(data, 52) & 7,
        reanchor_after: u8_at(data, 53) & 7,
    };
    let mut l = Labeller::new(cfg);
    let mut at = 54;
    // Times near a base, so the pulse and time-of-day logic is reached.
    let base = 1_700_000_000_000_000_000u64;
    while at + 11 <= data.len() {
        let kind = u8_at(data, at);
        let t = base.wrapping_add(u64_at(data, at + 1) >> (kind >> 5));
        let x = u8_at(data, at + 9) as i64 | ((u8_at(data, at + 10) as i64) << 8);
        at += 11;
        match kind & 3 {
            0 | 1 => {
                if let EdgeOutcome::Labelled(e) = l.on_edge(PpsEdge {
                    local: Timestamp::from_nanos(t),
                    uncertainty: Duration::from_nanos(x),
                }) {
                    assert_eq!(e.offset, e.local.duration_since(e.second.start()));
                }
            }
            2 => {
                let leap = match (kind >> 2) & 3 {
                    0 => TodLeap::Unknown,
                    1 => TodLeap::None,
                    2 => TodLeap::Pending(LeapKind::Insert),
                    _ => TodLeap::Pending(LeapKind::Delete),
                };
                let second = UtcSecond {
                    unix_secs: 1_700_000_000u64.wrapping_add_signed(x - 0x8000),
                    leap: kind & 16 != 0,
                };
                let _ = l.on_tod(Tod {
                    second,
                    local: Timestamp::from_nanos(t),
                    leap,
                });
            }
            _ => match (kind >> 2) & 3 {
                0 => l.apply_step(Duration::from_nanos((t as i64) >> 20)),
                1 => l.reset(),
                2 => l.set_leap(Some(LeapSecond {
                    midnight: 1_700_006_400u64.wrapping_add_signed(x - 0x8000),
                    kind: if kind & 16 != 0 {
                        LeapKind::Insert
                    } else {
                        LeapKind::Delete
                    },
                })),
                _ => l.set_leap(None),
            },
        }
    }
    let _ = (l.counters(), l.is_locked(), l.last_second());
});

//! The labelling goals of issue 17 on the simulated receiver, through the
//! whole path (serial bytes → lines → NMEA → time of day → labeller).

use super::*;
use crate::sim::SimConfig;

/// The default world: local clock +0.5 s and +50 ppm, 1 ppb/√s wander,
/// never steered.
fn world(seed: u64) -> World {
    World::new(&SimConfig::default(), seed)
}

fn print(name: &str, r: &LabellingRun) {
    let c = r.counters;
    // Recorded with `cargo test -p keel-core gnss -- --nocapture`.
    std::println!(
        "{name}: {} pulses, {} labelled, {} mislabelled, lock {:?} s after the first time of day, \
         wrong edges {} sent / {} used, pulses lost {} / reported missed {}, \
         pulses rejected {}, wrong seconds {} sent / {} counted, {} ambiguous, \
         {} jumps followed, {} locks, offset error RMS {:.0} ns max {:.0} ns",
        r.pulses,
        r.labelled,
        r.mislabelled,
        r.lock_after_s,
        r.wrong_edges_sent,
        r.wrong_edges_used,
        r.pulses_lost,
        r.missed_reported,
        r.pulses_rejected,
        r.wrong_seconds_sent,
        c.wrong_seconds,
        c.ambiguous_tods,
        c.jumps_followed,
        c.locks,
        r.offset_rms_ns,
        r.offset_max_ns,
    );
}

extern crate std;

#[test]
fn a_clean_receiver_locks_in_about_three_seconds_and_labels_every_pulse() {
    let mut w = world(1);
    let r = run_labelling(
        &mut w,
        &GnssConfig::default(),
        &PpsConfig::default(),
        1,
        1_000,
        None,
    );
    print("clean", &r);
    // Sentence of pulse 1 at 1.5 s; it names pulse 1, pulses 2–4 agree, the
    // lock is taken with the sentence of pulse 4, 3 s later.
    assert_eq!(r.lock_after_s, Some(3.0));
    assert_eq!(r.labelled, 1_000 - 4);
    assert_eq!((r.mislabelled, r.not_utc), (0, 0));
    assert_eq!(r.counters.tods_agreeing, 999);
    // The offsets are the local clock's, to the pulse noise (σ 1 µs).
    assert!(
        (800.0..1_200.0).contains(&r.offset_rms_ns),
        "{}",
        r.offset_rms_ns
    );
}

/// Issue 17's goals: 0 mislabelled seconds in 10⁵ pulses with the time of
/// day ±0.45 s (unlocked window) and ±0.35 s (locked window), locked within
/// 10 s of the first valid time of day; no wrong edge used; gaps reported.
fn goal(jitter_ms: f64, seed: u64) -> LabellingRun {
    let gnss = GnssConfig::all_faults(jitter_ms * 1e6);
    let pps = gnss.labeller_config();
    assert_eq!(pps.cable_delay, Duration::from_nanos(150));
    assert_eq!(pps.pulse_width, Some(Duration::from_millis(100)));
    let mut w = world(seed);
    let r = run_labelling(&mut w, &gnss, &pps, seed, 100_000, None);
    print(&std::format!("±{jitter_ms} ms seed {seed}"), &r);
    assert_eq!(r.mislabelled, 0);
    assert_eq!(r.wrong_edges_used, 0);
    let lock = r.lock_after_s.unwrap();
    assert!(lock <= 10.0, "locked {lock} s after the first time of day");
    assert_eq!(r.counters.locks, 1, "never lost the lock");
    assert_eq!(r.counters.reanchors + r.counters.long_gaps, 0);
    // Every lost pulse inside the run is reported (one may precede the first
    // accepted edge), and so is a pulse rejected as a trailing edge.
    assert!(r.missed_reported + 2 >= r.pulses_lost);
    assert!(r.missed_reported <= r.pulses_lost + r.pulses_rejected);
    assert!(r.pulses_rejected < 10);
    // Faults really happened, and every wrong second sent while locked was
    // counted, none followed.
    assert!(r.pulses_lost > 800 && r.wrong_edges_sent > 95_000 && r.wrong_seconds_sent > 800);
    let counted = r.counters.wrong_seconds;
    assert!(counted <= r.wrong_seconds_sent && counted * 10 >= r.wrong_seconds_sent * 8);
    assert_eq!(r.counters.jumps_followed, 0);
    assert!(r.labelled > 98_000);
    // Offsets to the pulse noise: the cable delay is taken off.
    assert!(r.offset_rms_ns < 1_100.0 && r.offset_max_ns < 6_000.0);
    r
}

#[test]
fn issue_17_goal_tod_jitter_045_s_unlocked_window() {
    let r = goal(450.0, 1);
    // ±0.45 s is outside the locked ±0.4 s window some of the time: those
    // are set aside as ambiguous, never used.
    assert!(r.counters.ambiguous_tods > 5_000);
}

#[test]
fn issue_17_goal_tod_jitter_035_s_locked_window() {
    let r = goal(350.0, 2);
    assert_eq!(r.counters.ambiguous_tods, 0);
}

#[test]
fn a_receiver_that_jumps_is_followed_only_when_it_stays() {
    let mut gnss = GnssConfig::default();
    // 18 s ahead for three seconds (GPS time instead of UTC), then +1 s for
    // good from pulse 1000.
    gnss.jumps
        .push(ReceiverJump {
            from: 500,
            until: Some(503),
            by_s: 18,
        })
        .unwrap();
    gnss.jumps
        .push(ReceiverJump {
            from: 1_000,
            until: None,
            by_s: 1,
        })
        .unwrap();
    let mut w = world(3);
    let r = run_labelling(&mut w, &gnss, &PpsConfig::default(), 3, 2_000, None);
    print("jumps", &r);
    assert_eq!(r.wrong_seconds_sent, 3, "the excursion's three sentences");
    // The 3-second excursion: 3 wrong seconds, not followed. The jump for
    // good: pulses 1000–1004 go out on the old count (5 mislabelled against
    // the receiver) until the fifth sentence in a row is followed.
    assert_eq!(r.counters.jumps_followed, 1);
    assert_eq!(r.counters.wrong_seconds, 3 + 5);
    assert_eq!(r.mislabelled, 5);
    assert_eq!(r.not_utc, 2_000 - 1_004);
}

#[test]
fn zda_and_a_shorter_delay_label_as_well() {
    // ZDA 100 ms ± 90 ms after the pulse, read with that delay; USB-serial
    // PPS (σ 100 µs).
    let gnss = GnssConfig {
        sentence: TodSentence::Zda,
        tod_delay_ns: 100e6,
        tod_jitter_ns: 90e6,
        pps_jitter_ns: 100e3,
        pulse_loss: 0.05,
        ..GnssConfig::default()
    };
    let mut w = world(4);
    let r = run_labelling(
        &mut w,
        &gnss,
        &PpsConfig::default(),
        4,
        5_000,
        Some(Duration::from_millis(100)),
    );
    print("zda", &r);
    assert_eq!(r.mislabelled, 0);
    assert!(r.lock_after_s.unwrap() <= 10.0);
    assert!((80e3..120e3).contains(&r.offset_rms_ns));
}

#[test]
fn the_receiver_is_deterministic_and_its_pulses_do_not_depend_on_its_sentences() {
    let edges = |cfg: &GnssConfig| {
        let mut rx = GnssReceiver::new(cfg, 7, Timestamp::from_secs_nanos(1_700_000_000, 0));
        let mut v: Vec<u64, 64> = Vec::new();
        while !v.is_full() {
            if let GnssEvent::Edge {
                true_ns,
                second: Some(_),
            } = rx.next_event()
            {
                v.push(true_ns).unwrap();
            }
        }
        v
    };
    let a = edges(&GnssConfig::default());
    let noisy = GnssConfig {
        tod_jitter_ns: 400e6,
        wrong_second_rate: 0.5,
        byte_error_rate: 0.1,
        ..GnssConfig::default()
    };
    assert_eq!(a, edges(&noisy));
    assert_eq!(a, edges(&GnssConfig::default()));
    // Pulse k at k s, within a few σ of 1 µs.
    for (k, t) in a.iter().enumerate() {
        let k = u64::try_from(k).unwrap() + 1;
        assert!(t.abs_diff(k * S) < 10_000, "{k}: {t}");
    }
}

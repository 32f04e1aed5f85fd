use super::*;
use crate::wire::nmea::Repr;
use proptest::prelude::*;

const S: i64 = 1_000_000_000;
const MS: i64 = 1_000_000;
/// UTC second of pulse 0: 2023-11-14T22:13:20Z.
const U0: u64 = 1_700_000_000;

/// The local clock at pulse 0: 0.3 s and 123 ns ahead of UTC.
fn l0() -> Timestamp {
    Timestamp::from_secs_nanos(U0, 300_000_123)
}

/// Local time `k` periods plus `extra_ns` after pulse 0.
fn at(k: i64, extra_ns: i64) -> Timestamp {
    l0().wrapping_add(Duration::from_nanos(k * S + extra_ns))
}

fn edge(k: i64) -> PpsEdge {
    PpsEdge {
        local: at(k, 0),
        uncertainty: Duration::from_nanos(20),
    }
}

fn sec(k: i64) -> UtcSecond {
    UtcSecond::new(U0.wrapping_add_signed(k))
}

/// The sentence for pulse `k`, naming second `named`, arriving `latency_ms` later.
fn nmea(k: i64, named: i64, latency_ms: i64) -> Tod {
    Tod::nmea(sec(named), at(k, latency_ms * MS), NMEA_DELAY)
}

/// Edge `k`, then its sentence `latency_ms` later; the two outcomes.
fn second(l: &mut Labeller, k: i64, latency_ms: i64) -> (EdgeOutcome, TodOutcome) {
    (l.on_edge(edge(k)), l.on_tod(nmea(k, k, latency_ms)))
}

fn labelled(out: EdgeOutcome) -> LabelledEdge {
    match out {
        EdgeOutcome::Labelled(e) => e,
        other => panic!("not labelled: {other:?}"),
    }
}

/// A labeller locked on pulses 0–3 (sentences 200 ms late).
fn locked(cfg: PpsConfig) -> Labeller {
    let mut l = Labeller::new(cfg);
    for k in 0..4 {
        second(&mut l, k, 200);
    }
    assert!(l.is_locked());
    l
}

#[test]
fn locks_three_seconds_after_the_first_tod_and_then_labels_every_pulse() {
    let mut l = Labeller::new(PpsConfig::default());
    assert_eq!(
        second(&mut l, 0, 200),
        (
            EdgeOutcome::Acquiring {
                second: None,
                agreeing: 0,
                missed: 0
            },
            TodOutcome::Adopted { by: 0 }
        )
    );
    for (k, tod) in [
        (1, TodOutcome::Agrees),
        (2, TodOutcome::Agrees),
        (3, TodOutcome::Locked),
    ] {
        let (e, t) = second(&mut l, k, 200);
        assert_eq!(
            e,
            EdgeOutcome::Acquiring {
                second: Some(sec(k)),
                agreeing: u8::try_from(k - 1).unwrap(),
                missed: 0
            }
        );
        assert_eq!(t, tod, "pulse {k}");
    }
    // Locked at the ToD 3.2 s after the first one; every pulse from then on
    // is handed out, offset = local − UTC.
    for k in 4..100 {
        let (e, t) = second(&mut l, k, 200);
        let e = labelled(e);
        assert_eq!(e.second, sec(k));
        assert_eq!(e.offset, Duration::from_nanos(300_000_123));
        assert_eq!(e.local, at(k, 0));
        assert_eq!(e.uncertainty, Duration::from_nanos(20));
        assert_eq!(e.missed, 0);
        assert_eq!(t, TodOutcome::Agrees);
    }
    let c = l.counters();
    assert_eq!(
        (c.edges, c.labelled, c.tods, c.tods_agreeing, c.locks),
        (100, 96, 100, 99, 1)
    );
}

#[test]
fn a_sentence_belongs_to_the_pulse_before_it() {
    // ts2phc's rule with the default 0.5 s delay: anything 0–1 s after the
    // pulse names it, however late within that second.
    for latency in [1, 50, 499, 500, 501, 950, 999] {
        let mut l = Labeller::new(PpsConfig::default());
        for k in 0..5 {
            second(&mut l, k, latency);
        }
        assert!(l.is_locked(), "{latency} ms");
        assert_eq!(labelled(l.on_edge(edge(5))).second, sec(5), "{latency} ms");
    }
    // A sentence that comes before its pulse is read as naming the previous
    // one. Locked, 10 ms early is outside the 0.4 s window (ambiguous), and
    // 150 ms early is a wrong second (+1), counted and not followed.
    let mut l = locked(PpsConfig::default());
    l.on_edge(edge(4));
    assert_eq!(
        l.on_tod(nmea(5, 5, -10)),
        TodOutcome::Ambiguous {
            residual: Duration::from_millis(490)
        }
    );
    assert_eq!(
        l.on_tod(nmea(5, 5, -150)),
        TodOutcome::WrongSecond { by: 1, in_a_row: 1 }
    );
    assert_eq!(labelled(l.on_edge(edge(5))).second, sec(5));
    assert_eq!(l.on_tod(nmea(5, 5, 200)), TodOutcome::Agrees);
}

#[test]
fn the_window_tightens_once_locked() {
    // Delay 0.3 s: a sentence 0.3 s ± 0.45 s after its pulse.
    let cfg = PpsConfig::default();
    let tod = |k: i64, latency_ms: i64| {
        Tod::nmea(sec(k), at(k, latency_ms * MS), Duration::from_millis(300))
    };
    let mut l = Labeller::new(cfg);
    l.on_edge(edge(0));
    // 0.3 + 0.45 and 0.3 − 0.45: both fine while acquiring.
    assert_eq!(l.on_tod(tod(0, 750)), TodOutcome::Adopted { by: 0 });
    for k in 1..4 {
        l.on_edge(edge(k));
        let latency = if k % 2 == 0 { 750 } else { -150 };
        assert!(matches!(
            l.on_tod(tod(k, latency)),
            TodOutcome::Agrees | TodOutcome::Locked
        ));
    }
    assert!(l.is_locked());
    l.on_edge(edge(4));
    // Locked: ±0.4 s. 0.3 + 0.39 is in, 0.3 + 0.41 and 0.3 − 0.45 are out.
    assert_eq!(l.on_tod(tod(4, 690)), TodOutcome::Agrees);
    assert_eq!(
        l.on_tod(tod(4, 710)),
        TodOutcome::Ambiguous {
            residual: Duration::from_millis(410)
        }
    );
    assert_eq!(
        l.on_tod(tod(4, -150)),
        TodOutcome::Ambiguous {
            residual: Duration::from_millis(-450)
        }
    );
    assert_eq!(l.counters().ambiguous_tods, 2);
    // Exactly half a period is never taken, locked or not.
    let mut l = Labeller::new(cfg);
    l.on_edge(edge(0));
    assert!(matches!(
        l.on_tod(tod(0, 800)),
        TodOutcome::Ambiguous { .. }
    ));
}

#[test]
fn missed_pulses_are_reported_and_the_count_goes_on() {
    let mut l = locked(PpsConfig::default());
    let e = labelled(l.on_edge(edge(7)));
    assert_eq!((e.second, e.missed), (sec(7), 3));
    // ToDs of missed pulses (naming 8, arriving after pulse 8 that never
    // came) still name the right edge by extrapolation: they agree.
    assert_eq!(l.on_tod(nmea(8, 8, 300)), TodOutcome::Agrees);
    let e = labelled(l.on_edge(edge(9)));
    assert_eq!((e.second, e.missed), (sec(9), 1));
    assert_eq!(l.counters().missed_pulses, 4);
}

#[test]
fn wrong_edges_are_rejected() {
    let cfg = PpsConfig {
        pulse_width: Some(Duration::from_millis(100)),
        ..PpsConfig::default()
    };
    let mut l = locked(cfg);
    let glitch = |ms: i64| PpsEdge {
        local: at(4, ms * MS),
        uncertainty: Duration::ZERO,
    };
    assert_eq!(
        l.on_edge(glitch(-700)),
        EdgeOutcome::Rejected(EdgeRejection::WrongEdge {
            error: Duration::from_millis(300)
        })
    );
    assert_eq!(labelled(l.on_edge(edge(4))).second, sec(4));
    // The trailing edge of the 100 ms pulse, then the same edge twice.
    assert_eq!(
        l.on_edge(glitch(100)),
        EdgeOutcome::Rejected(EdgeRejection::TrailingEdge)
    );
    assert_eq!(
        l.on_edge(edge(4)),
        EdgeOutcome::Rejected(EdgeRejection::Duplicate)
    );
    // 2 ms late is beyond 1 ms + 0.5 ms per period.
    assert_eq!(
        l.on_edge(PpsEdge {
            local: at(5, 2 * MS),
            uncertainty: Duration::ZERO
        }),
        EdgeOutcome::Rejected(EdgeRejection::WrongEdge {
            error: Duration::from_millis(2)
        })
    );
    // 1.4 ms is within it.
    let e = labelled(l.on_edge(PpsEdge {
        local: at(5, 1_400_000),
        uncertainty: Duration::ZERO,
    }));
    assert_eq!(e.second, sec(5));
    let c = l.counters();
    assert_eq!(
        (c.wrong_edges, c.trailing_edges, c.duplicates, c.reanchors),
        (2, 1, 1, 0)
    );
}

#[test]
fn a_moved_pulse_train_is_taken_up_again_and_relocked() {
    let mut l = locked(PpsConfig::default());
    // From pulse 4 on, every edge comes 250 ms later (a clock step nobody
    // told the labeller about).
    let moved = |k: i64| PpsEdge {
        local: at(k, 250 * MS),
        uncertainty: Duration::ZERO,
    };
    for k in 4..6 {
        assert!(matches!(
            l.on_edge(moved(k)),
            EdgeOutcome::Rejected(EdgeRejection::WrongEdge { .. })
        ));
    }
    assert!(matches!(l.on_edge(moved(6)), EdgeOutcome::Acquiring { .. }));
    assert!(!l.is_locked());
    assert_eq!(l.counters().reanchors, 1);
    let mut k = 6;
    loop {
        l.on_tod(Tod::nmea(sec(k), at(k, 450 * MS), NMEA_DELAY));
        if l.is_locked() {
            break;
        }
        k += 1;
        l.on_edge(moved(k));
    }
    assert_eq!(k, 9, "relocked on the third agreeing ToD");
    let e = labelled(l.on_edge(moved(10)));
    assert_eq!(e.second, sec(10));
    assert_eq!(e.offset, Duration::from_nanos(550_000_123));
}

#[test]
fn a_step_it_is_told_about_keeps_the_lock() {
    let mut l = locked(PpsConfig::default());
    l.on_edge(edge(4));
    l.apply_step(Duration::from_millis(-700));
    let e = labelled(l.on_edge(PpsEdge {
        local: at(5, -700 * MS),
        uncertainty: Duration::ZERO,
    }));
    assert_eq!(e.second, sec(5));
    assert_eq!(e.offset, Duration::from_nanos(-399_999_877));
    assert_eq!(l.counters().reanchors, 0);
}

#[test]
fn a_wrong_second_is_counted_and_a_jump_is_followed_after_five() {
    let mut l = locked(PpsConfig::default());
    // One wrong second (−1), then right again: counted, never followed.
    l.on_edge(edge(4));
    assert_eq!(
        l.on_tod(nmea(4, 3, 200)),
        TodOutcome::WrongSecond {
            by: -1,
            in_a_row: 1
        }
    );
    assert_eq!(labelled(l.on_edge(edge(5))).second, sec(5));
    assert_eq!(l.on_tod(nmea(5, 5, 200)), TodOutcome::Agrees);
    // Three seconds of +18 s (a receiver briefly on GPS time), then back.
    for k in 6..9 {
        assert_eq!(labelled(l.on_edge(edge(k))).second, sec(k));
        assert!(matches!(
            l.on_tod(nmea(k, k + 18, 200)),
            TodOutcome::WrongSecond { by: 18, .. }
        ));
    }
    // Two sentences for the same pulse count once.
    assert_eq!(
        l.on_tod(nmea(8, 26, 300)),
        TodOutcome::WrongSecond {
            by: 18,
            in_a_row: 3
        }
    );
    assert_eq!(labelled(l.on_edge(edge(9))).second, sec(9));
    assert_eq!(l.on_tod(nmea(9, 9, 200)), TodOutcome::Agrees);
    // For good now: followed on the fifth pulse in a row.
    for k in 10..14 {
        assert_eq!(labelled(l.on_edge(edge(k))).second, sec(k));
        assert_eq!(
            l.on_tod(nmea(k, k + 18, 200)),
            TodOutcome::WrongSecond {
                by: 18,
                in_a_row: u8::try_from(k - 9).unwrap()
            }
        );
    }
    assert_eq!(labelled(l.on_edge(edge(14))).second, sec(14));
    assert_eq!(l.on_tod(nmea(14, 32, 200)), TodOutcome::Followed { by: 18 });
    assert_eq!(labelled(l.on_edge(edge(15))).second, sec(33));
    assert_eq!(l.on_tod(nmea(15, 33, 200)), TodOutcome::Agrees);
    let c = l.counters();
    assert_eq!((c.wrong_seconds, c.jumps_followed), (1 + 4 + 5, 1));
}

#[test]
fn while_acquiring_a_disagreeing_tod_restarts_the_count() {
    let mut l = Labeller::new(PpsConfig::default());
    second(&mut l, 0, 200);
    second(&mut l, 1, 200);
    l.on_edge(edge(2));
    assert_eq!(l.on_tod(nmea(2, 3, 200)), TodOutcome::Adopted { by: 1 });
    // The next right one disagrees with the wrong count: adopted again.
    l.on_edge(edge(3));
    assert_eq!(l.on_tod(nmea(3, 3, 200)), TodOutcome::Adopted { by: -1 });
    for k in 4..7 {
        assert!(!l.is_locked());
        second(&mut l, k, 200);
    }
    assert!(l.is_locked());
    assert_eq!(labelled(l.on_edge(edge(7))).second, sec(7));
}

#[test]
fn the_cable_delay_is_taken_off_each_edge() {
    let cfg = PpsConfig {
        cable_delay: Duration::from_nanos(150),
        ..PpsConfig::default()
    };
    let mut l = Labeller::new(cfg);
    for k in 0..6 {
        let e = PpsEdge {
            local: at(k, 150),
            uncertainty: Duration::ZERO,
        };
        l.on_edge(e);
        l.on_tod(nmea(k, k, 100));
    }
    let e = labelled(l.on_edge(PpsEdge {
        local: at(6, 150),
        uncertainty: Duration::ZERO,
    }));
    assert_eq!(e.local, at(6, 0));
    assert_eq!(e.offset, Duration::from_nanos(300_000_123));
}

#[test]
fn a_tod_before_the_first_edge_is_kept_and_a_long_gap_starts_again() {
    let mut l = Labeller::new(PpsConfig::default());
    // A clock-like ToD (the system clock) read 0.3 s into second 0.
    let tod = Tod::reading(Timestamp::from_secs_nanos(U0, 300_000_000), at(0, 300 * MS));
    assert_eq!(tod.local, at(0, 0));
    assert_eq!(l.on_tod(tod), TodOutcome::NoEdge);
    assert_eq!(
        l.on_edge(edge(1)),
        EdgeOutcome::Acquiring {
            second: Some(sec(1)),
            agreeing: 0,
            missed: 0
        }
    );
    for k in 2..5 {
        l.on_edge(edge(k));
        l.on_tod(nmea(k, k, 200));
    }
    assert!(l.is_locked());
    // 31 s without pulses: more than max_gap, so it starts again, and the
    // last ToD is too old to name the new edge.
    assert_eq!(
        l.on_edge(edge(35)),
        EdgeOutcome::Acquiring {
            second: None,
            agreeing: 0,
            missed: 0
        }
    );
    assert_eq!(l.counters().long_gaps, 1);
    // 30 s is counted across.
    let mut l = locked(PpsConfig::default());
    let e = labelled(l.on_edge(edge(33)));
    assert_eq!((e.second, e.missed), (sec(33), 29));
}

/// 2016-12-31T23:59:60Z was inserted; its midnight is 1 483 228 800.
const MIDNIGHT: u64 = 1_483_228_800;

fn leap_run(kind: LeapKind, announce: TodLeap) -> [UtcSecond; 5] {
    let first = MIDNIGHT - 5;
    let mut l = Labeller::new(PpsConfig::default());
    let edge = |k: i64| PpsEdge {
        local: Timestamp::from_secs_nanos(first, 0).wrapping_add(Duration::from_nanos(k * S)),
        uncertainty: Duration::ZERO,
    };
    for k in 0..4 {
        l.on_edge(edge(k));
        let mut tod = Tod::nmea(
            UtcSecond::new(first + u64::try_from(k).unwrap()),
            edge(k).local.wrapping_add(Duration::from_millis(100)),
            NMEA_DELAY,
        );
        tod.leap = announce;
        l.on_tod(tod);
    }
    assert!(l.is_locked());
    if announce == TodLeap::Unknown {
        l.set_leap(Some(LeapSecond {
            midnight: MIDNIGHT,
            kind,
        }));
    }
    core::array::from_fn(|i| labelled(l.on_edge(edge(4 + i64::try_from(i).unwrap()))).second)
}

#[test]
fn leap_seconds_are_counted_as_linux_does() {
    let plain = |s: u64| UtcSecond::new(s);
    let inserted = [
        plain(MIDNIGHT - 1),
        UtcSecond {
            unix_secs: MIDNIGHT - 1,
            leap: true,
        },
        plain(MIDNIGHT),
        plain(MIDNIGHT + 1),
        plain(MIDNIGHT + 2),
    ];
    assert_eq!(
        leap_run(LeapKind::Insert, TodLeap::Pending(LeapKind::Insert)),
        inserted
    );
    assert_eq!(leap_run(LeapKind::Insert, TodLeap::Unknown), inserted);
    let deleted = [
        MIDNIGHT,
        MIDNIGHT + 1,
        MIDNIGHT + 2,
        MIDNIGHT + 3,
        MIDNIGHT + 4,
    ]
    .map(plain);
    assert_eq!(
        leap_run(LeapKind::Delete, TodLeap::Pending(LeapKind::Delete)),
        deleted
    );
    // No leap known: an RMC naming 23:59:60 announces it, and agrees.
    let mut l = Labeller::new(PpsConfig::default());
    let first = MIDNIGHT - 4;
    let local =
        |k: i64| Timestamp::from_secs_nanos(first, 0).wrapping_add(Duration::from_nanos(k * S));
    for k in 0..4 {
        l.on_edge(PpsEdge {
            local: local(k),
            uncertainty: Duration::ZERO,
        });
        let line = [
            &b"$GPRMC,235956.00,A,,,,,,,311216,,,A*6D"[..],
            b"$GPRMC,235957.00,A,,,,,,,311216,,,A*6C",
            b"$GPRMC,235958.00,A,,,,,,,311216,,,A*63",
            b"$GPRMC,235959.00,A,,,,,,,311216,,,A*62",
        ][usize::try_from(k).unwrap()];
        let tod = Tod::from_nmea(
            &Repr::parse_bytes(line).unwrap(),
            local(k).wrapping_add(Duration::from_millis(200)),
            NMEA_DELAY,
        );
        l.on_tod(tod.unwrap());
    }
    assert!(l.is_locked());
    assert_eq!(l.leap(), None);
    let e = labelled(l.on_edge(PpsEdge {
        local: local(4),
        uncertainty: Duration::ZERO,
    }));
    // Not known yet: the pulse of 23:59:60 goes out as 00:00:00.
    assert_eq!(e.second, plain(MIDNIGHT));
    let leap = Repr::parse_bytes(b"$GPRMC,235960.00,A,,,,,,,311216,,,A*68").unwrap();
    let received = local(4).wrapping_add(Duration::from_millis(300));
    let out = l.on_tod(Tod::from_nmea(&leap, received, NMEA_DELAY).unwrap());
    assert_eq!(
        l.leap(),
        Some(LeapSecond {
            midnight: MIDNIGHT,
            kind: LeapKind::Insert
        })
    );
    // The sentence agrees with the count re-read with the leap, and the
    // next pulse is 00:00:00.
    assert_eq!(out, TodOutcome::Agrees);
    assert_eq!(
        l.last_second(),
        Some(UtcSecond {
            unix_secs: MIDNIGHT - 1,
            leap: true
        })
    );
    let e = labelled(l.on_edge(PpsEdge {
        local: local(5),
        uncertainty: Duration::ZERO,
    }));
    assert_eq!(e.second, plain(MIDNIGHT));
    assert_eq!(
        e.offset,
        Duration::from_secs(1),
        "Linux's clock has not stepped back: 1 s ahead"
    );
}

#[test]
fn tods_from_sentences() {
    let received = Timestamp::from_secs_nanos(U0, 900_000_000);
    let rmc =
        Repr::parse_bytes(b"$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A")
            .unwrap();
    let tod = Tod::from_nmea(&rmc, received, NMEA_DELAY).unwrap();
    assert_eq!(tod.second, UtcSecond::new(764_426_119));
    assert_eq!(tod.local, Timestamp::from_secs_nanos(U0, 400_000_000));
    assert_eq!(tod.leap, TodLeap::Unknown);
    // A 5 Hz receiver's sentence for .20 s: its second began 0.2 s earlier.
    let zda = Repr::parse_bytes(b"$GPZDA,201530.20,04,07,2002,00,00*62").unwrap();
    let tod = Tod::from_nmea(&zda, received, Duration::from_millis(100)).unwrap();
    assert_eq!(tod.second.start().secs(), 1_025_813_730);
    assert_eq!(tod.local, Timestamp::from_secs_nanos(U0, 600_000_000));
    for no in [
        &b"$GPRMC,,V,,,,,,,,,,N*53"[..],
        b"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47",
        b"$GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00*74",
    ] {
        assert_eq!(
            Tod::from_nmea(&Repr::parse_bytes(no).unwrap(), received, NMEA_DELAY),
            None
        );
    }
}

#[test]
fn leap_arithmetic_edges() {
    let ins = Some(LeapSecond {
        midnight: 100,
        kind: LeapKind::Insert,
    });
    let del = Some(LeapSecond {
        midnight: 100,
        kind: LeapKind::Delete,
    });
    let leap99 = UtcSecond {
        unix_secs: 99,
        leap: true,
    };
    assert_eq!(UtcSecond::new(98).step(2, ins), Some(leap99));
    assert_eq!(leap99.step(-1, ins), Some(UtcSecond::new(99)));
    assert_eq!(leap99.step(1, ins), Some(UtcSecond::new(100)));
    assert_eq!(UtcSecond::new(101).step(-3, ins), Some(UtcSecond::new(99)));
    assert_eq!(UtcSecond::new(98).step(1, del), Some(UtcSecond::new(100)));
    assert_eq!(UtcSecond::new(100).step(-1, del), Some(UtcSecond::new(98)));
    // A leap flag that is not the announced insertion has no place.
    assert_eq!(leap99.step(0, None), None);
    assert_eq!(leap99.step(0, del), None);
    assert_eq!(
        UtcSecond {
            unix_secs: 50,
            leap: true
        }
        .step(0, ins),
        None
    );
    // Overflow is None, never a panic.
    assert_eq!(UtcSecond::new(u64::MAX).step(0, None), None);
    assert_eq!(UtcSecond::new(0).step(-1, None), None);
    assert_eq!(UtcSecond::new(1).step(i64::MAX, None), None);
    let top = UtcSecond::new(u64::try_from(i64::MAX).unwrap());
    assert_eq!(top.step(0, ins), None, "index past i64");
}

/// Edges or time-of-day readings from raw numbers, for the no-panic property.
fn event() -> impl Strategy<Value = (bool, u64, i64, u64, u8)> {
    (
        any::<bool>(),
        any::<u64>(),
        any::<i64>(),
        any::<u64>(),
        any::<u8>(),
    )
}

proptest! {
    #[test]
    fn no_input_panics(
        events in proptest::collection::vec(event(), 0..60),
        width in proptest::option::of(any::<i64>()),
        tol in any::<i64>(), ppm in any::<u32>(), gap in any::<u32>(),
        lock in any::<u8>(), follow in any::<u8>(), reanchor in any::<u8>(),
    ) {
        let cfg = PpsConfig {
            cable_delay: Duration::from_nanos(tol.rotate_left(7)),
            edge_tolerance: Duration::from_nanos(tol),
            max_freq_error_ppm: ppm,
            max_gap: gap,
            pulse_width: width.map(Duration::from_nanos),
            window_unlocked: Duration::from_nanos(tol.rotate_left(3)),
            window_locked: Duration::from_nanos(tol.rotate_left(5)),
            max_tod_age: Duration::from_nanos(tol.rotate_left(9)),
            lock_after: lock,
            follow_after: follow,
            reanchor_after: reanchor,
        };
        let mut l = Labeller::new(cfg);
        for (is_edge, t, d, s, flags) in events {
            if is_edge {
                let _ = l.on_edge(PpsEdge { local: Timestamp::from_nanos(t), uncertainty: Duration::from_nanos(d) });
            } else if flags & 0x80 != 0 {
                l.apply_step(Duration::from_nanos(d));
            } else {
                let leap = match flags & 3 {
                    0 => TodLeap::Unknown,
                    1 => TodLeap::None,
                    2 => TodLeap::Pending(LeapKind::Insert),
                    _ => TodLeap::Pending(LeapKind::Delete),
                };
                let _ = l.on_tod(Tod {
                    second: UtcSecond { unix_secs: s, leap: flags & 4 != 0 },
                    local: Timestamp::from_nanos(t),
                    leap,
                });
            }
        }
    }

    /// Latency 0.5 ± 0.45 s, a tenth of the pulses and of the sentences lost,
    /// glitches: every labelled edge has its own second.
    #[test]
    fn never_mislabels_under_jitter_loss_and_glitches(
        seconds in proptest::collection::vec((0i64..900, any::<bool>(), 0u8..10, 10i64..990), 20..120),
    ) {
        let mut l = Labeller::new(PpsConfig::default());
        let mut locked_at = None;
        for (k, &(latency, glitch, lose, glitch_ms)) in seconds.iter().enumerate() {
            let k = i64::try_from(k).unwrap();
            if lose != 0 {
                if let EdgeOutcome::Labelled(e) = l.on_edge(edge(k)) {
                    prop_assert_eq!(e.second, sec(k));
                    prop_assert_eq!(e.offset, Duration::from_nanos(300_000_123));
                }
            }
            if glitch {
                let g = PpsEdge { local: at(k, glitch_ms * MS), uncertainty: Duration::ZERO };
                if let EdgeOutcome::Labelled(e) = l.on_edge(g) {
                    prop_assert!(false, "glitch labelled {:?}", e);
                }
            }
            if lose != 1 {
                l.on_tod(nmea(k, k, latency + 50));
            }
            if l.is_locked() && locked_at.is_none() {
                locked_at = Some(k);
            }
        }
        prop_assert_eq!(l.counters().jumps_followed, 0);
    }
}

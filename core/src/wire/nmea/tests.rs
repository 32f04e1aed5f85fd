#![allow(clippy::indexing_slicing, reason = "tests index fixed arrays")]

use super::*;
use crate::time::Timestamp;
use proptest::prelude::*;

/// The textbook RMC (NMEA 2.0, no mode field).
const RMC_2_0: &[u8] = b"$GPRMC,123519,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*6A\r\n";
/// A u-blox 8 multi-GNSS RMC (NMEA 4.0 with the mode field).
const RMC_UBLOX: &[u8] = b"$GNRMC,001031.00,A,4404.13993,N,12118.86023,W,0.146,,100117,,,A*7B";
/// An RMC in the inserted leap second at the end of 2016, NMEA 4.1.
const RMC_LEAP: &[u8] = b"$GPRMC,235960.00,A,4807.038,N,01131.000,E,0.0,0.0,311216,,,D,S*2B\r\n";
/// What a receiver without a fix sends.
const RMC_NO_FIX: &[u8] = b"$GPRMC,,V,,,,,,,,,,N*53\r\n";
const ZDA: &[u8] = b"$GPZDA,201530.00,04,07,2002,00,00*60\r\n";
const GGA: &[u8] = b"$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47\r\n";
const GSV: &[u8] = b"$GPGSV,3,1,11,03,03,111,00,04,15,270,00,06,01,010,00,13,06,292,00*74";

fn rmc(line: &[u8]) -> Rmc<'_> {
    match Repr::parse_bytes(line) {
        Ok(Repr::Rmc(r)) => r,
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_textbook_rmc() {
    let r = rmc(RMC_2_0);
    assert_eq!(r.talker, Talker::GPS);
    assert_eq!(r.talker.constellation(), Constellation::Gps);
    assert_eq!(r.time, TimeOfDay::new(12, 35, 19, 0));
    assert_eq!(r.status, Status::Valid);
    assert_eq!(r.navigation, b"4807.038,N,01131.000,E,022.4,084.4");
    assert_eq!(r.date, Date::new(1994, 3, 23));
    assert_eq!(r.magnetic, b"003.1,W");
    assert_eq!((r.mode, r.nav_status), (None, None));
    assert!(r.is_valid());
    // 1994-03-23T12:35:19Z
    assert_eq!(
        r.utc().and_then(UtcDateTime::to_timestamp),
        Some(Timestamp::from_secs_nanos(764_426_119, 0))
    );
    let mut out = [0u8; 96];
    let n = Repr::Rmc(r).emit(&mut out).unwrap();
    // The time gains ".00"; everything else is as sent.
    assert_eq!(
        &out[..n],
        b"$GPRMC,123519.00,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W*44\r\n"
    );
    assert_eq!(Repr::parse_bytes(&out[..n]), Ok(Repr::Rmc(r)));
}

#[test]
fn a_multi_gnss_rmc_with_mode() {
    let r = rmc(RMC_UBLOX);
    assert_eq!(r.talker, Talker::GNSS);
    assert_eq!(r.talker.constellation(), Constellation::Combined);
    assert_eq!(r.time, TimeOfDay::new(0, 10, 31, 0));
    assert_eq!(r.date, Date::new(2017, 1, 10));
    assert_eq!(r.magnetic, b",");
    assert_eq!(r.mode, Some(ModeIndicator::Autonomous));
    assert!(r.is_valid());
    let mut out = [0u8; 96];
    let n = Repr::Rmc(r).emit(&mut out).unwrap();
    assert_eq!(&out[..n - 2], RMC_UBLOX, "byte for byte, checksum included");
}

#[test]
fn the_leap_second_and_nav_status() {
    let r = rmc(RMC_LEAP);
    let t = r.time.unwrap();
    assert!(t.is_leap_second());
    assert_eq!(r.mode, Some(ModeIndicator::Differential));
    assert_eq!(r.nav_status, Some(NavStatus::Safe));
    assert!(r.is_valid());
    // Linux counts 23:59:60 as a second 23:59:59.
    assert_eq!(
        r.utc()
            .and_then(UtcDateTime::to_timestamp)
            .map(|t| t.secs()),
        Some(1_483_228_799)
    );
}

#[test]
fn validity() {
    let r = rmc(RMC_NO_FIX);
    assert_eq!((r.time, r.date), (None, None));
    assert_eq!(r.status, Status::Warning);
    assert_eq!(r.mode, Some(ModeIndicator::NotValid));
    assert!(!r.is_valid());
    assert_eq!(Repr::Rmc(r).fix_valid(), Some(false));
    // Status A but mode N, E or nav status V: not valid either.
    for (mode, nav, valid) in [
        (Some(ModeIndicator::NotValid), None, false),
        (Some(ModeIndicator::Estimated), None, false),
        (Some(ModeIndicator::Precise), None, true),
        (None, Some(NavStatus::NotValid), false),
        (None, Some(NavStatus::Caution), true),
    ] {
        let r = Rmc {
            mode,
            nav_status: nav,
            ..rmc(RMC_2_0)
        };
        assert_eq!(r.is_valid(), valid, "{mode:?} {nav:?}");
    }
}

#[test]
fn zda_gga_and_others() {
    let Ok(Repr::Zda(z)) = Repr::parse_bytes(ZDA) else {
        panic!()
    };
    assert_eq!(z.date, Date::new(2002, 7, 4));
    assert_eq!(z.time, TimeOfDay::new(20, 15, 30, 0));
    assert_eq!(z.zone, b"00,00");
    assert_eq!(Repr::Zda(z).fix_valid(), None);
    let Ok(Repr::Gga(g)) = Repr::parse_bytes(GGA) else {
        panic!()
    };
    assert_eq!(g.quality, Some(FixQuality::Gps));
    assert_eq!(g.satellites, Some(8));
    assert_eq!(g.position, b"4807.038,N,01131.000,E");
    assert_eq!(g.rest, b"0.9,545.4,M,46.9,M,,");
    assert!(g.has_fix());
    assert_eq!(Repr::Gga(g).utc(), None, "GGA has no date");
    assert_eq!(Repr::Gga(g).time(), TimeOfDay::new(12, 35, 19, 0));
    let other = Repr::parse_bytes(GSV).unwrap();
    assert_eq!(other, Repr::Other(&GSV[1..GSV.len() - 3]));
    let mut out = [0u8; 96];
    let n = other.emit(&mut out).unwrap();
    assert_eq!(&out[..n - 2], GSV);
    // Every talker is accepted; the system is named where known.
    for (t, c) in [
        (*b"GL", Constellation::Glonass),
        (*b"GA", Constellation::Galileo),
        (*b"BD", Constellation::BeiDou),
        (*b"GB", Constellation::BeiDou),
        (*b"GQ", Constellation::Qzss),
        (*b"GI", Constellation::NavIc),
        (*b"II", Constellation::Other),
    ] {
        let r = Rmc {
            talker: Talker(t),
            ..rmc(RMC_UBLOX)
        };
        let n = Repr::Rmc(r).emit(&mut out).unwrap();
        let back = rmc(&out[..n]);
        assert_eq!(back.talker.constellation(), c);
        assert_eq!(back, r);
    }
}

#[test]
fn fractions_of_a_second() {
    for (text, nanos) in [
        (&b"120000.5"[..], 500_000_000),
        (b"120000.05", 50_000_000),
        (b"120000.123456789", 123_456_789),
        (b"120000.000", 0),
    ] {
        assert_eq!(
            parse_time(text, Field::RmcTime),
            Ok(TimeOfDay::new(12, 0, 0, nanos))
        );
    }
    for bad in [
        &b"120000."[..],
        b"120000.1234567890",
        b"12000",
        b"1200000",
        b"240000",
        b"126000",
        b"120060",
        b"12000a",
        b"-20000",
    ] {
        assert_eq!(
            parse_time(bad, Field::GgaTime),
            Err(Error::BadField(Field::GgaTime)),
            "{}",
            core::str::from_utf8(bad).unwrap()
        );
    }
}

/// `$body*hh\r\n` with the right checksum.
fn framed(body: &[u8]) -> heapless::Vec<u8, 256> {
    let mut v = heapless::Vec::new();
    v.push(b'$').unwrap();
    v.extend_from_slice(body).unwrap();
    let s = checksum(body);
    let hex = b"0123456789ABCDEF";
    v.extend_from_slice(&[b'*', hex[usize::from(s >> 4)], hex[usize::from(s & 15)]])
        .unwrap();
    v.extend_from_slice(b"\r\n").unwrap();
    v
}

#[test]
fn errors_say_what_and_where() {
    assert_eq!(Repr::parse_bytes(b"GPRMC*00"), Err(Error::NoStart));
    assert_eq!(Repr::parse_bytes(b""), Err(Error::NoStart));
    assert_eq!(Repr::parse_bytes(b"$GPZDA,1,2,3"), Err(Error::NoChecksum));
    assert_eq!(Repr::parse_bytes(b"$GPZDA*G0"), Err(Error::NoChecksum));
    let mut corrupt = [0u8; 68];
    corrupt.copy_from_slice(&RMC_2_0[..68]);
    corrupt[8] = b'3'; // 123519 -> 133519
    assert_eq!(
        Repr::parse_bytes(&corrupt),
        Err(Error::Checksum {
            sent: 0x6A,
            computed: 0x6B
        })
    );
    assert_eq!(
        Repr::parse_bytes(b"$GP\x01ZDA*00"),
        Err(Error::BadByte { at: 3 })
    );
    assert_eq!(
        Repr::parse_bytes(b"$GP$ZDA*00"),
        Err(Error::BadByte { at: 3 })
    );
    let cases: [(&[u8], Error); 12] = [
        (b"GPRMC", Error::MissingField(Field::RmcTime)),
        (
            b"GPRMC,,A,1,N,2,E,",
            Error::MissingField(Field::RmcNavigation),
        ),
        (b"GPRMC,,A,1,N,2,E,,", Error::MissingField(Field::RmcDate)),
        (b"GPRMC,,X1,1,N,2,E,,,,,", Error::BadField(Field::RmcStatus)),
        (b"GPRMC,,,1,N,2,E,,,,,", Error::BadField(Field::RmcStatus)),
        (
            b"GPRMC,,A,1,N,2,E,,,310294,,",
            Error::BadField(Field::RmcDate),
        ),
        (
            b"GPRMC,,A,1,N,2,E,,,010294,",
            Error::MissingField(Field::RmcMagnetic),
        ),
        (
            b"GPRMC,,A,1,N,2,E,,,010294,,,a",
            Error::BadField(Field::RmcMode),
        ),
        (b"GPZDA,,4,07,2002,,", Error::BadField(Field::ZdaDate)),
        (b"GPZDA,,04,07,02,,", Error::BadField(Field::ZdaDate)),
        (b"GPGGA,,1,N,2,E,12,", Error::BadField(Field::GgaQuality)),
        (
            b"GPGGA,,1,N,2,E,1,100",
            Error::BadField(Field::GgaSatellites),
        ),
    ];
    for (body, err) in cases {
        assert_eq!(
            Repr::parse_bytes(&framed(body)),
            Err(err),
            "{}",
            core::str::from_utf8(body).unwrap()
        );
    }
    // The messages name the field.
    let mut text = heapless::String::<96>::new();
    core::fmt::write(
        &mut text,
        format_args!("{}", Error::BadField(Field::RmcDate)),
    )
    .unwrap();
    assert_eq!(
        text,
        "NMEA RMC field 9 (date ddmmyy) is malformed or out of range"
    );
}

#[test]
fn the_view_reads_in_place() {
    let s = Sentence::new_checked(RMC_2_0).unwrap();
    assert_eq!(s.address(), b"GPRMC");
    assert_eq!(s.talker(), Some(Talker::GPS));
    assert_eq!(s.field(9), Some(&b"230394"[..]));
    assert_eq!(s.field(12), None);
    assert_eq!(s.field_count(), 11);
    assert_eq!(s.sent_checksum(), Some(0x6A));
    assert_eq!(s.computed_checksum(), 0x6A);
    assert!(matches!(Repr::parse(&s), Ok(Repr::Rmc(_))));
    // Unchecked views of junk never panic.
    for junk in [&b""[..], b"$", b"*", b"$*", b"$*0", b"\r\n", b"$,,,,*ZZ"] {
        let s = Sentence::new_unchecked(junk);
        let _ = (s.address(), s.talker(), s.field(3), s.field_count());
        let _ = (s.sent_checksum(), s.computed_checksum(), s.check());
    }
}

#[test]
fn emit_refuses_what_would_not_parse_back() {
    let r = rmc(RMC_2_0);
    let mut out = [0u8; 128];
    let bad = [
        Rmc {
            date: Some(Date::new(2080, 1, 1).unwrap()),
            ..r
        },
        Rmc {
            navigation: b"1,N,2,E",
            ..r
        },
        Rmc {
            magnetic: b"3,W,",
            ..r
        },
        Rmc {
            navigation: b"1*,N,2,E,,",
            ..r
        },
        Rmc {
            status: Status::Unknown(b'A'),
            ..r
        },
        Rmc {
            time: Some(TimeOfDay {
                hour: 24,
                ..TimeOfDay::default()
            }),
            ..r
        },
    ];
    for b in bad {
        assert!(
            matches!(Repr::Rmc(b).emit(&mut out), Err(Error::BadField(_))),
            "{b:?}"
        );
        assert_eq!(Repr::Rmc(b).buffer_len(), 0);
    }
    assert_eq!(
        Repr::Other(b"GPRMC,1").emit(&mut out),
        Err(Error::BadField(Field::OtherBody))
    );
    let len = Repr::Rmc(r).buffer_len();
    assert_eq!(len, RMC_2_0.len() + 3);
    assert_eq!(
        Repr::Rmc(r).emit(&mut out[..len - 1]),
        Err(Error::Truncated)
    );
    assert_eq!(Repr::Rmc(r).emit(&mut out[..len]), Ok(len));
}

#[test]
fn lines_from_a_noisy_stream() {
    let mut a = LineAssembler::<82>::new();
    let mut got: heapless::Vec<Result<heapless::Vec<u8, 82>, LineError>, 8> = heapless::Vec::new();
    let mut stream: heapless::Vec<u8, 512> = heapless::Vec::new();
    stream.extend_from_slice(b"\xff\x00garbage").unwrap(); // 9 bytes of noise
    stream.extend_from_slice(RMC_2_0).unwrap();
    stream.extend_from_slice(b"$GPGGA,12351").unwrap(); // cut short
    stream.extend_from_slice(ZDA).unwrap();
    stream.push(b'$').unwrap();
    stream.extend_from_slice(&[b'x'; 100]).unwrap(); // too long
    stream.extend_from_slice(b"\n\n\r\n").unwrap();
    stream.extend_from_slice(GGA).unwrap();
    for &b in &stream {
        if let Some(r) = a.push(b) {
            got.push(r.map(|l| heapless::Vec::from_slice(l).unwrap()))
                .unwrap();
        }
    }
    assert_eq!(got.len(), 5);
    assert_eq!(got[0].as_deref(), Ok(&RMC_2_0[..RMC_2_0.len() - 2]));
    assert_eq!(got[1], Err(LineError::Interrupted));
    assert_eq!(got[2].as_deref(), Ok(&ZDA[..ZDA.len() - 2]));
    assert_eq!(got[3], Err(LineError::TooLong));
    assert_eq!(got[4].as_deref(), Ok(&GGA[..GGA.len() - 2]));
    assert_eq!(
        a.counters(),
        LineCounters {
            lines: 3,
            too_long: 1,
            interrupted: 1,
            garbage_bytes: 9
        }
    );
    // A line of exactly N bytes fits; N + 1 does not.
    let mut a = LineAssembler::<4>::new();
    let ends: heapless::Vec<_, 4> = b"$abc\n$abcd\n"
        .iter()
        .filter_map(|&b| a.push(b).map(|r| r.map(<[u8]>::len)))
        .collect();
    assert_eq!(&ends[..], &[Ok(4), Err(LineError::TooLong)]);
    let mut zero = LineAssembler::<0>::new();
    for &b in b"$GPZDA*00\r\n" {
        assert!(!matches!(zero.push(b), Some(Ok(_))));
    }
}

fn date() -> impl Strategy<Value = Date> {
    (1980u16..2080, 1u8..=12, 1u8..=31)
        .prop_map(|(y, m, d)| Date::new(y, m, d).unwrap_or(Date::new(y, m, 28).unwrap()))
}

fn time() -> impl Strategy<Value = TimeOfDay> {
    (0u8..24, 0u8..60, 0u8..=60, 0u32..1_000_000_000).prop_map(|(h, m, s, ns)| {
        TimeOfDay::new(h, m, s, ns).unwrap_or(TimeOfDay::new(23, 59, 60, ns).unwrap())
    })
}

fn talker() -> impl Strategy<Value = Talker> {
    (b'A'..=b'Z', b'A'..=b'Z').prop_map(|(a, b)| Talker([a, b]))
}

/// Printable field text without `,`, `$`, `*`.
fn text() -> impl Strategy<Value = heapless::Vec<u8, 12>> {
    proptest::collection::vec(
        (0x20u8..0x7F).prop_filter("field byte", |b| allowed(*b) && *b != b','),
        0..12,
    )
    .prop_map(|v| heapless::Vec::from_slice(&v).unwrap())
}

/// `k` fields of text joined by commas, as a raw group.
fn group(k: usize) -> impl Strategy<Value = heapless::Vec<u8, 160>> {
    proptest::collection::vec(text(), k).prop_map(|fs| {
        let mut v = heapless::Vec::new();
        for (i, f) in fs.iter().enumerate() {
            if i > 0 {
                v.push(b',').unwrap();
            }
            v.extend_from_slice(f).unwrap();
        }
        v
    })
}

fn upper() -> impl Strategy<Value = u8> {
    b'A'..=b'Z'
}

proptest! {
    #[test]
    fn rmc_round_trips(
        talker in talker(), time in proptest::option::of(time()), status in upper(),
        nav in group(6), date in proptest::option::of(date()), magnetic in group(2),
        mode in proptest::option::of(upper()), nav_status in proptest::option::of(upper()),
    ) {
        let r = Repr::Rmc(Rmc {
            talker, time, status: Status::from_byte(status).unwrap(),
            navigation: &nav, date, magnetic: &magnetic,
            mode: mode.and_then(ModeIndicator::from_byte),
            nav_status: nav_status.and_then(NavStatus::from_byte),
        });
        let mut buf = [0u8; 256];
        let n = r.emit(&mut buf).unwrap();
        prop_assert_eq!(n, r.buffer_len());
        prop_assert_eq!(Repr::parse_bytes(&buf[..n]), Ok(r));
    }

    #[test]
    fn zda_round_trips(
        talker in talker(), time in proptest::option::of(time()),
        date in proptest::option::of((0u16..=9999, 1u8..=12, 1u8..=28)), zone in group(2),
    ) {
        let r = Repr::Zda(Zda {
            talker, time, date: date.and_then(|(y, m, d)| Date::new(y, m, d)), zone: &zone,
        });
        let mut buf = [0u8; 256];
        let n = r.emit(&mut buf).unwrap();
        prop_assert_eq!(Repr::parse_bytes(&buf[..n]), Ok(r));
    }

    #[test]
    fn gga_round_trips(
        talker in talker(), time in proptest::option::of(time()), position in group(4),
        quality in proptest::option::of(0u8..10), satellites in proptest::option::of(0u8..100),
        rest in proptest::option::of(group(7)),
    ) {
        let rest = rest.unwrap_or_default();
        let r = Repr::Gga(Gga {
            talker, time, position: &position, quality: quality.map(FixQuality::from_digit),
            satellites, rest: &rest,
        });
        let mut buf = [0u8; 256];
        let n = r.emit(&mut buf).unwrap();
        prop_assert_eq!(Repr::parse_bytes(&buf[..n]), Ok(r));
    }

    #[test]
    fn any_bytes_parse_or_fail_and_what_parses_round_trips(
        bytes in proptest::collection::vec(any::<u8>(), 0..120),
    ) {
        round_trip_or_error(&bytes)?;
        // Framed, so the checksum passes and the fields are what is tested.
        let body: heapless::Vec<u8, 120> = bytes.iter().map(|&b| b % 0x5F + 0x20).collect();
        round_trip_or_error(&framed(&body))?;
    }

    #[test]
    fn near_misses_of_real_sentences(
        which in 0usize..6, at in 0usize..80, byte in any::<u8>(),
    ) {
        let src = [RMC_2_0, RMC_UBLOX, RMC_LEAP, ZDA, GGA, GSV][which];
        let body = &src[1..src.iter().position(|&b| b == b'*').unwrap()];
        let mut v: heapless::Vec<u8, 120> = heapless::Vec::from_slice(body).unwrap();
        if let Some(b) = v.get_mut(at) {
            *b = byte;
        }
        round_trip_or_error(&framed(&v))?;
    }

    #[test]
    fn line_assembler_never_loses_a_clean_line(
        noise in proptest::collection::vec(any::<u8>().prop_filter("no $", |b| *b != b'$'), 0..40),
        split in 0usize..80,
    ) {
        let mut a = LineAssembler::<82>::new();
        let mut stream: heapless::Vec<u8, 200> = heapless::Vec::from_slice(&noise).unwrap();
        stream.extend_from_slice(b"\n").unwrap();
        stream.extend_from_slice(RMC_2_0).unwrap();
        let (first, second) = stream.split_at(split.min(stream.len()));
        let mut lines = 0;
        for &b in first.iter().chain(second) {
            if let Some(Ok(l)) = a.push(b) {
                if l == &RMC_2_0[..RMC_2_0.len() - 2] {
                    lines += 1;
                }
            }
        }
        prop_assert_eq!(lines, 1);
    }
}

fn round_trip_or_error(line: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(r) = Repr::parse_bytes(line) {
        let mut buf = [0u8; 256];
        let n = r
            .emit(&mut buf)
            .map_err(|_| TestCaseError::fail("a parsed Repr did not emit"))?;
        prop_assert_eq!(Repr::parse_bytes(&buf[..n]), Ok(r));
    }
    Ok(())
}

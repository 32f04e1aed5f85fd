#![allow(clippy::indexing_slicing, reason = "tests index fixed arrays")]

use super::*;
use proptest::prelude::*;

/// A probe request laid out by hand: seq 7, t1 `0x0102_0304_0506_0708`.
const PROBE_REQUEST: [u8; 56] = {
    let mut b = [0u8; 56];
    b[0] = b'K';
    b[1] = b'T';
    b[2] = b'P';
    b[3] = 1; // version
    b[4] = 1; // kind: probe request
    b[6] = 56; // len
    b[8] = 7; // seq
    let t1 = 0x0102_0304_0506_0708u64.to_le_bytes();
    let mut i = 0;
    while i < 8 {
        b[0x10 + i] = t1[i];
        i += 1;
    }
    b
};

#[test]
fn a_hand_laid_probe_request_parses_and_emits_the_same_bytes() {
    let f = Frame::parse(&PROBE_REQUEST).unwrap();
    assert_eq!(
        f,
        Frame {
            seq: 7,
            body: Body::ProbeRequest {
                t1: 0x0102_0304_0506_0708
            }
        }
    );
    let mut out = [0xAAu8; 64];
    assert_eq!(f.emit(&mut out), Ok(56));
    assert_eq!(out[..56], PROBE_REQUEST);
    assert_eq!(out[56], 0xAA, "emit writes exactly its length");
}

#[test]
fn t3_is_set_in_a_probe_reply_and_nowhere_else() {
    let reply = Frame {
        seq: 1,
        body: Body::ProbeReply(ProbeReply {
            t1: 1,
            t2: 2,
            ..ProbeReply::default()
        }),
    };
    let mut b = [0u8; PROBE_LEN];
    reply.emit(&mut b).unwrap();
    set_t3(&mut b, 3);
    assert!(matches!(Frame::parse(&b).unwrap().body, Body::ProbeReply(r) if r.t3 == 3));
    let mut req = PROBE_REQUEST;
    set_t3(&mut req, 3);
    assert_eq!(req, PROBE_REQUEST);
    set_t3(&mut [0u8; 3], 3);
}

#[test]
fn the_header_says_how_many_bytes_to_wait_for() {
    let p = Packet::new_checked(&PROBE_REQUEST[..16]).unwrap();
    assert_eq!(p.frame_len(), Ok(56));
    assert_eq!(Frame::parse(&PROBE_REQUEST[..40]), Err(Error::Truncated));
    assert_eq!(
        Packet::new_checked(&PROBE_REQUEST[..15]).err(),
        Some(Error::Truncated)
    );
}

#[test]
fn garbage_headers_are_named() {
    let mut b = PROBE_REQUEST;
    b[0] = b'X';
    assert_eq!(Frame::parse(&b), Err(Error::BadMagic));
    let mut b = PROBE_REQUEST;
    b[3] = 2;
    assert_eq!(Frame::parse(&b), Err(Error::UnsupportedVersion));
    let mut b = PROBE_REQUEST;
    b[6] = 48;
    assert_eq!(Frame::parse(&b), Err(Error::BadLength));
    // A control request with an unknown action.
    let mut b = [0u8; 32];
    Frame {
        seq: 1,
        body: Body::ControlRequest(Control::Reacquire),
    }
    .emit(&mut b)
    .unwrap();
    b[0x10] = 9;
    assert_eq!(Frame::parse(&b), Err(Error::BadField));
}

#[test]
fn an_unknown_kind_keeps_its_length_so_a_reader_can_skip_it() {
    let mut b = [0u8; 40];
    b[..3].copy_from_slice(b"KTP");
    b[3] = 1;
    b[4] = 77;
    b[6] = 40;
    assert_eq!(
        Frame::parse(&b),
        Ok(Frame {
            seq: 0,
            body: Body::Unknown { kind: 77, len: 40 }
        })
    );
    b[6] = 0;
    b[7] = 2; // 512 > MAX_LEN
    assert_eq!(Frame::parse(&b), Err(Error::BadLength));
    let known = Frame {
        seq: 0,
        body: Body::Unknown { kind: 2, len: 56 },
    };
    assert_eq!(known.emit(&mut [0u8; 64]), Err(Error::BadLength));
}

#[test]
fn absent_status_fields_use_sentinels_that_never_parse_as_values() {
    let s = GuestStatus {
        offset_ns: None,
        bound_ns: None,
        tai_offset: None,
        update_age_ns: None,
        version: GuestStatus::version_field("0.1.0"),
        ..GuestStatus::default()
    };
    let f = Frame {
        seq: 3,
        body: Body::StatusReply(s),
    };
    let mut b = [0u8; STATUS_LEN];
    f.emit(&mut b).unwrap();
    assert_eq!(&b[0x20..0x28], &i64::MIN.to_le_bytes());
    assert_eq!(&b[0x28..0x30], &u64::MAX.to_le_bytes());
    assert_eq!(Frame::parse(&b), Ok(f));
    assert_eq!(s.version_str(), "0.1.0");
}

#[test]
fn a_long_version_is_cut_on_a_character_boundary() {
    let v = GuestStatus::version_field("0.1.0-αβγδεζηθ");
    let s = GuestStatus {
        version: v,
        ..GuestStatus::default()
    };
    assert_eq!(s.version_str(), "0.1.0-αβγδε");
}

fn any_status() -> impl Strategy<Value = GuestStatus> {
    (
        (any::<[u8; 3]>(), any::<[bool; 3]>(), any::<u8>()),
        (
            any::<i16>().prop_filter("sentinel", |&t| t != i16::MIN),
            any::<bool>(),
        ),
        (any::<u32>(), any::<u32>()),
        (
            proptest::option::of(any::<i64>().prop_filter("sentinel", |&v| v != i64::MIN)),
            proptest::option::of(any::<u64>().prop_filter("sentinel", |&v| v != u64::MAX)),
        ),
        any::<[i64; 3]>(),
        any::<[u64; 4]>(),
        proptest::option::of(any::<u64>().prop_filter("sentinel", |&v| v != u64::MAX)),
        any::<[u8; 16]>(),
    )
        .prop_map(
            |((sss, flags, leap), (tai, has_tai), (epoch, generation), (o, b), e, c, age, v)| {
                GuestStatus {
                    state: sss[0],
                    source: sss[1],
                    served: sss[2],
                    unsync: flags[0],
                    control_enabled: flags[1],
                    phc_rejected: flags[2],
                    leap,
                    tai_offset: has_tai.then_some(tai),
                    epoch,
                    generation,
                    offset_ns: o,
                    bound_ns: b,
                    maxerror_us: e[0],
                    esterror_us: e[1],
                    freq_bits: e[2],
                    steps: c[0],
                    disruptions: c[1],
                    updates: c[2],
                    uptime_ns: c[3],
                    update_age_ns: age,
                    version: v,
                }
            },
        )
}

fn any_frame() -> impl Strategy<Value = Frame> {
    let body = prop_oneof![
        any::<u64>().prop_map(|t1| Body::ProbeRequest { t1 }),
        (any::<[u64; 4]>(), any::<u32>(), any::<u32>()).prop_map(|(t, epoch, generation)| {
            Body::ProbeReply(ProbeReply {
                t1: t[0],
                t2: t[1],
                t3: t[2],
                epoch,
                generation,
                raw_t2: t[3],
            })
        }),
        Just(Body::StatusRequest),
        any_status().prop_map(Body::StatusReply),
        prop_oneof![
            Just(Control::Reacquire),
            any::<i64>().prop_map(Control::Step)
        ]
        .prop_map(Body::ControlRequest),
        (0u8..=255, any::<u32>()).prop_map(|(r, generation)| Body::ControlReply {
            result: ControlResult::from_u8(r),
            generation
        }),
        (7u8..=255, 16u16..=256).prop_map(|(kind, len)| Body::Unknown { kind, len }),
    ];
    (any::<u32>(), body).prop_map(|(seq, body)| Frame { seq, body })
}

proptest! {
    #[test]
    fn every_frame_round_trips(f in any_frame()) {
        let mut b = [0u8; MAX_LEN];
        let n = f.emit(&mut b).unwrap();
        prop_assert_eq!(n, f.buffer_len());
        prop_assert_eq!(Packet::new_checked(&b[..n]).unwrap().frame_len(), Ok(n));
        prop_assert_eq!(Frame::parse(&b[..n]), Ok(f));
    }

    #[test]
    fn any_bytes_parse_or_fail_and_what_parses_round_trips(b in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(f) = Frame::parse(&b) {
            let mut out = [0u8; MAX_LEN];
            let n = f.emit(&mut out).unwrap();
            prop_assert_eq!(Frame::parse(&out[..n]), Ok(f));
        }
    }
}

#![allow(clippy::indexing_slicing, reason = "tests index fixed arrays")]

use super::*;
use proptest::prelude::*;
extern crate std;
use std::vec;

const CLOCK: ClockIdentity = ClockIdentity([0x00, 0x11, 0x22, 0xFF, 0xFE, 0x33, 0x44, 0x55]);
const PORT: PortIdentity = PortIdentity {
    clock_identity: CLOCK,
    port_number: 1,
};

/// Two-step Sync, laid out from §13.3 / §13.6: PTPv2.1, domain 0,
/// twoStepFlag, correction 0, sequence 7, originTimestamp 1700000000.0.
const SYNC: [u8; 44] = [
    0x00, 0x12, 0x00, 0x2C, 0x00, 0x00, 0x02,
    0x00, // type, version, length, domain, minorSdo, flags
    0, 0, 0, 0, 0, 0, 0, 0, // correction
    0, 0, 0, 0, // messageTypeSpecific
    0x00, 0x11, 0x22, 0xFF, 0xFE, 0x33, 0x44, 0x55, 0x00, 0x01, // sourcePortIdentity
    0x00, 0x07, 0x00, 0x00, // sequenceId, control, logMessageInterval
    0x00, 0x00, 0x65, 0x53, 0xF1, 0x00, 0x00, 0x00, 0x00, 0x00, // originTimestamp
];

/// `Follow_Up` with a correction of −1.5 ns (`0xFFFF_FFFF_FFFE_8000`) and
/// preciseOriginTimestamp 1700000000.123456789.
const FOLLOW_UP: [u8; 44] = [
    0x08, 0x12, 0x00, 0x2C, 0x00, 0x00, 0x00, 0x00, //
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 0x80, 0x00, // correction −1.5 ns
    0, 0, 0, 0, //
    0x00, 0x11, 0x22, 0xFF, 0xFE, 0x33, 0x44, 0x55, 0x00, 0x01, //
    0x00, 0x07, 0x02, 0x00, //
    0x00, 0x00, 0x65, 0x53, 0xF1, 0x00, 0x07, 0x5B, 0xCD, 0x15, //
];

#[test]
fn sync_two_step() {
    let p = Packet::new_checked(&SYNC[..]).unwrap();
    assert_eq!(p.message_type(), MessageType::Sync);
    assert_eq!((p.version(), p.minor_version()), (2, 1));
    assert!(p.flags().two_step());
    assert_eq!(p.source_port_identity(), PORT);
    let r = Repr::parse(&p).unwrap();
    assert_eq!(r.header.sequence_id, 7);
    assert_eq!(
        r.body,
        Body::Sync {
            origin_timestamp: PtpTimestamp::new(1_700_000_000, 0).unwrap()
        }
    );
    let mut out = [0u8; 44];
    assert_eq!(r.emit(&mut out), Ok(44));
    assert_eq!(out, SYNC);
}

#[test]
fn follow_up_negative_correction() {
    let r = Repr::parse_bytes(&FOLLOW_UP).unwrap();
    assert_eq!(r.header.correction, TimeInterval::from_bits(-(3 << 15)));
    assert_eq!(r.header.correction.round_nanos(), -2);
    assert_eq!(
        r.header.control_field,
        MessageType::FollowUp.control_field()
    );
    assert_eq!(
        r.body,
        Body::FollowUp {
            precise_origin_timestamp: PtpTimestamp::new(1_700_000_000, 123_456_789).unwrap()
        }
    );
    let mut out = [0u8; 44];
    r.emit(&mut out).unwrap();
    assert_eq!(out, FOLLOW_UP);
    // the most negative correction survives
    let mut b = FOLLOW_UP;
    b[8..16].copy_from_slice(&i64::MIN.to_be_bytes());
    let r = Repr::parse_bytes(&b).unwrap();
    assert_eq!(r.header.correction, TimeInterval::MIN);
}

#[test]
fn delay_resp_and_pdelay() {
    let requester = PortIdentity {
        clock_identity: ClockIdentity([9; 8]),
        port_number: 0x0102,
    };
    let mut b = [0u8; 54];
    b[0] = 0x09;
    b[1] = 0x02;
    b[2..4].copy_from_slice(&54u16.to_be_bytes());
    b[8..16].copy_from_slice(&(-65_536i64).to_be_bytes()); // −1 ns
    b[20..30].copy_from_slice(&[0x00, 0x11, 0x22, 0xFF, 0xFE, 0x33, 0x44, 0x55, 0x00, 0x01]);
    b[32] = 3;
    b[33] = 0xFE; // logMinDelayReqInterval = −2
    b[34..44].copy_from_slice(&[0, 0, 0, 0, 0, 1, 0x3B, 0x9A, 0xC9, 0xFF]);
    b[44..52].copy_from_slice(&[9; 8]);
    b[52..54].copy_from_slice(&[1, 2]);
    let r = Repr::parse_bytes(&b).unwrap();
    assert_eq!(r.header.log_message_interval, -2);
    assert_eq!(
        r.body,
        Body::DelayResp {
            receive_timestamp: PtpTimestamp::new(1, 999_999_999).unwrap(),
            requesting_port_identity: requester,
        }
    );
    let mut out = [0u8; 54];
    r.emit(&mut out).unwrap();
    assert_eq!(out, b);
    // nanoseconds = 10⁹ is rejected
    b[40..44].copy_from_slice(&1_000_000_000u32.to_be_bytes());
    assert_eq!(Repr::parse_bytes(&b), Err(Error::BadTimestamp));

    // the same layout as Pdelay_Resp and Pdelay_Resp_Follow_Up
    for (ty, nib) in [
        (MessageType::PdelayResp, 0x03),
        (MessageType::PdelayRespFollowUp, 0x0A),
    ] {
        let mut b2 = out;
        b2[0] = nib;
        let r = Repr::parse_bytes(&b2).unwrap();
        assert_eq!(r.message_type(), ty);
        let mut o = [0u8; 54];
        r.emit(&mut o).unwrap();
        assert_eq!(o, b2);
    }
    // Pdelay_Req: timestamp then 10 reserved bytes (written as zero)
    let mut b3 = [0u8; 54];
    b3[0] = 0x02;
    b3[1] = 0x02;
    b3[2..4].copy_from_slice(&54u16.to_be_bytes());
    let r = Repr::parse_bytes(&b3).unwrap();
    assert_eq!(
        r.body,
        Body::PdelayReq {
            origin_timestamp: PtpTimestamp::default()
        }
    );
    assert_eq!(r.buffer_len(), 54);
}

#[test]
fn announce() {
    // ptp4l's defaults: priority1/2 128, class 248, accuracy 0xFE, variance
    // 0xFFFF, internal oscillator, UTC offset 37, flags currentUtcOffsetValid
    // | ptpTimescale.
    let mut b = [0u8; 64];
    b[0] = 0x0B;
    b[1] = 0x12;
    b[2..4].copy_from_slice(&64u16.to_be_bytes());
    b[6..8].copy_from_slice(&[0x00, 0x0C]);
    b[20..30].copy_from_slice(&[0x00, 0x11, 0x22, 0xFF, 0xFE, 0x33, 0x44, 0x55, 0x00, 0x01]);
    b[32] = 5;
    b[33] = 1;
    b[44..46].copy_from_slice(&37i16.to_be_bytes());
    b[47] = 128;
    b[48..52].copy_from_slice(&[248, 0xFE, 0xFF, 0xFF]);
    b[52] = 128;
    b[53..61].copy_from_slice(&CLOCK.0);
    b[61..63].copy_from_slice(&0u16.to_be_bytes());
    b[63] = 0xA0;
    let r = Repr::parse_bytes(&b).unwrap();
    let Body::Announce(a) = r.body else {
        panic!("not an announce")
    };
    assert!(
        r.header
            .flags
            .contains(Flags::PTP_TIMESCALE | Flags::CURRENT_UTC_OFFSET_VALID)
    );
    assert_eq!(a.current_utc_offset, 37);
    assert_eq!(a.grandmaster_priority1, 128);
    assert_eq!(
        a.grandmaster_clock_quality,
        ClockQuality {
            clock_class: 248,
            clock_accuracy: 0xFE,
            offset_scaled_log_variance: 0xFFFF
        }
    );
    assert_eq!(a.grandmaster_identity, CLOCK);
    assert_eq!(a.time_source, TimeSource::InternalOscillator);
    let mut out = [0u8; 64];
    r.emit(&mut out).unwrap();
    assert_eq!(out, b);
}

#[test]
fn signaling_keeps_unknown_tlvs() {
    // Signaling with an unknown TLV (0x7FFF, 4 bytes) and a
    // REQUEST_UNICAST_TRANSMISSION TLV (6 bytes), then 2 bytes of transport
    // padding past messageLength.
    let mut b = [0u8; 44 + 8 + 10 + 2];
    b[0] = 0x0C;
    b[1] = 0x02;
    b[2..4].copy_from_slice(&62u16.to_be_bytes());
    b[34..44].copy_from_slice(&[0xFF; 10]);
    b[44..52].copy_from_slice(&[0x7F, 0xFF, 0x00, 0x04, 1, 2, 3, 4]);
    b[52..62].copy_from_slice(&[0x00, 0x04, 0x00, 0x06, 0xB0, 0xFD, 0, 0, 0, 60]);
    b[62..].copy_from_slice(&[0xEE, 0xEE]);
    let r = Repr::parse_bytes(&b).unwrap();
    assert_eq!(r.tlvs.len(), 18);
    let mut it = r.tlvs();
    assert_eq!(
        it.next(),
        Some(Ok(Tlv {
            tlv_type: TlvType::Unknown(0x7FFF),
            value: &[1, 2, 3, 4]
        }))
    );
    assert_eq!(
        it.next().unwrap().unwrap().tlv_type,
        TlvType::RequestUnicastTransmission
    );
    assert_eq!(it.next(), None);
    let mut out = [0u8; 62];
    assert_eq!(r.emit(&mut out), Ok(62));
    assert_eq!(out[..], b[..62]);
    // a TLV whose length runs past messageLength
    b[55] = 0x20;
    assert_eq!(Repr::parse_bytes(&b), Err(Error::BadTlv));
}

#[test]
fn management_get() {
    // GET DEFAULT_DATA_SET (managementId 0x2000) to all ports, as pmc sends it
    let mut b = [0u8; 54];
    b[0] = 0x0D;
    b[1] = 0x02;
    b[2..4].copy_from_slice(&54u16.to_be_bytes());
    b[32] = 4;
    b[33] = 0x7F;
    b[34..44].copy_from_slice(&[0xFF; 10]);
    b[44] = 1;
    b[45] = 1;
    b[46] = 0; // GET
    b[48..54].copy_from_slice(&[0x00, 0x01, 0x00, 0x02, 0x20, 0x00]);
    let r = Repr::parse_bytes(&b).unwrap();
    let Body::Management(m) = r.body else {
        panic!("not management")
    };
    assert_eq!(m.action, ManagementAction::Get);
    assert_eq!(m.target_port_identity.port_number, 0xFFFF);
    let tlv = r.tlvs().next().unwrap().unwrap();
    assert_eq!(tlv.management(), Some((0x2000, &[][..])));
    let mut out = [0u8; 54];
    r.emit(&mut out).unwrap();
    assert_eq!(out, b);
}

#[test]
fn lengths() {
    assert_eq!(
        Packet::new_checked(&SYNC[..33]).err(),
        Some(Error::Truncated)
    );
    let mut b = SYNC;
    b[3] = 33;
    assert_eq!(Packet::new_checked(&b[..]).err(), Some(Error::BadLength));
    b[3] = 43; // shorter than Sync's body
    assert_eq!(Packet::new_checked(&b[..]).err(), Some(Error::Truncated));
    b[3] = 45; // longer than the buffer
    assert_eq!(Packet::new_checked(&b[..]).err(), Some(Error::Truncated));
    // unknown message type: the body is kept raw
    let mut u = SYNC;
    u[0] = 0x05;
    let r = Repr::parse_bytes(&u).unwrap();
    assert_eq!(r.body, Body::Unknown(5));
    assert_eq!(r.tlvs.len(), 10);
    let mut out = [0u8; 44];
    r.emit(&mut out).unwrap();
    assert_eq!(out, u);
    // unchecked views never panic
    let p = Packet::new_unchecked(&SYNC[..10]);
    assert_eq!(p.sequence_id(), 0);
    assert_eq!(p.tlv_region(), &[] as &[u8]);
    let mut short = [0u8; 5];
    Packet::new_unchecked(&mut short[..]).set_correction(TimeInterval::MAX);
    assert_eq!(short, [0; 5]);
    let r = Repr::parse_bytes(&SYNC).unwrap();
    assert_eq!(r.emit(&mut [0u8; 43]), Err(Error::Truncated));
    let bad = Repr {
        header: Header {
            sdo_id: 0x1000,
            ..r.header
        },
        ..r
    };
    assert_eq!(bad.emit(&mut [0u8; 44]), Err(Error::FieldOutOfRange));
}

fn arb_ts() -> impl Strategy<Value = PtpTimestamp> {
    (0..=PtpTimestamp::MAX_SECONDS, 0u32..1_000_000_000)
        .prop_map(|(s, n)| PtpTimestamp::new(s, n).unwrap_or_default())
}

fn arb_port() -> impl Strategy<Value = PortIdentity> {
    (any::<[u8; 8]>(), any::<u16>()).prop_map(|(c, p)| PortIdentity {
        clock_identity: ClockIdentity(c),
        port_number: p,
    })
}

fn arb_header() -> impl Strategy<Value = Header> {
    (
        (0u16..0x1000, 0u8..16, 0u8..16, any::<u8>(), any::<u16>()),
        (any::<i64>(), any::<u32>(), arb_port()),
        (any::<u16>(), any::<u8>(), any::<i8>()),
    )
        .prop_map(
            |((sdo, v, mv, dom, fl), (c, mts, src), (seq, ctl, log))| Header {
                sdo_id: sdo,
                version: v,
                minor_version: mv,
                domain_number: dom,
                flags: Flags(fl),
                correction: TimeInterval::from_bits(c),
                message_type_specific: mts,
                source_port_identity: src,
                sequence_id: seq,
                control_field: ctl,
                log_message_interval: log,
            },
        )
}

fn arb_body() -> impl Strategy<Value = Body> {
    prop_oneof![
        arb_ts().prop_map(|t| Body::Sync {
            origin_timestamp: t
        }),
        arb_ts().prop_map(|t| Body::DelayReq {
            origin_timestamp: t
        }),
        arb_ts().prop_map(|t| Body::PdelayReq {
            origin_timestamp: t
        }),
        (arb_ts(), arb_port()).prop_map(|(t, p)| Body::PdelayResp {
            request_receipt_timestamp: t,
            requesting_port_identity: p
        }),
        arb_ts().prop_map(|t| Body::FollowUp {
            precise_origin_timestamp: t
        }),
        (arb_ts(), arb_port()).prop_map(|(t, p)| Body::DelayResp {
            receive_timestamp: t,
            requesting_port_identity: p
        }),
        (arb_ts(), arb_port()).prop_map(|(t, p)| Body::PdelayRespFollowUp {
            response_origin_timestamp: t,
            requesting_port_identity: p
        }),
        (
            arb_ts(),
            (
                any::<i16>(),
                any::<u8>(),
                any::<u8>(),
                any::<u8>(),
                any::<u16>()
            ),
            (any::<u8>(), any::<[u8; 8]>(), any::<u16>(), any::<u8>())
        )
            .prop_map(|(t, (utc, p1, cc, ca, var), (p2, gm, steps, ts))| {
                Body::Announce(Announce {
                    origin_timestamp: t,
                    current_utc_offset: utc,
                    grandmaster_priority1: p1,
                    grandmaster_clock_quality: ClockQuality {
                        clock_class: cc,
                        clock_accuracy: ca,
                        offset_scaled_log_variance: var,
                    },
                    grandmaster_priority2: p2,
                    grandmaster_identity: ClockIdentity(gm),
                    steps_removed: steps,
                    time_source: TimeSource::from_u8(ts),
                })
            }),
        arb_port().prop_map(|p| Body::Signaling {
            target_port_identity: p
        }),
        (arb_port(), any::<u8>(), any::<u8>(), 0u8..16).prop_map(|(p, s, h, a)| {
            Body::Management(Management {
                target_port_identity: p,
                starting_boundary_hops: s,
                boundary_hops: h,
                action: ManagementAction::from_nibble(a),
            })
        }),
        prop_oneof![4u8..8, 0x0Eu8..0x10].prop_map(Body::Unknown),
    ]
}

proptest! {
    #[test]
    fn roundtrip(
        header in arb_header(),
        body in arb_body(),
        tlvs in proptest::collection::vec((any::<u16>(), proptest::collection::vec(any::<u8>(), 0..20)), 0..4),
    ) {
        let mut region = [0u8; 128];
        let mut n = 0;
        for (ty, value) in &tlvs {
            n += Tlv { tlv_type: TlvType::from_u16(*ty), value }.emit(&mut region[n..]).unwrap();
        }
        let repr = Repr { header, body, tlvs: &region[..n] };
        let mut buf = [0u8; 256];
        let len = repr.emit(&mut buf).unwrap();
        prop_assert_eq!(len, repr.buffer_len());
        let back = Repr::parse_bytes(&buf[..len]).unwrap();
        prop_assert_eq!(back, repr);
        if !matches!(body, Body::Unknown(_)) {
            prop_assert_eq!(back.tlvs().count(), tlvs.len());
        }
    }

    #[test]
    fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
        let p = Packet::new_unchecked(&bytes[..]);
        let _ = (p.message_type(), p.correction(), p.timestamp(), p.tlv_region());
        if let Ok(r) = Repr::parse_bytes(&bytes) {
            let _ = r.tlvs().count();
            let mut out = [0u8; 256];
            let len = r.emit(&mut out).unwrap();
            prop_assert_eq!(Repr::parse_bytes(&out[..len]).unwrap(), r);
        }
    }
}

fn unhex(s: &str, out: &mut [u8]) -> usize {
    let b = s.as_bytes();
    let digit = |c: u8| u8::try_from((c as char).to_digit(16).unwrap()).unwrap();
    for (i, pair) in b.chunks(2).enumerate() {
        out[i] = digit(pair[0]) << 4 | digit(pair[1]);
    }
    b.len() / 2
}

/// Messages captured from linuxptp 3.1.1 `ptp4l -S` (`UDPv4`, two-step,
/// `free_running 1`) on a veth pair, answering our `Delay_Req` (sequence 7).
#[test]
fn real_ptp4l_capture() {
    const SYNC: &str =
        "0002002c000002000000000000000000000000006ecd81fffe0b233c0001000400fd00000000000000000000";
    const FOLLOW_UP: &str =
        "0802002c000000000000000000000000000000006ecd81fffe0b233c0001000402fd00006b093dce360bb842";
    const DELAY_RESP: &str = "09020036000000000000000000000000000000006ecd81fffe0b233c0001000703fd00006b093dcf01f464f102005efffe0000010001";
    const ANNOUNCE: &str = "0b020040000000000000000000000000000000006ecd81fffe0b233c0001000305fe0000000000000000000000250001f8feffff806ecd81fffe0b233c0000a0";
    let gm = ClockIdentity([0x6e, 0xcd, 0x81, 0xff, 0xfe, 0x0b, 0x23, 0x3c]);
    let master = PortIdentity {
        clock_identity: gm,
        port_number: 1,
    };
    let mut buf = [0u8; 128];
    let mut out = [0u8; 128];
    for (hex, ty) in [
        (SYNC, MessageType::Sync),
        (FOLLOW_UP, MessageType::FollowUp),
        (DELAY_RESP, MessageType::DelayResp),
        (ANNOUNCE, MessageType::Announce),
    ] {
        let n = unhex(hex, &mut buf);
        let r = Repr::parse_bytes(&buf[..n]).unwrap();
        assert_eq!(r.message_type(), ty);
        assert_eq!(r.header.source_port_identity, master);
        assert_eq!(r.header.control_field, ty.control_field());
        assert!(r.tlvs.is_empty());
        assert_eq!(r.emit(&mut out), Ok(n));
        assert_eq!(out[..n], buf[..n], "{ty:?}");
        match r.body {
            Body::Sync { .. } => {
                assert!(r.header.flags.two_step());
                assert_eq!(r.header.log_message_interval, -3);
            }
            Body::FollowUp {
                precise_origin_timestamp: t,
            } => assert_eq!((t.seconds(), t.nanoseconds()), (0x6b09_3dce, 0x360b_b842)),
            Body::DelayResp {
                receive_timestamp: t,
                requesting_port_identity,
            } => {
                assert_eq!((t.seconds(), t.nanoseconds()), (0x6b09_3dcf, 0x01f4_64f1));
                assert_eq!(requesting_port_identity.port_number, 1);
                assert_eq!(r.header.sequence_id, 7);
            }
            Body::Announce(a) => {
                // ptp4l on CLOCK_REALTIME announces the ARB (UTC) timescale
                assert!(!r.header.flags.contains(Flags::PTP_TIMESCALE));
                assert_eq!(a.current_utc_offset, 37);
                assert_eq!(a.grandmaster_priority1, 1);
                assert_eq!(a.grandmaster_clock_quality.clock_class, 248);
                assert_eq!(a.grandmaster_identity, gm);
                assert_eq!(a.time_source, TimeSource::InternalOscillator);
            }
            _ => unreachable!(),
        }
    }
}

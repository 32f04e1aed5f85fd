#![allow(clippy::indexing_slicing, reason = "tests index fixed arrays")]

use super::*;
use crate::time::{Duration, NTP_UNIX_EPOCH_DELTA_SECS, Timestamp};
use proptest::prelude::*;

/// A client request laid out by hand from RFC 5905 figure 8: LI 0, VN 4,
/// mode 3, poll 6, precision −20, transmit `0xE8A1_2345.8000_0000`.
const CLIENT_REQUEST: [u8; 48] = [
    0x23, 0x00, 0x06, 0xEC, // LI|VN|Mode, stratum, poll, precision
    0, 0, 0, 0, // root delay
    0, 0, 0, 0, // root dispersion
    0, 0, 0, 0, // reference id
    0, 0, 0, 0, 0, 0, 0, 0, // reference
    0, 0, 0, 0, 0, 0, 0, 0, // origin
    0, 0, 0, 0, 0, 0, 0, 0, // receive
    0xE8, 0xA1, 0x23, 0x45, 0x80, 0x00, 0x00, 0x00, // transmit
];

#[test]
fn client_request_fields() {
    let p = Packet::new_checked(&CLIENT_REQUEST[..]).unwrap();
    assert_eq!(p.leap(), LeapIndicator::NoWarning);
    assert_eq!(p.version(), 4);
    assert_eq!(p.mode(), Mode::Client);
    assert_eq!(p.poll(), 6);
    assert_eq!(p.precision(), -20);
    assert_eq!(p.transmit_timestamp(), NtpTimestamp(0xE8A1_2345_8000_0000));
    let r = Repr::parse(&p).unwrap();
    assert!(r.extensions.is_empty() && r.mac.is_empty());
    let mut out = [0u8; 48];
    assert_eq!(r.emit(&mut out), Ok(48));
    assert_eq!(out, CLIENT_REQUEST);
}

/// A stratum-1 server reply whose receive timestamp is the last half second
/// of NTP era 0 and whose transmit timestamp is the first instant of era 1
/// (2036-02-07T06:28:16Z).
#[test]
fn era_boundary_reply() {
    let bytes: [u8; 48] = [
        0x24, 0x01, 0x06, 0xE9, // LI 0, VN 4, mode 4; stratum 1; poll 6; precision -23
        0x00, 0x00, 0x00, 0x10, // root delay 16/65536 s
        0x00, 0x00, 0x00, 0x20, // root dispersion 32/65536 s
        b'G', b'P', b'S', 0, // reference id
        0xFF, 0xFF, 0xFF, 0xF0, 0, 0, 0, 0, // reference
        0xFF, 0xFF, 0xFF, 0xFF, 0x40, 0, 0, 0, // origin
        0xFF, 0xFF, 0xFF, 0xFF, 0x80, 0, 0, 0, // receive
        0x00, 0x00, 0x00, 0x00, 0x00, 0, 0, 0, // transmit: era 1, second 0
    ];
    let r = Repr::parse_bytes(&bytes).unwrap();
    assert_eq!(r.mode, Mode::Server);
    assert_eq!(r.stratum, 1);
    assert_eq!(r.precision, -23);
    assert_eq!(r.root_delay, NtpShort(16));
    assert_eq!(r.root_dispersion, NtpShort(32));
    assert_eq!(&r.reference_id.0, b"GPS\0");
    assert_eq!(r.kiss_code(), None);
    let era1 = (1u64 << 32) - NTP_UNIX_EPOCH_DELTA_SECS;
    let pivot = Timestamp::from_secs_nanos(era1, 0);
    assert_eq!(
        r.receive_timestamp.to_unix_near(pivot),
        Timestamp::from_secs_nanos(era1 - 1, 500_000_000)
    );
    assert_eq!(r.transmit_timestamp.to_unix_near(pivot), pivot);
    assert_eq!(
        r.transmit_timestamp.duration_since(r.receive_timestamp),
        Duration::from_millis(500)
    );
    let mut out = [0u8; 48];
    r.emit(&mut out).unwrap();
    assert_eq!(out, bytes);
}

#[test]
fn kiss_o_death() {
    let mut bytes = [0u8; 48];
    bytes[0] = 0xE4; // LI 3, VN 4, mode 4
    bytes[12..16].copy_from_slice(b"RATE");
    let p = Packet::new_checked(&bytes[..]).unwrap();
    assert_eq!(p.leap(), LeapIndicator::Unsynchronized);
    assert_eq!(p.kiss_code(), Some(KissCode::Rate));
    for code in [
        KissCode::Deny,
        KissCode::Rstr,
        KissCode::Ntsn,
        KissCode::Unknown(*b"XYZW"),
    ] {
        assert_eq!(KissCode::from_reference_id(code.to_reference_id()), code);
    }
    bytes[1] = 2;
    assert_eq!(Packet::new_unchecked(&bytes[..]).kiss_code(), None);
}

#[test]
fn truncated_and_unchecked() {
    assert_eq!(
        Packet::new_checked(&CLIENT_REQUEST[..47]).err(),
        Some(Error::Truncated)
    );
    assert_eq!(Repr::parse_bytes(&[]), Err(Error::Truncated));
    // unchecked views read zeros past the end and never panic
    let p = Packet::new_unchecked(&CLIENT_REQUEST[..42]);
    assert_eq!(p.transmit_timestamp(), NtpTimestamp::ZERO);
    assert_eq!(p.mode(), Mode::Client);
    let mut short = [0u8; 3];
    let mut p = Packet::new_unchecked(&mut short[..]);
    p.set_transmit_timestamp(NtpTimestamp(1));
    p.set_mode(Mode::Server);
    assert_eq!(short, [4, 0, 0]);
    let r = Repr::empty(Mode::Client);
    assert_eq!(r.emit(&mut [0u8; 47]), Err(Error::Truncated));
    let bad = Repr { version: 8, ..r };
    assert_eq!(bad.emit(&mut [0u8; 48]), Err(Error::FieldOutOfRange));
}

#[test]
fn setters_keep_other_bits() {
    let mut buf = [0u8; 48];
    let mut p = Packet::new_checked(&mut buf[..]).unwrap();
    p.set_version(4);
    p.set_mode(Mode::Client);
    p.set_leap(LeapIndicator::DeleteSecond);
    p.set_poll(-3);
    assert_eq!(p.version(), 4);
    assert_eq!(p.mode(), Mode::Client);
    assert_eq!(p.leap(), LeapIndicator::DeleteSecond);
    assert_eq!(p.poll(), -3);
    assert_eq!(buf[0], 0b10_100_011);
    assert_eq!(buf[2], 0xFD);
}

#[test]
fn extension_fields_and_mac() {
    // one 16-byte field (type 0x0104, NTS unique identifier) then a 20-byte MAC
    let mut buf = [0u8; 48 + 16 + 20];
    buf[..48].copy_from_slice(&CLIENT_REQUEST);
    buf[48..52].copy_from_slice(&[0x01, 0x04, 0x00, 0x10]);
    buf[52..64].copy_from_slice(&[7; 12]);
    buf[64..68].copy_from_slice(&[0, 0, 0, 1]); // key id
    buf[68..].copy_from_slice(&[0xAA; 16]);
    let r = Repr::parse_bytes(&buf).unwrap();
    assert_eq!(r.extensions.len(), 16);
    assert_eq!(r.mac.len(), 20);
    let mut it = r.extension_fields();
    assert_eq!(
        it.next(),
        Some(Ok(ExtensionField {
            field_type: 0x0104,
            value: &[7; 12]
        }))
    );
    assert_eq!(it.next(), None);
    let mut out = [0u8; 84];
    assert_eq!(r.emit(&mut out), Ok(84));
    assert_eq!(out, buf);

    // a trailing 16-byte field without MAC is ambiguous: RFC 7822 reads it as
    // a (bad) MAC
    assert_eq!(Repr::parse_bytes(&buf[..64]), Err(Error::BadMac));
    // a 4-byte crypto-NAK is a MAC
    let r = Repr::parse_bytes(&buf[..52]).unwrap();
    assert_eq!((r.extensions.len(), r.mac.len()), (0, 4));
    // a 28-byte last field without MAC
    let mut buf2 = [0u8; 48 + 28];
    buf2[..48].copy_from_slice(&CLIENT_REQUEST);
    let n = emit_extension_field(
        0x0204,
        &[1, 2, 3],
        ext::MIN_LAST_EXTENSION_LEN,
        &mut buf2[48..],
    )
    .unwrap();
    assert_eq!(n, 28);
    assert_eq!(&buf2[48..56], &[0x02, 0x04, 0x00, 0x1C, 1, 2, 3, 0]);
    let r = Repr::parse_bytes(&buf2).unwrap();
    assert_eq!((r.extensions.len(), r.mac.len()), (28, 0));
    // a length that runs past the end, a length below 16, an odd length
    for len in [0x40u8, 0x0C, 0x1D] {
        buf2[51] = len;
        assert_eq!(Repr::parse_bytes(&buf2), Err(Error::BadExtensionField));
    }
    // emit refuses regions that would not parse back
    let mut out = [0u8; 128];
    let ext16 = [0x01, 0x04, 0x00, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let r = Repr {
        extensions: &ext16,
        ..Repr::empty(Mode::Client)
    };
    assert_eq!(r.emit(&mut out), Err(Error::BadExtensionField));
    let r = Repr {
        mac: &[0; 5],
        ..Repr::empty(Mode::Client)
    };
    assert_eq!(r.emit(&mut out), Err(Error::BadMac));
}

fn arb_header() -> impl Strategy<Value = Repr<'static>> {
    (
        (
            0u8..4,
            0u8..8,
            0u8..8,
            any::<u8>(),
            any::<i8>(),
            any::<i8>(),
        ),
        (any::<u32>(), any::<u32>(), any::<[u8; 4]>()),
        (any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()),
    )
        .prop_map(
            |((li, vn, mode, stratum, poll, precision), (rd, rdisp, id), (t0, t1, t2, t3))| Repr {
                leap: LeapIndicator::from_bits(li),
                version: vn,
                mode: Mode::from_bits(mode),
                stratum,
                poll,
                precision,
                root_delay: NtpShort(rd),
                root_dispersion: NtpShort(rdisp),
                reference_id: ReferenceId(id),
                reference_timestamp: NtpTimestamp(t0),
                origin_timestamp: NtpTimestamp(t1),
                receive_timestamp: NtpTimestamp(t2),
                transmit_timestamp: NtpTimestamp(t3),
                extensions: &[],
                mac: &[],
            },
        )
}

proptest! {
    #[test]
    fn roundtrip(
        header in arb_header(),
        fields in proptest::collection::vec((any::<u16>(), proptest::collection::vec(any::<u8>(), 0..40)), 0..4),
        mac_len in prop_oneof![Just(0usize), Just(4), Just(20), Just(24)],
    ) {
        let mut ext = [0u8; 512];
        let mut n = 0;
        let last = fields.len().saturating_sub(1);
        for (i, (ty, value)) in fields.iter().enumerate() {
            // the last field plus the MAC must be longer than a lone MAC (RFC 7822 §7.5)
            let min = if i == last { (MAX_MAC_LEN + 1).saturating_sub(mac_len).max(16) } else { 16 };
            n += emit_extension_field(*ty, value, min, &mut ext[n..]).unwrap();
        }
        let mac = [0x5Au8; 24];
        let repr = Repr { extensions: &ext[..n], mac: &mac[..mac_len], ..header };
        let mut buf = [0u8; 600];
        let len = repr.emit(&mut buf).unwrap();
        prop_assert_eq!(len, repr.buffer_len());
        let back = Repr::parse_bytes(&buf[..len]).unwrap();
        prop_assert_eq!(back, repr);
        prop_assert_eq!(back.extension_fields().count(), fields.len());
        prop_assert!(back.extension_fields().all(|f| f.is_ok()));
    }

    #[test]
    fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let p = Packet::new_unchecked(&bytes[..]);
        let _ = (p.leap(), p.mode(), p.kiss_code(), p.transmit_timestamp(), p.split_trailer());
        if let Ok(r) = Repr::parse_bytes(&bytes) {
            let _ = r.extension_fields().count();
            let mut out = [0u8; 256];
            let len = r.emit(&mut out).unwrap();
            prop_assert_eq!(&out[..len], &bytes[..]);
        }
    }
}

/// A reply captured from chrony 4.3 (`chronyd -x`, `local stratum 1`) to a
/// request with transmit cookie 0x0123456789abcdef.
const CHRONYD_REPLY: [u8; 48] = [
    0x24, 0x01, 0x06, 0xe7, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x7f, 0x7f, 0x01, 0x01,
    0xee, 0xb3, 0xbc, 0x57, 0x39, 0x72, 0x94, 0xcc, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
    0xee, 0xb3, 0xbc, 0x59, 0x26, 0x5f, 0xe6, 0x83, 0xee, 0xb3, 0xbc, 0x59, 0x26, 0x66, 0x88, 0x28,
];

#[test]
fn real_chronyd_reply() {
    let r = Repr::parse_bytes(&CHRONYD_REPLY).unwrap();
    assert_eq!(r.leap, LeapIndicator::NoWarning);
    assert_eq!((r.version, r.mode, r.stratum), (4, Mode::Server, 1));
    assert_eq!((r.poll, r.precision), (6, -25));
    assert_eq!(r.reference_id, ReferenceId([127, 127, 1, 1]));
    assert_eq!(r.origin_timestamp, NtpTimestamp(0x0123_4567_89AB_CDEF));
    assert!(r.transmit_timestamp.duration_since(r.receive_timestamp) > Duration::ZERO);
    let mut out = [0u8; 48];
    r.emit(&mut out).unwrap();
    assert_eq!(out, CHRONYD_REPLY);
}

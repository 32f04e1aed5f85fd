//! Size build (b): keel's default servo fed by a PTP end-to-end slave
//! (two-step Sync/Follow_Up, Delay_Req/Delay_Resp, encoded and decoded on
//! the wire), plus an NTP client exchange each second (request encoded,
//! reply decoded and validated into a sample).

#![no_std]
#![no_main]

use core::hint::black_box;

use keel_core::measure::ntp::{ClientConfig, ClientRequest};
use keel_core::measure::ptp::E2eSlave;
use keel_core::servo::{Kalman, KalmanConfig, OffsetSample, Servo, ServoConfig, ServoState};
use keel_core::time::{Duration, NtpShort, NtpTimestamp, Ppb, PtpTimestamp, TimeInterval};
use keel_core::wire::ntp::{self, LeapIndicator, Mode, ReferenceId};
use keel_core::wire::ptp::{Body, ClockIdentity, Flags, Header, PortIdentity, Repr};
use keel_firmware_cortex_m::{
    Noise, Plant, fnv1a, paint_stack, put, put_hex, put_u64, report_and_exit,
};

const UPDATES: u32 = 300;
/// One-way path delay, ns.
const PATH_NS: u64 = 20_000;

fn ptp_msg(buf: &mut [u8], src: PortIdentity, seq: u16, body: Body, two_step: bool) -> &[u8] {
    let repr = Repr {
        header: Header {
            version: 2,
            flags: Flags(if two_step { Flags::TWO_STEP } else { 0 }),
            correction: TimeInterval::ZERO,
            source_port_identity: src,
            sequence_id: seq,
            ..Header::default()
        },
        body,
        tlvs: &[],
    };
    let n = repr.emit(buf).unwrap_or(0);
    &buf[..n]
}

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
    let master = PortIdentity {
        clock_identity: ClockIdentity(black_box([1, 2, 3, 0xFF, 0xFE, 4, 5, 6])),
        port_number: 1,
    };
    let own = PortIdentity {
        clock_identity: ClockIdentity(black_box([7, 8, 9, 0xFF, 0xFE, 10, 11, 12])),
        port_number: 1,
    };
    let mut slave = E2eSlave::new(own, None);
    let mut servo = Kalman::new(
        ServoConfig::default(),
        KalmanConfig::default(),
        Duration::from_secs(1),
        Ppb::ZERO,
    );
    let ntp_cfg = ClientConfig::default();
    let mut plant = Plant::new(
        black_box(1_700_000_000_000_000_000),
        3_000_000,
        black_box(40_000),
    );
    let mut noise = Noise::new(black_box(11));
    let mut buf = [0u8; 128];
    let mut reply = [0u8; 48];
    let mut h = 0xCBF2_9CE4_8422_2325;
    let mut out = None;
    let mut ntp_ok = 0u32;
    for k in 0..UPDATES {
        plant.second();
        let seq = k as u16;
        let jitter = noise.next(50).unsigned_abs();
        // PTP: two-step Sync at reference t1, received PATH_NS later.
        let t1 = plant.reference(0);
        let msg = ptp_msg(
            &mut buf,
            master,
            seq,
            Body::Sync {
                origin_timestamp: PtpTimestamp::default(),
            },
            true,
        );
        let mut sample = None;
        if let Ok(r) = Repr::parse_bytes(msg) {
            let _ = slave.sync(&r, plant.local(PATH_NS + jitter));
        }
        let msg = ptp_msg(
            &mut buf,
            master,
            seq,
            Body::FollowUp {
                precise_origin_timestamp: PtpTimestamp::from_timestamp(t1),
            },
            false,
        );
        if let Ok(r) = Repr::parse_bytes(msg) {
            sample = slave.follow_up(&r).ok().flatten().or(sample);
        }
        // Delay_Req out at local t3 (encoded as a real slave would), in at t4.
        let t3 = plant.local(1_000_000);
        let _ = ptp_msg(
            &mut buf,
            own,
            seq,
            Body::DelayReq {
                origin_timestamp: PtpTimestamp::default(),
            },
            false,
        );
        slave.delay_req_sent(seq, t3);
        let t4 = plant.reference(1_000_000 + PATH_NS);
        let msg = ptp_msg(
            &mut buf,
            master,
            seq,
            Body::DelayResp {
                receive_timestamp: PtpTimestamp::from_timestamp(t4),
                requesting_port_identity: own,
            },
            false,
        );
        if let Ok(r) = Repr::parse_bytes(msg) {
            sample = slave.delay_resp(&r).ok().flatten().or(sample);
        }
        // NTP: request out at local t1, server answers at reference times.
        let req = ClientRequest::new(black_box(0x1234_5678_9ABC_DEF0 ^ u64::from(k)), 4);
        let n1 = plant.local(2_000_000);
        let _ = req.emit(&mut buf);
        let mut rep = ntp::Repr::empty(Mode::Server);
        rep.leap = LeapIndicator::NoWarning;
        rep.stratum = 1;
        rep.precision = -20;
        rep.poll = 4;
        rep.root_delay = NtpShort(0);
        rep.root_dispersion = NtpShort(10);
        rep.reference_id = ReferenceId(*b"GPS\0");
        rep.origin_timestamp = req.cookie();
        rep.receive_timestamp = NtpTimestamp::from_unix(plant.reference(2_000_000 + PATH_NS));
        rep.transmit_timestamp = NtpTimestamp::from_unix(plant.reference(2_010_000 + PATH_NS));
        let _ = rep.emit(&mut reply);
        let n4 = plant.local(2_010_000 + 2 * PATH_NS + jitter);
        if let Ok(ns) = req.process_reply(&reply, n1, n4, &ntp_cfg) {
            ntp_ok += 1;
            fnv1a(&mut h, ns.offset.as_nanos() as u64);
        }
        // The servo follows PTP.
        let o = match sample {
            Some(s) => update(
                &mut servo,
                &OffsetSample {
                    offset: s.offset,
                    local_ts: s.local_time,
                    uncertainty: Duration::ZERO,
                },
            ),
            None => servo.no_sample(plant.local(0)),
        };
        if let Some(a) = plant.apply(&o) {
            feedback(&mut servo, &a);
        }
        fnv1a(&mut h, o.freq.to_bits() as u64);
        fnv1a(&mut h, plant.offset_ns as u64);
        out = Some(o);
    }
    let locked = out
        .is_some_and(|o| matches!(o.state, ServoState::Locked | ServoState::LockedStable))
        && plant.offset_ns.abs() < 1_000
        && ntp_ok == UPDATES;
    put("RESULT full hash=");
    put_hex(h);
    put(" offset_ns=");
    put_u64(plant.offset_ns.unsigned_abs());
    put(" ntp_ok=");
    put_u64(u64::from(ntp_ok));
    put(if locked {
        " locked=true\n"
    } else {
        " locked=false\n"
    });
    report_and_exit(locked)
}

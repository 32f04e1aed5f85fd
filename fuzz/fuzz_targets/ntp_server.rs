//! The NTP server's responder: any bytes from any client, at any time,
//! through a small rate table, never panic; a reply is never longer than
//! its request and only a client-mode request of at least 48 bytes is
//! answered.
#![no_main]

use keel_core::server::{
    ClientKey, RateConfig, RateTable, Response, ServedClock, ServerView, respond, stamp_transmit,
};
use keel_core::time::{Duration, Timestamp};
use keel_core::wire::ntp::{LeapIndicator, Mode, ReferenceId, Repr};
use libfuzzer_sys::fuzz_target;

fn u64_at(data: &[u8], i: usize) -> u64 {
    let mut b = [0u8; 8];
    for (k, x) in b.iter_mut().enumerate() {
        *x = data.get(i + k).copied().unwrap_or(0);
    }
    u64::from_le_bytes(b)
}

fuzz_target!(|data: &[u8]| {
    // 40 bytes of parameters, then requests: a length byte and its bytes.
    let p = |i: usize| u64_at(data, i);
    let view = ServerView::new(ServedClock {
        synchronized: p(0) & 1 == 1,
        leap: LeapIndicator::from_bits((p(0) >> 1) as u8),
        stratum: (p(0) >> 8) as u8,
        precision: (p(0) >> 16) as i8,
        reference_id: ReferenceId(*b"PHC0"),
        reference_time: Timestamp::from_nanos(p(8)),
        root_delay: Duration::from_nanos(p(16) as i64),
        root_dispersion: Duration::from_nanos(p(24) as i64),
        growth_ppb: (p(0) >> 24) as u32,
        horizon: Duration::from_nanos(p(32) as i64),
    });
    let cfg = RateConfig {
        interval: (p(0) >> 56) as i8,
        burst: (p(0) >> 48) as u8,
        leak: ((p(0) >> 44) & 15) as u8,
        kod: ((p(0) >> 40) & 15) as u8,
        global_per_s: (p(16) >> 40) as u32,
    };
    let mut rate = RateTable::<8>::new(cfg, [p(8), p(24)]);
    let mut rest = data.get(40..).unwrap_or(&[]);
    let mut t = p(8);
    let mut k = 0u64;
    while let Some((&len, tail)) = rest.split_first() {
        let n = usize::from(len).min(tail.len());
        let (req, next) = tail.split_at(n);
        rest = next;
        k = k.wrapping_add(1);
        t = t.wrapping_add(u64::from(len).wrapping_mul(7_919_000_000));
        let key = ClientKey::from_ipv4(((k % 11) as u32).to_be_bytes());
        let mut out = [0u8; 64];
        let r = respond(req, Timestamp::from_nanos(t), key, &view, &mut rate, (t ^ k) as u32, &mut out);
        assert!(r.len() <= req.len(), "a reply longer than its request");
        match r {
            Response::Drop => {}
            Response::Reply(n) | Response::Kod(n) => {
                assert_eq!(n, 48);
                assert_eq!(req[0] & 7, 3, "only client mode is answered");
                assert!((1..=4).contains(&((req[0] >> 3) & 7)));
                let back = Repr::parse_bytes(&out[..n]).expect("a reply parses");
                assert_eq!(back.mode, Mode::Server);
                assert_eq!(&out[24..32], &req[40..48], "origin echoed");
                if matches!(r, Response::Reply(_)) {
                    stamp_transmit(&mut out[..n], Timestamp::from_nanos(t.wrapping_add(k)));
                } else {
                    assert_eq!(back.stratum, 0);
                }
            }
        }
    }
});

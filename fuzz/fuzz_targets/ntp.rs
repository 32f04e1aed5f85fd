//! NTP: any bytes parse or fail cleanly; what parses emits and re-parses to
//! the same value; the client and server exchanges never panic.
#![no_main]

use keel_core::measure::ntp::{ClientConfig, ClientRequest, ServerClock, kiss_reply, server_reply};
use keel_core::time::{Duration, Timestamp};
use keel_core::wire::ntp::{KissCode, LeapIndicator, Packet, ReferenceId, Repr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = Packet::new_unchecked(data);
    let _ = (
        p.leap(),
        p.version(),
        p.mode(),
        p.kiss_code(),
        p.transmit_timestamp(),
    );
    let _ = p.split_trailer();
    if let Ok(repr) = Repr::parse_bytes(data) {
        for f in repr.extension_fields() {
            let _ = f;
        }
        let mut buf = [0u8; 2048];
        if let Some(out) = buf.get_mut(..repr.buffer_len()) {
            let n = repr.emit(out).expect("a parsed Repr emits");
            assert_eq!(n, data.len(), "emit writes back every byte");
            assert_eq!(Repr::parse_bytes(&out[..n]).expect("re-parse"), repr);
            assert_eq!(&out[..n], data, "byte-exact round trip");
        }
    }
    let t = |i: usize| {
        let mut b = [0u8; 8];
        for (k, x) in b.iter_mut().enumerate() {
            *x = data.get(i + k).copied().unwrap_or(0);
        }
        Timestamp::from_nanos(u64::from_le_bytes(b))
    };
    let req = ClientRequest::new(0x0123_4567_89AB_CDEF, 6);
    let _ = req.process_reply(data, t(0), t(8), &ClientConfig::default());
    let clock = ServerClock {
        synchronized: true,
        leap: LeapIndicator::NoWarning,
        stratum: 2,
        precision: -20,
        reference_id: ReferenceId(*b"LOCL"),
        reference_time: t(16),
        root_delay: Duration::from_nanos(t(24).as_nanos() as i64),
        error_bound: Duration::from_nanos(t(32).as_nanos() as i64),
    };
    let mut out = [0u8; 48];
    let _ = server_reply(&clock, data, t(0), t(8), &mut out);
    let _ = kiss_reply(data, KissCode::Rate, &mut out);
});

//! NMEA: any bytes parse or fail cleanly, what parses emits and re-parses to
//! the same value, and the line assembler takes any stream.
#![no_main]

use keel_core::wire::nmea::{LineAssembler, Repr, Sentence};
use libfuzzer_sys::fuzz_target;

fn round_trip(line: &[u8]) {
    let s = Sentence::new_unchecked(line);
    let _ = (s.address(), s.talker(), s.field(9), s.field_count());
    let _ = (s.sent_checksum(), s.computed_checksum(), s.check());
    if let Ok(repr) = Repr::parse_bytes(line) {
        let _ = (repr.utc(), repr.fix_valid(), repr.time(), repr.talker());
        let mut buf = [0u8; 1024];
        let n = repr.emit(&mut buf).expect("a parsed Repr emits");
        assert_eq!(n, repr.buffer_len());
        assert_eq!(Repr::parse_bytes(&buf[..n]).expect("re-parse"), repr);
    }
}

fuzz_target!(|data: &[u8]| {
    round_trip(data);
    // The same bytes as a body with the right checksum, so the fields are
    // reached without the fuzzer finding the XOR first.
    let mut framed = [0u8; 1100];
    if data.len() + 4 <= framed.len() {
        let end = data.len() + 1;
        framed[0] = b'$';
        framed[1..end].copy_from_slice(data);
        let sum = data.iter().fold(0u8, |a, b| a ^ b);
        let hex = b"0123456789ABCDEF";
        framed[end..end + 3].copy_from_slice(&[
            b'*',
            hex[usize::from(sum >> 4)],
            hex[usize::from(sum & 15)],
        ]);
        round_trip(&framed[..end + 3]);
    }
    let mut lines = LineAssembler::<96>::new();
    for &b in data {
        if let Some(Ok(line)) = lines.push(b) {
            round_trip(line);
        }
    }
    let c = lines.counters();
    assert!(c.lines + c.too_long + c.interrupted + c.garbage_bytes <= data.len() as u64);
});

//! KTP: any bytes parse or fail cleanly, as a whole frame or as a stream of
//! frames; what parses emits and re-parses to the same value.
#![no_main]

use keel_core::wire::ktp::{Frame, MAX_LEN, Packet};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(len) = Packet::new_unchecked(rest).frame_len() {
        let Some(frame) = rest.get(..len) else { break };
        if let Ok(f) = Frame::parse(frame) {
            let mut buf = [0u8; MAX_LEN];
            let n = f.emit(&mut buf).expect("a parsed frame emits");
            assert_eq!(n, len);
            assert_eq!(Frame::parse(&buf[..n]).expect("re-parse"), f);
        }
        rest = rest.get(len..).unwrap_or(&[]);
    }
});

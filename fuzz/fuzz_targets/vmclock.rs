//! vmclock: any bytes parse or fail cleanly; what parses emits and re-parses
//! to the same value; the counter-to-time formula never panics.
#![no_main]

use keel_core::wire::vmclock::{Snapshot, read_two_copies, seq_count};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = seq_count(data);
    let _ = read_two_copies(data, data);
    if let Ok(s) = Snapshot::parse(data) {
        let mut buf = [0u8; 128];
        let n = s.emit(&mut buf).expect("a parsed snapshot emits");
        assert_eq!(Snapshot::parse(&buf[..n]).expect("re-parse"), s);
        // counters around C₁ and from the tail of the input
        let mut tail = [0u8; 8];
        for (k, x) in tail.iter_mut().enumerate() {
            *x = data
                .get(data.len().saturating_sub(8) + k)
                .copied()
                .unwrap_or(0);
        }
        for c in [
            s.counter_value,
            s.counter_value.wrapping_add(1),
            s.counter_value.wrapping_sub(1),
            u64::from_le_bytes(tail),
            0,
            u64::MAX,
        ] {
            if let Ok(r) = s.time_at(c) {
                let _ = r.utc();
            }
        }
    }
});

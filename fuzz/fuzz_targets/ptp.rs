//! PTP: any bytes parse or fail cleanly; what parses emits and re-parses to
//! the same value (reserved fields are normalised to zero, so the check is
//! on the value, then on the bytes of a second emit).
#![no_main]

use keel_core::select::bmca::{ComparisonDataset, compare};
use keel_core::wire::ptp::{Packet, PortIdentity, Repr};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = Packet::new_unchecked(data);
    let _ = (
        p.message_type(),
        p.correction(),
        p.timestamp(),
        p.tlv_region(),
    );
    let _ = (
        p.requesting_port_identity(),
        p.target_port_identity(),
        p.check_len(),
    );
    if let Ok(repr) = Repr::parse_bytes(data) {
        for tlv in repr.tlvs() {
            if let Ok(t) = tlv {
                let _ = t.management();
            }
        }
        let mut buf = [0u8; 70_000];
        let n = repr.emit(&mut buf).expect("a parsed Repr emits");
        let again = Repr::parse_bytes(&buf[..n]).expect("re-parse");
        assert_eq!(again, repr);
        let mut buf2 = [0u8; 70_000];
        let n2 = again.emit(&mut buf2).expect("emit again");
        assert_eq!(&buf[..n], &buf2[..n2]);
        if let Some(ds) = ComparisonDataset::from_announce(&repr, PortIdentity::default()) {
            let _ = compare(&ds, &ds);
        }
    }
});

//! PHC readings → offset samples.

use keel_core::measure::phc::{PHC_MAX_SAMPLES, PhcReading, PhcSample, PhcTriple};
use keel_core::time::Timestamp;

use crate::{check_out, ffi_boundary, keel_status, write_out};

/// The most triples one read returns (the kernel's `PTP_MAX_SAMPLES`).
pub const KEEL_PHC_MAX_SAMPLES: usize = 25;
const _: () = assert!(KEEL_PHC_MAX_SAMPLES == PHC_MAX_SAMPLES);

/// One PHC read from `PTP_SYS_OFFSET` / `PTP_SYS_OFFSET_EXTENDED`: the
/// system clock before, the PHC, the system clock after, each in ns since the
/// clock's epoch (`tv_sec * 1000000000 + tv_nsec`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct keel_phc_triple {
    /// System clock just before the PHC access, ns.
    pub sys_before_ns: u64,
    /// The PHC reading, ns.
    pub phc_ns: u64,
    /// System clock just after the PHC access, ns.
    pub sys_after_ns: u64,
}

/// The offset sample of one PHC read.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct keel_phc_sample {
    /// System clock − PHC, ns: positive means the system clock is ahead.
    pub offset_ns: i64,
    /// The system clock's time of the sample (the chosen triple's midpoint,
    /// or the cross-timestamp), ns.
    pub local_ts_ns: u64,
    /// The chosen triple's read interval `sys_after − sys_before`, ns (0 for a
    /// cross-timestamp). The true offset is within ±delay/2; pass delay/2 as
    /// the servo's `uncertainty_ns`.
    pub delay_ns: i64,
    /// 1: the triples scattered wider than their intervals explain and were
    /// averaged (the PHC's own read noise limits the sample; more triples
    /// per read would average it down); 0 otherwise and for cross-timestamps.
    pub noise_limited: u8,
}

fn sample(s: PhcSample) -> keel_phc_sample {
    keel_phc_sample {
        offset_ns: s.offset.as_nanos(),
        local_ts_ns: s.local_ts.as_nanos(),
        delay_ns: s.delay.as_nanos(),
        noise_limited: u8::from(s.noise_limited),
    }
}

/// The best offset sample of `n` triples (best of N): the triple with the
/// shortest read interval, read at its midpoint (phc2sys's rule). Triples with
/// a negative interval (a clock step during the read) are skipped.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_INVALID_ARGUMENT` (`n` is 0
/// or above `KEEL_PHC_MAX_SAMPLES`), `KEEL_STATUS_NO_SAMPLE` (no usable triple).
///
/// # Safety
/// `triples` is NULL or points to `n` valid `keel_phc_triple`s; `out` is NULL
/// or valid for writing a `keel_phc_sample`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_phc_best_sample(
    triples: *const keel_phc_triple,
    n: usize,
    out: *mut keel_phc_sample,
) -> keel_status {
    ffi_boundary!({
        if triples.is_null() {
            return Err(keel_status::NullPointer);
        }
        check_out(out)?;
        if n == 0 || n > PHC_MAX_SAMPLES {
            return Err(keel_status::InvalidArgument);
        }
        // SAFETY: non-NULL, and the caller guarantees `n` valid triples.
        let input = unsafe { core::slice::from_raw_parts(triples, n) };
        let mut samples = [PhcTriple::default(); PHC_MAX_SAMPLES];
        for (d, t) in samples.iter_mut().zip(input) {
            *d = PhcTriple {
                sys_before: Timestamp::from_nanos(t.sys_before_ns),
                phc: Timestamp::from_nanos(t.phc_ns),
                sys_after: Timestamp::from_nanos(t.sys_after_ns),
            };
        }
        let s = PhcReading::Sampled { samples, len: n }
            .best_sample()
            .ok_or(keel_status::NoSample)?;
        // SAFETY: `out` checked non-NULL; the caller guarantees it is valid.
        unsafe { write_out(out, sample(s)) };
        Ok(())
    })
}

/// The offset sample of a `PTP_SYS_OFFSET_PRECISE` cross-timestamp: system
/// clock and PHC latched at one instant (ns since their epochs).
///
/// Errors: `KEEL_STATUS_NULL_POINTER`.
///
/// # Safety
/// `out` is NULL or valid for writing a `keel_phc_sample`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_phc_precise_sample(
    sys_ns: u64,
    phc_ns: u64,
    out: *mut keel_phc_sample,
) -> keel_status {
    ffi_boundary!({
        check_out(out)?;
        let s = PhcReading::Precise {
            sys: Timestamp::from_nanos(sys_ns),
            phc: Timestamp::from_nanos(phc_ns),
        }
        .best_sample()
        .ok_or(keel_status::NoSample)?;
        // SAFETY: `out` checked non-NULL; the caller guarantees it is valid.
        unsafe { write_out(out, sample(s)) };
        Ok(())
    })
}

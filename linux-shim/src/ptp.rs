//! `<linux/ptp_clock.h>`: the structs and ioctl request numbers keel uses,
//! taken from `libc` (which encodes the request numbers for each
//! architecture's `_IOC` layout: asm-generic, powerpc, mips, sparc), with pure
//! request builders and pure conversions of the kernel's answers into
//! [`PhcReading`]s. Nothing here performs I/O.

use keel_core::measure::phc::{PHC_MAX_SAMPLES, PhcReading, PhcTriple};
use keel_core::time::Timestamp;

/// `struct ptp_clock_caps` (80 bytes).
pub use libc::ptp_clock_caps as ClockCaps;
/// `struct ptp_clock_time`: seconds, nanoseconds `0..1e9`, reserved.
pub use libc::ptp_clock_time as ClockTime;
/// `struct ptp_sys_offset` (`PTP_SYS_OFFSET`, basic): `2n + 1` alternating
/// system/PHC/system… timestamps.
pub use libc::ptp_sys_offset as SysOffset;
/// `struct ptp_sys_offset_extended` (`PTP_SYS_OFFSET_EXTENDED`):
/// `[sys_before, phc, sys_after]` per sample.
pub use libc::ptp_sys_offset_extended as SysOffsetExtended;
/// `struct ptp_sys_offset_precise` (`PTP_SYS_OFFSET_PRECISE`): the PHC,
/// `CLOCK_REALTIME` and `CLOCK_MONOTONIC_RAW` at the same instant.
pub use libc::ptp_sys_offset_precise as SysOffsetPrecise;

/// `PTP_CLOCK_GETCAPS`: `_IOR('=', 1, struct ptp_clock_caps)`.
pub use libc::PTP_CLOCK_GETCAPS;
/// `PTP_SYS_OFFSET`: `_IOW('=', 5, struct ptp_sys_offset)`.
pub use libc::PTP_SYS_OFFSET;
/// `PTP_SYS_OFFSET_EXTENDED`: `_IOWR('=', 9, struct ptp_sys_offset_extended)`.
pub use libc::PTP_SYS_OFFSET_EXTENDED;
/// `PTP_SYS_OFFSET_PRECISE`: `_IOWR('=', 8, struct ptp_sys_offset_precise)`.
pub use libc::PTP_SYS_OFFSET_PRECISE;

// The kernel's sizes (the same on every architecture: the structs hold only
// 32-bit fields and `ptp_clock_time`, whose 64-bit seconds come first). The
// request numbers encode them, so a wrong size would be a wrong request.
const _: () = assert!(size_of::<ClockTime>() == 16);
const _: () = assert!(size_of::<ClockCaps>() == 80);
const _: () = assert!(size_of::<SysOffset>() == 832);
const _: () = assert!(size_of::<SysOffsetExtended>() == 1216);
const _: () = assert!(size_of::<SysOffsetPrecise>() == 64);
// keel's sample count is the kernel's `PTP_MAX_SAMPLES`.
const _: () = assert!(PHC_MAX_SAMPLES == libc::PTP_MAX_SAMPLES as usize);

const _: () = assert!(size_of::<libc::ptp_pin_desc>() == 96);

/// A PHC pin (`struct ptp_pin_desc`): its name, function and channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pin {
    /// The driver's name for it.
    pub name: String,
    /// `PTP_PF_NONE` (0), `PTP_PF_EXTTS` (1, timestamps a pulse in),
    /// `PTP_PF_PEROUT` (2, a periodic output such as a pulse per second),
    /// `PTP_PF_PHYSYNC` (3).
    pub func: u32,
    /// The channel of that function.
    pub chan: u32,
}

impl Pin {
    /// The function's name.
    pub const fn func_name(&self) -> &'static str {
        match self.func {
            0 => "none",
            1 => "external timestamp in",
            2 => "periodic output",
            3 => "physical sync",
            _ => "unknown",
        }
    }
}

impl From<&libc::ptp_pin_desc> for Pin {
    fn from(d: &libc::ptp_pin_desc) -> Self {
        let bytes: Vec<u8> = d
            .name
            .iter()
            .take_while(|&&c| c != 0)
            // c_char is i8 on x86 and u8 on arm: the byte either way.
            .map(|&c| u8::from_ne_bytes(c.to_ne_bytes()))
            .collect();
        Self {
            name: String::from_utf8_lossy(&bytes).into_owned(),
            func: d.func,
            chan: d.chan,
        }
    }
}

/// A `PTP_PIN_GETFUNC` request for pin `index`.
pub fn pin_request(index: u32) -> libc::ptp_pin_desc {
    libc::ptp_pin_desc {
        name: [0; 64],
        index,
        func: 0,
        chan: 0,
        rsv: [0; 5],
    }
}

/// A kernel answer that cannot be a valid reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadReading;

/// A `ptp_clock_time` as a keel timestamp; `None` for a time before 1970 or a
/// nanosecond field out of range (a broken driver).
fn to_timestamp(t: &ClockTime) -> Option<Timestamp> {
    let sec = u64::try_from(t.sec).ok()?;
    (t.nsec < 1_000_000_000).then(|| Timestamp::from_secs_nanos(sec, t.nsec))
}

const ZERO_TIME: ClockTime = ClockTime {
    sec: 0,
    nsec: 0,
    reserved: 0,
};

fn clamp_n(n: usize) -> u32 {
    u32::try_from(n.clamp(1, PHC_MAX_SAMPLES)).unwrap_or(1)
}

/// An all-zero `struct ptp_clock_caps` for `PTP_CLOCK_GETCAPS` to fill in.
pub fn caps_request() -> ClockCaps {
    ClockCaps {
        max_adj: 0,
        n_alarm: 0,
        n_ext_ts: 0,
        n_per_out: 0,
        pps: 0,
        n_pins: 0,
        cross_timestamping: 0,
        adjust_phase: 0,
        max_phase_adj: 0,
        rsv: [0; 11],
    }
}

/// A `PTP_SYS_OFFSET` request for `n` readings (clamped to `1..=25`).
pub fn sys_offset_request(n: usize) -> SysOffset {
    SysOffset {
        n_samples: clamp_n(n),
        rsv: [0; 3],
        ts: [ZERO_TIME; 2 * PHC_MAX_SAMPLES + 1],
    }
}

/// A `PTP_SYS_OFFSET_EXTENDED` request for `n` triples (clamped to `1..=25`)
/// against `CLOCK_REALTIME`.
pub fn extended_request(n: usize) -> SysOffsetExtended {
    SysOffsetExtended {
        n_samples: clamp_n(n),
        clockid: libc::CLOCK_REALTIME,
        rsv: [0; 2],
        ts: [[ZERO_TIME; 3]; PHC_MAX_SAMPLES],
    }
}

/// An empty `PTP_SYS_OFFSET_PRECISE` request.
pub fn precise_request() -> SysOffsetPrecise {
    SysOffsetPrecise {
        device: ZERO_TIME,
        sys_realtime: ZERO_TIME,
        sys_monoraw: ZERO_TIME,
        rsv: [0; 4],
    }
}

/// The kernel's answer to a `PTP_SYS_OFFSET*` request, as a reading.
pub trait Answer {
    /// The reading of the answer.
    ///
    /// # Errors
    /// [`BadReading`] for an out-of-range count or timestamp.
    fn reading(&self) -> Result<PhcReading, BadReading>;
}

impl Answer for SysOffset {
    /// The triples of the answer: `(ts[2i], ts[2i+1], ts[2i+2])`.
    fn reading(&self) -> Result<PhcReading, BadReading> {
        let n = usize::try_from(self.n_samples).map_err(|_| BadReading)?;
        if n == 0 || n > PHC_MAX_SAMPLES {
            return Err(BadReading);
        }
        let mut samples = [PhcTriple::default(); PHC_MAX_SAMPLES];
        for (i, s) in samples.iter_mut().take(n).enumerate() {
            let t = |k: usize| self.ts.get(k).and_then(to_timestamp).ok_or(BadReading);
            *s = PhcTriple {
                sys_before: t(2 * i)?,
                phc: t(2 * i + 1)?,
                sys_after: t(2 * i + 2)?,
            };
        }
        Ok(PhcReading::Sampled { samples, len: n })
    }
}

impl Answer for SysOffsetExtended {
    /// The triples of the answer.
    fn reading(&self) -> Result<PhcReading, BadReading> {
        let n = usize::try_from(self.n_samples).map_err(|_| BadReading)?;
        if n == 0 || n > PHC_MAX_SAMPLES {
            return Err(BadReading);
        }
        let mut samples = [PhcTriple::default(); PHC_MAX_SAMPLES];
        for (s, [a, p, b]) in samples.iter_mut().zip(self.ts.iter()).take(n) {
            *s = PhcTriple {
                sys_before: to_timestamp(a).ok_or(BadReading)?,
                phc: to_timestamp(p).ok_or(BadReading)?,
                sys_after: to_timestamp(b).ok_or(BadReading)?,
            };
        }
        Ok(PhcReading::Sampled { samples, len: n })
    }
}

impl Answer for SysOffsetPrecise {
    /// The cross-timestamp of the answer.
    fn reading(&self) -> Result<PhcReading, BadReading> {
        Ok(PhcReading::Precise {
            sys: to_timestamp(&self.sys_realtime).ok_or(BadReading)?,
            phc: to_timestamp(&self.device).ok_or(BadReading)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_core::time::Duration;

    /// The request number's 32 bits (`Ioctl` is `c_ulong` on glibc, `c_int`
    /// on musl).
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "request numbers are 32-bit in every layout"
    )]
    fn bits(request: libc::Ioctl) -> u32 {
        request as u32
    }

    #[test]
    #[cfg(not(any(
        target_arch = "powerpc",
        target_arch = "powerpc64",
        target_arch = "mips",
        target_arch = "mips64",
        target_arch = "sparc",
        target_arch = "sparc64"
    )))]
    fn request_numbers_match_the_kernel_header() {
        // asm-generic: 2 direction bits (write 1, read 2), 14 size bits.
        assert_eq!(bits(PTP_CLOCK_GETCAPS), 0x8050_3d01);
        assert_eq!(bits(PTP_SYS_OFFSET), 0x4340_3d05);
        assert_eq!(bits(PTP_SYS_OFFSET_PRECISE), 0xc040_3d08);
        assert_eq!(bits(PTP_SYS_OFFSET_EXTENDED), 0xc4c0_3d09);
    }

    #[test]
    #[cfg(any(
        target_arch = "powerpc",
        target_arch = "powerpc64",
        target_arch = "mips",
        target_arch = "mips64",
        target_arch = "sparc",
        target_arch = "sparc64"
    ))]
    fn request_numbers_match_the_kernel_header() {
        // powerpc, mips, sparc: 3 direction bits (read 2, write 4), 13 size bits.
        assert_eq!(bits(PTP_CLOCK_GETCAPS), 0x4050_3d01);
        assert_eq!(bits(PTP_SYS_OFFSET), 0x8340_3d05);
        assert_eq!(bits(PTP_SYS_OFFSET_PRECISE), 0xc040_3d08);
        assert_eq!(bits(PTP_SYS_OFFSET_EXTENDED), 0xc4c0_3d09);
    }

    fn ct(sec: i64, nsec: u32) -> ClockTime {
        ClockTime {
            sec,
            nsec,
            reserved: 0,
        }
    }

    #[test]
    fn requests_clamp_the_count() {
        assert_eq!(sys_offset_request(0).n_samples, 1);
        assert_eq!(sys_offset_request(5).n_samples, 5);
        assert_eq!(sys_offset_request(99).n_samples, 25);
        let e = extended_request(30);
        assert_eq!((e.n_samples, e.clockid, e.rsv), (25, 0, [0, 0]));
    }

    #[test]
    fn basic_answer_shares_timestamps() {
        let mut r = sys_offset_request(2);
        // sys 10.000000100, phc 9.000000150, sys 10.000000200, phc 9.000000260, sys 10.000000300
        r.ts[0] = ct(10, 100);
        r.ts[1] = ct(9, 150);
        r.ts[2] = ct(10, 200);
        r.ts[3] = ct(9, 260);
        r.ts[4] = ct(10, 300);
        let reading = r.reading().unwrap();
        let s = reading.samples();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].sys_after, s[1].sys_before);
        assert_eq!(s[1].phc, Timestamp::from_secs_nanos(9, 260));
        // Both intervals are 100 ns, so both count: midpoints 150 − 150 → +1 s
        // and 250 − 260 → +1 s − 10 ns, averaged at the mean midpoint.
        let best = reading.best_sample().unwrap();
        assert_eq!(best.offset, Duration::from_nanos(999_999_995));
        assert_eq!(best.local_ts, Timestamp::from_secs_nanos(10, 200));
        assert_eq!(best.delay, Duration::from_nanos(100));
    }

    #[test]
    fn extended_and_precise_answers() {
        let mut r = extended_request(1);
        r.ts[0] = [ct(5, 0), ct(5, 400), ct(5, 1000)];
        let best = r.reading().unwrap().best_sample().unwrap();
        // sys midpoint 5.000000500 − phc 5.000000400 = +100 ns (system ahead)
        assert_eq!(best.offset, Duration::from_nanos(100));
        let p = SysOffsetPrecise {
            device: ct(7, 10),
            sys_realtime: ct(7, 0),
            ..precise_request()
        };
        let best = p.reading().unwrap().best_sample().unwrap();
        assert_eq!(best.offset, Duration::from_nanos(-10));
        assert_eq!(best.delay, Duration::ZERO);
    }

    #[test]
    fn broken_answers_are_rejected() {
        let mut r = extended_request(1);
        r.ts[0] = [ct(-1, 0), ct(5, 0), ct(5, 0)];
        assert_eq!(r.reading(), Err(BadReading));
        r.ts[0] = [ct(5, 1_000_000_000), ct(5, 0), ct(5, 0)];
        assert_eq!(r.reading(), Err(BadReading));
        r.n_samples = 26;
        assert_eq!(r.reading(), Err(BadReading));
        let mut b = sys_offset_request(1);
        b.n_samples = 0;
        assert_eq!(b.reading(), Err(BadReading));
    }

    #[test]
    fn caps_request_is_zero() {
        let c = caps_request();
        assert_eq!((c.max_adj, c.n_pins, c.rsv), (0, 0, [0; 11]));
    }
}

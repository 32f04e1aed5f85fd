//! `<linux/ptp_clock.h>` mirrors: the ioctl request numbers and structs keel
//! uses, with pure request builders and pure conversions of the kernel's
//! answers into [`PhcReading`]s. Nothing here performs I/O.

use keel_core::measure::phc::{PHC_MAX_SAMPLES, PhcReading, PhcTriple};
use keel_core::time::Timestamp;

/// `struct ptp_clock_time`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClockTime {
    /// Seconds.
    pub sec: i64,
    /// Nanoseconds, `0..1e9`.
    pub nsec: u32,
    /// Reserved.
    pub reserved: u32,
}

impl ClockTime {
    /// As a keel timestamp; `None` for a time before 1970 or a nanosecond
    /// field out of range (a broken driver).
    pub fn to_timestamp(self) -> Option<Timestamp> {
        let sec = u64::try_from(self.sec).ok()?;
        (self.nsec < 1_000_000_000).then(|| Timestamp::from_secs_nanos(sec, self.nsec))
    }
}

/// `struct ptp_clock_caps` (80 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClockCaps {
    /// Maximum frequency adjustment, ppb.
    pub max_adj: i32,
    /// Programmable alarms.
    pub n_alarm: i32,
    /// External timestamp channels.
    pub n_ext_ts: i32,
    /// Programmable periodic outputs.
    pub n_per_out: i32,
    /// PPS callback.
    pub pps: i32,
    /// Input/output pins.
    pub n_pins: i32,
    /// Whether the clock supports precise system-device cross timestamps.
    pub cross_timestamping: i32,
    /// Whether the clock supports adjust phase.
    pub adjust_phase: i32,
    /// Maximum phase adjustment, ns.
    pub max_phase_adj: i32,
    /// Reserved.
    pub rsv: [i32; 11],
}

/// `struct ptp_sys_offset` (`PTP_SYS_OFFSET`, basic): `2n + 1` alternating
/// system/PHC/system… timestamps.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SysOffset {
    /// Requested number of PHC readings, `1..=25`.
    pub n_samples: u32,
    /// Reserved, zero.
    pub rsv: [u32; 3],
    /// `sys, phc, sys, phc, …, sys`.
    pub ts: [ClockTime; 2 * PHC_MAX_SAMPLES + 1],
}

/// `struct ptp_sys_offset_extended` (`PTP_SYS_OFFSET_EXTENDED`).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SysOffsetExtended {
    /// Requested number of triples, `1..=25`.
    pub n_samples: u32,
    /// System clock of the triples (0 = `CLOCK_REALTIME`; was `rsv[0]`).
    pub clockid: i32,
    /// Reserved, zero.
    pub rsv: [u32; 2],
    /// `[sys_before, phc, sys_after]` per sample.
    pub ts: [[ClockTime; 3]; PHC_MAX_SAMPLES],
}

/// `struct ptp_sys_offset_precise` (`PTP_SYS_OFFSET_PRECISE`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SysOffsetPrecise {
    /// The PHC.
    pub device: ClockTime,
    /// `CLOCK_REALTIME` at the same instant.
    pub sys_realtime: ClockTime,
    /// `CLOCK_MONOTONIC_RAW` at the same instant.
    pub sys_monoraw: ClockTime,
    /// Reserved, zero.
    pub rsv: [u32; 4],
}

const _: () = assert!(size_of::<ClockTime>() == 16);
const _: () = assert!(size_of::<ClockCaps>() == 80);
const _: () = assert!(size_of::<SysOffset>() == 832);
const _: () = assert!(size_of::<SysOffsetExtended>() == 1216);
const _: () = assert!(size_of::<SysOffsetPrecise>() == 64);

/// `_IOC(dir, '=', nr, size)` of the asm-generic layout (x86, arm64, riscv).
const fn ioc(dir: u32, nr: u32, size: usize) -> u32 {
    #[allow(
        clippy::cast_possible_truncation,
        reason = "struct sizes are checked above to fit the 14-bit size field"
    )]
    let size = size as u32;
    (dir << 30) | (size << 16) | ((b'=' as u32) << 8) | nr
}

const IOC_WRITE: u32 = 1;
const IOC_READ: u32 = 2;

/// `PTP_CLOCK_GETCAPS`: `_IOR('=', 1, struct ptp_clock_caps)`.
pub const PTP_CLOCK_GETCAPS: u32 = ioc(IOC_READ, 1, size_of::<ClockCaps>());
/// `PTP_SYS_OFFSET`: `_IOW('=', 5, struct ptp_sys_offset)`.
pub const PTP_SYS_OFFSET: u32 = ioc(IOC_WRITE, 5, size_of::<SysOffset>());
/// `PTP_SYS_OFFSET_PRECISE`: `_IOWR('=', 8, struct ptp_sys_offset_precise)`.
pub const PTP_SYS_OFFSET_PRECISE: u32 = ioc(IOC_READ | IOC_WRITE, 8, size_of::<SysOffsetPrecise>());
/// `PTP_SYS_OFFSET_EXTENDED`: `_IOWR('=', 9, struct ptp_sys_offset_extended)`.
pub const PTP_SYS_OFFSET_EXTENDED: u32 =
    ioc(IOC_READ | IOC_WRITE, 9, size_of::<SysOffsetExtended>());

/// A kernel answer that cannot be a valid reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadReading;

fn clamp_n(n: usize) -> u32 {
    u32::try_from(n.clamp(1, PHC_MAX_SAMPLES)).unwrap_or(1)
}

impl SysOffset {
    /// A request for `n` readings (clamped to `1..=25`).
    pub fn request(n: usize) -> Self {
        Self {
            n_samples: clamp_n(n),
            rsv: [0; 3],
            ts: [ClockTime::default(); 2 * PHC_MAX_SAMPLES + 1],
        }
    }

    /// The triples of the answer: `(ts[2i], ts[2i+1], ts[2i+2])`.
    ///
    /// # Errors
    /// [`BadReading`] for an out-of-range count or timestamp.
    pub fn reading(&self) -> Result<PhcReading, BadReading> {
        let n = usize::try_from(self.n_samples).map_err(|_| BadReading)?;
        if n == 0 || n > PHC_MAX_SAMPLES {
            return Err(BadReading);
        }
        let mut samples = [PhcTriple::default(); PHC_MAX_SAMPLES];
        for (i, s) in samples.iter_mut().take(n).enumerate() {
            let t = |k: usize| {
                self.ts
                    .get(k)
                    .and_then(|c| c.to_timestamp())
                    .ok_or(BadReading)
            };
            *s = PhcTriple {
                sys_before: t(2 * i)?,
                phc: t(2 * i + 1)?,
                sys_after: t(2 * i + 2)?,
            };
        }
        Ok(PhcReading::Sampled { samples, len: n })
    }
}

impl SysOffsetExtended {
    /// A request for `n` triples (clamped to `1..=25`) against `CLOCK_REALTIME`.
    pub fn request(n: usize) -> Self {
        Self {
            n_samples: clamp_n(n),
            clockid: libc::CLOCK_REALTIME,
            rsv: [0; 2],
            ts: [[ClockTime::default(); 3]; PHC_MAX_SAMPLES],
        }
    }

    /// The triples of the answer.
    ///
    /// # Errors
    /// [`BadReading`] for an out-of-range count or timestamp.
    pub fn reading(&self) -> Result<PhcReading, BadReading> {
        let n = usize::try_from(self.n_samples).map_err(|_| BadReading)?;
        if n == 0 || n > PHC_MAX_SAMPLES {
            return Err(BadReading);
        }
        let mut samples = [PhcTriple::default(); PHC_MAX_SAMPLES];
        for (s, [a, p, b]) in samples.iter_mut().zip(self.ts.iter()).take(n) {
            *s = PhcTriple {
                sys_before: a.to_timestamp().ok_or(BadReading)?,
                phc: p.to_timestamp().ok_or(BadReading)?,
                sys_after: b.to_timestamp().ok_or(BadReading)?,
            };
        }
        Ok(PhcReading::Sampled { samples, len: n })
    }
}

impl SysOffsetPrecise {
    /// An empty request.
    pub fn request() -> Self {
        Self::default()
    }

    /// The cross-timestamp of the answer.
    ///
    /// # Errors
    /// [`BadReading`] for an out-of-range timestamp.
    pub fn reading(&self) -> Result<PhcReading, BadReading> {
        Ok(PhcReading::Precise {
            sys: self.sys_realtime.to_timestamp().ok_or(BadReading)?,
            phc: self.device.to_timestamp().ok_or(BadReading)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_core::time::Duration;

    #[test]
    fn request_numbers_match_the_kernel_header() {
        assert_eq!(PTP_CLOCK_GETCAPS, 0x8050_3d01);
        assert_eq!(PTP_SYS_OFFSET, 0x4340_3d05);
        assert_eq!(PTP_SYS_OFFSET_PRECISE, 0xc040_3d08);
        assert_eq!(PTP_SYS_OFFSET_EXTENDED, 0xc4c0_3d09);
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
        assert_eq!(SysOffset::request(0).n_samples, 1);
        assert_eq!(SysOffset::request(5).n_samples, 5);
        assert_eq!(SysOffset::request(99).n_samples, 25);
        let e = SysOffsetExtended::request(30);
        assert_eq!((e.n_samples, e.clockid, e.rsv), (25, 0, [0, 0]));
    }

    #[test]
    fn basic_answer_shares_timestamps() {
        let mut r = SysOffset::request(2);
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
        let mut r = SysOffsetExtended::request(1);
        r.ts[0] = [ct(5, 0), ct(5, 400), ct(5, 1000)];
        let best = r.reading().unwrap().best_sample().unwrap();
        // sys midpoint 5.000000500 − phc 5.000000400 = +100 ns (system ahead)
        assert_eq!(best.offset, Duration::from_nanos(100));
        let p = SysOffsetPrecise {
            device: ct(7, 10),
            sys_realtime: ct(7, 0),
            ..SysOffsetPrecise::request()
        };
        let best = p.reading().unwrap().best_sample().unwrap();
        assert_eq!(best.offset, Duration::from_nanos(-10));
        assert_eq!(best.delay, Duration::ZERO);
    }

    #[test]
    fn broken_answers_are_rejected() {
        let mut r = SysOffsetExtended::request(1);
        r.ts[0] = [ct(-1, 0), ct(5, 0), ct(5, 0)];
        assert_eq!(r.reading(), Err(BadReading));
        r.ts[0] = [ct(5, 1_000_000_000), ct(5, 0), ct(5, 0)];
        assert_eq!(r.reading(), Err(BadReading));
        r.n_samples = 26;
        assert_eq!(r.reading(), Err(BadReading));
        let mut b = SysOffset::request(1);
        b.n_samples = 0;
        assert_eq!(b.reading(), Err(BadReading));
    }
}

//! Pure builders for `struct timex` (`clock_adjtime(2)`): what keel writes to
//! the kernel, built and unit-tested without touching a clock.
//!
//! Units (linuxptp-chrony.md §6): `freq` is ppm × 2¹⁶ within ±500 ppm; `tick`
//! is µs per `USER_HZ` tick (nominal 10 000, ±10 %); steps are
//! `ADJ_SETOFFSET | ADJ_NANO` with `time.tv_usec` holding nanoseconds in
//! `0..1e9` (a negative step is a negative `tv_sec` plus a non-negative ns
//! field); `maxerror` and `esterror` are µs, and `maxerror` ≥ 16 s means
//! unsynchronised (`NTP_PHASE_LIMIT`).

pub use keel_core::engine::{KernelStatus, LeapBits};
use keel_core::time::{Duration, KernelFreq, Ppb, ScaledPpm};

/// Leap-second bits keel preserves when it rewrites `status`.
const LEAP_BITS: i32 = libc::STA_INS | libc::STA_DEL;

/// An all-zero `timex` (modes 0 reads without writing).
pub fn zeroed() -> libc::timex {
    // SAFETY: `timex` is a plain C struct of integers (and padding); all-zero
    // bytes are a valid value of every field.
    unsafe { core::mem::zeroed() }
}

/// Read-only query: `modes = 0` writes nothing.
pub fn query() -> libc::timex {
    zeroed()
}

/// Sets the frequency correction: `ADJ_FREQUENCY | ADJ_TICK` with the
/// tick/freq split of [`KernelFreq`] (positive = the clock runs faster).
pub fn frequency(k: KernelFreq) -> libc::timex {
    let mut t = zeroed();
    t.modes = libc::ADJ_FREQUENCY | libc::ADJ_TICK;
    t.freq = clong(k.freq.0);
    t.tick = clong(k.tick_us);
    t
}

/// The dynamic POSIX clock id of an open `/dev/ptpN` (the kernel's
/// `FD_TO_CLOCKID(fd)`: `(~fd << 3) | CLOCKFD`, `CLOCKFD` = 3). Negative, so
/// it never names a static clock.
pub const fn fd_to_clockid(fd: i32) -> libc::clockid_t {
    ((!fd) << 3) | 3
}

/// The kernel's `scaled_ppm_to_ppb()` (`drivers/ptp`): `((1 + s) × 125) >> 13`,
/// the value it checks against `max_adj` before `adjfine` (`ERANGE` beyond).
pub const fn kernel_scaled_ppm_to_ppb(s: i64) -> i64 {
    (s.saturating_add(1).saturating_mul(125)) >> 13
}

/// A PHC's frequency write: `ADJ_FREQUENCY` only, `freq` in scaled ppm.
///
/// A PHC has no tick (`ptp_clock_adjtime` ignores `ADJ_TICK`), no
/// `maxerror`/`esterror`/`status`/leap bits (only `CLOCK_REALTIME` has them),
/// and its driver's `max_adj` (ppb, from `PTP_CLOCK_GETCAPS`) is its range:
/// `ppb` is clamped to ±`max_adj`, then rounded to scaled ppm and pulled back
/// towards zero until it is within ±`max_adj` exactly (which the kernel's own
/// check then accepts). Returns the `timex`
/// and the frequency it sets, ppb (exact).
pub fn phc_frequency(ppb: Ppb, max_adj_ppb: i64) -> (libc::timex, Ppb) {
    let max = max_adj_ppb.max(0);
    let clamped = ppb.clamp_abs(Ppb::from_ppb(max));
    let mut s = clamped.to_scaled_ppm().0;
    // Rounding to scaled ppm may cross ±max_adj by a fraction of a ppb: pull
    // back (at most a unit or two) until both the exact value and the
    // kernel's check are within range.
    let (hi, lo) = (Ppb::from_ppb(max), Ppb::from_ppb(-max));
    while s > 0 && (ScaledPpm(s).to_ppb() > hi || kernel_scaled_ppm_to_ppb(s) > max) {
        s -= 1;
    }
    while s < 0 && (ScaledPpm(s).to_ppb() < lo || kernel_scaled_ppm_to_ppb(s) < -max) {
        s += 1;
    }
    let mut t = zeroed();
    t.modes = libc::ADJ_FREQUENCY;
    t.freq = clong(s);
    (t, ScaledPpm(s).to_ppb())
}

/// The frequency of a PHC read back with `modes = 0`: the kernel answers its
/// `dialed_frequency`, the last `ADJ_FREQUENCY` any process wrote (scaled ppm).
#[allow(
    clippy::useless_conversion,
    reason = "c_long is i64 on 64-bit Linux but i32 on 32-bit targets"
)]
pub fn phc_freq(t: &libc::timex) -> Ppb {
    ScaledPpm(i64::from(t.freq)).to_ppb()
}

/// Steps the clock by `delta` (added to it): `ADJ_SETOFFSET | ADJ_NANO`,
/// `time.tv_sec = floor(delta / 1 s)`, `time.tv_usec` = the remaining
/// nanoseconds in `0..1_000_000_000` (the kernel rejects a negative field).
pub fn step(delta: Duration) -> libc::timex {
    let ns = delta.as_nanos();
    let mut t = zeroed();
    t.modes = libc::ADJ_SETOFFSET | libc::ADJ_NANO;
    // 32-bit fields on 32-bit targets: a step beyond 2³¹ s saturates
    // (and the kernel refuses it), never wraps.
    #[allow(
        clippy::useless_conversion,
        clippy::unnecessary_fallible_conversions,
        reason = "i32 on 32-bit targets"
    )]
    {
        let secs = ns.div_euclid(1_000_000_000);
        t.time.tv_sec = libc::time_t::try_from(secs).unwrap_or(if secs < 0 {
            libc::time_t::MIN
        } else {
            libc::time_t::MAX
        });
        t.time.tv_usec = libc::suseconds_t::try_from(ns.rem_euclid(1_000_000_000)).unwrap_or(0);
    }
    t
}

/// Writes `maxerror`, `esterror` and `status`
/// (`ADJ_MAXERROR | ADJ_ESTERROR | ADJ_STATUS`), plus `ADJ_TAI` when the TAI
/// offset is known. `status` carries the leap bits keel decided (or those of
/// `current_status` when it has no leap information); keel does not use the
/// kernel PLL, so `STA_PLL`, `STA_FLL` and the PPS bits are cleared, and
/// `STA_UNSYNC` is set when the bound is not trustworthy.
pub fn status(s: KernelStatus, current_status: i32) -> libc::timex {
    let mut t = zeroed();
    t.modes = libc::ADJ_MAXERROR | libc::ADJ_ESTERROR | libc::ADJ_STATUS;
    t.maxerror = clong(s.maxerror_us);
    t.esterror = clong(s.esterror_us);
    let leap = match s.leap {
        LeapBits::Keep => current_status & LEAP_BITS,
        LeapBits::None => 0,
        LeapBits::Insert => libc::STA_INS,
        LeapBits::Delete => libc::STA_DEL,
    };
    t.status = leap | if s.unsync { libc::STA_UNSYNC } else { 0 };
    if let Some(tai) = s.tai_offset {
        t.modes |= libc::ADJ_TAI;
        t.constant = clong(i64::from(tai));
    }
    t
}

/// The frequency and the status in one write: [`status`] plus
/// `ADJ_FREQUENCY | ADJ_TICK` with [`frequency`]'s fields (one
/// `clock_adjtime` per steady update instead of two).
pub fn frequency_and_status(k: KernelFreq, s: KernelStatus, current_status: i32) -> libc::timex {
    let mut t = status(s, current_status);
    let f = frequency(k);
    t.modes |= f.modes;
    t.freq = f.freq;
    t.tick = f.tick;
    t
}

/// The kernel frequency in a `timex` read back from the kernel.
#[allow(
    clippy::useless_conversion,
    reason = "c_long is i64 on 64-bit Linux but i32 on 32-bit targets"
)]
pub fn kernel_freq(t: &libc::timex) -> KernelFreq {
    KernelFreq {
        tick_us: i64::from(t.tick),
        freq: keel_core::time::ScaledPpm(i64::from(t.freq)),
    }
}

/// Does a `timex` carry any mode that writes? (The dry-run guard.)
pub fn writes(t: &libc::timex) -> bool {
    t.modes != 0
}

#[allow(
    clippy::useless_conversion,
    reason = "c_long is i64 on 64-bit Linux but i32 on 32-bit targets"
)]
fn clong(v: i64) -> libc::c_long {
    libc::c_long::try_from(v).unwrap_or(if v < 0 {
        libc::c_long::MIN
    } else {
        libc::c_long::MAX
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_core::time::{Ppb, ScaledPpm};

    #[test]
    fn frequency_sets_tick_and_freq() {
        // +40 ppm fits in freq alone: 40 × 65536.
        let t = frequency(KernelFreq::from_ppb(Ppb::from_ppb(40_000), 100));
        assert_eq!(t.modes, libc::ADJ_FREQUENCY | libc::ADJ_TICK);
        assert_eq!(t.tick, 10_000);
        assert_eq!(t.freq, 40 * 65_536);
        // +50 ppm is half a tick unit: rounds to one tick (+100 ppm) and −50 ppm.
        let t = frequency(KernelFreq::from_ppb(Ppb::from_ppb(50_000), 100));
        assert_eq!((t.tick, t.freq), (10_001, -50 * 65_536));
        // +1234 ppm: 12 ticks (1200 ppm) + 34 ppm.
        let t = frequency(KernelFreq::from_ppb(Ppb::from_ppb(1_234_000), 100));
        assert_eq!(t.tick, 10_012);
        assert_eq!(t.freq, 34 * 65_536);
        // −1234 ppm: signs carry into both.
        let t = frequency(KernelFreq::from_ppb(Ppb::from_ppb(-1_234_000), 100));
        assert_eq!(t.tick, 9_988);
        assert_eq!(t.freq, -34 * 65_536);
        // beyond 10 % the tick clamps at ±1000 µs.
        let t = frequency(KernelFreq::from_ppb(Ppb::from_ppb(900_000_000), 100));
        assert_eq!(t.tick, 11_000);
        assert!(t.freq <= 500 << 16);
    }

    #[test]
    fn step_has_non_negative_nanoseconds() {
        let t = step(Duration::from_nanos(1_500_000_000));
        assert_eq!(t.modes, libc::ADJ_SETOFFSET | libc::ADJ_NANO);
        assert_eq!((t.time.tv_sec, t.time.tv_usec), (1, 500_000_000));
        let t = step(Duration::from_nanos(-1));
        assert_eq!((t.time.tv_sec, t.time.tv_usec), (-1, 999_999_999));
        let t = step(Duration::from_nanos(-1_500_000_000));
        assert_eq!((t.time.tv_sec, t.time.tv_usec), (-2, 500_000_000));
        let t = step(Duration::ZERO);
        assert_eq!((t.time.tv_sec, t.time.tv_usec), (0, 0));
        let t = step(Duration::MIN);
        assert!(t.time.tv_usec >= 0 && t.time.tv_usec < 1_000_000_000);
        let t = step(Duration::MAX);
        assert!(t.time.tv_usec >= 0 && t.time.tv_usec < 1_000_000_000);
    }

    #[test]
    fn status_from_bound() {
        let s = KernelStatus::from_bound(Some(Duration::from_nanos(1_001)), 5);
        assert_eq!(
            s,
            KernelStatus {
                maxerror_us: 2,
                esterror_us: 1,
                unsync: false,
                leap: LeapBits::Keep,
                tai_offset: None,
            }
        );
        let s = KernelStatus::from_bound(Some(Duration::from_micros(500)), 5);
        assert_eq!((s.maxerror_us, s.esterror_us), (500, 100));
        for b in [None, Some(Duration::from_secs(16)), Some(Duration::MAX)] {
            let s = KernelStatus::from_bound(b, 5);
            assert!(s.unsync);
            assert_eq!(s.maxerror_us, KernelStatus::MAXERROR_LIMIT_US);
        }
        let t = status(
            KernelStatus::from_bound(None, 5),
            libc::STA_PLL | libc::STA_INS | libc::STA_NANO,
        );
        assert_eq!(
            t.modes,
            libc::ADJ_MAXERROR | libc::ADJ_ESTERROR | libc::ADJ_STATUS
        );
        assert_eq!(t.status, libc::STA_INS | libc::STA_UNSYNC);
        assert_eq!(t.maxerror, 16_000_000);
        let t = status(
            KernelStatus::from_bound(Some(Duration::from_nanos(300)), 5),
            libc::STA_UNSYNC,
        );
        assert_eq!(t.status, 0);
        assert_eq!((t.maxerror, t.esterror), (1, 1));
    }

    #[test]
    fn status_with_leap_information() {
        let base = KernelStatus::from_bound(Some(Duration::from_nanos(300)), 5);
        let t = status(
            KernelStatus {
                leap: LeapBits::Insert,
                tai_offset: Some(37),
                ..base
            },
            libc::STA_DEL,
        );
        assert_eq!(t.status, libc::STA_INS);
        assert_eq!(t.modes & libc::ADJ_TAI, libc::ADJ_TAI);
        assert_eq!(t.constant, 37);
        let t = status(
            KernelStatus {
                leap: LeapBits::Delete,
                ..base
            },
            libc::STA_INS,
        );
        assert_eq!(t.status, libc::STA_DEL);
        assert_eq!(t.modes & libc::ADJ_TAI, 0);
        let t = status(
            KernelStatus {
                leap: LeapBits::None,
                ..base
            },
            libc::STA_INS | libc::STA_DEL,
        );
        assert_eq!(t.status, 0);
    }

    #[test]
    fn clockid_of_a_phc_fd() {
        // FD_TO_CLOCKID / CLOCKID_TO_FD of <linux/posix-timers.h> (phc2sys's
        // clockid_from_fd): fd 3 is −29, fd 0 is −5.
        assert_eq!(fd_to_clockid(3), -29);
        assert_eq!(fd_to_clockid(0), -5);
        for fd in [0, 1, 3, 17, 1023, 65_535, 1 << 20] {
            let id = fd_to_clockid(fd);
            assert!(id < 0, "dynamic clock ids are negative");
            assert_eq!(id & 7, 3, "CLOCKFD in the low bits");
            assert_eq!(!(id >> 3), fd, "CLOCKID_TO_FD inverts it");
            assert_ne!(id, libc::CLOCK_REALTIME);
        }
    }

    #[test]
    fn phc_frequency_is_scaled_ppm_only_and_clamped() {
        // +40 ppm: 40 × 65536 scaled ppm, ADJ_FREQUENCY alone.
        let (t, applied) = phc_frequency(Ppb::from_ppb(40_000), 500_000);
        assert_eq!(t.modes, libc::ADJ_FREQUENCY);
        assert_eq!(t.freq, 40 * 65_536);
        assert_eq!(applied, Ppb::from_ppb(40_000));
        // No tick (a PHC has none), nothing of CLOCK_REALTIME's status.
        assert_eq!(t.tick, 0);
        assert_eq!((t.maxerror, t.esterror, t.status, t.constant), (0, 0, 0, 0));
        assert_eq!(
            t.modes
                & (libc::ADJ_TICK
                    | libc::ADJ_STATUS
                    | libc::ADJ_MAXERROR
                    | libc::ADJ_ESTERROR
                    | libc::ADJ_TAI
                    | libc::ADJ_SETOFFSET
                    | libc::ADJ_OFFSET),
            0
        );
        // Beyond 500 ppm still goes through freq (no tick), up to max_adj.
        let (t, applied) = phc_frequency(Ppb::from_ppb(900_000), 1_000_000);
        assert_eq!((t.tick, t.freq), (0, 900 * 65_536));
        assert_eq!(applied, Ppb::from_ppb(900_000));
        // Clamped to ±max_adj, never beyond what the kernel accepts.
        for (want, max) in [
            (2_000_000, 62_499_999),
            (-300_000_000, 62_499_999),
            (1_000, 1),
            (-1_000, 1),
            (5, 0),
            (i64::from(i32::MAX), 999_999_999),
        ] {
            let (t, applied) = phc_frequency(Ppb::from_ppb(want), max);
            #[allow(clippy::useless_conversion, reason = "c_long")]
            let s = i64::from(t.freq);
            let k = kernel_scaled_ppm_to_ppb(s);
            assert!(k.abs() <= max, "{want} ppb, max_adj {max}: kernel sees {k}");
            assert!(
                ppb_abs_le(applied, max) && applied == ScaledPpm(s).to_ppb(),
                "{want}: applied {applied}"
            );
            assert_eq!(t.modes, libc::ADJ_FREQUENCY);
        }
        let (_, applied) = phc_frequency(Ppb::from_ppb(-300_000_000), 62_499_999);
        assert!(applied < Ppb::from_ppb(-62_499_000), "{applied}");
        // Read back as the kernel reports it (dialed_frequency).
        let (t, applied) = phc_frequency(Ppb::from_ppb(-12_345), 500_000);
        assert_eq!(phc_freq(&t), applied);
    }

    fn ppb_abs_le(p: Ppb, max: i64) -> bool {
        p <= Ppb::from_ppb(max) && p >= Ppb::from_ppb(-max)
    }

    #[test]
    fn query_writes_nothing_and_reads_back() {
        let mut t = query();
        assert!(!writes(&t));
        assert!(writes(&frequency(KernelFreq::from_ppb(Ppb::ZERO, 100))));
        t.tick = 10_001;
        t.freq = 65_536;
        assert_eq!(
            kernel_freq(&t),
            KernelFreq {
                tick_us: 10_001,
                freq: ScaledPpm(65_536)
            }
        );
    }

    #[test]
    fn frequency_and_status_in_one_write() {
        let k = KernelFreq::from_ppb(Ppb::from_ppb(-50_000), KernelFreq::USER_HZ);
        let s = KernelStatus::from_bound(Some(Duration::from_nanos(300)), 5);
        let one = frequency_and_status(k, s, libc::STA_INS);
        let (f, st) = (frequency(k), status(s, libc::STA_INS));
        assert_eq!(one.modes, f.modes | st.modes);
        assert_eq!((one.freq, one.tick), (f.freq, f.tick));
        assert_eq!(
            (one.maxerror, one.esterror, one.status),
            (st.maxerror, st.esterror, st.status)
        );
    }
}

//! `<linux/pps.h>`: the RFC 2783 PPS API on `/dev/ppsN` (`PPS_GETCAP`,
//! `PPS_GETPARAMS`, `PPS_SETPARAMS`, `PPS_FETCH` with a timeout), and the
//! devices `/sys/class/pps` lists.
//!
//! The request numbers are `_IOR('p', 0xa1, struct pps_kparams *)` and the
//! like: the kernel header encodes the size of a *pointer*, not of the
//! struct, so the numbers differ between 32-bit and 64-bit builds
//! (`PPS_FETCH` is `0xc00470a4` on i686 and armv7, `0xc00870a4` on
//! `x86_64`). The structs themselves differ too: `pps_kinfo` holds 64-bit
//! seconds, 4-byte aligned on i686 (44 bytes) and 8-byte aligned on `x86_64`
//! and armv7 (48). Both are checked at compile time for each target
//! (`cargo check --target i686-unknown-linux-gnu`, `armv7-unknown-linux-gnueabihf`).

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use keel_core::time::Timestamp;

/// `struct pps_ktime`: seconds, nanoseconds, flags (`PPS_TIME_INVALID`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct PpsKtime {
    /// Seconds since 1970.
    pub sec: i64,
    /// Nanoseconds, `0..1e9`.
    pub nsec: i32,
    /// `PPS_TIME_INVALID` (1) when no event was captured.
    pub flags: u32,
}

/// `struct pps_kinfo`: the last assert and clear events and their counts.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct PpsKinfo {
    /// Assert events so far.
    pub assert_sequence: u32,
    /// Clear events so far.
    pub clear_sequence: u32,
    /// The last assert event's time (`CLOCK_REALTIME`).
    pub assert_tu: PpsKtime,
    /// The last clear event's time.
    pub clear_tu: PpsKtime,
    /// The mode in force.
    pub current_mode: i32,
}

/// `struct pps_fdata`: [`PpsKinfo`] out, a timeout in.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct PpsFdata {
    /// The answer.
    pub info: PpsKinfo,
    /// How long `PPS_FETCH` waits for an event (`flags` 0: wait; 1,
    /// `PPS_TIME_INVALID`: for ever).
    pub timeout: PpsKtime,
}

/// `struct pps_kparams`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct PpsKparams {
    /// `PPS_API_VERS_1`.
    pub api_version: i32,
    /// `PPS_CAPTUREASSERT` and the like.
    pub mode: i32,
    /// The assert offset the kernel adds.
    pub assert_off_tu: PpsKtime,
    /// The clear offset.
    pub clear_off_tu: PpsKtime,
}

/// `PPS_GETPARAMS`: `_IOR('p', 0xa1, struct pps_kparams *)`.
pub const PPS_GETPARAMS: libc::Ioctl = libc::_IOR::<*mut PpsKparams>(b'p' as u32, 0xa1);
/// `PPS_SETPARAMS`: `_IOW('p', 0xa2, struct pps_kparams *)`.
pub const PPS_SETPARAMS: libc::Ioctl = libc::_IOW::<*mut PpsKparams>(b'p' as u32, 0xa2);
/// `PPS_GETCAP`: `_IOR('p', 0xa3, int *)`.
pub const PPS_GETCAP: libc::Ioctl = libc::_IOR::<*mut libc::c_int>(b'p' as u32, 0xa3);
/// `PPS_FETCH`: `_IOWR('p', 0xa4, struct pps_fdata *)`.
pub const PPS_FETCH: libc::Ioctl = libc::_IOWR::<*mut PpsFdata>(b'p' as u32, 0xa4);

/// `PPS_CAPTUREASSERT`.
pub const CAPTURE_ASSERT: i32 = 0x01;
/// `PPS_CAPTURECLEAR`.
pub const CAPTURE_CLEAR: i32 = 0x02;
/// `PPS_CANWAIT`: `PPS_FETCH` can wait with a timeout.
pub const CAN_WAIT: i32 = 0x100;
/// `PPS_TSFMT_TSPEC`: timestamps as `struct timespec`.
pub const TSFMT_TSPEC: i32 = 0x1000;
/// `PPS_API_VERS_1`.
pub const API_VERS_1: i32 = 1;
/// `PPS_TIME_INVALID`.
pub const TIME_INVALID: u32 = 1;

// The layouts the kernel expects, per target (the request numbers encode a
// pointer's size, so they follow the pointer width).
const _: () = assert!(size_of::<PpsKtime>() == 16);
#[cfg(target_arch = "x86")]
const _: () = assert!(size_of::<PpsKinfo>() == 44 && size_of::<PpsFdata>() == 60);
#[cfg(not(target_arch = "x86"))]
const _: () = assert!(size_of::<PpsKinfo>() == 48 && size_of::<PpsFdata>() == 64);
const _: () = assert!(size_of::<PpsKparams>() == 40);
#[cfg(all(
    target_pointer_width = "64",
    not(any(
        target_arch = "powerpc64",
        target_arch = "mips64",
        target_arch = "sparc64"
    ))
))]
const _: () = assert!(bits(PPS_FETCH) == 0xc008_70a4 && bits(PPS_GETCAP) == 0x8008_70a3);
#[cfg(all(
    target_pointer_width = "32",
    not(any(target_arch = "powerpc", target_arch = "mips", target_arch = "sparc"))
))]
const _: () = assert!(bits(PPS_FETCH) == 0xc004_70a4 && bits(PPS_GETCAP) == 0x8004_70a3);

/// A request number's 32 bits (`Ioctl` is `c_ulong` on glibc, `c_int` on
/// musl).
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "request numbers are 32-bit"
)]
const fn bits(r: libc::Ioctl) -> u32 {
    r as u32
}

/// One `PPS_FETCH` answer: the last edges and how many there were.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PpsEvents {
    /// Assert edges so far, and the last one's `CLOCK_REALTIME` time.
    pub assert: (u32, Option<Timestamp>),
    /// Clear edges so far, and the last one's time.
    pub clear: (u32, Option<Timestamp>),
}

fn ktime(t: &PpsKtime) -> Option<Timestamp> {
    if t.flags & TIME_INVALID != 0 {
        return None;
    }
    let sec = u64::try_from(t.sec).ok()?;
    let nsec = u32::try_from(t.nsec).ok().filter(|&n| n < 1_000_000_000)?;
    (sec > 0 || nsec > 0).then(|| Timestamp::from_secs_nanos(sec, nsec))
}

/// An open `/dev/ppsN`.
pub struct PpsDevice {
    file: File,
    path: PathBuf,
    caps: i32,
}

impl PpsDevice {
    /// Opens `path` and asks its capabilities.
    ///
    /// # Errors
    /// Not there, not permitted, or not a PPS device, saying which.
    pub fn open(path: &Path) -> Result<Self, String> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .or_else(|_| File::open(path))
            .map_err(|e| {
                format!(
                    "{}: cannot open the PPS device: {e}{}",
                    path.display(),
                    if e.kind() == io::ErrorKind::PermissionDenied {
                        " (run as root, or give keel's user access to it)"
                    } else {
                        " (`keel phc` lists the PPS devices)"
                    }
                )
            })?;
        let mut caps: libc::c_int = 0;
        // SAFETY: PPS_GETCAP writes one int through the pointer.
        if unsafe { libc::ioctl(file.as_raw_fd(), PPS_GETCAP, &raw mut caps) } != 0 {
            let e = io::Error::last_os_error();
            return Err(format!(
                "{}: not a PPS device (PPS_GETCAP: {e}); `keel phc` lists the PPS devices",
                path.display()
            ));
        }
        Ok(Self {
            file,
            path: path.to_path_buf(),
            caps,
        })
    }

    /// `PPS_GETCAP`'s mode bits.
    pub const fn caps(&self) -> i32 {
        self.caps
    }

    /// Asks for timestamps of the assert edge (and the clear edge, with
    /// `clear`) as `timespec`s.
    ///
    /// # Errors
    /// The device does not capture that edge, or the kernel refused
    /// (`EPERM` needs write access to the device).
    pub fn capture(&self, clear: bool) -> Result<(), String> {
        let want = CAPTURE_ASSERT | if clear { CAPTURE_CLEAR } else { 0 };
        if self.caps & want != want {
            return Err(format!(
                "{}: the device cannot capture the {} edge (capabilities {:#x})",
                self.path.display(),
                if clear { "clear" } else { "assert" },
                self.caps
            ));
        }
        let mut p = PpsKparams::default();
        // SAFETY: PPS_GETPARAMS writes one pps_kparams.
        if unsafe { libc::ioctl(self.file.as_raw_fd(), PPS_GETPARAMS, &raw mut p) } != 0 {
            return Err(format!(
                "{}: PPS_GETPARAMS: {}",
                self.path.display(),
                io::Error::last_os_error()
            ));
        }
        p.api_version = API_VERS_1;
        p.mode = (p.mode & !(CAPTURE_ASSERT | CAPTURE_CLEAR)) | want | TSFMT_TSPEC;
        // SAFETY: PPS_SETPARAMS reads one pps_kparams.
        if unsafe { libc::ioctl(self.file.as_raw_fd(), PPS_SETPARAMS, &raw mut p) } != 0 {
            let e = io::Error::last_os_error();
            return Err(format!(
                "{}: PPS_SETPARAMS: {e}{}",
                self.path.display(),
                if e.raw_os_error() == Some(libc::EPERM) {
                    " (setting the edges needs write access to the device)"
                } else {
                    ""
                }
            ));
        }
        Ok(())
    }

    /// The last edges, waiting up to `timeout_ns` for a new one when the
    /// device can wait (0: at once).
    ///
    /// # Errors
    /// The kernel's error (`ETIMEDOUT` when no edge came in time).
    pub fn fetch(&self, timeout_ns: u64) -> io::Result<PpsEvents> {
        let mut f = PpsFdata::default();
        f.timeout.sec = i64::try_from(timeout_ns / 1_000_000_000).unwrap_or(i64::MAX);
        f.timeout.nsec = i32::try_from(timeout_ns % 1_000_000_000).unwrap_or(0);
        // SAFETY: PPS_FETCH reads and writes one pps_fdata.
        if unsafe { libc::ioctl(self.file.as_raw_fd(), PPS_FETCH, &raw mut f) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(PpsEvents {
            assert: (f.info.assert_sequence, ktime(&f.info.assert_tu)),
            clear: (f.info.clear_sequence, ktime(&f.info.clear_tu)),
        })
    }
}

/// One entry of `/sys/class/pps`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PpsInfo {
    /// `/dev/ppsN`.
    pub dev: PathBuf,
    /// The driver's name (`pps-gpio`, `ptp0`, `ktimer`, …).
    pub name: String,
    /// Where the pulse comes from (a serial port, a PHC), when said.
    pub path: String,
    /// The last assert edge as the kernel shows it (`sec.nsec#seq`).
    pub assert: String,
}

/// The PPS devices, from `/sys/class/pps` (sorted by number).
pub fn list() -> Vec<PpsInfo> {
    let mut v: Vec<PpsInfo> = std::fs::read_dir("/sys/class/pps")
        .map(|d| {
            d.flatten()
                .map(|e| {
                    let read = |f: &str| {
                        std::fs::read_to_string(e.path().join(f))
                            .map(|s| s.trim().to_string())
                            .unwrap_or_default()
                    };
                    PpsInfo {
                        dev: Path::new("/dev").join(e.file_name()),
                        name: read("name"),
                        path: read("path"),
                        assert: read("assert"),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort_by_key(|p| {
        p.dev
            .to_string_lossy()
            .trim_start_matches("/dev/pps")
            .parse::<u32>()
            .unwrap_or(u32::MAX)
    });
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn request_numbers_match_the_kernel_header_on_x86_64() {
        // As a C program on x86_64 prints them (8-byte pointers).
        assert_eq!(bits(PPS_GETPARAMS), 0x8008_70a1);
        assert_eq!(bits(PPS_SETPARAMS), 0x4008_70a2);
        assert_eq!(bits(PPS_GETCAP), 0x8008_70a3);
        assert_eq!(bits(PPS_FETCH), 0xc008_70a4);
    }

    #[test]
    fn an_invalid_or_empty_time_is_no_edge() {
        assert_eq!(ktime(&PpsKtime::default()), None);
        assert_eq!(
            ktime(&PpsKtime {
                sec: 5,
                nsec: 1,
                flags: TIME_INVALID
            }),
            None
        );
        assert_eq!(
            ktime(&PpsKtime {
                sec: 5,
                nsec: 1_000_000_000,
                flags: 0
            }),
            None
        );
        assert_eq!(
            ktime(&PpsKtime {
                sec: 1_700_000_000,
                nsec: 250,
                flags: 0
            }),
            Some(Timestamp::from_secs_nanos(1_700_000_000, 250))
        );
    }

    #[test]
    fn a_file_that_is_not_a_pps_device_is_named() {
        let e = PpsDevice::open(Path::new("/dev/null")).err().unwrap();
        assert!(
            e.starts_with("/dev/null: not a PPS device (PPS_GETCAP:"),
            "{e}"
        );
        let e = PpsDevice::open(Path::new("/dev/pps-keel-none"))
            .err()
            .unwrap();
        assert!(e.contains("cannot open the PPS device"), "{e}");
    }
}

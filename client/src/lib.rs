//! keel's time for applications: read the page `keel sync` publishes
//! (`/run/keel/time`, layout [`keel_core::page`]) and get a TrueTime-style
//! interval `[earliest, latest]` that contains true time, with a status.
//!
//! ```no_run
//! let clock = keel_client::Clock::open(keel_client::DEFAULT_PATH)?;
//! let now = clock.now()?;
//! if now.status == keel_client::Status::Synchronized {
//!     println!("true time is within [{}, {}] ns", now.earliest_ns, now.latest_ns);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A read copies the page under its seqlock (it never waits for the
//! daemon), reads `CLOCK_MONOTONIC_COARSE` and `CLOCK_REALTIME` (vDSO, no
//! syscall) and grows the page's bound by its growth rate since the
//! snapshot ([`Snapshot::interval_at_coarse`]). A `CLOCK_REALTIME` stepped
//! back before the snapshot reads as [`ReadError::CausalityBreach`]. A dead daemon shows as [`Status::Unknown`] once the snapshot
//! is void (`time_page_void_after`, 10 s by default); with the vmclock
//! device mapped ([`Clock::with_vmclock`]), a live migration shows as
//! [`Status::Disrupted`] at the very next read.
//!
//! The page file is mapped read-only; the daemon rewrites it in place
//! (same file, never shorter), so a reader opened once stays valid across
//! daemon restarts. If the file is deleted and created anew, readers of
//! the old one see their snapshot go void: open it again.
//!
//! The C library's `keel_clock_*` functions are this crate.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

pub use keel_core::engine::ServedStatus as Status;
use keel_core::page::{self, Words};
pub use keel_core::page::{Interval, ReadError, Snapshot};

/// Where `keel sync` publishes its page by default.
pub const DEFAULT_PATH: &str = "/run/keel/time";

/// Why a page or a vmclock device could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// Opening, examining or mapping the file failed.
    Io(io::Error),
    /// The file is shorter than a page, or not a keel page of layout
    /// version 1 (magic, version).
    NotAPage,
    /// The vmclock device's page is too short or its magic is not "VCLK".
    NotAVmclock,
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Io(e) => e.fmt(f),
            Self::NotAPage => f.write_str("not a keel time page of layout version 1"),
            Self::NotAVmclock => f.write_str("not a vmclock device (no \"VCLK\" page)"),
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for OpenError {
    fn from(e: io::Error) -> Self {
        Self::Io(e)
    }
}

/// A read-only shared mapping of the start of a file.
#[derive(Debug)]
struct Map {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is only read, through atomics, and is valid until
// `drop`, which needs ownership: sharing or sending it between threads is
// as safe as sharing a `&[AtomicU64]`.
unsafe impl Send for Map {}
// SAFETY: as above.
unsafe impl Sync for Map {}

impl Map {
    /// Maps `len` bytes of `file` read-only; a regular file must hold them
    /// all (a character device, such as `/dev/vmclock0`, is taken as it
    /// is).
    fn new(file: &File, len: usize) -> Result<Self, OpenError> {
        let meta = file.metadata()?;
        if meta.is_file() && meta.len() < u64::try_from(len).unwrap_or(u64::MAX) {
            // Touching a mapping past the end of the file is SIGBUS.
            return Err(OpenError::NotAPage);
        }
        // SAFETY: a fresh read-only shared mapping of a file we hold open;
        // the result is checked. The file's contents may change under it
        // (that is the point): it is only read through atomics.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error().into());
        }
        let ptr = NonNull::new(p.cast::<u8>()).ok_or(OpenError::NotAPage)?;
        Ok(Self { ptr, len })
    }

    /// The atomic at byte offset `off`.
    #[inline]
    fn at<T>(&self, off: usize) -> &T {
        assert!(off + size_of::<T>() <= self.len && off % align_of::<T>() == 0);
        // SAFETY: in bounds and aligned (asserted; mappings are page
        // aligned), valid while `self` lives, which bounds the borrow. `T`
        // is an atomic integer (or an array of them), valid for any bits;
        // loads of atomics no wider than the target's native ones are
        // allowed on read-only memory.
        unsafe { &*self.ptr.as_ptr().add(off).cast::<T>() }
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly what `new` mapped; no borrow outlives self.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

fn open_file(path: &Path) -> Result<File, OpenError> {
    // A path with a NUL byte cannot name a file.
    if CString::new(path.as_os_str().as_bytes()).is_err() {
        return Err(io::Error::from(io::ErrorKind::InvalidInput).into());
    }
    Ok(File::open(path)?)
}

/// Where the vmclock page keeps its disruption marker (`vmclock-abi.h`).
const VMCLOCK_MARKER: usize = 0x10;

/// An open time page, and optionally the vmclock device.
#[derive(Debug)]
pub struct Clock {
    page: Map,
    vmclock: Option<Map>,
}

impl Clock {
    /// Maps keel's time page at `path` read-only ([`DEFAULT_PATH`] is
    /// where `keel sync` puts it).
    ///
    /// # Errors
    /// [`OpenError::Io`] (no such file, no permission: the page is mode
    /// 0640, readable by its group), [`OpenError::NotAPage`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, OpenError> {
        let file = open_file(path.as_ref())?;
        let page = Map::new(&file, page::BYTES)?;
        let c = Self {
            page,
            vmclock: None,
        };
        // A wrong file fails here; a page not written yet opens (and reads
        // as `ReadError::NotWritten` until the daemon's first update).
        match page::read(c.words()) {
            Err(ReadError::NotAPage) => Err(OpenError::NotAPage),
            _ => Ok(c),
        }
    }

    /// Also maps the vmclock device (`/dev/vmclock0`): every read then
    /// compares its disruption marker with the page's, so a migration
    /// turns the status to [`Status::Disrupted`] before the daemon's next
    /// update.
    ///
    /// # Errors
    /// [`OpenError::Io`], [`OpenError::NotAVmclock`].
    pub fn with_vmclock(mut self, path: impl AsRef<Path>) -> Result<Self, OpenError> {
        let file = open_file(path.as_ref())?;
        let map = Map::new(&file, keel_core::wire::vmclock::BASE_LEN).map_err(|e| match e {
            OpenError::NotAPage => OpenError::NotAVmclock,
            e => e,
        })?;
        let magic = map.at::<AtomicU32>(0).load(Ordering::Relaxed);
        if u32::from_le(magic) != keel_core::wire::vmclock::MAGIC {
            return Err(OpenError::NotAVmclock);
        }
        self.vmclock = Some(map);
        Ok(self)
    }

    #[inline]
    fn words(&self) -> &Words {
        self.page.at::<Words>(0)
    }

    /// The vmclock device's disruption marker now, if it is mapped.
    #[inline]
    pub fn vmclock_marker(&self) -> Option<u64> {
        self.vmclock.as_ref().map(|m| {
            // One aligned 64-bit load: the marker as it is, old or new.
            u64::from_le(m.at::<AtomicU64>(VMCLOCK_MARKER).load(Ordering::Acquire))
        })
    }

    /// A consistent copy of the page (never blocks on the daemon).
    ///
    /// # Errors
    /// [`ReadError::NotAPage`], [`ReadError::NotWritten`],
    /// [`ReadError::Busy`].
    pub fn snapshot(&self) -> Result<Snapshot, ReadError> {
        page::read(self.words())
    }

    /// The interval that contains true time now, and the status: `[real −
    /// bound, real + bound]` ns since 1970 (UTC as `CLOCK_REALTIME`), the
    /// bound grown since the snapshot. Trust the interval only when the
    /// status is [`Status::Synchronized`] or [`Status::FreeRunning`]; an
    /// unknown bound gives `[i64::MIN, i64::MAX]`-wide intervals.
    ///
    /// # Errors
    /// As [`Clock::snapshot`], and [`ReadError::CausalityBreach`] when
    /// `CLOCK_REALTIME` reads before the snapshot (stepped back since).
    #[inline]
    pub fn now(&self) -> Result<Interval, ReadError> {
        // The page first, then the clocks: the snapshot is then never
        // younger than the clock readings.
        let s = page::read(self.words())?;
        let marker = self.vmclock_marker();
        // One clock_gettime that reads the counter, not two: the time since
        // the snapshot on CLOCK_REALTIME, checked against the coarse
        // monotonic clock (Snapshot::interval_at_coarse).
        let coarse = u64::try_from(ns(libc::CLOCK_MONOTONIC_COARSE)).unwrap_or(0);
        let real = ns(libc::CLOCK_REALTIME);
        s.interval_at_coarse(coarse, real, marker)
    }
}

#[inline]
#[allow(
    clippy::useless_conversion,
    reason = "time_t and c_long are 32-bit on some targets"
)]
fn ns(clock: libc::clockid_t) -> i64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out-pointer; clock_gettime only writes it (vDSO).
    unsafe { libc::clock_gettime(clock, &raw mut t) };
    i64::from(t.tv_sec)
        .saturating_mul(1_000_000_000)
        .saturating_add(i64::from(t.tv_nsec))
}

/// `CLOCK_MONOTONIC` and `CLOCK_REALTIME` now, ns.
pub fn clocks() -> (u64, i64) {
    let mono = u64::try_from(ns(libc::CLOCK_MONOTONIC)).unwrap_or(0);
    (mono, ns(libc::CLOCK_REALTIME))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::FileExt;
    use std::path::PathBuf;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("keel-client-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// Writes a page the way the daemon does (core's writer over a copy),
    /// returning its path.
    fn write_page(dir: &Path, s: &Snapshot) -> PathBuf {
        let words: Words = core::array::from_fn(|_| AtomicU64::new(0));
        page::init(&words);
        page::write(&words, s);
        let bytes: Vec<u8> = words
            .iter()
            .flat_map(|w| w.load(Ordering::Relaxed).to_ne_bytes())
            .collect();
        let p = dir.join("time");
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn snap(bound: u64, marker: u64) -> Snapshot {
        let (mono, real) = clocks();
        Snapshot {
            as_of_mono_ns: mono,
            as_of_real_ns: real,
            void_after_mono_ns: mono + 10_000_000_000,
            bound_ns: bound,
            growth_ppb: 15,
            status: 1,
            flags: page::FLAG_VMCLOCK,
            disruption_marker: marker,
            updates: 1,
        }
    }

    #[test]
    fn reads_a_page_and_sees_the_vmclock_marker_change() {
        let d = tmp("rt");
        let p = write_page(&d, &snap(500, 7));
        let c = Clock::open(&p).unwrap();
        let i = c.now().unwrap();
        assert_eq!(i.status, Status::Synchronized);
        let half = (i.latest_ns - i.earliest_ns) / 2;
        assert!((500..600).contains(&half), "±{half} ns");
        let (_, real) = clocks();
        assert!(i.earliest_ns <= real && real - i.latest_ns < 1_000_000_000);

        // A vmclock page (a file standing in for the device).
        let mut vm = vec![0u8; keel_core::wire::vmclock::FULL_LEN];
        vm[..4].copy_from_slice(&keel_core::wire::vmclock::MAGIC.to_le_bytes());
        vm[0x10..0x18].copy_from_slice(&7u64.to_le_bytes());
        let vp = d.join("vmclock0");
        std::fs::File::create(&vp).unwrap().write_all(&vm).unwrap();
        let c = c.with_vmclock(&vp).unwrap();
        assert_eq!(c.vmclock_marker(), Some(7));
        assert_eq!(c.now().unwrap().status, Status::Synchronized);
        // The hypervisor bumps the marker: disrupted at the next read.
        let f = std::fs::OpenOptions::new().write(true).open(&vp).unwrap();
        f.write_at(&8u64.to_le_bytes(), 0x10).unwrap();
        assert_eq!(c.vmclock_marker(), Some(8));
        assert_eq!(c.now().unwrap().status, Status::Disrupted);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn refuses_what_is_not_a_page() {
        let d = tmp("bad");
        assert!(matches!(Clock::open(d.join("none")), Err(OpenError::Io(_))));
        let short = d.join("short");
        std::fs::write(&short, b"KEELPAGE").unwrap();
        assert!(matches!(Clock::open(&short), Err(OpenError::NotAPage)));
        let zeros = d.join("zeros");
        std::fs::write(&zeros, [0u8; page::BYTES]).unwrap();
        assert!(matches!(Clock::open(&zeros), Err(OpenError::NotAPage)));
        // A page whose header is written but not its body yet.
        let words: Words = core::array::from_fn(|_| AtomicU64::new(0));
        page::init(&words);
        let bytes: Vec<u8> = words
            .iter()
            .flat_map(|w| w.load(Ordering::Relaxed).to_ne_bytes())
            .collect();
        let fresh = d.join("fresh");
        std::fs::write(&fresh, bytes).unwrap();
        let c = Clock::open(&fresh).unwrap();
        assert_eq!(c.now(), Err(ReadError::NotWritten));
        let p = write_page(&d, &snap(1, 0));
        assert!(matches!(
            Clock::open(&p).unwrap().with_vmclock(&zeros),
            Err(OpenError::NotAVmclock)
        ));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_void_snapshot_reads_unknown() {
        let d = tmp("void");
        let mut s = snap(100, 0);
        s.void_after_mono_ns = s.as_of_mono_ns;
        let c = Clock::open(write_page(&d, &s)).unwrap();
        assert_eq!(c.now().unwrap().status, Status::Unknown);
        let _ = std::fs::remove_dir_all(&d);
    }
}

//! Time for applications: `keel_clock_now()` reads the page `keel sync`
//! publishes (`/run/keel/time`) and returns an interval `[earliest,
//! latest]` that contains true time, with a status, like `ClockBound`'s
//! `clockbound_now()`. Linux (and other Unix) hosted builds only: the
//! `std` feature, which firmware builds leave out.
//!
//! ```c
//! keel_clock clock;
//! keel_clock_interval now;
//! if (keel_clock_init(&clock, NULL, NULL) != KEEL_STATUS_OK) { ... }
//! if (keel_clock_now(&clock, &now) == KEEL_STATUS_OK &&
//!     now.status == KEEL_CLOCK_STATUS_SYNCHRONIZED) {
//!     /* true time is within [now.earliest_ns, now.latest_ns] */
//! }
//! keel_clock_deinit(&clock);
//! ```
//!
//! A read copies the page under its seqlock (it never waits for the
//! daemon) and reads `CLOCK_MONOTONIC_COARSE` and `CLOCK_REALTIME` (vDSO:
//! no system call). It is safe from any number of threads at once.

use core::ffi::c_char;
use std::ffi::CStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use keel_client::{Clock, OpenError, ReadError, Status};

use crate::{check_out, ffi_boundary, keel_status, try_ref, write_out};

/// Number of 64-bit words in [`keel_clock`].
pub const KEEL_CLOCK_STORAGE_WORDS: usize = 8;
/// `sizeof(keel_clock)`, bytes.
pub const KEEL_CLOCK_STORAGE_SIZE: usize = KEEL_CLOCK_STORAGE_WORDS * 8;

/// Caller-owned storage for an open time page: declare it anywhere, then
/// `keel_clock_init()` it and `keel_clock_deinit()` it when done (that
/// unmaps the page). It holds mappings: do not copy an initialised clock
/// (two copies would both unmap); share a pointer to it instead.
#[repr(C)]
pub struct keel_clock {
    _opaque: [u64; KEEL_CLOCK_STORAGE_WORDS],
}

/// The status of the clock an interval comes from (`ClockBound`'s numbers).
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum keel_clock_status {
    /// No bound: keel is not synchronised yet, or its snapshot is void
    /// (the daemon stopped updating the page). Do not trust the interval.
    Unknown = 0,
    /// Synchronised: the interval holds true time.
    Synchronized = 1,
    /// Holdover: no readings, the bound grows on the last model; the
    /// interval holds true time.
    FreeRunning = 2,
    /// A disruption (live migration, resume) threw the estimate away, or
    /// the vmclock marker changed since the daemon's last update. Do not
    /// trust the interval.
    Disrupted = 3,
}

/// What `keel_clock_now()` returns.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct keel_clock_interval {
    /// The earliest true time, ns since 1970 (UTC, as `CLOCK_REALTIME`).
    pub earliest_ns: i64,
    /// The latest true time, ns since 1970.
    pub latest_ns: i64,
    /// The status; trust the interval only with
    /// `KEEL_CLOCK_STATUS_SYNCHRONIZED` or `_FREE_RUNNING`.
    pub status: keel_clock_status,
}

const CLOCK_MAGIC: u64 = u64::from_le_bytes(*b"keelCLK1");

/// What lives in a [`keel_clock`]: the magic word first.
#[repr(C)]
struct ClockCell {
    magic: u64,
    clock: Clock,
}

const _: () = assert!(
    size_of::<ClockCell>() <= size_of::<keel_clock>()
        && align_of::<ClockCell>() <= align_of::<keel_clock>(),
    "keel_clock storage is too small or under-aligned: raise KEEL_CLOCK_STORAGE_WORDS"
);

/// The initialised clock in `p`.
///
/// # Safety
/// `p` is NULL or points to a valid, aligned `keel_clock`.
unsafe fn cell<'a>(p: *const keel_clock) -> Result<&'a ClockCell, keel_status> {
    // SAFETY: the caller guarantees `p` is NULL or valid and aligned.
    let c = unsafe { try_ref(p) }?;
    let magic = c._opaque[0];
    if magic != CLOCK_MAGIC {
        return Err(keel_status::NotInitialized);
    }
    // SAFETY: the magic word is only written by `keel_clock_init`, together
    // with a valid `ClockCell`; size and alignment are asserted above.
    Ok(unsafe { &*p.cast::<ClockCell>() })
}

/// A path from a C string; NULL gives `default`.
///
/// # Safety
/// `p` is NULL or a NUL-terminated string that outlives the result.
unsafe fn path(p: *const c_char, default: Option<&str>) -> Option<&Path> {
    if p.is_null() {
        return default.map(Path::new);
    }
    // SAFETY: non-NULL, NUL-terminated (the caller's guarantee).
    let s = unsafe { CStr::from_ptr(p) };
    Some(Path::new(std::ffi::OsStr::from_bytes(s.to_bytes())))
}

fn open_status(e: &OpenError, vmclock: bool) -> keel_status {
    match e {
        OpenError::Io(_) if vmclock => keel_status::VmclockOpen,
        OpenError::Io(_) => keel_status::TimePageOpen,
        OpenError::NotAPage => keel_status::TimePageNotAPage,
        OpenError::NotAVmclock => keel_status::VmclockBadMagic,
    }
}

fn read_status(e: ReadError) -> keel_status {
    match e {
        ReadError::NotAPage => keel_status::TimePageNotAPage,
        ReadError::NotWritten => keel_status::TimePageNotWritten,
        ReadError::Busy => keel_status::TimePageBusy,
        ReadError::CausalityBreach => keel_status::TimePageCausality,
    }
}

/// Opens keel's time page read-only: `page_path`, or `/run/keel/time`
/// (where `keel sync` publishes it) when NULL. With `vmclock_path` (e.g.
/// `"/dev/vmclock0"`; NULL: none), every read also compares the vmclock
/// device's disruption marker with the page's, so a live migration reads
/// as `KEEL_CLOCK_STATUS_DISRUPTED` before the daemon's next update.
///
/// A page the daemon has created but not written yet opens; reads then fail
/// with `KEEL_STATUS_TIME_PAGE_NOT_WRITTEN` until its first update. Calling
/// this on an initialised clock leaks its mappings: `keel_clock_deinit()`
/// it first.
///
/// Errors: `KEEL_STATUS_NULL_POINTER` (`clock`),
/// `KEEL_STATUS_TIME_PAGE_OPEN` (no such file, no permission — the page is
/// mode 0640, readable by its group — or the mapping failed; `errno` says
/// why), `KEEL_STATUS_TIME_PAGE_NOT_A_PAGE`, `KEEL_STATUS_VMCLOCK_OPEN`,
/// `KEEL_STATUS_VMCLOCK_BAD_MAGIC`. On error `*clock` is left as it was.
///
/// # Safety
/// `clock` is NULL or valid for writing a `keel_clock`; `page_path` and
/// `vmclock_path` are NULL or NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_clock_init(
    clock: *mut keel_clock,
    page_path: *const c_char,
    vmclock_path: *const c_char,
) -> keel_status {
    ffi_boundary!({
        check_out(clock)?;
        // SAFETY: NULL or NUL-terminated (the caller's guarantee).
        let page = unsafe { path(page_path, Some(keel_client::DEFAULT_PATH)) }
            .ok_or(keel_status::NullPointer)?;
        // SAFETY: as above.
        let vmclock = unsafe { path(vmclock_path, None) };
        let mut c = Clock::open(page).map_err(|e| open_status(&e, false))?;
        if let Some(v) = vmclock {
            c = c.with_vmclock(v).map_err(|e| open_status(&e, true))?;
        }
        let cell = ClockCell {
            magic: CLOCK_MAGIC,
            clock: c,
        };
        // SAFETY: `clock` is non-NULL and valid for a `keel_clock`, large
        // and aligned enough for a `ClockCell` (asserted above).
        unsafe { clock.cast::<ClockCell>().write(cell) };
        Ok(())
    })
}

/// The interval that contains true time now, and the status: `[real −
/// bound, real + bound]` with `real` this machine's `CLOCK_REALTIME` and
/// `bound` the daemon's bound grown since its snapshot. Never blocks on the
/// daemon; no system call beyond `clock_gettime` (vDSO). A dead daemon
/// reads as `KEEL_CLOCK_STATUS_UNKNOWN` once its snapshot is void (10 s by
/// default); an unknown bound gives the widest interval.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`, `KEEL_STATUS_NOT_INITIALIZED`,
/// `KEEL_STATUS_TIME_PAGE_NOT_A_PAGE`, `KEEL_STATUS_TIME_PAGE_NOT_WRITTEN`
/// (the daemon has not published yet), `KEEL_STATUS_TIME_PAGE_BUSY` (the
/// page was being written at every try: retry),
/// `KEEL_STATUS_TIME_PAGE_CAUSALITY` (`CLOCK_REALTIME` before the
/// snapshot: it was stepped back since).
///
/// # Safety
/// `clock` is NULL or points to a valid `keel_clock`; `out` is NULL or
/// valid for writing a `keel_clock_interval`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_clock_now(
    clock: *const keel_clock,
    out: *mut keel_clock_interval,
) -> keel_status {
    ffi_boundary!({
        // SAFETY: NULL or valid (the caller's guarantee).
        let c = unsafe { cell(clock) }?;
        check_out(out)?;
        let i = c.clock.now().map_err(read_status)?;
        let v = keel_clock_interval {
            earliest_ns: i.earliest_ns,
            latest_ns: i.latest_ns,
            status: match i.status {
                Status::Unknown => keel_clock_status::Unknown,
                Status::Synchronized => keel_clock_status::Synchronized,
                Status::FreeRunning => keel_clock_status::FreeRunning,
                Status::Disrupted => keel_clock_status::Disrupted,
            },
        };
        // SAFETY: `out` checked non-NULL; the caller guarantees it is valid.
        unsafe { write_out(out, v) };
        Ok(())
    })
}

/// Unmaps the page (and the vmclock device) and marks `clock` as
/// uninitialised (later calls fail with `KEEL_STATUS_NOT_INITIALIZED`).
/// Deinitialising twice is fine.
///
/// Errors: `KEEL_STATUS_NULL_POINTER`.
///
/// # Safety
/// `clock` is NULL or valid for reading and writing a `keel_clock`, and no
/// other thread is reading it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn keel_clock_deinit(clock: *mut keel_clock) -> keel_status {
    ffi_boundary!({
        // SAFETY: NULL or valid (the caller's guarantee).
        if unsafe { cell(clock) }.is_err() {
            return check_out(clock);
        }
        // SAFETY: initialised (the magic word), so it holds a `ClockCell`
        // written by `keel_clock_init`; the magic is cleared first, so the
        // cell is read out (and dropped: unmapped) exactly once.
        let cell = unsafe {
            clock.cast::<u64>().write(0);
            clock.cast::<ClockCell>().read()
        };
        drop(cell);
        Ok(())
    })
}

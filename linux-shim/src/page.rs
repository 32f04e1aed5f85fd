//! The pages `keel sync` publishes for applications after every update:
//!
//! - **keel's time page** (`time_page`, default `/run/keel/time`): the
//!   layout of [`keel_core::page`] (version 1, 96 bytes, native endian, a
//!   seqlock), mode 0640 (group-readable; readers map it read-only);
//! - **`ClockBound`'s SHM v2 segment** (`clockbound_shm`, off by default; its
//!   standard path is `/var/run/clockbound/shm0`), mode 0644 as
//!   `ClockBound`'s daemon makes it, so unmodified `ClockBound` clients
//!   (`clock-bound-client` 2.0, its C library, `YugabyteDB`) read keel's
//!   bound (dated on `CLOCK_MONOTONIC_COARSE`, as its clients read it):
//!   header `magic "AMZNCB\x02\0"`, `segsize` 80, `version` 2,
//!   `generation` (u16 seqlock, odd while writing, wraps to 2), then
//!   `as_of`, `void_after` (`CLOCK_MONOTONIC` timespecs), `bound_nsec` i64,
//!   `disruption_marker` u64, `max_drift_ppb` u32, `clock_status` i32,
//!   `clock_disruption_support_enabled` u8, 7 bytes of padding.
//!
//! Both carry the same snapshot: `CLOCK_MONOTONIC` and `CLOCK_REALTIME` read
//! together, the engine's bound at that time and its growth
//! ([`keel_core::engine::Engine::served_at`]), the void time and the status.
//! In a simulated run the bound is the simulated clock's, published against
//! this machine's clocks (so clients can be tested); its honesty against
//! the simulation's truth is counted in [`Honesty`].

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering, fence};

use keel_core::engine::Served;
use keel_core::page::{self, Snapshot, Words};

/// A file mapped shared, read-write, `len` bytes.
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    _file: File,
}

impl Mapping {
    /// Creates (or reuses) `path` with `mode`, `len` bytes, and maps it.
    fn create(path: &Path, len: usize, mode: u32) -> io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(mode)
            .open(path)?;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.set_len(u64::try_from(len).unwrap_or(u64::MAX))?;
        // SAFETY: a fresh shared mapping of a file we hold open, `len` bytes
        // (the file was just sized to `len`); the result is checked.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(p.cast::<u8>()).ok_or_else(io::Error::last_os_error)?;
        Ok(Self {
            ptr,
            len,
            _file: file,
        })
    }

    /// The atomic at byte offset `off`.
    fn at<T>(&self, off: usize) -> &T {
        assert!(off + size_of::<T>() <= self.len && off % align_of::<T>() == 0);
        // SAFETY: in bounds and aligned (asserted; the mapping is page
        // aligned), valid for the mapping's life, which `&self` bounds; the
        // types used (atomic integers and arrays of them) are valid for any bits and
        // only touched atomically, by this process and the readers.
        unsafe { &*self.ptr.as_ptr().add(off).cast::<T>() }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly what `create` mapped; no reference into it
        // outlives `self`.
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.len);
        }
    }
}

/// keel's time page, written by the daemon.
pub struct TimePage {
    map: Mapping,
}

impl TimePage {
    /// Creates `path` (mode 0640) and writes a fresh header.
    ///
    /// # Errors
    /// Creating, sizing or mapping the file.
    pub fn create(path: &Path) -> io::Result<Self> {
        let map = Mapping::create(path, page::BYTES, 0o640)?;
        let p = Self { map };
        page::init(p.words());
        Ok(p)
    }

    fn words(&self) -> &Words {
        self.map.at::<Words>(0)
    }

    /// Publishes `s`.
    pub fn write(&self, s: &Snapshot) {
        page::write(self.words(), s);
    }
}

/// `ClockBound`'s SHM v2 segment, written by the daemon.
pub struct ClockBoundShm {
    map: Mapping,
}

/// `segsize`: the 16-byte header and the 64-byte body.
const CB_SEGSIZE: usize = 80;
const CB_MAGIC: [u32; 2] = [0x414D_5A4E, 0x4342_0200];

impl ClockBoundShm {
    /// Creates `path` (mode 0644) and writes the header.
    ///
    /// # Errors
    /// Creating, sizing or mapping the file.
    pub fn create(path: &Path) -> io::Result<Self> {
        let map = Mapping::create(path, CB_SEGSIZE, 0o644)?;
        let s = Self { map };
        // The header: magic, segsize (u32), version (u16); the generation
        // (u16 at 14) is the seqlock, left as it is (0 on a fresh file).
        s.map
            .at::<AtomicU32>(0)
            .store(CB_MAGIC[0], Ordering::Relaxed);
        s.map
            .at::<AtomicU32>(4)
            .store(CB_MAGIC[1], Ordering::Relaxed);
        #[allow(clippy::cast_possible_truncation, reason = "80 fits")]
        s.map
            .at::<AtomicU32>(8)
            .store(CB_SEGSIZE as u32, Ordering::Relaxed);
        s.map.at::<AtomicU16>(12).store(2, Ordering::Release);
        Ok(s)
    }

    /// Publishes one snapshot (`ClockBound`'s writer protocol).
    pub fn write(&self, s: &Snapshot, disruption_support: bool) {
        let generation = self.map.at::<AtomicU16>(14);
        let g = generation.load(Ordering::Acquire);
        let g = if g & 1 == 0 { g.wrapping_add(1) } else { g };
        generation.store(g, Ordering::Release);
        fence(Ordering::Release);
        let ns = |t: u64| {
            (
                i64::try_from(t / 1_000_000_000).unwrap_or(i64::MAX),
                i64::try_from(t % 1_000_000_000).unwrap_or(0),
            )
        };
        // ClockBound's clients read CLOCK_MONOTONIC_COARSE, which lags
        // CLOCK_MONOTONIC by up to a tick: the snapshot is dated on it (a
        // finer date would look like a causality breach), and the bound
        // covers the growth a tick of lag hides from the client.
        let (coarse, _) = now_ns(libc::CLOCK_MONOTONIC_COARSE);
        let mut res = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: a valid out-pointer.
        unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC_COARSE, &raw mut res) };
        let tick = u64::try_from(res.tv_nsec).unwrap_or(10_000_000);
        let (a_s, a_ns) = ns(coarse);
        let (v_s, v_ns) =
            ns(coarse.saturating_add(s.void_after_mono_ns.saturating_sub(s.as_of_mono_ns)));
        let bound = i64::try_from(s.bound_for_lagging_reader(tick)).unwrap_or(i64::MAX);
        let drift = u32::try_from(s.growth_ppb)
            .unwrap_or(u32::MAX)
            .min(999_999_999);
        #[allow(clippy::cast_possible_truncation, reason = "status is 0..=3")]
        let status = s.status as u32;
        let body: [u64; 6] = [
            u64::from_ne_bytes(a_s.to_ne_bytes()),
            u64::from_ne_bytes(a_ns.to_ne_bytes()),
            u64::from_ne_bytes(v_s.to_ne_bytes()),
            u64::from_ne_bytes(v_ns.to_ne_bytes()),
            u64::from_ne_bytes(bound.to_ne_bytes()),
            s.disruption_marker,
        ];
        for (i, v) in body.iter().enumerate() {
            self.map
                .at::<AtomicU64>(16 + 8 * i)
                .store(*v, Ordering::Relaxed);
        }
        self.map.at::<AtomicU32>(64).store(drift, Ordering::Relaxed);
        self.map
            .at::<AtomicU32>(68)
            .store(status, Ordering::Relaxed);
        self.map
            .at::<AtomicU8>(72)
            .store(u8::from(disruption_support), Ordering::Relaxed);
        let mut next = g.wrapping_add(1);
        if next == 0 {
            next = 2;
        }
        generation.store(next, Ordering::Release);
    }
}

/// Where to publish, from the configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PageConfig {
    /// keel's time page.
    pub time_page: Option<PathBuf>,
    /// `ClockBound`'s segment.
    pub clockbound_shm: Option<PathBuf>,
    /// How long a snapshot stays valid without a new one, ns.
    pub void_after_ns: u64,
}

/// The intervals served, checked against the simulation's truth.
#[derive(Clone, Debug, Default)]
pub struct Honesty {
    /// Checks made (at each publish and just before the next update).
    pub checks: u64,
    /// Checks whose interval missed the true time.
    pub misses: u64,
    /// Served half-widths and |true error| at the publishes, ns.
    pub half_widths: Vec<f64>,
    /// The same, over |true error|.
    pub ratios: Vec<f64>,
}

/// The daemon's publisher.
pub struct Publisher {
    page: Option<TimePage>,
    cb: Option<ClockBoundShm>,
    void_after_ns: u64,
    last: Option<(Snapshot, keel_core::time::Timestamp)>,
    /// Simulation only.
    pub honesty: Honesty,
}

fn now_ns(clock: libc::clockid_t) -> (u64, i64) {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out-pointer; clock_gettime only writes it.
    unsafe { libc::clock_gettime(clock, &raw mut ts) };
    // time_t and the nanoseconds are 32-bit on 32-bit targets.
    #[allow(clippy::useless_conversion, reason = "i32 on 32-bit targets")]
    let ns = i64::from(ts.tv_sec)
        .saturating_mul(1_000_000_000)
        .saturating_add(i64::from(ts.tv_nsec));
    (u64::try_from(ns).unwrap_or(0), ns)
}

impl Publisher {
    /// Opens the configured pages; `None` when none is.
    ///
    /// # Errors
    /// Which file could not be created, and why.
    pub fn open(cfg: &PageConfig) -> Result<Option<Self>, String> {
        let page = match &cfg.time_page {
            Some(p) => Some(TimePage::create(p).map_err(|e| {
                format!(
                    "{}: cannot create the time page: {e} (set time_page = \"\" to turn it off)",
                    p.display()
                )
            })?),
            None => None,
        };
        let cb = match &cfg.clockbound_shm {
            Some(p) => Some(ClockBoundShm::create(p).map_err(|e| {
                format!(
                    "{}: cannot create the ClockBound segment: {e} (set clockbound_shm = \"\" to turn it off)",
                    p.display()
                )
            })?),
            None => None,
        };
        if page.is_none() && cb.is_none() {
            return Ok(None);
        }
        Ok(Some(Self {
            page,
            cb,
            void_after_ns: cfg.void_after_ns.max(1_000_000_000),
            last: None,
            honesty: Honesty::default(),
        }))
    }

    /// How long a snapshot stays valid, ns.
    pub const fn horizon_ns(&self) -> u64 {
        self.void_after_ns
    }

    /// Publishes `served` (taken at sink time `at`, right after this
    /// machine's clocks were read as `mono`, `real`), with the vmclock
    /// marker if there is one, and checks it against `true_offset_ns` in a
    /// simulation.
    pub fn publish(
        &mut self,
        served: Served,
        at: keel_core::time::Timestamp,
        clocks: (u64, i64),
        marker: Option<u64>,
        updates: u64,
        true_offset_ns: Option<f64>,
    ) {
        let (mono, real) = clocks;
        let s = Snapshot::served(&served, mono, real, self.void_after_ns, marker, updates);
        if let Some(p) = &self.page {
            p.write(&s);
        }
        if let Some(c) = &self.cb {
            c.write(&s, marker.is_some());
        }
        if let (Some(t), true) = (true_offset_ns, s.bound_ns != u64::MAX) {
            #[allow(clippy::cast_precision_loss, reason = "reporting")]
            let b = s.bound_ns as f64;
            self.honesty.checks += 1;
            if t.abs() > b {
                self.honesty.misses += 1;
            }
            self.honesty.half_widths.push(b);
            self.honesty.ratios.push(b / t.abs().max(0.5));
        }
        self.last = Some((s, at));
    }

    /// Just before an update, at sink time `at`: does the last snapshot,
    /// grown to now, still hold the truth (simulation)?
    pub fn check_before_update(&mut self, at: keel_core::time::Timestamp, true_offset_ns: f64) {
        let Some((s, t0)) = self.last else {
            return;
        };
        if s.bound_ns == u64::MAX {
            return;
        }
        let dt = u64::try_from(at.duration_since(t0).as_nanos()).unwrap_or(0);
        if dt > self.void_after_ns {
            return;
        }
        #[allow(clippy::cast_precision_loss, reason = "reporting")]
        let b = s.bound_ns as f64 + (dt as f64 * s.growth_ppb as f64 / 1e9).ceil();
        self.honesty.checks += 1;
        if true_offset_ns.abs() > b {
            self.honesty.misses += 1;
        }
    }

    /// `CLOCK_MONOTONIC` and `CLOCK_REALTIME` now.
    pub fn host_clocks() -> (u64, i64) {
        let (mono, _) = now_ns(libc::CLOCK_MONOTONIC);
        let (_, real) = now_ns(libc::CLOCK_REALTIME);
        (mono, real)
    }

    /// One line for the end table of a simulated run.
    pub fn summary(&self) -> Option<String> {
        let h = &self.honesty;
        if h.checks == 0 {
            return None;
        }
        let med = |v: &[f64]| {
            let mut v = v.to_vec();
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
        };
        Some(format!(
            "{} checks, {} missed the truth; median half-width {:.0} ns, {:.1} × |true error|",
            h.checks,
            h.misses,
            med(&h.half_widths),
            med(&h.ratios)
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_core::engine::ServedStatus;
    use keel_core::time::{Duration, Timestamp};

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("keel-page-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        d.join("time")
    }

    #[test]
    fn the_page_is_written_read_back_and_group_readable() {
        let p = tmp("rt");
        let mut pubr = Publisher::open(&PageConfig {
            time_page: Some(p.clone()),
            clockbound_shm: None,
            void_after_ns: 10_000_000_000,
        })
        .unwrap()
        .unwrap();
        let served = Served {
            status: ServedStatus::Synchronized,
            bound: Duration::from_nanos(120),
            growth_ppb: 10,
        };
        let clocks = Publisher::host_clocks();
        pubr.publish(served, Timestamp::from_nanos(0), clocks, None, 5, None);
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let bytes = fs::read(&p).unwrap();
        assert_eq!(bytes.len(), page::BYTES);
        assert_eq!(&bytes[..8], b"KEELPAGE");
        let words: Words = core::array::from_fn(|i| {
            AtomicU64::new(u64::from_ne_bytes(
                bytes[i * 8..i * 8 + 8].try_into().unwrap(),
            ))
        });
        let s = page::read(&words).unwrap();
        assert_eq!(s.bound_ns, 120);
        assert_eq!(s.as_of_mono_ns, clocks.0);
        assert_eq!(s.updates, 5);
        let _ = fs::remove_dir_all(p.parent().unwrap());
    }
}

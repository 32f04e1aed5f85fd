//! keel's time page: what `keel sync` publishes for applications, and the
//! TrueTime-style read `now() → [earliest, latest]` over it.
//!
//! The page is [`WORDS`] 64-bit words in native byte order (a file mapped
//! shared by the daemon, read-only by the readers). The writer and the
//! readers only touch it through atomics, so this module needs no `unsafe`:
//! the caller maps the file and hands a `&[AtomicU64; WORDS]` over.
//!
//! Layout, version 1 (word index, byte offset, field):
//!
//! | word | off  | field | meaning |
//! |---|---|---|---|
//! | 0 | 0x00 | `magic` | [`MAGIC`], `"KEELPAGE"` in memory order |
//! | 1 | 0x08 | `version` | [`VERSION`]; a reader refuses another |
//! | 2 | 0x10 | `seq` | seqlock: odd while the writer is inside; 0 = never written |
//! | 3 | 0x18 | `as_of_mono_ns` | `CLOCK_MONOTONIC` at the snapshot, ns |
//! | 4 | 0x20 | `as_of_real_ns` | `CLOCK_REALTIME` at the snapshot, ns since 1970 (i64) |
//! | 5 | 0x28 | `void_after_mono_ns` | `CLOCK_MONOTONIC` after which the snapshot is void |
//! | 6 | 0x30 | `bound_ns` | bound on \|`CLOCK_REALTIME` − true time\| at the snapshot (`u64::MAX`: none) |
//! | 7 | 0x38 | `growth_ppb` | how fast the bound grows, ns per s of `CLOCK_MONOTONIC` |
//! | 8 | 0x40 | `status` | 0 unknown, 1 synchronized, 2 free-running, 3 disrupted (`ClockBound`'s numbers) |
//! | 9 | 0x48 | `flags` | bit 0: `disruption_marker` is the vmclock device's |
//! | 10 | 0x50 | `disruption_marker` | the vmclock marker the snapshot was taken under |
//! | 11 | 0x58 | `updates` | the daemon's update count (a heartbeat) |
//!
//! A read at `(mono, real)`: `bound = bound_ns + ⌈growth_ppb × (mono −
//! as_of_mono_ns) / 10⁹⌉`, `[real − bound, real + bound]` (the cheaper
//! read, [`Snapshot::interval_at_coarse`], counts the time since the
//! snapshot on `CLOCK_REALTIME` and `CLOCK_MONOTONIC_COARSE`); the status turns
//! unknown once `mono ≥ void_after_mono_ns` (a dead daemon), and a reader
//! that sees the vmclock marker differ from the page's reports disrupted
//! (a migration, before the daemon's next update).

use core::sync::atomic::{AtomicU64, Ordering, fence};

use crate::engine::{Served, ServedStatus};

/// Words in the page.
pub const WORDS: usize = 12;
/// Bytes in the page.
pub const BYTES: usize = WORDS * 8;
/// `"KEELPAGE"` read as a native-endian word.
pub const MAGIC: u64 = u64::from_ne_bytes(*b"KEELPAGE");
/// The layout version.
pub const VERSION: u64 = 1;
/// `flags` bit: `disruption_marker` is the vmclock device's.
pub const FLAG_VMCLOCK: u64 = 1;
/// A read this far before `as_of` still counts as at `as_of` (two clock
/// reads on different CPUs), ns; further back is a causality breach.
pub const CAUSALITY_BLUR_NS: u64 = 1_000;

/// How long a snapshot stays valid, ns: the configured time, but never less
/// than two update intervals, so a reader between the updates of a slow
/// daemon (one every 16 s against the default 10 s) still gets an interval,
/// grown honestly, instead of "unknown" for part of every interval.
pub const fn void_after_ns(configured_ns: u64, interval_ns: u64) -> u64 {
    let two = interval_ns.saturating_mul(2);
    if configured_ns > two {
        configured_ns
    } else {
        two
    }
}

const W_MAGIC: usize = 0;
const W_VERSION: usize = 1;
const W_SEQ: usize = 2;
const W_BODY: usize = 3;

/// The page's words.
pub type Words = [AtomicU64; WORDS];

/// One consistent copy of a page's body.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// `CLOCK_MONOTONIC` at the snapshot, ns.
    pub as_of_mono_ns: u64,
    /// `CLOCK_REALTIME` at the snapshot, ns since 1970.
    pub as_of_real_ns: i64,
    /// Void from this `CLOCK_MONOTONIC` on, ns.
    pub void_after_mono_ns: u64,
    /// The bound at the snapshot, ns (`u64::MAX`: none).
    pub bound_ns: u64,
    /// The bound's growth, ppb.
    pub growth_ppb: u64,
    /// The status (0..=3, [`status_code`]).
    pub status: u64,
    /// [`FLAG_VMCLOCK`].
    pub flags: u64,
    /// The vmclock disruption marker.
    pub disruption_marker: u64,
    /// The daemon's update count.
    pub updates: u64,
}

impl Snapshot {
    /// What the engine serves (`served`), dated `as_of_mono_ns` /
    /// `as_of_real_ns`, void `void_after_ns` later, with the vmclock
    /// `marker` when it is watched and the daemon's update count. No bound
    /// is published while the status is unknown or disrupted.
    pub fn served(
        served: &Served,
        as_of_mono_ns: u64,
        as_of_real_ns: i64,
        void_after_ns: u64,
        marker: Option<u64>,
        updates: u64,
    ) -> Self {
        let no_bound = matches!(
            served.status,
            ServedStatus::Unknown | ServedStatus::Disrupted
        );
        Self {
            as_of_mono_ns,
            as_of_real_ns,
            void_after_mono_ns: as_of_mono_ns.saturating_add(void_after_ns),
            bound_ns: if no_bound {
                u64::MAX
            } else {
                served.bound.unsigned_abs_nanos()
            },
            growth_ppb: u64::from(served.growth_ppb),
            status: status_code(served.status),
            flags: if marker.is_some() { FLAG_VMCLOCK } else { 0 },
            disruption_marker: marker.unwrap_or(0),
            updates,
        }
    }

    /// The bound to publish for a reader whose monotonic clock lags the
    /// snapshot's by up to `lag_ns` (`ClockBound`'s clients read
    /// `CLOCK_MONOTONIC_COARSE`, a tick behind): it covers the growth that
    /// lag hides, rounded up. No bound (`u64::MAX`) stays none.
    pub fn bound_for_lagging_reader(&self, lag_ns: u64) -> u64 {
        if self.bound_ns == u64::MAX {
            return u64::MAX;
        }
        let hidden = lag_ns
            .saturating_mul(self.growth_ppb)
            .div_ceil(1_000_000_000);
        self.bound_ns.saturating_add(hidden)
    }

    fn to_words(self) -> [u64; WORDS - W_BODY] {
        [
            self.as_of_mono_ns,
            u64::from_ne_bytes(self.as_of_real_ns.to_ne_bytes()),
            self.void_after_mono_ns,
            self.bound_ns,
            self.growth_ppb,
            self.status,
            self.flags,
            self.disruption_marker,
            self.updates,
        ]
    }

    #[inline]
    fn from_words(w: [u64; WORDS - W_BODY]) -> Self {
        Self {
            as_of_mono_ns: w[0],
            as_of_real_ns: i64::from_ne_bytes(w[1].to_ne_bytes()),
            void_after_mono_ns: w[2],
            bound_ns: w[3],
            growth_ppb: w[4],
            status: w[5],
            flags: w[6],
            disruption_marker: w[7],
            updates: w[8],
        }
    }

    /// The interval at `CLOCK_MONOTONIC` `mono_ns` and `CLOCK_REALTIME`
    /// `real_ns` (read together), with `vmclock_marker` the device's marker
    /// now, if it was read.
    ///
    /// # Errors
    /// [`ReadError::CausalityBreach`] when `mono_ns` is before the snapshot
    /// (by more than [`CAUSALITY_BLUR_NS`]).
    #[inline]
    pub fn interval_at(
        &self,
        mono_ns: u64,
        real_ns: i64,
        vmclock_marker: Option<u64>,
    ) -> Result<Interval, ReadError> {
        let elapsed = match mono_ns.checked_sub(self.as_of_mono_ns) {
            Some(e) => e,
            None if self.as_of_mono_ns.abs_diff(mono_ns) <= CAUSALITY_BLUR_NS => 0,
            None => return Err(ReadError::CausalityBreach),
        };
        // 64-bit arithmetic while it fits (a 128-bit division is slow).
        let bound = match elapsed.checked_mul(self.growth_ppb) {
            Some(p) => self.bound_ns.saturating_add(p.div_ceil(1_000_000_000)),
            None => {
                let grown =
                    (u128::from(elapsed) * u128::from(self.growth_ppb)).div_ceil(1_000_000_000);
                u64::try_from(grown).map_or(u64::MAX, |g| self.bound_ns.saturating_add(g))
            }
        };
        let bound = i64::try_from(bound).unwrap_or(i64::MAX);
        let mut status = status_of(self.status);
        if mono_ns >= self.void_after_mono_ns || self.bound_ns == u64::MAX {
            status = ServedStatus::Unknown;
        }
        if self.flags & FLAG_VMCLOCK != 0
            && vmclock_marker.is_some_and(|m| m != self.disruption_marker)
        {
            status = ServedStatus::Disrupted;
        }
        Ok(Interval {
            earliest_ns: real_ns.saturating_sub(bound),
            latest_ns: real_ns.saturating_add(bound),
            status,
        })
    }

    /// The interval at `CLOCK_REALTIME` `real_ns`, with
    /// `CLOCK_MONOTONIC_COARSE` `coarse_mono_ns` read just before it: the
    /// cheap read (one `clock_gettime` that reads the counter instead of
    /// two). The time since the snapshot is the larger of the realtime
    /// clock's (exact: `CLOCK_REALTIME` and `CLOCK_MONOTONIC` run at the
    /// same rate between steps) and the coarse monotonic clock's (at most
    /// a tick behind, and immune to steps and leap seconds), so the bound
    /// grows at least as much as with [`Snapshot::interval_at`], and the
    /// snapshot turns void as soon as either says so.
    ///
    /// # Errors
    /// [`ReadError::CausalityBreach`] when `real_ns` is before the
    /// snapshot (by more than [`CAUSALITY_BLUR_NS`]): `CLOCK_REALTIME` was
    /// stepped back since, and an interval around it would be wrong.
    #[inline]
    pub fn interval_at_coarse(
        &self,
        coarse_mono_ns: u64,
        real_ns: i64,
        vmclock_marker: Option<u64>,
    ) -> Result<Interval, ReadError> {
        let by_real = match real_ns.checked_sub(self.as_of_real_ns) {
            Some(e) if e >= 0 => e.unsigned_abs(),
            Some(e) if e.unsigned_abs() <= CAUSALITY_BLUR_NS => 0,
            _ => return Err(ReadError::CausalityBreach),
        };
        let by_mono = coarse_mono_ns.saturating_sub(self.as_of_mono_ns);
        let mono = self.as_of_mono_ns.saturating_add(by_real.max(by_mono));
        self.interval_at(mono, real_ns, vmclock_marker)
    }
}

/// What `now()` returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interval {
    /// The earliest true time, ns since 1970.
    pub earliest_ns: i64,
    /// The latest true time, ns since 1970.
    pub latest_ns: i64,
    /// The clock's status.
    pub status: ServedStatus,
}

/// Why a page could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ReadError {
    /// Not a keel page (magic), or another layout version.
    NotAPage,
    /// Never written yet.
    NotWritten,
    /// The writer was inside at every try.
    Busy,
    /// `CLOCK_MONOTONIC` before the snapshot.
    CausalityBreach,
}

impl core::fmt::Display for ReadError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::NotAPage => "not a keel time page of layout version 1",
            Self::NotWritten => "the time page was never written (keel sync not running yet?)",
            Self::Busy => "the time page was being written at every try",
            Self::CausalityBreach => "CLOCK_MONOTONIC is before the time page's snapshot",
        })
    }
}

impl core::error::Error for ReadError {}

/// The page's number for a status.
pub const fn status_code(s: ServedStatus) -> u64 {
    match s {
        ServedStatus::Unknown => 0,
        ServedStatus::Synchronized => 1,
        ServedStatus::FreeRunning => 2,
        ServedStatus::Disrupted => 3,
    }
}

/// The status for a page's number (unknown for any other).
#[inline]
pub const fn status_of(code: u64) -> ServedStatus {
    match code {
        1 => ServedStatus::Synchronized,
        2 => ServedStatus::FreeRunning,
        3 => ServedStatus::Disrupted,
        _ => ServedStatus::Unknown,
    }
}

/// Writes the header of a fresh page (seq 0: not written yet).
pub fn init(page: &Words) {
    page[W_MAGIC].store(MAGIC, Ordering::Relaxed);
    page[W_VERSION].store(VERSION, Ordering::Relaxed);
    page[W_SEQ].store(0, Ordering::Release);
}

/// Publishes `s` under the seqlock (one writer).
pub fn write(page: &Words, s: &Snapshot) {
    let seq = page[W_SEQ].load(Ordering::Relaxed);
    let odd = seq.wrapping_add(1) | 1;
    page[W_SEQ].store(odd, Ordering::Relaxed);
    // The odd count is visible before any field changes.
    fence(Ordering::Release);
    for (w, v) in page[W_BODY..].iter().zip(s.to_words()) {
        w.store(v, Ordering::Relaxed);
    }
    // Every field is visible before the even count.
    page[W_SEQ].store(odd.wrapping_add(1), Ordering::Release);
}

/// Tries before a read gives up with [`ReadError::Busy`] (a writer takes
/// under a microsecond; this is far more than one write).
pub const READ_TRIES: u32 = 10_000;

/// A consistent copy of the page's body; never blocks beyond
/// [`READ_TRIES`] attempts.
///
/// # Errors
/// [`ReadError::NotAPage`], [`ReadError::NotWritten`], [`ReadError::Busy`].
#[inline]
pub fn read(page: &Words) -> Result<Snapshot, ReadError> {
    if page[W_MAGIC].load(Ordering::Relaxed) != MAGIC
        || page[W_VERSION].load(Ordering::Relaxed) != VERSION
    {
        return Err(ReadError::NotAPage);
    }
    for _ in 0..READ_TRIES {
        let s1 = page[W_SEQ].load(Ordering::Acquire);
        if s1 == 0 {
            return Err(ReadError::NotWritten);
        }
        if s1 & 1 == 1 {
            core::hint::spin_loop();
            continue;
        }
        let mut w = [0u64; WORDS - W_BODY];
        for (d, a) in w.iter_mut().zip(&page[W_BODY..]) {
            *d = a.load(Ordering::Relaxed);
        }
        // The fields are read before the count is read again.
        fence(Ordering::Acquire);
        if page[W_SEQ].load(Ordering::Relaxed) == s1 {
            return Ok(Snapshot::from_words(w));
        }
    }
    Err(ReadError::Busy)
}

#[cfg(test)]
mod tests {
    use super::*;

    extern crate std;

    #[test]
    fn a_snapshot_lives_at_least_two_update_intervals() {
        const S: u64 = 1_000_000_000;
        assert_eq!(void_after_ns(10 * S, S), 10 * S);
        assert_eq!(void_after_ns(10 * S, 16 * S), 32 * S);
        assert_eq!(void_after_ns(10 * S, u64::MAX), u64::MAX);
    }

    /// A writer at full speed on one thread, readers on others: every
    /// read is whole (all fields from the same write) and none is torn.
    #[test]
    fn seqlock_torture_finds_no_torn_read() {
        use std::sync::Arc;
        use std::sync::atomic::AtomicBool;
        let page: Arc<Words> = Arc::new(core::array::from_fn(|_| AtomicU64::new(0)));
        init(&page);
        let of = |k: u64| Snapshot {
            as_of_mono_ns: k,
            as_of_real_ns: i64::try_from(k).unwrap_or(0).wrapping_mul(3),
            void_after_mono_ns: k.wrapping_add(7),
            bound_ns: k.wrapping_mul(5),
            growth_ppb: k ^ 0x5555,
            status: k % 4,
            flags: k & 1,
            disruption_marker: !k,
            updates: k,
        };
        write(&page, &of(1));
        let stop = Arc::new(AtomicBool::new(false));
        // The writer starts once both readers run, so they overlap it.
        let running = Arc::new(AtomicU64::new(0));
        let readers: std::vec::Vec<_> = (0..2)
            .map(|_| {
                let (page, stop) = (Arc::clone(&page), Arc::clone(&stop));
                let running = Arc::clone(&running);
                std::thread::spawn(move || {
                    let (mut ok, mut busy) = (0u64, 0u64);
                    running.fetch_add(1, Ordering::Release);
                    loop {
                        match read(&page) {
                            Ok(s) => {
                                assert_eq!(s, of(s.updates), "a torn read");
                                ok += 1;
                            }
                            Err(ReadError::Busy) => busy += 1,
                            Err(e) => panic!("{e:?}"),
                        }
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                    }
                    (ok, busy)
                })
            })
            .collect();
        while running.load(Ordering::Acquire) < 2 {
            std::thread::yield_now();
        }
        for k in 2..2_000_000u64 {
            write(&page, &of(k));
        }
        stop.store(true, Ordering::Relaxed);
        for r in readers {
            let (ok, _busy) = r.join().unwrap();
            assert!(ok > 0);
        }
    }

    #[test]
    fn what_is_served_and_what_a_lagging_reader_gets() {
        use crate::engine::Served;
        use crate::time::Duration;
        let mut served = Served {
            status: ServedStatus::Synchronized,
            bound: Duration::from_nanos(120),
            growth_ppb: 10,
        };
        let s = Snapshot::served(
            &served,
            5_000,
            1_700_000_000_000_000_000,
            10_000,
            Some(9),
            4,
        );
        assert_eq!(
            (s.void_after_mono_ns, s.bound_ns, s.growth_ppb, s.status),
            (15_000, 120, 10, 1)
        );
        assert_eq!(
            (s.flags, s.disruption_marker, s.updates),
            (FLAG_VMCLOCK, 9, 4)
        );
        // A 4 ms tick at 10 ppb hides 0.04 ns: one more ns, rounded up.
        assert_eq!(s.bound_for_lagging_reader(4_000_000), 121);
        assert_eq!(s.bound_for_lagging_reader(0), 120);
        for status in [ServedStatus::Unknown, ServedStatus::Disrupted] {
            served.status = status;
            let s = Snapshot::served(&served, 5_000, 0, 10_000, None, 4);
            assert_eq!((s.bound_ns, s.flags), (u64::MAX, 0));
            assert_eq!(s.bound_for_lagging_reader(4_000_000), u64::MAX);
        }
    }

    fn page() -> Words {
        core::array::from_fn(|_| AtomicU64::new(0))
    }

    fn snap() -> Snapshot {
        Snapshot {
            as_of_mono_ns: 10_000_000_000,
            as_of_real_ns: 1_700_000_000_000_000_000,
            void_after_mono_ns: 20_000_000_000,
            bound_ns: 100,
            growth_ppb: 50,
            status: 1,
            flags: FLAG_VMCLOCK,
            disruption_marker: 7,
            updates: 3,
        }
    }

    #[test]
    fn round_trip_and_header() {
        let p = page();
        assert_eq!(read(&p), Err(ReadError::NotAPage));
        init(&p);
        assert_eq!(read(&p), Err(ReadError::NotWritten));
        write(&p, &snap());
        assert_eq!(read(&p), Ok(snap()));
        assert_eq!(p[W_SEQ].load(Ordering::Relaxed), 2);
        write(&p, &snap());
        assert_eq!(p[W_SEQ].load(Ordering::Relaxed), 4);
        assert_eq!(&MAGIC.to_ne_bytes(), b"KEELPAGE");
    }

    #[test]
    fn an_odd_count_is_busy() {
        let p = page();
        init(&p);
        write(&p, &snap());
        p[W_SEQ].store(5, Ordering::Relaxed);
        assert_eq!(read(&p), Err(ReadError::Busy));
    }

    #[test]
    fn the_interval_grows_turns_void_and_sees_a_migration() {
        let s = snap();
        let real = 1_700_000_002_000_000_000;
        // 2 s on: 100 + 50 × 2 = 200 ns.
        let i = s.interval_at(12_000_000_000, real, Some(7)).unwrap();
        assert_eq!((i.earliest_ns, i.latest_ns), (real - 200, real + 200));
        assert_eq!(i.status, ServedStatus::Synchronized);
        // Rounded up: 1 ns of growth is 1 ns.
        let i = s.interval_at(10_000_000_001, real, None).unwrap();
        assert_eq!(i.latest_ns - real, 101);
        // Void: unknown (the interval still grows).
        let i = s.interval_at(20_000_000_000, real, Some(7)).unwrap();
        assert_eq!(i.status, ServedStatus::Unknown);
        assert_eq!(i.latest_ns - real, 600);
        // A new vmclock marker: disrupted at once.
        let i = s.interval_at(11_000_000_000, real, Some(8)).unwrap();
        assert_eq!(i.status, ServedStatus::Disrupted);
        // Slightly before as_of: as at as_of; further: a breach.
        assert!(s.interval_at(9_999_999_500, real, None).is_ok());
        assert_eq!(
            s.interval_at(9_000_000_000, real, None),
            Err(ReadError::CausalityBreach)
        );
        // No bound: unknown, and the interval is everything.
        let none = Snapshot {
            bound_ns: u64::MAX,
            ..s
        };
        let i = none.interval_at(10_000_000_000, real, None).unwrap();
        assert_eq!(i.status, ServedStatus::Unknown);
        assert_eq!(i.latest_ns, i64::MAX);
    }

    #[test]
    fn the_coarse_read_grows_at_least_as_much() {
        let s = snap();
        let real0 = s.as_of_real_ns;
        // 2 s on both clocks: as the fine read.
        let fine = s.interval_at(12_000_000_000, real0 + 2_000_000_000, Some(7));
        let coarse = s.interval_at_coarse(12_000_000_000, real0 + 2_000_000_000, Some(7));
        assert_eq!(fine, coarse);
        // The coarse clock a tick behind: the realtime clock counts.
        let i = s
            .interval_at_coarse(11_996_000_000, real0 + 2_000_000_000, None)
            .unwrap();
        assert_eq!(i.latest_ns - i.earliest_ns, 2 * 200);
        // The realtime clock stepped back 1 s (a leap second, a foreign
        // step that still leaves it after the snapshot): the coarse clock
        // counts.
        let i = s
            .interval_at_coarse(12_000_000_000, real0 + 1_000_000_000, None)
            .unwrap();
        assert_eq!(i.latest_ns - i.earliest_ns, 2 * 200);
        // Stepped back before the snapshot: a breach, not an interval.
        assert_eq!(
            s.interval_at_coarse(12_000_000_000, real0 - 5_000, None),
            Err(ReadError::CausalityBreach)
        );
        assert!(
            s.interval_at_coarse(10_000_000_000, real0 - 500, None)
                .is_ok()
        );
        // Void by either clock.
        let i = s
            .interval_at_coarse(20_000_000_000, real0 + 1, None)
            .unwrap();
        assert_eq!(i.status, ServedStatus::Unknown);
        let i = s
            .interval_at_coarse(10_000_000_000, real0 + 10_000_000_000, None)
            .unwrap();
        assert_eq!(i.status, ServedStatus::Unknown);
        // A huge growth takes the 128-bit path and saturates.
        let wide = Snapshot {
            growth_ppb: u64::MAX / 2,
            ..s
        };
        let i = wide
            .interval_at(12_000_000_000, real0 + 2_000_000_000, None)
            .unwrap();
        assert_eq!(i.latest_ns, i64::MAX);
        assert_eq!(i.earliest_ns, real0 + 2_000_000_000 - i64::MAX);
    }
}

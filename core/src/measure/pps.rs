//! Which second a pulse marks: PPS edges labelled from a time-of-day source.
//!
//! A pulse per second gives the phase and nothing else; a time-of-day source
//! (NMEA from the receiver, gpsd, an NTP server, the system clock) names the
//! second, but late and with hundreds of ms of jitter. [`Labeller`] joins the
//! two, as chrony's `lock` and ts2phc do, and then counts seconds on from
//! the pulses themselves:
//!
//! - **Edges.** An edge is accepted when it lies a whole number of periods
//!   (1 s) after the last accepted one, within [`PpsConfig::edge_tolerance`]
//!   plus [`PpsConfig::max_freq_error_ppm`] per period; the periods skipped
//!   are reported as missed pulses. Any other edge is a wrong edge and is
//!   rejected (a glitch, the trailing edge of the pulse, see
//!   [`PpsConfig::pulse_width`]). When [`PpsConfig::reanchor_after`]
//!   rejected edges in a row fit each other, the pulse has moved (or the
//!   local clock was stepped and nobody said): the labeller starts again on
//!   them.
//! - **Time of day.** A [`Tod`] names a UTC second and the local time at
//!   which that second began, as the source sees it. For NMEA that is the
//!   time the sentence arrived less a nominal delay, [`NMEA_DELAY`] = 0.5 s
//!   by default: ts2phc's rule that a sentence belongs to the *previous*
//!   pulse (it arrives 0–1 s after it). A time of day labels an edge only when it
//!   lies within ±[`PpsConfig::window_unlocked`] (< 0.5 s) of it, and within
//!   ±[`PpsConfig::window_locked`] (0.4 s, chrony's limit) once locked;
//!   otherwise it is ambiguous and ignored.
//! - **Lock.** While acquiring, the last edge takes its second from the
//!   time of day, and the next edges count on from it; after
//!   [`PpsConfig::lock_after`] edges whose time of day agreed with the count, the
//!   labeller is locked and only then hands out [`LabelledEdge`]s. Locked,
//!   the pulses keep the count: a time of day that disagrees is a counted wrong
//!   second and is not followed, unless [`PpsConfig::follow_after`] edges in
//!   a row get time-of-day readings that agree with each other on the same new count (a
//!   receiver that jumped).
//! - **Delay.** The cable and antenna delay [`PpsConfig::cable_delay`] is
//!   taken off each edge: positive = the pulse reaches the input after the
//!   second began.
//! - **Leap seconds.** Labels count the way Linux's `CLOCK_REALTIME` does:
//!   an inserted 23:59:60 is labelled with 23:59:59's Unix second and
//!   [`UtcSecond::leap`] set, and a deleted 23:59:59 does not occur. The
//!   leap comes from [`Labeller::set_leap`] (the engine's table, the kernel),
//!   from a time of day that announces one ([`Tod::leap`]), or from one that names
//!   23:59:60 (NMEA has no warning: then the pulse of 23:59:60 has already
//!   been handed out as 00:00:00, and the count is corrected from the next).
//!
//! Everything is integer arithmetic on the caller's timestamps; no input
//! panics (the `pps` fuzz target). Signs: `offset = local − UTC`, positive
//! means the local clock is ahead.

#![cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]

use core::fmt;

use crate::time::{Duration, Leap, LeapKind, Timestamp};
use crate::wire::nmea;

/// The pulse period, ns.
const PERIOD_NS: i64 = 1_000_000_000;
/// Seconds in a day without a leap.
const DAY_SECS: u64 = 86_400;

/// The default nominal delay of an NMEA sentence after the pulse it names:
/// half a period, so an edge is named by a sentence that arrives 0–1 s after
/// it (ts2phc's rule: a sentence belongs to the previous pulse).
pub const NMEA_DELAY: Duration = Duration::from_millis(500);

/// One second of UTC, counted as Linux does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct UtcSecond {
    /// Unix seconds at its start (UTC, since 1970).
    pub unix_secs: u64,
    /// It is an inserted leap second, 23:59:60 (then `unix_secs` is that of
    /// 23:59:59, which Linux shows twice).
    pub leap: bool,
}

impl UtcSecond {
    /// An ordinary second.
    pub const fn new(unix_secs: u64) -> Self {
        Self {
            unix_secs,
            leap: false,
        }
    }

    /// Its start as a timestamp (wraps in 2554, as [`Timestamp`] does).
    pub const fn start(self) -> Timestamp {
        Timestamp::from_secs_nanos(self.unix_secs, 0)
    }

    /// A linear count of seconds: Unix seconds, plus one after an inserted
    /// leap second (and in it), minus one after a deleted one. `None` for a
    /// `leap` flag that is not the announced insertion, or on overflow.
    fn index(self, leap: Option<LeapSecond>) -> Option<i64> {
        let s = i64::try_from(self.unix_secs).ok()?;
        match leap {
            Some(l) if l.kind == LeapKind::Insert => {
                let m = i64::try_from(l.midnight).ok()?;
                if self.leap && s.checked_add(1)? != m {
                    return None;
                }
                s.checked_add(i64::from(s >= m))?
                    .checked_add(i64::from(self.leap))
            }
            Some(l) if !self.leap => {
                let m = i64::try_from(l.midnight).ok()?;
                s.checked_sub(i64::from(s >= m))
            }
            Some(_) => None,
            None if self.leap => None,
            None => Some(s),
        }
    }

    fn from_index(i: i64, leap: Option<LeapSecond>) -> Option<Self> {
        let m = leap.and_then(|l| i64::try_from(l.midnight).ok());
        let (s, flag) = match (leap.map(|l| l.kind), m) {
            (Some(LeapKind::Insert), Some(m)) if i == m => (m.checked_sub(1)?, true),
            (Some(LeapKind::Insert), Some(m)) if i > m => (i.checked_sub(1)?, false),
            (Some(LeapKind::Delete), Some(m)) if i >= m.checked_sub(1)? => {
                (i.checked_add(1)?, false)
            }
            _ => (i, false),
        };
        Some(Self {
            unix_secs: u64::try_from(s).ok()?,
            leap: flag,
        })
    }

    /// The second `k` seconds later (earlier for `k < 0`), across `leap`.
    fn step(self, k: i64, leap: Option<LeapSecond>) -> Option<Self> {
        Self::from_index(self.index(leap)?.checked_add(k)?, leap)
    }
}

/// A leap second at the end of a UTC day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LeapSecond {
    /// Unix seconds of the midnight after it (the first second of the next
    /// day).
    pub midnight: u64,
    /// Inserted (23:59:60) or deleted (no 23:59:59).
    pub kind: LeapKind,
}

impl From<Leap> for LeapSecond {
    fn from(l: Leap) -> Self {
        Self {
            midnight: l.unix_secs,
            kind: l.kind,
        }
    }
}

/// What a time-of-day source says about a leap second at the end of the
/// current UTC day.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TodLeap {
    /// The source does not say (NMEA).
    #[default]
    Unknown,
    /// No leap second today.
    None,
    /// This leap second at the end of today.
    Pending(LeapKind),
}

/// A time-of-day reading: the UTC second a source names, and the local time
/// at which that second began as the source sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Tod {
    /// The second the source names.
    pub second: UtcSecond,
    /// The local clock at the start of `second`, by this reading (for NMEA:
    /// when the sentence arrived, less its nominal delay).
    pub local: Timestamp,
    /// The leap second the source announces for the end of the day.
    pub leap: TodLeap,
}

impl Tod {
    /// A sentence that names `second` and arrived at local time `received`,
    /// `delay` (≥ 0, nominally [`NMEA_DELAY`]) after the pulse it names.
    pub const fn nmea(second: UtcSecond, received: Timestamp, delay: Duration) -> Self {
        Self {
            second,
            local: received.wrapping_sub(delay),
            leap: TodLeap::Unknown,
        }
    }

    /// A clock-like reading: the source said UTC `utc` at local time
    /// `local` (a PHC, NTP, the system clock: the first edge of `utc`'s
    /// second is then `subsec(utc)` before `local`).
    pub fn reading(utc: Timestamp, local: Timestamp) -> Self {
        Self {
            second: UtcSecond::new(utc.secs()),
            local: local.wrapping_sub(Duration::from_nanos(i64::from(utc.subsec_nanos()))),
            leap: TodLeap::Unknown,
        }
    }

    /// The time of day in a parsed sentence that arrived at local time `received`,
    /// `delay` after the pulse it names: from a valid RMC, or from a ZDA
    /// (which carries no validity: pass it only while RMC or GGA report a
    /// fix). `None` for GGA (no date), others, and an invalid RMC.
    pub fn from_nmea(
        sentence: &nmea::Repr<'_>,
        received: Timestamp,
        delay: Duration,
    ) -> Option<Self> {
        let utc = match sentence {
            nmea::Repr::Rmc(r) if r.is_valid() => r.utc()?,
            nmea::Repr::Zda(z) => z.utc()?,
            _ => return None,
        };
        let whole = crate::time::UtcDateTime {
            time: crate::time::TimeOfDay {
                nanos: 0,
                ..utc.time
            },
            ..utc
        };
        let secs = whole.to_timestamp()?.secs();
        let second = UtcSecond {
            unix_secs: secs,
            leap: utc.time.is_leap_second(),
        };
        let late = delay.saturating_add(Duration::from_nanos(i64::from(utc.time.nanos)));
        Some(Self::nmea(second, received, late))
    }
}

/// One captured PPS edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PpsEdge {
    /// The local clock (the clock being steered) when the edge was captured
    /// (`PPS_FETCH`'s assert time, a PHC's external timestamp).
    pub local: Timestamp,
    /// The capture's uncertainty, ns (≥ 0).
    pub uncertainty: Duration,
}

/// How to label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PpsConfig {
    /// Cable and antenna delay, taken off every edge: positive = the pulse
    /// is captured after the second began (ns; about 5 ns per metre of coax).
    pub cable_delay: Duration,
    /// How far an edge may be from a whole number of periods after the last
    /// accepted edge, beyond the frequency allowance (default 1 ms).
    pub edge_tolerance: Duration,
    /// The local clock's largest frequency error, ppm: the allowance grows
    /// by this much per period of a gap (default 500, the kernel's limit).
    pub max_freq_error_ppm: u32,
    /// The longest gap counted across, in periods (default 30); after a
    /// longer one the labeller starts again from the time of day.
    pub max_gap: u32,
    /// The pulse's width when the device captures both edges: an edge this
    /// long (± `edge_tolerance`) after the previous one is its trailing edge
    /// and is rejected. `None` (default) when one edge is captured.
    pub pulse_width: Option<Duration>,
    /// A time of day must lie within this of the edge it names while acquiring
    /// (default 499.999999 ms: anything < 0.5 s).
    pub window_unlocked: Duration,
    /// … and once locked (default 400 ms, chrony's `lock` limit).
    pub window_locked: Duration,
    /// A time of day names an edge at most this far from its second (default 3 s).
    pub max_tod_age: Duration,
    /// Edges whose time of day agreed with the count, to lock (default 3).
    pub lock_after: u8,
    /// Edges in a row whose time-of-day readings agree with each other but not with the
    /// locked count, to follow them (default 5).
    pub follow_after: u8,
    /// Rejected edges in a row that fit each other, to start again on them
    /// (default 3).
    pub reanchor_after: u8,
}

impl Default for PpsConfig {
    fn default() -> Self {
        Self {
            cable_delay: Duration::ZERO,
            edge_tolerance: Duration::from_millis(1),
            max_freq_error_ppm: 500,
            max_gap: 30,
            pulse_width: None,
            window_unlocked: Duration::from_nanos(499_999_999),
            window_locked: Duration::from_millis(400),
            max_tod_age: Duration::from_secs(3),
            lock_after: 3,
            follow_after: 5,
            reanchor_after: 3,
        }
    }
}

/// A pulse with its second: the sample the engine uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LabelledEdge {
    /// The UTC second whose start the pulse marks.
    pub second: UtcSecond,
    /// The local clock at that instant: the captured edge less the cable
    /// delay.
    pub local: Timestamp,
    /// `local − UTC`: positive means the local clock is ahead.
    pub offset: Duration,
    /// The edge's uncertainty, ns.
    pub uncertainty: Duration,
    /// Pulses missed since the previous accepted edge.
    pub missed: u32,
}

/// Why an edge was not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum EdgeRejection {
    /// Not a whole number of periods after the last accepted edge: `error`
    /// is how far from the nearest one (positive = late), ns.
    WrongEdge {
        /// Distance from the nearest whole period, ns.
        error: Duration,
    },
    /// The trailing edge of a pulse ([`PpsConfig::pulse_width`]).
    TrailingEdge,
    /// The last accepted edge again.
    Duplicate,
}

impl fmt::Display for EdgeRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::WrongEdge { error } => write!(
                f,
                "PPS edge {error} away from a whole second after the last one: a wrong edge"
            ),
            Self::TrailingEdge => f.write_str("PPS edge is the pulse's trailing edge"),
            Self::Duplicate => f.write_str("PPS edge is the last one again"),
        }
    }
}

impl core::error::Error for EdgeRejection {}

/// What became of an edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EdgeOutcome {
    /// Locked: the edge and its second.
    Labelled(LabelledEdge),
    /// Accepted, but not locked yet: do not use it.
    Acquiring {
        /// The second the time of day and the count give it so far, if any.
        second: Option<UtcSecond>,
        /// Edges whose time of day agreed so far.
        agreeing: u8,
        /// Pulses missed since the previous accepted edge.
        missed: u32,
    },
    /// Not a pulse of the train.
    Rejected(EdgeRejection),
}

/// What became of a time-of-day reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TodOutcome {
    /// It names the second the count gives the last edge.
    Agrees,
    /// It agrees, and the labeller is now locked.
    Locked,
    /// Acquiring: the last edge takes its second from it (`by` = the
    /// change from the count, 0 when the edge had none).
    Adopted {
        /// Seconds between its second and the count before, 0 if none.
        by: i64,
    },
    /// Locked, and it names another second (`by` = its second − the
    /// count's); not followed. `in_a_row` edges have had such readings agreeing
    /// with each other.
    WrongSecond {
        /// Seconds ahead of the count.
        by: i64,
        /// Consecutive edges with this same disagreement.
        in_a_row: u8,
    },
    /// Several in a row agreed on another second: the count moved by `by`
    /// seconds (the receiver jumped).
    Followed {
        /// Seconds the labels moved.
        by: i64,
    },
    /// More than the window from the nearest edge: which one it names is
    /// unclear (`residual` = time of day − edge, ns).
    Ambiguous {
        /// Time of day − nearest edge, ns.
        residual: Duration,
    },
    /// No edge near enough to name (none yet, or the last is older than
    /// [`PpsConfig::max_tod_age`]); kept for the next edge.
    NoEdge,
}

/// What the labeller has seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PpsCounters {
    /// Edges offered.
    pub edges: u64,
    /// Edges handed out labelled.
    pub labelled: u64,
    /// Edges rejected as wrong.
    pub wrong_edges: u64,
    /// Trailing edges rejected.
    pub trailing_edges: u64,
    /// Duplicates rejected.
    pub duplicates: u64,
    /// Pulses missed (gaps inside accepted runs).
    pub missed_pulses: u64,
    /// Times the labeller started again on a moved pulse train.
    pub reanchors: u64,
    /// Times it started again after a gap longer than `max_gap`.
    pub long_gaps: u64,
    /// Time-of-day readings offered.
    pub tods: u64,
    /// Time-of-day readings that agreed with the count.
    pub tods_agreeing: u64,
    /// Time-of-day readings naming another second while locked.
    pub wrong_seconds: u64,
    /// Time-of-day readings outside the window.
    pub ambiguous_tods: u64,
    /// Time-of-day readings with no edge near enough.
    pub tods_without_edge: u64,
    /// Jumps followed.
    pub jumps_followed: u64,
    /// Times it locked.
    pub locks: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Anchor {
    local: Timestamp,
    second: Option<UtcSecond>,
    /// Which accepted edge this is (1, 2, …).
    no: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct WrongRun {
    by: i64,
    count: u8,
    edge: u64,
}

/// Labels PPS edges with UTC seconds: see the [module docs](self).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Labeller {
    cfg: PpsConfig,
    leap: Option<LeapSecond>,
    anchor: Option<Anchor>,
    last_raw: Option<Timestamp>,
    candidate: Option<(Timestamp, u8)>,
    tod: Option<Tod>,
    locked: bool,
    agreeing: u8,
    confirmed: u64,
    wrong: Option<WrongRun>,
    edges_accepted: u64,
    counters: PpsCounters,
}

/// `(n, error)`: the nearest whole number of periods in `d` and what is
/// left, `error ∈ [−½, ½)` period.
fn periods(d: Duration) -> (i64, Duration) {
    let ns = d.as_nanos();
    let n = ns.saturating_add(PERIOD_NS / 2).div_euclid(PERIOD_NS);
    let rest = ns.saturating_sub(n.saturating_mul(PERIOD_NS));
    (n, Duration::from_nanos(rest))
}

impl Labeller {
    /// A labeller that has seen nothing.
    pub const fn new(cfg: PpsConfig) -> Self {
        Self {
            cfg,
            leap: None,
            anchor: None,
            last_raw: None,
            candidate: None,
            tod: None,
            locked: false,
            agreeing: 0,
            confirmed: 0,
            wrong: None,
            edges_accepted: 0,
            counters: PpsCounters {
                edges: 0,
                labelled: 0,
                wrong_edges: 0,
                trailing_edges: 0,
                duplicates: 0,
                missed_pulses: 0,
                reanchors: 0,
                long_gaps: 0,
                tods: 0,
                tods_agreeing: 0,
                wrong_seconds: 0,
                ambiguous_tods: 0,
                tods_without_edge: 0,
                jumps_followed: 0,
                locks: 0,
            },
        }
    }

    /// The configuration.
    pub const fn config(&self) -> &PpsConfig {
        &self.cfg
    }

    /// Is it locked (are edges handed out labelled)?
    pub const fn is_locked(&self) -> bool {
        self.locked
    }

    /// The second of the last accepted edge, if it has one.
    pub fn last_second(&self) -> Option<UtcSecond> {
        self.anchor.and_then(|a| a.second)
    }

    /// What it has seen.
    pub const fn counters(&self) -> PpsCounters {
        self.counters
    }

    /// The leap second it counts across.
    pub const fn leap(&self) -> Option<LeapSecond> {
        self.leap
    }

    /// Sets the leap second to count across (from a leap table or the
    /// kernel), or none. Labels already given stay as they are.
    pub fn set_leap(&mut self, leap: Option<LeapSecond>) {
        self.leap = leap;
    }

    /// The local clock was stepped by `delta` (positive = forward): the
    /// stored local times move with it.
    pub fn apply_step(&mut self, delta: Duration) {
        if let Some(a) = self.anchor.as_mut() {
            a.local = a.local.wrapping_add(delta);
        }
        if let Some(t) = self.last_raw.as_mut() {
            *t = t.wrapping_add(delta);
        }
        if let Some((t, _)) = self.candidate.as_mut() {
            *t = t.wrapping_add(delta);
        }
        if let Some(t) = self.tod.as_mut() {
            t.local = t.local.wrapping_add(delta);
        }
    }

    /// Forgets the pulse train and the lock (after a suspend, a migration);
    /// keeps the configuration, the leap second and the counters.
    pub fn reset(&mut self) {
        *self = Self {
            cfg: self.cfg,
            leap: self.leap,
            counters: self.counters,
            ..Self::new(self.cfg)
        };
    }

    /// `edge_tolerance` + the frequency allowance for `n` periods.
    fn tolerance(&self, n: i64) -> Duration {
        let per_period = i64::from(self.cfg.max_freq_error_ppm).saturating_mul(1_000);
        self.cfg.edge_tolerance.saturating_add(Duration::from_nanos(
            per_period.saturating_mul(n.saturating_abs()),
        ))
    }

    /// Is `d` a whole number `n ≥ 1` of periods, within tolerance?
    fn whole_periods(&self, d: Duration) -> Option<i64> {
        let (n, err) = periods(d);
        (n >= 1 && err.saturating_abs() <= self.tolerance(n)).then_some(n)
    }

    /// The second `tod` gives the edge at local `t`, with the residual, if
    /// it lies within `window`.
    fn name_edge(
        &self,
        tod: &Tod,
        t: Timestamp,
        window: Duration,
    ) -> Result<UtcSecond, TodOutcome> {
        let d = t.duration_since(tod.local);
        if d.saturating_abs() > self.cfg.max_tod_age {
            return Err(TodOutcome::NoEdge);
        }
        let (k, residual) = periods(d);
        // residual = edge − time of day; report time of day − edge.
        let residual = residual.saturating_neg();
        if residual.saturating_abs() > window {
            return Err(TodOutcome::Ambiguous { residual });
        }
        tod.second
            .step(k, self.leap)
            .ok_or(TodOutcome::Ambiguous { residual })
    }

    fn window(&self) -> Duration {
        if self.locked {
            self.cfg.window_locked
        } else {
            self.cfg.window_unlocked
        }
    }

    /// Starts a new pulse train at `t`, unlocked.
    fn start(&mut self, t: Timestamp) -> Option<UtcSecond> {
        self.locked = false;
        self.agreeing = 0;
        self.wrong = None;
        self.candidate = None;
        let window = self.cfg.window_unlocked;
        self.tod
            .and_then(|tod| self.name_edge(&tod, t, window).ok())
    }

    /// Takes one captured edge.
    pub fn on_edge(&mut self, edge: PpsEdge) -> EdgeOutcome {
        let c = &mut self.counters;
        c.edges = c.edges.saturating_add(1);
        let t = edge.local.wrapping_sub(self.cfg.cable_delay);
        let raw = self.last_raw.replace(t);
        if let (Some(w), Some(p)) = (self.cfg.pulse_width, raw) {
            let off = t.duration_since(p).saturating_sub(w);
            if off.saturating_abs() <= self.cfg.edge_tolerance {
                c.trailing_edges = c.trailing_edges.saturating_add(1);
                return EdgeOutcome::Rejected(EdgeRejection::TrailingEdge);
            }
        }
        let (second, missed) = match self.anchor {
            None => (self.start(t), 0),
            Some(a) => {
                let d = t.duration_since(a.local);
                if d.saturating_abs() <= self.cfg.edge_tolerance {
                    let c = &mut self.counters;
                    c.duplicates = c.duplicates.saturating_add(1);
                    return EdgeOutcome::Rejected(EdgeRejection::Duplicate);
                }
                match self.whole_periods(d) {
                    Some(n) if n > i64::from(self.cfg.max_gap) => {
                        let c = &mut self.counters;
                        c.long_gaps = c.long_gaps.saturating_add(1);
                        (self.start(t), 0)
                    }
                    Some(n) => {
                        self.candidate = None;
                        let missed = u32::try_from(n.saturating_sub(1)).unwrap_or(u32::MAX);
                        let c = &mut self.counters;
                        c.missed_pulses = c.missed_pulses.saturating_add(u64::from(missed));
                        (a.second.and_then(|s| s.step(n, self.leap)), missed)
                    }
                    None => match self.wrong_edge(t, d) {
                        Ok(second) => (second, 0),
                        Err(r) => return EdgeOutcome::Rejected(r),
                    },
                }
            }
        };
        self.edges_accepted = self.edges_accepted.saturating_add(1);
        let second = second.or_else(|| {
            let window = self.cfg.window_unlocked;
            self.tod
                .and_then(|tod| self.name_edge(&tod, t, window).ok())
        });
        self.anchor = Some(Anchor {
            local: t,
            second,
            no: self.edges_accepted,
        });
        match second {
            Some(s) if self.locked => {
                let c = &mut self.counters;
                c.labelled = c.labelled.saturating_add(1);
                EdgeOutcome::Labelled(LabelledEdge {
                    second: s,
                    local: t,
                    offset: t.duration_since(s.start()),
                    uncertainty: edge.uncertainty,
                    missed,
                })
            }
            _ => EdgeOutcome::Acquiring {
                second,
                agreeing: self.agreeing,
                missed,
            },
        }
    }

    /// An edge off the train: rejected, unless enough such edges in a row
    /// fit each other (then the train starts again on it: `Ok`).
    fn wrong_edge(
        &mut self,
        t: Timestamp,
        d: Duration,
    ) -> Result<Option<UtcSecond>, EdgeRejection> {
        let run = match self.candidate {
            Some((c, k)) if self.whole_periods(t.duration_since(c)).is_some() => {
                k.saturating_add(1)
            }
            _ => 1,
        };
        if run >= self.cfg.reanchor_after {
            let c = &mut self.counters;
            c.reanchors = c.reanchors.saturating_add(1);
            return Ok(self.start(t));
        }
        self.candidate = Some((t, run));
        let c = &mut self.counters;
        c.wrong_edges = c.wrong_edges.saturating_add(1);
        Err(EdgeRejection::WrongEdge {
            error: periods(d).1,
        })
    }

    /// Takes one time-of-day reading.
    pub fn on_tod(&mut self, tod: Tod) -> TodOutcome {
        let c = &mut self.counters;
        c.tods = c.tods.saturating_add(1);
        let announced = match tod.leap {
            _ if tod.second.leap => Some(LeapKind::Insert),
            TodLeap::Pending(kind) => Some(kind),
            TodLeap::None | TodLeap::Unknown => None,
        };
        if let Some(kind) = announced {
            let day = tod.second.unix_secs.checked_div(DAY_SECS).unwrap_or(0);
            let midnight = day.saturating_add(1).saturating_mul(DAY_SECS);
            let leap = Some(LeapSecond { midnight, kind });
            let old = self.leap.replace(LeapSecond { midnight, kind });
            if old != leap && tod.second.leap {
                // Learnt in the leap second itself: the pulses counted into
                // it without knowing, so the count is re-read with it.
                if let Some(a) = self.anchor.as_mut() {
                    a.second = a
                        .second
                        .and_then(|s| UtcSecond::from_index(s.index(old)?, leap));
                }
            }
        }
        self.tod = Some(tod);
        let out = self.check_tod(&tod);
        let c = &mut self.counters;
        match out {
            TodOutcome::NoEdge => c.tods_without_edge = c.tods_without_edge.saturating_add(1),
            TodOutcome::Ambiguous { .. } => c.ambiguous_tods = c.ambiguous_tods.saturating_add(1),
            TodOutcome::Agrees | TodOutcome::Locked => {
                c.tods_agreeing = c.tods_agreeing.saturating_add(1);
            }
            TodOutcome::WrongSecond { .. } => c.wrong_seconds = c.wrong_seconds.saturating_add(1),
            TodOutcome::Followed { .. } => {
                c.wrong_seconds = c.wrong_seconds.saturating_add(1);
                c.jumps_followed = c.jumps_followed.saturating_add(1);
            }
            TodOutcome::Adopted { .. } => {}
        }
        if out == TodOutcome::Locked {
            c.locks = c.locks.saturating_add(1);
        }
        out
    }

    fn check_tod(&mut self, tod: &Tod) -> TodOutcome {
        let Some(anchor) = self.anchor else {
            return TodOutcome::NoEdge;
        };
        let named = match self.name_edge(tod, anchor.local, self.window()) {
            Ok(s) => s,
            Err(out) => return out,
        };
        let Some(counted) = anchor.second else {
            self.set_anchor_second(named);
            return TodOutcome::Adopted { by: 0 };
        };
        let by = match (named.index(self.leap), counted.index(self.leap)) {
            (Some(a), Some(b)) => a.saturating_sub(b),
            _ => 0,
        };
        if by == 0 {
            self.wrong = None;
            if self.locked || self.confirmed == anchor.no {
                return TodOutcome::Agrees;
            }
            self.confirmed = anchor.no;
            self.agreeing = self.agreeing.saturating_add(1);
            if self.agreeing >= self.cfg.lock_after {
                self.locked = true;
                return TodOutcome::Locked;
            }
            return TodOutcome::Agrees;
        }
        if !self.locked {
            self.agreeing = 0;
            self.set_anchor_second(named);
            return TodOutcome::Adopted { by };
        }
        let count = match self.wrong {
            Some(w) if w.by == by && w.edge == anchor.no => w.count,
            Some(w) if w.by == by => w.count.saturating_add(1),
            _ => 1,
        };
        if count >= self.cfg.follow_after {
            self.wrong = None;
            self.set_anchor_second(named);
            return TodOutcome::Followed { by };
        }
        self.wrong = Some(WrongRun {
            by,
            count,
            edge: anchor.no,
        });
        TodOutcome::WrongSecond {
            by,
            in_a_row: count,
        }
    }

    fn set_anchor_second(&mut self, s: UtcSecond) {
        if let Some(a) = self.anchor.as_mut() {
            a.second = Some(s);
            self.confirmed = a.no;
        }
    }
}

#[cfg(test)]
mod tests;

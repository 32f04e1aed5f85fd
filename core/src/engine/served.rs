//! What applications are served: the bound at a time, how fast it grows,
//! and the clock's status, for a TrueTime-style `now()` that returns
//! `[t − bound(t), t + bound(t)]` from a published snapshot.
//!
//! A reader extrapolates the snapshot linearly:
//! `bound(t) = bound + growth × (t − as_of)`, up to `as_of + horizon`, after
//! which the snapshot is void. The servo's own bound is convex in time (a
//! wandering frequency makes it grow faster the further it is carried), so
//! the chord from `as_of` to `as_of + horizon` lies above it everywhere in
//! between: the growth served is that chord's slope, never less than
//! [`GROWTH_FLOOR_PPB`] for what the oscillator does outside the model.

use super::{Engine, SyncState};
use crate::servo::Servo;
use crate::time::{Duration, Timestamp};

/// The least growth rate served, ppb (ns per second): what an oscillator
/// may do that the servo's model does not describe (a temperature step, a
/// frequency jump not yet seen in the readings).
pub const GROWTH_FLOOR_PPB: u32 = 10;

/// The status served with a bound (`ClockBound`'s four, same meaning).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ServedStatus {
    /// No bound: not synchronised yet (or a servo without a bound).
    Unknown,
    /// Locked on a source, with a bound.
    Synchronized,
    /// No readings: the bound is carried on the last model (holdover).
    FreeRunning,
    /// A disruption (migration, resume) threw the estimate away and no new
    /// bound is known yet, or one was signalled and not yet handled.
    Disrupted,
}

impl ServedStatus {
    /// The lower-case name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Synchronized => "synchronized",
            Self::FreeRunning => "free-running",
            Self::Disrupted => "disrupted",
        }
    }
}

/// The bound served at one sink time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Served {
    /// The status.
    pub status: ServedStatus,
    /// The bound on |sink − true time| at the snapshot's time
    /// ([`Duration::MAX`] without one).
    pub bound: Duration,
    /// How fast the bound grows, ppb (ns per second of sink time): the
    /// servo's bound over the horizon, never below [`GROWTH_FLOOR_PPB`].
    pub growth_ppb: u32,
}

impl<S: Servo> Engine<S> {
    /// The bound served at sink time `t` and its growth rate, valid until
    /// `t + horizon` (the snapshot's void time). `horizon` is clamped to at
    /// least 1 s. Not on the sample path: one 64-bit division.
    pub fn served_at(&self, t: Timestamp, horizon: Duration) -> Served {
        let disrupted = self.pending.is_some();
        let (Some(b0), false) = (self.bound_at(t), disrupted) else {
            let status = if disrupted || self.status.counters.disruptions > 0 {
                ServedStatus::Disrupted
            } else {
                ServedStatus::Unknown
            };
            return Served {
                status,
                bound: Duration::MAX,
                growth_ppb: u32::MAX,
            };
        };
        let h_ns = horizon.as_nanos().max(1_000_000_000).unsigned_abs();
        let h = Duration::from_nanos(i64::try_from(h_ns).unwrap_or(i64::MAX));
        let b1 = self.bound_at(t.wrapping_add(h)).unwrap_or(Duration::MAX);
        // ns over h_ns ns, in ns per second: rise × 1e9 / h, rounded up.
        let rise = b1.saturating_sub(b0).unsigned_abs_nanos();
        let growth = rise
            .checked_mul(1_000_000_000)
            .map_or(u64::MAX, |r| r.div_ceil(h_ns));
        let growth_ppb = u32::try_from(growth)
            .unwrap_or(u32::MAX)
            .max(GROWTH_FLOOR_PPB);
        let status = match self.status.state {
            SyncState::Holdover => ServedStatus::FreeRunning,
            SyncState::Locked | SyncState::LockedStable => ServedStatus::Synchronized,
            // A bound without a lock (stepping): served, not synchronised.
            SyncState::Unlocked | SyncState::Jump => ServedStatus::FreeRunning,
        };
        Served {
            status,
            bound: b0,
            growth_ppb,
        }
    }
}

//! What a guest's keel tells its host's monitor over KTP
//! ([`crate::wire::ktp::GuestStatus`]): the engine's snapshot, with the
//! kernel status as written.

use super::{Engine, LeapBits, ServedStatus, SourceKind, SyncState};
use crate::servo::Servo;
use crate::time::{Duration, Timestamp};
use crate::wire::ktp::GuestStatus;

impl<S: Servo> Engine<S> {
    /// The status a KTP status reply carries, at loop time `now_ns` and sink
    /// time `at`. The caller fills in what the engine does not know: the
    /// daemon's `epoch`, `version`, `uptime_ns` and `control_enabled`.
    pub fn guest_status(&self, now_ns: u64, at: Timestamp) -> GuestStatus {
        let st = &self.status;
        let kernel = self.kernel_status(st.bound);
        let served = self.served_at(at, Duration::from_secs(1));
        GuestStatus {
            state: match st.state {
                SyncState::Unlocked => 0,
                SyncState::Jump => 1,
                SyncState::Locked => 2,
                SyncState::LockedStable => 3,
                SyncState::Holdover => 4,
            },
            source: match st
                .source
                .and_then(|s| self.sources.get(usize::from(s.0))?.as_ref())
            {
                None => 0,
                Some(c) => match c.kind {
                    SourceKind::Phc => 1,
                    SourceKind::Ntp => 2,
                    SourceKind::Pps => 3,
                },
            },
            served: match served.status {
                ServedStatus::Unknown => 0,
                ServedStatus::Synchronized => 1,
                ServedStatus::FreeRunning => 2,
                ServedStatus::Disrupted => 3,
            },
            unsync: kernel.unsync,
            control_enabled: false,
            phc_rejected: self.jury.rejected,
            leap: match kernel.leap {
                LeapBits::Insert => 1,
                LeapBits::Delete => 2,
                LeapBits::None | LeapBits::Keep => 0,
            },
            tai_offset: kernel.tai_offset,
            epoch: 0,
            generation: st.generation(),
            offset_ns: st.last_offset.map(Duration::as_nanos),
            bound_ns: st.bound.map(Duration::unsigned_abs_nanos),
            maxerror_us: kernel.maxerror_us,
            esterror_us: kernel.esterror_us,
            freq_bits: st.freq.to_bits(),
            steps: st.counters.steps,
            disruptions: st.counters.disruptions,
            updates: st.counters.updates,
            uptime_ns: 0,
            update_age_ns: (st.counters.updates > 0)
                .then(|| now_ns.saturating_sub(st.last_update_ns)),
            version: [0; 16],
        }
    }
}

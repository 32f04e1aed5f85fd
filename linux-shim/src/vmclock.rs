//! The vmclock device (`/dev/vmclock0`, Linux `ptp_vmclock`): keel watches its
//! *disruption marker*, which the hypervisor changes after every event that
//! disrupts the guest's counter (live migration, snapshot restore). A change
//! means "throw away your estimate": keel hands the servo a disruption at once
//! instead of discovering the new frequency from a run of bad readings.
//!
//! The device's `read()` returns a consistent copy of the shared page (the
//! driver does the `seq_count` dance); keel parses it with
//! `keel_core::wire::vmclock` and only compares markers, so a page it cannot
//! fully interpret still serves as a disruption signal.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use keel_core::wire::vmclock::{ClockStatus, Snapshot};

/// Watches one vmclock device.
#[derive(Debug)]
pub struct VmclockWatch {
    path: PathBuf,
    file: File,
    /// `(disruption_marker, vm_generation_counter)` at the last read.
    last: Option<(u64, Option<u64>)>,
    /// The host's `clock_status` at the last read.
    status: Option<ClockStatus>,
}

impl VmclockWatch {
    /// Opens the device (read only).
    ///
    /// # Errors
    /// The `open(2)` error.
    pub fn open(path: &Path) -> io::Result<Self> {
        Ok(Self {
            path: path.to_path_buf(),
            file: File::open(path)?,
            last: None,
            status: None,
        })
    }

    /// The disruption marker at the last successful read.
    pub fn marker(&self) -> Option<u64> {
        self.last.map(|l| l.0)
    }

    /// What the host says of its clock at the last read: synchronised or
    /// not (`INITIALIZING`, `FREERUNNING`, `UNRELIABLE`); `None` when it does
    /// not say (`UNKNOWN`, a value this codec does not know) or nothing was
    /// read.
    pub fn host_synchronised(&self) -> Option<bool> {
        match self.status? {
            ClockStatus::Synchronized => Some(true),
            ClockStatus::Initializing | ClockStatus::FreeRunning | ClockStatus::Unreliable => {
                Some(false)
            }
            ClockStatus::Unknown | ClockStatus::Other(_) => None,
        }
    }

    /// Reads the page; `true` when the disruption marker or the VM generation
    /// counter changed since the last successful read. A page that cannot be
    /// read or parsed is skipped (logged at debug level), never fatal.
    pub fn poll(&mut self) -> bool {
        let mut page = [0u8; 4096];
        let n = match self.file.read_at(&mut page, 0) {
            Ok(n) => n,
            Err(e) => {
                crate::debug!("{}: {e}", self.path.display());
                return false;
            }
        };
        let Some(bytes) = page.get(..n) else {
            return false;
        };
        match Snapshot::parse(bytes) {
            Ok(s) if s.seq_count & 1 == 0 => {
                let now = (s.disruption_marker, s.vm_generation_counter);
                let changed = self.last.is_some_and(|l| l != now);
                self.last = Some(now);
                self.status = Some(s.clock_status);
                changed
            }
            Ok(_) => false, // update in progress: look again next time
            Err(e) => {
                crate::debug!("{}: {e}", self.path.display());
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_core::wire::vmclock::{
        ClockStatus, CounterId, Flags, LeapIndicator, SmearingHint, TimeType,
    };

    fn page(marker: u64, seq: u32) -> Vec<u8> {
        let s = Snapshot {
            size: 4096,
            counter_id: CounterId::X86Tsc,
            time_type: TimeType::Utc,
            seq_count: seq,
            disruption_marker: marker,
            flags: Flags(0),
            clock_status: ClockStatus::Synchronized,
            smearing_hint: SmearingHint::Strict,
            tai_offset_sec: 0,
            leap_indicator: LeapIndicator::None,
            counter_period_shift: 0,
            counter_value: 0,
            counter_period_frac_sec: 1,
            counter_period_esterror_rate_frac_sec: 0,
            counter_period_maxerror_rate_frac_sec: 0,
            time_sec: 0,
            time_frac_sec: 0,
            time_esterror_nanosec: 0,
            time_maxerror_nanosec: 0,
            vm_generation_counter: None,
        };
        let mut b = vec![0u8; 4096];
        let n = s.emit(&mut b).unwrap();
        b.truncate(n);
        b
    }

    #[test]
    fn a_changed_marker_is_a_disruption() {
        let dir = std::env::temp_dir().join(format!("keel-vmclock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("vmclock0");
        std::fs::write(&path, page(7, 2)).unwrap();
        let mut w = VmclockWatch::open(&path).unwrap();
        assert!(!w.poll(), "the first read only learns the marker");
        assert_eq!(w.host_synchronised(), Some(true));
        assert!(!w.poll());
        std::fs::write(&path, page(7, 3)).unwrap();
        assert!(!w.poll(), "an update in progress is skipped");
        std::fs::write(&path, page(8, 4)).unwrap();
        assert!(w.poll(), "a new marker is a disruption");
        assert!(!w.poll());
        std::fs::write(&path, b"not a page").unwrap();
        assert!(!w.poll(), "garbage is skipped");
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(VmclockWatch::open(&path).is_err());
    }
}

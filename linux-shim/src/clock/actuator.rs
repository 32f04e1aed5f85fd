//! The only code in keel that writes a clock, and the proof it needs.

#![allow(clippy::wildcard_imports)]

use super::*;

/// Proof that the caller is the real daemon (`keel sync` on a real clock,
/// not `--dry-run`, not `--clock sim`). Only `main` creates it.
pub struct RealDaemon(());

impl RealDaemon {
    /// For `keel sync` without `--clock sim` and without `--dry-run` only.
    pub fn i_am_keel_sync_on_the_system_clock() -> Self {
        Self(())
    }
}

/// Environment variable that forbids any clock write (tests set it).
pub const FORBID_WRITES_ENV: &str = "KEEL_FORBID_CLOCK_WRITES";

/// The only thing in keel that writes a clock: `CLOCK_REALTIME`, or a sink
/// PHC through [`LinuxPhc::adjtime`], which takes it as proof.
pub struct RealActuator(());

impl RealActuator {
    /// The actuator, for the real daemon only.
    ///
    /// # Errors
    /// Refused when [`FORBID_WRITES_ENV`] is set, and always in unit tests.
    pub fn new(_proof: RealDaemon) -> Result<Self, String> {
        if cfg!(test) || std::env::var_os(FORBID_WRITES_ENV).is_some() {
            return Err(format!(
                "clock writes are forbidden here ({FORBID_WRITES_ENV} is set); use --dry-run or --clock sim"
            ));
        }
        Ok(Self(()))
    }

    pub(super) fn apply(&self, mut t: libc::timex) -> io::Result<()> {
        // SAFETY: `t` is a fully initialised timex built by `crate::timex`;
        // the kernel reads it and writes back into it.
        let rc = unsafe { libc::clock_adjtime(libc::CLOCK_REALTIME, &raw mut t) };
        if rc < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    pub(super) fn apply_phc(&self, phc: &mut LinuxPhc, mut t: libc::timex) -> io::Result<()> {
        phc.adjtime(self, &mut t)
    }
}

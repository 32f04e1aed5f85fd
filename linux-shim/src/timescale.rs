//! Which time scale a source PHC carries: UTC or TAI.
//!
//! A wrong guess moves the system clock by the whole UTC–TAI difference
//! (37 s since 2017), so keel guesses only from names it knows or from
//! evidence, and says so:
//!
//! - `time_scale = "utc"` / `"tai"`: as configured, no questions asked.
//! - `time_scale = "auto"` (the default):
//!   - a hypervisor's PHC (`KVM virtual PTP`, `ptp_vmw`, `hyperv`,
//!     `vmclock*`) serves the host's `CLOCK_REALTIME`: UTC;
//!   - any other PHC (a NIC's under ptp4l, which keeps it on TAI, or one
//!     keel does not know) is read once against `CLOCK_REALTIME` at start:
//!     within [`EVIDENCE_TOLERANCE_S`] of the same time it is UTC; reading
//!     TAI − UTC ahead of the system clock (within the same tolerance) it is
//!     TAI, with a warning; anything else (the system clock itself is far
//!     off, or the PHC is *behind* by TAI − UTC) is ambiguous, and keel
//!     refuses to start until `time_scale` is set. chrony (`refclock PHC`
//!     without `tai`) and phc2sys (without `-w`/`-O`) would silently take
//!     such a clock for UTC; keel asks instead, because a system clock far
//!     off at start is exactly when a wrong guess would be stepped in.
//!
//! A scale chosen from evidence is a guess: the daemon then also refuses to
//! step by the UTC–TAI difference (`keel_core::engine::is_scale_step`).

use std::fmt;

use keel_core::time::Duration;

use crate::config::TimeScale;
use crate::phc::is_hypervisor_name;

/// How far (s) from 0 or from TAI − UTC the PHC − system clock difference
/// may be to count as evidence (an RTC-set or NTP-set system clock is
/// within a few seconds of UTC).
pub const EVIDENCE_TOLERANCE_S: i64 = 5;

/// Why a scale was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Basis {
    /// `time_scale = "utc"` or `"tai"`.
    Configured,
    /// A hypervisor's PHC, known to serve UTC.
    Hypervisor,
    /// Read against the system clock at start: a guess.
    Evidence,
    /// A PHC sink: no UTC/TAI shift between two PHCs.
    PhcPair,
}

/// The time scale to use for the source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Choice {
    /// Is the PHC on TAI (TAI − UTC is taken off its readings)?
    pub tai: bool,
    /// Why.
    pub basis: Basis,
}

impl Choice {
    /// Was the scale guessed (not configured, not known)? Then a step of
    /// the UTC–TAI difference is refused.
    pub fn guessed(self) -> bool {
        self.basis == Basis::Evidence
    }
}

/// Why keel would not guess.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The PHC could not be read at start.
    NoReading,
    /// PHC − system clock (ns) is neither near 0 nor near TAI − UTC.
    Ambiguous(i64),
}

/// PHC − `CLOCK_REALTIME` in ns from a reading's offset (which is
/// `CLOCK_REALTIME − PHC`: positive when the system clock is ahead).
pub fn phc_ahead_ns(sys_minus_phc: Duration) -> i64 {
    sys_minus_phc.as_nanos().saturating_neg()
}

/// Decides the source's time scale. A pure function of the PHC's clock name
/// (`None`: not in sysfs), `phc_ahead` (PHC − `CLOCK_REALTIME`, ns, read at
/// start; `None`: not read or no reading), the configured scale and
/// `tai_utc_offset` (s).
///
/// # Errors
/// [`Refusal`] when the scale is `auto`, the PHC is not a known
/// hypervisor clock and the evidence does not say which scale it is.
pub fn decide(
    name: Option<&str>,
    phc_ahead: Option<i64>,
    configured: TimeScale,
    tai_utc_s: i64,
) -> Result<Choice, Refusal> {
    match configured {
        TimeScale::Utc => {
            return Ok(Choice {
                tai: false,
                basis: Basis::Configured,
            });
        }
        TimeScale::Tai => {
            return Ok(Choice {
                tai: true,
                basis: Basis::Configured,
            });
        }
        TimeScale::Auto => {}
    }
    if name.is_some_and(is_hypervisor_name) {
        return Ok(Choice {
            tai: false,
            basis: Basis::Hypervisor,
        });
    }
    let ahead = phc_ahead.ok_or(Refusal::NoReading)?;
    let diff = tai_utc_s.saturating_mul(1_000_000_000);
    // The windows around 0 and TAI − UTC never overlap.
    let tol = if diff > 0 {
        (EVIDENCE_TOLERANCE_S * 1_000_000_000).min(diff / 4)
    } else {
        EVIDENCE_TOLERANCE_S * 1_000_000_000
    };
    let near = |target: i64| ahead.saturating_sub(target).unsigned_abs() <= tol.unsigned_abs();
    if near(0) {
        Ok(Choice {
            tai: false,
            basis: Basis::Evidence,
        })
    } else if diff > 0 && near(diff) {
        Ok(Choice {
            tai: true,
            basis: Basis::Evidence,
        })
    } else {
        Err(Refusal::Ambiguous(ahead))
    }
}

/// `37.000 s ahead of` / `2.500 s behind`.
fn ahead_words(ns: i64) -> String {
    #[allow(clippy::cast_precision_loss, reason = "display")]
    let s = ns as f64 / 1e9;
    if s >= 0.0 {
        format!("{s:.3} s ahead of")
    } else {
        format!("{:.3} s behind", -s)
    }
}

/// The line that says how the scale was chosen (`None`: nothing to say).
/// `dev` is the device path, `name` its clock name.
pub fn explain(dev: &str, name: &str, choice: Choice, phc_ahead: Option<i64>) -> Option<String> {
    if choice.basis != Basis::Evidence {
        return None;
    }
    let ahead = ahead_words(phc_ahead.unwrap_or(0));
    Some(if choice.tai {
        format!(
            "{dev} ({name}): time scale not configured; the PHC reads {ahead} the system clock, taking it for TAI; set time_scale = \"tai\" or \"utc\" in keel.toml to silence this"
        )
    } else {
        format!(
            "{dev} ({name}): time scale not configured; the PHC reads {ahead} the system clock, taking it for UTC; set time_scale = \"utc\" or \"tai\" in keel.toml to silence this"
        )
    })
}

/// A refusal as the configuration error keel stops with.
pub struct RefusalMessage<'a> {
    /// Device path.
    pub dev: &'a str,
    /// Clock name.
    pub name: &'a str,
    /// TAI − UTC, s.
    pub tai_utc_s: i64,
    /// What was refused.
    pub refusal: Refusal,
}

impl fmt::Display for RefusalMessage<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (dev, name, t) = (self.dev, self.name, self.tai_utc_s);
        match self.refusal {
            Refusal::NoReading => write!(
                f,
                "{dev} ({name}): keel does not know this PHC's time scale and could not read it against the system clock to tell; set time_scale = \"utc\" or \"tai\" in keel.toml (ptp4l keeps a NIC's PHC on TAI)"
            ),
            Refusal::Ambiguous(ahead) => write!(
                f,
                "{dev} ({name}): keel does not know this PHC's time scale, and the PHC reads {} the system clock, which is neither the same time (UTC) nor {t} s ahead (TAI): the system clock itself may be off, and a wrong guess would step it by {t} s. Set time_scale = \"utc\" or \"tai\" in keel.toml (ptp4l keeps a NIC's PHC on TAI; `keel phc compare {dev}` shows the difference)",
                ahead_words(ahead)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    #[test]
    fn configured_scales_are_taken_as_they_are() {
        for name in [Some("KVM virtual PTP"), Some("softphc"), None] {
            for ahead in [None, Some(0), Some(37 * S), Some(1000 * S)] {
                assert_eq!(
                    decide(name, ahead, TimeScale::Utc, 37),
                    Ok(Choice {
                        tai: false,
                        basis: Basis::Configured
                    })
                );
                assert_eq!(
                    decide(name, ahead, TimeScale::Tai, 37),
                    Ok(Choice {
                        tai: true,
                        basis: Basis::Configured
                    })
                );
            }
        }
    }

    #[test]
    fn hypervisor_clocks_are_utc_whatever_they_read() {
        for name in ["KVM virtual PTP", "ptp_vmw", "hyperv", "vmclock0"] {
            for ahead in [None, Some(0), Some(37 * S), Some(-500 * S)] {
                let c = decide(Some(name), ahead, TimeScale::Auto, 37).unwrap();
                assert_eq!(
                    c,
                    Choice {
                        tai: false,
                        basis: Basis::Hypervisor
                    },
                    "{name}"
                );
                assert!(!c.guessed());
            }
        }
    }

    #[test]
    fn unknown_clocks_are_decided_from_evidence() {
        let utc = Choice {
            tai: false,
            basis: Basis::Evidence,
        };
        let tai = Choice {
            tai: true,
            basis: Basis::Evidence,
        };
        for name in [Some("softphc"), Some("igb"), Some(""), None] {
            // The same time as the system clock, within a few seconds: UTC.
            for ahead in [0, 1_500_000, -3 * S, 5 * S, -5 * S] {
                assert_eq!(
                    decide(name, Some(ahead), TimeScale::Auto, 37),
                    Ok(utc),
                    "{ahead}"
                );
            }
            // 37 s ahead: TAI, a guess.
            for ahead in [37 * S, 37 * S + 123, 33 * S, 42 * S] {
                let c = decide(name, Some(ahead), TimeScale::Auto, 37).unwrap();
                assert_eq!(c, tai, "{ahead}");
                assert!(c.guessed());
            }
            // Neither: the system clock is off, or the PHC is behind.
            for ahead in [
                6 * S,
                -6 * S,
                20 * S,
                43 * S,
                -37 * S,
                3600 * S,
                -1_700_000_000 * S,
            ] {
                assert_eq!(
                    decide(name, Some(ahead), TimeScale::Auto, 37),
                    Err(Refusal::Ambiguous(ahead)),
                    "{ahead}"
                );
            }
            assert_eq!(
                decide(name, None, TimeScale::Auto, 37),
                Err(Refusal::NoReading)
            );
        }
        // Another TAI − UTC: its own window; small ones shrink the windows
        // so they never overlap.
        assert_eq!(decide(None, Some(10 * S), TimeScale::Auto, 10), Ok(tai));
        assert_eq!(
            decide(None, Some(5 * S), TimeScale::Auto, 10),
            Err(Refusal::Ambiguous(5 * S))
        );
        assert_eq!(decide(None, Some(2 * S), TimeScale::Auto, 10), Ok(utc));
        // No difference at all: only UTC.
        assert_eq!(decide(None, Some(0), TimeScale::Auto, 0), Ok(utc));
    }

    #[test]
    fn the_reading_sign() {
        // A TAI PHC: the system clock (UTC) reads 37 s less.
        assert_eq!(phc_ahead_ns(Duration::from_secs(-37)), 37 * S);
        assert_eq!(phc_ahead_ns(Duration::from_nanos(i64::MIN)), i64::MAX);
    }

    #[test]
    fn messages_say_what_and_what_to_do() {
        let c = decide(Some("softphc"), Some(37 * S), TimeScale::Auto, 37).unwrap();
        assert_eq!(
            explain("/dev/ptp0", "softphc", c, Some(37 * S)).unwrap(),
            "/dev/ptp0 (softphc): time scale not configured; the PHC reads 37.000 s ahead of the system clock, taking it for TAI; set time_scale = \"tai\" or \"utc\" in keel.toml to silence this"
        );
        let c = decide(Some("KVM virtual PTP"), None, TimeScale::Auto, 37).unwrap();
        assert_eq!(explain("/dev/ptp0", "KVM virtual PTP", c, None), None);
        let m = RefusalMessage {
            dev: "/dev/ptp2",
            name: "softphc",
            tai_utc_s: 37,
            refusal: Refusal::Ambiguous(-120 * S),
        }
        .to_string();
        assert!(
            m.starts_with("/dev/ptp2 (softphc): keel does not know this PHC's time scale, and the PHC reads 120.000 s behind the system clock"),
            "{m}"
        );
        assert!(m.contains("Set time_scale = \"utc\" or \"tai\""), "{m}");
    }
}

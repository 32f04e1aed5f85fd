//! The named worlds of `keel sync --clock sim --scenario NAME`, in one place
//! for the daemon and the scenario suite. All start from the standard model
//! (+0.5 s, +50 ppm, 1 ppb/√s wander, σ = 10 ns reads); perturbations happen
//! at a third of the run ([`event_at_ns`]), so that the second at, the
//! daemon's steady window, starts a sixth of the run after them (100 s of
//! the default 600 s): a run that recovers well reads well.

use super::{ConfigFull, Event, Methods, Outage, OutageKind, OutlierConfig, SimConfig};

/// Names and one-line descriptions, for `--help` and errors.
pub const NAMED: &[(&str, &str)] = &[
    (
        "standard",
        "+0.5 s, +50 ppm, 1 ppb/√s wander, 10 ns read noise",
    ),
    ("noisy", "standard with 1 µs read noise"),
    ("outliers", "standard with 0.5 % of reads off by +100 µs"),
    (
        "freq-step",
        "the oscillator jumps by +50 ppm at a third of the run",
    ),
    (
        "migration",
        "live migration at a third of the run: +50 ppm, 1 s pause, signalled (vmclock marker)",
    ),
    (
        "migration-silent",
        "migration at a third of the run, unsignalled: +50 ppm, 10 ms step, PRECISE stops working (ptp_kvm on a host without TSC)",
    ),
    (
        "clock-step",
        "another process steps the system clock by +1 ms at a third of the run",
    ),
    (
        "suspend",
        "suspend for 30 s at a third of the run (unsignalled)",
    ),
    (
        "outage",
        "the PHC disappears for 60 s at a third of the run (ENODEV), then returns",
    ),
    ("busy", "20 % of reads fail with EBUSY"),
    (
        "slow-syscalls",
        "each clock_adjtime call takes 3 ms (a guest under QEMU's TCG)",
    ),
    (
        "interference",
        "another process rewrites the kernel frequency at a third of the run",
    ),
    (
        "eperm",
        "clock_adjtime fails with EPERM for 60 s at a third of the run (CAP_SYS_TIME taken away)",
    ),
];

const S: u64 = 1_000_000_000;

/// When the perturbation of a named world comes in a run of `duration_ns`:
/// at a third of the run, true time from the start.
pub const fn event_at_ns(duration_ns: u64) -> u64 {
    duration_ns / 3
}

/// Does the named world `name` script a perturbation (at [`event_at_ns`])?
/// The others (`standard`, `noisy`, `outliers`, `busy`, `slow-syscalls`, an
/// unknown name) are the same from start to end.
pub fn has_event(name: &str) -> bool {
    named(name, 3 * S).is_ok_and(|c| !c.events.is_empty() || !c.outages.is_empty())
}

/// Why a named world could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NamedError {
    /// No world has that name ([`NAMED`] lists them).
    Unknown,
    /// The script is full (cannot happen with the built-in worlds).
    Full,
}

impl core::fmt::Display for NamedError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Unknown => f.write_str("unknown scenario"),
            Self::Full => f.write_str("simulation script is full"),
        }
    }
}

impl core::error::Error for NamedError {}

/// The world `name` for a run of `duration_ns`.
///
/// # Errors
/// [`NamedError::Unknown`] for a name not in [`NAMED`].
pub fn named(name: &str, duration_ns: u64) -> Result<SimConfig, NamedError> {
    let mut c = SimConfig::default();
    let at = event_at_ns(duration_ns);
    let full = |_: ConfigFull| NamedError::Full;
    match name {
        "standard" => {}
        "noisy" => c.read.noise_ns = 1000.0,
        "outliers" => {
            c.read.outliers = OutlierConfig {
                probability: 0.005,
                size_ns: 100_000.0,
                two_sided: false,
                burst_len: 1,
            };
        }
        "freq-step" => c
            .push_event(
                at,
                Event::FreqStep {
                    delta_ppb: 50_000.0,
                },
            )
            .map_err(full)?,
        "migration" => c
            .push_event(
                at,
                Event::Migration {
                    freq_step_ppb: 50_000.0,
                    time_step_ns: 0,
                    pause_ns: S,
                    signal: true,
                },
            )
            .map_err(full)?,
        "migration-silent" => {
            c.read.supported = Methods::PTP_KVM;
            c.push_event(
                at,
                Event::Migration {
                    freq_step_ppb: 50_000.0,
                    time_step_ns: 10_000_000,
                    pause_ns: 0,
                    signal: false,
                },
            )
            .map_err(full)?;
            c.push_outage(Outage {
                start_ns: at,
                duration_ns: u64::MAX,
                methods: Methods {
                    precise: true,
                    extended: false,
                    basic: false,
                },
                kind: OutageKind::NotSupported,
            })
            .map_err(full)?;
        }
        "clock-step" => c
            .push_event(
                at,
                Event::LocalStep {
                    delta_ns: 1_000_000,
                },
            )
            .map_err(full)?,
        "suspend" => c
            .push_event(
                at,
                Event::Suspend {
                    sleep_ns: 30 * S,
                    signal: false,
                },
            )
            .map_err(full)?,
        "outage" => c
            .push_outage(Outage {
                start_ns: at,
                duration_ns: 60 * S,
                methods: Methods::ALL,
                kind: OutageKind::NoDevice,
            })
            .map_err(full)?,
        "busy" => c.read.busy_probability = 0.2,
        "slow-syscalls" => c.actuator.syscall_ns = 3_000_000,
        "interference" => c
            .push_event(
                at,
                Event::ForeignFrequency {
                    freq: crate::time::KernelFreq {
                        tick_us: 10_000,
                        freq: crate::time::ScaledPpm(0),
                    },
                },
            )
            .map_err(full)?,
        "eperm" => c.actuator.writes_denied = Some((at, 60 * S)),
        _ => return Err(NamedError::Unknown),
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_world_builds() {
        for (n, _) in NAMED {
            named(n, 600 * S).unwrap();
        }
        assert_eq!(named("nope", S).unwrap_err(), NamedError::Unknown);
    }

    #[test]
    fn perturbations_come_at_a_third_of_the_run() {
        // Before the second half (the daemon's steady window) by a sixth of
        // the run: 100 s of the default 600 s.
        assert_eq!(event_at_ns(600 * S), 200 * S);
        let eventful = || NAMED.iter().map(|(n, _)| *n).filter(|n| has_event(n));
        assert!(eventful().eq([
            "freq-step",
            "migration",
            "migration-silent",
            "clock-step",
            "suspend",
            "outage",
            "interference"
        ]));
        for n in eventful() {
            let c = named(n, 600 * S).unwrap();
            let times = c
                .events
                .iter()
                .map(|e| e.at_ns)
                .chain(c.outages.iter().map(|o| o.start_ns));
            for t in times {
                assert_eq!(t, 200 * S, "{n}");
            }
        }
        assert!(!has_event("standard") && !has_event("busy") && !has_event("nope"));
    }
}

//! The engine against a small clock model: command order, steering,
//! holdover, checks, leap seconds, pull-style callers.
#![allow(
    clippy::cast_possible_truncation,
    clippy::cast_precision_loss,
    clippy::cast_sign_loss,
    clippy::cast_possible_wrap,
    reason = "test clock model"
)]

use super::*;
use crate::servo::{Kalman, KalmanConfig, ServoState};
use crate::time::{Leap, LeapKind, UtcTaiOffset};

/// A clock `offset_ns` ahead of true time, running `natural_ppb` fast
/// before keel's correction, read with uniform noise of ±`noise_ns`.
struct Model {
    t_ns: u64,
    offset_ns: f64,
    natural_ppb: f64,
    corr_ppb: f64,
    noise_ns: f64,
    rng: u64,
    /// Reads fail while true.
    failing: bool,
    /// Readings say their source's read noise dominates while true.
    noise_limited: bool,
    /// Wall time of true time 0, s.
    wall0_s: u64,
    /// The PHC's own error (PHC − true time), ns: a host that stepped.
    host_ns: f64,
    /// NTP samples' noise, ± ns (uniform), and their round trip, ns.
    ntp_noise_ns: f64,
    ntp_delay_ns: f64,
    /// A path asymmetry's bias on the NTP offsets, ns (within delay/2).
    ntp_bias_ns: f64,
}

impl Model {
    fn new(offset_ns: f64, natural_ppb: f64, noise_ns: f64) -> Self {
        Self {
            t_ns: 1_000_000_000,
            offset_ns,
            natural_ppb,
            corr_ppb: 0.0,
            noise_ns,
            rng: 0x9E37_79B9_7F4A_7C15,
            failing: false,
            noise_limited: false,
            wall0_s: 1_700_000_000,
            host_ns: 0.0,
            ntp_noise_ns: 30_000.0,
            ntp_delay_ns: 300_000.0,
            ntp_bias_ns: 0.0,
        }
    }

    /// An NTP exchange with a true server, answered at once.
    fn ntp_sample(&mut self) -> Option<crate::measure::ntp::NtpSample> {
        let noise = self.noise() / self.noise_ns.max(1e-9) * self.ntp_noise_ns;
        let queue = (self.noise() / self.noise_ns.max(1e-9)).abs() * 2.0 * self.ntp_noise_ns;
        Some(crate::measure::ntp::NtpSample {
            offset: Duration::from_nanos((self.offset_ns + self.ntp_bias_ns + noise) as i64),
            delay: Duration::from_nanos((self.ntp_delay_ns + queue) as i64),
            dispersion: Duration::from_micros(2),
            root_delay: Duration::ZERO,
            root_dispersion: Duration::from_micros(10),
            stratum: 1,
            leap: crate::wire::ntp::LeapIndicator::NoWarning,
            reference_id: crate::wire::ntp::ReferenceId(*b"GPS\0"),
            poll: 6,
            local_receive: self.local(),
        })
    }

    fn advance_to(&mut self, t: u64) {
        if t > self.t_ns {
            let dt = (t - self.t_ns) as f64;
            self.offset_ns += dt * (self.natural_ppb + self.corr_ppb) * 1e-9;
            self.t_ns = t;
        }
    }

    fn local(&self) -> Timestamp {
        Timestamp::from_nanos((self.t_ns as f64 + self.offset_ns) as u64)
    }

    fn noise(&mut self) -> f64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        ((self.rng >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * self.noise_ns
    }

    fn check(&self) -> ClockCheck {
        ClockCheck {
            kernel_freq: Some(Ppb::from_bits((self.corr_ppb * 4_294_967_296.0) as i64)),
            raw_ns: self.t_ns,
            sink: self.local(),
            pair_width_ns: 0,
            suspended_ns: Some(0),
            wall: Timestamp::from_secs_nanos(self.wall0_s + self.t_ns / 1_000_000_000, 0),
            leap: None,
            tai_utc_s: None,
        }
    }
}

/// What a caller saw while driving an engine.
#[derive(Default)]
struct Log {
    commands: std::vec::Vec<Command>,
    notices: std::vec::Vec<Notice>,
}

extern crate std;

fn engine(cfg: EngineConfig) -> Engine<Kalman> {
    let servo = Kalman::new(cfg.servo, KalmanConfig::default(), cfg.interval, Ppb::ZERO);
    let mut e = Engine::new(cfg, servo, Ppb::ZERO, 1_000_000_000);
    assert_eq!(e.add_source(SourceConfig::phc()), Some(SourceId(0)));
    e
}

/// Drives `e` on `m` until loop time `end_ns`, answering every command as a
/// careful daemon does (or, with `pull`, answering only the reads).
fn drive(e: &mut Engine<Kalman>, m: &mut Model, end_ns: u64, pull: bool, log: &mut Log) {
    loop {
        let cmd = e.poll(m.t_ns);
        while let Some(n) = e.take_notice() {
            log.notices.push(n);
        }
        log.commands.push(cmd);
        match cmd {
            Command::Wait(t) => {
                if t > end_ns {
                    m.advance_to(end_ns);
                    return;
                }
                m.advance_to(t);
            }
            Command::CheckClock => {
                if !pull {
                    e.on_clock_check(&m.check());
                }
            }
            Command::Read { source, .. } => {
                if m.failing {
                    e.on_read_error(source, ReadError::Failed, m.local());
                } else {
                    let noise = m.noise();
                    e.on_reading(
                        source,
                        &Reading {
                            offset: Duration::from_nanos((m.offset_ns - m.host_ns + noise) as i64),
                            local_ts: m.local(),
                            delay: Duration::from_nanos(40),
                            uncertainty: Duration::from_nanos(20),
                            noise_limited: m.noise_limited,
                        },
                    );
                }
            }
            Command::Adjust(a) => {
                if let Some(f) = a.freq {
                    m.corr_ppb = f.to_bits() as f64 / 4_294_967_296.0;
                }
                if !pull {
                    e.on_adjusted(Ok(Adjusted {
                        freq: a.freq.unwrap_or(e.status().freq),
                        at: m.local(),
                    }));
                }
            }
            Command::Step(d) => {
                m.offset_ns += d.as_nanos() as f64;
                if !pull {
                    e.on_stepped(true);
                }
            }
            Command::SaveState(_) => {}
            Command::SendNtp { source, .. } => {
                if let Some(s) = m.ntp_sample() {
                    e.on_ntp_sample(m.t_ns, source, &s);
                }
            }
            Command::Halt(_) => return,
        }
    }
}

#[test]
fn converges_locks_and_costs_one_adjust_per_steady_update() {
    let mut e = engine(EngineConfig::default());
    let mut m = Model::new(500_000_000.0, 50_000.0, 10.0);
    let mut log = Log::default();
    drive(&mut e, &mut m, 120_000_000_000, false, &mut log);
    assert!(m.offset_ns.abs() < 50.0, "offset {}", m.offset_ns);
    let st = *e.status();
    assert!(st.state.is_locked(), "{st:?}");
    let bound = st.bound.expect("a bound when locked");
    assert!(
        bound.as_nanos() as f64 >= m.offset_ns.abs(),
        "{bound:?} {}",
        m.offset_ns
    );
    assert_eq!(st.counters.steps, 1, "{st:?}");
    assert!(
        matches!(log.notices[0], Notice::Stepped(_)),
        "{:?}",
        log.notices
    );
    // An update: check, read, the kernel status (with the frequency when it
    // changes), and the step after the frequency.
    assert_eq!(log.commands[0], Command::CheckClock);
    assert!(matches!(
        log.commands[1],
        Command::Read {
            source: SourceId(0),
            samples: 5
        }
    ));
    assert!(
        matches!(log.commands[2], Command::Adjust(Adjust { freq: None, status: Some(s) }) if s.unsync)
    );
    let step = log
        .commands
        .iter()
        .position(|c| matches!(c, Command::Step(_)))
        .unwrap();
    assert!(matches!(
        log.commands[step - 1],
        Command::Adjust(Adjust {
            freq: Some(_),
            status: Some(_)
        })
    ));
    // The last minute: each update is one check, one read and one adjust
    // (frequency and kernel status together): two clock_adjtime calls.
    let tail = &log.commands[log.commands.len() - 240..];
    let checks = tail.iter().filter(|c| **c == Command::CheckClock).count();
    let adjusts = tail
        .iter()
        .filter(|c| matches!(c, Command::Adjust(_)))
        .count();
    assert!(checks >= 50, "{checks}");
    assert!(checks.abs_diff(adjusts) <= 1, "{checks} {adjusts}");
    // Saved while locked.
    assert!(
        log.commands
            .iter()
            .any(|c| matches!(c, Command::SaveState(_)))
    );
    let saved = e.saved_frequency().expect("locked");
    let err = saved.freq.to_bits() as f64 / 4_294_967_296.0 + 50_000.0;
    assert!(err.abs() < 5.0, "saved {saved:?}");
}

#[test]
fn a_step_has_the_drift_since_the_reading_taken_out() {
    let mut e = engine(EngineConfig::default());
    let mut m = Model::new(1_000_000.0, 50_000.0, 0.0);
    let mut read_at = m.local();
    let mut before = Ppb::ZERO;
    for _ in 0..100 {
        match e.poll(m.t_ns) {
            Command::Wait(t) => m.advance_to(t),
            Command::CheckClock => e.on_clock_check(&m.check()),
            Command::Read { source, .. } => {
                read_at = m.local();
                e.on_reading(
                    source,
                    &Reading {
                        offset: Duration::from_nanos(m.offset_ns as i64),
                        local_ts: read_at,
                        delay: Duration::from_nanos(20),
                        uncertainty: Duration::from_nanos(10),
                        noise_limited: false,
                    },
                );
            }
            Command::Adjust(Adjust { freq: None, .. }) => e.on_adjusted(Ok(Adjusted {
                freq: before,
                at: m.local(),
            })),
            Command::Adjust(Adjust { freq: Some(f), .. }) => {
                // The frequency took effect 1 ms after the reading: until
                // then the old one ran, and the step takes the difference
                // out.
                m.advance_to(m.t_ns + 1_000_000);
                m.corr_ppb = f.to_bits() as f64 / 4_294_967_296.0;
                e.on_adjusted(Ok(Adjusted {
                    freq: f,
                    at: m.local(),
                }));
                assert_eq!(
                    read_at
                        .wrapping_add(Duration::from_millis(1))
                        .as_nanos()
                        .abs_diff(m.local().as_nanos())
                        / 1000,
                    0
                );
                if let Command::Step(by) = e.poll(m.t_ns) {
                    let drift = before
                        .saturating_sub(f)
                        .phase_over(Duration::from_millis(1));
                    assert!(drift.as_nanos().abs() > 40, "{drift:?}");
                    m.offset_ns += by.as_nanos() as f64;
                    assert!(m.offset_ns.abs() < 5.0, "{} after {by:?}", m.offset_ns);
                    e.on_stepped(true);
                    assert!(matches!(e.poll(m.t_ns), Command::Wait(_)));
                    assert_eq!(e.status().counters.steps, 1);
                    return;
                }
                before = f;
            }
            c => panic!("{c:?}"),
        }
    }
    panic!("no step");
}

#[test]
fn a_cold_start_reads_at_a_quarter_interval_and_states_a_bound_within_two_seconds() {
    let mut e = engine(EngineConfig::default());
    let mut m = Model::new(500_000_000.0, 50_000.0, 10.0);
    let mut log = Log::default();
    // The first update is due at 1 s.
    drive(&mut e, &mut m, 3_000_000_000, false, &mut log);
    let st = *e.status();
    assert!(st.state.is_locked(), "{st:?}");
    let bound = st.bound.expect("a bound 2 s after the first reading");
    assert!(
        bound.as_nanos() as f64 >= m.offset_ns.abs(),
        "{bound:?} {}",
        m.offset_ns
    );
    assert!(bound < Duration::from_micros(1), "{bound:?}");
    let waits = wait_deadlines(&log);
    assert!(
        waits.windows(2).take(6).all(|w| w[1] - w[0] == 250_000_000),
        "{waits:?}"
    );
    // Then the configured interval.
    let mut later = Log::default();
    drive(&mut e, &mut m, 20_000_000_000, false, &mut later);
    let waits = wait_deadlines(&later);
    assert!(
        waits
            .windows(2)
            .skip(2)
            .all(|w| w[1] - w[0] == 1_000_000_000),
        "{waits:?}"
    );
}

/// The deadline of every wait in `log`.
fn wait_deadlines(log: &Log) -> std::vec::Vec<u64> {
    log.commands
        .iter()
        .filter_map(|c| match c {
            Command::Wait(t) => Some(*t),
            _ => None,
        })
        .collect()
}

/// The `samples` of every read in `log`.
fn read_sizes(log: &Log) -> std::vec::Vec<u8> {
    log.commands
        .iter()
        .filter_map(|c| match c {
            Command::Read { samples, .. } => Some(*samples),
            _ => None,
        })
        .collect()
}

#[test]
fn a_source_whose_read_noise_dominates_is_read_with_all_samples() {
    let mut e = engine(EngineConfig::default());
    let mut m = Model::new(0.0, 10_000.0, 5.0);
    let mut quiet = Log::default();
    drive(&mut e, &mut m, 20_000_000_000, false, &mut quiet);
    let sizes = read_sizes(&quiet);
    assert!(sizes.iter().all(|&n| n == 5), "{sizes:?}");
    // Noise-limited readings: every read after the first takes 25.
    m.noise_limited = true;
    let mut noisy = Log::default();
    drive(&mut e, &mut m, 30_000_000_000, false, &mut noisy);
    let sizes = read_sizes(&noisy);
    assert_eq!(sizes[0], 5);
    assert!(sizes[1..].iter().all(|&n| n == 25), "{sizes:?}");
    // Quiet again: 25 for NOISY_READS more reads, then the configured 5.
    m.noise_limited = false;
    let mut after = Log::default();
    drive(&mut e, &mut m, 60_000_000_000, false, &mut after);
    let sizes = read_sizes(&after);
    let n = usize::from(NOISY_READS);
    assert!(sizes[..n].iter().all(|&s| s == 25), "{sizes:?}");
    assert!(sizes[n..].iter().all(|&s| s == 5), "{sizes:?}");
    assert!(sizes.len() > n + 10);
}

#[test]
fn failed_reads_hold_over_and_recover() {
    let mut e = engine(EngineConfig::default());
    let mut m = Model::new(0.0, 20_000.0, 5.0);
    let mut log = Log::default();
    drive(&mut e, &mut m, 60_000_000_000, false, &mut log);
    assert!(e.status().state.is_locked());
    m.failing = true;
    drive(&mut e, &mut m, 70_000_000_000, false, &mut log);
    assert_eq!(e.status().state, SyncState::Holdover);
    assert!(e.status().holdover_since_ns.is_some());
    assert!(e.status().counters.read_errors >= 9);
    // The frequency was held: 10 s at a tracked frequency stays small.
    assert!(m.offset_ns.abs() < 500.0, "{}", m.offset_ns);
    m.failing = false;
    drive(&mut e, &mut m, 80_000_000_000, false, &mut log);
    assert_ne!(e.status().state, SyncState::Holdover);
    assert!(
        log.notices
            .iter()
            .any(|n| matches!(n, Notice::HoldoverStarted { .. }))
    );
    assert!(log.notices.iter().any(
        |n| matches!(n, Notice::HoldoverEnded { failed_updates, .. } if *failed_updates >= 9)
    ));
}

#[test]
fn a_guessed_scale_never_steps_by_the_utc_tai_difference() {
    let cfg = EngineConfig::default();
    let servo = Kalman::new(cfg.servo, KalmanConfig::default(), cfg.interval, Ppb::ZERO);
    let mut e = Engine::new(cfg, servo, Ppb::ZERO, 1_000_000_000);
    let src = e
        .add_source(SourceConfig {
            scale_guessed: true,
            ..SourceConfig::phc()
        })
        .unwrap();
    let mut m = Model::new(37e9, 0.0, 0.0);
    let mut log = Log::default();
    drive(&mut e, &mut m, 10_000_000_000, false, &mut log);
    let h = Halt::ScaleStep {
        step: Duration::from_nanos(-37_000_000_000),
        scale_offset: Duration::ZERO,
    };
    assert_eq!(log.commands.last(), Some(&Command::Halt(h)));
    assert!(!log.commands.iter().any(|c| matches!(
        c,
        Command::Step(_) | Command::Adjust(Adjust { freq: Some(_), .. })
    )));
    assert_eq!(e.poll(m.t_ns), Command::Halt(h));
    assert_eq!(src, SourceId(0));
    // 30 s is no scale step: stepped.
    let mut e = engine(EngineConfig::default());
    let mut m = Model::new(30e9, 0.0, 0.0);
    drive(&mut e, &mut m, 5_000_000_000, false, &mut Log::default());
    assert_eq!(e.status().counters.steps, 1);
    assert!(is_scale_step(Duration::from_nanos(-37_999_000_000), 37));
    assert!(!is_scale_step(Duration::from_secs(35), 37));
}

#[test]
fn another_process_dialling_the_frequency_is_seen_and_reacquired() {
    let mut e = engine(EngineConfig::default());
    let mut m = Model::new(0.0, 10_000.0, 5.0);
    let mut log = Log::default();
    drive(&mut e, &mut m, 30_000_000_000, false, &mut log);
    let before = e.status().counters;
    let keels = e.status().freq;
    m.corr_ppb += 300.0;
    // The update that sees it puts keel's frequency back at once, though
    // the servo re-acquires (and holds) after the disruption.
    m.advance_to(e.next_update_ns());
    assert_eq!(e.poll(m.t_ns), Command::CheckClock);
    e.on_clock_check(&m.check());
    let Command::Read { source, .. } = e.poll(m.t_ns) else {
        panic!("a read");
    };
    e.on_reading(
        source,
        &Reading {
            offset: Duration::from_nanos(m.offset_ns as i64),
            local_ts: m.local(),
            delay: Duration::ZERO,
            uncertainty: Duration::ZERO,
            noise_limited: false,
        },
    );
    let Command::Adjust(Adjust { freq: Some(f), .. }) = e.poll(m.t_ns) else {
        panic!("keel's frequency written back");
    };
    assert!(
        (f.to_bits() - keels.to_bits()).abs() < 1 << 32,
        "{f:?} {keels:?}"
    );
    m.corr_ppb = f.to_bits() as f64 / 4_294_967_296.0;
    e.on_adjusted(Ok(Adjusted {
        freq: f,
        at: m.local(),
    }));
    drive(&mut e, &mut m, 40_000_000_000, false, &mut log);
    let after = e.status().counters;
    assert_eq!(after.interference, before.interference + 1);
    assert_eq!(after.disruptions, before.disruptions + 1);
    assert!(
        log.notices
            .iter()
            .any(|n| matches!(n, Notice::FrequencyInterference { .. }))
    );
    // A step by someone else.
    m.offset_ns += 5_000_000.0;
    drive(&mut e, &mut m, 42_000_000_000, false, &mut log);
    assert!(
        log.notices
            .iter()
            .any(|n| matches!(n, Notice::StepInterference(d) if d.as_nanos() > 4_000_000))
    );
}

#[test]
fn a_suspend_is_a_disruption_and_a_signalled_one_comes_at_once() {
    let mut e = engine(EngineConfig::default());
    let mut m = Model::new(0.0, 0.0, 5.0);
    drive(&mut e, &mut m, 20_000_000_000, false, &mut Log::default());
    let mut c = m.check();
    c.suspended_ns = Some(5_000_000_000);
    m.advance_to(e.next_update_ns());
    assert_eq!(e.poll(m.t_ns), Command::CheckClock);
    e.on_clock_check(&c);
    assert_eq!(e.status().counters.disruptions, 1);
    assert!(matches!(
        e.take_notice(),
        Some(Notice::Disrupted(DisruptionCause::Suspended(5_000_000_000)))
    ));
    let mut log = Log::default();
    drive(&mut e, &mut m, 30_000_000_000, false, &mut log);
    // A signalled disruption between updates: the next update is now.
    let now = m.t_ns;
    assert!(e.next_update_ns() > now);
    e.on_disruption(now, Disruption::Migration);
    assert_eq!(e.next_update_ns(), now);
    assert_eq!(e.poll(now), Command::CheckClock);
}

#[test]
fn readings_near_a_leap_second_are_ignored_and_the_bits_are_set_that_day() {
    let mut e = engine(EngineConfig::default());
    let mut m = Model::new(0.0, 0.0, 5.0);
    drive(&mut e, &mut m, 10_000_000_000, false, &mut Log::default());
    // A leap at the next midnight: announced, readings kept.
    let wall = m.check().wall.secs();
    let midnight = wall - wall % 86_400 + 86_400;
    let leap = Leap {
        unix_secs: midnight,
        kind: LeapKind::Insert,
        offset: UtcTaiOffset(38),
    };
    m.advance_to(e.next_update_ns());
    assert_eq!(e.poll(m.t_ns), Command::CheckClock);
    let mut c = m.check();
    c.leap = Some(leap);
    c.tai_utc_s = Some(37);
    e.on_clock_check(&c);
    assert!(matches!(e.poll(m.t_ns), Command::Read { .. }));
    e.on_read_error(SourceId(0), ReadError::Busy, m.local());
    let Command::Adjust(Adjust {
        status: Some(s),
        freq,
    }) = e.poll(m.t_ns)
    else {
        panic!("the status is written");
    };
    if let Some(f) = freq {
        m.corr_ppb = f.to_bits() as f64 / 4_294_967_296.0;
    }
    assert_eq!(s.leap, LeapBits::Insert);
    assert_eq!(s.tai_offset, Some(37));
    assert!(matches!(e.poll(m.t_ns), Command::Wait(_)));
    // One second before it: no read.
    while e.take_notice().is_some() {}
    m.advance_to(e.next_update_ns());
    assert_eq!(e.poll(m.t_ns), Command::CheckClock);
    let mut c = m.check();
    c.leap = Some(leap);
    c.wall = Timestamp::from_secs_nanos(midnight - 1, 0);
    e.on_clock_check(&c);
    assert!(!matches!(e.poll(m.t_ns), Command::Read { .. }));
    assert_eq!(e.take_notice(), Some(Notice::LeapQuiet));
}

#[test]
fn a_pull_style_caller_that_answers_only_reads_still_converges() {
    let mut e = engine(EngineConfig::default());
    let mut m = Model::new(2_000_000.0, -30_000.0, 10.0);
    let mut log = Log::default();
    drive(&mut e, &mut m, 120_000_000_000, true, &mut log);
    assert!(m.offset_ns.abs() < 50.0, "{}", m.offset_ns);
    assert!(e.status().state.is_locked());
}

#[test]
fn a_dry_run_never_adjusts() {
    let mut e = engine(EngineConfig {
        steers: false,
        ..EngineConfig::default()
    });
    let mut m = Model::new(1_000_000.0, 10_000.0, 10.0);
    let mut log = Log::default();
    drive(&mut e, &mut m, 30_000_000_000, false, &mut log);
    assert!(
        !log.commands
            .iter()
            .any(|c| matches!(c, Command::Step(_) | Command::Adjust(_)))
    );
    assert!(
        log.notices
            .iter()
            .any(|n| matches!(n, Notice::WouldStep(_)))
    );
    assert!(m.corr_ppb.abs() < f64::EPSILON, "{}", m.corr_ppb);
}

#[test]
fn the_step_limit_turns_steps_off() {
    let mut e = engine(EngineConfig {
        step_limit: 5,
        servo: ServoConfig {
            step_threshold: Duration::from_micros(100),
            ..ServoConfig::default()
        },
        ..EngineConfig::default()
    });
    let mut m = Model::new(0.0, 0.0, 5.0);
    let mut log = Log::default();
    drive(&mut e, &mut m, 20_000_000_000, false, &mut log);
    assert!(log.notices.contains(&Notice::StepLimitReached(5)));
    m.offset_ns += 1_000_000.0;
    drive(&mut e, &mut m, 25_000_000_000, false, &mut log);
    assert_eq!(e.status().counters.steps, 0);
}

#[test]
fn kernel_status_from_the_bound() {
    let s = KernelStatus::from_bound(Some(Duration::from_nanos(1_001)), 5);
    assert_eq!((s.maxerror_us, s.esterror_us, s.unsync), (2, 1, false));
    let s = KernelStatus::from_bound(None, 5);
    assert!(s.unsync);
    assert_eq!(s.maxerror_us, KernelStatus::MAXERROR_LIMIT_US);
    let s = KernelStatus::from_bound(Some(Duration::from_secs(20)), 5);
    assert!(s.unsync);
    let s = KernelStatus::from_bound(Some(Duration::from_nanos(-1)), 5);
    assert!(s.unsync);
}

#[test]
fn locked_is_earned_with_a_bound() {
    use ServoState::{Jump, Locked, LockedStable, Unlocked};
    let b = Some(Duration::from_nanos(40));
    assert_eq!(SyncState::reported(Locked, true, None), SyncState::Unlocked);
    assert_eq!(
        SyncState::reported(LockedStable, true, None),
        SyncState::Unlocked
    );
    assert_eq!(SyncState::reported(Locked, true, b), SyncState::Locked);
    assert_eq!(SyncState::reported(Jump, true, None), SyncState::Jump);
    assert_eq!(SyncState::reported(Unlocked, true, b), SyncState::Unlocked);
    assert_eq!(SyncState::reported(Locked, false, None), SyncState::Locked);
}

#[test]
fn steps_of_the_scale_difference() {
    for s in [37, -37] {
        assert!(is_scale_step(Duration::from_secs(s), 37));
    }
    assert!(is_scale_step(Duration::from_nanos(-37_999_000_000), 37));
    assert!(is_scale_step(Duration::from_nanos(36_000_000_000), 37));
    for ns in [0, 500_000_000, 35_900_000_000, -38_100_000_000, i64::MIN] {
        assert!(!is_scale_step(Duration::from_nanos(ns), 37), "{ns}");
    }
    assert!(!is_scale_step(Duration::ZERO, 0));
    assert!(!is_scale_step(Duration::from_secs(1), 1));
}

#[test]
fn microseconds_round_up_without_division() {
    for ns in [
        0i64,
        1,
        999,
        1000,
        1001,
        1999,
        2000,
        123_456_789,
        (1 << 34) - 1,
    ] {
        let want = (ns + 999) / 1000;
        assert_eq!(
            KernelStatus::from_bound(Some(Duration::from_nanos(ns)), 1).maxerror_us,
            want.min(KernelStatus::MAXERROR_LIMIT_US),
            "{ns}"
        );
    }
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for _ in 0..100_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let ns = (x % 16_000_000_000) as i64;
        let s = KernelStatus::from_bound(Some(Duration::from_nanos(ns)), 5);
        let us = (ns + 999) / 1000;
        assert_eq!((s.maxerror_us, s.esterror_us), (us, (us + 4) / 5), "{ns}");
    }
}

#[test]
fn integer_square_roots() {
    for x in [
        0u64,
        1,
        2,
        3,
        4,
        15,
        16,
        17,
        1 << 40,
        u64::MAX,
        (1 << 32) - 1,
    ] {
        assert_eq!(super::isqrt(x), x.isqrt(), "{x}");
    }
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..10_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        assert_eq!(super::isqrt(x), x.isqrt(), "{x}");
    }
}

#[test]
fn the_served_bound_grows_to_cover_the_truth_until_void() {
    let mut e = engine(EngineConfig::default());
    let mut m = Model::new(0.0, 20_000.0, 5.0);
    let horizon = Duration::from_secs(10);
    assert_eq!(
        e.served_at(m.local(), horizon).status,
        ServedStatus::Unknown
    );
    drive(&mut e, &mut m, 60_000_000_000, false, &mut Log::default());
    let at = m.local();
    let s = e.served_at(at, horizon);
    assert_eq!(s.status, ServedStatus::Synchronized);
    assert!(s.growth_ppb >= GROWTH_FLOOR_PPB);
    assert!(s.bound < Duration::from_micros(1), "{s:?}");
    // No update for the whole horizon: the linear extrapolation holds.
    let t0 = m.t_ns;
    for k in 0..=100u64 {
        m.advance_to(t0 + k * 100_000_000);
        let dt_s = (m.local().duration_since(at).as_nanos()) as f64 / 1e9;
        let served = s.bound.as_nanos() as f64 + f64::from(s.growth_ppb) * dt_s;
        assert!(
            m.offset_ns.abs() <= served,
            "{k}: {} > {served}",
            m.offset_ns
        );
    }
    // A signalled disruption: disrupted at once, before the next update.
    e.on_disruption(m.t_ns, Disruption::Migration);
    assert_eq!(
        e.served_at(m.local(), horizon).status,
        ServedStatus::Disrupted
    );
}

/// Registers `n` NTP servers polled every 2^`minpoll`..2^`maxpoll` s with
/// `iburst`, first asked at the first update (1 s).
fn add_ntp_servers(e: &mut Engine<Kalman>, n: usize, minpoll: i8, maxpoll: i8) {
    let policy = NtpPolicy {
        minpoll,
        maxpoll,
        iburst: true,
        ..NtpPolicy::default()
    };
    for _ in 0..n {
        assert!(e.add_ntp_source(policy, 1_000_000_000).is_some());
    }
}

/// PHC + 3 NTP servers: the PHC's host steps 1 ms; the NTP jury rejects it
/// after three readings, before the sink moves; NTP steers; when the host
/// is back, the PHC steers again after its probation, without a transient.
#[test]
fn the_ntp_jury_rejects_a_stepped_phc_and_takes_it_back() {
    let mut e = engine(EngineConfig::default());
    add_ntp_servers(&mut e, 3, 6, 6);
    let mut m = Model::new(500_000.0, 30_000.0, 10.0);
    // The NTP paths are asymmetric: their samples read 120 µs high, within
    // half their round trip (150 µs and more).
    m.ntp_bias_ns = 120_000.0;
    let mut log = Log::default();
    drive(&mut e, &mut m, 300_000_000_000, false, &mut log);
    assert!(m.offset_ns.abs() < 100.0, "{}", m.offset_ns);
    assert!(!e.phc_rejected());
    assert!(
        !log.notices
            .iter()
            .any(|n| matches!(n, Notice::PhcRejected { .. } | Notice::PhcDisputed { .. })),
        "{:?}",
        log.notices
    );
    m.host_ns = 1_000_000.0;
    let mut worst: f64 = 0.0;
    let mut rejected_at = None;
    let mut misses = 0;
    for s in 301..400u64 {
        drive(&mut e, &mut m, s * 1_000_000_000, false, &mut log);
        worst = worst.max(m.offset_ns.abs());
        if e.phc_rejected() && rejected_at.is_none() {
            rejected_at = Some(s);
        }
        // While NTP steers, the stated bound holds.
        let short = e
            .bound_at(m.local())
            .is_some_and(|b| (b.as_nanos() as f64) < m.offset_ns.abs());
        if e.phc_rejected() && short {
            misses += 1;
        }
    }
    assert_eq!(misses, 0, "bound below the true offset while NTP steered");
    assert!(rejected_at.is_some_and(|s| s <= 304), "{rejected_at:?}");
    assert!(
        worst < 100_000.0,
        "sink error {worst} ns while the host was 1 ms off"
    );
    assert!(e.status().counters.outvoted >= 3);
    // NTP steers: the last update's source is an NTP one.
    assert_ne!(e.status().source, Some(SourceId(0)));
    m.host_ns = 0.0;
    let mut restored_at = None;
    let mut worst_after: f64 = 0.0;
    for s in 401..600u64 {
        drive(&mut e, &mut m, s * 1_000_000_000, false, &mut log);
        if !e.phc_rejected() && restored_at.is_none() {
            restored_at = Some(s);
        }
        if restored_at.is_some() {
            worst_after = worst_after.max(m.offset_ns.abs());
        }
    }
    assert!(restored_at.is_some_and(|s| s <= 460), "{restored_at:?}");
    assert!(log.notices.iter().any(|n| matches!(n, Notice::PhcRestored)));
    assert!(worst_after < 60_000.0, "{worst_after}");
    assert!(m.offset_ns.abs() < 100.0, "{}", m.offset_ns);
}

/// A PHC and a single NTP server that disagree (the host steps 1 ms): no
/// majority can judge, so the PHC keeps steering (explicit policy, never a
/// silent flip), a `PhcDisputed` notice says so once, and the bound widens
/// to reach the NTP interval's far edge.
#[test]
fn a_phc_and_one_ntp_server_in_dispute_keep_the_phc_and_widen_the_bound() {
    let mut e = engine(EngineConfig::default());
    add_ntp_servers(&mut e, 1, 4, 4);
    let mut m = Model::new(500_000.0, 30_000.0, 10.0);
    let mut log = Log::default();
    drive(&mut e, &mut m, 200_000_000_000, false, &mut log);
    let calm = e.bound_at(m.local()).unwrap();
    assert!(calm.as_nanos() < 1_000, "{calm:?}");
    m.host_ns = 1_000_000.0;
    drive(&mut e, &mut m, 260_000_000_000, false, &mut log);
    assert!(!e.phc_rejected(), "one server never outvotes the PHC");
    let disputes = log
        .notices
        .iter()
        .filter(|n| matches!(n, Notice::PhcDisputed { .. }))
        .count();
    assert_eq!(disputes, 1, "{:?}", log.notices);
    // The PHC steers: the sink followed the host's 1 ms.
    assert!(
        (m.offset_ns - 1_000_000.0).abs() < 1_000.0,
        "{}",
        m.offset_ns
    );
    // Its bound reaches the NTP server's view of the sink (1 ms off).
    let b = e.bound_at(m.local()).unwrap();
    assert!(b.as_nanos() > 1_000_000, "{b:?}");
    assert!(e.status().bound.is_some_and(|b| b.as_nanos() > 1_000_000));
}

/// The PHC's host says its clock is not synchronised (vmclock's status):
/// without NTP the PHC steers on but no bound is stated (the kernel's
/// `STA_UNSYNC`) until the host is synchronised again; with NTP sources the
/// PHC is rejected at once and NTP steers, and it steers again only after
/// the host is synchronised and its probation.
#[test]
fn a_host_that_says_it_is_unsynchronised_is_marked_at_once() {
    let mut e = engine(EngineConfig::default());
    let mut m = Model::new(500_000.0, 30_000.0, 10.0);
    let mut log = Log::default();
    drive(&mut e, &mut m, 100_000_000_000, false, &mut log);
    assert!(e.status().bound.is_some() && e.status().state.is_locked());
    e.on_host_status(m.t_ns, false);
    drive(&mut e, &mut m, 102_000_000_000, false, &mut log);
    assert_eq!(e.bound_at(m.local()), None);
    assert_eq!(e.status().bound, None);
    let unsync = log.commands.iter().rev().find_map(|c| match c {
        Command::Adjust(a) => a.status,
        _ => None,
    });
    assert!(unsync.is_some_and(|s| s.unsync), "{unsync:?}");
    assert!(m.offset_ns.abs() < 100.0, "still steered: {}", m.offset_ns);
    e.on_host_status(m.t_ns, true);
    drive(&mut e, &mut m, 104_000_000_000, false, &mut log);
    assert!(e.bound_at(m.local()).is_some());
    let marks: std::vec::Vec<bool> = log
        .notices
        .iter()
        .filter_map(|n| match n {
            Notice::HostUnsynchronised(u) => Some(*u),
            _ => None,
        })
        .collect();
    assert_eq!(marks, [true, false]);

    // With three NTP servers: rejected at once, NTP steers.
    let mut e = engine(EngineConfig::default());
    add_ntp_servers(&mut e, 3, 4, 4);
    let mut m = Model::new(500_000.0, 30_000.0, 10.0);
    drive(&mut e, &mut m, 200_000_000_000, false, &mut log);
    e.on_host_status(m.t_ns, false);
    assert!(e.phc_rejected());
    drive(&mut e, &mut m, 260_000_000_000, false, &mut log);
    assert!(
        e.phc_rejected(),
        "not back while the host is unsynchronised"
    );
    assert_ne!(e.status().source, Some(SourceId(0)), "NTP steers");
    e.on_host_status(m.t_ns, true);
    drive(&mut e, &mut m, 320_000_000_000, false, &mut log);
    assert!(
        !e.phc_rejected(),
        "back after the host's return and the probation"
    );
}

/// NTP alone: three servers steer the sink from 0.5 ms and +30 ppm.
#[test]
fn ntp_alone_steers() {
    let cfg = EngineConfig::default();
    let servo = Kalman::new(cfg.servo, KalmanConfig::default(), cfg.interval, Ppb::ZERO);
    let mut e = Engine::new(cfg, servo, Ppb::ZERO, 1_000_000_000);
    add_ntp_servers(&mut e, 3, 4, 6);
    let mut m = Model::new(500_000.0, 30_000.0, 10.0);
    let mut log = Log::default();
    drive(&mut e, &mut m, 20_000_000_000, false, &mut log);
    assert!(
        m.offset_ns.abs() < 100_000.0,
        "after the burst: {}",
        m.offset_ns
    );
    let mut worst: f64 = 0.0;
    for s in 300..1200u64 {
        drive(&mut e, &mut m, s * 1_000_000_000, false, &mut log);
        worst = worst.max(m.offset_ns.abs());
    }
    assert!(worst < 50_000.0, "{worst}");
    assert!(
        !log.commands
            .iter()
            .any(|c| matches!(c, Command::Read { .. }))
    );
}

#[test]
fn the_guest_status_is_the_snapshot_and_the_generation_moves_with_every_disruption() {
    let mut e = engine(EngineConfig::default());
    let mut m = Model::new(2_000_000.0, 3_000.0, 5.0);
    let before = e.guest_status(m.t_ns, m.local());
    assert_eq!((before.state, before.source, before.served), (0, 0, 0));
    assert!(before.unsync && before.offset_ns.is_none() && before.update_age_ns.is_none());
    drive(&mut e, &mut m, 60_000_000_000, false, &mut Log::default());
    let st = *e.status();
    let g = e.guest_status(m.t_ns, m.local());
    assert!(st.state.is_locked(), "{st:?}");
    assert_eq!(g.state, if st.state == SyncState::Locked { 2 } else { 3 });
    assert_eq!((g.source, g.served), (1, 1), "PHC, synchronized");
    assert_eq!(g.offset_ns, st.last_offset.map(Duration::as_nanos));
    assert_eq!(g.bound_ns, st.bound.map(Duration::unsigned_abs_nanos));
    assert!(!g.unsync && g.maxerror_us >= 1);
    assert_eq!(g.freq_bits, st.freq.to_bits());
    assert_eq!(g.update_age_ns, Some(m.t_ns - st.last_update_ns));
    // The 2 ms start was stepped: the generation counts it.
    assert_eq!((g.steps, g.generation), (1, 1));
    e.on_disruption(m.t_ns, Disruption::Requested);
    drive(&mut e, &mut m, 61_000_000_000, false, &mut Log::default());
    let g2 = e.guest_status(m.t_ns, m.local());
    assert_eq!(g2.disruptions, 1);
    assert_eq!(g2.generation, 2);
}

/// A GNSS receiver on [`Model`]'s clock: a pulse at every true second
/// (local time = the model's, plus uniform noise of ±`m.noise_ns`), and an
/// NMEA-like time of day 0.5 s after it. UTC seconds are the model's true
/// seconds (`m.wall0_s` = 0, so the checks' wall time agrees), with an
/// inserted leap second at `leap_at` (true second: that pulse is 23:59:60,
/// those after it are one less). The kernel inserts it too when `kernel`:
/// the sink steps −1 s when it reaches the leap's midnight.
struct Gnss {
    m: Model,
    src: SourceId,
    /// The next pulse, and the pulse of the next sentence, true s.
    next_s: u64,
    next_tod_s: u64,
    /// Pulses and time of day are sent.
    pulses: bool,
    tod: bool,
    /// Seconds added to what the time of day names.
    tod_by: i64,
    leap_at: Option<u64>,
    kernel: bool,
    kernel_done: bool,
}

impl Gnss {
    fn new(m: Model, src: SourceId) -> Self {
        let next_s = m.t_ns / 1_000_000_000 + 1;
        Self {
            m,
            src,
            next_s,
            next_tod_s: next_s,
            pulses: true,
            tod: true,
            tod_by: 0,
            leap_at: None,
            kernel: false,
            kernel_done: false,
        }
    }

    /// The second pulse `k` (true s) marks.
    fn utc(&self, k: u64) -> crate::measure::pps::UtcSecond {
        use crate::measure::pps::UtcSecond;
        match self.leap_at {
            Some(l) if k == l => UtcSecond {
                unix_secs: l - 1,
                leap: true,
            },
            Some(l) if k > l => UtcSecond::new(k - 1),
            _ => UtcSecond::new(k),
        }
    }

    /// sink − UTC now, ns.
    fn error_ns(&self) -> f64 {
        let after = self
            .leap_at
            .is_some_and(|l| self.m.t_ns >= l * 1_000_000_000);
        self.m.offset_ns + if after { 1e9 } else { 0.0 }
    }

    fn check(&self) -> ClockCheck {
        let mut c = self.m.check();
        c.wall = self.m.local();
        c.leap = self.leap_at.map(|l| Leap {
            unix_secs: l,
            kind: LeapKind::Insert,
            offset: UtcTaiOffset(38),
        });
        c
    }

    /// True time of the kernel's leap (the sink reaching the midnight).
    fn kernel_leap_ns(&self) -> Option<u64> {
        let l = self.leap_at.filter(|_| self.kernel && !self.kernel_done)?;
        Some((l as f64 * 1e9 - self.m.offset_ns) as u64)
    }

    /// Advances to `t`, sending the pulses, sentences and the kernel's leap
    /// due on the way.
    fn advance(&mut self, e: &mut Engine<Kalman>, t: u64, log: &mut Log) {
        loop {
            let edge = self.next_s * 1_000_000_000;
            let tod = self.next_tod_s * 1_000_000_000 + 500_000_000;
            let (next, what) = [
                (tod, 0),
                (edge, 1),
                (self.kernel_leap_ns().unwrap_or(u64::MAX), 2),
            ]
            .into_iter()
            .filter(|(at, _)| *at >= self.m.t_ns)
            .min()
            .unwrap();
            if next > t {
                self.m.advance_to(t);
                return;
            }
            self.m.advance_to(next);
            match what {
                0 => {
                    // The sentence for the pulse before.
                    let k = self.next_tod_s;
                    self.next_tod_s += 1;
                    if !self.tod {
                        continue;
                    }
                    let mut s = self.utc(k);
                    s.unix_secs = s.unix_secs.saturating_add_signed(self.tod_by);
                    let tod = crate::measure::pps::Tod::nmea(
                        s,
                        self.m.local(),
                        crate::measure::pps::NMEA_DELAY,
                    );
                    let _ = e.on_tod(self.src, tod);
                }
                1 => {
                    if self.pulses {
                        let noise = self.m.noise();
                        let local = self
                            .m
                            .local()
                            .wrapping_add(Duration::from_nanos(noise as i64));
                        let _ = e.on_pps_edge(
                            self.m.t_ns,
                            self.src,
                            crate::measure::pps::PpsEdge {
                                local,
                                uncertainty: Duration::from_nanos(self.m.noise_ns as i64),
                            },
                        );
                    }
                    self.next_s += 1;
                }
                2 => {
                    self.m.offset_ns -= 1e9;
                    self.kernel_done = true;
                }
                _ => {}
            }
            // The engine acts on what it was told before time moves on.
            self.run(e, log);
            if self.m.t_ns == t {
                return;
            }
        }
    }

    /// Answers the engine's commands until it waits.
    fn run(&mut self, e: &mut Engine<Kalman>, log: &mut Log) -> u64 {
        loop {
            let cmd = e.poll(self.m.t_ns);
            while let Some(n) = e.take_notice() {
                log.notices.push(n);
            }
            log.commands.push(cmd);
            match cmd {
                Command::Wait(t) => return t,
                Command::CheckClock => e.on_clock_check(&self.check()),
                Command::Read { .. } => panic!("a PPS source is never read: {cmd:?}"),
                Command::Adjust(a) => {
                    if let Some(f) = a.freq {
                        self.m.corr_ppb = f.to_bits() as f64 / 4_294_967_296.0;
                    }
                    e.on_adjusted(Ok(Adjusted {
                        freq: a.freq.unwrap_or(e.status().freq),
                        at: self.m.local(),
                    }));
                }
                Command::Step(d) => {
                    self.m.offset_ns += d.as_nanos() as f64;
                    e.on_stepped(true);
                }
                Command::SendNtp { source, .. } => {
                    if let Some(s) = self.m.ntp_sample() {
                        e.on_ntp_sample(self.m.t_ns, source, &s);
                    }
                }
                Command::SaveState(_) => {}
                Command::Halt(h) => panic!("halted: {h:?}"),
            }
        }
    }

    /// Drives the engine until true time `end_ns`.
    fn drive(&mut self, e: &mut Engine<Kalman>, end_ns: u64, log: &mut Log) {
        loop {
            let wake = self.run(e, log);
            if wake > end_ns {
                self.advance(e, end_ns, log);
                return;
            }
            self.advance(e, wake.max(self.m.t_ns), log);
            if self.m.t_ns >= end_ns {
                return;
            }
        }
    }
}

fn pps_engine(cfg: EngineConfig) -> (Engine<Kalman>, SourceId) {
    let servo = Kalman::new(cfg.servo, KalmanConfig::default(), cfg.interval, Ppb::ZERO);
    let mut e = Engine::new(cfg, servo, Ppb::ZERO, 1_000_000_000);
    let id = e
        .add_pps_source(crate::measure::pps::PpsConfig::default())
        .unwrap();
    (e, id)
}

fn pps_notices(e: &mut Engine<Kalman>) -> std::vec::Vec<PpsNotice> {
    core::iter::from_fn(|| e.take_pps_notice().map(|(_, n)| n)).collect()
}

/// A PPS alone (with its time of day) locks, steps the 0.3 s start away and
/// steers to the pulse noise; it is never read, and edges off the train do
/// not count.
#[test]
fn pps_alone_locks_steers_and_is_never_read() {
    let (mut e, id) = pps_engine(EngineConfig::default());
    let mut m = Model::new(300_000_000.0, 20_000.0, 1_000.0);
    m.wall0_s = 0;
    let mut g = Gnss::new(m, id);
    let mut log = Log::default();
    g.drive(&mut e, 10_000_000_000, &mut log);
    assert_eq!(pps_notices(&mut e), [PpsNotice::Locked]);
    g.drive(&mut e, 120_000_000_000, &mut log);
    let st = *e.status();
    assert!(st.state.is_locked(), "{st:?}");
    assert_eq!(st.source, Some(id));
    assert!(g.error_ns().abs() < 3_000.0, "{}", g.error_ns());
    let steps: std::vec::Vec<_> = log
        .commands
        .iter()
        .filter_map(|c| match c {
            Command::Step(d) => Some(d.as_nanos()),
            _ => None,
        })
        .collect();
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert!((steps[0] + 300_000_000).abs() < 1_000_000, "{steps:?}");
    let v = e.pps_view()[0].unwrap();
    assert!(v.locked && v.live && v.missed == 0, "{v:?}");
    assert!(v.counters.labelled >= 110, "{v:?}");
    // A glitch between pulses is rejected, and counted.
    let glitch = g.m.local().wrapping_add(Duration::from_millis(300));
    assert!(!e.on_pps_edge(
        g.m.t_ns,
        id,
        crate::measure::pps::PpsEdge {
            local: glitch,
            uncertainty: Duration::from_micros(1),
        }
    ));
    assert_eq!(e.pps_source(id).unwrap().counters.wrong_edges, 1);
    g.drive(&mut e, 130_000_000_000, &mut log);
    assert!(g.error_ns().abs() < 3_000.0, "{}", g.error_ns());
}

/// The pulses stop for two minutes: every missed deadline holds over
/// (one update a second, the bound growing over the truth), and the pulses
/// back re-lock without a step.
#[test]
fn missing_pulses_hold_over_with_a_growing_bound_and_relock() {
    let (mut e, id) = pps_engine(EngineConfig::default());
    let mut m = Model::new(1_000.0, 20_000.0, 100.0);
    m.wall0_s = 0;
    let mut g = Gnss::new(m, id);
    let mut log = Log::default();
    g.drive(&mut e, 300_000_000_000, &mut log);
    assert!(e.status().state.is_locked());
    let b0 = e.status().bound.unwrap();
    g.pulses = false;
    g.tod = false;
    let updates = e.status().counters.updates;
    let mut last = b0;
    for s in 301..=420u64 {
        g.drive(&mut e, s * 1_000_000_000, &mut log);
        let st = *e.status();
        if s > 302 {
            assert_eq!(st.state, SyncState::Holdover, "{s}: {st:?}");
            let b = st.bound.unwrap();
            assert!(b >= last, "the bound grows: {b:?} < {last:?}");
            assert!(
                (b.as_nanos() as f64) > g.error_ns().abs(),
                "{s}: bound {b:?}, error {}",
                g.error_ns()
            );
            last = b;
        }
    }
    assert!(last > b0);
    // The holdover drift allowance: 10 ppb over the 120 s since the last
    // pulse, on top of the servo's bound.
    let t = g.m.local();
    let mut z = e.clone();
    z.set_holdover_drift(Ppb::ZERO);
    let extra = e
        .bound_at(t)
        .unwrap()
        .saturating_sub(z.bound_at(t).unwrap());
    assert!((1_190..=1_210).contains(&extra.as_nanos()), "{extra:?}");
    let st = *e.status();
    // A holdover update a second, each a missed edge.
    assert!((118..=122).contains(&st.counters.read_errors), "{st:?}");
    assert!(st.counters.updates - updates >= 118, "{st:?}");
    assert_eq!(
        pps_notices(&mut e).last(),
        Some(&PpsNotice::Missing { missed: 1 })
    );
    g.pulses = true;
    g.tod = true;
    let steps = log
        .commands
        .iter()
        .filter(|c| matches!(c, Command::Step(_)))
        .count();
    g.drive(&mut e, 480_000_000_000, &mut log);
    assert!(e.status().state.is_locked(), "{:?}", e.status());
    assert!(log.notices.iter().any(
        |n| matches!(n, Notice::HoldoverEnded { failed_updates, .. } if *failed_updates >= 118)
    ));
    let after = log
        .commands
        .iter()
        .filter(|c| matches!(c, Command::Step(_)))
        .count();
    assert_eq!(steps, after, "no step on return");
    assert!(g.error_ns().abs() < 1_000.0, "{}", g.error_ns());
}

/// A receiver whose time of day jumps a second for good: followed after
/// five sentences, and with the PPS alone the sink follows it (a step,
/// the step policy allowing one); beside an NTP source the PPS gives the
/// sub-second only and the sink stays where it is.
#[test]
fn a_followed_jump_moves_the_sink_only_with_the_pps_alone() {
    for with_ntp in [false, true] {
        let mut cfg = EngineConfig::default();
        cfg.servo.step_threshold = Duration::from_millis(100);
        let (mut e, id) = pps_engine(cfg);
        if with_ntp {
            add_ntp_servers(&mut e, 1, 4, 4);
        }
        let mut m = Model::new(5_000.0, 10_000.0, 200.0);
        m.wall0_s = 0;
        m.ntp_noise_ns = 2_000.0;
        m.ntp_delay_ns = 20_000.0;
        let mut g = Gnss::new(m, id);
        let mut log = Log::default();
        g.drive(&mut e, 200_000_000_000, &mut log);
        assert!(e.pps_live().is_some());
        assert!(g.error_ns().abs() < 2_000.0, "{with_ntp}: {}", g.error_ns());
        let _ = pps_notices(&mut e);
        g.tod_by = 1;
        g.drive(&mut e, 260_000_000_000, &mut log);
        let n = pps_notices(&mut e);
        assert!(
            n.contains(&PpsNotice::Followed {
                by: 1,
                whole_seconds_used: !with_ntp
            }),
            "{n:?}"
        );
        assert!(n.contains(&PpsNotice::WrongSecond { by: 1, in_a_row: 4 }));
        if with_ntp {
            // The sink stays on UTC.
            assert!(g.error_ns().abs() < 2_000.0, "{}", g.error_ns());
        } else {
            // The sink follows the receiver: a second ahead of UTC.
            assert!((g.error_ns() - 1e9).abs() < 2_000.0, "{}", g.error_ns());
        }
    }
}

/// The kernel inserts a leap second (the sink steps −1 s at its midnight)
/// inside the quiet window: the engine tells the labeller, which keeps the
/// count, so the pulse after it is not counted into 23:59:60 (which would
/// read as the sink 1 s ahead); the jump is not interference. (The leap's
/// own pulse may come before the check that sees the jump: it is then
/// rejected as the last edge again, and the servo holds over a second.)
#[test]
fn a_kernel_leap_second_is_told_to_the_labeller() {
    let (mut e, id) = pps_engine(EngineConfig::default());
    let mut m = Model::new(2_000.0, 5_000.0, 200.0);
    m.wall0_s = 0;
    m.t_ns = 86_100_000_000_000;
    let mut g = Gnss::new(m, id);
    g.leap_at = Some(86_400);
    g.kernel = true;
    let mut log = Log::default();
    g.drive(&mut e, 86_390_000_000_000, &mut log);
    assert!(e.status().state.is_locked());
    assert_eq!(
        e.pps_source(id).unwrap().counters.locks,
        1,
        "{:?}",
        e.pps_source(id)
    );
    let mut log = Log::default();
    let mut worst: f64 = 0.0;
    for s in 86_391..86_460u64 {
        g.drive(&mut e, s * 1_000_000_000 + 700_000_000, &mut log);
        worst = worst.max(g.error_ns().abs());
        if let Some(o) = e.status().last_offset {
            assert!(o.as_nanos().abs() < 100_000, "{s}: {o:?}");
        }
    }
    assert!(g.kernel_done);
    assert!(worst < 5_000.0, "{worst}");
    assert!(log.notices.contains(&Notice::LeapQuiet));
    assert!(
        !log.notices
            .iter()
            .any(|n| matches!(n, Notice::StepInterference(_) | Notice::Stepped(_))),
        "{:?}",
        log.notices
    );
    assert_eq!(e.status().counters.interference, 0);
    let v = e.pps_source(id).unwrap();
    assert!(v.locked && v.live, "{v:?}");
    assert_eq!(v.counters.wrong_seconds, 0, "{v:?}");
    assert_eq!(v.last_second.map(|s| s.unix_secs), Some(86_458));
}

/// A disruption forgets the pulse train: the labeller locks again from
/// the time of day before its edges steer.
#[test]
fn a_disruption_restarts_the_labelling() {
    let (mut e, id) = pps_engine(EngineConfig::default());
    let mut m = Model::new(0.0, 1_000.0, 100.0);
    m.wall0_s = 0;
    let mut g = Gnss::new(m, id);
    let mut log = Log::default();
    g.drive(&mut e, 60_000_000_000, &mut log);
    assert_eq!(e.pps_source(id).unwrap().counters.locks, 1);
    e.on_disruption(g.m.t_ns, Disruption::Migration);
    g.drive(&mut e, 61_200_000_000, &mut log);
    assert!(!e.pps_source(id).unwrap().locked);
    g.drive(&mut e, 90_000_000_000, &mut log);
    let v = e.pps_source(id).unwrap();
    assert!(v.locked && v.counters.locks == 2, "{v:?}");
    assert!(e.status().state.is_locked());
}

//! The engine on the simulated world: keel's one loop, as the daemon, the C
//! library and the firmware drive it, with every command and every answer
//! folded into one 64-bit digest.
//!
//! [`EngineLoop::run`] answers each [`Command`] from the [`World`]: the clock
//! checks (the kernel frequency read back, the local clock against true time
//! as the raw oscillator, UTC as the local clock plus an epoch), a PHC read,
//! a frequency write (the kernel's quantisation applies), a step. The world's
//! signalled disruptions are passed on when the loop wakes.
//!
//! The digest covers, in order: each command (its kind and fields), each
//! answer, and the true offset at every wake-up. A caller elsewhere (C
//! through libkeel, the Cortex-M firmware) that is given the same answers in
//! the same order and issues the same commands computes the same digest.

use super::{DisruptionKind, SimConfig, SimReadError, World};
use crate::engine::{
    Adjust, Adjusted, ClockCheck, Command, Disruption, Engine, EngineConfig, ReadError, Reading,
    SinkConfig, SourceConfig,
};
use crate::measure::phc::{PhcReading, ReadMethod};
use crate::servo::{Kalman, KalmanConfig, Servo};
use crate::time::{Duration, KernelFreq, Leap, LeapKind, Ppb, Timestamp, UtcTaiOffset};

use super::drive::{DIGEST_START, digest_word};

/// How the world is read and what it knows of UTC.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EngineLoop {
    /// How the PHC is read.
    pub method: ReadMethod,
    /// Stop after this many engine updates.
    pub updates: u64,
    /// UTC = the local clock (which starts near the world's epoch) + this
    /// many seconds.
    pub utc_ahead_s: u64,
    /// A leap second the checks report, and TAI − UTC before it.
    pub leap: Option<(Leap, i16)>,
}

/// One answer the world gave, in the order given: what a replay elsewhere
/// feeds its engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Answer {
    /// The world signalled a disruption at this loop time.
    Disruption(u64, Disruption),
    /// [`Command::CheckClock`].
    Check(ClockCheck),
    /// [`Command::Read`] with a reading.
    Reading(Reading),
    /// [`Command::Read`] without one.
    ReadError(ReadError, Timestamp),
    /// [`Command::Adjust`].
    Adjusted(Adjusted),
    /// [`Command::Step`] (always applied here).
    Stepped,
    /// The loop time is now this, ns: told before the first poll and
    /// whenever it changed since (a replay passes it to
    /// [`Engine::poll`]).
    Now(u64),
    /// At a [`Command::Wait`], before the world moves on: the true offset
    /// (local − reference) as whole ns rounded down and the fraction's
    /// `f64` bits, as the digest folds them in.
    TrueOffset {
        /// Whole ns, rounded down.
        whole_ns: i64,
        /// The fraction in `[0, 1)` as `f64::to_bits`.
        frac_bits: u64,
    },
}

/// What a run did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EngineReport {
    /// The digest of every command, answer and wake-up.
    pub hash: u64,
    /// The engine's counters at the end.
    pub counters: crate::engine::Counters,
    /// |true offset| at the end, whole ns (rounded down).
    pub final_offset_ns: i64,
    /// The largest |true offset| over the last quarter of the updates.
    pub max_offset_last_quarter_ns: i64,
    /// Locked with a bound at the end.
    pub locked: bool,
}

/// A read of the world as the engine takes it: the best sample of the
/// reading, or why there is none (a frozen guest did not run; `EBUSY` skips
/// the update; anything else holds over).
///
/// # Errors
/// The [`ReadError`] to answer with.
pub fn reading_of(read: &Result<PhcReading, SimReadError>) -> Result<Reading, ReadError> {
    match read {
        Ok(r) => r
            .best_sample()
            .map(|s| Reading::phc(&s))
            .ok_or(ReadError::Failed),
        Err(SimReadError::Frozen) => Err(ReadError::Paused),
        Err(SimReadError::Busy) => Err(ReadError::Busy),
        Err(_) => Err(ReadError::Failed),
    }
}

/// Carries out [`Command::Adjust`] on the world's simulated kernel (its
/// frequency quantisation applies; the world has no kernel status) and
/// returns the answer: what is in force, and the local time it took effect.
pub fn adjust_world(world: &mut World, a: &Adjust) -> Adjusted {
    if let Some(f) = a.freq {
        world.adjtime_frequency(KernelFreq::from_ppb(f, KernelFreq::USER_HZ));
    }
    Adjusted {
        freq: world.applied_frequency().to_ppb(KernelFreq::USER_HZ),
        at: world.local_time(),
    }
}

/// Folds a command into the digest: a kind word, then its fields.
pub fn digest_command(h: &mut u64, c: &Command) {
    #[allow(clippy::cast_sign_loss, reason = "bit patterns for the digest")]
    let b = |x: i64| x as u64;
    match *c {
        Command::Wait(t) => {
            digest_word(h, 1);
            digest_word(h, t);
        }
        Command::CheckClock => digest_word(h, 2),
        Command::Read { source, samples } => {
            digest_word(h, 3);
            digest_word(h, u64::from(source.0));
            digest_word(h, u64::from(samples));
        }
        Command::Adjust(a) => {
            digest_word(h, 4);
            digest_word(h, a.freq.map_or(u64::MAX, |f| b(f.to_bits())));
            match a.status {
                None => digest_word(h, u64::MAX),
                Some(s) => {
                    digest_word(h, b(s.maxerror_us));
                    digest_word(h, b(s.esterror_us));
                    digest_word(h, u64::from(s.unsync));
                    digest_word(h, s.leap as u64);
                    digest_word(h, s.tai_offset.map_or(u64::MAX, |t| b(i64::from(t))));
                }
            }
        }
        Command::Step(d) => {
            digest_word(h, 5);
            digest_word(h, b(d.as_nanos()));
        }
        Command::SaveState(s) => {
            digest_word(h, 6);
            digest_word(h, b(s.freq.to_bits()));
            digest_word(h, b(s.sd.to_bits()));
        }
        Command::Halt(_) => digest_word(h, 7),
        Command::SendNtp { source, poll } => {
            digest_word(h, 8);
            digest_word(h, u64::from(source.0));
            digest_word(h, b(i64::from(poll)));
        }
    }
}

/// The engine configuration the reference scenario runs: the defaults, a
/// `CLOCK_REALTIME`-like sink, `samples` triples per read.
pub fn default_engine_config() -> EngineConfig {
    EngineConfig {
        sink: SinkConfig {
            kernel_status: true,
            max_frequency: Ppb::from_ppb(100_500_000),
        },
        ..EngineConfig::default()
    }
}

/// keel's default engine for the reference scenario: [`Kalman`] with
/// default settings, no frequency in force, one PHC, first update at 1 s.
pub fn default_engine() -> Engine<Kalman> {
    default_engine_with_capacity()
}

/// [`default_engine`] holding up to `N` sources, `NTP` of them NTP servers
/// and `PPS` of them pulses (firmware: 1, 0 and 0).
pub fn default_engine_with_capacity<const N: usize, const NTP: usize, const PPS: usize>()
-> Engine<Kalman, N, NTP, PPS> {
    let cfg = default_engine_config();
    let servo = Kalman::new(cfg.servo, KalmanConfig::default(), cfg.interval, Ppb::ZERO);
    let mut e = Engine::new_with_capacity(cfg, servo, Ppb::ZERO, 1_000_000_000);
    let _ = e.add_source(SourceConfig::phc());
    e
}

/// The reference engine scenario's world: [`SimConfig::default`] (+0.5 s,
/// +50 ppm, 10 ns noise, EXTENDED reads) with another process dialling the
/// frequency at 200 s and a signalled live migration at 300 s.
pub fn default_engine_world(seed: u64) -> World {
    let mut cfg = SimConfig::default();
    let _ = cfg.push_event(
        200_000_000_000,
        super::Event::ForeignFrequency {
            freq: KernelFreq::from_ppb(Ppb::from_ppb(-20_000), KernelFreq::USER_HZ),
        },
    );
    let _ = cfg.push_event(
        300_000_000_000,
        super::Event::Migration {
            freq_step_ppb: 3_000.0,
            time_step_ns: 200_000,
            pause_ns: 300_000_000,
            signal: true,
        },
    );
    World::new(&cfg, seed)
}

/// The reference scenario's loop: EXTENDED reads, `updates` updates, UTC such
/// that a leap second is inserted 400 s in.
pub fn default_engine_loop(updates: u64) -> EngineLoop {
    const DAY: u64 = 86_400;
    // The world's clocks start at its epoch (Unix seconds); UTC is moved so
    // that the next midnight, with its leap second, comes 400 s in.
    let start = SimConfig::default().reference.epoch_ns / 1_000_000_000;
    let midnight = start.saturating_sub(start % DAY).saturating_add(DAY);
    EngineLoop {
        method: ReadMethod::Extended,
        updates,
        utc_ahead_s: midnight.saturating_sub(400).saturating_sub(start),
        leap: Some((
            Leap {
                unix_secs: midnight,
                kind: LeapKind::Insert,
                offset: UtcTaiOffset(38),
            },
            37,
        )),
    }
}

/// The reference engine scenario: [`default_engine`] on
/// [`default_engine_world`]`(seed)` for [`default_engine_loop`]`(updates)`.
/// Its digest must be the same on every target and through the C library.
pub fn default_engine_run(seed: u64, updates: u64) -> EngineReport {
    let mut world = default_engine_world(seed);
    let mut engine = default_engine();
    default_engine_loop(updates).run(&mut world, &mut engine, &mut |_| {})
}

impl EngineLoop {
    /// The clock check the world answers now.
    fn check(&self, world: &World) -> ClockCheck {
        let local = world.local_time();
        let wall = local.wrapping_add(Duration::from_secs(
            i64::try_from(self.utc_ahead_s).unwrap_or(0),
        ));
        ClockCheck {
            kernel_freq: Some(world.applied_frequency().to_ppb(KernelFreq::USER_HZ)),
            raw_ns: world.now_ns(),
            sink: local,
            pair_width_ns: 0,
            suspended_ns: None,
            wall,
            leap: self.leap.map(|(l, _)| l),
            tai_utc_s: self.leap.map(|(l, before)| {
                if wall.secs() >= l.unix_secs {
                    l.offset.0
                } else {
                    before
                }
            }),
        }
    }

    /// Runs `engine` on `world` until it has made [`EngineLoop::updates`]
    /// updates (or halts), telling `observe` each answer.
    pub fn run<S: Servo, const N: usize, const NTP: usize, const PPS: usize>(
        &self,
        world: &mut World,
        engine: &mut Engine<S, N, NTP, PPS>,
        observe: &mut dyn FnMut(&Answer),
    ) -> EngineReport {
        let mut h = DIGEST_START;
        let quarter_from = self.updates.saturating_sub(self.updates / 4);
        let mut max_last_quarter = 0i64;
        let mut told_now = None;
        loop {
            let now = world.now_ns();
            if told_now != Some(now) {
                told_now = Some(now);
                observe(&Answer::Now(now));
            }
            if let Some(k) = world.take_disruption() {
                let d = match k {
                    DisruptionKind::Migration => Disruption::Migration,
                    DisruptionKind::Resume => Disruption::Resume,
                };
                engine.on_disruption(now, d);
                observe(&Answer::Disruption(now, d));
                digest_word(&mut h, 0xD15);
            }
            let cmd = engine.poll(now);
            digest_command(&mut h, &cmd);
            match cmd {
                Command::Wait(t) => {
                    let (whole, frac) = world.true_offset_split();
                    observe(&Answer::TrueOffset {
                        whole_ns: whole,
                        frac_bits: frac.to_bits(),
                    });
                    digest_word(&mut h, u64::from_ne_bytes(whole.to_ne_bytes()));
                    digest_word(&mut h, frac.to_bits());
                    let updates = engine.status().counters.updates;
                    let mag = super::drive::abs_floor(whole, frac);
                    if updates > quarter_from {
                        max_last_quarter = max_last_quarter.max(mag);
                    }
                    if updates >= self.updates {
                        return EngineReport {
                            hash: h,
                            counters: engine.status().counters,
                            final_offset_ns: mag,
                            max_offset_last_quarter_ns: max_last_quarter,
                            locked: engine.status().state.is_locked(),
                        };
                    }
                    world.advance_to(t.max(now.saturating_add(1)));
                }
                Command::CheckClock => {
                    let c = self.check(world);
                    observe(&Answer::Check(c));
                    engine.on_clock_check(&c);
                }
                Command::Read { source, samples } => {
                    let read = world.read_phc(self.method, usize::from(samples));
                    match reading_of(&read) {
                        Ok(r) => {
                            observe(&Answer::Reading(r));
                            digest_word(
                                &mut h,
                                u64::from_ne_bytes(r.offset.as_nanos().to_ne_bytes()),
                            );
                            digest_word(&mut h, r.local_ts.as_nanos());
                            engine.on_reading(source, &r);
                        }
                        Err(e) => {
                            let at = world.local_time();
                            observe(&Answer::ReadError(e, at));
                            digest_word(&mut h, 0xE44);
                            engine.on_read_error(source, e, at);
                        }
                    }
                }
                Command::Adjust(a) => {
                    let done = adjust_world(world, &a);
                    observe(&Answer::Adjusted(done));
                    engine.on_adjusted(Ok(done));
                }
                Command::Step(d) => {
                    world.step(d);
                    observe(&Answer::Stepped);
                    engine.on_stepped(true);
                }
                // No NTP network in this world: the request is lost.
                Command::SaveState(_) | Command::SendNtp { .. } => {}
                Command::Halt(_) => {
                    return EngineReport {
                        hash: h,
                        counters: engine.status().counters,
                        final_offset_ns: 0,
                        max_offset_last_quarter_ns: max_last_quarter,
                        locked: false,
                    };
                }
            }
        }
    }
}

/// The digest of [`default_engine_run`]`(1, 600)` on `x86_64`; libkeel (C
/// replaying the recorded [`Answer`]s) and the Cortex-M firmware must give the
/// same.
pub const ENGINE_SEED1_600: u64 = 0x8459_E882_0790_DD34;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_engine_run_locks_through_its_events() {
        let r = default_engine_run(1, 600);
        assert!(r.locked, "{r:?}");
        assert!(r.max_offset_last_quarter_ns < 100, "{r:?}");
        // The start, and the migration's 200 µs (a re-acquisition steps
        // past the first step threshold, as at a start).
        assert_eq!(r.counters.steps, 2, "{r:?}");
        // The migration, and the foreign frequency (seen as interference,
        // which re-acquires too).
        assert_eq!(r.counters.disruptions, 2, "{r:?}");
        assert_eq!(r.counters.interference, 1, "{r:?}");
        assert_eq!(r.hash, ENGINE_SEED1_600, "digest {:#018x}", r.hash);
    }

    /// The leap second comes 400 s in: the checks around it see it, and the
    /// engine reads nothing within 2 s of it.
    #[test]
    fn the_reference_run_passes_its_leap_second() {
        let lp = default_engine_loop(600);
        let leap = lp.leap.unwrap().0.unix_secs;
        let (mut near, mut checks, mut reads) = (0, 0, 0);
        let mut world = default_engine_world(1);
        let mut engine = default_engine();
        lp.run(&mut world, &mut engine, &mut |a| match a {
            Answer::Check(c) => {
                checks += 1;
                if c.wall.secs().abs_diff(leap) <= 2 {
                    near += 1;
                }
            }
            Answer::Reading(_) | Answer::ReadError(..) => reads += 1,
            _ => {}
        });
        assert!(near >= 4, "{near} checks near the leap");
        assert!(checks - reads >= near, "{checks} checks, {reads} reads");
    }

    #[test]
    fn replays_and_seeds_differ() {
        assert_eq!(default_engine_run(3, 100), default_engine_run(3, 100));
        assert_ne!(
            default_engine_run(3, 100).hash,
            default_engine_run(4, 100).hash
        );
    }
}

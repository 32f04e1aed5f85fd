//! A simulated GNSS receiver: a pulse per second and NMEA sentences on a
//! serial line, in true time of a [`World`], with the faults the labeller
//! must survive (issue 17): edge jitter, missed pulses and wrong edges;
//! sentences late by a jittered delay, lost, naming a wrong second, without
//! a fix, with corrupted bytes and noise on the line; a receiver whose time
//! jumps, for a while or for good.
//!
//! Pulse `k` marks UTC second `epoch.secs() + k` (`k ≥ 1`); it happens at
//! true time `(epoch.secs() + k)·10⁹ − epoch_ns`, reaches the capture input
//! [`GnssConfig::cable_delay_ns`] later and is stamped with normal noise of
//! σ = [`GnssConfig::pps_jitter_ns`]. The caller stamps events with the
//! world's local clock at their true time ([`run_labelling`] does it all).
//!
//! Every random process draws from its own stream, so a seed gives the same
//! pulses whatever the sentences do.

use heapless::Vec;

use super::World;
use super::rng::{Rng, SplitMix64, f64_to_i64_sat, i64_to_f64, u64_to_f64};
use crate::measure::pps::{EdgeOutcome, Labeller, NMEA_DELAY, PpsConfig, PpsEdge, Tod, TodOutcome};
use crate::time::{Duration, Timestamp, UtcDateTime};
use crate::wire::nmea::{LineAssembler, ModeIndicator, Repr, Rmc, Status, Talker, Zda};

/// Most scripted receiver jumps.
pub const MAX_JUMPS: usize = 4;
/// Longest serial chunk: a sentence and its noise.
pub const MAX_CHUNK: usize = 112;
/// Mixed into the seed so a receiver and a world on one seed are unrelated.
const SEED_SALT: u64 = 0x474E_5353_5F52_5856;
const S: u64 = 1_000_000_000;

/// The receiver's time jumps by `by_s` seconds from pulse `from` (its
/// sentences name `by_s` more), back again at pulse `until` if set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ReceiverJump {
    /// First pulse (count from the start, 1-based) whose sentence is off.
    pub from: u64,
    /// First pulse that is right again; `None` for good.
    pub until: Option<u64>,
    /// Seconds added to what the sentences name.
    pub by_s: i64,
}

/// Which sentence carries the time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TodSentence {
    /// `$GPRMC` (status `V` when there is no fix).
    Rmc,
    /// `$GNZDA` (no validity: sentences without a fix are not sent).
    Zda,
}

/// The receiver and its line; rates are probabilities per second, times in
/// ns. Values are clamped to sane ranges; non-finite ones become 0.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct GnssConfig {
    /// Cable and antenna delay: the pulse reaches the input this late, ns.
    pub cable_delay_ns: f64,
    /// σ of the edge's timestamp noise, ns (clamped to 1 ms).
    pub pps_jitter_ns: f64,
    /// Probability that a pulse is not captured.
    pub pulse_loss: f64,
    /// Probability of a wrong edge in a second, at a uniform phase 10–990 ms
    /// after the pulse.
    pub wrong_edge_rate: f64,
    /// Width of the pulse when the trailing edge is captured too, ns; 0 for
    /// one edge.
    pub pulse_width_ns: f64,
    /// Nominal delay of the sentence after the pulse it names, ns.
    pub tod_delay_ns: f64,
    /// Uniform jitter of that delay, ± ns (the sum is kept in −0.5…1.5 s).
    pub tod_jitter_ns: f64,
    /// Probability that a sentence is lost.
    pub tod_loss: f64,
    /// Probability that a sentence names a wrong second (±1 or ±2).
    pub wrong_second_rate: f64,
    /// Probability that a second has no fix (RMC status `V`, naming an hour
    /// off; no ZDA at all).
    pub no_fix_rate: f64,
    /// Probability that a byte on the line is corrupted.
    pub byte_error_rate: f64,
    /// Probability of up to 8 noise bytes before a sentence.
    pub line_noise_rate: f64,
    /// The sentence that names the second.
    pub sentence: TodSentence,
    /// Scripted jumps of the receiver's time.
    pub jumps: Vec<ReceiverJump, MAX_JUMPS>,
}

impl Default for GnssConfig {
    /// A clean receiver: kernel PPS (σ 1 µs), RMC 0.5 s after the pulse.
    fn default() -> Self {
        Self {
            cable_delay_ns: 0.0,
            pps_jitter_ns: 1_000.0,
            pulse_loss: 0.0,
            wrong_edge_rate: 0.0,
            pulse_width_ns: 0.0,
            tod_delay_ns: 500_000_000.0,
            tod_jitter_ns: 0.0,
            tod_loss: 0.0,
            wrong_second_rate: 0.0,
            no_fix_rate: 0.0,
            byte_error_rate: 0.0,
            line_noise_rate: 0.0,
            sentence: TodSentence::Rmc,
            jumps: Vec::new(),
        }
    }
}

impl GnssConfig {
    /// Every fault at once (issue 17's test mix): 1 % of pulses lost, 1 %
    /// wrong edges and every trailing edge (100 ms pulses), 2 % of sentences
    /// lost, 1 % naming a wrong second, 0.5 % without a fix, 10⁻⁴ of the
    /// bytes corrupted and noise before 5 % of the sentences, RMC 0.5 s ±
    /// `tod_jitter_ns` after the pulse, a 30 m cable (150 ns), kernel PPS
    /// (σ 1 µs).
    pub fn all_faults(tod_jitter_ns: f64) -> Self {
        Self {
            cable_delay_ns: 150.0,
            pps_jitter_ns: 1_000.0,
            pulse_loss: 0.01,
            wrong_edge_rate: 0.01,
            pulse_width_ns: 100e6,
            tod_delay_ns: 500e6,
            tod_jitter_ns,
            tod_loss: 0.02,
            wrong_second_rate: 0.01,
            no_fix_rate: 0.005,
            byte_error_rate: 1e-4,
            line_noise_rate: 0.05,
            ..Self::default()
        }
    }

    /// The labeller's configuration for this receiver: its cable delay and
    /// pulse width (to the ns), the rest default.
    pub fn labeller_config(&self) -> PpsConfig {
        let c = self.sanitized();
        let ns = |v: f64| Duration::from_nanos(f64_to_i64_sat(v + 0.5));
        PpsConfig {
            cable_delay: ns(c.cable_delay_ns),
            pulse_width: (c.pulse_width_ns > 0.0).then(|| ns(c.pulse_width_ns)),
            ..PpsConfig::default()
        }
    }

    fn sanitized(&self) -> Self {
        let fin = |v: f64| if v.is_finite() { v } else { 0.0 };
        let p = |v: f64| fin(v).clamp(0.0, 1.0);
        let jitter = fin(self.tod_jitter_ns).clamp(0.0, 1e9);
        Self {
            cable_delay_ns: fin(self.cable_delay_ns).clamp(0.0, 1e6),
            pps_jitter_ns: fin(self.pps_jitter_ns).clamp(0.0, 1e6),
            pulse_loss: p(self.pulse_loss),
            wrong_edge_rate: p(self.wrong_edge_rate),
            pulse_width_ns: fin(self.pulse_width_ns).clamp(0.0, 9e8),
            tod_delay_ns: fin(self.tod_delay_ns).clamp(-5e8 + jitter, 1.5e9 - jitter),
            tod_jitter_ns: jitter,
            tod_loss: p(self.tod_loss),
            wrong_second_rate: p(self.wrong_second_rate),
            no_fix_rate: p(self.no_fix_rate),
            byte_error_rate: p(self.byte_error_rate),
            line_noise_rate: p(self.line_noise_rate),
            sentence: self.sentence,
            jumps: self.jumps.clone(),
        }
    }
}

/// What happens on the receiver's two wires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum GnssEvent {
    /// An edge reaches the capture input.
    Edge {
        /// True time, ns since the start.
        true_ns: u64,
        /// The UTC second the pulse truly marks; `None` for a wrong or
        /// trailing edge.
        second: Option<u64>,
    },
    /// Bytes arrive on the serial line.
    Serial {
        /// True time, ns since the start.
        true_ns: u64,
        /// The bytes (`len` of them).
        bytes: [u8; MAX_CHUNK],
        /// How many.
        len: usize,
        /// When these bytes end a sentence: the second it truly follows
        /// (the pulse before it), and what it names.
        ends: Option<SentenceTruth>,
    },
}

/// The truth about one sentence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SentenceTruth {
    /// The UTC second of the pulse it belongs to.
    pub pulse_second: u64,
    /// The second it names (wrong seconds and jumps included).
    pub named: u64,
    /// It says it has a fix.
    pub valid: bool,
    /// Its bytes were corrupted on the line.
    pub corrupted: bool,
}

impl GnssEvent {
    /// Its true time, ns since the start.
    pub const fn true_ns(&self) -> u64 {
        match self {
            Self::Edge { true_ns, .. } | Self::Serial { true_ns, .. } => *true_ns,
        }
    }
}

/// Events queued: a few seconds' worth.
const QUEUE: usize = 24;

/// The receiver: see the [module docs](self).
#[derive(Clone, Debug)]
pub struct GnssReceiver {
    cfg: GnssConfig,
    epoch: Timestamp,
    /// Next pulse to generate (1-based).
    next_pulse: u64,
    queue: Vec<(u64, u64, GnssEvent), QUEUE>,
    seq: u64,
    rng_pulse: Rng,
    rng_tod: Rng,
    rng_line: Rng,
}

impl GnssReceiver {
    /// A receiver whose clock is true UTC, in a world whose true time 0 is
    /// UTC `epoch` (`World::truth_time_at(0)`).
    pub fn new(cfg: &GnssConfig, seed: u64, epoch: Timestamp) -> Self {
        let mut sm = SplitMix64::new(seed ^ SEED_SALT);
        Self {
            cfg: cfg.sanitized(),
            epoch,
            next_pulse: 1,
            queue: Vec::new(),
            seq: 0,
            rng_pulse: Rng::from_splitmix(&mut sm),
            rng_tod: Rng::from_splitmix(&mut sm),
            rng_line: Rng::from_splitmix(&mut sm),
        }
    }

    /// The UTC second pulse `k` marks.
    pub fn second_of(&self, k: u64) -> u64 {
        self.epoch.secs().saturating_add(k)
    }

    /// True time of pulse `k` at the antenna, ns.
    fn pulse_ns(&self, k: u64) -> u64 {
        self.second_of(k)
            .saturating_mul(S)
            .saturating_sub(self.epoch.as_nanos())
    }

    fn push(&mut self, ev: GnssEvent) {
        self.seq = self.seq.wrapping_add(1);
        let _ = self.queue.push((ev.true_ns(), self.seq, ev));
    }

    /// The next event, in true-time order.
    pub fn next_event(&mut self) -> GnssEvent {
        // Everything of pulse k lies after its true time − 0.6 s.
        loop {
            let horizon = self.pulse_ns(self.next_pulse).saturating_sub(600_000_000);
            let earliest = self.queue.iter().map(|q| (q.0, q.1)).min();
            match earliest {
                Some((t, _)) if t < horizon => break,
                _ if self.queue.len() > QUEUE - 6 => break,
                _ => self.generate(),
            }
        }
        let i = self
            .queue
            .iter()
            .enumerate()
            .min_by_key(|(_, q)| (q.0, q.1))
            .map_or(0, |(i, _)| i);
        let (_, _, ev) = self.queue.swap_remove(i);
        ev
    }

    fn offset_ns(base: u64, ns: f64) -> u64 {
        base.saturating_add_signed(f64_to_i64_sat(ns + 0.5))
    }

    /// Queues pulse `next_pulse`'s edges and sentence.
    #[allow(clippy::arithmetic_side_effects, reason = "float model arithmetic")]
    fn generate(&mut self) {
        let k = self.next_pulse;
        self.next_pulse = k.saturating_add(1);
        let t = self.pulse_ns(k);
        let second = self.second_of(k);
        let c = &self.cfg;
        // The pulse: the same draws whether it is lost or not.
        let lost = self.rng_pulse.bernoulli(c.pulse_loss);
        let noise = self.rng_pulse.normal() * c.pps_jitter_ns;
        let trail_noise = self.rng_pulse.normal() * c.pps_jitter_ns;
        let wrong = self.rng_pulse.bernoulli(c.wrong_edge_rate);
        let wrong_at = 10e6 + 980e6 * self.rng_pulse.uniform();
        let (cable, width) = (c.cable_delay_ns, c.pulse_width_ns);
        if !lost {
            let at = Self::offset_ns(t, cable + noise);
            self.push(GnssEvent::Edge {
                true_ns: at,
                second: Some(second),
            });
            if width > 0.0 {
                let at = Self::offset_ns(t, cable + width + trail_noise);
                self.push(GnssEvent::Edge {
                    true_ns: at,
                    second: None,
                });
            }
        }
        if wrong {
            self.push(GnssEvent::Edge {
                true_ns: Self::offset_ns(t, wrong_at),
                second: None,
            });
        }
        self.sentence(k, t, second);
    }

    #[allow(clippy::arithmetic_side_effects, reason = "float model arithmetic")]
    fn sentence(&mut self, k: u64, t: u64, second: u64) {
        let c = &self.cfg;
        let r = &mut self.rng_tod;
        let lost = r.bernoulli(c.tod_loss);
        let latency = c.tod_delay_ns + c.tod_jitter_ns * (2.0 * r.uniform() - 1.0);
        let wrong = r.bernoulli(c.wrong_second_rate);
        let magnitude = if r.uniform() < 0.5 { 1 } else { 2 };
        let sign = if r.uniform() < 0.5 { -1 } else { 1 };
        let no_fix = r.bernoulli(c.no_fix_rate);
        let jump: i64 = c
            .jumps
            .iter()
            .filter(|j| k >= j.from && j.until.is_none_or(|u| k < u))
            .map(|j| j.by_s)
            .sum();
        let mut named = second.saturating_add_signed(jump);
        if wrong {
            named = named.saturating_add_signed(sign * magnitude);
        }
        if no_fix {
            named = named.saturating_sub(3600);
        }
        if lost || (no_fix && c.sentence == TodSentence::Zda) {
            return;
        }
        let utc = UtcDateTime::from_timestamp(Timestamp::from_secs_nanos(named, 0));
        let repr = match c.sentence {
            TodSentence::Rmc => Repr::Rmc(Rmc {
                talker: Talker::GPS,
                time: Some(utc.time),
                status: if no_fix {
                    Status::Warning
                } else {
                    Status::Valid
                },
                navigation: b"4807.038,N,01131.000,E,0.0,0.0",
                date: Some(utc.date).filter(|d| (1980..2080).contains(&d.year)),
                magnetic: b",",
                mode: Some(if no_fix {
                    ModeIndicator::NotValid
                } else {
                    ModeIndicator::Autonomous
                }),
                nav_status: None,
            }),
            TodSentence::Zda => Repr::Zda(Zda {
                talker: Talker::GNSS,
                time: Some(utc.time),
                date: Some(utc.date),
                zone: b"00,00",
            }),
        };
        let mut bytes = [0u8; MAX_CHUNK];
        let noise = if self.rng_line.bernoulli(c.line_noise_rate) {
            1 + usize::try_from(self.rng_line.next_u64() % 8).unwrap_or(0)
        } else {
            0
        };
        for b in bytes.iter_mut().take(noise) {
            // Anything but `$` and line ends.
            *b = match self.rng_line.next_u64().to_le_bytes()[0] {
                b'$' | b'\r' | b'\n' => b'~',
                x => x,
            };
        }
        let Ok(n) = repr.emit(bytes.get_mut(noise..).unwrap_or(&mut [])) else {
            return;
        };
        let len = noise + n;
        let mut corrupted = false;
        for b in bytes.iter_mut().take(len).skip(noise + 1) {
            if self.rng_line.bernoulli(c.byte_error_rate) && *b != b'\r' && *b != b'\n' {
                *b ^= 1 << (self.rng_line.next_u64() % 7);
                corrupted = true;
            }
        }
        // It arrives in two reads: the first part 5 ms before the end.
        let end = Self::offset_ns(t, latency);
        let span = u64::try_from(len - 1).unwrap_or(1);
        let cut = 1 + usize::try_from(self.rng_line.next_u64() % span).unwrap_or(0);
        let mut first = [0u8; MAX_CHUNK];
        first[..cut].copy_from_slice(&bytes[..cut]);
        let mut rest = [0u8; MAX_CHUNK];
        rest[..len - cut].copy_from_slice(&bytes[cut..len]);
        self.push(GnssEvent::Serial {
            true_ns: end.saturating_sub(5_000_000),
            bytes: first,
            len: cut,
            ends: None,
        });
        self.push(GnssEvent::Serial {
            true_ns: end,
            bytes: rest,
            len: len - cut,
            ends: Some(SentenceTruth {
                pulse_second: second,
                named,
                valid: !no_fix,
                corrupted,
            }),
        });
    }
}

/// What [`run_labelling`] measured.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LabellingRun {
    /// Pulses the receiver sent (captured or not).
    pub pulses: u64,
    /// Edges handed out labelled.
    pub labelled: u64,
    /// Labelled edges whose second is not the one the pulse marks in the
    /// receiver's time, or that were no pulse at all. A jump for good
    /// ([`ReceiverJump::until`] `None`) is the receiver's new time, to be
    /// followed; a jump with an end is a glitch, not to be followed.
    pub mislabelled: u64,
    /// Labelled edges whose second is not true UTC (a receiver's jump).
    pub not_utc: u64,
    /// Wrong and trailing edges the receiver sent.
    pub wrong_edges_sent: u64,
    /// Wrong edges that were labelled (0 is the goal).
    pub wrong_edges_used: u64,
    /// Pulses not captured.
    pub pulses_lost: u64,
    /// Pulses captured but rejected (a wrong edge just `pulse_width` before
    /// a pulse makes the pulse look like a trailing edge).
    pub pulses_rejected: u64,
    /// Missed pulses the labeller reported.
    pub missed_reported: u64,
    /// Valid, intact sentences naming another second than the receiver's
    /// time (wrong seconds and glitches; not jumps for good).
    pub wrong_seconds_sent: u64,
    /// True seconds from the first valid, intact sentence to the lock, s.
    pub lock_after_s: Option<f64>,
    /// The labeller's counters at the end.
    pub counters: crate::measure::pps::PpsCounters,
    /// RMS and largest |labelled offset − true offset|, ns.
    pub offset_rms_ns: f64,
    /// The largest of them, ns.
    pub offset_max_ns: f64,
}

/// Runs `pulses` pulses of `gnss` into a [`Labeller`] through the whole
/// path: the world's local clock stamps each event, bytes go through a
/// [`LineAssembler`] and the NMEA parser, and valid sentences become
/// [`Tod`]s `tod_delay` (default [`NMEA_DELAY`]) after their pulse. The
/// world's local clock is not steered.
#[allow(
    clippy::arithmetic_side_effects,
    reason = "float statistics; counters are far below u64::MAX"
)]
pub fn run_labelling(
    world: &mut World,
    gnss: &GnssConfig,
    pps: &PpsConfig,
    seed: u64,
    pulses: u64,
    tod_delay: Option<Duration>,
) -> LabellingRun {
    let epoch_secs = world.truth_time_at(0).secs();
    let mut rx = GnssReceiver::new(gnss, seed, world.truth_time_at(0));
    let mut lines = LineAssembler::<96>::new();
    let mut labeller = Labeller::new(*pps);
    let mut run = LabellingRun::default();
    let delay = tod_delay.unwrap_or(NMEA_DELAY);
    // The second the receiver names for UTC second `s` (its jumps added).
    let receivers = |s: u64| -> u64 {
        let k = s.saturating_sub(epoch_secs);
        let by: i64 = gnss
            .jumps
            .iter()
            .filter(|j| k >= j.from && j.until.is_none())
            .map(|j| j.by_s)
            .sum();
        s.saturating_add_signed(by)
    };
    let (mut sum_sq, mut n, mut max) = (0.0, 0u64, 0.0f64);
    let mut captured = 0u64;
    let mut first_tod_ns: Option<u64> = None;
    let last_second = rx.second_of(pulses);
    loop {
        let ev = rx.next_event();
        world.advance_to(ev.true_ns());
        let local = world.local_time();
        match ev {
            GnssEvent::Edge { second, .. } => {
                match second {
                    Some(s) if s > last_second => break,
                    Some(_) => captured += 1,
                    None => run.wrong_edges_sent += 1,
                }
                let out = labeller.on_edge(PpsEdge {
                    local,
                    uncertainty: Duration::from_nanos(1_000),
                });
                let e = match out {
                    EdgeOutcome::Labelled(e) => e,
                    EdgeOutcome::Rejected(_) if second.is_some() => {
                        run.pulses_rejected += 1;
                        continue;
                    }
                    _ => continue,
                };
                run.labelled += 1;
                let Some(s) = second else {
                    run.wrong_edges_used += 1;
                    run.mislabelled += 1;
                    continue;
                };
                if e.second.unix_secs != receivers(s) || e.second.leap {
                    run.mislabelled += 1;
                }
                if e.second.unix_secs == s {
                    let err = i64_to_f64(e.offset.as_nanos()) - world.truth_offset_ns();
                    sum_sq += err * err;
                    n += 1;
                    max = max.max(err.abs());
                } else {
                    run.not_utc += 1;
                }
            }
            GnssEvent::Serial {
                bytes, len, ends, ..
            } => {
                if let Some(t) = ends {
                    if t.valid && !t.corrupted && t.named != receivers(t.pulse_second) {
                        run.wrong_seconds_sent += 1;
                    }
                }
                for &b in bytes.iter().take(len) {
                    let Some(Ok(line)) = lines.push(b) else {
                        continue;
                    };
                    let Ok(repr) = Repr::parse_bytes(line) else {
                        continue;
                    };
                    let Some(tod) = Tod::from_nmea(&repr, local, delay) else {
                        continue;
                    };
                    let first = *first_tod_ns.get_or_insert(ev.true_ns());
                    if labeller.on_tod(tod) == TodOutcome::Locked && run.lock_after_s.is_none() {
                        run.lock_after_s = Some(u64_to_f64(ev.true_ns() - first) / 1e9);
                    }
                }
            }
        }
    }
    run.pulses = pulses;
    run.counters = labeller.counters();
    run.missed_reported = run.counters.missed_pulses;
    run.pulses_lost = pulses.saturating_sub(captured);
    if n > 0 {
        run.offset_rms_ns = libm::sqrt(sum_sq / u64_to_f64(n));
    }
    run.offset_max_ns = max;
    run
}

#[cfg(test)]
mod tests;

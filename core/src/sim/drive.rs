//! A closed loop: a [`Servo`] steers the simulated clock from PHC readings,
//! and every observable bit of the run is folded into one 64-bit digest.
//!
//! This is the code path shared by the host tests and the bare-metal
//! firmware example (`examples/firmware-cortex-m`): the same seed and update
//! count must give the same [`LoopReport`] on every target, bit for bit.

use super::{SimConfig, World};
use crate::measure::phc::ReadMethod;
use crate::servo::{
    Action, Applied, Kalman, KalmanConfig, OffsetSample, Servo, ServoConfig, ServoOutput,
    ServoState,
};
use crate::time::{Duration, KernelFreq, Ppb};

/// How the loop samples the world.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LoopConfig {
    /// Nominal update interval (the servo may ask for earlier updates).
    pub interval: Duration,
    /// How the PHC is read.
    pub method: ReadMethod,
    /// Samples per read for the sampled methods (`1..=25`).
    pub samples: usize,
    /// Servo updates to run.
    pub updates: u32,
}

impl Default for LoopConfig {
    /// 1 s updates, `PTP_SYS_OFFSET_EXTENDED` with 5 samples, 600 updates.
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(1),
            method: ReadMethod::Extended,
            samples: 5,
            updates: 600,
        }
    }
}

/// What a closed-loop run did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LoopReport {
    /// FNV-1a digest of every update: true time, local time, the servo's
    /// whole output and the true offset's exact bits.
    pub hash: u64,
    /// Updates run.
    pub updates: u32,
    /// Steps the servo asked for (all applied).
    pub steps: u32,
    /// Updates without a reading (read failures or a frozen guest).
    pub missed: u32,
    /// The servo's state after the last update.
    pub state: ServoState,
    /// The first update after which the state never left
    /// [`ServoState::Locked`] / [`ServoState::LockedStable`], if any.
    pub locked_from: Option<u32>,
    /// |true offset| after the last update, whole ns (rounded down).
    pub final_offset_ns: i64,
    /// Largest |true offset| over the last quarter of the updates, whole ns.
    pub max_offset_last_quarter_ns: i64,
}

impl LoopReport {
    /// Locked at the end, and within `limit_ns` over the last quarter.
    pub fn locked_within(&self, limit_ns: i64) -> bool {
        matches!(self.state, ServoState::Locked | ServoState::LockedStable)
            && self.locked_from.is_some()
            && self.max_offset_last_quarter_ns <= limit_ns
    }
}

/// FNV-1a over the little-endian bytes of `x`.
fn fnv1a(h: &mut u64, x: u64) {
    for b in x.to_le_bytes() {
        *h ^= u64::from(b);
        *h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
}

#[allow(clippy::cast_sign_loss, reason = "bit patterns for the digest")]
fn bits(x: i64) -> u64 {
    x as u64
}

/// Folds a servo output into the digest, field by field, exactly as a C
/// caller sees it in `keel_servo_output` (so a C program can reproduce the
/// digest): action (0 none, 1 set frequency, 2 step), step ns (0 unless a
/// step), `freq` (ppb 32.32 bits), state (0 unlocked, 1 jump, 2 locked,
/// 3 locked stable), offset ns, error bound ns (`u64::MAX` if none), next
/// update ns (`u64::MAX` if none); each as 8 little-endian bytes.
pub fn digest_output(h: &mut u64, out: &ServoOutput) {
    let (kind, step) = match out.action {
        Action::None => (0, 0),
        Action::SetFrequency(_) => (1, 0),
        Action::Step { step, .. } => (2, step.as_nanos()),
    };
    fnv1a(h, kind);
    fnv1a(h, bits(step));
    fnv1a(h, bits(out.freq.to_bits()));
    fnv1a(
        h,
        match out.state {
            ServoState::Unlocked => 0,
            ServoState::Jump => 1,
            ServoState::Locked => 2,
            ServoState::LockedStable => 3,
        },
    );
    fnv1a(h, bits(out.offset.as_nanos()));
    fnv1a(h, out.error_bound.map_or(u64::MAX, |d| bits(d.as_nanos())));
    fnv1a(h, out.next_update.map_or(u64::MAX, |d| bits(d.as_nanos())));
}

/// FNV-1a's offset basis: the digest's starting value.
pub const DIGEST_START: u64 = 0xCBF2_9CE4_8422_2325;

/// Folds one 64-bit word into the digest (FNV-1a over its 8 little-endian
/// bytes).
pub fn digest_word(h: &mut u64, x: u64) {
    fnv1a(h, x);
}

/// The world's side of one update, in digest order: with it a servo can be
/// driven through the same updates elsewhere (e.g. through the C API on a
/// target without the simulator) and the digest recomputed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct UpdateRecord {
    /// A signalled disruption was passed to [`Servo::disruption`] first
    /// (digest word `0xD15`).
    pub disrupted: bool,
    /// True time, ns (digest word).
    pub now_ns: u64,
    /// Local clock, ns (digest word; the `no_sample` time).
    pub local_ns: u64,
    /// The sample given to [`Servo::sample`]; `None`: [`Servo::no_sample`].
    pub sample: Option<OffsetSample>,
    /// True offset after the action, whole ns (digest word, after the
    /// output's words).
    pub offset_whole_ns: i64,
    /// Its fraction's `f64` bits (digest word).
    pub offset_frac_bits: u64,
}

/// Shortest wait between updates the loop honours, ns.
const MIN_UPDATE_NS: u64 = 1_000_000;

/// Runs `servo` on `world` for `cfg.updates` updates, starting at the
/// world's current time. The servo's actions are applied exactly (steps via
/// [`World::step`], frequencies via [`World::adjtime_frequency`]) and
/// reported back with [`Servo::applied`]; signalled disruptions are passed
/// on with [`Servo::disruption`] before the next update.
pub fn run<S: Servo>(world: &mut World, servo: &mut S, cfg: &LoopConfig) -> LoopReport {
    run_observed(world, servo, cfg, &mut |_| {})
}

/// [`run`], telling `observe` the world's side of every update.
pub fn run_observed<S: Servo>(
    world: &mut World,
    servo: &mut S,
    cfg: &LoopConfig,
    observe: &mut dyn FnMut(&UpdateRecord),
) -> LoopReport {
    let interval_ns = u64::try_from(cfg.interval.as_nanos())
        .unwrap_or(1)
        .max(MIN_UPDATE_NS);
    let mut h = DIGEST_START;
    let mut rep = LoopReport {
        hash: 0,
        updates: 0,
        steps: 0,
        missed: 0,
        state: servo.state(),
        locked_from: None,
        final_offset_ns: 0,
        max_offset_last_quarter_ns: 0,
    };
    let quarter_from = cfg.updates.saturating_sub(cfg.updates / 4);
    let mut next = world.now_ns().saturating_add(interval_ns);
    for k in 0..cfg.updates {
        world.advance_to(next);
        let disrupted = world.take_disruption().is_some();
        if disrupted {
            servo.disruption();
            fnv1a(&mut h, 0xD15);
        }
        let local = world.local_time();
        fnv1a(&mut h, world.now_ns());
        fnv1a(&mut h, local.as_nanos());
        let sample = world
            .read_phc(cfg.method, cfg.samples)
            .ok()
            .as_ref()
            .and_then(crate::measure::phc::PhcReading::best_sample);
        let sample = sample.map(|s| OffsetSample {
            offset: s.offset,
            local_ts: s.local_ts,
            uncertainty: s.uncertainty(),
        });
        let out = match sample {
            Some(s) => servo.sample(&s),
            None => {
                rep.missed = rep.missed.saturating_add(1);
                servo.no_sample(local)
            }
        };
        digest_output(&mut h, &out);
        let applied = match out.action {
            Action::None => None,
            Action::SetFrequency(f) => Some((None, f)),
            Action::Step { step, freq } => {
                world.step(step);
                rep.steps = rep.steps.saturating_add(1);
                Some((Some(step), freq))
            }
        };
        if let Some((step, freq)) = applied {
            world.adjtime_frequency(KernelFreq::from_ppb(freq, KernelFreq::USER_HZ));
            servo.applied(&Applied { step, freq });
        }
        let (whole, frac) = world.true_offset_split();
        fnv1a(&mut h, bits(whole));
        fnv1a(&mut h, frac.to_bits());
        observe(&UpdateRecord {
            disrupted,
            now_ns: world.now_ns(),
            local_ns: local.as_nanos(),
            sample,
            offset_whole_ns: whole,
            offset_frac_bits: frac.to_bits(),
        });
        let mag = abs_floor(whole, frac);
        if k >= quarter_from {
            rep.max_offset_last_quarter_ns = rep.max_offset_last_quarter_ns.max(mag);
        }
        rep.final_offset_ns = mag;
        rep.state = out.state;
        match out.state {
            ServoState::Locked | ServoState::LockedStable => {
                rep.locked_from.get_or_insert(k);
            }
            ServoState::Unlocked | ServoState::Jump => rep.locked_from = None,
        }
        rep.updates = k.saturating_add(1);
        let wait = out
            .next_update
            .and_then(|d| u64::try_from(d.as_nanos()).ok())
            .unwrap_or(interval_ns)
            .clamp(MIN_UPDATE_NS, interval_ns);
        next = next.saturating_add(wait);
    }
    rep.hash = h;
    rep
}

/// |whole + frac| rounded down, for `frac ∈ [0, 1)`.
pub(crate) fn abs_floor(whole: i64, frac: f64) -> i64 {
    if whole >= 0 {
        whole
    } else if frac > 0.0 {
        // −(whole + frac) = −whole − frac ∈ (−whole − 1, −whole)
        whole.saturating_add(1).saturating_neg()
    } else {
        whole.saturating_neg()
    }
}

/// The reference scenario's loop: [`LoopConfig::default`] with `updates`.
pub fn default_loop(updates: u32) -> LoopConfig {
    LoopConfig {
        updates,
        ..LoopConfig::default()
    }
}

/// The reference scenario's world: [`SimConfig::default`] (+0.5 s, +50 ppm,
/// 1 ppb/√s wander, 10 ns read noise) with `seed`.
pub fn default_world(seed: u64) -> World {
    World::new(&SimConfig::default(), seed)
}

/// keel's default servo as the reference scenario runs it: [`Kalman`] with
/// default settings, a 1 s interval and no frequency in force.
pub fn default_servo() -> Kalman {
    Kalman::new(
        ServoConfig::default(),
        KalmanConfig::default(),
        LoopConfig::default().interval,
        Ppb::ZERO,
    )
}

/// The reference scenario: [`default_servo`] on [`default_world`]`(seed)`
/// for [`default_loop`]`(updates)`. Its digest must be the same on every
/// target. (Firmware with little RAM may place the world and the servo in
/// statics and call [`run`] with the same three pieces: same digest.)
pub fn default_servo_run(seed: u64, updates: u32) -> LoopReport {
    let mut world = default_world(seed);
    let mut servo = default_servo();
    run(&mut world, &mut servo, &default_loop(updates))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The digest of `default_servo_run(1, 600)` on `x86_64`; the firmware
    /// example must print the same.
    const DEFAULT_SEED1_600: u64 = 0x00E7_74B3_9C2E_815D;

    #[test]
    fn default_run_locks() {
        let r = default_servo_run(1, 600);
        assert!(r.locked_within(1_000), "{r:?}");
        assert_eq!(r.steps, 1, "{r:?}");
        assert_eq!(r.hash, DEFAULT_SEED1_600, "digest {:#018x}", r.hash);
    }

    #[test]
    fn replays_and_seeds_differ() {
        assert_eq!(default_servo_run(3, 100), default_servo_run(3, 100));
        assert_ne!(
            default_servo_run(3, 100).hash,
            default_servo_run(4, 100).hash
        );
    }

    /// The digest's `freq` word is also what the actions carry, so a C caller
    /// applying `freq_ppb_q32` applies what the Rust loop applies.
    #[test]
    fn action_frequency_is_the_output_frequency() {
        let mut world = default_world(5);
        let cfg = default_loop(300);
        let mut check = CheckFreq(default_servo());
        let r = run(&mut world, &mut check, &cfg);
        assert!(r.locked_within(1_000), "{r:?}");
    }

    struct CheckFreq(Kalman);

    impl Servo for CheckFreq {
        fn sample(&mut self, s: &OffsetSample) -> ServoOutput {
            let o = self.0.sample(s);
            check(&o);
            o
        }
        fn applied(&mut self, a: &Applied) {
            self.0.applied(a);
        }
        fn set_interval(&mut self, i: Duration) {
            self.0.set_interval(i);
        }
        fn set_config(&mut self, c: crate::servo::ServoConfig) {
            self.0.set_config(c);
        }
        fn reset(&mut self) {
            self.0.reset();
        }
        fn disruption(&mut self) {
            self.0.disruption();
        }
        fn state(&self) -> ServoState {
            self.0.state()
        }
        fn no_sample(&mut self, t: crate::time::Timestamp) -> ServoOutput {
            let o = self.0.no_sample(t);
            check(&o);
            o
        }
    }

    fn check(o: &ServoOutput) {
        match o.action {
            Action::None => {}
            Action::SetFrequency(f) | Action::Step { freq: f, .. } => assert_eq!(f, o.freq),
        }
    }

    #[test]
    fn abs_floor_edges() {
        assert_eq!(abs_floor(5, 0.5), 5);
        assert_eq!(abs_floor(-6, 0.5), 5);
        assert_eq!(abs_floor(-6, 0.0), 6);
        assert_eq!(abs_floor(i64::MIN, 0.0), i64::MAX);
    }
}

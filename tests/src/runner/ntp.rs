//! The scenario runner with an NTP network: keel's engine on a simulated
//! world (`keel_core::sim::World`) whose PHC may step, drift or fail, and a
//! simulated NTP network (`keel_core::sim::network::NtpNetwork`) of servers
//! that keep true time. The engine is driven as `keel sync` drives it
//! ([`EngineDriver`]): clock checks, PHC reads, NTP requests when it asks
//! and replies stamped with the local clock the instant they arrive.
//!
//! The error measured is against the truth (`World::truth_offset_ns`,
//! local − true UTC), not against the PHC: a host that steps takes the PHC
//! with it, and following it is an error.

use keel_core::engine::{EngineConfig, Notice, NtpPolicy, SourceId};
use keel_core::measure::phc::ReadMethod;
use keel_core::servo::{Kalman, KalmanConfig};
use keel_core::sim::network::{NetCounters, NtpNetwork, PathModel, ServerEvent, ServerModel};
use keel_core::sim::{SimConfig, World};
use keel_core::time::KernelFreq;

use super::{RunResult, ServoUnderTest, UPDATE_PHASE_NS};
use crate::engine_driver::EngineDriver;
use crate::stats;

const S: u64 = 1_000_000_000;

/// One NTP server of a scenario.
#[derive(Clone, Debug)]
pub struct NtpServer {
    /// Its clock and what it advertises.
    pub model: ServerModel,
    /// The path to it.
    pub path: PathModel,
    /// Scripted changes, at true times (ns).
    pub events: Vec<(u64, ServerEvent)>,
}

impl NtpServer {
    /// A perfect stratum-1 server behind `path`.
    pub fn perfect(path: PathModel) -> Self {
        Self {
            model: ServerModel::default(),
            path,
            events: Vec::new(),
        }
    }

    /// A server whose clock is `offset_ns` off true time from the start.
    pub fn off_by(path: PathModel, offset_ns: f64) -> Self {
        Self {
            model: ServerModel {
                offset_ns,
                ..ServerModel::default()
            },
            path,
            events: Vec::new(),
        }
    }
}

/// One experiment: a world, keel's engine with or without the world's PHC
/// as a source, and NTP servers all polled with one policy.
#[derive(Clone, Debug)]
pub struct NtpScenario {
    /// Name in the report.
    pub name: String,
    /// The clock world: the local oscillator, the PHC's read noise, the
    /// host's steps and drifts (`Event::ReferenceStep`,
    /// `Event::ReferenceFreq`), PHC outages.
    pub sim: SimConfig,
    /// The world's PHC is a source (read every second with PRECISE).
    pub phc: bool,
    /// The servers, each an NTP source of the engine.
    pub servers: Vec<NtpServer>,
    /// Their policy.
    pub policy: NtpPolicy,
    /// Run length, s.
    pub duration_s: u64,
}

/// The engine's configuration in these runs: as `keel sync` ships it
/// (1 s updates, the first update may step, later ones slew), one
/// cross-timestamp per PHC read, no state file.
pub fn engine_config() -> EngineConfig {
    EngineConfig {
        samples: 1,
        save_every: 0,
        ..EngineConfig::default()
    }
}

/// What happened in one run.
#[derive(Clone, Debug, Default)]
pub struct NtpRun {
    /// The seed.
    pub seed: u64,
    /// local − truth at every whole second `k` (index `k`), ns.
    pub trace_ns: Vec<f64>,
    /// The largest |local − truth| seen in `[k, k + 1)` s (index `k`): at
    /// the whole second and at every wake-up of the engine or reply, just
    /// before it acts, ns.
    pub peak_ns: Vec<f64>,
    /// The engine's notices and the true time they came, ns.
    pub notices: Vec<(u64, Notice)>,
    /// Notices the engine dropped because they were not taken in time.
    pub notices_dropped: u32,
    /// True times of the updates that fed the servo an NTP sample (ns),
    /// and the index of the server (in [`NtpScenario::servers`]) whose
    /// sample it was.
    pub ntp_updates: Vec<(u64, usize)>,
    /// Whole seconds at which the frequency in force was at the sink's
    /// limit (±100.5 ppm·1000, `EngineConfig::sink.max_frequency`).
    pub at_freq_limit_s: u64,
    /// True times of the PHC reads (ok or failed), ns.
    pub phc_reads: Vec<u64>,
    /// Steps keel took.
    pub steps: u64,
    /// What the network did.
    pub net: NetCounters,
}

/// Seconds, as f64.
#[allow(clippy::cast_precision_loss, reason = "true times of a run")]
fn secs(ns: u64) -> f64 {
    ns as f64 / 1e9
}

impl NtpRun {
    /// True time (ns) of the first notice at or after `from_s` that
    /// `pick` picks.
    pub fn first_notice_ns(&self, from_s: u64, pick: impl Fn(&Notice) -> bool) -> Option<u64> {
        let from = from_s.saturating_mul(S);
        self.notices
            .iter()
            .find(|(t, n)| *t >= from && pick(n))
            .map(|&(t, _)| t)
    }

    /// Seconds from `from_s` to the first notice at or after it that
    /// `pick` picks.
    pub fn first_notice_after(&self, from_s: u64, pick: impl Fn(&Notice) -> bool) -> Option<f64> {
        self.first_notice_ns(from_s, pick)
            .map(|t| secs(t.saturating_sub(from_s.saturating_mul(S))))
    }

    /// Notices at or after `from_s` that `pick` picks.
    pub fn count_notices(&self, from_s: u64, pick: impl Fn(&Notice) -> bool) -> usize {
        let from = from_s.saturating_mul(S);
        self.notices
            .iter()
            .filter(|(t, n)| *t >= from && pick(n))
            .count()
    }

    /// True time (ns) of the first update fed by NTP at or after `from_s`.
    pub fn first_ntp_update_ns(&self, from_s: u64) -> Option<u64> {
        let from = from_s.saturating_mul(S);
        self.ntp_updates
            .iter()
            .find(|&&(t, _)| t >= from)
            .map(|&(t, _)| t)
    }

    /// Seconds from `from_s` to the first update fed by NTP at or after it.
    pub fn first_ntp_update_after(&self, from_s: u64) -> Option<f64> {
        self.first_ntp_update_ns(from_s)
            .map(|t| secs(t.saturating_sub(from_s.saturating_mul(S))))
    }

    /// Updates from `from_s` on that fed the servo a sample of one of the
    /// servers `servers` picks (by index).
    pub fn ntp_updates_from(&self, from_s: u64, servers: impl Fn(usize) -> bool) -> usize {
        let from = from_s.saturating_mul(S);
        self.ntp_updates
            .iter()
            .filter(|&&(t, i)| t >= from && servers(i))
            .count()
    }

    /// PHC reads in true time `[from_ns, to_ns]`.
    pub fn phc_reads_between(&self, from_ns: u64, to_ns: u64) -> usize {
        self.phc_reads
            .iter()
            .filter(|&&t| t >= from_ns && t <= to_ns)
            .count()
    }

    /// Max |local − truth| over `[from_s, to_s)`, ns.
    pub fn max_abs(&self, from_s: u64, to_s: u64) -> f64 {
        let (a, b) = self.window(self.peak_ns.len(), from_s, to_s);
        self.peak_ns
            .get(a..b)
            .unwrap_or(&[])
            .iter()
            .fold(0.0, |m, &x| m.max(x))
    }

    /// RMS of local − truth at the whole seconds of `[from_s, to_s)`, ns.
    pub fn rms(&self, from_s: u64, to_s: u64) -> f64 {
        let (a, b) = self.window(self.trace_ns.len(), from_s, to_s);
        stats::rms(self.trace_ns.get(a..b).unwrap_or(&[]))
    }

    /// Seconds from `from_s` until |local − truth| stays below
    /// `limit_ns` to the end of the run; `None` when it never does.
    pub fn settle_s(&self, from_s: u64, limit_ns: f64) -> Option<u64> {
        let from = usize::try_from(from_s).unwrap_or(usize::MAX);
        let tail = self.peak_ns.get(from..)?;
        let last_above = tail.iter().rposition(|&x| x >= limit_ns);
        match last_above {
            None => Some(0),
            Some(i) if i + 1 >= tail.len() => None,
            Some(i) => u64::try_from(i + 1).ok(),
        }
    }

    fn window(&self, len: usize, from_s: u64, to_s: u64) -> (usize, usize) {
        let a = usize::try_from(from_s).unwrap_or(usize::MAX).min(len);
        let b = usize::try_from(to_s).unwrap_or(usize::MAX).min(len);
        (a, b.max(a))
    }
}

/// Runs `scn` with `seed`.
pub fn run_ntp(scn: &NtpScenario, seed: u64) -> NtpRun {
    let mut world = World::new(&scn.sim, seed);
    let mut net = NtpNetwork::new(seed);
    let mut servers = Vec::new();
    for srv in &scn.servers {
        if let Some(i) = net.add_server(srv.model, srv.path) {
            for &(at, e) in &srv.events {
                let _ = net.schedule(i, at, e);
            }
            servers.push(i);
        }
    }
    let cfg = engine_config();
    let in_force = scn.sim.actuator.initial.to_ppb(KernelFreq::USER_HZ);
    let kalman = Kalman::new(cfg.servo, KalmanConfig::default(), cfg.interval, in_force);
    let first = UPDATE_PHASE_NS;
    let mut d = if scn.phc {
        EngineDriver::new("keel", cfg, kalman, in_force, ReadMethod::Precise, first)
    } else {
        EngineDriver::without_phc("keel", cfg, kalman, in_force, ReadMethod::Precise, first)
    };
    d.attach_ntp(net, seed);
    let phc_id = scn.phc.then_some(SourceId(0));
    // Engine source → the server's index in the scenario.
    let mut source_of: Vec<(SourceId, usize)> = Vec::new();
    for (k, &i) in servers.iter().enumerate() {
        if let Some(id) = d.add_ntp_server(i, scn.policy, first) {
            source_of.push((id, k));
        }
    }
    let limit = cfg.sink.max_frequency.to_bits().saturating_abs();
    // 1 % short of the limit (the kernel's quantisation).
    let near_limit = limit - limit / 100;

    let end_ns = scn.duration_s.saturating_mul(S);
    let mut out = NtpRun {
        seed,
        ..NtpRun::default()
    };
    let mut res = RunResult::default();
    let mut wake = first;
    let mut next_second = 0u64;
    let mut last_update = None;
    let mut reads = 0u64;
    loop {
        let arrival = d.next_ntp_arrival_ns().unwrap_or(u64::MAX);
        let now = wake.min(arrival).min(next_second);
        if now > end_ns {
            break;
        }
        world.advance_to(now);
        // Before anything acts: the error the wake-up finds.
        let err = world.truth_offset_ns();
        let k = usize::try_from(now / S).unwrap_or(usize::MAX);
        if out.peak_ns.len() <= k {
            out.peak_ns.resize(k.saturating_add(1), 0.0);
        }
        if let Some(p) = out.peak_ns.get_mut(k) {
            *p = p.max(err.abs());
        }
        if now == next_second {
            out.trace_ns.push(err);
            next_second = next_second.saturating_add(S);
            let f = d.engine().status().freq.to_bits().saturating_abs();
            if f >= near_limit {
                out.at_freq_limit_s += 1;
            }
        }
        let delivered = d.deliver_ntp(&world);
        if now >= wake || delivered > 0 {
            wake = d
                .drive(&mut world, now, &mut res)
                .unwrap_or(u64::MAX)
                .max(now.saturating_add(1));
            let e = d.engine_mut();
            while let Some(n) = e.take_notice() {
                out.notices.push((now, n));
            }
            let st = e.status();
            if last_update != Some(st.last_update_ns) {
                last_update = Some(st.last_update_ns);
                let server = source_of
                    .iter()
                    .find(|(id, _)| st.source == Some(*id) && Some(*id) != phc_id)
                    .map(|&(_, k)| k);
                if let Some(k) = server {
                    out.ntp_updates.push((st.last_update_ns, k));
                }
            }
            let c = world.counters();
            let r = c.reads_ok.saturating_add(c.reads_failed);
            if r > reads {
                reads = r;
                out.phc_reads.push(now);
            }
        }
    }
    out.notices_dropped = d.engine().notices_dropped();
    out.steps = res.steps;
    out.net = d.ntp_counters().unwrap_or_default();
    out
}

/// The PHC + NTP world of the reference's clknetsim runs (§1.4): the
/// client starts 10 ms off at +10 ppm with 1 ppb/√s wander, the PHC is the
/// host's clock read with 100 ns of white noise; the host is perfect until
/// its event.
pub fn phc_world() -> SimConfig {
    let mut sim = SimConfig::default();
    sim.oscillator.initial_offset_ns = 10_000_000;
    sim.oscillator.initial_freq_ppb = 10_000.0;
    sim.oscillator.wander_ppb_per_sqrt_s = 1.0;
    sim.read.noise_ns = 100.0;
    sim
}

/// The NTP-only client world of chrony's figures (§6): +100 ppm, 1 ppb/√s
/// wander, starting `offset_ns` off.
pub fn client_world(offset_ns: i64) -> SimConfig {
    let mut sim = SimConfig::default();
    sim.oscillator.initial_offset_ns = offset_ns;
    sim.oscillator.initial_freq_ppb = 100_000.0;
    sim.oscillator.wander_ppb_per_sqrt_s = 1.0;
    sim
}

/// `n` perfect servers behind `path`.
pub fn perfect_servers(n: usize, path: PathModel) -> Vec<NtpServer> {
    (0..n).map(|_| NtpServer::perfect(path)).collect()
}

/// Runs `scn` over `seeds`.
pub fn run_seeds(scn: &NtpScenario, seeds: &[u64]) -> Vec<NtpRun> {
    run_many(&[(scn.clone(), seeds.to_vec())])
        .pop()
        .unwrap_or_default()
}

/// Runs every scenario over its seeds, spreading the runs over the
/// machine's cores; the runs of each scenario in seed order.
pub fn run_many(scns: &[(NtpScenario, Vec<u64>)]) -> Vec<Vec<NtpRun>> {
    // The longest runs first, so one does not finish alone at the end.
    let mut jobs: Vec<(usize, u64)> = scns
        .iter()
        .enumerate()
        .flat_map(|(i, (_, seeds))| seeds.iter().map(move |&s| (i, s)))
        .collect();
    jobs.sort_by_key(|&(i, _)| std::cmp::Reverse(scns.get(i).map_or(0, |s| s.0.duration_s)));
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut done: Vec<Option<NtpRun>> = vec![None; jobs.len()];
    let results = std::sync::Mutex::new(&mut done);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(&(s, seed)) = jobs.get(i) else { break };
                    let Some((scn, _)) = scns.get(s) else { break };
                    let r = run_ntp(scn, seed);
                    if let Ok(mut v) = results.lock() {
                        if let Some(slot) = v.get_mut(i) {
                            *slot = Some(r);
                        }
                    }
                }
            });
        }
    });
    let mut out: Vec<Vec<NtpRun>> = scns.iter().map(|_| Vec::new()).collect();
    for ((s, _), r) in jobs.iter().zip(done) {
        if let (Some(v), Some(r)) = (out.get_mut(*s), r) {
            v.push(r);
        }
    }
    for v in &mut out {
        v.sort_by_key(|r| r.seed);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ntp_report::{DEFAULT_IBURST, HostEvent, phc_scenario_timed};

    /// PHC + 3 LAN servers, the host steps +1 ms at 600 s (a shortened
    /// row of the report): the jury rejects the PHC at its third reading
    /// after the step, NTP steers within a few seconds, and the sink never
    /// follows the host (its error from true time stays within 100 µs).
    #[test]
    fn a_host_step_is_rejected_and_ntp_steers() {
        let event_s = 600;
        let scn = phc_scenario_timed(HostEvent::Step(1_000_000), DEFAULT_IBURST, event_s, 700);
        let r = run_ntp(&scn, 1);
        let rejected = |n: &Notice| matches!(n, Notice::PhcRejected { .. });
        assert_eq!(r.count_notices(0, rejected), 1, "{:?}", r.notices);
        assert_eq!(r.count_notices(event_s, rejected), 1, "{:?}", r.notices);
        let at_ns = r
            .first_notice_ns(event_s, rejected)
            .expect("the PHC is rejected");
        let reads = r.phc_reads_between(event_s * S, at_ns);
        assert!((1..=3).contains(&reads), "rejected at PHC reading {reads}");
        let ntp = r.first_ntp_update_after(event_s).expect("NTP steers");
        assert!(ntp <= 5.0, "NTP steered {ntp} s after the step");
        // Before the step the PHC steered, to well under a microsecond.
        assert!(r.rms(300, event_s) < 200.0, "{}", r.rms(300, event_s));
        assert!(r.ntp_updates_from(0, |_| true) == r.ntp_updates_from(event_s, |_| true));
        let worst = r.max_abs(event_s, 700);
        assert!(worst < 100_000.0, "error {worst} ns after the step");
        assert_eq!(r.trace_ns.len(), 701);
    }
}

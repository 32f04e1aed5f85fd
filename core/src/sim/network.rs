//! A simulated NTP network: up to [`MAX_SERVERS`] servers behind lossy,
//! jittery paths, answering real request bytes with real reply bytes
//! ([`server_reply`]), in true time of a [`World`].
//!
//! Each one-way delay is `base + Exp(jitter)` (plus `asymmetry` on the way
//! back), as in clknetsim. Servers keep their own clock against true UTC
//! ([`World::truth_time`]), not against the world's reference (the host PHC),
//! so a host that steps or drifts can be caught by NTP.
//!
//! The caller plays the client: it emits a
//! [`ClientRequest`](crate::measure::ntp::ClientRequest), notes `t1 =
//! world.local_time()`, calls [`NtpNetwork::send`], advances the world to
//! [`NtpNetwork::next_arrival_ns`], takes the reply with
//! [`NtpNetwork::take_arrival`], notes `t4 = world.local_time()` and calls
//! `process_reply`. With `offset = local − server`, a longer return path
//! (positive `asymmetry_ns`) shows as the local clock *ahead* by half the
//! asymmetry.
//!
//! Each server draws from its own random stream (derived from the seed), so
//! one server's traffic does not change another's delays.

use heapless::Vec;

use super::World;
use super::rng::{Rng, SplitMix64, f64_to_i64_sat, floor_i64, i64_to_f64, u64_to_f64};
use crate::measure::ntp::{ServerClock, server_reply};
use crate::time::{Duration, Timestamp};
use crate::wire::ntp::{LeapIndicator, ReferenceId};

/// Most servers in a network.
pub const MAX_SERVERS: usize = 8;
/// Replies in flight at once; a further one drops the oldest.
pub const MAX_IN_FLIGHT: usize = 32;
/// Scripted events per server.
pub const MAX_SERVER_EVENTS: usize = 4;
/// How long a server holds a request: `T3 = T2 + SERVER_HOLD`.
pub const SERVER_HOLD: Duration = Duration::from_nanos(10_000);
/// Servers' precision, log₂ s (about 60 ns).
const SERVER_PRECISION: i8 = -24;
/// Mixed into the seed so a network and a world on one seed draw unrelated numbers.
const SEED_SALT: u64 = 0x4E54_5020_4E45_5421;

/// One path between the client and a server; delays in ns.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PathModel {
    /// Fixed part of each one-way delay, ns.
    pub base_ns: f64,
    /// Mean of the exponential part of each one-way delay, ns.
    pub jitter_ns: f64,
    /// Added to the server → client leg only, ns (may be negative; a leg
    /// never goes below 0).
    pub asymmetry_ns: f64,
    /// Probability that a packet is lost, each way.
    pub loss: f64,
}

impl PathModel {
    /// LAN: 100 µs + Exp(100 µs) each way.
    pub const fn lan() -> Self {
        Self::symmetric(100_000.0, 100_000.0)
    }

    /// Large jitter: 100 µs + Exp(0.1 s) each way.
    pub const fn large_jitter() -> Self {
        Self::symmetric(100_000.0, 100_000_000.0)
    }

    /// WAN: 10 ms + Exp(1 ms) each way.
    pub const fn wan() -> Self {
        Self::symmetric(10_000_000.0, 1_000_000.0)
    }

    const fn symmetric(base_ns: f64, jitter_ns: f64) -> Self {
        Self {
            base_ns,
            jitter_ns,
            asymmetry_ns: 0.0,
            loss: 0.0,
        }
    }

    /// Non-finite values become 0, delays at least 0, loss within 0…1.
    fn sanitized(self) -> Self {
        let fin = |v: f64| if v.is_finite() { v } else { 0.0 };
        Self {
            base_ns: fin(self.base_ns).max(0.0),
            jitter_ns: fin(self.jitter_ns).max(0.0),
            asymmetry_ns: fin(self.asymmetry_ns),
            loss: fin(self.loss).clamp(0.0, 1.0),
        }
    }

    /// One leg's delay, whole ns.
    fn draw(&self, rng: &mut Rng, extra_ns: f64) -> u64 {
        let d = self.base_ns + rng.exponential(self.jitter_ns) + extra_ns;
        u64::try_from(f64_to_i64_sat(d + 0.5)).unwrap_or(0)
    }
}

/// A server's clock and what it advertises.
#[derive(Clone, Copy, Debug, PartialEq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ServerModel {
    /// Server clock − true UTC at true time 0, ns.
    pub offset_ns: f64,
    /// Server clock rate against true time, ppb (positive = fast).
    pub freq_ppb: f64,
    /// Replies say leap 3 / stratum 16 (see [`ServerEvent`] to change it later).
    pub unsynchronized: bool,
    /// Advertised stratum (clamped to 1–15 on the wire).
    pub stratum: u8,
    /// Advertised root delay, ns.
    pub root_delay_ns: u64,
    /// Advertised root dispersion, ns.
    pub root_dispersion_ns: u64,
}

impl Default for ServerModel {
    /// A perfect synchronised stratum-1 server (chrony's `local stratum 1`).
    fn default() -> Self {
        Self {
            offset_ns: 0.0,
            freq_ppb: 0.0,
            unsynchronized: false,
            stratum: 1,
            root_delay_ns: 0,
            root_dispersion_ns: 0,
        }
    }
}

/// A scripted change of a server, at a true time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ServerEvent {
    /// The server clock jumps by `delta_ns` (positive = ahead).
    Step {
        /// Step, ns.
        delta_ns: i64,
    },
    /// The server becomes unsynchronised (leap 3, stratum 16).
    Unsynchronize,
    /// The server is synchronised again.
    Resynchronize,
}

/// What the network did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NetCounters {
    /// Requests sent to an existing server.
    pub sent: u64,
    /// Exchanges lost on the way out or back.
    pub lost: u64,
    /// Replies taken by the client.
    pub delivered: u64,
    /// Replies dropped because [`MAX_IN_FLIGHT`] were already in flight.
    pub dropped: u64,
    /// Requests a server could not parse (no reply).
    pub refused: u64,
}

#[derive(Clone, Debug)]
struct Server {
    model: ServerModel,
    path: PathModel,
    events: Vec<(u64, ServerEvent), MAX_SERVER_EVENTS>,
    rng: Rng,
}

impl Server {
    /// Server clock − truth at true time `t`, ns.
    fn offset_at(&self, t: u64) -> f64 {
        let m = &self.model;
        let mut off = m.offset_ns + m.freq_ppb * u64_to_f64(t) / 1e9;
        for &(at, e) in &self.events {
            match e {
                ServerEvent::Step { delta_ns } if at <= t => off += i64_to_f64(delta_ns),
                _ => {}
            }
        }
        off
    }

    /// Is the server synchronised at true time `t`? The latest event at or
    /// before `t` decides (the later scheduled on a tie).
    fn synchronized_at(&self, t: u64) -> bool {
        let mut state = (0, !self.model.unsynchronized);
        for &(at, e) in &self.events {
            let sync = match e {
                ServerEvent::Unsynchronize => false,
                ServerEvent::Resynchronize => true,
                ServerEvent::Step { .. } => continue,
            };
            if at <= t && at >= state.0 {
                state = (at, sync);
            }
        }
        state.1
    }
}

#[derive(Clone, Copy, Debug)]
struct InFlight {
    arrive_ns: u64,
    seq: u64,
    server: usize,
    bytes: [u8; 48],
    len: usize,
}

/// The simulated network: see the [module docs](self).
#[derive(Clone, Debug)]
pub struct NtpNetwork {
    seeds: SplitMix64,
    servers: Vec<Server, MAX_SERVERS>,
    queue: Vec<InFlight, MAX_IN_FLIGHT>,
    seq: u64,
    counters: NetCounters,
}

impl NtpNetwork {
    /// An empty network whose random streams derive from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            seeds: SplitMix64::new(seed ^ SEED_SALT),
            servers: Vec::new(),
            queue: Vec::new(),
            seq: 0,
            counters: NetCounters::default(),
        }
    }

    /// Adds a server behind `path`; its index, or `None` when
    /// [`MAX_SERVERS`] are there already. Non-finite values become 0.
    pub fn add_server(&mut self, model: ServerModel, path: PathModel) -> Option<usize> {
        let fin = |v: f64| if v.is_finite() { v } else { 0.0 };
        let model = ServerModel {
            offset_ns: fin(model.offset_ns),
            freq_ppb: fin(model.freq_ppb),
            ..model
        };
        let server = Server {
            model,
            path: path.sanitized(),
            events: Vec::new(),
            rng: Rng::from_splitmix(&mut self.seeds),
        };
        self.servers.push(server).ok()?;
        self.servers.len().checked_sub(1)
    }

    /// Schedules `event` on `server` at true time `at_ns`; `false` when the
    /// server does not exist or has [`MAX_SERVER_EVENTS`] already.
    pub fn schedule(&mut self, server: usize, at_ns: u64, event: ServerEvent) -> bool {
        self.servers
            .get_mut(server)
            .is_some_and(|s| s.events.push((at_ns, event)).is_ok())
    }

    /// Server clock − true UTC at true time `true_ns`, ns (`None` for no
    /// such server).
    pub fn server_offset_ns(&self, server: usize, true_ns: u64) -> Option<f64> {
        self.servers.get(server).map(|s| s.offset_at(true_ns))
    }

    /// Sends `request` to `server` at the world's true time now. The server
    /// stamps `T2` on arrival and `T3 = T2 + SERVER_HOLD`, and its reply
    /// is queued for its arrival time unless lost. Nothing happens for an
    /// unknown server; a request the server cannot parse gets no reply.
    pub fn send(&mut self, world: &World, server: usize, request: &[u8]) {
        let now = world.now_ns();
        let Some(s) = self.servers.get_mut(server) else {
            return;
        };
        self.counters.sent = self.counters.sent.saturating_add(1);
        // The same draws for every exchange, lost or not.
        let lost_out = s.rng.bernoulli(s.path.loss);
        let d1 = s.path.draw(&mut s.rng, 0.0);
        let d2 = s.path.draw(&mut s.rng, s.path.asymmetry_ns);
        let lost_back = s.rng.bernoulli(s.path.loss);
        if lost_out || lost_back {
            self.counters.lost = self.counters.lost.saturating_add(1);
            return;
        }
        let at_server = now.saturating_add(d1);
        let off = floor_i64(s.offset_at(at_server));
        let t2 = world
            .truth_time_at(at_server)
            .wrapping_add(Duration::from_nanos(off));
        let t3 = t2.wrapping_add(SERVER_HOLD);
        let m = &s.model;
        let nanos = |v: u64| Duration::from_nanos(i64::try_from(v).unwrap_or(i64::MAX));
        let root_delay = nanos(m.root_delay_ns);
        let clock = ServerClock {
            synchronized: s.synchronized_at(at_server),
            leap: LeapIndicator::NoWarning,
            stratum: m.stratum,
            precision: SERVER_PRECISION,
            reference_id: ReferenceId([127, 127, 1, 1]),
            reference_time: Timestamp::from_secs_nanos(t2.secs(), 0),
            root_delay,
            error_bound: nanos(m.root_delay_ns / 2).saturating_add(nanos(m.root_dispersion_ns)),
        };
        let mut bytes = [0u8; 48];
        let Ok(len) = server_reply(&clock, request, t2, t3, &mut bytes) else {
            self.counters.refused = self.counters.refused.saturating_add(1);
            return;
        };
        let hold_ns = u64::try_from(SERVER_HOLD.as_nanos()).unwrap_or(0);
        let arrive_ns = at_server.saturating_add(hold_ns).saturating_add(d2);
        let item = InFlight {
            arrive_ns,
            seq: self.seq,
            server,
            bytes,
            len,
        };
        self.seq = self.seq.saturating_add(1);
        if let Err(item) = self.queue.push(item) {
            // Full: the oldest request's reply gives way.
            let oldest = self.queue.iter().enumerate().min_by_key(|(_, q)| q.seq);
            if let Some((i, _)) = oldest {
                self.queue.swap_remove(i);
            }
            let _ = self.queue.push(item);
            self.counters.dropped = self.counters.dropped.saturating_add(1);
        }
    }

    /// True time of the earliest reply in flight, ns.
    pub fn next_arrival_ns(&self) -> Option<u64> {
        self.queue.iter().map(|q| q.arrive_ns).min()
    }

    /// The earliest reply (first sent on a tie) that has arrived by true time
    /// `now_true_ns`: the server's index, the bytes and their length.
    pub fn take_arrival(&mut self, now_true_ns: u64) -> Option<(usize, [u8; 48], usize)> {
        let (i, _) = self
            .queue
            .iter()
            .enumerate()
            .filter(|(_, q)| q.arrive_ns <= now_true_ns)
            .min_by_key(|(_, q)| (q.arrive_ns, q.seq))?;
        let q = self.queue.swap_remove(i);
        self.counters.delivered = self.counters.delivered.saturating_add(1);
        Some((q.server, q.bytes, q.len))
    }

    /// Replies in flight.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }

    /// What has happened so far.
    pub fn counters(&self) -> NetCounters {
        self.counters
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::ntp::{ClientConfig, ClientRequest, NtpSample, ReplyError};
    use crate::sim::{Event, SimConfig};

    const S: u64 = 1_000_000_000;

    /// A world whose local clock is true UTC, with `events`.
    fn world(events: &[(u64, Event)]) -> World {
        let mut c = SimConfig::default();
        c.oscillator.initial_offset_ns = 0;
        c.oscillator.initial_freq_ppb = 0.0;
        c.oscillator.wander_ppb_per_sqrt_s = 0.0;
        for &(at, e) in events {
            c.push_event(at, e).unwrap();
        }
        World::new(&c, 1)
    }

    /// One exchange with `server`, then a second of quiet; `None` if lost.
    fn exchange(
        w: &mut World,
        net: &mut NtpNetwork,
        server: usize,
    ) -> Option<Result<NtpSample, ReplyError>> {
        let req = ClientRequest::new(w.now_ns() ^ 0x5A5A, 6);
        let mut q = [0u8; 48];
        req.emit(&mut q).unwrap();
        let t1 = w.local_time();
        net.send(w, server, &q);
        let r = net.next_arrival_ns().map(|at| {
            w.advance_to(at);
            let (from, a, len) = net.take_arrival(w.now_ns()).unwrap();
            assert_eq!(from, server);
            req.process_reply(&a[..len], t1, w.local_time(), &ClientConfig::default())
        });
        w.advance_to(w.now_ns() + S);
        r
    }

    /// (offsets, delays) in ns over `n` exchanges, lost ones skipped.
    fn run(model: ServerModel, path: PathModel, n: usize, seed: u64) -> (Vec<f64, 1000>, f64) {
        let mut w = world(&[]);
        let mut net = NtpNetwork::new(seed);
        let s = net.add_server(model, path).unwrap();
        let (mut offsets, mut delay_sum, mut min_delay) = (Vec::new(), 0.0, i64::MAX);
        for _ in 0..n {
            let smp = exchange(&mut w, &mut net, s).unwrap().unwrap();
            offsets.push(i64_to_f64(smp.offset.as_nanos())).unwrap();
            delay_sum += i64_to_f64(smp.delay.as_nanos());
            min_delay = min_delay.min(smp.delay.as_nanos());
        }
        assert!(min_delay >= 2 * 100_000, "min delay {min_delay}");
        (offsets, delay_sum / i64_to_f64(i64::try_from(n).unwrap()))
    }

    fn mean(v: &[f64]) -> f64 {
        v.iter().sum::<f64>() / i64_to_f64(i64::try_from(v.len()).unwrap())
    }

    #[test]
    fn lan_perfect_server() {
        let (offsets, mean_delay) = run(ServerModel::default(), PathModel::lan(), 1000, 1);
        let m = mean(&offsets);
        assert!(m.abs() < 10_000.0, "mean offset {m}");
        assert!((mean_delay - 400_000.0).abs() < 40_000.0, "{mean_delay}");
    }

    #[test]
    fn server_ahead_shows_as_negative_offset() {
        let model = ServerModel {
            offset_ns: 1_000_000.0,
            ..ServerModel::default()
        };
        let (offsets, _) = run(model, PathModel::lan(), 1000, 2);
        let m = mean(&offsets);
        assert!((m + 1_000_000.0).abs() < 10_000.0, "mean offset {m}");
    }

    #[test]
    fn longer_return_path_shows_local_ahead_by_half() {
        // offset = ((T1 − T2) + (T4 − T3))/2 = (d2 − d1)/2 with both clocks
        // true: +100 µs on the way back gives +50 µs (local "ahead").
        let asym = PathModel {
            asymmetry_ns: 100_000.0,
            ..PathModel::lan()
        };
        let (plain, _) = run(ServerModel::default(), PathModel::lan(), 1000, 3);
        let (shifted, _) = run(ServerModel::default(), asym, 1000, 3);
        for (a, b) in plain.iter().zip(&shifted) {
            assert!((b - a - 50_000.0).abs() <= 1.0, "{a} {b}");
        }
        assert!((mean(&shifted) - 50_000.0).abs() < 10_000.0);
    }

    #[test]
    fn loss_each_way() {
        let mut w = world(&[]);
        let mut net = NtpNetwork::new(4);
        let path = PathModel {
            loss: 0.33,
            ..PathModel::lan()
        };
        let s = net.add_server(ServerModel::default(), path).unwrap();
        let n = 10_000;
        for _ in 0..n {
            if let Some(r) = exchange(&mut w, &mut net, s) {
                assert!(r.is_ok());
            }
        }
        let c = net.counters();
        assert_eq!((c.sent, c.lost + c.delivered, c.dropped), (n, n, 0));
        let frac = u64_to_f64(c.lost) / u64_to_f64(n);
        assert!((frac - (1.0 - 0.67 * 0.67)).abs() < 0.02, "{frac}");
    }

    #[test]
    fn unsynchronised_and_stepped_servers() {
        let mut w = world(&[]);
        let mut net = NtpNetwork::new(5);
        let bad = ServerModel {
            unsynchronized: true,
            ..ServerModel::default()
        };
        let b = net.add_server(bad, PathModel::lan()).unwrap();
        assert_eq!(
            exchange(&mut w, &mut net, b),
            Some(Err(ReplyError::Unsynchronized))
        );
        let g = net
            .add_server(ServerModel::default(), PathModel::lan())
            .unwrap();
        assert!(net.schedule(
            g,
            10 * S,
            ServerEvent::Step {
                delta_ns: 5_000_000
            }
        ));
        assert!(net.schedule(g, 20 * S, ServerEvent::Unsynchronize));
        assert!(net.schedule(g, 30 * S, ServerEvent::Resynchronize));
        assert!(net.schedule(b, 30 * S, ServerEvent::Resynchronize));
        let off = |r: Option<Result<NtpSample, _>>| r.unwrap().unwrap().offset.as_nanos();
        assert!(off(exchange(&mut w, &mut net, g)).abs() < 1_000_000);
        w.advance_to(10 * S);
        assert!((off(exchange(&mut w, &mut net, g)) + 5_000_000).abs() < 1_000_000);
        w.advance_to(20 * S);
        assert_eq!(
            exchange(&mut w, &mut net, g),
            Some(Err(ReplyError::Unsynchronized))
        );
        w.advance_to(30 * S);
        assert!(exchange(&mut w, &mut net, g).unwrap().is_ok());
        assert!(exchange(&mut w, &mut net, b).unwrap().is_ok());
        assert_eq!(net.server_offset_ns(g, 40 * S), Some(5_000_000.0));
        assert!(!net.schedule(9, 0, ServerEvent::Unsynchronize));
    }

    #[test]
    fn drifting_reference_runs_ahead_of_truth() {
        let mut w = world(&[(
            100 * S,
            Event::ReferenceFreq {
                delta_ppb: 10_000.0,
            },
        )]);
        let ahead = |w: &World| w.reference_time().duration_since(w.truth_time()).as_nanos();
        w.advance_to(100 * S);
        assert_eq!(ahead(&w), 0);
        w.advance_to(101 * S);
        assert_eq!(ahead(&w), 10_000);
        w.advance_to(200 * S);
        assert_eq!(ahead(&w), 1_000_000);
        // local = truth, so local − reference = −1 ms; the PHC reads it too
        assert_eq!(w.truth_offset_ns().to_bits(), 0.0f64.to_bits());
        assert!((w.true_offset_ns() + 1_000_000.0).abs() < 1e-6);
        let expect = -1e4 / (1.0 + 1e-5);
        assert!((w.true_freq_error_ppb() - expect).abs() < 1e-9);
        let r = w.read_phc(crate::sim::ReadMethod::Precise, 1).unwrap();
        let crate::sim::PhcReading::Precise { sys, phc } = r else {
            unreachable!()
        };
        assert!((sys.duration_since(phc).as_nanos() + 1_000_000).abs() < 200);
        // NTP servers keep true time: the network sees no drift
        let mut net = NtpNetwork::new(6);
        let s = net
            .add_server(ServerModel::default(), PathModel::lan())
            .unwrap();
        let o = exchange(&mut w, &mut net, s).unwrap().unwrap().offset;
        assert!(o.as_nanos().abs() < 1_000_000);
    }

    #[test]
    fn same_seed_same_replies_and_full_queue_drops_oldest() {
        let replies = |seed: u64| {
            let w = world(&[]);
            let mut net = NtpNetwork::new(seed);
            for _ in 0..MAX_SERVERS {
                net.add_server(ServerModel::default(), PathModel::wan())
                    .unwrap();
            }
            assert_eq!(
                net.add_server(ServerModel::default(), PathModel::lan()),
                None
            );
            let mut q = [0u8; 48];
            ClientRequest::new(7, 4).emit(&mut q).unwrap();
            for i in 0..40 {
                net.send(&w, i % MAX_SERVERS, &q);
            }
            net.send(&w, 0, &q[..10]);
            let c = net.counters();
            assert_eq!((c.sent, c.dropped, c.refused), (41, 8, 1));
            let mut out: Vec<(u64, usize, [u8; 48]), 32> = Vec::new();
            while let Some(at) = net.next_arrival_ns() {
                let (s, b, len) = net.take_arrival(at).unwrap();
                assert_eq!(len, 48);
                out.push((at, s, b)).unwrap();
            }
            assert!(out.windows(2).all(|p| p[0].0 <= p[1].0));
            assert_eq!(net.take_arrival(u64::MAX), None);
            out
        };
        assert_eq!(replies(9), replies(9));
        assert_ne!(replies(9), replies(10));
    }
}

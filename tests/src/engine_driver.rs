//! keel as it ships, under the scenario runner: its engine
//! (`keel_core::engine`) driven on the simulated world exactly as `keel sync`
//! drives it on the real clocks: clock checks from the world, PHC reads with
//! the scenario's method and sample count, frequency writes through the
//! simulated kernel, steps; and, given a simulated NTP network
//! ([`EngineDriver::attach_ntp`]), its NTP requests and replies as the
//! daemon's client makes them.

use keel_core::engine::{
    ClockCheck, Command, Disruption, Engine, EngineConfig, NtpPolicy, SourceConfig, SourceId,
};
use keel_core::measure::ntp::{ClientConfig, ClientRequest, ReplyError};
use keel_core::measure::phc::ReadMethod;
use keel_core::page::Snapshot;
use keel_core::servo::Kalman;
use keel_core::sim::engine_loop::{adjust_world, reading_of};
use keel_core::sim::network::{NetCounters, NtpNetwork};
use keel_core::sim::{SimReadError, World};
use keel_core::time::{Duration, KernelFreq, Timestamp};

use crate::runner::time_page::PageClocks;
use crate::runner::{Correction, RunResult, Sample, ServoUnderTest};

/// keel's engine around a servo, under test.
pub struct EngineDriver {
    name: &'static str,
    engine: Engine<Kalman>,
    read: ReadMethod,
    disrupted: bool,
    /// True time the guest was found frozen, and the frozen time so far
    /// (`CLOCK_BOOTTIME − CLOCK_MONOTONIC`).
    frozen_since: Option<u64>,
    suspended_ns: i64,
    /// An update began (a clock check) since the last time page.
    row: bool,
    /// The NTP network the engine's NTP sources talk to, if any.
    ntp: Option<NtpLink>,
}

/// The client side of a simulated NTP network: which server each NTP
/// source asks, and the one request out per source (with its `t1`), as
/// the daemon keeps them.
struct NtpLink {
    net: NtpNetwork,
    peers: Vec<Peer>,
    /// xorshift64 state for the requests' random cookies.
    cookies: u64,
    config: ClientConfig,
}

struct Peer {
    source: SourceId,
    server: usize,
    out: Option<(ClientRequest, Timestamp)>,
}

impl EngineDriver {
    /// Wraps an engine whose source 0 is the world's PHC, read with `read`,
    /// first updating at true time `first_ns`.
    pub fn new(
        name: &'static str,
        cfg: EngineConfig,
        servo: Kalman,
        freq: keel_core::time::Ppb,
        read: ReadMethod,
        first_ns: u64,
    ) -> Self {
        let mut d = Self::without_phc(name, cfg, servo, freq, read, first_ns);
        let _ = d.engine.add_source(SourceConfig::phc());
        d
    }

    /// Wraps an engine with no source yet (NTP alone, once
    /// [`EngineDriver::attach_ntp`] and [`EngineDriver::add_ntp_server`]
    /// gave it servers), first updating at true time `first_ns`.
    pub fn without_phc(
        name: &'static str,
        cfg: EngineConfig,
        servo: Kalman,
        freq: keel_core::time::Ppb,
        read: ReadMethod,
        first_ns: u64,
    ) -> Self {
        Self {
            name,
            engine: Engine::new(cfg, servo, freq, first_ns),
            read,
            disrupted: false,
            frozen_since: None,
            suspended_ns: 0,
            row: false,
            ntp: None,
        }
    }

    /// Connects the engine to `net`; request cookies are drawn from
    /// `seed`.
    pub fn attach_ntp(&mut self, net: NtpNetwork, seed: u64) {
        self.ntp = Some(NtpLink {
            net,
            peers: Vec::new(),
            cookies: seed.wrapping_mul(0xA076_1D64_78BD_642F) | 1,
            config: ClientConfig::default(),
        });
    }

    /// Adds an NTP source with `policy` that asks `server` of the attached
    /// network, first at true time `now_ns`. `None` without a network or
    /// when the engine's source slots are full.
    pub fn add_ntp_server(
        &mut self,
        server: usize,
        policy: NtpPolicy,
        now_ns: u64,
    ) -> Option<SourceId> {
        let link = self.ntp.as_mut()?;
        let source = self.engine.add_ntp_source(policy, now_ns)?;
        link.peers.push(Peer {
            source,
            server,
            out: None,
        });
        Some(source)
    }

    /// True time of the next NTP reply to arrive, ns.
    pub fn next_ntp_arrival_ns(&self) -> Option<u64> {
        self.ntp.as_ref().and_then(|l| l.net.next_arrival_ns())
    }

    /// What the attached network has done so far.
    pub fn ntp_counters(&self) -> Option<NetCounters> {
        self.ntp.as_ref().map(|l| l.net.counters())
    }

    /// Takes the NTP replies that have arrived by the world's true time,
    /// stamps them with the local clock now (`t4`) and hands them to the
    /// engine: a sample, or a Kiss-o'-Death; other bad replies are dropped,
    /// as the daemon drops them. Returns how many replies were taken.
    pub fn deliver_ntp(&mut self, world: &World) -> usize {
        let Some(link) = self.ntp.as_mut() else {
            return 0;
        };
        let now = world.now_ns();
        let mut taken = 0;
        while let Some((server, bytes, len)) = link.net.take_arrival(now) {
            taken += 1;
            let t4 = world.local_time();
            let Some(peer) = link.peers.iter_mut().find(|p| p.server == server) else {
                continue;
            };
            let Some((req, t1)) = peer.out else {
                continue;
            };
            let reply = bytes.get(..len).unwrap_or(&[]);
            match req.process_reply(reply, t1, t4, &link.config) {
                Ok(sample) => {
                    peer.out = None;
                    self.engine.on_ntp_sample(now, peer.source, &sample);
                }
                Err(ReplyError::KissOfDeath { action, .. }) => {
                    peer.out = None;
                    self.engine
                        .on_ntp_kiss(now, peer.source, action, req.repr().poll);
                }
                Err(_) => {}
            }
        }
        taken
    }

    /// Sends `source`'s request with poll exponent `poll` into the network
    /// now, replacing the request out.
    fn send_ntp(&mut self, world: &World, source: SourceId, poll: i8) {
        let Some(link) = self.ntp.as_mut() else {
            return;
        };
        let Some(peer) = link.peers.iter_mut().find(|p| p.source == source) else {
            return;
        };
        let s = &mut link.cookies;
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        let req = ClientRequest::new(*s, poll);
        let mut bytes = [0u8; 48];
        if req.emit(&mut bytes).is_err() {
            return;
        }
        peer.out = Some((req, world.local_time()));
        link.net.send(world, peer.server, &bytes);
    }

    /// The engine (to seed a prior, read its status).
    pub fn engine_mut(&mut self) -> &mut Engine<Kalman> {
        &mut self.engine
    }

    /// The engine (its status, its notices through
    /// [`EngineDriver::engine_mut`]).
    pub fn engine(&self) -> &Engine<Kalman> {
        &self.engine
    }

    fn check(&self, world: &World, now: u64) -> ClockCheck {
        let local = world.local_time();
        ClockCheck {
            kernel_freq: Some(world.applied_frequency().to_ppb(KernelFreq::USER_HZ)),
            // The world's raw oscillator is modelled as true time.
            raw_ns: now,
            sink: local,
            pair_width_ns: 0,
            suspended_ns: Some(self.suspended_ns),
            wall: local,
            leap: None,
            tai_utc_s: None,
        }
    }
}

impl ServoUnderTest for EngineDriver {
    fn name(&self) -> String {
        self.name.into()
    }

    fn update(&mut self, _s: &Sample) -> Correction {
        // The engine reads the world itself ([`ServoUnderTest::drive`]).
        Correction::default()
    }

    fn disruption(&mut self) {
        self.disrupted = true;
    }

    fn error_bound_ns(&self, local_ts: Timestamp) -> Option<f64> {
        #[allow(clippy::cast_precision_loss, reason = "report-side conversion")]
        self.engine.bound_at(local_ts).map(|d| d.as_nanos() as f64)
    }

    fn drive(&mut self, world: &mut World, now: u64, res: &mut RunResult) -> Option<u64> {
        // A frozen guest's CLOCK_MONOTONIC stands still while
        // CLOCK_BOOTTIME runs on: the frozen span shows when it runs again.
        if world.is_frozen() {
            self.frozen_since.get_or_insert(now);
        } else if let Some(t0) = self.frozen_since.take() {
            let gap = i64::try_from(now.saturating_sub(t0)).unwrap_or(i64::MAX);
            self.suspended_ns = self.suspended_ns.saturating_add(gap);
        }
        if std::mem::take(&mut self.disrupted) {
            self.engine.on_disruption(now, Disruption::Migration);
        }
        loop {
            match self.engine.poll(now) {
                Command::Wait(t) => return Some(t),
                Command::CheckClock => {
                    self.row = true;
                    let c = self.check(world, now);
                    self.engine.on_clock_check(&c);
                }
                Command::Read { source, samples } => {
                    let mut read = world.read_phc(self.read, usize::from(samples));
                    // A method that stops working is replaced by the next
                    // one, as the daemon's prober does after a migration.
                    while read == Err(SimReadError::NotSupported) {
                        let Some(next) = self.read.next_in_probe_order() else {
                            break;
                        };
                        self.read = next;
                        self.engine.on_disruption(now, Disruption::ReadMethodLost);
                        read = world.read_phc(self.read, usize::from(samples));
                    }
                    match reading_of(&read) {
                        Ok(r) => self.engine.on_reading(source, &r),
                        Err(e) => self.engine.on_read_error(source, e, world.local_time()),
                    }
                }
                // A world that refuses clock writes (`eperm`) fails them.
                Command::Adjust(_) if world.clock_writes_denied() => {
                    self.engine.on_adjusted(Err(()));
                }
                Command::Step(_) if world.clock_writes_denied() => {
                    self.engine.on_stepped(false);
                }
                Command::Adjust(a) => {
                    let done = adjust_world(world, &a);
                    self.engine.on_adjusted(Ok(done));
                }
                Command::Step(d) => {
                    world.step(d);
                    res.steps += 1;
                    res.stepped_ns = res.stepped_ns.saturating_add(d.as_nanos());
                    self.engine.on_stepped(true);
                }
                Command::SendNtp { source, poll } => self.send_ntp(world, source, poll),
                Command::SaveState(_) => {}
                Command::Halt(_) => return Some(u64::MAX),
            }
        }
    }

    /// What `keel sync` publishes at the end of an update (its `publish`):
    /// the engine's served bound at the sink's time, valid for the void
    /// horizon, as a page snapshot.
    fn time_page(&mut self, clocks: &PageClocks) -> Option<Snapshot> {
        if !std::mem::take(&mut self.row) {
            return None;
        }
        let horizon = Duration::from_nanos(i64::try_from(clocks.void_after_ns).unwrap_or(i64::MAX));
        let served = self.engine.served_at(clocks.at, horizon);
        Some(Snapshot::served(
            &served,
            clocks.mono_ns,
            clocks.real_ns,
            clocks.void_after_ns,
            clocks.marker,
            self.engine.status().counters.updates,
        ))
    }
}

//! The NTP servers of `keel sync`: one connected UDP socket per server in the
//! daemon's `poll(2)` loop.
//!
//! keel-core's engine decides when to ask each server
//! ([`Command::SendNtp`](keel_core::engine::Command)), checks the reply
//! ([`ClientRequest::process_reply`]: origin cookie, mode, version, leap,
//! stratum, root distance) and decides what the answers mean. This file
//! only resolves names, sends the request with a random cookie, and reads
//! the reply with the kernel's receive timestamp (`SO_TIMESTAMPNS`).
//!
//! Timestamps are `CLOCK_REALTIME`, the sink's time line: NTP servers need
//! `CLOCK_REALTIME` as the sink.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::os::fd::AsRawFd;

use keel_core::engine::{Engine, SourceId};
use keel_core::measure::ntp::{ClientConfig, ClientRequest, ReplyError};
use keel_core::servo::Servo;
use keel_core::time::Timestamp;

use crate::config::NtpServer;
use crate::sys;
use crate::{debug, info, warn};

/// The NTP port.
const NTP_PORT: u16 = 123;

/// Requests sent without any answer before the name is resolved again.
const RESOLVE_AFTER_UNANSWERED: u32 = 8;

/// One server.
struct Peer {
    cfg: NtpServer,
    source: SourceId,
    /// The address in use and its socket, once resolved.
    link: Option<(SocketAddr, UdpSocket)>,
    /// The request out, and when it left (sink time).
    out: Option<(ClientRequest, Timestamp)>,
    /// Requests since the last answer.
    unanswered: u32,
    /// The last problem, for the status line.
    last_error: Option<String>,
    /// The stratum of its last valid sample.
    stratum: Option<u8>,
}

/// What `keel sources` shows of one server besides the engine's view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    /// As configured.
    pub name: String,
    /// The address in use.
    pub address: Option<SocketAddr>,
    /// The engine's source.
    pub source: SourceId,
    /// The last problem (a resolution failure, a refused reply).
    pub last_error: Option<String>,
    /// The stratum of its last valid sample (what keel's NTP server
    /// serves one below while NTP steers).
    pub stratum: Option<u8>,
}

/// All configured servers.
pub struct NtpPeers {
    peers: Vec<Peer>,
    client: ClientConfig,
}

/// `HOST[:PORT]`, `IP`, `IPv4:PORT`, `[IPv6]:PORT` → host and port.
fn host_port(address: &str) -> (String, u16) {
    if let Ok(a) = address.parse::<SocketAddr>() {
        return (a.ip().to_string(), a.port());
    }
    if address.parse::<IpAddr>().is_ok() {
        return (address.to_string(), NTP_PORT);
    }
    match address.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => match p.parse() {
            Ok(port) => (h.trim_matches(['[', ']']).to_string(), port),
            Err(_) => (address.to_string(), NTP_PORT),
        },
        _ => (address.trim_matches(['[', ']']).to_string(), NTP_PORT),
    }
}

/// Resolves `address` and opens a connected, non-blocking socket with
/// kernel receive timestamps.
fn connect(address: &str) -> io::Result<(SocketAddr, UdpSocket)> {
    let (host, port) = host_port(address);
    let addr = (host.as_str(), port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address"))?;
    let bind: SocketAddr = if addr.is_ipv4() {
        "0.0.0.0:0".parse().map_err(io::Error::other)?
    } else {
        "[::]:0".parse().map_err(io::Error::other)?
    };
    let sock = UdpSocket::bind(bind)?;
    sock.connect(addr)?;
    sock.set_nonblocking(true)?;
    sys::enable_rx_timestamps(sock.as_raw_fd())?;
    Ok((addr, sock))
}

impl NtpPeers {
    /// Registers every server with `engine` (first asked at loop time
    /// `now_ns`) and resolves their names; a name that does not resolve
    /// now is tried again at its next request.
    ///
    /// # Errors
    /// More servers than the engine holds.
    pub fn open<S: Servo>(
        servers: &[NtpServer],
        engine: &mut Engine<S>,
        now_ns: u64,
    ) -> Result<Self, String> {
        let mut peers = Vec::with_capacity(servers.len());
        for cfg in servers {
            let source = engine.add_ntp_source(cfg.policy, now_ns).ok_or_else(|| {
                format!(
                    "server {}: keel holds {} sources, the PHC included; configure fewer servers",
                    cfg.address,
                    keel_core::engine::MAX_SOURCES
                )
            })?;
            let mut p = Peer {
                cfg: cfg.clone(),
                source,
                link: None,
                out: None,
                unanswered: 0,
                last_error: None,
                stratum: None,
            };
            p.resolve();
            peers.push(p);
        }
        Ok(Self {
            peers,
            client: ClientConfig::default(),
        })
    }

    /// Are there servers?
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// The sockets to poll.
    pub fn fds(&self) -> Vec<i32> {
        self.peers
            .iter()
            .filter_map(|p| p.link.as_ref().map(|(_, s)| s.as_raw_fd()))
            .collect()
    }

    /// Sends a request to `source` with poll exponent `poll`; `sink_now`
    /// reads the sink just before it leaves.
    pub fn send(&mut self, source: SourceId, poll: i8, sink_now: &mut dyn FnMut() -> Timestamp) {
        let Some(p) = self.peers.iter_mut().find(|p| p.source == source) else {
            return;
        };
        if p.unanswered >= RESOLVE_AFTER_UNANSWERED || p.link.is_none() {
            // Unreachable for a while, or never resolved: the name may
            // point elsewhere now.
            p.unanswered = 0;
            p.resolve();
        }
        let Some((_, sock)) = &p.link else {
            return;
        };
        let req = ClientRequest::new(sys::random_u64(), poll);
        let mut buf = [0u8; 48];
        let Ok(n) = req.emit(&mut buf) else {
            return;
        };
        let t1 = sink_now();
        match sock.send(buf.get(..n).unwrap_or(&buf)) {
            Ok(_) => {
                p.out = Some((req, t1));
                p.unanswered = p.unanswered.saturating_add(1);
            }
            Err(e) => p.fail(format!("cannot send: {e}")),
        }
    }

    /// Reads every reply waiting on the sockets and hands the valid ones
    /// to `engine` at loop time `now_ns`; `sink_now` stands in for a
    /// reply the kernel did not timestamp. Returns how many samples the
    /// engine got.
    pub fn receive<S: Servo>(
        &mut self,
        engine: &mut Engine<S>,
        now_ns: u64,
        sink_now: &mut dyn FnMut() -> Timestamp,
    ) -> usize {
        let client = self.client;
        let mut samples = 0usize;
        for p in &mut self.peers {
            let mut buf = [0u8; 1024];
            while let Some((_, sock)) = &p.link {
                let (n, kernel_ts) = match sys::recv_timestamped(sock.as_raw_fd(), &mut buf) {
                    Ok(r) => r,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        // ICMP port unreachable and the like: the request
                        // is lost; the engine counts it when it asks again.
                        p.fail(format!("receive failed: {e}"));
                        break;
                    }
                };
                let t4 = kernel_ts.unwrap_or_else(&mut *sink_now);
                let Some((req, t1)) = p.out else {
                    debug!("{}: a reply to no request, ignored", p.cfg.address);
                    continue;
                };
                match req.process_reply(buf.get(..n).unwrap_or(&[]), t1, t4, &client) {
                    Ok(sample) => {
                        p.out = None;
                        p.unanswered = 0;
                        p.last_error = None;
                        p.stratum = Some(sample.stratum);
                        engine.on_ntp_sample(now_ns, p.source, &sample);
                        samples = samples.saturating_add(1);
                    }
                    Err(ReplyError::KissOfDeath { code, action }) => {
                        p.out = None;
                        warn!("{}: Kiss-o'-Death {code:?}: {action:?}", p.cfg.address);
                        p.last_error = Some(format!("Kiss-o'-Death {code:?}"));
                        engine.on_ntp_kiss(now_ns, p.source, action, req.repr().poll);
                    }
                    // A stale or spoofed packet: the request stays out.
                    Err(ReplyError::OriginMismatch) => {
                        debug!(
                            "{}: a reply that does not answer the request out, ignored",
                            p.cfg.address
                        );
                    }
                    Err(e) => {
                        p.out = None;
                        p.fail(e.to_string());
                    }
                }
            }
        }
        samples
    }

    /// Each server as configured, with its address and last problem.
    pub fn info(&self) -> Vec<PeerInfo> {
        self.peers
            .iter()
            .map(|p| PeerInfo {
                name: p.cfg.address.clone(),
                address: p.link.as_ref().map(|(a, _)| *a),
                source: p.source,
                last_error: p.last_error.clone(),
                stratum: p.stratum,
            })
            .collect()
    }
}

impl Peer {
    fn resolve(&mut self) {
        match connect(&self.cfg.address) {
            Ok((addr, sock)) => {
                if self.link.as_ref().map(|(a, _)| *a) != Some(addr)
                    && addr.to_string() != self.cfg.address
                {
                    info!("NTP server {}: {addr}", self.cfg.address);
                }
                self.link = Some((addr, sock));
            }
            Err(e) => self.fail(format!("cannot resolve or connect: {e}")),
        }
    }

    /// Logs a problem once (until it changes).
    fn fail(&mut self, what: String) {
        if self.last_error.as_deref() != Some(what.as_str()) {
            warn!("NTP server {}: {what}", self.cfg.address);
        }
        self.last_error = Some(what);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_core::engine::{EngineConfig, NtpPolicy};
    use keel_core::measure::ntp::{ServerClock, server_reply};
    use keel_core::servo::{Kalman, KalmanConfig};
    use keel_core::time::{Duration, Ppb};
    use keel_core::wire::ntp::{LeapIndicator, ReferenceId};

    fn realtime() -> Timestamp {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp::from_secs_nanos(d.as_secs(), d.subsec_nanos())
    }

    /// A server on loopback answering from this machine's clock, and keel's
    /// client against it: the exchange over real sockets, with kernel
    /// receive timestamps, measures about zero. Nothing is steered.
    #[test]
    fn a_loopback_server_is_measured_at_about_zero() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = server.local_addr().unwrap();
        let cfg = EngineConfig::default();
        let servo = Kalman::new(cfg.servo, KalmanConfig::default(), cfg.interval, Ppb::ZERO);
        let mut engine = Engine::new(cfg, servo, Ppb::ZERO, 0);
        let servers = [NtpServer {
            address: addr.to_string(),
            policy: NtpPolicy {
                iburst: true,
                ..NtpPolicy::default()
            },
        }];
        let mut peers = NtpPeers::open(&servers, &mut engine, 0).unwrap();
        assert_eq!(peers.fds().len(), 1);
        let clock = ServerClock {
            synchronized: true,
            leap: LeapIndicator::NoWarning,
            stratum: 1,
            precision: -20,
            reference_id: ReferenceId(*b"LOCL"),
            reference_time: realtime(),
            root_delay: Duration::ZERO,
            error_bound: Duration::from_micros(1),
        };
        let mut got = 0;
        for round in 0..4u64 {
            // The engine asks (iburst: 2 s apart on its loop time line).
            let now = round * 2_000_000_000;
            let mut asked = false;
            for _ in 0..8 {
                match engine.poll(now) {
                    keel_core::engine::Command::SendNtp { source, poll } => {
                        peers.send(source, poll, &mut realtime);
                        asked = true;
                        break;
                    }
                    keel_core::engine::Command::CheckClock => {}
                    keel_core::engine::Command::Read { source, .. } => {
                        engine.on_read_error(
                            source,
                            keel_core::engine::ReadError::Busy,
                            realtime(),
                        );
                    }
                    _ => {}
                }
            }
            assert!(asked, "round {round}");
            let mut req = [0u8; 1024];
            let (n, from) = server.recv_from(&mut req).unwrap();
            let t2 = realtime();
            let mut reply = [0u8; 48];
            // A spoofed reply first (wrong origin): ignored, the request
            // stays out.
            let mut forged = req;
            forged[40] ^= 0xFF;
            let m = server_reply(&clock, &forged[..n], t2, realtime(), &mut reply).unwrap();
            server.send_to(&reply[..m], from).unwrap();
            let m = server_reply(&clock, &req[..n], t2, realtime(), &mut reply).unwrap();
            server.send_to(&reply[..m], from).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(20));
            got += peers.receive(&mut engine, now, &mut realtime);
        }
        assert_eq!(got, 4, "{:?}", peers.info());
        let (reach, _, est) = engine
            .ntp_source(engine_source(&peers), realtime())
            .unwrap();
        assert_eq!(reach, 0b1111);
        let e = est.unwrap();
        assert!(e.offset.as_nanos().abs() < 1_000_000, "{e:?}");
        assert!(e.delay.as_nanos() < 20_000_000, "{e:?}");
        assert!(peers.info()[0].last_error.is_none());
    }

    fn engine_source(p: &NtpPeers) -> SourceId {
        p.info()[0].source
    }

    #[test]
    fn addresses_and_ports() {
        assert_eq!(host_port("ntp.example"), ("ntp.example".into(), 123));
        assert_eq!(host_port("ntp.example:4123"), ("ntp.example".into(), 4123));
        assert_eq!(host_port("192.0.2.1"), ("192.0.2.1".into(), 123));
        assert_eq!(host_port("192.0.2.1:1123"), ("192.0.2.1".into(), 1123));
        assert_eq!(host_port("2001:db8::1"), ("2001:db8::1".into(), 123));
        assert_eq!(
            host_port("[2001:db8::1]:1123"),
            ("2001:db8::1".into(), 1123)
        );
        assert_eq!(host_port("[2001:db8::1]"), ("2001:db8::1".into(), 123));
    }
}

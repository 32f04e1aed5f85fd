//! keel's NTP server (`ntp_serve` in keel.toml): non-blocking UDP sockets
//! in the daemon's one `poll(2)` loop.
//!
//! keel-core decides everything about a request
//! ([`keel_core::server::respond`]: the checks, the rate limit, what is
//! served); this file owns the sockets, reads each request with the
//! kernel's receive timestamp (`SO_TIMESTAMPNS`), reads the clock right
//! before each reply leaves (the transmit timestamp), and takes the
//! snapshot of the clock after every engine update
//! ([`ServerView::from_engine`]).
//!
//! **Never delaying the clock's updates:** a wake-up reads at most
//! [`BATCH`] requests; more waiting keep the sockets readable, so the loop
//! comes straight back after checking whether an update is due.
//!
//! Timestamps are `CLOCK_REALTIME` (the sink); in the simulation they are
//! the simulated clock's, read when the request is handled.

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;

use keel_core::engine::Engine;
use keel_core::server::{
    ClientKey, RateTable, Response, ServerView, Upstream, respond, stamp_transmit,
};
use keel_core::servo::Servo;
use keel_core::time::{Duration, Timestamp};
use keel_core::wire::ntp::ReferenceId;

use crate::config::Config;
use crate::ntp::NtpPeers;
use crate::sys;
use crate::{info, warn};

/// Clients the rate limiter remembers (24 bytes each: 384 KiB).
pub const CLIENTS: usize = 16_384;

/// Requests handled per wake-up, all sockets together: about 0.3 ms of
/// work, the most an update can be delayed by.
pub const BATCH: usize = 128;

/// The receive buffer asked for each socket, bytes (about 1300 queued
/// requests at the kernel's accounting of a small datagram).
const RECEIVE_BUFFER: i32 = 1 << 20;

/// What is served while the PHC steers: chrony serves a refclock at
/// stratum 1, with the driver's name as reference id.
const PHC: Upstream = Upstream {
    stratum: 1,
    reference_id: ReferenceId(*b"PHC0"),
};

/// Random draws before the generator is reseeded from the kernel.
const RESEED_AFTER: u32 = 1 << 16;

/// `SplitMix64`, reseeded from `getrandom(2)`: the rate limiter's leak and
/// kiss draws, one per request, without a system call per request.
struct Draws {
    state: u64,
    left: u32,
}

impl Draws {
    fn next(&mut self) -> u32 {
        if self.left == 0 {
            self.state = sys::random_u64();
            self.left = RESEED_AFTER;
        }
        self.left -= 1;
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        #[allow(clippy::cast_possible_truncation, reason = "the upper half")]
        let r = ((z ^ (z >> 31)) >> 32) as u32;
        r
    }
}

/// What the server did since it started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServeCounts {
    /// Datagrams read.
    pub requests: u64,
    /// Replies sent.
    pub replies: u64,
    /// `RATE` Kiss-o'-Death replies sent.
    pub kods: u64,
    /// Requests not answered (not a client request, or rate limited).
    pub dropped: u64,
    /// Sends that failed.
    pub send_errors: u64,
}

/// The NTP server of `keel sync`.
pub struct NtpServe {
    socks: Vec<(SocketAddr, UdpSocket)>,
    view: ServerView,
    rate: Box<RateTable<CLIENTS>>,
    /// Kernel receive timestamps are the sink's time (`CLOCK_REALTIME`).
    kernel_times: bool,
    precision: i8,
    horizon: Duration,
    draws: Draws,
    counts: ServeCounts,
    /// Which socket is read first at the next wake-up (fairness).
    first: usize,
    /// The last state logged: synchronised, stratum.
    logged: Option<(bool, u8)>,
}

impl NtpServe {
    /// Opens the sockets of `cfg.ntp_serve` (`None`: not configured). The
    /// simulation serves its simulated clock; otherwise the sink must be
    /// `CLOCK_REALTIME` and the clock steered (not a dry run).
    ///
    /// # Errors
    /// A PHC sink, a dry run, or an address that cannot be bound (each
    /// message says why and what to do).
    pub fn open(
        cfg: &Config,
        sim: bool,
        dry_run: bool,
        sink_is_realtime: bool,
    ) -> Result<Option<Self>, String> {
        if cfg.ntp_serve.is_empty() {
            return Ok(None);
        }
        if dry_run {
            return Err("ntp_serve: keel does not steer the clock in a dry run, so its error bound does not describe the clock served; remove --dry-run or set ntp_serve = []".into());
        }
        if !sim && !sink_is_realtime {
            return Err(format!(
                "ntp_serve: keel serves CLOCK_REALTIME (kernel receive timestamps), but the sink is the PHC {}; set sink = \"CLOCK_REALTIME\" or ntp_serve = []",
                cfg.sink
            ));
        }
        let mut socks = Vec::with_capacity(cfg.ntp_serve.len());
        for &addr in &cfg.ntp_serve {
            let sock = sys::bind_udp(addr).map_err(|e| bind_error(addr, &e))?;
            // The simulation does not use them, but pays for them as a real
            // server does.
            sys::enable_rx_timestamps(sock.as_raw_fd())
                .map_err(|e| format!("ntp_serve {addr}: cannot enable receive timestamps: {e}"))?;
            // Room for a burst while the loop is busy (an update, the
            // scheduler): the kernel caps it at net.core.rmem_max.
            let _ = sys::set_receive_buffer(sock.as_raw_fd(), RECEIVE_BUFFER);
            let local = sock.local_addr().unwrap_or(addr);
            socks.push((local, sock));
        }
        let seed = [sys::random_u64(), sys::random_u64()];
        let rate = match cfg.ntp_ratelimit {
            Some(r) => Box::new(RateTable::new(r, seed)),
            None => Box::new(RateTable::unlimited(seed)),
        };
        let precision = clock_precision();
        let interval = cfg.interval.as_nanos().max(0);
        let horizon = Duration::from_nanos(interval.saturating_mul(2).max(4_000_000_000));
        let addrs: Vec<String> = socks.iter().map(|(a, _)| a.to_string()).collect();
        info!(
            "NTP server on {}: {}; precision 2^{precision} s; unsynchronised until keel locks",
            addrs.join(", "),
            match cfg.ntp_ratelimit {
                Some(r) => format!(
                    "rate limit interval {} burst {} leak {} kod {}",
                    r.interval, r.burst, r.leak, r.kod
                ),
                None => "no rate limit".into(),
            }
        );
        Ok(Some(Self {
            socks,
            view: ServerView::unsynchronized(precision),
            rate,
            kernel_times: !sim,
            precision,
            horizon,
            draws: Draws { state: 0, left: 0 },
            counts: ServeCounts::default(),
            first: 0,
            logged: None,
        }))
    }

    /// The sockets to poll.
    pub fn fds(&self) -> Vec<i32> {
        self.socks.iter().map(|(_, s)| s.as_raw_fd()).collect()
    }

    /// The addresses served, as bound.
    #[cfg(test)]
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.socks.iter().map(|(a, _)| *a).collect()
    }

    /// What the server did so far.
    pub const fn counts(&self) -> ServeCounts {
        self.counts
    }

    /// Takes the clock's snapshot after an engine update, at sink time
    /// `at`; `peers` gives the NTP sources' strata and addresses.
    pub fn refresh<S: Servo>(&mut self, engine: &Engine<S>, at: Timestamp, peers: &NtpPeers) {
        let ntp = if engine.ntp_steers() {
            upstream(engine, at, peers)
        } else {
            None
        };
        self.view = ServerView::from_engine(engine, at, self.horizon, self.precision, PHC, ntp);
        let c = self.view.clock();
        let state = (c.synchronized, c.stratum);
        if self.logged != Some(state) {
            if c.synchronized {
                info!(
                    "NTP server: serving as synchronised, stratum {}, reference id {}",
                    c.stratum,
                    refid_text(c.reference_id)
                );
            } else if self.logged.is_some() {
                warn!("NTP server: serving as unsynchronised (leap 3, stratum 16)");
            }
            self.logged = Some(state);
        }
    }

    /// Answers the requests waiting, at most [`BATCH`]; `sink_now` reads
    /// the served clock (the transmit time, and the receive time when the
    /// kernel gave none). Returns how many were read.
    pub fn serve(&mut self, sink_now: &mut dyn FnMut() -> Timestamp) -> usize {
        let mut buf = [0u8; 1024];
        let mut out = [0u8; 48];
        let n = self.socks.len().max(1);
        let per_socket = (BATCH / n).max(1);
        let mut read = 0usize;
        for k in 0..n {
            let Some((_, sock)) = self.socks.get((self.first + k) % n) else {
                continue;
            };
            for _ in 0..per_socket {
                let (len, from, kernel_rx) =
                    match sys::recv_from_timestamped(sock.as_raw_fd(), &mut buf) {
                        Ok(r) => r,
                        // Nothing more, or an error (an ICMP report of an
                        // earlier reply's fate): on to the next socket.
                        Err(_) => break,
                    };
                read += 1;
                self.counts.requests = self.counts.requests.wrapping_add(1);
                let rx = match kernel_rx {
                    Some(t) if self.kernel_times => t,
                    _ => sink_now(),
                };
                let r = respond(
                    buf.get(..len).unwrap_or(&[]),
                    rx,
                    ClientKey::from_socket_addr(from),
                    &self.view,
                    &mut self.rate,
                    self.draws.next(),
                    &mut out,
                );
                let sent = match r {
                    Response::Drop => {
                        self.counts.dropped = self.counts.dropped.wrapping_add(1);
                        continue;
                    }
                    Response::Reply(n) => {
                        let reply = out.get_mut(..n).unwrap_or(&mut []);
                        stamp_transmit(reply, sink_now());
                        self.counts.replies = self.counts.replies.wrapping_add(1);
                        sock.send_to(reply, from)
                    }
                    Response::Kod(n) => {
                        self.counts.kods = self.counts.kods.wrapping_add(1);
                        sock.send_to(out.get(..n).unwrap_or(&[]), from)
                    }
                };
                if sent.is_err() {
                    self.counts.send_errors = self.counts.send_errors.wrapping_add(1);
                }
            }
        }
        self.first = (self.first + 1) % n;
        read
    }
}

impl Drop for NtpServe {
    fn drop(&mut self) {
        let c = self.counts();
        let s = self.rate.stats();
        info!(
            "NTP server: {} requests, {} replies, {} RATE kisses, {} dropped ({} rate limited, {} answered by the leak), {} send errors, {} clients remembered",
            c.requests,
            c.replies,
            c.kods,
            c.dropped,
            s.limited.saturating_sub(s.leaked),
            s.leaked,
            c.send_errors,
            self.rate.clients()
        );
    }
}

/// The NTP source served while NTP steers: the truechimer of the highest
/// stratum (keel combines them, so its stratum is below every one used),
/// with its address as reference id.
fn upstream<S: Servo>(engine: &Engine<S>, at: Timestamp, peers: &NtpPeers) -> Option<Upstream> {
    let view = engine.ntp_view(at);
    peers
        .info()
        .into_iter()
        .filter(|p| {
            view.iter()
                .flatten()
                .any(|v| v.source == p.source && v.truechimer)
        })
        .filter_map(|p| Some((p.stratum?, p.address?)))
        .max_by_key(|(stratum, _)| *stratum)
        .map(|(stratum, addr)| Upstream {
            stratum,
            reference_id: refid_of(addr.ip()),
        })
}

/// RFC 5905's reference id of an upstream server: its IPv4 address; for
/// IPv6 the first four bytes of a hash of the address (FNV-1a here, not
/// RFC 5905's MD5: it only serves loop detection).
fn refid_of(ip: IpAddr) -> ReferenceId {
    match ip {
        IpAddr::V4(a) => ReferenceId(a.octets()),
        IpAddr::V6(a) => {
            let h = a.octets().iter().fold(0x811C_9DC5u32, |h, &b| {
                (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
            });
            ReferenceId(h.to_be_bytes())
        }
    }
}

/// A reference id as text: ASCII, or an IPv4 address.
fn refid_text(id: ReferenceId) -> String {
    if id.0.iter().all(|b| b.is_ascii_alphanumeric() || *b == 0) {
        id.0.iter()
            .take_while(|&&b| b != 0)
            .map(|&b| char::from(b))
            .collect()
    } else {
        IpAddr::from(id.0).to_string()
    }
}

/// The precision of `CLOCK_REALTIME` as NTP states it: log₂ of the
/// smallest step seen between readings (chrony measures it the same way),
/// −20 (about 1 µs) when it cannot be measured.
fn clock_precision() -> i8 {
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    };
    let mut best = u128::MAX;
    let mut prev = now();
    for _ in 0..200 {
        let t = now();
        if t > prev {
            best = best.min(t - prev);
        }
        prev = t;
    }
    if best == u128::MAX {
        return -20;
    }
    // The smallest p with 2^p s ≥ best ns.
    let mut p: i8 = -30;
    while p < 0 && (1_000_000_000u128 >> p.unsigned_abs()) < best {
        p += 1;
    }
    p
}

fn bind_error(addr: SocketAddr, e: &io::Error) -> String {
    let hint = match e.kind() {
        io::ErrorKind::PermissionDenied if addr.port() < 1024 => format!(
            " (port {} needs root or CAP_NET_BIND_SERVICE: `sudo setcap cap_sys_time,cap_net_bind_service+ep \"$(command -v keel)\"`, or AmbientCapabilities= in the systemd unit)",
            addr.port()
        ),
        io::ErrorKind::AddrInUse => {
            " (another NTP server, such as chronyd or ntpd, may hold it: stop it, or choose another port)".into()
        }
        io::ErrorKind::AddrNotAvailable => " (no interface has this address)".into(),
        _ => String::new(),
    };
    format!("ntp_serve {addr}: cannot listen: {e}{hint}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_core::measure::ntp::{ClientConfig, ClientRequest, ReplyError};

    fn realtime() -> Timestamp {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp::from_secs_nanos(d.as_secs(), d.subsec_nanos())
    }

    fn server(ratelimit: bool) -> NtpServe {
        let cfg = Config {
            ntp_serve: vec!["127.0.0.1:0".parse().unwrap()],
            ntp_ratelimit: ratelimit.then_some(keel_core::server::RateConfig::DEFAULT),
            ..Config::default()
        };
        NtpServe::open(&cfg, false, false, true).unwrap().unwrap()
    }

    fn exchange(s: &mut NtpServe, client: &UdpSocket, cookie: u64) -> Option<Vec<u8>> {
        let mut q = [0u8; 48];
        ClientRequest::new(cookie, 6).emit(&mut q).unwrap();
        client.send_to(&q, s.local_addrs()[0]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(s.serve(&mut realtime), 1);
        let mut buf = [0u8; 128];
        match client.recv(&mut buf) {
            Ok(n) => Some(buf[..n].to_vec()),
            Err(_) => None,
        }
    }

    /// Over loopback with real sockets and kernel timestamps: an
    /// unsynchronised server's reply is refused by keel's client as
    /// such, and only client requests are answered.
    #[test]
    fn a_loopback_request_is_answered() {
        let mut s = server(false);
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(std::time::Duration::from_millis(200)))
            .unwrap();
        let t1 = realtime();
        let reply = exchange(&mut s, &client, 0x1234).expect("a reply");
        let t4 = realtime();
        assert_eq!(reply.len(), 48);
        assert_eq!(
            ClientRequest::new(0x1234, 6).process_reply(&reply, t1, t4, &ClientConfig::default()),
            Err(ReplyError::Unsynchronized)
        );
        // The receive and transmit timestamps are this machine's time.
        let rx = keel_core::time::NtpTimestamp::from_be_bytes(reply[32..40].try_into().unwrap())
            .to_unix_near(t1);
        let tx = keel_core::time::NtpTimestamp::from_be_bytes(reply[40..48].try_into().unwrap())
            .to_unix_near(t1);
        assert!(rx.duration_since(t1) >= Duration::ZERO, "{rx:?} {t1:?}");
        assert!(tx.duration_since(rx) >= Duration::ZERO);
        assert!(t4.duration_since(tx) >= Duration::ZERO);
        // Mode 6 and 7 and a short packet: nothing.
        for mode in [6u8, 7] {
            client
                .send_to(&[0x20 | mode; 48], s.local_addrs()[0])
                .unwrap();
        }
        client.send_to(&[0x23; 47], s.local_addrs()[0]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(s.serve(&mut realtime), 3);
        let mut buf = [0u8; 64];
        assert!(client.recv(&mut buf).is_err(), "no reply");
        assert_eq!(s.counts().dropped, 3);
        assert_eq!(s.counts().replies, 1);
    }

    #[test]
    fn rate_limited_clients_get_kisses_or_nothing() {
        let mut s = server(true);
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        client
            .set_read_timeout(Some(std::time::Duration::from_millis(50)))
            .unwrap();
        let mut answered = 0;
        for k in 0..40u64 {
            if exchange(&mut s, &client, 100 + k).is_some() {
                answered += 1;
            }
        }
        // 8 saved, then one in four leaks, one in four of the rest kissed.
        let c = s.counts();
        assert_eq!(c.replies + c.kods, answered);
        assert!(c.replies >= 8 && c.replies < 30, "{c:?}");
        assert_eq!(c.requests, 40);
    }

    #[test]
    fn configuration_errors() {
        let cfg = Config {
            ntp_serve: vec!["127.0.0.1:0".parse().unwrap()],
            ..Config::default()
        };
        let e = NtpServe::open(&cfg, false, true, true).err().unwrap();
        assert!(
            e.starts_with("ntp_serve: keel does not steer the clock in a dry run"),
            "{e}"
        );
        let e = NtpServe::open(&cfg, false, false, false).err().unwrap();
        assert!(
            e.starts_with("ntp_serve: keel serves CLOCK_REALTIME"),
            "{e}"
        );
        assert!(
            NtpServe::open(&Config::default(), false, false, true)
                .unwrap()
                .is_none()
        );
        // Both families on one port.
        let taken = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let cfg = Config {
            ntp_serve: vec![format!("127.0.0.1:{port}").parse().unwrap()],
            ..Config::default()
        };
        let e = NtpServe::open(&cfg, false, false, true).err().unwrap();
        assert!(e.contains("another NTP server"), "{e}");
        let cfg = Config {
            ntp_serve: vec![
                "0.0.0.0:0".parse().unwrap(),
                format!("[::]:{port}").parse().unwrap(),
            ],
            ..Config::default()
        };
        if let Ok(Some(s)) = NtpServe::open(&cfg, false, false, true) {
            assert_eq!(s.fds().len(), 2);
        }
    }

    #[test]
    fn helpers() {
        assert_eq!(
            refid_of("192.0.2.1".parse().unwrap()),
            ReferenceId([192, 0, 2, 1])
        );
        assert_ne!(
            refid_of("2001:db8::1".parse().unwrap()),
            refid_of("2001:db8::2".parse().unwrap())
        );
        assert_eq!(refid_text(ReferenceId(*b"PHC0")), "PHC0");
        assert_eq!(refid_text(ReferenceId(*b"GPS\0")), "GPS");
        assert_eq!(refid_text(ReferenceId([192, 0, 2, 1])), "192.0.2.1");
        let p = clock_precision();
        assert!((-30..=-10).contains(&p), "{p}");
        let mut d = Draws { state: 0, left: 0 };
        let a = d.next();
        assert_ne!(a, d.next());
    }
}

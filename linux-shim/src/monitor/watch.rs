//! One guest watched: its connection, the burst in flight, and what the
//! core's estimator ([`keel_core::monitor::Guest`]) made of it.
//!
//! Per poll: connect if needed (a hybrid socket first says
//! `CONNECT <port>\n` and waits for `OK`), send `burst` probes one after the
//! other (t1 read right before `write(2)`, t4 right after `read(2)`), then
//! one status request. A reply that does not carry the sequence number in
//! flight (a guest that was stopped and answers late) is ignored. A probe
//! unanswered within the timeout counts as a timeout; two in a row end the
//! burst. A guest that answered nothing this poll is down (`up = 0`).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use keel_core::monitor::{Guest, MonitorConfig, PollResult};
use keel_core::time::Timestamp;
use keel_core::wire::ktp::{
    Body, Control, ControlResult, Frame, GuestStatus, MAX_LEN, PROBE_LEN, Packet,
};

use crate::{info, warn};

/// How the host reaches a guest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostChannel {
    /// `unix:/PATH`: a plain stream (a virtio-serial port's QEMU chardev
    /// socket, or a guest's own Unix socket).
    Unix(PathBuf),
    /// `hybrid:/PATH:PORT`: Firecracker's, Cloud Hypervisor's and
    /// vhost-device-vsock's Unix socket, with `CONNECT PORT`.
    Hybrid(PathBuf, u32),
    /// `vsock:CID:PORT`: kernel `AF_VSOCK`.
    Vsock(u32, u32),
    /// `qga:/PATH`: the QEMU guest agent's socket, for a guest without
    /// keel: `guest-get-time` bracketed by t1 and t4, bound = the whole
    /// round trip / 2 (the agent reads its clock somewhere in between, after
    /// parsing the request). Coarse, but honest.
    Qga(PathBuf),
}

impl HostChannel {
    /// Parses `unix:/PATH`, `hybrid:/PATH:PORT` or `vsock:CID[:PORT]`.
    ///
    /// # Errors
    /// What is expected.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "\"{s}\" is not a guest channel; expected \"unix:/PATH\" (a virtio-serial chardev socket), \"hybrid:/PATH:PORT\" (Firecracker, Cloud Hypervisor, vhost-device-vsock), \"vsock:CID[:PORT]\" (port {} by default) or \"qga:/PATH\" (the QEMU guest agent, for a guest without keel)",
                crate::responder::DEFAULT_VSOCK_PORT
            )
        };
        let (kind, rest) = s.split_once(':').ok_or_else(bad)?;
        let port = |p: &str| p.parse::<u32>().ok().filter(|&p| p > 0).ok_or_else(bad);
        match kind {
            "unix" if rest.starts_with('/') => Ok(Self::Unix(rest.into())),
            "qga" if rest.starts_with('/') => Ok(Self::Qga(rest.into())),
            "hybrid" => {
                let (path, p) = rest.rsplit_once(':').ok_or_else(bad)?;
                if !path.starts_with('/') {
                    return Err(bad());
                }
                Ok(Self::Hybrid(path.into(), port(p)?))
            }
            "vsock" => {
                let (cid, p) = rest.split_once(':').unwrap_or((rest, ""));
                let cid = cid.parse::<u32>().ok().filter(|&c| c > 2).ok_or_else(bad)?;
                let p = if p.is_empty() {
                    crate::responder::DEFAULT_VSOCK_PORT
                } else {
                    port(p)?
                };
                Ok(Self::Vsock(cid, p))
            }
            _ => Err(bad()),
        }
    }

    /// The label on the metrics.
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Unix(_) => "unix",
            Self::Hybrid(..) => "hybrid-vsock",
            Self::Vsock(..) => "vsock",
            Self::Qga(_) => "qga",
        }
    }
}

/// The probe counters of one guest.
#[derive(Clone, Copy, Debug, Default)]
pub struct Probes {
    /// Answered and used.
    pub ok: u64,
    /// Not answered in time.
    pub timeout: u64,
    /// Answered, not used (see the estimator's reasons).
    pub rejected: u64,
    /// Connections that failed or broke.
    pub error: u64,
}

/// Opt-in correction: what to do about a guest off by more than its bound
/// plus a threshold for several polls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Correct {
    /// Nothing (the default).
    Off,
    /// Log what would be asked.
    DryRun,
    /// Ask the guest's keel to re-acquire.
    Reacquire,
}

enum Phase {
    /// Waiting for the next poll.
    Idle,
    /// A hybrid socket's `CONNECT` sent, its `OK` awaited.
    Handshake,
    /// Probe `k` of the burst in flight, sent at `t1`.
    Probe { k: u8, t1: Timestamp },
    /// The status request in flight.
    Status,
    /// A control request in flight.
    Control,
}

/// One guest.
pub struct Watched {
    /// Its name (the `vm` label).
    pub name: String,
    /// How it is reached.
    pub channel: HostChannel,
    est: Guest,
    conn: Option<File>,
    buf: [u8; 2 * MAX_LEN],
    have: usize,
    phase: Phase,
    seq: u32,
    deadline: Instant,
    next_poll: Instant,
    timeouts_in_row: u8,
    answered_this_poll: bool,
    /// Connections made: tells a new connection from an old one that had
    /// the same fd number.
    connections: u64,
    /// Connecting failed at the last try (said once).
    connect_failing: bool,
    /// A broken connection was logged while never up (said once).
    said_broken: bool,
    /// The last poll got a valid reply.
    pub up: bool,
    /// The last poll's result.
    pub last: Option<PollResult>,
    /// Unix time of the last measurement, s.
    pub last_at_unix: Option<f64>,
    /// The guest's last status.
    pub status: Option<GuestStatus>,
    /// Probe counters.
    pub probes: Probes,
    /// Polls in a row beyond the correction threshold.
    off_polls: u32,
    /// Corrections asked, by result.
    pub corrections: Vec<(&'static str, u64)>,
    /// The last poll's CSV row, until taken.
    record: Option<String>,
}

/// How a monitor measures.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    /// Between polls.
    pub poll: Duration,
    /// Probes per poll.
    pub burst: u8,
    /// Longest wait for a reply.
    pub timeout: Duration,
    /// The estimator's settings.
    pub estimator: MonitorConfig,
    /// Correction.
    pub correct: Correct,
    /// |offset| − bound beyond which a guest is off, ns.
    pub correct_threshold_ns: i64,
    /// Polls in a row off before a correction.
    pub correct_after: u32,
}

impl Watched {
    /// A guest, first polled at `first`.
    pub fn new(name: String, channel: HostChannel, plan: &Plan, first: Instant) -> Self {
        Self {
            name,
            channel,
            est: Guest::new(plan.estimator),
            conn: None,
            buf: [0; 2 * MAX_LEN],
            have: 0,
            phase: Phase::Idle,
            seq: 0,
            deadline: first,
            next_poll: first,
            timeouts_in_row: 0,
            answered_this_poll: false,
            connect_failing: false,
            said_broken: false,
            connections: 0,
            up: false,
            last: None,
            last_at_unix: None,
            status: None,
            probes: Probes::default(),
            off_polls: 0,
            corrections: Vec::new(),
            record: None,
        }
    }

    /// The last poll's CSV row ([`CSV_HEADER`]), once.
    pub fn take_record(&mut self) -> Option<String> {
        self.record.take()
    }

    /// The estimator's counters.
    pub const fn estimator(&self) -> &Guest {
        &self.est
    }

    /// The fd to poll, if connected, and which connection it is.
    pub fn fd(&self) -> Option<(i32, u64)> {
        self.conn
            .as_ref()
            .map(|c| (c.as_raw_fd(), self.connections))
    }

    /// When this guest next needs attention.
    pub fn wake_at(&self) -> Instant {
        match self.phase {
            Phase::Idle => self.next_poll,
            _ => self.deadline,
        }
    }

    /// Does what is due at `now`: reads replies, sends the next request,
    /// times out, starts a poll.
    pub fn step(&mut self, now: Instant, plan: &Plan) {
        if self.conn.is_some() {
            self.read_replies(plan);
        }
        let now = now.max(Instant::now());
        match self.phase {
            Phase::Idle if now >= self.next_poll => self.start_poll(plan),
            Phase::Idle => {}
            _ if now >= self.deadline => self.timed_out(plan),
            _ => {}
        }
    }

    fn start_poll(&mut self, plan: &Plan) {
        self.answered_this_poll = false;
        self.timeouts_in_row = 0;
        if self.conn.is_none() {
            match connect(&self.channel) {
                Ok(f) => {
                    self.connect_failing = false;
                    self.conn = Some(f);
                    self.connections = self.connections.wrapping_add(1);
                    self.have = 0;
                    if let HostChannel::Qga(_) = self.channel {
                        // Resynchronise: whatever an earlier client left
                        // unanswered comes before this id's return.
                        self.seq = self.seq.wrapping_add(1);
                        let sync = format!(
                            "{{\"execute\":\"guest-sync\",\"arguments\":{{\"id\":{}}}}}\n",
                            self.seq
                        );
                        if self.write(sync.as_bytes()).is_ok() {
                            self.phase = Phase::Handshake;
                            self.deadline = Instant::now() + plan.timeout;
                        }
                        return;
                    }
                    if let HostChannel::Hybrid(_, port) = self.channel {
                        let line = format!("CONNECT {port}\n");
                        if self.write(line.as_bytes()).is_ok() {
                            self.phase = Phase::Handshake;
                            self.deadline = Instant::now() + plan.timeout;
                        }
                        return;
                    }
                }
                Err(e) => {
                    self.probes.error += 1;
                    if !self.connect_failing {
                        warn!(
                            "guest {}: cannot connect: {e} (tried again every poll)",
                            self.name
                        );
                    }
                    self.connect_failing = true;
                    self.end_poll(plan);
                    return;
                }
            }
        }
        self.send_probe(0, plan);
    }

    fn send_probe(&mut self, k: u8, plan: &Plan) {
        if let HostChannel::Qga(_) = self.channel {
            // t1: right before write(2).
            let t1 = realtime();
            if self.write(b"{\"execute\":\"guest-get-time\"}\n").is_ok() {
                self.phase = Phase::Probe { k, t1 };
                self.deadline = Instant::now() + plan.timeout;
            }
            return;
        }
        self.seq = self.seq.wrapping_add(1);
        let mut out = [0u8; PROBE_LEN];
        // t1: right before write(2).
        let t1 = realtime();
        let f = Frame {
            seq: self.seq,
            body: Body::ProbeRequest { t1: t1.as_nanos() },
        };
        if f.emit(&mut out).is_ok() && self.write(&out).is_ok() {
            self.phase = Phase::Probe { k, t1 };
            self.deadline = Instant::now() + plan.timeout;
        }
    }

    fn send(&mut self, body: Body, phase: Phase, plan: &Plan) {
        self.seq = self.seq.wrapping_add(1);
        let mut out = [0u8; MAX_LEN];
        let f = Frame {
            seq: self.seq,
            body,
        };
        if let Ok(n) = f.emit(&mut out) {
            if self.write(&out[..n]).is_ok() {
                self.phase = phase;
                self.deadline = Instant::now() + plan.timeout;
            }
        }
    }

    /// Writes a whole request; a connection that does not take it is
    /// dropped.
    fn write(&mut self, bytes: &[u8]) -> Result<(), ()> {
        let Some(c) = &mut self.conn else {
            return Err(());
        };
        match c.write(bytes) {
            Ok(n) if n == bytes.len() => Ok(()),
            r => {
                let why = match r {
                    Ok(_) => "a request did not fit".into(),
                    Err(e) => e.to_string(),
                };
                self.broken(&why);
                Err(())
            }
        }
    }

    fn broken(&mut self, why: &str) {
        if self.conn.take().is_some() {
            self.probes.error += 1;
            // Said when it was up, and the first time of a guest never up.
            if self.up || !std::mem::replace(&mut self.said_broken, true) {
                warn!("guest {}: connection lost: {why}", self.name);
            }
        }
        self.have = 0;
        self.phase = Phase::Idle;
    }

    fn read_replies(&mut self, plan: &Plan) {
        loop {
            let Some(c) = &mut self.conn else { return };
            let n = match c.read(&mut self.buf[self.have..]) {
                Ok(0) => return self.broken("closed by the guest"),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return self.broken(&e.to_string()),
            };
            // t4: right after read(2).
            let t4 = realtime();
            self.have += n;
            if let HostChannel::Qga(_) = self.channel {
                self.qga_lines(t4, plan);
                continue;
            }
            if matches!(self.phase, Phase::Handshake) {
                self.handshake(plan);
                continue;
            }
            let mut at = 0;
            loop {
                let rest = &self.buf[at..self.have];
                let len = match Packet::new_unchecked(rest).frame_len() {
                    Ok(len) if rest.len() >= len => len,
                    Ok(_) | Err(keel_core::wire::ktp::Error::Truncated) => break,
                    Err(e) => return self.broken(&format!("not a keel guest: {e}")),
                };
                let frame = Frame::parse(&rest[..len]);
                at += len;
                if let Ok(f) = frame {
                    self.on_frame(f, t4, plan);
                }
            }
            self.buf.copy_within(at..self.have, 0);
            self.have -= at;
        }
    }

    /// The guest agent's replies: one JSON object per line, `{"return": N}`.
    fn qga_lines(&mut self, t4: Timestamp, plan: &Plan) {
        while let Some(end) = self.buf[..self.have].iter().position(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(&self.buf[..end]).into_owned();
            self.buf.copy_within(end + 1..self.have, 0);
            self.have -= end + 1;
            let ret = qga_return(&line);
            match (&self.phase, ret) {
                (Phase::Handshake, Some(id)) if id == u64::from(self.seq) => {
                    self.send_probe(0, plan);
                }
                // Whatever an earlier client left: skipped until our id.
                (Phase::Handshake, _) => {}
                (Phase::Control, _) => {
                    let done = line.trim().starts_with("{\"return\"");
                    if done {
                        info!("guest {}: its clock set through the guest agent", self.name);
                        // Measured again at once.
                        self.next_poll = Instant::now();
                    } else {
                        warn!(
                            "guest {}: the guest agent refused to set its clock: {line}",
                            self.name
                        );
                    }
                    self.count_correction(if done { "set-time" } else { "refused" });
                    self.phase = Phase::Idle;
                }
                (&Phase::Probe { k, t1 }, Some(g)) => {
                    self.answered_this_poll = true;
                    self.timeouts_in_row = 0;
                    let r = keel_core::wire::ktp::ProbeReply {
                        t1: t1.as_nanos(),
                        t2: g,
                        t3: g,
                        ..keel_core::wire::ktp::ProbeReply::default()
                    };
                    match self.est.on_reply(t1, &r, t4) {
                        Ok(_) => self.probes.ok += 1,
                        Err(_) => self.probes.rejected += 1,
                    }
                    if k + 1 < plan.burst {
                        self.send_probe(k + 1, plan);
                    } else {
                        self.end_poll(plan);
                    }
                }
                _ => {
                    let why = format!("the guest agent answered {line:?}");
                    self.broken(&why);
                    self.end_poll(plan);
                    return;
                }
            }
        }
        if self.have == self.buf.len() {
            self.broken("a guest agent line longer than 512 bytes");
        }
    }

    fn handshake(&mut self, plan: &Plan) {
        let Some(end) = self.buf[..self.have].iter().position(|&b| b == b'\n') else {
            if self.have == self.buf.len() {
                self.broken("no OK after CONNECT");
            }
            return;
        };
        let line = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        self.buf.copy_within(end + 1..self.have, 0);
        self.have -= end + 1;
        if line.starts_with("OK") {
            self.send_probe(0, plan);
        } else {
            self.broken(&format!("the hybrid socket answered {line:?} to CONNECT"));
        }
    }

    fn on_frame(&mut self, f: Frame, t4: Timestamp, plan: &Plan) {
        if f.seq != self.seq {
            // A late reply to a request already given up on.
            return;
        }
        match (&self.phase, f.body) {
            (&Phase::Probe { k, t1 }, Body::ProbeReply(r)) => {
                self.timeouts_in_row = 0;
                self.answered_this_poll = true;
                match self.est.on_reply(t1, &r, t4) {
                    Ok(_) => self.probes.ok += 1,
                    Err(_) => self.probes.rejected += 1,
                }
                self.next_in_burst(k, plan);
            }
            (Phase::Status, Body::StatusReply(s)) => {
                self.answered_this_poll = true;
                if self.status.is_none_or(|old| old.epoch != s.epoch) {
                    info!(
                        "guest {}: keel {} ({}), {}",
                        self.name,
                        s.version_str(),
                        source_name(s.source),
                        state_name(s.state)
                    );
                }
                self.status = Some(s);
                self.end_poll(plan);
            }
            (Phase::Control, Body::ControlReply { result, .. }) => {
                info!(
                    "guest {}: asked to re-acquire: {}",
                    self.name,
                    result.name()
                );
                self.count_correction(result.name());
                self.phase = Phase::Idle;
                if result == ControlResult::Done {
                    // Measured again at once.
                    self.next_poll = Instant::now();
                }
            }
            _ => {}
        }
    }

    fn next_in_burst(&mut self, k: u8, plan: &Plan) {
        if k + 1 < plan.burst && self.timeouts_in_row < 2 {
            self.send_probe(k + 1, plan);
        } else {
            self.send(Body::StatusRequest, Phase::Status, plan);
        }
    }

    fn timed_out(&mut self, plan: &Plan) {
        match self.phase {
            Phase::Probe { .. } if matches!(self.channel, HostChannel::Qga(_)) => {
                // No sequence numbers: a late reply would pass for the next
                // one's. Start again on a fresh connection.
                self.probes.timeout += 1;
                self.broken("the guest agent did not answer in time");
                self.end_poll(plan);
            }
            Phase::Probe { k, .. } => {
                self.probes.timeout += 1;
                self.timeouts_in_row += 1;
                if self.timeouts_in_row >= 2 {
                    self.end_poll(plan);
                } else {
                    self.next_in_burst(k, plan);
                }
            }
            Phase::Handshake => {
                self.broken("no answer to CONNECT");
                self.end_poll(plan);
            }
            Phase::Status | Phase::Control => self.end_poll(plan),
            Phase::Idle => {}
        }
    }

    fn end_poll(&mut self, plan: &Plan) {
        let result = self.est.end_burst();
        let was_up = self.up;
        self.up = self.answered_this_poll && result.is_some();
        self.record = Some(csv_row(&self.name, self.up, result.as_ref()));
        if let Some(r) = result {
            self.last = Some(r);
            self.last_at_unix = Some(crate::status::wall_clock_unix());
            if r.new_generation {
                info!("guest {}: its clock stepped or keel restarted", self.name);
            }
            if let Some(j) = r.jump {
                warn!(
                    "guest {}: its clock jumped by {:+.6} s without saying so (a pause, or another program set it)",
                    self.name,
                    ns_s(j.as_nanos())
                );
            }
        }
        if was_up && !self.up {
            warn!("guest {}: no longer answers", self.name);
        } else if !was_up && self.up {
            info!("guest {}: answers ({})", self.name, self.channel.kind());
        }
        // Jittered ±10 % so that guests do not all poll at once.
        let jitter = crate::sys::random_u64() % 201;
        let poll = plan
            .poll
            .mul_f64(0.9 + f64::from(u32::try_from(jitter).unwrap_or(100)) / 1000.0);
        self.next_poll = Instant::now() + poll;
        self.phase = Phase::Idle;
        self.maybe_correct(plan);
    }

    fn maybe_correct(&mut self, plan: &Plan) {
        let Some(r) = self.last.filter(|_| self.up) else {
            return;
        };
        let m = r.measurement;
        let off = m.offset.as_nanos().saturating_abs() - m.bound.as_nanos();
        if plan.correct == Correct::Off || off <= plan.correct_threshold_ns {
            self.off_polls = 0;
            return;
        }
        self.off_polls += 1;
        if self.off_polls < plan.correct_after {
            return;
        }
        self.off_polls = 0;
        let qga = matches!(self.channel, HostChannel::Qga(_));
        if plan.correct == Correct::DryRun {
            info!(
                "guest {}: off by {:+.6} s ± {:.6} s for {} polls: would {} (dry run)",
                self.name,
                ns_s(m.offset.as_nanos()),
                ns_s(m.bound.as_nanos()),
                plan.correct_after,
                if qga {
                    "set its clock through the guest agent"
                } else {
                    "ask it to re-acquire"
                }
            );
            self.count_correction("dry-run");
        } else if qga {
            // A guest without keel: the agent sets its clock to the host's
            // time, read right before the request leaves, plus half the last
            // round trip (the agent parses before it sets).
            let at = realtime()
                .as_nanos()
                .saturating_add(m.delay.as_nanos().unsigned_abs() / 2);
            let cmd =
                format!("{{\"execute\":\"guest-set-time\",\"arguments\":{{\"time\":{at}}}}}\n");
            if self.write(cmd.as_bytes()).is_ok() {
                self.phase = Phase::Control;
                self.deadline = Instant::now() + plan.timeout;
            }
        } else {
            self.send(
                Body::ControlRequest(Control::Reacquire),
                Phase::Control,
                plan,
            );
        }
    }

    fn count_correction(&mut self, what: &'static str) {
        match self.corrections.iter_mut().find(|(k, _)| *k == what) {
            Some((_, n)) => *n += 1,
            None => self.corrections.push((what, 1)),
        }
    }
}

/// The columns of `keel monitor --csv`: one row per poll of a guest. Times
/// in ns: `at_ns` is the host's `CLOCK_REALTIME` of the measurement, offset
/// guest − host; empty cells when the poll measured nothing.
pub const CSV_HEADER: &str = "at_ns,vm,up,offset_ns,bound_ns,delay_ns,rate_ppb,rate_bound_ppb,jump_ns,new_generation,epoch,generation";

fn csv_row(vm: &str, up: bool, r: Option<&PollResult>) -> String {
    let Some(r) = r else {
        return format!("{},{vm},0,,,,,,,,,", realtime().as_nanos());
    };
    let m = r.measurement;
    let ppb = |bits: i64| format!("{:.3}", ns_s(bits) * 1e9 / 4_294_967_296.0);
    format!(
        "{},{vm},{},{},{},{},{},{},{},{},{},{}",
        m.at.as_nanos(),
        u8::from(up),
        m.offset.as_nanos(),
        m.bound.as_nanos(),
        m.delay.as_nanos(),
        r.rate.map_or(String::new(), |x| ppb(x.rate.to_bits())),
        r.rate.map_or(String::new(), |x| ppb(x.bound.to_bits())),
        r.jump.map_or(String::new(), |j| j.as_nanos().to_string()),
        u8::from(r.new_generation),
        m.epoch,
        m.generation
    )
}

/// ns as seconds (reporting).
#[allow(clippy::cast_precision_loss, reason = "reporting")]
pub fn ns_s(ns: i64) -> f64 {
    ns as f64 / 1e9
}

/// The guest's source kind's name.
pub const fn source_name(k: u8) -> &'static str {
    match k {
        0 => "no source",
        1 => "PHC",
        2 => "NTP",
        3 => "PPS",
        _ => "unknown source",
    }
}

/// The guest's state's name.
pub const fn state_name(s: u8) -> &'static str {
    match s {
        0 => "unlocked",
        1 => "jump",
        2 => "locked",
        3 => "locked-stable",
        4 => "holdover",
        _ => "unknown",
    }
}

/// `CLOCK_REALTIME` now.
pub fn realtime() -> Timestamp {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::from_secs_nanos(d.as_secs(), d.subsec_nanos())
}

/// `N` of a guest agent's `{"return": N}` line (an integer, not negative).
fn qga_return(line: &str) -> Option<u64> {
    let v = line.trim().strip_prefix('{')?.strip_suffix('}')?.trim();
    let v = v
        .strip_prefix("\"return\"")?
        .trim_start()
        .strip_prefix(':')?
        .trim();
    v.parse().ok()
}

fn connect(c: &HostChannel) -> io::Result<File> {
    let f = match c {
        HostChannel::Unix(p) | HostChannel::Hybrid(p, _) | HostChannel::Qga(p) => {
            let s = UnixStream::connect(p)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
            s.set_nonblocking(true)?;
            File::from(OwnedFd::from(s))
        }
        HostChannel::Vsock(cid, port) => vsock_connect(*cid, *port)?,
    };
    Ok(f)
}

fn vsock_connect(cid: u32, port: u32) -> io::Result<File> {
    let (fd, addr, len) = crate::sys::vsock_socket(cid, port, false)?;
    // A blocking connect, bounded by the kernel's vsock connect timeout
    // (2 s); then non-blocking.
    // SAFETY: a valid sockaddr_vm of its own size.
    if unsafe { libc::connect(fd.as_raw_fd(), (&raw const addr).cast(), len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fcntl on our fd.
    unsafe {
        let fl = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
    Ok(File::from(fd))
}

#[cfg(test)]
mod tests {
    #[test]
    fn guest_agent_returns() {
        use super::qga_return;
        assert_eq!(
            qga_return("{\"return\": 1700000000123456789}"),
            Some(1_700_000_000_123_456_789)
        );
        assert_eq!(qga_return(" {\"return\":42} "), Some(42));
        assert_eq!(qga_return("{\"return\": {}}"), None);
        assert_eq!(
            qga_return("{\"error\": {\"class\": \"CommandNotFound\"}}"),
            None
        );
        assert_eq!(qga_return("{\"return\": -1}"), None);
    }
}

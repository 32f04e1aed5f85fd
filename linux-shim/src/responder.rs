//! The guest's side of out-of-band monitoring (`host_monitor` in
//! keel.toml): keel answers its host's `keel monitor` over KTP
//! ([`keel_core::wire::ktp`]) on channels that bypass the guest's network,
//! in the daemon's one `poll(2)` loop.
//!
//! Channels: an `AF_VSOCK` listener (kernel vhost-vsock, Firecracker and
//! Cloud Hypervisor hybrid sockets, vhost-user-vsock, Hyper-V `hv_sock` and
//! `VMware` VMCI), a virtio-serial port, or a Unix socket (a host that passes
//! one through, and the tests).
//!
//! t2 is read right after `read(2)` returns and t3 right before `write(2)`,
//! parsing in between. The status and the clock's generation come from the
//! engine ([`keel_core::engine::Engine::guest_status`]).
//!
//! **Never delaying the clock's updates:** every fd is non-blocking; a
//! connection whose host does not take a reply at once, or that sends
//! garbage, is closed (nothing else is lost); a wake-up handles at most
//! [`BATCH`] frames.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use keel_core::engine::{Disruption, Engine};
use keel_core::servo::Servo;
use keel_core::time::Timestamp;
use keel_core::wire::ktp::{
    Body, Control, ControlResult, Frame, GuestStatus, MAX_LEN, Packet, ProbeReply,
};

use crate::{info, warn};

/// Frames answered per wake-up, all connections together.
pub const BATCH: usize = 64;

/// Connections kept per listener: the monitor's, and one spare for a
/// monitor that reconnects before its old connection is seen closed. A
/// further one closes the oldest.
const PER_LISTENER: usize = 2;

/// Where the guest answers (`host_monitor` entries).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Channel {
    /// `vsock:PORT`: an `AF_VSOCK` listener on any CID.
    Vsock(u32),
    /// `serial:NAME` (a virtio-serial port name, found under
    /// `/dev/virtio-ports/` or `/sys/class/virtio-ports/*/name`) or
    /// `serial:/dev/...` (a path).
    Serial(String),
    /// `unix:/path`: a Unix socket keel creates (owner-only).
    Unix(PathBuf),
}

/// The default vsock port (`host_monitor = ["vsock"]`).
pub const DEFAULT_VSOCK_PORT: u32 = 1123;

/// The default virtio-serial port name (`host_monitor = ["serial"]`).
pub const DEFAULT_SERIAL_NAME: &str = "org.keel.time.0";

impl Channel {
    /// Parses one `host_monitor` entry.
    ///
    /// # Errors
    /// What is expected.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (kind, arg) = s.split_once(':').unwrap_or((s, ""));
        match kind {
            "vsock" if arg.is_empty() => Ok(Self::Vsock(DEFAULT_VSOCK_PORT)),
            "vsock" => arg
                .parse::<u32>()
                .ok()
                .filter(|&p| p > 0 && p != u32::MAX)
                .map(Self::Vsock)
                .ok_or_else(|| {
                    format!("\"{s}\": the vsock port must be an integer in 1..4294967295")
                }),
            "serial" if arg.is_empty() => Ok(Self::Serial(DEFAULT_SERIAL_NAME.into())),
            "serial" => Ok(Self::Serial(arg.into())),
            "unix" if arg.starts_with('/') => Ok(Self::Unix(arg.into())),
            "unix" => Err(format!("\"{s}\": a unix channel needs an absolute path")),
            _ => Err(format!(
                "\"{s}\" is not a channel; expected \"vsock[:PORT]\" (default port {DEFAULT_VSOCK_PORT}), \"serial[:NAME or /dev/PATH]\" (default name {DEFAULT_SERIAL_NAME}) or \"unix:/PATH\""
            )),
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Vsock(p) => format!("vsock port {p}"),
            Self::Serial(n) => format!("virtio-serial {n}"),
            Self::Unix(p) => format!("unix socket {}", p.display()),
        }
    }
}

/// What the host may ask (`host_monitor_control`): off by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ControlPolicy {
    /// Re-acquire requests are obeyed.
    pub reacquire: bool,
    /// Least time between two obeyed requests, ns.
    pub min_interval_ns: u64,
}

impl ControlPolicy {
    /// Nothing obeyed.
    pub const OFF: Self = Self {
        reacquire: false,
        min_interval_ns: 60_000_000_000,
    };
}

enum Listener {
    Unix(UnixListener, PathBuf),
    Vsock(OwnedFd),
}

struct Conn {
    file: File,
    buf: [u8; 2 * MAX_LEN],
    have: usize,
    /// The listener it came from (`None`: a serial port).
    from: Option<usize>,
    /// Which serial port, to reopen.
    serial: Option<PathBuf>,
    opened_ns: u64,
}

/// The guest's responder.
pub struct Responder {
    listeners: Vec<Listener>,
    conns: Vec<Conn>,
    /// Serial ports closed by a host that went away: reopened at the next
    /// [`Responder::tick`].
    closed_serial: Vec<PathBuf>,
    epoch: u32,
    version: [u8; 16],
    control: ControlPolicy,
    last_control_ns: Option<u64>,
    start_ns: u64,
    /// `CLOCK_MONOTONIC_RAW` is read for t2 (not in the simulation).
    raw: bool,
    /// Frames answered, and connections closed for garbage.
    pub answered: u64,
    /// Connections closed for garbage or a host that did not take a reply.
    pub dropped: u64,
}

impl Responder {
    /// Opens every channel; `None` when there are none.
    ///
    /// # Errors
    /// A channel that cannot be opened, saying which and why.
    pub fn open(
        channels: &[Channel],
        control: ControlPolicy,
        start_ns: u64,
        raw: bool,
    ) -> Result<Option<Self>, String> {
        if channels.is_empty() {
            return Ok(None);
        }
        let mut r = Self {
            listeners: Vec::new(),
            conns: Vec::new(),
            closed_serial: Vec::new(),
            epoch: u32::try_from(crate::sys::random_u64() & 0xFFFF_FFFF).unwrap_or(1),
            version: GuestStatus::version_field(env!("CARGO_PKG_VERSION")),
            control,
            last_control_ns: None,
            start_ns,
            raw,
            answered: 0,
            dropped: 0,
        };
        for c in channels {
            let ctx = |e: String| format!("host_monitor {}: {e}", c.describe());
            match c {
                Channel::Unix(p) => {
                    let (l, _) = crate::status::bind_socket(p, "host_monitor", None)?;
                    r.listeners.push(Listener::Unix(l, p.clone()));
                }
                Channel::Vsock(port) => {
                    r.listeners
                        .push(Listener::Vsock(vsock_listen(*port).map_err(|e| {
                            ctx(format!(
                                "{e} (is this a VM with a vsock device? the guest needs the vsock and vmw_vsock_virtio_transport modules)"
                            ))
                        })?));
                }
                Channel::Serial(name) => {
                    let path = serial_path(name).map_err(ctx)?;
                    let file =
                        open_serial(&path).map_err(|e| ctx(format!("{}: {e}", path.display())))?;
                    r.conns.push(Conn::new(file, None, Some(path), start_ns));
                }
            }
            info!("answering the host's monitor on {}", c.describe());
        }
        Ok(Some(r))
    }

    /// The fds to poll for input.
    pub fn fds(&self) -> Vec<i32> {
        let mut v: Vec<i32> = self
            .listeners
            .iter()
            .map(|l| match l {
                Listener::Unix(l, _) => l.as_raw_fd(),
                Listener::Vsock(fd) => fd.as_raw_fd(),
            })
            .collect();
        v.extend(self.conns.iter().map(|c| c.file.as_raw_fd()));
        v
    }

    /// Accepts connections and answers what has arrived: `sink_now` reads
    /// the clock the guest's time is (t2, t3). Returns the frames answered.
    pub fn serve<S: Servo>(
        &mut self,
        engine: &mut Engine<S>,
        now_ns: u64,
        sink_now: &mut dyn FnMut() -> Timestamp,
    ) -> usize {
        self.accept(now_ns);
        let mut answered = 0;
        let mut i = 0;
        while i < self.conns.len() && answered < BATCH {
            match self.read_and_answer(i, engine, now_ns, sink_now, BATCH - answered) {
                Ok(n) => {
                    answered += n;
                    i += 1;
                }
                Err(why) => {
                    let c = self.conns.remove(i);
                    if let Some(p) = c.serial {
                        self.closed_serial.push(p);
                    }
                    if let Some(why) = why {
                        self.dropped += 1;
                        warn!("host monitor connection closed: {why}");
                    }
                }
            }
        }
        self.answered += answered as u64;
        answered
    }

    /// Once per update: reopens the serial ports a host closed.
    pub fn tick(&mut self, now_ns: u64) {
        for p in std::mem::take(&mut self.closed_serial) {
            match open_serial(&p) {
                Ok(f) => self.conns.push(Conn::new(f, None, Some(p), now_ns)),
                Err(e) => {
                    warn!(
                        "{}: cannot reopen the host monitor's port: {e}",
                        p.display()
                    );
                    self.closed_serial.push(p);
                }
            }
        }
    }

    fn accept(&mut self, now_ns: u64) {
        for (k, l) in self.listeners.iter().enumerate() {
            loop {
                let file = match l {
                    Listener::Unix(l, _) => match l.accept() {
                        Ok((s, _)) => s
                            .set_nonblocking(true)
                            .map(|()| File::from(OwnedFd::from(s))),
                        Err(e) => Err(e),
                    },
                    Listener::Vsock(fd) => vsock_accept(fd),
                };
                let file = match file {
                    Ok(f) => f,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => {
                        warn!("host monitor: accept failed: {e}");
                        break;
                    }
                };
                let mine: Vec<usize> = (0..self.conns.len())
                    .filter(|&i| self.conns[i].from == Some(k))
                    .collect();
                if mine.len() >= PER_LISTENER {
                    if let Some(&oldest) = mine.iter().min_by_key(|&&i| self.conns[i].opened_ns) {
                        self.conns.remove(oldest);
                    }
                }
                self.conns.push(Conn::new(file, Some(k), None, now_ns));
            }
        }
    }

    /// Reads what connection `i` has and answers up to `budget` frames.
    /// `Err(None)`: closed by the host; `Err(Some(why))`: closed by keel.
    fn read_and_answer<S: Servo>(
        &mut self,
        i: usize,
        engine: &mut Engine<S>,
        now_ns: u64,
        sink_now: &mut dyn FnMut() -> Timestamp,
        budget: usize,
    ) -> Result<usize, Option<String>> {
        let c = &mut self.conns[i];
        let n = match c.file.read(&mut c.buf[c.have..]) {
            Ok(0) => return Err(None),
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                return Ok(0);
            }
            Err(e) => return Err(Some(format!("read: {e}"))),
        };
        // t2: right after read(2) returned.
        let t2 = sink_now();
        let raw_t2 = if self.raw {
            crate::clock::ns_of(crate::clock::gettime(libc::CLOCK_MONOTONIC_RAW))
        } else {
            0
        };
        c.have += n;
        let mut done = 0;
        let mut at = 0;
        while done < budget {
            let rest = &c.buf[at..c.have];
            let len = match Packet::new_unchecked(rest).frame_len() {
                Ok(len) => len,
                Err(keel_core::wire::ktp::Error::Truncated) => break,
                Err(e) => return Err(Some(e.to_string())),
            };
            if rest.len() < len {
                break;
            }
            let frame = Frame::parse(&rest[..len]).map_err(|e| Some(e.to_string()))?;
            at += len;
            let reply = match frame.body {
                Body::ProbeRequest { t1 } => Some(Body::ProbeReply(ProbeReply {
                    t1,
                    t2: t2.as_nanos(),
                    t3: 0,
                    epoch: self.epoch,
                    generation: engine.status().generation(),
                    raw_t2,
                })),
                Body::StatusRequest => {
                    let mut s = engine.guest_status(now_ns, t2);
                    s.epoch = self.epoch;
                    s.version = self.version;
                    s.uptime_ns = now_ns.saturating_sub(self.start_ns);
                    s.control_enabled = self.control.reacquire;
                    Some(Body::StatusReply(s))
                }
                Body::ControlRequest(what) => {
                    let result = Self::control(
                        &self.control,
                        &mut self.last_control_ns,
                        engine,
                        now_ns,
                        what,
                    );
                    Some(Body::ControlReply {
                        result,
                        generation: engine.status().generation(),
                    })
                }
                // Replies are the host's to read, not ours; unknown kinds
                // are a newer host's: skipped.
                _ => None,
            };
            if let Some(body) = reply {
                let mut out = [0u8; MAX_LEN];
                let f = Frame {
                    seq: frame.seq,
                    body,
                };
                let Ok(len) = f.emit(&mut out) else { continue };
                if let Body::ProbeReply(_) = body {
                    // t3: right before write(2).
                    keel_core::wire::ktp::set_t3(&mut out, sink_now().as_nanos());
                }
                match c.file.write(&out[..len]) {
                    Ok(w) if w == len => done += 1,
                    Ok(_) => return Err(Some("the host took part of a reply".into())),
                    Err(e) => return Err(Some(format!("the host does not take replies: {e}"))),
                }
            }
        }
        c.buf.copy_within(at..c.have, 0);
        c.have -= at;
        Ok(done)
    }

    fn control<S: Servo>(
        policy: &ControlPolicy,
        last: &mut Option<u64>,
        engine: &mut Engine<S>,
        now_ns: u64,
        what: Control,
    ) -> ControlResult {
        let result = match what {
            _ if !policy.reacquire => ControlResult::Disabled,
            Control::Step(_) => ControlResult::Unsupported,
            Control::Reacquire
                if last.is_some_and(|t| now_ns.saturating_sub(t) < policy.min_interval_ns) =>
            {
                ControlResult::RateLimited
            }
            Control::Reacquire => {
                *last = Some(now_ns);
                engine.on_disruption(now_ns, Disruption::Requested);
                ControlResult::Done
            }
        };
        let asked = match what {
            Control::Reacquire => "re-acquire".to_string(),
            Control::Step(ns) => format!("a step of {ns:+} ns"),
        };
        warn!("the host's monitor asked for {asked}: {}", result.name());
        result
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        for l in &self.listeners {
            if let Listener::Unix(_, p) = l {
                let _ = std::fs::remove_file(p);
            }
        }
    }
}

impl Conn {
    fn new(file: File, from: Option<usize>, serial: Option<PathBuf>, opened_ns: u64) -> Self {
        Self {
            file,
            buf: [0; 2 * MAX_LEN],
            have: 0,
            from,
            serial,
            opened_ns,
        }
    }
}

/// The device of a virtio-serial port: a path as given, else
/// `/dev/virtio-ports/NAME`, else the `/sys/class/virtio-ports/*/name`
/// that says NAME (no udev).
fn serial_path(name: &str) -> Result<PathBuf, String> {
    if name.starts_with('/') {
        return Ok(name.into());
    }
    let link = Path::new("/dev/virtio-ports").join(name);
    if link.exists() {
        return Ok(link);
    }
    if let Ok(dir) = std::fs::read_dir("/sys/class/virtio-ports") {
        for e in dir.flatten() {
            let said = std::fs::read_to_string(e.path().join("name")).unwrap_or_default();
            if said.trim_end() == name {
                return Ok(Path::new("/dev").join(e.file_name()));
            }
        }
    }
    Err(format!(
        "no virtio-serial port named {name} (neither {} nor a /sys/class/virtio-ports/*/name says it; add a virtserialport with name={name} to the VM)",
        link.display()
    ))
}

fn open_serial(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
        .open(path)
}

fn vsock_listen(port: u32) -> io::Result<OwnedFd> {
    let (fd, addr, len) = crate::sys::vsock_socket(libc::VMADDR_CID_ANY, port, true)?;
    // SAFETY: a valid sockaddr_vm of its own size.
    if unsafe { libc::bind(fd.as_raw_fd(), (&raw const addr).cast(), len) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a bound socket.
    if unsafe { libc::listen(fd.as_raw_fd(), 4) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

fn vsock_accept(l: &OwnedFd) -> io::Result<File> {
    // SAFETY: accept4 on our listener, peer address not wanted.
    let fd = unsafe {
        libc::accept4(
            l.as_raw_fd(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd nobody else owns.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_core::engine::EngineConfig;
    use keel_core::servo::{Kalman, KalmanConfig};
    use keel_core::time::{Duration, Ppb};
    use std::os::unix::net::UnixStream;

    fn realtime() -> Timestamp {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp::from_secs_nanos(d.as_secs(), d.subsec_nanos())
    }

    /// The guest's cost of a probe on its real clock: t3 − t2, the parsing
    /// and the reply's building between the two reads, over 2,000 probes.
    #[test]
    fn a_probe_costs_the_guest_microseconds() {
        let dir = std::env::temp_dir().join(format!("keel-responder-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ktp.sock");
        let mut r = Responder::open(&[Channel::Unix(path.clone())], ControlPolicy::OFF, 0, true)
            .unwrap()
            .unwrap();
        let cfg = EngineConfig::default();
        let servo = Kalman::new(
            cfg.servo,
            KalmanConfig::default(),
            Duration::from_secs(1),
            Ppb::ZERO,
        );
        let mut engine = Engine::new(cfg, servo, Ppb::ZERO, 0);
        let mut c = UnixStream::connect(&path).unwrap();
        c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut cost = Vec::with_capacity(2000);
        for i in 0..2000u32 {
            let mut b = [0u8; MAX_LEN];
            let n = Frame {
                seq: i,
                body: Body::ProbeRequest { t1: u64::from(i) },
            }
            .emit(&mut b)
            .unwrap();
            c.write_all(&b[..n]).unwrap();
            while r.serve(&mut engine, 0, &mut realtime) == 0 {}
            let mut out = [0u8; keel_core::wire::ktp::PROBE_LEN];
            c.read_exact(&mut out).unwrap();
            let Body::ProbeReply(p) = Frame::parse(&out).unwrap().body else {
                panic!("not a probe reply")
            };
            assert_eq!((p.t1, p.epoch), (u64::from(i), r.epoch));
            assert!(p.raw_t2 > 0, "the raw clock at t2");
            cost.push(p.t3 - p.t2);
        }
        cost.sort_unstable();
        let (p50, p99) = (cost[1000], cost[1980]);
        eprintln!(
            "guest t3 − t2 over 2000 probes: median {p50} ns, p99 {p99} ns, max {} ns",
            cost[1999]
        );
        // A debug build on a shared machine: only a gross regression fails
        // (the goal, 5 µs at p99, is judged on the release build's figure).
        assert!(p50 < 200_000, "median t3 − t2 {p50} ns");
        drop(r);
        assert!(!path.exists(), "the socket is removed with the responder");
    }
}

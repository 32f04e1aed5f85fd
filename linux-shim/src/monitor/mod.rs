//! `keel monitor`: the host measures every guest's clock itself, over
//! channels that bypass the guests' networks, and serves a fleet view in
//! Prometheus.
//!
//! Each guest runs `keel sync` with `host_monitor` (see
//! [`crate::responder`]); the monitor polls each one (default every 16 s,
//! jittered) with a burst of KTP probes and a status request, in one
//! `poll(2)` loop. What a burst means is the core's
//! ([`keel_core::monitor`]): the least-delay exchange, θ ± δ/2, the rate
//! and the jumps. The monitor never steers a clock; with `correct` it may
//! ask a guest's keel to re-acquire from its own source.

mod render;
mod watch;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::metrics::Metrics;
use crate::sys::{self, Signal, Signals};
use crate::{info, warn};

use watch::Watched;
pub use watch::{Correct, HostChannel, Plan};

/// The monitor's settings (`/etc/keel/monitor.toml`, then the command
/// line).
#[derive(Clone, Debug)]
pub struct Settings {
    /// The guests.
    pub guests: Vec<(String, HostChannel)>,
    /// How they are measured.
    pub plan: Plan,
    /// Where Prometheus scrapes.
    pub metrics_listen: Option<SocketAddr>,
    /// All families, not the 10 series per guest of the default.
    pub metrics_verbose: bool,
    /// Where `keel monitor status` asks.
    pub status_socket: Option<PathBuf>,
    /// A directory whose sockets are guests too (`NAME.sock` is the guest
    /// NAME, a plain stream like a virtio-serial chardev socket), looked at
    /// every second: a VM's socket appearing adds it, disappearing removes it.
    pub guests_dir: Option<PathBuf>,
    /// A CSV trace of every poll (`--csv`).
    pub csv: Option<PathBuf>,
}

/// The default configuration file.
pub const DEFAULT_CONFIG: &str = "/etc/keel/monitor.toml";
/// The default status socket.
pub const DEFAULT_SOCKET: &str = "/run/keel/monitor.sock";

impl Default for Settings {
    fn default() -> Self {
        Self {
            guests: Vec::new(),
            plan: Plan {
                poll: Duration::from_secs(16),
                burst: 8,
                timeout: Duration::from_secs(1),
                estimator: keel_core::monitor::MonitorConfig::DEFAULT,
                correct: Correct::Off,
                correct_threshold_ns: 1_000_000,
                correct_after: 3,
            },
            metrics_listen: None,
            metrics_verbose: false,
            status_socket: Some(DEFAULT_SOCKET.into()),
            guests_dir: None,
            csv: None,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    poll: Option<f64>,
    burst: Option<u8>,
    timeout: Option<f64>,
    metrics_listen: Option<String>,
    metrics_verbose: Option<bool>,
    status_socket: Option<String>,
    guests_dir: Option<String>,
    correct: Option<toml::Value>,
    correct_threshold: Option<f64>,
    correct_after: Option<u32>,
    #[serde(default)]
    guest: Vec<GuestEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GuestEntry {
    name: String,
    channel: String,
}

impl Settings {
    /// Reads `path` (TOML) over the defaults.
    ///
    /// # Errors
    /// The file, the line and what is wrong.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn parse(text: &str) -> Result<Self, String> {
        let f: File = toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1));
            format!(
                "{}{}",
                line.map_or(String::new(), |l| format!("line {l}: ")),
                e.message()
            )
        })?;
        let mut s = Self::default();
        if let Some(p) = f.poll {
            s.set_poll(p)?;
        }
        if let Some(b) = f.burst {
            s.set_burst(b)?;
        }
        if let Some(t) = f.timeout {
            if !(0.001..=60.0).contains(&t) {
                return Err(format!(
                    "timeout: expected seconds in 0.001..=60; found {t}"
                ));
            }
            s.plan.timeout = Duration::from_secs_f64(t);
        }
        if let Some(a) = f.metrics_listen {
            s.set_metrics(&a)?;
        }
        if let Some(v) = f.metrics_verbose {
            s.metrics_verbose = v;
        }
        if let Some(p) = f.status_socket {
            s.status_socket = (!p.is_empty()).then(|| p.into());
        }
        if let Some(p) = f.guests_dir {
            s.guests_dir = (!p.is_empty()).then(|| p.into());
        }
        if let Some(c) = f.correct {
            s.plan.correct = match &c {
                toml::Value::Boolean(false) => Correct::Off,
                toml::Value::String(v) if v == "dry-run" => Correct::DryRun,
                toml::Value::String(v) if v == "reacquire" => Correct::Reacquire,
                other => {
                    return Err(format!(
                        "correct: expected false (the default), \"dry-run\" (log what would be asked) or \"reacquire\" (ask the guest's keel to re-acquire); found {other:?}"
                    ));
                }
            };
        }
        if let Some(t) = f.correct_threshold {
            if !(0.000_001..=1000.0).contains(&t) {
                return Err(format!(
                    "correct_threshold: expected seconds in 0.000001..=1000; found {t}"
                ));
            }
            s.plan.correct_threshold_ns =
                i64::try_from(Duration::from_secs_f64(t).as_nanos()).unwrap_or(i64::MAX);
        }
        if let Some(k) = f.correct_after {
            if !(1..=100).contains(&k) {
                return Err(format!(
                    "correct_after: expected polls in 1..=100; found {k}"
                ));
            }
            s.plan.correct_after = k;
        }
        for g in f.guest {
            s.add_guest(&g.name, &g.channel)?;
        }
        Ok(s)
    }

    /// `poll` / `--poll`, s.
    ///
    /// # Errors
    /// Out of range.
    pub fn set_poll(&mut self, p: f64) -> Result<(), String> {
        if !(0.1..=3600.0).contains(&p) {
            return Err(format!("poll: expected seconds in 0.1..=3600; found {p}"));
        }
        self.plan.poll = Duration::from_secs_f64(p);
        Ok(())
    }

    /// `burst` / `--burst`.
    ///
    /// # Errors
    /// Out of range.
    pub fn set_burst(&mut self, b: u8) -> Result<(), String> {
        if !(1..=64).contains(&b) {
            return Err(format!(
                "burst: expected probes per poll in 1..=64; found {b}"
            ));
        }
        self.plan.burst = b;
        Ok(())
    }

    /// `metrics_listen` / `--metrics-listen`.
    ///
    /// # Errors
    /// Not `ADDRESS:PORT`.
    pub fn set_metrics(&mut self, a: &str) -> Result<(), String> {
        self.metrics_listen = if a.is_empty() {
            None
        } else {
            Some(a.parse().map_err(|_| {
                format!("metrics_listen: \"{a}\" is not ADDRESS:PORT such as \"127.0.0.1:9642\"")
            })?)
        };
        Ok(())
    }

    /// A `[[guest]]` / `--guest NAME=CHANNEL`.
    ///
    /// # Errors
    /// A bad name or channel, or a name listed twice.
    pub fn add_guest(&mut self, name: &str, channel: &str) -> Result<(), String> {
        if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
            return Err(format!(
                "guest {name:?}: a name is 1 to 64 printable characters (it is the vm label)"
            ));
        }
        if self.guests.iter().any(|(n, _)| n == name) {
            return Err(format!("guest {name:?} is listed twice"));
        }
        let c = HostChannel::parse(channel).map_err(|e| format!("guest {name:?}: {e}"))?;
        self.guests.push((name.into(), c));
        Ok(())
    }
}

/// Runs the monitor until a stop signal or `duration` passes.
///
/// # Errors
/// Setup failures, saying what and how to fix it.
pub fn run(settings: &Settings, duration: Option<Duration>) -> Result<(), String> {
    if settings.guests.is_empty() && settings.guests_dir.is_none() {
        return Err(format!(
            "no guests to watch: list them in {DEFAULT_CONFIG} ([[guest]] name = \"vm1\", channel = \"unix:/PATH\"), with --guest NAME=CHANNEL, or name a directory of their sockets (guests_dir, --guests-dir)"
        ));
    }
    if let Some(d) = &settings.guests_dir {
        if !d.is_dir() {
            return Err(format!(
                "{}: guests_dir is not a directory (create it, or point guests_dir at where the VMs' sockets are)",
                d.display()
            ));
        }
    }
    let signals = Signals::new().map_err(|e| format!("cannot set up signal handling: {e}"))?;
    let mut metrics = match settings.metrics_listen {
        Some(a) => Some(Metrics::bind(a)?),
        None => None,
    };
    let status = match &settings.status_socket {
        Some(p) => Some((
            crate::status::bind_socket(p, "status_socket", Some("--status-socket"))?.0,
            p.clone(),
        )),
        None => None,
    };
    let mut csv = match &settings.csv {
        Some(p) => {
            let mut f = std::fs::File::create(p)
                .map(std::io::BufWriter::new)
                .map_err(|e| format!("{}: cannot create the CSV trace: {e}", p.display()))?;
            writeln!(f, "{}", watch::CSV_HEADER).map_err(|e| format!("{}: {e}", p.display()))?;
            Some((f, p.clone()))
        }
        None => None,
    };
    let start = Instant::now();
    // The first polls spread over the first poll interval.
    let n = u32::try_from(settings.guests.len()).unwrap_or(u32::MAX);
    let mut guests: Vec<Watched> = settings
        .guests
        .iter()
        .enumerate()
        .map(|(i, (name, c))| {
            let k = u32::try_from(i).unwrap_or(0);
            let first = start
                + settings
                    .plan
                    .poll
                    .mul_f64(f64::from(k) / f64::from(n) / 4.0);
            Watched::new(name.clone(), c.clone(), &settings.plan, first)
        })
        .collect();
    info!(
        "keel monitor {}: {} guests, a burst of {} every {} s{}",
        env!("CARGO_PKG_VERSION"),
        guests.len(),
        settings.plan.burst,
        settings.plan.poll.as_secs_f64(),
        metrics
            .as_ref()
            .and_then(Metrics::local_addr)
            .map_or(String::new(), |a| format!(
                ", metrics on http://{a}/metrics"
            ))
    );
    let mut fds = Vec::with_capacity(8);
    // The guests' connections are watched by epoll: a wake-up costs what
    // it has to do, not a look at every guest.
    let new_epoll = || Epoll::new().map_err(|e| format!("cannot create an epoll instance: {e}"));
    let mut epoll = new_epoll()?;
    let mut registered: Vec<Option<(i32, u64)>> = vec![None; guests.len()];
    let mut ready = vec![false; guests.len()];
    let mut next_scan = start;
    loop {
        if let Some(dir) = settings
            .guests_dir
            .as_deref()
            .filter(|_| Instant::now() >= next_scan)
        {
            next_scan = Instant::now() + Duration::from_secs(1);
            if rescan(dir, settings, &mut guests) {
                // Indices moved: every connection is registered again.
                epoll = new_epoll()?;
                registered = vec![None; guests.len()];
                ready = vec![false; guests.len()];
            }
        }
        for (i, g) in guests.iter().enumerate() {
            let now = g.fd();
            if now != registered[i] {
                // A closed fd left the epoll set by itself.
                if let Some((fd, _)) = now {
                    if let Err(e) = epoll.add(fd, i) {
                        warn!("guest {}: cannot watch its connection: {e}", g.name);
                    }
                }
                registered[i] = now;
            }
        }
        fds.clear();
        fds.push(sys::pollin(signals.fd()));
        fds.push(sys::pollin(epoll.fd()));
        if let Some(m) = &metrics {
            fds.extend(m.fds().into_iter().map(sys::pollin));
        }
        if let Some((l, _)) = &status {
            fds.push(sys::pollin(l.as_raw_fd()));
        }
        let now = Instant::now();
        let wake = guests.iter().map(Watched::wake_at).min().unwrap_or(now);
        let mut timeout = wake.saturating_duration_since(now);
        if let Some(d) = duration {
            timeout = timeout.min((start + d).saturating_duration_since(now));
        }
        // Rounded up: a deadline is never polled for 0 ms in a spin.
        let ms = i32::try_from(timeout.as_micros().div_ceil(1000).min(1000)).unwrap_or(1000);
        if let Err(e) = sys::poll(&mut fds, ms) {
            warn!("poll failed: {e}");
        }
        crate::log::flush(Duration::ZERO);
        if let Some(Signal::Stop(n)) = signals.next() {
            info!("signal {n}: stopping");
            break;
        }
        if duration.is_some_and(|d| start.elapsed() >= d) {
            break;
        }
        epoll.ready(&mut ready);
        let now = Instant::now();
        for (g, r) in guests.iter_mut().zip(ready.iter_mut()) {
            if std::mem::take(r) || now >= g.wake_at() {
                g.step(now, &settings.plan);
            }
        }
        if let Some((f, p)) = &mut csv {
            let mut wrote = false;
            for g in &mut guests {
                if let Some(row) = g.take_record() {
                    wrote = true;
                    if let Err(e) = writeln!(f, "{row}") {
                        warn!("{}: the CSV trace stops here: {e}", p.display());
                        csv = None;
                        break;
                    }
                }
            }
            if wrote {
                if let Some((f, _)) = &mut csv {
                    let _ = f.flush();
                }
            }
        }
        if let Some(m) = &mut metrics {
            let g = &guests;
            let verbose = settings.metrics_verbose;
            m.serve(&|| render::prometheus(g, verbose));
        }
        if let Some((l, _)) = &status {
            answer_status(l, &guests);
        }
    }
    if let Some((_, p)) = &status {
        let _ = std::fs::remove_file(p);
    }
    Ok(())
}

/// Adds the guests whose sockets appeared in `dir` and removes those whose
/// sockets went away (only guests it added). Returns whether the list
/// changed.
fn rescan(dir: &Path, settings: &Settings, guests: &mut Vec<Watched>) -> bool {
    use std::os::unix::fs::FileTypeExt;
    let mut found: Vec<(String, PathBuf)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            let is_socket = e.file_type().is_ok_and(|t| t.is_socket());
            let name = p.file_stem().and_then(|n| n.to_str()).map(str::to_string);
            if let (true, Some(name)) = (is_socket, name) {
                found.push((name, p));
            }
        }
    }
    let before = guests.len();
    guests.retain(|g| {
        let from_dir = matches!(&g.channel, HostChannel::Unix(p) if p.parent() == Some(dir));
        let keep = !from_dir
            || found
                .iter()
                .any(|(_, p)| matches!(&g.channel, HostChannel::Unix(q) if q == p));
        if !keep {
            info!("guest {}: its socket is gone; no longer watched", g.name);
        }
        keep
    });
    let removed = guests.len() != before;
    let mut added = false;
    for (name, p) in found {
        let known = guests
            .iter()
            .any(|g| g.name == name || matches!(&g.channel, HostChannel::Unix(q) if *q == p));
        if !known && guests.len() < MAX_GUESTS {
            info!("guest {name}: found {}", p.display());
            guests.push(Watched::new(
                name,
                HostChannel::Unix(p),
                &settings.plan,
                Instant::now(),
            ));
            added = true;
        }
    }
    removed || added
}

/// The most guests one monitor watches.
pub const MAX_GUESTS: usize = 4096;

/// An epoll set of the guests' connections, each registered with its
/// guest's index.
struct Epoll(std::os::fd::OwnedFd);

impl Epoll {
    fn new() -> std::io::Result<Self> {
        // SAFETY: epoll_create1 with a constant flag; the fd is owned at once.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a fresh fd nobody else owns.
        Ok(Self(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) }))
    }

    fn fd(&self) -> i32 {
        self.0.as_raw_fd()
    }

    fn add(&self, fd: i32, index: usize) -> std::io::Result<()> {
        let mut ev = libc::epoll_event {
            events: u32::try_from(libc::EPOLLIN).unwrap_or(1),
            u64: index as u64,
        };
        // SAFETY: a valid event for our epoll fd.
        if unsafe { libc::epoll_ctl(self.fd(), libc::EPOLL_CTL_ADD, fd, &raw mut ev) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Marks the guests whose connections have input (without waiting).
    fn ready(&self, ready: &mut [bool]) {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 256];
        loop {
            // SAFETY: a writable array of its own length.
            let n = unsafe { libc::epoll_wait(self.fd(), events.as_mut_ptr(), 256, 0) };
            let Ok(n) = usize::try_from(n) else { return };
            for e in &events[..n] {
                if let Some(r) = usize::try_from(e.u64).ok().and_then(|i| ready.get_mut(i)) {
                    *r = true;
                }
            }
            if n < events.len() {
                return;
            }
        }
    }
}

/// Writes the status to every client waiting, each given 100 ms.
fn answer_status(l: &UnixListener, guests: &[Watched]) {
    for _ in 0..8 {
        let Ok((mut c, _)) = l.accept() else { return };
        let _ = c.set_nonblocking(false);
        let _ = c.set_write_timeout(Some(Duration::from_millis(100)));
        let _ = c.write_all(render::wire(guests).as_bytes());
    }
}

/// `keel monitor status`: the table, or JSON.
///
/// # Errors
/// No monitor at `path`, or not keel's.
pub fn status(path: &Path, json: bool) -> Result<String, String> {
    let mut c = UnixStream::connect(path).map_err(|e| {
        format!(
            "{}: cannot reach keel monitor: {e} (is `keel monitor` running? pass --socket PATH if it uses another status_socket)",
            path.display()
        )
    })?;
    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
    let mut text = String::new();
    c.read_to_string(&mut text)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let rows = render::unwire(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(if json {
        render::json(&rows)
    } else {
        render::table(&rows)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_from_a_file_and_their_errors() {
        let s = Settings::parse(
            "poll = 2\nburst = 4\nmetrics_listen = \"127.0.0.1:9642\"\ncorrect = \"dry-run\"\n[[guest]]\nname = \"vm1\"\nchannel = \"unix:/run/vm1.sock\"\n[[guest]]\nname = \"fc\"\nchannel = \"hybrid:/run/fc.vsock:1123\"\n[[guest]]\nname = \"kvm\"\nchannel = \"vsock:5\"\n",
        )
        .unwrap();
        assert_eq!(s.plan.poll, Duration::from_secs(2));
        assert_eq!(s.plan.burst, 4);
        assert_eq!(s.plan.correct, Correct::DryRun);
        assert_eq!(
            s.guests,
            vec![
                ("vm1".into(), HostChannel::Unix("/run/vm1.sock".into())),
                (
                    "fc".into(),
                    HostChannel::Hybrid("/run/fc.vsock".into(), 1123)
                ),
                ("kvm".into(), HostChannel::Vsock(5, 1123)),
            ]
        );
        for (text, want) in [
            ("pol = 2\n", "line 1: unknown field `pol`"),
            (
                "burst = 0\n",
                "burst: expected probes per poll in 1..=64; found 0",
            ),
            (
                "[[guest]]\nname = \"a\"\nchannel = \"tcp:1\"\n",
                "guest \"a\": \"tcp:1\" is not a guest channel",
            ),
            (
                "[[guest]]\nname = \"a\"\nchannel = \"unix:/a\"\n[[guest]]\nname = \"a\"\nchannel = \"unix:/b\"\n",
                "guest \"a\" is listed twice",
            ),
            ("correct = true\n", "correct: expected false (the default)"),
        ] {
            let e = Settings::parse(text).unwrap_err();
            assert!(e.starts_with(want), "{text:?}: {e}");
        }
    }
}

#[cfg(test)]
mod size {
    #[test]
    fn a_guest_costs_at_most_two_kib_of_state() {
        // Its name and the corrections list are on the heap: a few bytes more.
        let n = std::mem::size_of::<super::Watched>();
        assert!(n <= 2048 - 128, "{n} B");
    }
}

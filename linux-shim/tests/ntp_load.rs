//! keel's NTP server under a flood on loopback, bounded in count and time,
//! never touching this machine's clock (`keel sync --clock sim`, and
//! chronyd only with `-x`).
//!
//! - `flood_does_not_delay_updates` (about 8 s, run by `cargo test`): a
//!   3 s flood of 20000 requests/s from 64 source addresses at keel's
//!   rate-limited server; keel's updates stay 1 s apart (wall time of each
//!   update's log line), the limiter answers well under all of them, and
//!   the answers are valid.
//! - `loss_free_rate_beside_chronyd` (ignored: about 35 s; `cargo test
//!   -p keel-shim --test ntp_load -- --ignored --nocapture`): steps of a
//!   fixed rate, 1 s each, from 64 source addresses, against keel's server
//!   (no rate limit) and, when a chronyd is found (`$KEEL_CHRONYD`, else
//!   `chronyd` on `$PATH` or in /usr/sbin), against `chronyd -x` with
//!   `local stratum 1` in the same run; prints each step's loss, each
//!   server's loss-free rate, their ratio, and keel's update intervals
//!   during its flood (`KEEL_LOAD_BIN` runs another build of keel, e.g.
//!   target/release/keel: the test profile's keel-shim is unoptimised).
//!   chronyd runs as `nobody` when this runs as root,
//!   with `port` high, `cmdport 0` and its pid file in a private directory.
//!
//! The generator is one thread: it sends on 64 non-blocking sockets bound
//! to 127.0.2.1–64 round robin, paced to the step's rate, and after every
//! 32 sends reads what `poll(2)` says is waiting. A reply counts when it
//! is a 48-byte server-mode packet whose origin carries the step's tag.
//! At most 5 M requests in all; every child is killed at the end.

#![allow(
    clippy::missing_panics_doc,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a test harness reporting rates"
)]

mod common;

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{keel, tmpdir};

/// Source addresses of the flood.
const SOURCES: u8 = 64;
/// The most requests one run may send.
const MAX_REQUESTS: u64 = 5_000_000;

/// A free UDP port on loopback (bound, then released).
fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `keel sync --clock sim --speed 1` serving NTP on `port`, with each
/// update's log line time-stamped (wall, monotonic) as it arrives.
struct Keel {
    child: Child,
    updates: Arc<Mutex<Vec<Instant>>>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Keel {
    fn start(port: u16, ratelimit: bool, secs: u32) -> Self {
        let dir = tmpdir(&format!("load-{port}"));
        let conf = dir.join("keel.toml");
        std::fs::write(
            &conf,
            format!(
                "ntp_serve = [\"127.0.0.1:{port}\"]\nntp_ratelimit = {ratelimit}\nsummary_updates = 0\n"
            ),
        )
        .unwrap();
        let mut cmd = keel();
        if let Some(bin) = std::env::var_os("KEEL_LOAD_BIN") {
            // Another build of keel (a release build measures throughput).
            let mut c = std::process::Command::new(bin);
            c.env("KEEL_FORBID_CLOCK_WRITES", "1");
            c.env_remove("JOURNAL_STREAM");
            cmd = c;
        }
        let mut child = cmd
            .args(["sync", "--clock", "sim", "--speed", "1", "--duration"])
            .arg(format!("{secs}s"))
            .arg("--config")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let updates = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::new(Mutex::new(Vec::new()));
        let err = child.stderr.take().unwrap();
        let (u, l) = (updates.clone(), log.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines() {
                let Ok(line) = line else { break };
                if line.starts_with("keel: info: offset ") {
                    u.lock().unwrap().push(Instant::now());
                }
                l.lock().unwrap().push(line);
            }
        });
        Self {
            child,
            updates,
            log,
        }
    }

    /// Waits until keel says it serves as synchronised.
    fn wait_synchronised(&self, within: Duration) {
        let t = Instant::now();
        while t.elapsed() < within {
            if self
                .log
                .lock()
                .unwrap()
                .iter()
                .any(|l| l.contains("NTP server: serving as synchronised"))
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "keel did not serve as synchronised: {:?}",
            self.log.lock().unwrap()
        );
    }

    /// Waits until keel serves as synchronised and its start (updates a
    /// quarter interval apart) is over: two updates 1 s apart.
    fn wait_steady(&self, within: Duration) {
        let t = Instant::now();
        self.wait_synchronised(within);
        while t.elapsed() < within {
            let steady = self
                .updates
                .lock()
                .unwrap()
                .windows(2)
                .last()
                .is_some_and(|w| w[1] - w[0] > Duration::from_millis(900));
            if steady {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("keel's updates did not settle to 1 s");
    }

    /// Intervals between updates whose log lines came between `from` and
    /// `to`, s.
    fn intervals(&self, from: Instant, to: Instant) -> Vec<f64> {
        let u = self.updates.lock().unwrap();
        u.windows(2)
            .filter(|w| w[1] >= from && w[1] <= to)
            .map(|w| (w[1] - w[0]).as_secs_f64())
            .collect()
    }
}

impl Drop for Keel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A process's CPU time so far, ns (`/proc/PID/schedstat`).
fn cpu_ns(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The flood's sockets, one per source address.
struct Generator {
    socks: Vec<UdpSocket>,
    fds: Vec<libc::pollfd>,
    sent_total: u64,
}

/// What one step did.
#[derive(Clone, Copy, Debug)]
struct Step {
    rate: u64,
    sent: u64,
    replies: u64,
    kods: u64,
    secs: f64,
    /// The server's CPU time during the step, ns.
    cpu_ns: u64,
}

impl Step {
    fn loss(&self) -> f64 {
        1.0 - (self.replies + self.kods) as f64 / self.sent.max(1) as f64
    }
}

impl Generator {
    fn new() -> Self {
        let socks: Vec<UdpSocket> = (1..=SOURCES)
            .map(|i| {
                let s =
                    UdpSocket::bind(SocketAddr::from((Ipv4Addr::new(127, 0, 2, i), 0))).unwrap();
                s.set_nonblocking(true).unwrap();
                // Room for the replies between two reads (the kernel caps
                // it at net.core.rmem_max): losses are the server's.
                let size: libc::c_int = 1 << 20;
                // SAFETY: `size` is a live c_int of the length given.
                unsafe {
                    libc::setsockopt(
                        s.as_raw_fd(),
                        libc::SOL_SOCKET,
                        libc::SO_RCVBUF,
                        (&raw const size).cast(),
                        libc::socklen_t::try_from(size_of::<libc::c_int>()).unwrap(),
                    );
                }
                s
            })
            .collect();
        let fds = socks
            .iter()
            .map(|s| libc::pollfd {
                fd: s.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        Self {
            socks,
            fds,
            sent_total: 0,
        }
    }

    /// Reads every reply waiting; counts those tagged `tag`.
    fn drain(&mut self, tag: u32, step: &mut Step) {
        let n = libc::nfds_t::try_from(self.fds.len()).unwrap();
        // SAFETY: `fds` is a live slice of pollfd structs.
        let rc = unsafe { libc::poll(self.fds.as_mut_ptr(), n, 0) };
        if rc <= 0 {
            return;
        }
        let mut buf = [0u8; 128];
        for (s, p) in self.socks.iter().zip(&self.fds) {
            if p.revents & libc::POLLIN == 0 {
                continue;
            }
            while let Ok(len) = s.recv(&mut buf) {
                let tagged = u32::from_be_bytes(buf[24..28].try_into().unwrap()) == tag;
                if len == 48 && buf[0] & 7 == 4 && tagged {
                    if buf[1] == 0 {
                        step.kods += 1;
                    } else {
                        step.replies += 1;
                    }
                }
            }
        }
    }

    /// `rate` requests a second to `to` for `secs`, then 200 ms for the
    /// last replies.
    fn step(&mut self, to: SocketAddr, pid: u32, rate: u64, secs: f64, tag: u32) -> Step {
        let cpu0 = cpu_ns(pid);
        let mut st = Step {
            rate,
            sent: 0,
            replies: 0,
            kods: 0,
            secs,
            cpu_ns: 0,
        };
        let mut req = [0u8; 48];
        req[0] = 0x23; // v4, client
        req[2] = 6;
        req[40..44].copy_from_slice(&tag.to_be_bytes());
        let start = Instant::now();
        let n = self.socks.len();
        loop {
            let el = start.elapsed().as_secs_f64();
            if el >= secs || self.sent_total >= MAX_REQUESTS {
                break;
            }
            let due = (rate as f64 * el) as u64;
            while st.sent < due && self.sent_total < MAX_REQUESTS {
                req[44..48].copy_from_slice(&(st.sent as u32).to_be_bytes());
                let s = &self.socks[(st.sent % n as u64) as usize];
                let _ = s.send_to(&req, to);
                st.sent += 1;
                self.sent_total += 1;
                if st.sent % 32 == 0 {
                    self.drain(tag, &mut st);
                }
            }
            self.drain(tag, &mut st);
        }
        st.secs = start.elapsed().as_secs_f64();
        let end = Instant::now();
        while end.elapsed() < Duration::from_millis(200) {
            self.drain(tag, &mut st);
            std::thread::sleep(Duration::from_millis(1));
        }
        st.cpu_ns = cpu_ns(pid).saturating_sub(cpu0);
        st
    }
}

#[test]
fn flood_does_not_delay_updates() {
    let port = free_port();
    let keel = Keel::start(port, true, 8);
    keel.wait_steady(Duration::from_secs(5));
    let to = SocketAddr::from(([127, 0, 0, 1], port));
    let mut g = Generator::new();
    let from = Instant::now();
    let st = g.step(to, keel.child.id(), 20_000, 3.0, 0x4B45_454C);
    let to_t = Instant::now();
    let iv = keel.intervals(from, to_t);
    println!(
        "flood: {} requests in {:.2} s ({:.0}/s) from {SOURCES} addresses; {} replies, {} RATE kisses; update intervals during it: {:?}",
        st.sent,
        st.secs,
        st.sent as f64 / st.secs,
        st.replies,
        st.kods,
        iv
    );
    assert!(st.sent > 40_000, "{st:?}");
    // 64 clients, each 312 requests/s against one response per 8 s: the
    // leak (one in four) and the kisses (one in four of the rest).
    assert!(st.replies > 64 * 8, "{st:?}");
    assert!((st.replies as f64) < 0.4 * st.sent as f64, "{st:?}");
    assert!(st.kods > 0, "{st:?}");
    // Updates every second through the flood.
    assert!(iv.len() >= 2, "{iv:?}");
    for i in &iv {
        assert!(
            (0.7..1.3).contains(i),
            "update interval {i} s during the flood: {iv:?}"
        );
    }
}

/// A chronyd to compare with: `$KEEL_CHRONYD`, `chronyd` on `$PATH`, or
/// /usr/sbin/chronyd.
fn find_chronyd() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("KEEL_CHRONYD") {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("chronyd"))
        .chain([PathBuf::from("/usr/sbin/chronyd")])
        .find(|p| p.is_file())
}

/// `chronyd -x -d` serving its (uncontrolled) clock as `local stratum 1`
/// on `port`, as `nobody` when this runs as root.
struct Chronyd(Child, PathBuf);

impl Chronyd {
    fn start(bin: &PathBuf, port: u16) -> Self {
        let dir = tmpdir(&format!("chronyd-{port}"));
        let mut perms = std::fs::metadata(&dir).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o777);
        std::fs::set_permissions(&dir, perms).unwrap();
        let conf = dir.join("chrony.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\ncmdport 0\nlocal stratum 1\nallow 127.0.0.0/8\npidfile {}\n",
                dir.join("chronyd.pid").display()
            ),
        )
        .unwrap();
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let mut cmd = if root {
            // setpriv execs chronyd itself: the child is chronyd.
            let mut c = std::process::Command::new("setpriv");
            c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"])
                .arg(bin)
                .args(["-u", "nobody"]);
            c
        } else {
            std::process::Command::new(bin)
        };
        let child = cmd
            .args(["-x", "-d", "-U", "-f"])
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Self(child, dir.join("chronyd.pid"))
    }

    /// chronyd's own pid (from its pid file).
    fn pid(&self) -> u32 {
        std::fs::read_to_string(&self.1)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or_else(|| self.0.id())
    }
}

impl Drop for Chronyd {
    fn drop(&mut self) {
        let pid = self.pid();
        if pid != self.0.id() {
            // Something stood between: stop chronyd itself too.
            if let Ok(p) = libc::pid_t::try_from(pid) {
                // SAFETY: plain kill(2) of the pid chronyd wrote.
                unsafe { libc::kill(p, libc::SIGTERM) };
            }
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until `to` answers an NTP request.
fn answers(to: SocketAddr, within: Duration) -> bool {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut req = [0u8; 48];
    req[0] = 0x23;
    let t = Instant::now();
    let mut buf = [0u8; 64];
    while t.elapsed() < within {
        let _ = s.send_to(&req, to);
        if s.recv(&mut buf).is_ok() {
            return true;
        }
    }
    false
}

/// The highest rate up to which no step (in rising order) lost a reply.
fn loss_free(steps: &[Step]) -> u64 {
    steps
        .iter()
        .take_while(|s| s.replies + s.kods == s.sent)
        .map(|s| s.rate)
        .last()
        .unwrap_or(0)
}

#[test]
#[ignore = "about 40 s of flooding; run with --ignored --nocapture"]
fn loss_free_rate_beside_chronyd() {
    const RATES: [u64; 12] = [
        10_000, 20_000, 40_000, 60_000, 70_000, 80_000, 90_000, 100_000, 115_000, 130_000, 160_000,
        200_000,
    ];
    let kport = free_port();
    let keel = Keel::start(kport, false, 60);
    keel.wait_steady(Duration::from_secs(5));
    let kaddr = SocketAddr::from(([127, 0, 0, 1], kport));
    let chronyd = find_chronyd().map(|bin| {
        let port = free_port();
        let c = Chronyd::start(&bin, port);
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        assert!(
            answers(addr, Duration::from_secs(5)),
            "{} did not answer on {addr}",
            bin.display()
        );
        (c, addr, bin)
    });
    if chronyd.is_none() {
        println!(
            "chronyd not found (set KEEL_CHRONYD, or extract Debian's package: apt-get download chrony && dpkg -x chrony_*.deb DIR, KEEL_CHRONYD=DIR/usr/sbin/chronyd); keel alone"
        );
    }
    let mut g = Generator::new();
    let (mut ks, mut cs) = (Vec::new(), Vec::new());
    let mut flood = Vec::new();
    for (i, &rate) in RATES.iter().enumerate() {
        // Alternate which server goes first at each rate.
        let tag = 0x1000_0000 + i as u32 * 2;
        let t0 = Instant::now();
        ks.push(g.step(kaddr, keel.child.id(), rate, 1.0, tag));
        flood.extend(keel.intervals(t0, Instant::now()));
        if let Some((c, addr, _)) = &chronyd {
            cs.push(g.step(*addr, c.pid(), rate, 1.0, tag + 1));
        }
    }
    println!(
        "rate/s  | keel sent  replies    loss  CPU/request | chronyd sent  replies    loss  CPU/request"
    );
    let row = |s: &Step| {
        format!(
            "{:>9} {:>8} {:>6.3} % {:>6.2} µs",
            s.sent,
            s.replies,
            s.loss() * 100.0,
            s.cpu_ns as f64 / 1e3 / s.sent.max(1) as f64
        )
    };
    for (k, st) in ks.iter().enumerate() {
        println!(
            "{:>7} | {} | {}",
            st.rate,
            row(st),
            cs.get(k).map_or("-".into(), row)
        );
    }
    let kf = loss_free(&ks);
    println!("keel: loss-free to {kf}/s");
    if let Some((_, _, bin)) = &chronyd {
        let cf = loss_free(&cs);
        println!(
            "chronyd ({}): loss-free to {cf}/s; keel / chronyd = {:.2}",
            bin.display(),
            kf as f64 / cf.max(1) as f64
        );
    }
    let max = flood.iter().copied().fold(0.0f64, f64::max);
    println!(
        "keel's update intervals during its flood steps: {} intervals, max {max:.3} s",
        flood.len()
    );
    assert!(kf > 0, "{ks:?}");
    for i in &flood {
        assert!((0.7..1.3).contains(i), "update interval {i} s: {flood:?}");
    }
}

//! `keel monitor` against synthetic guests: threads in this test that speak
//! KTP on Unix sockets, each with a programmed clock (this machine's
//! `CLOCK_REALTIME` plus an offset and a rate, with scripted jumps) and
//! programmed one-way delays, so the truth is exact.

mod common;

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::{free_loopback_addr, get_metrics, keel, tmpdir};
use keel_core::wire::ktp::{Body, Frame, GuestStatus, MAX_LEN, Packet, ProbeReply, set_t3};

fn realtime_ns() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos(),
    )
    .unwrap()
}

/// A synthetic guest's clock and channel.
#[derive(Clone)]
struct Script {
    /// Guest − host, ns (changed under the guest's feet: a jump).
    offset_ns: Arc<AtomicI64>,
    /// Sleeps before t2 (host → guest) and after t3 (guest → host).
    up: Duration,
    down: Duration,
    /// Stops answering while set (a stopped guest daemon).
    silent: Arc<AtomicBool>,
    /// Answers garbage.
    garbage: bool,
}

impl Script {
    fn new(offset_ns: i64, up_us: u64, down_us: u64) -> Self {
        Self {
            offset_ns: Arc::new(AtomicI64::new(offset_ns)),
            up: Duration::from_micros(up_us),
            down: Duration::from_micros(down_us),
            silent: Arc::new(AtomicBool::new(false)),
            garbage: false,
        }
    }

    fn guest_now(&self) -> u64 {
        u64::try_from(realtime_ns() + self.offset_ns.load(Ordering::Relaxed)).unwrap()
    }
}

/// Serves one guest on `path` until the test ends (a thread per guest).
fn serve(path: &Path, script: Script) {
    let l = UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(mut c) = c else { return };
            let script = script.clone();
            std::thread::spawn(move || answer(&mut c, &script));
        }
    });
}

fn answer(c: &mut UnixStream, s: &Script) {
    let mut buf = [0u8; 2 * MAX_LEN];
    let mut have = 0;
    loop {
        let Ok(n) = c.read(&mut buf[have..]) else {
            return;
        };
        if n == 0 {
            return;
        }
        // The request's way in: t2 is stamped this much after t1.
        std::thread::sleep(s.up);
        let t2 = s.guest_now();
        have += n;
        if s.garbage {
            let _ = c.write_all(b"HTTP/1.0 200 OK\r\n\r\nhello");
            return;
        }
        while have >= 16 {
            let len = Packet::new_unchecked(&buf[..have]).frame_len().unwrap();
            if have < len {
                break;
            }
            let f = Frame::parse(&buf[..len]).unwrap();
            buf.copy_within(len..have, 0);
            have -= len;
            if s.silent.load(Ordering::Relaxed) {
                continue;
            }
            let body = match f.body {
                Body::ProbeRequest { t1 } => Body::ProbeReply(ProbeReply {
                    t1,
                    t2,
                    t3: 0,
                    epoch: 7,
                    generation: 1,
                    raw_t2: 0,
                }),
                Body::StatusRequest => Body::StatusReply(GuestStatus {
                    state: 3,
                    source: 1,
                    served: 1,
                    bound_ns: Some(500),
                    epoch: 7,
                    generation: 1,
                    version: GuestStatus::version_field("synthetic"),
                    ..GuestStatus::default()
                }),
                _ => continue,
            };
            let mut out = [0u8; MAX_LEN];
            let n = Frame { seq: f.seq, body }.emit(&mut out).unwrap();
            set_t3(&mut out, s.guest_now());
            std::thread::sleep(s.down);
            if c.write_all(&out[..n]).is_err() {
                return;
            }
        }
    }
}

struct Monitor {
    child: std::process::Child,
    metrics: String,
    socket: PathBuf,
}

impl Monitor {
    fn start(dir: &Path, guests: &[(&str, PathBuf)], extra: &[&str]) -> Self {
        let metrics = free_loopback_addr();
        let socket = dir.join("monitor.sock");
        let mut args: Vec<String> = vec![
            "monitor".into(),
            "--poll".into(),
            "0.5".into(),
            "--burst".into(),
            "4".into(),
            "--metrics-listen".into(),
            metrics.clone(),
            "--status-socket".into(),
            socket.to_str().unwrap().into(),
            "--duration".into(),
            "120s".into(),
            "--verbose-metrics".into(),
        ];
        for (name, p) in guests {
            args.push("--guest".into());
            args.push(format!("{name}=unix:{}", p.display()));
        }
        args.extend(extra.iter().map(|s| (*s).to_string()));
        let child = keel()
            .args(&args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        Self {
            child,
            metrics,
            socket,
        }
    }

    /// The value of `metric{vm="name"}`, waiting up to 20 s for `ok`.
    fn wait_for(&self, what: &str, ok: impl Fn(Option<f64>) -> bool) -> Option<f64> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = try_metrics(&self.metrics).unwrap_or_default();
            let v = value(&text, what);
            if ok(v) {
                return v;
            }
            assert!(Instant::now() < deadline, "{what}: {v:?} in\n{text}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stop(mut self) -> String {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(i32::try_from(self.child.id()).unwrap(), libc::SIGTERM) };
        let o = common::finish(
            std::mem::replace(
                &mut self.child,
                std::process::Command::new("true").spawn().unwrap(),
            ),
            Duration::from_secs(10),
        );
        assert!(o.status.success(), "{}", common::text(&o).1);
        common::text(&o).1
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The metrics, or `None` while the monitor is not listening yet.
fn try_metrics(addr: &str) -> Option<String> {
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    Some(resp)
}

/// `name{labels} value` → value.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn offsets_are_measured_within_their_bounds_under_asymmetric_delays() {
    let dir = tmpdir("accuracy");
    // Guest a: 123.456789 ms ahead, 3 ms in, 0.1 ms out (its midpoint is
    // 1.45 ms off, the bound must cover it); b: 5 s behind, symmetric.
    let a = Script::new(123_456_789, 3000, 100);
    let b = Script::new(-5_000_000_000, 200, 200);
    serve(&dir.join("a.sock"), a.clone());
    serve(&dir.join("b.sock"), b.clone());
    let csv = dir.join("polls.csv");
    let m = Monitor::start(
        &dir,
        &[("a", dir.join("a.sock")), ("b", dir.join("b.sock"))],
        &["--csv", csv.to_str().unwrap()],
    );
    for (vm, s) in [("a", &a), ("b", &b)] {
        m.wait_for(&format!("keel_vm_up{{vm=\"{vm}\"}}"), |v| v == Some(1.0));
        let off = m
            .wait_for(
                &format!("keel_vm_clock_offset_seconds{{vm=\"{vm}\"}}"),
                |v| v.is_some(),
            )
            .unwrap();
        let bound = m
            .wait_for(
                &format!("keel_vm_clock_offset_bound_seconds{{vm=\"{vm}\"}}"),
                |v| v.is_some(),
            )
            .unwrap();
        let truth = s.offset_ns.load(Ordering::Relaxed) as f64 / 1e9;
        assert!(
            (off - truth).abs() <= bound,
            "{vm}: measured {off} ± {bound}, truth {truth}"
        );
        // Not loose: the bound is about half the round trip.
        let half = (s.up + s.down).as_secs_f64() / 2.0;
        assert!(bound < half * 3.0 + 1e-3, "{vm}: bound {bound} s");
    }
    // The table and the JSON.
    let o = keel()
        .args(["monitor", "status", "--socket", m.socket.to_str().unwrap()])
        .output()
        .unwrap();
    let table = common::text(&o).0;
    assert!(o.status.success(), "{table}");
    assert!(table.starts_with("VM "), "{table}");
    assert!(table.contains("locked-stable"), "{table}");
    let o = keel()
        .args([
            "monitor",
            "status",
            "--json",
            "--socket",
            m.socket.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let json = common::text(&o).0;
    assert!(
        json.contains("\"vm\":\"a\",\"channel\":\"unix\",\"up\":true"),
        "{json}"
    );
    assert!(json.contains("\"version\":\"synthetic\""), "{json}");
    // The guest's own bound (500 ns) and a measurement that is not within
    // it: a guest whose reference is the host's clock and that says so
    // must agree, and these do not (they are 0.12 and 5 s off).
    let metrics = get_metrics(&m.metrics);
    assert_eq!(
        value(&metrics, "keel_vm_self_report_consistent{vm=\"b\"}"),
        Some(0.0)
    );
    // A few more polls for the trace.
    std::thread::sleep(Duration::from_secs(2));
    let err = m.stop();
    assert!(err.contains("guest a: answers (unix)"), "{err}");
    // Every poll in the trace, not only the scraped ones, within its bound.
    let trace = std::fs::read_to_string(&csv).unwrap();
    let mut lines = trace.lines();
    assert_eq!(
        lines.next(),
        Some(
            "at_ns,vm,up,offset_ns,bound_ns,delay_ns,rate_ppb,rate_bound_ppb,jump_ns,new_generation,epoch,generation"
        )
    );
    let mut polls = 0;
    for l in lines {
        let c: Vec<&str> = l.split(',').collect();
        let truth = if c[1] == "a" {
            123_456_789
        } else {
            -5_000_000_000i64
        };
        let (off, bound): (i64, i64) = (c[3].parse().unwrap(), c[4].parse().unwrap());
        assert_eq!(c[2], "1", "{l}");
        assert!((off - truth).abs() <= bound, "{l}");
        polls += 1;
    }
    assert!(polls >= 6, "{trace}");
}

#[test]
fn a_stopped_guest_is_down_not_wrong_and_a_jump_is_reported() {
    let dir = tmpdir("faults");
    let quiet = Script::new(1_000_000, 100, 100);
    let jumpy = Script::new(0, 100, 100);
    let mut junk = Script::new(0, 0, 0);
    junk.garbage = true;
    serve(&dir.join("quiet.sock"), quiet.clone());
    serve(&dir.join("jumpy.sock"), jumpy.clone());
    serve(&dir.join("junk.sock"), junk);
    let m = Monitor::start(
        &dir,
        &[
            ("quiet", dir.join("quiet.sock")),
            ("jumpy", dir.join("jumpy.sock")),
            ("junk", dir.join("junk.sock")),
            ("gone", dir.join("nobody.sock")),
        ],
        &[],
    );
    m.wait_for("keel_vm_up{vm=\"quiet\"}", |v| v == Some(1.0));
    m.wait_for("keel_vm_up{vm=\"jumpy\"}", |v| v == Some(1.0));
    // Let the jumpy guest's history gather a rate (a few polls).
    std::thread::sleep(Duration::from_secs(3));
    jumpy.offset_ns.fetch_add(10_000_000, Ordering::Relaxed);
    m.wait_for("keel_vm_clock_jumps_total{vm=\"jumpy\"}", |v| {
        v == Some(1.0)
    });
    // The quiet guest stops answering: down within two polls, and its
    // offset is no longer served (no false offset).
    quiet.silent.store(true, Ordering::Relaxed);
    let t = Instant::now();
    m.wait_for("keel_vm_up{vm=\"quiet\"}", |v| v == Some(0.0));
    let took = t.elapsed();
    let metrics = get_metrics(&m.metrics);
    assert_eq!(
        value(&metrics, "keel_vm_clock_offset_seconds{vm=\"quiet\"}"),
        None
    );
    assert!(
        value(
            &metrics,
            "keel_vm_probes_total{vm=\"quiet\",result=\"timeout\"}"
        )
        .unwrap()
            >= 2.0
    );
    // Garbage and a missing socket: down, counted as errors; nothing else lost.
    assert_eq!(value(&metrics, "keel_vm_up{vm=\"junk\"}"), Some(0.0));
    assert!(
        value(
            &metrics,
            "keel_vm_probes_total{vm=\"junk\",result=\"error\"}"
        )
        .unwrap()
            >= 1.0
    );
    assert!(
        value(
            &metrics,
            "keel_vm_probes_total{vm=\"gone\",result=\"error\"}"
        )
        .unwrap()
            >= 1.0
    );
    assert_eq!(value(&metrics, "keel_vm_up{vm=\"jumpy\"}"), Some(1.0));
    // It answers again: up at the next poll.
    quiet.silent.store(false, Ordering::Relaxed);
    m.wait_for("keel_vm_up{vm=\"quiet\"}", |v| v == Some(1.0));
    let err = m.stop();
    let jump: f64 = err
        .split("guest jumpy: its clock jumped by ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no jump logged: {err}"));
    assert!(
        (jump - 0.01).abs() < 0.001,
        "a 10 ms jump reported as {jump} s"
    );
    assert!(err.contains("guest quiet: no longer answers"), "{err}");
    assert!(err.contains("guest gone: cannot connect"), "{err}");
    eprintln!("a silent guest was down after {took:?} (poll 0.5 s)");
}

/// CPU seconds (user + system) of process `pid`.
fn cpu_s(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // After the command name's closing parenthesis: fields 3.. of proc(5).
    let rest = stat.rsplit_once(')').unwrap().1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Many guests answering at once: every one is up, and the monitor's cost
/// is printed (CPU per exchange, RSS, the size and time of /metrics).
/// `KEEL_MONITOR_SCALE` sets the number (default 200; the goal is stated
/// for 500 and 1,000).
#[test]
fn many_guests_are_all_watched_and_the_cost_is_reported() {
    let n: usize = std::env::var("KEEL_MONITOR_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let dir = tmpdir("scale");
    let mut guests = Vec::with_capacity(n);
    for i in 0..n {
        let p = dir.join(format!("g{i}.sock"));
        serve(&p, Script::new(i64::try_from(i).unwrap() * 1000, 0, 0));
        guests.push((format!("vm{i:04}"), p));
    }
    let names: Vec<(&str, PathBuf)> = guests
        .iter()
        .map(|(n, p)| (n.as_str(), p.clone()))
        .collect();
    // The default burst of 8, polled every 2 s (8× the default rate).
    let m = Monitor::start(&dir, &names, &["--poll", "2", "--burst", "8"]);
    let last = format!("keel_vm_up{{vm=\"vm{:04}\"}}", n - 1);
    m.wait_for(&last, |v| v == Some(1.0));
    let pid = m.child.id();
    let (cpu0, t0) = (cpu_s(pid), Instant::now());
    let ok0 = total_ok(&get_metrics(&m.metrics));
    std::thread::sleep(Duration::from_secs(10));
    let (cpu1, wall) = (cpu_s(pid), t0.elapsed().as_secs_f64());
    let t = Instant::now();
    let text = get_metrics(&m.metrics);
    let scrape = t.elapsed();
    let exchanges = total_ok(&text) - ok0;
    let up = text
        .lines()
        .filter(|l| l.starts_with("keel_vm_up{") && l.ends_with(" 1"))
        .count();
    assert_eq!(up, n, "every guest up");
    assert!(exchanges > 0.0);
    let cpu = cpu1 - cpu0;
    eprintln!(
        "{n} guests, burst 8 every 2 s: {exchanges} exchanges in {wall:.1} s, CPU {:.1} µs per exchange, {:.2} % of a core (at the default 16 s poll: {:.3} %), RSS {} KiB, /metrics {} bytes in {scrape:?}",
        cpu / exchanges * 1e6,
        cpu / wall * 100.0,
        cpu / wall * 100.0 / 8.0,
        rss_kib(pid),
        text.len()
    );
    drop(m);
}

fn total_ok(text: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with("keel_vm_probes_total{") && l.contains("result=\"ok\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn a_directory_of_sockets_adds_and_removes_guests() {
    let dir = tmpdir("dir");
    let vms = dir.join("vms");
    std::fs::create_dir_all(&vms).unwrap();
    let m = Monitor::start(&dir, &[], &["--guests-dir", vms.to_str().unwrap()]);
    m.wait_for("keel_monitor_vms", |v| v == Some(0.0));
    serve(&vms.join("web1.sock"), Script::new(2_000_000, 100, 100));
    // Not a socket: ignored.
    std::fs::write(vms.join("notes.txt"), "x").unwrap();
    m.wait_for("keel_vm_up{vm=\"web1\"}", |v| v == Some(1.0));
    assert_eq!(
        value(&get_metrics(&m.metrics), "keel_monitor_vms"),
        Some(1.0)
    );
    std::fs::remove_file(vms.join("web1.sock")).unwrap();
    m.wait_for("keel_vm_up{vm=\"web1\"}", |v| v.is_none());
    let err = m.stop();
    assert!(err.contains("guest web1: found"), "{err}");
    assert!(err.contains("guest web1: its socket is gone"), "{err}");
}

/// A QEMU guest agent: a JSON line per command; it parses before it reads
/// its clock (the +0.3 ms bias measured under TCG), which the bound of a
/// bracketed `guest-get-time` must cover. `guest-set-time` sets its clock.
fn serve_qga(path: &Path, offset_ns: Arc<AtomicI64>) {
    let l = UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(c) = c else { return };
            let offset_ns = offset_ns.clone();
            std::thread::spawn(move || {
                let mut r = std::io::BufReader::new(c.try_clone().unwrap());
                let mut w = c;
                let mut line = String::new();
                while std::io::BufRead::read_line(&mut r, &mut line).is_ok_and(|n| n > 0) {
                    std::thread::sleep(Duration::from_micros(300));
                    let reply = if let Some(id) = line.split("\"id\":").nth(1) {
                        format!("{{\"return\": {}}}\n", id.trim_end().trim_end_matches('}'))
                    } else if let Some(t) = line.split("\"time\":").nth(1) {
                        let t: i64 = t.trim_end().trim_end_matches('}').parse().unwrap();
                        offset_ns.store(t - realtime_ns(), Ordering::Relaxed);
                        "{\"return\": {}}\n".to_string()
                    } else {
                        format!(
                            "{{\"return\": {}}}\n",
                            realtime_ns() + offset_ns.load(Ordering::Relaxed)
                        )
                    };
                    std::thread::sleep(Duration::from_micros(100));
                    if w.write_all(reply.as_bytes()).is_err() {
                        return;
                    }
                    line.clear();
                }
            });
        }
    });
}

#[test]
fn a_guest_without_keel_is_measured_through_its_guest_agent_within_the_bound() {
    let dir = tmpdir("qga");
    serve_qga(&dir.join("qga.sock"), Arc::new(AtomicI64::new(-7_000_000)));
    let m = Monitor::start(
        &dir,
        &[],
        &[
            "--guest",
            &format!("old=qga:{}", dir.join("qga.sock").display()),
        ],
    );
    m.wait_for("keel_vm_up{vm=\"old\"}", |v| v == Some(1.0));
    let off = m
        .wait_for("keel_vm_clock_offset_seconds{vm=\"old\"}", |v| v.is_some())
        .unwrap();
    let bound = value(
        &get_metrics(&m.metrics),
        "keel_vm_clock_offset_bound_seconds{vm=\"old\"}",
    )
    .unwrap();
    assert!(
        (off + 0.007).abs() <= bound,
        "measured {off} ± {bound}, truth −0.007"
    );
    // The agent's 0.3 ms of parsing before its clock read is inside the bound.
    assert!(bound >= 0.0002, "bound {bound}");
    let err = m.stop();
    assert!(err.contains("guest old: answers (qga)"), "{err}");
}

#[test]
fn a_guest_without_keel_that_stays_off_is_set_through_its_agent_when_asked() {
    let dir = tmpdir("qga-set");
    let offset = Arc::new(AtomicI64::new(-250_000_000));
    serve_qga(&dir.join("qga.sock"), offset.clone());
    let cfg = dir.join("monitor.toml");
    std::fs::write(
        &cfg,
        format!(
            "correct = \"reacquire\"\ncorrect_threshold = 0.01\ncorrect_after = 2\n[[guest]]\nname = \"old\"\nchannel = \"qga:{}\"\n",
            dir.join("qga.sock").display()
        ),
    )
    .unwrap();
    let m = Monitor::start(&dir, &[], &["--config", cfg.to_str().unwrap()]);
    m.wait_for(
        "keel_vm_corrections_total{vm=\"old\",action=\"set-time\"}",
        |v| v == Some(1.0),
    );
    // Set to the host's time plus half a round trip: within a few ms, and
    // measured as such at once.
    let left = offset.load(Ordering::Relaxed);
    assert!(left.abs() < 5_000_000, "{left} ns after the set");
    m.wait_for("keel_vm_clock_offset_seconds{vm=\"old\"}", |v| {
        v.is_some_and(|v| v.abs() < 0.005)
    });
    let err = m.stop();
    assert!(
        err.contains("guest old: its clock set through the guest agent"),
        "{err}"
    );
}

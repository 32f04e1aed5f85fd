//! Interop: keel's NTP client exchange against a real `chronyd` from Debian.
//!
//! `tests/interop/peers.sh` fetches chrony with `apt-get download` (never
//! installed, never started as a service). The test starts `chronyd -x` (it
//! never touches the clock) serving NTP on 127.0.0.1:11123 with `local
//! stratum 1`, runs keel's client exchange over UDP on loopback, and checks
//! the samples against chronyd's own view (`chronyc tracking` and
//! `serverstats` over a loopback command port).
//!
//! When chronyd cannot run here (not root, the package not fetched) the test
//! is a skip (`keel_tests::skip`): a failure under `CI=true`, a line in
//! `./test.sh`'s summary otherwise. It fails when chronyd runs and keel's
//! results are wrong.

use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::net::UdpSocket;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration as StdDuration, Instant, SystemTime, UNIX_EPOCH};

use keel_core::measure::ntp::{ClientConfig, ClientRequest, NtpSample};
use keel_core::time::Duration;
use keel_core::wire::ntp::{LeapIndicator, Mode, Repr};

use keel_tests::interop::{is_root, now, peers_root};
use keel_tests::skip::skip;

/// The name in skip messages.
const TEST: &str = "interop_ntp";
const NTP_PORT: u16 = 11123;
const CMD_PORT: u16 = 11124;

/// A random 64-bit cookie from the standard library's per-process random
/// hash keys (the test's stand-in for a CSPRNG).
fn random_u64(salt: u64) -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(salt);
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// chronyd, killed (by its own pid) when dropped.
struct Chronyd {
    child: Child,
    dir: PathBuf,
}

impl Drop for Chronyd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_chronyd(root: &Path) -> Result<Chronyd, String> {
    let dir = std::env::temp_dir().join(format!("keel-chronyd-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("temp dir: {e}"))?;
    // chronyd only creates its command socket in a directory others cannot enter
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| format!("temp dir: {e}"))?;
    let conf = dir.join("chrony.conf");
    let mut f = std::fs::File::create(&conf).map_err(|e| format!("config: {e}"))?;
    writeln!(
        f,
        "port {NTP_PORT}\nbindaddress 127.0.0.1\nallow 127.0.0.1\nlocal stratum 1\n\
         cmdport {CMD_PORT}\nbindcmdaddress 127.0.0.1\ncmdallow 127.0.0.1\n\
         bindcmdaddress {dir}/chronyd.sock\n\
         pidfile {dir}/chronyd.pid\ndriftfile {dir}/drift\n",
        dir = dir.display()
    )
    .map_err(|e| format!("config: {e}"))?;
    let log = std::fs::File::create(dir.join("chronyd.log")).map_err(|e| format!("log: {e}"))?;
    // -x: never touch the system clock; -d: foreground, log to stderr.
    let child = Command::new(root.join("usr/sbin/chronyd"))
        .args(["-x", "-d", "-u", "root", "-f"])
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start chronyd: {e}"))?;
    Ok(Chronyd { child, dir })
}

/// One exchange; `Err` carries a description for the failure message.
fn exchange(sock: &UdpSocket, i: u64) -> Result<NtpSample, String> {
    let req = ClientRequest::new(random_u64(i), 0);
    let mut q = [0u8; 48];
    req.emit(&mut q).map_err(|e| e.to_string())?;
    // Drop a late reply to an earlier request that timed out.
    sock.set_nonblocking(true).map_err(|e| e.to_string())?;
    while sock.recv(&mut [0u8; 1024]).is_ok() {}
    sock.set_nonblocking(false).map_err(|e| e.to_string())?;
    let t1 = now();
    sock.send(&q).map_err(|e| e.to_string())?;
    let mut buf = [0u8; 1024];
    let n = sock.recv(&mut buf).map_err(|e| format!("no reply: {e}"))?;
    let t4 = now();
    let reply = &buf[..n];
    // every reply decodes and re-encodes byte for byte
    let r = Repr::parse_bytes(reply).map_err(|e| format!("decode: {e}"))?;
    assert_eq!(r.mode, Mode::Server);
    let mut again = [0u8; 1024];
    let m = r.emit(&mut again).expect("emit");
    assert_eq!(
        &again[..m],
        reply,
        "keel re-encodes chronyd's reply byte for byte"
    );
    req.process_reply(reply, t1, t4, &ClientConfig::default())
        .map_err(|e| format!("reply rejected: {e}"))
}

/// Runs `chronyc` against chronyd's command socket (or, without one, the
/// loopback command port) and returns its stdout.
fn chronyc(root: &Path, dir: &Path, cmd: &str) -> Option<String> {
    let sock = dir.join("chronyd.sock");
    let host = if sock.exists() {
        sock.display().to_string()
    } else {
        "127.0.0.1".to_owned()
    };
    let out = Command::new(root.join("usr/bin/chronyc"))
        .args(["-n", "-h", &host, "-p", &CMD_PORT.to_string(), cmd])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `chronyc tracking` "System time : X seconds fast|slow of NTP time" as ns
/// (positive: the system clock is ahead of chronyd's NTP time).
fn tracking_system_offset_ns(text: &str) -> Option<i64> {
    let line = text.lines().find(|l| l.starts_with("System time"))?;
    let mut it = line.split(':').nth(1)?.split_whitespace();
    let secs: f64 = it.next()?.parse().ok()?;
    let _ = it.next();
    let sign = if it.next()? == "fast" { 1.0 } else { -1.0 };
    #[allow(
        clippy::cast_possible_truncation,
        reason = "chronyc prints at most seconds with 9 decimals"
    )]
    Some((sign * secs * 1e9).round() as i64)
}

fn serverstats_received(text: &str) -> Option<u64> {
    let line = text
        .lines()
        .find(|l| l.starts_with("NTP packets received"))?;
    line.split(':').nth(1)?.trim().parse().ok()
}

#[test]
fn chronyd_exchange() {
    if !is_root() {
        return skip(TEST, "not root (chronyd is started with -u root)");
    }
    let root = match peers_root("chrony") {
        Ok(r) => r,
        Err(e) => return skip(TEST, &e),
    };
    let chronyd = match start_chronyd(&root) {
        Ok(c) => c,
        Err(e) => return skip(TEST, &e),
    };
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind loopback");
    sock.connect(("127.0.0.1", NTP_PORT)).expect("connect");
    sock.set_read_timeout(Some(StdDuration::from_millis(500)))
        .expect("timeout");

    // wait for chronyd to serve
    let deadline = Instant::now() + StdDuration::from_secs(10);
    let mut served = false;
    let mut last_err = String::new();
    while Instant::now() < deadline {
        match exchange(&sock, 0) {
            Ok(_) => {
                served = true;
                break;
            }
            Err(e) => last_err = e,
        }
        std::thread::sleep(StdDuration::from_millis(100));
    }
    if !served {
        let log = std::fs::read_to_string(chronyd.dir.join("chronyd.log")).unwrap_or_default();
        if last_err.starts_with("no reply") {
            return skip(
                TEST,
                &format!("chronyd did not answer on 127.0.0.1:{NTP_PORT}: {log}"),
            );
        }
        panic!("chronyd answers but keel rejects its replies: {last_err}\n{log}");
    }

    // On a loaded machine a reply can miss the read timeout (a late one is
    // dropped before the next request): three tries.
    let mut samples = Vec::new();
    for i in 1..=16u64 {
        let mut tries = (0..3u64).map(|k| exchange(&sock, i * 4 + k));
        let s = tries
            .find_map(|r| match r {
                Ok(s) => Some(Ok(s)),
                Err(e) if e.starts_with("no reply") => None,
                Err(e) => Some(Err(e)),
            })
            .unwrap_or_else(|| Err("no reply in three tries".to_owned()))
            .unwrap_or_else(|e| panic!("exchange {i}: {e}"));
        samples.push(s);
        std::thread::sleep(StdDuration::from_millis(20));
    }
    let tracking = chronyc(&root, &chronyd.dir, "tracking");
    let stats = chronyc(&root, &chronyd.dir, "serverstats");
    drop(chronyd);

    let best = samples.iter().min_by_key(|s| s.delay).expect("samples");
    println!("keel vs chronyd on loopback, 16 exchanges:");
    for s in &samples {
        println!(
            "  offset {:>7} ns  delay {:>7} ns  root delay {} ns  root dispersion {} ns",
            s.offset.as_nanos(),
            s.delay.as_nanos(),
            s.root_delay.as_nanos(),
            s.root_dispersion.as_nanos()
        );
    }
    for s in &samples {
        // chronyd serves this machine's own clock, so the offset is bounded
        // by half the round trip (plus timestamping noise)
        assert_eq!(s.stratum, 1, "local stratum 1");
        assert_eq!(s.leap, LeapIndicator::NoWarning);
        assert!(s.delay >= Duration::ZERO);
        // (Loopback takes tens of µs, but a loaded machine can deschedule
        // either side for tens of ms; the offset bound below scales with it.)
        assert!(
            s.delay < Duration::from_secs(1),
            "loopback delay {}",
            s.delay
        );
        let bound = s.delay.as_nanos() / 2 + 200_000;
        assert!(
            s.offset.as_nanos().abs() <= bound,
            "offset {} beyond ±{bound} ns",
            s.offset
        );
        assert!(s.root_distance() < Duration::from_millis(100));
    }
    // chronyd's own view: its NTP time vs the system clock it serves from
    match tracking.as_deref().and_then(tracking_system_offset_ns) {
        Some(sys) => {
            println!("chronyd tracking: system time {sys} ns fast of NTP time");
            println!(
                "keel best sample: offset {} ns, delay {} ns",
                best.offset.as_nanos(),
                best.delay.as_nanos()
            );
            let diff = (best.offset.as_nanos() - sys).abs();
            assert!(
                diff <= best.delay.as_nanos() / 2 + 200_000,
                "keel offset {} ns vs chronyd's system-time offset {sys} ns",
                best.offset.as_nanos()
            );
        }
        None => println!("chronyc tracking unavailable; compared with the local clock only"),
    }
    match stats.as_deref().and_then(serverstats_received) {
        Some(n) => {
            println!("chronyd serverstats: {n} NTP packets received");
            assert!(n >= 17, "chronyd saw {n} requests, keel sent at least 17");
        }
        None => println!("chronyc serverstats unavailable: {stats:?}"),
    }
}

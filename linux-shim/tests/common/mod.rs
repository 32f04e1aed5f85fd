//! What the `keel` binary's integration tests share. Every child runs with
//! `KEEL_FORBID_CLOCK_WRITES=1`, so even a mistake cannot touch this
//! machine's clock.

#![allow(dead_code, reason = "each test file uses what it needs")]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// keel's convention for tests that cannot run (`keel_tests::skip`, the
/// same file).
#[path = "../../../tests/src/skip.rs"]
pub mod skip;

/// The `keel` binary, forbidden to write any clock, logging to stderr.
pub fn keel() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_keel"));
    c.env("KEEL_FORBID_CLOCK_WRITES", "1");
    c.env_remove("JOURNAL_STREAM");
    c
}

/// A fresh, empty directory for this test file, process and `name`.
pub fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "keel-{}-{}-{name}",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A child's stdout and stderr as text.
pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The value column of an end-table row.
pub fn row<'a>(table: &'a str, key: &str) -> &'a str {
    let prefix = format!("| {key} ");
    table
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map_or("", |rest| {
            rest.trim_start()
                .trim_start_matches('|')
                .trim_end()
                .trim_end_matches('|')
                .trim()
        })
}

/// A real-time simulated daemon in the background.
pub struct Daemon {
    pub child: Child,
    pub dir: PathBuf,
}

impl Daemon {
    pub fn start(name: &str, extra: &[&str]) -> Self {
        let dir = tmpdir(name);
        let sock = dir.join("keel.sock");
        let mut args = vec![
            "sync".to_string(),
            "--clock".into(),
            "sim".into(),
            "--speed".into(),
            "20".into(),
            "--duration".into(),
            "1h".into(),
            "--summary".into(),
            "1".into(),
            "--status-socket".into(),
            sock.to_str().unwrap().into(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_string()));
        let child = keel()
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let d = Self { child, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !d.sock().exists() {
            assert!(Instant::now() < deadline, "status socket never appeared");
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    pub fn sock(&self) -> PathBuf {
        self.dir.join("keel.sock")
    }

    pub fn signal(&self, sig: i32) {
        let pid = i32::try_from(self.child.id()).unwrap();
        // SAFETY: sending a signal to our own child process.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
    }

    pub fn wait(mut self) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                self.child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut err)
                    .unwrap();
                return (st, err);
            }
            assert!(Instant::now() < deadline, "daemon did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn wait_for_updates(sock: &Path, n: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let o = keel()
            .args(["status", "--json", "--socket", sock.to_str().unwrap()])
            .output()
            .unwrap();
        let j = text(&o).0;
        if let Some(u) = j
            .split("\"updates\":")
            .nth(1)
            .and_then(|r| r.split(',').next())
            .and_then(|v| v.parse::<u64>().ok())
        {
            if u >= n {
                return j;
            }
        }
        assert!(Instant::now() < deadline, "no progress: {j}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A loopback `host:port` nobody listens on (the OS picks the port).
pub fn free_loopback_addr() -> String {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    format!("127.0.0.1:{port}")
}

/// `GET /metrics` from keel's Prometheus endpoint at `addr`: the whole
/// response, headers and body.
pub fn get_metrics(addr: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    resp
}

/// A column of a CSV trace as `(t_s, value)` rows.
pub fn column(csv: &Path, name: &str) -> Vec<(f64, f64)> {
    let trace = std::fs::read_to_string(csv).unwrap();
    let mut lines = trace.lines();
    let col = lines
        .next()
        .unwrap()
        .split(',')
        .position(|c| c == name)
        .unwrap();
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].parse().unwrap(), f[col].parse().unwrap())
        })
        .collect()
}

/// Writes a state file for the simulated `CLOCK_REALTIME`: version 2 (no
/// record of what it was learnt on) when `origin` is `None`, else version 3
/// learnt on (machine, clocksource, source), saved at `saved_unix` (the
/// simulation starts at 1700000000).
pub fn write_state(
    path: &Path,
    freq_ppb: f64,
    sd_ppb: f64,
    saved_unix: u64,
    origin: Option<(&str, &str, &str)>,
) {
    let mut body = format!(
        "keel-state {}\nfreq_ppb {freq_ppb:.3}\nfreq_sd_ppb {sd_ppb:.3}\nsaved_unix {saved_unix}\nsink CLOCK_REALTIME\n",
        if origin.is_some() { 3 } else { 2 }
    );
    if let Some((m, c, s)) = origin {
        body.push_str(&format!("machine {m}\nclocksource {c}\nsource {s}\n"));
    }
    std::fs::write(path, format!("{body}check {:016x}\n", fnv1a(&body))).unwrap();
}

/// What the simulation's standard scenario records as its origin.
pub const SIM_ORIGIN: (&str, &str, &str) =
    ("simulated machine", "simulated", "simulated PHC (standard)");

/// The state file's checksum (FNV-1a 64).
pub fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Waits for `child` up to `limit`, then kills it (and fails). Its output
/// is read meanwhile (a full pipe would stall its log writes).
pub fn finish(mut child: Child, limit: Duration) -> Output {
    let drain = |r: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut v);
            }
            v
        })
    };
    let out = drain(child.stdout.take().map(|s| Box::new(s) as _));
    let err = drain(child.stderr.take().map(|s| Box::new(s) as _));
    let t = Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            timed_out = true;
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let o = Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    };
    assert!(!timed_out, "still running after {limit:?}: {:?}", text(&o));
    o
}

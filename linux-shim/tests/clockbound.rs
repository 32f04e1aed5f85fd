//! `ClockBound`'s own Rust client (`clock-bound-client` 2.0, unmodified)
//! reads the SHM v2 segment a simulated `keel sync` published, and gets the
//! interval keel's time page gives through `keel-client`; both reads are timed (printed, not
//! asserted: timing goals live in reports).

#![allow(clippy::missing_panics_doc, reason = "tests")]

use std::hint::black_box;
use std::process::Command;
use std::time::Instant;

use clock_bound_client::{ClockBoundClient, ClockStatus};
use keel_core::engine::ServedStatus;

#[test]
fn clockbound_client_reads_keels_segment() {
    let dir = std::env::temp_dir().join(format!("keel-cb-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (cb, tp) = (dir.join("clockbound/shm0"), dir.join("time"));
    let o = Command::new(env!("CARGO_BIN_EXE_keel"))
        .env("KEEL_FORBID_CLOCK_WRITES", "1")
        .args([
            "sync",
            "--clock",
            "sim",
            "--speed",
            "max",
            "--duration",
            "120s",
        ])
        .arg("--clockbound-shm")
        .arg(&cb)
        .arg("--time-page")
        .arg(&tp)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    let mut client = ClockBoundClient::new_with_path(cb.to_str().unwrap()).unwrap();
    let now = client.now().unwrap();
    assert_eq!(now.clock_status, ClockStatus::Synchronized);
    let cb_half = (now.latest - now.earliest).tv_nsec() / 2;

    // keel's own page, through keel's Rust client.
    let clock = keel_client::Clock::open(&tp).unwrap();
    let s = clock.snapshot().unwrap();
    let i = clock.now().unwrap();
    assert_eq!(i.status, ServedStatus::Synchronized);
    let keel_half = (i.latest_ns - i.earliest_ns) / 2;
    // The same bound (growth over the µs between the two reads aside).
    assert!(s.bound_ns < 1_000, "{s:?}");
    assert!(
        (cb_half - keel_half).abs() <= 2,
        "ClockBound ±{cb_half} ns, keel ±{keel_half} ns"
    );

    let n = 200_000u32;
    let t = Instant::now();
    for _ in 0..n {
        black_box(client.now().unwrap());
    }
    let cb_ns = t.elapsed().as_nanos() / u128::from(n);
    let t = Instant::now();
    for _ in 0..n {
        black_box(black_box(&clock).now().unwrap());
    }
    let keel_ns = t.elapsed().as_nanos() / u128::from(n);
    println!(
        "bound {} ns growing {} ppb; ClockBound client now() {cb_ns} ns/read, keel page now() {keel_ns} ns/read",
        s.bound_ns, s.growth_ppb
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `keel waitsync` returns once a cold simulated daemon (real-time speed)
/// publishes a synchronised bound under 1 µs, and times out with the reason
/// when there is no daemon. The time it waited is printed (the goal
/// is ≤ 3 s; timing is reported, not asserted).
#[test]
fn waitsync_waits_for_a_synchronised_bound() {
    let dir = std::env::temp_dir().join(format!("keel-ws-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let tp = dir.join("time");
    let mut daemon = Command::new(env!("CARGO_BIN_EXE_keel"))
        .env("KEEL_FORBID_CLOCK_WRITES", "1")
        .args([
            "sync",
            "--clock",
            "sim",
            "--speed",
            "1",
            "--duration",
            "40s",
        ])
        .arg("--time-page")
        .arg(&tp)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args([
            "waitsync",
            "--max-bound",
            "1us",
            "--timeout",
            "30s",
            "--page",
        ])
        .arg(&tp)
        .output()
        .unwrap();
    let waited = started.elapsed();
    let _ = daemon.kill();
    let _ = daemon.wait();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.starts_with("synchronised: bound ±"), "{out}");
    println!(
        "keel waitsync --max-bound 1us returned {:.1} s after a cold simulated start",
        waited.as_secs_f64()
    );
    // No daemon: the timeout, its exit code and the reason.
    let o = Command::new(env!("CARGO_BIN_EXE_keel"))
        .args(["waitsync", "--timeout", "1s", "--page"])
        .arg(dir.join("none"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("not synchronised after") && err.contains("no time page yet"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

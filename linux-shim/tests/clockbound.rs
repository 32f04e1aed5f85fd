//! `ClockBound`'s own Rust client (`clock-bound-client` 2.0, unmodified)
//! reads the SHM v2 segment a simulated `keel sync` published, and gets the
//! interval keel's time page gives; both reads are timed (printed, not
//! asserted: timing goals live in reports).

#![allow(clippy::missing_panics_doc, reason = "tests")]

use std::hint::black_box;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use clock_bound_client::{ClockBoundClient, ClockStatus};
use keel_core::engine::ServedStatus;
use keel_core::page::{self, Words};

fn clocks() -> (u64, i64) {
    let mut m = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let mut r = m;
    // SAFETY: valid out-pointers.
    unsafe {
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &raw mut m);
        libc::clock_gettime(libc::CLOCK_REALTIME, &raw mut r);
    }
    let ns = |t: libc::timespec| t.tv_sec * 1_000_000_000 + t.tv_nsec;
    (u64::try_from(ns(m)).unwrap(), ns(r))
}

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

    // keel's own page, mapped read-only.
    let f = std::fs::File::open(&tp).unwrap();
    // SAFETY: a read-only shared mapping of the whole 96-byte file.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            page::BYTES,
            libc::PROT_READ,
            libc::MAP_SHARED,
            f.as_raw_fd(),
            0,
        )
    };
    assert_ne!(p, libc::MAP_FAILED);
    // SAFETY: page aligned, BYTES long, only read atomically.
    let words: &Words = unsafe { &*p.cast::<[AtomicU64; page::WORDS]>() };
    let s = page::read(words).unwrap();
    let (m, r) = clocks();
    let i = s.interval_at(m, r, None).unwrap();
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
        let s = page::read(black_box(words)).unwrap();
        let (m, r) = clocks();
        black_box(s.interval_at(m, r, None).unwrap());
    }
    let keel_ns = t.elapsed().as_nanos() / u128::from(n);
    println!(
        "bound {} ns growing {} ppb; ClockBound client now() {cb_ns} ns/read, keel page now() {keel_ns} ns/read",
        s.bound_ns, s.growth_ppb
    );
    // SAFETY: the mapping above, no longer used.
    unsafe { libc::munmap(p, page::BYTES) };
    let _ = std::fs::remove_dir_all(&dir);
}

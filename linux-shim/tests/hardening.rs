//! Issue 18, sections 1 and 2: hostile paths and extreme settings, through
//! the `keel` binary. Every `keel sync` here runs `--clock sim` (or stops at
//! argument checks before any clock is read, with `--dry-run`), and every
//! child has `KEEL_FORBID_CLOCK_WRITES=1`: nothing can touch this machine's
//! clock.

#![allow(clippy::missing_panics_doc, reason = "tests")]

mod common;

use common::{finish, keel, row, text, tmpdir};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

/// `keel sync --clock sim` with `args`, killed after `limit` if still running.
fn sim(args: &[&str], limit: Duration) -> Output {
    let child = keel()
        .args(["sync", "--clock", "sim"])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    finish(child, limit)
}

#[test]
fn every_output_path_is_checked_at_start() {
    let t = Instant::now();
    let o = sim(&["--svg", "/proc/x.svg"], Duration::from_secs(60));
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        err.contains("keel: /proc/x.svg: cannot create the SVG plot: ")
            && err.contains("(choose a writable path for --svg)"),
        "{err}"
    );
    // At start: no run, no table (a 600 s run at real speed would take 10 min).
    assert!(out.is_empty(), "{out}");
    assert!(t.elapsed() < Duration::from_secs(30));
    let o = sim(&["--csv", "/proc/x.csv"], Duration::from_secs(60));
    let err = text(&o).1;
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("/proc/x.csv: cannot create the CSV file"),
        "{err}"
    );
}

/// Runs `keel sync --clock sim --speed max` with files limited to
/// `max_bytes` (writes beyond fail with EFBIG, as on a full disk).
fn sim_with_file_limit(args: &[&str], max_bytes: u64) -> Output {
    let mut c = keel();
    c.args(["sync", "--clock", "sim", "--speed", "max"])
        .args(args);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        c.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let lim = libc::rlimit {
                rlim_cur: max_bytes,
                rlim_max: max_bytes,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &raw const lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    finish(child, Duration::from_secs(120))
}

#[test]
fn an_output_that_cannot_be_written_fails_the_run() {
    let d = tmpdir("outputs");
    let (csv, svg) = (d.join("trace.csv"), d.join("plot.svg"));
    // Room for the CSV header and the start, not for the whole run.
    let o = sim_with_file_limit(
        &[
            "--duration",
            "600s",
            "--csv",
            csv.to_str().unwrap(),
            "--svg",
            svg.to_str().unwrap(),
        ],
        2048,
    );
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(
        err.contains("trace.csv: cannot write the CSV trace: "),
        "{err}"
    );
    assert!(err.contains("cannot write the SVG plot"), "{err}");
    assert!(
        err.contains("trace.csv: the CSV trace is incomplete (File too large")
            && err.contains("plot.svg: the SVG plot was not written (File too large")
            && err.contains("; check the disk space and the path, and run again"),
        "{err}"
    );
    // The table is still shown: the run itself was fine.
    assert!(out.contains("| updates / steps / disruptions"), "{out}");
    // Only the plot fails: it alone is named.
    std::fs::remove_file(&csv).unwrap();
    let o = sim_with_file_limit(
        &["--duration", "120s", "--svg", svg.to_str().unwrap()],
        2048,
    );
    let err = text(&o).1;
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("plot.svg: the SVG plot was not written"),
        "{err}"
    );
    assert!(!err.contains("CSV"), "{err}");
    // With room, both are written and the run succeeds.
    let o = sim_with_file_limit(
        &[
            "--duration",
            "120s",
            "--csv",
            csv.to_str().unwrap(),
            "--svg",
            svg.to_str().unwrap(),
        ],
        64 << 20,
    );
    assert!(o.status.success(), "{:?}", text(&o));
    assert!(
        std::fs::read_to_string(&svg)
            .unwrap()
            .trim_end()
            .ends_with("</svg>")
    );
    // A header and 126 updates: eight a quarter second apart at the start.
    assert_eq!(std::fs::read_to_string(&csv).unwrap().lines().count(), 127);
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_huge_speed_factor_drops_no_update_and_says_how_fast_it_ran() {
    // Was: 55 of 60 updates at ×1000, 0 of 60 at ×1e7, and "RMS 0.0 ns".
    let want = {
        let o = sim(
            &["--speed", "max", "--duration", "60s"],
            Duration::from_secs(60),
        );
        assert!(o.status.success(), "{:?}", text(&o));
        row(&text(&o).0, "updates / steps / disruptions").to_string()
    };
    // 60 s: eight updates a quarter second apart at the start, then 1/s.
    assert!(want.starts_with("66 / "), "{want}");
    for factor in ["1000", "1e7", "1e308"] {
        let o = sim(
            &["--speed", factor, "--duration", "60s"],
            Duration::from_secs(60),
        );
        let (out, err) = text(&o);
        assert!(o.status.success(), "{factor}: {out}{err}");
        assert_eq!(
            row(&out, "updates / steps / disruptions"),
            want,
            "{factor}: {out}"
        );
        assert!(
            !row(&out, "RMS |true offset|, second half").starts_with('-'),
            "{out}"
        );
        if factor == "1e308" {
            assert!(out.contains("| 1 / 60 s / 1.0e308× "), "{out}");
            assert!(
                out.contains("speed: asked 1.0e308×, ran ")
                    && out.contains(
                        "(as fast as this machine allows; every update was made, none skipped)"
                    ),
                "{out}"
            );
        }
    }
}

#[test]
fn sigterm_is_handled_at_once_at_any_speed() {
    for factor in ["1e308", "max"] {
        // 30 days: longer than the test would wait (a day was not: keel runs
        // the simulation at about 2e5× here once its log writes never block).
        let child = keel()
            .args([
                "sync",
                "--clock",
                "sim",
                "--speed",
                factor,
                "--duration",
                "30d",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        // SAFETY: kill(2) on our own child.
        assert_eq!(
            unsafe { libc::kill(i32::try_from(child.id()).unwrap(), libc::SIGTERM) },
            0
        );
        let t = Instant::now();
        // Was: minutes at ×1e308 (one catch-up to the end of time). The
        // loop gets back to poll(2) every 20 ms; 2 s leaves room for a
        // loaded machine.
        let o = finish(child, Duration::from_secs(30));
        let waited = t.elapsed();
        let (out, err) = text(&o);
        assert!(o.status.success(), "{factor}: {out}{err}");
        assert!(err.contains("signal 15: stopping"), "{err}");
        assert!(
            waited < Duration::from_secs(2),
            "{factor}: SIGTERM took {waited:?}"
        );
        // Stopped long before half the run: the second half has no figures
        // (it read "RMS 0.0 ns").
        let rms = row(&out, "RMS |true offset|, second half");
        assert!(
            rms.starts_with(
                "- (the second half, from t = 1296000 s, did not run: the run stopped at t = "
            ),
            "{factor}: {out}"
        );
    }
}

#[test]
fn a_fifo_as_state_file_does_not_block_start_up() {
    let d = tmpdir("fifo");
    let fifo = d.join("state");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    // Was: blocked for ever in open(2).
    let o = sim(
        &[
            "--speed",
            "max",
            "--duration",
            "60s",
            "--state-file",
            fifo.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    let (out, err) = text(&o);
    assert!(o.status.success(), "{out}{err}");
    assert!(
        err.contains("state: the state file is a FIFO, not a regular file; ignoring it"),
        "{err}"
    );
    // Never replaced by a save.
    use std::os::unix::fs::FileTypeExt;
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    let _ = std::fs::remove_dir_all(&d);
}

fn refused_and_kept(path: &Path, what: &str) {
    let o = sim(
        &[
            "--speed",
            "max",
            "--duration",
            "10s",
            "--status-socket",
            path.to_str().unwrap(),
        ],
        Duration::from_secs(60),
    );
    let err = text(&o).1;
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "status_socket names {what} that is not a socket; keel does not remove it"
        )),
        "{err}"
    );
}

#[test]
fn a_status_socket_path_that_is_not_a_socket_is_never_removed() {
    let d = tmpdir("sock");
    let file = d.join("keel.sock");
    std::fs::write(&file, "precious").unwrap();
    refused_and_kept(&file, "a regular file");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "precious");
    let link = d.join("link.sock");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    refused_and_kept(&link, "a symbolic link");
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "precious");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn a_source_that_is_not_a_phc_is_refused_at_start() {
    // Was: ran for ever in "holdover". Stops at the source check, before
    // any clock is read (and a dry run writes none anyway).
    for source in ["/dev/null", "/dev/zero"] {
        let child = keel()
            .args(["sync", "--dry-run", "--source", source])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let o = finish(child, Duration::from_secs(30));
        let err = text(&o).1;
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(
            err.contains(&format!(
                "keel: source {source}: not a PHC: it does not answer PTP_CLOCK_GETCAPS; set source to a /dev/ptpN device or a PHC clock name"
            )),
            "{err}"
        );
    }
}

//! Issue 18 §6: the fault matrix. Each fault is one test, named after it,
//! whose doc comment gives the expected outcome: `cargo test -p keel-shim
//! --test fault_matrix -- --list` is the matrix. Every run is `keel sync
//! --clock sim` (`--speed max`, or `--speed 20` where real time matters),
//! with `KEEL_FORBID_CLOCK_WRITES=1`: nothing here can touch this machine's
//! clock. Besides each fault's own outcome, every run with a CSV trace is
//! checked for "nothing is lost, and no update is late by more than one
//! interval": consecutive updates are at most two intervals apart, except
//! across a fault that pauses the guest itself ([`no_update_late`]).
//!
//! The faults only a real kernel shows run in the guest lab, in keel's
//! guest before the scenarios (tests/e2e/guest/init, `fault-*`; judged by
//! tests/e2e/report.py): `clock_adjtime` refused with EPERM (root without
//! `CAP_SYS_TIME`) and an unprivileged user refused at start, the state
//! directory full (ENOSPC on a small tmpfs) and read-only (EROFS), and a
//! real SIGSTOP of 60 s against the truth PHC.
//!
//! Where else a fault is tested (the matrix repeats the essentials so that
//! it stands alone):
//! - PHC gone and back: `sim_daemon::phc_outage_holds_over_and_recovers`;
//! - foreign frequency and steps: `sim_daemon::interference_is_reported`,
//!   `sim_daemon::phc_sink_in_simulation` (on a PHC sink);
//! - state files: `sim_daemon::state_file_missing_corrupt_truncated_and_reused`,
//!   `sim_daemon::phc_sink_state_file_belongs_to_its_sink`,
//!   `sim_daemon::a_state_file_from_elsewhere_or_long_ago_is_trusted_less`,
//!   `sim_daemon::a_wrong_saved_frequency_converges`,
//!   `hardening::a_fifo_as_state_file_does_not_block_start_up`, and the
//!   unit tests of `state.rs`;
//! - SIGHUP: `sim_daemon::sighup_reloads_and_keeps_running_on_a_bad_file`;
//! - floods: the unit tests `status::tests::idle_clients_never_starve_a_status_query`
//!   and `metrics::tests::idle_clients_never_starve_a_scraper` (in process);
//! - full outputs: `hardening::an_output_that_cannot_be_written_fails_the_run`.
//!

#![allow(clippy::missing_panics_doc, reason = "tests")]

mod common;

use common::{
    Daemon, SIM_ORIGIN, column, finish, fnv1a, free_loopback_addr, get_metrics, keel, row, text,
    tmpdir, wait_for_updates, write_state,
};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The default interval, s.
const INTERVAL_S: f64 = 1.0;

/// Longest any single `keel` run may take here.
const LIMIT: Duration = Duration::from_secs(60);

/// A finished `keel sync --clock sim` run.
struct Run {
    out: String,
    err: String,
    csv: PathBuf,
}

/// `keel sync --clock sim --speed max --scenario scenario` with `extra`,
/// writing its trace into `dir`; it must succeed.
fn sim_in(dir: &Path, scenario: &str, extra: &[&str]) -> Run {
    sim_with(keel(), dir, scenario, extra)
}

/// [`sim_in`] with the command `c` (set up by the caller: limits, caps).
fn sim_with(mut c: Command, dir: &Path, scenario: &str, extra: &[&str]) -> Run {
    let csv = dir.join(format!("{scenario}.csv"));
    let child = c
        .args(["sync", "--clock", "sim", "--speed", "max", "--scenario"])
        .arg(scenario)
        .arg("--csv")
        .arg(&csv)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let o = finish(child, LIMIT);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{scenario}: {out}{err}");
    Run { out, err, csv }
}

/// The update times of a CSV trace, s.
fn update_times(csv: &Path) -> Vec<f64> {
    column(csv, "freq_ppb")
        .into_iter()
        .map(|(t, _)| t)
        .collect()
}

/// Nothing is lost and no update is late by more than one interval: the
/// trace's updates are at most two intervals (`interval_s`) apart, except
/// across the spans in `pauses` (`(start, length)`, s of simulated time),
/// where the guest itself did not run. Also checks that the trace runs to
/// `end_s` (less an interval). Returns the number of updates.
fn no_update_late(csv: &Path, interval_s: f64, pauses: &[(f64, f64)], end_s: f64) -> usize {
    let t = update_times(csv);
    assert!(t.len() > 2, "{}: {} updates", csv.display(), t.len());
    for w in t.windows(2) {
        let gap = w[1] - w[0];
        assert!(
            gap > 0.0,
            "{}: updates out of order at {}",
            csv.display(),
            w[0]
        );
        let paused: f64 = pauses
            .iter()
            .filter(|&&(at, _)| w[0] <= at + 1e-6 && at < w[1])
            .map(|&(_, len)| len)
            .sum();
        assert!(
            gap <= 2.0 * interval_s + paused + 1e-6,
            "{}: no update from t = {:.3} s to {:.3} s ({gap:.3} s; interval {interval_s} s)",
            csv.display(),
            w[0],
            w[1]
        );
    }
    let last = *t.last().unwrap();
    assert!(
        last >= end_s - interval_s - 1e-6,
        "{}: the last update at t = {last:.3} s, the run ended at {end_s} s",
        csv.display()
    );
    t.len()
}

/// The last state in a trace.
fn last_state(csv: &Path) -> String {
    let trace = std::fs::read_to_string(csv).unwrap();
    let last = trace.lines().last().unwrap();
    last.rsplit(',').next().unwrap().to_string()
}

/// How many of a trace's updates are in `state`.
fn updates_in(csv: &Path, state: &str) -> usize {
    std::fs::read_to_string(csv)
        .unwrap()
        .lines()
        .skip(1)
        .filter(|l| l.rsplit(',').next() == Some(state))
        .count()
}

/// The end table says the run ended locked, and so does the trace.
fn ends_locked(r: &Run) {
    assert!(
        row(&r.out, "state at the end").starts_with("locked"),
        "{}",
        r.out
    );
    assert!(last_state(&r.csv).starts_with("locked"), "{}", r.out);
}

/// `(updates, steps, disruptions)` from the end table.
fn counts(out: &str) -> (u64, u64, u64) {
    let v: Vec<u64> = row(out, "updates / steps / disruptions")
        .split(" / ")
        .map(|x| x.parse().unwrap())
        .collect();
    (v[0], v[1], v[2])
}

/// `(read failures, interference)` from the end table.
fn failures(out: &str) -> (u64, u64) {
    let v: Vec<u64> = row(out, "read failures / interference")
        .split(" / ")
        .map(|x| x.parse().unwrap())
        .collect();
    (v[0], v[1])
}

/// The PHC disappears for 60 s at t = 200 s (ENODEV) and comes back: keel
/// holds over on its last frequency, retrying every update (each one a row
/// of the trace, in state `holdover`), says when the PHC is back, and ends
/// locked. No update is skipped.
#[test]
fn phc_gone_and_back() {
    let r = sim_in(&tmpdir("outage"), "outage", &[]);
    assert!(
        r.err
            .contains("PHC read failed: device not present (ENODEV); holding over at "),
        "{}",
        r.err
    );
    assert!(
        r.err
            .contains("PHC readable again after 60 failed updates (60 s of holdover)"),
        "{}",
        r.err
    );
    assert_eq!(failures(&r.out), (60, 0), "{}", r.out);
    assert_eq!(updates_in(&r.csv, "holdover"), 60);
    ends_locked(&r);
    assert_eq!(no_update_late(&r.csv, INTERVAL_S, &[], 600.0), 606);
}

/// 20 % of PHC reads fail with EBUSY: keel retries a busy read, and skips
/// an update only when the PHC stays busy (counted as a read failure),
/// never stalls: every update comes on time and the run ends locked, as
/// close as without the storm.
#[test]
fn ebusy_storm() {
    let dir = tmpdir("busy");
    let r = sim_in(&dir, "busy", &[]);
    let (failed, _) = failures(&r.out);
    assert!(failed >= 1, "some updates skipped: {}", r.out);
    assert!(failed < 20, "few updates skipped: {}", r.out);
    ends_locked(&r);
    // As many updates as without the storm.
    let calm = sim_in(&dir, "standard", &[]);
    assert_eq!(counts(&r.out).0, counts(&calm.out).0, "{}", r.out);
    assert_eq!(no_update_late(&r.csv, INTERVAL_S, &[], 600.0), 606);
}

/// `clock_adjtime` failing with EPERM for 60 s (keel lost `CAP_SYS_TIME`, or
/// a seccomp or container policy forbids it; the `eperm` world refuses every
/// clock write then). Expected: one clear error naming the capability, the
/// refusals counted rather than logged every update, keel measuring on and
/// trying at every update, a line when writes go through again, locked at
/// the end, no update late; the refusals counted in `keel status` and the
/// metrics (`keel_clock_writes_refused_total`).
/// The guest lab runs the same fault on a real kernel (tests/e2e,
/// `fault-eperm`: root without `CAP_SYS_TIME`).
#[test]
fn clock_adjtime_fails_with_eperm() {
    let dir = tmpdir("eperm");
    let r = sim_in(&dir, "eperm", &[]);
    let refused: Vec<&str> = r
        .err
        .lines()
        .filter(|l| l.contains("Operation not permitted"))
        .collect();
    assert_eq!(refused.len(), 1, "one error line: {}", r.err);
    assert!(refused[0].contains("CAP_SYS_TIME"), "{}", refused[0]);
    let back = r
        .err
        .lines()
        .find_map(|l| {
            l.split("the clock accepts keel's writes again, after ")
                .nth(1)
        })
        .unwrap_or_else(|| panic!("no recovery line: {}", r.err));
    let n: u64 = back.split(' ').next().unwrap().parse().unwrap();
    // About three writes an update (frequency, status, ...) for 60 s.
    assert!(n >= 60, "{n} refused: {}", r.err);
    ends_locked(&r);
    // Refused writes restart the servo, which re-reads sooner: a few
    // updates more, none late.
    assert!(no_update_late(&r.csv, INTERVAL_S, &[], 600.0) >= 606);

    // Counted where an operator looks, while it lasts: a live daemon (20×
    // real time) whose writes are refused from 30 s of its 90 s on.
    let addr = free_loopback_addr();
    let d = Daemon::start(
        "eperm-count",
        &[
            "--scenario",
            "eperm",
            "--duration",
            "90s",
            "--metrics",
            &addr,
        ],
    );
    let j = wait_for_updates(&d.sock(), 60);
    let refused: u64 = j
        .split("\"clock_writes_refused\":")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no clock_writes_refused: {j}"));
    assert!(refused >= 10, "{j}");
    let m = get_metrics(&addr);
    let metric: u64 = m
        .lines()
        .find_map(|l| l.strip_prefix("keel_clock_writes_refused_total "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no keel_clock_writes_refused_total: {m}"));
    assert!(metric >= refused, "{m}");
    let (st, err) = d.wait();
    assert!(st.success(), "{err}");
}

/// The command `keel` without the capabilities that let root ignore file
/// permissions (`CAP_DAC_OVERRIDE`, `CAP_DAC_READ_SEARCH`, dropped from its
/// bounding set), so that a read-only directory is read-only to it too.
/// `None` when they cannot be dropped here (then a root child would write
/// anyway).
fn keel_without_dac_override() -> Option<Command> {
    // SAFETY: geteuid(2) cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some(keel());
    }
    // Can this process drop them (CAP_SETPCAP)? Tried in a child first.
    let probe = Command::new("/bin/true").pre_exec_drop_dac().status();
    if !probe.is_ok_and(|s| s.success()) {
        return None;
    }
    let mut c = keel();
    c.pre_exec_drop_dac();
    Some(c)
}

trait DropDac {
    fn pre_exec_drop_dac(&mut self) -> &mut Self;
}

impl DropDac for Command {
    fn pre_exec_drop_dac(&mut self) -> &mut Self {
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            self.pre_exec(|| {
                // CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH (linux/capability.h).
                for cap in [1_u64, 2] {
                    if libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            })
        }
    }
}

/// A state file learnt on this (simulated) machine: −50,000 ppb ± 4.5.
fn good_state(path: &Path) -> Vec<u8> {
    write_state(path, -50_000.0, 4.5, 1_700_000_000, Some(SIM_ORIGIN));
    std::fs::read(path).unwrap()
}

/// A configuration that saves the state file every 60 updates.
fn save_often(dir: &Path) -> PathBuf {
    let cfg = dir.join("keel.toml");
    std::fs::write(&cfg, "state_save_updates = 60\n").unwrap();
    cfg
}

/// The state file's directory is read-only when keel saves: each save
/// fails with a warning naming the path and the reason, keel keeps
/// running (every update on time, locked at the end, exit status 0), and
/// the state file is left as it was (no temporary left beside it).
#[test]
fn state_directory_read_only_on_save() {
    let Some(c) = keel_without_dac_override() else {
        common::skip::skip(
            "fault_matrix state_directory_read_only_on_save",
            "running as root without CAP_SETPCAP: cannot drop CAP_DAC_OVERRIDE, so no directory is read-only to keel",
        );
        return;
    };
    let dir = tmpdir("ro-state");
    let ro = dir.join("ro");
    std::fs::create_dir(&ro).unwrap();
    let st = ro.join("state");
    let before = good_state(&st);
    let cfg = save_often(&dir);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    let r = sim_with(
        c,
        &dir,
        "standard",
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--state-file",
            st.to_str().unwrap(),
            "--duration",
            "300s",
        ],
    );
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(
        r.err
            .contains("starting from the saved frequency -50000.000 ppb"),
        "{}",
        r.err
    );
    let warning = format!(
        "keel: warning: {}: cannot save the state file: Permission denied (os error 13) (check the directory is writable by keel's user, or set state_file = \"\"); the old file is kept, and the next save tries again",
        st.display()
    );
    // Every 60 updates, and at the end.
    assert!(r.err.matches(&warning).count() >= 4, "{}", r.err);
    assert_eq!(
        std::fs::read(&st).unwrap(),
        before,
        "the state file is untouched"
    );
    assert_eq!(
        std::fs::read_dir(&ro).unwrap().count(),
        1,
        "no temporary left"
    );
    ends_locked(&r);
    no_update_late(&r.csv, INTERVAL_S, &[], 300.0);
}

/// The disk fills while keel saves its state. ENOSPC itself needs a full
/// file system (a mount this test will not make; the guest lab's
/// `fault-state` fills a tmpfs), so the same failing
/// write is made with `RLIMIT_FSIZE` = 64 bytes: the temporary file's write
/// fails with EFBIG ("File too large") part-way. Expected: a warning naming
/// the path and the reason, keel keeps running, the old state file is
/// untouched (the partial temporary is removed).
#[test]
fn state_file_write_fails_on_save_disk_full() {
    let dir = tmpdir("full-state");
    let st = dir.join("state");
    let before = good_state(&st);
    let cfg = save_often(&dir);
    let mut c = keel();
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        c.pre_exec(|| {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let lim = libc::rlimit {
                rlim_cur: 64,
                rlim_max: 64,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &raw const lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    // No trace (it would not fit in 64 bytes either): the end table counts.
    let out = {
        let o = finish(
            c.args([
                "sync",
                "--clock",
                "sim",
                "--speed",
                "max",
                "--duration",
                "300s",
                "--config",
                cfg.to_str().unwrap(),
                "--state-file",
                st.to_str().unwrap(),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
            LIMIT,
        );
        let (out, err) = text(&o);
        assert!(o.status.success(), "{out}{err}");
        let warning = format!(
            "keel: warning: {}: cannot save the state file: File too large (os error 27) (check the directory exists and is writable, or set state_file = \"\"); the old file is kept, and the next save tries again",
            st.display()
        );
        assert!(err.matches(&warning).count() >= 4, "{err}");
        out
    };
    assert_eq!(
        std::fs::read(&st).unwrap(),
        before,
        "the state file is untouched"
    );
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        2,
        "no temporary left"
    );
    assert!(row(&out, "state at the end").starts_with("locked"), "{out}");
    // 300 s: six more with the quarter-second readings of the start.
    assert_eq!(counts(&out).0, 306, "{out}");
}

/// A state file that is corrupt, another program's, saved for another
/// clock, or confidently wrong. The first three are ignored with a message
/// naming the path and why; the wrong one (0 ppb ± 4.5 ppb, learnt "here",
/// where the clock needs −50,000 ppb) is used, found wrong by the servo and
/// learnt again. Every run locks, on time, and the file is rewritten good.
#[test]
fn state_file_corrupt_foreign_or_wrong() {
    let dir = tmpdir("bad-state");
    let st = dir.join("state");
    let s = st.to_str().unwrap();
    let good = String::from_utf8(good_state(&st)).unwrap();
    let body = &good[..good.rfind("check ").unwrap()];
    let signed = |body: &str| format!("{body}check {:016x}\n", fnv1a(body));
    let cases = [
        (
            "corrupt",
            good.replace("freq_ppb -", "freq_ppb +"),
            "state file is corrupt (checksum mismatch); ignoring it".to_string(),
        ),
        (
            "foreign (chrony's drift file)",
            "-12.345 0.678\n".to_string(),
            "state file is not keel's (it does not begin with `keel-state`: another program's file?); ignoring it".to_string(),
        ),
        (
            "saved for another clock",
            signed(&body.replace("sink CLOCK_REALTIME", "sink PHC sink (/dev/ptp1)")),
            "the state file was saved for PHC sink (/dev/ptp1), not for CLOCK_REALTIME; ignoring it".to_string(),
        ),
        (
            "wrong",
            signed(&body.replace("freq_ppb -50000.000", "freq_ppb 0.000")),
            "starting from the saved frequency +0.000 ppb (± 4.500 ppb)".to_string(),
        ),
    ];
    for (name, content, said) in cases {
        std::fs::write(&st, content).unwrap();
        let r = sim_in(&dir, "standard", &["--state-file", s]);
        assert!(r.err.contains(&format!("{s}: {said}")), "{name}: {}", r.err);
        ends_locked(&r);
        let freq: f64 = row(&r.out, "final frequency")
            .trim_end_matches(" ppb")
            .parse()
            .unwrap();
        assert!((-50_500.0..-49_500.0).contains(&freq), "{name}: {}", r.out);
        no_update_late(&r.csv, INTERVAL_S, &[], 600.0);
        let saved = std::fs::read_to_string(&st).unwrap();
        assert!(
            saved.starts_with("keel-state 3\n") && saved.contains("\nsink CLOCK_REALTIME\n"),
            "{name}: rewritten good: {saved}"
        );
    }
}

/// `kill -STOP` for 10 minutes of simulated time, then `kill -CONT` (at
/// `--speed 200`, so 3 s stopped are 600 s of the simulated world). The
/// process being stopped is not a suspend (`CLOCK_BOOTTIME −
/// CLOCK_MONOTONIC` does not grow), so no disruption is reported; the
/// simulated clocks ran on, and keel makes every update it owes: nothing
/// lost, none late in the trace, status answers again, the run ends
/// locked. (A real stop, where the kernel runs the clock on keel's last
/// frequency and keel's next update comes late, is the guest lab's
/// `fault-sigstop`: tests/e2e/guest/init.)
#[test]
fn sigstop_then_sigcont() {
    let csv = tmpdir("sigstop-trace").join("trace.csv");
    let d = Daemon::start(
        "sigstop",
        &[
            "--speed",
            "200",
            "--duration",
            "1200s",
            "--csv",
            csv.to_str().unwrap(),
        ],
    );
    let j = wait_for_updates(&d.sock(), 10);
    let before = updates_of(&j);
    // The RMS offset status gives is the clock's since the start's step
    // (the 0.5 s reading that called for it is not in it).
    let rms: f64 = j
        .split("\"rms_offset_ns\":")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no rms_offset_ns: {j}"));
    assert!(rms < 1e6, "{j}");
    d.signal(libc::SIGSTOP);
    std::thread::sleep(Duration::from_secs(3));
    d.signal(libc::SIGCONT);
    // The 600 s it owes.
    wait_for_updates(&d.sock(), before + 600);
    let (st, err) = d.wait();
    assert!(st.success(), "{err}");
    assert!(!err.contains("disruption"), "{err}");
    assert!(last_state(&csv).starts_with("locked"));
    no_update_late(&csv, INTERVAL_S, &[], 1200.0);
}

/// The `updates` count of a status JSON answer.
fn updates_of(json: &str) -> u64 {
    json.split("\"updates\":")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// Another process steps the clock by 1 ms, or rewrites its frequency
/// (chronyd, phc2sys): keel reports the interference (what changed, and
/// whom to stop), the servo re-acquires, and the run ends locked with
/// every update on time.
#[test]
fn another_process_steps_and_dials_the_clock() {
    let dir = tmpdir("interference");
    let r = sim_in(&dir, "interference", &[]);
    assert!(
        r.err
            .contains("clock interference: the kernel frequency is +0.000 ppb but keel wrote ")
            && r.err
                .contains("(stop it: chronyd, ntpd, systemd-timesyncd, phc2sys)"),
        "{}",
        r.err
    );
    assert!(
        r.err
            .contains("disruption: another process changed the clock frequency"),
        "{}",
        r.err
    );
    assert_eq!(failures(&r.out).1, 1, "{}", r.out);
    ends_locked(&r);
    no_update_late(&r.csv, INTERVAL_S, &[], 600.0);
    let r = sim_in(&dir, "clock-step", &[]);
    assert!(
        r.err.contains(
            "clock interference: the system clock jumped by 1.050 ms that keel did not make (another process stepped it?)"
        ),
        "{}",
        r.err
    );
    assert_eq!(failures(&r.out).1, 1, "{}", r.out);
    ends_locked(&r);
    no_update_late(&r.csv, INTERVAL_S, &[], 600.0);
}

/// The guest is suspended for 30 s (the simulated kernel's clocks stop):
/// keel notices the suspend (`CLOCK_BOOTTIME − CLOCK_MONOTONIC` grew),
/// counts a disruption, steps the clock back and ends locked. No update
/// is late except across the 30 s the guest did not run.
#[test]
fn guest_suspend_and_resume() {
    let r = sim_in(&tmpdir("suspend"), "suspend", &[]);
    assert!(
        r.err.contains(
            "disruption: suspend/resume or pause detected (CLOCK_BOOTTIME − CLOCK_MONOTONIC grew by 30.000 s)"
        ),
        "{}",
        r.err
    );
    assert_eq!(counts(&r.out).2, 1, "{}", r.out);
    ends_locked(&r);
    no_update_late(&r.csv, INTERVAL_S, &[(200.0, 30.0)], 600.0);
}

/// A live migration (+50 ppm, 1 s pause, signalled by the platform): a
/// disruption, re-acquired within seconds, locked at the end, no update
/// late (the 1 s pause is within one interval).
#[test]
fn live_migration() {
    let r = sim_in(&tmpdir("migration"), "migration", &[]);
    assert!(
        r.err.contains("disruption: live migration signalled"),
        "{}",
        r.err
    );
    assert_eq!(counts(&r.out).2, 1, "{}", r.out);
    ends_locked(&r);
    no_update_late(&r.csv, INTERVAL_S, &[], 600.0);
}

/// SIGHUP with a configuration file that is broken: the running
/// configuration stays (here its 0.5 s interval: updates stay 0.5 s
/// apart), a clear error names the file, line and key, and the daemon keeps
/// running and answering.
#[test]
fn sighup_with_a_broken_config_keeps_the_old_one() {
    let dir = tmpdir("hup-broken");
    let cfg = dir.join("keel.toml");
    let csv = dir.join("trace.csv");
    std::fs::write(&cfg, "interval = 0.5\n").unwrap();
    let d = Daemon::start(
        "hup-broken-daemon",
        &[
            "--config",
            cfg.to_str().unwrap(),
            "--duration",
            "60s",
            "--csv",
            csv.to_str().unwrap(),
        ],
    );
    let before = updates_of(&wait_for_updates(&d.sock(), 5));
    std::fs::write(&cfg, "interval = \"fast\"\n").unwrap();
    d.signal(libc::SIGHUP);
    // Still running, still answering.
    wait_for_updates(&d.sock(), before + 10);
    let (st, err) = d.wait();
    assert!(st.success(), "{err}");
    assert!(
        err.contains(&format!(
            "keel: error: configuration not reloaded, keeping the running one: {}:1: key `interval`: ",
            cfg.display()
        )),
        "{err}"
    );
    let n = no_update_late(&csv, 0.5, &[], 60.0);
    assert!(n >= 120, "{n} updates in 60 s at 0.5 s");
}

/// 50 idle connections held open on the status socket and 50 on the
/// metrics endpoint: `keel status` and a scrape still answer within 2 s,
/// updates go on, none late.
#[test]
fn status_and_metrics_floods() {
    let csv = tmpdir("flood-trace").join("trace.csv");
    let addr = free_loopback_addr();
    let d = Daemon::start(
        "flood",
        &[
            "--metrics",
            &addr,
            "--duration",
            "100s",
            "--csv",
            csv.to_str().unwrap(),
        ],
    );
    let before = updates_of(&wait_for_updates(&d.sock(), 3));
    let idle_status: Vec<_> = (0..50)
        .map(|_| std::os::unix::net::UnixStream::connect(d.sock()).unwrap())
        .collect();
    let idle_metrics: Vec<_> = (0..50)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    for _ in 0..3 {
        let t = Instant::now();
        let o = keel()
            .args(["status", "--socket", d.sock().to_str().unwrap()])
            .output()
            .unwrap();
        assert!(o.status.success(), "{:?}", text(&o));
        assert!(text(&o).0.contains("Frequency       : "), "{:?}", text(&o));
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "status: {:?}",
            t.elapsed()
        );
        let t = Instant::now();
        let resp = get_metrics(&addr);
        assert!(resp.starts_with("HTTP/1.0 200 OK\r\n"), "{resp}");
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "scrape: {:?}",
            t.elapsed()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // Updates went on meanwhile.
    wait_for_updates(&d.sock(), before + 20);
    let (st, err) = d.wait();
    drop((idle_status, idle_metrics));
    assert!(st.success(), "{err}");
    no_update_late(&csv, INTERVAL_S, &[], 100.0);
}

/// stderr is a pipe nobody reads: once it is full, keel holds 64 KiB of
/// log lines, then drops lines (counting them) rather than block, so
/// updates go on. A 3-hour run at full speed logs about 1 MiB (one line an
/// update); it finishes, with every update on time in the trace. (It used
/// to stop for ever at the first write that did not fit.)
#[test]
fn a_full_log_pipe_does_not_stall_the_daemon() {
    let dir = tmpdir("log-pipe");
    let csv = dir.join("trace.csv");
    let mut child = keel()
        .args([
            "sync",
            "--clock",
            "sim",
            "--speed",
            "max",
            "--duration",
            "3h",
            "--summary",
            "0",
            "--csv",
            csv.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The pipe is never read while keel runs.
    let stuck = child.stderr.take().unwrap();
    let t = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if t.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "stalled: {} updates in the trace after 30 s",
                update_times(&csv).len()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(stuck);
    assert!(status.success());
    assert_eq!(no_update_late(&csv, INTERVAL_S, &[], 3.0 * 3600.0), 10_806);
}

/// (Not a fault: a check that [`no_update_late`] would catch a late
/// update, so that the matrix cannot pass by accident.)
#[test]
fn the_lateness_check_catches_a_late_update() {
    let dir = tmpdir("late");
    let csv = dir.join("late.csv");
    std::fs::write(
        &csv,
        "t_s,measured_offset_ns,freq_ppb,delay_ns,error_bound_ns,true_offset_ns,true_freq_error_ppb,state\n\
         1,0,0,0,0,0,0,locked\n2,0,0,0,0,0,0,locked\n4.5,0,0,0,0,0,0,locked\n5,0,0,0,0,0,0,locked\n",
    )
    .unwrap();
    let late = std::panic::catch_unwind(|| no_update_late(&csv, 1.0, &[], 5.0));
    assert!(late.is_err());
    assert_eq!(no_update_late(&csv, 1.0, &[(3.0, 1.0)], 5.0), 4);
}

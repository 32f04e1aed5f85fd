//! The command line: every command has `--help`, usage errors all read the
//! same way, and the configuration file is read as TOML (issue 18 §4).

use std::process::Output;

mod common;

use common::{text, tmpdir};

fn keel(args: &[&str]) -> Output {
    common::keel().args(args).output().unwrap()
}

#[test]
fn every_command_has_help() {
    for (args, first) in [
        (&["--help"][..], "keel — steer the system clock"),
        (&["-h"][..], "keel — steer the system clock"),
        (&[][..], "keel — steer the system clock"),
        (&["help"][..], "keel — steer the system clock"),
        (&["sync", "--help"][..], "keel sync: run the daemon"),
        (
            &["sync", "--clock", "sim", "-h"][..],
            "keel sync: run the daemon",
        ),
        (&["help", "sync"][..], "keel sync: run the daemon"),
        (
            &["status", "--help"][..],
            "keel status: the running daemon's state",
        ),
        (
            &["help", "status"][..],
            "keel status: the running daemon's state",
        ),
        (&["phc", "--help"][..], "keel phc: the PTP hardware clocks"),
        (
            &["phc", "compare", "--help"][..],
            "keel phc: the PTP hardware clocks",
        ),
        (
            &["phc", "list", "-h"][..],
            "keel phc: the PTP hardware clocks",
        ),
    ] {
        let o = keel(args);
        let (out, err) = text(&o);
        assert!(o.status.success(), "{args:?}: {err}");
        assert!(out.starts_with(first), "{args:?}: {out}");
        assert!(err.is_empty(), "{args:?}: {err}");
    }
    let (out, _) = text(&keel(&["--version"]));
    assert!(out.starts_with("keel "), "{out}");
    // The scenario list is the catalogue's.
    let (out, _) = text(&keel(&["sync", "--help"]));
    for name in ["standard (default)", "slow-syscalls", "interference"] {
        assert!(out.contains(name), "{name} in {out}");
    }
}

#[test]
fn usage_errors_name_the_command_and_its_help() {
    for (args, want) in [
        (
            &["sync", "--bogus"][..],
            "keel sync: unknown option `--bogus`\nTry `keel sync --help`.",
        ),
        (
            &["sync", "--seed"][..],
            "keel sync: --seed needs a value\nTry `keel sync --help`.",
        ),
        (
            &["sync", "--clock", "sim", "--scenario", "nope"][..],
            "keel sync: unknown scenario \"nope\"; expected one of: standard, noisy, outliers, freq-step, migration, migration-silent, clock-step, suspend, outage, busy, slow-syscalls, interference, eperm\nTry `keel sync --help`.",
        ),
        (
            &["status", "--verbose"][..],
            "keel status: unknown option `--verbose`\nTry `keel status --help`.",
        ),
        (
            &["status", "--json=yes"][..],
            "keel status: --json takes no value (got `yes`)\nTry `keel status --help`.",
        ),
        (
            &["phc", "compare"][..],
            "keel phc: compare needs a DEVICE, e.g. /dev/ptp0\nTry `keel phc --help`.",
        ),
        (
            &["phc", "compare", "/dev/ptp0", "--count", "x"][..],
            "keel phc: --count x: expected a positive integer\nTry `keel phc --help`.",
        ),
        (
            &["phc", "list", "--count", "2"][..],
            "keel phc: unknown option `--count`\nTry `keel phc --help`.",
        ),
        (
            &["phc", "remove"][..],
            "keel phc: unknown command `remove`; expected list, compare or pps\nTry `keel phc --help`.",
        ),
        (
            &["start"][..],
            "keel: unknown command `start`; expected sync, status, sources, waitsync, phc or monitor\nTry `keel --help`.",
        ),
        (
            &["--verbose"][..],
            "keel: unknown option `--verbose`\nTry `keel --help`.",
        ),
    ] {
        let o = keel(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert_eq!(text(&o).1.trim_end(), want, "{args:?}");
    }
}

#[test]
fn the_configuration_file_is_any_valid_toml() {
    let dir = tmpdir("toml");
    let p = dir.join("keel.toml");
    std::fs::write(
        &p,
        "\u{feff}# keel\n\"summary_updates\" = 0x0\nlog_level = '''warning'''\nservo = \"\\u0070i\"\n",
    )
    .unwrap();
    let o = keel(&[
        "sync",
        "--clock",
        "sim",
        "--speed",
        "max",
        "--duration",
        "20s",
        "--config",
        p.to_str().unwrap(),
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(err.is_empty(), "warning level hides info lines: {err}");
    assert!(out.contains("servo") && out.contains("pi"), "{out}");
    // Not UTF-8: the line and the fix, not a read error.
    std::fs::write(&p, b"# keel\n\n# caf\xe9\n").unwrap();
    let o = keel(&["sync", "--clock", "sim", "--config", p.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        text(&o).1.trim_end(),
        format!(
            "keel: {}:3: not UTF-8 text (byte 0xe9 at column 6): a TOML file is UTF-8; convert it, e.g. `iconv -f latin1 -t utf-8`",
            p.display()
        )
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_sync_option_is_taken() {
    let dir = tmpdir("options");
    let d = |f: &str| dir.join(f).to_str().unwrap().to_string();
    let cfg = d("keel.toml");
    std::fs::write(&cfg, "summary_updates = 5\n").unwrap();
    let (csv, svg, sock) = (d("t.csv"), d("t.svg"), d("keel.sock"));
    let o = keel(&[
        "sync",
        "--config",
        &cfg,
        "--clock",
        "sim",
        "--dry-run",
        "--source",
        "/dev/ptp0",
        "--sink",
        "igb",
        "--interval",
        "0.5",
        "--samples",
        "7",
        "--read-method",
        "basic",
        "--servo",
        "pi",
        "--step",
        "never",
        "--step-threshold",
        "0.001",
        "--step-limit",
        "3",
        "--state-file",
        "",
        "--status-socket",
        &sock,
        "--metrics",
        "127.0.0.1:0",
        "--summary",
        "0",
        "--log-level",
        "warning",
        "--duration",
        "1m",
        "--scenario",
        "noisy",
        "--seed",
        "7",
        "--speed",
        "max",
        "--csv",
        &csv,
        &format!("--svg={svg}"),
    ]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    for row in [
        "| scenario ",
        "| noisy ",
        "| 7 / 60 s / max ",
        "| pi ",
        "PTP_SYS_OFFSET ",
    ] {
        assert!(out.contains(row), "{row} in {out}");
    }
    assert!(std::fs::metadata(&csv).unwrap().len() > 0);
    assert!(std::fs::metadata(&svg).unwrap().len() > 0);
    // Options of the simulation need it; each usage error says which.
    for (args, want) in [
        (
            &["sync", "--speed", "2"][..],
            "keel sync: --csv, --svg and --speed belong to --clock sim",
        ),
        (&["sync", "-x"][..], "keel sync: unknown option `-x`"),
        (&["sync", "now"][..], "keel sync: unexpected argument `now`"),
        (
            &["sync", "--dry-run=yes"][..],
            "keel sync: --dry-run takes no value (got `yes`)",
        ),
        (
            &["sync", "--clock", "sim", "--speed", "0"][..],
            "keel sync: --speed 0: expected `max` or a positive factor (1 = real time)",
        ),
        (
            &["sync", "--clock", "sim", "--duration", "5x"][..],
            "keel sync: --duration 5x: expected a positive time such as 600s, 10m, 2h or 1d",
        ),
    ] {
        let o = keel(args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        let err = text(&o).1;
        assert!(
            err.starts_with(&format!("{want}\nTry `keel sync --help`.")),
            "{args:?}: {err}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

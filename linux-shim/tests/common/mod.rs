//! What the `keel` binary's integration tests share. Every child runs with
//! `KEEL_FORBID_CLOCK_WRITES=1`, so even a mistake cannot touch this
//! machine's clock.

#![allow(dead_code, reason = "each test file uses what it needs")]

use std::path::PathBuf;
use std::process::{Command, Output};

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

//! keel's one convention for tests that cannot run (issue 18 §5): a green
//! `./test.sh` must never hide that a test did not run.
//!
//! - [`skip`]: the test cannot run on this machine (no root, no network, a
//!   package missing). Under `CI=true` that is a failure (a panic with the
//!   reason). Elsewhere it is a loud line on stderr, past the test harness's
//!   output capture, and a line in `$KEEL_SKIP_LOG`, which `./test.sh` prints
//!   in its final summary.
//! - [`elsewhere`]: the test needs what neither this machine nor CI's has (a
//!   real PHC), and another part of the CI run covers it, one that fails when
//!   it cannot run itself (the end-to-end lab's guest kernel). Never a
//!   failure; the same loud line and log entry, naming where it runs.
//!
//! The shell scripts follow the same rules through `tests/skip.sh`. This file
//! is also compiled into `keel-shim`'s integration tests (by `#[path]`), so it
//! uses `std` only.

use std::io::Write;

/// Is this a CI run (`CI=true` or `CI=1`, as CI services set it)?
pub fn in_ci() -> bool {
    matches!(std::env::var("CI").as_deref(), Ok("true" | "1"))
}

/// `test` cannot run here because of `reason`: a failure under `CI=true`,
/// a loud, logged skip elsewhere. Return from the test right after it.
///
/// # Panics
/// Under `CI=true`, with the reason.
pub fn skip(test: &str, reason: &str) {
    assert!(
        !in_ci(),
        "{test} cannot run: {reason} (CI=true: a test that cannot run is a failure)"
    );
    record(&format!("SKIP {test}: {reason}"));
}

/// `test` cannot run here because of `reason`, nor on CI's machine, and
/// `place` runs it in every CI run: logged, never a failure.
pub fn elsewhere(test: &str, reason: &str, place: &str) {
    record(&format!("ELSEWHERE {test}: {reason}; runs in {place}"));
}

/// Writes `line` to stderr directly (`eprintln!` in a passing test is
/// captured and never shown) and appends it to `$KEEL_SKIP_LOG` when set.
fn record(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "*** {line}");
    if let Some(path) = std::env::var_os("KEEL_SKIP_LOG") {
        // one write of one line with O_APPEND: lines from parallel tests
        // never interleave
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()));
        if let Err(e) = written {
            let _ = writeln!(
                std::io::stderr().lock(),
                "*** cannot append to KEEL_SKIP_LOG {}: {e}",
                std::path::Path::new(&path).display()
            );
        }
    }
}

//! `keel waitsync`: wait until keel's time page says the clock is
//! synchronised within a bound, for service ordering (like `chronyc
//! waitsync` and `ClockBound`'s `cbctl waitsync`). It reads the page as any
//! application does (`keel-client`), so it waits for exactly what
//! applications will see.

use std::path::Path;
use std::time::{Duration, Instant};

use keel_client::Clock;
use keel_core::engine::ServedStatus;

/// How often the page is read.
const POLL: Duration = Duration::from_millis(100);

/// `1us`, `250 ns`, `0.5ms`, `2s` → ns (a bare number is seconds).
pub fn parse_bound(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let scale = match unit.trim() {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" | "" => 1e9,
        _ => return None,
    };
    let v: f64 = num.parse().ok()?;
    let ns = v * scale;
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "range-checked"
    )]
    (ns.is_finite() && ns > 0.0 && ns < 1e18).then_some(ns as u64)
}

/// What one look at the page found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// Synchronised within the bound: the half-width, ns.
    Synced(u64),
    /// Not yet: why, in words.
    Waiting(String),
}

/// One look at the page at `path`: synchronised with a half-width of at
/// most `max_bound_ns` (any bound when `None`)?
pub fn look(path: &Path, max_bound_ns: Option<u64>) -> Seen {
    let clock = match Clock::open(path) {
        Ok(c) => c,
        Err(e) => return Seen::Waiting(format!("no time page yet ({e})")),
    };
    let iv = match clock.now() {
        Ok(iv) => iv,
        Err(e) => return Seen::Waiting(format!("the page cannot be read yet ({e})")),
    };
    let half = u64::try_from(iv.latest_ns.saturating_sub(iv.earliest_ns) / 2).unwrap_or(0);
    match iv.status {
        ServedStatus::Synchronized if max_bound_ns.is_none_or(|m| half <= m) => Seen::Synced(half),
        ServedStatus::Synchronized => Seen::Waiting(format!(
            "synchronised, but the bound ±{half} ns is wider than asked"
        )),
        s => Seen::Waiting(format!("the clock is {}", s.name())),
    }
}

/// Waits until [`look`] says synchronised, or `timeout` passes. Returns
/// the half-width and the time waited, or the last reason to wait.
///
/// # Errors
/// Timed out: the last reason, and how long was waited.
pub fn wait(
    path: &Path,
    max_bound_ns: Option<u64>,
    timeout: Option<Duration>,
) -> Result<(u64, Duration), (String, Duration)> {
    let start = Instant::now();
    loop {
        match look(path, max_bound_ns) {
            Seen::Synced(half) => return Ok((half, start.elapsed())),
            Seen::Waiting(why) => {
                if timeout.is_some_and(|t| start.elapsed() >= t) {
                    return Err((why, start.elapsed()));
                }
            }
        }
        std::thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_with_units() {
        assert_eq!(parse_bound("1us"), Some(1_000));
        assert_eq!(parse_bound("1µs"), Some(1_000));
        assert_eq!(parse_bound("250 ns"), Some(250));
        assert_eq!(parse_bound("0.5ms"), Some(500_000));
        assert_eq!(parse_bound("2"), Some(2_000_000_000));
        assert_eq!(parse_bound("2s"), Some(2_000_000_000));
        for bad in ["", "us", "1 parsec", "-1us", "0", "nan"] {
            assert_eq!(parse_bound(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_missing_page_is_waited_for() {
        let p = Path::new("/nonexistent/keel/time");
        assert!(matches!(look(p, None), Seen::Waiting(w) if w.starts_with("no time page yet")));
        let (why, waited) = wait(p, None, Some(Duration::from_millis(250))).unwrap_err();
        assert!(why.starts_with("no time page yet"), "{why}");
        assert!(waited >= Duration::from_millis(250));
    }
}

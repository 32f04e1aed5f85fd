//! Logging on stderr in a form journald understands: with `<N>` syslog
//! priority prefixes when stderr is connected to the journal
//! (`$JOURNAL_STREAM` is set by systemd), else `keel: level: message`.

use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::time::{Duration, Instant};

use crate::config::LogLevel;

static LEVEL: AtomicU8 = AtomicU8::new(LogLevel::Info as u8);
static JOURNAL: AtomicBool = AtomicBool::new(false);
/// What stderr could not take yet (a slow or stuck reader), and how many
/// lines did not fit.
static PENDING: Mutex<Pending> = Mutex::new(Pending {
    bytes: Vec::new(),
    dropped: 0,
});

/// Most bytes held for a stderr that does not take them (a pipe nobody
/// reads): then lines are dropped, and counted.
pub const PENDING_MAX: usize = 64 * 1024;

/// Longest a log line waits for a slow stderr reader when
/// [`PENDING_MAX`] bytes are already waiting (well within the daemon's
/// 100 ms for signals).
const FULL_WAIT: Duration = Duration::from_millis(50);

struct Pending {
    bytes: Vec<u8>,
    dropped: u64,
}

/// Sets the level and detects the journal.
pub fn init(level: LogLevel) {
    set_level(level);
    JOURNAL.store(
        std::env::var_os("JOURNAL_STREAM").is_some(),
        Ordering::Relaxed,
    );
}

/// Changes the level (SIGHUP).
pub fn set_level(level: LogLevel) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// Would a message at `level` be written?
pub fn enabled(level: LogLevel) -> bool {
    level as u8 <= LEVEL.load(Ordering::Relaxed)
}

/// One line at `level`.
pub fn write(level: LogLevel, msg: std::fmt::Arguments<'_>) {
    if !enabled(level) {
        return;
    }
    let journal = JOURNAL.load(Ordering::Relaxed);
    let line = format_line(level, journal, msg);
    // Logging must never stop the daemon: stderr is written only as far as
    // it takes bytes without blocking; the rest waits here for the next
    // line (or [`flush`]), and beyond [`PENDING_MAX`] (a pipe nobody reads)
    // lines are dropped, and counted in a warning once they fit again.
    let mut p = PENDING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if p.dropped == 0 && p.bytes.len() + line.len() > PENDING_MAX {
        // Full: a reader slower than keel gets a moment (a stuck one only
        // once, until it takes bytes again).
        drain(&mut p, FULL_WAIT);
    }
    if p.dropped > 0 {
        let note = format_line(
            LogLevel::Warning,
            journal,
            format_args!(
                "{} log lines dropped: stderr did not take them (nobody reads it?)",
                p.dropped
            ),
        );
        if p.bytes.len() + note.len() + line.len() <= PENDING_MAX {
            p.bytes.extend_from_slice(note.as_bytes());
            p.dropped = 0;
        }
    }
    if p.dropped == 0 && p.bytes.len() + line.len() <= PENDING_MAX {
        p.bytes.extend_from_slice(line.as_bytes());
    } else {
        p.dropped += 1;
    }
    drain(&mut p, Duration::ZERO);
}

/// Writes what stderr did not take yet, waiting at most `wait` for it to
/// take it (at exit: a slow reader still gets the last lines).
pub fn flush(wait: Duration) {
    let mut p = PENDING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    drain(&mut p, wait);
}

/// Writes pending bytes to stderr while `poll(2)` says it takes them, in
/// pieces of at most `PIPE_BUF` bytes (a writable pipe has room for one
/// whole), until `wait` has passed.
fn drain(p: &mut Pending, wait: Duration) {
    let deadline = Instant::now() + wait;
    let mut err = std::io::stderr().lock();
    while !p.bytes.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut fd = libc::pollfd {
            fd: libc::STDERR_FILENO,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid, writable pollfd.
        let ready = unsafe {
            libc::poll(
                &raw mut fd,
                1,
                i32::try_from(left.as_millis()).unwrap_or(i32::MAX),
            )
        };
        if ready != 1 || fd.revents & libc::POLLOUT == 0 {
            if ready == 1 && fd.revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0 {
                // Closed: nothing will take them.
                p.bytes.clear();
            }
            return;
        }
        let n = p.bytes.len().min(libc::PIPE_BUF);
        match err.write(&p.bytes[..n]) {
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) =>
            {
                return;
            }
            Ok(0) | Err(_) => {
                p.bytes.clear();
                return;
            }
            Ok(w) => {
                p.bytes.drain(..w);
            }
        }
    }
}

/// The formatted line (with its newline).
pub fn format_line(level: LogLevel, journal: bool, msg: std::fmt::Arguments<'_>) -> String {
    if journal {
        format!("<{}>{msg}\n", level as u8)
    } else {
        let name = match level {
            LogLevel::Error => "error",
            LogLevel::Warning => "warning",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
        };
        format!("keel: {name}: {msg}\n")
    }
}

/// Logs at error level.
#[macro_export]
macro_rules! error { ($($a:tt)*) => { $crate::log::write($crate::config::LogLevel::Error, format_args!($($a)*)) } }
/// Logs at warning level.
#[macro_export]
macro_rules! warn { ($($a:tt)*) => { $crate::log::write($crate::config::LogLevel::Warning, format_args!($($a)*)) } }
/// Logs at info level.
#[macro_export]
macro_rules! info { ($($a:tt)*) => { $crate::log::write($crate::config::LogLevel::Info, format_args!($($a)*)) } }
/// Logs at debug level.
#[macro_export]
macro_rules! debug { ($($a:tt)*) => { $crate::log::write($crate::config::LogLevel::Debug, format_args!($($a)*)) } }

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_and_plain_forms() {
        assert_eq!(
            format_line(LogLevel::Warning, true, format_args!("x {}", 1)),
            "<4>x 1\n"
        );
        assert_eq!(
            format_line(LogLevel::Info, false, format_args!("y")),
            "keel: info: y\n"
        );
        assert_eq!(
            format_line(LogLevel::Error, true, format_args!("z")),
            "<3>z\n"
        );
    }
}

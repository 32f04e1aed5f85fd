//! Logging on stderr in a form journald understands: with `<N>` syslog
//! priority prefixes when stderr is connected to the journal
//! (`$JOURNAL_STREAM` is set by systemd), else `keel: level: message`.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

use crate::config::LogLevel;

static LEVEL: AtomicU8 = AtomicU8::new(LogLevel::Info as u8);
static JOURNAL: AtomicBool = AtomicBool::new(false);
/// Lines not written because stderr could not take them at once.
static DROPPED: AtomicU64 = AtomicU64::new(0);

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
    // Logging must never stop the daemon: a full or closed stderr (a pipe
    // nobody reads) drops lines instead of blocking, and says so once it
    // can be written again.
    let dropped = DROPPED.swap(0, Ordering::Relaxed);
    if dropped > 0 {
        let note = format_line(
            LogLevel::Warning,
            journal,
            format_args!(
                "{dropped} log lines dropped: stderr could not take them (nobody reads it?)"
            ),
        );
        if !write_now(note.as_bytes()) {
            DROPPED.fetch_add(dropped + 1, Ordering::Relaxed);
            return;
        }
    }
    if !write_now(line.as_bytes()) {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

/// Writes `bytes` to stderr if it takes them without blocking: each piece of
/// at most `PIPE_BUF` bytes only once `poll(2)` says stderr is writable (a
/// pipe then has room for it whole). False when some of it was not written.
fn write_now(bytes: &[u8]) -> bool {
    let mut err = std::io::stderr().lock();
    for piece in bytes.chunks(libc::PIPE_BUF) {
        let mut p = libc::pollfd {
            fd: libc::STDERR_FILENO,
            events: libc::POLLOUT,
            revents: 0,
        };
        // SAFETY: one valid, writable pollfd.
        let ready = unsafe { libc::poll(&raw mut p, 1, 0) };
        if ready != 1 || p.revents & libc::POLLOUT == 0 || err.write_all(piece).is_err() {
            return false;
        }
    }
    true
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

//! Logging on stderr in a form journald understands: with `<N>` syslog
//! priority prefixes when stderr is connected to the journal
//! (`$JOURNAL_STREAM` is set by systemd), else `keel: level: message`.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use crate::config::LogLevel;

static LEVEL: AtomicU8 = AtomicU8::new(LogLevel::Info as u8);
static JOURNAL: AtomicBool = AtomicBool::new(false);

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
    let line = format_line(level, JOURNAL.load(Ordering::Relaxed), msg);
    // Logging must never stop the daemon: a full or closed stderr is ignored.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
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

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
/// What stderr could not take yet (a slow or stuck reader).
static PENDING: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Most bytes held for a stderr that does not take them (a pipe nobody
/// reads): beyond it the oldest whole lines are dropped, so the newest
/// (the last words before a stop) always get out, behind a note that says
/// how many went missing.
pub const PENDING_MAX: usize = 64 * 1024;

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
    // Logging must never stop or delay the daemon: stderr is written only
    // as far as it takes bytes without blocking, the rest waits here for the
    // next line (or [`flush`]).
    let mut p = PENDING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let dropped = make_room(&mut p, line.len() + NOTE_ROOM);
    if dropped > 0 {
        let note = format_line(
            LogLevel::Warning,
            journal,
            format_args!(
                "{dropped} log lines dropped: stderr did not take them (nobody reads it?)"
            ),
        );
        p.extend_from_slice(note.as_bytes());
    }
    if p.len() + line.len() <= PENDING_MAX {
        p.extend_from_slice(line.as_bytes());
    }
    drain(&mut p, Duration::ZERO);
}

/// Room kept for the dropped-lines note, bytes.
const NOTE_ROOM: usize = 128;

/// Drops the oldest whole lines of `pending` until `need` more bytes fit
/// under [`PENDING_MAX`]; the first line stays (stderr may hold its start).
/// Returns how many lines were dropped.
fn make_room(pending: &mut Vec<u8>, need: usize) -> usize {
    let excess = (pending.len() + need).saturating_sub(PENDING_MAX);
    if excess == 0 {
        return 0;
    }
    let head = pending
        .iter()
        .position(|&b| b == b'\n')
        .map_or(pending.len(), |i| i + 1);
    let mut cut = head;
    let mut lines = 0;
    while cut - head < excess && cut < pending.len() {
        cut = pending[cut..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(pending.len(), |i| cut + i + 1);
        lines += 1;
    }
    pending.drain(head..cut);
    lines
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
fn drain(p: &mut Vec<u8>, wait: Duration) {
    let deadline = Instant::now() + wait;
    let mut err = std::io::stderr().lock();
    while !p.is_empty() {
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
                p.clear();
            }
            return;
        }
        let n = p.len().min(libc::PIPE_BUF);
        match err.write(&p[..n]) {
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) =>
            {
                return;
            }
            Ok(0) | Err(_) => {
                p.clear();
                return;
            }
            Ok(w) => {
                p.drain(..w);
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

    #[test]
    fn a_full_buffer_drops_its_oldest_whole_lines_and_keeps_the_first() {
        let line = |i: usize| format!("line {i:05} {}\n", "x".repeat(90));
        let mut p: Vec<u8> = (0..600).flat_map(|i| line(i).into_bytes()).collect();
        // The first line is partly written already.
        p.drain(..10);
        let before = p.len();
        assert!(before < PENDING_MAX);
        assert_eq!(make_room(&mut p, 100), 0);
        assert_eq!(p.len(), before);
        let need = PENDING_MAX - before + 250;
        let dropped = make_room(&mut p, need);
        // 250 bytes over: three 102-byte lines go, right after the first.
        assert_eq!(dropped, 3);
        assert!(p.len() + need <= PENDING_MAX);
        let text = String::from_utf8(p).unwrap();
        let mut lines = text.lines();
        assert!(lines.next().unwrap().ends_with(&"x".repeat(90)));
        assert!(lines.next().unwrap().starts_with("line 00004 "));
        assert!(text.ends_with(&line(599)));
    }

    #[test]
    fn a_need_larger_than_everything_empties_all_but_the_first_line() {
        let mut p = b"first\nsecond\nthird".to_vec();
        assert_eq!(make_room(&mut p, PENDING_MAX), 2);
        assert_eq!(p, b"first\n");
    }
}

//! Cutting a byte stream into NMEA lines in a fixed buffer.

use core::fmt;

/// Why a line was dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum LineError {
    /// The line did not end within the buffer's capacity; the bytes up to
    /// the next `$` or line end are skipped.
    TooLong,
    /// A `$` started a new sentence before the line ended: the partial line
    /// (a sentence cut short on the wire) is dropped, the new one kept.
    Interrupted,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::TooLong => "NMEA line longer than the buffer: dropped",
            Self::Interrupted => "NMEA line cut short by the next `$`: dropped",
        })
    }
}

impl core::error::Error for LineError {}

/// What a [`LineAssembler`] has seen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LineCounters {
    /// Lines handed out.
    pub lines: u64,
    /// Lines dropped as too long.
    pub too_long: u64,
    /// Lines dropped as cut short.
    pub interrupted: u64,
    /// Bytes outside any line (before a `$`), line ends excluded.
    pub garbage_bytes: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
enum State {
    /// Waiting for a `$`.
    Idle,
    /// Collecting a line.
    InLine,
    /// Dropping the rest of a too-long line.
    Skipping,
}

/// Cuts bytes into lines: from a `$` to the next `\r` or `\n`, at most `N`
/// bytes (`$` included, the line end not), in a buffer of its own.
///
/// Bytes before a `$` are garbage and counted; a line longer than `N` is
/// reported once and skipped; a `$` inside a line drops the partial line
/// and starts a new one. Feed it bytes as they come, split anywhere:
///
/// ```
/// use keel_core::wire::nmea::{LineAssembler, Repr};
///
/// let mut lines = LineAssembler::<96>::new();
/// let mut seen = 0;
/// for chunk in [&b"\x00noise$GPZDA,201530.00,04,07,20"[..], b"02,00,00*60\r\n$GPR"] {
///     for &b in chunk {
///         if let Some(Ok(line)) = lines.push(b) {
///             assert!(matches!(Repr::parse_bytes(line), Ok(Repr::Zda(_))));
///             seen += 1;
///         }
///     }
/// }
/// assert_eq!((seen, lines.counters().garbage_bytes), (1, 6));
/// ```
#[derive(Clone, Debug)]
pub struct LineAssembler<const N: usize> {
    buf: [u8; N],
    len: usize,
    state: State,
    counters: LineCounters,
}

impl<const N: usize> Default for LineAssembler<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> LineAssembler<N> {
    /// An empty assembler.
    pub const fn new() -> Self {
        Self {
            buf: [0; N],
            len: 0,
            state: State::Idle,
            counters: LineCounters {
                lines: 0,
                too_long: 0,
                interrupted: 0,
                garbage_bytes: 0,
            },
        }
    }

    /// Takes one byte. Returns a complete line (from `$`, without the line
    /// end) when this byte ends one, or the reason a line was dropped.
    pub fn push(&mut self, byte: u8) -> Option<Result<&[u8], LineError>> {
        match (self.state, byte) {
            (State::InLine, b'\r' | b'\n') => {
                self.state = State::Idle;
                self.counters.lines = self.counters.lines.saturating_add(1);
                Some(Ok(self.buf.get(..self.len).unwrap_or(&[])))
            }
            (_, b'\r' | b'\n') => {
                self.state = State::Idle;
                None
            }
            (state, b'$') => {
                self.start();
                (state == State::InLine).then(|| {
                    self.counters.interrupted = self.counters.interrupted.saturating_add(1);
                    Err(LineError::Interrupted)
                })
            }
            (State::InLine, b) => {
                if let Some(slot) = self.buf.get_mut(self.len) {
                    *slot = b;
                    self.len = self.len.saturating_add(1);
                    None
                } else {
                    self.state = State::Skipping;
                    self.counters.too_long = self.counters.too_long.saturating_add(1);
                    Some(Err(LineError::TooLong))
                }
            }
            (State::Skipping, _) => None,
            (State::Idle, _) => {
                self.counters.garbage_bytes = self.counters.garbage_bytes.saturating_add(1);
                None
            }
        }
    }

    fn start(&mut self) {
        if let Some(slot) = self.buf.get_mut(0) {
            *slot = b'$';
            self.len = 1;
            self.state = State::InLine;
        } else {
            // N = 0: every line is too long.
            self.len = 0;
            self.state = State::Skipping;
            self.counters.too_long = self.counters.too_long.saturating_add(1);
        }
    }

    /// Forgets a partial line (after a port is reopened, say).
    pub fn reset(&mut self) {
        self.len = 0;
        self.state = State::Idle;
    }

    /// What it has seen so far.
    pub const fn counters(&self) -> LineCounters {
        self.counters
    }
}

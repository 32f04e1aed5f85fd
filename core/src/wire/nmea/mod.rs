//! NMEA 0183 sentences from a GNSS receiver: RMC, ZDA and GGA, the ones
//! that name the UTC second a pulse per second marks.
//!
//! ```text
//! $GPRMC,123519.00,A,4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W,A*hh\r\n
//!  │ │   │         │ └──── fields 3–8: position, speed, course ───┘ │      │     │ └ checksum
//!  │ │   │         └ 2: status (A valid, V warning)      9: ddmmyy ┘      │     └ 12: mode
//!  │ │   └ 1: hhmmss.ss UTC                                 10–11: magnetic ┘
//!  │ └ formatter (RMC, ZDA, GGA, …)
//!  └ talker: GP GPS, GL GLONASS, GA Galileo, GB/BD BeiDou, GQ QZSS, GI NavIC, GN several
//! ```
//!
//! A sentence is `$`, an address, comma-separated fields, `*` and two hex
//! digits: the XOR of every byte between `$` and `*`. keel requires the
//! checksum (every timing receiver sends it) and printable ASCII.
//!
//! As for the other codecs, there are two layers: [`Sentence`] is a view over
//! one line (`&[u8]`, with or without its `\r\n`) that checks the framing and
//! reads fields in place; [`Repr`] is the parsed value: [`Rmc`], [`Zda`],
//! [`Gga`], or [`Repr::Other`] (any other sentence, kept as sent, never an
//! error). What keel does not interpret (position, speed, the time zone) is
//! kept as borrowed bytes, so nothing is copied and nothing is lost.
//! [`Repr::emit`] writes a sentence back, with its checksum and `\r\n`;
//! `parse(emit(r)) == r` for every parsed `r` (property tests and the `nmea`
//! fuzz target). [`LineAssembler`] cuts a byte stream (a serial port, a
//! socket) into lines in a fixed buffer.
//!
//! Times are UTC ([`TimeOfDay`], [`Date`], [`UtcDateTime`]); RMC's two-digit
//! year is read as 1980–2079 (GPS time begins in 1980). NMEA carries no leap
//! second warning; a receiver shows an inserted leap second as 23:59:60,
//! which [`TimeOfDay::is_leap_second`] reports.
//!
//! See the [module-level no-panic contract](super).

mod lines;

use core::fmt;

use crate::time::{Date, TimeOfDay, UtcDateTime};

pub use lines::{LineAssembler, LineCounters, LineError};

/// The longest sentence NMEA 0183 allows, `$` to `\n`. Receivers exceed it
/// (proprietary sentences, many decimals): size a [`LineAssembler`] above it.
pub const MAX_SENTENCE_LEN: usize = 82;

/// RMC's two-digit year `yy` is 19yy from this value up, else 20yy.
const RMC_CENTURY_PIVOT: u8 = 80;

/// A field of the sentences keel reads, named in errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Field {
    /// RMC field 1, UTC time `hhmmss[.s…]`.
    RmcTime,
    /// RMC field 2, status `A`/`V`.
    RmcStatus,
    /// RMC fields 3–8: latitude, N/S, longitude, E/W, speed, course.
    RmcNavigation,
    /// RMC field 9, date `ddmmyy`.
    RmcDate,
    /// RMC fields 10–11, magnetic variation and E/W.
    RmcMagnetic,
    /// RMC field 12, mode indicator (NMEA 2.3).
    RmcMode,
    /// RMC field 13, navigational status (NMEA 4.1).
    RmcNavStatus,
    /// ZDA field 1, UTC time.
    ZdaTime,
    /// ZDA fields 2–4, day, month, four-digit year.
    ZdaDate,
    /// ZDA fields 5–6, local zone hours and minutes.
    ZdaZone,
    /// GGA field 1, UTC time.
    GgaTime,
    /// GGA fields 2–5: latitude, N/S, longitude, E/W.
    GgaPosition,
    /// GGA field 6, fix quality.
    GgaQuality,
    /// GGA field 7, satellites in use.
    GgaSatellites,
    /// GGA fields 8 to the end: HDOP, altitude, geoid, age, station.
    GgaRest,
    /// The body of an [`Repr::Other`] sentence.
    OtherBody,
}

impl Field {
    /// The sentence's formatter and the 1-based field numbers, and what the
    /// field holds.
    pub const fn describe(self) -> (&'static str, u8, u8, &'static str) {
        match self {
            Self::RmcTime => ("RMC", 1, 1, "UTC time hhmmss.ss"),
            Self::RmcStatus => ("RMC", 2, 2, "status A or V"),
            Self::RmcNavigation => ("RMC", 3, 8, "position, speed and course"),
            Self::RmcDate => ("RMC", 9, 9, "date ddmmyy"),
            Self::RmcMagnetic => ("RMC", 10, 11, "magnetic variation"),
            Self::RmcMode => ("RMC", 12, 12, "mode indicator"),
            Self::RmcNavStatus => ("RMC", 13, 13, "navigational status"),
            Self::ZdaTime => ("ZDA", 1, 1, "UTC time hhmmss.ss"),
            Self::ZdaDate => ("ZDA", 2, 4, "day, month, year yyyy"),
            Self::ZdaZone => ("ZDA", 5, 6, "local zone"),
            Self::GgaTime => ("GGA", 1, 1, "UTC time hhmmss.ss"),
            Self::GgaPosition => ("GGA", 2, 5, "position"),
            Self::GgaQuality => ("GGA", 6, 6, "fix quality 0-8"),
            Self::GgaSatellites => ("GGA", 7, 7, "satellites in use"),
            Self::GgaRest => ("GGA", 8, 14, "HDOP, altitude, geoid, age, station"),
            Self::OtherBody => ("", 0, 0, "address and fields"),
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (sentence, first, last, what) = self.describe();
        match (first, last) {
            (0, _) => write!(f, "sentence body ({what})"),
            (a, b) if a == b => write!(f, "{sentence} field {a} ({what})"),
            (a, b) => write!(f, "{sentence} fields {a}-{b} ({what})"),
        }
    }
}

/// Why a line is not a valid sentence, or a [`Repr`] cannot be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Error {
    /// The line does not start with `$`.
    NoStart,
    /// The line does not end in `*` and two hex digits.
    NoChecksum,
    /// The checksum does not match the bytes.
    Checksum {
        /// The checksum in the sentence.
        sent: u8,
        /// The XOR of the bytes between `$` and `*`.
        computed: u8,
    },
    /// A byte that may not appear in a sentence (a control character, a byte
    /// above 0x7E, or `$`/`*` inside the body), at this offset in the line.
    BadByte {
        /// Offset from the `$`.
        at: usize,
    },
    /// The sentence ends before this field.
    MissingField(Field),
    /// This field is malformed or out of range (parse), or the [`Repr`]'s
    /// value cannot be written in it (emit).
    BadField(Field),
    /// The output buffer is shorter than [`Repr::buffer_len`].
    Truncated,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoStart => f.write_str("NMEA sentence does not start with `$`"),
            Self::NoChecksum => f.write_str("NMEA sentence does not end in `*hh` (checksum)"),
            Self::Checksum { sent, computed } => write!(
                f,
                "NMEA checksum {sent:02X} does not match the bytes ({computed:02X}): corrupted line"
            ),
            Self::BadByte { at } => write!(f, "NMEA sentence has a bad byte at offset {at}"),
            Self::MissingField(x) => write!(f, "NMEA {x} is missing"),
            Self::BadField(x) => write!(f, "NMEA {x} is malformed or out of range"),
            Self::Truncated => f.write_str("output buffer too short for the NMEA sentence"),
        }
    }
}

impl core::error::Error for Error {}

/// A talker: who speaks, the first two letters of the address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Talker(pub [u8; 2]);

/// The satellite system a [`Talker`] names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Constellation {
    /// `GP`.
    Gps,
    /// `GL`.
    Glonass,
    /// `GA`.
    Galileo,
    /// `GB` or `BD`.
    BeiDou,
    /// `GQ` or `QZ`.
    Qzss,
    /// `GI`.
    NavIc,
    /// `GN`: a fix from several systems.
    Combined,
    /// Any other talker (`II`, `IN`, …).
    Other,
}

impl Talker {
    /// `GP`.
    pub const GPS: Self = Self(*b"GP");
    /// `GN`.
    pub const GNSS: Self = Self(*b"GN");

    /// The satellite system.
    pub const fn constellation(self) -> Constellation {
        match &self.0 {
            b"GP" => Constellation::Gps,
            b"GL" => Constellation::Glonass,
            b"GA" => Constellation::Galileo,
            b"GB" | b"BD" => Constellation::BeiDou,
            b"GQ" | b"QZ" => Constellation::Qzss,
            b"GI" => Constellation::NavIc,
            b"GN" => Constellation::Combined,
            _ => Constellation::Other,
        }
    }

    const fn is_valid(self) -> bool {
        self.0[0].is_ascii_uppercase() && self.0[1].is_ascii_uppercase()
    }
}

/// RMC status (field 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Status {
    /// `A`: data valid.
    Valid,
    /// `V`: navigation receiver warning (no fix).
    Warning,
    /// Any other letter.
    Unknown(u8),
}

impl Status {
    fn from_byte(b: u8) -> Option<Self> {
        match b {
            b'A' => Some(Self::Valid),
            b'V' => Some(Self::Warning),
            b if b.is_ascii_uppercase() => Some(Self::Unknown(b)),
            _ => None,
        }
    }

    const fn to_byte(self) -> u8 {
        match self {
            Self::Valid => b'A',
            Self::Warning => b'V',
            Self::Unknown(b) => b,
        }
    }
}

/// RMC mode indicator (field 12, NMEA 2.3 and later).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ModeIndicator {
    /// `A`: autonomous fix.
    Autonomous,
    /// `D`: differential fix.
    Differential,
    /// `E`: estimated (dead reckoning): no satellite fix.
    Estimated,
    /// `F`: RTK float.
    RtkFloat,
    /// `M`: manual input.
    Manual,
    /// `N`: data not valid.
    NotValid,
    /// `P`: precise.
    Precise,
    /// `R`: RTK integer.
    RtkInteger,
    /// `S`: simulator.
    Simulator,
    /// Any other letter.
    Unknown(u8),
}

impl ModeIndicator {
    fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            b'A' => Self::Autonomous,
            b'D' => Self::Differential,
            b'E' => Self::Estimated,
            b'F' => Self::RtkFloat,
            b'M' => Self::Manual,
            b'N' => Self::NotValid,
            b'P' => Self::Precise,
            b'R' => Self::RtkInteger,
            b'S' => Self::Simulator,
            b if b.is_ascii_uppercase() => Self::Unknown(b),
            _ => return None,
        })
    }

    const fn to_byte(self) -> u8 {
        match self {
            Self::Autonomous => b'A',
            Self::Differential => b'D',
            Self::Estimated => b'E',
            Self::RtkFloat => b'F',
            Self::Manual => b'M',
            Self::NotValid => b'N',
            Self::Precise => b'P',
            Self::RtkInteger => b'R',
            Self::Simulator => b'S',
            Self::Unknown(b) => b,
        }
    }

    /// A fix from satellites (`A`, `D`, `F`, `P`, `R`)?
    pub const fn is_fix(self) -> bool {
        matches!(
            self,
            Self::Autonomous
                | Self::Differential
                | Self::RtkFloat
                | Self::Precise
                | Self::RtkInteger
        )
    }
}

/// RMC navigational status (field 13, NMEA 4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum NavStatus {
    /// `S`: safe.
    Safe,
    /// `C`: caution.
    Caution,
    /// `U`: unsafe.
    Unsafe,
    /// `V`: not valid.
    NotValid,
    /// Any other letter.
    Unknown(u8),
}

impl NavStatus {
    fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            b'S' => Self::Safe,
            b'C' => Self::Caution,
            b'U' => Self::Unsafe,
            b'V' => Self::NotValid,
            b if b.is_ascii_uppercase() => Self::Unknown(b),
            _ => return None,
        })
    }

    const fn to_byte(self) -> u8 {
        match self {
            Self::Safe => b'S',
            Self::Caution => b'C',
            Self::Unsafe => b'U',
            Self::NotValid => b'V',
            Self::Unknown(b) => b,
        }
    }
}

/// GGA fix quality (field 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FixQuality {
    /// 0: no fix.
    Invalid,
    /// 1: GPS (SPS) fix.
    Gps,
    /// 2: differential fix.
    Differential,
    /// 3: PPS (precise) fix.
    Pps,
    /// 4: RTK fixed.
    RtkFixed,
    /// 5: RTK float.
    RtkFloat,
    /// 6: estimated (dead reckoning).
    Estimated,
    /// 7: manual input.
    Manual,
    /// 8: simulation.
    Simulation,
    /// 9: any other digit.
    Unknown(u8),
}

impl FixQuality {
    fn from_digit(d: u8) -> Self {
        match d {
            0 => Self::Invalid,
            1 => Self::Gps,
            2 => Self::Differential,
            3 => Self::Pps,
            4 => Self::RtkFixed,
            5 => Self::RtkFloat,
            6 => Self::Estimated,
            7 => Self::Manual,
            8 => Self::Simulation,
            d => Self::Unknown(d),
        }
    }

    const fn to_digit(self) -> u8 {
        match self {
            Self::Invalid => 0,
            Self::Gps => 1,
            Self::Differential => 2,
            Self::Pps => 3,
            Self::RtkFixed => 4,
            Self::RtkFloat => 5,
            Self::Estimated => 6,
            Self::Manual => 7,
            Self::Simulation => 8,
            Self::Unknown(d) => d,
        }
    }

    /// A fix from satellites (1–5)?
    pub const fn is_fix(self) -> bool {
        matches!(
            self,
            Self::Gps | Self::Differential | Self::Pps | Self::RtkFixed | Self::RtkFloat
        )
    }
}

/// Can `b` appear between `$` and `*`?
const fn allowed(b: u8) -> bool {
    b >= 0x20 && b <= 0x7E && b != b'$' && b != b'*'
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => b.checked_sub(b'0'),
        b'A'..=b'F' => b.checked_sub(b'A' - 10),
        b'a'..=b'f' => b.checked_sub(b'a' - 10),
        _ => None,
    }
}

/// The XOR of `bytes`: the NMEA checksum of a body.
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0, |acc, b| acc ^ b)
}

/// The line without its trailing `\r`/`\n`s.
fn trim_line(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b'\r' | b'\n'] = line {
        line = rest;
    }
    line
}

/// Checks a line's framing and returns its body (between `$` and `*`).
fn split_line(line: &[u8]) -> Result<&[u8], Error> {
    let line = trim_line(line);
    let Some((&b'$', after)) = line.split_first() else {
        return Err(Error::NoStart);
    };
    let [body @ .., b'*', h, l] = after else {
        return Err(Error::NoChecksum);
    };
    let (Some(h), Some(l)) = (hex_value(*h), hex_value(*l)) else {
        return Err(Error::NoChecksum);
    };
    if let Some(at) = body.iter().position(|&b| !allowed(b)) {
        return Err(Error::BadByte {
            at: at.saturating_add(1),
        });
    }
    let sent = (h << 4) | l;
    let computed = checksum(body);
    if sent != computed {
        return Err(Error::Checksum { sent, computed });
    }
    Ok(body)
}

/// A view of one NMEA sentence in a byte buffer (a line, with or without its
/// `\r\n`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sentence<T: AsRef<[u8]>> {
    buffer: T,
}

#[cfg(feature = "defmt")]
impl<T: AsRef<[u8]>> defmt::Format for Sentence<T> {
    /// The line as text.
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "Sentence {{ {=[u8]:a} }}", self.buffer.as_ref());
    }
}

impl<T: AsRef<[u8]>> Sentence<T> {
    /// Wraps a line without checking it (accessors then read what they
    /// find; a missing field reads as `None`).
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps a line whose framing, bytes and checksum are right.
    ///
    /// # Errors
    /// As [`Sentence::check`].
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let s = Self::new_unchecked(buffer);
        s.check()?;
        Ok(s)
    }

    /// Checks the framing (`$…*hh`), the bytes and the checksum.
    ///
    /// # Errors
    /// [`Error::NoStart`], [`Error::NoChecksum`], [`Error::BadByte`] or
    /// [`Error::Checksum`].
    pub fn check(&self) -> Result<(), Error> {
        split_line(self.buffer.as_ref()).map(|_| ())
    }

    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The bytes between `$` and `*` (the whole line after `$` when the
    /// framing is broken).
    pub fn body(&self) -> &[u8] {
        let line = trim_line(self.buffer.as_ref());
        let after = line.strip_prefix(b"$").unwrap_or(line);
        match after {
            [body @ .., b'*', _, _] => body,
            _ => after,
        }
    }

    /// The address: talker and formatter (`GPRMC`), or a proprietary one.
    pub fn address(&self) -> &[u8] {
        self.body().split(|&b| b == b',').next().unwrap_or(&[])
    }

    /// The talker when the address is two letters and a formatter.
    pub fn talker(&self) -> Option<Talker> {
        standard_address(self.address()).map(|(t, _)| t)
    }

    /// Field `n`, 1-based as in the standard (0 is the address); `None`
    /// past the last field.
    pub fn field(&self, n: usize) -> Option<&[u8]> {
        self.body().split(|&b| b == b',').nth(n)
    }

    /// How many fields follow the address.
    pub fn field_count(&self) -> usize {
        self.body().iter().filter(|&&b| b == b',').count()
    }

    /// The checksum in the sentence, if two hex digits end it.
    pub fn sent_checksum(&self) -> Option<u8> {
        match trim_line(self.buffer.as_ref()) {
            [.., b'*', h, l] => Some((hex_value(*h)? << 4) | hex_value(*l)?),
            _ => None,
        }
    }

    /// The XOR of the body's bytes.
    pub fn computed_checksum(&self) -> u8 {
        checksum(self.body())
    }
}

/// `(talker, formatter)` of a two-letter + three-letter address.
fn standard_address(address: &[u8]) -> Option<(Talker, [u8; 3])> {
    let &[a, b, c, d, e] = address else {
        return None;
    };
    let talker = Talker([a, b]);
    (talker.is_valid() && [c, d, e].iter().all(u8::is_ascii_uppercase))
        .then_some((talker, [c, d, e]))
}

/// The byte range of field `n` (0 = the address) in `body`.
fn field_range(body: &[u8], n: usize) -> Option<(usize, usize)> {
    let mut start = 0usize;
    let mut index = 0usize;
    for (i, &b) in body.iter().enumerate() {
        if b == b',' {
            if index == n {
                return Some((start, i));
            }
            index = index.saturating_add(1);
            start = i.saturating_add(1);
        }
    }
    (index == n).then_some((start, body.len()))
}

/// Fields `first..=last` with the commas between them; `None` when `last`
/// is past the end.
fn span(body: &[u8], first: usize, last: usize) -> Option<&[u8]> {
    let (start, _) = field_range(body, first)?;
    let (_, end) = field_range(body, last)?;
    body.get(start..end)
}

/// Field `first` to the end of the body; empty when `first` is past it.
fn tail(body: &[u8], first: usize) -> &[u8] {
    field_range(body, first)
        .and_then(|(start, _)| body.get(start..))
        .unwrap_or(&[])
}

fn digit(b: u8) -> Option<u8> {
    b.is_ascii_digit().then(|| b.wrapping_sub(b'0'))
}

/// A number of exactly `f.len()` decimal digits (at most 9).
fn number(f: &[u8]) -> Option<u32> {
    if f.is_empty() || f.len() > 9 {
        return None;
    }
    f.iter().try_fold(0u32, |acc, &b| {
        acc.checked_mul(10)?.checked_add(u32::from(digit(b)?))
    })
}

fn two(f: &[u8]) -> Option<u8> {
    let &[a, b] = f else { return None };
    digit(a)?.checked_mul(10)?.checked_add(digit(b)?)
}

/// `hhmmss[.f…]` (1–9 fraction digits); empty is `Ok(None)`.
fn parse_time(f: &[u8], what: Field) -> Result<Option<TimeOfDay>, Error> {
    if f.is_empty() {
        return Ok(None);
    }
    let bad = Error::BadField(what);
    let (whole, frac) = match f.iter().position(|&b| b == b'.') {
        Some(dot) => (
            f.get(..dot).unwrap_or(&[]),
            Some(f.get(dot.saturating_add(1)..).unwrap_or(&[])),
        ),
        None => (f, None),
    };
    let &[h1, h2, m1, m2, s1, s2] = whole else {
        return Err(bad);
    };
    let nanos = match frac {
        None => 0,
        Some(d) => {
            let v = number(d).ok_or(bad)?;
            // Scale to nanoseconds: 9 − len more digits.
            let scale = 9usize.saturating_sub(d.len());
            (0..scale)
                .try_fold(v, |acc, _| acc.checked_mul(10))
                .ok_or(bad)?
        }
    };
    let t = TimeOfDay::new(
        two(&[h1, h2]).ok_or(bad)?,
        two(&[m1, m2]).ok_or(bad)?,
        two(&[s1, s2]).ok_or(bad)?,
        nanos,
    )
    .ok_or(bad)?;
    Ok(Some(t))
}

/// A one-letter field through `from`; empty is `Ok(None)`.
fn letter<T>(f: &[u8], what: Field, from: fn(u8) -> Option<T>) -> Result<Option<T>, Error> {
    match f {
        [] => Ok(None),
        &[b] => from(b).map(Some).ok_or(Error::BadField(what)),
        _ => Err(Error::BadField(what)),
    }
}

/// Field `n` of `body`, or [`Error::MissingField`].
fn required(body: &[u8], n: usize, what: Field) -> Result<&[u8], Error> {
    field_range(body, n)
        .and_then(|(a, b)| body.get(a..b))
        .ok_or(Error::MissingField(what))
}

fn optional(body: &[u8], n: usize) -> &[u8] {
    field_range(body, n)
        .and_then(|(a, b)| body.get(a..b))
        .unwrap_or(&[])
}

fn commas(f: &[u8]) -> usize {
    f.iter().filter(|&&b| b == b',').count()
}

/// RMC: recommended minimum data, the sentence ts2phc and gpsd take the time
/// from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Rmc<'a> {
    /// Who sent it.
    pub talker: Talker,
    /// UTC time of the fix (field 1); `None` when empty.
    pub time: Option<TimeOfDay>,
    /// Status (field 2).
    pub status: Status,
    /// Fields 3–8 as sent, with their five commas: latitude, N/S,
    /// longitude, E/W, speed (knots), course (degrees).
    pub navigation: &'a [u8],
    /// Date (field 9); `None` when empty.
    pub date: Option<Date>,
    /// Fields 10–11 as sent, with their comma (`,` when both are empty or
    /// absent): magnetic variation and E/W.
    pub magnetic: &'a [u8],
    /// Mode indicator (field 12); `None` when empty or absent.
    pub mode: Option<ModeIndicator>,
    /// Navigational status (field 13); `None` when empty or absent.
    pub nav_status: Option<NavStatus>,
}

impl Rmc<'_> {
    /// Does the receiver say the data are valid: status `A`, a fix mode (if
    /// sent), a navigational status other than `V` (if sent), and both the
    /// time and the date present?
    pub fn is_valid(&self) -> bool {
        self.status == Status::Valid
            && self.mode.is_none_or(ModeIndicator::is_fix)
            && self.nav_status != Some(NavStatus::NotValid)
            && self.time.is_some()
            && self.date.is_some()
    }

    /// The UTC date and time, when both are present.
    pub fn utc(&self) -> Option<UtcDateTime> {
        Some(UtcDateTime {
            date: self.date?,
            time: self.time?,
        })
    }

    fn parse<'b>(talker: Talker, body: &'b [u8]) -> Result<Rmc<'b>, Error> {
        let time = parse_time(required(body, 1, Field::RmcTime)?, Field::RmcTime)?;
        let status = letter(
            required(body, 2, Field::RmcStatus)?,
            Field::RmcStatus,
            Status::from_byte,
        )?
        .ok_or(Error::BadField(Field::RmcStatus))?;
        let navigation = span(body, 3, 8).ok_or(Error::MissingField(Field::RmcNavigation))?;
        let date_field = required(body, 9, Field::RmcDate)?;
        let date = if date_field.is_empty() {
            None
        } else {
            let bad = Error::BadField(Field::RmcDate);
            let &[d1, d2, m1, m2, y1, y2] = date_field else {
                return Err(bad);
            };
            let yy = two(&[y1, y2]).ok_or(bad)?;
            let century: u16 = if yy >= RMC_CENTURY_PIVOT { 1900 } else { 2000 };
            let date = Date::new(
                century.saturating_add(u16::from(yy)),
                two(&[m1, m2]).ok_or(bad)?,
                two(&[d1, d2]).ok_or(bad)?,
            );
            Some(date.ok_or(bad)?)
        };
        let magnetic = match (field_range(body, 10), field_range(body, 11)) {
            (None, _) => b",".as_slice(),
            (Some(_), None) => return Err(Error::MissingField(Field::RmcMagnetic)),
            (Some(_), Some(_)) => span(body, 10, 11).unwrap_or(b","),
        };
        let mode = letter(optional(body, 12), Field::RmcMode, ModeIndicator::from_byte)?;
        let nav_status = letter(
            optional(body, 13),
            Field::RmcNavStatus,
            NavStatus::from_byte,
        )?;
        Ok(Rmc {
            talker,
            time,
            status,
            navigation,
            date,
            magnetic,
            mode,
            nav_status,
        })
    }

    fn emit_body(&self, out: &mut Out<'_>) -> Result<(), Error> {
        raw_check(self.navigation, Some(5), Field::RmcNavigation)?;
        let magnetic = if self.magnetic.is_empty() {
            b",".as_slice()
        } else {
            self.magnetic
        };
        raw_check(magnetic, Some(1), Field::RmcMagnetic)?;
        if Status::from_byte(self.status.to_byte()) != Some(self.status) {
            return Err(Error::BadField(Field::RmcStatus));
        }
        out.put(&self.talker.0);
        out.put(b"RMC,");
        put_time(out, self.time, Field::RmcTime)?;
        out.put(&[b',', self.status.to_byte(), b',']);
        out.put(self.navigation);
        out.put(b",");
        if let Some(d) = self.date {
            let yy = d
                .year
                .checked_sub(1900)
                .map(|y| y % 100)
                .filter(|_| (1980..2080).contains(&d.year) && d.is_valid())
                .ok_or(Error::BadField(Field::RmcDate))?;
            put_two(out, d.day);
            put_two(out, d.month);
            put_two(out, u8::try_from(yy).unwrap_or(0));
        }
        out.put(b",");
        out.put(magnetic);
        if let Some(m) = self.mode {
            if ModeIndicator::from_byte(m.to_byte()) != Some(m) {
                return Err(Error::BadField(Field::RmcMode));
            }
        }
        if let Some(n) = self.nav_status {
            if NavStatus::from_byte(n.to_byte()) != Some(n) {
                return Err(Error::BadField(Field::RmcNavStatus));
            }
        }
        match (self.mode, self.nav_status) {
            (None, None) => {}
            (m, n) => {
                out.put(b",");
                if let Some(m) = m {
                    out.put(&[m.to_byte()]);
                }
                if let Some(n) = n {
                    out.put(&[b',', n.to_byte()]);
                }
            }
        }
        Ok(())
    }
}

/// ZDA: UTC date and time, with a four-digit year. It carries no validity:
/// a receiver without a fix may print its real-time clock. Gate it on a fix
/// from RMC or GGA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Zda<'a> {
    /// Who sent it.
    pub talker: Talker,
    /// UTC time (field 1); `None` when empty.
    pub time: Option<TimeOfDay>,
    /// Date (fields 2–4); `None` when all three are empty.
    pub date: Option<Date>,
    /// Fields 5–6 as sent, with their comma (`,` when empty or absent):
    /// local zone hours and minutes.
    pub zone: &'a [u8],
}

impl Zda<'_> {
    /// The UTC date and time, when both are present.
    pub fn utc(&self) -> Option<UtcDateTime> {
        Some(UtcDateTime {
            date: self.date?,
            time: self.time?,
        })
    }

    fn parse<'b>(talker: Talker, body: &'b [u8]) -> Result<Zda<'b>, Error> {
        let time = parse_time(required(body, 1, Field::ZdaTime)?, Field::ZdaTime)?;
        let day = required(body, 2, Field::ZdaDate)?;
        let month = required(body, 3, Field::ZdaDate)?;
        let year = required(body, 4, Field::ZdaDate)?;
        let bad = Error::BadField(Field::ZdaDate);
        let date = match (day, month, year) {
            ([], [], []) => None,
            (d, m, y) if y.len() == 4 => {
                let y = number(y).and_then(|y| u16::try_from(y).ok()).ok_or(bad)?;
                Some(Date::new(y, two(m).ok_or(bad)?, two(d).ok_or(bad)?).ok_or(bad)?)
            }
            _ => return Err(bad),
        };
        let zone = match (field_range(body, 5), field_range(body, 6)) {
            (None, _) => b",".as_slice(),
            (Some(_), None) => return Err(Error::MissingField(Field::ZdaZone)),
            (Some(_), Some(_)) => span(body, 5, 6).unwrap_or(b","),
        };
        Ok(Zda {
            talker,
            time,
            date,
            zone,
        })
    }

    fn emit_body(&self, out: &mut Out<'_>) -> Result<(), Error> {
        let zone = if self.zone.is_empty() {
            b",".as_slice()
        } else {
            self.zone
        };
        raw_check(zone, Some(1), Field::ZdaZone)?;
        out.put(&self.talker.0);
        out.put(b"ZDA,");
        put_time(out, self.time, Field::ZdaTime)?;
        out.put(b",");
        if let Some(d) = self.date {
            if !d.is_valid() || d.year > 9999 {
                return Err(Error::BadField(Field::ZdaDate));
            }
            put_two(out, d.day);
            out.put(b",");
            put_two(out, d.month);
            out.put(b",");
            let y = d.year;
            put_two(out, u8::try_from(y / 100).unwrap_or(0));
            put_two(out, u8::try_from(y % 100).unwrap_or(0));
        } else {
            out.put(b",,");
        }
        out.put(b",");
        out.put(zone);
        Ok(())
    }
}

/// GGA: fix data. It names the time of day but not the date.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Gga<'a> {
    /// Who sent it.
    pub talker: Talker,
    /// UTC time of the fix (field 1); `None` when empty.
    pub time: Option<TimeOfDay>,
    /// Fields 2–5 as sent, with their three commas: latitude, N/S,
    /// longitude, E/W.
    pub position: &'a [u8],
    /// Fix quality (field 6); `None` when empty.
    pub quality: Option<FixQuality>,
    /// Satellites in use (field 7, 0–99); `None` when empty or absent.
    pub satellites: Option<u8>,
    /// Fields 8 to the end as sent (HDOP, altitude, geoid separation, age of
    /// differential data, station); empty when absent.
    pub rest: &'a [u8],
}

impl Gga<'_> {
    /// Does the receiver report a satellite fix (quality 1–5)?
    pub fn has_fix(&self) -> bool {
        self.quality.is_some_and(FixQuality::is_fix)
    }

    fn parse<'b>(talker: Talker, body: &'b [u8]) -> Result<Gga<'b>, Error> {
        let time = parse_time(required(body, 1, Field::GgaTime)?, Field::GgaTime)?;
        let position = span(body, 2, 5).ok_or(Error::MissingField(Field::GgaPosition))?;
        let quality = match required(body, 6, Field::GgaQuality)? {
            [] => None,
            &[d] => Some(FixQuality::from_digit(
                digit(d).ok_or(Error::BadField(Field::GgaQuality))?,
            )),
            _ => return Err(Error::BadField(Field::GgaQuality)),
        };
        let satellites = match optional(body, 7) {
            [] => None,
            f if f.len() <= 2 => Some(
                number(f)
                    .and_then(|n| u8::try_from(n).ok())
                    .ok_or(Error::BadField(Field::GgaSatellites))?,
            ),
            _ => return Err(Error::BadField(Field::GgaSatellites)),
        };
        Ok(Gga {
            talker,
            time,
            position,
            quality,
            satellites,
            rest: tail(body, 8),
        })
    }

    fn emit_body(&self, out: &mut Out<'_>) -> Result<(), Error> {
        raw_check(self.position, Some(3), Field::GgaPosition)?;
        raw_check(self.rest, None, Field::GgaRest)?;
        out.put(&self.talker.0);
        out.put(b"GGA,");
        put_time(out, self.time, Field::GgaTime)?;
        out.put(b",");
        out.put(self.position);
        out.put(b",");
        if let Some(q) = self.quality {
            let d = q.to_digit();
            if d > 9 || FixQuality::from_digit(d) != q {
                return Err(Error::BadField(Field::GgaQuality));
            }
            out.put(&[b'0'.saturating_add(d)]);
        }
        out.put(b",");
        if let Some(n) = self.satellites {
            if n > 99 {
                return Err(Error::BadField(Field::GgaSatellites));
            }
            put_two(out, n);
        }
        if !self.rest.is_empty() {
            out.put(b",");
            out.put(self.rest);
        }
        Ok(())
    }
}

/// A parsed sentence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Repr<'a> {
    /// Recommended minimum data.
    Rmc(Rmc<'a>),
    /// Date and time.
    Zda(Zda<'a>),
    /// Fix data.
    Gga(Gga<'a>),
    /// Any other sentence (GSV, GSA, proprietary `$P…`): its body, address
    /// and fields, as sent.
    Other(&'a [u8]),
}

impl<'a> Repr<'a> {
    /// Parses a sentence view; the raw fields borrow from its buffer.
    ///
    /// # Errors
    /// A framing error (see [`Sentence::check`]), or
    /// [`Error::MissingField`] / [`Error::BadField`] naming the field.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(sentence: &Sentence<&'a T>) -> Result<Self, Error> {
        let inner: &'a T = sentence.buffer;
        Self::parse_bytes(inner.as_ref())
    }

    /// Parses one line (with or without `\r\n`).
    ///
    /// # Errors
    /// As [`Repr::parse`].
    pub fn parse_bytes(line: &'a [u8]) -> Result<Self, Error> {
        let body = split_line(line)?;
        let address = body.split(|&b| b == b',').next().unwrap_or(&[]);
        Ok(match standard_address(address) {
            Some((t, f)) if &f == b"RMC" => Self::Rmc(Rmc::parse(t, body)?),
            Some((t, f)) if &f == b"ZDA" => Self::Zda(Zda::parse(t, body)?),
            Some((t, f)) if &f == b"GGA" => Self::Gga(Gga::parse(t, body)?),
            _ => Self::Other(body),
        })
    }

    /// The talker, for RMC, ZDA and GGA.
    pub fn talker(&self) -> Option<Talker> {
        match self {
            Self::Rmc(r) => Some(r.talker),
            Self::Zda(z) => Some(z.talker),
            Self::Gga(g) => Some(g.talker),
            Self::Other(_) => None,
        }
    }

    /// The UTC time of day the sentence names, if any.
    pub fn time(&self) -> Option<TimeOfDay> {
        match self {
            Self::Rmc(r) => r.time,
            Self::Zda(z) => z.time,
            Self::Gga(g) => g.time,
            Self::Other(_) => None,
        }
    }

    /// The UTC date and time (RMC and ZDA, when both are present).
    pub fn utc(&self) -> Option<UtcDateTime> {
        match self {
            Self::Rmc(r) => r.utc(),
            Self::Zda(z) => z.utc(),
            Self::Gga(_) | Self::Other(_) => None,
        }
    }

    /// What the sentence says about the fix: `Some(true)` for a valid RMC or
    /// a GGA with a fix, `Some(false)` for one without, `None` for ZDA and
    /// others, which do not say.
    pub fn fix_valid(&self) -> Option<bool> {
        match self {
            Self::Rmc(r) => Some(r.is_valid()),
            Self::Gga(g) => Some(g.has_fix()),
            Self::Zda(_) | Self::Other(_) => None,
        }
    }

    /// Bytes [`Repr::emit`] writes (`$` to `\n`); 0 when it would fail.
    pub fn buffer_len(&self) -> usize {
        let mut out = Out::new(&mut []);
        match self.emit_into(&mut out) {
            Ok(()) => out.len,
            Err(_) => 0,
        }
    }

    /// Writes the sentence (`$`, body, `*hh`, `\r\n`) to the start of `buf`
    /// and returns the length written.
    ///
    /// # Errors
    /// [`Error::BadField`] for a value that cannot be written so that it
    /// parses back the same (an RMC year outside 1980–2079, a raw field with
    /// the wrong number of commas or a forbidden byte, an `Unknown` letter
    /// that is a known one); [`Error::Truncated`] when `buf` is too short.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let mut out = Out::new(buf);
        self.emit_into(&mut out)?;
        if out.fits {
            Ok(out.len)
        } else {
            Err(Error::Truncated)
        }
    }

    fn emit_into(&self, out: &mut Out<'_>) -> Result<(), Error> {
        out.put(b"$");
        out.sum = Some(0);
        match self {
            Self::Rmc(r) => r.emit_body(out)?,
            Self::Zda(z) => z.emit_body(out)?,
            Self::Gga(g) => g.emit_body(out)?,
            Self::Other(body) => {
                let address = body.split(|&b| b == b',').next().unwrap_or(&[]);
                let known = standard_address(address)
                    .is_some_and(|(_, f)| matches!(&f, b"RMC" | b"ZDA" | b"GGA"));
                if known || body.iter().any(|&b| !allowed(b)) {
                    return Err(Error::BadField(Field::OtherBody));
                }
                out.put(body);
            }
        }
        let sum = out.sum.take().unwrap_or(0);
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let hi = HEX.get(usize::from(sum >> 4)).copied().unwrap_or(b'0');
        let lo = HEX.get(usize::from(sum & 15)).copied().unwrap_or(b'0');
        out.put(&[b'*', hi, lo, b'\r', b'\n']);
        Ok(())
    }
}

/// Checks a raw field group: allowed bytes and, if given, its commas.
fn raw_check(f: &[u8], want_commas: Option<usize>, what: Field) -> Result<(), Error> {
    let ok = f.iter().all(|&b| allowed(b)) && want_commas.is_none_or(|n| commas(f) == n);
    if ok {
        Ok(())
    } else {
        Err(Error::BadField(what))
    }
}

fn put_two(out: &mut Out<'_>, v: u8) {
    out.put(&[
        b'0'.saturating_add(v / 10 % 10),
        b'0'.saturating_add(v % 10),
    ]);
}

/// `hhmmss.ff…`: at least two fraction digits, trailing zeros dropped.
fn put_time(out: &mut Out<'_>, t: Option<TimeOfDay>, what: Field) -> Result<(), Error> {
    let Some(t) = t else { return Ok(()) };
    if !t.is_valid() {
        return Err(Error::BadField(what));
    }
    put_two(out, t.hour);
    put_two(out, t.minute);
    put_two(out, t.second);
    let mut digits = [b'0'; 9];
    let mut v = t.nanos;
    for d in digits.iter_mut().rev() {
        *d = b'0'.saturating_add(u8::try_from(v % 10).unwrap_or(0));
        v /= 10;
    }
    let mut n: usize = 9;
    while n > 2 && digits.get(n.saturating_sub(1)) == Some(&b'0') {
        n = n.saturating_sub(1);
    }
    out.put(b".");
    out.put(digits.get(..n).unwrap_or(&[]));
    Ok(())
}

/// A bounded writer that keeps counting past the end, and sums the body.
struct Out<'b> {
    buf: &'b mut [u8],
    len: usize,
    fits: bool,
    sum: Option<u8>,
}

impl<'b> Out<'b> {
    fn new(buf: &'b mut [u8]) -> Self {
        Self {
            buf,
            len: 0,
            fits: true,
            sum: None,
        }
    }

    fn put(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match self.buf.get_mut(self.len) {
                Some(x) => *x = b,
                None => self.fits = false,
            }
            self.len = self.len.saturating_add(1);
            if let Some(s) = self.sum.as_mut() {
                *s ^= b;
            }
        }
    }
}

#[cfg(test)]
mod tests;

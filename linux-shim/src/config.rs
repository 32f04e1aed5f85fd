//! The configuration: a TOML file (`/etc/keel/keel.toml` by default) plus
//! command-line overrides.
//!
//! The file is parsed by the `toml` crate, so any valid TOML is read (quoted
//! keys, escapes, hex integers, multi-line strings, a byte-order mark), into a
//! serde struct that refuses unknown keys. Each value is then checked here,
//! for the file and the command line alike, so that every error names the
//! file and line (or the option), the key, what is expected and the allowed
//! range. `linux-shim/keel.toml.example` documents every option.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use keel_core::measure::phc::ReadMethod;
use keel_core::server::RateConfig;
use keel_core::time::{Duration, Ppb};
use serde::Deserialize;
use toml::{Spanned, Value};

use crate::phc::MethodChoice;
use crate::responder::{Channel, ControlPolicy};

/// The default configuration file.
pub const DEFAULT_PATH: &str = "/etc/keel/keel.toml";

/// What the PHC's time scale is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeScale {
    /// Hypervisor PHCs serve UTC, others TAI.
    Auto,
    /// The PHC carries UTC.
    Utc,
    /// The PHC carries TAI (`tai_utc_offset` is subtracted).
    Tai,
}

/// When the clock may be stepped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepPolicy {
    /// Whenever |offset| exceeds `step_threshold`.
    Always,
    /// Only at the first update (phc2sys `-F`).
    First,
    /// Never: slew only.
    Never,
}

/// Which servo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServoKind {
    /// keel's adaptive Kalman servo.
    Kalman,
    /// linuxptp's PI servo.
    Pi,
    /// linuxptp's linreg servo.
    Linreg,
}

/// Log verbosity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Errors only.
    Error = 3,
    /// And warnings.
    Warning = 4,
    /// And information (the default).
    Info = 6,
    /// Everything.
    Debug = 7,
}

/// Every option, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// `source`: `auto`, `/dev/ptpN` or a PHC `clock_name`.
    pub source: String,
    /// `sink`: `CLOCK_REALTIME`, `/dev/ptpN` or a PHC `clock_name`.
    pub sink: String,
    /// `time_scale`.
    pub time_scale: TimeScale,
    /// `tai_utc_offset`, s.
    pub tai_utc_offset: i64,
    /// `read_method`.
    pub read_method: MethodChoice,
    /// `samples`.
    pub samples: usize,
    /// `interval`.
    pub interval: Duration,
    /// `servo`.
    pub servo: ServoKind,
    /// `step`.
    pub step: StepPolicy,
    /// `step_threshold`.
    pub step_threshold: Duration,
    /// `step_limit` (0 = no limit).
    pub step_limit: u32,
    /// `max_frequency`, ppb.
    pub max_frequency: Ppb,
    /// `reference_error`.
    pub reference_error: Duration,
    /// `summary_updates`.
    pub summary_updates: u32,
    /// `state_file` (`None` = off).
    pub state_file: Option<PathBuf>,
    /// `leap_seconds_list` (`None` = off).
    pub leap_seconds_list: Option<PathBuf>,
    /// `vmclock` (`None` = off).
    pub vmclock: Option<PathBuf>,
    /// `state_save_updates`.
    pub state_save_updates: u32,
    /// `status_socket` (`None` = off).
    pub status_socket: Option<PathBuf>,
    /// `metrics_listen` (`None` = off).
    pub metrics_listen: Option<SocketAddr>,
    /// `metrics_allow_remote`.
    pub metrics_allow_remote: bool,
    /// `log_level`.
    pub log_level: LogLevel,
    /// `time_page`: keel's time page (`None` = off).
    pub time_page: Option<PathBuf>,
    /// `clockbound_shm`: `ClockBound`'s SHM v2 segment (`None` = off).
    pub clockbound_shm: Option<PathBuf>,
    /// `time_page_void_after`: how long a published snapshot stays valid.
    pub time_page_void_after: Duration,
    /// `server`: NTP servers beside the PHC (its jury) or instead of it.
    pub servers: Vec<NtpServer>,
    /// `ntp_serve`: addresses the NTP server listens on (empty = off).
    pub ntp_serve: Vec<SocketAddr>,
    /// `ntp_ratelimit`: the server's rate limit (`None` = off).
    pub ntp_ratelimit: Option<RateConfig>,
    /// `host_monitor`: channels the host's `keel monitor` is answered on
    /// (empty = off).
    pub host_monitor: Vec<Channel>,
    /// `host_monitor_control`: what the host's monitor may ask.
    pub host_monitor_control: ControlPolicy,
}

/// One NTP server (`[[server]]`), in chrony's vocabulary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NtpServer {
    /// `address`: a host name or IP address, with an optional `:port`
    /// (default 123; an IPv6 address with a port is `[addr]:port`).
    pub address: String,
    /// `minpoll`, `maxpoll`, `iburst`, `prefer`, `noselect`.
    pub policy: keel_core::engine::NtpPolicy,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            source: "auto".into(),
            sink: crate::phc::SINK_REALTIME.into(),
            time_scale: TimeScale::Auto,
            tai_utc_offset: 37,
            read_method: MethodChoice::Auto,
            samples: 5,
            interval: Duration::from_secs(1),
            servo: ServoKind::Kalman,
            step: StepPolicy::First,
            step_threshold: Duration::from_micros(20),
            step_limit: 0,
            max_frequency: Ppb::from_ppb(100_500_000),
            reference_error: Duration::ZERO,
            summary_updates: 60,
            state_file: Some(PathBuf::from("/var/lib/keel/state")),
            leap_seconds_list: Some(PathBuf::from("/usr/share/zoneinfo/leap-seconds.list")),
            vmclock: Some(PathBuf::from("/dev/vmclock0")),
            state_save_updates: 600,
            status_socket: Some(PathBuf::from("/run/keel/keel.sock")),
            metrics_listen: None,
            metrics_allow_remote: false,
            log_level: LogLevel::Info,
            time_page: Some(PathBuf::from("/run/keel/time")),
            clockbound_shm: None,
            time_page_void_after: Duration::from_secs(10),
            servers: Vec::new(),
            ntp_serve: Vec::new(),
            ntp_ratelimit: Some(RateConfig::DEFAULT),
            host_monitor: Vec::new(),
            host_monitor_control: ControlPolicy::OFF,
        }
    }
}

/// Declares the keys once: [`KEYS`] and the serde struct of the file.
macro_rules! keys {
    ($($key:ident),* $(,)?) => {
        /// Every key, in documentation order.
        pub const KEYS: &[&str] = &[$(stringify!($key)),*];

        /// The file as serde reads it: any TOML value per known key, with
        /// where it is; an unknown key is an error.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct FileKeys {
            $($key: Option<Spanned<Value>>,)*
        }

        impl FileKeys {
            /// The keys the file sets, in the file's order.
            fn in_file_order(self) -> Vec<(&'static str, Spanned<Value>)> {
                let mut set = Vec::new();
                $(if let Some(v) = self.$key { set.push((stringify!($key), v)); })*
                set.sort_by_key(|(_, v)| v.span().start);
                set
            }
        }
    };
}

keys!(
    source,
    time_scale,
    tai_utc_offset,
    leap_seconds_list,
    vmclock,
    read_method,
    samples,
    sink,
    interval,
    servo,
    step,
    step_threshold,
    step_limit,
    max_frequency,
    reference_error,
    summary_updates,
    state_file,
    state_save_updates,
    status_socket,
    metrics_listen,
    metrics_allow_remote,
    log_level,
    time_page,
    clockbound_shm,
    time_page_void_after,
    ntp_serve,
    ntp_ratelimit,
    host_monitor,
    host_monitor_control,
    server,
);

/// Where a setting came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A line of a file.
    File(PathBuf, usize),
    /// A command-line option.
    Cli(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(p, l) => write!(f, "{}:{l}", p.display()),
            Self::Cli(flag) => write!(f, "command line option {flag}"),
        }
    }
}

/// A configuration error: where, which key, what is wrong or expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Where.
    pub origin: Origin,
    /// The key, when one is involved.
    pub key: Option<String>,
    /// What is wrong and what is expected.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(k) => write!(f, "{}: key `{k}`: {}", self.origin, self.message),
            None => write!(f, "{}: {}", self.origin, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Why a file could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// It could not be read.
    Io(PathBuf, std::io::Error),
    /// Its content is wrong.
    Bad(ConfigError),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(p, e) => write!(
                f,
                "{}: cannot read the configuration file: {e} (create it from keel.toml.example, or pass --config FILE)",
                p.display()
            ),
            Self::Bad(e) => e.fmt(f),
        }
    }
}

impl Config {
    /// Reads `path` on top of the defaults. A missing file at the default path
    /// is not an error when `missing_ok` (returns the defaults).
    ///
    /// # Errors
    /// Unreadable file or bad content.
    pub fn load(path: &Path, missing_ok: bool) -> Result<Self, LoadError> {
        let mut c = Self::default();
        match c.merge_file(path) {
            Err(LoadError::Io(_, e)) if missing_ok && e.kind() == std::io::ErrorKind::NotFound => {
                Ok(Self::default())
            }
            r => r.map(|()| c),
        }
    }

    /// Applies the settings of the file at `path`.
    ///
    /// # Errors
    /// Unreadable file, not UTF-8, or bad content.
    pub fn merge_file(&mut self, path: &Path) -> Result<(), LoadError> {
        let bytes = std::fs::read(path).map_err(|e| LoadError::Io(path.to_path_buf(), e))?;
        let text = std::str::from_utf8(&bytes).map_err(|e| {
            let at = e.valid_up_to();
            let (line, start, _) = line_at(&bytes, at);
            let head = String::from_utf8_lossy(&bytes[start..at]);
            LoadError::Bad(ConfigError {
                origin: Origin::File(path.to_path_buf(), line),
                key: key_before(&head),
                message: format!(
                    "not UTF-8 text (byte 0x{:02x} at column {}): a TOML file is UTF-8; convert it, e.g. `iconv -f latin1 -t utf-8`",
                    bytes[at],
                    at - start + 1
                ),
            })
        })?;
        self.merge_str(path, text).map_err(LoadError::Bad)
    }

    /// Applies the settings of a file's text.
    ///
    /// # Errors
    /// The first error: a TOML syntax error, an unknown or repeated key, or a
    /// bad value (in the file's order).
    pub fn merge_str(&mut self, path: &Path, text: &str) -> Result<(), ConfigError> {
        let (table, errors) = toml::de::DeTable::parse_recoverable(text);
        if let Some(e) = errors
            .iter()
            .min_by_key(|e| e.span().map_or(0, |s| s.start))
        {
            return Err(file_error(path, text, e));
        }
        let keys = FileKeys::deserialize(toml::de::Deserializer::from(table))
            .map_err(|e| file_error(path, text, &e))?;
        for (key, v) in keys.in_file_order() {
            let (line, ..) = line_at(text.as_bytes(), v.span().start);
            self.set(key, v.into_inner(), &Origin::File(path.to_path_buf(), line))?;
        }
        Ok(())
    }

    /// Sets one key from a command-line string: a string key takes the text
    /// as it is (or the TOML string it spells); another key reads it as a
    /// TOML value (`2`, `0.25`, `1e-3`, `0x10`, `true`).
    ///
    /// # Errors
    /// Unknown key or bad value.
    pub fn set_cli(&mut self, flag: &str, key: &str, raw: &str) -> Result<(), ConfigError> {
        let v = match raw.parse::<Value>() {
            Ok(Value::String(s)) => Value::String(s),
            Ok(v) if !is_string_key(key) => v,
            _ => Value::String(raw.to_string()),
        };
        self.set(key, v, &Origin::Cli(flag.to_string()))
    }

    /// Sets one key.
    ///
    /// # Errors
    /// Unknown key or bad value: the message says what is expected.
    pub fn set(&mut self, key: &str, v: Value, origin: &Origin) -> Result<(), ConfigError> {
        self.set_value(key, &v).map_err(|message| ConfigError {
            origin: origin.clone(),
            key: Some(key.to_string()),
            message,
        })?;
        self.check_combination(origin, key)
    }

    /// Sets one key; the error says what is expected and what was found.
    #[allow(
        clippy::too_many_lines,
        reason = "one arm per option, flat and readable"
    )]
    fn set_value(&mut self, key: &str, v: &Value) -> Result<(), String> {
        let want = |expected: &str| format!("expected {expected}; {}", found(v));
        let path = || path_or_off(v).ok_or_else(|| want("a path, or \"\" for none"));
        match key {
            "source" => {
                self.source = string(v).filter(|s| !s.is_empty()).ok_or_else(|| {
                    want("\"auto\", a device path such as \"/dev/ptp0\", or a PHC clock name such as \"KVM virtual PTP\"")
                })?;
            }
            "sink" => {
                let expected = "expected \"CLOCK_REALTIME\" (the system clock), a PHC device path such as \"/dev/ptp1\", or a PHC clock name such as \"igb\"";
                let s = string(v)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| format!("{expected}; {}", found(v)))?;
                if s == "auto" {
                    return Err(format!("\"auto\" only chooses a source; {expected}"));
                }
                if s.starts_with("CLOCK_") && s != crate::phc::SINK_REALTIME {
                    return Err(format!(
                        "keel steers CLOCK_REALTIME or a PHC, not {s}; {expected}"
                    ));
                }
                self.sink = s;
            }
            "time_scale" => {
                self.time_scale = choice(
                    v,
                    &[
                        ("auto", TimeScale::Auto),
                        ("utc", TimeScale::Utc),
                        ("tai", TimeScale::Tai),
                    ],
                )?;
            }
            "tai_utc_offset" => {
                self.tai_utc_offset = int_in(v, 0, 100).ok_or_else(|| {
                    want("an integer number of seconds in 0..=100 (37 since 2017)")
                })?;
            }
            "read_method" => {
                self.read_method = choice(
                    v,
                    &[
                        ("auto", MethodChoice::Auto),
                        ("precise", MethodChoice::Only(ReadMethod::Precise)),
                        ("extended", MethodChoice::Only(ReadMethod::Extended)),
                        ("basic", MethodChoice::Only(ReadMethod::Basic)),
                    ],
                )?;
            }
            "samples" => {
                let n = int_in(v, 1, 25)
                    .ok_or_else(|| want("an integer in 1..=25 (PTP_MAX_SAMPLES)"))?;
                self.samples = usize::try_from(n).unwrap_or(1);
            }
            "interval" => {
                self.interval = seconds_in(v, 0.01, 1024.0)
                    .ok_or_else(|| want("a number of seconds in 0.01..=1024"))?;
            }
            "servo" => {
                self.servo = choice(
                    v,
                    &[
                        ("kalman", ServoKind::Kalman),
                        ("pi", ServoKind::Pi),
                        ("linreg", ServoKind::Linreg),
                    ],
                )?;
            }
            "step" => {
                self.step = choice(
                    v,
                    &[
                        ("always", StepPolicy::Always),
                        ("first", StepPolicy::First),
                        ("never", StepPolicy::Never),
                    ],
                )?;
            }
            "step_threshold" => {
                self.step_threshold = seconds_in(v, 0.000_000_001, 1e6)
                    .ok_or_else(|| want("a positive number of seconds (e.g. 0.00002 for 20 µs)"))?;
            }
            "step_limit" => {
                let n = int_in(v, 0, 1_000_000).ok_or_else(|| {
                    want("an integer number of updates in 0..=1000000 (0 = no limit)")
                })?;
                self.step_limit = u32::try_from(n).unwrap_or(0);
            }
            "max_frequency" => {
                let n = int_in(v, 1, 100_500_000).ok_or_else(|| {
                    want("an integer number of ppb in 1..=100500000 (10 % + 500 ppm)")
                })?;
                self.max_frequency = Ppb::from_ppb(n);
            }
            "reference_error" => {
                self.reference_error = seconds_in(v, 0.0, 1000.0).ok_or_else(|| {
                    want("a number of seconds in 0..=1000 (the reference's own error)")
                })?;
            }
            "summary_updates" => {
                let n = int_in(v, 0, 1_000_000)
                    .ok_or_else(|| want("an integer in 0..=1000000 (0 = a line every update)"))?;
                self.summary_updates = u32::try_from(n).unwrap_or(60);
            }
            "state_file" => self.state_file = path()?,
            "leap_seconds_list" => self.leap_seconds_list = path()?,
            "vmclock" => self.vmclock = path()?,
            "status_socket" => self.status_socket = path()?,
            "time_page" => self.time_page = path()?,
            "clockbound_shm" => self.clockbound_shm = path()?,
            "time_page_void_after" => {
                self.time_page_void_after = seconds_in(v, 1.0, 86_400.0).ok_or_else(|| {
                    want(
                        "a number of seconds in 1..=86400 (how long a published bound stays valid)",
                    )
                })?;
            }
            "server" => self.servers = servers(v)?,
            "ntp_serve" => self.ntp_serve = listen_addresses(v)?,
            "ntp_ratelimit" => self.ntp_ratelimit = ratelimit(v)?,
            "host_monitor" => self.host_monitor = channels(v)?,
            "host_monitor_control" => self.host_monitor_control = control(v)?,
            "state_save_updates" => {
                let n = int_in(v, 1, 1_000_000).ok_or_else(|| want("an integer in 1..=1000000"))?;
                self.state_save_updates = u32::try_from(n).unwrap_or(600);
            }
            "metrics_listen" => {
                let bad = || want("\"ADDRESS:PORT\" such as \"127.0.0.1:9641\", or \"\" for none");
                let s = string(v).ok_or_else(bad)?;
                self.metrics_listen = if s.is_empty() {
                    None
                } else {
                    Some(s.parse().map_err(|_| bad())?)
                };
            }
            "metrics_allow_remote" => {
                self.metrics_allow_remote = v.as_bool().ok_or_else(|| want("true or false"))?;
            }
            "log_level" => {
                self.log_level = choice(
                    v,
                    &[
                        ("error", LogLevel::Error),
                        ("warning", LogLevel::Warning),
                        ("info", LogLevel::Info),
                        ("debug", LogLevel::Debug),
                    ],
                )?;
            }
            _ => return Err(format!("unknown key; expected one of: {}", KEYS.join(", "))),
        }
        Ok(())
    }

    fn check_combination(&self, origin: &Origin, key: &str) -> Result<(), ConfigError> {
        let err = |message: String| ConfigError {
            origin: origin.clone(),
            key: Some(key.to_string()),
            message,
        };
        if self.sink == self.source {
            return Err(err(format!(
                "source and sink are the same clock (\"{}\"): keel cannot steer the clock it follows; set sink to \"CLOCK_REALTIME\" or to another PHC",
                self.sink
            )));
        }
        if let Some(a) = self.metrics_listen {
            if !a.ip().is_loopback() && !self.metrics_allow_remote {
                return Err(err(format!(
                    "metrics_listen {a} is not a loopback address; set metrics_allow_remote = true to expose the metrics beyond this host"
                )));
            }
        }
        Ok(())
    }
}

/// The error of a file that the `toml` crate or serde refused, at its line.
fn file_error(path: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    let span = e.span().unwrap_or(0..0);
    let (line, start, end) = line_at(text.as_bytes(), span.start);
    let origin = Origin::File(path.to_path_buf(), line);
    let shown = text.get(start..end).unwrap_or("").trim();
    let at = text.get(span.clone()).unwrap_or("");
    let msg = e.message();
    let (key, message) = if let Some(k) = msg
        .strip_prefix("unknown field `")
        .and_then(|m| m.rsplit_once("`, expected").map(|(k, _)| k))
    {
        if shown.starts_with('[') {
            let table = shown.split('#').next().unwrap_or(shown).trim_end();
            (
                None,
                format!(
                    "tables such as `{table}` are not used by keel: every option is a top-level `key = value`"
                ),
            )
        } else {
            (
                Some(k.to_string()),
                format!("unknown key; expected one of: {}", KEYS.join(", ")),
            )
        }
    } else if msg == "duplicate key" {
        (
            Some(at.trim_matches(['"', '\'']).to_string()),
            "set twice in this file".into(),
        )
    } else if let Some(k) = key_before(text.get(start..span.start).unwrap_or("")) {
        let message = if msg.starts_with("string values must be quoted") {
            format!("`{at}` is not a TOML value (strings need quotes: \"{at}\")")
        } else {
            msg.to_string()
        };
        (Some(k), message)
    } else {
        (None, format!("{msg}; found `{shown}`"))
    };
    ConfigError {
        origin,
        key,
        message,
    }
}

/// The 1-based line of byte `offset`, and the byte range of that line.
fn line_at(text: &[u8], offset: usize) -> (usize, usize, usize) {
    let offset = offset.min(text.len());
    let start = text[..offset]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let end = text[offset..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(text.len(), |i| offset + i);
    let line = text[..start].iter().filter(|&&b| b == b'\n').count() + 1;
    (line, start, end)
}

/// The key of a line that begins `key =` (bare or quoted), given the text
/// before the place of an error.
fn key_before(head: &str) -> Option<String> {
    let (k, _) = head.split_once('=')?;
    let k = k.trim().trim_start_matches('\u{feff}');
    let bare = k.trim_matches(['"', '\'']);
    (!bare.is_empty()).then(|| bare.to_string())
}

/// "found …", the value as TOML writes it.
fn found(v: &Value) -> String {
    match v {
        Value::String(s) => format!("found \"{s}\""),
        Value::Integer(i) => format!("found {i}"),
        Value::Float(x) if x.is_nan() => "found nan".into(),
        Value::Float(x) if x.is_infinite() => {
            format!("found {}inf", if *x < 0.0 { "-" } else { "" })
        }
        Value::Float(x) => format!("found {x:?}"),
        Value::Boolean(b) => format!("found {b}"),
        Value::Datetime(d) => format!("found the date-time {d}"),
        Value::Array(_) => "found an array".into(),
        Value::Table(_) => "found a table".into(),
    }
}

/// One of `options`' names, as a string.
fn choice<T: Copy>(v: &Value, options: &[(&str, T)]) -> Result<T, String> {
    if let Some(&(_, t)) = options.iter().find(|(name, _)| v.as_str() == Some(*name)) {
        return Ok(t);
    }
    let names: Vec<String> = options.iter().map(|(n, _)| format!("\"{n}\"")).collect();
    let (last, rest) = names
        .split_last()
        .map_or(("", &[][..]), |(l, r)| (l.as_str(), r));
    Err(format!(
        "expected {} or {last}; {}",
        rest.join(", "),
        found(v)
    ))
}

fn is_string_key(key: &str) -> bool {
    matches!(
        key,
        "source"
            | "sink"
            | "time_scale"
            | "read_method"
            | "servo"
            | "step"
            | "state_file"
            | "leap_seconds_list"
            | "vmclock"
            | "status_socket"
            | "time_page"
            | "clockbound_shm"
            | "metrics_listen"
            | "log_level"
    )
}

/// `server`: an array of tables (`[[server]]` with `address` and chrony's
/// options) or of address strings; `[]` for none.
fn servers(v: &Value) -> Result<Vec<NtpServer>, String> {
    const EXPECTED: &str = "[[server]] tables with address = \"HOST[:PORT]\" and optionally iburst, minpoll, maxpoll, prefer, noselect (as chrony's server lines), or a list of addresses";
    let Some(list) = v.as_array() else {
        return Err(format!("expected {EXPECTED}; {}", found(v)));
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let n = i + 1;
        let mut policy = keel_core::engine::NtpPolicy::default();
        let address = match item {
            Value::String(a) => a.clone(),
            Value::Table(t) => {
                let mut address = None;
                for (k, x) in t {
                    let flag = |x: &Value| {
                        x.as_bool().ok_or_else(|| {
                            format!("server {n}: {k}: expected true or false; {}", found(x))
                        })
                    };
                    let poll = |x: &Value| {
                        int_in(x, -6, 17)
                            .and_then(|p| i8::try_from(p).ok())
                            .ok_or_else(|| {
                                format!(
                                    "server {n}: {k}: expected a poll exponent in -6..=17 (log2 s: 6 = 64 s); {}",
                                    found(x)
                                )
                            })
                    };
                    match k.as_str() {
                        "address" => address = string(x),
                        "iburst" => policy.iburst = flag(x)?,
                        "prefer" => policy.prefer = flag(x)?,
                        "noselect" => policy.noselect = flag(x)?,
                        "minpoll" => policy.minpoll = poll(x)?,
                        "maxpoll" => policy.maxpoll = poll(x)?,
                        other => {
                            return Err(format!(
                                "server {n}: unknown option {other:?}; expected address, iburst, minpoll, maxpoll, prefer or noselect"
                            ));
                        }
                    }
                }
                address
                    .ok_or_else(|| format!("server {n}: address = \"HOST[:PORT]\" is missing"))?
            }
            other => {
                return Err(format!(
                    "server {n}: expected a table or an address; {}",
                    found(other)
                ));
            }
        };
        if address.trim().is_empty() {
            return Err(format!("server {n}: the address is empty"));
        }
        if policy.minpoll > policy.maxpoll {
            return Err(format!(
                "server {n} ({address}): minpoll {} is above maxpoll {}",
                policy.minpoll, policy.maxpoll
            ));
        }
        out.push(NtpServer { address, policy });
    }
    Ok(out)
}

/// `ntp_serve`: a list of `ADDRESS:PORT` (or one), `""` or `[]` for none.
fn listen_addresses(v: &Value) -> Result<Vec<SocketAddr>, String> {
    const EXPECTED: &str = "a list of \"ADDRESS:PORT\" to serve NTP on, such as [\"0.0.0.0:123\", \"[::]:123\"], or [] for none";
    let items: Vec<&Value> = match v {
        Value::String(s) if s.is_empty() => Vec::new(),
        Value::String(_) => vec![v],
        Value::Array(a) => a.iter().collect(),
        _ => return Err(format!("expected {EXPECTED}; {}", found(v))),
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let text = item
            .as_str()
            .ok_or_else(|| format!("address {}: expected {EXPECTED}; {}", i + 1, found(item)))?;
        let a: SocketAddr = text.parse().map_err(|_| {
            let hint = if text.parse::<std::net::IpAddr>().is_ok() {
                " (the port is missing: NTP's is 123; an IPv6 address with a port is \"[ADDRESS]:PORT\")"
            } else {
                ""
            };
            format!("address {}: \"{text}\" is not ADDRESS:PORT{hint}; expected {EXPECTED}", i + 1)
        })?;
        if out.contains(&a) {
            return Err(format!("address {}: {a} is listed twice", i + 1));
        }
        out.push(a);
    }
    Ok(out)
}

/// `host_monitor`: a list of channels (or one), `""` or `[]` for none.
fn channels(v: &Value) -> Result<Vec<Channel>, String> {
    let items: Vec<&Value> = match v {
        Value::String(s) if s.is_empty() => Vec::new(),
        Value::String(_) => vec![v],
        Value::Array(a) => a.iter().collect(),
        _ => {
            return Err(format!(
                "expected a list of channels such as [\"vsock\", \"serial\"], or [] for none; {}",
                found(v)
            ));
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let text = item.as_str().ok_or_else(|| {
            format!(
                "channel {}: expected a string such as \"vsock:1123\"; {}",
                i + 1,
                found(item)
            )
        })?;
        let c = Channel::parse(text).map_err(|e| format!("channel {}: {e}", i + 1))?;
        if out.contains(&c) {
            return Err(format!("channel {}: \"{text}\" is listed twice", i + 1));
        }
        out.push(c);
    }
    Ok(out)
}

/// `host_monitor_control`: `false` (the default), `true` (re-acquire on
/// request, at most once a minute), or `{ reacquire = BOOL, min_interval =
/// SECONDS }`.
fn control(v: &Value) -> Result<ControlPolicy, String> {
    const EXPECTED: &str = "false (the default: the host's requests are refused and logged), true (re-acquire on request, at most once a minute), or { reacquire = true, min_interval = 1..=86400 }";
    match v {
        Value::Boolean(on) => Ok(ControlPolicy {
            reacquire: *on,
            ..ControlPolicy::OFF
        }),
        Value::Table(t) => {
            let mut c = ControlPolicy {
                reacquire: true,
                ..ControlPolicy::OFF
            };
            for (k, x) in t {
                match k.as_str() {
                    "reacquire" => {
                        c.reacquire = x.as_bool().ok_or_else(|| {
                            format!("reacquire: expected true or false; {}", found(x))
                        })?;
                    }
                    "min_interval" => {
                        let d = seconds_in(x, 1.0, 86_400.0).ok_or_else(|| {
                            format!("min_interval: expected seconds in 1..=86400; {}", found(x))
                        })?;
                        c.min_interval_ns = d.as_nanos().unsigned_abs();
                    }
                    other => return Err(format!("unknown option {other:?}; expected {EXPECTED}")),
                }
            }
            Ok(c)
        }
        _ => Err(format!("expected {EXPECTED}; {}", found(v))),
    }
}

/// `ntp_ratelimit`: `true` (chrony's defaults), `false`, or a table of
/// chrony's `ratelimit` options.
fn ratelimit(v: &Value) -> Result<Option<RateConfig>, String> {
    const EXPECTED: &str = "true (chrony's ratelimit interval 3 burst 8 leak 2, plus a RATE kiss for one in four of the refused), false, or { interval = -8..=12, burst = 1..=255, leak = 1..=4, kod = 0..=4 }";
    match v {
        Value::Boolean(true) => Ok(Some(RateConfig::DEFAULT)),
        Value::Boolean(false) => Ok(None),
        Value::Table(t) => {
            let mut c = RateConfig::DEFAULT;
            for (k, x) in t {
                let (lo, hi) = match k.as_str() {
                    "interval" => (-8, 12),
                    "burst" => (1, 255),
                    "leak" => (1, 4),
                    "kod" => (0, 4),
                    other => {
                        return Err(format!("unknown option {other:?}; expected {EXPECTED}"));
                    }
                };
                let n = int_in(x, lo, hi).ok_or_else(|| {
                    format!("{k}: expected an integer in {lo}..={hi}; {}", found(x))
                })?;
                match k.as_str() {
                    "interval" => c.interval = i8::try_from(n).unwrap_or(3),
                    "burst" => c.burst = u8::try_from(n).unwrap_or(8),
                    "leak" => c.leak = u8::try_from(n).unwrap_or(2),
                    _ => c.kod = u8::try_from(n).unwrap_or(2),
                }
            }
            Ok(Some(c))
        }
        _ => Err(format!("expected {EXPECTED}; {}", found(v))),
    }
}

fn string(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

fn path_or_off(v: &Value) -> Option<Option<PathBuf>> {
    v.as_str()
        .map(|s| (!s.is_empty()).then(|| PathBuf::from(s)))
}

fn int_in(v: &Value, lo: i64, hi: i64) -> Option<i64> {
    v.as_integer().filter(|i| (lo..=hi).contains(i))
}

#[allow(
    clippy::cast_possible_truncation,
    reason = "range-checked before the conversion"
)]
fn seconds_in(v: &Value, lo: f64, hi: f64) -> Option<Duration> {
    #[allow(clippy::cast_precision_loss, reason = "small integers")]
    let s = match v {
        Value::Integer(i) => *i as f64,
        Value::Float(f) => *f,
        _ => return None,
    };
    (s.is_finite() && s >= lo && s <= hi).then(|| Duration::from_nanos((s * 1e9).round() as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        let mut c = Config::default();
        c.merge_str(Path::new("/etc/keel/keel.toml"), text)
            .map(|()| c)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn good_file() {
        let c = parse(
            "# keel\nsource = \"KVM virtual PTP\"  # the hypervisor\n\ninterval = 0.25\nsamples = 9\nstep = \"never\"\nstep_threshold = 1\nmax_frequency = 500_000\nstate_file = \"\"\nmetrics_listen = \"127.0.0.1:9641\"\nlog_level = 'debug'\nservo = \"pi\"\nread_method = \"basic\"\ntime_scale = \"tai\"\n",
        )
        .unwrap();
        assert_eq!(c.source, "KVM virtual PTP");
        assert_eq!(c.interval, Duration::from_millis(250));
        assert_eq!(c.samples, 9);
        assert_eq!(c.step, StepPolicy::Never);
        assert_eq!(c.step_threshold, Duration::from_secs(1));
        assert_eq!(c.max_frequency, Ppb::from_ppb(500_000));
        assert_eq!(c.state_file, None);
        assert_eq!(c.metrics_listen, Some("127.0.0.1:9641".parse().unwrap()));
        assert_eq!(c.log_level, LogLevel::Debug);
        assert_eq!(c.servo, ServoKind::Pi);
        assert_eq!(c.read_method, MethodChoice::Only(ReadMethod::Basic));
        assert_eq!(c.time_scale, TimeScale::Tai);
    }

    #[test]
    fn bad_files_name_file_line_key_and_expectation() {
        let cases: &[(&str, &str)] = &[
            (
                "source = \"auto\"\nintervall = 1\n",
                "/etc/keel/keel.toml:2: key `intervall`: unknown key; expected one of: source, time_scale, tai_utc_offset, leap_seconds_list, vmclock, read_method, samples, sink, interval, servo, step, step_threshold, step_limit, max_frequency, reference_error, summary_updates, state_file, state_save_updates, status_socket, metrics_listen, metrics_allow_remote, log_level, time_page, clockbound_shm, time_page_void_after, ntp_serve, ntp_ratelimit, host_monitor, host_monitor_control, server",
            ),
            (
                "interval = \"fast\"\n",
                "/etc/keel/keel.toml:1: key `interval`: expected a number of seconds in 0.01..=1024; found \"fast\"",
            ),
            (
                "\n\nsamples = 26\n",
                "/etc/keel/keel.toml:3: key `samples`: expected an integer in 1..=25 (PTP_MAX_SAMPLES); found 26",
            ),
            (
                "step = always\n",
                "/etc/keel/keel.toml:1: key `step`: `always` is not a TOML value (strings need quotes: \"always\")",
            ),
            (
                "[daemon]\n",
                "/etc/keel/keel.toml:1: tables such as `[daemon]` are not used by keel: every option is a top-level `key = value`",
            ),
            (
                "source = \"auto\nx",
                "/etc/keel/keel.toml:1: key `source`: invalid basic string, expected `\"`",
            ),
            (
                "metrics_listen = \"0.0.0.0:9641\"\n",
                "/etc/keel/keel.toml:1: key `metrics_listen`: metrics_listen 0.0.0.0:9641 is not a loopback address; set metrics_allow_remote = true to expose the metrics beyond this host",
            ),
            (
                "servo = \"pi\"\nservo = \"kalman\"\n",
                "/etc/keel/keel.toml:2: key `servo`: set twice in this file",
            ),
            (
                "just words\n",
                "/etc/keel/keel.toml:1: key with no value, expected `=`; found `just words`",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text).unwrap_err(), *want, "for {text:?}");
        }
    }

    #[test]
    fn any_valid_toml_is_read() {
        // A byte-order mark, quoted keys, escapes, hex and underscores,
        // multi-line and literal strings, comments anywhere.
        let c = parse(concat!(
            "\u{feff}# keel\n",
            "\"source\" = \"KVM virtual PTP \\u00e9\\U0001F600\"\n",
            "'samples' = 0x10 # hex\n",
            "max_frequency = 0o1_000\n",
            "state_file = \"\"\"\n/var/lib/keel/state2\"\"\"\n",
            "status_socket = '''/run/k\\eel.sock'''\n",
            "interval = 2.5e-1\n",
            "step_limit = +3\n",
            "metrics_allow_remote = true\n",
        ))
        .unwrap();
        assert_eq!(c.source, "KVM virtual PTP é😀");
        assert_eq!(c.samples, 16);
        assert_eq!(c.max_frequency, Ppb::from_ppb(512));
        assert_eq!(c.state_file, Some(PathBuf::from("/var/lib/keel/state2")));
        assert_eq!(c.status_socket, Some(PathBuf::from("/run/k\\eel.sock")));
        assert_eq!(c.interval, Duration::from_millis(250));
        assert_eq!(c.step_limit, 3);
        assert!(c.metrics_allow_remote);
        // The line of an error counts from the first line, the mark or not.
        assert_eq!(
            parse("\u{feff}\nservo = \"pid\"\n").unwrap_err(),
            "/etc/keel/keel.toml:2: key `servo`: expected \"kalman\", \"pi\" or \"linreg\"; found \"pid\""
        );
    }

    #[test]
    fn every_toml_value_is_named_when_it_is_the_wrong_one() {
        let cases: &[(&str, &str)] = &[
            (
                "interval = nan\n",
                "/etc/keel/keel.toml:1: key `interval`: expected a number of seconds in 0.01..=1024; found nan",
            ),
            (
                "step_threshold = -inf\n",
                "/etc/keel/keel.toml:1: key `step_threshold`: expected a positive number of seconds (e.g. 0.00002 for 20 µs); found -inf",
            ),
            (
                "samples = 2.0\n",
                "/etc/keel/keel.toml:1: key `samples`: expected an integer in 1..=25 (PTP_MAX_SAMPLES); found 2.0",
            ),
            (
                "step = 1979-05-27\n",
                "/etc/keel/keel.toml:1: key `step`: expected \"always\", \"first\" or \"never\"; found the date-time 1979-05-27",
            ),
            (
                "\nservo = [\"pi\"]\n",
                "/etc/keel/keel.toml:2: key `servo`: expected \"kalman\", \"pi\" or \"linreg\"; found an array",
            ),
            (
                "metrics_allow_remote = \"yes\"\n",
                "/etc/keel/keel.toml:1: key `metrics_allow_remote`: expected true or false; found \"yes\"",
            ),
            (
                "log_level = { level = \"debug\" }\n",
                "/etc/keel/keel.toml:1: key `log_level`: expected \"error\", \"warning\", \"info\" or \"debug\"; found a table",
            ),
            (
                "interval = 1.\n",
                "/etc/keel/keel.toml:1: key `interval`: invalid fraction, expected digits",
            ),
            (
                "servo = \"pi\"\n\"servo\" = \"pi\"\n",
                "/etc/keel/keel.toml:2: key `servo`: set twice in this file",
            ),
            (
                "daemon.servo = \"pi\"\n",
                "/etc/keel/keel.toml:1: key `daemon`: unknown key; expected one of: source, time_scale, tai_utc_offset, leap_seconds_list, vmclock, read_method, samples, sink, interval, servo, step, step_threshold, step_limit, max_frequency, reference_error, summary_updates, state_file, state_save_updates, status_socket, metrics_listen, metrics_allow_remote, log_level, time_page, clockbound_shm, time_page_void_after, ntp_serve, ntp_ratelimit, host_monitor, host_monitor_control, server",
            ),
            (
                "servo = \"pi\"\n[[servos]] # more\n",
                "/etc/keel/keel.toml:2: tables such as `[[servos]]` are not used by keel: every option is a top-level `key = value`",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text).unwrap_err(), *want, "for {text:?}");
        }
    }

    #[test]
    fn sink_values() {
        let c = parse("sink = \"/dev/ptp1\"\n").unwrap();
        assert_eq!(c.sink, "/dev/ptp1");
        let c = parse("source = \"gnss\"\nsink = \"igb\"\n").unwrap();
        assert_eq!((c.source.as_str(), c.sink.as_str()), ("gnss", "igb"));
        assert_eq!(Config::default().sink, "CLOCK_REALTIME");
        let c = parse("sink = \"CLOCK_REALTIME\"\n").unwrap();
        assert_eq!(c.sink, "CLOCK_REALTIME");
        let expected = "expected \"CLOCK_REALTIME\" (the system clock), a PHC device path such as \"/dev/ptp1\", or a PHC clock name such as \"igb\"";
        let cases: Vec<(&str, String)> = vec![
            (
                "sink = \"CLOCK_TAI\"\n",
                format!("/etc/keel/keel.toml:1: key `sink`: keel steers CLOCK_REALTIME or a PHC, not CLOCK_TAI; {expected}"),
            ),
            (
                "sink = \"auto\"\n",
                format!("/etc/keel/keel.toml:1: key `sink`: \"auto\" only chooses a source; {expected}"),
            ),
            (
                "sink = \"\"\n",
                format!("/etc/keel/keel.toml:1: key `sink`: {expected}; found \"\""),
            ),
            (
                "sink = 1\n",
                format!("/etc/keel/keel.toml:1: key `sink`: {expected}; found 1"),
            ),
            (
                "source = \"/dev/ptp0\"\nsink = \"/dev/ptp0\"\n",
                "/etc/keel/keel.toml:2: key `sink`: source and sink are the same clock (\"/dev/ptp0\"): keel cannot steer the clock it follows; set sink to \"CLOCK_REALTIME\" or to another PHC".to_string(),
            ),
            (
                "sink = \"igb\"\nsource = \"igb\"\n",
                "/etc/keel/keel.toml:2: key `source`: source and sink are the same clock (\"igb\"): keel cannot steer the clock it follows; set sink to \"CLOCK_REALTIME\" or to another PHC".to_string(),
            ),
        ];
        for (text, want) in &cases {
            assert_eq!(parse(text).unwrap_err(), *want, "for {text:?}");
        }
        // The command line too.
        let mut c = Config::default();
        c.set_cli("--sink", "sink", "/dev/ptp2").unwrap();
        assert_eq!(c.sink, "/dev/ptp2");
        c.set_cli("--sink", "sink", "KVM virtual PTP").unwrap();
        assert_eq!(c.sink, "KVM virtual PTP");
        let e = c
            .set_cli("--source", "source", "KVM virtual PTP")
            .unwrap_err();
        assert!(
            e.to_string().starts_with(
                "command line option --source: key `source`: source and sink are the same clock"
            ),
            "{e}"
        );
    }

    #[test]
    fn cli_overrides() {
        let mut c = Config::default();
        c.set_cli("--interval", "interval", "2").unwrap();
        assert_eq!(c.interval, Duration::from_secs(2));
        c.set_cli("--source", "source", "/dev/ptp3").unwrap();
        assert_eq!(c.source, "/dev/ptp3");
        c.set_cli("--step", "step", "always").unwrap();
        assert_eq!(c.step, StepPolicy::Always);
        c.set_cli("--step-limit", "step_limit", "3").unwrap();
        assert_eq!(c.step_limit, 3);
        // Numbers are TOML numbers; a string key takes the text, or the TOML
        // string it spells.
        c.set_cli("--samples", "samples", "0x10").unwrap();
        assert_eq!(c.samples, 16);
        c.set_cli("--state-file", "state_file", "\"\"").unwrap();
        assert_eq!(c.state_file, None);
        c.set_cli("--state-file", "state_file", "1").unwrap();
        assert_eq!(c.state_file, Some(PathBuf::from("1")));
        let e = c.set_cli("--interval", "interval", "inf").unwrap_err();
        assert_eq!(
            e.to_string(),
            "command line option --interval: key `interval`: expected a number of seconds in 0.01..=1024; found inf"
        );
        let e = c.set_cli("--samples", "samples", "many").unwrap_err();
        assert_eq!(
            e.to_string(),
            "command line option --samples: key `samples`: expected an integer in 1..=25 (PTP_MAX_SAMPLES); found \"many\""
        );
    }

    #[test]
    fn host_monitor_channels_and_control() {
        let c = parse("").unwrap();
        assert!(c.host_monitor.is_empty(), "off by default");
        assert_eq!(c.host_monitor_control, ControlPolicy::OFF);
        let c = parse(
            "host_monitor = [\"vsock\", \"serial\", \"vsock:5000\", \"unix:/run/keel/ktp.sock\"]\nhost_monitor_control = { min_interval = 600 }\n",
        )
        .unwrap();
        assert_eq!(
            c.host_monitor,
            vec![
                Channel::Vsock(1123),
                Channel::Serial("org.keel.time.0".into()),
                Channel::Vsock(5000),
                Channel::Unix("/run/keel/ktp.sock".into()),
            ]
        );
        assert!(c.host_monitor_control.reacquire);
        assert_eq!(c.host_monitor_control.min_interval_ns, 600_000_000_000);
        assert!(
            parse("host_monitor_control = true\n")
                .unwrap()
                .host_monitor_control
                .reacquire
        );
        for (text, msg) in [
            (
                "host_monitor = \"vsock:0\"\n",
                "/etc/keel/keel.toml:1: key `host_monitor`: channel 1: \"vsock:0\": the vsock port must be an integer in 1..4294967295",
            ),
            (
                "host_monitor = [\"serial\", \"tcp:1\"]\n",
                "/etc/keel/keel.toml:1: key `host_monitor`: channel 2: \"tcp:1\" is not a channel; expected \"vsock[:PORT]\" (default port 1123), \"serial[:NAME or /dev/PATH]\" (default name org.keel.time.0) or \"unix:/PATH\"",
            ),
            (
                "host_monitor = [\"vsock\", \"vsock:1123\"]\n",
                "/etc/keel/keel.toml:1: key `host_monitor`: channel 2: \"vsock:1123\" is listed twice",
            ),
            (
                "host_monitor_control = { step = true }\n",
                "/etc/keel/keel.toml:1: key `host_monitor_control`: unknown option \"step\"; expected false (the default: the host's requests are refused and logged), true (re-acquire on request, at most once a minute), or { reacquire = true, min_interval = 1..=86400 }",
            ),
        ] {
            assert_eq!(parse(text).unwrap_err(), msg, "for {text:?}");
        }
    }

    #[test]
    fn ntp_serve_and_ratelimit() {
        let c = Config::default();
        assert!(c.ntp_serve.is_empty(), "off by default");
        assert_eq!(c.ntp_ratelimit, Some(RateConfig::DEFAULT));
        let c =
            parse("ntp_serve = [\"0.0.0.0:123\", \"[::]:123\"]\nntp_ratelimit = false\n").unwrap();
        assert_eq!(
            c.ntp_serve,
            vec![
                "0.0.0.0:123".parse::<SocketAddr>().unwrap(),
                "[::]:123".parse().unwrap()
            ]
        );
        assert_eq!(c.ntp_ratelimit, None);
        let c =
            parse("ntp_serve = \"127.0.0.1:11123\"\nntp_ratelimit = { interval = 0, burst = 4 }\n")
                .unwrap();
        assert_eq!(c.ntp_serve.len(), 1);
        assert_eq!(
            c.ntp_ratelimit,
            Some(RateConfig {
                interval: 0,
                burst: 4,
                ..RateConfig::DEFAULT
            })
        );
        assert!(parse("ntp_serve = \"\"\n").unwrap().ntp_serve.is_empty());
        assert!(parse("ntp_serve = []\n").unwrap().ntp_serve.is_empty());
        let cases: &[(&str, &str)] = &[
            (
                "ntp_serve = \"0.0.0.0\"\n",
                "/etc/keel/keel.toml:1: key `ntp_serve`: address 1: \"0.0.0.0\" is not ADDRESS:PORT (the port is missing: NTP's is 123; an IPv6 address with a port is \"[ADDRESS]:PORT\"); expected a list of \"ADDRESS:PORT\" to serve NTP on, such as [\"0.0.0.0:123\", \"[::]:123\"], or [] for none",
            ),
            (
                "ntp_serve = [\"127.0.0.1:123\", 123]\n",
                "/etc/keel/keel.toml:1: key `ntp_serve`: address 2: expected a list of \"ADDRESS:PORT\" to serve NTP on, such as [\"0.0.0.0:123\", \"[::]:123\"], or [] for none; found 123",
            ),
            (
                "ntp_serve = [\"[::]:123\", \"[::]:123\"]\n",
                "/etc/keel/keel.toml:1: key `ntp_serve`: address 2: [::]:123 is listed twice",
            ),
            (
                "ntp_ratelimit = \"yes\"\n",
                "/etc/keel/keel.toml:1: key `ntp_ratelimit`: expected true (chrony's ratelimit interval 3 burst 8 leak 2, plus a RATE kiss for one in four of the refused), false, or { interval = -8..=12, burst = 1..=255, leak = 1..=4, kod = 0..=4 }; found \"yes\"",
            ),
            (
                "ntp_ratelimit = { burst = 0 }\n",
                "/etc/keel/keel.toml:1: key `ntp_ratelimit`: burst: expected an integer in 1..=255; found 0",
            ),
            (
                "ntp_ratelimit = { rate = 1 }\n",
                "/etc/keel/keel.toml:1: key `ntp_ratelimit`: unknown option \"rate\"; expected true (chrony's ratelimit interval 3 burst 8 leak 2, plus a RATE kiss for one in four of the refused), false, or { interval = -8..=12, burst = 1..=255, leak = 1..=4, kod = 0..=4 }",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text).unwrap_err(), *want, "for {text:?}");
        }
    }

    #[test]
    fn example_file_parses_and_documents_every_key() {
        let text = include_str!("../keel.toml.example");
        let c = parse(text).unwrap();
        assert_eq!(c, Config::default(), "the example shows the defaults");
        for k in KEYS {
            assert!(
                text.contains(&format!("\n# {k} = "))
                    || text.contains(&format!("\n{k} = "))
                    || text.contains(&format!("\n# [[{k}]]\n")),
                "{k} undocumented"
            );
        }
    }
}

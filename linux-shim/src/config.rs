//! The configuration: a TOML file (`/etc/keel/keel.toml` by default) plus
//! command-line overrides.
//!
//! keel reads the TOML subset its options need — top-level `key = value`
//! lines with strings, integers, floats and booleans, and `#` comments — with
//! its own small parser, so that every error names the file, the line, the key
//! and what is expected (tables, arrays and dates are rejected with a message
//! saying so). `linux-shim/keel.toml.example` documents every option.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use keel_core::measure::phc::ReadMethod;
use keel_core::time::{Duration, Ppb};

use crate::phc::MethodChoice;

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
        }
    }
}

/// Every key, in documentation order.
pub const KEYS: &[&str] = &[
    "source",
    "time_scale",
    "tai_utc_offset",
    "leap_seconds_list",
    "vmclock",
    "read_method",
    "samples",
    "sink",
    "interval",
    "servo",
    "step",
    "step_threshold",
    "step_limit",
    "max_frequency",
    "reference_error",
    "summary_updates",
    "state_file",
    "state_save_updates",
    "status_socket",
    "metrics_listen",
    "metrics_allow_remote",
    "log_level",
];

/// A parsed TOML value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `"…"`.
    Str(String),
    /// `42`.
    Int(i64),
    /// `1.5`.
    Float(f64),
    /// `true`/`false`.
    Bool(bool),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Str(s) => write!(f, "\"{s}\""),
            Self::Int(i) => write!(f, "{i}"),
            Self::Float(x) => write!(f, "{x}"),
            Self::Bool(b) => write!(f, "{b}"),
        }
    }
}

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
        match std::fs::read_to_string(path) {
            Ok(text) => {
                c.merge_str(path, &text).map_err(LoadError::Bad)?;
                Ok(c)
            }
            Err(e) if missing_ok && e.kind() == std::io::ErrorKind::NotFound => Ok(c),
            Err(e) => Err(LoadError::Io(path.to_path_buf(), e)),
        }
    }

    /// Applies the settings of a file's text.
    ///
    /// # Errors
    /// The first bad line.
    pub fn merge_str(&mut self, path: &Path, text: &str) -> Result<(), ConfigError> {
        let mut seen: Vec<String> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let origin = Origin::File(path.to_path_buf(), i + 1);
            let Some((key, value)) = parse_line(raw).map_err(|message| ConfigError {
                origin: origin.clone(),
                key: None,
                message,
            })?
            else {
                continue;
            };
            if seen.contains(&key) {
                return Err(ConfigError {
                    origin,
                    key: Some(key),
                    message: "set twice in this file".into(),
                });
            }
            self.set(&key, value, &origin)?;
            seen.push(key);
        }
        Ok(())
    }

    /// Sets one key from a command-line string (parsed as the key's type).
    ///
    /// # Errors
    /// Unknown key or bad value.
    pub fn set_cli(&mut self, flag: &str, key: &str, raw: &str) -> Result<(), ConfigError> {
        let v = parse_value(raw).unwrap_or_else(|_| Value::Str(raw.to_string()));
        // A bare word for a string key is the string itself.
        let v = match (v, is_string_key(key)) {
            (Value::Str(s), _) => Value::Str(s),
            (_, true) => Value::Str(raw.to_string()),
            (v, false) => v,
        };
        self.set(key, v, &Origin::Cli(flag.to_string()))
    }

    /// Sets one key.
    ///
    /// # Errors
    /// Unknown key or bad value: the message says what is expected.
    #[allow(
        clippy::too_many_lines,
        reason = "one arm per option, flat and readable"
    )]
    pub fn set(&mut self, key: &str, v: Value, origin: &Origin) -> Result<(), ConfigError> {
        let err = |message: String| ConfigError {
            origin: origin.clone(),
            key: Some(key.to_string()),
            message,
        };
        let found = |v: &Value| format!("found {v}");
        match key {
            "source" => {
                self.source = string(&v).filter(|s| !s.is_empty()).ok_or_else(|| {
                    err(format!(
                        "expected \"auto\", a device path such as \"/dev/ptp0\", or a PHC clock name such as \"KVM virtual PTP\"; {}",
                        found(&v)
                    ))
                })?;
            }
            "sink" => {
                let expected = "expected \"CLOCK_REALTIME\" (the system clock), a PHC device path such as \"/dev/ptp1\", or a PHC clock name such as \"igb\"";
                let s = string(&v)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| err(format!("{expected}; {}", found(&v))))?;
                if s == "auto" {
                    return Err(err(format!("\"auto\" only chooses a source; {expected}")));
                }
                if s.starts_with("CLOCK_") && s != crate::phc::SINK_REALTIME {
                    return Err(err(format!(
                        "keel steers CLOCK_REALTIME or a PHC, not {s}; {expected}"
                    )));
                }
                self.sink = s;
            }
            "time_scale" => {
                self.time_scale = match string(&v).as_deref() {
                    Some("auto") => TimeScale::Auto,
                    Some("utc") => TimeScale::Utc,
                    Some("tai") => TimeScale::Tai,
                    _ => {
                        return Err(err(format!(
                            "expected \"auto\", \"utc\" or \"tai\"; {}",
                            found(&v)
                        )));
                    }
                };
            }
            "tai_utc_offset" => {
                self.tai_utc_offset = int_in(&v, 0, 100).ok_or_else(|| {
                    err(format!(
                        "expected an integer number of seconds in 0..=100 (37 since 2017); {}",
                        found(&v)
                    ))
                })?;
            }
            "read_method" => {
                self.read_method = match string(&v).as_deref() {
                    Some("auto") => MethodChoice::Auto,
                    Some("precise") => MethodChoice::Only(ReadMethod::Precise),
                    Some("extended") => MethodChoice::Only(ReadMethod::Extended),
                    Some("basic") => MethodChoice::Only(ReadMethod::Basic),
                    _ => {
                        return Err(err(format!(
                            "expected \"auto\", \"precise\", \"extended\" or \"basic\"; {}",
                            found(&v)
                        )));
                    }
                };
            }
            "samples" => {
                let n = int_in(&v, 1, 25).ok_or_else(|| {
                    err(format!(
                        "expected an integer in 1..=25 (PTP_MAX_SAMPLES); {}",
                        found(&v)
                    ))
                })?;
                self.samples = usize::try_from(n).unwrap_or(1);
            }
            "interval" => {
                self.interval = seconds_in(&v, 0.01, 1024.0).ok_or_else(|| {
                    err(format!(
                        "expected a number of seconds in 0.01..=1024; {}",
                        found(&v)
                    ))
                })?;
            }
            "servo" => {
                self.servo = match string(&v).as_deref() {
                    Some("kalman") => ServoKind::Kalman,
                    Some("pi") => ServoKind::Pi,
                    Some("linreg") => ServoKind::Linreg,
                    _ => {
                        return Err(err(format!(
                            "expected \"kalman\", \"pi\" or \"linreg\"; {}",
                            found(&v)
                        )));
                    }
                };
            }
            "step" => {
                self.step = match string(&v).as_deref() {
                    Some("always") => StepPolicy::Always,
                    Some("first") => StepPolicy::First,
                    Some("never") => StepPolicy::Never,
                    _ => {
                        return Err(err(format!(
                            "expected \"always\", \"first\" or \"never\"; {}",
                            found(&v)
                        )));
                    }
                };
            }
            "step_threshold" => {
                self.step_threshold = seconds_in(&v, 0.000_000_001, 1e6).ok_or_else(|| {
                    err(format!(
                        "expected a positive number of seconds (e.g. 0.00002 for 20 µs); {}",
                        found(&v)
                    ))
                })?;
            }
            "step_limit" => {
                self.step_limit = u32::try_from(int_in(&v, 0, 1_000_000).ok_or_else(|| {
                    err(format!(
                        "expected an integer number of updates in 0..=1000000 (0 = no limit); {}",
                        found(&v)
                    ))
                })?)
                .unwrap_or(0);
            }
            "max_frequency" => {
                let n = int_in(&v, 1, 100_500_000).ok_or_else(|| {
                    err(format!(
                        "expected an integer number of ppb in 1..=100500000 (10 % + 500 ppm); {}",
                        found(&v)
                    ))
                })?;
                self.max_frequency = Ppb::from_ppb(n);
            }
            "reference_error" => {
                self.reference_error = seconds_in(&v, 0.0, 1000.0).ok_or_else(|| {
                    err(format!(
                        "expected a number of seconds in 0..=1000 (the reference's own error); {}",
                        found(&v)
                    ))
                })?;
            }
            "summary_updates" => {
                self.summary_updates =
                    u32::try_from(int_in(&v, 0, 1_000_000).ok_or_else(|| {
                        err(format!(
                            "expected an integer in 0..=1000000 (0 = a line every update); {}",
                            found(&v)
                        ))
                    })?)
                    .unwrap_or(60);
            }
            "state_file" => {
                self.state_file = path_or_off(&v).ok_or_else(|| {
                    err(format!("expected a path, or \"\" for none; {}", found(&v)))
                })?
            }
            "leap_seconds_list" => {
                self.leap_seconds_list = path_or_off(&v).ok_or_else(|| {
                    err(format!("expected a path, or \"\" for none; {}", found(&v)))
                })?
            }
            "vmclock" => {
                self.vmclock = path_or_off(&v).ok_or_else(|| {
                    err(format!("expected a path, or \"\" for none; {}", found(&v)))
                })?
            }
            "state_save_updates" => {
                self.state_save_updates =
                    u32::try_from(int_in(&v, 1, 1_000_000).ok_or_else(|| {
                        err(format!("expected an integer in 1..=1000000; {}", found(&v)))
                    })?)
                    .unwrap_or(600);
            }
            "status_socket" => {
                self.status_socket = path_or_off(&v).ok_or_else(|| {
                    err(format!("expected a path, or \"\" for none; {}", found(&v)))
                })?
            }
            "metrics_listen" => {
                let s = string(&v).ok_or_else(|| err(format!("expected \"ADDRESS:PORT\" such as \"127.0.0.1:9641\", or \"\" for none; {}", found(&v))))?;
                self.metrics_listen = if s.is_empty() {
                    None
                } else {
                    Some(s.parse().map_err(|_| {
                        err(format!("expected \"ADDRESS:PORT\" such as \"127.0.0.1:9641\", or \"\" for none; {}", found(&v)))
                    })?)
                };
            }
            "metrics_allow_remote" => {
                self.metrics_allow_remote = match v {
                    Value::Bool(b) => b,
                    _ => return Err(err(format!("expected true or false; {}", found(&v)))),
                };
            }
            "log_level" => {
                self.log_level = match string(&v).as_deref() {
                    Some("error") => LogLevel::Error,
                    Some("warning") => LogLevel::Warning,
                    Some("info") => LogLevel::Info,
                    Some("debug") => LogLevel::Debug,
                    _ => {
                        return Err(err(format!(
                            "expected \"error\", \"warning\", \"info\" or \"debug\"; {}",
                            found(&v)
                        )));
                    }
                };
            }
            _ => {
                return Err(ConfigError {
                    origin: origin.clone(),
                    key: Some(key.to_string()),
                    message: format!("unknown key; expected one of: {}", KEYS.join(", ")),
                });
            }
        }
        self.check_combination(origin, key)
    }

    fn check_combination(&self, origin: &Origin, key: &str) -> Result<(), ConfigError> {
        if self.sink == self.source {
            return Err(ConfigError {
                origin: origin.clone(),
                key: Some(key.to_string()),
                message: format!(
                    "source and sink are the same clock (\"{}\"): keel cannot steer the clock it follows; set sink to \"CLOCK_REALTIME\" or to another PHC",
                    self.sink
                ),
            });
        }
        if let Some(a) = self.metrics_listen {
            if !a.ip().is_loopback() && !self.metrics_allow_remote {
                return Err(ConfigError {
                    origin: origin.clone(),
                    key: Some(key.to_string()),
                    message: format!(
                        "metrics_listen {a} is not a loopback address; set metrics_allow_remote = true to expose the metrics beyond this host"
                    ),
                });
            }
        }
        Ok(())
    }
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
            | "metrics_listen"
            | "log_level"
    )
}

fn string(v: &Value) -> Option<String> {
    match v {
        Value::Str(s) => Some(s.clone()),
        _ => None,
    }
}

fn path_or_off(v: &Value) -> Option<Option<PathBuf>> {
    match v {
        Value::Str(s) if s.is_empty() => Some(None),
        Value::Str(s) => Some(Some(PathBuf::from(s))),
        _ => None,
    }
}

fn int_in(v: &Value, lo: i64, hi: i64) -> Option<i64> {
    match v {
        Value::Int(i) if (lo..=hi).contains(i) => Some(*i),
        _ => None,
    }
}

#[allow(
    clippy::cast_possible_truncation,
    reason = "range-checked before the conversion"
)]
fn seconds_in(v: &Value, lo: f64, hi: f64) -> Option<Duration> {
    #[allow(clippy::cast_precision_loss, reason = "small integers")]
    let s = match v {
        Value::Int(i) => *i as f64,
        Value::Float(f) => *f,
        _ => return None,
    };
    (s.is_finite() && s >= lo && s <= hi).then(|| Duration::from_nanos((s * 1e9).round() as i64))
}

/// One line: `None` for blank/comment lines, else `(key, value)`.
fn parse_line(raw: &str) -> Result<Option<(String, Value)>, String> {
    let line = raw.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    if line.starts_with('[') {
        return Err(format!(
            "tables such as `{line}` are not used by keel: every option is a top-level `key = value`"
        ));
    }
    let Some((k, rest)) = line.split_once('=') else {
        return Err(format!("expected `key = value`, found `{line}`"));
    };
    let key = k.trim();
    if key.is_empty()
        || !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(format!("expected a bare key before `=`, found `{key}`"));
    }
    let value = parse_value(rest.trim()).map_err(|m| format!("key `{key}`: {m}"))?;
    Ok(Some((key.to_string(), value)))
}

/// A TOML scalar followed by an optional comment.
fn parse_value(s: &str) -> Result<Value, String> {
    if let Some(body) = s.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = body.chars();
        loop {
            match chars.next() {
                None => return Err("unterminated string (missing closing `\"`)".into()),
                Some('"') => break,
                Some('\\') => match chars.next() {
                    Some('"') => out.push('"'),
                    Some('\\') => out.push('\\'),
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    other => {
                        return Err(format!(
                            "unsupported escape `\\{}` in string",
                            other.map(String::from).unwrap_or_default()
                        ));
                    }
                },
                Some(c) => out.push(c),
            }
        }
        let tail = chars.as_str().trim();
        if !tail.is_empty() && !tail.starts_with('#') {
            return Err(format!("unexpected `{tail}` after the string"));
        }
        return Ok(Value::Str(out));
    }
    if let Some(body) = s.strip_prefix('\'') {
        let end = body
            .find('\'')
            .ok_or("unterminated string (missing closing `'`)")?;
        let tail = body[end + 1..].trim();
        if !tail.is_empty() && !tail.starts_with('#') {
            return Err(format!("unexpected `{tail}` after the string"));
        }
        return Ok(Value::Str(body[..end].to_string()));
    }
    let word = s.split('#').next().unwrap_or("").trim();
    if word.is_empty() {
        return Err("missing value after `=`".into());
    }
    if word.starts_with('[') || word.starts_with('{') {
        return Err("arrays and inline tables are not used by keel".into());
    }
    match word {
        "true" => return Ok(Value::Bool(true)),
        "false" => return Ok(Value::Bool(false)),
        _ => {}
    }
    let digits: String = word.chars().filter(|&c| c != '_').collect();
    if let Ok(i) = digits.parse::<i64>() {
        return Ok(Value::Int(i));
    }
    if digits
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'))
    {
        if let Ok(f) = digits.parse::<f64>() {
            return Ok(Value::Float(f));
        }
    }
    Err(format!(
        "`{word}` is not a TOML value (strings need quotes: \"{word}\")"
    ))
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
                "/etc/keel/keel.toml:2: key `intervall`: unknown key; expected one of: source, time_scale, tai_utc_offset, leap_seconds_list, vmclock, read_method, samples, sink, interval, servo, step, step_threshold, step_limit, max_frequency, reference_error, summary_updates, state_file, state_save_updates, status_socket, metrics_listen, metrics_allow_remote, log_level",
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
                "/etc/keel/keel.toml:1: key `source`: unterminated string (missing closing `\"`)",
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
                "/etc/keel/keel.toml:1: expected `key = value`, found `just words`",
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
        let e = c.set_cli("--samples", "samples", "many").unwrap_err();
        assert_eq!(
            e.to_string(),
            "command line option --samples: key `samples`: expected an integer in 1..=25 (PTP_MAX_SAMPLES); found \"many\""
        );
    }

    #[test]
    fn example_file_parses_and_documents_every_key() {
        let text = include_str!("../keel.toml.example");
        let c = parse(text).unwrap();
        assert_eq!(c, Config::default(), "the example shows the defaults");
        for k in KEYS {
            assert!(
                text.contains(&format!("\n# {k} = ")) || text.contains(&format!("\n{k} = ")),
                "{k} undocumented"
            );
        }
    }
}

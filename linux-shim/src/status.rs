//! What the daemon shows: the status snapshot, its wire form on the status
//! socket, `keel status` output (chronyc-tracking-like text and JSON), and
//! the Prometheus text exposition.
//!
//! Status socket protocol (version 1): the client connects to the Unix
//! socket; the daemon writes `keel-status 1\n` followed by `key value\n`
//! lines and closes. No request is read, so a client can never stall the
//! daemon's single thread.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// The daemon's state as reported.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// Source → sink description.
    pub source: String,
    /// The steered clock: `CLOCK_REALTIME` or the sink PHC.
    pub sink: String,
    /// PHC read method in use, or `-`.
    pub method: String,
    /// `sync`, `dry-run` or `sim`.
    pub mode: String,
    /// Servo state: `unlocked`, `jump`, `locked`, `locked-stable`, or
    /// `holdover` while the PHC cannot be read.
    pub state: String,
    /// Last measured offset, ns (local − reference).
    pub last_offset_ns: i64,
    /// RMS of the last [`Snapshot::rms_offset_readings`] measured offsets,
    /// ns ([`RecentOffsets`]).
    pub rms_offset_ns: f64,
    /// How many readings [`Snapshot::rms_offset_ns`] covers (at most
    /// [`RMS_WINDOW`]; 0 from a daemon that did not say, whose figure was an
    /// exponential average).
    pub rms_offset_readings: u32,
    /// Frequency correction in force, ppb (positive = faster).
    pub freq_ppb: f64,
    /// Error bound after the last update, ns (`None`: no trustworthy bound).
    pub error_bound_ns: Option<i64>,
    /// Read delay of the last sample, ns.
    pub delay_ns: i64,
    /// When the last update was made, Unix s, on this machine's real
    /// `CLOCK_REALTIME` (also in a simulation, whose own clocks run on
    /// another time line), so that `keel status` can give its age.
    pub last_update_unix: f64,
    /// Seconds between updates.
    pub interval_s: f64,
    /// Updates made.
    pub updates: u64,
    /// Clock steps.
    pub steps: u64,
    /// Disruptions (migration, resume, lost read method).
    pub disruptions: u64,
    /// Updates without a PHC reading.
    pub read_errors: u64,
    /// Interference seen (someone else changed the clock).
    pub interference: u64,
    /// Clock writes the kernel refused (a frequency, a step, the
    /// maxerror/status word): `EPERM` without `CAP_SYS_TIME`, say.
    pub clock_writes_refused: u64,
    /// Simulation only: the true offset, ns.
    pub true_offset_ns: Option<f64>,
    /// What applications are served on the time page: its status
    /// (`synchronized`, `free-running`, `disrupted`, `unknown`; empty when
    /// no page is published).
    pub served_status: String,
    /// The bound served at the last update, ns.
    pub served_bound_ns: Option<i64>,
    /// How fast the served bound grows, ppb (ns per second).
    pub served_growth_ppb: Option<u32>,
    /// With NTP servers: the PHC's standing with their jury (`steering`,
    /// `rejected`, `none` without a PHC); empty without NTP servers.
    pub phc_jury: String,
    /// PHC readings the NTP jury outvoted.
    pub outvoted: u64,
    /// The NTP servers.
    pub ntp: Vec<SourceLine>,
}

/// One NTP server as `keel sources` shows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SourceLine {
    /// As configured.
    pub name: String,
    /// The address in use, or `-`.
    pub address: String,
    /// RFC 5905's reach register.
    pub reach: u8,
    /// Poll interval, log₂ s.
    pub poll: i8,
    /// The estimate: sink − server, ns (positive: the clock is ahead),
    /// its half-width and round-trip delay, ns, and the sample's age, s.
    pub offset_ns: Option<i64>,
    /// Half-width of the interval the true offset lies in, ns.
    pub half_width_ns: Option<i64>,
    /// Round-trip delay of the sample used, ns.
    pub delay_ns: Option<i64>,
    /// Age of the sample used, s.
    pub age_s: Option<f64>,
    /// `truechimer`, `falseticker`, `noselect`, `unreachable` or `waiting`.
    pub state: String,
}

impl SourceLine {
    /// The wire form: tab-separated after `ntp `.
    fn encode(&self) -> String {
        let o = |v: Option<i64>| opt_i(v);
        format!(
            "ntp {}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            self.name.replace(['\t', '\n'], " "),
            self.address,
            self.reach,
            self.poll,
            o(self.offset_ns),
            o(self.half_width_ns),
            o(self.delay_ns),
            self.age_s.map_or_else(|| "-".into(), |a| format!("{a:.1}")),
            self.state
        )
    }

    fn decode(v: &str) -> Self {
        let mut f = v.split('\t');
        let mut next = || f.next().unwrap_or("").to_string();
        Self {
            name: next(),
            address: next(),
            reach: next().parse().unwrap_or(0),
            poll: next().parse().unwrap_or(0),
            offset_ns: next().parse().ok(),
            half_width_ns: next().parse().ok(),
            delay_ns: next().parse().ok(),
            age_s: next().parse().ok(),
            state: next(),
        }
    }
}

/// `chronyc sources`-like table of the PHC and the NTP servers.
pub fn sources_table(snap: &Snapshot) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "  .-- Source: P = PHC, N = NTP server\n /  .- State: * steering, + truechimer (its jury), x falseticker or rejected, ? unreachable or waiting, - noselect\n|  /\n|  |  Name/address                   Poll Reach LastRx Last sample"
    );
    let _ = writeln!(s, "{}", "=".repeat(86));
    let phc_mark = match snap.phc_jury.as_str() {
        "rejected" => 'x',
        _ => '*',
    };
    if snap.phc_jury != "none" {
        #[allow(clippy::cast_precision_loss, reason = "display")]
        let _ = writeln!(
            s,
            "P  {phc_mark}  {:<31} {:>4} {:>5} {:>6} {}",
            snap.source,
            "-",
            "-",
            "-",
            format_args!(
                "{} ± {}",
                fmt_ns(snap.last_offset_ns as f64),
                snap.error_bound_ns
                    .map_or_else(|| "?".into(), |b| fmt_ns(b as f64))
            )
        );
    }
    for n in &snap.ntp {
        let mark = match n.state.as_str() {
            "truechimer" if snap.phc_jury == "rejected" || snap.phc_jury == "none" => '*',
            "truechimer" => '+',
            "falseticker" => 'x',
            "noselect" => '-',
            _ => '?',
        };
        let name = if n.address == "-" || n.address.starts_with(&n.name) {
            n.name.clone()
        } else {
            format!("{} ({})", n.name, n.address)
        };
        #[allow(clippy::cast_precision_loss, reason = "display")]
        let sample = match (n.offset_ns, n.half_width_ns) {
            (Some(o), Some(w)) => format!("{} ± {}", fmt_ns(o as f64), fmt_ns(w as f64)),
            _ => "-".into(),
        };
        let _ = writeln!(
            s,
            "N  {mark}  {name:<31} {:>4} {:>5o} {:>6} {sample}",
            n.poll,
            n.reach,
            n.age_s.map_or_else(|| "-".into(), |a| format!("{a:.0}"))
        );
    }
    s
}

/// Nanoseconds for a table: ns, µs, ms or s with a sign.
fn fmt_ns(ns: f64) -> String {
    let a = ns.abs();
    let sign = if ns < 0.0 { "-" } else { "+" };
    if a < 1e3 {
        format!("{sign}{a:.0}ns")
    } else if a < 1e6 {
        format!("{sign}{:.1}us", a / 1e3)
    } else if a < 1e9 {
        format!("{sign}{:.3}ms", a / 1e6)
    } else {
        format!("{sign}{:.3}s", a / 1e9)
    }
}

/// This machine's `CLOCK_REALTIME`, Unix s (0 before 1970).
pub fn wall_clock_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Readings in the RMS offset of `keel status`.
pub const RMS_WINDOW: usize = 64;

/// The last [`RMS_WINDOW`] measured offsets, for the RMS offset of
/// `keel status`: a stated window, in ns, rather than an exponential average
/// that remembers a start-up step for many updates. The window restarts
/// after a step: the offsets before it were on another time line.
#[derive(Clone, Debug, Default)]
pub struct RecentOffsets {
    sq: std::collections::VecDeque<f64>,
    steps: u64,
}

impl RecentOffsets {
    /// Adds a measured offset, ns, with the count of steps made so far; the
    /// oldest beyond the window is dropped, and all of them after a step.
    pub fn add(&mut self, ns: f64, steps: u64) {
        if steps != self.steps {
            self.steps = steps;
            self.sq.clear();
        }
        if self.sq.len() == RMS_WINDOW {
            self.sq.pop_front();
        }
        self.sq.push_back(ns * ns);
    }

    /// The RMS, ns, and how many readings it covers.
    pub fn rms(&self) -> (f64, u32) {
        let n = self.sq.len();
        if n == 0 {
            return (0.0, 0);
        }
        #[allow(clippy::cast_precision_loss, reason = "n ≤ RMS_WINDOW")]
        let mean = self.sq.iter().sum::<f64>() / n as f64;
        (mean.sqrt(), u32::try_from(n).unwrap_or(u32::MAX))
    }
}

fn opt_i(v: Option<i64>) -> String {
    v.map_or_else(|| "-".to_string(), |x| x.to_string())
}

impl Snapshot {
    /// The socket wire form.
    pub fn encode(&self) -> String {
        let mut s = String::from("keel-status 1\n");
        let _ = writeln!(s, "source {}", self.source);
        let _ = writeln!(s, "sink {}", self.sink);
        let _ = writeln!(s, "method {}", self.method);
        let _ = writeln!(s, "mode {}", self.mode);
        let _ = writeln!(s, "state {}", self.state);
        let _ = writeln!(s, "last_offset_ns {}", self.last_offset_ns);
        let _ = writeln!(s, "rms_offset_ns {:.1}", self.rms_offset_ns);
        let _ = writeln!(s, "rms_offset_readings {}", self.rms_offset_readings);
        let _ = writeln!(s, "freq_ppb {:.3}", self.freq_ppb);
        let _ = writeln!(s, "error_bound_ns {}", opt_i(self.error_bound_ns));
        let _ = writeln!(s, "delay_ns {}", self.delay_ns);
        let _ = writeln!(s, "last_update_unix {:.3}", self.last_update_unix);
        let _ = writeln!(s, "interval_s {}", self.interval_s);
        let _ = writeln!(s, "updates {}", self.updates);
        let _ = writeln!(s, "steps {}", self.steps);
        let _ = writeln!(s, "disruptions {}", self.disruptions);
        let _ = writeln!(s, "read_errors {}", self.read_errors);
        let _ = writeln!(s, "interference {}", self.interference);
        let _ = writeln!(s, "clock_writes_refused {}", self.clock_writes_refused);
        if let Some(t) = self.true_offset_ns {
            let _ = writeln!(s, "true_offset_ns {t:.1}");
        }
        if !self.served_status.is_empty() {
            let _ = writeln!(s, "served_status {}", self.served_status);
            let _ = writeln!(s, "served_bound_ns {}", opt_i(self.served_bound_ns));
            let _ = writeln!(
                s,
                "served_growth_ppb {}",
                opt_i(self.served_growth_ppb.map(i64::from))
            );
        }
        if !self.phc_jury.is_empty() {
            let _ = writeln!(s, "phc_jury {}", self.phc_jury);
            let _ = writeln!(s, "outvoted {}", self.outvoted);
        }
        for n in &self.ntp {
            let _ = writeln!(s, "{}", n.encode());
        }
        s
    }

    /// Parses the wire form.
    ///
    /// # Errors
    /// Not a keel status answer.
    pub fn decode(text: &str) -> Result<Self, String> {
        let mut lines = text.lines();
        if lines.next() != Some("keel-status 1") {
            return Err("the socket did not answer like keel (expected `keel-status 1`)".into());
        }
        let mut s = Self::default();
        for l in lines {
            let (k, v) = l.split_once(' ').unwrap_or((l, ""));
            let f = |v: &str| v.parse::<f64>().unwrap_or(f64::NAN);
            let i = |v: &str| v.parse::<i64>().unwrap_or(0);
            let u = |v: &str| v.parse::<u64>().unwrap_or(0);
            match k {
                "source" => s.source = v.into(),
                "sink" => s.sink = v.into(),
                "method" => s.method = v.into(),
                "mode" => s.mode = v.into(),
                "state" => s.state = v.into(),
                "last_offset_ns" => s.last_offset_ns = i(v),
                "rms_offset_ns" => s.rms_offset_ns = f(v),
                "rms_offset_readings" => s.rms_offset_readings = v.parse().unwrap_or(0),
                "freq_ppb" => s.freq_ppb = f(v),
                "error_bound_ns" => s.error_bound_ns = v.parse().ok(),
                "delay_ns" => s.delay_ns = i(v),
                "last_update_unix" => s.last_update_unix = f(v),
                "interval_s" => s.interval_s = f(v),
                "updates" => s.updates = u(v),
                "steps" => s.steps = u(v),
                "disruptions" => s.disruptions = u(v),
                "read_errors" => s.read_errors = u(v),
                "interference" => s.interference = u(v),
                "clock_writes_refused" => s.clock_writes_refused = u(v),
                "true_offset_ns" => s.true_offset_ns = v.parse().ok(),
                "served_status" => s.served_status = v.into(),
                "served_bound_ns" => s.served_bound_ns = v.parse().ok(),
                "served_growth_ppb" => s.served_growth_ppb = v.parse().ok(),
                "phc_jury" => s.phc_jury = v.into(),
                "outvoted" => s.outvoted = u(v),
                "ntp" => s.ntp.push(SourceLine::decode(v)),
                _ => {} // newer daemon: ignore unknown fields
            }
        }
        Ok(s)
    }

    /// `chronyc tracking`-like text. `now_unix` gives the age of the last update.
    pub fn tracking(&self, now_unix: f64) -> String {
        let secs = |ns: f64| format!("{:.9} seconds", ns * 1e-9);
        let mut s = String::new();
        let _ = writeln!(s, "Source          : {}", self.source);
        let _ = writeln!(s, "Sink            : {}", self.sink);
        // An older daemon does not say: it steered the system clock.
        let steered = if self.sink.is_empty() || self.sink == crate::phc::SINK_REALTIME {
            "system clock"
        } else {
            "sink"
        };
        let _ = writeln!(s, "Read method     : {}", self.method);
        let _ = writeln!(s, "Mode            : {}", self.mode);
        let _ = writeln!(s, "State           : {}", self.state);
        #[allow(clippy::cast_precision_loss, reason = "display")]
        let last = self.last_offset_ns as f64;
        let _ = writeln!(
            s,
            "Last offset     : {}{} ({steered} {})",
            if last >= 0.0 { "+" } else { "" },
            secs(last),
            if last >= 0.0 { "ahead" } else { "behind" }
        );
        let _ = writeln!(
            s,
            "RMS offset      : {} ({})",
            secs(self.rms_offset_ns),
            match self.rms_offset_readings {
                0 => "exponential average".to_string(),
                1 if self.steps > 0 => "the reading since the last step".to_string(),
                1 => "the last reading".to_string(),
                n if self.steps > 0 && usize::try_from(n).is_ok_and(|n| n < RMS_WINDOW) => {
                    format!("RMS of the {n} readings since the last step")
                }
                n => format!("RMS of the last {n} readings"),
            }
        );
        let _ = writeln!(
            s,
            "Frequency       : {:.3} ppm {}",
            (self.freq_ppb / 1000.0).abs(),
            // A positive correction speeds the clock up: unsteered, it is slow.
            if self.freq_ppb >= 0.0 { "slow" } else { "fast" }
        );
        #[allow(clippy::cast_precision_loss, reason = "display")]
        let _ = writeln!(
            s,
            "Error bound     : {}",
            self.error_bound_ns
                .map_or_else(|| "none (not synchronised)".into(), |b| secs(b as f64))
        );
        #[allow(clippy::cast_precision_loss, reason = "display")]
        let _ = writeln!(s, "Read delay      : {}", secs(self.delay_ns as f64));
        let _ = writeln!(
            s,
            "Last update     : {:.1} seconds ago",
            (now_unix - self.last_update_unix).max(0.0)
        );
        let _ = writeln!(s, "Update interval : {:.1} seconds", self.interval_s);
        let _ = writeln!(
            s,
            "Counters        : {} updates, {} steps, {} disruptions, {} read errors, {} interference, {} clock writes refused",
            self.updates,
            self.steps,
            self.disruptions,
            self.read_errors,
            self.interference,
            self.clock_writes_refused
        );
        if !self.served_status.is_empty() {
            #[allow(clippy::cast_precision_loss, reason = "display")]
            let _ = writeln!(
                s,
                "Served to apps  : {}, bound {}, growing {} ppb",
                self.served_status,
                self.served_bound_ns
                    .map_or_else(|| "none".into(), |b| secs(b as f64)),
                self.served_growth_ppb
                    .map_or_else(|| "-".into(), |g| g.to_string())
            );
        }
        if let Some(t) = self.true_offset_ns {
            let _ = writeln!(s, "True offset     : {} (simulation)", secs(t));
        }
        s
    }

    /// JSON (one object).
    pub fn json(&self) -> String {
        let num = |x: f64| {
            if x.is_finite() {
                format!("{x}")
            } else {
                "null".into()
            }
        };
        let mut s = String::from("{");
        let _ = write!(s, "\"source\":{}", json_str(&self.source));
        let _ = write!(s, ",\"sink\":{}", json_str(&self.sink));
        let _ = write!(s, ",\"method\":{}", json_str(&self.method));
        let _ = write!(s, ",\"mode\":{}", json_str(&self.mode));
        let _ = write!(s, ",\"state\":{}", json_str(&self.state));
        let _ = write!(s, ",\"last_offset_ns\":{}", self.last_offset_ns);
        let _ = write!(s, ",\"rms_offset_ns\":{}", num(self.rms_offset_ns));
        let _ = write!(s, ",\"rms_offset_readings\":{}", self.rms_offset_readings);
        let _ = write!(s, ",\"freq_ppb\":{}", num(self.freq_ppb));
        let _ = write!(
            s,
            ",\"error_bound_ns\":{}",
            self.error_bound_ns
                .map_or_else(|| "null".into(), |b| b.to_string())
        );
        let _ = write!(s, ",\"delay_ns\":{}", self.delay_ns);
        let _ = write!(s, ",\"last_update_unix\":{}", num(self.last_update_unix));
        let _ = write!(s, ",\"interval_s\":{}", num(self.interval_s));
        let _ = write!(s, ",\"updates\":{}", self.updates);
        let _ = write!(s, ",\"steps\":{}", self.steps);
        let _ = write!(s, ",\"disruptions\":{}", self.disruptions);
        let _ = write!(s, ",\"read_errors\":{}", self.read_errors);
        let _ = write!(s, ",\"interference\":{}", self.interference);
        let _ = write!(s, ",\"clock_writes_refused\":{}", self.clock_writes_refused);
        if let Some(t) = self.true_offset_ns {
            let _ = write!(s, ",\"true_offset_ns\":{}", num(t));
        }
        if !self.served_status.is_empty() {
            let _ = write!(s, ",\"served_status\":{}", json_str(&self.served_status));
            let _ = write!(
                s,
                ",\"served_bound_ns\":{}",
                self.served_bound_ns
                    .map_or_else(|| "null".into(), |b| b.to_string())
            );
            let _ = write!(
                s,
                ",\"served_growth_ppb\":{}",
                self.served_growth_ppb
                    .map_or_else(|| "null".into(), |g| g.to_string())
            );
        }
        if !self.phc_jury.is_empty() {
            let _ = write!(s, ",\"phc_jury\":{}", json_str(&self.phc_jury));
            let _ = write!(s, ",\"outvoted\":{}", self.outvoted);
        }
        if !self.ntp.is_empty() {
            let opt = |v: Option<i64>| v.map_or_else(|| "null".into(), |x| x.to_string());
            s.push_str(",\"ntp\":[");
            for (i, n) in self.ntp.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                let _ = write!(
                    s,
                    "{{\"name\":{},\"address\":{},\"reach\":{},\"poll\":{},\"offset_ns\":{},\"half_width_ns\":{},\"delay_ns\":{},\"age_s\":{},\"state\":{}}}",
                    json_str(&n.name),
                    json_str(&n.address),
                    n.reach,
                    n.poll,
                    opt(n.offset_ns),
                    opt(n.half_width_ns),
                    opt(n.delay_ns),
                    n.age_s.map_or_else(|| "null".into(), &num),
                    json_str(&n.state)
                );
            }
            s.push(']');
        }
        s.push_str("}\n");
        s
    }

    /// Servo state as a number for metrics: 0 unlocked, 1 jump, 2 locked,
    /// 3 locked-stable, −1 holdover.
    fn state_num(&self) -> i32 {
        match self.state.as_str() {
            "jump" => 1,
            "locked" => 2,
            "locked-stable" => 3,
            "holdover" => -1,
            _ => 0,
        }
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn prometheus(&self) -> String {
        let mut s = String::new();
        let mut g = |name: &str, kind: &str, help: &str, v: String| {
            let _ = writeln!(s, "# HELP keel_{name} {help}");
            let _ = writeln!(s, "# TYPE keel_{name} {kind}");
            let _ = writeln!(s, "keel_{name} {v}");
        };
        #[allow(clippy::cast_precision_loss, reason = "metrics are floats")]
        {
            g(
                "offset_seconds",
                "gauge",
                "Last measured offset of the steered clock (the sink) from the reference (sink - reference).",
                format!("{}e-9", self.last_offset_ns),
            );
            g(
                "frequency_ppb",
                "gauge",
                "Frequency correction in force (positive = faster).",
                format!("{}", self.freq_ppb),
            );
            g(
                "error_bound_seconds",
                "gauge",
                "Bound on |true offset| after the last update; NaN when not synchronised.",
                self.error_bound_ns
                    .map_or_else(|| "NaN".into(), |b| format!("{b}e-9")),
            );
            if !self.served_status.is_empty() {
                g(
                    "served_bound_seconds",
                    "gauge",
                    "Bound served to applications on the time page at the last update; NaN without one.",
                    self.served_bound_ns
                        .map_or_else(|| "NaN".into(), |b| format!("{b}e-9")),
                );
                g(
                    "served_growth_ppb",
                    "gauge",
                    "How fast the served bound grows (ns per second).",
                    self.served_growth_ppb
                        .map_or_else(|| "NaN".into(), |x| x.to_string()),
                );
                g(
                    "served_synchronized",
                    "gauge",
                    "1 while applications are served a synchronised time, else 0.",
                    u8::from(self.served_status == "synchronized").to_string(),
                );
            }
            g(
                "read_delay_seconds",
                "gauge",
                "Read delay of the last PHC sample.",
                format!("{}e-9", self.delay_ns),
            );
        }
        g(
            "servo_state",
            "gauge",
            "Servo state: 0 unlocked, 1 jump, 2 locked, 3 locked-stable, -1 holdover.",
            self.state_num().to_string(),
        );
        g(
            "updates_total",
            "counter",
            "Updates made.",
            self.updates.to_string(),
        );
        g(
            "steps_total",
            "counter",
            "Clock steps.",
            self.steps.to_string(),
        );
        g(
            "disruptions_total",
            "counter",
            "Disruptions handed to the servo (migration, resume, lost read method).",
            self.disruptions.to_string(),
        );
        g(
            "read_errors_total",
            "counter",
            "Updates without a PHC reading.",
            self.read_errors.to_string(),
        );
        g(
            "interference_total",
            "counter",
            "Times another process changed the clock.",
            self.interference.to_string(),
        );
        g(
            "clock_writes_refused_total",
            "counter",
            "Clock writes (frequency, step, maxerror/status) the kernel refused, e.g. EPERM without CAP_SYS_TIME.",
            self.clock_writes_refused.to_string(),
        );
        if !self.phc_jury.is_empty() {
            let _ = writeln!(
                s,
                "# HELP keel_phc_rejected 1 while the NTP jury rejects the PHC (NTP steers).\n# TYPE keel_phc_rejected gauge\nkeel_phc_rejected {}",
                u8::from(self.phc_jury == "rejected")
            );
            let _ = writeln!(
                s,
                "# HELP keel_phc_outvoted_total PHC readings the NTP jury outvoted.\n# TYPE keel_phc_outvoted_total counter\nkeel_phc_outvoted_total {}",
                self.outvoted
            );
        }
        if !self.ntp.is_empty() {
            let _ = writeln!(
                s,
                "# HELP keel_ntp_offset_seconds NTP server's estimate of the clock's offset (clock - server).\n# TYPE keel_ntp_offset_seconds gauge"
            );
            for n in &self.ntp {
                let _ = writeln!(
                    s,
                    "keel_ntp_offset_seconds{{server={}}} {}",
                    label_value(&n.name),
                    n.offset_ns
                        .map_or_else(|| "NaN".into(), |o| format!("{o}e-9"))
                );
            }
            let _ = writeln!(
                s,
                "# HELP keel_ntp_interval_seconds Half-width of the interval around that estimate.\n# TYPE keel_ntp_interval_seconds gauge"
            );
            for n in &self.ntp {
                let _ = writeln!(
                    s,
                    "keel_ntp_interval_seconds{{server={}}} {}",
                    label_value(&n.name),
                    n.half_width_ns
                        .map_or_else(|| "NaN".into(), |o| format!("{o}e-9"))
                );
            }
            let _ = writeln!(
                s,
                "# HELP keel_ntp_reach NTP server's reach register (377 octal = the last 8 answered).\n# TYPE keel_ntp_reach gauge"
            );
            for n in &self.ntp {
                let _ = writeln!(
                    s,
                    "keel_ntp_reach{{server={}}} {}",
                    label_value(&n.name),
                    n.reach
                );
            }
            let _ = writeln!(
                s,
                "# HELP keel_ntp_truechimer 1 while selection counts the server among the truechimers.\n# TYPE keel_ntp_truechimer gauge"
            );
            for n in &self.ntp {
                let _ = writeln!(
                    s,
                    "keel_ntp_truechimer{{server={}}} {}",
                    label_value(&n.name),
                    u8::from(n.state == "truechimer")
                );
            }
        }
        let _ = writeln!(
            s,
            "# HELP keel_sink_info The clock keel steers (CLOCK_REALTIME or a PHC).\n# TYPE keel_sink_info gauge\nkeel_sink_info{{sink={}}} 1",
            label_value(&self.sink)
        );
        s
    }
}

/// A Prometheus label value: quoted, backslashes, quotes and newlines escaped.
pub fn label_value(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

pub fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", u32::from(c));
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// The daemon's end of the status socket.
pub struct StatusServer {
    listener: UnixListener,
    path: PathBuf,
    /// Device and inode of the socket this daemon created: only that is
    /// removed at exit.
    id: (u64, u64),
}

/// Clients answered per [`StatusServer::serve`] call: a flood of connections
/// cannot keep the daemon's loop here (the listener stays readable, so the
/// loop comes back after its other work).
const ANSWERS_PER_CALL: usize = 256;

/// What is at a path, without following a symbolic link.
fn file_id(path: &Path) -> Option<(std::fs::FileType, (u64, u64))> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.file_type(), (m.dev(), m.ino())))
}

/// What a file type is, for messages.
fn kind_name(t: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_symlink() {
        "a symbolic link"
    } else if t.is_file() {
        "a regular file"
    } else if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_char_device() || t.is_block_device() {
        "a device"
    } else {
        "a file"
    }
}

impl StatusServer {
    /// Binds `path` with owner-only permissions (0600). A stale socket of a
    /// dead daemon is replaced; a live one is an error, and so is anything
    /// that is not a socket (a regular file, a symbolic link, ...): keel
    /// never removes a path that is not its own stale socket.
    ///
    /// # Errors
    /// What went wrong and how to fix it.
    pub fn bind(path: &Path) -> Result<Self, String> {
        let (listener, id) = bind_socket(path, "status_socket", Some("--status-socket"))?;
        Ok(Self {
            listener,
            path: path.to_path_buf(),
            id,
        })
    }

    /// The fd to poll.
    pub fn fd(&self) -> i32 {
        use std::os::fd::AsRawFd;
        self.listener.as_raw_fd()
    }

    /// Answers the waiting clients with `snap` (at most
    /// [`ANSWERS_PER_CALL`]), never waiting for one: the answer is written
    /// once, non-blocking, and the connection closed, so an idle or slow
    /// client holds nothing.
    pub fn serve(&self, snap: &Snapshot) -> usize {
        let text = snap.encode();
        let mut n = 0;
        while n < ANSWERS_PER_CALL {
            let Ok((mut c, _)) = self.listener.accept() else {
                break;
            };
            n += 1;
            // The answer is far below the socket buffer: one non-blocking write.
            if c.set_nonblocking(true).is_ok() {
                let _ = c.write_all(text.as_bytes());
            }
        }
        n
    }
}

impl Drop for StatusServer {
    fn drop(&mut self) {
        // Only the socket this daemon made: not whatever replaced it since.
        if file_id(&self.path).is_some_and(|(_, id)| id == self.id) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Binds an owner-only (0600), non-blocking Unix socket at `path` for the
/// setting `key`: a stale socket of a dead daemon is replaced; a live one is
/// an error, and so is anything that is not a socket (a regular file, a
/// symbolic link, ...): keel never removes a path that is not its own stale
/// socket. Returns the listener and the socket's (device, inode).
///
/// # Errors
/// What went wrong and how to fix it.
pub fn bind_socket(
    path: &Path,
    key: &str,
    flag: Option<&str>,
) -> Result<(UnixListener, (u64, u64)), String> {
    use std::os::unix::fs::FileTypeExt;
    let setting = flag.map_or_else(|| key.to_string(), |f| format!("{key} ({f})"));
    if let Some((t, _)) = file_id(path) {
        if !t.is_socket() {
            return Err(format!(
                "{}: {key} names {} that is not a socket; keel does not remove it. Set {setting} to another path, or remove it yourself if it is not needed",
                path.display(),
                kind_name(t)
            ));
        }
        if UnixStream::connect(path).is_ok() {
            return Err(format!(
                "{}: another keel is already running (its socket answers); stop it first, or set {key} to another path",
                path.display()
            ));
        }
        // A socket nobody listens on: a dead daemon's. Removed only if it is
        // still that socket (unlink never follows a link).
        if file_id(path).is_some_and(|(t, _)| t.is_socket()) {
            std::fs::remove_file(path).map_err(|e| {
                format!(
                    "{}: cannot remove the stale socket: {e} (remove it yourself, or set {key} to another path)",
                    path.display()
                )
            })?;
        }
    }
    if let Some(dir) = path.parent() {
        if !dir.as_os_str().is_empty() && !dir.exists() {
            std::fs::create_dir_all(dir).map_err(|e| {
                format!("{}: cannot create the {key} directory: {e}", dir.display())
            })?;
        }
    }
    // SAFETY: umask only changes this process's file-creation mask; the old
    // mask is restored right after the bind.
    let old = unsafe { libc::umask(0o177) };
    let r = UnixListener::bind(path);
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    let listener = r.map_err(|e| {
        format!(
            "{}: cannot create the socket: {e} (check the directory's permissions, or set {key} = \"\" to disable it)",
            path.display()
        )
    })?;
    let id = file_id(path).map_or((0, 0), |(_, id)| id);
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(|e| {
        format!(
            "{}: cannot restrict the socket to its owner: {e}",
            path.display()
        )
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((listener, id))
}

/// `keel status`: asks the daemon at `path`.
///
/// # Errors
/// No daemon there, or not keel.
pub fn query(path: &Path) -> Result<Snapshot, String> {
    let mut c = UnixStream::connect(path).map_err(|e| {
        format!(
            "{}: cannot reach the keel daemon: {e} (is `keel sync` running? pass --socket PATH if it uses another status_socket; the socket is owner-only, so run as the daemon's user or root)",
            path.display()
        )
    })?;
    query_within(&mut c, path, QUERY_TIMEOUT)
}

/// How long `keel status` waits for the daemon's answer.
const QUERY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

fn query_within(
    c: &mut UnixStream,
    path: &Path,
    timeout: std::time::Duration,
) -> Result<Snapshot, String> {
    let _ = c.set_read_timeout(Some(timeout));
    let mut text = String::new();
    c.read_to_string(&mut text).map_err(|e| {
        if matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ) {
            format!(
                "{}: the daemon did not answer within {} s (it may be stopped (SIGSTOP) or busy; try again)",
                path.display(),
                timeout.as_secs_f64()
            )
        } else {
            format!("{}: reading the daemon's answer: {e}", path.display())
        }
    })?;
    Snapshot::decode(&text).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap() -> Snapshot {
        Snapshot {
            source: "/dev/ptp0 (KVM virtual PTP) → CLOCK_REALTIME".into(),
            sink: "CLOCK_REALTIME".into(),
            method: "PTP_SYS_OFFSET_PRECISE".into(),
            mode: "sync".into(),
            state: "locked".into(),
            last_offset_ns: -12,
            rms_offset_ns: 9.5,
            rms_offset_readings: 64,
            freq_ppb: -49_987.0,
            error_bound_ns: Some(61),
            delay_ns: 0,
            last_update_unix: 1_700_000_000.5,
            interval_s: 1.0,
            updates: 600,
            steps: 1,
            disruptions: 0,
            read_errors: 2,
            interference: 0,
            clock_writes_refused: 4,
            true_offset_ns: None,
            served_status: "synchronized".into(),
            served_bound_ns: Some(75),
            served_growth_ppb: Some(12),
            phc_jury: "steering".into(),
            outvoted: 3,
            ntp: vec![
                SourceLine {
                    name: "ntp1.example.net".into(),
                    address: "192.0.2.1:123".into(),
                    reach: 0o377,
                    poll: 6,
                    offset_ns: Some(-14_200),
                    half_width_ns: Some(251_000),
                    delay_ns: Some(402_000),
                    age_s: Some(21.5),
                    state: "truechimer".into(),
                },
                SourceLine {
                    name: "192.0.2.9".into(),
                    address: "-".into(),
                    reach: 0,
                    poll: 6,
                    state: "unreachable".into(),
                    ..SourceLine::default()
                },
            ],
        }
    }

    proptest::proptest! {
        /// The status socket's reader takes any text: a keel answer or an
        /// error, never a panic; what keel writes it reads back.
        #[test]
        fn any_answer_decodes_or_is_refused(text in ".{0,600}", lines in proptest::collection::vec("[a-z_]{0,12} [^\n]{0,40}", 0..20)) {
            let _ = Snapshot::decode(&text);
            let answer = std::iter::once("keel-status 1".to_string()).chain(lines).collect::<Vec<_>>().join("\n");
            let s = Snapshot::decode(&answer).unwrap();
            let _ = (s.json(), s.prometheus(), sources_table(&s), s.tracking(0.0));
        }

        /// Any names and values survive the wire form, the JSON and the
        /// metrics' label escaping.
        #[test]
        fn any_source_name_round_trips(name in "[^\t\n]{0,40}", offset in proptest::prelude::any::<i64>(), reach in proptest::prelude::any::<u8>()) {
            let mut snap = snap();
            snap.ntp[0].name = name.clone();
            snap.ntp[0].offset_ns = Some(offset);
            snap.ntp[0].reach = reach;
            let back = Snapshot::decode(&snap.encode()).unwrap();
            proptest::prop_assert_eq!(&back.ntp[0], &snap.ntp[0]);
            let m = snap.prometheus();
            let expected = format!("keel_ntp_reach{{server={}}} {reach}", label_value(&name));
            proptest::prop_assert!(m.contains(&expected));
        }
    }

    #[test]
    fn sources_like_chronyc() {
        let t = sources_table(&snap());
        let lines: Vec<&str> = t.lines().collect();
        assert!(
            lines.iter().any(|l| l.starts_with("P  *  /dev/ptp0")),
            "{t}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("N  +  ntp1.example.net (192.0.2.1:123)")
                    && l.contains("  377 ")
                    && l.contains("-14.2us ± +251.0us")),
            "{t}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("N  ?  192.0.2.9") && l.ends_with(" -")),
            "{t}"
        );
        let mut rejected = snap();
        rejected.phc_jury = "rejected".into();
        let t = sources_table(&rejected);
        assert!(
            t.contains("P  x  /dev/ptp0") && t.contains("N  *  ntp1"),
            "{t}"
        );
        let j = snap().json();
        assert!(j.contains("\"ntp\":[{\"name\":\"ntp1.example.net\",\"address\":\"192.0.2.1:123\",\"reach\":255,\"poll\":6,\"offset_ns\":-14200"), "{j}");
        let m = snap().prometheus();
        assert!(
            m.contains("keel_ntp_offset_seconds{server=\"ntp1.example.net\"} -14200e-9"),
            "{m}"
        );
        assert!(m.contains("keel_ntp_reach{server=\"192.0.2.9\"} 0"), "{m}");
        assert!(m.contains("keel_phc_rejected 0"), "{m}");
    }

    #[test]
    fn wire_round_trip() {
        assert_eq!(Snapshot::decode(&snap().encode()).unwrap(), snap());
        let mut s = snap();
        s.error_bound_ns = None;
        s.true_offset_ns = Some(3.5);
        assert_eq!(Snapshot::decode(&s.encode()).unwrap(), s);
        // No time page: nothing of it on the wire, in the text or the metrics.
        s.served_status = String::new();
        s.served_bound_ns = None;
        s.served_growth_ppb = None;
        assert_eq!(Snapshot::decode(&s.encode()).unwrap(), s);
        assert!(!s.tracking(0.0).contains("Served"));
        assert!(!s.prometheus().contains("served"));
        let t = snap().tracking(1_700_000_001.0);
        // Refused clock writes: in the text, the JSON and the metrics.
        assert!(
            t.contains(
                "1 steps, 0 disruptions, 2 read errors, 0 interference, 4 clock writes refused"
            ),
            "{t}"
        );
        assert!(snap().json().contains(",\"clock_writes_refused\":4"));
        assert!(
            snap()
                .prometheus()
                .contains("\nkeel_clock_writes_refused_total 4\n")
        );
        assert!(
            t.contains("Served to apps  : synchronized, bound 0.000000075 seconds, growing 12 ppb"),
            "{t}"
        );
        assert!(
            snap()
                .prometheus()
                .contains("keel_served_bound_seconds 75e-9")
        );
        assert!(snap().json().contains(
            "\"served_status\":\"synchronized\",\"served_bound_ns\":75,\"served_growth_ppb\":12"
        ));
        assert!(Snapshot::decode("HTTP/1.1 200 OK\n").is_err());
    }

    #[test]
    fn tracking_text() {
        let t = snap().tracking(1_700_000_001.5);
        assert!(
            t.contains("Last offset     : -0.000000012 seconds (system clock behind)"),
            "{t}"
        );
        assert!(t.contains("Frequency       : 49.987 ppm fast"), "{t}");
        assert!(t.contains("Error bound     : 0.000000061 seconds"), "{t}");
        assert!(t.contains("Last update     : 1.0 seconds ago"), "{t}");
        assert!(
            t.contains("RMS offset      : 0.000000010 seconds (RMS of the last 64 readings)"),
            "{t}"
        );
        let young = Snapshot {
            rms_offset_readings: 7,
            ..snap()
        };
        assert!(
            young
                .tracking(1_700_000_001.5)
                .contains("(RMS of the 7 readings since the last step)")
        );
        assert!(t.contains("Sink            : CLOCK_REALTIME\n"), "{t}");
        let phc = Snapshot {
            source: "/dev/ptp0 (gnss) → /dev/ptp1 (igb)".into(),
            sink: "/dev/ptp1 (igb)".into(),
            last_offset_ns: 12,
            ..snap()
        };
        let t = phc.tracking(1_700_000_001.5);
        assert!(t.contains("Sink            : /dev/ptp1 (igb)\n"), "{t}");
        assert!(
            t.contains("Last offset     : +0.000000012 seconds (sink ahead)"),
            "{t}"
        );
    }

    #[test]
    fn recent_offsets_are_a_stated_window() {
        let mut r = RecentOffsets::default();
        assert_eq!(r.rms(), (0.0, 0));
        // A 0.5 s start-up step is gone after the window, not decaying
        // for ever (the exponential average read 0.384 s after 7 updates).
        r.add(5e8, 0);
        for _ in 0..RMS_WINDOW {
            r.add(3.0, 0);
        }
        let (rms, n) = r.rms();
        assert_eq!(n, 64);
        assert!((rms - 3.0).abs() < 1e-9, "{rms}");
        // After a step only the readings since count.
        let mut r = RecentOffsets::default();
        r.add(5e8, 0);
        r.add(-4.0, 1);
        assert_eq!(r.rms(), (4.0, 1));
        r.add(4.0, 1);
        assert_eq!(r.rms(), (4.0, 2));
    }

    #[test]
    fn a_silent_daemon_is_reported_with_the_timeout() {
        let dir = std::env::temp_dir().join(format!("keel-silent-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        let _ = std::fs::remove_file(&path);
        // Accepts (the backlog) but never writes.
        let _listener = UnixListener::bind(&path).unwrap();
        let mut c = UnixStream::connect(&path).unwrap();
        let e = query_within(&mut c, &path, std::time::Duration::from_millis(200)).unwrap_err();
        assert!(e.ends_with("the daemon did not answer within 0.2 s (it may be stopped (SIGSTOP) or busy; try again)"), "{e}");
        assert!(!e.contains("os error"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn json_form() {
        let j = snap().json();
        assert!(j.starts_with(
            "{\"source\":\"/dev/ptp0 (KVM virtual PTP) → CLOCK_REALTIME\",\"sink\":\"CLOCK_REALTIME\","
        ));
        assert!(j.contains(",\"error_bound_ns\":61,"));
        assert!(j.contains(",\"freq_ppb\":-49987,"));
        assert_eq!(json_str("a\"b\\\n"), "\"a\\\"b\\\\\\u000a\"");
    }

    #[test]
    fn prometheus_format() {
        let p = snap().prometheus();
        // every sample has HELP and TYPE lines, names are valid, values parse
        let mut names = 0;
        for l in p.lines() {
            if let Some(rest) = l.strip_prefix("# TYPE ") {
                let (_, kind) = rest.split_once(' ').unwrap();
                assert!(kind == "gauge" || kind == "counter");
            } else if !l.starts_with("# HELP ") {
                let (name, v) = l.split_once(' ').unwrap();
                let name = name.split('{').next().unwrap();
                assert!(name.starts_with("keel_"));
                assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
                assert!(v == "NaN" || v.parse::<f64>().is_ok(), "{l}");
                if name.ends_with("_total") {
                    assert!(p.contains(&format!("# TYPE {name} counter")));
                }
                names += 1;
            }
        }
        assert_eq!(
            names, 25,
            "12, the three served_* gauges, the 2 PHC jury ones and 4 per NTP server × 2"
        );
        assert!(
            p.contains("\nkeel_sink_info{sink=\"CLOCK_REALTIME\"} 1\n"),
            "{p}"
        );
        assert_eq!(label_value("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
        assert!(p.contains("keel_offset_seconds -12e-9\n"), "{p}");
        assert!(p.contains("keel_servo_state 2\n"));
    }

    #[test]
    fn socket_round_trip_owner_only() {
        let dir = std::env::temp_dir().join(format!("keel-status-{}", std::process::id()));
        let path = dir.join("keel.sock");
        let server = StatusServer::bind(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let client = std::thread::spawn({
            let path = path.clone();
            move || query(&path)
        });
        // serve until the client got its answer
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !client.is_finished() && std::time::Instant::now() < deadline {
            server.serve(&snap());
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(client.join().unwrap().unwrap(), snap());
        // a second daemon on the same path is refused
        let e = StatusServer::bind(&path).err().unwrap();
        assert!(e.contains("another keel is already running"), "{e}");
        drop(server);
        assert!(!path.exists());
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("keel-status-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn never_removes_what_is_not_its_stale_socket() {
        let dir = tmp("hostile");
        // A regular file: refused, left alone.
        let file = dir.join("precious");
        std::fs::write(&file, "keep me").unwrap();
        let e = StatusServer::bind(&file).err().expect("refused");
        assert!(
            e.contains("precious: status_socket names a regular file that is not a socket; keel does not remove it. Set status_socket (--status-socket) to another path"),
            "{e}"
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
        // A symbolic link to it: refused, neither the link nor its target
        // removed.
        let link = dir.join("link.sock");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let e = StatusServer::bind(&link).err().expect("refused");
        assert!(
            e.contains("names a symbolic link that is not a socket"),
            "{e}"
        );
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
        // A dangling link and a directory: refused too.
        let dangling = dir.join("dangling.sock");
        std::os::unix::fs::symlink(dir.join("nowhere"), &dangling).unwrap();
        assert!(StatusServer::bind(&dangling).is_err());
        assert!(std::fs::symlink_metadata(&dangling).is_ok());
        let e = StatusServer::bind(&dir).err().expect("refused");
        assert!(e.contains("names a directory"), "{e}");
        // A stale socket (its listener gone without removing it): replaced.
        let stale = dir.join("stale.sock");
        drop(UnixListener::bind(&stale).unwrap());
        assert!(stale.exists());
        let server = StatusServer::bind(&stale).expect("stale socket replaced");
        // At exit, a path replaced meanwhile is not removed.
        std::fs::remove_file(&stale).unwrap();
        std::fs::write(&stale, "not yours").unwrap();
        drop(server);
        assert_eq!(std::fs::read_to_string(&stale).unwrap(), "not yours");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn idle_clients_never_starve_a_status_query() {
        let dir = tmp("flood");
        let path = dir.join("keel.sock");
        let server = StatusServer::bind(&path).unwrap();
        // Clients that connect and never read, more than one call answers.
        let idle: Vec<UnixStream> = (0..100)
            .map(|_| UnixStream::connect(&path).unwrap())
            .collect();
        assert_eq!(server.serve(&snap()), 100);
        let idle2: Vec<UnixStream> = (0..(ANSWERS_PER_CALL + 10))
            .map(|_| UnixStream::connect(&path).unwrap())
            .collect();
        // One call answers a bounded number; the loop comes back for the rest.
        assert_eq!(server.serve(&snap()), ANSWERS_PER_CALL);
        let client = std::thread::spawn({
            let path = path.clone();
            move || query(&path)
        });
        let mut calls = 0;
        while !client.is_finished() && calls < 1000 {
            server.serve(&snap());
            std::thread::sleep(std::time::Duration::from_millis(1));
            calls += 1;
        }
        assert_eq!(client.join().unwrap().unwrap(), snap());
        drop((idle, idle2, server));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

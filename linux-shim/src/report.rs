//! The record of a run: periodic summary lines (phc2sys `-u` style), the end
//! table of a simulated run, the CSV trace and a hand-written SVG plot.

use std::fmt::Write as _;
use std::io::Write as _;

/// One update as recorded.
#[derive(Clone, Copy, Debug, Default)]
pub struct Record {
    /// Loop time, s since the start.
    pub t_s: f64,
    /// Measured offset, ns (`None`: no reading).
    pub measured_ns: Option<f64>,
    /// Frequency correction in force, ppb.
    pub freq_ppb: f64,
    /// Read delay, ns.
    pub delay_ns: f64,
    /// The servo's bound just before the update, ns (what the check uses).
    pub bound_ns: Option<f64>,
    /// Simulation: the true offset just before the update, ns.
    pub true_ns: Option<f64>,
    /// Simulation: the true frequency error, ppb.
    pub true_freq_ppb: Option<f64>,
    /// Servo state name.
    pub state: &'static str,
}

/// Accumulates one summary period (phc2sys `-u`), printed with units:
/// offsets, delays and the bound in ns, the frequency in ppb.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    n: u32,
    sum_sq: f64,
    max_abs: f64,
    freq_sum: f64,
    freq_sq: f64,
    delay_sum: f64,
    delay_sq: f64,
    true_sq: f64,
    true_max: f64,
    true_n: u32,
    missed: u32,
}

fn mean_sd(sum: f64, sq: f64, n: f64) -> (f64, f64) {
    let m = sum / n;
    (m, (sq / n - m * m).max(0.0).sqrt())
}

impl Summary {
    /// Adds an update.
    pub fn add(&mut self, r: &Record) {
        let Some(m) = r.measured_ns else {
            self.missed += 1;
            return;
        };
        self.n += 1;
        self.sum_sq += m * m;
        self.max_abs = self.max_abs.max(m.abs());
        self.freq_sum += r.freq_ppb;
        self.freq_sq += r.freq_ppb * r.freq_ppb;
        self.delay_sum += r.delay_ns;
        self.delay_sq += r.delay_ns * r.delay_ns;
        if let Some(t) = r.true_ns {
            self.true_n += 1;
            self.true_sq += t * t;
            self.true_max = self.true_max.max(t.abs());
        }
    }

    /// Updates in this period (with or without a reading).
    pub fn count(&self) -> u32 {
        self.n + self.missed
    }

    /// The line, then resets; `bound` and `state` are the latest.
    pub fn take_line(&mut self, bound: Option<i64>, state: &str) -> String {
        let n = f64::from(self.n.max(1));
        let (fm, fsd) = mean_sd(self.freq_sum, self.freq_sq, n);
        let (dm, dsd) = mean_sd(self.delay_sum, self.delay_sq, n);
        let mut s = format!(
            "offset rms {:.0} ns max {:.0} ns freq {:+.0} +/- {:.0} ppb delay {:.0} +/- {:.0} ns bound {} state {state}",
            (self.sum_sq / n).sqrt(),
            self.max_abs,
            fm,
            fsd,
            dm,
            dsd,
            bound.map_or_else(|| "-".to_string(), |b| format!("{b} ns")),
        );
        if self.missed > 0 {
            let _ = write!(s, " missed {}", self.missed);
        }
        if self.true_n > 0 {
            let _ = write!(
                s,
                " | true rms {:.0} ns max {:.0} ns",
                (self.true_sq / f64::from(self.true_n)).sqrt(),
                self.true_max
            );
        }
        *self = Self::default();
        s
    }
}

/// Statistics of a simulated run against the ground truth (streaming).
#[derive(Clone, Debug, Default)]
pub struct RunStats {
    half_s: f64,
    interval_s: f64,
    last_above_1us_first_half: Option<f64>,
    last_above_1us_second_half: Option<f64>,
    steady_sq: f64,
    steady_max: f64,
    steady_n: u64,
    steady_freq_sq: f64,
    /// Bound checks made.
    pub checks: u64,
    /// Checks with |true offset| > bound.
    pub violations: u64,
    bounds: Vec<f32>,
    /// Updates.
    pub updates: u64,
    /// Updates with the truth known in the first half.
    first_n: u64,
    /// Time of the last update, s.
    last_t: Option<f64>,
    /// The world's scripted events (s from the start, sorted), each with
    /// its window up to the next one or the end.
    events: Vec<EventWindow>,
}

/// What happened from a scripted event to the next one (or the end).
#[derive(Clone, Debug, Default)]
struct EventWindow {
    at_s: f64,
    /// Updates with the truth known in the window.
    n: u64,
    /// The last update with |true offset| > 1 µs.
    last_above_1us: Option<f64>,
    max: f64,
}

impl RunStats {
    /// For a run of `duration_s` with updates every `interval_s`.
    pub fn new(duration_s: f64, interval_s: f64) -> Self {
        Self {
            half_s: duration_s / 2.0,
            interval_s,
            ..Self::default()
        }
    }

    /// The world's scripted events at `times_s` (s from the start): the
    /// settle time is then measured before the first, and each gets its own
    /// rows (back within 1 µs after, the largest offset until the next).
    #[must_use]
    pub fn with_events(mut self, times_s: &[f64]) -> Self {
        let mut t: Vec<f64> = times_s.iter().copied().filter(|t| t.is_finite()).collect();
        t.sort_by(f64::total_cmp);
        t.dedup();
        self.events = t
            .into_iter()
            .map(|at_s| EventWindow {
                at_s,
                ..EventWindow::default()
            })
            .collect();
        self
    }

    /// Where the settle window ends: the first event, or half time.
    fn settle_end(&self) -> f64 {
        self.events
            .first()
            .map_or(self.half_s, |e| e.at_s.min(self.half_s))
    }

    /// Adds an update.
    pub fn add(&mut self, r: &Record) {
        self.updates += 1;
        self.last_t = Some(r.t_s);
        let Some(t) = r.true_ns else { return };
        let settle_end = self.settle_end();
        if r.t_s < settle_end {
            self.first_n += 1;
        }
        let k = self.events.partition_point(|e| e.at_s <= r.t_s);
        if let Some(w) = k.checked_sub(1).and_then(|i| self.events.get_mut(i)) {
            w.n += 1;
            w.max = w.max.max(t.abs());
            if t.abs() > 1000.0 {
                w.last_above_1us = Some(r.t_s);
            }
        }
        if t.abs() > 1000.0 {
            if r.t_s < settle_end {
                self.last_above_1us_first_half = Some(r.t_s);
            } else if r.t_s >= self.half_s {
                self.last_above_1us_second_half = Some(r.t_s);
            }
        }
        if r.t_s >= self.half_s {
            self.steady_n += 1;
            self.steady_sq += t * t;
            self.steady_max = self.steady_max.max(t.abs());
            if let Some(f) = r.true_freq_ppb {
                self.steady_freq_sq += f * f;
            }
        }
        if let Some(b) = r.bound_ns {
            self.checks += 1;
            if t.abs() > b {
                self.violations += 1;
            }
            #[allow(clippy::cast_possible_truncation, reason = "for a median only")]
            self.bounds.push(b as f32);
        }
    }

    /// The end table (markdown).
    pub fn table(&mut self, head: &[(String, String)]) -> String {
        let mut rows: Vec<(String, String)> = head.to_vec();
        // A window that never ran has no figures ("-"), and says why.
        let stopped = self.last_t.map_or_else(
            || "no update was made".to_string(),
            |t| format!("the run stopped at t = {t:.0} s"),
        );
        let settle_end = self.settle_end();
        let settle = match self.last_above_1us_first_half {
            _ if self.first_n == 0 => format!("- ({stopped})"),
            None => "0 s (never above)".to_string(),
            Some(t) if t + self.interval_s >= settle_end && self.events.is_empty() => {
                "not within the first half".into()
            }
            Some(t) if t + self.interval_s >= settle_end => {
                format!("not before the event at t = {settle_end:.0} s")
            }
            // Stopped early, still above at its last update: no evidence.
            Some(t) if self.steady_n == 0 && self.last_t == Some(t) => {
                format!("- (not settled when {stopped})")
            }
            Some(t) => format!("{:.0} s", t + self.interval_s),
        };
        rows.push(("settle: |true offset| < 1 µs from".into(), settle));
        for (i, w) in self.events.iter().enumerate() {
            let until = self
                .events
                .get(i + 1)
                .map_or_else(|| "the end".to_string(), |n| format!("t = {:.0} s", n.at_s));
            let (back, max) = if w.n == 0 {
                let none = format!("- (no update after it: {stopped})");
                (none.clone(), none)
            } else {
                let back = match w.last_above_1us {
                    None => "at once (never above)".to_string(),
                    Some(t) if self.last_t == Some(t) => {
                        format!("- (still above when {stopped})")
                    }
                    Some(t) => format!("{:.0} s after", t + self.interval_s - w.at_s),
                };
                (back, fmt_ns(w.max))
            };
            rows.push((
                format!("event at t = {:.0} s: |true offset| < 1 µs again", w.at_s),
                back,
            ));
            rows.push((
                format!(
                    "event at t = {:.0} s: max |true offset| until {until}",
                    w.at_s
                ),
                max,
            ));
        }
        #[allow(clippy::cast_precision_loss, reason = "statistics")]
        let nf = self.steady_n as f64;
        let second = |v: String| {
            if self.steady_n == 0 {
                format!(
                    "- (the second half, from t = {:.0} s, did not run: {stopped})",
                    self.half_s
                )
            } else {
                v
            }
        };
        rows.push((
            "RMS |true offset|, second half".into(),
            second(fmt_ns((self.steady_sq / nf).sqrt())),
        ));
        rows.push((
            "max |true offset|, second half".into(),
            second(fmt_ns(self.steady_max)),
        ));
        rows.push((
            "RMS true frequency error, second half".into(),
            second(format!("{:.2} ppb", (self.steady_freq_sq / nf).sqrt())),
        ));
        if let Some(t) = self.last_above_1us_second_half {
            rows.push((
                "last |true offset| > 1 µs in the second half".into(),
                format!("t = {t:.0} s ({:.0} s after half time)", t - self.half_s),
            ));
        }
        self.bounds.sort_by(f32::total_cmp);
        let median = self.bounds.get(self.bounds.len() / 2).copied();
        rows.push((
            "error bound violations".into(),
            format!(
                "{} of {} checks{}",
                self.violations,
                self.checks,
                median.map_or(String::new(), |m| format!(
                    " (median bound {})",
                    fmt_ns(f64::from(m))
                ))
            ),
        ));
        let w = rows
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        let v = rows
            .iter()
            .map(|(_, v)| v.chars().count())
            .max()
            .unwrap_or(0);
        let mut s = String::new();
        let _ = writeln!(s, "| {:w$} | {:v$} |", "run", "");
        let _ = writeln!(s, "|{}|{}|", "-".repeat(w + 2), "-".repeat(v + 2));
        for (k, val) in rows {
            let pad_k = w - k.chars().count();
            let pad_v = v - val.chars().count();
            let _ = writeln!(
                s,
                "| {k}{} | {val}{} |",
                " ".repeat(pad_k),
                " ".repeat(pad_v)
            );
        }
        s
    }
}

/// `12 ns`, `3.4 µs`, `0.5 s`.
pub fn fmt_ns(ns: f64) -> String {
    let a = ns.abs();
    if a >= 1e9 {
        format!("{:.3} s", ns / 1e9)
    } else if a >= 1e6 {
        format!("{:.3} ms", ns / 1e6)
    } else if a >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

/// The CSV header.
pub const CSV_HEADER: &str = "t_s,measured_offset_ns,freq_ppb,delay_ns,error_bound_ns,true_offset_ns,true_freq_error_ppb,state\n";

/// One CSV row.
pub fn csv_row(r: &Record) -> String {
    let o = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x:.1}"));
    format!(
        "{:.3},{},{:.3},{:.0},{},{},{},{}\n",
        r.t_s,
        o(r.measured_ns),
        r.freq_ppb,
        r.delay_ns,
        o(r.bound_ns),
        o(r.true_ns),
        r.true_freq_ppb.map_or(String::new(), |x| format!("{x:.3}")),
        r.state
    )
}

/// A CSV trace written as the run goes.
pub struct Csv {
    w: std::io::BufWriter<std::fs::File>,
    path: std::path::PathBuf,
    /// The first write error (later rows are not tried).
    failed: Option<std::io::Error>,
}

impl Csv {
    /// Creates `path`.
    ///
    /// # Errors
    /// The file cannot be created.
    pub fn create(path: &std::path::Path) -> Result<Self, String> {
        let f = std::fs::File::create(path)
            .map_err(|e| format!("{}: cannot create the CSV file: {e}", path.display()))?;
        let mut w = std::io::BufWriter::new(f);
        w.write_all(CSV_HEADER.as_bytes())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(Self {
            w,
            path: path.to_path_buf(),
            failed: None,
        })
    }

    /// Appends a row. The first failure is logged once and remembered.
    pub fn row(&mut self, r: &Record) {
        if self.failed.is_some() {
            return;
        }
        if let Err(e) = self.w.write_all(csv_row(r).as_bytes()) {
            crate::error!(
                "{}: cannot write the CSV trace: {e}; the trace is incomplete",
                self.path.display()
            );
            self.failed = Some(e);
        }
    }

    /// Flushes.
    ///
    /// # Errors
    /// A write failed (now or earlier).
    pub fn finish(mut self) -> std::io::Result<()> {
        match self.failed.take() {
            Some(e) => Err(e),
            None => self.w.flush(),
        }
    }
}

/// Points kept for the SVG plot: (t, |true offset| or |measured|, bound).
#[derive(Default)]
pub struct Plot {
    pts: Vec<(f32, f32, f32)>,
}

impl Plot {
    /// Adds an update.
    #[allow(clippy::cast_possible_truncation, reason = "plot precision")]
    pub fn add(&mut self, r: &Record) {
        let off = r.true_ns.or(r.measured_ns).unwrap_or(f64::NAN);
        self.pts.push((
            r.t_s as f32,
            off.abs() as f32,
            r.bound_ns.map_or(f32::NAN, |b| b as f32),
        ));
    }

    /// Spans without a bound, (from, to) in s: from the first update
    /// without one to the next update with one (or the last update).
    fn gaps(&self) -> Vec<(f32, f32)> {
        let mut v = Vec::new();
        let mut open: Option<f32> = None;
        for p in &self.pts {
            match (open, p.2.is_finite()) {
                (None, false) => open = Some(p.0),
                (Some(a), true) => {
                    v.push((a, p.0));
                    open = None;
                }
                _ => {}
            }
        }
        if let (Some(a), Some(last)) = (open, self.pts.last()) {
            v.push((a, last.0));
        }
        v
    }

    /// The SVG document: |offset| and the error bound on a log scale.
    pub fn svg(&self, title: &str, truth: bool) -> String {
        const W: f32 = 900.0;
        const H: f32 = 420.0;
        const L: f32 = 70.0;
        const R: f32 = 20.0;
        const T: f32 = 40.0;
        const B: f32 = 50.0;
        let tmax = self.pts.last().map_or(1.0, |p| p.0).max(1.0);
        let ymax = self
            .pts
            .iter()
            .flat_map(|p| [p.1, p.2])
            .filter(|v| v.is_finite())
            .fold(10.0f32, f32::max);
        let (dlo, dhi) = (0.0f32, ymax.log10().ceil().max(1.0));
        let x = |t: f32| L + (W - L - R) * t / tmax;
        let y = |v: f32| {
            let d = v.max(1.0).log10().clamp(dlo, dhi);
            H - B - (H - T - B) * (d - dlo) / (dhi - dlo)
        };
        let mut s = String::new();
        let _ = writeln!(
            s,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" font-family=\"sans-serif\" font-size=\"12\">"
        );
        let _ = writeln!(s, "<rect width=\"{W}\" height=\"{H}\" fill=\"white\"/>");
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"14\">{}</text>",
            W / 2.0,
            xml(title)
        );
        // decades
        #[allow(clippy::cast_possible_truncation, reason = "small decade counts")]
        for d in (dlo as i32)..=(dhi as i32) {
            #[allow(clippy::cast_precision_loss, reason = "small decade counts")]
            let yy = y(10f32.powi(d));
            let _ = writeln!(
                s,
                "<line x1=\"{L}\" y1=\"{yy:.1}\" x2=\"{:.1}\" y2=\"{yy:.1}\" stroke=\"#ddd\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                W - R,
                L - 6.0,
                yy + 4.0,
                decade_label(d)
            );
        }
        let step = round_step(tmax, 6.0);
        let digits = if step < 1.0 { 1 } else { 0 };
        let mut i = 0u16;
        loop {
            let t = step * f32::from(i);
            if t > tmax * 1.0001 {
                break;
            }
            let _ = writeln!(
                s,
                "<line x1=\"{xx:.1}\" y1=\"{:.1}\" x2=\"{xx:.1}\" y2=\"{:.1}\" stroke=\"#888\"/><text x=\"{xx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{t:.digits$} s</text>",
                H - B,
                H - B + 4.0,
                H - B + 18.0,
                xx = x(t),
            );
            i += 1;
        }
        // Where there is no bound (before the first, after a disruption):
        // shaded and labelled, not left blank.
        let gaps = self.gaps();
        for &(a, b) in &gaps {
            let (xa, xb) = (x(a), x(b).max(x(a) + 2.0));
            let _ = writeln!(
                s,
                "<rect class=\"no-bound\" x=\"{xa:.1}\" y=\"{T}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#e07b00\" fill-opacity=\"0.15\"><title>no error bound from t = {a:.1} s to {b:.1} s</title></rect>",
                xb - xa,
                H - T - B
            );
            if gaps.len() <= 12 {
                let (lx, ly) = ((xa + xb) / 2.0 + 3.0, T + 28.0);
                let _ = writeln!(
                    s,
                    "<text x=\"{lx:.1}\" y=\"{ly:.1}\" font-size=\"10\" fill=\"#b35900\" text-anchor=\"end\" transform=\"rotate(-90 {lx:.1} {ly:.1})\">no bound</text>"
                );
            }
        }
        let _ = writeln!(
            s,
            "<rect x=\"{L}\" y=\"{T}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"none\" stroke=\"#888\"/>",
            W - L - R,
            H - T - B
        );
        let line = |sel: &dyn Fn(&(f32, f32, f32)) -> f32, color: &str, dash: &str| {
            let mut d = String::new();
            // Points in the current stroke: a lone point gets a dot-long
            // stroke, so that it shows.
            let mut pen = 0u32;
            for p in &self.pts {
                let v = sel(p);
                if v.is_finite() {
                    let _ = write!(
                        d,
                        "{}{:.1},{:.1} ",
                        if pen > 0 { "L" } else { "M" },
                        x(p.0),
                        y(v)
                    );
                    pen += 1;
                } else {
                    if pen == 1 {
                        d.push_str("h1.5 ");
                    }
                    pen = 0;
                }
            }
            if pen == 1 {
                d.push_str("h1.5 ");
            }
            format!(
                "<path d=\"{d}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"1.2\"{dash}/>\n"
            )
        };
        s.push_str(&line(&|p| p.2, "#e07b00", " stroke-dasharray=\"4 3\""));
        s.push_str(&line(&|p| p.1, "#1f5fbf", ""));
        let what = if truth {
            "|true offset|"
        } else {
            "|measured offset|"
        };
        let _ = writeln!(
            s,
            "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#1f5fbf\">— {what}</text><text x=\"{:.1}\" y=\"{:.1}\" fill=\"#e07b00\">- - error bound</text><rect x=\"{:.1}\" y=\"{:.1}\" width=\"12\" height=\"10\" fill=\"#e07b00\" fill-opacity=\"0.15\"/><text x=\"{:.1}\" y=\"{:.1}\" fill=\"#b35900\">no error bound (not synchronised)</text>",
            L + 10.0,
            T + 16.0,
            L + 160.0,
            T + 16.0,
            L + 270.0,
            T + 7.0,
            L + 286.0,
            T + 16.0
        );
        s.push_str("</svg>\n");
        s
    }
}

/// A round tick step (1, 2 or 5 × 10ⁿ) giving about `n` ticks over `span`.
fn round_step(span: f32, n: f32) -> f32 {
    let raw = (span / n).max(1e-3);
    let mag = 10f32.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|&st| st >= raw * 0.999)
        .unwrap_or(10.0 * mag)
}

fn decade_label(d: i32) -> &'static str {
    match d {
        0 => "1 ns",
        1 => "10 ns",
        2 => "100 ns",
        3 => "1 µs",
        4 => "10 µs",
        5 => "100 µs",
        6 => "1 ms",
        7 => "10 ms",
        8 => "100 ms",
        9 => "1 s",
        10 => "10 s",
        _ => "",
    }
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(t: f64, off: f64, bound: Option<f64>) -> Record {
        Record {
            t_s: t,
            measured_ns: Some(off),
            freq_ppb: -50_000.0,
            delay_ns: 0.0,
            bound_ns: bound,
            true_ns: Some(off),
            true_freq_ppb: Some(0.1),
            state: "locked",
        }
    }

    #[test]
    fn stats_settle_rms_and_violations() {
        let mut st = RunStats::new(100.0, 1.0);
        for t in 0..100 {
            let off = if t < 10 { 1e6 } else { 10.0 };
            let b = if t == 60 {
                Some(5.0)
            } else if t < 10 {
                Some(2e6)
            } else {
                Some(50.0)
            };
            #[allow(clippy::cast_lossless, reason = "test")]
            st.add(&rec(t as f64, off, b));
        }
        assert_eq!(st.violations, 1);
        assert_eq!(st.checks, 100);
        let t = st.table(&[("scenario".into(), "test".into())]);
        let squeezed: String = t.split_whitespace().collect::<Vec<_>>().join(" ");
        for want in [
            "| scenario | test |",
            "| settle: |true offset| < 1 µs from | 10 s |",
            "| RMS |true offset|, second half | 10.0 ns |",
            "| error bound violations | 1 of 100 checks (median bound 50.0 ns) |",
        ] {
            assert!(squeezed.contains(want), "{want} in {t}");
        }
    }

    #[test]
    fn a_window_that_never_ran_has_no_figures() {
        let squeeze = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
        // Stopped at 40 s of a 100 s run: the second half never ran (it
        // read "RMS 0.0 ns" before).
        let mut st = RunStats::new(100.0, 1.0);
        for t in 0..=40 {
            st.add(&rec(f64::from(t), 10.0, Some(50.0)));
        }
        let t = squeeze(&st.table(&[]));
        for want in [
            "| settle: |true offset| < 1 µs from | 0 s (never above) |",
            "| RMS |true offset|, second half | - (the second half, from t = 50 s, did not run: the run stopped at t = 40 s) |",
            "| max |true offset|, second half | - (the second half, from t = 50 s, did not run: the run stopped at t = 40 s) |",
            "| RMS true frequency error, second half | - (the second half, from t = 50 s, did not run: the run stopped at t = 40 s) |",
        ] {
            assert!(t.contains(want), "{want} in {t}");
        }
        assert!(!t.contains("| 0.0 ns |"), "{t}");
        // Stopped early while still above 1 µs: not "settled from 41 s".
        let mut st = RunStats::new(100.0, 1.0);
        for t in 0..=40 {
            st.add(&rec(f64::from(t), 5e3, None));
        }
        let t = squeeze(&st.table(&[]));
        assert!(
            t.contains("| settle: |true offset| < 1 µs from | - (not settled when the run stopped at t = 40 s) |"),
            "{t}"
        );
        // No update at all: no settle time either (it read "0 s").
        let mut none = RunStats::new(100.0, 1.0);
        let t = squeeze(&none.table(&[]));
        assert!(
            t.contains("| settle: |true offset| < 1 µs from | - (no update was made) |"),
            "{t}"
        );
        assert!(
            t.contains("| error bound violations | 0 of 0 checks |"),
            "{t}"
        );
        assert!(
            !t.contains("0.0 ns") && !t.contains("0 s (never above)"),
            "{t}"
        );
    }

    #[test]
    fn summary_line_and_csv() {
        let mut s = Summary::default();
        s.add(&rec(1.0, 3.0, None));
        s.add(&rec(2.0, -4.0, None));
        s.add(&Record::default());
        assert_eq!(s.count(), 3);
        let l = s.take_line(Some(40), "locked");
        assert_eq!(
            l,
            "offset rms 4 ns max 4 ns freq -50000 +/- 0 ppb delay 0 +/- 0 ns bound 40 ns state locked missed 1 | true rms 4 ns max 4 ns"
        );
        assert_eq!(
            csv_row(&rec(1.5, 2.0, Some(9.0))),
            "1.500,2.0,-50000.000,0,9.0,2.0,0.100,locked\n"
        );
    }

    #[test]
    fn svg_is_well_formed() {
        let mut p = Plot::default();
        for t in 0..50 {
            #[allow(clippy::cast_lossless, reason = "test")]
            p.add(&rec(t as f64, 1e8 / f64::from(t + 1), Some(1e3)));
        }
        let s = p.svg("keel <sim>", true);
        assert!(s.starts_with("<svg "));
        assert!(s.trim_end().ends_with("</svg>"));
        assert!(s.contains("keel &lt;sim&gt;"));
        assert_eq!(s.matches("<path ").count(), 2);
    }

    #[test]
    fn svg_ticks_are_round_and_gaps_in_the_bound_are_shown() {
        let near = |a: f32, b: f32| (a - b).abs() <= 1e-6 * b;
        assert!(near(round_step(599.0, 6.0), 100.0));
        assert!(near(round_step(86_399.0, 6.0), 20_000.0));
        assert!(near(round_step(4.0, 6.0), 1.0));
        assert!(near(round_step(1.0, 6.0), 0.2));
        let mut p = Plot::default();
        for t in 0..600 {
            // No bound at the start and for 5 s after t = 200 s.
            let b = (t >= 3 && !(200..205).contains(&t)).then_some(50.0);
            p.add(&rec(f64::from(t), 10.0, b));
        }
        let s = p.svg("migration", true);
        for t in ["0 s<", "100 s<", "200 s<", "300 s<", "400 s<", "500 s<"] {
            assert!(s.contains(t), "{t}: {s}");
        }
        assert!(!s.contains("599 s") && !s.contains("359 s"), "{s}");
        assert_eq!(s.matches("class=\"no-bound\"").count(), 2, "{s}");
        assert!(s.contains("no error bound from t = 0.0 s to 3.0 s"), "{s}");
        assert!(
            s.contains("no error bound from t = 200.0 s to 205.0 s"),
            "{s}"
        );
        assert_eq!(s.matches(">no bound</text>").count(), 2);
    }

    #[test]
    fn event_windows_are_reported() {
        let squeeze = |t: &str| t.split_whitespace().collect::<Vec<_>>().join(" ");
        // A 1 s step at t = 200 s of a 600 s run, back within 1 µs at 203 s:
        // the second half is clean and the event has its own rows.
        let mut st = RunStats::new(600.0, 1.0).with_events(&[200.0]);
        for t in 0..600 {
            let off = match t {
                0..=1 => 5e8,
                200 => 1e9,
                201..=202 => 5e3,
                _ => 10.0,
            };
            st.add(&rec(f64::from(t), off, Some(50.0)));
        }
        let t = squeeze(&st.table(&[]));
        for want in [
            "| settle: |true offset| < 1 µs from | 2 s |",
            "| event at t = 200 s: |true offset| < 1 µs again | 3 s after |",
            "| event at t = 200 s: max |true offset| until the end | 1.000 s |",
            "| RMS |true offset|, second half | 10.0 ns |",
        ] {
            assert!(t.contains(want), "{want} in {t}");
        }
        assert!(!t.contains("in the second half"), "{t}");
    }
}

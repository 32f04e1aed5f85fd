//! What `keel monitor` shows: Prometheus text (seconds, offset = guest −
//! host, a `vm` label), the `keel monitor status` table and its JSON, and
//! the status socket's line form between them.

use std::fmt::Write as _;

use super::watch::{Watched, ns_s, source_name, state_name};

/// One guest as the status socket carries it: tab-separated fields, one
/// line per guest, in [`FIELDS`] order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    /// Fields, by [`FIELDS`].
    pub cells: Vec<String>,
}

/// The status socket's columns.
pub const FIELDS: &[&str] = &[
    "vm",
    "channel",
    "up",
    "offset_s",
    "bound_s",
    "round_trip_s",
    "rate_ppm",
    "rate_bound_ppm",
    "measured_unix_s",
    "state",
    "source",
    "reported_bound_s",
    "version",
    "probes_ok",
    "probes_timeout",
    "probes_rejected",
    "probes_error",
    "jumps",
    "generations",
    "consistent",
];

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// Whether the guest's own report agrees with the host's measurement: when
/// its reference is the host's clock (a PHC: `ptp_kvm`), |measured offset|
/// ≤ measured bound + the guest's own bound. `None` when it cannot be said.
pub fn consistent(w: &Watched) -> Option<bool> {
    let m = w.last?.measurement;
    let s = w.status?;
    if !w.up || s.source != 1 {
        return None;
    }
    let own = i64::try_from(s.bound_ns?).unwrap_or(i64::MAX);
    Some(m.offset.as_nanos().saturating_abs() <= m.bound.as_nanos().saturating_add(own))
}

/// The row of one guest.
#[allow(clippy::cast_precision_loss, reason = "reporting")]
pub fn row(w: &Watched) -> Row {
    let m = w.last.map(|r| r.measurement);
    let rate = w.last.and_then(|r| r.rate);
    let ppm = |bits: i64| bits as f64 / 4_294_967_296.0 / 1000.0;
    let c = w.estimator().counters();
    Row {
        cells: vec![
            w.name.clone(),
            w.channel.kind().into(),
            u8::from(w.up).to_string(),
            opt(m.map(|m| ns_s(m.offset.as_nanos()))),
            opt(m.map(|m| ns_s(m.bound.as_nanos()))),
            opt(m.map(|m| ns_s(m.delay.as_nanos()))),
            opt(rate.map(|r| ppm(r.rate.to_bits()))),
            opt(rate.map(|r| ppm(r.bound.to_bits()))),
            opt(w.last_at_unix.map(|t| format!("{t:.3}"))),
            opt(w.status.map(|s| state_name(s.state))),
            opt(w.status.map(|s| source_name(s.source).replace(' ', "-"))),
            opt(w.status.and_then(|s| s.bound_ns).map(|b| b as f64 / 1e9)),
            opt(w.status.map(|s| s.version_str().to_string())),
            w.probes.ok.to_string(),
            w.probes.timeout.to_string(),
            w.probes.rejected.to_string(),
            w.probes.error.to_string(),
            c.jumps.to_string(),
            c.generations.to_string(),
            opt(consistent(w).map(u8::from)),
        ],
    }
}

/// The status socket's text: a header line, then a row per guest.
pub fn wire(guests: &[Watched]) -> String {
    let mut s = FIELDS.join("\t");
    s.push('\n');
    for w in guests {
        s.push_str(&row(w).cells.join("\t"));
        s.push('\n');
    }
    s
}

/// Reads the status socket's text back.
///
/// # Errors
/// Not the monitor's form.
pub fn unwire(text: &str) -> Result<Vec<Row>, String> {
    let mut lines = text.lines();
    if lines.next() != Some(FIELDS.join("\t").as_str()) {
        return Err("not a keel monitor status (another program, or another keel version)".into());
    }
    lines
        .map(|l| {
            let cells: Vec<String> = l.split('\t').map(str::to_string).collect();
            if cells.len() == FIELDS.len() {
                Ok(Row { cells })
            } else {
                Err(format!(
                    "a status line with {} fields, not {}",
                    cells.len(),
                    FIELDS.len()
                ))
            }
        })
        .collect()
}

/// `keel monitor status`: a table like `chronyc clients`.
pub fn table(rows: &[Row]) -> String {
    let cell = |r: &Row, f: &str| {
        let i = FIELDS.iter().position(|x| *x == f).unwrap_or(0);
        r.cells.get(i).cloned().unwrap_or_default()
    };
    let us = |v: String| {
        v.parse::<f64>()
            .map_or_else(|_| "-".into(), |x| format!("{:+.1}", x * 1e6))
    };
    let mut s = format!(
        "{:<16} {:<12} {:>2} {:>14} {:>10} {:>10} {:>9} {:<13} {:<6} {:>6} {:>6}\n",
        "VM",
        "channel",
        "up",
        "offset µs",
        "± µs",
        "rtt µs",
        "rate ppm",
        "state",
        "source",
        "timeout",
        "jumps"
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{:<16} {:<12} {:>2} {:>14} {:>10} {:>10} {:>9} {:<13} {:<6} {:>6} {:>6}",
            cell(r, "vm"),
            cell(r, "channel"),
            cell(r, "up"),
            us(cell(r, "offset_s")),
            us(cell(r, "bound_s")).trim_start_matches('+'),
            us(cell(r, "round_trip_s")).trim_start_matches('+'),
            cell(r, "rate_ppm")
                .parse::<f64>()
                .map_or_else(|_| "-".into(), |x| format!("{x:+.3}")),
            cell(r, "state"),
            cell(r, "source"),
            cell(r, "probes_timeout"),
            cell(r, "jumps"),
        );
    }
    s
}

/// `keel monitor status --json`: one object per guest, numbers as numbers,
/// `null` for what is not known.
pub fn json(rows: &[Row]) -> String {
    let text_fields = ["vm", "channel", "state", "source", "version"];
    let mut s = String::from("[");
    for (k, r) in rows.iter().enumerate() {
        if k > 0 {
            s.push(',');
        }
        s.push('{');
        for (i, (f, v)) in FIELDS.iter().zip(&r.cells).enumerate() {
            if i > 0 {
                s.push(',');
            }
            let value = if v == "-" {
                "null".to_string()
            } else if text_fields.contains(f) {
                crate::status::json_str(v)
            } else if *f == "up" || *f == "consistent" {
                (v == "1").to_string()
            } else {
                v.clone()
            };
            let _ = write!(s, "\"{f}\":{value}");
        }
        s.push('}');
    }
    s.push_str("]\n");
    s
}

/// Prometheus text for every guest: 10 series per guest, or with
/// `verbose` also the probe counters, the last measurement's time, the
/// guest's esterror, frequency, state, own bound, steps and the corrections.
#[allow(clippy::cast_precision_loss, reason = "reporting")]
#[allow(clippy::too_many_lines, reason = "one family after the other")]
pub fn prometheus(guests: &[Watched], verbose: bool) -> String {
    let mut s = String::with_capacity(512 + guests.len() * 1024);
    let mut family = |name: &str, kind: &str, help: &str, rows: &mut dyn FnMut(&mut String)| {
        let _ = writeln!(s, "# HELP {name} {help}\n# TYPE {name} {kind}");
        rows(&mut s);
    };
    let vm = |w: &Watched| crate::status::label_value(&w.name);
    family(
        "keel_monitor_vms",
        "gauge",
        "Guests the monitor watches.",
        &mut |s| {
            let _ = writeln!(s, "keel_monitor_vms {}", guests.len());
        },
    );
    family(
        "keel_monitor_build_info",
        "gauge",
        "The monitor's version and reference clock.",
        &mut |s| {
            let _ = writeln!(
                s,
                "keel_monitor_build_info{{version=\"{}\",reference=\"CLOCK_REALTIME\"}} 1",
                env!("CARGO_PKG_VERSION")
            );
        },
    );
    family(
        "keel_vm_up",
        "gauge",
        "1 when the guest's last poll got a valid reply.",
        &mut |s| {
            for w in guests {
                let _ = writeln!(s, "keel_vm_up{{vm={}}} {}", vm(w), u8::from(w.up));
            }
        },
    );
    for (name, help, f) in [
        (
            "keel_vm_clock_offset_seconds",
            "Guest clock minus host CLOCK_REALTIME, measured by the host (positive: the guest is ahead).",
            &(|r: &keel_core::monitor::PollResult| Some(ns_s(r.measurement.offset.as_nanos())))
                as &dyn Fn(&keel_core::monitor::PollResult) -> Option<f64>,
        ),
        (
            "keel_vm_clock_offset_bound_seconds",
            "The measured offset is within plus or minus this of the truth.",
            &|r| Some(ns_s(r.measurement.bound.as_nanos())),
        ),
        (
            "keel_vm_clock_round_trip_seconds",
            "Round trip of the poll's best exchange, less the guest's processing.",
            &|r| Some(ns_s(r.measurement.delay.as_nanos())),
        ),
        (
            "keel_vm_clock_frequency_offset_ratio",
            "The guest clock's rate relative to the host's, minus one.",
            &|r| {
                r.rate
                    .map(|x| x.rate.to_bits() as f64 / 4_294_967_296.0 / 1e9)
            },
        ),
    ] {
        family(name, "gauge", help, &mut |s| {
            for w in guests {
                if let Some(v) = w.last.filter(|_| w.up).as_ref().and_then(f) {
                    let _ = writeln!(s, "{name}{{vm={}}} {v}", vm(w));
                }
            }
        });
    }
    if verbose {
        family(
            "keel_vm_clock_last_measurement_timestamp_seconds",
            "gauge",
            "Unix time of the guest's last measurement.",
            &mut |s| {
                for w in guests {
                    if let Some(t) = w.last_at_unix {
                        let _ = writeln!(
                            s,
                            "keel_vm_clock_last_measurement_timestamp_seconds{{vm={}}} {t:.3}",
                            vm(w)
                        );
                    }
                }
            },
        );
    }
    if verbose {
        family(
            "keel_vm_probes_total",
            "counter",
            "Probes sent, by result.",
            &mut |s| {
                for w in guests {
                    let p = w.probes;
                    for (r, n) in [
                        ("ok", p.ok),
                        ("timeout", p.timeout),
                        ("rejected", p.rejected),
                        ("error", p.error),
                    ] {
                        let _ =
                            writeln!(s, "keel_vm_probes_total{{vm={},result=\"{r}\"}} {n}", vm(w));
                    }
                }
            },
        );
    }
    family(
        "keel_vm_clock_jumps_total",
        "counter",
        "Unannounced jumps of the guest clock (a pause, another program setting it).",
        &mut |s| {
            for w in guests {
                let _ = writeln!(
                    s,
                    "keel_vm_clock_jumps_total{{vm={}}} {}",
                    vm(w),
                    w.estimator().counters().jumps
                );
            }
        },
    );
    family(
        "keel_vm_agent_info",
        "gauge",
        "The guest's keel: version, source and channel.",
        &mut |s| {
            for w in guests {
                if let Some(st) = w.status {
                    let _ = writeln!(
                        s,
                        "keel_vm_agent_info{{vm={},version={},source=\"{}\",channel=\"{}\"}} 1",
                        vm(w),
                        crate::status::label_value(st.version_str()),
                        source_name(st.source),
                        w.channel.kind()
                    );
                }
            }
        },
    );
    for (name, help, f) in [
        (
            "keel_vm_timex_sync_status",
            "The guest kernel's sync status as keel wrote it (1: synchronised), node_exporter's stem.",
            &(|st: &keel_core::wire::ktp::GuestStatus| Some(f64::from(u8::from(!st.unsync))))
                as &dyn Fn(&keel_core::wire::ktp::GuestStatus) -> Option<f64>,
        ),
        (
            "keel_vm_timex_maxerror_seconds",
            "The guest kernel's maxerror as keel wrote it.",
            &|st| Some(st.maxerror_us as f64 / 1e6),
        ),
        (
            "keel_vm_timex_estimated_error_seconds",
            "The guest kernel's esterror as keel wrote it.",
            &|st| Some(st.esterror_us as f64 / 1e6),
        ),
        (
            "keel_vm_timex_frequency_adjustment_ratio",
            "The guest's frequency correction in force.",
            &|st| Some(st.freq_bits as f64 / 4_294_967_296.0 / 1e9),
        ),
        (
            "keel_vm_servo_state",
            "The guest's state: 0 unlocked, 1 jump, 2 locked, 3 locked-stable, 4 holdover.",
            &|st| Some(f64::from(st.state)),
        ),
        (
            "keel_vm_reported_error_bound_seconds",
            "The guest's own bound on its offset to true time.",
            &|st| st.bound_ns.map(|b| b as f64 / 1e9),
        ),
        (
            "keel_vm_clock_steps_total",
            "Steps the guest's keel applied.",
            &|st| Some(st.steps as f64),
        ),
    ] {
        if !verbose
            && !matches!(
                name,
                "keel_vm_timex_sync_status" | "keel_vm_timex_maxerror_seconds"
            )
        {
            continue;
        }
        let kind = if name.ends_with("_total") {
            "counter"
        } else {
            "gauge"
        };
        family(name, kind, help, &mut |s| {
            for w in guests {
                if let Some(v) = w.status.filter(|_| w.up).as_ref().and_then(f) {
                    let _ = writeln!(s, "{name}{{vm={}}} {v}", vm(w));
                }
            }
        });
    }
    family(
        "keel_vm_self_report_consistent",
        "gauge",
        "1 when the guest's own bound and the host's measurement agree (guests steered by the host's clock only).",
        &mut |s| {
            for w in guests {
                if let Some(c) = consistent(w) {
                    let _ = writeln!(
                        s,
                        "keel_vm_self_report_consistent{{vm={}}} {}",
                        vm(w),
                        u8::from(c)
                    );
                }
            }
        },
    );
    if verbose {
        family(
            "keel_vm_corrections_total",
            "counter",
            "Corrections asked of the guest, by result (dry-run: only logged).",
            &mut |s| {
                for w in guests {
                    for (what, n) in &w.corrections {
                        let _ = writeln!(
                            s,
                            "keel_vm_corrections_total{{vm={},action=\"{what}\"}} {n}",
                            vm(w)
                        );
                    }
                }
            },
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::watch::HostChannel;
    use keel_core::monitor::{Measurement, PollResult, Rate};
    use keel_core::time::{Duration as KDuration, Ppb, Timestamp};
    use keel_core::wire::ktp::GuestStatus;

    fn guest(name: &str) -> Watched {
        let plan = crate::monitor::Settings::default().plan;
        let mut w = Watched::new(
            name.into(),
            HostChannel::Unix("/x".into()),
            &plan,
            std::time::Instant::now(),
        );
        w.up = true;
        w.last = Some(PollResult {
            measurement: Measurement {
                at: Timestamp::from_secs_nanos(1_700_000_000, 0),
                offset: KDuration::from_micros(-250),
                bound: KDuration::from_micros(40),
                delay: KDuration::from_micros(80),
                epoch: 1,
                generation: 1,
            },
            rate: Some(Rate {
                rate: Ppb::from_ppb(7300),
                bound: Ppb::from_ppb(100),
            }),
            new_generation: false,
            jump: None,
        });
        w.last_at_unix = Some(1_700_000_000.0);
        w.status = Some(GuestStatus {
            state: 3,
            source: 1,
            bound_ns: Some(300_000),
            maxerror_us: 300,
            version: GuestStatus::version_field("0.1.0"),
            ..GuestStatus::default()
        });
        w
    }

    fn series(text: &str, vm: &str) -> Vec<String> {
        let label = format!("vm=\"{vm}\"");
        text.lines()
            .filter(|l| !l.starts_with('#') && l.contains(&label))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn ten_series_per_guest_by_default_in_seconds_with_the_guest_minus_host_sign() {
        let g = [guest("vm1"), guest("a\"b")];
        let text = prometheus(&g, false);
        let s = series(&text, "vm1");
        assert_eq!(s.len(), 10, "{s:#?}");
        assert!(
            s.contains(&"keel_vm_clock_offset_seconds{vm=\"vm1\"} -0.00025".to_string()),
            "{s:#?}"
        );
        assert!(s.contains(&"keel_vm_clock_offset_bound_seconds{vm=\"vm1\"} 0.00004".to_string()));
        assert!(
            s.contains(&"keel_vm_clock_frequency_offset_ratio{vm=\"vm1\"} 0.0000073".to_string())
        );
        // |−250 µs| ≤ 40 µs + the guest's own 300 µs.
        assert!(s.contains(&"keel_vm_self_report_consistent{vm=\"vm1\"} 1".to_string()));
        assert!(
            text.contains("keel_vm_up{vm=\"a\\\"b\"} 1"),
            "label escaped"
        );
        let verbose = prometheus(&g, true);
        assert!(series(&verbose, "vm1").len() > 10);
        assert!(verbose.contains("keel_vm_probes_total{vm=\"vm1\",result=\"timeout\"} 0"));
        // Every family has its HELP and TYPE.
        for l in verbose.lines().filter(|l| !l.starts_with('#')) {
            let name = l.split('{').next().unwrap().split(' ').next().unwrap();
            assert!(verbose.contains(&format!("# TYPE {name} ")), "{name}");
        }
    }

    #[test]
    fn a_down_guest_serves_no_offset_and_the_status_form_round_trips() {
        let mut g = guest("vm1");
        g.up = false;
        let text = prometheus(std::slice::from_ref(&g), false);
        assert!(!text.contains("keel_vm_clock_offset_seconds{"), "{text}");
        assert!(text.contains("keel_vm_up{vm=\"vm1\"} 0"));
        let rows = unwire(&wire(&[guest("vm1"), g])).unwrap();
        assert_eq!(rows.len(), 2);
        let t = table(&rows);
        assert!(
            t.contains("vm1") && t.contains("-250.0") && t.contains("+7.300"),
            "{t}"
        );
        let j = json(&rows);
        assert!(
            j.starts_with(
                "[{\"vm\":\"vm1\",\"channel\":\"unix\",\"up\":true,\"offset_s\":-0.00025,"
            ),
            "{j}"
        );
        assert!(unwire("garbage\n").is_err());
    }
}

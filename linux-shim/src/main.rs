//! `keel`: steer the system clock (or another PHC) from a PTP hardware clock
//! (a hypervisor's `ptp_kvm`/`ptp_vmw`/`hyperv`/`vmclock` PHC or a NIC's),
//! with an error bound you can trust — or try it on the built-in simulated
//! clock with `keel sync --clock sim --speed max`.
//!
//! One thread, one `poll(2)` loop, every syscall through glibc.

mod clock;
mod config;
mod daemon;
mod log;
mod metrics;
mod monitor;
mod ntp;
mod ntp_server;
mod page;
mod phc;
mod pps;
mod ptp;
mod report;
mod responder;
mod scenario;
mod state;
mod status;
mod sys;
mod timescale;
mod timex;
mod vmclock;
mod waitsync;

use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use keel_core::time::Duration;

use crate::clock::{ClockBackend, LinuxClock, PhcSink, RealActuator, RealDaemon, SimClock, Speed};
use crate::config::{Config, TimeScale};
use crate::daemon::{Mode, Options};
use crate::phc::{LinuxPhc, MethodChoice, PROBE_ORDER, PhcDevice, Reader};

const ABOUT: &str = "\
keel — steer the system clock (or another PHC) from a PTP hardware clock

USAGE:
  keel sync [OPTIONS]            run the daemon (`keel sync --help`)
  keel status [--json] [--socket PATH] [--config FILE]
                                 ask the running daemon, like `chronyc tracking`
  keel sources [--json] [--socket PATH] [--config FILE]
                                 its PHC and NTP servers, like `chronyc sources`
  keel waitsync [--max-bound D] [--timeout T] [--page PATH]
                                 wait until the clock is synchronised (service ordering)
  keel phc [list]                list PHCs: name, capabilities, which ioctls work
  keel phc compare DEVICE [--count N] [--samples N]
                                 print CLOCK_REALTIME − PHC offsets (read-only)
  keel monitor [OPTIONS]         on a host: measure every guest's clock out of band
  keel monitor status [--json] [--socket PATH]
                                 the guests the running monitor watches
  keel help [COMMAND] | --help | --version
  Every command takes --help.
";

const SYNC_USAGE: &str = "\
keel sync: run the daemon — read a PHC, steer CLOCK_REALTIME (or a PHC sink)

USAGE:
  keel sync [OPTIONS]
";

/// The options of `keel sync`; the scenario list comes from the catalogue.
fn sync_options() -> String {
    let names: Vec<&str> = scenario::SCENARIOS
        .iter()
        .map(|&(n, _)| {
            if n == "standard" {
                "standard (default)"
            } else {
                n
            }
        })
        .collect();
    let rows: Vec<String> = names.chunks(4).map(|r| r.join(", ")).collect();
    let scenarios = rows.join(",\n                         ");
    format!(
        "\
SYNC OPTIONS (each overrides the configuration file's key of the same name):
  --config FILE          configuration file (default /etc/keel/keel.toml;
                         with --clock sim only read when given)
  --clock system|sim     steer CLOCK_REALTIME (default) or the simulated clock
  --dry-run              measure and report, adjust nothing
  --source SRC           auto | /dev/ptpN | PHC clock name | none (NTP servers
                         alone, [[server]] in the configuration file)
  --sink SINK            CLOCK_REALTIME (default) | /dev/ptpN | PHC clock name
                         (with --clock sim, the simulated clock plays that PHC)
  --interval SECONDS     between updates
  --samples N            readings per update (1..=25, default 5; 25 while the
                         PHC's own read noise outweighs its read width)
  --read-method M        auto | precise | extended | basic
  --servo kalman|pi|linreg
  --step always|first|never    --step-threshold SECONDS
  --step-limit N         with --step always: only during the first N updates
  --state-file PATH      --status-socket PATH     (\"\" disables)
  --time-page PATH       keel's time page (default /run/keel/time; \"\" disables)
  --clockbound-shm PATH  also ClockBound's SHM v2 segment (e.g.
                         /var/run/clockbound/shm0; default off)
  --metrics ADDR:PORT    Prometheus endpoint (loopback unless allowed in the file)
  --summary N            summary line every N updates (0: every update)
  --log-level error|warning|info|debug
  --duration D           stop after D (e.g. 600s, 10m, 2h, 1d)
SIMULATION (--clock sim):
  --scenario NAME        {scenarios}
  --seed N               (default 1)      --duration D (default 600s)
  --speed max|FACTOR     max: as fast as possible; FACTOR× real time (default 1)
  --csv FILE             write the trace      --svg FILE   write a plot
"
    )
}

const STATUS_HELP: &str = "\
keel status: the running daemon's state, like `chronyc tracking`

USAGE:
  keel status [--json] [--socket PATH] [--config FILE]

OPTIONS:
  --json                 the whole state as one JSON object
  --socket PATH          the daemon's status socket (default: status_socket
                         of the configuration file, /run/keel/keel.sock)
  --config FILE          where to read status_socket (default /etc/keel/keel.toml)
";

const SOURCES_HELP: &str = "\
keel sources: the PHC and the NTP servers of the running daemon, like
`chronyc sources` (each server's reach, poll, last sample, offset ± interval,
and whether selection counts it among the truechimers)

USAGE:
  keel sources [--json] [--socket PATH] [--config FILE]

OPTIONS:
  --json                 the whole state as one JSON object (the servers under \"ntp\")
  --socket PATH          the daemon's status socket (default: status_socket
                         of the configuration file, /run/keel/keel.sock)
  --config FILE          where to read status_socket (default /etc/keel/keel.toml)
";

const WAITSYNC_HELP: &str = "\
keel waitsync: wait until keel's time page says the clock is synchronised
(like `chronyc waitsync`), for ordering services after keel

USAGE:
  keel waitsync [--max-bound D] [--timeout T] [--page PATH]

OPTIONS:
  --max-bound D          also wait until the bound applications are served is
                         at most D (e.g. 1us, 250ns, 1ms; default: any bound)
  --timeout T            give up after T (e.g. 30s, 5m; default: wait for ever)
  --page PATH            keel's time page (default /run/keel/time)

EXIT STATUS:
  0 synchronised; 1 timed out (the last reason is printed); 2 usage error
";

const MONITOR_HELP: &str = "\
keel monitor: on a host, measure every guest's clock itself over a channel
that bypasses the guest's network (virtio-serial, vsock), with four-timestamp
probes and a bound, and serve the fleet in Prometheus. Each guest runs
`keel sync` with host_monitor = [...] in its keel.toml. Never steers a clock.

USAGE:
  keel monitor [--config FILE] [--guest NAME=CHANNEL]... [--guests-dir DIR] [--poll S]
               [--burst N] [--metrics-listen ADDR:PORT] [--verbose-metrics]
               [--status-socket PATH] [--duration D] [--csv FILE]
  keel monitor status [--json] [--socket PATH]

OPTIONS:
  --config FILE          settings and [[guest]] tables (default
                         /etc/keel/monitor.toml when it exists)
  --guest NAME=CHANNEL   a guest: unix:/PATH (a virtio-serial chardev socket),
                         hybrid:/PATH:PORT (Firecracker, Cloud Hypervisor,
                         vhost-device-vsock), vsock:CID[:PORT] (port 1123),
                         or qga:/PATH (the QEMU guest agent's socket, for a
                         guest without keel: coarser, bound = round trip / 2)
  --guests-dir DIR       every socket DIR/NAME.sock is the guest NAME (added
                         and removed as the sockets come and go)
  --poll S               seconds between polls of a guest (default 16, ±10 %)
  --burst N              probes per poll (default 8; the least-delay one counts)
  --metrics-listen A     serve Prometheus text on http://A/metrics
  --verbose-metrics      every family (probe counters, the guest's esterror,
                         frequency, state, own bound, steps, corrections), not
                         the 10 series per guest of the default
  --status-socket PATH   for `keel monitor status` (default /run/keel/monitor.sock;
                         \"\" for none)
  --duration D           stop after D (e.g. 60s, 10m)
  --csv FILE             a row per poll of a guest: at_ns (host CLOCK_REALTIME),
                         vm, up, offset_ns (guest − host), bound_ns, delay_ns,
                         rate, jump_ns, generation
  --json                 (status) one JSON object per guest
  --socket PATH          (status) the monitor's status socket
";

const PHC_HELP: &str = "\
keel phc: the PTP hardware clocks and PPS devices of this machine (read-only)

USAGE:
  keel phc [list]        each PPS device (driver, source, last edge) and each
                         PHC: name, time scale, capabilities, its pins and
                         their functions, which read ioctls work
  keel phc pps DEVICE [--count N]
                         print N (default 5) assert edges of DEVICE (/dev/ppsN)
                         as they come, and where each fell in the system
                         clock's second
  keel phc compare DEVICE [--count N] [--samples N]
                         print CLOCK_REALTIME − PHC offsets of DEVICE
                         (/dev/ptpN)

COMPARE OPTIONS:
  --count N              how many offsets (default 5)
  --samples N            readings per offset, the best kept (1..=25, default 5)
";

fn main() -> ExitCode {
    let r = run(&mut lexopt::Parser::from_env());
    // The log lines a slow stderr reader has not taken yet (log.rs).
    log::flush(std::time::Duration::from_secs(2));
    match r {
        Ok(code) => code,
        Err(Failure::Usage("", m)) => {
            eprintln!("keel: {m}\nTry `keel --help`.");
            ExitCode::from(2)
        }
        Err(Failure::Usage(cmd, m)) => {
            eprintln!("keel {cmd}: {m}\nTry `keel {cmd} --help`.");
            ExitCode::from(2)
        }
        Err(Failure::Config(m)) => {
            eprintln!("keel: {m}");
            ExitCode::from(2)
        }
        Err(Failure::Runtime(m)) => {
            eprintln!("keel: {m}");
            ExitCode::from(1)
        }
    }
}

enum Failure {
    /// A command line that cannot be followed: the command (`""` for none)
    /// whose `--help` to point at, and what was wrong.
    Usage(&'static str, String),
    Config(String),
    Runtime(String),
}

/// A usage error of `cmd` from the argument parser, in keel's words.
fn usage(cmd: &'static str, e: lexopt::Error) -> Failure {
    let m = match e {
        lexopt::Error::UnexpectedOption(o) => format!("unknown option `{o}`"),
        lexopt::Error::UnexpectedArgument(a) => {
            format!("unexpected argument `{}`", a.to_string_lossy())
        }
        lexopt::Error::MissingValue { option: Some(o) } => format!("{o} needs a value"),
        lexopt::Error::UnexpectedValue { option, value } => {
            format!(
                "{option} takes no value (got `{}`)",
                value.to_string_lossy()
            )
        }
        e => e.to_string(),
    };
    Failure::Usage(cmd, m)
}

/// The value of the option just read, as text.
fn text_value(p: &mut lexopt::Parser, cmd: &'static str) -> Result<String, Failure> {
    p.value()
        .and_then(lexopt::ValueExt::string)
        .map_err(|e| usage(cmd, e))
}

/// The value of the option just read, as a path (any bytes).
fn path_value(p: &mut lexopt::Parser, cmd: &'static str) -> Result<PathBuf, Failure> {
    p.value().map(PathBuf::from).map_err(|e| usage(cmd, e))
}

fn run(p: &mut lexopt::Parser) -> Result<ExitCode, Failure> {
    use lexopt::prelude::*;
    let cmd = match p.next().map_err(|e| usage("", e))? {
        None | Some(Short('h') | Long("help")) => return help(None),
        Some(Short('V') | Long("version")) => {
            println!("keel {}", env!("CARGO_PKG_VERSION"));
            return Ok(ExitCode::SUCCESS);
        }
        Some(Value(v)) => v.string().map_err(|e| usage("", e))?,
        Some(a) => return Err(usage("", a.unexpected())),
    };
    match cmd.as_str() {
        "sync" => sync(p),
        "status" => status_cmd(p, "status"),
        "sources" => status_cmd(p, "sources"),
        "waitsync" => waitsync_cmd(p),
        "phc" => phc_cmd(p),
        "monitor" => monitor_cmd(p),
        "help" => {
            let topic = match p.next().map_err(|e| usage("", e))? {
                Some(Value(v)) => Some(v.string().map_err(|e| usage("", e))?),
                None => None,
                Some(a) => return Err(usage("", a.unexpected())),
            };
            help(topic.as_deref())
        }
        other => Err(Failure::Usage(
            "",
            format!(
                "unknown command `{other}`; expected sync, status, sources, waitsync, phc or monitor"
            ),
        )),
    }
}

/// Prints the help of `topic` (a command), or of keel.
fn help(topic: Option<&str>) -> Result<ExitCode, Failure> {
    match topic {
        None => print!("{ABOUT}\n{}", sync_options()),
        Some("sync") => print!("{SYNC_USAGE}\n{}", sync_options()),
        Some("status") => print!("{STATUS_HELP}"),
        Some("sources") => print!("{SOURCES_HELP}"),
        Some("waitsync") => print!("{WAITSYNC_HELP}"),
        Some("phc") => print!("{PHC_HELP}"),
        Some("monitor") => print!("{MONITOR_HELP}"),
        Some(other) => {
            return Err(Failure::Usage(
                "",
                format!(
                    "no help for `{other}`; expected sync, status, sources, waitsync, phc or monitor"
                ),
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `600`, `600s`, `10m`, `2h`, `1d` → ns.
fn parse_duration(s: &str) -> Option<u64> {
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let mult: f64 = match unit {
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        _ => return None,
    };
    let v: f64 = num.parse().ok()?;
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "range-checked"
    )]
    (v.is_finite() && v > 0.0 && v * mult < 1e9).then_some((v * mult * 1e9) as u64)
}

struct SyncArgs {
    config_path: Option<PathBuf>,
    overrides: Vec<(String, &'static str, String)>,
    sim: bool,
    dry_run: bool,
    scenario: String,
    seed: u64,
    duration_ns: Option<u64>,
    speed: Speed,
    csv: Option<PathBuf>,
    svg: Option<PathBuf>,
}

/// The configuration key that the `keel sync` option `--flag` overrides.
fn override_key(flag: &str) -> Option<&'static str> {
    Some(match flag {
        "source" => "source",
        "sink" => "sink",
        "interval" => "interval",
        "samples" => "samples",
        "read-method" => "read_method",
        "servo" => "servo",
        "step" => "step",
        "step-threshold" => "step_threshold",
        "step-limit" => "step_limit",
        "state-file" => "state_file",
        "status-socket" => "status_socket",
        "time-page" => "time_page",
        "clockbound-shm" => "clockbound_shm",
        "metrics" => "metrics_listen",
        "summary" => "summary_updates",
        "log-level" => "log_level",
        _ => return None,
    })
}

/// `keel sync`'s options; `None` when the help was asked for (and shown).
fn parse_sync(p: &mut lexopt::Parser) -> Result<Option<SyncArgs>, Failure> {
    use lexopt::prelude::*;
    let bad = |m: String| Failure::Usage("sync", m);
    let mut s = SyncArgs {
        config_path: None,
        overrides: Vec::new(),
        sim: false,
        dry_run: false,
        scenario: "standard".into(),
        seed: 1,
        duration_ns: None,
        speed: Speed::Factor(1.0),
        csv: None,
        svg: None,
    };
    while let Some(arg) = p.next().map_err(|e| usage("sync", e))? {
        let flag = match arg {
            Short('h') | Long("help") => {
                help(Some("sync"))?;
                return Ok(None);
            }
            Long(f) => f.to_string(),
            a => return Err(usage("sync", a.unexpected())),
        };
        if let Some(k) = override_key(&flag) {
            let v = text_value(p, "sync")?;
            s.overrides.push((format!("--{flag}"), k, v));
            continue;
        }
        match flag.as_str() {
            "config" => s.config_path = Some(path_value(p, "sync")?),
            "clock" => match text_value(p, "sync")?.as_str() {
                "sim" => s.sim = true,
                "system" => s.sim = false,
                v => return Err(bad(format!("--clock {v}: expected `system` or `sim`"))),
            },
            "dry-run" => s.dry_run = true,
            "scenario" => s.scenario = text_value(p, "sync")?,
            "seed" => {
                let v = text_value(p, "sync")?;
                s.seed = v
                    .parse()
                    .map_err(|_| bad(format!("--seed {v}: expected a non-negative integer")))?;
            }
            "duration" => {
                let v = text_value(p, "sync")?;
                s.duration_ns = Some(parse_duration(&v).ok_or_else(|| {
                    bad(format!(
                        "--duration {v}: expected a positive time such as 600s, 10m, 2h or 1d"
                    ))
                })?);
            }
            "speed" => {
                let v = text_value(p, "sync")?;
                s.speed = match v.parse::<f64>() {
                    _ if v == "max" => Speed::Max,
                    Ok(x) if x.is_finite() && x > 0.0 => Speed::Factor(x),
                    _ => {
                        return Err(bad(format!(
                            "--speed {v}: expected `max` or a positive factor (1 = real time)"
                        )));
                    }
                };
            }
            "csv" => s.csv = Some(path_value(p, "sync")?),
            "svg" => s.svg = Some(path_value(p, "sync")?),
            _ => return Err(bad(format!("unknown option `--{flag}`"))),
        }
    }
    if !s.sim && (s.csv.is_some() || s.svg.is_some() || s.speed != Speed::Factor(1.0)) {
        return Err(bad("--csv, --svg and --speed belong to --clock sim".into()));
    }
    Ok(Some(s))
}

fn load_config(sa: &SyncArgs) -> Result<Config, String> {
    let mut c = if sa.sim {
        // The simulation leaves the real daemon's files alone: it reads only
        // a configuration file it is given, and uses a state file, status
        // socket, time page or ClockBound segment only when one is named.
        let mut c = Config {
            state_file: None,
            status_socket: None,
            time_page: None,
            clockbound_shm: None,
            ..Config::default()
        };
        if let Some(p) = &sa.config_path {
            c.merge_file(p).map_err(|e| e.to_string())?;
        }
        c
    } else {
        match &sa.config_path {
            Some(p) => Config::load(p, false).map_err(|e| e.to_string())?,
            None => {
                Config::load(Path::new(config::DEFAULT_PATH), true).map_err(|e| e.to_string())?
            }
        }
    };
    for (flag, key, v) in &sa.overrides {
        c.set_cli(flag, key, v).map_err(|e| e.to_string())?;
    }
    Ok(c)
}

fn sync(p: &mut lexopt::Parser) -> Result<ExitCode, Failure> {
    let Some(sa) = parse_sync(p)? else {
        return Ok(ExitCode::SUCCESS);
    };
    let cfg = load_config(&sa).map_err(Failure::Config)?;
    log::init(cfg.log_level);
    let reader = Reader::new(cfg.read_method, cfg.samples);

    let mut table_head = Vec::new();
    // The source's time scale was guessed from evidence (then a step of the
    // UTC–TAI difference is refused).
    let mut scale_guessed = false;
    let (mut backend, mode, tai_offset, title): (Box<dyn ClockBackend>, Mode, Duration, String) =
        if sa.sim {
            let duration = sa.duration_ns.unwrap_or(600_000_000_000);
            let sim =
                scenario::build(&sa.scenario, duration).map_err(|m| Failure::Usage("sync", m))?;
            let speed = match sa.speed {
                Speed::Max => "max".to_string(),
                Speed::Factor(x) => clock::fmt_factor(x),
            };
            table_head.push(("scenario".into(), sa.scenario.clone()));
            table_head.push((
                "seed / duration / speed".into(),
                format!("{} / {:.0} s / {speed}", sa.seed, f64_s(duration)),
            ));
            table_head.push(("servo".into(), format!("{:?}", cfg.servo).to_lowercase()));
            let mut clock = SimClock::new(&sim, sa.seed, &sa.scenario, sa.speed, reader);
            if cfg.sink != phc::SINK_REALTIME {
                clock = clock.with_phc_sink(&cfg.sink);
            }
            table_head.push(("sink".into(), clock.sink_name()));
            let title = format!(
                "keel sync --clock sim --scenario {} --seed {}",
                sa.scenario, sa.seed
            );
            (Box::new(clock), Mode::Sim, Duration::ZERO, title)
        } else if cfg.source == "none" {
            // NTP servers alone steer the system clock.
            if cfg.servers.is_empty() {
                return Err(Failure::Config(
                    "source = \"none\" needs NTP servers: add [[server]] tables with address = \"HOST\" to keel.toml".into(),
                ));
            }
            if cfg.sink != phc::SINK_REALTIME {
                return Err(Failure::Config(
                    "source = \"none\" (NTP servers alone) steers CLOCK_REALTIME only; set sink = \"CLOCK_REALTIME\"".into(),
                ));
            }
            let actuator = if sa.dry_run {
                None
            } else {
                if !sys::can_set_time() {
                    return Err(Failure::Runtime(
                        "keel sync needs CAP_SYS_TIME to steer the system clock; to only measure, add --dry-run".into(),
                    ));
                }
                Some(
                    RealActuator::new(RealDaemon::i_am_keel_sync_on_the_system_clock())
                        .map_err(Failure::Runtime)?,
                )
            };
            let mode = if sa.dry_run { Mode::DryRun } else { Mode::Sync };
            (
                Box::new(LinuxClock::ntp_only(reader, actuator)),
                mode,
                Duration::ZERO,
                "keel sync: NTP servers → CLOCK_REALTIME".to_string(),
            )
        } else {
            let found = phc::list(Path::new("/sys/class/ptp"));
            let (dev, hv) = phc::resolve(&cfg.source, &found)
                .map_err(|e| Failure::Runtime(format!("source: {e}")))?;
            let source_name = found.iter().find(|i| i.dev == dev).map(|i| i.name.as_str());
            let label = source_name.unwrap_or(phc::UNKNOWN_PHC).to_string();
            // The sink PHC, if any: never the source itself.
            let sink_dev = if cfg.sink == phc::SINK_REALTIME {
                None
            } else {
                let sd = phc::resolve_sink(&cfg.sink, &found)
                    .map_err(|e| Failure::Runtime(format!("sink: {e}")))?;
                if phc::same_device(&dev, &sd) {
                    return Err(Failure::Config(format!(
                        "source \"{}\" and sink \"{}\" are the same device ({}): keel cannot steer the clock it follows; set sink to \"CLOCK_REALTIME\" or to another PHC (`keel phc` lists them)",
                        cfg.source,
                        cfg.sink,
                        sd.display()
                    )));
                }
                Some(sd)
            };
            let actuator = if sa.dry_run {
                None
            } else {
                // A PHC sink needs write access to its device, not CAP_SYS_TIME.
                if sink_dev.is_none() && !sys::can_set_time() {
                    return Err(Failure::Runtime(
                        "keel sync needs CAP_SYS_TIME to steer the system clock. Run it as root, give the binary the capability (`sudo setcap cap_sys_time+ep \"$(command -v keel)\"`), or use the systemd unit in linux-shim/dist/ (AmbientCapabilities=CAP_SYS_TIME). To only measure, add --dry-run; to try keel without hardware, use --clock sim.".into(),
                    ));
                }
                Some(
                    RealActuator::new(RealDaemon::i_am_keel_sync_on_the_system_clock())
                        .map_err(Failure::Runtime)?,
                )
            };
            // Refuse, now and with a fix, a sink or source that is not a PHC
            // or cannot be opened; a PHC lost later is held over and reopened.
            if let Some(sd) = &sink_dev {
                check_phc(sd, "sink").map_err(Failure::Runtime)?;
            }
            check_phc(&dev, "source").map_err(Failure::Runtime)?;
            // Two PHCs: the sink is kept on the source's time scale (phc2sys
            // applies no UTC/TAI shift between PHCs either). Else the
            // source's scale: configured, known, or read from evidence.
            let choice = if sink_dev.is_some() {
                timescale::Choice {
                    tai: false,
                    basis: timescale::Basis::PhcPair,
                }
            } else {
                source_time_scale(&cfg, &dev, source_name, hv == Some(true))
                    .map_err(Failure::Config)?
            };
            scale_guessed = choice.guessed();
            let tai_offset = if choice.tai {
                Duration::from_secs(cfg.tai_utc_offset)
            } else {
                Duration::ZERO
            };
            let mode = if sa.dry_run { Mode::DryRun } else { Mode::Sync };
            let mut linux = LinuxClock::new(&dev, &label, reader, actuator);
            if let Some(sd) = &sink_dev {
                let sink_label = found
                    .iter()
                    .find(|i| i.dev == *sd)
                    .map_or_else(|| phc::UNKNOWN_PHC.to_string(), |i| i.name.clone());
                let sink = PhcSink::open(
                    sd,
                    &sink_label,
                    Reader::new(cfg.read_method, cfg.samples),
                    !sa.dry_run,
                )
                .map_err(Failure::Runtime)?;
                info!(
                    "sink {} ({sink_label}): max_adj {} ppb",
                    sd.display(),
                    sink.max_adj_ppb()
                );
                linux = linux.with_phc_sink(sink);
            }
            if let Some(p) = &cfg.vmclock {
                match vmclock::VmclockWatch::open(p) {
                    Ok(w) => {
                        info!("{}: watching the disruption marker", p.display());
                        linux = linux.with_vmclock(w);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => warn!(
                        "{}: {e}; live migrations are detected only by their effects",
                        p.display()
                    ),
                }
            }
            (
                Box::new(linux),
                mode,
                tai_offset,
                format!(
                    "keel sync {} → {}",
                    dev.display(),
                    sink_dev.as_ref().map_or_else(
                        || phc::SINK_REALTIME.to_string(),
                        |d| d.display().to_string()
                    )
                ),
            )
        };
    // Every output path is checked before the run (the CSV file is created
    // by the daemon at start).
    if let Some(p) = &sa.svg {
        check_svg_path(p).map_err(Failure::Runtime)?;
    }
    let duration_ns = if sa.sim {
        Some(sa.duration_ns.unwrap_or(600_000_000_000))
    } else {
        sa.duration_ns
    };
    let reload_args = SyncArgs {
        config_path: sa.config_path.clone(),
        overrides: sa.overrides.clone(),
        sim: sa.sim,
        dry_run: sa.dry_run,
        scenario: String::new(),
        seed: 0,
        duration_ns: None,
        speed: sa.speed,
        csv: None,
        svg: None,
    };
    let opts = Options {
        config: cfg,
        reload: Box::new(move || load_config(&reload_args)),
        mode,
        duration_ns,
        tai_offset,
        scale_guessed,
        csv: sa.csv.clone(),
        svg: sa.svg.clone(),
        title,
        table_head,
    };
    let out = daemon::run(opts, backend.as_mut()).map_err(Failure::Runtime)?;
    if !out.table.is_empty() {
        println!("\n{}", out.table);
        if let Some(p) = &sa.csv {
            println!("trace: {}", p.display());
        }
        if let Some(p) = &sa.svg {
            println!("plot:  {}", p.display());
        }
    }
    if !out.lost.is_empty() {
        return Err(Failure::Runtime(format!(
            "{}; check the disk space and the path, and run again",
            out.lost.join("; ")
        )));
    }
    Ok(ExitCode::SUCCESS)
}

/// Can the SVG plot be written at `path`? Created (empty) now, so a bad path
/// fails before the run, not after it; the plot is written at the end.
fn check_svg_path(path: &Path) -> Result<(), String> {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| {
            format!(
                "{}: cannot create the SVG plot: {e} (choose a writable path for --svg)",
                path.display()
            )
        })?;
    match f.metadata() {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(format!(
            "{}: --svg needs a regular file, not a device, FIFO or socket (choose a file path)",
            path.display()
        )),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Is `dev` a PHC that can be opened now? A path that is not a character
/// device is not even opened (a FIFO would block); a character device that
/// does not answer `PTP_CLOCK_GETCAPS` (`/dev/null`, a tty) is not a PHC.
///
/// # Errors
/// What `dev` is instead, and what to do (`role` is `source` or `sink`).
fn check_phc(dev: &Path, role: &str) -> Result<(), String> {
    use std::os::unix::fs::FileTypeExt;
    let hint = "`keel phc` lists the PHCs of this machine";
    match std::fs::metadata(dev) {
        Ok(m) if !m.file_type().is_char_device() => {
            let what = if m.is_dir() {
                "a directory"
            } else if m.is_file() {
                "a regular file"
            } else if m.file_type().is_fifo() {
                "a FIFO"
            } else {
                "not a character device"
            };
            return Err(format!(
                "{role} {}: not a PHC (it is {what}); set {role} to a /dev/ptpN device or a PHC clock name ({hint})",
                dev.display()
            ));
        }
        _ => {}
    }
    let mut d = LinuxPhc::open(dev).map_err(|(kind, e)| {
        format!(
            "{role} {}: cannot open the PHC: {e}{}",
            dev.display(),
            match kind {
                phc::PhcError::Permission =>
                    " (run as a user that can read it, e.g. add a udev rule or DeviceAllow= in the systemd unit)",
                phc::PhcError::NoDevice =>
                    " (is the driver loaded? `modprobe ptp_kvm`; `keel phc` lists what exists)",
                _ => "",
            }
        )
    })?;
    match d.caps() {
        Err(phc::PhcError::NotSupported | phc::PhcError::Invalid) => Err(format!(
            "{role} {}: not a PHC: it does not answer PTP_CLOCK_GETCAPS; set {role} to a /dev/ptpN device or a PHC clock name ({hint})",
            dev.display()
        )),
        // Busy or vanished: transient, handled by the daemon.
        _ => Ok(()),
    }
}

/// PHC − `CLOCK_REALTIME` (ns) of the PHC at `dev`, read at start with
/// the configured read method (three tries: EBUSY is transient); `None`
/// when no reading was had.
fn phc_ahead_now(dev: &Path, method: MethodChoice, samples: usize) -> Option<i64> {
    let mut d = LinuxPhc::open(dev).ok()?;
    let mut r = Reader::new(method, samples);
    (0..3).find_map(|_| {
        r.read(&mut d)
            .ok()
            .and_then(|ok| ok.reading.best_sample())
            .map(|s| timescale::phc_ahead_ns(s.offset))
    })
}

/// The source's time scale with `time_scale` as configured: a hypervisor
/// PHC's is known; any other's is read from evidence (and logged), or keel
/// refuses to guess.
///
/// # Errors
/// The configuration error to stop with: keel cannot tell the scale.
fn source_time_scale(
    cfg: &Config,
    dev: &Path,
    name: Option<&str>,
    hypervisor: bool,
) -> Result<timescale::Choice, String> {
    let ahead = (cfg.time_scale == TimeScale::Auto && !hypervisor)
        .then(|| phc_ahead_now(dev, cfg.read_method, cfg.samples))
        .flatten();
    let shown = dev.display().to_string();
    let label = name.unwrap_or(phc::UNKNOWN_PHC);
    match timescale::decide(name, ahead, cfg.time_scale, cfg.tai_utc_offset) {
        Ok(c) => {
            if let Some(line) = timescale::explain(&shown, label, c, ahead) {
                warn!("{line}");
            }
            Ok(c)
        }
        Err(refusal) => Err(timescale::RefusalMessage {
            dev: &shown,
            name: label,
            tai_utc_s: cfg.tai_utc_offset,
            refusal,
        }
        .to_string()),
    }
}

#[allow(clippy::cast_precision_loss, reason = "display")]
fn f64_s(ns: u64) -> f64 {
    ns as f64 / 1e9
}

/// `keel status` (`cmd` "status") and `keel sources` (`cmd` "sources").
fn status_cmd(p: &mut lexopt::Parser, cmd: &'static str) -> Result<ExitCode, Failure> {
    use lexopt::prelude::*;
    let mut json = false;
    let mut socket: Option<PathBuf> = None;
    let mut config_path: Option<PathBuf> = None;
    while let Some(arg) = p.next().map_err(|e| usage(cmd, e))? {
        match arg {
            Short('h') | Long("help") => return help(Some(cmd)),
            Long("json") => json = true,
            Long("socket") => socket = Some(path_value(p, cmd)?),
            Long("config") => config_path = Some(path_value(p, cmd)?),
            a => return Err(usage(cmd, a.unexpected())),
        }
    }
    let socket = match socket {
        Some(s) => s,
        None => {
            let c = match &config_path {
                Some(p) => Config::load(p, false),
                None => Config::load(Path::new(config::DEFAULT_PATH), true),
            }
            .map_err(|e| Failure::Config(e.to_string()))?;
            c.status_socket.ok_or_else(|| {
                Failure::Config(
                    "the configuration disables the status socket (status_socket = \"\"); pass --socket PATH"
                        .into(),
                )
            })?
        }
    };
    let snap = status::query(&socket).map_err(Failure::Runtime)?;
    if json {
        print!("{}", snap.json());
    } else if cmd == "sources" {
        print!("{}", status::sources_table(&snap));
    } else {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        print!("{}", snap.tracking(now));
    }
    Ok(ExitCode::SUCCESS)
}

/// `keel monitor` and `keel monitor status`.
fn monitor_cmd(p: &mut lexopt::Parser) -> Result<ExitCode, Failure> {
    use lexopt::prelude::*;
    const CMD: &str = "monitor";
    let mut config_path: Option<PathBuf> = None;
    let mut guests: Vec<String> = Vec::new();
    let (mut poll, mut burst, mut metrics, mut socket) = (None, None, None, None);
    let (mut duration, mut json, mut status_mode, mut verbose) = (None, false, false, false);
    let mut guests_dir: Option<PathBuf> = None;
    let mut csv: Option<PathBuf> = None;
    while let Some(arg) = p.next().map_err(|e| usage(CMD, e))? {
        match arg {
            Short('h') | Long("help") => return help(Some(CMD)),
            Value(v) if !status_mode && v == "status" => status_mode = true,
            Long("config") => config_path = Some(path_value(p, CMD)?),
            Long("guest") => guests.push(text_value(p, CMD)?),
            Long("poll") => poll = Some(text_value(p, CMD)?),
            Long("burst") => burst = Some(text_value(p, CMD)?),
            Long("metrics-listen") => metrics = Some(text_value(p, CMD)?),
            Long("status-socket" | "socket") => socket = Some(text_value(p, CMD)?),
            Long("duration") => {
                let d = text_value(p, CMD)?;
                duration = Some(parse_duration(&d).ok_or_else(|| {
                    Failure::Usage(
                        CMD,
                        format!("--duration {d}: expected a time such as 60s, 10m or 1h"),
                    )
                })?);
            }
            Long("json") => json = true,
            Long("verbose-metrics") => verbose = true,
            Long("guests-dir") => guests_dir = Some(path_value(p, CMD)?),
            Long("csv") => csv = Some(path_value(p, CMD)?),
            a => return Err(usage(CMD, a.unexpected())),
        }
    }
    if status_mode {
        let path = PathBuf::from(socket.unwrap_or_else(|| monitor::DEFAULT_SOCKET.into()));
        print!(
            "{}",
            monitor::status(&path, json).map_err(Failure::Runtime)?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut s = match &config_path {
        Some(p) => monitor::Settings::load(p).map_err(Failure::Config)?,
        None if Path::new(monitor::DEFAULT_CONFIG).exists() => {
            monitor::Settings::load(Path::new(monitor::DEFAULT_CONFIG)).map_err(Failure::Config)?
        }
        None => monitor::Settings::default(),
    };
    let bad = |m: String| Failure::Usage(CMD, m);
    if let Some(v) = poll {
        s.set_poll(
            v.parse()
                .map_err(|_| bad(format!("--poll {v}: expected seconds")))?,
        )
        .map_err(bad)?;
    }
    if let Some(v) = burst {
        s.set_burst(
            v.parse()
                .map_err(|_| bad(format!("--burst {v}: expected a count")))?,
        )
        .map_err(bad)?;
    }
    if let Some(v) = metrics {
        s.set_metrics(&v).map_err(bad)?;
    }
    if let Some(v) = socket {
        s.status_socket = (!v.is_empty()).then(|| v.into());
    }
    s.metrics_verbose |= verbose;
    if guests_dir.is_some() {
        s.guests_dir = guests_dir;
    }
    s.csv = csv;
    for g in guests {
        let (name, channel) = g.split_once('=').ok_or_else(|| {
            bad(format!(
                "--guest {g}: expected NAME=CHANNEL, e.g. vm1=unix:/run/vm1.sock"
            ))
        })?;
        s.add_guest(name, channel).map_err(bad)?;
    }
    monitor::run(&s, duration.map(std::time::Duration::from_nanos)).map_err(Failure::Runtime)?;
    Ok(ExitCode::SUCCESS)
}

fn waitsync_cmd(p: &mut lexopt::Parser) -> Result<ExitCode, Failure> {
    use lexopt::prelude::*;
    let mut max_bound = None;
    let mut timeout = None;
    let mut page = PathBuf::from(keel_client::DEFAULT_PATH);
    while let Some(arg) = p.next().map_err(|e| usage("waitsync", e))? {
        match arg {
            Short('h') | Long("help") => return help(Some("waitsync")),
            Long("max-bound") => {
                let v = text_value(p, "waitsync")?;
                max_bound = Some(waitsync::parse_bound(&v).ok_or_else(|| {
                    Failure::Usage(
                        "waitsync",
                        format!("--max-bound `{v}`: expected a time such as 1us, 250ns or 1ms"),
                    )
                })?);
            }
            Long("timeout") => {
                let v = text_value(p, "waitsync")?;
                let ns = parse_duration(&v).ok_or_else(|| {
                    Failure::Usage(
                        "waitsync",
                        format!("--timeout `{v}`: expected a duration such as 30s or 5m"),
                    )
                })?;
                timeout = Some(std::time::Duration::from_nanos(ns));
            }
            Long("page") => page = path_value(p, "waitsync")?,
            a => return Err(usage("waitsync", a.unexpected())),
        }
    }
    match waitsync::wait(&page, max_bound, timeout) {
        Ok((half, waited)) => {
            println!(
                "synchronised: bound ±{half} ns (waited {:.1} s)",
                waited.as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err((why, waited)) => Err(Failure::Runtime(format!(
            "{}: not synchronised after {:.1} s: {why}",
            page.display(),
            waited.as_secs_f64()
        ))),
    }
}

fn phc_cmd(p: &mut lexopt::Parser) -> Result<ExitCode, Failure> {
    use lexopt::prelude::*;
    let bad = |m: String| Failure::Usage("phc", m);
    let mut command: Option<String> = None;
    let mut dev: Option<PathBuf> = None;
    let mut count = 5u32;
    let mut samples = 5usize;
    while let Some(arg) = p.next().map_err(|e| usage("phc", e))? {
        let compare = command.as_deref() == Some("compare");
        match arg {
            Short('h') | Long("help") => return help(Some("phc")),
            Value(v) if command.is_none() => match v.to_str() {
                Some(c @ ("list" | "compare" | "pps")) => command = Some(c.to_string()),
                _ => {
                    return Err(bad(format!(
                        "unknown command `{}`; expected list, compare or pps",
                        v.to_string_lossy()
                    )));
                }
            },
            Value(v) if (compare || command.as_deref() == Some("pps")) && dev.is_none() => {
                dev = Some(PathBuf::from(v));
            }
            Long("count") if compare || command.as_deref() == Some("pps") => {
                let v = text_value(p, "phc")?;
                count = v
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| bad(format!("--count {v}: expected a positive integer")))?;
            }
            Long("samples") if compare => {
                let v = text_value(p, "phc")?;
                samples = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=25).contains(n))
                    .ok_or_else(|| bad(format!("--samples {v}: expected an integer in 1..=25")))?;
            }
            a => return Err(usage("phc", a.unexpected())),
        }
    }
    if command.as_deref() == Some("compare") {
        let dev = dev.ok_or_else(|| bad("compare needs a DEVICE, e.g. /dev/ptp0".into()))?;
        phc_compare(&dev, count, samples)
    } else if command.as_deref() == Some("pps") {
        let dev = dev.ok_or_else(|| bad("pps needs a DEVICE, e.g. /dev/pps0".into()))?;
        pps_watch(&dev, count)
    } else {
        phc_list();
        Ok(ExitCode::SUCCESS)
    }
}

fn phc_list() {
    let found = phc::list(Path::new("/sys/class/ptp"));
    let pps = pps::list();
    for p in &pps {
        println!(
            "{}  \"{}\"{}  last assert {}",
            p.dev.display(),
            p.name,
            if p.path.is_empty() {
                String::new()
            } else {
                format!(" on {}", p.path)
            },
            if p.assert.is_empty() { "-" } else { &p.assert }
        );
    }
    if pps.is_empty() && !found.is_empty() {
        println!("no PPS device in /sys/class/pps");
    }
    if found.is_empty() {
        println!(
            "no PHC found in /sys/class/ptp (on a KVM guest: `modprobe ptp_kvm`; on Hyper-V: hv_utils; on VMware: ptp_vmw). Without hardware, try `keel sync --clock sim --speed max`."
        );
        return;
    }
    for i in found {
        let ahead = (!i.is_hypervisor())
            .then(|| phc_ahead_now(&i.dev, MethodChoice::Auto, 5))
            .flatten();
        println!(
            "{}  \"{}\"  ({})",
            i.dev.display(),
            i.name,
            scale_words(&i.name, ahead)
        );
        match LinuxPhc::open(&i.dev) {
            Err((_, e)) => println!("    cannot open: {e}"),
            Ok(mut d) => {
                match d.caps() {
                    Ok(c) => {
                        println!(
                            "    caps: max_adj {} ppb, pins {}, external timestamps {}, periodic outputs {}, pps {}, cross_timestamping {}, adjust_phase {}",
                            c.max_adj,
                            c.n_pins,
                            c.n_ext_ts,
                            c.n_per_out,
                            c.pps,
                            c.cross_timestamping,
                            c.adjust_phase
                        );
                        for k in 0..u32::try_from(c.n_pins).unwrap_or(0) {
                            match d.pin(k) {
                                Ok(p) => println!(
                                    "    pin {k} \"{}\": {} (channel {})",
                                    p.name,
                                    p.func_name(),
                                    p.chan
                                ),
                                Err(e) => println!("    pin {k}: {e}"),
                            }
                        }
                    }
                    Err(e) => println!("    caps: {e}"),
                }
                for m in PROBE_ORDER {
                    let r = d.read(m, 1);
                    println!(
                        "    {m:<24} {}",
                        match r {
                            Ok(_) => "works".to_string(),
                            Err(e) => e.to_string(),
                        }
                    );
                }
            }
        }
    }
}

/// `keel phc pps DEVICE`: each assert edge as it comes (like `ppstest`),
/// with where it fell in `CLOCK_REALTIME`'s second. Read-only: the edges
/// are asked for only when the device is not capturing them already.
fn pps_watch(dev: &Path, count: u32) -> Result<ExitCode, Failure> {
    let d = pps::PpsDevice::open(dev).map_err(Failure::Runtime)?;
    if d.caps() & pps::CAN_WAIT == 0 {
        return Err(Failure::Runtime(format!(
            "{}: the device cannot wait for an edge (PPS_CANWAIT not in its capabilities {:#x})",
            dev.display(),
            d.caps()
        )));
    }
    let mut last = d
        .fetch(0)
        .map_err(|e| Failure::Runtime(format!("{}: PPS_FETCH: {e}", dev.display())))?;
    if last.assert.1.is_none() {
        d.capture(false).map_err(Failure::Runtime)?;
    }
    println!("{}: capabilities {:#x}", dev.display(), d.caps());
    let mut seen = 0;
    while seen < count {
        match d.fetch(3_000_000_000) {
            Ok(e) if e.assert.0 != last.assert.0 => {
                if let Some(t) = e.assert.1 {
                    let frac = i64::from(t.subsec_nanos());
                    let from_second = if frac > 500_000_000 {
                        frac - 1_000_000_000
                    } else {
                        frac
                    };
                    println!(
                        "assert #{}  {}.{:09}  {:+} ns from the second{}",
                        e.assert.0,
                        t.secs(),
                        t.subsec_nanos(),
                        from_second,
                        if e.assert.0.wrapping_sub(last.assert.0) > 1 {
                            format!(
                                "  ({} edges missed)",
                                e.assert.0.wrapping_sub(last.assert.0) - 1
                            )
                        } else {
                            String::new()
                        }
                    );
                }
                last = e;
                seen += 1;
            }
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ETIMEDOUT) => {
                return Err(Failure::Runtime(format!(
                    "{}: no edge for 3 s (is the pulse connected? `keel phc` shows the last edge)",
                    dev.display()
                )));
            }
            Err(e) => {
                return Err(Failure::Runtime(format!(
                    "{}: PPS_FETCH: {e}",
                    dev.display()
                )));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What `time_scale = "auto"` makes of a PHC named `name` that reads
/// `ahead` (PHC − `CLOCK_REALTIME`, ns) now.
fn scale_words(name: &str, ahead: Option<i64>) -> String {
    #[allow(clippy::cast_precision_loss, reason = "display")]
    let secs = |ns: i64| ns as f64 / 1e9;
    match timescale::decide(
        Some(name),
        ahead,
        TimeScale::Auto,
        Config::default().tai_utc_offset,
    ) {
        Ok(c) if c.basis == timescale::Basis::Hypervisor => "hypervisor, UTC".into(),
        Ok(c) => format!(
            "time scale auto: {} (it reads {:+.3} s from CLOCK_REALTIME now)",
            if c.tai { "TAI" } else { "UTC" },
            secs(ahead.unwrap_or(0))
        ),
        Err(timescale::Refusal::NoReading) => {
            "time scale unknown: not readable now; set time_scale".into()
        }
        Err(timescale::Refusal::Ambiguous(a)) => format!(
            "time scale unknown: it reads {:+.3} s from CLOCK_REALTIME, neither UTC nor TAI; set time_scale",
            secs(a)
        ),
    }
}

fn phc_compare(dev: &Path, count: u32, samples: usize) -> Result<ExitCode, Failure> {
    let mut d = LinuxPhc::open(dev).map_err(|(_, e)| {
        Failure::Runtime(format!(
            "{}: cannot open the PHC: {e} (`keel phc` lists the PHCs that exist)",
            dev.display()
        ))
    })?;
    let mut r = Reader::new(MethodChoice::Auto, samples);
    for _ in 0..count {
        match r.read(&mut d) {
            Ok(ok) => match ok.reading.best_sample() {
                Some(s) => println!(
                    "offset {:+} ns (CLOCK_REALTIME − {}), delay {} ns, {}",
                    s.offset.as_nanos(),
                    dev.display(),
                    s.delay.as_nanos(),
                    ok.method
                ),
                None => println!("no usable sample ({})", ok.method),
            },
            Err(f) => {
                return Err(Failure::Runtime(format!(
                    "{}: no read method works: {}",
                    dev.display(),
                    f.error
                )));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_not_a_phc_is_refused_at_start() {
        // A character device that is no PHC: `keel sync` ran for ever in
        // holdover on it.
        let e = check_phc(Path::new("/dev/null"), "source").unwrap_err();
        assert_eq!(
            e,
            "source /dev/null: not a PHC: it does not answer PTP_CLOCK_GETCAPS; set source to a /dev/ptpN device or a PHC clock name (`keel phc` lists the PHCs of this machine)"
        );
        let dir = std::env::temp_dir().join(format!("keel-main-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("ptp0");
        std::fs::write(&file, "").unwrap();
        let e = check_phc(&file, "sink").unwrap_err();
        assert!(
            e.contains("ptp0: not a PHC (it is a regular file); set sink to"),
            "{e}"
        );
        // A FIFO is not opened (that would block).
        let fifo = dir.join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = check_phc(&fifo, "source").unwrap_err();
        assert!(e.contains("not a PHC (it is a FIFO)"), "{e}");
        let e = check_phc(Path::new("/nonexistent/ptp9"), "source").unwrap_err();
        assert!(e.contains("/nonexistent/ptp9: cannot open the PHC"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_svg_path_is_checked_before_the_run() {
        let e = check_svg_path(Path::new("/proc/x.svg")).unwrap_err();
        assert!(
            e.starts_with("/proc/x.svg: cannot create the SVG plot: ")
                && e.ends_with("(choose a writable path for --svg)"),
            "{e}"
        );
        let e = check_svg_path(Path::new("/dev/null")).unwrap_err();
        assert!(e.contains("--svg needs a regular file"), "{e}");
        let dir = std::env::temp_dir().join(format!("keel-main-svg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("plot.svg");
        check_svg_path(&p).unwrap();
        assert!(p.is_file());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("600s"), Some(600_000_000_000));
        assert_eq!(parse_duration("600"), Some(600_000_000_000));
        assert_eq!(parse_duration("10m"), Some(600_000_000_000));
        assert_eq!(parse_duration("1.5h"), Some(5_400_000_000_000));
        assert_eq!(parse_duration("1d"), Some(86_400_000_000_000));
        assert_eq!(parse_duration("0s"), None);
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration("5x"), None);
    }
}

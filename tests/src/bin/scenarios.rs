//! Prints the scenario report as a markdown table.
//!
//! `cargo run --release -p keel-tests --bin scenarios [-- --seeds N] [--only TEXT] [--suite | --changes | --ntp | --pps]`
//!
//! `--ntp` prints only the NTP section (`keel_tests::ntp_report`): PHC + 3
//! NTP servers on seeds 1–3, and NTP alone and selection on `--seeds`
//! seeds (default 20).
//!
//! `--pps` prints only the PPS sections (`keel_tests::pps_report`): the
//! labelling (10⁵ pulses of the simulated GNSS receiver per run) and the
//! engine on it (steady accuracy, lock, holdover through 1 h and 24 h
//! outages on TCXO- and OCXO-class oscillators), on `--seeds` seeds
//! (default 3); `--only engine` runs the engine's alone.

use keel_tests::ntp_report::{NtpOptions, ntp_section};
use keel_tests::pps_report::pps_section;
use keel_tests::report::{contenders, markdown, run_all};
use keel_tests::scenarios;

const USAGE: &str =
    "usage: scenarios [--seeds N] [--only TEXT] [--suite | --changes | --ntp | --pps]";

fn main() {
    let mut seeds: Option<u64> = None;
    let mut only: Option<String> = None;
    let mut suite = false;
    let mut changes = false;
    let mut ntp = false;
    let mut pps = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seeds" => match args.next().and_then(|v| v.parse().ok()) {
                Some(n) if n > 0 => seeds = Some(n),
                _ => usage("--seeds takes a positive whole number"),
            },
            "--only" => {
                only = args
                    .next()
                    .or_else(|| usage("--only takes a text to match scenario names"))
            }
            "--suite" => suite = true,
            "--changes" => changes = true,
            "--ntp" => ntp = true,
            "--pps" => pps = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            other => usage(&format!("unknown argument `{other}`")),
        }
    }
    if pps {
        let seeds = seeds.unwrap_or(3);
        print!("{}", pps_section(seeds, only.as_deref()));
        if only.is_none_or(|o| "engine".contains(o.as_str())) {
            print!("\n{}", keel_tests::pps_report::engine::section(seeds));
        }
        return;
    }
    if ntp {
        let opts = NtpOptions {
            seeds: seeds.unwrap_or(NtpOptions::default().seeds),
            only,
        };
        print!("{}", ntp_section(&opts));
        return;
    }
    let seeds = seeds.unwrap_or(3);
    let mut list = if changes {
        scenarios::changes()
    } else if suite {
        scenarios::suite()
    } else {
        scenarios::all()
    };
    if let Some(o) = &only {
        list.retain(|s| s.name.contains(o.as_str()));
    }
    let seed_list: Vec<u64> = (1..=seeds).collect();
    let cells = run_all(&list, &contenders(), &seed_list);
    print!("{}", markdown(&list, &cells, seed_list.len()));
}

fn usage(msg: &str) -> ! {
    eprintln!("scenarios: {msg}\n{USAGE}");
    std::process::exit(2);
}

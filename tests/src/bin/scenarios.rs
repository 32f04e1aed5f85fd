//! Prints the scenario report as a markdown table.
//!
//! `cargo run --release -p keel-tests --bin scenarios [-- --seeds N] [--only TEXT] [--suite | --changes]`

use keel_tests::report::{contenders, markdown, run_all};
use keel_tests::scenarios;

fn main() {
    let mut seeds = 3u64;
    let mut only: Option<String> = None;
    let mut suite = false;
    let mut changes = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--seeds" => match args.next().and_then(|v| v.parse().ok()) {
                Some(n) if n > 0 => seeds = n,
                _ => usage("--seeds takes a positive whole number"),
            },
            "--only" => {
                only = args
                    .next()
                    .or_else(|| usage("--only takes a text to match scenario names"))
            }
            "--suite" => suite = true,
            "--changes" => changes = true,
            "-h" | "--help" => {
                println!("usage: scenarios [--seeds N] [--only TEXT] [--suite | --changes]");
                return;
            }
            other => usage(&format!("unknown argument `{other}`")),
        }
    }
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
    eprintln!("scenarios: {msg}\nusage: scenarios [--seeds N] [--only TEXT] [--suite | --changes]");
    std::process::exit(2);
}

//! Prints a servo's true offset around a scenario's perturbation:
//! `cargo run --release -p keel-tests --example trace -- <scenario-substring> [servo] [seed] [from_s]`.
use keel_tests::report::contenders;
use keel_tests::runner::run;
use keel_tests::scenarios;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let pat = args.first().map_or("freq step", String::as_str);
    let servo_name = args.get(1).map_or("keel", String::as_str);
    let seed = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let Some(scn) = scenarios::all()
        .into_iter()
        .chain(scenarios::suite())
        .find(|s| s.name.contains(pat))
    else {
        eprintln!("no scenario matches `{pat}`");
        std::process::exit(2);
    };
    let Some(c) = contenders().into_iter().find(|c| c.name == servo_name) else {
        eprintln!("no servo named `{servo_name}`");
        std::process::exit(2);
    };
    let r = run(&scn, (c.make)(&scn).as_mut(), seed);
    let from = args
        .get(3)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| usize::try_from(scn.settle_from_s.saturating_sub(3)).unwrap_or(0));
    println!("# {} / {} / seed {seed}", scn.name, c.name);
    for (i, x) in r.trace_offset_ns.iter().enumerate().skip(from).take(60) {
        println!("{:5} {:14.1}", i + 1, x);
    }
}

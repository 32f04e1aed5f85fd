//! Per-seed error-bound violations of keel's servo in one scenario:
//! `cargo run --release -p keel-tests --example bounds -- <scenario-substring> [seeds]`.
use keel_tests::report::KEEL;
use keel_tests::runner::run;
use keel_tests::scenarios;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let pat = args.first().map_or("steady", String::as_str);
    let seeds: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(5);
    for scn in scenarios::all()
        .into_iter()
        .chain(scenarios::suite())
        .filter(|s| s.name.contains(pat))
    {
        for seed in 1..=seeds {
            let r = run(&scn, (KEEL.make)(&scn).as_mut(), seed);
            println!(
                "{:40} seed {seed}: {} / {} violations, tightness {:.1}, rms {:.1}",
                scn.name,
                r.bound_violations,
                r.bound_checks,
                r.bound_tightness_median.unwrap_or(f64::NAN),
                r.rms_offset_ns
            );
            if !r.violation_times_s.is_empty() {
                println!(
                    "    at {:?}",
                    &r.violation_times_s[..r.violation_times_s.len().min(20)]
                );
            }
        }
    }
}

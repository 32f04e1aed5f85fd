//! The noisy start (the lab's scenario 2 in simulation) for every contender,
//! with the per-seed spread:
//! `cargo run --release -p keel-tests --example startup_noise -- [sigma_ns] [seeds] [from_s] [to_s] [wander]`.
use keel_tests::report::contenders;
use keel_tests::runner::run;
use keel_tests::scenarios;

fn arg<T: std::str::FromStr>(i: usize, default: T) -> T {
    std::env::args()
        .nth(i)
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let sigma: f64 = arg(1, 1000.0);
    let seeds: u64 = arg(2, 20);
    let from: u64 = arg(3, 20);
    let to: u64 = arg(4, 35);
    let w: f64 = arg(5, 0.1);
    let mut scn = scenarios::noisy_start(sigma);
    scn.sim.oscillator.wander_ppb_per_sqrt_s = w;
    scn.duration_s = to;
    scn.steady_s = (from, to);
    println!("σ {sigma} ns, wander {w} ppb/√s, window {from}..{to} s, {seeds} seeds");
    for c in contenders() {
        let mut v: Vec<f64> = (1..=seeds)
            .map(|seed| run(&scn, (c.make)(&scn).as_mut(), seed).rms_offset_ns)
            .collect();
        let per_seed: Vec<f64> = v.iter().map(|x| x.round()).collect();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        println!(
            "{:15} median {:8.1}  p10 {:8.1}  p90 {:8.1}  per seed {per_seed:?}",
            c.name,
            v[n / 2],
            v[n / 10],
            v[n * 9 / 10]
        );
    }
}

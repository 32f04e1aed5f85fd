//! Prints the digest of keel's reference closed-loop scenario on this host:
//! `keel_core::sim::drive::default_servo_run(seed, updates)`, the code path
//! the Cortex-M firmware example runs.
//!
//! `cargo run --release -p keel-tests --example sim_digest -- [SEED] [UPDATES]`
//! (defaults 1 and 600) prints one `RESULT` line in the firmware's format.

use keel_core::sim::drive::default_servo_run;

fn main() {
    let mut args = std::env::args().skip(1);
    let seed: u64 = args
        .next()
        .map_or(1, |s| s.parse().expect("SEED: an integer"));
    let updates: u32 = args
        .next()
        .map_or(600, |s| s.parse().expect("UPDATES: an integer"));
    let r = default_servo_run(seed, updates);
    println!(
        "RESULT seed={seed} updates={} hash={:#018x} state={:?} locked={} locked_from={} steps={} missed={} final_offset_ns={} max_offset_last_quarter_ns={}",
        r.updates,
        r.hash,
        r.state,
        r.locked_within(1_000),
        r.locked_from.map_or(-1, i64::from),
        r.steps,
        r.missed,
        r.final_offset_ns,
        r.max_offset_last_quarter_ns
    );
}

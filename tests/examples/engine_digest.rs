//! Prints the digest of keel's reference engine scenario on this host:
//! `keel_core::sim::engine_loop::default_engine_run(seed, updates)`, the
//! code path the Cortex-M firmware example runs and libkeel replays.
//!
//! `cargo run --release -p keel-tests --example engine_digest -- [SEED] [UPDATES]`
//! (defaults 1 and 600) prints one `ENGINE` line in the firmware's format.

use keel_core::sim::engine_loop::default_engine_run;

fn main() {
    let mut args = std::env::args().skip(1);
    let seed: u64 = args
        .next()
        .map_or(1, |s| s.parse().expect("SEED: an integer"));
    let updates: u64 = args
        .next()
        .map_or(600, |s| s.parse().expect("UPDATES: an integer"));
    let e = default_engine_run(seed, updates);
    println!(
        "ENGINE seed={seed} updates={} hash={:#018x} locked={} steps={} disruptions={} interference={} max_offset_last_quarter_ns={}",
        e.counters.updates,
        e.hash,
        e.locked,
        e.counters.steps,
        e.counters.disruptions,
        e.counters.interference,
        e.max_offset_last_quarter_ns
    );
}

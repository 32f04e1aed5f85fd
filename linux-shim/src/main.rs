//! The `keel` program. The daemon arrives in its own issue; until then the
//! simulated scenario report (`cargo run --release -p keel-tests --bin scenarios`)
//! stands in for keel's main job.

fn main() {
    eprintln!(
        "keel: the daemon is not built yet; run `cargo run --release -p keel-tests --bin scenarios`"
    );
    std::process::exit(2);
}

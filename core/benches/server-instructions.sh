#!/usr/bin/env bash
# Instructions per NTP request in keel-core (server::respond + stamp_transmit),
# counted by callgrind over the three mixes of benches/server.rs:
#   core/benches/server-instructions.sh [REQUESTS_PER_MIX]   (default 100000)
# Prints one line per mix: the inclusive instruction count of serve_one()
# divided by its calls. Needs valgrind. The goal is <= 300 per request.
set -euo pipefail
n="${1:-100000}"
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
target="${CARGO_TARGET_DIR:-$here/../target}"
cargo bench -p keel-core --bench server --no-run 2>/dev/null
bin=$(ls -t "$target"/release/deps/server-* | grep -v '\.d$' | head -n1)
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
for mix in steady limited churn; do
    # Count one mix at a time: the toggle collects serve_one's calls only.
    KEEL_BENCH_N="$n" KEEL_BENCH_ONLY="$mix" valgrind --tool=callgrind \
        --callgrind-out-file="$out/$mix.out" --toggle-collect='*serve_one*' \
        "$bin" >/dev/null 2>"$out/$mix.log"
    ir=$(callgrind_annotate --inclusive=yes "$out/$mix.out" 2>/dev/null |
        awk '/PROGRAM TOTALS/ && !done { gsub(",", "", $1); print $1; done = 1 }')
    awk -v ir="$ir" -v n="$n" -v mix="$mix" \
        'BEGIN { printf "%-8s %6.1f instructions per request (%d requests, %d instructions)\n", mix, ir / n, n, ir }'
done

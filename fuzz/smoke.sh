#!/usr/bin/env bash
# Runs every fuzz target for N seconds (default 10): `fuzz/smoke.sh [N]`.
# Skips, with a message and exit status 0, when the nightly toolchain or
# cargo-fuzz is not installed. Any crash fails the script.
set -euo pipefail
secs="${1:-10}"
here="$(cd "$(dirname "$0")" && pwd)"
if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz smoke: SKIPPED (no nightly toolchain; rustup toolchain install nightly)"
    exit 0
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "fuzz smoke: SKIPPED (cargo-fuzz not installed; cargo install cargo-fuzz)"
    exit 0
fi
cd "$here"
targets=$(cargo +nightly fuzz list)
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for t in $targets; do
    mkdir -p "corpus/$t"
    if ! cargo +nightly fuzz run "$t" "corpus/$t" -- \
        -max_total_time="$secs" -print_final_stats=1 >"$log" 2>&1; then
        tail -n 40 "$log"
        echo "fuzz smoke: $t FAILED (crash input in fuzz/artifacts/$t)"
        exit 1
    fi
    runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo '?')
    echo "fuzz smoke: $t ran ${secs}s, $runs executions, no crash"
done
echo "fuzz smoke: all targets passed"

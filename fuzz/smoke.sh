#!/usr/bin/env bash
# Runs every fuzz target for N seconds (default 10): `fuzz/smoke.sh [N]`, on
# the toolchain $KEEL_FUZZ_TOOLCHAIN (default nightly). Without it or
# cargo-fuzz it is a skip (tests/skip.sh): exit 1 under CI=true (./test.sh
# installs both there), else a loud, logged line and exit 0. Any crash fails
# the script.
set -euo pipefail
secs="${1:-10}"
here="$(cd "$(dirname "$0")" && pwd)"
tc=${KEEL_FUZZ_TOOLCHAIN:-nightly}
# shellcheck source=SCRIPTDIR/../tests/skip.sh
. "$here/../tests/skip.sh"
if ! cargo "+$tc" --version >/dev/null 2>&1; then
    keel_skip "fuzz smoke" "no $tc toolchain (rustup toolchain install $tc --profile minimal)" || exit 1
    exit 0
fi
if ! cargo "+$tc" fuzz --version >/dev/null 2>&1; then
    keel_skip "fuzz smoke" "cargo-fuzz not installed (cargo install --locked cargo-fuzz)" || exit 1
    exit 0
fi
cd "$here"
targets=$(cargo "+$tc" fuzz list)
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
for t in $targets; do
    mkdir -p "corpus/$t"
    if ! cargo "+$tc" fuzz run "$t" "corpus/$t" -- \
        -max_total_time="$secs" -print_final_stats=1 >"$log" 2>&1; then
        tail -n 40 "$log"
        echo "fuzz smoke: $t FAILED (crash input in fuzz/artifacts/$t)"
        exit 1
    fi
    runs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo '?')
    echo "fuzz smoke: $t ran ${secs}s, $runs executions, no crash"
done
echo "fuzz smoke: all targets passed"

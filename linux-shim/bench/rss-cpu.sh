#!/bin/sh
# Resident memory and CPU of `keel sync` at 1 update/s, on the simulated
# clock in real time (no PHC, no root, the machine's clock untouched).
#   usage: linux-shim/bench/rss-cpu.sh [SECONDS]   (default 60)
# Goals (issue 7): peak RSS <= 4 MiB (chronyd ~3 MiB), CPU <= 0.1 %.
set -eu
secs=${1:-60}
cd "$(dirname "$0")/../.."
cargo build --release -q -p keel-shim
bin=${CARGO_TARGET_DIR:-target}/release/keel
KEEL_FORBID_CLOCK_WRITES=1 "$bin" sync --clock sim --speed 1 --duration "$((secs + 5))s" \
    --summary 60 >/dev/null 2>&1 &
pid=$!
sleep "$secs"
hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")
rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status")
ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat")
hz=$(getconf CLK_TCK)
wait "$pid"
echo "keel sync --clock sim, ${secs} s at 1 update/s:"
echo "  peak RSS ${hwm} KiB, RSS ${rss} KiB"
awk -v t="$ticks" -v hz="$hz" -v s="$secs" \
    'BEGIN { printf "  CPU %d ticks of 1/%d s = %.4f %%\n", t, hz, 100 * t / hz / s }'

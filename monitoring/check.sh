#!/usr/bin/env bash
# The monitoring files against Prometheus's own tool: `promtool check rules`
# and `promtool test rules` on keel-rules.yml (with node-mixin's clock alerts
# firing per guest through its recording rules), and `promtool check
# metrics` on what `keel monitor` serves while it watches a real `keel sync`
# (on its simulated clock) through host_monitor.
# promtool comes from Debian's prometheus package, fetched with
# `apt-get download` and unpacked into the target directory: nothing is
# installed. Without it (no network, no apt) it is a skip (tests/skip.sh):
# a failure under CI=true.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
# shellcheck source=SCRIPTDIR/../tests/skip.sh
. "$repo/tests/skip.sh"
tgt=${CARGO_TARGET_DIR:-$repo/target}
cache="$tgt/promtool"
promtool="$cache/root/usr/bin/promtool"
if [ ! -x "$promtool" ]; then
    mkdir -p "$cache"
    if ! (cd "$cache" && { ls prometheus_*.deb >/dev/null 2>&1 || apt-get download -q prometheus >/dev/null 2>&1; } &&
        dpkg-deb -x prometheus_*.deb root); then
        keel_skip "monitoring/check.sh" "cannot fetch Debian's prometheus package for promtool (apt-get download prometheus)" || exit 1
        exit 0
    fi
fi
cd "$here"
# libvirt's domain XML → [[guest]] tables that keel monitor reads.
python3 libvirt-guests.py testdata/domains.xml | diff - testdata/domains.toml

"$promtool" check rules keel-rules.yml node-mixin-clock.yml
"$promtool" test rules keel-rules.test.yml

# A guest (keel sync on its simulated clock, answering on a Unix socket)
# and the monitor watching it.
cargo build --quiet -p keel-shim
keel="$tgt/debug/keel"
"$keel" monitor --config testdata/domains.toml --status-socket "" --duration 1s 2>/dev/null
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
printf 'host_monitor = ["unix:%s/ktp.sock"]\n' "$work" >"$work/keel.toml"
KEEL_FORBID_CLOCK_WRITES=1 "$keel" sync --clock sim --speed 1 --duration 60s --summary 0 \
    --config "$work/keel.toml" --status-socket "$work/keel.sock" >/dev/null 2>"$work/sync.log" &
for _ in $(seq 100); do [ -S "$work/ktp.sock" ] && break; sleep 0.1; done
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$keel" monitor --guest sim=unix:"$work/ktp.sock" --poll 1 --verbose-metrics \
    --metrics-listen "127.0.0.1:$port" --status-socket "$work/monitor.sock" --duration 20s 2>"$work/monitor.log" &
scrape() {
    exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
    printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3
    sed '1,/^\r$/d' <&3
    exec 3<&-
}
for _ in $(seq 100); do
    if scrape 2>/dev/null | grep -q '^keel_vm_up{vm="sim"} 1$'; then break; fi
    sleep 0.2
done
scrape >"$work/metrics.txt"
grep -q '^keel_vm_up{vm="sim"} 1$' "$work/metrics.txt" || {
    cat "$work/metrics.txt" "$work/monitor.log" >&2
    echo "monitoring/check.sh: the monitor never saw its guest up" >&2
    exit 1
}
"$promtool" check metrics <"$work/metrics.txt"
echo "monitoring/check.sh: rules, rule tests and $(grep -vc '^#' "$work/metrics.txt") served series pass promtool"

#!/usr/bin/env bash
# Builds the keel-sim firmware for Cortex-M4F (thumbv7em-none-eabihf, QEMU
# mps2-an386) and Cortex-M0 (thumbv6m-none-eabi, QEMU's cortex-m0 core on
# lm3s6965evb), runs it under QEMU, and checks that the servo and the engine
# locked and that both digests (the servo's reference run and the engine's,
# default_engine_run) equal the host's runs of the same seed and updates, bit
# for bit.
#
#   examples/firmware-cortex-m/run.sh [SEED...]      (default: 1; KEEL_FW_UPDATES=600)
#
# Installs what it needs (qemu-system-arm via apt-get, the rustup targets).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
seeds=("${@:-1}")
updates="${KEEL_FW_UPDATES:-600}"
targets=(thumbv7em-none-eabihf thumbv6m-none-eabi)

if ! command -v qemu-system-arm >/dev/null; then
    echo "run.sh: installing qemu-system-arm" >&2
    apt-get update -qq && apt-get install -y -qq qemu-system-arm >/dev/null
fi
installed="$(rustup target list --installed)"
for t in "${targets[@]}"; do
    grep -qx "$t" <<<"$installed" || rustup target add "$t"
done

fail=0
for seed in "${seeds[@]}"; do
    host="$(cd "$root" && CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}" \
        cargo run -q --release -p keel-tests --example sim_digest -- "$seed" "$updates")"
    host_engine="$(cd "$root" && CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}" \
        cargo run -q --release -p keel-tests --example engine_digest -- "$seed" "$updates")"
    echo "host   x86_64          $host"
    echo "host   x86_64          $host_engine"
    for t in "${targets[@]}"; do
        out="$(cd "$here" && KEEL_FW_SEED="$seed" KEEL_FW_UPDATES="$updates" \
            CARGO_TARGET_DIR="${KEEL_FW_TARGET_DIR:-$here/target}" \
            timeout 600 cargo run -q --release --features sim --bin keel-sim --target "$t" 2>/dev/null)" \
            || { echo "FAIL: $t seed $seed: firmware exited with an error" >&2; echo "$out" >&2; fail=1; continue; }
        fw="$(grep '^RESULT ' <<<"$out" || true)"
        mem="$(grep '^MEMORY ' <<<"$out" || true)"
        eng="$(grep '^ENGINE ' <<<"$out" || true)"
        echo "qemu   $t $fw"
        echo "qemu   $t $eng"
        echo "       $t $mem"
        if [[ "$fw" != "$host" ]]; then
            echo "FAIL: $t seed $seed: firmware result differs from the host" >&2
            fail=1
        elif ! grep -q ' locked=true ' <<<"$fw"; then
            echo "FAIL: $t seed $seed: the servo did not lock within 1 us" >&2
            fail=1
        fi
        if [[ "$eng" != "$host_engine" ]]; then
            echo "FAIL: $t seed $seed: the engine's result differs from the host" >&2
            fail=1
        elif ! grep -q ' locked=true ' <<<"$eng"; then
            echo "FAIL: $t seed $seed: the engine did not lock" >&2
            fail=1
        fi
    done
done
if [[ $fail -ne 0 ]]; then
    exit 1
fi
echo "firmware-cortex-m: OK (servo and engine digests equal on x86_64, Cortex-M4F and Cortex-M0)"

#!/usr/bin/env bash
# Builds the C firmware (libkeel.a for thumbv7em-none-eabihf + include/keel.h,
# arm-none-eabi-gcc), runs it under QEMU (mps2-an386, Cortex-M4F) and checks
# that its digest equals the host's run of the same scenario (main.c compares
# and sets the exit status) and that the servo locked.
#
#   examples/firmware-c/run.sh [SEED...]      (default: 1; UPDATES=600)
#
# Installs what it needs (gcc-arm-none-eabi, libnewlib-arm-none-eabi,
# qemu-system-arm via apt-get; the rustup target).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
seeds=("${@:-1}")
need=()
command -v arm-none-eabi-gcc >/dev/null || need+=(gcc-arm-none-eabi libnewlib-arm-none-eabi)
command -v qemu-system-arm >/dev/null || need+=(qemu-system-arm)
if [[ ${#need[@]} -gt 0 ]]; then
    echo "run.sh: installing ${need[*]}" >&2
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
rustup target list --installed | grep -qx thumbv7em-none-eabihf || rustup target add thumbv7em-none-eabihf
for seed in "${seeds[@]}"; do
    make -s -C "$here" SEED="$seed" UPDATES="${UPDATES:-600}" all >/dev/null
    out="$(qemu-system-arm -M mps2-an386 -cpu cortex-m4 -nographic -monitor none -serial none \
        -semihosting-config enable=on,target=native -kernel "$here/build/keel-fw-c.elf" 2>/dev/null)" || {
        echo "FAIL: C firmware seed $seed:" >&2
        echo "$out" >&2
        exit 1
    }
    echo "qemu   thumbv7em C/libkeel $out"
done
echo "firmware-c: OK (libkeel through keel.h reproduces the host digests of the servo and the engine on Cortex-M4F)"

#!/usr/bin/env bash
# What linking keel's servo adds to a C daemon, by one command:
#
#   ffi/size-c.sh          (a markdown table on stdout; fails above 150 KiB)
#
# Installs libkeel twice into a scratch prefix (`make -C ffi install`, the
# default build with std, and SMALL=1: no std, panic = "abort"), then builds
# the same small pull-style daemon (tests/c/pull.c, keel behind linuxptp's
# servo.h shape) three ways, each stripped and linked with --gc-sections:
# against a stub servo that does nothing (the baseline), and statically
# through `pkg-config --libs keel-static` against either libkeel. Each binary
# is run, and must not load libkeel.so. Never touches the machine's clock.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
limit_kib=150
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

make -s -C ffi install PREFIX="$work/std" >&2
make -s -C ffi install PREFIX="$work/small" SMALL=1 >&2

cat >"$work/daemon.c" <<'EOF'
/* A pull-style daemon's servo calls, as phc2sys makes them. */
#include <stdio.h>
#include <stdlib.h>
#include "pull.h"
int main(int argc, char **argv) {
    keel_pull_servo s;
    enum keel_pull_state st = KEEL_PULL_UNLOCKED;
    double ppb = 0;
    int i;
    if (keel_pull_create(&s, KEEL_SERVO_KIND_KALMAN, 0.0, 500000, 1000000000, 20000, 0)) return 1;
    keel_pull_sync_interval(&s, 1.0);
    for (i = 1; i < argc; i++)
        ppb = keel_pull_sample(&s, atoll(argv[i]), (uint64_t)i * 1000000000u, 1.0, &st);
    keel_pull_leap(&s, 0);
    printf("%.3f %.9f %d\n", ppb, keel_pull_rate_ratio(&s), (int)st);
    keel_pull_reset(&s);
    return 0;
}
EOF
cat >"$work/stub.c" <<'EOF'
/* The same daemon with a servo that does nothing: the baseline. */
#include "keel.h"
keel_status keel_servo_config_default(int32_t k, keel_servo_config *c) {
    (void)k; c->struct_size = sizeof *c; return KEEL_STATUS_OK; }
keel_status keel_servo_init(keel_servo *s, const keel_servo_config *c) {
    (void)s; (void)c; return KEEL_STATUS_OK; }
keel_status keel_servo_set_step_thresholds(keel_servo *s, int64_t a, int64_t b) {
    (void)s; (void)a; (void)b; return KEEL_STATUS_OK; }
keel_status keel_servo_set_max_frequency(keel_servo *s, int64_t a) {
    (void)s; (void)a; return KEEL_STATUS_OK; }
keel_status keel_servo_sample(keel_servo *s, int64_t o, uint64_t t, int64_t u,
                              keel_servo_output *out) {
    (void)s; (void)o; (void)t; (void)u; (void)out; return KEEL_STATUS_UNAVAILABLE; }
keel_status keel_servo_applied(keel_servo *s, bool a, int64_t b, int64_t c) {
    (void)s; (void)a; (void)b; (void)c; return KEEL_STATUS_OK; }
keel_status keel_servo_set_interval(keel_servo *s, int64_t a) {
    (void)s; (void)a; return KEEL_STATUS_OK; }
keel_status keel_servo_reset(keel_servo *s) { (void)s; return KEEL_STATUS_OK; }
keel_status keel_servo_get_frequency(const keel_servo *s, int64_t *f) {
    (void)s; (void)f; return KEEL_STATUS_UNAVAILABLE; }
keel_status keel_servo_leap(keel_servo *s, int32_t l) { (void)s; (void)l; return KEEL_STATUS_OK; }
EOF

CFLAGS=(-std=c99 -O2 -Wall -Wextra -Werror -ffunction-sections -fdata-sections -Itests/c)
LDFLAGS=(-Wl,--gc-sections -s)
build() { # name, prefix (or "" for the stub)
    local out=$work/$1
    if [ -z "$2" ]; then
        gcc "${CFLAGS[@]}" -Iinclude "$work/daemon.c" tests/c/pull.c "$work/stub.c" \
            "${LDFLAGS[@]}" -o "$out"
    else
        # shellcheck disable=SC2046 # pkg-config output is a list of flags
        PKG_CONFIG_PATH=$2/lib/pkgconfig gcc "${CFLAGS[@]}" \
            $(PKG_CONFIG_PATH=$2/lib/pkgconfig pkg-config --cflags keel-static) \
            "$work/daemon.c" tests/c/pull.c "${LDFLAGS[@]}" \
            $(PKG_CONFIG_PATH=$2/lib/pkgconfig pkg-config --libs keel-static) -o "$out"
        if ldd "$out" | grep -q libkeel; then
            echo "$1 loads libkeel.so: not a static link" >&2
            exit 1
        fi
        "$out" 0 100 200 300 400 500 >/dev/null
    fi
    stat -c %s "$out"
}
base=$(build stub "")
std=$(build keel-std "$work/std")
small=$(build keel-small "$work/small")
kib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1024 }'; }
echo "| stripped, --gc-sections, x86_64 | bytes | keel adds |"
echo "| --- | ---: | ---: |"
echo "| pull-style daemon, stub servo | $base | |"
echo "| + libkeel.a (default: std, KEEL_STATUS_PANIC) | $std | $(kib $((std - base))) KiB |"
echo "| + libkeel.a (SMALL=1: no std, abort on panic) | $small | $(kib $((small - base))) KiB |"
if [ $((small - base)) -gt $((limit_kib * 1024)) ]; then
    echo "SMALL=1 adds more than $limit_kib KiB" >&2
    exit 1
fi

#!/usr/bin/env bash
# The C-side checks of libkeel that `cargo test` cannot do by itself:
#
#  1. the link line in ffi/Makefile (keel.pc Libs.private) matches what rustc
#     says libkeel.a needs;
#  2. include/keel.h compiles alone as C99, C11 and C++11 with warnings as errors;
#  3. the C tests (tests/c/ctest.c) linked with gcc against libkeel.a run clean
#     under AddressSanitizer + UndefinedBehaviorSanitizer;
#  4. `make install PREFIX=...` gives a working pkg-config file and a shared
#     library with a versioned SONAME; keel-static.pc links the C tests
#     statically with libkeel.so installed beside libkeel.a; examples/c builds
#     from it with its plain Makefile (shared and static);
#  5. the C tests and the example daemon (simulated PHC, and a dry run on a real
#     /dev/ptp* when there is one) run clean under valgrind. Without a PHC
#     (CI has none) the dry run is logged as run elsewhere (tests/skip.sh):
#     the e2e lab's keel guest runs it on its softphc, PRECISE and EXTENDED.
#
# Never changes the machine's clock: the example runs only with -S (simulated
# clocks) or in its default dry-run mode, which never calls clock_adjtime.
#
# Usage: ffi/check-c.sh   (honours CARGO_TARGET_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=SCRIPTDIR/../tests/skip.sh
. tests/skip.sh

step() { printf '\n==> check-c: %s\n' "$*"; }
passed=0
ok() {
    passed=$((passed + 1))
    echo "ok: $*"
}

# Tools a fresh machine may lack: install them with apt when we can.
missing=()
for t in gcc g++ make pkg-config valgrind readelf; do
    command -v "$t" >/dev/null 2>&1 || missing+=("$t")
done
if ((${#missing[@]})); then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        step "installing ${missing[*]}"
        apt-get update -qq
        apt-get install -y -qq gcc g++ make pkg-config valgrind binutils >/dev/null
    else
        echo "check-c: missing tools: ${missing[*]}" >&2
        exit 1
    fi
fi

TARGET=${CARGO_TARGET_DIR:-$PWD/target}
export CARGO_TARGET_DIR=$TARGET
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
STRICT=(-Wall -Wextra -Wpedantic -Werror)

step "libkeel.a native libraries match ffi/Makefile"
libs=$(cargo rustc -q -p keel-ffi --lib --crate-type staticlib -- --print native-static-libs 2>&1 |
    sed -n 's/.*native-static-libs: //p' | tail -n1)
pinned=$(sed -n 's/^NATIVE_STATIC_LIBS := //p' ffi/Makefile)
if [ "$libs" != "$pinned" ]; then
    echo "rustc says libkeel.a needs '$libs' but ffi/Makefile pins '$pinned'" >&2
    exit 1
fi
ok "native-static-libs: $libs"
STATICLIB=$TARGET/debug/libkeel.a

step "include/keel.h alone: C99, C11, C++11 (warnings are errors)"
printf '#include "keel.h"\nint main(void) { return (int)sizeof(keel_servo) == KEEL_SERVO_STORAGE_SIZE ? 0 : 1; }\n' >"$work/h.c"
gcc -std=c99 "${STRICT[@]}" -Iinclude -c "$work/h.c" -o "$work/h99.o"
gcc -std=c11 "${STRICT[@]}" -Iinclude -c "$work/h.c" -o "$work/h11.o"
g++ -std=c++11 "${STRICT[@]}" -Iinclude -x c++ -c "$work/h.c" -o "$work/hpp.o"
ok "header compiles alone"

step "C tests under AddressSanitizer + UndefinedBehaviorSanitizer"
# shellcheck disable=SC2086 # $libs is a list of linker flags
gcc -std=c99 "${STRICT[@]}" -g -O1 -fno-omit-frame-pointer \
    -fsanitize=address,undefined -fno-sanitize-recover=all \
    -DKEEL_CTEST_MAIN -Iinclude tests/c/ctest.c "$STATICLIB" $libs -o "$work/ctest-asan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 "$work/ctest-asan"
ok "C tests clean under ASan+UBSan"

step "make install, pkg-config, SONAME"
prefix=$work/prefix
make -s -C ffi install PREFIX="$prefix" CARGO_TARGET_DIR="$TARGET"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)
[ "$(pkg-config --modversion keel)" = "$version" ]
pkg-config --cflags --libs keel
soname=$(readelf -d "$prefix/lib/libkeel.so" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
case "$version" in
0.*) want="libkeel.so.0.$(cut -d. -f2 <<<"$version")" ;;
*) want="libkeel.so.$(cut -d. -f1 <<<"$version")" ;;
esac
[ "$soname" = "$want" ] || {
    echo "SONAME is '$soname', want '$want'" >&2
    exit 1
}
[ -e "$prefix/lib/$soname" ]
ok "installed; keel.pc version $version; SONAME $soname"

step "C tests linked through pkg-config (shared) under valgrind"
# shellcheck disable=SC2046 # pkg-config output is a list of flags
gcc -std=c99 "${STRICT[@]}" -g -DKEEL_CTEST_MAIN tests/c/ctest.c \
    $(pkg-config --cflags --libs keel) -Wl,-rpath,"$prefix/lib" -o "$work/ctest-shared"
valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
    "$work/ctest-shared"
ok "C tests clean under valgrind"

step "C tests linked statically through keel-static.pc"
# shellcheck disable=SC2046 # pkg-config output is a list of flags
gcc -std=c99 "${STRICT[@]}" -DKEEL_CTEST_MAIN tests/c/ctest.c \
    $(pkg-config --cflags --libs keel-static) -o "$work/ctest-static"
if ldd "$work/ctest-static" | grep -q libkeel; then
    echo "keel-static.pc gave a program that loads libkeel.so" >&2
    exit 1
fi
"$work/ctest-static" >/dev/null
ok "static link through pkg-config keel-static, libkeel.so installed beside it"

step "examples/c: plain Makefile with pkg-config (shared and static)"
make -s -C examples/c clean all
valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
    examples/c/keel-phc2sys -S -q -u 600
valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
    examples/c/keel-phc2sys -S -q -u 600 -k pi
valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
    examples/c/keel-phc2sys -S -q -u 600 -k linreg
ok "keel-phc2sys (shared) converges on the simulated clock, clean under valgrind"
phc=$(find /dev -maxdepth 1 -name 'ptp[0-9]*' 2>/dev/null | sort | head -n1 || true)
if [ -n "$phc" ] && [ -r "$phc" ]; then
    # Dry run (the default): measures only, never adjusts the clock.
    valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
        examples/c/keel-phc2sys -d "$phc" -u 5 -i 200
    ok "keel-phc2sys dry run on $phc"
else
    keel_elsewhere "check-c: keel-phc2sys dry run on a real PHC" "no readable /dev/ptp* here" \
        "the e2e lab (tests/e2e/run.sh: keel's guest runs it on its softphc, PRECISE and EXTENDED reads; not under valgrind)"
fi
make -s -C examples/c clean all STATIC=1
examples/c/keel-phc2sys -S -q -u 600
make -s -C examples/c clean
ok "keel-phc2sys (static) converges on the simulated clock"

echo
echo "check-c: $passed passed, 0 failed"

# shellcheck shell=sh
# keel's one convention for tests that cannot run (issue 18 §5), for shell
# scripts: `. tests/skip.sh` from test.sh, ffi/check-c.sh, fuzz/smoke.sh and
# tests/e2e/run.sh. POSIX sh (run.sh is /bin/sh). The Rust tests follow the
# same rules through keel_tests::skip (tests/src/skip.rs).
#
#   keel_skip NAME REASON
#       NAME cannot run on this machine. Under CI=true (or CI=1) that is a
#       failure: prints why on stderr and returns 1 (the caller exits
#       non-zero: `keel_skip ... || exit 1`). Elsewhere prints a loud line on
#       stderr, appends "SKIP NAME: REASON" to $KEEL_SKIP_LOG when set
#       (./test.sh prints that file in its final summary) and returns 0.
#
#   keel_elsewhere NAME REASON PLACE
#       NAME needs what neither this machine nor CI's has (a real PHC), and
#       PLACE runs it in every CI run, where PLACE itself fails when it cannot
#       run. Never a failure; the same loud line and log entry
#       ("ELSEWHERE NAME: REASON; runs in PLACE").

keel_in_ci() {
    case ${CI:-} in
        true | 1) return 0 ;;
        *) return 1 ;;
    esac
}

keel_skip_record() {
    printf '*** %s\n' "$1" >&2
    if [ -n "${KEEL_SKIP_LOG:-}" ]; then
        printf '%s\n' "$1" >>"$KEEL_SKIP_LOG" ||
            printf '*** cannot append to KEEL_SKIP_LOG %s\n' "$KEEL_SKIP_LOG" >&2
    fi
    return 0
}

keel_skip() {
    if keel_in_ci; then
        printf 'FAIL %s cannot run: %s (CI=true: a test that cannot run is a failure)\n' "$1" "$2" >&2
        return 1
    fi
    keel_skip_record "SKIP $1: $2"
}

keel_elsewhere() {
    keel_skip_record "ELSEWHERE $1: $2; runs in $3"
}

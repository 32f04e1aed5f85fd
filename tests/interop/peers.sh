#!/usr/bin/env bash
# Fetches the interop peers (chrony, linuxptp) from Debian WITHOUT installing
# them: `apt-get download` + `dpkg-deb -x` into <target>/peers/root, so no
# daemon is started and nothing can steer this machine's clock.
#
#   tests/interop/peers.sh            # prints the extraction root on success
#
# KEEL_PEERS_DIR overrides the download folder (default: peers/ in cargo's
# target folder, $CARGO_TARGET_DIR or <repo>/target).
#
# Exit status 0 with the root path on stdout; non-zero with the reason on
# stderr when the packages cannot be fetched (no apt, no network, not Debian).
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
case "$target" in /*) ;; *) target="$repo/$target" ;; esac
dest="${KEEL_PEERS_DIR:-$target/peers}"
root="$dest/root"
mkdir -p "$dest"

have() { [ -x "$root/usr/sbin/chronyd" ] && [ -x "$root/usr/sbin/ptp4l" ]; }

if have; then
    echo "$root"
    exit 0
fi
for tool in apt-get dpkg-deb; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "peers.sh: $tool not found (needs a Debian-based machine)" >&2
        exit 2
    fi
done

# A lock guards against two test binaries fetching at once.
exec 9>"$dest/.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi
if have; then
    echo "$root"
    exit 0
fi

cd "$dest"
# `apt-get download` runs the download as the _apt user when it can; give it
# a directory it may write to.
chmod 0777 "$dest" 2>/dev/null || true
if ! apt-get download chrony linuxptp >"$dest/download.log" 2>&1; then
    # the package lists may be missing on a fresh machine
    apt-get update >>"$dest/download.log" 2>&1 || true
    if ! apt-get download chrony linuxptp >>"$dest/download.log" 2>&1; then
        echo "peers.sh: apt-get download chrony linuxptp failed (see $dest/download.log)" >&2
        exit 3
    fi
fi
for deb in "$dest"/chrony_*.deb "$dest"/linuxptp_*.deb; do
    dpkg-deb -x "$deb" "$root"
done
if ! have; then
    echo "peers.sh: chronyd or ptp4l missing after extraction" >&2
    exit 4
fi
echo "$root"

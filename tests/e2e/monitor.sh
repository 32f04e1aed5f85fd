#!/bin/sh
# keel monitoring lab (issue 16): the host's `keel monitor` measures a QEMU
# guest's clock over a virtio-serial port (a QEMU chardev socket) and over
# AF_VSOCK through vhost-user-vsock and rust-vmm's userspace
# vhost-device-vsock backend (installed from the Rust registry into the cache;
# neither needs a host kernel module), while the guest (guest/monitor-init) runs `keel sync
# --dry-run` as the responder and changes its own clock under the monitor's
# eyes: a known step of +123.456789 ms, keel stopped for 40 s, and the whole
# VM paused for 10 s by QMP. monitor_report.py judges the monitor's trace
# (keel monitor --csv) against the issue's goals and exits 1 on a miss.
# Shares the end-to-end lab's download cache ($E2E_DIR, run.sh); a machine
# that cannot run it (no network to the Debian archive, no QEMU) is a skip
# (tests/skip.sh): exit 1 under CI=true.
#
# Nothing here changes this machine's clock: the steps happen in the guest.
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
TGT=${CARGO_TARGET_DIR:-$REPO/target}
W=${E2E_DIR:-$TGT/e2e}
M=$W/monitor
# shellcheck source=SCRIPTDIR/../skip.sh
. "$REPO/tests/skip.sh"
skip() { keel_skip e2e-monitor "$*" || exit 1; exit 0; }
say() { echo "e2e-monitor: $*" >&2; }

[ "$(uname -s)/$(uname -m)" = Linux/x86_64 ] || skip "needs Linux on x86_64"
command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || skip "needs apt-get and dpkg-deb (a Debian-like host)"
need=""
command -v qemu-system-x86_64 >/dev/null || need="$need qemu-system-x86"
command -v gcc-12 >/dev/null || need="$need gcc-12"
command -v python3 >/dev/null || need="$need python3"
if [ -n "$need" ]; then
    [ "$(id -u)" = 0 ] || skip "missing:$need (apt-get install them)"
    say "installing$need"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $need >"$W.apt.log" 2>&1 \
        || skip "cannot install$need (see $W.apt.log)"
fi
mkdir -p "$W" "$M"
say "fetching the Debian 6.12 kernel and busybox into $W"
KVER=$("$HERE/fetch.sh" "$W" 2>"$W/fetch.log" | sed -n 's/^KVER=//p') || true
[ -n "$KVER" ] || { tail -n 5 "$W/fetch.log" >&2; skip "cannot fetch the guest kernel and packages from the Debian archive (see $W/fetch.log)"; }
R=$W/root
BB=$R/bin/busybox

say "building softphc.ko, keel (release) and stepclock"
mkdir -p "$M/softphc"
cp "$HERE/softphc/softphc.c" "$HERE/softphc/Kbuild" "$M/softphc/"
make -s -C "$R/usr/src/linux-headers-$KVER" M="$M/softphc" CC=gcc-12 modules >"$M/softphc.log" 2>&1 \
    || { cat "$M/softphc.log" >&2; echo "e2e-monitor: FAIL: softphc does not build" >&2; exit 1; }
(cd "$REPO" && cargo build -q --release -p keel-shim) || { echo "e2e-monitor: FAIL: keel does not build" >&2; exit 1; }
gcc -static -O2 -Wall -Wextra -Werror -o "$M/stepclock" "$HERE/guest/stepclock.c"
VHOST=$W/vhost/bin/vhost-device-vsock
if [ ! -x "$VHOST" ]; then
    say "installing vhost-device-vsock 0.3.0 from the Rust registry into $W/vhost (about a minute)"
    cargo install -q --locked vhost-device-vsock --version 0.3.0 --root "$W/vhost" >"$M/vhost-install.log" 2>&1 \
        || { tail -n 5 "$M/vhost-install.log" >&2; skip "cannot install vhost-device-vsock from the Rust registry (see $M/vhost-install.log)"; }
fi

IR=$M/initramfs
rm -rf "$IR"
mkdir -p "$IR/bin" "$IR/sbin" "$IR/etc/keel" "$IR/lib/modules" "$IR/proc" "$IR/sys" "$IR/dev" "$IR/tmp" "$IR/run"
cp "$BB" "$IR/bin/busybox"
cp "$HERE/guest/monitor-init" "$IR/init"
chmod 0755 "$IR/init"
cp "$M/stepclock" "$IR/bin/"
cp "$TGT/release/keel" "$IR/sbin/keel"
cp "$M/softphc/softphc.ko" "$IR/lib/modules/"
# The guest's vsock modules (=m in Debian), decompressed for busybox insmod.
for m in vsock vmw_vsock_virtio_transport_common vmw_vsock_virtio_transport; do
    xz -dc "$R/lib/modules/$KVER/kernel/net/vmw_vsock/$m.ko.xz" >"$IR/lib/modules/$m.ko"
done
for l in $(ldd "$TGT/release/keel" | sed -n 's/.*=> \(\/[^ ]*\) .*/\1/p; s/^[[:space:]]*\(\/[^ ]*\) .*/\1/p'); do
    mkdir -p "$IR$(dirname "$l")"
    cp -L "$l" "$IR$l"
done
cat >"$IR/etc/keel/keel.toml" <<'TOML'
source = "/dev/ptp0"
time_scale = "utc"
summary_updates = 0
state_file = ""
status_socket = ""
time_page = ""
host_monitor = ["serial", "vsock"]
TOML
(cd "$IR" && find . | "$BB" cpio -o -H newc 2>/dev/null | gzip -1) >"$M/initrd.gz"

ACCEL=${E2E_ACCEL:-tcg}
case $ACCEL in
    kvm) QACCEL="-accel kvm -cpu host" ;;
    *) QACCEL="-accel tcg -cpu max" ;;
esac
rm -f "$M/ktp.sock" "$M/qmp.sock" "$M/serial.log" "$M/events.log" "$M/polls.csv" "$M/vsock.uds" "$M/vhost.sock"
: >"$M/serial.log"
: >"$M/events.log"
LIMIT=360
START=$(date +%s)
RUST_LOG=${E2E_VHOST_LOG:-warn} "$VHOST" --vm guest-cid=4,uds-path="$M/vsock.uds",socket="$M/vhost.sock" >"$M/vhost.log" 2>&1 &
VPID=$!
n=0; while [ ! -S "$M/vhost.sock" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
[ -S "$M/vhost.sock" ] || { cat "$M/vhost.log" >&2; echo "e2e-monitor: FAIL: vhost-device-vsock did not start" >&2; exit 1; }
say "booting the guest ($ACCEL; about 5 minutes)"
# shellcheck disable=SC2086
timeout $LIMIT qemu-system-x86_64 $QACCEL -m 256 -smp 1 -nographic -no-reboot \
    -object memory-backend-memfd,id=mem0,size=256M,share=on -machine q35,memory-backend=mem0 \
    -chardev socket,id=vh,path="$M/vhost.sock" -device vhost-user-vsock-pci,chardev=vh \
    -kernel "$R/boot/vmlinuz-$KVER" -initrd "$M/initrd.gz" \
    -append "console=ttyS0 quiet loglevel=3 panic=-1" \
    -device virtio-serial-pci \
    -chardev socket,id=ktp,path="$M/ktp.sock",server=on,wait=off \
    -device virtserialport,chardev=ktp,name=org.keel.time.0 \
    -qmp unix:"$M/qmp.sock",server=on,wait=off \
    </dev/null >"$M/serial.log" 2>&1 &
QPID=$!
# Each console line with the host's CLOCK_REALTIME when it arrived.
tail -n +1 -F "$M/serial.log" 2>/dev/null | while IFS= read -r l; do
    printf '%s %s\n' "$(date +%s%N)" "$l"
done >>"$M/events.log" &
TPID=$!
# The monitor starts once the guest is up: vhost-device-vsock 0.3.0 wedges
# (and stops accepting) when a host connects before the guest's driver has
# set up the device's rings. keel monitor itself reconnects every poll.
n=0; while ! grep -q " M READY" "$M/events.log" && [ $n -lt 1200 ] && kill -0 $QPID 2>/dev/null; do sleep 0.1; n=$((n + 1)); done
"$TGT/release/keel" monitor --guest serial=unix:"$M/ktp.sock" --guest vsock=hybrid:"$M/vsock.uds":1123 --poll 4 --burst 8 \
    --csv "$M/polls.csv" --status-socket "" --duration ${LIMIT}s 2>"$M/monitor.log" &
MPID=$!
qmp() {
    python3 - "$M/qmp.sock" "$1" <<'PY'
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
f.readline()
for cmd in ("qmp_capabilities", sys.argv[2]):
    f.write(json.dumps({"execute": cmd}) + "\n"); f.flush()
    while True:
        r = json.loads(f.readline())
        if "return" in r or "error" in r:
            break
PY
}
# The whole VM paused for 10 s, 20 s after keel continued.
n=0; while ! grep -q " M CONT" "$M/events.log" && [ $n -lt 3000 ] && kill -0 $QPID 2>/dev/null; do sleep 0.1; n=$((n + 1)); done
if grep -q " M CONT" "$M/events.log"; then
    sleep 20
    echo "$(date +%s%N) H PAUSE" >>"$M/events.log"
    qmp stop
    sleep 10
    qmp cont
    echo "$(date +%s%N) H RESUME" >>"$M/events.log"
fi
wait $QPID || true
sleep 1
kill $MPID $TPID $VPID 2>/dev/null || true
wait $MPID 2>/dev/null || true
say "guest done after $(($(date +%s) - START)) s"
python3 "$HERE/monitor_report.py" "$M"

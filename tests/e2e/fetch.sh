#!/bin/sh
# Fetch a Debian 6.12 amd64 kernel, its headers and the guest userland by
# `apt-get download` and unpack them with `dpkg-deb -x` into $1.
# Nothing is installed: installing the headers would pull in the image and
# rewrite this machine's boot setup; installing chrony could start a daemon
# that steers this machine's clock.
# Prints KVER=<uname -r of the guest kernel> on success.
set -eu
W=$1
mkdir -p "$W/debs" "$W/root"
cd "$W/debs"
apt-get update -qq >/dev/null 2>&1 || true
# Whichever 6.12 ABI the archive has now: follow the meta-package.
HDR=$(apt-cache depends linux-headers-6.12-amd64 2>/dev/null \
      | sed -n 's/^ *Depends: \(linux-headers-6\.12\.[^ ]*-amd64\)$/\1/p' | head -n1)
if [ -z "$HDR" ]; then
    HDR=$(apt-cache pkgnames linux-headers-6.12. | grep -- '-amd64$' | grep -v -e cloud -e rt | sort -V | tail -n1)
fi
[ -n "$HDR" ] || { echo "fetch: no linux-headers-6.12.*-amd64 in the archive" >&2; exit 2; }
KVER=${HDR#linux-headers-}              # 6.12.N+deb12-amd64
ABI=${KVER%-amd64}                      # 6.12.N+deb12
IMG=linux-image-$KVER-unsigned
apt-cache show "$IMG" >/dev/null 2>&1 || IMG=linux-image-$KVER
PKGS="$IMG $HDR linux-headers-$ABI-common linux-kbuild-$ABI busybox-static linuxptp chrony"
for p in $PKGS; do
    ls "${p}"_*.deb >/dev/null 2>&1 || apt-get download -q "$p" >/dev/null || {
        echo "fetch: apt-get download $p failed" >&2; exit 2; }
done
for d in *.deb; do
    [ -e "$W/root/.$d.done" ] || { dpkg-deb -x "$d" "$W/root" && touch "$W/root/.$d.done"; }
done
# The headers Makefile includes the -common tree by its absolute path.
MK=$W/root/usr/src/linux-headers-$KVER/Makefile
sed -i "s#include /usr/src/linux-headers-$ABI-common/#include $W/root/usr/src/linux-headers-$ABI-common/#" "$MK"
grep -q "$W/root/usr/src/linux-headers-$ABI-common" "$MK" || { echo "fetch: cannot rewrite $MK" >&2; exit 2; }
echo "KVER=$KVER"

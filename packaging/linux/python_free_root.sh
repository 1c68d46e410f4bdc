#!/usr/bin/env bash
# Run a command of the bundle inside a throw-away root file system that has no Python at all.
#   unshare -m --propagation private packaging/linux/python_free_root.sh BUNDLE_DIR WORK_DIR -- ARGS...
# Must run as root in a private mount namespace (unshare -m), so the mounts vanish with it.
# The root holds only: the bundle (at /opt/FundusStudio), the system's shared libraries
# (/usr/lib/x86_64-linux-gnu, read only, with every libpython* masked), fonts, /proc, /sys,
# /dev and an empty /tmp. No /usr/bin, no /usr/lib/python3*, no venv, no shell: the kernel
# starts the bundle's own executable directly, as a desktop launcher would.
set -euo pipefail
bundle=$1; work=$2; shift 2; [ "${1:-}" = "--" ] && shift
root="$work/root"
multiarch=usr/lib/x86_64-linux-gnu
mkdir -p "$root"/{opt/FundusStudio,"$multiarch",usr/lib64,usr/share/fonts,etc/fonts,proc,sys,dev,tmp/home}
ln -sfn usr/lib "$root/lib"
ln -sfn usr/lib64 "$root/lib64"
ln -sfn "/$multiarch/ld-linux-x86-64.so.2" "$root/usr/lib64/ld-linux-x86-64.so.2"

bind_ro() { mount --bind "$1" "$2" && mount -o remount,bind,ro "$2"; }
bind_ro "$bundle" "$root/opt/FundusStudio"
bind_ro "/$multiarch" "$root/$multiarch"
[ -d /usr/share/fonts ] && bind_ro /usr/share/fonts "$root/usr/share/fonts"
[ -d /etc/fonts ] && bind_ro /etc/fonts "$root/etc/fonts"
[ -f /etc/ld.so.cache ] && touch "$root/etc/ld.so.cache" && bind_ro /etc/ld.so.cache "$root/etc/ld.so.cache"
# mask every system libpython, so only the bundle's own interpreter can be used
for lib in "/$multiarch"/libpython*; do
  [ -f "$lib" ] && [ ! -L "$lib" ] && mount --bind /dev/null "$root$lib"
done
mount -t proc proc "$root/proc"
bind_ro /sys "$root/sys"
mount --rbind /dev "$root/dev"
mount -t tmpfs -o size=2g tmpfs "$root/tmp"
mkdir -p "$root/tmp/home"

# Prove the point before running: nothing called python exists in the new root.
found=$(find "$root" -xdev \( -name 'python3' -o -name 'python3.[0-9]' -o -name 'python3.[0-9][0-9]' \
          -o -name 'libpython*.so*' -o -name '.venv' -o -name 'site-packages' \) \
          -not -path "$root/opt/*" -not -path "$root/proc/*" -not -path "$root/sys/*" 2>/dev/null \
        | while read -r f; do { [ -d "$f" ] || [ -s "$f" ]; } && echo "$f"; done || true)
if [ -n "$found" ]; then echo "python_free_root: python found in the root: $found" >&2; exit 3; fi

chroot_bin=$(command -v chroot)
exec env -i HOME=/tmp/home PATH=/nonexistent LANG=C.UTF-8 QT_QPA_PLATFORM=offscreen \
  FUNDUS_STUDIO_HOME=/tmp/home/fundus-studio \
  "$chroot_bin" "$root" /opt/FundusStudio/FundusStudio "$@"

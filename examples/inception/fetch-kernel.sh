#!/bin/bash
# fetch-kernel.sh CACHE_DIR: Debian's kernel for the guest, cached.
#
# Finds the exact package that linux-image-amd64 depends on (apt-cache
# depends), downloads that one package with `apt-get download` (never
# installs it) and unpacks it with `dpkg -x`. Keeps only what the guest needs:
#   CACHE_DIR/<package>/vmlinuz
#   CACHE_DIR/<package>/overlay.ko   (containerd's overlayfs snapshotter)
#   CACHE_DIR/<package>/modules/*.ko (decompressed; what the vm runtime's
#     guests load at boot: virtio (pci for q35, mmio for microvm), the
#     virtio console and net, 9p, the ACPI button; modules/order lists them
#     dependencies first, read from each module's own .modinfo)
# and prints CACHE_DIR/<package> on stdout. A second run reuses the cache.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 CACHE_DIR" >&2
    exit 2
fi
mkdir -p "$1"
CACHE=$(cd "$1" && pwd)

pkg_name() {
    apt-cache depends linux-image-amd64 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}
PKG=$(pkg_name)
if [ -z "$PKG" ]; then
    # A fresh machine may have no package lists yet.
    echo "fetch-kernel: no package lists; running apt-get update" >&2
    apt-get update -qq >&2
    PKG=$(pkg_name)
fi
if [ -z "$PKG" ]; then
    echo "fetch-kernel: apt-cache depends linux-image-amd64 names no kernel package" >&2
    exit 1
fi
OUT="$CACHE/$PKG"
# format 2: dependencies read without kmod (format 1 lost them all when
# modinfo was missing, and every module then failed with ENOENT)
FORMAT=2
if [ -s "$OUT/vmlinuz" ] && [ -s "$OUT/overlay.ko" ] && [ -s "$OUT/modules/order" ] &&
    [ "$(cat "$OUT/format" 2>/dev/null)" = "$FORMAT" ]; then
    echo "$OUT"
    exit 0
fi

WORK=$(mktemp -d "$CACHE/.fetch.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
echo "fetch-kernel: apt-get download $PKG" >&2
# As root apt drops privileges to _apt for downloads, which cannot write
# into a root-owned build dir: download as root here.
(cd "$WORK" && apt-get download -o APT::Sandbox::User=root "$PKG" >&2)
DEB=$(ls "$WORK"/*.deb)
dpkg -x "$DEB" "$WORK/x"
mkdir -p "$WORK/out"
cp "$WORK"/x/boot/vmlinuz-* "$WORK/out/vmlinuz"
ko=$(find "$WORK/x/lib/modules" -name 'overlay.ko*' | head -n1)
case $ko in
*.ko) cp "$ko" "$WORK/out/overlay.ko" ;;
*.ko.xz) xz -dc "$ko" >"$WORK/out/overlay.ko" ;;
*.ko.zst) zstd -qdc "$ko" >"$WORK/out/overlay.ko" ;;
*) echo "fetch-kernel: no overlay module in $PKG" >&2; exit 1 ;;
esac
# The vm runtime's guest modules, dependencies first (modules.dep of the
# package says which each needs; these are the ones Debian builds as =m).
unxz_ko() { # SRC DEST
    case $1 in
    *.ko) cp "$1" "$2" ;;
    *.ko.xz) xz -dc "$1" >"$2" ;;
    *.ko.zst) zstd -qdc "$1" >"$2" ;;
    esac
}
mkdir -p "$WORK/out/modules"
: >"$WORK/out/modules/order"
# The package has no modules.dep (depmod makes it at install): each
# module's own "depends=" string in its .modinfo section says what it needs.
# Read it from the decompressed file with tr/grep (kmod's modinfo is often
# not installed; without it every dependency was silently dropped).
add_mod() { # NAME: its dependencies, then itself, once
    local f d deps
    grep -qx "$1.ko" "$WORK/out/modules/order" && return 0
    f=$(find "$WORK/x/lib/modules" -regex ".*/$1\.ko\(\.xz\|\.zst\)?" | head -n1)
    [ -n "$f" ] || return 0 # built in
    unxz_ko "$f" "$WORK/out/modules/$1.ko"
    deps=$(tr '\0' '\n' <"$WORK/out/modules/$1.ko" | grep -a '^depends=' || true)
    [ -n "$deps" ] || { echo "fetch-kernel: $f has no depends= field" >&2; exit 1; }
    for d in $(echo "${deps#depends=}" | tr ',' ' '); do
        add_mod "$d"
    done
    echo "$1.ko" >>"$WORK/out/modules/order"
}
for m in virtio_pci virtio_mmio virtio_console virtio_net 9pnet_virtio 9p button overlay; do
    add_mod "$m"
done
grep -qx virtio_mmio.ko "$WORK/out/modules/order" || {
    echo "fetch-kernel: no virtio_mmio module in $PKG" >&2; exit 1; }
echo "$PKG" >"$WORK/out/package"
echo "$FORMAT" >"$WORK/out/format"
rm -rf "$OUT"
mv "$WORK/out" "$OUT"
echo "$OUT"

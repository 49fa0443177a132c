#!/bin/bash
# build-initramfs.sh OUT.cpio.gz ORCHD KERNEL_DIR [MODULE]
#
# The guest's whole root filesystem as an initramfs (cpio newc, gzip), with
# orchd as /init:
#   /init -> /usr/bin/orchd            process 1 (orchd init, docs/PID1.md)
#   /usr/bin/orchd-containerd.so       the containerd runtime module (MODULE)
#   /bin/busybox and its applet links  the shell and tools services use
#   containerd, containerd-shim-runc-v2, runc, ctr
#   every shared library of the above  copied as ldd lists them
#   /etc/orchd/Orchfile                Orchfile (+ Orchfile.containers with MODULE)
#   /etc/orchd/Broken                  for the bad-input boot
#   /etc/containerd/config.toml, /lib/modules/overlay.ko (from KERNEL_DIR)
#   /images/orchd-test.tar             scripts/build-test-image.sh (with MODULE)
#   /dev/console, /dev/null            so the kernel can give /init a console
# Needs busybox-static, containerd, runc, cpio; root for the device nodes.
set -euo pipefail

if [ $# -lt 3 ] || [ $# -gt 4 ]; then
    echo "usage: $0 OUT.cpio.gz ORCHD KERNEL_DIR [MODULE]" >&2
    exit 2
fi
OUT=$1
ORCHD=$2
KDIR=$3
MODULE=${4:-}
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)

for b in cpio gzip ldd; do
    command -v $b >/dev/null || { echo "$0: $b is not installed" >&2; exit 1; }
done
BUSYBOX=${BUSYBOX:-/bin/busybox}
if ! "$BUSYBOX" --list-full >/dev/null 2>&1 || ldd "$BUSYBOX" >/dev/null 2>&1; then
    echo "$0: $BUSYBOX is not a static busybox (apt-get install busybox-static)" >&2
    exit 1
fi

ROOT=$(mktemp -d "${TMPDIR:-/tmp}/orchd-initramfs.XXXXXX")
trap 'rm -rf "$ROOT"' EXIT

. "$HERE/rootfs-lib.sh"

mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc,proc,sys,dev,run,tmp,root}
mkdir -p "$ROOT"/{var/lib/containerd,var/lib/inception,var/log,lib/modules,images}
chmod 1777 "$ROOT/tmp"

put_with_libs "$ORCHD" /usr/bin/orchd
ln -s usr/bin/orchd "$ROOT/init"
if [ -n "$MODULE" ]; then
    put_with_libs "$MODULE" /usr/bin/orchd-containerd.so
fi

put_busybox
put_containerd

put "$KDIR/overlay.ko" /lib/modules/overlay.ko 0644
put "$HERE/containerd.toml" /etc/containerd/config.toml 0644
put "$HERE/inception-cgroup" /usr/local/bin/inception-cgroup
put "$HERE/Broken" /etc/orchd/Broken 0644
{
    cat "$HERE/Orchfile"
    if [ -n "$MODULE" ]; then
        echo
        grep -v '^ORCH_VERSION' "$HERE/Orchfile.containers"
    fi
} >"$ROOT/etc/orchd/Orchfile"
if [ -n "$MODULE" ]; then
    if ! out=$("$SRC/scripts/build-test-image.sh" "$ROOT/images/orchd-test.tar" 2>&1); then
        echo "$out" >&2
        exit 1
    fi
fi

cat >"$ROOT/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$ROOT/etc/group" <<'EOF'
root:x:0:
tty:x:5:
nogroup:x:65534:
EOF
echo inception >"$ROOT/etc/hostname"
printf '127.0.0.1\tlocalhost inception\n::1\tlocalhost\n' >"$ROOT/etc/hosts"
: >"$ROOT/etc/resolv.conf"

# Without /dev/console the kernel starts /init with no fds 0-2 (orchd init
# would then mount devtmpfs and open it itself).
mknod -m 600 "$ROOT/dev/console" c 5 1 2>/dev/null || true
mknod -m 666 "$ROOT/dev/null" c 1 3 2>/dev/null || true

(cd "$ROOT" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
    gzip -1 >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"

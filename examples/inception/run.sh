#!/bin/bash
# run.sh [ORCHD [KERNEL_CMDLINE_EXTRA...]]: boots the inception VM by hand,
# with its serial console on this terminal (ctrl-a x quits qemu).
#
#   examples/inception/run.sh build/orchd
#   examples/inception/run.sh build/orchd orchd.orchfile=/etc/orchd/Broken
#
# Uses the kernel cache of the test (build/inception/cache) and puts the
# containerd runtime module in the initramfs when it is built next to ORCHD.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ORCHD=$(realpath "${1:-$HERE/../../build/orchd}")
shift || true
BUILD=$(dirname "$ORCHD")
KDIR=$("$HERE/fetch-kernel.sh" "$BUILD/inception/cache")
MODULE=""
[ -f "$BUILD/orchd-containerd.so" ] && MODULE="$BUILD/orchd-containerd.so"
"$HERE/build-initramfs.sh" "$BUILD/inception/initrd.gz" "$ORCHD" "$KDIR" $MODULE
exec qemu-system-x86_64 -accel tcg -m 1024 -smp 2 -nographic -no-reboot -nic none \
    -kernel "$KDIR/vmlinuz" -initrd "$BUILD/inception/initrd.gz" \
    -append "console=ttyS0 panic=-1 quiet orchd.orchfile=/etc/orchd/Orchfile $*"

# Shared by build-initramfs.sh and build-guest-image.sh (sourced): copying
# host binaries into a root directory $ROOT with their shared libraries.

# put FILE DEST [MODE]: a copy of FILE (symlinks followed) at DEST in the root.
put() {
    install -D -m "${3:-0755}" "$1" "$ROOT$2"
}

# put_with_libs FILE DEST: FILE and every shared library ldd lists for it, at
# the paths the dynamic loader will look for them.
put_with_libs() {
    put "$1" "$2"
    local lib
    for lib in $(ldd "$1" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $3 }
                                              $1 ~ /^\// { print $1 }'); do
        [ -e "$ROOT$lib" ] || put "$lib" "$lib"
    done
}

which_or_die() {
    command -v "$1" 2>/dev/null || { echo "$0: $1 is not installed" >&2; exit 1; }
}

# put_busybox: a static busybox at /bin/busybox and a symlink per applet.
put_busybox() {
    local applet
    put "$BUSYBOX" /bin/busybox
    for applet in $("$BUSYBOX" --list-full); do
        [ -e "$ROOT/$applet" ] || [ -L "$ROOT/$applet" ] || ln -s /bin/busybox "$ROOT/$applet"
    done
}

# put_containerd: containerd, its shim, ctr and runc with their libraries.
put_containerd() {
    local b
    for b in containerd containerd-shim-runc-v2 ctr; do
        put_with_libs "$(which_or_die $b)" /usr/bin/$b
    done
    put_with_libs "$(which_or_die runc)" /usr/sbin/runc
}

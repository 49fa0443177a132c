#!/bin/sh
# Installs everything orchd needs to build and test, on Debian 12, as root.
# Safe to run again: apt-get skips what is already there.
set -eu

BUILD="build-essential cmake pkg-config libuv1-dev libyaml-dev libyajl-dev
       libprotobuf-c-dev protobuf-c-compiler libprotobuf-dev libgrpc-dev
       libcurl4-openssl-dev libarchive-dev"
# libcurl4-openssl-dev: only curl's headers are used at build time (libcurl
# is dlopen()ed: src/common/curl_dl.h); it brings libcurl4, which registry
# pulls and https health checks load at run time.
# libarchive-dev: the vm runtime reads image layers (tar, gzip, zstd) and
# writes the guest's cpio initramfs with it instead of a tar/cpio reader of
# our own; only its read/write API is used, files are created by our code.
# kmod: not needed by fetch-kernel.sh (it reads each module's depends= itself).
# clang and its runtime for the libFuzzer targets and LeakSanitizer.
FUZZ="clang libclang-rt-14-dev"
# Real parts the tests drive: a private containerd + runc, busybox for the
# test image, iproute2 and procps for inspection, python3 for small servers,
# qemu and cpio for the VM test (examples/inception).
TEST="containerd runc busybox-static procps iproute2 util-linux python3 curl
      golang-github-containerd-containerd-dev
      qemu-system-x86 cpio kmod
      docker-registry skopeo apache2-utils
      docker-compose docker.io
      mandoc lintian openssl"
# mandoc and lintian check the man pages and the .deb (tests/package);
# openssl makes the throwaway certificate of the https health-check test.
# orchd export's tests: the Kubernetes schema check runs on Node.js (npm
# packages installed by the test into the build tree); the machine image
# usually has a newer node, so Debian's is only the fallback.
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || TEST="$TEST nodejs npm"

if [ "$(id -u)" != 0 ]; then
    echo "scripts/install-deps.sh: run as root (it uses apt-get)" >&2
    exit 1
fi
missing=""
for p in $BUILD $FUZZ $TEST; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" ||
        missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing
fi

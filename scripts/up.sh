#!/bin/sh
# Brings orchd up on examples/demo: installs dependencies, builds orchd and
# the test image, and grows the demo Orchfile. Run from anywhere, as root.
set -eu
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)"
mkdir -p examples/demo/build
[ -f examples/demo/build/orchd-test.tar ] ||
    scripts/build-test-image.sh examples/demo/build/orchd-test.tar
build/orchd grow --orchfile examples/demo/Orchfile
build/orchd survey --orchfile examples/demo/Orchfile
echo
echo "orchd is up. Stop everything with: build/orchd fell --orchfile examples/demo/Orchfile"

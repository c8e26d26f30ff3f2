#!/usr/bin/env bash
# First command of the README: on a fresh Debian 12 machine, install what is
# needed, build, and run the example product end to end on the mock provider.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"

echo
echo "== The example product, licensed by the mock provider (config: examples/example.conf)"
TESSERA_PLUGIN_DIR="$PWD/build/plugins" build/examples/tessera-example-product examples/example.conf

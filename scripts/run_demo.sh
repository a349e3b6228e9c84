#!/usr/bin/env bash
# Sets up, builds and runs the main demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
[ -f build/build.ninja ] || meson setup build
meson compile -C build demo
./build/demo

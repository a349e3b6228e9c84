#!/usr/bin/env bash
# Sets up, builds and runs the demo: descent-train with no arguments (trains
# an MLP on two spirals, checkpoints, resumes, compares optimizers; writes
# its checkpoint and SVG charts to descent-train-demo/).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
[ -f build/build.ninja ] || meson setup build
meson compile -C build descent-train
./build/examples/train/descent-train

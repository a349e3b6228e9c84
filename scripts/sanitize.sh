#!/usr/bin/env bash
# Builds descent with AddressSanitizer + UndefinedBehaviorSanitizer and runs
# every test suite under them. Any sanitizer report fails the run.
#
#   scripts/sanitize.sh [build-dir [suite...]]   (default: build-asan, every suite)
#
# With suites named (e.g. test_checkpoint test_optim), only the library and
# those suites are built and run: CI's subset (scripts/run_tests.sh --ci).
#
# The CUDA backend is left out (-Dcuda=disabled): its device code never runs
# on the CPU and nvcc does not take the sanitizer flags. The Thrust kernels
# are still built for Thrust's host system (when Thrust headers exist) and
# tested under the sanitizers. The `consumer` test is skipped: it builds and
# runs an unsanitized program against the sanitized library, which the ASan
# runtime refuses; it checks packaging, not memory safety.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build-asan}
shift $(( $# > 0 ? 1 : 0 ))
suites=("$@")
# -O1: the sanitizers' usual level; -O3 makes the kernel templates take hours to build.
if [ ! -f "$dir/build.ninja" ]; then
  meson setup "$dir" -Db_sanitize=address,undefined -Db_lundef=false -Dbenchmarks=false -Dcuda=disabled \
    -Doptimization=1
fi
if [ ${#suites[@]} -gt 0 ]; then
  meson compile -C "$dir" -j "${JOBS:-2}" descent "${suites[@]/#/tests/}"
  tests=("${suites[@]}")
else
  meson compile -C "$dir" -j "${JOBS:-2}"
  mapfile -t tests < <(meson test -C "$dir" --no-rebuild --list 2>/dev/null | grep -E '^[A-Za-z0-9_]+$' | grep -vx consumer)
fi
# Options from the environment are kept, but the ones that make every report
# fail the run come last and so win: leaks are errors, and halt_on_error turns
# UBSan's recoverable reports (it only prints them by default) into failures.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}strict_string_checks=1:check_initialization_order=1:detect_leaks=1:halt_on_error=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:halt_on_error=1"
meson test -C "$dir" --no-rebuild --print-errorlogs --num-processes "${JOBS:-2}" "${tests[@]}"

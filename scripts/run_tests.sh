#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite; ends with "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
[ -f build/build.ninja ] || meson setup build
meson compile -C build
status=0
meson test -C build --print-errorlogs --num-processes 2 || status=$?
log=build/meson-logs/testlog.txt
ok=$(grep -E '^Ok:' "$log" | awk '{print $2}')
fail=$(grep -E '^Fail:' "$log" | awk '{print $2}')
timeout=$(grep -E '^Timeout:' "$log" | awk '{print $2}')
skipped=$(grep -E '^Skipped:' "$log" | awk '{print $2}')
echo "${ok:-0} passed, $(( ${fail:-0} + ${timeout:-0} )) failed, ${skipped:-0} skipped"
exit $status

#!/usr/bin/env bash
# Sets up, builds and runs the whole test suite; ends with "N passed, N failed".
#
#   scripts/run_tests.sh          the whole suite (the README's command)
#   scripts/run_tests.sh --ci     the whole suite, then (what .ci/run runs):
#     * the optimizer and checkpoint suites again under AddressSanitizer +
#       UBSan, leak checking on (scripts/sanitize.sh, build-asan/), and
#     * a 60 s smoke run of the checkpoint fuzzers (30 s each) from the committed corpora
#       (tests/fuzz/run_fuzzer.sh --smoke, build-fuzz/).
#     A sanitized suite counts as one test, the fuzz smoke as one more; any
#     sanitizer report or fuzzer finding fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
ci=0
if [ "${1:-}" = --ci ]; then
  ci=1
fi
bash scripts/setup.sh

passed=0 failed=0 skipped=0 status=0 timings=()
# Adds the counts of a meson test log; a step that failed before its tests
# ran (a build error) leaves no log and counts as one failure.
count() {
  local log=$1 ok fail timeout skip
  if [ ! -f "$log" ]; then
    failed=$((failed + 1))
    return
  fi
  ok=$(grep -E '^Ok:' "$log" | awk '{print $2}')
  fail=$(grep -E '^Fail:' "$log" | awk '{print $2}')
  timeout=$(grep -E '^Timeout:' "$log" | awk '{print $2}')
  skip=$(grep -E '^Skipped:' "$log" | awk '{print $2}')
  passed=$((passed + ${ok:-0}))
  failed=$((failed + ${fail:-0} + ${timeout:-0}))
  skipped=$((skipped + ${skip:-0}))
}
elapsed() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

start=$SECONDS
[ -f build/build.ninja ] || meson setup build
rm -f build/meson-logs/testlog.txt
if meson compile -C build; then
  meson test -C build --print-errorlogs --num-processes 2 || status=$?
fi
count build/meson-logs/testlog.txt
[ -f build/meson-logs/testlog.txt ] || status=1
timings+=("test suite: $(elapsed $((SECONDS - start)))")

if [ "$ci" = 1 ]; then
  # Every optimizer suite and the checkpoint suites: the code that reads
  # untrusted state dicts and files, and the kernels that run on what they hold.
  mapfile -t sanitized < <(cd tests && ls test_optim*.cpp test_checkpoint.cpp test_pytorch_format*.cpp | sed 's/\.cpp$//')
  start=$SECONDS
  rm -f build-asan/meson-logs/testlog.txt
  bash scripts/sanitize.sh build-asan "${sanitized[@]}" || status=1
  count build-asan/meson-logs/testlog.txt
  timings+=("sanitizers (${#sanitized[@]} suites): $(elapsed $((SECONDS - start)))")

  start=$SECONDS
  if bash tests/fuzz/run_fuzzer.sh --smoke 60 build-fuzz; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    status=1
  fi
  timings+=("fuzz smoke: $(elapsed $((SECONDS - start)))")
fi

printf '%s\n' "${timings[@]}"
echo "$passed passed, $failed failed, $skipped skipped"
exit $status

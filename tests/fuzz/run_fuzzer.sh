#!/usr/bin/env bash
# Builds the checkpoint fuzzers (libFuzzer + AddressSanitizer + UBSan; needs
# clang) and runs them, each for half of the given seconds: fuzz_checkpoint
# (descent's format) from the seeds and the committed corpus tests/fuzz/corpus/,
# which tests/test_checkpoint.cpp replays, then fuzz_pytorch (torch.save
# files) from tests/fuzz/corpus_pytorch/ (the PyTorch-written fixtures and
# their data.pkl), which tests/test_pytorch_format_errors.cpp replays.
#
#   tests/fuzz/run_fuzzer.sh [--smoke] [seconds (default 300)] [build dir (default build-fuzz)]
#
# Without --smoke, the inputs that add coverage are then merged into the
# committed corpus (commit them). With --smoke (CI), the corpus is left as it
# is; the run fails on any finding, which is kept as crash-<hash> (or
# leak-/timeout-/oom-) in <build dir>/fuzz-work/, to reproduce with
# <build dir>/fuzz_checkpoint (or fuzz_pytorch) <that file>.
#
# Needs clang and its runtime libraries (Debian: clang libclang-rt-14-dev;
# scripts/setup.sh installs them).
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
smoke=0
if [ "${1:-}" = --smoke ]; then
  smoke=1
  shift
fi
seconds=${1:-300}
half=$(( (seconds + 1) / 2 ))
build=$(realpath -m "${2:-$root/build-fuzz}")
sanitizers=address,undefined
flags=(-std=c++20 -O1 -g -fno-omit-frame-pointer -fno-sanitize-recover=undefined
       -I"$root/include" -I"$root" -I"$root/tests")

# The whole library is built by clang with the sanitizers and coverage
# instrumentation, so that the optimizer code the target reaches (state dict
# loading, the fused and forloop kernels) is checked and guides the fuzzer too.
if [ ! -f "$build/build.ninja" ]; then
  CXX=clang++ meson setup "$build" "$root" -Dtests=false -Dbenchmarks=false -Dcuda=disabled \
    -Doptimization=1 -Db_sanitize="$sanitizers" -Db_lundef=false \
    -Dcpp_args="-fsanitize=fuzzer-no-link -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
fi
meson compile -C "$build" -j "${JOBS:-2}" descent
link=(-L"$build" -ldescent -Wl,-rpath,"$build")
clang++ "${flags[@]}" -fsanitize=fuzzer,$sanitizers "$root/tests/fuzz/fuzz_checkpoint.cpp" "${link[@]}" \
  -o "$build/fuzz_checkpoint"
clang++ "${flags[@]}" -fsanitize=fuzzer,$sanitizers "$root/tests/fuzz/fuzz_pytorch.cpp" "${link[@]}" \
  -o "$build/fuzz_pytorch"
clang++ "${flags[@]}" -fsanitize=$sanitizers "$root/tests/fuzz/make_seeds.cpp" "${link[@]}" \
  -o "$build/make_checkpoint_seeds"

work=$build/fuzz-work
corpus=$root/tests/fuzz/corpus
pt_corpus=$root/tests/fuzz/corpus_pytorch
rm -rf "$work/seeds"
mkdir -p "$work/found" "$work/found-pytorch" "$corpus" "$pt_corpus"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
"$build/make_checkpoint_seeds" "$work/seeds"
# New inputs go to found/ (the first directory), never into the committed
# corpus. -max_len keeps inputs (and so the committed corpus) small;
# -rss_limit_mb turns a runaway allocation into a reported bug.
"$build/fuzz_checkpoint" -max_total_time="$half" -max_len=2048 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$work/" -print_final_stats=1 "$work/found" "$work/seeds" "$corpus"
# torch.save files are larger than descent's own: the fixtures run to 7 KiB.
"$build/fuzz_pytorch" -max_total_time="$half" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$work/" -print_final_stats=1 "$work/found-pytorch" "$pt_corpus"
if [ "$smoke" = 0 ]; then
  "$build/fuzz_checkpoint" -merge=1 -max_len=2048 "$corpus" "$work/seeds" "$work/found"
  "$build/fuzz_pytorch" -merge=1 -max_len=8192 "$pt_corpus" "$work/found-pytorch"
  echo "corpus: $(ls "$corpus" | wc -l) files, $(du -sk "$corpus" | cut -f1) KiB"
  echo "corpus_pytorch: $(ls "$pt_corpus" | wc -l) files, $(du -sk "$pt_corpus" | cut -f1) KiB"
fi

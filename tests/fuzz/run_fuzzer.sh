#!/usr/bin/env bash
# Builds the checkpoint-reader fuzzer (libFuzzer + AddressSanitizer + UBSan;
# needs clang) and runs it, then merges the inputs that add coverage into the
# committed corpus tests/fuzz/corpus/, which tests/test_checkpoint.cpp replays.
#
#   tests/fuzz/run_fuzzer.sh [seconds (default 300)] [build dir (default build-fuzz)]
#
# Needs clang and its runtime libraries (Debian: apt-get install clang
# libclang-rt-14-dev). A crash leaves crash-<hash> in the current directory;
# reproduce it with: build-fuzz/fuzz_checkpoint crash-<hash>
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
seconds=${1:-300}
build=${2:-$root/build-fuzz}
flags=(-std=c++20 -O1 -g -fno-omit-frame-pointer -fno-sanitize-recover=undefined
       -I"$root/include" -I"$root" -I"$root/tests")

if [ ! -f "$build/build.ninja" ]; then
  meson setup "$build" "$root" -Dtests=false -Dbenchmarks=false -Dcuda=disabled
fi
meson compile -C "$build" descent
# Only the checkpoint code is compiled by clang, with coverage instrumentation
# and sanitizers; its definitions override the library's copies, and the rest
# of libdescent (any compiler) runs uninstrumented.
checkpoint_sources=("$root"/optim/checkpoint*.cpp)
clang++ "${flags[@]}" -fsanitize=fuzzer,address,undefined "$root/tests/fuzz/fuzz_checkpoint.cpp" \
  "${checkpoint_sources[@]}" -L"$build" -ldescent -Wl,-rpath,"$build" -o "$build/fuzz_checkpoint"
clang++ "${flags[@]}" "$root/tests/fuzz/make_seeds.cpp" -L"$build" -ldescent -Wl,-rpath,"$build" \
  -o "$build/make_checkpoint_seeds"

work=$build/fuzz-work
corpus=$root/tests/fuzz/corpus
mkdir -p "$work/found" "$corpus"
"$build/make_checkpoint_seeds" "$work/seeds"
# -max_len keeps inputs (and so the committed corpus) small; -rss_limit_mb turns
# a runaway allocation into a reported bug.
"$build/fuzz_checkpoint" -max_total_time="$seconds" -max_len=2048 -timeout=10 -rss_limit_mb=1024 \
  -print_final_stats=1 "$work/found" "$work/seeds" "$corpus"
"$build/fuzz_checkpoint" -merge=1 -max_len=2048 "$corpus" "$work/seeds" "$work/found"
echo "corpus: $(ls "$corpus" | wc -l) files, $(du -sk "$corpus" | cut -f1) KiB"

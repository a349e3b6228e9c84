#!/usr/bin/env bash
# Installs, only when missing, the Debian packages descent needs to build and
# test. Safe to run repeatedly; needs root (or sudo) only when something is missing.
#   meson, ninja-build, pkg-config, g++   the build
#   libeigen3-dev                          the CPU backend (vectorised kernels, matmul)
#   doctest-dev                            the test suites
#   libthrust-dev                          Thrust for the CUDA backend's host-system build,
#                                          so its kernels are tested on machines without CUDA
#   clang, libclang-rt-14-dev              the checkpoint fuzzer (tests/fuzz/run_fuzzer.sh):
#                                          libFuzzer and clang's sanitizer runtimes are in
#                                          libclang-rt-14-dev, which clang-14 does not pull in
#   llvm                                   llvm-symbolizer, so fuzzer reports name source lines
#   cmake                                  the consumer test (tests/consumer/check.sh) builds a
#                                          CMake user's project against descentConfig.cmake
#   doxygen                                the API reference from the public headers
#                                          (`ninja -C build docs`, the api_docs test)
# (g++ brings GCC's sanitizer runtimes, libasan8 and libubsan1, for scripts/sanitize.sh.)
set -euo pipefail

packages=(meson ninja-build pkg-config g++ libeigen3-dev doctest-dev libthrust-dev
          clang libclang-rt-14-dev llvm cmake doxygen)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all build dependencies present"
fi

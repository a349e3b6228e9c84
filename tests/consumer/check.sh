#!/usr/bin/env bash
# Builds tests/consumer against descent the ways a user would: installed
# (pkg-config and CMake find_package), again after the installed tree is moved
# elsewhere (both configs are relocatable), and as a meson subproject.
# Arguments: the descent source root, its build directory and a scratch directory.
set -euo pipefail
src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
work=$3
rm -rf "$work"
mkdir -p "$work"
fail() { echo "consumer: $*" >&2; exit 1; }

# Builds and runs the consumer against the install tree under $1, once
# through pkg-config and once through CMake; $2 names the scratch builds.
# The CMake consumer runs on the rpath CMake records for the imported
# library, which must point into this tree.
build_against() {
  local root=$1 tag=$2 pcdir cmakedir
  pcdir=$(dirname "$(find "$root" -name descent.pc | head -n 1)")
  cmakedir=$(dirname "$(find "$root" -name descentConfig.cmake | head -n 1)")
  [ "$(PKG_CONFIG_PATH="$pcdir" pkg-config --variable=prefix descent)" -ef "$root$prefix" ] ||
    fail "descent.pc's prefix is not computed from its location under $root"
  PKG_CONFIG_PATH="$pcdir" meson setup "$work/pc-$tag" "$src/tests/consumer" > /dev/null
  meson compile -C "$work/pc-$tag" > /dev/null
  LD_LIBRARY_PATH="$(PKG_CONFIG_PATH="$pcdir" pkg-config --variable=libdir descent)" "$work/pc-$tag/consumer"
  cmake -S "$src/tests/consumer" -B "$work/cmake-$tag" -DCMAKE_PREFIX_PATH="$root$prefix" > /dev/null
  cmake --build "$work/cmake-$tag" > /dev/null
  grep -q "descent_DIR:PATH=$cmakedir" "$work/cmake-$tag/CMakeCache.txt" ||
    fail "CMake found a descent other than the one under $root"
  "$work/cmake-$tag/consumer"
}

# 1. Installed package: install the already-built library into a prefix.
meson install -C "$build" --no-rebuild --destdir "$work/root" --quiet > /dev/null
prefix=$(meson introspect "$build" --buildoptions |
  python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))')
lib=$(find "$work/root" -name 'libdescent.so.*.*' | head -n 1)
readelf -d "$lib" | grep -q 'SONAME.*\[libdescent\.so\.0\]' || fail "$lib has no versioned soname libdescent.so.0"
! grep -qi eigen "$(find "$work/root" -name descent.pc)" || fail "descent.pc names Eigen, which no public header includes"
build_against "$work/root" installed

# 2. Relocation: the same tree moved elsewhere still works through both configs.
mv "$work/root" "$work/moved"
build_against "$work/moved" moved

# 3. Subproject: the consumer vendors descent under subprojects/.
cp -r "$src/tests/consumer" "$work/vendored"
mkdir -p "$work/vendored/subprojects"
ln -s "$src" "$work/vendored/subprojects/descent"
meson setup "$work/sub" "$work/vendored" -Duse_subproject=true > /dev/null
meson compile -C "$work/sub" > /dev/null
"$work/sub/consumer"

# 4. The examples compile warning-free in a user's -Wall -Wextra -Werror build.
pcdir=$(dirname "$(find "$work/moved" -name descent.pc | head -n 1)")
for f in "$src"/examples/train/*.cpp; do
  c++ -std=c++20 -O2 -Wall -Wextra -Werror -I"$src" $(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags descent) \
    -c "$f" -o "$work/example.o"
done
echo "consumer: pkg-config and CMake builds work installed and relocated, the subproject build works;" \
     "the examples build with -Wall -Wextra -Werror"

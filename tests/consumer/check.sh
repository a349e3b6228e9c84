#!/usr/bin/env bash
# Builds tests/consumer against descent twice: installed (pkg-config) and as a
# subproject. Arguments: the descent source root, its build directory and a
# scratch directory.
set -euo pipefail
src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
work=$3
rm -rf "$work"
mkdir -p "$work"
# 1. Installed package: install the already-built library into a prefix.
meson install -C "$build" --no-rebuild --destdir "$work/root" --quiet > /dev/null
prefix="$work/root$(meson introspect "$build" --buildoptions | python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))')"
pcdir=$(dirname "$(find "$prefix" -name descent.pc | head -n 1)")
sed -i "s|^prefix=.*|prefix=$prefix|" "$pcdir/descent.pc"
PKG_CONFIG_PATH="$pcdir" meson setup "$work/installed" "$src/tests/consumer" > /dev/null
meson compile -C "$work/installed" > /dev/null
LD_LIBRARY_PATH="$(dirname "$(find "$prefix" -name 'libdescent.so' | head -n 1)")" "$work/installed/consumer"
# 2. Subproject: the consumer vendors descent under subprojects/.
cp -r "$src/tests/consumer" "$work/vendored"
mkdir -p "$work/vendored/subprojects"
ln -s "$src" "$work/vendored/subprojects/descent"
meson setup "$work/sub" "$work/vendored" -Duse_subproject=true > /dev/null
meson compile -C "$work/sub" > /dev/null
"$work/sub/consumer"
# 3. The examples compile warning-free in a user's -Wall -Wextra -Werror build.
for f in "$src"/examples/train/*.cpp; do
  c++ -std=c++20 -O2 -Wall -Wextra -Werror -I"$src" $(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags descent) \
    -c "$f" -o "$work/example.o"
done
echo "consumer: installed and subproject builds both work; the examples build with -Wall -Wextra -Werror"

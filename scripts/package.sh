#!/usr/bin/env bash
# Builds the Debian package: shared libraries (SONAME libwsx_<layer>.so.0.2), headers, CMake and
# pkg-config files, the wsx command with its man page and bash completion, under /usr.
# Prints the path of the .deb. Environment: CXX (default g++), WSX_PACKAGE_BUILD_DIR
# (default build-package), WSX_WERROR=ON to fail on any compiler warning, WSX_PACKAGE_BUILD_ONLY=1
# to stop after the build (scripts/test.sh builds it early and packs it later).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${WSX_PACKAGE_BUILD_DIR:-build-package}
mkdir -p "$build"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="${CXX:-g++}" \
  -DBUILD_SHARED_LIBS=ON -DWSX_WERROR="${WSX_WERROR:-OFF}" -DWSX_TESTS=OFF -DWSX_BENCH=OFF \
  -DWSX_FUZZ=OFF -DWSX_SANITIZE=OFF -DWSX_TOOLS=ON -DWSX_EXAMPLES=OFF \
  -DCMAKE_INSTALL_PREFIX=/usr > "$build/configure.log" 2>&1 || { cat "$build/configure.log"; exit 1; }
cmake --build "$build" -j "${WSX_JOBS:-$(nproc)}" >&2
[ "${WSX_PACKAGE_BUILD_ONLY:-0}" = 1 ] && exit 0
(cd "$build" && cpack -G DEB > cpack.log 2>&1) || { cat "$build/cpack.log"; exit 1; }
ls "$PWD/$build"/wsx_*.deb

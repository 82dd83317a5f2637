#!/usr/bin/env bash
# wsx as its users get it: builds the libraries shared, with g++ 12 and -Werror (the gcc half of
# "warning-free on both compilers"; scripts/test.sh builds with clang), installs them into a
# temporary prefix, then builds and runs a project outside the tree against that prefix twice:
# with find_package(wsx) and with pkg-config. Both programs call into every layer, so a public
# function the shared libraries do not export fails here. The code samples of docs/ are compiled
# and linked against the same prefix (scripts/check-doc-samples.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${WSX_CONSUMER_BUILD_DIR:-build-consumer}
jobs=${WSX_JOBS:-$(nproc)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=g++ \
  -DBUILD_SHARED_LIBS=ON -DWSX_WERROR=ON -DWSX_TESTS=OFF -DWSX_BENCH=OFF -DWSX_FUZZ=OFF \
  -DWSX_SANITIZE=OFF -DWSX_TOOLS=OFF -DWSX_EXAMPLES=OFF -DCMAKE_INSTALL_PREFIX=/usr/local
cmake --build "$build" -j "$jobs"
cmake --install "$build" --prefix "$prefix" > "$work/install.log"

# Nothing of the source tree may leak into the installed interface.
if grep -rn -e "$root/src" -e "$root/include" "$prefix" > "$work/leaks"; then
  echo "FAIL: the installed files name the source tree:"; cat "$work/leaks"; exit 1
fi
libdir=$(dirname "$(find "$prefix" -name 'libwsx_proto.so' | head -n 1)")
export LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

echo "== find_package(wsx 0.2)"
cmake -S tests/consumer -B "$work/cmake-build" -G Ninja -DCMAKE_CXX_COMPILER=g++ \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_FLAGS="-Wall -Wextra -Wpedantic -Werror" > "$work/cmake.log"
cmake --build "$work/cmake-build" -j "$jobs"
timeout 60 "$work/cmake-build/echo_round_trip"
timeout 60 "$work/cmake-build/proto_only"
# wsx::proto alone must not pull in the layers above it.
if readelf -d "$work/cmake-build/proto_only" | grep -E 'libwsx_(io|session|server|client)'; then
  echo "FAIL: proto_only links layers above proto"; exit 1
fi

echo "== pkg-config wsx"
export PKG_CONFIG_PATH=$libdir/pkgconfig
pkg-config --exists --print-errors 'wsx >= 0.2'
g++ -std=c++20 -Wall -Wextra -Wpedantic -Werror tests/consumer/echo_round_trip.cpp \
  -o "$work/echo_round_trip_pc" $(pkg-config --cflags --libs wsx)
timeout 60 "$work/echo_round_trip_pc"

bash scripts/check-doc-samples.sh "$prefix"
echo "consumer test passed"

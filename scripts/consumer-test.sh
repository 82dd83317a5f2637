#!/usr/bin/env bash
# wsx as its users get it: builds the Debian package (scripts/package.sh: shared libraries and
# the wsx command, with g++ 12 and -Werror, the gcc half of "warning-free on both compilers";
# scripts/test.sh builds with clang) and checks its contents and dependencies
# (tests/package/check_deb.sh), installs the same build into a temporary prefix, then builds
# and runs a project outside the tree against that prefix twice: with find_package(wsx) and with
# pkg-config. Both programs call into every layer, so a public
# function the shared libraries do not export fails here. The code samples of docs/ are compiled
# and linked against the same prefix (scripts/check-doc-samples.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${WSX_CONSUMER_BUILD_DIR:-build-package}
jobs=${WSX_JOBS:-$(nproc)}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

# The package build: shared libraries, the wsx command, g++, -Werror.
deb=$(WSX_PACKAGE_BUILD_DIR=$build WSX_WERROR=ON CXX=g++ bash scripts/package.sh | tail -n 1)
bash tests/package/check_deb.sh "$deb"
cmake --install "$build" --prefix "$prefix" > "$work/install.log"

# Nothing of the source tree may leak into the installed interface.
if grep -rn --include='*.cmake' --include='*.pc' --include='*.hpp' -e "$root" "$prefix" \
    > "$work/leaks"; then
  echo "FAIL: the installed files name the source tree:"; cat "$work/leaks"; exit 1
fi
libdir=$(dirname "$(find "$prefix" -name 'libwsx_proto.so' | head -n 1)")
export LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

# As a user compiles: warnings on, as errors. g++ 12's -Wextra reports every member a designated
# initializer leaves out, which is the point of designated initializers.
user_flags="-Wall -Wextra -Wpedantic -Werror -Wno-missing-field-initializers"

echo "== find_package(wsx 0.2)"
cmake -S tests/consumer -B "$work/cmake-build" -G Ninja -DCMAKE_CXX_COMPILER=g++ \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_CXX_FLAGS="$user_flags" \
  > "$work/cmake.log"
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
g++ -std=c++20 $user_flags tests/consumer/echo_round_trip.cpp \
  -o "$work/echo_round_trip_pc" $(pkg-config --cflags --libs wsx)
timeout 60 "$work/echo_round_trip_pc"

bash scripts/check-doc-samples.sh "$prefix"
echo "consumer test passed"

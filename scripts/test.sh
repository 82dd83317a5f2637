#!/usr/bin/env bash
# Builds everything with clang + AddressSanitizer + UndefinedBehaviorSanitizer (and libFuzzer)
# and -Werror, then runs every test: unit tests, layering, export and header checks, the API
# reference, and a few seconds of each fuzz target. Then builds the multi-threaded unit tests
# with ThreadSanitizer in their own build dir and runs them (tests/tsan/CMakeLists.txt lists
# them). Then the consumer test (scripts/consumer-test.sh): the Debian package built with g++
# and -Werror, installed into a temporary prefix and used by a project outside the tree, and
# the guides' code samples.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
build=${WSX_TEST_BUILD_DIR:-build-test}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ -DWSX_SANITIZE=ON -DWSX_FUZZ=ON -DWSX_BENCH=ON -DWSX_WERROR=ON
cmake --build "$build"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$build" --output-on-failure -j "$(nproc)" "$@"

echo "== ThreadSanitizer: the multi-threaded unit tests"
tsan_build=${WSX_TSAN_BUILD_DIR:-build-tsan}
cmake -S . -B "$tsan_build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ -DWSX_TSAN=ON -DWSX_BENCH=OFF
cmake --build "$tsan_build" --target tsan_tests
ctest --test-dir "$tsan_build" --output-on-failure -j "$(nproc)" "$@"

echo "== the package, installed and used from outside the tree"
bash scripts/consumer-test.sh

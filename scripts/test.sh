#!/usr/bin/env bash
# Builds everything with clang + AddressSanitizer + UndefinedBehaviorSanitizer (and libFuzzer),
# then runs every test: unit tests, layering checks, and a few seconds of each fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
build=${WSX_TEST_BUILD_DIR:-build-test}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ -DWSX_SANITIZE=ON -DWSX_FUZZ=ON -DWSX_BENCH=ON
cmake --build "$build"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$build" --output-on-failure -j "$(nproc)" "$@"

#!/usr/bin/env bash
# Builds everything with clang + AddressSanitizer + UndefinedBehaviorSanitizer (and libFuzzer)
# and -Werror, then runs every test: unit tests, layering, export and header checks, the API
# reference, and a few seconds of each fuzz target. Then builds the multi-threaded unit tests
# with ThreadSanitizer in their own build dir and runs them (tests/tsan/CMakeLists.txt lists
# them). Then the consumer test (scripts/consumer-test.sh): the Debian package built with g++
# and -Werror, installed into a temporary prefix and used by a project outside the tree, and
# the guides' code samples.
#
# Time: the two later builds (ThreadSanitizer, and the package with g++) do not need the first
# run's results, so they are built while its tests run, at the lowest CPU priority: the tests
# mostly wait on sockets and processes and leave cores idle, which the builds take without
# slowing the tests (nice 19 yields to them). WSX_TEST_OVERLAP=0 builds them afterwards instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
build=${WSX_TEST_BUILD_DIR:-build-test}
tsan_build=${WSX_TSAN_BUILD_DIR:-build-tsan}
package_build=${WSX_CONSUMER_BUILD_DIR:-build-package}
# Twice as many tests at once as cores, and one "cores" resource per core for the tests that
# keep one busy: see tests/CMakeLists.txt (wsx_busy_test).
jobs=${WSX_TEST_JOBS:-$((2 * $(nproc)))}
resources=$(mktemp)
later_log=$(mktemp)
trap 'rm -f "$later_log" "$resources"' EXIT
cores=$(for ((i = 0; i < $(nproc); i++)); do printf ',{"id":"%d","slots":1}' "$i"; done)
printf '{"version":{"major":1,"minor":0},"local":[{"cores":[%s]}]}\n' "${cores#,}" > "$resources"

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ -DWSX_SANITIZE=ON -DWSX_FUZZ=ON -DWSX_BENCH=ON -DWSX_WERROR=ON
cmake --build "$build"

later_builds() {
  cmake -S . -B "$tsan_build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++ -DWSX_TSAN=ON -DWSX_BENCH=OFF
  cmake --build "$tsan_build" --target tsan_tests
  WSX_PACKAGE_BUILD_DIR=$package_build WSX_WERROR=ON CXX=g++ WSX_PACKAGE_BUILD_ONLY=1 \
    bash scripts/package.sh
}
later=
if [ "${WSX_TEST_OVERLAP:-1}" = 1 ]; then
  (renice -n 19 -p "$BASHPID" > /dev/null; later_builds) > "$later_log" 2>&1 &
  later=$!
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
ctest --test-dir "$build" --output-on-failure -j "$jobs" --resource-spec-file "$resources" "$@" ||
  status=$?

if [ -n "$later" ]; then
  echo "== waiting for the ThreadSanitizer and package builds (started with the tests)"
  if ! wait "$later"; then
    cat "$later_log"; echo "FAIL: the ThreadSanitizer or the package build"; exit 1
  fi
else
  later_builds
fi
[ "$status" -eq 0 ] || exit "$status"

echo "== ThreadSanitizer: the multi-threaded unit tests"
ctest --test-dir "$tsan_build" --output-on-failure -j "$jobs" --resource-spec-file "$resources" "$@"

echo "== the package, installed and used from outside the tree"
WSX_CONSUMER_BUILD_DIR=$package_build bash scripts/consumer-test.sh

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

# Where the time goes: each stage's start is printed with the seconds since the script started,
# its end with its length, and the last line (also on failure) sums them up, so that a CI log
# says which stage a slower run lost its time in.
script_start=$(date +%s)
stage_name=
stage_start=0
stage_summary=
elapsed() { echo $(($(date +%s) - script_start)); }
stage() {  # ends the running stage, if any, and starts the one named (none: just ends)
  local now
  now=$(elapsed)
  if [ -n "$stage_name" ]; then
    echo "== [${now} s] $stage_name: $((now - stage_start)) s"
    stage_summary+="${stage_summary:+, }$stage_name $((now - stage_start)) s"
  fi
  stage_name=$1
  stage_start=$now
  if [ -n "$stage_name" ]; then echo "== [${now} s] $stage_name"; fi
}
stage_report() {
  stage ""
  echo "== stages: ${stage_summary:-none}; total $(elapsed) s"
}

stage "install"
bash scripts/install-deps.sh
build=${WSX_TEST_BUILD_DIR:-build-test}
tsan_build=${WSX_TSAN_BUILD_DIR:-build-tsan}
package_build=${WSX_CONSUMER_BUILD_DIR:-build-package}
# Twice as many tests at once as cores, and one "cores" resource per core for the tests that
# keep one busy: see tests/CMakeLists.txt (wsx_busy_test).
jobs=${WSX_TEST_JOBS:-$((2 * $(nproc)))}
resources=$(mktemp)
later_log=$(mktemp)
later_done=$(mktemp)
trap 'stage_report; rm -f "$later_log" "$later_done" "$resources"' EXIT
cores=$(for ((i = 0; i < $(nproc); i++)); do printf ',{"id":"%d","slots":1}' "$i"; done)
printf '{"version":{"major":1,"minor":0},"local":[{"cores":[%s]}]}\n' "${cores#,}" > "$resources"

# LLVM's linker for the two clang builds: their ~200 executables carry full debug info, which
# GNU ld links in ~1.5 CPU-s each and lld in ~0.55 (a unit test linked both ways).
linker=(-DCMAKE_EXE_LINKER_FLAGS=-fuse-ld=lld)
stage "ASan build"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${linker[@]}" \
  -DCMAKE_CXX_COMPILER=clang++ -DWSX_SANITIZE=ON -DWSX_FUZZ=ON -DWSX_BENCH=ON -DWSX_WERROR=ON
cmake --build "$build"

later_builds() {
  cmake -S . -B "$tsan_build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${linker[@]}" \
    -DCMAKE_CXX_COMPILER=clang++ -DWSX_TSAN=ON -DWSX_BENCH=OFF
  cmake --build "$tsan_build" --target tsan_tests
  WSX_PACKAGE_BUILD_DIR=$package_build WSX_WERROR=ON CXX=g++ WSX_PACKAGE_BUILD_ONLY=1 \
    bash scripts/package.sh
  elapsed > "$later_done"
}
later=
if [ "${WSX_TEST_OVERLAP:-1}" = 1 ]; then
  (renice -n 19 -p "$BASHPID" > /dev/null; later_builds) > "$later_log" 2>&1 &
  later=$!
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# A failed test runs once more (WSX_TEST_ATTEMPTS=1: never). A test that fails every time
# still fails the run; one that failed and then passed is named in a FLAKY list at the end of
# its stage, with the failed attempt's output above it, so that it is seen and fixed rather
# than costing a whole run on a loaded machine.
attempts=${WSX_TEST_ATTEMPTS:-2}
run_ctest() {  # build dir, then ctest's extra arguments
  local dir=$1 log rc=0
  shift
  log=$(mktemp)
  ctest --test-dir "$dir" --output-on-failure -j "$jobs" --resource-spec-file "$resources" \
    --repeat "until-pass:$attempts" "$@" 2>&1 | tee "$log" || rc=$?
  # ctest prints "Test #N: name ...***Failed" for a failed attempt and "Passed" for a later one.
  local flaky
  flaky=$(awk '/Test +#[0-9]+: .*\.\.\./ {
                 name = $0; sub(/.*Test +#[0-9]+: /, "", name); sub(/ \.+.*/, "", name)
                 result = $0; sub(/^.*\.\.\. */, "", result)
                 if (result ~ /^Passed/) passed[name] = 1; else failed[name] = 1 }
               END { for (n in failed) if (n in passed) print n }' "$log" | sort)
  if [ -n "$flaky" ]; then
    echo "FLAKY (failed, then passed when run again; see their output above):"
    sed 's/^/  /' <<< "$flaky"
  fi
  rm -f "$log"
  return "$rc"
}

status=0
stage "ASan tests"
run_ctest "$build" "$@" || status=$?

if [ -n "$later" ]; then
  stage "wait for the TSan and package builds"
  if ! wait "$later"; then
    cat "$later_log"; echo "FAIL: the ThreadSanitizer or the package build"; exit 1
  fi
  echo "   (started with the ASan tests, done at $(cat "$later_done") s)"
else
  stage "TSan and package builds"
  later_builds
fi
[ "$status" -eq 0 ] || exit "$status"

stage "TSan tests"
echo "== ThreadSanitizer: the multi-threaded unit tests"
run_ctest "$tsan_build" "$@"

stage "consumer"
echo "== the package, installed and used from outside the tree"
WSX_CONSUMER_BUILD_DIR=$package_build bash scripts/consumer-test.sh

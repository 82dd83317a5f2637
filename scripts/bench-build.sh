#!/usr/bin/env bash
# Builds targets for a measurement script in a Release build directory, without undoing anyone's
# configuration of it:
#   bash scripts/bench-build.sh DIR TARGET...
# The measurement scripts (echo-bench.sh, wss-bench.sh, scale-bench.sh) build in build-bench by
# default, the directory scripts/bench.sh configures the same way (Release, tests off,
# micro-benchmarks on): they used to reconfigure the shared build-rel with tests off, which
# removed the test targets of a developer who had configured it with them.
#
# A new DIR is configured Release, tests off, benchmarks on. An existing one is reconfigured
# only if it lacks what the targets need, a Release build with the benchmarks, and then only
# those two settings change: its tests, compiler and launcher stay as they were.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -ge 2 ]] || { sed -n '2,4p' "$0" >&2; exit 2; }
dir=$1
shift

# The value of a cached setting, empty if DIR has no cache or not that setting.
cached() {
  sed -n "s/^$1:[A-Z]*=//p" "$dir/CMakeCache.txt" 2>/dev/null | head -n 1
}

if [[ ! -f $dir/CMakeCache.txt ]]; then
  cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DWSX_TESTS=OFF -DWSX_BENCH=ON >/dev/null
elif [[ $(cached CMAKE_BUILD_TYPE) != Release || $(cached WSX_BENCH) != ON ]]; then
  echo "bench-build: $dir was CMAKE_BUILD_TYPE=$(cached CMAKE_BUILD_TYPE)" \
    "WSX_BENCH=$(cached WSX_BENCH); setting Release and WSX_BENCH=ON (nothing else)" >&2
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DWSX_BENCH=ON >/dev/null
fi
cmake --build "$dir" --target "$@"

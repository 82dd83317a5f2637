#!/usr/bin/env bash
# Builds the micro-benchmarks in Release and runs them. Extra arguments go to every benchmark,
# e.g. scripts/bench.sh --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
build=${WSX_BENCH_BUILD_DIR:-build-bench}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DWSX_TESTS=OFF -DWSX_BENCH=ON
cmake --build "$build"
for b in "$build"/bench/bench_*; do
  echo "== $(basename "$b")"; "$b" "$@"
done

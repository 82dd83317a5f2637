#!/usr/bin/env bash
# Runs the shared echo-server harness (../shared/bench: raw TCP echo, Boost.Beast, ...) against a
# Release build of examples/echo_server. The harness is copied to a scratch directory because the
# shared one is read-only; it installs the peers' Debian packages itself. Arguments go to its
# run.sh, e.g.
#   scripts/echo-bench.sh --reps 5 --only raw,beast,wsx --scenarios a,b,c,e
#   scripts/echo-bench.sh --reps 3 --only beast,lws,wsx --scenarios d,f,g
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
harness=${WSX_HARNESS:-$repo/../shared/bench}
[[ -x $harness/run.sh ]] || { echo "no harness at $harness (set WSX_HARNESS)" >&2; exit 1; }
bash scripts/install-deps.sh
# Its own Release build directory (see scripts/bench-build.sh), not a developer's build-rel.
build=${WSX_ECHO_BENCH_BUILD_DIR:-build-bench}
bash scripts/bench-build.sh "$build" echo_server
work=${WSX_HARNESS_COPY:-/tmp/wsx-echo-bench}
mkdir -p "$work"
# Keeps the copy's build/ and results/ across runs: the peers are built once.
cp -r "$harness"/. "$work"/
cd "$work"
# WSX_ECHO_BENCH_PORT moves our server off 19400 when several people run the harness at once.
exec ./run.sh --server "wsx:${WSX_ECHO_BENCH_PORT:-19400}:$repo/$build/examples/echo_server --port {port} --threads 1 {deflate}" "$@"

#!/usr/bin/env bash
# The main job. For now: builds wsx (Release) and runs proto_demo, which drives a client and a
# server connection against each other in memory — handshake, permessage-deflate, fragments,
# ping/pong and the closing handshake — and prints every frame like a developer-tools trace.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
build=${WSX_BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DWSX_TESTS=OFF -DWSX_BENCH=OFF
cmake --build "$build" --target proto_demo
exec "$build/examples/proto_demo" "$@"

#!/usr/bin/env bash
# The main job: builds wsx (Release) and runs `wsx serve` — /echo, /chat[/ROOM] and a web
# console at http://127.0.0.1:8080/ — with any arguments given (e.g. --listen 0.0.0.0:9000).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
build=${WSX_BUILD_DIR:-build}
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DWSX_TESTS=OFF -DWSX_BENCH=OFF
cmake --build "$build" --target wsx
exec "$build/tools/wsx/wsx" serve "$@"

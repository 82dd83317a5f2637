#!/usr/bin/env bash
# Installs the Debian 12 packages wsx needs to build, test and run. Run as root (or with sudo).
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config clang libclang-rt-14-dev
  # LLVM's linker: scripts/test.sh links its clang builds with it (faster than GNU ld).
  lld
  zlib1g-dev libssl-dev openssl libgtest-dev libgmock-dev libbenchmark-dev
  # Intel ISA-L: its igzip compresses permessage-deflate messages (src/proto/isal_deflate.cpp).
  libisal-dev
  # libdeflate: inflates whole compressed messages (src/proto/whole_message_inflate.cpp).
  libdeflate-dev
  # liburing: a loop iteration's sends in one io_uring submission (src/io/send_batch.cpp), and
  # bench/echo/uring_echo.cpp, the io_uring echo scripts/uring-bench.sh measures.
  liburing-dev
  python3 python3-websockets nodejs node-ws libcli11-dev libedit-dev doxygen
  # The metrics test parses /metrics with the Prometheus project's own text-format parser.
  python3-prometheus-client
  # Browser tests of the web console (tests/browser): Debian's chromium, driven by playwright-core
  # from npm; a CJK font so that screenshots show non-Latin text. The admin endpoint's tests
  # make a network namespace (unshare from util-linux, ip from iproute2).
  chromium fonts-wqy-microhei util-linux iproute2
  # The Redis broker (hiredis) and its tests (a private redis-server).
  libhiredis-dev redis-server
  # WebSocket over HTTP/2 (RFC 8441): nghttp2's sans-I/O session; its tests' independent peer for
  # plain requests is curl (--http2), for extended CONNECT Python's h2.
  libnghttp2-dev curl python3-h2
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  echo "installing: ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# playwright-core at the version tests/browser/package-lock.json pins (it drives the chromium
# above: no browser download). npm comes with some nodejs builds and is Debian's `npm` package
# otherwise. Skipped when the pinned version is already there.
if ! command -v npm >/dev/null; then
  sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends npm
fi
browser_tests="$(cd "$(dirname "$0")/../tests/browser" && pwd)"
wanted=$(node -p "require('$browser_tests/package-lock.json').packages['node_modules/playwright-core'].version")
installed=$(node -p "try { require('$browser_tests/node_modules/playwright-core/package.json').version } catch (e) { '' }")
if [ "$wanted" != "$installed" ]; then
  (cd "$browser_tests" && npm ci --no-audit --no-fund)
fi

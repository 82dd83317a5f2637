#!/usr/bin/env bash
# wss:// against ws:// on the same server: examples/echo_server (Release) with and without TLS,
# driven by the shared harness's load generator with TLS added (bench/echo/loadgen.cpp, OpenSSL,
# no certificate check: loopback only). Scenarios a-c are the harness's (echo-bench.sh); every
# (repetition, scenario, protocol) gets a fresh server pinned to CPU 0, loadgen on CPU 1, and ws
# and wss alternate. Efficiency = messages/s per server CPU-second; the table shows medians and
# the median of the per-repetition ratios wss/ws. A throwaway self-signed ECDSA P-256
# certificate is made for the run (TLS 1.3; the suite is the server's first choice, TLS_AES_128_GCM_SHA256 for wsx).
#   scripts/wss-bench.sh [--reps 5] [--scenarios a,b,c] [--duration 5] [--port 19500]
#                        [--server-args '--threads 1'] [--server NAME=PATH]...
# --server (repeatable) runs other echo_server binaries instead of this tree's, say a baseline
# build beside a changed one: every repetition runs each of them, and the table has a row per
# server and protocol.
# Results (one JSON line per run) go to $WSX_WSS_BENCH_OUT (default /tmp/wsx-wss-bench.jsonl).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
reps=5 scenarios=a,b,c duration=5 port=${WSX_WSS_BENCH_PORT:-19500} server_args="--threads 1"
servers=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --reps) reps=$2; shift 2 ;;
    --scenarios) scenarios=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --server) servers+=("$2"); shift 2 ;;
    --server-args) server_args=$2; shift 2 ;;
    *) echo "unknown option $1 (see the top of $0)" >&2; exit 2 ;;
  esac
done
# Its own Release build directory (see scripts/bench-build.sh), not a developer's build-rel.
build=${WSX_ECHO_BENCH_BUILD_DIR:-build-bench}
if [[ ${#servers[@]} == 0 ]]; then
  bash scripts/bench-build.sh "$build" echo_server
  servers=("wsx=$repo/$build/examples/echo_server")
fi
for s in "${servers[@]}"; do
  [[ $s == *=* && -x ${s#*=} ]] || { echo "--server wants NAME=PATH of an executable: $s" >&2; exit 2; }
done
work=$(mktemp -d /tmp/wsx-wss-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
g++ -O2 -std=c++20 -Wall -Wextra bench/echo/loadgen.cpp -o "$work/loadgen" -lz -lssl -lcrypto
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj /CN=127.0.0.1 -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
out=${WSX_WSS_BENCH_OUT:-/tmp/wsx-wss-bench.jsonl}
: >"$out"

scenario_args() {
  case $1 in
    a) echo "--conns 100 --size 16 --text --pipeline 8" ;;
    b) echo "--conns 10 --size 64k --binary --pipeline 2" ;;
    c) echo "--conns 1 --size 1m --binary --pipeline 1" ;;
    *) echo "unknown scenario $1 (a, b or c)" >&2; return 1 ;;
  esac
}

# run_one SCENARIO REP NAME=PATH PROTO: a fresh server, one loadgen run, one JSON line to $out.
run_one() {
  local sc=$1 rep=$2 name=${3%%=*} server=${3#*=} proto=$4 tls_server="" tls_client=""
  if [[ $proto == wss ]]; then
    tls_server="--tls-cert $work/cert.pem --tls-key $work/key.pem"
    tls_client="--tls"
  fi
  if ss -ltnH "sport = :$port" | grep -q .; then
    echo "port $port is in use: pass --port" >&2
    exit 1
  fi
  # shellcheck disable=SC2086
  taskset -c 0 "$server" --port "$port" $server_args $tls_server >"$work/server.log" 2>&1 &
  local pid=$!
  for _ in $(seq 100); do ss -ltnH "sport = :$port" | grep -q . && break; sleep 0.1; done
  local line
  # shellcheck disable=SC2046
  line=$(timeout 120 taskset -c 1 "$work/loadgen" --port "$port" $tls_client --server-pid "$pid" \
           --label "$proto" --duration "$duration" --warmup 1 $(scenario_args "$sc")) || line=null
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  printf '{"scenario":"%s","rep":%d,"server":"%s","proto":"%s","result":%s}\n' "$sc" "$rep" \
    "$name" "$proto" "${line:-null}" >>"$out"
}

# Before the timed runs: every byte each server echoes over wss is checked (text 300 B with 8 in
# flight, binary 70,000 B with 2 in flight).
for s in "${servers[@]}"; do
  for args in "--size 300 --text --pipeline 8 --conns 4" "--size 70000 --binary --pipeline 2 --conns 2"; do
    taskset -c 0 "${s#*=}" --port "$port" $server_args --tls-cert "$work/cert.pem" \
      --tls-key "$work/key.pem" >"$work/server.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do ss -ltnH "sport = :$port" | grep -q . && break; sleep 0.1; done
    # shellcheck disable=SC2086
    verified=$(timeout 60 "$work/loadgen" --port "$port" --tls --verify --duration 1 --warmup 0 $args) ||
      verified=null
    kill "$pid"; wait "$pid" 2>/dev/null || true
    python3 -c 'import json,sys; r=json.loads(sys.argv[2]); ok=r and r["msgs"]>0 and not sum(r[k] for k in r if k.endswith("errors")); sys.exit(0 if ok else "wss verification failed for "+sys.argv[1]+": "+sys.argv[2])' "${s%%=*}" "$verified"
  done
done

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
IFS=, read -ra scs <<<"$scenarios"
for rep in $(seq 1 "$reps"); do
  for sc in "${scs[@]}"; do
    # The order alternates, so neither protocol always runs first.
    if ((rep % 2)); then order="ws wss"; else order="wss ws"; fi
    for s in "${servers[@]}"; do
      for proto in $order; do run_one "$sc" "$rep" "$s" "$proto"; done
    done
  done
  echo "repetition $rep of $reps done" >&2
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

python3 - "$out" <<'EOF'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
print(f"{'scenario':8} {'server':10} {'proto':5} {'msg/s':>9} {'srv cpu':>7} {'msg/cpu-s':>10} {'wss/ws':>7} {'other':>6} {'errors':>6}")
for sc, server in sorted({(r["scenario"], r["server"]) for r in runs}):
    by = {}
    for r in runs:
        if r["scenario"] == sc and r["server"] == server and r["result"]:
            by.setdefault(r["proto"], {})[r["rep"]] = r["result"]
    def eff(x): return x["msgs_per_s"] / x["server_cpu"] if x["server_cpu"] > 0 else 0.0
    for proto in ("ws", "wss"):
        rs = by.get(proto, {})
        if not rs: continue
        vals = list(rs.values())
        ratio = ""
        if proto == "wss":
            ratios = [eff(rs[k]) / eff(by["ws"][k]) for k in rs if k in by.get("ws", {}) and eff(by["ws"][k]) > 0]
            ratio = f"{statistics.median(ratios):.2f}" if ratios else ""
        errors = sum(v for x in vals for k, v in x.items() if k.endswith("errors") or k in ("closed_by_server", "close_timeouts"))
        print(f"{sc:8} {server:10} {proto:5} {statistics.median(x['msgs_per_s'] for x in vals):9.1f} "
              f"{statistics.median(x['server_cpu'] for x in vals):7.3f} {statistics.median(eff(x) for x in vals):10.1f} "
              f"{ratio:>7} {statistics.median(x['other_cpu'] for x in vals):6.2f} {errors:6d}")
EOF

#!/usr/bin/env bash
# Scale on this machine (issue 13, point 7), two parts; each stops by itself.
#
#   scripts/scale-bench.sh idle [--connections 100000] [--threads "1 2"] [--sources 16]
#                               [--broadcasts 5] [--timeout 300]
#     bench/scale_server (one process; every connection subscribed to one topic) and
#     bench/scale_clients (one thread, epoll, connections spread over 127.0.0.2...): the
#     handshake rate while they connect, the server's RSS per connection once open, and the time
#     until the last connection has a broadcast (Server::publish). Once per --threads value.
#
#   scripts/scale-bench.sh threads [--reps 5] [--duration 5]
#     examples/echo_server with 1 thread and with 2 threads, driven by the shared harness's
#     load generator with scenario a (100 connections, 16 B text, 8 in flight), the runs
#     interleaved; the medians of messages/s and of server CPU.
#
# Prints the limits that bound the connection count: the descriptor limits (a process may raise
# its soft limit to the hard one, `ulimit -Hn`; raising the hard one needs CAP_SYS_RESOURCE, and
# nothing goes past fs.nr_open), fs.file-max and the ephemeral port range, and the load average.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
mode=${1:-}
[[ $mode == idle || $mode == threads ]] || {
  sed -n '2,15p' "$0" >&2
  exit 2
}
shift
connections=100000 threads_list="1 2" sources=16 broadcasts=5 timeout=300 reps=5 duration=5
while (($#)); do
  case $1 in
    --connections) connections=$2 ;;
    --threads) threads_list=$2 ;;
    --sources) sources=$2 ;;
    --broadcasts) broadcasts=$2 ;;
    --timeout) timeout=$2 ;;
    --reps) reps=$2 ;;
    --duration) duration=$2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift 2
done

# Its own Release build directory (see scripts/bench-build.sh), not a developer's build-rel.
build=${WSX_SCALE_BUILD_DIR:-build-bench}
bash scripts/bench-build.sh "$build" scale_server scale_clients echo_server >/dev/null

echo "kernel $(uname -r), $(nproc) cores; load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "descriptors: soft $(ulimit -Sn), hard $(ulimit -Hn), fs.nr_open $(cat /proc/sys/fs/nr_open)," \
  "fs.file-max $(cat /proc/sys/fs/file-max); ports $(tr '\t' '-' </proc/sys/net/ipv4/ip_local_port_range)," \
  "somaxconn $(cat /proc/sys/net/core/somaxconn)"
ulimit -n "$(ulimit -Hn)"

server_pid=
cleanup() { [[ -n $server_pid ]] && kill "$server_pid" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT

# Starts a server command that prints "... listening on HOST:PORT ..."; sets server_pid, port.
start_server() {
  local log=$1
  shift
  "$@" >"$log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do
    port=$(sed -n 's/.*listening on [0-9.]*:\([0-9]*\).*/\1/p' "$log")
    [[ -n $port ]] && return 0
    sleep 0.1
  done
  echo "server did not start:" >&2
  cat "$log" >&2
  exit 1
}

stop_server() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}

scratch=$(mktemp -d)
if [[ $mode == idle ]]; then
  for threads in $threads_list; do
    echo "== $connections idle connections, server threads $threads"
    start_server "$scratch/server.log" "$build/bench/scale_server" --threads "$threads"
    head -1 "$scratch/server.log"
    "$build/bench/scale_clients" --port "$port" --server-pid "$server_pid" \
      --connections "$connections" --sources "$sources" --broadcasts "$broadcasts" \
      --timeout "$timeout" || echo "(scale_clients exit status $?)"
    stop_server
    echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  done
  exit 0
fi

# threads: the shared harness's load generator, built once into the build directory.
loadgen=$build/loadgen
harness=${WSX_HARNESS:-$repo/../shared/bench}
# In a git worktree the shared directory sits beside the main checkout, not beside this one.
[[ -d $harness ]] || harness=$(git rev-parse --path-format=absolute --git-common-dir)/../../shared/bench
if [[ ! -x $loadgen ]]; then
  g++ -std=c++20 -O2 -o "$loadgen" "$harness/loadgen/loadgen.cpp" -lz
fi
for rep in $(seq "$reps"); do
  for threads in 1 2; do
    start_server "$scratch/echo.log" "$build/examples/echo_server" --port 0 --threads "$threads"
    "$loadgen" --port "$port" --server-pid "$server_pid" --label "threads$threads" --mode echo \
      --conns 100 --size 16 --text --pipeline 8 --duration "$duration" --warmup 1 \
      >>"$scratch/threads.jsonl"
    stop_server
  done
  echo "rep $rep done, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
done
python3 - "$scratch/threads.jsonl" <<'EOF'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
for label in ("threads1", "threads2"):
    mine = [r for r in runs if r["label"] == label]
    rate = statistics.median(r["msgs_per_s"] for r in mine)
    cpu = statistics.median(r["server_cpu"] for r in mine)
    p99 = statistics.median(r["lat_p99_us"] for r in mine)
    each = ", ".join(f"{r['msgs_per_s']:,.0f}" for r in mine)
    print(f"{label}: {rate:,.0f} msgs/s (runs: {each}),"
          f" server CPU {cpu:.2f} cores, {rate / cpu:,.0f} msgs per server CPU-second, p99 {p99:.0f} us")
EOF

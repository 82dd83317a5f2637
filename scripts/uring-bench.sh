#!/usr/bin/env bash
# Issue 13 item 8: can io_uring buy server CPU per message on this machine? Three raw TCP echo
# servers (no WebSocket) under the shared harness's load generator:
#   raw    the harness's epoll echo (servers/raw_echo.cpp), the baseline of every efficiency ratio
#   batch  bench/echo/epoll_batch_echo.cpp: raw's system calls, but all reads of a pass first,
#          then all sends (the order uring_echo has), to tell that order apart from io_uring
#   uring  bench/echo/uring_echo.cpp: multishot accept and recv, a provided-buffer ring, sends
#          submitted with the wait, DEFER_TASKRUN: one io_uring_enter per loop pass
# Every (repetition, scenario, server) gets a fresh server pinned to CPU 0 and loadgen on CPU 1,
# as the harness's run.sh does; the server order rotates every repetition. Efficiency = msgs/s
# per server CPU-second (loadgen's msgs_per_s / server_cpu); the table has medians and the
# per-repetition ratios to raw of the same repetition. Then, unless --no-syscalls, a
# deterministic count: system calls per message of each server (perf stat on the syscall
# tracepoints, attached for a whole loadgen run with no warm-up, so its message count covers it).
#
#   scripts/uring-bench.sh [--reps 5] [--scenarios a,b] [--duration 5] [--port 19620]
#                          [--servers raw,batch,uring,uring:32x65536] [--no-syscalls]
# uring:COUNTxSIZE is uring_echo with other provided buffers (URING_ECHO_BUFFERS; the default is
# 512 x 64 KiB): fewer buffers than data in flight make the recv stop for want of one (ENOBUFS)
# and so read in larger batches. uring@N:USEC (also uring:COUNTxSIZE@N:USEC) waits for N
# completions per loop pass, or at least one after USEC microseconds (URING_ECHO_BATCH, Linux
# 6.12's min_wait): fewer io_uring_enter calls per message for some latency. batch@N:USEC is
# epoll_batch_echo sleeping USEC after a wait that brought fewer than N sockets (EPOLL_ECHO_BATCH).
# Scenarios (the harness's shapes): a = 100 conns x 16 B text, 8 in flight; b = 10 conns x
# 64 KiB binary, 2 in flight; c = 1 conn x 1 MiB. Needs liburing-dev (scripts/install-deps.sh)
# and perf (linux-perf) for the syscall count. Results: $WSX_URING_BENCH_DIR (default
# /tmp/wsx-uring-bench), runs.jsonl and syscalls.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
reps=5 scenarios=a,b duration=5 port=${WSX_URING_BENCH_PORT:-19620} servers=raw,batch,uring,uring:32x65536
syscalls=1
while [[ $# -gt 0 ]]; do
  case $1 in
    --reps) reps=$2; shift 2 ;;
    --scenarios) scenarios=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --servers) servers=$2; shift 2 ;;
    --no-syscalls) syscalls=0; shift ;;
    *) echo "unknown option $1 (see the top of $0)" >&2; exit 2 ;;
  esac
done
harness=${WSX_HARNESS:-$repo/../shared/bench}
[[ -d $harness ]] || harness=$(git rev-parse --path-format=absolute --git-common-dir)/../../shared/bench
[[ -f $harness/servers/raw_echo.cpp ]] || { echo "no harness at $harness (set WSX_HARNESS)" >&2; exit 1; }
work=${WSX_URING_BENCH_DIR:-/tmp/wsx-uring-bench}
mkdir -p "$work"
g++ -std=c++20 -O2 -o "$work/loadgen" "$harness/loadgen/loadgen.cpp" -lz
g++ -std=c++20 -O2 -o "$work/raw" "$harness/servers/raw_echo.cpp"
g++ -std=c++20 -O2 -Wall -Wextra -o "$work/batch" bench/echo/epoll_batch_echo.cpp
g++ -std=c++20 -O2 -Wall -Wextra -o "$work/uring" bench/echo/uring_echo.cpp -luring
# What one system call costs here decides what io_uring's fewer calls can save: ~1 us of CPU per
# getppid on the development VM (a PVM guest, pti=on), ~0.1 us on bare metal.
cat >"$work/null_syscall.cpp" <<'CPP'
#include <sys/syscall.h>
#include <unistd.h>
#include <cstdio>
#include <ctime>
int main() {
  const int n = 1000000;
  timespec t0{}, t1{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t0);
  for (int i = 0; i < n; ++i) syscall(SYS_getppid);
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t1);
  std::printf("%.0f ns of CPU per null system call (getppid)\n",
              ((t1.tv_sec - t0.tv_sec) * 1e9 + double(t1.tv_nsec - t0.tv_nsec)) / n);
}
CPP
g++ -std=c++20 -O2 -o "$work/null_syscall" "$work/null_syscall.cpp"
taskset -c 0 "$work/null_syscall" >&2
IFS=, read -ra names <<<"$servers"
for name in "${names[@]}"; do
  bin=${name%%@*}
  [[ -x $work/${bin%%:*} ]] || { echo "unknown server $name (raw, batch, uring[:COUNTxSIZE][@N:USEC])" >&2; exit 2; }
done

scenario_args() {
  case $1 in
    a) echo "--conns 100 --size 16 --text --pipeline 8" ;;
    b) echo "--conns 10 --size 64k --binary --pipeline 2" ;;
    c) echo "--conns 1 --size 1m --binary --pipeline 1" ;;
    *) echo "unknown scenario $1 (a, b or c)" >&2; return 1 ;;
  esac
}

server_pid=""
stop_server() {
  [[ -n $server_pid ]] || return 0
  kill -TERM "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
trap stop_server EXIT
# start_server NAME: our server on $port, pinned to CPU 0; sets server_pid.
start_server() {
  for _ in $(seq 30); do  # the previous server's listener may take a moment to go
    ss -ltnH "sport = :$port" | grep -q . || break
    sleep 0.1
  done
  if ss -ltnH "sport = :$port" | grep -q .; then
    echo "port $port is in use: pass --port" >&2
    exit 1
  fi
  local bin=${1%%@*} buffers="" batch=""
  [[ $bin == *:* ]] && buffers=${bin#*:}
  [[ $1 == *@* ]] && batch=${1#*@}
  if [[ -n $batch ]]; then
    export URING_ECHO_BATCH=$batch EPOLL_ECHO_BATCH=$batch
  else
    unset URING_ECHO_BATCH EPOLL_ECHO_BATCH
  fi
  URING_ECHO_BUFFERS=${buffers:-512x65536} taskset -c 0 "$work/${bin%%:*}" "$port" >>"$work/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do
    ss -ltnH "sport = :$port" | grep -q . && return 0
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "$1 did not listen on $port (see $work/server.log)" >&2
  exit 1
}

# Every byte each server echoes is checked first: text 300 B with 4 in flight, binary 70,000 B
# with 2 in flight, and scenario a's shape.
: >"$work/server.log"
for name in "${names[@]}"; do
  for args in "--conns 4 --size 300 --text --pipeline 4" "--conns 2 --size 70000 --binary --pipeline 2" \
    "$(scenario_args a)"; do
    start_server "$name"
    # shellcheck disable=SC2086
    verified=$(timeout 60 "$work/loadgen" --port "$port" --raw --verify --duration 1 --warmup 0 $args) ||
      verified=null
    stop_server
    /usr/bin/python3 -c 'import json,sys; r=json.loads(sys.argv[2]); ok=r and r["msgs"]>0 and not sum(r[k] for k in r if k.endswith("errors")); sys.exit(0 if ok else "verification failed for "+sys.argv[1]+": "+sys.argv[2])' "$name" "$verified"
  done
done
echo "verified: ${names[*]}" >&2

out=$work/runs.jsonl
: >"$out"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
IFS=, read -ra scs <<<"$scenarios"
n=${#names[@]}
for rep in $(seq 1 "$reps"); do
  for sc in "${scs[@]}"; do
    for ((k = 0; k < n; k++)); do
      name=${names[$(((k + rep - 1) % n))]}
      start_server "$name"
      # shellcheck disable=SC2046
      line=$(timeout 120 taskset -c 1 "$work/loadgen" --port "$port" --raw --server-pid "$server_pid" \
               --label "$name" --duration "$duration" --warmup 1 $(scenario_args "$sc")) || line=null
      stop_server
      printf '{"scenario":"%s","rep":%d,"server":"%s","result":%s}\n' "$sc" "$rep" "$name" \
        "${line:-null}" >>"$out"
    done
  done
  echo "repetition $rep of $reps done" >&2
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

/usr/bin/python3 - "$out" "${names[0]}" <<'EOF'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
base = sys.argv[2]
eff = {}
for r in runs:
    res = r["result"]
    if res and res["server_cpu"] > 0 and res["msgs"] > 0:
        eff[(r["scenario"], r["server"], r["rep"])] = (res["msgs_per_s"], res["server_cpu"],
                                                     res["msgs_per_s"] / res["server_cpu"],
                                                     res["lat_p50_us"])
print(f"{'sc':3} {'server':15} {'msg/s':>9} {'srv cpu':>7} {'msg/cpu-s':>10} {'p50 us':>7} {'vs ' + base:>8}  per-repetition ratio to {base}")
for sc in sorted({k[0] for k in eff}):
    for server in dict.fromkeys(r["server"] for r in runs):
        reps = sorted(k[2] for k in eff if k[0] == sc and k[1] == server)
        if not reps:
            continue
        rows = [eff[(sc, server, rep)] for rep in reps]
        ratios = [eff[(sc, server, rep)][2] / eff[(sc, base, rep)][2] for rep in reps
                  if (sc, base, rep) in eff]
        med = lambda i: statistics.median(row[i] for row in rows)
        ratio = f"{statistics.median(ratios):8.3f}" if ratios else f"{'-':>8}"
        print(f"{sc:3} {server:15} {med(0):9.0f} {med(1):7.3f} {med(2):10.0f} {med(3):7.0f} {ratio}  "
              + " ".join(f"{x:.3f}" for x in ratios))
EOF

((syscalls)) || exit 0
# System calls per message: perf stat on the syscall tracepoints, attached to the server for one
# whole loadgen run without warm-up (its message count then covers everything perf saw). Also
# the context switches per message, from /proc/PID/status.
events=raw_syscalls:sys_enter,syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_epoll_wait
events+=,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto
: >"$work/syscalls.txt"
ctxsw() { awk '/ctxt_switches/ {s += $2} END {print s}' "/proc/$1/status"; }
for sc in "${scs[@]}"; do
  for name in "${names[@]}"; do
    start_server "$name"
    perf stat -x, -e "$events" -p "$server_pid" -o "$work/perf.txt" &
    perf_pid=$!
    sleep 0.5
    cs0=$(ctxsw "$server_pid")
    # shellcheck disable=SC2046
    line=$(taskset -c 1 "$work/loadgen" --port "$port" --raw --duration "$duration" --warmup 0 \
             $(scenario_args "$sc"))
    cs1=$(ctxsw "$server_pid")
    kill -INT "$perf_pid"
    wait "$perf_pid" || true
    stop_server
    /usr/bin/python3 - "$sc" "$name" "$line" "$work/perf.txt" "$((cs1 - cs0))" <<'EOF' | tee -a "$work/syscalls.txt"
import json, sys
sc, name, line, path, cs = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4], int(sys.argv[5])
msgs = line["msgs"]
counts = {}
for row in open(path):
    f = row.strip().split(",")
    if len(f) > 2 and f[0].isdigit():
        counts[f[2].split(":")[-1].replace("sys_enter_", "")] = int(f[0])
parts = " ".join(f"{k} {v / msgs:.4f}" for k, v in counts.items() if k != "sys_enter" and v)
print(f"{sc} {name:15} {msgs} msgs: syscalls/msg {counts.get('sys_enter', 0) / msgs:.4f} ({parts}); "
      f"context switches/msg {cs / msgs:.5f}")
EOF
    # uring_echo says at exit how many loop passes, receives and sends it made.
    [[ $name == uring* ]] && tail -n 1 "$work/server.log" | tee -a "$work/syscalls.txt"
  done
done

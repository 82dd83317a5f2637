#!/usr/bin/env bash
# Machine-independent cost of an echo (issue 13): user-space instructions and system calls per
# message of a Release examples/echo_server on one thread, under the shared harness's load
# generator. Wall-clock numbers on a shared machine move by 20-50 %; these do not.
#
#   scripts/echo-profile.sh callgrind [--server PATH] [--port P] [--args "loadgen args"]
#     valgrind --tool=callgrind: counters zeroed 4 s into the load, dumped 6 s later; prints
#     instructions per message (all instructions / calls of WebSocket::send, so the server must
#     echo with it, as echo_server does) and the functions that cost most per message.
#   scripts/echo-profile.sh strace [--server PATH] [--port P] [--args "..."] [--raw]
#     strace -c -f over a 5 s run (loadgen --warmup 0: its message count covers the whole run);
#     prints epoll_wait, recvfrom, sendto, sendmsg, epoll_ctl ... per message. --raw measures the
#     harness's raw TCP echo (servers/raw_echo.cpp) instead, the baseline of scenario a.
#
# The load is scenario a's unless --args says otherwise: 100 connections, 16 B text, 8 in flight.
# Output files stay in $WSX_PROFILE_DIR (default /tmp/wsx-echo-profile).
# Without --server, echo_server is built in a directory of this script's own,
# $WSX_ECHO_PROFILE_BUILD_DIR (default build-profile), configured Release with tests and
# benchmarks off: a developer's build-rel (tests on, another build type) is left as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
mode=${1:-}
[[ $mode == callgrind || $mode == strace ]] || {
  sed -n '2,19p' "$0" >&2
  exit 2
}
shift
server="" port=19490 raw=0
load="--conns 100 --size 16 --text --pipeline 8"
while (($#)); do
  case $1 in
    --server) server=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --args) load=$2; shift 2 ;;
    --raw) raw=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
out=${WSX_PROFILE_DIR:-/tmp/wsx-echo-profile}
mkdir -p "$out"
build=${WSX_ECHO_PROFILE_BUILD_DIR:-build-profile}
harness=${WSX_HARNESS:-$repo/../shared/bench}
[[ -d $harness ]] || harness=$(git rev-parse --path-format=absolute --git-common-dir)/../../shared/bench
loadgen=$out/loadgen
[[ -x $loadgen ]] || g++ -std=c++20 -O2 -o "$loadgen" "$harness/loadgen/loadgen.cpp" -lz
if ((raw)); then
  [[ -x $out/raw_echo ]] || g++ -std=c++20 -O2 -o "$out/raw_echo" "$harness/servers/raw_echo.cpp"
  server_cmd=("$out/raw_echo" "$port")
else
  if [[ -z $server ]]; then
    cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DWSX_TESTS=OFF -DWSX_BENCH=OFF \
      >/dev/null
    cmake --build "$build" --target echo_server >/dev/null
    server=$build/examples/echo_server
  fi
  server_cmd=("$server" --port "$port" --threads 1)
fi
if ss -ltn | grep -q ":$port "; then
  echo "port $port is taken (--port)" >&2
  exit 1
fi
# Waits until the server started as $1 (valgrind itself, or strace's child) listens on $port.
# Someone else's server on that port must not be profiled in its place: if ours exits (address in
# use, a bad option) or another process listens there too, this fails and says so.
wait_for_server() {
  local launcher=$1 pid listeners line mine ours
  for _ in $(seq 150); do
    if ! kill -0 "$launcher" 2>/dev/null; then
      echo "the server exited before it listened on $port; its output ($out/server.log):" >&2
      tail -n 5 "$out/server.log" >&2
      return 1
    fi
    listeners=$(ss -ltnpH "sport = :$port")
    if [[ -n $listeners ]]; then
      mapfile -t ours < <(echo "$launcher"; pgrep -P "$launcher")
      while read -r line; do
        mine=0
        for pid in "${ours[@]}"; do [[ $line == *"pid=$pid,"* ]] && mine=1; done
        if ((!mine)); then
          echo "port $port is listened on by a process this script did not start:" >&2
          echo "$line" >&2
          return 1
        fi
      done <<<"$listeners"
      return 0
    fi
    sleep 0.2
  done
  echo "the server did not listen on $port; its output ($out/server.log):" >&2
  tail -n 5 "$out/server.log" >&2
  return 1
}

if [[ $mode == callgrind ]]; then
  rm -f "$out"/callgrind.out.*
  valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out.%p" "${server_cmd[@]}" \
    >"$out/server.log" 2>&1 &
  valgrind_pid=$!
  wait_for_server "$valgrind_pid" || { kill -TERM "$valgrind_pid" 2>/dev/null; exit 1; }
  # shellcheck disable=SC2086 # $load is a list of arguments
  "$loadgen" --port "$port" --mode echo $load --duration 12 --warmup 1 >"$out/loadgen.json" &
  loadgen_pid=$!
  sleep 4
  callgrind_control -z "$valgrind_pid" >/dev/null 2>&1
  sleep 6
  callgrind_control -d "$valgrind_pid" >/dev/null 2>&1
  wait "$loadgen_pid"
  kill -TERM "$valgrind_pid"
  wait "$valgrind_pid" || true
  dump=$(ls "$out"/callgrind.out.*.1)
  /usr/bin/python3 - "$dump" <<'EOF'
import re, subprocess, sys
path = sys.argv[1]
names, calls, callee, total = {}, 0, None, 0
for line in open(path):
    m = re.match(r'(c?fn)=\((\d+)\)(?: (.*))?$', line.rstrip('\n'))
    if m:
        kind, ident, name = m.groups()
        if name:
            names[ident] = name
        if kind == 'cfn':
            callee = names.get(ident, '')
    elif line.startswith('calls=') and callee and 'WebSocket::send(' in callee:
        calls += int(line[6:].split()[0])
    elif line.startswith(('summary:', 'totals:')):
        total = int(line.split()[1])
if calls == 0:
    sys.exit('no WebSocket::send calls in the dump')
print(f'{total / calls:.1f} instructions per message ({total} over {calls} messages)')
report = subprocess.run(['callgrind_annotate', '--threshold=100', path], capture_output=True,
                        text=True).stdout
rows = [l for l in report.splitlines() if re.match(r'\s*[\d,]+ \(', l)]
print('per message, by function (self):')
for row in rows[1:40]:
    count, rest = row.split(None, 1)
    cost = int(count.replace(',', '')) / calls
    if cost >= total / calls * 0.99:
        continue  # main, run(): the whole program
    print(f'{cost:8.1f}  {rest.split(")", 1)[-1].strip()[:110]}')
EOF
else
  strace -c -f -o "$out/strace.txt" "${server_cmd[@]}" >"$out/server.log" 2>&1 &
  strace_pid=$!
  wait_for_server "$strace_pid" || { kill -TERM "$(pgrep -P "$strace_pid")" 2>/dev/null; exit 1; }
  rawflag=()
  ((raw)) && rawflag=(--raw)
  # shellcheck disable=SC2086
  "$loadgen" --port "$port" "${rawflag[@]}" --mode echo $load --duration 5 --warmup 0 \
    >"$out/loadgen.json"
  kill -TERM "$(pgrep -P "$strace_pid")"  # the server: strace itself ignores the signal
  wait "$strace_pid" || true
  messages=$(/usr/bin/python3 -c "import json; print(json.load(open('$out/loadgen.json'))['msgs'])")
  echo "$messages messages"
  awk -v m="$messages" '$NF ~ /^(epoll_wait|epoll_ctl|recvfrom|read|readv|sendto|sendmsg|write|writev|total)$/ {
    printf "%-12s %10d  %.4f per message\n", $NF, $4, $4 / m }' "$out/strace.txt"
fi

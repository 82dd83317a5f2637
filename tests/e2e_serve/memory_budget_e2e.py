#!/usr/bin/python3
"""The server's memory ceiling under abuse: memory_budget_e2e.py WSX_BINARY [options].

Starts `wsx serve` (a separate process, 127.0.0.1 port 0) with --max-buffered BUDGET, then
loads it with:
  - ABUSERS raw clients that send and never read: half send 1 MiB messages back to back (their
    echoes pile up), half send 16 MiB messages (the server assembles them); a closed one
    reconnects, so the pressure stays;
  - NORMAL clients that echo a 16-byte message, one round trip after the other.
It samples the server's VmRSS and CPU time (/proc/PID/status, /proc/PID/stat) every 50 ms and
its close codes (/metrics) every 0.5 s, and runs until the budget has acted (the server closed
abusers with 1013), every normal client completed MIN_TRIPS round trips since then, and at
least SECONDS passed; or until MAX_SECONDS, which fails. It checks that RSS stays under
BUDGET + MARGIN, that no normal client was closed, and that none waited for an echo while the
server spent more than MAX_GAP_CPU seconds of CPU time (on the abusers): a server that stops
serving the normal clients, or serves them only after the abusers, fails that however loaded
the machine is, where a wall-clock bound would also fail a fair server that got little CPU.
Exit 0: passed, 1: failed.

The margin (96 MiB by default) covers what the budget does not count: the process itself
(7 MiB in a Release build, 20 MiB under AddressSanitizer), AddressSanitizer's shadow memory and
quarantine (kept at 16 MiB here), the per-thread pool of large buffers (up to 16 MiB), and the
allocator's slack. Measured on a 2-core machine with a 64 MiB budget: peak RSS 73 MiB in a
Release build, 104 MiB under AddressSanitizer; without the budget, 280 MiB after 8 s and rising.

With --measure it only reports (peak RSS, round trips, gaps, abuser reconnects) and stops the
load early when RSS passes --abort-rss, for comparing builds (a server without a ceiling would
otherwise take gigabytes).
"""
import argparse
import bisect
import os
import re
import selectors
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request

MIB = 1024 * 1024
HANDSHAKE = (b"GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
             b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             b"Sec-WebSocket-Version: 13\r\n\r\n")


def frame_header(opcode, length):
    """A client frame header, FIN set, masked with the key 0 (the payload goes as it is)."""
    first = 0x80 | opcode
    if length < 126:
        return struct.pack("!BB", first, 0x80 | length) + b"\0\0\0\0"
    if length < 65536:
        return struct.pack("!BBH", first, 0x80 | 126, length) + b"\0\0\0\0"
    return struct.pack("!BBQ", first, 0x80 | 127, length) + b"\0\0\0\0"


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pid):
    """The process's CPU time so far, user and system, all threads (/proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def closes_sent(port, code):
    """How many close frames with `code` the server sent (its /metrics), None if unknown."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as reply:
            text = reply.read().decode()
    except OSError:
        return None
    match = re.search(r'^wsx_close_codes_sent_total\{code="%d"\} (\d+)' % code, text, re.M)
    return int(match.group(1)) if match else 0


class CpuClock:
    """The server's CPU time as a function of wall-clock time, from the samples."""

    def __init__(self):
        self.times, self.cpu = [], []  # monotonic times, CPU seconds then

    def add(self, at, cpu):
        self.times.append(at)
        self.cpu.append(cpu)

    def last(self):
        return self.cpu[-1] if self.cpu else 0.0

    def at(self, when):
        """CPU seconds at monotonic time `when` (linear between samples)."""
        if not self.times:
            return 0.0
        i = bisect.bisect_left(self.times, when)
        if i == 0:
            return self.cpu[0]
        if i == len(self.times):
            return self.cpu[-1]
        t0, t1, c0, c1 = self.times[i - 1], self.times[i], self.cpu[i - 1], self.cpu[i]
        return c0 + (c1 - c0) * (when - t0) / (t1 - t0) if t1 > t0 else c1


class Abusers:
    """Raw clients on one selector thread: handshake, then write forever, never read."""

    def __init__(self, port, count, stop):
        self.port, self.stop = port, stop
        self.selector = selectors.DefaultSelector()
        big = frame_header(2, 16 * MIB) + bytes(16 * MIB)
        small = frame_header(2, MIB) + bytes(MIB)
        self.streams = [memoryview(small if i % 2 == 0 else big) for i in range(count)]
        self.connects = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def open(self, index):
        sock = socket.socket()
        # A small receive window: what the server sends stays in its own memory instead of
        # filling megabytes of socket buffers first, so the test needs less time and CPU.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        # A small send buffer too: the kernel's own socket memory stays low (under TCP memory
        # pressure the kernel would slow every connection, the normal clients' as well).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", self.port))
        self.connects += 1
        # state: [phase, bytes of the handshake sent / bytes of the stream sent, response]
        state = {"index": index, "phase": "connect", "offset": 0, "head": b""}
        self.selector.register(sock, selectors.EVENT_WRITE, state)

    def reopen(self, sock, state):
        self.selector.unregister(sock)
        sock.close()
        if not self.stop.is_set():
            self.open(state["index"])

    def run(self):
        for i in range(len(self.streams)):
            self.open(i)
        while not self.stop.is_set():
            for key, _ in self.selector.select(timeout=0.1):
                sock, state = key.fileobj, key.data
                try:
                    self.step(sock, state)
                except OSError:
                    self.reopen(sock, state)
        for key in list(self.selector.get_map().values()):
            key.fileobj.close()

    def step(self, sock, state):
        if state["phase"] == "connect":
            sent = sock.send(HANDSHAKE[state["offset"]:])
            state["offset"] += sent
            if state["offset"] == len(HANDSHAKE):
                state["phase"] = "response"
                self.selector.modify(sock, selectors.EVENT_READ, state)
        elif state["phase"] == "response":
            chunk = sock.recv(4096)
            if not chunk:
                raise OSError("closed during the handshake")
            state["head"] += chunk
            if b"\r\n\r\n" in state["head"]:
                if not state["head"].startswith(b"HTTP/1.1 101"):
                    raise OSError("refused")
                state["phase"], state["offset"] = "flood", 0
                self.selector.modify(sock, selectors.EVENT_WRITE, state)
        else:
            stream = self.streams[state["index"]]
            sent = sock.send(stream[state["offset"]:])
            state["offset"] = (state["offset"] + sent) % len(stream)


class NormalClient:
    """One echo round trip after the other, 16 bytes each; records when each one completed."""

    def __init__(self, port, stop):
        self.port, self.stop = port, stop
        self.done = []  # monotonic times of completed round trips
        self.error = None
        self.thread = threading.Thread(target=self.run, daemon=True)

    def read_exact(self, sock, n):
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise OSError("connection closed by the server")
            data += chunk
        return data

    def run(self):
        try:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
            sock.sendall(HANDSHAKE)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = sock.recv(4096)
                if not chunk:
                    raise OSError("closed during the handshake")
                head += chunk
            if not head.startswith(b"HTTP/1.1 101"):
                raise OSError("handshake refused: %r" % head[:40])
            payload = b"0123456789abcdef"
            message = frame_header(1, len(payload)) + payload
            while not self.stop.is_set():
                sock.sendall(message)
                header = self.read_exact(sock, 2)
                if header[0] & 0x0F != 1 or header[1] != len(payload):
                    raise OSError("unexpected frame %r" % header)
                if self.read_exact(sock, len(payload)) != payload:
                    raise OSError("wrong echo")
                self.done.append(time.monotonic())
            sock.close()
        except OSError as error:
            if not self.stop.is_set():
                self.error = str(error)


def abuse(args):
    """The abusers' process (the GIL would otherwise slow the normal clients): until stdin
    closes or --seconds pass, then prints how many connections it opened."""
    stop = threading.Event()
    abusers = Abusers(args.abuse_port, args.abusers, stop)
    abusers.thread.start()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    stop.wait(args.seconds + 5)
    stop.set()
    abusers.thread.join(10)
    print(abusers.connects, flush=True)
    return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("wsx")
    parser.add_argument("--budget", type=int, default=64 * MIB)
    parser.add_argument("--margin", type=int, default=96 * MIB)
    parser.add_argument("--abusers", type=int, default=200)
    parser.add_argument("--normal", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--max-seconds", type=float, default=60)
    parser.add_argument("--min-trips", type=int, default=10)
    parser.add_argument("--max-gap-cpu", type=float, default=5.0)
    parser.add_argument("--measure", action="store_true")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--abort-rss", type=int, default=4096 * MIB)
    parser.add_argument("--server-args", default="")
    parser.add_argument("--abuse-port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.abuse_port:
        return abuse(args)

    env = dict(os.environ)
    # Under AddressSanitizer freed blocks wait in a quarantine (256 MiB by default) that would
    # count as RSS; a small one keeps the checks and measures what the server holds.
    env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=16"
    command = [args.wsx, "serve", "--listen", "127.0.0.1:0", "--quiet", "--metrics"]
    if args.budget >= 0:
        command += ["--max-buffered", str(args.budget)]
    command += args.server_args.split()
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    port = None
    for line in server.stderr:
        match = re.search(r"listening on \S+?:(\d+)", line)
        if match:
            port = int(match.group(1))
            break
    if port is None:
        server.kill()
        print("FAIL: no 'listening on' line")
        return 1
    # The rest of its stderr is drained (shown with --verbose).
    threading.Thread(target=lambda: [args.verbose and print("server:", line, end="")
                                     for line in server.stderr], daemon=True).start()

    baseline = rss_bytes(server.pid)
    stop = threading.Event()
    normals = [NormalClient(port, stop) for _ in range(args.normal)]
    for client in normals:
        client.thread.start()
    # The abusers' process runs until told (stdin closes), at most --max-seconds.
    abusers = subprocess.Popen(
        [sys.executable, __file__, args.wsx, "--abuse-port", str(port), "--abusers",
         str(args.abusers), "--seconds", str(args.seconds if args.measure else args.max_seconds)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    started = time.monotonic()
    cpu = CpuClock()
    peak, peak_at, aborted = baseline, 0.0, False
    acted_at, next_scrape, closes = None, started, 0

    def enough():
        """The run has shown what it checks: the budget acted, the normal clients went on."""
        if time.monotonic() - started < args.seconds or acted_at is None:
            return False
        return all(sum(1 for t in c.done if t > acted_at) >= args.min_trips for c in normals)

    while True:
        elapsed = time.monotonic() - started
        if args.measure and elapsed >= args.seconds:
            break
        if not args.measure and (elapsed >= args.max_seconds or enough()):
            break
        time.sleep(0.05)
        if server.poll() is not None:
            break
        rss = rss_bytes(server.pid)
        now = time.monotonic()
        cpu.add(now, cpu_seconds(server.pid))
        if rss > peak:
            peak, peak_at = rss, now - started
        if args.verbose:
            print("%.2f s RSS %.1f MiB CPU %.2f s" % (now - started, rss / MIB, cpu.last()))
        if rss > args.abort_rss or (not args.measure and rss > args.budget + args.margin):
            aborted = True
            break
        if now >= next_scrape:
            next_scrape = now + 0.5
            closes = closes_sent(port, 1013) or closes
            if closes and acted_at is None:
                acted_at = time.monotonic()
    ended = time.monotonic()
    if server.poll() is None:
        cpu.add(ended, cpu_seconds(server.pid))
    stop.set()
    try:
        connects = int(abusers.communicate(input="", timeout=20)[0] or 0)
    except subprocess.TimeoutExpired:
        abusers.kill()
        abusers.wait()
        connects = -1
    for client in normals:
        client.thread.join(10)
    exit_code = server.poll()
    if exit_code is None:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()

    trips = [len(c.done) for c in normals]
    after_acting = [sum(1 for t in c.done if acted_at is not None and t > acted_at)
                    for c in normals]
    # The longest wait of a normal client for an echo, in wall-clock time and in the server's
    # CPU time spent meanwhile.
    gap, gap_cpu, gap_at = 0.0, 0.0, 0.0
    for client in normals:
        times = [started] + client.done + [ended]
        for a, b in zip(times, times[1:]):
            spent = cpu.at(b) - cpu.at(a)
            gap = max(gap, b - a)
            if spent > gap_cpu:
                gap_cpu, gap_at = spent, a - started
    print("budget %.0f MiB, baseline RSS %.1f MiB, peak RSS %.1f MiB at %.1f s%s" %
          (args.budget / MIB, baseline / MIB, peak / MIB, peak_at,
           " (stopped early: over the bound)" if aborted else ""))
    print("ran %.1f s, server CPU %.1f s; 1013 closes %d (first seen at %s); abuser connects %d" %
          (ended - started, cpu.at(ended) - cpu.at(started), closes,
           "%.1f s" % (acted_at - started) if acted_at is not None else "never", connects))
    print("normal clients: round trips min %d median %d (min %d after the first 1013); longest "
          "wait for an echo %.2f s, %.2f s of server CPU (from %.1f s)" %
          (min(trips), sorted(trips)[len(trips) // 2], min(after_acting), gap, gap_cpu, gap_at))
    if args.measure:
        return 0
    failures = []
    if exit_code is not None:
        failures.append("the server exited (%s) under load" % exit_code)
    if peak > args.budget + args.margin:
        failures.append("peak RSS %.1f MiB is over budget + margin (%.0f MiB)" %
                        (peak / MIB, (args.budget + args.margin) / MIB))
    for i, client in enumerate(normals):
        if client.error:
            failures.append("normal client %d failed: %s" % (i, client.error))
    if acted_at is None:
        failures.append("the budget never closed an abuser with 1013 in %.0f s" % args.max_seconds)
    elif min(after_acting) < args.min_trips:
        failures.append("a normal client completed only %d round trips once the budget acted "
                        "(%d wanted, %.0f s)" % (min(after_acting), args.min_trips,
                                                 ended - started))
    if gap_cpu > args.max_gap_cpu:
        failures.append("a normal client waited for an echo while the server spent %.2f s of "
                        "CPU (max %.1f)" % (gap_cpu, args.max_gap_cpu))
    for failure in failures:
        print("FAIL:", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""End-to-end tests of `wsx serve --broadcast-stdin` and `--exec`: scripts_e2e.py WSX CASE.

Each case starts its own server on 127.0.0.1 port 0, waits on events (lines on stderr,
messages, /proc entries) with a deadline each, and kills the server at the end.
Exit 0: passed, 1: failed.
"""
import asyncio
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

import websockets

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import wsx_e2e  # noqa: E402

WSX = sys.argv[1]
TIMEOUT = 15
TEXT = "héllo 日本 ✓"


class Serve(wsx_e2e.Serve):
    """A running `wsx serve` (tests/support/wsx_e2e.py) with stdin a pipe."""

    def __init__(self, *args):
        super().__init__(WSX, *args, stdin=True, timeout=TIMEOUT)


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, TIMEOUT * 2))


def script(directory, name, body):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body)
    os.chmod(path, 0o755)
    return path


def wait_until(predicate, what, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(0.05)


def process_group_members(pgid):
    """Pids whose process group is pgid (zombies included: they still have /proc entries)."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # after ")": state, ppid, pgrp
            members.append(int(entry))
    return members


async def expect_close(ws, code, reason=None):
    try:
        extra = await asyncio.wait_for(ws.recv(), TIMEOUT)
        raise AssertionError("expected close %d, got a message %r" % (code, extra))
    except websockets.exceptions.ConnectionClosed:
        pass
    check(ws.close_code == code, "close code %r, expected %d (reason %r)"
          % (ws.close_code, code, ws.close_reason))
    if reason is not None:
        check(ws.close_reason == reason, "close reason %r, expected %r"
              % (ws.close_reason, reason))


# ---- cases -------------------------------------------------------------------------------

def case_broadcast_stdin():
    with Serve("--broadcast-stdin", "--path", "/feed") as serve:
        async def talk():
            async with websockets.connect(serve.url("/feed")) as a, \
                    websockets.connect(serve.url("/feed/sub")) as b:
                # Both handshakes answered: both clients are subscribed.
                check(serve.wait_line(r'"GET /feed(/sub)?" 101', count=2), "two access lines")
                serve.process.stdin.write(TEXT.encode() + b"\nsecond\n\xff\xfe binary\n")
                serve.process.stdin.flush()
                for ws in (a, b):
                    check(await ws.recv() == TEXT, "UTF-8 line intact")
                    check(await ws.recv() == "second", "lines in order")
                    got = await ws.recv()
                    check(got == b"\xff\xfe binary", "invalid UTF-8 as binary: %r" % got)
                await a.send("from a " + TEXT)
                check(serve.wait_line(re.escape("from a " + TEXT), into=serve.out),
                      "a client's message on stdout: %r" % serve.out)
                serve.process.stdin.write(b"last without newline")
                serve.process.stdin.close()  # EOF: the server keeps serving
                check(await a.recv() == "last without newline", "last line sent at EOF")
                check(serve.wait_line(r"stdin closed; still serving"), "EOF noted")
                async with websockets.connect(serve.url("/feed")) as c:
                    await c.send("after EOF")
                    check(serve.wait_line("^after EOF$", into=serve.out), "still serving")
        run(talk())
        check(serve.stop() == 0, "exit 0")


def case_exec_echo():
    with Serve("--exec", "cat", "--path", "/cat") as serve:
        async def talk():
            async with websockets.connect(serve.url("/cat")) as ws:
                await ws.send(TEXT)
                check(await ws.recv() == TEXT, "round trip through cat")
                for i in range(100):
                    await ws.send("line %d" % i)
                for i in range(100):
                    check(await ws.recv() == "line %d" % i, "in order")
                big = "x" * 300000
                await ws.send(big)
                check(await ws.recv() == big, "a 300 kB line")
        run(talk())
        check(serve.stop() == 0, "exit 0")


def case_exec_binary():
    with Serve("--exec", "cat", "--path", "/raw", "--exec-binary") as serve:
        async def talk():
            async with websockets.connect(serve.url("/raw")) as ws:
                await ws.send(b"\x00\xff no newline")
                got = await ws.recv()
                check(got == b"\x00\xff no newline", "bytes as is, binary: %r" % got)
        run(talk())


def case_exec_env():
    with tempfile.TemporaryDirectory() as directory:
        path = script(directory, "env.sh",
                      'for v in REMOTE_ADDR REMOTE_PORT QUERY_STRING SCRIPT_NAME PATH_INFO '
                      'SERVER_PORT REQUEST_METHOD HTTP_X_TEST HTTP_PROXY HTTP_X_EVIL; do\n'
                      '  eval "echo $v=\\${$v-unset}"\ndone\n'
                      'echo fds $(ls /proc/self/fd)\n')
        with Serve("--exec", path, "--path", "/env") as serve:
            async def talk():
                async with websockets.connect(
                        serve.url("/env/sub?x=1&y=%20"),
                        extra_headers={"X-Test": "hi there", "Proxy": "http://evil:1",
                                       "X_Evil": "1"}) as ws:
                    local_port = ws.local_address[1]
                    lines = {}
                    fds = None
                    for _ in range(11):
                        line = await ws.recv()
                        if line.startswith("fds "):
                            fds = line.split()[1:]
                        else:
                            name, _, value = line.partition("=")
                            lines[name] = value
                    await expect_close(ws, 1000)
                    return lines, fds, local_port
            lines, fds, local_port = run(talk())
            expected = {"REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": str(local_port),
                        "QUERY_STRING": "x=1&y=%20", "SCRIPT_NAME": "/env",
                        "PATH_INFO": "/sub", "SERVER_PORT": str(serve.port),
                        "REQUEST_METHOD": "GET", "HTTP_X_TEST": "hi there",
                        "HTTP_PROXY": "unset", "HTTP_X_EVIL": "unset"}
            check(lines == expected, "environment %r, expected %r" % (lines, expected))
            # ls's own fds: 0, 1, 2 and the directory it reads. Any other is a leak.
            check(fds is not None and len(fds) <= 4 and set(fds[:3]) == {"0", "1", "2"},
                  "file descriptors in the process: %r" % fds)


def case_exec_exit():
    with tempfile.TemporaryDirectory() as directory:
        failing = script(directory, "fail.sh", "echo one\necho two\nprintf three\nexit 3\n")
        with Serve("--exec", failing, "--path", "/fail") as serve:
            async def talk():
                async with websockets.connect(serve.url("/fail")) as ws:
                    for expected in ("one", "two", "three"):
                        check(await ws.recv() == expected, "output before the close")
                    await expect_close(ws, 1011, "exit status 3")
            run(talk())
            check(serve.wait_line(r"\] exit status 3$"), "the exit on stderr")
        # Much output, then exit 0 at once: all of it arrives before the close 1000.
        with Serve("--exec", "seq 1 20000", "--path", "/seq") as serve:
            async def talk():
                async with websockets.connect(serve.url("/seq")) as ws:
                    for i in range(1, 20001):
                        got = await ws.recv()
                        if got != str(i):
                            raise AssertionError("message %d is %r" % (i, got))
                    await expect_close(ws, 1000)
            run(talk())


def case_exec_stderr():
    # Also the word splitting: '...', "..." and a backslash, no shell in between.
    command = """sh -c 'echo "oops $1|$2" >&2; echo out' sh "a  b" c\\ d"""
    with Serve("--exec", command, "--path", "/e") as serve:
        async def talk():
            async with websockets.connect(serve.url("/e")) as ws:
                check(await ws.recv() == "out", "stdout is the message")
                await expect_close(ws, 1000)
        run(talk())
        check(serve.wait_line(r"^wsx serve: \[\d+ 127\.0\.0\.1:\d+\] oops a  b\|c d$"),
              "stderr prefixed: %r" % serve.lines)


def disconnect_kills(serve, path):
    async def talk():
        ws = await websockets.connect(serve.url(path))
        pid = int(await ws.recv())
        check(os.path.exists("/proc/%d" % pid), "the process runs")
        await ws.close()
        return pid
    pid = run(talk())
    # Gone from /proc means killed and reaped (a zombie keeps its entry), with its group.
    wait_until(lambda: not process_group_members(pid), "process group %d to end" % pid)
    return pid


def case_exec_disconnect():
    with tempfile.TemporaryDirectory() as directory:
        plain = script(directory, "wait.sh", "echo $$\nexec sleep 600\n")
        # Ignores SIGTERM and has a child in its group: SIGKILL after the grace ends both.
        stubborn = script(directory, "stubborn.sh",
                          "trap '' TERM\necho $$\nsleep 600 &\nwhile :; do sleep 1; done\n")
        with Serve("--exec", plain, "--path", "/wait") as serve:
            pid = disconnect_kills(serve, "/wait")
            check(serve.wait_line(r"\[%d 127.0.0.1:\d+\] killed by signal 15 \(connection "
                                  r"closed\)" % pid), "SIGTERM: %r" % serve.lines)
        with Serve("--exec", stubborn, "--path", "/stubborn") as serve:
            pid = disconnect_kills(serve, "/stubborn")
            check(serve.wait_line(r"\[%d 127.0.0.1:\d+\] killed by signal 9" % pid),
                  "SIGKILL after the grace: %r" % serve.lines)
            check(serve.stop() == 0, "exit 0")


async def connect_when_free(url):
    """Connects, retrying on 503 while processes of closed connections are being reaped."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            return await websockets.connect(url)
        except websockets.exceptions.InvalidStatusCode as error:
            check(error.status_code == 503 and time.monotonic() < deadline,
                  "no free slot: %s" % error)
            await asyncio.sleep(0.05)


def case_exec_limit():
    with Serve("--exec", "cat", "--path", "/cat", "--max-processes", "2") as serve:
        async def talk():
            a = await websockets.connect(serve.url("/cat"))
            b = await websockets.connect(serve.url("/cat"))
            try:
                await websockets.connect(serve.url("/cat"))
                raise AssertionError("a third process was started")
            except websockets.exceptions.InvalidStatusCode as error:
                check(error.status_code == 503, "status %d" % error.status_code)
                check(error.headers.get("Retry-After") == "1", "Retry-After: %r"
                      % error.headers)
            await a.send("a")
            check(await a.recv() == "a", "the others still work")
            await a.close()
            # The slot comes back once a's process is reaped.
            c = await connect_when_free(serve.url("/cat"))
            await c.send("c")
            check(await c.recv() == "c", "a new process once one ended")
            await b.close()
            await c.close()
        run(talk())
        # Processes of connections still open when the server stops are ended too.
        async def stop_while_open():
            ws = await connect_when_free(serve.url("/cat"))
            await ws.send("x")
            await ws.recv()
            serve.process.send_signal(signal.SIGTERM)
            await expect_close(ws, 1001)
        run(stop_while_open())
        check(serve.stop() == 0, "exit 0")
        # cat may see its stdin close before SIGTERM arrives: either way it is gone.
        check(serve.wait_line(r"\] (killed by signal 15|exit status 0) \(connection closed\)",
                              count=4), "every cat ended: %r" % serve.lines)


def case_exec_csrf():
    # --csrf protects the --exec route like /echo: no token, 403; a refusal takes no slot of
    # --max-processes and starts no process.
    with Serve("--csrf", "--exec", "cat", "--path", "/cat", "--max-processes", "1") as serve:
        async def talk():
            for _ in range(3):  # more than --max-processes: no slot is taken by a refusal
                try:
                    await websockets.connect(serve.url("/cat"))
                    raise AssertionError("accepted without a CSRF token")
                except websockets.exceptions.InvalidStatusCode as error:
                    check(error.status_code == 403, "status %d" % error.status_code)
        run(talk())
        check(serve.wait_line(r'"GET /cat" 403', count=3), "three 403: %r" % serve.lines)
        check(not serve.wait_line(r"\] started", timeout=0.5), "no process started")
        check(serve.stop() == 0, "exit 0")


def case_exec_missing():
    def usage(*args):
        result = subprocess.run([WSX, "serve", "--listen", "127.0.0.1:0", *args],
                                capture_output=True, text=True, timeout=TIMEOUT)
        return result.returncode, result.stderr
    code, err = usage("--exec", "no-such-command-wsx", "--path", "/x")
    check(code == 2 and "no-such-command-wsx: no such executable in PATH" in err,
          "missing command: %d %r" % (code, err))
    code, err = usage("--exec", "./not/here.sh")
    check(code == 2 and "./not/here.sh: no such executable\n" in err, "missing path: %r" % err)
    code, err = usage("--exec", "echo 'unterminated")
    check(code == 2 and "unterminated quote" in err, "bad quoting: %r" % err)
    code, err = usage("--max-processes", "3")
    check(code == 2, "--max-processes without --exec: %d" % code)
    code, err = usage("--path", "/x")
    check(code == 2 and "--path goes with --exec or --broadcast-stdin" in err,
          "--path alone: %d %r" % (code, err))
    code, err = usage("--exec", "cat", "--broadcast-stdin")
    check(code == 2, "--exec with --broadcast-stdin: %d" % code)
    code, err = usage("--exec", "cat", "--path", "/echo")
    check(code == 2 and "--path /echo" in err, "--path /echo: %r" % err)
    # Executable but not runnable (its interpreter is missing): close 1011 with the reason.
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "broken")
        with open(path, "w") as f:
            f.write("#!/no/such/interpreter\n")
        os.chmod(path, 0o755)
        with Serve("--exec", path, "--path", "/broken") as serve:
            async def talk():
                async with websockets.connect(serve.url("/broken")) as ws:
                    await expect_close(ws, 1011)
                    check(ws.close_reason.startswith("cannot run %s: No such file"
                                                     % path[:40]),
                          "reason %r" % ws.close_reason)
            run(talk())
            check(serve.wait_line(r"cannot run .*broken: No such file or directory"),
                  "the failure on stderr: %r" % serve.lines)


if __name__ == "__main__":
    sys.exit(wsx_e2e.run_case(globals()["case_" + sys.argv[2]], sys.argv[2]))

"""What the end-to-end tests of the `wsx` command share: a running `wsx serve` whose port is read
from its "listening on" line, a raw HTTP exchange, free and refused ports, and child processes
that cannot outlive the test or pick up the developer's proxy.

The scripts under tests/e2e*/ add this directory to sys.path and import what they need.
Importing this module removes the *_proxy / no_proxy variables from this process's environment
(see drop_proxy_variables), so no child started in any way inherits them.
"""
import ctypes
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

# wsx connect and wsx bench honour these as curl does (src/client/proxy_environment.cpp). A
# developer who has a proxy set would otherwise send the tests' loopback traffic to it.
PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                   "ALL_PROXY", "no_proxy", "NO_PROXY")


def drop_proxy_variables():
    for name in PROXY_VARIABLES:
        os.environ.pop(name, None)


drop_proxy_variables()


def environment(**extra):
    """This process's environment (without proxy variables) with `extra` added."""
    env = {k: v for k, v in os.environ.items() if k not in PROXY_VARIABLES}
    env.update(extra)
    return env


def orphan_proof():
    """In the child (preexec_fn): own process group, and killed when the test runner dies."""
    os.setsid()
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


_refusing = []  # the sockets behind refused_port(), held until this process exits


def refused_port():
    """A loopback port where connections are refused: bound but never listening (the kernel
    answers a SYN with RST), and held until the test process exits, so that no other process
    can take it meanwhile. A port bound and closed again (free_port) may become another
    connection's ephemeral port in between, and the test would reach a stranger. As
    tests/support/refused_port.hpp does for the C++ tests."""
    refusing = socket.socket()  # no SO_REUSEADDR: nobody else can bind it while held
    refusing.bind(("127.0.0.1", 0))
    _refusing.append(refusing)
    return refusing.getsockname()[1]


def http_exchange(port, request, host="127.0.0.1", source=None, timeout=10):
    """Sends raw request text (or bytes) and reads until the server closes: (status, headers with
    lower-case names, body bytes). `source` binds the client to that local address first."""
    if isinstance(request, str):
        request = request.encode("latin-1")
    with socket.create_connection((host, port), timeout=timeout,
                                  source_address=(source, 0) if source else None) as connection:
        connection.sendall(request)
        data = b""
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(lines[0].split(" ")[1]), headers, body


class Serve:
    """A running `wsx serve --listen LISTEN ARGS`: its stderr lines (`lines`) and stdout lines
    (`out`) are collected on threads, ending with None at EOF; `port` is the one it reported.
    With stdin=True, process.stdin is a pipe (for --broadcast-stdin); else /dev/null."""

    def __init__(self, wsx, *args, listen="127.0.0.1:0", stdin=False, timeout=10, name="wsx serve"):
        self.timeout = timeout
        self.name = name
        command = [wsx, "serve", "--listen", listen, *args]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment())
        self.lines = []
        self.out = []
        self.changed = threading.Condition()
        for stream, into in ((self.process.stderr, self.lines), (self.process.stdout, self.out)):
            threading.Thread(target=self._collect, args=(stream, into), daemon=True).start()
        match = self.wait_line(r"listening on (\S+?):(\d+) ")
        if match is None:
            self.kill()
            raise AssertionError("%s: no 'listening on' line: %r" % (self.name, self.lines))
        self.port = int(match.group(2))
        self.started = time.monotonic()

    def _collect(self, stream, into):
        for line in stream:
            with self.changed:
                into.append(line.rstrip(b"\n").decode("utf-8", "replace"))
                self.changed.notify_all()
        with self.changed:
            into.append(None)  # EOF
            self.changed.notify_all()

    def wait_line(self, pattern, timeout=None, into=None, count=1):
        """The match of the count-th line of stderr (or `into`) that matches `pattern`, waiting
        for it until `timeout` or EOF; None if there is none."""
        into = self.lines if into is None else into
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        with self.changed:
            while True:
                found = [m for m in (re.search(pattern, line) for line in into
                                     if line is not None) if m]
                if len(found) >= count:
                    return found[count - 1]
                left = deadline - time.monotonic()
                if left <= 0 or (into and into[-1] is None):
                    return None
                self.changed.wait(left)

    def url(self, path):
        return "ws://127.0.0.1:%d%s" % (self.port, path)

    def stop(self, sig=signal.SIGTERM):
        """Signals the server and returns its exit status; fails if it does not exit in time."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(self.timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("%s did not exit within %ds" % (self.name, self.timeout))

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()


def run_case(case, name):
    """Runs case() for the scripts whose cases fail with AssertionError: prints the outcome and
    returns the exit status (0 passed, 1 failed)."""
    try:
        case()
    except AssertionError as error:
        print("FAILED %s: %s" % (name, error), file=sys.stderr)
        return 1
    print("passed", name)
    return 0

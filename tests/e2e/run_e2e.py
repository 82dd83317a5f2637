#!/usr/bin/python3
"""End-to-end tests of the `wsx` command: each case runs the real binary against a real server
on 127.0.0.1 (a free port chosen now) and checks its output and exit code.

    run_e2e.py --wsx PATH --echo-server PATH CASE     # one case (CTest runs each separately)
    run_e2e.py --wsx PATH --echo-server PATH --list   # the case names

Servers: examples/echo_server, `wsx serve`, the interop peers (tests/interop/py_server.py and
node_server.js, used as they are), and small raw-socket servers written here for what no real
server does on demand (drop the connection, send messages first for --echo). Every process is
started in its own session, dies with this script (PR_SET_PDEATHSIG) and is killed at the end;
every wait is bounded. Exit status: 0 passed, 1 failed, 77 skipped (a peer is not installed).
"""
import argparse
import base64
import hashlib
import json
import os
import pty
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "support"))
from wsx_e2e import environment, free_port, orphan_proof, refused_port  # noqa: E402  (drops *_proxy)
INTEROP = os.path.join(os.path.dirname(HERE), "interop")
PYTHON = "/usr/bin/python3"
SKIP = 77
RUN_TIMEOUT = 30  # seconds any single wsx run may take

# Exit codes of `wsx` (tools/wsx/commands.hpp).
EXIT_OK, EXIT_USAGE, EXIT_CONNECT_FAILED, EXIT_REFUSED, EXIT_ABNORMAL = 0, 2, 3, 4, 5


class Skip(Exception):
    pass


class Failure(Exception):
    pass


def check(condition, message, *details):
    if not condition:
        raise Failure(message + "".join("\n--- " + str(d) for d in details))


def wait_for_port(port, process, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise Failure("the server exited early with %s" % process.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise Failure("nothing accepted on port %d within %ds" % (port, timeout))


class Harness:
    def __init__(self, args):
        self.wsx = args.wsx
        self.echo_server = args.echo_server
        self.dir = tempfile.mkdtemp(prefix="wsx-e2e-")
        self.processes = []
        self.certs = None

    def close(self):
        for process in self.processes:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            process.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)

    # ---------------------------------------------------------------- servers

    def launch(self, argv):
        """Starts a server whose output goes to a log file: (process, path of the log)."""
        path = os.path.join(self.dir, "server-%d.log" % len(self.processes))
        with open(path, "w") as log:
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, preexec_fn=orphan_proof)
        self.processes.append(process)
        return process, path

    @staticmethod
    def wait_for_output(process, path, pattern, timeout=15):
        """The match of `pattern` in the server's output once it appears; Failure (with the
        output) if the server exits first or nothing matches within `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            exited = process.poll() is not None
            with open(path, errors="replace") as log:
                output = log.read()
            match = re.search(pattern, output)
            if match:
                return match
            if exited:
                raise Failure("the server exited early with %s: %s"
                              % (process.returncode, output[-500:]))
            if time.monotonic() > deadline:
                raise Failure("the server did not say %r within %ds" % (pattern, timeout))
            time.sleep(0.05)

    def start_on_any_port(self, argv, announced):
        """Starts a server told to listen on port 0 and returns the port it announces in its
        output (`announced`: a pattern whose group 1 is the port). A port picked beforehand
        (free_port) can be taken by another process before the server binds it."""
        process, path = self.launch(argv)
        port = int(self.wait_for_output(process, path, announced).group(1))
        wait_for_port(port, process)
        return port

    def start_retrying(self, argv_for_port, ready, attempts=5):
        """For a server that cannot announce a port it got from the kernel: a free port, and
        another one when the server exits because someone took that one in between. Started
        once it says `ready` (after its listen): a stranger on the port cannot pass for it."""
        for attempt in range(attempts):
            port = free_port()
            process, path = self.launch(argv_for_port(port))
            try:
                self.wait_for_output(process, path, ready)
            except Failure as failure:
                taken = "in use" in str(failure).lower() or "EADDRINUSE" in str(failure)
                if process.poll() is None or not taken or attempt + 1 == attempts:
                    raise
                continue
            wait_for_port(port, process)
            return port

    def echo(self, tls=False, compress=False):
        argv = [self.echo_server, "--host", "127.0.0.1", "--port", "0"]
        if tls:
            ca, cert, key = self.certificates()
            argv += ["--tls-cert", cert, "--tls-key", key]
        if compress:
            argv.append("--compress")
        return self.start_on_any_port(argv, r"echo_server listening on 127\.0\.0\.1:(\d+)")

    def serve(self, *extra):
        return self.start_on_any_port([self.wsx, "serve", "--listen", "127.0.0.1:0", *extra],
                                      r"wsx serve: listening on 127\.0\.0\.1:(\d+) ")

    def py_peer(self, *extra):
        if not os.path.exists(PYTHON) or subprocess.run(
                [PYTHON, "-c", "import websockets"], capture_output=True).returncode != 0:
            raise Skip("python3-websockets is not installed")
        script = os.path.join(INTEROP, "py_server.py")
        return self.start_retrying(lambda port: [PYTHON, script, "--port", str(port), *extra],
                                   r"(?m)^ready$")

    def node_peer(self, *extra):
        if shutil.which("node") is None or not os.path.isdir("/usr/share/nodejs/ws"):
            raise Skip("node and node-ws are not installed")
        script = os.path.join(INTEROP, "node_server.js")
        return self.start_retrying(lambda port: ["node", script, "--port", str(port), *extra],
                                   r"(?m)^ready$")

    def certificates(self):
        """A CA and a server certificate for 127.0.0.1 / localhost, made by the openssl CLI."""
        if self.certs:
            return self.certs
        if shutil.which("openssl") is None:
            raise Skip("the openssl command is not installed")
        d = self.dir
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]

        def openssl(*args):
            subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True, timeout=60)

        openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
                "-subj", "/CN=wsx e2e test CA", "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign")
        openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
        with open(os.path.join(d, "server.ext"), "w") as ext:
            ext.write("basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
                      "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
        openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", "server.pem", "-days", "1", "-extfile", "server.ext")
        self.certs = tuple(os.path.join(d, n) for n in ("ca.pem", "server.pem", "server.key"))
        return self.certs

    # ---------------------------------------------------------------- the client

    def connect(self, *args, stdin=b"", timeout=RUN_TIMEOUT):
        """Runs `wsx connect ARGS`; stdin is bytes (a pipe), or a path (a regular file)."""
        command = [self.wsx, "connect", *args]
        env = environment(NO_COLOR="1")
        if isinstance(stdin, str):
            with open(stdin, "rb") as source:
                result = subprocess.run(command, stdin=source, capture_output=True,
                                        timeout=timeout, env=env, preexec_fn=orphan_proof)
        else:
            result = subprocess.run(command, input=stdin, capture_output=True, timeout=timeout,
                                    env=env, preexec_fn=orphan_proof)
        result.out = result.stdout.decode("utf-8", "replace")
        result.err = result.stderr.decode("utf-8", "replace")
        result.show = "exit %d\nstdout:\n%s\nstderr:\n%s" % (result.returncode, result.out,
                                                             result.err)
        return result


def json_events(result):
    events = []
    for line in result.out.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            raise Failure("not a JSON line: %r" % line, result.show)
    return events


# -------------------------------------------------------------------- raw servers for odd cases

def accept_key(key):
    digest = hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()
    return base64.b64encode(digest).decode()


def raw_handshake(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        data += chunk
    key = ""
    for line in data.decode("latin-1").split("\r\n"):
        name, _, value = line.partition(":")
        if name.strip().lower() == "sec-websocket-key":
            key = value.strip()
    conn.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n" % accept_key(key))
                 .encode())


def frame(opcode, payload):
    n = len(payload)
    head = bytes([0x80 | opcode])
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


def read_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def read_frame(conn):
    b0, b1 = read_exact(conn, 2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", read_exact(conn, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", read_exact(conn, 8))[0]
    key = read_exact(conn, 4) if b1 & 0x80 else b"\0\0\0\0"
    payload = bytes(c ^ key[i % 4] for i, c in enumerate(read_exact(conn, n)))
    return b0 & 0x0F, bool(b1 & 0x80), payload


class RawServer:
    """One connection on a free port, handled by `script(conn)` on a thread."""

    def __init__(self, script):
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.listener.settimeout(RUN_TIMEOUT)
        self.port = self.listener.getsockname()[1]
        self.error = None
        self.result = None
        self.thread = threading.Thread(target=self.run, args=(script,), daemon=True)
        self.thread.start()

    def run(self, script):
        try:
            conn, _ = self.listener.accept()
            conn.settimeout(RUN_TIMEOUT)
            with conn:
                raw_handshake(conn)
                self.result = script(conn)
        except Exception as e:  # reported by finish()
            self.error = e
        finally:
            self.listener.close()

    def finish(self):
        self.thread.join(RUN_TIMEOUT)
        check(not self.thread.is_alive(), "the raw server is still running")
        check(self.error is None, "raw server: %r" % (self.error,))
        return self.result


# -------------------------------------------------------------------- cases

CASES = {}


def case(function):
    CASES[function.__name__] = function
    return function


@case
def execute_prints_the_echo(h):
    port = h.echo()
    r = h.connect("-x", "hello", "-x", "two words", "-w", "1", "ws://127.0.0.1:%d/" % port)
    check(r.returncode == EXIT_OK, "exit 0 after a normal close", r.show)
    check(r.out.splitlines() == ["< hello", "< two words"], "both echoes, in order", r.show)
    check("\x1b" not in r.out + r.err, "no escape codes on a pipe", r.show)


@case
def pipe_mode_sends_each_line(h):
    port = h.echo()
    r = h.connect("ws://127.0.0.1:%d/" % port, stdin=b"one\ntwo words\r\n\nlast without newline")
    check(r.returncode == EXIT_OK, "EOF closes with 1000: exit 0", r.show)
    check(r.out.splitlines() == ["< one", "< two words", "< ", "< last without newline"],
          "one message per line (CRLF too, empty lines too), in order", r.show)
    check("Disconnected (code 1000)" in r.err, "the close is reported on stderr", r.show)


@case
def pipe_mode_from_a_regular_file_and_many_lines(h):
    # A regular file cannot be watched by epoll: the reader must fall back to plain reads.
    port = h.echo()
    path = os.path.join(h.dir, "lines.txt")
    lines = ["line %d %s" % (i, "x" * (i % 300)) for i in range(5000)]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    r = h.connect("ws://127.0.0.1:%d/" % port, stdin=path)
    check(r.returncode == EXIT_OK, "exit 0", r.show[:2000])
    check(r.out.splitlines() == ["< " + line for line in lines], "every line echoed in order",
          r.show[:2000])


@case
def json_events_parse(h):
    port = h.echo()
    r = h.connect("--json", "-P", "ws://127.0.0.1:%d/json" % port, stdin="héllo \"quoted\"\n".encode())
    check(r.returncode == EXIT_OK, "exit 0", r.show)
    events = json_events(r)
    kinds = [e["event"] for e in events]
    check(kinds == ["open", "message", "close"], "open, message, close", r.show)
    check(events[0]["url"] == "ws://127.0.0.1:%d/json" % port and events[0]["subprotocol"] == ""
          and "extensions" in events[0], "open has url, subprotocol, extensions", r.show)
    check(events[1]["type"] == "text" and events[1]["data"] == "héllo \"quoted\"",
          "a text message with its data", r.show)
    check(events[2]["code"] == 1000 and events[2]["clean"] is True and events[2]["reason"] == "",
          "close with code, reason and clean", r.show)
    check(all(isinstance(e["time"], float) for e in events), "every event has a time", r.show)


@case
def json_binary_ping_pong_and_close_reason(h):
    # The Python peer: an echoed binary message (base64), a server ping (!ping), a server close
    # with a code and reason.
    port = h.py_peer()
    r = h.connect("--json", "-P", "-x", "!ping abc", "-x", "!close 4000 see you", "-w", "3",
                  "ws://127.0.0.1:%d/" % port)
    events = json_events(r)
    pings = [e for e in events if e["event"] == "ping"]
    pongs = [e for e in events if e["event"] == "pong"]
    check(pings and pings[0]["direction"] == "in" and pings[0]["data"] == "abc",
          "the server's ping", r.show)
    check(pongs and pongs[0]["direction"] == "out" and pongs[0]["data"] == "abc",
          "our automatic pong (with --show-ping-pong)", r.show)
    closes = [e for e in events if e["event"] == "close"]
    check(closes and closes[0]["code"] == 4000 and closes[0]["reason"] == "see you",
          "the server's close code and reason", r.show)
    check(r.returncode == EXIT_ABNORMAL, "4000 from the server is not a normal close: exit 5",
          r.show)
    port = h.echo()
    r = h.connect("--json", "ws://127.0.0.1:%d/" % port, stdin=b"")
    check([e["event"] for e in json_events(r)] == ["open", "close"], "no message", r.show)


@case
def json_error_for_a_refusal(h):
    port = h.py_peer()
    r = h.connect("--json", "-x", "x", "ws://127.0.0.1:%d/reject/404" % port)
    check(r.returncode == EXIT_REFUSED, "exit 4", r.show)
    events = json_events(r)
    check(len(events) == 1 and events[0]["event"] == "error", "one error event", r.show)
    e = events[0]
    check(e["kind"] == "handshake_refused" and e["status"] == 404, "kind and status", r.show)
    check(["X-Reject", "interop"] in e["headers"] and e["body"] == "no", "headers, body", r.show)


@case
def trace_shows_frames_and_handshake(h):
    port = h.echo()
    r = h.connect("--trace", "-x", "hi", "-w", "0.5", "ws://127.0.0.1:%d/traced" % port)
    check(r.returncode == EXIT_OK, "exit 0", r.show)
    check(r.out.splitlines() == ["< hi"], "messages still on stdout", r.show)
    for expected in ["> GET /traced HTTP/1.1", "> Upgrade: websocket", "> Sec-WebSocket-Key: ",
                     "> Sec-WebSocket-Version: 13", "< HTTP/1.1 101 Switching Protocols",
                     "< Sec-WebSocket-Accept: ",
                     '> text fin=1 rsv=000 masked=1 len=2 "hi"',
                     '< text fin=1 rsv=000 masked=0 len=2 "hi"',
                     "> close fin=1 rsv=000 masked=1 len=2 code=1000",
                     "< close fin=1 rsv=000 masked=0 len=2 code=1000"]:
        check(expected in r.err, "trace line %r" % expected, r.show)
    lines = [l for l in r.err.splitlines() if "fin=" in l]
    check(all(len(l) > 13 and l[2] == ":" and l[8] == "." for l in lines),
          "every frame line starts with a time HH:MM:SS.mmm", r.show)


@case
def trace_compressed_frames_and_ping(h):
    port = h.echo(compress=True)
    text = "compress me " * 50
    r = h.connect("--trace", "--compress", "--server-no-context-takeover", "-x", text, "-w", "0.5",
                  "ws://127.0.0.1:%d/" % port)
    check(r.returncode == EXIT_OK, "exit 0", r.show)
    check("< Sec-WebSocket-Extensions: permessage-deflate" in r.err, "negotiated", r.show)
    check("server_no_context_takeover" in r.err, "the parameter was offered and kept", r.show)
    sent = [l for l in r.err.splitlines() if "> text" in l]
    check(sent and "rsv=100" in sent[0] and "len=%d" % len(text) not in sent[0],
          "RSV1 set, compressed length", r.show)
    check(r.out.strip() == "< " + text.rstrip(), "the message arrives whole", r.show)


@case
def refused_404_prints_status_and_headers(h):
    port = h.py_peer()
    r = h.connect("-x", "x", "ws://127.0.0.1:%d/reject/404" % port)
    check(r.returncode == EXIT_REFUSED, "exit 4", r.show)
    check("HTTP/1.1 404" in r.err and "X-Reject: interop" in r.err, "status and headers", r.show)
    check(r.out == "", "nothing on stdout", r.show)


class OneAnswerServer:
    """Answers one connection's request with `answer` (bytes), then closes it."""

    def __init__(self, answer):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.listener.settimeout(RUN_TIMEOUT)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self.run, args=(answer,), daemon=True)
        self.thread.start()

    def run(self, answer):
        try:
            conn, _ = self.listener.accept()
            with conn:
                conn.settimeout(RUN_TIMEOUT)
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                conn.sendall(answer)
        except OSError:
            pass
        finally:
            self.listener.close()


@case
def refusal_shows_a_short_safe_excerpt_of_the_body(h):
    # A refusal with a whole HTML page: the page was printed in full on stderr (the status line
    # scrolled away) with its bytes as sent (ESC and all). Now the start, escaped, and a count.
    page = (b"<html><head><title>Not here</title></head><body>\x1b[2J" +
            b"<p>nothing to see</p>\n" * 400 + b"</body></html>\n")
    server = OneAnswerServer(b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\n"
                             b"Content-Length: %d\r\n\r\n" % len(page) + page)
    r = h.connect("-x", "x", "ws://127.0.0.1:%d/" % server.port)
    check(r.returncode == EXIT_REFUSED and "HTTP/1.1 404 Not Found" in r.err, "exit 4, status",
          r.show)
    check("<title>Not here</title>" in r.err, "the start of the body", r.show)
    check(b"\x1b" not in r.stderr and "\\x1b[2J" in r.err, "ESC escaped", r.show)
    check(r.err.count("nothing to see") < 20 and len(r.err) < 2000, "an excerpt only", r.show)
    match = re.search(r"\[(\d+) more bytes of the body not shown; (\d+) in all\]", r.err)
    check(match is not None and int(match.group(2)) == len(page) and
          0 < int(match.group(1)) < len(page), "how much was left out", r.show)


@case
def plain_http_server_is_named_as_such(h):
    # A 200 with a page is the most puzzling refusal: say what it means.
    port = h.start_retrying(lambda port: [PYTHON, "-u", "-m", "http.server", "--bind",
                                          "127.0.0.1", "--directory", h.dir, str(port)],
                            r"Serving HTTP")
    r = h.connect("-x", "x", "ws://127.0.0.1:%d/" % port)
    check(r.returncode == EXIT_REFUSED and "HTTP 200 OK" in r.err, "exit 4, the status", r.show)
    check("this URL is not a WebSocket endpoint" in r.err, "and what it means", r.show)


@case
def refused_403_for_an_origin_by_wsx_serve(h):
    port = h.serve("--allow-origin", "https://good.example")
    r = h.connect("-o", "https://evil.example", "-x", "x", "ws://127.0.0.1:%d/echo" % port)
    check(r.returncode == EXIT_REFUSED, "a disallowed Origin: exit 4", r.show)
    check("403" in r.err, "the status is printed", r.show)
    r = h.connect("-o", "https://good.example", "-x", "fine", "-w", "1",
                  "ws://127.0.0.1:%d/echo" % port)
    check(r.returncode == EXIT_OK and "< fine" in r.out, "an allowed Origin works", r.show)


@case
def serve_echo_and_pipe(h):
    port = h.serve()
    r = h.connect("-x", "hello", "-w", "1", "ws://127.0.0.1:%d/echo" % port)
    check(r.returncode == EXIT_OK and r.out.splitlines() == ["< hello"], "echo via -x", r.show)
    r = h.connect("--json", "ws://127.0.0.1:%d/echo" % port, stdin=b"a\nb\n")
    data = [e.get("data") for e in json_events(r) if e["event"] == "message"]
    check(r.returncode == EXIT_OK and data == ["a", "b"], "echo via stdin, as JSON", r.show)


@case
def http2_connect_to_serve(h):
    ca, cert, key = h.certificates()
    port = h.serve("--cert", cert, "--key", key, "--http2", "--compress")
    r = h.connect("--http2", "--trace", "--compress", "--ca", ca, "-x", "over h2", "-w", "1",
                  "wss://localhost:%d/echo" % port)
    check(r.returncode == EXIT_OK and r.out.splitlines() == ["< over h2"], "echo over h2", r.show)
    for expected in ["> HTTP/2 stream 1", "> :method: CONNECT", "> :protocol: websocket",
                     "> :scheme: https", "> :path: /echo", "> :authority: localhost:%d" % port,
                     "> sec-websocket-version: 13", "> sec-websocket-extensions: permessage-deflate",
                     "< :status: 200", "< sec-websocket-extensions: permessage-deflate",
                     '> text fin=1 rsv=100 masked=1']:
        check(expected in r.err, "the trace shows %r" % expected, r.show)
    check("Sec-WebSocket-Key" not in r.err and "HTTP/1.1" not in r.err, "no HTTP/1.1 head", r.show)
    # The same command against a server without --http2: the HTTP/1.1 upgrade, said so.
    plain = h.serve("--cert", cert, "--key", key)
    r = h.connect("--http2", "--trace", "--ca", ca, "-x", "over h1", "-w", "1",
                  "wss://localhost:%d/echo" % plain)
    check(r.returncode == EXIT_OK and r.out.splitlines() == ["< over h1"], "echo over h1", r.show)
    check("http/1.1 by ALPN" in r.err and "< HTTP/1.1 101 Switching Protocols" in r.err,
          "the fallback is traced", r.show)


@case
def http2_interrupted_mid_transfer(h):
    """Ctrl-C of `wsx connect --http2` while a pipe streams into it: stdin stops, the close is
    1000 and the exit 0 (stdin lines after the close were "refused", exit 6). A second
    `wsx serve --http2` on the same port fails with exit 3; SIGINT stops the first, exit 0."""
    ca, cert, key = h.certificates()
    port = h.serve("--cert", cert, "--key", key, "--http2")
    second = subprocess.run([h.wsx, "serve", "--listen", "127.0.0.1:%d" % port, "--cert", cert,
                             "--key", key, "--http2"], capture_output=True, timeout=RUN_TIMEOUT,
                            stdin=subprocess.DEVNULL, preexec_fn=orphan_proof)
    check(second.returncode == EXIT_CONNECT_FAILED, "the second serve exits 3", second)
    check(b"already in use" in second.stderr, "and says why", second.stderr)
    client = subprocess.Popen([h.wsx, "connect", "--http2", "-r", "--ca", ca,
                               "wss://localhost:%d/echo" % port], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=environment(NO_COLOR="1"), preexec_fn=orphan_proof)
    h.processes.append(client)
    line = (b"x" * 999) + b"\n"
    stop = threading.Event()

    def feed():  # an endless pipe, until the client stops reading it
        try:
            while not stop.is_set():
                client.stdin.write(line * 64)
                client.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass

    errors = []

    def drain(stream, into):  # the client never blocks on a full stdout or stderr
        for chunk in iter(lambda: stream.read1(65536), b""):
            into.append(chunk)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        check(read_line(client.stdout, 15).startswith("x"), "echoes flow")
        readers = [threading.Thread(target=drain, args=(client.stdout, []), daemon=True),
                   threading.Thread(target=drain, args=(client.stderr, errors), daemon=True)]
        for reader in readers:
            reader.start()
        client.send_signal(signal.SIGINT)  # stdin stays open and full: only the signal stops it
        client.wait(timeout=15)
        for reader in readers:
            reader.join(timeout=5)
    finally:
        stop.set()
    err = b"".join(errors).decode("utf-8", "replace")
    check(client.returncode == EXIT_OK, "exit 0 after Ctrl-C, not %s" % client.returncode, err)
    check("Disconnected (code 1000" in err, "closed with 1000", err)
    check("came after the connection started closing" not in err, "no input refused", err)
    server = h.processes[0]
    server.send_signal(signal.SIGINT)
    check(server.wait(timeout=15) == 0, "the server exits 0 after SIGINT")


@case
def serve_chat_between_two_clients(h):
    port = h.serve()
    url = "ws://127.0.0.1:%d/chat" % port
    listener = subprocess.Popen([h.wsx, "connect", "--json", url], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                preexec_fn=orphan_proof)
    h.processes.append(listener)
    try:
        first = json.loads(read_line(listener.stdout, 10))
        check(first["event"] == "open", "the listener is connected")
        r = h.connect("-x", "hi all", "-w", "0.5", url)
        check(r.returncode == EXIT_OK, "the speaker exits 0", r.show)
        got = json.loads(read_line(listener.stdout, 10))
        check(got["event"] == "message" and got["data"] == "hi all", "broadcast received: %r" % got)
    finally:
        listener.stdin.close()
    check(listener.wait(timeout=15) == EXIT_OK, "the listener closes at EOF with exit 0")


def read_line(stream, timeout):
    ready, _, _ = select.select([stream], [], [], timeout)
    check(ready, "no output within %ds" % timeout)
    return stream.readline().decode()


@case
def connection_refused_exits_3(h):
    port = refused_port()
    r = h.connect("-x", "x", "ws://127.0.0.1:%d/" % port)
    check(r.returncode == EXIT_CONNECT_FAILED, "exit 3", r.show)
    check("refused" in r.err.lower(), "the reason is printed", r.show)


@case
def server_close_1011_exits_5(h):
    port = h.py_peer()
    r = h.connect("-x", "!close 1011 internal trouble", "-w", "5", "ws://127.0.0.1:%d/" % port)
    check(r.returncode == EXIT_ABNORMAL, "exit 5", r.show)
    check("1011" in r.err and "internal trouble" in r.err, "code and reason printed", r.show)


@case
def server_dropping_exits_5(h):
    def drop(conn):
        read_frame(conn)  # our message, then hang up without a close frame
        conn.shutdown(socket.SHUT_RDWR)

    server = RawServer(drop)
    r = h.connect("-x", "x", "-w", "5", "ws://127.0.0.1:%d/" % server.port)
    server.finish()
    check(r.returncode == EXIT_ABNORMAL, "exit 5", r.show)
    check("1006" in r.err, "1006 (no close frame) is printed", r.show)


@case
def echo_mode_reflects_with_the_type(h):
    def script(conn):
        conn.sendall(frame(0x1, "héllo".encode()) + frame(0x2, bytes([0, 255, 7])) +
                     frame(0x9, b"p"))
        got = [read_frame(conn) for _ in range(3)]
        conn.sendall(frame(0x8, struct.pack("!H", 1000)))
        closing = read_frame(conn)
        return got, closing

    server = RawServer(script)
    r = h.connect("--echo", "ws://127.0.0.1:%d/" % server.port, stdin=b"ignored\n")
    got, closing = server.finish()
    frames = sorted((op, payload) for op, masked, payload in got)
    check(frames == [(0x1, "héllo".encode()), (0x2, bytes([0, 255, 7])), (0xA, b"p")],
          "text back as text, binary as binary, the ping answered: %r" % (got,), r.show)
    check(all(masked for _, masked, _ in got), "client frames are masked")
    check(closing[0] == 0x8 and closing[2][:2] == struct.pack("!H", 1000), "the close answered")
    check(r.returncode == EXIT_OK, "exit 0 when the server closes normally", r.show)
    check("< [binary 3 bytes] 00ff07" in r.out, "binary shown as hex", r.show)


@case
def ws_to_a_tls_server_asks_about_wss(h):
    # ws:// to a TLS server said only "closed the connection before answering the WebSocket
    # handshake". A server that closes at once, or answers with a TLS record, is most likely
    # one that wanted wss://: the message asks.
    port = h.echo(tls=True)  # closes without a byte on reading our plain request
    r = h.connect("-x", "x", "ws://127.0.0.1:%d/" % port)
    check(r.returncode == EXIT_CONNECT_FAILED, "exit 3", r.show)
    check("is it a wss:// (TLS) server?" in r.err, "closed at once: the question", r.show)
    alert = b"\x15\x03\x01\x00\x02\x02\x46"  # TLS alert: protocol_version
    server = OneAnswerServer(alert)
    r = h.connect("-x", "x", "ws://127.0.0.1:%d/" % server.port)
    check(r.returncode != EXIT_OK and "is it a wss:// (TLS) server?" in r.err,
          "a TLS record in answer: the question", r.show)
    # An HTTP answer is not TLS: no such question.
    server = OneAnswerServer(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    r = h.connect("-x", "x", "ws://127.0.0.1:%d/" % server.port)
    check(r.returncode == EXIT_REFUSED and "wss://" not in r.err, "no question for HTTP", r.show)


@case
def wss_with_ca_and_insecure(h):
    port = h.echo(tls=True)
    ca, _, _ = h.certificates()
    r = h.connect("--ca", ca, "-x", "secure", "-w", "1", "wss://127.0.0.1:%d/" % port)
    check(r.returncode == EXIT_OK and r.out.splitlines() == ["< secure"], "verified by --ca",
          r.show)
    r = h.connect("--ca", ca, "-x", "by name", "-w", "1", "wss://localhost:%d/" % port)
    check(r.returncode == EXIT_OK, "host name verified too", r.show)
    r = h.connect("-x", "untrusted", "wss://127.0.0.1:%d/" % port)
    check(r.returncode == EXIT_CONNECT_FAILED, "an unknown CA fails: exit 3", r.show)
    check("--ca FILE" in r.err and "-k/--insecure" in r.err, "and names --ca and -k", r.show)
    r = h.connect("--insecure", "-x", "anyway", "-w", "1", "wss://127.0.0.1:%d/" % port)
    check(r.returncode == EXIT_OK and "< anyway" in r.out, "--insecure skips verification",
          r.show)


@case
def wss_to_a_plain_server_fails_once_said(h):
    # OpenSSL's reason came with its own "TLS handshake failed: " and the client put another in
    # front: "TLS handshake failed: TLS handshake failed: wrong version number".
    port = h.echo()
    for extra in ([], ["--http2"]):
        r = h.connect(*extra, "-x", "x", "wss://127.0.0.1:%d/" % port)
        check(r.returncode == EXIT_CONNECT_FAILED, "exit 3 %r" % extra, r.show)
        check(r.err.count("TLS handshake failed") == 1, "said once %r" % extra, r.show)
        check("a ws:// server?" in r.err, "and what it may mean %r" % extra, r.show)


@case
def wss_certificate_for_another_name_names_insecure(h):
    # A CA does not help a certificate made for another address: the hint is -k alone.
    ca, cert, key = h.certificates()  # for localhost and 127.0.0.1
    process, log = h.launch([h.wsx, "serve", "--listen", "127.0.0.2:0", "--cert", cert, "--key",
                             key])
    port = int(h.wait_for_output(process, log, r"listening on 127\.0\.0\.2:(\d+) ").group(1))
    r = h.connect("--ca", ca, "-x", "x", "wss://127.0.0.2:%d/echo" % port)
    check(r.returncode == EXIT_CONNECT_FAILED and "mismatch" in r.err, "exit 3, mismatch", r.show)
    check("name the host in subjectAltName" in r.err and "--ca FILE" not in r.err, "-k alone",
          r.show)
    r = h.connect("-k", "-x", "x", "-w", "0.5", "wss://127.0.0.2:%d/echo" % port)
    check(r.returncode == EXIT_OK and r.out == "< x\n", "-k connects", r.show)


@case
def handshake_options_reach_the_server(h):
    port = h.py_peer("--subprotocols", "chat.v2", "--deflate", "on")
    r = h.connect("--json", "-s", "wsx.unknown", "-s", "chat.v2", "--compress", "-o", "https://me.example",
                  "-H", "X-Custom:  spaced value ", "--auth", "user:pa:ss",
                  "-x", "!header X-Custom", "-x", "!header Authorization", "-x", "!header Origin",
                  "-x", "!header Sec-WebSocket-Protocol", "-w", "1", "ws://127.0.0.1:%d/" % port)
    check(r.returncode == EXIT_OK, "exit 0", r.show)
    events = json_events(r)
    check(events[0]["subprotocol"] == "chat.v2", "subprotocol chosen", r.show)
    check(events[0]["extensions"].startswith("permessage-deflate"), "deflate negotiated", r.show)
    data = [e["data"] for e in events if e["event"] == "message"]
    basic = base64.b64encode(b"user:pa:ss").decode()
    check(data == ["!header spaced value", "!header Basic " + basic,
                   "!header https://me.example", "!header wsx.unknown, chat.v2"],
          "headers as sent", r.show)


@case
def interop_python_server(h):
    port = h.py_peer("--deflate", "on")
    # -w: websockets sends nothing after it has read our close, so give the echoes time.
    r = h.connect("--compress", "--client-max-window-bits", "12", "-w", "1", "ws://127.0.0.1:%d/" % port,
                  stdin=("x" * 70000 + "\nsmall\n").encode())
    check(r.returncode == EXIT_OK, "exit 0", r.show[:3000])
    check(r.out.splitlines() == ["< " + "x" * 70000, "< small"], "echoes", r.show[:3000])


@case
def interop_node_server(h):
    port = h.node_peer("--subprotocols", "chat.v2", "--deflate", "on")
    r = h.connect("--json", "--compress", "-s", "chat.v2", "-x", "node?", "-x", "!ping from-node",
                  "-w", "2", "ws://127.0.0.1:%d/" % port)
    check(r.returncode == EXIT_OK, "exit 0", r.show)
    events = json_events(r)
    check(events[0]["subprotocol"] == "chat.v2", "subprotocol", r.show)
    data = [e["data"] for e in events if e["event"] == "message"]
    check(data == ["node?", "!pong from-node"], "echo and the pong round trip", r.show)
    check(any(e["event"] == "ping" and e["data"] == "from-node" for e in events), "ping event",
          r.show)
    r = h.connect("-x", "x", "ws://127.0.0.1:%d/reject/403" % port)
    check(r.returncode == EXIT_REFUSED and "403" in r.err, "refusal from Node", r.show)


@case
def bench_takes_the_urls_connect_takes(h):
    # `wsx connect 127.0.0.1:PORT/` worked while `wsx bench 127.0.0.1:PORT/` was "invalid URL":
    # both read the URL as typed through the same code (no scheme: ws:// for a loopback host;
    # http:// means ws://; ws.PROTO:// offers PROTO).
    port = h.echo()
    for url in ("127.0.0.1:%d/" % port, "http://127.0.0.1:%d/" % port,
                "ws.chat://127.0.0.1:%d/" % port):
        r = subprocess.run([h.wsx, "bench", "-d", "0.3", "--json", url], capture_output=True,
                           timeout=RUN_TIMEOUT, env=environment(), preexec_fn=orphan_proof)
        out, err = r.stdout.decode(), r.stderr.decode()
        check(r.returncode == EXIT_OK, "bench %s: exit 0" % url, out, err)
        check(json.loads(out)["messages"] > 0, "bench %s: echoes came back" % url, out, err)


@case
def bench_names_the_side_that_refused_a_message_too_big(h):
    # A server that sends more than our client takes (16 MiB, or --size if larger): the client
    # closes with 1009. The report said "the server closed with 1009 (message too big) ... it
    # takes no message of 32 bytes (--size)", blaming the server for our own limit.
    def oversized(conn):
        conn.sendall(bytes([0x82, 127]) + struct.pack("!Q", 32 << 20))  # the header is enough
        while True:
            opcode, _, payload = read_frame(conn)
            if opcode == 0x8:
                return payload

    server = RawServer(oversized)
    r = subprocess.run([h.wsx, "bench", "-d", "2", "ws://127.0.0.1:%d/" % server.port],
                       capture_output=True, timeout=RUN_TIMEOUT, env=environment(),
                       preexec_fn=orphan_proof)
    closing = server.finish()
    err = r.stderr.decode()
    check(closing[:2] == struct.pack("!H", 1009), "the client closed with 1009", closing, err)
    check(r.returncode == 6, "exit 6 (errors during the run)", r.returncode, err)
    check("the server sent a message larger than this client takes (16777216 bytes)" in err and
          "the client closed with 1009" in err and "(--size)" not in err,
          "our limit named, not the server's", err)


@case
def unknown_option_before_the_subcommand_is_named(h):
    # `wsx --bogus` said "A subcommand is required", not what was wrong.
    for argv in (["--bogus"], ["--bogus", "connect", "ws://127.0.0.1:1/"], ["--version", "-z"]):
        r = subprocess.run([h.wsx, *argv], capture_output=True, timeout=10)
        err = r.stderr.decode()
        bad = [a for a in argv if a not in ("--version",)][0]
        check(r.returncode == EXIT_USAGE, "%r: exit 2" % argv, err)
        check("unknown option '%s'" % bad in err and "subcommand is required" not in err,
              "%r: the option named" % argv, err)
    r = subprocess.run([h.wsx, "--version"], capture_output=True, timeout=10)
    check(r.returncode == EXIT_OK and r.stdout.startswith(b"wsx "), "--version still works")


@case
def unknown_option_of_a_subcommand_is_named(h):
    # CLI11 said "The following arguments were not expected: ws://h/ --conections": the URL
    # listed too (the typo's value had taken its place), in no useful order, no suggestion.
    for argv, expected in (
            (["bench", "--conections", "3", "ws://h/"],
             "wsx bench: unknown option '--conections'; did you mean '--connections'?"),
            (["connect", "--heder", "A: b", "ws://h/"],
             "wsx connect: unknown option '--heder'; did you mean '--header'?"),
            (["connect", "-x", "hi", "--trace", "-Z", "ws://h/"], "wsx connect: unknown option '-Z'"),
            (["serve", "--listen", "0", "--metric"],
             "wsx serve: unknown option '--metric'; did you mean '--metrics'?"),
            (["connect", "--frobnicate=1", "ws://h/"], "wsx connect: unknown option '--frobnicate'\n")):
        r = subprocess.run([h.wsx, *argv], capture_output=True, timeout=10)
        err = r.stderr.decode()
        check(r.returncode == EXIT_USAGE and expected in err and "ws://h/" not in err and
              "Run 'wsx %s --help' for more information." % argv[0] in err, "%r" % argv, err)
    # An option's value is not taken for an option, whatever it looks like (CLI11 takes it).
    port = h.echo()
    r = h.connect("-w", "0.2", "-x", "--not-an-option", "ws://127.0.0.1:%d/" % port)
    check(r.returncode == EXIT_OK and r.out.splitlines() == ["< --not-an-option"],
          "-x's value sent as it is", r.show)


@case
def bench_latency_agrees_with_littles_law(h):
    # With K messages always in flight, mean latency x throughput = K (Little's law), whatever
    # the machine's speed: a check of the latency bookkeeping (send time to echo, FIFO per
    # connection) that a timestamp taken at the wrong moment fails by a factor. Margins are wide
    # for the run's edges (connecting counts in the duration, the drain at the end).
    port = h.echo()
    connections, in_flight = 2, 8
    r = subprocess.run([h.wsx, "bench", "-c", str(connections), "-n", str(in_flight), "-d", "1",
                        "--json", "ws://127.0.0.1:%d/" % port], capture_output=True,
                       timeout=RUN_TIMEOUT, env=environment(), preexec_fn=orphan_proof)
    out, err = r.stdout.decode(), r.stderr.decode()
    check(r.returncode == EXIT_OK, "exit 0", out, err)
    report = json.loads(out)
    latency = report["latency_us"]
    check(latency["p50"] <= latency["max"] and 0 < latency["mean"] <= latency["max"],
          "mean within the samples", out)
    little = latency["mean"] / 1e6 * report["messages_per_s"]
    expected = connections * in_flight
    check(0.5 * expected <= little <= 1.5 * expected,
          "mean latency x throughput = %.2f, %d in flight" % (little, expected), out)


@case
def repeatable_options_before_the_url(h):
    # -H, -s and -x take one value each: CLI11 let them take every argument up to the next
    # option, so `wsx connect -x hi ws://...` took the URL as a second message ("URL is
    # required", exit 2).
    port = h.echo()
    url = "ws://127.0.0.1:%d/" % port
    r = h.connect("-H", "X-Trial: 1", url, "-w", "0.5", "--trace")
    check(r.returncode == EXIT_OK and "> X-Trial: 1" in r.err, "-H then the URL", r.show)
    r = h.connect("-s", "chat", url, "-x", "hi", "-w", "0.5", "--trace")
    check(r.returncode == EXIT_OK and "> Sec-WebSocket-Protocol: chat" in r.err,
          "-s then the URL", r.show)
    r = h.connect("-x", "one", url, "-x", "two", "-w", "0.5")
    check(r.returncode == EXIT_OK and r.out.splitlines() == ["< one", "< two"],
          "-x then the URL, -x after it", r.show)
    r = h.connect("-x", "one", url, "extra")
    check(r.returncode == EXIT_USAGE and "extra" in r.err, "a second positional is refused",
          r.show)


@case
def usage_errors_exit_2(h):
    for args in (["-H", "no colon here", "ws://127.0.0.1:1/"], ["ftp://127.0.0.1:1/"],
                 ["ws://127.0.0.1:1/#fragment"], ["--client-max-window-bits", "9", "ws://h/"],
                 []):
        r = h.connect(*args)
        check(r.returncode == EXIT_USAGE, "usage error for %r" % (args,), r.show)
    # Numbers out of range, or not numbers: the option, the value and what it must be, in
    # words (CLI11 said "Value -1 not in range 0.000000 to 1797693134862315708145..." with
    # the 309 digits of the largest double, and "Value abc not in range" for a word).
    for command, expected in (
            (["connect", "--connect-timeout", "-1", "ws://h/"],
             "--connect-timeout: -1 is not a number above 0"),
            (["connect", "--max-message", "1M", "ws://h/"],
             "--max-message: 1M is not a whole number of 1 or more"),
            (["connect", "-w", "-1", "ws://h/"], "--wait: -1 is not a number of at least 0"),
            # Seconds that overflowed their conversion to milliseconds (undefined behaviour).
            (["connect", "--connect-timeout", "1e300", "ws://h/"],
             "--connect-timeout: 1e300 is not a number above 0 and at most 1000000"),
            (["connect", "--wait", "1e300", "ws://h/"],
             "--wait: 1e300 is not a number of at least 0 and at most 1000000"),
            (["connect", "-w", "1000001", "ws://h/"],
             "--wait: 1000001 is not a number of at least 0 and at most 1000000"),
            (["bench", "-c", "abc", "ws://h/"],
             "--connections: abc is not a whole number from 1 to 100000"),
            # CLI11 reads a whole number with strtoull base 0: 010 would have been 8 bytes.
            (["bench", "--size", "010", "ws://h/"],
             "--size: 010 starts with 0, which would make it octal: write 10"),
            (["serve", "--idle-timeout", "-5"],
             "--idle-timeout: -5 is not a number of at least 0 and at most 1000000")):
        r = subprocess.run([h.wsx, *command], capture_output=True, timeout=10)
        err = r.stderr.decode()
        check(r.returncode == EXIT_USAGE and expected in err and len(err) < 200,
              "%r: %r" % (command, expected), err)
        # Named like wsx's other errors, with the help that applies.
        check(err.startswith("wsx %s: " % command[0]) and
              "Run 'wsx %s --help' for more information." % command[0] in err,
              "%r: the command named" % command, err)
    r = subprocess.run([h.wsx, "connect", "--help"], capture_output=True, timeout=10)
    text = r.stdout.decode()
    check(r.returncode == 0 and "--execute" in text and "--trace" in text and "Exit codes" in text,
          "--help", text)


class Terminal:
    """`wsx connect ARGS` on a pseudo-terminal, as a person at a terminal would run it."""

    def __init__(self, h, *args, lang=None, shell=None):
        """`shell`: a sh script run instead, with "$@" as the wsx command line."""
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.environ["TERM"] = "xterm"
            os.environ["NO_COLOR"] = "1"
            if lang is not None:
                os.environ.pop("LC_ALL", None)
                os.environ.pop("LC_CTYPE", None)
                os.environ["LANG"] = lang
            if shell is not None:
                os.execv("/bin/sh", ["sh", "-c", shell, "sh", h.wsx, "connect", *args])
            os.execv(h.wsx, [h.wsx, "connect", *args])
        self.output = b""
        self.everything = b""  # all the output so far, for checks on the whole screen

    def type(self, text):
        os.write(self.fd, text if isinstance(text, bytes) else text.encode())

    def expect(self, text, timeout=10):
        """Waits until `text` appears in the output after the last expected text."""
        deadline = time.monotonic() + timeout
        while text.encode() not in self.output:
            ready, _, _ = select.select([self.fd], [], [], max(0, deadline - time.monotonic()))
            check(ready, "the terminal never showed %r" % text, self.shown())
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:
                break
            self.output += chunk
            self.everything += chunk
        check(text.encode() in self.output, "the terminal shows %r" % text, self.shown())
        rest = self.output[self.output.index(text.encode()) + len(text.encode()):]
        self.output = rest

    def shown(self):
        return self.output.decode("utf-8", "replace")

    def exit_status(self):
        _, status = os.waitpid(self.pid, 0)
        self.pid = 0
        return os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1

    def close(self):
        if self.pid:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)


@case
def interactive_prompt_on_a_terminal(h):
    port = h.echo()
    term = Terminal(h, "-P", "ws://127.0.0.1:%d/" % port)
    try:
        term.expect("/help for commands")
        term.type("hello there\r")
        term.expect("< hello there")
        term.type("/binary 01 02 ff\r")
        term.expect("< [binary 3 bytes] 0102ff")
        term.type("/base64 AAE=\r")
        term.expect("< [binary 2 bytes] 0001")
        term.type("/ping abc\r")
        term.expect('< pong "abc"')
        term.type("/nonsense\r")
        term.expect("unknown command /nonsense")
        term.type("/close 4001 done here\r")
        term.expect("Disconnected (code 4001")
        check(term.exit_status() == EXIT_OK, "exit 0 after the close we asked for", term.shown())
    finally:
        term.close()


@case
def interactive_close_without_a_code(h):
    # RFC 6455 7.4.1: 1005 is never sent in a close frame. "/close 1005" sent an empty close
    # frame, while the error for 1006 listed the codes without it: /close alone sends the
    # empty frame now, 1005 is refused as 1006 is, and both errors give the same list.
    port = h.echo()
    term = Terminal(h, "ws://127.0.0.1:%d/" % port)
    codes = ("use 1000-1003, 1007-1014 or 3000-4999, a reason of at most 123 bytes, or none "
             "(/close alone)")
    try:
        term.expect("/help for commands")
        term.type("/help\r")
        term.expect("/close [CODE [REASON]]  start the closing handshake (no CODE: a close frame")
        term.type("/close 1005\r")
        term.expect("cannot close with code 1005, which stands for no code and is never sent: " +
                    codes)
        term.type("/close 1006\r")
        term.expect("cannot close with code 1006: " + codes)
        term.type("hi\r")
        term.expect("< hi")  # still open
        term.type("/close\r")
        term.expect("Disconnected (code 1005)")  # the server echoed a close without a code
        check(term.exit_status() == EXIT_OK, "exit 0", term.shown())
    finally:
        term.close()


@case
def interactive_ping_shows_its_pong(h):
    # A /ping typed at the prompt showed nothing without -P: whether the server answered was
    # for the person to guess. Its pong is shown; the server's own pings still are not.
    port = h.py_peer()
    term = Terminal(h, "ws://127.0.0.1:%d/" % port)
    try:
        term.expect("/help for commands")
        term.type("/ping héllo\r")
        term.expect('< pong "héllo"')
        term.type("!ping from-server\r")  # the peer pings us: answered, not shown
        term.expect("< !pong from-server")  # the peer had our pong
        screen = term.everything.decode("utf-8", "replace")
        check('ping "from-server"' not in screen and 'pong "from-server"' not in screen,
              "no -P: the server's ping and our answer are not shown", screen)
        term.type("/quit\r")
        term.expect("Disconnected (code 1000")
        check(term.exit_status() == EXIT_OK, "exit 0", term.shown())
    finally:
        term.close()


@case
def interactive_line_survives_incoming_messages(h):
    # A message arriving while a line is half typed is printed above the prompt, and the half
    # line is drawn again after it, ready to be finished.
    port = h.serve()
    url = "ws://127.0.0.1:%d/chat" % port
    term = Terminal(h, url)
    try:
        term.expect("/help for commands")
        term.type("half typ")
        term.expect("half typ")
        r = h.connect("-x", "incoming!", "-w", "0.3", url)
        check(r.returncode == EXIT_OK, "the other client ran", r.show)
        term.expect("< incoming!")
        term.expect("> half typ")  # the prompt and the partial line, redrawn
        term.type("ed\r")
        term.type("\x04")  # Ctrl-D on an empty line: close with 1000
        term.expect("Disconnected (code 1000")
        check(term.exit_status() == EXIT_OK, "exit 0 after Ctrl-D", term.shown())
    finally:
        term.close()


@case
def interactive_help_history_and_quit(h):
    # /help lists the commands; the up arrow recalls the last line (libedit history); /quit
    # closes with 1000 and exits 0.
    port = h.echo()
    term = Terminal(h, "ws://127.0.0.1:%d/" % port)
    try:
        term.expect("/help for commands")
        term.type("/help\r")
        term.expect("/ping [TEXT]")
        term.expect("/quit")
        term.type("remember me\r")
        term.expect("< remember me")
        term.type("\x1b[A\r")  # up arrow, enter: the same line again
        term.expect("< remember me")
        term.type("/quit\r")
        term.expect("Disconnected (code 1000")
        check(term.exit_status() == EXIT_OK, "exit 0 after /quit", term.shown())
    finally:
        term.close()


@case
def interactive_utf8_is_sent_exactly(h):
    # Non-ASCII typed at the prompt reaches the server byte for byte, in a UTF-8 locale and in
    # the C locale (the terminal's bytes are UTF-8 either way); bytes that are not UTF-8 are
    # refused with a message, not sent altered.
    port = h.echo()
    typed = "héllo 日本 ✓ Ωmega 🙂"
    for lang in ("C.UTF-8", "C"):
        term = Terminal(h, "ws://127.0.0.1:%d/" % port, lang=lang)
        try:
            term.expect("/help for commands")
            term.type(typed + "\r")
            term.expect("< " + typed)
            term.type("caf\xe9 in latin-1\r".encode("latin-1"))
            term.expect("not sent: the line is not valid UTF-8")
            term.type("/quit\r")
            term.expect("Disconnected (code 1000")
            check(term.exit_status() == EXIT_OK, "exit 0 (LANG=%s)" % lang, term.shown())
            check(b"< caf" not in term.everything, "the Latin-1 line was not sent (LANG=%s)" % lang,
                  term.everything)
        finally:
            term.close()
    # The same bytes through a pipe, for comparison: the server got exactly what was typed.
    r = h.connect("-r", "ws://127.0.0.1:%d/" % port, stdin=(typed + "\n").encode())
    check(r.stdout == (typed + "\n").encode(), "pipe: the same bytes", r.show)


@case
def interactive_lines_are_shown_once_and_up_recalls(h):
    # Each typed line appears once (it used to be drawn twice from the second line on), and the
    # Up key on an empty line recalls the last line without printing "^[[A".
    port = h.echo()
    term = Terminal(h, "ws://127.0.0.1:%d/" % port)
    try:
        term.expect("/help for commands")
        for line in ("first line", "second line", "third line"):
            term.type(line + "\r")
            term.expect("< " + line)
        for line in ("first line", "second line", "third line"):
            check(term.everything.count(("> " + line).encode()) == 1,
                  "%r is shown once" % line, term.everything)
        term.type("\x1b[A")
        term.expect("> third line")
        term.type("\x1b[A\x1b[A\x1b[B")  # up twice more, down once: the second line
        term.expect("> second line")
        term.type("\r")
        term.expect("< second line")
        check(b"^[" not in term.everything and b"[A" not in term.everything,
              "no escape sequence is printed", term.everything)
        term.type("abc\x1b[D\x1b[DX\x01>\x05<\r")  # left, left, X, Home, >, End, <
        term.expect("< >aXbc<")
        term.type("\x04")
        term.expect("Disconnected (code 1000")
        check(term.exit_status() == EXIT_OK, "exit 0 after Ctrl-D", term.shown())
    finally:
        term.close()


@case
def interactive_typed_ahead_ctrl_c_and_terminal_restored(h):
    # Lines typed faster than they are handled (all in one write) are each sent and shown once;
    # Ctrl-C stays a signal at the prompt (close with 1000, exit 0); afterwards the terminal's
    # settings are exactly as they were before (the line editor put them back).
    port = h.echo()
    # The shell gets the Ctrl-C too (same process group): it must outlive it to report.
    script = ('trap true INT; echo "before=$(stty -g)"; "$@"; echo "exit=$?"; '
              'echo "after=$(stty -g)"')
    term = Terminal(h, "ws://127.0.0.1:%d/" % port, lang="C", shell=script)
    try:
        term.expect("/help for commands")
        lines = ["ahead %d \u2713" % i for i in range(8)]
        term.type("".join(line + "\r" for line in lines))
        for line in lines:
            term.expect("< " + line)
        for line in lines:
            check(term.everything.count(("> " + line).encode()) == 1, "%r is shown once" % line,
                  term.everything)
        term.type("half typed")
        term.expect("half typed")
        term.type("\x03")
        term.expect("Disconnected (code 1000")
        term.expect("exit=0")
        term.expect("after=")
        term.expect("\n")
        check(term.exit_status() == EXIT_OK, "the shell ended", term.everything)
        before = re.search(rb"before=(\S+)", term.everything)
        after = re.search(rb"after=(\S+)", term.everything)
        check(before and after and before.group(1) == after.group(1),
              "the terminal's settings are restored", term.everything)
    finally:
        term.close()


@case
def pipe_exit_code_follows_the_servers_close(h):
    # The server closes with 1009 (message too big) while our close (end of stdin) is on its
    # way: whichever crosses first, the exit code is 5. Many runs, to show there is no race.
    port = h.serve("--max-message", "10", "-q")
    url = "ws://127.0.0.1:%d/echo" % port
    for run in range(20):
        r = h.connect(url, stdin=b"this message is longer than ten bytes\n")
        check(r.returncode == EXIT_ABNORMAL, "run %d: exit 5 after a 1009 close" % run, r.show)
        check("1009" in r.err, "run %d: the code is printed" % run, r.show)
    r = h.connect("-w", "0.5", url, stdin=b"this message is longer than ten bytes\n")
    check(r.returncode == EXIT_ABNORMAL, "with -w: exit 5 too", r.show)
    r = h.connect(url, stdin=b"short\n")
    check(r.returncode == EXIT_OK and r.out == "< short\n", "a short message: exit 0", r.show)


@case
def pipe_refuses_invalid_utf8_and_never_splits(h):
    port = h.echo()
    url = "ws://127.0.0.1:%d/" % port
    # Text mode: the line that is not UTF-8 is not sent, nor anything after it; exit 6.
    r = h.connect(url, stdin=b"fine\nbad \xff\xfe bytes\nafter\n")
    check(r.returncode == 6, "exit 6 for refused input", r.show)
    check(r.out == "< fine\n", "only the line before was sent", r.show)
    check("stdin line 2 is not valid UTF-8" in r.err, "the line is named", r.show)
    # A line over 1 MiB is one message, not several.
    big = "y" * (3 * 1024 * 1024 + 17)
    r = h.connect("-r", url, stdin=(big + "\nsmall\n").encode())
    check(r.returncode == EXIT_OK, "exit 0", r.show[:2000])
    check(r.out.split("\n") == [big, "small", ""], "two messages, whole", r.show[:2000])
    # Longer than --max-message: refused, not split.
    r = h.connect("--max-message", "1000", url, stdin=b"ok\n" + b"z" * 1001 + b"\nnext\n")
    check(r.returncode == 6 and r.out == "< ok\n", "the long line is not sent: exit 6", r.show)
    check("stdin line 2 is longer than --max-message (1000 bytes)" in r.err, "why", r.show)


@case
def pipe_raw_and_binary_modes(h):
    port = h.echo()
    url = "ws://127.0.0.1:%d/" % port
    # -r: payloads alone, for jq.
    r = h.connect("-r", url, stdin=b'{"a": 1}\n{"b": [2]}\n')
    check(r.returncode == EXIT_OK and r.stdout == b'{"a": 1}\n{"b": [2]}\n', "raw text", r.show)
    if shutil.which("jq"):
        jq = subprocess.run(["jq", "-c", "."], input=r.stdout, capture_output=True, timeout=10)
        check(jq.returncode == 0 and jq.stdout == b'{"a":1}\n{"b":[2]}\n', "jq reads it",
              jq.stdout, jq.stderr)
    # -b: each line a binary message, bytes as they are (invalid UTF-8 and a "\r" kept).
    r = h.connect("-r", "-b", url, stdin=b"\x00\x01\xff\r\nsecond\n")
    check(r.returncode == EXIT_OK and r.stdout == b"\x00\x01\xff\r\nsecond\n", "raw binary lines",
          r.show)
    r = h.connect("-b", url, stdin=b"\x00\xff\n")
    check(r.out == "< [binary 2 bytes] 00ff\n", "without -r: binary in hex, as before", r.show)
    # --whole -b: all of stdin is one binary message, newlines included.
    data = bytes(range(256)) * 3 + b"\n\nend"
    r = h.connect("-r", "-b", "--whole", url, stdin=data)
    check(r.returncode == EXIT_OK and r.stdout == data + b"\n", "one binary message", r.show)
    r = h.connect("--json", "--whole", url, stdin=b"line one\nline two\n")
    messages = [e for e in json_events(r) if e["event"] == "message"]
    check(len(messages) == 1 and messages[0]["data"] == "line one\nline two\n",
          "--whole text: one message", r.show)
    r = h.connect("--json", "-r", url, stdin=b"")
    check(r.returncode == EXIT_USAGE, "--json and --raw exclude each other", r.show)


@case
def command_line_conventions(h):
    def wsx(*args):
        r = subprocess.run([h.wsx, *args], capture_output=True, timeout=10)
        r.out, r.err = r.stdout.decode(), r.stderr.decode()
        return r

    r = wsx("--version")
    check(r.returncode == 0 and r.out.startswith("wsx "), "--version", r.out, r.err)
    r = wsx("conect", "ws://x/")
    check(r.returncode == EXIT_USAGE and
          "unknown subcommand 'conect'; did you mean 'connect'?" in r.err, "a typo", r.err)
    r = wsx("frobnicate")
    check(r.returncode == EXIT_USAGE and "unknown subcommand 'frobnicate'" in r.err and
          "connect" in r.err, "an unknown name lists the subcommands", r.err)
    # An empty name is no typo of 'connect' (every name starts with "": it was suggested).
    r = wsx("")
    check(r.returncode == EXIT_USAGE and "wsx: the subcommand is empty (subcommands: "
          "connect serve bench help)" in r.err and "did you mean" not in r.err,
          "an empty name: said empty, the list given", r.err)
    for name in ("connect", "serve", "bench"):
        r = wsx("help", name)
        check(r.returncode == 0 and "Usage: wsx %s " % name in r.out, "wsx help " + name, r.out)
        check(r.out == wsx(name, "--help").out, "the same as %s --help" % name)
        check("Exit codes:" in r.out, "%s lists its exit codes" % name, r.out)
        options = "\n".join(l for l in r.out.splitlines() if l.startswith("  -"))
        for clutter in (" TEXT", "UINT", "FLOAT", "Needs:", "Excludes:", "INT in [", "=1"):
            check(clutter not in options, "no %r in %s --help" % (clutter, name), r.out)
        long = [line for line in r.out.splitlines() if len(line) > 80]
        check(not long, "%s --help is wrapped at 80 columns" % name, long)
        # One style in all three: an option's text starts in lower case unless with a name
        # such as HOST:PORT or TLS (serve's started with capitals), and each paragraph below
        # the options follows a blank line, the examples too (serve and bench had none).
        capital = [l for l in r.out.splitlines() if l.startswith("  -") and len(l) > 31 and
                   l[29] == " " and re.match(r"[A-Z][a-z]", l[30:32])]
        check(not capital, "%s: option texts in lower case" % name, capital)
        check(re.search(r"\n\nExamples?:\n", r.out) and "\nExit codes:" in r.out and
              "\n\nExit codes:" in r.out, "%s: blank lines before Exit codes and Examples" % name,
              r.out)
        check(h.wsx not in r.out or h.wsx == "wsx", "the usage says wsx, not the path")
    r = wsx("--help")
    check(r.returncode == 0 and "Usage: wsx " in r.out, "wsx --help", r.out)
    r = wsx("help")
    check(r.returncode == 0 and r.out == wsx("--help").out,
          "wsx help: the same as wsx --help (not the help of the help subcommand)", r.out)
    # One meaning per short flag: -c is --connections (bench), -s is --subprotocol (connect).
    check("-c,--connections" in wsx("bench", "--help").out, "bench -c")
    check("-s,--subprotocol" in wsx("connect", "--help").out, "connect -s")
    check("-s," not in wsx("bench", "--help").out, "bench has no -s")
    check(wsx("connect", "-c", "ws://127.0.0.1:1/").returncode == EXIT_USAGE, "connect has no -c")
    # --listen PORT alone is loopback (0: the port the kernel picks, which serve announces; a
    # port picked beforehand could be taken by another process before serve binds it).
    serve = subprocess.Popen([h.wsx, "serve", "--listen", "0"], stderr=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, preexec_fn=orphan_proof)
    h.processes.append(serve)
    line = read_line(serve.stderr, 10)
    listening = re.search(r"listening on 127\.0\.0\.1:(\d+) ", line)
    check(listening is not None, "--listen PORT: 127.0.0.1", line)
    port = int(listening.group(1))
    check(port != 0, "the port picked is announced", line)
    r = h.connect("-x", "hi", "-w", "0.3", "ws://127.0.0.1:%d/echo" % port)
    check(r.returncode == EXIT_OK and r.out == "< hi\n", "and it serves", r.show)


@case
def urls_as_people_type_them(h):
    # ws.PROTO:// offers PROTO, user:pass@ becomes Basic credentials (percent-decoded), a
    # default User-Agent is sent; http:// is ws://; no scheme to a loopback host is ws://.
    port = h.py_peer("--subprotocols", "chat.v2")
    r = h.connect("--json", "-x", "!header Authorization", "-x", "!header User-Agent", "-w", "1",
                  "ws.chat.v2://alice:p%%40ss@127.0.0.1:%d/" % port)
    check(r.returncode == EXIT_OK, "exit 0", r.show)
    events = json_events(r)
    check(events[0]["subprotocol"] == "chat.v2", "the subprotocol of ws.chat.v2://", r.show)
    check(events[0]["url"] == "ws://127.0.0.1:%d/" % port, "credentials not in the URL", r.show)
    data = [e["data"] for e in events if e["event"] == "message"]
    basic = base64.b64encode(b"alice:p@ss").decode()
    check(data[0] == "!header Basic " + basic, "Basic credentials from the URL", r.show)
    check(data[1].startswith("!header wsx/"), "User-Agent: wsx/VERSION", r.show)
    r = h.connect("--json", "-H", "User-Agent: mine", "-x", "!header User-Agent", "-w", "1",
                  "http://127.0.0.1:%d/" % port)
    data = [e["data"] for e in json_events(r) if e["event"] == "message"]
    check(r.returncode == EXIT_OK and data == ["!header mine"], "http:// and -H User-Agent",
          r.show)
    echo = h.echo()
    r = h.connect("-x", "plain", "-w", "0.5", "127.0.0.1:%d/path" % echo)
    check(r.returncode == EXIT_OK and r.out == "< plain\n" and
          "ws://127.0.0.1:%d/path" % echo in r.err, "no scheme: ws:// on loopback", r.show)


@case
def mistyped_scheme_is_refused_with_the_url_meant(h):
    # Without this, "ws:/127.0.0.1:PORT/echo" was taken as no scheme: the host "ws", exit 3 with
    # "cannot resolve \"ws\"", which sends the user looking at DNS instead of the typo.
    port = refused_port()
    for typed, meant in (("ws:/127.0.0.1:%d/echo", "ws://127.0.0.1:%d/echo"),
                         ("ws//127.0.0.1:%d/echo", "ws://127.0.0.1:%d/echo"),
                         ("wss:127.0.0.1:%d/echo", "wss://127.0.0.1:%d/echo"),
                         ("HTTP:\\\\127.0.0.1:%d/", "HTTP://127.0.0.1:%d/")):
        r = h.connect("-x", "x", typed % port)
        check(r.returncode == EXIT_USAGE, "%s: a usage error (exit 2)" % typed, r.show)
        check('did you mean "%s"?' % (meant % port) in r.err, "%s: the URL meant" % typed,
              r.show)
        check("resolve" not in r.err, "%s: no name lookup" % typed, r.show)
    r = h.connect("-x", "x", "")
    check(r.returncode == EXIT_USAGE and "the URL is empty" in r.err, "an empty URL", r.show)
    # A host that happens to be named like a scheme, with a port, is still a host.
    r = h.connect("-x", "x", "--connect-timeout", "5", "ws:%d/echo" % port)
    check(r.returncode == EXIT_CONNECT_FAILED and "did you mean" not in r.err,
          "ws:PORT is the host ws", r.show)


class TwoConnectionServer:
    """Takes a connection, reads one message and drops it (no close frame); then answers the
    next connection's handshake once `release` is set, and echoes until the client closes."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.listener.settimeout(RUN_TIMEOUT)
        self.port = self.listener.getsockname()[1]
        self.release = threading.Event()
        self.received = []
        self.error = None
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        try:
            conn, _ = self.listener.accept()
            with conn:
                raw_handshake(conn)
                self.received.append(read_frame(conn)[2])
            conn, _ = self.listener.accept()
            conn.settimeout(RUN_TIMEOUT)
            with conn:
                check(self.release.wait(RUN_TIMEOUT), "released")
                raw_handshake(conn)
                while True:
                    opcode, _, payload = read_frame(conn)
                    if opcode == 0x8:
                        conn.sendall(frame(0x8, payload[:2]))
                        break
                    self.received.append(payload)
                    conn.sendall(frame(opcode, payload))
        except Exception as e:
            self.error = e
        finally:
            self.listener.close()

    def finish(self):
        self.thread.join(RUN_TIMEOUT)
        check(self.error is None, "server: %r" % (self.error,))


@case
def reconnect_keeps_piped_lines_and_refuses_typed_ones(h):
    # Pipe: lines that come while the connection is down wait for the next one; none is lost.
    server = TwoConnectionServer()
    server.release.set()
    process = subprocess.Popen([h.wsx, "connect", "--reconnect", "-r",
                                "ws://127.0.0.1:%d/" % server.port], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               preexec_fn=orphan_proof)
    h.processes.append(process)
    process.stdin.write(b"one\n")
    process.stdin.flush()
    seen = ""
    deadline = time.monotonic() + RUN_TIMEOUT
    while "reconnecting" not in seen:  # the drop was noticed: what follows is written meanwhile
        ready, _, _ = select.select([process.stderr], [], [], max(0, deadline - time.monotonic()))
        check(ready, "no 'reconnecting' on stderr", seen)
        chunk = os.read(process.stderr.fileno(), 4096)  # unbuffered: communicate() gets the rest
        check(chunk, "stderr ended early", seen)
        seen += chunk.decode()
    process.stdin.write(b"two\nthree\n")
    process.stdin.close()
    process.stdin = None  # closed already: communicate() must not flush it
    out, err = process.communicate(timeout=RUN_TIMEOUT)
    server.finish()
    show = "exit %s\n%s\n%s%s" % (process.returncode, out, seen, err.decode())
    check(server.received == [b"one", b"two", b"three"], "every line arrived: %r" %
          server.received, show)
    check(out == b"two\nthree\n", "the echoes of the second connection", show)
    check(process.returncode == EXIT_OK, "exit 0: the last connection closed normally", show)
    check("Disconnected (code 1006" in seen and seen.count("Connected to") == 1,
          "the drop is reported", show)
    check("Connected to" in err.decode(), "and the new connection", show)

    # Prompt: a line typed while not connected is refused with a message, not lost silently.
    server = TwoConnectionServer()
    term = Terminal(h, "--reconnect", "ws://127.0.0.1:%d/" % server.port)
    try:
        term.expect("/help for commands")
        term.type("first\r")
        term.expect("Disconnected (code 1006")
        term.type("while down\r")
        term.expect("not sent: not connected (reconnecting)")
        server.release.set()
        term.expect("Connected to")
        term.type("after\r")
        term.expect("< after")
        term.type("/quit\r")
        term.expect("Disconnected (code 1000")
        check(term.exit_status() == EXIT_OK, "exit 0", term.shown())
    finally:
        term.close()
    server.finish()
    check(server.received == [b"first", b"after"], "sent: %r" % server.received)


def main(cases=CASES):
    """The command line of this script and of the scripts that reuse its harness (proxy_e2e.py)
    with their own cases."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--wsx")
    parser.add_argument("--echo-server")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("case", nargs="?")
    args = parser.parse_args()
    if args.list:
        print("\n".join(cases))
        return 0
    if not args.wsx or not args.echo_server:
        parser.error("--wsx and --echo-server are required to run a case")
    if args.case not in cases:
        print("unknown case %r; --list shows them" % args.case, file=sys.stderr)
        return 2
    harness = Harness(args)
    try:
        cases[args.case](harness)
    except Skip as e:
        print("skipped: %s" % e)
        return SKIP
    except Failure as e:
        print("FAILED: %s" % e)
        return 1
    except subprocess.TimeoutExpired as e:
        print("FAILED: timed out: %s" % e)
        return 1
    finally:
        harness.close()
    print("passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

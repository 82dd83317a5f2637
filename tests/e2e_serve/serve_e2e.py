#!/usr/bin/python3
"""End-to-end tests of `wsx serve` and `wsx bench`: serve_e2e.py WSX_BINARY CASE.

Every case starts its own server on 127.0.0.1 port 0 (the line "listening on HOST:PORT" on
stderr tells the port), has a deadline for every wait, and kills the server at the end.
Exit 0: passed, 1: failed, 77: skipped (e.g. no IPv6 loopback).
"""
import asyncio
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

import websockets

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import wsx_e2e  # noqa: E402

WSX = sys.argv[1]
TIMEOUT = 10


class Serve(wsx_e2e.Serve):
    """A running `wsx serve` (tests/support/wsx_e2e.py) of the binary under test."""

    def __init__(self, *args, listen="127.0.0.1:0"):
        super().__init__(WSX, *args, listen=listen, timeout=TIMEOUT)


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def http(port, request, host="127.0.0.1"):
    """Sends raw request bytes; returns (status, headers dict lower-case, body bytes)."""
    return wsx_e2e.http_exchange(port, request, host=host, timeout=TIMEOUT)


def get(port, path, extra=""):
    return http(port, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n%s\r\n" % (path, port, extra))


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, TIMEOUT))


def upgrade_status(port, path, origin=None):
    """The status a WebSocket handshake gets (101 or the refusal's)."""
    request = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\n" % (path, port))
    if origin:
        request += "Origin: %s\r\n" % origin
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as connection:
        connection.sendall((request + "\r\n").encode())
        head = connection.recv(4096).decode("latin-1")
    return int(head.split(" ")[1])


# ---- cases -------------------------------------------------------------------------------

def case_echo():
    with Serve() as serve:
        async def talk():
            async with websockets.connect("ws://127.0.0.1:%d/echo" % serve.port) as ws:
                await ws.send("héllo")
                check(await ws.recv() == "héllo", "text echo")
                await ws.send(b"\x00\x01\xfe\xff")
                reply = await ws.recv()
                check(reply == b"\x00\x01\xfe\xff" and isinstance(reply, bytes),
                      "binary echo keeps the opcode")
                big = "x" * 200000
                await ws.send(big)
                check(await ws.recv() == big, "200 kB echo")
                pong = await ws.ping(b"p")
                await asyncio.wait_for(pong, TIMEOUT)
        run(talk())
        check(serve.stop() == 0, "exit 0")


def case_chat():
    with Serve() as serve:
        async def talk():
            base = "ws://127.0.0.1:%d" % serve.port
            async with websockets.connect(base + "/chat/room1") as a, \
                    websockets.connect(base + "/chat/room1") as b, \
                    websockets.connect(base + "/chat/room2") as other, \
                    websockets.connect(base + "/chat") as lobby:
                await a.send("hello room1")
                check(await b.recv() == "hello room1", "b receives a's message")
                check(await a.recv() == "hello room1", "the sender receives it too")
                await lobby.send("hello lobby")
                check(await lobby.recv() == "hello lobby", "/chat is a room of its own")
                await other.send("ping room2")
                check(await other.recv() == "ping room2", "room2 echo")
                try:
                    leaked = await asyncio.wait_for(b.recv(), 0.3)
                    raise AssertionError("b got a message of another room: %r" % leaked)
                except asyncio.TimeoutError:
                    pass
        run(talk())


def case_console():
    with Serve() as serve:
        status, headers, body = get(serve.port, "/")
        check(status == 200, "GET / is 200, got %d" % status)
        check(headers.get("content-type", "").startswith("text/html"), "text/html: %r" % headers)
        csp = headers.get("content-security-policy", "")
        check("connect-src 'self' ws: wss:" in csp, "CSP: %r" % csp)
        check("script-src 'self';" in csp and "unsafe-inline" not in csp, "no inline code: %r" % csp)
        page = body.decode()
        check('<script src="/console.js"' in page, "the console's script is referenced")
        check(not re.search(r"""(src|href)=["']?(https?:)?//""", page), "no external resource")
        status, headers, script = get(serve.port, "/console.js")
        check(status == 200 and headers.get("content-type", "").startswith("text/javascript"),
              "console.js: %d %r" % (status, headers))
        check(b"new WsxSocket(" in script and b'"/echo"' in script, "defaults to this /echo")
        check('<script src="/wsx.js"' in page, "the console loads wsx.js")
        status, headers, served = get(serve.port, "/wsx.js")
        check(status == 200 and headers.get("content-type") == "text/javascript; charset=utf-8" and
              headers.get("x-content-type-options") == "nosniff", "wsx.js: %d %r" % (status, headers))
        with open(os.path.join(os.path.dirname(__file__), "..", "..", "js", "wsx.js"), "rb") as f:
            check(served == f.read(), "/wsx.js is js/wsx.js as it is in the tree")
        status, headers, _ = get(serve.port, "/console.css")
        check(status == 200 and headers.get("content-type", "").startswith("text/css"), "css")
        check(get(serve.port, "/console.missing")[0] == 404, "other names: 404")


def case_head_and_methods():
    with Serve() as serve:
        _, get_headers, get_body = get(serve.port, "/")
        status, headers, body = http(serve.port, "HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        check(status == 200 and body == b"", "HEAD: 200 without body")
        check(headers["content-length"] == str(len(get_body)), "HEAD: the GET's Content-Length")
        status, headers, _ = http(serve.port, "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n")
        check(status == 405 and "GET" in headers.get("allow", ""), "POST: 405 with Allow")
        status, _, _ = get(serve.port, "/echo")
        check(status == 426, "plain GET on a WebSocket route: 426, got %d" % status)


def case_static_files():
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(os.path.join(root, "sub"))
        with open(os.path.join(root, "hello.txt"), "w") as f:
            f.write("hello file\n")
        with open(os.path.join(root, "app.js"), "w") as f:
            f.write("console.log(1)")
        with open(os.path.join(root, "sub", "index.html"), "w") as f:
            f.write("<p>sub</p>")
        with open(os.path.join(root, "a b.css"), "w") as f:
            f.write("p{}")
        with Serve("--static", root) as serve:
            status, headers, body = get(serve.port, "/hello.txt")
            check(status == 200 and body == b"hello file\n", "file served: %d %r" % (status, body))
            check(headers["content-type"] == "text/plain; charset=utf-8", headers["content-type"])
            status, headers, _ = get(serve.port, "/app.js?v=2")
            check(status == 200 and headers["content-type"].startswith("text/javascript"), "js")
            status, _, body = get(serve.port, "/sub/")
            check(status == 200 and body == b"<p>sub</p>", "directory index")
            status, headers, _ = get(serve.port, "/a%20b.css")
            check(status == 200 and headers["content-type"].startswith("text/css"), "escaped name")
            check(get(serve.port, "/missing.txt")[0] == 404, "missing file: 404")
            status, _, body = get(serve.port, "/")
            check(status == 200 and b"/console.js" in body, "/ still the console")
            check(upgrade_status(serve.port, "/echo") == 101, "WebSocket routes still work")


def case_static_traversal():
    with tempfile.TemporaryDirectory() as top:
        root = os.path.join(top, "public")
        os.makedirs(root)
        with open(os.path.join(top, "secret.txt"), "w") as f:
            f.write("SECRET")
        with open(os.path.join(root, ".hidden"), "w") as f:
            f.write("SECRET")
        os.symlink(os.path.join(top, "secret.txt"), os.path.join(root, "link.txt"))
        with Serve("--static", root) as serve:
            for path in ["/../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E%2Fsecret.txt",
                         "/sub/../../secret.txt", "/.hidden", "/link.txt", "/..%5csecret.txt",
                         "/%00", "/%zz"]:
                status, _, body = get(serve.port, path)
                check(status == 404 and b"SECRET" not in body, "%s: got %d" % (path, status))


def case_origin():
    # The web console's page comes from the server itself: its Origin is the server's.
    with Serve() as serve:
        own = "http://127.0.0.1:%d" % serve.port
        check(upgrade_status(serve.port, "/echo", own) == 101, "same origin (the console)")
        check(upgrade_status(serve.port, "/chat/room", own.upper()) == 101, "case-insensitive")
        check(upgrade_status(serve.port, "/echo", "http://evil.example") == 403,
              "another site's page: 403 by default")
        check(upgrade_status(serve.port, "/echo", "http://127.0.0.1:%d" % (serve.port + 1)) == 403,
              "another port is another origin")
        check(upgrade_status(serve.port, "/echo", "null") == 403, "opaque origin: 403")
        check(upgrade_status(serve.port, "/echo") == 101, "no Origin: not a browser, allowed")
        check(serve.wait_line(r'"GET /echo" 403 origin="http://evil\.example"'), "logged 403")
    with Serve("--allow-origin", "http://good.example", "--allow-origin",
               "https://also.example") as serve:
        check(upgrade_status(serve.port, "/echo", "http://good.example") == 101, "allowed")
        check(upgrade_status(serve.port, "/chat", "https://also.example:443") == 101, "allowed too")
        check(upgrade_status(serve.port, "/echo", "http://evil.example") == 403, "other: 403")
        check(upgrade_status(serve.port, "/echo", "http://127.0.0.1:%d" % serve.port) == 101,
              "the console still works with --allow-origin")
    with Serve("--allow-any-origin") as serve:
        check(upgrade_status(serve.port, "/echo", "http://evil.example") == 101,
              "--allow-any-origin opts out")


def case_console_connects():
    """What the console page does in a browser: load "/", then open its WebSocket with the
    page's origin (websockets sends it like a browser would)."""
    with Serve() as serve:
        status, _, _ = get(serve.port, "/")
        check(status == 200, "console page served")
        async def talk():
            async with websockets.connect("ws://127.0.0.1:%d/echo" % serve.port,
                                          origin="http://127.0.0.1:%d" % serve.port) as ws:
                await ws.send("from the console")
                check(await ws.recv() == "from the console", "console echo")
        run(talk())
        check(serve.wait_line(r'"GET /echo" 101 origin="http://127\.0\.0\.1:%d"' % serve.port),
              "logged with its origin")


def case_plain_ws_warning():
    # 192.0.2.1 (TEST-NET-1, RFC 5737) is not local: the warning comes first, then the listen
    # fails, so no socket is ever opened outside loopback.
    result = subprocess.run([WSX, "serve", "--listen", "192.0.2.1:0"], capture_output=True,
                            text=True, timeout=30)
    check("use --cert/--key for wss://" in result.stderr and "192.0.2.1:0" in result.stderr,
          "warning for plain ws:// off loopback: %r" % result.stderr)
    check(result.returncode == 3 and "cannot listen" in result.stderr,
          "not a local address: exit 3, got %d %s" % (result.returncode, result.stderr))
    with Serve() as serve:
        check(serve.stop() == 0, "exit 0")
        check(not any(line and "warning" in line for line in serve.lines),
              "no warning on loopback: %r" % serve.lines)


def case_port_in_use():
    with Serve() as first:
        second = subprocess.run([WSX, "serve", "--listen", "127.0.0.1:%d" % first.port],
                                capture_output=True, text=True, timeout=30)
        check(second.returncode == 3, "a second wsx serve on the port: exit 3, got %d %s" %
              (second.returncode, second.stderr))
        check("cannot listen on 127.0.0.1:%d: Address already in use" % first.port in second.stderr,
              "says why: %r" % second.stderr)
        # The first one still has the port to itself and serves.
        for _ in range(4):
            check(upgrade_status(first.port, "/echo") == 101, "the first server still answers")
        check(first.stop() == 0, "first exits 0")
    with Serve("--threads", "2") as serve:
        async def talk():
            for i in range(4):
                async with websockets.connect("ws://127.0.0.1:%d/echo" % serve.port) as ws:
                    await ws.send("t%d" % i)
                    check(await ws.recv() == "t%d" % i, "two threads share their own port")
        run(talk())


def case_tls_failures():
    with tempfile.TemporaryDirectory() as directory:
        ca, cert, key = make_certificates(directory)
        with Serve("--cert", cert, "--key", key, "-q") as serve:
            attempts = 30
            for _ in range(attempts):
                with socket.create_connection(("127.0.0.1", serve.port), timeout=TIMEOUT) as raw:
                    raw.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # plain HTTP to TLS
                    try:
                        while raw.recv(4096):
                            pass
                    except OSError:
                        pass  # a reset after the alert is fine
            check(serve.wait_line(r"TLS handshake failed \(peer 127\.0\.0\.1:\d+\): \S"),
                  "a line with the peer and OpenSSL's reason: %r" % serve.lines)
            check(serve.stop() == 0, "exit 0")
            shown = sum(1 for line in serve.lines if line and "TLS handshake failed" in line)
            held = sum(int(m.group(1)) for m in
                       (re.search(r"\.\.\. (\d+) more errors", line or "") for line in serve.lines)
                       if m)
            check(shown + held == attempts, "every failure shown or counted: %d + %d, %r" %
                  (shown, held, serve.lines))
            check(shown <= 10 * (1 + int(time.monotonic() - serve.started)),
                  "at most 10 lines per second: %d" % shown)


def case_not_found():
    with Serve() as serve:
        check(upgrade_status(serve.port, "/nothing") == 404, "unknown WebSocket path: 404")
        check(get(serve.port, "/nothing")[0] == 404, "unknown plain path: 404")


def case_access_log():
    with Serve("--compress", "--allow-origin", "http://page.example") as serve:
        async def talk():
            async with websockets.connect("ws://127.0.0.1:%d/echo?x=1" % serve.port,
                                          origin="http://page.example",
                                          subprotocols=["chat.v1"]) as ws:
                await ws.send("h")
                await ws.recv()
        try:
            run(talk())
        except websockets.exceptions.InvalidHandshake:
            pass  # no subprotocol chosen: some versions refuse; the line is what matters
        line = serve.wait_line(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z 127\.0\.0\.1:\d+ '
                               r'"GET /echo\?x=1" 101 origin="http://page\.example" '
                               r'subprotocol="-" extensions="permessage-deflate[^"]*" '
                               r'transport=h1$')
        check(line, "access line: %r" % serve.lines)
        get(serve.port, "/")
        check(serve.wait_line(r'"GET /" 200 origin="-" .* transport=h1$'), "plain GET logged")
        check(serve.stop() == 0, "exit 0")
        # In the singular for one ("1 connections, 1 messages received (1 bytes)" before).
        check(serve.wait_line(r"stopped after .*: 1 connection, 1 message received \(1 byte\)$"),
              "summary: %r" % serve.lines)


def case_trace():
    with Serve("--trace", "--quiet") as serve:
        async def talk():
            async with websockets.connect("ws://127.0.0.1:%d/echo" % serve.port,
                                          compression=None) as ws:
                await ws.send("trace me")
                check(await ws.recv() == "trace me", "echo")
                pong = await ws.ping(b"p1")
                await asyncio.wait_for(pong, TIMEOUT)
        run(talk())
        peer = r"\d\d:\d\d:\d\d\.\d{3} 127\.0\.0\.1:\d+ "
        for pattern, what in [
                (peer + r'= open "/echo" transport=h1 subprotocol="-" extensions="-"$', "open"),
                (peer + r'< text fin=1 rsv=000 masked=1 len=8 "trace me"$', "received text"),
                (peer + r'> text fin=1 rsv=000 masked=0 len=8 "trace me"$', "sent echo"),
                (peer + r'< ping fin=1 rsv=000 masked=1 len=2 "p1"$', "received ping"),
                (peer + r'> pong fin=1 rsv=000 masked=0 len=2 "p1"$', "automatic pong"),
                (peer + r"< close fin=1 rsv=000 masked=1 len=2 code=1000$", "client's close"),
                (peer + r"> close fin=1 rsv=000 masked=0 len=2 code=1000$", "close echoed"),
                (r"\d\d:\d\d:\d\d\.\d{3} \S* ?= closed code=1000 clean=1 reason=\"-\"$",
                 "closed")]:
            check(serve.wait_line(pattern), "%s traced: %r" % (what, serve.lines))
        check(not any(line and '"GET /echo"' in line for line in serve.lines),
              "--quiet still hides access lines")
        check(serve.stop() == 0, "exit 0")


def case_h2c():
    """--h2c: curl with prior knowledge gets HTTP/2 in clear text, logged as h2 and counted in
    /metrics; HTTP/1.1 clients are served as before on the same port."""
    with Serve("--h2c", "--metrics") as serve:
        def curl(*how):
            done = subprocess.run(["curl", "-sS", "--max-time", str(TIMEOUT), *how, "-w",
                                   "|%{http_version}",
                                   "http://127.0.0.1:%d/metrics" % serve.port],
                                  capture_output=True, text=True, timeout=TIMEOUT + 5)
            return done.stdout
        metrics = curl("--http2-prior-knowledge")
        check(metrics.endswith("|2"), "HTTP/2 answer: %r" % metrics[-200:])
        check(re.search(r"^wsx_http2_connections_total 1$", metrics, re.M),
              "the connection is counted: %r" % metrics)
        check(serve.wait_line(r'"GET /metrics" 200 origin="-" .* transport=h2$'),
              "logged as h2: %r" % serve.lines)
        check(curl("--http1.1").endswith("|1.1"), "HTTP/1.1 on the same port")
        async def talk():
            async with websockets.connect("ws://127.0.0.1:%d/echo" % serve.port) as ws:
                await ws.send("h1 beside h2c")
                check(await ws.recv() == "h1 beside h2c", "echo")
        run(talk())
    with tempfile.TemporaryDirectory() as directory:
        ca, cert, key = make_certificates(directory)
        done = subprocess.run([WSX, "serve", "--h2c", "--cert", cert, "--key", key],
                              capture_output=True, text=True, timeout=TIMEOUT)
        check(done.returncode == 2 and "--h2c" in done.stderr,
              "--h2c with --cert is refused: %d %r" % (done.returncode, done.stderr))


def make_certificates(directory):
    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True,
                       timeout=TIMEOUT)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=wsx e2e CA")
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    with open(os.path.join(directory, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf")
    return [os.path.join(directory, name) for name in ("ca.pem", "server.pem", "server.key")]


def case_wss():
    with tempfile.TemporaryDirectory() as directory:
        ca, cert, key = make_certificates(directory)
        with Serve("--cert", cert, "--key", key) as serve:
            check(serve.wait_line(r"wss://127\.0\.0\.1:\d+/echo"), "announces wss://")
            context = ssl.create_default_context(cafile=ca)
            async def talk():
                async with websockets.connect("wss://127.0.0.1:%d/echo" % serve.port,
                                              ssl=context) as ws:
                    await ws.send("secure")
                    check(await ws.recv() == "secure", "wss echo")
            run(talk())
            with socket.create_connection(("127.0.0.1", serve.port), timeout=TIMEOUT) as raw:
                with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                    tls.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                    data = b""
                    while chunk := tls.recv(65536):
                        data += chunk
            check(data.startswith(b"HTTP/1.1 200") and b"/console.js" in data, "https console")
            untrusting = ssl.create_default_context()
            async def refused():
                try:
                    async with websockets.connect("wss://127.0.0.1:%d/echo" % serve.port,
                                                  ssl=untrusting):
                        raise AssertionError("a client without the CA connected")
                except ssl.SSLCertVerificationError:
                    pass
            run(refused())


def case_sigterm():
    with Serve() as serve:
        async def talk():
            async with websockets.connect("ws://127.0.0.1:%d/echo" % serve.port) as ws:
                await ws.send("before")
                await ws.recv()
                serve.process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(ws.recv(), TIMEOUT)
                    raise AssertionError("a message instead of the close")
                except websockets.exceptions.ConnectionClosed as closed:
                    code = closed.rcvd.code if closed.rcvd else None
                    check(code == 1001, "close 1001 on SIGTERM, got %r" % code)
        run(talk())
        check(serve.stop() == 0, "exit 0 after SIGTERM")
        # The plural for more than one byte ("before": 6).
        check(serve.wait_line(r"stopped after .*: 1 connection, 1 message received \(6 bytes\)$"),
              "summary: %r" % serve.lines)
    with Serve() as serve:
        check(serve.stop(signal.SIGINT) == 0, "exit 0 after SIGINT")


def bench_json(*args, duration="1"):
    result = subprocess.run([WSX, "bench", *args, "--duration", duration, "--json"],
                            capture_output=True, text=True, timeout=30)
    check(result.returncode == 0, "bench exit %d: %s %s" % (result.returncode, result.stdout,
                                                           result.stderr))
    check("\r" not in result.stdout, "no progress line on a pipe")
    report = json.loads(result.stdout)
    check(report["messages"] > 0 and report["messages_per_s"] > 0 and report["mb_per_s"] > 0,
          "non-zero throughput: %r" % report)
    check(report["errors"] == 0 and report["error_messages"] == [], "no errors: %r" % report)
    latency = report["latency_us"]
    check(0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"],
          "ordered percentiles: %r" % latency)
    return report


def case_bench():
    with Serve("--threads", "2", "--compress", "-q") as serve:
        url = "ws://127.0.0.1:%d/echo" % serve.port
        report = bench_json(url, "--connections", "4", "--in-flight", "8", "--size", "100")
        check(report["opened"] == 4 and report["close_codes"] == {"1000": 4}, repr(report))
        check(report["compressed"] == 0, "nothing offered, nothing compressed: %r" % report)
        report = bench_json(url, "-c", "3", "-t", "2", "--binary", "--compress", "--size", "5000")
        check(report["bytes"] == report["messages"] * 5000 and report["binary"], repr(report))
        check(report["compress"] and report["compressed"] == 3, "deflate on all 3: %r" % report)
        table = subprocess.run([WSX, "bench", url, "-d", "0.3"], capture_output=True, text=True,
                               timeout=30)
        check(table.returncode == 0 and "msg/s" in table.stdout and "p99" in table.stdout,
              table.stdout)
        refused = subprocess.run([WSX, "bench", "ws://127.0.0.1:%d/nope" % serve.port, "-d",
                                  "0.3", "--json"], capture_output=True, text=True, timeout=30)
        check(refused.returncode == 4, "refused handshake: exit 4, got %d" % refused.returncode)
        check(json.loads(refused.stdout)["errors"] == 1, refused.stdout)
        check(serve.stop() == 0, "exit 0")
    # A server without --compress declines the offer: the report says so (it said only
    # "permessage-deflate offered", as if the run had measured compression).
    with Serve("-q") as serve:
        url = "ws://127.0.0.1:%d/echo" % serve.port
        report = bench_json(url, "--compress", duration="0.3")
        check(report["compress"] and report["compressed"] == 0, "declined: %r" % report)
        table = subprocess.run([WSX, "bench", url, "--compress", "-d", "0.3"], capture_output=True,
                               text=True, timeout=30)
        check(table.returncode == 0 and "permessage-deflate offered, declined by the server"
              in table.stdout, table.stdout)


class PythonServer:
    """A websockets server on a thread, answering each message with `reply(message)` (None:
    nothing), for endpoints that are not echoes."""

    def __init__(self, reply):
        self.port = None
        ready = threading.Event()

        async def handler(ws, *_):
            async for message in ws:
                answer = reply(message)
                if answer is not None:
                    await ws.send(answer)

        async def main():
            async with websockets.serve(handler, "127.0.0.1", 0) as server:
                self.port = server.sockets[0].getsockname()[1]
                ready.set()
                await asyncio.Future()

        threading.Thread(target=lambda: asyncio.run(main()), daemon=True).start()
        check(ready.wait(TIMEOUT), "the Python server started")


def case_bench_not_an_echo():
    # An endpoint that answers with something else stops the run at once, with the reason;
    # one that answers nothing is reported as such; neither prints a table of zeros.
    other = PythonServer(lambda message: "not what you sent")
    start = time.monotonic()
    result = subprocess.run([WSX, "bench", "ws://127.0.0.1:%d/" % other.port, "-d", "20"],
                            capture_output=True, text=True, timeout=30)
    # Far below the run's 20 s: room for a loaded machine to start the process slowly.
    check(time.monotonic() - start < 15, "stopped at once, not after the 20 s of the run")
    check(result.returncode == 6, "exit 6, got %d" % result.returncode)
    check("not an echo endpoint" in result.stderr and "17 bytes came back for one of 32"
          in result.stderr, "the reason: %r" % result.stderr)
    check(result.stdout == "", "no table: %r" % result.stdout)
    silent = PythonServer(lambda message: None)
    # -d 2: the handshake must fit in the run, even on a loaded machine.
    result = subprocess.run([WSX, "bench", "ws://127.0.0.1:%d/" % silent.port, "-d", "2"],
                            capture_output=True, text=True, timeout=30)
    check(result.returncode == 6 and "no echo came back" in result.stderr and
          result.stdout == "", "a silent endpoint: %d %r" % (result.returncode, result.stderr))
    result = subprocess.run([WSX, "bench", "ws://127.0.0.1:%d/" % silent.port, "-d", "2",
                             "--json"], capture_output=True, text=True, timeout=30)
    check(json.loads(result.stdout)["failure"].startswith("no echo came back"), result.stdout)
    port = wsx_e2e.refused_port()
    result = subprocess.run([WSX, "bench", "ws://127.0.0.1:%d/" % port, "-d", "0.5"],
                            capture_output=True, text=True, timeout=30)
    check(result.returncode == 3 and "no connection opened" in result.stderr and
          "refused" in result.stderr and result.stdout == "",
          "refused: %d %r %r" % (result.returncode, result.stdout, result.stderr))


def case_bench_message_too_big():
    # A real echo endpoint whose limit is below --size closes with 1009: that is the reason to
    # give, not "is it an echo endpoint?".
    with Serve("--max-message", "1000", "-q") as serve:
        url = "ws://127.0.0.1:%d/echo" % serve.port
        result = subprocess.run([WSX, "bench", url, "--size", "1001", "-d", "5"],
                                capture_output=True, text=True, timeout=30)
        check(result.returncode == 6, "exit 6, got %d %r" % (result.returncode, result.stderr))
        check("closed with 1009 (message too big)" in result.stderr and "1001 bytes (--size)"
              in result.stderr and "echo endpoint?" not in result.stderr,
              "the reason: %r" % result.stderr)
        check(result.stdout == "", "no table: %r" % result.stdout)
        bench_json(url, "--size", "1000")  # the limit itself is echoed


def case_bench_interrupted():
    # Ctrl-C prints the summary of what ran so far, then exits 130.
    with Serve("-q") as serve:
        bench = subprocess.Popen([WSX, "bench", "ws://127.0.0.1:%d/echo" % serve.port, "-d", "60",
                                  "-c", "2", "-t", "2"], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)  # let it run a while: this is the run's length, not synchronisation
        start = time.monotonic()
        bench.send_signal(signal.SIGINT)
        out, err = bench.communicate(timeout=30)
        # Far below the 58 s left of the run: room for a loaded machine.
        check(time.monotonic() - start < 20, "ended soon after SIGINT, not at the end of the run")
        # 128 + SIGINT, as a shell reports an interrupted command (it was 0: a script went on
        # as if the run had finished).
        check(bench.returncode == 130, "exit 130: %d %s" % (bench.returncode, err))
        check("interrupted after" in out and "msg/s" in out and "close codes    1000 x2" in out,
              "the summary so far: %r" % out)
        echoes = int(re.search(r"echoes\s+(\d+)", out).group(1))
        check(echoes > 0, "echoes counted: %r" % out)


def case_bench_wss():
    with tempfile.TemporaryDirectory() as directory:
        ca, cert, key = make_certificates(directory)
        with Serve("--cert", cert, "--key", key, "-q") as serve:
            # The run includes the TLS handshakes, which take over a second in a sanitizer
            # build on a loaded machine (loading the system CA store among others).
            bench_json("wss://127.0.0.1:%d/echo" % serve.port, "--ca", ca, "-c", "2",
                       duration="5")
            # Without --ca: refused, and the message names the options that would do.
            result = subprocess.run([WSX, "bench", "wss://127.0.0.1:%d/echo" % serve.port,
                                     "-d", "5"], capture_output=True, text=True, timeout=30)
            check(result.returncode == 3 and "certificate verify failed" in result.stderr and
                  "--ca FILE" in result.stderr and "-k/--insecure" in result.stderr,
                  "untrusted: %d %r" % (result.returncode, result.stderr))


def case_usage():
    for args in (["--listen", "nonsense"], ["--listen", "::1:80"], ["--static", "/nonexistent/dir"],
                 ["--cert", "only-cert.pem"], ["--threads", "x"],
                 ["--allow-origin", "app.example"], ["--allow-origin", "https://app.example/"]):
        result = subprocess.run([WSX, "serve", *args], capture_output=True, text=True, timeout=30)
        check(result.returncode == 2, "%r: exit 2, got %d" % (args, result.returncode))
    # A --cert or --key that is not there: a usage error naming the file (it was exit 6 with
    # OpenSSL's "error:80000002:system library::No such file or directory; system lib").
    for cert, key, missing in (("/nonexistent/c.pem", "/dev/null", "--cert"),
                               ("/dev/null", "/nonexistent/k.pem", "--key")):
        result = subprocess.run([WSX, "serve", "--cert", cert, "--key", key], capture_output=True,
                                text=True, timeout=30)
        check(result.returncode == 2 and "%s: File does not exist: /nonexistent/" % missing
              in result.stderr, result.stderr)
    # A port alone out of range: the error gives every form --listen takes and the port's
    # range (it said "expected HOST:PORT or [IPv6]:PORT", not the PORT alone just typed).
    result = subprocess.run([WSX, "serve", "--listen", "70000"], capture_output=True, text=True,
                            timeout=30)
    check(result.returncode == 2 and "a PORT alone, with PORT from 0 to 65535" in result.stderr,
          result.stderr)
    result = subprocess.run([WSX, "serve", "--help"], capture_output=True, text=True, timeout=30)
    check(result.returncode == 0 and "--allow-origin" in result.stdout and
          "--allow-any-origin" in result.stdout and
          "3 an address cannot be listened on" in result.stdout, "serve --help")
    result = subprocess.run([WSX, "bench", "--help"], capture_output=True, text=True, timeout=30)
    check(result.returncode == 0 and "--in-flight" in result.stdout, "bench --help")
    with socket.socket() as occupant:  # no SO_REUSEPORT: wsx cannot share its port
        occupant.bind(("127.0.0.1", 0))
        occupant.listen()
        port = occupant.getsockname()[1]
        taken = subprocess.run([WSX, "serve", "--listen", "127.0.0.1:%d" % port],
                               capture_output=True, text=True, timeout=30)
        check(taken.returncode == 3 and "Address already in use" in taken.stderr,
              "port in use: exit 3, got %d %s" % (taken.returncode, taken.stderr))
    both = subprocess.run([WSX, "serve", "--allow-origin", "https://a.example",
                           "--allow-any-origin"], capture_output=True, text=True, timeout=30)
    check(both.returncode == 2, "--allow-origin with --allow-any-origin: exit 2, got %d" %
          both.returncode)


def case_max_message():
    with Serve("--max-message", "100", "-q") as serve:
        async def talk():
            async with websockets.connect("ws://127.0.0.1:%d/echo" % serve.port) as ws:
                await ws.send("x" * 100)
                check(await ws.recv() == "x" * 100, "a message of exactly --max-message is echoed")
                await ws.send("x" * 101)
                try:
                    await ws.recv()
                    raise AssertionError("a message over --max-message was echoed")
                except websockets.ConnectionClosed:
                    pass
                check(ws.close_code == 1009, "over --max-message: close %s" % ws.close_code)
        run(talk())


def case_idle_timeout():
    with Serve("--idle-timeout", "0.3", "-q") as serve:
        # A raw client that never answers: the server pings it after the idle time.
        request = ("GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n")
        with socket.create_connection(("127.0.0.1", serve.port), timeout=TIMEOUT) as connection:
            connection.sendall(request.encode())
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = connection.recv(4096)
                check(chunk, "the handshake was answered")
                data += chunk
            check(data.startswith(b"HTTP/1.1 101"), "upgraded: %r" % data[:40])
            frames = data.partition(b"\r\n\r\n")[2]
            start = time.monotonic()
            while len(frames) < 2:
                chunk = connection.recv(4096)
                check(chunk, "a ping came before the connection ended")
                frames += chunk
            waited = time.monotonic() - start
            check(frames[0] == 0x89, "the first frame after the idle time is a ping: %r" % frames)
            check(0.2 <= waited < 3, "pinged after %.2f s for --idle-timeout 0.3" % waited)

        # A client that answers pings (websockets does) stays open through several idle times.
        async def talk():
            async with websockets.connect("ws://127.0.0.1:%d/echo" % serve.port,
                                          ping_interval=None) as ws:
                await asyncio.sleep(1.2)
                await ws.send("still here")
                check(await ws.recv() == "still here", "open after 4 idle times")
        run(talk())


def case_ipv6():
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        sys.exit(77)
    with Serve(listen="[::1]:0") as serve:
        check(serve.wait_line(r"listening on \[::1\]:%d" % serve.port), "announces [::1]")
        async def talk():
            async with websockets.connect("ws://[::1]:%d/echo" % serve.port) as ws:
                await ws.send("six")
                check(await ws.recv() == "six", "IPv6 echo")
        run(talk())
        check(serve.wait_line(r'\[::1\]:\d+ "GET /echo" 101'), "IPv6 remote in the access line")


def console_token(serve, cookie=None):
    """GET / as a browser does: the page's token and the session cookie (the one sent if kept)."""
    status, headers, body = get(serve.port, "/", "Cookie: %s\r\n" % cookie if cookie else "")
    check(status == 200, "console page served")
    match = re.search(rb'<meta name="wsx-csrf-token" content="([A-Za-z0-9_-]{96})">', body)
    check(match, "the page carries a token")
    set_cookie = headers.get("set-cookie")
    if cookie is None:
        check(set_cookie and re.fullmatch(
            r"wsx_session=[A-Za-z0-9_-]{43}; Path=/; HttpOnly; SameSite=Strict", set_cookie),
            "session cookie set HttpOnly, SameSite=Strict: %r" % set_cookie)
        cookie = set_cookie.split(";")[0]
    else:
        check(set_cookie is None, "a session the browser has is kept")
    check(headers.get("cache-control") == "no-store", "a page with a token is not cached")
    check("access-control-allow-origin" not in headers, "no CORS: other origins cannot read it")
    return match.group(1).decode(), cookie


def upgrade_response(port, path, headers=""):
    """Status and body of a handshake's refusal (or 101 and b"")."""
    request = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\nOrigin: http://127.0.0.1:%d\r\n%s\r\n"
               % (path, port, port, headers))
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as connection:
        connection.sendall(request.encode())
        data = b""
        while b"\r\n\r\n" not in data or not data.startswith(b"HTTP/1.1 101"):
            chunk = connection.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), head.decode("latin-1"), body


def forge(token):
    """The same token with one character changed (still base64url, still 96 characters)."""
    middle = 50
    return token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1:]


def case_csrf():
    """wsx serve --csrf: the console page's token (with its cookie) opens /echo and /chat over
    the subprotocol and the query; anything else is 403 with the reason, logged."""
    with Serve("--csrf") as serve:
        check(serve.wait_line(r"require a CSRF token"), "announced")
        token, cookie = console_token(serve)
        origin = "http://127.0.0.1:%d" % serve.port
        async def talk():
            async with websockets.connect("ws://127.0.0.1:%d/echo" % serve.port, origin=origin,
                                          subprotocols=["csrf." + token],
                                          extra_headers={"Cookie": cookie}) as ws:
                check(ws.subprotocol is None, "the token entry is not echoed")
                await ws.send("with a token")
                check(await ws.recv() == "with a token", "echo with the console's token")
            async with websockets.connect("ws://127.0.0.1:%d/chat/room?csrf=%s"
                                          % (serve.port, token), origin=origin,
                                          extra_headers={"Cookie": cookie}) as ws:
                await ws.send("in the room")
                check(await ws.recv() == "in the room", "chat with the token in the query")
        run(talk())
        # A page reached from another site gets no token and leaves the session alone.
        for site in ("cross-site", "same-site"):
            status, headers, body = get(serve.port, "/", "Sec-Fetch-Site: %s\r\n" % site)
            check(status == 200 and b"wsx-csrf-token" not in body and "set-cookie" not in headers,
                  "%s navigation: no token, no new session: %r" % (site, headers))
        for site in ("none", "same-origin"):
            status, headers, body = get(serve.port, "/", "Sec-Fetch-Site: %s\r\n" % site)
            check(b"wsx-csrf-token" in body and "set-cookie" in headers, "%s: a token" % site)
        # The same browser loading the page again keeps its session; both tokens work.
        again, _ = console_token(serve, cookie)
        check(again != token, "a fresh token per page")
        check(upgrade_response(serve.port, "/echo?csrf=" + again, "Cookie: %s\r\n" % cookie)[0]
              == 101, "second page's token")
        refusals = [
            ("/echo", "Cookie: %s\r\n" % cookie, "csrf token missing"),
            ("/echo?csrf=" + forge(token), "Cookie: %s\r\n" % cookie, "csrf token forged"),
            ("/echo", "Cookie: %s\r\nSec-WebSocket-Protocol: csrf.%s\r\n" % (cookie, forge(token)),
             "csrf token forged"),
            ("/chat?csrf=" + token, "", "no session cookie for the csrf token"),
            ("/echo?csrf=" + token, "Cookie: wsx_session=%s\r\n" % ("A" * 43),
             "csrf token of another session"),
            ("/echo?csrf=" + token[:-1], "Cookie: %s\r\n" % cookie, "csrf token malformed"),
        ]
        for path, headers, reason in refusals:
            status, _, body = upgrade_response(serve.port, path, headers)
            check(status == 403, "%s %r: %d" % (path, reason, status))
            check(body == (reason + "\n").encode(), "reason in the body: %r" % body)
            check(serve.wait_line(r'" 403 .* reason="%s"' % re.escape(reason)),
                  "reason in the access line: %s" % reason)
        # A page elsewhere: even holding a valid token and the cookie, its Origin is refused.
        check(upgrade_status(serve.port, "/echo?csrf=" + token, "http://evil.example") == 403,
              "another origin")
        check(serve.wait_line(r'"GET /echo\?csrf=\[redacted\]" 403'), "tokens are not logged")
        check(not any(token in (line or "") for line in serve.lines), "no token in any line")
        # /admin/connections (the console's source of refusal reasons) keeps no token either.
        status, _, body = get(serve.port, "/admin/connections")
        check(status == 200, "admin list: %d" % status)
        listed = json.loads(body)["refused"]
        check(any(r["target"] == "/echo?csrf=[redacted]" and r["status"] == 403 for r in listed),
              "the refusal is listed with its token redacted: %r" % listed)
        check(token not in body.decode() and forge(token) not in body.decode(),
              "no token in the refusal list")
    # Without --csrf nothing changes: no token, no cookie.
    with Serve() as serve:
        status, headers, body = get(serve.port, "/")
        check(b"<meta name=\"wsx-csrf-token\"" not in body and "set-cookie" not in headers,
              "off by default")
        check(upgrade_status(serve.port, "/echo") == 101, "no token needed")


def case_csrf_secret():
    """--csrf-secret FILE: at least 32 bytes, tokens valid across a restart with the same file."""
    with tempfile.TemporaryDirectory() as directory:
        short = os.path.join(directory, "short")
        with open(short, "wb") as file:
            file.write(os.urandom(31))
        result = subprocess.run([WSX, "serve", "--listen", "0", "--csrf-secret", short],
                                capture_output=True, text=True, timeout=TIMEOUT)
        check(result.returncode == 2, "short secret: usage error, got %d" % result.returncode)
        check("at least 32 random bytes" in result.stderr, result.stderr)
        missing = subprocess.run([WSX, "serve", "--csrf-secret", os.path.join(directory, "none")],
                                 capture_output=True, text=True, timeout=TIMEOUT)
        check(missing.returncode == 2 and "cannot read it" in missing.stderr, missing.stderr)
        both = subprocess.run([WSX, "serve", "--csrf", "--csrf-secret", short],
                              capture_output=True, text=True, timeout=TIMEOUT)
        check(both.returncode == 2, "--csrf and --csrf-secret exclude each other")
        secret = os.path.join(directory, "secret")
        with open(secret, "wb") as file:
            file.write(os.urandom(32))
        os.chmod(secret, 0o600)
        with Serve("--csrf-secret", secret) as serve:
            token, cookie = console_token(serve)
            check(not serve.wait_line(r"warning: --csrf-secret", timeout=0.5), "no warning at 600")
        with Serve("--csrf-secret", secret) as serve:  # a restart: the same secret
            check(upgrade_response(serve.port, "/echo?csrf=" + token,
                                   "Cookie: %s\r\n" % cookie)[0] == 101, "valid after restart")
        # Raw bytes are kept as they are, a final "\n" included (it used to be stripped, which
        # left 31 bytes of this file); hex text, as openssl rand -hex 32 writes it, is decoded.
        raw_newline = os.path.join(directory, "raw_newline")
        with open(raw_newline, "wb") as file:
            file.write(os.urandom(31) + b"\n")
        os.chmod(raw_newline, 0o600)
        with Serve("--csrf-secret", raw_newline) as serve:
            token_raw, cookie_raw = console_token(serve)
            check(upgrade_response(serve.port, "/echo?csrf=" + token_raw,
                                   "Cookie: %s\r\n" % cookie_raw)[0] == 101, "raw secret with \\n")
        key = os.urandom(32)
        hex_file, raw_file = os.path.join(directory, "hex"), os.path.join(directory, "raw")
        with open(hex_file, "w") as file:
            file.write(key.hex() + "\n")
        with open(raw_file, "wb") as file:
            file.write(key)
        os.chmod(hex_file, 0o600)
        os.chmod(raw_file, 0o600)
        with Serve("--csrf-secret", hex_file) as serve:
            token_hex, cookie_hex = console_token(serve)
        with Serve("--csrf-secret", raw_file) as serve:  # the same key, written raw
            check(upgrade_response(serve.port, "/echo?csrf=" + token_hex,
                                   "Cookie: %s\r\n" % cookie_hex)[0] == 101,
                  "a hex file is the key it spells")
        short_hex = os.path.join(directory, "short_hex")
        with open(short_hex, "w") as file:
            file.write(os.urandom(16).hex() + "\n")
        result = subprocess.run([WSX, "serve", "--listen", "0", "--csrf-secret", short_hex],
                                capture_output=True, text=True, timeout=TIMEOUT)
        check(result.returncode == 2 and "16 bytes" in result.stderr, result.stderr)
        with Serve("--csrf") as serve:  # a generated secret: the old token is forged
            status, _, body = upgrade_response(serve.port, "/echo?csrf=" + token,
                                               "Cookie: %s\r\n" % cookie)
            check(status == 403 and body == b"csrf token forged\n", "other secret: %r" % body)
        os.chmod(secret, 0o644)
        with Serve("--csrf-secret", secret) as serve:
            check(serve.wait_line(r"warning: --csrf-secret .*chmod 600"), "readable by others")


def host_status(port, host, path="/", upgrade=False, origin=None):
    """The status of a request with this Host header (and an Origin, as a browser page sends)."""
    request = "GET %s HTTP/1.1\r\nHost: %s\r\n" % (path, host)
    if upgrade:
        request += ("Upgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")
    if origin:
        request += "Origin: %s\r\n" % origin
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as connection:
        connection.sendall((request + "\r\n").encode("latin-1"))
        data = b""
        # Read to the end (the server closes after a refusal or a page) or to a 101's head.
        while not (data.startswith(b"HTTP/1.1 101") and b"\r\n\r\n" in data):
            chunk = connection.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


def case_host_guard():
    """DNS rebinding: on loopback, a Host that is not this machine gets 421 (the console, its
    token, the admin list and every WebSocket route); --allow-host adds names."""
    with Serve("--csrf") as serve:
        for host in ("evil.example", "evil.example:%d" % serve.port, "192.0.2.1:%d" % serve.port):
            for path in ("/", "/admin/connections", "/console.js"):
                status, body = host_status(serve.port, host, path)
                check(status == 421 and b"wsx-csrf-token" not in body,
                      "Host %s %s: %d" % (host, path, status))
                check(b"--allow-host" in body, "the refusal says what to do: %r" % body)
            for path in ("/echo", "/chat/lobby"):
                status, _ = host_status(serve.port, host, path, upgrade=True,
                                        origin="http://" + host)
                check(status in (403, 421), "upgrade with Host %s %s: %d" % (host, path, status))
        for host in ("localhost:%d" % serve.port, "LOCALHOST", "127.0.0.1:%d" % serve.port,
                     "127.0.0.2", "[::1]:%d" % serve.port):
            status, body = host_status(serve.port, host)
            check(status == 200 and b"wsx-csrf-token" in body, "Host %s: %d" % (host, status))
    with Serve() as serve:  # without --csrf the upgrade itself is refused, not only the page
        for path in ("/echo", "/chat/lobby"):
            status, _ = host_status(serve.port, "evil.example", path, upgrade=True,
                                    origin="http://evil.example")
            check(status == 421, "rebinding upgrade %s: %d" % (path, status))
            check(serve.wait_line(r'"GET %s" 421' % path), "logged")
        check(host_status(serve.port, "127.0.0.1:%d" % serve.port, "/echo", upgrade=True,
                          origin="http://127.0.0.1:%d" % serve.port)[0] == 101, "loopback Host")
    with Serve("--allow-host", "ws.example.com") as serve:
        check(host_status(serve.port, "WS.example.com:443")[0] == 200, "an allowed name")
        check(host_status(serve.port, "ws.example.com", "/echo", upgrade=True)[0] == 101,
              "an allowed name upgrades")
        check(host_status(serve.port, "other.example.com")[0] == 421, "only the allowed name")
    text = subprocess.run([WSX, "help", "serve"], capture_output=True, text=True,
                          timeout=TIMEOUT).stdout
    check("--allow-host" in text and "421" in text, "wsx help serve documents --allow-host")


def case_address_limits():
    """--limit-loopback with small limits: 503 at the count and 429 past the rate, with
    Retry-After, in the access lines and the summary; loopback is exempt without the flag."""
    # A rate so small that the wait before a token leaves the clock's range: a usage error.
    tiny = subprocess.run([WSX, "serve", "--listen", "0", "--handshake-rate", "1e-12"],
                          capture_output=True, text=True, timeout=TIMEOUT)
    check(tiny.returncode == 2 and "one handshake a day" in tiny.stderr,
          "--handshake-rate 1e-12: %d %r" % (tiny.returncode, tiny.stderr))
    with Serve("--limit-loopback", "--max-per-address", "2", "--handshake-rate", "0") as serve:
        async def hold():
            async with websockets.connect("ws://127.0.0.1:%d/echo" % serve.port):
                async with websockets.connect("ws://127.0.0.1:%d/echo" % serve.port):
                    status, head, _ = upgrade_response(serve.port, "/echo")
                    check(status == 503, "third connection: %d" % status)
                    check("\r\nRetry-After: 5" in head, head)
            # Both closed: their places are free again (the server sees the closes shortly).
            deadline = time.monotonic() + TIMEOUT
            while upgrade_response(serve.port, "/echo")[0] != 101:
                check(time.monotonic() < deadline, "places given back")
                await asyncio.sleep(0.05)
        run(hold())
        check(serve.wait_line(r'"-" 503 .*reason="too many connections from this address"'),
              "logged 503")
        check(serve.stop() == 0, "exit 0")
        check(serve.wait_line(r"refused 0 handshakes \(429, rate\) and 1 connections"),
              "summary")
    with Serve("--limit-loopback", "--handshake-rate", "0.01", "--handshake-burst", "3") as serve:
        statuses = [upgrade_response(serve.port, "/echo")[0] for _ in range(3)]
        check(statuses == [101, 101, 101], "the burst: %r" % statuses)
        status, head, body = upgrade_response(serve.port, "/echo")
        check(status == 429 and b"handshake rate" in body, "past the burst: %d" % status)
        match = re.search(r"\r\nRetry-After: (\d+)", head)
        check(match and 1 <= int(match.group(1)) <= 100, head)
        check(serve.wait_line(r'" 429 .*reason="handshake rate of this address exceeded"'),
              "logged 429")
    with Serve("--max-per-address", "1", "--handshake-rate", "0.01", "--handshake-burst", "1") as serve:
        statuses = [upgrade_response(serve.port, "/echo")[0] for _ in range(5)]
        check(statuses == [101] * 5, "loopback exempt by default: %r" % statuses)


if __name__ == "__main__":
    sys.exit(wsx_e2e.run_case(globals()["case_" + sys.argv[2]], sys.argv[2]))

#!/usr/bin/python3
"""End-to-end tests of the admin endpoint of `wsx serve` (GET /admin/connections):
admin_e2e.py WSX_BINARY CASE.

Loopback is all of 127.0.0.0/8 and ::1 (any local process can bind any of them, so telling
127.0.0.2 from 127.0.0.1 would protect nothing). A peer that is NOT loopback is made honestly:
the `remote_*` cases re-run themselves in a network namespace of their own (unshare --net, as
root) whose loopback interface also carries 192.0.2.1 (TEST-NET-1); a client bound to
192.0.2.1 then reaches the server from a non-loopback address, and no packet leaves the
namespace.
"""
import asyncio
import json
import os
import socket
import subprocess
import sys
import time

import websockets

from serve_e2e import Serve, check, run, TIMEOUT, WSX
import wsx_e2e  # noqa: E402  (serve_e2e put tests/support on the path)

REMOTE = "192.0.2.1"
TOKEN = "s3cret-admin-token-0123456789"


def admin(port, host="127.0.0.1", source=None, headers=None, method="GET"):
    """(status, headers, body) of the admin endpoint, from `source` if given."""
    lines = ["%s /admin/connections HTTP/1.1" % method,
             "Host: %s:%d" % (host, port)] + (headers or [])
    return wsx_e2e.http_exchange(port, "\r\n".join(lines) + "\r\n\r\n", host=host,
                                 source=source, timeout=TIMEOUT)


def case_loopback():
    with Serve() as serve:
        async def talk():
            url = "ws://127.0.0.1:%d/echo" % serve.port
            async with websockets.connect(url) as ws:
                await ws.send("h\u00e9llo")
                await ws.recv()
                await ws.send(b"\x00\x01")
                await ws.recv()
                status, headers, body = admin(serve.port)
                check(status == 200, "loopback client: 200, got %d %r" % (status, body))
                check(headers.get("content-type") == "application/json", "JSON: %r" % headers)
                check(headers.get("cache-control") == "no-store", "not cached")
                data = json.loads(body)
                mine = [c for c in data["connections"] if c["path"] == "/echo"]
                check(len(mine) == 1, "the open connection is listed: %r" % data)
                c = mine[0]
                check(c["peer"] == "127.0.0.1:%d" % ws.local_address[1], "peer: %r" % c)
                check(c["received"] == {"messages": 2, "bytes": 8} and
                      c["sent"] == {"messages": 2, "bytes": 8}, "6 + 2 bytes each way: %r" % c)
                check(c["protocol"] == "" and c["extensions"] == "" and c["age_ms"] >= 0, repr(c))
                # 127.0.0.2 is loopback as well.
                status, _, _ = admin(serve.port, source="127.0.0.2")
                check(status == 200, "from 127.0.0.2: 200, got %d" % status)
        run(talk())
        status, _, body = admin(serve.port)
        check(json.loads(body)["connections"] == [], "closed connections leave the list: %r" % body)


def case_extensions():
    """The extensions as answered, with their parameters; the subprotocol chosen."""
    with Serve("--compress") as serve:
        async def talk():
            url = "ws://127.0.0.1:%d/echo" % serve.port
            async with websockets.connect(url, compression="deflate"), \
                    websockets.connect(url, compression=None):
                # A connection joins the list in its open callback, which runs after its 101
                # has left: the second one may not be listed yet.
                deadline = time.monotonic() + TIMEOUT
                while True:
                    _, _, body = admin(serve.port)
                    listed = sorted(json.loads(body)["connections"], key=lambda c: c["id"])
                    if len(listed) >= 2 or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.05)
                check(len(listed) == 2, "two connections: %r" % listed)
                check(listed[0]["extensions"].startswith("permessage-deflate;"),
                      "the answered header with its parameters: %r" % listed[0])
                check(listed[1]["extensions"] == "", "not compressed: %r" % listed[1])
        run(talk())


def case_loopback_refusals():
    """DNS rebinding and cross-site pages are refused; refused upgrades are remembered."""
    with Serve() as serve:
        # DNS rebinding: a page of evil.example whose name resolves to 127.0.0.1.
        with socket.create_connection(("127.0.0.1", serve.port), timeout=TIMEOUT) as c:
            c.sendall(b"GET /admin/connections HTTP/1.1\r\nHost: evil.example\r\n\r\n")
            reply = c.recv(4096).decode("latin-1")
        # 421 from the Host guard of loopback listeners, before the admin endpoint's own check.
        check(reply.startswith("HTTP/1.1 421"), "Host of another name (DNS rebinding): %r" % reply)
        status, _, _ = admin(serve.port, headers=["Sec-Fetch-Site: cross-site"])
        check(status == 403, "a cross-site page's fetch: 403, got %d" % status)
        status, headers, _ = admin(serve.port, method="POST", headers=["Content-Length: 0"])
        check(status == 405 and "GET" in headers.get("allow", ""), "POST: 405, got %d" % status)
        async def refused():
            try:
                async with websockets.connect("ws://127.0.0.1:%d/nope?q=%%22" % serve.port):
                    pass
            except websockets.exceptions.InvalidHandshake:  # the 404
                return
            raise AssertionError("/nope was accepted")
        run(refused())
        status, _, body = admin(serve.port)
        refusals = json.loads(body)["refused"]
        check(any(r["target"] == "/nope?q=%22" and r["status"] == 404 for r in refusals),
              "the refused upgrade is listed with its status: %r" % refusals)


def case_token_usage():
    result = subprocess.run([WSX, "serve", "--admin-token", "short"], capture_output=True,
                            text=True, timeout=TIMEOUT)
    check(result.returncode == 2 and "at least 16" in result.stderr,
          "a short token is refused: %d %r" % (result.returncode, result.stderr))


def in_namespace():
    """Re-runs this case in a network namespace with 192.0.2.1 on its loopback interface."""
    if os.environ.get("WSX_ADMIN_NETNS") == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        subprocess.run(["ip", "addr", "add", REMOTE + "/32", "dev", "lo"], check=True)
        return True
    result = subprocess.run(["unshare", "--net", sys.executable, os.path.abspath(__file__),
                             *sys.argv[1:]], env={**os.environ, "WSX_ADMIN_NETNS": "1"},
                            timeout=60)
    if result.returncode != 0:
        raise AssertionError("the case failed in its network namespace (it needs root, "
                             "unshare(1) from util-linux and ip(8) from iproute2), exit %d"
                             % result.returncode)
    return False


def case_remote_without_token():
    if not in_namespace():
        return
    with Serve(listen="0.0.0.0:0") as serve:
        status, _, body = admin(serve.port, host=REMOTE, source=REMOTE)
        check(status == 403 and b"--admin-token" in body, "non-loopback peer: 403, got %d" % status)
        status, _, _ = admin(serve.port, host=REMOTE, source=REMOTE,
                             headers=["Authorization: Bearer " + TOKEN])
        check(status == 403, "no token configured: no header opens it, got %d" % status)
        # A Host header that says loopback does not make the peer loopback.
        status, _, _ = admin_with_host(serve.port, "127.0.0.1")
        check(status == 403, "Host: 127.0.0.1 from 192.0.2.1: 403, got %d" % status)
        status, _, _ = admin(serve.port, host="127.0.0.1")
        check(status == 200, "loopback in the same namespace: 200, got %d" % status)


def admin_with_host(port, host_header):
    with socket.socket() as connection:
        connection.settimeout(TIMEOUT)
        connection.bind((REMOTE, 0))
        connection.connect((REMOTE, port))
        connection.sendall(("GET /admin/connections HTTP/1.1\r\nHost: %s\r\n\r\n"
                            % host_header).encode())
        reply = connection.recv(4096).decode("latin-1")
    return int(reply.split(" ")[1]), None, None


def case_remote_with_token():
    if not in_namespace():
        return
    with Serve("--admin-token", TOKEN, listen="0.0.0.0:0") as serve:
        async def talk():
            async with websockets.connect("ws://%s:%d/chat/room" % (REMOTE, serve.port)) as ws:
                await ws.send("hi")
                await ws.recv()
                status, headers, _ = admin(serve.port, host=REMOTE, source=REMOTE)
                check(status == 401 and headers.get("www-authenticate", "").startswith("Bearer"),
                      "no token: 401 with a Bearer challenge, got %d %r" % (status, headers))
                for wrong in [TOKEN[:-1], TOKEN + "x", TOKEN.upper(), ""]:
                    status, _, _ = admin(serve.port, host=REMOTE, source=REMOTE,
                                         headers=["Authorization: Bearer " + wrong])
                    check(status == 401, "wrong token %r: 401, got %d" % (wrong, status))
                status, _, body = admin(serve.port, host=REMOTE, source=REMOTE,
                                        headers=["Authorization: Bearer " + TOKEN])
                check(status == 200, "the token opens it from 192.0.2.1: got %d" % status)
                listed = json.loads(body)["connections"]
                check(any(c["path"] == "/chat/room" and c["peer"].startswith(REMOTE + ":") and
                          c["received"]["messages"] == 1 and c["sent"]["messages"] == 1
                          for c in listed), "the chat connection with its counts: %r" % listed)
        run(talk())
        status, _, _ = admin(serve.port, host="127.0.0.1")
        check(status == 200, "loopback still sees it without the token, got %d" % status)
    # The token from the environment, where ps does not show it.
    os.environ["WSX_ADMIN_TOKEN"] = TOKEN
    try:
        with Serve(listen="0.0.0.0:0") as serve:
            status, _, _ = admin(serve.port, host=REMOTE, source=REMOTE,
                                 headers=["Authorization: Bearer " + TOKEN])
            check(status == 200, "$WSX_ADMIN_TOKEN: 200, got %d" % status)
    finally:
        del os.environ["WSX_ADMIN_TOKEN"]


if __name__ == "__main__":
    sys.exit(wsx_e2e.run_case(globals()["case_" + sys.argv[2]], sys.argv[2]))

#!/usr/bin/python3
"""`wsx serve` over the long-polling fallback, end to end: long_polling_e2e.py WSX_BINARY CASE.

A client written here from docs/long-polling-protocol.md with http.client only (keep-alive
connections, masked frames made by hand) talks to /echo and /chat of a real `wsx serve`,
beside ordinary WebSocket clients (python3-websockets).
Exit 0: passed, 1: failed.
"""
import asyncio
import http.client
import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve_e2e  # noqa: E402  (Serve, check, run; reads the binary from argv[1] as we do)
from serve_e2e import Serve, check, run, console_token  # noqa: E402
import wsx_e2e  # noqa: E402  (serve_e2e put tests/support on the path)

import websockets  # noqa: E402

TIMEOUT = serve_e2e.TIMEOUT
POLL_TYPE = "application/x-wsx-poll"


def frame(opcode, payload):
    """A masked client frame (RFC 6455 §5.2)."""
    key = os.urandom(4)
    head = bytes([0x80 | opcode])
    if len(payload) < 126:
        head += bytes([0x80 | len(payload)])
    elif len(payload) < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", len(payload))
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", len(payload))
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def frames(data):
    """(opcode, payload) of each whole server frame in `data`, and the bytes left over."""
    found = []
    while len(data) >= 2:
        opcode, length = data[0] & 0x0F, data[1] & 0x7F
        check(data[1] & 0x80 == 0, "server frames are not masked")
        at = 2
        if length == 126:
            if len(data) < 4:
                break
            length, at = struct.unpack("!H", data[2:4])[0], 4
        elif length == 127:
            if len(data) < 10:
                break
            length, at = struct.unpack("!Q", data[2:10])[0], 10
        if len(data) < at + length:
            break
        found.append((opcode, data[at:at + length]))
        data = data[at + length:]
    return found, data


class Poller:
    """One long-polling session: a keep-alive connection for sends, one for recvs. Like a
    browser's fetch(), it sends Origin on POSTs and not on same-origin GETs."""

    def __init__(self, port, path, origin=None, headers=None, origin_on_get=False):
        self.port, self.path = port, path
        self.origin = origin if origin is not None else "http://127.0.0.1:%d" % port
        self.origin_on_get = origin_on_get
        self.extra = dict(headers or {})
        self.sender = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.receiver = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.sid, self.sent, self.received, self.pending = None, 0, 0, b""

    def headers(self, get=False, **more):
        headers = {**self.extra, **more}
        if not get or self.origin_on_get:
            headers["Origin"] = self.origin
        if self.sid:
            headers["Wsx-Session"] = self.sid
        return headers

    def open(self, query=""):
        self.sender.request("POST", "%s?%swsx-poll=open" % (self.path, query + "&" if query else ""),
                            body=b"", headers=self.headers(**{"Content-Type": POLL_TYPE}))
        response = self.sender.getresponse()
        body = response.read()
        if response.status == 200:
            check(response.getheader("X-Content-Type-Options") == "nosniff", "open: nosniff")
            self.answer = json.loads(body)
            self.sid = self.answer["sid"]
        return response.status

    def send(self, opcode, payload):
        data = frame(opcode, payload)
        self.sender.request("POST", "%s?wsx-poll=send&offset=%d" % (self.path, self.sent),
                            body=data, headers=self.headers(**{"Content-Type": POLL_TYPE}))
        response = self.sender.getresponse()
        response.read()
        if response.status == 204:
            self.sent += len(data)
            check(response.getheader("Wsx-Offset") == str(self.sent), "Wsx-Offset of the send")
        return response.status

    def recv(self):
        """One recv: (status, [(opcode, payload), ...])."""
        self.receiver.request("GET", "%s?wsx-poll=recv&ack=%d" % (self.path, self.received),
                              headers=self.headers(get=True))
        response = self.receiver.getresponse()
        body = response.read()
        if response.status != 200:
            return response.status, []
        check(response.getheader("Content-Type") == POLL_TYPE, "recv content type")
        self.received += len(body)
        found, self.pending = frames(self.pending + body)
        return 200, found

    def messages(self, count):
        """Polls until `count` data frames arrived; their (opcode, payload)."""
        got = []
        for _ in range(50):
            if len(got) >= count:
                break
            status, found = self.recv()
            check(status == 200, "recv: %d" % status)
            got += [f for f in found if f[0] in (1, 2, 8)]
        check(len(got) >= count, "%d messages, not %d" % (len(got), count))
        return got


def case_echo():
    with Serve("--quiet") as serve:
        poller = Poller(serve.port, "/echo")
        check(poller.open() == 200, "open /echo")
        check(poller.answer["poll"] == 25000 and poller.answer["timeout"] == 60000, "the JSON")
        check(poller.send(1, "héllo".encode()) == 204, "send text")
        check(poller.send(2, b"\x00\x01\xfe\xff") == 204, "send binary")
        got = poller.messages(2)
        check(got[0] == (1, "héllo".encode()), "text echoed: %r" % (got[0],))
        check(got[1] == (2, b"\x00\x01\xfe\xff"), "binary echoed")
        check(poller.send(8, struct.pack("!H", 1000)) == 204, "close")
        got = poller.messages(1)
        check(got[0][0] == 8 and got[0][1][:2] == struct.pack("!H", 1000), "close echoed")
        status, _ = poller.recv()
        check(status == 410, "then 410: %d" % status)


def case_chat():
    """A polling member and a WebSocket member of one room hear each other."""
    with Serve("--quiet") as serve:
        async def talk():
            async with websockets.connect("ws://127.0.0.1:%d/chat/room" % serve.port) as ws:
                poller = Poller(serve.port, "/chat/room")
                check(poller.open() == 200, "open /chat/room")
                # Both members are in the room once each hears the poller's first message (an
                # event, not a pause that a loaded machine may outlast).
                check(await asyncio.to_thread(poller.send, 1, b"joined") == 204, "send joined")
                check(await ws.recv() == "joined", "the WebSocket member hears the poller join")
                got = await asyncio.to_thread(poller.messages, 1)
                check(got == [(1, b"joined")], "the poller hears itself: %r" % (got,))
                await ws.send("from websocket")
                check(await ws.recv() == "from websocket", "the sender hears itself")
                got = await asyncio.to_thread(poller.messages, 1)
                check(got[0] == (1, b"from websocket"), "the poller hears it: %r" % (got[0],))
                check(await asyncio.to_thread(poller.send, 1, b"from polling") == 204, "send")
                check(await ws.recv() == "from polling", "the WebSocket member hears it")
        run(talk())


def case_refusals():
    with Serve("--quiet") as serve:
        foreign = Poller(serve.port, "/echo", origin="http://evil.example")
        check(foreign.open() == 403, "an open from another origin: 403")
        poller = Poller(serve.port, "/echo")
        check(poller.open() == 200, "open")
        thief = Poller(serve.port, "/echo", origin="http://evil.example", origin_on_get=True)
        thief.sid = poller.sid
        status, _ = thief.recv()
        check(status == 403, "the sid from another origin: %d" % status)
        form = http.client.HTTPConnection("127.0.0.1", serve.port, timeout=TIMEOUT)
        form.request("POST", "/echo?wsx-poll=send&offset=0", body=b"x=1",
                     headers=poller.headers(**{"Content-Type": "application/x-www-form-urlencoded"}))
        check(form.getresponse().status == 415, "a form's content type: 415")


def case_csrf():
    with Serve("--csrf", "--quiet") as serve:
        token, cookie = console_token(serve)
        without = Poller(serve.port, "/echo", headers={"Cookie": cookie})
        check(without.open() == 403, "open without a token: 403")
        poller = Poller(serve.port, "/echo", headers={"Cookie": cookie, "Wsx-Csrf": token})
        check(poller.open("csrf=" + token) == 200, "open with the page's token")
        check(poller.send(1, b"guarded") == 204, "send with the token")
        check(poller.messages(1)[0] == (1, b"guarded"), "echoed")
        del poller.extra["Wsx-Csrf"]
        status, _ = poller.recv()
        check(status == 403, "a request without the token: %d" % status)


if __name__ == "__main__":
    sys.exit(wsx_e2e.run_case(globals()["case_" + sys.argv[2]], sys.argv[2]))

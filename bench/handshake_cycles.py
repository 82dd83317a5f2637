#!/usr/bin/python3
"""A fixed number of the shared harness's scenario-d cycles against a WebSocket server.

Each cycle is what ../shared/bench's loadgen does in --mode handshake: connect, the upgrade
request (Host, Upgrade, Connection, a random Sec-WebSocket-Key, Sec-WebSocket-Version), check
the 101 and its Sec-WebSocket-Accept, send a masked Close (1000), read the server's whole Close
frame, wait for EOF, close. A count instead of a duration, so that load-independent measures of
the server (callgrind instructions, strace -c system calls) can be divided per handshake:

    valgrind --tool=callgrind build-rel/examples/echo_server --port 19411 &
    bench/handshake_cycles.py --port 19411 --cycles 2000 --concurrency 16

Exits 1 if any cycle failed (no 101, a wrong accept key, no whole Close frame before EOF, a
reset), printing the counts.
"""

import argparse
import base64
import hashlib
import os
import selectors
import socket
import sys
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def close_frame():
    mask = os.urandom(4)
    payload = (1000).to_bytes(2, "big")
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x88, 0x80 | len(payload)]) + mask + masked


class Cycle:
    def __init__(self, port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.connect_ex(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16))
        self.accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        self.out = (
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
            % (port, key)
        )
        self.input = b""
        self.upgraded = False

    def events(self):
        return selectors.EVENT_READ | (selectors.EVENT_WRITE if self.out else 0)

    def step(self, mask):
        """Returns None while the cycle goes on, else '' (done) or the reason it failed."""
        if mask & selectors.EVENT_WRITE and self.out:
            try:
                sent = self.sock.send(self.out)
            except BlockingIOError:
                sent = 0
            except OSError as error:
                return "send: %s" % error
            self.out = self.out[sent:]
        if not mask & selectors.EVENT_READ:
            return None
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return None
        except OSError as error:
            return "recv: %s" % error
        if not data:
            if not self.upgraded:
                return "EOF before the 101"
            # The server's whole Close frame (2-byte header, 2-byte code) came before its FIN.
            if len(self.input) < 4 or self.input[0] != 0x88 or self.input[1] != 2:
                return "EOF without a whole close frame: %r" % self.input
            return ""
        self.input += data
        if not self.upgraded:
            end = self.input.find(b"\r\n\r\n")
            if end < 0:
                return None
            head, self.input = self.input[: end + 4], self.input[end + 4 :]
            if not head.startswith(b"HTTP/1.1 101 "):
                return "not a 101: %r" % head[:40]
            if b"\r\nSec-WebSocket-Accept: " + self.accept + b"\r\n" not in head:
                return "wrong Sec-WebSocket-Accept"
            self.upgraded = True
            self.out += close_frame()
        return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=300, help="seconds for all cycles")
    args = parser.parse_args()

    selector = selectors.DefaultSelector()
    started = done = 0
    failures = {}
    deadline = time.monotonic() + args.timeout

    def start():
        nonlocal started
        cycle = Cycle(args.port)
        started += 1
        selector.register(cycle.sock, cycle.events(), cycle)

    for _ in range(min(args.concurrency, args.cycles)):
        start()
    while done < started and time.monotonic() < deadline:
        for key, mask in selector.select(1.0):
            cycle = key.data
            result = cycle.step(mask)
            if result is None:
                selector.modify(cycle.sock, cycle.events(), cycle)
                continue
            selector.unregister(cycle.sock)
            cycle.sock.close()
            done += 1
            if result:
                failures[result.split(":")[0]] = failures.get(result.split(":")[0], 0) + 1
                if sum(failures.values()) == 1:
                    print("first failure: " + result, file=sys.stderr)
            if started < args.cycles:
                start()
    failed = sum(failures.values()) + (started - done)
    print("cycles %d, failed %d %s" % (done, failed, failures or ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

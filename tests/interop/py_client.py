#!/usr/bin/python3
"""Python websockets client for the interop suite: runs the scenario list against a server and
exits non-zero at the first mismatch, saying which scenario failed.

Against a plain echo server (wsx's echo_server) it checks echoes of every size and kind,
fragmented sends, pings, ordering and the echoed close. With --commands the server also speaks
the command protocol of py_server.py (server-initiated close, ping and fragments, negotiated
subprotocol and extensions, the close code the server received).
"""
import argparse
import asyncio
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_common  # noqa: E402
import websockets  # noqa: E402


class Mismatch(Exception):
    pass


def check(condition, what):
    if not condition:
        raise Mismatch(what)


def connect(args, url=None, subprotocols=None):
    deflate = peer_common.parse_deflate(args.deflate)
    extensions = [peer_common.client_deflate_factory(deflate)] if deflate is not None else None
    url = url or args.url
    return websockets.connect(
        url, ssl=peer_common.client_tls(url, args.ca), compression=None, extensions=extensions,
        subprotocols=subprotocols, ping_interval=None, max_size=32 * 1024 * 1024, max_queue=64,
        origin="http://interop.test", open_timeout=10, close_timeout=10,
    )


async def echo_sizes(ws, args):
    for size in peer_common.sizes(args.large_size):
        text = peer_common.pattern_text(size, size % 7)
        await ws.send(text)
        reply = await ws.recv()
        check(isinstance(reply, str), "text %d came back as binary" % size)
        check(reply == text, "text %d: echo differs" % size)
        data = peer_common.pattern_bytes(size, size % 5)
        await ws.send(data)
        reply = await ws.recv()
        check(isinstance(reply, bytes), "binary %d came back as text" % size)
        check(reply == data, "binary %d: echo differs" % size)
    unicode = "h\u00e9llo w\u00f6rld \u20ac \U0001F600"
    await ws.send(unicode)
    check(await ws.recv() == unicode, "UTF-8 text echo differs")


async def fragmented(ws, args):
    pieces = ["fragment one, ", "", "fragment \u00e9 two, ", "three"]
    await ws.send(pieces)
    check(await ws.recv() == "".join(pieces), "fragmented text echo differs")
    binary = [peer_common.pattern_bytes(70000, 1), b"", peer_common.pattern_bytes(10, 2)]
    await ws.send(binary)
    check(await ws.recv() == b"".join(binary), "fragmented binary echo differs")


async def pings(ws, args):
    for payload in (b"interop-ping", b"", bytes(range(125))):
        waiter = await ws.ping(payload)
        await asyncio.wait_for(waiter, 10)  # resolves only on a pong with this payload


async def ordering(ws, args):
    for i in range(200):
        await ws.send("message %d" % i)
    for i in range(200):
        check(await ws.recv() == "message %d" % i, "message %d out of order" % i)


async def repeated_compressible(ws, args):
    # Several similar messages: with context takeover the later ones reuse the window.
    text = peer_common.pattern_text(20000, 3)
    for i in range(5):
        await ws.send(text + str(i))
        check(await ws.recv() == text + str(i), "repeated message %d differs" % i)


async def server_commands(ws, args):
    await ws.send("!ping from-server")
    check(await ws.recv() == "!pong from-server", "server ping was not answered")
    for kind, count, size in (("text", 3, 10), ("binary", 4, 70000), ("text", 2, 0)):
        await ws.send("!fragments %s %d %d" % (kind, count, size))
        reply = await ws.recv()
        expected = peer_common.pattern_text(size) if kind == "text" else peer_common.pattern_bytes(size)
        check(reply == expected, "server fragments %s %d %d differ" % (kind, count, size))
    await ws.send("!header Origin")
    check(await ws.recv() == "!header http://interop.test", "Origin header not seen")


async def run(args):
    conn_id = uuid.uuid4().hex
    separator = "&" if "?" in args.url else "?"
    async with connect(args, args.url + separator + "id=" + conn_id) as ws:
        for scenario in (echo_sizes, fragmented, pings, ordering, repeated_compressible):
            try:
                await scenario(ws, args)
            except Mismatch:
                raise
            except Exception as error:  # noqa: BLE001
                raise Mismatch("%s: %r" % (scenario.__name__, error))
        if args.commands:
            await server_commands(ws, args)
            await ws.send("!extensions")
            reply = await ws.recv()
            print("negotiated:", reply)
            expected = peer_common.parse_deflate(args.deflate) is not None and not args.expect_declined
            check(expected == ("permessage-deflate" in reply), "deflate negotiation: " + reply)
        await ws.close(4001, "bye \u00e9")
        # RFC 6455 §5.5.1: the answer typically echoes the code; echoing the reason is optional.
        check(ws.close_code == 4001, "echoed close code %s, expected 4001" % ws.close_code)

    if args.commands:
        async with connect(args) as ws:
            await ws.send("!lastclose " + conn_id)
            check(await ws.recv() == "!lastclose 4001 bye \u00e9", "server did not see our close")
            await ws.send("!close 4002 server says bye")
            try:
                await asyncio.wait_for(ws.recv(), 10)
                raise Mismatch("a message came instead of the close")
            except websockets.ConnectionClosed:
                pass
            check(ws.close_code == 4002 and ws.close_reason == "server says bye",
                  "server close: %s %r" % (ws.close_code, ws.close_reason))

    if args.subprotocol_offer:
        offer = args.subprotocol_offer.split(",")
        async with connect(args, subprotocols=offer) as ws:
            check((ws.subprotocol or "") == args.subprotocol_expect,
                  "subprotocol %r, expected %r" % (ws.subprotocol, args.subprotocol_expect))
            await ws.send("hello")
            check(await ws.recv() == "hello", "echo after subprotocol negotiation")

    if args.commands:
        base = args.url.split("/", 3)
        reject_url = "/".join(base[:3]) + "/reject/403"
        try:
            async with connect(args, reject_url):
                raise Mismatch("a refused handshake opened")
        except websockets.InvalidStatusCode as error:
            check(error.status_code == 403, "refused with %d" % error.status_code)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--ca", default="")
    parser.add_argument("--commands", action="store_true")
    parser.add_argument("--subprotocol-offer", default="")
    parser.add_argument("--subprotocol-expect", default="")
    parser.add_argument("--expect-declined", action="store_true",
                        help="the server must decline our permessage-deflate offer")
    peer_common.common_arguments(parser)
    args = parser.parse_args()
    try:
        asyncio.run(asyncio.wait_for(run(args), args.max_lifetime))
    except Mismatch as error:
        print("MISMATCH:", error, file=sys.stderr)
        sys.exit(1)
    print("all scenarios passed")


if __name__ == "__main__":
    main()

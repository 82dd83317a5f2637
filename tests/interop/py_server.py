#!/usr/bin/python3
"""Python websockets echo server for the interop suite, with a few commands.

Every message is echoed as it came (text or binary), except text messages starting with "!":
  !close CODE REASON     close with this code and reason
  !ping PAYLOAD          send a ping; "!pong PAYLOAD" follows once its pong arrived
  !fragments KIND N SIZE send a KIND (text|binary) message of SIZE pattern bytes in N frames
  !subprotocol           answer "!subprotocol NAME" (empty when none was chosen)
  !extensions            answer "!extensions VALUE" of our Sec-WebSocket-Extensions header
  !header NAME           answer "!header VALUE" of the request header NAME (empty if absent)
  !lastclose ID          answer "!lastclose CODE REASON" of the connection opened with ?id=ID
A request for /reject/NNN is refused with HTTP status NNN, header X-Reject: interop, body "no".
"""
import argparse
import asyncio
import http
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_common  # noqa: E402
import websockets  # noqa: E402

closed = {}  # id → (code, reason)


async def wait_closed_record(conn_id):
    for _ in range(500):
        if conn_id in closed:
            return closed[conn_id]
        await asyncio.sleep(0.01)
    return (0, "unknown id")


async def command(ws, text):
    name, _, rest = text[1:].partition(" ")
    if name == "close":
        code, _, reason = rest.partition(" ")
        await ws.close(int(code), reason)
    elif name == "ping":
        waiter = await ws.ping(rest.encode())
        await waiter
        await ws.send("!pong " + rest)
    elif name == "fragments":
        kind, count, size = rest.split(" ")
        count, size = int(count), int(size)
        data = peer_common.pattern_text(size) if kind == "text" else peer_common.pattern_bytes(size)
        step = max(1, (size + count - 1) // count)
        pieces = [data[i:i + step] for i in range(0, size, step)] or [data]
        while len(pieces) < count:
            pieces.append(data[:0])
        await ws.send(pieces)
    elif name == "subprotocol":
        await ws.send("!subprotocol " + (ws.subprotocol or ""))
    elif name == "extensions":
        await ws.send("!extensions " + ws.response_headers.get("Sec-WebSocket-Extensions", ""))
    elif name == "header":
        await ws.send("!header " + ws.request_headers.get(rest, ""))
    elif name == "lastclose":
        code, reason = await wait_closed_record(rest)
        await ws.send("!lastclose %d %s" % (code, reason))
    else:
        await ws.send("!unknown " + name)


async def handler(ws, path=None):
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(ws.path).query)
    conn_id = query.get("id", [None])[0]
    try:
        async for message in ws:
            if isinstance(message, str) and message.startswith("!"):
                await command(ws, message)
            else:
                await ws.send(message)
    except websockets.ConnectionClosed:
        pass
    finally:
        await ws.wait_closed()
        if conn_id is not None:
            closed[conn_id] = (ws.close_code, ws.close_reason)


async def process_request(path, headers):
    if path.startswith("/reject/"):
        status = http.HTTPStatus(int(path.split("/")[2]))
        return status, [("X-Reject", "interop")], b"no"
    return None


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--tls-cert", default="")
    parser.add_argument("--tls-key", default="")
    peer_common.common_arguments(parser)
    args = parser.parse_args()
    deflate = peer_common.parse_deflate(args.deflate)
    extensions = [peer_common.server_deflate_factory(deflate)] if deflate is not None else None
    subprotocols = [p for p in args.subprotocols.split(",") if p] or None
    async with websockets.serve(
        handler, args.host, args.port,
        ssl=peer_common.server_tls(args.tls_cert, args.tls_key),
        compression=None, extensions=extensions, subprotocols=subprotocols,
        process_request=process_request, ping_interval=None,
        max_size=32 * 1024 * 1024, max_queue=64,
    ):
        print("ready", flush=True)
        await asyncio.sleep(args.max_lifetime)


if __name__ == "__main__":
    asyncio.run(main())

#!/usr/bin/python3
"""`wsx serve --metrics` end to end: metrics_e2e.py WSX_BINARY CASE.

Known traffic goes through a real `wsx serve`, then /metrics is scraped and parsed with the
Prometheus project's own text-format parser (python3-prometheus-client) and every counter the
traffic touched must match exactly. Access: loopback by default, an allow-list replaces it,
anyone else gets 403 (127.0.0.2 plays the remote peer).
Exit 0: passed, 1: failed.
"""
import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve_e2e  # noqa: E402  (Serve, check, run; reads the binary from argv[1] as we do)
from serve_e2e import Serve, check, run  # noqa: E402
import wsx_e2e  # noqa: E402  (serve_e2e put tests/support on the path)

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    print("FAILED: python3-prometheus-client is missing (apt-get install "
          "python3-prometheus-client, or run scripts/install-deps.sh)", file=sys.stderr)
    sys.exit(1)

import websockets  # noqa: E402

TIMEOUT = serve_e2e.TIMEOUT


def scrape(port, source="127.0.0.1"):
    """GET /metrics from `source`; returns (status, content type, body text)."""
    status, headers, body = wsx_e2e.http_exchange(
        port, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", source=source, timeout=TIMEOUT)
    return status, headers.get("content-type", ""), body.decode("utf-8")


def samples(text):
    """{(sample name, frozenset of labels): value}, through the Prometheus parser."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(found, name, **labels):
    key = (name, frozenset(labels.items()))
    check(key in found, "no sample %s%r in the scrape" % (name, labels))
    return found[key]


def refused_upgrade(port, origin):
    """A WebSocket handshake from a page of another origin: wsx serve answers 403."""
    request = ("GET /echo HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               "Sec-WebSocket-Version: 13\r\nOrigin: %s\r\n\r\n" % (port, origin))
    status, _, _ = serve_e2e.http(port, request)
    return status


def case_metrics_counts():
    text_messages, text_size = 7, 100
    binary_messages, binary_size = 3, 1000
    chat_messages = 5
    with Serve("--metrics", "--quiet") as serve:
        port = serve.port

        async def traffic():
            async with websockets.connect("ws://127.0.0.1:%d/echo" % port,
                                          compression=None) as ws:
                for i in range(text_messages):
                    await ws.send(("%d" % i) * text_size)
                    check(await ws.recv() == ("%d" % i) * text_size, "text echo")
                for i in range(binary_messages):
                    await ws.send(bytes([i]) * binary_size)
                    check(await ws.recv() == bytes([i]) * binary_size, "binary echo")
                await ws.close(code=1001)  # returns once the server closed TCP
            # A room with its only member: each message is published and delivered back.
            async with websockets.connect("ws://127.0.0.1:%d/chat/room" % port,
                                          compression=None) as ws:
                for i in range(chat_messages):
                    await ws.send("chat %d" % i)
                    check(await ws.recv() == "chat %d" % i, "chat message back")
                await ws.close(code=4321)
        run(traffic())
        check(refused_upgrade(port, "https://elsewhere.example") == 403, "cross-origin: 403")

        status, content_type, body = scrape(port)
        check(status == 200, "scrape from loopback: %d" % status)
        check(content_type == "text/plain; version=0.0.4; charset=utf-8",
              "content type %r" % content_type)
        found = samples(body)

        def expect(name, expected, **labels):
            got = value(found, name, **labels)
            check(got == expected, "%s%r = %r, expected %r\n%s" % (name, labels, got, expected,
                                                                   body))

        chat_bytes = sum(len("chat %d" % i) for i in range(chat_messages))
        expect("wsx_messages_received_total", text_messages + chat_messages, kind="text")
        expect("wsx_messages_received_total", binary_messages, kind="binary")
        expect("wsx_message_bytes_received_total", text_messages * text_size + chat_bytes,
               kind="text")
        expect("wsx_message_bytes_received_total", binary_messages * binary_size, kind="binary")
        # Echoes, and the chat messages delivered back through publish.
        expect("wsx_messages_sent_total", text_messages + chat_messages, kind="text")
        expect("wsx_messages_sent_total", binary_messages, kind="binary")
        expect("wsx_message_bytes_sent_total", text_messages * text_size + chat_bytes,
               kind="text")
        expect("wsx_message_bytes_sent_total", binary_messages * binary_size, kind="binary")
        expect("wsx_upgrades_total", 2, status="101")
        expect("wsx_upgrades_total", 1, status="403")
        expect("wsx_close_codes_received_total", 1, code="1001")
        expect("wsx_close_codes_received_total", 1, code="4xxx")
        expect("wsx_close_codes_sent_total", 1, code="1001")  # our reply echoes the code
        expect("wsx_close_codes_sent_total", 1, code="4xxx")
        expect("wsx_connections_open", 0)
        expect("wsx_publishes_total", chat_messages)
        expect("wsx_publish_deliveries_total", chat_messages)
        expect("wsx_publish_fanout_seconds_count", chat_messages)
        expect("wsx_publish_fanout_seconds_bucket", chat_messages, le="+Inf")
        expect("wsx_backpressure_drops_total", 0)
        expect("wsx_deflate_plain_bytes_total", 0, direction="received")
        # No close code nobody sent, no upgrade status nobody got.
        codes = {dict(labels)["code"] for (name, labels) in found
                 if name == "wsx_close_codes_received_total"}
        check(codes == {"1001", "4xxx"}, "close codes received: %r" % codes)

        # A connection still open shows in the gauge.
        async def one_open():
            async with websockets.connect("ws://127.0.0.1:%d/echo" % port) as ws:
                await ws.send("x")
                await ws.recv()
                _, _, text = scrape(port)
                check(value(samples(text), "wsx_connections_open") == 1, "one open")
        run(one_open())


def case_metrics_deflate():
    messages, size = 4, 4000
    with Serve("--metrics", "--compress", "--quiet") as serve:
        async def traffic():
            async with websockets.connect("ws://127.0.0.1:%d/echo" % serve.port,
                                          compression="deflate") as ws:
                for i in range(messages):
                    await ws.send("abcd" * (size // 4))
                    check(await ws.recv() == "abcd" * (size // 4), "compressed echo")
        run(traffic())
        status, _, body = scrape(serve.port)
        check(status == 200, "scrape: %d" % status)
        found = samples(body)
        for direction in ("received", "sent"):
            plain = value(found, "wsx_deflate_plain_bytes_total", direction=direction)
            packed = value(found, "wsx_deflate_compressed_bytes_total", direction=direction)
            check(plain == messages * size, "%s: %r plain bytes" % (direction, plain))
            check(0 < packed < plain / 10, "%s: %r compressed bytes" % (direction, packed))
        check(value(found, "wsx_message_bytes_received_total", kind="text") == messages * size,
              "message bytes are the inflated ones")


def case_metrics_access():
    # Loopback by default: 127.0.0.2 is loopback too.
    with Serve("--metrics", "--quiet") as serve:
        check(scrape(serve.port, "127.0.0.2")[0] == 200, "default: any loopback peer")
    # An allow-list replaces the default: 127.0.0.2 is outside 127.0.0.1/32.
    with Serve("--metrics-allow", "127.0.0.1/32", "--quiet") as serve:
        check(serve.wait_line(r"metrics at http://127\.0\.0\.1:\d+/metrics"), "announced")
        status, _, body = scrape(serve.port, "127.0.0.2")
        check(status == 403, "127.0.0.2 outside the allow-list: %d" % status)
        check("wsx_" not in body, "a refused peer sees no metric")
        check(scrape(serve.port, "127.0.0.1")[0] == 200, "127.0.0.1 in the allow-list")
    # Without --metrics there is no /metrics.
    with Serve("--quiet") as serve:
        check(scrape(serve.port)[0] == 404, "no --metrics: 404")


def case_metrics_allow_usage():
    for bad in ("10.0.0.0/33", "nonsense", "10.0.0.0/", "::1/129"):
        process = serve_e2e.subprocess.run(
            [serve_e2e.WSX, "serve", "--listen", "127.0.0.1:0", "--metrics-allow", bad],
            capture_output=True, text=True, timeout=TIMEOUT)
        check(process.returncode == 2, "--metrics-allow %s: exit %d" % (bad, process.returncode))
        check("--metrics-allow" in process.stderr, "says which option: %r" % process.stderr)


if __name__ == "__main__":
    sys.exit(wsx_e2e.run_case(globals()["case_" + sys.argv[2]], sys.argv[2]))

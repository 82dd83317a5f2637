#!/usr/bin/python3
"""End-to-end tests of `wsx serve --redis`: redis_e2e.py WSX_BINARY CASE.

Each case starts its own redis-server (redis_fixture.py: free loopback port, temporary
directory) and three nodes A, B, C (`wsx serve --redis ... --listen 127.0.0.1:0`), with
WebSocket clients on each, and has a deadline for every wait. Exit 0: passed, 1: failed.
"""
import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import redis_fixture  # noqa: E402
from redis_fixture import RedisServer  # noqa: E402

import websockets  # noqa: E402

WSX = sys.argv[1]
TIMEOUT = 20  # for what normally takes milliseconds: a loaded machine
RECONNECT_TIMEOUT = 30  # a node's retries are 3-4.5 s apart once Redis has been gone a while
# A node under AddressSanitizer that loads the system's CAs (node C of case_tls) took over 10 s
# to start on a loaded machine.
START_TIMEOUT = 30
ROOM = "/chat/room"
TOPIC = "wsx:chat:room"  # the channel of the room on Redis


class Node:
    """A running `wsx serve --redis`; its stderr is collected on a thread."""

    def __init__(self, name, redis_url, *extra):
        self.name = name
        command = [WSX, "serve", "--listen", "127.0.0.1:0", "--redis", redis_url, "--node", name,
                   "--quiet", *extra]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.changed = threading.Condition()
        threading.Thread(target=self._collect, daemon=True).start()
        match = self.wait_line(r"listening on 127\.0\.0\.1:(\d+) ", START_TIMEOUT)
        if match is None:
            self.process.kill()
            raise AssertionError("node %s: no 'listening on' line: %r" % (name, self.lines))
        self.port = int(match.group(1))

    def _collect(self):
        for line in self.process.stderr:
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()

    def wait_line(self, pattern, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for line in self.lines:
                    match = re.search(pattern, line)
                    if match:
                        return match
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.changed.wait(left)

    def url(self, query=""):
        return "ws://127.0.0.1:%d%s%s" % (self.port, ROOM, query)

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError("node %s did not stop within %ds" % (self.name, TIMEOUT))


class Cluster:
    def __init__(self, history=0, names=("A", "B", "C")):
        self.redis = RedisServer()
        extra = ["--history", str(history)] if history else []
        self.nodes = {}
        try:
            for name in names:
                self.nodes[name] = Node(name, self.redis.url(), *extra)
        except BaseException:
            self.close()
            raise

    def close(self):
        for node in self.nodes.values():
            node.kill()
        self.redis.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def subscribed_nodes(redis):
    reply = redis.command("PUBSUB", "NUMSUB", TOPIC)
    return reply[1]


async def wait_until(predicate, what, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        await asyncio.sleep(0.05)


async def wait_subscribed(redis, count):
    await wait_until(lambda: subscribed_nodes(redis) == count,
                     "%d nodes subscribed to %s on Redis" % (count, TOPIC))


async def receive(ws, timeout=TIMEOUT):
    return await asyncio.wait_for(ws.recv(), timeout)


async def expect_silence(clients, seconds=0.5):
    """Nothing more arrives on any client (no duplicate)."""
    await asyncio.sleep(seconds)
    for label, ws in clients:
        try:
            extra = await asyncio.wait_for(ws.recv(), 0.05)
        except asyncio.TimeoutError:
            continue
        raise AssertionError("%s got an extra message %r" % (label, extra))


async def connect_clients(cluster, per_node=2):
    clients = []
    for name, node in cluster.nodes.items():
        for i in range(per_node):
            clients.append(("%s%d" % (name, i), await websockets.connect(node.url())))
    await wait_subscribed(cluster.redis, len(cluster.nodes))
    return clients


async def case_fanout():
    """A message from a client of A reaches every client of A, B and C exactly once, binary
    payloads intact and with their kind."""
    with Cluster() as cluster:
        clients = await connect_clients(cluster)
        sender = clients[0][1]
        await sender.send("hello from A")
        binary = bytes(range(256)) + b"\x00\r\n"
        await sender.send(binary)
        for label, ws in clients:
            assert await receive(ws) == "hello from A", label
            got = await receive(ws)
            assert got == binary and isinstance(got, bytes), (label, got)
        await expect_silence(clients)


async def case_order():
    """1,000 messages from one publisher arrive in order on every node."""
    with Cluster() as cluster:
        clients = await connect_clients(cluster, per_node=1)
        sender = await websockets.connect(cluster.nodes["A"].url())
        await wait_subscribed(cluster.redis, 3)
        count = 1000

        async def send_all():
            for i in range(count):
                await sender.send("m%d" % i)

        async def check(label, ws):
            for i in range(count):
                got = await receive(ws, 30)
                assert got == "m%d" % i, "%s: message %d is %r" % (label, i, got)

        await asyncio.gather(send_all(), *(check(label, ws) for label, ws in clients))
        await expect_silence(clients, 0.3)


async def flowing(cluster, clients, sender, tag, timeout):
    """True once a probe from `sender` reaches every client (Redis is back for everyone)."""
    await sender.send(tag)
    got = {}
    deadline = time.monotonic() + timeout
    for label, ws in clients:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                message = await asyncio.wait_for(ws.recv(), left)
            except asyncio.TimeoutError:
                return False
            if message == tag:
                got[label] = True
                break
    return len(got) == len(clients)


async def case_redis_restart():
    """Redis killed: nodes keep serving their clients (echo), publishes are refused and
    reported; Redis back on the same port: within seconds messages flow between all nodes."""
    with Cluster() as cluster:
        clients = await connect_clients(cluster, per_node=1)
        cluster.redis.kill()
        for node in cluster.nodes.values():
            assert node.wait_line(r"redis: lost 127\.0\.0\.1"), node.name
        sender = clients[0][1]
        for i in range(5):
            await sender.send("while down %d" % i)
        a = cluster.nodes["A"]
        assert a.wait_line(r"redis: \d+ publish(es)? not delivered"), a.lines
        # Local clients are still served.
        async with websockets.connect("ws://127.0.0.1:%d/echo" % a.port) as echo:
            await echo.send("still here")
            assert await receive(echo) == "still here"
        cluster.redis.start()
        # Each node retries on its own (backoff capped at 3 s, +50 % jitter): every one is back
        # within the wait, which a load that stretches the retries tenfold still fits.
        for node in cluster.nodes.values():
            assert node.wait_line(r"redis: connected again", RECONNECT_TIMEOUT), node.name
        await wait_subscribed(cluster.redis, 3)
        # Once every node logged "connected again" (both of its links are up) and Redis counts
        # the three subscriptions, the first probe must reach everyone.
        if not await flowing(cluster, clients, clients[1][1], "probe", TIMEOUT):
            raise AssertionError("messages do not flow again after Redis came back")
        # What was refused while down never arrives later.
        await expect_silence(clients, 0.3)


async def case_node_killed():
    """Node B dies: A and C carry on."""
    with Cluster() as cluster:
        clients = await connect_clients(cluster, per_node=1)
        cluster.nodes["B"].kill()
        await wait_subscribed(cluster.redis, 2)
        survivors = [(label, ws) for label, ws in clients if not label.startswith("B")]
        await survivors[0][1].send("after B")
        for label, ws in survivors:
            assert await receive(ws) == "after B", label
        await survivors[1][1].send("from C")
        for label, ws in survivors:
            assert await receive(ws) == "from C", label
        await expect_silence(survivors)


def split(message):
    position, _, payload = message.partition("\n")
    return position, payload


async def case_recovery():
    """A client leaves A, misses 50 messages, comes back to C with its position: exactly those
    50, the notice that nothing is missing, then live messages."""
    with Cluster(history=500) as cluster:
        a, b, c = (cluster.nodes[name] for name in "ABC")
        watcher = await websockets.connect(a.url("?positions"))
        publisher = await websockets.connect(b.url())
        await wait_subscribed(cluster.redis, 2)
        for i in range(10):
            await publisher.send("before %d" % i)
        position = None
        for i in range(10):
            position, payload = split(await receive(watcher))
            assert payload == "before %d" % i, payload
        await watcher.close()
        for i in range(50):
            await publisher.send("missed %d" % i)
        # The publisher is in the room too: once its own 50 came back through Redis, they are
        # in the history (added with the publish), and the client may come back for them.
        for i in range(10):
            assert await receive(publisher) == "before %d" % i
        for i in range(50):
            assert await receive(publisher) == "missed %d" % i
        back = await websockets.connect(c.url("?since=" + position))
        seen = []
        for i in range(50):
            got, payload = split(await receive(back))
            assert payload == "missed %d" % i, (i, payload)
            seen.append(got)
        assert await receive(back) == "-\ncomplete"
        assert seen == sorted(seen, key=lambda p: tuple(int(x) for x in p.split("-")))
        await publisher.send("live")
        _, payload = split(await receive(back))
        assert payload == "live", payload
        await expect_silence([("back", back)])


async def case_recovery_truncated():
    """A position older than what the history keeps: what is left, then 'truncated'."""
    with Cluster(history=5, names=("A",)) as cluster:
        a = cluster.nodes["A"]
        watcher = await websockets.connect(a.url("?positions"))
        await wait_subscribed(cluster.redis, 1)
        await watcher.send("first")
        position, _ = split(await receive(watcher))
        for i in range(20):
            await watcher.send("more %d" % i)
        for i in range(20):
            await receive(watcher)
        back = await websockets.connect(a.url("?since=" + position))
        for i in range(15, 20):
            _, payload = split(await receive(back))
            assert payload == "more %d" % i, payload
        assert await receive(back) == "-\ntruncated"


async def case_history_age():
    """--history-age: messages older than that are forgotten (the Stream is trimmed by MINID
    when a message is added); a client whose next message was forgotten is told."""
    redis = RedisServer()
    try:
        node = Node("A", redis.url(), "--history", "100", "--history-age", "1")
        try:
            watcher = await websockets.connect(node.url("?positions"))
            await wait_subscribed(redis, 1)
            await watcher.send("a")
            position_a, _ = split(await receive(watcher))
            await watcher.send("b")
            await receive(watcher)
            await asyncio.sleep(1.5)
            await watcher.send("c")
            await receive(watcher)
            assert redis.command("XLEN", "wsx:h:chat:room") == 1
            back = await websockets.connect(node.url("?since=" + position_a))
            assert split(await receive(back))[1] == "c"
            assert await receive(back) == "-\ntruncated"
        finally:
            node.kill()
    finally:
        redis.stop()


async def case_bad_since():
    """A malformed position is refused with 400, before any subscription."""
    with Cluster(history=5, names=("A",)) as cluster:
        try:
            await websockets.connect(cluster.nodes["A"].url("?since=yesterday"))
        except websockets.exceptions.InvalidStatusCode as error:
            assert error.status_code == 400
        else:
            raise AssertionError("?since=yesterday was accepted")


async def case_unreachable_at_start():
    """Redis not there when the node starts: it serves its local clients, refuses publishes
    (reported), and joins once Redis appears."""
    redis = RedisServer()
    redis.kill()
    try:
        node = Node("A", redis.url())
        try:
            assert node.wait_line(r"redis: cannot reach 127\.0\.0\.1"), node.lines
            async with websockets.connect(node.url()) as client:
                await client.send("nobody hears this")
                # Its sender is told, and the connection stays open.
                assert await receive(client) == "!\nnot delivered: redis is not connected"
                assert node.wait_line(r"publish(es)? not delivered"), node.lines
                redis.start()
                assert node.wait_line(r"redis: connected to 127"), node.lines
                await wait_subscribed(redis, 1)
                await client.send("now")
                assert await receive(client) == "now"
        finally:
            node.kill()
    finally:
        redis.stop()


async def case_tls():
    """rediss://: nodes share rooms over TLS with Redis's certificate verified (--redis-ca, a
    client certificate); a node that does not trust it never connects and says why."""
    redis = RedisServer(tls=True)
    files = redis.tls_files
    tls = ["--redis-ca", files["ca"], "--redis-cert", files["client_cert"],
           "--redis-key", files["client_key"]]
    nodes = []
    try:
        nodes.append(Node("A", redis.tls_url("127.0.0.1"), *tls))
        nodes.append(Node("B", redis.tls_url("localhost"), *tls))
        for node in nodes:
            assert node.wait_line(r"redis: connected to"), node.lines
        a = await websockets.connect(nodes[0].url())
        b = await websockets.connect(nodes[1].url())
        await wait_subscribed(redis, 2)
        await a.send("over tls")
        assert await receive(a) == "over tls"
        assert await receive(b) == "over tls"
        await a.close()
        await b.close()
        # The system's CAs do not include the test CA: refused, with the reason, by default.
        untrusting = Node("C", redis.tls_url(), "--redis-cert", files["client_cert"],
                          "--redis-key", files["client_key"])
        nodes.append(untrusting)
        assert untrusting.wait_line(r"redis: cannot reach .*certificate verify failed"), \
            untrusting.lines
        assert subscribed_nodes(redis) == 0
    finally:
        for node in nodes:
            node.kill()
        redis.stop()


async def case_console_names_node():
    """The web console says which node served it (names are HTML-escaped)."""
    redis = RedisServer()
    try:
        node = Node("<b>&B", redis.url())
        try:
            import urllib.request
            with urllib.request.urlopen("http://127.0.0.1:%d/" % node.port, timeout=5) as page:
                body = page.read().decode()
            assert 'id="node" class="brand">node &lt;b&gt;&amp;B</span>' in body, body[:2000]
        finally:
            node.kill()
    finally:
        redis.stop()


async def case_fixture_port_taken():
    """The fixture's start-up is race-free: a port taken between its pick and Redis's bind (a
    foreign listener that accepts and never answers) makes it pick another, and a restart
    waits for its own port to be free again."""
    import socket
    foreign = socket.socket()
    foreign.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    foreign.bind(("127.0.0.1", 0))
    foreign.listen()
    picks = []
    real_free_port = redis_fixture.free_port

    def first_taken():
        picks.append(None)
        return foreign.getsockname()[1] if len(picks) == 1 else real_free_port()

    redis_fixture.free_port = first_taken
    try:
        redis = RedisServer()
    finally:
        redis_fixture.free_port = real_free_port
    try:
        assert redis.launches == 2, redis.launches
        assert redis.port != foreign.getsockname()[1]
        assert redis.command("PING") == b"PONG"
        foreign.close()
        redis.kill()
        squatter = socket.socket()
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", redis.port))
        squatter.listen()
        # The squatter leaves once Redis found the port taken: the restart must try again.
        real_launch = redis.launch

        def launch_then_free():
            started = real_launch()
            if not started:
                squatter.close()
            return started

        redis.launch = launch_then_free
        redis.start()
        assert redis.launches == 4, redis.launches
        assert redis.command("PING") == b"PONG"
        with socket.create_connection(("127.0.0.1", redis.port), timeout=5) as conn:
            conn.sendall(b"PING\r\n")
            assert conn.recv(64) == b"+PONG\r\n"
    finally:
        redis.stop()


CASES = {name[len("case_"):]: function for name, function in globals().items()
         if name.startswith("case_")}


def main():
    case = sys.argv[2]
    try:
        asyncio.run(asyncio.wait_for(CASES[case](), 100))
    except SystemExit:
        raise
    except BaseException as error:  # noqa: B902 — every failure is reported the same way
        import traceback
        traceback.print_exc()
        print("FAILED: %s: %r" % (case, error))
        sys.exit(1)
    print("passed: " + case)


if __name__ == "__main__":
    main()

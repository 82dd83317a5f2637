"""A private redis-server for tests: a free loopback port, a temporary directory, no
persistence, stopped (killed if need be) at the end. kill() and start() again keep the port, so
tests can take Redis away from running nodes and bring it back."""
import os
import shutil
import socket
import subprocess
import tempfile
import time

READY_TIMEOUT = 10


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    def __init__(self, password=None):
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            raise SystemExit("FAILED: redis-server not found; install the Debian package "
                             "redis-server (bash scripts/install-deps.sh)")
        self.directory = tempfile.mkdtemp(prefix="wsx-redis-")
        self.port = free_port()
        self.password = password
        self.process = None
        self.start()

    def url(self, credentials=""):
        return "redis://%s127.0.0.1:%d/" % (credentials, self.port)

    def start(self):
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                   "--dir", self.directory, "--save", "", "--appendonly", "no",
                   "--daemonize", "no", "--logfile", ""]
        if self.password is not None:
            command += ["--requirepass", self.password]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError("redis-server exited with %d" % self.process.returncode)
            try:
                if self.command("PING", allow_error=True) in (b"PONG", b"NOAUTH"):
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError("redis-server did not answer within %ds" % READY_TIMEOUT)

    def kill(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self):
        self.kill()
        shutil.rmtree(self.directory, ignore_errors=True)

    def command(self, *args, allow_error=False):
        """One command on a fresh connection (RESP), the reply as Python values."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as conn:
            if self.password is not None and args[0] != "PING":
                conn.sendall(encode(["AUTH", self.password]))
                read_reply(conn.makefile("rb"))
            conn.sendall(encode(args))
            reply = read_reply(conn.makefile("rb"))
            if isinstance(reply, RedisError):
                if allow_error:
                    return str(reply).split(" ")[0].encode()
                raise reply
            return reply

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class RedisError(Exception):
    pass


def encode(args):
    out = b"*%d\r\n" % len(args)
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out += b"$%d\r\n%s\r\n" % (len(data), data)
    return out


def read_reply(stream):
    line = stream.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:]
    if kind == b"+":
        return rest
    if kind == b"-":
        return RedisError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        if size < 0:
            return None
        data = stream.read(size + 2)
        return data[:-2]
    if kind == b"*":
        count = int(rest)
        return None if count < 0 else [read_reply(stream) for _ in range(count)]
    raise AssertionError("unexpected reply %r" % line)

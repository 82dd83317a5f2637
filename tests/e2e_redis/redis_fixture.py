"""A private redis-server for tests: a free loopback port, a temporary directory, no
persistence, stopped (killed if need be) at the end. kill() and start() again keep the port, so
tests can take Redis away from running nodes and bring it back.

Start-up is race-free. A port is picked free, then handed to Redis (it cannot take one from the
kernel itself): another process can take it in between. The fixture talks to its Redis over a
unix socket in its private directory, which Redis creates only after binding its TCP ports (it
exits when a bind fails), so a foreign server on the port is never taken for ours; when Redis
exits because a port is in use, new ports are picked and Redis is started again. A restart
keeps its port (the nodes come back to it), so it waits for that port to be free again."""
import os
import shutil
import sys
import socket
import subprocess
import tempfile
import time

READY_TIMEOUT = 30  # generous: a loaded machine
START_ATTEMPTS = 20
RESTART_TIMEOUT = 20


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    def __init__(self, password=None, tls=False):
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            raise SystemExit("FAILED: redis-server not found; install the Debian package "
                             "redis-server (bash scripts/install-deps.sh)")
        self.directory = tempfile.mkdtemp(prefix="wsx-redis-")
        self.socket_path = os.path.join(self.directory, "redis.sock")
        self.log_path = os.path.join(self.directory, "redis.log")
        # With tls: a TLS port besides the plaintext one, a throw-away CA, Redis's certificate
        # for 127.0.0.1 and localhost, and a client certificate (Redis asks for one by default):
        # self.tls_files.
        self.tls = tls
        self.tls_files = make_tls_files(self.directory) if tls else None
        self.password = password
        self.process = None
        self.launches = 0
        for _ in range(START_ATTEMPTS):
            # New ports for each try: a port someone else took stays taken for an unknown time.
            self.port = free_port()
            self.tls_port = free_port() if tls else None
            if self.launch():
                return
        raise AssertionError("redis-server found its port taken %d times" % START_ATTEMPTS)

    def url(self, credentials=""):
        return "redis://%s127.0.0.1:%d/" % (credentials, self.port)

    def tls_url(self, host="127.0.0.1"):
        return "rediss://%s:%d/" % (host, self.tls_port)

    def start(self):
        """Starts Redis again on the same ports (after kill()); a port taken meanwhile (by a
        client's ephemeral port, say) is waited for."""
        deadline = time.monotonic() + RESTART_TIMEOUT
        while not self.launch():
            if time.monotonic() > deadline:
                raise AssertionError("port %d stayed taken: redis-server cannot restart on it"
                                     % self.port)
            time.sleep(0.1)

    def launch(self):
        """Starts redis-server; True once it answers on its unix socket, False when it exited
        because a port was in use."""
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
                   "--dir", self.directory, "--save", "", "--appendonly", "no",
                   "--daemonize", "no", "--logfile", self.log_path,
                   "--unixsocket", self.socket_path, "--unixsocketperm", "700"]
        if self.password is not None:
            command += ["--requirepass", self.password]
        if self.tls_port is not None:
            command += ["--tls-port", str(self.tls_port),
                        "--tls-cert-file", self.tls_files["server_cert"],
                        "--tls-key-file", self.tls_files["server_key"],
                        "--tls-ca-cert-file", self.tls_files["ca"]]
        if os.path.exists(self.log_path):
            os.remove(self.log_path)
        self.launches += 1
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = self.read_log()
                if "already in use" in log:
                    print("redis fixture: a port of %d/%s was taken, trying again"
                          % (self.port, self.tls_port), file=sys.stderr)
                    return False
                raise AssertionError("redis-server exited with %d:\n%s"
                                     % (self.process.returncode, log))
            try:
                if self.command("PING", allow_error=True) in (b"PONG", b"NOAUTH"):
                    return True
            except OSError:
                pass
            time.sleep(0.05)
        self.kill()
        raise AssertionError("redis-server did not answer within %ds:\n%s"
                             % (READY_TIMEOUT, self.read_log()))

    def read_log(self):
        try:
            with open(self.log_path, errors="replace") as log:
                return log.read()
        except OSError:
            return ""

    def kill(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self):
        self.kill()
        shutil.rmtree(self.directory, ignore_errors=True)

    def command(self, *args, allow_error=False):
        """One command on a fresh connection (RESP) over the unix socket (always this
        Redis), the reply as Python values."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(5)
            conn.connect(self.socket_path)
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


def make_tls_files(directory):
    """A CA, a server certificate (127.0.0.1, localhost) and a client certificate, as PEM files
    in `directory`, made with the openssl command; their paths by role."""
    def openssl(*args):
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True,
                       timeout=READY_TIMEOUT)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=wsx redis e2e CA")
    with open(os.path.join(directory, "server.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    with open(os.path.join(directory, "client.cnf"), "w") as f:
        f.write("extendedKeyUsage=clientAuth\n")
    for role in ("server", "client"):
        openssl("req", *ec, "-keyout", role + ".key", "-out", role + ".csr",
                "-subj", "/CN=wsx redis e2e " + role)
        openssl("x509", "-req", "-in", role + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", role + ".pem", "-days", "2",
                "-extfile", role + ".cnf")
    path = lambda name: os.path.join(directory, name)  # noqa: E731
    return {"ca": path("ca.pem"), "server_cert": path("server.pem"),
            "server_key": path("server.key"), "client_cert": path("client.pem"),
            "client_key": path("client.key")}


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

#!/usr/bin/python3
"""End-to-end tests of `wsx connect` through proxies and redirects: the real binary against
examples/echo_server, through a small HTTP CONNECT or SOCKS5 proxy and a redirecting HTTP server
written here (threads of this script, loopback, free ports).

    proxy_e2e.py --wsx PATH --echo-server PATH CASE
    proxy_e2e.py --list

Reuses the harness of run_e2e.py (servers, certificates, process hygiene). The environment's own
*_proxy and no_proxy variables are removed from every run, so only what a case sets applies.
"""
import base64
import os
import select
import socket
import struct
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_e2e  # noqa: E402  (puts tests/support on the path)
from run_e2e import RUN_TIMEOUT, check, json_events, orphan_proof  # noqa: E402
from wsx_e2e import environment, refused_port  # noqa: E402

EXIT_OK, EXIT_REFUSED, EXIT_PROXY = 0, 4, 7


def connect(h, *args, env=None, stdin=b""):
    """`wsx connect ARGS` with exactly the proxy variables in `env`."""
    result = subprocess.run([h.wsx, "connect", *args], input=stdin, capture_output=True,
                            timeout=RUN_TIMEOUT, env=environment(**(env or {}), NO_COLOR="1"),
                            preexec_fn=orphan_proof)
    result.out = result.stdout.decode("utf-8", "replace")
    result.err = result.stderr.decode("utf-8", "replace")
    result.show = "exit %d\nstdout:\n%s\nstderr:\n%s" % (result.returncode, result.out, result.err)
    return result


def read_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def read_head(conn):
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = conn.recv(1)
        if not chunk:
            raise EOFError
        head += chunk
        if len(head) > 65536:
            raise EOFError
    return head.decode("latin-1")


def relay(a, b):
    while True:
        ready, _, _ = select.select([a, b], [], [], 20)
        if not ready:
            return
        for source in ready:
            data = source.recv(65536)
            if not data:
                return
            (b if source is a else a).sendall(data)


class Server:
    """Accepts on 127.0.0.1 in a thread, one thread per connection; records what it saw."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.seen = []
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self.run, args=(conn,), daemon=True).start()

    def run(self, conn):
        conn.settimeout(20)
        try:
            self.handle(conn)
        except (EOFError, OSError):
            pass
        finally:
            conn.close()


class HttpProxy(Server):
    def __init__(self, credentials=None):
        self.credentials = credentials
        super().__init__()

    def handle(self, conn):
        head = read_head(conn)
        self.seen.append(head)
        if self.credentials:
            token = base64.b64encode(self.credentials.encode()).decode()
            if "\r\nProxy-Authorization: Basic %s\r\n" % token not in head:
                conn.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                             b"Proxy-Authenticate: Basic realm=\"e2e\"\r\nContent-Length: 0\r\n\r\n")
                return
        host, _, port = head.split(" ")[1].rpartition(":")
        try:
            target = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
        except OSError:
            conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        with target:
            relay(conn, target)


class Socks5Proxy(Server):
    def __init__(self, credentials=None):
        self.credentials = credentials  # (user, password)
        super().__init__()

    def handle(self, conn):
        version, count = read_exact(conn, 2)
        methods = read_exact(conn, count)
        wanted = 2 if self.credentials else 0
        if version != 5 or wanted not in methods:
            conn.sendall(b"\x05\xff")
            return
        conn.sendall(bytes([5, wanted]))
        if self.credentials:
            _, length = read_exact(conn, 2)
            user = read_exact(conn, length).decode()
            password = read_exact(conn, read_exact(conn, 1)[0]).decode()
            ok = (user, password) == self.credentials
            conn.sendall(b"\x01\x00" if ok else b"\x01\x01")
            if not ok:
                return
        _, command, _, atyp = read_exact(conn, 4)
        if atyp == 1:
            host = socket.inet_ntop(socket.AF_INET, read_exact(conn, 4))
        elif atyp == 4:
            host = socket.inet_ntop(socket.AF_INET6, read_exact(conn, 16))
        else:
            host = read_exact(conn, read_exact(conn, 1)[0]).decode()
        port = struct.unpack("!H", read_exact(conn, 2))[0]
        self.seen.append("atyp %d %s:%d" % (atyp, host, port))
        bound = b"\x00\x01\x7f\x00\x00\x01\x00\x00"
        try:
            target = socket.create_connection((host, port), timeout=10)
        except OSError:
            conn.sendall(b"\x05\x05" + bound)  # connection refused
            return
        conn.sendall(b"\x05\x00" + bound)
        with target:
            relay(conn, target)


class Redirector(Server):
    """Answers each request with what `answer(path)` returns: (status, location)."""

    def __init__(self, answer):
        self.answer = answer
        super().__init__()

    def handle(self, conn):
        head = read_head(conn)
        self.seen.append(head)
        status, location = self.answer(head.split(" ")[1])
        conn.sendall(("HTTP/1.1 %d Moved\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n"
                      % (status, location)).encode())


CASES = {}


def case(function):
    CASES[function.__name__] = function
    return function


@case
def http_proxy_flag_with_credentials(h):
    port = h.echo()
    proxy = HttpProxy(credentials="alice:s3cret")
    url = "ws://127.0.0.1:%d/" % port
    result = connect(h, "--proxy", "http://alice:s3cret@127.0.0.1:%d" % proxy.port,
                     "-x", "hello", "-w", "0.5", url)
    check(result.returncode == EXIT_OK, "exit 0 through the proxy", result.show)
    check("< hello" in result.out, "the echo came back", result.show)
    check(proxy.seen and proxy.seen[0].startswith("CONNECT 127.0.0.1:%d HTTP/1.1" % port),
          "CONNECT names the target", proxy.seen)
    wrong = connect(h, "--proxy", "http://alice:wrong@127.0.0.1:%d" % proxy.port, "-x", "x", url)
    check(wrong.returncode == EXIT_PROXY, "exit 7 for a 407", wrong.show)
    check("HTTP 407" in wrong.err and "Proxy-Authenticate: Basic" in wrong.err,
          "the status and the proxy's headers are shown", wrong.show)


@case
def wss_through_https_proxy_from_the_environment(h):
    port = h.echo(tls=True)
    ca, _, _ = h.certificates()
    proxy = HttpProxy()
    url = "wss://localhost:%d/" % port
    env = {"https_proxy": "http://127.0.0.1:%d" % proxy.port}
    result = connect(h, "--ca", ca, "--trace", "-x", "secret", "-w", "0.5", url, env=env)
    check(result.returncode == EXIT_OK, "exit 0 with TLS inside the tunnel", result.show)
    check("< secret" in result.out, "the echo came back", result.show)
    check(proxy.seen and proxy.seen[0].startswith("CONNECT localhost:%d " % port),
          "https_proxy was used for wss://", proxy.seen)
    check("through HTTP CONNECT proxy http://127.0.0.1:%d" % proxy.port in result.err,
          "--trace shows the tunnel", result.show)
    # http_proxy is for ws:// only; no_proxy sends localhost direct.
    before = len(proxy.seen)
    direct = connect(h, "--ca", ca, "-x", "a", "-w", "0.3", url,
                     env={"http_proxy": "http://127.0.0.1:%d" % proxy.port})
    check(direct.returncode == EXIT_OK and len(proxy.seen) == before,
          "http_proxy is not used for wss://", direct.show, proxy.seen)
    bypass = connect(h, "--ca", ca, "-x", "a", "-w", "0.3", url,
                     env=dict(env, no_proxy="example.org,localhost"))
    check(bypass.returncode == EXIT_OK and len(proxy.seen) == before,
          "no_proxy bypasses the proxy", bypass.show, proxy.seen)


@case
def redirect_from_ws_to_wss_takes_https_proxy(h):
    port = h.echo(tls=True)
    ca, _, _ = h.certificates()
    proxy = HttpProxy()
    redirector = Redirector(lambda path: (308, "wss://localhost:%d/" % port))
    result = connect(h, "-L", "--ca", ca, "-x", "hop", "-w", "0.5",
                     "ws://127.0.0.1:%d/" % redirector.port,
                     env={"https_proxy": "http://127.0.0.1:%d" % proxy.port})
    check(result.returncode == EXIT_OK and "< hop" in result.out, "followed to wss://",
          result.show)
    check(len(redirector.seen) == 1, "the ws:// hop went direct (no http_proxy)", redirector.seen)
    check(len(proxy.seen) == 1 and proxy.seen[0].startswith("CONNECT localhost:%d " % port),
          "the wss:// hop went through https_proxy", proxy.seen)


@case
def socks5h_with_credentials_right_and_wrong(h):
    port = h.echo()
    proxy = Socks5Proxy(credentials=("bob", "pw"))
    url = "ws://localhost:%d/" % port
    result = connect(h, "--proxy", "socks5h://bob:pw@127.0.0.1:%d" % proxy.port,
                     "-x", "hi", "-w", "0.5", url)
    check(result.returncode == EXIT_OK and "< hi" in result.out, "echo through SOCKS5",
          result.show)
    check(proxy.seen == ["atyp 3 localhost:%d" % port], "the name went to the proxy", proxy.seen)
    wrong = connect(h, "--proxy", "socks5h://bob:nope@127.0.0.1:%d" % proxy.port, "-x", "hi", url)
    check(wrong.returncode == EXIT_PROXY, "exit 7", wrong.show)
    check("rejected the username/password" in wrong.err, "the reason is said", wrong.show)
    via_all = connect(h, "-x", "hi", "-w", "0.3", url,
                      env={"all_proxy": "socks5://bob:pw@127.0.0.1:%d" % proxy.port})
    check(via_all.returncode == EXIT_OK, "all_proxy with socks5://", via_all.show)
    check(proxy.seen[-1] in ("atyp 1 127.0.0.1:%d" % port, "atyp 4 ::1:%d" % port),
          "socks5:// resolves here and sends the address", proxy.seen)


@case
def proxy_failures_exit_7(h):
    dead = refused_port()
    result = connect(h, "--proxy", "http://127.0.0.1:%d" % dead, "-x", "x", "ws://example.test/")
    check(result.returncode == EXIT_PROXY, "exit 7 when the proxy is unreachable", result.show)
    check("proxy http://127.0.0.1:%d is unreachable" % dead in result.err, "said so", result.show)
    socks = Socks5Proxy()
    refused = connect(h, "--proxy", "socks5h://127.0.0.1:%d" % socks.port, "-x", "x",
                      "ws://127.0.0.1:%d/" % refused_port())
    check(refused.returncode == EXIT_PROXY, "exit 7 for a SOCKS5 refusal", refused.show)
    check("connection refused (reply 0x05)" in refused.err, "the reply is named", refused.show)
    as_json = connect(h, "--json", "--proxy", "socks5h://127.0.0.1:%d" % socks.port, "-x", "x",
                      "ws://127.0.0.1:%d/" % refused_port())
    errors = [e for e in json_events(as_json) if e["event"] == "error"]
    check(errors and errors[0]["kind"] == "proxy_refused" and errors[0]["socks_reply"] == 5,
          "--json names the kind and the SOCKS5 reply", as_json.show)
    from_env = connect(h, "-x", "x", "wss://example.test/", env={"HTTPS_PROXY": "https://p:1"})
    check(from_env.returncode == 2 and "the proxy from the environment" in from_env.err,
          "a bad proxy in the environment is said to come from there", from_env.show)
    secret = connect(h, "-x", "x", "wss://example.test/",
                     env={"https_proxy": "https://alice:S3cretPw@proxy.example:3128"})
    check(secret.returncode == 2 and "https://alice@proxy.example:3128" in secret.err,
          "the bad proxy from the environment is shown with its user", secret.show)
    check("S3cretPw" not in secret.err + secret.out, "and without its password", secret.show)
    bad = connect(h, "--proxy", "ftp://x", "-x", "x", "ws://127.0.0.1:1/")
    check(bad.returncode == 2 and "unknown proxy scheme" in bad.err, "a bad proxy URL is usage",
          bad.show)
    check("7 proxy failed" in subprocess.run([h.wsx, "help", "connect"], capture_output=True,
                                             text=True, timeout=RUN_TIMEOUT).stdout,
          "wsx help connect lists exit 7")


@case
def redirects_followed_with_L_and_traced(h):
    port = h.echo()
    target = "ws://127.0.0.1:%d/" % port
    redirector = Redirector(lambda path: (301, "/second") if path == "/first" else (307, target))
    url = "ws://127.0.0.1:%d/first" % redirector.port
    result = connect(h, "-L", "--trace", "-H", "Authorization: Bearer t0ken", "-x", "hi",
                     "-w", "0.5", url)
    check(result.returncode == EXIT_OK and "< hi" in result.out, "followed to the echo server",
          result.show)
    check("redirect (HTTP 301) to ws://127.0.0.1:%d/second" % redirector.port in result.err and
          "redirect (HTTP 307) to " + target in result.err, "--trace shows each hop", result.show)
    check(len(redirector.seen) == 2 and "Authorization: Bearer t0ken" in redirector.seen[1],
          "Authorization kept within the origin", redirector.seen)
    check(result.err.count("> GET ") == 3, "each hop's request is traced", result.show)

    plain = connect(h, "-x", "hi", url)
    check(plain.returncode == EXIT_REFUSED, "without -L: exit 4", plain.show)
    check("Location: /second" in plain.err and "not followed" in plain.err and
          "-L follows redirects" in plain.err,
          "the Location is shown", plain.show)

    loop = Redirector(lambda path: (302, "/again"))
    limited = connect(h, "-L", "--max-redirs", "3", "-x", "hi",
                      "ws://127.0.0.1:%d/" % loop.port)
    check(limited.returncode == EXIT_REFUSED, "too many redirects: exit 4", limited.show)
    check("too many redirects (3 followed" in limited.err, "said so", limited.show)
    check(len(loop.seen) == 4, "3 followed, then stopped", len(loop.seen))


@case
def bench_through_a_proxy(h):
    port = h.echo()
    proxy = Socks5Proxy()
    result = subprocess.run([h.wsx, "bench", "-c", "2", "-d", "2", "--json",
                             "ws://localhost:%d/" % port], capture_output=True, text=True,
                            timeout=RUN_TIMEOUT,
                            env=environment(all_proxy="socks5h://127.0.0.1:%d" % proxy.port),
                            preexec_fn=orphan_proof)
    check(result.returncode == EXIT_OK, "bench through SOCKS5 from all_proxy exits 0",
          result.stdout, result.stderr)
    check(proxy.seen == ["atyp 3 localhost:%d" % port] * 2, "both connections tunneled",
          proxy.seen)
    dead = subprocess.run([h.wsx, "bench", "-d", "0.5", "--proxy",
                           "http://127.0.0.1:%d" % refused_port(), "ws://127.0.0.1:%d/" % port],
                          capture_output=True, text=True, timeout=RUN_TIMEOUT,
                          preexec_fn=orphan_proof)
    check(dead.returncode == EXIT_PROXY and "unreachable" in dead.stderr,
          "bench exits 7 when the proxy is unreachable", dead.stdout, dead.stderr)


if __name__ == "__main__":
    sys.exit(run_e2e.main(CASES))
